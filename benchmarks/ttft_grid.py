"""The analytic TTFT (``llm_ttft`` at the load ``screen_concurrency`` finds) against the SimPy serving simulation
over a grid: two models (llama3.1-8b on one H100, p5.4xlarge TP1; llama3.1-70b on p5.48xlarge TP4; 128k context, so
the simulated 8,000-token prompts are not clipped to the context as llama3-8b's 8,192 would clip them), prompts of 128 /
2,000 / 8,000 tokens, 1 / 128 output tokens, and utilisation 10 / 50 / 80 / 90 / 95% of the replica's simulated
saturated throughput (``_capacity``: the steady rate of a backlog at the same batch and token budget, its drain tail
out since drain33). One replica, max_num_seqs =
min(64, the memory-limited batch), max_num_batched_tokens = ``REALTIME_TOKEN_BUDGET``, lognormal lengths (cv 0.5),
Poisson arrivals, seed 0. Prints one row per point: the analytic mean against the simulated median, p90 and mean
(ms), the analytic p99 against the simulated p99.

    PYTHONPATH=$PWD python benchmarks/ttft_grid.py [--requests 3000] [--quick]
"""
from __future__ import annotations

import sys
from dataclasses import replace

from hardware_catalog import load_catalog
from planner.spec import load_job_dict
from planner.workloads.serving_screen import ServeTarget, llm_option, llm_ttft, screen_concurrency
from planner.workloads.serving import _capacity, _options, _sim_config
from planner.workloads.serving_queue import TTFT_QUANTILE
from planner.workloads.serving_iteration import option_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_settings import REALTIME_TOKEN_BUDGET, settings_for, sim_workload
from planner.simulate.serving import simulate_serving

MODELS = (("llama3.1-8b", "H100-SXM-80GB", "p5.4xlarge", 1), ("llama3.1-70b", "H100-SXM-80GB", "p5.48xlarge", 4))
PROMPTS = (128, 2000, 8000)
OUTPUTS = (1, 128)
UTILISATIONS = (0.10, 0.50, 0.80, 0.90, 0.95)


def grid_replica(model, gpu, instance, tp, prompt, output):
    """One grid point's replica as the grid runs it: (model, serving section, hardware, iteration model, batch =
    min(64, the memory-limited batch), simulation settings, simulated steady capacity in req/s). slot_wait.py
    measures the same replicas."""
    job = load_job_dict({"model": {"preset": model},
                         "serving": {"qps": 1.0, "prompt_tokens": prompt, "output_tokens": output},
                         "constraints": {"gpus": [gpu], "clouds": ["aws"], "instances": [instance]}})
    m, s = served_model(job.model), job.serving
    hw = next(h for h in _options(job, load_catalog(), None) if h.name == f"aws:{instance}")
    im = option_iteration(m, s, hw, tp)
    batch = min(64, llm_option(m, s, hw, tp, ServeTarget(None, None, None), im).batch_memory_limit)
    sim = settings_for(job)
    return m, s, hw, im, batch, sim, _capacity(m, s, hw, tp, batch, REALTIME_TOKEN_BUDGET, sim, im)


def point(model, gpu, instance, tp, prompt, output, utils, requests):
    m, s, hw, im, batch, sim, mu = grid_replica(model, gpu, instance, tp, prompt, output)
    out = []
    for u in utils:
        qps = u * mu
        L, _ = screen_concurrency(m, s, hw, tp, qps, batch, im)
        an = float(llm_ttft(im, s, L, batch, rate=qps)) * 1e3
        an99 = float(llm_ttft(im, s, L, batch, rate=qps, q=TTFT_QUANTILE)) * 1e3
        seconds = requests / qps
        wl = sim_workload(s, qps, seconds, requests, replace(sim, min_requests=requests), 0, m)
        cfg = _sim_config(m, s, hw, tp, batch, REALTIME_TOKEN_BUDGET, 1, ServeTarget(None, None, None), sim,
                          min(60.0, wl.span_s / 6), im)
        res = simulate_serving(cfg, wl, monitor=False)
        out.append((model, prompt, output, batch, u, qps, an, res.ttft.p50 * 1e3, res.ttft.p90 * 1e3, an99,
                    res.ttft.p99 * 1e3, res.ttft.mean * 1e3))
    return out


def main(argv=None):
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--quick", action="store_true", help="llama3.1-8b only")
    a = ap.parse_args(argv)
    print("| model | prompt | output | batch | util | QPS | analytic mean ms | sim p50 | sim p90 | mean/p50 | "
          "sim mean | mean/mean | analytic p99 ms | sim p99 | p99/p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios, means = [], []
    for model, gpu, inst, tp in MODELS[:1] if a.quick else MODELS:
        for p in PROMPTS:
            for o in OUTPUTS:
                for r in point(model, gpu, inst, tp, p, o, UTILISATIONS, a.requests):
                    mdl, p_, o_, b, u, q, an, p50, p90, an99, p99, mean = r
                    ratios.append(an99 / p99)
                    means.append(an / mean)
                    print(f"| {mdl} | {p_:,} | {o_} | {b} | {u:.0%} | {q:.2f} | {an:,.1f} | {p50:,.1f} | "
                          f"{p90:,.1f} | {an / p50:.2f} | {mean:,.1f} | {an / mean:.2f} | {an99:,.1f} | {p99:,.1f} | "
                          f"{an99 / p99:.2f} |", flush=True)
    within = sum(abs(x - 1) <= 0.25 for x in ratios)
    print(f"p99: {within} of {len(ratios)} within 25% of the simulated p99, {sum(x < 1 for x in ratios)} under it, "
          f"{sum(x < 0.75 for x in ratios)} more than 25% under; median ratio {sorted(ratios)[len(ratios) // 2]:.2f}")
    print(f"mean: {sum(abs(x - 1) <= 0.25 for x in means)} of {len(means)} within 25% of the simulated mean, "
          f"{sum(x < 1 for x in means)} under it")


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
