"""The ops of one layer's pass on one rank, each owning its FLOPs, bytes and time, vectorised over the distinct
layer keys (tp, cp, ep, mb, sp, rc, etp) that planner.model.step_time's ``layer_rows`` hands it.

One layer's pass (forward, backward, recomputed forward) on one rank is built from op classes:

* GEMMs (QKV, out-projection, MLP, router, experts, logits) — ``Efficiency.gemm_time`` with its
  shape-dependent efficiency (wave/tile quantisation, short k); backward runs two GEMMs of the
  forward's FLOPs each (dgrad, wgrad);
* the attention core — flash attention at the measured/prior fraction of peak (causal kernels
  skip the masked half; backward = 2.5x the forward's matmuls, Dao 2023 §3), or, without flash,
  Megatron's explicit path: batched QK^T and AV GEMMs (one kernel each) plus the s x s score
  tensor written and read by softmax and dropout at HBM bandwidth (``SCORE_BYTES_*``);
* memory-bound work — norms, residual adds, activation functions, RoPE, dropout masks,
  cross-entropy — bytes moved at the HBM bandwidth reached;
* host dispatch: eager PyTorch spends ~5-25 us of CPU per op before its kernel runs
  (Python, autograd, ATen dispatch, cudaLaunchKernel; see the per-layer breakdown in
  jiahuanglin.xyz "From PyTorch op to kernel launch"). The CPU runs ahead of the GPU, so a pass
  costs max(host time, GPU time): small models and small micro-batches are host-bound, and the
  floor grows with layers and micro-batches. Ops per layer are counted from the framework's code
  (``Stack``); the per-op time is ``Efficiency.launch_s`` (the calibration loop measures it
  as the per-op cost of an autograd chain);
* communication inside the layer — TP all-reduce (or reduce-scatter + all-gather with sequence
  parallelism; same bytes): hidden under the GEMMs it feeds where the stack overlaps it (TE
  userbuffers, async TP: ``physics.tp_exposed``), else exposed, except the backward's
  column-parallel collectives that Megatron-Core/TE linears issue async under their own dgrad /
  wgrad (``physics.tp_exposed_async_bwd``); CP ring exchange of K/V hidden under attention
  compute where it fits; EP all-to-all (dispatch + combine, forward and backward) exposed or
  overlapped per the MoE dispatcher (planner.model.moe);

In code each op group is a function of its own over one ``LayerContext`` (the rates, byte widths, degrees and the
``gemm`` pricer every op reads), returning a typed result; each function's docstring holds its sources:

* ``layer_context`` -- the peaks (the recipe's FP8/FP4 fraction on the linears only; fp32 matmuls on the CUDA cores,
  ``math_gemm_max``), the activation and GEMM byte widths, the links, the keys' degrees;
* ``attention_projections`` / ``dense_mlp_shapes`` -- QKV (column-parallel) and output (row-parallel) projections,
  MLA's down / up projections as Megatron-Core's MLASelfAttention splits them; the dense MLP's up and down GEMMs;
* ``mamba_block`` -- a hybrid's Mamba layer (planner.model.ssm ``mamba_layer``);
* ``attention_core`` / ``explicit_attention`` -- flash attention (Dao 2023 §3) or Megatron's CoreAttention
  (``SCORE_BYTES_*``; its softmax's torch fallback, ``SOFTMAX_FALLBACK_*``, Megatron-DeepSpeed fused_softmax.py),
  or transformers' eager gpt-oss sink attention (``HF_SINK_SCORE_BYTES``);
* ``elementwise`` -- norms, residual adds, dropout masks, activation, RoPE (Korthikanti et al. 2022 §3);
* ``moe_block`` -- router, experts, shared experts and the token dispatch (planner.model.moe ``moe_layer``);
* ``layer_gemms`` -- the mean layer's GEMMs, dense and MoE (or hybrid kinds) by their shares, plus a frozen base's
  adapters (planner.model.finetune);
* ``memory_bound`` -- the elementwise bytes at HBM bandwidth, backward ``BWD_MEMBOUND_FACTOR`` times the forward's, and
  the stacks' own kernels, each counted on real torch ops: ``eager_hf_layer_bytes`` (HF model code run eagerly),
  ``neox_attention_bytes`` (EleutherAI/gpt-neox transformer.py), ``SINK_RESCALES`` (NeMo AutoModel flex_attention.py,
  torchtitan gpt_oss), ``mla_cat_bytes`` (AutoModel's DeepSeek-V3 MLA), ``partitioned_checkpoint_bytes``
  (DeepSpeed checkpointing.py);
* ``tp_comm`` -- TP all-reduces or RS + AG (physics ``tp_exposed``, ``tp_exposed_async_bwd``; the all-gathers at
  ``sp_gather_bytes``), TE's amax all-reduces under sequence parallelism (``sp_amax_allreduces``);
* ``cp_comm`` -- the exchange of ``Stack.cp_kind`` (``cp_exchange_times``: TE's AttnFuncWithCPAndKVP2P /
  AttnFuncWithCPAndKVAllGather, PyTorch context_parallel) and the ring steps' merge;
* ``sync_idle`` -- the MoE dispatcher's device-to-host sync (moe ``MOE_SYNC_OPS``), a layer-boundary sync;
* ``host_dispatch`` -- the layer's ops at ``Efficiency.launch_s`` each, a CUDA graph one launch
  (stacks ``cuda_graph_host_ops``);
* ``early_stop_skip`` / ``remat_policy_skip`` / ``selective_recompute`` -- what a recompute skips (PyTorch's
  non-reentrant checkpoint early stop; JAX ``jax.checkpoint`` policies) and what selective recompute re-runs
  (Megatron's core attention, torchtitan's per-op and layer SAC, Megatron-Core ``recompute_modules``:
  ``_module_recompute``);
* ``lm_head`` -- the logits GEMM and the loss (``cross_entropy_bytes``: Megatron's _VocabParallelCrossEntropy,
  Liger Kernel's fused linear cross-entropy, NeMo AutoModel's losses ``AUTOMODEL_CE_BYTES``);
* ``mtp_projection`` -- multi-token prediction's eh_proj (DeepSeek-V3 §2.2; Megatron-Core multi_token_prediction.py).

``layer_terms`` composes them in the layer's order into the per-micro-batch terms. The step (stages, pipeline,
data parallelism, ZeRO, the optimizer) is planner.model.step_time's, which imports this module; this module imports
nothing from it (pyproject's import-linter contract).
"""
from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np

from planner.model.comm import (collective_time, group_intra_bw, hierarchical_cp_a2a, ring_hop_time,
                                small_allreduce_time, torch_ring_columns)
from planner.model.flops import (attention_core_flops, attention_keys, local_keys, cp_attention_span,
                                 distinct_recompute_modules, op_sac_block, op_sac_recompute_share, score_dim)
from planner.model.finetune import (base_math_precision, dequant_bytes_per_layer, frozen_base, frozen_layer_gemms,
                                    full_weight_grads)
from planner.hardware.options import HardwareOption
from planner.model.memory import ACT_BYTES
from planner.model.stacks import (ATTN_OPS_SHARE, Stack, cuda_graph_host_ops, cuda_graph_parts, recompute_modules,
                                  remat_saved)
from planner.model.stack_kernels import (hf_attn_choice, AUTOCAST_CAST_BYTES, EAGER_FP32_BYTES, core_attention_fallback,
                                         eager_sink_attention, explicit_softmax_extra, fused_attention, recipe_on,
                                         te_cast_bytes, te_recompute_runs)
from planner.model.activations import rank_logits, rank_tokens, sp_divisor, stack_remat
from planner.model.activations_hf import (hf_eager_softmax_extra, hf_rope_form, hf_stack_experts,
                                         liger_chunk_tokens, liger_patches, norm_readers, spec_model_type)
from planner.model import moe as moe_mech
from planner.model import physics, ssm
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.params import head_dense_macs


# Backward of a pass moves about twice the forward's elementwise bytes (each op reads its saved
# input and the incoming gradient and writes the outgoing gradient; Korthikanti et al. 2022 §3
# counts the same tensors) and dispatches about twice the forward's ops (an autograd node per
# forward op, GEMM nodes launching dgrad and wgrad).
BWD_MEMBOUND_FACTOR = 2.0
BWD_HOST_FACTOR = 2.0
# Explicit (non-flash) attention, bytes per s x s score element (16-bit scores) — Megatron's
# CoreAttention: QK^T writes the scores (2); fused scale-mask-softmax reads and writes them (4);
# dropout reads them and writes the result and a 1-byte mask (5); AV reads the probabilities (2).
# Backward: dP written by the AV backward (2), P read for dV (2), dropout backward reads dP and
# the mask and writes (5), softmax backward reads P and dP and writes dS (6), dS read by the two
# QK^T backward GEMMs (4).
SCORE_BYTES_FWD = {True: 13.0, False: 8.0}  # dropout on / off
SCORE_BYTES_BWD = {True: 19.0, False: 14.0}
#: Megatron's ``FusedScaleMaskSoftmax`` when its CUDA kernel does not run (stack_kernels ``softmax_fallback``): the torch path of
#: microsoft/Megatron-DeepSpeed megatron/model/fused_softmax.py @0782d753 (the legacy Megatron-LM file is the same) on
#: 16-bit scores with ``softmax_in_fp32`` (forced by the default ``apply_query_key_layer_scaling``, whose layer-number
#: coefficient is the ``scale``): ``input.float()`` (read 2, write 4), ``input * self.scale`` (4 + 4), the mask
#: function's ``masked_fill_`` (4 + 4), ``torch.nn.Softmax`` (4 + 4), ``probs.half()`` (4 + 2): 36 bytes a score
#: where the fused kernel moves 4 (``SCORE_BYTES_FWD``); backward the five autograd nodes in reverse, 6 + 12 + 8 + 8
#: + 6 = 40 where the fused kernel moves 6. Five kernels (and host ops) each way where the fused path launches one.
SOFTMAX_FALLBACK_BYTES = (32.0, 34.0)
SOFTMAX_FALLBACK_OPS = 4.0


def biased_linear_widths(m: ModelSpec, atp, dtp, sp_div=1.0):
    """Output width (elements per token) of one layer's biased linears: q/k/v (``qkv_bias``) over ``atp``, the
    output projection and the dense layers' MLP up/down (``linear_bias``) -- the MLP's over ``dtp``, its share of the
    layers the dense one (MoE experts are priced by planner.model.moe)."""
    dense = 1.0 - m.moe_layers / m.layers
    widths = (m.q_dim + 2 * m.kv_dim) / atp if m.qkv_bias else 0.0
    if m.linear_bias:
        widths = widths + m.hidden / sp_div + dense * (m.mlp_up_factor * m.dense_width / dtp + m.hidden / sp_div)
    return widths


def eager_hf_layer_bytes(m: ModelSpec, act_b: float, dropout: bool, tp=1.0, sp_div=1.0, bias_grads: bool = True,
                         atp=None, dtp=None, fwd_dropout: bool = True):
    """(forward, backward) HBM bytes per token of one layer that the Hugging Face model code run eagerly pays
    beyond the elementwise count in ``elementwise`` (the ``unfused`` path: a stack with eager fp32 ops and no
    compile -- hf-trainer, deepspeed, and torchtitan run with ``compile=False``):

    * each residual branch's ``nn.Dropout`` is a kernel of its own (HF BertSelfOutput / BertOutput: dense ->
      dropout -> LayerNorm(x + residual); GPT2Attention ``resid_dropout``, GPT2MLP ``dropout``): aten
      ``native_dropout`` reads and writes the hidden (2 x act_b; its 1-byte mask is counted with the masks),
      its backward (``native_dropout_backward``) reads the gradient and writes it again; ``fwd_dropout`` False
      (``Stack.fused_residual_dropout``: a fuser took the forward's into the add) leaves the forward's out;
    * autograd reduces every ``nn.Linear`` bias gradient from the output gradient in its own aten ``sum``
      over the tokens (AddmmBackward0 / AddBackward0 ``sum_to_size``): one read of each biased linear's
      output gradient (``biased_linear_widths``); none when the base is frozen (``bias_grads`` False: peft's LoRA
      leaves the biases without gradients, ``bias="none"``).

    The attention's bias gradients are split over ``atp`` and the dense MLP's over ``dtp`` (default ``tp``; whole
    under an HF EP plan that leaves them out, ``LayerContext.atp`` / ``dtp``; until hfep35 over TP).

    Counted op by op on a real torch model: tests/test_step_time.py ``test_eager_hf_layer_bytes_match_real_ops``.
    Megatron's fused bias-dropout-add and torch.compile (inductor fuses the dropout and the bias reduction
    into neighbouring kernels) do not pay them; the stacks that do are the ``unfused`` ones."""
    drop = 2.0 * (2.0 * act_b * m.hidden / sp_div) if dropout else 0.0  # two branches, read + write
    atp = tp if atp is None else atp
    dtp = tp if dtp is None else dtp
    widths = biased_linear_widths(m, atp, dtp, sp_div)
    return (drop if fwd_dropout else 0.0), drop + (act_b * widths if bias_grads else 0.0)


def addmm_bias_copy_bytes(m: ModelSpec, act_b: float, atp, dtp, sp_div=1.0):
    """Forward HBM bytes per token of one layer that torch <= 1.11's biased linears pay beyond the GEMM
    (``Stack.addmm_bias_copy``): ATen ``addmm_out_cuda_impl`` copies the bias, expanded, into the output and the
    cuBLAS GEMM then reads it back under beta 1 (pytorch aten/src/ATen/native/cuda/Blas.cpp before cublasLt's bias
    epilogue, ``useLtInterface``): one write and one read of every biased linear's output element
    (``biased_linear_widths``). torch 1.11's ``at::linear`` takes that addmm for a contiguous 2-D / 3-D input and
    otherwise ``matmul`` + an in-place ``add_`` of the bias, the same read and write. The backward is unchanged
    (the bias gradient's reduction is ``eager_hf_layer_bytes``'s). The write and the read are the source's; which
    linears take the path (every ``aten.addmm`` of a layer) is counted on a torch model in tests/test_acc50.py."""
    return 2.0 * act_b * biased_linear_widths(m, atp, dtp, sp_div)


#: bytes of the fp32 copy DeepSpeed's partitioned checkpoint gathers a bf16 input through (``get_full_inputs``
#: ``fp32_comm``: ``part_i.float()`` before the all-gather, ``.to(item.dtype)`` after)
FP32_COMM_BYTES = 4.0


def partitioned_checkpoint_bytes(h: float, act_b: float, tp, precision: str):
    """(forward, backward) HBM bytes per token of one checkpointed layer call under DeepSpeed's partitioned
    activation checkpoint (``Stack.partition_activations``; deepspeed/runtime/activation_checkpointing/checkpointing.py,
    EleutherAI/DeeperSpeed @1622ff0f). Forward (the checkpoint call, not its re-run): the layer input's 1/tp slice
    ``narrow``-ed and ``clone``d, one read and one write of h / tp elements. Backward (``get_full_inputs``): a
    ``torch.zeros`` buffer of the full input written (h), the saved slice copied into it (read + write of h / tp),
    and for a bf16 input (``fp32_comm``) every partition cast to fp32 and back (h elements at 2 + 4 bytes each way).
    The all-gather itself is a TP collective (``memory_bound``, exposed in ``tp_comm``); at TP 1 torch's one-rank NCCL all-gather is not
    counted (what it copies was not established)."""
    tp = np.asarray(tp, dtype=np.float64)
    fwd = 2.0 * act_b * h / tp
    bwd = act_b * h + 2.0 * act_b * h / tp
    if precision == "bf16":
        bwd = bwd + 2.0 * (act_b + FP32_COMM_BYTES) * h
    return fwd, bwd


def neox_attention_bytes(m: ModelSpec, act_b: float, flash: bool, tp=1.0):
    """(forward, backward) HBM bytes per token of one layer that GPT-NeoX's attention code moves beyond the
    elementwise count in ``elementwise`` (``Stack.neox_attention``; EleutherAI/gpt-neox megatron/model/transformer.py
    ``ParallelSelfAttention.forward`` / ``flash_attention`` as the Pythia and NeoX-20B runs used it):

    * partial rotary (``rotary_pct`` < 1, every GPT-NeoX config): q and k are cut into a rotated and a passed
      slice and re-joined by ``torch.cat((query_layer, query_pass), dim=-1)`` (likewise k): forward one read +
      one write of q and k; backward, autograd's ``SliceBackward`` of each slice allocates a zeroed full-width
      gradient and copies its part in (two zero-fills, one read + one write of the width between them), and the
      two are summed (two reads, one write): 7 accesses per q and k element;
    * the flash path (``flash`` True): q, k and v each copied by ``transpose(0, 1).reshape(b * s, 1, np, hn)``
      (one read + one write) and packed by ``torch.concat(..., dim=1)`` (one read + one write) into the
      ``[b * s, 3, np, hn]`` tensor the FlashAttention-1 ``qkvpacked`` kernel takes; backward, the output gradient
      arrives through ``permute`` and ``transpose`` views and the ``view`` back to ``[b * s, np, hn]`` copies it (one
      read + one write of q's width); the packed input gradient is narrowed and viewed back, no copy.

    The output's ``permute(2, 0, 1, 3).contiguous()`` is the layout copy ``elementwise`` already counts.
    Counted op by op on real torch ops: tests/test_step_time.py ``test_neox_attention_bytes_match_real_ops``."""
    q, kv = m.q_dim / tp, m.kv_dim / tp
    rope = (q + kv) if m.position == "rope" else 0.0
    fwd = 2.0 * rope + (4.0 * (q + 2.0 * kv) if flash else 0.0)
    return act_b * fwd, act_b * (7.0 * rope + (2.0 * q if flash else 0.0))


