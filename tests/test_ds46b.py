"""ds46b: DeepSpeed's 16-bit host buffers under optimizer offload (ZeRO-Offload), counted in the plan's host memory.

deepspeedai/DeepSpeed deepspeed/runtime/zero/stage_1_and_2.py (@02aa38c3): ``DeepSpeedZeroOptimizer.__init__``
allocates, ``if self.cpu_offload``, a 16-bit host buffer the shape of the rank's fp32 partition
(``param_buffer_of_bit16_for_cpu_offload_groups``), and with ``gradient_accumulation_steps > 1``
``async_accumulate_grad_in_cpu_via_gpu`` keeps one host buffer per parameter in its dtype (``accumulated_grads_in_cpu``):
2 B a parameter each, beside the fp32 master, Adam moments and fp32 gradient (12 + 4 B). Until ds46b neither counted.
"""
import copy

import pytest

from benchmarks.parts_data import load
from benchmarks.validate_offload import estimate, job

#: the 10B GPT-2's parameters: its fp16 weights (held whole at ZeRO-2, one GPU) over 2 B
FP16 = 2.0
#: fp32 master + Adam moments + the fp32 gradient copy on the host (offload.HOST_GRAD_BYTES), bytes a parameter
OPTIMIZER_HOST = 12.0 + 4.0


@pytest.fixture(scope="module")
def tutorial():
    """The offload.csv row of the ZeRO-Offload tutorial's 10B GPT-2 (one V100, ZeRO-2 offload, batch 10 = one
    micro-batch a step)."""
    (row,) = [r for r in load("offload") if r["id"] == "zero_offload_atc21_10b_1xv100"]
    return job(row)


def _host(j, global_batch=None, name=None):
    j = copy.deepcopy(j)
    if global_batch is not None:
        j["training"]["global_batch"] = global_batch
    if name is not None:
        j["training"]["framework"] = {"name": name, "optimizer_offload": True}
    mem = estimate(j)["memory_per_gpu_bytes"]
    return mem["host"], mem["weights"] / FP16


@pytest.mark.parametrize("name", ["megatron-deepspeed", "deepspeed"])
def test_the_tutorial_job_holds_the_16bit_partition_copy_on_the_host(tutorial, name):
    """One micro-batch a step: the host holds 12 + 4 + 2 B a parameter (no accumulation buffers); optimizer state
    alone (16 B) until ds46b."""
    host, params = _host(tutorial, name=name)
    assert host == pytest.approx(params * (OPTIMIZER_HOST + 2.0), rel=1e-9)


def test_gradient_accumulation_adds_the_per_parameter_host_buffers(tutorial):
    """Three micro-batches a step (the DeepSpeed team's 10B config: train_batch_size 30, gradient_accumulation_steps
    3): 2 B a parameter more, ``accumulated_grads_in_cpu``."""
    one, params = _host(tutorial)
    three, _ = _host(tutorial, global_batch=30)
    assert three - one == pytest.approx(params * 2.0, rel=1e-9)
    # without the row's cpu_checkpointing (whose layer inputs also sit on the host): the buffers alone
    assert _host(tutorial, global_batch=30, name="deepspeed")[0] == pytest.approx(params * (OPTIMIZER_HOST + 4.0),
                                                                                   rel=1e-9)

