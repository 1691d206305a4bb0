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
  bytes at the HBM bandwidth reached (``SCAN_BYTES``): memory-bound for Nemotron shapes. The SSD's
  Triton kernels do not stream at that bandwidth: measured alone (vLLM PR #27299, H100, the five-kernel
  forward at 8K-262K tokens) they take ``SSD_ROOFLINE_FACTOR`` = 2.38 x their bytes' streaming time
  (0.33-0.40 of the HBM datasheet reached, ~100 TFLOP/s), which prices them (tests/test_ssd_parts.py); on
  Blackwell they take ``SSD_FAMILY_FACTOR`` = 4.6 x (a Mamba-2 model's GB200 / H200 speed-up, state-spaces/mamba
  #904: they run at about H100's absolute rate, not faster with the bandwidth). The
  backward (the conv and four of the five forward SSD kernels re-run, eleven backward kernels,
  causal_conv1d_bwd) moves the bytes ``SCAN_BWD_BYTES`` counts kernel by kernel (2.5 x the forward's
  for Nano at micro-batch 2-4, 3.1 x at micro-batch 1, where the layout copies are no-ops) and runs
  2 x its FLOPs;
* context parallelism (megatron/core/ssm/mamba_context_parallel.py ``MambaContextParallel``): an
  all-to-all from sequence-sharded to head-sharded before the conv/scan (``pre_conv_ssm``, the
  in_proj output) and back after (``post_conv_ssm``, the scan output), forward and backward,
  exposed.
"""
from __future__ import annotations

import numpy as np

from planner.hardware.efficiency import gpu_family
from planner.model.comm import collective_time
from planner.model.flops import mamba_conv_flops, ssd_flops
from planner.spec import ModelSpec
from planner.vocab import HYBRID_LAYER

#: bytes per token of one Mamba-2 layer's non-GEMM kernels, forward, as functions of the shard's
#: widths (di = d_inner / tp, gn = G N / tp, H = heads / tp, P, N, Q, groups g = G / tp) and the
#: activation bytes ``a`` (fp32 intermediates 4 bytes), read from mamba_ssm ops/triton/ssd_combined.py
#: ``_mamba_chunk_scan_combined_fwd`` and its kernels:
SCAN_BYTES = {
    # MambaMixer._ssm_training: ``rearrange(zxBCdt, "l b d -> b l d").contiguous()`` copies the in_proj
    # output (z, x, B, C, dt) to batch-major before the fused kernel: read and write it (``LAYOUT_COPIES``)
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
    # _chunk_scan_fwd: read C B^T, x, C, the passed states, dt, dA_cumsum; write y
    "chunk_scan": lambda di, gn, H, P, N, Q, g, a: g * Q * 4 + 2 * di * a + gn * a + H * P * N * a / Q + 2 * H * 4,
    # ... z given (HAS_Z, as Megatron-Core calls it): read z, gate y by silu(z), and write the ungated y
    # ``out_x`` too (the tensor the autograd function saves)
    "chunk_scan_z": lambda di, gn, H, P, N, Q, g, a: di * a + di * a,
    # Megatron's (l b d) rearrange copy of y back (``LAYOUT_COPIES``)
    "y_layout": lambda di, gn, H, P, N, Q, g, a: 2 * di * a,
    # the group RMSNorm (read y, write the normed output)
    "norm": lambda di, gn, H, P, N, Q, g, a: 2 * di * a,
}
#: backward bytes per token, the same widths, kernel by kernel:
#: ``MambaSplitConv1dScanCombinedFn.backward`` (mamba_ssm ops/triton/ssd_combined.py; Megatron-Core
#: calls it without rmsnorm / out_proj weights, so z gates inside the scan) re-runs causal_conv1d_fwd
#: and calls ``_mamba_chunk_scan_combined_bwd``, which clones dt, re-runs four forward kernels
#: (chunk_cumsum, bmm_chunk, chunk_state, state_passing -- the last without out_dtype: fp32 states) and
#: runs eleven backward kernels plus torch ops on ddA; then causal_conv1d_bwd. The three reductions
#: over heads of a group (``_chunk_state_bwd_db``, ``_chunk_scan_bwd_dC``, ``_chunk_scan_bwd_dcb``) write
#: fp32 partials of shape (..., nsplits, ...) and sum them (``.sum(2)``): nsplits = ceil((H/g) /
#: min(ceil(batch x chunks x H / SMs), H/g)) is 1 at any training micro-batch (>= 2 chunks x H >= SMs),
#: so each writes its fp32 gradient, re-reads it and writes the sum. Megatron's norm backward and the
#: two layout copies' backward (``LAYOUT_COPIES``) complete the layer.
SCAN_BWD_BYTES = {
    "norm": lambda di, gn, H, P, N, Q, g, a: 3 * di * a,  # read y and dy, write dy_in
    "y_layout": lambda di, gn, H, P, N, Q, g, a: 2 * di * a,
    "conv1d_recompute": SCAN_BYTES["conv1d"],
    "dt_clone": lambda di, gn, H, P, N, Q, g, a: 2 * H * a,
    "chunk_cumsum": SCAN_BYTES["chunk_cumsum"],
    "bmm_chunk": SCAN_BYTES["bmm_chunk"],
    "chunk_state": SCAN_BYTES["chunk_state"],
    "state_passing": lambda di, gn, H, P, N, Q, g, a: H * P * N * 8 / Q,  # fp32 in and out
    # _chunk_scan_bwd_dz: read x, z, out_x, dout; write dz and the ungated dout
    "bwd_dz": lambda di, gn, H, P, N, Q, g, a: 6 * di * a,
    # _chunk_scan_bwd_dstates: read C, dout, dA_cumsum; write the fp32 state gradients per chunk
    "bwd_dstates": lambda di, gn, H, P, N, Q, g, a: (gn + di) * a + H * 4 + H * P * N * 4 / Q,
    # _state_passing_bwd: read states and dstates (fp32); write both in x's dtype, ddA per chunk
    "state_passing_bwd": lambda di, gn, H, P, N, Q, g, a: H * P * N * (8 + 2 * a) / Q + 2 * H * 4,
    # _chunk_scan_chunk_state_bwd_dx: read x, dout, C B^T, B, dstates, dt, dA_cumsum; write dx, ddt (fp32)
    "bwd_dx": lambda di, gn, H, P, N, Q, g, a: 3 * di * a + g * Q * 4 + gn * a + H * P * N * a / Q + 3 * H * 4,
    # _chunk_state_bwd_db: read x, dstates, B, dt, dA_cumsum; write dB partials (fp32) and ddA; sum them
    "bwd_db": lambda di, gn, H, P, N, Q, g, a: di * a + H * P * N * a / Q + gn * a + 3 * gn * 4 + 3 * H * 4,
    # _chunk_scan_bwd_dC: read dout, states, C, dA_cumsum; write dC partials (fp32) and ddA; sum them
    "bwd_dC": lambda di, gn, H, P, N, Q, g, a: di * a + H * P * N * a / Q + gn * a + 3 * gn * 4 + 2 * H * 4,
    # _chunk_scan_bwd_dcb: read x, dout, dt, dA_cumsum; write d(C B^T) partials (fp32); sum them
    "bwd_dcb": lambda di, gn, H, P, N, Q, g, a: 2 * di * a + 3 * g * Q * 4 + 2 * H * 4,
    # two _bmm_chunk_bwd (dB, dC): read B or C, d(C B^T), the fp32 residual; write the gradient
    "bmm_chunk_bwd": lambda di, gn, H, P, N, Q, g, a: 2 * (2 * gn * a + g * Q * 4 + gn * 4),
    # _chunk_scan_bwd_ddAcs_stable: read x, dout, C B^T, dt, dA_cumsum; write ceil(Q/32) fp32 partials; sum
    "ddAcs_stable": lambda di, gn, H, P, N, Q, g, a: 2 * di * a + g * Q * 4 + 3 * H * 4 + 2 * np.ceil(Q / 32) * H * 4,
    # torch ops on the fp32 ddA: flip / cumsum / flip of ddA_prev, ddA += ddA_next + ddA_prev
    "ddA_ops": lambda di, gn, H, P, N, Q, g, a: 12 * H * 4,
    # _chunk_cumsum_bwd: read ddA, ddt, dt; write ddt
    "chunk_cumsum_bwd": lambda di, gn, H, P, N, Q, g, a: 2 * H * 4 + 2 * H * a,
    # causal_conv1d_bwd: read x, B, C and their gradients, write the input gradients
    "conv1d_bwd": lambda di, gn, H, P, N, Q, g, a: 3 * (di + 2 * gn) * a,
    "in_proj_layout": SCAN_BYTES["in_proj_layout"],
}
#: the layout copies: ``rearrange(t, "l b d -> b l d").contiguous()`` (and back) moves data only for a
#: micro-batch above one: with b = 1 the permuted view is already contiguous (PyTorch ignores the strides
#: of size-1 dimensions; tests/test_ssm.py checks it), so ``.contiguous()`` returns it without a copy
LAYOUT_COPIES = ("in_proj_layout", "y_layout")

#: The same kernel called the way Hugging Face's Mamba-2 / NemotronH mixers call it in training, and NeMo AutoModel's
#: ``NemotronV3Mamba2Mixer`` without CP (nemo_automodel/components/models/nemotron_v3/layers.py, the fused path):
#: ``mamba_split_conv1d_scan_combined(in_proj(x), ..., rmsnorm_weight=norm.weight, outproj_weight=out_proj.weight,
#: norm_before_gate=False)`` on the (b, l, d) in_proj output. mamba_ssm ssd_combined.py
#: ``MambaSplitConv1dScanCombinedFn``: with ``rmsnorm_weight`` given the scan runs with ``z=None`` (no gated output
#: ``chunk_scan_z`` forward, no ``_chunk_scan_bwd_dz`` backward) and z gates inside the fused group RMSNorm
#: (layernorm_gated ``_layer_norm_fwd(x, weight, ..., z)``: reads y and z, writes the normed output; backward
#: ``_layer_norm_bwd(..., z, recompute_output=True)``: reads dy, y and z, writes dy_in, dz and the recomputed
#: output the out_proj weight gradient reads); the batch-major layout is the module's own, so neither of Megatron's
#: layout copies (``LAYOUT_COPIES``) runs. The tables below are ``SCAN_BYTES`` / ``SCAN_BWD_BYTES`` with those
#: entries changed.
_HF_CALL_FWD_DROPPED = ("in_proj_layout", "y_layout", "chunk_scan_z")
_HF_CALL_BWD_DROPPED = ("in_proj_layout", "y_layout", "bwd_dz")
SCAN_BYTES_HF = {**{k: f for k, f in SCAN_BYTES.items() if k not in _HF_CALL_FWD_DROPPED},
                 "norm": lambda di, gn, H, P, N, Q, g, a: 3 * di * a}  # read y, z; write the gated, normed output
SCAN_BWD_BYTES_HF = {**{k: f for k, f in SCAN_BWD_BYTES.items() if k not in _HF_CALL_BWD_DROPPED},
                     "norm": lambda di, gn, H, P, N, Q, g, a: 6 * di * a}  # read dy, y, z; write dy_in, dz, output
#: how a stack calls the fused Mamba-2 kernel (``Stack.mamba_call``): name -> (forward, backward) byte tables.
#: "megatron": Megatron-Core's MambaMixer (z into the scan, the norm outside, (l b d) layout copies);
#: "hf": rmsnorm and out_proj weights passed to the kernel, (b l d) layout (``SCAN_BYTES_HF``)
MAMBA_CALLS = {"megatron": (SCAN_BYTES, SCAN_BWD_BYTES), "hf": (SCAN_BYTES_HF, SCAN_BWD_BYTES_HF)}

#: the SSD chunked scan's Triton kernels (mamba_ssm ops/triton/ssd_*.py), forward and backward: the entries of
#: ``SCAN_BYTES`` / ``SCAN_BWD_BYTES`` whose bytes move at ``SSD_ROOFLINE_FACTOR`` x the streaming roofline; the
#: rest (causal_conv1d, the norm, the layout copies, dt's clone, the torch ops on ddA) are plain streaming kernels
SSD_FWD_KERNELS = ("chunk_cumsum", "chunk_state", "state_passing", "bmm_chunk", "chunk_scan", "chunk_scan_z")
SSD_BWD_KERNELS = ("chunk_cumsum", "bmm_chunk", "chunk_state", "state_passing", "bwd_dz", "bwd_dstates",
                   "state_passing_bwd", "bwd_dx", "bwd_db", "bwd_dC", "bwd_dcb", "bmm_chunk_bwd", "ddAcs_stable",
                   "chunk_cumsum_bwd")

#: how many times its bytes' streaming time (``Efficiency.memory_time``) the SSD chunked scan's Triton kernels take:
#: 2.38, measured. vllm-project/vllm PR #27299 (comment of 2025-10-25, one H100) times the unfused five-kernel
#: forward (``mamba_chunk_scan_combined``, vLLM's copy of mamba_ssm's kernels, "Original") at granite-4.0-h-small's
#: shape (128 heads x 64, 1 group, d_state 128, chunk 256, bf16) from 1,024 to 262,144 tokens: 10.7-12.9 M tokens/s
#: from 8,192 tokens on, where the GPU is full (below, the time is flat at ~0.3 ms: launch- and latency-bound). Those
#: kernels' ``SCAN_BYTES`` (105 KB per token, 8.5 MFLOP) at H100's reached bandwidth give 29-33 ns per token against
#: the measured 77-93: 2.10-2.54 x, median 2.38 over the six saturated sizes (benchmarks/data/parts/ssd_kernels.csv,
#: tests/test_ssd_parts.py), i.e. 0.33-0.40 of the HBM datasheet reached on the bytes counted, or 91-109 TFLOP/s
#: (0.09-0.11 of the bf16 peak): neither the FLOPs at the attention kernels' rate nor the bytes at streaming speed
#: set their time (tile loops over chunk x head grids, exp and masking of the Q x Q decay block in fp32, the serial
#: state passing). Consistent with it: TileLang's own chunk_scan forward (tile-ai/tilelang benchmark/mamba2, H800,
#: 80 heads) runs at 2.0-2.1 x that kernel's streaming time, and flash-linear-attention PR #50's
#: ``mamba_chunk_scan_combined`` forward (8 heads x 128, 8 groups, chunk 64; GPU not stated) at 3.1 x H100's or
#: 1.9 x A100's. Measured on H100; taken for the backward's kernels (the same authors' Triton kernels over the
#: same grids, no public timing found) and for every GPU family without its own (``SSD_FAMILY_FACTOR``: Blackwell's).
SSD_ROOFLINE_FACTOR = 2.38

#: the same factor on a GPU family where it was measured apart (``efficiency.gpu_family`` -> factor; any other family
#: takes ``SSD_ROOFLINE_FACTOR``). Blackwell: 4.6, 1.94 x Hopper's. state-spaces/mamba issue #904 (2026-04-06) trains
#: the same pure Mamba-2 model (d_model 2048, 48 layers, batch 4, seq 4096, bf16; mamba_ssm's ``Mamba2`` module,
#: i.e. ``mamba_split_conv1d_scan_combined`` with the norm and out_proj weights: ``MAMBA_CALLS["hf"]``) on an H200
#: and a GB200 at 239.2 and 360.4 TFLOP/s: 1.51x, "Mamba2 (SSD) is unaffected" by the issue's Mamba-3 bug. The
#: planner, SSD kernels at 2.38 on both, gives that model (one GPU; d_state 128, 1 group, head dim 64, chunk 256:
#: mamba_ssm's Mamba2 defaults) 1.95x (0.443 / 0.228 s, an eager torch stack with that call); 1.51x takes the SSD
#: kernels at 4.6 x their streaming time on the GB200 (tests/test_ssd_parts.py): 0.17 of its HBM datasheet on the
#: bytes counted (H100: 0.36), 1.16x H100's absolute rate where its bandwidth is 2.4x (the Triton tile loops do not
#: speed up with the bandwidth). The GEMMs and streaming kernels of that model keep their Blackwell prices (the dense
#: Llama medians of ``mbridge_all`` on GB200 / B200 -13..-4%), so the whole shortfall is put on the SSD kernels --
#: one end-to-end ratio, with the issue's run set-up (GPU count, vocabulary, compile) not stated. Measured on GB200
#: (sm_100); taken for Blackwell Ultra (B300 / GB300, sm_103: the same Triton kernels at the same 8 TB/s, no timing
#: found). Hopper, Ampere and the rest: the H100 value.
SSD_FAMILY_FACTOR = {"B200": 4.6, "B300": 4.6}
#: Re-checked against the hybrid rows and the public parts (mamba pass, 2026-12-03); nothing changed, dead ends kept
#: here with their numbers (hybrid rows of ``benchmarks/validate.py``: 62, median |err| 9.1%, mean |err| 11.7%).
#:
#: * Issue #904's A100 figure (Mamba-2 102.5 TFLOP/s, H200 239.2: 2.33x) checks that Ampere takes the H100 factor:
#:   the planner gives H200 / A100 2.28x on an A100 80 GB and 2.61x on a 40 GB (the issue states neither), the
#:   measured ratio between them; an A100 factor of about 1.5-2.6 keeps it there, streaming speed (1.95 / 2.17x) or
#:   Blackwell's 4.6 (2.82 / 3.32x) do not (tests/test_ssd_parts.py). Between Ampere and Hopper the kernels track the
#:   bandwidth; on Blackwell they do not (above).
#: * Together's Nemotron-H 56B (fp8, B200, TP2; the only dense hybrid rows) is +18..+25% where the MoE hybrids'
#:   Blackwell rows are -5..-37%: one Blackwell factor cannot serve both. The 56B's conv / SSD / norm kernels are 37% of
#:   its predicted 6.58 s (GEMMs 3.63 s); the SSD at streaming speed would be ~0.50 s and its measured 5.27 s leaves
#:   ~1.1 s for it, i.e. a B200 factor near 2.2. Factor 4.6 / 3.5 / 2.38 on B200+B300: 56B median +23.0 / +12.6 /
#:   +2.1%, Megatron-Bridge Blackwell Nano -5.3 / -12.5 / -19.9%, Super -13.8 / -17.5 / -21.2%; ``mbridge_all``
#:   median / p90 10.0 / 31.0 -> 11.2 / 32.3 (3.5) and 12.5 / 32.5% (2.38). Kept at 4.6 (#904 plus 53 Blackwell
#:   rows against 3; Together's other B200 fp8 rows are themselves -10..+15% off, Nemotron-4 15B +2..+15% at TP1).
#: * Pricing by kernel structure: the SSD kernels without a tensor-core tile (no ``tl.dot``: ``_chunk_cumsum_*``,
#:   ``_state_passing_*`` -- one load, an FMA and one store per state element per chunk --, ``_chunk_scan_bwd_dz``)
#:   at streaming speed and only the tile kernels at the factor, refitted on the same data (vLLM #27299 H100: 3.16;
#:   #904: Blackwell 6.06). Drops the N = 256 56B's state traffic most: 56B +23.0 -> +16.0%, but the Megatron-call
#:   rows lose their ``bwd_dz`` at 4.6x: Blackwell Nano / Super medians 1.1-1.5 points faster (GB300 Super +2.2 ->
#:   +0.2%), AutoModel +1.4 / +0.7 slower; hybrid median |err| 9.1 -> 10.2%, AutoModel p90 20.0 -> 20.6%. Rejected.
#:   The state-passing kernels alone at streaming speed (3.11 / 5.97 refitted): hybrid median |err| 9.1 -> 8.0%,
#:   ``together B200 baselines`` median 21.6 -> 20.1%, ``mbridge_all`` 10.0 -> 9.5%, but AutoModel p90 20.0 -> 20.5%,
#:   and singling them out of the non-tile kernels has no source: rejected.
#: * FLOPs at a kernel rate instead of bytes x factor (the Blackwell reading "tile loops run at H100's absolute rate"):
#:   calibrated on #904's shape (chunk 256, 1 group: 61 FLOP per forward byte) it prices Nemotron's chunk-128,
#:   8-group shapes (31-37 FLOP/B) at about half their byte price -- the MoE hybrids' Blackwell rows faster still, as
#:   a factor near 2.4 does (above) -- and the N = 256 56B no cheaper than Nano relative to bytes (36.5 against 31.5
#:   FLOP/B): no shape term in the kernels' work separates the two. No Blackwell kernel-level SSD timing is public in
#:   text (flashinfer PR #2709 and TileOPs PR #1934 / #1557 compare against the Triton kernels in tables this search
#:   could not read).


def ssd_roofline_factor(gpu_name: str) -> float:
    """The SSD Triton kernels' time over their bytes' streaming time on ``gpu_name`` (``SSD_FAMILY_FACTOR`` by its
    family, else ``SSD_ROOFLINE_FACTOR``)."""
    return SSD_FAMILY_FACTOR.get(gpu_family(gpu_name), SSD_ROOFLINE_FACTOR)


#: host-dispatched ops of one Mamba block's forward on Megatron-Core, counted as ``stacks.ATTN_OPS_SHARE`` counts a
#: transformer layer's 20 (named ops plus TE's quantize / workspace ops, 2 per linear): in_proj (the norm fused,
#: TELayerNormColumnParallelLinear) + 2, the ``rearrange(...).contiguous()`` of zxBCdt, ``A = -exp(A_log.float())``
#: (3), ``dt_bias.float()``, causal_conv1d_fwd, the five SSD Triton launches (chunk_cumsum, chunk_state,
#: state_passing, bmm_chunk, chunk_scan), y's layout copy, the group RMSNorm (a Triton launch), out_proj + 2, the
#: bias-dropout-add (megatron/core/ssm/mamba_mixer.py ``forward`` / ``_ssm_training``, mamba_layer.py; mamba_ssm
#: ssd_combined.py ``MambaSplitConv1dScanCombinedFn.forward``): 20, a whole transformer layer's count where the
#: step-time model gives every hybrid block half of it. The backward runs ~2x as many (its 4 re-run and 11
#: backward SSD kernels, the conv's two, the norm's, the linears' dgrad / wgrad): layer_ops.BWD_HOST_FACTOR.
MAMBA_HOST_OPS = 20.0


def mtp_block_model(m: ModelSpec) -> ModelSpec:
    """The hybrid model's MTP block as a two-layer hybrid model "*E" (Megatron-Core
    ``mtp_hybrid_override_pattern``: Nemotron 3 Super / 3.5 Lightning recipes in Megatron-Bridge
    recipes/nemotronh), so the step-time model prices it with the kinds it holds."""
    return m.model_copy(update={"hybrid_pattern": "*E", "layers": 2, "mamba": None, "mtp_layers": 0})


def kind_block_model(m: ModelSpec, kind: str) -> ModelSpec:
    """One block of the hybrid model's ``kind`` (vocab.HYBRID_LAYER) as a one-layer hybrid model, so the step-time
    model prices that block alone (the layers a stack keeps 16-bit under the fp8/fp4 recipe are blocks of known
    kinds: step_time ``kept_layer_kinds``); the model's Mamba and MoE sections stay (unused where the kind has
    none)."""
    return m.model_copy(update={"hybrid_pattern": kind, "layers": 1, "mtp_layers": 0})


def layer_shares(m: ModelSpec) -> dict[str, float]:
    """Per layer, the mean count of each block kind (vocab.HYBRID_LAYER): a hybrid layer is one of
    them (shares summing to 1), a plain transformer layer holds an attention block ("*": 1) and an
    MLP, dense ("-") or MoE ("E"), by the model's counts."""
    n = float(m.layers)
    return {k: m.kind_layers(k) / n for k in HYBRID_LAYER}