def sink_rescale_bytes(act_b: float, head_dim: float) -> tuple[float, float]:
    """(forward, backward) HBM bytes per attention-output element (q width) of the attention sinks applied as an eager
    rescale after a kernel that returns the output and its log-sum-exp, as NeMo AutoModel's ``FlexAttention.forward``
    does (nemo_automodel/components/attention/flex_attention.py: ``scale = torch.sigmoid(lse - w.view(1, -1, 1))
    .unsqueeze(-1)``; ``out = out * scale``; ``out.to(q.dtype)``): the sink's weight w_h moves the softmax mass
    exp(w_h) off the keys, which multiplies the output by sigmoid(lse - w_h). The lse and the scale are fp32 (4 B) per
    (token, head) row, so the product is an fp32 copy of the ``act_b``-byte output.

    * forward: ``mul`` (read act_b, write 4) and ``_to_copy`` (read 4, write act_b) per element; on the rows ``sub``
      and ``sigmoid`` (each read 4, write 4) and the scale ``mul`` reads (4): 2 act_b + 8 per element, 20 per row;
    * backward: the cast's gradient up to fp32 (read act_b, write 4); ``MulBackward0``'s two products, grad x scale
      (read 4, write 4) cast back to the output's dtype by autograd (read 4, write act_b), and grad x out (read 4 +
      act_b, write 4) summed over the head dim (read 4); on the rows the scale read and the sum's write (8),
      ``sigmoid_backward`` (12), the ``neg`` and sum of the sink weights' gradient (12): 3 act_b + 28 per element,
      32 per row.

    A row is ``head_dim`` elements. Counted on real torch ops: tests/test_step_time.py
    ``test_sink_rescale_bytes_match_real_ops``."""
    return 2.0 * act_b + 8.0 + 20.0 / head_dim, 3.0 * act_b + 28.0 + 32.0 / head_dim


def sink_rescale_cast_bytes(act_b: float, head_dim: float) -> tuple[float, float]:
    """(forward, backward) HBM bytes per attention-output element of the same eager rescale with the scale cast to
    the output's dtype *before* the product, as torchtitan's gpt-oss ``Attention.forward`` does
    (torchtitan/models/gpt_oss/model.py @ 0014ac2c, model/model.py @ 00b1b07d: ``sink_scale = torch.sigmoid(lse -
    self.sinks.view(...)).unsqueeze(-1)``; ``output = output * sink_scale.to(output.dtype)``): the product is in the
    output's dtype, so no fp32 copy of the output and no cast back (``sink_rescale_bytes``: 2 act_b + 8 forward).

    * forward: ``mul`` (read act_b, write act_b) per element; on the rows ``sub`` and ``sigmoid`` (8 each), the
      cast (read 4, write act_b) and the ``mul``'s read of it (act_b): 2 act_b per element, 20 + 2 act_b per row;
    * backward: ``MulBackward0``'s grad x scale (read act_b, write act_b) and grad x out (read 2 act_b, write act_b)
      summed over the head dim (read act_b); on the rows the scale read and the sum's write (2 act_b), the cast's
      gradient up to fp32 (read act_b, write 4), ``sigmoid_backward`` (12), the ``neg`` and sum of the sink weights'
      gradient (12): 6 act_b per element, 28 + 3 act_b per row.

    Counted on real torch ops: tests/test_step_time.py ``test_sink_rescale_bytes_match_real_ops``."""
    return 2.0 * act_b + (20.0 + 2.0 * act_b) / head_dim, 6.0 * act_b + (28.0 + 3.0 * act_b) / head_dim


#: per attention score, the (forward, backward) HBM bytes of HF transformers' gpt-oss ``eager_attention_forward``
#: around its two GEMMs, each as (c0, c1): c0 + c1 (s + 1) / s bytes a score, the c1 ops running over the s + 1 columns
#: of the sink concatenation. Keyed by whether the forward autocasts over fp32 weights (``Stack.autocasts``: HF
#: Trainer's bf16=True; the fp32 causal mask promotes the scores to fp32) or runs a 16-bit model. Forward: ``* scaling``,
#: ``+ causal_mask``, ``torch.cat([scores, sinks])``, ``max``, the subtraction, ``softmax`` (autocast also casts the
#: sliced probabilities to bf16 for the matmul with v); backward: that cast's, ``slice_backward`` (a zero-padded s + 1
#: gradient), ``_softmax_backward_data``, the max's ``neg`` / ``sum`` / ``new_zeros`` / ``scatter`` and the add of the
#: two gradient paths, the mask-promotion cast, the scaling's ``mul``. autocast 20 + 24 r forward, 20 + 52 r backward;
#: bf16 10 + 12 r, 6 + 26 r. Counted on real torch ops: tests/test_small32b.py ``test_hf_sink_score_bytes_match_real_ops``
HF_SINK_SCORE_BYTES = {True: ((20.0, 24.0), (20.0, 52.0)), False: ((10.0, 12.0), (6.0, 26.0))}


def hf_sink_score_bytes(autocast: bool, seq) -> tuple[float, float]:
    """(forward, backward) HBM bytes per attention score of transformers' eager gpt-oss attention at sequence length
    ``seq`` (``HF_SINK_SCORE_BYTES``)."""
    r = (seq + 1.0) / seq
    (f0, f1), (b0, b1) = HF_SINK_SCORE_BYTES[bool(autocast)]
    return f0 + f1 * r, b0 + b1 * r


def mla_cat_bytes(m: ModelSpec, act_b: float, heads) -> tuple:
    """(forward, backward) HBM bytes per token of the copies multi-head latent attention makes where its model code
    joins the rotary and non-rotary parts with eager ``torch.cat`` (``Stack.mla_eager_cat``), as NeMo AutoModel's
    DeepSeek-V3 ``MLA._forward_impl`` does (nemo_automodel/components/models/deepseek_v3/layers.py @0b5d3f7c, the
    model Kimi K2 runs too): ``q = torch.cat([q_nope, q_pe], dim=-1)`` and ``k = torch.cat([k_nope, k_pe])`` with
    k_pe ``expand``-ed over the heads, where Megatron-Core's fused MLA RoPE kernels write q and k once (the RoPE
    pass ``elementwise`` already counts for every stack). With H heads (``heads``: on the attention's split),
    d_nope, d_rope, d_v head dims and the kv latent rank r, per token:

    * forward: the q join reads q_nope and q_pe and writes q (2 H (d_nope + d_rope)); the k join reads k_nope (a view
      of kv_b's output), k_pe once (d_rope: a stride-0 expand, the same row for every head) and writes k
      (H (2 d_nope + d_rope) + d_rope);
    * backward: ``CatBackward`` hands out views, but each ``torch.split`` the joins took their halves from
      re-joins its gradients with a copy (``split_with_sizes_backward``: ``cat``): q's (2 H (d_nope + d_rope)),
      kv_b output's k_nope / v (2 H (d_nope + d_v)), kv_a output's latent / k_pe (2 (r + d_rope)); the expand's
      gradient is summed over the heads (H d_rope + d_rope).

    Not counted: the RoPE kernel itself and attention's own layout (both priced as on every stack), TE's handling of
    the split-view v (its ``get_qkv_layout`` may copy it; not established). Counted on real torch ops (addressed
    elements: a stride-0 dimension once): tests/test_mla_cat41.py ``test_mla_cat_bytes_match_real_ops``."""
    a = m.mla
    dn, dr, dv, r = a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim, a.kv_lora_rank
    fwd = 2.0 * heads * (dn + dr) + heads * (2.0 * dn + dr) + dr
    bwd = 2.0 * heads * (dn + dr) + 2.0 * heads * (dn + dv) + 2.0 * (r + dr) + heads * dr + dr
    return act_b * fwd, act_b * bwd


#: the eager attention-sink rescale after a kernel that returns (out, lse), by the op order of the stack's model
#: code (``Stack.sink_rescale_form``): the product in fp32 and cast back (NeMo AutoModel), or the scale cast to the
#: output's dtype first (torchtitan)
SINK_RESCALES = {"fp32_product": sink_rescale_bytes, "scale_cast": sink_rescale_cast_bytes}


#: host ops of one chunk of Liger Kernel's fused linear cross-entropy (``Stack.fused_cross_entropy``), launched once per
#: chunk (liger_kernel/ops/fused_linear_cross_entropy.py ``fused_linear_cross_entropy_forward``'s loop): the logits
#: ``mm``, the cross-entropy kernel, the ``loss_1d`` slice copy, the input-gradient ``mm`` and the weight-gradient
#: ``addmm``
FLCE_OPS_PER_CHUNK = 5.0


#: NeMo AutoModel's loss classes other than the whole-tensor ``MaskedCrossEntropy`` (``Stack.loss_fn``): (forward,
#: backward) HBM bytes per logit of the rank's vocabulary shard, each a function of the logits' bytes, by loss code
#: (``Stack.loss_code``), one read and one write of each operand per op as ``cross_entropy_bytes`` counts:
#:
#: * "masked_ce_chunked" (masked_ce.py ``_ChunkedMaskedCESum``, per chunk): forward the upcast (act_b read, 4 written)
#:   and ``torch.logsumexp``, which ATen composes as ``amax`` (read 4), ``self - maxes`` (read 4, write 4), ``exp``
#:   (read 4, write 4), ``sum`` (read 4) (aten/src/ATen/native/ReduceOps.cpp ``logsumexp_out_impl``): act_b + 28;
#:   backward the upcast again (act_b + 4), ``softmax`` (4 + 4), ``grad_chunk * (valid * grad_out)`` (4 + 4), the cast
#:   back (4 + act_b) and the copy into the gradient buffer (act_b + act_b): 4 act_b + 24. The label gather and
#:   ``scatter_add_`` touch one logit a token (left out). Counted on real torch ops: tests/test_chunkce37.py.
#: * "te_parallel_ce" (loss/triton/te_cross_entropy.py; the same kernels are Megatron-Core's
#:   ``--cross-entropy-fusion-impl te``, TE's transformer_engine/pytorch/triton/cross_entropy.py,
#:   ``Stack.cross_entropy_fusion``, whose
#:   ``compute_language_model_loss`` passes ``reduce_loss=False``: a per-token ``grad_output``, so the backward's
#:   kernel runs there too): ``online_softmax_kernel`` reads the logits, then
#:   ``cross_entropy_kernel`` reads them and writes the gradient over them in place (3 act_b); the backward's
#:   ``element_mul_kernel`` scales it in place (read, write: 2 act_b) -- it runs because the recipe's loss reaches the
#:   function through ``sum() / num_label_tokens``, so ``grad_output`` is not the scalar 1.0 the kernel skips on.
#: * "linear_ce" (Cut Cross-Entropy): no logit leaves the GEMM tiles (0, 0); its cost is the head GEMM re-run in the
#:   backward (``lm_head``).
AUTOMODEL_CE_BYTES = {
    "masked_ce_chunked": (lambda a: a + 28.0, lambda a: 4.0 * a + 24.0),
    "te_parallel_ce": (lambda a: 3.0 * a, lambda a: 2.0 * a),
    "linear_ce": (lambda a: 0.0, lambda a: 0.0),
}
#: host ops of one chunk of ``_ChunkedMaskedCESum`` (forward, backward), launched once per ``chunk_size`` rows: forward
#: the upcast, logsumexp's six (amax, sub, exp, sum, log, add), the gather, the loss's sub, mul, sum and running add;
#: backward the upcast, softmax, ``torch.full``, ``scatter_add_``, two muls, the cast back and the copy into the buffer
CHUNKED_CE_OPS_PER_CHUNK = (12.0, 8.0)
#: AutoModel's ``MaskedCrossEntropy`` codes whose loss runs on the whole vocabulary under TP (``logits.full_tensor()``:
#: activations ``LOSS_GATHERED_BYTES``)
GATHERED_CE = ("masked_ce", "masked_ce_16bit", "masked_ce_chunked")


def cross_entropy_bytes(act_b: float, unfused: bool, fused_linear: bool = False) -> tuple[float, float]:
    """(forward, backward) HBM bytes per logit of the rank's vocabulary shard that the loss moves.

    * ``unfused`` (``Stack.ce_unfused``): Megatron's vocab-parallel cross-entropy on an fp32 copy of the logits,
      op by op as megatron/mpu/cross_entropy.py ``_VocabParallelCrossEntropy`` runs it after the training
      script's ``output.float()``: forward the cast (read act_b, write 4), ``torch.max(dim=-1)`` (read 4),
      ``sub_`` of the max (read 4, write 4), ``torch.exp(out=)`` (read 4, write 4), ``sum(dim=-1)`` (read 4),
      ``div_`` by the sum, the saved softmax (read 4, write 4): act_b + 36; backward the in-place
      ``grad_input.mul_(grad_output)`` (read 4, write 4) and the cast's backward to the logits' dtype (read 4,
      write act_b): act_b + 12. Of fp32 logits ``.float()`` is the tensor itself: no cast either way (32 and 8).
      The target gathers and the per-token reductions' outputs are per token, not per logit (left out). Counted on real torch ops: tests/test_step_time.py ``test_cross_entropy_bytes_match_real_ops``.
    * ``fused_linear`` (``Stack.fused_cross_entropy``: Liger Kernel's fused linear cross-entropy): its Triton kernel
      (liger_kernel/ops/cross_entropy.py ``liger_cross_entropy_kernel``) reads each chunk's logits in the online-softmax
      first pass (max and sum) and again in the second, where it writes their gradient in place: 3 act_b, all in the
      forward (the gradient GEMMs run there too; the backward only scales the saved gradients, per token).
    * otherwise (a fused or compiled loss, the registry's other stacks): the 16-bit logits read once and about
      three fp32 passes, act_b + 12 in all, half forward and half backward (the prior form, unchanged)."""
    if fused_linear:
        return 3.0 * act_b, 0.0
    if unfused:
        cast = act_b + 4.0 if act_b < 4.0 else 0.0  # the fp32 copy and, backward, its gradient cast back
        return 32.0 + cast, 8.0 + cast
    return (act_b + 12.0) / 2, (act_b + 12.0) / 2


def mtp_runs_16bit(fw: Stack, precision: str) -> bool:
    """Whether the MTP modules run their GEMMs unquantised in a low-precision job: with ``Stack.lp_bf16_mtp``
    (Megatron-Bridge ``keep_mtp_spec_in_bf16``), and always under an FP4 recipe. Megatron-Core enters the MTP
    layer's low-precision context only ``if self.config.fp8`` (multi_token_prediction.py
    ``_proj_and_transformer_layer``: "currently MTP only use global fp8 context"; "TODO: currently ignoring FP4 in
    MTP layers because we need more numerical validation"), and an NVFP4 run sets ``config.fp4``, not ``fp8``; the
    fp8 recipes quantise the MTP modules, which ``--first-last-layers-bf16`` never exempts."""
    return precision == "fp8" and (bool(fw.lp_bf16_mtp) or fw.recipe.peak == "fp4")


