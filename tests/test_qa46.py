"""QA pass 46: a platform lead's own prices (a negotiated on-demand / spot / 1-3 year price file), a private instance
row and calibration profiles (one from ``planner calibrate``, one written by hand for H100), and the same files made
hostile; each defect found with the check that failed before its fix (docs/qa_log.md, "QA 46")."""
from __future__ import annotations

import datetime
import json

from conftest import write_job

JOB = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, recompute: selective, tokens: 1.0e12}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.timezone.utc).date()


def _prices(tmp_path, date: str, name: str = "prices.csv"):
    p = tmp_path / name
    p.write_text(f"cloud,name,price_ondemand_usd_hr,price_date\naws,p5.48xlarge,40,{date}\n")
    return p


def test_a_price_date_that_is_no_date_or_in_the_future_is_refused(cli, tmp_path):
    """``price_date`` took any text ("yesterday", "15/11/2026") and any day (2027-06-01), printed as the price's date in
    the report; it is the day the price was quoted: an ISO date, not after today."""
    job = write_job(tmp_path, JOB)
    for bad, words in (("yesterday", "as YYYY-MM-DD (or YYYY-MM, YYYY), got 'yesterday'"), ("15/11/2026", "got '15/11/2026'"),
                       ((_today() + datetime.timedelta(days=30)).isoformat(), "is after today")):
        code, out, err = cli("estimate", job, "--catalog", _prices(tmp_path, bad))
        assert code == 2 and out == "", (bad, out)
        assert err.strip().splitlines() == [err.strip()], err
        assert err.startswith("error: catalog override prices.csv: instances[0].price_date: ") and words in err, err


def test_a_stale_price_file_is_flagged_on_stderr_and_in_the_report(cli, tmp_path):
    """An override quoted 400 days ago planned without a word; a price over ``STALE_PRICE_DAYS`` old is said on stderr
    with every command and marked in the report's price table. A fresh one is not."""
    from hardware_catalog.catalog import STALE_PRICE_DAYS

    job = write_job(tmp_path, JOB)
    old = (_today() - datetime.timedelta(days=400)).isoformat()
    code, out, err = cli("estimate", job, "--catalog", _prices(tmp_path, old))
    assert code == 0, err
    assert f"price_date {old} is 400 days old (stale: over {STALE_PRICE_DAYS})" in err, err
    report = tmp_path / "r.md"
    code, out, err = cli("report", job, "--catalog", _prices(tmp_path, old), "-o", report, "--no-simulate")
    assert code == 0, err
    row = next(x for x in report.read_text().splitlines() if x.startswith("| aws:p5.48xlarge | 40.00"))
    assert f"{old} (stale: 400 days old" in row, row
    fresh = (_today() - datetime.timedelta(days=20)).isoformat()
    code, out, err = cli("estimate", job, "--catalog", _prices(tmp_path, fresh))
    assert code == 0 and "stale" not in err, err


def test_a_stale_commitment_quote_is_flagged(cli, tmp_path):
    job = write_job(tmp_path, JOB)
    p = tmp_path / "terms.yaml"
    p.write_text("commitments:\n  - {cloud: aws, instance: p5.48xlarge, term: 1yr, payment: no upfront, "
                 "price_usd_hr: 30, price_date: 2024-01-02, source: EDP quote}\n")
    code, out, err = cli("estimate", job, "--catalog", p)
    assert code == 0, err
    assert "1yr commitment for aws:p5.48xlarge: price_date 2024-01-02 is" in err and "stale" in err, err


def test_a_repriced_row_without_a_date_does_not_keep_the_catalogs_date(cli, tmp_path):
    """``aws,p5.48xlarge,40`` (no price_date) was shown in the report's price table as of the built-in row's
    "unknown: catalog snapshot ... (retrieved 2026-11-23)": the user's price with the catalog's date."""
    from hardware_catalog import load_catalog

    p = tmp_path / "nodate.csv"
    p.write_text("cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,40\n")
    inst = load_catalog([p]).instance("aws:p5.48xlarge")
    assert inst.price_ondemand == 40 and inst.price_date == "unknown: not given in nodate.csv", inst.price_date
    # a row that changes no price keeps the catalog's date
    q = tmp_path / "net.csv"
    q.write_text("cloud,name,local_nvme_tb\naws,p5.48xlarge,30\n")
    assert load_catalog([q]).instance("aws:p5.48xlarge").price_date == load_catalog().instance("aws:p5.48xlarge").price_date
