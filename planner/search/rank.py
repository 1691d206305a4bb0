"""Ranking plans by the objective, the time-vs-cost Pareto front, and why the winner wins."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: the caller's frames (pandas loads where a table is built)
    import pandas as pd

from planner import defaults as D
from planner.model.cost import region_words
from planner.model.stacks import OFFLOAD_KINDS
from planner.results import ranked_hours, ranked_price
from planner.units import fmt_pct, fmt_time, fmt_usd, hardware_str, power_words
from planner.vocab import Vocab

def pareto_mask(time_s: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Rows no other row beats on both time and cost (the time-vs-cost Pareto front)."""
    order = np.lexsort((cost, time_s))
    best = np.minimum.accumulate(cost[order])
    front_sorted = np.r_[True, cost[order][1:] < best[:-1]]
    mask = np.zeros(len(time_s), dtype=bool)
    mask[order[front_sorted]] = True
    return mask


COST_TIE = D.COST_TIE  # costs within ~0.5% rank as equal: then the faster plan wins


def cost_bucket(usd):
    """Tie groups of costs, so a plan that is 2x faster for +0.1% is not ranked behind the slower one
    by a rounding difference (prices are quoted to the cent, times are not): group 0 is every cost
    within COST_TIE of the cheapest, group 1 every cost within COST_TIE of the cheapest cost above
    group 0, and so on (the group numbers rise with cost; non-positive or missing costs are inf).
    Ranking on (group, hours) makes the winner the fastest plan within COST_TIE of the cheapest,
    which is what "a tie within 0.5%: the faster plan ranks first" says. A set function: the groups
    depend on the costs passed together. (Until 2026-12-02 the groups were a fixed log grid,
    floor(log(usd) / log1p(COST_TIE)), so two costs 0.01% apart on either side of a grid line were
    not a tie: a $73.1k plan taking 11.9 h ranked below a $72.8k one taking 330 days.)"""
    usd = np.asarray(usd, dtype=np.float64)
    out = np.full(usd.shape, np.inf)
    ok = np.isfinite(usd) & (usd > 0)
    vals = np.sort(usd[ok])
    starts, i = [], 0
    while i < len(vals):  # one pass per group: at most log(max / min) / log1p(COST_TIE) of them
        starts.append(vals[i])
        i = int(np.searchsorted(vals, vals[i] * (1 + COST_TIE), side="right"))
    out[ok] = np.searchsorted(np.asarray(starts), usd[ok], side="right") - 1
    return out


def ranked_columns(df: pd.DataFrame) -> tuple[str, str, str]:
    """The (hours, cost, USD per token) columns the search ranks and filters on: ``train_hours``,
    ``cost``, ``usd_per_token``, which are always the ranked figures (the expected ones with spot
    interruptions, checkpoint pauses and node failures where modelled; ``compute_hours`` beside them
    is the uninterrupted time)."""
    return "train_hours", "cost", "usd_per_token"


def rank_key(df: pd.DataFrame, objective: str):
    hours, cost, _ = ranked_columns(df)
    if objective == "time":
        return [hours, cost]
    if objective == "tokens_per_dollar":
        return ["usd_per_token_bucket", hours]
    return ["cost_bucket", hours]


def rank_order(keys) -> np.ndarray:
    """The row order ``DataFrame.sort_values(columns, na_position="last", kind="stable")`` gives (``rank_key``'s
    columns as arrays, most significant first): ascending on each key in turn, NaN after every number, ties in
    their order (pandas' multi-key sort is ``np.lexsort`` over each key's sorted codes, NaN coded last; numpy's
    sort puts NaN last and takes -0.0 for 0.0 as pandas' codes do). Why not pandas': sorting the search table
    moved every column into the order; this orders the key columns alone, and the table is built once, in
    that order (``recommend._table``). ``tests/test_rank_order.py`` holds it to ``sort_values``."""
    return np.lexsort(tuple(np.asarray(k, dtype=np.float64) for k in reversed(keys)))


def cost_of(row: dict, spot: bool):
    """The cost a plan (a ``Plan`` or its JSON) is ranked at: a spot plan's expected cost with
    interruptions, the expected cost with the job's checkpoint pauses and node failures
    (``results.ranked_price``)."""
    return ranked_price(row["cost"], spot)


def hours_of(row: dict, spot: bool) -> float:
    """Wall hours a plan is ranked at: a spot plan's expected hours with interruptions, the expected
    hours with the job's checkpoint pauses and node failures (``results.ranked_hours``)."""
    return ranked_hours(row["cost"], spot)


