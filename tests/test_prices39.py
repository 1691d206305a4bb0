"""prices39: the last undated instance prices bounded from above, the serving plan's rejected options dated, and the
report's date cells aged to a day it is given.

1. The Lambda, RunPod, Azure-fork and Shadeform rows said "unknown: ... no dated clue found": no source bounds their
   snapshots from below, but each snapshot is a fixed commit read on a known day (2026-11-23; Shadeform's 2026-12-01),
   so its prices were fetched that day or before: ``not after <day> (evidence)``, a typed date
   (``catalog.price_date_kind`` ``not-after``), at least so old (never fresh; stale once over ``STALE_PRICE_DAYS``).
2. ``planner serve``'s rejected options carried no ``price_dates`` (the accepted ones did since QA 55b).
3. The report's date cells read the wall clock; ``build_report`` / ``report_for_job`` take ``today``.
"""
from __future__ import annotations

import datetime
import json

from conftest import EXAMPLES, P4DE_JOB, answered, catalog_rows, p4de_override, utc_today, write_job

#: the day each snapshot was read (its evidence is in the rows' notes and hardware_catalog/README.md "Price dates")
READ = {"runpod": ("@01acdfd4", datetime.date(2026, 11, 23)), "azure": ("@20291d7e", datetime.date(2026, 11, 23)),
        "shadeform": ("@002363da", datetime.date(2026, 12, 1))}
CAP = "not after 2026-11-23 (Lambda snapshot @0f407038, read that day; no lower bound found)"


# ---------------------------------------------------------------------------- 1. the data and the type
def test_no_built_in_instance_price_is_undated_any_more():
    """Every RunPod and Azure-fork row (snapshots read 2026-11-23) and the Shadeform row (read 2026-12-01) is ``not
    after`` its read day, with the evidence in its notes; the Lambda rows are ``not before 2026-05-03`` (the snapshot
    lists cpu_4x_generalx, which Lambda's API added in May 2026: skypilot-catalog PR #179); no instance row is
    "unknown" (29 were)."""
    from hardware_catalog.catalog import bound_day, cap_day, price_date_kind

    seen = {k: 0 for k in READ}
    for r in catalog_rows("instances"):
        assert price_date_kind(r["price_date"]) != "unknown", (r["cloud"], r["name"], r["price_date"])
        if r["cloud"] in READ and price_date_kind(r["price_date"]) == "not-after":
            commit, day = READ[r["cloud"]]
            seen[r["cloud"]] += 1
            assert commit in r["price_date"] and commit[1:] in r["source"], r["name"]
            assert cap_day(r["price_date"]) == day, (r["name"], r["price_date"])
            assert f"price_date (prices39): not after {day.isoformat()}" in r["notes"], r["name"]
    assert seen == {"runpod": 5, "azure": 14, "shadeform": 1}, seen  # qa89: runpod 1x_A100-80GB-SXM_SECURE
    lam = [r for r in catalog_rows("instances") if r["cloud"] == "lambda"]
    assert len(lam) == 10 and all(price_date_kind(r["price_date"]) == "between"  # both ends since catalog40
                                  and bound_day(r["price_date"]) == datetime.date(2026, 5, 3)
                                  and cap_day(r["price_date"]) == datetime.date(2026, 11, 23)
                                  and "cpu_4x_generalx" in r["notes"] and "PR #179" in r["notes"] for r in lam)


def test_a_cap_is_typed_at_least_so_old_and_stale_once_over_180_days():
    """``not after`` is its own kind, read by its period's last day; a plan whose only dated price is capped names it
    the oldest, at least N days old (never "fresh": its earliest day is unknown), and a cap over 180 days back is known
    to be stale (listed with ``at_least``), warned on stderr as "at least"."""
    from hardware_catalog.catalog import cap_age_days, oldest_price, price_date_kind, price_date_short
    from planner.present.terminal import price_dates_words, stale_price_warning, view_price_dates_words

    assert price_date_kind(CAP) == "not-after" and price_date_short(CAP) == "not after 2026-11-23"
    assert cap_age_days("not after 2026-11 (x)", datetime.date(2026, 12, 5)) == 5  # the month's last day
    near = oldest_price([("lambda:gpu_8x_h100_sxm5 on-demand", CAP)], datetime.date(2026, 12, 5))
    assert (near["oldest_kind"], near["age_days"], near["age_is_floor"], near["stale"], near["undated"]) == (
        "not-after", 12, True, False, [])
    assert near["capped"] == [dict(what="lambda:gpu_8x_h100_sxm5 on-demand", price_date=CAP, at_least_days=12)]
    assert price_dates_words(near).endswith("at least 12 days old (its earliest day is unknown)")
    assert stale_price_warning(near) is None
    far = oldest_price([("lambda:gpu_8x_h100_sxm5 on-demand", CAP)], datetime.date(2027, 6, 1))
    assert far["stale"] and far["stale_prices"][0]["at_least"] and far["stale_prices"][0]["age_days"] == 190
    assert stale_price_warning(far).startswith("warning: stale price: lambda:gpu_8x_h100_sxm5 on-demand is dated not "
                                               "after 2026-11-23, so at least 190 days ago")
    assert view_price_dates_words([dict(hardware="lambda:gpu_8x_h100_sxm5", price_dates=far)]) == (
        "lambda:gpu_8x_h100_sxm5 not after 2026-11-23 (at least 190 days old: stale)")
    # beside a bound, the bound stays the oldest (it names an earliest day) and the cap is listed, stale
    both = oldest_price([("aws:p5 on-demand", "not before 2026-01-20 (x)"), ("lambda:h100 on-demand", CAP)],
                        datetime.date(2027, 6, 1))
    assert both["oldest_kind"] == "not-before" and both["stale"] and both["may_be_stale"]
    assert "capped: lambda:h100 on-demand not after 2026-11-23 (at least 190 days old: stale)" in price_dates_words(both)