@dataclasses.dataclass(frozen=True, slots=True)
class LayerContext:
    """What every op of one layer reads (``layer_terms`` builds it once per call): the job's rates and byte widths
    on this part, and the layer keys' degrees and tokens as float arrays over the distinct keys. ``gemm`` prices one
    linear (forward, backward) with the recipe's quantisation; the op functions below take it from here."""
    eff: object
    fw: Stack
    low: bool  # the fp8/fp4 recipe runs the linears
    recipe: object
    cast_b: float
    peak: object  # attention, norms and the LM head: the 16-bit rate (the job's own outside low precision)
    lin_peak: object  # the linears: the recipe's rate (``peak`` itself outside low precision)
    hbm: float
    act_b: float
    gemm_b: float
    g: float
    intra_bw: float
    inter_bw: float
    a_in: float
    a_out: float
    tp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    mb: np.ndarray
    etp: np.ndarray
    sp: object
    seq: float
    combine: object
    sp_div: np.ndarray
    wgrad: float
    bf16_share: float
    mtp_share: float
    moe_share: float  # the share of the model's layers that are MoE layers
    T: np.ndarray
    #: the degrees the attention block and the dense MLP are split over: ``tp``, or 1 at EP > 1 where the model's
    #: transformers EP plan leaves them whole on every rank (moe ``HF_EP_PLANS``; until hfep34 split over TP)
    atp: np.ndarray = 1.0
    dtp: np.ndarray = 1.0
    #: the degree the routed experts' gate activation is split over: on the HF code its expert-TP (1 under EP, whose
    #: grouped_mm_experts_forward runs it on all T x top_k rows at full width on every rank, and under DeepSpeed's
    #: AutoTP; TP under transformers' TP plan), else TP (moe ``moe_layer``)
    xtp: np.ndarray = 1.0
    #: per layer key, whether torch's ``_grouped_mm`` takes its one-kernel fast path (moe ``HfExperts.fast``): an
    #: SM90 / SM100 part and bf16 operands (the stream not fp32, the math bf16)
    grouped_fast: object = True
    #: per layer key, whether DeepSpeed AutoEP's grouped experts kernel is one launch (moe ``autoep_fast``: its Triton
    #: kernel below SM90, else ``grouped_fast``)
    autoep_fast: object = True
    #: the EP groups' placement on the NVLink domains, (fewest, most, domains) a group has on one (comm
    #: ``ep_domain_members`` at the job's size; the layer keys carry it), then the same three of the expert-TP
    #: groups (``ep_domain_members(etp, 1, ...)``: etp consecutive ranks); None: as members_per_node
    ep_dom: tuple | None = None
    #: per layer key, 1 where the linears' recompute and backward run 16-bit after an fp8 forward (torch's reentrant
    #: checkpoint over Transformer Engine layers: stack_kernels ``TeRecompute.reentrant`` "16bit", full recompute),
    #: else 0 (``te_reentrant_rerun``)
    rerun16: object = 0.0
    #: per layer key, whether the residual stream is fp32 (``Stack.fp32_stream`` at the key's ZeRO stage: autocast
    #: over fp32 weights), which sets the HF code's eager RoPE form and softmax passes (hffsdp47)
    fp32s: object = False
    #: the achieved NVLink bandwidth of the TP group's rings (comm ``group_intra_bw``: ``intra_bw`` on a switched
    #: node, the links a TP group of consecutive GPUs has on a DGX-1 V100's mesh); None: ``intra_bw``
    tp_bw: object = None
    #: the NVLink bandwidth of any other group by its collective's shape on this node: comm ``group_intra_bw`` bound
    #: to the hardware, ``(n, stride, shape) -> bw`` (``shape_bw``); None: ``intra_bw`` for every group
    group_bw: object = None
    #: a frozen base's adapters' (Efficiency, peak, byte width) where they run at another precision than the base
    #: (finetune ``base_math_precision``: fp32 adapters over a bf16 base); None: the base's ``peak`` / ``act_b``
    adapter_rates: tuple | None = None
    #: per layer key, the MoE token dispatcher it runs (``vocab.MOE_DISPATCHER`` code: a search's dispatcher twins in
    #: one call, moe ``per_dispatcher``); None: the stack's ``moe_dispatcher``
    disp: np.ndarray | None = None
    #: per layer key, whether it runs the combined-1F1B all-to-all overlap (layout.Candidates ``a2a_overlap``: a
    #: search's overlap twins in one call, moeov52); None: the stack's ``moe_a2a_overlap``
    a2a_ov: np.ndarray | None = None

    def shape_bw(self, n, stride, shape: str):
        """The achieved NVLink bandwidth of a group of ``n`` ranks at inner stride ``stride`` for a collective of
        ``shape`` (planner.hardware.nvlink ``SHAPE_LINKS``): ``intra_bw`` on a switched node."""
        return self.intra_bw if self.group_bw is None else self.group_bw(n, stride, shape)

    @property
    def links(self):
        """(intra_bw, inter_bw, a_in, a_out): the link arguments of planner.model.comm's collectives."""
        return self.intra_bw, self.inter_bw, self.a_in, self.a_out

    @property
    def tp_links(self):
        """``links`` of a collective over the TP group (``tp_bw``)."""
        return (self.intra_bw if self.tp_bw is None else self.tp_bw), self.inter_bw, self.a_in, self.a_out

    def gemm(self, M, N, K, pk=None, b=None, groups=None, wg=None, batch=1.0, s16=None, cast_cut=(0.0, 0.0),
             cast_kernels=0.0):
        """forward, backward (dgrad + wgrad) of one GEMM, or of ``groups`` same-shape GEMMs run
        as one grouped GEMM (moe.grouped_gemm_time; the totals over the groups), or of ``batch``
        as one batched kernel; ``wg`` overrides whether the weight gradient runs (frozen base:
        adapters and peft's ``ParamWrapper`` tensors, finetune.py); ``s16`` overrides the share
        of it that runs 16-bit under the recipe (``bf16_share``); ``cast_cut``: bytes per element taken
        off the input cast (forward) and the output-gradient cast (backward) where another kernel's
        epilogue does that part (moe.fused_mlp_bytes); ``cast_kernels``: kernels each of the ``groups`` launches per
        quantised tensor where the casts run one per group (moe.split_quantize_kernels), each at the GPU's
        ``kernel_gap_s``"""
        if groups is None:
            return self.gemms(((M, N, K),), pk, b, wg, batch, s16, cast_cut, cast_kernels)[0]
        eff = self.eff
        s16 = self.bf16_share if s16 is None else s16
        pk = self.lin_peak if pk is None else pk
        b = self.gemm_b if b is None else b
        hbm = self.hbm
        out_b = self.out_bytes(b)
        g_t = (lambda m_, n_, k_, *a: moe_mech.grouped_gemm_time(eff, groups, m_, n_, k_, *a, out_bytes=out_b))
        fwd, t_dgrad, t_wgrad = g_t(M, N, K, pk, hbm, b), g_t(M, K, N, pk, hbm, b), g_t(K, N, M, pk, hbm, b)
        return self._casts(M, N, K, fwd, t_dgrad, t_wgrad, pk, groups, groups, wg, batch, s16, cast_cut, cast_kernels)

    def out_bytes(self, b):
        """Bytes per element a linear's GEMM writes its output at, given its operands' width ``b``: under the
        fp8/fp4 recipe the activation width (TE's low-precision GEMMs read quantised operands and write
        ``out_dtype=activation_dtype``: module/linear.py and grouped_linear.py, forward, dgrad and wgrad alike),
        else None (the operands' width, as ``Efficiency.gemm_time`` takes it). Why it matters: where a low-precision
        GEMM is traffic-bound (small N such as the router's, low-bandwidth parts such as L4) the output is a large
        share of its bytes; counted at 1 B until fp8moe55."""
        return np.maximum(b, self.act_b) if self.low else None

    def gemms(self, shapes, pk=None, b=None, wg=None, batch=1.0, s16=None, cast_cut=(0.0, 0.0), cast_kernels=0.0):
        """``gemm`` of each (M, N, K) of ``shapes`` (one plain GEMM each, the same other arguments): [(forward,
        backward), ...]. The forward (M, N, K), dgrad (M, K, N) and wgrad (K, N, M) of every shape are priced in one
        ``gemm_time`` call on the 3 x len(shapes) shapes stacked: it is elementwise, so each gets the bits its own call
        gives, and the layer model's fixed cost (~20 numpy calls a gemm_time on a few hundred layer keys) is paid once
        for the attention projections and the dense MLP together (speed38: a GEMM's three passes; speed39: the
        layer's GEMMs)."""
        eff, hbm, lin_peak = self.eff, self.hbm, self.lin_peak
        s16 = self.bf16_share if s16 is None else s16
        pk = lin_peak if pk is None else pk
        b = self.gemm_b if b is None else b
        shp = np.broadcast_shapes(*(np.shape(x) for mnk in shapes for x in mnk), *(np.shape(x) for x in (pk, hbm, b,
                                                                                                       batch)))
        n_s = len(shapes)
        # rows [3 i, 3 i + 1, 3 i + 2]: shape i's forward, dgrad, wgrad
        Ms, Ns, Ks = (np.empty((3 * n_s,) + shp) for _ in range(3))
        for i, (M, N, K) in enumerate(shapes):
            Mf, Nf, Kf = (np.asarray(x, dtype=np.float64) for x in (M, N, K))
            Ms[3 * i], Ms[3 * i + 1], Ms[3 * i + 2] = Mf, Mf, Kf
            Ns[3 * i], Ns[3 * i + 1], Ns[3 * i + 2] = Nf, Kf, Nf
            Ks[3 * i], Ks[3 * i + 1], Ks[3 * i + 2] = Kf, Nf, Mf
        t3 = eff.gemm_time(Ms, Ns, Ks, pk, hbm, b, batch=batch, out_bytes=self.out_bytes(b))
        return [self._casts(M, N, K, t3[3 * i], t3[3 * i + 1], t3[3 * i + 2], pk, batch, None, wg, batch, s16,
                            cast_cut, cast_kernels) for i, (M, N, K) in enumerate(shapes)]

    def _casts(self, M, N, K, fwd, t_dgrad, t_wgrad, pk, n_g, groups, wg, batch, s16, cast_cut, cast_kernels):
        """``gemm``'s (forward, backward) from its passes' times: the weight gradient where it runs, and under the
        fp8/fp4 recipe the quantisation casts and the share the stack keeps 16-bit"""
        eff, hbm, recipe, cast_b = self.eff, self.hbm, self.recipe, self.cast_b
        bwd = t_dgrad + (self.wgrad if wg is None else wg) * t_wgrad
        if self.low and pk is self.lin_peak:  # quantisation: input (fwd), output gradient (bwd), weight
            w_casts = 1.0 if recipe.weight_casts == "microbatch" and not self.fw.caches_fp8_weights else 0.0
            fwd = fwd + eff.memory_time(n_g * (M * K * (cast_b - cast_cut[0]) + w_casts * K * N * cast_b), hbm,
                                        kernels=n_g * cast_kernels * (1.0 + w_casts))
            bwd = bwd + eff.memory_time(n_g * M * N * (cast_b - cast_cut[1]), hbm, kernels=n_g * cast_kernels)
            r16 = self.rerun16
            # the layers the recipe keeps 16-bit (Stack.lp_bf16_layers) run this GEMM unquantised
            if s16 or np.any(r16):
                f16, b16 = self.gemm(M, N, K, pk=self.peak, b=float(self.act_b), groups=groups, wg=wg, batch=batch)
                fwd, bwd = (1 - s16) * fwd + s16 * f16, (1 - s16) * bwd + s16 * b16
                # a 16-bit re-run after an fp8 forward: layer_terms prices the recompute as this forward again
                # (``re_fwd``), so the backward carries the 16-bit recompute's difference from it and its own 16-bit
                # passes (no output-gradient cast): the pass sum is fwd + f16 + b16
                bwd = bwd + r16 * (b16 + f16 - fwd - bwd)
        return fwd, bwd


def layer_context(m: ModelSpec, t: TrainingSpec, hw: HardwareOption, fw: Stack, tp, cp, ep, mb, sp, etp,
                  bf16_share, ep_dom=None, fp32_stream=None, disp=None, a2a_ov=None) -> LayerContext:
    """The ``LayerContext`` of one ``layer_terms`` call: the peaks (the recipe's FP8/FP4 GEMM fraction on the
    linears only; fp32 matmuls on the CUDA cores), the activation and GEMM byte widths, the links, and the keys'
    degrees as float arrays with the tokens per micro-batch per rank. ``fp32_stream``: per key, whether the stream
    is fp32 (``Stack.fp32_stream``; None: at ZeRO-0)."""
    run = base_math_precision(t)  # the base's math: fp32 training over a bf16 frozen base runs it bf16
    low = run == "fp8"
    # attention, norms and the LM head run at the 16-bit rate; only the linears at the fp8/fp4 one
    eff, peak = math_rates(hw, "bf16" if low else run)
    # a frozen base's adapters run at the training precision (fp32 ones over a bf16 base: peft's own fp32 matmuls)
    adapter_rates = None if run == t.precision else (*math_rates(hw, t.precision), float(ACT_BYTES[t.precision]))
    recipe = recipe_on(fw.recipe, hw.gpu.name)  # block-wise FP8 runs as MXFP8 on SM100 parts
    cast_b = te_cast_bytes(fw, hw.gpu.name)  # the recipe's quantisation bytes as this stack runs them on this part
    # the recipe's FP8 GEMM fraction (set on H100) scaled by this part's own FP8 / BF16 ceilings (Efficiency.fp8_rel)
    lin_peak = physics.reachable_peak(hw, recipe.peak) * recipe.gemm_rel * eff.low_precision_rel(recipe.peak) if low else peak
    hbm = hw.gpu.hbm_bw
    act_b = ACT_BYTES[run]
    gemm_b = 0.5 if low and recipe.peak == "fp4" else (1.0 if low else float(act_b))
    g = float(hw.gpus_per_node)
    intra_bw, inter_bw = hw.intra_bw_eff, hw.inter_bw_per_gpu
    a_in, a_out = eff.intra_alpha_s, eff.inter_alpha_s
    etp = tp if etp is None else etp
    tp, cp, ep, mb, etp = (np.asarray(x).astype(np.float64) for x in (tp, cp, ep, mb, etp))
    seq = float(t.seq_len)
    combine = np.add if hw.gpu.runs_on_host else np.maximum
    sp_div = sp_divisor(sp, tp)

    wgrad = 0.0 if frozen_base(m, t) else 1.0  # lora/qlora: no weight gradients of the base
    # the share of the layers whose linears the recipe leaves 16-bit (Stack.lp_bf16_layers)
    bf16_share = (bf16_share or 0.0) if low else 0.0
    # the MTP module's eh_proj: 16-bit with Stack.lp_bf16_mtp or under an FP4 recipe (mtp_runs_16bit)
    mtp_share = 1.0 if mtp_runs_16bit(fw, t.precision) else 0.0
    T = rank_tokens(seq, mb, cp)  # tokens per micro-batch per rank
    fp32s = np.asarray(fw.fp32_stream(t, 0) if fp32_stream is None else fp32_stream, dtype=bool)
    return LayerContext(eff=eff, fw=fw, low=low, recipe=recipe, cast_b=cast_b, peak=peak, lin_peak=lin_peak, hbm=hbm,
                        act_b=act_b, gemm_b=gemm_b, g=g, intra_bw=intra_bw, inter_bw=inter_bw, a_in=a_in, a_out=a_out,
                        tp=tp, cp=cp, ep=ep, mb=mb, etp=etp, sp=sp, seq=seq, combine=combine, sp_div=sp_div,
                        wgrad=wgrad, bf16_share=bf16_share, mtp_share=mtp_share,
                        moe_share=m.moe_layers / m.layers, T=T,
                        atp=np.asarray(moe_mech.hf_ep_tp(m, fw, tp, ep, "attention"), dtype=np.float64),
                        dtp=np.asarray(moe_mech.hf_ep_tp(m, fw, tp, ep, "dense_mlp"), dtype=np.float64),
                        xtp=np.asarray(moe_gate_split(m, fw, tp, etp, ep), dtype=np.float64),
                        ep_dom=None if ep_dom is None else tuple(np.asarray(x, dtype=np.float64) for x in ep_dom),
                        fp32s=fp32s, grouped_fast=moe_mech.grouped_mm_fast(hw.gpu, run, fp32s),
                        autoep_fast=moe_mech.autoep_fast(hw.gpu, run, fp32s),
                        tp_bw=group_intra_bw(hw, tp, 1), group_bw=partial(group_intra_bw, hw),
                        adapter_rates=adapter_rates, disp=disp, a2a_ov=a2a_ov)


def by_stream(fn, fp32s) -> tuple:
    """``fn(fp32_stream)``'s numbers at each key's stream dtype (``LayerContext.fp32s``): one call where every key
    has the same, else both, chosen key by key."""
    flat = np.ravel(fp32s)
    if flat.size == 0 or np.all(flat == flat[0]):  # (no key at all: either column, every term empty)
        return fn(bool(flat[0]) if flat.size else False)
    on, off = fn(True), fn(False)
    return tuple(np.where(fp32s, a, b) for a, b in zip(on, off))


def moe_gate_split(m: ModelSpec, fw, tp, etp, ep):
    """``LayerContext.xtp``: the degree the routed experts' gate activation is split over on one rank -- the
    expert-TP where every rank runs all T x top_k rows (DeepSpeed's AutoTP without EP, Stack.tp_splits_experts;
    until hfep52 the HF Trainer's EP too), else TP (each rank's T / TP share of the rows: Megatron's SP, and the folded
    EP's rows over the TP peers, Stack.moe_ep_tp_fold: AutoEP's ``partition_assignments``, transformers' AllToAllEP)."""
    if m.moe is None:
        return tp
    if not getattr(fw, "tp_splits_experts", True):
        return np.where(np.asarray(ep) > 1, tp, etp)
    return tp


@dataclasses.dataclass(frozen=True, slots=True)
class PassTimes:
    """Seconds of one op group in one micro-batch's forward and backward pass on one rank (arrays over the keys);
    ``host_ops`` the forward host ops the group adds beyond the stack's ``layer_ops`` (backward: BWD_HOST_FACTOR x)."""
    fwd: object
    bwd: object
    host_ops: object = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class AttentionProjections:
    """The attention block's linears: ``gemms`` the [column group, row-parallel output projection] (forward,
    backward) pairs, ``fwd``/``bwd`` their sums; ``mla_up_fwd`` the forward of what MLA's ``mla_up_proj`` recompute
    re-runs (0 without MLA)."""
    gemms: list
    fwd: object
    bwd: object
    mla_up_fwd: object


def attention_projection_shapes(c: LayerContext, m: ModelSpec) -> list:
    """The (M, N, K) of the attention block's linears in ``attention_projections``' order: QKV (column-parallel) and
    output (row-parallel) projections; with MLA (Megatron-Core MLASelfAttention) the kv down / up, the q down / up (or
    the whole q projection without a q LoRA rank) and the output projection; over ``LayerContext.atp`` (whole where
    an HF EP plan leaves attention out)."""
    T, tp = c.T, c.atp
    h, q, kv = m.hidden, m.q_dim, m.kv_dim
    if m.mla is None:
        return [(T, (q + 2 * kv) / tp, h), (T, h, q / tp)]
    a, H = m.mla, m.heads
    dqk = a.qk_nope_head_dim + a.qk_rope_head_dim
    col = [(T, a.kv_lora_rank + a.qk_rope_head_dim, h), (T, H * (a.qk_nope_head_dim + a.v_head_dim) / tp, a.kv_lora_rank)]
    col += ([(T, a.q_lora_rank, h), (T, H * dqk / tp, a.q_lora_rank)] if a.q_lora_rank else [(T, H * dqk / tp, h)])
    return col + [(T, h, H * a.v_head_dim / tp)]


def attention_projections(c: LayerContext, m: ModelSpec, priced: list | None = None) -> AttentionProjections:
    """QKV (column-parallel) and output (row-parallel) projections of one attention layer; MLA's down/up projections
    as Megatron-Core's MLASelfAttention splits them (``attention_projection_shapes``). ``priced``: those shapes'
    (forward, backward) already priced (``layer_terms`` prices them with the dense MLP's in one ``gemms`` call)."""
    if priced is None:
        priced = c.gemms(attention_projection_shapes(c, m))
    if m.mla is None:
        attn_proj = list(priced)
        mla_up_fwd = 0.0
    else:
        # MLA (Megatron-Core MLASelfAttention): the down-projections are replicated on every TP
        # rank (TELinear parallel_mode="duplicated"), the up-projections column-parallel, the
        # output projection row-parallel; the first four are the "column" group the TP overlap
        # hides the all-gather under
        col = priced[:-1]
        attn_proj = [(sum(p[0] for p in col), sum(p[1] for p in col)), priced[-1]]
        # what mla_up_proj re-runs: kv up and q up, or the whole q_proj without a q LoRA rank
        # (Megatron-Core multi_latent_attention.py ``qkv_up_proj_and_rope_apply``; flops.mla_up_proj_macs)
        mla_up_fwd = col[1][0] + col[-1][0]
    return AttentionProjections(attn_proj, sum(p[0] for p in attn_proj), sum(p[1] for p in attn_proj), mla_up_fwd)


def dense_mlp_shapes(c: LayerContext, m: ModelSpec) -> list:
    """The (M, N, K) of the dense MLP's [up (gated: gate + up), down]; dense layers of MoE models (DeepSeek,
    Qwen3-MoE, Llama 4) are wider (``ModelSpec.dense_width``)."""
    fd = m.dense_width
    return [(c.T, m.mlp_up_factor * fd / c.dtp, m.hidden), (c.T, m.hidden, fd / c.dtp)]


