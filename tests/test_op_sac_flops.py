"""Hardware FLOPs (HFU) under per-op selective activation checkpointing count what the policy re-runs.

torchtitan 0.3's ``SelectiveAC`` (torchtitan/distributed/activation_checkpoint.py) saves the outputs of the
compute-intensive ops but "every second mm/linear" of a block, and SDPA's output: the backward re-runs the 2nd, 4th,
... linear of each block and not the attention core. The counts below are written out by hand from Llama 3 8B's
config (hidden 4096, 32 heads of 128, 8 KV heads, MLP 14336, 32 layers), not through planner.model.flops."""
from __future__ import annotations

import pytest

from planner.model.flops import op_sac_recompute_flops_per_token, step_flops
from planner.spec import ModelSpec, load_job_dict
from planner.spec.presets import PRESETS
from planner.workloads.training import estimate_job

H, Q, KV, F, L = 4096, 4096, 1024, 14336, 32
SEQ, GB = 8192, 64
TOKENS = SEQ * GB


def _job(framework, recompute):
    return {"model": {"preset": "llama3-8b"},
            "training": {"seq_len": SEQ, "global_batch": GB, "micro_batch": 1, "precision": "bf16",
                         "recompute": recompute, "tokens": 1e10, "framework": framework},
            "parallel": {"tp": 1, "pp": 1, "dp": 8, "cp": 1, "zero": 3},
            "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


def test_llama3_8b_torchtitan_hand_count():
    """torchtitan 0.3 builds Llama 3 with a fused QKV linear (``fuse_qkv=True``): the block's mms are wqkv, wo, w1,
    w3, w2, so wo (Q x H) and w3 (H x F) are re-run, 2 FLOPs per multiply-add, on every token of every layer."""
    m = ModelSpec(**PRESETS["llama3-8b"])
    want = 2 * L * (Q * H + H * F)
    assert op_sac_recompute_flops_per_token(m, fused_qkv=True) == pytest.approx(want, rel=1e-12)
    # separate q, k, v (the HF modules NeMo AutoModel runs): wq, wk, wv, wo, w1, w3, w2, so wk, wo and w3
    assert op_sac_recompute_flops_per_token(m) == pytest.approx(2 * L * (H * KV + Q * H + H * F), rel=1e-12)


def test_estimate_hfu_counts_op_sac_and_mfu_does_not():
    """Through ``planner estimate``: a torchtitan op-SAC plan's hardware FLOPs exceed the no-recompute plan's by the
    hand count (the attention core is saved, so it is not re-run: before 2026-12-03 HFU counted the attention core
    instead), its model FLOPs are the same, and HFU / MFU is the ratio of the two counts."""
    sel, none = (estimate_job(load_job_dict(_job("torchtitan", rc))) for rc in ("selective", "none"))
    assert sel.flops_per_step == none.flops_per_step
    assert sel.hw_flops_per_step - none.hw_flops_per_step == pytest.approx(TOKENS * 2 * L * (Q * H + H * F), rel=1e-9)
    assert sel.hfu / sel.mfu == pytest.approx(sel.hw_flops_per_step / sel.flops_per_step, rel=1e-9)


def test_megatron_selective_still_counts_the_attention_core():
    """Megatron's selective recompute re-runs the attention core (Korthikanti et al. 2022 §5): under a causal flash
    kernel half the 4 s q_dim score-and-value FLOPs per token per layer (s / 2 keys on average)."""
    sel, none = (estimate_job(load_job_dict(_job("megatron-core", rc))) for rc in ("selective", "none"))
    assert sel.hw_flops_per_step - none.hw_flops_per_step == pytest.approx(TOKENS * L * 4 * (SEQ / 2) * Q, rel=1e-9)


def test_op_policy_reruns_routed_experts():
    """In an MoE block the routed experts run ``torch._grouped_mm``, which is not in the save list, and the router
    gate is force-recomputed: op SAC re-runs both whole, so a Mixtral-style layer re-runs most of its FLOPs."""
    m = ModelSpec(**PRESETS["mixtral-8x7b"])
    h, f, e, k = m.hidden, m.ffn_hidden, m.moe.experts, m.moe.top_k
    attn = [h * m.q_dim, h * m.kv_dim, h * m.kv_dim, m.q_dim * h]  # no shared experts: the count ends at wo
    want = 2 * m.layers * (attn[1] + attn[3] + h * e + k * 3 * h * f)
    assert op_sac_recompute_flops_per_token(m) == pytest.approx(want, rel=1e-12)
    base = step_flops(m, 4096, 8, "none")["hardware"]
    assert step_flops(m, 4096, 8, "selective", selective="op")["hardware"] - base == pytest.approx(want * 4096 * 8)


def test_step_time_reruns_the_share_hfu_counts():
    """The step time prices per-op SAC's recompute from the same count: the GEMM time it adds over no recompute is
    (wo + w3) / (wqkv + wo + w1 + w3 + w2) of what full recompute adds (torchtitan's full AC re-runs every GEMM of
    the layer: ``early_stop=False``), 18432 / 53248 = 0.346 for Llama 3 8B; until 2026-12-03 it was half."""
    gemm = {rc: estimate_job(load_job_dict(_job("torchtitan", rc))).breakdown_s.compute_gemm
            for rc in ("none", "selective", "full")}
    share = (Q * H + H * F) / (H * (Q + 2 * KV) + Q * H + 3 * H * F)
    assert (gemm["selective"] - gemm["none"]) / (gemm["full"] - gemm["none"]) == pytest.approx(share, rel=1e-6)


def test_separate_qkv_option_moves_the_count():
    """``training.framework.fused_qkv: false`` (torchtitan's 2024-25 Llama, wq, wk, wv apart): the every-second-mm
    count runs wq, wk, wv, wo, w1, w3, w2, so wk, wo and w3 are re-run, and the stack line says so."""
    job = _job({"name": "torchtitan", "fused_qkv": False}, "selective")
    sep, none = estimate_job(load_job_dict(job)), estimate_job(load_job_dict(_job("torchtitan", "none")))
    want = TOKENS * 2 * L * (H * KV + Q * H + H * F)
    assert sep.hw_flops_per_step - none.hw_flops_per_step == pytest.approx(want, rel=1e-9)


def test_math_sdpa_op_sac_reruns_the_attention_core():
    """Without flash attention (``training.flash_attention: false``) torch's math path runs the attention core as bmm
    and softmax, none of them in the save list: the backward re-runs the core, so the step time's attention part
    under op SAC adds the forward core once, as full recompute does (the GEMMs still only wo and w3), and HFU adds
    its full-matrix FLOPs, 4 s q_dim per token and layer (FlopCounterMode's count of the real SAC run:
    tests/test_op_sac_activations.py). With flash neither moves. Until 2026-12-03 the core was left out (Llama 3 8B
    seq 8192 on 8 H100: 13.29 -> 15.65 s)."""
    def run(rc, flash):
        job = _job("torchtitan", rc)
        job["training"]["flash_attention"] = flash
        return estimate_job(load_job_dict(job))
    for flash in (True, False):
        none, sel, full = (run(rc, flash) for rc in ("none", "selective", "full"))
        core = (sel.breakdown_s.compute_attention - none.breakdown_s.compute_attention)
        full_core = full.breakdown_s.compute_attention - none.breakdown_s.compute_attention
        hw = sel.hw_flops_per_step - none.hw_flops_per_step
        gemms = TOKENS * 2 * L * (Q * H + H * F)
        if flash:
            assert core == 0.0 and hw == pytest.approx(gemms, rel=1e-9)
        else:
            assert core == pytest.approx(full_core, rel=1e-9) and core > 0
            assert hw == pytest.approx(gemms + TOKENS * L * 4 * SEQ * Q, rel=1e-9)
