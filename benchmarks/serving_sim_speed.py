"""Speed of the serving simulation on the shape that made ``planner serve`` take minutes (wall-clock;
tests never assert it).

The job: Llama-3-8B chat (800 prompt / 200 output tokens on average, lognormal, cv 0.5), bursty (MMPP)
arrivals at 40 QPS, a 50 ms p99 TPOT and 1 s p99 TTFT target, on A10G / L4 instances. Its options need
10-100 small replicas, each lightly loaded, so every simulated request is a few engine events and every
replica steps on its own: a search run (8,000 requests, ~7M tokens) is ~20,000 events and 40,000-360,000
engine iterations.

1. One simulation of ~1M tokens (the first ~1,000 requests of the search run) at that shape: 28 TP2
   replicas of aws:g5.12xlarge, token budget 512, 64 sequences.
2. The same at the search run's size (180 s of arrivals, ~7,100 requests, ~7M tokens).
3. ``--plan``: ``plan_serving`` on the whole job (the 4 cheapest options, each searched over replica
   counts and token budgets, then confirmed on 30,000 requests): the runs it made and its wall time.

Run: ``python benchmarks/serving_sim_speed.py [--plan]``. Prints requests, tokens, engine iterations and
events, wall seconds and requests simulated per wall-second.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.hardware.options import option_from_cluster  # noqa: E402
import numpy as np  # noqa: E402

from planner.simulate.serving import ArrivalSpec, Workload, simulate_serving  # noqa: E402
from planner.spec import ClusterSpec, load_job_dict  # noqa: E402
from planner.workloads import serving as ws  # noqa: E402

JOB = {"model": {"preset": "llama3-8b"},
       "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 40, "prompt_tokens": 800, "output_tokens": 200,
                   "max_batch": 256, "arrivals": "mmpp"},
       "constraints": {"clouds": ["aws"], "gpus": ["L4-24GB", "A10G-24GB"]}}


def one(label: str, seconds: float, replicas: int = 28, tokens: float | None = None):
    job = load_job_dict(JOB)
    s, m, sim = job.serving, ws.served_model(job.model), ws.settings_for(job)
    hw = option_from_cluster(ClusterSpec(instance="aws:g5.12xlarge"))
    wl = ws._draw(s, ArrivalSpec("mmpp", rate=40.0, duration_s=seconds), sim, m.context_length, 0)
    if tokens:  # the first requests that hold about this many prompt + output tokens
        n = int(np.searchsorted(np.cumsum(wl.prompt + wl.output), tokens)) + 1
        wl = Workload(wl.arrival_s[:n], wl.prompt[:n], wl.output[:n])
    cfg = ws._sim_config(m, s, hw, 2, 64, 512, replicas, ws.ServeTarget(0.05, 1.0, 40.0), sim, min(30.0, wl.span_s / 6))
    t0 = time.perf_counter()
    res = simulate_serving(cfg, wl)
    wall = time.perf_counter() - t0
    tokens = int(wl.prompt.sum() + wl.output.sum())
    print(f"{label:<44} {len(wl):>6,} req {tokens / 1e6:5.2f}M tok {res.iterations:>8,} it {res.engine_events:>7,} ev "
          f"{wall:6.2f} s wall  {len(wl) / wall:8,.0f} req/s  p99 TTFT {res.ttft.p99 * 1e3:5.0f} ms  "
          f"p99 TPOT {res.tpot.p99 * 1e3:5.1f} ms")


def plan():
    job = load_job_dict(JOB)
    runs = []
    t0 = time.perf_counter()
    res = ws.plan_serving(job, progress=lambda done, total, what: runs.append(what))
    wall = time.perf_counter() - t0
    sims = [r for r in res["options"] if r.get("simulated")]
    trials = sum(r["simulated"].get("trials", 0) for r in sims)
    b = res["best"]
    print(f"{'plan_serving (MMPP chat on A10G / L4)':<44} {wall:7.1f} s wall, {len(sims)} options simulated, "
          f"{trials} search/confirm runs; best {b['hardware']} TP{b['tp']} x {b['replicas']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", action="store_true", help="also time plan_serving on the whole job (minutes)")
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}")
    one("~1M tokens: the search run's first requests", 180.0, tokens=1e6)
    one("search-run size: 180 s of MMPP arrivals", 180.0)
    if a.plan:
        plan()


if __name__ == "__main__":
    main()
