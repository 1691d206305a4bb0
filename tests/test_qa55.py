"""QA 55: this session's changes end to end (price dates, the typed option values).

Each test fails on the code before its fix (docs/qa_log.md "QA 55")."""
from __future__ import annotations

import json

import pytest

from conftest import write_job

TPU_JOB = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "precision": "bf16", "tokens": 1.0e10},
           "parallel": {"tp": 1, "pp": 1}, "cluster": {"instance": "gcp:tpu-v6e-8", "nodes": 1}}


def _maxtext(tmp_path, recompute_full=False, **framework):
    job = {k: dict(v) for k, v in TPU_JOB.items()}
    if recompute_full:
        job["training"]["recompute"] = "full"
    job["training"]["framework"] = {"name": "maxtext", **framework}
    return str(write_job(tmp_path, job))


def test_remat_tensors_take_any_case_as_remat_policy_does(cli, tmp_path):
    """``remat_policy: Custom`` was taken and ``remat_tensors: {Decoder_Layer_Input: Offload}`` beside it refused
    ("'Offload'; known: device, offload, remat"): the tensors and locations fold as every typed option does, and the
    plan is the lower-case job's."""
    code, out, err = cli("estimate", _maxtext(tmp_path, remat_policy="Custom",
                                              remat_tensors={"Decoder_Layer_Input": " Offload ", "MLPWO": "Device"}),
                         "--json")
    assert code == 0, err
    code2, out2, _ = cli("estimate", _maxtext(tmp_path, remat_policy="custom",
                                              remat_tensors={"decoder_layer_input": "offload", "mlpwo": "device"}),
                         "--json")
    a, b = json.loads(out), json.loads(out2)
    assert a["step_time_s"] == b["step_time_s"] and a["memory_per_gpu_bytes"] == b["memory_per_gpu_bytes"]
    # the policy applies to layers under remat: with training.recompute open, estimate runs none -- MaxText's
    # remat_policy none, as the stack line says since QA 70 -- and says the job's policy is not used
    # (training.unused_remat_policy); under recompute: full the stack line names the custom tensors
    assert "remat_policy=none" in err + out and "training.framework.remat_policy custom not used" in " ".join(
        (err + out).split())
    code3, out3, err3 = cli("estimate", _maxtext(tmp_path, remat_policy="Custom", recompute_full=True,
                                                 remat_tensors={"Decoder_Layer_Input": " Offload ", "MLPWO": "Device"}))
    assert code3 == 0, err3
    assert "custom (offload decoder_layer_input; device mlpwo)" in " ".join((out3 + err3).split())
    assert "not used" not in out3 + err3
    # a name that folds to none of them is still refused with the names as spelled
    code, _, err = cli("estimate", _maxtext(tmp_path, remat_policy="custom",
                                            remat_tensors={"decoder_layer_input": "host"}))
    assert code == 2 and "'host'; known: device, offload, remat" in err
    code, _, err = cli("estimate", _maxtext(tmp_path, remat_policy="custom",
                                            remat_tensors={"Query_Projection": "device"}))
    assert code == 2 and "'Query_Projection'; known: decoder_layer_input" in err


def test_remat_tensors_one_tensor_twice_refused(cli, tmp_path):
    """Two spellings of one tensor (once case folds, the last would win unsaid) are one line naming both."""
    code, out, err = cli("estimate", _maxtext(tmp_path, remat_policy="custom", remat_tensors={
        "decoder_layer_input": "offload", "DECODER_LAYER_INPUT": "device"}))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error: training.framework.remat_tensors: decoder_layer_input is given twice")



def test_a_price_dated_a_day_ahead_is_zero_days_old_not_minus_one():
    """``price_date_note`` takes a date (or a bound) one day after today, for time zones ahead of UTC; the plan's
    ``price_dates`` then read "-1 days old" / "at most -1 days old"."""
    import datetime

    from hardware_catalog.catalog import oldest_price, price_date_note

    today = datetime.date(2026, 12, 5)
    for date in ("2026-12-06", "not before 2026-12-06"):
        assert price_date_note(date, "instances[0]", "ov.csv", "instance aws:p4de.24xlarge", today=today) is None
        p = oldest_price([("aws:p4de.24xlarge on-demand", date)], today=today)
        assert p["age_days"] == 0 and not p["stale"] and not p["may_be_stale"], p
    assert oldest_price([("x", "not before 2026-12-06")], today=today)["bounded"][0]["at_most_days"] == 0
    assert oldest_price([("x", "2026-12-04")], today=today)["age_days"] == 1  # a day past is still counted


