"""QA pass 28: the CLI used as a demanding, hostile user would — ordinary and odd jobs through ``estimate``,
``recommend``, ``serve``, ``simulate``, ``report``, ``catalog`` and ``calibrate`` — each defect with the check that
failed before its fix."""
from __future__ import annotations


import pytest

from conftest import answered, flat, one_error_line, refused, write_job


# ---- 1. serve: the analytic batch-1 TPOT held the next request's prefill ------------------------------------------
# An 8,000-token prompt with 10 output tokens put 800 prompt tokens into every "TPOT" iteration, so L40S was rejected
# at "TPOT 85.0 ms even at batch 1" against a 50 ms target and never simulated — while one request decoding alone on
# it takes ~33 ms per token, which is what the simulation (request_tpot) measures.
LONG_PROMPT = {"model": {"preset": "llama3-8b"},
               "serving": {"qps": 1, "prompt_tokens": 8000, "output_tokens": 10, "p99_latency_ms": 50}}


def test_batch1_tpot_is_the_requests_own_decode(tmp_path, cli):
    job = write_job(tmp_path, {**LONG_PROMPT, "constraints": {"gpus": ["L40S-48GB"]}})
    best = answered(cli("serve", job, "--json"))["best"]
    assert best["gpu"] == "L40S-48GB" and best["batch"] == 1
    # the analytic TPOT is the number the simulation measures for the same option (one definition)
    assert best["tpot_batch1_ms"] == pytest.approx(best["simulated"]["tpot_ms"]["p50"], rel=0.05)


def test_tpot_carries_the_other_slots_prefill_only():
    """At batch B a request's decode iterations carry the other B - 1 slots' prefills: TPOT grows with the prompt
    at B > 1, not at B = 1; and throughput's iteration (all B slots' prefill) is slower than TPOT."""
    import numpy as np

    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec
    from planner.spec.load import load_job_dict
    from planner.workloads.serving_iteration import IterationModel, _llm_iteration, llm_tpot

    hw = option_from_cluster(ClusterSpec(instance="aws:p5.48xlarge"))
    short, long = ({**LONG_PROMPT, "serving": {**LONG_PROMPT["serving"], "prompt_tokens": p}} for p in (100, 8000))
    js, jl = load_job_dict(short), load_job_dict(long)
    B = np.array([1.0, 8.0])
    ts, tl = llm_tpot(js.model, js.serving, hw, 1, B), llm_tpot(jl.model, jl.serving, hw, 1, B)
    # batch 1: the long prompt is the request's own (TTFT); its decode is one sequence at the mean context alone
    im = IterationModel.build(jl.model, hw, 1, jl.serving.precision, jl.serving.kv_precision, jl.serving.engine)
    assert tl[0] == pytest.approx(float(im.time(decode_seqs=1, decode_ctx=8000 + 10 / 2)))
    assert tl[0] < 1.10 * ts[0]  # only its KV is read longer
    assert tl[1] > 1.5 * ts[1]  # batch 8: seven others' 8,000-token prompts share its iterations
    assert (_llm_iteration(jl.model, jl.serving, hw, 1, B)["step"] > tl).all()


# ---- 2. serve: an absurd load was sized without a cap ------------------------------------------------------------
# ``qps: 1e9`` recommended "60522471 replicas on 7565309 nodes"; an offline job of 1e12 requests in one hour 16.8M.
# The cap is one rule over every option: sized on one cloud's H100s (and below, its B200s, where TP1 / TP2 fit in 2^20
# GPUs and TP4 / TP8 do not, and its T4s) it is the same refusal as over the whole catalog, in 0.1 s, not 4-5 s (suite49).
AWS_H100 = {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}
@pytest.mark.parametrize("serving, field", [
    ({"qps": 1e9, "p99_latency_ms": 50}, "serving.qps"),
    ({"mode": "batch", "requests": 1e12, "deadline_hours": 1}, "serving.deadline_hours"),
])
def test_serving_past_the_deployment_limit_has_no_plan(tmp_path, cli, serving, field):
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": serving, "constraints": AWS_H100})
    line = refused(cli("serve", job, "--no-simulate"))
    assert line.startswith(f"error: {field}: no plan:") and "over the 1,048,576 GPUs one plan deploys" in line


