"""Delayed scaling's amax all-reduce, once a pass over Megatron's amax reduction group (amaxd45).

Under Transformer Engine's ``DelayedScaling`` no GEMM waits on a collective: each quantiser writes its amax into the
module's history. Instead transformer_engine/pytorch/fp8.py ``FP8GlobalStateManager.reduce_and_update_fp8_tensors``
concatenates every module's amaxes and all-reduces them (MAX) over the autocast's ``fp8_group`` in one blocking
``torch.distributed.all_reduce(..., async_op=False)`` where the outermost ``fp8_autocast`` exits (``fp8_autocast_exit``)
and again at the end of the region's backward (the region's first FP8 module sets
``ctx.reduce_and_update_bwd_fp8_tensors``). Megatron-Core wraps each TransformerBlock in one such region under the
delayed recipe (transformer_block.py ``use_outer_fp8_context``) with ``parallel_state.get_amax_reduction_group(
with_context_parallel=True)``: the TP x CP x DP ranks of a pipeline stage. Priced at NCCL's LL latency over that span
(comm ``small_allreduce_time``). Until amaxd45 none of it was priced (amax45 left it: "one a pass, not priced").
"""
from dataclasses import replace

import numpy as np
import pytest

from planner.hardware.options import HardwareOption, efficiency_for
from planner.layout import Candidates
from planner.model import stack_kernels, stacks
from planner.model.comm import small_allreduce_time
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.vocab import SCHEDULE

DENSE = ModelSpec(name="d", layers=16, hidden=4096, heads=32, ffn_hidden=14336, vocab=32000)


def _hw(catalog, gpu="H100-SXM-80GB"):
    g = catalog.gpu(gpu)
    return HardwareOption(name=g.name, gpu=g, gpus_per_node=8, inter_node_bw=400e9, intra_bw=g.intra_node_bw,
                          eff=efficiency_for(g))


def _cands(tp, pp, dp, vpp=1):
    sched = SCHEDULE.code["interleaved"] if vpp > 1 else SCHEDULE.code["1f1b"]
    return Candidates(tp=np.array([tp]), pp=np.array([pp]), dp=np.array([dp]), cp=np.array([1]), ep=np.array([1]),
                      vpp=np.array([vpp]), zero=np.array([1]), mb=np.array([1]), rc=np.array([0]),
                      sp=np.array([tp > 1]), schedule=np.array([sched]), gpus_per_node=np.array([8]),
                      nodes=np.array([max(tp * pp * dp // 8, 1)]))


def _mb_times(catalog, fw, c, precision="fp8"):
    t = TrainingSpec(precision=precision, seq_len=4096, global_batch=64 * int(c.dp[0]))
    r = step_time(DENSE, t, c, _hw(catalog), framework=fw)
    return float(r["t_fwd_mb"][0]), float(r["t_bwd_mb"][0]), float(r["comm_tp"][0]), float(r["step_time_s"][0])


def test_tables_say_who_reduces_once_a_pass():
    """Only the delayed recipe reduces its amaxes once a pass; the stacks that hand TE Megatron's amax reduction group
    are Megatron-Core and the NVIDIA launchers on it (not Intel's Gaudi fork, not NeMo AutoModel; the world-group
    stacks are amaxd46's)."""
    assert {k for k, r in stack_kernels.RECIPES.items() if r.pass_amax_allreduce} == {"delayed"}
    megatron = {k for k, s in stacks.STACKS.items() if s.te_amax_reduction == "megatron"}  # amaxd46: a registry key
    assert megatron == {"megatron-core", "nemo", "megatron-bridge"}


@pytest.mark.parametrize("tp,pp,dp,vpp", [(4, 2, 4, 1), (2, 4, 8, 2), (8, 1, 1, 1)])
def test_each_pass_waits_on_one_reduction_a_chunk(catalog, tp, pp, dp, vpp):
    """A micro-batch's forward and its backward each wait on one all-reduce a model chunk, over the stage's TP x DP
    ranks (consecutive: 16 ranks at TP 4 DP 4 span 2 nodes of 8, NCCL's LL tree 6.8 + 2 (7 x 0.6 + 5.0) = 25.2 us;
    TP 2 DP 8 likewise, twice at VPP 2; TP 8 alone 6.6 + 14 x 0.6 = 15.0 us inside one node); booked as TP comm.
    Without the stack's flag the same job pays none of it."""
    fw = stacks.resolve("megatron-core", fp8_recipe="delayed")
    c = _cands(tp, pp, dp, vpp)
    f1, b1, tp1, _ = _mb_times(catalog, fw, c)
    f0, b0, tp0, _ = _mb_times(catalog, replace(fw, te_amax_reduction=False), c)
    one = vpp * float(small_allreduce_time(float(tp * dp), 1, 8))
    assert one == pytest.approx(vpp * (25.2e-6 if tp * dp == 16 else 15.0e-6), rel=1e-9)
    assert (f1 - f0, b1 - b0) == pytest.approx((one, one), rel=1e-6)
    m_micro = 64.0  # global batch 64 x dp at micro-batch 1: 64 micro-batches a step
    assert tp1 - tp0 == pytest.approx(m_micro * 2 * one, rel=1e-6)


@pytest.mark.parametrize("kw", [dict(recipe="tensorwise"), dict(recipe="blockwise"), dict(precision="bf16"),
                                dict(stack="megatron-core-gaudi"), dict(dp=1, tp=1)])
def test_none_where_no_delayed_te_autocast_reduces(catalog, kw):
    """Current scaling and block-wise FP8 keep no amax history to reduce; bf16 runs no FP8 autocast; Intel's Gaudi TE is
    not priced (HCCL; its registry entry has the flag off); a single-rank group has nothing to reduce: the stack as
    registered prices the same as with the flag off."""
    fw = stacks.resolve(kw.get("stack", "megatron-core"), fp8_recipe=kw.get("recipe", "delayed"))
    c = _cands(kw.get("tp", 4), 1, kw.get("dp", 4))
    on = _mb_times(catalog, fw, c, kw.get("precision", "fp8"))
    off = _mb_times(catalog, replace(fw, te_amax_reduction=False), c, kw.get("precision", "fp8"))
    assert on == pytest.approx(off, rel=1e-12)


def test_the_forward_grows_with_the_group_it_reduces_over(catalog):
    """The same rank's micro-batch at TP 4, DP 1 (4 ranks, one node: 6.6 + 6 x 0.6 = 10.2 us) and DP 4 (16 ranks over
    2 nodes: the LL tree's 25.2 us): its forward and backward each 15.0 us longer at DP 4 -- the DP degree reaches the
    micro-batch only through the amax all-reduce's group (before amaxd45 they were equal)."""
    fw = stacks.resolve("megatron-core", fp8_recipe="delayed")
    f1, b1, _, _ = _mb_times(catalog, fw, _cands(4, 1, 1))
    f4, b4, _, _ = _mb_times(catalog, fw, _cands(4, 1, 4))
    assert (f4 - f1, b4 - b1) == pytest.approx((15.0e-6, 15.0e-6), rel=1e-6)