def mamba_block(c: LayerContext, m: ModelSpec, hw: HardwareOption, fw: Stack):
    """A hybrid model's Mamba layer (ssm.mamba_layer: its projections, conv1d + SSD scan, CP all-to-alls), None
    without Mamba layers."""
    if m.mamba is None:
        return None
    eff = c.eff
    return ssm.mamba_layer(m, c.T, c.seq, c.tp, c.cp, c.gemm, eff, c.hbm, c.peak,
                           (eff.attn_fwd * fw.attn_rel, eff.attn_bwd * fw.attn_rel), c.act_b,
                           (c.g, c.shape_bw(c.cp, c.tp, "all_to_all"), *c.links[1:]),  # the CP group's per-pair sends
                           fw.mamba_call, ssm.ssd_roofline_factor(hw.gpu.name))


def cp_call_keys(c: LayerContext, m: ModelSpec, fw: Stack, span):
    """The keys one attention kernel call sees at CP (its efficiency's argument), by ``Stack.cp_kind``: the ring's
    seq / cp a step (the causal load-balanced split calls it on half-chunks); PyTorch's ring the calls'
    work-weighted keys (comm.torch_ring_profile); Ulysses (DeepSpeed, TE a2a) one call over the whole sequence on
    heads / cp; TE's all-gather one call per local chunk, chunks r and 2 cp - 1 - r over the keys up to their end
    ((r + 1) and (2 cp - r) chunks of seq / 2 cp: (2 cp + 1) / 4 cp of the row a call, the mean); a2a+p2p the ring's
    seq / (cp / a2a) a step."""
    cp, kind = c.cp, fw.cp_kind
    if kind in ("a2a", "te_a2a"):
        return span + 0.0 * cp
    if kind == "te_allgather":
        return span * (2 * cp + 1) / (4 * cp)
    if kind == "te_a2a_p2p":
        return span / (cp / cp_a2a_degree(c, m))
    return span / cp * (torch_ring_columns(cp)["key_frac"] if kind == "allgather" else 1.0)


def attention_core(c: LayerContext, m: ModelSpec, t: TrainingSpec, hw: HardwareOption, fw: Stack,
                   causal_kernels: bool, sh: dict) -> PassTimes:
    """The attention core (per layer, per rank): flash attention at the stack's kernel efficiency for the keys one
    call sees (causal kernels skip the masked half; backward 2.5x the forward's matmuls, Dao 2023 §3), or Megatron's
    explicit CoreAttention (batched QK^T and AV GEMMs plus the s x s scores at HBM bandwidth, ``SCORE_BYTES_*``)."""
    eff, hbm, peak, act_b, gemm_b = c.eff, c.hbm, c.peak, c.act_b, c.gemm_b
    T, tp, cp, mb, seq = c.T, c.atp, c.cp, c.mb, c.seq  # atp: whole where an HF EP plan leaves attention out
    # attention core (per layer, per rank): queries T, keys over the sequence, or over each packed
    # example where the stack's kernels attend per example (flops.attention_span)
    heads = m.heads / tp
    span = cp_attention_span(t, fw, cp)  # per row: the whole row at CP > 1 where the stack's CP drops the masks
    # mean keys per query over the layers (sliding-window layers: the window) and MLA's dims
    mk = m.model_copy(update={"mtp_layers": 0}) if m.hybrid else m  # hybrid: its MTP block is priced apart
    causal = causal_kernels and m.causal
    if fused_attention(fw, m, t):
        # the keys a causal kernel computes per query (full layers s/2, window layers w - w^2/2s: halving the
        # full-count window, min(s, w), counted a window layer's w keys as w/2), per kind at its own call rate
        n = mk.layers + mk.mtp_layers
        kernel_flops, loc_share = (attention_core_flops(T, attention_keys(mk, span, causal_half=causal) / n,
                                                        score_dim(m) / tp), window_key_share(mk, span, causal))
        # a kernel built for fixed head dims computes the padded one (Stack.attn_hdim_tiles: FlashAttention-1)
        hd = score_dim(m) / m.heads
        kernel_flops = kernel_flops * physics.padded_head_dim(hd, fw.attn_hdim_tiles) / hd
        kernel_flops = kernel_flops * fa_padded_v(fw, m, t)
        # the stack's kernel at its efficiency for the keys one call sees (ring CP: seq/cp
        # per step; the causal load-balanced split calls it on half-chunks; PyTorch's ring:
        # the calls' work-weighted keys, comm.torch_ring_profile)
        # (Ulysses' all-to-all: one call over the whole sequence on heads / cp)
        call_keys = cp_call_keys(c, m, fw, span)
        # the backend TE actually trains with at these head dims (cuDNN's Blackwell backward stops at 128)
        d_qk, d_v = ((float(m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim), float(m.mla.v_head_dim))
                     if m.mla is not None else (float(m.head_dim), float(m.head_dim)))
        kernel = physics.te_training_attention_kernel(fw.attn_kernel, hw.gpu.name, d_qk, d_v)
        a_f, a_b = physics.attention_efficiency(kernel, hw.gpu.name, call_keys, eff.attn_fwd, eff.attn_bwd,
                                                head_dim=score_dim(m) / m.heads)
        if loc_share is not None:  # window layers at the rate of the call their rows amount to (window_call_keys)
            w_f, w_b = physics.attention_efficiency(kernel, hw.gpu.name, window_call_keys(m, call_keys), eff.attn_fwd,
                                                    eff.attn_bwd, head_dim=score_dim(m) / m.heads)
            a_f = 1.0 / ((1.0 - loc_share) / a_f + loc_share / w_f)
            a_b = 1.0 / ((1.0 - loc_share) / a_b + loc_share / w_b)
        fwd_attn = kernel_flops / (peak * a_f * fw.attn_rel)
        bwd_attn = 2.5 * kernel_flops / (peak * a_b * fw.attn_rel)
    else:
        return explicit_attention(c, m, t, fw, heads, sh)
    return PassTimes(fwd_attn, bwd_attn)


def window_key_share(m: ModelSpec, span, causal: bool):
    """The sliding-window layers' share of the keys a fused kernel computes (``flops.attention_keys``, causal half
    where the kernel skips the masked blocks), or None for a model without window layers (chunked ones included:
    Llama 4's chunks are causal calls of their own over ``w`` keys, as ``cp_call_keys`` already has them at s)."""
    if not (m.sliding_window and m.local_layers) or m.local_attention != "sliding":
        return None
    own = m.local_layers * local_keys(span, m.sliding_window, "sliding", causal and m.causal)
    return own / attention_keys(m, span, causal_half=causal)


def window_call_keys(m: ModelSpec, call_keys):
    """The causal call length whose per-query work a sliding-window layer's rows match: a causal call over ``s`` keys
    computes s/2 keys a query, a window-``w`` layer (FlashAttention-2's ``window_size``, the block-skipping kernel
    cuDNN / TE run for gpt-oss, Gemma 2/3, Mistral) ~w, so it runs at ``physics.attention_efficiency``'s rate for a
    2w-key call, capped at the call's own keys (s <= 2w: the window spans the row)."""
    return np.minimum(np.asarray(call_keys, dtype=np.float64), 2.0 * float(m.sliding_window))


def explicit_attention(c: LayerContext, m: ModelSpec, t: TrainingSpec, fw: Stack, heads, sh: dict) -> PassTimes:
    """Explicit (non-flash) attention of one layer and micro-batch on one rank: Megatron's CoreAttention (batched QK^T
    and AV GEMMs plus the s x s scores at HBM bandwidth, ``SCORE_BYTES_*``; its softmax's torch fallback where the
    fused kernel refuses the shape, stack_kernels ``softmax_fallback``), or transformers' eager sink attention."""
    eff, hbm, peak, act_b, gemm_b, mb, seq, cp = c.eff, c.hbm, c.peak, c.act_b, c.gemm_b, c.mb, c.seq, c.cp
    # Megatron CoreAttention: baddbmm / bmm over mb*heads (one batched kernel each), full
    # s x s scores (the causal mask is applied in softmax, the GEMMs compute every score)
    bt = mb * heads
    # MLA scores over d_nope + d_rope and multiplies values of d_v (flops.score_dim)
    d_qk = float(m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim) if m.mla is not None else float(m.head_dim)
    d_v = float(m.mla.v_head_dim) if m.mla is not None else float(m.head_dim)
    Sq = seq / cp
    qk = eff.gemm_time(Sq, seq, d_qk, peak, hbm, gemm_b, batch=bt)
    av = eff.gemm_time(Sq, d_v, seq, peak, hbm, gemm_b, batch=bt)
    scores = bt * Sq * seq
    drop = bool(t.dropout)
    sc_f, sc_b = SCORE_BYTES_FWD[drop] * act_b / 2, SCORE_BYTES_BWD[drop] * act_b / 2
    # Megatron's fused softmax kernel refused (stack_kernels.softmax_fallback, the rule the memory's fp32 softmax reads too):
    # its torch path's extra passes and kernels
    fb = core_attention_fallback(fw, m, seq, mb, c.atp, cp, act_b)
    sc_f, sc_b = sc_f + fb * SOFTMAX_FALLBACK_BYTES[0], sc_b + fb * SOFTMAX_FALLBACK_BYTES[1]
    fb_k = fb_kb = fb * SOFTMAX_FALLBACK_OPS
    # a stack's own softmax (transformers' eager per model family: activations_hf.HF_EAGER_SOFTMAX; llm-foundry's torch
    # path, SDPA's math backend: stack_kernels.EXPLICIT_SOFTMAX): its passes beyond the fused default, per score (gpt-oss's
    # eager sink attention: hf_sink_score_bytes)
    sink = eager_sink_attention(fw, m)
    ex_f, ex_b, ex_kf, ex_kb = (0.0,) * 4 if sink else by_stream(lambda s: own_softmax_extra(fw, m, s, act_b), c.fp32s)
    sc_f, sc_b, fb_k, fb_kb = sc_f + ex_f, sc_b + ex_b, fb_k + ex_kf, fb_kb + ex_kb
    if sink:
        # transformers' gpt-oss eager attention: the sink column's ops around the GEMMs, plus the dropout mask
        # bytes where the job prices dropout (hf_sink_score_bytes)
        sk_f, sk_b = by_stream(lambda s: hf_sink_score_bytes(s, seq), c.fp32s)
        sc_f = sk_f + (SCORE_BYTES_FWD[drop] - SCORE_BYTES_FWD[False]) * act_b / 2
        sc_b = sk_b + (SCORE_BYTES_BWD[drop] - SCORE_BYTES_BWD[False]) * act_b / 2
    fwd_attn = qk + av + eff.memory_time(scores * sc_f, hbm, kernels=fb_k)
    # backward: dS@K, dS^T@Q (qk shapes) and dP = dO V^T, dV = P^T dO (av shapes)
    bwd_attn = 2 * (qk + av) + eff.memory_time(scores * sc_b, hbm, kernels=fb_kb)
    fwd_attn, bwd_attn = sh["*"] * fwd_attn, sh["*"] * bwd_attn  # per attention layer (hybrid: a share)
    return PassTimes(fwd_attn, bwd_attn, sh["*"] * fb_k)


def own_softmax_extra(fw, m: ModelSpec, fp32_stream: bool, act_b) -> tuple[float, float, float, float]:
    """(forward bytes, backward bytes, forward kernels, backward kernels) a score that the explicit attention's softmax
    moves beyond the fused default: on the HF-code stacks (``Stack.explicit_softmax`` "transformers") the model
    family's eager code (activations_hf ``hf_eager_softmax_extra``, the table its memory reads), elsewhere the stack's
    own (stack_kernels ``explicit_softmax_extra``); their autocast column where the stream is fp32
    (``fp32_stream``: fp32 q / k and mask promote the scores; on FSDP's bf16 weights autocast finds a bf16 stream and
    the 16-bit column holds, hffsdp47)."""
    if getattr(fw, "explicit_softmax", "unread") == "transformers":
        return hf_eager_softmax_extra(m, fp32_stream, act_b)
    return explicit_softmax_extra(fw, fp32_stream, act_b)


def fa_padded_v(fw, m: ModelSpec, t: TrainingSpec) -> float:
    """The attention kernel's work over ``attention_core_flops`` where transformers pads MLA's v to the q/k head dim for
    a flash kernel (attn_implementation flash_attention_2/3 on the HF-code stacks: models/deepseek_v2/
    modeling_deepseek_v2.py ``F.pad(value_states, [0, self.qk_head_dim - self.v_head_dim])``): P V runs over d_qk,
    so 2 d_qk / (d_qk + d_v) (1.2 for DeepSeek-V2/V3's 192 / 128); the memory's saves are activations_hf
    "fused_pad". 1 elsewhere."""
    if m.mla is None or hf_attn_choice(fw, m, t) not in ("flash_attention_2", "flash_attention_3"):
        return 1.0
    dqk = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim
    return 2.0 * dqk / (dqk + m.mla.v_head_dim)


@dataclasses.dataclass(frozen=True, slots=True)
class Elementwise:
    """The layer's elementwise forward seconds (``fwd``), and the bytes per token module recompute re-prices:
    ``norm_b`` per element of one norm, ``act_fn_b`` per element of the MLP activation; ``unfused``: the stack runs
    the HF / torchtitan code's eager fp32 ops uncompiled."""
    fwd: object
    norm_b: float
    act_fn_b: float
    unfused: bool


def elementwise(c: LayerContext, m: ModelSpec, t: TrainingSpec, fw: Stack, sh: dict) -> Elementwise:
    """Forward HBM time of the layer's norms, residual adds, dropout masks, activation function, RoPE and
    attention-output layout copy (Korthikanti et al. 2022 §3 counts the same tensors)."""
    eff, hbm, act_b, T, tp, sp_div = c.eff, c.hbm, c.act_b, c.T, c.tp, c.sp_div
    h, q, kv, f, fd = m.hidden, m.q_dim, m.kv_dim, m.ffn_hidden, m.dense_width
    # elementwise traffic per token (bytes): two norms (read h, write h), two residual adds
    # (read 2h, write h), dropout masks (1 byte per element, two per layer) on the full hidden;
    # the activation function (gated: read 2f, write f; else read f, write f), RoPE on q and k,
    # and the attention-output layout copy (read q, write q) on the TP shard
    # fused (torch.compile, TE LayerNormLinear): each residual add + norm is one kernel (read x and
    # the residual, write the sum and the normed output: 4h) and the layout copy disappears.
    # Eager fp32-upcast norms and RoPE (HF / torchtitan Llama code) run one kernel per op: counted
    # in planner.model.stack_kernels.EAGER_FP32_BYTES.
    unfused = fw.eager_fp32_ops and not fw.compile
    # only RMSNorm is an eager op chain in that code: LayerNorm models (HF GPT-2 / BERT, DeepLearningExamples'
    # BERT modeling.py) call nn.LayerNorm, one ATen native_layer_norm kernel (read x, write y). On an fp32 stream
    # (autocast over fp32 weights, ``c.fp32s``) both run fp32 in and out: RMSNorm's chain "rmsnorm_amp", LayerNorm
    # 4 + 4 (``layer_norm`` is on CUDA autocast's fp32 list; its input is fp32 already) -- hfstep48
    if unfused and m.norm == "rmsnorm":
        norm_b = by_stream(lambda s: (EAGER_FP32_BYTES["rmsnorm_amp" if s else "rmsnorm"],), c.fp32s)[0]
    else:
        norm_b = by_stream(lambda s: (2 * (4.0 if s else act_b),), c.fp32s)[0]
    if fw.elementwise_fused:
        full_b = act_b * (2 * 4 * h)
    else:
        # on an fp32 stream the residual adds read it and write it in fp32 ("residual_add_amp") and each linear reading
        # a norm's fp32 output casts its own bf16 copy (AUTOCAST_CAST_BYTES a reader; hfstep48)
        readers = sum(norm_readers(m, spec_model_type(m)))  # (the memory reads the same key)
        add_b, cast_b = by_stream(lambda s: ((EAGER_FP32_BYTES["residual_add_amp"], AUTOCAST_CAST_BYTES * readers / 2)
                                             if s else (3 * act_b, 0.0)), c.fp32s)
        full_b = 2 * norm_b * h + 2 * (add_b + cast_b) * h
    full_b = full_b + (2 * h if t.dropout else 0)
    act_fn_b = EAGER_FP32_BYTES["swiglu"] if unfused and m.gated else m.mlp_act_factor * act_b
    rope_b = (eager_rope_bytes(fw, m, t, c.fp32s) if unfused else 2 * act_b) if m.position == "rope" else 0
    shard_b = act_fn_b * f + rope_b * (q + kv) + (0 if fw.elementwise_fused else act_b * 2 * q)
    # RoPE and the layout copy on the attention's split (LayerContext.atp: whole under an HF EP plan without it)
    attn_b = (rope_b * (q + kv) + (0 if fw.elementwise_fused else act_b * 2 * q)) * (tp / c.atp - 1.0)
    if m.hybrid:  # one norm and residual add per layer; RoPE and layout copy on the attention layers only
        full_b = full_b / 2
        shard_b = (sh["*"] * (rope_b * (q + kv) + (0 if fw.elementwise_fused else act_b * 2 * q))
                   + act_fn_b * (sh["-"] * fd + sh["E"] * f))
    # the MoE layers' gate activation on all T x top_k rows under the HF code's EP (LayerContext.xtp)
    attn_b = attn_b + act_fn_b * f * c.moe_share * (tp / c.xtp - 1.0)
    if m.hybrid:
        attn_b = 0.0  # no HF EP plan prices a hybrid
    return Elementwise(eff.memory_time(T * (full_b / sp_div + (shard_b + attn_b) / tp), hbm), norm_b, act_fn_b,
                       unfused)


