"""QA pass 90 (docs/qa_log.md, "QA 90"): the report's and the app's presentation. Each test fails on the code before."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

# Llama-2-13B on TPU v6e (QA 70's job): its Pareto front runs from 1 to 32 nodes, two plans a cost tie apart
TPU_JOB = """
model: {preset: llama2-13b}
training: {seq_len: 4096, global_batch: 1024, precision: bf16, tokens: 2.0e11}
constraints: {objective: %s, clouds: [gcp], gpus: [TPU-v6e]}
"""


def _axis_labels(chart) -> list[list[tuple[str, float]]]:
    """Each y axis of ``chart`` as Vega draws it: its tick labels and their heights (px from the panel's top)."""
    vlc = pytest.importorskip("vl_convert")

    def labels(node, out):
        if isinstance(node, dict):
            if node.get("role") == "axis-label":
                out += [(it["text"], it["y"]) for it in node.get("items", [])]
            for v in node.values():
                labels(v, out)
        elif isinstance(node, list):
            for v in node:
                labels(v, out)
        return out

    def left_axes(node, axes):
        if isinstance(node, dict):
            if node.get("role") == "axis":
                if node["items"][0].get("orient") == "left":
                    axes.append(labels(node, []))
                return axes
            for v in node.values():
                left_axes(v, axes)
        elif isinstance(node, list):
            for v in node:
                left_axes(v, axes)
        return axes

    axes = left_axes(vlc.vegalite_to_scenegraph(chart.to_dict())["scenegraph"], [])
    return [a for a in axes if a]


@pytest.mark.parametrize("hours, cost", [([5.6], [1234.0]), ([11.0, 5.6], [1200.0, 1234.0])])
def test_sensitivity_axes_start_at_zero(hours, cost):
    """Vega pads a zero-based scale after adding the zero: a one-point sweep at 5.6 h drew its time axis from -1 h
    (the 0 tick 19 px above the panel's foot) and its cost axis below $0. Each y axis now ends at 0, at the foot."""
    from planner.present import charts

    n = len(hours)
    df = pd.DataFrame({"value": [2.0 ** k for k in range(n)], "current": [k == n - 1 for k in range(n)],
                       "step_time_s": [1.0] * n, "hours": hours, "cost_ondemand_usd": cost,
                       "cost_spot_usd": [None] * n, "mfu": [0.4] * n, "mem_gib": [40.0] * n, "fits": [True] * n})
    axes = _axis_labels(charts.sensitivity_chart(df, "nodes"))
    assert len(axes) == 2, axes
    for labels in axes:
        lowest = max(labels, key=lambda t: t[1])
        assert lowest[0].strip("$k") == "0" and lowest[1] == charts.PANEL_HEIGHT, labels
        assert not any(t.startswith(("-", "−")) for t, _ in labels), labels


def _usd(cell: str) -> float:
    """A ``fmt_usd`` cell as dollars: "$156.2k" -> 156200."""
    scale = {"k": 1e3, "M": 1e6, "B": 1e9}
    num = cell.lstrip("$").replace(",", "")
    return float(num[:-1]) * scale[num[-1]] if num[-1] in scale else float(num)


@pytest.fixture(scope="module")
def pareto_tables():
    """The report's Pareto table of the TPU job under the cost and the time objective (no charts, no sweeps)."""
    from hardware_catalog import load_catalog
    from planner.present.report import Table, build_report
    from planner.spec import load_job_dict
    from planner.workloads.training import recommend

    cat = load_catalog()
    out = {}
    for objective in ("cost", "time"):
        job = load_job_dict(yaml.safe_load(TPU_JOB % objective))
        rec = recommend(job, cat, simulate=False)
        rep = build_report(job, rec, cat, sensitivity_inputs=(), with_charts=False)
        out[objective] = rec, next(b for s in rep.sections for b in s.blocks
                                   if isinstance(b, Table) and b.caption.startswith("Pareto front"))
    return out


@pytest.mark.parametrize("objective, cheapest_first", [("cost", True), ("time", False)])
def test_pareto_table_walks_the_front_with_the_plan_marked(pareto_tables, objective, cheapest_first):
    """The table came in rank order (a cost tie ranked by time put 9.4 d for $156.2k above 18.8 d for $156.1k) with
    no word of which row was the plan. It walks the front from the objective's end, as its caption says, and marks
    the recommended plan's row."""
    rec, table = pareto_tables[objective]
    cols = table.columns
    costs = [_usd(r[cols.index("cost (on-demand)")]) for r in table.rows]
    assert len(costs) >= 5
    assert costs == sorted(costs, reverse=not cheapest_first), costs
    assert ("cheapest first" if cheapest_first else "fastest first") in table.caption
    marked = [r for r in table.rows if r[cols.index("plan")] == "recommended"]
    best = rec["best"]["hardware"]
    assert [(r[cols.index("hardware")], int(r[cols.index("nodes")])) for r in marked] == [(best["name"], best["nodes"])]
