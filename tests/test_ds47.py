"""ds47: where DeepSpeed runs its gradient reduce and its copies to the host, and what FSDP2's CPUOffloadPolicy keeps
on the host and the GPU.

* DeepSpeed reduces from gradient hooks during the backward at ZeRO-2/3 only: ZeRO-0 (BF16 / FP16 optimizer) and
  ZeRO-1 reduce in engine.py ``allreduce_gradients`` after ``loss.backward()`` (the engine forces ``overlap_comm`` off
  at stage 1: "Overlap and contiguous grads are meaningless in stage 1"). So ``overlap_grad_reduce`` (DeepSpeed
  ``overlap_comm``) hides nothing there (planner.model.stacks ``ZeroStageStates.reduces_in_backward``).
* Under optimizer offload the boundary's fp32 gradient copy out runs in ``reduce_ipg_grads`` on the reduction stream
  under ``overlap_comm``, else on the compute stream ("TODO: copy_grad_stream is disabled because of race with
  reduce. This hurts perf"): exposed whole there (offload.optimizer_terms ``grad_out_hidden``).
* FSDP2's host gradient shard is in the sharded parameter's dtype (torch ``foreach_reduce``: cast to ``orig_dtype``
  before ``.to(torch.device("cpu"))``): 2 B for 16-bit parameters, not the fp32 copy's 4; under a frozen base the
  adapters' gradient shard leaves the GPU too.
"""
import copy
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.validate_offload import estimate
from planner.model import offload
from planner.model.stacks import STACKS
from test_offload47 import DS_JOB


def _ds(zero, overlap, offload_on=True, global_batch=8):
    j = copy.deepcopy(DS_JOB)
    j["parallel"]["zero"] = zero
    j["training"]["global_batch"] = global_batch
    j["training"]["framework"] = {"name": "deepspeed", "optimizer_offload": offload_on,
                                  "overlap_grad_reduce": overlap}
    return estimate(j)


def test_optimizer_terms_copy_out_whole_off_the_side_stream():
    """The fp32 gradient copy out: beyond the last backward beside it, whole on the compute stream."""
    hw = SimpleNamespace(gpu=SimpleNamespace(host_bw=1e9 / offload.PCIE_EFF), gpus_per_node=8, vcpus_per_node=96)
    stack = SimpleNamespace(optimizer_offload=True)
    args = (stack, hw, np.array([1e9, 1e9]), np.zeros(2), 3.0, 4.0, 2.0)
    _, exposed = offload.optimizer_terms(*args, np.array([True, False]))
    assert exposed == pytest.approx([(4.0 - 3.0) + 2.0, 4.0 + 2.0])  # 1 GB/s: 4 s out, 2 s back, 3 s of backward


def test_zero2_offload_without_overlap_comm_exposes_the_fp32_copy_out():
    """Llama 3 8B ZeRO-2 on 8 H100, one micro-batch: without overlap_comm the 4 B fp32 copy out joins the 2 B
    parameter copy back (3x it); with it the copy hides under the backward. Before ds47 both read the copy back."""
    on, off = (_ds(2, ov)["breakdown_s"]["offload"] for ov in (True, False))
    assert off == pytest.approx(3.0 * on, rel=1e-6)


def test_zero1_offload_copies_on_the_compute_stream_whatever_overlap_comm():
    """ZeRO-1 reduces and copies after the backward (engine.py forces overlap_comm off at stage 1): the deepspeed
    stack's default overlap_grad_reduce=on hides nothing there. Before ds47 it read the 2 B copy back alone."""
    z1 = _ds(1, True)["breakdown_s"]["offload"]
    assert z1 == pytest.approx(_ds(1, False)["breakdown_s"]["offload"], rel=1e-9)
    assert z1 == pytest.approx(3.0 * _ds(2, True)["breakdown_s"]["offload"], rel=1e-6)


@pytest.mark.parametrize("zero", [0, 1])
def test_zero01_dp_reduce_after_the_backward(zero):
    """DeepSpeed's ZeRO-0/1 all-reduce runs after the backward: overlap_grad_reduce on and off price the same step
    (Llama 3 8B, 8 H100, no offload: 0.724 / 0.675 s with the reduce hidden before ds47, 0.783 / 0.704 s now)."""
    on, off = (_ds(zero, ov, offload_on=False) for ov in (True, False))
    assert on["breakdown_s"]["comm_dp"] == pytest.approx(off["breakdown_s"]["comm_dp"], rel=1e-9)
    assert on["step_time_s"] == pytest.approx(off["step_time_s"], rel=1e-9)


def test_zero2_dp_reduce_still_hides_under_overlap_comm():
    on, off = (_ds(2, ov, offload_on=False)["breakdown_s"]["comm_dp"] for ov in (True, False))
    assert on < off


def test_stack_line_says_deepspeed_zero1_reduces_after_the_backward():
    """The deepspeed stack's default is overlap_comm on (accelerate's zero_stage1/2/3 templates and the transformers
    DeepSpeed guide's examples set it); the stack line says where DeepSpeed ignores it."""
    ds = STACKS["deepspeed"]  # the stack's stream rows, for every job (left47; ds47b read the job's state rows)
    assert ds.overlap_grad_reduce
    assert "overlap_grad_reduce=off (ZeRO-1: reduced after the backward)" in ds.describe("bf16", zero=1, pp=1)
    assert "overlap_grad_reduce=on" in ds.describe("bf16", zero=2, pp=1)
    assert "overlap_grad_reduce=on" in STACKS["megatron-core"].describe("bf16", zero=1, pp=1)


def _titan(job_update, offload_on):
    j = copy.deepcopy(DS_JOB)
    j["parallel"]["zero"] = 3
    j["training"].update(job_update)
    j["training"]["framework"] = {"name": "torchtitan", "optimizer_offload": offload_on}
    return estimate(j)["memory_per_gpu_bytes"]


def test_fsdp2_host_gradient_in_the_parameter_dtype():
    """torchtitan ZeRO-3 with bf16 parameters (weights: pure): the host holds the two fp32 moments (8 B) and the bf16
    gradient shard (2 B), 10/8 of the GPU's optimizer shard; before ds47 12/8 (a 4 B gradient)."""
    off, on = (_titan({"weights": "pure"}, o) for o in (False, True))
    assert on["host"] == pytest.approx(off["optimizer"] * (8.0 + 2.0) / 8.0, rel=1e-6)


def test_fsdp2_offload_moves_the_adapters_gradient_shard():
    """LoRA on torchtitan ZeRO-3: the adapters' fp32 gradient shard goes to the host with CPUOffloadPolicy (the
    frozen base has none); before ds47 it stayed on the GPU (0.0195 GiB here)."""
    job = {"mode": "lora", "steps": 100}
    off, on = (_titan(job, o) for o in (False, True))
    assert off["grads"] > 0.0
    assert on["grads"] == pytest.approx(0.0, abs=1.0)
