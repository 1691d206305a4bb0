"""Altair charts shared by the what-if app and the budget-review report.

Every builder takes the planner's own result objects (the estimate JSON contract, the search's
DataFrame, a simulator timeline) and returns an ``alt.Chart``; nothing here computes a planning
number, it only draws what the models produced. Units are converted for people here and only
here (GiB, hours, $), as DESIGN.md asks.

    >>> from planner.present.charts import memory_chart
    >>> res = {"memory_per_gpu_bytes": {"weights": 2**30, "grads": 2**30, "optimizer": 0,
    ...        "activations": 0, "logits": 0, "other": 0, "total": 2**31, "capacity": 2**33}}
    >>> memory_chart(res).to_dict()["layer"][0]["mark"]["type"]  # sizes are per-category steps (Streamlit keeps them)
    'bar'
"""
from __future__ import annotations

import math
import textwrap
from typing import NamedTuple

import altair as alt
import numpy as np
import pandas as pd

from planner.model.cost import rate_after
from planner.results import MEMORY_PARTS, replica_layout
from planner.search.explain import LABELS, most_loaded_words
from planner.search.rank import cost_of, hours_of
from planner.search.recommend import deadline_words
from planner.units import config_str, duration_unit, fmt_usd
from planner.vocab import ON_DEMAND, RATE_NAMES
from planner.workloads.serving import NO_TPOT

GiB = 2**30
MEMORY_LABELS = {"weights": "weights", "grads": "gradients", "optimizer": "optimizer states",
                 "activations": "activations", "logits": "logits / loss", "other": "other (context, buffers)"}
# one colour per step-time part, so the same part looks the same in the app and the report
BREAKDOWN_COLORS = {
    "compute_gemm": "#4c78a8", "compute_attention": "#72b7b2", "compute_memory_bound": "#9ecae9",
    "comm_tp": "#f58518", "comm_cp": "#ffbf79", "comm_ep": "#e45756", "comm_pp": "#ff9d98",
    "comm_zero3": "#b279a2", "comm_dp": "#d6a5c9", "bubble": "#bab0ac", "optimizer": "#54a24b",
    "offload": "#9d755d", "data_stall": "#eeca3b",
}
WIDTH = 560
#: pixels between a continuous scale's data and the plot's edge, so a point at the axis corner is drawn whole
PAD_PX = 12


def memory_frame(res: dict) -> pd.DataFrame:
    mem = res["memory_per_gpu_bytes"]
    return pd.DataFrame([dict(part=MEMORY_LABELS[k], key=k, order=i, gib=mem[k] / GiB,
                              share=mem[k] / mem["total"] if mem["total"] else 0.0)
                         for i, k in enumerate(MEMORY_PARTS)])


def memory_chart(res: dict, title: str = "memory per GPU (most loaded rank)", width: int = WIDTH) -> alt.LayerChart:
    """Stacked bar of the most loaded rank's memory by part, with the GPU's capacity as a rule."""
    mem = res["memory_per_gpu_bytes"]
    df = memory_frame(res)
    df["rank"] = most_loaded_words(res, short=True)
    cap = mem["capacity"] / GiB
    over = mem["total"] > mem["capacity"]
    bar = alt.Chart(df).mark_bar().encode(
        x=alt.X("gib:Q", stack="zero", title="GiB", scale=alt.Scale(domain=[0, max(cap, mem["total"] / GiB) * 1.05])),
        y=alt.Y("rank:N", title=None),
        color=alt.Color("part:N", sort=[MEMORY_LABELS[k] for k in MEMORY_PARTS],
                        legend=alt.Legend(title=None, orient="bottom", columns=3)),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip("part:N"), alt.Tooltip("gib:Q", format=".2f", title="GiB"),
                 alt.Tooltip("share:Q", format=".0%")],
    )
    rule_df = pd.DataFrame([dict(gib=cap, label=f"capacity {cap:.0f} GiB")])
    rule = alt.Chart(rule_df).mark_rule(color="#d62728" if over else "black", strokeWidth=2, strokeDash=[4, 3]).encode(
        x="gib:Q", tooltip=[alt.Tooltip("label:N", title="GPU")])
    text = alt.Chart(rule_df).mark_text(align="right", dx=-4, dy=-28, fontSize=11).encode(x="gib:Q", text="label:N")
    verdict = "does NOT fit" if over else f"{1 - mem['total'] / mem['capacity']:.0%} headroom"
    return (bar + rule + text).properties(
        width=width, height=alt.Step(40), title=f"{title}: {mem['total'] / GiB:.1f} GiB, {verdict}")


