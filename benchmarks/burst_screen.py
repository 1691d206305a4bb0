"""The analytic screen's p99 TTFT / TPOT under bursty (mmpp) arrivals against the simulation (serve41): per job and
burst shape, one option at a few replica counts, the screen before serve41 (every request at the burst rate: the
Poisson screen at the peak), after (``burst_parts``: the mixture over the burst and the time between, each at its own
rate) and the simulated fleet's p99s (an hour of mmpp arrivals, seed 0, budget 2,048, max_num_seqs the screen's
batch, no event bound). The table is in README "Serving" (bursty arrivals).

serve42: the runs were 600 s under the default event bound. 600 s holds two 30 s bursts on average at a 10% share, and
seed 0 drew none for the long-output job (1,396 arrivals where 2,400 are expected; its busiest 10 s at 7.3 QPS against
a burst's 18.8), so its "simulated" column was Poisson-like; the chat job's p99 TTFT at 14 replicas read 839 ms over
600 s and 1,461 over an hour. ``--screen-only`` prints the screen's columns without simulating (run it on two
checkouts to compare a change of the screen).

serve44: the screen's p99 TPOT column is at the simulated budget (``BUDGET``), where it was the least over the three
budgets (512 on the chat and RAG jobs: 47-59 ms against the simulated 53-76; at 2,048 65-72).

serve43: the p99 TTFT column is the screen's as it states it (``burst_ttft``: an overloaded state counts the request's own
prefill, and the mixture is capped at the most replicas a burst overloads, so it never rises with a replica).

serve45: an overloaded state waits only once its slots fill (``fill_reach``) and then the reflected Brownian queue
(``overload_wait_scale``); ``--factors`` prints the screen / simulated factor per row against ``SIMULATED`` (the
README's factor table).

    PYTHONPATH=$PWD python benchmarks/burst_screen.py   (~15 min; --screen-only / --factors ~20 s)
"""
from __future__ import annotations

import sys
from dataclasses import replace

from hardware_catalog import load_catalog
from planner.simulate.serving import ArrivalSpec
from planner.spec import load_job_dict
from planner.workloads.serving_screen import (ServeTarget, burst_parts, burst_quantile, burst_ttft, llm_option,
                                              llm_ttft, screen_concurrency)
from planner.workloads.serving import _options, _sim_config
from planner.workloads.serving_iteration import option_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_queue import TPOT_QUANTILE, TTFT_QUANTILE, screen_tpot
from planner.workloads.serving_settings import settings_for, sim_workload
from planner.simulate.serving import simulate_serving

#: (name, job, instance, tp, replica counts)
JOBS = (
    ("chat 800/200", {"model": {"preset": "llama3-8b"}, "serving": {"qps": 40, "p99_latency_ms": 50, "ttft_ms": 1000,
     "prompt_tokens": 800, "output_tokens": 200, "max_batch": 256}}, "aws:g6e.xlarge", 1, (12, 14, 16)),
    ("RAG 6000/150", {"model": {"preset": "llama3-8b"}, "serving": {"qps": 8, "p99_latency_ms": 60, "ttft_ms": 3000,
     "prompt_tokens": 6000, "output_tokens": 150, "max_batch": 256}}, "aws:p5.4xlarge", 1, (3, 4, 5)),
    ("long output 300/1500", {"model": {"preset": "llama3-8b"}, "serving": {"qps": 4, "p99_latency_ms": 40,
     "ttft_ms": 1000, "prompt_tokens": 300, "output_tokens": 1500, "max_batch": 256}}, "aws:p5.4xlarge", 1, (2, 3, 4)),
)
#: (burst_factor, burst_share, burst_s)
SHAPES = ((4.0, 0.25, 10.0), (8.0, 0.1, 30.0), (4.0, 0.25, 2.0))
SECONDS, BUDGET = 3600.0, 2048
#: the simulated p99 TTFT (ms) of each job, shape and replica count above: an hour of mmpp arrivals, seed 0, no event
#: bound (the run at commit 36ff9438, README "Bursty arrivals"; the simulation is bit-identical since for llama3-8b,
#: srv44). ``--factors`` sets the screen against these without simulating (tests/test_burst45.py)
SIMULATED = {
    0: ((10066, 1461, 329), (112071, 83527, 62479), (379, 320, 298)),
    1: ((19706, 4848, 1207), (219503, 136208, 89068), (4908, 1570, 864)),
    2: ((42, 39, 39), (53555, 52, 44), (42, 40, 38)),
}
#: the range of screened / simulated p99 TTFT over that grid since serve45 (``--factors``): the screen is at most this
#: far under the simulated hour, and at most this far over it (the long-output job's 30 s bursts on 3 replicas)
FACTOR_RANGE = (0.45, 35.0)  # 0.6 until qa85 clipped the screen's prompts at the model's context: the RAG job's 2 s
# (bursts on 5 replicas read 0.46x: 397 / 864 ms)
#: the simulations' event bound: none (an hour of the chat job at 12-16 replicas is ~10^6 engine events)
MAX_EVENTS = 10**9


