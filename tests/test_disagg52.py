"""disagg52: the screen's prefill replicas batch prompts as vLLM's scheduler does (``serving_screen.prefill_batch``,
``prefill_ttft``), and ``auto`` tries smaller splits after the simulation confirms one (``serving._shrink_split``).
Llama-3-8B on p5.48xlarge (H100), ``length_cv: 0``; the simulations are 30 s of arrivals (each test < 3 s)."""
import math
from dataclasses import replace

import pytest

from hardware_catalog import load_catalog
from planner.simulate.serving import simulate_serving
from planner.spec import load_job_dict
from planner.workloads import serving as serving_plan
from planner.workloads.serving import _disaggregation, _options, _sim_config, disagg_words, plan_serving
from planner.workloads.serving_iteration import option_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_queue import erlang_c, queue_wait
from planner.workloads.serving_screen import ServeTarget, disagg_size, prefill_batch, prefill_budget, prefill_ttft
from planner.workloads.serving_settings import settings_for, sim_workload


def _job(qps, prompt, output, ttft_ms, tpot_ms=40, disaggregation="auto"):
    sv = {"qps": qps, "p99_latency_ms": tpot_ms, "ttft_ms": ttft_ms, "prompt_tokens": prompt,
          "output_tokens": output, "length_cv": 0, "disaggregation": disaggregation}
    return load_job_dict({"model": {"preset": "llama3-8b"}, "serving": sv, "cluster": {"instance": "p5.48xlarge"}})


def _option(job, tp=1):
    m, s = served_model(job.model), job.serving
    hw = _options(job, load_catalog(), None)[0]
    return m, s, hw, option_iteration(m, s, hw, tp)


def _short_sim(job, seconds=30):
    """The plan's simulation settings over ``seconds`` of arrivals (the plan confirms over 600 s)."""
    sim = settings_for(job)
    return replace(sim, confirm_s=seconds, confirm_requests=int(job.serving.qps * seconds) + 10)


def test_a_prefill_step_takes_the_prompts_the_token_budget_holds():
    """vLLM V1's scheduler fills a step's ``max_num_batched_tokens`` with waiting prompts, at most ``max_num_seqs``:
    2,048 / 128 = 16 prompts, 2,048 / 500 = 4, capped at 8 seats; a prompt over the budget raises it (pd51's rule,
    one function for the screen and the simulation)."""
    job = _job(10, 128, 64, 500)
    assert prefill_batch(job.serving, 2048, 64) == 16
    assert prefill_batch(job.serving, 2048, 8) == 8
    assert prefill_batch(_job(10, 500, 64, 500).serving, 2048, 64) == 4
    assert prefill_budget(2048, 8000) == 8000 and prefill_budget(2048, 128) == 2048
    assert prefill_batch(_job(10, 8000, 64, 500).serving, prefill_budget(2048, 8000), 64) == 1


def test_one_prompt_a_step_is_pd51s_md_p_queue_by_hand():
    """k = 1 (long prompts): no gate, the own step the prompt's prefill, and the wait M/D/P's: p99 = S + (Wq / C) x
    ln(C / 0.01) (Allen-Cunneen's mean wait Wq, Erlang C's probability C, an exponential tail) -- pd51's formula."""
    S, qps, p = 0.33, 4.0, 2
    wq, c = float(queue_wait(p, qps * S, S, 0.0)), float(erlang_c(p, qps * S))
    assert c > 0.01
    t, mean = prefill_ttft(qps, p, 1, lambda n: S * n)
    assert mean == S and t == pytest.approx(S + wq / c * math.log(c / 0.01), rel=1e-6)
    assert prefill_ttft(qps, 1, 1, lambda n: S * n)[0] == math.inf  # 4 x 0.33 = 1.32 Erlangs on one replica


def test_batched_prefill_sizes_fewer_replicas_and_the_simulation_agrees():
    """300 QPS of 128-token prompts (64-token outputs), TTFT 500 ms: one prompt alone takes 8.8 ms (weights-bound),
    16 a step (2,048 tokens) 74 ms, so a replica carries 216 prompts/s batched against 114 one at a time. The screen
    (budget 2,048) sizes 2 prefill replicas where one prompt a step took 3 (pd51); its p99 TTFT (37 ms) against the
    simulation of that split (the same engine rules: 40 ms), within 25%; one replica is unstable in both."""
    job = _job(300, 128, 64, 500)
    m, s, hw, im = _option(job)
    target = ServeTarget(0.04, 0.5, 300.0)
    size = disagg_size(m, s, hw, 1, target, im, 200, budget=2048)
    assert (size.prefill, size.prefill_batch, size.prefill_budget) == (2, 16, 2048)
    assert size.ttft_s <= 0.5 and disagg_size(m, s, hw, 1, target, im, 200, (1, size.decode), budget=2048).ttft_s == math.inf
    sim = settings_for(job)
    wl = sim_workload(s, 300.0, 30, 10_000, sim, 1, m)
    cfg = _sim_config(m, s, hw, 1, size.decode_batch, prefill_budget(size.prefill_budget, int(wl.prompt.max())), 1,
                      target, sim, 3.0, im)
    res = simulate_serving(replace(cfg, disaggregate=(size.prefill, size.decode), kv_link_bw=size.link_bytes_per_s),
                           wl, monitor=False)
    assert size.ttft_s == pytest.approx(res.ttft.p99, rel=0.25)


