"""Terminal rendering (rich) of estimates and recommendations: tables a person can read."""
from __future__ import annotations

import math

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from planner.defaults import PUBLISHED_NODE_MTBF_HOURS
from planner.model.cost import BLOCK_INSTANCES_PER_BLOCK, BLOCK_MAX_H, BLOCK_MAX_INSTANCES, rate_after, region_clause
from planner.vocab import JOB_RATE, ON_DEMAND, RATE_NAMES, SPOT
from planner.present.safe import esc, print_marked
from planner.search.explain import (LABELS, STACK_COLUMNS, host_misfit, mfu_hfu, most_loaded_words, throughput_words, peak_rank_line, plan_searched_columns,
                                    stack_table_cells, view_searched_columns)

from planner.simulate.failures import MIN_GOODPUT
from planner.results import MEMORY_PARTS, ranked_hours, ranked_price
from planner.units import (params_str, count_of, every_steps, fmt_goodput, fmt_step_s, time_unit, GiB, config_str, device_of, duration_column, hardware_str, power_words, rack_words, fmt_count, fmt_steps, fmt_many, fmt_pct,
                           fmt_rate, fmt_share, fmt_years, fmt_sig, fmt_given, fmt_gib_pair, fmt_time, fmt_usd, fmt_gib, fmt_step_share, fmt_time_column)


#: the rows a memory table prints beside its parts, by ``Memory`` field: (label, inside the total). The MoE dispatcher's
#: buffers are part of the total (DeepEP / HybridEP, planner.model.memory moe_comm_buffers: 0.73 GiB at EP 64, up to GBs
#: for HybridEP); what a plan offloads to host RAM is not (planner.model.offload: a 128K-token plan with activation
#: offload read "activations 13.01" with the 123 GiB per GPU it offloads printed nowhere)
MEMORY_NOTES = {"comm_buffers": ("  of which MoE dispatcher buffers", True),
                "host": ("offloaded to host memory (not in the total)", False)}


def memory_notes(mem: dict, inside: bool) -> list[tuple[str, float]]:
    """(label, bytes) of each ``MEMORY_NOTES`` row a plan's memory holds, those inside the total or those outside it:
    one list for this module's table and the report's (``report._memory_section``), which until QA 74 printed neither
    (QLoRA Llama-3.1-70B on 2 A100s with its optimizer offloaded read "optimizer states 0.00", its 4.63 GiB a GPU on
    the host said nowhere)."""
    return [(label, mem[k]) for k, (label, within) in MEMORY_NOTES.items() if within == inside and mem.get(k)]


def memory_table(res: dict) -> Table:
    mem = res["memory_per_gpu_bytes"]
    caption = f"most loaded rank: {most_loaded_words(res)}"
    width = len(caption)
    if mem.get("grads_in_activations"):
        # the HF code's walked step holds autograd's .grad tensors: a full fine-tune on one HF Trainer process read
        # "grads 0.00" with its 4.6 GiB of fp32 gradients inside "activations", unsaid (QA 48)
        caption += "\ngrads: the stack's own buffers; autograd's .grad tensors are in activations (the step's walked peak)"
    # a narrow table wrapped its caption into "most loaded rank: first" over a lone "pipeline stage"
    t = Table(title=f"memory per {device_of(res['hardware'])}", caption=caption, show_edge=False, min_width=width)
    t.add_column("part")
    t.add_column("GiB", justify="right")
    for k in MEMORY_PARTS:
        t.add_row(k, fmt_gib(mem[k]))  # a rank-1 adapter's gradients read "0.00"
    for label, b in memory_notes(mem, inside=True):
        t.add_row(label, fmt_gib(b))
    t.add_row("[bold]total[/]", f"[bold]{mem['total'] / GiB:.2f}[/] of {mem['capacity'] / GiB:.0f}")
    if mem.get("limit") is not None and mem.get("headroom"):
        # "fits" is judged against the limit, which the table showed only as the HBM: "50.33 of 80" beside
        # "50.3 GiB of 76.0 allowed" read as two different answers
        t.add_row(f"allowed ({mem['headroom']:.0%} headroom)", fmt_gib(mem["limit"]))
    for label, b in memory_notes(mem, inside=False):  # offload: the rows above are what stays on the GPU
        t.add_row(label, fmt_gib(b))
    return t


def breakdown_table(res: dict) -> Table:
    bd = res["breakdown_s"]
    step = res["step_time_s"]
    t = Table(title="where the step goes", show_edge=False)
    # one unit per column, the step's own (units.time_unit, the ladder every duration uses): a 1.9 ms step of a
    # tiny model printed its attention as "0.000000008573" seconds; a part under 1e-4 of the unit reads "<0.0001"
    # (its share says "<0.1%")
    u = time_unit(step)
    scale = 1.0 / u.seconds
    t.add_column("part")
    t.add_column(u.long, justify="right")
    t.add_column("share", justify="right")
    for k, label in LABELS.items():
        v = bd.get(k, 0.0)
        if v > 0:
            t.add_row(label, "<0.0001" if v * scale < 1e-4 else fmt_sig(v * scale, 4), fmt_step_share(v / step))
    t.add_row("[bold]step[/]", f"[bold]{fmt_sig(step * scale, 4)}[/]", "100%")
    return t


def utilisation_words(buy: dict) -> str:
    """The utilisation an owned node-hour is priced at (``cost.owned_run``), and where the run itself fills more of the
    horizon than the assumed utilisation, that it does and what was assumed: the run was priced at the assumption
    alone, 44.47 $/node-h at 60% for a run holding 95% of a 1-year horizon (QA 47)."""
    u, u0 = buy["utilisation"], buy.get("utilisation_assumed", buy["utilisation"])
    if u <= u0:
        return f"{u:.0%} utilisation"
    share, life = buy.get("run_horizon_share", u), fmt_years(buy["amortisation_years"], "-year")
    fills = (f"fills {share:.0%} of the {life} horizon" if share <= 1 else
             f"lasts {share:.2f}x the {life} horizon (owned past it at the same cost a wall hour)")
    return f"{u:.0%} utilisation: this run alone {fills}, above the {u0:.0%} assumed"


def breakeven_months(buy: dict) -> str:
    """The break-even utilisation (``cost.breakeven_utilisation``) as months of the horizon the owned nodes must be busy:
    u* x years x 12 ("13.2 of its 48 months" for an HGX H100 node against p5.48xlarge at the catalog's inputs); a
    finance reader plans in months, and neither the report nor estimate said how long busy the share meant (QA 47)."""
    months = buy["amortisation_years"] * 12
    return f"{buy['breakeven_utilisation'] * months:,.1f} of its {months:,.0f} months"


def rate_name(cost: dict | None) -> str:
    """The rate ``cost.cost_ondemand_usd`` is at, in words: "on-demand", or the job's rate (``RATE_NAMES``)."""
    return RATE_NAMES.get((cost or {}).get("price_basis") or ON_DEMAND, "on-demand")


def at_rate(cost: dict | None) -> str:
    """The rate ``cost.cost_ondemand_usd`` is at, after a figure: "on-demand", or "at the job's rate
    (cluster.price_usd_hr)" (``rate_name``; QA 60)."""
    return rate_after((cost or {}).get("price_basis"))


def breakeven_clause(buy: dict, rate: str = "on-demand") -> str:
    """estimate's "buy instead" row's break-even, in the report's terms (until QA 47 the row gave none), against
    ``rate`` (``rate_name``: the rent the buy is set against)."""
    u = buy.get("breakeven_utilisation")
    if u is None:
        return ""
    if u >= 1:
        return f"; owning never beats {rate} at these inputs, even busy every hour"
    return f"; owning beats {rate} above {fmt_pct(u)} utilisation ({breakeven_months(buy)} busy)"


def cheaper_words(buy: dict, hw: dict, rate: str = "on-demand") -> str:
    """Which is cheaper per hour of use, owning or on-demand (``buy.cheaper``, against the on-demand rate),
    naming the rate it is against, and spot's where the instance has one below the owned node-hour: "buy
    is cheaper" sat beside a spot plan that cost less than buying. One wording for the report's Buy line and
    estimate's "buy instead" row (the row gave neither until QA 40's note: 16.95 $/node-h spot beside an 18.99
    owned node-hour, unsaid). ``rate``: the rent it is set against (``rate_name``; the job's own rate where it
    gives one, QA 60)."""
    words = f"buying is cheaper than {rate}" if buy["cheaper"] == "buy" else f"{rate} is cheaper than buying"
    spot = hw.get("price_spot_usd_hr")
    if spot and spot < buy["node_hour_usd"]:
        words += (f"; spot, at {spot:.2f} $/node-h before interruptions, is below owning's "
                  f"{buy['node_hour_usd']:.2f}")
    return words


