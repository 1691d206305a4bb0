"""Hostile input on sessions 48-50's new inputs (fuzz51), end to end through the CLI in-process: ``model.output_head`` /
``num_labels``, the ``dle-bert`` / ``dle-convnets`` stacks and their rules, ``cluster.fabric`` on TPUs and one node,
the stack options ``ce_chunk_size``, ``cuda_graph_scope``, ``pp_layout``, ``moe_dispatcher`` and ``nvme_gbps``,
expert-parallel serving's fields under a fixed fleet, and the ``report`` shell; under ``estimate``, a small
``recommend``, ``serve`` and ``report``.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON, or one line ``error:
<field>: <message>``, exit 2; no traceback, nothing left in the job's folder but what was asked for).

Found by it (fixed at the root, pinned below; docs/qa_log.md "QA fuzz51"): a fixed fleet's screen read at exactly its
capacity (``serving.replicas: 2`` of a tiny MoE model on 1-L4 nodes, 2,048-token prompts) ended in ``internal error
(ZeroDivisionError): float division by zero``, exit 1: ``occupancy_distribution`` took ``lam x W_c / c``, rounded to
0.9999999999999999, for a steady state whose wait ``occupancy_wait`` divided by ``c / W_c - lam``, exactly 0."""
from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_fuzz50 import HOSTILE  # noqa: E402
from test_fuzz_cli import (TINY_DENSE, TINY_MOE, answer_plans, assert_sane, check_outcome, fuzz_settings,  # noqa: E402
                           job_file, run_cli, stray)

from planner.workloads.serving_queue import occupancy_wait  # noqa: E402


# ------------------------------------------------------------------------ pinned: a queue read at its capacity
def test_a_slot_queue_at_exactly_its_capacity_waits_without_end():
    """lam == c / W_c in floats: lam x W_c / c reads 0.9999999999999999, so the old test took it for a steady state and
    divided by c / W_c - lam = 0 (ZeroDivisionError); at capacity the M/M/c wait is unbounded: (1, inf)."""
    lam, w = 724.3237675084883, 0.1767165537592275  # the fixed fleet's rate and full-batch time in service below
    assert 128 / w - lam == 0.0 and lam * w / 128 < 1.0
    assert occupancy_wait(lam, [w] * 128, 0.5) == (1.0, math.inf)


def test_a_fixed_fleet_screened_at_its_capacity_is_answered(tmp_path):
    """``serve`` of this job ended in ``internal error (ZeroDivisionError): float division by zero``, exit 1, until
    fuzz51 (the screen's replica-count search read the queue at exactly its capacity)."""
    p = tmp_path / "job.json"
    p.write_text(json.dumps({"model": TINY_MOE, "cluster": {"gpu": "L4", "gpus_per_node": 1, "nodes": 1},
                             "serving": {"p99_latency_ms": 2000.0, "prompt_tokens": 2048, "output_tokens": 16,
                                         "replicas": 2}}))
    code, out, err = run_cli("serve", p, "--no-simulate", "--top", "1", "--json")
    assert code == 0 and "Traceback" not in err, err[-1000:]
    assert json.loads(out, parse_constant=pytest.fail)["options"]
    assert stray(tmp_path, {p.name}) == []


# ------------------------------------------------------------------------ the fuzzers
def holds(tmp_path_factory, tag: str, job: dict, cmd: str | None = None) -> None:
    """``job`` under ``cmd`` (``estimate``, a small ``recommend``, ``serve`` or ``simulate``, ``--json``; None:
    ``recommend`` where the job has constraints, else ``estimate``): an answer whose plans are sane (``assert_sane``; a
    simulation's step finite) or one ``error:`` line; nothing left beside the job file."""
    cmd = cmd or ("recommend" if "constraints" in job else "estimate")
    p = job_file(tmp_path_factory, tag, job)
    code, out, err = run_cli(*COMMANDS[cmd](p))
    check_outcome(code, out, err)
    if code == 0 and cmd in ("estimate", "recommend"):
        for plan in answer_plans(json.loads(out)):
            assert_sane(plan)
    elif code == 0 and cmd == "simulate":
        step = json.loads(out)["step_time_s"]  # the simulated steps' mean, p50, p99, std
        assert all(math.isfinite(v) and v >= 0 for v in step.values()) and step["mean"] > 0, step
    assert stray(p.parent, {p.name}) == []


COMMANDS = {"estimate": lambda p: ("estimate", p, "--json"),
            "recommend": lambda p: ("recommend", p, "--no-simulate", "--top", "2", "--json"),
            "serve": lambda p: ("serve", p, "--no-simulate", "--top", "2", "--json"),
            "simulate": lambda p: ("simulate", p, "--json")}
ENCODERS = [{"preset": "bert-base"}, {"preset": "bert-large"}, {"preset": "bert-large", "mlm_head": True},
            {"name": "enc", "family": "encoder", "layers": 2, "hidden": 256, "heads": 4, "vocab": 1000, "type_vocab": 2,
             "position": "learned", "max_positions": 512, "norm": "layernorm", "mlp": "gelu"}]


