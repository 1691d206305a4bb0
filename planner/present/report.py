"""The budget-review report: ``planner report job.yaml -o report.html|report.md``.

One document a team takes to the meeting where GPUs are bought or rented: the recommendation and
why, the top alternatives, the cost (on-demand, spot, buy vs rent), memory and step-time
breakdowns as charts, a sensitivity table, the risks (what limits the plan now, what limits it
next, memory headroom) and every assumption (catalog prices with their dates and sources,
calibration measured or assumed, defaults filled in).

The numbers are the search's own: ``build_report`` takes the dict ``planner.search.recommend.recommend``
returns (the same object ``planner recommend --json`` prints) and only formats it; the
sensitivity rows are ``planner.interactive.sensitivity`` (``estimate_job`` per point). Both formats
carry the headline numbers as JSON (``<script id="planner-summary">`` in HTML, an HTML comment
in Markdown) so that a script — or the test — can check them against ``recommend --json``.

Charts are altair specs rendered to inline SVG with ``vl-convert`` (the ``app`` extra), so the
HTML is one self-contained file that opens offline; Markdown gets the SVGs as files in
``<name>_files/`` next to it. Without ``vl-convert`` the HTML embeds the Vega-Lite specs for
vega-embed (needs the network when opened) and the Markdown links the ``.vl.json`` specs.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional
from urllib.parse import quote

if TYPE_CHECKING:  # annotations only: the caller's frames (pandas loads where a table is built)
    import pandas as pd

from planner.errors import InputError
from planner.hardware.options import calibrate_hint
from planner.model.cost import BLOCK_INSTANCES_PER_BLOCK, BLOCK_MAX_H, BLOCK_MAX_INSTANCES, rate_after
from planner.results import (MEMORY_PARTS, CampaignPlan, ServingPlan, TabularPlan, checkpoint_words, evaluation_line,
                             jsonable, ranked_price, replica_layout)
from planner.vocab import JOB_RATE, ON_DEMAND, RATE_NAMES, SPOT
from planner.present.safe import clean
from planner.search.explain import (LABELS, mfu_hfu, most_loaded_words, peak_rank_line, throughput_words, plan_searched_columns, stack_table_cells,
                                    utilisation_columns, view_searched_columns)
from planner.search.rank import cost_of, hours_of
from planner.units import (fmt_years, params_str, count_of, fmt_gib_pair, fmt_run_time, fmt_step_s, config_str, device_of, hardware_str, fmt_count, fmt_steps, fmt_hours_column, fmt_time_column, fmt_gib, fmt_step_share, fmt_many, fmt_pct, fmt_rate,
                           fmt_share, fmt_sig, fmt_time, fmt_usd, fmt_usd_cents, fmt_given)
from planner.spec import JobSpec
from planner.present import charts
from planner.present.charts import sweep_verdicts
from planner.present.serving import (budget_rate, buy_words, engine_words, spot_whatif_words, offline_words,
                                     options_notes, options_table, trace_note, usd_per_million)
from planner.present.tabular import range_words, rate_lines, workload_line
from planner.present.terminal import (at_rate, rate_name, accuracy_line, price_dates_words, accuracy_range, checkpoint_line, cheaper_words, utilisation_words, breakeven_months, over_words, per_million, spot_causes,
                                      spot_range, tokens_words, memory_notes, price_check_lines,
                                      result_price_check_lines)
from planner.workloads.sensitivity import SENSITIVITY, sensitivity
from planner.outputs import REPORT, output_target, write_outputs
from hardware_catalog import DEFAULT_NETWORK_GBPS, load_catalog
from planner.workloads.serving import NO_TPOT, tpot_words
from planner.workloads.serving_budget import range_cell
from planner.workloads.training import recommend

GiB = 2**30
SENSITIVITY_INPUTS = ("nodes", "micro_batch", "inter_node_gbps")
HEADROOM_WARN = 0.10  # under 10% free memory, fragmentation or a longer batch can tip it over


# --------------------------------------------------------------------------------------------
# the document as data: sections of paragraphs, lists, tables and charts
# --------------------------------------------------------------------------------------------
@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Chart:
    name: str  # file stem for Markdown assets
    chart: Any  # an altair chart
    alt: str


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # str (paragraph) | list[str] (bullets) | Table | Chart


@dataclass
class Report:
    title: str
    sections: list[Section]
    summary: dict  # machine-readable headline numbers


def _cost(row: dict, spot: bool):
    """The run's cost at the price the plan is ranked at: a spot plan's expected cost with
    interruptions where modelled (``planner.search.rank.cost_of``), as in ``why`` and the ranking."""
    return cost_of(row, spot)


def _num(x: Optional[float], spec: str, small: bool = False) -> str:
    """A number in a table cell, "-" where it is missing or NaN; ``small``: a value under 1 to three
    significant figures (a CNN's $0.0216 per million requests read "0.02")."""
    if x is None or x != x:
        return "-"
    return fmt_sig(x, 3) if small and 0 < abs(x) < 1 else format(x, spec)


def _share(x: float) -> str:
    """A share that may be tiny: 0.3%, 12%, not "0%"; under 0.05% "<0.1%" (a 4-second run's share of a 3-year term
    read "this run uses 0.0%")."""
    return "<0.1%" if 0 < x < 0.0005 else f"{x:.1%}" if x < 0.1 else f"{x:.0%}"


def _input_value(v: float) -> str:
    """An on-prem input as a person reads it: 300,000 (a server price was "3e+05"), 0.035, 10.2."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.4g}"


def _hours(h: float) -> str:
    """Billed hours as a person reads them: 0.79 h, 12.5 h, 1,862 h (a 48-minute run is not "1 h")."""
    return f"{h:,.0f} h" if h >= 100 else f"{h:.3g} h"


def analytic_caveat(best: dict) -> str:
    """When the winner's step was re-timed by the simulator (a data-bound plan), the tables built
    from the search's analytic table or from ``estimate_job`` (Pareto front, sensitivity, chart)
    show compute-bound times: say so, with the gap, so that they are not read as the plan's."""
    sim = best.get("simulated") or {}
    a, t = sim.get("analytic_step_time_s"), sim.get("step_time_s")
    if not (a and t) or abs(t / a - 1) < 0.01:
        return ""
    return (f"analytic (compute-bound) times: they leave out the simulated data-loading stall, which makes "
            f"the recommended plan's step {fmt_time(t)} instead of {fmt_time(a)}")


def _buy_parts(buy: dict) -> str:
    """What an owned node-hour is made of (``cost.owned_node_hour_cost``), each per useful hour, so the rate can be
    added up: it read "capex $1.38M amortised over 4 years at 80% utilisation, plus power and hosting", leaving out
    the staff and support share (3.64 of 18.99 $/node-h for an HGX H100 node) and the residual value."""
    per, res = buy["per_hour"], (buy.get("inputs") or {}).get("residual_value_fraction", {}).get("value", 0.0)
    return (f"per hour of use at {utilisation_words(buy)}: capex {per['capex']:.2f} "
            f"({fmt_usd(buy['capex_usd'])}" + (f" less {res:.0%} residual value" if res else "")
            + f" over {fmt_years(buy['amortisation_years'])}), staff and support {per['staff_support']:.2f}, "
            f"power {per['power']:.2f}, hosting {per['hosting']:.2f}")


def _breakeven_words(buy: dict, hw: dict, cost: dict | None = None) -> str:
    """The break-even utilisation (``cost.breakeven_utilisation``) in words; at 1 or more owning never beats on-demand,
    and the line says so with the owned node-hour when busy every hour (a $1.5M server read "only if the cluster
    stays busy above 113% of its 4-year life"). ``cost``: the plan's, whose rent it is set against (``at_rate``: the
    job's own rate where it gives one, QA 60)."""
    u = buy["breakeven_utilisation"]
    if u is not None and u >= 1:
        return (f"Owning never beats renting {at_rate(cost)} at these inputs: busy every hour of its "
                f"{fmt_years(buy['amortisation_years'], '-year')} life, an owned node-hour costs "
                f"{buy['node_hour_usd'] * buy['utilisation']:.2f} $/node-h against {hw['price_ondemand_usd_hr']:.2f}")
    return (f"Owning beats renting {at_rate(cost)} only if the cluster stays busy above {fmt_pct(u)} of its "
            f"{fmt_years(buy['amortisation_years'], '-year')} life ({breakeven_months(buy)})")


def _block_days(billed_hours: float) -> str:
    """What the run buys as Capacity Blocks (``cost.capacity_block_hours``): one block in whole days, or past AWS's
    182 days a block (``cost.BLOCK_MAX_H``) the back-to-back blocks: a 297-day run on 32 p5.48xlarge read "the
    block to buy is 266 days", a block AWS does not sell (QA 45)."""
    days = count_of(round(billed_hours / 24), "day")
    if billed_hours <= BLOCK_MAX_H + 1e-6:
        return f"the block to buy is {days}"
    full, rest = divmod(billed_hours, BLOCK_MAX_H)
    parts = [f"{BLOCK_MAX_H / 24:.0f}"] * int(full) + ([f"{rest / 24:.0f}"] if rest > 1e-6 else [])
    return (f"the blocks to buy are {' + '.join(parts)} days back to back ({days}; AWS sells at most "
            f"{BLOCK_MAX_H / 24:.0f} days a block)")


def _committed_line(c: dict, hw: dict, today: Optional[_dt.date] = None, cost: dict | None = None) -> str:
    """The report's line for one committed price (``cost.committed_costs``): the run's share, what signing the
    1-/3-year term or buying the capacity block bills (whole terms; a block in whole days, then weeks), and where
    the committed rate is not below on-demand, that it never beats it ("busy more than 116% of the term" was
    printed for a catalog override's on-demand rate below the shipped 1-year one). Where the commitment's region is not
    the on-demand rate's (``region_differs``), the comparison names both regions: gcp:a3-megagpu-8g's us-east4 terms
    were set against a us-central1 rate with nothing saying so. With the job's own rate (``cost.price_basis``
    "cluster.price_usd_hr") the on-demand rate is the catalog's (``cost.catalog_ondemand_usd_hr``), not the job's
    (QA 60: a $30 reserved rate was "the on-demand 30.00"), or none where the catalog has none."""
    stated = (cost or {}).get("price_basis") == JOB_RATE
    nodes, od = hw["nodes"], (cost["catalog_ondemand_usd_hr"] if stated else hw.get("price_ondemand_usd_hr"))
    never = (f"; at {c['price_usd_hr']:.2f} $/node-h it is not below the on-demand {od:.2f}, so it never beats on-demand"
             if od and c["price_usd_hr"] >= od else "")
    if c.get("commitment_usd") is None:
        bills = ""
    elif c["term"] == "capacity-block":  # bought for the run, in whole days (then weeks), paid up front
        # what the block costs against renting the run's own hours on-demand: the block is the bill, and a short run
        # pays for a whole day (a 53-minute run: a $943.92 block against $48.73 on-demand, where the line led with
        # "$34.82 for this run's hours" and never compared the two)
        od_run = c["run_cost_usd"] / c["price_usd_hr"] * od if od else None
        versus = ("" if never or not od_run else
                  f"; on-demand for the same hours costs {fmt_usd(od_run)}, so the block saves "
                  f"{fmt_pct(1 - c['commitment_usd'] / od_run)}" if c["commitment_usd"] < od_run else
                  f"; on-demand for the same hours costs {fmt_usd(od_run)}: the block costs "
                  f"{over_words(c['commitment_usd'] / od_run).replace(' above', ' more than')} "
                  "that, and pays only for a run that fills more of it")
        side = c.get("blocks_side_by_side") or 1  # AWS sells at most 64 instances a block: 128 nodes read "the block"
        bills = (f" — {_block_days(c['billed_hours'])} ({count_of(nodes, 'node')} x "
                 f"{c['billed_hours']:,.0f} h, paid up front): {fmt_usd(c['commitment_usd'])}, of which this run uses "
                 f"{_share(c['run_share'])}" + (never or versus)
                 + (f"; bought as {side} blocks side by side (AWS sells at most {BLOCK_INSTANCES_PER_BLOCK} instances a "
                    "block)" if side > 1 else "")
                 + (f"; AWS allows at most {BLOCK_MAX_INSTANCES} instances across Capacity Blocks, fewer than these "
                    f"{nodes:,} nodes" if nodes > BLOCK_MAX_INSTANCES else ""))
    else:  # a 1-/3-year term bills every hour of it: what signing commits to, not only this run's hours
        n = c.get("terms") or 1  # a run past one term signs several back to back (QA 47: "the 1yr term" of 17,520 h)
        bills = ((f" — the {c['term']} term bills " if n == 1 else f" — {n} {c['term']} terms back to back bill ")
                 + f"{fmt_usd(c['commitment_usd'])} ({count_of(nodes, 'node')} x "
                 f"{c['billed_hours']:,.0f} h, busy or not), of which this run uses {_share(c['run_share'])}"
                 + (never or (f"; it beats on-demand only if the nodes are busy more than {fmt_pct(c['breakeven_busy'])} "
                              "of the term" if c.get("breakeven_busy") else "")))
    if c.get("region_differs") and (never or c.get("breakeven_busy")):
        # the comparison is across regions: the catalog has the instance's on-demand rate in one region only
        bills += (f", set against the catalog's on-demand rate, which is {c['ondemand_region']}'s, not {c['region']}'s "
                  "(the two regions' rates may differ)")
    return (f"Committed ({c['term']}, {c.get('payment') or '-'}): {fmt_usd(c['run_cost_usd'])} for this run's "
            + (f"{_hours(c['hours'])} ({c['hours_include']}: committed nodes sit through them too)"
               if c.get("hours") is not None else "hours") + f" at {c['price_usd_hr']:.2f} $/node-h{bills} "
            f"({c.get('region') or '-'}, {_dated(c.get('price_date') or 'undated', today)}; {c['source']}).")


def _constraint_rows(con, usd: Optional[float], hours: float) -> list[list[str]]:
    """The job's budget and deadline beside the plan's ranked cost and time (the figures the search held to them):
    what is used and what is left. A budget review's report named neither (a $3M budget and a 60-day deadline
    appeared only in a Risks line, and only when the model's slow end broke one)."""
    rows = []
    if con.budget_usd is not None:
        rows.append(["budget (constraints.budget_usd)", f"{fmt_usd(con.budget_usd)}: " + (
            f"this plan uses {fmt_usd(usd)} ({fmt_pct(usd / con.budget_usd)}), {fmt_usd(con.budget_usd - usd)} left"
            if usd is not None else "not checked: the plan has no price")])
    if con.deadline_hours is not None:
        rows.append(["deadline (constraints.deadline_hours)",
                     f"{fmt_time(con.deadline_hours * 3600)}: this plan takes {fmt_time(hours * 3600)} "
                     f"({fmt_pct(hours / con.deadline_hours)}), {fmt_time((con.deadline_hours - hours) * 3600)} to spare"])
    return rows


def _hw_line(row: dict) -> str:
    return hardware_str(row["hardware"])


def summary_of(rec: dict) -> dict:
    """The headline numbers, exactly as ``recommend`` produced them (the test compares these
    with ``planner recommend --json``)."""
    def row(r):
        return dict(hardware=r["hardware"]["name"], nodes=r["hardware"]["nodes"], gpus=r["hardware"]["gpus"],
                    config={k: r["config"][k] for k in ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "schedule", "zero", "dp_shard", "micro_batch",
                                                           "recompute") if k in r["config"]},
                    step_time_s=r["step_time_s"], mfu=r["mfu"], hours=r["cost"]["hours"],
                    cost_ondemand_usd=r["cost"]["cost_ondemand_usd"], cost_spot_usd=r["cost"]["cost_spot_usd"],
                    # what the plan is ranked and quoted at (a spot plan: expected, with interruptions)
                    cost_usd=cost_of(r, rec["spot"]), train_hours=hours_of(r, rec["spot"]),
                    memory_total_bytes=r["memory_per_gpu_bytes"]["total"])
    return dict(objective=rec["objective"], spot=rec["spot"], evaluated=rec["evaluated"], feasible=rec["feasible"],
                best=row(rec["best"]), ranked=[row(r) for r in rec["ranked"]], why=rec["why"])


