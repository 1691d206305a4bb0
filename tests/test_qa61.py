"""QA pass 61: serving at the job's own rate (``cluster.price_usd_hr``) named as such, not "on-demand", and more
(docs/qa_log.md, "QA 61")."""
from __future__ import annotations

import json

from conftest import write_job

SERVE_AT_RATE = """
model: {preset: llama3-8b}
serving: {p99_latency_ms: 50, ttft_ms: 1000, qps: 40, prompt_tokens: 800, output_tokens: 200, max_batch: 256,
          precision: bf16}
cluster: {instance: aws:p5.48xlarge, price_usd_hr: 30}
"""

OFFLINE_AT_RATE = """
model: {preset: llama3-8b}
serving: {mode: batch, requests: 5000000, prompt_tokens: 800, output_tokens: 200, precision: bf16}
cluster: {instance: aws:p5.48xlarge, price_usd_hr: 30}
"""


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_serve_names_the_jobs_rate_not_on_demand(cli, tmp_path):
    """Llama-3-8B at 40 QPS on p5.48xlarge at a $30 reserved rate: serve printed "per month: $21.9k ($30.00/h x 730 h,
    on-demand)", "owning beats on-demand ($21.9k a month)", "likely range ... a month on-demand" and "$/1M req batch
    ... on-demand price", and dated the $30 rate as the catalog's p5.48xlarge on-demand row in the table's "prices
    dated" line. Each names the job's rate; the table dates no catalog rate it did not use."""
    code, out, err = cli("serve", write_job(tmp_path, SERVE_AT_RATE), "--no-simulate")
    assert code == 0, err
    flat = _flat(out)
    assert "per month: $21.9k ($30.00/h x 730 h, at the job's rate (cluster.price_usd_hr)), per year $262.8k" in flat, flat
    assert "owning beats the job's rate (cluster.price_usd_hr) ($21.9k a month)" in flat, flat
    assert "a month at the job's rate (cluster.price_usd_hr) (730 h a month" in flat, flat
    assert "at the job's rate (cluster.price_usd_hr); not the real-time cost" in flat, flat
    assert "on-demand" not in flat.replace("what the committed", ""), flat
    assert "prices dated: aws:p5.48xlarge between" not in flat, flat
    code, out, err = cli("serve", write_job(tmp_path, SERVE_AT_RATE), "--no-simulate", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["best"]["price_basis"] == "cluster.price_usd_hr", res["best"].get("price_basis")
    assert res["best"]["offline_price"] == "cluster.price_usd_hr" and res["best"].get("price_dates") is None, res["best"]
    assert res["budget"]["price"] == "cluster.price_usd_hr" and res["budget"]["buy"]["price_basis"] == "cluster.price_usd_hr"


def test_serve_offline_names_the_jobs_rate(cli, tmp_path):
    """An offline job at the job's rate read "costs at the on-demand price", "... per million requests at the
    on-demand price", "job cost: ... at $3.75/h, on-demand" and "against $2.56k on-demand for the same node-hours"."""
    code, out, err = cli("serve", write_job(tmp_path, OFFLINE_AT_RATE), "--no-simulate")
    assert code == 0, err
    flat = _flat(out)
    assert "costs at the job's rate (cluster.price_usd_hr)" in flat, flat
    # QA 67: the backlog at its fastest token budget ($63.92 and $2.56k at 8,192)
    assert "$53.90 per million requests at the job's rate (cluster.price_usd_hr) (analytic)" in flat, flat
    # QA 84 billed the node whole ($30.00/h, not a replica's $3.75/h; this pin was left failing on main); offline47
    # fills it with 8 replicas: 9.0 h, $269.52 ($2.16k for 71.9 h on 1 replica before)
    assert "(8 replicas for 9.0 h at $30.00/h, the job's rate (cluster.price_usd_hr))" in flat, flat
    assert "against $269.52 at the job's rate (cluster.price_usd_hr) for the same node-hours" in flat, flat
    assert "on-demand" not in flat, flat


def test_serve_without_a_job_rate_stays_on_demand(cli, tmp_path):
    """The catalog's rate keeps its name and its date."""
    code, out, err = cli("serve", write_job(tmp_path, SERVE_AT_RATE.replace(", price_usd_hr: 30", "")),
                         "--no-simulate")
    assert code == 0, err
    flat = _flat(out)
    assert "per month: $40.2k ($55.04/h x 730 h, on-demand)" in flat, flat
    assert "prices dated: aws:p5.48xlarge between" in flat, flat


def test_serving_report_names_the_jobs_rate(cli, tmp_path):
    """The serving review's "$ per month (730 h, on-demand)" row, its "On-demand: $30.00 an hour" line and the cost
    chart's caption name the job's rate."""
    out_md = tmp_path / "r.md"
    code, out, err = cli("report", write_job(tmp_path, SERVE_AT_RATE), "-o", str(out_md), "--no-simulate")
    assert code == 0, err
    text = out_md.read_text()
    assert "| $ per month (730 h, the job's rate (cluster.price_usd_hr)) | $21.9k |" in text, text[:3000]
    assert "- The job's rate (cluster.price_usd_hr): $30.00 an hour (1 node of aws:p5.48xlarge)" in text, text[:3000]
    assert "(the job's rate (cluster.price_usd_hr), 730 h)" in text, text[:3000]
    assert "on-demand" not in text.split("<!-- planner-summary")[0].replace("what the committed", ""), text[:3000]


def test_a_trace_not_replayed_is_still_read(cli, tmp_path):
    """`serve --no-simulate --trace missing.csv` planned with exit 0 and "trace 'missing.csv' not replayed ... simulate
    (drop --no-simulate)", which then failed on the missing file; a trace with no token columns passed the same way.
    Both are refused in one line, as the simulating run refuses them."""
    job = write_job(tmp_path, SERVE_AT_RATE)
    code, out, err = cli("serve", job, "--no-simulate", "--trace", str(tmp_path / "missing.csv"))
    assert code == 2 and "error: --trace:" in err and "file not found" in err and "Traceback" not in err, (code, err)
    bad = tmp_path / "bad.csv"
    bad.write_text("t,p\n0.1,5\n")
    code, out, err = cli("serve", job, "--no-simulate", "--trace", str(bad))
    assert code == 2 and "error: --trace: missing column(s) arrival_s, prompt_tokens, output_tokens" in err, (code, err)


GENERIC = """
model: {preset: resnet50}
serving: {p99_latency_ms: 100, qps: 200}
constraints: {clouds: [aws], gpus: [L4-24GB]}
"""


def test_a_generic_models_trace_note_says_why_it_is_not_replayed(cli, tmp_path):
    """ResNet-50 with a trace and no --no-simulate was told "simulate (drop --no-simulate) to size it for the trace's
    own rate and lengths ... at serving.prompt_tokens + output_tokens": the simulation models LLM serving only, and a
    CNN has no tokens. The note gives that reason, under --no-simulate too."""
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0.0,1,1\n0.5,1,1\n1.0,1,1\n")
    for flags in ((), ("--no-simulate",)):
        code, out, err = cli("serve", write_job(tmp_path, GENERIC), "--trace", str(trace), "--json", *flags)
        assert code == 0, err
        note = [a for a in json.loads(out)["assumptions"] if "not replayed" in a]
        assert note == ["trace 't.csv' not replayed: the plan is analytic (the simulation models LLM serving only: a "
                        "generic model's plan is analytic), sized for serving.qps"], note


def test_serve_on_spot_below_the_catalogs_spot_rate_says_so(cli, tmp_path):
    """An offline job at a $10/node-h rate on spot was priced at p5.48xlarge's catalog spot rate, 16.95 $/node-h
    ($180.58 where the job's own rate gives $106.53), unsaid: estimate's hardware note ("its catalog spot rate ... is
    above it ... leave constraints.spot off") never reached serve. A real-time job on spot at the job's rate read
    "the real-time $/h and $/1M req are on-demand prices"."""
    offline = OFFLINE_AT_RATE.replace("price_usd_hr: 30}", "price_usd_hr: 10}\nconstraints: {spot: true}")
    code, out, err = cli("serve", write_job(tmp_path, offline), "--no-simulate", "--json")
    assert code == 0, err
    notes = [a for a in json.loads(out)["assumptions"] if a.startswith("cluster.price_usd_hr 10 $/node-h replaces")]
    assert notes and "its catalog spot rate, 16.9508 $/node-h, is above it" in notes[0], notes
    realtime = SERVE_AT_RATE.replace("price_usd_hr: 30}", "price_usd_hr: 10}\nconstraints: {spot: true}")
    code, out, err = cli("serve", write_job(tmp_path, realtime), "--no-simulate", "--json")
    assert code == 0, err
    notes = json.loads(out)["assumptions"]
    assert any(a.startswith("constraints.spot: the real-time $/h and $/1M req are at the job's rate "
                            "(cluster.price_usd_hr)") for a in notes), notes
    assert any(a.startswith("cluster.price_usd_hr 10 $/node-h replaces") for a in notes), notes
