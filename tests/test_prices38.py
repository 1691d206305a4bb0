"""prices38: the built-in prices dated or bounded, with evidence. The SkyPilot snapshots behind instances.csv name no
fetch day, so every instance row said "unknown: ..." and a plan listed its rates as undated; now a row whose snapshot
a source bounds says ``not before <date> (evidence)`` (the AWS and GCP snapshot @2c3d7ea7), the others say why no
bound was found, and the bound is a typed date (``catalog.price_date_kind``: exact, not-before, unknown) carried
through ``estimate`` (text and ``--json``), ``recommend``, ``report``, the app's assumptions and the stale check: a
bound is at most so old (fresh within ``STALE_PRICE_DAYS``, "may be stale" past them). A catalog override dated by
the user still wins."""
from __future__ import annotations

import datetime
import json

from conftest import P4DE_JOB, catalog_rows, p4de_override, utc_today, write_job

SNAPSHOT = "@2c3d7ea7d76bf84cf80d382e946c1609571485fd"

P4DE_RECOMMEND = """
model: {preset: llama3-8b}
training: {tokens: 1.0e10}
constraints: {instances: [aws:p4de.24xlarge], max_gpus: 16}
"""


# ---------------------------------------------------------------------------- 1. the data
def test_the_aws_and_gcp_snapshot_rows_are_bounded_with_their_evidence():
    """Every AWS and GCP row copied from snapshot @2c3d7ea7 says ``not before`` its file's bound (AWS 2026-01-20:
    the file lists the G7e instances, GA that day; GCP 2024-10-31: it prices TPU v6e slices, in preview from that
    day) and its notes say what the bound rests on; until prices38 all read "unknown: ... not exposed offline". Since
    catalog40 the later end, the day the snapshot was read (2026-11-23), is in the date too: ``between``."""
    from hardware_catalog.catalog import bound_day, cap_day, price_date_kind

    bounds = {"aws": datetime.date(2026, 1, 20), "gcp": datetime.date(2024, 10, 31)}
    seen = {"aws": 0, "gcp": 0}
    for r in catalog_rows("instances"):
        if r["cloud"] in bounds and SNAPSHOT in r["source"]:
            seen[r["cloud"]] += 1
            assert price_date_kind(r["price_date"]) == "between", r["name"]
            assert bound_day(r["price_date"]) == bounds[r["cloud"]], (r["name"], r["price_date"])
            assert cap_day(r["price_date"]) == datetime.date(2026, 11, 23), (r["name"], r["price_date"])
            assert "price_date bound (prices38)" in r["notes"], r["name"]
            assert "price_date upper end (catalog40): not after 2026-11-23" in r["notes"], r["name"]
    assert seen["aws"] >= 30 and seen["gcp"] >= 20, seen
    notes = next(r["notes"] for r in catalog_rows("instances") if r["name"] == "p5.48xlarge")
    # the corroborating clues are kept: P6-B300 listed (GA 2025-11-18), P5 at the post-cut price
    assert "2025-11-18" in notes and "55.04 $/h = 98.32 less 44%" in notes


def test_every_other_snapshot_row_says_why_it_has_no_bound():
    """The rows no source bounds from below (Lambda, RunPod, the Azure fork, Shadeform) say that a dated clue was
    looked for and not found (since prices39 they are bounded from above instead: ``not after`` the day their snapshot
    was read, tests/test_prices39.py); the one exact date (Azure ND H200 v5, 2026-09-27) is kept."""
    from hardware_catalog.catalog import price_date_kind

    kinds = {}
    for r in catalog_rows("instances"):
        kind = price_date_kind(r["price_date"])
        kinds.setdefault(kind, []).append(r["name"])
        if kind == "not-after":
            assert "no lower bound found" in r["price_date"] and "no lower bound (prices38)" in r["notes"], r["name"]
    assert kinds["exact"] == ["Standard_ND96isr_H200_v5"]
    # the AWS, GCP and Lambda rows are "between" since catalog40 (both ends evidenced); none is "not before" alone
    assert "not-before" not in kinds and len(kinds["not-after"]) + len(kinds["between"]) + 1 == len(catalog_rows("instances"))


def test_a_bound_is_typed_and_read_by_its_first_day():
    """``price_date_kind`` tells the three apart; a bound's day is the first its period allows (a month's first day:
    the earliest the quote can be), an exact month's the last (as before); ``price_date_short`` is a table cell."""
    from hardware_catalog.catalog import bound_day, price_date_kind, price_date_short, quoted_day

    assert price_date_kind("2024 (page text: ...)") == "exact"
    assert price_date_kind("not before 2026-01-20 (AWS catalog snapshot ...)") == "not-before"
    assert price_date_kind("not before 2026-01: bound from a launch") == "not-before"
    assert price_date_kind("unknown: catalog snapshot ...") == price_date_kind("") == "unknown"
    assert price_date_kind("not before yesterday") == "unknown"
    assert bound_day("not before 2026-01: x") == datetime.date(2026, 1, 1)
    assert quoted_day("2026-01") == datetime.date(2026, 1, 31) and quoted_day("not before 2026-01-20") is None
    assert [price_date_short(d) for d in ("not before 2026-01-20 (x: y)", "2024 (page text)", "unknown: z", None)] \
        == ["not before 2026-01-20", "2024", "unknown", "-"]