def _price_rows(rec: dict, catalog, today: Optional[_dt.date] = None) -> Table:
    rows, seen = [], set()
    for r in rec["ranked"]:
        name = r["hardware"]["name"]
        if name in seen:
            continue
        seen.add(name)
        inst = None
        if r["hardware"]["cloud"] != "-" and catalog is not None:
            try:
                inst = catalog.instance(name)
            except Exception:  # noqa: BLE001 — a row from an override catalog may not resolve by key
                inst = None
        hw = r["hardware"]
        stated = r["cost"].get("price_basis") == JOB_RATE  # the job's rate is no catalog price (QA 60)
        cod = r["cost"].get("catalog_ondemand_usd_hr")
        rows.append([name, (f"{cod:.2f}" if cod else "-") + f" (the job's rate, {hw['price_ondemand_usd_hr']:.2f}, is used)"
                     if stated else f"{hw['price_ondemand_usd_hr']:.2f}" if hw["price_ondemand_usd_hr"] else "-",
                     f"{hw['price_spot_usd_hr']:.2f}" if hw["price_spot_usd_hr"] else "-",
                     inst.region if inst else "-", _rate_dates(inst, bool(hw["price_spot_usd_hr"]), today) if inst
                     else "job file / none", inst.source if inst else "-"])
    return Table(["hardware", "on-demand $/node-h", "spot $/node-h", "region", "price date", "source"], rows,
                 "catalog prices used (per node-hour)")


def _rate_dates(inst, has_spot: bool, today: Optional[_dt.date] = None) -> str:
    """The price table's date cell: the date of each rate the row's price cells show (``Instance.rate_date``), one
    date where they share it, else each rate's ("on-demand 2026-11-30 (...); spot not before 2026-01-20 (...)").
    QA 55b: the cell gave the row's ``price_date`` alone, so an override that repriced and dated the on-demand rate
    dated the snapshot's spot rate beside it (bounded at most 319 days back) with the user's quote."""
    od, spot = inst.rate_date(False), inst.rate_date(True)
    if not has_spot or spot == od:
        return _dated(od, today)
    return f"on-demand {_dated(od, today)}; spot {_dated(spot, today)}"


def _dated(price_date: str, today: Optional[_dt.date] = None) -> str:
    """A price's date cell, marked where the quote is stale (``hardware_catalog.catalog.stale_days``; QA 46: an override
    dated 2023-01-01 was shown as any other), for a ``not before`` bound how old it can be at most (prices38), for a
    ``not after`` one how old it is at least (prices39); ages to ``today`` (UTC today by default: ``build_report``)."""
    from hardware_catalog.catalog import STALE_PRICE_DAYS, bound_age_days, cap_age_days, stale_days

    most, least = bound_age_days(price_date, today), cap_age_days(price_date, today)
    if most is not None and least is not None:  # between two days (catalog40): stale by the later, may be by the earlier
        return f"{price_date} ({least:,} to {most:,} days old" + (
            f": stale, over {STALE_PRICE_DAYS})" if least > STALE_PRICE_DAYS else
            f": may be stale, over {STALE_PRICE_DAYS})" if most > STALE_PRICE_DAYS else ")")
    if most is not None:
        return f"{price_date} (at most {most:,} days old" + (
            f": may be stale, over {STALE_PRICE_DAYS})" if most > STALE_PRICE_DAYS else ")")
    if least is not None:
        return f"{price_date} (at least {least:,} days old" + (
            f": stale, over {STALE_PRICE_DAYS})" if least > STALE_PRICE_DAYS else ")")
    age = stale_days(price_date, today)
    return price_date if age is None else f"{price_date} (stale: {age:,} days old, over {STALE_PRICE_DAYS})"


def _onprem_rows(catalog, gpu_name: str, job_onprem=None, today: Optional[_dt.date] = None) -> list[list[str]]:
    """The catalog's on-prem rows the plan's buy-vs-rent figure read (``cost.onprem_catalog_keys``), each price's date
    as the instance table gives it (``_dated``; "-" for a row that is no price: PUE, shares, kW). Until QA 55 the
    table had no date: a server price overridden "not before 2025-02-01 (vendor deck)" was dated in the "Prices dated"
    line alone, and the built-in ones' "unknown: stated assumption, not a quote" nowhere beside their values."""
    if catalog is None:
        return []
    from planner.model.cost import onprem_catalog_keys

    rows = []
    for k in onprem_catalog_keys(catalog, gpu_name, job_onprem):
        r = catalog.onprem[k]
        rows.append([k, str(r.get("value", "")), str(r.get("unit", "")), _onprem_basis(r),
                     _dated(r["price_date"], today) if r.get("price_date") else "-", str(r.get("source", ""))])
    return rows


def _onprem_basis(row: dict) -> str:
    """An on-prem row's basis cell: the catalog's word, or for a value an override file gave (basis ``user``) the
    user's quote with its file and date ("user quote (quote.yaml, 2026-11-30)"; a row that is no price, "user value
    (file)"). QA 55b: an overridden HGX H100 server price kept the built-in row's "assumption" in the table."""
    from hardware_catalog.catalog import price_date_short

    basis = str(row.get("basis") or "")
    if basis != "user":
        return basis
    where = row.get("override_file") or "override file"
    if not row.get("price_date"):
        return f"user value ({where})"
    date = price_date_short(row["price_date"])
    return f"user quote ({where}, {'undated' if date == 'unknown' else date})"


def _next_bottleneck(best: dict, sweep: pd.DataFrame) -> Optional[str]:
    """What grows when the plan is scaled out: compare the step-time shares at the current node
    count with those at the next larger count the sweep could evaluate."""
    cur_n = best["hardware"]["nodes"]
    bigger = sweep[(sweep["value"] > cur_n) & sweep["step_time_s"].notna()]
    if bigger.empty or "breakdown" not in sweep:
        blocked = sweep[(sweep["value"] > cur_n) & (sweep["note"] != "")]
        if blocked.empty:
            return None
        # the layout cannot grow at all: that is the next limit (often the global batch)
        note = str(blocked.iloc[0]["note"])
        head = (f"this layout cannot scale beyond {cur_n} node{'s' if cur_n != 1 else ''} — at "
                f"{int(blocked.iloc[0]['value'])}: {note}")
        if "constraints." in note:  # the job's own limit (max_gpus, a budget): the batch/TP advice did not apply
            return head + " (the job's constraint)"
        return head + "; a faster run needs a larger global batch or more TP/PP per replica"
    nxt = bigger.iloc[0]
    st0, bd0, analytic = _sweep_base(best, sweep)
    bd1, st1 = nxt["breakdown"], nxt["step_time_s"]
    grow = {k: bd1.get(k, 0.0) / st1 - bd0.get(k, 0.0) / st0 for k in LABELS if k != "compute_gemm"}
    k = max(grow, key=grow.get)
    speed = st0 * cur_n / (st1 * nxt["value"])  # per-GPU efficiency kept when scaling out
    if grow[k] <= 0.005:
        return (f"scaling to {int(nxt['value'])} nodes keeps the same balance (step {fmt_time(st0)} -> "
                f"{fmt_time(st1)}, {speed:.0%} scaling efficiency{analytic}); compute stays the limit")
    # shares under 10% to a tenth of a percent: "grows from 1% to 1%" was printed for 0.6% -> 1.2%
    return (f"at {int(nxt['value'])} nodes, {LABELS[k]} grows from {fmt_pct(bd0.get(k, 0.0) / st0)} to "
            f"{fmt_pct(bd1.get(k, 0.0) / st1)} of the step (step {fmt_time(st0)} -> {fmt_time(st1)}, "
            f"{speed:.0%} scaling efficiency{analytic})")


def _sweep_base(best: dict, sweep: pd.DataFrame) -> tuple[float, dict, str]:
    """The step (s), its breakdown and a words clause that a sensitivity sweep's rows are compared with: the plan's,
    unless its step was re-timed by the simulator (a data-bound plan), whose sweep rows are analytic
    (``estimate_job``, compute-bound): then the sweep's own current row, so that both sides leave the data stall out,
    and the clause says so. QA 63: the ResNet-50 files plan's risks read "at 2 nodes, memory-bound kernels ... grows
    from 5.4% to 73% of the step (step 2.57 s -> 95.3 ms, 1348% scaling efficiency)", its simulated 2.57 s set
    against the 2-node row's analytic 95.3 ms (the alternatives table beside it: 1.56 s simulated)."""
    cur = sweep[sweep["current"] & sweep["step_time_s"].notna()] if "current" in sweep else sweep.iloc[:0]
    if not analytic_caveat(best) or cur.empty:
        return best["step_time_s"], best["breakdown_s"], ""
    row = cur.iloc[0]
    return (float(row["step_time_s"]), row["breakdown"] if isinstance(row.get("breakdown"), dict) else {},
            "; analytic, compute-bound steps: the simulated data-loading stall is left out")


def _expected_headers(spot: bool, cf: bool, rate: str = "on-demand") -> tuple[str, str, str]:
    """The (time to train, on-demand, spot) column headers of a table of ranked figures (the alternatives, the
    sensitivity sweeps): "(expected)" where a column holds the spot interruptions (a spot job) or the job's
    checkpoint pauses and node failures (``cf``). A job not on spot has no interruption model, so its spot column
    with checkpoints is "before interruptions" (the sensitivity tables of a checkpointed job held the expected
    figures under bare headers, and the alternatives' "spot (expected)" read as with interruptions). ``rate``: the
    rate the rent column is at (``rate_name``: the job's own where it gives one, QA 60)."""
    return ("time to train" + (" (expected)" if spot or cf else ""), rate + (" (expected)" if cf else ""),
            "spot" + (" (expected)" if spot else " (expected, before interruptions)" if cf else ""))


