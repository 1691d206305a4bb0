"""Step time of a training iteration, as a breakdown, vectorised over candidate configurations.

One optimizer step of a pipeline-parallel job (Narayanan et al. 2021, §2.2 and §3):

    step = m * t_stage + bubble + exposed DP reduce + optimizer
    bubble = (pp - 1) / v * t_stage  (+ (pp - m)(v - 1)/v with m < pp on torch's interleaved rounds: pipeline.bubble_time)

where m = global_batch / (micro_batch * dp) micro-batches, v the interleaving degree, and t_stage
the forward+backward time of one micro-batch on the slowest stage (the most layers, plus the
logits and loss on the last stage, plus the stage-to-stage sends).

One layer's pass (forward, backward, recomputed forward) on one rank -- its GEMMs, attention core, memory-bound work,
host dispatch and the TP / CP / EP communication inside it -- is planner.model.layer_ops' (``layer_terms`` over one
``LayerContext``). On top of the layers:

* ZeRO-3/FSDP parameter all-gathers (forward and backward) and gradient reduce-scatter per
  micro-batch, prefetched one layer ahead under compute: exposed only where longer than the
  compute they overlap, plus the first layer's gather which nothing hides;
* the optimizer step -- bytes read and written per parameter (``OPTIMIZER_BYTES_PER_PARAM``) at the HBM bandwidth
  reached.

``step_time`` composes the step one function per stage with a typed result: ``step_inputs``, the
slowest stage per micro-batch (``transformer_stage`` over ``stage_keys``, ``layer_rows``, ``pacing_stage``,
``pipeline_sends``; ``generic_stage``), ``dp_step_terms``, ``microbatch_extras``, ``zero_exposure``,
``offload_step``, ``compose_step``, ``step_record``.

The DP gradient reduce happens once per step for ZeRO 0/1 (all-reduce; reduce-scatter for ZeRO-1);
with ``overlap_grad_reduce`` it runs in buckets under the last micro-batch's backward and only the
excess plus the last bucket are exposed. ZeRO-1/2 then all-gather the updated parameters: under
the next step's first forward with ``overlap_param_gather`` (first bucket exposed), else all
exposed after the optimizer step. ZeRO-2 keeps only its gradient
partition, so it reduce-scatters after every micro-batch's backward, each bucketed the same way.
Communication hidden under compute is not free: NCCL's kernels hold SMs while they run, so the
compute they overlap runs on the rest (``physics.nccl_overlap_slowdown``; ZeRO-3 collectives and
the overlapped DP reduce). Where ZeRO-3's collectives outlast the compute, the slowed compute ends
under them and adds nothing (``physics.nccl_slowdown_exposed``).

Pipeline sends: one activation (forward) and one gradient (backward) per micro-batch per model
chunk, i.e. v of each under the interleaved schedule (Narayanan et al. 2021 §2.2), split across
the TP ranks and re-gathered on NVLink where the stack does so (``Stack.pp_scatter_gather``) or
under sequence parallelism; Megatron-Core hides the interleaved sends under the next chunk
(``Stack.overlap_p2p``) as far as a send lasts no longer than a chunk's forward (``pipeline.overlapped_sends_exposed``)
except in the schedule's warm-up and cool-down, which wait for theirs: 2 (pp v - 1) sends at the default group
(``pipeline.fill_exposure``), each on its link -- through the NIC where the pipeline's stages sit on different nodes,
which more data parallelism brings about when a stage holds fewer GPUs than a node.

The training stack (``training.framework``, planner.model.stacks) sets the op counts, which
elementwise chains are fused, the attention kernel, TP/CP/DP overlap, what selective recompute
re-runs and the low-precision recipe; planner.model.physics holds the sourced mechanisms
(power-limited clocks, FP8/FP4 only on the linear GEMMs plus quantisation work, attention
efficiency by sequence length, TP overlap decomposition, CP ring exposure). Pipeline stages may be
uneven (``slowest_stage``: Megatron-Core's embedding/loss accounting), the layers the stack keeps 16-bit under
the fp8/fp4 recipe are priced on the stages that hold them (``pipeline.lp16_layers``), a model of mixed layers
(DeepSeek-V3's dense first layers, a hybrid's pattern) has each rank's layers priced by their kinds (``pace_rank``,
``rank_mix``), and each rank hides its own paired share of the combined-1F1B all-to-all (``A2AShare``).

Speed: every per-layer term depends only on (tp, cp, ep, mb, sp, rc, etp), of which a search has a few
hundred distinct combinations among millions of candidates, so the layer model runs once per
distinct key (``distinct_rows``) and is gathered back; the pacing stage's per-micro-batch terms and the
pipeline sends once per distinct stage key (that key with pp, the model chunks, whether the schedule
interleaves, whether the sends cross nodes); the DP/ZeRO collectives once per distinct (pp, tp, cp, dp, ep,
zero, etp). What stays per row (the micro-batch count, the bubble, the exposed DP and ZeRO terms) is computed
on the rows it applies to (``_on_rows``); tests/test_step_time_batch.py holds each row to the numbers it gets
alone. A search passes one ``LayerMemo`` to all its calls: a layer key's rows, once computed, serve every later call
with the same inputs (its chunks, stack variants and instance types).
"""
from __future__ import annotations

import dataclasses
from itertools import repeat

import numpy as np

from planner.layout import V_SPLIT, Candidates, distinct_rows, in_blocks, split_vpp
from planner.model.evaluation import spread_zero3
from planner.model.comm import (collective_time, ep_domain_members, group_intra_bw, members_per_node, nic_bytes,
                                p2p_time, small_allreduce_time)
from planner.model.flops import attention_span, cp_attention_span, selective_kw
from planner.model.finetune import (base_math_peak, bitsandbytes_base, bitsandbytes_gather_bytes, bnb_ignored_by_fsdp2,
                                    frozen_base, frozen_storage_bytes, on_stack, trainable_share,
                                    training_step_flops)
from planner.hardware.efficiency import Efficiency
from planner.hardware.nvlink import meshed
from planner.hardware.options import HardwareOption
from planner.model.memory import (ACT_BYTES, WEIGHT_COPY_BYTES, accumulates_unsharded, ep_experts_unsharded,
                                  fsdp1_layout, fsdp1_param_bytes, held_grad_widths, hsdp_groups,
                                  model_state_bytes_per_param, moments_16bit, params_16bit)
from planner.model.memory_stages import (lp16_rank_params, pipeline_end_params, split_blocks, stage_split,
                                         key_stage_split, STATE_KEY)
from planner.model.pipeline import (aligned_gather_exposed, exposed_dp_comm, optimizer_step_gather_head,
                                     unaligned_gather_exposed, fill_geometry, head_rank, lp16_layers, stage_kind_layers,
                                    stage_ranks, fullest_chunk, overlapped_sends_exposed, rank_recomputed,
                                    rebuilt_layers, recomputed_fraction, run_microbatches, split_per_row, split_runtime,
                                    step_composition)
from planner.model.stacks import (Stack, all_reduces_grads, autocast_reduce_bytes, cp_comm_mix, cuda_graph_parts,
                                  from_training, fsdp_reduce_bytes, grad_reduce_bytes, offload_zero_rows, SEARCHED)
from planner.model.stack_kernels import AUTOCAST_CAST_BYTES, fp8_gather_on, fsdp_float8_gather_on, fused_attention, \
    TE_AMAX_REDUCTIONS, te_recompute_runs
from planner.model import moe as moe_mech
from planner.model import offload, optimizers, physics, ssm
from planner.vocab import RECOMPUTE, SCHEDULE
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.params import count_params
from planner.model.layer_ops import layer_terms, math_gemm_max, mtp_runs_16bit, nccl_link, TENSOR_CORE_MATH

BREAKDOWN_KEYS = (
    "compute_gemm", "compute_attention", "compute_memory_bound", "comm_tp", "comm_cp", "comm_ep",
    "comm_pp", "comm_zero3", "comm_dp", "bubble", "optimizer", "offload", "data_stall",
)

OPTIMIZER_BYTES_PER_PARAM = {  # bytes read + written per parameter by one optimizer step
    "adamw": 32.0, "adam": 32.0, "adam8bit": 18.0, "lion": 22.0, "sgd": 14.0,
    "sgd_momentum": 22.0, "adafactor": 18.0,
    "muon": float(optimizers.MUON_ELEMENTWISE_BYTES),  # its matrices; the rest at adamw's (optimizers.step_terms)
}
#: the same per parameter when torch.optim runs Adam / AdamW "foreach" (``Stack.optimizer_foreach``: torch's
#: default on CUDA when neither ``foreach`` nor ``fused`` is passed; DTensor parameters qualify): each
#: ``torch._foreach_*`` op of torch/optim/adam.py ``_multi_tensor_adam`` is its own pass over the fp32 lists (4 B an
#: element; a tensor an op reads twice counted once): ``lerp_(m, g)`` 12, ``mul_(v)`` 8, ``addcmul_(v, g, g)`` 12,
#: ``sqrt(v)`` 8, ``div_`` 8, ``add_(eps)`` 8, ``addcdiv_(p, m, denom)`` 16 = 72; AdamW's decoupled decay
#: ``mul_(p, 1 - lr wd)`` 8 more (80; Adam taken at weight_decay 0, as the configs that run it set). Counted on torch's
#: ops: tests/test_automodel_pipeline_optimizer.py. The fused kernel (``fused=True``, the table above) reads and
#: writes each state once.
OPTIMIZER_BYTES_FOREACH = {"adam": 72.0, "adamw": 80.0}


# The training stack (op counts, overlaps, low-precision recipe) is a registry entry:
# planner.model.stacks (``Stack``).


def lp16_counts(fw: Stack, m: ModelSpec, precision: str) -> tuple[int, int]:
    """(first, last) layers the stack keeps 16-bit under the fp8/fp4 recipe (``Stack.lp_bf16_first_layers``,
    ``lp_bf16_layers``: Megatron-Core ``--num-layers-at-start-in-bf16`` / ``--num-layers-at-end-in-bf16``), at most the
    model's layers; none in a 16-bit job. The step time's pacing stage, its kept layers' kinds and the parameter
    all-gather's widths read them. A model without transformer layers (``m.layers`` None: a CNN) keeps none (the job
    file refuses the option there; the core's own callers may still pass a stack that sets it)."""
    if precision != "fp8" or not m.layers:
        return 0, 0
    return tuple(min(int(getattr(fw, k, 0) or 0), m.layers) for k in ("lp_bf16_first_layers", "lp_bf16_layers"))


@dataclasses.dataclass(frozen=True)
class KeptKind:
    """One kind of the layers a stack keeps 16-bit under the fp8/fp4 recipe (``kept_layer_kinds``): ``layers``, 1 at
    the global layers of the kind (None: every layer, the model's mean layer), and ``block``, the layer model's
    block that prices one of them (``step_time``'s ``layer``: (model, CUDA graph parts, memo name); None: the
    model's mean layer)."""
    layers: np.ndarray | None
    block: tuple | None


def kept_layer_kinds(m: ModelSpec, first16: int, n16: int, mtp16: float, graph_parts: frozenset) -> dict:
    """The kinds of the layers the stack keeps 16-bit, {kind: ``KeptKind``}: Megatron-Core keeps the global layers
    ``[0, first16)`` and ``[L - n16, L)`` (fp8_utils.py ``is_first_last_bf16_layer``: pipeline ``lp16_layers``). A
    plain model whose layers are alike has one kind, its mean layer (None), also for its ``mtp16`` 16-bit MTP layers
    (``mtp_runs_16bit``, kept mean layers on no global layer beside the kinds below). A plain MoE model with dense
    layers (DeepSeek-V3's first three, ``first_dense``; ``dense_layers``; ``layer_freq``) keeps each layer as what it
    is, dense ("-") or MoE ("E") by ``moe_layer_ids`` (moe ``layer_symbols`` / ``kind_block_model``; Megatron-Core
    decides both by global layer number, transformer_block.py / fp8_utils.py): until 2026-12-04 (moe30) its kept
    layers were the mean layer, 3 dense : 58 MoE on DeepSeek-V3, whose 1 + 1 kept (the dense first, an MoE last)
    now add 4.46 ms per micro-batch on B200 under MXFP8 (was 4.25) and 9.09 on H100 under tensorwise FP8 (8.09;
    TP 2, EP 8, one 4096-token sequence); no validation row keeps layers of such a model. A hybrid model's kept layers are blocks of the kinds its pattern gives at those positions
    (Megatron-Core's MambaStack numbers its layers as the pattern: mamba_block.py builds layer i from symbol i under
    ``get_fp8_context(config, i, ...)``): each kind its own block (ssm ``kind_block_model``), so a kept Mamba block
    prices its in/out projections at 16 bits and a kept MoE block its experts, not the mean layer's mixture. Until
    2026-12-04 (fp8keep30) a hybrid's kept layers were its mean layer: Nemotron 3 Super's last 14 of 88 (6 Mamba,
    7 MoE, 1 attention block) as 14 mean layers (40 Mamba, 40 MoE, 8 attention blocks of 88). Per micro-batch the 14
    add 39.3 ms on GB300 (mean layers: 38.1), 22.6 on GB200 (21.7), 23.9 on B200 (23.0) and 23.4 on B300 (39.6: there
    the MoE block is host-bound as a block, 10.26 ms under NVFP4 and 11.36 in 16 bits, so most of its 16-bit GEMMs
    hide under the host's time, which the 40 / 40 / 8 mixture's GPU time covered). validate.py's Super NVFP4 rows
    move +0.14 / +0.18 / +0.14% (GB300 / GB200 / B200, toward the measured steps) and -2.1% on B300 (-34.8 -> -36.2%,
    away; mbridge_all p90 30.2 -> 30.3%). Each block is its own host / GPU bound, as each layer is; no host lead
    carried across blocks is modelled.

    >>> from planner.spec import ModelSpec
    >>> from planner.spec.presets import PRESETS
    >>> sorted(kept_layer_kinds(ModelSpec(**PRESETS["nemotron-h-8b"]), 1, 2, 0.0, frozenset()))  # M ... -M | M-
    ['-', 'M']
    """
    if not (first16 or n16 or mtp16):
        return {}
    every = layer_kinds(m, graph_parts)
    if not every:
        return {None: KeptKind(None, None)}
    at = np.arange(m.layers)
    kept_at = (at < first16) | (at >= m.layers - n16)
    kinds = {k: kk for k, kk in every.items() if kk.layers[kept_at].any()}
    if mtp16 and not m.hybrid:  # 16-bit MTP layers of one kind stay mean layers, on no global layer (step_time adds them)
        kinds[None] = KeptKind(np.zeros(m.layers), None)
    return kinds


def layer_kinds(m: ModelSpec, graph_parts: frozenset) -> dict:
    """The model's layers by kind, {symbol: ``KeptKind``} (1 at each global layer of the kind, the block that prices
    one), where they are not all alike: a plain MoE model with dense layers (``first_dense`` / ``dense_layers`` /
    ``layer_freq``: moe ``layer_symbols`` / ``kind_block_model``) or a hybrid (its pattern: ssm ``kind_block_model``);
    {} where every layer is the model's mean layer. The kept 16-bit layers (``kept_layer_kinds``) and the pipeline
    ranks (``layer_rows``' ``mix``, ``pacing_stage``) price a kind's layers by its block (memo name ``kind`` +
    symbol, the same rows for both)."""
    mixed = m.moe is not None and 0 < m.moe_layers < m.layers  # a plain model with dense and MoE layers
    if not (m.hybrid or mixed):
        return {}
    symbols, block_model = ((np.array(list(m.hybrid_pattern)), ssm.kind_block_model) if m.hybrid
                            else (moe_mech.layer_symbols(m), moe_mech.kind_block_model))
    return {k: KeptKind((symbols == k).astype(np.float64), (block_model(m, k), graph_parts, kind_memo_name(k)))
            for k in sorted(set(symbols.tolist()))}


def kind_memo_name(kind: str) -> str:
    """The search memo's name of one layer kind's block (``layer_kinds``; a mixed MoE model's MTP block,
    ``mtp_layer_block``, is its "E" kind's block, so both read one memo entry)."""
    return "kind " + kind


def kept_layer_terms(terms, recipe: dict, block) -> dict:
    """Each layer term of one kept 16-bit layer beyond the recipe's (``terms(bf16_share, block)``: the layer model's
    terms at the stage keys): the mean layer's against ``recipe`` (the model's terms), a block's against the same
    block under the recipe (``KeptKind.block``)."""
    on = terms(1.0, block)
    off = recipe if block is None else terms(0.0, block)
    return {k: v - off[k] for k, v in on.items()}


def slowest_stage(layers: int, pp, t_layer, t_head, n16: int = 0, t16=0.0, chunks=1, runtime="megatron", tp=1,
                  first16: int = 0, kinds: dict | None = None, rn=None, t_rec=0.0):
    """(layers, head weight, 16-bit layers) of the pipeline rank that sets the pace, vectorised over ``pp`` (and
    ``chunks``, the model chunks per rank of an interleaved schedule; ``V_SPLIT`` DualPipeV's two, placed as a V
    with the head on rank 0 beside the embedding's stage: pipeline ``stage_ranks`` / ``head_rank``).

    The ranks are the split the plan launches -- planner.model.pipeline ``pipeline_split`` for ``runtime``, the one
    --emit writes (``--decoder-first/last-pipeline-num-layers``, ``--account-for-embedding-in-pipeline-split
    --account-for-loss-in-pipeline-split``, an explicit layout) and the memory model holds
    (``memory_stages.stage_layer_microbatches``) -- each rank's layers summed over its chunks (virtual stage s on rank
    s % pp), the LM head and loss on the last rank, and the ``n16`` end layers the stack keeps 16-bit under the
    fp8/fp4 recipe (``t16`` more each) on the ranks that hold them by global layer number (Megatron-Core
    fp8_utils.py ``is_first_last_bf16_layer``), and the ``first16`` first layers so kept
    (``--num-layers-at-start-in-bf16``) on the first rank: pipeline ``lp16_layers``, the one definition of both. The pace
    is the largest of ``layers x t_layer + head x t_head + 16-bit x t16`` over the ranks (the earliest on a tie).
    ``tp``: each row's TP size, read only where the split depends on it (DeepSpeed's "parameters" partition,
    ``pipeline.DeepSpeedSplit``). ``rn``: each row's block recompute N (Megatron ``--recompute-method block``, 0
    none): a rank then takes ``t_rec`` more (full recompute's layer over the plain one, ``t_layer`` the plain) for
    each layer it re-runs, counted chunk by chunk (pipeline ``rank_recomputed``: each chunk its first N), and the
    pacing rank's re-run layers are returned fourth. ``kinds``: the kept layers by kind (``kept_layer_kinds``' ``KeptKind.layers``, 1 at
    each global layer of the kind, None every layer), ``t16`` then {kind: time} and the 16-bit layers returned
    {kind: count}.

    ``pace_rank`` is the same over typed inputs and result, and also weighs each rank's layers by their kinds and each
    rank's all-to-all at its own paired share (``pacing_stage``).

    Megatron-Core builds exactly those counts (megatron/core/transformer/transformer_block.py
    ``get_num_layers_to_build``, core_r0.12-r0.14): with the embedding / loss accounted, (L + 2) / pp layers a
    rank, one less on the first and on the last (it asserts the division and ``num_layers_to_build >= 0``: a rank
    may build 0 layers, e.g. 2 layers on pp 4 are 0, 1, 1, 0); with ``--decoder-first/last-pipeline-num-layers``
    the given end counts and the rest evenly in between. Until 2026-12-02 (left6) the pace was the better of
    ceil(L / pp) layers + head and the accounted split's ``ceil((L + 2) / pp)``-unit ranks, whichever split was
    launched: where the launched first/last split gives the last rank fewer than ``u - 1`` layers (Llama-3-8B's 32
    layers on pp 6: 4, 6, 6, 6, 6, 4) a heavy head (2.5 layers) was paced at 5 + 2.5, not at max(6, 4 + 2.5).

    >>> [x.tolist() for x in slowest_stage(126, np.array([16.0, 1.0]), 1.0, 2.0)]  # 7, 8 x 14, 7: the last paces
    [[7.0, 126.0], [1.0, 1.0], [0.0, 0.0]]
    >>> [x.tolist() for x in slowest_stage(32, np.array([6.0]), 1.0, 2.5)]  # 4, 6, 6, 6, 6, 4
    [[4.0], [1.0], [0.0]]
    """
    by_kind = kinds is not None
    kinds, t16 = (kinds, t16) if by_kind else ({None: None}, {None: t16})
    got = pace_rank(layers, pp, RankTimes(t_layer, t_head, t16, t_rec), chunks, runtime, tp, first16, n16, kinds, rn)
    b16 = got.b16 if by_kind else got.b16[None]
    if rn is not None:
        return got.nl, got.head, b16, got.rec
    return got.nl, got.head, b16


@dataclasses.dataclass(frozen=True, slots=True)
class RankTimes:
    """What one unit of each column costs a pipeline rank per micro-batch (``pace_rank``), arrays over the rows: a
    layer, the head, each kind's 16-bit layer beyond the recipe's (``b16``), a re-run layer of block recompute
    (``rec``), each kind's layer (``mix``, a mixed model: ``layer_kinds``)."""
    layer: object
    head: object
    b16: dict
    rec: object = 0.0
    mix: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class PaceRank:
    """The pacing rank of each row (``pace_rank``): ``nl`` its layers, ``head`` 1 where it holds the head, ``b16``
    its 16-bit layers by kind, ``rec`` its re-run layers, ``mix`` its layers of each kind beyond the model's mix of
    them (``rank_mix``), ``share`` its paired share of the EP all-to-all (0 where nothing is hidden)."""
    nl: np.ndarray
    head: np.ndarray
    b16: dict
    rec: np.ndarray
    mix: dict
    share: np.ndarray
    #: the pacing rank's time over the others', summed over them: (k - 1) x pace - sum of the other ranks' (``fill_excess``)
    excess: np.ndarray | float = 0.0


def rank_mix(layers: int, counts, rank_of, k: int, weights) -> np.ndarray:
    """Each rank's layers of one kind (``weights``: 1 at each global layer of it) beyond its layers' share of the
    model's, (kind x L - layers x model's kind) / L summed over its virtual stages (``counts``, layer order): 0 on a
    rank holding the model's mix, exactly (integers until the division). DeepSeek-V3 on PP 16 (``Et*4|(t*4|)*14tmL``):
    the first rank's 4 layers are 3 dense and 1 MoE against 4 x 3 / 61 dense, -2.80 MoE layers beyond; each middle
    rank's 4 MoE are 0.20 beyond."""
    kind = stage_kind_layers(weights, counts)[0]  # the kind's layers on each virtual stage (one count: pipeline)
    excess = (kind * layers - np.asarray(counts, dtype=np.float64) * float(np.sum(weights))) / layers
    return np.bincount(rank_of, excess, minlength=k)


