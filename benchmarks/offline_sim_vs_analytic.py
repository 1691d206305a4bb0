"""How the simulated backlog moves an offline job's analytic time (``serving._refine_offline`` against
``serving_screen.offline_run``): each shipped serving example is planned as an offline job (``serving.mode: batch`` and
``serving.requests``; the batch example as it ships) with every option the analytic screen lists simulated, and the
ratio simulated / analytic $ per million requests (the fleet's time at the same replicas and price) printed per option
with its extremes, the spread ``serving_budget.OFFLINE_ANALYTIC_TO_SIMULATED`` states for an offline option the
simulation did not size.

    PYTHONPATH=$PWD python benchmarks/offline_sim_vs_analytic.py [job.yaml ...]
"""
from __future__ import annotations

import sys
from dataclasses import replace

from planner.spec.load import load_job
from planner.workloads import serving
from planner.workloads.serving_settings import settings_for

EXAMPLES = ("examples/serving-batch-llama3-8b.yaml", "examples/serving-llama3-8b-chat.yaml",
            "examples/serving-llama3-70b.yaml")
#: the real-time examples' size as an offline job: an hour of their QPS would be ~1e5 requests; this many keeps the
#: simulated share whole on one replica (``OFFLINE_SIM_REQUESTS``)
REQUESTS = 100_000


def measure(path: str) -> list[tuple[str, int, float]]:
    job = load_job(path)
    if job.serving.mode != "batch":
        s = job.serving.model_copy(update={"mode": "batch", "requests": REQUESTS, "qps": None,
                                           "p99_latency_ms": None, "ttft_ms": None})
        job = job.model_copy(update={"serving": s})
    sim = replace(settings_for(job), candidates=10 ** 6, plan_event_bound=100_000_000)
    plan = serving.plan_serving(job, sim=sim)
    return [(f"{o.hardware} {o.precision}", o.tp, o.simulated["usd_per_million_requests"]
             / o.usd_per_million_requests_offline) for o in plan.options
            if o.simulated and o.simulated.get("usd_per_million_requests") and o.usd_per_million_requests_offline]


def main(argv=None) -> int:
    paths = (argv if argv is not None else sys.argv[1:]) or list(EXAMPLES)
    every = []
    for path in paths:
        print(path)
        rows = measure(path)
        for name, tp, r in rows:
            every.append((r, path.rsplit("/", 1)[-1], f"{name} TP{tp}"))
            print(f"  {name:<40} TP{tp:<2} simulated / analytic {r:.3f}", flush=True)
        if rows:
            print(f"  {len(rows)} options {min(r for *_, r in rows):.3f} to {max(r for *_, r in rows):.3f}")
    # three decimals and the option at each end: what ``OFFLINE_ANALYTIC_TO_SIMULATED``'s comment cites
    (lo, lo_job, lo_opt), (hi, hi_job, hi_opt) = min(every), max(every)
    print(f"{len(every)} options: simulated / analytic {lo:.3f}x ({lo_job}, {lo_opt}) to {hi:.3f}x "
          f"({hi_job}, {hi_opt}); {sum(r < 1 for r, *_ in every)} under 1")
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        raise SystemExit(main())