def test_serving_options_past_the_deployment_limit_are_listed_not_recommended(tmp_path, cli):
    """At 2e7 QPS some options fit within 2^20 GPUs and others do not: the recommended one fits, the rest are named."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": {"qps": 2e7, "p99_latency_ms": 50},
                               "constraints": {"clouds": ["aws"], "gpus": ["B200", "T4-16GB"]}})
    plan = answered(cli("serve", job, "--no-simulate", "--json"))
    assert all(o["gpus"] <= 1 << 20 for o in plan["options"])
    over = [r for r in plan["rejected"] if r.get("constraint_broken") == "serving.qps"]
    assert over and all(r["gpus"] > 1 << 20 for r in over)


# ---- 3. training: a dataset smaller than one global batch was priced as a whole step -------------------------------
# 100 examples of 4,096 tokens at a global batch of 1,024 for one epoch: "1 step, 4.19M tokens" (the real 0.41M).
SMALL = {"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}


@pytest.mark.parametrize("training", [
    {"seq_len": 4096, "global_batch": 1024, "epochs": 1, "dataset_samples": 100},
    # packed: 2,000 examples of 512 tokens are 250 sequences of 4,096
    {"seq_len": 4096, "global_batch": 256, "epochs": 3, "dataset_samples": 2000, "mean_example_tokens": 512},
])
def test_epoch_below_one_global_batch_is_refused(tmp_path, cli, training):
    job = write_job(tmp_path, {**SMALL, "training": {**training, "micro_batch": 1}})
    line = refused(cli("estimate", job))
    assert line.startswith("error: training.global_batch: ") and "more than one epoch" in line


def test_partial_last_step_counts_the_real_tokens(tmp_path, cli):
    """100 examples at a global batch of 64: two steps (the second partial), 100 x 4,096 tokens trained."""
    job = write_job(tmp_path, {**SMALL, "training": {"seq_len": 4096, "global_batch": 64, "epochs": 1,
                                                     "dataset_samples": 100, "micro_batch": 1}})
    d = answered(cli("estimate", job, "--json"))
    assert d["cost"]["steps"] == 2 and d["cost"]["tokens"] == 100 * 4096
    assert any("36 of 64 sequences" in a for a in d["assumptions"])


# ---- 4. a path option given empty ------------------------------------------------------------------------------------
# typer turns "" into the path ".": ``calibrate --storage ""`` (an unset shell variable) measured the working
# directory's storage and wrote the profile; ``serve --trace ""`` planned as if no trace were given.
def test_calibrate_refuses_an_empty_storage_path(tmp_path, cli):
    out = tmp_path / "profile.json"
    code, stdout, err = cli("calibrate", "-o", out, "--storage", "", "--quick", "--device", "cpu")
    assert code == 2, stdout
    assert one_error_line(err).startswith("error: --storage: an empty path")
    assert not out.exists()  # refused before any measuring


def test_serve_refuses_an_empty_trace_path(cli):
    from conftest import EXAMPLES

    assert refused(cli("serve", EXAMPLES / "serving-llama3-8b-chat.yaml", "--trace", "", "--no-simulate")).startswith("error: --trace: an empty path")


# ---- 5. recommend: recompute_num_layers with recompute open, and a winner without full recompute ---------------------
# The field applies to full recompute only; the recommended plan ran recompute none and nothing said the field was
# not used.
RC_JOB = {"model": {"preset": "llama3-8b"},
          "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1e10, "recompute_num_layers": 2},
          "constraints": {"instances": ["aws:p5.48xlarge"], "max_gpus": 8}}


def test_unused_recompute_num_layers_is_said(tmp_path, cli):
    job = write_job(tmp_path, RC_JOB)
    d = answered(cli("recommend", job, "--json", "--no-simulate", "--top", "1"))
    rc = d["best"]["config"]["recompute"]
    said = [a for a in d["assumptions"] if "recompute_num_layers 2 not used" in a]
    assert rc != "full" and said and f"runs recompute {rc}" in said[0]


def test_used_recompute_num_layers_is_not_called_unused(tmp_path, cli):
    """With recompute: full the field is used: no such line (the check reads the plan, not the field alone)."""
    job = write_job(tmp_path, {**RC_JOB, "training": {**RC_JOB["training"], "recompute": "full"}})
    d = answered(cli("recommend", job, "--json", "--no-simulate", "--top", "1"))
    assert d["best"]["config"]["recompute"] == "full"
    assert not [a for a in d["assumptions"] if "not used" in a and "recompute" in a]


# ---- 6. recommend blamed one single-node instance for a job no layout could run -----------------------------------
# A 2-layer, 2-head model with a global batch of 8 at min_gpus 512: "error: constraints.min_gpus: aws:g6.xlarge is
# single-node only (1 GPU), below min_gpus=512" — true of every one-node instance, silent on the batch that no
# 512-GPU layout divides.
def test_no_layout_names_the_jobs_rule_not_a_small_instance(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"layers": 2, "hidden": 64, "heads": 2, "vocab": 1000},
                               "training": {"seq_len": 128, "global_batch": 8, "tokens": 1e6},
                               "constraints": {"min_gpus": 512}})
    line = refused(cli("recommend", job, "--no-simulate"))
    assert line.startswith("error: training.global_batch: ") and "single-node" not in line


def test_one_output_token_says_there_is_no_tpot(tmp_path, cli):
    """With the analytic TPOT counted as the simulation counts it, one output token has none (0): the plan says
    so instead of "meets TPOT 0.0 ms" alone."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "constraints": {"gpus": ["H100-SXM-80GB"]},
                               "serving": {"qps": 5, "prompt_tokens": 2000, "output_tokens": 1,
                                           "p99_latency_ms": 20, "ttft_ms": 2000}})
    d = answered(cli("serve", job, "--json", "--no-simulate"))
    assert "tpot_ms" in d["best"] and d["best"]["tpot_ms"] is None  # none, not 0 (null since QA 37b)
    assert any(a.startswith("serving.output_tokens 1: ") for a in d["assumptions"])


