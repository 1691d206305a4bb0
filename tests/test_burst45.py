"""serve45 (bursts): an overloaded burst waits only once its slots fill (``fill_path`` / ``fill_reach``), then the
reflected Brownian queue (``overload_wait_scale``), and the burst screen against the simulated hour
(benchmarks/burst_screen.py ``--factors``, README "Bursty arrivals").

Before serve45 every arrival of a state over the fleet's capacity waited the fluid queue from the burst's first second:
the long-output job (llama3-8b, 300 / 1,500 tokens, 4 QPS) on 3 p5.4xlarge replicas under 8x / 10% / 30 s bursts
read 7,752 ms where the simulated hour reads 52 (its fleet never filled: the 139 s burst took it to 732 of 765
slots). Each test fails on the code before serve45 (the functions did not exist; the screen read 7,752 ms)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from planner.simulate.serving import ArrivalSpec
from planner.workloads.serving_queue import fill_path, fill_reach, output_survival, overload_wait_scale
from test_serve42 import _bench  # benchmarks/burst_screen.py as a module
from test_serve45 import _job_option

def _state(job: int, shape_i: int, r: int):
    """(iteration model, spec, calm rate, burst rate a replica, batch, (burst, calm) sojourns) of a benchmark row."""
    from planner.workloads.serving_screen import ServeTarget, llm_option
    b = _bench()
    _, jd, inst, tp, _ = b.JOBS[job]
    _, m, s, hw, im = _job_option(jd, inst)
    opt = llm_option(m, s, hw, tp, ServeTarget(s.p99_latency_ms / 1e3, s.ttft_ms / 1e3, None), im)
    sh = b.SHAPES[shape_i]
    (_, hi, T), (_, lo, T0) = ArrivalSpec("mmpp", s.qps, b.SECONDS, burst_ratio=sh[0], burst_share=sh[1],
                                          burst_s=sh[2]).states()
    return im, s, lo / r, hi / r, opt.batch, (T, T0), opt.requests_per_s_per_replica, b.BUDGET


@pytest.mark.parametrize("burst, capacity, replicas, sojourn", [(1.2, 1.0, 10**6, 10.0), (1.5, 2.0 / 3.0, 10**5, 30.0)])
def test_the_brownian_wait_tends_to_the_fluid_one_with_many_replicas(burst, capacity, replicas, sojourn):
    """sigma -> 0 against the drift (many replicas): the wait scale is the fluid queue's (rho - 1) x the sojourn."""
    fluid = (burst / capacity - 1.0) * sojourn
    assert overload_wait_scale(burst, capacity, replicas, sojourn) == pytest.approx(fluid, rel=1e-3)


def test_the_brownian_wait_is_over_the_fluid_one_near_load_one():
    """At rho 1.03 over 14 replicas (the chat job's 10 s bursts) the fluctuation is most of it: the fluid queue's 0.3 s
    scale, about 0.5 s here; at rho exactly 1 the fluid waits nothing and the Brownian queue sqrt(sojourn / mu_R)."""
    assert overload_wait_scale(1.033, 1.0, 14, 10.0) > 1.5 * (0.033 * 10.0)
    assert overload_wait_scale(1.0, 1.0, 4, 10.0) == pytest.approx(math.sqrt(10.0 / 4.0))


def test_output_survival_is_the_drawn_lengths():
    """The lognormal the simulation draws (mean O, cv): its mean is O, and nothing is past the clip (4 O)."""
    k = np.linspace(0.0, 5.0 * 200.0, 20001)
    surv = output_survival(200.0, 0.5, k)
    assert float(np.trapezoid(surv, k)) == pytest.approx(200.0, rel=0.01)
    assert surv[k >= 800.0].max() == 0.0 and surv[0] == 1.0


def test_the_long_output_fleet_fills_late_in_a_burst():
    """3 replicas of 255 slots under 18.8 QPS bursts: the fleet enters with ~15 a replica at 11 ms steps; its burst
    arrivals leave at the young batch's pace, so the slots fill only ~100 s in (simulated: 158 a replica 45 s into a
    burst, 244 at 139 s, never full), and with 30 s bursts ~4% of its burst arrivals find them full."""
    im, s, calm, burst, batch, soj, _, budget = _state(2, 1, 3)
    u, m, u_fill, _ = fill_path(im, s, calm, burst, batch, budget, soj[0])
    assert 60.0 < u_fill < 200.0 and 10.0 < m[0] < 40.0 and np.interp(45.0, u, m) < 0.8 * batch
    reach, slots = fill_reach(im, s, calm, burst, batch, budget, soj)
    assert reach < 0.1 and slots


def test_the_chat_fleet_fills_within_its_bursts():
    """The chat job's 200-token outputs turn over in ~10 s: at 14 g6e.xlarge replicas its slots fill 10-40 s into a
    burst (simulated: full in every burst of 26 s and more), at 12 sooner."""
    im, s, calm, burst, batch, soj, _, budget = _state(0, 0, 14)
    u14 = fill_path(im, s, calm, burst, batch, budget, soj[0])[2]
    im, s, calm, burst, batch, soj, _, budget = _state(0, 0, 12)
    u12 = fill_path(im, s, calm, burst, batch, budget, soj[0])[2]
    assert 10.0 < u14 < 40.0 and u12 < u14


def test_the_burst_screen_is_within_its_factor_range_of_the_simulated_hour():
    """benchmarks/burst_screen.py --factors: every row of the grid (chat, RAG-like, long output; 10 s, 30 s, 2 s
    bursts; three replica counts each) within ``FACTOR_RANGE`` of the simulated p99 TTFT, and the long-output row on 3
    replicas under 2 s (7,752 ms before serve45) but over the simulated 52 ms."""
    b = _bench()
    rows = b.factors()
    lo, hi = b.FACTOR_RANGE
    assert all(lo <= f <= hi for *_, f in rows), [(n, sh, r, round(f, 2)) for n, sh, r, _, _, f in rows]
    long3 = next(got for name, sh, r, got, _, _ in rows if name.startswith("long") and sh[2] == 30.0 and r == 3)
    assert 52.0 < long3 < 2000.0