#: characters a line of a bar label holds: Vega cuts an axis label at ``labelLimit`` (180 px, ~33 characters of its
#: 10 px font) with an ellipsis, so "exposed data-parallel gradient reduce and parameter all-gather" read "exposed
#: data-parallel gradient re…" in the app and the report (QA 44); the labels are wrapped to lines this long instead
LABEL_LINE = 34
LABEL_LINE_PX = 12  # Vega's line height for a 10 px label: a bar's step holds its label's lines


def wrap_label(text: str, width: int = LABEL_LINE) -> str:
    """``text`` in lines of at most ``width`` characters (words kept whole), joined with newlines for an axis whose
    ``labelExpr`` splits them (``WRAPPED_AXIS``)."""
    return "\n".join(textwrap.wrap(text, width)) or text


#: a chart title's line in the app, in characters: Vega draws a title on one line, cut at the chart's edge, and a
#: chart stretched to a 468 px column (a 500 px window) holds about 60 of its 13 px bold characters (app59: "3 simulated
#: steps, ranks 0-1 of 2 — GPU busy 100.0% of the tim")
TITLE_LINE = 56


def wrapped_title(chart, width: int = TITLE_LINE):
    """``chart`` with its title in lines of at most ``width`` characters (words kept whole), one under another."""
    title = chart.title
    if not isinstance(title, str) or len(title) <= width:
        return chart
    return chart.properties(title=alt.TitleParams(textwrap.wrap(title, width)))


def title_text(spec: dict) -> str:
    """A chart spec's title as one line (``wrapped_title``'s lines joined)."""
    t = spec.get("title")
    t = t.get("text", "") if isinstance(t, dict) else t
    return " ".join(t) if isinstance(t, list) else str(t or "")


#: an axis drawing ``wrap_label``'s lines one under another, none cut
WRAPPED_AXIS = dict(labelExpr="split(datum.label, '\\n')", labelLimit=0)


def breakdown_frame(res: dict) -> pd.DataFrame:
    bd, step = res["breakdown_s"], res["step_time_s"]
    rows = [dict(key=k, part=label, label=wrap_label(label), seconds=bd.get(k, 0.0),
                 share=bd.get(k, 0.0) / step if step else 0.0)
            for k, label in LABELS.items() if bd.get(k, 0.0) > 0]
    return pd.DataFrame(rows, columns=["key", "part", "label", "seconds", "share"])


def breakdown_chart(res: dict, title: str = "where the step time goes", width: int = WIDTH) -> alt.Chart:
    """Horizontal bars: compute, exposed communication by kind, bubble, optimizer, data stall."""
    df = breakdown_frame(res)
    keys = list(df["key"])
    lines = max((label.count("\n") + 1 for label in df["label"]), default=1)
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("seconds:Q", title="seconds per step"),
        y=alt.Y("label:N", sort=list(df["label"]), title=None, axis=alt.Axis(**WRAPPED_AXIS)),
        color=alt.Color("key:N", scale=alt.Scale(domain=keys, range=[BREAKDOWN_COLORS[k] for k in keys]), legend=None),
        tooltip=[alt.Tooltip("part:N"), alt.Tooltip("seconds:Q", format=".4f"), alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=width, height=alt.Step(max(22, LABEL_LINE_PX * lines + 8)),
                 title=f"{title}: step {res['step_time_s']:.3g} s, MFU {res['mfu']:.0%}")


def candidates_frame(table: pd.DataFrame, max_points: int = 1500) -> pd.DataFrame:
    """The best layout per (hardware, nodes) — each point a real alternative, as in the ranked
    table — plus every Pareto-optimal row. ``table`` is ``recommend()["kept"]`` (best first: every such row of
    the whole ``recommend()["table"]``, the same rows and index)."""
    pts = table.drop_duplicates(["hardware", "nodes"]).head(max_points)
    front = table[table["pareto"]]
    df = pd.concat([pts, front]).drop_duplicates().copy()
    df["layout"] = [config_str(dict(tp=r.tp, pp=r.pp, dp=r.dp, cp=r.cp, ep=r.ep, etp=getattr(r, "etp", None), vpp=r.vpp, schedule=getattr(r, "schedule", None), zero=r.zero,
                                    dp_shard=getattr(r, "dp_shard", None), micro_batch=r.micro_batch, recompute=r.recompute,
                                    recompute_modules=getattr(r, "recompute_modules", None),
                                    recompute_method=getattr(r, "recompute_method", None),
                                    recompute_num_layers=getattr(r, "recompute_num_layers", None),
                                    megatron_fsdp=bool(getattr(r, "megatron_fsdp", False)),
                                    pp_split=getattr(r, "pp_split", None),
                                    pp_pass_microbatches=getattr(r, "pp_pass_microbatches", None)))
                    for r in df.itertuples()]
    return df


