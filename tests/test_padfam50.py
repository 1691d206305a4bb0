"""Padding masks on the RMSNorm families padmask49 left, and fp32 GPT-2 / BERT under sdpa on a GPU (padfam50).

Truth: tests/data/hf_activations.json ``padfam`` (tests/make_hf_activations.py ``--padfam``; transformers 5.23.0,
torch 2.13.0+cpu). ``cases``: tiny Gemma 2 (eager only: transformers gives it no sdpa), Gemma 3, OLMo 2, DeepSeek-V3
(MLA), Mixtral and Qwen3-MoE, eager and sdpa, bf16, (1, 64) and (2, 128), the last row's last quarter padded or not,
gradient checkpointing off / on. ``fp32_fused``: GPT-2 / BERT in fp32 with the attention dropout at 0, where the CPU
runs its flash kernel, which keeps the set a GPU's mem-efficient kernel keeps for an fp32 q (q, k, v, the output, the
fp32 log-sum-exp; with padding the mask in q's dtype). No transformers needed here.
"""
import json
from pathlib import Path

import pytest

from planner.model.activations_hf import (MEM_EFF_LSE_ALIGN, hf_attn_impl, hf_saved_bytes, hf_step_memory,
                                          hf_table_precision)
from test_families import FLOPS, _spec
from test_hfstep48 import gpu_saved

DATA = json.loads((Path(__file__).parent / "data" / "hf_activations.json").read_text())["padfam"]
FLASH_CPU = ["aten::_scaled_dot_product_flash_attention_for_cpu",
             "aten::_scaled_dot_product_flash_attention_for_cpu_backward"]


def _check(c: dict) -> None:
    """A recorded case against the CPU plan: saves within 0.5%, after the forward within 1%, the step's peak within
    3% (measured -0.6..+2.7%: the checkpointed recompute's peak, padded or not)."""
    fam = c["family"]
    m, mt = _spec(FLOPS[fam]), FLOPS[fam]["resolved_config"]["model_type"]
    impl = hf_attn_impl(m, True, c["attn_implementation"], device="cpu", padded=c["padded"])
    gc = c["gradient_checkpointing"]
    key = (fam, c["attn_implementation"], c["batch"], c["padded"], gc)
    assert hf_saved_bytes(m, mt, c["seq"], c["batch"], c["precision"], impl, gc) == pytest.approx(
        c["saved_bytes"], rel=0.005), key
    st = hf_step_memory(m, mt, c["seq"], c["batch"], c["precision"], impl, gc)
    assert st.after_forward == pytest.approx(c["live_after_forward_bytes"], rel=0.01), key
    assert st.peak_step == pytest.approx(c["live_peak_fwd_bwd_bytes"], rel=0.03), key


@pytest.mark.parametrize("fam", ["gemma2", "gemma3_text", "olmo2", "mixtral", "qwen3_moe"])
def test_padmask_rule_holds_on_the_other_families(fam):
    """padmask49's rule, unchanged, on five more families: padded sdpa rows take "fused_mask" (the mask in q's dtype
    a layer; GQA's k / v expanded; every checkpoint holds the per-row mask), eager's padded rows save what unpadded
    ones do. Measured: saves -0.21..0.0%, after the forward -0.14..+0.34%, peak -0.35..+2.5%. These pass on the code
    before padfam50 too: the recording confirms the rule there, it changes nothing."""
    cases = [c for c in DATA["cases"] if c["family"] == fam]
    assert len(cases) == (8 if fam == "gemma2" else 16)
    for c in cases:
        assert c["sdpa_ops"] == ([] if c["attn_implementation"] == "eager" else FLASH_CPU)
        _check(c)
        if c["padded"] and c["attn_implementation"] == "eager":
            twin = next(t for t in cases if not t["padded"] and t["attn_implementation"] == "eager"
                        and (t["batch"], t["gradient_checkpointing"]) == (c["batch"], c["gradient_checkpointing"]))
            assert twin["saved_bytes"] == c["saved_bytes"]