def why(best: dict, ranked: list[dict], df: pd.DataFrame, objective: str, spot: bool, feasible: int | None = None) -> str:
    """Why the winner wins, against the best alternative on other hardware — and, when another
    plan is much faster for a little more money (or much cheaper for a little more time), that
    trade-off, since a person choosing would want it. ``df``: the ranked table, or its kept rows
    (``Recommendation.kept``: every (hardware, node count) is there) with ``feasible`` the table's
    length."""
    hours = hours_of(best, spot)
    cost = cost_of(best, spot)
    alt = next((r for r in ranked[1:] if r["hardware"]["name"] != best["hardware"]["name"]), None)
    alt = alt or (ranked[1] if len(ranked) > 1 else None)
    # the region the price is for where the job restricted regions (cost.price_region; QA 61: unsaid)
    where = region_words(best["cost"].get("price_region"))
    base = f"{fmt_time(hours * 3600)}{f' for {fmt_usd(cost)}{where}' if cost is not None else ''} at {fmt_pct(best['mfu'])} MFU"
    if alt is None:
        # ranked holds the best layout per (hardware, node count): one of them, not one layout; "the only" only where
        # the table has no other (hardware, node count) — the simulator's re-rank weighs just the shown plans
        others = len(df.drop_duplicates(["hardware", "nodes"])) > 1 if {"hardware", "nodes"} <= set(df.columns) else False
        if others:
            return base
        n = len(df) if feasible is None else feasible
        return (f"best of {n:,} feasible layouts on the only feasible hardware and node count: {base}"
                if n > 1 else f"only feasible option: {base}")
    a_cost, a_hours = cost_of(alt, spot), hours_of(alt, spot)
    alt_name = _plan_hw(alt)
    if alt is not ranked[1]:
        # the alternative is the best on other hardware, not the table's #2 (another node count of the same
        # hardware): "next best 8 x gcp:a3-highgpu-8g costs $523.4k (+68%)" sat over a #2 at +0.9%
        alt_name = f"on other hardware {alt_name}"
    if objective == "time":
        why = f"fastest: {base}; next best {alt_name} takes {fmt_time(a_hours * 3600)} ({_change(a_hours / hours - 1)})"
        cheaper = [r for r in ranked[1:] if cost_of(r, spot) and cost and cost_of(r, spot) < 0.8 * cost
                   and hours_of(r, spot) < 1.15 * hours]
        if cheaper:
            r = cheaper[0]
            why += (f"; trade-off: {_plan_hw(r)} costs "
                    f"{_change(cost_of(r, spot) / cost - 1)} for {_change(hours_of(r, spot) / hours - 1)} time")
        return why
    if not (cost and a_cost):
        return base
    d = a_cost / cost - 1
    # a cheaper "next best" is a tie on the cost grid (COST_TIE): say so, and to a tenth of a percent ("(-0%)" read
    # as a contradiction of "cheapest")
    why = (f"cheapest: {base}; next best {alt_name} costs {fmt_usd(a_cost)} ({d:+.1%}" if abs(d) < 0.01 else
           f"cheapest: {base}; next best {alt_name} costs {fmt_usd(a_cost)} ({d:+.0%}") + (
           f", a tie within {COST_TIE:.1%}: the faster plan ranks first" if d < 0 else "") + (
           f") and takes {fmt_time(a_hours * 3600)}")
    # a cheaper plan on the same hardware (another node count) sits right under the best when the two tie on the cost
    # grid: the table shows it cheaper, so say why it is second ("cheapest: $26.32M" above a "$26.23M" row read wrong)
    tie = next((r for r in ranked[1:] if r is not alt and cost_of(r, spot) and cost_of(r, spot) < cost), None)
    if tie is not None:
        why += (f"; {_plan_hw(tie)} costs {fmt_usd(cost_of(tie, spot))} "
                f"({cost_of(tie, spot) / cost - 1:+.1%}, a tie within {COST_TIE:.1%}: the faster plan ranks first) and "
                f"takes {fmt_time(hours_of(tie, spot) * 3600)}")
    faster = [r for r in ranked[1:] if cost_of(r, spot) and cost_of(r, spot) <= 1.10 * cost
              and hours_of(r, spot) <= hours / 1.5]
    if faster:
        r = max(faster, key=lambda r: hours / hours_of(r, spot))
        why += (f"; trade-off: {_plan_hw(r)} finishes "
                f"{hours / hours_of(r, spot):.1f}x sooner ({fmt_time(hours_of(r, spot) * 3600)}) for "
                f"{_change(cost_of(r, spot) / cost - 1)} cost")
    return why