def pace_rank(layers: int, pp, tm: RankTimes, chunks=1, runtime="megatron", tp=1, first16: int = 0, n16: int = 0,
              kinds: dict | None = None, rn=None, mix: dict | None = None, hide=None, th: RankTimes | None = None):
    """``slowest_stage``'s pacing rank over typed columns: each rank at ``tm``'s column times by its counts
    (layers, head, 16-bit layers by kind, re-run layers), and on a mixed model (``mix``: {kind: 1 at each global
    layer of it}) its layers of each kind beyond the model's mix (``rank_mix``) at that kind's layer, so a rank
    holding DeepSeek-V3's three dense layers is lighter than the mean layer says and one of only MoE layers heavier
    (until 2026-12-05, step42, every rank's layers were the mean layer). ``hide``: the rows' ``A2AShare``, ``th``
    the all-to-all each column hides per paired micro-batch: each rank less its own share (``A2AShare.at``) of
    them."""
    kinds = {None: None} if kinds is None else kinds
    mix = mix or {}
    pp = np.asarray(pp, dtype=np.float64)
    shape = np.broadcast(pp, np.asarray(chunks), np.asarray(tm.layer), np.asarray(tm.head),
                         *(np.asarray(x) for x in tm.b16.values())).shape
    ppi = np.broadcast_to(pp, shape).astype(np.int64)
    ch = np.asarray(chunks)
    vi = np.broadcast_to(np.where(ch == V_SPLIT, V_SPLIT, np.maximum(ch, 1)), shape).astype(np.int64)

    def cols(x: RankTimes):  # each column's time broadcast to the rows
        f = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), shape)  # noqa: E731
        return (f(x.layer), f(x.head), {j: f(v) for j, v in x.b16.items()}, f(x.rec),
                {j: f(v) for j, v in x.mix.items()})
    tc, hc = cols(tm), (None if hide is None else cols(th))
    n, head, rec, share, excess = (np.zeros(shape) for _ in range(5))
    b16 = {j: np.zeros(shape) for j in kinds}
    nmix = {j: np.zeros(shape) for j in mix}
    rni = None if rn is None else np.broadcast_to(np.asarray(rn), shape)
    for rows, (k, v, _), counts in split_per_row(layers, ppi, vi, tp, runtime):
        rank_of = stage_ranks(k, len(counts), v)  # DualPipeV's V (``chunks`` V_SPLIT): rank 0 its first and last
        # the 16-bit first / end layers by global number: layers [0, first16) and [L - n16, L), virtual stages in
        # layer order, each kind's apart
        cnt = (np.bincount(rank_of, counts, minlength=k), (np.arange(k) == head_rank(k, v)).astype(np.float64),
               {j: np.bincount(rank_of, lp16_layers(layers, counts, first16, n16, w), minlength=k)
                for j, w in kinds.items()},
               None if rni is None else rank_recomputed(counts, k, v, rni[rows]),  # rows x ranks
               {j: rank_mix(layers, counts, rank_of, k, w) for j, w in mix.items()})
        pace = _rank_sum(cnt, tc, rows)
        at = None
        if hide is not None:
            at = _rank_share(hide, rows, k)
            pace = pace - at * _rank_sum(cnt, hc, rows)
        top = np.argmax(pace, axis=1)
        pick = np.arange(len(top)), top
        n[rows], head[rows] = cnt[0][top], cnt[1][top]
        for j, r in cnt[2].items():
            b16[j][rows] = r[top]
        if rni is not None:
            rec[rows] = cnt[3][pick]
        for j, r in cnt[4].items():
            nmix[j][rows] = r[top]
        if at is not None:
            share[rows] = at[pick]
        excess[rows] = fill_excess(pace, pick)
    return PaceRank(nl=n, head=head, b16=b16, rec=rec, mix=nmix, share=share, excess=excess)


def fill_excess(pace: np.ndarray, pick) -> np.ndarray:
    """How much the bubble's ``(k - 1) x`` the pacing rank's time overstates the fill and drain, per row of ``pace``
    (rows x ranks: each rank's time per micro-batch, forward and backward; ``pick`` the pacing rank's cells):
    ``(k - 1) pace[top] - sum of the other ranks' pace``. The 1F1B schedule's step with unequal stages is
    ``m t_max + sum of the other stages' t`` (list scheduling of Megatron's 1F1B order and a rendezvous replay of
    DeepSpeed's ``TrainSchedule``, deepspeed/runtime/pipe/schedule.py: micro-batch 0's forward crosses the lighter
    stages once and the last backward crosses them once; only the pacing stage is busy in between; exact where
    the last rank, which holds the LM head, paces -- tests/test_fill_excess45.py), not ``(m + k - 1) t_max``."""
    top = pace[pick]
    return np.maximum((pace.shape[1] - 1) * top - (pace.sum(axis=1) - top), 0.0)


def _rank_share(hide, rows, k: int) -> np.ndarray:
    """rows x ranks: each rank's paired share of the all-to-all (``A2AShare.at``)"""
    col = (lambda x: np.asarray(x)[rows][:, None])  # noqa: E731
    return A2AShare(col(hide.kind), col(hide.pp), col(hide.vpp), col(hide.mm), hide.group).at(np.arange(k)[None, :])


def _rank_sum(cnt, tc, rows) -> np.ndarray:
    """rows x ranks: each rank's counts (``pace_rank``'s ``cnt``) at the column values ``tc`` of ``rows``"""
    ranks, last, r16, re_run, rmix = cnt
    tl, th, tb, trec, tmix = tc
    pace = ranks[None, :] * tl[rows][:, None] + last[None, :] * th[rows][:, None]
    for j, r in r16.items():
        pace = pace + r[None, :] * tb[j][rows][:, None]
    if re_run is not None:
        pace = pace + re_run * trec[rows][:, None]
    for j, r in rmix.items():
        pace = pace + r[None, :] * tmix[j][rows][:, None]
    return pace


def float8_precompute_time(hw, local, dps, tpf, g, inter_bw, a_in, a_out):
    """Seconds of torchao's ``precompute_float8_dynamic_scale_for_fsdp`` after each optimizer step (torchao
    torchao/float8/fsdp_utils.py: ``torch._foreach_norm(weights, ord=math.inf)`` over each float8 weight's local
    shard, the stacked amaxes reduced across the shard group as one DTensor, the scales written back): one read of
    the rank's ``local`` fp32 parameters (the float8 linears are nearly all of them) and one all-reduce of a few
    hundred fp32 scalars, its latency (bytes left at zero)."""
    pass_s = hw.eff.memory_time(local * 4.0, hbm_bw=hw.gpu.hbm_bw)
    return pass_s + collective_time("all_reduce", 0.0, dps, tpf, g, group_intra_bw(hw, dps, tpf), inter_bw, a_in, a_out)