#: the sensitivity tables' verdict columns (header: the sweep frame's column, ``workloads.sensitivity``), in the
#: report's and the app's order: memory, then the job's deadline and budget where it states them. QA 83: the memory
#: column read "fits", and llama3-70b.yaml's 64-node row "fits yes" at 309.4 d, past the job's 90-day deadline,
#: which a reader takes for "works"
def _sensitivity_table(df: pd.DataFrame, label: str, spot: bool = False, noun: str = "GPU",
                       cf: bool = False, rate: str = "on-demand") -> Table:
    rows = []
    # one unit a column: the step column read "54.16 s" above "895.3 ms", time to train "4.8 d" above "59.3 h"
    steps = dict(zip(df.index, fmt_time_column(df["step_time_s"])))
    hours = dict(zip(df.index, fmt_hours_column(df["hours"].where(df["step_time_s"].notna()))))
    util = {k: dict(zip(df.index, v)) for k, v in utilisation_columns(df, fmt_pct).items()}  # MFU, HFU
    verdicts = {k: dict(zip(df.index, v)) for k, v in sweep_verdicts(df).items()}
    # an impossible layout's reason in a column of its own (it stood in the "fits" cell, read as a memory verdict)
    why = ["note"] if df["note"].astype(bool).any() else []
    for r in df.itertuples():
        # thousands separated, as everywhere else ("12800" and, past a million, "1e+06" were :g)
        v = (f"{r.value:,.0f}" if float(r.value).is_integer() else f"{r.value:,g}") + (" (current)" if r.current else "")
        tail = [*(c[r.Index] for c in verdicts.values()), *([r.note] if why else [])]
        if r.step_time_s != r.step_time_s:  # NaN: the layout is impossible at this value
            rows.append([v, "-", "-", "-", "-", "-", *("-" for _ in util), "-", *tail])
            continue
        rows.append([v, f"{int(r.gpus):,}", steps[r.Index], hours[r.Index],
                     fmt_usd(r.cost_ondemand_usd), fmt_usd(r.cost_spot_usd), *(u[r.Index] for u in util.values()),
                     f"{r.mem_gib:.1f}", *tail])
    return Table([label, f"{noun}s", "step", *_expected_headers(spot, cf, rate), *util, "mem GiB", *verdicts, *why], rows)


def build_report(job: JobSpec, rec: dict, catalog=None, profile=None, job_name: str = "job",
                 sensitivity_inputs=SENSITIVITY_INPUTS, with_charts: bool = True,
                 today: Optional[_dt.date] = None) -> Report:
    """The report as sections, from a ``recommend`` result for ``job``. ``today`` (UTC today by default; the CLI passes
    the real day, tests pin one) is the day its price-date cells count ages to (``_dated``); until prices39 they read
    the wall clock, so a saved report could not be rebuilt as it was."""
    best = rec["best"]
    title = f"Budget review: training {best['model']}: {params_str(best)}"
    secs = [_recommendation_section(job, rec), _alternatives_section(rec, with_charts), _cost_section(rec, catalog, today),
            _memory_section(best, with_charts), _step_time_section(best, with_charts)]
    sensitivity_sec, sweeps = _sensitivity_section(job, rec, catalog, profile, sensitivity_inputs, with_charts)
    secs.append(sensitivity_sec)
    scaled = _scaling_section(rec, rec["spot"])
    if scaled is not None:
        secs.append(scaled)
    secs += [_risks_section(job, rec, sweeps, catalog), _assumptions_section(job, rec, catalog, job_name, today)]
    return Report(title, secs, summary_of(rec))


def _recommendation_section(job: JobSpec, rec: dict) -> Section:
    """The answer: the plan in one sentence, its figures (time, cost, memory, limits, the job's constraints against
    them), the stacks compared when the search chose one, and what moves the ranking."""
    best, spot = rec["best"], rec["spot"]
    cost = best["cost"]
    mem = best["memory_per_gpu_bytes"]
    unit = best.get("throughput_unit", "tokens")
    s = Section("Recommendation")
    risk = cost.get("spot_risk") if spot else None  # spot: the expected time and cost the plan is ranked on
    cf = cost.get("checkpoint_failures")  # the job's checkpoint section: ranked with its pauses and failures
    price = (f" for {fmt_usd(_cost(best, spot))} ({'spot, expected with interruptions' if risk else 'spot' if spot else rate_name(cost)}"
             + (f", with {checkpoint_words(cf)}" if cf else "") + ")"
             if _cost(best, spot) is not None
             else " (no spot price: cluster.price_usd_hr is an on-demand rate; leave out constraints.spot to be costed "
                  "at it)" if spot and cost.get("cost_ondemand_usd") is not None  # it was set: not "set it"
             else f" (no price: a bare {device_of(best['hardware'])}; set cluster.price_usd_hr)")  # not "for - (on-demand)"
    s.blocks.append(f"{'Rent' if _cost(best, spot) is not None else 'Run on'} {_hw_line(best)} with layout "
                    f"{config_str(best['config'])}: {fmt_time(hours_of(best, spot) * 3600)} to train{price}. "
                    f"Objective: {rec['objective']}. Why: {rec['why']}.")
    noun = device_of(best["hardware"])
    # what the uninterrupted hours leave out: on a spot plan with a checkpoint section, both (the time to train
    # said "without interruptions" beside compute hours that also leave out the checkpoint pauses and failures)
    left_out = ("interruptions, checkpoint pauses and failures" if risk and cf else "interruptions" if risk
                else "checkpoint pauses and failures" if cf else None)
    kv = [["hardware", _hw_line(best)], ["layout", config_str(best["config"])],
          ["step time", fmt_time(best["step_time_s"])],
          ["throughput", throughput_words(best)],
          ["MFU / HFU", mfu_hfu(best)],
          [f"memory per {noun}", _memory_line(mem, noun, best["hardware"].get("gpu"))],
          *([["peak rank", peak.removeprefix("peak rank: ")]] if (peak := peak_rank_line(best)) else []),
          ["time to train", f"{fmt_time(hours_of(best, spot) * 3600)} ({fmt_steps(cost['steps'])}, {tokens_words(cost, unit)}"
                            + (f"; {fmt_time(cost['hours'] * 3600)} without {left_out})" if left_out else ")")],
          *([["evaluation", evaluation_line(cost["evaluation"]).split(": ", 1)[1]]] if cost.get("evaluation") else []),
          [f"{noun}-hours", fmt_sig(cost['gpu_hours'], 3) + (f" (without {left_out})" if left_out else "")],
          [f"cost {at_rate(cost)}" + (" (before checkpoints and failures)" if cf else ""), fmt_usd(cost["cost_ondemand_usd"])],
          # the sticker spot rate over the uninterrupted hours on any job (estimate's row says so too): a job not
          # on spot read a bare "cost spot | $5.58k" as what spot would cost
          ["cost spot" + (" (before interruptions" + (", checkpoints and failures)" if cf else ")")
                          if cost.get("cost_spot_usd") is not None else ""), fmt_usd(cost["cost_spot_usd"])],
          *([["spot with interruptions", _spot_risk_line(cost["spot_risk"])]] if cost.get("spot_risk") else []),
          *([["with checkpoints and failures", checkpoint_line(cost["checkpoint_failures"], "", rate=at_rate(cost)).split(": ", 1)[1]]]
            if cost.get("checkpoint_failures") else []),
          *([["likely range (model error)", _accuracy_cell(best["accuracy"])]] if best.get("accuracy") else []),
          ["$ per 1M " + unit, per_million(cost, _cost(best, spot))],
          *_constraint_rows(job.constraints, _cost(best, spot), hours_of(best, spot)),
          ["limits", best.get("bottleneck", "")],
          ["search", f"{count_of(rec['evaluated'], 'configuration')} evaluated, {rec['feasible']:,} feasible, "
                     f"in {rec['search_seconds']:.2f} s"]]
    s.blocks.append(Table(["", ""], kv))
    if rec.get("stacks"):  # training.framework auto: each stack's best plan (planner.search.rank.stack_comparison)
        s.blocks.append(Table(*map(list, stack_table_cells(rec["stacks"], rec["objective"])),
                              f"training.framework auto: the best plan of each stack on {rec['objective']}"))
    if rec.get("caveats"):
        s.blocks.append(["Moves the ranking: " + c for c in rec["caveats"]])
    return s


def _alternatives_section(rec: dict, with_charts: bool) -> Section:
    """The ranked alternatives (best layout per hardware and node count), the cost-time chart and the Pareto front."""
    best, spot = rec["best"], rec["spot"]
    cf = best["cost"].get("checkpoint_failures")
    s = Section("Top alternatives")
    rows = []
    util = utilisation_columns(rec["ranked"], fmt_pct)  # MFU and HFU, as the app's tables
    # one unit a column, as the sensitivity tables and the terminal's: "7.5 d" above "45.4 h" until QA 70
    times = fmt_hours_column([hours_of(r, spot) for r in rec["ranked"]])
    # each row's stack and fp8 recipe where the search chose them and they differ, as recommend's table (qa77)
    searched = plan_searched_columns(rec["ranked"])
    for i, r in enumerate(rec["ranked"], 1):
        m, c = r["memory_per_gpu_bytes"], r["cost"]
        rows.append([str(i), r["hardware"]["name"], str(r["hardware"]["nodes"]), f"{r['hardware']['gpus']:,}",
                     config_str(r["config"]), *(v[i - 1] for v in searched.values()), fmt_step_s(r['step_time_s']),
                     *(u[i - 1] for u in util.values()),
                     fmt_gib_pair(m["total"], m.get("limit") or m["capacity"]), times[i - 1],
                     # with the checkpoint pauses and failures where the job sets them (results.ranked_price)
                     fmt_usd(ranked_price(c, False)), fmt_usd(ranked_price(c, True))])
    nouns = {device_of(r["hardware"]) for r in rec["ranked"]}  # "chips" for TPU / Trainium rows, as the rows above say
    s.blocks.append(Table(["#", "hardware", "nodes", f"{nouns.pop()}s" if len(nouns) == 1 else "accelerators", "layout",
                           *searched, "step s", *util, "mem/limit GiB",
                           *_expected_headers(spot, bool(cf), rate_name(best["cost"]))], rows,
                          "best layout per (hardware, node count), ranked by the objective"
                          + (" (times and costs with the checkpoint pauses and node failures)" if cf else "")))
    if with_charts and rec.get("kept") is not None:
        s.blocks.append(Chart("cost_vs_time", charts.cost_time_chart(rec["kept"], best, spot),
                              "cost vs time to train of the candidates, Pareto front dashed, recommendation ringed"))
    if rec.get("pareto"):
        s.blocks.append(_pareto_table(rec, bool(cf)))
    return s


#: the order the Pareto table walks its front in, by objective: (the row field it sorts on, the words); every other
#: objective (cost, tokens_per_dollar) walks it from the cheapest plan
FRONT_ORDER = {"time": ("train_hours", "fastest first, each row cheaper and slower than the one above")}
CHEAPEST_FIRST = ("cost", "cheapest first, each row faster and dearer than the one above")
#: the Pareto table's mark on the recommended plan's row
RECOMMENDED = "recommended"


def _pareto_table(rec: dict, cf: bool, shown: int = 10) -> Table:
    """The Pareto front's ``shown`` rows nearest the objective (``rec["pareto"]`` is in rank order), sorted along the
    front from the objective's end (``FRONT_ORDER``) and the recommended plan's row marked. QA 90: the rows came in
    rank order under "Pareto front", so llama2-13b-budget.yaml's read 9.4 d for $156.2k above 18.8 d for $156.1k (a
    cost tie, ranked by time), and nothing said which row was the plan."""
    best, spot = rec["best"], rec["spot"]
    key, order = FRONT_ORDER.get(rec["objective"], CHEAPEST_FIRST)
    front = sorted(rec["pareto"][:shown], key=lambda p: (p[key], p["train_hours"]))
    plan = (best["hardware"]["name"], best["hardware"]["nodes"])
    marks = [RECOMMENDED if (p["hardware"], p["nodes"]) == plan else "" for p in front]
    caveat = analytic_caveat(best)  # the Pareto and sensitivity tables are analytic; the plan may be simulated
    return Table(["plan", "hardware", "nodes", "time to train" + (" (expected)" if spot or cf else ""),
                  "cost" + (" (expected spot)" if spot else f" (expected {at_rate(best['cost'])})" if cf
                            else f" ({rate_name(best['cost'])})")],
                 [[m, p["hardware"], str(p["nodes"]), t, fmt_usd(p["cost"])]
                  for m, p, t in zip(marks, front, fmt_hours_column([p["train_hours"] for p in front]))],
                 f"Pareto front ({order}): no other plan is both faster and cheaper"
                 + ("" if RECOMMENDED in marks else f"; the {RECOMMENDED} plan ({plan[1]} x {plan[0]}) is not on it")
                 + (f"; {caveat}" if caveat else ""))


def _rented_only(catalog, gpu_name: str) -> str | None:
    """Why the plan's accelerator cannot be bought (``platform.RENTED_ONLY``), or None (or no catalog to ask)."""
    from planner.hardware.platform import rented_only

    gpu = getattr(catalog, "gpus", {}).get(gpu_name) if catalog is not None else None
    return rented_only(gpu) if gpu is not None else None


def _catalog_rate_words(cost: dict, hw: dict) -> str:
    """Beside a cost at the job's own rate (``cost.price_basis`` "cluster.price_usd_hr"): the catalog's on-demand rate
    of the instance and the same hours at it, or that the catalog has none (QA 60); "" for a cost at on-demand."""
    if cost.get("price_basis") != JOB_RATE:
        return ""
    od = cost.get("catalog_ondemand_usd_hr")
    if not od:
        return "; no catalog on-demand rate is known for " + ("a bare GPU" if hw.get("cloud") in (None, "-")
                                                              else hw["name"])
    return (f"; on-demand, at the catalog's {od:.2f} $/node-h for {hw['name']}, the same hours cost "
            f"{fmt_usd(cost['cost_ondemand_usd'] / hw['price_ondemand_usd_hr'] * od)}")


