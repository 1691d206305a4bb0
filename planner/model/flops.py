"""FLOPs per training step: one convention, documented, with its alternatives selectable.

Convention (the one ``FlopCounterMode`` uses, and PaLM App. B / Narayanan et al. 2021 §3):

* a matmul of (m x k) by (k x n) is 2*m*n*k FLOPs; biases, norms, activations, softmax and the
  optimizer are not counted (they are memory-bound and appear in the step *time*, not in FLOPs);
* forward per token = 2 x (every weight a token multiplies: attention projections, the MLP — for
  MoE the router and the top_k routed experts plus shared experts — and the logits V*h);
* attention core per token = 2 * 2 * s * q_dim (QK^T and AV), counted in full by default; set
  ``causal_half=True`` to halve it for causal models (Megatron-LM's ``num_floating_point_operations``
  does; PaLM, Narayanan eq. 3, llm-foundry and FlopCounterMode do not);
* backward = 2 x forward (gradient w.r.t. inputs and w.r.t. weights).

Model FLOPs (for MFU) = 3 x forward. Hardware FLOPs (for HFU) add what is executed again:
full recompute repeats every layer's forward (not the logits); selective recompute repeats the
attention core (Korthikanti et al. 2022 §5); flash attention's backward recomputes QK^T
(FlashAttention, Dao et al. 2022 §3.1), which is 0.5 x the attention core forward — exactly what
``torch.utils.flop_counter`` charges for ``scaled_dot_product_attention`` backward (5 bmm vs 4).

Checked in tests/test_flops.py against ``FlopCounterMode`` on real forward+backward runs of the
reference models in calibration/reference_models.py, and against Narayanan eq. 3 by hand.
"""
from __future__ import annotations

import numpy as np

from planner.spec.params import count_params
from planner.vocab import RECOMPUTE
from planner.spec import ModelSpec



def linear_flops_per_token(m: ModelSpec) -> dict[str, float]:
    """Forward matmul FLOPs per token of the weights, split by where they sit."""
    if not m.is_transformer:
        raise ValueError("generic models have no per-token structure")
    pc = count_params(m)
    h, q, kv, f = m.hidden, m.q_dim, m.kv_dim, m.ffn_hidden
    attn = 2 * (h * q + 2 * h * kv + q * h)
    mlp_w = (3 if m.gated else 2) * h
    dense_mlp = 2 * mlp_w * f
    out = {"attn_proj": attn * m.layers, "mlp": dense_mlp * pc.n_dense_layers}
    if m.moe is not None:
        e = m.moe
        moe = 2 * h * e.experts + e.top_k * 2 * mlp_w * f
        if e.shared_experts:
            sw = e.shared_ffn_hidden or e.shared_experts * f
            moe += 2 * mlp_w * sw + (2 * h if e.shared_expert_gate else 0)
        out["mlp"] += moe * pc.n_moe_layers
    head = 2 * h * m.vocab
    if m.mlm_head:
        head += 2 * h * h
    out["logits"] = head
    return out


def attention_core_flops(queries, keys, q_dim):
    """Forward FLOPs of the attention core (QK^T and AV), every score counted:
    ``2 x 2 x queries x keys x q_dim`` (two matmuls of 2 FLOPs per multiply-add; Narayanan et al.
    2021 §3, the count FlopCounterMode makes for ``scaled_dot_product_attention``). A causal
    kernel that skips the masked half executes half of it."""
    return 4.0 * np.asarray(queries, dtype=np.float64) * np.asarray(keys, dtype=np.float64) * q_dim


def attention_flops_per_token(m: ModelSpec, seq, causal_half: bool = False):
    """QK^T + AV forward FLOPs per token over all layers: 4 * s * q_dim * layers (full count)."""
    f = attention_core_flops(1.0, seq, m.q_dim) * m.layers
    return f / 2 if (causal_half and m.causal) else f


def step_flops(m: ModelSpec, seq, global_batch, recompute="none", flash=True, causal_half=False):
    """FLOPs of one optimizer step over the whole global batch. Array-friendly in every argument
    except the model. ``recompute`` is a name or an array of codes (0 none, 1 selective, 2 full).

    Returns a dict of arrays: ``fwd``, ``model`` (3 x fwd, for MFU), ``hardware`` (with recompute
    and flash's backward score recompute, for HFU), ``attention_fwd``, ``linear_fwd``,
    ``logits_fwd``.
    """
    rc = np.asarray(RECOMPUTE.code[recompute] if isinstance(recompute, str) else recompute)
    gb = np.asarray(global_batch, dtype=np.float64)
    if not m.is_transformer:
        fwd = m.fwd_flops_per_sample * gb
        model = 3 * fwd
        hardware = model + np.where(rc == 2, fwd, 0.0)
        z = np.zeros_like(fwd)
        return dict(fwd=fwd, model=model, hardware=hardware, attention_fwd=z, linear_fwd=fwd, logits_fwd=z)
    tokens = gb * np.asarray(seq, dtype=np.float64)
    lin = linear_flops_per_token(m)
    layer_lin = (lin["attn_proj"] + lin["mlp"]) * tokens
    logits = lin["logits"] * tokens
    attn = attention_flops_per_token(m, seq, causal_half) * gb * np.asarray(seq, dtype=np.float64)
    fwd = layer_lin + logits + attn
    model = 3 * fwd
    extra = np.where(rc == 2, layer_lin + attn, np.where(rc == 1, attn, 0.0))
    # flash attention recomputes the scores in its backward; selective/full recompute already
    # re-ran the whole attention forward, and FlashAttention still re-derives the scores inside
    # its own backward kernel, so the extra half is charged in every case with flash on
    extra = extra + (0.5 * attn if flash else 0.0)
    return dict(fwd=fwd, model=model, hardware=model + extra, attention_fwd=attn,
                linear_fwd=layer_lin, logits_fwd=logits)


def narayanan_eq3(B, s, l, h, V):
    """Narayanan et al. 2021 eq. 3: 96 B s l h^2 (1 + s/6h + V/16lh) — GPT with 4h MLP, full
    recompute, attention not causal-halved. Kept for tests and the validation script."""
    return 96.0 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
