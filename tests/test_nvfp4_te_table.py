"""NVFP4's GEMM and cast prices against Transformer Engine's own B300 GEMM profiling table (acc41b).

NVIDIA/TransformerEngine docs/features/low_precision_training/gemm_profiling/gemm_profiling.rst @33294178: B300, hidden
4096 / FFN 16384, M = 15,872 tokens, the 12 GEMMs of one layer, timed by benchmarks/gemm/benchmark_gemm.py as one
te.Linear forward each under autocast (operands quantised, then the GEMM) or pre-quantised (the kernel alone):

    per layer   BF16 12.227 / 12.835 ms, MXFP8 8.507 / 7.324 ms, NVFP4 6.439 / 3.754 ms
    fprop       BF16 4.056 ms, NVFP4 1.944 ms (autocast)

Until acc41b the planner ran NVFP4's GEMMs at its full FP4 peak fraction (gemm_rel 1.0, from Azure's GB200
cuBLASLt cubes): 4.0x BF16 pre-quantised where TE measures 3.42x, 2.28x MXFP8 where TE measures 1.95x.
"""
from dataclasses import replace

import pytest
from test_mxfp8_te_table import _ratios

from planner.model import physics, stack_kernels, stacks

TE_B300_NVFP4 = {"layer_autocast": 12.227 / 6.439, "layer_prequant": 12.835 / 3.754, "fprop_autocast": 4.056 / 1.944}


def _per_call_weight_casts(monkeypatch):
    """Megatron-Core's NVFP4 linears as TE's tool times them: the weight quantised at every call (the recipe's own
    ``weight_casts`` is once a step, and Megatron-Core caches the quantised weight across micro-batches)."""
    monkeypatch.setitem(stack_kernels.RECIPES, "nvfp4", replace(stack_kernels.RECIPES["nvfp4"], weight_casts="microbatch"))
    return replace(stacks.resolve("megatron-core", fp8_recipe="nvfp4"), caches_fp8_weights=False)


def test_nvfp4_recipe_is_read_off_the_te_b300_table():
    """The GEMM fraction: TE's NVFP4 / MXFP8 kernel ratio (7.324 / 3.754 = 1.951x) over the catalog's FP4 / FP8 peak
    ratio (2x), times MXFP8's 0.876; the casts: MXFP8's 4.0625 B times NVFP4's autocast overhead over MXFP8's, each
    over its own run's BF16 layer (0.234 / 0.125 = 1.87x)."""
    r = stack_kernels.RECIPES["nvfp4"]
    assert physics.LOW_PRECISION_PEAKS["fp4"][4] == 2.0
    assert r.gemm_rel == pytest.approx(0.876 * 1.951 / 2.0, rel=1e-3) and r.gemm_rel == pytest.approx(0.8545, abs=5e-4)
    assert stack_kernels.te_b300_cast_share("nvfp4") / stack_kernels.te_b300_cast_share("mxfp8") == pytest.approx(1.871, abs=1e-3)
    assert r.cast_bytes == pytest.approx(7.602, abs=1e-3)
    # the raw ms difference mixes two BF16 baselines 5% apart; the block-wise SM100 path keeps that reading
    assert stack_kernels.te_b300_cast_ms("nvfp4") / stack_kernels.te_b300_cast_ms("mxfp8") == pytest.approx(2.270, abs=1e-3)


def test_nvfp4_on_b300_gives_te_profiling_table_back(catalog, monkeypatch):
    """The kernels alone within 1% (TE 3.42x over BF16; the planner 3.42x, 4.0x before), per layer with the casts
    within 2% (TE 1.90x, the planner 1.93x; 2.65x before) and the forward GEMMs with theirs (TE 2.09x, 2.12x; 2.39x
    before)."""
    got = _ratios(catalog, "B300-SXM-288GB", "nvfp4", stack=_per_call_weight_casts(monkeypatch))
    assert got["layer_prequant"] == pytest.approx(TE_B300_NVFP4["layer_prequant"], rel=0.01), got
    assert got["layer_autocast"] == pytest.approx(TE_B300_NVFP4["layer_autocast"], rel=0.02), got
    assert got["fprop_autocast"] == pytest.approx(TE_B300_NVFP4["fprop_autocast"], rel=0.02), got


def test_nvfp4_over_mxfp8_as_te_measures(catalog, monkeypatch):
    """TE's ratios between the two block-scaled recipes: 1.95x on the kernels, 1.32x a layer with the casts."""
    mx = _ratios(catalog, "B300-SXM-288GB", "mxfp8")
    nv = _ratios(catalog, "B300-SXM-288GB", "nvfp4", stack=_per_call_weight_casts(monkeypatch))
    assert nv["layer_prequant"] / mx["layer_prequant"] == pytest.approx(7.324 / 3.754, rel=0.01)
    assert nv["layer_autocast"] / mx["layer_autocast"] == pytest.approx(8.507 / 6.439, rel=0.02)
