"""ZeRO-2 reduce-scatters every micro-batch's gradients (it keeps only its 1/dp partition, so there
is no full accumulator): DeepSpeed maintainer in deepspeedai/DeepSpeed#2252, "gradient reduction is
required after every backward because of gradient partitioning". ZeRO-1 (full gradient buffer)
reduces once per step."""
import pytest

from planner.model.step_time import step_time
from planner.spec import TrainingSpec
from tests.test_step_time import LLAMA, cands, hw_for


def _comm_dp(catalog, zero, micro_batches, inter_gbps):
    t = TrainingSpec(seq_len=4096, global_batch=16 * micro_batches, micro_batch=1, precision="bf16",
                     recompute="none")
    hw = hw_for(catalog, "A100-SXM-80GB", inter_gbps=inter_gbps)
    # 16 data-parallel ranks on two nodes: the reduce-scatter crosses the network
    return step_time(LLAMA, t, cands(dp=16, zero=zero, nodes=2), hw)["comm_dp"][0]


def test_zero2_exposes_one_reduce_scatter_per_micro_batch_on_a_slow_network(catalog):
    """On a 10 Gb/s network the collectives dwarf the backward, so they are all exposed. One
    micro-batch: one reduce-scatter of fp32 gradients (4 B/param, Megatron's bf16 default) plus the
    all-gather of the updated bf16 parameters (2 B/param), 6 B/param of traffic. Eight micro-batches
    add seven more reduce-scatters: 6 + 7 x 4 = 34 B/param, 34/6 = 5.67x. ZeRO-1 reduces once per
    step whatever the micro-batch count."""
    one, eight = _comm_dp(catalog, 2, 1, 10.0), _comm_dp(catalog, 2, 8, 10.0)
    assert eight / one == pytest.approx(34 / 6, rel=0.04)
    z1_one, z1_eight = _comm_dp(catalog, 1, 1, 10.0), _comm_dp(catalog, 1, 8, 10.0)
    assert z1_eight == pytest.approx(z1_one, rel=0.02)


def test_zero2_reduce_scatter_mostly_hidden_on_a_fast_network(catalog):
    """With 3.2 Tb/s per node the per-micro-batch reduce-scatter fits under the backward: what is
    left is the last bucket and NCCL's SM share, a few percent of the step, not multiples of it."""
    t = TrainingSpec(seq_len=4096, global_batch=16 * 8, micro_batch=1, precision="bf16", recompute="none")
    st = step_time(LLAMA, t, cands(dp=16, zero=2, nodes=2), hw_for(catalog, "A100-SXM-80GB", inter_gbps=3200.0))
    assert 0.0 < st["comm_dp"][0] < 0.15 * st["step_time_s"][0]
