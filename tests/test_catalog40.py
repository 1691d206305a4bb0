"""catalog40: the catalog a user passes is the one every command reads, the clock reference row included.

GB200's and GB300's sustained clocks are read off the HGX B200 row (``physics.SUSTAINED_CLOCK_OF``); until catalog40
that row came from the shipped catalog whatever ``--catalog`` said, so a user who re-peaked the B200 moved B200 plans
and left the GB200 plans scaled from the shipped B200. Each test fails on the code before (docs: README "Catalog")."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import answered, gpus_csv_with, write_job
from hardware_catalog import load_catalog
from hardware_catalog.catalog import DATA_DIR

B200 = "B200-SXM-180GB"
GB200_JOB = {"model": {"preset": "llama3-8b"},
             "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16", "tokens": 1e10},
             "parallel": {"tp": 1, "pp": 1}, "cluster": {"gpu": "GB200", "gpus_per_node": 4, "nodes": 2}}


@pytest.fixture(scope="module")
def edited(tmp_path_factory) -> Path:
    """A copy of the shipped ``gpus.csv`` (the catalog's GPU table) with one peak changed: the HGX B200's dense BF16
    2,250 -> 1,800 TFLOP/s."""
    shipped = next(r for r in csv.DictReader((DATA_DIR / "gpus.csv").open(newline="")) if r["name"] == B200)
    assert float(shipped["bf16_tflops"]) == 2250
    return gpus_csv_with(tmp_path_factory.mktemp("catalog"), B200, bf16_tflops=1800)


def _job(tmp_path, cluster=None, name="job.yaml"):
    job = {k: dict(v) for k, v in GB200_JOB.items()}
    job["cluster"] = cluster or job["cluster"]
    return str(write_job(tmp_path, job, name))


def test_the_clock_reference_is_the_catalog_in_use_row(edited):
    """``GPU.clock_reference`` is the row of the catalog that built the part (GB300 -> GB200 -> B200, each as that
    catalog has it), and the sustained clock moves with it: the shipped 0.940 of GB200's quoted peak (1.044 x 2250 /
    2500) becomes 1.044 x 1800 / 2500 = 0.752; a part with no reference (H100) keeps 1."""
    from planner.model import physics

    shipped, mine = load_catalog(), load_catalog([edited])
    assert mine.gpu("GB200").clock_reference.peak("bf16") == 1800e12
    assert mine.gpu("GB300").clock_reference.clock_reference.peak("bf16") == 1800e12
    assert physics.sustained_clock(shipped.gpu("GB200")) == pytest.approx(1822 / 1745 * 2250 / 2500)
    assert physics.sustained_clock(mine.gpu("GB200")) == pytest.approx(1822 / 1745 * 1800 / 2500)
    assert physics.sustained_clock(mine.gpu("GB300")) == physics.sustained_clock(mine.gpu("GB200"))
    assert physics.sustained_clock(mine.gpu("H100")) == physics.sustained_clock(shipped.gpu("H100")) == 1.0
    # GB200's own row is untouched: its datasheet peak (MFU's denominator) stays the shipped one
    assert mine.gpu("GB200").peak("bf16") == shipped.gpu("GB200").peak("bf16") == 2500e12


def test_estimate_simulate_recommend_report_read_the_edited_reference(cli, tmp_path, edited):
    """The GB200 plan's step time moves by the clock's ratio (0.940 -> 0.752: 1.25x on a compute-bound step) in
    ``estimate``, ``simulate``, ``recommend`` and ``report``; an H100 plan does not move; MFU stays over GB200's
    own (unchanged) datasheet peak; ``serve`` and ``catalog`` as below."""
    job = _job(tmp_path)
    base = answered(cli("estimate", job, "--json"))
    code, out, err = cli("estimate", job, "--json", "--catalog", str(edited))
    mine = answered((code, out, err))
    # the override line says the edit moves GB200 too, once, on the edited row's line only
    assert (f"GPU {B200}: bf16_tflops 2250 -> 1800 (GB200-B200, GB300-B300 take their sustained clock from this row: "
            "their plans move too)") in err and err.count("sustained clock") == 1, err
    ratio = mine["step_time_s"] / base["step_time_s"]
    assert 1.15 < ratio < 1.26
    assert mine["mfu"] == pytest.approx(base["mfu"] / ratio)

    sim = [answered(cli("simulate", job, "--json", *c))["step_time_s"]["mean"] for c in ((), ("--catalog", str(edited)))]
    assert sim[1] / sim[0] == pytest.approx(ratio, rel=1e-3)

    rec = [answered(cli("recommend", job, "--json", "--top", "1", "--no-simulate", *c))["best"]["step_time_s"]
           for c in ((), ("--catalog", str(edited)))]
    assert rec[1] / rec[0] == pytest.approx(ratio, rel=1e-3)

    rows = []
    for i, c in enumerate(((), ("--catalog", str(edited)))):
        out = tmp_path / f"r{i}.md"
        code, _, err = cli("report", job, "-o", str(out), "--no-simulate", "--top", "1", *c)
        assert code == 0, err
        rows.append(next(l for l in out.read_text().splitlines() if l.startswith("| step time |")))
    assert rows == [f"| step time | {base['step_time_s']:.2f} s |", f"| step time | {mine['step_time_s']:.2f} s |"]

    h100 = _job(tmp_path, {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}, "h100.yaml")
    assert (answered(cli("estimate", h100, "--json"))["step_time_s"]
            == answered(cli("estimate", h100, "--json", "--catalog", str(edited)))["step_time_s"])
    _serve_and_catalog_read_the_edited_row_only_where_it_is(cli, tmp_path, edited)


def _serve_and_catalog_read_the_edited_row_only_where_it_is(cli, tmp_path, edited):
    """``serve`` prices the B200 options at the edited peak (their TPOT rises) and the H100 options as before;
    ``catalog gpus`` lists the edited B200 and the shipped GB200 (its row is not the one edited)."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 40, "prompt_tokens": 800,
                                           "output_tokens": 200, "max_batch": 256, "precision": "bf16"},
                               "constraints": {"gpus": ["H100-SXM-80GB", B200]}}, "serve.yaml")
    tpot = [{(o["hardware"], o["tp"]): o["tpot_ms"] for o in answered(cli("serve", str(job), "--json", "--no-simulate",
                                                                          *c))["options"]}
            for c in ((), ("--catalog", str(edited)))]
    assert tpot[0].keys() == tpot[1].keys()
    b200 = [k for k in tpot[0] if "b200" in k[0]]
    h100 = [k for k in tpot[0] if "h100" in k[0]]
    assert b200 and h100
    assert all(tpot[1][k] > tpot[0][k] for k in b200)
    assert all(tpot[1][k] == tpot[0][k] for k in h100)

    rows = {r["name"]: r for r in answered(cli("catalog", "gpus", "--json", "--catalog", str(edited)))}
    assert rows[B200]["bf16_tflops"] == 1800 and rows["GB200-B200"]["bf16_tflops"] == 2500