def _block_versus(c: dict, cost: dict | None = None) -> str:
    """A Capacity Block's bill against on-demand for the same hours (``cost.committed_costs``), and the blocks side by
    side where the nodes are more than one block holds. With the job's own rate (``cost.price_basis``) the on-demand
    figure is the catalog's rate, named so (QA 60: the job's $30 rate read as "on-demand's"), or said unknown."""
    side = c.get("blocks_side_by_side") or 1
    words = (f" ({side} blocks side by side: AWS sells at most {BLOCK_INSTANCES_PER_BLOCK} instances a block)"
             if side > 1 else "")
    od, bill = c.get("ondemand_same_hours_usd"), c.get("commitment_usd")
    stated = (cost or {}).get("price_basis") == JOB_RATE
    if stated and not od and bill is not None:
        return words + ", beside no on-demand figure (the catalog has no on-demand rate for this instance)"
    if not od or bill is None:
        return words
    whose = (f"the catalog's on-demand rate ({cost['catalog_ondemand_usd_hr']:.2f} $/node-h)" if stated
             else "on-demand")
    return words + (f", {fmt_pct(1 - bill / od)} below {whose}: {fmt_usd(od)} for the same hours" if stated and bill < od
                    else f", {over_words(bill / od)} {whose}: {fmt_usd(od)} for the same hours" if stated
                    else f", {fmt_pct(1 - bill / od)} below on-demand's {fmt_usd(od)} for the same hours" if bill < od
                    else f", {over_words(bill / od)} on-demand's {fmt_usd(od)} for the same hours")



def committed_words(committed, hw: dict, cost: dict | None = None) -> str:
    """Each committed price (``cost.committed_costs``): the run's hours at the rate, and what the term or block bills
    (whole terms; a block in whole days or weeks); estimate's "committed" row and recommend's "committed:" line.
    ``cost``: the plan's cost, whose ``price_basis`` says whether the on-demand figure a block is set against is the
    catalog's rate beside the job's own (``_block_versus``)."""
    return "; ".join(
        f"{c['term']}: {fmt_usd(c['run_cost_usd'])} for this run's "
        + (f"{fmt_time(c['hours'] * 3600)} {c['hours_include']}" if c.get("hours") is not None else "hours")
        + f" at {c['price_usd_hr']:.2f} $/node-h"
        + (f", the {_term_noun(c)} {fmt_usd(c['commitment_usd'])}"
           if c.get("commitment_usd") is not None else "")
        # set against on-demand for the same hours, as the report's line is: a 5.3-hour run's 1-day block read
        # "$413.62 for this run's hours ..., the block to buy bills $1.89k" beside $578.84 on-demand, unsaid
        + (_block_versus(c, cost) if c["term"] == "capacity-block" else "")
        # the report names AWS's cap; the row did not (QA 45: 1,024 p5.48xlarge on a "capacity-block" price)
        + (f" (AWS allows at most {BLOCK_MAX_INSTANCES} instances across Capacity Blocks, fewer than these "
           f"{hw['nodes']:,} nodes)" if c["term"] == "capacity-block" and hw.get("nodes", 0) > BLOCK_MAX_INSTANCES
           else "") for c in committed)

def buy_words(cost: dict, hw: dict) -> str:
    """The run on owned nodes (``cost.buy``) against renting: estimate's "buy instead" row and recommend's "buy
    instead (not ranked on):" line (QA 60: recommend dated the buy inputs under "prices dated" but printed no buy
    figure), set against the rate the plan's rent is at (``rate_name``)."""
    b, rate = cost["buy"], rate_name(cost)
    return (f"{fmt_usd(b['run_cost_usd'])} for this run's "
            + (f"{fmt_time(b['hours'] * 3600)} {b['hours_include']}" if b.get("hours") is not None else "hours")
            + " on owned nodes "
            # the utilisation moves the owned node-hour most (every owned cost is divided by it): said
            # here as in the report's Buy line (the row gave capex and years only)
            f"at {b['node_hour_usd']:.2f} $/node-h ({utilisation_words(b)}, capex "
            f"{fmt_usd(b['capex_usd'])}, {fmt_years(b['amortisation_years'], '-year')} amortisation)"
            # which is cheaper per hour of use, and spot where it is below owning, in the report's words
            + (f"; per hour of use, {cheaper_words(b, hw, rate)}" if b.get("cheaper") else "")
            + breakeven_clause(b, rate))


def over_words(ratio: float) -> str:
    """How far a bill (a Capacity Block) is over another at ``ratio`` >= 1: a share under 2x ("4.4% above"), a multiple
    from there ("3.3x"); a 1-day block 4% dearer than the run's on-demand hours read "1.0x" (QA 47)."""
    return f"{ratio:,.1f}x" if ratio >= 1.95 else f"{fmt_pct(ratio - 1)} above"


def summary_table(res: dict) -> Table:
    t = Table(show_header=False, show_edge=False, box=None)
    t.add_column(style="bold")
    t.add_column()
    hw = res["hardware"]
    cost = res["cost"]
    t.add_row("model", f"{esc(res['model'])}: {params_str(res)}")
    t.add_row("hardware", esc(hardware_str(hw)))
    t.add_row("layout", config_str(res["config"]))
    t.add_row("FLOPs/step", f"{res['flops_per_step']:.3e} model, {res['hw_flops_per_step']:.3e} hardware")
    t.add_row("step time", fmt_time(res["step_time_s"]))
    unit = res.get("throughput_unit", "tokens")
    noun = device_of(hw)
    t.add_row("throughput", throughput_words(res))
    t.add_row("MFU / HFU", mfu_hfu(res))
    mem = res["memory_per_gpu_bytes"]
    # "fits" is against the limit (capacity less the headroom), so the limit is what the line shows: "no (77.0 of
    # 80 GiB)" read as a contradiction
    room = (f"{mem['total'] / GiB:.1f} GiB of {mem['limit'] / GiB:.1f} allowed: {mem['capacity'] / GiB:.0f} GiB less "
            f"{mem['headroom']:.0%} headroom" if mem.get("limit") is not None and mem.get("headroom")
            else f"{mem['total'] / GiB:.1f} of {mem['capacity'] / GiB:.0f} GiB")
    host = host_misfit(mem, noun)  # a plan within its GPU memory whose offload overfills the node's RAM
    # memory only, as the report's and the app's sweep column (QA 83): the deadline and budget are the search's filter
    t.add_row("fits memory", ("[green]yes[/]" if res["fits"] else "[red]no[/]") + f" ({room}"
              + (f"; host memory: {host})" if host else ")"))
    if peak := peak_rank_line(res):  # which pipeline rank runs out first (memory.rank_memory)
        t.add_row("peak rank", peak.removeprefix("peak rank: "))
    ev = cost.get("evaluation")  # the evaluation passes are in the hours: say how much of them
    t.add_row("time to train", f"{fmt_time(cost['hours'] * 3600)} ({fmt_steps(cost['steps'])}, {tokens_words(cost, unit)}"
              + (f"; evaluation {fmt_time(ev['seconds'])} of it)" if ev else ")"))
    # GPU-hours to three significant figures: a one-step LoRA run's 0.0025 printed "0 GPU-hours"
    if cost["cost_ondemand_usd"] is None and cost["cost_spot_usd"] is None:  # a bare GPU: no catalog price
        # a reference system no provider rate prices: the "no price" note below says what the search found
        why = "; no provider rate found: the \"no price\" note below" if res["hardware"].get("no_price_why") else ""
        t.add_row("cost", f"no price for a bare {noun} (set cluster.price_usd_hr, per node{why}), "
                          f"{fmt_sig(cost['gpu_hours'], 3)} {noun}-hours")
    else:
        # the spot figure is the sticker price over the uninterrupted hours, as the report's "before interruptions"
        # says (a spot job's expected cost is on the spot: line below); "$63.8k spot" read as what spot costs
        # no spot rate (a bare GPU at cluster.price_usd_hr, an instance with no spot row): said, not "- spot" (QA 47)
        t.add_row("cost", f"{fmt_usd(cost['cost_ondemand_usd'])} {at_rate(cost)}, "
                  + (f"{fmt_usd(cost['cost_spot_usd'])} spot before interruptions, " if cost["cost_spot_usd"] is not None
                     else "no spot rate, ")
                  + f"{fmt_sig(cost['gpu_hours'], 3)} {noun}-hours" + region_clause(cost.get("price_region")))
    if cost.get("buy"):
        t.add_row("buy instead", buy_words(cost, hw))
    if cost.get("committed"):
        # the committed prices the report and --json price the run at; the row was missing, so estimate showed rent,
        # spot and buy but no reserved / committed-use / capacity-block figure
        t.add_row("committed", committed_words(cost["committed"], hw, cost))
    if cost.get("price_dates"):  # how old the prices behind these figures are (cost.price_dates; until buy36 unsaid)
        t.add_row("prices dated", esc(price_dates_words(cost["price_dates"])))
    t.add_row("limits", esc(res.get("bottleneck", "")))
    return t


