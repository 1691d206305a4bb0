"""The p99 TPOT the screen states against the simulated one (servetpot36): every option of the chat and 70b examples
simulated as ``benchmarks/sim_vs_analytic_replicas.py`` simulates them (its ``measure`` hook on ``_refine_realtime``),
and where the simulation keeps the analytic replica count, the stated ``tpot_ms`` (the open fleet's since
servetpot36, a backlog's before) against the simulated fleet's p99 TPOT at that count. Prints one row per such
option and the ratio's median, range and the counts within 10% / 25%. The findings are in docs/serving_notes.md
("servetpot36").

    PYTHONPATH=$PWD python benchmarks/stated_tpot.py [job.yaml ...]   (~2 CPU minutes)
"""
from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from planner.spec.load import load_job
from planner.workloads import serving
from planner.workloads.serving_settings import settings_for

EXAMPLES = ("examples/serving-llama3-8b-chat.yaml", "examples/serving-llama3-70b.yaml")


def main(argv=None) -> int:
    paths = (argv if argv is not None else sys.argv[1:]) or list(EXAMPLES)
    ratios = []
    for path in paths:
        print(path)
        job = load_job(path)
        sim = replace(settings_for(job), candidates=10 ** 6, plan_event_bound=100_000_000)
        refine = serving._refine_realtime

        def record(row, *args, **kw):
            out = refine(row, *args, **kw)
            d = out.simulated
            if d and d.get("meets_targets") and d["replicas"] == row.replicas and row.tpot_ms:
                ratios.append(d["tpot_ms"]["p99"] / row.tpot_ms)
                print(f"  {row.hardware:<38} TP{row.tp}  {row.replicas:>3} replicas  stated {row.tpot_ms:6.1f} ms  "
                      f"simulated {d['tpot_ms']['p99']:6.1f} ms  {ratios[-1]:.2f}x", flush=True)
            return row  # the analytic row back: every option is simulated (sim_vs_analytic_replicas.measure)

        serving._refine_realtime = record
        try:
            serving.plan_serving(job, sim=sim)
        finally:
            serving._refine_realtime = refine
    r = np.array(ratios)
    if len(r):
        print(f"{len(r)} options kept at the analytic count: simulated / stated p99 TPOT median {np.median(r):.2f}, "
              f"{r.min():.2f} to {r.max():.2f}, within 10% {int((abs(r - 1) <= 0.1).sum())}, within 25% "
              f"{int((abs(r - 1) <= 0.25).sum())}")
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        raise SystemExit(main())
