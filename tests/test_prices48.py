"""prices48: the catalog's prices checked row by row. Hard invariants every shipped rate holds (spot at most on-demand
and at least 10% of it, a commitment at most on-demand, 3yr at most 1yr), read from the CSVs themselves; bands a
row may sit outside only with a ``price_check`` saying why (``hardware_catalog.price_checks``); the flags in the
catalog table and its CSV. Before prices48 the B300 spot row (0.112 of on-demand, one zone's reading) sat in the
catalog unmarked and the catalog had no ``price_check`` column."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import write_job

import hardware_catalog
from hardware_catalog import load_catalog
from hardware_catalog.price_checks import PER_GPU_BAND, SPOT_FLOOR_RATIO, price_flags

DATA = Path(hardware_catalog.__file__).parent / "data"
BANDS = ("spot-ratio", "per-gpu")


def _csv(name: str) -> list[dict]:
    with (DATA / name).open(newline="") as f:
        return list(csv.DictReader(f))


def test_every_shipped_rate_holds_the_hard_invariants():
    """Read from the files, not the loader: a row the loader would refuse fails here by name too."""
    od = {}
    for r in _csv("instances.csv"):
        key, ondemand = f"{r['cloud']}:{r['name']}", float(r["price_ondemand_usd_hr"])
        od[key] = ondemand
        assert ondemand > 0, key
        if r["price_spot_usd_hr"]:
            spot = float(r["price_spot_usd_hr"])
            assert SPOT_FLOOR_RATIO * ondemand <= spot < ondemand, (key, spot, ondemand)
    terms = defaultdict(dict)
    for c in _csv("commitments.csv"):
        key = f"{c['cloud']}:{c['instance']}"
        assert 0 < float(c["price_usd_hr"]) < od[key], (key, c["term"])
        terms[(key, c["payment"], c["region"])][c["term"]] = float(c["price_usd_hr"])
    pairs = [t for t in terms.values() if {"1yr", "3yr"} <= set(t)]
    assert len(pairs) == 6 and all(t["3yr"] < t["1yr"] for t in pairs)


def test_every_row_outside_a_band_says_why_and_only_those(catalog):
    """A flagged row carries a ``price_check`` naming the check it is outside; a row inside every band carries none
    (a stale reason would mark a row the table does not). Fails before prices48: no row said why."""
    flagged = defaultdict(set)
    for f in price_flags(catalog):
        assert f.check in BANDS, f  # no hard invariant broken (the test above reads the files)
        flagged[f.key].add(f.check)
    assert set(flagged) == {"aws:p6-b300.48xlarge", "aws:p3.2xlarge", "aws:p3.8xlarge", "aws:p3.16xlarge",
                            "aws:p3dn.24xlarge", "aws:g6e.48xlarge", "lambda:gpu_8x_v100", "aws:g4dn.8xlarge",
                            "azure:Standard_NC4as_T4_v3"}
    assert flagged["aws:p3.2xlarge"] == set(BANDS)
    for i in catalog.instances.values():
        checks = flagged.get(i.key, set())
        said = {c for c in BANDS if f"{c} (prices48)" in i.price_check}
        assert said == checks, i.key


def test_the_b300_spot_rate_is_kept_as_read_and_says_it_is_one_zone(catalog):
    """QA 87's row: the rate is the snapshot's (no other B300 spot price was found), flagged with its evidence."""
    i = catalog.instance("aws:p6-b300.48xlarge")
    assert (i.price_ondemand, i.price_spot) == (142.416, 15.9815)
    assert i.price_spot / i.price_ondemand == pytest.approx(0.1122, abs=1e-4)
    for words in ("one zone", "usw2-az2", "11.3933-35.7551 over 8 zones", "median 0.219", "No other B300 spot"):
        assert words in i.price_check, words


def test_the_bands_catch_a_per_node_price_read_per_gpu_and_a_spot_past_any_discount(tmp_path):
    """What the checks are for: an 8-GPU node priced per GPU (3.99 for Lambda's 31.92), a spot at 7% of on-demand
    (4.0 for p5.48xlarge's 55.04), a 3yr term above the 1yr (0.6 against g2-standard-8's 0.5378)."""
    f = tmp_path / "mine.yaml"
    f.write_text("instances:\n"
                 "  - {cloud: aws, name: p5.48xlarge, price_spot_usd_hr: 4.0}\n"
                 "  - {cloud: lambda, name: gpu_8x_h100_sxm5, price_ondemand_usd_hr: 3.99}\n"
                 "commitments:\n"
                 "  - {cloud: gcp, instance: g2-standard-8, term: 3yr, payment: no upfront, price_usd_hr: 0.6,"
                 " region: us-central1, source: typo}\n")
    got = {(x.key, x.check) for x in price_flags(load_catalog([f]))}
    assert {("aws:p5.48xlarge", "spot-floor"), ("lambda:gpu_8x_h100_sxm5", "per-gpu"),
            ("gcp:g2-standard-8:3yr", "commitment")} <= got
    # 0.499 $/GPU-h against the H100 on AWS, GCP and Azure (median of 6.88, 11.25, 12.29): 0.044x
    assert 11.253 / (3.99 / 8) > PER_GPU_BAND


def test_the_table_marks_the_flagged_rates_and_the_csv_says_why(cli):
    code, out, err = cli("catalog", "instances", "--cloud", "aws")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "15.98 !" in flat and "3.19 !" in flat and "! = outside the price checks" in flat
    assert "16.95 !" not in flat  # p5.48xlarge's spot, 0.308 of on-demand: inside
    code, out, err = cli("catalog", "instances", "--cloud", "gcp")
    assert code == 0 and "!" not in out  # nothing flagged, no caption
    code, out, err = cli("catalog", "instances", "--csv")
    rows = {r["key"]: r for r in csv.DictReader(out.splitlines())}
    assert rows["aws:p6-b300.48xlarge"]["price_check"].startswith("spot-ratio (prices48)")
    assert rows["aws:p5.48xlarge"]["price_check"] == ""


@pytest.mark.parametrize("instance, said", [("aws:p6-b300.48xlarge", True), ("aws:p5.48xlarge", False)])
def test_a_plan_priced_from_a_flagged_rate_says_so_on_stderr(cli, tmp_path, instance, said):
    """A budget read off ``estimate`` on p6-b300 quoted its spot cost at one zone's reading with no word; now one
    stderr line names the check and the numbers (stdout unchanged). p5.48xlarge's rates are inside every check."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "training": {"tokens": 1e10, "seq_len": 4096, "global_batch": 256},
                               "cluster": {"instance": instance, "nodes": 1}})
    code, out, err = cli("estimate", str(job))
    assert code == 0, err
    line = [x for x in err.splitlines() if x.startswith("price check:")]
    if said:
        assert line == [f"price check: {instance}'s spot rate (15.9815 $/h) is outside the catalog's price checks "
                        "(spot under 0.5 x its cloud's median spot / on-demand ratio: spot 15.9815 is 0.112 of "
                        "on-demand 142.416, under 0.5 x aws's median 0.324); why the catalog keeps it: its "
                        "price_check (planner catalog instances --csv)"]
    else:
        assert not line and "price check" not in out


