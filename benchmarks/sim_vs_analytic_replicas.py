"""How the serving simulation moves the analytic replicas (``queue_replicas``): every option of a real-time job that
the analytic screen lists as meeting its targets is simulated at the job's settings (``_refine_realtime``, as
``plan_serving`` runs it, with the same per-plan cache), not only the cheapest ``SimSettings.candidates`` -- the
plan's early stop is sidestepped by handing ``plan_serving`` back each option's analytic row after recording what
the simulation made of it (an option whose decode step at batch 1 is over the TPOT target less ``serving.margin`` is
rejected before the simulation since tpot33 -- no size can be confirmed -- and is not among the rows). Prints one row
per option (analytic -> simulated replicas, or "miss" where no count up
to the cap met the targets) and the counts kept / added / removed / missed, the numbers serving.py's comment above
``_ranking`` and README's "The analytic replicas hold the queued TTFT" state.

    PYTHONPATH=$PWD python benchmarks/sim_vs_analytic_replicas.py [job.yaml ...]

Defaults to examples/serving-llama3-8b-chat.yaml and examples/serving-llama3-70b.yaml (~2 CPU minutes for both, 4.5
minutes wall on a shared 2-core machine).
"""
from __future__ import annotations

import sys
from dataclasses import replace

from planner.spec.load import load_job
from planner.workloads import serving
from planner.workloads.serving_budget import fleet_bound
from planner.workloads.serving_settings import settings_for

EXAMPLES = ("examples/serving-llama3-8b-chat.yaml", "examples/serving-llama3-70b.yaml")


def measure(path: str) -> list[tuple[str, int, int, int | None, int, str, str]]:
    """(option, TP, analytic replicas, simulated replicas or None for a miss, simulation runs, why it missed, what
    sets its replicas: ``serving_budget.fleet_bound``) per option simulated."""
    job = load_job(path)
    # every listed option simulated, under the largest plan bound (a bound reached would leave options unsimulated)
    sim = replace(settings_for(job), candidates=10 ** 6, plan_event_bound=100_000_000)
    seen, refine = [], serving._refine_realtime

    def record(row, *args, **kw):
        out = refine(row, *args, **kw)
        d = out.simulated
        got = d["replicas"] if d and d.get("meets_targets") else None
        seen.append((f"{row.hardware} {row.precision}", row.tp, row.replicas, got, (d or {}).get("trials", 0),
                     "" if got else out.reason, fleet_bound(row, job.serving.qps)))
        return row  # the analytic row back: best_key stays unset, so plan_serving simulates the next option too

    serving._refine_realtime = record
    try:
        serving.plan_serving(job, sim=sim)
    finally:
        serving._refine_realtime = refine
    return seen


def main(argv=None) -> int:
    paths = (argv if argv is not None else sys.argv[1:]) or list(EXAMPLES)
    total = {"kept": 0, "added": 0, "removed": 0, "miss": 0}
    ratios: dict[str, list[float]] = {}  # simulated / analytic replicas per what sets the replicas
    for path in paths:
        print(path)
        for name, tp, an, got, trials, why, bound in measure(path):
            how = "miss" if got is None else "kept" if got == an else "added" if got > an else "removed"
            total[how] += 1
            if got is not None:
                ratios.setdefault(bound, []).append(got / an)
            print(f"  {name:<40} TP{tp:<2} analytic {an:>4} -> {'miss' if got is None else got:>4}  {how:<7} "
                  f"{bound:<10} ({trials} runs){'; ' + why if why else ''}", flush=True)
    n = sum(total.values())
    print(f"{n} options simulated: " + ", ".join(f"{k} {v}" for k, v in total.items()))
    # the spread serving_budget.ANALYTIC_TO_SIMULATED states, apart by what sets the replicas (fleet_bound)
    for bound, r in sorted(ratios.items()):
        print(f"  {bound:<10} {len(r):>3} options: simulated / analytic {min(r):.2f}x to {max(r):.2f}x")
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        raise SystemExit(main())
