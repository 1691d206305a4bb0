"""app34: the what-if app as a team lead screenshots it into a budget review (QA 44's and Review 34's left lists).

The serving view's month, year and likely range (`serve --json`'s ``budget``) and the report's Risks lines; the
sensitivity chart's points that do not fit kept off the line and labelled; the recompute of "the configuration as
set" named; the tables' numbers written as the terminal writes them."""
from __future__ import annotations

import json

import altair as alt
import pandas as pd
import pyarrow as pa
import pytest

from planner import interactive as wi
from planner.present import charts
from planner.units import fmt_usd
from conftest import EXAMPLES
from test_app import _app, _charts, _inputs_of, _metrics, _no_fit_app

CHAT = (EXAMPLES / "serving-llama3-8b-chat.yaml").read_bytes()


def _md(text: str) -> str:
    """A line as the app hands it to Streamlit's markdown: its $ escaped (two would open LaTeX)."""
    return text.replace("$", "\\$")


@pytest.fixture(scope="module")
def chat():
    at = _app()
    at.file_uploader(key="upload").set_value(("chat.yaml", CHAT, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at, wi.serving_view(wi.parse_upload("chat.yaml", CHAT))


def test_serving_view_shows_the_month_the_year_and_the_likely_range(chat):
    """The page showed $ per hour and per million requests only; `planner serve` prints "per month: $9.51k ($13.03/h
    x 730 h, on-demand), per year $114.1k" and the likely range. The same numbers, in the CLI's formatter."""
    from planner.workloads.serving_budget import range_cell
    from planner.present.serving import budget_words

    at, view = chat
    b = view["plan"]["budget"]
    m = _metrics(at)
    assert m["$ per month (730 h, on-demand)"] == fmt_usd(b["usd_per_month"])
    assert m["$ per year (8,760 h, on-demand)"] == fmt_usd(b["usd_per_year"])
    lo, hi = b["usd_per_month_range"]
    assert m["likely range, $ a month"] == f"{fmt_usd(lo)} to {fmt_usd(hi)}"
    captions = [c.value for c in at.caption]
    assert _md(f"per month: {budget_words(b)}") in captions  # the line `planner serve` prints
    assert any(c.startswith(_md(f"likely range (model error): {range_cell(b)}: ")) for c in captions), captions


def test_serving_view_lists_the_reports_risks(chat):
    """QPS growth, a longer prompt and spot, each with its replicas and month, as the report's Risks say them."""
    from planner.present.report import serving_budget_risks

    at, view = chat
    assert "risks" in [h.value for h in at.subheader]
    risks = serving_budget_risks(view["plan"]["budget"], view["plan"]["best"])
    assert [r.split(":")[0] for r in risks][:3] == ["QPS growth (the analytic screen of aws", "Prompt length", "Spot"]
    shown = "\n".join(md.value for md in at.markdown)
    for r in risks:
        assert f"- {_md(r)}" in shown, r


def _layers(chart: alt.VConcatChart) -> list[tuple[dict, pd.DataFrame]]:
    """(layer spec, its rows) of each panel's layers."""
    spec = chart.to_dict()
    out = []
    for panel in spec["vconcat"]:
        for layer in panel["layer"]:
            out.append((layer, pd.DataFrame(spec["datasets"][layer["data"]["name"]])))
    return out


def _sweep() -> pd.DataFrame:
    """A nodes sweep whose 1-node point is timed but does not fit (llama3-8b-auto's) and whose 64-node point is not
    possible at all."""
    vals = [1, 2, 4, 8, 16, 32, 64]
    return pd.DataFrame(dict(
        value=vals, fits=[False, True, True, True, True, True, False],
        step_time_s=[54.2, 27.1, 13.6, 6.8, 3.4, 1.7, None], hours=[3587, 1795, 899, 451, 227, 115, None],
        cost_ondemand_usd=[197.4e3, 197.6e3, 197.9e3, 198.6e3, 200.0e3, 202.9e3, None],
        cost_spot_usd=[60.8e3] * 6 + [None], mfu=[0.56] * 6 + [None], mem_gib=[77.0, 71, 69, 67, 66, 66, None],
        current=[False, False, False, True, False, False, False]))


def test_sensitivity_line_leaves_out_a_point_that_does_not_fit_and_labels_it():
    """The line joined the 1-node cross into the curve; now the line is the fitting points only, the cross is drawn
    (labelled "does not fit") and the scales have room past the data, so the cross at the axis corner is drawn whole."""
    layers = _layers(charts.sensitivity_chart(_sweep(), "nodes"))
    lines = [d for spec, d in layers if (spec["mark"]["type"] if isinstance(spec["mark"], dict) else spec["mark"]) == "line"]
    assert len(lines) == 2 and all(d["fits"].all() and 1 not in set(d["value"]) for d in lines)
    texts = [d for spec, d in layers if isinstance(spec["mark"], dict) and spec["mark"]["type"] == "text"]
    # "does not fit memory" since QA 84 (the tables' "fits memory" column since QA 83)
    assert len(texts) == 2 and all(list(d["value"]) == [1] and list(d["fits_label"]) == ["does not fit memory"]
                                   for d in texts)
    crosses = [d for spec, d in layers if isinstance(spec["mark"], dict) and spec["mark"].get("shape") == "cross"]
    assert len(crosses) == 2 and all(list(d["value"]) == [1] for d in crosses)
    for spec, _ in layers:
        enc = spec["encoding"]
        assert enc["x"]["scale"]["padding"] > 0
    # each y scale from 0 to over its highest point, so the top point is drawn whole too (QA 90: a padded y scale ran
    # below 0, Vega padding it after adding the zero)
    for spec, d in layers:
        y = spec["encoding"]["y"]
        if "scale" in y:
            lo, hi = y["scale"]["domain"]
            assert lo == 0 and hi > d[y["field"]].max(), (y, d[y["field"]].max())


def test_the_configuration_as_set_names_its_recompute():
    """After a no-fit search the page showed the estimate at recompute none (1,275.0 GiB then; 1,277.1 since tece37 priced the native fused loss at 10 B a logit) under an error naming the
    search's nearest at rc:full (1,193.4 GiB; 1,194.3 since losspeak38 priced the loss's buffers against the last
    layer's rebuild, not beside it); the charts did not say which recompute they showed."""
    at = _no_fit_app()
    assert not at.exception
    assert "rc:full" in at.error[0].value and "1194.3 GiB" in at.error[0].value
    titles = [charts.title_text(json.loads(c.proto.spec)) for c in _charts(at)]  # (wrapped to lines since app59)
    assert len(titles) == 2 and all("TP1 PP1 DP8 z0 mb1, recompute none" in t for t in titles), titles
    assert "1277.1 GiB" in titles[0]
    assert any("recompute none (recompute auto" in c.value for c in at.caption), [c.value for c in at.caption]


def _shown(df) -> pd.DataFrame:
    """A table's cells as the browser draws them (the Styler's display values Streamlit sends)."""
    return pa.ipc.open_stream(df.proto.arrow_data.styler.display_values).read_all().to_pandas()


def test_tables_read_like_the_terminal():
    """Streamlit drew an empty cell as "None" and dropped trailing zeros ("28284" beside "29100.77"): the cells are
    now the terminal's ($ in fmt_usd, step s in fmt_step_s, the duration in its unit's decimals, "-" for none) and
    the values underneath stay numbers, so a header click still sorts by value."""
    from planner.units import fmt_sig

    at = _app()
    assert not at.exception
    top = at.dataframe[-1]
    shown = _shown(top)
    rec = wi.search(wi.build_job(wi.preset_base(wi.DEFAULT_PRESET), _inputs_of(at)), wi.cached_catalog(), None, top=10)
    plans = rec["ranked"]
    assert list(shown["on-demand $"]) == [fmt_usd(wi.ranked_price(p["cost"], False)) for p in plans]
    assert list(shown["spot $"]) == [fmt_usd(wi.ranked_price(p["cost"], True)) for p in plans]
    assert "-" in set(shown["spot $"]) and "None" not in shown.to_string()
    # the unit's decimals, and two significant figures for a row under one day (units._in_unit since QA 67)
    assert all(c.count(".") == 1 and (len(c.split(".")[1]) == 1 if float(c.replace(",", "")) >= 1
                                      else c == fmt_sig(float(c), 2)) for c in shown["days to train"])
    assert top.value["on-demand $"].dtype.kind == "f"  # a full column: still numbers underneath
    style, right = wi.table_style(pd.DataFrame({"nodes": ["1 (current)", 2], "cost $": [28284.0, 29100.77],
                                         "minutes to train": [30.0, float("inf")], "step s": [0.0912, 12.345],
                                         "MFU %": [54.0, None]}))
    assert right == ["nodes"]  # a label: sent as strings; a missing value stays a number (budget35)
    text = style.to_string()
    for cell in ("1 (current)", "$28.3k", "$29.1k", "30.0", "never", "0.0912", "12.35", "54.0", "-"):
        assert cell in text, (cell, text)
