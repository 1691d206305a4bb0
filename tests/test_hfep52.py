"""hfep52: transformers 5.23.0's expert parallelism as it runs (docs/accuracy_log.md "hfep52"). At EP > 1 the
``base_model_ep_plan`` takes the routed experts only and the TP plan stays on every other module
(distributed/mixin.py ``_resolve_parallel_plans``); ``ep_size`` is a multiple of ``tp_size`` dividing
``fsdp_size x tp_size`` (configuration_utils.py); training dispatches through ``AllToAllEP`` (expert_parallel.py
``AutoEP``). The truth is tests/data/hf_ep_plans.json (tests/make_hf_ep_plans.py: the resolved plans of tiny meta
models). Each test fails on the code before (an older revision's EP plan: attention, embedding, head, routers and
shared experts whole under EP = TP, the experts' outputs summed by an all-reduce)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_job

TRUTH = json.loads((Path(__file__).parent / "data" / "hf_ep_plans.json").read_text())
PRESET = {"qwen3_moe": "qwen3-30b-a3b", "mixtral": "mixtral-8x7b", "gpt_oss": "gpt-oss-20b",
          "deepseek_v3": "deepseek-v3"}

JOB = """
model: {preset: %s}
training: {mode: lora, seq_len: 8192, global_batch: 32, precision: bf16, dataset_samples: 40000,
           mean_example_tokens: 3000, packing: packed, epochs: 2, framework: hf-trainer}
parallel: {tp: %d, ep: %d, etp: %d, dp: %d, zero: %d}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""


def _run(cli, tmp_path, preset, tp, ep, dp, zero=3):
    job = JOB % (preset, tp, ep, tp if ep == 1 else 1, dp, zero)  # ETP per rule hf-etp
    return cli("estimate", write_job(tmp_path, job, name=f"{preset}-{tp}-{ep}-{zero}.yaml"), "--json")


def _ok(cli, tmp_path, *a, **k):
    code, text, err = _run(cli, tmp_path, *a, **k)
    assert code == 0, err
    return json.loads(text)


def _split(plan: list[str], module: str) -> bool:
    return any(r.split("=")[0].endswith(module) for r in plan)


@pytest.mark.parametrize("fam", ["qwen3_moe", "mixtral", "gpt_oss", "deepseek_v3"])
def test_the_planner_reads_the_plans_transformers_resolves(fam):
    """Per family, at TP2 EP2 and TP2 EP4 (recorded): what the planner splits over TP is what the resolved TP plan
    names -- attention, embedding, head -- the experts are in the EP plan and no longer in the TP plan."""
    from planner.model import moe as moe_mech
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS[PRESET[fam]])
    hf = STACKS["hf-trainer"]
    assert fam in moe_mech.HF_EP_PLANS
    tplan = moe_mech.hf_tp_plan(m, hf)
    for key in ("tp2_ep2", "tp2_ep4"):
        tp_plan, ep_plan = TRUTH[fam][key]["tp_plan"], TRUTH[fam][key]["ep_plan"]
        assert _split(ep_plan, "mlp.experts") and not any(".experts" in r for r in tp_plan)
        att = float(moe_mech.hf_ep_tp(m, hf, np.array([2.0]), np.array([float(key[-1])]), "attention")[0])
        assert (att == 2.0) == _split(tp_plan, "self_attn.o_proj"), (key, att)
        head = float(np.asarray(moe_mech.hf_ep_tp(m, hf, np.array([2.0]), np.array([2.0]), "lm_head"))[0])
        assert (head == 2.0) == _split(tp_plan, "lm_head")
        assert (tplan is None or tplan.embedding) == _split(tp_plan, "embed_tokens")


def test_ep_a_multiple_of_tp(cli, tmp_path):
    """EP4 at TP1 DP16 (the expert groups over the data-parallel ranks) and EP4 at TP2 run, with an all-to-all
    priced; EP2 at TP4 is refused in one line, as ``DistributedConfig`` refuses it (recorded). The old rule took
    EP = TP only."""
    assert "multiple of `tp_size`" in TRUTH["mixtral"]["cfg_tp4_ep2"]
    for tp, ep, dp in ((1, 4, 16), (2, 4, 8)):
        r = _ok(cli, tmp_path, "qwen3-30b-a3b", tp, ep, dp)
        assert r["breakdown_s"]["comm_ep"] > 0.0, (tp, ep, r["breakdown_s"])
    code, _, err = _run(cli, tmp_path, "qwen3-30b-a3b", 4, 2, 4)
    assert code == 2 and err.startswith("error: parallel.ep:") and "multiple" in err, err
    assert len(err.strip().splitlines()) == 1


