"""Hostile input on session 49 / 50's new inputs (fuzz50), end to end through the CLI in-process: DeepSpeed's NVMe swap
rate (``training.framework.offload_device: nvme`` with ``nvme_stripe`` / ``nvme_gbps``, on instances with and without
a drive count, an override row's ``local_nvme_drives`` cell), a LoRA's ``base_weights`` beside every ``precision``
(QA 91's base math), padded batches (``packing: padded`` with ``mean_example_tokens``), expert-parallel serving across
the nodes of a catalog instance, ``cluster.fabric``'s ``latency_us``, and the xGMI / cube mesh on a user catalog's rows
through ``$PLANNER_CATALOG``; under ``estimate``, ``recommend`` (small; ``--csv <path>``) and ``serve``.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON, or one line ``error:
<field>: <message>``, exit 2; no traceback, nothing else left in the job's folder: a refused ``--csv`` path is not
written); a refusal on a drawn field names that field (or the section it sits in)."""
from __future__ import annotations

import copy
import json
import os
import warnings
from unittest import mock

import pytest

pytest.importorskip("hypothesis")
from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_fuzz_cli import (TINY_DENSE, TINY_MOE, check_outcome, fuzz_settings, job_file, refused_on,  # noqa: E402
                           run_cli, stray)

HOSTILE = [None, 0, -1, -0.0, 1e-300, 2**63, 1e308, float("nan"), float("inf"), float("-inf"), "", "x" * 300,
           "yes", "é\u202e", "\x1b[31m", True, [], {}, [1], "3"]
TRAIN = {"seq_len": 1024, "global_batch": 64, "tokens": 1e9}


def _run(cmd, p, csv_out=None, cwd=None):
    """``estimate --json``, a small ``recommend`` (``--csv <csv_out>`` where given, else ``--json``) or ``serve``."""
    args = {"estimate": ("estimate", p, "--json"),
            "recommend": ("recommend", p, "--no-simulate", "--top", "2",
                          *(("--csv", csv_out) if csv_out else ("--json",))),
            "serve": ("serve", p, "--no-simulate", "--top", "2", "--json")}[cmd]
    with warnings.catch_warnings():  # numpy's overflow of a rate near 0 (fuzz50: nvme_gbps 1e-300) fails the run:
        warnings.simplefilter("error", RuntimeWarning)  # pytest would record it where a user's stderr shows it
        code, out, err = run_cli(*args, cwd=cwd)
    return code, out, err, check_outcome(code, out, err, json_out=not csv_out)


def _names_a_field(line, *fields):
    """A refusal's field is one the job drew (or the section holding it), never an internal error."""
    assert "internal" not in line, line
    field = line.split(": ")[1]
    if field == "memory":  # nothing fits: the job's size, no one field's fault
        return
    assert any(field == f or field.startswith(f) or f.startswith(field) for f in fields), (line, fields)


def _training_run(tmp_path_factory, tag: str, job: dict, *fields: str) -> None:
    """``job`` run as ``recommend`` (with ``--csv``) where it has constraints, else ``estimate``: an answer, or one
    ``error:`` line naming one of ``fields``; nothing left beside the job file but an answered search's CSV."""
    p = job_file(tmp_path_factory, tag, job)
    cmd = "recommend" if "constraints" in job else "estimate"
    code, out, err, line = _run(cmd, p, csv_out=p.parent / "out.csv" if cmd == "recommend" else None)
    if line is not None:
        _names_a_field(line, *fields)
    assert stray(p.parent, {p.name} | ({"out.csv"} if code == 0 and cmd == "recommend" else set())) == []


