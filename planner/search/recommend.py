"""The search: every hardware option x parallel layout, evaluated, filtered, ranked, explained.

Pure: it reads the job and never changes it; what it assumes comes back in the result. No Python
loop per configuration: the loops are over hardware options (tens) and bounded chunks of each
option's space (``planner.search.space``), each evaluated as one vectorised batch — memory first
(what does not fit is dropped before the time model runs), then step time and cost. The
simulator's re-check of the top plans is a later stage (``planner.workloads.training``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field as dc_field, fields, replace
from typing import NoReturn

import numpy as np

from planner import defaults as D
from planner.errors import InfeasibleError, InputError, NoPeakError
from planner.hardware.options import (calibrate_hint, constrained_names, slice_hosts, options_for_search,
                                      price_cap_left_out, ranked_basis, searches_catalog, single_node_note,
                                      spot_left_out, unmatched_gpu_lines, unmatched_gpus)
from planner.hardware.platform import device_noun, platform_of
from planner.model.cost import rent_cost, total_steps, total_tokens
from planner.model.finetune import base_math_error, base_math_missing, base_math_precision
from planner.results import figures_include
from planner.model import offload, physics, stack_rules
from planner.model.activations import SELECTIVE
from planner.model.memory import gpu_memory_key, memory_per_gpu, other_words
from planner.model.memory_activations import rows_of
from planner.model.moe import DISPATCHER_NEEDS, dispatcher_gpu_refusal, dispatcher_local_only, dispatcher_spans_nodes, fabric_words
from planner.model.stacks import DEFAULT_RECOMPUTE_MODULES, SEARCHED, layout_uses, option_at
from planner.model.stack_kernels import RECIPES
from planner.model.step_time import LayerMemo, step_time
from planner.results import Recommendation
from planner.search.explain import option_value
from planner.search.evaluate import (candidates_eval, evaluate, fits_memory, inputs_provenance, memory_limit, offload_label,
                                     option_notes, row_result, stack_assumption)
from planner.search.rank import (cost_bucket, pareto_mask, rank_key, rank_order, ranked_columns,
                                 stack_choice_line, stack_comparison, why)
from planner.layout import SP_WITHOUT_TP, Candidates, distinct_rows
from planner.model.pipeline import chunk_layers
from planner.model.stacks import PORTS, RUNS_ON, port_of, check_platform, recompute_split
from planner.model.stack_kernels import ATTN_IMPLEMENTATION_KERNELS, attn_implementation_refusal
from planner.search.space import (CHUNK_ROWS, could_free, empty_reason, one_replica_twins, rule_broken_everywhere, is_auto, module_lists_note, non_transformer_note, open_stack_refusal, platform_note, port_note, recipe_auto, recipe_choices, dispatcher_choices, refusal_error, refusal_note, sp_off_note,
                                  searched_options, without_auto_recipe, space_chunks, space_key, stack_groups, stack_runs_on, variant_job)
from planner.spec import JobSpec
from planner.spec.training_stack import stack_named
from planner.units import GiB, config_str, count_of, fmt_time, fmt_usd, hardware_str
from planner.vocab import MOE_DISPATCHER, RECOMPUTE, SCHEDULE, SPOT
from hardware_catalog import load_catalog
from hardware_catalog.errors import MESSAGE_CHARS, fit_message, without_asides
from hardware_catalog.skypilot import spot_rate_words



def best_layout(plan) -> dict:
    """The ZeRO stage, PP, CP, EP, TP, recompute and GPU of a ranked plan (estimate's plan too), for its stack line
    (``evaluate.stack_assumption``: CP says whether packed rows keep their per-example attention,
    ``packed_attention_note``; EP and TP which parts an HF plan leaves whole, moe ``hf_ep_plan_note``; the recompute
    the remat policy a MaxText plan runs, stacks ``remat_label``; the GPU whether TE's TP overlap runs,
    ``Stack.tp_overlap_label``)."""
    cfg = plan.config if hasattr(plan, "config") else plan["config"]
    get = cfg.get if isinstance(cfg, dict) else (lambda k: getattr(cfg, k))
    hw = plan.hardware if hasattr(plan, "hardware") else plan.get("hardware")
    hw_get = hw.get if isinstance(hw, dict) else (lambda k: getattr(hw, k, None))
    # the node size: a2a+p2p's a2a group (evaluate.cp_exchange_note)
    return {"zero": get("zero"), "pp": get("pp"), "cp": get("cp"), "ep": get("ep"), "tp": get("tp"),
            "gpus_per_node": hw_get("gpus_per_node"), "recompute": get("recompute"), "gpu": hw_get("gpu")}

def picks_block_recompute(job: JobSpec, stack) -> bool:
    """Whether the search chooses Megatron's block recompute N for the full-recompute rows (``smallest_block_recompute``):
    a stack that runs it (``Stack.partial_recompute``), a transformer, and a job that leaves N open with recompute
    full or open and no uniform method."""
    t = job.training
    return (bool(getattr(stack, "partial_recompute", False)) and job.model.is_transformer
            and t.recompute in (None, "full") and t.recompute_num_layers is None
            and getattr(t, "recompute_method", None) in (None, "block"))


def picks_uniform_recompute(job: JobSpec, stack) -> bool:
    """Whether the search chooses Megatron's uniform group for the full-recompute rows that do not fit
    (``smallest_uniform_group``): as ``picks_block_recompute``, with the method left open or uniform."""
    t = job.training
    return (bool(getattr(stack, "partial_recompute", False)) and job.model.is_transformer
            and t.recompute in (None, "full") and t.recompute_num_layers is None
            and getattr(t, "recompute_method", None) in (None, "uniform"))


def partial_recompute_note(job: JobSpec, stack) -> str | None:
    """The assumption line of a job that sets ``recompute: full`` and leaves the layers open on a stack that runs
    Megatron's partial full recompute (``picks_block_recompute`` / ``picks_uniform_recompute``): the search checkpoints
    the fewest layers that fit, which ``rc:full(block N)`` shows but no line said (QA 86: Llama-3-70B, TP 4, mb 2,
    recompute full on 16 a3-highgpu-8g nodes was planned at block 1, 16.00 s a step, where every layer checkpointed
    takes 19.73 s, as ``estimate`` of the same job file runs it). None where the job leaves recompute open (the
    searched recompute is the plan's own then) or fixes the method and N."""
    if job.training.recompute != "full" or not (picks_block_recompute(job, stack) or picks_uniform_recompute(job, stack)):
        return None
    how = {"block": "block: each model chunk's first N layers, the smallest N that fits",
           "uniform": "uniform: groups of N layers, the smallest N that fits"}
    tried = [how[k] for k, picks in (("block", picks_block_recompute), ("uniform", picks_uniform_recompute))
             if picks(job, stack)]
    return (f"training.recompute full with training.recompute_method / recompute_num_layers open on {stack.name} "
            f"plans: the layers checkpointed searched (Megatron-Core --recompute-method {'; else '.join(tried)}; "
            "the plan's rc:full(method N)); set recompute_method: uniform and recompute_num_layers: 1 to checkpoint "
            "every layer, as estimate does with them open")


#: the most bytes of stack-variant rows a search keeps (``SearchMemo.variant_rows``: two bits a row)
ROWS_HELD_BYTES = 1 << 25

#: the most bytes of gathered candidate columns a search keeps at once (``SearchMemo.gathered``): the columns each
#: kept gather owns, a view of another's free, plus a block search's N = 1 batch a kept view keeps where no memory
#: answer keeps it (``SearchMemo.memory_of``). The keys the step-time and memory calls leave on a kept gather
#: (``Candidates.distinct``, ``derived``) are not counted: DeepSeek-V3's example search keeps 34 MB of columns and
#: ~25 MB of such keys, its peak RSS 1.81 -> 1.71 GB (the block probes no longer copy every column, ``_with_rows``)
GATHERED_BYTES = 1 << 27


class SearchMemo(LayerMemo):
    """A search's ``LayerMemo`` that also keeps ``memory_per_gpu``'s whole answers (``memory``) while a later hardware
    option may ask for them again. ``memory_per_gpu`` reads the model, the training spec, the stack, the rows and
    the GPU's name, nothing else of the option (its signature: no network, host or price), so the options on one GPU
    (the Llama-3-70B example's five 8 x H100-SXM-80GB instances, which differ in their fabric) ask it the same
    questions on the same chunks: 267 of the example's 476 memory calls and 353 of the app preset's 939 were
    answered before (rec44, counted by hashing each call's inputs). An answer is found by the same objects and exact
    equality of every column (dtype and values), so it is the answer the call would compute, bit for bit; its
    arrays are read-only (no caller changes a memory answer in place; a write would raise rather than reach the
    next option). The GPU enters by what the memory model reads of it (``memory.gpu_memory_key``), not its name: the
    parts that share a key (a whole-catalog search's A10G, A100, L4, L40S, H100, H200 ...) get one another's answers
    on the same chunks (speed46, with ``_uniform_at_once``: the memory calls the bare-model example computes 681 ->
    323, the app preset's 573 -> 351). ``forget`` drops a key's answers after the last option of its parts
    (``recommend``), and at most ``rows`` rows of answers are kept at once (past that a call is computed and not
    kept). The rows the search gathers from its kept chunks are kept too (``gathered``, ``GATHERED_BYTES``), so a
    later option that takes the same rows meets these answers by identity and a gather's answer by its key
    (``memory_of``)."""

    def __init__(self, rows: int = 1 << 22):
        super().__init__()
        self._answers: dict[tuple, list] = {}  # (model, training, stack, gpu key, rows) -> [(objects, columns, answer)]
        self._gpu_keys: dict[str, tuple] = {}  # GPU name -> memory.gpu_memory_key
        self._room = rows
        self._spaces: dict[tuple, tuple] = {}  # space_key -> (the job, its chunks)
        self._space_room = CHUNK_ROWS
        self._kept: dict[int, Candidates] = {}  # id -> a chunk kept in _spaces (a later option is handed it again)
        self._rows: dict[tuple, tuple] = {}  # (variant, chunk) ids -> (variant, chunk, bits known, bits passing)
        self._rows_room = ROWS_HELD_BYTES
        self._groups: dict[tuple, tuple] = {}  # (chunk, stack group) ids -> (the group, _group_chunk's answer)
        self._gathers: dict[tuple, tuple] = {}  # (rows id, key) -> (those rows, the gather, the bytes it owns)
        self._gathered: dict[int, Candidates] = {}  # id -> a gather kept in _gathers (a later one may be of it)
        self._gather_room = GATHERED_BYTES
        self._answers_of: dict[tuple, tuple] = {}  # (rows id, key, model, training, stack ids, GPU key) -> memory_of

    def chunks(self, job: JobSpec, hw) -> list:
        """``list(enumerate(space_chunks(job, hw)))``, built once per ``space.space_key`` (the GPUs per node and
        the layout grid: all the chunks read of the option) and kept while they hold at most ``CHUNK_ROWS`` rows in
        all. The options with the same key get the same ``Candidates`` objects, so what those keep (their distinct
        keys, derived columns) and the memory answers (found by the same column objects) serve every one."""
        key = space_key(job, hw)
        got = self._spaces.get(key)
        if got is not None and got[0] is job:
            return got[1]
        chunks = list(enumerate(space_chunks(job, hw)))
        rows = sum(len(c) for _, c in chunks)
        if rows <= self._space_room:
            self._space_room -= rows
            self._spaces[key] = (job, chunks)
            self._kept.update((id(c), c) for _, c in chunks)
        return chunks

    def group_chunk(self, chunk: Candidates, grp, make) -> tuple:
        """``make()``, ``_group_chunk``'s chunk as a stack group runs it, once per kept chunk and group: a search over
        several stacks (the app's GPUs and TPUs) gave each option a new copy of every chunk (a new schedule column
        per group), so no later option met the memory answers, layer keys or variant rows of the same rows
        (speed45: 66 of the app preset's 66 chunk searches). The copy is kept with its chunk (``chunks``)."""
        if self._kept.get(id(chunk)) is not chunk:
            return make()
        key = (id(chunk), id(grp))
        got = self._groups.get(key)
        if got is None or got[0] is not grp:
            got = self._groups[key] = (grp, make())
            self._kept[id(got[1][0])] = got[1][0]
        return got[1]

    def variant_rows(self, var, c: Candidates, refused: dict | None = None, within: np.ndarray | None = None):
        """``var.rows(c, refused, within)``, each row of a kept chunk (``chunks``) computed once per variant for the
        search. A variant's rows depend on the variant and the chunk only (the stack's rules, the offload rules, the
        split: no hardware; speed37's ``within`` only says which rows are asked), yet each option on the same space
        asked again (DeepSeek-V3: 2,016 calls on 3 chunk objects, 2.4 of their 3.2 CPU s repeats, speed45). The rows
        answered are kept as bits (which are known, which pass; ``ROWS_HELD_BYTES`` in all), and a later call on the
        same objects computes only the rows it asks that are not known (``rows``' ``within``). Every test is a
        row's own, so this is the answer ``rows`` gives, bit for bit (tests/test_speed45.py)."""
        n, key = len(c), (id(var), id(c))
        if self._kept.get(id(c)) is not c:  # (a chunk no later option is handed: nothing to keep)
            return var.rows(c, refused=refused, within=within)
        held = self._rows.get(key)
        if held is None:
            known, ok = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        else:
            known, ok = (np.unpackbits(b, count=n).view(bool) for b in held[2:])
        need = ~known if within is None else within & ~known
        if need.any():
            got = (var.rows(c, refused=refused) if held is None and within is None
                   else var.rows(c, within=need))  # (refused: the whole chunk's, asked only on a first whole call)
            ok |= got
            known |= need
            self._hold(key, var, c, known, ok)
        return ok & within if within is not None else ok

    def _hold(self, key: tuple, var, c: Candidates, known: np.ndarray, ok: np.ndarray) -> None:
        """Keep ``variant_rows``' bits of (``var``, ``c``) where they fit in what is left of ``ROWS_HELD_BYTES``."""
        bits = (np.packbits(known), np.packbits(ok))
        old = self._rows.get(key)
        room = self._rows_room + (sum(b.nbytes for b in old[2:]) if old is not None else 0)
        if bits[0].nbytes + bits[1].nbytes <= room:
            self._rows_room = room - bits[0].nbytes - bits[1].nbytes
            self._rows[key] = (var, c, *bits)

    def gathered(self, c: Candidates, key: tuple, make) -> Candidates:
        """``make()``: candidates made from the rows ``c`` and ``key`` alone (``key`` holds by value all else ``make``
        reads: the rows taken, a column set), the same object for the same ``c`` and ``key`` while ``c`` is a kept
        chunk (``chunks``, ``group_chunk``) or a kept gather. The later hardware options of one space take the same
        rows of the same chunks again wherever their rows fit alike (DeepSeek-V3's four 8 x H100 instance types,
        which differ in their fabric and host RAM only: the gathers, their ``with_block_one`` rows and the block
        probes' rows, speed58). Handed the same objects, they find the memory answers by identity
        (``memory``: no column compare) and the rows' own kept keys (``Candidates.distinct``, ``derived``, ``kept``)
        in the step-time and memory calls; the fit itself, which reads the option's host RAM and NVMe, is each
        option's own. At most ``GATHERED_BYTES`` of owned columns are kept (past that a gather is made and not
        kept); ``forget`` drops them all."""
        got = self.held(c, key)
        return got if got is not None else self.hold(c, key, make())

    def held(self, c: Candidates, key: tuple) -> Candidates | None:
        """The gather kept for rows ``c`` and ``key`` (``gathered``), or None."""
        got = self._gathers.get((id(c), key))
        return got[1] if got is not None and got[0] is c else None

    def keeps(self, c: Candidates) -> bool:
        """Whether ``c`` is a chunk or a gather the search keeps (its gathers may be kept: ``gathered``)."""
        return self._kept.get(id(c)) is c or self._gathered.get(id(c)) is c

    def hold(self, c: Candidates, key: tuple, out: Candidates) -> Candidates:
        """``out``, kept as ``c``'s gather at ``key`` where it can be (``keep``)."""
        self.keep(c, key, out)
        return out

    def keep(self, c: Candidates, key: tuple, out: Candidates) -> bool:
        """Keep ``out`` as ``c``'s gather at ``key`` where ``c`` is kept and the columns ``out`` owns fit the room
        left; whether it is kept."""
        if not self.keeps(c):
            return False
        size = sum(a.nbytes for a in (getattr(out, f.name) for f in fields(Candidates)) if a.base is None)
        if size > self._gather_room:
            return False
        self._gather_room -= size
        for f in fields(Candidates):  # shared by later options: a write in place would change their answers
            getattr(out, f.name).setflags(write=False)
        self._gathers[(id(c), key)] = (c, out, size)  # (c held: its id stays its own)
        self._gathered[id(out)] = out
        return True

    def let_go(self, c: Candidates, key: tuple, refund: bool = True) -> None:
        """Drop the gather kept for ``c`` at ``key``; ``refund``: its bytes back to the room (else they stay counted:
        a view of its columns keeps them)."""
        out, size = self._gathers.pop((id(c), key))[1:]
        del self._gathered[id(out)]
        self._gather_room += size if refund else 0

    def memory(self, model, training, c: Candidates, stack, gpu: str) -> dict:
        """``memory_per_gpu(model, training, c, stack=stack, gpu=gpu, memo=self)``, or the answer it gave before on
        the same objects and rows (a new dict of the same read-only arrays)."""
        return dict(self._answer(model, training, c, stack, gpu)[0])

    def _answer(self, model, training, c: Candidates, stack, gpu: str) -> tuple[dict, bool]:
        """(``memory``'s answer, whether it is kept)."""
        key = (id(model), id(training), id(stack), self.gpu_key(gpu), len(c))
        cols = tuple(getattr(c, f.name) for f in fields(Candidates))
        for objs, held, answer in self._answers.get(key, ()):
            if objs[0] is model and objs[1] is training and objs[2] is stack and all(map(_same_column, held, cols)):
                return answer, True
        answer = memory_per_gpu(model, training, c, stack=stack, gpu=gpu, memo=self)
        if len(c) > self._room:
            return answer, False
        for v in answer.values():
            if isinstance(v, np.ndarray):
                v.setflags(write=False)
        self._room -= len(c)
        self._answers.setdefault(key, []).append(((model, training, stack), cols, answer))
        return answer, True

    def memory_of(self, model, training, c: Candidates, key: tuple, make, stack, gpu: str) -> dict:
        """``memory`` of the rows ``make()``, the gather ``key`` of rows ``c`` (``gathered``'s contract): under a kept
        ``c``, found by ``c`` and ``key`` where asked before, the rows not made again. A block search's N = 1 pass
        and its probes (``_fitting``, ``_memory_at``) make rows for their memory call alone: kept, they held the
        keys that call leaves on them (~140 MB of DeepSeek-V3's search, speed58). A gather of ``c`` at ``key``
        kept until the call (``_batch``'s) is its rows, then let go: its bytes counted as long as no memory answer
        keeps its columns (``c``, a view of them, does)."""
        if not self.keeps(c):
            return self.memory(model, training, make(), stack, gpu)
        k = (id(c), key, id(model), id(training), id(stack), self.gpu_key(gpu))
        got = self._answers_of.get(k)
        if got is not None and got[0] is c and got[1] is model and got[2] is training and got[3] is stack:
            return dict(got[4])
        rows = self.held(c, key)
        answer, kept = self._answer(model, training, make() if rows is None else rows, stack, gpu)
        if rows is not None:
            self.let_go(c, key, refund=kept)
        if kept:  # (the answer's arrays are the memory memo's: the entry adds none)
            self._answers_of[k] = (c, model, training, stack, answer)
        return dict(answer)

    def gpu_key(self, gpu: str) -> tuple:
        """``memory.gpu_memory_key(gpu)``, taken once per name."""
        got = self._gpu_keys.get(gpu)
        if got is None:
            got = self._gpu_keys[gpu] = gpu_memory_key(gpu)
        return got

    def forget(self, gpu: str) -> None:
        """Drop the answers on GPU ``gpu`` and the parts that share its key (no later option asks for them)."""
        gkey = self.gpu_key(gpu)
        for key in [k for k in self._answers if k[3] == gkey]:
            self._room += key[4] * len(self._answers.pop(key))
        # and the gathers: those after a chunk's first take rows by their fit, which the GPU's memory decides
        self._gathers, self._gathered, self._gather_room, self._answers_of = {}, {}, GATHERED_BYTES, {}


def _variant_rows(memo, var, c: Candidates, refused: dict | None = None, within: np.ndarray | None = None):
    """``var.rows(c, refused, within)``: under a ``SearchMemo``, a kept chunk's rows computed once for the search."""
    if isinstance(memo, SearchMemo):
        return memo.variant_rows(var, c, refused, within)
    return var.rows(c, refused=refused, within=within)


def _rows_key(sel) -> tuple:
    """Rows ``sel`` (a mask, or indices) by value, a ``SearchMemo.gathered`` key's part (a mask as its bits)."""
    sel = np.asarray(sel)
    return sel.dtype.str, len(sel), (np.packbits(sel) if sel.dtype == bool else sel).tobytes()


def _take(memo, c: Candidates, sel) -> Candidates:
    """``c.take(sel)`` (a mask taken as its indices, or indices): under a ``SearchMemo``, kept per kept ``c`` and
    rows (``SearchMemo.gathered``)."""
    sel = np.asarray(sel)

    def make():
        return c.take(np.flatnonzero(sel) if sel.dtype == bool else sel)
    return memo.gathered(c, ("take", *_rows_key(sel)), make) if isinstance(memo, SearchMemo) else make()


def _batch(memo, c: Candidates, rows: np.ndarray, block_one: bool) -> Candidates:
    """Rows ``rows`` (a mask) of chunk ``c``: a variant's batch (``_search_chunk``), kept as ``_take`` keeps it.
    Where the variant searches block recompute (``block_one``: ``_fitting`` asks memory of the batch with its full
    rows again at N = 1, ``with_block_one``), that batch is made first and kept as the rows' ``with_block_one``
    until that memory call (``SearchMemo.memory_of``), the rows a view of its first ones: the memory answer keeps
    its columns (``SearchMemo.memory``), so the rows keep no copy of their own."""
    if not (block_one and isinstance(memo, SearchMemo)):
        return _take(memo, c, rows)
    key = ("batch", *_rows_key(rows))
    got = memo.held(c, key)
    if got is None:
        ext = with_block_one(c.take(np.flatnonzero(rows)))
        n = int(np.count_nonzero(rows))
        got = Candidates(**{f.name: getattr(ext, f.name)[:n] for f in fields(Candidates)})
        if memo.keep(c, key, got) and not memo.keep(got, ("block one",), ext):
            memo.let_go(c, key)  # (the rows, a view, kept only with the batch they view)
    return got


def _same_column(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two candidate columns hold the same values in the same dtype (the same object: without a pass)."""
    return a is b or (a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b)))


def _memory(model, training, c: Candidates, stack, gpu: str, memo) -> dict:
    """``memory_per_gpu`` of the search's rows ``c``: under a ``SearchMemo``, an answer given before on the same rows."""
    if isinstance(memo, SearchMemo):
        return memo.memory(model, training, c, stack, gpu)
    return memory_per_gpu(model, training, c, stack=stack, gpu=gpu, memo=memo)


def _memory_of(model, training, c: Candidates, key: tuple, make, stack, gpu: str, memo) -> dict:
    """``memory_per_gpu`` of the rows ``make()``, gather ``key`` of ``c``: under a ``SearchMemo`` an answer found by
    them where given before (``SearchMemo.memory_of``; rows not kept: ``_memory`` of the rows made)."""
    if isinstance(memo, SearchMemo) and memo.keeps(c):
        return memo.memory_of(model, training, c, key, make, stack, gpu)
    return _memory(model, training, make(), stack, gpu, memo)


def _memory_at(job: JobSpec, training, sub, act, column: str, n, stack, hw, limit: float, memo=None):
    """Rows ``act`` of candidates ``sub`` with ``column`` (``rn``: block N, ``rg``: uniform group) set to ``n``:
    whether they fit, and their ``memory_per_gpu`` (``memo``: the search's ``LayerMemo`` or ``SearchMemo``). The
    probe of both partial-recompute searches."""
    col = np.broadcast_to(np.asarray(n, dtype=np.int64), (len(act),)).copy()

    def make():
        p = sub.take(act)
        setattr(p, column, col)
        return p
    got = _memory_of(job.model, training, sub, ("at", column, *_rows_key(act), col.tobytes()), make, stack,
                     hw.gpu.name, memo)
    return fits_memory(job, hw, got, limit), got


def _with_rows(cv, mem: dict, sel, column: str, values, got: dict, memo=None):
    """Copies of ``cv`` and ``mem`` with rows ``sel`` at ``column`` = ``values`` and their memory ``got`` (the chunk's
    columns and memory serve the search's other variants too, so nothing is written in place): ``cv``'s other
    columns shared (no code writes a column in place; until speed58 a copy of every column), the candidates kept
    per kept ``cv``, rows and values under a ``SearchMemo`` (``gathered``)."""
    values = np.asarray(values)

    def make():
        col = np.array(getattr(cv, column))  # a writable copy: take fills a column constant over cv read-only
        col[sel] = values
        return replace(cv, **{column: col})  # a new object: no record of cv's constant columns or derived keys
    cv = (memo.gathered(cv, ("with", column, *_rows_key(sel), values.dtype.str, values.tobytes()), make)
          if isinstance(memo, SearchMemo) else make())
    mem = {k: (v.copy() if np.ndim(v) and len(v) == len(cv) else v) for k, v in mem.items()}
    for k, v in got.items():
        if np.ndim(mem.get(k)) and len(mem[k]) == len(cv):
            mem[k][sel] = v
    return cv, mem


def launchable_uniform_groups(m, cv, stack) -> tuple[np.ndarray, np.ndarray]:
    """(largest chunk, groups) per row of ``cv``: the most layers of any model chunk of the split the row launches
    (``pipeline.split_keys``), and a (rows x largest + 1) mask of the uniform groups g >= 2 Megatron-Core runs
    on it: those dividing every non-empty chunk's layers. transformer_block.py ``_checkpointed_forward`` (uniform)
    calls ``custom(layer_idx, layer_idx + recompute_num_layers)`` for layer_idx = 0, g, 2g, ... below the chunk's
    ``num_layers_per_pipeline_rank``, and ``custom_forward`` runs ``for index in range(start, end): layer =
    self._get_layer(index)`` (``self.layers[index]``, a ModuleList): a chunk whose layers g does not divide indexes
    past its last layer (IndexError) in the first forward. Nothing in TransformerConfig checks it; the forks that
    clamp the last group (``min(layer_idx + g, num_layers_per_pipeline_rank)``) are not Megatron-Core."""
    from planner.layout import V_SPLIT, split_vpp
    from planner.model.pipeline import pipeline_split, runtime_at, split_keys, split_runtime, tp_dependent
    n = len(cv)
    runtime = split_runtime(stack, m)
    vv = np.where(split_vpp(cv) == V_SPLIT, V_SPLIT, cv.chunks)
    tp = np.broadcast_to(np.asarray(cv.tp), (n,)) if tp_dependent(runtime) else 1
    # per distinct (pp, vpp, tp) split, gathered to the rows by its index (speed40c: a Python loop over the rows,
    # 3.4 s of DeepSeek-V3's recommend, was the cost)
    keys, inv = split_keys(np.broadcast_to(np.asarray(cv.pp), (n,)), np.broadcast_to(vv, (n,)), tp, runtime)
    sizes = [tuple(sorted({int(x) for x in pipeline_split(m.layers, k, v, runtime_at(runtime, t))[1] if x > 0}))
             for k, v, t in keys]
    tops = np.array([max(cs) for cs in sizes], dtype=np.int64)
    gs = np.arange(int(tops.max(initial=1)) + 1)
    masks = np.array([(gs >= 2) & (np.asarray(cs)[:, None] % np.maximum(gs, 1)[None, :] == 0).all(axis=0)
                      for cs in sizes], dtype=bool).reshape(len(sizes), len(gs))
    top = tops[inv] if n else np.zeros(0, dtype=np.int64)
    runs = masks[inv] if n else np.zeros((0, len(gs)), dtype=bool)
    return top, runs


def smallest_uniform_group(job: JobSpec, training, cv, fits, mem: dict, stack, hw, limit: float, memo=None):
    """The full-recompute rows of ``cv`` that do not fit checkpointing every layer on its own, each at the smallest
    Megatron uniform group g (``--recompute-method uniform --recompute-num-layers g``) that fits. Uniform re-runs
    every layer, so its step time is full recompute's at any g (pipeline.recomputed_fraction): it only makes rows fit
    that did not, by keeping C / g group inputs of each chunk of C layers instead of one per layer at the price of
    a whole group rebuilt at once (memory_activations._partial_recompute_saves, chunk_activations). Of those equally fast plans
    the smallest g rebuilds least.

    Only the groups Megatron-Core runs on the row's split are tried (``launchable_uniform_groups``: g dividing every
    chunk's layers; until uniform40 any g up to the fullest chunk, a plan whose launch stops at the first forward
    where g left a chunk a partial group). Rows are screened first: uniform frees at most the stage's activations,
    so a row whose total less its activations is over the limit is left out. Then the groups are tried in rising
    order, each row only until one fits: the smallest g that fits, exactly (the kept inputs of each chunk, C / g,
    and the rebuilt group move together, and per chunk, chunk_activations); since speed46 every (row, group) pair in
    one memory call (``_uniform_at_once``, up to ``UNIFORM_AT_ONCE`` pairs; past that ``_uniform_rounds``, a call
    per group), the same g and numbers. Until uniform40 two probes (g 2 and the
    fullest chunk) fitted a line in ceil(C / g) and g - 1 and checked the g it predicted, exact only while every
    chunk took the fullest chunk's ceil(C / g) / C a layer.
    Returns (candidates, memory, fits) with the chosen rows' ``rg``, memory and fit replaced."""
    m = job.model
    want = (~fits & (cv.rc == RECOMPUTE.code["full"]) & (cv.rn == 0) & (cv.rg == 0)
            & (mem["total"] - mem.get("activations", 0.0) <= limit))
    rows = np.flatnonzero(want)
    if not len(rows):
        return cv, mem, fits
    # the launchable groups of the screened rows only (each row's groups are its split's own; speed40c)
    sub = _take(memo, cv, rows)
    _, steps = launchable_uniform_groups(m, sub, stack)
    runs = steps.any(axis=1)
    if not runs.all():
        rows, sub, steps = rows[runs], _take(memo, sub, runs), steps[runs]
    if not len(rows):
        return cv, mem, fits
    probe = _uniform_at_once if int(steps[:, 2:].sum()) <= UNIFORM_AT_ONCE else _uniform_rounds
    g, pick = probe(job, training, sub, steps, stack, hw, limit, memo)
    part = np.flatnonzero(g > 0)
    if not len(part):
        return cv, mem, fits
    sel = rows[part]
    cv, mem = _with_rows(cv, mem, sel, "rg", g[part], {k: v[part] for k, v in pick.items()}, memo)
    fits = fits.copy()
    fits[sel] = True
    return cv, mem, fits


#: the most (row, group) pairs ``smallest_uniform_group`` probes in one memory call (more: group by group)
UNIFORM_AT_ONCE = 1 << 16


def _uniform_rounds(job: JobSpec, training, sub, steps, stack, hw, limit: float, memo=None):
    """``smallest_uniform_group``'s probe group by group: each launchable g in rising order on the rows of ``sub``
    no smaller g fitted. Returns (g per row, 0 where none fits; the memory columns of each row at its g)."""
    n = len(sub)
    g = np.zeros(n, dtype=np.int64)
    pick: dict = {}
    for gi in range(2, steps.shape[1]):  # a few groups: the common divisors of a split's chunk sizes
        act = np.flatnonzero((g == 0) & steps[:, gi])
        if not len(act):
            continue
        ok, got = _memory_at(job, training, sub, act, "rg", gi, stack, hw, limit, memo)
        hit = act[ok]
        if not len(hit):
            continue
        g[hit] = gi
        for k, v in got.items():
            if np.ndim(v) and len(v) == len(act):
                v = np.asarray(v)
                pick.setdefault(k, np.zeros(n, dtype=v.dtype))[hit] = v[ok]
        if (g > 0).all():
            break
    return g, pick


def _uniform_at_once(job: JobSpec, training, sub, steps, stack, hw, limit: float, memo=None):
    """``_uniform_rounds``' answer from one memory call on every (row, launchable g) pair of ``sub``: a row's memory
    at g does not depend on the rows probed with it (as ``smallest_block_recompute``'s bisection at once), so each
    row's first fitting pair in rising g is the g and the numbers the rounds pick. The rounds were a call per group
    (up to seven on a 24-layer chunk), each a fixed cost on a few rows: ~450 of a whole-catalog search's ~1,100
    memory questions (speed46). The pairs past a row's answer are the extra work, a few rows each."""
    n = len(sub)
    at, gs = np.nonzero(steps[:, 2:])  # row-major: each row's groups in rising order
    gs = gs + 2
    ok, got = _memory_at(job, training, sub, at, "rg", gs, stack, hw, limit, memo)
    hit = np.flatnonzero(ok)
    first = hit[np.r_[True, at[hit[1:]] != at[hit[:-1]]]] if len(hit) else hit  # each row's smallest fitting g
    g = np.zeros(n, dtype=np.int64)
    g[at[first]] = gs[first]
    pick: dict = {}
    for k, v in got.items():
        if np.ndim(v) and len(v) == len(at):
            v = np.asarray(v)
            pick[k] = np.zeros(n, dtype=v.dtype)
            pick[k][at[first]] = v[first]
    return g, (pick if len(first) else {})


def with_block_one(cv):
    """``cv`` with its full-recompute rows appended once more at Megatron block N = 1 (``smallest_block_recompute``'s
    first probe, evaluated in the search's own memory pass)."""
    full = np.flatnonzero((cv.rc == RECOMPUTE.code["full"]) & (cv.rn == 0) & (cv.rg == 0))
    one = cv.take(full)
    one.rn = np.ones(len(full), dtype=np.int64)
    return Candidates.concat([cv, one])


def split_rows(mem: dict, n: int):
    """``memory_per_gpu``'s dict of ``with_block_one`` rows: (the first ``n`` rows, the rest)."""
    head = {k: (v[:n] if np.ndim(v) else v) for k, v in mem.items()}
    tail = {k: (v[n:] if np.ndim(v) else v) for k, v in mem.items()}
    return head, tail


#: the most (row, N) pairs ``smallest_block_recompute`` probes in one memory call for its bisection (more: round by round)
BISECT_AT_ONCE = 1 << 16


def smallest_block_recompute(job: JobSpec, training, cv, fits, mem: dict, mem1: dict, stack, hw, limit: float,
                             memo=None):
    """The full-recompute rows of ``cv`` that fit, each at the smallest Megatron ``--recompute-num-layers`` (method
    block) that still fits: what Megatron users tune (Megatron-Bridge's Llama 3 8B H100 FP8 recipe recomputes 5 of 32
    layers), and never slower than recomputing every layer (the time falls with N, planner.model.pipeline
    .recomputed_fraction). ``mem1``: the memory of the full rows at N = 1 (``with_block_one``, in ``cv``'s order).

    Memory falls as N grows. A stage's total is linear in the recomputed share, or the larger of two such lines (rank
    0 and rank 1, the logits' stage), so convex: the secant from N = 1 to N = chunk crosses the limit at an N that
    fits. One pass evaluates that N and the one below it (the answer where the total is linear); a bisection settles
    rows where the one below fits too. Layouts that fit without recompute are left alone (faster at any N). Returns
    (candidates, memory) with the chosen rows' ``rn`` and memory replaced; N equal to the chunk stays 0."""
    m = job.model
    chunk = chunk_layers(m.layers, cv.pp, cv.chunks).astype(np.int64)
    full = np.flatnonzero((cv.rc == RECOMPUTE.code["full"]) & (cv.rn == 0) & (cv.rg == 0))  # mem1's rows
    at1 = np.full(len(cv), -1, dtype=np.intp)
    at1[full] = np.arange(len(full))
    want = fits & (at1 >= 0) & (chunk > 1)
    if not want.any():
        return cv, mem
    # a layout that fits without recompute is faster so at every N: its full-recompute row is left as it is (read
    # from ``cv``'s own rows: space_chunks keeps a layout's recompute rows in one chunk, or the answer would depend on
    # where the chunks fall). The layouts are told apart on the rows that ask or answer only (``want`` or fitting
    # without recompute: 283,557 of DeepSeek-V3's 8.9M, perf50), the same rows in the same order as over all of ``cv``
    plain = fits & (cv.rc == RECOMPUTE.code["none"])
    ask = np.flatnonzero(want | plain)
    _, inv = distinct_rows(*(col[ask] for col in (cv.nodes, cv.tp, cv.etp, cv.pp, cv.dp, cv.dp_shard, cv.cp, cv.ep,
                                                  cv.vpp, cv.zero, cv.mb, cv.sp, cv.schedule)))
    plain_fits = np.zeros(int(inv.max()) + 1, dtype=bool)
    plain_fits[inv[plain[ask]]] = True
    rows = ask[want[ask] & ~plain_fits[inv]]
    if not len(rows):
        return cv, mem
    sub, top = _take(memo, cv, rows), chunk[rows]

    def probe(act, n):
        """rows ``act`` of ``sub`` at N = ``n``: whether they fit, and their memory"""
        return _memory_at(job, training, sub, act, "rn", n, stack, hw, limit, memo)

    m1 = {k: (v[at1[rows]] if np.ndim(v) else v) for k, v in mem1.items()}
    ok1 = fits_memory(job, hw, m1, limit)
    drop = np.maximum(m1["total"] - mem["total"][rows], 1.0)
    sec = np.clip(np.ceil(1.0 + (m1["total"] - limit) / drop * (top - 1.0)), 2, top).astype(np.int64)
    hi = np.where(ok1, 1, sec)
    lo = np.where(ok1, 1, 2)
    at_hi = {k: np.array(v, dtype=np.float64, copy=True) for k, v in m1.items() if np.ndim(v)}  # memory at N = hi

    def keep(idx, got, ok):
        """record the memory of rows ``idx`` of ``sub`` that fit (their N becomes the new hi)"""
        for k in at_hi:
            at_hi[k][idx[ok]] = np.asarray(got[k])[ok]

    # one pass: every row at its secant N and the one below (where that is still above 1)
    act = np.flatnonzero(~ok1)
    below = act[hi[act] - 1 >= lo[act]]
    ok, got = probe(np.concatenate([act, below]), np.concatenate([hi[act], hi[below] - 1]))
    n = len(act)
    ok_sec, ok_below = ok[:n], ok[n:]
    keep(act, {k: np.asarray(v)[:n] for k, v in got.items() if k in at_hi}, ok_sec)
    hi[act[~ok_sec]] = lo[act[~ok_sec]] = top[act[~ok_sec]]  # not convex after all (no such case known): every layer
    lower = ok_below & ok_sec[np.searchsorted(act, below)]
    keep(below, {k: np.asarray(v)[n:] for k, v in got.items() if k in at_hi}, lower)
    hi[below] = np.where(lower, hi[below] - 1, hi[below])
    lo[below] = np.where(lower, lo[below], hi[below])
    # where the total bends: bisect what is left, every N the bisection may ask of a row probed at once (one memory
    # call on the rows x their [lo, hi) instead of one per round: the rounds were most of the search's memory calls,
    # each a fixed cost on a few rows); a row's memory at N does not depend on the rows probed with it, so the
    # bisection reads the same numbers and picks the same N
    act = np.flatnonzero(lo < hi)
    span = hi[act] - lo[act]
    if len(act) and int(span.sum()) <= BISECT_AT_ONCE:
        first = np.cumsum(span) - span  # where each row's N = lo starts in the probe
        at = np.full(len(sub), -1, dtype=np.intp)
        at[act] = first - lo[act]  # row r at N is probe row at[r] + N
        ok_all, got_all = probe(np.repeat(act, span), np.repeat(lo[act] - first, span) + np.arange(int(span.sum())))
        got_all = {k: np.asarray(v) for k, v in got_all.items() if k in at_hi}

        def probe(act, n):  # noqa: F811 (the rows' probes, read from the one above)
            pos = at[act] + n
            return ok_all[pos], {k: v[pos] for k, v in got_all.items()}
    while (lo < hi).any():
        act = np.flatnonzero(lo < hi)
        mid = (lo[act] + hi[act]) // 2
        ok, got = probe(act, mid)
        keep(act, got, ok)
        hi[act] = np.where(ok, mid, hi[act])
        lo[act] = np.where(ok, lo[act], mid + 1)
    part = np.flatnonzero(hi < top)
    if not len(part):
        return cv, mem
    return _with_rows(cv, mem, rows[part], "rn", hi[part], {k: v[part] for k, v in at_hi.items()}, memo)


@dataclass(frozen=True)
class SearchSetup:
    """What every stage of one search reads (``_search_setup``): the catalog, the hardware options, the job's step
    and token counts, and the stack groups searched (space.stack_groups) with their recompute lists."""
    cat: object
    con: object
    opts: list
    steps: float
    tokens: float
    groups: list
    auto: bool  # each row says which stack (the search chose it, or several platforms' stacks)
    live: list  # (group index, group) of the stacks not refused outright
    lists: dict  # group index -> the recompute_modules lists searched (space.module_lists_note)
    any_lists: bool
    partial_cols: bool  # the table has recompute_method / recompute_num_layers columns
    recipes: bool = False  # the job's fp8_recipe: auto: the table has an fp8_recipe column (space.recipe_choices)
    # the LATER_OPTIONS some group searched (moe_dispatcher: space.dispatcher_choices, moe_a2a_overlap:
    # a2a_overlap_choices): the table has their columns
    later: tuple = ()
    # group index -> its dispatcher twins (``_dispatcher_twins``), found once per search rather than once per
    # hardware option (perf50b); {} where no group searched a ``LATER_OPTIONS`` value
    twins: dict = dc_field(default_factory=dict)
    # the share of the rows' positions that are padding (TrainingSpec.padding_share; 0: packed or no padding): the
    # table's tokens_per_s counts positions, and a padded job's table adds real_tokens_per_s beside it (QA 101)
    padding: float = 0.0
    # the SEARCHED_ONLY_COLUMNS some group searched: the table has their columns
    opened: tuple = ()


@dataclass
class SearchTally:
    """What the search loop accumulates over hardware options, chunks and stack variants (``_search_option``)."""
    frames: list
    batches: dict  # (option index, chunk index, stack group, stack variant) -> the fitting candidates of that chunk
    refused: dict  # layouts each stack refuses (planner.model.stack_rules), by rule
    refused_rows: dict
    regroup: dict  # interleaved layouts refused at the group size that another one runs
    first_refused: dict  # the same, each layout under the first rule it breaks (the note's counts)
    first_regroup: dict
    closest: dict  # the nearest-to-fitting layout per stack group (framework auto's comparison)
    too_big: list  # options whose single node already exceeds constraints.max_gpus
    left_out: dict  # GPU name -> the low-precision peak it lacks (physics.peak_need), left out of the search
    off_platform: dict  # GPU name -> why no searched stack's code runs on it (stacks.check_platform)
    evaluated: int = 0
    closest_mem: tuple | None = None  # (overflow ratio, description) of the nearest-to-fitting layout
    # the same per accelerator (GPU name): a GPU constraints.gpus lists that no layout fits on is said (_no_plan_gpus)
    closest_gpu: dict | None = None
    # layouts run without sequence parallelism because the stack refuses it on them, where the job leaves it open
    # (stack_rules.open_sp): per group, [rows, rules]
    sp_off: dict | None = None
    # what one option's search added, by its hardware (``hardware_key``): the next option on the same hardware (an
    # instance at another price, region or name) takes it re-priced instead of being searched again (``_reuse``)
    done: dict | None = None
    # the ``_frame`` inputs of the option being searched, one per frame it adds (kept in ``done`` for ``_reuse``)
    pending: list | None = None
    # GPU name -> the error of its first option left out for the job's GPU limits (its one node past max_gpus)
    capped: dict = dc_field(default_factory=dict)
    # fp8_recipe auto: recipe -> (GPU names it was left out on, what they lack: physics.peak_need) (_variants_off)
    recipes_off: dict = dc_field(default_factory=dict)
    # moe_dispatcher searched: (on no layout, why) -> (dispatchers, hardware names) where their libraries do not run
    # (_variants_off): the GPU (every layout) or the fabric (the layouts whose dispatcher group spans nodes)
    dispatchers_off: dict = dc_field(default_factory=dict)
    # layouts of the job's own dispatcher left out because its group would leave a node on a fabric its library does
    # not cross (``_tally_refusals``): the error where nothing else was left to evaluate (``_refuse_empty_search``)
    dispatcher_cut: int = 0

    @classmethod
    def start(cls, live) -> "SearchTally":
        return cls(frames=[], batches={}, refused={g: {} for g, _ in live}, refused_rows={g: 0 for g, _ in live},
                   regroup={g: 0 for g, _ in live}, first_refused={g: {} for g, _ in live},
                   first_regroup={g: 0 for g, _ in live}, closest={}, too_big=[], left_out={}, off_platform={},
                   sp_off={g: [0, ()] for g, _ in live}, done={})

    def counts(self) -> tuple:
        """The additive counters one option's search moves (``_reuse`` adds an earlier option's moves again)."""
        return ({g: dict(d) for g, d in self.refused.items()}, dict(self.refused_rows), dict(self.regroup),
                {g: dict(d) for g, d in self.first_refused.items()}, dict(self.first_regroup), self.evaluated,
                {g: v[0] for g, v in self.sp_off.items()})


def hardware_key(hw) -> str:
    """What the search of an option reads of it, without what only prices or names it: two instances of the same
    GPU, node shape, fabric, network, host and efficiencies (a private catalog's rows in many regions at many
    prices, QA 46) have the same layouts, memory, fit and step times, so one search serves both (``_reuse``).
    The option's name, cloud, prices, region, date, source and notes are left out -- with the notes, the lines that
    name the row (its assumed network's and latency's, fabric49) and the efficiencies' provenance strings (an
    instance's latency source names it: "stated: <row>'s infiniband latency 14 µs"), whose numbers stay in; all else
    is compared whole (its repr), so a field the search may read is never left out by mistake."""
    inst = hw.instance
    if inst is not None:
        inst = replace(inst, cloud="", name="", price_ondemand=0.0, price_spot=None, region="", price_date="",
                       source="", notes="", spot_source="")
    return repr(replace(hw, name="", instance=inst, price_ondemand=None, price_spot=None, notes=[], network_note="",
                        latency_note="", eff=replace(hw.eff, sources={})))


@dataclass(frozen=True)
class RankedTable:
    """What the ranking of every plan that fits and meets the constraints keeps (``_ranked_table``), with what it was
    ranked on: ``df`` the kept rows (``RankedRows.kept``), ``rows`` every ranked row without a table."""
    df: object
    rows: object  # RankedRows
    n_fit: int  # plans that fit memory, before the constraints
    objective: str
    assumptions: list
    fitting: set  # stack groups with a plan that fits, before the constraints
    hcol: str
    ccol: str
    listed_out: list  # (GPU names, line) pairs: listed GPUs not searched (_listed_left_out)
    searched: set
    no_plan: list = dc_field(default_factory=list)  # (GPU names, line): listed GPUs searched with no plan (_no_plan_gpus)
    binding: tuple = ()  # the budget or deadline that moved the ranking, one line (_binding_constraint)
    nodes_cut: tuple = ()  # (hardware, node count)s with plans that fit but none within the constraints (_nodes_cut)
    stacks_cut: dict = dc_field(default_factory=dict)  # stack group -> why none of its fitting plans meets them


def recommend(job: JobSpec, catalog=None, profile=None, top: int = 10, progress=None,
              spot_model=None, overhead=None) -> Recommendation:
    """Search, rank, explain: the ``top`` ranked plans (best layout per hardware and node count),
    the Pareto front, counts, ``kept`` (the rows of the ranked table the outputs read) and ``rows`` (every feasible
    configuration, best first, without a table: ``RankedRows``; ``Recommendation.table`` builds it whole).

    ``spot_model(hw, hours, nodes, step_s, price) -> dict(hours, cost, cost_low, cost_high, ...)``
    (``planner.simulate.interruptions.SpotModel``, passed in by the workload: the search sits below
    the simulator) turns spot plans' compute time into expected wall time and cost with
    interruptions; spot plans are then ranked on those.

    ``overhead`` (``planner.workloads.training.CheckpointOverhead``, or None: a job without a
    ``checkpoint`` cadence or MTBF) prices the job's checkpoint pauses and node failures on every
    candidate that fits (``overhead.table``, vectorised) and on each plan (``overhead.plan``); the
    table's ``train_hours``, ``cost`` and ``usd_per_token`` are then the expected figures with them
    (``compute_hours``: the uninterrupted hours; ``goodput``: the useful share of wall time under the
    checkpoint pauses and node failures alone, spot interruptions aside), and the filters (budget,
    deadline, horizon), the ranking, the Pareto front and ``why`` use them (more nodes fail more often,
    so the overhead can reorder plans). A spot plan's expected figures already hold them (the spot
    model adds the node failures to the interruptions).

    One rule for the table (``recommend --csv``): ``train_hours``, ``cost`` and ``usd_per_token`` are
    always the figures the plan is ranked and filtered at; ``compute_hours`` (present where they differ:
    a spot price or a checkpoint section) the uninterrupted time.

    Stages (until 2026-12-04 one 264-line function): ``_search_setup`` (options, stack groups), per hardware
    option ``_search_option`` (the stacks that run there, its chunks) and per chunk and stack ``_search_chunk``
    (refusals tallied by ``_tally_refusals``, each variant's memory, fit and price in ``_search_variant``, its rows
    in ``_frame``), then ``_ranked_table`` (constraints, rank, Pareto) and ``_assemble`` (plans, why, result)."""
    t0 = time.perf_counter()
    # fp8_recipe auto: the job at each stack's default recipe, the others searched as a stack option (space.stack_variants)
    recipes, job = recipe_auto(job), without_auto_recipe(job)
    s = _search_setup(job, catalog, profile, recipes)
    tally = SearchTally.start(s.live)
    memo = SearchMemo()  # the layer model's rows, shared by every step_time and memory_per_gpu call of this search
    # each GPU key's last option (SearchMemo.gpu_key: the parts the memory model cannot tell apart): its memory
    # answers kept until then
    last = {memo.gpu_key(hw.gpu.name): k for k, hw in enumerate(s.opts)}
    for k, hw in enumerate(s.opts):
        _search_option(job, s, k, hw, tally, memo, progress, spot_model, overhead)
        if last[memo.gpu_key(hw.gpu.name)] == k:
            memo.forget(hw.gpu.name)
    if progress:  # the ranking is no option of the bar's but can take a while: 2.7M fitting plans of a 65K-token
        # hybrid MoE over every instance took ~37 s to filter, sort and mark (the bar sat at "done" meanwhile)
        progress(len(s.opts), len(s.opts), f"ranking {sum(n for n, _ in tally.frames):,} plans")
    r = _ranked_table(job, s, tally, overhead)
    return _assemble(job, s, tally, r, top, spot_model, overhead, t0)


def _base_math_held(job: JobSpec, opts: list) -> list:
    """The options whose GPU has a peak for the frozen base's math (``finetune.base_math_missing``: a LoRA at fp32
    over a bf16 base runs the base in bf16), the rest left out as a GPU without the training precision is
    (``options_for_search``; the ``left out`` line reads the base's math, ``_assumptions``); none left: the base's
    storage refused by name. Until fuzz49b a search over [V100, A100] for such a job ended in "training.precision:
    V100-SXM2-16GB has no bf16 peak", the A100 plans never ranked."""
    kept = [o for o in opts if not base_math_missing(o.gpu, job.training)]
    if opts and not kept:
        raise base_math_error(sorted({o.gpu.name for o in opts})[:6], job.training)
    return kept


def _search_setup(job: JobSpec, catalog, profile, recipes: bool = False) -> SearchSetup:
    """The hardware options (hardware.options.options_for_search) and the stacks searched: the job's own, or with
    training.framework auto each one that runs the job (space.stack_groups); each group's variants are the open
    stack options' combinations (space.stack_variants), with ``recipes`` (fp8_recipe auto) its fp8 recipes too."""
    cat = catalog or load_catalog()
    con = job.constraints
    opts = _base_math_held(job, options_for_search(job.cluster, con, job.training.precision, cat, profile))
    _check_fixed_spot_price(job, opts)
    steps, tokens = total_steps(job), total_tokens(job)
    # the stacks searched: the job's own, or with training.framework auto each one that runs the job
    # (space.stack_groups); each group's variants are the open stack options' combinations (space.stack_variants)
    groups = stack_groups(job, [o.gpu for o in opts], recipes)
    # an open training.framework over accelerators of several platforms (GPUs and TPUs): one group per platform's
    # stack (space.stack_groups), each row says which
    auto = is_auto(job) or len(groups) > 1
    live = [(g, grp) for g, grp in enumerate(groups) if not grp.refused]
    lists = {g: module_lists_note(list(grp.variants)) for g, grp in live}  # recompute_modules lists searched
    any_lists = any(lists.values())
    for _, grp in live:  # a partial full recompute the job sets: only on the stacks that run it
        recompute_split(job.training, grp.variants[0].stack, job.model)
    partial_cols = bool(job.training.recompute_num_layers) or any(
        picks_block_recompute(job, grp.variants[0].stack) or picks_uniform_recompute(job, grp.variants[0].stack)
        for _, grp in live)
    recipes = any("fp8_recipe" in grp.variants[0].values for _, grp in live)
    later = tuple(o for o in LATER_OPTIONS if any(o in grp.variants[0].values for _, grp in live))
    opened = tuple(o for o in SEARCHED_ONLY_COLUMNS if any(o in grp.variants[0].values for _, grp in live))
    twins = {g: t for g, grp in live if (t := _dispatcher_twins(grp))} if later else {}
    return SearchSetup(cat, con, opts, steps, tokens, groups, auto, live, lists, any_lists, partial_cols, recipes,
                       later, twins, job.training.padding_share(job.model.is_transformer) or 0.0, opened)


def _check_fixed_spot_price(job: JobSpec, opts) -> None:
    """``constraints.spot`` on a fixed ``cluster.instance`` the catalog gives an on-demand rate and no spot rate is
    refused, as the same instance named in ``constraints.instances`` is (hardware.options ``_instance_unmatched``).
    Until QA 38 the plan was ranked by time with "no price known for any option" and no cost, the instance's
    on-demand rate unused and the spot request unmet without a word of why."""
    hw = opts[0]
    if (job.constraints.spot and job.cluster.instance and job.cluster.price_usd_hr is None and hw.price_spot is None
            and hw.price_ondemand is not None):  # (with the job's own price: ranking_caveats says it is on-demand)
        raise InputError("constraints.spot", f"{hw.name} has no spot price in the catalog (on-demand "
                                             f"{hw.price_ondemand:g} $/node-h): leave constraints.spot out, or give its "
                                             "spot rate in a --catalog override (`planner catalog instances --csv` "
                                             "writes one to edit)")


def _off_platform(job: JobSpec, live, hw, tally: SearchTally, groups=()) -> bool:
    """Whether no searched stack's code runs on ``hw``'s accelerator (tallied with why: ``off_platform``; where a
    refused group's code runs there, its refusal: a fork lacking an option the job sets, space.stack_groups)."""
    if any(stack_runs_on(grp.name, hw.gpu) for _, grp in live):
        return False
    here = next((grp for grp in groups if grp.refused and stack_runs_on(grp.name, hw.gpu)), None)
    refused = here.refused if here is not None else None
    if refused and not is_auto(job):  # (auto's refused stacks are the comparison's own rows)
        tally.off_platform[hw.gpu.name] = refused.split(": ", 1)[-1]
        tally.too_big.append(InputError(*refused.split(": ", 1)))
        return True
    if refused:  # auto: the accelerator is left out because the one stack auto searches there refused the job (QA 54:
        # "TPU-v6e: auto does not run on Google TPUs (XLA)" for a job setting cross_entropy_fusion, which maxtext lacks)
        from planner.hardware.platform import PLATFORMS

        plat = platform_of(hw.gpu)
        names = [grp.name for grp in groups if grp.refused and stack_runs_on(grp.name, hw.gpu)]
        tally.off_platform[hw.gpu.name] = (
            f"auto's stack on {hw.gpu.name} ({PLATFORMS.get(plat, plat)}), {here.name}, refuses the job: {refused}"
            if len(names) == 1 else f"auto's stacks on {hw.gpu.name} ({PLATFORMS.get(plat, plat)}), "
                                    f"{', '.join(names)}, refuse the job ({here.name}: {refused})")
        tally.too_big.append(InputError(*refused.split(": ", 1)))
        return True
    try:
        why = open_stack_refusal(job, hw.gpu)  # its platform's stack cannot run the model (a hybrid on MaxText)
        if why:
            raise InputError("training.framework", why)
        check_platform(live[0][1].name, hw.gpu)
    except InputError as e:
        tally.off_platform[hw.gpu.name] = e.message
        tally.too_big.append(e)
    return True


def _groups_here(job: JobSpec, live, hw) -> tuple[list, tuple | None]:
    """The searched stack groups that run on ``hw``'s accelerator, and (error, what the GPU lacks) for the last one
    left out for a reason the GPU cannot help: the job's transformers ``attn_implementation`` whose kernel package has
    no kernels for it (stack_kernels.attn_implementation_refusal: flash_attention_3 off compute capability 8.x / 9.0), the
    MoE dispatcher it names whose library does not run there (planner.model.moe ``DISPATCHER_NEEDS``), or the
    recipe's low-precision peak it lacks (physics.datasheet_peak) -- so that a search over several GPU types skips
    those rather than failing."""
    runs_here, no_peak = [], None
    for g, grp in live:
        if not stack_runs_on(grp.name, hw.gpu):  # each stack only on the accelerators its code runs on
            continue
        stack = grp.variants[0].stack
        attn = getattr(stack, "attn_implementation", None)
        why = attn_implementation_refusal(attn, hw.gpu)
        if why:
            no_peak = (InputError("training.framework.attn_implementation", why),
                       ATTN_IMPLEMENTATION_KERNELS[attn].need(attn))
            continue
        why = dispatcher_gpu_refusal(stack.moe_dispatcher, hw.gpu) if job.model.moe is not None else None
        if why:  # the MoE dispatcher the job names, where its library does not run (estimate refuses it there)
            no_peak = (InputError("training.framework.moe_dispatcher", why),
                       DISPATCHER_NEEDS[stack.moe_dispatcher].need(stack.moe_dispatcher))
            continue
        try:
            if job.training.precision == "fp8":  # NVFP4 on a part without FP4 tensor cores is refused here
                physics.datasheet_peak(hw.gpu, stack.recipe.peak)
            runs_here.append((g, grp))
        except NoPeakError as e:
            no_peak = (e, physics.peak_need(stack.recipe.peak))
    return runs_here, no_peak


def _grid_job(job: JobSpec, live, hw) -> JobSpec:
    """The job whose stack the layout grid of hardware option ``hw`` reads (``space_chunks``): for a
    ``training.framework`` section without a name, the one stack group that runs there (space.stack_groups: the
    platform's stack on a TPU / Trainium, space.open_stack), whose options the section's are -- the job's own name
    (the GPU default) would refuse an option only the platform's stack has (``num_vocab_tiling`` on MaxText: fwname59b).
    The job itself otherwise (no section: the grid's stack questions read the default, as before)."""
    if job.training.framework is None or stack_named(job.training):
        return job
    here = [grp.job for _, grp in live if stack_runs_on(grp.name, hw.gpu)]
    return here[0] if len(here) == 1 else job


def _search_option(job: JobSpec, s: SearchSetup, k: int, hw, tally: SearchTally, memo, progress, spot_model,
                   overhead) -> None:
    """One hardware option: left out where no searched stack's code runs on it, where its single node exceeds the
    GPU limits, or where the recipe's peak is missing (tallied); else each chunk of its space under each stack that
    runs there (``_search_chunk``)."""
    live = s.live
    if _off_platform(job, live, hw, tally, s.groups):
        return
    if progress:
        progress(k, len(s.opts), hw.name)
    hkey = hardware_key(hw)
    if hkey in tally.done:  # the same hardware was searched already: its plans at this option's price
        return _reuse(job, s, k, hw, tally.done[hkey], tally, spot_model, overhead)
    grid = _grid_job(job, live, hw)
    try:
        chunks = memo.chunks(grid, hw) if isinstance(memo, SearchMemo) else list(enumerate(space_chunks(grid, hw)))
    except InputError as e:
        if e.field not in ("constraints.max_gpus", "constraints.min_gpus", "cluster.nodes"):
            raise
        tally.too_big.append(e)  # e.g. a 5120-chip TPU pod under max_gpus=512: skip, not fail
        tally.capped.setdefault(hw.gpu.name, e)
        return
    runs_here, no_peak = _groups_here(job, live, hw)
    if not runs_here:
        tally.too_big.append(no_peak[0])
        tally.left_out[hw.gpu.name] = no_peak[1]
        return
    price = hw.price(s.con.spot)
    limit, head = memory_limit(job, hw)
    before, tally.pending = tally.counts(), []  # what this search adds, kept for the options on its hardware
    # recipes the GPU lacks (fp8_recipe auto), dispatchers it or its fabric cannot run (moe_dispatcher searched)
    skip = {g: _variants_off(grp, hw, tally) for g, grp in runs_here}
    first_frame = len(tally.frames)
    for j, chunk in chunks:
        for g, grp in runs_here:
            c, (off, rules) = (memo.group_chunk(chunk, grp, lambda: _group_chunk(job, s, chunk, grp))
                               if isinstance(memo, SearchMemo) else _group_chunk(job, s, chunk, grp))
            if off:
                tally.sp_off[g][0] += off
                tally.sp_off[g][1] = tuple(dict.fromkeys(tally.sp_off[g][1] + rules))
            _search_chunk(job, s, k, hw, j, c, g, grp, price, (limit, head), tally, memo, spot_model, overhead,
                          skip[g])
    for g, grp in runs_here:  # the other dispatchers, on this option's best layouts
        _try_dispatchers(job, s, k, hw, (g, grp), skip[g], first_frame, price, (limit, head), tally, memo, spot_model,
                         overhead)
    tally.done[hkey], tally.pending = (tally.pending, _count_moves(before, tally.counts())), None


def _variants_off(grp, hw, tally: SearchTally) -> "VariantsOff":
    """The variants of ``grp`` not searched on hardware option ``hw`` (``VariantsOff``): those whose fp8 recipe needs a
    GEMM peak the part lacks (physics ``LOW_PRECISION_PEAKS``: MXFP8 below Blackwell, blockwise off Hopper /
    Blackwell; an ``fp8_recipe: auto`` search, ``space.recipe_choices``), each recipe tallied with the GPU
    (``tally.recipes_off``), and those whose MoE dispatcher the GPU cannot run (``_dispatchers_off``). The base variant
    is the stack's default recipe and dispatcher, which ``_groups_here`` already held to the part. A searched NVMe
    offload (``space._with_nvme_twins``) is off where the instance has no local NVMe (no catalog row, or
    ``local_nvme_tb`` 0: offload.node_nvme); no variant is its parent. A recipe's (a
    dispatcher's) variants differ from each other's only in it, so a variant left out leaves out no parent of one
    kept (``StackVariant.parents``)."""
    gone, local = _dispatchers_off(grp, hw, tally)
    gone = gone | _nvme_off(grp, hw)
    base = _later_values(grp.variants[0].stack)
    later = frozenset(v for v, var in enumerate(grp.variants) if _later_values(var.stack) != base) - gone
    return VariantsOff(_recipes_off(grp, hw.gpu, tally) | gone, local, later)


def _nvme_off(grp, hw) -> frozenset:
    """The searched NVMe twins of ``grp`` (space._with_nvme_twins) not tried on ``hw``: all of them where the instance
    has no local NVMe (no catalog row, or ``local_nvme_tb`` 0: offload.node_nvme)."""
    if offload.node_nvme(hw).capacity_bytes:
        return frozenset()
    return frozenset(v for v, var in enumerate(grp.variants) if var.values.get("offload_device") == "nvme")


def _searched_on(grp, hw) -> tuple[str, ...]:
    """The stack options ``grp``'s plans on ``hw`` searched (space.searched_options): ``offload_device`` only where an
    NVMe twin was tried there (``_nvme_off``; QA 94: it was named on a bare GPU, where no NVMe plan could run)."""
    off = _nvme_off(grp, hw)
    return searched_options([var for v, var in enumerate(grp.variants) if v not in off])


#: the searched stack options whose table column (``_frame``) the search has only where some stack group tried them:
#: the loop's sync each micro-batch fallback (rec56, the HF Trainer's ``sync_each_batch``; rec57 NeMo AutoModel's) and
#: AutoModel's loss class (rec57), DeepSpeed's checkpointing, MaxText's loss tiles and the offloaded layer count
#: (rec58): on every search's CSV each would add a column of one value
SEARCHED_ONLY_COLUMNS = ("defer_fsdp_grad_sync", "loss_fn", "partition_activations", "cpu_checkpointing",
                         "num_vocab_tiling", "activation_offload_layers")


#: the stack options a search tries only on each hardware option's best layouts under the stack's own values
#: (``_try_dispatchers``): the MoE token dispatcher (moedisp47) and the combined-1F1B all-to-all overlap (moedisp47b)
LATER_OPTIONS = ("moe_dispatcher", "moe_a2a_overlap")


def _later_values(stack) -> tuple:
    """``stack``'s values of ``LATER_OPTIONS``."""
    return tuple(getattr(stack, o) for o in LATER_OPTIONS)


@dataclass(frozen=True)
class VariantsOff:
    """The variants of a stack group not searched on one hardware option (``off``) and those searched only on the
    layouts whose MoE dispatcher group stays inside one node (``local``: a flex dispatcher on a fabric its library
    does not cross, planner.model.moe ``dispatcher_local_only``)."""
    off: frozenset = frozenset()
    local: frozenset = frozenset()
    #: the variants of another MoE dispatcher or all-to-all overlap than the stack's (``LATER_OPTIONS``), left out of
    #: the chunks' pass and tried afterwards on the option's best layouts only (``_try_dispatchers``)
    later: frozenset = frozenset()

    def __contains__(self, v) -> bool:
        return v in self.off or v in self.later

    def rows(self, v: int, c) -> np.ndarray | None:
        """The rows of ``c`` variant ``v`` may take here: its dispatcher group (the experts' TP x EP ranks, consecutive:
        Megatron-Core's expert grid) inside one node where it is ``local``; None: every row."""
        return ~dispatcher_spans_nodes(c.etp, c.ep, c.gpus_per_node) if v in self.local else None


#: the layouts per (nodes, EP) of one hardware option and stack group that ``_try_dispatchers`` tries the other MoE
#: dispatchers on: the fastest under the stack's own dispatcher
DISPATCHER_TRIES = 2


def _try_dispatchers(job: JobSpec, s: SearchSetup, k: int, hw, group, off: VariantsOff, first: int, price, limits,
                     tally: SearchTally, memo, spot_model, overhead) -> None:
    """The stack's other MoE dispatchers (``off.later``, ``space.dispatcher_choices``) on the best layouts option
    ``k`` found under its own: per node count and EP degree the ``DISPATCHER_TRIES`` fastest fitting rows of group
    ``g`` (frames from index ``first`` on), each under the same stack options with another dispatcher (its twin
    variant) where the hardware runs it (``off``: the GPU, a fabric that keeps the group in a node) and the stack's
    rules allow it (``StackVariant.rows``), its memory and fit again (the flex buffers), appended as frames. Tried on
    every layout, the dispatchers tripled the variants (DeepSeek-V3's example search: 12.7 -> 50.7 s); a dispatcher
    changes the EP exchange, not which layouts are worth it, so the fastest per (nodes, EP) carry the choice. The
    twins of one variant are evaluated together (``_search_twins``: one memory and one step-time call per training,
    whatever their dispatchers and all-to-all overlap)."""
    g, grp = group
    twins = s.twins.get(g)
    if not twins:  # no variant of another dispatcher or overlap: nothing to try
        return
    picked = {}  # (chunk, variant) -> row indices of its batch
    for j, v, idx in _fastest_rows([f for _, f in tally.frames[first:] if f["group"] == g]):
        picked.setdefault((j, v), []).extend(idx)
    for (j, v), idx in picked.items():
        cv = tally.batches[(k, j, g, v)].take(np.array(sorted(set(idx))))
        tries = []  # (twin, its rows)
        for w in twins.get(v, ()):
            if w in off.off:
                continue
            ok = grp.variants[w].rows(cv)
            if (here := off.rows(w, cv)) is not None:
                ok &= here
            if ok.any():
                tries.append((w, cv.take(np.flatnonzero(ok))))
                tally.evaluated += len(tries[-1][1])
        _search_twins(job, s, (k, j, g), hw, tries, grp, price, limits, tally, memo, spot_model, overhead)


def _dispatcher_twins(grp) -> dict[int, tuple[int, ...]]:
    """Variant of the stack's own MoE dispatcher and overlap (``LATER_OPTIONS``) -> the variants with the same other
    options under the other values. One pass over the variants (a dispatcher x overlap search of DeepSeek-V3 has
    hundreds: the pairwise scan was a third of Mixtral's search)."""
    base = _later_values(grp.variants[0].stack)
    own, twins = {}, {}
    for v, var in enumerate(grp.variants):
        key = (tuple((n, x) for n, x in var.values.items() if n not in LATER_OPTIONS), var.modules)
        if _later_values(var.stack) == base:
            own.setdefault(key, v)
        else:
            twins.setdefault(key, []).append(v)
    return {own[k]: tuple(w) for k, w in twins.items()}


def _fastest_rows(frames: list[dict]):
    """(chunk, variant, row indices) of the ``DISPATCHER_TRIES`` fastest rows per (nodes, EP) over ``frames``."""
    if not frames:
        return []
    cols = {c: np.concatenate([np.broadcast_to(f[c], (len(f["idx"]),)) for f in frames])
            for c in ("chunk", "variant", "idx", "nodes", "ep", "step_time_s")}
    order = np.lexsort((cols["step_time_s"], cols["ep"], cols["nodes"]))
    nodes, ep = cols["nodes"][order], cols["ep"][order]
    start = np.r_[True, (nodes[1:] != nodes[:-1]) | (ep[1:] != ep[:-1])]
    rank = np.arange(len(order)) - np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
    keep = order[rank < DISPATCHER_TRIES]
    return [(int(cols["chunk"][i]), int(cols["variant"][i]), [int(cols["idx"][i])]) for i in keep]


def _dispatchers_off(grp, hw, tally: SearchTally) -> tuple[frozenset, frozenset]:
    """(variants off, variants local-only) of ``grp`` on ``hw`` for their MoE dispatcher (``moe_dispatcher``
    searched, ``space.dispatcher_choices``): off where the GPU cannot run its library at all, local where the fabric
    cannot carry it between nodes (planner.model.moe ``DISPATCHER_NEEDS``), each tallied with the hardware
    (``tally.dispatchers_off``). A dispatcher the job names is held to the same: its GPU by ``_groups_here``, its
    fabric here (the base variant's rows past a node: until moedisp47b DeepEP's EP 16 ran across two p5.48xlarge
    nodes over EFA), a bare cluster's fabric said where it was assumed (``moe.fabric_words``)."""
    if grp.job.model.moe is None:
        return frozenset(), frozenset()
    gone, local = set(), set()
    for d in dict.fromkeys(v.stack.moe_dispatcher for v in grp.variants):
        why = dispatcher_gpu_refusal(d, hw.gpu)
        span = None if why else dispatcher_local_only(d, hw.network_fabric)
        span = span and "; ".join(filter(None, (span, fabric_words(hw))))
        if not (why or span):
            continue
        where = hw.gpu.name if why else hw.name  # a GPU refuses on every option of it, a fabric on its own
        row = tally.dispatchers_off.setdefault((bool(why), why or span), ({}, {}))
        row[0][d], row[1][where] = None, None  # (ordered sets: the dispatchers, the hardware)
        (gone if why else local).update(v for v, var in enumerate(grp.variants) if var.stack.moe_dispatcher == d)
    return frozenset(gone), frozenset(local)


def _recipes_off(grp, gpu, tally: SearchTally) -> frozenset:
    """The variants of ``grp`` whose fp8 recipe needs a GEMM peak ``gpu`` lacks (``_variants_off``)."""
    if "fp8_recipe" not in grp.variants[0].values:
        return frozenset()
    lacks = {}
    for r in dict.fromkeys(v.stack.fp8_recipe for v in grp.variants):
        peak = RECIPES[r].peak
        try:
            physics.datasheet_peak(gpu, peak)
        except NoPeakError:
            lacks[r] = physics.peak_need(peak)
            gpus, _ = tally.recipes_off.setdefault(r, ([], lacks[r]))
            if gpu.name not in gpus:
                gpus.append(gpu.name)
    return frozenset(v for v, var in enumerate(grp.variants) if var.stack.fp8_recipe in lacks)


def _group_chunk(job: JobSpec, s: SearchSetup, chunk, grp) -> tuple:
    """(rows, (sequence-parallel rows turned off, the rules that did it)): ``chunk`` as group ``grp``'s stack runs
    it. Reads the job, the stack and the chunk, no hardware (``SearchMemo.group_chunk`` keeps it per chunk)."""
    c, off, rules = chunk, 0, ()
    # an open schedule is the group's stack's own (schedule_codes); space._layouts resolved it already for
    # a search of the job's one stack, so only a search over several stacks re-resolves it per group
    if s.auto and "schedule" not in job.parallel.model_fields_set:
        c = replace(c, schedule=stack_rules.schedule_codes(grp.variants[0].stack, job.parallel, c.pp, c.vpp))
    if job.parallel.sequence_parallel is None:  # open: off where the stack refuses it on (open_sp)
        osp = stack_rules.open_sp(grp.variants[0].stack, job.model, grp.job.training, chunk)
        if osp.off.any():
            c = replace(c, sp=osp.sp)  # (c: keeps the group's schedule above)
            off, rules = int(osp.off.sum()), osp.rules
    return c, (off, rules)


def _count_moves(before: tuple, after: tuple) -> tuple:
    """``SearchTally.counts`` after one option's search less before it: what that search added."""
    def diff(a, b):
        if isinstance(a, dict):
            return {key: diff(a.get(key, 0) if not isinstance(v, dict) else a.get(key, {}), v) for key, v in b.items()}
        return b - a
    return tuple(diff(a, b) for a, b in zip(before, after))


def _reuse(job: JobSpec, s: SearchSetup, k: int, hw, done: tuple, tally: SearchTally, spot_model, overhead) -> None:
    """Option ``k`` on hardware an earlier option was searched on (``hardware_key``): that search's fitting rows,
    memory and step times, priced at this option's price (``_priced``: the spot model and checkpoint overhead are
    evaluated again, per option) and named after it, and its counts added again -- the table, the counts and
    every plan as if this option had been searched itself (its search reads nothing that differs). The nearest
    misfit is not replaced: the same ratio is never below the earlier option's (``_search_variant``: strictly
    nearer). Until 2026-12-05 each of a private catalog's 200 H100 rows was searched in full (QA 46: 59 s)."""
    pending, moves = done
    price = hw.price(s.con.spot)
    for (_, j, g, v), cf, grp, var, st, mem, fits, limit, first in pending:
        key = (k, j, g, v)
        hours, cost, extra = _priced(job, st, cf, hw, price, s.steps, var.stack, spot_model, overhead)
        frame = _frame(s, key, hw, cf, grp, var, st, mem, fits, limit, hours, cost, extra)
        tally.frames.append((len(cf), _share(frame, first)))
        tally.batches[key] = cf
    refused, refused_rows, regroup, first_refused, first_regroup, evaluated, sp_off = moves
    for g, d in refused.items():
        for name, n in d.items():
            tally.refused[g][name] = tally.refused[g].get(name, 0) + n
    for g, d in first_refused.items():
        for name, n in d.items():
            tally.first_refused[g][name] = tally.first_refused[g].get(name, 0) + n
    for g, n in refused_rows.items():
        tally.refused_rows[g] += n
    for g, n in regroup.items():
        tally.regroup[g] += n
    for g, n in first_regroup.items():
        tally.first_regroup[g] += n
    for g, n in sp_off.items():
        tally.sp_off[g][0] += n
    tally.evaluated += evaluated


def _share(frame: dict, first: dict) -> dict:
    """``frame`` (an option's batch on hardware searched before, ``_reuse``) with each array whose bytes equal the
    first option's batch's replaced by that one: what does not depend on the price (the layout's row numbers, memory,
    recompute columns, and the hours where no spot model re-prices them) is held once for every instance of that
    hardware, not once per instance (1,000 instance rows: 2.59 -> 1.77 GB peak; README "Limits and bad input")."""
    out = dict(frame)
    for k, v in frame.items():
        w = first.get(k)
        if (isinstance(v, np.ndarray) and isinstance(w, np.ndarray) and v is not w and v.dtype == w.dtype
                and v.dtype.kind != "O" and v.shape == w.shape and v.flags.c_contiguous and w.flags.c_contiguous
                and np.array_equal(v.reshape(-1).view(np.uint8), w.reshape(-1).view(np.uint8))):
            out[k] = w
    return out


def _tally_refusals(job: JobSpec, c, g: int, variants, tally: SearchTally, memo=None, off=None) -> dict:
    """Each variant's rows of chunk ``c`` once (the stack rules are the costly part), ``{variant: rows}`` for the
    base and the variants without parents; the base's refusals tallied by rule (``tally.refused``), each layout also
    under the first rule it breaks, except where another searched option value runs it (not one of ``off``, the
    variants not searched on this GPU, and a local-only dispatcher's rows past a node: ``_variants_off``)."""
    off = off if off is not None else VariantsOff()
    any_refused = np.zeros(len(c), dtype=bool)
    # a layout the job's stack refuses but another searched option value runs (Megatron-FSDP's
    # ZeRO-3 with PP, ...) is not left out
    runs = np.zeros(len(c), dtype=bool)
    # each variant's rows of this chunk once (the stack rules are the costly part): the base's refusals
    # serve its rows too
    base_refused = variants[0].refusals(c)
    vrows = {0: _variant_rows(memo, variants[0], c, refused=base_refused)}
    if (here := off.rows(0, c)) is not None:  # the dispatcher the job names, on a fabric it crosses no node of
        tally.dispatcher_cut += int((vrows[0] & ~here).sum())
        vrows[0] = vrows[0] & here
    for v, var in enumerate(variants[1:], 1):
        if not var.parents and v not in off:
            vrows[v] = _variant_rows(memo, var, c)
            if (here := off.rows(v, c)) is not None:  # a dispatcher this fabric carries inside a node only
                vrows[v] = vrows[v] & here
            runs |= vrows[v]
    refused, first_refused = tally.refused, tally.first_refused
    for name, mask in base_refused.items():
        mask = mask & ~runs
        refused[g][name] = refused[g].get(name, 0) + int(mask.sum())
        # the note counts a layout once, under the first rule it breaks: counted under each, an interleaved
        # rule that every refused layout broke read as large as the total (QA 36b)
        first = mask & ~any_refused
        first_refused[g][name] = first_refused[g].get(name, 0) + int(first.sum())
        if name == "interleaved-m":  # Megatron runs them at another micro-batch group size
            runs_regrouped = stack_rules.regroup_runs(c, job.training)
            tally.regroup[g] += int((mask & runs_regrouped).sum())
            tally.first_regroup[g] += int((first & runs_regrouped).sum())
        any_refused |= mask
    tally.refused_rows[g] += int(any_refused.sum())
    return vrows


def _search_chunk(job: JobSpec, s: SearchSetup, k: int, hw, j: int, c, g: int, grp, price, limits,
                  tally: SearchTally, memo, spot_model, overhead, off=None) -> None:
    """One chunk of an option's space under one stack group: each variant on the rows it stands for -- an offload
    or a longer recompute list only where its parents do not fit, and only where it can free enough
    (``could_fit``) -- evaluated by ``_search_variant``; none of ``off`` (recipes the GPU lacks: ``_variants_off``)."""
    variants = grp.variants
    misfit = {}  # variant -> rows of this chunk it was tried on and did not fit
    roots = {}  # variant -> (rows it was tried on, their memory)
    places = {}  # variant -> each chunk row's place among its roots entry's rows (-1: none), made where screened on
    off = off if off is not None else VariantsOff()
    vrows = _tally_refusals(job, c, g, variants, tally, memo, off)
    twins = {}  # (stage from, stage to) -> one_replica_twins over this chunk: the same for every variant that asks
    for v, var in enumerate(variants):
        if v in off:  # its recipe's GEMM peak is not on this GPU (its children share the recipe: skipped too)
            continue
        rows = vrows[v].copy() if v in vrows else np.ones(len(c), dtype=bool)
        if v not in vrows and (here := off.rows(v, c)) is not None:  # (a child: its own dispatcher's rows only)
            rows &= here
        for q in var.parents:  # an offload or a longer recompute list: only where its parents do not fit
            pm = misfit.get(q)
            if pm is None:  # a parent not tried on this chunk: no misfit of it, no row left (without a zeros array)
                rows[:] = False
                break
            pz, vz = variants[q].one_replica_zero, var.one_replica_zero
            if pz is not None and vz is not None and pz != vz:  # its one-replica rows are the parent's at another
                tw = twins.get((pz, vz))                         # stage (Megatron's offload at ZeRO-1): their twins'
                if tw is None:
                    tw = twins[(pz, vz)] = one_replica_twins(c, pz, vz)
                pm = pm.copy()
                pm[tw >= 0] = pm[tw[tw >= 0]]
            rows &= pm
        if var.parents and not rows.any():  # no row left by its parents: a misfit nowhere, nothing asked of its rules
            misfit[v] = rows  # (what the steps below give: the rules' rows are within these, a relay's too)
            continue
        left = rows
        if v not in vrows:  # its own rules only on the rows its parents left (StackVariant.rows)
            rows = _variant_rows(memo, var, c, within=rows)
        tried = rows.copy()  # rows this variant stands for (misfits unless they fit below)
        if var.relay:  # a chain's link: the rows it does not run on go on to the next (StackVariant.relay)
            tried |= left & ~rows
        rows &= _chance(variants, var, roots, rows, limits[0], places)
        idx = np.flatnonzero(rows)
        if not len(idx):
            misfit[v] = tried
            continue
        cv = c if len(idx) == len(c) else _batch(memo, c, rows, picks_block_recompute(job, var.stack))
        tally.evaluated += len(cv)
        fits, mem = _search_variant(job, s, (k, j, g, v), hw, cv, grp, var, price, limits, tally, memo, spot_model,
                                    overhead)
        tried[idx[fits]] = False
        misfit[v] = tried
        roots[v] = (idx, mem)  # what the variants screened against it start from (could_fit)


def _chance(variants, var, roots: dict, rows: np.ndarray, limit: float, places: dict) -> np.ndarray:
    """The rows of a chunk where ``var`` can fit (a necessary condition, so the memory model runs only there): where
    it can free enough off its root's memory (``StackVariant.could_fit``). Rows its root did not evaluate (screened
    out there itself) are screened against the nearest ancestor root that did, with what both can free (rec59; until
    then unscreened: an offload under a longer Megatron-Core recompute list was priced on every selective row its
    list's root had been screened out of); rows no ancestor evaluated, not at all. Each screen reads the rows of
    ``rows`` only (``places``: the chunk's cache of where they sit in an ancestor's batch). DeepSeek-V3's example
    search 9,390,950 -> 7,209,484 rows evaluated for the same table (tests/test_rec59.py holds a search's table with
    it to the one without any screen and to the root-only one). A screen against each parent by the one option they
    differ in was tried and dropped: it is not a necessary condition on the HF Trainer's walked memory (its held
    gradients sit in the activations term), and lost a fitting row of llama3-8b-auto's search."""
    chance = np.ones(len(rows), dtype=bool)
    want = np.flatnonzero(rows) if var.root is not None else ()
    if not len(want):
        return chance
    ok, left = np.ones(len(want), dtype=bool), np.ones(len(want), dtype=bool)
    at, frees = var.root, var.screen_frees()
    while left.any():
        if at in roots:
            pos = _places(places, roots, at, len(rows))[want]
            hit = left & (pos >= 0)
            ok[hit] = could_free(roots[at][1], frees, limit, pos[hit])
            left &= ~hit
        up = variants[at].root
        if up is None or up == at:
            break
        at, frees = up, tuple(dict.fromkeys(frees + variants[at].screen_frees()))
    chance[want] = ok
    return chance


def _places(places: dict, roots: dict, v: int, n: int) -> np.ndarray:
    """Each of a chunk's ``n`` rows' place among the rows variant ``v`` was evaluated on (``roots``), -1 where it was
    not; made once per chunk and variant (``places``)."""
    got = places.get(v)
    if got is None:
        idx = roots[v][0]
        got = places[v] = np.full(n, -1, dtype=np.int64)
        got[idx] = np.arange(len(idx))
    return got


def _search_variant(job: JobSpec, s: SearchSetup, key, hw, cv, grp, var, price, limits, tally: SearchTally, memo,
                    spot_model, overhead):
    """One stack variant on rows ``cv``: memory and the fit (``_fitting``), then the step time and price of the rows
    that fit, appended as a frame (``_record``). Returns ``(fits, mem)`` over ``cv``'s rows as evaluated."""
    cv, fits, mem = _fitting(job, hw, cv, var, limits, tally, memo, key[2])
    if fits.any():
        cf = _take(memo, cv, fits)
        st = step_time(job.model, var.training, cf, hw, framework=var.stack, memo=memo)
        _record(job, s, key, hw, cf, grp, var, st, mem, fits, price, limits[0], tally, spot_model, overhead)
    return fits, mem


def _fitting(job: JobSpec, hw, cv, var, limits, tally: SearchTally, memo, g: int, twins=None):
    """Memory of one stack variant on rows ``cv`` (full-recompute rows at the fewest layers memory needs, block or
    uniform) and the fit; the nearest misfit tallied where nothing fits. Returns ``(rows, fits, mem)``, the rows as
    evaluated (a recompute pick may have set their N). ``twins``: ``cv`` holds the rows of several dispatcher twins
    of ``var`` (``_search_twins``), as (variant, slice of its rows) pairs: each one's misfit tallied as its own call
    would."""
    limit, head = limits
    picks = picks_block_recompute(job, var.stack)  # full-recompute rows: only the layers memory needs
    # training: its recompute list; with picks, the full rows again at N = 1 in the same pass
    mem = (_memory_of(job.model, var.training, cv, ("block one",), lambda: with_block_one(cv), var.stack, hw.gpu.name,
                      memo) if picks else _memory(job.model, var.training, cv, var.stack, hw.gpu.name, memo))
    if picks:
        mem, mem1 = split_rows(mem, len(cv))
    fits = fits_memory(job, hw, mem, limit)
    if picks:
        cv, mem = smallest_block_recompute(job, var.training, cv, fits, mem, mem1, var.stack, hw, limit,
                                           memo)
    if picks_uniform_recompute(job, var.stack):  # full rows that do not fit: uniform groups
        cv, mem, fits = smallest_uniform_group(job, var.training, cv, fits, mem, var.stack, hw, limit,
                                               memo)
    for v, rows in twins or ((var, slice(None)),):
        if not fits[rows].any():
            at = np.arange(len(cv))[rows]
            _tally_nearest(tally, hw, cv.take(at), rows_of(mem, at, len(cv)), v, g, limit, head)
    return cv, fits, mem


def _record(job: JobSpec, s: SearchSetup, key, hw, cf, grp, var, st: dict, mem, fits, price, limit: float,
            tally: SearchTally, spot_model, overhead) -> None:
    """The fitting rows ``cf`` of one variant with their step times ``st``: priced, appended as a frame (and kept
    for the options on the same hardware, ``tally.pending``)."""
    k, j, g, v = key
    hours, cost, extra = _priced(job, st, cf, hw, price, s.steps, var.stack, spot_model, overhead)
    frame = _frame(s, key, hw, cf, grp, var, st, mem, fits, limit, hours, cost, extra)
    tally.frames.append((len(cf), frame))
    tally.batches[(k, j, g, v)] = cf
    if tally.pending is not None:
        tally.pending.append((key, cf, grp, var, st, mem, fits, limit, frame))


def _search_twins(job: JobSpec, s: SearchSetup, kjg: tuple, hw, tries: list, grp, price, limits, tally: SearchTally,
                  memo, spot_model, overhead) -> None:
    """The dispatcher and overlap twins ``tries`` ((variant, rows) pairs, ``_try_dispatchers``) of one variant: one
    memory and fit (``_fitting``) and one step-time call per set of twins that differ only in the MoE dispatcher and
    / or the all-to-all overlap (the same training), each row carrying its own (layout.Candidates ``dispatcher`` and
    ``a2a_overlap``; memory prices the dispatcher's buffers and saves per row and each row's micro-batches in flight,
    memory_activations ``overlap_call``; the layer model both per layer key, moe.per_dispatcher and layer_ops
    ``moe_block``; the step each row's paired share, step_time ``a2a_hidden_share``): the same numbers, row for row,
    as calls per twin (tests/test_moebatch51.py, tests/test_moebatch51b.py, tests/test_moeov52.py), each twin's rows
    then recorded as its own (``_record``). Until moebatch51 a memory and a step-time call each: Mixtral's example
    search made 127 of each in its tries, DeepSeek-V3's 176; until moebatch51b a memory call each; until moeov52
    one of each per overlap value (DeepSeek-V3: 99 memory and 86 step-time calls)."""
    batches = {}  # training -> [(variant, its rows with their dispatcher and overlap)]
    for w, cw in tries:
        var = grp.variants[w]
        one = replace(cw, dispatcher=np.full(len(cw), MOE_DISPATCHER.code[var.stack.moe_dispatcher], dtype=np.int64),
                      a2a_overlap=np.full(len(cw), int(var.stack.moe_a2a_overlap), dtype=np.int64))
        batches.setdefault(id(var.training), []).append((w, one))
    for parts in batches.values():
        var = grp.variants[parts[0][0]]
        ends = np.cumsum([len(p) for _, p in parts])
        spans = [(w, slice(e - len(p), e)) for (w, p), e in zip(parts, ends)]
        cv, fits, mem = _fitting(job, hw, Candidates.concat([p for _, p in parts]), var, limits, tally, memo, kjg[2],
                                 [(grp.variants[w], rows) for w, rows in spans])
        if not fits.any():
            continue
        at = np.flatnonzero(fits)
        st = step_time(job.model, var.training, cv.take(at), hw, framework=var.stack, memo=memo)
        for w, rows in spans:
            if not fits[rows].any():
                continue
            span = np.arange(len(cv))[rows]
            mine = np.flatnonzero(fits[rows])  # its fitting rows, and where they sit among the batch's
            _record(job, s, (*kjg, w), hw, cv.take(span[mine]), grp, grp.variants[w],
                    rows_of(st, np.searchsorted(at, span[mine]), len(at)), rows_of(mem, span, len(cv)), fits[rows],
                    price, limits[0], tally, spot_model, overhead)


def _tally_nearest(tally: SearchTally, hw, cv, mem: dict, var, g, limit: float, head: float) -> None:
    """Where none of a variant's rows ``cv`` fits: its nearest misfit, kept in ``tally`` per group ``g``, overall
    and per GPU when nearer than the one kept (the refusal's "nearest: ..." clause)."""
    # nearest by the larger of the two overflows, GPU memory and the node's host RAM an offload fills: the
    # smallest GPU total alone picked an offloaded layout that fits the GPU and not the host (QA 52: Llama-3-70B
    # on one 8 x Gaudi2 node read "nearest: ... off:optimizer+activation needs 51.9 GiB; 91.2 GiB allowed",
    # a layout that fits, the 152.1 GiB per GPU its offload puts in 94.0 GiB of host RAM unsaid)
    host_cap = max(offload.host_limit(hw), 1.0)
    over = np.maximum(mem["total"] / max(limit, 1.0), np.asarray(mem["host"], dtype=np.float64) / host_cap)
    # and the node's local NVMe that DeepSpeed ZeRO-Infinity's swap fills (offload.nvme_fits; nvme49)
    nvme_node = np.broadcast_to(np.asarray(mem.get("nvme", 0.0), dtype=np.float64), over.shape) * hw.gpus_per_node
    nvme_cap = offload.node_nvme(hw).capacity_bytes
    if nvme_cap is not None:
        over = np.maximum(over, np.where(nvme_node > 0, nvme_node / max(nvme_cap, 1.0), 0.0))
    i = int(np.argmin(over))
    ratio = float(over[i])
    host_i = float(np.broadcast_to(mem["host"], over.shape)[i])
    # a bare-GPU cluster's nodes as units.hardware_str spells them (as rank._plan_hw does): "4 x H100-SXM-80GB"
    # read as four GPUs where it meant four 8-GPU nodes (QA 49); an instance keeps "4 x aws:p5.48xlarge"
    where = (hardware_str(dict(name=hw.name, gpu=hw.gpu.name, nodes=int(cv.nodes[i]), gpus=int(cv.gpus[i]),
                               gpus_per_node=hw.gpus_per_node, gpus_per_host=hw.gpus_per_host,
                               reference_system=hw.reference.key if hw.reference else None,
                               device=device_noun(hw.gpu)))
             if hw.name == hw.gpu.name else f"{cv.nodes[i]} x {hw.name}")
    noun = device_noun(hw.gpu)
    cfg = config_str({**cv.row(i), 'micro_batch': int(cv.mb[i]), 'offload': offload_label(var.stack),
                      'recompute_modules': var.modules, 'megatron_fsdp': var.stack.megatron_fsdp})
    # a row over on the host side names the host figures, the GPU's in short (an error carries 300 characters)
    nvme_over = nvme_cap is not None and float(nvme_node[i]) > nvme_cap
    need = (f"needs {nvme_node[i] / 1e12:.2f} TB of local NVMe a node ({nvme_cap / 1e12:g} TB)" if nvme_over else
            f"needs {mem['total'][i] / GiB:.1f} GiB ({limit / GiB:.1f} allowed), {host_i / GiB:.1f} GiB of host "
            f"RAM ({host_cap / GiB:.1f} allowed) per {noun}"
            if host_i > host_cap else
            f"needs {mem['total'][i] / GiB:.1f} GiB; {limit / GiB:.1f} GiB allowed per {noun} "
            f"({hw.gpu.memory_bytes / GiB:.0f} GiB {noun} memory, {head:.0%} headroom)")
    # what overflows beside the GPU ("" where the GPU alone does): the refusal's "fits in GPU and <it>"
    near = (ratio, f"{where} with {cfg} {need}",
            "local NVMe" if nvme_over else "host memory" if host_i > host_cap else "")
    closest = tally.closest
    if g not in closest or ratio < closest[g][0]:
        closest[g] = near
        if tally.closest_mem is None or ratio < tally.closest_mem[0]:
            tally.closest_mem = closest[g]
    if tally.closest_gpu is None:
        tally.closest_gpu = {}
    if hw.gpu.name not in tally.closest_gpu or ratio < tally.closest_gpu[hw.gpu.name][0]:
        tally.closest_gpu[hw.gpu.name] = near


def _option_cell(stack, option: str, zero: np.ndarray):
    """Stack option ``option`` of a batch's rows at ZeRO stages ``zero``: one value for the whole batch, None (an
    empty cell) where the stack has no such option or the rows do not use it (``stacks.layout_uses``: until qa65
    every stack's rows read ``reshard_after_forward=True``, ``optimizer_offload=False`` on Megatron-LM, and a
    Megatron-FSDP ZeRO-2 plan ``reshard_after_forward=True``), or per row (an object column) where some rows use it
    and some do not. A per-layer ``cp_comm_type`` (a tuple, one type a layer) as the words Megatron's
    ``--cp-comm-type`` takes. As a tuple it read as a column of its own, one type a row: the rows took its first
    types, and a batch of more rows than layers failed the search (QA 53: an IndexError, "index 97 is out of
    bounds for axis 0 with size 32", for any recommend of such a job)."""
    value = option_at(stack, option, None)
    value = " ".join(value) if isinstance(value, tuple) else value
    used = layout_uses(stack, option, zero)
    if used.all():
        return value
    if not used.any():
        return None
    return np.where(used, np.array([value], dtype=object), None)


def _frame(s: SearchSetup, key, hw, cf, grp, var, st: dict, mem: dict, fits, limit: float, hours, cost,
           extra: dict) -> dict:
    """The table columns of the fitting rows ``cf`` of one variant (``key``: option, chunk, group, variant)."""
    k, j, g, v = key
    return dict(
        opt=k, chunk=j, group=g, variant=v, idx=np.arange(len(cf)),
        **({"framework": grp.name} if s.auto else {}),  # the stack, when the search chose it
        hardware=hw.name, cloud=hw.cloud, gpu=hw.gpu.name,
        nodes=cf.nodes, gpus=cf.gpus, tp=cf.tp, pp=cf.pp, dp=cf.dp, cp=cf.cp, ep=cf.ep, etp=cf.etp, vpp=cf.vpp,
        schedule=Labels(cf.schedule, SCHEDULE.names),  # (--by / --scaling tables: "DualPipeV" in the layout)
        zero=cf.zero, dp_shard=cf.dp_shard, micro_batch=cf.mb, recompute=Labels(cf.rc, RECOMPUTE.names),
        # the plan's stack options (the MoE dispatcher where a group searched it: the column says which rows ran which)
        **{o: _option_cell(var.stack, o, cf.zero) for o in SEARCHED
           if (o not in LATER_OPTIONS or o in s.later) and (o not in SEARCHED_ONLY_COLUMNS or o in s.opened)},
        **({"fp8_recipe": var.stack.fp8_recipe} if s.recipes else {}),  # fp8_recipe auto: the row's recipe
        **({"recompute_modules": Labels(cf.rc == SELECTIVE, ("", "+".join(var.modules or DEFAULT_RECOMPUTE_MODULES)))
                                 if s.lists[g] else ""} if s.any_lists else {}),  # the searched recompute list of the selective rows
        # Megatron's --recompute-method and --recompute-num-layers of the full rows (block N or
        # uniform groups of N; "" and 0: every layer on its own), where they can be set
        **({"recompute_method": np.where(cf.rn > 0, "block", np.where(cf.rg > 0, "uniform", "")),
            "recompute_num_layers": cf.rn + cf.rg} if s.partial_cols else {}),
        step_time_s=st["step_time_s"], mfu=st["mfu"],
        hfu=st["hfu"],  # step_time's, as estimate's "MFU / HFU": the app's tables show both
        tokens_per_s=st["tokens_per_s"],
        # a padded job's tokens_per_s counts the rows' positions, padding included (the hardware's rate, as the plan's
        # own tokens_per_s): --csv and the JSON's pareto rows gave it unsaid (QA 101); the real rate beside it, as
        # results.Plan.real_tokens_per_s gives the ranked plans'
        **({"real_tokens_per_s": st["tokens_per_s"] * (1.0 - s.padding)} if s.padding else {}),
        mem_gib=mem["total"][fits] / GiB, mem_capacity_gib=hw.gpu.memory_bytes / GiB, mem_limit_gib=limit / GiB,
        train_hours=hours, cost=cost, usd_per_token=cost / s.tokens,
        # spot: the uninterrupted hours and the cost range, after the columns every job has (they came
        # first, shifting every column of a spot job's --csv; and first only when the first hardware
        # option had a spot price)
        **extra,
    )


def _ranked_table(job: JobSpec, s: SearchSetup, tally: SearchTally, overhead) -> RankedTable:
    """Every fitting plan in one table (refused with the reasons where there is none), filtered by the constraints,
    ranked on the objective (rank.rank_key, its cost buckets), the Pareto front marked."""
    cat, opts, con = s.cat, s.opts, s.con
    off_platform, left_out = tally.off_platform, tally.left_out
    listed_out = _listed_left_out(cat, job, opts, off_platform, left_out)
    listed = constrained_names(cat, job.constraints, "gpus")
    searched = {o.gpu.name for o in opts} - set(off_platform) - set(left_out)
    frames = tally.frames
    if not frames:
        _refuse_empty_search(job, opts, s.live, [line for _, line in listed_out], listed & searched, tally.too_big, tally.refused,
                             tally.refused_rows, tally.regroup, tally.evaluated, tally.closest_mem, _dispatcher_cut_error(tally))
    # the table in one order whatever the chunk size: by option, stack, variant, then chunk (the loops above go chunk
    # by chunk, so an option over more than one chunk listed chunk 0's variants before chunk 1's, and equally ranked
    # rows -- the stable sort below keeps them in this order -- came out in an order set by where the chunks fell)
    frames.sort(key=lambda f: (f[1]["opt"], f[1]["group"], f[1]["variant"], f[1]["chunk"]))
    # no HSDP row: the table (and --csv) as without the option
    drop = ("dp_shard",) if all(np.array_equal(f["dp_shard"], f["dp"]) for _, f in frames) else ()
    n_fit, objective = sum(n for n, _ in frames), con.objective
    assumptions = _search_assumptions(job, cat, opts, s.live, searched, off_platform, left_out, s.lists,
                                      tally.first_refused, tally.refused_rows, tally.first_regroup, tally.sp_off,
                                      tally.recipes_off) + _dispatcher_notes(s.live, tally.dispatchers_off)
    hcol, ccol, ucol = ranked_columns(None)  # with the checkpoint pauses and node failures where the job sets them
    # the ranking reads these columns of every row, nothing else: the table's other ~40 columns are built only for
    # the rows kept (``RankedRows``), ~40 B a plan instead of ~0.55 KB (README "Limits and bad input")
    cols = _columns(frames, only=(hcol, ccol, "opt", "group", "nodes")
                    + ((ucol,) if objective == "tokens_per_dollar" else ()))
    if np.isnan(cols["cost"]).all() and objective != "time":
        objective = "time"
        assumptions.append("no price known for any option: ranked by time")
    # (no plan meets the constraints: the error reads the whole table, built then)
    keep = _within_constraints(job, cols, hcol, ccol, overhead, assumptions,
                               lambda: _table_of(_columns(frames), consume=True))
    binding = _binding_constraint(con, objective, cols, hcol, ccol, keep,
                                  lambda i: f"{int(cols['nodes'][i])} x {opts[int(cols['opt'][i])].name}")
    nodes_cut = _nodes_cut(con, cols, hcol, ccol, keep, lambda o: opts[o].name)
    # why a stack with plans that fit has none within the constraints (the stack table's "outside the constraints")
    stacks_cut = _cut_reasons(con, np.asarray(cols["group"], dtype=np.int64), cols[hcol], cols[ccol], keep) \
        if is_auto(job) else {}
    fitting = set(np.unique(cols["group"]).tolist())  # stack groups with a plan that fits, before the constraints
    fitted = set(np.unique(cols["opt"]).tolist())  # options with a plan that fits, before the constraints
    kept = np.flatnonzero(keep)
    del keep
    # the tie groups of the objective's own measure only (cost_bucket sorts: ~0.5 s a call on 2M rows)
    keys = dict(usd_per_token_bucket=cost_bucket(cols[ucol][kept] * 1e12) if objective == "tokens_per_dollar" else None,
                cost_bucket=cost_bucket(cols[ccol][kept]) if objective not in ("time", "tokens_per_dollar") else None)
    order = rank_order([keys[k] if keys.get(k) is not None else cols[k][kept] for k in rank_key(cols, objective)])
    del keys
    ranked = kept[order]  # the row (in frame order) at each rank
    del kept, order
    pareto = pareto_mask(cols[hcol][ranked], np.nan_to_num(cols[ccol][ranked], nan=np.inf))
    rows = RankedRows(frames, ranked, np.flatnonzero(pareto), drop)
    df = rows.take(rows.kept_positions(cols["opt"], cols["group"], cols["nodes"]), hidden=True)
    # the options with a ranked plan (every one has a kept row: the first of its hardware, node count and stack)
    no_plan = _no_plan_gpus(job, cat, opts, listed & searched, fitted, set(np.unique(cols["opt"][ranked]).tolist()),
                            tally.closest_gpu or {}, tally.capped,
                            lambda names: _constraint_miss(job, cols, hcol, ccol, [k for k, o in enumerate(opts)
                                                                                   if o.gpu.name in names]))
    return RankedTable(df, rows, n_fit, objective, assumptions, fitting, hcol, ccol, listed_out, searched, no_plan,
                       binding, nodes_cut, stacks_cut)


def deadline_words(hours: float) -> str:
    """A deadline in the hours the job gives, every digit grouped ("2,160 h"; ``:g`` wrote 1,234,567 h "1.23457e+06"),
    a long one also in the days or years the plans' times are printed in ("2,160 h (90.0 d)"). The binding line
    said so and the scaling view's left-out counts read "over the 2160 h deadline" beside "309.4 d" (QA 82)."""
    words = f"{hours:,.10g} h"
    return words + f" ({fmt_time(hours * 3600)})" if hours >= 48 else words


def _nodes_cut(con, cols: dict, hcol: str, ccol: str, keep: np.ndarray, name_of) -> tuple[dict, ...]:
    """Each (hardware, node count) with plans that fit in memory but none the constraints keep, and why:
    ``{"hardware", "nodes", "reason"}``, by hardware then nodes (``_cut_reasons``). ``--scaling`` prints the
    winner's (QA 58: a 20 h deadline left 1 x tpu-v6e-256 at 30 h out of the scaling table unsaid, so the table read
    as if the search had not tried that count). ``name_of(option index)``: the hardware's name."""
    key = np.asarray(cols["opt"], dtype=np.int64) * (1 << 24) + np.asarray(cols["nodes"], dtype=np.int64)
    return tuple({"hardware": name_of(int(k) >> 24), "nodes": int(k) & ((1 << 24) - 1), "reason": reason}
                 for k, reason in _cut_reasons(con, key, cols[hcol], cols[ccol], keep).items())


def _cut_reasons(con, key: np.ndarray, hours, cost, keep: np.ndarray) -> dict:
    """For each value of ``key`` (a row's group: a hardware and node count, a stack) whose rows fit in memory but
    none the constraints keep, why, in key order: the first of never finishes (spot / failures), its fastest plan
    over the deadline (or, without one, over defaults.HORIZON_HOURS), its cheapest over the budget, else every plan
    within the deadline over the budget, with the figure that misses."""
    import pandas as pd

    out = ~keep & ~np.isin(key, np.unique(key[keep]))
    if not out.any():
        return {}
    hours, cost = np.asarray(hours, dtype=np.float64)[out], np.asarray(cost, dtype=np.float64)[out]
    deadline = con.deadline_hours if con.deadline_hours is not None else D.HORIZON_HOURS
    within = np.where(hours <= deadline, cost, np.nan)  # the cost of the plans the deadline (horizon) keeps
    g = pd.DataFrame({"k": key[out], "h": np.where(np.isfinite(hours), hours, np.inf), "c": cost,
                      "w": within}).groupby("k", sort=True).min()
    limit = f"{deadline_words(con.deadline_hours)} deadline" if con.deadline_hours is not None else \
        f"{D.HORIZON_HOURS / 24:.0f}-day horizon (no constraints.deadline_hours: defaults.HORIZON_HOURS)"
    reasons = {}
    for k, h, c, w in zip(g.index.to_numpy(), g["h"].to_numpy(), g["c"].to_numpy(), g["w"].to_numpy()):
        if not np.isfinite(h):
            reason = "every plan never finishes (interrupted before a checkpoint interval completes)"
        elif h > deadline:
            reason = f"its fastest plan takes {fmt_time(h * 3600)}, over the {limit}"
        elif con.budget_usd is not None and c > con.budget_usd:
            reason = f"its cheapest plan costs {fmt_usd(c)}, over the {fmt_usd(con.budget_usd)} budget"
        else:
            reason = (f"its plans within the {limit} cost {fmt_usd(w)} or more, over the "
                      f"{fmt_usd(con.budget_usd)} budget" if con.budget_usd is not None and np.isfinite(w)
                      else "no plan meets the constraints")
        reasons[int(k)] = reason
    return reasons


def left_out_lines(cat, job: JobSpec) -> tuple[str, ...]:
    """The lines naming the catalog instances the job's constraints dropped before the search, said where the ranking
    is: those a spot job drops for having no spot rate (``spot_left_out``), and those over the job's
    ``constraints.max_price_per_gpu_hour`` (``price_cap_left_out``, cost42). ``serve`` prints the same lines among
    its caveats (launch42: it applied both filters without a word)."""
    cl, con = job.cluster, job.constraints
    spot = spot_left_out(cat, con) if not (cl.instance or cl.gpu) else None
    dear = price_cap_left_out(cat, con, [cl.gpu] if cl.gpu else None) if searches_catalog(cl, con) else None
    return tuple(x for x in (spot, dear) if x)


def _binding_constraint(con, objective: str, cols: dict, hcol: str, ccol: str, keep: np.ndarray, name_of) -> tuple:
    """The line that says the budget or deadline moved the ranking, or (): under objective cost (tokens_per_dollar:
    the same order for a fixed token count) a deadline binds when the cheapest plan it and the budget did not
    exclude runs past it; under objective time a budget binds when the fastest costs more. A 20 h deadline that
    dropped a $20.7k, 30 h plan for a $21.0k, 15 h one was not said anywhere (QA 58; serve prints its limits as
    "held to" lines). ``keep``: the rows every constraint keeps; ``name_of(i)``: row i's nodes and hardware."""
    hours, cost = np.asarray(cols[hcol], dtype=np.float64), np.asarray(cols[ccol], dtype=np.float64)
    free = keep.copy()  # the rows kept but for the constraint asked about
    if objective == "time" and con.budget_usd is not None:
        field, limit, over = "constraints.budget_usd", fmt_usd(con.budget_usd), cost > con.budget_usd
        free |= (hours <= (con.deadline_hours if con.deadline_hours is not None else D.HORIZON_HOURS)) & np.isfinite(hours)
        measure, what = hours, "fastest"
    elif objective != "time" and con.deadline_hours is not None:
        field, limit, over = "constraints.deadline_hours", deadline_words(con.deadline_hours), hours > con.deadline_hours
        free |= ~(cost > (con.budget_usd if con.budget_usd is not None else np.inf)) & (hours <= D.HORIZON_HOURS)
        measure, what = cost, "cheapest"
    else:
        return ()
    m = np.where(free & ~np.isnan(measure), measure, np.inf)
    i = int(np.argmin(m))
    if not np.isfinite(m[i]) or not over[i]:
        return ()
    n = int((free & over).sum())
    return (f"{field} binds: the {what} plan without it, {name_of(i)} ({fmt_time(hours[i] * 3600)}, "
            f"{fmt_usd(cost[i])}), is over {limit}; {count_of(n, 'configuration')} excluded by it",)


def _no_plan_gpus(job: JobSpec, cat, opts, listed: set, fitted: set, kept: set, closest: dict, capped: dict,
                  missed) -> list[tuple[tuple[str, ...], str]]:
    """Why each GPU ``constraints.gpus`` names that was searched has no plan in the ranking, one (names, line) pair each
    (the names for ``Recommendation.no_plan``): no layout
    fits its memory (with the nearest), its options are all outside the job's GPU limits (``capped``), or none that
    fits meets the constraints, the one it misses said (``missed(gpu names)``: ``_constraint_miss``). QA 48:
    Qwen2.5-7B QLoRA at 8,192 tokens over A10G, L4 and L40S under max_gpus 1 ranked, and ``compare`` showed, the L40S
    alone, with no word of the other two (the nearest, 34.1 GiB, is over their 21.2 GiB allowed). QA 52: TPU v5p,
    whose one catalog slice (512 chips) is past max_gpus 64, read "no layout fits in its memory"; MI300X, whose one
    node runs Llama-3-70B for 6 years, read "miss the constraints (budget, deadline or GPU count)" for a job that set
    none of them (the no-deadline horizon, defaults.HORIZON_HOURS, dropped it)."""
    if not listed or job.cluster.gpu or job.cluster.instance:
        return []
    have_fit = {opts[i].gpu.name for i in fitted}
    have_kept = {opts[i].gpu.name for i in kept}
    out = []
    for g in sorted(listed - have_kept):
        if g not in have_fit:
            near = closest.get(g)
            if near is None and g in capped:  # never searched: its one node is past the GPU limits
                e = capped[g]
                out.append(((g,), f"{g}: not searched: {e.field}: {e.message}"))
                continue
            out.append(((g,), f"{g}: no layout fits in its memory" + (f" and its {near[2]}" if near and near[2] else "")
                        + (f" (nearest: {near[1]})" if near else "")))
        else:
            out.append(((g,), f"{g}: its plans that fit miss the constraints: {missed({g})}"))
    return out


def _constraint_miss(job: JobSpec, cols: dict, hcol: str, ccol: str, opt_ids: list) -> str:
    """Which constraint the fitting plans on options ``opt_ids`` (rows of the search table ``cols``) all miss, as
    ``_within_constraints`` applies them: the no-deadline horizon, constraints.deadline_hours, budget_usd, or both
    together; a plan that never finishes (spot interruptions, checkpoint pauses) is none of them."""
    con = job.constraints
    rows = np.isin(cols["opt"], opt_ids)
    hours = np.asarray(cols[hcol], dtype=np.float64)[rows]
    cost = np.asarray(cols[ccol], dtype=np.float64)[rows]
    done = np.isfinite(hours)
    if not done.any():
        return "none finishes (spot interruptions or checkpoint pauses outpace it)"
    fastest = fmt_time(float(hours[done].min()) * 3600)
    if con.deadline_hours is None and not (hours[done] <= D.HORIZON_HOURS).any():
        return (f"every one runs longer than {D.HORIZON_HOURS / 24:.0f} days (fastest {fastest}), the cap when no "
                "deadline is given (defaults.HORIZON_HOURS; set constraints.deadline_hours)")
    timely = done & (hours <= (con.deadline_hours if con.deadline_hours is not None else D.HORIZON_HOURS))
    if con.deadline_hours is not None and not timely.any():
        return f"none finishes within constraints.deadline_hours {con.deadline_hours:,g} (fastest {fastest})"
    if con.budget_usd is not None and not (cost[done] <= con.budget_usd).any():
        return (f"none is within constraints.budget_usd {fmt_usd(con.budget_usd)} "
                f"(cheapest {fmt_usd(float(np.nanmin(cost[done])))})")
    cap = (f"constraints.deadline_hours {con.deadline_hours:,g}" if con.deadline_hours is not None else
           f"{D.HORIZON_HOURS / 24:.0f} days (the cap when no deadline is given; set constraints.deadline_hours)")
    return f"none within constraints.budget_usd {fmt_usd(con.budget_usd)} finishes within {cap}"


def _shown_notes(opts, shown_hw: set, con) -> tuple[str, ...]:
    """The notes of the shown plans' hardware, a shared note once; the single-node notes in one line
    (``options.single_node_note``), and none for an instance one node of which holds the job's ``max_gpus`` anyway
    (QA 88: a QLoRA under max_gpus 1 printed "single node only" for each of 8 instances)."""
    alone = [o for o in opts if o.name in shown_hw and o.instance is not None and not o.multi_node]
    single = {single_node_note([o.instance]) for o in alone}
    notes = tuple(dict.fromkeys(n for o in opts if o.name in shown_hw for n in (*o.notes, o.fabric_note)
                                if n and n not in single))
    wide = [o.instance for o in alone if not (con.max_gpus and con.max_gpus <= o.gpus_per_node)]
    return notes + ((single_node_note(wide),) if wide else ())


#: the columns of a ranked row that say where it came from (``_assemble``'s ``plan_of`` reads them), not in the table
HIDDEN = ("opt", "chunk", "group", "variant", "idx")

#: ranked rows per block of ``RankedRows.blocks`` (``recommend --csv``): what one block's columns hold at once,
#: ~0.55 KB a row
BLOCK_ROWS = 1 << 19


class RankedRows:
    """Every plan a search ranked, in rank order, without the table of them: the search's per-batch columns
    (``frames``, ``_frame``: a batch of an instance searched on hardware already searched shares the earlier batch's
    layout and step-time arrays, ``_reuse``) and, per rank, the row's place in them. Any rows of the ranked table
    are built from these on demand -- the ones the outputs read (``kept_positions``), a block at a time
    (``blocks``: ``recommend --csv``), or all of them (``frame``: ``Recommendation.table``) -- the same values,
    dtypes, columns and order as the whole table built at once (``tests/test_stream36.py``).

    Until stream36 the search built that whole table, ~0.55 KB a feasible plan: a private catalog of 1,000
    instance rows, 12.2M plans, peaked at 6.7 GB (README "Limits and bad input")."""

    def __init__(self, frames: list, ranked: np.ndarray, pareto: np.ndarray, drop: tuple = ()):
        self._frames = frames
        self._ranked = ranked  # rank -> row in frame order
        self._pareto = pareto  # the ranks of the Pareto-optimal rows (rank.pareto_mask), ascending
        self._drop = drop  # columns the table leaves out (dp_shard without an HSDP row)
        self._starts = np.cumsum([0] + [n for n, _ in frames])
        # the first batch of each kind (its columns and each one's type): with the batches that have rows, all a
        # join needs for the whole table's columns, their order and dtypes (a batch of a kind seen before adds none)
        kinds = [tuple((k, _kind_of(v)) for k, v in cols.items()) for _, cols in frames]
        self._firsts = np.array(sorted({kd: f for f, kd in reversed(list(enumerate(kinds)))}.values()), dtype=np.intp)

    def __len__(self) -> int:
        return len(self._ranked)

    def kept_positions(self, opt, group, nodes) -> np.ndarray:
        """The ranks (ascending) of what any output reads of the table: the first plan of each (hardware option,
        node count, stack group) and every Pareto-optimal plan. ``opt``, ``group``, ``nodes``: those columns of
        every row, in frame order. The first row per hardware, GPU, cloud, stack (``rank.best_per``), per node
        count of a hardware (``rank.scaling_view``), per (hardware, nodes) (the ranked plans, the "why", the
        chart's points) is each the first of some (option, nodes, group), so the same row in this table as in the
        whole one; the Pareto rows are all here (the Pareto table, the chart's front)."""
        r = self._ranked
        o, g, n = (np.asarray(a, dtype=np.int64)[r] for a in (opt, group, nodes))
        key = (o * (int(g.max()) + 1) + g) * (int(n.max()) + 1) + n
        first = np.unique(key, return_index=True)[1]
        return np.union1d(first, self._pareto)

    def take(self, ranks: np.ndarray, hidden: bool = False) -> pd.DataFrame:
        """The table's rows at ``ranks`` (ascending), indexed by their rank; ``hidden``: with the ``HIDDEN``
        columns. Each batch is cut to its rows (none: an empty cut, so that every column's dtype, string codes and
        place are those of the whole table's) and joined by ``_columns``."""
        import pandas as pd

        ranks = np.asarray(ranks, dtype=np.intp)
        ids = self._ranked[ranks]
        srt = np.argsort(ids, kind="stable")
        sid = ids[srt]
        at = np.searchsorted(sid, self._starts)
        used = np.union1d(np.flatnonzero(np.diff(at)), self._firsts)  # the batches with rows, and one of each kind
        parts = [(int(at[f + 1] - at[f]), _cut(self._frames[f][1], sid[at[f]:at[f + 1]] - self._starts[f]))
                 for f in used.tolist()]
        cols = _columns(parts)
        for k in self._drop:
            del cols[k]
        back = np.empty_like(srt)
        back[srt] = np.arange(len(srt))  # the joined rows are in frame order; ``ranks``' order is theirs at ``back``
        df = _table_of(cols, back, consume=True)
        df["pareto"] = np.isin(ranks, self._pareto)
        df.index = pd.Index(ranks)
        return df if hidden else df.drop(columns=list(HIDDEN))

    def blocks(self, rows: int | None = None):
        """The table ``rows`` (``BLOCK_ROWS``) ranks at a time, best first (``take``)."""
        rows = rows or BLOCK_ROWS
        for start in range(0, len(self), rows):
            yield self.take(np.arange(start, min(start + rows, len(self))))

    def frame(self) -> pd.DataFrame:
        """The whole table, best first: every column joined once and taken in rank order (``_table_of``), as the
        search built it until stream36."""
        cols = _columns(self._frames)
        for k in self._drop:
            del cols[k]
        df = _table_of(cols, self._ranked, consume=True)
        pareto = np.zeros(len(df), dtype=bool)
        pareto[self._pareto] = True
        df["pareto"] = pareto
        return df.drop(columns=list(HIDDEN))


def _kind_of(v) -> tuple:
    """What a batch's column adds to the joined column's type (``_columns``): a string for the whole batch or
    ``Labels`` (a column of those in every batch is coded), else the numpy dtype of its values."""
    if isinstance(v, (str, Labels)):
        return ("s",)
    return ("a", np.asarray(v).dtype.str if v is not None else "O")


def _cut(cols: dict, local: np.ndarray) -> dict:
    """One batch's columns (``_frame``) at its rows ``local``: arrays and ``Labels`` cut, a whole-batch value kept."""
    return {k: (Labels(np.asarray(v.codes)[local], v.names) if isinstance(v, Labels)
                else np.asarray(v)[local] if np.ndim(v) else v) for k, v in cols.items()}


def _assemble(job: JobSpec, s: SearchSetup, tally: SearchTally, r: RankedTable, top: int, spot_model, overhead,
              t0: float) -> Recommendation:
    """The result: the top ``top`` plans (best layout per hardware and node count), the alternatives ``why`` weighs,
    the Pareto rows, notes and caveats, framework auto's stack comparison, the search's counts and speed."""
    groups, opts, con, df, objective = s.groups, s.opts, s.con, r.df, r.objective
    assumptions = r.assumptions
    plan_of = _row_plans(s, tally, spot_model, overhead)
    hidden = list(HIDDEN)  # the columns plan_of reads; the table's others stay
    # the displayed top N: best layout per (hardware, nodes), so rows are real alternatives
    best_per_hw = _first_per(df, ["hardware", "nodes"])
    shown = best_per_hw.head(top)
    ranked = tuple(plan_of(row) for row in shown[hidden].itertuples())
    # the "why" weighs the same alternatives whatever --top shows (D.WHY_ALTERNATIVES); it reads no advice
    weighed = ranked[:D.WHY_ALTERNATIVES] + tuple(
        plan_of(row, advise=False) for row in best_per_hw[hidden].iloc[len(ranked):D.WHY_ALTERNATIVES].itertuples())
    pareto_rows = _first_per(df[df["pareto"]], ["hardware", "nodes"]).head(25)
    hw_best = opts[int(shown.iloc[0]["opt"])]
    shown_hw = {p.hardware.name for p in ranked}
    notes = _shown_notes(opts, shown_hw, con)
    # a GPU the job lists by name and the search left out is said where the ranking is, not only in the assumptions
    lost = [("left out", names, x) for names, x in r.listed_out] + [("no plan", names, x) for names, x in r.no_plan]
    caveats = r.binding + ranking_caveats(job, ranked, {o.name: o for o in opts}) + tuple(
        f"constraints.gpus: {status} — {x}" for status, _, x in lost)
    # the same, one entry a GPU, for the outputs that list GPUs (compare --json's no-plan rows; QA 54)
    no_plan = tuple({"gpu": g, "status": status, "reason": x} for status, names, x in lost for g in names)
    caveats += left_out_lines(s.cat, job)
    best_group = groups[int(shown.iloc[0]["group"])]
    best_stack = best_group.variants[int(shown.iloc[0]["variant"])].stack
    best_searched = _searched_on(best_group, hw_best)
    stacks = ()
    if is_auto(job):  # each stack's best plan under the same objective and constraints, against the chosen one
        # stack_comparison reads no plan's advice: a stack's best row not shown skips its what-ifs (~70% of a plan)
        per = {int(row.group): plan_of(row, advise=False) for row in _first_per(df, ["group"])[hidden].itertuples()}
        per[int(shown.iloc[0]["group"])] = ranked[0]
        stacks = stack_comparison(groups, per, ranked[0], objective, con, r.fitting, tally.closest, tally.refused,
                                  tally.refused_rows, r.stacks_cut)
        assumptions.append(stack_choice_line(stacks, objective))
    assumptions += [w for w in [physics.power_limit_words(hw_best, best_group.job.training.precision),
                                offload.nvme_rate_words(best_stack, hw_best)] if w]  # the NVMe rate, as estimate's
    assumptions += _searched_value_notes(s, tally, shown.iloc[0], best_group)
    if job.parallel.sequence_parallel and ranked[0].config.tp == 1:  # the job's SP on, the plan has no TP to shard
        assumptions.append(SP_WITHOUT_TP)
    elapsed = time.perf_counter() - t0
    return Recommendation(
        objective=objective, spot=con.spot, evaluated=int(tally.evaluated), fits_memory=int(r.n_fit),
        feasible=len(r.rows), search_seconds=elapsed, configs_per_second=tally.evaluated / max(elapsed, 1e-9),
        best=ranked[0], why=why(ranked[0], list(weighed), df, objective, con.spot, feasible=len(r.rows)), ranked=ranked,
        pareto=tuple(pareto_rows.drop(columns=hidden).to_dict(orient="records")),
        notes=notes, assumptions=tuple(assumptions) + (stack_assumption(best_group.job, best_stack, best_searched,
                                                                         best_layout(ranked[0])),)
        + tuple(option_notes(best_group.job, best_stack, ranked[0].config, searched=True)),
        inputs=inputs_provenance(hw_best, best_group.job, best_stack, best_searched, best_layout(ranked[0])),
        kept=df.drop(columns=hidden), rows=r.rows, caveats=caveats, stacks=stacks, no_plan=no_plan, nodes_cut=r.nodes_cut,
        price_basis=ranked_basis(con.spot, job.cluster.price_usd_hr), figures_include=figures_include(ranked[0].cost, con.spot),
    )


#: the searched stack options (``space.stack_variants``, not a fallback: each value tried on every row it can run on)
#: whose chosen value, where it is not the stack's default, the plan explains against the default on the same layout
#: (``_searched_value_notes``): accelerate's FSDP version (rec54: QLoRA Llama-3.1-70B on 4 x A10G fits FSDP1 only),
#: and the fallbacks the stack line cannot explain alone: the sync each micro-batch (rec56), AutoModel's loss class (rec57),
#: DeepSpeed's checkpointing, MaxText's loss tiles (rec58)
EXPLAINED_OPTIONS = ("fsdp_version", "defer_fsdp_grad_sync", "loss_fn", "partition_activations", "cpu_checkpointing",
                     "num_vocab_tiling")


def _searched_value_notes(s: SearchSetup, tally: SearchTally, row, grp) -> list[str]:
    """For the best plan (its ranked-table ``row``, of stack group ``grp``): each ``EXPLAINED_OPTIONS`` option the
    search chose away from the stack's default, why -- its twin variant (the same values, the option at the base's)
    on the same layout refused by a stack rule, over the memory limit, or slower (priced by the same ``evaluate``)."""
    var = grp.variants[int(row["variant"])]
    base = grp.variants[0].values
    hw = s.opts[int(row["opt"])]
    one = tally.batches[(int(row["opt"]), int(row["chunk"]), int(row["group"]), int(row["variant"]))].take(
        np.array([int(row["idx"])]))
    out = []
    for k in EXPLAINED_OPTIONS:
        if k not in var.values or var.values[k] == base[k]:
            continue
        want = {**var.values, k: base[k]}
        twin = next((v for v in grp.variants if v.values == want and v.modules == var.modules), None)
        if twin is None:
            continue
        head = (f"training.framework.{k} {option_value(var.values[k])} (searched, left open: {k} "
                f"{option_value(base[k])}, the default, ")
        refused = [rule for rule, mask in twin.refusals(one).items() if np.asarray(mask).any()]
        if refused:
            out.append(head + f"is refused on this layout by rule {refused[0]})")
            continue
        ev = evaluate(variant_job(grp.job, twin), one, hw, stack=twin.stack)
        limit = memory_limit(grp.job, hw)[0]
        total, step = float(ev["mem"]["total"][0]), float(ev["time"]["step_time_s"][0])
        out.append(head + (f"does not fit: {total / GiB:.1f} GiB > {limit / GiB:.1f} GiB allowed a GPU)"
                           if not bool(ev["fits"][0])
                           else f"fits at {total / GiB:.1f} GiB but takes {step:.4g} s a step)"))
    return out


def _row_plans(s: SearchSetup, tally: SearchTally, spot_model, overhead):
    """``plan_of(row, advise=True)``: a ranked-table row (its ``HIDDEN`` columns) as a full Plan, under its stack
    group's job and variant, built once a row: the shown, weighed and per-stack rows overlap (framework auto's best is
    ``ranked[0]``, built twice until perf49). ``advise`` False: without the what-if advice (``row_result``), for the
    rows whose advice no output shows (the "why"'s beyond ``--top``, the stack comparison's)."""
    built: dict[tuple, tuple] = {}  # the row's HIDDEN columns -> (its Plan, whether it holds its advice)

    def plan_of(row, advise: bool = True):
        key = tuple(int(getattr(row, h)) for h in HIDDEN)
        if key not in built or (advise and not built[key][1]):
            grp = s.groups[int(row.group)]
            var = grp.variants[int(row.variant)]
            p = _plan(variant_job(grp.job, var), s.opts[int(row.opt)],
                      tally.batches[(int(row.opt), int(row.chunk), int(row.group), int(row.variant))],
                      int(row.idx), s.cat, s.con.spot, spot_model, var.stack, _searched_on(grp, s.opts[int(row.opt)]),
                      advise)
            built[key] = (overhead.plan(p) if overhead is not None else p, advise)
        return built[key][0]
    return plan_of


def _first_per(df: pd.DataFrame, cols: list) -> pd.DataFrame:
    """``df.drop_duplicates(cols)``: the first row of each distinct ``cols``, the same rows, index and columns. The
    duplicates are found on ``cols`` alone: ``drop_duplicates`` builds a Series of each of the table's ~40 columns
    to pick out ``cols``, and ``itertuples`` (below, on ``plan_of``'s five columns only) one per column too: 25 ms
    of a small search's result (cProfile, tests/test_fuzz_new_inputs.py)."""
    return df[~df[cols].duplicated().to_numpy()]


def _priced(job: JobSpec, st: dict, cf, hw, price, steps: float, stack, spot_model, overhead):
    """``(hours, cost, extra)`` of the fitting rows ``cf`` (step times ``st``) as the table ranks and filters them:
    the steps' time plus the job's evaluation passes (``candidates_eval``), rented at ``price``; on a spot price the
    spot model's expected hours and cost, else, with a checkpoint section, the expectation under its pauses and node
    failures (``overhead.table``). ``extra``: the columns that go with them (``eval_hours``, ``compute_hours``, the
    spot cost range and overhead, ``goodput``), in that order."""
    con = job.constraints
    hours = steps * st["step_time_s"] / 3600.0
    extra = {}
    evj = candidates_eval(job, st, cf, hw)
    if evj is not None:  # the job's evaluation passes: in the time to train, before spot and checkpoints
        hours = hours + evj["seconds"] / 3600.0
        extra = dict(eval_hours=np.broadcast_to(evj["seconds"] / 3600.0, hours.shape))
    cost = rent_cost(hours, cf.nodes, price)
    compute_hours = hours
    spot_priced = con.spot and spot_model is not None and price
    if spot_priced:
        e = _on_stack(spot_model, stack)(hw, hours, cf.nodes, st["step_time_s"], price,
                                         evj["seconds"] / 3600.0 if evj is not None else 0.0)
        extra = dict(extra, compute_hours=hours, cost_low=e["cost_low"], cost_high=e["cost_high"],
                     spot_overhead=e["overhead"])
        hours, cost = e["hours"], e["cost"]
    if overhead is not None:  # the job's checkpoint pauses and node failures, after the spot columns
        ot = overhead.table(cf.nodes, cf.gpus, st["step_time_s"], compute_hours, stack=stack,
                            eval_hours=evj["seconds"] / 3600.0 if evj is not None else 0.0)
        if not spot_priced:  # (the spot model's expectation already holds them)
            hours = ot["expected_hours"]
            cost = rent_cost(hours, cf.nodes, price)
            extra = dict(extra, compute_hours=compute_hours)
        # one goodput everywhere (this column, cost.checkpoint_failures.goodput, the terminal's
        # checkpoints line): the checkpoint pauses' and node failures' alone, spot interruptions
        # aside (spot_overhead holds those)
        extra.update(goodput=ot["goodput"])
    return hours, cost, extra


def _odd_node_hint(job: JobSpec, hw, field: str) -> str:
    """What to change when a node's GPU count has an odd factor the global batch lacks: every layout's
    tp x pp x cp x dp is a multiple of the node, so a power-of-two batch needs TP, PP or CP to take that factor,
    which a model's heads and layers rarely allow. A bare GB200 cluster's node is the 72-GPU NVL72 rack
    (README "Networks: who can form a cluster"): Llama-3.1-70B at a global batch of 1,024 was refused as
    "not a multiple of micro_batch*dp = 1*72" with nothing saying why 72 or what to set (QA 45). NVIDIA's
    GB200 runs use 64-GPU NVLink segments (the ``dgxc GB200`` validation rows: NeMo's 16-tray ``--segment``)."""
    g = int(hw.gpus_per_node)
    odd = g // (g & -g)  # the node's odd factor: 9 for 72
    if field != "training.global_batch" or odd == 1 or job.training.global_batch % odd == 0:
        return ""
    gb = job.training.global_batch
    near = odd * 2 ** max(0, round(math.log2(gb / odd)))  # keeps the rest of the batch a power of two: 9 x 128
    # the message carries 300 characters at most (hardware_catalog.errors.MESSAGE_CHARS): kept short
    pow2 = 1 << (g.bit_length() - 1)
    other = (f"cluster.segment (e.g. {pow2 // hw.gpus_per_host}: {pow2}-GPU Slurm segments)"
             if getattr(hw, "segment_trays", None) and hw.gpus_per_host and pow2 % hw.gpus_per_host == 0
             else f"cluster.gpus_per_node (e.g. {pow2})")  # an NVL72 rack's domain is its segment (segment40)
    return (f"; its {g}-GPU nodes put a factor {odd} in DP unless TP x PP x CP takes it: set a global_batch "
            f"divisible by {odd} (e.g. {near:,}) or {other}")


def _dispatcher_cut_error(tally: SearchTally) -> InputError | None:
    """Where the job's MoE dispatcher kept layouts inside a node (``SearchTally.dispatcher_cut``), the refusal that
    says so, as estimate's (planner.model.moe ``dispatcher_refusal``): the fabrics and the hardware; else None."""
    if not tally.dispatcher_cut:
        return None
    parts = [f"{', '.join(at)}: {why}" for (gone, why), (_, at) in tally.dispatchers_off.items() if not gone]
    return InputError("training.framework.moe_dispatcher", f"{tally.dispatcher_cut:,} layouts left need its group "
                      f"across nodes ({'; '.join(parts)}): keep expert TP x EP in a node or use alltoall")


def _refuse_empty_search(job: JobSpec, opts, live, listed_out, listed_searched, too_big, refused, refused_rows, regroup,
                         evaluated: int, closest_mem, cut: InputError | None = None) -> NoReturn:
    """Why the search ranked nothing, raised as the one error that says it, in this order: every GPU the job lists is
    left out (``listed_out``; ``listed_searched`` the listed ones searched); every option is outside the job's GPU
    limits (``too_big``); the job's MoE dispatcher kept every layout left inside a node that none had (``cut``:
    ``_dispatcher_cut_error``); each searched stack refuses every layout (``refused``, ``regroup``: recommend's counts); no
    layout was valid to evaluate (a rule none meets, else one option's reason); else nothing fits in memory, naming
    the nearest layout (``closest_mem``) and what would free memory."""
    if listed_out and not listed_searched:
        # every GPU the job names is left out (no stack runs on it, no low-precision peak): the list is the answer,
        # fitted by the one rule (fit_message): the stacks' aside gives way at a word's end; InputError's own middle
        # cut read "megatron-…ndry" in the what-if app's box for llama3-8b on maxtext (app57)
        raise InputError("constraints.gpus", fit_message("every GPU it lists is left out: " + "; ".join(listed_out)))
    if too_big and len(too_big) == len(opts):
        _raise_outside_limits(job, too_big)
        raise too_big[0]
    if not evaluated and cut is not None:
        raise cut
    all_refused = [refusal_error(grp.variants[0].stack, refused[g], refused_rows[g], regroup=regroup[g])
                   for g, grp in live]
    if not evaluated and all_refused and all(e is not None for e in all_refused):
        raise all_refused[0]
    if not evaluated:  # no layout to evaluate: a layout rule, not memory, is why
        # a layout rule some instance's layouts break comes first: that a one-node instance is below min_gpus is true
        # of every such instance and says nothing of the job (a 2-layer model with a global batch of 8 at min_gpus
        # 512 was blamed on "aws:g6.xlarge is single-node only", not on its batch)
        everywhere = rule_broken_everywhere(job, opts)
        if everywhere is not None:  # one rule that no layout on any option meets is the answer, not one witness
            raise InfeasibleError(everywhere.field, f"{everywhere.message} (every layout the job's fixed fields allow "
                                                    "breaks this, on every hardware option searched)")
        reasons = [(hw, r) for hw in opts for r in (empty_reason(job, hw),) if r is not None]
        sizes = ("constraints.min_gpus", "constraints.max_gpus")
        if len(reasons) == len(opts):
            _raise_outside_limits(job, [r for _, r in reasons])
        # a multi-node option's reason before a single-node one's: that a one-node instance cannot take the job's
        # cluster.nodes is true of every such instance (3 nodes of H100 on aws read "aws:p5.4xlarge cannot form a
        # multi-node training cluster", where p5.48xlarge can and the job's global batch of 512 over 24 GPUs was why; QA 58)
        for hw, reason in sorted(reasons, key=lambda hr: (hr[1].field in sizes, not hr[0].multi_node))[:1]:
            raise InfeasibleError(reason.field, f"{reason.message} (on {hw.name}, no layout the job's fixed fields "
                                                f"allow is valid{_odd_node_hint(job, hw, reason.field)})")
    hint = f"; nearest: {closest_mem[1]}" if closest_mem else ""
    base = live[0][1].variants[0].stack  # an offload the job switched off, or its stack lacks, is worth naming
    searched0 = searched_options(list(live[0][1].variants))
    # the stacks named are those whose code runs on the options' accelerators (stacks.RUNS_ON): a TPU search was
    # offered "a stack with optimizer offload (deepspeed, megatron-core, torchtitan)", none of which runs on a TPU
    platforms = {platform_of(o.gpu) for o in opts}
    offloaders = [n for n in OFFLOAD_STACKS if any(p is None or p in RUNS_ON.get(n, ()) for p in platforms)]
    off = "" if (base.optimizer_offload or "optimizer_offload" in searched0) else (
        ", optimizer offload (training.framework.optimizer_offload)" if "optimizer" in base.offloads
        else f", a stack with optimizer offload ({', '.join(offloaders)})" if offloaders else "")
    nouns = {device_noun(o.gpu) for o in opts}
    noun = nouns.pop() if len(nouns) == 1 else "GPU"  # "chips" on TPUs and Trainium, as the nearest plan says
    # recompute is worth naming only when the job fixes a lighter one: left open, full recompute was
    # searched (the nearest plan may already run it: "nearest: ... rc:full ... — recompute (training.recompute: full)")
    rc = ", recompute (training.recompute: full)" if job.training.recompute in ("none", "selective") else ""
    # more GPUs help only where a cluster can grow: every option single-node (no cluster fabric in the catalog, the
    # search tried one node) makes "allow more GPUs (constraints.max_gpus)" advice no limit can follow (QA 40:
    # Llama-3.1-70B on aws:g6.xlarge, one L4, was told so under max_gpus: 4)
    # an instance whose one node is past constraints.max_gpus was left out (too_big): raising the cap brings it in, which
    # the single-node advice never said (QA 43: Llama-3.1-8B full fine-tune under max_gpus 1 on L4s was told "a
    # multi-node instance, or a larger-memory GPU"; at max_gpus 8 it fits on one 8 x L4 node)
    capped = [e for e in too_big if getattr(e, "field", None) == "constraints.max_gpus"]
    pinned = _share_pinned(job)
    if pinned:
        # the model-state splits fixed and no ZeRO sharding: a GPU's weights, gradients and optimizer state are the same
        # at any GPU count, so more GPUs do not free them (QA 106: Llama-3-70B at TP1 PP1 ZeRO-0 was told "allow more
        # GPUs (constraints.max_gpus)" with 64 allowed and 1,194 GiB needed on each)
        more = f" — fixed {pinned} hold a {noun}'s model state at any count: leave one out"
    elif any(o.multi_node for o in opts):
        more = f" — allow more {noun}s (" + ("cluster.nodes" if job.cluster.nodes is not None else "constraints.max_gpus") + ")"
    elif capped:
        more = (f" — allow more {noun}s (constraints.max_gpus: {len(capped)} bigger instance"
                f"{'s' if len(capped) > 1 else ''} left out)")
    else:
        who = opts[0].name if len(opts) == 1 else f"all {len(opts)} options searched"
        # (one option the nearest names already is "it": a host-RAM nearest is long, and an error carries 300 characters)
        who = "it" if who == opts[0].name and closest_mem and closest_mem[2] and who in closest_mem[1] else who
        more = f" — {who} {'is' if len(opts) == 1 else 'are'} single-node only: a multi-node instance"
    where = f"{noun} and {closest_mem[2]}" if closest_mem and closest_mem[2] else f"{noun} memory"
    head = job.constraints.memory_headroom
    # a headroom above the default is a constraint the job chose: it may be what binds (QA 106: 0.99 left 0.8 GiB of an
    # H100 and the advice named only max_gpus, which the nearest plan already used in full)
    # (first: the message is cut in its middle past errors.MESSAGE_CHARS)
    room = (f" — less headroom (constraints.memory_headroom {head:g})"
            if head is not None and head > D.MEMORY_HEADROOM else "")
    if room:
        more = more.replace(" — ", ", ", 1)
    # fitted in two steps: the nearest plan's asides give way first, its own words never (``without_asides``), then
    # the remedies' asides, last first (``fit_message``); the cap cut the whole in its middle, a remedy or the nearest
    # plan's need with it ("aws:g5.xlarge is single-no…tance", "rc:…GiB; 133.9 GiB allowed", until qa58)
    head, tail = f"no configuration fits in {where}", room + more + rc + off + f", or a larger-memory {noun}"
    hint = fit_message(hint, max(MESSAGE_CHARS - len(head) - len(tail), len(without_asides(hint))))
    raise InfeasibleError("memory", fit_message(head + hint + tail))


def _share_pinned(job: JobSpec) -> str | None:
    """The job's fixed parallel fields, as a phrase, where they pin a GPU's model state (weights, gradients, optimizer
    state) whatever the GPU count: the tensor and pipeline degrees fixed, the expert degree too on an MoE model, and
    ZeRO fixed at 0 (every data- and context-parallel rank holds its whole share); else None (more GPUs can split it
    further)."""
    par = job.parallel
    split = ("tp", "pp") + (("ep",) if job.model.moe is not None else ())
    if par.zero != 0 or any(getattr(par, f) is None for f in split):
        return None
    return "parallel " + ", ".join(f"{f} {getattr(par, f)}" for f in split + ("zero",))


def off_platform_lines(off_platform: dict) -> list[str]:
    """``off_platform``'s reasons (GPU name -> why no searched stack runs on it), one line for the accelerators whose
    reasons differ only by their name: "llm-foundry runs on NVIDIA GPUs (CUDA), AMD GPUs (ROCm), not on TPU-v5e,
    TPU-v6e, TPU-v5p, TPU-v4 (Google TPUs (XLA)); ..." (until QA 86 four lines, one a TPU, the same words)."""
    named = {}  # the reason with its accelerator's name held out -> the accelerators
    for gpu, why in off_platform.items():
        named.setdefault(why.replace(gpu, "\0"), []).append(gpu)
    return [why.replace("\0", ", ".join(gpus)) for why, gpus in named.items()]


def _search_assumptions(job: JobSpec, cat, opts, live, searched: set, off_platform: dict, left_out: dict, lists: dict,
                        refused: dict, refused_rows: dict, regroup: dict, sp_off: dict | None = None,
                        recipes_off: dict | None = None) -> list[str]:
    """The assumption lines of a search that ranked plans: the job's own, the hardware left out (not in the catalog,
    no stack runs on it, no low-precision peak), the stack an open framework was timed on, the recompute lists
    searched and the layouts each stack refuses (recommend's counts, each layout under the first rule it breaks), the
    layouts searched without sequence parallelism because the stack refuses it on them (``sp_off``: per group, the
    rows and the rules; ``stack_rules.open_sp``), the fp8 recipes an ``fp8_recipe: auto`` search tried and left out
    (``_recipe_notes``, ``recipes_off``: ``SearchTally.recipes_off``), and the memory headroom over the ``searched``
    GPUs. (The MoE dispatchers a search tried: ``_dispatcher_notes``, after these.)"""
    con = job.constraints
    assumptions = list(job.assumptions)
    # a job that fixes cluster.instance / cluster.gpu is searched on that hardware alone: the list does not choose it,
    # as _listed_left_out and serving's left_out skip it (until QA 73 the app's default GPU list beside a picked
    # p5.48xlarge read "left out: H200-SXM-141GB: no bf16 peak", the reason _unsearched_why falls through to)
    fixed = job.cluster.gpu or job.cluster.instance
    for line in [] if fixed else unmatched_gpus(cat, con, opts, base_math_precision(job.training),
                                                     job.cluster.power_limit_w):
        assumptions.append(f"left out: {line}")
    for msg in off_platform_lines(off_platform):  # accelerators none of the searched stacks runs on
        assumptions.append(f"left out: {msg}")
    for _, grp in live:  # an open training.framework timed on a TPU / Trainium stack (space.open_stack)
        named = stack_named(job.training)  # (a section without a name is as open as none: fwname59b)
        if job.training.framework is None and grp.name == D.FRAMEWORK_NON_TRANSFORMER and not job.model.is_transformer:
            assumptions.append(non_transformer_note(job))  # a CNN / generic model: plain PyTorch DDP, not Megatron-Core
            continue
        if not named and stack_named(grp.job.training):
            on = [o.gpu for o in opts if stack_runs_on(grp.name, o.gpu) and not stack_runs_on(D.FRAMEWORK, o.gpu)]
            if on:
                assumptions.append(platform_note(on[0], grp.name, tuple(sorted({g.name for g in on}))))
        fw = job.training.framework
        if named and fw.name != "auto" and grp.name != fw.name and grp.name in PORTS.values():
            on = [o.gpu for o in opts if stack_runs_on(grp.name, o.gpu)]  # a named stack run as its fork there
            if on:
                assumptions.append(port_note(on[0], fw.name, grp.name, tuple(sorted({g.name for g in on}))))
    if left_out:  # hardware the low-precision recipe cannot run on, left out of the search
        assumptions.append(f"left out: {', '.join(sorted(left_out))} ({'; '.join(sorted(set(left_out.values())))})")
    for g, grp in live:
        if lists[g]:
            assumptions.append(lists[g])
        partial = partial_recompute_note(job, grp.variants[0].stack)
        if partial:
            assumptions.append(partial)
        note = refusal_note(grp.variants[0].stack, refused[g], refused_rows[g], regroup[g])
        if note:  # layouts the stack refuses (planner.model.stack_rules): not plans, counted like other exclusions
            assumptions.append(note)
        sched = stack_rules.open_schedule_note(grp.variants[0].stack, job.parallel)
        if sched and job.parallel.pp != 1:  # a pipeline searched on a stack whose own schedule is not 1f1b
            assumptions.append(sched)
        if (job.parallel.pp != 1 and not is_auto(job) and "schedule" not in job.parallel.model_fields_set
                and job.model.is_transformer and stack_rules.searches_dualpipev(grp.variants[0].stack)):
            # (space.candidates adds the DualPipeV rows: torchtitan with compile off)
            assumptions.append(f"{stack_rules.OPEN_SCHEDULE}1F1B and DualPipeV searched at pp > 1 (torchtitan runs "
                               "both; DualPipeV needs compile off, as this job has it)")
        if sp_off and sp_off[g][0]:
            assumptions.append(sp_off_note(grp.variants[0].stack, *sp_off[g]))
    assumptions += _recipe_notes(live, recipes_off or {}, searched)
    head = D.MEMORY_HEADROOM if con.memory_headroom is None else con.memory_headroom
    nouns = {device_noun(o.gpu) for o in opts if o.gpu.name in searched} or {"GPU"}  # "chip" on TPU / Trainium
    mem_noun = nouns.pop() if len(nouns) == 1 else "accelerator"
    plats = {platform_of(o.gpu) for o in opts if o.gpu.name in searched}
    assumptions.append(f"memory: plans leave {head:.0%} of {mem_noun} memory free for the memory model's error "
                       f"({other_words(plats)} are counted in the plan; constraints.memory_headroom"
                       + (", default" if con.memory_headroom is None else "") + ")")
    return assumptions


def _recipe_notes(live, off: dict, searched: set) -> list[str]:
    """One line per stack an ``fp8_recipe: auto`` search tried recipes on: the recipes tried, those left out on some
    GPUs for the GEMM peak they lack (``off``: ``SearchTally.recipes_off``; on every GPU ``searched``: not tried), and
    those never tried, with why (``space.recipe_choices``: not in the stack's code, fp4's recipe, the stack's
    refusal)."""
    out = []
    for _, grp in live:
        base = grp.variants[0]
        if "fp8_recipe" not in base.values:
            continue
        why = {}  # reason -> the recipes it leaves out (one clause each)
        for r, w in recipe_choices(base.stack, base.model, base.training)[1].items():
            why.setdefault(w, []).append(r)
        tried = []
        for r in dict.fromkeys(v.stack.fp8_recipe for v in grp.variants):
            if r in off and searched <= set(off[r][0]):  # no GPU searched has its GEMMs
                why.setdefault(f"{off[r][1]}: not on {', '.join(sorted(searched))}", []).append(r)
            else:
                tried.append(r)
        gpu = "; ".join(f"{r} not on {', '.join(off[r][0])}: {off[r][1]}" for r in tried if r in off)
        left = "; ".join(f"{', '.join(rs)} ({w})" for w, rs in why.items())
        out.append(f"training.framework.fp8_recipe auto: {grp.name} tried {', '.join(tried)} ({base.stack.fp8_recipe} "
                   "its default), each priced by the step-time and memory model and ranked on the objective"
                   + (f" ({gpu})" if gpu else "") + (f"; not tried: {left}" if left else ""))
    return out


def _dispatcher_notes(live, off: dict) -> list[str]:
    """One line per stack whose MoE dispatcher the search chose (``moe_dispatcher`` open, ``space.dispatcher_choices``):
    the dispatchers tried, on which layouts (``_try_dispatchers``), those the job rules out, and the hardware each is
    kept off (``off``: ``SearchTally.dispatchers_off``); one where it tried the all-to-all overlap
    (``_a2a_overlap_note``); one where the dispatcher the job names was kept inside a node."""
    out = []
    for _, grp in live:
        base = grp.variants[0]
        tried = list(dict.fromkeys(v.stack.moe_dispatcher for v in grp.variants))
        where = "; ".join(f"{', '.join(ds)} {'not' if gone else 'inside one node only'} on {', '.join(at)} ({why})"
                          for (gone, why), (ds, at) in off.items() if set(ds) & set(tried))
        if "moe_a2a_overlap" in base.values:
            out.append(_a2a_overlap_note(grp.name))
        if "moe_dispatcher" not in base.values:  # the job names it: said where its fabric kept it inside a node
            if where:
                out.append(f"training.framework.moe_dispatcher {tried[0]} (the job's): {where}")
            continue
        left = dispatcher_choices(base.stack, base.model, base.training)[1]
        out.append(f"training.framework.moe_dispatcher open: {grp.name} tried {', '.join(tried)} ({tried[0]} its "
                   f"default; the others on the {DISPATCHER_TRIES} fastest layouts per node count and EP degree, "
                   "each priced by the step-time and memory model)" + (f" ({where})" if where else "")
                   + "".join(f"; not tried: {d} ({w})" for d, w in left.items()))
    return out


def _a2a_overlap_note(stack: str) -> str:
    """The assumption line of a search that tried the MoE all-to-all overlap (``space.a2a_overlap_choices``)."""
    return (f"training.framework.moe_a2a_overlap open: {stack} tried it off (its default) everywhere and on over the "
            f"{DISPATCHER_TRIES} fastest layouts per node count and EP degree, under each dispatcher tried, where "
            "Megatron-Core runs it (EP > 1, PP 1 or interleaved, no full recompute, with MTP only at PP > 1: "
            "planner.model.stack_rules a2a-overlap-*)")


def _within_constraints(job: JobSpec, cols: dict, hcol: str, ccol: str, overhead, assumptions: list,
                        table) -> np.ndarray:
    """The rows of the search table the job's constraints keep, on the hours and cost columns it is ranked at
    (``hcol``, ``ccol`` of the table's columns ``cols``): plans that never finish (spot interruptions, node
    failures) out, the horizon when no deadline is given, the budget and the deadline; what it excludes is said
    in ``assumptions`` (appended). Raises when no plan finishes or none meets them (on the whole table:
    ``table()``)."""
    con = job.constraints
    hours, cost = np.asarray(cols[hcol], dtype=np.float64), np.asarray(cols[ccol], dtype=np.float64)
    keep = np.ones(len(hours), dtype=bool)
    if con.spot or overhead is not None:  # expected goodput 0 (failures outpace every checkpoint cycle): never finishes
        never = ~np.isfinite(hours)
        if never.all():
            raise InfeasibleError(*(_spot_never_finishes(con) if con.spot else _never_finishes(job)))
        if never.any():
            keep &= ~never
            assumptions.append(f"spot: {count_of(never.sum(), 'configuration')} never finish{'es' if never.sum() == 1 else ''} under the interruption rate "
                               "(each is interrupted before a checkpoint interval completes, or its expected time is "
                               "over 1,000x the uninterrupted one): excluded" if con.spot else
                               f"checkpoint: {count_of(never.sum(), 'configuration')} never finish{'es' if never.sum() == 1 else ''} ("
                               + ("node failures come before a checkpoint interval completes" if failing(job) else
                                  "the checkpoint pauses make the expected time over 1,000x the uninterrupted one")
                               + "): excluded")
    horizon = None  # the rows inside the horizon, where it is applied
    if con.deadline_hours is None:
        # without a deadline "cheapest" drifts to tiny clusters running for years (a budget alone
        # does not stop it); say so and cap
        within = hours <= D.HORIZON_HOURS
        if within.any():
            keep &= within
            horizon = within
            if not within.all():  # "(0 configurations) are excluded" said nothing that moved the answer
                assumptions.append(f"no deadline given: plans longer than {D.HORIZON_HOURS / 24:.0f} days "
                                   f"({count_of((~within).sum(), 'configuration')}) are excluded (defaults.HORIZON_HOURS; "
                                   "set constraints.deadline_hours)")
        else:
            assumptions.append(f"no deadline given and every plan runs longer than {D.HORIZON_HOURS / 24:.0f} days: "
                               "shown anyway (set constraints.deadline_hours)")
    if con.budget_usd is not None:
        keep &= ~(cost > con.budget_usd)
    if con.deadline_hours is not None:
        keep &= hours <= con.deadline_hours
    if not keep.any():
        raise _nothing_meets(table(), con, horizon)
    return keep


def _spot_never_finishes(con) -> tuple[str, str]:
    """The one-line refusal when no spot plan finishes: interruptions come faster than any checkpoint
    interval completes (interruptions.expected_goodput is 0: infinite hours and cost, which used to
    print as "inf years for $infM")."""
    field = "constraints.spot_interruptions_per_node_day" if con.spot_interruptions_per_node_day is not None \
        else "constraints.spot"
    return field, ("no plan finishes on spot: the job is interrupted before a checkpoint interval completes (goodput 0, "
                   "or an expected time over 1,000x the uninterrupted one: simulate.failures.MIN_GOODPUT) "
                   "— checkpoint more often or faster (checkpoint.every_steps, checkpoint.write_gbps), "
                   "fewer nodes, or on-demand (constraints.spot: false)")


def failing(job) -> bool:
    """Whether the job's nodes fail (``checkpoint.mtbf_hours_per_node`` set): else only its checkpoint pauses can keep a
    plan from finishing."""
    return job.checkpoint is not None and job.checkpoint.mtbf_hours_per_node is not None


def _never_finishes(job) -> tuple[str, str]:
    """The one-line refusal when no plan finishes under the job's node failures (goodput 0), or, in a job without
    failures, under its checkpoint pauses alone (it blamed node failures and ``checkpoint.mtbf_hours_per_node``, which
    the job never set, for a save every step at 1e-6 Gb/s)."""
    if not failing(job):
        return "checkpoint", (
            "no plan finishes: the checkpoint pauses make every plan's expected time over 1,000x the uninterrupted one "
            "(simulate.failures.MIN_GOODPUT) — checkpoint less often (checkpoint.every_steps), faster "
            "(checkpoint.write_gbps), or in the background (checkpoint.asynchronous: true)")
    return "checkpoint.mtbf_hours_per_node", (
        "no plan finishes: node failures come before a checkpoint interval completes (goodput 0, or an expected time "
        "over 1,000x the uninterrupted one: simulate.failures.MIN_GOODPUT) — checkpoint, or "
        "more often (checkpoint.every_steps), fewer nodes, or a longer per-node MTBF")


@dataclass(frozen=True)
class Labels:
    """A string column of one batch as codes into ``names`` (``_table``): the search's label columns (recompute, the
    recompute list) have a handful of values over millions of rows, and building pandas' string column from the
    decoded numpy strings cost more than the batches' time model (pyarrow converts every row); from codes it is one
    pyarrow ``take``. ``names`` may repeat a string (both codes then read the same)."""

    codes: np.ndarray
    names: tuple


@dataclass(frozen=True)
class _Coded:
    """A string column of the table as codes into its distinct strings (``_coded``)."""

    codes: np.ndarray
    names: np.ndarray


def _coded(parts: list) -> _Coded:
    """One table column from per-batch strings (``str``: the whole batch, or ``Labels``) as codes into its
    distinct strings, in first-seen order."""
    index = {}  # string -> its code in the column
    codes = []
    for n, v in parts:
        if isinstance(v, str):
            codes.append(np.full(n, index.setdefault(v, len(index)), dtype=np.intp))
        else:
            remap = np.array([index.setdefault(s, len(index)) for s in v.names], dtype=np.intp)
            codes.append(remap[np.asarray(v.codes, dtype=np.intp)])
    return _Coded(np.concatenate(codes), np.array(list(index)))


def _strings(col: _Coded, code: np.ndarray) -> object:
    """The column of strings ``col.names[code]``, exactly the column pandas builds from the decoded strings (its
    inferred string dtype), through a take over the distinct strings."""
    import pandas as pd  # (here, in _table_of and _nothing_meets: ``planner estimate`` imports this module, builds no table)

    names = col.names
    inferred = pd.Series(names[:1]).dtype  # the dtype pandas gives a column of numpy strings
    if isinstance(inferred, pd.StringDtype):
        return pd.array(names, dtype=inferred).take(code)
    return names.astype(inferred)[code]


def _columns(parts: list[tuple[int, dict]], only: tuple | None = None) -> dict:
    """The table's columns from the per-batch columns (arrays, or scalars meaning the whole batch), in batch
    order: a search has tens of batches per hardware option and stack variant, and a DataFrame per batch costs
    more than the batch's time model. A column a batch lacks (spot columns of an option without a spot price)
    is NaN there, as ``pd.concat`` would make it. A column of strings and ``Labels`` in every batch is kept as
    codes (``_Coded``) until the table is built (``_table_of``). ``only``: those columns alone (the ranking's)."""
    names = [k for k in dict.fromkeys(k for _, cols in parts for k in cols) if only is None or k in only]
    def col(n, cols, k):
        v = cols.get(k, np.nan)
        if isinstance(v, Labels):
            return np.asarray(v.names)[np.asarray(v.codes, dtype=np.intp)]
        return np.asarray(v) if np.ndim(v) else np.full(n, v, dtype=object if v is None else None)
    out = {}
    for k in names:
        vals = [(n, cols.get(k)) for n, cols in parts]
        if all(isinstance(v, (str, Labels)) for _, v in vals):
            out[k] = _coded(vals)
        else:
            out[k] = np.concatenate([col(n, cols, k) for n, cols in parts])
    return out


def _table_of(cols: dict, rows: np.ndarray | None = None, consume: bool = False) -> pd.DataFrame:
    """The DataFrame of ``_columns``' columns, of the rows ``rows`` in that order (all, in batch order, without):
    the ranked table is built once, in its final order, so no column is taken twice (the filter and the sort of
    the built table moved every column, string columns through pyarrow: 28 of the ranking's 51 s on the 2.86M-row
    table of a search like QA 38b's, wall time under profile). A string column's codes are taken, then its strings.

    The taken columns become the DataFrame's own (``copy=False``: pandas' default copies a dict's arrays into its
    blocks, a third copy of the table), and with ``consume`` each column of ``cols`` is dropped once taken, so the
    table is held about once, not three times: 9.7 -> 5.05 GB peak on the 9.1M-row table of 1,000 private instance
    rows (benchmarks/gen_private_catalog.py, README "Limits")."""
    import pandas as pd

    take = (lambda a: a) if rows is None else (lambda a: a[rows])
    out = {}
    for k in list(cols):
        v = cols.pop(k) if consume else cols[k]
        out[k] = _strings(v, take(v.codes)) if isinstance(v, _Coded) else take(v)
        del v
    return pd.DataFrame(out, copy=False)


def _table(parts: list[tuple[int, dict]]) -> pd.DataFrame:
    """One DataFrame from the per-batch columns, every row in batch order (``_columns``, ``_table_of``)."""
    return _table_of(_columns(parts))


def _plan(job, hw, c, i, cat, spot, spot_model=None, stack=None, searched=(), advise: bool = True):
    """Row ``i`` of a batch as a full ``Plan`` (re-evaluated alone under its stack variant: the
    same vectorised code); ``advise`` False leaves its ``advice`` empty (``row_result``)."""
    one = c.take(np.array([i]))
    ev = evaluate(job, one, hw, stack=stack, whatifs=advise)  # its advice's what-ifs in the same calls
    plan = row_result(job, one, hw, dict(ev, searched=searched), 0, cat, spot, advise)
    return with_spot_risk(plan, hw, spot_model, cat) if spot else plan


def with_spot_risk(plan, hw, spot_model, cat):
    """The plan with its expected spot cost/time (``Cost.spot_risk``) when a model and a price exist; a TPU slice
    node's hosts with it (``slice_hosts``)."""
    if spot_model is None or not hw.price_spot:
        return plan
    ev = plan.cost.evaluation  # the evaluation passes in its hours lengthen the segments between saves
    hosts = slice_hosts(cat, hw.gpu.name, hw.network_fabric, hw.gpus_per_node)
    risk = _on_stack(spot_model, plan.stack).risk(hw, plan.cost.hours, plan.hardware.nodes, plan.step_time_s,
                                                  hw.price_spot, ev["hours"] if ev else 0.0, hosts)
    return replace(plan, cost=plan.cost.with_spot_risk(risk))


def _on_stack(spot_model, stack):
    """The spot model with the checkpoint ``stack`` writes (``SpotModel.for_stack``), where it sizes one per stack."""
    on = getattr(spot_model, "for_stack", None)
    return on(stack) if on is not None else spot_model


def _nothing_meets(df: pd.DataFrame, con, horizon: np.ndarray | None = None) -> InfeasibleError:
    """The error when plans fit in memory but none meets the budget or deadline: the nearest ones (at
    the ranked figures: with the job's checkpoint pauses and node failures where it sets them, the
    figures without them beside). ``horizon``: the rows within ``defaults.HORIZON_HOURS`` where that cap
    was applied (no deadline): the nearest plan is one of them, and plans the cap alone excluded that
    meet the budget are said as such (the error read "costs $94.5k vs budget $100.0k" for a plan the
    cap had dropped)."""
    import pandas as pd

    hcol, ccol, _ = ranked_columns(df)
    inside = pd.Series(True if horizon is None else horizon, index=df.index)
    ck = "goodput" in df.columns  # the job's checkpoint section is priced: the ranked figures include it
    with_ck = " with checkpoint pauses and node failures" if ck else ""
    if ck:  # the figures without the pauses and failures (a spot-priced row's expectation keeps them: no "without")
        spot_row = df["cost_low"].notna() if "cost_low" in df.columns else pd.Series(False, index=df.index)
        base_h = df[hcol].where(spot_row, df["compute_hours"])
        base_c = df[ccol].where(spot_row, df[ccol] * df["compute_hours"] / df[hcol])
        df = df.assign(train_hours=base_h, cost=base_c, **{f"_r{hcol}": df[hcol], f"_r{ccol}": df[ccol]})
        hcol, ccol = f"_r{hcol}", f"_r{ccol}"
    # which constraint no plan meets on its own: that one is named (a deadline no plan met was blamed on a budget
    # every plan met, "cheapest fitting plan costs $86.27 vs budget $3.00k" given as the nearest miss; QA 40)
    in_budget = None if con.budget_usd is None else inside & ~(df[ccol] > con.budget_usd)  # as the filter: no price passes
    in_time = None if con.deadline_hours is None else df[hcol] <= con.deadline_hours
    budget_missed = in_budget is not None and not in_budget.any()
    deadline_missed = in_time is not None and not in_time.any()
    parts = []
    if budget_missed:
        days = f"{D.HORIZON_HOURS / 24:.0f} days"
        i = df.loc[inside, ccol].idxmin()
        parts.append(f"cheapest fitting plan{'' if horizon is None else ' within ' + days} costs "
                     f"{fmt_usd(df.at[i, ccol])}{with_ck} ({df.at[i, 'nodes']} x "
                     f"{df.at[i, 'hardware']}, {fmt_time(df.at[i, hcol] * 3600)}"
                     + (f"; {fmt_usd(df.at[i, 'cost'])} without them" if ck and df.at[i, "cost"] != df.at[i, ccol] else "")
                     + f") vs budget {fmt_usd(con.budget_usd)}")
        if in_time is not None and in_time.any():
            # the deadline is met by some plan: the budget that meets both is the cheapest of those, not the cheapest
            # plan (a 5 h deadline and $15k read "cheapest fitting plan costs $23.1k (..., 30.1 d)": at $23.2k it was
            # refused again, the cheapest plan within 5 h costing $47.4k; QA 58)
            j = df.loc[in_time, ccol].idxmin()
            parts.append(f"within the deadline the cheapest costs {fmt_usd(df.at[j, ccol])} ({df.at[j, 'nodes']} x "
                         f"{df.at[j, 'hardware']}, {fmt_time(df.at[j, hcol] * 3600)})")
        over = ~inside & (df[ccol] <= con.budget_usd)
        if over.any():  # within budget, dropped only by the no-deadline horizon
            j = df.loc[over, ccol].idxmin()
            parts.append(f"{int(over.sum()):,} more meet it but run over {days} (from {fmt_usd(df.at[j, ccol])}, "
                         f"{fmt_time(df.at[j, hcol] * 3600)}), the cap without constraints.deadline_hours")
    if deadline_missed:
        i = df[hcol].idxmin()
        parts.append(f"fastest plan takes {fmt_time(df.at[i, hcol] * 3600)}{with_ck} ({df.at[i, 'nodes']} x "
                     f"{df.at[i, 'hardware']}, {fmt_usd(df.at[i, ccol])}"
                     + (f"; {fmt_time(df.at[i, 'train_hours'] * 3600)} without them"
                        if ck and df.at[i, "train_hours"] != df.at[i, hcol] else "")
                     + f") vs deadline {con.deadline_hours:g} h"
                     # the GPU cap is what holds the fastest plan back where it uses all of it (QA 106: "fastest plan
                     # takes 15.9 d (8 x ...)" named the deadline alone, at max_gpus 64 where 256 nodes take 17.4 h)
                     + (f", at constraints.max_gpus {con.max_gpus}" if con.max_gpus is not None and "gpus" in df.columns
                        and int(df.at[i, "gpus"]) == con.max_gpus else ""))
        if in_budget is not None and in_budget.any() and df.loc[in_budget, hcol].min() > df.at[i, hcol]:
            # the fastest plan is over budget: the deadline that meets both is the fastest within budget (QA 58)
            j = df.loc[in_budget, hcol].idxmin()
            parts.append(f"within budget the fastest takes {fmt_time(df.at[j, hcol] * 3600)} ({df.at[j, 'nodes']} x "
                         f"{df.at[j, 'hardware']}, {fmt_usd(df.at[j, ccol])})")
        met = df["train_hours"] <= con.deadline_hours
        if ck and met.any():  # the deadline is lost to the checkpoint pauses and failures: say so
            j = df.loc[met, "train_hours"].idxmin()
            parts.append(f"{count_of(int(met.sum()), 'configuration')} would meet it without them (fastest {df.at[j, 'nodes']} x "
                         f"{df.at[j, 'hardware']}: {fmt_time(df.at[j, 'train_hours'] * 3600)}, "
                         f"{fmt_time(df.at[j, hcol] * 3600)} with them)")
    if not budget_missed and not deadline_missed:  # each met by some plan, never both by one
        i = df.loc[in_budget, hcol].idxmin()
        j = df.loc[in_time, ccol].idxmin()
        # (short: the message is cut at errors.MESSAGE_CHARS)
        parts.append(f"each is met alone, never both: within budget the fastest takes {fmt_time(df.at[i, hcol] * 3600)} "
                     f"({df.at[i, 'nodes']} x {df.at[i, 'hardware']}, {fmt_usd(df.at[i, ccol])}) vs "
                     f"{con.deadline_hours:g} h; within the deadline the cheapest costs {fmt_usd(df.at[j, ccol])} ({df.at[j, 'nodes']}"
                     f" x {df.at[j, 'hardware']}, {fmt_time(df.at[j, hcol] * 3600)})" + ("; with checkpoints and failures"
                                                                                        if ck else ""))
    field = ("constraints.budget_usd" if budget_missed else "constraints.deadline_hours" if deadline_missed
             else "constraints.budget_usd, constraints.deadline_hours")
    return InfeasibleError(field, "no configuration meets the constraints; nearest: " + "; ".join(parts))


#: the stacks a no-fit refusal offers for optimizer offload (each has it: stacks.STACKS[...].offloads), filtered to
#: those whose code runs on the searched accelerators
OFFLOAD_STACKS = ("deepspeed", "megatron-core", "torchtitan")

#: the fields of an option that no node count fits within the job's GPU limits (planner.search.space._grid)
SIZE_FIELDS = ("constraints.min_gpus", "constraints.max_gpus")


def _raise_outside_limits(job: JobSpec, errors: list) -> None:
    """When every hardware option searched is outside the job's GPU limits (``errors``, one per option, each naming
    ``SIZE_FIELDS``), one error that says so with an example of each kind; else nothing. The first option's own
    reason ("aws:g6.xlarge is single-node only (1 GPU), below min_gpus=7") read as if it were the only one."""
    if len(errors) < 2 or not all(e.field in SIZE_FIELDS for e in errors):
        return
    con = job.constraints
    kinds = list({e.message.split(" ", 1)[-1][:12]: e for e in reversed(errors)}.values())[::-1][:2]  # by wording
    head = (f"none of the {len(errors):,} hardware options searched makes a cluster of {con.min_gpus or 1:,} to "
            f"{con.max_gpus or D.MAX_GPUS:,} GPUs (min_gpus to max_gpus); e.g. ")
    # fitted by the one rule (hardware_catalog.errors fit_message): the asides give way, the last first (the node
    # counts searched, the GPUs a node holds), so each example keeps what kind of miss it is and its limits; cut in
    # the middle by InputError, the second example's kind was lost (QA 30's "no node count searched")
    raise InfeasibleError(kinds[0].field, fit_message(head + "; ".join(e.message for e in kinds)))


def _listed_left_out(cat, job: JobSpec, opts, off_platform: dict, left_out: dict) -> list[tuple[tuple[str, ...], str]]:
    """Why each GPU ``constraints.gpus`` names was not searched, one (GPU names, line) pair each (a platform's GPUs
    share one line; the names for ``Recommendation.no_plan``): no instance carries
    it or lacks the precision (``unmatched_gpus``), no searched stack runs on it (``off_platform``),
    or it lacks the recipe's low-precision peak (``left_out``). Empty for a job that fixes
    cluster.gpu/instance (the list does not choose the hardware then)."""
    con = job.constraints
    if not con.gpus or job.cluster.gpu or job.cluster.instance:
        return []
    from planner.hardware.platform import PLATFORMS, platform_of
    from planner.model.stacks import stacks_for_platform
    out = [((g,), line) for g, line in unmatched_gpu_lines(cat, con, opts, base_math_precision(job.training),
                                                          job.cluster.power_limit_w)]  # (_base_math_held's too)
    stack = job.training.framework.name if stack_named(job.training) else D.FRAMEWORK
    off = {}  # one line per platform no searched stack runs on: "TPU-v5e, TPU-v5p: megatron-core does not run on ..."
    for g in dict.fromkeys(cat.gpu(x).name for x in con.gpus):
        if g in off_platform:
            plat = platform_of(cat.gpu(g))
            off.setdefault(plat, []).append(g)
        elif g in left_out:
            out.append(((g,), f"{g}: {left_out[g]}, which it lacks"))  # "nvfp4 needs FP4 tensor cores" (physics.peak_need)
    for plat, gs in off.items():
        # its code runs there (a vendor's fork: stacks.PORTS), or auto's stack there refused the job (_off_platform)
        if plat in RUNS_ON.get(port_of(stack, plat), ()) or (is_auto(job) and off_platform.get(gs[0], "").startswith(
                "auto's stack")):
            out.append((tuple(gs), f"{', '.join(gs)}: {off_platform[gs[0]]}"))  # but refused the job (_off_platform)
            continue
        why = open_stack_refusal(job, cat.gpu(gs[0]))  # the platform's stack runs there, but not this model
        if why:
            out.append((tuple(gs), f"{', '.join(gs)}: training.framework {why}"))
            continue
        # the advice before the list, which gives way first where the line is too long (fit_message; app57)
        out.append((tuple(gs), f"{', '.join(gs)}: {stack} does not run on {PLATFORMS.get(plat, plat)} (leave "
                               f"training.framework out, or a stack for {'them' if len(gs) > 1 else 'it'}: "
                               f"{', '.join(stacks_for_platform(plat)) or 'none'})"))
    return out


def ranking_caveats(job: JobSpec, ranked, opts: dict) -> tuple[str, ...]:
    """The assumptions that move this ranking, one line each, for the shown plans: efficiencies
    that are priors (not measured here), fp8, an assumed network under a multi-node plan,
    single-node-only instances, and the spot interruption model."""
    out = []
    seen = set()
    for p in ranked:
        hw = opts.get(p.hardware.name)
        if hw is None:
            continue
        prior = hw.eff.sources.get("*", "prior")
        if p.hardware.gpu not in seen and not any(str(v).startswith("measured") for v in hw.eff.sources.values()):
            seen.add(p.hardware.gpu)
            out.append(f"{p.hardware.gpu}: efficiencies are a prior, not measured ({prior}); {calibrate_hint(hw.gpu)}")
        # single-node hardware only moves a ranking the job lets grow past one node: under constraints.max_gpus
        # of one node (or cluster.nodes: 1) "--by gpu or --scaling show the multi-node alternatives" had none
        one_node = (job.cluster.nodes == 1 or (job.constraints.max_gpus is not None
                                               and job.constraints.max_gpus <= p.hardware.gpus_per_node))
        if p is ranked[0] and not hw.multi_node and not one_node:
            # `--scaling` scales the winner's own hardware: here its one node, no alternative (it was named beside
            # `--by gpu` until qa57, and showed a one-row table)
            out.append(f"{hw.name} is single-node only (no cluster fabric in the catalog): this plan cannot be scaled "
                       "out; `--by gpu` shows the multi-node alternatives")
        if p.hardware.nodes > 1 and hw.network_assumed:
            line = hw.network_note + " — a multi-node plan's gradient sync depends on it"
            if line not in out:
                out.append(line)
    if job.training.precision == "fp8":
        out.append("fp8: only the linear GEMMs run low-precision, at the recipe's share of the bf16 GEMM efficiency on "
                   "the low-precision peak, plus its quantisation traffic (planner.model.stack_kernels.RECIPES: gemm_rel and "
                   "cast_bytes are priors from public GEMM and TE measurements, not measured on this GPU)")
    if any(p.cost.checkpoint_failures for p in ranked) and failing(job):
        out.append("checkpoints and failures: ranked and filtered on the expected time and cost with the job's checkpoint "
                   "pauses and node failures (checkpoint section; planner/simulate/failures.run_overhead): more nodes "
                   "fail more often, so the per-node MTBF moves the ranking")
    elif any(p.cost.checkpoint_failures for p in ranked):
        # a cadence without an MTBF: the pauses alone, which do not grow with the node count (QA 45)
        out.append("checkpoints and failures: ranked and filtered on the expected time and cost with the job's checkpoint "
                   "pauses only (checkpoint section; planner/simulate/failures.run_overhead): no node failures are "
                   "counted without checkpoint.mtbf_hours_per_node, and with them more nodes would lose more")
    if (job.constraints.spot and job.cluster.price_usd_hr is not None and ranked
            and all(p.cost.cost_spot_usd is None and p.cost.cost_ondemand_usd is not None for p in ranked)):
        # a bare cluster.gpu priced by the job: that price is on-demand, and no spot rate exists for it
        out.append("constraints.spot: no spot price for these plans — cluster.price_usd_hr is an on-demand rate, so "
                   "they are unpriced and ranked by time; leave out constraints.spot to be costed at it, or name "
                   "constraints.clouds/instances for the catalog's spot rates")
    spot = spot_rate_words(opts[p.hardware.name].instance for p in ranked
                           if p.cost.ranked_price_basis == SPOT and p.hardware.name in opts)
    if spot:  # which zone's rate the spot plans pay (qa89: one zone's outlier read as a market rate)
        out.append(spot)
    if any(p.cost.spot_risk for p in ranked):
        src = next(p.cost.spot_risk["source"] for p in ranked if p.cost.spot_risk)
        out.append(f"spot: ranked on expected cost and time with interruptions ({src}); capacity for all nodes "
                   "at once is not guaranteed")
    return tuple(out)
