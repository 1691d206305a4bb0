"""app59: the what-if app driven where app57 / app58 did not go (docs/qa_log.md "app59"): the serving page's
prefill-decode split called "cheaper" where it misses the targets, and a narrow window (500 px in Chromium) where the
sensitivity figure (a vconcat, which Streamlit cannot stretch) ran past the column and chart titles were cut at the
chart's edge. Each test fails on the old code unless its docstring says otherwise."""
from __future__ import annotations

import json

import pytest

from planner.spec import load_job_dict
from planner.workloads.serving import plan_serving
from app_page import checked, open_page, upload

pytestmark = pytest.mark.slow  # AppTest pages and serving simulations


def _serving(qps: float, split=(1, 1)) -> dict:
    """Llama-3-8B at ``qps`` of 256 + 32 tokens on aws's H100s (test_app53's small job), a fixed split."""
    return {"model": {"preset": "llama3-8b"},
            "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": qps, "prompt_tokens": 256, "output_tokens": 32,
                        "max_batch": 16, "disaggregation": {"prefill": split[0], "decode": split[1]}},
            "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}}


def _split_line(plan) -> str:
    return next(a for a in plan.assumptions if a.startswith("serving.disaggregation split on"))


def test_a_split_that_misses_the_targets_is_not_called_cheaper():
    """At 150 QPS a fixed 1 + 1 split (2 GPUs, $13.76/h) misses the targets (its prompts queue without end) while the
    colocated fleet holds them on 4 GPUs ($27.52/h): the cheaper fleet that serves the load is the colocated one.
    Old: "disaggregated is cheaper", and the screen's TTFT written "p99 TTFT inf ms"."""
    plan = plan_serving(load_job_dict(_serving(150)))
    d = plan.disaggregation
    assert d["simulated"] and not d["simulated"]["meets_targets"]
    assert d["usd_per_hr"] < d["colocated_usd_per_hr"]  # cheaper by the hour, yet no fleet for this load
    assert d["cheaper"] == "colocated"
    line = _split_line(plan)
    assert "inf ms" not in line and "p99 TTFT unbounded" in line
    assert "the split misses the targets, so the colocated fleet is the plan that meets them" in line


def test_a_split_that_meets_the_targets_keeps_its_price_comparison_and_counts_one_gpu():
    """At 20 QPS the 1 + 1 split meets the targets and costs twice the one colocated replica: "colocated is cheaper"
    (a guard, as before), on "1 GPU" (old: "1 GPUs")."""
    plan = plan_serving(load_job_dict(_serving(20)))
    assert plan.disaggregation["simulated"]["meets_targets"] and plan.disaggregation["cheaper"] == "colocated"
    line = _split_line(plan)
    assert "(1 GPU) $6.88/h: colocated is cheaper" in line and "1 GPUs" not in line


def test_the_serving_page_does_not_call_a_missing_split_cheaper():
    """The serving page's "cheaper" metric (``interactive.serving_split``) for the 150 QPS 1 + 1 split. Old:
    "disaggregated"."""
    import yaml

    at = upload(open_page(), "split.yaml", yaml.safe_dump(_serving(150)).encode())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["cheaper"] == "colocated (split misses)"
    assert any("misses the targets" in c.value for c in at.caption)


def _page_charts(at) -> list[dict]:
    from test_app import _charts

    return [json.loads(c.proto.spec) for c in _charts(at)]


def test_every_chart_on_the_page_stretches_and_its_title_fits_a_narrow_column():
    """The default page: no chart is a concatenation (Streamlit stretches a single or layered view to its column, a
    vconcat keeps its fixed 560 px: 518 px of chart in a 468 px column at a 500 px window); the sensitivity figure is
    two panels, its title a caption; each title's line at most ``charts.TITLE_LINE`` characters (old: the timeline's
    "3 simulated steps, ranks 0-1 of 2 — GPU busy 100.0% of the time", 66, cut at the edge)."""
    from planner.present import charts

    at = checked(open_page())
    specs = _page_charts(at)
    assert not [s for s in specs if {"vconcat", "hconcat", "concat"} & set(s)]
    assert sum(charts.title_text(s).startswith(t) for s in specs
               for t in ("memory per GPU", "where the step time goes", "3 simulated steps")) == 3
    for s in specs:
        t = s.get("title")
        lines = t.get("text") if isinstance(t, dict) else [t] if t else []
        assert all(len(line) <= charts.TITLE_LINE for line in lines), lines
    assert any(c.value.startswith("sensitivity to nodes (other inputs held") for c in at.caption)
    assert "GPU busy" in next(charts.title_text(s) for s in specs if charts.title_text(s).startswith("3 simulated"))


def test_the_reports_sensitivity_figure_is_the_two_panels_under_one_title():
    """``sensitivity_chart`` (the report's) is ``sensitivity_panels`` stacked under their title: the app and the report
    draw the same panels (fails on the old code: no ``sensitivity_panels``)."""
    from planner.present import charts
    from app_page import limited_nodes_sweep

    job, rec, df = limited_nodes_sweep()
    panels = charts.sensitivity_panels(df, "nodes", False, None, job.constraints.deadline_hours, job.constraints.budget_usd)
    whole = charts.sensitivity_chart(df, "nodes", False, None, job.constraints.deadline_hours,
                                     job.constraints.budget_usd).to_dict()
    assert whole["title"] == panels.title and "dashed = the job's deadline / budget" in panels.title
    assert len(whole["vconcat"]) == 2
    assert whole["vconcat"][1]["layer"][0]["encoding"]["y"]["title"] == panels.cost.to_dict()["layer"][0]["encoding"]["y"]["title"]


def test_the_serving_page_offers_the_serving_review():
    """The serving page's download: `planner report`'s serving review of the plan on the page (fails on the old code:
    no download button there, no ``serving_report_html``). The HTML names the page's hardware and replicas and holds
    no NaN / inf / None."""
    import re

    import yaml
    from planner import interactive as wi

    data = {k: v for k, v in _serving(20).items()}
    data["serving"] = {k: v for k, v in data["serving"].items() if k != "disaggregation"}
    at = upload(open_page(), "small.yaml", yaml.safe_dump(data).encode())
    assert len(at.get("download_button")) == 1
    view = wi.serving_view(wi.parse_upload("small.yaml", yaml.safe_dump(data).encode()), wi.cached_catalog())
    html = wi.serving_report_html(view, wi.cached_catalog(), "small.yaml")
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.S))
    metrics = {m.label: m.value for m in at.metric}
    hw = metrics["hardware"].rsplit(" ", 1)[0]
    assert "Serving review" in text and hw in text
    assert not re.search(r"\b(nan|NaN|inf|Infinity|None)\b", text)
