"""QA pass 36: what a budget owner tried before signing (constrained searches, the same job through estimate, simulate
and report, the JSON / CSV outputs, hostile values in fields no earlier pass fuzzed) -- each defect with the check
that failed before its fix."""
from __future__ import annotations

import json

import pytest

from conftest import answered, refused, write_job

RESNET_S3 = {"model": {"preset": "resnet50"},
             "training": {"global_batch": 256, "epochs": 1, "dataset_samples": 100000},
             "parallel": {"tp": 1, "pp": 1}, "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 1},
             "data": {"storage": "object_store", "format": "shards", "decode_ms_per_sample": 2}}


@pytest.mark.parametrize("section, field, floor", [
    ("cluster", "inter_node_gbps", 0.001), ("cluster", "intra_node_gbps", 0.001), ("data", "storage_gbps", 0.001),
    ("data", "storage_stream_gbps", 0.001), ("data", "max_requests_per_s", 0.001), ("data", "vcpus_per_gpu", 0.01),
    ("checkpoint", "write_gbps", 0.001)])
def test_a_rate_next_to_nothing_is_refused(tmp_path, cli, section, field, floor):
    """Rates only above 0 took 1e-300: `estimate` of a 2-node job at ``inter_node_gbps: 1e-300`` said a 7e299 s step,
    2.7e299 years, a 300-digit GPU-hour count and numpy's overflow warning; `simulate` at ``storage_gbps: 1e-300`` 4e299 s
    steps. The floor (schema.MIN_RATE) is refused in the field's words; the floor itself plans finite times."""
    job = json.loads(json.dumps(RESNET_S3))
    job["cluster"]["nodes"] = 2
    job.setdefault(section, {})[field] = 1e-300
    line = refused(cli("estimate", write_job(tmp_path, job), "--json"))
    assert line.startswith(f"error: {section}.{field}: must be at least {floor:g}"), line
    job[section][field] = floor
    if section == "checkpoint":
        job["checkpoint"]["every_steps"] = 10
    code, out, err = cli("simulate", write_job(tmp_path, job), "--json", "--steps", "20", "--no-answers")
    assert code == 0 and "Warning" not in err, err
    sim = json.loads(out)
    assert 0 < sim["step_time_s"]["mean"] < 1e6 and sim["wall_s"] < 1e8, sim["step_time_s"]