CLOUDS_JOB = {"model": {"preset": "llama3-8b"},
              "training": {"seq_len": 8192, "global_batch": 256, "precision": "bf16", "tokens": 1.0e11},
              "constraints": {"gpus": ["H100-SXM-80GB", "TPU-v6e"], "clouds": ["aws", "gcp", "lambda"]}}


def test_compare_by_cloud_says_how_old_each_rows_rate_is(cli, tmp_path):
    """A cloud comparison priced a GCP slice (a bound at most 765 days back on 2026-12-05), AWS (319) and Lambda
    (undated until prices39, now not before 2026-05-03) side by side and said the age of none: each row's ``price_dates`` (the rate its cost is priced at, typed
    as a plan's ``cost.price_dates``) and a "prices dated" line under the table. The ages are today's: the test checks
    each against the catalog row's own date, not a day."""
    from hardware_catalog.catalog import load_catalog, oldest_price

    job = str(write_job(tmp_path, CLOUDS_JOB))
    code, out, err = cli("compare", job, "--by", "cloud", "--json")
    assert code == 0, err
    rows = json.loads(out)
    cat = load_catalog()
    assert {r["cloud"] for r in rows} >= {"aws", "gcp", "lambda"}
    for r in rows:
        inst = cat.instance(r["hardware"])
        assert r["price_dates"] == oldest_price([(f"{inst.key} on-demand", inst.price_date)]), r["hardware"]
    kinds = {r["cloud"]: r["price_dates"]["oldest_kind"] for r in rows}
    assert kinds["gcp"] == kinds["aws"] == kinds["lambda"] == "between"  # lambda undated until prices39 (catalog40)
    code, text, _ = cli("compare", job, "--by", "cloud")
    flat = " ".join(text.split())
    gcp = next(r for r in rows if r["cloud"] == "gcp")
    most, least = gcp["price_dates"]["age_days"], gcp["price_dates"]["age_floor_days"]
    assert f"prices dated: {gcp['hardware']} between 2024-10-31 and 2026-11-23 ({least:,} to {most:,} days old" in flat
    dated = flat.split("prices dated:")[1]
    assert "lambda:" in dated and "between 2026-05-03 and 2026-11-23 (" in dated and "undated" not in dated


def test_an_override_date_takes_words_in_parentheses_as_a_bound_does(cli, tmp_path):
    """``not before 2026-10-01 (rep email)`` was taken and ``2026-11-30 (rep quote)`` refused ("must be the date the
    price was quoted ..."), though the built-in rows write their dates so ("2024-06 (Intel's list price ...)"). The
    date is read by its leading day, month or year; the words stay in the row; other text is still refused."""
    import datetime

    from hardware_catalog.catalog import CatalogError, price_date_note

    today = datetime.date(2026, 12, 5)
    assert price_date_note("2026-11-30 (rep quote)", "instances[0]", "p.csv", "instance x", today=today) is None
    note = price_date_note("2025-01 (old quote)", "instances[0]", "p.csv", "instance x", today=today)
    # counted from the month's last day, 2025-01-31: 365 + 308 days
    assert note and "price_date 2025-01 is 673 days old (stale: over 180)" in note, note
    for bad in ("2026-11-30 rep quote", "(rep) 2026-11-30", "2027-01-05 (next month)"):
        with pytest.raises(CatalogError):
            price_date_note(bad, "instances[0]", "p.csv", "instance x", today=today)
    job = str(write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10},
                                   "parallel": {"tp": 8}, "cluster": {"instance": "aws:p4de.24xlarge", "nodes": 1}}))
    ov = tmp_path / "p.csv"
    ov.write_text('cloud,name,price_ondemand_usd_hr,price_date\naws,p4de.24xlarge,30,"2020-03-01 (rep quote)"\n')
    code, out, err = cli("estimate", job, "--json", "--catalog", str(ov))
    assert code == 0, err
    p = json.loads(out)["cost"]["price_dates"]
    assert p["oldest"] == "2020-03-01 (rep quote)" and p["oldest_kind"] == "exact" and p["stale"]


