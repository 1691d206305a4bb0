"""speed42: fixed per-call costs of the memory + step-time pair. The model-state / DP key is found once per
Candidates (``Candidates.distinct``) and reordered for the step time's column order; every result must be the one
``distinct_rows`` and the uncached models give, bit for bit."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import planner.layout as L
from planner.layout import Candidates, distinct_rows, split_vpp
from planner.vocab import SCHEDULE

ROOT = Path(__file__).resolve().parents[1]
#: the two orders the memory model (state_context) and the step time (dp_step_terms) ask for
MEMORY_ORDER = ("pp", "tp", "dp", "cp", "ep", "zero", "etp", "dp_shard", "split_vpp")
STEP_ORDER = ("pp", "tp", "cp", "dp", "ep", "zero", "etp", "dp_shard", "split_vpp")


def _candidates(n: int, seed: int) -> Candidates:
    rng = np.random.default_rng(seed)
    tp = rng.choice([1, 2, 4, 8], n)
    pp = rng.choice([1, 2, 4, 8, 16], n)
    dp = np.maximum(rng.choice([16, 32, 64, 128, 256], n) * 8 // (tp * pp), 1)
    sched = rng.choice([SCHEDULE.code["1f1b"], SCHEDULE.code["interleaved"], SCHEDULE.code["dualpipev"]], n)
    return Candidates(tp=tp, pp=pp, dp=dp, cp=rng.choice([1, 2], n), ep=rng.choice([1, 2, 4], n),
                      vpp=rng.choice([1, 2, 3], n), zero=rng.integers(0, 4, n), mb=1, rc=0, sp=tp > 1,
                      schedule=sched, gpus_per_node=8, nodes=1,
                      etp=np.where(rng.random(n) < 0.5, tp, 1), dp_shard=np.where(rng.random(n) < 0.3, 1, dp))


def _cols(c: Candidates, names):
    return [split_vpp(c) if k == "split_vpp" else getattr(c, k) for k in names]


def _same(got, want):
    (gk, gi), (wk, wi) = got, want
    assert len(gk) == len(wk)
    for a, b in zip(gk, wk):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert gi.dtype == wi.dtype and np.array_equal(gi, wi)


def test_distinct_reordered_equals_distinct_rows():
    """A key kept in one column order and asked for in another gives what ``distinct_rows`` gives in that order:
    the same distinct rows in the same order, dtypes and inverse (both orders first, on sizes where it takes the
    presence table and where it sorts, a constant column, a column equal to another)."""
    for n, seed in ((1, 0), (7, 1), (300, 2), (10_000, 3)):
        for first, second in ((MEMORY_ORDER, STEP_ORDER), (STEP_ORDER, MEMORY_ORDER)):
            c = _candidates(n, seed)
            _same(c.distinct(*first), distinct_rows(*_cols(c, first)))
            _same(c.distinct(*second), distinct_rows(*_cols(c, second)))
            rev = tuple(reversed(first))
            _same(c.distinct(*rev), distinct_rows(*_cols(c, rev)))


def test_distinct_kept_read_only_and_recomputed_on_a_new_column(monkeypatch):
    """One ``distinct_rows`` call for both orders; the kept arrays are read-only; a reassigned column (or the
    derived split_vpp after a new schedule) is keyed afresh."""
    calls = []
    real = L.distinct_rows
    monkeypatch.setattr(L, "distinct_rows", lambda *a: calls.append(len(a)) or real(*a))
    c = _candidates(500, 4)
    kept = c.distinct(*MEMORY_ORDER)
    c.distinct(*STEP_ORDER)
    assert calls == [9]
    assert c.distinct(*MEMORY_ORDER)[1] is kept[1]
    assert not kept[1].flags.writeable and not any(k.flags.writeable for k in kept[0])
    c.zero = np.zeros(len(c), dtype=np.int64)
    _same(c.distinct(*STEP_ORDER), real(*_cols(c, STEP_ORDER)))
    c.schedule = np.full(len(c), SCHEDULE.code["1f1b"])
    _same(c.distinct(*STEP_ORDER), real(*_cols(c, STEP_ORDER)))
    assert calls == [9, 9, 9]


def test_memory_and_step_time_share_the_key(monkeypatch):
    """A memory + step-time pair on the same Candidates finds the nine-column key once, and gives the numbers a
    pair on fresh copies of the rows gives (each finding it itself)."""
    from planner.hardware.options import option_from_instance
    from planner.model.memory import memory_per_gpu
    from planner.model.step_time import step_time
    from planner.spec import load_job
    from hardware_catalog import load_catalog

    job = load_job(ROOT / "examples" / "llama3-70b.yaml")
    hw = option_from_instance(load_catalog().instance("aws:p5.48xlarge"))
    c = _candidates(2_000, 5)
    fresh = lambda: c.take(np.arange(len(c)))  # noqa: E731 (a new Candidates, nothing kept)
    want_m, want_s = memory_per_gpu(job.model, job.training, fresh()), step_time(job.model, job.training, fresh(), hw)
    nine = []
    real = L.distinct_rows
    monkeypatch.setattr(L, "distinct_rows", lambda *a: (nine.append(1) if len(a) == 9 else None) or real(*a))
    got_m, got_s = memory_per_gpu(job.model, job.training, c), step_time(job.model, job.training, c, hw)
    assert len(nine) == 1
    for want, got in ((want_m, got_m), (want_s, got_s)):
        assert want.keys() == got.keys()
        for k in want:
            assert np.asarray(want[k]).tobytes() == np.asarray(got[k]).tobytes(), k


def test_reduce_window_computed_once_and_recorded(monkeypatch):
    """The record's ``t_dp_hides`` is the window the composition read (pipeline.chunk_reduce_window once per call,
    not twice), equal to the window computed from the record's own backward, pp, vpp and schedule."""
    import planner.model.pipeline as P
    import planner.model.step_time as S
    from planner.hardware.options import option_from_instance
    from planner.model.stacks import resolve
    from planner.spec import load_job
    from hardware_catalog import load_catalog

    job = load_job(ROOT / "examples" / "llama3-70b.yaml")
    hw = option_from_instance(load_catalog().instance("aws:p5.48xlarge"))
    c = _candidates(400, 6)
    c.ep, c.etp, c.cp = np.ones(len(c), dtype=np.int64), c.tp.copy(), np.ones(len(c), dtype=np.int64)
    c.schedule = np.where(c.pp > 1, c.schedule, SCHEDULE.code["1f1b"])
    calls = []
    real = P.chunk_reduce_window
    spy = lambda *a: calls.append(1) or real(*a)  # noqa: E731
    monkeypatch.setattr(P, "chunk_reduce_window", spy)
    monkeypatch.setattr(S, "chunk_reduce_window", spy, raising=False)
    r = S.step_time(job.model, job.training, c, hw)
    assert len(calls) == 1
    inter = c.schedule == SCHEDULE.code["interleaved"]
    want = real(r["t_bwd_mb"], c.pp, c.vpp, inter, resolve(job.training.framework).align_grad_reduce)
    assert np.asarray(r["t_dp_hides"]).tobytes() == np.asarray(want).tobytes()
    assert (np.asarray(r["t_dp_hides"]) != np.asarray(r["t_bwd_mb"])).any()  # some rows reduce chunk by chunk
