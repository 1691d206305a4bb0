"""serve45: the serving screen states a row's TTFT, TPOT, throughput and replicas at one token budget.

1. The screen's TTFT was at 2,048 (``llm_ttft``'s default) beside a TPOT and a throughput at the budget least for the
   TPOT (512 on the chat example's g6e.xlarge): 288.1 ms at 2,048 where 512 chunks the 800-token prompts in two steps,
   320.5 ms. vLLM's ``max_num_batched_tokens`` sets all three.
2. The replicas were sized from 2,048's throughput (``throughput_replicas`` 7 beside 8.23 req/s a replica at 512,
   which needs 5): the row now states the budget needing the fewest replicas, every figure at it
   (``budget_replicas``), and says so (``token_budget_by``); a simulated row is re-stated at the simulation's budget,
   its TTFT too.
"""
from __future__ import annotations

import math

import pytest

from hardware_catalog import load_catalog

from planner.spec import load_job_dict
from planner.workloads.serving_screen import (BUDGET_BY_SCREEN, BUDGET_BY_SIMULATION, ServeTarget, llm_option, llm_ttft,
                                              replica_throughput, queue_replicas, screen_concurrency, screen_point)
from planner.workloads.serving_settings import REALTIME_TOKEN_BUDGETS
from planner.workloads.serving import _at_budget, _options, plan_serving
from planner.workloads.serving_iteration import option_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_queue import TTFT_QUANTILE

CHAT = {"model": {"preset": "llama3-8b"}, "serving": {"qps": 40, "p99_latency_ms": 50, "ttft_ms": 1000,
        "prompt_tokens": 800, "output_tokens": 200, "max_batch": 256}}
RAG = {"model": {"preset": "llama3-8b"}, "serving": {"qps": 8, "p99_latency_ms": 60, "ttft_ms": 3000,
       "prompt_tokens": 6000, "output_tokens": 150, "max_batch": 256}}


def _job_option(jd: dict, inst: str):
    """(job, served model, its serving spec, ``inst``'s option, its TP1 iteration model) of a job on ``inst`` alone."""
    job = load_job_dict({**jd, "constraints": {"instances": [inst]}})
    m, s = served_model(job.model), job.serving
    hw = next(h for h in _options(job, load_catalog(), None) if h.name == inst)
    return job, m, s, hw, option_iteration(m, s, hw, 1)


def _setup(jd: dict, inst: str):
    _, m, s, hw, im = _job_option(jd, inst)
    return m, s, hw, ServeTarget(s.p99_latency_ms / 1e3, s.ttft_ms / 1e3, s.qps), im


def _rps(im, s, batch: int, budget: int) -> float:
    return float(replica_throughput(im, s, batch, budget)[1])  # srvcap45: at the sequences the budget keeps decoding


def test_the_ttft_is_at_the_budget_the_tpot_and_throughput_are_at():
    """The chat example's g6e.xlarge row is at budget 512: its p99 TTFT is ``llm_ttft`` at 512 for the load its
    replicas see (320.5 ms at 6 replicas), not at 2,048 (the old row's 288.1 at 7, beside a TPOT at 512)."""
    m, s, hw, tgt, im = _setup(CHAT, "aws:g6e.xlarge")
    row = llm_option(m, s, hw, 1, tgt, im)
    assert row.token_budget == 512 and row.token_budget_by == BUDGET_BY_SCREEN
    r, rate = row.queue_replicas, s.qps / row.queue_replicas
    at = {k: float(llm_ttft(im, s, screen_concurrency(m, s, hw, 1, rate, row.batch, im, k)[0], row.batch, rate=rate,
                            budget=k, q=TTFT_QUANTILE, replicas=r)) * 1e3 for k in (512, 2048)}
    assert row.ttft_ms == pytest.approx(at[512], rel=1e-9)
    # at 2,048 the 6 replicas carry 6 x 6.32 = 37.9 req/s of the 40: no TTFT there (the old row's 288.1 ms was 2,048's
    # at 7 replicas, stated beside 512's TPOT and throughput)
    assert math.isinf(at[2048])