# ------------------------------------------------------------------------ DeepSpeed's NVMe swap rate
NVME_JOB = {"model": {"preset": "llama3-8b"}, "training": {**TRAIN, "framework": {
    "name": "deepspeed", "offload_device": "nvme", "optimizer_offload": True, "param_offload": True}},
    "parallel": {"zero": 3}, "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 1}}


@pytest.mark.parametrize("gbps", [1e-300, 1e-4])
def test_an_nvme_rate_below_the_rate_floor_is_refused(tmp_path, gbps):
    """``nvme_gbps`` was only "more than 0" until fuzz50: 1e-300 estimated a 2.6e302 s step (81.8 years at 1e-7), with
    numpy's overflow warning on stderr, where every other rate a job gives is floored at MIN_RATE (1 MB/s). At the
    floor the step is finite."""
    p = tmp_path / "job.json"
    job = copy.deepcopy(NVME_JOB)
    job["training"]["framework"]["nvme_gbps"] = gbps
    p.write_text(json.dumps(job))
    code, out, err = run_cli("estimate", p, "--json")
    refused_on(code, out, err, "training.framework.nvme_gbps", "at least 0.001")
    job["training"]["framework"]["nvme_gbps"] = 0.001
    p.write_text(json.dumps(job))
    code, out, err = run_cli("estimate", p, "--json")
    assert code == 0 and "RuntimeWarning" not in err, err[-1000:]
    assert 0 < json.loads(out)["step_time_s"] < 1e7

NVME_INSTANCES = ["aws:p4d.24xlarge", "aws:p5.48xlarge", "azure:Standard_ND96isr_H100_v5", "aws:g5.48xlarge",
                  "aws:p3.16xlarge", "x:nv8", "bare"]
DRIVE_CELLS = ["", "8", "1", "0", "-1", "nan", "inf", "1.5", "1e9", "x", "8 drives", "\ufeff8", "é\u202e"]
OVER_HEADER = "cloud,name,gpu,gpu_count,ram_gib,price_ondemand_usd_hr,source,local_nvme_tb,local_nvme_drives"


@st.composite
def nvme_jobs(draw):
    sane = draw(st.integers(0, 3)) > 0  # most jobs valid but for the rate, so the rate reaches the plan
    fw = {"name": "deepspeed" if sane else draw(st.sampled_from(["deepspeed", "hf-trainer", "torchtitan"]))}
    fw["offload_device"] = "nvme" if sane else draw(st.sampled_from(["nvme", "cpu", None]))
    fw["optimizer_offload"] = True if sane else draw(st.sampled_from([True, False]))
    fw["param_offload"] = draw(st.sampled_from([True, False]))
    k = draw(st.sampled_from(["nvme_stripe", "nvme_gbps", "both"]))
    if k in ("nvme_stripe", "both"):
        fw["nvme_stripe"] = draw(st.sampled_from(["drives", "drives", "drives", "one"] + (
            [] if sane else ["DRIVES", "raid0"] + HOSTILE)))
    if k in ("nvme_gbps", "both"):
        fw["nvme_gbps"] = draw(st.sampled_from([12, 0.5, 1e4, 24.0, 0.001] + (
            [1e4 + 1, "12"] + HOSTILE if not sane or draw(st.booleans()) else [])))
    fw = {k: v for k, v in fw.items() if v is not None or k in ("nvme_stripe", "nvme_gbps")}
    job = {"model": draw(st.sampled_from([{"preset": "llama3-8b"}, TINY_DENSE, {"preset": "llama3-70b"}])),
           "training": {**TRAIN, "framework": fw}, "parallel": {"zero": 3 if sane else draw(st.sampled_from([3, 2, 0]))}}
    inst = draw(st.sampled_from(NVME_INSTANCES))
    job["cluster"] = ({"gpu": "A100", "gpus_per_node": 8, "nodes": 1} if inst == "bare" else
                      {"instance": inst, "nodes": draw(st.sampled_from([1, 1, 2]))})
    return job


@fuzz_settings(25)
@given(job=nvme_jobs(), cmd=st.sampled_from(["estimate", "estimate", "recommend"]),
       cell=st.one_of(st.sampled_from(["", "8", "1"]), st.sampled_from(DRIVE_CELLS)))
@example(job={"model": {"preset": "llama3-8b"}, "training": {**TRAIN, "framework": {
    "name": "deepspeed", "offload_device": "nvme", "optimizer_offload": True, "nvme_stripe": "drives"}},
    "parallel": {"zero": 3}, "cluster": {"instance": "x:nv8", "nodes": 1}}, cmd="estimate", cell="1e9")
def test_fuzz_nvme_rate(tmp_path_factory, job, cmd, cell):
    p = job_file(tmp_path_factory, "nvme50", job)
    over = p.parent / "over.csv"
    data = "\n".join([OVER_HEADER, f'x,nv8,A100-SXM4-40GB,8,1152,32.77,me,8,"{cell}"', ""]).encode()
    over.write_bytes(data)
    if cmd == "recommend":  # the search opens the device (QA 93) and the layout
        job = copy.deepcopy(job)
        job["parallel"].pop("zero")
        p.write_text(json.dumps(job))
    with mock.patch.dict(os.environ, {"PLANNER_CATALOG": str(over)}):
        code, out, err, line = _run(cmd, p, csv_out=p.parent / "out.csv" if cmd == "recommend" else None, cwd=p.parent)
    if line is not None:
        _names_a_field(line, "training.framework", "parallel", "cluster", "PLANNER_CATALOG", "training", "model",
                       "constraints")
    elif cmd == "estimate":
        got = json.loads(out)
        assert got
    assert over.read_bytes() == data
    assert stray(p.parent, {p.name, over.name} | ({"out.csv"} if code == 0 and cmd == "recommend" else set())) == []


# ------------------------------------------------------------------------ a LoRA's base beside its precision
@st.composite
def lora_jobs(draw):
    t = dict(TRAIN)
    t["mode"] = draw(st.sampled_from(["lora", "lora", "qlora", "full", "LoRA"]))
    if draw(st.integers(0, 4)):
        t["precision"] = draw(st.sampled_from(["fp32", "fp32", "bf16", "bf16", "fp16", "fp16", "fp8"] + (
            ["int8", "nf4", "tf32"] + HOSTILE[:8] if draw(st.integers(0, 3)) == 0 else [])))
    if draw(st.integers(0, 4)):
        t["base_weights"] = draw(st.sampled_from(["bf16", "fp32", "fp16", "int8", "nf4"] + (
            ["fp8", "int4"] + HOSTILE if draw(st.integers(0, 3)) == 0 else [])))
    if draw(st.booleans()):
        t["framework"] = draw(st.sampled_from(["hf-trainer", "deepspeed", "torchtitan", "megatron-core", "auto",
                                                {"name": "hf-trainer", "fsdp": True}]))
    model = draw(st.sampled_from([{"preset": "gpt2"}, {"preset": "llama3-8b"}, TINY_DENSE, TINY_MOE,
                                  {"preset": "bert-base"}, {"preset": "resnet50"}]))
    job = {"model": model, "training": t}
    gpu = draw(st.sampled_from(["V100", "T4", "A100", "H100", "MI300X", "L4", "B200", "searched"]))
    if gpu == "searched":
        job["constraints"] = {"max_gpus": 8, "gpus": draw(st.sampled_from([["V100", "A100"], ["T4", "L4"],
                                                                           ["V100", "T4"], ["H100", "MI300X"]]))}
    else:
        job["cluster"] = {"gpu": gpu, "gpus_per_node": draw(st.sampled_from([1, 8])), "nodes": 1}
    return job


@fuzz_settings(30)
@given(job=lora_jobs())
def test_fuzz_lora_base_and_precision(tmp_path_factory, job):
    _training_run(tmp_path_factory, "lora50", job, "training", "model", "cluster", "constraints", "parallel")


@pytest.mark.parametrize("mode", ["lora", "qlora"])
@pytest.mark.parametrize("cmd", ["estimate", "recommend"])
def test_a_lora_of_a_model_without_transformer_layers_is_refused(tmp_path, mode, cmd):
    """LoRA's adapters go on a transformer block's linears: until fuzz50 a QLoRA of resnet50 ended in "internal error
    (TypeError): unsupported operand type(s) for -: 'NoneType' and 'int'" (exit 1) and a LoRA of it was priced as a
    full fine-tune under the LoRA label; now one line on training.mode."""
    p = tmp_path / "job.json"
    job = {"model": {"preset": "resnet50"}, "training": {"global_batch": 64, "steps": 10, "mode": mode}}
    job.update({"cluster": {"gpu": "H100", "gpus_per_node": 1, "nodes": 1}} if cmd == "estimate" else
               {"constraints": {"max_gpus": 8, "gpus": ["H100"]}})
    p.write_text(json.dumps(job))
    code, out, err = run_cli(*((cmd, p, "--json") if cmd == "estimate" else (cmd, p, "--no-simulate", "--json")))
    refused_on(code, out, err, "training.mode", f"{mode} adapts a transformer's linear layers", "resnet50 has no transformer")
    assert stray(tmp_path, {p.name}) == []


# ------------------------------------------------------------------------ padded batches
@st.composite
def padded_jobs(draw):
    t = {"seq_len": draw(st.sampled_from([1024, 1024, 512, 1, 8192])), "global_batch": 64,
         "packing": draw(st.sampled_from(["padded", "padded", "padded", "packed", "concatenated", "Padded"] +
                                         HOSTILE[:6]))}
    for k in draw(st.lists(st.sampled_from(["mean_example_tokens", "dataset_samples", "epochs", "tokens", "steps"]),
                           min_size=1, max_size=4, unique=True)):
        t[k] = draw({"mean_example_tokens": st.sampled_from([300, 1024, 1025, 1, 0.99, 1 << 24] + HOSTILE),
                     "dataset_samples": st.sampled_from([10_000, 1, 1e12, 0.5] + HOSTILE[:10]),
                     "epochs": st.sampled_from([1, 3, 0.01, 1e6] + HOSTILE[:10]),
                     "tokens": st.sampled_from([1e9, 1e15]),
                     "steps": st.sampled_from([100, 1])}[k])
    if draw(st.booleans()):
        t["mode"] = draw(st.sampled_from(["lora", "qlora", "full"]))
    model = draw(st.sampled_from([TINY_DENSE, {"preset": "llama3-8b"}, {"preset": "bert-base"}, {"preset": "resnet50"},
                                  {"preset": "gpt2"}, TINY_MOE]))
    job = {"model": model, "training": t}
    if draw(st.integers(0, 3)):
        job["cluster"] = {"gpu": draw(st.sampled_from(["H100", "A100", "L4"])), "gpus_per_node": 8, "nodes": 1}
    else:
        job["constraints"] = {"max_gpus": 8, "gpus": ["H100"]}
    return job


@fuzz_settings(12)
@given(job=padded_jobs())
def test_fuzz_padded_batches(tmp_path_factory, job):
    _training_run(tmp_path_factory, "pad50", job, "training", "model", "cluster", "constraints")


# ------------------------------------------------------------------------ EP serving across nodes, the fabric's latency
FABRICS = ["IB-NDR", "EFA-v2-p5", {"gbps_per_gpu": 400, "family": "infiniband", "latency_us": 8},
           {"gbps_per_node": 3200, "family": "efa", "latency_us": 1e4}, {"gbps_per_gpu": 100, "family": "ethernet"},
           {"link": "IB-NDR", "latency_us": 5}]
LATENCIES = [8, 0.001, 1e4, 1e4 + 1, "5"] + HOSTILE


@st.composite
def fabric_values(draw):
    f = draw(st.sampled_from(FABRICS))
    if isinstance(f, dict) and draw(st.booleans()):
        f = dict(f, latency_us=draw(st.sampled_from(LATENCIES)))
    return f


@st.composite
def ep_instance_jobs(draw):
    model = draw(st.sampled_from([dict(TINY_MOE, moe={"experts": 64, "top_k": 2}), TINY_MOE, TINY_DENSE,
                                  {"preset": "qwen3-30b-a3b"}, {"preset": "mixtral-8x7b"}]))
    s = {"p99_latency_ms": draw(st.sampled_from([200.0, 2000.0])), "prompt_tokens": 128, "output_tokens": 32,
         **draw(st.sampled_from([{"qps": 5.0}, {"replicas": 2}, {"mode": "batch", "requests": 1e5}]))}
    if draw(st.booleans()):
        s["expert_parallel"] = draw(st.sampled_from([True, True, False]))
    if draw(st.booleans()):
        s["all2all_backend"] = draw(st.sampled_from(["deepep_low_latency", "allgather_reducescatter", "nope"]))
    inst = draw(st.sampled_from(["aws:p5.48xlarge", "aws:p5en.48xlarge", "azure:Standard_ND96isr_H100_v5",
                                 "aws:g6.48xlarge", "aws:p4d.24xlarge", "gcp:a3-megagpu-8g", "aws:g6.xlarge"]))
    cluster = {"instance": inst, "nodes": draw(st.one_of(st.sampled_from([1, 2, 4]),
                                                         st.sampled_from([1 << 17, 0, -1] + HOSTILE[:4])))}
    if draw(st.booleans()):
        cluster["fabric"] = draw(fabric_values())
    job = {"model": model, "serving": s, "cluster": cluster}
    if draw(st.booleans()):
        job["parallel"] = {"ep": draw(st.sampled_from([8, 16, 32, 64, 12, 0, "16", float("nan")]))}
    return job


@fuzz_settings(10)
@given(job=ep_instance_jobs())
@example(job={"model": dict(TINY_MOE, moe={"experts": 64, "top_k": 2}),
              "serving": {"p99_latency_ms": 200.0, "prompt_tokens": 128, "output_tokens": 32, "replicas": 2},
              "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2,
                          "fabric": {"gbps_per_gpu": 400, "family": "efa", "latency_us": 1e4}},
              "parallel": {"ep": 16}})