def eager_rope_bytes(fw: Stack, m: ModelSpec, t: TrainingSpec, fp32_stream=None):
    """HBM bytes per q / k element of the stack's eager RoPE (``stack_kernels.EAGER_FP32_BYTES``): the
    ``Stack.eager_rope`` key, or on the stacks that run transformers' model code ("transformers") the family's form,
    fp32 where the stream is (activations_hf ``hf_rope_form``; hf47): ``fp32_stream`` per layer key
    (``Stack.fp32_stream``: autocast over fp32 weights, not where FSDP gathers them in bf16, hffsdp47; None: at
    ZeRO-0)."""
    if fw.eager_rope != "transformers":
        return EAGER_FP32_BYTES[fw.eager_rope]
    fs = fw.fp32_stream(t, 0) if fp32_stream is None else fp32_stream
    return by_stream(lambda s: (EAGER_FP32_BYTES[hf_rope_form(m, s)],), fs)[0]


@dataclasses.dataclass(frozen=True, slots=True)
class MoeBlock:
    """A MoE layer's terms (all 0 on a dense model): ``fwd``/``bwd`` the attention projections plus the MoE MLP's
    GEMMs; ``ep_comm`` the layer's all-to-alls (dispatch + combine, forward and backward); ``hide`` what combined-1F1B
    hides of them; ``mb_extra``/``bwd_extra`` the dispatch's memory-bound seconds; ``eager_f``/``eager_b``/
    ``act_eager`` TEGroupedMLP's eager ops; ``host_ops`` its host ops; ``sync`` the dispatcher's sync idle;
    ``shared`` the shared experts' forward; ``shared_hide_f``/``_b`` what a shared-expert stream hides;
    ``layer`` planner.model.moe.moe_layer's result (None on a dense model); ``tp_split`` the TP collective seconds
    per pass a loop over experts adds (moe ``switch_mlp_layer``)."""
    fwd: object
    bwd: object
    ep_comm: object
    hide: object
    mb_extra: object
    bwd_extra: object
    eager_f: object
    eager_b: object
    act_eager: object
    host_ops: object
    sync: object
    shared: object
    shared_hide_f: object
    shared_hide_b: object
    layer: object
    tp_split: object = 0.0


def hf_experts_run(c: LayerContext, m: ModelSpec, t: TrainingSpec, fw: Stack) -> moe_mech.HfExperts | None:
    """How an HF-code stack (transformers' model code: ``Stack.explicit_softmax`` "transformers") runs ``m``'s routed
    experts (moe ``HfExperts``): transformers' experts kernel (activations_hf ``hf_stack_experts``), the experts'
    weight gradients in the weights' dtype (4 B over an fp32 stream, ``LayerContext.fp32s``, else the activations'),
    run where the layer's weight gradients run or peft wraps the experts (finetune ``full_weight_grads``), and
    whether ``_grouped_mm`` runs its fast kernel (``LayerContext.grouped_fast``), and per candidate where DeepSpeed's
    AutoEP replaces the block with its own kernel (moe ``autoep_rows``; until autoep53 priced with the job's
    ``experts_implementation``). None on the other stacks."""
    if m.moe is None or getattr(fw, "explicit_softmax", None) != "transformers":
        return None
    wgrad = full_weight_grads(m, t).get("experts_up", c.wgrad)
    return moe_mech.HfExperts(hf_stack_experts(m, fw), np.where(c.fp32s, 4.0, float(c.act_b)), wgrad, c.grouped_fast,
                              moe_mech.autoep_rows(fw, c.ep), c.autoep_fast)


def moe_block(c: LayerContext, m: ModelSpec, t: TrainingSpec, fw: Stack, proj: AttentionProjections,
              attn: PassTimes) -> MoeBlock:
    """MoE layers: router + experts + shared experts replace the dense MLP, plus the token dispatch
    (planner.model.moe.moe_layer: expert shapes under EP/ETP, grouped GEMM, dispatch bytes)."""
    eff, hbm, low, recipe, bf16_share = c.eff, c.hbm, c.low, c.recipe, c.bf16_share
    fwd_g_attn, bwd_g_attn, fwd_attn, bwd_attn = proj.fwd, proj.bwd, attn.fwd, attn.bwd
    if m.moe is not None:
        ml = moe_mech.moe_layer(m, c.T, c.tp, c.etp, c.ep, c.g, c.act_b, c.gemm, fw, c.links,
                                wgrad=full_weight_grads(m, t), launch_s=eff.launch_s,
                                recipe=recipe.name if low and not bf16_share else None,  # a 16-bit layer: bf16 set-up
                                bwd_factor=BWD_MEMBOUND_FACTOR, ep_dom=c.ep_dom and c.ep_dom[:3],
                                etp_dom=(c.ep_dom or ())[3:] or None, a2a_bw=c.shape_bw(c.ep, c.etp, "all_to_all"),
                                disp=c.disp, hf=hf_experts_run(c, m, t, fw))
        fwd_moe, bwd_moe = fwd_g_attn + ml.fwd_mlp, bwd_g_attn + ml.bwd_mlp
        ep_comm_layer = 4 * ml.a2a + ml.a2a_extra  # dispatch + combine, forward and backward (+ HybridEP's extras)
        # combined-1F1B overlap (stack option, or each key's: ``LayerContext.a2a_ov``): hidden per paired layer,
        # phase by phase; nothing on a key without it
        on = fw.dualpipev_ep_overlap or (fw.moe_a2a_overlap if c.a2a_ov is None else c.a2a_ov)
        moe_hide = 0.0
        if np.any(on):
            moe_hide = moe_mech.a2a_overlap_hidden(ml.a2a, fwd_g_attn + fwd_attn, ml.fwd_mlp, bwd_g_attn + bwd_attn,
                                                   ml.bwd_mlp, eff.sm_count, ml.a2a_extra)
            moe_hide = moe_hide if np.all(on) else np.where(on, moe_hide, 0.0)
        mb_moe_extra = eff.memory_time(ml.membound_bytes, hbm)
        moe_bwd_extra = eff.memory_time(ml.bwd_membound_bytes, hbm)  # the fused dgrad epilogue's read (moe.fused_mlp_bytes)
        # TEGroupedMLP's eager clamp / expert-bias ops, forward and backward as counted (moe.eager_expert_ops)
        moe_eager_f, moe_eager_b = (eff.memory_time(b, hbm) for b in (ml.eager.fwd_bytes, ml.eager.bwd_bytes))
        moe_act_eager = eff.memory_time(ml.eager.act_fwd_bytes, hbm) + ml.eager.syncs * moe_mech.MOE_SYNC_OPS * eff.launch_s
        moe_host = ml.host_ops
        moe_sync = ml.sync_s  # the dispatcher's device-to-host sync (moe.MOE_SYNC_OPS)
        # past that sync the host has no lead: what its ops there take beyond the GPU's work there is GPU idle
        # (moe.post_sync_exposed_s; the all-to-alls on the compute stream, as ep_fwd prices them), and the combine,
        # launched after the experts, cannot hide under the host's expert launches (its ops and all-to-all apart)
        moe_sync = moe_sync + np.where(moe_sync > 0, moe_mech.post_sync_exposed_s(
            moe_mech.post_sync_host_ops(ml.host_ops, fw) * eff.launch_s, ml.fwd_mlp + 2 * ml.a2a + mb_moe_extra
            + moe_eager_f, moe_mech.COMBINE_HOST_OPS * eff.launch_s, ml.a2a), 0.0)
        moe_shared = ml.fwd_shared
        # shared experts on their own stream beside the routed path (AutoModel's Stack.moe_shared_stream, Megatron-Core's
        # moe_shared_expert_overlap: moe.SHARED_STREAM_SCHEDULES): the dispatch and combine they hide in the forward
        # (and its recompute) and in the backward (moe.shared_stream_hidden)
        sched = moe_mech.shared_stream_schedule(fw)
        shared_hide_f, shared_hide_b = ((moe_mech.shared_stream_hidden(ml.a2a, *x, eff.sm_count, sched)
                                         for x in (ml.fwd_shared_fc, ml.bwd_shared_fc)) if sched else (0.0, 0.0))
    else:
        fwd_moe = bwd_moe = ep_comm_layer = mb_moe_extra = moe_host = moe_hide = moe_sync = moe_shared = 0.0
        shared_hide_f = shared_hide_b = 0.0
        moe_eager_f = moe_eager_b = moe_act_eager = moe_bwd_extra = 0.0
        ml = None
    return MoeBlock(fwd=fwd_moe, bwd=bwd_moe, ep_comm=ep_comm_layer, hide=moe_hide, mb_extra=mb_moe_extra,
                    bwd_extra=moe_bwd_extra, eager_f=moe_eager_f, eager_b=moe_eager_b, act_eager=moe_act_eager,
                    host_ops=moe_host, sync=moe_sync, shared=moe_shared, shared_hide_f=shared_hide_f,
                    shared_hide_b=shared_hide_b, layer=ml, tp_split=ml.tp_split if ml is not None else 0.0)


@dataclasses.dataclass(frozen=True, slots=True)
class LayerGemms:
    """The mean layer's GEMM seconds, forward and backward; ``parts`` (hybrid models only, else None) the
    (share, [(forward, backward) ...]) blocks the TP overlap splits into column and row GEMMs."""
    fwd: object
    bwd: object
    parts: object


def layer_gemms(c: LayerContext, m: ModelSpec, t: TrainingSpec, proj: AttentionProjections, dense_mlp: list, mam,
                moe: MoeBlock, sh: dict) -> LayerGemms:
    """The mean layer's GEMMs: dense and MoE layers weighted by their shares (hybrid: each layer one block of one
    kind, ssm.layer_shares), plus a frozen base's adapters (lora/qlora: peft's per-call deltas, finetune.py)."""
    moe_share = c.moe_share
    attn_proj = proj.gemms
    fwd_g_dense = proj.fwd + sum(p[0] for p in dense_mlp)
    bwd_g_dense = proj.bwd + sum(p[1] for p in dense_mlp)
    fwd_gemm = (1 - moe_share) * fwd_g_dense + moe_share * moe.fwd
    bwd_gemm = (1 - moe_share) * bwd_g_dense + moe_share * moe.bwd
    parts = None
    if m.hybrid:  # each layer one block: attention projections, dense MLP, MoE block or Mamba projections
        ml = moe.layer
        parts = [(sh["*"], attn_proj), (sh["-"], dense_mlp)] + ([(sh["M"], mam["proj"])] if mam else [])
        fwd_gemm, bwd_gemm = [sum(w * sum(p[i] for p in ps) for w, ps in parts)
                              + (moe_share * (ml.fwd_mlp, ml.bwd_mlp)[i] if m.moe is not None else 0.0) for i in (0, 1)]
    if frozen_base(m, t):  # lora/qlora: the adapters' GEMMs, peft's per-call deltas (finetune.py)
        gemm, T = c.gemm, c.T
        # adapters are plain linears at the training precision whatever the base's recipe (16-bit under fp8;
        # finetune.frozen_layer_gemms), fp32 over a bf16 base at precision fp32 (``adapter_rates``)
        ac = c if c.adapter_rates is None else dataclasses.replace(
            c, eff=c.adapter_rates[0], peak=c.adapter_rates[1], lin_peak=c.adapter_rates[1], act_b=c.adapter_rates[2])
        a16 = lambda M, N, K, **kw: ac.gemm(M, N, K, pk=ac.peak, b=float(ac.act_b), **kw)  # noqa: E731
        (fa_d, ba_d), (fa_m, ba_m) = (frozen_layer_gemms(m, t, k, T, c.tp, c.ep, c.etp, gemm, a16) for k in (False, True))
        fwd_gemm = fwd_gemm + (1 - moe_share) * fa_d + moe_share * fa_m
        bwd_gemm = bwd_gemm + (1 - moe_share) * ba_d + moe_share * ba_m
    return LayerGemms(fwd_gemm, bwd_gemm, parts)


@dataclasses.dataclass(frozen=True, slots=True)
class MemoryBound:
    """The layer's memory-bound seconds, forward (``fwd``) and backward (``bwd``), and DeepSpeed's partitioned
    checkpoint's: ``pa_fwd`` the input slice's clone (not in the re-run), ``pa_ag`` its all-gather (a TP
    collective, exposed)."""
    fwd: object
    bwd: object
    pa_fwd: object
    pa_ag: object


def memory_bound(c: LayerContext, m: ModelSpec, t: TrainingSpec, fw: Stack, ew: Elementwise, moe: MoeBlock,
                 sh: dict, rc) -> MemoryBound:
    """The layer's memory-bound work: the elementwise ops (``elementwise``) and the MoE dispatch's, backward
    ``BWD_MEMBOUND_FACTOR`` times the forward's; the stacks' own kernels (eager HF dropout and bias-gradient sums,
    GPT-NeoX's attention copies, the eager attention-sink rescale, DeepSpeed's partitioned checkpoint); a
    quantised base's dequantisation."""
    eff, hbm, act_b, T, tp, sp_div = c.eff, c.hbm, c.act_b, c.T, c.tp, c.sp_div
    h, g = m.hidden, c.g
    moe_share = c.moe_share
    mb_fwd = ew.fwd + moe_share * moe.mb_extra
    mb_bwd = BWD_MEMBOUND_FACTOR * mb_fwd + moe_share * (moe.eager_b + moe.bwd_extra)
    mb_fwd = mb_fwd + moe_share * moe.eager_f
    if ew.unfused and not m.hybrid:  # the eager HF code's own dropout kernels and bias-gradient reductions
        hf_f, hf_b = eager_hf_layer_bytes(m, act_b, bool(t.dropout), tp, sp_div, bias_grads=bool(c.wgrad),
                                          atp=c.atp, dtp=c.dtp, fwd_dropout=not fw.fused_residual_dropout)
        mb_fwd, mb_bwd = mb_fwd + eff.memory_time(T * hf_f, hbm), mb_bwd + eff.memory_time(T * hf_b, hbm)
    if fw.addmm_bias_copy and not m.hybrid:  # torch <= 1.11: each biased linear's bias copied into its output
        mb_fwd = mb_fwd + eff.memory_time(T * addmm_bias_copy_bytes(m, act_b, c.atp, c.dtp, sp_div), hbm)
    if fw.neox_attention:  # GPT-NeoX's partial-rotary re-joins and flash-path packing copies
        nx_f, nx_b = neox_attention_bytes(m, act_b, bool(t.flash_attention), tp)
        mb_fwd, mb_bwd = mb_fwd + eff.memory_time(T * nx_f, hbm), mb_bwd + eff.memory_time(T * nx_b, hbm)
    if m.attention_sinks and t.flash_attention and fw.attn_kernel in fw.sink_rescale_kernels and not fw.compile:
        # the sinks as an eager rescale of the kernel's output (NeMo AutoModel's and torchtitan's FlexAttention
        # paths), on the attention blocks' q-wide output; compiled blocks (torchtitan's per-block torch.compile)
        # fuse the four ops into one pointwise kernel, left unpriced (Stack.sink_rescale_kernels)
        sk_f, sk_b = SINK_RESCALES[fw.sink_rescale_form](act_b, m.q_dim / m.heads)
        out_el = T * m.q_dim / c.atp * sh["*"]  # on the attention's split (whole under an HF EP plan without it)
        mb_fwd, mb_bwd = mb_fwd + eff.memory_time(out_el * sk_f, hbm), mb_bwd + eff.memory_time(out_el * sk_b, hbm)
    if m.mla is not None and fw.mla_eager_cat and not fw.compile:  # MLA's eager q / k joins (NeMo AutoModel)
        mc_f, mc_b = mla_cat_bytes(m, act_b, m.heads / c.atp)
        mb_fwd, mb_bwd = mb_fwd + eff.memory_time(T * sh["*"] * mc_f, hbm), mb_bwd + eff.memory_time(T * sh["*"] * mc_b, hbm)
    # DeepSpeed's partitioned activation checkpoint (Stack.partition_activations, full recompute only): the input
    # slice cloned in the checkpoint call (not in its re-run, ``pa_fwd`` below), re-assembled in the backward
    pa_fwd = pa_ag = 0.0
    if fw.partition_activations:
        pa_f, pa_b = partitioned_checkpoint_bytes(h, act_b, tp, t.precision)
        full = rc == 2
        pa_fwd = np.where(full, eff.memory_time(T * pa_f, hbm), 0.0)
        mb_bwd = mb_bwd + np.where(full, eff.memory_time(T * pa_b, hbm), 0.0)
        comm_b = FP32_COMM_BYTES if t.precision == "bf16" else act_b
        pa_ag = np.where(full & (tp > 1), collective_time("all_gather", T * h * comm_b, tp, 1, g, *c.tp_links), 0.0)
    # qlora/int8 base: each pass dequantises the layer's weights to 16 bits (finetune.py)
    dq = eff.memory_time(dequant_bytes_per_layer(m, t) / tp, hbm)
    mb_fwd, mb_bwd = mb_fwd + dq, mb_bwd + dq
    return MemoryBound(mb_fwd, mb_bwd, pa_fwd, pa_ag)


@dataclasses.dataclass(frozen=True, slots=True)
class TpComm:
    """Exposed TP collective seconds of a forward (``fwd``) and backward (``bwd``) pass, and the GEMM slowdown of the
    collectives hidden under them (``slow_f``, ``slow_b``: NCCL's SMs, physics.tp_exposed)."""
    fwd: object
    bwd: object
    slow_f: object
    slow_b: object