P4DE_JOB = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10}, "parallel": {"tp": 8},
            "cluster": {"instance": "aws:p4de.24xlarge", "nodes": 1}}


def test_a_date_shaped_yaml_value_that_names_no_day_is_one_line(cli, tmp_path):
    """PyYAML builds a date from any ``YYYY-MM-DD`` scalar and raised ValueError on ``2026-13-01``: an override's
    ``price_date: 2026-13-01`` (and a job's ``seq_len: 2026-13-01``) ended "error: internal error (ValueError): month
    must be in 1..12", exit 1. The text goes to the field's own check."""
    job = str(write_job(tmp_path, P4DE_JOB))
    ov = tmp_path / "o.yaml"
    ov.write_text("instances:\n  - {cloud: aws, name: p4de.24xlarge, price_ondemand_usd_hr: 30, "
                  "price_date: 2026-13-01}\n")
    code, out, err = cli("estimate", job, "--catalog", str(ov))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: catalog override o.yaml: instances[0].price_date: must be the date"), err
    assert "'2026-13-01'" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {preset: llama3-8b}\ntraining: {tokens: 1e10, seq_len: 2026-02-30}\n"
                   "cluster: {instance: aws:p4de.24xlarge, nodes: 1}\n")
    code, out, err = cli("estimate", str(bad))
    assert code == 2 and err.startswith("error: training.seq_len: ") and "'2026-02-30'" in err, err


def test_a_yaml_date_and_time_dates_an_override_price_by_its_day(cli, tmp_path):
    """``price_date: 2026-11-15 10:00:00`` passed the check (its day counts) but was stored as "2026-11-15T10:00:00",
    no date to ``oldest_price``: the plan listed nothing as its oldest price and the user's rate as undated."""
    job = str(write_job(tmp_path, P4DE_JOB))
    ov = tmp_path / "o.yaml"
    ov.write_text("instances:\n  - {cloud: aws, name: p4de.24xlarge, price_ondemand_usd_hr: 30, "
                  "price_date: 2020-11-15 10:00:00}\n")
    code, out, err = cli("estimate", job, "--json", "--catalog", str(ov))
    assert code == 0, err
    p = json.loads(out)["cost"]["price_dates"]
    assert p["oldest"] == "2020-11-15" and p["oldest_kind"] == "exact" and p["stale"], p
    assert not any(u["what"].startswith("aws:p4de.24xlarge") for u in p["undated"])


def onprem_report_table(cli, tmp_path, ov_text: str, name: str = "quote.yaml") -> tuple[list[str], dict]:
    """The budget-review report's markdown for a p5 job under the catalog override ``ov_text`` (written to ``name``):
    the on-prem table's columns and its rows by key (tests/test_qa55b.py uses it too)."""
    ov = tmp_path / name
    ov.write_text(ov_text)
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10},
                               "parallel": {"tp": 8}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    out_md = tmp_path / "r.md"
    code, out, err = cli("report", str(job), "-o", str(out_md), "--no-simulate", "--catalog", str(ov), "--force")
    assert code == 0, err
    lines = out_md.read_text().splitlines()
    head = next(x for x in lines if x.startswith("| on-prem parameter"))
    cols = [c.strip() for c in head.strip("|").split("|")]
    rows = {c[0]: c for c in ([x.strip() for x in r.strip("|").split("|")] for r in lines
                               if r.startswith("| ") and r.count("|") == head.count("|"))}
    return cols, rows


