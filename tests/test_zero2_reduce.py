"""ZeRO-2 reduce-scatters every micro-batch's gradients (it keeps only its 1/dp partition, so there
is no full accumulator): DeepSpeed maintainer in deepspeedai/DeepSpeed#2252, "gradient reduction is
required after every backward because of gradient partitioning". ZeRO-1 (full gradient buffer)
reduces once per step."""
import pytest

from planner.model.step_time import step_time
from planner.spec import TrainingSpec
from test_step_time import LLAMA, cands, hw_for


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


def _zero1(catalog, overlap_param_gather, inter_gbps):
    from planner.model.stacks import resolve

    t = TrainingSpec(seq_len=4096, global_batch=16 * 4, micro_batch=1, precision="bf16", recompute="none")
    hw = hw_for(catalog, "A100-SXM-80GB", inter_gbps=inter_gbps)
    fw = resolve("megatron-core", overlap_param_gather=overlap_param_gather)
    return step_time(LLAMA, t, cands(dp=16, zero=1, nodes=2), hw, framework=fw)


def test_zero1_parameter_all_gather_exposed_without_overlap_param_gather(catalog):
    """ZeRO-1 all-gathers the updated 16-bit parameters after the optimizer step. Without
    ``--overlap-param-gather`` the gather runs synchronously: the step grows by the whole
    all-gather, which on a 10 Gb/s network is 2 B/param of the ~4+2 B/param the DP collectives move
    (so it is a third of the DP traffic: the step difference is ~1/3 of the no-overlap comm_dp).
    With it, the gather hides under the next step's first forward except for its first bucket."""
    off, on = _zero1(catalog, False, 10.0), _zero1(catalog, True, 10.0)
    extra = off["step_time_s"][0] - on["step_time_s"][0]
    assert extra > 0
    # on a 10 Gb/s network the gather dwarfs one forward: overlapping hides at most one forward of
    # it, less the compute NCCL's SMs slow while it runs (physics.nccl_overlap_slowdown)
    assert 0.5 * on["t_fwd_mb"][0] < extra <= on["t_fwd_mb"][0]
    assert off["comm_dp"][0] == pytest.approx(off["t_dp_comm"][0] * 1.5, rel=0.02)
    # on a fast network the overlapped gather leaves its first bucket (one of 32 layers) plus the
    # SM share NCCL takes from the forward it hides under: well under half of the synchronous gather
    fast_off, fast_on = _zero1(catalog, False, 3200.0), _zero1(catalog, True, 3200.0)
    gather_fast = fast_off["t_param_gather_exposed"][0]
    assert gather_fast / 32 < fast_on["t_param_gather_exposed"][0] < 0.4 * gather_fast