#: a run time in a chart's tooltip: three figures in the chart's unit ("5.56" hours, "215" days)
TIME_FORMAT = ",.3~g"


def run_time_unit(hours) -> tuple[float, str]:
    """(scale from hours, long unit) of a chart's time-to-train axis: the unit of its longest finite run
    (``units.duration_unit``), as the tables beside it ("hours to train"). QA 87: the axes were always "days to
    train", so the 5.6-hour full fine-tune's cost-vs-time chart ran 0.01 to 10 days and its sensitivity panel
    -0.04 to 0.26 days under a "time to train 5.6 h" row, its tooltips "0.2" days."""
    h = pd.Series(hours, dtype=float)
    finite = h[np.isfinite(h)]
    scale, _, name = duration_unit(float(finite.max()) if len(finite) else 0.0)
    return scale, name


#: a bold 11 px label's width per character, in px (Vega's default text size), for ``label_on_left``
LABEL_CHAR_PX = 7


def label_on_left(at: float, xs, width: int, text: str = "recommended", dx: int = 14) -> bool:
    """Whether a point's label goes to its left on a log x axis ``width`` px wide: where, written to its right, it
    would pass the plot's right edge (Vega rounds a log domain out to powers of ten, ``nice``), and run into
    whatever is beside the plot -- the colour legend, in the cost-vs-time chart."""
    vals = [float(v) for v in xs if v == v and v > 0] + [float(at)]
    lo, hi = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
    if hi <= lo:
        return False
    x = (math.log10(at) - lo) / (hi - lo) * width
    return x + dx + LABEL_CHAR_PX * len(text) > width


def cost_time_chart(table: pd.DataFrame, best: dict | None = None, spot: bool = False,
                    title: str = "cost vs time to train", width: int = WIDTH) -> alt.LayerChart:
    """Scatter of candidates (time to train vs rent cost), the Pareto front as a line, the
    recommended plan ringed. Hover a point for its hardware, layout, step time, MFU and memory."""
    df = candidates_frame(table)
    df = df[df["cost"].notna()]
    scale, name = run_time_unit(list(df["train_hours"]) + ([hours_of(best, spot)] if best is not None else []))
    df = df.assign(time=df["train_hours"] * scale)
    when = [alt.Tooltip("time:Q", format=TIME_FORMAT, title=name), alt.Tooltip("cost:Q", format="$,.0f")]
    tooltip = [alt.Tooltip("hardware:N"), alt.Tooltip("nodes:Q"), alt.Tooltip("gpus:Q"),
               alt.Tooltip("layout:N"), alt.Tooltip("step_time_s:Q", format=".3f", title="step (s)"),
               alt.Tooltip("mfu:Q", format=".0%", title="MFU"), alt.Tooltip("mem_gib:Q", format=".1f", title="mem GiB"),
               *when]
    x = alt.X("time:Q", title=f"{name} to train", scale=alt.Scale(type="log"))
    y = alt.Y("cost:Q", title=cost_title("expected spot" if spot else rate_after((best or {}).get("cost", {}).get("price_basis")),
                                         " (USD)"), scale=alt.Scale(type="log"),
              axis=alt.Axis(format="$~s"))
    pts = alt.Chart(df).mark_circle(size=45, opacity=0.55).encode(
        x=x, y=y, color=alt.Color("gpu:N", legend=alt.Legend(title="GPU", orient="right")), tooltip=tooltip)
    front = alt.Chart(df[df["pareto"]].sort_values("time")).mark_line(
        color="black", strokeDash=[5, 3], point=alt.OverlayMarkDef(color="black", size=30)).encode(
        x=x, y=y, tooltip=tooltip)
    layers = [pts, front]
    if best is not None:
        # at the plan's point in the table: a spot plan's expected cost and time (the ring sat at the sticker price)
        cost = cost_of(best, spot)
        if cost:
            b = pd.DataFrame([dict(time=hours_of(best, spot) * scale, cost=cost, hardware=best["hardware"]["name"],
                                   nodes=best["hardware"]["nodes"], label="recommended")])
            layers.append(alt.Chart(b).mark_point(shape="circle", size=320, strokeWidth=3, color="#d62728", filled=False)
                          .encode(x=x, y=y, tooltip=["label:N", "hardware:N", "nodes:Q",
                                                     *when]))
            # the label on the side of the ring with room: to its right it ran past the plot into the GPU legend when
            # the plan is the slowest point (a data-bound job's simulated plan beside the compute-bound points, QA 44)
            # (to the left, lifted clear of the Pareto line that usually runs into the ring from there)
            left = label_on_left(b["time"].iloc[0], df["time"], width)
            layers.append(alt.Chart(b).mark_text(dx=-14 if left else 14, dy=-20 if left else -14, align="right" if left else "left",
                                                 color="#d62728", fontWeight="bold")
                          .encode(x=x, y=y, text="label:N"))
    return alt.layer(*layers).properties(width=width, height=340, title=f"{title} ({len(df)} plans; dashed: Pareto front)")