SERVE = {"model": {"preset": "llama3-8b"},
         "serving": {"qps": 1.0, "p99_latency_ms": 100.0, "prompt_tokens": 128, "output_tokens": 32},
         "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}}


@pytest.mark.parametrize("field, value, words", [
    # requests: a whole number since qa59 (pydantic checks the type before the bound), so a fraction reads so
    ("qps", 1e-300, "must be at least 1e-06"), ("requests", 1e-300, "must be a whole number"),
    ("requests", 0.5, "must be a whole number"), ("requests", 0, "must be at least 1")])
def test_serving_load_next_to_nothing_is_refused(tmp_path, cli, field, value, words):
    """``serving.qps: 1e-300`` was planned: $1.5e304 per million requests, and 4 of 5 options "do not work" (arrivals
    1e300 s apart leave a decode step lost in the float); ``serving.requests: 1e-300`` (an offline job of a
    1e-300th of a request) cost $5.5e302 per million requests."""
    job = json.loads(json.dumps(SERVE))
    if field == "requests":
        job["serving"] = {"mode": "batch", "requests": value, "prompt_tokens": 128, "output_tokens": 32}
    else:
        job["serving"][field] = value
    line = refused(cli("serve", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith(f"error: serving.{field}: {words}"), line


def test_the_lowest_qps_is_still_planned(tmp_path, cli):
    job = json.loads(json.dumps(SERVE))
    job["serving"]["qps"] = 1e-6
    plan = answered(cli("serve", write_job(tmp_path, job), "--json", "--top", "5"))
    assert plan["best"]["hardware"] == "aws:p5.4xlarge" and plan["best"]["sized_by"] == "simulated", plan["best"]


def test_a_tiny_or_huge_figure_reads_in_powers_of_ten(tmp_path, cli):
    """``checkpoint.mtbf_hours_per_node: 1e-300`` (the field's floor is only "above 0": a node that always fails runs
    never finish, and that is the answer) printed "a failure every 0.000...0002 ms" with 297 zeros in `estimate`, and
    `simulate`'s refusal counted "33,862,442,076,...,… MTBFs" over 300 digits."""
    from planner.units import fmt_sig

    assert (fmt_sig(1.8e-297, 1), fmt_sig(6.05e301), fmt_sig(1234.5)) == ("2e-297", "6.05e+301", "1,234")
    job = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9, "global_batch": 64, "seq_len": 4096},
           "parallel": {"tp": 1, "pp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2},
           "checkpoint": {"every_steps": 10, "mtbf_hours_per_node": 1e-300}}
    path = write_job(tmp_path, job)
    code, out, err = cli("estimate", path)
    assert code == 0, err
    assert "never finishes" in out and "0" * 20 not in out, out
    line = refused(cli("simulate", path, "--steps", "20"))
    assert line.startswith("error: checkpoint.mtbf_hours_per_node:") and "3.39e+298 MTBFs" in line and len(line) < 400, line


LONG = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9, "seq_len": 65536, "global_batch": 16},
        "parallel": {"tp": 2, "cp": 4, "pp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}


@pytest.mark.parametrize("stack, field, parallel, model", [
    ("megatron-lm", "parallel.cp", {"tp": 2, "cp": 4, "pp": 1}, "llama3-8b"),
    ("metaseq", "parallel.cp", {"tp": 2, "cp": 4, "pp": 1}, "llama3-8b"),
    ("megatron-lm", "parallel.ep", {"tp": 1, "ep": 8, "pp": 1}, "mixtral-8x7b"),
    ("megatron-lm", "parallel.zero", {"tp": 1, "pp": 1, "zero": 3}, "llama3-8b")])
def test_the_2021_22_codes_refuse_parallelisms_they_never_had(tmp_path, cli, stack, field, parallel, model):
    """`recommend` planned Llama-3-8B at 64K tokens as TP2 CP4 on megatron-lm (Megatron-LM 2021-22, no
    --context-parallel-size) and metaseq, and Mixtral as EP8 on megatron-lm (no --expert-model-parallel-size): layouts
    their launchers do not take; and ZeRO-3 on megatron-lm, whose distributed optimizer is ZeRO-1 (it recommended TP4 DP8
    z3 for that 64K job)."""
    job = json.loads(json.dumps(LONG))
    job["model"]["preset"] = model
    job["training"]["framework"] = stack
    job["parallel"] = parallel
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith(f"error: {field}:") and "refuses" in line, line
    assert any(w in line for w in ("context parallelism", "expert parallelism", "ZeRO-2/3")), line


def test_an_open_search_on_megatron_lm_leaves_context_parallelism_out(tmp_path, cli):
    job = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9, "seq_len": 65536, "global_batch": 16,
                                                          "framework": "megatron-lm"},
           "constraints": {"instances": ["aws:p5.48xlarge"], "max_gpus": 8}}
    plan = answered(cli("recommend", write_job(tmp_path, job), "--json", "--no-simulate", "--top", "1"))
    assert plan["best"]["config"]["cp"] == 1
    assert any("context parallelism" in a and "megatron-lm" in a for a in plan["assumptions"]), plan["assumptions"]


