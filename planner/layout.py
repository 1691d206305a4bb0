"""A batch of candidate configurations as numpy columns, and the one set of rules a parallel
layout must obey.

Every formula in ``planner.model`` takes these arrays and returns arrays, so one call evaluates
one configuration (``planner estimate``) or a million (``planner recommend``) alike.

The rules (``LAYOUT_RULES``) are written once and used three ways: the job file's validator checks the
ones whose fields the job fixes (``check_fields``), ``estimate`` checks them all on its one
configuration (``check_layout``), and the search keeps the rows that pass them all
(``valid_mask``). They follow Megatron-LM's argument checks (``megatron/training/arguments.py``:
world size divisible by TP x PP x CP, global batch divisible by micro-batch x DP, experts divisible
by EP) and Megatron-Core's parallel_state.py (``initialize_model_parallel``: the world size divisible
by ETP x EP x PP, i.e. ETP x EP dividing the TP x CP x DP ranks of a stage — "MoE parallel folding":
experts may be placed across the attention's TP ranks when ETP < TP). Layers need not divide PP x virtual stages: Megatron-Core builds uneven first/last stages
(``_vpp_ok``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Callable

import numpy as np

from planner.errors import InputError
from planner.vocab import MOE_DISPATCHER, RECOMPUTE, SCHEDULE


#: the ``vpp`` of a V-shaped split (DualPipeV): 2 pp stages, rank r holding stages r and 2 pp - 1 - r (torchtitan
#: pipeline_parallel.py ``stage_ids_this_rank(..., style="v")``, the style it gives ScheduleZBVZeroBubble and
#: ScheduleDualPipeV); negative so that no interleaved vpp means it
V_SPLIT = -2


def split_vpp(c) -> np.ndarray:
    """The ``vpp`` each row's pipeline split is taken at (planner.model.pipeline ``pipeline_split``): ``V_SPLIT`` on
    the DualPipeV rows (2 pp stages, rank r holding stages r and 2 pp - 1 - r) and where vpp already is, else vpp (at
    least 1). ``c``: Candidates (computed once per vpp and schedule columns, ``Candidates.derived``; read-only) or any
    rows with ``vpp`` (and ``schedule``; none: no DualPipeV)."""
    if isinstance(c, Candidates):
        return c.derived("split_vpp", _split_vpp, "vpp", "schedule")
    return _split_vpp(c.vpp, getattr(c, "schedule", None))


def _split_vpp(vpp, sched) -> np.ndarray:
    v = np.asarray(vpp)
    dual = (v == V_SPLIT) if sched is None else (np.asarray(sched) == SCHEDULE.code["dualpipev"]) | (v == V_SPLIT)
    return np.where(dual, V_SPLIT, np.maximum(v, 1))


#: the columns ``Candidates.distinct`` reads by name beside the fields: derived from them
DERIVED_COLUMNS = {"split_vpp": split_vpp}


def _chunks(vpp, schedule) -> np.ndarray:
    return np.where(schedule == SCHEDULE.code["interleaved"], np.maximum(vpp, 1),
                    np.where(schedule == SCHEDULE.code["dualpipev"], 2, 1))


@dataclass
class Candidates:
    """Columns of equal length; row i is one configuration."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    vpp: np.ndarray
    zero: np.ndarray
    mb: np.ndarray  # micro-batch (sequences or samples per GPU per forward/backward)
    rc: np.ndarray  # recompute code 0 none, 1 selective, 2 full
    sp: np.ndarray  # sequence parallel (bool)
    schedule: np.ndarray  # planner.vocab.SCHEDULE codes
    gpus_per_node: np.ndarray
    nodes: np.ndarray
    #: expert-tensor-parallel degree (Megatron-Core ``--expert-tensor-parallel-size``); left out
    #: it is tp, as Megatron-LM's arguments.py defaults it
    etp: np.ndarray | None = None
    #: the ZeRO sharding group's DP degree (hybrid sharded data parallelism, HSDP): ZeRO-1/2/3 shard the
    #: model states over ``dp_shard`` x cp ranks and the dp / dp_shard such groups are replicas that
    #: all-reduce their gradient shards (PyTorch FSDP2 ``fully_shard`` on a 2-D (replicate, shard) mesh,
    #: torchtitan ``data_parallel_replicate_degree`` x ``data_parallel_shard_degree``; DeepSpeed MiCS
    #: ``mics_shard_size``; Megatron-Core ``--num-distributed-optimizer-instances`` = dp / dp_shard).
    #: Left out it is dp: ZeRO over the whole data-parallel group
    dp_shard: np.ndarray | None = None
    #: partial full recompute: Megatron's ``--recompute-num-layers`` under ``--recompute-method block`` on the rows
    #: with ``rc`` 2 (layers re-run per model chunk, planner.model.pipeline.recomputed_fraction); 0 (the default):
    #: every layer, the planner's plain full
    rn: np.ndarray | None = None
    #: Megatron's ``--recompute-num-layers`` under ``--recompute-method uniform`` on the rows with ``rc`` 2: the
    #: layers of each checkpointed group (planner.model.pipeline.uniform_groups; every layer is re-run). 0 (the
    #: default): not uniform. A row carries ``rn`` or ``rg``, never both (Megatron takes one method)
    rg: np.ndarray | None = None
    #: the MoE token dispatcher each row runs (``vocab.MOE_DISPATCHER`` code): a search's dispatcher twins evaluated
    #: in one step-time and one memory call (planner.search.recommend ``_search_twins``; the layer model prices each
    #: row's, planner.model.moe ``moe_layer``; memory its buffers and saves, memory ``moe_comm_buffers``,
    #: memory_activations ``layer_saves``). -1 (the default): the stack's own ``moe_dispatcher``
    dispatcher: np.ndarray | None = None
    #: Megatron-Core's combined-1F1B MoE all-to-all overlap (``moe_a2a_overlap``) each row runs: 1 on, 0 off, -1 (the
    #: default) the stack's own. A search's overlap twins in the same step-time and memory call as its dispatcher
    #: twins (recommend ``_search_twins``, moeov52): the layer model hides each layer key's (layer_ops
    #: ``moe_block``), the step each row's paired share (step_time ``a2a_hidden_share``), memory each row's
    #: micro-batches in flight (memory_activations ``overlap_call``)
    a2a_overlap: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.tp)
        if self.etp is None:
            self.etp = np.array(self.tp, copy=True)
        if self.dp_shard is None:
            self.dp_shard = np.array(self.dp, copy=True)
        if self.rn is None:
            self.rn = np.zeros(n, dtype=np.int64)
        if self.rg is None:
            self.rg = np.zeros(n, dtype=np.int64)
        if self.dispatcher is None:
            self.dispatcher = np.int64(-1)  # (a scalar: known constant below, ``dispatcher_codes`` fills it)
        if self.a2a_overlap is None:
            self.a2a_overlap = np.int64(-1)  # (likewise: ``overlap_flags``)
        #: column -> (its array, its one value, or None where the rows differ): which columns ``take`` fills rather
        #: than gathers. A column given as a scalar is known constant here; an array column is checked on the first
        #: ``take`` (``_constant``); an entry holds only while the column is that array object (a column reassigned,
        #: ``one.rn = ...``, is checked afresh). No code changes a column's values in place (the filled ones are
        #: read-only, so such a change would raise rather than leave a stale entry).
        self._const = {}
        #: name -> (the columns it was computed from, the read-only result): ``derived``
        self._derived = {}
        #: the set of column names -> (their order, the columns, the distinct columns, the inverse): ``distinct``
        self._keys = {}
        #: name -> (the objects it was computed from, the result): ``kept``
        self._kept = {}
        for f in fields(self):
            v = np.asarray(getattr(self, f.name))
            if v.ndim == 0:
                value = v
                v = np.full(n, v)
                v.setflags(write=False)
                if n:
                    self._const[f.name] = (v, value)
            setattr(self, f.name, v)

    def dispatcher_codes(self, own: str) -> np.ndarray:
        """Each row's MoE token dispatcher as a ``vocab.MOE_DISPATCHER`` code: its ``dispatcher``, or ``own`` (the
        stack's ``moe_dispatcher``) where that is -1. A layer key of step time and memory (a search's dispatcher
        twins in one call, moe ``per_dispatcher``)."""
        one = self._constant("dispatcher", self.dispatcher)
        if one is not None:  # (every row the same: the search's rows but for its dispatcher tries)
            return np.full(len(self), one if one >= 0 else MOE_DISPATCHER.code[own], dtype=np.int64)
        return np.where(self.dispatcher >= 0, self.dispatcher, MOE_DISPATCHER.code[own])

    def overlap_flags(self, own: bool):
        """Each row's MoE all-to-all overlap: its ``a2a_overlap``, or ``own`` (the stack's ``moe_a2a_overlap``) where
        that is -1. A bool where every row runs the same (the search's rows but for its overlap tries: the callers
        keep their one-value path), else a bool array."""
        one = self._constant("a2a_overlap", self.a2a_overlap)
        if one is not None:
            return bool(own) if one < 0 else bool(one)
        return np.where(self.a2a_overlap >= 0, self.a2a_overlap == 1, bool(own))

    def __len__(self) -> int:
        return len(self.tp)

    @property
    def gpus(self) -> np.ndarray:
        return self.tp * self.pp * self.dp * self.cp

    @property
    def chunks(self) -> np.ndarray:
        """Model chunks (virtual pipeline stages) per pipeline rank: vpp on the interleaved-schedule rows, 2 on the
        DualPipeV rows (torch ``ScheduleDualPipeV``: "exactly 2 stages per rank", a V), else 1 (read-only,
        ``derived``)."""
        return self.derived("chunks", _chunks, "vpp", "schedule")

    def derived(self, name: str, fn, *cols: str) -> np.ndarray:
        """``fn`` of the columns ``cols``, computed once while those columns are the same array objects (as
        ``_const``: no code changes a column's values in place; a reassigned column is computed afresh) and returned
        read-only, so that no caller's write can reach the next caller. A memory and a step-time call asked for
        ``split_vpp`` 11 times and ``chunks`` 3 times on the same rows, each 3-5 passes over them (speed41)."""
        srcs = tuple(getattr(self, c) for c in cols)
        got = self._derived.get(name)
        if got is not None and all(a is b for a, b in zip(got[0], srcs)):
            return got[1]
        out = fn(*srcs)
        out.setflags(write=False)
        self._derived[name] = (srcs, out)
        return out

    def kept(self, name: str, fn: Callable[[], object], columns: tuple, *deps):
        """``fn()`` computed once while the columns ``columns`` (fields, or ``DERIVED_COLUMNS``) and ``deps`` are the
        same objects (as ``derived``, for a result that is not one column; callers leave it unchanged): the pipeline
        stages' parameters at the model-state key (planner.model.memory_stages ``key_stage_split``), which a memory and a
        step-time call on these rows both read."""
        srcs = (*self._columns(columns), *deps)
        got = self._kept.get(name)
        if got is not None and len(got[0]) == len(srcs) and all(a is b for a, b in zip(got[0], srcs)):
            return got[1]
        out = fn()
        self._kept[name] = (srcs, out)
        return out

    def _columns(self, names) -> tuple:
        """The columns ``names``: fields, or ``DERIVED_COLUMNS`` (computed once: ``derived``)."""
        return tuple(DERIVED_COLUMNS[k](self) if k in DERIVED_COLUMNS else getattr(self, k) for k in names)

    def distinct(self, *names: str):
        """``distinct_rows`` over the columns ``names`` (fields, or ``DERIVED_COLUMNS``), kept while those columns
        are the same array objects (as ``derived``) and returned read-only. Asked for over the same columns in
        another order, the kept distinct rows are reordered rather than found again: ``distinct_rows`` returns the
        distinct rows in lexicographic order of the columns as given, so a lexsort of the few distinct rows by the
        new order, and each row's index mapped through it, are exactly what ``distinct_rows`` returns in that order
        (tests/test_speed42.py). The memory model's model-state key (``memory.state_context``) and the step time's
        DP key (``step_time.dp_step_terms``) are the same nine columns in two orders: a memory + step-time pair
        built it twice, ~0.23 ms each on 10^4 rows (speed42)."""
        srcs = self._columns(names)
        if not len(self):
            return distinct_rows(*srcs)
        got = self._keys.get(frozenset(names))
        if got is None or not all(got[1][got[0].index(k)] is s for k, s in zip(names, srcs)):
            cols, inv = distinct_rows(*srcs)
            for a in (*cols, inv):
                a.setflags(write=False)
            got = self._keys[frozenset(names)] = (names, srcs, cols, inv)
        kept, _, cols, inv = got
        if kept == names:
            return cols, inv
        cols = [cols[kept.index(k)] for k in names]
        # np.lexsort is a stable sort (the last key the primary): the kept rows, equal on the columns up to the
        # orders' common tail, are already in the tail's order, so only the columns before it are sorted on
        j = len(names)
        while names[j - 1] == kept[j - 1]:
            j -= 1
        order = np.lexsort(cols[:j][::-1])
        rank = np.empty(len(order), dtype=np.intp)
        rank[order] = np.arange(len(order), dtype=np.intp)
        return [k[order] for k in cols], rank[inv]

    def _constant(self, name: str, col: np.ndarray):
        """The one value of column ``name`` (array ``col``) where every row has it, else None; found once per
        column array (a min and a max, ~10x cheaper a row than a gather) and kept in ``_const``."""
        got = self._const.get(name)
        if got is not None and got[0] is col:
            return got[1]
        value = None
        if col.ndim == 1 and len(col) and col.dtype.kind in "biu" and col.min() == col.max():
            value = col[0]
        self._const[name] = (col, value)
        return value

    def take(self, idx) -> "Candidates":
        """The rows ``idx`` (indices or a mask). A column constant over ``self`` (a search chunk's gpus_per_node,
        mostly cp, rn and rg) is filled with its value rather than gathered: the same values, a DeepSeek-V3 search's
        takes 2.05-2.12 -> 1.73-1.85 CPU s (speed40b); the result knows those columns constant and the others not (a subset of
        rows is not checked again). A slice (``in_blocks``' blocks) stays a view of every column, as numpy gives it: a
        view costs nothing to fill, and the views of columns already known constant are known constant (no column is
        checked for it)."""
        if isinstance(idx, slice):
            out = Candidates(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})
            known = {name: got[1] for name, got in self._const.items() if got[0] is getattr(self, name)}
            out._const = {f.name: (getattr(out, f.name), known.get(f.name)) for f in fields(self)}
            return out
        cols, filled = {}, {}
        for f in fields(self):
            col = getattr(self, f.name)
            value = self._constant(f.name, col)
            if value is None:
                cols[f.name] = col[idx]
            else:
                filled[f.name] = (col.dtype, value)
        if filled:
            n = len(next(iter(cols.values()))) if cols else len(np.arange(len(self))[idx])
            for name, (dtype, value) in filled.items():
                cols[name] = np.full(n, value, dtype=dtype)
                cols[name].setflags(write=False)
        out = Candidates(**cols)
        # the result's entries: the filled columns constant, the gathered ones not checked (None)
        out._const = {name: (cols[name], filled[name][1] if name in filled else None) for name in cols}
        return out

    @staticmethod
    def concat(parts) -> "Candidates":
        """The rows of ``parts`` (Candidates) one after another."""
        return Candidates(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Candidates)})

    @staticmethod
    def layouts(tp, pp, dp, cp, ep, zero, gpus_per_node=1, etp=None, dp_shard=None) -> "Candidates":
        """Candidates that carry only a parallel layout (one micro-batch, no recompute, 1F1B):
        for per-layout terms computed once per distinct key (model states, DP collectives)."""
        return Candidates(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=1, zero=zero, mb=1, rc=0, sp=False,
                          schedule=0, gpus_per_node=gpus_per_node, nodes=1, etp=etp, dp_shard=dp_shard)

    def row(self, i: int) -> dict:
        d = {f.name: getattr(self, f.name)[i].item() for f in fields(self)}
        d["recompute"] = RECOMPUTE.names[d.pop("rc")]
        # block recompute of some layers or uniform groups (results.Layout recompute_method / _num_layers)
        rn, rg = d.pop("rn"), d.pop("rg")
        d.pop("dispatcher"), d.pop("a2a_overlap")  # the plan's stack says them (results.Plan ``stack``)
        d["recompute_method"], d["recompute_num_layers"] = (
            (None, None) if d["recompute"] != "full" else ("block", rn) if rn else ("uniform", rg) if rg else (None, None))
        d["schedule"] = SCHEDULE.names[d["schedule"]]
        d["sp"] = bool(d["sp"])
        return d


