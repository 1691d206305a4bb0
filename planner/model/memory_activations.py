"""The activations and logits of each pipeline rank: what ``memory.memory_per_gpu`` adds to the model states.

Per layer (``layer_saves``): the saves of the stack's recompute setting at each distinct (tp, cp, sp, micro-batch,
recompute, ep) key, from planner.model.activations (the Megatron-Core / torchtitan / MaxText tables) or, where the code
is transformers', the HF table (``_hf_activation_arrays``) and the walked step (``_hf_walk_arrays``: the peak of
``activations_hf.hf_step_memory``, the rank's share by ``hf_tp_share`` / ``hf_ep_rank_share`` / ``hf_grad_share``);
per layer kind where a model's layers differ (``layer_kind_saves``: dense / MoE, or a hybrid's Mamba, attention and
MLP blocks); partial recompute blended per layer (``_partial_recompute_saves``: recompute_num_layers, uniform groups,
torchtitan's layer SAC). Per rank (``rank_activations``): each rank's own layers of the split it launches x the
micro-batches it holds in flight (planner.model.memory_stages ``inflight_microbatches``, ``stage_layer_microbatches``),
chunk by chunk where a rank's chunks differ (``chunk_activations``, planner.model.pipeline ``chunk_inflight``), the
first N layers of a rank kept whole under recompute_num_layers (``rank_block_activations``), the rebuild's working
set beside the held saves (``stage_kind_rws``), and the middle ranks that can peak (``middle_rank_of``; in the search
only where they can beat rank 0, ``middle_settled``). The logits and the loss's transient (``loss_logits``: the
loss exceeds the rebuild by, or the held logits), a scanned stack's unreduced weight gradient beside the rebuild
(``scan_grad_transient``: MaxText), the offloaded layers on the host (``offload_kind_bytes``). Assembled per
candidate by ``transformer_activations`` (``sample_activations`` for a model measured per sample) into
``ActivationTerms``.

memory.py held all of it beside the model states until split47b (2026-12-06): moved here verbatim; it reads the
stages from memory_stages and never imports memory (the import-linter contract in pyproject.toml). ``StateBytes``, the
record of bytes per parameter and per activation element ``memory.state_bytes`` builds and the activations read
(``act``, ``frozen``), moved with it, so that the record a caller hands in is defined where it is read.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
from types import SimpleNamespace

import numpy as np

from planner.model.activations import (layer_activation_bytes, logits_bytes, loss_transient_bytes, rank_logits,
                                       rank_tokens, remat_host_layer_bytes, sp_divisor, stack_remat,
                                       mean_layer_activation_bytes, recompute_working_set, saved_softmax_fp32,
                                       stack_table_kw, DISPATCHER_TABLE_KW, dispatcher_table_kw,
                                       cp_torch_ring_transient)
from planner.layout import V_SPLIT, Candidates, distinct_rows, split_vpp
from planner.model.activations_hf import AUTOEP_EXPERTS, hf_precision, hf_stack_experts
from planner.model.comm import hierarchical_cp_a2a
from planner.npfast import where0
from planner.spec.params import count_params, layer_kinds
from planner.model.finetune import (STREAM_FP32, BlockWeights, frozen_base, frozen_embedding_bytes, peft_layer_saves,
                                    frozen_layer_activation_bytes, frozen_saves_precision, frozen_stream)
from planner.model import offload
from planner.model.moe import HfTpPlan, autoep_rows, hf_ep_whole_params, hf_tp_plan, per_dispatcher
from planner.model.pipeline import (chunk_inflight, chunk_inflight_paired, chunk_layers, pipeline_split,
                                    recomputed_fraction, run_microbatches, runtime_at, split_per_row, split_runtime,
                                    tp_dependent, head_rank, kind_weights, rank_kind_layers, rank_sums, stage_kind_layers,
                                    uniform_groups)
from planner.model.memory_stages import (fwd_recv_buffers, inflight_microbatches, layer_params, recv_buffers,
                                         stage_layer_microbatches)
from planner.model.stacks import KEPT_NONE, KEPT_PERSIST, cp_comm_mix, recompute_modules
from planner.model.stack_kernels import hf_attn_choice
from planner.spec import ModelSpec, TrainingSpec
from planner.vocab import HYBRID_LAYER, MOE_DISPATCHER


def layer_matrix_elems(m: ModelSpec) -> float:
    """Elements of a transformer layer's largest single weight matrix, whole: an MLP projection (hidden x the widest
    FFN, one expert's under MoE) or the attention's query / output (hidden x heads x head dim)."""
    heads = (m.heads or 0) * (m.head_dim or ((m.hidden or 0) // max(m.heads or 1, 1)))
    return float(m.hidden or 0) * max(m.ffn_hidden or 0, m.dense_ffn_hidden or 0, heads)


def scan_unreduced_grad_elems(m: ModelSpec, tp, etp, ep):
    """Elements of the full-size weight gradient a scanned FSDP layer's backward holds before its reduce-scatter
    (``Stack.scan_gathers``: MaxText), per rank: the layer's largest weight array as MaxText stores it -- a dense
    matrix (``layer_matrix_elems`` over TP) or, in an MoE layer, one of the experts' stacked kernels (MaxText
    layers/moe.py ``RoutedMoE``: ``wi_0`` / ``wi_1`` / ``wo`` each [experts, hidden, mlp], one array), over
    expert-TP x EP.

    Why it is live: the weight is sharded over the fsdp axis and the activations over the batch, so its gradient
    is a contraction over the sharded batch; each chip computes the whole matrix's partial sum, then reduce-scatters
    it to its shard -- "dW[F, D] {U_X} = Tmp[B_X, F] *_B dOut[B_X, D]; dW[F, D_X] = ReduceScatter(dW {U_X}) (not
    on the critical path, can be done async)", once per matrix (jax-ml/scaling-book training.md, "Fully-Sharded
    Data Parallelism"); MaxText benchmarks/xla_flags_library.py ``REDUCE_SCATTER_FUSION`` ("Enable AR + DS = RS
    fusion": the partitioner's all-reduce of that partial sum and its dynamic slice). The partial sum is the dot's
    output, in the compute dtype: flax casts the fp32 kernel per use (layers/linears.py ``jnp.asarray(kernel,
    self.dtype)``), so the dot and its transpose run in bf16 and the cast's transpose turns only the shard fp32
    (the ``grads`` term, ``grad_dtype: float32`` in base.yml); MaxText's own base.yml ``pipeline_fsdp_ag_once``
    calls them "the FSDP gathered weights and gradients (typically in bf16)". How many are live: XLA's latency
    hiding scheduler keeps one reduce-scatter in flight (xla/service/latency_hiding_scheduler.h ``SchedulerConfig``
    ``reduce_scatter_overlap_limit = 1``), so the next matrix's partial sum may be written while the last one's
    scatter runs (two), but that overlap is the scheduler's choice under its memory limit (``memory_limit``; the
    TPU compiler fits the program to HBM or fails to compile): the one a reduce-scatter needs whole is the floor
    priced here. Not a whole layer's: the scatters are per matrix (one gradient a dot). Until maxmem42
    (2026-12-05) not priced: GPT-3 175B on v6e-256 +1.13 GiB (its 12288 x 49152 MLP matrix in bf16)."""
    tp = np.asarray(tp, dtype=np.float64)
    dense = layer_matrix_elems(m) / tp
    if m.moe is None:
        return dense
    experts = float(m.moe.experts) * (m.hidden or 0) * (m.ffn_hidden or 0)
    return np.maximum(dense, experts / (np.asarray(etp, dtype=np.float64) * np.asarray(ep, dtype=np.float64)))


def scan_grad_transient(m: ModelSpec, st, c: Candidates, act_b):
    """Bytes a scanned stack's layer backward holds beside the layer's rebuild, per candidate: the unreduced weight
    gradient (``scan_unreduced_grad_elems``) in the compute dtype ``act_b``, where the gradients are sharded (ZeRO-2
    and above: below, the ``grads`` term holds them whole). Beside the rebuild, not in ``grads``: it lives inside
    the backward scan, after the loss's buffers are freed (``loss_beside_rebuild``). 0 off ``Stack.scan_gathers``."""
    if not (getattr(st, "scan_gathers", False) and m.is_transformer):
        return np.zeros(len(c))
    return np.where(np.asarray(c.zero) >= 2, scan_unreduced_grad_elems(m, c.tp, c.etp, c.ep) * act_b, 0.0)


@dataclasses.dataclass(frozen=True, slots=True)
class StateBytes:
    """Bytes per parameter of the model states (``model_state_bytes_per_param``; a frozen base's per stored
    parameter, finetune.py) and per activation element (``ACT_BYTES``)."""
    weights: float  # the precision's weight bytes, before any FP8 storage (``StateContext.w_held``)
    grads: float
    master: float
    optimizer: float
    state: float  # master + optimizer per trained parameter, before a frozen base zeroes them (offloaded below)
    adapter_optimizer: float  # a frozen base's adapters: the optimizer's bytes per adapter parameter (0 otherwise)
    frozen: bool
    act: float


@dataclasses.dataclass(frozen=True, slots=True)
class ActivationTerms:
    """Activations and logits of the first and the last pipeline stage (bytes per GPU per candidate), and the
    activations offloaded to host RAM per GPU (``host``, added to either stage's)."""
    first_act: object
    last_act: object
    first_logits: object
    last_logits: object
    host: object = 0.0
    #: rank 0's activations apart (``RankActivations``), where the layers are priced per rank (a transformer); None:
    #: ``first_act`` is rank 0's, no middle rank told apart
    rank0_act: object = None
    #: per middle rank that can peak (``middle_rank_of``'s groups, mem43b), its activations and its rank per row
    #: (-1 where the row's split has no such rank)
    middle_act: tuple = ()
    middle_rank: tuple = ()
    #: per middle rank, the rows whose figure was priced (``middle_activations``: where the row has such a rank and,
    #: in the search, where the rank can beat rank 0); its activations elsewhere are 0 and unread
    middle_priced: tuple = ()


def frozen_layer_saves(m: ModelSpec, t: TrainingSpec, st, seq, tp_, cp_, sp_, mb_, rc_, ep_, fs_):
    """(saved bytes of one layer, the extra peak while one layer is rebuilt) of a frozen base (lora/qlora: what peft
    on the HF model code saves, finetune ``frozen_layer_activation_bytes``) at ``layer_saves``' keys: the tokens' saves
    over the cp split, a TP rank keeping hf_tp_share of them (until hfsp34: / tp), or under an HF EP plan
    hf_ep_rank_share (until hfep35 only the attention whole); the weight-sized part (autocast's per-call casts of an
    fp32 base, ParamWrapper's W + delta) at the rank's share of the weights they copy, not over cp (cpmem51): the
    routed experts' at theirs, each other part at its own (``hf_weight_part_shares``; until epw51 all at the
    model-wide ``hf_grad_share``, until lora52 the rest at one share)."""
    share = np.asarray(hf_tp_share(m, seq, mb_, tp_, sp_.astype(bool), rc_), dtype=np.float64)
    on_ep, plans = hf_ep_rows(m, st, tp_, ep_)
    if np.any(on_ep):
        from planner.model.activations_hf import hf_attn_impl, hf_padded
        impl = hf_attn_impl(m, t.flash_attention, hf_attn_choice(st, m, t), padded=hf_padded(t))
        share = np.broadcast_to(share, np.shape(on_ep)).copy()
        for i in np.flatnonzero(on_ep):
            prec = frozen_saves_precision(t, np.broadcast_to(fs_, share.shape)[i] == STREAM_FP32)
            share[i] = hf_rank_share(m, seq, np.broadcast_to(mb_, share.shape)[i],
                                     np.broadcast_to(tp_, share.shape)[i], False,
                                     np.broadcast_to(rc_, share.shape)[i], plans[on_ep[i]], prec, impl,
                                     hf_key_experts(m, st, np.broadcast_to(ep_, share.shape)[i])[0])
    tp_b, code_b, ep_b = np.broadcast_arrays(tp_, on_ep, ep_)
    shares = {key: hf_weight_part_shares(m, st, *key) for key in
              set(zip(tp_b.ravel().tolist(), code_b.ravel().tolist(), ep_b.ravel().tolist()))}
    w_share = np.moveaxis(np.reshape([shares[key] for key in zip(tp_b.ravel().tolist(), code_b.ravel().tolist(),
                                                                    ep_b.ravel().tolist())],
                                     tp_b.shape + (len(BlockWeights._fields),)), -1, 0)
    saves, rebuild = frozen_layer_activation_bytes(m, t, seq, mb_, rc_, fs_, cp_ / share, stack=st,
                                                   weight_split=tuple(1.0 / w_share))
    return saves, rebuild + frozen_ring_backward(m, t, st, seq, tp_, cp_, mb_, fs_)


def frozen_ring_backward(m: ModelSpec, t: TrainingSpec, st, seq, tp_, cp_, mb_, fs_):
    """Per key, the torch CP ring's backward buffers (``hf_ring_backward``) on a frozen base's rows (lora / qlora: peft
    on the HF code, whose attention runs the same ``context_parallel`` ring as a full fine-tune's; mem55, left by
    hfcp54): beside one layer's backward, like the rebuild, at the bytes of the q / k / v the attention receives --
    16-bit under autocast (its linears' output), else the stream's (``frozen_saves_precision``)."""
    autocast = st is not None and st.autocasts(t)
    fs = np.broadcast_to(np.asarray(fs_), np.broadcast(tp_, cp_, mb_, fs_).shape)
    act = np.array([2.0 if autocast else hf_precision(frozen_saves_precision(t, f == STREAM_FP32)).act
                    for f in fs.ravel()]).reshape(fs.shape)
    return hf_ring_backward(m, seq, mb_, tp_, cp_, act, st)


def _table_kw(m: ModelSpec, t: TrainingSpec, st, b: StateBytes) -> tuple:
    """(the activation table's keywords of ``st`` but the dispatcher's, ``dispatcher -> its keywords``): the
    dispatcher's (activations.dispatcher_table_kw) taken per layer key, so that one call prices rows of several
    dispatchers (layout.Candidates ``dispatcher``)."""
    # a frozen base on TE layers keeps no fp8 copy of a linear's input, its adapter the 16-bit one
    # (finetune ``TE_FROZEN_SAVES``): the 16-bit table
    precision = "bf16" if b.frozen and t.precision == "fp8" else t.precision
    tkw = dict(flash=t.flash_attention, dropout=t.dropout, act_bytes=b.act,
               **stack_table_kw(st, precision, recompute_modules(t, st, m), m))
    for k in DISPATCHER_TABLE_KW:
        del tkw[k]
    return tkw, functools.partial(dispatcher_table_kw, st)


def _table_setting(st, tkw: dict) -> tuple:
    """The table keywords ``tkw`` (``_table_kw``) as a memo's setting, with the dispatcher's keywords of each
    dispatcher (the keys carry which: a memo entry holds the bits of a call on that dispatcher's stack)."""
    return (tuple(sorted(tkw.items())),
            tuple(tuple(sorted(dispatcher_table_kw(st, d).items())) for d in MOE_DISPATCHER.names))


def layer_saves(m: ModelSpec, t: TrainingSpec, given, st, c: Candidates, seq, b: StateBytes, memo, keys, krc):
    """(mean saved bytes of one layer, the extra peak while one layer is rebuilt, that peak of each layer kind apart:
    {``layer_kinds`` name: bytes}, empty for a frozen base's one mean layer) at the activation keys ``keys``
    (tp, cp, sp, mb, ep, a2a: the a2a group of a2a+p2p CP, ``cp_a2a_keys``; fs: a frozen base's stream,
    ``frozen_stream_keys``; disp: the MoE token dispatcher, layout.Candidates ``dispatcher_codes``) and recompute codes ``krc``: the
    fused-kernel table (activations.mean_layer_activation_bytes, recompute_working_set; Korthikanti et al. 2022), a
    frozen base's peft saves (finetune.py), through the search's memo where there is one."""
    ktp, kcp, ksp, kmb, kep, ka2a, kfs, kdisp = keys
    frozen = b.frozen and peft_layer_saves(st)  # peft's saves (a frozen base on TE layers: the table's)
    # the table's settings, one value for every key (what the memo's setting holds, with the stack's fused softmax
    # keys); the dispatcher's keywords per key (``table_at``)
    tkw, at_dispatcher = _table_kw(m, t, st, b)

    def saves_at(tp_, cp_, sp_, mb_, rc_, ep_, a2a_, fs_, disp_):
        """(mean saved bytes of one layer, the extra peak while one layer is rebuilt) at layer keys"""
        if frozen:  # lora/qlora: what peft on the HF model code saves (finetune.py)
            return (*frozen_layer_saves(m, t, st, seq, tp_, cp_, sp_, mb_, rc_, ep_, fs_), {})
        # the keys whose explicit softmax keeps an fp32 output: Megatron's torch fallback by the step time's rule
        fb = saved_softmax_fp32(st, m, seq, mb_, tp_, cp_, b.act)

        kinds = []  # the layer kinds of kind_rebuilds, in its order

        def under(d):  # (mean layer saves, each kind's rebuild peak) under dispatcher ``d``, flat for per_dispatcher
            kw = dict(tp=tp_, cp=cp_, sp=sp_.astype(bool), ep=ep_, fp32_softmax=fb, **tkw, **at_dispatcher(d))
            per_layer = mean_layer_activation_bytes(m, seq, mb_, recompute=rc_, **kw)
            kw["cp_a2a"] = a2a_  # (the ring of a2a+p2p CP runs over cp / a2a: its buffers, recompute_working_set)
            each = kind_rebuilds(m, seq, mb_, rc_, kw)
            kinds[:] = each
            return per_layer, *each.values()
        per_layer, *each = per_dispatcher(st, disp_, under)
        each = dict(zip(kinds, each))
        # the model's: the largest any layer rebuilds; each kind's apart (``stage_kind_rws``: a rank's own kinds)
        return per_layer, functools.reduce(np.maximum, each.values()), each

    # a search's memo (step_time.LayerMemo) keeps these rows across its calls: each row depends only on its key
    # and on the setting (the model, the held training spec, the stack's table keywords, seq), not on the
    # other rows (elementwise), and the chunks, probes and stack variants of a search meet the same keys. The held
    # spec enters as the caller's (the same object across a search) and the weights held_training set: its
    # fresh copy per call (HF Trainer's autocast) added one memo entry a call, each kept alive by the memo
    setting = (("memory.layer_saves", memo.value(m), memo.value(given), t.weights, float(seq), frozen,
                _table_setting(st, tkw), getattr(st, "fused_softmax_keys", 0), getattr(st, "explicit_softmax", ""))
               if memo is not None and np.ndim(seq) == 0 else None)
    if setting is None:
        return saves_at(ktp, kcp, ksp, kmb, krc, kep, ka2a, kfs, kdisp)
    keys = (ktp, kcp, ksp, kmb, krc, kep, ka2a, kfs, kdisp)

    def rows(i):
        per_layer, rws, each = saves_at(*(k[i] for k in keys))
        return {"per_layer": per_layer, "rws": rws, **{"rws " + k: v for k, v in each.items()}}
    got = memo.rows(setting, keys, rows)
    return got["per_layer"], got["rws"], {k[4:]: v for k, v in got.items() if k.startswith("rws ")}


