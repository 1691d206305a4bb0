"""epw51: a frozen base's weight-sized per-call bytes (peft's ``ParamWrapper`` ``W + delta`` on the 3-D experts,
autocast's uncached bf16 casts of an fp32 base's linears) are the size of what each rank holds of the tensor copied:
the routed experts at their own share -- transformers' EP plan shards dim 0 of each expert tensor
(integrations/tensor_parallel.py ``GroupedGemmParallel``: ``E / ep`` whole experts a rank), as does DeepSpeed's AutoEP
-- and the attention, routers, norms and ends at theirs (whole under transformers' Qwen3-MoE EP plan). cpmem51 put
both at the model-wide weight share (``hf_grad_share``, 0.288 for Qwen3-30B-A3B at TP4 EP4), ~1.9 GB a GPU high on
the experts and the attention's casts 71% low. Each expected value is counted from the model's config, not from the
planner's shares; each test fails on the code before (cpmem51)."""
from __future__ import annotations

import json

import pytest
from conftest import write_job

from planner.spec import ModelSpec
from planner.spec.presets import PRESETS

JOB = """
model: {preset: qwen3-30b-a3b}
training: {mode: lora, seq_len: 8192, global_batch: 32, precision: bf16, dataset_samples: 40000,
           mean_example_tokens: 3000, packing: packed, epochs: 2, framework: %s%s}
parallel: {tp: %d, ep: %d, etp: %d, dp: %d, zero: %d}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""
M = ModelSpec(**PRESETS["qwen3-30b-a3b"])
#: the routed experts' materialised W + delta a forward keeps, in bf16 (fused gate_up_proj 2f x h and down_proj
#: h x f per expert, 128 experts, 48 layers): 58.0 GB
W_DELTA = M.layers * M.moe.experts * 3 * M.hidden * M.ffn_hidden * 2.0


def _activations(cli, tmp_path, stack, tp, ep, dp, zero, extra=""):
    etp = tp if ep == 1 and stack == "hf-trainer" else 1  # rule hf-etp
    path = write_job(tmp_path, JOB % (stack, extra, tp, ep, etp, dp, zero), name=f"{stack}-{tp}-{ep}-{zero}.yaml")
    code, text, err = cli("estimate", path, "--json")
    assert code == 0, err
    out = json.loads(text)
    return out["config"]["micro_batch"], out["memory_per_gpu_bytes"]["activations"]


def test_fp32_base_under_the_ep_plan_experts_at_a_quarter_attention_casts_whole(cli, tmp_path):
    """LoRA all-linear over an fp32 base, HF Trainer autocast, ZeRO-2 (ZeRO-0 until qa105: transformers' fsdp_size 1
    there, which EP4 cannot divide -- rule hf-ep-tp), TP1: at EP4 (transformers 5.23 lays the EP
    group over the data-parallel ranks, hfep52) a rank's tokens' saves and the attention's and routers' per-call bf16
    casts are TP1's; only the experts' W + delta casts differ, a rank holding 32 of 128. cpmem51: all at 0.288;
    epw51-hfep52 compared TP4 EP4 under an older EP plan that left the attention whole."""
    fp32 = ", base_weights: fp32"
    mb1, a1 = _activations(cli, tmp_path, "hf-trainer", 1, 1, 16, 2, fp32)
    mb4, a4 = _activations(cli, tmp_path, "hf-trainer", 1, 4, 16, 2, fp32)
    assert mb1 == mb4
    assert a1 - a4 == pytest.approx((1.0 - 32 / 128) * W_DELTA, rel=1e-9), (a1, a4)


def test_autoep_experts_w_delta_over_ep(cli, tmp_path):
    """DeepSpeed's AutoEP at TP1 EP4 (``AutoEPMoELayer``: E / ep whole experts a rank, the rest whole at TP1): the
    tokens' saves are TP1's, the experts' W + delta a quarter. cpmem51: 0.288 of it (and of the routers')."""
    mb1, a1 = _activations(cli, tmp_path, "deepspeed", 1, 1, 16, 2)
    mb4, a4 = _activations(cli, tmp_path, "deepspeed", 1, 4, 16, 2)
    assert mb1 == mb4
    assert a1 - a4 == pytest.approx((1.0 - 32 / 128) * W_DELTA, rel=1e-9), (a1, a4)