@pytest.mark.parametrize("jd, inst", [(CHAT, "aws:g6e.xlarge"), (CHAT, "aws:p5.4xlarge"), (RAG, "aws:g6e.xlarge")])
def test_the_replicas_are_sized_at_the_stated_budget_the_one_needing_fewest(jd, inst):
    """The row's replicas, the throughput's count and its p99s are those of its budget, the one needing the fewest
    replicas; a tie keeps the simulation's order (2,048 first: the chat job's p5.4xlarge needs 2 at 2,048 and at 512,
    and states 2,048 where serve44 stated 512, its TPOT least there). The chat g6e.xlarge row was sized 7 from
    2,048's throughput (6.32 req/s) beside 8.23 req/s at 512, which needs 5 and meets the targets at 6."""
    m, s, hw, tgt, im = _setup(jd, inst)
    row = llm_option(m, s, hw, 1, tgt, im)
    k, b = row.token_budget, row.batch
    assert row.requests_per_s_per_replica == pytest.approx(_rps(im, s, b, k), rel=1e-9)
    assert row.throughput_replicas == math.ceil(s.qps / row.requests_per_s_per_replica)
    need = {j: queue_replicas(m, s, hw, 1, tgt, b, math.ceil(s.qps / _rps(im, s, b, j)), im,
                              capacity=_rps(im, s, b, j), budget=j) for j in REALTIME_TOKEN_BUDGETS}
    fewest = min(n[0] for n in need.values() if n)
    assert need[k][0] == row.queue_replicas == fewest
    assert k == next(j for j in REALTIME_TOKEN_BUDGETS if need[j] and need[j][0] == fewest)
    assert row.ttft_ms == pytest.approx(need[k][3] * 1e3, rel=1e-9)
    assert row.tpot_ms == pytest.approx(need[k][4] * 1e3, rel=1e-9)


def test_the_chat_example_needs_fewer_replicas_at_its_own_budget():
    """``--no-simulate`` on the chat job: g6e.xlarge at budget 512 is 6 replicas (81% busy at 8.23 req/s), where the
    old plan said 7 (sized at 2,048's 6.32 req/s); the JSON and the recommendation say how the budget was chosen."""
    job = load_job_dict({**CHAT, "constraints": {"instances": ["aws:g6e.xlarge"]}})
    plan = plan_serving(job, simulate=False)
    best = plan.best
    assert (best.token_budget, best.replicas) == (512, 6)
    assert best["token_budget_by"] == "fewest replicas"
    assert "(Little's law; max_num_seqs 82; token budget 512, the one needing the fewest replicas)" in plan.why


def test_a_row_restated_at_the_simulated_budget_states_its_ttft_there():
    """``_at_budget`` (the simulation's pick) re-states the TTFT at that budget too (serve44 moved the throughput and
    TPOT, and kept 2,048's TTFT beside them), at the count it is given (``_refine_realtime``: the simulated one), and
    says the budget is the simulation's."""
    m, s, hw, tgt, im = _setup(CHAT, "aws:g6e.xlarge")
    row = llm_option(m, s, hw, 1, tgt, im)
    got = _at_budget(row, m, s, hw, tgt, im, 2048, replicas=11)  # the count 2,048 needs
    assert got.token_budget == 2048 and got.token_budget_by == BUDGET_BY_SIMULATION
    _, _, ttft, tpot = screen_point(m, s, hw, 1, tgt, row.batch, 11, _rps(im, s, row.batch, 2048), im, 2048)
    assert got.ttft_ms == pytest.approx(ttft * 1e3, rel=1e-9) and got.tpot_ms == pytest.approx(tpot() * 1e3, rel=1e-9)
    assert got.ttft_ms < 0.9 * row.ttft_ms  # 265 ms against 512's 320.5 at 6
    # at the row's own 6 replicas 2,048 carries 37.9 of the 40 req/s: no TTFT to state (None), not 512's
    assert _at_budget(row, m, s, hw, tgt, im, 2048).ttft_ms is None
    same = _at_budget(row, m, s, hw, tgt, im, 512)  # the simulation kept the screen's budget and count: they stand
    assert same.token_budget_by == BUDGET_BY_SIMULATION and same.ttft_ms == row.ttft_ms
    # the chat example: the simulation confirms 7 at 512 where the screen said 6; the row states the screen at 7
    seven = _at_budget(row, m, s, hw, tgt, im, 512, replicas=7)
    _, _, ttft, tpot = screen_point(m, s, hw, 1, tgt, row.batch, 7, row.requests_per_s_per_replica, im, 512)
    assert seven.ttft_ms == pytest.approx(ttft * 1e3, rel=1e-9) and seven.ttft_ms < row.ttft_ms
    assert seven.tpot_ms == pytest.approx(tpot() * 1e3, rel=1e-9)
