"""Hostile input on session 49's new inputs (fuzz49b), end to end through the CLI: ``training.framework.offload_device``
(cpu / nvme / nonsense, on every stack and ZeRO stage, with and without an offload, on an instance with local NVMe and
a bare GPU), padded batches (``training.packing: padded`` with hostile ``mean_example_tokens``), a LoRA at ``precision:
fp32`` over each ``base_weights`` (int8 under FSDP), ``cluster.nvlink_topology: xgmi-full-mesh`` / ``hybrid-cube-mesh``
on parts with and without the links, under ``estimate`` and ``recommend``; expert-parallel serving replicas across
nodes (``parallel.ep`` past, at and off a node's multiple, ``serving.all2all_backend`` on IB / RoCE / EFA / Ethernet)
under ``serve``; an instances override's ``local_nvme_tb`` cell through ``--catalog`` and ``$PLANNER_CATALOG``; and the
app's stack-option controls (``planner.interactive.with_stack_options``) with hostile values, in-process.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON, or one line ``error:
<field>: <message>``, exit 2; no traceback, nothing left behind), the user's files byte for byte as they were; in
process, ``with_stack_options`` returns a section the job loader takes or refuses by field (``InputError``), nothing
else raised."""
from __future__ import annotations

import copy
import json
import os
from unittest import mock

import pytest

pytest.importorskip("hypothesis")
from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_fuzz_cli import (TINY_DENSE, TINY_MOE, check_outcome, fuzz_settings, job_file, refused_on,  # noqa: E402
                           run_cli, stray)

from planner import interactive as wi  # noqa: E402
from planner.errors import InputError  # noqa: E402

HOSTILE = [None, 0, -1, 1.5, 2**63, float("nan"), float("inf"), "", "yes", "é\u202e", "\x1b[31m", True, [], {}, [1]]
TRAIN = {"seq_len": 1024, "global_batch": 64, "tokens": 1e9}



# ------------------------------------------------------------------------ pinned: a bf16 base on a part without bf16
FP32_LORA = {"model": {"preset": "gpt2"},
             "training": {**TRAIN, "mode": "lora", "precision": "fp32", "base_weights": "bf16"}}


def test_a_bf16_base_on_a_part_without_bf16_names_base_weights(tmp_path):
    """A LoRA at fp32 over a bf16 base runs the base in bf16 (finetune.base_math_precision), which a V100 has no peak
    for: refused as "training.precision: V100-SXM2-16GB has no bf16 peak ...; set training.precision to fp16", of a
    job that gave fp32, until fuzz49b. Left to its default (fp32 at precision fp32), the base plans."""
    p = tmp_path / "job.json"
    cluster = {"gpu": "V100", "gpus_per_node": 8, "nodes": 1}
    p.write_text(json.dumps({**FP32_LORA, "cluster": cluster}))
    refused_on(*run_cli("estimate", p, "--json"), "training.base_weights", "V100-SXM2-16GB has no bf16 peak",
             "base_weights: fp32")
    job = copy.deepcopy(FP32_LORA)
    del job["training"]["base_weights"]
    p.write_text(json.dumps({**job, "cluster": cluster}))
    code, out, err = run_cli("estimate", p, "--json")
    assert code == 0 and json.loads(out), err


@pytest.mark.parametrize("gpus, plans", [(["V100", "A100"], True), (["V100", "T4"], False)])
def test_a_search_leaves_out_the_parts_without_the_bases_math(tmp_path, gpus, plans):
    """A search over [V100, A100] ended in the V100's bf16 refusal (on ``training.precision``), the A100 plans never
    ranked, until fuzz49b: the V100 is left out by name, as a GPU without the training precision is; with no GPU left,
    the base's storage is refused."""
    p = tmp_path / "job.json"
    p.write_text(json.dumps({**FP32_LORA, "constraints": {"max_gpus": 8, "gpus": gpus}}))
    code, out, err = run_cli("recommend", p, "--no-simulate", "--top", "1", "--json")
    if not plans:
        refused_on(code, out, err, "training.base_weights", "T4-16GB, V100-SXM2-16GB have no bf16 peak")
        return
    assert code == 0, err
    got = json.loads(out)
    assert {r["gpu"] for r in got["pareto"]} and all(r["gpu"].startswith("A100") for r in got["pareto"]), got["pareto"]
    assert "left out: V100-SXM2-16GB: no bf16 peak" in got["assumptions"]