def price_dates_words(p: dict) -> str:
    """The dates of the prices a plan used (``Cost.price_dates``) in one line: ``estimate``'s "prices dated" row and
    the report's "Prices dated" line. A ``not before`` bound (``hardware_catalog.catalog.NOT_BEFORE``; prices38) reads
    as one, with its evidence, and as at most so old: fresh within ``stale_after_days``, "may be stale" past them.

    >>> price_dates_words(dict(oldest="2025-03-06", oldest_of="gcp:a3-megagpu-8g 3yr commitment", age_days=639,
    ...     stale=True, stale_after_days=180, stale_prices=[{}, {}], undated=[dict(what="gcp:a3-megagpu-8g on-demand")]))
    'oldest 2025-03-06 (gcp:a3-megagpu-8g 3yr commitment), 639 days old: stale (2 prices over 180 days old; refresh them with a catalog override and its price_date); undated: gcp:a3-megagpu-8g on-demand'
    >>> price_dates_words(dict(oldest="not before 2026-01-20 (aws catalog snapshot, bound from its g7e rows)",
    ...     oldest_of="aws:p5.48xlarge on-demand", oldest_kind="not-before", age_days=319, age_is_bound=True,
    ...     stale=False, stale_prices=[], may_be_stale=True, stale_after_days=180, undated=[],
    ...     bounded=[dict(what="aws:p5.48xlarge on-demand", price_date="not before 2026-01-20 (x)", at_most_days=319),
    ...              dict(what="aws:p5.48xlarge spot", price_date="not before 2026-01-20 (x)", at_most_days=319)]))
    'oldest not before 2026-01-20 (aws catalog snapshot, bound from its g7e rows) (aws:p5.48xlarge on-demand), at most 319 days old: may be stale (its bound is over 180 days back; refresh it with a catalog override and its price_date); bounded: aws:p5.48xlarge spot not before 2026-01-20 (at most 319 days old: may be stale)'
    """
    from hardware_catalog.catalog import price_date_short

    after = p["stale_after_days"]
    if p.get("oldest") and p.get("oldest_kind") in ("not-before", "between"):
        if p["oldest_kind"] == "between":  # both ends (catalog40): at least the later's age, at most the earlier's
            least = p["age_floor_days"]
            head = f"oldest {p['oldest']} ({p['oldest_of']}), {least:,} to {p['age_days']:,} days old"
            head += ("" if least > after else
                     f": may be stale (its earlier end is over {after} days back; refresh it with a catalog override "
                     "and its price_date)" if p["age_days"] > after else f" (fresh: within {after} days)")
        else:
            head = f"oldest {p['oldest']} ({p['oldest_of']}), at most {p['age_days']:,} days old"
            head += (f": may be stale (its bound is over {after} days back; refresh it with a catalog override and "
                     "its price_date)"
                     if p["age_days"] > after else f" (fresh: within {after} days)")
        if p["stale"]:  # an exact date over the threshold, younger than the bound's day but known to be stale
            n = len(p["stale_prices"])
            head += (f"; stale: {count_of(n, 'price')} over {after} days old ("
                     + ", ".join(f"{s['what']} dated {price_date_short(s['price_date'])}, "
                                 f"{'at least ' if s.get('at_least') else ''}{s['age_days']:,} days"
                                 for s in p["stale_prices"])
                     + f"; refresh {'them' if n > 1 else 'it'} with a catalog override and its price_date)")
    elif p.get("oldest") and p.get("oldest_kind") == "not-after":
        # only capped prices (prices39): at least so old, its earliest day unknown, so never said to be fresh
        head = f"oldest {p['oldest']} ({p['oldest_of']}), at least {p['age_days']:,} days old"
        n = len(p["stale_prices"])
        head += (f": stale ({count_of(n, 'price')} over {after} days old; refresh "
                 f"{'them' if n > 1 else 'it'} with a catalog override and its price_date)" if p["stale"]
                 else " (its earliest day is unknown)")
    elif p.get("oldest"):
        # the date alone, not the words a row adds after it ("2024 (page text: ...)": the JSON keeps them)
        head = f"oldest {p['oldest'].split()[0]} ({p['oldest_of']}), {p['age_days']:,} days old"
        n = len(p["stale_prices"])
        head += (f": stale ({count_of(n, 'price')} over {after} days old; refresh "
                 f"{'them' if n > 1 else 'it'} with a catalog override and its price_date)" if p["stale"]
                 else f" (fresh: within {after} days)")
    else:
        head = "no price used carries a date"
    groups: dict[tuple, list[str]] = {}  # the other bounded prices, by their bound (the day, not the evidence again)
    for b in p.get("bounded") or ():
        if b["what"] != p.get("oldest_of"):
            groups.setdefault((price_date_short(b["price_date"]), b["at_most_days"], b.get("at_least_days")),
                              []).append(b["what"])
    if groups:
        head += "; bounded: " + "; ".join(
            f"{', '.join(w)} {d} (" + (f"at most {most:,}" if least is None else f"{least:,} to {most:,}")
            + " days old" + (": stale)" if (least or 0) > after else ": may be stale)" if most > after else ")")
            for (d, most, least), w in groups.items())
    capped: dict[tuple, list[str]] = {}  # the other capped prices (not after a day; prices39), by their cap
    for c in p.get("capped") or ():
        if c["what"] != p.get("oldest_of"):
            capped.setdefault((price_date_short(c["price_date"]), c["at_least_days"]), []).append(c["what"])
    if capped:
        head += "; capped: " + "; ".join(
            f"{', '.join(w)} {d} (at least {least:,} days old" + (": stale)" if least > after else ")")
            for (d, least), w in capped.items())
    if p["undated"]:
        head += "; undated: " + ", ".join(u["what"] for u in p["undated"])
    return head


def view_price_dates_words(rows) -> str | None:
    """How old the rate each comparison row is priced at is (the rows' ``price_dates``:
    ``model.cost.rate_price_dates``), one clause per date, its rows named: ``compare`` / ``recommend --by`` /
    ``--scaling``'s "prices dated" line. A bound reads as one, at most so old; None where no row has a catalog rate
    (bare GPUs, ``cluster.price_usd_hr``).

    >>> view_price_dates_words([dict(hardware="gcp:tpu-v6e-256", price_dates=dict(oldest="not before 2024-10-31 (x)",
    ...     oldest_kind="not-before", age_days=765, stale_after_days=180, undated=[])),
    ...     dict(hardware="lambda:gpu_8x_h100_sxm5", price_dates=dict(oldest=None, undated=[{}])),
    ...     dict(hardware="azure:nd", price_dates=dict(oldest="2026-09-27", oldest_kind="exact", age_days=69,
    ...          stale_after_days=180, undated=[]))])
    'gcp:tpu-v6e-256 not before 2024-10-31 (at most 765 days old: may be stale); lambda:gpu_8x_h100_sxm5 undated; azure:nd 2026-09-27 (69 days old)'
    """
    from hardware_catalog.catalog import price_date_short

    groups: dict[str, list[str]] = {}
    for r in rows:
        p = r.get("price_dates")
        if not p or r.get("hardware") is None:
            continue
        if not p.get("oldest"):
            words = "undated"
        else:
            after, age = p["stale_after_days"], p["age_days"]
            if p.get("oldest_kind") == "between":  # both ends (catalog40)
                least = p["age_floor_days"]
                words = f"{price_date_short(p['oldest'])} ({least:,} to {age:,} days old" + (
                    ": stale)" if least > after else ": may be stale)" if age > after else ")")
            elif p.get("oldest_kind") == "not-before":
                words = f"{price_date_short(p['oldest'])} (at most {age:,} days old" + (
                    ": may be stale)" if age > after else ")")
            elif p.get("oldest_kind") == "not-after":  # at least so old (prices39)
                words = f"{price_date_short(p['oldest'])} (at least {age:,} days old" + (
                    ": stale)" if age > after else ")")
            else:
                words = f"{price_date_short(p['oldest'])} ({age:,} days old" + (": stale)" if age > after else ")")
        names = groups.setdefault(words, [])
        if r["hardware"] not in names:
            names.append(r["hardware"])
    return "; ".join(f"{', '.join(names)} {words}" for words, names in groups.items()) or None


def price_check_lines(flags: dict, hardware, cost) -> list[str]:
    """One sentence per rate a training plan's cost is priced from that sits outside the catalog's price checks
    (``flags``: ``hardware_catalog.price_checks.flagged_rates`` of the catalog in use; ``hardware`` / ``cost``: the
    plan's records or their JSON dicts): the catalog's on-demand rate unless the job's own replaced it (QA 60), the
    spot rate where a spot cost is given. The CLI says each on stderr, the report under Risks (prices48: a plan on
    p6-b300 quoted its spot cost, one zone's reading at 0.112 of on-demand, unremarked).

    >>> price_check_lines({("aws:x", "price_spot_usd_hr"): "spot under ..."}, {"name": "aws:x", "price_spot_usd_hr": 2.0},
    ...                   {"cost_ondemand_usd": 9.0, "cost_spot_usd": 1.0, "price_basis": "on-demand"})
    ["price check: aws:x's spot rate (2 $/h) is outside the catalog's price checks (spot under ...)"]
    """
    if not flags or hardware is None or cost is None:
        return []
    used = {"price_ondemand_usd_hr": field_of(cost, "cost_ondemand_usd") is not None and field_of(cost, "price_basis") == ON_DEMAND,
            "price_spot_usd_hr": field_of(cost, "cost_spot_usd") is not None}
    # (an instance's catalog key, "aws:p6-b300.48xlarge")
    return _rate_check_lines(flags, field_of(hardware, "name"), {c: field_of(hardware, c) for c, shown in used.items() if shown})