def test_the_report_lists_a_flagged_rate_under_risks_with_the_catalogs_reason(cli, tmp_path):
    """The report is what a budget is signed on: its Risks carry the check, the numbers and the row's price_check."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "training": {"tokens": 1e10, "seq_len": 4096, "global_batch": 256},
                               "cluster": {"instance": "aws:p6-b300.48xlarge", "nodes": 1}})
    code, out, err = cli("report", str(job), "-o", str(tmp_path / "r.md"), "--no-simulate")
    assert code == 0, err
    text = (tmp_path / "r.md").read_text()
    risks = text[text.index("## Risks"):]
    risks = risks[:risks.index("\n## ", 3)]
    line = next(x for x in risks.splitlines() if x.startswith("- Price check: aws:p6-b300.48xlarge's spot rate"))
    assert "0.112 of on-demand 142.416" in line and "Why the catalog keeps it: spot-ratio (prices48)" in line
    assert "usw2-az2" in line and "on-demand rate" not in line  # the on-demand rate is inside every check


def test_every_cloud_names_its_regions_one_way():
    """Lambda's GH200 row read 'us-east-1 (any)' where every other Lambda row reads 'us-east-1' (one price for every
    region SkyPilot's fetcher lists), so constraints.regions [us-east-1] (matched exactly) left it out alone."""
    regions = defaultdict(set)
    for r in _csv("instances.csv"):
        regions[r["cloud"]].add(r["region"])
    assert regions["lambda"] == {"us-east-1"}
    assert all("(any)" not in x for rs in regions.values() for x in rs)
