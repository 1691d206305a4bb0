"""The MoE all-to-all overlap twins in the dispatcher twins' calls (moeov52): ``layout.Candidates.a2a_overlap``
carries each row's combined-1F1B overlap into the layer keys (step_time ``stage_keys``, layer_ops ``moe_block``), the
step's paired share (step_time ``a2a_hidden_share``) and memory's micro-batches in flight (memory_activations
``overlap_call``), so the search's tries (recommend ``_search_twins``) make one memory and one step-time call per
variant and training where they made one per overlap value -- the same numbers, bit for bit, as a call on each
twin's stack."""
from dataclasses import replace

import numpy as np
import pytest

from planner.hardware.options import option_from_instance
from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.model.stacks import resolve
from planner.model.step_time import LayerMemo, step_time
from planner.spec import load_job
from planner.vocab import MOE_DISPATCHER

from conftest import EXAMPLES
from make_step_time_golden import candidates
from test_moebatch51 import counted_search, ranks_as_per_twin

#: (dispatcher, overlap) of each twin: both overlap values, each with two dispatchers
TWINS = tuple((d, o) for o in (False, True) for d in ("alltoall", "deepep"))


def _bits(x, n: int):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))).view(np.uint64)


def _as_twin(c: Candidates, d: str, overlap: bool) -> Candidates:
    return replace(c, dispatcher=np.full(len(c), MOE_DISPATCHER.code[d], dtype=np.int64),
                   a2a_overlap=np.full(len(c), int(overlap), dtype=np.int64))


def _step(job, hw):
    return lambda st, c, memo=None: step_time(job.model, job.training, c, hw, framework=st, memo=memo)


def _memory(job, hw):
    return lambda st, c, memo=None: memory_per_gpu(job.model, job.training, c, stack=st, gpu=hw.gpu.name, memo=memo)


@pytest.mark.parametrize("example", ["mixtral-8x7b.yaml", "deepseek-v3-pretrain.yaml"])
@pytest.mark.parametrize("price", [_step, _memory], ids=["step_time", "memory"])
def test_rows_of_both_overlaps_in_one_call_match_each_stack(catalog, example, price):
    """Layouts under four megatron-core twins (all-to-all / DeepEP, overlap off / on), deep pipelines and interleaving
    among them (PP 16, VPP 4: middle ranks, combined-1F1B pairs) and block recompute on some full rows: one call on
    all four sets (under the first or the third twin's stack, each row its columns, with or without a layer memo)
    gives every row the bits of the call on its own twin's stack, every numeric output."""
    job = load_job(EXAMPLES / example)
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    c = candidates(40, np.random.default_rng(52), True)
    rng = np.random.default_rng(7)
    c = replace(c, pp=np.where(rng.random(len(c)) < 0.3, 16, c.pp), vpp=np.where(rng.random(len(c)) < 0.3, 4, c.vpp),
                rn=np.where((c.rc == 2) & (rng.random(len(c)) < 0.5), rng.integers(1, 4, len(c)), 0))
    stacks = [resolve("megatron-core", moe_dispatcher=d, moe_a2a_overlap=o) for d, o in TWINS]
    run = price(job, hw)
    alone = [run(st, c) for st in stacks]
    keys = [k for k, v in alone[0].items() if np.asarray(v).dtype.kind in "fiub"]
    assert any(not np.array_equal(alone[0][k], alone[2][k]) for k in keys)  # the overlap does move these rows
    both = Candidates.concat([_as_twin(c, d, o) for d, o in TWINS])
    for first in (0, 2):
        for memo in (None, LayerMemo()):
            got = run(stacks[first], both, memo)
            for i, ref in enumerate(alone):
                rows = slice(i * len(c), (i + 1) * len(c))
                for k in keys:
                    g = got[k][rows] if np.ndim(got[k]) and len(got[k]) == len(both) else got[k]
                    assert np.array_equal(_bits(g, len(c)), _bits(ref[k], len(c))), (TWINS[i], first, k)


def _deepseek_shaped():
    """DeepSeek-V3's layer (MLA, 256 routed experts and a shared one, dense first layers, one MTP module) in 8 layers
    on up to 16 GPUs of one cloud at VPP 2 (where the overlap runs at PP > 1), no deadline: the dispatchers and
    overlap left open (the stack's defaults)."""
    job = load_job(EXAMPLES / "deepseek-v3-pretrain.yaml")
    return job.model_copy(update={
        "model": job.model.model_copy(update={"layers": 8}),
        "training": job.training.model_copy(update={"global_batch": 256, "tokens": 1e10}),
        "parallel": job.parallel.model_copy(update={"vpp": 2}),
        "constraints": job.constraints.model_copy(update={"max_gpus": 16, "clouds": ["aws"], "deadline_hours": None})})


def _mixtral():
    """Mixtral on H100 nodes up to 16 GPUs, no deadline (tests/test_moebatch51.py's search)."""
    job = load_job(EXAMPLES / "mixtral-8x7b.yaml")
    return job.model_copy(update={"constraints": job.constraints.model_copy(update={
        "max_gpus": 16, "clouds": ["aws"], "deadline_hours": None})})


@pytest.mark.parametrize("make", [_mixtral, _deepseek_shaped], ids=["mixtral", "deepseek-v3-shaped"])
def test_search_tries_share_calls_across_the_overlap_and_rank_the_same(catalog, monkeypatch, make):
    """The search's tries: some memory and some step-time call carries rows of both overlap values, there are no
    more calls of either than trainings tried per variant (not one per overlap value), and the ranked table, its
    count and the best plan are those of a memory and a step-time call per twin."""
    job = make()
    batched, steps, mems, sets = counted_search(  # twins of one variant: its trainings (one here: no module lists)
        monkeypatch, job, catalog, "a2a_overlap", lambda a: len({id(a[5].variants[w].training) for w, _ in a[4]}))
    assert max(steps) == 2 and max(mems) == 2, (steps, mems)  # calls with rows of both overlap values
    assert len(steps) <= sets, (len(steps), sets)  # one step-time call per set of twins, not per overlap
    ranks_as_per_twin(monkeypatch, job, catalog, batched)
