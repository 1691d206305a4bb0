"""Step time of a training iteration, as a breakdown, vectorised over candidate configurations.

One optimizer step of a pipeline-parallel job (Narayanan et al. 2021, §2.2 and §3):

    step = m * t_stage + bubble + exposed DP reduce + optimizer
    bubble = (pp - 1) / v * t_stage  (+ Calculon's extra interleaving bubbles when m % pp != 0)

where m = global_batch / (micro_batch * dp) micro-batches, v the interleaving degree, and t_stage
the forward+backward time of one micro-batch on the slowest stage (the most layers, plus the
logits and loss on the last stage, plus the stage-to-stage sends).

One layer's forward+backward on one rank is built from op classes:

* GEMMs (QKV, out-projection, MLP, router, experts, logits) — ``Efficiency.gemm_time`` with its
  shape-dependent efficiency; backward runs two GEMMs of the forward's FLOPs each (dgrad, wgrad);
* the attention core — flash attention at the measured/prior fraction of peak (causal kernels
  skip the masked half), or explicit QK^T / softmax / AV without flash;
* memory-bound work — norms, residual adds, activation functions, RoPE, softmax, cross-entropy,
  the optimizer — bytes moved at the HBM bandwidth reached;
* communication inside the layer — TP all-reduce (or reduce-scatter + all-gather with sequence
  parallelism; same bytes) exposed, CP ring exchange of K/V hidden under attention compute where
  it fits, EP all-to-all (dispatch + combine, forward and backward) exposed;
* ZeRO-3/FSDP parameter all-gathers (forward and backward) and gradient reduce-scatter per
  micro-batch, prefetched under compute: exposed only where longer than the compute they overlap.

The DP gradient reduce happens once per step (all-reduce for ZeRO 0/1 — ZeRO-1 then all-gathers
updated parameters — reduce-scatter for ZeRO 2); with ``overlap_grad_reduce`` it runs in buckets
under the last micro-batch's backward and only the excess plus the last bucket are exposed.
"""
from __future__ import annotations

import numpy as np

from planner.candidates import Candidates
from planner.comm import collective_time, p2p_time, ring_time
from planner.flops import step_flops
from planner.hardware import HardwareOption
from planner.memory import ACT_BYTES, model_state_bytes_per_param, stage_params
from planner.params import count_params
from planner.spec import ModelSpec, TrainingSpec

BREAKDOWN_KEYS = (
    "compute_gemm", "compute_attention", "compute_memory_bound", "comm_tp", "comm_cp", "comm_ep",
    "comm_pp", "comm_zero3", "comm_dp", "bubble", "optimizer", "data_stall",
)

# Memory-bound traffic of one layer's forward, in units of (elements per token) — reads + writes
# of the activation tensors by the non-GEMM kernels of a standard (fused-where-common) layer:
# two norms (read h, write h), two residual adds (read 2h, write h), RoPE on q and k (read,
# write), the MLP activation (gated: read 2f, write f; plain: read f, write f), bias-adds fused.
# Backward moves about twice the bytes (Korthikanti et al. 2022 §3 counts the same tensors).
BWD_MEMBOUND_FACTOR = 2.0
KERNELS_PER_LAYER_FWD = 12  # GEMMs 4 + norms 2 + residual 2 + rope 1 + act 1 + attention 2
OPTIMIZER_BYTES_PER_PARAM = {  # bytes read + written per parameter by one optimizer step
    "adamw": 32.0, "adam": 32.0, "adam8bit": 18.0, "lion": 22.0, "sgd": 14.0,
    "sgd_momentum": 22.0, "adafactor": 18.0,
}


def _membound_elems_fwd(m: ModelSpec):
    """(elements per token on the full hidden, elements per token sharded by TP)."""
    h, f = m.hidden, m.ffn_hidden
    full = 2 * 2 * h + 2 * 3 * h  # norms + residual adds
    sharded = 2 * (m.q_dim + m.kv_dim) + (3 * f if m.gated else 2 * f)
    return full, sharded


