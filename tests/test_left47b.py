"""left47b: ``all-linear`` (and ``qkvo``) on the Megatron-Core stacks adapt Megatron-Core's modules, not the HF code's.

* NVIDIA-NeMo/Megatron-Bridge src/megatron/bridge/peft/lora.py ``LoRA.target_modules`` defaults to ``["linear_qkv",
  "linear_proj", "linear_fc1", "linear_fc2"]`` and ``transform`` wraps each matched module in ONE
  ``ParallelLinearAdapter(in_features, out_features, dim)``: on the fused ``linear_qkv`` A is r x h and B is
  (q + 2 kv) x r; on a gated ``linear_fc1`` B is 2 ffn x r. peft (hf-trainer) keeps q / k / v and gate / up apart, one
  A each. Until left47b the planner priced ``all-linear`` on megatron-bridge the peft way.
* module_matcher.py ``match`` takes a module whose own name equals an entry: Megatron-Core's MLA
  (multi_latent_attention.py) has ``linear_q_down_proj`` / ``linear_q_up_proj`` (or ``linear_q_proj``),
  ``linear_kv_down_proj`` / ``linear_kv_up_proj`` and ``linear_proj``, no ``linear_qkv``: the default list adapts only
  ``linear_proj`` of MLA's attention; naming the projections adapts them.
"""
import pytest

from planner.model import finetune as F


def _lora(preset, framework, targets=None, rank=16):
    from planner.spec.load import load_job_dict

    lora = {"rank": rank, "alpha": 2 * rank} | ({"targets": targets} if targets else {})
    tr = {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "precision": "bf16", "mode": "lora", "lora": lora,
          "tokens": 5e8, "framework": {"name": framework}}
    j = load_job_dict({"model": {"preset": preset}, "training": tr, "parallel": {"tp": 1, "pp": 1, "zero": 1},
                       "cluster": {"instance": "aws:p5en.48xlarge", "nodes": 1}})
    return j.model, j.training


def _on(m, t, moe=None):
    return {L.name: (L, r) for mo, _, _, L, r in F.adapted(m, t) if r and (moe is None or mo == moe)}


def test_llama3_8b_rank16_all_linear_fused_on_megatron_bridge_separate_on_peft():
    """Llama-3-8B (h 4096, q 4096, kv 1024, ffn 14336, 32 layers), rank 16, all-linear, counted by hand.
    Megatron-Bridge: linear_qkv 16 x (4096 + 6144), linear_proj 16 x (4096 + 4096), linear_fc1 16 x (4096 + 28672),
    linear_fc2 16 x (14336 + 4096) = 1,114,112 a layer, 35,651,584 in all. peft: q 16 x 8192, k and v 16 x 5120 each,
    o 16 x 8192, gate / up / down 16 x 18432 each = 1,310,720 a layer, 41,943,040 (what megatron-bridge read before)."""
    r = 16
    fused = r * ((4096 + 6144) + (4096 + 4096) + (4096 + 2 * 14336) + (14336 + 4096))
    apart = r * ((4096 + 4096) + 2 * (4096 + 1024) + (4096 + 4096) + 3 * (4096 + 14336))
    assert 32 * fused == 35_651_584 and 32 * apart == 41_943_040
    assert F.adapter_params(*_lora("llama3-8b", "megatron-bridge")) == 35_651_584
    assert F.adapter_params(*_lora("llama3-8b", "megatron-core")) == 35_651_584
    assert F.adapter_params(*_lora("llama3-8b", "hf-trainer")) == 41_943_040


def test_megatron_all_linear_is_the_default_target_list():
    """On megatron-bridge ``all-linear`` names the four fused modules and prices exactly as the explicit list
    (parameters, FLOPs, the frozen base's saved-activation delta); the fused qkv adapter's B is q + 2 kv wide."""
    m, t = _lora("llama3-8b", "megatron-bridge")
    on = _on(m, t)
    assert set(on) == set(F.MEGATRON_DEFAULT_TARGETS)
    qkv, r = on["linear_qkv"]
    assert (qkv.fan_in, qkv.fan_out, r) == (m.hidden, m.q_dim + 2 * m.kv_dim, 16)
    assert on["linear_fc1"][0].fan_out == 2 * m.ffn_hidden
    listed = _lora("llama3-8b", "megatron-bridge", list(F.MEGATRON_DEFAULT_TARGETS))[1]
    assert F.training_step_flops(m, t, 4096, 64) == F.training_step_flops(m, listed, 4096, 64)
    assert F.frozen_saved_delta(m, t, 4096, 1, 2.0) == F.frozen_saved_delta(m, listed, 4096, 1, 2.0)
    hf = _lora("llama3-8b", "hf-trainer")[1]
    fused, apart = (F.training_step_flops(m, x, 4096, 64)["model"] for x in (t, hf))
    # three fewer A (r x h) a layer, k's and v's beside q's, up's beside gate's: forward 2 r h a token, backward wgrad +
    # dgrad 4 r h, except layer 0's k and v A, which read the frozen embedding output (no dgrad); 64 x 4096 tokens
    tokens, r, h = 64 * 4096, 16, 4096
    assert apart - fused == pytest.approx(tokens * r * h * (3 * 6 * 32 - 2 * 2), rel=1e-12)
    # one rank-r intermediate saved for q, k, v and one for gate + up, not five
    assert F.frozen_saved_delta(m, t, 4096, 1, 2.0) < F.frozen_saved_delta(m, hf, 4096, 1, 2.0)


