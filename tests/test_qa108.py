"""QA 108: the causes benchmarks/cli_sweep.py found (ordinary constrained jobs from examples/ crossed with every stack
the model admits, its options, constraints and serving options, through the CLI in-process), each pinned at its
smallest job. Every job here is valid: it must plan (exit 0 with strict JSON) or be refused in one line, never raise."""
from __future__ import annotations

import json

import pytest

from conftest import write_job

#: a generic model (no transformer layers: one Megatron-FSDP unit) on Megatron-Core's Megatron-FSDP at ZeRO-3 under
#: MXFP8, whose gathered FP8 payload a full-recompute row holds twice (memory ``mfsdp_recompute_bytes``)
MXFP8_GENERIC = """model: MODEL
training:
  global_batch: 1024
  steps: 1000
  precision: fp8
  framework: {name: megatron-core, megatron_fsdp: true, fp8_recipe: mxfp8}
parallel: {zero: 3}
cluster: {gpu: B200-SXM-180GB, gpus_per_node: 8, nodes: 1}
"""


@pytest.mark.parametrize("model", ["{preset: resnet50}", "{name: g, family: generic, params: 2.5e7, "
                                   "fwd_flops_per_sample: 4.1e9, activation_bytes_per_sample: 1.0e8}"])
def test_mxfp8_megatron_fsdp_on_a_generic_model_is_refused_in_one_line(tmp_path, main_cli, model):
    """Until qa108 every such plan raised TypeError in planner.model.pipeline ``chunk_layers`` (None / float): the
    recompute term grouped a model's layers into Megatron's uniform groups on every row, and a generic model has no
    layer count (internal error on estimate and recommend). qa108 made it plan (exit 0); but Megatron's code builds
    transformer models only, so since session 54 (stack_rules ``megatron-generic``) the job is refused in one line."""
    code, out, err = main_cli("estimate", write_job(tmp_path, MXFP8_GENERIC.replace("MODEL", model)), "--json")
    assert code == 2 and out == "", (code, err[-800:])
    line, = err.strip().splitlines()
    assert line.startswith("error: training.framework: ") and "without transformer layers" in line, line


@pytest.mark.parametrize("stack", ["megatron-core", "nemo", "megatron-bridge", "megatron-lm", "megatron-deepspeed"])
def test_a_generic_model_is_refused_on_every_megatron_stack(tmp_path, main_cli, stack):
    """A ResNet-50 (generic: params + FLOPs) on a Megatron stack: refused in one line (until session 54 estimated at
    exit 0 as a run Megatron's code cannot build); pytorch-ddp still plans it."""
    job = {"model": {"preset": "resnet50"}, "training": {"global_batch": 256, "steps": 100, "precision": "bf16",
                                                          "framework": {"name": stack}},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    code, out, err = main_cli("estimate", write_job(tmp_path, job), "--json")
    assert code == 2 and out == "", (code, err[-800:])
    assert "without transformer layers" in err and err.count("\n") == 1, err
    job["training"]["framework"] = {"name": "pytorch-ddp"}
    code, out, err = main_cli("estimate", write_job(tmp_path, job, "ddp.yaml"), "--json")
    assert code == 0, err[-800:]


#: Llama-3-8B on one B200 node with Megatron-FSDP asked for and ``parallel`` left out (the estimate's defaults)
MFSDP_OPEN = {"model": {"preset": "llama3-8b"},
              "training": {"global_batch": 64, "seq_len": 2048, "tokens": 1e9, "precision": "bf16",
                           "framework": {"name": "megatron-core", "megatron_fsdp": True}},
              "cluster": {"gpu": "B200-SXM-180GB", "gpus_per_node": 8, "nodes": 1}}


def test_megatron_fsdp_with_zero_left_out_estimates_at_zero_3(tmp_path, main_cli):
    """Until qa108 ``estimate`` defaulted the stage to the distributed optimizer's ZeRO-1 and refused the stage it chose
    ("at parallel.zero 1 it changes nothing: set parallel.zero to 2 or 3"), on a job that never set parallel.zero. Now
    it runs optim_grads_params (stack_rules ``MFSDP_DEFAULT_ZERO``), the plan of an explicit ``parallel.zero: 3``."""
    code, out, err = main_cli("estimate", write_job(tmp_path, MFSDP_OPEN), "--json")
    assert code == 0, err[-800:]
    plan = json.loads(out)
    assert plan["config"]["zero"] == 3 and "parallel.zero defaulted to 3" in plan["assumptions"]
    code, out, err = main_cli("estimate", write_job(tmp_path, {**MFSDP_OPEN, "parallel": {"zero": 3}}, "z3.yaml"),
                              "--json")
    assert code == 0, err[-800:]
    assert json.loads(out)["step_time_s"] == plan["step_time_s"]
