"""buy36: every built-in price row dated, the oldest date of the prices a plan used said beside its cost (text, JSON,
report) with a one-line warning when one is stale; an offline job's nodes owned (``offline_budget.buy``, the serve
path's ``fleet_buy``); the app's serving view showing the owned fleet."""
from __future__ import annotations

import datetime
import json

import pytest
from streamlit.testing.v1 import AppTest

from conftest import P4DE_JOB, ROOT, catalog_rows, p4de_override, utc_today, write_job

P5 = """
model: {preset: llama3-8b}
training: {tokens: 1.0e10}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""
BATCH = """
model: {preset: llama3-8b}
serving: {mode: batch, requests: 5.0e6, prompt_tokens: 2048, output_tokens: 256, max_batch: 512,
          precision: fp8, kv_precision: fp8}
constraints: {instances: [aws:p5.4xlarge]}
onprem: {horizon_years: 3, utilisation: 0.6}
"""
CHAT = """
model: {preset: llama3-8b}
serving: {qps: 20, p99_latency_ms: 50, ttft_ms: 500, prompt_tokens: 1024, output_tokens: 256}
constraints: {instances: [aws:p5.48xlarge]}
onprem: {horizon_years: 3}
"""


# ---------------------------------------------------------------------------- 1. dated prices
def test_every_builtin_price_row_carries_a_date_or_says_it_has_none():
    """onprem.csv's prices (server prices, $/kWh, hosting, a GPU's and a kit's price) had no date at all; every
    instance, commitment and on-prem price row now has a ``price_date`` that is a day, month or year, a bound
    ("not before <date> (...)", prices38), a cap ("not after <date> (...)", prices39), or says "unknown: ..." (the
    source gives none), and the on-prem rows that are no prices have none."""
    from hardware_catalog.catalog import bound_day, cap_day, quoted_day

    for name in ("instances", "commitments", "onprem"):
        for row in catalog_rows(name):
            is_price = name != "onprem" or any(w in row["key"] for w in ("price", "hosting"))
            d = row["price_date"].strip()
            if not is_price:
                assert d == "", row["key"]
                continue
            assert d and (quoted_day(d) is not None or bound_day(d) is not None or cap_day(d) is not None
                          or d.startswith("unknown: ")), (
                name, row.get("key"), d)
    onprem = {r["key"]: r for r in catalog_rows("onprem")}
    assert quoted_day(onprem["accelerator_kit_price_gaudi3_8"]["price_date"]) == datetime.date(2024, 6, 30)


def test_a_date_followed_by_words_is_read_as_its_day():
    """The capacity-block rows are dated "2024 (page text: ...)": the first ten characters named no day, so the
    report never marked them stale; the leading year is read (its last day counts)."""
    from hardware_catalog.catalog import quoted_day, stale_days

    block = "2024 (page text: 'The current prices are scheduled to be updated on January 1, 2025')"
    assert quoted_day(block) == datetime.date(2024, 12, 31)
    assert quoted_day("2025-03-06 (file generation date)") == datetime.date(2025, 3, 6)
    assert quoted_day("unknown: catalog snapshot commit date not exposed offline (retrieved 2026-11-23)") is None
    assert stale_days(block, datetime.date(2025, 6, 29)) is None  # 180 days: not over
    assert stale_days(block, datetime.date(2025, 6, 30)) == 181


def test_oldest_price_at_an_injected_today():
    """The summary a plan carries (``Cost.price_dates``) is a function of the day: fresh at one, stale at another."""
    from hardware_catalog.catalog import STALE_PRICE_DAYS, oldest_price

    prices = [("gcp 3yr", "2025-03-06 (file generation date)"), ("aws block", "2024 (page text)"),
              ("aws on-demand", "unknown: catalog snapshot"), ("job rate", "")]
    fresh = oldest_price(prices, today=datetime.date(2025, 3, 1))
    assert (fresh["oldest"], fresh["oldest_of"], fresh["age_days"], fresh["stale"]) == ("2024 (page text)",
                                                                                         "aws block", 60, False)
    assert fresh["stale_prices"] == [] and fresh["stale_after_days"] == STALE_PRICE_DAYS == 180
    assert [u["what"] for u in fresh["undated"]] == ["aws on-demand", "job rate"]
    assert fresh["undated"][1]["price_date"] == "not given"
    stale = oldest_price(prices, today=datetime.date(2025, 9, 1))
    assert stale["stale"] and stale["age_days"] == 244
    assert [(p["what"], p["age_days"]) for p in stale["stale_prices"]] == [("aws block", 244)]  # gcp: 179 days
    assert oldest_price([], today=datetime.date(2025, 1, 1)) is None


def test_a_plan_says_its_oldest_price_in_json_text_and_report_and_warns_once(cli, tmp_path):
    """A plan on p5.48xlarge is priced on-demand, spot, by the 2024 capacity block and buy; nothing said when any
    of them was quoted. ``cost.price_dates`` in the JSON, the "prices dated" row, the report's "Prices dated"
    line, and one stderr warning line (the block is over 180 days old)."""
    job = write_job(tmp_path, P5)
    code, out, err = cli("estimate", job, "--json")
    assert code == 0, err
    p = json.loads(out)["cost"]["price_dates"]
    assert p["oldest"].startswith("2024 (page text") and p["oldest_of"] == "aws:p5.48xlarge capacity-block commitment"
    assert p["stale"] and p["age_days"] == (utc_today() - datetime.date(2024, 12, 31)).days
    # the instance's rates are bounded since prices38 (the AWS snapshot is not before 2026-01-20), not undated
    assert {b["what"] for b in p["bounded"]} == {"aws:p5.48xlarge on-demand", "aws:p5.48xlarge spot"}
    assert {u["what"] for u in p["undated"]} == {"buy: onprem server_price_hgx_h100_8gpu",
                                                 "buy: onprem power_price_usd_per_kwh",
                                                 "buy: onprem hosting_usd_per_kw_month"}
    warn = [x for x in err.splitlines() if x.startswith("warning: stale price")]
    assert warn == [f"warning: stale price: aws:p5.48xlarge capacity-block commitment is dated 2024, "
                    f"{p['age_days']:,} days ago (1 price used is over 180 days old): refresh it with a catalog "
                    "override and its price_date"], err
    code, out, err = cli("estimate", job)
    assert code == 0 and "prices dated" in out and f"oldest 2024 (aws:p5.48xlarge capacity-block" in " ".join(
        out.split()), out
    report = tmp_path / "r.md"
    code, out, err = cli("report", job, "-o", report, "--no-simulate")
    assert code == 0 and err.count("warning: stale price") == 1, err
    line = next(x for x in report.read_text().splitlines() if x.startswith("- Prices dated: "))
    assert f"oldest 2024 (aws:p5.48xlarge capacity-block commitment), {p['age_days']:,} days old: stale" in line


def test_a_fresh_quote_is_said_fresh_and_not_warned(cli, tmp_path):
    """p4de.24xlarge has no commitment row: with the user's on-demand and spot quote of today the oldest price is
    today's, fresh, no warning; the A100 server price (an assumption) is listed undated."""
    job = write_job(tmp_path, P4DE_JOB)
    today = utc_today().isoformat()
    prices = p4de_override(tmp_path, today)
    code, out, err = cli("estimate", job, "--json", "--catalog", prices)
    assert code == 0 and "warning: stale price" not in err, err
    p = json.loads(out)["cost"]["price_dates"]
    assert (p["oldest"], p["oldest_of"], p["age_days"], p["stale"]) == (today, "aws:p4de.24xlarge on-demand", 0, False)
    assert [u["what"] for u in p["undated"]] == ["buy: onprem server_price_hgx_a100_8gpu",
                                                 "buy: onprem power_price_usd_per_kwh",
                                                 "buy: onprem hosting_usd_per_kw_month"]
    from planner.present.terminal import price_dates_words
    assert price_dates_words(p).startswith(f"oldest {today} (aws:p4de.24xlarge on-demand), 0 days old (fresh: within "
                                           "180 days); undated: buy: onprem server_price_hgx_a100_8gpu")


