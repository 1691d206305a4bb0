"""offload47: what crosses the host link per micro-batch under DeepSpeed's optimizer offload, and where FSDP2's
CPUOffloadPolicy keeps the gradient shard.

* DeepSpeed (planner.model.stacks ``ZERO_OFFLOAD_ROWS`` ``mb_copy_bytes``, read from stage_1_and_2.py
  ``async_accumulate_grad_in_cpu_via_gpu`` and stage3.py ``partition_grads``): with m micro-batches a step ZeRO-2 copies
  2 B a parameter out in the first, 2 B in + 2 B out in each middle one and 2 B in in the last; ZeRO-1 only the last
  one's 2 B in (after the backward, on the compute stream); ZeRO-3 2 B out + 2 B in in every micro-batch. The step's
  offload time before any of these is the 16-bit parameter copy back (2 B a parameter, exposed whole), so on the
  compute stream (``overlap_comm`` off) the new copies are a known multiple of it.
* FSDP2 (torch _fsdp_collectives.py ``foreach_reduce``: ``new_sharded_grad.to(torch.device("cpu"))`` under
  ``offload_to_cpu``): the reduced gradient shard lives on the host, not the GPU.
"""
import copy

import numpy as np
import pytest

from benchmarks.validate_offload import estimate
from planner.model import offload
from planner.model.stacks import ZERO_OFFLOAD_ROWS, ZERO_STREAMS

#: Llama 3 8B on one 8-GPU H100 node, DeepSpeed ZeRO-Offload, one sequence a micro-batch
DS_JOB = {"model": {"preset": "llama3-8b"},
          "training": {"seq_len": 4096, "global_batch": 8, "micro_batch": 1, "precision": "bf16", "recompute": "full",
                       "optimizer": "adamw",
                       "framework": {"name": "deepspeed", "optimizer_offload": True, "overlap_grad_reduce": False}},
          "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 2},
          "cluster": {"gpu": "H100-SXM5-80GB", "gpus_per_node": 8, "nodes": 1}}


def ds_job(zero, overlap, weights="megatron", global_batch=8, framework="deepspeed"):
    """DS_JOB at ZeRO ``zero`` with ``overlap_grad_reduce`` ``overlap`` (the stack's other options dropped), its
    weights layout and global batch: the job test_left47 and test_ds47b vary."""
    j = copy.deepcopy(DS_JOB)
    j["parallel"]["zero"] = zero
    j["training"]["global_batch"] = global_batch
    j["training"]["weights"] = weights
    j["training"]["framework"] = {"name": framework, "overlap_grad_reduce": overlap}
    return j


def _offload_s(zero, global_batch, overlap=False):
    j = copy.deepcopy(DS_JOB)
    j["parallel"]["zero"] = zero
    j["training"]["global_batch"] = global_batch
    j["training"]["framework"]["overlap_grad_reduce"] = overlap
    return estimate(j)["breakdown_s"]["offload"]


def test_the_registry_reads_deepspeeds_copies():
    """(one micro-batch a step; of more: first, middle, last) bytes a parameter, and the stream they run on."""
    streams = ZERO_STREAMS["deepspeed"]  # where they run: the stage's, whatever the weights (left47)
    assert ZERO_OFFLOAD_ROWS[1].mb_copy_bytes == (0.0, 0.0, 0.0, 2.0) and not streams[1].reduces_in_backward
    assert ZERO_OFFLOAD_ROWS[2].mb_copy_bytes == (0.0, 2.0, 4.0, 2.0) and streams[2].reduces_in_backward
    assert ZERO_OFFLOAD_ROWS[3].mb_copy_bytes == (4.0, 4.0, 4.0, 4.0)


@pytest.mark.parametrize("zero, global_batch, multiple", [
    (2, 8, 1.0),  # one micro-batch: nothing but the fp32 gradient out and the parameter copy back
    (2, 64, 1.0 + (2.0 + 6 * 4.0 + 2.0) / 6.0),  # 8 micro-batches: 28 B a parameter more on the compute stream
    (1, 64, 1.0 + 2.0 / 6.0),  # ZeRO-1: the boundary's copy in alone
    (3, 8, 1.0 + 4.0 / 6.0),  # ZeRO-3: out and back in even at one micro-batch
    (3, 64, 1.0 + 8 * 4.0 / 6.0),
])
def test_per_micro_batch_copies_on_the_compute_stream(zero, global_batch, multiple):
    """Without overlap_comm every copy is exposed: the offload time is the 4 B fp32 gradient out and the 2 B
    parameter copy back (exposed whole on the compute stream since ds47) times (6 + the new bytes) / 6. Before
    offload47 it stayed at the copy back alone whatever the micro-batches."""
    assert _offload_s(zero, global_batch) == pytest.approx(multiple * _offload_s(2, 8), rel=1e-6)


def test_overlapped_copies_hide_under_each_backward():
    """On the reduction stream (overlap_comm) a micro-batch's 4 B a parameter (0.08 s here) hide under its
    backward (~1 s of Llama 3 8B's recomputed backward)."""
    assert _offload_s(2, 64, overlap=True) == pytest.approx(_offload_s(2, 8, overlap=True), rel=1e-9)


def test_partition_copies_exposed_beyond_the_backward():
    """The side-stream rule: each micro-batch exposed beyond its backward, the last one's copy in together with the
    fp32 gradient out (which optimizer_terms already prices beyond the backward)."""
    from types import SimpleNamespace

    hw = SimpleNamespace(gpu=SimpleNamespace(host_bw=1e9 / offload.PCIE_EFF))  # 1 GB/s achieved
    rows = [np.array([v]) for v in (0.0, 2.0, 4.0, 2.0)]
    got = offload.partition_copies_exposed(hw, 1e9, np.array([4.0]), 3.0, rows, np.array([True]), 4.0)
    # first 2 s and middle 4 s: 0 and 1 s beyond 3 s, twice; last: (2 + 4) - 3 = 3 s less the fp32 copy's own 1 s
    assert got == pytest.approx([0.0 + 2 * 1.0 + (3.0 - 1.0)])
    assert offload.partition_copies_exposed(hw, 1e9, np.array([4.0]), 3.0, rows, np.array([False]), 4.0) == \
        pytest.approx([2.0 + 2 * 4.0 + 2.0])


def test_fsdp2_cpu_offload_takes_the_gradient_shard_off_the_gpu():
    """torchtitan, Llama 3 8B ZeRO-3 on 8 GPUs: with CPUOffloadPolicy the fp32 gradient shard (4 B a parameter of
    the rank's 1/8) is on the host; until offload47 it stayed in the GPU's gradients."""
    j = copy.deepcopy(DS_JOB)
    j["parallel"]["zero"] = 3
    j["training"]["framework"] = {"name": "torchtitan", "optimizer_offload": False}
    off = estimate(j)["memory_per_gpu_bytes"]
    j["training"]["framework"]["optimizer_offload"] = True
    on = estimate(j)["memory_per_gpu_bytes"]
    shard = on["host"] / (12.0 + offload.HOST_GRAD_BYTES) * 4.0  # the host's master + moments + fp32 gradient
    assert off["grads"] - on["grads"] == pytest.approx(shard, rel=1e-6)
    assert on["grads"] > 0.0  # the units' unsharded gradients and reduce-scatter inputs stay