def _dp_terms(m, t, hw, c_cols, dp_grad_bytes, fw=None, etp=None, split=None):
    """ZeRO-3 gathers and the DP gradient reduce for each distinct (pp, tp, cp, dp, ep, zero).

    ZeRO-3/FSDP gathers and reduce-scatters run as many collectives as the stack has units: one
    per wrapped block (FSDP/FSDP2 wrap each transformer block) or one per
    ``Stack.zero3_bucket_params`` parameters (DeepSpeed ``stage3_prefetch_bucket_size``,
    default 5e7), each paying the ring's per-step latency (n - 1) alpha: at thousands of ranks
    this latency, not the bandwidth, is what the step waits on.

    Every parameter all-gather -- ZeRO-1/2's of the updated parameters and ZeRO-3's per unit -- moves the width
    ``fp8_gather_on`` and the recipe decide (``LowPrecisionRecipe.param_gather_bytes``, the pipeline ends at
    16 bits: ``fp8_param_gather_bytes``), the width planner.model.memory stores the weights at
    (``stack_kernels.fp8_weights_as_stored``). Megatron-FSDP under ``--fp8-param-gather`` keeps FP8 weight buffers and
    gathers them as such (megatron/core/distributed/fsdp/src/megatron_fsdp/param_and_grad_buffer.py: the model
    weight buffer of an FP8 parameter is uint8, ``is_float8tensor``; its all-gather runs over that buffer), as the
    distributed optimizer does. Until 2026-12-03 (fp8gather) ZeRO-3 gathered 16-bit weights while memory held FP8
    ones: Together AI's B200 Llama 3.1 70B FP8 Megatron-FSDP rows at 64 / 128 / 256 / 512 / 592 GPUs were -3.3 /
    -2.0 / -7.3 / +5.7 / +8.4% then; taken together with their 5-layer activation offload (offload.py), numbers in
    README "Scale, parallelism and long context". torchtitan's FSDP2 float8 all-gather (``Stack.fsdp_float8_all_gather``,
    fsdp8) is the same width rule: torchao's ``WeightWithDynamicFloat8CastTensor.fsdp_pre_all_gather`` hands FSDP2 the
    shard cast to float8, so each unit's gather moves 1 B a float8 linear's element (the embedding and the ``output``
    head, which torchao's filter leaves out, 2 B); with ``precompute_float8_dynamic_scale_for_fsdp`` the scales come
    from one amax all-reduce over the shard group after each optimizer step (``float8_precompute_time``)."""
    pp, tp, cp, dp, ep, zero = c_cols[:6]
    dp_shard = dp if len(c_cols) < 7 else c_cols[6]
    vpp = np.ones_like(pp) if len(c_cols) < 8 else c_cols[7]
    etp = tp if etp is None else etp
    eff = hw.eff
    g = float(hw.gpus_per_node)
    inter_bw = hw.inter_bw_per_gpu
    a_in, a_out = eff.intra_alpha_s, eff.inter_alpha_s
    cc = Candidates.layouts(tp, pp, dp, cp, ep, zero, gpus_per_node=int(g))
    cc.vpp = vpp
    tpf = tp.astype(np.float64)
    w_b, g_b, master_b, opt_b = model_state_bytes_per_param(t, m.hidden or 4096)
    # the stage's parameters on the split the stack launches, its virtual stages included (memory's
    # ``stage_params``: a mixed MoE model's dense layers fall on the stages that hold them)
    muon = optimizers.impl_for(fw, t) if m.is_transformer and not frozen_base(m, t) else None
    # Muon reads each stage's blocks; the stack, what an HF plan leaves whole in the gathered unit. ``split``: the
    # one the memory model found at these keys (``dp_step_terms``: memory_stages ``key_stage_split``), else found here
    if split is None:
        split = stage_split(m, cc, split_runtime(fw, m), blocks=split_blocks(m, t), stack=fw)
    f_dense, f_exp, l_dense, l_exp, layers, _ = split.params()
    # what an HF TP plan leaves whole is gathered and reduced whole by every rank (moe ``hf_ep_whole_params``, as
    # memory ``dense_rank``; until hfep35 over TP)
    ep_whole = moe_mech.hf_ep_whole_params(m, fw, tpf, ep, pp)
    stage_p_dense = (np.maximum(f_dense, l_dense) - ep_whole) / tpf + ep_whole
    etpf = etp.astype(np.float64)
    stage_p_exp = np.maximum(f_exp, l_exp) / (etpf * ep)
    # the ZeRO sharding groups: dense over dp_shard x cp ranks (HSDP; dp x cp when dp_shard = dp), experts over
    # the expert data-parallel group (the stage's tp*cp*dp ranks over the etp*ep expert grid) cut to its share
    dps, edps = hsdp_groups(tpf, dp, cp, ep, etpf, dp_shard)
    # the gradient buffer's dtype, or the stack's own communication dtype (stacks.grad_reduce_bytes: DeepSpeed's
    # ``communication_data_type``, 16-bit by default whatever it accumulates in; accelerate's FSDP mixed precision
    # where it shards, per ZeRO stage)
    fp32_module = fw is not None and fw.autocasts(t)  # fp32 weights under autocast: DeepSpeed reduces in fp32
    grad_bytes = (grad_reduce_bytes(fw, t.precision, g_b, fp32_module, zero) if dp_grad_bytes is None
                  else dp_grad_bytes)
    # DeepSpeed's torch_autocast section: its ZeRO 1-3 wrappers reduce the tagged nn.Linear gradients in the autocast
    # dtype and the rest in fp32 (stacks.autocast_reduce_bytes); the dense and the expert groups' bytes apart
    tagged = autocast_reduce_bytes(fw, m, t) if dp_grad_bytes is None else None
    gb_d, gb_e = ((np.where(zero >= 1, tagged[0], grad_bytes), np.where(zero >= 1, tagged[1], grad_bytes))
                  if tagged is not None else (grad_bytes, grad_bytes))
    param16 = min(w_b, 2.0)
    if frozen_base(m, t) and bitsandbytes_base(t):  # its packed weights, none of them under FSDP2 (finetune.py)
        param16 = bitsandbytes_gather_bytes(m, t, bnb_ignored_by_fsdp2(fw), param16)
    tpe = etpf * ep

    # a stage with no expert parameters (a dense model, a dense-only stage) runs no expert collective: a zero-byte
    # collective_time is still its latency, which every dense row's DP terms paid once more until session 35
    has_exp = stage_p_exp > 0

    def nic(kind, dense_bytes, exp_bytes):
        """bytes per GPU and direction the collective moves through the NIC (comm.nic_bytes)"""
        return (nic_bytes(kind, dense_bytes, dps, tpf, g) + nic_bytes(kind, exp_bytes, edps, tpe, g))

    # the DP collectives priced in two collective_time calls, not nine (it is elementwise: each gets the bits its
    # own call gives; the fixed cost of ~25 numpy calls a collective on a few hundred DP keys, speed39): the
    # all-gathers, reduce-scatters (the same ring, comm.KIND_FACTOR and FLAT_RING_KINDS) and ZeRO-3's per-unit latency
    # (a zero-byte gather) of the dense and the expert groups, then the all-reduces (the DP reduce's and HSDP's
    # replica all-reduce, ``ar_rep`` below)
    share = trainable_share(m, t)  # lora/qlora: only the adapters have gradients and states
    per_rs, per_rs_e = gb_d * share, gb_e * share
    # each group's rings at the links its members have (comm.group_intra_bw: intra_bw on a switched node)
    ring_n, ring_s = np.stack(np.broadcast_arrays(dps, edps))[:, None], np.stack(np.broadcast_arrays(tpf, tpe))[:, None]
    ring = collective_time("all_gather", np.stack(np.broadcast_arrays(
        stage_p_dense * param16, stage_p_dense * per_rs, 0.0, stage_p_exp * param16, stage_p_exp * per_rs_e,
        0.0)).reshape(2, 3, -1), ring_n, ring_s, g, group_intra_bw(hw, ring_n, ring_s), inter_bw, a_in, a_out)
    # the DP reduce's all-reduce (dense, expert) and HSDP's replica all-reduce (dense, expert)
    reps = (dp // np.maximum(dp_shard, 1)).astype(np.float64)
    ar_n = np.stack(np.broadcast_arrays(dps, edps, reps, reps))
    ar_s = np.stack(np.broadcast_arrays(tpf, tpe, tpf * dps, tpe * edps))
    ars = collective_time("all_reduce", np.stack(np.broadcast_arrays(
        stage_p_dense * per_rs, stage_p_exp * per_rs_e, stage_p_dense * per_rs / dps,
        stage_p_exp * per_rs_e / edps)), ar_n, ar_s, g, group_intra_bw(hw, ar_n, ar_s), inter_bw, a_in,
        a_out)
    ag = ring[0, 0] + np.where(has_exp, ring[1, 0], 0.0)
    ag_nic = nic("all_gather", stage_p_dense * param16, stage_p_exp * param16)
    # under Megatron-Core's --fp8-param-gather the FP8 parameters travel at the recipe's width (a per-tensor FP8
    # parameter: 1 B; LowPrecisionRecipe.param_gather_bytes), the pipeline ends at 16 bits (fp8_param_gather_bytes):
    # ZeRO-1/2's gather of the updated parameters and ZeRO-3's per-unit gathers alike
    fp8_pg = fp8_gather_on(fw, t, zero) if fw is not None else np.zeros(np.shape(zero), dtype=bool)
    if fp8_pg.any():
        kept = lp16_rank_params(m, pp, vpp, *lp16_counts(fw, m, t.precision), tp, split_runtime(fw, m),
                                split.first_rank)
        dense_b, exp_b = fp8_param_gather_bytes(m, pp, (f_dense, f_exp, l_dense, l_exp), fw.recipe.param_gather_bytes,
                                                param16, kept, split.first_rank)
        ag_fp8 = (collective_time("all_gather", dense_b / tpf, dps, tpf, g, group_intra_bw(hw, dps, tpf), inter_bw,
                                  a_in, a_out)
                  + np.where(has_exp, collective_time("all_gather", exp_b / tpe, edps, tpe, g,
                                                      group_intra_bw(hw, edps, tpe), inter_bw, a_in, a_out), 0.0))
        ag_params = np.where(fp8_pg, ag_fp8, ag)
        ag_nic = np.where(fp8_pg, nic("all_gather", dense_b / tpf, exp_b / tpe), ag_nic)
    else:
        ag_params = ag
    rs = ring[0, 1] + np.where(has_exp, ring[1, 1], 0.0)
    rs_nic = nic("reduce_scatter", stage_p_dense * per_rs, stage_p_exp * per_rs_e)
    ar = ars[0] + np.where(has_exp, ars[1], 0.0)
    bucket = getattr(fw, "zero3_bucket_params", None)
    units = layers if not bucket else np.maximum(layers, np.ceil((stage_p_dense + stage_p_exp) / bucket))
    lat = ring[0, 2]
    ag3 = ag_params + np.maximum(units - 1, 0) * lat
    rs3 = rs + np.maximum(units - 1, 0) * lat
    # HSDP's replica all-reduce: each shard group's 1/dp_shard gradient shard all-reduced across the dp / dp_shard
    # replicas, a group of stride tp x cp x dp_shard (the shard group innermost in DP, so the replicas are the
    # same shard rank in other shard groups: inter-node once the shard group fills a node). FSDP2 ``fully_shard`` on
    # a 2-D mesh reduce-scatters over the shard dim then all-reduces over the replicate dim (torch
    # _fsdp_collectives.py ``foreach_reduce``: ``all_reduce_group``); Megatron-Core's partial distributed optimizer
    # the same (param_and_grad_buffer.py ``partial_distopt``); DeepSpeed MiCS ("hierarchical" gradient sync across
    # replication groups, Zhang et al. 2022, arXiv 2205.00119 §4). Zero when dp_shard = dp (one replica). Once
    # per step in the DP reduce's place (step_time adds it), or per micro-batch with ZeRO-3's reduce-scatters
    # (``Stack.hsdp_all_reduce_per_microbatch``).
    ar_rep = ars[2] + np.where(has_exp, ars[3], 0.0)
    # the gradient reduce (ZeRO-0: all-reduce; ZeRO-1/2: reduce-scatter; HSDP adds the replica all-reduce, once per
    # step under the DP reduce's overlap) and, separately, ZeRO-1/2's all-gather of the updated parameters after the
    # optimizer step (``param_gather``): they overlap different compute (the last backward vs the next step's first
    # forward), step_time below
    # a stack whose engine all-reduces every gradient whatever the optimizer shards (stacks.all_reduces_grads:
    # DeepSpeed's pipeline engine with bf16, GPT-NeoX's DeeperSpeed): the ZeRO-1 reduce is that all-reduce
    z1_reduce = ar if fw is not None and all_reduces_grads(fw, t.precision, fp32_module) else rs
    t_dp = np.where(zero == 0, ar, np.where(zero == 1, z1_reduce, np.where(zero == 2, rs, 0.0)))
    param_gather = np.where((zero >= 1) & (zero <= 2), ag_params, 0.0)
    local = np.where(zero >= 1, stage_p_dense / dps + stage_p_exp / edps, stage_p_dense + stage_p_exp)
    opt_b = OPTIMIZER_BYTES_PER_PARAM[t.optimizer]
    if fw is not None and fw.optimizer_foreach:  # torch.optim's multi-tensor path, a pass per op
        opt_b = OPTIMIZER_BYTES_FOREACH.get(t.optimizer, opt_b)
    pa = optimizers.precision_aware(fw, t)
    if pa is not None:  # Megatron-Core's precision-aware optimizer: TE FusedAdam at its state dtypes
        opt_b = pa.step_bytes(g_b)
    elif moments_16bit(fw, t):  # parameters, gradients and moments at 2 B
        # the tables' elements are fp32 (Stack.params_16bit: AutoModel's MoE; Stack.moments_like_params: optax on
        # MaxText's bf16 weights)
        opt_b = opt_b * min(w_b, 2.0) / 4.0
    t_opt = eff.memory_time(local * share * opt_b, hbm_bw=hw.gpu.hbm_bw)
    # Muon (planner.model.optimizers): Newton-Schulz and per-class bytes, DDP's all-reduce; lora/qlora's
    # small adapters keep the elementwise pass alone
    if muon is not None:  # each stage with its own blocks (an MTP or dense-layer stage differs): the busiest paces
        # the step; the ends and, where the split is counted stage by stage, every rank before the last
        # (StageSplit.before_last: a middle stage can hold more Newton-Schulz work than the heaviest by parameters)
        stages = ((f_dense, f_exp, split.first_blocks), (l_dense, l_exp, split.last_blocks), *split.before_last)
        t_opt = np.maximum.reduce([optimizers.step_terms(m, muon, hw, b, tpf, etpf, ep, dps, edps, zero, d / tpf,
                                                         e / tpe, OPTIMIZER_BYTES_PER_PARAM["adamw"])
                                   for d, e, b in stages])
        t_dp = np.where(zero <= 1, ar, t_dp) if muon.grad_all_reduce else t_dp
    # fused multi-tensor optimizer kernels + grad-norm: a handful of launches per step
    t_opt = t_opt + 8 * eff.launch_s
    if fw is not None and fsdp_float8_gather_on(fw, t, zero).any():
        t_opt = t_opt + np.where(fsdp_float8_gather_on(fw, t, zero), float8_precompute_time(
            hw, local * share, dps, tpf, g, inter_bw, a_in, a_out), 0.0)
    # DeepSpeed 0.3-era ZeRO-1's per-tensor overflow check and norm over the whole stage (Stack.serial_grad_checks)
    t_opt = t_opt + serial_grad_check_s(m, fw, eff, hw.gpu.hbm_bw, (stage_p_dense + stage_p_exp) * share, layers, param16)
    # SMs NCCL holds while these collectives run: rings through NVLink inside the node, or only
    # through the NIC when the group has one member per node (physics.nccl_comm_sms)
    sms = physics.nccl_comm_sms(members_per_node(dps, tpf, g))
    return dict(ag=ag, rs=rs, ag3=ag3, rs3=rs3, ag3_nic=ag_nic, rs3_nic=rs_nic, ar_rep=ar_rep, t_dp=t_dp, param_gather=param_gather, t_opt=t_opt, layers=layers, sms=sms, local=local * share, local_all=local,
                stage_p=(stage_p_dense + stage_p_exp) * share, stage_p_dense=stage_p_dense * share,
                stage_p_exp=stage_p_exp * share, edps=np.broadcast_to(edps, np.shape(stage_p_exp)) * 1.0)


def fp8_param_gather_bytes(m, pp, stage, fp8_bytes: float, bytes16: float, kept=None, first_rank=None) -> tuple:
    """(dense, expert) bytes of the parameters a parameter all-gather (ZeRO-1/2's after the step, ZeRO-3's per unit)
    moves under Megatron-Core's ``--fp8-param-gather``, before the TP / expert-grid division, on the pipeline stage
    that moves most (vectorised over ``pp``; ``stage``: memory_stages ``stage_params``' first dense, first expert, last
    dense, last expert): the transformer layers' linear weights at ``fp8_bytes``
    (``LowPrecisionRecipe.param_gather_bytes``), what the pipeline ends hold (the embedding on the first stage, the
    final norm and the LM head on the last: planner.model.memory_stages ``pipeline_end_params``) and the layers the stack
    keeps 16-bit (``kept``: memory_stages ``lp16_rank_params``' first / last rank's dense and expert parameters of them) at
    ``bytes16``. ``first_rank``: the rank the first stage is (memory_stages ``StageSplit.first_rank``); one past rank 0
    holds no embedding.

    Only TE modules built under TE's ``fp8_model_init`` hold FP8 parameters: Megatron-Core builds each transformer
    layer inside ``get_fp8_context(config, layer_no, is_init=True)`` (megatron/core/transformer/transformer_block.py
    ``_build_layers``, Megatron-LM core_r0.12-r0.14), while the word embedding (``VocabParallelEmbedding``) and the
    output layer (``tensor_parallel.ColumnParallelLinear``, megatron/core/models/gpt/gpt_model.py) are built outside
    it and stay 16-bit, and so are the first / last layers ``--first-last-layers-bf16`` keeps (fp8_utils.py
    ``get_fp8_context``: a ``nullcontext`` at init for ``is_first_last_bf16_layer``). The distributed optimizer keeps
    the two kinds in separate buffers of one bucket group
    (megatron/core/distributed/distributed_data_parallel.py ``_allocate_buffers_for_parameters``: ``param_dtype =
    torch.uint8`` where ``is_float8tensor(param)``, the parameter's own dtype otherwise; Megatron-LM main @0011998),
    so the gather moves 1 B per FP8 element and 2 B per embedding / head / kept-layer element. The norms and biases
    inside the layers stay 16-bit too; at under 0.1% of a layer's parameters they are left at ``fp8_bytes``. Until
    2026-12-04 (fp8keep30) the kept layers moved at ``fp8_bytes`` and the experts of a kept MoE layer too.

    >>> from planner.spec import ModelSpec
    >>> from planner.spec.presets import PRESETS
    >>> m = ModelSpec(**PRESETS["llama3-8b"])
    >>> pc = count_params(m)
    >>> d, e = fp8_param_gather_bytes(m, 1, (pc.total, 0.0, pc.total, 0.0), 1.0, 2.0)
    >>> round(float(d / pc.total), 3), float(e)  # 1.05B of 8.03B 16-bit
    (1.131, 0.0)
    >>> round(float(fp8_param_gather_bytes(m, 1, (pc.total, 0.0, pc.total, 0.0), 1.0, 2.0,
    ...                                     (pc.dense_layer, 0.0, pc.dense_layer, 0.0))[0] / pc.total), 3)  # + 1 layer
    1.158
    """
    f_dense, f_exp, l_dense, l_exp = stage
    if not m.is_transformer:
        return np.maximum(f_dense, l_dense) * fp8_bytes, np.maximum(f_exp, l_exp) * fp8_bytes
    kf_d, kf_e, kl_d, kl_e = (0.0,) * 4 if kept is None else kept
    ends_f, ends_l = pipeline_end_params(m, count_params(m), pp)
    if first_rank is not None:
        ends_f = np.where(np.asarray(first_rank) == 0, ends_f, 0.0)

    def width(total, b16):
        """bytes of ``total`` parameters, ``b16`` of them 16-bit"""
        return (total - b16) * fp8_bytes + b16 * bytes16
    return (np.maximum(width(f_dense, ends_f + kf_d), width(l_dense, ends_l + kl_d)),
            np.maximum(width(f_exp, kf_e), width(l_exp, kl_e)))


def grad_accum_bytes(accumulator: float, new: float = 2.0) -> float:
    """HBM bytes per parameter of one unfused gradient accumulation (``accumulated += new``): read the
    accumulator and the new 16-bit gradient, write the accumulator (16-bit .grad: 6 B; an fp32 accumulator: 10 B)."""
    return 2.0 * accumulator + new


def grad_accum_pass(stack, t: TrainingSpec, hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Per ZeRO stage 0..3, the HBM bytes per parameter of one micro-batch's unfused gradient accumulation a
    stack runs (``Stack.grad_accum_pass``; PyTorch ``AccumulateGrad``: ``variable.grad += new_grad``), and
    whether the first micro-batch skips it (as the pair ``(bytes, stolen)``). A 16-bit ``.grad`` is stolen by
    the first micro-batch after ``zero_grad(set_to_none)`` and added to by the other m - 1; a separate
    accumulator is added to by all m (DeepSpeed bf16_optimizer ``update_hp_grads``: ``hp_grad.add_(lp.grad)``
    per micro-batch). Which buffer a stage accumulates into is the stack's optimizer wrapper where it has a
    table (``stacks.zero_state_rows``, the rows planner.model.memory ``zero_stage_states``
    holds the memory of: its ``acc_bytes`` buffer, else the kept 16-bit ``.grad``), else the precision
    convention's gradient dtype (``training.grad_dtype``) below ZeRO-2; ZeRO-2/3 accumulate into their 1/dp
    partition (not modelled: 0). The kept ``.grad`` and the new gradient are in the module's dtype
    (``stacks.offload_zero_rows``: fp32 under DeepSpeed's torch_autocast section, whose ZeRO-0 is the paper's; until
    ds52c the paper's row at every stage there).

    The new gradient is in the parameter's own dtype (autograd's ``AccumulateGrad``: a leaf's ``.grad`` takes the
    leaf's dtype; the weight term less the precision's cached copy, ``WEIGHT_COPY_BYTES``). Under AMP (``weights:
    amp``) the parameters are fp32 -- torch.autocast casts an op's inputs to the autocast dtype (pytorch.org/docs
    amp.html) and leaves the parameters as they are; the bf16 copy's gradient flows back through the cast to the fp32
    leaf (measured, torch 2.13 CPU, tests/test_mem53.py: an ``nn.Linear`` under bf16 autocast, ``.grad`` fp32, and
    the second backward adds into the first's ``.grad``) -- so the new gradient is 4 B and the accumulator is that
    leaf's own ``.grad`` (no master, no separate buffer: ``PRECISION_CONVENTIONS``' master 0), which the first
    micro-batch steals: 4 + 4 read, 4 written (12 B), m - 1 times a step. Until mem53 the paper's rows took a 2 B new
    gradient everywhere: 10 B a micro-batch, m times (Megatron-DeepSpeed under ``weights: amp`` at ZeRO-0, and
    ZeRO-1 without a wrapper table); fp32 training 2 -> 4 B of new gradient too.

    Whether the first micro-batch steals is whose buffer the accumulator is (fsdp53): the parameter's own ``.grad``
    (the convention's gradient bytes those of the new gradient: AMP, fp32, 16-bit gradients) is stolen, unless the
    stack adds every ``.grad`` into a separate, zeroed buffer (``Stack.main_grad_buffer``: Megatron's ``main_grad``,
    the Megatron-Core / Megatron-LM stacks with their fusion off), which all m micro-batches pay. Megatron-DeepSpeed
    under fp32 (``weights: megatron`` / ``pure``: 4 B weights and gradients, no master) has no ``main_grad`` (the
    DeepSpeed engine holds the bare model), so it steals there too: 12 B x (m - 1); until fsdp53 12 B x m (only AMP and
    16-bit gradients stole), and Megatron's main_grad stacks stole under AMP and 16-bit gradients."""
    w_b, g_b = model_state_bytes_per_param(t, hidden)[:2]
    new = w_b - WEIGHT_COPY_BYTES.get((t.precision, t.weights), 0)
    one = grad_accum_bytes(g_b, new)
    # the first micro-batch steals where the accumulator is the parameter's own ``.grad`` (the convention's gradient in
    # the new gradient's dtype, no master), not a separate buffer (``Stack.main_grad_buffer``: Megatron's main_grad)
    stolen = g_b == new and not getattr(stack, "main_grad_buffer", False)
    paper = np.array([one, one, 0.0, 0.0]), np.full(4, stolen)
    wrapper = offload_zero_rows(stack, t)
    if wrapper is None:
        return paper
    rows, module = wrapper
    acc = np.array([r.acc_bytes if r else 0.0 for r in rows])
    kept = np.array([bool(r) and r.grads_kept != "none" for r in rows])
    ours = (np.where(acc > 0, grad_accum_bytes(acc, module), np.where(kept, grad_accum_bytes(module, module), 0.0)),
            acc == 0)
    return tuple(np.where([r is None for r in rows], p, o) for p, o in zip(paper, ours))


def _grad_widths(fw, t: TrainingSpec, edps) -> tuple:
    """(the width a backward writes an unsharded gradient at, the reduce width, the (dense, expert) widths of the
    gradients held unsharded: memory ``held_grad_widths``) for ``held_grad_accum_bytes`` and ``fsdp_copy_in_bytes``."""
    w_b, g_b = model_state_bytes_per_param(t, stack=fw)[:2]
    g_b = fsdp_reduce_bytes(fw, t.precision, g_b)  # FSDP's reduce dtype (accelerate's: the mixed precision, hfrs56)
    return fsdp1_param_bytes(t), g_b, held_grad_widths(fw, t, g_b, min(w_b, 2.0), bool(getattr(fw, "fsdp2_dp", False)),
                                                       ep_experts_unsharded(edps))


def held_grad_accum_bytes(fw, t: TrainingSpec, edps, m_micro) -> tuple:
    """(dense, expert) HBM bytes per parameter and micro-batch, averaged over a step's ``m_micro`` micro-batches, of
    adding each backward's gradient into the gradients the stack holds unsharded between micro-batches (memory
    ``_fsdp_held``, at ``held_grad_widths``): the backward writes the unsharded parameter's gradient at the job's
    compute width (``fsdp1_param_bytes``: FSDP's 16-bit ``param_dtype``, fp32 for fp32 training); where the held
    gradient is wider (FSDP2's fp32 reduce dtype) the first micro-batch casts it up (torch _fsdp_param.py
    ``to_accumulated_grad_if_needed``: ``unsharded_grad.to(self.reduce_dtype)``, read new + write acc) and each later
    one adds into it (``accumulate_unsharded_grad_if_needed``: ``unsharded_accumulated_grad += unsharded_param.grad``,
    ``grad_accum_bytes``); at the same width autograd's ``AccumulateGrad`` steals the first gradient and adds the
    later ones (FSDP1 under ``no_sync``, experts left out of FSDP: ``ep_experts_unsharded``)."""
    new, _, widths = _grad_widths(fw, t, edps)
    m = np.maximum(np.asarray(m_micro, dtype=np.float64), 1.0)

    def per_mb(acc):
        first = np.where(acc != new, new + acc, 0.0)
        return (first + (m - 1.0) * grad_accum_bytes(acc, new)) / m
    return tuple(per_mb(np.asarray(a, dtype=np.float64)) for a in widths)


def fsdp_copy_in_bytes(fw, t: TrainingSpec, edps, m_micro, held) -> tuple:
    """(dense, expert) HBM bytes per parameter and micro-batch, averaged over a step's ``m_micro`` micro-batches, that
    an FSDP stack's gradient reduce moves on the compute stream at ZeRO-2/3 (the caller gates on the stage), by the
    FSDP the stack runs:

    * FSDP2 (``Stack.fsdp2_dp``): the reduce-scatter copy-in -- torch _fsdp_collectives.py ``foreach_reduce`` copies
      every unsharded gradient of the unit into one reduce-scatter input of the reduce dtype
      (``foreach_reduce_scatter_copy_in``) on the compute stream, before ``reduce_scatter_stream.wait_stream
      (current_stream)``: read the gradient, write the reduce width. Where it syncs each micro-batch (``held`` False)
      the 16-bit gradient (``fsdp1_param_bytes``, FSDP's ``param_dtype``) every micro-batch; where it holds the
      gradients (``held``: ``held_grad_accum_bytes``) the held one, once a step.
    * FSDP1's flat parameter (memory ``fsdp1_layout``: the HF Trainer's ``fsdp_version`` 1, llm-foundry's Composer
      FSDP, ``fsdp``, metaseq's fairscale FSDP): the unit's gradient is assembled by autograd, not by FSDP -- the
      forward's parameters are views of the unsharded FlatParameter (torch 2.1-2.13 distributed/fsdp/_flat_param.py
      ``_get_unflat_views_unaligned``: ``torch.split(tensor, flat_param._numels)`` then ``.view(shape)``; fairscale
      flatten_params_wrapper.py ``get_param_views``: ``flat_param.split(self._param_numels)``), so the backward's
      ``SplitWithSizesBackward`` concatenates every parameter's gradient into the flat gradient (``aten.cat``) on the
      compute stream, every micro-batch, synced or under ``no_sync``: read and write the ``param_dtype`` width,
      2 + 2 B under a 16-bit ``MixedPrecision``. All the rest of FSDP1's reduce runs on its post-backward stream after
      ``_post_backward_stream.wait_stream(current_stream)`` (torch _runtime_utils.py ``_post_backward_hook`` /
      ``_reduce_grad``): the cast to ``reduce_dtype`` where it differs (Composer's ``DEFAULT`` preset: fp32), the
      ``_div_if_needed`` pre/post divides, the ``F.pad`` of ``_get_reduce_scatter_tensors`` (a flat gradient not a
      multiple of the world size), the cast of the shard to the parameter's fp32 (``_cast_grad_to_param_dtype``) and
      the ``_saved_grad_shard +=`` of a later micro-batch (1/N of the unit), overlapped with the next unit's backward:
      not priced. HYBRID_SHARD adds only the replica all-reduce on ``_all_reduce_stream``. Under ``no_sync`` the add
      into the held flat gradient is ``held_grad_accum_bytes``'s. Measured (tests/test_fsdp1_54.py: torch 2.13's FSDP1
      at world size 2, a fake process group in the tests and gloo on two processes as its script; FULL_SHARD and
      HYBRID_SHARD with fp32 ``reduce_dtype``, SHARD_GRAD_OP under ``no_sync`` with bf16): each unit's one bf16
      ``cat`` per backward outside the hook (and ``no_sync``'s ``add_``), every cast, divide and shard add inside it."""
    new, g_b, widths = _grad_widths(fw, t, edps)
    if fsdp1_layout(fw):  # False on every FSDP2 stack (fsdp2_dp, or accelerate's version 2)
        return (np.full(np.shape(edps), 2.0 * new),) * 2
    m = np.maximum(np.asarray(m_micro, dtype=np.float64), 1.0)
    return tuple(np.where(held, (np.asarray(a, dtype=np.float64) + g_b) / m, new + g_b) for a in widths)


def autocast_cast_bytes(m: ModelSpec, rc) -> tuple:
    """HBM bytes of AMP's weight casts in one micro-batch of the whole model (``Stack.autocasts``;
    ``stack_kernels.AUTOCAST_CAST_BYTES`` per element), as (forward, backward): the forward casts every
    autocast-eligible weight (``activations_hf.hf_param_cast_bytes``: the linear, router and expert
    weights and biases and the head, not the embeddings or norms); the backward casts their
    gradients back to fp32 and, under full recompute (``rc`` 2), each checkpointed block casts its
    weights again (the head outside the blocks is not recomputed)."""
    from planner.model.activations_hf import hf_param_cast_bytes

    elems = hf_param_cast_bytes(m) / 2.0
    blocks = elems - hf_param_cast_bytes(m, checkpointing=True) / 2.0
    return (AUTOCAST_CAST_BYTES * elems,
            AUTOCAST_CAST_BYTES * (elems + np.where(np.asarray(rc) == 2, blocks, 0.0)))


#: the math cuDNN runs a generic model's convolutions in, per training precision, where the part has it:
#: PyTorch lets cuDNN convolutions use TF32 tensor cores on fp32 tensors by default ("torch.backends.
#: cudnn.allow_tf32 ... This flag defaults to True", docs/source/notes/cuda.rst "TensorFloat-32 (TF32)
#: on Ampere devices", PyTorch 1.7 on; only ``cuda.matmul.allow_tf32`` turned False in 1.12), as
#: DeepLearningExamples' ResNet-50 README says of its A100 "TF32" column ("TF32 is supported in the
#: NVIDIA Ampere GPU architecture and is enabled by default").
CONV_MATH = {"fp32": "tf32"}


def eager_optimizer_host_s(m: ModelSpec, t: TrainingSpec, fw, eff) -> float:
    """Host seconds the step waits for an eager per-tensor optimizer (``Stack.optimizer_tensor_ops``
    launches per parameter tensor, ``eff.launch_s`` each: the ops are small, so the host's dispatch, not
    the GPU, sets their pace). Exposed only when the host has synchronised with the GPU before the
    optimizer runs: fp16 AMP's ``GradScaler.step`` reads the found-inf flags with ``.item()`` before it
    calls ``optimizer.step()`` (torch/cuda/amp/grad_scaler.py ``_maybe_opt_step``: ``if not sum(v.item()
    for v in optimizer_state["found_inf_per_device"].values())``), so the GPU idles while the host walks
    the tensors. Without the scaler (fp32 / TF32, or bf16) the launches queue behind the backward the
    GPU is still running and cost nothing."""
    if not fw.optimizer_tensor_ops or not m.param_tensors or t.precision != "fp16":
        return 0.0
    return fw.optimizer_tensor_ops * m.param_tensors * eff.launch_s


#: passes ``Stack.serial_grad_checks`` makes over the rank's gradients: the overflow check and the gradient norm
SERIAL_GRAD_PASSES = 2
#: fp32 bytes per element each pass adds to the 16-bit gradient's read: ``.float()`` writes a copy, the reduction
#: (``.sum()`` / ``.norm()``) reads it back
SERIAL_GRAD_CAST_BYTES = 4.0 + 4.0


def layer_param_tensors(m: ModelSpec) -> float:
    """Parameter tensors of one transformer layer as Megatron-style code builds it (legacy ParallelTransformerLayer,
    GPT-NeoX's): fused QKV, attention output, fc1 and fc2 each a weight plus a bias where the model has one
    (``qkv_bias`` / ``linear_bias``), and two norms, LayerNorm with weight and bias, RMSNorm a weight."""
    norm = 2.0 if m.norm == "layernorm" else 1.0
    return 4.0 + float(bool(m.qkv_bias)) + 3.0 * float(bool(m.linear_bias)) + 2.0 * norm


def end_param_tensors(m: ModelSpec) -> float:
    """The parameter tensors outside the layers: the word embedding, a learned position table, the final norm and an
    untied output layer."""
    return (1.0 + float(m.position == "learned") + (2.0 if m.norm == "layernorm" else 1.0)
            + float(not m.tied_embeddings))


def serial_grad_check_s(m: ModelSpec, fw, eff, hbm_bw: float, stage_params, stage_layers, grad_b: float):
    """Seconds the optimizer step of a ``Stack.serial_grad_checks`` stack spends in its two per-tensor walks over the
    rank's gradients (DeepSpeed 0.3-era ``FP16_DeepSpeedZeroOptimizer_Stage1.step``: ``CheckOverflow`` with
    ``float(x.float().sum())`` per tensor, then ``get_grad_norm`` with ``p.grad.data.float().norm(2).item()`` per
    tensor). Every pass covers the rank's whole stage (``stage_params``, before the ZeRO-1 partition: the step frees
    the other ranks' gradients only after the norm) and moves ``grad_b + SERIAL_GRAD_CAST_BYTES`` bytes per element
    at the HBM rate; every tensor ends in a host read that drains the queue, priced as the MoE dispatcher's sync
    (``moe.MOE_SYNC_OPS`` host ops at ``Efficiency.launch_s``: the copy's round trip and the next launch). Tensors:
    ``layer_param_tensors`` per layer on the fullest stage plus ``end_param_tensors`` (both ends counted on it, the
    upper bound ``stage_params`` also takes). Zero on other stacks and for non-transformer models."""
    if not getattr(fw, "serial_grad_checks", False) or not m.is_transformer:
        return 0.0
    tensors = stage_layers * layer_param_tensors(m) + end_param_tensors(m)
    passes = SERIAL_GRAD_PASSES
    bytes_ = passes * stage_params * (grad_b + SERIAL_GRAD_CAST_BYTES)
    return eff.memory_time(bytes_, hbm_bw=hbm_bw) + passes * tensors * moe_mech.MOE_SYNC_OPS * eff.launch_s


def nchw_transpose_bytes(m: ModelSpec, fw, conv_dtype: str, act_b: float) -> tuple[float, float]:
    """Bytes per sample (forward, backward) of the layout transposes cuDNN runs around each tensor-core
    convolution of an NCHW network. Tensor-core convolution kernels take NHWC; on NCHW tensors cuDNN
    transforms them ("The cuDNN library may use padding, folding, and NCHW-to-NHWC transformations to
    call the Tensor Core operations", cuDNN Developer Guide, Legacy API "Tensor Core operations: Data and
    Filter Formats"): the input to NHWC and the output back, each read once and written once ("the NCHW
    tensor must be transposed to NHWC before the convolution and transposed back to NCHW after",
    MosaicML Composer "Channels Last" method card, from NVIDIA's diagram). Forward: x in, y out; the
    backward's data gradient transposes dy in and dx out, its weight gradient x and dy in again:
    2 x (in + out) per GEMM pass, three passes. Channels-last networks (``Stack.channels_last``, the default; DLE's
    AMP recipes, ``memory_format: nhwc``) and CUDA-core math (fp32 on Volta) pay none."""
    if fw.channels_last or conv_dtype not in TENSOR_CORE_MATH or not m.conv_io_elems_per_sample:
        return 0.0, 0.0
    per_pass = 2.0 * m.conv_io_elems_per_sample * act_b
    return per_pass, 2.0 * per_pass


def _on_rows(mask, fn):
    """``np.where(mask, fn(rows), 0.0)`` over every row, with ``fn`` evaluated only on the rows where ``mask``
    holds (it takes their indices and returns their values): the same numbers, without the work on the rest."""
    n = len(mask)
    rows = np.flatnonzero(mask)
    if len(rows) == n:
        return np.broadcast_to(np.asarray(fn(slice(None)), dtype=np.float64), (n,)).copy()
    out = np.zeros(n)
    if len(rows):
        out[rows] = fn(rows)
    return out


#: what a hardware option holds that the layer model never reads (its names, prices and notes): options that differ
#: only there share a search's layer rows (``LayerMemo``; tests/test_step_time_batch.py flips each)
LAYER_FREE_HW = ("name", "instance", "price_ondemand", "price_spot", "vcpus_per_node", "notes", "network_note", "latency_note",
                 "reference", "max_gpus", "past_max_hint")
#: the stack options a search varies that the layer model never reads (offload, FSDP and ZeRO-3 switches: their
#: costs are the DP, ZeRO and offload terms outside it): a search's stack variants share its layer rows. Not
#: ``fused_cross_entropy`` (liger36: the loss pass it prices is the head's memory-bound work, inside the layer model)
#: nor ``cp_comm_type`` (cpcomm36: the CP exchange, cp_comm) nor ``moe_dispatcher`` (moedisp47: the EP exchange, the
#: router's kernels) nor ``moe_a2a_overlap`` (moedisp47b: the EP exchange it hides, layer_ops), searched yet read by
#: the layer model, nor ``fsdp_version`` (rec54: FSDP2's block-input cast of a LoRA base, finetune.gathered_by_fsdp2,
#: and a QLoRA base's gathered bytes, finetune.bnb_ignored_by_fsdp2, read it) nor ``loss_fn`` (rec57: NeMo AutoModel's
#: loss class, the head's loss pass and Cut Cross-Entropy's head GEMM re-run, layer_ops ``lm_head``) nor rec58's:
#: ``partition_activations`` (the recompute's TP all-gather, layer_ops ``partitioned_checkpoint_bytes``),
#: ``num_vocab_tiling`` (the head re-run, layer_ops ``lm_head``) and ``cpu_checkpointing`` (its host copies are
#: priced outside the layer model: kept in the key all the same, a narrower share of the memo, never a wrong one)
LAYER_FREE_STACK = tuple(f for f in SEARCHED if f not in ("fused_cross_entropy", "cp_comm_type", "moe_dispatcher",
                                                          "moe_a2a_overlap", "fsdp_version", "loss_fn",
                                                          "partition_activations", "cpu_checkpointing",
                                                          "num_vocab_tiling"))
#: the stack options a search varies that the DP terms (``_dp_terms`` and the stage split it takes) never read:
#: activation offload moves activations, which the gradient reduce, parameter gathers and optimizer step do not
#: touch (its PCIe contention is ``offload_contention``'s, outside them). Its variants share a search's DP rows.
#: Nor the MoE token dispatcher and the combined-1F1B all-to-all overlap (``LATER_OPTIONS``, moedisp47 / 47b): they
#: move the EP exchange inside the layer (moe.moe_layer, layer_ops.moe_block) and the dispatcher's buffers
#: (memory.moe_comm_buffers), not the DP collectives or the stage split (perf50b: no read of either field inside
#: ``_dp_terms`` or ``_split_at_dp_keys`` over the DeepSeek-V3 and Mixtral examples' searches, tests/test_perf50b.py),
#: so a search's dispatcher and overlap twins (recommend._try_dispatchers: 65 memory and 52 step-time calls on
#: DeepSeek-V3 since moeov52) share its DP rows.
DP_FREE_STACK = ("activation_offload", "activation_offload_layers", "moe_dispatcher", "moe_a2a_overlap")
#: the stack fields the layer model reads per layer key rather than from the stack (``stage_keys``): the MoE token
#: dispatcher (layout.Candidates ``dispatcher``: a search's dispatcher twins in one call) and the combined-1F1B
#: all-to-all overlap (``a2a_overlap``, moeov52: its overlap twins too), their resolved values in the memo's key, so
#: the memo's setting leaves them out
LAYER_KEY_STACK = ("moe_dispatcher", "moe_a2a_overlap")
#: the training fields a search varies that the DP terms never read: a Megatron-Core ``recompute_modules`` list
#: changes the activations and the recompute (the layer model), not the parameters, gradients or optimizer state
DP_FREE_TRAINING = ("recompute_modules",)


class LayerMemo:
    """A search's memo of the layer model: ``layer_terms``' rows by layer key, kept across the search's
    ``step_time`` calls. Its chunks, stack variants and instance types each call the layer model on a few hundred
    layer keys, most of them already met with the same inputs: it was about half of a call's ~10 ms fixed cost.

    A row's terms depend on what ``layer_terms`` reads -- the model, the training spec, the stack (resolved) and the
    hardware option, less the fields it never reads (``LAYER_FREE_HW``, ``LAYER_FREE_STACK``), the call's options and
    which layer set it is (the recipe's, the 16-bit one, the hybrid MTP block) -- and on the row's layer key (tp, cp,
    ep, mb, sp, rc, etp, the layer-SAC share), not on the other rows of the call (tests/test_step_time_batch.py holds
    each row to the bits it gets alone), so a row computed once serves every later call with the same setting. The
    inputs enter the key by value, each object's value taken once (the memo keeps the objects alive, so their ids
    stay theirs): a search does not change them. One memo per search (it grows with the distinct settings and keys:
    a few thousand rows of ~20 floats)."""

    def __init__(self):
        self._sets: dict[tuple, tuple[dict, dict]] = {}  # setting -> (layer key -> position, term -> values)
        self._values: dict[tuple, tuple[object, object]] = {}  # (id, free) -> (the object, its value in keys)

    def value(self, x, free: tuple[str, ...] = ()):
        """``x`` as a hashable value, its fields ``free`` left out (taken once per object and ``free``: the DP terms
        read the hardware's whole value and the stack less ``DP_FREE_STACK``, the layer model less those fields)"""
        got = self._values.get((id(x), free))
        if got is None:
            got = self._values[(id(x), free)] = (x, _frozen(x, free))
        return got[1]

    def rows(self, setting: tuple, keys: tuple, compute) -> dict:
        """The terms at the layer keys ``keys`` (columns of distinct rows) under ``setting`` (hashable);
        ``compute(idx)`` gives those of the rows ``idx`` of ``keys``, called only for the rows not yet held."""
        index, terms = self._sets.setdefault(setting, ({}, {}))
        rows = list(zip(*(np.asarray(k).tolist() for k in keys)))
        # the lookups in C (map over ``index.get`` with its default): a generator's frame per key row was a third
        # of this method's time (speed57)
        at = np.fromiter(map(index.get, rows, repeat(-1, len(rows))), dtype=np.intp, count=len(rows))
        new = np.flatnonzero(at < 0)
        if len(new) or not terms:  # (a setting first met on no rows: computed on none, for its terms' names; it
            # returned no term at all, and its caller's got["per_layer"] raised KeyError on an empty batch, fuzz42)
            got = compute(new)
            held = len(next(iter(terms.values()))) if terms else 0
            for k, v in got.items():  # (a term that is one number for every row is stored per row)
                v = np.broadcast_to(v, (len(new),))
                terms[k] = np.concatenate((terms[k], v)) if k in terms else v.copy()
            for j, i in enumerate(new.tolist()):
                index[rows[i]] = held + j
            at[new] = held + np.arange(len(new))
        return {k: v[at] for k, v in terms.items()}


def _frozen(x, free: tuple[str, ...] = ()):
    """A hashable value of ``x`` (spec models, dataclasses, dicts, lists, numbers), the fields ``free`` left out."""
    if hasattr(x, "model_dump"):
        x = x.model_dump()
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__,) + tuple((f.name, _frozen(getattr(x, f.name))) for f in dataclasses.fields(x)
                                           if f.name not in free)
    if isinstance(x, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in x.items() if k not in free))
    if isinstance(x, (list, tuple, set, frozenset)):
        items = tuple(_frozen(v) for v in x)
        return tuple(sorted(items, key=repr)) if isinstance(x, (set, frozenset)) else items
    if isinstance(x, np.ndarray):
        return ("ndarray", x.dtype.str, x.shape, x.tobytes())
    try:
        hash(x)
    except TypeError:  # anything else unhashable: by identity (the memo keeps the object that holds it alive)
        return ("id", id(x))
    return x


