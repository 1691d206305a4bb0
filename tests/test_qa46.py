"""QA pass 46: a platform lead's own prices (a negotiated on-demand / spot / 1-3 year price file), a private instance
row and calibration profiles (one from ``planner calibrate``, one written by hand for H100), and the same files made
hostile; each defect found with the check that failed before its fix (docs/qa_log.md, "QA 46")."""
from __future__ import annotations

import datetime
import json

from conftest import utc_today, write_job

JOB = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, recompute: selective, tokens: 1.0e12}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""


def _prices(tmp_path, date: str, name: str = "prices.csv"):
    p = tmp_path / name
    p.write_text(f"cloud,name,price_ondemand_usd_hr,price_date\naws,p5.48xlarge,40,{date}\n")
    return p


def test_a_price_date_that_is_no_date_or_in_the_future_is_refused(cli, tmp_path):
    """``price_date`` took any text ("yesterday", "15/11/2026") and any day (2027-06-01), printed as the price's date in
    the report; it is the day the price was quoted: an ISO date, not after today."""
    job = write_job(tmp_path, JOB)
    for bad, words in (("yesterday", "as YYYY-MM-DD (or YYYY-MM, YYYY), got 'yesterday'"), ("15/11/2026", "got '15/11/2026'"),
                       ((utc_today() + datetime.timedelta(days=30)).isoformat(), "is after today")):
        code, out, err = cli("estimate", job, "--catalog", _prices(tmp_path, bad))
        assert code == 2 and out == "", (bad, out)
        assert err.strip().splitlines() == [err.strip()], err
        assert err.startswith("error: catalog override prices.csv: instances[0].price_date: ") and words in err, err


def test_a_stale_price_file_is_flagged_on_stderr_and_in_the_report(cli, tmp_path):
    """An override quoted 400 days ago planned without a word; a price over ``STALE_PRICE_DAYS`` old is said on stderr
    with every command and marked in the report's price table. A fresh one is not."""
    from hardware_catalog.catalog import STALE_PRICE_DAYS

    job = write_job(tmp_path, JOB)
    old = (utc_today() - datetime.timedelta(days=400)).isoformat()
    code, out, err = cli("estimate", job, "--catalog", _prices(tmp_path, old))
    assert code == 0, err
    assert f"price_date {old} is 400 days old (stale: over {STALE_PRICE_DAYS})" in err, err
    report = tmp_path / "r.md"
    code, out, err = cli("report", job, "--catalog", _prices(tmp_path, old), "-o", report, "--no-simulate")
    assert code == 0, err
    row = next(x for x in report.read_text().splitlines() if x.startswith("| aws:p5.48xlarge | 40.00"))
    assert f"{old} (stale: 400 days old" in row, row
    fresh = (utc_today() - datetime.timedelta(days=20)).isoformat()
    code, out, err = cli("estimate", job, "--catalog", _prices(tmp_path, fresh))
    # the override is not called stale; since buy36 the plan's own warning names the built-in capacity-block row
    # (dated 2024), which reads no day until then
    assert code == 0 and "(stale: over" not in err and f"price_date {fresh}" not in err, err


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


H100_PROFILE = {
    "schema_version": 1,
    "fingerprint": {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "catalog_gpu": "H100-SXM-80GB",
                    "torch_version": "2.5.1+cu124", "created": "2026-10-20T09:00:00+00:00"},
    "fitted": {"primary_dtype": "bf16", "gemm_max": 0.62, "hbm": 0.80, "launch_s": 5e-6, "intra_alpha_s": 1.5e-5,
               "intra_busbw": 3.6e11, "inter_alpha_s": 3e-5, "inter_busbw": 4.0e10},
}


def _profile(tmp_path, name="acme-h100.json", **fitted):
    p = tmp_path / name
    p.write_text(json.dumps({**H100_PROFILE, "fitted": {**H100_PROFILE["fitted"], **fitted}}))
    return p


