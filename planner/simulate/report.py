"""Presenting a SimResult: a rich renderable for the CLI, JSON, and the timeline as CSV/JSON."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from planner.simulate.config import SimConfig
from planner.simulate.engine import BUSY, CAUSES, TIMELINE_FIELDS, SimResult, simulate


def write_timeline(result: SimResult, path: str | Path) -> int:
    """Write the timeline (rank, resource, kind, start, end) as CSV, or JSON if path ends .json.
    Returns the number of events written."""
    rows = result.timeline or []
    p = Path(path)
    if p.suffix.lower() == ".json":
        p.write_text(json.dumps([dict(zip(TIMELINE_FIELDS, r)) for r in rows]))
    else:
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(TIMELINE_FIELDS)
            w.writerows(rows)
    return len(rows)


def format_result(result: SimResult):
    """A rich renderable: headline numbers and the time split by cause (critical path)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    st = result.step_time_s
    head = Table(title="simulated training", show_header=False, box=None)
    head.add_column(justify="right", style="bold")
    head.add_column()
    head.add_row("steps", f"{result.steps:,}" + (f" ({result.simulated_steps:,} simulated, rest "
                                                  "extrapolated from steady state)" if result.extrapolated else ""))
    head.add_row("step time", f"mean {st['mean']:.4g} s   p50 {st['p50']:.4g} s   p99 {st['p99']:.4g} s")
    if result.analytic_step_time_s:
        head.add_row("analytic step", f"{result.analytic_step_time_s:.4g} s")
    head.add_row("throughput", f"{result.samples_per_s:,.1f} samples/s   {result.tokens_per_s:,.0f} tokens/s")
    head.add_row("GPU busy", f"{result.gpu_busy_share:.1%}")
    head.add_row("goodput", f"{result.goodput:.1%}" + (f"  ({result.failures} failures, "
                                                        f"{result.lost_steps} steps redone)" if result.failures else ""))
    head.add_row("wall", f"{result.wall_s / 3600:.3g} h")
    t = Table(title="where the time goes (critical path)")
    t.add_column("cause")
    t.add_column("seconds", justify="right")
    t.add_column("share", justify="right")
    for k in CAUSES:
        v = result.time_by_cause_s.get(k, 0.0)
        if v > 0 or k in BUSY:
            t.add_row(k + ("" if k in BUSY else " (idle)"), f"{v:,.1f}", f"{v / result.wall_s:.1%}")
    parts = [head, t]
    for n in result.notes:
        parts.append(Text(n, style="dim"))
    parts.append(Text(f"{result.events:,} events in {result.runtime_s:.2f} s, seed {result.seed}", style="dim"))
    return Group(*parts)


def run_simulate_command(job, detail: dict, steps: int | None = None, seed: int = 0,
                         json_out: bool = False, timeline_path: str | None = None):
    """What ``planner simulate job.yaml [--steps N] [--seed S] [--json] [--timeline out.csv]`` does:
    build the SimConfig from the estimator's ``detail`` and the job, simulate, print. Returns the
    SimResult."""
    cfg = SimConfig.from_detail(detail, job)
    n = steps or 1000
    res = simulate(cfg, steps=n, seed=seed, timeline=timeline_path is not None)
    if timeline_path:
        write_timeline(res, timeline_path)
    if json_out:
        print(json.dumps(res.to_dict()))
    else:
        from rich.console import Console

        Console().print(format_result(res))
    return res
