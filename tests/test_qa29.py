"""QA pass 29: empty input paths, the --deadline-hours bounds, offline replicas past the requests, and a CNN served
at int4 — each defect with the check that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import answered, flat, refused, write_job

REALTIME = {"model": {"preset": "llama3-8b"}, "serving": {"qps": 1, "p99_latency_ms": 50}}


# ---- 1. an empty --profile / --catalog / job path was ". is a directory" ------------------------------------------
# typer made "" (an unset shell variable) the path ".", refused as "job: .: is a directory, not a file".
@pytest.mark.parametrize("args, field", [
    (("serve", "JOB", "--profile", ""), "--profile"),
    (("serve", "JOB", "--catalog", ""), "--catalog"),
    (("estimate", "JOB", "--catalog", " "), "--catalog"),
    (("serve", ""), "job"),
    (("recommend", "", "--csv", "out.csv"), "job"),  # the output check reads the inputs first
    (("report", "", "-o", "out.html"), "job"),
    (("catalog", "gpus", "--catalog", ""), "--catalog"),
])
def test_an_empty_input_path_is_refused_as_empty(tmp_path, cli, monkeypatch, args, field):
    monkeypatch.chdir(tmp_path)
    job = write_job(tmp_path, REALTIME)
    line = refused(cli(*(str(job) if a == "JOB" else a for a in args)))
    assert line.startswith(f"error: {field}: an empty path"), line
    assert "directory" not in line


# ---- 2. --deadline-hours had its own minimum (0.001), the job field another (> 0) ---------------------------------
OFFLINE = {"model": {"preset": "llama3-8b"},
           "serving": {"mode": "batch", "requests": 1000, "output_tokens": 8, "deadline_hours": 1}}


def test_deadline_flag_takes_the_job_fields_bounds(tmp_path, cli):
    from planner.spec.schema import ServingSpec

    tiny = 0.0005  # above the field's bound (> 0), below the old flag minimum
    ServingSpec.model_validate({"deadline_hours": tiny})  # the job field takes it
    job = write_job(tmp_path, OFFLINE)
    plan = answered(cli("serve", job, "--no-simulate", "--json", "--deadline-hours", tiny))
    assert plan["best"]["offline_hours"] <= tiny
    for bad in (0, -1):  # and refuses what the field refuses, in the field's words (QA 30: the project's words)
        assert refused(cli("serve", job, "--no-simulate", "--deadline-hours", bad)).startswith("error: --deadline-hours: must be more than 0")


# ---- 3. an offline job got more replicas than requests -----------------------------------------------------------
# 5 requests under max_gpus 512 (no deadline: the replicas are the most the cap allows) got "512 replicas finish in
# <0.001 s": 507 replicas with nothing to do, and a time shorter than one request takes.
def test_offline_replicas_never_exceed_the_requests(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "serving": {"mode": "batch", "requests": 5, "output_tokens": 64},
                               "constraints": {"max_gpus": 512}})
    plan = answered(cli("serve", job, "--no-simulate", "--json"))
    assert plan["options"]
    for o in plan["options"]:
        assert o["offline_replicas"] <= 5, o
        # each replica serves at least one whole request: no faster than one request alone (TTFT + 63 decode steps)
        alone_s = (o["ttft_batch1_ms"] + 63 * o["tpot_batch1_ms"]) / 1e3
        assert o["offline_hours"] * 3600 >= alone_s * (1 - 1e-9), o
    assert "5 TP" in flat(plan["constraints"][0]) or "5 replicas" in flat(out)


def test_offline_replicas_unit():
    from planner.workloads.serving import ServingLimits

    lim = ServingLimits(max_gpus=512)
    assert lim.offline_replicas(1, 1e-6, requests=5) == 5
    assert lim.offline_replicas(2, 1e-6, requests=1000) == 256  # the cap binds first
    assert ServingLimits(deadline_hours=1e-9).offline_replicas(1, 1.0, requests=3) == 3
    # a min_gpus floor the user set still raises them (said in the notes)
    assert ServingLimits(max_gpus=512, min_gpus=8).offline_replicas(1, 1e-6, requests=5) == 8


# ---- 4. a CNN served at int4 was planned with 0.5-byte weights at bf16 speed ---------------------------------------
@pytest.mark.parametrize("serving, args, field", [
    ({"precision": "int4"}, (), "serving.precision"),
    ({}, ("--precisions", "bf16,int4"), "--precisions"),
    ({}, ("--precisions", "mxfp4"), "--precisions"),
])
def test_generic_model_refuses_unmodelled_precisions(tmp_path, cli, serving, args, field):
    job = write_job(tmp_path, {"model": {"preset": "resnet50"},
                               "serving": {"qps": 100, "p99_latency_ms": 50, **serving}})
    line = refused(cli("serve", job, "--no-simulate", *args))
    assert line.startswith(f"error: {field}: ") and "not modelled for a generic model" in line, line


def test_generic_model_int8_still_plans(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "resnet50"},
                               "serving": {"qps": 100, "p99_latency_ms": 50, "precision": "int8"}})
    assert answered(cli("serve", job, "--no-simulate", "--json"))["best"]["precision"] == "int8"


# ---- hostile inputs on serve and report --------------------------------------------------------------------------
# "offline batch inference: 1 requests of ..."; a CNN's offline header listed the serving section's LLM token defaults
@pytest.mark.parametrize("model, serving, want", [
    ("llama3-8b", {"requests": 1}, "offline batch inference: 1 request of 512 prompt + 256 output tokens"),
    ("resnet50", {"requests": 3}, "offline batch inference: 3 requests, no latency target"),
    ("resnet50", {}, "offline batch inference: no latency target"),
])
def test_offline_header_counts_and_units(tmp_path, cli, model, serving, want):
    job = write_job(tmp_path, {"model": {"preset": model}, "serving": {"mode": "batch", **serving}})
    code, out, err = cli("serve", job, "--no-simulate")
    assert code == 0, err
    assert want in flat(out)


# a CNN's review called its one request latency "TPOT ms" and listed 512 prompt + 256 output tokens as its targets
def test_generic_model_report_has_no_llm_targets(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "resnet50"}, "serving": {"qps": 100, "p99_latency_ms": 50}})
    code, out, err = cli("report", job, "-o", tmp_path / "r.md", "--no-simulate")
    assert code == 0, err
    md = (tmp_path / "r.md").read_text()
    targets = md.split("## Latency and load targets")[1].split("## ")[0]
    assert "| request latency p99 | 50 | ms |" in targets
    assert "tokens" not in targets and "TPOT" not in md.split("## Options")[0]
    assert "| p99 latency ms (analytic) |" in md


# a CNN with only serving.ttft_ms was planned with no latency target at all ("meets p99 latency 23.0 ms"); its token
# lengths, KV precision and LLM engine were planned around unsaid
@pytest.mark.parametrize("extra, field", [
    ({"ttft_ms": 5}, "serving.ttft_ms"),
    ({"p99_latency_ms": 50, "kv_precision": "fp8"}, "serving.kv_precision"),
    ({"p99_latency_ms": 50, "prompt_tokens": 4096}, "serving.prompt_tokens"),
    ({"p99_latency_ms": 50, "engine": "sglang"}, "serving.engine"),
])
def test_generic_model_refuses_llm_only_serving_fields(tmp_path, cli, extra, field):
    job = write_job(tmp_path, {"model": {"preset": "resnet50"}, "serving": {"qps": 100, **extra}})
    assert refused(cli("serve", job, "--no-simulate")).startswith(f"error: {field}: applies to LLMs only")