def kind_rebuilds(m: ModelSpec, seq, mb, rc, kw: dict) -> dict:
    """One layer's rebuild peak of each kind the model has (activations.recompute_working_set at ``kw``, the table's
    keywords ``layer_saves`` passes): a hybrid's blocks by pattern symbol (a hybrid layer is one block), else
    "dense" and, with MoE layers, "moe"."""
    if m.hybrid:
        return {k: recompute_working_set(m, seq, mb, recompute=rc, moe=k == "E", kind=k, **kw)
                for k in HYBRID_LAYER if m.kind_layers(k)}
    each = {"dense": recompute_working_set(m, seq, mb, recompute=rc, moe=False, **kw)}
    if m.moe_layers:
        each["moe"] = recompute_working_set(m, seq, mb, recompute=rc, moe=True, **kw)
    return each


def layer_kind_saves(m: ModelSpec, t: TrainingSpec, given, st, c: Candidates, seq, b: StateBytes, memo, keys, krc):
    """Saved bytes of one layer of each kind (``layer_kinds``: "dense" / "moe", or a hybrid's pattern symbols) at
    the keys of ``layer_saves`` (whose mean over the model's layers they are: activations.mean_layer_activation_bytes
    weighs these by their counts), or None where the model's layers are of one kind or a frozen base's peft saves
    price them (finetune.py: one mean layer). A pipeline stage sums its own layers' (``stage_kind_bytes``)."""
    names = sorted(set(layer_kinds(m)))
    if len(names) < 2 or (b.frozen and peft_layer_saves(st)):
        return None
    ktp, kcp, ksp, kmb, kep = keys[:5]
    kdisp = keys[7]
    tkw, at_dispatcher = _table_kw(m, t, st, b)

    def kinds_at(tp_, cp_, sp_, mb_, rc_, ep_, disp_):
        kw = dict(tp=tp_, cp=cp_, sp=sp_.astype(bool), ep=ep_, recompute=rc_,
                  fp32_softmax=saved_softmax_fp32(st, m, seq, mb_, tp_, cp_, b.act), **tkw)

        def under(d):  # each kind's saves under dispatcher ``d``, in ``names``' order (per_dispatcher)
            if m.hybrid:
                return tuple(layer_activation_bytes(m, seq, mb_, moe=k == "E", kind=k, **kw, **at_dispatcher(d))
                             for k in names)
            return tuple(layer_activation_bytes(m, seq, mb_, moe=k == "moe", **kw, **at_dispatcher(d)) for k in names)
        return dict(zip(names, per_dispatcher(st, disp_, under)))

    setting = (("memory.layer_kind_saves", memo.value(m), memo.value(given), t.weights, float(seq),
                _table_setting(st, tkw), getattr(st, "fused_softmax_keys", 0), getattr(st, "explicit_softmax", ""))
               if memo is not None and np.ndim(seq) == 0 else None)
    if setting is None:
        return kinds_at(ktp, kcp, ksp, kmb, krc, kep, kdisp)
    cols = (ktp, kcp, ksp, kmb, krc, kep, kdisp)
    return memo.rows(setting, cols, lambda i: kinds_at(*(k[i] for k in cols)))


def _kind_saves(m: ModelSpec, t: TrainingSpec, given, st, c: Candidates, seq, b: StateBytes, memo, keys, codes, inv,
                rws, every, raw=None):
    """Each layer kind's saves per candidate (``layer_kind_saves`` at the recompute codes ``codes`` = (the rows', the
    same rows' without recompute), gathered by ``inv``) through the partial recompute the mean layer takes
    (``_partial_recompute_saves``: a stage's recomputed share f of every kind's layers), or None. ``raw`` (a dict):
    given, receives "full" (each kind at the rows' codes) and "none" (a callable: each kind without recompute)."""
    krc, krc0 = codes
    kinds = layer_kind_saves(m, t, given, st, c, seq, b, memo, keys, krc)
    if kinds is None:
        return None
    kinds0 = {}

    def kind0(k):  # the unrecomputed saves, computed once and only where a partial-recompute row needs them
        if not kinds0:
            kinds0.update(layer_kind_saves(m, t, given, st, c, seq, b, memo, keys, krc0))
        return [kinds0[k][inv], rws]
    if raw is not None:  # each kind at the rows' code and without recompute (chunk_activations' rebuilt chunks)
        raw["full"] = {k: x[inv] for k, x in kinds.items()}
        raw["none"] = lambda: {k: kind0(k)[0] for k in kinds}
    return {k: _partial_recompute_saves(m, t, c, x[inv], rws, lambda k=k: kind0(k), every)[0]
            for k, x in kinds.items()}


@functools.lru_cache(maxsize=512)
@functools.lru_cache(maxsize=512)
def _middle_reps(sig: tuple, k: int, v: int, counts: tuple, prune: bool = False) -> tuple[int, ...]:
    """The middle ranks (1 .. pp - 2) of one split (``counts`` per virtual stage, virtual stage j pp + r chunk j of
    rank r) that can hold the middle ranks' peak, ascending: the first rank of each distinct content, ``sig`` one
    hashable per global layer (its kind, parameters and whether it is kept 16-bit: ``_layer_signatures``), chunk by
    chunk. Two ranks of the same content hold the same states and the same bytes a micro-batch, and the earlier one
    holds at least as many micro-batches in flight (1F1B: pp - r, Megatron-Core schedules.py
    ``num_warmup_microbatches = pipeline_parallel_size - pipeline_parallel_rank - 1`` and one steady forward;
    interleaved: a later rank runs a prefix of the earlier one's forwards, ``pipeline.chunk_inflight``), so only the
    first can peak. Rank 1 is always the first. Empty for pp <= 2 and DualPipeV's V (no rank between the ends).
    ``prune`` (where each chunk's bytes are its layers' sum by kind: ``_prune_middle``): also a rank no more of whose
    layers of any kind on any chunk, parameters (dense, expert, 16-bit kept) than an earlier rank's kept here hold:
    its states, saves chunk by chunk and rebuild are no larger, its micro-batches in flight no more."""
    if v == V_SPLIT or k <= 2:
        return ()
    edges = np.cumsum((0,) + counts)
    chunks = [tuple(sig[edges[j * k + r]:edges[j * k + r + 1]] for j in range(v)) for r in range(k)]
    seen = {}
    for r in range(1, k - 1):
        seen.setdefault(chunks[r], r)
    reps = sorted(seen.values())
    if not prune:
        return tuple(reps)
    kinds = sorted({x[0] for x in sig})
    load = {r: np.array([sum(x[0] == q for x in ch) for ch in chunks[r] for q in kinds]
                        + [sum(x[i] * (x[3] if kept else 1) for ch in chunks[r] for x in ch)
                           for i in (1, 2) for kept in (False, True)]) for r in reps}
    kept = []
    for r in reps:
        if not any((load[q] >= load[r]).all() for q in kept):
            kept.append(r)
    return tuple(kept)


@functools.lru_cache(maxsize=512)
def _rank0_covers(sig: tuple, k: int, v: int, counts: tuple) -> tuple[bool, ...]:
    """Per pipeline rank of one split (``_middle_reps``' arguments): whether rank 0 holds, chunk by chunk, every
    layer that rank holds (the same ``_layer_signatures`` entry: kind, parameters, 16-bit keep), i.e. rank 0's
    chunk j is that rank's chunk j plus further layers; all False under DualPipeV's V (no middle rank)."""
    if v == V_SPLIT or k <= 2:
        return (False,) * max(k, 0)
    edges = np.cumsum((0,) + counts)
    held = [[collections.Counter(sig[edges[j * k + r]:edges[j * k + r + 1]]) for j in range(v)] for r in range(k)]
    return tuple(all(not (held[r][j] - held[0][j]) for j in range(v)) for r in range(k))


def middle_settled(m: ModelSpec, st, c: Candidates, group: int) -> np.ndarray:
    """Per row, whether the ``group``-th middle rank that can peak (``middle_rank_of``) provably holds no more memory
    than rank 0, so the search (``memory_per_gpu`` without ``ranks``) need not price it: its figure can only
    lose to rank 0's (``peak_rank_class`` takes the middle where it is strictly larger), and only where it wins
    does it reach an output. A sound bound, not an estimate: where it holds, the exact figures obey
    total(middle) <= total(rank 0).

    Proof. Where rank 0's chunk j holds every layer the middle rank r's chunk j holds (``_rank0_covers``: the same
    kind, dense and expert parameters and 16-bit keep), for every j:

    * states: rank r's weights, gradients and optimizer are sums over its layers' parameters (``state_weights``,
      ``state_grads``, ``state_optimizer``: per-parameter bytes, ZeRO / FSDP shards and buckets, Muon's split by
      matrix, each nondecreasing in the parameters held) and rank 0 holds those layers, further ones and the
      embedding (``ends``), each adding bytes >= 0; the gathered windows (``largest``) are per state key, the same
      for both;
    * saves: a chunk's bytes are its layers' sum by kind (``stage_kind_bytes``, ``chunk_activations``: without
      partial recompute, the rows this bound keeps) and rank 0's chunks hold a superset, while rank 0 holds at
      least rank r's micro-batches in flight on every chunk (1F1B pp - 0 >= pp - r; interleaved: rank r runs a
      prefix of rank 0's forwards, ``pipeline.chunk_inflight``; GPipe and DualPipe alike on every rank), plus the
      embedding's output;
    * rebuild: the largest of the rank's own kinds' (``stage_kind_rws``), and rank 0 holds each kind rank r does;
    * logits and the loss beside them are every rank class's ``first_logits``; ``other`` grows with activations.

    Every step is a sum or product of nonnegative terms, and IEEE rounding is monotone, so the inequality holds
    for the computed figures too. Not settled (priced exactly): rows under partial full recompute (Megatron's block
    / uniform N: a chunk's kept inputs sit at its first layers' kinds, not a superset's), torchtitan's layer SAC (a
    rank's share by position), combined 1F1B (the MoE all-to-all overlap: a pair's one layer is its chunk's mean
    layer, and a later rank may run pairs rank 0 does not), and a model priced per sample (no ranks). tests/
    test_speed44.py checks the bound against the exact figures on random rows."""
    n = len(c)
    if not n or not m.is_transformer or not m.layers or not _prune_middle(m, st):
        return np.zeros(n, dtype=bool)
    splits, lay = _middle_splits(m, st, c)
    sig = _layer_signatures(m, st)
    # (a split's rows of partial recompute are those it does not prune: never settled)
    cover = np.array([prune and group < len(reps) and _rank0_covers(sig, k, v, counts)[reps[group]]
                      for (k, v, counts, prune), reps in ((s, split_middle_reps(m, st, *s)) for s in splits)],
                     dtype=bool)
    return cover[lay]


def _partial_rows(c) -> np.ndarray:
    """Per row, whether it runs partial full recompute (``rc`` full with a block or uniform N)."""
    n = len(c)
    rc, rn, rg = (np.broadcast_to(np.asarray(x), (n,)) for x in (c.rc, getattr(c, "rn", 0), getattr(c, "rg", 1)))
    return (rc == 2) & ((rn > 0) | (rg > 1))


def overlap_rows(m: ModelSpec, st, c):
    """Whether the rows run Megatron-Core's combined-1F1B all-to-all overlap (an MoE model): the stack's
    ``moe_a2a_overlap``, or each row's own (layout.Candidates ``overlap_flags``): a bool where every row runs the
    same, else a bool per row."""
    own = bool(m.moe is not None and getattr(st, "moe_a2a_overlap", False))
    return c.overlap_flags(own) if m.moe is not None and isinstance(c, Candidates) else own


def overlap_call(m: ModelSpec, st, c: Candidates) -> tuple:
    """(stack, rows) of an activations call whose rows carry their own overlap (``overlap_rows``; a search's overlap
    twins in one call, recommend ``_search_twins``): where they differ, each row's value made explicit and the stack's
    set on, so that no middle rank is pruned or settled for any row and any subset of the rows (``_prune_middle``
    reads the stack): the rows with the overlap get the figures of a call on its stack; the rows without it those of
    a call on theirs, the middle ranks such a call prunes or settles never winning (``_middle_reps``' "no larger",
    ``middle_settled``'s bound, the peak taken where strictly larger). One value on every row: the stack's is set
    to it (unchanged where it is the stack's)."""
    ov = overlap_rows(m, st, c)
    if np.ndim(ov):
        return dataclasses.replace(st, moe_a2a_overlap=True), dataclasses.replace(c, a2a_overlap=ov.astype(np.int64))
    if ov != bool(m.moe is not None and getattr(st, "moe_a2a_overlap", False)):
        return dataclasses.replace(st, moe_a2a_overlap=ov), c
    return st, c


def _prune_middle(m: ModelSpec, st) -> bool:
    """Whether the stack lets ``_middle_reps`` drop a middle rank another earlier one holds more of everything than
    (each chunk's saved bytes then grow with its layers of each kind): not under torchtitan's layer SAC (a rank's share
    by position) or combined 1F1B (a pair's one layer is its chunk's mean layer), nor where torch.distributed.pipelining
    holds receive buffers (``Stack.pp_recv_per_microbatch``: a middle rank holds forward receive buffers rank 0 has none
    of, ``memory_stages.fwd_recv_buffers``, so rank 0 no longer bounds it; until session 54's integrator the search
    settled such ranks and under-priced torchtitan PP rows whose middle rank peaks: tests/test_speed44.py). A row's own
    partial full recompute rules it out too (``_middle_splits``)."""
    return not (getattr(st, "layer_sac_every", 0) or (m.moe is not None and getattr(st, "moe_a2a_overlap", False))
                or getattr(st, "pp_recv_per_microbatch", False))


def _middle_splits(m: ModelSpec, st, c) -> tuple:
    """(the distinct (pp, vpp, counts per virtual stage, prune) of the rows, each row's index among them):
    ``_row_splits``' split with whether ``_middle_reps`` prunes it for that row -- where the stack allows it
    (``_prune_middle``) and the row runs no partial full recompute (``_partial_rows``: Megatron's block / uniform N,
    whose chunks keep their inputs at their first layers' kinds, ``_chunk_rebuilt_counts``, so fewer layers of each
    kind need not mean fewer bytes). Per row, so that which middle rank a group index names (``middle_rank_of``) is
    the row's own, whatever rows share its call: until prune52 (2026-12-07) one call decided for all its rows (any
    row of partial recompute: none pruned), and ``middle_activations`` re-priced each further group on a subset of the
    rows that could decide the other way -- DeepSeek-V3's PP 15 VPP 5 split keeps middle ranks (1, 2, 4) unpruned and
    (1, 4) pruned, so beside a block-recompute row its group 1 was rank 2 in the call and rank 4 in the subset that
    priced it: rank 2's states with rank 4's activations, 0.23 GiB off its own call's middle total."""
    if isinstance(c, Candidates):  # (found once per rows: every middle figure of a call reads it)
        return c.kept("memory._middle_splits", lambda: _find_middle_splits(m, st, c),
                      ("pp", "split_vpp", "tp", "rc", "rn", "rg"), m, st)
    return _find_middle_splits(m, st, c)


def _find_middle_splits(m: ModelSpec, st, c) -> tuple:
    """``_middle_splits`` found."""
    splits, lay = _row_splits(m, st, c) if isinstance(c, Candidates) else _find_row_splits(m, st, c)
    prune = (~_partial_rows(c) if _prune_middle(m, st) else np.zeros(len(c), dtype=bool)).astype(np.int64)
    (ks, kp), inv = distinct_rows(np.asarray(lay, dtype=np.int64), prune)
    return [(*splits[s], bool(p)) for s, p in zip(ks.tolist(), kp.tolist())], inv


def split_middle_reps(m: ModelSpec, st, k: int, v: int, counts: tuple, prune: bool) -> tuple[int, ...]:
    """``_middle_reps`` of one split (pruned where ``prune``: ``_middle_splits``' entry, the row's own): the one list
    every middle figure of a call reads (``middle_rank_of``, ``stage_kind_bytes``, ``stage_kind_rws``,
    ``middle_settled``; ``chunk_activations`` and ``rank_block_activations`` through ``middle_rank_of``)."""
    return _middle_reps(_layer_signatures(m, st), k, v, tuple(int(x) for x in counts), prune)


class _Signatures(tuple):
    """``_layer_signatures``' tuple with its hash computed once: ``_middle_reps`` and ``_rank0_covers`` are cached
    on it, asked tens of thousands of times a search (a DeepSeek-V3 search's 35,560 ``split_middle_reps`` calls each
    hashed its 61 layers' entries again; speed44). Equal to, and hashing as, the plain tuple."""

    def __hash__(self):
        got = self.__dict__.get("_hash")
        if got is None:
            got = self.__dict__["_hash"] = tuple.__hash__(self)
        return got


_SIGNATURES: dict = {}  # id(model) -> (model, lp16 ranges, signatures): ``_layer_signatures``, a few models a search


def _layer_signatures(m: ModelSpec, st) -> tuple:
    """One hashable per global layer for ``_middle_reps``: its ``layer_kinds`` kind, its (dense, expert) parameters
    (memory_stages ``layer_params``) and whether Megatron-Core keeps it 16-bit under the fp8/fp4 recipe
    (``pipeline.lp16_layers``' global ranges). Kept per model object (a ModelSpec is not hashable; the entry holds it,
    so its id is not reused)."""
    first, last = (int(getattr(st, q, 0) or 0) for q in ("lp_bf16_first_layers", "lp_bf16_layers"))
    got = _SIGNATURES.get(id(m))
    if got is not None and got[0] is m and got[1] == (first, last):
        return got[2]
    dense, exp = layer_params(m)
    n = len(dense)
    sig = _Signatures((q, float(d), float(e), i < first or i >= n - last)
                      for i, (q, d, e) in enumerate(zip(layer_kinds(m), dense, exp)))
    if len(_SIGNATURES) >= 16:
        _SIGNATURES.clear()
    _SIGNATURES[id(m)] = (m, (first, last), sig)
    return sig


def middle_groups(m: ModelSpec, st, c) -> int:
    """How many middle ranks of the rows' splits can peak (``_middle_reps``, the most of any row): the middle rank
    class is priced once for each (``rank_class_rows``), 1 where the middle ranks are alike."""
    if not m.is_transformer or not m.layers or not len(c):
        return 0
    splits, _ = _middle_splits(m, st, c)
    return max((len(split_middle_reps(m, st, *s)) for s in splits), default=0)


