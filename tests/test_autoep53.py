"""autoep53: DeepSpeed's AutoEP and AutoTP as they run on transformers 5's MoE models.

Read in deepspeedai/DeepSpeed (master as stored): at ``expert_parallel.autoep_size`` > 1 AutoEP swaps each MoE block
for its own ``AutoEPMoELayer`` (deepspeed/module_inject/auto_ep_layer.py @ 0067b11e), whose experts are
``GroupedExperts`` (deepspeed/moe/ep_experts.py: ``torch._grouped_mm`` with the operands cast to the rows' dtype, a
Triton grouped GEMM preferred below SM90) behind a split plan read on the host once a layer forward -- transformers'
``experts_implementation`` no longer runs. AutoTP (deepspeed/module_inject/auto_tp.py) swaps ``nn.Linear`` modules
only: transformers 5.23's routers (``*TopKRouter``, an ``nn.Parameter``) and norms stay whole on every TP rank, and
AutoEP's own router sits in a block AutoTP skips. Until autoep53 the AutoEP rows were priced with the job's kernel and
the deepspeed stack's routers and norms over TP.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import answered, write_job

JOB = """
model: {preset: qwen3-30b-a3b}
training: {mode: full_finetune, seq_len: 4096, global_batch: 64, precision: bf16, dataset_samples: 40000, micro_batch: 1,
           mean_example_tokens: 3000, packing: packed, epochs: 1, framework: {name: deepspeed, experts_implementation: %s}}
parallel: {tp: 1, ep: %d, dp: 16, zero: 2}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
"""


def test_autoep_runs_its_own_kernel_whatever_experts_implementation_says(cli, tmp_path):
    """Qwen3-30B-A3B full fine-tune on the deepspeed stack, two p5.48xlarge, DP16 ZeRO-2: at EP8 the step is AutoEP's
    whichever ``experts_implementation`` the job sets (1.775 s both; until autoep53 eager 3.840 s, transformers' loop
    with its 640 syncs a layer, grouped_mm 1.770 s), and AutoEP's split-plan sync costs grouped_mm's step a little; at
    EP 1 transformers' block runs and the eager loop stays the slower."""
    steps = {(k, ep): answered(cli("estimate", write_job(tmp_path, JOB % (k, ep), name=f"{k}{ep}.yaml"), "--json"))
             ["step_time_s"] for k in ("eager", "grouped_mm") for ep in (1, 8)}
    assert steps[("eager", 8)] == pytest.approx(steps[("grouped_mm", 8)], rel=1e-12)
    assert steps[("grouped_mm", 8)] == pytest.approx(1.7752, rel=2e-3)
    assert steps[("eager", 1)] > 10 * steps[("grouped_mm", 1)]


@pytest.mark.parametrize("gpu,fp32,fast", [("H100-SXM-80GB", False, True), ("A100-SXM-80GB", False, True),
                                          ("H100-SXM-80GB", True, False)])
def test_autoep_kernel_by_device(catalog, gpu, fp32, fast):
    """AutoEP's ``GroupedExperts`` below SM90 prefers its Triton grouped GEMM (``prefer_triton_grouped_mm``): one
    kernel a projection on an A100 (0.84 of the loop's forward at 512 rows an expert), where transformers' ``_grouped_mm`` falls back to a loop; on an H100 torch's
    kernel, one launch in bf16, the fallback loop over an fp32 stream (``w1.to(x.dtype)``). Either way one split-plan
    sync a layer (plus the fallback's two), none of transformers' eager loop's 643."""
    from planner.model import moe as moe_mech
    from planner.model.layer_ops import layer_context
    from planner.model.stacks import resolve
    from planner.spec import ModelSpec, TrainingSpec
    from planner.spec.presets import PRESETS
    from test_step_time import hw_for

    m = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    t = TrainingSpec(seq_len=8192, global_batch=16, micro_batch=1, precision="bf16", tokens=1e9)
    fw, one = resolve("deepspeed"), np.array([1.0])
    c = layer_context(m, t, hw_for(catalog, gpu), fw, one, one, np.array([4.0]), one, np.array([False]), one, 0.0,
                      fp32_stream=np.array([fp32]))
    assert bool(np.all(c.autoep_fast)) == fast
    out = {k: moe_mech.moe_layer(m, c.T, c.tp, c.etp, c.ep, c.g, c.act_b, c.gemm, fw, c.links, launch_s=c.eff.launch_s,
                                 hf=moe_mech.HfExperts("eager", 2.0, 1.0, c.grouped_fast, ae, c.autoep_fast))
           for k, ae in (("autoep", True), ("hf", False))}
    a, e = (float(np.ravel(out[k].fwd_mlp)[0]) for k in ("autoep", "hf"))
    syncs = float(np.ravel(out["autoep"].sync_s)[0]) / (moe_mech.MOE_SYNC_OPS * c.eff.launch_s)
    assert syncs == moe_mech.AUTOEP_SPLIT_SYNCS + (0.0 if fast else moe_mech.GROUPED_MM_FALLBACK_SYNCS)
    assert (a < 0.9 * e) if fast else a == pytest.approx(e, rel=1e-12)
    assert float(np.ravel(out["hf"].sync_s)[0]) > 100 * moe_mech.MOE_SYNC_OPS * c.eff.launch_s


def test_autotp_leaves_routers_and_norms_whole():
    """DeepSpeed's AutoTP (TP > 1, every EP) holds Qwen3-30B-A3B's routers, norms, q / k norms and final norm whole,
    12,793,856 parameters (until autoep53 over TP), as transformers' plans do (hfmoe53); its rest share at TP2 is
    above 1 / 2 by exactly them; TP 1 holds nothing extra."""
    from planner.model import moe as moe_mech
    from planner.model.memory_activations import hf_weight_shares
    from planner.model.stacks import STACKS
    from planner.spec import ModelSpec
    from planner.spec.params import count_params
    from planner.spec.presets import PRESETS

    m, ds = ModelSpec(**PRESETS["qwen3-30b-a3b"]), STACKS["deepspeed"]
    pc = count_params(m)
    assert moe_mech.replicates_norms(m, ds)
    whole = moe_mech.hf_ep_whole_params(m, ds, np.array([1.0, 2.0, 2.0]), np.array([1.0, 1.0, 4.0]))
    assert list(whole) == [0.0, 12_793_856, 12_793_856]
    rest_params = pc.total - m.moe.experts * pc.expert * pc.n_moe_layers
    rest, routed = hf_weight_shares(m, ds, 2.0, 2)  # code 2: AutoTP at EP 1, the experts whole
    assert routed == 1.0
    assert rest == pytest.approx((12_793_856 + (rest_params - 12_793_856) / 2) / rest_params, rel=1e-12)