def _moe_block_tp_allreduces(c: LayerContext, m: ModelSpec, fw: Stack):
    """The MoE block's TP all-reduces, as a share of a dense block's pair (1: Megatron-Core's row-parallel pair).
    An MoE MLP on the HF code has its all-reduce where the experts are split over TP or its shared
    experts are: none under DeepSpeed's AutoTP without shared experts, whose 3-D
    experts are whole on every rank (``Stack.tp_splits_experts``). Under AutoEP folded over AutoTP
    (``Stack.moe_ep_tp_fold``, EP > 1) the block has no row-parallel all-reduce: the restore's all-gather is priced
    with the dispatch (moe ``moe_layer``), its input gradient's average over TP is one T x h all-reduce backward (half
    of the forward + backward pair, spread over both passes, first order), and AutoTP's split shared experts add
    their own pair (deepspeed AutoTP._replace_autoep_shared_experts); transformers' AllToAllEP
    (``Stack.hf_plans``) has no average, its shared experts their TP plan's pair (none where the plan leaves them
    whole: Qwen2-MoE's, moe ``HF_TP_PLANS``)."""
    if m.moe is None:
        return 1.0
    moe_ar = 1.0
    if not getattr(fw, "tp_splits_experts", True):
        moe_ar = np.where((c.etp > 1) | (c.ep > 1) | bool(m.moe.shared_experts), 1.0, 0.0)
    if getattr(fw, "moe_ep_tp_fold", False):
        # the input gradient's average over TP where the stack has one (Stack.moe_ep_tp_grad_average: AutoEP's);
        # transformers' AllToAllEP none (its TP chunk's backward gather is priced with the dispatch)
        avg = 0.5 if getattr(fw, "moe_ep_tp_grad_average", False) else 0.0
        # the shared experts' own pair where the TP plan splits them (moe HF_TP_PLANS: Qwen2-MoE's stay whole)
        shared = float(bool(m.moe.shared_experts)) * (np.asarray(moe_mech.hf_ep_tp(m, fw, c.tp, c.ep, "shared_experts")) > 1)
        moe_ar = np.where(c.ep > 1, avg + shared, moe_ar)
    return moe_ar


def nccl_link(hw: HardwareOption) -> str:
    """NCCL's hop type inside this part's node (comm ``NCCL_LL_HOP_S``): "pci" where its GPUs talk over PCIe, else
    "nvlink"."""
    return "pci" if str(getattr(hw.gpu, "intra_node_link", "")).startswith("PCIe") else "nvlink"


def sp_amax_allreduces(c: LayerContext, m: ModelSpec, hw: HardwareOption, fw: Stack) -> PassTimes:
    """Transformer Engine's amax all-reduces of one layer under sequence parallelism (stack_kernels.LowPrecisionRecipe
    ``sp_amax_allreduce``: per-tensor current scaling and NVFP4, on a stack whose linears are TE's TP modules,
    ``Stack.te_tp_linears``): before quantising a column-parallel linear's input for its all-gather (forward) and a
    row-parallel linear's output gradient for its all-gather (backward), TE all-reduces the 4-byte amax over TP and
    the compute stream waits on it (``->wait()`` ahead of the cast): one small all-reduce each, at NCCL's latency
    (comm ``small_allreduce_time``, on NCCL's PCI step where the part's GPUs talk over PCIe, else its NVLink one),
    not hidden by TP comm overlap (it precedes the gather the overlap hides).
    One forward and one backward per column / row pair: the attention block's (QKV, out), the dense MLP's (FC1,
    FC2), a Mamba mixer's (in, out), a MoE block's shared experts' (Megatron-Core ``SharedExpertMLP`` is an ``MLP``
    of TE linears); the routed experts' ``TEGroupedLinear`` has none. Per mean layer from ``ssm.layer_shares``: 2 + 2
    a dense transformer layer, 1 + 1 a hybrid layer (one block) or a MoE layer without shared experts. None at TP 1,
    without SP, on the layers the recipe keeps 16-bit (``bf16_share``)."""
    if not (c.low and c.recipe.sp_amax_allreduce and getattr(fw, "te_tp_linears", False)):
        return PassTimes(0.0, 0.0)
    sh = ssm.layer_shares(m)
    shared = float(bool(m.moe.shared_experts)) if m.moe is not None else 0.0
    pairs = sh["*"] + sh["M"] + sh["-"] + sh["E"] * shared
    link = nccl_link(hw)
    t = np.where(np.asarray(c.sp, dtype=bool) & (c.tp > 1), small_allreduce_time(c.tp, 1, c.g, link), 0.0)
    t = t * pairs * (1.0 - c.bf16_share)
    return PassTimes(t, t)


def sp_gather_bytes(c: LayerContext, fw: Stack) -> float:
    """Bytes per element of a layer's sequence-parallel TP all-gathers (a column-parallel linear's input forward, a
    row-parallel linear's output gradient and the wgrad's re-gathered input backward): the recipe's quantised
    element (``LowPrecisionRecipe.saved_bytes``: 1 B per-tensor FP8, 1 + 1/32 MXFP8, 1 + 4/128 block-wise, 0.5 +
    1/16 NVFP4) where the stack's TP linears quantise before they gather (``Stack.quantised_tp_gathers``: TE's TP
    modules, torchao's float8 TP plans), else the 16-bit activation's. The reduce-scatters carry the GEMMs' 16-bit
    outputs whatever the recipe. Until fp8tp54 every gather was priced 16-bit (bw54 found TE sends 1 B)."""
    if c.low and c.recipe.name in getattr(fw, "quantised_tp_gathers", ()):
        return c.recipe.saved_bytes
    return c.act_b


def sp_gather_allreduce(c: LayerContext, m: ModelSpec, fw: Stack, tp_ar):
    """The T x h TP all-reduce seconds that ``tp_comm`` scales into a pass's all-gathers, at the gathers' own width:
    under SP an all-reduce of T x h ``sp_gather_bytes`` elements (mixed with ``tp_ar``, the activation width's, by the
    share of the layers the recipe keeps 16-bit, ``bf16_share``); ``tp_ar`` itself without SP or where the width is
    the activation's. The reduce-scatters keep ``tp_ar``."""
    gather_b = sp_gather_bytes(c, fw)
    if gather_b == c.act_b:
        return tp_ar
    q = collective_time("all_reduce", c.T * m.hidden * gather_b, c.tp, 1, c.g, *c.tp_links)
    return np.where(np.asarray(c.sp, dtype=bool), c.bf16_share * tp_ar + (1.0 - c.bf16_share) * q, tp_ar)


def per_linear_tp_inputs(c: LayerContext, m: ModelSpec, fw: Stack, sh: dict):
    """The column-parallel inputs a mean layer gathers beyond the one a block a plan with ``PrepareModuleInput``
    gathers, where each column-parallel linear redistributes its own input (``Stack.tp_gather_per_linear``:
    KempnerForge's ``ColwiseParallel(input_layouts=Shard(1))`` on q, k, v, gate and up): 2 in an attention block
    (q / k / v separate; none where the stack fuses them, ``Stack.fused_qkv``, or for MLA's projections, left at the
    block's one) and 1 in a gated dense MLP, on the blocks its TP splits, weighted by the layer's block shares
    (``sh``: ssm.layer_shares; the MoE blocks' experts are not column-parallel linears). Each is one more all-gather
    forward under SP (merged by a compiled step's CSE) and one more reduce-scatter of its input gradient backward
    (without SP: one more all-reduce). 0 elsewhere."""
    if not getattr(fw, "tp_gather_per_linear", False):
        return 0.0
    attn = 0.0 if (fw.fused_qkv or m.mla is not None) else 2.0
    mlp = 1.0 if m.gated else 0.0
    return (attn * sh["*"] * np.where(c.atp < c.tp, 0.0, 1.0)
            + mlp * sh["-"] * np.where(c.dtp < c.tp, 0.0, 1.0))


def per_linear_tp_collectives(c: LayerContext, m: ModelSpec, fw: Stack, sh: dict, tp_ar, scale) -> PassTimes:
    """Exposed seconds (forward, backward) of the collectives a plan whose column-parallel linears each gather their
    own input adds (``per_linear_tp_inputs`` of them, ``scale`` the un-overlapped share ``tp_comm`` keeps): one
    T x h all-gather each forward under SP (eager only: compiled, AOTAutograd's CSE merges the identical gathers) and
    one reduce-scatter (no SP: all-reduce) of each one's input gradient backward, plain DTensor collectives the
    compute waits on. ``tp_ar``: the layer's T x h all-reduce seconds."""
    extra = per_linear_tp_inputs(c, m, fw, sh) * scale
    if not np.any(np.asarray(extra) > 0):
        return PassTimes(0.0, 0.0)
    sp_on = np.asarray(c.sp, dtype=bool)
    gather = 0.0 if fw.compile else sp_gather_allreduce(c, m, fw, tp_ar) / 2.0
    return PassTimes(extra * np.where(sp_on, gather, 0.0), extra * np.where(sp_on, tp_ar / 2.0, tp_ar))


def tp_comm(c: LayerContext, m: ModelSpec, hw: HardwareOption, fw: Stack, tp_comm_overlap: float,
            attn_proj: list, dense_mlp: list, parts, sh: dict, blocks: float, pa_ag) -> TpComm:
    """TP: 2 all-reduces forward, 2 backward, of T*h activations (RS+AG under SP: the all-gathers at
    ``sp_gather_bytes``, quantised under FP8 where the stack's TP sends them so, the reduce-scatters 16-bit);
    with TE comm overlap / async TP hidden under the GEMMs they feed (physics.tp_exposed); without,
    Megatron-Core's column linears still hide their backward collectives (physics.tp_exposed_async_bwd)."""
    eff, act_b, T, tp, sp, g, wgrad = c.eff, c.act_b, c.T, c.tp, c.sp, c.g, c.wgrad
    intra_bw, inter_bw, a_in, a_out = c.tp_links
    h, q, kv = m.hidden, m.q_dim, m.kv_dim
    tp_ar = collective_time("all_reduce", T * h * act_b, tp, 1, g, intra_bw, inter_bw, a_in, a_out)
    tp_mode = physics.tp_overlap_mode(fw.tp_overlap, hw.gpu.name) if tp_comm_overlap == 0.0 else "none"
    # the blocks split over TP: an HF EP plan that leaves attention (and the dense MLP) whole has no all-reduce for
    # them, the experts' ``moe_tp_experts`` all-reduce stays (LayerContext.atp / dtp; until hfep34 both priced)
    dense_split = np.where(c.atp < tp, 0.0, 1.0) + (1.0 - c.moe_share) * np.where(c.dtp < tp, 0.0, 1.0)
    split = (dense_split + c.moe_share * _moe_block_tp_allreduces(c, m, fw)) / 2.0
    half = tp_ar * (1 - tp_comm_overlap) * blocks * split  # the reduce-scatters (all-gathers) of one pass
    # the all-gathers at the width the stack's TP linears send them (the MoE block's: its dispatcher's, 16-bit)
    ag = half + (sp_gather_allreduce(c, m, fw, tp_ar) - tp_ar) * (1 - tp_comm_overlap) * blocks * dense_split / 2.0
    col_f, row_f = attn_proj[0][0] + dense_mlp[0][0], attn_proj[1][0] + dense_mlp[1][0]
    col_b, row_b = attn_proj[0][1] + dense_mlp[0][1], attn_proj[1][1] + dense_mlp[1][1]
    if m.hybrid:  # the mean layer's column / row GEMMs (``LayerGemms.parts``; the MoE block's hide nothing here)
        (col_f, col_b), (row_f, row_b) = [[sum(w * ps[j][i] for w, ps in parts) for i in (0, 1)] for j in (0, 1)]
    # backward: the gradient all-gathers overlap the row-parallel dgrads, the reduce-scatters of
    # the column-parallel dgrads overlap their wgrads (TE "bulk"/ring methods). Under SP TE also re-gathers each
    # column-parallel input for its wgrad (layernorm_linear.py / linear.py ``ctx.ln_out_needs_gather``; under
    # userbuffers a "bulk" all-gather beside the dgrad GEMM, ``tp_comm_bulk_dgrad``, Megatron-Core's default): the
    # async NCCL path prices it (physics.tp_exposed_async_bwd), "te" does not. Priced (2026-12-03, validate.py)
    # it always hides under the dgrad and costs only the bulk method's 16 SMs: dgxc median 4.8 -> 5.1%, p90
    # 10.4 -> 11.3% (nemo2407 4.3 -> 4.1, dgxc GB200 13.7 -> 13.2); with the bulk reduce-scatter's chunk term
    # dropped too (the full bulk model): dgxc 4.8 -> 4.6 but dgxc GB200 13.7 -> 14.2, nemo2407 4.3 -> 4.6 --
    # neither taken. Nor is the legacy stacks' re-gather (Megatron-LM's 2022 layers.py gathers too; tp_bwd_async
    # off, so exposed): kor22 median 2.3 -> 1.1%, but production's LLaMA-65B row +25.7 -> +29.5% (p90 24.5 -> 26.8)
    def tp_passes(mode):
        f, sf = physics.tp_exposed(ag, half, col_f, row_f, tp, mode, eff.sm_count)
        if mode == "none" and fw.tp_bwd_async:  # NCCL, issued async under the column GEMMs
            return (f, sf, *physics.tp_exposed_async_bwd(ag, half, col_b, tp, sp, eff.sm_count, wgrad=wgrad))
        return (f, sf, *physics.tp_exposed(ag, half, row_b, col_b, tp, mode, eff.sm_count))

    tp_fwd, slow_f, tp_bwd, slow_b = tp_passes(tp_mode)
    if tp_mode == "te":
        # TE's userbuffers split the sequence-parallel all-gather / reduce-scatter: without SP there is no
        # overlap. Megatron-LM arguments.py asserts "Tensor parallel communication/GEMM overlap can happen
        # only when sequence parallelism is enabled"; Megatron-Bridge / NeMo comm_overlap.py turn it off
        # ("Disabling tensor parallel communication overlap due to sequence_parallel=False")
        tp_fwd, slow_f, tp_bwd, slow_b = (np.where(sp, a, b) for a, b in zip((tp_fwd, slow_f, tp_bwd, slow_b),
                                                                           tp_passes("none")))
    if m.mla is None and m.kv_heads:
        # more TP ranks than KV heads (Megatron-Core only: the other stacks refuse it, stack_rules *-kv-heads):
        # megatron/core/transformer/attention.py's num_query_groups < world_size branch all-gathers each rank's
        # QKV output over TP and reslices its shared KV head (get_query_key_value_tensors) -- one more
        # all-gather forward and its reduce-scatter backward, a plain NCCL call between the QKV GEMM and the
        # attention (exposed), on the attention layers
        qkv_ag = sh["*"] * np.where(tp > m.kv_heads, collective_time(
            "all_gather", T * (q + 2 * kv) * act_b, tp, 1, g, intra_bw, inter_bw, a_in, a_out), 0.0)
        tp_fwd, tp_bwd = tp_fwd + qkv_ag, tp_bwd + qkv_ag
    tp_bwd = tp_bwd + pa_ag  # the partitioned checkpoint's all-gather, a plain NCCL call before the re-run (exposed)
    own = per_linear_tp_collectives(c, m, fw, sh, tp_ar, 1 - tp_comm_overlap)  # (0 but KempnerForge's plan)
    tp_fwd, tp_bwd = tp_fwd + own.fwd, tp_bwd + own.bwd
    amax = sp_amax_allreduces(c, m, hw, fw)  # TE's amax all-reduces ahead of the SP gathers' casts (exposed)
    return TpComm(tp_fwd + amax.fwd, tp_bwd + amax.bwd, slow_f, slow_b)


@dataclasses.dataclass(frozen=True, slots=True)
class CpComm:
    """Exposed CP exchange seconds (``fwd``, ``bwd``) and the ring steps' merge of partial outputs / gradients
    (``merge_f``, ``merge_b``: memory-bound, counted with the attention core)."""
    fwd: object
    bwd: object
    merge_f: object
    merge_b: object


def cp_comm(c: LayerContext, m: ModelSpec, fw: Stack, attn: PassTimes, sh: dict, mam) -> CpComm:
    """CP: the exchange of ``Stack.cp_kind`` (``cp_exchange_times``) and the ring steps' merge of partial outputs;
    hybrid models: on the attention layers, plus the Mamba layers' all-to-alls (ssm.mamba_layer)."""
    eff, hbm, act_b, T, tp, cp = c.eff, c.hbm, c.act_b, c.T, c.tp, c.cp
    q, kind = m.q_dim, fw.cp_kind
    # (stacks that expand grouped K/V heads before the attention call exchange the expanded tensors)
    kv_width = 2 * (q if fw.repeats_kv_heads else m.kv_dim) / tp
    cp_fwd, cp_bwd = cp_exchange_times(c, m, fw, attn, T * kv_width * act_b)
    # each ring step's partial output (forward) and gradients (backward) are merged into the
    # running ones: memory-bound work per step, and the loop's host ops per step
    # (PyTorch's ring keeps its running buffers in fp32: physics.torch_ring_merge_bytes); a2a+p2p's ring runs
    # cp / a2a steps over a2a x the tokens on heads / a2a: the same bytes a step
    merge = physics.torch_ring_merge_bytes if kind == "allgather" else physics.cp_merge_bytes
    steps = cp / cp_a2a_degree(c, m) if kind == "te_a2a_p2p" else cp
    cp_mb_f, cp_mb_b = merge(T, q / tp, kv_width, act_b, steps)
    cp_mb_f, cp_mb_b = eff.memory_time(cp_mb_f, hbm), eff.memory_time(cp_mb_b, hbm)
    if kind in ("a2a", "te_a2a", "te_allgather"):  # one call over its keys a chunk: no partial outputs to merge
        cp_mb_f, cp_mb_b = 0.0 * cp_mb_f, 0.0 * cp_mb_b
    if m.hybrid:  # the ring runs on the attention layers; the Mamba layers' all-to-alls (ssm.mamba_layer)
        cp_fwd, cp_bwd, cp_mb_f, cp_mb_b = (sh["*"] * x for x in (cp_fwd, cp_bwd, cp_mb_f, cp_mb_b))
        if mam:
            cp_fwd, cp_bwd = cp_fwd + sh["M"] * mam["cp_fwd"], cp_bwd + sh["M"] * mam["cp_bwd"]
    return CpComm(cp_fwd, cp_bwd, cp_mb_f, cp_mb_b)


def cp_a2a_degree(c: LayerContext, m: ModelSpec):
    """The a2a group of Megatron-Core's a2a+p2p CP at these layouts (comm.hierarchical_cp_a2a)."""
    return hierarchical_cp_a2a(c.cp, c.tp, c.g, m.heads or 1, m.kv_heads or m.heads or 1)


