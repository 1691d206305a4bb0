"""hfmoe53: the step time of transformers 5.23's MoE experts kernels on the HF-code stacks.

tests/data/hf_experts_ops.json (tests/make_hf_experts_ops.py; transformers 5.23.0, torch 2.13, CPU): the tiny Mixtral
and Qwen3-MoE experts modules at 4 and 8 experts (all hit, the same 128 routed rows), forward and backward, under
``experts_implementation`` "eager" (the class's own loop over ``expert_hit``) and "grouped_mm"
(integrations/moe.py ``grouped_mm_experts_forward``): the torch calls of the forward, the ATen kernels, the
device-to-host syncs and the bytes the non-GEMM kernels move. Until hfmoe53 the step priced every HF-stack MoE layer as
one GEMM pair per expert with 4 host ops per expert, whichever kernel ran, and none of the loop's syncs or full-size
backward gradients.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import answered, write_job

OPS = json.loads((Path(__file__).parent / "data" / "hf_experts_ops.json").read_text())


def _case(fam, kernel, experts):
    return next(c for c in OPS["cases"] if (c["family"], c["kernel"], c["experts"]) == (fam, kernel, experts))


@pytest.mark.parametrize("fam", ["mixtral", "qwen3_moe"])
def test_host_calls_and_syncs_are_the_recorded_ones(fam):
    """HF_EXPERTS_OPS against the run: the eager loop's calls and syncs grow by 17 and 5 an expert (9 and 3 a layer);
    grouped_mm's 27 calls do not grow with the experts and it never syncs; no backward syncs under either."""
    from planner.model.moe import HF_EXPERTS_OPS

    for kernel, ops in HF_EXPERTS_OPS.items():
        a, b = _case(fam, kernel, 4), _case(fam, kernel, 8)
        per_call = (b["torch_calls_fwd"] - a["torch_calls_fwd"]) / 4
        per_sync = (b["fwd"]["sync"] - a["fwd"]["sync"]) / 4
        assert (per_call, a["torch_calls_fwd"] - 4 * per_call) == (ops.host_expert, ops.host_layer), kernel
        assert (per_sync, a["fwd"]["sync"] - 4 * per_sync) == (ops.syncs_expert, ops.syncs_layer), kernel
        assert a["bwd"]["sync"] == b["bwd"]["sync"] == 0
    # one grouped kernel a projection forward, dgrad + wgrad each backward; the loop two GEMMs an expert
    assert _case(fam, "grouped_mm", 8)["fwd"]["gemm"] == 2 and _case(fam, "eager", 8)["fwd"]["gemm"] == 16


@pytest.mark.parametrize("experts", [4, 8])
def test_eager_backward_bytes_against_the_run(experts):
    """The eager loop's backward bytes beyond grouped_mm's (``hf_eager_bwd_bytes``: each expert's ``select`` of the
    whole 3-D weights and its row index, zero-filled full-size and summed by autograd) within 5% of the kernels' bytes
    the recorded backwards differ by (4 experts +4.4%, 8 -0.6%): quadratic in the experts, 1.6 MB -> 6.6 MB."""
    from planner.model.moe import hf_eager_bwd_bytes

    eager, grouped = _case("mixtral", "eager", experts), _case("mixtral", "grouped_mm", experts)
    measured = eager["bwd_kernel_bytes"] - grouped["bwd_kernel_bytes"]
    h, f = OPS["hidden"], OPS["expert_width"]
    model = hf_eager_bwd_bytes(experts, OPS["tokens"], h, 4.0, 3 * f * h, 4.0, 1.0)
    assert model == pytest.approx(measured, rel=0.05)
    assert hf_eager_bwd_bytes(experts, OPS["tokens"], h, 4.0, 3 * f * h, 4.0, 0.0) < 0.15 * measured  # frozen experts