#: rows the memory and step-time models evaluate at once (``in_blocks``): a call on more rows runs block by block.
#: Their temporaries (a few hundred columns a call) are 1 MB each at this size, 8 MB at 10^6 rows; a process
#: that first meets 10^6 rows grows its heap by the whole set and pays a page fault per 4 KiB of it
#: (planner.alloc), so one call on 10^6 random dense layouts ran at 0.92M configurations/s against 2.60M/s
#: for the same rows by blocks of this size (README "Speed", session 36)
EVAL_BLOCK = 1 << 17


def in_blocks(evaluate: Callable[["Candidates"], dict], c: "Candidates", block: int = EVAL_BLOCK) -> dict:
    """``evaluate(c)`` (a dict of per-row arrays) over ``c`` ``block`` rows at a time, each block's arrays written
    into the result's (allocated once, at the first block's dtypes): the same numbers, row for row, as one call
    (every term is a row's own, computed per distinct key and gathered back: tests/test_step_time_batch.py holds
    them bit for bit however the rows are chunked). A result with an entry that is not one value per row is taken
    from one call on all of ``c``."""
    n = len(c)
    if n <= block:
        return evaluate(c)
    out = None
    for s in range(0, n, block):
        e = min(s + block, n)
        part = evaluate(c.take(slice(s, e)))
        if not all(isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == e - s for v in part.values()):
            return evaluate(c)
        if out is None:
            out = {k: np.empty(n, dtype=v.dtype) for k, v in part.items()}
        for k, v in part.items():
            out[k][s:e] = v
    return out