TIMELINE_COLORS = {"forward": "#4c78a8", "backward": "#72b7b2", "forward+backward": "#4c78a8",
                   "optimizer": "#54a24b", "data-parallel reduce": "#f58518", "data load": "#eeca3b",
                   "waiting for data": "#e45756", "evaluation": "#b279a2", "checkpoint": "#9d755d",
                   "checkpoint persist": "#bab0ac", "failure restart": "#000000"}


def timeline_chart(tl: pd.DataFrame, busy_share: float | None = None,
                   title: str = "simulated timeline") -> alt.Chart:
    """Gantt of the simulator's timeline: one row per rank and resource (GPU, data, comm).
    ``tl`` has columns lane, activity, start, end (from ``planner.interactive.simulated_timeline``)."""
    acts = [a for a in TIMELINE_COLORS if a in set(tl["activity"])]
    t = title + (f" — GPU busy {busy_share:.1%} of the time" if busy_share is not None else "")
    return alt.Chart(tl).mark_bar(height=14).encode(
        x=alt.X("start:Q", title="seconds"), x2="end:Q",
        y=alt.Y("lane:N", sort=list(dict.fromkeys(tl["lane"])), title=None),
        color=alt.Color("activity:N", scale=alt.Scale(domain=acts, range=[TIMELINE_COLORS[a] for a in acts]),
                        legend=alt.Legend(title=None, orient="bottom", columns=4)),
        tooltip=["lane:N", "activity:N", "detail:N", alt.Tooltip("start:Q", format=".4f"),
                 alt.Tooltip("end:Q", format=".4f")],
    ).properties(width=WIDTH, height=alt.Step(20), title=t)


#: how a sensitivity point that does not fit memory is drawn: a dark cross, labelled, off the line ("does not fit"
#: until QA 84, when the tables beside it had said "fits memory" since QA 83)
NO_FIT = "does not fit memory"
NO_FIT_COLOR = "#333333"
#: the job's deadline and budget on the sensitivity chart: a dashed rule, labelled, on the panel of its figure
LIMIT_COLOR = "#d62728"

#: a sensitivity sweep's verdict columns by header: memory (``fits``), and the job's deadline and budget held to each
#: row's ranked hours and cost (``workloads.training.limits_met``, QA 83)
SWEEP_VERDICTS = {"fits memory": "fits", "meets deadline": "meets_deadline", "within budget": "within_budget"}


def sweep_verdicts(df: pd.DataFrame) -> dict[str, list[str]]:
    """The verdict cells of a sensitivity sweep's rows by header (``SWEEP_VERDICTS``), one place for the report's
    tables, the app's and the sensitivity chart's tooltips: "yes" / "NO", "-" where the row has no figure (an
    impossible layout, an unpriced plan); a deadline or budget column only where the job states that limit (the
    sweep's None in every row otherwise)."""
    timed = list(df["step_time_s"].notna())
    out = {}
    for head, col in SWEEP_VERDICTS.items():
        got = [bool(v) if t and v is not None and v == v else None for v, t in zip(df.get(col, ()), timed)]
        if any(v is not None for v in got):
            out[head] = ["-" if v is None else "yes" if v else "NO" for v in got]
    return out


def cost_title(rate: str, unit: str = "") -> str:
    """A cost axis's title at ``rate`` (``model.cost.rate_after``'s words, or "spot"): "on-demand cost (USD)", or
    "cost (USD) at the job's rate (cluster.price_usd_hr)". A job's own rate was drawn "on-demand cost" beside the
    page's "cost (at the job's rate (cluster.price_usd_hr))" (QA 82)."""
    return f"cost{unit} {rate}" if rate.startswith("at ") else f"{rate} cost{unit}"