def _row(job):
    """The analytic plan's best option, at TP1 and budget 2,048 (the split's replicas and token budget)."""
    best = plan_serving(job, simulate=False).best
    return replace(best, tp=1, token_budget=2048), best


def test_auto_shrinks_a_split_the_simulation_over_meets():
    """50 QPS, 512 + 256 tokens, TPOT 30 ms / TTFT 300 ms: the screen sizes 2 prefill + 3 decode (its p99 TPOT at the
    p99 batch); the simulation meets it, then tries 1 + 3 (misses: one prefill replica is unstable), 2 + 2 (meets) and
    2 + 1 (misses), 3 simulations, the bound: ``auto`` keeps 2 + 2, its simulated p99s under the targets. Until
    disagg52 the screen's 2 + 3 stood."""
    job = _job(50, 512, 256, 300, tpot_ms=30)
    m, s, hw, im = _option(job)
    row, best = _row(job)
    d = _disaggregation(row, best, m, s, hw, ServeTarget(0.03, 0.3, 50.0), im, _short_sim(job), True, serving_plan.SimBudget())
    assert (d["screen_prefill"], d["screen_decode"]) == (2, 3)
    assert (d["prefill"], d["decode"]) == (2, 2) and d["gpus"] == 4
    sim_ = d["simulated"]
    assert (sim_["prefill"], sim_["decode"]) == (2, 2) and sim_["meets_targets"]
    assert sim_["tpot_p99_ms"] <= 30 * 0.9 and sim_["ttft_p99_ms"] <= 300 * 0.9
    assert [(t["prefill"], t["decode"], t["meets_targets"]) for t in d["tried_smaller"]] == [
        (1, 3, False), (2, 2, True), (2, 1, False)]
    assert len(d["tried_smaller"]) <= serving_plan.DISAGG_SHRINK_TRIES
    line = disagg_words(d, "p5")[0]
    assert "screen 2 + 3" in line and "smaller splits simulated: 1 + 3 misses" in line and "2 + 2 meets" in line


def test_a_split_the_job_fixed_is_not_shrunk():
    """{prefill: 2, decode: 3} is simulated as given: no smaller split tried, though 2 + 2 meets."""
    job = _job(50, 512, 256, 300, tpot_ms=30, disaggregation={"prefill": 2, "decode": 3})
    m, s, hw, im = _option(job)
    row, best = _row(job)
    d = _disaggregation(row, best, m, s, hw, ServeTarget(0.03, 0.3, 50.0), im, _short_sim(job), True, serving_plan.SimBudget())
    assert (d["prefill"], d["decode"]) == (2, 3) and d["tried_smaller"] == [] and d["simulated"]["meets_targets"]


def test_a_spent_event_bound_leaves_the_split_unsimulated_not_an_internal_error():
    """``serving.plan_event_bound`` spent before the split's runs (here a budget of 0 events): the screen's split is
    stated "not simulated" and why; until disagg52 ``PlanBoundReached`` left the plan as an internal error
    (``planner serve`` with ``plan_event_bound: 1000`` on pd51's 4-QPS job)."""
    job = _job(50, 512, 256, 300, tpot_ms=30)
    m, s, hw, im = _option(job)
    row, best = _row(job)
    d = _disaggregation(row, best, m, s, hw, ServeTarget(0.03, 0.3, 50.0), im, _short_sim(job), True,
                        serving_plan.SimBudget(0))
    assert d["simulated"] is None and d["bound_reached"] and (d["prefill"], d["decode"]) == (2, 3)
    assert "not simulated (the plan's simulation event bound" in disagg_words(d, "p5")[0]


def test_a_smaller_split_is_simulated_over_its_own_link(monkeypatch):
    """pd51's 20-QPS job (8,000 + 64 tokens, TTFT 1,500 ms): the screen's 8 + 1 TP1 replicas span two nodes, so the
    KV crosses the NIC; the 7 + 1 ``auto`` tries next fits one node and is simulated over NVLink (``restate``: a
    grown or smaller split takes its own link; until disagg52 a grown split kept the screen's)."""
    job = _job(20, 8000, 64, 1500)
    m, s, hw, im = _option(job)
    row, best = _row(job)
    seen = []
    run = serving_plan._disagg_run

    def spy(m_, s_, hw_, tp, size, *rest):
        seen.append((size.prefill, size.decode, size.link))
        return run(m_, s_, hw_, tp, size, *rest)

    monkeypatch.setattr(serving_plan, "_disagg_run", spy)
    d = _disaggregation(row, best, m, s, hw, ServeTarget(0.04, 1.5, 20.0), im, _short_sim(job), True,
                        serving_plan.SimBudget())
    assert seen[:2] == [(8, 1, "NIC"), (7, 1, "NVLink")]
    # the plan states the link of the split it keeps (here 30 s of arrivals: 7 + 1 meets, one node)
    assert d["link"] == ("NVLink" if d["prefill"] + d["decode"] <= hw.gpus_per_node else "NIC")