def serving_price_check_lines(flags: dict, best, spot_whatif: bool = False) -> list[str]:
    """``price_check_lines`` for a serving plan (``best``: its best option, a record or its JSON dict): the on-demand
    rate where the real-time cost is at it (``price_basis``), the spot rate where the offline column is
    (``offline_price``) or where the output shows the fleet's spot what-if (``spot_whatif``: the report's "Spot:"
    lines, ``serving_budget``'s ``spot``). Until qa89 ``planner serve`` and the app's serving view said nothing of
    p6-b300's flagged spot rate that priced their batch column; until qa92 the serving report's what-if at it."""
    if not flags or best is None:
        return []
    used = {"price_ondemand_usd_hr": ("price_usd_hr", field_of(best, "price_basis") == ON_DEMAND),
            "price_spot_usd_hr": ("price_spot_usd_hr", spot_whatif or field_of(best, "offline_price") == SPOT)}
    return _rate_check_lines(flags, field_of(best, "hardware"), {c: field_of(best, f) for c, (f, shown) in used.items() if shown})


def result_price_check_lines(flags: dict, result, cost=None, spot_whatif: bool = False) -> list[str]:
    """The "price check:" lines of a command's result (a record or its JSON dict): a serving plan's
    (``serving_price_check_lines``: its best option names its instance by key; ``spot_whatif``: the output shows its
    budget's spot what-if, where it has one) or a training plan's or ranking's winner's (``price_check_lines``, at
    ``cost``, else the winner's own). One rule for the CLI's stderr, the app and the serving report."""
    best = field_of(result, "best")
    if isinstance(field_of(best, "hardware"), str):
        whatif = spot_whatif and field_of(field_of(result, "budget"), "spot") is not None
        return serving_price_check_lines(flags, best, whatif)
    return price_check_lines(flags, field_of(result, "hardware") or field_of(best, "hardware"),
                             cost if cost is not None else field_of(result, "cost") or field_of(best, "cost"))


def field_of(x, key):
    """A field of a result record or of its JSON dict."""
    return None if x is None else x.get(key) if hasattr(x, "get") else getattr(x, key, None)


def _rate_check_lines(flags: dict, key, rates: dict) -> list[str]:
    """One "price check:" sentence per rate in ``rates`` (catalog column: the $/h the plan used) that ``flags`` holds
    for instance ``key``."""
    from hardware_catalog.price_checks import RATE_WORDS

    return [f"price check: {key}'s {RATE_WORDS[column]} rate ({rate:g} $/h) is outside the catalog's "
            f"price checks ({flags[(key, column)]})" for column, rate in rates.items()
            if rate is not None and (key, column) in flags]


def stale_price_warning(p: dict | None) -> str | None:
    """One stderr line where a price a plan used is older than ``STALE_PRICE_DAYS`` (``Cost.price_dates``): known to be
    (an exact date), or, with none such, possibly (a ``not before`` bound further back: the price is at most that old;
    prices38); else None.

    >>> stale_price_warning(dict(stale=True, stale_after_days=180, oldest="2024", oldest_of="aws:p5.48xlarge "
    ...     "capacity-block commitment", age_days=704, stale_prices=[dict(what="aws:p5.48xlarge capacity-block "
    ...     "commitment", price_date="2024 (page text)", age_days=704)]))
    'warning: stale price: aws:p5.48xlarge capacity-block commitment is dated 2024, 704 days ago (1 price used is over 180 days old): refresh it with a catalog override and its price_date'
    >>> stale_price_warning(dict(stale=False, may_be_stale=True, stale_after_days=180, may_be_stale_prices=[
    ...     dict(what="aws:p5.48xlarge on-demand", price_date="not before 2026-01-20 (x)", at_most_days=319),
    ...     dict(what="aws:p5.48xlarge spot", price_date="not before 2026-01-20 (x)", at_most_days=319)]))
    'warning: price may be stale: aws:p5.48xlarge on-demand is dated not before 2026-01-20, so at most 319 days ago (2 prices used may be over 180 days old): refresh them with a catalog override and its price_date'
    """
    from hardware_catalog.catalog import price_date_short

    if not p:
        return None
    if p.get("stale"):
        n = len(p["stale_prices"])
        s = p["stale_prices"][0]  # the oldest of them (oldest_price lists them oldest first)
        ago = f"so at least {s['age_days']:,} days ago" if s.get("at_least") else f"{s['age_days']:,} days ago"
        return (f"warning: stale price: {s['what']} is dated {price_date_short(s['price_date'])}, {ago} "
                f"({count_of(n, 'price')} used {'is' if n == 1 else 'are'} over {p['stale_after_days']} days old): "
                f"refresh {'it' if n == 1 else 'them'} with a catalog override and its price_date")
    if p.get("may_be_stale"):
        maybe = sorted(p["may_be_stale_prices"], key=lambda b: -b["at_most_days"])
        n, s = len(maybe), maybe[0]
        return (f"warning: price may be stale: {s['what']} is dated {price_date_short(s['price_date'])}, so at most "
                f"{s['at_most_days']:,} days ago ({count_of(n, 'price')} used may be over {p['stale_after_days']} days "
                f"old): refresh {'it' if n == 1 else 'them'} with a catalog override and its price_date")
    return None


def _term_noun(c: dict) -> str:
    """What bills a committed price: the term, the Capacity Block, or past AWS's 182 days a block
    (``cost.BLOCK_MAX_H``) the back-to-back blocks (QA 45: a 297-day run read "the block to buy bills")."""
    if c["term"] != "capacity-block":
        n = c.get("terms") or 1  # a run past one term signs several back to back: "the term bills" read as one (QA 47)
        return f"{n} back-to-back terms bill" if n > 1 else "term bills"
    return "blocks to buy (182 days at most each) bill" if c.get("billed_hours", 0) > BLOCK_MAX_H + 1e-6 else \
        ("blocks to buy bill" if (c.get("blocks_side_by_side") or 1) > 1 else "block to buy bills")


def render_estimate(con: Console, res: dict) -> None:
    con.print(Panel(summary_table(res), title="planner estimate", expand=False))
    risk = res["cost"].get("spot_risk")
    if risk:  # a spot job: the expected cost and time with interruptions, as recommend ranks it
        con.print(esc(spot_line(risk)), highlight=False)
    if res["cost"].get("checkpoint_failures"):
        # a spot job's goodput leaves the interruptions out, as recommend's line says (QA 45: estimate's did not)
        con.print(esc(checkpoint_line(res["cost"]["checkpoint_failures"], spot=bool(risk), rate=at_rate(res["cost"]))),
                  highlight=False)
    if res.get("accuracy"):
        con.print(esc(accuracy_line(res["accuracy"])), highlight=False)
    con.print(Group(memory_table(res), breakdown_table(res)))
    print_marked(con, "advice", res.get("advice", []))
    print_marked(con, "assumed", res.get("assumptions", []))
    inp = res.get("inputs")
    if inp:
        meas = ", ".join(inp["efficiencies_measured"]) or "none"
        unused = inp.get("efficiencies_measured_unused")
        unused = (f"; measured but not used: {esc(', '.join(unused))} ({esc(inp['efficiencies_measured_unused_why'])})"
                  if unused else "")
        prof = f" (profile {esc(inp['profile'])})" if inp.get("profile") else ""
        con.print(f"[dim]inputs: peaks from {esc(inp['peaks'])}; measured efficiencies{prof}: {esc(meas)}{unused}; "
                  f"others {esc(inp['efficiencies_prior'])}[/]")


#: columns whose text must stay whole on a narrow terminal: folded onto more lines, not cut with an ellipsis
#: ("aws:p5.4…" at 100 columns; "azure:Standard_ND96is…" at 130 hid whether the row was H100, H200 or MI300X)
FOLD = {"hardware": "fold", "layout": "fold", "gpu": "fold", "fp8 recipe": "fold", "framework": "fold"}  # ("tensorw…")
#: of those, the names that stay on one line wherever the table still fits the terminal with them whole
WHOLE = ("hardware", "gpu")


def keep_names_whole(con: Console, t: Table, names=WHOLE) -> Table:
    """Keep the ``names`` columns on one line (``no_wrap``) when rich can then still give every other column at
    least its narrowest width (its longest word); otherwise leave them folding. rich shrinks the widest wrapping
    columns with no regard to their words, so a name kept whole where the rest cannot give way cut a header
    ("mem/lim…") or the last column; without this, "gcp:a3-ultragpu-8g" folded its last character onto a second
    line at 120 columns. Checked with rich's own width calculation (``Table._calculate_column_widths``); if that
    is not there, the columns fold as before."""
    cols = [c for c in t.columns if c.header in names]
    if not cols:
        return t
    try:
        for c in cols:
            c.no_wrap = True
        opts = con.options.update_width(con.width - t._extra_width)  # as Table.__rich_console__ lays it out
        widths = t._calculate_column_widths(con, opts)
        ok = all(w >= t._measure_column(con, opts, c).minimum for w, c in zip(widths, t.columns)
                 if c.header not in names)
    except AttributeError:  # a rich without these: fold as before
        ok = False
    if not ok:
        for c in cols:
            c.no_wrap = False
    return t