# ------------------------------------------------------------------------------------ layout rules
@dataclass(frozen=True)
class Rule:
    """One rule: ``ok(v, model, training)`` is True where a layout obeys it (numpy arrays or
    scalars in ``v``: tp, pp, dp, cp, ep, vpp, mb, gpus); ``field`` is the job field blamed;
    ``needs`` the layout fields it reads (the validator checks it only when the job fixes them)."""

    field: str
    needs: tuple[str, ...]
    ok: Callable
    message: Callable


def _tp_heads(v, m, t):
    """TP splits the query heads evenly; the KV heads (GQA groups) either split evenly or, when TP
    exceeds them, are shared. Megatron-Core accepts both: TransformerConfig checks that
    num_query_groups is "a multiple or divisor of tensor_model_parallel_size" (as Megatron-Bridge's
    qwen_vl patch quotes it), and ``Attention.__init__`` (megatron/core/transformer/attention.py) takes
    the ``num_query_groups < world_size`` branch: one KV head per rank, the QKV output all-gathered over
    TP and resliced (``get_query_key_value_tensors``). Stacks that cannot share a KV head (torchtitan,
    the Hugging Face model code) refuse tp > kv_heads in planner.model.stack_rules (``*-kv-heads``)."""
    if not m.is_transformer:
        return v.tp == 1
    return (m.heads % v.tp == 0) & ((m.kv_heads % v.tp == 0) | (v.tp % m.kv_heads == 0))


