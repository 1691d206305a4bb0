"""hfep34: transformers' expert-parallel plan per model family (docs/qa_log.md "QA 43", hfsp34's left list): the
families with a ``base_model_ep_plan`` (planner.model.moe ``HF_EP_PLANS``); Llama 4 has none at the pinned
transformers (``HF_NO_EP_PLAN``, hfmoe52). hfep34 read an older revision that applied the EP plan alone (attention
whole under EP); at 5.23 the TP plan stays on every module but the experts (hfep52, tests/test_hfep52.py)."""
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
    """Each family row names its configuration file; under EP the TP plan keeps the attention split (hfep52) but
    where it names no attention module (DeepSeek-V3, at every EP), which the stack line says; a spec without
    hf_model_type keeps attention split; Megatron-Core never takes an HF plan."""
    import numpy as np

    from planner.model import moe as moe_mech
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.hf import HF_MAPPERS
    from planner.spec.presets import PRESETS

    for fam, source in moe_mech.HF_EP_PLANS.items():
        assert fam in HF_MAPPERS and f"configuration_{fam}.py" in source, fam
    hf, mc = STACKS["hf-trainer"], STACKS["megatron-core"]
    tp, ep = np.array([4.0, 4.0]), np.array([1.0, 4.0])
    q = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    assert q.hf_model_type == "qwen3_moe"
    assert list(moe_mech.hf_ep_tp(q, hf, tp, ep, "attention")) == [4.0, 4.0]
    assert list(moe_mech.hf_ep_tp(q, mc, tp, ep, "attention")) == [4.0, 4.0]
    ds = ModelSpec(**PRESETS["deepseek-v3"])  # its TP plan names no attention module (moe HF_TP_PLANS, dsep35)
    assert list(moe_mech.hf_ep_tp(ds, hf, tp, ep, "attention")) == [1.0, 1.0]
    assert "deepseek_v3 TP plan" in moe_mech.hf_ep_plan_note(ds, hf, 4, 4)
    anon = ModelSpec(**{**PRESETS["qwen3-30b-a3b"], "hf_model_type": None})
    assert list(moe_mech.hf_ep_tp(anon, hf, tp, ep, "attention")) == [4.0, 4.0]
    assert moe_mech.hf_ep_plan_note(q, hf, 1, 4) == "" and moe_mech.hf_ep_plan_note(q, mc, 4) == ""


def test_an_hf_config_carries_its_model_type():
    """A model given by its config.json runs the plan of its model_type."""
    import pathlib

    from planner.spec import ModelSpec
    from planner.spec.hf import hf_config_to_fields

    cfg = json.loads((pathlib.Path(__file__).parent / "data/hf_configs/qwen3-30b-a3b.json").read_text())
    assert ModelSpec(**hf_config_to_fields(cfg)).hf_model_type == "qwen3_moe"