def names_kept_whole(t: Table, names=WHOLE) -> bool:
    """Whether ``keep_names_whole`` kept the ``names`` columns on one line."""
    return all(c.no_wrap for c in t.columns if c.header in names)


#: recommend's columns that give way, in this order, where the hardware name would otherwise fold (each derivable:
#: free from mem/limit and the GPU's memory, $/1M from cost and the job's tokens; --json and --csv carry them). At 100
#: columns a MoE job's table (its "a2a overlap" column) cut its "mem/limit GiB" header to "mem/l…" and folded
#: "aws:p5.48xlarge" over three lines (QA 99)
GIVE_WAY = ("free", "$/1M tok", "$/1M samples")


def fitted_table(con: Console, title: str, caption: str | None, cols: list[tuple[str, str]],
                 rows: list[list[str]], give_way=GIVE_WAY) -> tuple[Table, list[str]]:
    """A table of ``cols`` (header, justify) with the names whole (``keep_names_whole``) where leaving out the
    ``give_way`` columns, in turn, lets them be; else without any of them, the names folding over fewer lines.
    Returns the table and the columns left out."""
    def build(dropped: list[str]) -> Table:
        keep = [j for j, (col, _) in enumerate(cols) if col not in dropped]
        t = Table(title=title, caption=caption)
        for j in keep:
            t.add_column(cols[j][0], justify=cols[j][1], overflow=FOLD.get(cols[j][0], "ellipsis"))
        for r in rows:
            t.add_row(*(r[j] for j in keep))
        return keep_names_whole(con, t)

    heads = [col for col, _ in cols]
    dropped: list[str] = []
    for col in (c for c in give_way if c in heads):
        t = build(dropped)
        if names_kept_whole(t):
            return t, dropped
        dropped.append(col)
    return build(dropped), dropped  # the names fold still: the fewer columns, the fewer lines they fold over


def render_recommendation(con: Console, res: dict, top: int) -> None:
    rows = res["ranked"][:top]
    unit = "tok" if rows and rows[0].get("throughput_unit", "tokens") == "tokens" else "samples"
    spot = bool(res.get("spot"))
    # the title names the price the cost column is at (README "How to read a plan": "at the price named in the
    # title"; it named none)
    # fewer rows than feasible: the rows are the best layout per (hardware, node count) (recommend's best_per_hw);
    # "top 2 of 4 feasible configurations" under --top 10 did not say why the other two are not shown, and (QA 40)
    # "top 4 of 36,840 feasible configurations" read as the 4 best, where the 2nd best (same instance and node
    # count, another dp_shard) was not among them: only --csv lists every configuration
    per = "; one row per hardware and node count, its best layout" if len(rows) < res["feasible"] else ""
    # no row priced (a bare cluster without cluster.price_usd_hr): the title named "expected spot cost" or "on-demand
    # prices" over a cost column of dashes, and under spot a "+time vs compute" column of dashes whose caption pointed
    # at a "checkpoints and failures:" line that was not printed (QA 58)
    priced = any(ranked_price(r["cost"], spot) is not None for r in rows)
    overheads = any(r["cost"].get("spot_risk") or r["cost"].get("checkpoint_failures") for r in rows)
    # (count_of: "top 1 of 1 feasible configurations" was printed for a fixed job)
    caption = None
    title = (f"top {len(rows)} of {count_of(res['feasible'], 'feasible configuration')} "
             f"({res['evaluated']:,} evaluated in {res['search_seconds']:.2f} s{per}) — "
             f"objective: {res['objective']}, "
             # the job's own cluster.price_usd_hr is no catalog on-demand price (QA 40: a bare MI355X
             # cluster at price_usd_hr: 20 read "on-demand prices", where compare named the job's price)
             + (("expected spot cost" if spot else PRICE_WORDS.get(res.get("price_basis"), "on-demand prices"))
                if priced else "no price known" + (" (constraints.spot: none of these has a spot price)" if spot
                                                   else "")))
    # the duration column in one unit named in its header (units.duration_column): a fixed "days" printed an
    # 11-hour run as "0.47" and a 6-minute fine-tune as "0.0043"
    _, dur_name, durations = duration_column([ranked_hours(r["cost"], spot) for r in rows])
    cols = [("#", "right"), ("hardware", "left"), ("nodes", "right"), ("layout", "left"),
            ("step s", "right"), ("MFU", "right"), ("mem/limit GiB", "right"), ("free", "right"),
            (dur_name, "right"), ("cost", "right"), (f"$/1M {unit}", "right")]
    # a search over stacks or fp8 recipes: each row's, after the layout it ran with, where they differ
    # (explain.plan_searched_columns; rec46b the recipe, qa77 the stack)
    searched = plan_searched_columns(rows)
    cols[4:4] = [(head, "left") for head in searched]
    if spot and overheads:  # the spot model's overhead: its checkpoint pauses (the job's cadence or the optimal one) and
        # interruptions (and node failures where the job sets an MTBF), not the interruptions alone
        cols += [("+time vs compute", "right")]
        nf = any((r["cost"].get("spot_risk") or {}).get("node_failures") is not None for r in rows)
        caption = ("+time vs compute: expected wall time over the uninterrupted compute time, from checkpoint "
                   "pauses, spot interruptions" + (" and node failures" if nf else "") + " (the spot: line below)"
                   if any(r["cost"].get("spot_risk") for r in rows) else
                   "+time vs compute: expected wall time over the uninterrupted compute time, from the job's "
                   "checkpoint pauses and node failures (no spot price, so no spot interruptions: the checkpoints and "
                   "failures: line below)")
    cells_of = []
    for i, (r, duration) in enumerate(zip(rows, durations), 1):
        mem = r["memory_per_gpu_bytes"]
        cost = r["cost"]
        risk = cost.get("spot_risk") if spot else None
        # the figures the plan is ranked at: expected with interruptions, checkpoint pauses and node failures where modelled
        c = ranked_price(cost, spot)
        limit = mem.get("limit") or mem["capacity"]
        margin = mem.get("margin")
        hw = r["hardware"]  # a bare GB200/GB300 cluster's node is its reference system's rack: name that, not the GPU
        name = hw["reference_system"] if hw["name"] == hw["gpu"] and hw.get("gpus_per_host") and hw.get("reference_system") \
            else hw["name"]
        # the power limit the GPUs are held at ("at 500 W"), as the recommended line says it under the table
        cells = [str(i), esc(name) + power_words(hw), str(hw["nodes"]), config_str(r["config"]),
                 *(v[i - 1] for v in searched.values()), fmt_step_s(r['step_time_s']), fmt_pct(r['mfu']),
                 fmt_gib_pair(mem["total"], limit),
                 f"{margin / GiB:.0f}" if margin is not None else "-",
                 duration, fmt_usd(c),
                 per_million(cost, c)]
        if spot and overheads:  # a plan without a spot price (no spot model) is ranked on its checkpoint pauses alone: theirs
            over = risk or cost.get("checkpoint_failures")
            cells += [f"+{over['overhead']:.1%}" if over else "-"]
        cells_of.append(cells)
    t, dropped = fitted_table(con, title, caption, cols, cells_of)
    con.print(t)
    if dropped:
        con.print(f"[dim]left out on this {con.width}-column terminal: {', '.join(dropped)} (a wider terminal, --json "
                  "or --csv shows them)[/]")
    best = res["best"]
    bhw = best["hardware"]
    con.print(f"[bold green]recommended:[/] "
              + (f"{bhw['nodes']} x {esc(bhw['name'])}{power_words(bhw)}" if bhw["name"] != bhw["gpu"]
                 else esc(hardware_str(bhw))) + rack_words(bhw) + ", "
              f"{config_str(best['config'])} — {esc(res['why'])}")
    if peak := peak_rank_line(best):  # the table's mem/limit is the most loaded rank's: which one (memory.rank_memory)
        con.print(esc(peak), highlight=False)
    if res.get("stacks"):
        con.print(stack_table(con, res["stacks"], res["objective"]), highlight=False)
    for cv in res.get("caveats", ()):
        con.print(f"[yellow]moves the ranking:[/] {esc(cv)}", highlight=False)
    risk = best["cost"].get("spot_risk")
    if risk:
        con.print(esc(spot_line(risk)), highlight=False)
    if best["cost"].get("checkpoint_failures"):
        con.print(esc(checkpoint_line(best["cost"]["checkpoint_failures"], CKPT_SPOT if risk else CKPT_RANKED,
                                      spot=bool(risk), rate=at_rate(best["cost"]))), highlight=False)
    if best.get("accuracy"):
        con.print(esc(accuracy_line(best["accuracy"])), highlight=False)
    con.print(breakdown_table(best))
    con.print(f"[bold]limits:[/] {esc(best['bottleneck'])}")
    if best["cost"].get("buy"):
        # the winner on owned nodes, as estimate's row gives it: "prices dated" listed the undated buy inputs while
        # only --json carried the figure they priced (QA 60)
        con.print(f"[bold]buy instead (not ranked on):[/] {esc(buy_words(best['cost'], best['hardware']))}",
                  highlight=False)
    if best["cost"].get("committed"):
        # the winner's committed prices, as estimate's row gives them: the stale-price warning and "prices dated" named
        # a capacity-block commitment of the winner's whose figure only --json carried (QA 58, QA 59)
        con.print(f"[bold]committed (not ranked on):[/] {esc(committed_words(best['cost']['committed'], best['hardware'], best['cost']))}",
                  highlight=False)
    if best["cost"].get("price_dates"):  # how old the winner's prices are, as estimate's row says (until prices38 only
        # the stderr warning, and only for a stale one)
        con.print(f"[bold]prices dated:[/] {esc(price_dates_words(best['cost']['price_dates']))}", highlight=False)
    print_marked(con, "advice", best.get("advice", []))
    print_marked(con, "note", res.get("notes", []))
    print_marked(con, "assumed", res.get("assumptions", []))