def test_mlm_head_positions_are_refused_on_a_model_without_an_mlm_head(tmp_path, cli):
    """``training.head_tokens_per_seq`` (BERT's masked positions, the only ones its MLM head runs on) was taken on
    llama3-8b, whose head and loss run on every token: at 2 positions its MFU read 58% instead of 54%, nothing said.
    A share of a position (0.5, 1e-300) was taken too."""
    job = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9, "head_tokens_per_seq": 2},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.head_tokens_per_seq:") and "no MLM head" in line, line
    # (on dle-bert, whose head gathers the masked positions: Megatron-Core's BERT runs its head on every position and
    # refuses the field, rule mcore-head-positions, cpmem51)
    bert = {"model": {"preset": "bert-large"},
            "training": {"tokens": 1e9, "seq_len": 128, "global_batch": 256, "head_tokens_per_seq": 20,
                         "framework": "dle-bert", "precision": "fp16"},
            "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 1}}
    code, out, err = cli("estimate", write_job(tmp_path, bert), "--json")
    assert code == 0, err
    bert["training"]["head_tokens_per_seq"] = 0.5
    line = refused(cli("estimate", write_job(tmp_path, bert)))
    assert line.startswith("error: training.head_tokens_per_seq: must be at least 1"), line


def test_a_node_price_in_a_search_is_refused_not_dropped(tmp_path, cli):
    """``cluster.price_usd_hr: 1`` beside ``constraints.clouds: [aws]`` searched AWS's instances at their catalog rates
    ($113.93 a node-hour for the winner) while the JSON said ``price_basis: cluster.price_usd_hr``; one node's price
    does not price 30 instance types, so the field now needs the instance it is for."""
    job = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10},
           "cluster": {"price_usd_hr": 1}, "constraints": {"clouds": ["aws"]}}
    for cmd in ("recommend", "compare"):
        line = refused(cli(cmd, write_job(tmp_path, job), "--no-simulate") if cmd == "recommend"
                       else cli(cmd, write_job(tmp_path, job)))
        assert line.startswith("error: cluster.price_usd_hr:") and "cluster.instance" in line, line
    job["cluster"] = {"price_usd_hr": 1, "instance": "aws:p5.48xlarge"}
    job.pop("constraints")
    best = answered(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json", "--top", "1"))["best"]
    assert best["hardware"]["price_ondemand_usd_hr"] == 1


def test_an_nvlink_speed_applies_to_the_searched_instances(tmp_path, cli):
    """``cluster.intra_node_gbps`` was applied to a fixed instance and dropped in a search (``inter_node_gbps`` was
    kept): 1 GB/s per GPU searched over ``constraints.instances: [aws:p5.48xlarge]`` planned at the catalog's 450."""
    job = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10}, "cluster": {"intra_node_gbps": 1},
           "constraints": {"instances": ["aws:p5.48xlarge"]}}
    searched = answered(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json", "--top", "1"))["best"]
    assert searched["hardware"]["intra_node_gbps_per_gpu"] == 1
    job["cluster"]["instance"] = "aws:p5.48xlarge"
    job.pop("constraints")
    fixed = answered(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json", "--top", "1"))["best"]
    assert fixed["step_time_s"] == pytest.approx(searched["step_time_s"])


@pytest.mark.parametrize("table, row, field", [
    ("instances", "cloud,name,network_gbps\naws,p5.48xlarge,1e-300\n", "instances[0].network_gbps"),
    ("gpus", "name,hbm_tbps,bf16_tflops\nH100-SXM-80GB,1e-300,1e-300\n", "gpus[0].hbm_bw_tbps"),
    ("gpus", "name,bf16_tflops\nH100-SXM-80GB,1e-300\n", "gpus[0].bf16_tflops")])
def test_a_catalog_speed_next_to_nothing_is_refused(tmp_path, cli, table, row, field):
    """A catalog override's speeds were only "above 0": ``network_gbps`` 1e-300 estimated a 7e294-year step with numpy's
    overflow warning on stderr, ``bf16_tflops`` and ``hbm_tbps`` 1e-300 a 4.5e295-year one at "59% MFU". The floor is
    the job fields' (hardware_catalog.bounds.RATE_FLOOR); at it the step is finite."""
    over = tmp_path / "mine.csv"
    over.write_text(row)
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9, "global_batch": 64},
                               "parallel": {"tp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}})
    line = refused(cli("estimate", job, "--catalog", over))
    assert line.startswith("error: catalog override mine.csv: " + field) and "0.001" in line, line
    over.write_text(row.replace("1e-300", "0.001"))
    code, out, err = cli("estimate", job, "--catalog", over, "--json")
    assert code == 0 and "Warning" not in err, err
    assert json.loads(out)["step_time_s"] < 1e12


def _h100_profile(tmp_path, **fit):
    """A calibration profile of an H100 (the CPU example's fits, re-fingerprinted), with ``fit`` replacing fits."""
    from conftest import ROOT

    prof = json.loads((ROOT / "planner" / "hardware" / "profiles" / "cpu-ci-example.json").read_text())
    prof["fingerprint"].update(device="cuda", device_name="NVIDIA H100 80GB HBM3", catalog_gpu="H100-SXM-80GB")
    fitted = prof["fitted"]
    for k in ("peak_flops", "gemm_table", "by_dtype", "primary_dtype", "sm_count", "hbm_peak_bw", "decode_s_per_sample",
              "storage_read_bw", "gemm_k_half"):
        fitted.pop(k, None)
    fitted.update(gemm_max=0.7, hbm=0.8, hbm_bw=3e12, attn_fwd=0.5, attn_bwd=0.4, intra_busbw=3e11, intra_alpha_s=1e-5)
    fitted.update(fit)
    path = tmp_path / "h100.json"
    path.write_text(json.dumps(prof))
    return path


@pytest.mark.parametrize("field, tiny, floor, words", [
    ("intra_busbw", 1e-300, 1e6, "must be at least 1,000,000"), ("hbm", 1e-300, 1e-3, "must be at least 0.001")])
def test_a_profile_rate_next_to_nothing_is_refused(tmp_path, cli, field, tiny, floor, words):
    """A calibration profile's bandwidths and efficiencies were only "above 0": ``intra_busbw: 1e-300`` (bytes/s) on
    an H100 TP8 job overflowed the step into NaN, "error: internal error (ValueError): cannot convert float NaN to
    integer" after numpy's overflow warnings; ``hbm: 1e-300`` estimated a 2e292-year step. The floors (1 MB/s, a tenth
    of a percent) give finite plans."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9, "global_batch": 64},
                               "parallel": {"tp": 8}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    line = refused(cli("estimate", job, "--profile", _h100_profile(tmp_path, **{field: tiny})))
    assert line.startswith(f"error: --profile.fitted.{field}: {words}"), line
    code, out, err = cli("estimate", job, "--profile", _h100_profile(tmp_path, **{field: floor}), "--json")
    assert code == 0 and "Warning" not in err, err
    assert 0 < json.loads(out)["step_time_s"] < 1e9


def test_measured_attention_rates_the_step_does_not_use_are_said(tmp_path, cli):
    """A profile's attn_fwd / attn_bwd were listed under "measured efficiencies" while the Megatron-Core step prices its
    cuDNN kernel on H100 from published rates (physics.ATTN_KERNELS): 0.01 and 0.5 gave the same 4.48 s step."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9, "global_batch": 64},
                               "parallel": {"tp": 8}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    steps = []
    for rate in (0.01, 0.5):
        prof = _h100_profile(tmp_path, attn_fwd=rate, attn_bwd=rate)
        res = answered(cli("estimate", job, "--profile", prof, "--json"))
        steps.append(res["step_time_s"])
        inp = res["inputs"]
        assert "attn_fwd" not in inp["efficiencies_measured"] and "gemm_max" in inp["efficiencies_measured"], inp
        assert inp["efficiencies_measured_unused"] == ["attn_fwd", "attn_bwd"] and "ATTN_KERNELS" in \
            inp["efficiencies_measured_unused_why"], inp
    assert steps[0] == pytest.approx(steps[1])  # the case: the rates are not used
    code, out, err = cli("estimate", job, "--profile", _h100_profile(tmp_path))
    assert "measured but not used: attn_fwd, attn_bwd" in " ".join(out.split()), out
