"""QA 105 (docs/qa_log.md "QA 105"): small items session 52's helpers noticed. Each test fails on the code before.

Qwen2-MoE's ``base_model_tp_plan`` at transformers 5.23.0 (models/qwen2_moe/configuration_qwen2_moe.py) names
``layers.*.mlp.gate_proj`` / ``up_proj`` / ``down_proj`` -- a dense layer's MLP -- and no ``shared_expert`` module,
so the shared expert runs whole on every TP rank (recorded: tests/data/hf_ep_plans.json ``qwen2_moe``, by
tests/make_hf_ep_plans.py); the planner priced it split over TP."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import write_job

TRUTH = json.loads((Path(__file__).parent / "data" / "hf_ep_plans.json").read_text())
QWEN2_MOE = {"model_type": "qwen2_moe", "vocab_size": 1024, "hidden_size": 256, "num_attention_heads": 4,
             "num_key_value_heads": 4, "num_hidden_layers": 2, "intermediate_size": 512, "num_experts": 8,
             "num_experts_per_tok": 2, "moe_intermediate_size": 128, "shared_expert_intermediate_size": 512,
             "max_position_embeddings": 4096}
JOB = """
model: {hf_config: %s}
training: {mode: lora, seq_len: 2048, global_batch: 16, precision: bf16, dataset_samples: 4000,
           mean_example_tokens: 1500, packing: packed, epochs: 1, framework: hf-trainer}
parallel: {tp: 2, ep: 4, etp: 1, dp: 4, zero: 3}
cluster: {instance: aws:p5.48xlarge, nodes: 1}
"""


def _model():
    from planner.spec import load_job_dict
    return load_job_dict(QWEN2_MOE).model


def test_qwen2_moe_shared_expert_is_whole_as_transformers_resolves_it():
    """The recorded TP plan (TP2, EP 1 and 2) splits no ``shared_expert``; the planner's plan says the same: the
    shared experts' degree is 1 at TP2 and a rank holds their parameters (and their gate's) whole in each MoE
    layer. Before: no Qwen2-MoE plan, the shared expert at 1/TP and 0 parameters whole."""
    from planner.model import moe as moe_mech
    from planner.model.stacks import STACKS
    from planner.spec.params import mlp_params
    from planner.spec.shapes import shared_expert_width

    for key in ("tp2_ep1", "tp2_ep2"):
        plan = TRUTH["qwen2_moe"][key]["tp_plan"]
        assert not any("shared_expert" in r for r in plan) and any("self_attn.q_proj" in r for r in plan)
    m, hf = _model(), STACKS["hf-trainer"]
    tp, ep = np.array([2.0, 2.0, 1.0]), np.array([1.0, 4.0, 4.0])
    assert list(moe_mech.hf_ep_tp(m, hf, tp, ep, "shared_experts")) == [1.0, 1.0, 1.0]
    assert list(moe_mech.hf_ep_tp(m, hf, tp, ep, "attention")) == [2.0, 2.0, 1.0]
    shared = mlp_params(m, shared_expert_width(m)) + m.hidden  # + shared_expert_gate (h x 1)
    shared += moe_mech.hf_replicated_params(m)[1]  # the router and norms, in no plan either (hfmoe53)
    _, moe_whole = moe_mech.hf_layer_whole_params(m, hf, tp, ep)
    assert list(moe_whole) == [shared, shared, 0.0]
    # DeepSpeed's AutoTP splits every nn.Linear, the shared expert's too: no HF plan read there
    assert moe_mech.hf_tp_plan(m, STACKS["deepspeed"]) is None


def test_qwen2_moe_shared_expert_adds_no_tp_all_reduce(cli, tmp_path, monkeypatch):
    """At TP2 EP4 on the HF Trainer (AllToAllEP) the MoE block's only TP all-reduce was the shared experts' pair;
    whole, they add none, so the step's TP communication is the attention's alone -- half of it with the shared
    expert split (the pricing before: comm_tp 2x the attention's)."""
    import dataclasses

    from planner.model import moe as moe_mech

    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(QWEN2_MOE))
    code, text, err = cli("estimate", write_job(tmp_path, JOB % cfg), "--json")
    assert code == 0, err
    out = json.loads(text)
    assert "leaves the shared experts whole" in " ".join(out["assumptions"])
    tp_s = out["breakdown_s"]["comm_tp"]
    assert tp_s > 0
    split = dataclasses.replace(moe_mech.HF_TP_PLANS["qwen2_moe"], shared_experts=True)
    monkeypatch.setitem(moe_mech.HF_TP_PLANS, "qwen2_moe", split)
    code, text, err = cli("estimate", write_job(tmp_path, JOB % cfg, name="split.yaml"), "--json")
    assert code == 0, err
    assert abs(json.loads(text)["breakdown_s"]["comm_tp"] - 2 * tp_s) < 1e-9 * tp_s