#: the stacks table's column that leaves it for lines under it where the stack names would otherwise fold: at 100
#: columns every column folded, "megatron-core" read "megatron-cor" / "e" and each limits cell ran over 8 lines (QA 102)
STACK_GIVE_WAY = "limits"


def stack_table(con: Console, rows: list[dict], objective: str) -> Table | Group:
    """``training.framework: auto``: each stack's best plan against the chosen one, or why it has none
    (planner.search.rank.stack_comparison). The stack names stay whole (``keep_names_whole``); where they cannot with
    every column in, the limits column leaves the table for one line a stack under it (``STACK_GIVE_WAY``), so nothing
    is lost."""
    cols, table = stack_table_cells(rows, objective)

    def build(keep: list[int]) -> Table:
        t = Table(title=f"training stacks (training.framework auto), best plan of each on {objective}")
        for i in keep:
            # fold, not cut: a layout is one long word ("rc:sel(mla_up_proj+layernorm+moe_act)" read
            # "rc:sel(mla_up_proj+layer…" for DeepSeek-V3's chosen plan; QA 40)
            t.add_column(cols[i], justify="right" if STACK_COLUMNS[i] in ("step s", "days", "cost", "vs chosen")
                         else "left", overflow="fold")
        for r, row in zip(rows, table):
            cells = [esc(row[i]) for i in keep]
            if r.get("chosen"):
                cells[0] = f"[bold]{cells[0]}[/]"
            t.add_row(*cells)
        return keep_names_whole(con, t, names=(cols[0],))

    every = list(range(len(cols)))
    t = build(every)
    if names_kept_whole(t, names=(cols[0],)):
        return t
    out = STACK_COLUMNS.index(STACK_GIVE_WAY)
    t = build([i for i in every if i != out])
    lines = [Text.from_markup(f"  {esc(row[0])}: {esc(row[out])}") for row in table if row[out] != "-"]
    head = Text.from_markup(f"[bold]{STACK_GIVE_WAY}[/] of each stack's best plan (a column of the table on a wider "
                            "terminal):")
    return Group(t, head, *lines) if lines else t


def presets_table(rows: list[dict]) -> Table:
    """``planner presets``: the shipped model presets."""
    tab = Table(title="model presets")
    for col in ("preset", "family", "params", "layers", "hidden", "heads/kv", "vocab"):
        tab.add_column(col, justify="right" if col not in ("preset", "family") else "left")
    for r in rows:
        n = r["params"]
        tab.add_row(r["preset"], r["family"], f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M",
                    str(r["layers"] or "-"), str(r["hidden"] or "-"),
                    f"{r['heads']}/{r['kv_heads']}" if r["heads"] else "-", str(r["vocab"] or "-"))
    return tab


def _render_simulation(con: Console, sim, top: int) -> None:
    from planner.present.simulation import format_answers, format_result

    est = sim.estimate
    if est is not None:  # what was simulated: it never said (a job without cluster.nodes is simulated on one node)
        con.print(f"simulated plan: {esc(hardware_str(est['hardware']))}, {config_str(est['config'])}", highlight=False)
    con.print(format_result(sim.result, device_of(est["hardware"]) if est is not None else "GPU"))
    cf = getattr(getattr(est, "cost", None), "checkpoint_failures", None)
    if cf:  # what each simulated pause is (size, write rate) and whether failures were counted, as estimate says it
        con.print(checkpoint_line(cf, note=CKPT_SIMULATED), highlight=False)
    for m in sim.get("measured") or ():  # the profile's data rates the run used, beside its result
        con.print(f"data rates: {esc(m)}", highlight=False)
    for part in format_answers(sim.answers):
        con.print(part)


def _render_serving(con: Console, res, top: int) -> None:
    from planner.present.serving import render_serving

    render_serving(con, res, top)


def _render_tabular(con: Console, res, top: int) -> None:
    from planner.present.tabular import render_tabular

    render_tabular(con, res, top)


#: how each workload (``planner.workloads.WORKLOADS``) is shown in a terminal
RENDERERS = {
    "estimate": lambda con, res, top: render_estimate(con, res),
    "training": render_recommendation,
    "tabular": _render_tabular,
    "serving": _render_serving,
    "simulation": _render_simulation,
}


#: the ranked list ``--top`` cuts, by workload, the same in the table and the JSON (a training plan's ``ranked`` is cut by
#: the search itself, ``search.recommend``); ``recommend --csv`` writes every ranked candidate, uncut. Until QA 37b a
#: tabular job's JSON held all its ranked instances (28 for examples/gbdt-tabular.yaml under ``--top 3``) and serve's
#: every option whatever ``--top`` said
TOP_LISTS = {"tabular": "ranked", "serving": "options"}


def top_cut(payload: dict, workload: str, top: int) -> dict:
    """A command's JSON (``payload``, the result made ``jsonable``) with its ranked list cut to ``top`` rows, as its
    table shows them (``TOP_LISTS``)."""
    key = TOP_LISTS.get(workload)
    if key is not None and payload.get(key) is not None:
        payload[key] = payload[key][:top]
    return payload


def render(con: Console, planned, top: int = 10) -> None:
    """A command's answer (``planner.workloads.Planned``) as tables, then its campaign comparison."""
    RENDERERS[planned.workload](con, planned.result, top)
    if planned.campaign:
        from planner.present.campaign import render_campaign

        render_campaign(con, planned.campaign)


def spot_causes(risk: dict) -> str:
    """What a spot plan's added time is made of, in words: the checkpoint pauses (the job's cadence, or
    the optimal one the spot model assumes without one; at a short cadence they are most of it: a
    5.7 min save every 100 steps of 0.8 s read as +506% of interruptions), then per interruption the
    work since the last checkpoint, a restart and the capacity wait, and per node failure the work and
    a restart."""
    every = risk.get("checkpoint_every_steps")
    pauses = (f"no checkpoint (one {every_steps(every)} is longer than the run)" if risk.get("checkpoint_beyond_run")
              else f"a checkpoint pause {every_steps(every)}" if every else "checkpoint pauses at the optimal cadence")
    lost = "all the work done" if risk.get("checkpoint_beyond_run") else "the work since the last checkpoint"
    unit = "slice" if risk.get("slice_hosts") else "node"
    return (pauses + f"; each interruption loses {lost}, a restart and "
            f"~{risk['capacity_wait_minutes']:.0f} min capacity wait, every {unit} billed through it"
            + ("; each node failure the work and a restart" if risk.get("node_failures") is not None else "")
            + slice_rate_words(risk))


def slice_rate_words(risk: dict) -> str:
    """Where a spot node is a whole TPU slice (``risk["slice_hosts"]``, ``hardware.options.slice_hosts``): that the
    rate counts the slice as one node. QA 81: a gcp:tpu-v6e-256 slice was one "node" at gcp/*'s 20-50% of nodes a
    month, its hosts unsaid; interruptions.csv has no per-slice rate (none found published), so the per-node monthly
    rate is applied per slice -- a lower bound where each host can be taken back on its own."""
    hosts = risk.get("slice_hosts")
    if not hosts:
        return ""
    return (f"; a node here is one TPU slice of {count_of(hosts, 'host')}: the per-node monthly rate is applied per "
            "slice (no published per-slice rate; the slice's hosts taken back one by one would interrupt it more "
            "often)")