def test_a_job_rate_and_onprem_figures_are_undated_and_an_onprem_override_is_dated(cli, tmp_path):
    """A job's ``cluster.price_usd_hr`` and ``onprem.server_price_usd`` carry no date (said undated, not given the
    catalog row's); an override's on-prem row takes a ``price_date`` (checked as an instance row's: a stale one said
    on stderr), and one re-set without a date does not keep the built-in row's."""
    job = write_job(tmp_path, P4DE_JOB.replace("nodes: 2}", "nodes: 2, price_usd_hr: 25}")
                    + "onprem: {server_price_usd: 200000}\n")
    code, out, err = cli("estimate", job, "--json")
    assert code == 0, err
    undated = [u["what"] for u in json.loads(out)["cost"]["price_dates"]["undated"]]
    assert undated[0] == "the job's rate (cluster.price_usd_hr)"  # QA 60: no on-demand rate
    assert "buy: job onprem.server_price_usd" in undated
    ov = tmp_path / "o.yaml"
    ov.write_text("onprem:\n  - {key: power_price_usd_per_kwh, value: 0.2, price_date: 2023-01-01, source: utility bill}\n"
                  "  - {key: hosting_usd_per_kw_month, value: 120, source: colo quote}\n")
    from hardware_catalog import load_catalog
    cat = load_catalog([ov])
    assert cat.onprem["power_price_usd_per_kwh"]["price_date"] == "2023-01-01"
    assert cat.onprem["hosting_usd_per_kw_month"]["price_date"] == "unknown: not given in o.yaml"
    code, out, err = cli("estimate", job, "--json", "--catalog", ov)
    assert code == 0 and "on-prem key power_price_usd_per_kwh: price_date 2023-01-01 is" in err, err
    p = json.loads(out)["cost"]["price_dates"]
    assert p["oldest"] == "2023-01-01" and p["oldest_of"] == "buy: onprem power_price_usd_per_kwh" and p["stale"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("onprem:\n  - {key: pue, value: 1.2, price_date: yesterday, source: x}\n")
    code, out, err = cli("estimate", job, "--catalog", bad)
    assert code == 2 and out == "" and err.startswith("error: catalog override bad.yaml: onprem[0].price_date: "), err


# ---------------------------------------------------------------------------- 2. an offline job's nodes owned
@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    from planner.spec.load import load_job
    from planner.workloads.serving import plan_serving

    job = write_job(tmp_path_factory.mktemp("b"), BATCH)
    return plan_serving(load_job(job)).to_json()


def test_an_offline_job_gets_the_owned_fleet_cost_and_break_even(batch):
    """``serve`` priced a real-time fleet owned (``budget.buy``) but an offline job got no buy figure with the job's
    ``onprem:`` given. ``offline_budget.buy``: the job's hours on its nodes owned, priced as a training run's
    (``cost.owned_run``: at the assumed 60%), against on-demand for the same node-hours, with the break-even the
    real-time fleet's (wall-hour cost / on-demand $/node-h)."""
    from hardware_catalog import load_catalog
    from planner.model.cost import owned_node_hour_cost

    ob, best = batch["offline_budget"], batch["best"]
    b = ob["buy"]
    own = owned_node_hour_cost(load_catalog(), "H100-SXM-80GB", 1, type("O", (), dict(horizon_years=3.0,
                                                                                      utilisation=0.6))())
    wall = own["total_hr"] * 0.6
    assert b["nodes"] == ob["nodes"] == 1 and b["hours"] == pytest.approx(ob["hours"])
    assert b["wall_hour_usd"] == pytest.approx(wall) and b["node_hour_usd"] == pytest.approx(wall / 0.6)
    assert b["usd"] == pytest.approx(ob["hours"] * 1 * wall / 0.6)
    assert b["ondemand_usd"] == pytest.approx(ob["hours"] * best["price_usd_hr"])
    assert b["breakeven_busy"] == pytest.approx(wall / best["price_usd_hr"])
    assert b["capex_usd"] == pytest.approx(own["capex_per_node"]) and b["horizon_years"] == 3.0
    assert b["cheaper"] == ("buy" if b["usd"] < b["ondemand_usd"] else "rent")
    assert "usd_per_month" not in b  # an offline job ends: no month of owning


def test_an_offline_buy_is_said_by_serve_the_report_and_the_app_view(batch, tmp_path):
    from rich.console import Console

    from planner import interactive as wi
    from planner.present.report import build_serving_report, render_markdown
    from planner.present.serving import buy_words, render_serving
    from planner.spec.load import load_job

    words = buy_words(batch["offline_budget"]["buy"])
    assert words.startswith("$") and "for the job's" in words and "on 1 owned node at" in words
    assert "(per hour of use at 60% utilisation, 3-year horizon)" in words and "on-demand for the same node-hours" in words
    assert "owning beats on-demand while the nodes are busy more than" in words
    con = Console(record=True, width=400)
    render_serving(con, batch)
    assert f"buy: {words}" in con.export_text()
    rep = build_serving_report(load_job(write_job(tmp_path, BATCH)), batch)
    md, _ = render_markdown(rep, "assets")
    assert words in md
    budget = wi.serving_budget({"plan": batch})
    assert budget.buy == f"buy: {words}"


def test_a_job_that_fills_the_horizon_is_priced_at_the_utilisation_it_proves():
    """``fleet_buy`` given hours past the assumed utilisation's share of the horizon prices them as ``owned_run``
    does (min(1, max(u, hours / horizon hours))), and says so."""
    from hardware_catalog import load_catalog
    from planner.present.serving import buy_words
    from planner.workloads.serving_budget import fleet_buy

    opt = type("Opt", (), dict(gpu="H100-SXM-80GB", gpus_per_node=8, price_usd_hr=55.04, price_basis="on-demand"))()
    onprem = type("O", (), dict(horizon_years=1.0, utilisation=0.5))()
    b = fleet_buy(opt, 2, load_catalog(), onprem, hours=8760 * 0.8)
    assert b["utilisation"] == pytest.approx(0.8) and b["run_horizon_share"] == pytest.approx(0.8)
    assert b["usd"] == pytest.approx(2 * 8760 * b["wall_hour_usd"])  # the whole year's cost of the 2 nodes
    assert "80% utilisation: this job alone fills 80% of the 1-year horizon, above the 50% assumed" in buy_words(b)


# ---------------------------------------------------------------------------- 3. the app's serving view
def test_app_serving_view_shows_the_owned_fleet(tmp_path):
    """``serve`` prints "buy: $13.2k a month owning the 1 node ..." for a real-time fleet with ``onprem:``; the app's
    serving view showed the month, the year and the range, never the owned fleet."""
    from planner import interactive as wi
    from planner.present.serving import buy_words

    # the owned fleet's line is the budget's (fleet_buy of the planned size), whatever simulated the size: the plan's
    # simulation bound at its floor (serving.plan_event_bound 1,000: the analytic sizes, README "Bounds") keeps the
    # page's ~350,000 engine events (most of this test's ~60 s) out of a check of one caption
    body = CHAT.replace("serving: {qps: 20,", "serving: {plan_event_bound: 1000, qps: 20,").encode()
    assert body != CHAT.encode()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.file_uploader(key="upload").set_value(("chat.yaml", body, "application/octet-stream")).run()
    assert not at.exception
    view = wi.serving_view(wi.parse_upload("chat.yaml", body))
    b = view["plan"]["budget"]["buy"]
    assert b and b["horizon_years"] == 3.0
    captions = [c.value for c in at.caption]
    assert ("buy: " + buy_words(b)).replace("$", "\\$") in captions, captions


def test_a_serving_plan_dates_its_prices_and_warns_when_stale(cli, tmp_path):
    """``serve`` priced a fleet (on-demand, spot, owned) with no word of when the prices were quoted: its budget (or
    offline job's budget) carries ``price_dates`` as a training plan's cost does, printed as "prices dated:" and, over
    180 days, one stderr warning line."""
    job = write_job(tmp_path, BATCH)
    prices = tmp_path / "p.csv"
    prices.write_text("cloud,name,price_ondemand_usd_hr,price_date\naws,p5.4xlarge,6.5,2023-01-01\n")
    code, out, err = cli("serve", job, "--json", "--no-simulate", "--catalog", prices)
    assert code == 0, err
    p = json.loads(out)["offline_budget"]["price_dates"]
    assert (p["oldest"], p["oldest_of"], p["stale"]) == ("2023-01-01", "aws:p5.4xlarge on-demand", True)
    assert [x for x in err.splitlines() if x.startswith("warning: stale price")] == [
        # the row reprices and dates the on-demand rate alone: the spot rate keeps the snapshot's bound (QA 55; until
        # then the row's date dated the spot rate too, "2 prices used are over 180 days old")
        f"warning: stale price: aws:p5.4xlarge on-demand is dated 2023-01-01, {p['age_days']:,} days ago (1 price used "
        "is over 180 days old): refresh it with a catalog override and its price_date"]
    # the job is off spot, so its prices are the on-demand rate and the buy inputs: the spot rate it never shows is not
    # dated (follow41; it was listed "bounded" before)
    assert [b["what"] for b in p["bounded"]] == []
    code, out, err = cli("serve", job, "--no-simulate", "--catalog", prices)
    assert code == 0 and "prices dated: oldest 2023-01-01 (aws:p5.4xlarge on-demand)" in " ".join(out.split()), out
