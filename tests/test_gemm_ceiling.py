"""benchmarks/gemm_ceiling.py: the in-step GEMM rate a measured step implies over the part's measured matmul ceiling
(tog53: Together's B200 Nemotron-4 15B bf16 rows ask for 1.05-1.10x it, every H100 and NVIDIA Blackwell 16-bit row at
most 0.78x)."""
import math
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def gc():
    import gemm_ceiling

    return gemm_ceiling


def test_ceilings_are_the_mamf_rows_and_agree_with_the_gb200_clock(gc):
    """The ceilings are ml-engineering's bf16 MAMF rows as stored, and their GB200 / B200 ratio is the measured clock
    gain the physics module prices GB200 at (physics.MEASURED_CLOCK_GAIN: the same two rows, written there by hand)."""
    from planner.model import physics

    c = gc.ceilings()
    assert c["B200-SXM-180GB"] == pytest.approx(1745e12)
    assert c["GB200-B200"] == pytest.approx(1822e12)
    assert c["H100-SXM-80GB"] == pytest.approx(794.5e12)
    assert c["GB200-B200"] / c["B200-SXM-180GB"] == pytest.approx(physics.MEASURED_CLOCK_GAIN["GB200"])
    assert "A100-SXM-80GB" not in c  # no MAMF row: no ceiling, not a guess


def test_implied_rate_holds_the_other_terms_at_the_planners_price(gc):
    """Measured = predicted gives the planner's own rate; a shorter step leaves its GEMMs the difference; rows the
    16-bit ceiling does not price (FP8, recompute) or without a ceiling are NaN; a step shorter than the other terms
    alone asks for an unbounded rate."""
    cap = {"B200-SXM-180GB": 2e15}
    base = dict(gpu="B200-SXM-180GB", precision="bf16", rc=0, predicted_s=1.0, compute_gemm=0.8, gemm_flops=1.6e15)
    df = pd.DataFrame([{**base, "measured_s": 1.0}, {**base, "measured_s": 0.6},
                       {**base, "measured_s": 0.6, "precision": "fp8"}, {**base, "measured_s": 0.6, "rc": 2},
                       {**base, "measured_s": 0.6, "gpu": "A100-SXM-80GB"}, {**base, "measured_s": 0.15}])
    out = gc.implied(df, cap)
    assert out["model"][0] == pytest.approx(1.0)  # 1.6e15 / 0.8 s over 2e15
    assert out["implied"][0] == pytest.approx(out["model"][0])
    assert out["gemm_left_s"][1] == pytest.approx(0.4)
    assert out["implied"][1] == pytest.approx(2.0)  # 1.6e15 / 0.4 s over 2e15
    assert out["implied"][2:5].isna().all()
    assert math.isinf(out["implied"][5])


def test_gemm_flops_count_every_matmul_once_forward_and_twice_backward(gc):
    """``mfu_frontier.gemm_flops``: 6 x the matmul weights x tokens for a dense model (squared-ReLU MLP: two matrices;
    GQA: the K and V projections at kv_heads x head_dim; untied embeddings: the output layer's GEMM, the input
    lookup none), counted here by hand for Nemotron-4 15B at the Together rows' batch."""
    import mfu_frontier
    from planner.spec import ModelSpec, TrainingSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(name="n15", layers=32, hidden=6144, heads=48, kv_heads=8, ffn_hidden=24576, vocab=256000,
                  mlp="relu", norm="layernorm")
    t = TrainingSpec(seq_len=4096, global_batch=256, precision="bf16")
    h, kvd = 6144, 8 * 128
    weights = 32 * (h * (h + 2 * kvd) + h * h + 2 * h * 24576) + 256000 * h
    assert weights == 14_055_112_704
    assert mfu_frontier.gemm_flops(m, t) == pytest.approx(6 * weights * 256 * 4096, rel=1e-9)
    assert np.isnan(mfu_frontier.gemm_flops(ModelSpec(**PRESETS["resnet50"]), t))
