"""The sequence-parallel TP all-gathers at the width the stack sends them under FP8 (fp8tp54).

Transformer Engine's TP modules quantise before they gather: TE 1.x ``_Linear.forward`` runs ``cast_to_fp8`` and then
``gather_along_first_dim`` on the uint8 tensor (LayerNormLinear / LayerNormMLP: the norm writes FP8 first), and
``grad_output_preprocess`` casts the output gradient before its gather; TE 2.x passes the recipe's quantiser to
``gather_along_first_dim``. torchao's float8 TP plans (torchtitan, tensorwise only) cast before ``redistribute``. The
reduce-scatters carry the GEMMs' 16-bit outputs. Until fp8tp54 every gather was priced at 2 bytes an element.
"""
from dataclasses import replace

import numpy as np
import pytest

from planner.hardware.options import HardwareOption, efficiency_for
from planner.model import stacks
from planner.model.comm import collective_time
from planner.model.layer_ops import layer_context, layer_terms, sp_gather_bytes
from planner.spec import ModelSpec, TrainingSpec

DENSE = ModelSpec(name="d", layers=8, hidden=4096, heads=32, ffn_hidden=14336, vocab=32000)


def _hw(catalog, gpu="H100-SXM-80GB"):
    g = catalog.gpu(gpu)
    return HardwareOption(name=g.name, gpu=g, gpus_per_node=8, inter_node_bw=400e9, intra_bw=g.intra_node_bw,
                          eff=efficiency_for(g))


def _ctx(catalog, stack="megatron-core", recipe="delayed", precision="fp8", gpu="H100-SXM-80GB"):
    # replace: torchtitan's tensorwise is the 2024-25 code the validation rows ran (today's offers rowwise / mxfp8)
    fw = replace(stacks.resolve(stack), fp8_recipe=recipe)
    t = TrainingSpec(precision=precision, seq_len=4096, global_batch=64)
    return layer_context(DENSE, t, _hw(catalog, gpu), fw, 8, 1, 1, 1, True, None, None), fw


@pytest.mark.parametrize("stack, recipe, precision, want", [
    ("megatron-core", "delayed", "fp8", 1.0), ("megatron-core", "tensorwise", "fp8", 1.0),
    ("megatron-core", "mxfp8", "fp8", 1.0 + 1.0 / 32), ("megatron-core", "blockwise", "fp8", 1.0 + 4.0 / 128),
    ("megatron-core", "nvfp4", "fp8", 0.5 + 1.0 / 16), ("megatron-core", "delayed", "bf16", 2.0),
    ("nemo", "delayed", "fp8", 1.0), ("megatron-bridge", "mxfp8", "fp8", 1.0 + 1.0 / 32),
    ("torchtitan", "tensorwise", "fp8", 1.0), ("torchtitan", "rowwise", "fp8", 2.0),
    ("torchtitan", "mxfp8", "fp8", 2.0), ("megatron-core-gaudi", "delayed", "fp8", 2.0),
])
def test_gather_width_follows_stack_and_recipe(catalog, stack, recipe, precision, want):
    """TE's TP modules gather every recipe's quantised row-wise copy (data + block scales); torchao's float8 TP plans
    only tensorwise (rowwise and MX run plain 16-bit TP); Intel's Gaudi TE is not established: 16-bit."""
    c, fw = _ctx(catalog, stack, recipe, precision, gpu="B200-SXM-180GB")
    assert sp_gather_bytes(c, fw) == pytest.approx(want, rel=1e-12)


def _tp_seconds(catalog, fw, sp=True, tp=8):
    t = TrainingSpec(precision="fp8", seq_len=4096, global_batch=64)
    d = layer_terms(DENSE, t, _hw(catalog), fw, np.array([tp]), np.array([1]), np.array([1]), np.array([1]),
                    np.array([sp]), np.array([0]), 0.0, True)
    return float(d["tp"][0])


def test_exposed_gathers_move_one_byte_the_reduce_scatters_two(catalog):
    """All TP collectives exposed (no userbuffers, no async backward), a dense FP8 layer at TP 8 with SP under
    delayed scaling: the two passes' all-gathers shrink to their 1-byte time, the reduce-scatters keep the 2-byte
    one, so the TP seconds are (AG(1 B) + RS(2 B)) / (AG(2 B) + RS(2 B)) of the 16-bit-gather stack's."""
    fw = replace(stacks.resolve("megatron-core", fp8_recipe="delayed"), tp_overlap="none", tp_bwd_async=False)
    c, _ = _ctx(catalog)
    one, two = (float(np.asarray(collective_time("all_reduce", c.T * DENSE.hidden * b, c.tp, 1, c.g, *c.tp_links)))
                for b in (1.0, 2.0))
    quantised, wide = _tp_seconds(catalog, fw), _tp_seconds(catalog, replace(fw, quantised_tp_gathers=()))
    assert one < 0.75 * two
    assert quantised == pytest.approx(wide * (one + two) / (2 * two), rel=1e-9)


def test_without_sequence_parallelism_the_all_reduces_stay_16_bit(catalog):
    """Without SP there is no gather: TE all-reduces the row-parallel outputs in 16 bits."""
    fw = replace(stacks.resolve("megatron-core", fp8_recipe="delayed"), tp_overlap="none", tp_bwd_async=False)
    assert _tp_seconds(catalog, fw, sp=False) == _tp_seconds(catalog, replace(fw, quantised_tp_gathers=()), sp=False)


def test_layers_the_recipe_keeps_16_bit_gather_16_bit(catalog):
    """A layer Megatron-Core keeps in bf16 (``--first-last-layers-bf16``: ``bf16_share`` 1) runs TE's modules outside
    FP8, so its gathers move 2 B: the same TP seconds as the 16-bit-gather stack's; half such layers, halfway."""
    fw = replace(stacks.resolve("megatron-core", fp8_recipe="delayed"), tp_overlap="none", tp_bwd_async=False)
    t = TrainingSpec(precision="fp8", seq_len=4096, global_batch=64)

    def tp_s(stack, share):
        d = layer_terms(DENSE, t, _hw(catalog), stack, np.array([8]), np.array([1]), np.array([1]), np.array([1]),
                        np.array([True]), np.array([0]), 0.0, True, bf16_share=share)
        return float(d["tp"][0])

    wide = replace(fw, quantised_tp_gathers=())
    assert tp_s(fw, 1.0) == pytest.approx(tp_s(wide, 1.0), rel=1e-12)
    assert tp_s(fw, 0.5) == pytest.approx((tp_s(fw, 0.0) + tp_s(wide, 0.0)) / 2, rel=1e-9)