def test_mla_math_path_padded_checkpoints_hold_the_mask():
    """DeepSeek-V3's MLA: the CPU's sdpa is the math path (no op named ``scaled_dot_product``), which adds the padding
    mask to the scores and saves neither (padded = unpadded without checkpointing), but under checkpointing the
    blocks' checkpoints hold the (b, 1, s, s) boolean mask (one storage, handed to every block): the CPU key
    "math_mask". Before padfam50 the plan read
    "sdpa" and was 3.3% (batch 1) / 6.5% (batch 2) short of the checkpointed saves; now exact. A GPU plan keeps
    "fused_mask" (the mem-efficient kernel, which keeps the mask as its bias)."""
    m = _spec(FLOPS["deepseek_v3"])
    assert hf_attn_impl(m, True, "sdpa", device="cpu", padded=True) == "math_mask"
    assert hf_attn_impl(m, True, "sdpa", device="cpu") == "sdpa"
    assert hf_attn_impl(m, True, "sdpa", padded=True) == "fused_mask"
    cases = [c for c in DATA["cases"] if c["family"] == "deepseek_v3"]
    assert len(cases) == 16
    for c in cases:
        assert c["sdpa_ops"] == []
        _check(c)
    for b in (1, 2):
        pad, nopad = (next(c for c in cases if c["attn_implementation"] == "sdpa" and c["batch"] == b
                           and c["gradient_checkpointing"] and c["padded"] is p) for p in (True, False))
        assert pad["saved_bytes"] - nopad["saved_bytes"] == b * pad["seq"] ** 2  # one 1 B mask, every block's


def test_fp32_layernorm_gpu_sdpa_keeps_the_mem_efficient_set():
    """fp32 GPT-2 / BERT under sdpa on a GPU ("fused"; padded "fused_mask") against the fp32 flash-kernel truth with
    a GPU's 1 B dropout masks: saves within 0.5% (measured 0.0..+0.14%), after the forward within 1.5% (-1.2..+0.25%),
    the step's peak within 5% (-4.5..+4.9%: the checkpointed recompute). The CPU recorded a flash kernel (fp32 is
    fine there); a GPU's flash takes 16-bit q only, so its mem-efficient kernel runs, which keeps the same set."""
    cases = DATA["fp32_fused"]
    assert len(cases) == 16
    for c in cases:
        assert c["sdpa_ops"] == FLASH_CPU
        fam = c["family"]
        m = _spec(FLOPS[fam])
        prec = hf_table_precision("fp32", True, fam)
        impl = hf_attn_impl(m, True, "sdpa", padded=c["padded"])
        assert impl == ("fused_mask" if c["padded"] else "fused")
        gc = c["gradient_checkpointing"]
        key = (fam, c["batch"], c["padded"], gc)
        assert hf_saved_bytes(m, fam, c["seq"], c["batch"], prec, impl, gc) == pytest.approx(gpu_saved(c),
                                                                                              rel=0.005), key
        st = hf_step_memory(m, fam, c["seq"], c["batch"], prec, impl, gc)
        assert st.after_forward == pytest.approx(c["live_gpu"]["after_forward"], rel=0.015), key
        assert st.peak_step == pytest.approx(c["live_gpu"]["peak_fwd_bwd"], rel=0.05), key


@pytest.mark.parametrize("fam", ["gpt2", "bert"])
def test_fp32_mem_efficient_lse_rows_padded_to_32(fam):
    """The mem-efficient kernel's log-sum-exp is (b, H, ceil(s / 32) * 32) fp32 (torch 2.13 cuda/attention.cu
    ``_efficient_attention_forward``): at s = 100 each batch row keeps 28 rows a head and layer beyond s, a cost
    that is not linear in s. The per-row saves (batch 2 minus batch 1) at 100 tokens exceed 100 / 96 of those at 96
    by exactly 28 x 4 B x H x layers in fp32; in bf16 (flash: s rows) by nothing. Before padfam50: 0 in fp32 too."""
    m = _spec(FLOPS[fam])
    fp32 = hf_table_precision("fp32", True, fam)

    def per_row(s, prec):
        return hf_saved_bytes(m, fam, s, 2, prec, "fused") - hf_saved_bytes(m, fam, s, 1, prec, "fused")

    pad = (-(-100 // MEM_EFF_LSE_ALIGN) * MEM_EFF_LSE_ALIGN) - 100
    assert pad == 28
    assert per_row(100, fp32) - per_row(96, fp32) * 100 / 96 == pytest.approx(4 * m.heads * m.layers * pad, abs=1e-3)
    assert per_row(100, "bf16") - per_row(96, "bf16") * 100 / 96 == pytest.approx(0, abs=1e-3)