def _plan_hw(plan) -> str:
    """A plan's nodes for the "why" line: ``2 x aws:p5.48xlarge``; a bare-GPU cluster as ``hardware_str`` spells
    it (``1 x nvidia:DGX-GB200-NVL72 (72 x GB200-B200)``): "next best 1 x GB200-B200" read as one GPU."""
    hw = plan["hardware"]
    return hardware_str(hw) if hw["name"] == hw.get("gpu") else f"{hw['nodes']} x {hw['name']}" + power_words(hw)


def _change(d: float) -> str:
    """A signed relative change, to a tenth of a percent under 1%: "for +0% cost" was printed a sentence
    after the same plan's "(+0.4%)"."""
    return f"{d:+.1%}" if abs(d) < 0.01 else f"{d:+.0%}"


#: what ``recommend --by`` and ``compare --by`` may group the best plans by, each the name of a column of the search's
#: table; a ``Vocab``, so ``--by GPU`` is ``gpu`` as the job file's enumerated fields fold (``Vocab.canonical``; it was
#: refused as "must be one of gpu, cloud, hardware, framework" until QA 39c)
COMPARE_BY = Vocab("gpu", "cloud", "hardware", "framework")
#: the columns of a comparison or scaling row (one unit per column: seconds, days, GiB, USD); "framework"
#: only in a ``training.framework: auto`` search's table, "fp8_recipe" only in a ``fp8_recipe: auto`` one's
#: (planner.search.recommend: the column its table and the CSV have then), "fused_cross_entropy" only on the rows
#: of a stack with the option (hf-trainer's Liger loss; ``_rows`` drops it elsewhere), "moe_dispatcher" and
#: "moe_a2a_overlap" only in a search that tried several (moedisp47, moedisp47b)
VIEW_COLUMNS = ("framework", "fp8_recipe", "hardware", "cloud", "gpu", "nodes", "gpus", "tp", "pp", "dp", "cp", "ep", "etp", "vpp", "schedule", "zero", "dp_shard",
                "micro_batch", "recompute", "recompute_modules", "recompute_method", "recompute_num_layers",
                "fused_cross_entropy", "moe_dispatcher", "moe_a2a_overlap", "step_time_s", "mfu", "hfu", "mem_gib", "train_hours", "cost")


def _rows(df: pd.DataFrame, basis: str | None = None, includes: str | None = None) -> list[dict]:
    """View rows; ``days`` and ``cost`` are the figures the plan is ranked at (with spot interruptions,
    the job's checkpoint pauses and node failures where modelled, ``ranked_columns``); with ``basis``
    (``price_basis``), each says what its ``cost`` is priced at, with ``includes``
    (``Recommendation.figures_include``) what its ``days`` and ``cost`` include; ``eval_days``: the job's
    evaluation passes held in ``days``, where its evaluation section sets them."""
    hours, cost, _ = ranked_columns(df)
    cols = [c for c in VIEW_COLUMNS if c in df.columns]
    out = df[cols].assign(train_hours=df[hours], cost=df[cost]).to_dict(orient="records")
    # what the layout offloads, as the ranked plans' ``offload`` (evaluate.offload_label): the --by / --scaling
    # tables and the app's printed "TP1 PP1 DP2 z1 mb1" for the plan the ranked table showed "... off:optimizer"
    parts = OFFLOAD_KINDS  # evaluate.offload_label's order
    eval_hours = df["eval_hours"].to_numpy() if "eval_hours" in df.columns else None
    flags = {k: (df[f"{k}_offload"].fillna(False).astype(bool).tolist() if f"{k}_offload" in df.columns
                 else [False] * len(df)) for k in parts}
    mfsdp = (df["megatron_fsdp"].fillna(False).astype(bool).tolist() if "megatron_fsdp" in df.columns
             else [False] * len(df))  # the stack option, for the layout's "mfsdp:z2" (units.config_str)
    for i, r in enumerate(out):
        r["offload"] = "+".join(k for k in parts if flags[k][i]) or "none"
        r["megatron_fsdp"] = bool(mfsdp[i] and r.get("zero", 0) >= 2)
        if r.get("fused_cross_entropy") is None:  # held where the row's stack has the option (hf-trainer), as fp8_recipe
            r.pop("fused_cross_entropy", None)
        else:
            r["fused_cross_entropy"] = bool(r["fused_cross_entropy"])
        r["days"] = r.pop("train_hours") / 24.0
        if eval_hours is not None:  # the job's evaluation passes, held in ``days`` (recommend's eval_hours column)
            r["eval_days"] = float(eval_hours[i]) / 24.0
        if basis is not None:
            r["price_basis"] = basis
        if includes is not None:
            r["figures_include"] = includes
    return out