def scan_bytes_per_token(m: ModelSpec, tp, act_b: float, mb=2.0, table=None, kernels=None, exclude=()):
    """HBM bytes per token of one Mamba-2 layer's conv1d, SSD, norm and layout kernels on one TP rank,
    forward (``SCAN_BYTES``) or the ``table`` given (``SCAN_BWD_BYTES``), summed (only the entries named in
    ``kernels`` where given, none named in ``exclude``); the layout copies only for a micro-batch ``mb`` above
    one (``LAYOUT_COPIES``)."""
    a = m.mamba
    tp = np.asarray(tp, dtype=np.float64)
    copies = np.where(np.asarray(mb, dtype=np.float64) > 1, 1.0, 0.0)
    di, gn, H, g = m.mamba_inner / tp, a.groups * a.d_state / tp, m.mamba_heads / tp, a.groups / tp
    P, N, Q = float(a.head_dim), float(a.d_state), float(a.chunk_size)
    return sum((copies if k in LAYOUT_COPIES else 1.0) * f(di, gn, H, P, N, Q, g, float(act_b))
               for k, f in (SCAN_BYTES if table is None else table).items()
               if (kernels is None or k in kernels) and k not in exclude)


def scan_memory_time(m: ModelSpec, T, tp, act_b: float, mb, eff, hbm, table=None, kernels=None,
                     ssd_factor: float = SSD_ROOFLINE_FACTOR):
    """Seconds of one Mamba-2 layer's non-GEMM kernels' HBM traffic for ``T`` tokens on one TP rank (only the
    entries named in ``kernels`` where given): the streaming kernels' bytes at the reached bandwidth
    (``Efficiency.memory_time``), the SSD Triton kernels' (``SSD_FWD_KERNELS`` / ``SSD_BWD_KERNELS``) at
    ``ssd_factor`` x that (the GPU's: ``ssd_roofline_factor``)."""
    forward = table is None or any(table is t for t, _ in MAMBA_CALLS.values())
    ssd = SSD_FWD_KERNELS if forward else SSD_BWD_KERNELS
    other = scan_bytes_per_token(m, tp, act_b, mb, table, kernels=kernels, exclude=ssd)
    scan = scan_bytes_per_token(m, tp, act_b, mb, table, kernels=ssd if kernels is None else set(ssd) & set(kernels))
    return eff.memory_time(T * (other + ssd_factor * scan), hbm)