def test_attention_stays_split_and_the_dispatch_is_an_all_to_all(cli, tmp_path):
    """Qwen3-30B-A3B LoRA TP4: at EP4 the attention runs its TP4 share (the TP plan stays on it), the experts' rows
    go out and back by all-to-all (comm_ep > 0; the old all-reduce EP priced none and 4x the attention), and the
    stack line says AllToAllEP. Every routed expert is 1/4 a rank either way and nothing else is held whole, so the
    weights are the same at TP4 EP1 and EP4 (the old plan held 1.54B whole: 2.31 GB more)."""
    ep1, ep4 = (_ok(cli, tmp_path, "qwen3-30b-a3b", 4, ep, 4, zero=0) for ep in (1, 4))
    b1, b4 = ep1["breakdown_s"], ep4["breakdown_s"]
    assert ep1["config"]["micro_batch"] == ep4["config"]["micro_batch"]
    assert b4["compute_attention"] == pytest.approx(b1["compute_attention"], rel=1e-9)
    assert b4["comm_ep"] > 0.0
    assert any("AllToAllEP" in a for a in ep4["assumptions"]), ep4["assumptions"]
    w1, w4 = ep1["memory_per_gpu_bytes"]["weights"], ep4["memory_per_gpu_bytes"]["weights"]
    assert w4 == pytest.approx(w1, rel=1e-6), (w1, w4)


def test_what_the_tp_plans_leave_whole():
    """Qwen3-MoE's TP plan leaves only the routers and norms whole at any EP (no plan names them: hfmoe53); DeepSeek-V3's
    its MLA (61 layers of attention) too; gpt-oss's (no base_model_tp_plan: the head alone) its attention and
    embedding too. The old EP plan held 1.54B of Qwen3-30B-A3B whole at EP4."""
    from planner.model import moe as moe_mech
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.params import attention_params, count_params
    from planner.spec.presets import PRESETS

    hf = STACKS["hf-trainer"]
    q, ds, oss = (ModelSpec(**PRESETS[PRESET[f]]) for f in ("qwen3_moe", "deepseek_v3", "gpt_oss"))
    def replicated(m, attention_split=True):  # routers, norms, the final norm (moe.hf_replicated_params)
        pc, (dense, moe) = count_params(m), moe_mech.hf_replicated_params(m, attention_split)
        return pc.n_moe_layers * moe + pc.n_dense_layers * dense + pc.final_norm

    assert float(moe_mech.hf_ep_whole_params(q, hf, 4, 4)) == replicated(q) == 12_793_856
    assert float(moe_mech.hf_ep_whole_params(ds, hf, 4, 4)) == float(attention_params(ds) * ds.layers
                                                                      + replicated(ds, False))
    pc = count_params(oss)
    assert float(moe_mech.hf_ep_whole_params(oss, hf, 2, 2)) == float(attention_params(oss) * oss.layers
                                                                       + pc.embedding + replicated(oss, False))
    assert float(moe_mech.hf_ep_whole_params(oss, hf, 1, 2)) == 0.0  # TP 1: no TP plan at all


def test_gpt_oss_runs_ep_without_tp_and_refuses_tp_without_ep(cli, tmp_path):
    """gpt-oss: TP1 EP2 runs (refused by the old EP = TP rule), TP2 EP1 is refused (its TP splits the head alone)."""
    r = _ok(cli, tmp_path, "gpt-oss-20b", 1, 2, 16)
    assert r["breakdown_s"]["comm_ep"] > 0.0
    code, _, err = _run(cli, tmp_path, "gpt-oss-20b", 2, 1, 8)
    assert code == 2 and err.startswith("error: parallel.tp:") and "base_model_tp_plan" in err, err


def test_alltoallep_has_no_tp_gradient_average():
    """The folded EP's input-gradient average over TP is DeepSpeed AutoEP's (``average_gradient_over_tp``), not
    transformers' AllToAllEP: at TP4 EP4 Qwen3-MoE's block prices no TP all-reduce on the HF Trainer, half a pair on
    DeepSpeed."""
    from types import SimpleNamespace

    from planner.model.layer_ops import _moe_block_tp_allreduces
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    c = SimpleNamespace(etp=np.array([1.0]), ep=np.array([4.0]), tp=np.array([4.0]))
    assert float(np.asarray(_moe_block_tp_allreduces(c, m, STACKS["hf-trainer"]))[0]) == 0.0
    assert float(np.asarray(_moe_block_tp_allreduces(c, m, STACKS["deepspeed"]))[0]) == 0.5
