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


def _nodes(node):
    """Every mapping in a Vega scenegraph, depth first."""
    if isinstance(node, dict):
        yield node
        node = list(node.values())
    if isinstance(node, list):
        for v in node:
            yield from _nodes(v)


def _axis_labels(chart) -> list[list[tuple[str, float]]]:
    """Each y axis of ``chart`` as Vega draws it: its tick labels and their heights (px from the panel's top)."""
    vlc = pytest.importorskip("vl_convert")
    axes = [n for n in _nodes(vlc.vegalite_to_scenegraph(chart.to_dict())["scenegraph"])
            if n.get("role") == "axis" and n["items"][0].get("orient") == "left"]
    labels = [[(it["text"], it["y"]) for n in _nodes(ax) if n.get("role") == "axis-label" for it in n["items"]]
              for ax in axes]
    return [a for a in labels if a]  # (a panel's grid is an axis without labels)


@pytest.mark.parametrize("hours, cost", [([5.6], [1234.0]), ([11.0, 5.6], [1200.0, 1234.0])])
def test_sensitivity_axes_start_at_zero(hours, cost):
    """Vega pads a zero-based scale after adding the zero: a one-point sweep at 5.6 h drew its time axis from -1 h
    (the 0 tick 19 px above the panel's foot) and its cost axis below $0. Each y axis now ends at 0, at the foot."""
    from planner.present import charts

    n = len(hours)
    df = pd.DataFrame({"value": [2.0 ** k for k in range(n)], "current": [k == n - 1 for k in range(n)],
                       "step_time_s": [1.0] * n, "hours": hours, "cost_ondemand_usd": cost,
                       "cost_spot_usd": [None] * n, "mfu": [0.4] * n, "mem_gib": [40.0] * n, "fits": [True] * n})
    chart = charts.sensitivity_chart(df, "nodes")
    axes = _axis_labels(chart)
    assert len(axes) == 2, axes
    for labels, panel in zip(axes, chart.to_dict()["vconcat"]):
        lowest = max(labels, key=lambda t: t[1])
        assert lowest[0].strip("$k") == "0" and lowest[1] == panel["height"], labels
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
    marked = [r for r in table.rows if "plan" in cols and r[cols.index("plan")] == "recommended"]
    best = rec["best"]["hardware"]
    assert [(r[cols.index("hardware")], int(r[cols.index("nodes")])) for r in marked] == [(best["name"], best["nodes"])]
    assert ("cheapest first" if cheapest_first else "fastest first") in table.caption


def test_expert_parallel_rows_read_tp_1():
    """An EP row's TP cell held the replica's GPUs ("TP 8 EP 8": vLLM's ``--tensor-parallel-size 8
    --enable-expert-parallel``, tensor-parallel attention, which is not what is modelled); the replica runs attention
    data-parallel, TP 1. A TP row keeps its degree."""
    from hardware_catalog import load_catalog
    from planner.present.serving import options_table
    from planner.spec import load_job_dict
    from planner.workloads.serving import plan_serving

    moe = {"family": "moe", "layers": 2, "hidden": 512, "heads": 8, "kv_heads": 8, "ffn_hidden": 256, "vocab": 1000,
           "moe": {"experts": 8, "top_k": 2}}
    job = load_job_dict({"model": moe, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1,
                                                   "price_usd_hr": 20.0},
                         "serving": {"qps": 5, "p99_latency_ms": 100, "prompt_tokens": 100, "output_tokens": 20}})
    res = plan_serving(job, load_catalog(), simulate=False)
    table = options_table(res)
    tp, ep = table.cols.index("TP"), table.cols.index("EP")
    shown = list(zip(res["options"], table.rows))
    assert any(o["ep"] > 1 and o["tp"] > 1 for o, _ in shown) and any(o["tp"] > 1 and o["ep"] == 1 for o, _ in shown)
    for o, row in shown:
        assert (row[tp], row[ep].split()[0]) == (("1", str(o["ep"])) if o["ep"] > 1 else (str(o["tp"]), "1")), row


def test_a_setting_that_gained_nothing_gives_way_to_the_default():
    """serve48b's fleet: the screen's setting carried 22.6 QPS in the search, 2B 23.7, whose confirmation stepped back
    to 22.6; the plan kept 2B. The first setting that reached the confirmed QPS and holds it there is kept; a later
    one stays where it gained, or where the earlier setting misses the confirmation."""
    from planner.workloads.serving import setting_ladder, settled_setting

    carried = {"screen": 22.6, "other budget": 20.0, "2B": 23.7}
    ladder = setting_ladder(list(carried), lambda k, q: carried[k], lambda k, q: carried[k] > q)
    assert ladder == [(22.6, "screen"), (23.7, "2B")]
    reached = lambda got, want: got >= want  # noqa: E731 (a fleet: more QPS is better)
    assert settled_setting(ladder, 22.6, "2B", reached, lambda k: True) == "screen"
    assert settled_setting(ladder, 22.6 * 1.02, "2B", reached, lambda k: True) == "2B"  # a QPS the screen's never reached
    assert settled_setting(ladder, 22.6, "2B", reached, lambda k: k == "2B") == "2B"  # the screen's misses the long run


# one 8-GPU node at a fixed layout on torchtitan (FSDP2): each page run is a short search
STACK_JOB = b"""model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 64, micro_batch: 1, steps: 10, framework: torchtitan}
parallel: {tp: 1, pp: 1, dp: 8, zero: 3}
cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1}
"""


def test_the_sidebar_sets_the_stacks_options():
    """The training-stack input set the stack's name only: torch.compile, TP overlap, FSDP's reshard, offload... needed
    a job file. The sidebar draws the chosen stack's options (``stack_controls``, from its registry entry), each at
    the stack's default; turning torchtitan's torch.compile off lengthens the step, and the job the page plans says
    ``compile: false``. Another stack brings its own options at its own defaults (DeepSpeed: compile off, param
    offload searched)."""
    from app_page import open_page, upload
    from planner import interactive as wi

    at = upload(open_page(), "job.yaml", STACK_JOB)
    shown = {w.key[len("w_stackopt_"):]: w.value for w in at.selectbox if (w.key or "").startswith("w_stackopt_")}
    assert shown.get("compile") is True and shown["tp_overlap"] == "async_tp" and shown["reshard_after_forward"] == wi.AUTO
    base = wi.parse_upload("job.yaml", STACK_JOB)
    # (the selectboxes: the typed options are number and text inputs since QA 96)
    assert shown == {c.option: c.default for c in wi.stack_controls(base, "torchtitan") if c.kind == "select"}
    step = {m.label: m.value for m in at.metric}["step time"]
    at.selectbox(key="w_stackopt_compile").set_value(False).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    slower = {m.label: m.value for m in at.metric}["step time"]
    assert float(slower.split()[0]) > float(step.split()[0]), (step, slower)
    w = wi.inputs_from_job(wi.build_job(base, None)).replace(
        framework="torchtitan", stack_options={k: at.session_state[f"w_stackopt_{k}"] for k in shown})
    assert wi.build_job(base, w).training.framework.compile is False
    at.selectbox(key="w_framework").set_value("deepspeed").run()
    assert not at.exception, [e.value for e in at.exception]
    ds = {w.key[len("w_stackopt_"):]: w.value for w in at.selectbox if (w.key or "").startswith("w_stackopt_")}
    assert ds["compile"] is False and ds["param_offload"] == wi.AUTO and "tp_overlap" not in ds