def test_the_answers_name_the_profile_file_and_its_date(cli, tmp_path):
    """``--profile acme-h100.json`` moved the step, and the inputs line listed the measured fields but named neither the
    file nor the day it was measured (text, --json, report)."""
    job = write_job(tmp_path, JOB)
    prof = _profile(tmp_path)
    code, out, err = cli("estimate", job, "--profile", prof, "--json")
    assert code == 0, err
    inp = json.loads(out)["inputs"]
    assert inp["profile"] == f"{prof}: NVIDIA H100 80GB HBM3, measured 2026-10-20", inp
    code, out, err = cli("estimate", job, "--profile", prof)
    assert f"measured efficiencies (profile {prof}: NVIDIA H100 80GB HBM3, measured 2026-10-20)" in " ".join(out.split())
    report = tmp_path / "r.md"
    code, out, err = cli("report", job, "--profile", prof, "-o", report, "--no-simulate")
    assert code == 0, err
    assert f"Measured efficiencies (calibration profile {prof}: NVIDIA H100 80GB HBM3, measured 2026-10-20)" \
        in report.read_text()


def test_a_measured_bandwidth_the_model_does_not_read_is_said_unused(cli, tmp_path):
    """A hand-written profile's ``inter_busbw`` (the cross-node bus bandwidth ``calibration.collectives`` fits) gave the
    same step at 40 GB/s and at 1 MB/s, and was listed neither as measured nor as unused; now it is in
    ``efficiencies_measured_unused`` with why, as are host-copy rates and a copy bandwidth without ``hbm``."""
    job = write_job(tmp_path, JOB)
    steps = []
    for bw in (4.0e10, 1e6):
        code, out, err = cli("estimate", job, "--profile", _profile(tmp_path, inter_busbw=bw, h2d_pinned_bw=5e10), "--json")
        assert code == 0, err
        d = json.loads(out)
        steps.append(d["step_time_s"])
        unused = d["inputs"]["efficiencies_measured_unused"]
        assert "inter_busbw" in unused and "h2d_pinned_bw" in unused, unused
        assert "inter_busbw: the inter-node rate is the instance's network_gbps" in d["inputs"]["efficiencies_measured_unused_why"]
        assert "inter_busbw" not in d["inputs"]["efficiencies_measured"]
    assert steps[0] == steps[1]  # not read: the reason it must be said
    p = tmp_path / "hbm.json"
    doc = json.loads(_profile(tmp_path).read_text())
    del doc["fitted"]["hbm"]
    doc["fitted"]["hbm_bw"] = 2.8e12
    p.write_text(json.dumps(doc))
    code, out, err = cli("estimate", job, "--profile", p, "--json")
    assert "hbm_bw" in json.loads(out)["inputs"]["efficiencies_measured_unused"]


def test_serve_and_compare_say_which_profile_priced_them(cli, tmp_path):
    """``serve --profile`` moved the H100 options' TTFT and ``compare --profile`` the H100 rows without a word."""
    prof = _profile(tmp_path)
    job = write_job(tmp_path, """
model: {preset: llama3-8b}
serving: {p99_latency_ms: 50, ttft_ms: 1000, qps: 40, prompt_tokens: 800, output_tokens: 200, precision: bf16}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB]}
""")
    code, out, err = cli("serve", job, "--no-simulate", "--profile", prof, "--json")
    assert code == 0, err
    said = [a for a in json.loads(out)["assumptions"] if a.startswith("calibration profile")]
    assert said == [f"calibration profile {prof}: NVIDIA H100 80GB HBM3, measured 2026-10-20: its measured efficiencies "
                    "replace the priors on the H100-SXM-80GB options; the others run on priors"], said
    train = write_job(tmp_path, """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, precision: bf16, tokens: 1.0e11}
constraints: {gpus: [H100-SXM-80GB], clouds: [aws], max_gpus: 16}
""", name="train.yaml")
    code, out, err = cli("compare", train, "--by", "cloud", "--profile", prof)
    assert code == 0, err
    assert f"calibration profile {prof}: NVIDIA H100 80GB HBM3, measured 2026-10-20: measured gemm_max" in " ".join(out.split())