def cp_exchange_times(c: LayerContext, m: ModelSpec, fw: Stack, attn: PassTimes, kv_bytes):
    """Exposed CP exchange seconds of one layer (forward, backward) for ``Stack.cp_kind``:

    * "p2p" (TE AttnFuncWithCPAndKVP2P): a ring of cp - 1 K/V hops forward, K/V and dK/dV backward, each hidden
      under a step's attention where it fits (physics.cp_exposed);
    * "allgather" (PyTorch context_parallel): K/V all-gathered once per pass; dK/dV go round cp fp32 permute hops
      (comm.torch_ring_calls' loop), priced as the all-gather's bytes again, all exposed (an upper bound);
    * "te_allgather" (TE AttnFuncWithCPAndKVAllGather, "KV all-gather between CP ranks is exposed"): forward
      ``gather_along_first_dim`` of K and V before the two chunks' attention; backward gathers them again and
      ``reduce_scatter_along_first_dim``-s dK/dV: one all-gather forward, two collectives of its bytes backward;
    * "a2a" (DeepSpeed ALST UlyssesSPAttentionHF) and "te_a2a" (TE AttnFuncWithCPAndQKVOA2A,
      ``flash_attn_a2a_communicate``): all-to-alls of q, k, v from [s/cp, all heads] to [s, heads/cp] before the
      kernel and of the output after it, the transposed four in backward, the kernel waiting on them (exposed).
      DeepSpeed repeats KV heads fewer than cp up to cp (kv_replication_factor); TE asserts they divide
      (rule mcore-cp-a2a-heads);
    * "te_a2a_p2p" (TE AttnFuncWithCPAndKVP2P with ``cp_group`` [a2a, p2p]): the a2a step inside a node-local group
      of ``cp_a2a_degree`` ranks (exposed), then the p2p ring over the cp / a2a groups across nodes on the same
      K/V bytes a hop (a2a x the tokens on heads / a2a), hidden under each of its steps' attention."""
    tp, cp, g, T, act_b = c.tp, c.cp, c.g, c.T, c.act_b
    _, inter_bw, a_in, a_out = c.links
    kind, q, kv = fw.cp_kind, m.q_dim, m.kv_dim
    if kind in ("allgather", "te_allgather"):
        cp_step = collective_time("all_gather", kv_bytes * cp, cp, tp, g, c.shape_bw(cp, tp, "ring"), inter_bw, a_in,
                                  a_out)
        return np.where(cp > 1, cp_step, 0.0), np.where(cp > 1, 2 * cp_step, 0.0)
    a2a_n = cp if kind in ("a2a", "te_a2a") else (cp_a2a_degree(c, m) if kind == "te_a2a_p2p" else 1)
    hd = q / (m.heads or 1)
    kv_a2a = np.maximum(kv / hd, cp) * hd if (kind == "a2a" and m.kv_heads) else kv
    if np.ndim(a2a_n) == 0 and a2a_n <= 1:  # the p2p ring alone: no all-to-all, its two collectives not priced
        a2a = np.zeros(np.broadcast_shapes(np.shape(T), np.shape(tp)))
    else:
        a2a_bw = c.shape_bw(a2a_n, tp, "all_to_all")  # the a2a group's per-pair sends on its node's links
        a2a = (2 * collective_time("all_to_all", T * q / tp * act_b, a2a_n, tp, g, a2a_bw, inter_bw, a_in, a_out)
               + 2 * collective_time("all_to_all", T * kv_a2a / tp * act_b, a2a_n, tp, g, a2a_bw, inter_bw, a_in,
                                     a_out))
        a2a = np.where(np.asarray(a2a_n) > 1, a2a, 0.0)
    if kind in ("a2a", "te_a2a"):
        return np.where(cp > 1, a2a, 0.0), np.where(cp > 1, a2a, 0.0)
    ring = cp / a2a_n  # the p2p ring's ranks: every a2a_n-th CP rank, tp x a2a_n apart in Megatron's rank order
    hop = ring_hop_time(kv_bytes, ring, tp * a2a_n, g, c.shape_bw(ring, tp * a2a_n, "p2p"), inter_bw, a_in, a_out)
    return (a2a + physics.cp_exposed(hop, attn.fwd, ring),
            a2a + physics.cp_exposed(2 * hop, attn.bwd, ring, end_comm=hop))


@dataclasses.dataclass(frozen=True, slots=True)
class SyncIdle:
    """GPU idle seconds at host syncs in one layer's forward: ``moe`` the MoE dispatcher's (per MoE layer), ``fwd``
    the mean layer's, with the layer-boundary syncs."""
    moe: object
    fwd: object


def sync_idle(c: LayerContext, m: ModelSpec, fw: Stack, graphs, moe: MoeBlock, rc) -> SyncIdle:
    """GPU idle at the MoE dispatcher's device-to-host sync (moe.MOE_SYNC_OPS) and at a layer-boundary sync
    (``Stack.sync_each_layer``, full recompute). A full-iteration CUDA graph needs the sync-free MoE, and a captured
    MoE block is drop-and-pad: neither has the dispatcher's sync."""
    moe_share = c.moe_share
    moe_sync = 0.0 if graphs & {"full_iteration", "moe"} else moe.sync
    # Stack.sync_each_layer: each checkpointed layer's forward call, and its backward call (which re-runs that
    # forward), starts from a queue the previous call's closing torch.cuda.synchronize() drained: the GPU idles for
    # the wake and the next launch, priced as the dispatcher's sync (moe.MOE_SYNC_OPS). Within the call the host
    # runs ahead of the GPU again (CUDA launches stay asynchronous), so the layer is still max(host, GPU) plus
    # this gap -- not host + GPU. The two sync calls meeting at each boundary count as one gap; the
    # checkpoint wrapper's own Python between them is not counted (no sourced figure).
    layer_sync = np.where(rc == 2, moe_mech.MOE_SYNC_OPS * c.eff.launch_s, 0.0) if fw.sync_each_layer else 0.0
    return SyncIdle(moe_sync, moe_share * moe_sync + layer_sync)


def host_dispatch(c: LayerContext, m: ModelSpec, fw: Stack, graphs, blocks: float, sh: dict, mam,
                  moe_host_ops):
    """Host seconds dispatching one layer's forward: the ops of the layer's attention and MLP halves, one TP
    collective's each (a hybrid layer is one block with half a layer's ops), the CP ring's per-step ops, the MoE
    block's apart (moe.MOE_GRAPH_OPS), at ``Efficiency.launch_s`` each; a CUDA-graph-captured part costs one graph
    launch (stacks.cuda_graph_host_ops)."""
    tp, cp = c.tp, c.cp
    moe_share = c.moe_share
    # host ops of the layer's attention and MLP halves, one TP collective's each (a hybrid layer is one block with
    # half a layer's ops); the MoE block's apart (moe.MOE_GRAPH_OPS)
    layer_host, tp_ops = fw.layer_host_ops * fw.host_ops_scale * blocks, np.where(tp > 1, fw.tp_ops * blocks, 0.0)
    moe_r, moe_p = (moe_mech.MOE_GRAPH_OPS[k] if m.moe is not None else 0.0 for k in ("moe_router", "moe_preprocess"))
    return cuda_graph_host_ops(
        graphs, attn=layer_host * ATTN_OPS_SHARE + tp_ops + np.where(cp > 1, cp * physics.CP_STEP_HOST_OPS, 0.0),
        mlp=layer_host * (1 - ATTN_OPS_SHARE) + tp_ops, moe_router=moe_r, moe_preprocess=moe_p,
        moe_rest=moe_host_ops - moe_r - moe_p, moe_share=moe_share, hybrid=sh if m.hybrid else None,
        mamba=ssm.MAMBA_HOST_OPS * fw.host_ops_scale + 2 * tp_ops if mam else None) * c.eff.launch_s


def early_stop_skip(c: LayerContext, m: ModelSpec, fw: Stack, sh: dict, dense_mlp: list):
    """Forward GEMM seconds a whole-layer recompute does not re-run: under PyTorch's non-reentrant checkpoint it
    stops as soon as the last tensor the backward reads is saved again (Stack.recompute_early_stop): the dense MLP's
    down projection saves its inputs before its GEMM runs, so that GEMM, the layer's last, is not re-run (MoE
    layers: the grouped-GEMM Functions save after their GEMMs, so no GEMM is skipped; the DeepEP combine that ends the
    block is, moe.rerun_combine_skip). An eager FP8 linear is an autograd Function that saves after its GEMM:
    skipped only when compiled."""
    moe_share = c.moe_share
    return ((sh["-"] if m.hybrid else 1 - moe_share) * dense_mlp[1][0]
            if fw.recompute_early_stop and (fw.compile or not c.low) else 0.0)


def remat_policy_skip(c: LayerContext, m: ModelSpec, fw: Stack, proj, dense_mlp: list):
    """Forward GEMM seconds MaxText's full-recompute re-run does not repeat: the GEMMs whose outputs its remat policy
    saves, on the chip or the host (``Stack.remat_policy``; stacks.remat_locations): ``jax.checkpoint``'s partial
    evaluation keeps a saved name's value as a residual and re-runs only what the backward still needs from the rest
    (JAX ``jax.checkpoint`` policies, ``save_only_these_names``), so a saved q / k / v projection skips its share of
    the fused column GEMM (by output width), a saved ``out_proj`` / ``mlpwo`` their GEMMs, ``mlpwi_0`` / ``mlpwi_1``
    each half of the gated up GEMM (dense layers; the experts' GEMMs are not skipped). The norm and attention core
    feeding a saved GEMM's weight gradient still re-run (their outputs are not saved). 0 on every other stack."""
    remat = stack_remat(fw)
    if remat is None or m.mla is not None or m.hybrid:
        return 0.0
    saved = remat_saved(remat)

    qkv, o = proj.gemms[0][0], proj.gemms[1][0]
    attn = (qkv * (m.q_dim * saved["query_proj"] + m.kv_dim * (saved["key_proj"] + saved["value_proj"]))
            / (m.q_dim + 2 * m.kv_dim) + o * saved["out_proj"])
    up = (saved["mlpwi_0"] + saved["mlpwi_1"]) / 2 if m.gated else saved["mlpwi"]
    return attn + (1 - c.moe_share) * (dense_mlp[0][0] * up + dense_mlp[1][0] * saved["mlpwo"])


@dataclasses.dataclass(frozen=True, slots=True)
class SelectiveRecompute:
    """Seconds one layer's backward spends re-running forward work under selective recompute (rc 1), by kind
    (``gemm``, ``attn``, ``membound``, ``tp``, ``ep``); ``cp_share`` the share of the CP exchange re-run with the
    attention core; ``whole`` the share of layers re-run whole (torchtitan layer SAC: the full re-run's terms)."""
    gemm: object
    attn: object
    membound: object
    tp: object
    ep: object
    cp_share: float
    whole: float


def selective_recompute(c: LayerContext, m: ModelSpec, t: TrainingSpec, fw: Stack, sel_share, *, fwd_gemm,
                        fwd_attn, mb_fwd, kern_s, tp_fwd, dense_mlp: list, proj: AttentionProjections,
                        moe: MoeBlock, moe_sync, ew: Elementwise) -> SelectiveRecompute:
    """What "selective" re-runs is the stack's (Stack.selective): the attention core (Megatron), the GEMM share
    per-op SAC re-runs plus the elementwise ops (torchtitan saves the output of every second mm and of attention:
    flops.op_sac_recompute_share, the count HFU adds; until 2026-12-03 half of the GEMM time; without flash the
    math path's attention core too, flops.OpSacBlock.core_rerun, until 2026-12-03 left out), or each ac_freq-th
    layer whole (torchtitan layer SAC: ``sel_share``); Megatron-Core's ``recompute_modules`` each module's forward
    once more (``_module_recompute``)."""
    eff, hbm, T, tp, sp_div = c.eff, c.hbm, c.T, c.tp, c.sp_div
    h, f, fd = m.hidden, m.ffn_hidden, m.dense_width
    op_core = float(op_sac_block(m, fused_qkv=fw.fused_qkv, flash=bool(t.flash_attention)).core_rerun)
    sel_gemm, sel_attn, sel_mb, sel_whole = {
        "attention_core": lambda: (0.0, 1.0, 0.0, 0.0),
        "op": lambda: (op_sac_recompute_share(m, fw.fused_qkv), op_core, 1.0, 0.0),
        "layer": lambda: (0.0, 0.0, 0.0, sel_share),
    }[fw.selective]()
    sel_g, sel_a, sel_m, sel_c, sel_ep = sel_gemm * fwd_gemm, sel_attn * fwd_attn, sel_mb * (mb_fwd + kern_s), 0.0, 0.0
    sel_cp = sel_attn
    if fw.module_recompute:  # Megatron-Core ``recompute_modules``: each module's forward once more
        mods = recompute_modules(t, fw, m)
        sel_g, sel_a, sel_m, sel_c, sel_ep = _module_recompute(
            mods, m, fwd_attn=fwd_attn, dense_mlp=sum(p[0] for p in dense_mlp),
            moe=moe.fwd - proj.fwd, shared=moe.shared, mla_up=proj.mla_up_fwd, moe_mb=moe.mb_extra + moe.eager_f + moe_sync,
            moe_act_extra=moe.act_eager,
            a2a=moe.ep_comm / 2, tp_fwd=tp_fwd, mem=lambda b: eff.memory_time(T * b, hbm),
            norm_b=ew.norm_b * h / sp_div, act_b=ew.act_fn_b * f / tp, dense_act_b=ew.act_fn_b * fd / tp,
            fused_norm=fw.te_linears)
        sel_cp = 1.0 if "core_attn" in mods else 0.0
    return SelectiveRecompute(sel_g, sel_a, sel_m, sel_c, sel_ep, sel_cp, sel_whole)


@dataclasses.dataclass(frozen=True, slots=True)
class Head:
    """The last stage's logits and loss, per micro-batch: ``fwd``/``bwd`` passes (host or GPU bound), ``gemm`` the
    logits GEMM's seconds in both."""
    fwd: object
    bwd: object
    gemm: object


def whole_vocab_loss(fw: Stack, code: str, act_b) -> tuple[bool, float]:
    """(whether the loss runs on the whole vocabulary under TP, the bytes a logit of the all-gather before it).
    AutoModel's ``MaskedCrossEntropy`` codes (``GATHERED_CE``) call ``logits.full_tensor()`` -- of the fp32 copy where
    it upcasts first (masked_ce.py: ``logits.float()`` precedes it unless chunked); a torch DTensor plan without loss
    parallel (``Stack.loss_parallel`` off: torchtitan's ``disable_loss_parallel``, KempnerForge's head) gathers the
    head's 16-bit output to ``Replicate()`` and runs the stack's loss on all of it. Else the rank's shard, no gather."""
    if code in GATHERED_CE:
        return True, 4.0 if code == "masked_ce" else float(act_b)
    return (not getattr(fw, "loss_parallel", True)), float(act_b)


def lm_head(c: LayerContext, m: ModelSpec, t: TrainingSpec, fw: Stack, graphs) -> Head:
    """The last stage's logits GEMM and cross-entropy (memory-bound over T x V/tp, fp32 math, cross_entropy_bytes),
    on the positions the head runs on (``TrainingSpec.head_tokens_per_seq``: BERT's masked ones)."""
    eff, hbm, peak, act_b, combine = c.eff, c.hbm, c.peak, c.act_b, c.combine
    # the TP plan's head (moe ``HfTpPlan.lm_head``: colwise_gather_output in every family; whole on every rank under
    # an older revision's EP plan from hfep35 until hfep52)
    tp = moe_mech.hf_ep_tp(m, fw, c.tp, c.ep, "lm_head")
    # the rank's logits (activations.rank_logits, the one count): the head's positions (BERT's masked ones) x V / tp
    lg = rank_logits(m, c.seq, c.mb, tp, c.cp, head_seq=fw.head_seq(t))  # the stack's rule (Stack.head_seq)
    T_head, tp = lg.tokens, lg.tp
    lg_f, lg_b = c.gemm(T_head, lg.vocab / tp, m.hidden, peak, float(act_b))  # the LM head stays 16-bit
    # the dense before the output linear (``head_dense_macs``: a classifier's pooler, BERT's MLM transform; FLOPs count
    # it, flops ``linear_flops_per_token["logits"]``) on the same positions, whole on every rank (no TP plan names
    # it), and its activation (the pooler's tanh, the transform's GELU): read + write forward, three passes backward
    dense, dn_f, dn_b = head_dense_macs(m) / m.hidden, 0.0, 0.0
    if dense:
        dn_f, dn_b = c.gemm(T_head, dense, m.hidden, peak, float(act_b))
        act = T_head * dense * float(act_b)
        dense_f, dense_b = dn_f + eff.memory_time(2 * act, hbm), dn_b + eff.memory_time(3 * act, hbm)
    else:
        dense_f = dense_b = 0.0
    fused = bool(getattr(fw, "fused_cross_entropy", False)) and liger_patches(m)
    code = getattr(fw, "loss_code", "")
    per_logit = (tuple(f(act_b) for f in AUTOMODEL_CE_BYTES[code]) if code in AUTOMODEL_CE_BYTES
                 else cross_entropy_bytes(act_b, fw.ce_runs_unfused, fused))
    whole, gathered_b = whole_vocab_loss(fw, code, act_b)
    ce_logits = lg.gathered if whole else lg.shard
    ce_f, ce_b = (eff.memory_time(ce_logits * b, hbm) for b in per_logit)
    if whole:  # the gather the loss waits on (``whole_vocab_loss``); its backward is a local slice
        ce_f = ce_f + np.where(tp > 1, collective_time("all_gather", lg.gathered * gathered_b, tp, 1, c.g,
                                                       *c.tp_links), 0.0)
    head_host = 0.0 if "full_iteration" in graphs else fw.head_ops * eff.launch_s
    head_host_b = BWD_HOST_FACTOR * head_host
    if fused:  # Liger's chunk loop: FLCE_OPS_PER_CHUNK launches per chunk (activations_hf.liger_chunk_tokens)
        chunks = np.ceil(T_head / liger_chunk_tokens(lg.vocab, m.hidden, np.maximum(T_head, 1.0)))
        head_host = head_host + FLCE_OPS_PER_CHUNK * chunks * eff.launch_s
        head_host_b = BWD_HOST_FACTOR * head_host
    if code == "masked_ce_chunked" and "full_iteration" not in graphs:  # the chunk loop's launches, each pass its own
        chunks = np.ceil(T_head / float(fw.ce_chunk_size))
        head_host = head_host + CHUNKED_CE_OPS_PER_CHUNK[0] * chunks * eff.launch_s
        head_host_b = head_host_b + CHUNKED_CE_OPS_PER_CHUNK[1] * chunks * eff.launch_s
    if code == "linear_ce":  # Cut Cross-Entropy recomputes the logits tile by tile in its backward: one more head GEMM
        lg_b = lg_b + lg_f
    if fw.vocab_tiles(m) > 1:  # MaxText's vocabulary tiling: the custom VJP's backward scan re-runs
        # each tile's logits GEMM and cross-entropy under jax.vjp (vocabulary_tiling.py ``_bwd_scan_body``)
        lg_b, ce_b = lg_b + lg_f, ce_b + ce_f
    head_fwd = combine(dense_f + lg_f + ce_f, head_host)
    head_bwd = combine(dense_b + lg_b + ce_b, head_host_b)
    return Head(head_fwd, head_bwd, dn_f + dn_b + lg_f + lg_b)


