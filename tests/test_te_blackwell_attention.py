"""Transformer Engine's cuDNN attention trains head dims above 128 only on Hopper: on Blackwell (SM100 / SM103) a
head-dim-192 model such as Nemotron-4 340B falls back to flash-attn 2 (physics.te_training_attention_kernel, from
TE's ``nvte_get_fused_attn_backend``), and flash-attn 2 runs on GB200 at the rate Azure's one harness measured against
H100 (physics.FA2_BLACKWELL)."""
import sys

import pandas as pd
import pytest

from benchmarks.parts_data import load
from hardware_catalog import load_catalog
from planner.model import physics
from conftest import ROOT, cluster_option

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.parametrize("gpu,d_qk,d_v,kernel", [
    ("GB200-B200", 192, 192, "fa2"),       # Nemotron-4 340B on GB200: no cuDNN backward above 128 on SM100
    ("B200-SXM-180GB", 256, 256, "fa2"),   # Gemma-style 256 on HGX B200
    ("GB300-B300", 192, 192, "fa2"),       # SM103 the same
    ("GB200-B200", 128, 128, "cudnn"),     # Llama head dim: cuDNN
    ("GB200-B200", 192, 128, "cudnn"),     # MLA's 192 / 128: cuDNN >= 9.11 on SM100
    ("H100-SXM-80GB", 192, 192, "cudnn"),  # Hopper: cuDNN >= 9.5 trains up to 256
])
def test_te_cudnn_head_dim_limit_on_blackwell(gpu, d_qk, d_v, kernel):
    assert physics.te_training_attention_kernel("cudnn", gpu, d_qk, d_v) == kernel
    # a stack that does not run TE's cuDNN backend keeps its own kernel
    assert physics.te_training_attention_kernel("fa3", gpu, d_qk, d_v) == "fa3"


def test_fa2_on_gb200_is_azures_measured_ratio_over_h100():
    """Azure's AI-benchmarking-guide runs the same flash-attn 2 benchmark on ND GB200 v6 and ND H100 v5: the model's
    FA2 rate on GB200 (its fraction times GB200's sustained 16-bit peak) over its FA2 rate on H100 is that ratio."""
    tflops = {r["id"]: r["tflops"] for r in load("attention_kernels")}
    measured = tflops["azure_gb200_FlashAttention-2_hd128_s8192"] / tflops["azure_h100_FlashAttention-2_hd128_s8192"]
    cat = load_catalog()

    def rate(gpu):
        hw = cluster_option(cat, gpu)
        f, b = physics.attention_efficiency("fa2", gpu, 16384, 0.0, 0.0)
        return f * physics.reachable_peak(hw, "bf16"), b * physics.reachable_peak(hw, "bf16")

    (g_f, g_b), (h_f, h_b) = rate("GB200-B200"), rate("H100-SXM-80GB")
    assert g_f / h_f == pytest.approx(measured, rel=1e-3)
    assert g_b / h_b == pytest.approx(measured, rel=1e-3)


def test_nemotron4_340b_on_gb200_attention_is_priced_as_flash_attn2():
    """The dgxc GB200 Nemotron-4 340B row (head dim 192, megatron-core's cuDNN default) times its attention as the
    same row run with flash-attn 2 named; the Llama 3.1 405B GB200 row (head dim 128) keeps cuDNN's, faster."""
    import validate
    from dataclasses import replace

    from planner.model.step_time import step_time

    cat = load_catalog()
    rows = pd.read_csv(validate.DGXC_CSV)

    def attention(rid):
        r = next(rows[rows["id"] == rid].itertuples())
        case = validate.pr2_case(cat, r)
        fw = validate.pr2_time_kw(case.stack, case.options)["framework"]
        out = {}
        for k in ("cudnn", "fa2"):
            st = step_time(case.model, case.training, case.candidates, case.hw, framework=replace(fw, attn_kernel=k))
            out[k] = float(st["compute_attention"][0])
        return out

    nemotron = attention("dgxc_2504_nemotron4-340b-gb200_bf16_128")
    assert nemotron["cudnn"] == pytest.approx(nemotron["fa2"], rel=1e-12)
    llama = attention("dgxc_2504_llama31-405b-gb200_bf16_128")
    assert llama["cudnn"] < 0.5 * llama["fa2"]