# ------------------------------------------------------------------------ fuzzed: the training stack's new inputs
@st.composite
def stack_jobs(draw):
    """A training job with session 49's training inputs drawn, often hostile or against each other: an NVMe offload
    on a stack without it, at ZeRO 1, with no offload on, on a bare GPU; padding with a mean example past seq_len,
    zero, NaN; a LoRA at fp32 over an int8 base under FSDP; the xGMI mesh on an NVIDIA part."""
    t = dict(TRAIN)
    fw = {"name": draw(st.sampled_from(["deepspeed", "deepspeed", "hf-trainer", "torchtitan", "megatron-core", "auto"]))}
    for k in draw(st.lists(st.sampled_from(["offload_device", "optimizer_offload", "param_offload"]), max_size=3,
                           unique=True)):
        fw[k] = draw({"offload_device": st.sampled_from(["nvme", "nvme", "cpu", "NVME", "disk"] + HOSTILE),
                      "optimizer_offload": st.sampled_from([True, True, False, None, "x"]),
                      "param_offload": st.sampled_from([True, False, None])}[k])
    t["framework"] = fw
    if draw(st.booleans()):  # padded examples, a dataset of them
        t.pop("tokens")
        t.update(packing=draw(st.sampled_from(["padded", "padded", "packed", "concatenated", "PADDED", 1, None])),
                 epochs=draw(st.sampled_from([1, 1, 0.5, 0, float("nan")])),
                 dataset_samples=draw(st.sampled_from([10_000, 1, 0])),
                 mean_example_tokens=draw(st.sampled_from([300, 1024, 5000, 1, 0.5, 0, -1, 1 << 24, (1 << 24) + 1,
                                                           float("nan"), float("inf"), "300", True, None])))
    if draw(st.booleans()):  # a LoRA over a drawn base
        t["mode"] = draw(st.sampled_from(["lora", "lora", "qlora"]))
        t["precision"] = draw(st.sampled_from(["fp32", "fp32", "bf16", "fp16", "fp8", "int8", None]))
        t["base_weights"] = draw(st.sampled_from(["bf16", "fp32", "int8", "int8", "nf4", "fp16", "", None]))
        t = {k: v for k, v in t.items() if v is not None}
    model = draw(st.sampled_from([TINY_DENSE, TINY_DENSE, {"preset": "gpt2"}, {"preset": "llama3-8b"}, TINY_MOE]))
    job = {"model": model, "training": t}
    hw = draw(st.sampled_from(["p4d", "p4d", "mi300x", "mi325x", "h100", "v100", "l4", "searched"]))
    if hw == "p4d":  # 8 TB of local NVMe
        job["cluster"] = {"instance": "aws:p4d.24xlarge", "nodes": draw(st.sampled_from([1, 2]))}
    elif hw == "searched":
        job["cluster"] = {"gpu": draw(st.sampled_from(["A100", "H100", "MI300X"]))}
        job["constraints"] = {"max_gpus": 16}
    else:
        gpu = {"mi300x": "MI300X", "mi325x": "MI325X", "h100": "H100", "v100": "V100", "l4": "L4"}[hw]
        job["cluster"] = {"gpu": gpu, "gpus_per_node": draw(st.sampled_from([8, 8, 4, 16])), "nodes": 1}
        if gpu == "V100":
            t.setdefault("precision", "fp16")
    if draw(st.booleans()):
        job["cluster"]["nvlink_topology"] = draw(st.sampled_from(["xgmi-full-mesh", "xgmi-full-mesh", "hybrid-cube-mesh",
                                                                  "switch", "XGMI", "", None, 8]))
    if draw(st.booleans()):
        job["parallel"] = {"zero": draw(st.sampled_from([0, 1, 2, 3, 3, 3]))}
    return job


@fuzz_settings(30)
@given(job=stack_jobs())
@example(job={**FP32_LORA, "cluster": {"gpu": "V100", "gpus_per_node": 8, "nodes": 1}})  # named precision until fuzz49b
def test_fuzz_training_stack_fields(tmp_path_factory, job):
    p = job_file(tmp_path_factory, "stack49b", job)
    args = (("recommend", p, "--no-simulate", "--top", "2", "--json") if "constraints" in job else
            ("estimate", p, "--json"))
    code, out, err = run_cli(*args)
    line = check_outcome(code, out, err)
    if line is not None:
        assert "internal" not in line, line
    if line is not None and line.startswith("error: training.precision: ") and " has no " in line:
        # a peak the job's precision lacks, not one its frozen base runs at (fuzz49b: "no bf16 peak" of an fp32 job)
        assert line.split(" has no ")[1].split()[0] == job["training"].get("precision", "bf16"), line
    topology = job["cluster"].get("nvlink_topology")
    if code == 0 and topology == "xgmi-full-mesh":  # the xGMI mesh joins Infinity Fabric parts only
        assert job["cluster"].get("gpu") in ("MI300X", "MI325X"), job
    assert stray(p.parent, {p.name}) == []