JOB = """
model: {preset: %s}
training: {mode: %s, seq_len: 4096, global_batch: 64, precision: bf16, dataset_samples: 40000, micro_batch: 1,
           mean_example_tokens: 3000, packing: packed, epochs: 1, framework: {name: hf-trainer, experts_implementation: %s}%s}
parallel: {tp: 1, dp: 16, zero: 3}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""

LORA = ",\n           lora: {rank: 16, alpha: 32, targets: [q_proj, k_proj, v_proj, o_proj]}"

#: (preset, mode) -> step seconds (eager, grouped_mm) on two p5.48xlarge, DP16 ZeRO-3, 4 x 4,096 tokens a GPU
#: (hf56: accelerate's FSDP2 no_sync defers the reduce-scatter to the step's last micro-batch, and its FSDP reduces
#: in bf16; before: Mixtral 8.830 / 5.960, Qwen3 full 54.74 / 3.928, LoRA 23.61 / 2.002)
STEPS = {("mixtral-8x7b", "full_finetune"): (8.236, 4.172), ("qwen3-30b-a3b", "full_finetune"): (54.35, 2.360),
         ("qwen3-30b-a3b", "lora"): (23.61, 1.982)}


@pytest.mark.parametrize("preset,mode", sorted(STEPS))
def test_the_eager_loop_is_slower_by_the_modelled_amount(cli, tmp_path, preset, mode):
    """The HF Trainer's step under each kernel (README's numbers): until hfmoe53 both kernels priced the same step
    (Mixtral-8x7B 5.960 s, Qwen3-30B-A3B 5.784 s full fine-tune, 5.321 s LoRA). Qwen3's 128 experts x 48 layers make the loop's
    syncs, host calls and full-size weight gradients dominate; LoRA q/k/v/o freezes the experts (no weight gradient:
    the loop's syncs and row gradients remain). The full fine-tunes' eager steps were 8.436 / 54.48 s before auto53
    priced FSDP2's reduce-scatter copy-in (the grouped steps did not move)."""
    steps = {k: answered(cli("estimate", write_job(tmp_path, JOB % (preset, mode, k, LORA if mode == "lora" else ""), name=f"{k}.yaml"), "--json"))
             for k in ("eager", "grouped_mm")}
    eager, grouped = STEPS[(preset, mode)]
    assert steps["eager"]["step_time_s"] == pytest.approx(eager, rel=2e-3)
    assert steps["grouped_mm"]["step_time_s"] == pytest.approx(grouped, rel=2e-3)


QWEN2_MOE = {"model_type": "qwen2_moe", "vocab_size": 1024, "hidden_size": 256, "num_attention_heads": 4,
             "num_key_value_heads": 4, "num_hidden_layers": 2, "intermediate_size": 512, "num_experts": 8,
             "num_experts_per_tok": 2, "moe_intermediate_size": 128, "shared_expert_intermediate_size": 512,
             "max_position_embeddings": 4096}


def test_a_shared_expert_the_plan_leaves_whole_saves_whole():
    """Qwen2-MoE's TP plan names no shared expert (tests/data/hf_ep_plans.json ``qwen2_moe``, QA 105): each TP rank runs
    it whole, so its saves -- the ``moe.shared.*`` rows of the fused table -- are the single-GPU bytes. The rank's share
    under the plan exceeds the share with the shared expert split by exactly those rows' other half at TP2 (until
    hfmoe53 the two were equal: the saves at the TP share whatever the plan)."""
    import dataclasses

    from planner.model.activations import layer_activation_bytes, layer_saved_tensors
    from planner.model.memory_activations import hf_ep_rank_share
    from planner.model.moe import HF_TP_PLANS
    from planner.spec import load_job_dict

    m = load_job_dict(QWEN2_MOE).model
    seq, mb, attn_share = 1024, 1, 0.5
    plan = HF_TP_PLANS["qwen2_moe"]
    assert not plan.shared_experts and plan.moe
    whole = hf_ep_rank_share(m, seq, mb, 2, 0, plan, attn_share)
    split = hf_ep_rank_share(m, seq, mb, 2, 0, dataclasses.replace(plan, shared_experts=True), attn_share)
    rows = [t for t in layer_saved_tensors(m, seq, flash=True, dropout=False, moe=True) if t.name.startswith("moe.shared")]
    assert rows and all(t.shard == "tp" for t in rows)
    shared_one = sum(t.per_token * (t.dtype_bytes or 2) for t in rows) * seq * mb
    moe_one = float(layer_activation_bytes(m, seq, mb, tp=1, cp=1, sp=False, recompute=0, flash=True, dropout=False,
                                           act_bytes=2, moe=True, kind="E"))
    # every layer an MoE layer here: the MLP half's share moves by the shared rows' half over the MoE half's bytes
    assert (whole - split) == pytest.approx((1 - attn_share) * 0.5 * shared_one / moe_one, rel=1e-9)


@pytest.mark.parametrize("fam,preset", [("qwen3_moe", "qwen3-30b-a3b"), ("mixtral", "mixtral-8x7b"),
                                        ("deepseek_v3", "deepseek-v3")])
def test_routers_and_norms_are_whole_under_every_tp_plan(fam, preset):
    """The resolved TP plans (tests/data/hf_ep_plans.json, TP2 at EP 1 / 2 / 4) name no router (``mlp.gate``) and no
    layer or final norm; Qwen3-MoE's q / k norms are ``replicated_with_grad_allreduce``. So every TP rank holds them
    whole: Qwen3-30B-A3B's 48 routers (128 x 2048), 96 norms, q / k norms and final norm, 12,793,856 parameters, were
    priced over TP until hfmoe53 (its TP plan left 0 whole); the router GEMM already ran the whole micro-batch
    (``moe_layer``) and the norms' saves were whole without sequence parallelism."""
    import numpy as np

    from planner.model import moe as moe_mech
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.params import count_params
    from planner.spec.presets import PRESETS

    plans = json.loads((Path(__file__).parent / "data" / "hf_ep_plans.json").read_text())[fam]
    for key in ("tp2_ep1", "tp2_ep2", "tp2_ep4"):
        modules = [r.split("=")[0] for r in plans[key]["tp_plan"]]
        assert not any(x.endswith(("mlp.gate", "layernorm", "model.norm")) for x in modules), modules
        assert all(r.endswith("replicated_with_grad_allreduce") for r in plans[key]["tp_plan"] if "_norm=" in r)
    m = ModelSpec(**PRESETS[preset])
    pc = count_params(m)
    tplan = moe_mech.HF_TP_PLANS.get(fam)
    dense, moe = moe_mech.hf_replicated_params(m, tplan is None or tplan.attention)
    # the router and the layer's norms, and q / k norms where the attention is split
    assert moe - dense == m.hidden * m.moe.experts + (m.moe.experts if m.moe.router_bias else 0)
    _, whole = moe_mech.hf_layer_whole_params(m, STACKS["hf-trainer"], np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    assert whole[0] == 0.0 and whole[1] >= moe
    if fam == "qwen3_moe":
        assert float(moe_mech.hf_ep_whole_params(m, STACKS["hf-trainer"], 2.0, 1.0)) == (
            pc.n_moe_layers * moe + pc.final_norm) == 12_793_856



@pytest.mark.parametrize("gpu,fp32,fast", [("H100-SXM-80GB", False, True), ("A100-SXM-80GB", False, False),
                                          ("H100-SXM-80GB", True, False)])
def test_grouped_mm_falls_back_to_a_loop_off_sm90_bf16(catalog, gpu, fp32, fast):
    """torch's ``_grouped_mm`` runs one CUTLASS kernel on SM90 / SM100 with bf16 operands only (ATen
    native/cuda/GroupedBlas.cpp ``use_fast_path``); elsewhere ``_grouped_mm_fallback`` reads the offsets on the host
    (``offs.cpu()``) and runs one ``mm`` a group. Qwen3-30B-A3B's MoE layer, 8,192 tokens a rank (64 rows an expert):
    on an H100 in bf16 the MLP forward (router included) takes 0.64 of the loop's; on an A100, or over an fp32 stream
    (autocast over fp32 weights), they are the loop's, with the fallback's two syncs and none of the loop's 643. Until
    hfmoe53 every kernel priced the loop's GEMMs."""
    import numpy as np

    from planner.model import moe as moe_mech
    from planner.model.layer_ops import layer_context
    from planner.model.stacks import resolve
    from planner.spec import ModelSpec, TrainingSpec
    from planner.spec.presets import PRESETS
    from test_step_time import hw_for

    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    t = TrainingSpec(seq_len=8192, global_batch=16, micro_batch=1, precision="bf16", tokens=1e9)
    fw, one = resolve("hf-trainer"), np.array([1.0])
    c = layer_context(m, t, hw_for(catalog, gpu), fw, one, one, one, one, np.array([False]), one, 0.0,
                      fp32_stream=np.array([fp32]))
    assert bool(np.all(c.grouped_fast)) == fast
    out = {k: moe_mech.moe_layer(m, c.T, c.tp, c.etp, c.ep, c.g, c.act_b, c.gemm, fw, c.links, launch_s=c.eff.launch_s,
                                 hf=moe_mech.HfExperts(k, 2.0, 1.0, c.grouped_fast)) for k in ("grouped_mm", "eager")}
    g, e = (float(np.ravel(out[k].fwd_mlp)[0]) for k in ("grouped_mm", "eager"))
    syncs = float(np.ravel(out["grouped_mm"].sync_s)[0]) / (moe_mech.MOE_SYNC_OPS * c.eff.launch_s)
    if fast:
        assert g < 0.7 * e and syncs == 0.0
    else:
        assert g == pytest.approx(e, rel=1e-12) and syncs == moe_mech.GROUPED_MM_FALLBACK_SYNCS
    assert float(np.ravel(out["eager"].sync_s)[0]) > 600 * moe_mech.MOE_SYNC_OPS * c.eff.launch_s