def hostile_or(good):
    """A value of ``good`` three times in four, else one of fuzz50's ``HOSTILE`` values."""
    return st.integers(0, 3).flatmap(lambda i: st.sampled_from(HOSTILE if i == 0 else good))


@st.composite
def head_jobs(draw):
    """``model.output_head`` / ``num_labels`` on encoders, decoders and CNNs, beside the DLE stacks and others."""
    model = dict(draw(st.sampled_from(ENCODERS * 2 + [{"preset": "gpt2"}, TINY_DENSE, {"preset": "resnet50"}])))
    model["output_head"] = draw(hostile_or(["classifier", "classifier", "classifier", "lm"]))
    if draw(st.integers(0, 3)):
        model["num_labels"] = draw(hostile_or([1, 2, 3, 1000, 1 << 24]))
    t = {"seq_len": draw(st.sampled_from([128, 512])), "global_batch": 64, "steps": 10,
         "precision": draw(st.sampled_from(["fp16", "fp16", "bf16", "fp32", "fp8"]))}
    fw = draw(st.sampled_from([None, "dle-bert", "dle-bert", "dle-convnets", "hf-trainer", "hf-trainer",
                               "megatron-core", "pytorch-ddp", {"name": "dle-bert", "compile": True},
                               {"name": "nemo-automodel", "loss_fn": "masked_ce_chunked", "ce_chunk_size": 4}]))
    if fw is not None:
        t["framework"] = fw
    if draw(st.integers(0, 4)) == 0:
        t["mode"] = draw(st.sampled_from(["lora", "qlora", "full_finetune"]))
    job = {"model": model, "training": t}
    if draw(st.integers(0, 2)):
        job["cluster"] = {"gpu": draw(st.sampled_from(["A100", "H100", "V100"])), "gpus_per_node": 8, "nodes": 1}
        if draw(st.booleans()):
            job["parallel"] = draw(st.sampled_from([{"tp": 2}, {"pp": 2}, {"zero": 3}, {"tp": 1, "pp": 1, "dp": 8}]))
    else:
        job["constraints"] = {"max_gpus": 8, "gpus": ["A100"]}
    return job


@fuzz_settings(30)
@given(job=head_jobs())
def test_fuzz_output_head_and_dle_stacks(tmp_path_factory, job):
    holds(tmp_path_factory, "head51", job)


#: the options each stack takes (the others' are drawn one time in six: a refusal on the option's own field)
OPTION_OWNERS = {"megatron-core": ["cuda_graph_scope", "pp_layout", "moe_dispatcher"],
                 "nemo": ["cuda_graph_scope", "moe_dispatcher"], "megatron-bridge": ["cuda_graph_scope", "pp_layout"],
                 "nemo-automodel": ["ce_chunk_size", "moe_dispatcher"], "deepspeed": ["nvme_gbps"]}


@st.composite
def option_jobs(draw):
    """Session 48-50's Megatron-Core / NeMo AutoModel / DeepSpeed options, mostly on a stack that has them, with hostile
    values one time in four."""
    stack = draw(st.sampled_from(["megatron-core", "megatron-core", "nemo", "megatron-bridge", "nemo-automodel",
                                  "deepspeed"]))
    owned = OPTION_OWNERS[stack] if draw(st.integers(0, 5)) else sorted({o for v in OPTION_OWNERS.values() for o in v})
    fw = {"name": stack}
    model = dict(TINY_MOE if draw(st.booleans()) else TINY_DENSE)
    parallel = draw(st.sampled_from([{}, {"pp": 2}, {"tp": 2},
                                     *([{"ep": 8}, {"pp": 2, "ep": 4}] if "moe" in model else [])]))
    for k in draw(st.lists(st.sampled_from(owned), min_size=1, max_size=2, unique=True)):
        if k == "ce_chunk_size":
            fw.update(loss_fn="masked_ce_chunked", ce_chunk_size=draw(hostile_or([1, 3, 1024, 1 << 24])))
        elif k == "cuda_graph_scope":
            fw["cuda_graph_impl"] = draw(st.sampled_from(["transformer_engine", "transformer_engine", "local"]))
            fw[k] = draw(hostile_or([["attn"], ["mlp", "attn"], ["moe_router", "moe_preprocess"], ["moe"],
                                      ["full_iteration"], ["attn", "attn"], [], ["mamba"], "attn", [None]]))
        elif k == "pp_layout":
            layout, pp = draw(st.sampled_from([("Et|t|t|tL", 4), ("E|tt|tt|L", 4), ("Ettt|tL", 2), ("E|t*4|L", 3),
                                               ("E|(t|)*3tL", 4), ("Ett|ttmL", 2), ("Ettt|t|mL", 3), ("|", 2),
                                               ("tttt", 1), ("E|t*0|ttttL", 3), ("E|t*-1|L", 3),
                                               ("E(t|)*99999999999999999999L", 2), ("E|t\x00|ttL", 3),
                                               ("E|t*\u0663|tL", 3)]))
            fw[k] = draw(hostile_or([layout]))
            parallel = {"pp": pp}
            if "m" in layout:
                model["mtp_layers"] = 1
        elif k == "moe_dispatcher":
            fw[k] = draw(hostile_or(["alltoall", "deepep", "hybridep", "deepep", "flex"]))
        else:
            fw.update(offload_device="nvme", optimizer_offload=True, nvme_gbps=draw(hostile_or([0.001, 3, 12.5, 1e4])))
            parallel = {"zero": 3}
    job = {"model": model, "training": {"seq_len": 1024, "global_batch": 64, "steps": 10,
                                        "precision": draw(st.sampled_from(["bf16", "bf16", "fp8"])), "framework": fw}}
    if draw(st.integers(0, 2)):
        job["cluster"] = {"gpu": draw(st.sampled_from(["H100", "B200", "A100"])), "gpus_per_node": 8,
                          "nodes": draw(st.sampled_from([1, 2]))}
        job["parallel"] = parallel
    else:
        job["constraints"] = {"max_gpus": 8, "gpus": ["H100"]}
    return job


