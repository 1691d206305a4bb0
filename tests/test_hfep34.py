"""hfep34: transformers' expert-parallel plan per model family (docs/qa_log.md "QA 43", hfsp34's left list). Under
EP transformers applies the model's ``base_model_ep_plan`` alone (distributed/mixin.py ``tp_plan``); Qwen3-MoE's,
Qwen2-MoE's, Mixtral's and gpt-oss's name the router and the experts only, so attention runs whole on every rank
with no all-reduce of its own (planner.model.moe ``HF_EP_PLANS``); Llama 4 has no EP plan at the pinned transformers
(``HF_NO_EP_PLAN``, hfmoe52). Each test fails on the code before the change, which split attention over TP for every
model."""
from __future__ import annotations

import json

from conftest import write_job

JOB = """
model: {preset: %s}
training: {mode: lora, seq_len: 8192, global_batch: 32, precision: bf16, dataset_samples: 40000,
           mean_example_tokens: 3000, packing: packed, epochs: 2, framework: hf-trainer}
parallel: {tp: 4, ep: %d, etp: %d, dp: 4, zero: 3}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""


def _run(cli, tmp_path, preset, ep):
    job = JOB % (preset, ep, 4 if ep == 1 else 1)  # ETP: TP without EP, 1 with it (rule hf-etp)
    code, text, err = cli("estimate", write_job(tmp_path, job, name=f"{preset}-ep{ep}.yaml"), "--json")
    assert code == 0, err
    return json.loads(text)


def test_qwen3_moe_attention_is_whole_under_its_ep_plan(cli, tmp_path):
    """Qwen3-30B-A3B LoRA at TP4 EP4: the attention core runs all 32 heads on every rank (4x its TP4 time), the
    attention's all-reduce is gone (the experts' moe_tp_experts one stays: half the TP4 term), and the stack line
    says which parts the plan leaves whole; the attention blocks' saves are whole too, so a rank holds more
    activations at EP4 than at TP4 EP1 (47.78 -> 74.47 GiB at EP4). Step 3.542 -> 4.072 s (0.233 -> 0.930 s of
    attention)."""
    ep1, ep4 = _run(cli, tmp_path, "qwen3-30b-a3b", 1), _run(cli, tmp_path, "qwen3-30b-a3b", 4)
    b1, b4 = ep1["breakdown_s"], ep4["breakdown_s"]
    assert ep1["config"]["micro_batch"] == ep4["config"]["micro_batch"]
    assert abs(b4["compute_attention"] / b1["compute_attention"] - 4.0) < 0.05, (b1, b4)
    assert abs(b4["comm_tp"] / b1["comm_tp"] - 0.5) < 1e-9, (b1["comm_tp"], b4["comm_tp"])
    assert any("qwen3_moe EP plan" in a and "attention" in a and "whole" in a for a in ep4["assumptions"])
    assert not any("EP plan" in a for a in ep1["assumptions"])
    a1, a4 = ep1["memory_per_gpu_bytes"]["activations"], ep4["memory_per_gpu_bytes"]["activations"]
    assert a4 > 1.4 * a1, (a1, a4)
    assert ep4["memory_per_gpu_bytes"]["total"] > ep1["memory_per_gpu_bytes"]["total"]


def test_llama4_has_no_ep_plan_at_the_pinned_transformers(cli, tmp_path):
    """transformers 5.23.0's Llama4TextConfig has no ``base_model_ep_plan`` (its experts shard with the TP plan) and
    ``from_pretrained`` raises at ``ep_size`` > 1: EP4 on the HF Trainer is refused in one line (rule
    ``hf-no-ep-plan``), EP1 runs. Until hfmoe52 EP4 was priced with a plan read from another revision (attention and
    the dense MLP split, the experts by EP)."""
    ep1 = _run(cli, tmp_path, "llama4-scout", 1)
    assert ep1["memory_per_gpu_bytes"]["activations"] > 0
    code, text, err = cli("estimate", write_job(tmp_path, JOB % ("llama4-scout", 4, 1), name="l4-ep4.yaml"), "--json")
    assert code == 2 and err.startswith("error: parallel.ep:") and "base_model_ep_plan" in err, (code, err)
    assert len(err.strip().splitlines()) == 1


def test_the_ep_plan_table_and_an_unread_family():
    """Each family row names its configuration file; DeepSeek-V3's plan (read since hfep35) leaves attention whole; a
    spec without hf_model_type keeps attention split and says so; Megatron-Core never takes an HF plan."""
    import numpy as np

    from planner.model import moe as moe_mech
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.hf import HF_MAPPERS
    from planner.spec.presets import PRESETS

    for fam, plan in moe_mech.HF_EP_PLANS.items():
        assert fam in HF_MAPPERS and "configuration_" in plan.source, fam
    hf, mc = STACKS["hf-trainer"], STACKS["megatron-core"]
    tp, ep = np.array([4.0, 4.0]), np.array([1.0, 4.0])
    q = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    assert q.hf_model_type == "qwen3_moe"
    assert list(moe_mech.hf_ep_tp(q, hf, tp, ep, "attention")) == [4.0, 1.0]
    assert list(moe_mech.hf_ep_tp(q, mc, tp, ep, "attention")) == [4.0, 4.0]
    ds = ModelSpec(**PRESETS["deepseek-v3"])  # read since hfep35 (its plan is experts-only)
    # and its TP plan names no attention module either (moe HF_TP_PLANS, dsep35): whole at TP4 EP1 too
    assert list(moe_mech.hf_ep_tp(ds, hf, tp, ep, "attention")) == [1.0, 1.0]
    assert "deepseek_v3 EP plan" in moe_mech.hf_ep_plan_note(ds, hf, 4)
    anon = ModelSpec(**{**PRESETS["qwen3-30b-a3b"], "hf_model_type": None})
    assert "not read" in moe_mech.hf_ep_plan_note(anon, hf, 4)
    assert moe_mech.hf_ep_plan_note(q, hf, 1) == "" and moe_mech.hf_ep_plan_note(q, mc, 4) == ""


def test_an_hf_config_carries_its_model_type():
    """A model given by its config.json runs the plan of its model_type."""
    import pathlib

    from planner.spec import ModelSpec
    from planner.spec.hf import hf_config_to_fields

    cfg = json.loads((pathlib.Path(__file__).parent / "data/hf_configs/qwen3-30b-a3b.json").read_text())
    assert ModelSpec(**hf_config_to_fields(cfg)).hf_model_type == "qwen3_moe"
