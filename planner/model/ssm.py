"""Hybrid Mamba-Transformer layers: the Mamba-2 mixer's time on one rank, and how the hybrid
pattern's layer kinds share a "mean layer" of the step-time model.

A hybrid model (``ModelSpec.hybrid_pattern``, Megatron-Core ``hybrid_override_pattern``) is a stack
of residual blocks of one norm and one mixer each (megatron/core/ssm/mamba_block.py builds a
MambaLayer, a TransformerLayer without MLP, an MLPLayer or an MoE TransformerLayer per symbol). The
step-time model (planner.model.step_time) prices a mean layer and multiplies it by the layers of a
stage, so a hybrid layer is the mixture of its kinds by their counts (``layer_shares``); a plain
transformer layer is one attention block and one MLP (dense or MoE) in every layer.

The Mamba-2 mixer in training (Megatron-Core megatron/core/ssm/mamba_mixer.py ``MambaMixer``,
``use_mem_eff_path``: ``_ssm_training``):

* in_proj (TELayerNormColumnParallelLinear: the layer's norm fused) h -> 2 d_inner + 2 G N + H,
  column-parallel (heads and groups split over TP, "nheads must be evenly divisible by tp_size",
  "ngroups must be evenly divisible by tp_size"), and out_proj d_inner -> h, row-parallel: the TP
  collectives of one attention block (an all-gather before in_proj and a reduce-scatter after
  out_proj under sequence parallelism, an all-reduce without) — GEMMs at the stack's GEMM efficiency;
* ``mamba_split_conv1d_scan_combined`` (mamba_ssm ops/triton/ssd_combined.py
  ``MambaSplitConv1dScanCombinedFn``): the depthwise causal conv1d over x, B, C (causal_conv1d),
  then the SSD chunked scan (``_mamba_chunk_scan_combined_fwd``: ``_chunk_cumsum_fwd``,
  ``_chunk_state_fwd``, ``_state_passing_fwd``, ``_bmm_chunk_fwd``, ``_chunk_scan_fwd``; Dao & Gu
  2024 §6), the output gated by silu(z); then the group RMSNorm (``ExtendedRMSNorm``, RMSNormGated).
  These kernels carry few FLOPs (flops.ssd_flops: ~4% of the mixer's projections for Nemotron
  shapes) against the bytes they move — the chunk states in fp32 (H P N per chunk), the C B^T block
  per chunk in fp32, the conv, gate and norm passes, Megatron's layout copies of the in_proj output
  and of y — so each pass costs the larger of its FLOPs at
  the stack's attention-kernel rate (a chunked tensor-core kernel, the closest measured kind) and its
  bytes at the HBM bandwidth reached (``SCAN_BYTES``): memory-bound for Nemotron shapes. The
  backward (``_mamba_chunk_scan_combined_bwd`` and causal_conv1d_bwd, with the conv re-run at
  ``checkpoint_lvl`` 1) moves ``BWD_SCAN_FACTOR`` x the forward's bytes and runs 2 x its FLOPs;
* context parallelism (megatron/core/ssm/mamba_context_parallel.py ``MambaContextParallel``): an
  all-to-all from sequence-sharded to head-sharded before the conv/scan (``pre_conv_ssm``, the
  in_proj output) and back after (``post_conv_ssm``, the scan output), forward and backward,
  exposed.
"""
from __future__ import annotations

import numpy as np

from planner.model.comm import collective_time
from planner.model.flops import mamba_conv_flops, ssd_flops
from planner.spec import ModelSpec

#: bytes per token of one Mamba-2 layer's non-GEMM kernels, forward, as functions of the shard's
#: widths (di = d_inner / tp, gn = G N / tp, H = heads / tp, P, N, Q, groups g = G / tp) and the
#: activation bytes ``a`` (fp32 intermediates 4 bytes), read from mamba_ssm ops/triton/ssd_combined.py
#: ``_mamba_chunk_scan_combined_fwd`` and its kernels:
SCAN_BYTES = {
    # MambaMixer._ssm_training: ``rearrange(zxBCdt, "l b d -> b l d").contiguous()`` copies the in_proj
    # output (z, x, B, C, dt) to batch-major before the fused kernel: read and write it
    "in_proj_layout": lambda di, gn, H, P, N, Q, g, a: 2 * (2 * di + 2 * gn + H) * a,
    # causal_conv1d_fwd: read x, B, C, write the convolved x, B, C
    "conv1d": lambda di, gn, H, P, N, Q, g, a: 2 * (di + 2 * gn) * a,
    # _chunk_cumsum_fwd: read dt, write the softplus'd dt and cumsum(A dt), fp32
    "chunk_cumsum": lambda di, gn, H, P, N, Q, g, a: H * a + 2 * H * 4,
    # _chunk_state_fwd: read x, B, dt, dA_cumsum; write each chunk's final state, fp32 (H P N per chunk)
    "chunk_state": lambda di, gn, H, P, N, Q, g, a: (di + gn) * a + 2 * H * 4 + H * P * N * 4 / Q,
    # _state_passing_fwd: read the chunk states (fp32), write the passed states (out_dtype = C's dtype)
    "state_passing": lambda di, gn, H, P, N, Q, g, a: H * P * N * (4 + a) / Q,
    # _bmm_chunk_fwd: read C and B, write C B^T per chunk and group, fp32 (output_dtype=torch.float32)
    "bmm_chunk": lambda di, gn, H, P, N, Q, g, a: 2 * gn * a + g * Q * 4,
    # _chunk_scan_fwd: read C B^T, x, C, the passed states, dt, dA_cumsum, z; write y gated by silu(z)
    "chunk_scan": lambda di, gn, H, P, N, Q, g, a: g * Q * 4 + 2 * di * a + gn * a + H * P * N * a / Q
    + 2 * H * 4 + di * a,
    # Megatron's (l b d) rearrange copy of y back and the group RMSNorm (read y, write the normed output)
    "layout_and_norm": lambda di, gn, H, P, N, Q, g, a: 4 * di * a,
}
#: backward bytes over forward bytes: the chunk-scan backward kernels (dx, dB, dC, d(C B^T), dstates,
#: ddt, ddA) read what the forward wrote and the output gradient and write the gradients of each,
#: and re-run the conv (``checkpoint_lvl`` 1) — about twice the forward's traffic, as the step-time
#: model's other elementwise work (step_time.BWD_MEMBOUND_FACTOR)
BWD_SCAN_FACTOR = 2.0