def test_fuzz_ep_serving_on_instances(tmp_path_factory, job):
    p = job_file(tmp_path_factory, "ep50", job)
    code, out, err, line = _run("serve", p)
    if line is not None:
        _names_a_field(line, "serving", "cluster", "parallel", "model")
    else:
        assert json.loads(out)["options"]
    assert stray(p.parent, {p.name}) == []


@st.composite
def fabric_training_jobs(draw):
    job = {"model": draw(st.sampled_from([{"preset": "llama3-8b"}, TINY_DENSE, TINY_MOE])),
           "training": dict(TRAIN)}
    cluster = draw(st.sampled_from([{"instance": "aws:p5.48xlarge"}, {"gpu": "H100", "gpus_per_node": 8},
                                    {"instance": "aws:g6.xlarge"}, {"gpu": "MI300X", "gpus_per_node": 8},
                                    {"instance": "gcp:tpu-v5litepod-8"}]))
    cluster = dict(cluster, nodes=draw(st.sampled_from([1, 2, 4])), fabric=draw(fabric_values()))
    if draw(st.integers(0, 3)) == 0:
        cluster["inter_node_gbps"] = 400
    job["cluster"] = cluster
    if draw(st.booleans()):
        job["constraints"] = {"max_gpus": 32}
        job["cluster"].pop("nodes")
    return job