def best_per(table: pd.DataFrame, by: str, basis: str | None = None, includes: str | None = None) -> list[dict]:
    """The best plan per GPU type, cloud or instance type, in rank order (``table`` is the search's
    ranked table: its first row per group is that group's winner under the same objective); ``basis``:
    the search's ``Recommendation.price_basis``, put in each row; ``by`` in any case (``COMPARE_BY``)."""
    by = COMPARE_BY.canonical(by)
    if by not in COMPARE_BY:
        from planner.errors import InputError, one_of

        raise InputError("--by", one_of(COMPARE_BY, by))
    if by not in table.columns:  # the stack is a column only when the search chose it
        from planner.errors import InputError

        raise InputError("--by", "framework: only for a search over stacks (training.framework: auto)")
    return _rows(table.drop_duplicates(by), basis, includes)


def scaling_view(table: pd.DataFrame, hardware: str, basis: str | None = None, includes: str | None = None) -> list[dict]:
    """The best layout at each node count of one hardware option, fewest nodes first: the layout
    (TP/PP/DP/ZeRO/micro-batch/recompute) is re-optimised at each count, not frozen."""
    return _rows(table[table["hardware"] == hardware].drop_duplicates("nodes").sort_values("nodes"), basis, includes)


def scaling_left_out(nodes_cut, hardware: str) -> tuple[dict, ...]:
    """The node counts of ``hardware`` (the winner's) that fit in memory but have no plan within the constraints,
    ``{"nodes", "reason"}`` (``Recommendation.nodes_cut``): the scaling view leaves them out, and until QA 58 said
    nothing of it. ``recommend --scaling``'s note and ``--json`` ``scaling_left_out``, and the app's scaling view
    (until QA 60 without it)."""
    return tuple({"nodes": c["nodes"], "reason": c["reason"]} for c in nodes_cut if c["hardware"] == hardware)


def scaling_left_out_note(nodes_cut, hardware: str) -> str:
    """``scaling_left_out`` in one line ("" when none): "scaling: node counts of X with no plan within the
    constraints, left out of the table — 1: its fastest plan takes 30.1 d, over the 100 h deadline; ..."."""
    cut = scaling_left_out(nodes_cut, hardware)
    return (f"scaling: node counts of {hardware} with no plan within the constraints, left out of the table — "
            + "; ".join(f"{c['nodes']:,}: {c['reason']}" for c in cut)) if cut else ""


#: how a stack without a plan lost, by its comparison row's status (``stack_comparison``)
NO_PLAN_WORDS = {"refused": "refused", "constraints": "outside the constraints", "memory": "does not fit"}


def why_lost(hours, cost, b_hours, b_cost, objective: str) -> str:
    """Why a stack's best plan (``hours``, ``cost``) ranked below the chosen one (``b_hours``, ``b_cost``) under
    ``objective``, in the ranking's own terms (``rank``): costlier by $Y (cost, tokens_per_dollar: the same job's
    tokens, so cost per token orders as cost), slower by X% (time); within the cost tie (COST_TIE) the faster plan
    wins, so a tie lost on time. Until QA 36b the "why not chosen" column said only the stack's bottleneck ("limits:
    compute"), which every stack, the chosen one too, has.

    >>> why_lost(110, 1200, 100, 1000, "cost"), why_lost(110, 1000, 100, 1001, "cost"), why_lost(130, 9, 100, 1, "time")
    ('costlier by $200.00 (+20%)', 'a tie on cost (within 0.5%), slower by 10%', 'slower by 30%')
    """
    def slower():
        return f"slower by {hours / b_hours - 1:.{1 if hours / b_hours - 1 < 0.01 else 0}%}" if hours and b_hours else None

    if objective == "time":
        return slower() if hours and b_hours and hours > b_hours else "a tie on time"
    if cost is None or b_cost is None:
        return slower() or "ranked below on cost"
    if abs(cost / b_cost - 1) < COST_TIE:
        return f"a tie on cost (within {COST_TIE:.1%})" + (f", {slower()}" if hours and b_hours and hours > b_hours
                                                         else "")
    return f"costlier by {fmt_usd(cost - b_cost)} ({cost / b_cost - 1:+.0%})"