#: the height of each panel of the sensitivity chart, in px
PANEL_HEIGHT = 150


def zero_based_top(values, height: int, pad_px: int = PAD_PX) -> float | None:
    """The top of a time or cost axis ``height`` px tall that starts at 0 and holds ``values`` (None and NaN left
    out) with the highest ``pad_px`` below the plot's top edge; None where no value is positive. QA 90: Vega pads a
    zero-based scale after adding the zero (``padding`` in vega-encode's ``configureDomain``, vega 5), so every
    sensitivity panel ran below 0 -- one point at 5.6 h drew an axis from -1 h to 7 h."""
    vals = [float(v) for v in values if v is not None and v == v and math.isfinite(float(v))]
    hi = max(vals, default=0.0)
    return hi * height / (height - pad_px) if hi > 0 else None


def sensitivity_chart(df: pd.DataFrame, label: str, spot: bool = False, basis: str | None = None,
                      deadline_hours: float | None = None, budget_usd: float | None = None) -> alt.VConcatChart:
    """``sensitivity_panels`` one above the other under their title (the report's figure)."""
    panels = sensitivity_panels(df, label, spot, basis, deadline_hours, budget_usd)
    return alt.vconcat(panels.time, panels.cost).properties(title=panels.title)


class SensitivityPanels(NamedTuple):
    """The sensitivity figure's two panels and its title, apart: the app draws each panel as a chart of its own, which
    Streamlit stretches to its column, where a vconcat keeps its fixed width (app59: 518 px of chart in the 468 px
    column of a 500 px window, its right edge cut)."""
    time: alt.LayerChart
    cost: alt.LayerChart
    title: str


def sensitivity_panels(df: pd.DataFrame, label: str, spot: bool = False, basis: str | None = None,
                       deadline_hours: float | None = None, budget_usd: float | None = None) -> SensitivityPanels:
    """Time to train and cost as one input varies, other inputs held; the current value marked.
    ``df`` comes from ``planner.interactive.sensitivity``; ``basis``: the plan's ``cost.price_basis``, the rate its
    on-demand column is at. ``deadline_hours`` / ``budget_usd``: the job's limits (``constraints``), each a dashed
    rule on its panel, and each point's verdicts (``sweep_verdicts``) in its tooltip; until QA 84 the chart marked
    neither, and llama3-70b.yaml's 64-node point sat on the line at 309.4 d beside a 90-day deadline.

    The line joins the points that fit only: a point that does not fit (estimate_job still times it) is a cross off
    the line, labelled "does not fit" on the side with room. The line ran through the crosses,
    so llama3-8b-auto's 1-node point read as part of the curve, and with the scales ending at the data the cross at
    the axis corner was half under the axis (QA 44): the x scale is padded by ``PAD_PX``, each y scale runs from 0 to
    ``zero_based_top``."""
    verdicts = sweep_verdicts(df)
    df = df.assign(**verdicts)
    ok = df[df["step_time_s"].notna()].copy()
    scale, name = run_time_unit(ok["hours"])
    ok["time"] = ok["hours"] * scale
    ok["cost"] = ok["cost_spot_usd"] if spot else ok["cost_ondemand_usd"]
    ok["fits_label"] = ok["fits"].map({True: "fits", False: NO_FIT})
    fit, nofit = ok[ok["fits"].astype(bool)], ok[~ok["fits"].astype(bool)].copy()
    # the label on the side with room: left of a cross in the right half of the (log) x range, else right of it
    lv = np.log2(ok["value"].astype(float).clip(lower=1e-12))
    mid = (lv.min() + lv.max()) / 2
    nofit["left"] = [bool(np.log2(max(float(v), 1e-12)) > mid) for v in nofit["value"]]
    x = alt.X("value:Q", title=label, scale=alt.Scale(type="log", base=2, padding=PAD_PX))
    common = [alt.Tooltip("value:Q", title=label), alt.Tooltip("time:Q", format=TIME_FORMAT, title=name),
              alt.Tooltip("cost:Q", format="$,.0f"), alt.Tooltip("mfu:Q", format=".0%", title="MFU"),
              alt.Tooltip("mem_gib:Q", format=".1f", title="mem GiB"), "fits_label:N",
              *(alt.Tooltip(f"{h}:N") for h in verdicts if h != "fits memory")]
    limits = {"time": (deadline_hours * scale if deadline_hours else None, "deadline",
                       f"deadline {deadline_words(deadline_hours or 0)}"),
              "cost": (budget_usd, "budget", f"budget {fmt_usd(budget_usd)}")}

    def panel(field, title, fmt):
        top = zero_based_top([*ok[field], limits[field][0]], PANEL_HEIGHT)
        y = alt.Y(f"{field}:Q", title=title, axis=alt.Axis(format=fmt),
                  scale=alt.Scale(domain=[0, top]) if top else alt.Scale())
        line = alt.Chart(fit).encode(x=x, y=y, tooltip=common)
        layers = [line.mark_line(color="#4c78a8"), line.mark_point(size=60, filled=True, color="#4c78a8")]
        if len(nofit):
            cross = alt.Chart(nofit).encode(x=x, y=y, tooltip=common)
            layers.append(cross.mark_point(shape="cross", size=150, filled=True, color=NO_FIT_COLOR))
            for left, side in nofit.groupby("left"):
                layers.append(alt.Chart(side).mark_text(align="right" if left else "left", dx=-10 if left else 10,
                                                        color=NO_FIT_COLOR, fontSize=11)
                              .encode(x=x, y=y, text="fits_label:N"))
        layers.append(alt.Chart(ok[ok["current"]]).mark_point(size=260, color="#d62728", filled=False, strokeWidth=2)
                      .encode(x=x, y=f"{field}:Q"))
        layers += _limit_rule(field, limits[field][0], limits[field][2])
        return alt.layer(*layers).properties(width=WIDTH, height=PANEL_HEIGHT)

    return SensitivityPanels(
        panel("time", f"{name} to train", ",.3~g"), panel("cost", cost_title("spot" if spot else rate_after(basis)), "$~s"),
        f"sensitivity to {label} (other inputs held; red ring = current"
        + (f"; cross = {NO_FIT}, off the line" if len(nofit) else "")
        + ("; dashed = the job's " + " / ".join(w for v, w, _ in limits.values() if v) if any(
            v for v, _, _ in limits.values()) else "") + ")")


