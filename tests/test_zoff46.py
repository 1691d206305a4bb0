"""zoff46: what DeepSpeed keeps on the GPU of the gradients under optimizer offload (ZeRO-Offload).

deepspeedai/DeepSpeed deepspeed/runtime/zero/stage_1_and_2.py: under ``cpu_offload`` ``copy_grads_in_partition``
returns before it allocates the 16-bit partition (``grads_in_partition``) -- each reduced bucket's partition goes to
the host's fp32 gradient -- and ``__init__`` allocates ``temp_grad_buffer_for_gpu_offload`` (the largest parameter,
16-bit); the reduce buckets (``ipg_buffer``: two with ``overlap_comm``, ``reduce_bucket_size`` 5e8 elements) stay.
stage3.py: ``grad_partitions_flat_buffer`` on ``self.device``, the CPU under ``offload_optimizer``. Until zoff46 the
planner held the whole 16-bit partition on the GPU: the ZeRO-Offload tutorial's 10B GPT-2 (one 32 GB V100) read
21.0 GiB of gradients; the tutorial and the paper ("up to 13B on one GPU") ran what it refused.
"""
import copy

import numpy as np
import pytest

from benchmarks.parts_data import load
from benchmarks.validate_offload import estimate, job
from planner.model.stacks import ZERO_REDUCE_BUCKET_ELEMS

GIB = 2**30
#: the 10B GPT-2's largest parameter: the tied embedding / LM head, 50257 x 4096, fp16
EMBED_BYTES = 50257 * 4096 * 2.0


@pytest.fixture(scope="module")
def tutorial():
    """The offload.csv row of the ZeRO-Offload tutorial's 10B GPT-2 on one V100 32 GB (ZeRO-2, cpu_offload)."""
    (row,) = [r for r in load("offload") if r["id"] == "zero_offload_atc21_10b_1xv100"]
    j = job({**row, "framework_json": "{}"})  # the row's stack options off (ds46b mapped it to megatron-deepspeed)
    j["training"]["framework"]["name"] = "deepspeed"
    return j


def _with(j, layers=None, mb=None, zero=None, offload=True):
    j = copy.deepcopy(j)
    if layers is not None:
        j["model"]["layers"] = layers
    if mb is not None:
        j["training"]["micro_batch"] = j["training"]["global_batch"] = mb
    if zero is not None:
        j["parallel"]["zero"] = zero
    j["training"]["framework"]["optimizer_offload"] = offload
    return j


def _mem(j):
    out = estimate(j)
    return out["fits"], out["memory_per_gpu_bytes"]


def test_the_tutorial_job_holds_the_two_buckets_and_the_largest_parameter_not_the_gradient(tutorial):
    """ZeRO-2 with ``overlap_comm`` (the tutorial's config): 2 x 5e8 fp16 bucket elements + the embedding's buffer,
    2.25 GiB, not the 19.15 GiB fp16 gradient beside them (was 21.01 GiB); the weights stay whole on the GPU."""
    fits, mem = _mem(tutorial)
    assert mem["grads"] == pytest.approx(2 * ZERO_REDUCE_BUCKET_ELEMS * 2.0 + EMBED_BYTES)
    assert mem["grads"] / GIB == pytest.approx(2.25, abs=0.005)
    assert mem["weights"] / GIB == pytest.approx(19.15, abs=0.01)
    assert mem["optimizer"] == 0.0
    # what is left over the allowance at the tutorial's micro-batch of 10 is the activations and the logits (11.1
    # GiB): the DeepSpeed team's 10B config checkpoints them to the CPU (DeepSpeedExamples Megatron-LM/scripts/
    # ds_zero-offload_10B_config.json ``cpu_checkpointing``), an option of megatron-deepspeed's code (ds46:
    # tests/test_ds46.py), not of this HF-path stack's
    assert not fits and mem["total"] - mem["activations"] - mem["logits"] < mem["limit"]
    assert _mem(_with(tutorial, mb=6))[0]


def test_the_gradient_partition_stays_on_the_gpu_without_offload(tutorial):
    _, mem = _mem(_with(tutorial, offload=False))
    assert mem["grads"] == pytest.approx(2 * ZERO_REDUCE_BUCKET_ELEMS * 2.0 + 10.28e9 * 2.0, rel=1e-3)


def test_a_13b_model_fits_one_v100_a_20b_does_not_by_its_weights():
    """The ZeRO-Offload paper's "up to 13 billion parameters on a single GPU": 64 x 4096 (13.1B) at micro-batch 1
    fits the 32 GB V100 (was 52.8 GiB: its whole fp16 gradient); 100 x 4096 (20.3B) does not, its fp16 weights alone
    over the GPU. (GPU memory: since ds46b the 13.1B's host side, 18 B a parameter with DeepSpeed's 16-bit
    partition copy, is over the bare V100's assumed host share, so ``fits`` is False on the host.)"""
    (row,) = [r for r in load("offload") if r["id"] == "zero_offload_atc21_10b_1xv100"]
    _, mem13 = _mem(_with(job(row), layers=64, mb=1))
    assert mem13["total"] <= mem13["limit"] and mem13["grads"] < 2.5 * GIB
    fits20, mem20 = _mem(_with(job(row), layers=100, mb=1))
    assert not fits20 and mem20["weights"] > mem20["capacity"]


def test_zero3_offload_keeps_one_bucket_and_zero1_the_whole_grad(tutorial):
    """ZeRO-3 offload: the gradient partition on the host, the one contiguous bucket on the GPU (stage3.py
    ``__ipg_bucket_flat_buffer``). ZeRO-1 offload: the 16-bit ``.grad`` whole until the boundary's reduce, through one
    contiguous bucket (stage 1 forces ``overlap_comm`` off, offload forces ``contiguous_gradients`` on), and the
    largest parameter's buffer."""
    _, z3 = _mem(_with(tutorial, zero=3))
    assert z3["grads"] == pytest.approx(ZERO_REDUCE_BUCKET_ELEMS * 2.0)
    _, z1 = _mem(_with(tutorial, zero=1))
    _, z1_off = _mem(_with(tutorial, zero=1, offload=False))
    assert z1["grads"] - z1_off["grads"] == pytest.approx(ZERO_REDUCE_BUCKET_ELEMS * 2.0 + EMBED_BYTES)


def test_the_offload_rows_replace_only_stages_1_to_3():
    """Megatron-DeepSpeed's bf16 ZeRO-1 (``BF16_Optimizer`` without offload) runs ``DeepSpeedZeroOptimizer`` with it
    (engine.py ``_do_optimizer_sanity_check``); ZeRO-0 has no offload and keeps its row."""
    from dataclasses import replace

    from planner.model.stacks import STACKS, ZERO_OFFLOAD_ROWS, ZERO_STATES, zero_state_rows
    from planner.spec import load_job_dict

    t = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 4096, "global_batch": 8, "precision": "bf16",
        "framework": {"name": "megatron-deepspeed"}}}).training
    st = STACKS["megatron-deepspeed"]
    assert zero_state_rows(st, t) == ZERO_STATES["deepspeed-pipe"]["bf16"]
    off = zero_state_rows(replace(st, optimizer_offload=True), t)
    assert off[0] is ZERO_STATES["deepspeed-pipe"]["bf16"][0]
    assert off[1:] == ZERO_OFFLOAD_ROWS[1:]
    assert np.all([r.shard_grad_bytes == 0 for r in off[2:]])