def stack_comparison(groups, best_per: dict, best, objective: str, con, fitting: set, closest: dict,
                     refused: dict, refused_rows: dict, cut: dict | None = None) -> tuple[dict, ...]:
    """``training.framework: auto``: one row per stack searched (planner.search.space.stack_groups),
    the chosen one first, then the others by their best plan under the same objective and constraints
    (``best_per``: group index -> that plan, in rank order), then those with no plan and why: the job
    refused (its rule or an option it lacks), no layout that fits in memory, or none within the
    constraints (``refused`` / ``refused_rows``: the layouts each group's stack refused, by rule and in all:
    space ``refusal_error``; ``cut``: group index -> which constraint its fitting plans miss and by what, planner.search.recommend
    ``_cut_reasons``; QA 59: the row said only "budget, deadline, or 365 days", whichever it was). ``vs_chosen``: the relative time and cost of the stack's best plan against the chosen
    one (+0.25 = 25% more)."""
    from planner.search.space import refusal_error
    from planner.units import config_str

    spot = bool(con.spot)
    b_cost, b_hours = cost_of(best, spot), hours_of(best, spot)

    def rel(a, b):
        return None if not (a and b) else a / b - 1

    rows = []
    for g, plan in best_per.items():
        cost, hours = cost_of(plan, spot), hours_of(plan, spot)
        lost = None if plan is best else why_lost(hours, cost, b_hours, b_cost, objective)
        chosen = plan is best
        d_cost, d_time = rel(cost, b_cost), rel(hours, b_hours)
        # within the ranking's own tie (COST_TIE) on the objective's measure: the order is the faster one's, or noise
        key = d_time if objective == "time" else d_cost
        tie = not chosen and key is not None and abs(key) < COST_TIE
        if chosen:
            reason = f"chosen: best on {objective}"
        else:
            parts = [f"{d_time:+.0%} time" if d_time is not None else None,
                     f"{d_cost:+.0%} cost" if d_cost is not None else None]
            order = parts if objective == "time" else parts[::-1]
            reason = (f"a tie on {objective} (within {COST_TIE:.1%}); " if tie else "") + ", ".join(
                p for p in order if p) + f" on its best plan; limits: {plan.bottleneck}"
        rows.append(dict(framework=groups[g].name, chosen=chosen, status="chosen" if chosen else "feasible",
                         hardware=plan.hardware.name, nodes=plan.hardware.nodes, gpus=plan.hardware.gpus,
                         layout=config_str(plan.config), step_time_s=plan.step_time_s, mfu=plan.mfu,
                         train_hours=hours, cost_usd=cost,
                         vs_chosen=dict(time=d_time, cost=d_cost), tie=tie, limits=plan.bottleneck, reason=reason,
                         lost=lost))
    rows.sort(key=lambda r: not r["chosen"])  # the chosen stack first, the rest as ranked
    for g, grp in enumerate(groups):
        if g in best_per:
            continue
        if grp.refused:
            status, reason = "refused", grp.refused
        elif g in fitting:
            status, reason = "constraints", ((cut or {}).get(g) or "no plan within the constraints (budget, deadline, "
                                             f"or {D.HORIZON_HOURS / 24:.0f} days without a deadline)")
        elif g in closest:
            status, reason = "memory", (f"no layout fits in GPU {'and host ' if closest[g][2] else ''}memory; "
                                        f"nearest: {closest[g][1]}")
        else:
            e = refusal_error(grp.variants[0].stack, refused.get(g, {}), refused_rows.get(g, 0))
            status, reason = "refused", (f"{e.field}: {e.message}" if e is not None
                                         else "no layout on the searched hardware")
        rows.append(dict(framework=grp.name, chosen=False, status=status, reason=reason,
                         lost=f"{NO_PLAN_WORDS[status]}: {reason}"))
    return tuple(rows)


def stack_choice_line(rows, objective: str) -> str:
    """The comparison as one line for the output's assumptions."""
    win = rows[0]
    others = [f"{r['framework']} {r['vs_chosen']['cost' if objective != 'time' else 'time']:+.0%}"
              if r["status"] == "feasible" and r["vs_chosen"].get("cost" if objective != "time" else "time") is not None
              else f"{r['framework']} ({r['status']})" for r in rows[1:]]
    return (f"training.framework auto: {win['framework']} chosen on {objective} over "
            + (", ".join(others) or "no other stack") + " (the best plan of each stack; recommend --json: stacks)")
