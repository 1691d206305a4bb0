"""The analytic TTFT at the load a replica sees (``llm_ttft``), against the simulation and a by-hand prefill.

It had been ``prefill alone + one full-batch iteration`` at any load: Llama-3-8B with one output token at 2 QPS on
p5.4xlarge (concurrency 0.08) stated 1,173 ms while the simulated p50 was 19 ms -- the batch-64 iteration it priced
held 64 whole prompts' prefill (one token: each slot's prompt every step)."""
from dataclasses import replace

import numpy as np
import pytest

from hardware_catalog import load_catalog
from planner.model.serving_efficiency import engine_efficiency
from planner.spec import load_job_dict
from planner.spec.params import count_params
from planner.workloads.serving import (_options, llm_ttft, option_iteration, plan_serving, served_model,
                                       settings_for)


def _job(qps, output_tokens):
    return load_job_dict({"model": {"preset": "llama3-8b"},
                          "serving": {"qps": qps, "p99_latency_ms": 80, "prompt_tokens": 500,
                                      "output_tokens": output_tokens},
                          "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"], "instances": ["p5.4xlarge"]}})


@pytest.mark.parametrize("output_tokens", [1, 128])
def test_low_load_ttft_is_one_prefill(output_tokens):
    """At concurrency < 1 nearly every request finds the server idle: TTFT ~ one prefill of its prompt (by hand:
    2 x params x 500 FLOPs at the engine's GEMM rate), and the simulated median agrees within 20%."""
    job = _job(0.1 if output_tokens > 1 else 2, output_tokens)
    plan = plan_serving(job, sim=replace(settings_for(job), candidates=1))
    b = plan.best
    assert b.concurrency < 1 and b.batch >= 32
    hw = next(h for h in _options(job, load_catalog(), None) if h.name == b.hardware)
    rate = hw.gpu.peak_flops["bf16"] * hw.eff.gemm_max * engine_efficiency("vllm").compute
    pc = count_params(job.model)
    by_hand = 2 * (pc.total - pc.embedding) * 500 / rate * 1e3  # the GEMMs' FLOPs, the bulk of it (no attention)
    assert b.ttft_ms == pytest.approx(by_hand, rel=0.2)
    assert b.ttft_ms == pytest.approx(b.simulated["ttft_ms"]["p50"], rel=0.2)
    assert b.ttft_ms < b.simulated["ttft_ms"]["p99"]


def test_ttft_rises_with_load_and_reaches_a_loaded_iteration():
    job = _job(2, 128)
    m, s = served_model(job.model), job.serving
    hw = next(h for h in _options(job, load_catalog(), None) if h.name == "aws:p5.4xlarge")
    im = option_iteration(m, s, hw, 1)
    loads = np.array([0.0, 0.1, 1.0, 8.0, 30.0, 63.0, 200.0])
    t = llm_ttft(im, s, loads, 64)
    assert np.all(np.diff(t) >= 0) and np.all(np.diff(t[:-1]) > 0)  # ordered; capped once the batch is full
    alone = float(llm_ttft(im, s, 0.0, 64))
    full = float(llm_ttft(im, s, 64.0, 64))
    assert full > 1.2 * alone  # a loaded iteration to wait for, and 63 decodes beside its prefill
    plans = [plan_serving(_job(q, 128), simulate=False).best for q in (0.5, 20)]
    assert plans[0].concurrency < plans[1].concurrency and plans[0].ttft_ms < plans[1].ttft_ms


def _long_job(prompt, output, qps=1.0):
    return load_job_dict({"model": {"preset": "llama3.1-8b"},
                          "serving": {"qps": qps, "prompt_tokens": prompt, "output_tokens": output},
                          "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"], "instances": ["p5.4xlarge"]}})


def test_long_prompt_counts_its_chunk_steps():
    """An 8,000-token prompt under a 2,048-token budget (max_num_batched_tokens) is prefilled in 4 engine steps
    (2,048 x 3 + 1,856), under 512 in 16: the analytic TTFT of a lone request is those steps, as the simulation
    runs them (fixed lengths, one request), where it had been one 8,000-token step whatever the budget."""
    from planner.simulate.serving import ArrivalSpec, LengthDist, make_workload, simulate_serving
    from planner.workloads.serving import ServeTarget, _sim_config
    job = _long_job(8000, 1)
    m, s = served_model(job.model), job.serving
    hw = next(h for h in _options(job, load_catalog(), None) if h.name == "aws:p5.4xlarge")
    im = option_iteration(m, s, hw, 1)
    wl = make_workload(ArrivalSpec("burst", count=1), LengthDist("fixed", 8000, 0.0), LengthDist("fixed", 1, 0.0))
    sim = replace(settings_for(job), length_cv=0.0)
    got = {}
    for budget in (512, 2048, 8192):
        got[budget] = float(llm_ttft(im, s, 0.0, 64, budget=budget))
        cfg = _sim_config(m, s, hw, 1, 64, budget, 1, ServeTarget(None, None, None), sim, 0.0, im)
        assert got[budget] == pytest.approx(simulate_serving(cfg, wl, monitor=False).ttft.p50, rel=1e-3)
    one_step = float(im.time(prefill_tokens=8000, prefill_ctx=8000 ** 2 / 2))
    assert got[8192] == pytest.approx(one_step)
    by_hand = 3 * float(im.time(prefill_tokens=2048, prefill_ctx=2048 * (2048 + 2048 / 2), prefill_prior=2048)) \
        + float(im.time(prefill_tokens=1856, prefill_ctx=1856 * (6144 + 1856 / 2), prefill_prior=6144))
    assert got[2048] == pytest.approx(by_hand) and got[512] > got[2048] > got[8192]