# ---------------------------------------------------------------------------- 2. the stale check
def test_a_bound_is_at_most_so_old_fresh_within_180_days_and_may_be_stale_past_them():
    """``oldest_price`` takes a bound as at most as old as its day: 40 days after it, fresh; 319 days after it, "may be
    stale" (not "stale": the quote may be younger). Until prices38 the bound was "undated" and no check ran."""
    from hardware_catalog.catalog import oldest_price

    aws = "not before 2026-01-20 (AWS catalog snapshot)"
    prices = [("aws:p5.48xlarge on-demand", aws), ("aws:p5.48xlarge spot", aws), ("buy: x", "unknown: y")]
    fresh = oldest_price(prices, today=datetime.date(2026, 3, 1))
    assert (fresh["oldest"], fresh["oldest_kind"], fresh["age_days"], fresh["age_is_bound"]) == (
        aws, "not-before", 40, True)
    assert not fresh["stale"] and not fresh["may_be_stale"] and fresh["may_be_stale_prices"] == []
    assert [b["what"] for b in fresh["bounded"]] == ["aws:p5.48xlarge on-demand", "aws:p5.48xlarge spot"]
    assert [u["what"] for u in fresh["undated"]] == ["buy: x"]
    late = oldest_price(prices, today=datetime.date(2026, 12, 5))
    assert late["age_days"] == 319 and late["may_be_stale"] and not late["stale"]
    assert [(b["what"], b["at_most_days"]) for b in late["may_be_stale_prices"]] == [
        ("aws:p5.48xlarge on-demand", 319), ("aws:p5.48xlarge spot", 319)]


def test_an_exact_stale_date_stays_stale_beside_an_older_bound():
    """The oldest is the earliest day a price can be from: a GCP bound (2024-10-31) is older than a 2025-03-06
    commitment, and the commitment, 639 days old, is still stale (known), the bound possibly."""
    from hardware_catalog.catalog import oldest_price
    from planner.present.terminal import price_dates_words, stale_price_warning

    gcp = "not before 2024-10-31 (GCP catalog snapshot)"
    p = oldest_price([("gcp:a3-megagpu-8g on-demand", gcp), ("gcp:a3-megagpu-8g 3yr commitment",
                                                              "2025-03-06 (file generation date)")],
                     today=datetime.date(2026, 12, 5))
    assert (p["oldest_of"], p["oldest_kind"], p["age_days"]) == ("gcp:a3-megagpu-8g on-demand", "not-before", 765)
    assert p["stale"] and [(s["what"], s["age_days"]) for s in p["stale_prices"]] == [
        ("gcp:a3-megagpu-8g 3yr commitment", 639)]
    words = price_dates_words(p)
    assert words.startswith(f"oldest {gcp} (gcp:a3-megagpu-8g on-demand), at most 765 days old: may be stale")
    assert "stale: 1 price over 180 days old (gcp:a3-megagpu-8g 3yr commitment dated 2025-03-06, 639 days" in words
    # the known-stale one is warned of, not the possible one
    assert stale_price_warning(p).startswith("warning: stale price: gcp:a3-megagpu-8g 3yr commitment is dated "
                                             "2025-03-06, 639 days ago")


# ---------------------------------------------------------------------------- 3. through the commands
def test_estimate_json_text_and_warning_carry_the_bound(cli, tmp_path):
    """p4de.24xlarge (no commitment row): ``estimate --json``'s ``cost.price_dates`` is the AWS bound, typed; the
    text's "prices dated" row reads it as a bound with its evidence; stderr says once that it may be stale."""
    job = write_job(tmp_path, P4DE_JOB)
    code, out, err = cli("estimate", job, "--json")
    assert code == 0, err
    p = json.loads(out)["cost"]["price_dates"]
    # (since catalog40 the bound has its later end too, the day the snapshot was read: between the two)
    most, least = (utc_today() - datetime.date(2026, 1, 20)).days, (utc_today() - datetime.date(2026, 11, 23)).days
    assert (p["oldest_kind"], p["oldest_of"], p["age_days"], p["age_is_bound"], p["age_floor_days"]) == (
        "between", "aws:p4de.24xlarge on-demand", most, True, least)
    assert p["oldest"].startswith("between 2026-01-20 and 2026-11-23 (AWS catalog snapshot @2c3d7ea7: not before, its "
                                  "g7e rows")
    assert {b["what"] for b in p["bounded"]} == {"aws:p4de.24xlarge on-demand", "aws:p4de.24xlarge spot"}
    assert not any(u["what"].startswith("aws:") for u in p["undated"])
    assert p["may_be_stale"] == (most > 180 >= least) and p["stale"] == (least > 180)
    warn = [x for x in err.splitlines() if x.startswith("warning:")]
    if least <= 180:
        assert warn == ([f"warning: price may be stale: aws:p4de.24xlarge on-demand is dated between 2026-01-20 and "
                         f"2026-11-23, so at most {most:,} days ago (2 prices used may be over 180 days old): refresh "
                         "them with a catalog override and its price_date"] if most > 180 else []), err
    code, out, err = cli("estimate", job)
    text = " ".join(out.split())
    assert code == 0 and ("prices dated oldest between 2026-01-20 and 2026-11-23 (AWS catalog snapshot @2c3d7ea7"
                          in text), out
    assert f"(aws:p4de.24xlarge on-demand), {least:,} to {most:,} days old" in text, out
    assert "bounded: aws:p4de.24xlarge spot between 2026-01-20 and 2026-11-23" in text, out