def screen_ttft(job: int, shape: tuple, r: int) -> float:
    """The p99 TTFT (s) the screen states for JOBS[job] on ``r`` replicas under the burst ``shape`` at ``BUDGET``."""
    name, jd, inst, tp, _ = JOBS[job]
    jb = load_job_dict({**jd, "constraints": {"instances": [inst]}})
    m, s = served_model(jb.model), jb.serving
    hw = next(h for h in _options(jb, load_catalog(), None) if h.name == inst)
    im = option_iteration(m, s, hw, tp)
    opt = llm_option(m, s, hw, tp, ServeTarget(s.p99_latency_ms / 1e3, s.ttft_ms / 1e3, None), im)
    spec = ArrivalSpec("mmpp", s.qps, SECONDS, burst_ratio=shape[0], burst_share=shape[1], burst_s=shape[2])
    tgt = ServeTarget(s.p99_latency_ms / 1e3, s.ttft_ms / 1e3, s.qps,
                      tuple((w, x / s.qps, t) for w, x, t in spec.states()))
    return burst_ttft(m, s, hw, tp, tgt, opt.batch, r, opt.requests_per_s_per_replica, im, BUDGET)


def factors() -> list:
    """[(job name, shape, replicas, screened ms, simulated ms, screened / simulated)] over the grid (``SIMULATED``)."""
    out = []
    for j, (name, _, _, _, counts) in enumerate(JOBS):
        for k, shape in enumerate(SHAPES):
            for r, sim in zip(counts, SIMULATED[j][k]):
                got = screen_ttft(j, shape, r) * 1e3
                out.append((name, shape, r, got, sim, got / sim))
    return out


def main() -> int:
    if "--factors" in sys.argv:
        print("| job | shape (x, share, s) | replicas | p99 TTFT ms screened / simulated | factor |")
        print("|---|---|---:|---|---:|")
        for name, shape, r, got, sim, f in factors():
            print(f"| {name} | {shape[0]:g}x, {shape[1]:.0%}, {shape[2]:g} s | {r} | {got:,.0f} / {sim:,} | {f:.2f}x |")
        return 0
    cat = load_catalog()
    print("| job | shape (x, share, s) | replicas | p99 TTFT ms before / after / simulated | p99 TPOT ms before / after / simulated |")
    print("|---|---|---:|---|---|")
    for name, jd, inst, tp, counts in JOBS:
        job = load_job_dict({**jd, "constraints": {"instances": [inst]}})
        m, s = served_model(job.model), job.serving
        hw = next(h for h in _options(job, cat, None) if h.name == inst)
        im = option_iteration(m, s, hw, tp)
        opt = llm_option(m, s, hw, tp, ServeTarget(s.p99_latency_ms / 1e3, s.ttft_ms / 1e3, None), im)
        b = opt.batch
        for shape in SHAPES:
            spec = ArrivalSpec("mmpp", s.qps, SECONDS, burst_ratio=shape[0], burst_share=shape[1], burst_s=shape[2])
            sim = replace(settings_for(job), arrivals="mmpp", burst=shape, min_requests=1)
            tgt = ServeTarget(s.p99_latency_ms / 1e3, s.ttft_ms / 1e3, s.qps,
                              tuple((w, r / s.qps, t) for w, r, t in spec.states()))
            wl = None if "--screen-only" in sys.argv else sim_workload(s, s.qps, SECONDS, 10**6, sim, 0, m)
            for r in counts:
                peak = spec.peak_rate / r
                conc, bb = screen_concurrency(m, s, hw, tp, peak, b, im)
                old = float(llm_ttft(im, s, conc, b, rate=peak, q=TTFT_QUANTILE, replicas=r))
                old_tpot = screen_tpot(im, s, bb, rate=peak, replicas=r)
                # the screen at the budget simulated, its TTFT and TPOT both (serve44: the TPOT was the least over the
                # budgets, 512 on the chat and RAG jobs, read under a simulation run at 2,048; serve45: one budget for
                # every figure, ``screen_point``); opt's throughput is at 2,048 (no QPS: the row is not re-stated)
                # the p99 TTFT as the screen states it (``burst_ttft``: the mixture, monotone in the replicas, serve43)
                new = burst_ttft(m, s, hw, tp, tgt, b, r, opt.requests_per_s_per_replica, im, BUDGET)
                tp_ = burst_parts(m, s, hw, tp, tgt, b, r, opt.requests_per_s_per_replica, im, BUDGET)[1]
                new_tpot = burst_quantile(tp_, TPOT_QUANTILE)
                res = {"ttft_ms": {"p99": float("nan")}, "tpot_ms": {"p99": float("nan")}}
                if "--screen-only" not in sys.argv:
                    cfg = _sim_config(m, s, hw, tp, b, BUDGET, r, tgt, sim, 30.0, im)
                    res = simulate_serving(cfg, wl, max_events=MAX_EVENTS).summary()
                print(f"| {name} ({hw.gpu.name}, batch {b}) | {shape[0]:g}x, {shape[1]:.0%}, {shape[2]:g} s | {r} | "
                      f"{old * 1e3:,.0f} / {new * 1e3:,.0f} / {res['ttft_ms']['p99']:,.0f} | "
                      f"{old_tpot * 1e3:.1f} / {new_tpot * 1e3:.1f} / {res['tpot_ms']['p99']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        raise SystemExit(main())