def middle_rank_of(m: ModelSpec, st, c, group: int = 0, keys=None) -> tuple[np.ndarray, np.ndarray]:
    """(rank, its layers) per row of the ``group``-th middle rank that can peak (``_middle_reps``): rank 1 for group
    0, -1 (and rank 1's layers, unread) where the row's split has no such rank. ``keys``: (each row's key, the
    number of keys), the figures per key instead (a key's rows share one split: ``rank_activations``' keys)."""
    if keys is not None:
        got = middle_rank_of(m, st, c, group)
        out = tuple(np.zeros(keys[1], dtype=x.dtype) for x in got)
        for k_, x in zip(out, got):
            k_[keys[0]] = x
        return out
    if isinstance(c, Candidates):  # found once per rows and split (a call asks for each group a few times)
        return c.kept(f"memory.middle_rank_of.{group}", lambda: _middle_rank_rows(m, st, c, group),
                      ("pp", "split_vpp", "tp", "rc", "rn", "rg"), m, st)
    return _middle_rank_rows(m, st, c, group)


def _middle_rank_rows(m: ModelSpec, st, c, group: int) -> tuple[np.ndarray, np.ndarray]:
    """``middle_rank_of`` found."""
    n = len(c)
    if not n or not m.is_transformer or not m.layers:
        return np.full(n, -1, dtype=np.intp), np.zeros(n)
    splits, lay = _middle_splits(m, st, c)
    # per split (a few), then gathered: one pass over the rows, not one a split (speed44)
    tab_r, tab_h = np.empty(len(splits), dtype=np.intp), np.empty(len(splits))
    for i, (k, v, counts, prune) in enumerate(splits):
        reps = split_middle_reps(m, st, k, v, counts, prune)
        tab_r[i] = r = reps[group] if group < len(reps) else -1
        tab_h[i] = rank_sums(counts, k, v)[r if r >= 0 else min(1, k - 1)]
    return tab_r[lay], tab_h[lay]


def _layout_kind_shares(lk: tuple, names: tuple, k: int, v: int, counts: tuple, rank: int = -1) -> np.ndarray:
    """(kinds x (2 + mixes)) of one split (``counts`` per virtual stage, virtual stage j on rank ``stage_ranks``):
    rank 0's layers of each kind over its layer count, the last rank's over its, and middle rank ``rank``'s over its
    own (``middle_rank_of``; mem43b); under DualPipeV's V each distinct kind mix of every rank but 0 over the fullest
    (``stage_layer_ends``); with no middle rank (pp <= 2, ``rank`` -1) rank 0's again (memory_stages
    ``stage_layer_microbatches`` reads 0 there). ``lk`` the model's ``layer_kinds``. Cached: a search meets the same few
    splits in every chunk."""
    ranks = rank_kind_layers(kind_weights(lk, names), counts, k, v)  # kinds x ranks
    held = ranks.sum(axis=0)
    if v != V_SPLIT:
        own = ranks[:, rank:rank + 1] / max(held[rank], 1.0) if rank > 0 else ranks[:, :1] / max(held[0], 1.0)
        out = np.concatenate([ranks[:, :1] / max(held[0], 1.0), ranks[:, k - 1:k] / max(held[k - 1], 1.0), own], axis=1)
        out.setflags(write=False)
        return out
    mid = list(range(1, k))
    # (a V over one rank, DualPipeV at pp 1, has no rank past 0 and no middle rank: n1 is unread there, and max()
    # of nothing raised on such a row, fuzz42)
    n1 = max(held[1:], default=0)
    first = ranks[:, :1] / max(held[0], 1.0)
    mixes = (np.array(sorted(set(map(tuple, ranks[:, mid].T.tolist())))).T / max(n1, 1.0) if mid else first)
    out = np.concatenate([first, ranks[:, k - 1:k] / max(held[k - 1], 1.0), mixes], axis=1)
    out.setflags(write=False)
    return out


def stage_kind_bytes(m: ModelSpec, st, c: Candidates, kinds, group: int = 0):
    """(rank 0, the peak middle rank, the last rank) saved bytes per layer of each rank's own layers, per candidate:
    the rank's layers of each kind (the split --emit launches, ``split_per_row`` at ``split_runtime``, virtual stage
    j on rank ``stage_ranks``; as memory_stages ``_split_stage_params`` counts their parameters) times that kind's bytes
    (``kinds``, ``layer_kind_saves``), over the rank's layer count. The middle one is the ``group``-th middle rank
    that can peak (``middle_rank_of``) over its own count; until mem43b the largest sum of any rank between the
    ends over rank 1's count, a bound paired with rank 1's micro-batches in flight. Under DualPipeV's V (no rank
    between the ends) the largest mix of every rank but 0 over the fullest one's count. Until stagekinds38 every rank's layer was the model's mean layer: DeepSeek-V3's rank 0
    under Megatron-Bridge's ``Et*4|...`` layout (3 dense + 1 MoE layers) read 4 mean layers, 1,935 KB a token
    against its own 1,610 (bf16, TP 1, no recompute; tests/test_stagekinds38.py)."""
    names = tuple(sorted(kinds))
    lk = layer_kinds(m)
    n = len(c)
    if not n:  # no rows, no layout: the table below is stacked from one matrix per layout (fuzz42: an empty batch
        # of a model with several layer kinds raised max() of nothing)
        return (np.zeros(0),) * 3
    per = np.stack([np.broadcast_to(np.asarray(kinds[k], dtype=np.float64), (n,)) for k in names])
    # per distinct layout (a few): each kind's share of rank 0's, the last rank's and each middle kind mix's
    # layers over the count the rank's layer-micro-batches take, gathered to the rows (no loop per candidate)
    splits, lay = _middle_splits(m, st, c)  # (each row's split and its own middle ranks)
    reps = [split_middle_reps(m, st, *x) for x in splits]
    coef = [_layout_kind_shares(lk, names, k, v, counts, r[group] if group < len(r) else -1)
            for (k, v, counts, _), r in zip(splits, reps)]  # (kinds x (2 + mixes)) each
    width = max(x.shape[1] for x in coef)
    # a layout with fewer mixes repeats its first (the max over them unchanged)
    tab = np.stack([np.concatenate([x, np.repeat(x[:, 2:3], width - x.shape[1], axis=1)], axis=1) for x in coef])
    # a column at a time, the kinds summed in order (elementwise: a row's value whatever the batch around it)
    got = [sum(tab[lay, q, j] * per[q] for q in range(len(names))) for j in range(width)]
    w0, wl, w1 = got[0], got[1], np.maximum.reduce(got[2:])
    if getattr(st, "activation_offload", False):  # pp 1 only (offload.valid_mask): the GPU keeps the last layers
        solo = np.asarray(c.pp) == 1
        w0 = np.where(solo, offload_kind_bytes(m, st, kinds)[1], w0)
    return w0, w1, wl


def _row_splits(m: ModelSpec, st, c: Candidates) -> tuple:
    """(the distinct splits ((pp, vpp, counts per virtual stage), the one --emit launches: ``split_per_row`` at
    ``split_runtime``), each row's index among them): ``stage_kind_bytes`` and ``stage_kind_rws`` read the rows'
    layer kinds per split, not per row; found once per Candidates (``Candidates.kept``: both read it in a call)."""
    if isinstance(c, Candidates):
        return c.kept("memory._row_splits", lambda: _find_row_splits(m, st, c), ("pp", "split_vpp", "tp"), m, st)
    return _find_row_splits(m, st, c)


def _find_row_splits(m: ModelSpec, st, c) -> tuple:
    """``_row_splits`` found."""
    n = len(c)
    runtime = split_runtime(st, m)
    (kpp, kv, ktp), inv = distinct_rows(np.broadcast_to(c.pp, (n,)), np.broadcast_to(split_vpp(c), (n,)),
                                        np.broadcast_to(c.tp if tp_dependent(runtime) else 1, (n,)))
    lay = np.zeros(len(kpp), dtype=np.intp)
    splits = []
    for i, (rows, (k, v, _), counts) in enumerate(split_per_row(m.layers, kpp, kv, ktp, runtime)):
        lay[rows] = i
        splits.append((k, v, tuple(int(x) for x in counts)))
    return splits, lay[inv]


def mtp_kinds(m: ModelSpec) -> dict:
    """The layer kinds one MTP depth runs, {``layer_kinds`` name: layers of it}: a DeepSeek-V3 depth is one
    transformer layer (an MoE one where the model has MoE layers), a hybrid's "*E" (or "*-") two blocks
    (Megatron-Core builds them on the last stage, after the decoder)."""
    if m.hybrid:
        return {"*": 1.0, ("E" if m.moe is not None else "-"): 1.0}
    return {("moe" if m.moe is not None and m.moe_layers else "dense"): 1.0}


@functools.lru_cache(maxsize=512)
def _layout_kinds_held(lk: tuple, names: tuple, k: int, v: int, counts: tuple, mtp: tuple,
                       rank: int = -1) -> np.ndarray:
    """(kinds x 3) whether rank 0, middle rank ``rank`` (``stage_kind_bytes``' middle, ``middle_rank_of``; -1: none;
    under DualPipeV's V any of ranks 1 .. pp - 1) and the last rank hold a layer of each kind of ``names``, the MTP
    kinds ``mtp`` on the rank holding the head (``head_rank``; the last, rank 0 under the V, the one rank at pp 1)."""
    ranks = rank_kind_layers(kind_weights(lk, names), counts, k, v) > 0  # kinds x ranks
    ranks[[names.index(q) for q in mtp if q in names], head_rank(k, v)] = True
    mid = ranks[:, 1:k] if v == V_SPLIT else ranks[:, rank:rank + 1] if rank > 0 else ranks[:, :0]
    out = np.stack([ranks[:, 0], mid.any(axis=1), ranks[:, k - 1]], axis=1)
    out.setflags(write=False)
    return out


def stage_kind_rws(m: ModelSpec, st, c: Candidates, kind_rws: dict, inv=None, group: int = 0) -> tuple:
    """(rank 0, the middle ranks, the last rank) rebuild peak per candidate: the largest of ``kind_rws`` (one layer's
    working set of each kind, ``layer_saves``) over the kinds the rank holds (``_layout_kinds_held``, the split
    --emit launches, counted by ``pipeline.rank_kind_layers`` as the step time's pacing rank and the stages'
    parameters are), 0 on a middle rank where there is none. Megatron-Core rebuilds a rank's own layers one at a
    time in its backward (tensor_parallel/random.py ``CheckpointFunction``; transformer_block.py
    ``_checkpointed_forward``), so a rank of DeepSeek-V3's dense layers never holds an MoE layer's rebuild (its
    routed tokens and, under the all-to-all dispatcher, its dispatch copies: 1.53 against 2.94 GB a 4096-token
    sequence at EP 8, bf16), nor a hybrid rank without attention blocks the CP ring's buffers. Until stagemem42
    every rank took the model's largest (``layer_saves``' rws). The middle is the ``group``-th middle rank that can
    peak (``middle_rank_of``), its own kinds' (until mem43b the largest of any middle rank's, beside
    ``stage_kind_bytes``' largest mix at rank 1's micro-batches). ``inv``: each row's index into
    ``kind_rws``' distinct activation keys (the three figures found per (split, key), then gathered), None: per row."""
    if not len(c):  # no rows, no splits to stack (recommend's probes may hand none; fuzz42)
        return tuple(np.zeros(0) for _ in range(3))
    names = tuple(sorted(kind_rws))
    lk = layer_kinds(m)
    mtp = tuple(mtp_kinds(m)) if m.mtp_layers else ()
    splits, lay = _middle_splits(m, st, c)  # (each row's split and its own middle ranks)
    # the middle: the group-th middle rank that can peak (middle_rank_of), its own kinds
    reps = [split_middle_reps(m, st, *x) for x in splits]
    held = np.stack([_layout_kinds_held(lk, names, k, v, counts, mtp, r[group] if group < len(r) else -1)
                     for (k, v, counts, _), r in zip(splits, reps)])  # S x kinds x 3
    width = len(c) if inv is None else None
    per = np.stack([np.broadcast_to(np.asarray(kind_rws[q], dtype=np.float64), (width,) if width else
                                    np.shape(kind_rws[q])) for q in names])  # kinds x keys
    tab = (held[:, :, None, :] * per[None, :, :, None]).max(axis=1)  # splits x keys x 3 (rebuilds are >= 0)
    at = np.arange(len(c)) if inv is None else inv
    return tuple(tab[lay, at, j] for j in range(3))


def offload_kind_bytes(m: ModelSpec, st, kinds):
    """(host bytes, the GPU's mean bytes per resident layer) of one micro-batch under activation offload (pp 1) at
    each layer's own kind (``kinds``): TE's ``OffloadSynchronizer`` offloads layers 0 .. N - 1 (offload module
    docstring; transformer_engine/pytorch/cpu_offload.py), so the host holds the first N
    (``offload.offloaded_layers``) and the GPU the rest (``offload.resident_layers``): DeepSeek-V3's three dense
    layers go to the host first."""
    names = sorted(kinds)
    lk = layer_kinds(m)
    L = len(lk)
    n_off = int(round(float(offload.offloaded_layers(L, st))))
    n_res = float(offload.resident_layers(float(L), st))
    start = max(L - int(round(n_res)), 0)

    def of(a, b):
        return sum(sum(1 for x in lk[a:b] if x == k) * np.asarray(kinds[k], dtype=np.float64) for k in names)
    return of(0, n_off), of(start, L) / max(n_res, 1.0)


@functools.lru_cache(maxsize=512)
def _chunk_kind_table(lk: tuple, names: tuple, k: int, v: int, counts: tuple, n: int = 0,
                      uniform: bool = False) -> tuple:
    """(kinds x chunk x rank) layers of each kind of ``names`` on each model chunk of each rank of one interleaved
    split (``counts`` per virtual stage, virtual stage j pp + r chunk j of rank r, ``stage_ranks``), and the same of
    the layers whose input each chunk keeps under Megatron's full recompute (``_chunk_rebuilt_counts``; zeros at n
    0): block, the chunk's first ``n`` layers; ``uniform``, the first layer of each group of ``n`` (chunk positions
    0, n, 2n, ...). ``lk`` the model's ``layer_kinds``. The one count both ``_chunk_kind_counts`` and
    ``_chunk_rebuilt_counts`` read."""
    edges = np.cumsum((0,) + counts)
    # virtual stage s = j k + r is chunk j of rank r: the stages' kinds (kinds x stages) as (kinds x v x k)
    every = stage_kind_layers(kind_weights(lk, names), counts).reshape(len(names), v, k)
    first_n = np.zeros((len(names), v, k))
    for s in range(len(counts)):
        j, r = divmod(s, k)
        for i, x in enumerate(lk[edges[s]:edges[s + 1]]):
            first_n[names.index(x), j, r] += (i % n == 0) if (uniform and n) else i < n
    every.setflags(write=False)  # cached: its callers' slices are views into it
    first_n.setflags(write=False)
    return every, first_n


@functools.lru_cache(maxsize=512)
def _chunk_kind_counts(lk: tuple, names: tuple, k: int, v: int, counts: tuple) -> tuple:
    """Each rank's layers of each kind per model chunk of one interleaved split (``_chunk_kind_table``): (rank 0's
    (kinds x v), the last rank's, the ranks between's in rank order (rank r at r - 1), empty for pp <= 2)."""
    per = _chunk_kind_table(lk, names, k, v, counts)[0]
    return per[:, :, 0], per[:, :, k - 1], tuple(per[:, :, r] for r in range(1, k - 1))


