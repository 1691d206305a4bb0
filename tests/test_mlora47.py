"""mlora47: LoRA of a MoE is priced as the stack's LoRA code adapts the experts (finetune.EXPERT_ADAPTERS). peft on
transformers 5.x wraps the fused 3-D experts and the router in ``ParamWrapper`` (W + delta per call: a full weight
gradient of the experts); Megatron-Bridge / NeMo 2 wrap each Megatron-Core expert linear in a ``ParallelLinearAdapter``
run per token and routed expert beside the frozen grouped GEMM (no weight gradient; one adapter for a grouped
expert linear, rank r). Until mlora47 every stack was priced as peft's: ~98% of full training's FLOPs for a
Qwen3-30B-A3B LoRA on megatron-bridge."""
from __future__ import annotations

import pytest

from conftest import answered, write_job
from planner.model import finetune as F
from planner.model.flops import step_flops
from planner.spec.load import load_job_dict

_SEQ, _GB = 8192, 64


def _job(framework=None, targets=None):
    lora = {"rank": 32, "alpha": 64} | ({"targets": targets} if targets else {})
    tr = {"seq_len": _SEQ, "global_batch": _GB, "micro_batch": 1, "precision": "bf16", "mode": "lora",
          "lora": lora, "tokens": 5.0e8} | ({"framework": framework} if framework else {})
    return {"model": {"preset": "qwen3-30b-a3b"}, "training": tr, "parallel": {"tp": 1, "pp": 1, "zero": 1},
            "cluster": {"instance": "aws:p5en.48xlarge", "nodes": 1}}


def _share(framework, targets=None):
    j = load_job_dict(_job(framework, targets))
    m, t = j.model, j.training
    lora = F.training_step_flops(m, t, _SEQ, _GB, micro_batch=1)["model"]
    return float(lora / step_flops(m, _SEQ, _GB)["model"]), m, t


def test_megatron_bridge_moe_lora_has_no_expert_weight_gradient():
    """By hand, per token of Qwen3-30B-A3B (48 layers, h 2048, 128 experts of f 768, top-8) at rank 32: peft's
    ParamWrapper adds the experts' full weight gradient, 2 x 3 x 2048 x 768 x 8 x 48 = 3.6 GFLOPs a token, to the
    frozen base's input gradients; Megatron-Bridge's per-token expert adapters add only 3 x 2 x 32 x (2048 + 1536 +
    768 + 2048) x 8 x 48 = 0.47 GFLOPs. The step falls from 98% of full training's to 85-86% (the 8K attention core,
    counted in full by both, keeps it above the dense ~70%)."""
    hf, m, t_hf = _share("hf-trainer")
    mb, _, t_mb = _share("megatron-bridge")
    assert 0.97 < hf < 0.99
    assert 0.84 < mb < 0.87
    assert F.full_weight_grads(m, t_hf) == {"router": 1.0, "experts_up": 1.0, "experts_down": 1.0}
    assert F.full_weight_grads(m, t_mb) == {}
    assert _share("nemo")[0] == pytest.approx(mb)


def test_megatron_bridge_expert_adapter_is_shared_at_rank_r():
    """One ParallelLinearAdapter per grouped expert linear (Megatron-Bridge ``_uses_grouped_expert_sharding``: a
    shared adapter), at rank r (peft's conversion gives the fused gate_up_proj rank 2r, one per expert): per MoE
    layer 32 x (2048 + 1536) + 32 x (768 + 2048) for the experts, against peft's 128 x (64 x (2048 + 1536) +
    32 x (768 + 2048))."""
    j = load_job_dict(_job("megatron-bridge"))
    m, t = j.model, j.training
    experts = [(L, r) for mo, _, _, L, r in F.adapted(m, t) if mo and L.copies > 1]
    assert [(L.shared_adapter, r, L.module) for L, r in experts] == [(True, 32, "linear")] * 2
    jh = load_job_dict(_job("hf-trainer"))
    per_layer = lambda m, t: sum(r * (L.fan_in + L.fan_out) * F._adapter_copies(L)  # noqa: E731
                                 for mo, _, _, L, r in F.adapted(m, t) if mo and L.copies > 1)
    assert per_layer(m, t) == 32 * (2048 + 1536) + 32 * (768 + 2048)
    assert per_layer(jh.model, jh.training) == 128 * (64 * (2048 + 1536) + 32 * (768 + 2048))


def test_megatron_target_names_reach_the_experts():
    """Megatron-Bridge matches ``linear_fc1`` / ``linear_fc2`` on the experts too (``is_expert_linear``:
    ``.*mlp\\..*experts.*\\.linear_fc[1-2]$``); the list adapted no expert before (peft's conversion names)."""
    j = load_job_dict(_job("megatron-bridge", ["linear_qkv", "linear_proj", "linear_fc1", "linear_fc2"]))
    names = {L.name for mo, _, _, L, r in F.adapted(j.model, j.training) if mo and r}
    assert {"experts.linear_fc1", "experts.linear_fc2"} <= names
    assert F.unmatched_targets(j.model, j.training) == []


def test_finetune_line_names_the_stack_wrap(cli, tmp_path):
    """The frozen-base line says how the stack adapts the experts: peft's ParamWrapper (a full weight gradient)
    on hf-trainer, Megatron-Bridge / NeMo 2's per-token ParallelLinearAdapter on megatron-bridge."""
    mb = answered(cli("estimate", write_job(tmp_path, _job("megatron-bridge")), "--json"))
    line = next(a for a in mb["advice"] if a.startswith("frozen base:"))
    assert "the routed experts too: Megatron-Bridge / NeMo 2 ParallelLinearAdapter" in line, line
    assert "full weight gradient" not in line, line
    per_active = mb["flops_per_step"] / (_SEQ * _GB) / mb["params_active"]
    assert 9.0 < per_active < 10.0, per_active
    hf_job = _job("hf-trainer")
    hf_job["parallel"]["zero"] = 0
    hf = answered(cli("estimate", write_job(tmp_path, hf_job), "--json"))
    line = next(a for a in hf["advice"] if a.startswith("frozen base:"))
    assert "a full weight gradient, peft's ParamWrapper runs them on W + delta" in line, line