def _rate(x: float) -> str:
    """An interruption rate per node-day: 3 significant digits, whole numbers from 100 ("5,000", "0.0333")."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def spot_range(risk: dict) -> str:
    """The expected spot cost at the low and high ends of the interruption rate, in words. A job that gives its own
    rate (``constraints.spot_interruptions_per_node_day``) has one rate, so no range: it printed "range $5.92k-$5.92k"
    as if the two ends had been priced; ends that only round alike read "$33.8k at both ends of the rate"."""
    lo, hi = risk["cost_low_usd"], risk["cost_high_usd"]
    if lo == hi:
        return "no range: one interruption rate"
    if fmt_usd(lo) == fmt_usd(hi):
        return f"{fmt_usd(lo)} at both ends of the rate"
    return f"range {fmt_usd(lo)}-{fmt_usd(hi)}"


def spot_line(risk: dict) -> str:
    """One line: a spot plan's interruption overhead, its spread and where the rate comes from; a plan whose
    expected goodput is 0 (interrupted before a checkpoint interval completes) says so instead of 'inf days'."""
    if not math.isfinite(risk["expected_hours"]):
        return (f"spot: this run never finishes on spot — at {_rate(risk['rate_per_node_day'])} interruptions per node-day "
                f"(from {risk['source']}) it is interrupted before a checkpoint interval completes, or expects over "
                f"{1 / MIN_GOODPUT:,.0f}x its uninterrupted time; the figures "
                "above are on-demand (checkpoint more often or use on-demand capacity)")
    # fmt_many, as the checkpoints line's failures: "expected 0.0 interruptions and 0.0 node failures" sat above
    # "0.015 expected failures" for the same run (QA 47)
    return (f"spot: expected {fmt_many(risk['interruptions'])} interruptions"
            + (f" and {fmt_many(risk['node_failures'])} node failures" if risk.get("node_failures") is not None else "")
            + f" (+{fmt_share(risk['overhead'])} time: {spot_causes(risk)}) -> "
            # fmt_time, as the accuracy line under it: a 14-minute spot fine-tune read "-> 0.0 days"
            f"{fmt_time(risk['expected_hours'] * 3600)}, {fmt_usd(risk['expected_cost_usd'])} "
            f"({spot_range(risk)}); rate {_rate(risk['rate_per_node_day'])} "
            f"per {'slice' if risk.get('slice_hosts') else 'node'}-day from {risk['source']}")


def accuracy_line(a: dict) -> str:
    """One line: how far the step-time model has been on published runs of this kind (``Plan.accuracy``)
    and the step time, training time and cost a real run like this has fallen in."""
    def pct(x):
        return f"{abs(x):.0%} {'under' if x < 0 else 'over'}"
    st = a["step_time_s_range"]
    fast = a.get("fast_end_breaks") or []
    slow = [b for b in a.get("slow_end_breaks") or [] if b not in fast]
    # in the step time's own unit: "0.173 to 0.226 s per step" sat under "step time 189.1 ms"
    lo, hi = fmt_time_column([st[0], st[1]])
    cover = f"; {a['coverage']}" if a.get("coverage") else ""  # a band from other GPUs' runs: says none were this chip
    med = f"{a['median_signed_err']:+.0%}"
    med = "0%" if med in ("+0%", "-0%") else med  # a median that rounds to zero is not signed ('-0%' read as a leak)
    return (f"accuracy: on {a['rows']:,} published {a['runs']} ({len(a['sources'])} source{'' if len(a['sources']) == 1 else 's'}{cover}) predicted step times ran "
            f"{pct(a['p10_signed_err'])} to {pct(a['p90_signed_err'])} the measured (10th-90th percentile, median "
            f"{med}): a real run like this takes {lo} to {hi} per step"
            + (f" (the error applied to the modelled part; the simulated data stall, "
               f"{a['data_stall_share']:.0%} of the step, "
               f"kept)" if a.get("data_stall_s") else "") + ", "
            f"{accuracy_range(a)}; {a['basis']}"
            # the job's deadline / budget its slow end breaks (workloads.training.slow_end_breaks; QA 70), and those
            # even its fast end breaks (QA 86)
            + ("; even at the fast end the run would be " + " and ".join(fast) if fast else "")
            + ("; at the slow end the run would be " + " and ".join(slow) if slow else ""))


def accuracy_range(a: dict) -> str:
    """The training time and cost range of ``Plan.accuracy`` and the predicted figures it comes from, named
    (the range comes from the plan's expected time with checkpoint pauses, failures or spot interruptions
    where the job models them, which ``estimate``'s table does not show); a run that never finishes (an
    infinite or missing time: JSON writes inf as null) says so instead of "inf years"."""
    hr, cu = a["hours_range"], a["cost_usd_range"]
    if hr[1] is None or not math.isfinite(hr[1]):
        return "but the run never finishes" + (f" ({a['quoted']})" if a.get("quoted") else "")
    text = f"{fmt_time(hr[0] * 3600)} to {fmt_time(hr[1] * 3600)}" + (
        f", {fmt_usd(cu[0])} to {fmt_usd(cu[1])}" if cu and cu[1] is not None else "")
    return (text + f" (predicted {fmt_time(a['hours'] * 3600)}"
            + (f", {fmt_usd(a['cost_usd'])}" if a.get("cost_usd") is not None else "")
            + (f": {a['quoted']}" if a.get("quoted") else "") + ")")


def tokens_words(cost, unit: str) -> str:
    """The run's token count as the time-to-train lines give it: a padded dataset's real tokens, said so with the
    padding's share (``Cost.padding_share``: the rows' padding is timed and priced, not counted; $ per 1M tokens is
    per real token)."""
    pad = cost.get("padding_share")
    words = f"{fmt_count(cost['tokens'])} {unit}"
    return f"{words} real, padding excluded: {pad:.0%} of the rows' positions" if pad else words


def per_million(cost, usd) -> str:
    """$ per 1M tokens (samples) at the price the plan is ranked at (``usd``: with spot interruptions, the
    checkpoint pauses and node failures where modelled), "-" where there is no price at that basis; the
    plan's own ``usd_per_million_tokens`` only without a token count. The recommend table and the report
    row both use it (the report printed the uninterrupted on-demand rate beside an expected headline)."""
    if usd is None:  # no price at the ranked basis (a spot job on a cluster priced only on-demand): no rate either
        return "-"
    if cost.get("tokens"):
        return fmt_rate(usd / cost["tokens"] * 1e6)
    return fmt_rate(cost["usd_per_million_tokens"]) if cost["usd_per_million_tokens"] else "-"


CKPT_WITHOUT = " (the time and costs above are without them)"
CKPT_RANKED = " (the days and costs above include them: plans are ranked and filtered on them)"
#: beside ``planner simulate``'s result: its checkpoint pauses were played with no word of the save's size, the write rate
#: (the schema's 20 Gb/s default unsaid) or that no node failure was counted, which estimate's line says (QA 73)
CKPT_SIMULATED = " (estimate's closed form for the whole run; the simulated steps above play the same pauses and failures)"
CKPT_SPOT = (" (the same run on-demand; the spot days and costs above include these and the spot interruptions: "
             "plans are ranked and filtered on them)")


def checkpoint_save_words(o: dict) -> str:
    """What one save is: the checkpoint's size and the write rate it is written at, and whether that rate is the job's
    (``checkpoint.write_gbps``) or the schema's default. The pause is size / rate (or, asynchronous, the snapshot
    that precedes a background write), and until QA 41 neither figure was printed: Llama-3-8B's "a 44.97 s pause every
    200 steps" was a 112.4 GB checkpoint at the default 20 Gb/s, which a user with faster storage could not see to
    correct."""
    if not o.get("checkpoint_bytes"):
        return ""
    rate = f"{fmt_given(o['checkpoint_write_gbps'])} Gb/s"
    rate += " (checkpoint.write_gbps's default)" if o.get("checkpoint_write_gbps_default") else ""
    how = ("snapshotted, then written in the background at " if o.get("checkpoint_asynchronous")
           else "written at ")
    return f"each save {fmt_sig(o['checkpoint_bytes'] / 1e9, 4)} GB {how}{rate}"


def checkpoint_saves_words(o: dict) -> str:
    """Where the run evaluates: how many saves the pauses are paid on, and that the evaluation passes sit between
    them (``failures.work_per_step_s``): a save per ``every_steps`` training steps, the passes lengthening the work a
    failure can lose, not adding saves. Until QA 57 the pauses were charged on the evaluation time too and nothing
    said over what they were counted; "" without evaluation or for a record without the count (an older plan
    record read back)."""
    n, ev = o.get("checkpoint_saves"), o.get("checkpoint_eval_hours")
    if not (n and ev):  # without evaluation the count is the steps over the cadence, which the line already says
        return ""
    count = f"{n:,.0f}" if n >= 10 or abs(n - round(n)) < 1e-6 else fmt_many(n)
    return (f"{count} save{'' if count == '1' else 's'}, {fmt_time(n * o['checkpoint_block_s'])} of pauses"
            + f" (the {fmt_time(ev * 3600)} of evaluation passes run between the saves: they lengthen the work a "
            "failure loses and add no save)")


def expected_failures_words(n: float) -> str:
    """An expected failure count as both branches of ``checkpoint_line`` say it: ``fmt_many``'s precision ("0.034
    expected failures", "0.3", "91.1"), "no failures expected" for none. The line without an MTBF rounded the
    published-rate count to a whole number, so a 13.5 h run on 16 nodes (0.034 expected) read "this run would see
    about 0 failures" beside the MTBF branch's "0.034 expected failures" (QA 73 / 74 left it, QA 75 fixed it)."""
    return "no failures expected" if n == 0 else f"{fmt_many(n)} expected failures"