def _candidate_flops(m: ModelSpec, t: TrainingSpec, fw: Stack, c: Candidates, mb, span,
                     causal_kernels: bool, row_span: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(model, hardware) FLOPs of one step of each candidate, the MFU and HFU numerators (finetune.training_step_flops):
    the hardware count with what the candidate's recompute re-runs. ``mb``: the micro-batches as floats, ``span``: the
    attention's keys per query (flops.attention_span)."""
    seq, gb, n = float(t.seq_len), float(t.global_batch), len(c)
    # (initial: no row, no row beyond the span; np.max of an empty batch raised on the HF stacks, fuzz42)
    if row_span and float(np.max(cp_attention_span(t, fw, c.cp), initial=float(span))) > float(span):
        # the rows whose context parallelism drops the per-example masks (flops.cp_attention_span) run the whole row's
        # attention: their hardware FLOPs (HFU) count it; the model FLOPs (MFU) stay the per-example work the job needs
        model_flops, hw_flops = _candidate_flops(m, t, fw, c, mb, span, causal_kernels, row_span=False)
        _, hw_row = _candidate_flops(m, t, fw, c, mb, seq, causal_kernels, row_span=False)
        return model_flops, np.where(np.asarray(c.cp) > 1, hw_row, hw_flops)
    # HFU's selective recompute re-runs what the step timed: the stack's policy (Megatron-Core's module list,
    # torchtitan's per-op SAC: flops.SELECTIVE_RECOMPUTE). Until 2026-12-03 per-op SAC was counted as the attention
    # core (which it saves) instead of every second mm and the MoE experts it re-runs
    kw = selective_kw(fw, t, m)
    # the layers rebuilt whole and their share (Megatron's block method, torchtitan layer SAC's every n-th layer:
    # pipeline.rebuilt_layers, the recomputed_fraction the step timed). Until 2026-12-03 layer SAC's rebuilt
    # layers were left out of HFU (counted as the attention-core recompute)
    rc_hw, f_rc = rebuilt_layers(c.rc, c.rn, m.layers or 1, c.pp,
                                 np.where(split_vpp(c) == V_SPLIT, V_SPLIT, c.chunks),
                                 fw.layer_sac_every if m.is_transformer else 0,
                                 split_runtime(fw, m) if m.is_transformer and m.layers else None)
    if frozen_base(m, t):  # peft's per-call delta FLOPs: once per micro-batch of the candidate's size
        fl = training_step_flops(m, t, seq, gb, rc_hw, fused_attention(fw, m, t), micro_batch=mb, attn_span=span, **kw,
                                 causal_kernel=causal_kernels, full_fraction=f_rc)
        return tuple(np.broadcast_to(fl[k], (n,)) for k in ("model", "hardware"))
    fl = training_step_flops(m, t, seq, gb, np.arange(3), fused_attention(fw, m, t), attn_span=span,
                             causal_kernel=causal_kernels, **kw)  # per recompute code
    model_flops, hw_flops = (np.broadcast_to(fl[k], (3,))[rc_hw] for k in ("model", "hardware"))
    if np.any(f_rc[rc_hw == 2] < 1.0):  # step_flops' full-recompute term is linear in full_fraction
        hw_none, hw_full = np.broadcast_to(fl["hardware"], (3,))[[0, 2]]
        hw_flops = np.where(rc_hw == 2, hw_none + f_rc * (hw_full - hw_none), hw_flops)
    return model_flops, hw_flops


@dataclasses.dataclass(frozen=True, slots=True)
class StepInputs:
    """What every stage of ``step_time`` reads beside the specs: the resolved stack (``from_training``: the call's
    ``framework`` overrides training.framework, default defaults.FRAMEWORK) and its DP overlap, the hardware's rates,
    the activation byte width, the candidates' degrees as floats and their micro-batches per step
    (m = global_batch / (micro_batch * dp), Narayanan et al. 2021 §2.2)"""
    fw: Stack
    overlap_grad_reduce: bool
    #: per candidate, whether its optimizer wrapper reduces during the backward at all (``reduce_in_backward``)
    reduces_in_backward: np.ndarray
    #: per candidate, whether its ZeRO-3 collectives run on the compute stream (``z3_on_compute_stream``)
    z3_serial: np.ndarray
    eff: Efficiency  # the hardware option's rates
    peak: float  # MFU's denominator (datasheet)
    act_b: float
    n: int
    pp: np.ndarray
    dp: np.ndarray
    mb: np.ndarray
    g: float  # GPUs per node
    gb: float
    m_micro: np.ndarray
    seq: float
    span: object  # the attention's keys per query (flops.attention_span)


def step_inputs(t: TrainingSpec, c: Candidates, hw: HardwareOption, overlap_grad_reduce: bool | None,
                framework, m: ModelSpec | None = None) -> StepInputs:
    """The call's ``StepInputs``: ``overlap_grad_reduce`` None takes the stack's (Stack.overlap_grad_reduce)."""
    fw = from_training(t, framework, m)  # ``framework`` overrides training.framework (default: defaults.FRAMEWORK)
    if overlap_grad_reduce is None:
        overlap_grad_reduce = fw.overlap_grad_reduce
    mb = c.mb.astype(np.float64)
    dp = c.dp.astype(np.float64)
    gb = float(t.global_batch)
    return StepInputs(
        fw=fw, overlap_grad_reduce=overlap_grad_reduce, reduces_in_backward=reduce_in_backward(fw, c),
        z3_serial=z3_on_compute_stream(fw, c, bool(overlap_grad_reduce)), eff=hw.eff,
        # MFU's denominator (datasheet) at the base's math (fp32 training over a bf16 frozen base: its bf16 peak)
        peak=base_math_peak(hw.gpu, t),
        act_b=ACT_BYTES[t.precision], n=len(c),
        pp=c.pp.astype(np.float64), dp=dp, mb=mb, g=float(hw.gpus_per_node), gb=gb, m_micro=gb / (mb * dp),
        seq=float(t.seq_len),
        span=attention_span(t, fw.doc_masking))  # the attention's keys per query (packed examples)


@dataclasses.dataclass(frozen=True, slots=True)
class StageTimes:
    """The slowest stage's per-micro-batch times at the candidates (``transformer_stage``, ``generic_stage``):
    forward and backward with the pipeline sends, the sends themselves (``t_pp``: both ways, what the stage times
    hold of them; ``t_send``: one send on the pipeline's link; ``hop_in`` / ``hop_out``: one send on NVLink / through
    the NIC, for the warm-up / cool-down path), the breakdown terms per
    micro-batch, the stage's layers and MFU's denominator (the datasheet peak of the math the step runs in)."""
    t_fwd_mb: np.ndarray
    t_bwd_mb: np.ndarray
    t_pp: np.ndarray
    hop_in: np.ndarray
    hop_out: np.ndarray
    t_send: np.ndarray
    per_mb: dict
    layers_max: np.ndarray
    peak: float
    #: what the bubble's pp - 1 pacing-stage times overstate the fill and drain by (``fill_excess``: the LM head's
    #: last stage paces, the other stages fill); 0 for a model on one stage kind (generic_stage)
    fill_excess: np.ndarray | float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class StageKeys:
    """The candidates' distinct stage keys and, under them, their distinct layer keys (``stage_keys``).

    The stage key is the layer key (tp, cp, ep, mb, sp, rc, etp, and the EP groups' placement on the NVLink
    domains, which the job's size sets: comm ``ep_domain_members``) with pp, the model chunks per stage (the pipeline
    sends; with 16-bit end layers also the stages that hold them, pipeline.lp16_layers), whether the schedule
    interleaves and whether the sends cross nodes; the layer model runs once per distinct layer key (it does not
    depend on the others)."""
    first16: int  # --num-layers-at-start/end-in-bf16 (lp16_counts)
    n16: int
    inv: np.ndarray  # each candidate's stage key
    stp: np.ndarray
    scp: np.ndarray
    smb: np.ndarray
    ssp: np.ndarray
    src: np.ndarray
    kpp: np.ndarray
    kch: np.ndarray
    kv: np.ndarray  # DualPipeV's rows: the two chunks a V (pipeline.stage_ranks)
    inter: np.ndarray
    pp_inter: np.ndarray
    #: the PP group's rank stride, up to the node's GPUs (g: stages on different nodes; on a switched node 1 for
    #: any stride inside it: ``stage_keys``' ``mesh``)
    pp_stride: np.ndarray
    srn: np.ndarray
    linv: np.ndarray  # each stage key's layer key
    ktp: np.ndarray
    kcp: np.ndarray
    kep: np.ndarray
    kmb: np.ndarray
    ksp: np.ndarray
    krc: np.ndarray
    ketp: np.ndarray
    ksh: np.ndarray  # torchtitan layer SAC's share of the stage's layers re-run
    #: the combined-1F1B schedule's paired share of micro-batches (``a2a_hidden_share``) at the stage keys: each
    #: pipeline rank's share of its EP all-to-all hidden, which ``pacing_stage`` weighs rank by rank
    shide: "A2AShare"
    #: the EP groups' (fewest, most, domains) on one NVLink domain at the job's size (comm ``ep_domain_members``),
    #: then the expert-TP groups' (``LayerContext.ep_dom``)
    kdom: tuple = ()
    #: whether the residual stream is fp32 at each layer key (``Stack.fp32_stream`` by the ZeRO stage, hffsdp47)
    kfs: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: the MoE token dispatcher at each layer key (``vocab.MOE_DISPATCHER`` code; ``LayerContext.disp``)
    kdisp: np.ndarray | None = None
    #: whether each layer key runs the combined-1F1B all-to-all overlap (``LayerContext.a2a_ov``; layout.Candidates
    #: ``overlap_flags``)
    kov: np.ndarray | None = None

    def up(self, terms):
        """layer-key terms at the stage keys"""
        return {k: (v[self.linv] if np.ndim(v) else v) for k, v in terms.items()}


def stage_keys(m: ModelSpec, t: TrainingSpec, c: Candidates, fw: Stack, g: float, hide=None,
               mesh: bool = False) -> StageKeys:
    """The distinct stage and layer keys of the candidates ``c`` (``distinct_rows``): per-stage terms once per
    distinct stage key, gathered back. ``hide``: each row's paired share of the EP all-to-all (``A2AShare``, from
    ``a2a_hidden_share``; None: none), part of the stage key, not of the layer key. ``mesh``: the node's GPUs are
    joined point to point (planner.hardware.nvlink), where the PP group's stride inside a node sets its sends' links
    (``pp_stride``); on a switch every stride inside the node prices alike, one key."""
    first16, n16 = lp16_counts(fw, m, t.precision)  # --num-layers-at-start/end-in-bf16
    inter_r = c.schedule == SCHEDULE.code["interleaved"]
    # where the EP groups sit on the NVLink domains depends on the job's size (a group past the first domain's
    # end straddles it): priced at the layer keys (moe.ep_link_bytes); so do the expert-TP groups, etp consecutive
    # ranks (moe.etp_gather_time); every job of a dense model alike
    if m.moe is not None:  # (on the distinct (ep, etp, job size): its arrays are a few dozen wide per row)
        (uep, uetp, uworld), winv = distinct_rows(c.ep, c.etp, c.tp * c.cp * c.dp * c.pp)
        dom = tuple(x[winv] for x in ep_domain_members(uep, uetp, uworld, int(g))
                    + ep_domain_members(uetp, 1, uworld, int(g)))
    else:
        dom = tuple(np.ones(len(c), dtype=np.int64) for _ in range(6))
    hides, hcode = A2AShare.distinct(hide, len(c))
    # the residual stream's dtype by the ZeRO stage (Stack.fp32_stream: fp32 under autocast over fp32 weights, bf16
    # where FSDP gathers them in bf16), a layer key
    fs = np.broadcast_to(fw.fp32_stream(t, c.zero), np.shape(c.zero)).astype(np.int64)
    # the PP group's stride (Megatron's rank order: pp outermost, tp x cp x dp apart), up to the node: g where its
    # stages sit on different nodes
    gi = int(g)
    pp_s = np.minimum(c.tp * c.cp * c.dp, gi).astype(np.int64)
    # the MoE token dispatcher each row runs (layout.Candidates ``dispatcher``, -1: the stack's), a layer key: a
    # search's dispatcher twins share one call (moe.per_dispatcher prices each key's)
    disp = c.dispatcher_codes(fw.moe_dispatcher)
    # and the combined-1F1B overlap each row runs (layout.Candidates ``a2a_overlap``), a layer key: its overlap twins
    # likewise (layer_ops.moe_block hides each key's all-to-all)
    ov = np.broadcast_to(np.asarray(c.overlap_flags(fw.moe_a2a_overlap), dtype=np.int64) * (m.moe is not None),
                         np.shape(c.tp))
    skeys, inv = distinct_rows(
        c.tp, c.cp, c.ep, c.mb, c.sp, c.rc, c.pp, c.etp, c.chunks, split_vpp(c) == V_SPLIT, inter_r,
        pp_s if mesh else np.where(pp_s >= gi, gi, 1), c.rn, fs, hcode.ravel(), disp, ov, *dom)
    stp, scp, sep, smb, ssp, src, kpp, setp, kch, kv, inter, pp_s, srn, sfs, shc, sdisp, sov, *sdom = skeys
    pp_inter = pp_s >= gi
    inter, ssp, kv = inter.astype(bool), ssp.astype(bool), kv.astype(bool)
    # torchtitan layer SAC: the share of a stage's layers it re-runs (pipeline.recomputed_fraction), a layer key
    every = fw.layer_sac_every
    shares, ssh = np.unique(recomputed_fraction(src, 0, m.layers, kpp, kch, every) * (src == 1) if every
                            else np.zeros(1), return_inverse=True)  # (distinct_rows keys integer columns)
    (ktp, kcp, kep, kmb, ksp, krc, ketp, ksh, kfs, kdisp, kov, *kdom), linv = distinct_rows(
        stp, scp, sep, smb, ssp, src, setp, np.broadcast_to(ssh.ravel(), src.shape), sfs, sdisp, sov, *sdom)
    ksh = shares[ksh]
    return StageKeys(first16=first16, n16=n16, inv=inv, stp=stp, scp=scp, smb=smb, ssp=ssp, src=src, kpp=kpp,
                     kch=kch, kv=kv, inter=inter, pp_inter=pp_inter, pp_stride=pp_s, srn=srn, linv=linv, ktp=ktp, kcp=kcp, kep=kep,
                     kmb=kmb, ksp=ksp.astype(bool), krc=krc, ketp=ketp, ksh=ksh, shide=hides.take(shc), kdom=tuple(kdom),
                     kfs=kfs.astype(bool), kdisp=kdisp, kov=kov.astype(bool))


@dataclasses.dataclass(frozen=True, slots=True)
class LayerRows:
    """The layer model at the stage keys (``layer_rows``): ``L`` the recipe's layer (blended with partial full
    recompute), ``D`` each kept 16-bit kind's terms beyond it and ``t16`` their pass times, ``kept`` the kinds
    (kept_layer_kinds), ``K`` the MTP modules, ``KL`` the mean layers their layers are (K; 0 where ``mtp``),
    ``mtp`` one MTP depth's block terms where it is not the mean layer (``mtp_layer_block``; None), ``K16`` the
    16-bit MTP layers, ``t_head`` the last stage's head, MTP layers and projections per micro-batch."""
    L: dict
    D: dict
    t16: dict
    kept: dict
    K: float
    KL: float
    K16: float
    t_head: np.ndarray
    frac: np.ndarray | None = None  # the re-run share the layer terms are blended at
    # block recompute's (rows it mixes, the mean layer's terms plain, at full recompute), which ``pacing_stage``
    # weighs rank by rank; None: no such row
    block: tuple | None = None
    mtp: dict | None = None
    #: a model of mixed layers (``layer_kinds``): {kind: (1 at each global layer of the kind, one such layer's
    #: terms)}, which ``pacing_stage`` prices each rank's layers by; {} where every layer is the mean layer
    mix: dict = dataclasses.field(default_factory=dict)

    def head_hide(self):
        """the EP all-to-all the combined-1F1B overlap hides of the last stage's MTP layers, per paired micro-batch,
        as ``t_head`` counts them (``ep_hide``: mean layers, 16-bit mean layers, blocks priced apart)"""
        kept = self.K16 * self.D[None]["ep_hide"] if self.K16 else 0.0
        own = 0.0 if self.mtp is None else self.K * self.mtp["ep_hide"]
        return self.KL * self.L["ep_hide"] + kept + own


def per_cp_type(fw: Stack, m: ModelSpec, terms) -> dict:
    """Layer terms under a per-layer ``--cp-comm-type`` (stacks.cp_comm_mix): ``terms(stack, type)`` for each type,
    the stack fixed to it, weighted by its share of the layers -- the mean layer, as the dense and MoE layers make one
    (``moe_share``): every term is seconds a layer. One type (or a stack without the option): ``terms(fw, None)``."""
    mix = cp_comm_mix(fw, m)
    if len(mix) == 1 and isinstance(fw.cp_comm_type, tuple):
        # a hybrid's list whose attention layers all run one type (the Mamba / MoE layers' entries exchange
        # nothing): that type (QA 53: the stack kept its mixed list and cp_kind raised, an internal error)
        return terms(dataclasses.replace(fw, cp_comm_type=mix[0][0]), mix[0][0])
    if len(mix) <= 1:
        return terms(fw, None)
    parts = [(share, terms(dataclasses.replace(fw, cp_comm_type=kind), kind)) for kind, share in mix]
    return {k: sum(share * d[k] for share, d in parts) for k in parts[0][1]}


def layer_rows(m: ModelSpec, t: TrainingSpec, hw: HardwareOption, fw: Stack, sk: StageKeys, tp_comm_overlap: float,
               causal_kernels: bool, memo: LayerMemo | None, frac=None) -> LayerRows:
    """``layer_terms`` at the layer keys ``sk``, through the search's ``memo`` where there is one, gathered to the
    stage keys; the kept 16-bit layers (Stack.lp_bf16_layers, pipeline.lp16_layers) and the MTP modules
    (ModelSpec.mtp_layers) priced apart. ``frac``: block recompute's re-run share of the pacing rank's layers
    (``pacing_stage``'s, chunk by chunk), else the fullest chunk's (pipeline.recomputed_fraction)."""
    ktp, kcp, kep, kmb, ksp, krc, ketp, ksh, kfs, kdisp, kov, kdom, up = (
        sk.ktp, sk.kcp, sk.kep, sk.kmb, sk.ksp, sk.krc, sk.ketp, sk.ksh, sk.kfs, sk.kdisp, sk.kov, sk.kdom, sk.up)
    setting = (memo.value(m), memo.value(t), memo.value(hw, LAYER_FREE_HW),
               memo.value(fw, LAYER_FREE_STACK + LAYER_KEY_STACK), tp_comm_overlap, causal_kernels) if memo is not None else None

    def layer(rc, bf16_share=None, block=None):
        """``layer_terms`` at the layer keys with recompute codes ``rc`` (the model's layer, or ``block``: a
        block priced apart, (model, CUDA graph parts, its name in the memo) -- the hybrid model's MTP block, a
        kept 16-bit block of one kind), through the search's memo where there is one"""
        mdl, parts, name = (m, None, None) if block is None else block

        def one(f, kind):
            """the terms with every layer on stack ``f`` (``kind``: the CP type it fixes, part of the memo key)"""
            def run(r=slice(None)):
                return layer_terms(mdl, t, hw, f, ktp[r], kcp[r], kep[r], kmb[r], ksp[r], rc[r], tp_comm_overlap,
                                    causal_kernels, etp=ketp[r], bf16_share=bf16_share, graph_parts=parts,
                                    sel_share=ksh[r], ep_dom=tuple(x[r] for x in kdom), fp32_stream=kfs[r], disp=kdisp[r], a2a_ov=kov[r])
            if memo is None:
                return run()
            return memo.rows(setting + (name, bf16_share, kind), (ktp, kcp, kep, kmb, ksp, rc, ketp, ksh, kfs, kdisp, kov, *kdom), run)
        return per_cp_type(fw, m, one)

    L = layer(krc)
    K = KL = float(m.mtp_layers)  # the last stage's K MTP modules: K more layers, K more heads, K projections
    # a model of one layer kind's MTP layers are its mean layers, 16-bit with the MTP module (mtp_runs_16bit);
    # a hybrid's or a mixed MoE model's are blocks priced apart (mtp_layer_block)
    mtp16 = mtp_runs_16bit(fw, t.precision)
    own = mtp_layer_block(m, fw) if K else None
    K16 = K if mtp16 and own is None else 0.0
    # partial full recompute (Megatron --recompute-method block): the stage's recomputed share of layers at
    # the full-recompute terms, the rest at no recompute (``block_share``)
    frac, part = block_share(m, fw, sk, frac)
    krc0 = np.where(krc == 2, 0, krc)

    def blend(full, bf16_share=None, block=None, none=None):
        """``full`` (the layer terms at full recompute, stage keys) mixed with the same terms unrecomputed"""
        if not part.any():
            return full
        none = up(layer(krc0, bf16_share=bf16_share, block=block)) if none is None else none
        return {k: np.where(part, frac * v + (1.0 - frac) * none[k], v) for k, v in full.items()}

    full_L, none_L = up(L), (up(layer(krc0)) if part.any() else None)
    L = blend(full_L, none=none_L)
    # the layers the stack keeps 16-bit (Stack.lp_bf16_layers, lp_bf16_first_layers, lp_bf16_mtp), by kind: what
    # each kind's layer costs beyond the recipe's (kept_layer_kinds: a hybrid's kept blocks priced as their kind)
    kept = kept_layer_kinds(m, sk.first16, sk.n16, K16, cuda_graph_parts(fw, m))
    kind_terms = (lambda s, b: blend(up(layer(krc, bf16_share=s, block=b)), s, b))  # noqa: E731 (one block's)
    D = {kind: kept_layer_terms(kind_terms, L, kk.block) for kind, kk in kept.items()}
    t16 = {kind: d["fwd"] + d["bwd"] for kind, d in D.items()}
    # a mixed model's kinds, each its own layer: a pipeline rank is priced by the kinds it holds (pacing_stage)
    mix = {kind: (kk.layers, kind_terms(0.0, kk.block)) for kind, kk in layer_kinds(m, cuda_graph_parts(fw, m)).items()}
    mtp = None
    if own is not None:  # the MTP block is not the mean layer: its own terms, term by term (PacingStage.layers)
        blk = up(layer(krc, bf16_share=1.0 if mtp16 else 0.0, block=(own[0], own[2], own[3])))
        mtp, KL = {k: own[1] * v for k, v in blk.items()}, 0.0
    t_head = ((1 + K) * (L["head_fwd"] + L["head_bwd"]) + KL * (L["fwd"] + L["bwd"]) + K16 * t16.get(None, 0.0)
              + K * (L["mtp_fwd"] + L["mtp_bwd"]) + (0.0 if mtp is None else K * (mtp["fwd"] + mtp["bwd"])))
    return LayerRows(L=L, D=D, t16=t16, kept=kept, K=K, KL=KL, K16=K16, t_head=t_head, frac=frac, mtp=mtp, mix=mix,
                     block=None if none_L is None else (part, none_L, full_L))


#: the CUDA graph parts a hybrid model's "*E" MTP block can hold (attention and MoE, no Mamba)
MTP_HYBRID_GRAPH_PARTS = frozenset({"attn", "moe", "moe_router", "moe_preprocess", "full_iteration"})


def mtp_layer_block(m: ModelSpec, fw: Stack) -> tuple | None:
    """(block model, its layers, the stack's CUDA graph parts it holds, its name in the search's memo) of one MTP depth
    where it is not the model's mean layer, priced apart on the last pipeline stage (``layer_rows``, ``pacing_stage``);
    None where it is (every layer of one kind). A hybrid model's MTP block is "*E" (an attention layer and an MoE layer: ssm ``mtp_block_model``,
    schema ModelSpec.mtp_layers). A plain MoE model with dense layers (DeepSeek-V3's first three) builds its MTP
    layer from the last decoder layer's spec (Megatron-Core gpt_layer_specs.py ``get_gpt_mtp_block_spec_for_backend``:
    ``transformer_layer_spec = spec.layer_specs[-1]``, "get the spec for the last layer of decoder block"; NVIDIA/
    Megatron-LM 00611e6), an MoE layer on every such model, as its parameters (spec.params ``mtp_params``), FLOPs
    and activations (memory ``kinds["moe"]``) already count it: ``kind_block_model(m, "E")``. Until ep41 that layer
    was the mean layer, 3 dense : 58 MoE on DeepSeek-V3 -- its all-to-all and routed experts priced at 58 / 61."""
    if m.hybrid:
        return ssm.mtp_block_model(m), 2.0, cuda_graph_parts(fw, m) & MTP_HYBRID_GRAPH_PARTS, "mtp"
    if m.moe is not None and 0 < m.moe_layers < m.layers:
        # the "E" kind's block with the same graph parts (``layer_kinds``), so its memo name: the layer model runs
        # once for both (speed43: DeepSeek-V3's search ran it 96 more times on the same rows under the name "mtp")
        return moe_mech.kind_block_model(m, "E"), 1.0, cuda_graph_parts(fw, m), kind_memo_name("E")
    return None


def block_share(m: ModelSpec, fw: Stack, sk: StageKeys, frac=None):
    """(share, part) at the stage keys: block recompute's re-run share of a stage's layers (``frac`` where given,
    ``pacing_stage``'s chunk by chunk, else the fullest chunk's, pipeline.recomputed_fraction) and the rows it mixes
    (``part``: some chunk of the launched split holds more than N layers; an explicit layout's chunk can exceed the
    fullest share, pipeline.fullest_chunk)."""
    src, srn = sk.src, sk.srn
    frac0 = recomputed_fraction(src, srn, m.layers, sk.kpp, sk.kch)
    part = (src == 2) & (frac0 < 1.0)
    if ((src == 2) & (srn > 0) & ~part).any():
        part = (src == 2) & (srn > 0) & (srn < fullest_chunk(m.layers, sk.kpp, np.where(sk.kv, V_SPLIT, sk.kch),
                                                               split_runtime(fw, m)))
    return (frac0 if frac is None else np.where(part, frac, frac0)), part


@dataclasses.dataclass(frozen=True, slots=True)
class PacingStage:
    """The pipeline stage that paces the step, at the stage keys (``pacing_stage``): ``nl`` its layers, ``nle``
    them with the MTP layers as mean layers, ``heads`` / ``proj`` its LM heads and MTP projections, ``nb`` how many
    of its layers are 16-bit, by kind; ``lr`` the layer rows they count."""
    nl: np.ndarray
    nle: np.ndarray
    heads: np.ndarray
    proj: np.ndarray
    nb: dict
    lr: LayerRows
    frac: np.ndarray | None = None  # block recompute's re-run share of its layers (``rank_recomputed`` / nl)
    #: a mixed model's layers of each kind beyond the model's mix (``rank_mix``; {} where all are alike)
    mix: dict = dataclasses.field(default_factory=dict)
    share: np.ndarray | float = 0.0  # its paired share of the EP all-to-all (``A2AShare.at`` its rank)
    excess: np.ndarray | float = 0.0  # its time over the other ranks', summed over them (``fill_excess``)

    def layers(self, k):
        """term ``k`` of the pacing stage's layers: ``nle`` at the recipe's, ``nb[kind]`` of them its kind's
        16-bit layer, the ``proj`` MTP depths' blocks where they are not mean layers (``LayerRows.mtp``), and a
        mixed model's layers of each kind beyond the mix at that kind's layer (``mix``, ``LayerRows.mix``)"""
        own = 0.0 if self.lr.mtp is None else self.proj * self.lr.mtp[k]
        own = sum((self.mix[kind] * d[k] for kind, (_, d) in self.lr.mix.items()), own)
        return self.nle * self.lr.L[k] + sum((self.nb[kind] * d[k] for kind, d in self.lr.D.items()), own)


def pacing_stage(m: ModelSpec, fw: Stack, sk: StageKeys, lr: LayerRows) -> PacingStage:
    """The pacing stage: its layers, whether it holds the head, and how many of its layers are 16-bit
    (``slowest_stage``: Megatron-Core's embedding/loss accounting, pipeline.lp16_layers), each rank at its exposed
    time: less what the combined-1F1B overlap hides of its own EP all-to-all (``ep_hide`` at the rank's own paired
    share, ``StageKeys.shide`` ``A2AShare.at``, as ``transformer_stage`` takes it off the pacing rank), and a mixed
    model's ranks by the layer kinds they hold (``pace_rank``, ``LayerRows.mix``). A rank with fewer MoE layers hides
    less (DeepSeek-V3's last rank on PP 16: 1 layer, the MTP layer and both heads): until 2026-12-05 (pace41) the
    rank was picked on the times before the overlap, until step42 (the same day) at the first rank's share and the
    model's mean layer."""
    def t(d):  # one pass of a layer's terms ``d``, forward and backward
        return d["fwd"] + d["bwd"]

    def h(d):  # the all-to-all it hides per paired micro-batch
        return d["ep_hide"]
    # block recompute: each rank at its plain layers plus the layers its chunks re-run, chunk by chunk
    # (pipeline.rank_recomputed), not every layer at the fullest chunk's share
    rec_kw = {} if lr.block is None else dict(rn=np.where(lr.block[0], sk.srn, 0))
    hid = bool(np.any(sk.shide.kind > 0))

    def times(f, head):  # the columns' times (``t``) or hidden all-to-all (``h``)
        lay = f(lr.L) if lr.block is None else np.where(lr.block[0], f(lr.block[1]), f(lr.L))
        rec = 0.0 if lr.block is None else np.where(lr.block[0], f(lr.block[2]) - f(lr.block[1]), 0.0)
        return RankTimes(lay, head, {kind: f(d) for kind, d in lr.D.items()}, rec,
                         {kind: f(d) for kind, (_, d) in lr.mix.items()})
    got = pace_rank(m.layers, sk.kpp.astype(np.float64), times(t, lr.t_head), np.where(sk.kv, V_SPLIT, sk.kch),
                    split_runtime(fw, m), sk.stp, sk.first16, sk.n16, {kind: kk.layers for kind, kk in lr.kept.items()},
                    mix={kind: w for kind, (w, _) in lr.mix.items()}, hide=sk.shide if hid else None,
                    th=times(h, lr.head_hide()) if hid else None, **rec_kw)
    nl, head_w, nb = got.nl, got.head, got.b16
    frac = None if lr.block is None else np.where(lr.block[0], got.rec / np.maximum(nl, 1.0), 1.0)
    if lr.K16:  # a plain model's 16-bit MTP layers, on the stage with the head
        nb[None] = nb[None] + lr.K16 * head_w
    nle, heads, proj = nl + lr.KL * head_w, (1 + lr.K) * head_w, lr.K * head_w  # layer / head / projection counts
    return PacingStage(nl=nl, nle=nle, heads=heads, proj=proj, nb=nb, lr=lr, frac=frac, mix=got.mix,
                       share=got.share, excess=got.excess)


def pipeline_sends(m: ModelSpec, hw: HardwareOption, s: StepInputs, sk: StageKeys):
    """(t_pp, hop_in, hop_out) at the stage keys: the pipeline sends of one micro-batch both ways, one send on
    NVLink (on a meshed node the stage pair's own links: comm ``group_intra_bw`` "p2p" at ``StageKeys.pp_stride``)
    and one through the NIC. One activation tensor per micro-batch each way between stages (Narayanan et al.
    2021 §2.2), split across the TP ranks under sequence parallelism or by the stack's scatter/gather
    (Stack.pp_scatter_gather)."""
    fw, eff, g, stp, ssp, pp_inter = s.fw, s.eff, s.g, sk.stp, sk.ssp, sk.pp_inter
    # pipeline sends: one activation tensor per micro-batch each way between stages
    # (split across the TP ranks under sequence parallelism, or by the stack's scatter/gather
    # optimisation, which all-gathers the pieces on NVLink after receipt: Stack.pp_scatter_gather)
    split = np.where(ssp | fw.pp_scatter_gather, stp, 1)
    full_bytes = (sk.smb.astype(np.float64) * (s.seq * m.hidden * s.act_b)) / sk.scp
    pp_bytes = full_bytes / split
    # a send between stages in one node on the links between the pair (comm.group_intra_bw's "p2p" shape: a mesh's
    # one or two links, a switch the GPU's rate)
    bw_in = group_intra_bw(hw, sk.kpp, sk.pp_stride, "p2p")
    bw = np.where(pp_inter, hw.inter_bw_per_gpu, bw_in)
    alpha = np.where(pp_inter, eff.inter_alpha_s, eff.intra_alpha_s)
    regather = collective_time("all_gather", full_bytes, stp, 1, g, group_intra_bw(hw, stp, 1), hw.inter_bw_per_gpu,
                               eff.intra_alpha_s, eff.inter_alpha_s)
    regather = np.where(fw.pp_scatter_gather & ~ssp, regather, 0.0)
    # each of a stage's v model chunks sends its activation on and its gradient back: the
    # interleaved schedule multiplies the stage-to-stage traffic by v (Narayanan et al. 2021
    # §2.2: "the amount of communication also increases by v")
    t_pp = np.where(sk.kpp > 1, 2 * sk.kch * (p2p_time(pp_bytes, bw, alpha) + regather), 0.0)
    # one send on NVLink and one through the NIC, for the warm-up / cool-down path below (``pp_fill``)
    hop_in = p2p_time(pp_bytes, bw_in, eff.intra_alpha_s) + regather
    hop_out = p2p_time(pp_bytes, hw.inter_bw_per_gpu, eff.inter_alpha_s) + regather
    return t_pp, hop_in, hop_out


@dataclasses.dataclass(frozen=True, slots=True)
class A2AShare:
    """Each row's share of micro-batches whose EP all-to-all the stack's overlap pairs with another's compute, rank
    by rank (``at``): ``kind`` 0 none, 1 Megatron-Core's combined 1F1B (moe.a2a_paired_share), 2 torchtitan's
    DualPipeV pairs (moe.dualpipev_paired_share), over the rows' ``pp``, ``vpp`` and micro-batch count ``mm``;
    ``group`` the stack's micro-batch group size (None: pp). A later rank warms up on fewer forwards and pairs more
    of them; until 2026-12-05 (step42) every rank was priced at the first rank's share."""
    kind: np.ndarray
    pp: np.ndarray
    vpp: np.ndarray
    mm: np.ndarray
    group: float | None = None

    def at(self, rank):
        """the share on pipeline rank ``rank`` (broadcast against the rows)"""
        meg = moe_mech.a2a_paired_share(self.pp, self.vpp, self.mm, self.group, rank)
        return np.where(self.kind == 1, meg, np.where(self.kind == 2, moe_mech.dualpipev_paired_share(
            self.pp, self.mm, rank), 0.0))

    def take(self, idx):
        """the shares at rows ``idx``"""
        return A2AShare(self.kind[idx], self.pp[idx], self.vpp[idx], self.mm[idx], self.group)

    @staticmethod
    def distinct(hide: "A2AShare | None", n: int):
        """(the distinct shares, each of the ``n`` rows' code among them): a part of the stage key"""
        if hide is None:
            z = np.zeros(1)
            return A2AShare(z.astype(np.int64), z + 1.0, z + 1.0, z + 1.0), np.zeros(n, dtype=np.int64)
        on = hide.kind > 0  # rows that hide nothing share one code whatever their pp and micro-batches
        mms, mcode = np.unique(np.where(on, hide.mm, 0.0), return_inverse=True)  # (a float column)
        (kind, pp, vpp, mc), code = distinct_rows(hide.kind, *(np.where(on, x, 0).astype(np.int64) for x in (hide.pp, hide.vpp)),
                                                  mcode.ravel())
        return A2AShare(kind, pp, vpp, mms[mc], hide.group), code


def a2a_hidden_share(m: ModelSpec, c: Candidates, s: StepInputs) -> A2AShare | None:
    """Each row's share of micro-batches whose EP all-to-all the stack's overlap pairs with another's compute, by
    pipeline rank (``A2AShare``): Megatron-Core's combined 1F1B (moe.a2a_paired_share), torchtitan's DualPipeV pairs
    with EP (moe.dualpipev_paired_share; get_dual_pipe_v_flag); None where the stack hides none (a dense model, no
    overlap)."""
    fw = s.fw
    ov = c.overlap_flags(fw.moe_a2a_overlap)  # each row's (layout.Candidates ``a2a_overlap``: a search's twins)
    if m.moe is None or not (np.any(ov) or fw.dualpipev_ep_overlap):
        return None
    n = len(c)
    if fw.dualpipev_ep_overlap:
        kind = np.where((c.schedule == SCHEDULE.code["dualpipev"]) & (c.ep > 1), 2, 0)
    else:  # (a row without it pairs none: kind 0, share 0)
        kind = np.broadcast_to(np.where(ov, 1, 0).astype(np.int64), (n,))
    grid = np.broadcast_arrays(kind, s.pp, c.vpp, s.m_micro)
    return A2AShare(*grid, group=getattr(fw, "microbatch_group_size", None))


def transformer_stage(m: ModelSpec, t: TrainingSpec, c: Candidates, hw: HardwareOption, s: StepInputs,
                      tp_comm_overlap: float, causal_kernels: bool, memo: LayerMemo | None) -> StageTimes:
    """A transformer's slowest stage per micro-batch: the layer model at the distinct layer keys (``layer_rows``),
    the pacing stage's layers and head (``pacing_stage``) and the pipeline sends (``pipeline_sends``) at the
    distinct stage keys, gathered to the candidates; Megatron-Core's overlapped interleaved sends and the
    combined-1F1B schedule's hidden EP all-to-all (moe.a2a_paired_share) taken off."""
    fw = s.fw
    sk = stage_keys(m, t, c, fw, s.g, a2a_hidden_share(m, c, s),
                    mesh=meshed(hw.nvlink_topology))
    st = pacing_stage(m, fw, sk, layer_rows(m, t, hw, fw, sk, tp_comm_overlap, causal_kernels, memo))
    if st.frac is not None:
        # the pacing rank's layer terms at the share its chunks re-run (Megatron-Core: each chunk its own first N,
        # transformer_block.py ``_checkpointed_forward``); layer_rows blended at the fullest chunk's share, which is
        # the same where every chunk of the rank holds as many layers
        frac0 = st.lr.frac
        if not np.array_equal(np.where(st.lr.block[0], st.frac, frac0), frac0):
            lr = layer_rows(m, t, hw, fw, sk, tp_comm_overlap, causal_kernels, memo, frac=st.frac)
            st = dataclasses.replace(st, lr=lr, nle=st.nl + lr.KL * (st.heads / (1 + lr.K)))
    L, heads, proj, stage_layers = st.lr.L, st.heads, st.proj, st.layers
    t_pp, hop_in, hop_out = pipeline_sends(m, hw, s, sk)
    t_fwd_mb = stage_layers("fwd") + heads * L["head_fwd"] + proj * L["mtp_fwd"]
    t_bwd_mb = stage_layers("bwd") + heads * L["head_bwd"] + proj * L["mtp_bwd"]
    # Megatron-Core's interleaved schedule issues the sends asynchronously and waits for each recv just before
    # the chunk that consumes it (``overlap_p2p_comm``): the steady state exposes a send only past a chunk's forward
    # (pipeline.overlapped_sends_exposed: pipeline_timing's list schedule in closed form)
    t_send = t_pp / np.maximum(2 * sk.kch, 1)  # one send on the pipeline's link
    if fw.overlap_p2p:
        t_pp = np.where(sk.inter, overlapped_sends_exposed(sk.kpp, sk.kch, t_fwd_mb, t_bwd_mb, t_send), t_pp)
    t_fwd_mb, t_bwd_mb = t_fwd_mb + 0.5 * t_pp, t_bwd_mb + 0.5 * t_pp
    per_mb = dict(
        compute_gemm=stage_layers("gemm") + heads * L["head_gemm"] + proj * (L["mtp_fwd"] + L["mtp_bwd"]),
        compute_attention=stage_layers("attn"),
        compute_memory_bound=stage_layers("membound") + heads * L["head_membound"],
        comm_tp=stage_layers("tp"), comm_cp=stage_layers("cp"), comm_ep=stage_layers("ep"),
    )
    ep_hide = stage_layers("ep_hide")
    # the stage keys' terms at the rows
    inv = sk.inv
    per_mb = {k: v[inv] for k, v in per_mb.items()}
    t_fwd_mb, t_bwd_mb, t_pp, layers_max = t_fwd_mb[inv], t_bwd_mb[inv], t_pp[inv], st.nl[inv]
    hop_in, hop_out, t_send = hop_in[inv], hop_out[inv], t_send[inv]
    # EP all-to-all hidden by the combined-1F1B schedule on the paired micro-batches (none to hide: the
    # terms stay as they are, as subtracting zeros would leave them)
    if np.any(ep_hide != 0):
        ep_hidden = (st.share * ep_hide)[inv]  # at the pacing rank's own share (A2AShare.at)
        t_fwd_mb, t_bwd_mb = t_fwd_mb - ep_hidden / 2, t_bwd_mb - ep_hidden / 2
        per_mb["comm_ep"] = per_mb["comm_ep"] - ep_hidden
    return StageTimes(t_fwd_mb=t_fwd_mb, t_bwd_mb=t_bwd_mb, t_pp=t_pp, hop_in=hop_in, hop_out=hop_out, t_send=t_send,
                      per_mb=per_mb, layers_max=layers_max, peak=s.peak, fill_excess=np.asarray(st.excess)[inv])


def generic_stage(m: ModelSpec, t: TrainingSpec, c: Candidates, hw: HardwareOption, s: StepInputs) -> StageTimes:
    """A generic model's (CNN) step per micro-batch, on one stage: convolutions at large-GEMM efficiency for their
    FLOPs, plus the activation traffic of the memory-bound layers (Ivanov et al. 2021)."""
    eff, mb, n = s.eff, s.mb, s.n
    # generic model (CNNs): convolutions at large-GEMM efficiency for their FLOPs, plus the
    # activation traffic of the memory-bound layers (batch-norm, ReLU, adds, pooling), which
    # FLOP counts leave out but which take a large share of the time (Ivanov et al. 2021,
    # "Data movement is all you need": tensor contractions are 99.8% of BERT's FLOPs but
    # 61% of its runtime). Each saved activation byte is written once and read about twice
    # by those layers in forward (3x), twice that in backward.
    fl = m.fwd_flops_per_sample * mb
    conv_dtype = CONV_MATH.get(t.precision, t.precision)
    if conv_dtype not in hw.gpu.peak_flops:  # a part without that math mode (V100, T4: no TF32)
        conv_dtype = t.precision
    peak = physics.datasheet_peak(hw.gpu, conv_dtype)  # MFU against the math the convolutions run in
    # CUDA-core math (fp32 on Volta) at the SIMT GEMM fraction of its own peak
    conv = fl / (physics.reachable_peak(hw, conv_dtype) * math_gemm_max(eff, conv_dtype) * eff.conv_rel)
    act = (m.activation_bytes_per_sample or 0.0) * s.act_b / 4.0 * mb
    tr_f, tr_b = nchw_transpose_bytes(m, s.fw, conv_dtype, s.act_b)
    t_fwd_mb = conv + eff.memory_time(3 * act + tr_f * mb, hw.gpu.hbm_bw)
    t_bwd_mb = (2 * (conv + eff.memory_time(3 * act, hw.gpu.hbm_bw)) + eff.memory_time(tr_b * mb, hw.gpu.hbm_bw)
                + np.where(c.rc == 2, t_fwd_mb, 0.0))
    comp_gemm_mb = 3 * conv + np.where(c.rc == 2, conv, 0.0)
    z = np.zeros(n)
    per_mb = dict(compute_gemm=comp_gemm_mb, compute_attention=z,
                  compute_memory_bound=t_fwd_mb + t_bwd_mb - comp_gemm_mb, comm_tp=z, comm_cp=z, comm_ep=z)
    return StageTimes(t_fwd_mb=t_fwd_mb, t_bwd_mb=t_bwd_mb, t_pp=z, hop_in=z, hop_out=z, t_send=z, per_mb=per_mb,
                      layers_max=np.ones(n), peak=peak)


@dataclasses.dataclass(frozen=True, slots=True)
class DpStep:
    """The DP / ZeRO terms at the distinct DP keys (``dp_step_terms``): ``D`` the ``_dp_terms`` columns and ``dinv``
    each candidate's key; per key ``dz`` the ZeRO stage timed (FSDP2's ZeRO-2 as ZeRO-3), ``raf`` reshard after
    forward, ``held`` a stage gathered once per step, ``defer_rs`` a reduce-scatter deferred to the step, ``rep_mb``
    HSDP's replica all-reduce per micro-batch, ``defer`` the stack's deferred FSDP sync, ``rs_last`` the reduce-scatter
    alone on the last micro-batch (Stack.defer_fsdp_grad_sync, the gathers per micro-batch); at the candidates the
    optimizer step ``t_opt``, the DP reduce ``t_dp`` and NCCL's SMs ``nccl_sms``."""
    D: dict
    dinv: np.ndarray
    dz: np.ndarray
    raf: np.ndarray
    held: np.ndarray
    defer: bool
    defer_rs: np.ndarray
    rep_mb: np.ndarray
    t_opt: np.ndarray
    t_dp: np.ndarray
    nccl_sms: np.ndarray
    rs_last: np.ndarray


def _split_at_dp_keys(m: ModelSpec, t: TrainingSpec, c: Candidates, fw, dinv, n_keys: int, r=slice(None)):
    """The stage split at ``c``'s DP keys ``r`` (``dinv`` each candidate's key, ``n_keys`` of them): memory
    ``key_stage_split``, found once per Candidates at the model-state key -- the same nine columns in memory's order, so
    each DP key's is the one its candidates' model-state key has."""
    at = np.empty(n_keys, dtype=np.intp)
    at[dinv] = c.distinct(*STATE_KEY)[1]
    return key_stage_split(m, t, fw, c).take(at[r])


def dp_step_terms(m: ModelSpec, t: TrainingSpec, c: Candidates, hw: HardwareOption, s: StepInputs,
                  dp_grad_bytes: float | None, memo: LayerMemo | None) -> DpStep:
    """``_dp_terms`` once per distinct (pp, tp, cp, dp, ep, zero, etp, dp_shard, vpp), through the search's memo,
    and when the stack syncs FSDP (torchtitan's apply_fsdp, torch.distributed.pipelining, AutoModel's deferred sync,
    HSDP's replica all-reduce)."""
    fw = s.fw
    # (memory.state_context's key in this order: kept on ``c``, ``Candidates.distinct``)
    (dpp, dtp, dcp, ddp, dep, dz, detp, ddsh, dvpp), dinv = c.distinct("pp", "tp", "cp", "dp", "ep", "zero", "etp",
                                                                       "dp_shard", "split_vpp")
    # a stack whose ZeRO-2 is FSDP2 without reshard after forward (Stack.fsdp2_dp: torchtitan, AutoModel) runs
    # its ZeRO-3 collectives with reshard_after_forward off: those rows are timed as that (``dz`` below, ``raf``)
    fsdp_z2 = (dz == 2) & bool(getattr(fw, "fsdp2_dp", False))
    dz = np.where(fsdp_z2, 3, dz)
    raf = np.where(fsdp_z2, False, bool(fw.reshard_after_forward))  # reshard after forward, per DP key
    dkeys = (dpp, dtp, dcp, ddp, dep, dz, ddsh, dvpp, detp)

    def dp_run(r=slice(None)):
        """``_dp_terms`` at the DP keys ``r``"""
        return _dp_terms(m, t, hw, tuple(k[r] for k in dkeys[:8]), dp_grad_bytes, fw, etp=detp[r],
                         split=_split_at_dp_keys(m, t, c, fw, dinv, len(dpp), r))
    # through the search's memo as the layer model: a DP key's terms depend on the model, the training spec less
    # its recompute list, the whole hardware option, the stack less activation offload (DP_FREE_TRAINING,
    # DP_FREE_STACK: a search's variants that differ only there share the rows; speed47b), and the key alone
    D = dp_run() if memo is None else memo.rows(
        ("step_time._dp_terms", memo.value(m), memo.value(t, DP_FREE_TRAINING), memo.value(hw),
         memo.value(fw, DP_FREE_STACK), dp_grad_bytes), dkeys,
        dp_run)
    t_opt = (D["t_opt"] + eager_optimizer_host_s(m, t, fw, s.eff))[dinv]
    # FSDP under pipeline parallelism on the stacks that keep the stage gathered (Stack.pp_fsdp_unsharded,
    # the state planner.model.memory counts): torchtitan's apply_fsdp does not reshard after forward "for
    # PP", and torch.distributed.pipelining (stage.py ``backward_maybe_with_nosync``) turns off reshard after
    # backward and gradient sync until the last backward. So the stage's weights are all-gathered once, in
    # the first forward, and its gradients reduce-scattered once, in the last backward -- per step, not per
    # micro-batch: the gather takes ZeRO-1/2's parameter-gather place below, the reduce-scatter the DP reduce's
    # AutoModel's deferred FSDP sync without PP (Stack.fsdp_defer_sync): the same once-per-step gather and
    # reduce-scatter where the weights are not resharded after forward; with reshard after forward
    # (``defer_rs``) one gather per micro-batch (the backward's) and the reduce-scatter once per step
    # Resharded after forward under PP (Stack.pp_reshard_after_forward: NeMo AutoModel's option passed through; torchtitan
    # keeps it off under PP) a stage of such a stack is gathered in every micro-batch's backward (pipelining skips the
    # reshard after backward, so the next forward finds it gathered) and reduce-scattered once: ``defer_rs``
    defer = bool(getattr(fw, "fsdp_defer_sync", False))
    pp_sync = (dpp > 1) & bool(fw.pp_fsdp_unsharded)
    raf = np.where(pp_sync & ~fsdp_z2, fw.raf_under_pp(True), raf)
    held = (dz >= 3) & (pp_sync | defer) & ~raf
    defer_rs = (dz >= 3) & ~held & (pp_sync | defer)
    # Without PP a stack whose loop turns the gradient sync off for all but the last micro-batch and leaves the
    # reshard alone (memory ``accumulates_unsharded``: NeMo AutoModel's ``get_sync_ctx(model, is_last)``, torch
    # FSDP1's ``no_sync`` under the HF Trainer, whose FULL_SHARD still gathers each micro-batch's forward and backward:
    # fsdp1_truth.json, 10 gathers in 2 micro-batches) reduce-scatters once per step and gathers per micro-batch as
    # before: ``rs_last``, per candidate (one micro-batch defers nothing)
    rs_last = (((dz >= 3) & ~held & ~defer_rs & (dpp == 1))[dinv] & (s.m_micro > 1) & accumulates_unsharded(fw))
    # HSDP's replica all-reduce (_dp_terms ``ar_rep``; 0 without HSDP): with the DP reduce once per step, or with
    # ZeRO-3's per-micro-batch reduce-scatters where the stack runs it so (Stack.hsdp_all_reduce_per_microbatch)
    rep_mb = (dz >= 3) & ~held & fw.hsdp_all_reduce_per_microbatch
    t_dp = (np.where(held | defer_rs, D["rs3"], D["t_dp"]) + np.where((dz >= 1) & ~rep_mb, D["ar_rep"], 0.0))[dinv]
    t_dp = t_dp + np.where(rs_last, D["rs3"][dinv], 0.0)  # (ZeRO-3's own D["t_dp"] is 0: its reduce is per micro-batch)
    nccl_sms = np.broadcast_to(D["sms"], np.shape(D["t_dp"]))[dinv]
    return DpStep(D=D, dinv=dinv, dz=dz, raf=raf, held=held, defer=defer, defer_rs=defer_rs, rep_mb=rep_mb,
                  t_opt=t_opt, t_dp=t_dp, nccl_sms=nccl_sms, rs_last=rs_last)


#: the ranks of a delayed-scaling amax reduction group (stack_kernels.AmaxReduction ``group``), placed consecutively (stride
#: 1): "stage" is Megatron's amax reduction group, the TP x CP x DP ranks of one pipeline stage (gpus / pp); "world"
#: torch.distributed's default group, every GPU of the job (an ``fp8_autocast`` with no ``fp8_group``)
AMAX_GROUP_RANKS = {"stage": lambda c: c.gpus / c.pp, "world": lambda c: c.gpus * 1.0}


def pass_amax_allreduces(t: TrainingSpec, c: Candidates, hw: HardwareOption, s: StepInputs):
    """Seconds a micro-batch's (forward, backward) waits on delayed scaling's amax all-reduces
    (stack_kernels.LowPrecisionRecipe ``pass_amax_allreduce``, on a stack whose ``Stack.te_amax_reduction`` names a
    ``stack_kernels.TE_AMAX_REDUCTIONS`` entry): TE's ``reduce_and_update_fp8_tensors`` all-reduces every module's amaxes in
    one blocking call where each outermost ``fp8_autocast`` exits and where the region's backward ends, per model chunk
    (``Candidates.chunks``): Megatron-Core's TransformerBlock is one region (amaxd45); Composer enters two a forward,
    the model's and the loss's, accelerate one (amaxd46); a fully recomputed forward adds none (``recompute_exits``).
    Its group (``AMAX_GROUP_RANKS``): Megatron's amax reduction group, the stage's TP x CP x DP ranks, or -- where the
    autocast gets no ``fp8_group`` -- the world group, priced at NCCL's LL latency over its span (comm
    ``small_allreduce_time``: the network's tree / ring hops where it crosses nodes, the PCI step where the part's GPUs
    talk over PCIe). The message, 3 amaxes a GEMM forward and 2 backward (4-byte each: ~50 B a dense layer, a few KB
    a stage), is priced by its latency alone, as amax45's 4-byte ones; the bytes' term and the one fused
    amax-and-scale update kernel after the call are not priced."""
    e = TE_AMAX_REDUCTIONS.get(getattr(s.fw, "te_amax_reduction", "") or "")
    if not (t.precision == "fp8" and s.fw.recipe.pass_amax_allreduce and e):
        return np.zeros(s.n), np.zeros(s.n)
    one = c.chunks * small_allreduce_time(AMAX_GROUP_RANKS[e.group](c), 1, s.g, nccl_link(hw))
    full = c.rc == RECOMPUTE.code["full"]
    rebuilt = np.where(full, e.recompute_exits, 0.0)
    # a backward built from a 16-bit re-run (torch's reentrant checkpoint over TE, hfckpt47) holds no fp8 module:
    # TE sets ``ctx.reduce_and_update_bwd_fp8_tensors`` only under ``ctx.fp8``
    bwd = np.where(full & (te_recompute_runs(s.fw, s.fw.fp8_recipe) == "16bit"), 0.0, e.bwd_reductions)
    return e.fwd_exits * one, (bwd + rebuilt) * one


def microbatch_extras(m: ModelSpec, t: TrainingSpec, c: Candidates, hw: HardwareOption, s: StepInputs,
                      st: StageTimes, dpt: DpStep) -> StageTimes:
    """``st`` with the per-micro-batch passes over the rank's parameters: unfused gradient accumulation
    (Stack.grad_accum_pass, ``grad_accum_pass``), AMP's weight casts (``autocast_cast_bytes``) and delayed scaling's
    amax all-reduce (``pass_amax_allreduces``, booked with TP's communication as amax45's SP amaxes are)."""
    fw, eff, D, dinv = s.fw, s.eff, dpt.D, dpt.dinv
    t_fwd_mb, t_bwd_mb, per_mb = st.t_fwd_mb, st.t_bwd_mb, dict(st.per_mb)
    amax_f, amax_b = pass_amax_allreduces(t, c, hw, s)
    t_fwd_mb, t_bwd_mb = t_fwd_mb + amax_f, t_bwd_mb + amax_b
    per_mb["comm_tp"] = per_mb["comm_tp"] + amax_f + amax_b
    # unfused gradient accumulation (Stack.grad_accum_pass): one elementwise pass over the stage's
    # parameters per micro-batch, in the backward; ZeRO-2/3 accumulate into their 1/dp partition
    # (not modelled)
    if fw.grad_accum_pass:
        z = np.clip(c.zero, 0, 3)
        per_b, stolen = grad_accum_pass(fw, t, m.hidden or 4096)
        per_b = per_b[z] * np.where(stolen[z], (s.m_micro - 1.0) / s.m_micro, 1.0)
        accum_mb = eff.memory_time(D["stage_p"][dinv] * per_b, hw.gpu.hbm_bw)
        t_bwd_mb = t_bwd_mb + accum_mb
        per_mb["compute_memory_bound"] = per_mb["compute_memory_bound"] + accum_mb

    # the gradients held unsharded between micro-batches (PP's held stage, AutoModel's deferred syncs, FSDP1's
    # no_sync; memory ``_fsdp_held``), and the experts FSDP2 leaves to EP alone, which keep autograd's ``.grad``
    # whatever the sync: each backward adds into them, a pass over the rank's unsharded stage (held_grad_accum_bytes);
    # and the reduce's copy on the compute stream (fsdp_copy_in_bytes): FSDP2's reduce-scatter copy-in, per micro-batch
    # where it syncs, once a step where the gradients are held; FSDP1's flat-gradient concatenation, every micro-batch
    if m.is_transformer and not frozen_base(m, t):
        fsdp2 = bool(getattr(fw, "fsdp2_dp", False)) & (c.zero >= 2)
        fsdp = (fsdp2 | fsdp1_layout(fw)) & (c.zero >= 2)  # the stages whose FSDP reduce copies (fsdp_copy_in_bytes)
        held_any = (dpt.held | dpt.defer_rs)[dinv] | dpt.rs_last
        held = held_any & (s.m_micro > 1)
        edps = D["edps"][dinv]
        out = ep_experts_unsharded(edps) & fsdp2 & params_16bit(fw, t)
        if held.any() or np.any(out & (s.m_micro > 1)) or np.any(fsdp):
            acc_d, acc_e = held_grad_accum_bytes(fw, t, edps, s.m_micro)
            cp_d, cp_e = fsdp_copy_in_bytes(fw, t, edps, s.m_micro, held_any)
            dense, exp = D["stage_p_dense"][dinv], D["stage_p_exp"][dinv]
            held_mb = eff.memory_time(np.where(held, dense * acc_d, 0.0)
                                      + np.where(held | (out & (s.m_micro > 1)), exp * acc_e, 0.0)
                                      + np.where(fsdp, dense * cp_d + np.where(out, 0.0, exp * cp_e), 0.0),
                                      hw.gpu.hbm_bw)
            t_bwd_mb = t_bwd_mb + held_mb
            per_mb["compute_memory_bound"] = per_mb["compute_memory_bound"] + held_mb

    # AMP's weight casts (autocast_cast_bytes) on the rank's share of the model; FSDP (ZeRO-3, an FSDP2
    # stack's ZeRO-2) hands the forward 16-bit parameters, so there is nothing to cast (Stack.autocast_finds_fp32)
    if m.is_transformer and fw.autocasts(t) and not frozen_base(m, t):
        share_rank = D["stage_p"][dinv] / count_params(m).total
        casts = fw.autocast_finds_fp32(c.zero)
        cast_f, cast_b = (np.where(casts, eff.memory_time(share_rank * x, hw.gpu.hbm_bw), 0.0)
                          for x in autocast_cast_bytes(m, c.rc))
        t_fwd_mb, t_bwd_mb = t_fwd_mb + cast_f, t_bwd_mb + cast_b
        per_mb["compute_memory_bound"] = per_mb["compute_memory_bound"] + cast_f + cast_b
    return dataclasses.replace(st, t_fwd_mb=t_fwd_mb, t_bwd_mb=t_bwd_mb, per_mb=per_mb)


def _hidden_cost(s: StepInputs, comm, exposed, nccl_sms):
    """The compute an overlapped DP collective's hidden part (``comm - exposed``) slows while
    NCCL holds its SMs (physics.nccl_overlap_slowdown)."""
    return physics.nccl_overlap_slowdown(np.maximum(comm - exposed, 0.0), s.eff.sm_count, nccl_sms)


@dataclasses.dataclass(frozen=True, slots=True)
class ZeroExposure:
    """ZeRO-3/FSDP's and ZeRO-2's exposed collectives per micro-batch at the candidates (``zero_exposure``), the
    ZeRO-3 rows per DP key (``z3``) and the DP buckets (``per_layer``: one per layer of the stage)."""
    z3: np.ndarray
    z3_exposed_mb: np.ndarray
    z2_exposed_mb: np.ndarray
    per_layer: np.ndarray
    #: the part of ``z3_exposed_mb`` DeepSpeed's parameter offload adds (its host-to-device fetches on the gathers'
    #: stream, ``param_fetch``): the breakdown shows it as ``offload``, not ``comm_zero3``; 0 without it
    fetch_exposed_mb: np.ndarray | float = 0.0


def offload_contention(m: ModelSpec, t: TrainingSpec, c: Candidates, hw: HardwareOption, s: StepInputs,
                       st: StageTimes, dpt: DpStep) -> np.ndarray:
    """Seconds per micro-batch the ZeRO-3 / FSDP collectives gain per candidate from sharing the GPU's PCIe link
    with activation offload's copies (planner.model.offload ``pcie_contention_mb``): the forward's gathers, the
    backward's gathers (reshard after forward) and reduce-scatters as ``zero_exposure`` counts them, each pass as
    long as the longer of its compute and its collectives. Zero on other rows."""
    fw = s.fw
    if not fw.activation_offload:
        return np.zeros(len(c), dtype=np.float64)
    D, dinv = dpt.D, dpt.dinv
    z3 = ((dpt.dz >= 3) & ~dpt.held)[dinv]
    bwd_ag = (dpt.raf & ~dpt.defer_rs)[dinv]
    rs_mb = ~dpt.defer_rs[dinv] & ~dpt.rs_last
    ag, rs, ag_nic, rs_nic = (D[k][dinv] for k in ("ag3", "rs3", "ag3_nic", "rs3_nic"))
    nic_bwd = np.where(bwd_ag, ag_nic, 0.0) + np.where(rs_mb, rs_nic, 0.0)
    t_bwd_coll = np.where(bwd_ag, ag, 0.0) + np.where(rs_mb, rs, 0.0)
    copy = offload.activation_moved_bytes(fw, m, t, c, s.act_b, st.layers_max)
    out = offload.pcie_contention_mb(hw, copy, ag_nic, nic_bwd, np.maximum(st.t_fwd_mb, ag),
                                     np.maximum(st.t_bwd_mb, t_bwd_coll))
    return np.where(z3, out, 0.0)


def param_fetch(m: ModelSpec, t: TrainingSpec, hw: HardwareOption, s: StepInputs, dpt: DpStep):
    """Per candidate, seconds per ZeRO-3 gather pass DeepSpeed's parameter offload (``Stack.param_offload``) copies the
    rank's parameter partition (``local_all``: trainable and frozen alike) in before the all-gathers, at the bytes
    the gathers move (16-bit), on their stream (planner.model.offload ``param_fetch_s``); None without the offload.
    ``zero_exposure`` adds it to the gathers: in the collectives' time the compute hides, in the first layer's
    gather, whole on the compute stream; its share of the exposed time is ``ZeroExposure.fetch_exposed_mb``."""
    if not getattr(s.fw, "param_offload", False):
        return None
    w_b = model_state_bytes_per_param(t, m.hidden or 4096)[0]
    return offload.param_fetch_s(hw, dpt.D["local_all"][dpt.dinv], min(w_b, 2.0), s.fw)


def forward_gathers(D: dict, keys, defer_rs) -> np.ndarray:
    """Seconds of a micro-batch's ZeRO-3 / FSDP collectives in its forward, at the DP ``keys``: the forward's gather
    (``ag3``), but where the stage is gathered in the backward and kept to the next forward (``defer_rs``); the rest of
    ``zero_exposure``'s ``z3_mb`` (the backward's gather, its reduce-scatter, HSDP's replica all-reduce) is the
    backward's. The two passes hide apart because FSDP2 issues a unit's collectives at most one unit ahead of the
    compute (torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py @002a76fb): in forward each unit's gather
    waits for the previous unit's copy-out on the compute stream (``wait_for_unshard``: "Defer free to allow for
    overlap of this copy-out with next all-gather collective", ``_wait_all_gather_streams_on_event``), in backward
    ``_backward_prefetch`` gathers the next unit only and ``post_backward`` makes the compute stream wait for the
    previous unit's reduce-scatter (``reduce_scatter_state.event``): a forward's gathers cannot run on under the
    backward that follows it, nor a backward's collectives under the next forward. Until kf54 the micro-batch's
    collectives hid under its forward and backward together, so a forward shorter than its gathers (the 70B at
    TP 4 and micro-batch 2: 0.64 s of forward a micro-batch against 0.72 s of cross-node gather) hid nothing of it."""
    return np.where(defer_rs, 0.0, D["ag3"])[keys]


def zero_exposure(s: StepInputs, st: StageTimes, dpt: DpStep, contention=None, fetch=None) -> ZeroExposure:
    """ZeRO-3/FSDP's per-micro-batch gathers and reduce-scatters and ZeRO-2's per-micro-batch reduce-scatters,
    exposed beyond the compute they hide under, with NCCL's SM share (physics.nccl_overlap_slowdown,
    physics.nccl_slowdown_exposed; DeepSpeed #2252, PR #8203). ZeRO-3's collectives hide under the stage's forward
    and backward per micro-batch as ``microbatch_extras`` leaves them: FSDP / ZeRO-3 prefetch issues the next
    layer's gather on its own stream while the compute stream runs this layer, and the unfused accumulation pass
    (AccumulateGrad, after each gradient) and AMP's weight casts (at each autocast op) are kernels of that same
    forward and backward (until small30c charged on top of the gathers: torchtitan ZeRO-2 with AMP weights,
    Llama-3-8B on 8 p4d nodes, 1.295 -> 1.227 s a step; zero on the other ZeRO-3 rows, which accumulate into their
    partition and take 16-bit weights). ``fetch``: ``param_fetch``."""
    eff, D, dinv, nccl_sms, m_micro = s.eff, dpt.D, dpt.dinv, dpt.nccl_sms, s.m_micro
    t_stage = st.t_fwd_mb + st.t_bwd_mb
    raf, defer_rs, rep_mb = dpt.raf, dpt.defer_rs, dpt.rep_mb
    # ZeRO-3 / FSDP: per micro-batch gathers (fwd, bwd) and reduce-scatters, prefetched one layer ahead: exposed beyond
    # the compute they overlap, plus the first layer's gather, plus the compute NCCL's SMs slow where that outlasts them
    z3 = (dpt.dz >= 3) & ~dpt.held
    # reshard_after_forward (FSDP2 default, DeepSpeed ZeRO-3 always): parameters are gathered
    # again for the backward; without it they stay gathered from forward to backward (ZeRO-2-like
    # memory for one more layer set, one gather per micro-batch)
    z3_mb = (np.where(defer_rs, 1.0, np.where(raf, 2.0, 1.0)) * D["ag3"]
             + np.where(defer_rs, 0.0, D["rs3"]) + np.where(rep_mb, D["ar_rep"], 0.0))[dinv]
    z3_mb = z3_mb - np.where(dpt.rs_last, D["rs3"][dinv], 0.0)  # the reduce-scatter in the last backward (t_dp)
    per_layer = np.maximum(st.layers_max, 1)
    passes = np.where(defer_rs, 1.0, np.where(raf, 2.0, 1.0))[dinv]  # gather passes per micro-batch

    def z3_exposed(rows, fetched=True):
        """exposed per micro-batch on ``rows``; the hidden part still costs compute: NCCL's kernels hold SMs"""
        zk, ts, ag = z3_mb[rows], t_stage[rows], D["ag3"][dinv[rows]]
        if contention is not None:  # activation offload's copies on the GPU's PCIe link (offload_contention)
            zk = zk + contention[rows]
        nccl = zk  # the copy engines' fetches hold no SMs: NCCL's slowdown is its collectives' alone
        if fetch is not None and fetched:  # parameter offload's copies in, ahead of each gather pass (param_fetch)
            zk, ag = zk + passes[rows] * fetch[rows], ag + fetch[rows]
        z3_slow = physics.nccl_overlap_slowdown(np.minimum(nccl, ts), eff.sm_count, nccl_sms[rows])
        # where the collectives outlast the compute (pass by pass: ``forward_gathers``), the slowed compute ends
        zf = forward_gathers(D, dinv[rows], defer_rs)  # under them (physics.nccl_slowdown_exposed)
        beyond = np.maximum(0.0, zf - st.t_fwd_mb[rows]) + np.maximum(0.0, zk - zf - st.t_bwd_mb[rows])
        # on the compute stream (``z3_on_compute_stream``: DeepSpeed without overlap_comm) nothing hides: all exposed
        hid = beyond + ag / per_layer[rows] + physics.nccl_slowdown_exposed(z3_slow, beyond)
        return np.where(s.z3_serial[rows], zk, hid)

    z3_exposed_mb = _on_rows(z3[dinv], z3_exposed)
    fetch_exposed_mb = (z3_exposed_mb - _on_rows(z3[dinv], lambda rows: z3_exposed(rows, fetched=False))
                        if fetch is not None else 0.0)
    # ZeRO-2 keeps only its 1/dp gradient partition (memory.zero_bytes_per_param), so there is no
    # full accumulator: every micro-batch's backward reduce-scatters its gradients, not only the
    # last (DeepSpeed maintainer, deepspeedai/DeepSpeed#2252: "For zero stage 2 (and 3), gradient
    # reduction is required after every backward because of gradient partitioning"; PR #8203:
    # stage 2 "must reduce/partition gradients on every backward() to preserve its memory
    # characteristics"). The first m - 1 are bucketed under their own backward like the last one
    # (which ``t_dp`` holds), with the same exposure and the same NCCL SM share.
    def z2_exposed(rows):
        """ZeRO-2's exposed per-micro-batch reduce-scatters on ``rows``"""
        rs_mb, mm = D["rs"][dinv[rows]], m_micro[rows]
        z2_exp = exposed_dp_comm(rs_mb, st.t_bwd_mb[rows], per_layer[rows], s.overlap_grad_reduce)
        hidden = physics.nccl_overlap_slowdown(np.maximum(rs_mb - z2_exp, 0.0), eff.sm_count, nccl_sms[rows])
        return (mm - 1.0) / mm * (z2_exp + hidden)

    # FSDP1's SHARD_GRAD_OP under ``no_sync`` (memory ``accumulates_unsharded``; without PP, the HF Trainer's): the
    # non-syncing backwards reduce nothing (torch _runtime_utils.py ``_post_backward_hook`` returns before the
    # reduce-scatter ``if not state._sync_gradients``), the last one's is ``t_dp``'s; its one gather a step (the
    # unsharded parameters kept from the first forward: fsdp1_truth.json, 3 gathers in 2 micro-batches) is ZeRO-2's
    z2_rows = (dpt.dz == 2)[dinv] & ~((s.pp == 1) & accumulates_unsharded(s.fw))
    z2_exposed_mb = _on_rows(z2_rows, z2_exposed)
    return ZeroExposure(z3, z3_exposed_mb, z2_exposed_mb, per_layer, fetch_exposed_mb)


def reduce_in_backward(fw, c: Candidates) -> np.ndarray:
    """Per candidate, whether the stack's optimizer wrapper reduces the gradients during the backward at all: its
    ``ZeroStreams.reduces_in_backward`` at the candidate's stage (``stacks.zero_stream_rows``, for every job of the
    stack; DeepSpeed reduces from hooks at ZeRO-2/3 only: at ZeRO-0 and ZeRO-1, whose engine forces ``overlap_comm``
    off, in ``allreduce_gradients`` after ``loss.backward()``), True for a stack without a table. ``overlap_grad_reduce``
    (DeepSpeed ``overlap_comm``) hides nothing where this is False: the DP reduce (``reduce_overlaps_backward``) and,
    under optimizer offload, the copies to the host (``offload_step``) are exposed whole. Until ds47 (2026-12-06) the
    deepspeed stack's ZeRO-0/1 reduce hid under the backward; until left47 that of a job without fp32 master weights
    (``weights: pure`` / ``amp``) still did."""
    return zero_stream_field(fw, c, "reduces_in_backward", True)


def zero_stream_field(fw, c: Candidates, field: str, default: bool) -> np.ndarray:
    """Per candidate, ``field`` of the stack's ``ZeroStreams`` row at the candidate's stage (``stacks.zero_stream_rows``,
    the lookup the memory and the stack line read too), ``default`` for a stack without a table. Until left47
    ``zero_row_field``, which read the rows through ``zero_state_rows`` (fp32 master weights only)."""
    from planner.model.stacks import zero_stream_rows  # lazy, as the other stack tables here

    rows = zero_stream_rows(fw)
    if rows is None:
        return np.full(len(c), default, dtype=bool)
    return np.array([getattr(r, field) for r in rows])[np.asarray(c.zero)]


def z3_on_compute_stream(fw, c: Candidates, overlap_grad_reduce: bool) -> np.ndarray:
    """Per candidate, whether its ZeRO-3 gathers and reduce-scatters run on the compute stream, serialised with the
    forward and backward: a wrapper whose streams for them exist only under ``overlap_comm`` (``ZeroStreams.
    z3_streams_by_overlap``: DeepSpeed stage3.py ``reduce_and_partition_stream`` and parameter_offload.py
    ``__allgather_stream`` are ``default_stream()`` without it) with ``overlap_grad_reduce`` off, whatever the job's
    weights. FSDP / FSDP2 (torch ``FSDPCommContext``'s all-gather and reduce-scatter streams, whatever the options) and
    Megatron-FSDP have no table: False. Until ds47b (2026-12-06) a deepspeed ZeRO-3 plan without ``overlap_comm`` hid
    them under the passes; until left47 one without fp32 master weights still did."""
    return zero_stream_field(fw, c, "z3_streams_by_overlap", False) & (not overlap_grad_reduce)


def zero_offload_copies(fw, t: TrainingSpec, hw: HardwareOption, c: Candidates, local, m_micro, t_bwd_mb,
                        grad_bytes: float, side):
    """Exposed seconds per step of the optimizer wrapper's per-micro-batch gradient copies under optimizer offload
    (offload.partition_copies_exposed) at each candidate's ZeRO stage, from its ZeRO table in the module's bytes
    (``stacks.offload_zero_rows``: ``mb_copy_bytes``), beside the backward where ``side``; 0 for a stack without a
    table or without the offload."""
    wrapper = offload_zero_rows(fw, t) if fw.optimizer_offload else None
    if wrapper is None:
        return 0.0
    z = np.asarray(c.zero)
    mb = np.array([r.mb_copy_bytes if r else (0.0,) * 4 for r in wrapper[0]])
    return offload.partition_copies_exposed(hw, local, m_micro, t_bwd_mb, mb[z].T, side, grad_bytes)


def offload_step(m: ModelSpec, t: TrainingSpec, c: Candidates, hw: HardwareOption, s: StepInputs, st: StageTimes,
                 dpt: DpStep, zx: ZeroExposure):
    """(t_opt, off_step, off_mb): the optimizer step with offload to host memory (planner.model.offload), the
    offload's exposed time per step (the CPU optimizer's copies; FSDP2 CPUOffloadPolicy's per collective) and per
    micro-batch (activation copies)."""
    fw, D, dinv, m_micro = s.fw, dpt.D, dpt.dinv, s.m_micro
    raf, defer_rs = dpt.raf, dpt.defer_rs
    # offload to host memory (planner.model.offload): activation copies per micro-batch, the CPU
    # optimizer step and its gradient/parameter copies per step
    w_b, g_b = model_state_bytes_per_param(t, m.hidden or 4096)[:2]
    # DeepSpeed's copies to the host ride its reduction stream only where it reduces from hooks under overlap_comm
    side = np.asarray(s.overlap_grad_reduce, dtype=bool) & s.reduces_in_backward
    # the partition copied back after the CPU step: the module's dtype where a ZeRO wrapper sizes it
    # (stacks.offload_zero_rows: DeepSpeed's fp32 ``temp_buffer_bit16`` under torch_autocast), else 16-bit
    wrapper = offload_zero_rows(fw, t)
    back = wrapper[1] if wrapper is not None else min(w_b, 2.0)
    t_opt, off_step = offload.optimizer_terms(fw, hw, D["local"][dinv], dpt.t_opt, st.t_bwd_mb, g_b, back, side)
    off_step = off_step + zero_offload_copies(fw, t, hw, c, D["local"][dinv], m_micro, st.t_bwd_mb, g_b, side)
    # DeepSpeed's parameter offload after a GPU optimizer step: the updated partition written back to the host
    off_step = off_step + offload.param_update_s(fw, hw, D["local"][dinv], min(w_b, 2.0))
    # ZeRO-Infinity's optimizer swap to NVMe (offload_device: nvme): the state read and written around the CPU step
    state_b = sum(model_state_bytes_per_param(t, m.hidden or 4096)[2:])
    off_step = off_step + offload.nvme_optimizer_s(fw, hw, D["local"][dinv], state_b, st.t_bwd_mb, side)
    off_mb = offload.activation_exposed_mb(fw, m, t, c, hw, s.act_b, st.layers_max, st.t_fwd_mb, st.t_bwd_mb)
    if fw.optimizer_offload and getattr(fw, "fsdp2_dp", False):  # FSDP2 CPUOffloadPolicy: copies per collective
        master_b = model_state_bytes_per_param(t, m.hidden or 4096)[2]
        z3_row = zx.z3[dinv]
        # lora/qlora: the frozen base is offloaded and copied in with every gather too, in its stored dtype
        # (offload.fsdp2_copies_exposed ``frozen_bytes``); its gradients are not (``local`` is the trainable share)
        frozen_b = (D["local_all"][dinv] * frozen_storage_bytes(m, t, fw) / count_params(m).total
                    if frozen_base(m, t) else 0.0)
        off_step = off_step + offload.fsdp2_copies_exposed(
            hw, D["local"][dinv], master_b if master_b > 0 else min(w_b, 2.0), m_micro, z3_row,
            z3_row & (raf & ~defer_rs)[dinv], (z3_row & ~defer_rs[dinv] & ~dpt.rs_last) | (c.zero == 2), st.t_fwd_mb,
            st.t_bwd_mb,
            frozen_bytes=frozen_b)
    return t_opt, off_step, off_mb


@dataclasses.dataclass(frozen=True, slots=True)
class StepParts:
    """The step composed (``compose_step``): ``step`` seconds, its exposed DP time (``exposed_dp``: the bucketed
    reduce's tail, its hidden cost, the exposed parameter gather), the ``bubble``, the reduce's hidden cost
    (``dp_slow``), the exposed parameter gather (``pg_exposed``), the interleaved schedule's fill sends
    (``pp_fill``) and their mean (``pp_hop``), and the parameter gather each stage's first forward waits on (``pg_lead``)."""
    step: np.ndarray
    exposed_dp: np.ndarray
    bubble: np.ndarray
    dp_slow: np.ndarray
    pg_exposed: np.ndarray
    pp_fill: np.ndarray
    pp_hop: np.ndarray
    #: the gather each stage's first forward waits on where the pre-hook starts it there (``compose_step``: in
    #: ``pg_exposed`` pp times; the simulator's ``t_stage_lead``)
    pg_lead: np.ndarray
    #: a pipelined FSDP stage resharded after forward: the one gather a step its warm-up forwards add beyond the
    #: composition's (``compose_step``)
    raf_fwd: np.ndarray
    #: per candidate, whether the DP reduce runs in buckets under the last backward (``reduce_overlaps_backward``)
    dp_overlap: np.ndarray
    #: the backward the bucketed reduce hides under (pipeline.chunk_reduce_window, as the composition read it): the
    #: record's ``t_dp_hides``, which computed it a second time from the same arrays until speed42
    dp_hides: np.ndarray
    #: what the 1F1B bubble took off a run for the lighter stages' fill and drain (``fill_excess``; the simulator's)
    fill_taken: np.ndarray | float = 0.0
    #: the exposed DP sync each schedule run but the step's last ends with, where torch.distributed.pipelining syncs a
    #: held FSDP stage per run (``compose_step``: ``exposed_dp`` holds runs - 1 of them more); 0 elsewhere. The
    #: simulator pays it between its runs (simulate.config ``PipelineConfig.t_run_sync``)
    run_sync: np.ndarray | float = 0.0


def pipeline_fill(c: Candidates, s: StepInputs, st: StageTimes, z3_mb=0.0):
    """(pp_fill, pp_hop): the sends the overlapped interleaved schedule cannot hide (``pipeline.fill_exposure``) and
    the mean send of its warm-up / cool-down path (the simulator's link delay); zeros where no row overlaps them.
    ``z3_mb``: exposed ZeRO-3 gathers per micro-batch, part of each chunk's pass (``compose_step``), spread over the
    forward and backward as the simulator spreads them (evaluation ``spread_zero3``)."""
    fw, n, pp, m_micro, g = s.fw, s.n, s.pp, s.m_micro, s.g
    t_fwd_mb, t_bwd_mb = spread_zero3(st.t_fwd_mb, st.t_bwd_mb, np.broadcast_to(z3_mb, np.shape(st.t_fwd_mb)))
    # the sends the overlapped interleaved schedule cannot hide: in its forward-only warm-up and backward-only
    # cool-down each chunk waits for its input (Megatron-Core forward_backward_pipelining_with_interleaving with
    # ``overlap_p2p_comm``: the recv posted after one forward is waited on before the next), 2 (pp vpp - 1) sends at
    # Megatron's default group and sends under a chunk (pipeline.fill_exposure: what pipeline_timing's list
    # schedule pays, with longer sends and larger groups too), each at its link: the ones that leave a node through
    # the NIC
    fill_rows = (c.schedule == SCHEDULE.code["interleaved"]) & (pp > 1) if fw.overlap_p2p else np.zeros(n, bool)
    pp_fill, pp_hop = np.zeros(n), np.zeros(n)
    if fill_rows.any():
        r = fill_rows
        # once per distinct (pp, m, chunks, stage GPUs): a search has few
        keys, kinv = distinct_rows(c.pp[r], np.maximum(np.rint(m_micro[r]), 1).astype(np.int64), c.chunks[r],
                                   (c.tp * c.cp * c.dp)[r])
        geo = fill_geometry(*keys, g, getattr(fw, "microbatch_group_size", None)).take(kinv)
        sends, cross = geo.sends()
        # the mean send: the simulator's link delay
        pp_hop[r] = (cross * st.hop_out[r] + (sends - cross) * st.hop_in[r]) / np.maximum(sends, 1.0)
        half = st.t_pp[r] / 2  # the stage times without the steady state's exposed sends (which it is)
        pp_fill[r] = geo.exposure(t_fwd_mb[r] - half, t_bwd_mb[r] - half, st.hop_in[r], st.hop_out[r], st.t_send[r],
                                  exposed=st.t_pp[r])
    return pp_fill, pp_hop


def _interleaved_gather(c: Candidates, s: StepInputs, dpt: DpStep, pg, pg_exposed, t_fwd_mb, per_layer):
    """The interleaved schedule's Megatron-Core parameter all-gather, chunk by chunk, where ``pg_exposed`` (the
    one-forward window) stood: the aligned per-chunk dispatch (Stack.align_param_gather; chunk 0's whole gather, each
    later chunk's past the pp chunk forwards before it: pipeline.aligned_gather_exposed) or, without it, each stage's
    lazy per-chunk waits (pipeline.unaligned_gather_exposed: pp times chunk 0's first bucket and every later chunk's
    whole gather); with ``overlap_param_gather_with_optimizer_step`` chunk 0's gather hides under the other chunks'
    optimizer step (pipeline.optimizer_step_gather_head). NeMo 1.x's Apex path (``Stack.apex_param_sync``) keeps the
    window; so does every stack without Megatron-Core's lazy pre-hook (``param_gather_stage_lazy``)."""
    fw, pp = s.fw, s.pp
    interleaved = ((c.schedule == SCHEDULE.code["interleaved"]) & (pp > 1) & (c.vpp > 1) & ~dpt.held[dpt.dinv]
                   & (pg > 0) & bool(fw.overlap_param_gather and not getattr(fw, "megatron_fsdp", False)))
    aligned = bool(getattr(fw, "align_param_gather", False))
    if not (np.any(interleaved) and (aligned or (getattr(fw, "param_gather_stage_lazy", False)
                                                 and not getattr(fw, "apex_param_sync", False)))):
        return pg_exposed
    head = (optimizer_step_gather_head(dpt.t_opt, c.vpp)
            if getattr(fw, "overlap_param_gather_with_optimizer_step", False) else None)
    if aligned:
        chunked = aligned_gather_exposed(pg, t_fwd_mb, pp, c.vpp, 0.0 if head is None else head)
    else:
        chunked = unaligned_gather_exposed(pg, t_fwd_mb, pp, c.vpp, per_layer, head)
    return np.where(interleaved, chunked, pg_exposed)


def _param_gather_exposed(c: Candidates, s: StepInputs, st: StageTimes, dpt: DpStep, per_layer):
    """The ZeRO-1/2 (or held FSDP stage's) parameter all-gather's exposed seconds a step, and the first-forward wait
    a lazily gathering pipeline stage adds (``pg_lead``, one stage's; the step carries pp - 1 more of them)."""
    fw, pp, t_fwd_mb = s.fw, s.pp, st.t_fwd_mb
    held = dpt.held
    # ZeRO-1/2 all-gather the updated parameters once per step. Megatron-Core's
    # ``--overlap-param-gather`` (``Stack.overlap_param_gather``) runs it bucket by bucket in the
    # next step's first forward: each module's forward pre-hook waits for its bucket and dispatches
    # the next one (megatron/core/distributed/distributed_data_parallel.py
    # ``_make_forward_pre_hook`` -> ``finish_param_sync``), so the first bucket is exposed and the
    # rest hide under that forward as far as it lasts -- the mirror image of the bucketed reduce
    # (pipeline.exposed_dp_comm with the forward in place of the backward). Without it the
    # all-gather runs synchronously after the optimizer step (Megatron ``start_param_sync`` with
    # ``overlap_param_gather=False``; DeepSpeed ZeRO-1/2 ``step()`` -> ``all_gather_dp_groups``),
    # all exposed.
    pg = np.where(held, dpt.D["ag3"], dpt.D["param_gather"])[dpt.dinv]
    # (Megatron's layer-wise Muon all-gathers inside its step(): ``fw`` comes from from_training ->
    # optimizers.stack_for with overlap_param_gather already off); FSDP prefetches its held gather
    pg_exposed = exposed_dp_comm(pg, t_fwd_mb, per_layer, held[dpt.dinv] | bool(fw.overlap_param_gather))
    pg_exposed = _interleaved_gather(c, s, dpt, pg, pg_exposed, t_fwd_mb, per_layer)
    pg_exposed = pg_exposed + _hidden_cost(s, pg, pg_exposed, dpt.nccl_sms)
    # Under PP without the interleaved schedule's aligned dispatch, Megatron-Core's pre-hook starts that gather at each
    # stage's own first forward (Stack.param_gather_stage_lazy), after its first micro-batch has arrived: the fill
    # carries the wait once per stage, pp x pg_exposed on the 1F1B schedule's path (planner.model.pipeline
    # ``pipeline_timing`` with ``t_lead``, which the simulator list-schedules). Megatron-FSDP gathers its own way.
    lazy = ((pp > 1) & (c.schedule != SCHEDULE.code["interleaved"]) & ~held[dpt.dinv] & (pg > 0)
            & bool(getattr(fw, "param_gather_stage_lazy", False) and fw.overlap_param_gather
                   and not getattr(fw, "megatron_fsdp", False)))
    pg_lead = np.where(lazy, pg_exposed, 0.0)
    pg_exposed = pg_exposed + (pp - 1) * pg_lead
    return pg_exposed, pg_lead


def reduce_overlaps_backward(s: StepInputs, dpt: DpStep) -> np.ndarray:
    """Per candidate, whether the DP gradient reduce runs in buckets under the last backward (``s.overlap_grad_reduce``,
    the stack's), except a pipelined FSDP stage (``Stack.pp_fsdp_unsharded`` under PP: ``dpt.held`` or ``defer_rs``),
    whose reduce-scatter torch.distributed.pipelining issues only after the stage's backward has returned and the
    compute stream then waits on: with gradient sync off for every backward, the stage's FSDP ``post_backward`` is
    called by hand for all its parameter groups and then ``_root_post_backward_final_callback``, "to ensure FSDP syncs
    its grad reduction ops back to the default stream" (``finalize_backward``: ``current_stream().wait_event(
    _post_reduce_event)``) -- pytorch/pytorch torch/distributed/pipelining/stage.py ``backward_maybe_with_nosync(...,
    last_backward=True)`` after ``perform_backward``, ``_PipelineStageBase._post_backward`` after the
    schedule's backwards (@0138610), ``perform_reduce_grad``, the REDUCE_GRAD action "scheduled after all
    microbatches W, B actions" (later); NeMo AutoModel's own one the same (components/moe/fsdp_mixin.py
    ``patched_backward_maybe_with_nosync``: ``_run_post_backward_for_moe_module`` after ``perform_backward``). No
    autograd hook fires during that backward, so nothing of the reduce hides under it: exposed whole, once per run
    of the schedule (``compose_step``). Without PP the deferred syncs set the flags before the last backward and its
    hooks reduce unit by unit under it (AutoModel's ``prepare_for_final_backward``, ``get_sync_ctx``): bucketed."""
    after_backward = (dpt.held | dpt.defer_rs)[dpt.dinv] & (s.pp > 1) & bool(s.fw.pp_fsdp_unsharded)
    # a wrapper that reduces only after the backward (``reduce_in_backward``: DeepSpeed's ZeRO-0/1) hides none
    return np.asarray(s.overlap_grad_reduce, dtype=bool) & s.reduces_in_backward & ~after_backward


def last_backward_gathers(s: StepInputs, dpt: DpStep) -> np.ndarray:
    """Per candidate, seconds of FSDP all-gathers in the last backward ahead of the step's one reduce-scatter on
    the same process group: where the gradient sync runs only in the last backward (``rs_last``: the deferred sync
    with the reshard left alone, KempnerForge's ``maybe_no_sync``, AutoModel's ``get_sync_ctx``; ``defer_rs``
    without PP) and the parameters are gathered again for that backward (reshard after forward). FSDP2 issues both
    on the unit's shard process group (torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py: ``unshard`` and
    ``post_backward`` take ``self._all_gather_process_group`` / ``self._reduce_scatter_process_group``, both the
    mesh's shard group, @002a76fb), c10d's ProcessGroupNCCL runs a group's collectives on its one NCCL stream a
    device (ProcessGroupNCCL.hpp ``ncclStreams_``, "The CUDA streams used by NCCL kernels"), and both cross the same
    links: the reduce-scatter hides only under the part of that backward the gathers leave free
    (``pipeline.step_composition`` ``reduce_busy``). 0 elsewhere. Until kf54 it hid under the whole backward: the
    KempnerForge 70B at TP 4 x FSDP 8 hid its 1.46 s fp32 reduce-scatter under 1.73 s of backward that also carried
    0.72 s of gathers."""
    D, dinv = dpt.D, dpt.dinv
    bwd_gather = (dpt.raf & ~dpt.held)[dinv] & dpt.rs_last
    bwd_gather = bwd_gather | (dpt.defer_rs[dinv] & (s.pp == 1))
    return np.where(bwd_gather & ((dpt.dz >= 3) & ~dpt.held)[dinv], D["ag3"][dinv], 0.0)


def compose_step(c: Candidates, s: StepInputs, st: StageTimes, dpt: DpStep, zx: ZeroExposure, t_opt, off_step,
                 off_mb) -> StepParts:
    """One optimizer step from its parts (pipeline.step_composition: Narayanan et al. 2021 §2.2's m micro-batches,
    bubble and DP reduce), with the overlapped interleaved schedule's fill sends (pipeline.fill_exposure), the DP
    reduce's NCCL SM cost, the ZeRO-1/2 parameter all-gather (Megatron-Core ``--overlap-param-gather``) and
    torch.distributed.pipelining's per-run FSDP sync."""
    fw, pp, m_micro = s.fw, s.pp, s.m_micro
    t_fwd_mb, t_bwd_mb, t_dp, held, per_layer = st.t_fwd_mb, st.t_bwd_mb, dpt.t_dp, dpt.held, zx.per_layer
    # DP gradient reduce once per step (ZeRO-2: its last), bucketed under the last backward if overlapped;
    # the pipeline bubble (Narayanan's (pp-1)/v, plus the interleaved m < pp term), once per run of the schedule
    # ZeRO-3 / FSDP gathered per micro-batch (not a stage held gathered: ``dpt.held``) is gathered by every
    # micro-batch's pass through the stage, the pipeline's fill and drain too: Megatron-FSDP's forward pre-hook
    # all-gathers each unit and its post-forward hook releases it whatever the pipeline (megatron_fsdp.py
    # ``_pre_forward_param_unshard``, ``_post_forward``; no PP case), so its exposed gathers are in the bubble's stage
    # time (``in_stage``), as the simulator's list schedule pays them (simulate.config ``from_detail``). Until pp35
    # they were counted m times outside the bubble: (pp - 1) x comm_zero3 / m under the simulated step (QA 45)
    dp_overlap = reduce_overlaps_backward(s, dpt)
    comp = step_composition(m_micro, pp, c.vpp, c.schedule == SCHEDULE.code["interleaved"], t_fwd_mb, t_bwd_mb,
                            t_dp, per_layer, dp_overlap, t_opt + off_step,
                            zx.z3_exposed_mb + zx.z2_exposed_mb + off_mb,
                            getattr(fw, "pp_pass_microbatches", None), in_stage=zx.z3_exposed_mb,
                            dualpipev=c.schedule == SCHEDULE.code["dualpipev"],
                            aligned_reduce=fw.align_grad_reduce, fill_excess=st.fill_excess,
                            reduce_busy=last_backward_gathers(s, dpt))
    exposed_dp, bubble, step = comp["exposed_dp"], comp["bubble"], comp["step"]
    pp_fill, pp_hop = pipeline_fill(c, s, st, zx.z3_exposed_mb)
    step = step + pp_fill
    # the bucketed reduce hidden under the last backward holds NCCL's SMs too
    dp_slow = _hidden_cost(s, t_dp, exposed_dp, dpt.nccl_sms)
    exposed_dp, step = exposed_dp + dp_slow, step + dp_slow
    pg_exposed, pg_lead = _param_gather_exposed(c, s, st, dpt, per_layer)
    exposed_dp, step = exposed_dp + pg_exposed, step + pg_exposed
    # A pipelined FSDP stage resharded after forward (Stack.pp_reshard_after_forward: NeMo AutoModel's option;
    # ``defer_rs`` under PP) gathers in every forward that follows a forward -- a stage's warm-up forwards and its
    # first steady one, pp - s of them on stage s -- and in every steady backward; its cool-down backwards find it
    # gathered (pipelining's backward_maybe_with_nosync skips the reshard after backward until the last backward):
    # m + 1 gathers a stage, where the composition above holds m + pp - 1 on the pipeline's path (m in the steady
    # state, one in each of the bubble's pp - 1 stage times). The list schedule with a gather on exactly those
    # operations has one more on its path (tests/test_pp35b.py: 1F1B at m >= 2, m + pp; the interleaved schedule at
    # v = 2 and m >= 2 pp), more where the interleaved schedule's groups are short (m = pp: 1.5 at pp 2, 2.5 at pp 4;
    # v = 4 at m = 2 pp: 1.75), counted as one: one exposed gather more a step (a run, Stack.pp_pass_microbatches),
    # in ``comm_zero3`` and, for the simulator, which spreads the others into the stage times, ``t_dp_tail``
    raf_fwd = np.where(dpt.defer_rs[dpt.dinv] & (pp > 1) & bool(fw.pp_fsdp_unsharded), zx.z3_exposed_mb, 0.0)
    # a schedule run per gradient-accumulation step (Stack.pp_pass_microbatches) syncs a held FSDP stage at the end of
    # every run where torch.distributed.pipelining's own ``backward_maybe_with_nosync`` decides (its last backward
    # runs the post-backward reduce-scatter and reshard; the next run gathers again) -- not where AutoModel's patched
    # one holds it to the optimizer step (``fsdp_defer_sync``, its ``enable_fsdp_optimizations``): the exposed
    # reduce and gather once per run
    pass_m = getattr(fw, "pp_pass_microbatches", None)
    run_sync = 0.0
    if pass_m is not None and fw.pp_fsdp_unsharded and not dpt.defer:
        runs = m_micro / run_microbatches(m_micro, pass_m)
        # (exposed_dp holds the held stage's gather by now; a stage resharded after forward, ``defer_rs``, gathers per
        # micro-batch already and reduce-scatters per run)
        run_sync = np.where((held | dpt.defer_rs)[dpt.dinv] & (runs > 1.0), exposed_dp, 0.0)
        extra = (runs - 1.0) * run_sync
        exposed_dp, step = exposed_dp + extra, step + extra
        raf_fwd = raf_fwd * runs  # each run starts from the resharded stage
    step = step + raf_fwd
    return StepParts(step=step, exposed_dp=exposed_dp, bubble=bubble, dp_slow=dp_slow, pg_exposed=pg_exposed,
                     pp_fill=pp_fill, pp_hop=pp_hop, pg_lead=pg_lead, raf_fwd=raf_fwd, dp_overlap=dp_overlap,
                     dp_hides=comp["hides"], fill_taken=comp["fill"] + 0.0 * step, run_sync=run_sync + 0.0 * step)


def step_record(m: ModelSpec, t: TrainingSpec, c: Candidates, s: StepInputs, st: StageTimes, dpt: DpStep,
                zx: ZeroExposure, t_opt, off_step, off_mb, sp: StepParts, causal_kernels: bool) -> dict:
    """``step_time``'s dict of arrays: the breakdown (``BREAKDOWN_KEYS``: per-micro-batch terms times m, the step's
    once-per-step terms), the stage and DP times the simulator composes the same step from
    (simulate.config.SimConfig.from_detail), FLOPs (``_candidate_flops``), MFU / HFU against the datasheet peak and
    tokens per second."""
    m_micro, n, step, z2_exposed_mb = s.m_micro, s.n, sp.step, zx.z2_exposed_mb
    out = {k: m_micro * v for k, v in st.per_mb.items()}
    out.update({
        "comm_pp": m_micro * st.t_pp + sp.pp_fill,
        "comm_zero3": m_micro * (zx.z3_exposed_mb - zx.fetch_exposed_mb) + sp.raf_fwd,
        "comm_dp": sp.exposed_dp + m_micro * z2_exposed_mb,
        "bubble": sp.bubble,
        "optimizer": t_opt,
        "offload": m_micro * (off_mb + zx.fetch_exposed_mb) + off_step,
        "data_stall": np.zeros(n),
    })
    model_flops, hw_flops = _candidate_flops(m, t, s.fw, c, s.mb, s.span, causal_kernels)
    gpus = c.gpus.astype(np.float64)
    out.update(
        step_time_s=step, t_fwd_mb=st.t_fwd_mb, t_bwd_mb=st.t_bwd_mb, t_dp_comm=dpt.t_dp, t_optimizer=t_opt,
        t_param_gather_exposed=sp.pg_exposed,
        # the DP time of the step beyond the bucketed reduce's exposed tail (``comm_dp`` less it): the
        # reduce's hidden cost on the compute, the exposed ZeRO-1/2 parameter all-gather and ZeRO-2's
        # per-micro-batch reduce-scatters; with ``dp_buckets`` and ``overlap_grad_reduce`` what the
        # simulator needs to compose the same step (simulate.config.SimConfig.from_detail)
        # (less the gather the stages' first forwards wait on, ``t_pp_lead``: the simulator's list schedule pays it
        # in the fill)
        t_dp_tail=sp.dp_slow + sp.pg_exposed - s.pp * sp.pg_lead + m_micro * z2_exposed_mb + sp.raf_fwd,
        t_pp_lead=sp.pg_lead, t_zero3_step=sp.raf_fwd, dp_buckets=zx.per_layer + 0.0 * step,
        # what the 1F1B bubble took off for the lighter stages' fill and drain (``fill_excess``): the simulator's too
        t_pp_fill_excess=sp.fill_taken,
        # the exposed DP sync a held FSDP stage pays at the end of each schedule run but the last (the simulator's)
        t_pp_run_sync=sp.run_sync,
        # the backward the bucketed reduce hides under (pipeline.chunk_reduce_window), the simulator's too
        t_dp_hides=sp.dp_hides + 0.0 * step,
        overlap_grad_reduce=np.broadcast_to(sp.dp_overlap, (n,)),
        t_pp_p2p=st.t_pp / 2, num_microbatches=m_micro,
        # the mean of the warm-up / cool-down sends (``pp_fill``; 0 where the sends are in the stage times): the
        # simulator's link delay, whose list schedule then pays the same
        t_pp_hop=sp.pp_hop, model_flops=model_flops, hw_flops=hw_flops,
    )
    inv_step = 1.0 / (step * gpus * st.peak)
    out["mfu"] = out["model_flops"] * inv_step
    out["hfu"] = out["hw_flops"] * inv_step
    tokens = s.gb * (s.seq if m.is_transformer else 1.0)
    out["tokens_per_s"] = tokens / step
    out["tokens_per_s_per_gpu"] = out["tokens_per_s"] / gpus
    return out


def step_time(m: ModelSpec, t: TrainingSpec, c: Candidates, hw: HardwareOption, *,
              overlap_grad_reduce: bool | None = None, tp_comm_overlap: float = 0.0,
              causal_kernels: bool = True, dp_grad_bytes: float | None = None,
              framework: str | Stack | None = None, memo: LayerMemo | None = None) -> dict:
    """Seconds per step and its breakdown for every candidate (all on hardware option ``hw``).

    ``memo``: a search's ``LayerMemo`` (the layer model's rows, reused by the search's later calls on the same
    model, training, hardware and ``framework`` objects); None: computed afresh.

    Returns a dict of arrays: ``step_time_s``, the ``BREAKDOWN_KEYS``, ``t_fwd_mb``, ``t_bwd_mb``
    (slowest stage, one micro-batch), ``t_dp_comm`` (whole DP reduce), ``t_optimizer``,
    ``t_pp_p2p``, ``t_pp_hop``, ``num_microbatches``, ``model_flops``, ``hw_flops``, ``mfu``, ``hfu``.

    The stages, in the order the numbers flow: ``step_inputs``; the slowest stage per micro-batch
    (``transformer_stage``: ``stage_keys``, ``layer_rows``, ``pacing_stage``, ``pipeline_sends``; or
    ``generic_stage``); the DP / ZeRO terms (``dp_step_terms``); the per-micro-batch passes over the parameters
    (``microbatch_extras``); ZeRO-3 / ZeRO-2 exposure (``zero_exposure``, the ZeRO-3 collectives slowed by
    activation offload's copies on the PCIe link: ``offload_contention``); offload (``offload_step``); the step
    (``compose_step``); the record (``step_record``). More than ``layout.EVAL_BLOCK`` candidates are evaluated
    that many at a time (``layout.in_blocks``).
    """
    t = on_stack(t, framework)  # a frozen MoE's expert adapters are the stack's (finetune.expert_adapters)
    return in_blocks(lambda b: _step_rows(m, t, b, hw, overlap_grad_reduce, tp_comm_overlap, causal_kernels,
                                          dp_grad_bytes, framework, memo), c)


def _step_rows(m: ModelSpec, t: TrainingSpec, c: Candidates, hw: HardwareOption, overlap_grad_reduce,
               tp_comm_overlap, causal_kernels, dp_grad_bytes, framework, memo) -> dict:
    """``step_time`` on the candidates ``c`` in one pass."""
    s = step_inputs(t, c, hw, overlap_grad_reduce, framework, m)
    if m.is_transformer:
        st = transformer_stage(m, t, c, hw, s, tp_comm_overlap, causal_kernels, memo)
    else:
        st = generic_stage(m, t, c, hw, s)
    dpt = dp_step_terms(m, t, c, hw, s, dp_grad_bytes, memo)
    st = microbatch_extras(m, t, c, hw, s, st, dpt)
    zx = zero_exposure(s, st, dpt, offload_contention(m, t, c, hw, s, st, dpt), param_fetch(m, t, hw, s, dpt))
    t_opt, off_step, off_mb = offload_step(m, t, c, hw, s, st, dpt, zx)
    sp = compose_step(c, s, st, dpt, zx, t_opt, off_step, off_mb)
    return step_record(m, t, c, s, st, dpt, zx, t_opt, off_step, off_mb, sp, causal_kernels)