def test_the_app_reads_the_catalog_it_is_given(edited, monkeypatch):
    """The app's catalog is ``$PLANNER_CATALOG``'s (``interactive.cached_catalog``): its pinned GB200 estimate moves as
    ``estimate --catalog`` does."""
    from planner import interactive as wi
    from planner.spec import load_job_dict

    job = load_job_dict(GB200_JOB)
    base = wi.estimate_if_pinned(job, load_catalog())["step_time_s"]
    monkeypatch.setenv("PLANNER_CATALOG", str(edited))
    mine = wi.estimate_if_pinned(job, load_catalog())["step_time_s"]  # the loader ``cached_catalog`` caches
    assert 1.15 < mine / base < 1.26


# ---------------------------------------------------------------------------- prices dated between two days
LAMBDA_JOB = """
model: {preset: llama3-8b}
training: {tokens: 1.0e10}
cluster: {instance: lambda:gpu_8x_h100_sxm5, nodes: 1}
"""
BETWEEN = "between 2026-01-01 and 2026-02-01 (rep's price list, 2026-01-01; their email, 2026-02-01)"


def test_a_between_date_is_typed_and_ruled_stale_by_its_later_end():
    """``between A and B (...)``: kind ``between``, earliest day A, latest B; fresh while both ends are within 180 days,
    "may be stale" once only A is over (at most so old), stale once B is (at least so old). Until catalog40 it was
    no date ("unknown")."""
    import datetime

    from hardware_catalog.catalog import bound_day, cap_day, oldest_price, price_date_kind, price_date_short
    from planner.present.report import _dated
    from planner.present.terminal import price_dates_words, stale_price_warning, view_price_dates_words

    assert price_date_kind(BETWEEN) == "between"
    assert (bound_day(BETWEEN), cap_day(BETWEEN)) == (datetime.date(2026, 1, 1), datetime.date(2026, 2, 1))
    assert price_date_short(BETWEEN) == "between 2026-01-01 and 2026-02-01"
    assert price_date_kind("between 2026-02 and 2026-01 (x)") == "unknown"  # the wrong way round: no date

    def at(day):
        return oldest_price([("lambda:x on-demand", BETWEEN)], datetime.date(*day))

    fresh, maybe, stale = at((2026, 3, 1)), at((2026, 7, 15)), at((2026, 9, 1))
    assert (fresh["age_days"], fresh["age_floor_days"], fresh["stale"], fresh["may_be_stale"]) == (59, 28, False, False)
    assert (maybe["age_days"], maybe["age_floor_days"], maybe["stale"], maybe["may_be_stale"]) == (195, 164, False, True)
    assert (stale["age_days"], stale["age_floor_days"], stale["stale"], stale["may_be_stale"]) == (243, 212, True, False)
    assert stale["stale_prices"] == [dict(what="lambda:x on-demand", price_date=BETWEEN, age_days=212, at_least=True)]

    assert price_dates_words(fresh).startswith(f"oldest {BETWEEN} (lambda:x on-demand), 28 to 59 days old (fresh: "
                                               "within 180 days)")
    assert "164 to 195 days old: may be stale (its earlier end is over 180 days back" in price_dates_words(maybe)
    assert "212 to 243 days old; stale: 1 price over 180 days old" in price_dates_words(stale)
    rows = [dict(hardware="lambda:x", price_dates=p) for p in (maybe,)]
    assert view_price_dates_words(rows) == "lambda:x between 2026-01-01 and 2026-02-01 (164 to 195 days old: may be stale)"
    assert stale_price_warning(stale).startswith("warning: stale price: lambda:x on-demand is dated between 2026-01-01 "
                                                 "and 2026-02-01, so at least 212 days ago")
    assert stale_price_warning(maybe).startswith("warning: price may be stale: lambda:x on-demand is dated between "
                                                 "2026-01-01 and 2026-02-01, so at most 195 days ago")
    assert stale_price_warning(fresh) is None
    assert _dated(BETWEEN, datetime.date(2026, 9, 1)) == f"{BETWEEN} (212 to 243 days old: stale, over 180)"
    assert _dated(BETWEEN, datetime.date(2026, 7, 15)) == f"{BETWEEN} (164 to 195 days old: may be stale, over 180)"


