"""Terminal rendering (rich) of a preprocessing campaign (``planner.workloads.campaign``)."""
from __future__ import annotations

from rich.table import Table

from hardware_catalog.tables import column_width, table_width

from planner.present.safe import esc
from planner.results import CampaignPlan
from planner.units import fmt_hours_column, fmt_sig, fmt_time, fmt_usd


#: the comparison's columns, terminal and report alike
COLUMNS = ("strategy", "preprocess runs", "iteration gap", "experiments per week", "preprocess $", "storage $", "train $",
           "total $")


#: the train / total cells of a campaign whose training plan has no price
UNPRICED = "unpriced"


def campaign_caption(res) -> str:
    weeks = res["weeks"]
    return (f"{res['experiments']:g} experiments over {weeks:g} week{'' if weeks == 1 else 's'}, "
            f"invalidation rate {res['invalidation_rate']:.0%}"
            + ("" if res.get("train_priced", True) else
               "; training unpriced (no price for the training plan: set cluster.price_usd_hr or campaign.train.usd), "
               "so total $ is preprocessing and storage only"))


def campaign_rows(res) -> list[list[str]]:
    """One row per strategy: re-run every time vs cache by hash(inputs, code), the job's own (``campaign.cache``)
    marked "(configured)". The iteration gaps share one unit (they read "6.7 h" above "109.5 min")."""
    rows = []
    strategies = (("re-run every time", "no_cache"), ("cache by hash(inputs, code)", "cache"))
    gaps = fmt_hours_column([res[key]["iteration_gap_hours"] for _, key in strategies])
    for (name, key), gap in zip(strategies, gaps):
        s = res[key]
        name = name + (" (configured)" if res.get("chosen") == key else "")  # the job's campaign.cache
        # expected runs to the hundredth, no trailing zeros: 6.85 read "6.8" (QA 57), 40 reads "40"
        runs = f"{s['preprocess_runs']:,.2f}".rstrip("0").rstrip(".")
        rows.append([name, runs, gap,
                     # three significant figures: a 78-day gap's 0.089 a week printed "0.1 (max 0.1)" of 2 asked for
                     f"{fmt_sig(s['experiments_per_week'], 3)} (max {fmt_sig(s['experiments_per_week_max'], 3)})",
                     fmt_usd(s["preprocess_usd"]), fmt_usd(s["storage_usd"]),
                     UNPRICED if s["train_usd"] is None else fmt_usd(s["train_usd"]),
                     fmt_usd(s["cost_usd"]) + (" + training" if s["train_usd"] is None else "")])
    return rows


def campaign_verdict(res) -> str:
    """Whether caching pays, from which experiment, and what a cache hit saves per iteration."""
    w, sav = res["cache_wins_from_experiment"], res["savings_usd"]
    return ((f"caching saves {fmt_usd(sav)} over the campaign" if sav >= 0 else
             f"caching costs {fmt_usd(-sav)} more over the campaign")
            + (f" and wins from experiment {w} on" if w else " — it never pays off here")
            + f"; a hit fetches the artifact in {fmt_time(res['fetch_hours'] * 3600)} instead of "
            f"{fmt_time(res['preprocess_hours'] * 3600)} of preprocessing")


def render_campaign(con, res: CampaignPlan) -> None:
    """The preprocessing-tax comparison: re-run every time vs cache by hash. Where the table is wider
    than the terminal, the headers go onto one word a line and only the strategy and experiments-per-week
    cells wrap, between words: rich's even squeeze printed "hash(input / s, code)" and "experiment / s/week"
    at 100 columns."""
    rows = campaign_rows(res)
    split = table_width(column_width(c, [r[j] for r in rows]) for j, c in enumerate(COLUMNS)) > con.width
    wraps = ("strategy", "experiments per week")
    t = Table(title=f"preprocessing tax: {campaign_caption(res)}")
    for col in COLUMNS:
        t.add_column(col.replace(" ", "\n") if split else col, justify="left" if col == "strategy" else "right",
                     overflow="fold", no_wrap=split and col not in wraps)
    for row in rows:
        t.add_row(*row)
    con.print(t)
    con.print(campaign_verdict(res))
    con.print(f"[dim]{esc(campaign_sources(res))}[/]")


def campaign_sources(res) -> str:
    """Where the campaign's rates come from: the preprocessing stage's price (which each cache hit's fetch is billed
    at too), the storage price and the fetch bandwidth."""
    src = res.get("sources") or {}
    return (f"preprocessing: {src.get('preprocess', '-')}, which each cache hit's artifact fetch is billed at too; storage "
            f"{src.get('storage', '-')}; artifact fetch at {src.get('fetch', '-')}")
