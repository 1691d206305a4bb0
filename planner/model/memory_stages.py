"""What each pipeline stage of a training layout holds, for the memory model (planner.model.memory) and the step
time's DP terms (planner.model.step_time): the parameters of the two stages the model states are priced on and of every
rank before the last (``stage_split`` -> ``StageSplit``, dense and expert apart, with the blocks Muon reads its
matrices from; ``key_stage_split`` at the distinct model-state keys ``STATE_KEY``), a layer's and the pipeline ends'
parameters (``layer_params``, ``pipeline_end_params``, MTP's ``mtp_stage_params`` / ``mtp_embedding_copy``), the
16-bit copies a rank keeps (``lp16_rank_params``), the largest unit ZeRO-3 / FSDP gathers (``largest_unit_params``),
and the micro-batches each rank holds in flight (``inflight_microbatches``, ``combined_pair_layers``,
``stage_layer_microbatches``: 1F1B, Megatron-Core's interleaved warm-up, GPipe, DualPipeV), each with its source in
its docstring.

planner/model/memory.py held these until split47 (3,409 lines); they moved verbatim (no renames, no behaviour change:
golden arrays and benchmarks/validate.py's output unchanged), and this module imports nothing from memory (an
import-linter contract in pyproject.toml): memory reads the stages from here, never the other way round.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from planner.layout import V_SPLIT, Candidates, distinct_rows, split_vpp
from planner.model.finetune import frozen_base
from planner.model.moe import hf_layer_whole_params
from planner.model.pipeline import (ExplicitLayout, TitanSplit, accumulator_states, chunk_layers, interleaved_warmup,
                                    is_deepspeed, kind_weights, lp16_rank_layers, pipeline_split, rank_kind_layers, runtime_at,
                                    split_keys, split_per_row, split_runtime, stage_layer_ends, stage_ranks,
                                    vpp_group_size)
from planner.npfast import select
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.params import count_params, hybrid_block_params, layer_kinds, mtp_modules


def largest_unit_params(m: ModelSpec, pc, tp, etp, ep, stack=None):
    """Parameters one rank holds of the largest layer (a hybrid model's largest block), the unit ZeRO-3 / FSDP
    gathers: its dense part over TP, its routed experts over expert-TP x EP -- with expert parallelism a rank
    gathers only its local experts (torchtitan shards them on their own mesh, ``fully_shard(moe.experts, mesh=
    edp_mesh)``, parallelize.py ``apply_fsdp``; planner.model.step_time gathers ``stage_p_exp / (etp x ep)`` the
    same), not the layer's every expert. Layer kinds the model lacks are left out (a model of MoE layers only has
    no dense layer to gather). On the HF code what its plan leaves whole is gathered whole (moe
    ``hf_layer_whole_params``: under DeepSeek-V3's and gpt-oss's TP plans the attention, at every EP; until dsep35 over
    TP, as memory ``dense_rank`` holds them since hfep35; hfep35-hfep52 an older EP plan's router and shared experts)."""
    tp = np.asarray(tp, dtype=np.float64)
    ex = np.asarray(etp, dtype=np.float64) * np.asarray(ep, dtype=np.float64)
    e_exp = m.moe.experts * pc.expert if m.moe is not None else 0.0
    dw, mw = hf_layer_whole_params(m, stack, tp, ep) if stack is not None and not m.hybrid else (0.0, 0.0)
    moe_unit = (pc.moe_layer - e_exp - mw) / tp + mw + e_exp / ex
    if m.hybrid:
        units = [p / tp for k, p in hybrid_block_params(m).items() if m.kind_layers(k)]
    else:
        units = [(pc.dense_layer - dw) / tp + dw] if pc.n_dense_layers else []
    if m.moe is not None and pc.n_moe_layers:
        units.append(moe_unit)
    return np.maximum.reduce([np.broadcast_to(u, np.broadcast(tp, ex).shape) for u in units])


@dataclass(frozen=True)
class StageSplit:
    """The two pipeline stages the model states are priced on (``stage_split``), arrays over the candidates:
    "first" the heaviest stage before the last (the first where pp is 1), "last" the last. Parameters before any
    TP/EP/ZeRO division, dense and expert apart; ``layers`` the fullest rank's layers, ``largest`` the largest unit
    per rank (``largest_unit_params``); ``first_blocks`` / ``last_blocks`` the blocks each of the two holds, by
    kind (planner.spec.params ``layer_kinds``; "mtp" its MTP modules): what Muon's matrices are read from
    (planner.model.optimizers ``stage_muon_params``); None unless asked for (``stage_split(blocks=True)``: counting
    them about doubled the split's cost, ~1.5 to ~3 ms a call over 3,000 DeepSeek-V3 layouts, whatever the
    optimizer). ``before_last``: where the split is counted stage by stage (``_split_stage_params``,
    ``_hybrid_stage_params``), every rank before the last as (dense, expert, blocks) -- its own parameters (stage 0's
    embedding included), 0 where a candidate has fewer stages, its blocks with ``blocks`` (else {}): the rank
    classes' states (memory ``rank_state_context``; since mem43 on every call, so counted whatever ``blocks``) and
    Muon's step, paced by the stage with the most Newton-Schulz work, which need not be the heaviest by parameters
    (planner.model.step_time ``_dp_terms``); () elsewhere (every stage priced at the ends' ceil(L / pp) layers)."""
    first_dense: np.ndarray
    first_expert: np.ndarray
    last_dense: np.ndarray
    last_expert: np.ndarray
    layers: np.ndarray
    largest: np.ndarray
    first_blocks: dict | None
    last_blocks: dict | None
    before_last: tuple = ()
    #: the rank "first" is, per candidate (``_split_stage_params``' heaviest before the last), whose 16-bit kept
    #: layers the weights count (``lp16_rank_params``); None: rank 0
    first_rank: np.ndarray | None = None

    def params(self) -> tuple:
        """(first_dense, first_expert, last_dense, last_expert, layers, largest): ``stage_params``' tuple."""
        return (self.first_dense, self.first_expert, self.last_dense, self.last_expert, self.layers, self.largest)

    def take(self, idx) -> "StageSplit":
        """The candidates ``idx`` of every array (the blocks' and the stages' before the last too)."""
        at = lambda a: a[idx] if np.ndim(a) else a  # noqa: E731
        held = lambda b: None if b is None else {k: at(v) for k, v in b.items()}  # noqa: E731
        return StageSplit(*map(at, self.params()), held(self.first_blocks), held(self.last_blocks),
                          tuple((at(d), at(e), held(b)) for d, e, b in self.before_last),
                          None if self.first_rank is None else at(self.first_rank))


#: the model-state key (memory ``state_context``), in its column order; planner.model.step_time ``dp_step_terms`` asks
#: for
#: the same nine columns in its own (``Candidates.distinct`` finds them once for both)
STATE_KEY = ("pp", "tp", "dp", "cp", "ep", "zero", "etp", "dp_shard", "split_vpp")


def split_blocks(m: ModelSpec, t: TrainingSpec) -> bool:
    """Whether the stage split counts each stage's blocks (``stage_split(blocks=True)``): Muon reads its matrices
    from them (planner.model.optimizers ``stage_muon_params``), on a transformer whose base is trained."""
    return t.optimizer == "muon" and m.is_transformer and not frozen_base(m, t)


def key_stage_split(m: ModelSpec, t: TrainingSpec, st, c: Candidates) -> StageSplit:
    """``stage_split`` at ``c``'s distinct model-state keys (``STATE_KEY``, in ``c.distinct``'s order) on the split
    ``st`` launches, found once per Candidates (``Candidates.kept``): the memory model's states (memory
    ``state_context``) and the step time's DP terms (planner.model.step_time ``dp_step_terms``) both read it, and until
    code42 each found it (~0.3 ms a memory + step-time pair on 10^4 rows)."""
    blocks = split_blocks(m, t)

    def split() -> StageSplit:
        (kpp, ktp, kdp, kcp, kep, kz, ketp, _, kvpp), _ = c.distinct(*STATE_KEY)
        kc = Candidates.layouts(ktp, kpp, kdp, kcp, kep, kz, etp=ketp)
        kc.vpp = kvpp
        return stage_split(m, kc, split_runtime(st, m), blocks=blocks, stack=st)
    return c.kept("memory.key_stage_split", split, STATE_KEY, m, st, blocks)


def stage_params(m: ModelSpec, c: Candidates, runtime: str = "megatron"):
    """``stage_split``'s parameters as a tuple (first_dense, first_expert, last_dense, last_expert, layers_on_stage,
    largest_unit)."""
    return stage_split(m, c, runtime).params()


def _with_mtp_blocks(m: ModelSpec, pp, blocks) -> tuple[dict | None, dict | None]:
    """The stages' (first, last) ``blocks`` with the MTP modules (``mtp_modules``) on the last stage (on the only one
    with ``pp`` 1), where ``mtp_stage_params`` puts their parameters; (None, None) where not counted."""
    if blocks is None:
        return None, None
    first, last = blocks
    n = float(mtp_modules(m)) if m.mtp_layers else 0.0
    if not n:
        return first, last
    return {**first, "mtp": np.where(np.asarray(pp) == 1, n, 0.0)}, {**last, "mtp": np.full(np.shape(pp), n)}


def stage_split(m: ModelSpec, c: Candidates, runtime: str = "megatron", blocks: bool = False,
                stack=None) -> StageSplit:
    """Parameters on the first and last pipeline stage of each candidate, split into dense and
    expert parts, before any TP/EP/ZeRO division, on the split ``runtime`` launches (planner.model.pipeline
    ``pipeline_split``), and with ``blocks`` the blocks those two stages hold (``StageSplit``).

    Every stage is counted from the split itself (``_split_stage_params``): "first" the heaviest stage before the
    last, per GPU (the embedding on stage 0), "last" the last stage's own layers and the head. Megatron's uneven
    forms put fewer layers on the ends (``first_last``; ``embedding_loss``: Llama-3.1-405B's 126 on PP16 are 7 + 14 x
    8 + 7, so "first" is rank 1's 8 layers, 25.5B parameters, not 8 layers and the embedding, 27.6B: pp16mem38);
    DeepSpeed's ``PipelineModule`` partitions (``pipeline.is_deepspeed``: Megatron-DeepSpeed, every
    ``pp_partition_method``), an explicit Megatron layout (``pipeline.ExplicitLayout``) and torchtitan's less-layers
    split (``pipeline.TitanSplit``: 32 layers on PP4 at its default 1 / 1 are 8, 9, 8, 7) can put more than
    ceil(L / pp) on a stage (BLOOM-176B "uniform" on PP12: 4, 7 x 4, 6 x 6, 2), and there ``layers_on_stage`` is the
    fullest stage's layers, elsewhere ceil(L / pp)."""
    pc = count_params(m)
    pp = c.pp.astype(np.float64)
    if not m.is_transformer:
        total = np.full(len(c), float(pc.total))
        z = np.zeros(len(c))
        return StageSplit(total, z, total, z, np.ones(len(c)), total, *(({}, {}) if blocks else (None, None)))
    L = m.layers
    if m.hybrid:
        *states, held, before = _hybrid_stage_params(m, c, pc, runtime, blocks)
        return StageSplit(*states, *_with_mtp_blocks(m, pp, held), before)
    layers = chunk_layers(L, pp)  # most loaded stage
    largest = largest_unit_params(m, pc, c.tp, c.etp, c.ep, stack)  # ``stack``: what an HF plan leaves whole
    if is_deepspeed(runtime) or isinstance(runtime, (ExplicitLayout, TitanSplit)):  # a rank may hold more than ceil(L / pp)
        *states, fullest, held, before, frank = _split_stage_params(m, c, pc, runtime, blocks)
        return StageSplit(*states, fullest, largest, *_with_mtp_blocks(m, pp, held), before, frank)
    # every stage counted from the split it launches (pp16mem38): until 2026-12-05 a model of one layer kind (all
    # dense, or all MoE) priced both ends at ceil(L / pp) layers, the first with the embedding -- Llama-3.1-405B on
    # PP16 under ``--account-for-embedding/loss-in-pipeline-split`` (7 + 14 x 8 + 7) as 8 layers and the embedding,
    # 2.1B parameters no rank holds beside 8 layers (rank 0 holds 7 and the embedding, 24.4B; rank 1 8, 25.5B)
    *states, _, held, before, frank = _split_stage_params(m, c, pc, runtime, blocks)
    return StageSplit(*states, layers, largest, *_with_mtp_blocks(m, pp, held), before, frank)


@functools.lru_cache(maxsize=256)
def _split_tables(kinds: tuple, names: tuple, dense_b: bytes, exp_b: bytes, embedding, splits: tuple, blocks: bool):
    """``_split_stage_params``' per-split tables, one row per split of ``splits`` ((pp, vpp, counts per virtual
    stage)), ranks past a split's pp 0: (each rank's dense and expert parameters, stage 0 with the ``embedding``; the
    fullest rank's layers; what "last" takes off the embedding; the ranks "first" and "last" choose among; with
    ``blocks`` each rank's blocks of each kind of ``names``, else zeros), all read-only. ``kinds`` the model's
    ``layer_kinds``, ``dense_b`` / ``exp_b`` its ``layer_params`` as float64 bytes. Cached: every call of a search,
    and the step time's DP terms, meet the same few splits (memspeed39: until then ~25 numpy calls a split a call,
    the most of ``stage_split``'s fixed cost)."""
    dense_cs, exp_cs = (np.concatenate([[0.0], np.cumsum(np.frombuffer(x, dtype=np.float64))])
                        for x in (dense_b, exp_b))  # a run's sum, empty runs 0
    weights = kind_weights(kinds, names)  # 1 at each global layer of each kind (rows: ``names``)
    width = max([k for k, _, _ in splits] + [1])
    dense_r, exp_r, fullest_s, sub_last = (np.zeros((len(splits), width)), np.zeros((len(splits), width)),
                                           np.zeros(len(splits)), np.zeros(len(splits)))
    first_ok, last_ok = np.zeros((len(splits), width), dtype=bool), np.zeros((len(splits), width), dtype=bool)
    blocks_r = np.zeros((len(splits), len(names), width))
    for i, (k, v, counts) in enumerate(splits):
        edges = np.cumsum((0,) + counts)
        # chunk j on rank j % k (interleaved; DualPipeV's V: pipeline.stage_ranks); the embedding on stage 0 only
        on = stage_ranks(k, len(counts), v)
        dense, exp = (np.bincount(on, cs[edges[1:]] - cs[edges[:-1]], minlength=k)
                      for cs in (dense_cs, exp_cs))
        dense[0] += embedding
        dense_r[i, :k], exp_r[i, :k] = dense, exp
        if k == 1:
            first_ok[i, 0] = last_ok[i, 0] = True
            # _with_pipeline_ends adds the embedding to "first" (and, on one stage, to "last"): what it adds is
            # taken off (stage 0's own is in dense[0]; a later stage has none)
            sub_last[i] = embedding
        elif v == V_SPLIT:  # DualPipeV: rank 0 (both ends, pipeline_end_params) and the heaviest other rank
            first_ok[i, 0], last_ok[i, 1:k] = True, True
        else:  # the heaviest stage before the last, per GPU at each row's TP and EP
            first_ok[i, :k - 1], last_ok[i, k - 1] = True, True
        fullest_s[i] = np.bincount(on, counts, minlength=k).max()
        if blocks:  # the blocks of each kind on each rank (kinds x ranks: chunk j's runs on rank j % k)
            blocks_r[i, :, :k] = rank_kind_layers(weights, counts, k, v)
    out = (dense_r, exp_r, fullest_s, sub_last, first_ok, last_ok, blocks_r)
    for x in out:
        x.setflags(write=False)
    return out


def _split_stage_params(m: ModelSpec, c: Candidates, pc, runtime: str = "megatron", blocks: bool = False):
    """(first dense, first expert, last dense, last expert, fullest rank's layers, (first blocks, last blocks) or
    None without ``blocks``, ``StageSplit.before_last`` (() without ``blocks``), the first's rank) with
    each stage counted from the split ``runtime`` launches (``pipeline_split``): any layered model on a DeepSpeed partition (``stage_params``),
    and an MoE model with dense layers among its MoE ones
    (DeepSeek-V3's first three, ``first_dense``; ``dense_layers``; ``layer_freq``): Megatron-Core builds the layers
    in order, stage k holding its contiguous run (TransformerBlock ``get_transformer_layer_offset``; the MoE
    pattern is per global layer index, ``--moe-layer-freq`` as --emit writes it), the runs sized as
    ``pipeline.pipeline_split``, the virtual stages --emit launches (until 2026-12-02 pp x vpp stages of an even-or-
    first/last split, not the launched one), and the embedding
    on stage 0 only. So a stage's experts are those of its own MoE layers, not the model's mean share per layer:
    DeepSeek-V3 on PP16 puts its two first (dense) layers and the embedding on stage 0 (2.09B parameters) and
    1 dense + 3 MoE layers on stage 1 (35.1B), where the mean share gave stage 0 four 10.97B layers plus the
    embedding (44.8B). "First" is the heaviest stage before the last, per GPU at the candidate's TP and EP (the
    one whose states are largest; the activations are the peak rank's, ``stage_layer_microbatches``), "last" the last
    stage's. With interleaving
    each rank holds every pp-th of pp x vpp such runs."""
    dense_of, exp_of = layer_params(m, pc)
    kinds = layer_kinds(m)
    names = sorted(set(kinds))
    n = len(c)
    before = max(int(np.max(c.pp)) - 1, 0) if n else 0  # ranks before the last (StageSplit.before_last)
    # one split per distinct (pp, vpp[, tp]): the virtual stages in layer order (tp where the split reads it,
    # DeepSpeed's "parameters" partition weighing a rank's own parameters); each split's per-rank sums in a row of
    # split x rank tables (``_split_tables``), the rows then gathered by their split
    keys, split_of = split_keys(c.pp, split_vpp(c), c.tp, runtime)
    splits = tuple((k, v, tuple(pipeline_split(m.layers, k, v, runtime_at(runtime, t))[1])) for k, v, t in keys)
    dense_r, exp_r, fullest_s, sub_last, first_ok, last_ok, blocks_r = _split_tables(
        kinds, tuple(names), np.asarray(dense_of, dtype=np.float64).tobytes(),
        np.asarray(exp_of, dtype=np.float64).tobytes(), pc.embedding, splits, bool(blocks))
    # the two stages depend on a row's split, TP and EP only: chosen once per distinct (split, tp, ep) (the
    # heaviest allowed rank per GPU, the first of equals, as np.argmax over the allowed ranks alone)
    (ks, ktp, kep), key_of = distinct_rows(split_of, c.tp, c.ep)
    load = dense_r[ks] / ktp.astype(np.float64)[:, None] + exp_r[ks] / kep.astype(np.float64)[:, None]
    first = np.argmax(np.where(first_ok[ks], load, -np.inf), axis=1)
    last = np.argmax(np.where(last_ok[ks], load, -np.inf), axis=1)
    fd, fe = (dense_r[ks, first] - pc.embedding)[key_of], exp_r[ks, first][key_of]
    ld, le = (dense_r[ks, last] - sub_last[ks])[key_of], exp_r[ks, last][key_of]
    frank = first.astype(np.intp)[key_of]
    fullest = fullest_s[split_of]
    # every rank before the last, its own parameters (the rank classes' states, ``rank_state_contexts``; Muon's
    # stages), and with ``blocks`` its blocks
    kept = np.arange(before)[:, None] < (np.array([k for k, _, _ in splits], dtype=np.int64) - 1)[None, :]
    bd, be = (np.where(kept, x[:, :before].T, 0.0)[:, split_of] for x in (dense_r, exp_r))
    if blocks:
        fb, lb = blocks_r[ks, :, first][key_of].T, blocks_r[ks, :, last][key_of].T
        bb = np.where(kept[None], blocks_r[:, :, :before].transpose(1, 2, 0), 0.0)[:, :, split_of]
    held = (dict(zip(names, fb)), dict(zip(names, lb))) if blocks else None
    before_last = tuple((bd[j], be[j], dict(zip(names, bb[:, j])) if blocks else {}) for j in range(before))
    return (_with_pipeline_ends(m, pc, c.pp, fd, fe, ld, le, split_vpp(c) == V_SPLIT)
            + (fullest, held, before_last, frank))


def layer_params(m: ModelSpec, pc=None) -> tuple[np.ndarray, np.ndarray]:
    """(dense, expert) parameters of each global layer, in layer order: a plain model's dense layer or MoE layer
    (its routed experts apart) by ``moe_layer_ids`` (Megatron-Core's MoE pattern per global layer index), a hybrid
    model's block of its pattern's kind (``hybrid_block_params``; the "E" block's routed experts apart). The
    stages' counts (``_split_stage_params``, ``_hybrid_stage_params``) and the layers kept 16-bit under the fp8/fp4
    recipe (``lp16_rank_params``) read it."""
    pc = count_params(m) if pc is None else pc
    e_exp = m.moe.experts * pc.expert if m.moe is not None else 0
    if m.hybrid:
        dense_of = {**hybrid_block_params(m), "E": pc.moe_layer - e_exp}
        return (np.array([dense_of[b] for b in m.hybrid_pattern], dtype=np.float64),
                np.array([e_exp if b == "E" else 0 for b in m.hybrid_pattern], dtype=np.float64))
    moe_ids = set(m.moe_layer_ids) if m.moe is not None else set()
    return (np.array([pc.moe_layer - e_exp if i in moe_ids else pc.dense_layer for i in range(m.layers)],
                     dtype=np.float64),
            np.array([e_exp if i in moe_ids else 0.0 for i in range(m.layers)], dtype=np.float64))


def lp16_rank_params(m: ModelSpec, pp, vpp=1, first: int = 0, last: int = 0, tp=1, runtime="megatron",
                     first_rank=None):
    """(first rank's dense, its expert, last rank's dense, its expert) parameters of the layers Megatron-Core keeps
    16-bit under the fp8/fp4 recipe (global layers ``[0, first)`` and ``[L - last, L)``: pipeline ``lp16_layers``),
    each layer its own (``layer_params``: a hybrid model's kept Mamba block its Mamba mixer, not the mean layer), on
    the split ``runtime`` launches, before any TP / EP / ZeRO division. With pp 1 both ranks are the one rank.
    ``first_rank``: the rank "first" is (``StageSplit.first_rank``; None: rank 0)."""
    shape = np.broadcast(np.asarray(pp), np.asarray(vpp), np.asarray(tp)).shape
    if not (first or last) or not m.is_transformer:
        z = np.zeros(shape)
        return z, z, z, z
    dense, expert = layer_params(m)
    fd, ld = lp16_rank_layers(m.layers, pp, vpp, first, last, tp, runtime, weights=dense, first_rank=first_rank)
    fe, le = lp16_rank_layers(m.layers, pp, vpp, first, last, tp, runtime, weights=expert, first_rank=first_rank)
    return fd, fe, ld, le


def pipeline_end_params(m: ModelSpec, pc, pp, v=False):
    """(first, last) stage's parameters outside the transformer blocks: the embedding on the first stage; the final
    norm and the LM head (a tied head its own copy of the table) on the last, and with multi-token prediction the
    MTP modules' copy of the word embedding (``mtp_embedding_copy``); with one stage (``pp`` 1) all of it, once
    (arrays welcome). ``v``: the DualPipeV rows (pipeline ``V_SPLIT``), whose rank 0 holds the first stage and the
    last (torchtitan ``stage_ids_this_rank(style="v")``): both ends on "first" (rank 0), none on "last" (the
    heaviest other rank, ``_split_stage_params``)."""
    single = np.asarray(pp) == 1
    v = np.asarray(v, dtype=bool) & ~single
    head = pc.lm_head + pc.final_norm + (m.vocab * m.hidden if m.tied_embeddings else 0) + mtp_embedding_copy(m)
    first = pc.embedding + np.where(single, pc.lm_head + pc.final_norm, np.where(v, head, 0.0))
    last = np.where(single, pc.embedding + pc.lm_head + pc.final_norm, np.where(v, 0.0, head))
    return first, last


def mtp_embedding_copy(m: ModelSpec) -> float:
    """Word-embedding parameters the last pipeline stage (pp > 1) holds for the multi-token-prediction modules beyond
    its head: V x h with MTP and untied embeddings, else 0. The MTP modules embed the shifted tokens, so Megatron-Core
    builds the embedding on the stage that holds them as on the first (megatron/core/models/gpt/gpt_model.py ``if
    self.pre_process or self.mtp_process: self.embedding = LanguageModelEmbedding(...)``) and keeps it equal to the
    first stage's (megatron/core/models/common/language_module/language_module.py
    ``setup_embeddings_and_output_layer``: "If use Multi-Token Prediction (MTP), we also need to maintain duplicated
    embedding weights in mtp process stage", zeroed and all-reduced over the embedding group, and its gradient
    all-reduced with the first stage's each step, as a tied head's). A trained parameter of the stage: weights,
    gradients and optimizer state as its other dense parameters, 16-bit under FP8 (``VocabParallelEmbedding``, built
    outside the FP8 init context). Tied, the same table serves the head there (the output layer allocates no weight:
    ``skip_weight_param_allocation`` for ``(pre_process or mtp_process) and share_embeddings_and_output_weights``), the
    copy ``pipeline_end_params`` already counts; on one stage it is the first stage's own. The learned-position table
    of ``LanguageModelEmbedding`` is left out: no MTP model here has one (DeepSeek-V3, Nemotron 3: RoPE / none).
    Until small30b the copy was not counted: DeepSeek-V3 (V 129,280 x h 7,168: 926.7M parameters) at TP 1 PP 16 EP 64
    ZeRO-1 on 256 p5 nodes, bf16, recompute full, priced its last stage at 25.9 GiB, now 31.2 (weights +1.73 GiB,
    fp32 main gradients +3.45, its Adam state shard over 128 ranks +0.08); the step 68.173 -> 68.185 s (its
    gradient in the DP reduce-scatter, its optimizer step). The embedding group's gradient all-reduce between the
    two copies has no step-time term, as the tied head's has none."""
    return float(m.vocab * m.hidden) if (m.mtp_layers and not m.tied_embeddings) else 0.0


def _with_pipeline_ends(m: ModelSpec, pc, pp, first_d, first_e, last_d, last_e, v=False):
    """(first dense, first expert, last dense, last expert) parameters: the stages' blocks plus what the pipeline's
    ends hold (``pipeline_end_params``) and the MTP modules (``mtp_stage_params``) on the last stage (on the only
    one with ``pp`` 1, and on DualPipeV's rank 0 with the head: ``v``)."""
    single = (np.asarray(pp) == 1) | np.asarray(v, dtype=bool)
    mtp_d, mtp_e = mtp_stage_params(m, pc)
    first_ends, last_ends = pipeline_end_params(m, pc, pp, v)
    first_dense = first_d + first_ends + np.where(single, mtp_d, 0.0)
    last_dense = last_d + last_ends + np.where(single & (np.asarray(pp) > 1), 0.0, mtp_d)
    return (first_dense, first_e + np.where(single, mtp_e, 0.0), last_dense,
            last_e + np.where(single & (np.asarray(pp) > 1), 0.0, mtp_e))


def mtp_stage_params(m: ModelSpec, pc) -> tuple[float, float]:
    """(dense, expert) parameters of the multi-token-prediction modules (``ParamCount.mtp``), which sit on the
    last pipeline stage with the head (Megatron-Core builds them in the post-process stage;
    ``--pipeline-model-parallel-layout`` puts "m" with "L"): the routed experts of each module's MoE block are
    expert parameters (sharded over EP), the rest dense."""
    if not m.mtp_layers:
        return 0.0, 0.0
    expert = mtp_modules(m) * m.moe.experts * pc.expert if m.moe is not None else 0.0
    return float(pc.mtp - expert), float(expert)


def _hybrid_stage_params(m: ModelSpec, c: Candidates, pc, runtime: str = "megatron", blocks: bool = False):
    """``stage_params`` of a hybrid model: its blocks differ (an MoE "E" block holds the experts, a Mamba
    block ~3x an attention block's weights), so each stage counts the blocks it holds. The pattern is cut in
    order into the pp x vpp virtual stages ``pipeline.pipeline_split`` launches for ``runtime``, virtual stage j
    on rank j % pp (as ``_split_stage_params``; until 2026-12-02 pp stages of the PP-only Megatron split, whatever
    the stack and vpp): Megatron-Core's MambaStack splits the pattern evenly, stage k holding layers
    [k n, (k + 1) n), n = layers // pp, where pp does not divide the layers by ``--decoder-first/last-pipeline-num-
    layers`` (as --emit writes them) (megatron/core/ssm/mamba_block.py ``_select_layers_for_pipeline_parallel``;
    it refuses VPP, stack_rules "hybrid-vpp"; NeMo AutoModel interleaves). "First" is the heaviest
    stage before the last (an upper bound on the first stage's, which also holds the embedding; the
    activations are the peak rank's, ``stage_layer_microbatches``), "last" the last stage's; ``largest`` the largest
    block (ZeRO-3's gather buffer, a rank's share: ``largest_unit_params``); then with ``blocks`` the (first, last)
    stage's blocks by pattern symbol (``StageSplit``), else None."""
    dense_of, exp_of = layer_params(m, pc)
    n = len(c)
    fd, fe, ld, le, lay = (np.zeros(n) for _ in range(5))
    fb, lb = ({b: np.zeros(n) for b in sorted(set(m.hybrid_pattern))} for _ in range(2))
    before = max(int(np.max(c.pp)) - 1, 0) if n else 0  # ranks before the last (StageSplit.before_last)
    bd, be = np.zeros((before, n)), np.zeros((before, n))
    bb = [{b: np.zeros(n) for b in fb} if blocks else {} for _ in range(before)]
    for rows, (k, v, _), counts in split_per_row(m.layers, c.pp, split_vpp(c), c.tp, runtime):
        edges = np.cumsum((0,) + tuple(counts))
        dense, exp, sizes = ([0.0] * max(k, 1) for _ in range(3))
        on = stage_ranks(k, len(counts), v).tolist()  # chunk j on rank j % k (interleaved; DualPipeV's V)
        for j, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
            dense[on[j]] += sum(dense_of[a:b].tolist())
            exp[on[j]] += sum(exp_of[a:b].tolist())
            sizes[on[j]] += b - a
        if v == V_SPLIT and k > 1:  # DualPipeV: rank 0 (both ends) and the heaviest other rank
            first, last = 0, max(range(1, k), key=lambda i: dense[i] + exp[i])
        else:
            first, last = max(range(max(k - 1, 1)), key=lambda i: dense[i] + exp[i]), k - 1
        fd[rows], fe[rows], ld[rows], le[rows], lay[rows] = dense[first], exp[first], dense[last], exp[last], max(sizes)
        # the blocks of each kind on the same two stages, and on every rank before the last (StageSplit.before_last)
        held = rank_kind_layers(kind_weights(m.hybrid_pattern, tuple(fb)), counts, k, v) if blocks else ()
        for q, b in enumerate(fb if blocks else ()):
            fb[b][rows], lb[b][rows] = held[q, first], held[q, last]
            for r in range(k - 1):
                bb[r][b][rows] = held[q, r]
        if k > 1:
            bd[:k - 1, rows], be[:k - 1, rows] = np.asarray(dense[:k - 1])[:, None], np.asarray(exp[:k - 1])[:, None]
    # each rank's own parameters: the embedding on rank 0 (what ``_with_pipeline_ends`` adds to "first")
    if before:
        bd[0] += np.where(np.asarray(c.pp) > 1, pc.embedding, 0.0)
    largest = largest_unit_params(m, pc, c.tp, c.etp, c.ep)  # a hybrid: no HF plan (moe hf_layer_whole_params)
    return _with_pipeline_ends(m, pc, c.pp, fd, fe, ld, le, split_vpp(c) == V_SPLIT) + (lay, largest,
                                                                (fb, lb) if blocks else None,
                                                                tuple((bd[r], be[r], bb[r]) for r in range(before)))


def inflight_microbatches(c: Candidates, m_micro, a2a_overlap: bool = False, last: bool = False, rank=None,
                          group=None):
    """Micro-batches whose activations the first (``last``: the last; ``rank``: that pipeline rank) stage holds at
    its peak (in units of the stage's layers). 1F1B: the pp - 1 - rank warm-up forwards plus the one of the first
    steady 1F1B step (the last stage: that one alone). Interleaved (Megatron-Core
    pipeline_parallel/schedules.py, ``get_pp_rank_microbatches`` /
    ``forward_backward_pipelining_with_interleaving``): rank r runs ``(pp - r - 1) * 2 + (v - 1) *
    microbatch_group_size_per_vp_stage`` warm-up chunk forwards (``pipeline.interleaved_warmup``, the count the
    step time's paired all-to-all share reads too: moe.a2a_paired_share) plus one (the group size g
    ``pipeline.vpp_group_size``: Megatron's default pp; torch's ``ScheduleInterleaved1F1B`` the same count with
    its ``microbatches_per_round``, wider than pp when ``m % pp``), each chunk holding L/(pp v) of the stage's
    L/pp layers: on rank 0 with g = pp, pp (1 + (pp - 1)/(pp v)) micro-batches of the stage (Megatron's
    theoretical_memory_usage ``interleaved_schedule_memory_penalty``), on the last rank ((v - 1) pp + 1)/v;
    torch with m = 10 on pp 4, v 2 (g = 5): 12/2 = 6, not 5.5; a warm-up count reaching the m v
    chunk forwards there are puts them all in the warm-up (``are_all_microbatches_in_warmup``); with
    the MoE all-to-all overlap (``overlap_moe_expert_parallel_comm``, ``a2a_overlap``) "we schedule
    one extra micro-batch forward step before the 1f1b stages": one chunk more, 1/v, and the steady forward left out
    where the rank runs combined pairs (each holds one layer of it, ``combined_pair_layers``, which
    ``stage_layer_microbatches`` adds; until mem43 the whole chunk). GPipe holds all m. DualPipeV
    holds pp + 1/2 on every rank (``pipeline.dualpipev_inflight``).
    ``group``: Megatron's explicit ``--microbatch-group-size-per-virtual-pipeline-stage`` (``Stack.
    microbatch_group_size``), the g of the warm-up count: pp 4, v 2, m 12 at g 6 holds (6 + 6 + 1)/2 = 6.5 on
    rank 0, not 5.5. The interleaved count is the rank's total; its chunks hold it unevenly (chunk 0 the most on
    rank 0, ``pipeline.chunk_inflight``), which memory_activations ``chunk_activations`` prices where the chunks differ."""
    pp = c.pp.astype(np.float64)
    v = np.maximum(c.vpp, 1).astype(np.float64)
    m_micro = np.asarray(m_micro, dtype=np.float64)
    rank = pp - 1 if last else (0.0 if rank is None else np.asarray(rank, dtype=np.float64))
    # 1F1B: pp - 1 - rank warm-ups and one more; without the overlap's extra forward, as Megatron-Core refuses the
    # overlap on 1F1B at pp > 1 (stack rule a2a-overlap-pp-vpp: "virtual_pipeline_model_parallel_size must be
    # specified"), so estimate and the search never price such a row (mem43b)
    plain = np.minimum(pp - rank, m_micro)
    g = vpp_group_size(np.maximum(m_micro, 1.0), pp, group)
    # the warm-up and one steady forward; combined 1F1B's pair holds one layer of it (``combined_pair_layers``)
    # (``a2a_overlap`` a bool, or one per row: a search's overlap twins in one call, layout.Candidates ``a2a_overlap``)
    chunks = interleaved_warmup(pp, v, g, rank, np.where(a2a_overlap, 1.0, 0.0) if np.ndim(a2a_overlap)
                                else 1.0 if a2a_overlap else 0.0) + 1
    if np.any(a2a_overlap):
        chunks = chunks - combined_pair_layers(c, m_micro, a2a_overlap, rank, group)
    inter = chunks / v
    # DualPipeV (torch ScheduleDualPipeV): every rank holds pp + 1/2 micro-batches of its layers at its peak
    # (pipeline.dualpipev_inflight counts them along the schedule's order; DeepSeek-V3's "PP + 1" chunks)
    dual = np.minimum(pp + 0.5, m_micro)
    return select(c.schedule == 3, dual, select(c.schedule == 2, m_micro,
                                                select(c.schedule == 1, np.minimum(inter, m_micro), plain)))


def _rank_stages(c: Candidates) -> tuple:
    """(pp, DualPipeV's V rows, the stages a rank holds: v, 2 under the V) per candidate."""
    v = split_vpp(c)
    dual = v == V_SPLIT
    return np.asarray(c.pp), dual, np.where(dual, 2.0, np.maximum(v, 1).astype(np.float64))


def grad_recv_buffers(st, c: Candidates, m_micro, boundary) -> tuple:
    """(rank 0, a middle rank, the last rank) bytes of torch.distributed.pipelining's gradient receive buffers, where
    the stack pipelines with it (``Stack.pp_recv_per_microbatch``), else zeros: one buffer of the stage output's
    gradient per micro-batch on every stage but the last, allocated once and held all step (torch
    distributed/pipelining/stage.py ``_PipelineStageBase._prepare_backward_infra``: for each of the
    ``num_microbatches`` ``grad_recv_info[mb] = self._create_grad_recv_info(...)``, each a ``_RecvInfo`` whose buffer
    is ``_make_tensor_from_meta`` of the output, torch 2.5 through 2.13; the recv writes into it and the backward reads
    it). ``boundary``: one micro-batch's stage output on a rank (the embedding output's size, sequence-split under SP).
    A rank holds v stages (interleaved: rank r stages r, r + pp, ..; the last rank's last is the last stage);
    under DualPipeV's V rank 0 holds the first and the last stage, every other rank two stages before the last. The
    forward receive buffers: ``fwd_recv_buffers``."""
    if not getattr(st, "pp_recv_per_microbatch", False):
        return 0.0, 0.0, 0.0
    pp, dual, chunks = _rank_stages(c)
    one = np.where(pp > 1, np.asarray(m_micro, dtype=np.float64) * boundary, 0.0)
    return one * np.where(dual, 1.0, chunks), one * chunks, one * np.where(dual, 2.0, chunks - 1.0)


def fwd_recv_buffers(st, c: Candidates, m_micro, boundary, inflight) -> tuple:
    """(rank 0, a middle rank, the last rank) bytes of torch.distributed.pipelining's forward receive buffers beyond
    those the layers' saves already count, where the stack pipelines with it (``Stack.pp_recv_per_microbatch``), else
    zeros. Every stage but the first allocates one buffer of its input per micro-batch once and holds them all step
    and across steps (torch 2.13 distributed/pipelining/stage.py ``PipelineStage._setup_forward_recv_info``: for each
    of ``num_microbatches`` ``args_recv_info[chunk_id]`` a ``_RecvInfo`` with ``buffer=_make_tensor_from_meta(meta,
    ...)``; 2.5-2.11 the same loop in ``_prepare_forward_infra`` / ``_create_act_recv_info``; nothing frees them:
    ``clear_runtime_states`` only drops their ``.grad``). The forward runs on the buffer itself
    (``_retrieve_recv_activations``: ``activation = info.buffer.requires_grad_(...)``), so a micro-batch in flight has
    its buffer as the saved input of the stage's first layer, counted there; the others, m less the stage's
    micro-batches in flight, are not, and are priced here. ``inflight``: (rank 0, the middle rank, the last rank)
    micro-batches in flight a stage (``inflight_microbatches``, in units of the rank's layers: the mean over its
    stages). Non-first stages a rank: v - 1 on rank 0, v elsewhere (DualPipeV's V: 1 on rank 0, 2 on the others).
    Measured (tests/make_pipelining_truth.py, tests/data/pipelining_truth.json, gloo, torch 2.13): after a step rank 1
    holds 8 forward buffers (1F1B, 8 micro-batches) and 2 x 4 (interleaved, 4), rank 0 none and 4, and each
    micro-batch's stage input is its buffer's storage. NeMo AutoModel's opt-in ``pp_recv_buffer_pool`` (1F1B only:
    a ring of num_stages - stage_index + 2 buffers) is not priced (off by default)."""
    if not getattr(st, "pp_recv_per_microbatch", False):
        return 0.0, 0.0, 0.0
    pp, dual, chunks = _rank_stages(c)
    m = np.asarray(m_micro, dtype=np.float64)
    on = np.where(pp > 1, boundary, 0.0)
    first, middle, last = (on * np.maximum(m - np.asarray(f, dtype=np.float64), 0.0) for f in inflight)
    return (first * np.where(dual, 1.0, chunks - 1.0), middle * chunks, last * chunks)


def recv_buffers(st, c: Candidates, m_micro, boundary, mid_rank) -> tuple:
    """(rank 0, a middle rank, the last rank) bytes torch.distributed.pipelining's receive buffers add to a rank's
    activations: the gradient ones (``grad_recv_buffers``) and the forward ones beyond the micro-batches in flight
    (``fwd_recv_buffers``, at ``inflight_microbatches`` of rank 0, ``mid_rank`` (at least 1) and the last rank)."""
    grad = grad_recv_buffers(st, c, m_micro, boundary)
    if not getattr(st, "pp_recv_per_microbatch", False):
        return grad
    fwd = fwd_recv_buffers(st, c, m_micro, boundary, (
        inflight_microbatches(c, m_micro), inflight_microbatches(c, m_micro, rank=np.maximum(mid_rank, 1)),
        inflight_microbatches(c, m_micro, last=True)))
    return tuple(g + f for g, f in zip(grad, fwd))


def combined_pair_layers(c: Candidates, m_micro, a2a_overlap: bool, rank=0.0, group=None):
    """1 where pipeline rank ``rank`` runs Megatron-Core's combined 1F1B pairs (the MoE all-to-all overlap,
    ``a2a_overlap``: ``overlap_moe_expert_parallel_comm``), else 0: its peak is the state before a pair plus one layer
    of the pair's forward, not the forward's whole chunk beside the backward's (pipeline.chunk_inflight_paired:
    model_chunk_schedule_plan.py ``TransformerModelChunkSchedulePlan.run`` runs forward layer i with backward layer
    n - 1 - i and releases each backward layer's state after its phase). Interleaved rows where the warm-up leaves
    steady steps (combined_1f1b.py ``combined_1f1b_schedule_for_interleaved_pipelining``); one stage
    (``combined_1f1b_schedule_for_no_pipelining``: "Phases 1: 1st microbatch backward + 2nd microbatch forward")
    with two micro-batches or more. The count ``inflight_microbatches`` gives such a rank leaves the steady forward
    out; ``stage_layer_microbatches`` adds the one layer. ``a2a_overlap``: a bool or one per row (0 where off)."""
    if not np.any(a2a_overlap):
        return 0.0
    pp, m_micro = c.pp.astype(np.float64), np.asarray(m_micro, dtype=np.float64)
    v = np.maximum(c.vpp, 1).astype(np.float64)
    warm = interleaved_warmup(pp, v, vpp_group_size(np.maximum(m_micro, 1.0), pp, group), rank, 1.0)
    inter = (c.schedule == 1) & (warm < m_micro * v)
    on = inter | ((c.schedule == 0) & (pp == 1) & (m_micro >= 2))
    return (on if np.ndim(a2a_overlap) == 0 else on & a2a_overlap).astype(np.float64)


def stage_layer_microbatches(layers: int, c: Candidates, m_micro, a2a_overlap: bool = False, stack=None, model=None,
                             mid=None):
    """Activations the pipeline ranks hold at their peaks, in layer-micro-batches (one layer's saved activations
    for one micro-batch), vectorised: (rank 0, rank 1, the last rank, the last rank's micro-batches in flight).
    Rank r holds its own layers (planner.model.pipeline ``stage_layer_split`` at the candidate's pp and vpp, the
    split --emit launches and the step time prices, torchtitan's on its stack: ``stage_layer_ends``) x its own
    micro-batches in flight (``inflight_microbatches`` at rank r: pp - r under 1F1B, Megatron-Core's warm-up count
    interleaved, m under GPipe); the GPU keeps ``offload.resident_layers`` of
    them under activation offload (``stack``). The second figure is rank 1's, or with ``mid`` ((rank, its layers)
    per row: memory_activations ``middle_rank_of``) that middle rank's own layers at its own count (mem43b: until then every middle
    rank was priced at rank 1's count); with pp <= 2 there is no rank between the ends and it reads 0. The embedding's output (rank 0) and the logits and loss (the last) are the
    caller's. Llama-3.1-405B's 126 layers on PP16 under 1F1B (7 + 14 x 8 + 7): rank 0 7 x 16 = 112, rank 1
    8 x 15 = 120, where ceil(126 / 16) x 16 = 128 overstated it by 6.7%; Llama-3-8B's 32 on PP3 (10 + 11 + 11):
    rank 0 30, not 33. Megatron's own estimator (megatron/training/theoretical_memory_usage.py
    ``compute_activation_memory``, "all calculations in this function are for the first pipeline stage") assumes
    even stages, num_layers / pp per stage x pp in flight = num_layers (126, and 32): exact where pp divides the
    layers, where this gives the same L x (1 + (pp - 1)/(pp v)) (Korthikanti et al. 2022 per-layer bytes in
    ``activations``), and neither the fuller middle rank nor the emptier first one otherwise. ``model``: the
    ModelSpec, which DeepSpeed's "parameters" partition weighs its specs by (``split_runtime``; per TP rank, ``c.tp``)."""
    from planner.model.offload import resident_layers

    def held(n):
        return resident_layers(n, stack) if stack is not None else n

    n0, n1, n_last = stage_layer_ends(layers, c.pp, split_vpp(c), split_runtime(stack, model), getattr(c, "tp", 1))
    g = getattr(stack, "microbatch_group_size", None)  # Megatron's explicit interleaved group size, None: default

    def pair(rank):  # combined 1F1B's one layer of the pair's forward (combined_pair_layers)
        return combined_pair_layers(c, m_micro, a2a_overlap, rank, g)
    r0 = held(n0) * inflight_microbatches(c, m_micro, a2a_overlap, group=g) + pair(0.0)
    r_mid = 1.0 if mid is None else np.maximum(mid[0], 1).astype(np.float64)  # (a row without one: unread)
    n_mid = n1 if mid is None else np.where(mid[0] >= 0, mid[1], n1)  # (DualPipeV's V: the fullest rank past 0)
    r1 = np.where(c.pp > 2, held(n_mid) * inflight_microbatches(c, m_micro, a2a_overlap, rank=r_mid, group=g)
                  + pair(r_mid), 0.0)
    last_inflight = inflight_microbatches(c, m_micro, a2a_overlap, last=True, group=g)
    return r0, r1, held(n_last) * last_inflight + pair(c.pp.astype(np.float64) - 1), last_inflight


def pp_accumulators_apart(c: Candidates, m_micro, act, held, rank) -> np.ndarray:
    """Per candidate, the bytes of a pipeline rank's FSDP2 gradient accumulators (``held``: all its chunks', which the
    memory's sum prices beside the peak of its activations ``act``) that the rank never holds beside them under torch's
    interleaved schedule (``c.schedule`` 1, v > 1; 0 elsewhere and where ``held`` is 0). A chunk's accumulators live
    from its first backward to its last (``pipeline.accumulator_states``, which replays the order: states (H, L) of
    chunk micro-batches held and chunks alive), so the rank's peak is the largest H a + L g over the states, a =
    ``act`` / max H one chunk micro-batch's activations, g = ``held`` / v one chunk's accumulators (even chunks), and
    what the sum v g + max H a overstates it by is the least (max H - H) a + (v - L) g. Llama-3.1-405B on PP 8 x 2
    chunks at 8 micro-batches (torchtitan 2024-12, one round): the last rank holds chunk 0's 8 micro-batches and
    chunk 1's one beside chunk 1's accumulators only, which the schedule reduce-scatters and frees before chunk 0's
    first backward (g apart, 11.8 GiB); rank 0 runs all 16 forwards first (g + a apart). With two rounds or more every
    chunk is alive at a steady step holding the warm-up + 1 (nothing apart). ``rank``: the pipeline rank per
    candidate (or one for all)."""
    n = len(c)
    out = np.zeros(n)
    pp = np.broadcast_to(np.asarray(c.pp), (n,)).astype(np.int64)
    v = np.broadcast_to(split_vpp(c), (n,)).astype(np.int64)
    held = np.broadcast_to(np.asarray(held, dtype=np.float64), (n,))
    sel = (np.broadcast_to(np.asarray(c.schedule), (n,)) == 1) & (v > 1) & (pp > 1) & (held > 0)
    if not sel.any():
        return out
    m = np.rint(np.broadcast_to(np.asarray(m_micro, dtype=np.float64), (n,))).astype(np.int64)
    rk = np.broadcast_to(np.asarray(rank), (n,)).astype(np.int64)
    act = np.broadcast_to(np.asarray(act, dtype=np.float64), (n,))
    rows = np.flatnonzero(sel)
    (kpp, kv, km, kr), inv = distinct_rows(pp[rows], v[rows], m[rows], rk[rows])
    for j in range(len(kpp)):
        states = accumulator_states(int(kpp[j]), int(km[j]), int(kv[j]), int(kr[j]))
        if states is None:  # past the replay's cap: the sum, an upper bound
            continue
        at = rows[inv == j]
        h, live = states[:, 0], states[:, 1]
        a, g = act[at] / h.max(), held[at] / kv[j]
        out[at] = np.min((h.max() - h)[None] * a[:, None] + (kv[j] - live)[None] * g[:, None], axis=1)
    return out
