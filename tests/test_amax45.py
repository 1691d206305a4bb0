"""Transformer Engine's amax all-reduce ahead of a sequence-parallel gather's cast (amax45).

Under per-tensor current scaling (TE ``Float8CurrentScaling``, the planner's ``tensorwise``) and NVFP4 with sequence
parallelism, TE quantises a column-parallel linear's input (forward) and a row-parallel linear's output gradient
(backward) with one scale for the TP group, so it all-reduces the 4-byte amax over TP first
(transformer_engine/pytorch/module/linear.py ``_customize_quantizers_float8_current_scaling`` /
``_customize_quantizers_nvfp4``: ``with_amax_reduction = True``, ``amax_reduction_group = self.tp_group``;
csrc/quantizer.cpp: ``amax_reduction_group->allreduce(...)->wait()`` between the amax kernel and the cast). Priced at
NCCL's LL small-message latency (NVIDIA/nccl src/graph/tuning.cc: ring ``baseLat`` 6.6 us + 2 (n - 1) NVLink steps of
0.6 us). Until amax45 none of it was priced.
"""
from dataclasses import replace

import numpy as np
import pytest

from planner.hardware.options import HardwareOption, efficiency_for
from planner.model import stack_kernels, stacks
from planner.model.comm import small_allreduce_time
from planner.model.layer_ops import layer_terms, layer_context, sp_amax_allreduces
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS

DENSE = ModelSpec(name="d", layers=8, hidden=4096, heads=32, ffn_hidden=14336, vocab=32000)


def _hw(catalog, gpu="B200-SXM-180GB"):
    g = catalog.gpu(gpu)
    return HardwareOption(name=g.name, gpu=g, gpus_per_node=8, inter_node_bw=400e9, intra_bw=g.intra_node_bw,
                          eff=efficiency_for(g))


def _amax(catalog, recipe="tensorwise", stack="megatron-core", tp=4, sp=True, m=DENSE, precision="fp8"):
    """(forward, backward) seconds of the op for one layer at one key."""
    fw = stacks.resolve(stack, fp8_recipe=recipe)
    t = TrainingSpec(precision=precision, seq_len=4096, global_batch=64)
    c = layer_context(m, t, _hw(catalog), fw, tp, 1, 1, 1, sp, None, None)
    a = sp_amax_allreduces(c, m, _hw(catalog), fw)
    return float(np.asarray(a.fwd)), float(np.asarray(a.bwd))


def test_small_allreduce_is_ncclS_ll_ring_latency():
    """Inside one NVLink domain: 6.6 + 2 (n - 1) x 0.6 us (the LL ring beats the LL tree's 6.8 base); TP 1 free.
    Across 2 nodes of 8 the LL tree's 6.8 + 2 (7 x 0.6 + 1 x 5.0) = 25.2 us is NCCL's pick."""
    got = small_allreduce_time(np.array([1.0, 2.0, 4.0, 8.0, 16.0]), 1, 8) * 1e6
    assert got == pytest.approx([0.0, 7.8, 10.2, 15.0, 25.2], abs=1e-9)
    # GPUs on PCIe (an L4 node): NCCL's PCI step, 1.0 us: 6.6 + 6 x 1.0 at n = 4
    assert float(small_allreduce_time(4.0, 1, 8, "pci")) * 1e6 == pytest.approx(12.6, abs=1e-9)


def test_recipe_and_stack_tables_say_who_reduces():
    """The recipes TE reduces a gathered tensor's amax under (current scaling, NVFP4) and the stacks whose linears
    are TE's TP modules (Megatron-Core and the NVIDIA stacks on it); not delayed scaling, MXFP8, block-wise, rowwise,
    nor NeMo AutoModel's te.Linear under DTensor TP, nor Intel's Gaudi TE."""
    assert {k for k, r in stack_kernels.RECIPES.items() if r.sp_amax_allreduce} == {"tensorwise", "nvfp4"}
    on = {k for k, s in stacks.STACKS.items() if s.te_tp_linears}
    assert on == {"megatron-core", "nemo", "megatron-bridge"}


def test_current_scaling_pays_four_reductions_a_dense_layer_delayed_none(catalog):
    """TP 4 with SP on a dense layer (B200): QKV and FC1 inputs forward, out-proj and FC2 output gradients backward, each
    10.2 us; delayed scaling and MXFP8 none, nor without SP, at TP 1, in bf16, or on a stack that is not TE's TP."""
    one = 10.2e-6
    assert _amax(catalog) == pytest.approx((2 * one, 2 * one), rel=1e-9)
    assert _amax(catalog, recipe="nvfp4") == pytest.approx((2 * one, 2 * one), rel=1e-9)
    for kw in (dict(recipe="delayed"), dict(recipe="mxfp8"), dict(sp=False), dict(tp=1), dict(precision="bf16"),
               dict(stack="nemo-automodel")):
        assert _amax(catalog, **kw) == (0.0, 0.0), kw


def test_hybrid_and_moe_layers_hold_one_pair(catalog):
    """A hybrid layer is one block (Mamba, attention or MLP: one column / row pair each); a MoE layer without shared
    experts reduces only its attention's pair (the experts' TEGroupedLinear sets no reduction)."""
    one = 10.2e-6
    assert _amax(catalog, m=ModelSpec(**PRESETS["nemotron-h-8b"])) == pytest.approx((one, one), rel=1e-9)
    assert _amax(catalog, m=ModelSpec(**PRESETS["qwen3-30b-a3b"])) == pytest.approx((one, one), rel=1e-9)


def test_the_tp_op_carries_it_into_the_layer(catalog):
    """The layer's TP seconds (forward + backward, no recompute) rise by the four reductions where the stack's
    linears are TE's TP modules, and by nothing else."""
    t = TrainingSpec(precision="fp8", seq_len=4096, global_batch=64)
    fw = stacks.resolve("megatron-core", fp8_recipe="tensorwise")
    hw = _hw(catalog)

    def tp_s(stack):
        d = layer_terms(DENSE, t, hw, stack, np.array([4]), np.array([1]), np.array([1]), np.array([1]),
                         np.array([True]), np.array([0]), 0.0, True)
        return float(d["tp"][0]), float(d["gemm"][0])

    (with_tp, with_g), (without_tp, without_g) = tp_s(fw), tp_s(replace(fw, te_tp_linears=False))
    assert with_tp - without_tp == pytest.approx(4 * 10.2e-6, rel=1e-6)
    assert with_g == without_g
