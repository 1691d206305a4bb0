"""dsep35: the deepspeed stack's expert parallelism is DeepSpeed's AutoEP (deepspeed/module_inject/auto_ep*.py), not
transformers' ep_plan. AutoEP replaces each HF MoE block with ``AutoEPMoELayer``: E / ep whole experts a rank, an
all-to-all dispatch and combine over EP groups laid across the TP lanes (any EP beside any TP), and under AutoTP the
TP peers split the routed rows (``partition_assignments``) and all-gather the combined ones (``restore_combined``).
It refuses ZeRO-3 with TP > 1 (``validate_folding_global``) and replaces nothing in a model type it has no preset
for (gpt_oss). Each test fails on the code before (hfep35), which priced the deepspeed stack's EP as transformers'
all-reduce EP: EP = TP required, no dispatch, every rank running all T x top_k rows."""
from __future__ import annotations

import json

import numpy as np
from conftest import write_job

JOB = """
model: {preset: %s}
training: {mode: full_finetune, seq_len: 4096, global_batch: 32, precision: bf16, dataset_samples: 40000,
           mean_example_tokens: 3000, packing: packed, epochs: 2, framework: %s}
parallel: {tp: %d, ep: %d, dp: %d, zero: %d}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""


def _estimate(cli, tmp_path, preset="qwen3-30b-a3b", stack="deepspeed", tp=1, ep=4, dp=16, zero=2):
    path = write_job(tmp_path, JOB % (preset, stack, tp, ep, dp, zero), name=f"{preset}-{stack}-{tp}-{ep}-{zero}.yaml")
    return cli("estimate", path, "--json")


def test_autoep_runs_ep_beside_any_tp(cli, tmp_path):
    """Qwen3-30B-A3B full fine-tune, DeepSpeed TP1 EP4 DP16 ZeRO-2: AutoEP lays EP groups over the data-parallel
    ranks, so EP4 runs at TP1 with an all-to-all dispatch priced (comm_ep > 0) and a quarter of the routed experts on
    each rank; so does the HF Trainer at transformers 5.23 (hfep52). hfep35 refused it on both, hfep52's parent on
    the HF Trainer."""
    from planner.spec import ModelSpec
    from planner.spec.params import count_params
    from planner.spec.presets import PRESETS

    code, text, err = _estimate(cli, tmp_path)
    assert code == 0, err
    ds = json.loads(text)
    assert ds["breakdown_s"]["comm_ep"] > 0.0, ds["breakdown_s"]
    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    pc = count_params(m)
    experts = m.moe.experts * pc.expert * pc.n_moe_layers
    expect = ((pc.total - experts) + experts / 4) * 2.0  # bf16 weights: the rest whole at TP1, experts over EP4
    assert abs(ds["memory_per_gpu_bytes"]["weights"] - expect) < 0.01 * expect, (ds["memory_per_gpu_bytes"], expect)
    # transformers 5.23 lays its EP groups over the FSDP x TP ranks too (DistributedConfig: ep a multiple of tp
    # dividing fsdp x tp; hfep52): the HF Trainer runs it, with its dispatch; it refused it until hfep52 (EP = TP)
    code, text, err = _estimate(cli, tmp_path, stack="hf-trainer", zero=2)
    assert code == 0, err
    assert json.loads(text)["breakdown_s"]["comm_ep"] > 0.0


def test_autoep_folded_over_autotp_dispatches_and_restores():
    """At TP4 EP4 each TP peer dispatches a quarter of the T x top_k rows over the EP group and all-gathers the
    combined rows over TP (``restore_combined``): the MoE layer's ``a2a`` is the all-to-all plus half an all-gather of
    T x top_k x h (forward gather, backward reduce-scatter). hfep35 priced no dispatch for the deepspeed stack
    (a2a 0: transformers' all-reduce EP)."""
    import dataclasses

    from planner.model import moe as moe_mech
    from planner.model.comm import collective_time
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    links = (450e9, 50e9, 5e-6, 10e-6)
    gemm = lambda M, N, K, groups=None, **kw: (1e-3, 2e-3)  # noqa: E731 -- the GEMM times do not matter here
    ds = STACKS["deepspeed"]
    T = 4096.0
    run = lambda st, tp, ep: moe_mech.moe_layer(m, T, tp, 1, ep, 8, 2.0, gemm, st, links)  # noqa: E731
    folded, unfolded = run(ds, 4, 4), run(dataclasses.replace(ds, moe_ep_tp_fold=False), 4, 4)
    load = moe_mech.expert_load(m.moe)
    restore = collective_time("all_gather", T / 4 * load * m.moe.top_k * m.hidden * 2.0 * 4, 4, 1, 8, *links)
    assert float(unfolded.a2a) > 0.0
    assert abs(float(folded.a2a) - float(unfolded.a2a) - 0.5 * float(restore)) < 1e-12, (folded.a2a, unfolded.a2a)
    assert float(run(ds, 1, 4).a2a) > 0.0 and float(run(ds, 4, 1).a2a) == 0.0  # EP 1: AutoTP alone, no dispatch


def test_autoep_refuses_zero3_under_autotp(cli, tmp_path):
    """``validate_folding_global``: "AutoEP+AutoTP with ZeRO stage 3 is reserved ... Use ZeRO stage 0, 1, or 2"; at
    TP1 AutoEP takes ZeRO-3. hfep35 priced TP4 EP4 ZeRO-3 on the deepspeed stack."""
    code, _, err = _estimate(cli, tmp_path, tp=4, ep=4, dp=4, zero=3)
    assert code == 2 and "parallel.zero" in err and "AutoEP" in err, err
    code, _, err = _estimate(cli, tmp_path, tp=1, ep=4, dp=16, zero=3)
    assert code == 0, err


def test_autoep_has_no_gpt_oss_preset(cli, tmp_path):
    """AutoEP's presets (registry.py PRESET_MODELS) cover mixtral, qwen3_moe / qwen2_moe, qwen3_5_moe_text,
    deepseek_v2 / v3 and llama4: gpt-oss's blocks match none, nothing is replaced, and EP does not run. hfep35 priced
    gpt-oss-20b at DeepSpeed TP4 EP4 as transformers' EP plan."""
    code, _, err = _estimate(cli, tmp_path, preset="gpt-oss-20b", tp=4, ep=4, dp=4)
    assert code == 2 and "parallel.ep" in err and "preset" in err, err
    code, _, err = _estimate(cli, tmp_path, preset="gpt-oss-20b", tp=4, ep=1, dp=4)
    assert code == 0, err


def test_autoep_walked_gradients_over_ep():
    """A walked full fine-tune holds each rank's ``.grad`` as it holds the weights: under AutoEP the routed experts
    over EP and the rest over TP (``hf_grad_share`` code 3, chosen by ``hf_ep_rows`` for the deepspeed stack at
    EP > 1); hfep35 took transformers' EP plan there (code 1: 1.54B whole, the experts over TP)."""
    from planner.model.memory_activations import hf_ep_rows, hf_grad_share
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.params import count_params
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    codes, plans = hf_ep_rows(m, STACKS["deepspeed"], np.array([1, 4, 4]), np.array([4, 4, 1]))
    assert list(codes) == [3, 3, 2] and plans[3] is None
    pc = count_params(m)
    experts = m.moe.experts * pc.expert * pc.n_moe_layers
    share = hf_grad_share(m, STACKS["deepspeed"], 1.0, 3, 4.0)
    assert abs(share - ((pc.total - experts) + experts / 4) / pc.total) < 1e-12


def test_deepseek_v3_tp_plan_leaves_mla_whole():
    """DeepSeek-V3's base_model_tp_plan (configuration_deepseek_v3.py at transformers 008e5743) names the experts,
    shared experts and dense MLP only: under the HF Trainer's TP alone MLA is whole on every rank -- its weights
    (61 x attention_params), its GEMMs and saves, no all-reduce -- while DeepSeek-V2's plan splits it (q_proj /
    q_b_proj / kv_b_proj colwise, o_proj rowwise). hfep35 split DeepSeek-V3's attention over TP."""
    from planner.model import moe as moe_mech
    from planner.model.memory_activations import hf_ep_rows
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.params import attention_params, count_params
    from planner.spec.presets import PRESETS

    hf = STACKS["hf-trainer"]
    v3, v2 = ModelSpec(**PRESETS["deepseek-v3"]), ModelSpec(**PRESETS["deepseek-v2-lite"])
    tp, ep = np.array([8.0, 1.0]), np.array([1.0, 1.0])
    assert list(moe_mech.hf_ep_tp(v3, hf, tp, ep, "attention")) == [1.0, 1.0]
    assert list(moe_mech.hf_ep_tp(v3, hf, tp, ep, "dense_mlp")) == [8.0, 1.0]
    assert list(moe_mech.hf_ep_tp(v2, hf, tp, ep, "attention")) == [8.0, 1.0]
    whole = moe_mech.hf_ep_whole_params(v3, hf, tp, ep)
    pc = count_params(v3)
    dense_rep, moe_rep = moe_mech.hf_replicated_params(v3, attention_split=False)  # routers and norms (hfmoe53)
    rep = pc.n_moe_layers * moe_rep + pc.n_dense_layers * dense_rep + pc.final_norm
    assert list(whole) == [float(v3.layers * attention_params(v3) + rep), 0.0]
    pc2, (d2, m2) = count_params(v2), moe_mech.hf_replicated_params(v2)
    assert float(moe_mech.hf_ep_whole_params(v2, hf, 8.0, 1.0)) == pc2.n_moe_layers * m2 + pc2.n_dense_layers * d2 + pc2.final_norm
    codes, plans = hf_ep_rows(v3, hf, tp, ep)
    assert list(codes) == [4, 0] and plans[4].moe and not plans[4].attention


def test_gpt_oss_has_no_tp_plan(cli, tmp_path):
    """gpt-oss's configuration (transformers 02b8f42b) has a base_model_ep_plan and no base_model_tp_plan: the HF
    Trainer's TP2 alone would split none of its layers, so it is refused (rule hf-no-tp-plan); TP2 with EP2 runs the
    EP plan. hfep35 priced gpt-oss-20b LoRA at HF TP2 as split (3.057 s a step, 61.11 GiB a GPU)."""
    job = JOB.replace("mode: full_finetune", "mode: lora")
    path = write_job(tmp_path, job % ("gpt-oss-20b", "hf-trainer", 2, 1, 8, 3), name="tp2.yaml")
    code, _, err = cli("estimate", path, "--json")
    assert code == 2 and "parallel.tp" in err and "base_model_tp_plan" in err, err
    path = write_job(tmp_path, job % ("gpt-oss-20b", "hf-trainer", 2, 2, 8, 3), name="ep2.yaml")
    code, _, err = cli("estimate", path, "--json")
    assert code == 0, err


def test_zero3_gathers_the_plan_whole_parts_whole():
    """ZeRO-3's gather window (``largest_unit_params``) holds a layer as the rank holds it: under DeepSeek-V3's TP plan
    (HF Trainer TP4 EP4: no attention entry, kept under EP at transformers 5.23) an MoE layer's MLA whole, the rest
    of its dense part over TP and a quarter of its experts; under Megatron-Core's TP4 EP4 its dense part over TP, as
    the HF Trainer's Qwen3-MoE (its TP plan splits the attention). hfep35 divided the HF plan's whole parts by TP;
    hfep35-hfep52 held an older EP plan's attention, router and norms whole (Qwen3-MoE's too)."""
    from planner.model import moe as moe_mech
    from planner.model.memory_stages import largest_unit_params
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.params import attention_params, count_params
    from planner.spec.presets import PRESETS

    for preset in ("deepseek-v3", "qwen3-30b-a3b"):
        m = ModelSpec(**PRESETS[preset])
        pc = count_params(m)
        experts = m.moe.experts * pc.expert
        attn = attention_params(m) if preset == "deepseek-v3" else 0
        attn += moe_mech.hf_replicated_params(m, preset != "deepseek-v3")[1]  # + the router and norms (hfmoe53)
        hf = float(largest_unit_params(m, pc, 4.0, 1.0, 4.0, STACKS["hf-trainer"]))
        mc = float(largest_unit_params(m, pc, 4.0, 1.0, 4.0, STACKS["megatron-core"]))
        assert abs(hf - (attn + (pc.moe_layer - experts - attn) / 4 + experts / 4)) < 1.0, (preset, hf)
        assert abs(mc - ((pc.moe_layer - experts) / 4 + experts / 4)) < 1.0, (preset, mc)