def test_report_dates_the_buy_inputs_beside_their_values(cli, tmp_path):
    """The report's buy-vs-rent inputs table had no date column: a server price overridden "not before 2025-02-01
    (vendor deck)" was dated in the "Prices dated" line alone (the instance table beside it has one). Each price row
    now gives its date (a bound as a bound, with its most possible age), a row that is no price "-"."""
    from hardware_catalog.catalog import bound_age_days

    cols, rows = onprem_report_table(cli, tmp_path, 'onprem:\n  - {key: server_price_hgx_h100_8gpu, value: 280000, '
                                     'price_date: "not before 2025-02-01 (vendor deck)", source: y}\n', "o.yaml")
    assert "price date" in cols
    date = rows["server_price_hgx_h100_8gpu"][cols.index("price date")]
    most = bound_age_days("not before 2025-02-01")
    assert date.startswith(f"not before 2025-02-01 (vendor deck) (at most {most:,} days old"), date
    assert rows["pue"][cols.index("price date")] == "-"
    assert rows["power_price_usd_per_kwh"][cols.index("price date")].startswith("unknown")


def test_a_dated_override_of_one_rate_keeps_the_other_rates_date(cli, tmp_path):
    """``aws,g6e.48xlarge,25,"not before 2026-11-01 (quote)"`` (on-demand only) kept the snapshot's spot rate and
    dated it with the user's bound: the batch-serving job, costed at spot, read "spot not before 2026-11-01 (at most 34
    days old)" for a rate bounded at most 319 days back. A rate the row leaves as it was (out of the row, or restated,
    as the catalog's CSV passed back) keeps its date; one the row changes takes the row's, or its own column's."""
    from hardware_catalog.catalog import load_catalog

    snap = load_catalog().instance("aws:g6e.48xlarge").price_date
    assert snap.startswith("between 2026-01-20 and 2026-11-23")

    def dates(text, name):
        f = tmp_path / name
        f.write_text(text)
        inst = load_catalog([f]).instance("aws:g6e.48xlarge")
        return inst.rate_date(False), inst.rate_date(True)

    assert dates('cloud,name,price_ondemand_usd_hr,price_date\naws,g6e.48xlarge,25,"not before 2026-11-01 (q)"\n',
                 "a.csv") == ("not before 2026-11-01 (q)", snap)
    assert dates('cloud,name,price_ondemand_usd_hr,price_spot_usd_hr,price_date\n'
                 'aws,g6e.48xlarge,25,5,"not before 2026-11-01 (q)"\n', "b.csv") == ("not before 2026-11-01 (q)",) * 2
    assert dates("cloud,name,price_spot_usd_hr,price_spot_date\naws,g6e.48xlarge,5,2026-12-01\n",
                 "c.csv") == (snap, "2026-12-01")
    # a spot rate restated at its value, the on-demand one repriced and dated: the spot rate keeps the snapshot's
    assert dates("cloud,name,price_ondemand_usd_hr,price_spot_usd_hr,price_date\n"
                 "aws,g6e.48xlarge,25,4.5998,2026-12-01\n", "d.csv") == ("2026-12-01", snap)
    # the plan's price_dates read the spot rate's own date (the serving job is costed at spot)
    job = str(write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10},
                                   "parallel": {"tp": 8}, "cluster": {"instance": "aws:g6e.48xlarge", "nodes": 1}}))
    ov = tmp_path / "a.csv"
    code, out, err = cli("estimate", job, "--json", "--catalog", str(ov))
    assert code == 0, err
    bounded = {b["what"]: b["price_date"] for b in json.loads(out)["cost"]["price_dates"]["bounded"]}
    assert bounded == {"aws:g6e.48xlarge on-demand": "not before 2026-11-01 (q)", "aws:g6e.48xlarge spot": snap}
    # a rate's own date is checked as the row's: after today, one line naming its column
    bad = tmp_path / "e.csv"
    bad.write_text("cloud,name,price_spot_usd_hr,price_spot_date\naws,g6e.48xlarge,5,2999-06-01\n")
    code, out, err = cli("estimate", job, "--catalog", str(bad))
    assert code == 2 and err.startswith("error: catalog override e.csv: instances[0].price_spot_date: 2999-06-01 is "
                                        "after today"), err