def test_a_profile_names_its_gpu_as_the_catalog_reads_names(cli, tmp_path):
    """A hand-written profile with ``catalog_gpu: H100`` (the alias ``cluster.gpu`` takes) or another letter case was
    refused as "profile was measured on H100; this job runs on H100-SXM-80GB"; a name the catalog lacks was refused as
    measured on another GPU. The name is read as the catalog reads names; an unknown one is refused by its field."""
    job = write_job(tmp_path, JOB)
    for name in ("H100", "h100-sxm-80gb"):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps({**H100_PROFILE, "fingerprint": {**H100_PROFILE["fingerprint"], "catalog_gpu": name}}))
        code, out, err = cli("estimate", job, "--profile", p, "--json")
        assert code == 0, err
        assert "gemm_max" in json.loads(out)["inputs"]["efficiencies_measured"]
    p = tmp_path / "x.json"
    p.write_text(json.dumps({**H100_PROFILE, "fingerprint": {**H100_PROFILE["fingerprint"], "catalog_gpu": "H100X-SXM"}}))
    code, out, err = cli("estimate", job, "--profile", p)
    assert code == 2 and out == "", out
    assert err.startswith("error: --profile.fingerprint.catalog_gpu: 'H100X-SXM' is not a catalog GPU; did you mean: "
                          "H100-SXM-80GB"), err


def test_a_profile_date_that_is_no_moment_or_in_the_future_is_refused(cli, tmp_path):
    """``fingerprint.created`` is cited as the day the profile was measured; "last tuesday" was taken and cited as
    "(last tuesd)", and a day in 2030 too."""
    job = write_job(tmp_path, JOB)
    for when, words in (("last tuesday", "must be when the profile was measured, as ISO 8601"),
                        ("2030-01-01T00:00:00", "must not be after today")):
        p = tmp_path / "p.json"
        p.write_text(json.dumps({**H100_PROFILE, "fingerprint": {**H100_PROFILE["fingerprint"], "created": when}}))
        code, out, err = cli("estimate", job, "--profile", p)
        assert code == 2 and out == "", out
        assert err.startswith("error: --profile.fingerprint.created: ") and words in err, err


def test_a_profile_schema_version_written_as_text_says_so(cli, tmp_path):
    """``schema_version: "1"`` (a string) read "has schema version '1', this planner reads 1" (QA 46's left-alone): now
    it says the type is wrong; another version says how to get one this planner reads."""
    job = write_job(tmp_path, JOB)
    for ver, words in (("1", "has a str ('1'), not the whole number 1"),
                       (7, "has schema version 7; this planner reads 1 (re-run `planner calibrate` to write one)")):
        p = tmp_path / "p.json"
        p.write_text(json.dumps({**H100_PROFILE, "schema_version": ver}))
        code, out, err = cli("estimate", job, "--profile", p)
        assert code == 2 and out == "", out
        assert err.startswith("error: --profile.schema_version: ") and words in err, err


def test_a_price_file_without_its_cloud_column_or_with_a_misspelt_instance_says_so(cli, tmp_path):
    """``name,price_ondemand_usd_hr`` (the cloud column left out) was read as a GPU table: "gpus[0].vendor: is
    required"; ``aws,p5.48xlarg,40`` (a typo) as a new instance: "instances[0].source: is required"."""
    job = write_job(tmp_path, JOB)
    p = tmp_path / "nocloud.csv"
    p.write_text("name,price_ondemand_usd_hr\np5.48xlarge,40\n")
    code, out, err = cli("estimate", job, "--catalog", p)
    assert code == 2 and out == "", out
    assert err.startswith("error: catalog override nocloud.csv: header: has instance columns (price_ondemand_usd_hr) "
                          "but no cloud column"), err
    p = tmp_path / "typo.csv"
    p.write_text("cloud,name,price_ondemand_usd_hr\naws,p5.48xlarg,40\n")
    code, out, err = cli("estimate", job, "--catalog", p)
    assert code == 2 and out == "", out
    assert err.startswith("error: catalog override typo.csv: instances[0].name: aws:p5.48xlarg is not a catalog "
                          "instance; did you mean: aws:p5.48xlarge"), err
    # a new instance with its GPU but no source is still asked for the source
    p = tmp_path / "new.csv"
    p.write_text("cloud,name,gpu,gpu_count,price_ondemand_usd_hr\naws,p5.48xlarg,H100,8,40\n")
    code, out, err = cli("estimate", job, "--catalog", p)
    assert code == 2 and "instances[0].source: is required" in err, err


