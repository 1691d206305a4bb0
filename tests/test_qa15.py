"""QA pass 15: `planner serve` checked by hand as a demanding user would (weights, KV per token, the
memory-limited batch, replicas x QPS, $/h and $/1M, table vs --json vs report) — each defect with the
check that failed before its fix."""
from __future__ import annotations

import re


from conftest import answered, write_job


_SMALL_BACKLOG = {"model": {"preset": "llama3-8b"},
                  "serving": {"mode": "batch", "requests": 1000, "prompt_tokens": 100, "output_tokens": 100,
                              "deadline_hours": 0.01},
                  "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}}


def test_small_offline_backlog_time_is_not_zero_hours(cli, tmp_path):
    """1,000 offline requests at ~59 req/s (17 s): "1 replicas finish in 0.0 h" and a "replica-h 0.0"
    column; the report said "take 0.0 replica-hours"."""
    code, out, err = cli("serve", write_job(tmp_path, _SMALL_BACKLOG))
    assert code == 0, err
    assert "0.0 h" not in out and "1 replicas" not in out
    assert re.search(r"1 replica finishes in [\d.]+ s", " ".join(out.split())), out
    assert "replica-h" not in out and re.search(r"replica-(s|min)", out), out
    md = tmp_path / "r.md"
    code, _, err = cli("report", write_job(tmp_path, _SMALL_BACKLOG), "-o", md)
    assert code == 0, err
    text = md.read_text()
    assert "0.0 replica-hours" not in text and "1 replicas" not in text
    assert re.search(r"take [\d.]+ s of replica time", text), text


def test_spot_on_a_realtime_job_says_its_costs_are_on_demand(cli, tmp_path):
    """constraints.spot with serving.qps: the table's $/h ($6.88, p5.4xlarge on-demand) and $/1M req stayed
    on-demand while the batch column went to spot; nothing said the constraint was applied to one column."""
    job = {"model": {"preset": "llama3-8b"},
           "serving": {"p99_latency_ms": 50, "qps": 10, "prompt_tokens": 1000, "output_tokens": 200, "max_batch": 256},
           "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"], "spot": True}}
    d = answered(cli("serve", write_job(tmp_path, job), "--no-simulate", "--json"))
    assert d["best"]["usd_per_hr"] == d["best"]["price_usd_hr"] * d["best"]["nodes"]  # on-demand, as stated
    assert any(a.startswith("constraints.spot:") and "on-demand" in a for a in d["assumptions"]), d["assumptions"]
    job["constraints"]["spot"] = False
    on_demand = answered(cli("serve", write_job(tmp_path, job), "--no-simulate", "--json"))
    assert not any(a.startswith("constraints.spot:") for a in on_demand["assumptions"])


def test_trace_on_an_offline_job_is_refused(cli, tmp_path):
    """``serve`` of a ``mode: batch`` job with ``--trace``: the same plan as without it (5.23 req/s per replica),
    the trace silently ignored (``--deadline-hours`` on a real-time job is refused the same way)."""
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n1.0,200,20\n")
    code, out, err = cli("serve", write_job(tmp_path, _SMALL_BACKLOG), "--trace", trace)
    assert code == 2 and "Traceback" not in out + err
    assert (out + err).strip().startswith("error: --trace: applies to real-time jobs"), out + err


def test_one_request_trace_error_reads_in_the_singular(cli, tmp_path):
    """A one-request trace: "error: --trace: its one request all arrive at 0 s"."""
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n")
    job = {"model": {"preset": "llama3-8b"},
           "serving": {"p99_latency_ms": 50, "qps": 10, "prompt_tokens": 100, "output_tokens": 10},
           "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}}
    code, out, err = cli("serve", write_job(tmp_path, job), "--trace", trace)
    assert code == 2
    assert "its one request arrives at 0 s" in out + err and "all arrive" not in out + err, out + err


def test_offline_job_states_its_request_count(cli, tmp_path):
    """The offline report's "Latency and load targets" listed the prompt and output tokens but not the job's
    requests, on which its "$ for the job's requests" and replica-hours rest; the JSON and the terminal had no
    count either. A real-time job has none (not in its JSON)."""
    from conftest import EXAMPLES

    offline = answered(cli("serve", EXAMPLES / "serving-batch-llama3-8b.yaml", "--no-simulate", "--json"))
    assert offline["targets"]["requests"] == 5e6
    code, out, err = cli("serve", EXAMPLES / "serving-batch-llama3-8b.yaml", "--no-simulate")
    assert code == 0 and "offline batch inference: 5,000,000 requests of 2,048 prompt" in out, out
    report = tmp_path / "r.md"
    code, out, err = cli("report", EXAMPLES / "serving-batch-llama3-8b.yaml", "-o", report, "--no-simulate")
    assert code == 0, err
    assert "| requests | 5,000,000 | in the job |" in report.read_text()
    realtime = answered(cli("serve", EXAMPLES / "serving-llama3-8b-chat.yaml", "--no-simulate", "--json"))
    assert "requests" not in realtime["targets"]
