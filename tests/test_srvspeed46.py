"""srvspeed46: ``planner serve`` at very high QPS and the MMPP per-sojourn loop, made fast with the same answers.

1. At 1e6 QPS a fleet is ~10^5 replicas and ``queue_replicas`` doubles and bisects over ~20 counts a budget, each
   running ``screen_concurrency``'s fixed point (~20 ``time_in_service`` calls of numpy overhead). The counts the
   search may ask next are now priced in one vectorised fixed point (``screen_concurrency_many``, told by
   ``least_meeting``'s ``ahead``): each rate's iterates are its own, so each (L, b) is the scalar loop's bit for bit,
   and the search asks the same counts in the same order.
2. ``_mmpp`` drew one loop pass per sojourn: 1 ms bursts at 40 QPS for 2,000 s are ~10^6 of them (4-8 s). Past
   ``MMPP_LOOP_SOJOURNS`` the sojourns are drawn as arrays (``_mmpp_lumped`` at one cycle a block), the same process.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from test_serve45 import CHAT, RAG, _setup

import planner.simulate.serving as sim
import planner.workloads.serving_screen as S
from planner.workloads.serving_screen import (CONCURRENCY_ITERATIONS, least_meeting, queue_replicas, replica_throughput,
                                              screen_concurrency_many, time_in_service)


def _scalar_concurrency(m, s, hw, tp, rate, batch, im, budget):
    """The fixed point as ``screen_concurrency`` ran it until srvspeed46, one rate at a time (the exact reference)."""
    L = 0.0
    for _ in range(CONCURRENCY_ITERATIONS):
        b = min(1.0 + L, float(batch))
        W = float(time_in_service(im, s, L, b, batch, budget))
        nxt = min(rate * W, float(batch))
        if abs(nxt - L) <= 1e-9 * max(nxt, 1.0):
            return nxt, min(1.0 + nxt, float(batch))
        L = nxt
    return L, min(1.0 + L, float(batch))


@pytest.mark.parametrize("jd, inst", [(CHAT, "aws:g6e.xlarge"), (RAG, "aws:g6e.xlarge")])
@pytest.mark.parametrize("batch, budget", [(1, 512), (13, 2048), (82, 512), (256, 8192)])
def test_the_vectorised_fixed_point_is_the_scalar_one_bit_for_bit(jd, inst, batch, budget):
    """On a grid of rates from light load to the 1e6-QPS fleet's ~100% busy replicas, every (L, b) of
    ``screen_concurrency_many`` equals the one-rate loop's exactly (a rate converging early stops there)."""
    m, s, hw, _, im = _setup(jd, inst)
    rates = np.concatenate([np.geomspace(0.01, 40.0, 12), 1e6 / np.arange(121_000, 125_000, 500)])
    L, b = screen_concurrency_many(m, s, hw, 1, rates, batch, im, budget)
    ref = [_scalar_concurrency(m, s, hw, 1, float(r), batch, im, budget) for r in rates]
    assert L.tolist() == [x[0] for x in ref] and b.tolist() == [x[1] for x in ref]


def _predicates():
    """Monotone thresholds and a non-monotone predicate (a hole), so ``ahead`` must not steer the search."""
    yield from (lambda n, t=t: n >= t for t in (0, 5, 6, 7, 100, 1_000, 4_097, 10**6))
    yield lambda n: n >= 50 and not 60 <= n < 80


@pytest.mark.parametrize("lo, hi", [(5, 5), (5, 6), (5, 40), (3, 5_000), (121_470, 121_470 * 1024)])
def test_least_meeting_asks_the_same_counts_with_ahead_told_them_first(lo, hi):
    """With ``ahead`` the search asks the same counts in the same order and answers the same, on monotone and
    non-monotone predicates, and every count it asks was told to ``ahead`` before."""
    for meets in _predicates():
        plain, told, asked = [], set(), []
        want = least_meeting(lambda n: plain.append(n) or meets(n), lo, hi)

        def ask(n):
            assert n == lo or n in told, f"asked {n} before ahead was told it"
            asked.append(n)
            return meets(n)
        assert least_meeting(ask, lo, hi, told.update) == want
        assert asked == plain


def _rows(monkeypatch, jd, inst, qps):
    m, s, hw, tgt, im = _setup(jd, inst)
    tgt = S.ServeTarget(tgt.tpot_s, tgt.ttft_s, qps)
    out = {}
    for batch, budget in ((82, 512), (37, 2048)):
        rps = float(replica_throughput(im, s, batch, budget)[1])
        out[batch, budget] = queue_replicas(m, s, hw, 1, tgt, batch, math.ceil(qps / rps), im, capacity=rps,
                                            budget=budget)
    return out