# ------------------------------------------------------------------------ fuzzed: expert parallelism across nodes
@st.composite
def ep_serve_jobs(draw):
    """A wide MoE served on 8-GPU nodes with ``parallel.ep`` drawn at, past and off a node's multiple, a fabric of each
    family (or none, or nonsense) and ``serving.all2all_backend`` beside it."""
    model = dict(TINY_MOE, moe={"experts": draw(st.sampled_from([64, 64, 16, 8, 2])), "top_k": 2})
    s = {"p99_latency_ms": 200.0, "prompt_tokens": 128, "output_tokens": 32,
         **draw(st.sampled_from([{"qps": 5.0}, {"replicas": 2}, {"mode": "batch", "requests": 1e5}]))}
    for k in draw(st.lists(st.sampled_from(["all2all_backend", "expert_parallel"]), max_size=2, unique=True)):
        s[k] = draw({"all2all_backend": st.sampled_from(["deepep_low_latency", "deepep_low_latency",
                                                         "allgather_reducescatter", "deepep_high_throughput"] + HOSTILE),
                     "expert_parallel": st.sampled_from([True, True, False, "x"])}[k])
    cluster = {"gpu": draw(st.sampled_from(["H100", "H100", "H200", "MI300X", "L4", "A100"])),
               "gpus_per_node": draw(st.sampled_from([8, 8, 4, 1])), "nodes": draw(st.sampled_from([1, 2, 4, 8]))}
    if draw(st.booleans()):
        cluster["fabric"] = draw(st.sampled_from(["IB-NDR", "RoCE-1600", "EFA-v2-p5", {"gbps_per_gpu": 100,
                                                  "family": "ethernet"}, {"gbps_per_gpu": 400, "family": "efa"},
                                                  {"gbps_per_gpu": 400, "family": "roce", "latency_us": 1e5}, "x"]))
    job = {"model": model, "serving": s, "cluster": cluster}
    if draw(st.integers(0, 3)) > 0:
        job["parallel"] = {"ep": draw(st.sampled_from([8, 16, 32, 64, 12, 24, 6, 128, 1 << 20, 0, -8, 16.5, "16"]))}
        if draw(st.booleans()):
            job["parallel"]["tp"] = draw(st.sampled_from([1, 2, 8]))
    return job


@fuzz_settings(25)
@given(job=ep_serve_jobs(), fmt=st.sampled_from(["json", "csv"]))
def test_fuzz_expert_parallel_across_nodes(tmp_path_factory, job, fmt):
    p = job_file(tmp_path_factory, "ep49b", job)
    code, out, err = run_cli("serve", p, "--no-simulate", "--top", "2", f"--{fmt}")
    line = check_outcome(code, out, err, json_out=fmt == "json")
    if line is not None:
        assert "internal" not in line, line
    if code == 0 and fmt == "json":
        assert json.loads(out)["options"]
    assert stray(p.parent, {p.name}) == []


# ------------------------------------------------------------------------ fuzzed: an override's local NVMe
NVME_CELLS = ["", "8", "0", "-1", "nan", "inf", "1e4", "1e5", "1e-300", "x", " 8 ", "8 TB", "\ufeff8", "é\u202e",
              "\x1b[31m", "=1+1", "0x10", "1_000"]
OVER_HEADER = "cloud,name,gpu,gpu_count,ram_gib,price_ondemand_usd_hr,source,local_nvme_tb"
NVME_JOB = {"model": {"preset": "llama3-8b"}, "training": {**TRAIN, "framework": {
    "name": "deepspeed", "offload_device": "nvme", "optimizer_offload": True, "param_offload": True}},
    "parallel": {"zero": 3}, "cluster": {"instance": "x:nv8", "nodes": 1}}


@fuzz_settings(25)
@given(cell=st.sampled_from(NVME_CELLS), ram=st.sampled_from(["1152", "16", ""]),
       cmd=st.sampled_from(["catalog", "estimate", "recommend"]), via=st.sampled_from(["--catalog", "env"]),
       end=st.sampled_from(["\n", "\r\n"]))