def mtp_projection(c: LayerContext, m: ModelSpec) -> PassTimes:
    """Multi-token prediction (DeepSeek-V3 §2.2; Megatron-Core multi_token_prediction.py, placed
    with the loss on the last stage, pp_layout "...mL"): per module the eh_proj GEMM
    (column-parallel), one transformer block (the model's layer), its own logits and loss
    through the shared output head — ``step_time`` counts the block as a layer and the head as
    a head of the last stage; here the projection (16-bit where ``mtp_runs_16bit``)."""
    pm, pn, pk = moe_mech.mtp_gemm_shapes(c.T, m.hidden)
    return PassTimes(*c.gemm(pm, pn / c.tp, pk, s16=c.mtp_share))


def te_reentrant_rerun(c: LayerContext, rc) -> LayerContext:
    """``c`` with ``rerun16`` set where a full recompute (``rc`` 2) re-runs the stack's Transformer Engine fp8 linears
    16-bit under torch's reentrant checkpoint (stack_kernels ``te_recompute_runs`` "16bit": HF Trainer with
    ``use_reentrant: true``, accelerate's TE recipe): the forward stays fp8, the recompute and the backward built from
    it run unquantised (TE module/base.py ``init_fp8_metadata`` outside ``fp8_autocast``; linear.py ``ctx.fp8``)."""
    if not (c.low and te_recompute_runs(c.fw, c.fw.fp8_recipe) == "16bit"):
        return c
    return dataclasses.replace(c, rerun16=np.where(np.asarray(rc) == 2, 1.0, 0.0))


def layer_terms(m: ModelSpec, t: TrainingSpec, hw: HardwareOption, fw: Stack, tp, cp, ep, mb, sp, rc,
                 tp_comm_overlap: float, causal_kernels: bool, etp=None, bf16_share=None, graph_parts=None,
                 sel_share=0.0, ep_dom=None, fp32_stream=None, disp=None, a2a_ov=None) -> dict:
    """Per-micro-batch times of one layer (and of the head) for each distinct layer key, composed from the op
    functions above in the layer's order (attention projections and core, MLP or MoE block, elementwise, TP / CP /
    EP communication, host dispatch, recompute, head, MTP projection).
    ``sel_share``: under torchtitan layer SAC (``Stack.selective`` "layer"), the share of layers it re-runs whole
    at each key (pipeline.recomputed_fraction with the stack's ``ac_freq``): the mean layer re-runs that share.
    ``bf16_share``: the share of these layers whose linears stay 16-bit under the fp8/fp4 recipe: 0 (default) a
    layer that runs the recipe, 1 one the stack keeps 16-bit (``Stack.lp_bf16_layers``, ``lp_bf16_mtp``; step_time
    puts those on the stages that hold them, ``slowest_stage``). ``ep_dom``: the EP and expert-TP groups' placement
    on the NVLink domains at each key (``stage_keys``, ``LayerContext.ep_dom``; None: as ``comm.members_per_node``).
    ``fp32_stream``: per key, whether the residual stream is fp32 (``stage_keys``, ``Stack.fp32_stream`` by the ZeRO
    stage; None: at ZeRO-0). ``disp``: per key, the MoE token dispatcher (``LayerContext.disp``; None: the stack's);
    ``a2a_ov`` the combined-1F1B overlap (``LayerContext.a2a_ov``)."""
    c = te_reentrant_rerun(layer_context(m, t, hw, fw, tp, cp, ep, mb, sp, etp, bf16_share, ep_dom, fp32_stream, disp,
                                         a2a_ov), rc)
    eff, T, tp, cp, combine = c.eff, c.T, c.tp, c.cp, c.combine
    # the attention projections and the dense MLP priced in one ``gemms`` call (its numpy calls once, not per GEMM)
    a_shapes = attention_projection_shapes(c, m)
    priced = c.gemms(a_shapes + dense_mlp_shapes(c, m))
    proj = attention_projections(c, m, priced[:len(a_shapes)])
    attn_proj = proj.gemms
    dense_mlp = priced[len(a_shapes):]
    # hybrid models: a layer is one block of one kind (ssm.layer_shares; plain layers: attention 1)
    sh = ssm.layer_shares(m)
    mam = mamba_block(c, m, hw, fw)
    attn = attention_core(c, m, t, hw, fw, causal_kernels, sh)
    ew = elementwise(c, m, t, fw, sh)
    moe = moe_block(c, m, t, fw, proj, attn)
    moe_share = c.moe_share
    lg = layer_gemms(c, m, t, proj, dense_mlp, mam, moe, sh)
    ep_layer = moe_share * moe.ep_comm
    ep_fwd, ep_bwd = ep_layer / 2 - moe_share * moe.shared_hide_f, ep_layer / 2 - moe_share * moe.shared_hide_b  # exposed
    mem = memory_bound(c, m, t, fw, ew, moe, sh, rc)
    mb_fwd, mb_bwd, pa_fwd = mem.fwd, mem.bwd, mem.pa_fwd
    # a hybrid layer is one block (half a transformer layer's ops, kernels and TP collectives)
    blocks = 0.5 if m.hybrid else 1.0
    kern_s = fw.kernels_layer * eff.kernel_gap_s * (0.5 if fw.compile else 1.0) * blocks
    # the MoE router's own kernels, per MoE block (moe.router_kernels): its [tokens, experts] ops last the floor each
    kern_s = kern_s + moe_share * (moe.layer.kernels if moe.layer is not None else 0.0) * eff.kernel_gap_s
    tpc = tp_comm(c, m, hw, fw, tp_comm_overlap, attn_proj, dense_mlp, lg.parts, sh, blocks, mem.pa_ag)
    # (SwitchMLP's experts each all-reduce their own rows: moe.switch_mlp_layer)
    tp_fwd, tp_bwd = tpc.fwd + moe_share * moe.tp_split, tpc.bwd + moe_share * moe.tp_split
    fwd_gemm, bwd_gemm = lg.fwd + tpc.slow_f, lg.bwd + tpc.slow_b
    cpc = cp_comm(c, m, fw, attn, sh, mam)
    cp_fwd, cp_bwd = cpc.fwd, cpc.bwd
    fwd_attn, bwd_attn = attn.fwd + cpc.merge_f, attn.bwd + cpc.merge_b
    # the Mamba layers' conv1d + SSD scan + norm kernels (a sequence mixer like the attention core, but
    # not what selective "core_attn" recompute re-runs; full recompute re-runs it with the layer)
    scan_f, scan_b = (sh["M"] * mam["scan_fwd"], sh["M"] * mam["scan_bwd"]) if mam else (0.0, 0.0)
    # CUDA graphs (stacks.cuda_graph_parts): a captured part's ops cost one graph launch
    # (``graph_parts``: a block priced apart, the MTP block, takes the decoder's parts -- Megatron-Core checks the scope
    # against the whole model -- less those of kinds the block does not hold)
    graphs = cuda_graph_parts(fw, m) if graph_parts is None else graph_parts
    sync = sync_idle(c, m, fw, graphs, moe, rc)
    sync_fwd = sync.fwd
    # GPU time of one forward and one backward pass of the layer (comm on the compute stream)
    gpu_fwd = fwd_gemm + fwd_attn + mb_fwd + kern_s + tp_fwd + ep_fwd + cp_fwd + sync_fwd + scan_f + pa_fwd
    gpu_bwd = bwd_gemm + bwd_attn + mb_bwd + 2 * kern_s + tp_bwd + ep_bwd + cp_bwd + scan_b
    # (the torch softmax fallback's extra ops: attention_core; a captured graph launches them as one)
    host_fwd = host_dispatch(c, m, fw, graphs, blocks, sh, mam, moe.host_ops) + (0.0 if graphs else attn.host_ops * eff.launch_s)
    host_bwd = BWD_HOST_FACTOR * host_fwd
    # recompute: full re-runs the layer forward (GEMMs, attention, elementwise, TP comm);
    # selective re-runs the attention core (its few ops: no host floor of its own).
    # A GPU runs asynchronously to its host (a pass costs the larger of the two); a CPU device
    # executes each op in the dispatching thread (the two add).
    fwd_pass = combine(gpu_fwd, host_fwd)
    re_skip = early_stop_skip(c, m, fw, sh, dense_mlp) + remat_policy_skip(c, m, fw, proj, dense_mlp)
    # (nor, under early stop, the DeepEP combine that ends an MoE block: moe.rerun_combine_skip)
    ep_skip = moe_mech.rerun_combine_skip(fw, c.disp, m, moe_share * (moe.layer.a2a if moe.layer else 0.0), ep_fwd)
    re_gemm, re_fwd = fwd_gemm - re_skip, gpu_fwd - re_skip - pa_fwd - ep_skip  # the re-run clones no partition
    sr = selective_recompute(c, m, t, fw, sel_share, fwd_gemm=fwd_gemm, fwd_attn=fwd_attn, mb_fwd=mb_fwd,
                             kern_s=kern_s, tp_fwd=tp_fwd, dense_mlp=dense_mlp, proj=proj, moe=moe,
                             moe_sync=sync.moe, ew=ew)
    sel_whole = sr.whole
    # (re-running the attention core re-runs its CP ring: Megatron-Core checkpoints the whole
    # TEDotProductAttention call, exchange included)
    sel_gpu = sr.gemm + sr.attn + sr.cp_share * cp_fwd + sr.membound + sr.tp + sr.ep + sel_whole * re_fwd
    re_pass = np.where(rc == 2, combine(re_fwd, host_fwd), np.where(rc == 1, sel_gpu, 0.0))
    bwd_pass = combine(gpu_bwd + re_pass, host_bwd + np.where(rc == 2, host_fwd, np.where(rc == 1, sel_whole * host_fwd, 0.0)))
    # GPU idle while the host dispatches (host-bound passes), kept for the breakdown
    re_gpu = np.where(rc == 2, re_fwd, np.where(rc == 1, sel_gpu, 0.0))
    host_idle = fwd_pass + bwd_pass - (gpu_fwd + gpu_bwd + re_gpu)
    head = lm_head(c, m, t, fw, graphs)
    mtp = mtp_projection(c, m)
    # combined-1F1B EP overlap: what another micro-batch's compute hides of a layer's all-to-all
    # (moe.a2a_paired_share gives the share of micro-batches paired; not with full recompute,
    # which the schedule does not support)
    ep_hide = np.where(rc == 2, 0.0, moe_share * moe.hide)
    sel = rc == 1
    rc_gemm = np.where(rc == 2, re_gemm, np.where(sel, sr.gemm + sel_whole * re_gemm, 0.0))
    rc_attn = np.where(rc == 2, fwd_attn, np.where(sel, sr.attn + sel_whole * fwd_attn, 0.0))
    rc_mb = np.where(rc == 2, mb_fwd + kern_s, np.where(sel, sr.membound + sel_whole * (mb_fwd + kern_s), 0.0))
    rc_tp = np.where(rc == 2, tp_fwd, np.where(sel, sr.tp + sel_whole * tp_fwd, 0.0))
    return dict(
        fwd=fwd_pass, bwd=bwd_pass, head_fwd=head.fwd, head_bwd=head.bwd, mtp_fwd=mtp.fwd, mtp_bwd=mtp.bwd,
        gemm=fwd_gemm + bwd_gemm + rc_gemm, head_gemm=head.gemm,
        attn=fwd_attn + bwd_attn + rc_attn + scan_f + scan_b + np.where(rc == 2, scan_f, 0.0),
        membound=mb_fwd + mb_bwd + pa_fwd + 3 * kern_s + rc_mb + host_idle
        + sync_fwd * (1.0 + np.where(rc == 2, 1.0, np.where(sel, sel_whole, 0.0))), head_membound=head.fwd + head.bwd - head.gemm,
        tp=tp_fwd + tp_bwd + rc_tp, cp=cp_fwd + cp_bwd + np.where(rc == 2, 1.0, np.where(sel, sr.cp_share + sel_whole, 0.0)) * cp_fwd,
        ep=(ep_fwd * 2.0 - ep_skip) * (rc == 2) + ep_fwd * (rc != 2) + ep_bwd + np.where(sel, sr.ep, 0.0), ep_hide=ep_hide * np.ones_like(T),
        fwd_attn=fwd_attn * np.ones_like(T),
    )


def _module_recompute(modules, m: ModelSpec, *, fwd_attn, dense_mlp, moe, shared, mla_up, moe_mb, a2a, tp_fwd,
                      mem, norm_b, act_b, dense_act_b, fused_norm, moe_act_extra=0.0):
    """(GEMM, attention, memory-bound, TP, EP) seconds one layer's backward spends re-running
    the forward of Megatron-Core's ``recompute_modules`` (the memory side:
    the activations docstring's "Recompute modules"), averaged over dense and MoE layers. Each module is re-run
    as its forward ran: "core_attn" the attention kernel; "mlp" the dense MLP's GEMMs, activation
    and (TE spec) its fused norm, with its TP collectives (half a layer's, a hybrid "-" block's whole); "moe" the router,
    dispatch and combine all-to-alls, experts and shared experts, and the permutation traffic;
    "shared_experts" their GEMMs; "mla_up_proj" MLA's q/kv up-projection GEMMs; "layernorm" the
    norms that are separate modules (activations.layer_saved_tensors ``fused_norm``); "moe_act"
    the experts' activation over the top-k routed copies of each token (plus ``moe_act_extra`` s: the eager clamp
    chain and its stream sync that the checkpointed activation re-runs, moe.eager_expert_ops). ``mem(b)``: the HBM time of
    b bytes per token; ``norm_b``/``act_b``/``dense_act_b``: bytes per token of one norm / of one expert's
    activation / of the dense MLP's activation."""
    ms = m.moe_layers / m.layers
    dn = m.kind_layers("-") / m.layers if m.hybrid else 1 - ms  # layers with a dense MLP
    k = m.moe.top_k if m.moe is not None else 0
    modules = distinct_recompute_modules(modules)  # the MoE layer's checkpoint holds its experts and activation
    # separate norms per layer (mean over the layers): a transformer layer has two (the pre-MLP one of an
    # MoE layer stays separate under fused norms: the router reads it); a hybrid layer is one block, one norm
    if m.hybrid:
        norms = ms if fused_norm else 1.0
    else:
        norms = ((0.0 if fused_norm else 1.0) + (1.0 if m.mla is not None and fused_norm else 0.0)
                 + (ms if fused_norm else 1.0))
    # the dense MLP's share of the layer's TP collectives: half a transformer layer's, all of a hybrid
    # "-" block's (its tp_fwd is already one block's)
    tp_mlp = tp_fwd if m.hybrid else tp_fwd / 2
    z = 0.0
    terms = {  # module: (gemm, attention, memory-bound, TP, EP)
        "core_attn": (z, fwd_attn, z, z, z),
        "mlp": (dn * dense_mlp, z, dn * mem(dense_act_b + (norm_b if fused_norm else z)), dn * tp_mlp, z),
        "moe": (ms * moe, z, ms * (moe_mb + mem(k * act_b)), z, ms * a2a),
        "shared_experts": (ms * shared, z, z, z, z),
        "mla_up_proj": (mla_up, z, z, z, z),
        "layernorm": (z, z, norms * mem(norm_b), z, z),
        "moe_act": (z, z, ms * (mem(k * act_b) + moe_act_extra), z, z),
    }
    chosen = [terms[x] for x in modules]
    return tuple(sum((c[i] for c in chosen), z) for i in range(5))


#: math that runs on tensor cores: fp32 convolutions without TF32 (Volta / Turing) and fp32 matmuls (PyTorch leaves
#: TF32 off for them) run on the CUDA cores at Efficiency.simt_max (``layer_context``, the generic path)
TENSOR_CORE_MATH = ("tf32", "bf16", "fp16")


def math_gemm_max(eff, dtype: str) -> float:
    """The large-GEMM fraction of ``dtype``'s peak: tensor-core math at ``Efficiency.gemm_max``, CUDA-core math
    (``TENSOR_CORE_MATH`` lacks it) at ``Efficiency.simt_max``. The one rule for convolutions and matmuls."""
    return eff.gemm_max if dtype in TENSOR_CORE_MATH else eff.simt_max


def math_rates(hw, dtype: str) -> tuple:
    """(Efficiency, reachable peak) of matmuls in ``dtype`` on option ``hw``: tensor-core math at the part's GEMM
    fraction; fp32 matmuls on the CUDA cores (PyTorch's default since 1.12: torch.backends.cuda.matmul.allow_tf32
    False) at the SIMT GEMM fraction of the fp32 peak (``math_gemm_max``), as the fp32 convolutions do."""
    eff = hw.eff if dtype in TENSOR_CORE_MATH else hw.eff.with_(gemm_max=math_gemm_max(hw.eff, dtype))
    return eff, physics.reachable_peak(hw, dtype)
