"""What Transformer Engine's FP8 path adds to a routed expert's GEMMs (fp8moe55): the parts table read from TE's
source (benchmarks/data/parts/fp8_expert_path.csv) against what the planner prices, and the one part that was priced
wrong -- an FP8 GEMM writes its output at the activation width, not the operands' 1 byte."""
from dataclasses import replace

import pytest

from benchmarks.parts_data import load
from planner.hardware.options import HardwareOption, efficiency_for
from planner.model import stacks
from planner.model.layer_ops import layer_context
from planner.model.moe import split_quantize_kernels
from planner.model.stack_kernels import te_cast_bytes
from planner.spec import ModelSpec, TrainingSpec

#: the part each row's ``arch`` is checked on
ARCH_GPU = {"Hopper": "H100-SXM-80GB", "Blackwell": "B200-SXM-180GB"}
DENSE = ModelSpec(name="d", layers=8, hidden=4096, heads=32, ffn_hidden=14336, vocab=32000)


@pytest.fixture(scope="module")
def rows():
    return load("fp8_expert_path")


def _megatron(recipe):
    return replace(stacks.resolve("megatron-core"), fp8_recipe=recipe)


def test_cast_bytes_as_te_runs_them(rows):
    """Every per-expert quantisation the table reads from TE (one read of the 16-bit rows, the row-wise and, where the
    part's FP8 GEMMs need it, the transposed copy, the scales) is what the planner charges per element on that part."""
    priced = [r for r in rows if "cast_bytes" in r["planner_term"].split(";")]
    assert {r["recipe"] for r in priced} == {"tensorwise", "delayed", "mxfp8", "blockwise"}
    for r in priced:
        assert te_cast_bytes(_megatron(r["recipe"]), ARCH_GPU[r["arch"]]) == pytest.approx(r["bytes_per_element"]), r["id"]


def test_per_expert_quantize_launches(rows):
    """TE's split_quantize runs one fused kernel for every expert under delayed scaling only, else one quantizer call
    per expert: 3 kernels under current scaling (amax, scale, cast), 1 under MXFP8 / block-wise. Megatron-Core's
    unfused TEGroupedMLP is priced with as many launches per expert and quantised tensor."""
    for r in rows:
        if "cast_bytes" in r["planner_term"].split(";"):
            want = r["kernels_per_expert"] if "split_kernels" in r["planner_term"] else 0.0
            assert split_quantize_kernels(_megatron(r["recipe"]), r["recipe"]) == want, r["id"]


def test_what_is_left_unpriced(rows):
    """The ops of the path the planner does not price (MXFP8's scale swizzle before each grouped GEMM, skipped by
    the TE versions whose quantizers write GEMM-swizzled scales; the host side of the per-expert quantize loop): pricing
    one, or finding another, updates the table."""
    assert {r["id"] for r in rows if r["priced"] == "no"} == {"mxfp8_scale_swizzle", "split_quantize_host"}
    assert all(r["source"] and r["provenance"].startswith("https://github.com/NVIDIA/TransformerEngine") for r in rows)


@pytest.mark.parametrize("recipe", ["tensorwise", "mxfp8"])
def test_fp8_gemm_writes_its_output_16_bit(catalog, recipe):
    """A memory-bound FP8 GEMM (K = 16) moves its 1-byte operands and its 2-byte output (TE: ``out_dtype=
    activation_dtype``): forward = traffic at HBM rate + the input cast. On the old code the output counted 1 byte."""
    gpu = catalog.gpu("B200-SXM-180GB" if recipe == "mxfp8" else "H100-SXM-80GB")
    hw = HardwareOption(name=gpu.name, gpu=gpu, gpus_per_node=8, inter_node_bw=400e9, intra_bw=gpu.intra_node_bw,
                        eff=efficiency_for(gpu))
    c = layer_context(DENSE, TrainingSpec(precision="fp8", seq_len=4096, global_batch=64), hw, _megatron(recipe),
                      1, 1, 1, 1, True, None, None)
    M, N, K = 65536.0, 65536.0, 16.0
    fwd, _ = c.gemm(M, N, K)
    bw = gpu.hbm_bw * c.eff.hbm
    assert fwd == pytest.approx(((M * K + K * N) * 1.0 + M * N * 2.0) / bw + M * K * c.cast_b / bw, rel=1e-9)
    assert c.out_bytes(1.0) == 2.0


def test_16_bit_gemm_traffic_unchanged(catalog):
    """Outside low precision the output is at the operands' width, as before."""
    gpu = catalog.gpu("H100-SXM-80GB")
    hw = HardwareOption(name=gpu.name, gpu=gpu, gpus_per_node=8, inter_node_bw=400e9, intra_bw=gpu.intra_node_bw,
                        eff=efficiency_for(gpu))
    c = layer_context(DENSE, TrainingSpec(precision="bf16", seq_len=4096, global_batch=64), hw,
                      stacks.resolve("megatron-core"), 1, 1, 1, 1, True, None, None)
    M, N, K = 65536.0, 65536.0, 16.0
    assert c.gemm(M, N, K)[0] == pytest.approx((M * K + K * N + M * N) * 2.0 / (gpu.hbm_bw * c.eff.hbm), rel=1e-9)
    assert c.out_bytes(2.0) is None