def test_fuzz_override_local_nvme(tmp_path_factory, cell, ram, cmd, via, end):
    d = tmp_path_factory.mktemp("nvme49b")
    over = d / "over.csv"
    data = end.join([OVER_HEADER, f'x,nv8,A100-SXM4-40GB,8,{ram},32.77,me,"{cell}"', ""]).encode()
    over.write_bytes(data)
    job = d / "job.json"
    doc = copy.deepcopy(NVME_JOB)
    if cmd == "recommend":  # the search opens the device (QA 93: nvme tried where host RAM refuses cpu)
        del doc["training"]["framework"]["offload_device"]
        doc["cluster"] = {"gpu": "A100-SXM4-40GB"}
        doc["constraints"] = {"instances": ["x:nv8"], "max_gpus": 8}
    job.write_text(json.dumps(doc))
    args = {"catalog": ["catalog", "instances", "--cloud", "x", "--json"],
            "estimate": ["estimate", str(job), "--json"],
            "recommend": ["recommend", str(job), "--no-simulate", "--top", "1", "--json"]}[cmd]
    env = {"PLANNER_CATALOG": str(over)} if via == "env" else {}
    with mock.patch.dict(os.environ, env):  # (restored after, as it was)
        code, out, err = run_cli(*args, *([] if env else ["--catalog", str(over)]), cwd=d)
    line = check_outcome(code, out, err)
    if line is not None:
        assert "internal" not in line, line
        if "local_nvme_tb" in line:  # a bad cell is the file's fault, named by its origin (QA 89)
            assert line.startswith("error: PLANNER_CATALOG: " if via == "env" else "error: catalog override over.csv: ")
    assert over.read_bytes() == data and job.read_text() == json.dumps(doc)
    assert stray(d, {over.name, job.name}) == []


# ------------------------------------------------------------------------ fuzzed in-process: the stack controls
STACK_JOBS = [
    {"model": {"preset": "llama3-8b"}, "training": {**TRAIN, "framework": "torchtitan"},
     "parallel": {"zero": 3}, "cluster": {"gpu": "H100", "gpus_per_node": 8, "nodes": 1}},
    {"model": {"preset": "llama3-8b"}, "training": {**TRAIN, "framework": {"name": "deepspeed", "param_offload": True}},
     "parallel": {"zero": 3}, "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 1}},
    {"model": {"preset": "gpt2"}, "training": {**TRAIN, "mode": "lora", "precision": "fp32", "base_weights": "bf16"},
     "cluster": {"gpu": "A100", "gpus_per_node": 1, "nodes": 1}},
    {"model": TINY_DENSE, "training": {**TRAIN, "framework": "auto"}, "cluster": {"gpu": "H100"}},
    {"model": TINY_DENSE, "training": {**TRAIN, "framework": {"name": "deepspeed", "offload_device": "nvme",
                                                              "optimizer_offload": True}},
     "cluster": {"gpu": "MI300X", "gpus_per_node": 8, "nodes": 1, "nvlink_topology": "xgmi-full-mesh"}},
]
OPTIONS = list(wi.STACK_OPTION_LABELS) + ["offload_device", "name", "bogus", ""]
VALUES = ["nvme", "cpu", "on", "off", "auto", "async_tp", "tensorwise", "attention_core"] + HOSTILE


@fuzz_settings(60)
@given(i=st.sampled_from(range(len(STACK_JOBS))),
       section=st.sampled_from([None, "keep", "keep", "deepspeed", "", 3, [], {}, {"name": ["x"]}, {"name": None},
                                {"offload_device": "nvme", "param_offload": True}, {"name": "deepspeed", "bogus": 1}]),
       name=st.sampled_from([None, None, "deepspeed", "torchtitan", "hf-trainer", "auto", "nope", ""]),
       options=st.dictionaries(st.sampled_from(OPTIONS), st.sampled_from(VALUES), max_size=4))
def test_fuzz_with_stack_options(i, section, name, options):
    """What the sidebar writes, read back by the job loader: a job or a refusal naming the field, never another error;
    the caller's job and options untouched; no option given is the job's own section."""
    doc = copy.deepcopy(STACK_JOBS[i])
    if section != "keep":
        doc["training"]["framework"] = section
    if section is None:
        del doc["training"]["framework"]
    before, opts_before = copy.deepcopy(doc), copy.deepcopy(options)
    for c in wi.stack_controls(doc, name):  # the controls drawn for the job: each start value among its choices
        if c.kind == "select":
            assert c.value in c.choices and c.word(c.value)
        elif c.kind == "number" and c.value is not None:  # a typed input (QA 96): empty, or within its bounds
            lo, hi = c.bounds
            assert (lo is None or c.value >= lo) and (hi is None or c.value <= hi), c
    got = wi.with_stack_options(doc, options)
    assert doc == before and options == opts_before
    if not options:
        assert got == doc["training"].get("framework")
    built = copy.deepcopy(doc)
    if got is None:
        built["training"].pop("framework", None)
    else:
        built["training"]["framework"] = got
    try:
        wi.build_job(built, None)
    except InputError as e:
        assert str(e).split(": ")[0], e