def _rate_times(hw: dict) -> str:
    """The rate and what it is paid on: "55.04 $/node-h x 2 nodes", or, on NVL72 segments billed by whole racks
    (``hardware.options.segment_price``), the rack's rate x the racks: "300.00 $/rack-h x 2 racks (3 segments of 8
    trays)". QA 62: the report gave 3 segments of 8 trays at a $300 rack rate as "200.00 $/node-h x 3 nodes", a
    rate the job never named."""
    nodes, racks = hw["nodes"], hw.get("racks_billed")
    if not racks or not hw.get("segment_trays"):
        return f"{hw['price_ondemand_usd_hr']:.2f} $/node-h x {nodes} node{'s' if nodes != 1 else ''}"
    rack_rate = hw["price_ondemand_usd_hr"] * nodes / racks  # segment_price's share, back to the rack's rate
    return (f"{rack_rate:.2f} $/rack-h x {racks} rack{'s' if racks != 1 else ''} ({nodes} segment"
            f"{'s' if nodes != 1 else ''} of {hw['segment_trays']} trays)")


def _cost_section(rec: dict, catalog=None, today: Optional[_dt.date] = None) -> Section:
    """What the run costs on-demand, on spot, bought or committed, and the buy-vs-rent inputs used."""
    best = rec["best"]
    cost = best["cost"]
    s = Section("Cost: on-demand, spot, or buy")
    # a bare GPU has no price: "On-demand: - (0.00 $/node-h x 4 nodes x 215 h)" was printed
    # the job's cluster.price_usd_hr is the run's own rate, no on-demand price (QA 60): named so, with the catalog's
    # on-demand rate beside it where the catalog has one
    stated = cost.get("price_basis") == JOB_RATE
    head = "At the job's rate (cluster.price_usd_hr)" if stated else "On-demand"
    lines = [f"{head}: {fmt_usd(cost['cost_ondemand_usd'])} ({_rate_times(best['hardware'])} x "
             f"{_hours(cost['hours'])})" + _catalog_rate_words(cost, best["hardware"]) + "."
             if cost.get("cost_ondemand_usd") is not None and best["hardware"].get("price_ondemand_usd_hr")
             else f"On-demand: no price (a bare {device_of(best['hardware'])} cluster has none; set cluster.price_usd_hr, "
                  f"per node): {best['hardware']['nodes']} node{'s' if best['hardware']['nodes'] != 1 else ''} x "
                  f"{_hours(cost['hours'])}."]
    if cost.get("spot_risk"):
        lines.append("Spot: " + _spot_risk_line(cost["spot_risk"]) + ".")
    elif cost["cost_spot_usd"]:
        save = 1 - cost["cost_spot_usd"] / cost["cost_ondemand_usd"] if cost["cost_ondemand_usd"] else float("nan")
        lines.append(f"Spot: {fmt_usd(cost['cost_spot_usd'])} ({fmt_pct(save)} less), before interruptions: "
                     "spot capacity for many nodes at once is not guaranteed, and each preemption costs the work "
                     "since the last checkpoint plus a restart.")
    elif best["hardware"].get("cloud") in (None, "-"):  # a bare cluster.gpu: no catalog instance to have a spot rate
        lines.append(f"Spot: no spot price: a bare {device_of(best['hardware'])} cluster is no catalog instance "
                     "(name one with cluster.instance for its spot rate).")
    else:
        lines.append("Spot: no spot price in the catalog for this instance.")
    if cost.get("checkpoint_failures"):  # the job's checkpoint section: what its pauses and failures add
        line = checkpoint_line(cost["checkpoint_failures"], " (the time to train and the headline include them; the "
                                                             + ("on-demand figure" if at_rate(cost) == "on-demand"
                                                                else f"figure {at_rate(cost)}")
                                                             + " above is without them)",
                               rate=at_rate(cost))
        lines.append(line[0].upper() + line[1:] + ".")
    buy = cost.get("buy")
    cf = cost.get("checkpoint_failures")
    # owned and committed nodes sit through the checkpoint pauses and restarts too: their run costs are at the
    # expected wall hours (buy/committed "hours"), and the rent they are set against is the same hours' on-demand
    rent = (cf.get("expected_cost_ondemand_usd") if cf and buy and buy.get("hours") is not None
            else cost["cost_ondemand_usd"])
    if buy:
        wall = (f"{_hours(buy['hours'])} ({buy['hours_include']}: owned nodes sit through them too)"
                if buy.get("hours") is not None else _hours(cost["hours"]))
        lines.append(f"Buy: this run's {wall} on owned nodes costs {fmt_usd(buy['run_cost_usd'])} "
                     f"at {buy['node_hour_usd']:.2f} $/node-h ({_buy_parts(buy)})" + (
                         f": per hour of use, {cheaper_words(buy, best['hardware'], rate_name(cost))}. "
                         f"{_breakeven_words(buy, best['hardware'], cost)}"
                         f" — buying commits {fmt_usd(buy['capex_usd'])} up "
                         f"front, {buy['capex_usd'] / rent:.1f}x this run's rent"
                         + (f" ({rate_name(cost)}, same wall hours)." if rent != cost["cost_ondemand_usd"] else ".")
                         if rent else "; no rental price to compare with."))
    elif _rented_only(catalog, best["hardware"]["gpu"]):  # a TPU / Trainium: no server to price (QA 47)
        lines.append(f"Buy: not an option: {_rented_only(catalog, best['hardware']['gpu'])}.")
    else:
        lines.append(f"Buy: no on-prem server price for this {device_of(best['hardware'])} in the catalog (its server "
                     "prices are HGX 8-GPU SXM servers); give the job's onprem.server_price_usd, per node, to price buying.")
    for c in cost.get("committed") or ():
        lines.append(_committed_line(c, best["hardware"], today, cost))
    if not cost.get("committed"):
        lines.append("Committed (1-/3-year, capacity blocks): no committed price for this instance in the catalog "
                     "(add one with a catalog override's commitments: section).")
    if cost.get("price_dates"):  # how old the prices above are (cost.price_dates; until buy36 unsaid)
        lines.append(f"Prices dated: {price_dates_words(cost['price_dates'])}.")
    s.blocks.append(lines)
    if buy and buy.get("inputs"):
        s.blocks.append(Table(["on-prem input", "value", "from"],
                              [[k, _input_value(v["value"]), v["source"]] for k, v in buy["inputs"].items()],
                              "buy-vs-rent inputs used (set them in the job's onprem: section or a catalog override)"))
    return s


def _memory_section(best: dict, with_charts: bool) -> Section:
    """The most loaded rank's memory by part against the device's capacity."""
    mem = best["memory_per_gpu_bytes"]
    s = Section(f"Memory per {device_of(best['hardware'])}")
    if with_charts:
        s.blocks.append(Chart("memory", charts.memory_chart(best), f"memory of the most loaded rank by part vs {device_of(best['hardware'])} capacity"))
    s.blocks.append(Table(["part", "GiB", "share"],
                          [[charts.MEMORY_LABELS[k], fmt_gib(mem[k]),
                            fmt_pct(mem[k] / mem["total"])] for k in MEMORY_PARTS]  # fmt_pct: "<0.1%", not "0.0%"
                          + [[label, fmt_gib(b), fmt_pct(b / mem["total"])] for label, b in memory_notes(mem, inside=True)]
                          + [["total", f"{mem['total'] / GiB:.2f}", f"of {mem['capacity'] / GiB:.0f} GiB capacity"]]
                          + [[label, fmt_gib(b), "-"] for label, b in memory_notes(mem, inside=False)],
                          f"most loaded rank: {most_loaded_words(best)}"
                          + ("; gradients: the stack's own buffers; autograd's .grad tensors are in activations (the "
                             "step's walked peak)" if mem.get("grads_in_activations") else "")))
    return s


def _step_time_section(best: dict, with_charts: bool) -> Section:
    """Where the step time goes, by part, and the simulation's busy and data-wait shares where it ran."""
    s = Section("Where the step time goes")
    if with_charts:
        s.blocks.append(Chart("step_time", charts.breakdown_chart(best), "step time by part"))
    bdf = charts.breakdown_frame(best)
    s.blocks.append(Table(["part", "seconds", "share"],
                          [[r.part, fmt_sig(r.seconds, 4), fmt_step_share(r.share)] for r in bdf.itertuples()]
                          + [["step", fmt_sig(best['step_time_s'], 4), "100%"]]))
    if best.get("simulated"):
        sim = best["simulated"]
        s.blocks.append(f"Simulated ({sim.get('steps') or sim.get('simulated_steps') or 'some'} steps of the data pipeline "
                        f"and synchronisation): GPU busy {fmt_pct(sim.get('gpu_busy_share'))} of the time, waiting for data "
                        f"{fmt_pct(sim.get('data_wait_share'))}.")
    return s


def _sensitivity_section(job: JobSpec, rec: dict, catalog, profile, sensitivity_inputs,
                         with_charts: bool) -> tuple[Section, dict]:
    """One input of the plan changed at a time (``sensitivity``), each sweep a table: the section and the sweeps by
    input (the risks read the node-count and network ones)."""
    best, spot = rec["best"], rec["spot"]
    cost = best["cost"]
    caveat = analytic_caveat(best)
    s = Section("Sensitivity")
    s.blocks.append("Each row changes one input of the recommended plan and holds the rest "
                    "(same analytic model as the search; impossible layouts say why)."
                    + (f" These are {caveat}." if caveat else ""))
    sweeps = {}
    for what in sensitivity_inputs:
        why = _network_unswept(best["hardware"]) if what == "inter_node_gbps" else None
        if why:  # every row of the sweep would be the same plan
            s.blocks.append(f"**{SENSITIVITY[what].label}**: not swept: {why}, so no figure of the plan depends on a "
                            "network.")
            continue
        df = sensitivity(job, best, what, catalog, profile)
        sweeps[what] = df
        s.blocks.append(Table([], [], f"**{SENSITIVITY[what].label}**"))
        s.blocks.append(_sensitivity_table(df, SENSITIVITY[what].label, spot, device_of(best["hardware"]),
                                                bool(cost.get("checkpoint_failures")), rate_name(cost)))
    if with_charts and "nodes" in sweeps:
        s.blocks.append(Chart("sensitivity_nodes", charts.sensitivity_chart(
                                  sweeps["nodes"], "nodes", spot, best["cost"].get("price_basis"),
                                  job.constraints.deadline_hours, job.constraints.budget_usd),
                              "time and cost vs node count"))
    return s, sweeps


def _risks_section(job: JobSpec, rec: dict, sweeps: dict, catalog=None) -> Section:
    """What could make the plan late or short: what limits it now and next, memory headroom, the network, spot,
    a rate outside the catalog's price checks (``catalog``: the one the plan was priced from), checkpoints and
    failures, the model's error against the job's deadline and budget, advice, calibration."""
    best = rec["best"]
    cost = best["cost"]
    cf = cost.get("checkpoint_failures")
    mem = best["memory_per_gpu_bytes"]
    headroom = 1 - mem["total"] / mem["capacity"]
    s = Section("Risks")
    risks = [f"Limits now: {best.get('bottleneck', '-')}."]
    if "nodes" in sweeps:
        nb = _next_bottleneck(best, sweeps["nodes"])
        if nb:
            risks.append(f"Next: {nb}.")
    risks.append(f"Memory headroom: {headroom:.0%} free on the most loaded {device_of(best['hardware'])} "
                 f"({(mem['capacity'] - mem['total']) / GiB:.1f} GiB)"
                 + (" — thin: allocator fragmentation, a longer sequence or a larger micro-batch can run out of memory."
                    if headroom < HEADROOM_WARN else ".")
                 + (f" Required: {mem['headroom']:.0%} of {device_of(best['hardware'])} memory (constraints.memory_headroom)." if mem.get("headroom") is not None else ""))
    risks.append(_network_risk(best, rec, sweeps.get("inter_node_gbps")))
    if cost.get("spot_risk"):
        risks.append("Spot: " + cost["spot_risk"]["capacity"] + f"; rate from {cost['spot_risk']['source']}.")
    # the rate a budget is signed on, flagged with the catalog's reason for keeping it
    risks += price_check_risks(catalog, best["hardware"].get("name", ""),
                               lambda flags: price_check_lines(flags, best["hardware"], cost))
    if cf:  # the ranking, the budget and the deadline already use the expected time and cost with them
        risks.append(f"Checkpoints and failures add {fmt_share(cf['overhead'])} to the time "
                     f"({fmt_time(cf['expected_hours'] * 3600)} expected"
                     + (f", {fmt_many(cf['expected_failures'])} failures" if cf.get("job_mtbf_hours") is not None else "")
                     + "); the ranking, the budget and the deadline use the expected time and cost with them. "
                     "They are expectations: the failures are random, so the actual run can take longer.")
    acc = best.get("accuracy")
    if acc:  # the step-time model's error on published runs of this kind: the range a budget should allow for
        # (the slow end's broken deadline / budget: accuracy_line says them, workloads.training.slow_end_breaks)
        risks.append("Model error: " + accuracy_line(acc).split(": ", 1)[1] + ".")
    for a in best.get("advice", []):
        risks.append(f"Advice: {a}.")
    inp = rec.get("inputs") or {}
    if not inp.get("efficiencies_measured"):
        risks.append(f"No calibration was measured on this {device_of(best['hardware'])} type: efficiencies are priors from public "
                     f"measurements, so step time can be off by the prior's error ({calibrate_hint(best['hardware']['gpu'], 'on one node')}).")
    s.blocks.append(risks)
    return s