@functools.lru_cache(maxsize=512)
def _chunk_rebuilt_counts(lk: tuple, names: tuple, k: int, v: int, counts: tuple, n: int, chunk: int,
                          uniform: bool = False) -> tuple:
    """Megatron-Core's ``--recompute-method block|uniform --recompute-num-layers n`` chunk by chunk on one
    interleaved split (``counts`` per virtual stage, virtual stage j pp + r chunk j of rank r): each model chunk is
    its own TransformerBlock (transformer_block.py ``TransformerBlock.__init__``: ``self.num_layers_per_pipeline_rank
    = len(self.layers)``, the chunk's own layers). ``_checkpointed_forward``'s block loop (``for l in
    range(self.num_layers_per_pipeline_rank): if l < self.config.recompute_num_layers``) checkpoints the chunk's first
    n layers, each keeping its input, and runs the rest plain; its uniform loop (``while l <
    self.num_layers_per_pipeline_rank: checkpoint(custom(l, l + recompute_num_layers)); l += recompute_num_layers``)
    keeps one input per group of n of the chunk's layers (the last group the remainder), ceil(C / n) of a C-layer
    chunk, and runs none plain. Per rank (0, the last, the distinct ones between): (layers of each kind per chunk,
    those whose input is kept, the plain ones (kinds x v each), exact) -- ``exact`` where every chunk's kept inputs
    of each kind are the share ``_partial_recompute_saves`` takes of all (block min(n, chunk) / chunk, uniform
    ceil(chunk / n) / chunk, ``chunk`` the fullest chunk's layers, ``pipeline.chunk_layers``): there the mean
    layer's mix is the same sum, and its figure is kept. The ranks between in rank order (rank r at r - 1). The counts
    are ``_chunk_kind_table``'s."""
    every_all, kept_all = _chunk_kind_table(lk, names, k, v, counts, n, uniform)
    share = -(-chunk // n) if uniform else min(n, chunk)

    def rank(r):
        every, kept = every_all[:, :, r], kept_all[:, :, r]
        plain = np.zeros_like(every) if uniform else every - kept
        return every, kept, plain, bool((kept * chunk == share * every).all())
    return rank(0), rank(k - 1), tuple(rank(r) for r in range(1, k - 1))


@functools.lru_cache(maxsize=1024)
def _stacked_inflight(pp: int, v: int, rank: int, group, paired: int, ms: tuple) -> np.ndarray:
    """(len(ms) x S x v): ``pipeline.chunk_inflight`` at each step micro-batch count of ``ms``, each padded with its
    first vector to the longest (the max over them unchanged); ``paired`` (combined 1F1B, the MoE all-to-all
    overlap): ``pipeline.chunk_inflight_paired``'s (S x (v + 1)), the states before each pair and the pair's forward
    chunk. Cached: a search's chunks meet the same few."""
    hs = [chunk_inflight_paired(pp, mm, v, rank, group) if paired else chunk_inflight(pp, mm, v, rank, group)
          for mm in ms]
    top = max(h.shape[0] for h in hs)
    out = np.stack([np.concatenate([h, np.repeat(h[:1], top - h.shape[0], axis=0)]) for h in hs])
    out.setflags(write=False)
    return out


def _partial_keys(c: Candidates, rebuilt) -> np.ndarray:
    """Each row's partial full recompute as one key (``chunk_activations``, ``rank_block_activations``): the block N
    (``c.rn``), minus the uniform group (``c.rg`` > 1), 0 for every layer checkpointed alike or where no unmixed
    saves are given (``rebuilt`` None: the HF table's mean layer)."""
    n = len(c)
    full = np.broadcast_to(np.asarray(c.rc), (n,)) == 2
    rn = np.broadcast_to(np.asarray(c.rn), (n,))
    rg = np.broadcast_to(np.asarray(c.rg), (n,))
    if rebuilt is None:
        return np.zeros(n, dtype=np.int64)
    return np.where(full & (rn > 0), rn, np.where(full & (rg > 1), -rg, 0)).astype(np.int64)


def chunk_activations(m: ModelSpec, st, c: Candidates, m_rows, a2a: bool, per_layer, kinds, mtp, keys=None,
                      rebuilt=None, akey=None, group: int = 0):
    """Interleaved rows' (rank 0, the peak middle rank, the last rank) activations summed chunk by chunk, or None
    where no row runs the interleaved schedule: each chunk's layers at their own kinds' bytes (``kinds``, else
    ``per_layer`` a layer; the MTP depths ``mtp`` on the last rank's last chunk, where Megatron-Core builds them)
    x the micro-batches that chunk holds (``pipeline.chunk_inflight``, the schedule replayed), the largest over
    the peak's count vectors; the middle the ``group``-th middle rank that can peak (``middle_rank_of``) at its own
    counts (until mem43b each middle rank's mix at rank 1's, the most: a later rank runs a prefix of its forwards). Returns (rows, a0, a1, a_last, even0, even1, even_last): ``even`` where a rank's chunks
    are all the same bytes, which the even spread memory_stages ``inflight_microbatches`` x the rank's layers prices to
    the same sum (left to it, its figure unchanged). Until chunk39 every chunk held (warm-up + 1) / v micro-batches:
    Megatron-Core runs its warm-up group by group from chunk 0, so rank 0's first chunk holds the most (PP16 VPP8
    m 64: 31 to 32 of rank 0's 143, not 17.9), and the last rank's last chunk, with the MTP depths, 0 or 1.
    ``keys``: the caller's distinct (pp, vpp, schedule, tp, micro-batches) rows and each row's index into them
    (``rank_activations``), else found here. ``akey``: each row's activation key (``transformer_activations``'
    distinct (tp, cp, sp, mb, rc, ep, a2a) index), where the rows' layer bytes (``per_layer``, ``kinds``, ``mtp``,
    ``rebuilt()``) follow from it, the row's split and its block / uniform recompute (``rn``, ``rg``): the rows are
    then priced once per distinct (stage key, activation key, rn, rg) and gathered back (a DeepSeek-V3 search's
    131,072-row block: a few hundred keys), each figure the one its row would get (every step elementwise).

    Block recompute (Megatron's ``--recompute-method block --recompute-num-layers N``, the stacks with
    ``Stack.partial_recompute``: Megatron-Core, NeMo, Megatron-Bridge) runs per model chunk
    (``_chunk_rebuilt_counts``): each chunk checkpoints its own first N layers, so a chunk's bytes are those
    layers' inputs (``rebuilt()``'s first: each kind at the rows' full recompute) plus its other layers' whole
    saves (its second: each kind without recompute), held by that chunk's micro-batches. Until rcchunk39 every
    layer of a rank took the fullest chunk's recomputed share min(N, C) / C (``_partial_recompute_saves``): a
    3-layer chunk beside 4-layer ones at N 2 kept 1.5 layers whole, not 1, and DeepSeek-V3's PP4 VPP4 rank 0
    first chunk (3 dense layers) re-ran half of each kind where it re-runs 2 of its dense layers. Where a rank's
    chunks take exactly the share (each chunk C layers, or N at or above every chunk), the mix is the same sum
    and the figure before is kept. Megatron's uniform method (``--recompute-method uniform``, ``c.rg`` g) also
    groups per chunk (``while l < self.num_layers_per_pipeline_rank``): a chunk of C layers keeps ceil(C / g) group
    inputs, each at its group's first layer's kind, x its held micro-batches (uniform40; before, every chunk the
    fullest chunk's ceil(C / g) / C a layer: chunks (4, 4, 3, 3) at g 2 kept 7 inputs, Megatron keeps 8).
    torchtitan's layer SAC counts its layers across a rank's chunks (``recomputed_fraction`` ``every``) and keeps
    the rank's share."""
    if getattr(st, "activation_offload", False):
        return None
    n = len(c)
    runtime = split_runtime(st, m)
    if keys is None:
        pp = np.broadcast_to(np.asarray(c.pp), (n,))
        vv = np.broadcast_to(split_vpp(c), (n,))
        sel = (np.broadcast_to(np.asarray(c.schedule), (n,)) == 1) & (vv > 1) & (pp > 1)
        if not sel.any():
            return None
        rows = np.flatnonzero(sel)
        ktp = np.broadcast_to(c.tp if tp_dependent(runtime) else 1, (n,))[rows]
        (kpp, kv, kt, km, *_), inv = distinct_rows(pp[rows], vv[rows], ktp, np.broadcast_to(m_rows, (n,))[rows],
                                                   *((a2a[rows],) if np.ndim(a2a) else ()))  # (each row's overlap)
    else:
        minv, kpp, kv, ks, kt, km = keys
        sel = ((ks == 1) & (kv > 1) & (kpp > 1))[minv]
        if not sel.any():
            return None
        rows = np.flatnonzero(sel)
        inv = minv[rows]
    every_row = None  # with akey: the interleaved rows' index among the distinct ones priced below
    if akey is not None:
        _, every_row = distinct_rows(inv, np.asarray(akey)[rows], np.broadcast_to(np.asarray(c.rn), (n,))[rows],
                                     np.broadcast_to(np.asarray(c.rg), (n,))[rows])
        first = np.empty(int(every_row.max()) + 1, dtype=np.intp)
        first[every_row[::-1]] = np.arange(len(rows) - 1, -1, -1, dtype=np.intp)  # each key's first row
        all_rows, rows, inv = rows, rows[first], inv[first]
    ov = a2a[rows] if np.ndim(a2a) else None  # combined 1F1B per row (a search's overlap twins; the keys carry it)
    if kinds is None:
        names, lk = ("",), ("",) * m.layers
        per = np.broadcast_to(np.asarray(per_layer, dtype=np.float64), (n,))[rows][None, :]
    else:
        names, lk = tuple(sorted(kinds)), layer_kinds(m)
        per = np.stack([np.broadcast_to(np.asarray(kinds[q], dtype=np.float64), (n,))[rows] for q in names])
    mtp_r = np.broadcast_to(np.asarray(mtp, dtype=np.float64), (n,))[rows]
    mb_group = getattr(st, "microbatch_group_size", None)
    # each row's partial recompute (0: every layer alike; > 0 block N, < 0 minus the uniform group)
    part = _partial_keys(c, rebuilt)[rows]
    unmixed = []

    def saves():  # (full, none) per kind over the rows, only where a chunk's rebuilt layers differ from the share
        if not unmixed:
            full, none = rebuilt()
            unmixed.extend(np.stack([np.broadcast_to(np.asarray(x[q], dtype=np.float64), (n,))[rows] for q in names])
                           for x in (full, none))
        return unmixed
    out = [np.zeros(len(rows)) for _ in range(3)]
    even = [np.ones(len(rows), dtype=bool) for _ in range(3)]
    # each row's own group-th middle rank (its split and its recompute: ``_middle_splits``; -1 none, its figure
    # unread); the rows priced once per key above share it (the key fixes the split, rc, rn and rg)
    mid_of = middle_rank_of(m, st, c, group)[0][rows]
    mk = np.maximum(np.rint(np.asarray(km, dtype=np.float64)), 1).astype(np.int64)  # whole micro-batches a step
    # per split (pp, vpp[, tp]): each rank's chunk bytes over its rows, then the count vectors of each row's m
    (lpp, lv, lt), lay = distinct_rows(np.asarray(kpp), np.asarray(kv), np.asarray(kt))
    row_lay = lay[inv]
    for li, (k, v, t) in enumerate(zip(*(x.tolist() for x in (lpp, lv, lt)))):
        at = np.flatnonzero(row_lay == li)
        if not at.size:  # a split of the caller's keys no interleaved row takes
            continue
        counts = tuple(pipeline_split(m.layers, k, v, runtime_at(runtime, t))[1])
        first, last, mids = _chunk_kind_counts(lk, names, k, v, counts)
        (keys_here,), m_of = distinct_rows(inv[at])  # this split's keys, each row's among them (O(n), no sort)
        mid_at = mid_of[at]

        ms = tuple(mk[keys_here].tolist())

        def states(rank, a2a):
            return _stacked_inflight(k, v, rank, mb_group, int(a2a), ms)

        def peak(h, sub, mix, extra=None, kept=None, a2a=False):
            """the largest count vector x chunk bytes, summed chunk by chunk in order, over the rows ``at[sub]``;
            ``kept``: (checkpointed, plain) per chunk of a partial recompute whose chunks leave the share; under
            combined 1F1B (``a2a``: the rows' own) each state before a pair plus one layer of the pair's forward
            chunk (its mean layer: ``pipeline.chunk_inflight_paired``)"""
            a_, mo = at[sub], m_of[sub]
            if kept is None and extra is None and (mix == mix[:, :1]).all():  # the same layers on every chunk:
                b0 = sum(mix[q, 0] * per[q, a_] for q in range(len(names)))  # every count vector gives the total
                if a2a:  # x one chunk's bytes, and a pair's one layer
                    return (h[:, 0, :v].sum(axis=1)[mo] * b0 + (h[:, 0, v] >= 0)[mo] * (b0 / mix[:, 0].sum())), True
                return h[:, 0, :].sum(axis=1)[mo] * b0, True
            if kept is None:
                b = [sum(mix[q, j] * per[q, a_] for q in range(len(names))) for j in range(v)]
            else:
                full, none = (x[:, a_] for x in saves())
                b = [sum(kept[0][q, j] * full[q] + kept[1][q, j] * none[q] for q in range(len(names)))
                     for j in range(v)]
            one = [b[j] / max(mix[:, j].sum(), 1.0) for j in range(v)]  # a chunk's mean layer (the MTP depth apart)
            if extra is not None:
                b[-1] = b[-1] + extra[sub]
            if a_.size * h.shape[1] * v <= 1 << 22:  # every count vector at once where that is a few MB
                hh = h[mo]
                best = sum(hh[:, :, j] * b[j][:, None] for j in range(v))
                if a2a:
                    best = best + sum((hh[:, :, v] == j) * one[j][:, None] for j in range(v))
                best = best.max(axis=1)
            else:  # a vector at a time (the same products and sums: the same figures)
                best = None
                for s_ in range(h.shape[1]):
                    hs = h[:, s_, :][mo]
                    acc = sum(hs[:, j] * b[j] for j in range(v))
                    if a2a:
                        acc = acc + sum((hs[:, v] == j) * one[j] for j in range(v))
                    best = acc if best is None else np.maximum(best, acc)
            # a rebuilt split's equal chunks still differ from the rank's mean-layer figure: never left to it
            return best, (np.logical_and.reduce([x == b[0] for x in b[1:]]) & (kept is None))

        mtp_at = mtp_r[at]
        pk = part[at]
        cm = int(np.ceil(m.layers / (k * v)))  # the fullest chunk _partial_recompute_saves priced the share on
        ov_at = None if ov is None else ov[at]
        for key, on, sub in ((key, on, sub) for key in np.unique(pk).tolist()
                             for on, sub in _by_overlap(np.flatnonzero(pk == key), a2a, ov_at)):
            rows_at = at[sub]
            if key == 0:  # (mix, kept) of rank 0, the last rank and the middle ranks in rank order
                ends, middles = [(first, None), (last, None)], [(x, None) for x in mids]
            else:
                g0, gl, gm = _chunk_rebuilt_counts(lk, names, k, v, counts, abs(int(key)), cm, key < 0)
                ends, middles = ([(x[0], None if x[3] else (x[1], x[2])) for x in g] for g in ((g0, gl), gm))
            if group == 0:  # (a further middle rank's call reads its middle alone: middle_activations)
                out[0][rows_at], even[0][rows_at] = peak(states(0, on), sub, ends[0][0], None, ends[0][1], on)
                out[2][rows_at], even[2][rows_at] = peak(states(k - 1, on), sub, ends[1][0], mtp_at, ends[1][1], on)
            for r_mid in np.unique(mid_at[sub]).tolist():  # (two where the rows' recompute prunes apart)
                if r_mid > 0:  # the row's own middle rank's chunks (none: its figure unread)
                    own = sub[mid_at[sub] == r_mid]
                    mix, kept = middles[r_mid - 1]
                    out[1][at[own]], even[1][at[own]] = peak(states(r_mid, on), own, mix, None, kept, on)
    if every_row is not None:
        return (all_rows, *(x[every_row] for x in out), *(x[every_row] for x in even))
    return (rows, *out, *even)


def _by_overlap(sub: np.ndarray, a2a, ov) -> list:
    """``[(combined 1F1B or not, rows)]`` of rows ``sub`` (``chunk_activations``): ``[(a2a, sub)]`` where every row
    runs the same (``ov`` None), else those with it and those without it, each a set (none empty)."""
    if ov is None:
        return [(bool(a2a), sub)]
    return [(on, sub[ov[sub] == on]) for on in (False, True) if (ov[sub] == on).any()]


def rank_block_activations(m: ModelSpec, st, c: Candidates, m_rows, a2a: bool, kinds, mtp, last_inflight, rebuilt,
                           group: int = 0):
    """Block recompute (Megatron ``--recompute-method block --recompute-num-layers N``) on 1F1B ranks (no VPP):
    (rows, rank 0, the middle ranks' peak, the last rank, exact0, exact1, exact_last) activations, or None where no
    such row. A rank is one TransformerBlock (transformer_block.py ``num_layers_per_pipeline_rank =
    len(self.layers)``) that checkpoints its own first N layers (``_checkpointed_forward``), so a rank of n layers keeps
    min(N, n) layers' inputs and the rest's whole saves, each at its kind (``_chunk_rebuilt_counts`` with one chunk a
    rank), x its micro-batches in flight (memory_stages ``inflight_microbatches``: pp - r; the middle the ``group``-th
    middle rank that can peak at its own count, ``middle_rank_of``; until mem43b every middle rank at rank 1's). Before
    split40 every rank took the fullest rank's share min(N, C) / C (``_partial_recompute_saves``): Megatron's 11, 12 x
    6, 11 split of 94 layers at N 5 kept 11 x 5 / 12 = 4.58 layers' inputs on rank 0, not 5. Uniform recompute (``c.rg``
    g) likewise per rank: ceil(n / g) group inputs and no plain layer (uniform40; before, ceil(C / g) / C of every
    layer: rank 0's 11 at g 5 kept 2.75, not 3). ``exact``: the rank's layers take exactly that share (its figure
    kept)."""
    if rebuilt is None or getattr(st, "activation_offload", False):
        return None
    n = len(c)
    pp = np.broadcast_to(np.asarray(c.pp), (n,))
    rn = _partial_keys(c, rebuilt)  # block N, or minus the uniform group
    sel = (rn != 0) & (pp > 1) & (np.broadcast_to(np.asarray(c.chunks), (n,)) == 1)
    if not sel.any():
        return None
    rows = np.flatnonzero(sel)
    runtime = split_runtime(st, m)
    full, none = rebuilt()
    if kinds is None:
        names, lk = ("",), ("",) * m.layers
    else:
        names, lk = tuple(sorted(full)), layer_kinds(m)
    fk = np.stack([np.broadcast_to(np.asarray(full[q], dtype=np.float64), (n,))[rows] for q in names])
    nk = np.stack([np.broadcast_to(np.asarray(none[q], dtype=np.float64), (n,))[rows] for q in names])
    mm = np.broadcast_to(np.asarray(m_rows, dtype=np.float64), (n,))[rows]
    cr = c.take(rows)
    a2a = a2a[rows] if np.ndim(a2a) else a2a  # (one per row: the rows' own)
    infl0 = inflight_microbatches(cr, mm, a2a)
    infl_l = np.broadcast_to(np.asarray(last_inflight, dtype=np.float64), (n,))[rows]
    mtp_r = np.broadcast_to(np.asarray(mtp, dtype=np.float64), (n,))[rows]
    out = [np.zeros(len(rows)) for _ in range(3)]
    exact = [np.ones(len(rows), dtype=bool) for _ in range(3)]
    ktp = np.broadcast_to(c.tp if tp_dependent(runtime) else 1, (n,))[rows]
    mid_of = middle_rank_of(m, st, c, group)[0][rows]  # each row's own (``_middle_splits``; -1 none, unread)
    for at_rows, (k, _, t), counts in split_per_row(m.layers, pp[rows], 1, ktp, runtime):
        for key in np.unique(rn[rows][at_rows]).tolist():
            sub = np.flatnonzero(at_rows & (rn[rows] == key))
            g0, gl, gm = _chunk_rebuilt_counts(lk, names, k, 1, tuple(int(x) for x in counts), abs(int(key)),
                                               int(np.ceil(m.layers / k)), key < 0)

            def bytes_of(g, at):
                kept, plain = g[1][:, 0], g[2][:, 0]
                return sum(kept[q] * fk[q, at] + plain[q] * nk[q, at] for q in range(len(names)))
            out[0][sub], exact[0][sub] = bytes_of(g0, sub) * infl0[sub], g0[3]
            out[2][sub], exact[2][sub] = bytes_of(gl, sub) * infl_l[sub] + mtp_r[sub] * infl_l[sub], gl[3]
            for r_mid in np.unique(mid_of[sub]).tolist():  # the middle rank's own layers at its own count
                if r_mid > 0:  # (every row here runs partial recompute: one rank a split, none pruned)
                    own = sub[mid_of[sub] == r_mid]
                    infl_mid = inflight_microbatches(cr, mm, a2a, rank=float(r_mid))[own]
                    out[1][own], exact[1][own] = bytes_of(gm[r_mid - 1], own) * infl_mid, gm[r_mid - 1][3]
    return (rows, *out, *exact)


def _ranks_taken(c: Candidates, ranks, got):
    """(rank 0, middle peak, last) activations ``ranks`` with ``got``'s rows (``rank_block_activations`` /
    ``chunk_activations``: rows, three figures, three ``exact`` flags) taken where not exact; the middle only with a
    middle rank (pp > 2)."""
    if got is None:
        return ranks
    rows, n0, n1, nl, e0, e1, el = got
    a0, a1, al = (np.array(np.broadcast_to(x, (len(c),)), dtype=np.float64) for x in ranks)
    a0[rows] = np.where(e0, a0[rows], n0)
    a1[rows] = np.where(e1 | (np.asarray(c.pp)[rows] <= 2), a1[rows], n1)
    al[rows] = np.where(el, al[rows], nl)
    return a0, a1, al


@dataclasses.dataclass(frozen=True, slots=True)
class RankActivations:
    """Each pipeline rank class's activations beside its own rebuild, bytes per GPU per candidate
    (``rank_activations``): ``rank0`` rank 0's (with the embedding's output; under DualPipeV's V the MTP depths
    too), ``middle`` one middle rank's (``rank_activations``' ``group``; 0 where pp <= 2 and under the V, which
    has none),
    ``last`` the last rank's (under the V the fullest other rank's), and ``first`` the peak of ``rank0`` and
    ``middle``: what the memory's "first" stage pairs with the heaviest states before the last."""
    rank0: object
    middle: object
    last: object
    first: object


def rank_activations(m: ModelSpec, st, c: Candidates, gb, m_micro, per_layer, rws, emb_out,
                     kinds=None, rebuilt=None, akey=None, rank_rws=None, group: int = 0, emb_kept=None) -> RankActivations:
    """Each rank class's activations (``RankActivations``): each rank's layers x its micro-batches in flight
    (memory_stages ``stage_layer_microbatches``), rank 0 with the embedding's output, the middle rank (``group``) at its
    own count, the last with the MTP depths, each plus one layer's rebuild (``rws``) and its stages' gradient receive
    buffers (memory_stages ``recv_buffers``), all at a schedule run's micro-batches (``pipeline.run_microbatches``); "first" the larger of rank 0 and the middle. A rank's layers at their own kinds' saves where ``kinds`` (``layer_kind_saves``, ``stage_kind_bytes``),
    else each the mean layer ``per_layer``. ``rebuilt``: a callable giving the saves unmixed by partial recompute,
    ``chunk_activations``' per-chunk block / uniform recompute. ``akey``: each row's activation key
    (``transformer_activations``' per-key layer terms), which with its split and recompute fixes its layer bytes
    (``chunk_activations`` prices the distinct ones once); not where the HF table's per-row pieces price the layers
    (``rebuilt`` None there). ``rank_rws``: (rank 0, the middle ranks, the last rank) rebuild peaks, each rank's own
    kinds' (``stage_kind_rws``), else ``rws`` on every rank. ``group``: which middle rank that can peak the middle is
    (``middle_rank_of``: 0 rank 1; mem43b), its own layers, kinds, rebuild and micro-batches in flight. ``emb_kept``: what rank 0 holds of the embedding's output beside its layers (None: ``emb_out``, which stays the stage boundary's size; a frozen base's: ``frozen_embedding_bytes``, lora58b)."""
    a2a = overlap_rows(m, st, c)  # combined 1F1B: a bool, or one per row (a search's overlap twins in one call)
    (r0, r1, rl), e0 = (rws,) * 3 if rank_rws is None else rank_rws, emb_out if emb_kept is None else emb_kept
    # the peak over the ranks before the last (stage_layer_microbatches): rank 0 with the embedding's output, or rank 1
    if np.ndim(gb) == 0:  # per distinct (pp, vpp, schedule, mb, dp, the row's middle rank) key, gathered back
        # (tp where the split depends on it: DeepSpeed's "parameters" partition; the overlap where the rows differ)
        ktp_, ov_ = c.tp if tp_dependent(split_runtime(st, m)) else np.ones_like(c.pp), [a2a][:np.ndim(a2a)]
        (kpp_, kv_, ks_, kmb_, kdp_, ktp_, *kov_, _), minv = distinct_rows(
            c.pp, c.vpp, c.schedule, c.mb, c.dp, ktp_, *ov_, middle_rank_of(m, st, c, group)[0] + 1)
        kcols = SimpleNamespace(pp=kpp_, vpp=kv_, schedule=ks_, tp=ktp_)
        k_run = run_microbatches(np.maximum(gb / (kmb_ * kdp_), 1.0), st.pp_pass_microbatches)  # a schedule run's
        parts = stage_layer_microbatches(m.layers, kcols, k_run, *(kov_ or [a2a]), st, m, middle_rank_of(m, st, c, group, (minv, len(kpp_))))
        lm0, lm1, lm_last, last_inflight = (x[minv] for x in parts)
        m_rows, keys = None, (minv, kpp_, kv_, ks_, ktp_, k_run)
    else:
        m_rows, keys = run_microbatches(m_micro, st.pp_pass_microbatches), None  # a schedule run's (not the step's)
        lm0, lm1, lm_last, last_inflight = stage_layer_microbatches(m.layers, c, m_rows, a2a, st, m,
                                                                    middle_rank_of(m, st, c, group))
    # each rank's layers at their own kinds' bytes (stage_kind_bytes), else every layer the mean one
    w0, w1, wl = (per_layer,) * 3 if kinds is None else stage_kind_bytes(m, st, c, kinds, group)
    a0, a1 = lm0 * w0, lm1 * w1
    # the MTP depths run after the decoder on the last stage and save their activations like layers: a
    # DeepSeek-V3 depth is one transformer layer (an MoE one), a hybrid's "*E" block two blocks
    if kinds is None:
        mtp = m.mtp_layers * (2.0 if m.hybrid else 1.0) * per_layer
    else:
        mtp = m.mtp_layers * sum(kinds.get(k, per_layer) * x for k, x in mtp_kinds(m).items())
    al = lm_last * wl + mtp * last_inflight
    # 1F1B block recompute: each rank its own first N layers (rank_block_activations), where a rank's share differs
    # from the fullest rank's the mean layer took
    a0, a1, al = _ranks_taken(c, (a0, a1, al), rank_block_activations(
        m, st, c, m_rows if keys is None else keys[5][keys[0]], a2a, kinds, mtp, last_inflight, rebuilt, group))
    # interleaved: each chunk's layers x the micro-batches it holds (chunk_activations) where a rank's chunks differ
    a0, a1, al = _ranks_taken(c, (a0, a1, al), chunk_activations(m, st, c, m_rows, a2a, per_layer, kinds, mtp, keys,
                                                                   rebuilt, None if rebuilt is None else akey, group))
    g0, g1, gl = recv_buffers(st, c, m_rows if keys is None else keys[5][keys[0]], emb_out,  # pipelining's
                              middle_rank_of(m, st, c, group)[0])
    rank0, middle = a0 + e0 + r0 + g0, a1 + r1 + g1  # each rank beside its own rebuild (stage_kind_rws)
    first_act, last_act = np.maximum(rank0, middle), al + rl + gl
    # DualPipeV's V (pipeline.V_SPLIT): rank 0 holds the embedding's output, the head's (MTP) and, with the logits
    # (transformer_activations), is "first"; "last" the fullest other rank (stage_layer_ends' middle under the V)
    v = (split_vpp(c) == V_SPLIT) & (np.asarray(c.pp) > 1)
    if np.any(v):
        first_act = np.where(v, lm0 * w0 + mtp * last_inflight + e0 + r0 + g0, first_act)
        last_act = np.where(v, np.maximum(lm1 * w1 + r1, lm_last * wl + rl) + gl, last_act)
        rank0 = np.where(v, first_act, rank0)
    middle = np.where((np.asarray(c.pp) > 2) & ~v, middle, 0.0)  # pp <= 2 and the V: no rank between the ends
    return RankActivations(rank0, middle, last_act, first_act)


def frozen_stream_keys(t: TrainingSpec, c: Candidates, st, b: StateBytes) -> np.ndarray:
    """Per candidate, a frozen base's stream (finetune ``frozen_stream`` at the row's ZeRO stage: fp32 by
    ``Stack.fp32_stream``, the rule the step time reads, or bf16 as loaded or from FSDP's bf16 gather); all 0 where
    the base is not frozen (the fused-kernel table reads no stream)."""
    zero = np.asarray(c.zero)
    if not b.frozen:
        return np.zeros(zero.shape, dtype=int)
    return frozen_stream(t, st, zero)


def cp_a2a_keys(m: ModelSpec, st, c: Candidates):
    """Each candidate's a2a group where some layer's CP is Megatron-Core's a2a+p2p (comm.hierarchical_cp_a2a, as
    the step time and ``--emit`` take it: its ring, over cp / a2a, sizes the ring's buffers), else 1."""
    if not any(kind == "a2a+p2p" for kind, _ in cp_comm_mix(st, m)):
        return np.ones_like(c.tp)
    return hierarchical_cp_a2a(c.cp, c.tp, c.gpus_per_node, m.heads or 1, m.kv_heads or m.heads or 1)


def loss_logits(m: ModelSpec, st, seq, keys, act_b, rws, inv, beside=0.0, t: TrainingSpec | None = None,
                c: Candidates | None = None):
    """What the output layer and loss add to the step's peak beyond the layers' saves and one layer's rebuild
    (``rws``), per candidate: ``keys`` = (tp, cp, sp, mb) per distinct key, ``inv`` gathers them back. The loss's
    buffers (``out``: what the output layer and loss save, activations.logits_bytes, plus the loss's transient at its
    peak, loss_transient_bytes) and the last layer's rebuild in the backward are never live together, so the step
    holds the larger of the two and the term is what ``out`` exceeds the rebuild by, or the logits the loop still
    holds at the rebuild (``held_logit_bytes``) where those are more.

    * PyTorch eager autograd: a node drops its saved tensors as it runs (torch/csrc/autograd/engine.cpp
      ``call_function``: ``fn.will_release_variables()`` unless ``retain_graph``), and the loss's and the output
      layer's nodes all run before the gradient reaches the last checkpointed layer, whose rebuild starts there
      (torch.utils.checkpoint: on the first unpack of its saved tensors, non-reentrant; in ``CheckpointFunction.
      backward``, reentrant; Megatron-Core tensor_parallel/random.py ``CheckpointFunction.backward``). Measured on
      CPU (tests/test_losspeak38.py: the allocator's trace of a checkpointed decoder with ``F.cross_entropy`` over
      fp32-upcast logits and with a fused loss that saves the softmax, both checkpoint modes, and Megatron-Core
      0.16.1's GPTModel under full recompute): the step's peak is max(saves + ``out``, saves + rebuild + held)
      within 1 %, where the sum overstated it by 22-87 % (Megatron-Core: 27-53 %).
    * one XLA program (MaxText): buffer assignment gives buffers never live together the same memory
      (xla/service/buffer_assignment.cc over heap_simulator.cc); the loss's end with its backward, before the
      backward ``scan`` rebuilds its first layer inside the loop body (mxmem38).

    MaxText's vocabulary tiling holds one tile's tokens at a time (Stack.num_vocab_tiling). ``beside``: per
    candidate, what the loss's backward holds with its buffers (``scan_head_grad_transient``); with the candidates
    ``c``, the larger of the loop's held logits and the output the pipeline's last stage holds through its backward
    (``pp_held_output``) is beside the rebuild. Until losspeak38 every stack but MaxText's priced ``out`` beside
    the rebuild."""
    ktp, kcp, ksp, kmb = keys
    tiles = st.vocab_tiles(m) if hasattr(st, "vocab_tiles") else 1
    head_seq = stack_head_seq(st, t)  # the head's positions (activations.rank_logits)
    vtp = whole_vocab_tp(st, ktp)
    out = (logits_bytes(m, seq, kmb, ktp, kcp, act_b, sp=ksp.astype(bool), vocab_tiles=tiles, head_seq=head_seq,
                        gathered_head=bool(getattr(st, "tp_saves_gathered_inputs", False)), vocab_tp=vtp)
           + loss_transient_bytes(m, seq, kmb, vtp, kcp, act_b, loss=st.loss_code,
                                  chunk=getattr(st, "ce_chunk_size", None) or 0, vocab_tiles=tiles,
                                  head_seq=head_seq))[inv] + beside
    held_pp = pp_held_output(m, st, c, seq, act_b, head_seq) if c is not None else 0.0
    held = np.maximum(held_logit_bytes(m, st, seq, kmb, vtp, kcp, act_b, head_seq)[inv], held_pp)
    return loss_beside_rebuild(out, rws, held)


def whole_vocab_tp(st, tp):
    """The TP split of the vocabulary the loss holds: 1 where a torch DTensor plan gathers the head's output to
    ``Replicate()`` (``Stack.loss_parallel`` off: torchtitan's ``disable_loss_parallel``, KempnerForge's
    ``ColwiseParallel(output_layouts=Replicate())`` head): every TP rank holds the whole T x V logits and runs the
    stack's loss on all of them, as the step time's ``layer_ops.whole_vocab_loss`` prices its HBM passes (kf56b; the
    V / tp shard the head writes is freed once gathered: the gather's autograd node saves nothing). Else ``tp``."""
    return np.where(getattr(st, "loss_parallel", True), tp, 1) if st is not None else tp


def stack_head_seq(st, t):
    """The positions a sequence the head runs on, by the stack's rule (``Stack.head_seq``); None (every position)
    without a training spec or a stack."""
    if t is None:
        return None
    return st.head_seq(t) if st is not None and hasattr(st, "head_seq") else t.head_tokens_per_seq


def loss_beside_rebuild(out, rws, held):
    """The loss's share of the step's peak on top of the layers' saves and one layer's rebuild ``rws``: the loss's
    buffers ``out`` and the rebuild are never live together, the logits the loop holds (``held``) are beside the
    rebuild, so the peak is max(out, rws + held) and the share what that exceeds ``rws`` by (``loss_logits``)."""
    return np.maximum(out - rws, held)


def pp_kept_outputs(m: ModelSpec, st, c: Candidates, seq, m_micro, head_seq=None):
    """Bytes of the model outputs torch.distributed.pipelining's last stage keeps at its last micro-batch's loss, where
    the stack's pipeline keeps them (``Stack.pp_kept_output_bytes`` a logit, 0: none): every micro-batch's logits of
    the rank's vocabulary shard (``rank_logits``), m of them, on pipelines (pp > 1) only. torch's stage appends each
    last-stage output to ``output_chunks`` in ``forward_one_chunk`` and keeps them for ``step``'s merged return until
    the next step's ``clear_runtime_states``; measured on a gloo 1F1B step at 8 micro-batches (tests/
    make_pp_outputs_truth.py, tests/data/pp_outputs_truth.json, torch 2.13): the last micro-batch's loss runs beside
    all 8 outputs, none with ``return_outputs=False``. The loss code's own terms (``loss_logits``) leave the output
    out, as a loop that drops it before ``backward`` would (torchtitan's ``del pred``)."""
    per_logit = getattr(st, "pp_kept_output_bytes", 0.0)
    if not (per_logit and m.is_transformer):
        return 0.0
    return np.asarray(m_micro, dtype=np.float64) * last_stage_output(m, st, c, seq, per_logit, head_seq)


def pp_merge_outputs(m: ModelSpec, st, c: Candidates, seq, m_micro, act_b, head_seq=None) -> tuple:
    """(activations, logits) bytes of the last pipeline stage at the moment ``step`` merges its outputs, where the
    stack's pipeline keeps them (``Stack.pp_kept_output_bytes``; 0, 0 elsewhere): torch.distributed.pipelining's
    ``PipelineScheduleSingle.step`` returns ``self._merge_outputs(self._stage.output_chunks)`` on the last stage
    (``merge_chunks``' ``torch.cat``: a new tensor of all m outputs; the 2024 code on every step, torch 2.13 under
    ``return_outputs=True``) after the last backward, so the kept outputs are there twice (``pp_kept_outputs`` and
    the copy), beside the stage's forward receive buffers (``memory_stages.fwd_recv_buffers`` with none in flight)
    and no layer's activations. Measured (tests/make_pp_merge_truth.py, tests/data/pp_merge_truth.json: gloo, torch
    2.13, FSDP2 as torchtitan wraps a stage, ``Schedule1F1B`` at 4 micro-batches): at the merge the 4 kept outputs
    and a new tensor of their bytes, no unsharded parameter and no gradient accumulator (the schedule's FSDP
    ``post_backward`` with ``set_reshard_after_backward(True)`` ran before it; the states are memory
    ``pp_merge_parts``'). DualPipeV's last stage is on rank 0 (its kept outputs are rank 0's logits): its merge is not
    priced (0 there)."""
    kept = pp_kept_outputs(m, st, c, seq, m_micro, head_seq)
    if not np.any(kept):  # (every stack's default: no row's split read, so a search pays nothing for it)
        return 0.0, 0.0
    kept = np.where(split_vpp(c) == V_SPLIT, 0.0, kept)
    if not np.any(kept):
        return 0.0, 0.0
    boundary = rank_tokens(seq, c.mb, c.cp) * m.hidden * act_b / sp_divisor(c.sp, c.tp)
    return fwd_recv_buffers(st, c, m_micro, boundary, (0.0, 0.0, 0.0))[2], 2.0 * kept


def pp_held_output(m: ModelSpec, st, c: Candidates, seq, act_b, head_seq=None):
    """Bytes of the micro-batch's own output (the rank's vocabulary shard, in the activation dtype: torchtitan's
    ``Decoder.forward`` returns ``self.output(h)``) that torch.distributed.pipelining's last stage holds through that
    micro-batch's backward, per candidate, on pipelines (pp > 1) of the stacks that run it
    (``Stack.pp_recv_per_microbatch``): ``forward_one_chunk`` keeps the output in ``fwd_cache`` and
    ``backward_one_chunk`` pops it into a local that lives through ``stage_backward`` (torch 2.13 distributed/
    pipelining/stage.py), even with ``step(return_outputs=False)``, where torchtitan's non-PP loop ``del pred``s it
    before ``backward``. Measured on a gloo 1F1B step at 8 micro-batches (tests/make_pp_outputs_truth.py,
    tests/data/pp_outputs_truth.json ``alive_in_backward``: 1 with ``return_outputs=False``). None where the stack
    keeps every output (``pp_kept_outputs`` counts this one among them: the same tensor) or where the model returns
    no logits (``linear_ce``); a loop that holds its output anyway (``held_logit_bytes``) holds the same tensor, so
    ``loss_logits`` takes the larger of the two, not their sum."""
    runs = getattr(st, "pp_recv_per_microbatch", False) and not getattr(st, "pp_kept_output_bytes", 0.0)
    if not (runs and m.is_transformer) or st.loss_code == "linear_ce":
        return 0.0
    return last_stage_output(m, st, c, seq, act_b, head_seq)


def last_stage_output(m: ModelSpec, st, c: Candidates, seq, per_logit, head_seq=None):
    """One micro-batch's output on a pipeline's last stage at ``per_logit`` bytes a logit, per candidate (0 without a
    pipeline): the rank's share of the vocabulary the head's output leaves it (``whole_vocab_tp``: the whole V where
    the plan gathers it to Replicate), what ``pp_kept_outputs`` keeps m of and ``pp_held_output`` holds one of."""
    one = rank_logits(m, seq, c.mb, whole_vocab_tp(st, c.tp), c.cp, head_seq=head_seq).shard * per_logit
    return np.where(np.asarray(c.pp) > 1, one, 0.0)


def held_logit_bytes(m: ModelSpec, st, seq, micro_batch, tp, cp, act_b, head_seq=None):
    """The model's logits (the rank's vocabulary shard, in the activation dtype) that the training loop keeps
    referenced through ``backward`` (``Stack.loop_holds_output``): alive beside the last layer's rebuild, after the
    loss's own buffers are freed (``loss_logits``; measured +2 B a logit at bf16 in tests/test_losspeak38.py). None
    where the model returns no logits: AutoModel's fused linear cross-entropy ("linear_ce") runs the model with
    ``logits_to_keep=1``."""
    holds = getattr(st, "loop_holds_output", False) or getattr(st, "loss_eager_16bit", False)
    if not (m.is_transformer and holds) or st.loss_code == "linear_ce":
        return np.zeros(np.broadcast(np.asarray(seq), np.asarray(micro_batch), np.asarray(tp)).shape)
    return rank_logits(m, seq, micro_batch, tp, cp, head_seq=head_seq).shard * act_b


def _unmixed_saves(full_layer, raw, at_none):
    """(unrecomputed, rebuilt): ``unrecomputed()`` the rows' mean-layer saves and rebuild peak without recompute
    (``at_none()``, computed once for the mean layer's partial mix and the chunks'); ``rebuilt()`` the saves before
    any partial-recompute mix for ``chunk_activations``' per-chunk block recompute: (at the rows' full recompute,
    without), each kind's (``raw``, ``_kind_saves``' record) or the mean layer's (``full_layer``) under ""."""
    got = []

    def unrecomputed():
        if not got:
            got.extend(at_none())
        return got
    if raw:
        return unrecomputed, lambda: (raw["full"], raw["none"]())
    return unrecomputed, lambda: ({"": full_layer}, {"": unrecomputed()[0]})


def _rank_rebuilds(m: ModelSpec, st, c: Candidates, rws, inv, beside=0.0, key_rws: dict | None = None,
                   group: int = 0) -> tuple:
    """(the model's rebuild, (rank 0, middle, last) rebuild peaks or None, the rebuild beside the loss), each with
    ``beside`` (what sits beside any rebuild: a matrix's gradient before its scatter, ``scan_grad_transient``): each
    rank's own kinds' (``stage_kind_rws``) where ``key_rws`` is given (each kind's at the activation keys, gathered by
    ``inv``: a mixed model's table saves) and the partial recompute left the rows' rebuild the whole layer's
    (``_partial_recompute_saves``: its plain layers are the mean layer's), else the model's ``rws``; the loss is beside
    the rebuild of the rank holding the head (the last, rank 0 under DualPipeV's V: ``loss_logits``). ``group``: the
    middle rank (``middle_rank_of``)."""
    if not key_rws:
        return rws + beside, None, rws + beside
    whole = rws == functools.reduce(np.maximum, key_rws.values())[inv]
    ranks = tuple(np.where(whole, x, rws) + beside for x in stage_kind_rws(m, st, c, key_rws, inv, group))
    v = (split_vpp(c) == V_SPLIT) & (np.asarray(c.pp) > 1)
    return rws + beside, ranks, np.where(v, ranks[0], ranks[2])


def middle_activations(m: ModelSpec, st, c: Candidates, ra: RankActivations, args: tuple, rebuilds,
                       exact: bool = True) -> tuple:
    """(activations, rank) of each middle rank that can peak (``middle_rank_of``'s groups; ``ra`` the first's, rank
    1's): ``rank_activations`` at each further one (``args`` its arguments, ``rebuilds(rows' candidates, rows, group)``
    its rank rebuilds on those rows, ``_rank_rebuilds``), its own layers, kinds, rebuild and micro-batches in flight (mem43b),
    on the rows that have such a rank only (the rank -1 and the figure 0 elsewhere, unread: ``rank_class_rows``
    takes a middle rank where its rank is >= 0). Not ``exact`` (the search: only the peak class's figures are read),
    also not on the rows where the rank provably holds no more than rank 0 (``middle_settled``; speed44). Each row's
    figure is the one a call on all rows gives it (every step elementwise or per key). Returns (activations, ranks,
    the rows priced: ``ActivationTerms.middle_priced``); the first middle rank's activations are ``ra``'s, on every
    row, but not priced where settled."""
    n = len(c)
    acts, ranks, priced = [ra.middle], [], []
    for g in range(middle_groups(m, st, c)):
        ranks.append(middle_rank_of(m, st, c, g)[0])
        priced.append((ranks[g] >= 0) & (True if exact else ~middle_settled(m, st, c, g)))
        if g == 0:
            continue
        rows = np.flatnonzero(priced[g])
        acts.append(np.zeros(n))
        if rows.size:
            cc = c.take(rows)
            acts[g][rows] = rank_activations(m, st, cc, *rows_of(args, rows, n), rebuilds(cc, rows, g), g).middle
    return tuple(acts[:len(ranks)]), tuple(ranks), tuple(priced)


def rows_of(x, rows, n: int):
    """``x`` at ``rows``: a column of ``n`` rows taken, a tuple, list or dict of them or a callable giving them
    likewise, anything else (a value for every row) as it is (``middle_activations``' arguments); ``rows`` None: all."""
    if rows is None:
        return x
    if callable(x):
        return lambda: rows_of(x(), rows, n)
    if isinstance(x, dict):
        return {k: rows_of(v, rows, n) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(rows_of(v, rows, n) for v in x)
    return x[rows] if isinstance(x, np.ndarray) and x.ndim and x.shape[0] == n else x


def activation_ep_keys(m: ModelSpec, st, c: Candidates, disp):
    """Each row's EP degree as a key of its layer's saves (``transformer_activations``), 1 where EP moves nothing
    there: op SAC's MoE all-to-all outputs (activations.op_sac_saved_tensors), an HF EP plan / DeepSpeed's AutoTP
    (hf_ep_rows), a stated imbalance (moe.rank_load), experts TP does not split; and the rows whose Megatron-Core
    all-to-all dispatcher holds its copies at EP > 1 (activations.moe_a2a_transient; ``disp``: each row's dispatcher
    code, layout.Candidates ``dispatcher_codes``: a search's twins in one call)."""
    if m.moe is not None and (getattr(st, "selective", None) == "op" or m.moe.imbalance > 1
                              or getattr(st, "moe_ep_tp_fold", False) or hf_tp_plan(m, st) is not None
                              or not getattr(st, "tp_splits_experts", True)):
        return c.ep
    if m.moe is not None and getattr(st, "moe_megatron_layer", False):
        a2a = disp == MOE_DISPATCHER.code["alltoall"]
        return c.ep if a2a.all() else np.where(a2a, c.ep, 1)
    return np.ones_like(c.tp)


def embedding_outputs(m: ModelSpec, t: TrainingSpec, seq, b: StateBytes, keys, inv, peft: bool = True) -> tuple:
    """(the embedding's output a rank holds, the stage boundary's size: ``rank_activations``' ``emb_out``; what rank 0
    holds of it beside its layers: ``emb_kept``) per candidate, from the (tp, cp, sp, mb, recompute, frozen stream)
    ``keys`` gathered by ``inv``. A frozen base's layers (peft's saves, finetune.py) count block 0's input, the
    embedding's output in the RMSNorm decoders: what is held apart is finetune ``frozen_embedding_bytes``' (lora58b;
    until then ``emb_out`` again, twice the Llama's); ``peft`` False (a frozen base on TE layers, finetune
    ``peft_layer_saves``): the fused table's layers, ``emb_out`` as in pre-training."""
    ktp, kcp, ksp, kmb, krc, kfs = keys
    tokens = rank_tokens(seq, kmb, kcp) * m.hidden / sp_divisor(ksp, ktp)
    emb_out = (tokens * b.act)[inv]
    return emb_out, (tokens * frozen_embedding_bytes(m, t, krc, kfs))[inv] if b.frozen and peft else emb_out


def transformer_activations(m: ModelSpec, t: TrainingSpec, given, st, c: Candidates, seq, gb, b: StateBytes, memo,
                            hf, walked, layers, m_micro, g_kept, loss_weights=0.0, exact: bool = True) -> ActivationTerms:
    """A transformer's activations and logits per stage: per-layer saves (``layer_saves``, partial recompute
    ``_partial_recompute_saves``, the HF table where the code is transformers'), the stages' layer-micro-batches
    (``rank_activations``), the logits and loss transient (activations.logits_bytes, loss_transient_bytes), the
    walked HF step where walked (``_hf_walk_arrays``), the offloaded layers on the host; not ``exact``, the middle
    ranks only where they can beat rank 0 (``middle_activations``)."""
    act_b = b.act
    st, c = overlap_call(m, st, c)  # (rows of both overlap values: each its own, no middle rank pruned)
    # per-layer bytes depend only on (tp, cp, sp, mb, rc, ep, a frozen base's stream by the ZeRO stage, the MoE
    # dispatcher): computed once per distinct key and gathered back to every candidate (a search has millions of
    # rows, a few hundred keys)
    disp = c.dispatcher_codes(getattr(st, "moe_dispatcher", "alltoall"))
    (ktp, kcp, ksp, kmb, krc, kep, ka2a, kfs, kdisp), inv = distinct_rows(
        c.tp, c.cp, c.sp, c.mb, c.rc, activation_ep_keys(m, st, c, disp), cp_a2a_keys(m, st, c),
        frozen_stream_keys(t, c, st, b), disp)
    keys = (ktp, kcp, ksp, kmb, kep, ka2a, kfs, kdisp)
    per_layer, rws, key_rws = layer_saves(m, t, given, st, c, seq, b, memo, keys, krc)
    per_layer, rws = per_layer[inv], rws[inv]
    every = getattr(st, "layer_sac_every", 0)  # torchtitan layer SAC's n (0: the stack's selective is another)
    krc0 = np.where((krc == 2) | ((krc == 1) & bool(every)), 0, krc)  # the same rows without recompute
    kinds = _kind_saves(m, t, given, st, c, seq, b, memo, keys, (krc, krc0), inv, rws, every, raw := {})
    unrecomputed, rebuilt = _unmixed_saves(per_layer, kinds is not None and raw, lambda: [
        x[inv] for x in layer_saves(m, t, given, st, c, seq, b, memo, keys, krc0)[:2]])
    per_layer, rws = _partial_recompute_saves(m, t, c, per_layer, rws, unrecomputed, every, split_runtime(st, m))
    if hf and (walked is None or not walked.all()):  # the table's pieces where not walked
        hf_layer, hf_rws, hf_logits, hf_held = _hf_activation_arrays(m, t, c, seq, hf, st)
        if not b.frozen:  # a frozen base keeps its own set (above)
            per_layer, rws = hf_layer, hf_rws
            kinds = rebuilt = None  # the HF table's mean layer (activations_hf): no per-kind split (nor partial rc)
    # the embedding output, the logits and the loss transient likewise per (tp, cp, sp, mb) key, gathered
    emb_out, emb_kept = embedding_outputs(m, t, seq, b, (ktp, kcp, ksp, kmb, krc, kfs), inv, peft_layer_saves(st))
    # activation offload: the host ends the forward holding every offloaded layer (the copies the time model
    # moves, offload.offloaded_layers; the double buffer's groups are on both sides while in flight)
    host = offload.offloaded_layers(layers, st) * per_layer
    if kinds is not None and getattr(st, "activation_offload", False):  # the first N layers at their own kinds
        host = np.where(np.asarray(c.pp) == 1, offload_kind_bytes(m, st, kinds)[0], host)
    # MaxText's remat policy: the tensors it offloads, every layer of the stage's one micro-batch in flight (pp 1;
    # MaxText's GPipe holds more: not counted), on the full-recompute rows (the layers under jax.checkpoint)
    host = host + np.where(c.rc == 2, layers * remat_host_layer_bytes(
        m, seq, kmb, ktp, kcp, ksp.astype(bool), act_b, stack_remat(st))[inv], 0.0)
    rebuilds = functools.partial(_rank_rebuilds, m, st, key_rws=key_rws if kinds is not None else {})  # own kinds'
    rws, rrws, head_rws = rebuilds(c, *(at := (rws, inv, scan_grad_transient(m, st, c, act_b))))
    ra = rank_activations(m, st, c, *(args := (gb, m_micro, per_layer, rws, emb_out, kinds, rebuilt, inv)), rrws, emb_kept=emb_kept)
    # the HF table's head and loss beside the last layer's rebuild by the one rule (until hfpeak56 their sum), else
    # the loss's; a frozen base's (LoRA / QLoRA: finetune.py's layer table) too since hfblk57, its rebuild the walked
    # block backward's peak (measured on tiny peft models, tests/data/hfblk57_truth.json: the sum 12-49 % over)
    hf_rule = hf and (walked is None or not walked.all())
    last_logits = (loss_beside_rebuild(hf_logits, head_rws, hf_held) if hf_rule
                   else loss_logits(m, st, seq, (ktp, kcp, ksp, kmb), act_b, head_rws, inv, loss_weights, t, c))
    last_logits = last_logits + pp_kept_outputs(m, st, c, seq, m_micro, stack_head_seq(st, t))
    v = (split_vpp(c) == V_SPLIT) & (c.pp > 1)  # DualPipeV: the loss on rank 0 ("first", rank_activations)
    first_logits, last_logits = where0((c.pp == 1) | v, last_logits), np.where(v, 0.0, last_logits)
    if walked is not None and walked.any():
        w_act, w_logits = _hf_walk_arrays(m, t, c, seq, hf, st, m_micro, g_kept[np.clip(c.zero, 0, 3)])
        # (one stage: rank 0 is "first" and "last", no middle)
        ra = dataclasses.replace(ra, **{k: np.where(walked, w_act, getattr(ra, k)) for k in ("rank0", "last", "first")})
        first_logits, last_logits = (np.where(walked, w_logits, x) for x in (first_logits, last_logits))
    return ActivationTerms(ra.first, ra.last, first_logits, last_logits, host, ra.rank0, *middle_activations(
        m, st, c, ra, args, lambda cc, rows, g: rebuilds(cc, *rows_of(at, rows, len(c)), group=g)[1], exact))


def sample_activations(m: ModelSpec, c: Candidates, act_b) -> ActivationTerms:
    """A model measured per sample (``activation_bytes_per_sample``, in fp32; autocast keeps most activations in
    16 bits): the same on every stage, no logits."""
    per_sample = m.activation_bytes_per_sample or 0.0
    scale = act_b / 4.0  # measured in fp32; autocast keeps most activations in 16 bits
    first_act = per_sample * scale * c.mb
    return ActivationTerms(first_act, first_act, np.zeros(len(c)), np.zeros(len(c)))


def _fewest_plain(m: ModelSpec, c: Candidates, runtime, rows) -> np.ndarray:
    """Block recompute's rebuild on the split each row launches: the fewest plain (not checkpointed) layers of any
    non-empty model chunk, c - min(N, c) over its virtual stages (each chunk its own TransformerBlock,
    transformer_block.py ``_checkpointed_forward``), for the rows ``rows`` (a mask); the others 0. The chunk whose
    plain layers free the least before its first N are rebuilt is the one whose rebuild lands highest."""
    out, rn = np.zeros(len(c)), np.asarray(c.rn)
    for idx, counts in _launched_splits(m, c, runtime, rows):
        cs = np.asarray([x for x in counts if x > 0], dtype=np.float64)
        out[idx] = (cs[None, :] - np.minimum(rn[idx][:, None], cs[None, :])).min(axis=1)
    return out


def _largest_chunk(m: ModelSpec, c: Candidates, runtime, rows) -> np.ndarray:
    """The most layers of any model chunk (virtual stage) of the split each row launches, for the rows ``rows`` (a
    mask; the others 0): the largest group Megatron's uniform recompute rebuilds at once is min(g, this), each chunk
    grouping its own layers (transformer_block.py ``_checkpointed_forward``; ``pipeline.fullest_chunk``)."""
    out = np.zeros(len(c))
    for idx, counts in _launched_splits(m, c, runtime, rows):
        out[idx] = max(counts)
    return out


def _launched_splits(m: ModelSpec, c: Candidates, runtime, rows):
    """(the candidate indices, the layers of each model chunk) per layer split the rows ``rows`` (a mask) launch
    (``split_per_row``: each row's PP, virtual stages and, where the runtime's split depends on it, TP): the one walk
    of ``_fewest_plain`` and ``_largest_chunk`` (code48: each wrote it)."""
    if not rows.any():
        return
    at = np.flatnonzero(rows)
    vv = np.where(split_vpp(c) == V_SPLIT, V_SPLIT, c.chunks)[at]
    tp = np.asarray(c.tp)[at] if tp_dependent(runtime) else 1
    for sel, _, counts in split_per_row(m.layers, np.asarray(c.pp)[at], vv, tp, runtime):
        yield at[sel], counts


def _partial_recompute_saves(m: ModelSpec, t: TrainingSpec, c: Candidates, per_layer, rws, unrecomputed, every=0,
                             runtime=None):
    """Per-layer saves and rebuild peak of full-recompute rows that checkpoint only some layers (Megatron
    ``--recompute-method block|uniform --recompute-num-layers N``); ``per_layer``/``rws`` are the rows' values at
    their recompute code, ``unrecomputed()`` the same rows' values without recompute (called only when needed).

    * block (``c.rn`` > 0): a stage's recomputed share ``f`` (pipeline.recomputed_fraction) keeps only its layers'
      inputs, the other layers everything they save: per layer f x full + (1 - f) x none. transformer_block.py
      checkpoints a chunk's first N layers, so the backward reaches them after the chunk's plain layers have freed
      their saves: a rebuilt layer's working set adds to the peak only where it exceeds those (1 - f) x chunk layers'
      saves (none's own working set at least), nothing at N = 0, full's at N = chunk. With ``runtime`` (the split
      the rows launch) the chunk is the one with the fewest plain layers (``_fewest_plain``: chunks 4, 4, 3, 3 at N 2
      free 1 layer's saves before the 3-layer chunks' rebuild, not the fullest chunk's 2; split40), on every block
      row (uniform40: also where N reaches the fullest share, f 1, and an explicit layout's larger chunk keeps
      plain layers; a chunk at or under N has none, and there the figure is full's as before).
    * uniform (``c.rg`` > 1): ceil(chunk / g) group inputs per chunk, and the backward rebuilds a whole group of g
      layers before differentiating it: the rebuild's one-layer working set plus g - 1 layers' full saves
      (pipeline.uniform_groups), g at most the launched split's largest chunk (``_largest_chunk``; with
      ``runtime``). The saves here are the fullest chunk's ceil(C / g) / C a layer; ``chunk_activations`` /
      ``rank_block_activations`` replace them with each chunk's own ceil(C_j / g) where they differ.
    * torchtitan layer SAC (``every`` > 0, the selective rows of a stack whose selective is "layer"): each
      ``every``-th layer of a rank checkpointed whole (its input), the rest everything: per layer f x full +
      (1 - f) x none as block, the rebuild's working set a whole layer's (``rws``, not reduced: the checkpointed
      layers sit among the plain ones, not below them; none's where no layer is checkpointed, ``every`` above K).
    The in-flight micro-batches multiply the per-layer term as for any plan (stage_layer_microbatches)."""
    layer_sac = (c.rc == 1) & bool(every)
    if not (c.rn.any() or (c.rg > 1).any() or layer_sac.any()):
        return per_layer, rws  # every full-recompute row checkpoints each layer on its own
    full = c.rc == 2
    chunks = c.chunks
    f = recomputed_fraction(c.rc, c.rn, m.layers, c.pp, chunks, every)
    block = full & (f < 1.0)
    uniform = full & (c.rg > 1)
    # block on the launched split (``runtime``): an explicit layout's chunk can hold more than the fullest share, so an
    # N at or above ceil(L / (pp vpp)) (f 1) can still leave plain layers on every chunk (uniform40)
    on = np.broadcast_to(full & (np.asarray(c.rn) > 0), (len(c),))
    fewest = _fewest_plain(m, c, runtime, on) if runtime is not None and on.any() else np.zeros(len(c))
    rebuild = block | (on & (fewest > 0))
    if not (rebuild.any() or uniform.any() or layer_sac.any()):
        return per_layer, rws
    pl0, rws0 = unrecomputed()
    per_layer_b = f * per_layer + (1.0 - f) * pl0
    plain = (1.0 - f) * chunk_layers(m.layers, c.pp, chunks)  # the fullest chunk's plain layers
    kept, g = uniform_groups(m.layers, np.maximum(c.rg, 1), c.pp, chunks)
    if runtime is not None:
        plain = np.where(on & (np.abs(fewest - plain) > 1e-9), fewest, plain)
        # a uniform group reaches past the fullest share's layers on an explicit layout's larger chunk
        top = _largest_chunk(m, c, runtime, np.broadcast_to(uniform, (len(c),)))
        g = np.where(uniform, np.minimum(np.maximum(c.rg, 1), np.maximum(top, 1.0)), g)
    rws_b = np.maximum(rws0, rws - plain * pl0)
    per_layer = np.where(block | layer_sac, per_layer_b, np.where(uniform, kept * per_layer, per_layer))
    rws = np.where(rebuild, rws_b,
                   np.where(uniform, rws + (g - 1.0) * pl0, np.where(layer_sac & (f == 0), rws0, rws)))
    return per_layer, rws


def hf_attention_saves_share(m: ModelSpec, seq: int, micro_batch: int, precision: str, impl: str,
                             experts: str = "eager") -> float:
    """The attention blocks' share (with their input norm) of a layer's saves in the HF table without checkpointing
    (activations_hf ``saved_rows``: each block's (attention, MLP) bytes per token in the order its backward frees
    them, the MoE blocks' under the experts kernel ``experts``); 0 where the table gives no split."""
    from planner.model.activations_hf import saved_rows, spec_model_type

    rows = saved_rows(m, spec_model_type(m), int(seq), int(micro_batch), precision, impl, False,
                      experts=experts)[2]
    attn, total = sum(r[0] for r in rows), sum(r[0] + r[1] for r in rows)
    return attn / total if total else 0.0


def hf_ep_rank_share(m: ModelSpec, seq, micro_batch: int, tp: float, recompute: int, plan, attn_share: float) -> float:
    """A rank's share of a layer's saves on the HF code under a plan ``plan`` (moe ``HfTpPlan``) that leaves a part
    whole: the attention blocks' saves (``attn_share`` of them, ``hf_attention_saves_share``) whole unless the plan
    splits attention (then the fused table's attention half at ``tp`` over TP 1, as ``hf_tp_share``), a dense layer's
    MLP half whole unless the plan splits the dense MLP, an MoE layer's MLP half at the TP share where its routed rows
    split over the TP ranks (``HfTpPlan.moe``: the TP plan's ``moe_tp_experts``, or a folded EP's 1/TP of the rows each,
    ``hf_ep_rows`` code 3) and whole where every rank runs all S = T x top_k rows (DeepSpeed's AutoTP, ``AUTOTP_MOE``:
    its saved ``(S, hidden)`` inputs, ``(S, 2 x intermediate)`` gate/up output and ``(S, intermediate)`` gated output the
    single-GPU sizes), the shared experts' saves whole where the plan leaves them whole (``HfTpPlan.shared_experts``:
    Qwen2-MoE's). Under gradient checkpointing a layer keeps its input, whole. Until hfep35: the attention whole
    (hfep34) and every other save at the layer's mean TP share; hfep35-hfep52 also an older transformers EP plan's
    (``EpRouterParallel``: every rank all S rows, the MoE half whole)."""
    if int(recompute) == 2:
        return 1.0
    kw = dict(cp=1, flash=True, dropout=False, act_bytes=2, sp=False, recompute=0)

    def half(kind, at):  # the fused table's bytes of one half of a layer at TP ``at``
        return float(layer_activation_bytes(m, seq, int(micro_batch), tp=at, moe=kind == "E", kind=kind, **kw))

    s_attn = half("*", tp) / half("*", 1) if plan.attention else 1.0
    n_moe = m.moe_layers
    n_dense = m.layers - n_moe
    dense_one = n_dense * half("-", 1) if n_dense else 0.0
    dense_rank = (n_dense * half("-", tp) if plan.dense_mlp else dense_one) if n_dense else 0.0
    moe_one = n_moe * half("E", 1)
    moe_rank = n_moe * half("E", tp) if getattr(plan, "moe", False) else moe_one  # a TP plan's split experts
    if getattr(plan, "moe", False) and m.moe.shared_experts and not plan.shared_experts:
        # a plan that names no shared expert (Qwen2-MoE's: HfTpPlan.shared_experts) runs it whole on every TP rank:
        # its gate/up output and gated input to down_proj are the single-GPU sizes (until hfmoe53 at the TP share)
        bare = m.model_copy(update={"moe": m.moe.model_copy(update={"shared_experts": 0, "shared_ffn_hidden": None})})
        kw_e = dict(kw, moe=True, kind="E")
        shared = [float(layer_activation_bytes(m, seq, int(micro_batch), tp=at, **kw_e)
                        - layer_activation_bytes(bare, seq, int(micro_batch), tp=at, **kw_e)) for at in (1, tp)]
        moe_rank = moe_rank + n_moe * (shared[0] - shared[1])
    s_mlp = (moe_rank + dense_rank) / (moe_one + dense_one)
    return attn_share * s_attn + (1.0 - attn_share) * s_mlp


def hf_rank_share(m: ModelSpec, seq, micro_batch: int, tp: float, sp: bool, recompute: int, plan,
                  precision: str, impl: str, experts: str = "eager") -> float:
    """One distinct (micro-batch, TP, SP, recompute) row's share of a layer's saves on the HF code: ``hf_tp_share``
    under its TP plan (``plan`` None), ``hf_ep_rank_share`` under an EP plan."""
    if plan is None:
        return float(hf_tp_share(m, seq, int(micro_batch), float(tp), bool(sp), int(recompute)))
    return hf_ep_rank_share(m, seq, micro_batch, tp, recompute, plan,
                            hf_attention_saves_share(m, seq, int(micro_batch), precision, impl, experts))


def hf_rank_shares(m: ModelSpec, seq, micro_batch, tp, sp, recompute, codes, plans, precision,
                   impl: str, experts="eager") -> list[float]:
    """``hf_rank_share`` of each distinct key (arrays: micro-batch, TP, SP, recompute and its ``hf_ep_rows`` code;
    ``precision`` and ``experts`` one for all keys or each key's, ``hf_row_precisions`` / ``hf_key_experts``),
    the rows under the TP plan (``plans[code]`` None) priced in one vectorised ``hf_tp_share`` call (elementwise, so
    each row's own value; a call per key was a quarter of a cold HF-stack memory call at 10^4 candidates, speed41),
    the others one by one."""
    tp_rows = np.array([plans[int(k)] is None for k in codes], dtype=bool)
    out = np.zeros(len(codes))
    if tp_rows.any():
        out[tp_rows] = hf_tp_share(m, seq, np.asarray(micro_batch, dtype=np.int64)[tp_rows],
                                   np.asarray(tp, dtype=np.float64)[tp_rows], np.asarray(sp, dtype=bool)[tp_rows],
                                   np.asarray(recompute, dtype=np.int64)[tp_rows])
    out = out.tolist()
    for i in np.flatnonzero(~tp_rows):
        out[i] = hf_rank_share(m, seq, micro_batch[i], tp[i], sp[i], recompute[i], plans[int(codes[i])],
                               precision if isinstance(precision, str) else precision[i], impl,
                               experts if isinstance(experts, str) else experts[i])
    return out


#: the split DeepSpeed's AutoTP gives an MoE model's layers (``Stack.tp_splits_experts`` False, rule
#: ``ds-autotp-etp``), as ``hf_ep_rank_share`` reads a plan: attention and a dense layer's MLP split over TP (nn.Linear),
#: the MoE half whole (the 3-D experts run all T x top_k rows on every rank; its shared experts, nn.Linear and so
#: split, are priced whole with it -- first order)
AUTOTP_MOE = HfTpPlan(True, True, "deepspeed/module_inject/auto_tp.py AutoTP.tp_parser (nn.Linear only)", moe=False)


def hf_ep_rows(m: ModelSpec, stack, tp, ep):
    """Per candidate, the plan whose split ``hf_ep_rank_share`` prices (``hf_rank_share``), as (codes, plans): 2
    where DeepSpeed's AutoTP leaves the experts whole (``AUTOTP_MOE``: EP 1, TP > 1), 3 under a folded EP
    (``Stack.moe_ep_tp_fold``, EP > 1: DeepSpeed's AutoEP, transformers' AllToAllEP -- the TP plan's share, each TP
    peer running 1 / TP of the expert rows, the experts' gradients over EP), 4 under a transformers TP plan that
    leaves a part whole (moe ``HF_TP_PLANS``: EP 1, TP > 1), else 0 (the TP plan, ``hf_tp_share``); ``plans[code]``
    the plan (None for 0, and for 3 without such a TP plan). Code 1, an older transformers' EP plan (every rank all
    T x top_k rows), retired at hfep52: transformers 5.23 trains EP through AllToAllEP."""
    tp, ep = np.asarray(tp), np.asarray(ep)
    codes = np.zeros(np.broadcast(tp, ep).shape, dtype=np.int64)
    if m.moe is not None and not getattr(stack, "tp_splits_experts", True):
        codes = np.where((ep == 1) & (tp > 1), 2, codes)
    tplan = hf_tp_plan(m, stack)
    if tplan is not None:  # a TP plan that leaves a part whole (moe HF_TP_PLANS: DeepSeek-V3's attention)
        codes = np.where((ep == 1) & (tp > 1), 4, codes)
    if m.moe is not None and getattr(stack, "moe_ep_tp_fold", False):
        codes = np.where(ep > 1, 3, codes)
    # under the folded EP the TP plan's whole parts stay whole and the expert rows split over the TP peers
    fold = None if tplan is None else dataclasses.replace(tplan, moe=True)
    return codes, (None, None, AUTOTP_MOE, fold, tplan)


def hf_grad_share(m: ModelSpec, stack, tp: float, code: int, ep: float = 1.0) -> float:
    """The share of the model's weight gradients one rank of the HF code holds, as it holds the weights
    (``dense_rank``): ``hf_weight_shares``' two shares weighted by the routed experts' parameters and the rest's.
    Until hfep35 1 / tp for all plans; until dsep35 AutoEP was code 1's."""
    pc = count_params(m)
    experts = _routed_expert_params(m)
    rest, routed = hf_weight_shares(m, stack, tp, code, ep)
    return (experts * routed + (pc.total - experts) * rest) / pc.total


def _routed_expert_params(m: ModelSpec) -> float:
    """The routed experts' parameters of the whole model (0 for a dense one)."""
    if m.moe is None:
        return 0.0
    pc = count_params(m)
    return float(m.moe.experts * pc.expert * pc.n_moe_layers)


def hf_weight_shares(m: ModelSpec, stack, tp: float, code: int, ep: float = 1.0) -> tuple[float, float]:
    """(the share of the parameters other than the routed experts, the share of the routed experts) one rank of the
    HF code holds, as it holds the weights (``dense_rank``), by its ``hf_ep_rows`` code: 1 / tp of both under its TP
    plan (code 0), but for the routers and norms, whole under transformers' plans (moe ``hf_replicated_params``,
    hfmoe53); under DeepSpeed's AutoTP (code 2) the routed experts whole (it swaps nn.Linear only) and the rest
    over TP but for the routers and norms (moe ``replicates_norms``; until autoep53 over TP); under a TP plan that leaves a part whole (code 4, moe ``HF_TP_PLANS``) that part whole (moe
    ``hf_ep_whole_params``) and the experts over TP; under a folded EP (code 3: AutoEP, transformers' ``grouped_gemm``
    ``MoEParamShard(Shard(0))``, ``E / ep`` whole experts a rank) the routed experts over ``ep`` and the rest as
    the TP plan holds it. The weight-sized per-call tensors of a frozen base (finetune ``frozen_delta_parts``: peft's ParamWrapper
    ``W + delta`` of the rank's expert shard, autocast's casts of its linears) take the share of what they copy
    (epw51: until then the model-wide ``hf_grad_share``, Qwen3-30B-A3B's experts at 0.288 for their 0.25); the
    rest's share here is the parameter-weighted mean of its parts (the gradients' share), ``hf_weight_part_shares``
    the share of each part."""
    routed = 1.0 / ep if code == 3 else 1.0 if code == 2 else 1.0 / tp
    if tp <= 1:
        return 1.0 / tp, routed
    # the TP plan's whole parts (moe HF_TP_PLANS: DeepSeek-V3's attention; the routers and norms of every plan, moe
    # hf_replicated_params) whole, the rest over TP
    whole = float(hf_ep_whole_params(m, stack, tp, 1))
    if whole == 0.0:
        return 1.0 / tp, routed
    pc = count_params(m)
    rest = pc.total - _routed_expert_params(m)
    return (whole + (rest - whole) / tp) / rest, routed


def hf_weight_part_shares(m: ModelSpec, stack, tp: float, code: int, ep: float = 1.0) -> BlockWeights:
    """The share of each part of a block's weights (finetune ``BlockWeights``) one rank of the HF code holds, by its
    ``hf_ep_rows`` code: under a transformers TP plan that leaves a part whole (``HF_TP_PLANS``; code 4 at EP 1, code
    3 at EP > 1) the attention and a dense layer's MLP whole unless the plan splits them (``HfTpPlan.attention`` /
    ``dense_mlp``), an MoE layer's router and shared experts over TP (whole unless ``HfTpPlan.shared_experts``:
    Qwen2-MoE's plan names neither its shared expert nor its router), the routed experts at
    ``hf_weight_shares``' share; under the other codes every part but the experts at 1 / tp. The weight-sized
    per-call bytes of a frozen base (finetune ``frozen_delta_parts``) take the share of the part they copy (lora52:
    until then ``hf_weight_shares``' rest, the parameter-weighted mean with the whole embedding and head in it --
    exact where the plan leaves every part of the rest whole, Qwen3-MoE's; Llama-4-Scout under its EP plan, TP4 EP4:
    the attention's casts at 0.80 for 0.25, the router's and shared expert's at 0.80 for 1)."""
    rest, routed = hf_weight_shares(m, stack, tp, code, ep)
    plan = hf_tp_plan(m, stack) if code in (3, 4) else None
    if plan is None or tp <= 1:
        return BlockWeights(rest, rest, rest, routed)
    return BlockWeights(attention=1.0 / tp if plan.attention else 1.0, dense_mlp=1.0 / tp if plan.dense_mlp else 1.0,
                        moe_block=1.0 / tp if plan.shared_experts else 1.0, experts=routed)


def hf_tp_share(m: ModelSpec, seq, micro_batch, tp, sp, recompute):
    """The share of one layer's saved activations a tensor-parallel rank of the HF model code keeps, per candidate:
    the fused-kernel table's (activations.layer_activation_bytes, Korthikanti et al. 2022 Table 2) bytes at (tp, sp)
    over its bytes at TP 1, the HF code's own table (activations_hf) being a single-GPU one. Without sequence
    parallelism (Stack.tp_sequence_parallel False: transformers' colwise / rowwise plans, DeepSpeed AutoTP) the norm
    inputs, the column-parallel layers' replicated inputs and the residual stream stay whole and only the attention
    and MLP intermediates split; under gradient checkpointing (``recompute`` 2) a layer keeps its input, whole. The
    HF code has no selective recompute: code 1 keeps everything (0). Until hfsp34 every byte was divided by TP."""
    rc = np.where(np.asarray(recompute) == 2, 2, 0)
    kw = dict(cp=1, flash=True, dropout=False, act_bytes=2)
    one = mean_layer_activation_bytes(m, seq, micro_batch, tp=1, sp=False, recompute=rc, **kw)
    return mean_layer_activation_bytes(m, seq, micro_batch, tp=tp, sp=sp, recompute=rc, **kw) / one


def hf_fp32_stream(t: TrainingSpec, c: Candidates, precision: str, stack) -> np.ndarray:
    """Per candidate, whether the HF table's ``precision`` keeps its fp32 stream (``Stack.fp32_stream`` at the row's
    ZeRO stage, where ``precision`` is autocast's "amp_bf16"; True elsewhere): the key ``hf_table_precision`` reads."""
    zero = np.asarray(c.zero)
    if precision != "amp_bf16" or stack is None or not stack.autocasts(t):
        return np.ones(zero.shape, dtype=bool)
    return np.broadcast_to(stack.fp32_stream(t, zero), zero.shape)


def hf_row_precisions(precision: str, fp32_keys, model_type: str = "", softmax_input: bool = False) -> list[str]:
    """The HF table's precision at each distinct key whose stream is fp32 or not (``fp32_keys``), for the model's
    transformers ``model_type`` (the LayerNorm families take CUDA autocast's tables); ``softmax_input``: the
    stack's torch keeps each softmax's input (``Stack.softmax_keeps_input``)."""
    from planner.model.activations_hf import hf_table_precision

    return [hf_table_precision(precision, bool(f), model_type, softmax_input=softmax_input)
            for f in np.asarray(fp32_keys).tolist()]


def hf_key_experts(m: ModelSpec, stack, ep) -> list[str]:
    """Per candidate (or key), the experts kernel the HF table prices its MoE blocks with: DeepSpeed's AutoEP's own
    (``activations_hf.AUTOEP_EXPERTS``) where it swaps in its ``AutoEPMoELayer`` (moe ``autoep_rows``: the deepspeed
    stack at EP > 1), else the job's ``experts_implementation`` (``hf_stack_experts``). Until autoep53b one kernel a
    job: an ``eager`` job's AutoEP rows were priced with transformers' loop."""
    job = hf_stack_experts(m, stack)
    on = np.broadcast_to(autoep_rows(stack, ep), np.shape(ep)) if m.moe is not None else np.zeros(np.shape(ep), bool)
    return [AUTOEP_EXPERTS if x else job for x in np.ravel(on).tolist()]


def hf_row_keys(m: ModelSpec, t: TrainingSpec, c: Candidates, precision: str, stack):
    """The distinct keys the HF table and walk are computed at, shared by ``_hf_activation_arrays`` and
    ``_hf_walk_arrays``: (the rows' HF EP / AutoTP ``plans``, the keys (micro-batch, recompute, tp, cp, sp, the HF
    plan's code, ep where AutoEP's share depends on it -- code 3 --, an fp32 stream), ``inv`` back to the rows, each
    key's table precision). The stream's dtype goes by the ZeRO stage (``hf_fp32_stream``: the bf16 table where FSDP
    gathers bf16 weights under autocast, hffsdp47)."""
    from planner.model.activations_hf import hf_model_type

    on_ep, plans = hf_ep_rows(m, stack, c.tp, c.ep)  # rows under an HF EP plan or AutoTP (hf_ep_rank_share)
    keys, inv = distinct_rows(c.mb, c.rc, c.tp, c.cp, c.sp, np.broadcast_to(on_ep, c.tp.shape),
                              np.where(on_ep == 3, c.ep, 1), hf_fp32_stream(t, c, precision, stack).astype(int))
    return plans, keys, inv, hf_row_precisions(precision, keys[-1], hf_model_type(m),
                                               bool(getattr(stack, "softmax_keeps_input", False)))


def hf_ring_backward(m: ModelSpec, seq, mb, tp, cp, precision, stack):
    """The bytes on one rank PyTorch's ``context_parallel`` ring backward holds inside one layer's attention backward
    (``activations.cp_torch_ring_transient``: (2 cp + 20) K + 3 Q, K and Q the rank's tokens at the heads of its TP
    shard; measured on torch's ``_templated_ring_attention_backward``, mem54) on the HF code's rows, where the stack
    runs torch's CP (``Stack.torch_cp_ring``: the HF Trainer's
    accelerate CP, ``TorchContextParallelConfig``) and cp > 1; else 0. Its K / V at the grouped heads: transformers'
    integrations/sdpa_attention.py ``use_gqa_in_sdpa`` passes ``enable_gqa=True`` instead of ``repeat_kv`` at
    torch >= 2.5 with no mask (CP's causal-only mask); mem54b. At the activations' bytes of the row's table precision
    (``hf_precision``: the bf16 16-bit stream the ring's fp32 terms were measured at), or ``precision`` the bytes
    themselves (per key: ``frozen_ring_backward``). A float for one row, an array for arrays of keys."""
    ring = 0.0
    if getattr(stack, "torch_cp_ring", False):  # 0 at cp 1 (cp_torch_ring_transient)
        act = hf_precision(precision).act if isinstance(precision, str) else precision
        ring = cp_torch_ring_transient(m, seq, mb, np.asarray(tp, dtype=np.float64), np.asarray(cp, dtype=np.float64),
                                       False, act)
    ring = np.broadcast_to(ring, np.broadcast(tp, cp, mb).shape)
    return float(ring) if ring.ndim == 0 else ring.astype(np.float64)


def _hf_activation_arrays(m: ModelSpec, t: TrainingSpec, c: Candidates, seq, precision: str, stack=None):
    """Per-layer saves, recompute working set, the head's saves + logits/loss transients and what the head still
    holds at the last layer's rebuild (``HFActivations.head_held``, over cp) of the HF table
    (activations_hf.hf_activations) for each candidate. HF code has no selective
    recompute: "selective" plans keep everything, "full" is gradient checkpointing per block.
    A cp split divides the tokens' bytes evenly (first order); a tp split keeps ``hf_tp_share`` of a layer's and
    the head's whole logits: transformers' ``lm_head`` is ``colwise_gather_output`` (models/llama/modeling_llama.py
    ``LlamaForCausalLM._tp_plan``), a gathered output on every rank. The head's weight-sized bytes
    (``HFActivations.head_weight``: Liger's saved head-weight gradient, a frozen head's autocast cast) are not
    tokens': they go by ``activations_hf.hf_rank_peak``'s rule, the walked step's (at the rank's share of the weights,
    ``hf_grad_share``, and NOT over cp: context parallelism shards the sequence, not the weights; accelerate
    docs/source/concept_guides/context_parallelism.md). Until hftab44 they were over cp and whole on a TP rank.
    The layers' pieces (``per_layer``, ``recompute``) are tokens' bytes alone -- the saves, the DynamicCache, a
    recomputed block's working set; on these rows autocast's weight copies sit in the weight term and the
    gradients in theirs (``autograd_grads``), neither over cp -- so the whole of them goes over cp, the rule the walk
    gives its layers' part (checked for mem45: Llama-3-8B under the HF Trainer, 4,096 tokens, TP2 PP4 DP8, CP1 ->
    CP2: activations 36.53 -> 18.27 GiB, weights 6.34 and gradients 4.23 GiB at both). Under torch's CP the ring's
    backward buffers (``hf_ring_backward``) join the recompute working set, as ``recompute_working_set`` adds them on
    the other stacks: both live inside one layer's backward (hfcp54)."""
    from planner.model.activations_hf import hf_attn_impl, hf_padded, hf_rank_peak

    # the stack's attn_implementation (padded rows: a mask, ``hf_padded``)
    impl = hf_attn_impl(m, t.flash_attention, hf_attn_choice(stack, m, t), padded=hf_padded(t))
    plans, (kmb, krc, ktp, kcp, ksp, kwh, kep, kfs), inv, precs = hf_row_keys(m, t, c, precision, stack)
    rows = []
    # the loss as Liger's fused linear cross-entropy (Stack.fused_cross_entropy): a frozen head (LoRA's) gets no
    # weight gradient from it
    fused = bool(getattr(stack, "fused_cross_entropy", False))
    held = bool(getattr(stack, "loop_holds_output", False))  # the loop keeps the model output through backward
    head_trains = not frozen_base(m, t)
    spec = m.model_dump_json()
    kexp = hf_key_experts(m, stack, kep)  # each key's experts kernel (transformers' or AutoEP's)
    shares = hf_rank_shares(m, seq, kmb, ktp, ksp, krc, kwh, plans, precs, impl, kexp)
    for mb, rc, tp, cp, wh, ep, share, prec, experts in zip(kmb, krc, ktp, kcp, kwh, kep, shares, precs, kexp):
        r = _hf_table(m, spec, int(seq), int(mb), prec, impl, int(rc) == 2, fused, head_trains, held,
                      stack_head_seq(stack, t), experts)
        div = float(cp) / float(share)
        # the head as one moment of hf_rank_peak: no layers' part, the tokens' bytes whole on a TP rank, over cp
        head = r.outside + r.logits_transient
        g_share = hf_grad_share(m, stack, float(tp), int(wh), float(ep)) if r.head_weight else 1.0
        rows.append((r.per_layer / div, r.recompute / div + hf_ring_backward(m, seq, mb, tp, cp, prec, stack),
                     hf_rank_peak(np.array([[head, head - r.head_weight, r.head_weight]]), 1.0, g_share, cp),
                     r.head_held / float(cp)))  # (tokens' tensors, whole on a TP rank: hf_rank_peak's vocab rule)
    arr = np.asarray(rows, dtype=np.float64)[inv]
    return arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]


def _hf_walk_arrays(m: ModelSpec, t: TrainingSpec, c: Candidates, seq, precision: str, stack, m_micro, kept):
    """What one training step of the HF model code creates on a GPU, per candidate, as
    (activations, logits): the walked peak of ``activations_hf.hf_step_memory`` (the larger of
    the forward's and the step's; within 5% of real transformers runs for all 360 case
    classes, tests/test_hf_memory.py) less, for the report only, its vocab-wide part (the logits
    and the loss' largest transient) given as ``logits``. Parameters, gradient buffers and
    optimizer state, which exist before the step, are ``memory_per_gpu``'s own terms; which
    gradients the walk keeps follows the stack:

    * ZeRO-0 (DDP): accelerate's ``DistributedDataParallelKwargs.gradient_as_bucket_view`` is
      False by default (accelerate/utils/dataclasses.py), so DDP's reducer keeps its bucket
      tensors (allocated at construction: the plan's gradient term) and autograd's ``.grad``
      tensors besides — the walk keeps them as they appear; with gradient accumulation
      (``m_micro`` > 1) they exist from the first micro-batch on: walk without them + all of them.
      ZeRO-1 without overlapped reduction (DeepSpeed ``stage_1_and_2.py`` registers its
      reduce-and-remove hooks only ``if self.partition_gradients or self.overlap_comm``): the same;
      so DeepSpeed's ZeRO-1 at any ``overlap_comm`` (its engine forces it off at stage 1:
      ``ZeroStageStates`` in planner.model.stacks);
    * DeepSpeed's ``BF16_Optimizer`` (ZeRO-0; the pipeline engine's ZeRO-1): nothing frees the bf16
      ``.grad`` at the step, so the last backward's are held through every forward: walk without
      them + all of them, with or without accumulation;
    * ZeRO-1 with overlap, ZeRO-2: each gradient is reduced in a bucket and removed
      (``reduce_ready_partitions_and_remove_grads``; the rank's partition is DeepSpeed's
      contiguous gradient buffer, FSDP SHARD_GRAD_OP's sharded gradient: the plan's term); the
      walk keeps each weight gradient only until its block's phase ends (the in-flight
      reduction bucket is the plan's gradient term where the stack's table has one,
      ``zero_stage_states``);
    * ZeRO-3 / FSDP: reduce-scatter per block and free (FSDP's post-backward hook; DeepSpeed
      stage3.py), as ZeRO-2; and no autocast copies: accelerate's FSDP plugin gathers the weights
      in bf16 (``MixedPrecision(param_dtype=bf16)``, ``set_mixed_precision``), the gathered
      layers being the plan's weight term (DeepSpeed ZeRO-3 under torch autocast is taken the same).
      The HF Trainer's ZeRO-2 is FSDP's SHARD_GRAD_OP with the same bf16 gather (``Stack.autocast_finds_fp32``):
      no copies there either. Where the weights autocast finds are bf16 the stream is too (``Stack.fp32_stream``):
      those rows walk the bf16 module's tensors (``hf_fp32_stream``, ``activations_hf.hf_table_precision``,
      hffsdp47).

    The model output (logits, DynamicCache) is freed before the backward where the stack's loop drops it
    (``Stack.loop_holds_output`` False: HF Trainer's ``compute_loss`` / ``training_step``), kept through it otherwise.

    ``kept``: per candidate, which of these holds (``KEPT_*`` of memory ``zero_stage_states``, the stack's rows:
    ``memory_per_gpu`` passes ``StateContext.g_kept``; until split47b None took the paper convention's rows here,
    which no caller passed). A tp split keeps, at each moment of the walk, ``hf_tp_share`` of its activations, the whole vocab-wide part (the gathered logits, the loss's transients and its saved log-softmax; and
    the tokens' tensors outside the blocks, the head's input among them: whole on every TP rank, mem45) and
    ``hf_grad_share`` of the weight-sized tensors live then (the weight gradients, autocast's weight copies, Liger's
    head-weight gradient); a cp split divides the activations and the vocab-wide part evenly (the rank's own tokens;
    first order, as ``_hf_activation_arrays``), not the weight-sized tensors (CP splits the sequence, not the
    weights): the rank's peak is the largest of those over the moments (``activations_hf.hf_rank_peak``, the one
    rule, also for the gradients added to a walk without them; until hfwalk44 the peak's total was split as if it
    held all the logits and all the gradients at once, negative under checkpointing; until hfvocab44 the log-softmax
    and the copies were at the activations' share; until hfcp44 the weight-sized tensors were divided by cp too).
    Liger's head-weight gradient is always walked as a training head's: a walked row trains its head (the one frozen
    head is a frozen base's, LoRA's / QLoRA's, which ``memory_per_gpu`` never walks: its ``walked``).
    Under torch's CP each block's attention backward also holds the ring's buffers (``hf_ring_backward``, at the
    fused kernel's backward: ``hf_step_walk``'s ``attn_bwd_extra``; until hfcp54 not priced on these rows).
    Computed once per distinct (micro-batch, recompute, tp, cp, sp): the walk is O(layers), cached with the few
    moments that can hold a rank's peak (``hf_walk_front``)."""
    from planner.model.activations_hf import hf_attn_impl, hf_padded, hf_model_type, hf_rank_peak

    # the stack's attn_implementation (padded rows: a mask, ``hf_padded``)
    impl = hf_attn_impl(m, t.flash_attention, hf_attn_choice(stack, m, t), padded=hf_padded(t))
    mt = hf_model_type(m)
    spec = m.model_dump_json()
    fused = bool(getattr(stack, "fused_cross_entropy", False))  # Liger's fused linear cross-entropy
    held = bool(getattr(stack, "loop_holds_output", False))  # HF Trainer: the output dropped before backward
    zero = np.asarray(c.zero)
    kept = np.asarray(kept)
    keep = kept != KEPT_NONE
    # no autocast copies where FSDP hands the forward 16-bit weights (ZeRO-3; the HF Trainer's ZeRO-2 too:
    # Stack.autocast_finds_fp32; until hffsdp47 ZeRO-3 alone)
    no_copies = ~np.broadcast_to(stack.autocast_finds_fp32(zero), zero.shape) if stack is not None else zero >= 3
    # the walks a key needs: with kept gradients (DDP), without, without autocast copies
    variants = [(False, True)] + [(True, True)] * bool(keep.any())
    if precision == "amp_bf16" and no_copies.any():
        variants.append((False, False))
    plans, (kmb, krc, ktp, kcp, ksp, kwh, kep, kfs), inv, precs = hf_row_keys(m, t, c, precision, stack)
    rows = []
    kexp = hf_key_experts(m, stack, kep)  # each key's experts kernel (transformers' or AutoEP's)
    shares = hf_rank_shares(m, seq, kmb, ktp, ksp, krc, kwh, plans, precs, impl, kexp)
    for mb, rc, tp, cp, wh, ep, share, prec, experts in zip(kmb, krc, ktp, kcp, kwh, kep, shares, precs, kexp):
        # the ring's rank bytes at the walk's scale, which hf_rank_peak brings back to the rank's (x share / cp): the
        # ring's K / Q are the TP shard's heads, not the layer's TP share (whole norms, or under checkpointing)
        ring = hf_ring_backward(m, seq, mb, tp, cp, prec, stack) * float(cp) / float(share)
        got = {v: _walk(m, spec, mt, int(seq), int(mb), prec, impl, int(rc) == 2, *v, fused, held,
                        stack_head_seq(stack, t), experts, ring) for v in variants}
        _, grads, vocab = got[(False, True)]
        g_share = hf_grad_share(m, stack, float(tp), int(wh), float(ep))
        # one rank's walk: the layers' share, the gathered logits, its weight gradients, moment by moment
        walks = [got.get(v, got[(False, True)])[0] for v in ((False, True), (True, True), (False, False))]
        # the gradients added to a walk without them: a weight-sized amount alone (moments [[g, 0, g]]), at the
        # rank's weight share and not over cp, by hf_rank_peak's one rule
        rows.append((*(hf_rank_peak(x, share, g_share, cp) for x in walks),
                     hf_rank_peak(np.array([[grads, 0.0, grads]]), share, g_share, cp), vocab / float(cp)))
    passed, kept_walk, no_casts, grads, vocab = np.asarray(rows, dtype=np.float64)[inv].T
    held_all = (np.asarray(m_micro) > 1) | (kept == KEPT_PERSIST)  # every .grad held from the first forward on
    peak = np.where(zero >= 3, no_casts, np.where(keep, np.where(held_all, passed + grads, kept_walk),
                                                  np.where(no_copies, no_casts, passed)))
    # (a rank's peak is at least its vocab-wide tensors' largest moment: only rounding of the split goes below)
    return np.maximum(peak - vocab, 0.0), vocab


_WALKS: dict = {}  # the walks of recent plans (a search evaluates the same model on each hardware option)
_HF_TABLES: dict = {}  # the HF table's cut of recent plans (``_hf_table``), kept as the walks are


def _hf_table(m: ModelSpec, spec: str, seq: int, mb: int, precision: str, impl: str, gc: bool, fused_ce: bool,
              head_trains: bool, output_held: bool, head_seq=None, experts: str = "eager"):
    """``activations_hf.hf_activations`` (its own walk of the step included), cached as ``_walk`` is, by the model's
    JSON and the step's shape: it depends on the micro-batch and checkpointing of a candidate alone, yet was read
    once per (micro-batch, recompute, tp, cp, sp) key of every call (36 times on 10^4 random layouts, 6 distinct;
    speed41)."""
    from planner.model.activations_hf import hf_activations

    key = (spec, seq, mb, precision, impl, gc, fused_ce, head_trains, output_held, head_seq, experts)
    if key not in _HF_TABLES:
        if len(_HF_TABLES) > 4096:
            _HF_TABLES.clear()
        _HF_TABLES[key] = hf_activations(m, seq, mb, precision, impl, gc, fused_ce=fused_ce, head_trains=head_trains,
                                         output_held=output_held, head_seq=head_seq, experts=experts)
    return _HF_TABLES[key]


def _walk(m: ModelSpec, spec: str, mt: str, seq: int, mb: int, precision: str, impl: str, gc: bool,
          keep: bool, casts: bool, fused_ce: bool = False, output_held: bool = True, head_seq=None,
          experts: str = "eager", attn_bwd_extra: float = 0.0) -> tuple:
    """(the moments that can hold a rank's peak, all gradients, vocab-wide part) of one step (``hf_step_walk``,
    ``hf_walk_front``), cached by the model's JSON and the step's shape."""
    from planner.model.activations_hf import hf_step_walk, hf_walk_front

    key = (spec, mt, seq, mb, precision, impl, gc, keep, casts, fused_ce, output_held, head_seq, experts, attn_bwd_extra)
    if key not in _WALKS:
        if len(_WALKS) > 4096:
            _WALKS.clear()
        s, moments = hf_step_walk(m, mt, seq, mb, precision, impl, gc, keep, casts, fused_ce, output_held, head_seq,
                                  experts, attn_bwd_extra)
        _WALKS[key] = (hf_walk_front(moments), s.grads, s.vocab)
    return _WALKS[key]
