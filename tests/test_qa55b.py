"""QA 55b: the price-date loose ends QA 55 left (docs/qa_log.md "QA 55b").

Each test fails on the code before its fix."""
from __future__ import annotations

import csv
import io
import re

from conftest import answered, write_job
from test_qa55 import onprem_report_table

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


def test_an_overridden_onprem_price_is_labelled_the_users_quote(cli, tmp_path):
    """An override that reprices the HGX H100 server (built-in basis "assumption": no sourced street price) left the
    report's basis cell "assumption" beside the user's quote. A value an override changes without a basis of its own
    is the user's (basis ``user``): the report names it the user's quote, its file and date; a basis the row gives
    stays; the rows it leaves keep theirs."""
    cols, rows = onprem_report_table(cli, tmp_path, "onprem:\n  - {key: server_price_hgx_h100_8gpu, value: 280000, "
                                             "price_date: 2026-11-30 (rep quote), source: vendor}\n"
                                             "  - {key: pue, value: 1.4, source: our DC}\n")
    basis = cols.index("basis")
    assert rows["server_price_hgx_h100_8gpu"][basis] == "user quote (quote.yaml, 2026-11-30)"
    assert rows["pue"][basis] == "user value (quote.yaml)"
    assert rows["power_price_usd_per_kwh"][basis] != "user"  # not overridden: the built-in row's
    # the user's own basis is kept; a restated value (the catalog's CSV passed back) is not the user's quote
    cols, rows = onprem_report_table(cli, tmp_path, "onprem:\n  - {key: server_price_hgx_h100_8gpu, value: 280000, "
                                             "basis: sourced, source: vendor}\n  - {key: pue, value: 1.3, "
                                             "source: x}\n", "b.yaml")
    assert rows["server_price_hgx_h100_8gpu"][cols.index("basis")] == "sourced"
    from hardware_catalog.catalog import load_catalog

    assert rows["pue"][cols.index("basis")] == load_catalog().onprem["pue"]["basis"]


def test_report_price_table_dates_each_rate_its_cells_show(cli, tmp_path):
    """The report's instance price table gave one date a row (its ``price_date``): an override that repriced and dated
    the g6e's on-demand rate showed the user's "2026-11-30 (rep quote)" beside the spot cell too, whose rate is the
    snapshot's, bounded 2026-01-20. The date cell names each rate's date where they differ (``Instance.rate_date``),
    one date where they share it."""
    ov = tmp_path / "ov.csv"
    ov.write_text(G6E_OD)
    job = write_job(tmp_path, G6E_JOB)
    out_md = tmp_path / "r.md"
    code, out, err = cli("report", str(job), "-o", str(out_md), "--no-simulate", "--catalog", str(ov))
    assert code == 0, err
    lines = out_md.read_text().splitlines()
    head = next(x for x in lines if x.startswith("| hardware | on-demand $/node-h"))
    cols = [c.strip() for c in head.strip("|").split("|")]
    row = next(x for x in lines if x.startswith("| aws:g6e.48xlarge | 25.00 |"))
    cell = [c.strip() for c in row.strip("|").split("|")][cols.index("price date")]
    assert cell.startswith("on-demand 2026-11-30 (rep quote)"), cell
    assert "; spot between 2026-01-20 and 2026-11-23 (AWS catalog snapshot" in cell, cell
    # no override: both rates share the snapshot's bound, said once
    code, out, err = cli("report", str(job), "-o", str(out_md), "--no-simulate", "--force")
    assert code == 0, err
    row = next(x for x in out_md.read_text().splitlines() if x.startswith("| aws:g6e.48xlarge | 30.13 |"))
    cell = [c.strip() for c in row.strip("|").split("|")][cols.index("price date")]
    assert cell.startswith("between 2026-01-20 and 2026-11-23 (AWS catalog snapshot") and "spot" not in cell.split("(")[0], cell


