"""QA 55b: the price-date loose ends QA 55 left (docs/qa_log.md "QA 55b").

Each test fails on the code before its fix."""
from __future__ import annotations

import csv
import io

from conftest import answered, write_job

G6E_JOB = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10}, "parallel": {"tp": 8},
           "cluster": {"instance": "aws:g6e.48xlarge", "nodes": 1}}
#: the g6e's on-demand rate repriced and dated by the user; its spot rate stays the snapshot's (QA 55)
G6E_OD = 'cloud,name,price_ondemand_usd_hr,price_date\naws,g6e.48xlarge,25,"2026-11-30 (rep quote)"\n'


def test_recommend_csv_dates_the_rate_each_rows_cost_is_at(cli, tmp_path):
    """``recommend --csv`` said which rate a row's cost is at (``price_basis``) but not how old it is: a budget
    sheet built from it could not tell the user's 2026-11-30 quote from the snapshot's bound 319 days back. Each row's
    ``price_date`` (before ``price_basis``, still last) is the date of the rate its cost is at: the on-demand quote's on
    an on-demand job, the snapshot's spot bound on a spot job."""
    from hardware_catalog.catalog import load_catalog

    ov = tmp_path / "ov.csv"
    ov.write_text(G6E_OD)
    snap_spot = load_catalog().instance("aws:g6e.48xlarge").rate_date(True)
    for spot, want in ((False, "2026-11-30 (rep quote)"), (True, snap_spot)):
        job = write_job(tmp_path, {**G6E_JOB, "constraints": {"spot": spot}})
        out = tmp_path / f"plans-{spot}.csv"
        plan = answered(cli("recommend", str(job), "--no-simulate", "--json", "--catalog", str(ov), "--csv", str(out),
                            "--top", "1", "--force"))
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert rows and list(rows[0])[-2:] == ["price_date", "price_basis"]
        assert {(r["hardware"], r["price_date"], r["price_basis"]) for r in rows} == {
            ("aws:g6e.48xlarge", want, plan["price_basis"])}