def test_an_override_may_say_not_after_and_is_checked_as_a_bound(cli, tmp_path):
    """An override row's ``price_date`` may be ``not after <day> (...)``: one over 180 days back is said to be stale
    on stderr ("at least N days old"); one after today is refused in one line. Until prices39 the text was refused as
    no date ("must be the date the price was quoted")."""
    from hardware_catalog.catalog import price_date_note

    today = datetime.date(2026, 12, 5)
    assert price_date_note("not after 2026-11-23 (rep email)", "instances[0]", "p.csv", "x", today) is None
    assert "price_date not after 2026-01-01 is at least 338 days old (stale: over 180)" in price_date_note(
        "not after 2026-01-01 (rep email)", "instances[0]", "p.csv", "x", today)
    job = write_job(tmp_path, P4DE_JOB)
    prices = p4de_override(tmp_path, "not after 2024-01-01 (old quote)")
    p = answered(cli("estimate", job, "--json", "--catalog", prices))["cost"]["price_dates"]
    assert p["stale"] and {c["what"] for c in p["capped"]} == {"aws:p4de.24xlarge on-demand", "aws:p4de.24xlarge spot"}
    later = (utc_today() + datetime.timedelta(days=40)).isoformat()
    p4de_override(tmp_path, f"not after {later}", spot=None)
    code, out, err = cli("estimate", job, "--catalog", prices)
    assert code == 2 and out == "" and err.startswith(
        f"error: catalog override p.csv: instances[0].price_date: not after {later} is after today"), err
    assert len(err.strip().splitlines()) == 1


def test_the_catalog_table_shows_the_cap():
    """``planner catalog``'s instance table reads the cap's day (it read "unknown" for these rows)."""
    from rich.console import Console

    from hardware_catalog import load_catalog
    from hardware_catalog.tables import format_instances_table

    con = Console(width=400, record=True)
    con.print(format_instances_table(load_catalog(), "azure", width=400))
    text = con.export_text()
    assert text.count("not after 2026-11-23") == 14 and "unknown" not in text, text


# ---------------------------------------------------------------------------- 2. serve's rejected options
def test_serve_dates_the_rejected_options_as_it_dates_the_accepted(cli):
    """``serve --json``'s ``rejected`` entries carry ``price_dates`` (the rate each is priced at, as an option's);
    the text prints a "prices dated (options that do not work)" line under the "does not work" lines. Until prices39
    they were null / unsaid."""
    from hardware_catalog.catalog import load_catalog
    from planner.model.cost import rate_price_dates

    example = str(EXAMPLES / "serving-llama3-70b.yaml")
    plan = answered(cli("serve", example, "--json"))
    cat = load_catalog()
    priced = [r for r in plan["rejected"] if r["hardware"] in cat.instances]
    assert priced, plan["rejected"][:2]
    for r in priced:
        assert r["price_dates"] == json.loads(json.dumps(rate_price_dates(cat, r["hardware"], "on-demand"))), r
    code, out, err = cli("serve", example)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "does not work: " in flat
    assert ("prices dated (options that do not work): aws:" in flat
            and "between 2026-01-20 and 2026-11-23 (" in flat)  # both ends since catalog40


# ---------------------------------------------------------------------------- 3. the report's day
def test_the_reports_date_cells_count_to_the_day_it_is_given(cli, tmp_path):
    """``build_report(..., today=)`` (``report_for_job`` passes it on; the CLI gives the real day): the price table's
    cell for the AWS bound reads "at most 40 days old" on 2026-03-01 and "319 ... may be stale" on 2026-12-05, the
    same plan both times. Until prices39 the cells read the wall clock."""
    from hardware_catalog.catalog import load_catalog
    from planner.present.report import report_for_job, render_markdown
    from planner.spec.load import load_job

    cat = load_catalog()
    job = load_job(write_job(tmp_path, P4DE_JOB))
    rep, rec = report_for_job(job, cat, simulate=False, today=datetime.date(2026, 3, 1))

    def price_row(rep):
        text, _ = render_markdown(rep, str(tmp_path / "assets"))
        return next(x for x in text.splitlines() if x.startswith("| aws:p4de.24xlarge | 27.45 |"))

    # (between 2026-01-20 and 2026-11-23 since catalog40: a day before its later end reads 0 days at least)
    assert "(0 to 40 days old)" in price_row(rep)
    rep2, _ = report_for_job(job, cat, simulate=False, rec=rec, today=datetime.date(2026, 12, 5))
    assert "(12 to 319 days old: may be stale, over 180)" in price_row(rep2)