def test_the_oldest_price_named_is_the_rate_the_cost_uses(cli):
    """``serve``'s batch job is costed at spot, yet where the g6e's on-demand and spot rates share the snapshot's
    bound its "prices dated" named "aws:g6e.48xlarge on-demand" as the oldest (``oldest_price`` names the first listed
    of a day, and on-demand was always listed first). The rate the cost uses is listed first (``cost.price_dates``'s
    ``spot``), so it is the one named."""
    import datetime
    import json
    from pathlib import Path

    from hardware_catalog.catalog import load_catalog, oldest_price
    from planner.model.cost import price_dates

    cat = load_catalog()
    g6e = cat.instance("aws:g6e.48xlarge")
    assert g6e.rate_date(False) == g6e.rate_date(True)  # both the snapshot's bound
    day = datetime.date(2026, 12, 5)
    for spot, want in ((True, "aws:g6e.48xlarge spot"), (False, "aws:g6e.48xlarge on-demand")):
        dates = price_dates(cat, g6e.key, g6e.price_ondemand, g6e.price_spot, (), None, spot=spot)
        assert oldest_price(dates, today=day)["oldest_of"] == want
    example = Path(__file__).resolve().parents[1] / "examples" / "serving-batch-llama3-8b.yaml"
    code, out, err = cli("serve", str(example), "--json")
    assert code == 0, err
    b = json.loads(out)["offline_budget"]
    assert b["price"] == "spot" and b["price_dates"]["oldest_of"].endswith(" spot"), b["price_dates"]


def test_serve_options_carry_the_date_of_the_rate_each_is_costed_at(cli, tmp_path):
    """``serve``'s options said no price's date (only the recommended option's budget did): each option's
    ``price_dates`` is the date of the rate its cost is at (``model.cost.rate_price_dates``), and the text prints a
    "prices dated" line under the table, as compare's does. The batch example is costed at spot: the g6e's options
    are dated by the snapshot's spot bound, not by an override's on-demand quote."""
    import json
    from pathlib import Path

    from hardware_catalog.catalog import load_catalog

    ov = tmp_path / "ov.csv"
    ov.write_text(G6E_OD)
    snap_spot = load_catalog().instance("aws:g6e.48xlarge").rate_date(True)
    example = Path(__file__).resolve().parents[1] / "examples" / "serving-batch-llama3-8b.yaml"
    plan = answered(cli("serve", str(example), "--json", "--catalog", str(ov)))
    g6e = [o for o in plan["options"] if o["hardware"] == "aws:g6e.48xlarge"]
    assert g6e and all(o["offline_price"] == "spot" for o in g6e)
    assert {(o["price_dates"]["oldest"], o["price_dates"]["oldest_of"]) for o in g6e} == {
        (snap_spot, "aws:g6e.48xlarge spot")}
    assert all(o["price_dates"]["oldest"] for o in plan["options"])  # every catalog instance's rate is dated
    code, out, err = cli("serve", str(example), "--catalog", str(ov))
    assert code == 0, err
    text = " ".join(out.split())  # the terminal wraps the line
    assert re.search(r"prices dated: aws:g6e\.48xlarge, [^;(]*? between 2026-01-20 and 2026-11-23 \([\d,]+ to [\d,]+ days "
                     r"old", text), text


def test_a_tabular_jobs_recommend_csv_dates_each_rows_rate(cli, tmp_path):
    """A GBDT job's ``recommend --csv`` had no date either: each ranked instance's ``price_date`` is its on-demand
    rate's (the job is not on spot), before ``price_basis``."""
    from conftest import EXAMPLES
    from hardware_catalog.catalog import load_catalog

    out = tmp_path / "ranked.csv"
    code, _, err = cli("recommend", EXAMPLES / "gbdt-tabular.yaml", "--csv", out)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and list(rows[0])[-2:] == ["price_date", "price_basis"]
    cat = load_catalog()
    assert all(r["price_date"] == cat.instance(r["instance"]).rate_date(False) and r["price_basis"] == "on-demand"
               for r in rows)
    assert any(r["price_date"].startswith("between 2026-01-20 and 2026-11-23") for r in rows)
