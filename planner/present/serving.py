"""Terminal rendering (rich) of ``planner serve``: the options table (analytic first guess and,
where simulated, the simulated size and latency percentiles), the recommendation and the
definitions. The planning itself is planner/workloads/serving.py (no rich there)."""
from __future__ import annotations

import math
from dataclasses import fields
from typing import NamedTuple, Optional

from rich.table import Table

from hardware_catalog.tables import column_width, table_width

from planner.results import ServingOption, ServingPlan, jsonable, replica_layout
from planner.simulate.serving import cut_words
from planner.present.safe import esc, print_marked
from planner.model.cost import at_price_words, rate_after, region_clause
from planner.present.terminal import price_dates_words, view_price_dates_words
from planner.vocab import ON_DEMAND, RATE_NAMES, SPOT
from planner.units import count_of, duration_column, fmt_given, fmt_rate, fmt_run_time, fmt_sig, fmt_usd, fmt_years
from planner.spec.schema import LATEST_RELEASE


def _ms(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == math.inf:
        return "inf"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def tpot_cell(ms) -> str:
    """An option's TPOT (or a generic model's request latency) cell, in ms to a tenth: the options table of
    ``planner serve`` and the budget-review report's (qa66: the report rounded 30.58 ms to "31" beside serve's "30.6",
    and 56.6 to "57" against a 60 ms target). "n/a" where there is no decode step (one output token, ``NO_TPOT``)."""
    return "n/a" if ms is None else "-" if ms != ms else f"{ms:.1f}"


def usd_per_million(x) -> str:
    """A $ per million requests cell: under a dollar to three significant figures ("$0.0215"; two decimals printed
    a CNN's $0.0215 and $0.0349 as "$0.02" and "$0.03"), else ``fmt_usd``."""
    return f"${fmt_sig(x, 3)}" if x is not None and x == x and 0 < x < 1 else fmt_usd(x)


def budget_words(b: dict) -> str:
    """A real-time fleet's month and year (``serving_budget.serving_budget``) as ``planner serve``'s "per month:" line says
    them, after its label; the app's serving view shows the same words (one formatter for both).

    >>> budget_words(dict(usd_per_month=9511.9, usd_per_hr=13.03, hours_per_month=730.0, usd_per_year=114142.8))
    '$9.51k ($13.03/h x 730 h, on-demand), per year $114.1k'

    At the job's ``cluster.price_usd_hr`` (``price``) the rate is named so (QA 61: it read "on-demand"):

    >>> budget_words(dict(usd_per_month=21900.0, usd_per_hr=30.0, hours_per_month=730.0, usd_per_year=262800.0,
    ...                   price="cluster.price_usd_hr"))
    "$21.9k ($30.00/h x 730 h, at the job's rate (cluster.price_usd_hr)), per year $262.8k"

    A fixed fleet (``fixed_fleet``, serving.replicas) says what the month buys: the QPS it carries, a million requests'
    $ at it (serve48b):

    >>> budget_words(dict(usd_per_month=5431.2, usd_per_hr=7.44, hours_per_month=730.0, usd_per_year=65174.4,
    ...                   fixed_fleet=True, qps=22.56, usd_per_million_requests=91.66))
    '$5.43k ($7.44/h x 730 h, on-demand), per year $65.2k, carrying 22.6 QPS: $91.66 per 1M requests'
    """
    return (f"{fmt_usd(b['usd_per_month'])} ({fmt_usd(b['usd_per_hr'])}/h x {b['hours_per_month']:,.0f} h, "
            f"{rate_after(b.get('price'))}), "
            f"per year {fmt_usd(b['usd_per_year'])}"
            + (f", carrying {fmt_rate(b['qps'])} QPS: {usd_per_million(b.get('usd_per_million_requests'))} per 1M "
               "requests" if b.get("fixed_fleet") else "")
            # the region the rate is for, where the job restricted regions (``cost.price_region``; QA 61)
            + region_clause(b.get("price_region")))


def buy_words(b: dict) -> str:
    """The fleet's nodes owned instead of rented (``serving_budget.fleet_buy``), after ``planner serve``'s "buy:" label.

    >>> buy_words(dict(nodes=3, wall_hour_usd=15.19, usd_per_month=33266.1, usd_per_year=399193.2, capex_usd=1035000.0,
    ...                horizon_years=4.0, ondemand_usd_per_month=89014.3, breakeven_busy=0.37, cheaper="buy"))
    '$33.3k a month owning the 3 nodes (15.19 $/node-h every hour, 4-year horizon; a fleet sized for a QPS serves around the clock, so onprem.utilisation is not used), per year $399.2k; buying commits $1.03M up front; owning beats on-demand ($89.0k a month) while the nodes serve more than 37% of hours'
    """
    if b.get("hours") is not None:  # an offline job's nodes (serving_budget.fleet_buy given its hours): it ends
        return _offline_buy_words(b)
    head = (f"{fmt_usd(b['usd_per_month'])} a month owning the {count_of(b['nodes'], 'node')} "
            f"({b['wall_hour_usd']:.2f} $/node-h every hour, {fmt_years(b['horizon_years'], '-year')} horizon; a fleet "
            f"sized for a QPS serves around the clock, so onprem.utilisation is not used), per year "
            f"{fmt_usd(b['usd_per_year'])}; buying commits {fmt_usd(b['capex_usd'])} up front")
    rent = _rent_name(b)
    if b.get("breakeven_busy") is None:
        return head + f"; no {rent} price to compare with"
    od = fmt_usd(b["ondemand_usd_per_month"])
    if b["breakeven_busy"] >= 1:
        return head + f"; {rent} ({od} a month) is cheaper even with the nodes serving every hour"
    return head + f"; owning beats {rent} ({od} a month) while the nodes serve more than {b['breakeven_busy']:.0%} of hours"


def spot_whatif_words(sp: dict) -> str:
    """A real-time fleet on spot (``serving_budget``'s ``spot``): the one sentence ``planner serve``'s "spot:" line, the
    report's and the app's "Spot:" risk say (serveep50: the terminal printed none where --json carried it).

    >>> spot_whatif_words(dict(usd_per_month_before_interruptions=11670.0, reclaims_per_month=2.0,
    ...                        reclaims_per_month_range=(1.0, 4.0), capacity_wait_minutes=30.0, source="spot advisor"))
    'not used (a reclaimed real-time replica drops its requests); on spot the fleet would cost $11.7k a month before interruptions, with 2.0 reclaims a month expected (1.0 to 4.0), each a replica gone ~30 min (spot advisor)'
    """
    lo, hi = sp["reclaims_per_month_range"]
    return (f"not used (a reclaimed real-time replica drops its requests); on spot the fleet would cost "
            f"{fmt_usd(sp['usd_per_month_before_interruptions'])} a month before interruptions, with "
            f"{sp['reclaims_per_month']:.1f} reclaims a month expected ({lo:.1f} to {hi:.1f}), each a replica "
            f"gone ~{sp['capacity_wait_minutes']:.0f} min ({sp['source']})")


def budget_rate(b: dict) -> str:
    """The rate a real-time budget (``serving_budget``) is at, in words: "on-demand", or "the job's rate
    (cluster.price_usd_hr)" (its ``price``, a ``vocab.RATE_NAMES`` key): the report's rows and the app's
    metrics, which read "on-demand" at the job's own rate until QA 61."""
    return RATE_NAMES.get(b.get("price") or ON_DEMAND, "on-demand")


def _rent_name(b: dict) -> str:
    """The rent a fleet's buy figure is set against (its ``price_basis``, ``vocab.RATE_NAMES``): "on-demand", or
    the job's rate (QA 61: "owning beats on-demand" at a $30 reserved rate)."""
    return RATE_NAMES.get(b.get("price_basis") or ON_DEMAND, "on-demand")


def _offline_buy_words(b: dict) -> str:
    """An offline job's nodes owned for its hours (``serving_budget.fleet_buy`` with ``hours``), after "buy:".

    >>> print(_offline_buy_words(dict(nodes=1, hours=95.5, usd=361.13, node_hour_usd=3.78, utilisation=0.6,
    ...     utilisation_assumed=0.6, run_horizon_share=0.0036, horizon_years=3.0, ondemand_usd=657.15,
    ...     capex_usd=43125.0, breakeven_busy=0.33, cheaper="buy")))
    $361.13 for the job's 4.0 d on 1 owned node at 3.78 $/node-h (per hour of use at 60% utilisation, 3-year horizon), against $657.15 on-demand for the same node-hours; buying commits $43.1k up front; owning beats on-demand while the nodes are busy more than 33% of hours
    """
    if b["utilisation"] > b["utilisation_assumed"]:  # the job alone keeps the nodes busier than assumed (cost.owned_run)
        util = (f"{b['utilisation']:.0%} utilisation: this job alone fills {b['run_horizon_share']:.0%} of the "
                f"{fmt_years(b['horizon_years'], '-year')} horizon, above the {b['utilisation_assumed']:.0%} assumed")
    else:
        util = (f"per hour of use at {b['utilisation']:.0%} utilisation, {fmt_years(b['horizon_years'], '-year')} "
                "horizon")
    head = (f"{fmt_usd(b['usd'])} for the job's {fmt_run_time(b['hours'])} on {count_of(b['nodes'], 'owned node')} at "
            f"{b['node_hour_usd']:.2f} $/node-h ({util})")
    rent = _rent_name(b)
    if b.get("breakeven_busy") is None:
        return head + f"; buying commits {fmt_usd(b['capex_usd'])} up front; no {rent} price to compare with"
    head += (f", against {fmt_usd(b['ondemand_usd'])} {rate_after(b.get('price_basis'))} for the same node-hours; "
             f"buying commits {fmt_usd(b['capex_usd'])} up front")
    if b["breakeven_busy"] >= 1:
        return head + f"; {rent} is cheaper even with the nodes busy every hour"
    return head + f"; owning beats {rent} while the nodes are busy more than {b['breakeven_busy']:.0%} of hours"


def _billed_fleet(b: dict) -> str:
    """What an offline job's $ pays for (``serving_budget.offline_budget``): its replicas, or where they leave GPUs of
    their nodes idle the nodes billed whole ("1 aws:g6e.48xlarge node")."""
    if not b.get("share_usd"):
        return count_of(b["replicas"], "replica")
    return f"{b['nodes']:,} {b['hardware']} node{'s' if b['nodes'] != 1 else ''}"


def offline_words(b: dict) -> str:
    """An offline job's whole cost (``serving_budget.offline_budget``) in one line: ``planner serve``'s "job cost:",
    the report's and the app's (an offline job has no month: it ends).

    >>> offline_words(dict(usd=152.61, requests=5_000_000, replicas=1, hours=265.4, price="spot", usd_per_hr=0.575,
    ...                    usd_per_million_requests=30.52, usd_per_million_output_tokens=0.1192,
    ...                    usd_per_million_tokens=0.01324))
    '$152.61 for 5,000,000 requests (1 replica for 11.1 d at $0.57/h, spot): $30.52 per 1M requests, $0.119 per 1M output tokens, $0.0132 per 1M tokens (prompt + output)'
    >>> offline_words(dict(usd=1054.56, requests=5_000_000, replicas=1, hours=231.3, price="spot", usd_per_hr=4.56,
    ...                    usd_per_million_requests=210.91, usd_per_million_output_tokens=0.824,
    ...                    usd_per_million_tokens=0.0916, share_usd=131.82, nodes=1, gpus_per_node=8, gpus_used=1,
    ...                    hardware="aws:g6e.48xlarge"))
    '$1.05k for 5,000,000 requests (1 aws:g6e.48xlarge node for 9.6 d at $4.56/h, spot, billed whole: 1 replica on 1 of its 8 GPUs): $210.91 per 1M requests, $0.824 per 1M output tokens, $0.0916 per 1M tokens (prompt + output)'
    """
    return (f"{fmt_usd(b['usd'])} for {count_of(int(b['requests']), 'request')} ({_billed_fleet(b)} for "
            f"{fmt_run_time(b['hours'])} at {fmt_usd(b['usd_per_hr'])}/h, {RATE_NAMES.get(b['price'], b['price'])}"
            + (f", billed the {b['billed_minimum_s']:.0f} s minimum" if b.get("billed_minimum_s") else "")
            + (f", billed whole: {count_of(b['replicas'], 'replica')} on {b['gpus_used']:,} of its "
               f"{b['nodes'] * b['gpus_per_node']:,} GPUs" if b.get("share_usd") else "") + "): "
            f"{usd_per_million(b['usd_per_million_requests'])} per 1M requests, "
            f"{usd_per_million(b['usd_per_million_output_tokens'])} per 1M output tokens, "
            f"{usd_per_million(b['usd_per_million_tokens'])} per 1M tokens (prompt + output)"
            + region_clause(b.get("price_region")))  # "; prices in us-east-1 (constraints.regions)", as "per month:"


def _rps(x: float) -> str:
    """Requests per second per replica: two decimals under 100, whole and thousands separated above
    ("10,341", not "10340.99")."""
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def offline_usd(r, realtime: bool):
    """The "$/1M req batch" cell: offline, the cost the options are ranked by — the simulated
    backlog's where simulated (``sized: sim``), else the analytic one; real-time, the analytic
    offline figure (a comparison, not the ranking)."""
    sim = r.get("simulated") or {}
    if not realtime and sim.get("usd_per_million_requests") is not None:
        return sim["usd_per_million_requests"]
    return r.get("usd_per_million_requests_offline")


def _local_kv_head(res) -> str:
    """A model with sliding-window / chunked layers keeps less than its per-token KV x the context: the headline
    says what one sequence at the job's context really keeps (it read "384 KiB/token" alone, 3.7x gemma3's)."""
    seq = res.get("kv_bytes_per_sequence")
    ctx = res["targets"]["prompt_tokens"] + res["targets"]["output_tokens"]
    if not seq or seq >= res["kv_bytes_per_token"] * ctx:  # the engine keeps every layer's whole context (srv53)
        return ""
    return (f" (every layer; one {ctx:,}-token sequence keeps {seq / 2**20:,.0f} MiB, {seq / ctx / 2**10:.0f} KiB/token, "
            "its local-attention layers only their window)")


def engine_words(res) -> str:
    """The engine a plan prices and its release (``serving.engine_version``), as the terminal and the report say it.

    >>> engine_words({"engine": "vllm", "engine_version": "0.10.2"}), engine_words({"engine": "vllm",
    ...                                                                              "engine_version": "latest"})
    ('vllm 0.10.2', 'vllm latest (the current release; serving.engine_version pins one)')
    """
    v = res.get("engine_version")
    return f"{res['engine']} {v}" + (" (the current release; serving.engine_version pins one)"
                                     if v == LATEST_RELEASE else "")


def render_serving(con, res: ServingPlan, top: int = 12) -> None:
    """A readable table of the options (best first), the winner and the definitions."""
    t = res["targets"]
    realtime = res["mode"] == "realtime"
    n = res["params"]
    head = (f"{res['model']}: {n / 1e9:.1f}B" if n >= 1e9 else f"{res['model']}: {n / 1e6:.1f}M") + (
            f" params, weights {res['weights_gib']:.2f} GiB in {res['precision']}"
            + (f", KV {res['kv_bytes_per_token'] / 2**10:.0f} KiB/token in {res['kv_precision']}" if res.get("kv_bytes_per_token") else "")
            + _local_kv_head(res))
    llm = res.get("kv_bytes_per_token") is not None
    # a precision search (--precisions) lists several precisions per hardware: say which row is which
    precs = tuple(res.get("precisions") or (res["precision"],))
    multi = _precision_search(res)
    if multi:
        head += f"; precisions searched: {', '.join(precs)} (the prec column)"
    # a target the job does not set (no TTFT, no QPS) is left out, not printed as "None"
    goal = ("targets: " + ", ".join(
        ([f"TPOT p99 <= {fmt_given(t['tpot_ms'])} ms" if llm else f"request latency p99 <= {fmt_given(t['tpot_ms'])} ms"]
         if t.get("tpot_ms") is not None else [])
        + ([f"TTFT p99 <= {fmt_given(t['ttft_ms'])} ms"] if llm and t.get("ttft_ms") is not None else [])
        + ([f"{fmt_given(t['qps'])} QPS"] if t.get("qps") is not None else
           [f"a fixed fleet of {count_of(t['replicas'], 'replica')} (serving.replicas): the highest QPS each option's "
            "fleet carries"] if t.get("replicas") else ["no QPS given (costs at full load)"])
        + ([f"{fmt_given(t['prompt_tokens'])} prompt + {fmt_given(t['output_tokens'])} output tokens"] if llm else []))
        if realtime else
        # "1 requests" was plural; a generic model (a CNN) has no prompt or output tokens ("3 requests of 512 prompt
        # + 256 output tokens" was the serving section's LLM defaults)
        "offline batch inference: "
        + (f"{fmt_given(t['requests'])} request{'' if t['requests'] == 1 else 's'}" + (" of " if llm else ", ")
           if t.get("requests") else "")
        + (f"{fmt_given(t['prompt_tokens'])} prompt + {fmt_given(t['output_tokens'])} output tokens, " if llm else "")
        + "no latency target")
    sim = res.get("simulation") or {}
    note = trace_note(res)
    if note:
        goal += f"\n[yellow]trace:[/] {esc(note)}"
    con.print(f"[bold]{head}[/]\n{goal}")
    opts = options_table(res, top)
    tab, dropped = _table(con, opts.title, opts.cols, opts.rows)
    con.print(tab)
    if dropped:
        con.print(f"[dim]left out on this {con.width}-column terminal: {', '.join(dropped)} (a wider terminal or --json shows them)[/]")
    for line in options_notes(res, top, dropped):
        con.print(f"[dim]{esc(line)}[/]", highlight=False)
    render_simulated(con, res, top)
    if sim.get("plan_event_bound"):  # the whole plan's simulation bound, always stated (serving.SimBudget)
        con.print(f"[dim]plan bound: at most {sim['plan_event_bound']:,} engine events over all the plan's simulations "
                  f"({_bound_from(sim.get('plan_event_bound_from'))}; this plan: {sim.get('plan_events', 0):,} in "
                  f"{sim.get('plan_runs', 0):,} runs)[/]")
    if sim.get("plan_bound_reached"):
        con.print(f"[yellow]simulation bound reached:[/] {esc(sim['plan_bound_reached'])}", highlight=False)
    con.print(f"[bold green]recommended:[/] {res['why']}")
    if res.get("compute_rate"):  # the FLOP/s per GPU the answer is priced at, training's reachable rate (serve40)
        con.print(f"[bold]compute rate:[/] {esc('; '.join(res['compute_rate']))}", highlight=False)
    if res.get("engine"):  # the engine and release priced (srvrel54: a pinned image's kernels differ)
        con.print(f"[bold]engine:[/] {esc(engine_words(res))}", highlight=False)
    for c in res.get("constraints", ()):  # the job's limits the answer holds to, beside it
        con.print(f"[bold]held to[/] {esc(c)}", highlight=False)
    b = res.get("budget")
    if b:  # a budget line is written per month and year: the fleet's $/h over 730 h a month (serving_budget)
        con.print(f"[bold]per month:[/] {budget_words(b)}", highlight=False)
        if b.get("buy"):  # the job's onprem: (or the catalog's) owning the same nodes (serving_budget.fleet_buy)
            con.print(f"[bold]buy:[/] {buy_words(b['buy'])}", highlight=False)
        if b.get("spot"):  # the fleet on spot, as --json, the report and the app say it (its rate checked: cli._show)
            con.print(f"[bold]spot:[/] {esc(spot_whatif_words(b['spot']))}", highlight=False)
        if b.get("price_dates"):  # how old the prices behind it are (cost.price_dates; buy36)
            con.print(f"[bold]prices dated:[/] {esc(price_dates_words(b['price_dates']))}", highlight=False)
    ob = res.get("offline_budget")
    if ob:  # an offline job has no month: what the whole job costs and how long it runs (serving_budget)
        con.print(f"[bold]job cost:[/] {esc(offline_words(ob))}", highlight=False)
        if ob.get("buy"):  # the same nodes owned for the job's hours (serving_budget.fleet_buy; until buy36 none)
            con.print(f"[bold]buy:[/] {buy_words(ob['buy'])}", highlight=False)
        if ob.get("price_dates"):
            con.print(f"[bold]prices dated:[/] {esc(price_dates_words(ob['price_dates']))}", highlight=False)
    if res.get("accuracy"):
        con.print(f"[yellow]accuracy:[/] {esc(res['accuracy'])}", highlight=False)
    for cv in res.get("caveats", ()):
        con.print(f"[yellow]moves the ranking:[/] {esc(cv)}", highlight=False)
    left_out = rejected_words(res)
    for line in left_out.lines:
        con.print(f"[dim]{esc(line)}[/]")
    if left_out.dated:  # how old the rates behind the lines above are, as the options' line says (prices39)
        con.print(f"[dim]{esc(left_out.dated)}[/]", highlight=False)
    con.print(f"[dim]definitions: {res['definitions']}[/]")
    print_marked(con, "assumed", res.get("assumptions", []))


class OptionsTable(NamedTuple):
    """`planner serve`'s options table as cells: its title ("serving options (3 meet the targets, 2 do not)"), headers
    and rows of text, best first."""
    title: str
    cols: list[str]
    rows: list[list[str]]


def options_table(res: ServingPlan, top: int = 12) -> OptionsTable:
    """The options that meet the targets (offline: that run), best first, in `planner serve`'s cells: the terminal
    prints them (``render_serving``) and the app's serving page shows them (QA 83: the page gave the winner and the
    options that do not work, never the ones that do)."""
    realtime = res["mode"] == "realtime"
    llm = res.get("kv_bytes_per_token") is not None
    multi = _precision_search(res)
    # EP: an MoE model's expert-parallel ranks (ServingOption.ep; 1 = tensor parallel), "-" for a dense model's rows
    cols = ["#", "hardware", "TP", "EP"] + (["prec"] if multi else []) + [
            "batch", "TPOT ms" if llm else "p99 ms", "TTFT ms", "bound", "req/s/replica", "fleet QPS", "replicas", "set by",
            "nodes",
            "$/h", "$/1M req", "$/1M req batch", "sized"]
    rows = [[str(i), r["hardware"], _tp_cell(r), _ep_cell(r), *([r["precision"]] if multi else []),
             str(r["batch"] if realtime else r["batch_offline"]),
             tpot_cell(r.get("tpot_ms")),  # one output token: no TPOT (NO_TPOT)
             f"{r['ttft_ms']:.0f}" if r.get("ttft_ms") else "-", r["bound"],
             # offline: the replicas a deadline or a GPU floor / cap sets (``offline_replicas``), or the simulated
             # re-sizing's where the row is sized by simulation (its $ is that fleet's: a TP2 row read "4 replicas"
             # beside the $ of the 6 the simulated backlog needed)
             _rps(r['requests_per_s_per_replica']),
             # a fixed fleet's (serving.replicas) highest QPS within the targets; "-" elsewhere (the column is dropped)
             fmt_rate(r["fleet_qps"]) if r.get("fleet_qps") is not None else "-",
             str(_shown_replicas(r, realtime)),
             # what set the replicas: throughput, the TPOT or the TTFT target (serving_budget.fleet_bound), which
             # decides the likely range the budget states; "-" offline and without a QPS
             r.get("bound_by") or "-",
             str(r.get("nodes", "-")),
             fmt_usd(r.get("usd_per_hr")),
             # an offline job is costed by its batch column only: the real-time full-load rate beside it ($160.12 next
             # to the ranked $30.67) read as a second price for the same job
             usd_per_million(r.get("usd_per_million_requests") or r.get("usd_per_million_requests_full")) if realtime else "-",
             usd_per_million(offline_usd(r, realtime)),
             "sim" if r.get("sized_by") == "simulated" else "analytic"] for i, r in enumerate(res["options"][:top], 1)]
    # offline there is no latency target to meet: the options are the ones that run (fit in memory, a layout that divides)
    # "1 meet the targets" until QA 42
    verb = ((("meets" if len(res["options"]) == 1 else "meet") + " the targets",
             "does not" if len(res["rejected"]) == 1 else "do not") if realtime else ("run", "cannot"))
    keep = filled_columns(cols, rows)
    return OptionsTable(f"serving options ({len(res['options'])} {verb[0]}, {len(res['rejected'])} {verb[1]})",
                        [cols[j] for j in keep], [[row[j] for j in keep] for row in rows])


#: the simulated answer's scalars ``serve --csv`` gives each option (``ServingOption.simulated``), each column named by
#: its JSON path ("simulated.ttft_ms.p99"); the timeline and event lists stay in the JSON
SIMULATED_CSV = ("replicas", "max_num_batched_tokens", "max_num_seqs", "qps", "ttft_ms.p50", "ttft_ms.p90",
                 "ttft_ms.p99", "tpot_ms.p50", "tpot_ms.p90", "tpot_ms.p99", "e2e_ms.p99", "goodput",
                 "saturated_rps_per_replica", "utilisation")


def options_csv_columns() -> list[str]:
    """``serve --csv``'s columns, the same whatever the plan: every scalar field of a JSON option
    (``ServingOption``, in its field order, under its JSON name; an LLM-only or a simulated-only field is an empty
    cell where a row has none), then ``SIMULATED_CSV`` as "simulated.<path>", then ``rejected``: why a row of the
    JSON's ``rejected`` list is not an option (its reason; empty on an option, serve48b). The nested ``price_dates``
    record is left to the JSON."""
    nested = ("simulated", "price_dates")
    return ([f.name for f in fields(ServingOption) if f.name not in ServingOption._not_json and f.name not in nested]
            + [f"simulated.{k}" for k in SIMULATED_CSV] + ["rejected"])


def _at_path(d: dict, path: str):
    for k in path.split("."):
        d = d.get(k) if isinstance(d, dict) else None
    return d


def options_frame(res: ServingPlan, top: int = 12):
    """The options that meet the targets (offline: that run), best first and cut to ``top`` as the table and the
    JSON's ``options`` are, then every rejected one as the JSON's ``rejected`` lists them (their ``rejected`` cell
    the reason; until serve48b the CSV left them out), one row each in ``options_csv_columns``: numbers as numbers,
    a field the row lacks empty (``serve --csv``)."""
    import pandas as pd

    cols = options_csv_columns()

    def row(r: dict, rejected: Optional[str]) -> dict:
        return {c: (rejected if c == "rejected" else _at_path(r.get("simulated") or {}, c.removeprefix("simulated."))
                    if c.startswith("simulated.") else r.get(c)) for c in cols}
    # as the JSON has them: an infinity or NaN empty
    rows = ([row(r, None) for r in jsonable(res["options"][:top])]
            + [row(r, r.get("reason") or r.get("constraint_broken") or "rejected") for r in jsonable(res["rejected"])])
    return pd.DataFrame(rows, columns=cols)


def options_notes(res: ServingPlan, top: int = 12, dropped=()) -> list[str]:
    """The lines under the options table, plain text: how the options are ranked, what the "$/1M req batch" column is
    (not where ``dropped``, the columns a narrow terminal left out, has it), the rate an offline job's costs are at,
    and how old the shown options' rates are."""
    realtime = res["mode"] == "realtime"
    shown = res["options"][:top]
    lines = [res["ranking"]] if res.get("ranking") else []
    if realtime and any(offline_usd(r, True) is not None for r in shown) and "$/1M req batch" not in dropped:
        # the last $ column is not the real-time cost: say what it is (not when no row has it: a bare GPU has
        # no price, and the line described a column the table did not show)
        price = res["options"][0].get("offline_price") or ON_DEMAND
        lines.append(f"$/1M req batch: the same option run offline (mode: batch, no latency target) at its "
                     f"batch limit (memory, or serving.max_batch), {at_price_words(price)}; not the real-time cost")
    elif not realtime and any(offline_usd(r, False) is not None for r in shown):
        # an offline job is priced at spot when constraints.spot is set: the table did not say which price
        price = res["options"][0].get("offline_price") or ON_DEMAND
        lines.append(f"costs {at_price_words(price)}" + (" (constraints.spot)" if price == SPOT else ""))
    dated = view_price_dates_words(shown)
    if dated:  # how old the rate each shown option's cost is at is (its price_dates; QA 55b), as compare's line says
        lines.append(f"prices dated: {dated}")
    return lines


def _precision_search(res: ServingPlan) -> bool:
    """Whether the plan searched several precisions (--precisions): its rows then say which precision is which. A
    generic (non-LLM) model's plan has no precision at all (QA 80's serving page met one: test_qa44)."""
    return tuple(res.get("precisions") or (res.get("precision"),)) != (res.get("precision"),)


class RejectedWords(NamedTuple):
    """The options that miss the targets or break a job limit, in `planner serve`'s words: one "does not work:" line
    per GPU, TP (and precision, in a precision search), and how old the rates behind them are (``None`` where no
    line has a dated rate)."""
    lines: list[str]
    dated: Optional[str]


def rejected_words(res: ServingPlan) -> RejectedWords:
    """`planner serve`'s "does not work" lines, plain text: the terminal prints them dim (``render_serving``) and the
    app's serving page under the answer (QA 80: the page left them out, so a user comparing options there could not
    see why the cheaper ones were not recommended). The first rejected row of each GPU and TP is said (the rows come
    best first: ``workloads.serving``). A plan without options to reject (the app's view of a hardware-metric job,
    test_qa44) has none."""
    multi = _precision_search(res)
    seen, said, lines = set(), [], []
    for r in res.get("rejected") or ():
        key = (r["gpu"], r["tp"], r.get("ep"), r.get("all2all"), r.get("overlap"), r.get("precision") if multi else None)
        if key in seen:
            continue
        seen.add(key)
        said.append(r)
        # in a precision search, which precision failed: "H100 TP1" alone read as TP1 failing in all of them;
        # one that meets the targets but breaks a job limit names the limit
        broken = f" ({r['constraint_broken']})" if r.get("constraint_broken") else ""
        lines.append(f"does not work{broken}: {r['gpu']} {replica_layout(r)}"
                     f"{' ' + r['precision'] if multi and r.get('precision') else ''}: {r.get('reason', '')}")
    dated = view_price_dates_words(said)
    return RejectedWords(lines, f"prices dated (options that do not work): {dated}" if dated else None)


#: where a plan's simulation bound came from (``ServingSimulation.plan_event_bound_from``), in the plan bound's line
BOUND_FROM = {"default": "the default; serving.plan_event_bound or --plan-event-bound sets it",
              "serving.plan_event_bound": "serving.plan_event_bound", "--plan-event-bound": "--plan-event-bound"}


def _bound_from(source) -> str:
    return BOUND_FROM.get(source or "default", str(source))


def _shown_replicas(r: dict, realtime: bool = True):
    """The replicas an options-table row prices: a real-time row's ``replicas`` (the simulated count where the row
    was sized by simulation, raised to ``constraints.min_gpus``: ``workloads.serving._resize``), an offline row's
    simulated fleet where it was sized by simulation, else the offline sizing's (``offline_replicas``); "-" where
    none is known. Until QA 42 a simulated real-time row showed the simulated count before the floor: Mixtral int8
    on aws:g5.12xlarge TP4 at 0.5 QPS with min_gpus 8 read "replicas 1" beside "nodes 2" and the $/h of 2 replicas."""
    sim = r.get("simulated") or {}
    if realtime and r.get("replicas") is not None:
        return r["replicas"]
    if r.get("sized_by") == "simulated" and sim.get("replicas"):
        return sim["replicas"]
    for key in ("replicas", "offline_replicas"):
        if r.get(key) is not None:
            return r[key]
    return "-"


def _tp_cell(r) -> str:
    """An option's TP column: its tensor-parallel degree, 1 for an expert-parallel row, whose ``tp`` field counts the
    replica's GPUs (``ServingOption.tp``) where attention runs data-parallel, a sequence's KV on one GPU
    (``serving_memory.ReplicaSplit``: vLLM's ``--data-parallel-size 8 --enable-expert-parallel``). QA 90: an EP8
    row read "TP 8 EP 8", a vLLM user's ``--tensor-parallel-size 8 --enable-expert-parallel``, a layout not modelled."""
    return "1" if (r.get("ep") or 1) > 1 else str(r["tp"])


def _ep_cell(r) -> str:
    """An option's EP column: its expert-parallel ranks, with its token exchange where not vLLM's default
    (``replica_layout``: "8 deepep_low_latency"); "-" for a dense model's rows."""
    if r.get("ep") is None:
        return "-"
    return replica_layout(r)[2:] if (r.get("ep") or 1) > 1 else str(r["ep"])


def render_simulated(con, res: ServingPlan, top: int = 12) -> None:
    """The simulated options: replicas (vs analytic), token budget, p50/p99 TTFT and TPOT, goodput,
    peak KV-cache occupancy and queue length, preemptions and $ at the simulated size."""
    rows = [r for r in res["options"][:top] if r.get("simulated")]
    if not rows:
        return
    sim = res.get("simulation") or {}
    realtime = res["mode"] == "realtime"
    title = (f"simulated ({sim.get('arrivals', '')} arrivals, seed {sim.get('seed', 0)}, "
             f"p99s must be {100 * sim.get('margin', 0):.0f}% under target; replicas: simulated (analytic))" if realtime else
             f"simulated offline backlog (seed {sim.get('seed', 0)})")
    # the replica time in the unit of its longest row (a 1,000-request backlog of 17 s read "replica-h 0.0")
    rep_unit, _, rep_cells = duration_column([r["simulated"].get("replica_hours") or float("nan") for r in rows])
    # an MoE plan's rows say their EP degree, as the options table does (an EP8 row read "TP 8" here until serveep48b)
    moe = any(r.get("ep") is not None for r in rows)
    cols = (["hardware", "TP", "prec", "replicas", "budget", "TTFT p50 ms", "TTFT p99 ms",
             "TPOT p50 ms", "TPOT p99 ms", "goodput", "KV max", "queue max", "preempt", "$/h", "$/1M req"]
            if realtime else
            ["hardware", "TP", "prec", "batch", "req/s/replica", "TPOT p50 ms", "KV max", "preempt",
             f"replica-{rep_unit}", "replicas", "$/1M req"])
    if moe:
        cols.insert(2, "EP")
    cells = []
    for r, rep_cell in zip(rows, rep_cells):
        d = r["simulated"]
        if realtime:
            cells.append([r["hardware"], _tp_cell(r), r["precision"],
                          f"{d['replicas']} ({r['analytic_replicas']})",
                          str(d["max_num_batched_tokens"]), _ms(d["ttft_ms"]["p50"]), _ms(d["ttft_ms"]["p99"]),
                          _ms(d["tpot_ms"]["p50"]), _ms(d["tpot_ms"]["p99"]),
                          f"{100 * d['goodput']:.1f}%" if d.get("goodput") is not None else "-",
                          f"{100 * d['kv_used_max']:.0f}%", str(d["queue_max"]), str(d["preemptions"]),
                          fmt_usd(r.get("usd_per_hr")), usd_per_million(r.get("usd_per_million_requests"))])
        else:
            cells.append([r["hardware"], _tp_cell(r), r["precision"], str(d["max_num_seqs"]),
                          _rps(d['requests_per_s_per_replica']), _ms(d["tpot_ms"]["p50"]),
                          f"{100 * d['kv_used_max']:.0f}%", str(d["preemptions"]),
                          rep_cell,
                          str(d.get("replicas", "-")), usd_per_million(d.get("usd_per_million_requests"))])
    if moe:
        for r, c in zip(rows, cells):
            c.insert(2, _ep_cell(r))
    tab, dropped = _table(con, title, cols, cells, optional=("queue max", "preempt", "budget", "KV max"))
    con.print(tab)
    if sim.get("event_bound"):  # the simulation's work bound, always stated; a run it cut says so below
        con.print(f"[dim]simulation bound: at most {sim['event_bound']:,} engine events a run; a run that reaches it "
                  "releases no more requests and its p99s come from the requests it simulated "
                  f"({'none was cut' if not any(r['simulated'].get('cut') or r['simulated'].get('runs_cut') for r in rows) else 'said below'})[/]")
    for r in rows:  # beside the numbers: which rows rest on a run the event bound cut
        d = r["simulated"]
        if d.get("cut"):
            con.print(f"[dim]{r['hardware']} {replica_layout(r)}: simulated p99s {cut_words(d['cut'])}[/]")
        if d.get("runs_cut"):
            con.print(f"[dim]{r['hardware']} {replica_layout(r)}: {d['runs_cut']} of its {d['trials']} runs reached the "
                      f"engine-event bound (their p99s from the requests each simulated)[/]")
    if dropped:
        con.print(f"[dim]left out on this {con.width}-column terminal: {', '.join(dropped)} (a wider terminal or --json shows them)[/]")


#: the hardware column's width when a narrow terminal folds it
HARDWARE_FOLDED = 14


def filled_columns(cols: list[str], rows: list[list[str]]) -> list[int]:
    """The indices of the columns some row fills ("-" in every row: TTFT for a model that is not an LLM, replicas,
    nodes and $/h for an offline job), "#" and "hardware" always."""
    return [j for j, c in enumerate(cols) if c in ("#", "hardware") or any(row[j] != "-" for row in rows)]


def _table(con, title: str, cols: list[str], rows: list[list[str]], optional=("$/1M req batch", "set by", "bound", "nodes")):
    """The options as a table without the columns no shown row fills (``filled_columns``). Where the terminal is narrower than
    the table, the headers break at their spaces and slashes, the hardware name folds onto more lines and
    every other cell stays whole; the ``optional`` columns are left out, in that order, until it fits. 14
    columns at 100 terminal columns printed "aws…" and "$13.…" in every cell, and at 130 "aws:p4d…" for
    both p4d and p4de. Returns the table and the columns left out."""
    keep = filled_columns(cols, rows)

    def head(c: str, split: bool) -> str:
        return c.replace(" ", "\n").replace("s/r", "s/\nr") if split else c

    def width(split: bool) -> int:  # folded, the hardware name takes HARDWARE_FOLDED characters
        return table_width(HARDWARE_FOLDED if split and cols[j] == "hardware"
                           else column_width(head(cols[j], split), [r[j] for r in rows]) for j in keep)

    split = width(False) > con.width
    dropped = []
    for c in optional:
        if not split or width(True) <= con.width:
            break
        if c in cols and cols.index(c) in keep:
            keep.remove(cols.index(c))
            dropped.append(c)
    tab = Table(title=title)
    for j in keep:
        c = cols[j]
        tab.add_column(head(c, split), justify="left" if c == "hardware" else "right",
                       overflow="fold", no_wrap=split and c != "hardware")  # only the hardware name gives way
    for row in rows:
        tab.add_row(*(row[j] for j in keep))
    return tab, dropped


def trace_note(res: dict) -> str | None:
    """A real-time plan sized for a replayed trace: the trace, its rate and that the options are sized for it, not
    for the job's serving.qps (None without a trace). ``serve`` prints it under the targets; the report beside its
    targets table, whose "load" row is the job's (until QA 37 the report said nothing of the trace's rate)."""
    sim = res.get("simulation") or {}
    rate = next((r["simulated"]["qps"] for r in res["options"] if (r.get("simulated") or {}).get("qps")), None)
    if res.get("mode") != "realtime" or not sim.get("trace") or not rate:
        return None
    # a trace brings its own rate (plan_serving sizes for it) and lengths (the simulation replays them)
    tg = res.get("targets") or {}
    pt, ot = sim.get("trace_prompt_tokens"), sim.get("trace_output_tokens")
    if pt is None or ot is None:  # a record written before QA 57: the screen was at the job's lengths
        return (f"{sim['trace']} replays {fmt_rate(rate)} QPS with its own lengths: options are sized for that rate, "
                f"not the job's {fmt_given(tg.get('qps'))} QPS")
    # the lengths the analytic screen took (the trace's means) beside the job's, which the targets line quotes
    sh = sim.get("trace_shared_prefix_tokens")
    shared = f", {sh:,} of the prompt's shared prefix on average" if sh is not None else ""
    pc, oc = sim.get("trace_prompt_cv"), sim.get("trace_output_cv")
    spread = f", spread cv {pc:.2f} prompts / {oc:.2f} outputs" if pc is not None and oc is not None else ""
    return (f"{sim['trace']} replays {fmt_rate(rate)} QPS with its own lengths (mean {pt:,} prompt + {ot:,} output "
            f"tokens{shared}{spread}): options are sized for that rate and those lengths"
            + (" and spreads (not serving.length_cv)" if spread else "") + ", not the job's "
            f"{fmt_given(tg.get('qps'))} QPS of {fmt_given(tg.get('prompt_tokens'))} + "
            f"{fmt_given(tg.get('output_tokens'))}; the simulation replays each request's own")
