"""srvb51: the serving screen's work does not grow with ``serving.max_batch``, and a recommendation line never says a
plan "meets" a target with a figure over it.

fuzz51 found a fixed fleet (a tiny MoE model on one p5.48xlarge, ``replicas: 1``, 128 + 16 tokens) with ``max_batch``
4,096 or 65,536 still in the analytic screen after 25 CPU s (~1 s at the default 64): ``slot_service`` priced W(n) at
every n up to the batch, ``llm_ttft`` the running step at every k up to the others in flight, and ``llm_option`` the
throughput and TTFT at every batch 1 .. max_batch, each through ``lumped_parts`` over (counts x ``lump_grid``'s bins).
They are now priced at ``screen_points`` (at most 256 counts, interpolated between) and at the batches read."""
import json

import numpy as np
import pytest

import planner.workloads.serving_iteration as si
from planner.workloads.serving_iteration import SCREEN_POINTS, screen_points
from test_fuzz_cli import TINY_MOE, run_cli

#: lumped steps (rows of ``lump_grid``) a whole ``serve --no-simulate`` of the job below may price: the default
#: max_batch (64) prices 4,756, 65,536 now 17,135; the old code priced 3.79 x 10^6 at 65,536 (11.9 CPU s)
ROWS_BOUND = 100_000


def _counting(monkeypatch, bound: int) -> list:
    """Patch ``lump_grid`` to count the lumped steps it is asked for (its argument's size) and to fail past ``bound``
    (the old code would run on for minutes)."""
    seen, grid = [0], si.lump_grid

    def counted(cv):
        seen[0] += int(np.size(cv))
        assert seen[0] <= bound, f"the screen priced over {bound:,} lumped steps"
        return grid(cv)

    monkeypatch.setattr(si, "lump_grid", counted)
    return seen


@pytest.mark.parametrize("max_batch", [64, 65536])
def test_a_fixed_fleet_with_a_huge_max_batch_is_screened_in_bounded_work(tmp_path, monkeypatch, max_batch):
    """The fuzz51 job, one option (TP1): the lumped steps priced stay under ``ROWS_BOUND`` at max_batch 65,536, as
    at 64. Fails on the old code (the count passes the bound within the first option)."""
    seen = _counting(monkeypatch, ROWS_BOUND)
    p = tmp_path / "job.json"
    p.write_text(json.dumps({"model": TINY_MOE, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
                             "parallel": {"tp": 1},
                             "serving": {"p99_latency_ms": 2000.0, "prompt_tokens": 128, "output_tokens": 16,
                                         "replicas": 1, "max_batch": max_batch}}))
    code, out, err = run_cli("serve", p, "--no-simulate", "--top", "1", "--json")
    assert code == 0, err[-1000:]
    best = json.loads(out, parse_constant=pytest.fail)["options"][0]
    assert best["batch"] == min(max_batch, best["batch_memory_limit"])
    assert 0 < seen[0] <= ROWS_BOUND


def test_screen_points_are_every_count_up_to_the_cap_then_a_geometric_grid():
    assert screen_points(0).tolist() == [] and screen_points(1).tolist() == [1.0]
    assert screen_points(SCREEN_POINTS).tolist() == list(range(1, SCREEN_POINTS + 1))
    for n in (SCREEN_POINTS + 1, 1024, 65536, 1 << 24):
        p = screen_points(n)
        assert len(p) <= SCREEN_POINTS and p[0] == 1.0 and p[-1] == n and np.all(np.diff(p) > 0)
        assert np.all(p == np.round(p))


# ------------------------------------------------------------------------ the recommendation line's verb (pd51's job)
def _pd51_best():
    """pd51's job (Llama-3-8B on p5.48xlarge, 8,000 + 64 tokens, TPOT 40 ms / TTFT 1,500 ms, 20 QPS, no length spread)
    planned analytically, TP1: its best row."""
    from planner.spec import load_job_dict
    from planner.workloads.serving import plan_serving

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"instance": "p5.48xlarge"},
                         "parallel": {"tp": 1},
                         "serving": {"qps": 20, "p99_latency_ms": 40, "ttft_ms": 1500, "prompt_tokens": 8000,
                                     "output_tokens": 64, "length_cv": 0}})
    return job.serving, plan_serving(job, simulate=False).best


def test_the_recommendation_never_says_meets_with_a_figure_over_its_target():
    """A simulated row states the analytic screen's TPOT / TTFT at the simulation's budget and replicas; the full run
    (simulated, TP1 at budget 512, 8 replicas) read "meets TPOT 66.7 ms / TTFT 1,661 ms" against 40 / 1,500 ms, its
    simulated p99s 22.1 / 1,219 ms. The row as the simulation left it (those figures and its simulated check), through
    the line: it must not say "meets" with them. Fails on the old code ("per replica meets TPOT 66.7 ms")."""
    from dataclasses import replace

    from planner.workloads.serving import _why

    s, best = _pd51_best()
    sim = {"qps": 20.0, "replicas": 8, "max_num_batched_tokens": 512, "ttft_ms": {"p99": 1219.0},
           "tpot_ms": {"p99": 22.1}}
    row = replace(best, tpot_ms=66.7, ttft_ms=1661.0, simulated=sim)
    line = _why(row, [], True, False, True, s.p99_latency_ms, s.ttft_ms)
    assert "meets" not in line and "reads TPOT 66.7 ms / TTFT 1,661 ms" in line
    assert "over the TPOT target (40 ms) and the TTFT target (1,500 ms)" in line and "p99 TPOT 22.1 ms" in line
    # the analytic plan's own row is within both targets: "meets", as before
    assert best.tpot_ms <= 40 and best.ttft_ms <= 1500
    assert " per replica meets TPOT " in _why(best, [], True, False, True, s.p99_latency_ms, s.ttft_ms)