@fuzz_settings(24)
@given(job=option_jobs())
def test_fuzz_stack_options_of_sessions_48_to_50(tmp_path_factory, job):
    holds(tmp_path_factory, "opt51", job)


FABRICS = ["IB-NDR", "EFA-v2-p5", "RoCE-400", {"gbps_per_gpu": 400, "family": "infiniband", "latency_us": 5},
           {"gbps_per_node": 3200, "family": "efa"}, {"link": "IB-NDR", "latency_us": 5}, {"family": "ici"},
           {"gbps_per_gpu": float("nan"), "family": "efa"}]
FABRIC_CLUSTERS = [{"gpu": "TPU-v6e", "gpus_per_node": 4}, {"instance": "gcp:tpu-v6e-64"},
                   {"instance": "gcp:tpu-v5litepod-8"}, {"gpu": "H100", "gpus_per_node": 8},
                   {"instance": "aws:p5.48xlarge"}, {"gpu": "Gaudi3", "gpus_per_node": 8}, {"gpu": "Trainium2"},
                   {"instance": "aws:g6.xlarge"}]


@fuzz_settings(20)
@given(cluster=st.sampled_from(FABRIC_CLUSTERS), fabric=hostile_or(FABRICS),
       nodes=st.sampled_from([None, 1, 1, 2, 4]), model=st.sampled_from([TINY_DENSE, {"preset": "llama3-8b"}]))
def test_fuzz_fabric_on_tpus_and_one_node(tmp_path_factory, cluster, fabric, nodes, model):
    cluster = dict(cluster, fabric=fabric, **({} if nodes is None else {"nodes": nodes}))
    holds(tmp_path_factory, "fab51", {"model": model, "training": {"seq_len": 1024, "global_batch": 64, "steps": 10},
                                       "cluster": cluster}, "estimate")


@st.composite
def fleet_jobs(draw):
    """Expert-parallel serving's fields beside a fixed fleet (``replicas``), an offline batch or a QPS."""
    s = {"p99_latency_ms": draw(st.sampled_from([50.0, 2000.0])), "prompt_tokens": draw(st.sampled_from([128, 2048])),
         "output_tokens": draw(st.sampled_from([16, 256])),
         **draw(st.sampled_from([{"replicas": 2}, {"replicas": 3}, {"qps": 2.0},
                                 {"mode": "batch", "requests": 1e4, "deadline_hours": 24}]))}
    for k in draw(st.lists(st.sampled_from(["expert_parallel", "all2all_backend", "max_batch", "gpu_memory_utilization",
                                            "replicas"]), max_size=2, unique=True)):
        s[k] = draw(hostile_or({"expert_parallel": [True, False], "all2all_backend": [
            "deepep_low_latency", "allgather_reducescatter"], "max_batch": [1, 256], "gpu_memory_utilization": [
            0.05, 0.9], "replicas": [1, 4, 1 << 24]}[k]))
    job = {"model": draw(st.sampled_from([TINY_MOE, dict(TINY_MOE, moe={"experts": 64, "top_k": 6}), TINY_DENSE])),
           "serving": s}
    job["cluster"] = draw(st.sampled_from([{"gpu": "L4", "gpus_per_node": 8, "nodes": 1},
                                           {"instance": "aws:p5.48xlarge", "nodes": 2},
                                           {"instance": "aws:g6.48xlarge", "nodes": 1}]))
    if "moe" in job["model"] and draw(st.integers(0, 3)) == 0:
        job["parallel"] = {"ep": draw(hostile_or([8, 16]))}
    return job


@fuzz_settings(6)
@given(job=fleet_jobs())
def test_fuzz_expert_parallel_serving_fleets(tmp_path_factory, job):
    holds(tmp_path_factory, "fleet51", job, "serve")