# ---- 7. serve offline: a deadline shorter than one request was met by adding replicas ------------------------------
# One request under a 0.36 ms deadline: "169 replicas finish in <0.001 s" — replicas split the requests, not one.
def test_offline_deadline_below_one_request_has_no_plan(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "serving": {"mode": "batch", "requests": 1, "deadline_hours": 1e-7}})
    line = refused(cli("serve", job, "--no-simulate"))
    assert line.startswith("error: serving.deadline_hours: ") and "one request alone takes" in line


def test_offline_deadline_a_request_fits_is_planned(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "serving": {"mode": "batch", "requests": 100, "deadline_hours": 0.01}})
    assert answered(cli("serve", job, "--no-simulate", "--json"))["best"]["offline_hours"] <= 0.01


# ---- 8. serve --deadline-hours inf / 1e300 were planned ---------------------------------------------------------
# The job file's serving.deadline_hours is finite and <= 1e5; the flag that overrides it took "inf" and 1e300.
@pytest.mark.parametrize("value", ["inf", "1e300"])
def test_deadline_flag_holds_to_the_fields_bounds(cli, value):
    from conftest import EXAMPLES

    assert refused(cli("serve", EXAMPLES / "serving-batch-llama3-8b.yaml", "--deadline-hours", value, "--no-simulate")).startswith("error: --deadline-hours: ")


# ---- 9. serve --trace: a request past the context named serving.trace, a field the job does not set --------------
def test_trace_flag_errors_name_the_flag(tmp_path, cli):
    from conftest import EXAMPLES

    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0,100,10\n1,100000000,10\n")
    assert refused(cli("serve", EXAMPLES / "serving-llama3-8b-chat.yaml", "--trace", trace)).startswith("error: --trace: ")


# ---- 10. an output path given empty was refused as "." ----------------------------------------------------------
# ``--csv ""`` said "error: --csv: .: is a directory", ``report -o ""`` "the report is .html or .md (got 'no
# suffix')", ``--timeline ""`` "must end in .csv or .json (got '')": typer made "" the path "."
@pytest.mark.parametrize("args, field", [
    (["recommend", "{job}", "--no-simulate", "--csv", ""], "--csv"),
    (["simulate", "{job}", "--timeline", ""], "--timeline"),
    (["report", "{job}", "-o", ""], "--out"),
    (["calibrate", "-o", ""], "--out"),
])
def test_empty_output_path_is_refused_as_empty(cli, args, field):
    from conftest import EXAMPLES

    job = EXAMPLES / "llama3-8b-estimate.yaml"
    assert refused(cli(*[str(job) if a == "{job}" else a for a in args])) == f"error: {field}: an empty path"