def _tp_mamba(v, m, t):
    """Megatron-Core MambaMixer: "nheads must be evenly divisble by tp_size", "ngroups must be evenly
    divisible by tp_size" (megatron/core/ssm/mamba_mixer.py)."""
    if getattr(m, "mamba", None) is None:
        return v.tp == v.tp
    return (m.mamba_heads % v.tp == 0) & (m.mamba.groups % v.tp == 0)


def _cp_mamba(v, m, t):
    """Megatron-Core MambaContextParallel (megatron/core/ssm/mamba_context_parallel.py): "nheads must
    be evenly divisible by tp_size * cp_size"; the groups per TP rank and cp divide one another."""
    if getattr(m, "mamba", None) is None:
        return v.cp == v.cp
    g = m.mamba.groups // v.tp
    return ((m.mamba_heads // v.tp) % v.cp == 0) & ((g % v.cp == 0) | (v.cp % np.maximum(g, 1) == 0))


LAYOUT_RULES = (
    Rule("parallel.tp", ("tp",), _tp_mamba,
         lambda v, m, t: f"tp={v.tp} must divide the Mamba heads ({m.mamba_heads}) and groups ({m.mamba.groups})"),
    Rule("parallel.tp", ("tp",), _tp_heads,
         lambda v, m, t: (f"tp={v.tp} does not divide model.heads={m.heads}" if m.heads % v.tp else
                          f"tp={v.tp} and model.kv_heads={m.kv_heads} must divide one another")),
    Rule("parallel.cp", ("tp", "cp"), _cp_mamba,
         lambda v, m, t: f"cp={v.cp} must divide the Mamba heads per TP rank ({m.mamba_heads // v.tp}) and divide or "
                         f"be divided by the groups per TP rank ({m.mamba.groups // v.tp})"),
    Rule("parallel.pp", ("pp",), lambda v, m, t: v.pp <= max(m.layers or 1, 1),
         lambda v, m, t: f"pp={v.pp} exceeds model.layers={m.layers}"),
    Rule("parallel.cp", ("cp",), lambda v, m, t: t.seq_len % v.cp == 0,
         lambda v, m, t: f"cp={v.cp} does not divide training.seq_len={t.seq_len}"),
    Rule("parallel.ep", ("ep",), lambda v, m, t: (v.ep == 1) | ((m.moe is not None) and (m.moe.experts % v.ep == 0)),
         lambda v, m, t: f"ep={v.ep} does not divide the experts "
                         f"({'the model has no experts' if m.moe is None else f'experts={m.moe.experts}'})"),
    Rule("parallel", ("tp", "pp", "cp", "gpus"), lambda v, m, t: v.gpus % (v.tp * v.pp * v.cp) == 0,
         lambda v, m, t: f"tp*pp*cp = {v.tp * v.pp * v.cp} does not divide the {v.gpus} GPUs"),
    Rule("parallel.dp", ("tp", "pp", "cp", "dp", "gpus"), lambda v, m, t: v.tp * v.pp * v.cp * v.dp == v.gpus,
         lambda v, m, t: f"tp*pp*cp*dp = {v.tp * v.pp * v.cp * v.dp} but the cluster has {v.gpus} GPUs"),
    Rule("parallel.etp", ("etp",), lambda v, m, t: _etp_ok(v, m),
         lambda v, m, t: (f"etp={v.etp}: the model has no experts to split" if m.moe is None else
                          f"etp={v.etp} does not divide the expert width model.ffn_hidden={m.ffn_hidden}")),
    Rule("parallel.ep", ("ep", "dp", "cp", "tp"), lambda v, m, t: (v.tp * v.dp * v.cp) % (_etp(v) * v.ep) == 0,
         lambda v, m, t: f"etp*ep = {_etp(v)}*{v.ep} must divide tp*cp*dp = {v.tp * v.cp * v.dp} (Megatron-Core "
                         "builds the expert grid etp x ep x edp on the ranks of one pipeline stage)"),
    Rule("training.global_batch", ("mb", "dp"), lambda v, m, t: t.global_batch % (v.mb * v.dp) == 0,
         lambda v, m, t: f"global_batch={t.global_batch} is not a multiple of micro_batch*dp = {v.mb}*{v.dp}"),
    Rule("parallel.dp_shard", ("dp", "dp_shard"), lambda v, m, t: v.dp % v.dp_shard == 0,
         lambda v, m, t: f"dp_shard={v.dp_shard} must divide dp={v.dp} (the ZeRO shard groups tile the "
                         "data-parallel ranks; dp / dp_shard of them are replicas)"),
    Rule("parallel.dp_shard", ("dp", "dp_shard", "zero"), lambda v, m, t: (v.dp_shard == v.dp) | (v.zero >= 1),
         lambda v, m, t: f"dp_shard={v.dp_shard} below dp={v.dp} needs parallel.zero >= 1 (at ZeRO-0 nothing is "
                         f"sharded; zero={v.zero})"),
    Rule("parallel.vpp", ("vpp", "pp", "mb", "dp"), lambda v, m, t: _vpp_groups_ok(v, t),
         # kept under the 300 characters an error carries (hardware_catalog.errors.MESSAGE_CHARS): the longer
         # wording lost its source to the cut (QA 45), and a Megatron-Core job is told its own way out
         lambda v, m, t: f"vpp={v.vpp} on pp={v.pp}: the {micro_batches_per_replica(v, t)} micro-batches per replica "
                         f"(global_batch / (micro_batch*dp)) must be a multiple of their "
                         f"{max(1, int(micro_batches_per_replica(v, t)) // int(v.pp))} rounds (torch.distributed."
                         "pipelining ScheduleInterleaved1F1B); Megatron-Core runs them with "
                         f"training.framework.microbatch_group_size: {_smallest_group(v, t)}"),
    Rule("parallel.vpp", ("vpp", "pp"), lambda v, m, t: _vpp_ok(v, m),
         lambda v, m, t: (f"vpp={v.vpp} needs pp > 1: interleaving splits each rank's pipeline stage into "
                          "virtual stages, and pp=1 has no pipeline" if v.pp == 1 else
                          f"vpp={v.vpp} needs at least one layer per virtual stage: pp*vpp = {v.pp * v.vpp} "
                          f"exceeds model.layers={m.layers} plus the embedding and the loss")),
)


def _etp(v):
    """The expert-tensor-parallel degree of a layout: ``etp`` when given, else tp (Megatron-LM
    arguments.py: ``expert_tensor_parallel_size`` defaults to ``tensor_model_parallel_size``)."""
    e = getattr(v, "etp", None)
    return v.tp if e is None else e


def _etp_ok(v, m):
    """An ETP given explicitly: 1 always; above 1 only for a model with experts, whose width it
    must divide — ETP splits each expert's MLP like a dense TP MLP (column-parallel fc1,
    row-parallel fc2; megatron/core/transformer/moe/experts.py builds
    ``moe_ffn_hidden_size // expert_tensor_parallel_size`` columns per rank). On a dense model
    ``etp == tp`` is accepted too: it is the default (``_etp``) that every plan's ``config.etp``
    reports, so a plan's config fed back as ``parallel`` runs the same layout."""
    e = getattr(v, "etp", None)
    if e is None:
        return True
    if m.moe is None:
        return (e == 1) | (e == getattr(v, "tp", None))  # tp not given (a searched column): only etp 1
    return m.ffn_hidden % e == 0


#: what a job's ``parallel.sequence_parallel: true`` becomes on a TP 1 layout (estimate's notes, recommend's
#: assumptions): sequence parallelism shards along the sequence the activations that TP replicates (Korthikanti et
#: al. 2022), so at TP 1 there is no group to shard over; Megatron-LM megatron/training/arguments.py validate_args:
#: "if args.tensor_model_parallel_size == 1: args.sequence_parallel = False". Until QA 38b the plan said ``sp: true``.
SP_WITHOUT_TP = ("parallel.sequence_parallel: true taken as false at TP 1 (nothing to shard without tensor "
                 "parallelism; Megatron-LM validate_args turns it off at tensor_model_parallel_size 1)")


def sequence_parallel(given: bool | None, tp):
    """Sequence parallelism per layout: the job's ``parallel.sequence_parallel`` where it gives one, else on with TP
    (Megatron-Core's launchers turn it on with TP); off at TP 1 either way (``SP_WITHOUT_TP``)."""
    tp = np.asarray(tp)
    return (tp > 1) & (True if given is None else bool(given))


def micro_batches_per_replica(v, t):
    """Micro-batches per replica per step, ``global_batch / (micro_batch * dp)`` (an integer where the
    global-batch rule holds), vectorised over the layouts ``v``."""
    return np.asarray(t.global_batch) // (np.asarray(v.mb) * np.asarray(v.dp))


def _smallest_group(v, t) -> int:
    """The smallest Megatron-Core micro-batch group that tiles the m micro-batches on pp stages (stack_rules
    "interleaved-m": pp <= N <= m, m % N 0 or >= pp): the fewest in flight. m = 120 on pp 16 -> 20 (QA 45:
    N = m runs too, but holds all 120 micro-batches' activations, 298.8 GiB a GPU for DeepSeek-V3)."""
    m, pp = int(micro_batches_per_replica(v, t)), int(v.pp)
    return next((n for n in range(pp, m + 1) if m % n == 0 or m % n >= pp), m)


def _vpp_groups_ok(v, t):
    """The interleaved schedule's micro-batch groups (``pipeline.vpp_group_size``) tile the step: torch's
    ``ScheduleInterleaved1F1B`` raises unless m is a multiple of ``max(1, m // pp)`` rounds. Megatron-Core asks
    more (``stack_rules`` "interleaved-m": m a multiple of pp); a schedule with uneven groups is priced by no
    model here (the planner's simulator and its analytic bubble disagreed by 12% on one, PP4 VPP2 m 10, before
    2026-12-02, when torch's rounds were not modelled). With the Megatron stack option ``microbatch_group_size`` set
    the groups are Megatron's, of that size, and only "interleaved-m" applies."""
    if getattr(getattr(t, "framework", None), "microbatch_group_size", None) is not None:
        # Megatron's explicit group size (a Megatron-Core stack option): its groups are that size, not torch's
        # rounds, and stack_rules "interleaved-m" checks them (m = 9 on pp 4 runs at a group of 5: 5 + 4)
        return True
    return (np.asarray(v.vpp) == 1) | (np.asarray(v.pp) == 1) | torch_rounds_ok(micro_batches_per_replica(v, t), v.pp)


def torch_rounds_ok(m, pp):
    """Whether torch's ``ScheduleInterleaved1F1B`` builds for ``m`` micro-batches on ``pp`` ranks (vectorised): m a
    multiple of its ``number_of_rounds = max(1, m // pp)`` (torch.distributed.pipelining schedules.py: 'Interleaved
    1F1B requires the number of microbatches to be a multiple of the number of rounds')."""
    m = np.asarray(m)
    return m % np.maximum(1, m // np.asarray(pp)) == 0


def _vpp_ok(v, m):
    """Interleaving as real stacks accept it: ``pp > 1`` and every one of the pp x vpp virtual
    stages holds at least one layer, the embedding and the loss counting as one layer each.
    Megatron-Core splits layers unevenly when they do not divide: ``num_layers_in_first_pipeline_stage``
    / ``num_layers_in_last_pipeline_stage``, ``--account-for-embedding-in-pipeline-split`` and
    ``--account-for-loss-in-pipeline-split`` (each adds one to the count that is divided,
    megatron/core/transformer/transformer_block.py ``get_num_layers_to_build``), or an explicit
    ``pipeline_model_parallel_layout``; torchtitan's pipeline split places uneven stages too.
    So Llama-3.1-405B's 126 layers on pp=16 (first and last stage one layer short) or on pp=8,
    vpp=8 are accepted."""
    return (v.vpp == 1) | ((v.pp > 1) & (v.pp * v.vpp <= (m.layers or 0) + 2))


def valid_mask(v, model, training) -> np.ndarray:
    """Rows of ``v`` (any object with the layout columns as attributes) that obey every rule; a rule
    reading a column ``v`` lacks (``dp_shard``, ``zero`` in the search's first pass) is skipped."""
    ok = np.ones(len(v.tp), dtype=bool)
    for r in LAYOUT_RULES:
        if any(getattr(v, k, None) is None for k in r.needs if k in ("dp_shard", "zero")):
            continue
        ok &= np.asarray(r.ok(v, model, training), dtype=bool)
    return ok


def check_layout(model, training, **layout) -> None:
    """Raise the first broken rule (as ``InputError`` naming its field) for one layout whose
    ``layout`` values are given; rules needing a value not given are skipped."""
    v = SimpleNamespace(**layout)
    for r in LAYOUT_RULES:
        if all(getattr(v, k, None) is not None for k in r.needs) and not bool(np.all(r.ok(v, model, training))):
            raise InputError(r.field, r.message(v, model, training))


def check_fields(model, training, parallel) -> None:
    """The job validator's share: the rules whose fields the job file fixes."""
    given = {k: getattr(parallel, k, None) for k in ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "dp_shard", "zero")}
    given["mb"] = training.micro_batch
    check_layout(model, training, **{k: v for k, v in given.items() if v is not None})


#: a column whose values span at most this many integers enters the row code as ``value - min`` directly;
#: a wider one is ranked first (``_compact``)
RAW_SPAN = 64
#: the largest code range ``distinct_rows`` marks in a presence table (bytes); wider ranges are sorted
TABLE_MAX = 1 << 22
#: ... and only where the range is at most this many entries per row, or at most ``TABLE_SMALL``: the table costs
#: ~1 ns an entry (zeroed, scanned by ``flatnonzero``), the sort ~50-80 ns a row, so the search's small calls (the
#: partial-recompute probes and the stack variants' few rows: a median of 70 rows) spent most of their distinct_rows
#: on tables of up to 4M entries. The memory model's 9-column key on random layouts (best of 7), table always ->
#: this rule: 70 rows 0.63 -> 0.15 ms, 500 rows 0.77 -> 0.29 ms, 2,000 0.85 -> 0.43 ms, 10^4 and more the same
#: (at 8 entries a row 10^5 rows took 11.3 ms against the table's 4.9)
TABLE_PER_ROW = 64
TABLE_SMALL = 1 << 12


#: the widest code range ``distinct_rows`` builds before ranking it down: a digit of up to n values more must not
#: take it past int64 (2**63); with n rows and k <= n values a digit, a ranked code times k stays under n**2
CODE_MAX = 1 << 62


def _table_pays(span: int, n: int) -> bool:
    """Whether a presence table over ``span`` codes beats sorting ``n`` rows (``TABLE_PER_ROW``); either gives the
    same distinct values in the same order and the same inverse."""
    return span <= TABLE_MAX and span <= max(TABLE_PER_ROW * n, TABLE_SMALL)


def _compact(col):
    """Dense ranks of a non-negative integer column: (distinct values, rank of each row). O(n)
    through a presence table when the values are small, else a sort."""
    col = np.asarray(col)
    if col.dtype == bool:
        col = col.view(np.int8)
    hi = int(col.max())
    if _table_pays(hi + 1, len(col)):
        present = np.zeros(hi + 1, dtype=bool)
        present[col] = True
        vals = np.flatnonzero(present)
        rank = np.cumsum(present, dtype=np.intp) - 1
        return vals, rank[col]
    vals, inv = np.unique(col, return_inverse=True)
    return vals.astype(np.int64, copy=False), inv.astype(np.intp)  # (the table's dtypes: the same columns either way)


def distinct_rows(*cols):
    """Distinct rows of small non-negative integer columns: (list of distinct columns, inverse).

    The columns combine into one mixed-radix code: a column spanning few values (at most
    ``RAW_SPAN``, e.g. tp, pp, the recompute code) as its offset from its minimum, a constant one not
    at all, a wider one (dp) by its dense rank (``_compact``). A presence table over the code's range
    gives the distinct rows in lexicographic order of the columns, and a lookup table over it each
    row's index among them — O(n), no sort over the candidates. Where the next column would take the code's
    range past a table that pays (``_table_pays``: at most ``TABLE_MAX``, and not wide for the rows there are), the
    code so far is first replaced by its dense rank (its distinct values are at most the rows), which keeps the
    order; a sort only where even that range is too wide. Returns the distinct columns as int64 and the inverse as ``intp`` (numpy's index
    type, so gathers with it need no conversion)."""
    n = len(cols[0])
    if n == 0:
        return [np.asarray(c)[:0] for c in cols], np.zeros(0, dtype=np.intp)
    digits = []  # per column: (lo, radix, compacted values or None, digit array or None when constant)
    # a column equal to an earlier one (dp_shard left at dp, etp at tp: Candidates copies them) adds nothing to the
    # code, the order or the inverse: it joins as a constant and its distinct column is the earlier one's (the
    # 9-column DP / model-state keys on 10^4 random layouts: 0.29 -> 0.16 ms, speed39)
    same = {}  # column -> the earlier column it equals
    ranged = {}  # (lo, hi) -> [(column, values)] of the non-constant columns so far
    for j, col in enumerate(cols):
        col = np.asarray(col)
        if col.dtype == bool:
            col = col.view(np.int8)
        lo, hi = int(col.min()), int(col.max())
        if hi != lo:
            i = next((i for i, prev in ranged.get((lo, hi), ()) if np.array_equal(prev, col)), None)
            if i is not None:
                same[j] = i
                digits.append((lo, 1, None, None))
                continue
            ranged.setdefault((lo, hi), []).append((j, col))
        if hi == lo:
            digits.append((lo, 1, None, None))
        elif hi - lo < RAW_SPAN:
            digits.append((lo, hi - lo + 1, None, col))
        else:
            vals, rank = _compact(col)
            digits.append((0, len(vals), vals, rank))
    code = None
    total = 1  # the code's range
    ranked = {}  # digit position -> the code's distinct values before that digit joined it (their ranks replaced them)
    for i, (lo, k, _, d) in enumerate(digits):
        if d is None:
            continue
        if code is None:
            code = d.astype(np.int64)
            if lo:
                code -= lo
            total = k
            continue
        if total * k > CODE_MAX and not _table_pays(total, n):
            # the code would overflow int64 (several wide columns, each ranked to up to n values: seven of 398 rows
            # wrapped around and the inverse no longer gave the rows back, speed39): replaced by its dense rank
            # from a sort, which keeps its order as the table below does, so the range restarts at most n
            ranked[i], code = np.unique(code, return_inverse=True)
            code = code.astype(np.int64, copy=False).reshape(-1)
            total = len(ranked[i])
        elif not _table_pays(total * k, n) and _table_pays(total, n):
            # the code would outgrow a presence table (the memory model's 9-column key: a sort of every row, ~1 s of
            # a DeepSeek-V3 search): replaced by its dense rank first, which keeps its order, so the rows, their
            # lexicographic order and the inverse are the same
            present = np.zeros(total, dtype=bool)
            present[code] = True
            ranked[i] = np.flatnonzero(present)
            lookup = np.empty(total, dtype=np.int64)  # only the present codes' entries are written and read
            lookup[ranked[i]] = np.arange(len(ranked[i]), dtype=np.int64)
            code = lookup[code]
            total = len(ranked[i])
        code *= k
        code += d
        if lo:
            code -= lo
        total *= k
    if code is None:  # every column constant
        keys, inv = np.zeros(1, dtype=np.int64), np.zeros(n, dtype=np.intp)
    elif _table_pays(total, n):
        present = np.zeros(total, dtype=bool)
        present[code] = True
        keys = np.flatnonzero(present)
        lookup = np.empty(total, dtype=np.intp)  # only the entries of present codes are written and read
        lookup[keys] = np.arange(len(keys), dtype=np.intp)
        inv = lookup[code]
    else:
        keys, inv = np.unique(code, return_inverse=True)
        inv = inv.astype(np.intp, copy=False)
    out = []
    for i in reversed(range(len(digits))):
        lo, k, vals, _ = digits[i]
        if k == 1:
            out.append(np.full(len(keys), lo, dtype=np.int64))
            continue
        d = keys % k
        out.append(vals[d] if vals is not None else d + lo)
        keys = keys // k
        if i in ranked:  # back from the ranks to the code they replaced
            keys = ranked[i][keys]
    out = out[::-1]
    for j, i in same.items():
        out[j] = out[i].copy()
    return out, inv