@fuzz_settings(12)
@given(job=fabric_training_jobs())
def test_fuzz_fabric_latency(tmp_path_factory, job):
    _training_run(tmp_path_factory, "fab50", job, "cluster", "model", "training", "constraints", "parallel")


# ------------------------------------------------------------------------ meshes on a user catalog's rows
MESH_GPUS = ["MI300X-192GB", "MI325X-256GB", "V100-SXM2-16GB", "A100-SXM-80GB", "H100-SXM-80GB", "L4-24GB"]
MESH_CELLS = ["xgmi-full-mesh", "xgmi-full-mesh", "hybrid-cube-mesh", "hybrid-cube-mesh", "switch", "", "XGMI-FULL-MESH",
              " xgmi-full-mesh", "mesh", "nan", "é\u202e"]
MESH_HEADER = "cloud,name,gpu,gpu_count,ram_gib,network_gbps,fabric,cluster,price_ondemand_usd_hr,source,nvlink_topology"


@st.composite
def mesh_cases(draw):
    if draw(st.booleans()):  # a mesh on the 8-GPU board it describes (the rows a user would write)
        gpu, cell = draw(st.sampled_from([("MI300X-192GB", "xgmi-full-mesh"), ("MI325X-256GB", "xgmi-full-mesh"),
                                          ("V100-SXM2-16GB", "hybrid-cube-mesh"), ("V100-SXM2-32GB", "hybrid-cube-mesh")]))
        n = 8
    else:
        gpu, cell = draw(st.sampled_from(MESH_GPUS)), draw(st.sampled_from(MESH_CELLS))
        n = draw(st.sampled_from([8, 8, 4, 2, 1, 16, 3]))
    row = f'x,m{n},{gpu},{n},2048,3200,infiniband,True,40.0,me,"{cell}"'
    job = {"model": draw(st.sampled_from([{"preset": "llama3-8b"}, TINY_MOE, {"preset": "llama3-70b"}]))}
    cmd = draw(st.sampled_from(["estimate", "recommend", "serve"]))
    if cmd == "serve":
        job["serving"] = {"qps": 2.0, "p99_latency_ms": 2000.0, "prompt_tokens": 256, "output_tokens": 64}
    else:
        job["training"] = dict(TRAIN)
    if cmd == "estimate":
        job["cluster"] = {"instance": f"x:m{n}", "nodes": draw(st.sampled_from([1, 2]))}
        if draw(st.booleans()):
            job["parallel"] = {"tp": draw(st.sampled_from([1, 2, 4, 8, 3]))}
    else:
        job["constraints"] = {"instances": [f"x:m{n}"], "max_gpus": 16}
    if draw(st.integers(0, 3)) == 0:
        job.setdefault("cluster", {})["nvlink_topology"] = draw(st.sampled_from(["xgmi-full-mesh", "hybrid-cube-mesh",
                                                                                 "switch"]))
    return row, job, cmd


@fuzz_settings(12)
@given(case=mesh_cases())
def test_fuzz_mesh_rows_in_a_user_catalog(tmp_path_factory, case):
    row, job, cmd = case
    d = tmp_path_factory.mktemp("mesh50")
    over = d / "over.csv"
    data = "\n".join([MESH_HEADER, row, ""]).encode()
    over.write_bytes(data)
    p = d / "job.json"
    p.write_text(json.dumps(job))
    with mock.patch.dict(os.environ, {"PLANNER_CATALOG": str(over)}):
        code, out, err, line = _run(cmd, p, csv_out=d / "out.csv" if cmd == "recommend" else None, cwd=d)
    if line is not None:
        _names_a_field(line, "PLANNER_CATALOG", "cluster", "constraints", "parallel", "model", "training", "serving")
    assert over.read_bytes() == data
    assert stray(d, {p.name, over.name} | ({"out.csv"} if code == 0 and cmd == "recommend" else set())) == []
