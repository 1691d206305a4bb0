"""fleet56: a fixed fleet's screen (``serving.replicas``, ``serving.fleet_row``) bisects its QPS through one
``ScreenMemo`` an option (the QPS-free batches and every fixed point priced, the next QPS' first counts prefetched in
one vectorised pass, a QPS whose every budget's throughput count is over the fleet decided without a screen) and the
fixed point retires a rate whose iterates cycle; the answers must be the old screen's bit for bit
(tests/data/fleet_truth56.json, pinned by tests/make_fleet_truth56.py from the code before fleet56)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from make_fleet_truth56 import FLEETS, answers
from planner.workloads import serving as S
from planner.workloads import serving_screen as SS

TRUTH = json.loads((Path(__file__).parent / "data" / "fleet_truth56.json").read_text())


@pytest.mark.parametrize("name", sorted(FLEETS))
def test_a_fixed_fleet_answers_as_before_fleet56(name):
    assert answers(FLEETS[name]) == TRUTH[name]


def test_highest_rate_tells_the_qps_it_asks_before_asking_them():
    """Every QPS ``highest_rate`` asks was told to ``ahead`` first, and the answer is the one without it."""
    told, asked = set(), []

    def carries(q):
        assert q in told, q
        asked.append(q)
        return q <= 37.0

    assert S.highest_rate(carries, 10.0, 0.01, ahead=told.update) == S.highest_rate(lambda q: q <= 37.0, 10.0, 0.01)
    assert S.highest_rate(lambda q: q in told and q <= 0.3, 10.0, 0.01, ahead=told.update) == pytest.approx(0.3,
                                                                                                            rel=0.01)
    assert len(asked) > 5


def test_the_fixed_point_retires_a_cycle_at_the_loop_s_end(monkeypatch):
    """A map whose iterates alternate (W falling past a threshold, as an expert-parallel step's can) ends, retired at
    its cycle, on the iterate the full loop reaches, in fewer calls."""
    calls = []

    def w(im, s, L, b, batch, budget):
        calls.append(len(L))
        return np.where(L < 5.0, 0.02, 0.01)  # L -> 6 at rate 300, then 3, 6, 3, ...

    monkeypatch.setattr(SS, "time_in_service", w)
    L, b = SS.screen_concurrency_many(None, None, None, 1, np.array([300.0, 100.0]), 64, im=object())
    assert L.tolist() == [3.0, 2.0] and len(calls) < 10  # iterate 100 of 0, 6, 3, 6, ...: 3 (the loop's 100 calls)


def test_a_fleet_screen_prices_fewer_fixed_points(monkeypatch):
    """The tiny MoE fleet on L4s: 2,668 ``time_in_service`` calls before fleet56 (counted then), far fewer now."""
    n = [0]
    real = SS.time_in_service
    monkeypatch.setattr(SS, "time_in_service", lambda *a, **k: n.__setitem__(0, n[0] + 1) or real(*a, **k))
    answers(FLEETS["tiny_moe_l4"])
    assert n[0] < 1500, n[0]