def test_a_catalog_file_named_on_the_command_line_wins_over_the_environments(cli, tmp_path, monkeypatch):
    """With last quarter's prices in $PLANNER_CATALOG, ``--catalog new.csv`` planned at the old ones: the environment's
    files were applied after the command line's."""
    from hardware_catalog import load_catalog

    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text("cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,40\n")
    new.write_text("cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,45\n")
    monkeypatch.setenv("PLANNER_CATALOG", str(old))
    assert load_catalog([new]).instance("aws:p5.48xlarge").price_ondemand == 45
    code, out, err = cli("estimate", write_job(tmp_path, JOB), "--catalog", new, "--json")
    assert code == 0, err
    assert json.loads(out)["hardware"]["price_ondemand_usd_hr"] == 45
    assert err.index("old.csv") < err.index("new.csv: instance aws:p5.48xlarge: price_ondemand_usd_hr 40 -> 45"), err


def test_the_report_names_the_override_files_that_priced_it(cli, tmp_path):
    """A price row that gave its own source ("ACME EDP quote") was cited in the report without its file, and a file
    that added a commitment was named nowhere in it (only on the terminal's stderr, gone once the report is mailed)."""
    job = write_job(tmp_path, JOB)
    p = tmp_path / "acme-prices.yaml"
    p.write_text("instances:\n  - {cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: 38.5, price_date: "
                 f"{utc_today().isoformat()}, source: ACME EDP quote}}\ncommitments:\n  - {{cloud: aws, instance: p5.48xlarge, "
                 "term: 3yr, payment: no upfront, price_usd_hr: 21, source: ACME EDP 3yr}\n")
    for name in ("r.md", "r.html"):
        report = tmp_path / name
        code, out, err = cli("report", job, "--catalog", p, "-o", report, "--no-simulate")
        assert code == 0, err
        text = report.read_text()
        assert "Catalog override acme-prices.yaml: instance aws:p5.48xlarge: price_ondemand_usd_hr 55.04 -&gt; 38.5" in text \
            or "Catalog override acme-prices.yaml: instance aws:p5.48xlarge: price_ondemand_usd_hr 55.04 -> 38.5" in text
        assert "acme-prices.yaml: adds 3yr commitment for aws:p5.48xlarge" in text


def test_json_answers_carry_what_the_override_files_changed(cli, tmp_path):
    """QA 46's left-alone: the override lines went to stderr only, so `estimate --json` / `recommend --json` kept no
    record of the file that priced them; now ``catalog_overrides`` lists them (absent without an override)."""
    job = write_job(tmp_path, JOB)
    fresh = (utc_today() - datetime.timedelta(days=20)).isoformat()
    for cmd in ("estimate", "recommend"):
        code, out, err = cli(cmd, job, "--catalog", _prices(tmp_path, fresh), "--json")
        assert code == 0, err
        notes = json.loads(out)["catalog_overrides"]
        assert any(n.startswith("prices.csv: instance aws:p5.48xlarge: price_ondemand_usd_hr 55.04 -> 40, price_date")
                   and n.endswith(f"-> {fresh}") for n in notes), notes
    code, out, err = cli("estimate", job, "--json")
    assert code == 0 and "catalog_overrides" not in json.loads(out)
