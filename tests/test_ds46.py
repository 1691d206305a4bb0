"""ds46: DeepSpeed's activation-checkpoint options and reduce bucket as job options, and the fp16 stack label.

The DeepSpeed team's ZeRO-Offload 10B config (DeepSpeedExamples Megatron-LM/scripts/ds_zero-offload_10B_config.json)
sets ``activation_checkpointing: {partition_activations, cpu_checkpointing, contiguous_memory_optimization}`` and
``reduce_bucket_size`` 5e7; deepspeedai/DeepSpeed deepspeed/runtime/activation_checkpointing/checkpointing.py
``CheckpointFunction`` keeps each checkpointed layer input as its 1/tp slice (``partition_activations``) and on the host
(``cpu_checkpointing``: copied out in the forward, back before the layer's recompute). Megatron-DeepSpeed passes them
from ``--partition-activations`` / ``--checkpoint-in-cpu`` (megatron/initialize.py
``_configure_deepspeed_checkpointing``). Until ds46 no job could say so: the tutorial's 10B job read its 50 checkpoints
on the GPU, and an fp16 DeepSpeed job's stack line said ``mixed_precision=bf16``.
"""
import copy

import pytest
from typer.testing import CliRunner

from benchmarks.parts_data import load
from benchmarks.validate_offload import estimate, job

GIB = 2**30
LAYERS, SEQ, MB, HIDDEN = 50, 1024, 10, 4096
#: one checkpointed layer input of the 10B GPT-2 at micro-batch 10, fp16: s x b x h x 2 B (80 MiB)
INPUT_BYTES = SEQ * MB * HIDDEN * 2.0
#: the tied embedding / LM head, DeepSpeed's largest-parameter buffer under optimizer offload (zoff46)
EMBED_BYTES = 50257 * 4096 * 2.0
#: the V100's host link: PCIe Gen3 x16, 16 GB/s a direction nominal, at offload.PCIE_EFF
V100_HOST_BPS = 16e9 * 0.8
CONFIG_OPTIONS = {"partition_activations": True, "cpu_checkpointing": True, "reduce_bucket_size": 5e7}


@pytest.fixture(scope="module")
def tutorial():
    """The ZeRO-Offload tutorial's 10B GPT-2 (offload.csv's row) on Megatron-DeepSpeed, the stack whose code has the
    options (the tutorial ran DeepSpeedExamples' Megatron-LM GPT-2 with DeepSpeed's checkpointing)."""
    (row,) = [r for r in load("offload") if r["id"] == "zero_offload_atc21_10b_1xv100"]
    j = job({**row, "framework_json": "{}"})  # without the config's options (the row sets them since ds46b)
    j["training"]["framework"]["name"] = "megatron-deepspeed"
    return j


def _with(j, recompute=None, name=None, tp=None, **opts):
    j = copy.deepcopy(j)
    j["training"]["framework"].update(opts)
    if name is not None:
        j["training"]["framework"]["name"] = name
    if recompute is not None:
        j["training"]["recompute"] = recompute
    if tp is not None:
        j["parallel"]["tp"] = j["cluster"]["gpus_per_node"] = tp
    return j


def _refusal(j) -> str:
    import tempfile
    from pathlib import Path

    import yaml

    from planner.cli import app

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "job.yaml"
        path.write_text(yaml.safe_dump(j))
        res = CliRunner().invoke(app, ["estimate", str(path)])
    assert res.exit_code == 2
    text = (res.stderr or res.stdout).strip()
    assert "\n" not in text and "Traceback" not in text
    return text


def test_the_tutorial_job_with_its_configs_options_fits_a_v100_at_micro_batch_10(tutorial):
    """The config's options: 49 of the 50 checkpointed inputs leave the GPU (the one reloaded for its recompute
    stays), the 50 sit on the host, the bucket is 5e7 elements; the copies (out in the forward, back before each
    recompute, blocking) cost 2 x 50 inputs over the PCIe Gen3 link."""
    off, on = estimate(tutorial), estimate(_with(tutorial, **CONFIG_OPTIONS))
    mo, mn = off["memory_per_gpu_bytes"], on["memory_per_gpu_bytes"]
    assert on["fits"] and mn["total"] / GIB == pytest.approx(23.7, abs=0.05)
    assert mo["activations"] - mn["activations"] == pytest.approx((LAYERS - 1) * INPUT_BYTES)
    assert mn["host"] - mo["host"] == pytest.approx(LAYERS * INPUT_BYTES)
    assert mn["grads"] == pytest.approx(5e7 * 2.0 + EMBED_BYTES)  # one bucket: the pipeline engine has no overlap
    assert on["breakdown_s"]["offload"] - off["breakdown_s"]["offload"] == pytest.approx(
        2 * LAYERS * INPUT_BYTES / V100_HOST_BPS)


def test_partition_activations_keeps_the_tp_slice_of_each_checkpoint(tutorial):
    """At TP 2 (Megatron-DeepSpeed's sequence parallelism: the input already s/2) the rank keeps half of it."""
    off = estimate(_with(tutorial, tp=2))["memory_per_gpu_bytes"]
    on = estimate(_with(tutorial, tp=2, partition_activations=True))["memory_per_gpu_bytes"]
    assert off["activations"] - on["activations"] == pytest.approx(LAYERS * INPUT_BYTES / 2 / 2)


@pytest.mark.parametrize("name, option, value", [("deepspeed", "cpu_checkpointing", True),
                                                 ("megatron-core", "partition_activations", True),
                                                 ("torchtitan", "reduce_bucket_size", 5e7)])
def test_the_options_are_refused_on_stacks_without_them(tutorial, name, option, value):
    """The HF path (the deepspeed stack) checkpoints with torch.utils.checkpoint: DeepSpeed's options do not reach it."""
    text = _refusal(_with(tutorial, name=name, **{option: value}))
    assert text.startswith(f"error: training.framework.{option}: {name} has no ")


def test_the_checkpoint_options_need_full_recompute(tutorial):
    text = _refusal(_with(tutorial, recompute="none", cpu_checkpointing=True))
    assert text.startswith("error: training.framework.cpu_checkpointing: ") and "recompute full" in text


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_the_stack_line_names_the_jobs_16_bit_module(precision):
    """DeepSpeed's engine casts the module to the job's 16-bit dtype (engine.py ``_configure_distributed_model``):
    an fp16 job read ``mixed_precision=bf16``."""
    from planner.model.stacks import STACKS

    line = STACKS["deepspeed"].describe(precision)
    assert f"mixed_precision={precision}" in line
    assert "mixed_precision=amp" in STACKS["hf-trainer"].describe("fp16")