def mtp_block_model(m: ModelSpec) -> ModelSpec:
    """The hybrid model's MTP block as a two-layer hybrid model "*E" (Megatron-Core
    ``mtp_hybrid_override_pattern``: Nemotron 3 Super / 3.5 Lightning recipes in Megatron-Bridge
    recipes/nemotronh), so the step-time model prices it with the kinds it holds."""
    return m.model_copy(update={"hybrid_pattern": "*E", "layers": 2, "mamba": None, "mtp_layers": 0})


def layer_shares(m: ModelSpec) -> dict[str, float]:
    """Per layer, the mean count of each block kind (vocab.HYBRID_LAYER): a hybrid layer is one of
    them (shares summing to 1), a plain transformer layer holds an attention block ("*": 1) and an
    MLP, dense ("-") or MoE ("E"), by the model's counts."""
    n = float(m.layers)
    return {k: m.kind_layers(k) / n for k in ("M", "*", "-", "E")}


def scan_bytes_per_token(m: ModelSpec, tp, act_b: float):
    """Forward HBM bytes per token of one Mamba-2 layer's conv1d, SSD and norm kernels on one TP
    rank (``SCAN_BYTES``, summed)."""
    a = m.mamba
    tp = np.asarray(tp, dtype=np.float64)
    di, gn, H, g = m.mamba_inner / tp, a.groups * a.d_state / tp, m.mamba_heads / tp, a.groups / tp
    P, N, Q = float(a.head_dim), float(a.d_state), float(a.chunk_size)
    return sum(f(di, gn, H, P, N, Q, g, float(act_b)) for f in SCAN_BYTES.values())


def mamba_layer(m: ModelSpec, T, seq, tp, cp, gemm, eff, hbm, peak, attn_eff, act_b, comm):
    """Times of one Mamba-2 layer on one rank for a micro-batch of ``T`` tokens per rank (sequences
    of ``seq`` tokens): ``proj`` the in_proj / out_proj GEMMs as ((fwd, bwd), (fwd, bwd)) — the
    column and the row GEMM that carry the TP collectives — ``scan_fwd``/``scan_bwd`` the conv1d +
    SSD + norm kernels (roofline: FLOPs at the attention kernel's rate ``attn_eff`` = (fwd, bwd)
    fractions of ``peak``, bytes at the HBM bandwidth reached), ``cp_fwd``/``cp_bwd`` the
    context-parallel all-to-alls (``comm`` = (gpus_per_node, intra_bw, inter_bw, a_in, a_out))."""
    a, h = m.mamba, m.hidden
    di, gn, H = m.mamba_inner, a.groups * a.d_state, m.mamba_heads
    in_w = 2 * di + 2 * gn + H
    col = gemm(T, in_w / tp, h)
    row = gemm(T, h, di / tp)
    # FLOPs per rank: the kernel's SSD (flops.ssd_flops over the sequence) and conv1d, heads over TP
    per_tok = (ssd_flops(m, seq) / seq + mamba_conv_flops(m, 1.0)) / tp
    fl = T * per_tok
    mem = T * scan_bytes_per_token(m, tp, act_b)
    scan_fwd = np.maximum(fl / (peak * attn_eff[0]), eff.memory_time(mem, hbm))
    scan_bwd = np.maximum(2.0 * fl / (peak * attn_eff[1]), eff.memory_time(BWD_SCAN_FACTOR * mem, hbm))
    g, intra_bw, inter_bw, a_in, a_out = comm
    cp = np.asarray(cp, dtype=np.float64)
    a2a = (collective_time("all_to_all", T * in_w / tp * act_b, cp, tp, g, intra_bw, inter_bw, a_in, a_out)
           + collective_time("all_to_all", T * di / tp * act_b, cp, tp, g, intra_bw, inter_bw, a_in, a_out))
    a2a = np.where(cp > 1, a2a, 0.0)
    return dict(proj=(col, row), scan_fwd=scan_fwd, scan_bwd=scan_bwd, cp_fwd=a2a, cp_bwd=a2a)
