"""QA pass 82: the what-if app read as a budget reviewer beside ``planner recommend`` and ``planner report`` on the
same files (docs/qa_log.md, "QA 82"): an uploaded job that names no GPU, the lines of the winner's other prices, the
rate the views' cost column and the charts' cost axes are at, and a deadline's words."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from planner import interactive as wi
from app_page import open_page, page_text, upload
from conftest import EXAMPLES, write_job

# 8 x p5.48xlarge, one layout, at the job's own $30 rate: buy and capacity-block prices, a short search (QA 60's job)
RESERVED = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, tokens: 1.0e11}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 8, price_usd_hr: 30}
"""


@pytest.fixture(scope="module")
def page():
    """One page: each test uploads its own job over the one before (a page per test first planned the preset)."""
    return open_page()


def _frame(at, *first: str):
    """The page's table whose columns start with ``first`` (the scaling view: nodes, layout; the sensitivity
    sweep over nodes starts with nodes too)."""
    return next(df.value for df in at.dataframe if tuple(df.value.columns)[:len(first)] == first)


def _axis_titles(at) -> set[str]:
    """Every x / y axis title of the page's charts."""
    out = set()

    def walk(n):
        for c in getattr(n, "children", {}).values():
            yield c
            yield from walk(c)

    def titles(d):
        if isinstance(d, dict):
            for k, v in d.items():
                if k in ("x", "y") and isinstance(v, dict) and v.get("title"):
                    out.add(v["title"])
                titles(v)
        elif isinstance(d, list):
            for v in d:
                titles(v)

    for e in walk(at.main):
        if getattr(e, "type", None) == "vega_lite_chart":
            titles(json.loads(e.proto.spec))
    return out


def test_an_uploaded_job_that_names_no_gpu_is_planned_as_recommend_plans_it(page, cli):
    """llama2-13b-spot.yaml names clouds [aws] and no GPU: ``planner recommend`` and ``planner report`` search every
    GPU and rank 2 x aws:p6-b300.48xlarge (B300) at $33.8k expected spot; the page wrote its three default GPUs
    (H100, H200, A100-80GB) into the job and read 2 x aws:p5en.48xlarge at $86.6k, 2.6x the report of the same file.
    The GPUs input now starts empty (none = all) for such a job; a preset still starts at the app's defaults."""
    path = EXAMPLES / "llama2-13b-spot.yaml"
    code, out, err = cli("recommend", path, "--json")
    assert code == 0, err
    best = json.loads(out)["best"]
    at = upload(page, path.name, path.read_bytes())
    assert at.session_state["w_gpus"] == []
    assert f"{best['hardware']['nodes']} x {best['hardware']['name']}" in at.success[0].value, at.success[0].value
    from planner.results import ranked_price
    from planner.units import fmt_usd
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["cost (spot, expected)"] == fmt_usd(ranked_price(best["cost"], True)), metrics
    # recommend's spot line (expected interruptions and the range) under the metrics
    from planner.present.terminal import spot_line
    assert [c for c in at.caption if page_text(c.value) == page_text(spot_line(best["cost"]["spot_risk"]))], \
        [c.value for c in at.caption]
    # the views' one cost column is the spot column the alternatives give for the same plan, and says so
    scaling, ranked = _frame(at, "nodes", "layout"), _frame(at, "#")
    assert "cost $" not in scaling.columns and "spot $" in scaling.columns, list(scaling.columns)
    two = ranked[ranked["nodes"] == best["hardware"]["nodes"]].iloc[0]
    assert scaling.loc[scaling["nodes"] == best["hardware"]["nodes"], "spot $"].iloc[0] == pytest.approx(two["spot $"])
    # a preset's own document names the app's GPUs
    from hardware_catalog import load_catalog
    start = wi.inputs_from_job(wi.build_job(wi.preset_base(wi.DEFAULT_PRESET), None), load_catalog())
    assert start.gpus == list(wi.DEFAULT_GPUS)


def test_the_page_gives_recommends_buy_and_committed_lines_and_names_the_jobs_rate(page, cli, tmp_path):
    """8 x p5.48xlarge at the job's $30 rate: ``planner recommend`` prints "buy instead (not ranked on)" and
    "committed (not ranked on)" (a capacity block) under its table, the report has them in its cost section; the page
    had neither, though its "prices dated" line named the capacity-block commitment. The cost-vs-time and sensitivity
    charts drew the cost axis "on-demand cost" and the scaling / per-GPU tables "cost $" for the job's own rate."""
    job = write_job(tmp_path, RESERVED)
    code, out, err = cli("recommend", job)
    assert code == 0, err
    said = page_text(out)
    at = upload(page, "reserved.yaml", RESERVED.encode())
    lines = [page_text(c.value) for c in at.caption]
    for head in ("buy instead (not ranked on): ", "committed (not ranked on): "):
        mine = [c for c in lines if c.startswith(head)]
        assert len(mine) == 1, (head, lines)
        assert mine[0] in said, (mine[0], said[-3000:])
    rate = "the job's rate (cluster.price_usd_hr)"
    axes = _axis_titles(at)
    assert f"cost (USD) at {rate}" in axes and f"cost at {rate}" in axes, axes
    assert not [t for t in axes if "on-demand" in t], axes
    for first in (("nodes", "layout"), ("gpu",)):
        cols = list(_frame(at, *first).columns)
        assert f"{rate} $" in cols and "cost $" not in cols, cols


def test_a_deadline_is_said_with_its_digits_grouped_and_its_days():
    """The scaling view's left-out counts read "over the 2160 h deadline" beside plans of "309.4 d" (llama3-70b.yaml,
    90 days), where the binding line read "2,160 h (90.0 d)"; ``:g`` wrote a 1,234,567 h deadline "1.23457e+06 h".
    One function for both (``recommend.deadline_words``)."""
    from planner.search.recommend import _cut_reasons, deadline_words

    assert deadline_words(2160) == "2,160 h (90.0 d)"
    assert deadline_words(1_234_567) == "1,234,567 h (140.8 years)"
    assert deadline_words(20) == "20 h"
    con = SimpleNamespace(deadline_hours=2160.0, budget_usd=None)
    reasons = _cut_reasons(con, np.array([1, 2]), np.array([7426.0, 100.0]), np.array([1.0, 1.0]),
                           np.array([False, True]))
    assert reasons == {1: "its fastest plan takes 309.4 d, over the 2,160 h (90.0 d) deadline"}, reasons