@pytest.mark.parametrize("qps", [8.0, 40.0, 1e4, 1e6])
def test_queue_replicas_answers_as_the_one_rate_screen(monkeypatch, qps):
    """The chat job's g6e.xlarge at two (batch, budget) settings: the count, L, b, TTFT, TPOT and the target that
    raised it are those of the screen pricing each count alone (the old path: the scalar loop per rate)."""
    fast = _rows(monkeypatch, CHAT, "aws:g6e.xlarge", qps)
    monkeypatch.setattr(S, "screen_concurrency_many", lambda m, s, hw, tp, rates, batch, im, budget: tuple(
        np.array(v) for v in zip(*[_scalar_concurrency(m, s, hw, tp, float(r), batch, im, budget) for r in rates])))
    monkeypatch.setattr(S, "least_meeting", lambda meets, lo, hi, ahead=None: least_meeting(meets, lo, hi))
    assert fast == _rows(monkeypatch, CHAT, "aws:g6e.xlarge", qps)


def test_a_million_qps_screen_completes_with_its_answer():
    """The chat example at 1e6 QPS on g6e.xlarge alone (``--no-simulate``): 122,644 TP1 replicas at budget 512,
    batch 82, TTFT-bound, as before srvspeed46 (the screen over all the example's options took 25-30 CPU s, now 12-15)."""
    from hardware_catalog import load_catalog

    from planner.spec import load_job_dict
    from planner.workloads import Context, plan

    job = load_job_dict({**CHAT, "serving": {**CHAT["serving"], "qps": 1e6},
                         "constraints": {"instances": ["aws:g6e.xlarge"]}})
    best = plan("serve", job, Context(catalog=load_catalog(), simulate=False)).result.options[0]
    assert (best.tp, best.batch, best.token_budget, best.queue_replicas) == (1, 82, 512, 122_644)


class _Stub:
    """A generator whose draws are their means (a sojourn its mean, a count its rate x time rounded down, a time the
    middle of its span), so the per-sojourn loop and the array path must give the same times exactly."""

    def random(self):
        return 0.0

    def exponential(self, mean, size=None):
        return mean if size is None else np.full(size, mean)

    def gamma(self, k, mean, size):
        return np.full(size, k * mean)

    def poisson(self, lam):
        return np.floor(lam).astype(np.int64) if np.ndim(lam) else int(lam)

    def uniform(self, lo, hi, size=None):
        return (np.asarray(lo) + hi) / 2.0 if size is None else np.full(size, (lo + hi) / 2.0)


def test_a_long_mmpp_run_is_drawn_as_arrays_the_loops_process(monkeypatch):
    """1 ms bursts at 40 QPS for 2,000 s (~10^6 sojourns, over ``MMPP_LOOP_SOJOURNS``): the array path gives the
    per-sojourn loop's times under draws fixed at their means, and with a real generator draws no sojourn one by one
    (no ``exponential`` call) and keeps the mean rate."""
    a = sim.ArrivalSpec("mmpp", rate=40.0, duration_s=2000.0, burst_ratio=4.0, burst_share=0.25, burst_s=0.02)
    fast = sim._mmpp(a, _Stub())
    monkeypatch.setattr(sim, "MMPP_LOOP_SOJOURNS", math.inf)
    loop = sim._mmpp(a, _Stub())
    assert len(fast) == len(loop) > 1000 and np.allclose(fast, loop, rtol=0, atol=1e-9)
    monkeypatch.undo()

    class NoLoop:
        def __init__(self):
            self.rng = np.random.default_rng(0)

        def __getattr__(self, name):
            assert name != "exponential", "a draw per sojourn"
            return getattr(self.rng, name)
    t = sim._mmpp(sim.ArrivalSpec("mmpp", rate=40.0, duration_s=2000.0, burst_s=0.001), NoLoop())
    assert abs(len(t) / 80_000 - 1) < 0.02 and np.all(np.diff(t) >= 0) and t[-1] < 2000.0


def test_a_short_mmpp_run_keeps_the_loop_and_its_seeded_draws():
    """The default shape (10 s bursts) over an hour is ~180 sojourns, under ``MMPP_LOOP_SOJOURNS``: still the loop,
    so every seeded simulation of it draws the same arrivals as before."""
    a = sim.ArrivalSpec("mmpp", rate=40.0, duration_s=3600.0)
    assert 2 * a.duration_s / sum(st[2] for st in a.states()) < sim.MMPP_LOOP_SOJOURNS