def test_hf_ep_divides_the_fsdp_shard_group_not_the_replicas(cli, tmp_path):
    """transformers 5.23 takes ``ep_size`` dividing ``fsdp_size x tp_size`` (DistributedConfig._validate_mesh_config)
    and a model sharded at load gets its data parallelism from transformers' FSDP2 over ("dp_replicate", "fsdp"):
    a replicated row (ZeRO-0/1) is ``fsdp_size`` 1, an HSDP row's ``fsdp_size`` is its shard group. So TP2 EP4 DP4
    runs at ZeRO-3 (4 x 2 / 4) and is refused at ZeRO-0 (1 x 2) and under HSDP with 1-rank shards; EP = TP runs at
    ZeRO-0. Before: DP x TP counted the replicas, all three planned."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(QWEN2_MOE))
    cases = (("tp: 2, ep: 4, etp: 1, dp: 4, zero: 0", 2), ("tp: 2, ep: 4, etp: 1, dp: 4, zero: 3, dp_shard: 1", 2),
             ("tp: 2, ep: 2, etp: 1, dp: 4, zero: 0", 0))
    for i, (par, want) in enumerate(cases):
        job = (JOB % cfg).replace("tp: 2, ep: 4, etp: 1, dp: 4, zero: 3", par)
        code, _, err = cli("estimate", write_job(tmp_path, job, name=f"z{i}.yaml"), "--json")
        assert code == want, (par, err)
        if want:
            assert "error: parallel.ep:" in err and "EP = TP" in err and "sharding over 1 of DP4" in err, err


def test_the_wiring_control_names_the_node_default_once():
    """A bare 4 x H200 node is wired by a switch unless the job names the quad mesh: the control offers the node
    default, labelled with its wiring, and the mesh -- not "node default" and "switch", the same node twice (before).
    A job naming the switch keeps the same two entries; an 8-GPU H100 node builds one wiring, no control."""
    import yaml

    from planner import interactive as wi

    board = {"model": {"preset": "llama3-8b"},
             "training": {"seq_len": 4096, "global_batch": 8, "micro_batch": 1, "tokens": 1.0e9},
             "parallel": {"tp": 1, "pp": 1, "cp": 1, "zero": 3},
             "cluster": {"gpu": "H200-SXM-141GB", "gpus_per_node": 4, "nodes": 1}}
    catalog = wi.cached_catalog()
    got = wi.topology_choices(board, catalog)
    assert got.options == (None, "nvlink4-quad-mesh") and got.default == "switch"
    labels = [got.label(wi.widget_value("nvlink_topology", v)) for v in got.options]
    assert labels == ["switch (node default)", "nvlink4-quad-mesh"]
    named = yaml.safe_load(yaml.safe_dump(board))
    named["cluster"]["nvlink_topology"] = "switch"
    assert wi.topology_choices(named, catalog) == got
    h100 = {**board, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    assert wi.topology_choices(h100, catalog).options == ()