def mamba_layer(m: ModelSpec, T, seq, tp, cp, gemm, eff, hbm, peak, attn_eff, act_b, comm, call: str = "megatron",
                ssd_factor: float = SSD_ROOFLINE_FACTOR):
    """Times of one Mamba-2 layer on one rank for a micro-batch of ``T`` tokens per rank (sequences
    of ``seq`` tokens): ``proj`` the in_proj / out_proj GEMMs as ((fwd, bwd), (fwd, bwd)) — the
    column and the row GEMM that carry the TP collectives — ``scan_fwd``/``scan_bwd`` the conv1d +
    SSD + norm kernels (roofline: FLOPs at the attention kernel's rate ``attn_eff`` = (fwd, bwd)
    fractions of ``peak``, bytes at the HBM bandwidth reached, the SSD kernels' at ``SSD_ROOFLINE_FACTOR``
    x their streaming time, ``ssd_factor`` the GPU's: ``scan_memory_time``), ``cp_fwd``/``cp_bwd`` the
    context-parallel all-to-alls (``comm`` = (gpus_per_node, intra_bw, inter_bw, a_in, a_out)). ``call``: how
    the stack calls the fused kernel (``MAMBA_CALLS``: which non-GEMM passes run)."""
    a, h = m.mamba, m.hidden
    di, gn, H = m.mamba_inner, a.groups * a.d_state, m.mamba_heads
    in_w = 2 * di + 2 * gn + H
    col = gemm(T, in_w / tp, h)
    row = gemm(T, h, di / tp)
    # FLOPs per rank: the kernel's SSD (flops.ssd_flops over the sequence) and conv1d, heads over TP
    per_tok = (ssd_flops(m, seq) / seq + mamba_conv_flops(m, 1.0)) / tp
    fl = T * per_tok
    mb = T * np.asarray(cp, dtype=np.float64) / seq  # sequences per micro-batch (the layout copies)
    fwd_table, bwd_table = MAMBA_CALLS[call]
    scan_fwd = np.maximum(fl / (peak * attn_eff[0]),
                          scan_memory_time(m, T, tp, act_b, mb, eff, hbm, fwd_table, ssd_factor=ssd_factor))
    scan_bwd = np.maximum(2.0 * fl / (peak * attn_eff[1]),
                          scan_memory_time(m, T, tp, act_b, mb, eff, hbm, bwd_table, ssd_factor=ssd_factor))
    g, intra_bw, inter_bw, a_in, a_out = comm
    cp = np.asarray(cp, dtype=np.float64)
    a2a = (collective_time("all_to_all", T * in_w / tp * act_b, cp, tp, g, intra_bw, inter_bw, a_in, a_out)
           + collective_time("all_to_all", T * di / tp * act_b, cp, tp, g, intra_bw, inter_bw, a_in, a_out))
    a2a = np.where(cp > 1, a2a, 0.0)
    return dict(proj=(col, row), scan_fwd=scan_fwd, scan_bwd=scan_bwd, cp_fwd=a2a, cp_bwd=a2a)
