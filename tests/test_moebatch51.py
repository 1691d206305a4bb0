"""The MoE dispatcher twins in one step-time call (moebatch51): ``layout.Candidates.dispatcher`` carries each row's
token dispatcher into the layer keys (step_time ``stage_keys``, moe ``per_dispatcher``), and the search's tries of
the stack's other dispatchers (recommend ``_search_twins``) make one step-time call per own variant and overlap
rather than one per twin -- the same numbers, bit for bit, as a call on each dispatcher's stack."""
import numpy as np

import planner.search.recommend as R
from planner.hardware.options import option_from_instance
from planner.layout import Candidates
from planner.model.stacks import resolve
from planner.model.step_time import LayerMemo, step_time
from planner.spec import load_job
from planner.vocab import MOE_DISPATCHER
from planner.workloads.training import recommend

from conftest import EXAMPLES
from make_step_time_golden import candidates

DISPATCHERS = ("alltoall", "deepep", "hybridep")


def _bits(x):
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64)).view(np.uint64)


def _with_dispatcher(c: Candidates, d: str) -> Candidates:
    return Candidates(**{**{f: getattr(c, f) for f in c.__dataclass_fields__},
                         "dispatcher": np.full(len(c), MOE_DISPATCHER.code[d], dtype=np.int64)})


def test_rows_of_three_dispatchers_in_one_call_match_each_stack(catalog):
    """Mixtral layouts under each dispatcher: one call on all three sets (the first stack's, each row its column)
    gives every row the bits of the call on its own dispatcher's stack, with or without a shared layer memo and
    whichever call fills the memo first (the memo's key carries the dispatcher, its setting leaves it out)."""
    job = load_job(EXAMPLES / "mixtral-8x7b.yaml")
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    c = candidates(24, np.random.default_rng(51), True)
    stacks = [resolve("megatron-core", moe_dispatcher=d) for d in DISPATCHERS]
    alone = [step_time(job.model, job.training, c, hw, framework=st) for st in stacks]
    both = Candidates.concat([_with_dispatcher(c, d) for d in DISPATCHERS])
    memo = LayerMemo()
    batched = [step_time(job.model, job.training, both, hw, framework=stacks[0], memo=m) for m in (None, memo)]
    after = [step_time(job.model, job.training, c, hw, framework=st, memo=memo) for st in stacks]  # memo filled
    keys = [k for k in alone[0] if np.asarray(alone[0][k]).dtype.kind == "f"]
    assert any(not np.array_equal(alone[0][k], alone[1][k]) for k in keys)  # the dispatchers do differ here
    for d, ref in enumerate(alone):
        rows = slice(d * len(c), (d + 1) * len(c))
        for k in keys:
            want = _bits(np.broadcast_to(ref[k], (len(c),)))
            for got in [b[k] for b in batched] + [after[d][k]]:
                got = np.broadcast_to(got, (len(both),))[rows] if np.ndim(got) and len(got) == len(both) else got
                assert np.array_equal(_bits(np.broadcast_to(got, (len(c),))), want), (DISPATCHERS[d], k)


def _small_moe_job():
    """Mixtral on H100 nodes up to 16 GPUs, no deadline: the dispatchers and overlap left open (the stack's
    defaults)."""
    job = load_job(EXAMPLES / "mixtral-8x7b.yaml")
    return job.model_copy(update={"constraints": job.constraints.model_copy(update={
        "max_gpus": 16, "clouds": ["aws"], "deadline_hours": None})})


def _per_twin(job, s, kjg, hw, tries, grp, price, limits, tally, memo, spot_model, overhead):
    """the search's tries as they ran before moebatch51: one ``_search_variant`` (memory, step time) per twin"""
    for w, cw in tries:
        R._search_variant(job, s, (*kjg, w), hw, cw, grp, grp.variants[w], price, limits, tally, memo, spot_model,
                          overhead)


def counted_search(monkeypatch, job, catalog, column, twins_of):
    """``recommend(job)`` with the dispatcher tries' calls counted: (result, per step-time call and per memory call
    the distinct values of Candidates ``column`` its rows carry, the sum of ``twins_of(args)`` over the
    ``_search_twins`` calls). Shared by test_moeov52 (the overlap column)."""
    steps, mems, inside, sets = [], [], [False], [0]
    real_step, real_memory, real_try, real_twins = R.step_time, R._memory, R._try_dispatchers, R._search_twins

    def values(c):  # how many distinct values of ``column`` the rows of a call carry
        return len(set(np.asarray(getattr(c, column, [-1])).tolist()))

    def counted_step(m, t, c, hw, **kw):
        if inside[0]:
            steps.append(values(c))
        return real_step(m, t, c, hw, **kw)

    def counted_memory(m, t, c, *a, **kw):
        if inside[0]:
            mems.append(values(c))
        return real_memory(m, t, c, *a, **kw)

    def counted_try(*a, **kw):
        inside[0] = True
        try:
            return real_try(*a, **kw)
        finally:
            inside[0] = False

    def counted_twins(*a, **kw):
        sets[0] += twins_of(a)
        return real_twins(*a, **kw)

    monkeypatch.setattr(R, "step_time", counted_step)
    monkeypatch.setattr(R, "_memory", counted_memory)
    monkeypatch.setattr(R, "_try_dispatchers", counted_try)
    monkeypatch.setattr(R, "_search_twins", counted_twins)
    return recommend(job, catalog, simulate=False), steps, mems, sets[0]


def ranks_as_per_twin(monkeypatch, job, catalog, batched):
    """The search with one memory and one step-time call per twin (``_per_twin``) ranks exactly as ``batched``."""
    monkeypatch.setattr(R, "_search_twins", _per_twin)
    each = recommend(job, catalog, simulate=False)
    assert batched["evaluated"] == each["evaluated"]
    assert batched["rows"].frame().equals(each["rows"].frame())
    assert batched["best"] == each["best"]


def test_search_tries_share_step_time_and_memory_calls_and_rank_the_same(catalog, monkeypatch):
    """The search's dispatcher tries: fewer step-time calls and fewer memory calls than twins tried (one of each
    carries several dispatchers; memory's since moebatch51b), and the same ranked table, step times and best plan as
    a memory and a step-time call per twin."""
    job = _small_moe_job()
    batched, calls, mems, twins = counted_search(monkeypatch, job, catalog, "dispatcher", lambda a: len(a[4]))
    assert twins and max(calls) > 1 and max(mems) > 1  # calls with rows of several dispatchers
    assert len(calls) < twins, (len(calls), twins)
    assert len(mems) < twins, (len(mems), twins)
    ranks_as_per_twin(monkeypatch, job, catalog, batched)