def _limit_rule(field: str, value: float | None, text: str) -> list:
    """The job's deadline (time panel) or budget (cost panel) as a dashed horizontal rule labelled ``text``
    ("deadline 90.0 d"); none where the job states no such limit."""
    if not value:
        return []
    d = pd.DataFrame([{field: value, "text": text}])
    rule = alt.Chart(d).mark_rule(strokeDash=[4, 3], color=LIMIT_COLOR).encode(y=f"{field}:Q")
    return [rule, alt.Chart(d).mark_text(align="left", dy=-6, color=LIMIT_COLOR, fontSize=11)
            .encode(y=f"{field}:Q", text="text:N", x=alt.value(4))]


def latency_qps_chart(points: list[dict], ttft_target_ms=None, tpot_target_ms=None, qps=None) -> alt.VConcatChart:
    """Simulated p50 and p99 time to first token and time per output token against offered QPS,
    the targets as dashed rules and the job's QPS as a vertical rule (``points`` from
    ``planner.workloads.serving.latency_vs_qps``). No TPOT panel where no point has one (one output token)."""
    rows = []
    for p in points:
        for metric, key in (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms")):
            for pct in ("p50", "p99"):
                v = (p.get(key) or {}).get(pct)
                if v is not None:
                    rows.append(dict(qps=p["qps"], metric=metric, percentile=pct, ms=v))
    df = pd.DataFrame(rows, columns=["qps", "metric", "percentile", "ms"])

    def panel(metric, target):
        d = df[df["metric"] == metric]
        base = alt.Chart(d).mark_line(point=True).encode(
            x=alt.X("qps:Q", title="offered requests/s"), y=alt.Y("ms:Q", title=f"{metric} (ms)", scale=alt.Scale(type="log")),
            color=alt.Color("percentile:N", legend=alt.Legend(title=None, orient="bottom")),
            tooltip=["qps:Q", "percentile:N", alt.Tooltip("ms:Q", format=",.1f")])
        layers = [base]
        if target:
            layers.append(alt.Chart(pd.DataFrame([dict(ms=target)])).mark_rule(strokeDash=[4, 3], color="#d62728").encode(y="ms:Q"))
        if qps:
            layers.append(alt.Chart(pd.DataFrame([dict(qps=qps)])).mark_rule(color="#999").encode(x="qps:Q"))
        return alt.layer(*layers).properties(width=WIDTH, height=160, title=f"{metric}: p50 and p99 (target dashed)")

    # one output token: no point has a TPOT (null, NO_TPOT), so no TPOT panel -- it plotted 0 ms as if measured
    panels = [panel("TTFT", ttft_target_ms)] + ([panel("TPOT", tpot_target_ms)] if (df["metric"] == "TPOT").any() else [])
    return alt.vconcat(*panels).properties(
        title="simulated latency against offered load (grey: the job's QPS)"
        + ("" if len(panels) == 2 else f"; TPOT {NO_TPOT}"))


#: a serving option's status in the cost chart, and its colour (green: confirmed; blue: the analytic screen's size)
SERVING_STATUS_COLORS = {"recommended": "#1b5e20", "meets the targets (simulated)": "#74c476",
                         "meets the targets (analytic)": "#4c78a8", "misses the targets": "#e45756"}


def serving_cost_frame(res: dict, top: int = 10, missed: int = 5) -> pd.DataFrame:
    """One row per serving option the plan priced at the job's QPS: its label (hardware, TP, replicas), $ a month at
    its $/h x ``hours_per_month`` (``res["budget"]``) and whether it meets the targets -- the ranked options (the
    simulated size where simulated) then up to ``missed`` of the rejected that have a price (their analytic size) and
    cost less than the dearest option shown: the cheaper fleets the plan could not take (a dearer one that misses says
    nothing a budget needs, and its bar -- 74 replicas at $184k a month beside the chat example's $9.5k -- squeezed
    every other bar to a sliver)."""
    hpm = (res.get("budget") or {}).get("hours_per_month")
    rows = []
    for i, o in enumerate(res.get("options") or []):
        if i >= top:
            break
        if o.get("usd_per_hr") and o.get("replicas"):
            status = ("recommended" if i == 0 else "meets the targets (simulated)" if o.get("sized_by") == "simulated"
                      else "meets the targets (analytic)")
            rows.append((o, status))
    dearest = max((o["usd_per_hr"] for o, _ in rows), default=0.0)
    rows += [(o, "misses the targets") for o in
             sorted([r for r in res.get("rejected") or [] if r.get("usd_per_hr") and r.get("replicas")
                     and r["usd_per_hr"] < dearest], key=lambda r: r["usd_per_hr"])[:missed]]
    multi = len(tuple(res.get("precisions") or ())) > 1  # a precision search has one option per precision
    return pd.DataFrame([dict(option=f"{o['hardware']} {replica_layout(o)}{' ' + o['precision'] if multi else ''} x{o['replicas']}",
                              usd_per_month=o["usd_per_hr"] * hpm,
                              usd_per_hr=o["usd_per_hr"], replicas=o["replicas"], status=s)
                         for o, s in rows], columns=["option", "usd_per_month", "usd_per_hr", "replicas", "status"])


def serving_cost_chart(res: dict, top: int = 10) -> alt.LayerChart:
    """Horizontal bars: each option's $ a month (on-demand, 730 h) at the job's QPS, cheapest first, coloured by
    whether it meets the latency targets (simulated or analytic size) or misses them; the recommended bar red."""
    df = serving_cost_frame(res, top)
    hpm = res["budget"]["hours_per_month"]
    qps = res["budget"]["qps"]
    keys = [k for k in SERVING_STATUS_COLORS if k in set(df["status"])]
    df = df.assign(label=[f"${v / 1e3:,.1f}k" if v >= 1e3 else f"${v:,.0f}" for v in df["usd_per_month"]])
    rate = RATE_NAMES.get(res["budget"].get("price") or ON_DEMAND, "on-demand")  # the job's own rate too (QA 61)
    x = alt.X("usd_per_month:Q", title=f"$ per month ({rate}, {hpm:,.0f} h)", axis=alt.Axis(format="$~s"))
    # the order as a list: a layered chart drops an EncodingSortField (the bars came out in no order)
    y = alt.Y("option:N", sort=list(df.sort_values("usd_per_month", kind="stable")["option"]),
              title="option (hardware, TP, replicas)")
    text = alt.Chart(df).mark_text(align="left", dx=3, fontSize=10).encode(x=x, y=y, text="label:N")
    return alt.layer(alt.Chart(df).mark_bar().encode(
        x=x, y=y,
        color=alt.Color("status:N", scale=alt.Scale(domain=keys, range=[SERVING_STATUS_COLORS[k] for k in keys]),
                        legend=alt.Legend(title=None, orient="bottom", columns=2)),
        tooltip=["option:N", "status:N", alt.Tooltip("usd_per_month:Q", format="$,.0f", title="$ per month"),
                 alt.Tooltip("usd_per_hr:Q", format="$,.2f", title="$ per hour"), "replicas:Q"],
    ), text).properties(width=WIDTH, height=alt.Step(22),
                 title=f"monthly cost of each option at {qps:,.4g} requests/s")


#: a serving fleet's bar in the split chart: whether its simulated p99s meet both targets (colours as the cost chart's)
SPLIT_VERDICT_COLORS = {"meets the targets": "#74c476", "misses the targets": "#e45756", "not simulated": "#bbbbbb"}


def disagg_frame(split: dict, colocated_sim: dict | None) -> pd.DataFrame:
    """One row per fleet ``serving.disaggregation`` set beside each other (``ServingPlan.disaggregation``, pd51): the
    colocated fleet (its simulated p99s, ``colocated_sim``: the recommended option's ``simulated``), the split and
    each smaller split ``auto`` simulated and dropped (``tried_smaller``, disagg52), with p99 TTFT / TPOT and $/h
    (the tried splits carry no price: the plan never priced them)."""
    def p99(sim, key):
        return ((sim or {}).get(key) or {}).get("p99")

    sim = split.get("simulated")
    rows = [dict(fleet=f"colocated: {split['colocated_replicas']:,} x {split['colocated_layout']}",
                 ttft_ms=p99(colocated_sim, "ttft_ms"), tpot_ms=p99(colocated_sim, "tpot_ms"),
                 usd_per_hr=split.get("colocated_usd_per_hr"),
                 verdict="not simulated" if not colocated_sim else "meets the targets"
                 if colocated_sim.get("meets_targets", True) else "misses the targets"),
            dict(fleet=f"split: {split['prefill']:,} prefill + {split['decode']:,} decode",
                 ttft_ms=(sim or {}).get("ttft_p99_ms"), tpot_ms=(sim or {}).get("tpot_p99_ms"),
                 usd_per_hr=split.get("usd_per_hr"),
                 verdict="not simulated" if not sim else "meets the targets" if sim["meets_targets"]
                 else "misses the targets")]
    rows += [dict(fleet=f"tried: {t['prefill']:,} + {t['decode']:,}", ttft_ms=t.get("ttft_p99_ms"),
                  tpot_ms=t.get("tpot_p99_ms"), usd_per_hr=None,
                  verdict="meets the targets" if t["meets_targets"] else "misses the targets")
             for t in split.get("tried_smaller") or ()]
    return pd.DataFrame(rows, columns=["fleet", "ttft_ms", "tpot_ms", "usd_per_hr", "verdict"])


def disagg_chart(split: dict, colocated_sim: dict | None, ttft_target_ms=None, tpot_target_ms=None) -> alt.HConcatChart:
    """The colocated fleet beside its prefill-decode split (``disagg_frame``): three panels of horizontal bars, p99
    TTFT and p99 TPOT against the targets (dashed) and $/h, each fleet coloured by whether it meets both. A table
    of the same numbers asks the reader to hold two targets and two prices in mind across rows."""
    df = disagg_frame(split, colocated_sim)
    keys = [k for k in SPLIT_VERDICT_COLORS if k in set(df["verdict"])]
    y = alt.Y("fleet:N", sort=list(df["fleet"]), title=None)
    color = alt.Color("verdict:N", scale=alt.Scale(domain=keys, range=[SPLIT_VERDICT_COLORS[k] for k in keys]),
                      legend=alt.Legend(title=None, orient="bottom"))

    def panel(field: str, title: str, fmt: str, target=None, width: int = 180):
        d = df[df[field].notna()]
        x = alt.X(f"{field}:Q", title=title, axis=alt.Axis(format=fmt))
        layers = [alt.Chart(d).mark_bar().encode(x=x, y=y, color=color,
                                                  tooltip=["fleet:N", alt.Tooltip(f"{field}:Q", format=fmt)])]
        if target:
            layers.append(alt.Chart(pd.DataFrame([{field: target}])).mark_rule(strokeDash=[4, 3], color=LIMIT_COLOR)
                          .encode(x=f"{field}:Q"))
        return alt.layer(*layers).properties(width=width, height=alt.Step(24))

    return alt.hconcat(panel("ttft_ms", "p99 TTFT (ms)", ",.0f", ttft_target_ms),
                       panel("tpot_ms", "p99 TPOT (ms)", ",.1f", tpot_target_ms),
                       panel("usd_per_hr", "$ per hour", "$,.2f")).properties(
        title="prefill-decode split beside the colocated fleet (simulated p99s; targets dashed)")