def test_report_and_recommend_say_the_bound(cli, tmp_path):
    """The report's "Prices dated" line and its price table, and ``recommend``'s new "prices dated:" line under the
    winner (until prices38 recommend said a price's date nowhere on stdout)."""
    job = write_job(tmp_path, P4DE_JOB)
    report = tmp_path / "r.md"
    code, out, err = cli("report", job, "-o", report, "--no-simulate")
    assert code == 0, err
    lines = report.read_text().splitlines()
    line = next(x for x in lines if x.startswith("- Prices dated: "))
    assert line.startswith("- Prices dated: oldest between 2026-01-20 and 2026-11-23 (AWS catalog snapshot "
                           "@2c3d7ea7"), line
    row = next(x for x in lines if x.startswith("| aws:p4de.24xlarge | 27.45 |"))  # "catalog prices used"
    most, least = (utc_today() - datetime.date(2026, 1, 20)).days, (utc_today() - datetime.date(2026, 11, 23)).days
    assert "| between 2026-01-20 and 2026-11-23 (AWS catalog snapshot @2c3d7ea7" in row, row
    assert f"({least:,} to {most:,} days old" in row, row
    code, out, err = cli("recommend", write_job(tmp_path, P4DE_RECOMMEND, "rec.yaml"))
    assert code == 0, err
    assert "prices dated: oldest between 2026-01-20 and 2026-11-23 (AWS catalog snapshot" in " ".join(out.split()), out


def test_a_users_dated_override_still_wins(cli, tmp_path):
    """The refresh path: an override row repricing p4de.24xlarge with today's date replaces the bound (exact, 0 days,
    fresh, nothing bounded, no warning); one with a bound of its own is read as a bound; one after today is
    refused in one line."""
    job = write_job(tmp_path, P4DE_JOB)
    today = utc_today().isoformat()
    prices = p4de_override(tmp_path, today)
    code, out, err = cli("estimate", job, "--json", "--catalog", prices)
    assert code == 0 and "warning:" not in err, err
    p = json.loads(out)["cost"]["price_dates"]
    assert (p["oldest"], p["oldest_kind"], p["age_days"], p["bounded"]) == (today, "exact", 0, [])
    recent = (utc_today() - datetime.timedelta(days=30)).isoformat()
    p4de_override(tmp_path, f"not before {recent} (my quote's month)")
    code, out, err = cli("estimate", job, "--json", "--catalog", prices)
    assert code == 0 and "warning:" not in err, err
    p = json.loads(out)["cost"]["price_dates"]
    assert (p["oldest_kind"], p["age_days"], p["may_be_stale"]) == ("not-before", 30, False)
    later = (utc_today() + datetime.timedelta(days=40)).isoformat()
    p4de_override(tmp_path, f"not before {later}", spot=None)
    code, out, err = cli("estimate", job, "--catalog", prices)
    assert code == 2 and out == "" and err.startswith(
        f"error: catalog override p.csv: instances[0].price_date: not before {later} is after today"), err
    assert len(err.strip().splitlines()) == 1


def test_the_catalog_table_and_the_apps_assumptions_say_the_bound():
    """``planner catalog``'s instance table shows the bound's day (it cut the cell at the first colon, and read
    "unknown"); the app's assumptions line (``interactive.prices_dated_line``) is estimate's words."""
    from planner.interactive import prices_dated_line

    from rich.console import Console

    from hardware_catalog import load_catalog
    from hardware_catalog.tables import format_instances_table

    con = Console(width=400, record=True)
    con.print(format_instances_table(load_catalog(), "aws", width=400))
    text = con.export_text()
    assert text.count("between 2026-01-20 and 2026-11-23") == 32 and "unknown" not in text, text
    assert prices_dated_line(None) is None and prices_dated_line({"price_dates": None}) is None
    p = dict(oldest="not before 2026-01-20 (x)", oldest_of="aws:p5.4xlarge on-demand", oldest_kind="not-before",
             age_days=40, age_is_bound=True, stale=False, stale_prices=[], may_be_stale=False, stale_after_days=180,
             bounded=[dict(what="aws:p5.4xlarge on-demand", price_date="not before 2026-01-20 (x)", at_most_days=40)],
             undated=[])
    assert prices_dated_line({"price_dates": p}) == ("prices dated: oldest not before 2026-01-20 (x) "
                                                     "(aws:p5.4xlarge on-demand), at most 40 days old (fresh: within "
                                                     "180 days)")
