"""small31b leftovers: ``moe_shared_expert_overlap`` in the "training stack:" line of models without shared experts,
and autocast's fp32 weights under the FSDP stacks' mixed-precision policies. Each check fails on the code before."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import answered, write_job


def _job(model: dict, parallel: dict) -> dict:
    return {"model": model,
            "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1e10, "micro_batch": 1, "recompute": "none",
                         "framework": {"name": "megatron-core", "moe_shared_expert_overlap": True}},
            "parallel": parallel, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 8}}


@pytest.mark.parametrize("preset,parallel,listed", [
    ("llama3-8b", {"tp": 2}, False),                    # dense
    ("mixtral-8x7b", {"tp": 2, "ep": 2}, False),        # MoE, no shared experts
    ("deepseek-v3", {"tp": 1, "pp": 8, "ep": 8}, True),  # shared experts: the option acts
])
def test_shared_expert_overlap_is_in_the_stack_line_only_with_shared_experts(tmp_path, cli, preset, parallel, listed):
    """The load note said the option changes nothing on Llama-3-8B and Mixtral-8x7B while the stack line still
    read "moe_shared_expert_overlap=on"."""
    out = answered(cli("estimate", write_job(tmp_path, _job({"preset": preset}, parallel)), "--json"))
    line = out["inputs"]["training_stack"]
    assert line.startswith("training stack: megatron-core (")
    assert ("moe_shared_expert_overlap=on" in line) is listed, line
    said = [a for a in out["assumptions"] if "moe_shared_expert_overlap changes nothing" in a]
    assert bool(said) is not listed, said


# ---- 2. FSDP1 SHARD_GRAD_OP (ZeRO-2) with a 16-bit param_dtype: no autocast casts ------------------------------------
def _fsdp(tmp_path, cli, framework, weights, zero):
    job = {"model": {"preset": "llama3-8b"},
           "training": {"tokens": 1e9, "framework": framework, "seq_len": 2048, "global_batch": 64, "micro_batch": 1,
                        "weights": weights},
           "parallel": {"tp": 1, "pp": 1, "zero": zero}, "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 8}}
    return answered(cli("estimate", write_job(tmp_path, job, f"{framework}-{weights}-{zero}.yaml"), "--json"))


def test_fsdp1_zero2_amp_prices_no_autocast_casts(tmp_path, cli, framework="llm-foundry"):
    """Composer's DEFAULT / PURE presets (mosaic_parallelism.py ``get_mixed_precision``) and accelerate's
    ``set_mixed_precision`` give FSDP1 ``param_dtype=bf16``: at SHARD_GRAD_OP as at FULL_SHARD the forward gets bf16
    parameters and autocast casts nothing. ZeRO-2 under AMP paid the fp32 -> bf16 casts (6 B a weight per
    micro-batch in ``compute_memory_bound``); it now times as ZeRO-2 with 16-bit weights does. ZeRO-0 (DDP over fp32
    weights) still casts. (HF Trainer autocasts whatever ``weights`` says: its stages are checked below.)"""
    amp, meg = _fsdp(tmp_path, cli, framework, "amp", 2), _fsdp(tmp_path, cli, framework, "megatron", 2)
    assert abs(amp["breakdown_s"]["compute_memory_bound"] - meg["breakdown_s"]["compute_memory_bound"]) < 1e-9
    amp0, meg0 = _fsdp(tmp_path, cli, framework, "amp", 0), _fsdp(tmp_path, cli, framework, "megatron", 0)
    assert amp0["breakdown_s"]["compute_memory_bound"] > meg0["breakdown_s"]["compute_memory_bound"] + 0.05


def test_which_stacks_find_fp32_weights_under_autocast():
    """Per ZeRO stage 0..3: DDP and optimizer sharding replicate the fp32 weights (casts), FSDP hands 16-bit ones;
    an FSDP ZeRO-2 (FSDP2, or FSDP1 SHARD_GRAD_OP with a 16-bit param_dtype) too."""
    from planner.model.stacks import STACKS

    zero = np.arange(4)
    for name in ("llm-foundry", "hf-trainer", "fsdp", "torchtitan", "nemo-automodel"):
        assert STACKS[name].autocast_finds_fp32(zero).tolist() == [True, True, False, False], name
    for name in ("pytorch-ddp", "dle-convnets", "deepspeed", "megatron-core"):
        assert STACKS[name].autocast_finds_fp32(zero).tolist() == [True, True, True, False], name