def test_qkvo_on_megatron_is_the_fused_attention():
    """``qkvo`` on a Megatron-Core stack adapts linear_qkv and linear_proj: 32 x 16 x ((4096 + 6144) + 8192)."""
    m, t = _lora("llama3-8b", "megatron-bridge", "qkvo")
    assert set(_on(m, t)) == {"linear_qkv", "linear_proj"}
    assert F.adapter_params(m, t) == 32 * 16 * ((4096 + 6144) + (4096 + 4096))


def test_mla_all_linear_on_megatron_adapts_linear_proj_only():
    """DeepSeek-V3 on megatron-bridge: the default list matches MLA's ``linear_proj`` and the MLPs' fc1 / fc2 only;
    peft's all-linear adapts q_a / q_b / kv_a / kv_b too. Naming MLA's Megatron modules adapts them as renames of
    the HF projections (the same parameters as ``qkvo`` on peft)."""
    m, t = _lora("deepseek-v3", "megatron-bridge")
    attn = {n for n in _on(m, t) if not n.startswith(("experts.", "shared_experts.")) and "fc" not in n}
    assert attn == {"linear_proj"}
    mla = ["linear_q_down_proj", "linear_q_up_proj", "linear_kv_down_proj", "linear_kv_up_proj", "linear_proj"]
    named = _lora("deepseek-v3", "megatron-bridge", mla)
    assert set(_on(*named)) == set(mla)
    assert F.adapter_params(*named) == F.adapter_params(*_lora("deepseek-v3", "hf-trainer", "qkvo"))
    assert F.unmatched_targets(*named) == []


def test_mla_without_q_lora_has_linear_q_proj_not_linear_qkv():
    """DeepSeek-V2-Lite (no q_lora_rank): Megatron-Core's ``linear_q_proj``, h x H (d_nope + d_rope); a
    ``linear_qkv`` target finds nothing there (refused: it adapts no linear)."""
    m, t = _lora("deepseek-v2-lite", "megatron-bridge", ["linear_q_proj"])
    (L, r), = _on(m, t).values()
    a = m.mla
    assert (L.name, L.fan_in, L.fan_out, r) == ("linear_q_proj", m.hidden, m.heads * (a.qk_nope_head_dim + a.qk_rope_head_dim), 16)
    assert F.adapter_params(m, t) == m.layers * 16 * (L.fan_in + L.fan_out)
    with pytest.raises(Exception, match="adapt no linear"):
        F.check_targets(*_lora("deepseek-v2-lite", "megatron-bridge", ["linear_qkv"]))


def test_mla_names_are_refused_on_peft():
    """MLA's Megatron names are Megatron-Core names: the HF model code (peft) has none of them."""
    m, t = _lora("deepseek-v3", "hf-trainer", ["linear_q_down_proj"])
    with pytest.raises(Exception, match="Megatron-Core module names"):
        F.check_targets(m, t, runtime="hf")


def test_a_plans_stack_sizes_its_adapters_under_framework_auto():
    """Under ``framework: auto`` the job names no stack: the checkpoint (adapters + their moments), the plan's FLOPs and
    the advice line take the plan's stack's adapters. Until left47b's fix the checkpoint was sized from the job's
    default stack, so a recommend that put a Llama-3-8B LoRA on the HF Trainer disagreed with the estimate of its
    written-back job (usd_per_million_tokens, tests/test_plan_agreement.py's hypothesis example)."""
    from planner.model.stacks import resolve
    from planner.simulate.config import checkpoint_bytes
    from planner.spec.load import load_job_dict

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 2048, "global_batch": 32, "mode": "lora", "precision": "bf16", "tokens": 2e9, "framework": "auto"},
        "constraints": {"max_gpus": 8}})
    hf, mc = (checkpoint_bytes({}, job, resolve(s)) for s in ("hf-trainer", "megatron-core"))
    assert hf / mc == pytest.approx(41_943_040 / 35_651_584, rel=1e-12)