def _assumptions_section(job: JobSpec, rec: dict, catalog, job_name: str,
                         today: Optional[_dt.date] = None) -> Section:
    """Prices, on-prem parameters, peaks and efficiencies (measured or prior), and every assumption and note."""
    best = rec["best"]
    buy = best["cost"].get("buy")
    inp = rec.get("inputs") or {}
    s = Section("Assumptions")
    s.blocks.append(_price_rows(rec, catalog, today))
    onprem_rows = _onprem_rows(catalog, best["hardware"]["gpu"], job.onprem, today) if buy else []
    if onprem_rows:
        s.blocks.append(Table(["on-prem parameter", "value", "unit", "basis", "price date", "source"],
                              onprem_rows, "buy-vs-rent inputs (override with a quote)"))
    calib = [f"Peak FLOP/s: {inp.get('peaks', '-')}.",
             "Measured efficiencies (calibration profile" + (f" {inp['profile']}" if inp.get("profile") else "") + "): "
             + (", ".join(inp.get("efficiencies_measured") or []) or "none") + "."
             + (f" Measured but not used: {', '.join(inp['efficiencies_measured_unused'])} "
                f"({inp['efficiencies_measured_unused_why']})." if inp.get("efficiencies_measured_unused") else ""),
             f"Everything else: {inp.get('efficiencies_prior', '-')}."]
    s.blocks.append(calib)
    noted = list(rec.get("assumptions") or []) + list(rec.get("notes") or [])
    if noted:
        s.blocks.append(["Assumed: " + a for a in noted])
    s.blocks.append(f"Job: {job_name}; generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC by planner.")
    return s


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------
def _svg(chart) -> Optional[str]:
    try:
        import vl_convert as vlc
    except ImportError:
        return None
    return vlc.vegalite_to_svg(chart.to_json())


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #ddd;
padding:.25em .6em;text-align:left}th{background:#f4f4f4}caption{caption-side:top;text-align:left;color:#555;
padding:.2em 0}figure{margin:.8em 0}figcaption{color:#666;font-size:.85em}"""


def _md_inline(text: str) -> str:
    """The only Markdown the sections use inside strings is **bold**."""
    out, bold = [], False
    for i, part in enumerate(html.escape(clean(text)).split("**")):
        if i:
            out.append("</strong>" if bold else "<strong>")
            bold = not bold
        out.append(part)
    return "".join(out)


def render_html(rep: Report) -> str:
    embed_specs = []
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(rep.title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(rep.title)}</h1>"]
    for sec in rep.sections:
        parts.append(f"<section><h2>{html.escape(sec.title)}</h2>")
        for b in sec.blocks:
            if isinstance(b, str):
                parts.append(f"<p>{_md_inline(b)}</p>")
            elif isinstance(b, list):
                parts.append("<ul>" + "".join(f"<li>{_md_inline(x)}</li>" for x in b) + "</ul>")
            elif isinstance(b, Table):
                if not b.rows:
                    parts.append(f"<h3>{_md_inline(b.caption)}</h3>")
                    continue
                cap = f"<caption>{_md_inline(b.caption)}</caption>" if b.caption else ""
                head = ("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in b.columns) + "</tr>") if any(b.columns) else ""
                body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in b.rows)
                parts.append(f"<table>{cap}{head}{body}</table>")
            elif isinstance(b, Chart):
                # the link percent-encoded: a report named "budget review (v2).md" linked its charts as
                # (budget review (v2)_files/memory.svg), which CommonMark reads as text, not an image (a link
                # destination holds no spaces); the files keep their names
                svg = _svg(b.chart)
                if svg is not None:
                    parts.append(f"<figure class='chart' id='chart-{b.name}'>{svg}<figcaption>{html.escape(b.alt)}</figcaption></figure>")
                else:
                    embed_specs.append((b.name, b.chart.to_json()))
                    parts.append(f"<figure class='chart'><div id='chart-{b.name}'></div><figcaption>{html.escape(b.alt)}</figcaption></figure>")
        parts.append("</section>")
    summary = json.dumps(jsonable(rep.summary)).replace("</", "<\\/")
    parts.append(f"<script type='application/json' id='planner-summary'>{summary}</script>")
    if embed_specs:  # no vl-convert: render in the browser with vega-embed
        parts.append("<script src='https://cdn.jsdelivr.net/npm/vega@5'></script>"
                     "<script src='https://cdn.jsdelivr.net/npm/vega-lite@5'></script>"
                     "<script src='https://cdn.jsdelivr.net/npm/vega-embed@6'></script><script>")
        for name, spec in embed_specs:
            parts.append(f"vegaEmbed('#chart-{name}', {spec});")
        parts.append("</script>")
    parts.append("</body></html>")
    return "\n".join(parts)


#: a code span (CommonMark 6.1): a run of text between single backticks on one line. The sections write commands
#: and names as such (``run `planner calibrate` on one node``); its text is shown as it is, nothing in it is read as
#: Markdown or HTML
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")


def _md_text(x) -> str:
    """Text for Markdown: model names, catalog rows and notes are the user's, so HTML (``<script>``),
    links (``[x](url)``), a lone backtick and control characters are shown as text, never interpreted.
    The sections' own ``**bold**`` is kept (it is the only emphasis they use), and so are their code spans
    (``_CODE_SPAN``), inert themselves: a renderer shows a code span's text as it is, which is also why nothing in one
    is escaped (until code42 every backtick was, and the report read \\`planner calibrate\\` where it meant a
    command). ``&`` and ``<`` are entities (no tag or entity can start), ``>`` only where it would open a block quote:
    in running text it stays ``>``, so an arrow reads ``->``, not ``-&gt;`` (QA 40)."""
    parts = _CODE_SPAN.split(clean(x))
    s = "".join(p if i % 2 else _md_escape(p) for i, p in enumerate(parts))
    return re.sub(r"(?m)^(\s*)>", r"\1\\>", s)


def _md_escape(s: str) -> str:
    """``_md_text`` outside code spans: entities for ``&`` and ``<``, backslash escapes for ``\\ [ ] ` ``."""
    s = s.replace("&", "&amp;").replace("<", "&lt;")
    return s.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace("`", "\\`")


def _md_cell(x: str) -> str:
    return _md_text(x).replace("|", "\\|").replace("\n", " ")


def render_markdown(rep: Report, assets_dir: str) -> tuple[str, dict[str, bytes]]:
    """Markdown text and the chart files it links (relative to the .md file's folder)."""
    assets: dict[str, bytes] = {}
    out = [f"# {_md_cell(rep.title)}", ""]
    for sec in rep.sections:
        out += [f"## {_md_cell(sec.title)}", ""]
        for b in sec.blocks:
            if isinstance(b, str):
                out += [_md_text(b), ""]
            elif isinstance(b, list):
                out += [f"- {_md_cell(x)}" for x in b] + [""]
            elif isinstance(b, Table):
                if not b.rows:
                    out += [_md_text(b.caption), ""]
                    continue
                if b.caption:
                    out += [f"*{_md_text(b.caption)}*" if "**" not in b.caption else _md_text(b.caption), ""]
                cols = b.columns if any(b.columns) else ["", ""]
                out.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
                out.append("|" + "|".join("---" for _ in cols) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
                out.append("")
            elif isinstance(b, Chart):
                # the link percent-encoded: a report named "budget review (v2).md" linked its charts as
                # (budget review (v2)_files/memory.svg), which CommonMark reads as text, not an image (a link
                # destination holds no spaces); the files keep their names
                svg = _svg(b.chart)
                if svg is not None:
                    rel = f"{assets_dir}/{b.name}.svg"
                    assets[rel] = svg.encode("utf-8")
                    out += [f"![{_md_cell(b.alt)}]({_link(rel)})", ""]
                else:
                    rel = f"{assets_dir}/{b.name}.vl.json"
                    assets[rel] = b.chart.to_json().encode("utf-8")
                    out += [f"[{_md_cell(b.alt)} (Vega-Lite spec; open in https://vega.github.io/editor)]({_link(rel)})", ""]
    summary = json.dumps(jsonable(rep.summary)).replace("--", "-\\u002d")
    out.append(f"<!-- planner-summary: {summary} -->")
    return "\n".join(out) + "\n", assets


def _link(rel: str) -> str:
    """A chart file's Markdown link, percent-encoded (RFC 3986 section 2.1) from the bytes of its name. A report named
    with bytes that are not UTF-8 (``-o $'\\xff.md'``: Linux names are bytes, which Python holds as surrogate escapes,
    PEP 383) was an internal error (UnicodeEncodeError in ``quote``) after the whole search (fuzz47): the escapes go back
    to their bytes, ``%FF_files/memory.svg``, which a viewer decodes to the folder's name on disk.

    >>> _link("a b_files/memory.svg"), _link("\\udcff_files/memory.svg")
    ('a%20b_files/memory.svg', '%FF_files/memory.svg')
    """
    return quote(rel, errors="surrogateescape")


def report_format(path: Path) -> str:
    """``html`` or ``md`` by the report file's suffix (``outputs.REPORT``); any other name refused."""
    return REPORT.format_of(Path(path), "--out")


def report_folder(path: Path) -> Path:
    """A Markdown report's chart folder: ``<stem>_files/`` beside it."""
    return path.parent / f"{path.stem}_files"


def check_report_target(path, force: bool = False, inputs: Iterable = ()) -> Path:
    """Before the search: the report's path (``output_target``: new, or ``force``; a report suffix; not an input) and,
    for Markdown, its chart folder by the folder rule ``write_outputs`` applies at the write -- an existing file or a
    link there (without ``force``), a name past the file system's limit. Until qa59 the folder was looked at only
    once the report was built: `report -o r.md` beside a file `r_files`, or a link `r_files -> /data/charts`, searched
    and simulated first, then "error: --out: .../r_files: exists and is not a folder". A Markdown report that ends up
    with no chart leaves the folder alone, but its name is the report's either way: refused the same. The path."""
    path = output_target(path, "--out", inputs, force, kind=REPORT)
    if report_format(path) == "md":
        output_target(report_folder(path), "--out", force=force, folder=True)
    return path


def write_report(rep: Report, path: str | Path, force: bool = False) -> list[Path]:
    """Write the report (and, for Markdown, its chart files in ``<stem>_files/``) by the output
    rules of ``planner.outputs``: all or nothing, an existing file (the report or a chart) replaced
    only with ``force``, an existing chart folder written into and never emptied, a symlink replaced
    itself (its target untouched) -- the chart folder's too, by a new folder -- devices and folders refused.

    An HTML report leaves a ``<stem>_files/`` beside it alone, ``--force`` or not (looked at in QA 39c and kept):
    ``report -o r.html --force`` after ``report -o r.md`` replaces no file of that report -- ``r.md`` stays and links
    its 4 charts there, so removing them, even the listed unchanged ones ``FOLDER_MANIFEST`` would allow, would break a
    report this run did not replace; the list's removal is for a forced write of the same output only."""
    path = Path(path)
    output_target(path, "--out", force=force, kind=REPORT)
    fmt = report_format(path)
    if fmt == "html":
        text, assets = render_html(rep), {}
    else:
        text, assets = render_markdown(rep, f"{path.stem}_files")
    folder = report_folder(path)
    files = {folder / Path(rel).name: data for rel, data in assets.items()}
    files[path] = text  # last: the report appears only once its charts are in place
    # the folder of an earlier Markdown report of this name is this report's too: with --force its earlier charts this
    # run does not write go (outputs.FOLDER_MANIFEST: only those listed, unchanged), even when this run writes none
    ours = assets or (fmt == "md" and force and folder.is_dir() and not folder.is_symlink())
    written = write_outputs(files, "--out", folders=[folder] if ours else [], force=force)
    return [path] + [p for p in written if p != path]


def report_for_job(job: JobSpec, catalog=None, profile=None, top: int = 10, simulate: bool = True,
                   job_name: str = "job", rec: Optional[dict] = None,
                   today: Optional[_dt.date] = None) -> tuple[Report, dict]:
    """Search (unless ``rec`` is given) and build the report; returns (report, recommend result). ``today``: the day
    the price-date cells count ages to (``build_report``)."""

    cat = catalog or load_catalog()
    kind = report_kind(job)
    if kind in ("serving", "tabular") and rec is None:
        from planner.workloads import Context, plan

        planned = plan("serve" if kind == "serving" else "recommend", job, Context(catalog=cat, profile=profile, top=top, simulate=simulate))
        build = build_serving_report if kind == "serving" else build_tabular_report
        rep = build(job, planned.result, job_name=job_name, top=top, **({"catalog": cat} if kind == "serving" else {}))
        if planned.campaign:
            rep.sections.insert(1, _campaign_section(planned.campaign))
        return _with_overrides(rep, cat), planned.result
    if rec is None:
        rec = recommend(job, cat, profile, top=top, simulate=simulate)
    rep = build_report(job, rec, cat, profile, job_name=job_name, today=today)
    if job.campaign is not None:
        from planner.workloads.campaign import plan_campaign

        best = rec["best"]["cost"]
        camp = plan_campaign(job, {"hours": hours_of(rec["best"], rec["spot"]), "usd": _cost(rec["best"], rec["spot"])}, cat)
        rep.sections.insert(1, _campaign_section(camp))
    return _with_overrides(rep, cat), rec


#: the override lines a report lists (the rest counted), as the CLI's stderr shows them
REPORT_OVERRIDE_LINES = 20


def _with_overrides(rep: "Report", cat) -> "Report":
    """The report's Assumptions end with what each catalog override file changed (``Catalog.overrides``: the file,
    the row, old -> new), as the CLI says them on stderr: a report read later is the only record of the files that
    priced it. Until QA 46 a row that gave its own source ("ACME EDP quote") was cited without its file's name, and a
    file that changed an on-prem or commitment row was named nowhere in the report."""
    notes = list(getattr(cat, "overrides", None) or [])
    if not notes:
        return rep
    lines = [f"Catalog override {n}" for n in notes[:REPORT_OVERRIDE_LINES]]
    if len(notes) > REPORT_OVERRIDE_LINES:
        lines.append(f"... and {len(notes) - REPORT_OVERRIDE_LINES:,} more override rows")
    for sec in rep.sections:
        if sec.title == "Assumptions":
            sec.blocks.append(lines)
            return rep
    rep.sections.append(Section("Assumptions", [lines]))
    return rep


# --------------------------------------------------------------------------------------------
# budget-review pieces (memory limit, spot, network, scaling) and the reports of other workloads
# --------------------------------------------------------------------------------------------
def _memory_line(mem: dict, noun: str = "GPU", gpu: str | None = None) -> str:
    """The plan's memory against its limit; ``noun`` what one accelerator is called (``units.device_of``: a TPU's
    "32 GiB chip memory", which read "GPU memory"); ``gpu`` the catalog accelerator, whose platform names what the
    total's ``other`` holds (planner.model.memory ``other_words``: a TPU has no NCCL buffers)."""
    if mem.get("limit") is None:
        return f"{mem['total'] / GiB:.1f} of {mem['capacity'] / GiB:.0f} GiB"
    from planner.hardware.platform import platform_of
    from planner.model.memory import other_words

    try:
        from hardware_catalog.catalog import builtin_gpu

        plat = platform_of(builtin_gpu(gpu)) if gpu else None
    except KeyError:  # a GPU only a user's catalog knows
        plat = None
    return (f"{mem['total'] / GiB:.1f} GiB of {mem['limit'] / GiB:.1f} GiB allowed ({mem['capacity'] / GiB:.0f} GiB {noun} memory, "
            f"{mem['headroom']:.0%} headroom; {other_words(plat).removeprefix('the ')} counted in the total); "
            # to the capacity, not to the limit: "67.4 GiB of 76.0 allowed; margin 12.6 GiB" read as a sum that does not
            # add up; "GPU memory", not "HBM": an L4, A10G or T4 has GDDR6
            f"{mem['margin'] / GiB:.1f} GiB free of the {mem['capacity'] / GiB:.0f} GiB {noun} memory")


def _accuracy_cell(a: dict) -> str:
    """The time and cost a real run like the plan has taken (``Plan.accuracy``), in one table cell."""
    return (accuracy_range(a) + f"; 10th-90th percentile of the step-time error on {a['rows']:,} published {a['runs']}"
            + (f" ({a['coverage']})" if a.get("coverage") else "") + " (Risks)")


def _spot_risk_line(r: dict) -> str:
    # the time as everywhere else in the report ("44.1 d", fmt_time: it read "44.1 days" beside "44.1 d")
    return (f"expected {fmt_usd(r['expected_cost_usd'])} and {fmt_time(r['expected_hours'] * 3600)} with "
            f"{fmt_many(r['interruptions'])} interruptions" + (f" and {fmt_many(r['node_failures'])} node failures"
                                                         if r.get("node_failures") is not None else "")
            + f" (+{fmt_share(r['overhead'])} time: {spot_causes(r)}); {spot_range(r)}")


def _network_unswept(hw: dict) -> Optional[str]:
    """Why the inter-node network sweep would print one plan in every row, or None: single-node hardware has no
    fabric, and a plan of one node sends nothing between nodes (QA 70: six identical rows, where the Risks bullet
    already said the plan does not depend on the network)."""
    if hw.get("multi_node") is False:
        return f"{hw['name']} is single-node only"
    if hw.get("nodes", 1) <= 1:
        return "the plan runs on one node and uses no inter-node network"
    return None


def _network_risk(best: dict, rec: dict, sweep: Optional[pd.DataFrame]) -> str:
    """The network the plan assumes and how much the step time moves with it."""
    hw = best["hardware"]
    if hw.get("multi_node") is False:  # no fabric to assume: the plan's figures do not depend on one
        return ("Network: none between nodes — this hardware is single-node only (no cluster fabric in the catalog), "
                "so the plan cannot grow past one node and its figures do not depend on a network.")
    gbps = hw["inter_node_gbps"]
    assumed = hw.get("network_assumed")
    if not assumed:
        basis = "from the catalog"
    elif hw.get("network_reference"):  # a bare-GPU cluster on its GPU's reference fabric (options.reference_network)
        basis = ("ASSUMED (not stated for this cluster: the fabric of the best-networked training instance with its GPU "
                 "in the catalog, or its reference system's where no instance row carries it)")
    else:
        basis = f"ASSUMED (no sourced figure for this fabric; the default for an unknown fabric is {DEFAULT_NETWORK_GBPS:g} Gb/s)"
    what = f"Network: {gbps:,g} Gb/s per node {basis}"
    if hw["nodes"] <= 1:
        return what + "; the plan is one node, so it does not depend on it."
    if sweep is None or sweep.empty:
        return what + "."
    cur, _, analytic = _sweep_base(best, sweep)  # a data-bound plan's simulated step is no sweep row's basis (QA 63)
    half = sweep[(sweep["value"] < gbps) & sweep["step_time_s"].notna()]
    if half.empty:
        return what + "."
    r = half.iloc[-1]
    d = r["step_time_s"] / cur - 1  # "+0%" was printed for a 0.4% slower step
    return what + (f"; at {r['value']:,g} Gb/s the step takes {'+' if d >= 0 else ''}{fmt_pct(d)} "
                   f"({fmt_time(r['step_time_s'])} vs {fmt_time(cur)}{analytic}).")


def _scaling_section(rec: dict, spot: bool) -> Optional[Section]:
    """Time and cost at each node count with the layout re-optimised (the search's own table)."""
    table = rec.get("kept")
    if table is None:
        return None
    from planner.search.rank import scaling_view

    rows = scaling_view(table, rec["best"]["hardware"]["name"])
    if len(rows) < 2:
        return None
    s = Section("Scaling (layout re-optimised at each node count)")
    if rec.get("views_note"):  # a data-bound job: the scaling table is compute-bound, the recommendation simulated
        s.blocks.append(rec["views_note"][0].upper() + rec["views_note"][1:] + ".")
    util = utilisation_columns(rows, fmt_pct)  # MFU and HFU, as the app's scaling table
    times = fmt_hours_column([r["days"] * 24 for r in rows])  # one unit a column (QA 70)
    searched = view_searched_columns(rows)  # each count's stack and fp8 recipe, where searched and they differ (qa77)
    s.blocks.append(Table(["nodes", "layout", *searched, "step s", *util, "time to train", "cost"],
                          [[str(r["nodes"]), config_str(r), *(v[i] for v in searched.values()), fmt_step_s(r['step_time_s']),
                            *(u[i] for u in util.values()),
                            times[i], fmt_usd(r["cost"])] for i, r in enumerate(rows)],
                          f"best layout per node count on {rec['best']['hardware']['name']}"
                          + (" (expected spot cost)" if spot else "")
                          # the search's ranked figures: with the job's checkpoint pauses and failures, as the
                          # alternatives say (this caption did not)
                          + (" (times and costs with the checkpoint pauses and node failures)"
                             if rec["best"]["cost"].get("checkpoint_failures") else "")))
    return s


def _kv(d: dict, keys) -> list[list[str]]:
    out = []
    for k, label in keys:
        v = d.get(k)
        if v is None:
            continue
        if k == "utilisation":  # a share: 57%, not 0.5725
            out.append([label, fmt_pct(v)])
            continue
        if isinstance(v, float) and k.startswith("usd"):  # a cost as every other cost reads ("$15.8k")
            out.append([label, fmt_usd(v)])
            continue
        # from 10,000 up ``g`` switched to powers of ten: a 16,000-token RAG job's "$ per 1M requests" read
        # "1.582e+04" until QA 42 (README Conventions: digits from a millionth to a quadrillion)
        out.append([label, (f"{v:,.4g}" if abs(v) < 1e4 else fmt_sig(v, 4)) if isinstance(v, float) else str(v)])
    return out


#: the serving review's headline rows: (key of the best option, label)
SERVING_ROWS = (("hardware", "hardware"), ("gpu", "GPU"), ("tp", "tensor parallel per replica"), ("replicas", "replicas"),
                ("nodes", "nodes"), ("gpus", "GPUs"), ("batch", "batch"), ("ttft_ms", "TTFT ms (analytic)"),
                ("tpot_ms", "TPOT ms (analytic)"), ("bound", "bound by"),
                ("requests_per_s_per_replica", "requests/s per replica (analytic)"),
                ("usd_per_hr", "$ per hour"), ("usd_per_million_requests", "$ per 1M requests"),
                ("utilisation", "utilisation (analytic)"), ("weights_gib_per_gpu", "weights GiB per GPU"))
#: an offline (``mode: batch``) job's headline numbers in the report's summary, beside ``SERVING_ROWS``
OFFLINE_SUMMARY = ("batch_offline", "requests_per_s_offline", "usd_per_million_requests_offline", "offline_price",
                   "offline_usd", "offline_replicas", "offline_hours")
#: the serving targets as a person reads them: (key, label, unit)
SERVING_TARGETS = (("tpot_ms", "TPOT p99", "ms"), ("ttft_ms", "TTFT p99", "ms"), ("qps", "load", "requests/s"),
                   ("prompt_tokens", "prompt", "tokens (mean)"), ("output_tokens", "output", "tokens (mean)"),
                   ("shared_prefix_tokens", "shared prompt prefix", "tokens"), ("requests", "requests", "in the job"))

#: a generic model's (a CNN's) headline labels where an LLM's do not apply: its one latency is in ``tpot_ms``
GENERIC_LABELS = {"tpot_ms": "p99 latency ms (analytic)"}
#: the serving targets only an LLM has (a generic model serves whole samples, not tokens)
LLM_ONLY_TARGETS = ("ttft_ms", "prompt_tokens", "output_tokens", "shared_prefix_tokens")


def _load_words(qps: Optional[float], trace: bool, fleet: bool = False) -> str:
    """The load a serving figure (a utilisation) is at, named by its rate: a replayed trace's own (the plan is sized
    for it, ``trace_note``), a fixed fleet's (``serving.replicas``: the most it carries, ``fleet_qps``) or
    serving.qps. Until QA 37b the report's "utilisation at the stated load" was at the trace's rate (7.88 requests/s
    for examples/serving-trace.csv) beside a stated 2; until QA 88 a fixed fleet's read "(serving.qps)", which such a
    job has none of.

    >>> _load_words(7.8797, True), _load_words(2, False), _load_words(None, False)
    ("7.88 requests/s (the trace's rate, not serving.qps)", '2.00 requests/s (serving.qps)', 'the stated load')
    >>> _load_words(30.6, False, fleet=True)
    '30.6 requests/s (the most the fixed fleet carries within the targets)'
    """
    if not qps:  # no rate to name (an offline job's backlog)
        return "the stated load"
    return f"{fmt_rate(qps)} requests/s " + ("(the trace's rate, not serving.qps)" if trace else
                                             "(the most the fixed fleet carries within the targets)" if fleet else
                                             "(serving.qps)")


def _serving_simulated(sim: dict, tgt: dict, margin: Optional[float], trace: bool = False,
                       fleet: bool = False) -> Section:
    """What the queueing simulation of the recommended size showed: the p50/p90/p99 latencies a
    user will see against the targets, and the load a replica really sustains (its simulated
    saturated throughput, below the analytic steady state when prefill bursts interrupt decode)."""
    def cell(key, q):  # a TPOT of one-token requests only is none (null; NO_TPOT): "n/a", as serve prints it
        v = (sim.get(key) or {}).get(q)
        return "n/a" if v is None and key == "tpot_ms" and sim.get("tpot_requests") == 0 else _num(v, ",.1f")
    lat = [[name, *(cell(key, q) for q in ("p50", "p90", "p99")),
            fmt_given(tgt[t]) if tgt.get(t) is not None else "-"]
           for key, name, t in (("ttft_ms", "TTFT ms", "ttft_ms"), ("tpot_ms", "TPOT ms", "tpot_ms"),
                                ("e2e_ms", "end-to-end ms", None))]
    sl = sim.get("fleet_slice")  # a large fleet is simulated as a slice at its share of the QPS
    where = (f"{sim.get('requests', 0):,} requests at {sl['qps']:,.6g} requests/s on {sl['replicas']} replicas (a slice "
             f"of the {sim.get('replicas'):,}-replica fleet at {sim.get('qps', 0):,.6g} requests/s, each simulated replica "
             f"standing for {sl['replicas_per_simulated']:.3g})" if sl else
             f"{sim.get('requests', 0):,} requests at {fmt_rate(sim.get('qps', 0))} requests/s on "
             f"{count_of(sim.get('replicas') or 0, 'replica')}")
    head = (f"{where}, {sim.get('simulated_s', 0) / 60:.1f} simulated minutes; token budget {sim.get('max_num_batched_tokens')}, "
            f"at most {sim.get('max_num_seqs')} sequences per replica"
            + (f"; sized so that each p99 sits {margin:.0%} under its target" if margin else ""))
    kv = [["meets the targets", "yes" if sim.get("meets_targets") else "NO"],
          ["goodput (requests meeting both targets)", fmt_pct(sim.get("goodput"))],
          ["saturated requests/s per replica", f"{sim.get('saturated_rps_per_replica') or float('nan'):,.2f}"],
          [f"utilisation at {_load_words(sim.get('qps'), trace, fleet)}", fmt_pct(sim.get("utilisation"))],
          ["KV cache used (max)", fmt_pct(sim.get("kv_used_max"))], ["queue (max requests waiting)", str(sim.get("queue_max", "-"))],
          ["preemptions", str(sim.get("preemptions", "-"))], ["unfinished requests", str(sim.get("unfinished", "-"))]]
    return Section("Simulated latency (queueing, continuous batching, KV cache)",
                   [head + ".", Table(["latency", "p50", "p90", "p99", "target (p99)"], lat), Table(["", ""], kv)])


def _pairs(x) -> list:
    if isinstance(x, dict):
        return list(x.items())
    if isinstance(x, str):
        return [("definitions", x)]
    return [(k, v) for k, v in (x or ())] if isinstance(x, (list, tuple)) else []


def _target_ms(v) -> str:
    """A latency target as the user gave it, with its unit; "none" where the job sets none."""
    return f"{fmt_given(v)} ms" if v is not None else "none"


def _offline_risk(best: dict, job: JobSpec) -> str:
    """What an offline plan's cost assumes, with its numbers. An LLM job of ``serving.requests`` is sized by
    ``serving._offline_plan``: r replicas each run ceil(requests / r) at min(memory-limited batch, that share), refilled
    by continuous batching at the mean lengths (``offline_run``: the longest requests' tail is left out), the fleet held
    until its slowest replica finishes. Until session 28 this said "the memory-limited batch stays full", the rule
    before ``offline_run``; it still is the rule without a request count (full throughput, ``_option``)."""
    s = job.serving
    b, mem, rps = best.get("batch_offline"), best.get("batch"), best.get("requests_per_s_offline")
    head = "No latency target (offline batch inference): the cost assumes "
    if not (s and s.requests and b and rps and mem is not None and b <= mem):
        return head + f"the memory-limited batch{f' ({b})' if b else ''} stays full."
    r = best.get("offline_replicas") or 1
    share = -(-int(s.requests) // r)  # ceil: the slowest replica's requests
    hours = best.get("offline_hours") or share / rps / 3600
    why = ("the largest memory and serving.max_batch allow" if b == mem else
           f"each replica's share, under the {mem} memory and serving.max_batch allow")
    each = "1 replica" if r == 1 else f"{r} replicas, {share:,} each,"
    return (head + f"{int(s.requests):,} requests on {each} at batch {b} ({why}) for {fmt_run_time(hours)}, "
            f"continuous batching refilling each finished sequence at the mean lengths ({s.prompt_tokens:,} prompt + "
            f"{s.output_tokens:,} output tokens; a tail of longer requests is left out)"
            + (", the fleet held until its slowest replica finishes." if r != 1 else "."))


def _under(ms: Optional[float], target: Optional[float]) -> str:
    """How far under (over) its target a simulated p99 sits, as a share of the target: " (59% under)"."""
    if ms is None or not target:
        return ""
    d = 1 - ms / target
    return f" ({fmt_pct(abs(d))} {'under' if d >= 0 else 'over'})"


def _replicas_month(r: dict, of: str = "") -> str:
    """A re-sized fleet in words: "10 replicas ($13.6k a month)", or why the option cannot serve it."""
    if not r.get("replicas"):
        return f"the option cannot serve it ({r.get('reason') or 'no size meets the targets'})"
    rng = r.get("replicas_range")  # the screen's count, not simulated: its likely range (serving_budget.replica_range)
    return (f"{count_of(r['replicas'], 'replica')}{of} ({fmt_usd(r['usd_per_month'])} a month"
            + (f"; likely {rng[0]:,} to {rng[1]:,}, {r['bound_by']}-bound" if rng else "") + ")")


def price_check_risks(catalog, key: str, lines_of) -> list[str]:
    """A report's Risks lines for the rates a plan is priced from that sit outside the catalog's price checks:
    ``lines_of(flags)`` (``present.terminal``'s "price check:" lines at ``hardware_catalog.price_checks.flagged_rates``
    of ``catalog``) each as a sentence, with instance ``key``'s ``price_check`` (why the catalog keeps the row). The
    training report's and the serving report's (qa92: its spot what-if at p6-b300's flagged rate was unremarked); none
    without a catalog."""
    if catalog is None:
        return []
    from hardware_catalog.price_checks import flagged_rates

    why = getattr(catalog.instances.get(key), "price_check", "")
    return [line[0].upper() + line[1:] + (f". Why the catalog keeps it: {why}." if why else ".")
            for line in lines_of(flagged_rates(catalog))]


def serving_budget_risks(b: dict, best: dict) -> list[str]:
    """The serving review's risks with a number each (``serving_budget.serving_budget``): QPS growth, a longer prompt, spot
    (the app's serving view lists them under "risks", ``interactive.serving_budget``)."""
    what = f"{best['hardware']} {replica_layout(best)}"
    base = b.get("analytic_replicas")
    now = (f"; it sizes {count_of(base, 'replica')} at today's {fmt_rate(b['qps'])} requests/s"
           # simulated or not, said beside the what-ifs: they are the screen's, the plan's count may be the simulation's
           + (f" (the simulation sized it at {b['replicas']:,})" if b["sized_by"] == "simulated" else "")
           if base else "")
    out = ["QPS growth (the analytic screen of " + what + ", not simulated): "
           + "; ".join(f"at {g['factor']:g}x ({fmt_rate(g['qps'])} requests/s) {_replicas_month(g)}" for g in b["qps_growth"])
           + now + "."]
    p = b.get("prompt_growth")
    if p:
        out.append(f"Prompt length: at {p['factor']:g}x the prompt ({p['prompt_tokens']:,} tokens) {_replicas_month(p)}"
                   + (f", batch {p['batch']}" if p.get("batch") else "") + f", against {count_of(base or b['replicas'], 'replica')} "
                   "(the analytic screen: more prefill a request and more KV a sequence).")
    if b.get("spot"):
        out.append(f"Spot: {spot_whatif_words(b['spot'])}.")
    return out


def _serving_cost_section(res: dict, best: dict, b: dict, with_charts: bool) -> Section:
    """What the real-time fleet costs a month and a year at the stated QPS, spot beside it, and each option's month."""
    s = Section("Cost per month and year")
    rate = budget_rate(b)
    lines = [f"{rate[0].upper() + rate[1:]}: {fmt_usd(b['usd_per_hr'])} an hour ({count_of(best.get('nodes') or 0, 'node')} of "
             f"{best['hardware']}) x {b['hours_per_month']:,.0f} h a month (8,760 h a year / 12) = "
             f"{fmt_usd(b['usd_per_month'])} a month, {fmt_usd(b['usd_per_year'])} a year, serving "
             f"{fmt_rate(b['qps'])} requests/s every hour: "
             f"{usd_per_million(best.get('usd_per_million_requests'))} per 1M requests."]
    sp = b.get("spot")
    lines.append(f"Spot: real-time replicas are priced {rate_after(b.get('price'))} (a reclaimed replica drops its "
                 "requests in flight); "
                 f"the same nodes on spot: {fmt_usd(sp['usd_per_month_before_interruptions'])} a month before "
                 f"interruptions, {sp['reclaims_per_month']:.1f} reclaims a month expected." if sp else
                 "Spot: no spot price in the catalog for this instance (real-time replicas are priced "
                 f"{rate_after(b.get('price'))}).")
    if b.get("buy"):  # the same nodes owned (serving_budget.fleet_buy): serve printed it, the review did not (QA 47)
        lines.append(f"Buy: {buy_words(b['buy'])}.")
    if b.get("price_dates"):  # how old the prices above are (cost.price_dates; buy36)
        lines.append(f"Prices dated: {price_dates_words(b['price_dates'])}.")
    if (sp or {}).get("price_dates"):  # the spot what-if's rate, dated apart: the fleet is not priced at it (follow41)
        lines.append(f"Spot price dated: {price_dates_words(sp['price_dates'])}.")
    lines.append(f"Likely range: {range_cell(b)}" + (f": {b['range_basis']}." if b["replicas_range"] else "."))
    s.blocks.append(lines)
    if with_charts and not charts.serving_cost_frame(res).empty:
        # at the rate the options are sized for, which a replayed trace sets (QA 57: "at the job's QPS" under a chart
        # titled "at 7.88 requests/s", the trace's, beside a job of 40)
        at = _load_words(b.get("qps"), bool((res.get("simulation") or {}).get("trace")))
        s.blocks.append(Chart("serving_cost", charts.serving_cost_chart(res),
                              f"$ per month of each option at {at} ({rate}, 730 h), coloured by whether it "
                              "meets the latency targets"))
    return s


def build_serving_report(job: JobSpec, res: ServingPlan, job_name: str = "job", top: int = 10,
                         with_charts: bool = True, catalog=None) -> Report:
    """A serving review: the replica, latency against its targets, cost per request, the options. ``catalog``: the
    one planned on, whose price checks the rates shown are held to (Risks)."""
    res = jsonable(res)  # read as the JSON (NaN as None); the summary embedded in the report is that JSON
    best = res["best"]
    title = f"Serving review: {res.get('model', job.model.name if job.model else 'model')} ({res.get('mode', '')})"
    realtime = res.get("mode") != "batch"
    # an offline option is sized by node-hours, not replicas (it has replicas only when simulated to a deadline)
    # replicas and nodes are different counts (6 TP4 replicas fill 3 eight-GPU nodes): "6 x p4de replicas" read as 6 nodes
    where = (f"Serve {best['replicas']} {replica_layout(best)} replica{'s' if best['replicas'] != 1 else ''} on "
             f"{best.get('nodes', '?')} x {best['hardware']}" if best.get("replicas") else
             f"Run batch inference on {best['hardware']} replicas ({replica_layout(best)}, batch {best.get('batch_offline')})")
    llm = res.get("kv_bytes_per_token") is not None
    # a generic model (a CNN) has one request latency, in the TPOT field, and no tokens: its review said
    # "TPOT ms" and listed the serving section's LLM defaults (512 prompt + 256 output tokens) as its targets
    rows = _kv(best, SERVING_ROWS if llm else
               tuple((k, GENERIC_LABELS.get(k, label)) for k, label in SERVING_ROWS))
    if realtime and best.get("utilisation") is not None and best.get("replicas"):
        # the analytic utilisation is at the rate the plan is sized for -- a replayed trace's, not serving.qps (QA 37b
        # labelled the simulated row so; this one still read "utilisation (analytic)" beside a stated 2 QPS): the rate
        # back from its definition, QPS / (replicas x requests/s per replica) (serving._sized)
        rate = best["utilisation"] * best["replicas"] * best["requests_per_s_per_replica"]
        at = _load_words(rate, bool(job.serving and job.serving.trace), best.get("fleet_qps") is not None)
        rows = [[f"utilisation (analytic) at {at}", v] if label == "utilisation (analytic)" else [label, v]
                for label, v in rows]
    if (best.get("ep") or 1) > 1:  # an EP replica runs no tensor parallelism: "tensor parallel per replica 8" misread it
        rows = [["expert parallel per replica", f"{best['ep']} ({replica_layout(best)}: each GPU holds 1/{best['ep']} of "
                 "every MoE layer's experts and runs attention for its own sequences, data-parallel)"]
                if label == "tensor parallel per replica" else [label, v] for label, v in rows]
    if not realtime:
        # an offline job's costs are per million requests (analytic and the simulated backlog's) and for the job's
        # requests: the table had no $ row at all (usd_per_hr and the real-time $/1M are not set offline)
        price = f", {RATE_NAMES.get(best['offline_price'], best['offline_price'])}" if best.get("offline_price") else ""
        sim_b = best.get("simulated") if isinstance(best.get("simulated"), dict) else {}
        rows += [[f"{label} ({how}{price})", fmt_usd(v)] for label, how, v in (
            ("$ per 1M requests", "analytic", best.get("usd_per_million_requests_offline")),
            ("$ per 1M requests", "simulated backlog", sim_b.get("usd_per_million_requests")),
            # the job's $ as billed is the "job cost" row below (whole nodes, serving_budget.offline_budget); this one,
            # the replicas' GPU share, read $131.82 above a $1.05k node held for the run (QA 84): only without it
            ("$ for the job's requests", "simulated backlog",
             None if res.get("offline_budget") else sim_b.get("usd"))) if v is not None]
        if not any(r[0].startswith("$") for r in rows):
            rows.append(["$", "no price (a bare GPU: set cluster.price_usd_hr)"])
        # a deadline or a GPU floor / cap sets the replicas: how many, and how long they take (analytic; the
        # simulated backlog's in its own section)
        if best.get("offline_replicas"):
            rows += [["replicas (analytic)", str(best["offline_replicas"])],
                     ["finishes in (analytic)", fmt_run_time(best["offline_hours"])]]
    ob = res.get("offline_budget")
    if ob:  # an offline job has no month: the whole job's $, its hours on the plan's replicas, and the likely range
        rows += [["job cost", offline_words(ob)],
                 ["likely range (model error)", (f"{fmt_run_time(ob['hours_range'][0])} to "
                                                 f"{fmt_run_time(ob['hours_range'][1])}, {fmt_usd(ob['usd_range'][0])} "
                                                 f"to {fmt_usd(ob['usd_range'][1])}" if ob["hours_range"] else
                                                 ob["range_basis"]) + " (Risks)"]]
        if ob.get("buy"):  # the same nodes owned for the job's hours (serving_budget.fleet_buy; until buy36 none)
            rows.append(["buy", buy_words(ob["buy"])])
        if ob.get("price_dates"):
            rows.append(["prices dated", price_dates_words(ob["price_dates"])])
    budget = res.get("budget")
    if budget:  # a budget line is written per month and per year: the fleet's $/h over 730 h a month
        rate = budget_rate(budget)
        rows += [[f"$ per month ({budget['hours_per_month']:,.0f} h, {rate})", fmt_usd(budget["usd_per_month"])],
                 [f"$ per year ({budget['hours_per_month'] * 12:,.0f} h, {rate})", fmt_usd(budget["usd_per_year"])],
                 ["likely range (model error)", range_cell(budget) + " (Risks)"]]
    # the FLOP/s per GPU the recommended option is priced at (training's reachable rate; serve40)
    rows += [["compute rate (per GPU)", r] for r in res.get("compute_rate", ())[:1]]
    rows += [["engine", engine_words(res)]] if res.get("engine") else []  # its release too (serving.engine_version)
    # the job's limits the answer holds to (constraints.max_gpus / min_gpus / budget_usd, an offline deadline)
    held = [["Held to " + c for c in res["constraints"]]] if res.get("constraints") else []
    secs = [Section("Recommendation", [f"{where}. Why: {res.get('why', '-')}.", Table(["", ""], rows), *held])]
    if budget:
        secs.append(_serving_cost_section(res, best, budget, with_charts))
    tgt = res.get("targets") or {}
    labels = {k: (name, unit) for k, name, unit in SERVING_TARGETS}
    if not llm:
        labels["tpot_ms"] = ("request latency p99", "ms")
    secs.append(Section("Latency and load targets", [Table(["target", "value", "unit"], [
        [*(labels.get(k, (k, ""))[:1]), fmt_given(v) if isinstance(v, (int, float)) else str(v), labels.get(k, ("", ""))[1]]
        for k, v in tgt.items() if v is not None and (llm or k not in LLM_ONLY_TARGETS)]),
        *(f"Trace: {n}." for n in (trace_note(res),) if n)]))
    sim = best.get("simulated") if isinstance(best.get("simulated"), dict) else None
    replayed = bool(sim and (res.get("simulation") or {}).get("trace"))  # a simulated plan is sized for its trace
    if realtime and sim and sim.get("ttft_ms"):
        secs.append(_serving_simulated(sim, tgt, (res.get("simulation") or {}).get("margin"), replayed,
                                       best.get("fleet_qps") is not None))
    elif sim and sim.get("throughput_rps"):  # offline: a simulated backlog gives the throughput, not latencies
        secs.append(Section("Simulated throughput (a backlog, continuous batching, KV cache)", [
            f"{sim.get('requests', 0):,} requests queued at once on one replica: {sim['throughput_rps']:,.3g} requests/s, "
            f"{sim.get('output_tokens_per_s') or 0:,.0f} output tokens/s per replica"
            + (f"; the job's requests take {fmt_run_time(sim['replica_hours'])} of replica time" if sim.get("replica_hours") else "")
            + (f"; {sim['replicas']} replica{'s finish' if sim['replicas'] != 1 else ' finishes'} them in {fmt_run_time(sim['hours'])}"
               if sim.get("hours") and sim.get("replicas") else "")
            # the nodes held for that time, billed whole (``serving_budget.billed_usd``); until offline47 the $ stood
            # beside the replica time at the replicas' GPU share (QA 84)
            + (f", {fmt_usd(sim['usd'])} for {count_of(sim['nodes'], 'node')} billed whole"
               if sim.get("usd") and sim.get("nodes") else "")
            + "."]))
    # `planner serve`'s own table and the lines under it (``present.serving.options_table`` / ``options_notes``, the
    # app's too): until QA 84 the report had its own columns ("meets latency", no $/h, no nodes, no "set by" unless a
    # row had one) beside serve's for the same plan
    if res.get("options"):
        opts = options_table(res, top)
        secs.append(Section("Options", [Table(opts.cols, opts.rows, "; ".join([opts.title, *options_notes(res, top)]))]))
    risks = []
    if realtime and sim and sim.get("ttft_ms"):  # the simulated p99s are what users will see (realtime only)
        # the targets as given, with their unit: "vs target 1000.0" was printed
        risks.append(f"Latency margin (simulated p99): TTFT {sim['ttft_ms']['p99']:,.0f} ms vs target "
                     f"{_target_ms(tgt.get('ttft_ms'))}{_under(sim['ttft_ms']['p99'], tgt.get('ttft_ms'))}, TPOT "
                     f"{tpot_words(sim['tpot_ms']['p99'])} vs target {_target_ms(tgt.get('tpot_ms'))}"
                     f"{_under(sim['tpot_ms']['p99'], tgt.get('tpot_ms'))}.")
    elif realtime:  # a generic model has one request latency (its tpot_ms) and no TTFT
        margin = ([f"TTFT {best['ttft_ms']:,.0f} ms vs target {_target_ms(tgt.get('ttft_ms'))}"] if best.get("ttft_ms") is not None else []) + [
            f"{'TPOT' if res.get('kv_bytes_per_token') is not None else 'p99 latency'} "
            f"{NO_TPOT if best['tpot_ms'] is None else format(best['tpot_ms'], ',.0f') + ' ms'} "
            f"vs target {_target_ms(tgt.get('tpot_ms'))}"]
        risks.append("Latency margin (analytic): " + ", ".join(margin) + ".")
    else:
        risks.append(_offline_risk(best, job))
    if budget:  # what moves the fleet and its bill, one line each with its number
        risks += serving_budget_risks(budget, best)
    # a rate the plan or its spot what-if is priced at that the catalog flags: the training report's lines
    risks += price_check_risks(catalog, best["hardware"],
                               lambda flags: result_price_check_lines(flags, res, spot_whatif=True))
    if res.get("accuracy"):  # the likely range (serving_budget.replica_range); held-out runs of models like this one
        risks.append("Model accuracy: " + res["accuracy"] + ".")
    osp = (ob or {}).get("spot")
    if osp:  # an offline job on spot: its nodes' reclaims over the run, not in its $ (serving_budget.offline_budget)
        lo, hi = osp["reclaims_range"]
        risks.append(f"Spot: {osp['reclaims']:.2f} reclaims expected over the {fmt_run_time(ob['hours'])} run "
                     f"({lo:.2f} to {hi:.2f}), each a node gone ~{osp['capacity_wait_minutes']:.0f} min and its "
                     f"requests in flight rerun; not in the $ ({osp['source']}).")
    util = (sim or {}).get("utilisation", best.get("utilisation"))
    if util is not None and util > 0.9:
        at = _load_words((sim or {}).get("qps", tgt.get("qps")), replayed)
        risks.append(f"Utilisation {util:.0%} at {at}: a burst above it queues requests.")
    secs.append(Section("Risks", [risks]))
    secs.append(Section("Assumptions", [["Assumed: " + a for a in res.get("assumptions") or []]
                                        + [f"{k}: {v}" for k, v in _pairs(res.get("definitions"))]
                                        + [f"Job: {job_name}; generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC by planner."]]))
    summary = {k: best.get(k) for k, _ in SERVING_ROWS}
    if not realtime:
        # an offline job's headline is its cost per million requests and its fleet: the summary held only the
        # real-time keys, every one null offline, beside a table saying "$21.68 per 1M requests, 1 replica"
        summary.update({k: best.get(k) for k in OFFLINE_SUMMARY})
        if sim_b:
            summary["simulated"] = {k: sim_b.get(k) for k in ("throughput_rps", "usd_per_million_requests", "usd",
                                                              "replicas", "hours")}
    if realtime and sim and sim.get("ttft_ms"):
        summary["simulated"] = {k: sim.get(k) for k in ("ttft_ms", "tpot_ms", "e2e_ms", "goodput", "replicas", "qps",
                                                        "saturated_rps_per_replica", "utilisation", "meets_targets")}
    return Report(title, secs, {"workload": "serving", "best": summary,
                                **({"budget": budget, "accuracy": res.get("accuracy")} if budget else {}),
                                **({"offline_budget": ob, "accuracy": res.get("accuracy")} if ob else {})})


def _tabular_risks(res: dict, acc: Optional[dict], basis: str) -> list[str]:
    """What moves a GBDT plan, one line each with its number: the rate's known error (or that only a prior stands),
    the other kind's best option (a GPU plan on a prior against a CPU one on a measured profile), memory, spot."""
    out = []
    if acc:
        out.append("Model error: " + (f"a real run like this takes {range_words(acc)}: "
                                      if acc.get("hours_range") else "no likely range: ") + acc["basis"] + ".")
    ranked = res.get("ranked") or []
    best = res["best"]
    other = next((r for r in ranked if r["kind"] != best["kind"]), None)
    if other:
        out.append(f"The best {other['kind'].upper()} option, {other['instance']}, takes {fmt_time(other['hours'] * 3600)} "
                   f"for {fmt_usd_cents(other['cost_usd'])} ({other['cost_usd'] / best['cost_usd'] - 1:+.0%} cost, its rate "
                   + ("a prior" if other["kind"] == "gpu" and str(other.get("rate_source", "")).startswith("prior")
                      else "measured") + "): the choice between the kinds rests on both rates.")
    if best.get("ram_gib"):
        need = res.get("memory_host_gib") or 0.0
        out.append(f"Memory: the data takes {need:.2f} GiB of {best['instance']}'s {best['ram_gib']:.0f} GiB RAM "
                   f"({need / best['ram_gib']:.0%}); a larger table or more features needs a larger instance.")
    if res.get("spot"):
        out.append("Spot: interruptions are not modelled; an interrupted run restarts from the start "
                   f"(it takes {fmt_time(best['hours'] * 3600)} uninterrupted, {basis} prices).")
    return out


def build_tabular_report(job: JobSpec, res: TabularPlan, job_name: str = "job", top: int = 10) -> Report:
    """A tabular (GBDT) review: the instance, time and cost per run, the options."""
    res = jsonable(res)  # read as the JSON; the summary embedded in the report is that JSON
    best = res["best"]
    # a GBDT run costs cents and takes minutes: fmt_usd / hours to three decimals made every option "$0.01" / "0.018".
    # ``hours`` and ``cost_usd`` are every run's together (``tabular._row``): with runs: 3 they were headed "per run"
    # (QA 41: 47.34 s and $0.0174 for three runs of 15.78 s); "per run" is said only of one run's figures
    runs = int(res.get("runs") or 1)
    total = "per run" if runs == 1 else f"({runs:,} runs)"
    basis = SPOT if res.get("spot") else ON_DEMAND
    rows = [["instance", best["instance"]], ["kind", best["kind"]],
            *([["time per run", fmt_time(best["seconds_per_run"])]] if runs > 1 else []),
            [f"time {total}", fmt_time(best["hours"] * 3600)],
            [f"cost {total}", f"{fmt_usd_cents(best['cost_usd'])} ({basis})"],
            ["rate source", str(best.get("rate_source", "-"))]]
    acc = res.get("accuracy")
    if acc:  # the likely range from the rate's measured error; where only a prior stands, said (tabular_accuracy)
        rows.append(["likely range (model error)", range_words(acc, total) + " (Risks)"])
    ranked = res.get("ranked") or []
    secs = [Section("Recommendation", [f"Run on {best['instance']}. Why: {res.get('why', '-')}.", Table(["", ""], rows)]),
            Section("Options", [Table(["instance", "kind", "vCPUs", "GPU", f"$/h ({basis})", f"time {total}",
                                       f"cost {total}"],
                                      [[r["instance"], r["kind"], f"{r.get('vcpus') or 0:g}", r.get("gpu") or "-",
                                        f"{r.get('price_usd_hr') or float('nan'):.3f}", time,
                                        fmt_usd_cents(r["cost_usd"])]
                                       for r, time in zip(ranked[:top], fmt_hours_column([r["hours"] for r in ranked[:top]]))])]),
            Section("Risks", [_tabular_risks(res, acc, basis)]),
            # what was timed (the trees early stopping leaves) and where each rate comes from, as the terminal says them
            Section("Assumptions", [[f"Timed: {workload_line(res)}.", *rate_lines(res)]
                                    + ["Assumed: " + a for a in res.get("assumptions") or []]
                                    + [f"Job: {job_name}; generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC by planner."]])]
    return Report(f"Tabular review: {res.get('library', 'GBDT')} on {fmt_count(res.get('rows') or 0)} rows", secs,
                  {"workload": "tabular", "best": best, "accuracy": acc})


def _campaign_section(camp: CampaignPlan) -> Section:
    """The preprocessing tax as the terminal shows it (present/campaign.py): both strategies side by
    side and the verdict. It used to be the raw scalar keys (``fetch_hours 0.08889``,
    ``invalidation_rate 0.15``) without the two strategies' costs it is about."""
    from planner.present.campaign import COLUMNS, campaign_caption, campaign_rows, campaign_sources, campaign_verdict

    c = jsonable(camp)
    verdict = campaign_verdict(c)
    return Section("Campaign: preprocessing vs training", [
        verdict[0].upper() + verdict[1:] + ".",
        Table(list(COLUMNS), campaign_rows(c), campaign_caption(c)),
        [campaign_sources(c)]])


def report_kind(job: JobSpec) -> str:
    """Which review a job gets: the workload its sections name (serving, tabular, else training —
    a training job with a data section is reviewed with its simulated input pipeline)."""
    if job.serving is not None and job.model is not None:
        return "serving"
    if job.tabular is not None:
        return "tabular"
    return "training"