def test_lambdas_rows_are_between_their_two_evidenced_days_in_catalog_recommend_and_report(cli, tmp_path):
    """The 10 Lambda rows read ``between 2026-05-03 and 2026-11-23`` (the earlier end in the row's notes: cpu_4x_generalx,
    skypilot-catalog PR #179; the later: the day the snapshot was read) in ``catalog instances``, ``estimate`` /
    ``recommend``'s price dates and the report's price cell. Until catalog40 the later end was in the notes only."""
    import datetime

    from rich.console import Console

    from hardware_catalog import load_catalog
    from hardware_catalog.tables import format_instances_table
    from planner.present.report import render_markdown, report_for_job
    from planner.spec.load import load_job

    con = Console(width=400, record=True)
    con.print(format_instances_table(load_catalog(), "lambda", width=400))
    assert con.export_text().count("between 2026-05-03 and 2026-11-23") == 10
    job = write_job(tmp_path, LAMBDA_JOB)
    p = answered(cli("recommend", str(job), "--json", "--top", "1", "--no-simulate"))["best"]["cost"]["price_dates"]
    assert p["oldest_kind"] == "between" and p["oldest"].startswith("between 2026-05-03 and 2026-11-23 (")
    rep, _ = report_for_job(load_job(job), load_catalog(), simulate=False, today=datetime.date(2026, 12, 5))
    text, _ = render_markdown(rep, str(tmp_path / "assets"))
    assert "between 2026-05-03 and 2026-11-23" in text and "(12 to 216 days old: may be stale, over 180)" in text


def test_a_users_price_file_may_date_between_two_days_and_older_kinds_keep_working(cli, tmp_path):
    """An override's ``price_date`` may be ``between A and B (...)``: taken, dated so in the plan, stale once its later
    end is over 180 days back (said on stderr); a malformed one is one line (exit 2). A user's file dated as before (a
    day, ``not before``, ``not after``) reprices the Lambda row as it did."""
    job = str(write_job(tmp_path, LAMBDA_JOB))
    prices = tmp_path / "p.csv"

    def plan(date):
        prices.write_text(f"cloud,name,price_ondemand_usd_hr,price_date\nlambda,gpu_8x_h100_sxm5,30,\"{date}\"\n")
        return cli("estimate", job, "--json", "--catalog", str(prices))

    code, out, err = plan("between 2025-01-01 and 2025-03-01 (list; email)")
    p = answered((code, out, err))["cost"]["price_dates"]
    assert p["oldest_kind"] == "between" and p["stale"] and p["stale_prices"][0]["at_least"]
    assert "price_date between 2025-01-01 and 2025-03-01 is at least" in err
    for date, kind in (("2026-12-01", "exact"), ("not before 2026-11-01 (x)", "not-before"),
                       ("not after 2026-11-30 (x)", "not-after")):
        d = answered(plan(date))
        assert d["cost"]["price_dates"]["oldest_kind"] == kind and d["cost"]["price_dates"]["oldest"] == date
    for bad, says in (("between 2026-11-01 to 2026-11-30", "must be 'between YYYY-MM-DD and YYYY-MM-DD'"),
                      ("between 2026-11-30 and 2026-11-01", "the earlier end comes first"),
                      ("between 2026-11-01 and 2099-01-01", "ends after today")):
        code, out, err = plan(bad)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert err.startswith("error: catalog override p.csv: instances[0].price_date: ") and says in err, err
