"""QA pass 60: the rate a plan is priced at, named right where the job gives its own (``cluster.price_usd_hr``, which
replaces the on-demand rate); recommend's buy-vs-rent line; the app's scaling note (docs/qa_log.md, "QA 60")."""
from __future__ import annotations

import json

from conftest import write_job

RESERVED = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, tokens: 1.0e11}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 8, price_usd_hr: 30}
"""


def test_estimate_names_the_jobs_rate_and_sets_the_block_against_the_catalogs_on_demand(cli, tmp_path):
    """8 x p5.48xlarge at a $30 reserved rate: the cost row read "$11.0k on-demand" and the capacity block "38% above
    on-demand's $11.0k" (the job's own rate). The row names the job's rate; the block is set against the catalog's
    on-demand 55.04 $/node-h ($20.1k for the same hours)."""
    job = write_job(tmp_path, RESERVED)
    code, out, err = cli("estimate", job)
    assert code == 0, err
    flat = " ".join(out.replace("│", " ").split())
    assert "$11.0k at the job's rate (cluster.price_usd_hr), $6.20k spot" in flat, flat[:2500]
    assert "on-demand's $11.0k" not in flat and "$11.0k on-demand" not in flat, flat[:2500]
    assert ("the block to buy bills $15.1k, 25% below the catalog's on-demand rate (55.04 $/node-h): $20.1k for the "
            "same hours") in flat, flat[:2500]
    assert "buying is cheaper than the job's rate (cluster.price_usd_hr)" in flat, flat[:2500]
    code, out, err = cli("estimate", job, "--json")
    assert code == 0, err
    c = json.loads(out)["cost"]
    assert c["price_basis"] == "cluster.price_usd_hr" and c["catalog_ondemand_usd_hr"] == 55.04, c["price_basis"]
    assert abs(c["committed"][0]["ondemand_same_hours_usd"] - c["hours"] * 8 * 55.04) < 1e-6, c["committed"][0]


def test_estimate_without_a_job_rate_is_still_on_demand(cli, tmp_path):
    """The catalog's own rate keeps its name and its comparison."""
    code, out, err = cli("estimate", write_job(tmp_path, RESERVED.replace(", price_usd_hr: 30", "")), "--json")
    assert code == 0, err
    c = json.loads(out)["cost"]
    assert c["price_basis"] == "on-demand" and c["catalog_ondemand_usd_hr"] is None, c["price_basis"]
    assert abs(c["committed"][0]["ondemand_same_hours_usd"] - c["cost_ondemand_usd"]) < 1e-6


def test_recommend_prints_the_winners_buy_line(cli, tmp_path):
    """recommend's "prices dated" listed the on-prem buy inputs (undated) while its text gave no buy figure; it now
    prints estimate's buy-vs-rent line for the winner."""
    code, out, err = cli("recommend", write_job(tmp_path, RESERVED), "--no-simulate", "--top", "1")
    assert code == 0, err
    flat = " ".join(out.split())
    assert ("buy instead (not ranked on): $6.95k for this run's hours on owned nodes at 18.99 $/node-h") in flat, flat
    assert "owning beats the job's rate (cluster.price_usd_hr) above 51% utilisation" in flat, flat


def test_report_names_the_jobs_rate_and_the_catalogs_on_demand(cli, tmp_path):
    """The report's cost section read "On-demand: $11.0k (30.00 $/node-h ...)", its capacity block "not below the
    on-demand 30.00, so it never beats on-demand" (the job's $30 rate), and its price table "on-demand $/node-h 30.00"
    beside the catalog row's date and source. Each names the job's rate; the block is set against the catalog's
    55.04 $/node-h, which it is 25% below."""
    out = tmp_path / "r.md"
    code, _, err = cli("report", write_job(tmp_path, RESERVED), "-o", str(out))
    assert code == 0, err
    text = " ".join(out.read_text().split())
    assert ("At the job's rate (cluster.price_usd_hr): $11.0k (30.00 $/node-h x 8 nodes x 45.7 h); on-demand, at the "
            "catalog's 55.04 $/node-h for aws:p5.48xlarge, the same hours cost $20.1k.") in text, text[:3000]
    assert "on-demand for the same hours costs $20.1k, so the block saves 25%" in text, text[:4000]
    assert "never beats on-demand" not in text and "On-demand: $11.0k" not in text
    assert "| aws:p5.48xlarge | 55.04 (the job's rate, 30.00, is used) |" in text
    assert "Owning beats renting at the job's rate (cluster.price_usd_hr) only if" in text


SCALED = b"""
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 512, precision: bf16, tokens: 2.0e11}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB], max_gpus: 128, deadline_hours: 100}
"""


def test_the_apps_scaling_view_says_the_node_counts_left_out():
    """`recommend --scaling` says which of the winner's node counts the constraints left out (QA 59); the app's
    scaling view showed the same table with nothing of them. Its caption now gives recommend's note."""
    import pytest

    from conftest import ROOT
    from planner import interactive as wi

    AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.file_uploader(key="upload").set_value(("scaled.yaml", SCALED, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    caps = [" ".join(c.value.split()) for c in at.caption]
    note = [c for c in caps if c.startswith("scaling: node counts of aws:p5.48xlarge with no plan within")]
    assert note, caps
    assert "1: its fastest plan takes 30.1 d, over the 100 h (4.2 d) deadline" in note[0], note
    assert wi.scaling_caption(dict(nodes_cut=(), best=dict(hardware=dict(name="x")))) == ""


def test_the_checkpoint_line_names_the_jobs_rate(cli, tmp_path):
    """A bare H100 cluster at $30 a node-hour with a checkpoint section: the checkpoint line priced the expected hours
    at the job's rate and called it on-demand ("46.3 h, $11.1k on-demand")."""
    job = write_job(tmp_path, RESERVED.replace("instance: aws:p5.48xlarge", "gpu: H100-SXM-80GB")
                    + "checkpoint: {every_steps: 1000}\n")
    code, out, err = cli("estimate", job)
    assert code == 0, err
    flat = " ".join(out.replace("│", " ").split())
    assert "+1.3% time: 46.3 h, $11.1k at the job's rate (cluster.price_usd_hr)" in flat, flat[-2500:]
    assert "$11.1k on-demand" not in flat


def test_the_app_names_the_jobs_rate():
    """The app's cost metric read "cost (on-demand)" and its alternatives and sensitivity tables "on-demand $" over
    the job's $30 rate."""
    import pytest

    from conftest import ROOT

    AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.file_uploader(key="upload").set_value(("r.yaml", RESERVED.encode(), "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    labels = [m.label for m in at.metric]
    assert "cost (at the job's rate (cluster.price_usd_hr))" in labels, labels
    cols = [list(d.value.columns) for d in at.dataframe]
    # sensitivity, scaling, best per GPU (their "cost $" until QA 82), alternatives
    assert sum("the job's rate (cluster.price_usd_hr) $" in c for c in cols) == 4, cols
    assert not any("on-demand $" in c for c in cols), cols