def checkpoint_line(o: dict, note: str = CKPT_WITHOUT, spot: bool = False, rate: str = "on-demand") -> str:
    """One line: the job's checkpoint pauses and node failures (``Cost.checkpoint_failures``) as
    expected wall time and on-demand cost, then ``note``: beside the uninterrupted figures
    ``estimate`` quotes (``CKPT_WITHOUT``), or the figures ``recommend``'s table shows and ranks on
    (``CKPT_RANKED``; ``CKPT_SPOT`` on a spot plan). Its goodput is the one definition the ``--csv``
    ``goodput`` column and ``checkpoint_failures.goodput`` share: compute time / wall time under the
    checkpoint pauses and node failures alone; ``spot`` labels it so (spot interruptions aside)."""
    parts = []
    if o.get("checkpoint_beyond_run"):  # no save before the run ends (failures.run_segments): not "a 0.0 ms pause"
        parts.append(f"a checkpoint {every_steps(o['checkpoint_every_steps'])} is longer than the run: none is taken, "
                     "so a failure restarts the run")
    elif o.get("checkpoint_every_steps"):
        parts.append(f"a {fmt_time(o['checkpoint_block_s'])} pause {every_steps(o['checkpoint_every_steps'])}")
        parts += [w for w in (checkpoint_save_words(o), checkpoint_saves_words(o)) if w]
    else:
        parts.append("no checkpoints: a failure restarts the run")
    n_fail = o.get("expected_failures")
    if o.get("job_mtbf_hours") is not None and (n_fail is None or not math.isfinite(n_fail)):  # it never finishes
        parts.append(f"a failure every {fmt_time(o['job_mtbf_hours'] * 3600)} on average (job MTBF), "
                     f"{o['restart_minutes']:.0f} min restart + lost work each")
    elif o.get("job_mtbf_hours") is not None:
        parts.append(f"{expected_failures_words(n_fail)} (job MTBF {fmt_time(o['job_mtbf_hours'] * 3600)}, "
                     f"{o['restart_minutes']:.0f} min restart + lost work each)")
    elif o.get("uncounted_failures") is not None:
        # no MTBF given: the goodput is the pauses' alone, which at thousands of GPUs reads far too good unless said
        parts.append(f"no node failures counted (checkpoint.mtbf_hours_per_node not set; at Llama 3 405B's published "
                     f"{PUBLISHED_NODE_MTBF_HOURS:,.0f} h per node, defaults.PUBLISHED_NODE_MTBF_HOURS, this run "
                     f"would see {expected_failures_words(o['uncounted_failures'])})")
    if o["expected_hours"] is None or o["expected_hours"] == float("inf"):
        return ("checkpoints and failures: " + "; ".join(parts) + ": the run never finishes in practice (expected "
                f"time over {1 / MIN_GOODPUT:,.0f}x the uninterrupted: goodput under {MIN_GOODPUT:.1%}, taken as 0)")
    cost = o.get("expected_cost_ondemand_usd")
    return (f"checkpoints and failures: " + "; ".join(parts) + f" -> goodput {fmt_goodput(o['goodput'])}" + (" (without spot interruptions)" if spot else "") + f", +{fmt_share(o['overhead'])} time: "
            f"{fmt_time(o['expected_hours'] * 3600)}" + (f", {fmt_usd(cost)} {rate}" if cost else "")
            + note)


def accelerator_word(names, noun_of=None) -> str:
    """What a column of accelerator ``names`` is headed: "gpu", "chip" (TPU / Trainium rows alone:
    ``noun_of(name)``, planner.hardware.options ``device_noun``) or "accelerator" (both); "gpu" without ``noun_of``."""
    nouns = {noun_of(n) for n in names if n} if noun_of else set()
    nouns = nouns or {"GPU"}
    return "accelerator" if len(nouns) > 1 else nouns.pop().lower()


def view_table(rows: list[dict], title: str, noun_of=None) -> Table:
    """A comparison (best per GPU / cloud) or scaling view (best layout per node count); the title names
    the price the cost column is at (the rows' ``price_basis``), as recommend's table does: a spot job's
    compare read as on-demand. The accelerator column is headed by ``accelerator_word`` (it read "gpu" over
    TPU rows; the JSON key stays ``gpu``)."""
    bases = list(dict.fromkeys(r["price_basis"] for r in rows if r.get("price_basis")))
    if bases:
        title += " — cost at " + " / ".join(PRICE_WORDS.get(b, b) for b in bases)
        # a spot row's cost is the expected one with interruptions (its figures_include), as recommend's title says
        # ("expected spot cost"); "cost at spot prices" read as the sticker price (QA 40)
        if any("spot interruptions" in (r.get("figures_include") or "") for r in rows):
            title += ", expected with spot interruptions"
    t = Table(title=title)
    # the job's evaluation passes, where its evaluation section put them in the days: their share in the same
    # unit, named in the header (a plan's days held them with nothing to say so)
    evals = [r["eval_days"] * 24 for r in rows if r.get("eval_days") is not None]
    _, dur_name, durations = duration_column([r["days"] * 24 for r in rows] + evals)  # one unit, in the header
    eval_cells = durations[len(rows):] if len(evals) == len(rows) else None
    acc = accelerator_word([r.get("gpu") for r in rows], noun_of)
    # a search over stacks (training.framework: auto) gives each row its stack: a column of its own, first, so
    # `--by framework`'s rows (one per framework) are headed by what they are per; until QA 37b the stack rode in the
    # accelerator cell, "H100-SXM-80GB (megatron-core)" under "gpu"
    stacks = any("framework" in r for r in rows)
    # the other searched stack columns where the rows differ: the fp8 recipe (rec46b), the loss (QA 81)
    searched = {h: c for h, c in view_searched_columns(rows).items() if h != "framework"}
    cols = ((("framework",) if stacks else ()) + (acc, "hardware", "nodes", "layout")
            + tuple(searched) + ("step s", "MFU", "mem GiB", dur_name)
            + ((f"of which eval, {dur_name}",) if eval_cells else ()) + ("cost",))
    for col in cols:
        t.add_column(col, justify="left" if col in ("framework", acc, "hardware", "layout", *searched) else "right",
                     overflow=FOLD.get("gpu" if col == acc else col, "ellipsis"))
    for i, (r, duration) in enumerate(zip(rows, durations)):
        # the partial-full-recompute pair too: a plan recomputing 1 block read "rc:full" here and "rc:full(block 1)" in
        # recommend's table (QA 40)
        layout = config_str({k: r[k] for k in ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "schedule", "zero", "dp_shard", "micro_batch",
                                               "recompute", "recompute_modules", "recompute_method", "recompute_num_layers",
                                               "offload", "megatron_fsdp", "pp_split", "pp_pass_microbatches") if k in r})
        # the watts a row's GPUs are held at under cluster.power_limit_w ("at 500 W"), as recommend's table says them
        t.add_row(*((r.get("framework", "-"),) if stacks else ()), r.get("gpu", "-"), r["hardware"] + power_words(r),
                  str(r["nodes"]),
                  layout, *(c[i] for c in searched.values()), fmt_step_s(r['step_time_s']), fmt_pct(r['mfu']),
                  f"{r['mem_gib']:.0f}", duration, *((eval_cells[i],) if eval_cells else ()), fmt_usd(r["cost"]))
    return t


#: a view row's ``price_basis`` in a table title
PRICE_WORDS = {ON_DEMAND: "on-demand prices", SPOT: "spot prices", JOB_RATE: "the job's cluster.price_usd_hr"}

VIEW_TITLES = {"by": "best plan per {by} (same objective and constraints)",
               "scaling": "scaling on {hw}: best layout at each node count (layout re-optimised)"}


def render_views(con: Console, views: dict, by, hw: str, caveats=(), notes=(), noun_of=None) -> None:
    """``recommend --by/--scaling`` and ``compare``: each view as a table, then the caveats and ``notes``
    (``Recommendation.views_note``: what the views' figures leave out). ``noun_of(accelerator name)``: "GPU" or
    "chip", for the accelerator column's head and ``--by gpu``'s title ("best plan per chip" on TPUs alone)."""
    for name, rows in views.items():
        word = by
        if by == "gpu" and name == "by":
            word = accelerator_word([r.get("gpu") for r in rows], noun_of)
        con.print(keep_names_whole(con, view_table(rows, VIEW_TITLES[name].format(by=word, hw=hw), noun_of)))
        dated = view_price_dates_words(rows)
        if dated:  # the clouds' rates rest on sources of different ages (QA 55: said of no row)
            con.print(f"[bold]prices dated:[/] {esc(dated)}", highlight=False)
    for n in notes:
        if n:
            con.print(f"note: {esc(n)}", highlight=False)
    for cv in caveats:
        con.print(f"moves the ranking: {cv}", highlight=False)
