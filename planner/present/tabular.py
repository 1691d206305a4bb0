"""Terminal rendering (rich) of a tabular / GBDT plan (``planner.workloads.tabular``)."""
from __future__ import annotations

from rich.table import Table

from planner.present.safe import esc, print_marked
from planner.results import TabularPlan
from planner.vocab import ON_DEMAND, SPOT
from planner.units import fmt_hours_column, fmt_time, fmt_usd_cents as _usd


def workload_line(res: TabularPlan) -> str:
    """What was timed, in one line: the library, rows x features, depth, the trees each run is timed at (with early
    stopping, the expected count and what it saves) and the runs -- the terminal's first line and the report's first
    assumption (QA 44: the report left it out, so a review of the gbdt example never said its times are at 301 of the
    500 trees, early stopping's saving of 40%)."""
    return (f"{res['library']} hist: {res['rows']:,.0f} rows x {res['features']} features, depth {res['depth']}, "
            + (f"max_bin {res['max_bin']}, " if res.get("max_bin", 256) != 256 else "")
            # "(0 saved by early stopping)" was printed for a job without early stopping: said only when it saves trees
            + (f"{res['trees_expected']:,.0f} trees expected of {res['trees_cap']:,} "
               f"({res['trees_saved_by_early_stopping']:,.0f} saved by early stopping), "
               if round(res['trees_saved_by_early_stopping']) > 0 else f"{res['trees_cap']:,} trees, ")
            + f"{res['runs']:,} run{'' if res['runs'] == 1 else 's'}; "
            f"data {res['memory_host_gib']:.2f} GiB in RAM")


def rate_lines(res: TabularPlan) -> list[str]:
    """Where each kind's training rate comes from ("CPU rate: measured ...", "GPU rate: prior ..."), for the kinds the
    search had options of ("CPU rate: None" was printed for a search with no CPU option)."""
    return [f"{kind.upper()} rate: {res[f'{kind}_rate_source']}" for kind in ("cpu", "gpu") if res[f"{kind}_rate_source"]]


def range_words(acc: dict, total: str = "") -> str:
    """A GBDT plan's likely time and cost (``tabular.tabular_accuracy``) in one cell, or why there is none."""
    if not acc.get("hours_range"):
        return "none: only a prior stands (GPU time)" if acc.get("prior_only") else "none: the job's own measured rate"
    (h0, h1), (c0, c1) = acc["hours_range"], acc["cost_usd_range"]
    return (f"{fmt_time(h0 * 3600)} to {fmt_time(h1 * 3600)}, {_usd(c0)} to {_usd(c1)}{' ' + total if total else ''} "
            f"(predicted {fmt_time(acc['hours'] * 3600)}, {_usd(acc['cost_usd'])})")


def render_tabular(con, res: TabularPlan, top: int = 10) -> None:
    """The GBDT plan: the ranked instances, the recommendation, where the rates come from."""
    con.print(esc(workload_line(res)))
    t = Table(title=f"top {min(top, len(res['ranked']))} of {len(res['ranked'])} instances — objective: {res['objective']}, "
                    + ("spot prices" if res.get("spot") else "on-demand prices"))
    for c in ("#", "instance", "kind", "vCPUs", "GPU", "$/h", "time", "cost"):
        t.add_column(c, justify="left" if c in ("instance", "kind", "GPU") else "right")
    shown = res["ranked"][:top]
    times = fmt_hours_column([r["hours"] for r in shown])  # one unit for the column ("4.4 h" above "98.6 min")
    for i, (r, time) in enumerate(zip(shown, times), 1):
        t.add_row(str(i), esc(r["instance"]), r["kind"], f"{r['vcpus']:.0f}" if r["vcpus"] else "-", r["gpu"] or "-",
                  f"{r['price_usd_hr']:.3f}", time, _usd(r["cost_usd"]))
    con.print(t)
    con.print(f"[bold green]recommended:[/] {esc(res['why'])}")
    for line in rate_lines(res):
        con.print(f"[dim]{esc(line)}[/]")
    acc = res.get("accuracy")
    if acc:  # the likely range from the rate's measured error, or that only a prior stands (tabular_accuracy)
        # no range: the basis says why, so the cell's short reason ("none: only a prior stands (GPU time)") is not
        # printed before it ("accuracy: none: only a prior stands (GPU time): only a prior stands for the GPU time")
        head = range_words(acc) if acc.get("hours_range") else "none"
        con.print(f"[yellow]accuracy:[/] {esc(head)}: {esc(acc['basis'])}", highlight=False)
    for r in res["rejected"][:5]:
        con.print(f"[dim]does not fit: {esc(r['instance'])}: {esc(r['reason'])}[/]")
    print_marked(con, "assumed", res["assumptions"])


def tabular_csv(res: TabularPlan, catalog=None) -> str:
    """``recommend --csv`` for a GBDT job: the ranked instances (those that fit and meet the constraints, best first),
    one row each with every field of ``TabularOption`` and the price its ``$/h`` and costs are at (``price_basis``:
    spot or on-demand, as the table's title says). Until QA 37 a tabular job's ``--csv`` was refused ("only for
    training plans") although the table has ranked rows, as a training plan's does.

    The columns are ``TabularOption``'s fields, in order, then ``price_date`` (the date of the rate the row's ``$/h``
    is, ``model.cost.rate_date``, as a training plan's ``--csv`` has it since QA 55b; empty where the catalog has none)
    and ``price_basis``; the header is written when nothing ranked too."""
    import csv
    import io
    from dataclasses import asdict, fields

    from planner.model.cost import rate_date
    from planner.results import TabularOption

    basis = SPOT if res.spot else ON_DEMAND
    cols = [f.name for f in fields(TabularOption)] + ["price_date", "price_basis"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols, lineterminator="\n")
    w.writeheader()
    for o in res.ranked:
        w.writerow({**asdict(o), "price_date": rate_date(catalog, o.instance, basis) or "", "price_basis": basis})
    return buf.getvalue()