def step_time(m: ModelSpec, t: TrainingSpec, c: Candidates, hw: HardwareOption, *,
              overlap_grad_reduce: bool = True, tp_comm_overlap: float = 0.0,
              causal_kernels: bool = True, dp_grad_bytes: float | None = None) -> dict:
    """Seconds per step and its breakdown for every candidate (all on hardware option ``hw``).

    Returns a dict of arrays: ``step_time_s``, the ``BREAKDOWN_KEYS``, ``t_fwd_mb``, ``t_bwd_mb``
    (slowest stage, one micro-batch), ``t_dp_comm`` (whole DP reduce), ``t_optimizer``,
    ``t_pp_p2p``, ``num_microbatches``, ``model_flops``, ``hw_flops``, ``mfu``, ``hfu``.
    """
    eff = hw.eff
    peak = hw.peak(t.precision)
    hbm = hw.gpu.hbm_bw
    act_b = ACT_BYTES[t.precision]
    gemm_b = 1.0 if t.precision == "fp8" else float(act_b)
    n = len(c)
    tp = c.tp.astype(np.float64)
    cp = c.cp.astype(np.float64)
    ep = c.ep.astype(np.float64)
    pp = c.pp.astype(np.float64)
    dp = c.dp.astype(np.float64)
    mb = c.mb.astype(np.float64)
    g = float(hw.gpus_per_node)
    intra_bw, inter_bw = hw.intra_bw_eff, hw.inter_bw_per_gpu
    a_in, a_out = eff.intra_alpha_s, eff.inter_alpha_s
    gb = float(t.global_batch)
    m_micro = gb / (mb * dp)
    seq = float(t.seq_len)
    sp_div = np.where(c.sp, tp, 1.0)

    def gemm(M, N, K):  # forward + backward (dgrad + wgrad) of one GEMM
        fwd = eff.gemm_time(M, N, K, peak, hbm, gemm_b)
        bwd = eff.gemm_time(M, K, N, peak, hbm, gemm_b) + eff.gemm_time(K, N, M, peak, hbm, gemm_b)
        return fwd, bwd

    if m.is_transformer:
        T = mb * seq / cp  # tokens per micro-batch per rank
        h, q, kv, f = m.hidden, m.q_dim, m.kv_dim, m.ffn_hidden
        up = (2 if m.gated else 1) * f
        parts = [gemm(T, (q + 2 * kv) / tp, h), gemm(T, h, q / tp)]
        dense_mlp = [gemm(T, up / tp, h), gemm(T, h, f / tp)]
        fwd_g_attn = sum(p[0] for p in parts)
        bwd_g_attn = sum(p[1] for p in parts)
        fwd_g_dense = fwd_g_attn + sum(p[0] for p in dense_mlp)
        bwd_g_dense = bwd_g_attn + sum(p[1] for p in dense_mlp)
        # attention core (per layer, per rank): queries T, keys over the whole sequence
        attn_flops = 4.0 * T * seq * q / tp
        kernel_flops = attn_flops / 2 if (causal_kernels and m.causal) else attn_flops
        if t.flash_attention:
            fwd_attn = kernel_flops / (peak * eff.attn_fwd) + eff.launch_s
            bwd_attn = 2.5 * kernel_flops / (peak * eff.attn_bwd) + eff.launch_s
        else:
            heads = m.heads / tp
            hd = m.head_dim
            bt = mb * heads  # batched GEMMs, one per (sequence, head)
            f1 = eff.gemm_time(seq / cp, seq, hd, peak, hbm, gemm_b) * bt
            f2 = eff.gemm_time(seq / cp, hd, seq, peak, hbm, gemm_b) * bt
            scores = mb * heads * seq / cp * seq
            soft_f = eff.memory_time(scores * act_b * (3 + (3 if t.dropout else 0)), hbm, 2)
            fwd_attn = f1 + f2 + soft_f
            bwd_attn = 2 * (f1 + f2) + 1.5 * soft_f
        full, sharded = _membound_elems_fwd(m)
        mb_fwd = eff.memory_time(T * act_b * (full / sp_div + sharded / tp), hbm, KERNELS_PER_LAYER_FWD - 4)
        mb_bwd = BWD_MEMBOUND_FACTOR * mb_fwd
        # MoE layers: router + experts (balanced routing) + shared expert, replacing the dense MLP
        if m.moe is not None:
            e = m.moe
            local_experts = e.experts / ep
            tok_per_expert = T * ep * e.top_k / e.experts
            ex = [gemm(tok_per_expert, up / tp, h), gemm(tok_per_expert, h, f / tp)]
            fwd_moe = fwd_g_attn + local_experts * sum(p[0] for p in ex)
            bwd_moe = bwd_g_attn + local_experts * sum(p[1] for p in ex)
            r = gemm(T, e.experts, h)
            fwd_moe, bwd_moe = fwd_moe + r[0], bwd_moe + r[1]
            if e.shared_experts:
                sw = e.shared_ffn_hidden or e.shared_experts * f
                sh = [gemm(T, (2 if m.gated else 1) * sw / tp, h), gemm(T, h, sw / tp)]
                fwd_moe, bwd_moe = fwd_moe + sum(p[0] for p in sh), bwd_moe + sum(p[1] for p in sh)
            a2a_bytes = T * e.top_k * h * act_b / tp
            a2a = collective_time("all_to_all", a2a_bytes, ep, tp * cp, g, intra_bw, inter_bw, a_in, a_out)
            ep_comm_layer = 4 * a2a  # dispatch + combine, forward and backward
            # the routed MLP's activation traffic scales with top_k
            mb_moe_extra = eff.memory_time(T * act_b * (e.top_k - 1) * (3 * f if m.gated else 2 * f) / tp, hbm, 0)
        else:
            fwd_moe = bwd_moe = ep_comm_layer = mb_moe_extra = 0.0
        moe_share = m.moe_layers / m.layers
        fwd_gemm_layer = (1 - moe_share) * fwd_g_dense + moe_share * fwd_moe
        bwd_gemm_layer = (1 - moe_share) * bwd_g_dense + moe_share * bwd_moe
        ep_layer = moe_share * ep_comm_layer
        mb_fwd = mb_fwd + moe_share * mb_moe_extra
        mb_bwd = mb_bwd + BWD_MEMBOUND_FACTOR * moe_share * mb_moe_extra
        # TP: 2 all-reduces forward, 2 backward, of T*h activations (RS+AG under SP: same bytes)
        tp_bytes = T * h * act_b
        tp_ar = collective_time("all_reduce", tp_bytes, tp, 1, g, intra_bw, inter_bw, a_in, a_out)
        tp_layer = 4 * tp_ar * (1 - tp_comm_overlap)
        # CP: ring exchange of this rank's K,V chunk, (cp-1) steps forward, 2x backward (dK, dV)
        kv_bytes = T * 2 * kv / tp * act_b
        cp_step = collective_time("all_gather", kv_bytes * cp, cp, tp, g, intra_bw, inter_bw, a_in, a_out)
        cp_fwd = np.maximum(0.0, cp_step - fwd_attn)
        cp_bwd = np.maximum(0.0, 2 * cp_step - bwd_attn)
        cp_layer = cp_fwd + cp_bwd
        # recompute: full re-runs the layer forward (GEMMs, attention, elementwise, TP comm);
        # selective re-runs the attention core
        rc = c.rc
        re_gemm = np.where(rc == 2, fwd_gemm_layer, 0.0)
        re_attn = np.where(rc >= 1, fwd_attn, 0.0)
        re_mb = np.where(rc == 2, mb_fwd, 0.0)
        re_tp = np.where(rc == 2, tp_layer / 2, 0.0)
        layer_gemm = fwd_gemm_layer + bwd_gemm_layer + re_gemm
        layer_attn = fwd_attn + bwd_attn + re_attn
        layer_mb = mb_fwd + mb_bwd + re_mb
        layer_tp = tp_layer + re_tp
        layer_fwd = fwd_gemm_layer + fwd_attn + mb_fwd + tp_layer / 2 + ep_layer / 2 + cp_fwd
        layer_bwd = (bwd_gemm_layer + re_gemm + bwd_attn + re_attn + mb_bwd + re_mb
                     + tp_layer / 2 + re_tp + ep_layer / 2 + cp_bwd)
        # the last stage's logits GEMM and cross-entropy (memory-bound over T x V/tp)
        lg_f, lg_b = gemm(T, m.vocab / tp, h)
        ce = eff.memory_time(T * m.vocab / tp * (act_b + 3 * 4), hbm, 4)
        logits_fwd = lg_f + ce / 2
        logits_bwd = lg_b + ce / 2
        layers_max = np.ceil(m.layers / pp)
        # pipeline sends: one activation tensor per micro-batch each way between stages
        pp_bytes = T * h * act_b / sp_div
        stride_pp = tp * cp * dp
        pp_link_inter = stride_pp >= g
        p2p = np.where(pp_link_inter, p2p_time(pp_bytes, inter_bw, a_out), p2p_time(pp_bytes, intra_bw, a_in))
        t_pp = np.where(pp > 1, 2 * p2p, 0.0)
        single = pp == 1
        last_extra_f = logits_fwd
        last_extra_b = logits_bwd
        t_fwd_mb = layers_max * layer_fwd + last_extra_f + t_pp / 2
        t_bwd_mb = layers_max * layer_bwd + last_extra_b + t_pp / 2
        comp_gemm_mb = layers_max * layer_gemm + lg_f + lg_b
        comp_attn_mb = layers_max * layer_attn
        comp_mb_mb = layers_max * layer_mb + ce
        tp_mb = layers_max * layer_tp
        cp_mb = layers_max * cp_layer
        ep_mb = layers_max * ep_layer
        del single
    else:
        # generic model: forward FLOPs per sample at large-GEMM efficiency (convolutions and
        # big matmuls), backward 2x; activations' memory traffic is inside the measured FLOPs rate
        fl = m.fwd_flops_per_sample * mb
        e_big = eff.gemm_max * 0.85  # convolutions / ViT GEMMs run a bit below large-GEMM peak
        t_fwd_mb = fl / (peak * e_big)
        t_bwd_mb = 2 * t_fwd_mb + np.where(c.rc == 2, t_fwd_mb, 0.0)
        comp_gemm_mb = t_fwd_mb + t_bwd_mb
        z = np.zeros(n)
        comp_attn_mb = comp_mb_mb = tp_mb = cp_mb = ep_mb = t_pp = z
        layers_max = np.ones(n)

    t_stage = t_fwd_mb + t_bwd_mb

    # ZeRO-3 / FSDP: per micro-batch all-gather of weights (fwd, bwd) and reduce-scatter of grads,
    # prefetched under compute; exposed only beyond the compute they overlap
    w_b, g_b, master_b, opt_b = model_state_bytes_per_param(t, m.hidden or 4096)
    f_dense, f_exp, l_dense, l_exp, _, _ = stage_params(m, c)
    stage_p_dense = np.maximum(f_dense, l_dense) / tp
    stage_p_exp = np.maximum(f_exp, l_exp) / (tp * ep)
    dps = dp * cp
    edps = np.maximum(dps / ep, 1.0)
    grad_bytes = g_b if dp_grad_bytes is None else dp_grad_bytes
    param16 = min(w_b, 2.0)
    z3 = c.zero >= 3
    ag_one = (collective_time("all_gather", stage_p_dense * param16, dps, tp, g, intra_bw, inter_bw, a_in, a_out)
              + collective_time("all_gather", stage_p_exp * param16, edps, tp * ep, g, intra_bw, inter_bw, a_in, a_out))
    rs_one = (collective_time("reduce_scatter", stage_p_dense * grad_bytes, dps, tp, g, intra_bw, inter_bw, a_in, a_out)
              + collective_time("reduce_scatter", stage_p_exp * grad_bytes, edps, tp * ep, g, intra_bw, inter_bw, a_in, a_out))
    z3_mb = 2 * ag_one + rs_one
    z3_exposed_mb = np.where(z3, np.maximum(0.0, z3_mb - 0.9 * t_stage) + (ag_one + rs_one) / np.maximum(layers_max, 1), 0.0)

    # DP gradient reduce once per step (ZeRO 0-2)
    ar = (collective_time("all_reduce", stage_p_dense * grad_bytes, dps, tp, g, intra_bw, inter_bw, a_in, a_out)
          + collective_time("all_reduce", stage_p_exp * grad_bytes, edps, tp * ep, g, intra_bw, inter_bw, a_in, a_out))
    rs = rs_one
    ag = ag_one
    t_dp = np.where(c.zero == 0, ar, np.where(c.zero == 1, rs + ag, np.where(c.zero == 2, rs + ag, 0.0)))
    if overlap_grad_reduce:
        last_bucket = t_dp / np.maximum(layers_max, 1)
        exposed_dp = np.maximum(last_bucket, t_dp - t_bwd_mb)
    else:
        exposed_dp = t_dp

    # optimizer: memory-bound over the local (ZeRO-sharded) parameters
    local = np.where(c.zero >= 1, (stage_p_dense / dps + stage_p_exp / edps), stage_p_dense + stage_p_exp)
    t_opt = eff.memory_time(local * OPTIMIZER_BYTES_PER_PARAM[t.optimizer], hbm, 8)

    # pipeline bubble (Narayanan eq. for 1F1B/GPipe; /v when interleaved)
    v = np.where(c.schedule == 1, np.maximum(c.vpp, 1), 1).astype(np.float64)
    extra_inter = np.where((c.schedule == 1) & (np.mod(m_micro, pp) != 0), (v - 1) * (pp - np.mod(m_micro, pp)) / v, 0.0)
    bubble = (pp - 1) / v * t_stage + extra_inter * t_stage / np.maximum(pp, 1)
    steady = m_micro * (t_stage + z3_exposed_mb)
    step = steady + bubble + exposed_dp + t_opt

    # breakdown: split the steady part in proportion to its parts
    def per_step(x):
        return m_micro * x
    bd = {
        "compute_gemm": per_step(comp_gemm_mb),
        "compute_attention": per_step(comp_attn_mb),
        "compute_memory_bound": per_step(comp_mb_mb),
        "comm_tp": per_step(tp_mb),
        "comm_cp": per_step(cp_mb),
        "comm_ep": per_step(ep_mb),
        "comm_pp": per_step(t_pp),
        "comm_zero3": per_step(z3_exposed_mb),
        "comm_dp": exposed_dp,
        "bubble": bubble,
        "optimizer": t_opt,
        "data_stall": np.zeros(n),
    }
    fl = step_flops(m, seq, gb, c.rc, t.flash_attention)
    gpus = c.gpus.astype(np.float64)
    out = dict(bd)
    out.update(
        step_time_s=step, t_fwd_mb=t_fwd_mb, t_bwd_mb=t_bwd_mb, t_dp_comm=t_dp, t_optimizer=t_opt,
        t_pp_p2p=t_pp / 2, num_microbatches=m_micro, model_flops=fl["model"] * np.ones(n),
        hw_flops=fl["hardware"] * np.ones(n),
    )
    out["mfu"] = out["model_flops"] / (step * gpus * peak)
    out["hfu"] = out["hw_flops"] / (step * gpus * peak)
    tokens = gb * (seq if m.is_transformer else 1.0)
    out["tokens_per_s"] = tokens / step
    out["tokens_per_s_per_gpu"] = out["tokens_per_s"] / gpus
    return out
