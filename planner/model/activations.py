"""Activation memory: the tensors autograd keeps for the backward pass, per layer and micro-batch.

The model is a table of saved tensors (``layer_saved_tensors``), one row per tensor a standard
implementation keeps alive between forward and backward, each with its size per token, its dtype,
how it is sharded (by TP always, or by TP only under sequence parallelism), and which recompute
modes keep it. Summing the table reproduces Korthikanti et al. 2022 ("Reducing Activation
Recomputation in Large Transformer Models", arXiv 2205.05198) Table 2 for the GPT case they
analyse — 34*s*b*h + 5*a*s^2*b bytes per layer without parallelism, (10 + 24/t)*s*b*h + 5*a*s^2*b/t
with TP, 34*s*b*h/t with TP+SP and selective recompute, 2*s*b*h with full recompute — and extends
it to what Korthikanti does not cover: GQA, gated MLPs, RMSNorm, no-dropout models, flash
attention (which keeps Q, K, V, O and the softmax log-sum-exp instead of the s x s probabilities).

Which tensors are counted (and checked against ``torch.autograd.graph.saved_tensors_hooks``,
deduplicated by storage, on the reference models in calibration/reference_models.py — see
tests/test_activations.py):

* per layer: the norm inputs (and their fp32 per-token statistics), the norm outputs feeding the
  projections, Q/K/V (after RoPE), the attention output (and, without flash, the softmax
  probabilities and dropout masks), the out-projection input, the MLP's inputs and
  intermediates (for SwiGLU: gate, up, act(gate), act(gate)*up), dropout masks (1 byte) where
  dropout is on;
* outside the layers (``logits_bytes``): the final-norm input/output, the logits and the
  fp32 copy cross-entropy makes of them, and the loss's softmax. With a large vocabulary these
  dominate, so they are reported separately.

Recompute modules: what each of Megatron-Core's ``recompute_modules`` (0.16.1; ``planner.vocab.RECOMPUTE_MODULES``)
frees of the table, and what it keeps instead. Two mechanisms (megatron/core/tensor_parallel/random.py):

* ``tensor_parallel.checkpoint`` (``CheckpointFunction``: the module runs under no_grad, its
  inputs saved, re-run in backward) for "mlp" (transformer_layer.py l. 719-741: the dense layers'
  MLP only, ``if not self.is_moe_layer`` l. 445-447), "moe" (moe/moe_layer.py l. 432-450: router,
  dispatch, experts, combine) and "shared_experts" (moe_layer.py l. 294-310). What they keep is
  their input: the pre-MLP norm's output, already a row -- except where Transformer Engine fuses
  that norm into fc1 (``fused_norm``: TELayerNormColumnParallelLinear, the dense layers of the TE
  spec, gpt_layer_specs.py ``pre_mlp_layernorm=IdentityOp``), where the MLP's input is the norm's
  input (``norm2.input``, kept) and the norm's statistics and output go with the MLP;
* ``CheckpointWithoutOutput`` (the module runs under no_grad, its output storage is freed once
  its consumers ran -- ``discard_output_and_register_recompute`` -- and refilled before their
  backward) for "layernorm" (transformer_layer.py l. 576-614 and 671-800: the input and pre-MLP
  norms where they are separate modules, i.e. not fused into the next linear: both in the local
  spec, in the TE spec the MoE layers' pre-MLP norm and the MLA layers' input norm,
  gpt_layer_specs.py l. 248-265), "moe_act" (moe/experts.py l. 226-273, 738-750: the experts'
  activation; fc1's output stays as the checkpoint's input) and "mla_up_proj"
  (multi_latent_attention.py l. 838-846: the q/kv up-projections with their norms and RoPE; the
  latents q_compressed, kv_compressed and k_pos_emb stay). Under FP8 the consumers keep the
  original 16-bit input, not an FP8 copy (``set_save_original_input``), so the row goes too.

The rows each frees, as the table's ``SavedTensor.modules`` tags name them (the tags are what the code reads;
this list says the same in words -- it was the unread dict ``RECOMPUTE_MODULE_ROWS`` until code47):

* core_attn: the rows not marked selective: softmax/log-sum-exp, scores, attention dropout
* layernorm: norm statistics and output of the norms that are separate modules
* mla_up_proj: q, k, v and the up-projections' norm statistics/outputs (MLA)
* mlp: the dense MLP's intermediates (and its fused norm's statistics and output)
* moe: the MoE layer's routing, dispatch, experts and shared experts
* moe_act: the routed experts' activation output (and the unfused activation's input copy)
* shared_experts: the shared experts' intermediates
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.model.moe import padded_rows, rank_load
from planner.model.stacks import cp_comm_mix, remat_locations
from planner.model.stack_kernels import explicit_softmax_av_fp32, explicit_softmax_fp32
from planner.spec import ModelSpec
from planner.spec.params import GATELESS_ROUTINGS, head_positions, head_width, spec_memo
from planner.vocab import HYBRID_LAYER

# recompute codes: planner.vocab.RECOMPUTE
NONE, SELECTIVE, FULL = 0, 1, 2


@dataclass(frozen=True)
class SavedTensor:
    name: str
    per_token: float  # elements per token (may depend on s for the attention scores)
    dtype_bytes: float | None  # None = the activation dtype
    #: "tp": divided by t; "sp": divided by t only under sequence parallelism; "row" / "none": the full width on
    #: every rank (a row-parallel mm's partial sum, a replicated projection); "rs": a reduce-scatter's output, the
    #: sequence shard, held only under sequence parallelism with t > 1 (``op_sac_saved_tensors``); "a2a": an expert-
    #: parallel all-to-all's output, held only where ep > 1, over the rank's 1/t of the tokens (torchtitan's
    #: ``ReordererSequenceParallel`` splits the tokens over the TP ranks before the dispatch); "ep": held whole on
    #: every rank, only where ep > 1 (the tokens-per-expert counts exchange)
    shard: str
    selective: bool  # still kept under selective recompute (core attention dropped)
    #: the input a linear layer saves for its weight gradient: under Transformer Engine FP8 it is
    #: saved quantised, 1 byte per element (``te_fp8``, see ``layer_saved_tensors``)
    linear_input: bool = False
    #: the Megatron-Core ``recompute_modules`` whose recompute frees this tensor (besides
    #: "core_attn", which frees the rows not ``selective``): the module docstring's "Recompute modules"
    modules: tuple = ()
    #: ``per_token`` counts elements a layer and micro-batch, whatever its tokens (the counts exchange: one int64
    #: per expert)
    per_layer: bool = False
    #: rows of routed (token, expert) pairs: the busiest EP rank holds ``moe.rank_load`` times the mean of them (a
    #: stated ``imbalance``, at most ``ep``), as its expert GEMMs compute (``moe.moe_layer``)
    routed: bool = False


def saved_softmax_fp32(fw, m: ModelSpec, seq, mb, tp, cp, act_bytes):
    """Per activation key, 1 where explicit attention keeps an fp32 softmax output (``layer_saved_tensors``'
    ``fp32_softmax``), else 0: the stack's own softmax (stack_kernels ``explicit_softmax_fp32``: Megatron's torch fallback by
    the rule the step time prices its passes by, or the stack's ``EXPLICIT_SOFTMAX`` entry). Flash attention keeps no
    softmax (the table reads this in its explicit rows only)."""
    return explicit_softmax_fp32(fw, m, seq, mb, tp, cp, act_bytes)


def layer_saved_tensors(m: ModelSpec, seq: float, flash: bool, dropout: bool, moe: bool = False,
                        fp32_softmax: bool = False, te_fp8: bool = False, fused_glu: bool = False,
                        fused_norm: bool = False, probs_in_experts: bool = False, switch_mlp: bool = False,
                        sink_rescale: str | None = None, fused_act_experts: bool = False, fp32_av: bool = False):
    """The saved-tensor table of one transformer layer (see module docstring).

    ``te_fp8``: the linears are Transformer Engine modules running FP8 (Megatron-Core's TE layer
    spec under ``fp8``). TE keeps, for the weight gradient, the *quantised* GEMM input (1 byte per
    element) instead of the 16-bit one, and under sequence parallelism the local shard before the
    all-gather (re-gathered in backward): TE ``module/linear.py`` ``_Linear.forward`` saves
    ``saved_inputmat = inputmat`` / ``saved_inputmat_t = inputmat_t``, the outputs of
    ``cast_to_fp8`` / ``fp8_cast_transpose_fused`` (TE 1.x; TE 2.x saves the quantised
    ``inputmat`` with only its column-wise usage kept), and ``module/layernorm_linear.py`` saves
    ``ln_out`` in FP8 (its backward runs ``tex.fp8_transpose(ln_out_total, ...)`` on it) next to
    the 16-bit norm input and the fp32 ``rsigma``/``mu``. Rows marked ``linear_input`` take 1 byte:
    the QKV and fc1 inputs (LayerNormLinear's ``ln_out``), the out-projection input (a separate FP8
    copy of the attention output, which the attention kernel keeps in 16 bits for its own backward),
    the fc2 input and the experts' grouped-GEMM inputs. Attention, norms, the router and the
    activation function still keep 16-bit tensors (TE FP8 covers only the GEMMs).

    ``fused_glu``: the gated MLP's activation is Megatron-Core's fused SwiGLU
    (``bias_activation_fusion``; megatron/core/fusions/fused_bias_swiglu.py ``SwiGLUFunction.forward``
    saves only its input, the fc1 output ``[gate, up]``), so the ``act(gate)`` tensor the unfused
    ``F.silu(gate) * up`` keeps for the product's backward is not saved; fc2 still saves its input
    ``act(gate) * up``. The Llama/Mixtral/Qwen configs of NeMo (launcher ``bias_activation_fusion:
    true``) and Megatron-Bridge (``LlamaModelProvider.bias_activation_fusion = True``) turn it on.

    ``fp32_softmax`` (explicit attention only): the softmax runs in fp32 on 16-bit scores and its
    fp32 output is what backward keeps -- Megatron's ``FusedScaleMaskSoftmax`` where its CUDA kernel
    does not run (stack_kernels ``softmax_fallback``, the rule the step time reads: past the kernel's keys, or
    heads a rank x micro-batch, or the query length, off the kernel's multiples). Its
    ``forward_torch_softmax`` (NVIDIA/Megatron-LM megatron/core/fusions/fused_softmax.py; the legacy
    ``FusedScaleMaskSoftmax.forward`` else-branch of microsoft/Megatron-DeepSpeed megatron/model/
    fused_softmax.py @0782d753 the same) runs ``input.float()`` under ``softmax_in_fp32`` (Megatron-Core's
    ``attention_softmax_in_fp32`` True by default; the legacy code bases force it with their default
    ``apply_query_key_layer_scaling``), ``input * self.scale``, the mask function's in-place
    ``masked_fill_``, ``torch.nn.Softmax`` and ``probs.half()`` / ``.bfloat16()``. Of these autograd keeps
    only the softmax's fp32 output (SoftmaxBackward0 saves its result; the casts and the scalar multiply
    save no tensor of the scores' size, so the fp32 copy of the input is not kept) and the mask
    (MaskedFillBackward0), which is the caller's one tensor for every layer -- the batch's
    ``attention_mask`` or the cached ``get_default_causal_mask`` -- not a layer's. Without dropout the
    AV ``bmm`` then keeps the 16-bit cast as a second s x s tensor (``attn.probs_cast``; with fp32
    activations the cast is a no-op and the row is dropped by ``layer_activation_bytes``); with
    dropout it keeps the dropout output and the dropout its 1-byte mask, as on the kernel's path: 7
    bytes a score with dropout and 6 without, against the kernel's 5 and 2. The kernel
    (``ScaledUpperTriangMaskedSoftmax.forward``) saves only its 16-bit output (and a one-element
    scale): the default rows. Measured with ``saved_tensors_hooks`` on a CPU replica of both paths
    (tests/test_softmax_memory42.py) and on Megatron-Core's local spec past 4096 keys
    (tests/test_mcore_activations.py). ``layer_activation_bytes`` takes it per key (an array of 0 / 1).
    The same fp32 output and cast are what llm-foundry's torch attention (``torch.softmax`` under CUDA autocast,
    ``.to(v.dtype)``) keeps at every length (stack_kernels ``EXPLICIT_SOFTMAX``; tests/test_softmax43.py).

    ``fp32_av`` (with ``fp32_softmax``): the AV GEMM multiplies the fp32 softmax itself, as torch SDPA's math backend
    does after casting q, k and v up to fp32 (stack_kernels ``EXPLICIT_SOFTMAX`` "sdpa_math"): no 16-bit cast row. (Its fp32
    copies of q, k and v, 2 B an element beyond the ``q,k,v`` row, are not in the table.)

    ``fused_norm``: Megatron-Core's TE spec, where a norm that feeds one linear is fused into it
    (TELayerNormColumnParallelLinear) and is a separate module only before MLA's down-projections
    and the MoE router (which the per-module recompute tells apart: the module docstring's "Recompute modules").
    MLA models (``m.mla``) keep the latents the up-projections take (q_compressed, kv_compressed,
    k_pos_emb: ``mla.latents``) and those projections' fused-norm outputs and statistics.

    ``probs_in_experts``: the experts multiply their activation by the routing weights and the combine
    un-permutes without them (Megatron-Core 0.16.1: moe/experts.py ``activation_func_with_probs``
    l. 112-117 and TEGroupedMLP ``bias_act_func`` l. 680-735, the fused ``weighted_bias_swiglu_impl``;
    token_dispatcher.py l. 833-840 ``unpermute`` without probs), so no expert output is kept
    (``moe.expert_out`` dropped; measured in tests/test_mcore_recompute_activations.py).

    ``sink_rescale`` (flash only): the attention sinks run as an eager rescale of the kernel's output
    (``Stack.sink_rescale_kernels`` / ``sink_rescale_form``; overmem38). NeMo AutoModel's FlexAttention
    (components/attention/flex_attention.py ``FlexAttention.forward``): ``out, lse = flex_attn(..., return_lse=True)``,
    ``scale = torch.sigmoid(lse - w)``, ``out = out * scale`` (fp32), ``out.to(q.dtype)``, then ``o_proj`` on it. The
    kernel keeps its own ``out`` (torch _higher_order_ops/flex_attention.py ``FlexAttentionAutogradOp.forward``:
    ``save_values_for_backward(ctx, (query, key, value, out, logsumexp, ...))``), which the product's backward reads
    too; the sigmoid keeps its fp32 result (a per token; "scale_cast", torchtitan, also the product's 16-bit copy of
    it); the out-projection keeps the rescaled, cast-back output, a second O-sized tensor (``proj.input``; under
    ``te_fp8`` TE's FP8 copy of it, as without sinks). The fp32 product itself is a transient.

    ``fused_act_experts``: the routed experts' gated activation keeps only its input and the routing weights
    (``Stack.moe_fused_act_dispatchers``): no ``act(gate)`` row for them (the dense MLP and shared experts keep it
    unless ``fused_glu``).

    A gate without parameters (``m.moe.routing`` "round_robin": NeMo AutoModel's ``FakeBalancedGate``,
    components/moe/layers.py, builds the weights from ``torch.ones`` and the expert ids from ``torch.arange``) reads
    nothing of the MoE input that autograd keeps: no router input (``mlp.input``, unless shared experts keep it as
    theirs) and no router probabilities; the routing weights the experts' activation keeps are the k permuted ones."""
    h, q, kv, f = m.hidden, m.q_dim, m.kv_dim, m.ffn_hidden
    a = m.heads
    stat = 2 if m.norm == "layernorm" else 1  # fp32 mean+rstd, or rstd only
    T = []
    add = lambda *r, **k: T.append(SavedTensor(*r, **k))  # noqa: E731
    # which recompute module frees a norm's statistics and output (the module docstring's "Recompute modules")
    ln1 = ("layernorm",) if (not fused_norm or m.mla is not None) else ()
    ln2 = ("layernorm",) if (not fused_norm or moe) else ("mlp",)
    add("norm1.input", h, None, "sp", True)
    add("norm1.stats", stat, 4, "sp", True, modules=ln1)
    add("qkv.input", h, None, "sp", True, True, modules=ln1)
    if m.mla is not None:
        la = m.mla
        ranks = (la.q_lora_rank or 0) + la.kv_lora_rank
        add("mla.latents", ranks + la.qk_rope_head_dim, None, "sp", True)
        add("mla.up_norm_out", ranks, None, "sp", True, True, modules=("mla_up_proj",))
        add("mla.up_norm_stats", 2 * stat, 4, "sp", True, modules=("mla_up_proj",))
    add("q,k,v", q + 2 * kv, None, "tp", True, modules=("mla_up_proj",) if m.mla is not None else ())
    if m.qk_norm != "none" and m.mla is None:
        # q/k norms (Qwen3 per head, OLMo 2 over the whole projection) between the QKV projection and RoPE:
        # each keeps its input (the projected q and k, as wide as q and kv) and its fp32 statistics, one
        # per head (per token for a full-width norm) -- TE's RMSNorm backward reads (dy, x, rsigma, gamma);
        # outside core attention, so kept under selective recompute (measured on Megatron-Core 0.16.1's
        # qk_layernorm, tests/test_mcore_qknorm_activations.py)
        add("qk_norm.input", q + kv, None, "tp", True)
        add("qk_norm.stats", stat * ((m.heads + m.kv_heads) if m.qk_norm == "head" else 2), 4, "tp", True)
    if flash:
        # the kernel writes O token-major (b, s, a, d), so O *is* the out-projection's input:
        # one buffer, kept under selective recompute like proj.input below
        add("attn.out", q, None, "tp", True)
        if te_fp8 or sink_rescale:  # TE's out-projection keeps its own FP8 copy of O; the sinks' rescaled O
            add("proj.input", q, None, "tp", True, True)
        add("attn.logsumexp", a, 4, "tp", False)
        if sink_rescale:  # sigmoid(lse - w): its fp32 result; torchtitan's product keeps its 16-bit cast too
            add("attn.sink_scale", a, 4, "tp", True)
            if sink_rescale == "scale_cast":
                add("attn.sink_scale_cast", a, None, "tp", True)
    else:
        add("attn.softmax", a * seq, 4 if fp32_softmax else None, "tp", False)
        if fp32_softmax and not dropout and not fp32_av:
            add("attn.probs_cast", a * seq, None, "tp", False)
        if dropout:
            add("attn.dropout_mask", a * seq, 1, "tp", False)
            add("attn.dropout_out", a * seq, None, "tp", False)
        add("proj.input", q, None, "tp", True, True)  # AV output made token-major (.contiguous())
    if dropout:
        add("attn.out_dropout_mask", h, 1, "sp", True)
    add("norm2.input", h, None, "sp", True)
    add("norm2.stats", stat, 4, "sp", True, modules=ln2)
    # a parameter-free gate (AutoModel's FakeBalancedGate) saves nothing of the MoE input
    fake_gate = moe and m.moe.routing in GATELESS_ROUTINGS
    # dense layers: fc1's LayerNormLinear input (ln_out); MoE layers: the router's 16-bit input
    if not (fake_gate and not m.moe.shared_experts):
        add("mlp.input", h, None, "sp", True, not moe, modules=ln2)
    k = m.moe.top_k if moe else 1

    # fc1 output (saved by the activation), activation output (fc2's input); ``whole``: the
    # module whose checkpoint frees them all, ``act``: the one that frees the activation's saves
    def mlp(name, width, whole, act=(), routed=False):
        if m.gated:
            add(f"{name}.gate,up", 2 * width, None, "tp", True, modules=whole, routed=routed)
            if not (fused_glu or (routed and fused_act_experts)):
                add(f"{name}.act(gate)", width, None, "tp", True, modules=whole + act, routed=routed)
            add(f"{name}.act*up", width, None, "tp", True, True, modules=whole + act, routed=routed)
        else:
            add(f"{name}.fc1_out", width, None, "tp", True, modules=whole, routed=routed)
            add(f"{name}.act_out", width, None, "tp", True, True, modules=whole + act, routed=routed)
    # routed rows per token: top_k, times the capacity factor when padded to capacity (the padding rows
    # pass through the experts and are saved like real ones); on a rank ``layer_activation_bytes`` scales the
    # rows marked ``routed`` to the busiest rank's load (``moe.rank_load``)
    kr = k * padded_rows(m.moe) if moe else 1
    # a dense layer's MLP is its own width (``ModelSpec.dense_width``: DeepSeek-V3's first_k_dense_replace layers
    # 18432, HF ``intermediate_size``; Megatron-Core ``ffn_hidden_size`` beside ``moe_ffn_hidden_size``), not the
    # experts' ``ffn_hidden`` (2048): until dsdense38 its rows were priced at the expert width
    mlp("mlp", f * kr if moe else m.dense_width, ("moe",) if moe else ("mlp",), ("moe_act",) if moe else (),
        routed=moe)
    if moe and switch_mlp:
        T += switch_mlp_saved_tensors(m)
    elif moe:
        e = m.moe
        if not fake_gate:
            add("moe.router_probs", e.experts, 4, "sp", True, modules=("moe",))  # fp32 softmax output
        # top-k expert ids + the dispatch and combine permutations (int64, k per token each)
        add("moe.routing_indices", 3 * k, 8, "sp", True, modules=("moe",))
        # top-k probs, their sum, renormalised (the fake gate: the k weights the activation keeps)
        add("moe.routing_weights", k if fake_gate else 2 * k + 1, 4, "sp", True, modules=("moe",))
        # the dispatched tokens and the experts' outputs are ``expert_io`` wide: the latent width under
        # LatentMoE, whose fc2_latent_proj (a TELinear after the combine) keeps its l-wide input on the
        # rank's sequence shard (fc1_latent_proj reads the router's input, kept once as mlp.input)
        io = m.expert_io
        add("moe.dispatched_input", io * kr, None, "tp", True, True, modules=("moe",), routed=True)
        if e.latent_size:
            add("moe.fc2_latent.input", io, None, "sp", True, True, modules=("moe",))
        # each expert's output, kept by the multiply with its routing weight after the unpermute
        # (Megatron's unpermute with probs and HF Mixtral's `expert(x) * w` both keep it)
        if not probs_in_experts:
            add("moe.expert_out", io * kr, None, "tp", True, modules=("moe",), routed=True)
        if e.shared_experts:
            mlp("moe.shared", e.shared_ffn_hidden or e.shared_experts * f, ("moe", "shared_experts"))
    if dropout:
        add("mlp.dropout_mask", h, 1, "sp", True)
    return T


def switch_mlp_saved_tensors(m: ModelSpec):
    """What Megatron-LM 2021-22's top-1 ``SwitchMLP`` (megatron/model/transformer.py, ``Stack.moe_switch_mlp``)
    keeps for backward beyond its experts' own MLP rows, per token, by the autograd formulas of the ops its forward
    runs (torch tools/autograd/derivatives.yaml):

    * the router (a ``torch.nn.Linear`` in the module's 16-bit dtype) keeps its input (``mlp.input``) and its
      ``softmax`` the 16-bit probabilities over the E experts (SoftmaxBackward0 saves its result);
    * the index tensors: ``torch.max(route, dim=2)`` keeps its int64 argmax (MaxBackward0 saves ``indices``), and
      each expert's ``local_indices = (max_ind == e).nonzero()`` (int64, one per routed token) is kept by the row
      gather ``hidden_states[local_indices, :]`` (IndexBackward0) and the two index writes
      ``output_total[local_indices, :] = ...`` (IndexPutBackward0; one tensor, kept once): over the E experts one per
      token at top-1. 2 int64 a token, where Megatron-Core's dispatcher keeps 3 k (top-k ids, the two permutations);
    * each expert's ``ParallelMLP`` input, the gathered rows (its ColumnParallelLinear's saved input): the full
      hidden width on every TP rank, as all of SwitchMLP's per-token tensors (it routes the whole sequence on each
      rank: no sequence parallelism, stack rule ``megatron-lm-moe-sp``), T rows over the experts;
    * ``output_total * max_prob`` and ``output_bias_total * max_prob`` keep both factors (MulBackward0, both
      requiring grad): the experts' outputs and their expanded fc2 biases, written by index (full width, after each
      expert's RowParallelLinear all-reduce), and the routing probability ``max_prob``. The bias tensor is
      SwitchMLP's own: Megatron-Core's experts add their bias inside (a second h-wide tensor a token).

    Until 2026-12-04 (small31) the stack took Megatron-Core's rows: fp32 probabilities, 3 int64 and 3 fp32 routing
    weights a token, the dispatched input and expert outputs split over TP and no bias tensor -- a top-1 8-expert
    model (h 2048) kept 2 x 2048 x 2 / tp + 68 bytes a token in these rows where SwitchMLP keeps 3 x 2048 x 2 + 34."""
    h = m.hidden  # top-1, no capacity: each token is one expert's row (moe.switch_mlp_layer)
    return [SavedTensor("moe.router_probs", m.moe.experts, None, "none", True, modules=("moe",)),
            SavedTensor("moe.routing_indices", 2, 8, "none", True, modules=("moe",)),
            SavedTensor("moe.routing_weights", 1, None, "none", True, modules=("moe",)),
            SavedTensor("moe.dispatched_input", h, None, "none", True, True, modules=("moe",)),
            SavedTensor("moe.expert_out", h, None, "none", True, modules=("moe",)),
            SavedTensor("moe.expert_bias_out", h, None, "none", True, modules=("moe",))]


def mamba_saved_tensors(m: ModelSpec):
    """The saved-tensor table of one Mamba-2 layer (a hybrid model's "M"), Megatron-Core's TE spec
    (megatron/core/ssm/mamba_mixer.py ``MambaMixer._ssm_training``): the in_proj is a
    TELayerNormColumnParallelLinear (the layer input, the norm's fp32 rstd and its output ``ln_out``
    kept, as ``norm1``/``qkv.input`` of the attention table); ``mamba_split_conv1d_scan_combined``
    (mamba_ssm ops/triton/ssd_combined.py ``MambaSplitConv1dScanCombinedFn.forward``:
    ``ctx.save_for_backward(zxbcdt, conv1d_weight, conv1d_bias, out_x, A, D, dt_bias, ...)``) keeps
    its input, the in_proj output z, x, B, C, dt (the contiguous copy Megatron passes), and the scan
    output before the gate ``out_x`` — the conv output and the chunk states are recomputed in its
    backward; the group RMSNorm (``ExtendedRMSNorm``, mamba_ssm's LayerNormFn) keeps its input and
    an fp32 rstd per group; out_proj keeps its input (a linear input: FP8 under TE FP8). All but the
    norm's are per TP shard (heads and groups split over TP)."""
    a, h = m.mamba, m.hidden
    di, gn = m.mamba_inner, a.groups * a.d_state
    return [SavedTensor("mamba.norm.input", h, None, "sp", True),
            SavedTensor("mamba.norm.stats", 1, 4, "sp", True),
            SavedTensor("mamba.in_proj.input", h, None, "sp", True, True),
            SavedTensor("mamba.zxbcdt", 2 * di + 2 * gn + m.mamba_heads, None, "tp", True),
            SavedTensor("mamba.out_x", di, None, "tp", True),
            SavedTensor("mamba.gated_norm.input", di, None, "tp", True),
            SavedTensor("mamba.gated_norm.rstd", a.groups, 4, "tp", True),
            SavedTensor("mamba.out_proj.input", di, None, "tp", True, True)]


def block_saved_tensors(m: ModelSpec, kind, *args):
    """The rows of one hybrid block (vocab.HYBRID_LAYER ``kind``): "M" the Mamba-2 layer's, "*"
    the attention half of the transformer table (up to the pre-MLP norm), "-" / "E" its MLP half
    (dense / MoE); ``kind`` None: the whole transformer layer. ``args``: ``layer_saved_tensors``'s
    after ``m``."""
    if kind == "M":
        return mamba_saved_tensors(m)
    rows = layer_saved_tensors(m, *args)
    if kind is None:
        return rows
    cut = next(i for i, t in enumerate(rows) if t.name == "norm2.input")
    return rows[:cut] if kind == "*" else rows[cut:]


@spec_memo
def _block_rows(m: ModelSpec, kind, *args) -> tuple:
    """``block_saved_tensors`` as a tuple, built once per model and arguments (``spec_memo``): the memory model reads
    the table once for each layer kind and ``layer_activation_bytes`` call, ~8 times a DeepSeek-V3 call (speed40)."""
    return tuple(block_saved_tensors(m, kind, *args))

def op_sac_saved_tensors(m: ModelSpec, moe: bool = False, kind=None, fused_qkv: bool = False, flash: bool = True):
    """What torchtitan's per-op selective activation checkpointing keeps of one checkpointed block: the rows follow
    ``planner.model.flops.op_sac_block``, the description the recompute FLOPs read too -- the outputs of the mms it
    does not re-run (the 1st, 3rd, ... ``nn.Linear`` mm of the block: Llama 3 under 0.3's fused QKV wqkv, w1, w2;
    with separate projections wq, wv, w1, w2; an MoE block's attention and shared-expert mms by the same count, the
    router and routed experts kept nothing), SDPA's output and fp32 log-sum-exp (with ``flash``: its kernel is in the
    save list; the math path's bmm/softmax are re-run and keep nothing), and the block input the checkpoint keeps for
    the re-run. Everything else (norms, RoPE, activations, routing) is re-run from these, so is not saved.

    Sharding (``SavedTensor.shard``): a column-parallel output by TP; a row-parallel output (wo, w2) is the partial
    sum, the full width on every rank (its reduction is not an mm); under sequence parallelism each row-parallel mm's
    ``reduce_scatter_tensor`` output, in the save list whatever the count, adds its sequence shard ("rs"). Checked
    against torch's SAC run with torchtitan's policy on CPU (tests/op_sac_truth.py, tests/test_op_sac_activations.py:
    dense and MoE blocks, fused and separate QKV, exact to the byte on one rank and at TP 2 with and without SP on
    gloo ranks under torchtitan's DTensor plan; MoE blocks at EP 2, and at TP 2 + SP with EP 2 and 4 on four ranks).
    These are eager SAC's caches; a compiled block keeps fewer (``compiled_dead_saves``)."""
    from planner.model.flops import OP_SAC_PARTS, op_sac_block

    b = op_sac_block(m, moe, kind, fused_qkv, flash)
    rows = [SavedTensor("block.input", m.hidden, None, "sp", True)]
    rows += [SavedTensor(f"{x.name}.out", x.n, None, x.shard, True) for x in b.saved]
    if b.sdpa_saved:
        width = m.heads * m.mla.v_head_dim if m.mla is not None else m.q_dim
        rows += [SavedTensor("sdpa.out", width, None, "tp", True),
                 SavedTensor("sdpa.logsumexp", m.heads, 4, "tp", True)]
    # a row-parallel mm's output is reduce-scattered where it leaves its part; an MoE block's shared-expert w2 keeps
    # its partial sum (RowwiseParallel(output_layouts=Partial())) and the MoE's output, routed and shared experts
    # summed, is reduce-scattered once (torchtitan llama4/parallelize.py ``apply_moe_ep_tp``: the "moe" module's
    # PrepareModuleInputOutput(output_layouts=(Partial(),), desired_output_layouts=(Shard(1),))), shared experts
    # or not: one row of h. Measured at TP 2 + SP with EP on four gloo ranks (tests/op_sac_truth.py EPTP_CASES):
    # without shared experts the MoE's reduce-scatter was missing (-10% of the layer's keep).
    rows += [SavedTensor(f"{x.name}.reduce_scatter", x.n, None, "rs", True) for x in b.saved + b.rerun
             if x.shard == "row" and not x.name.startswith("shared.")]
    in_block = moe and m.moe is not None and "moe" in OP_SAC_PARTS["moe" if kind is None else kind]
    if in_block:
        rows.append(SavedTensor("moe.reduce_scatter", m.hidden, None, "rs", True))
        # under expert parallelism the token dispatch and combine are ``all_to_all_single`` calls, in torchtitan's
        # save list whatever the mm count (``_op_sac_save_list``: ``torch.ops._c10d_functional.all_to_all_single``,
        # "saving their outputs avoids re-communicating"): the dispatch's output, the top_k copies of the rank's
        # tokens the experts take, and the combine's, their outputs on the way back, both kept (expert_parallel.py
        # ``_token_dispatch`` / ``_token_combine``). So is the split-size exchange before them, the same functional
        # op under no_grad: the tokens-per-expert counts from every EP rank, one int64 per expert (the router's
        # histc of the int64 expert indices) a layer and micro-batch. Zero where ep = 1 (no all-to-all). Measured
        # at EP 2 on gloo ranks and at EP 2 and 4 with TP 2 on four (tests/op_sac_truth.py ``EP_CASES``,
        # ``EPTP_CASES``): the caches hold exactly these three.
        width = m.moe.top_k * m.hidden
        rows += [SavedTensor("moe.dispatch.all_to_all", width, None, "a2a", True, routed=True),
                 SavedTensor("moe.combine.all_to_all", width, None, "a2a", True, routed=True),
                 SavedTensor("moe.counts.all_to_all", m.moe.experts, 8, "ep", True, per_layer=True)]
    return rows


#: per-op SAC's saves that the compiled block does not keep (``compiled_dead_saves``): the rows of the dense MLP's down
#: projection ``w2``, whose output (under SP its reduce-scatter's) only enters the block's last residual add, whose
#: backward reads neither input. Eager SAC caches every MUST_SAVE output whether or not a backward formula reads it
#: (torch/utils/checkpoint.py ``_CachingTorchDispatchMode``); compiled (torchtitan ``apply_compile``: each checkpoint-
#: wrapped block under ``torch.compile(fullgraph=True)``) the policy only tags the joint graph and the partitioner saves
#: what the backward reads. Measured (mem56, tests/make_sac_compile_truth.py, CPU Inductor, torch 2.13, torchtitan's
#: policy on its checkpoint wrapper): at TP 1 the compiled block keeps the block input, wq's, wv's and w1's outputs,
#: SDPA's output and log-sum-exp -- eager SAC those and w2's output; at TP 2 + SP (gloo, torchtitan's DTensor plan) it
#: drops w2's partial output and its reduce-scatter; at TP 2 without SP (w2's output all-reduced) it keeps what eager
#: SAC keeps. The MoE block's shared-expert w2 and its reduce-scatter are left as eager (not measured)
COMPILED_DEAD_SAVES = ("w2",)


def compiled_dead_saves(rows) -> list:
    """The rows of ``op_sac_saved_tensors`` a compiled block does not keep at TP 1 or under sequence parallelism
    (``COMPILED_DEAD_SAVES``; ``layer_activation_bytes`` ``compiled``)."""
    return [t for t in rows if t.name.split(".")[0] in COMPILED_DEAD_SAVES]


def rank_tokens(seq, micro_batch, cp=1):
    """Tokens of one micro-batch on one rank: seq x micro-batch / cp (float64 arrays). Context parallelism splits the
    sequence over the cp ranks (Megatron-Core ``get_batch_on_this_cp_rank``, torchtitan's ``context_parallel``); the
    TP and SP shards of a tensor are each caller's (``SavedTensor.shard``), not the tokens'."""
    return np.asarray(seq, dtype=np.float64) * np.asarray(micro_batch, dtype=np.float64) / np.asarray(cp, np.float64)


def sp_divisor(sp, tp):
    """What sequence parallelism divides a rank's hidden-size rows by: tp where it is on, else 1 (float64 arrays).
    Megatron-Core's SP keeps the tensors outside the tensor-parallel GEMMs (norms, dropout, the residual stream) on the
    rank's sequence shard (Korthikanti et al. 2022 §4.2.2; ``SavedTensor.shard`` "sp")."""
    return np.where(np.asarray(sp, dtype=bool), np.asarray(tp, dtype=np.float64), 1.0)


def _fallback_share(t: SavedTensor, fb, act_bytes):
    """The share of a row of the table built with ``fp32_softmax`` on that the keys keep, ``fb`` 1 where a key runs
    the softmax's torch fallback (``layer_saved_tensors``) and 0 where the fused kernel: its fp32 softmax output
    there, the kernel's ``act_bytes`` one here; the AV input's 16-bit cast there only, and not with fp32 scores (the
    softmax output itself feeds AV: one storage). 1 for every other row."""
    if t.name == "attn.softmax" and t.dtype_bytes == 4:
        return fb + (1.0 - fb) * np.asarray(act_bytes, dtype=np.float64) / 4.0
    if t.name == "attn.probs_cast":
        return np.where(np.asarray(act_bytes) == 4, 0.0, fb)
    return 1.0


def layer_activation_bytes(m: ModelSpec, seq, micro_batch, tp=1, cp=1, sp=False, recompute=NONE,
                           flash=True, dropout=False, act_bytes=2, moe=False, fp32_softmax=False,
                           te_fp8=False, fused_glu=False, selective="attention_core",
                           modules=("core_attn",), fused_norm=False, probs_in_experts=False, kind=None, lp_bytes=1.0,
                           fused_qkv=False, ep=1, switch_mlp=False, cp_allgather=0.0, cp_p2p=0.0, cp_a2a_p2p=0.0,
                           cp_torch_ring=None, remat=None, moe_a2a=False, sink_rescale=None, fused_act_experts=False, fp32_av=False,
                           partition_tp=False, tp_fp8_saves=False, gathered_tp_saves=False, compiled=False):
    """Bytes one layer keeps for one micro-batch on one rank. Vectorised over every numeric
    argument (numpy broadcasting); ``recompute`` is a code array (0/1/2), ``sp`` a bool array.
    ``te_fp8``/``fused_glu``: as ``layer_saved_tensors`` (``stack_table_kw`` says when they hold); ``fp32_softmax``
    too, per key (1 where the softmax's fp32 output is kept: ``saved_softmax_fp32``);
    ``lp_bytes``: bytes per element of TE's quantised copy of a linear's input under ``te_fp8``
    (the recipe's ``LowPrecisionRecipe.saved_bytes``: 1 for per-tensor FP8).

    Full recompute keeps only the layer input (Korthikanti §4: 2*s*b*h, sharded by t under SP).
    ``selective`` is what the stack's selective recompute keeps (``Stack.selective``): Megatron's
    attention core dropped (the table's ``selective`` rows), torchtitan's op-level SAC
    (``op_sac_saved_tensors``, dense, MoE and hybrid blocks; ``fused_qkv``: the stack's fused QKV projection, which
    moves its mm count) or its layer SAC, each ``ac_freq``-th
    layer fully checkpointed: here a checkpointed layer (its input, as full), the share of such layers
    and the rest at none blended by planner.model.memory_activations ``_partial_recompute_saves``
    (pipeline.recomputed_fraction).
    ``modules``: what Megatron's selective recompute re-runs (``training.recompute_modules``;
    default the attention core): the rows it frees go (the module docstring's "Recompute modules").
    ``kind``: one block of a hybrid model (``block_saved_tensors``); None: a transformer layer.
    ``ep``: expert parallelism, where it moves what is kept (op SAC keeps an MoE layer's all-to-all outputs).
    ``cp_allgather``: the share of the layers whose CP runs TE's K/V all-gather (Megatron-Core ``cp_comm_type``
    all_gather; ``cp_allgather_saves``), which keep a second copy of the attention output at CP > 1.
    ``cp_p2p`` / ``cp_a2a_p2p``: the shares whose CP runs TE's K/V ring (p2p, a2a+p2p): it saves what the table has;
    its buffers are a transient (``cp_p2p_transient``, in ``recompute_working_set``), unused here; so are PyTorch's
    ``context_parallel`` ring's (``cp_torch_ring``: ``cp_torch_ring_transient``).
    ``moe_a2a``: the MoE layers run Megatron-Core's all-to-all dispatcher: its unsaved copies are a transient
    (``moe_a2a_transient``, in ``recompute_working_set``), unused here.
    ``remat``: MaxText's remat policy as (tensor, location) pairs (``stack_table_kw``; stacks.remat_locations): full
    recompute keeps the tensors it puts on the device (``remat_tensor_bytes``) in place of the layer input.
    ``partition_tp``: DeepSpeed's ``partition_activations`` (planner.model.stacks ``Stack.partition_activations``):
    the checkpointed input the rank keeps is its 1/tp slice of the tensor the layer gets (checkpointing.py
    ``partition_activations``: ``get_partition_size`` = numel / mp_size, whatever sequence parallelism already split).
    ``gathered_tp_saves``: the stack's column-parallel linears save the input they multiply, under SP the gathered
    whole sequence (``Stack.tp_saves_gathered_inputs``: torchtitan's DTensor plan), so the ``linear_input`` rows kept
    on the sequence shard are kept whole.
    ``compiled``: the blocks run under ``torch.compile`` (``Stack.compile``): op SAC keeps no w2 output at TP 1 or
    under SP (``compiled_dead_saves``).
    ``tp_fp8_saves``: at TP > 1 the stack's TP plans hand every linear a float8 input, which the linear saves for its
    weight gradient (torchao float8 TP, ``Stack.quantised_tp_gathers`` under the recipe): torchao/float8/
    float8_tensor_parallel.py ``Float8ColwiseParallel._prepare_input_fn`` / ``PrepareFloat8ModuleInput`` cast to
    float8 before the all-gather and ``Float8RowwiseParallel._prepare_input_fn`` casts wo's and w2's inputs
    (``hp_tensor_to_float8_dynamic``, a ``DTensor(Float8Tensor)``); float8_linear.py ``matmul_with_hp_or_float8_args``
    ``ctx.save_for_backward(input_hp, weight_hp_t)`` saves that argument as given (the older
    ``manual_float8_matmul_with_args_in_float8`` its ``input_fp8``). The ``linear_input`` rows then take ``lp_bytes``
    and the out-projection keeps its float8 copy beside SDPA's 16-bit output (the ``proj.input`` row, as under
    ``te_fp8``); at TP 1 Float8Linear saves its 16-bit input (torchao issue #1850), as the table has it.
    """
    seq = np.asarray(seq, dtype=np.float64)
    tokens = rank_tokens(seq, micro_batch, cp)
    tp = np.asarray(tp, dtype=np.float64)
    sp_div = sp_divisor(sp, tp)
    rc = np.asarray(recompute)
    keep_all = np.zeros(np.broadcast(tokens, tp, sp_div, rc).shape)
    keep_sel = np.zeros_like(keep_all)
    # the scores term depends on the local sequence (keys span the whole sequence under CP)
    mods = set(modules)
    # each shard's share of a row and the routed rows' load, once a call rather than once a row (the same arrays:
    # a call's ~70-140 rows each rebuilt all seven and the load, most of the table's fixed cost, memspeed39)
    shares = {"tp": 1.0 / tp, "sp": 1.0 / sp_div, "row": 1.0, "none": 1.0,
              "rs": np.where((sp_div > 1), 1.0 / sp_div, 0.0),
              "a2a": np.where(np.asarray(ep) > 1, 1.0 / tp, 0.0),
              "ep": np.where(np.asarray(ep) > 1, 1.0, 0.0)}
    ones = np.ones_like(tokens)
    load = (rank_load(m.moe, ep), padded_rows(m.moe)) if m.moe is not None else None

    def row_bytes(t: SavedTensor):
        """Bytes of one saved-tensor row on the rank: its width per token (the explicit scores'
        a*s per token), its dtype (TE's FP8 copy of a linear's input: 1 byte), its sharding."""
        per_tok = t.per_token
        if t.name.startswith("attn.") and not flash and t.name != "attn.out_dropout_mask":
            per_tok = t.per_token * seq  # a*s elements per token
        b = act_bytes if t.dtype_bytes is None else t.dtype_bytes
        if te_fp8 and t.linear_input:
            b = lp_bytes  # TE keeps the quantised copy it made for the GEMM (LowPrecisionRecipe.saved_bytes)
        elif tp_fp8_saves and t.linear_input:  # torchao's float8 TP plans cast before the linear (only at TP > 1)
            b = np.where(tp > 1, lp_bytes, b)
            if t.name == "proj.input" and flash and not sink_rescale:  # wo's float8 copy of O, where the plan cast it
                b = np.where(tp > 1, b, 0.0)
        share = shares[t.shard]
        if gathered_tp_saves and t.linear_input and t.shard == "sp":  # the all-gathered input, whole under SP
            share = shares["none"]
        if t.routed and m.moe is not None:
            # the busiest EP rank's routed rows over the table's (padded) mean: a stated imbalance (at most ep),
            # the capacity where tokens are dropped; padding is in the table already. Until QA 51 the mean's
            rl, pr = load
            share = share * rl / pr
        return (ones if t.per_layer else tokens) * per_tok * b * share

    fb = np.asarray(fp32_softmax, dtype=np.float64)  # per key: 1 where the softmax's torch fallback runs
    for t in _block_rows(m, kind, 1.0, flash, dropout, moe, bool(np.any(fb)), te_fp8 or tp_fp8_saves, fused_glu, fused_norm,
                         probs_in_experts, switch_mlp, sink_rescale, fused_act_experts, fp32_av):
        v = row_bytes(t) * _fallback_share(t, fb, act_bytes)
        keep_all = keep_all + v
        if not ((not t.selective and "core_attn" in mods) or mods.intersection(t.modules)):
            keep_sel = keep_sel + v
    if cp_allgather and flash and kind in (None, "*"):  # TE all-gather CP's own copy of O (cp_allgather_saves)
        o = cp_allgather_saves(m, tokens, tp, cp, act_bytes) * cp_allgather
        keep_all = keep_all + o
        if "core_attn" not in mods:  # re-running the core attention frees it with the kernel's other saves
            keep_sel = keep_sel + o
    full = tokens * m.hidden * act_bytes / sp_div / (tp if partition_tp else 1.0)
    if remat is not None:  # MaxText's named remat policy: what it keeps on the chip (the host's share apart)
        full = remat_tensor_bytes(m, tokens, tp, sp_div, act_bytes, moe, remat)[0]
    if selective == "op":
        rows = op_sac_saved_tensors(m, moe, kind, fused_qkv, flash)
        keep_sel = sum(row_bytes(t) for t in rows)
        if compiled:  # what the partitioner leaves out, at TP 1 or under SP (measured: COMPILED_DEAD_SAVES)
            dead = sum((row_bytes(t) for t in compiled_dead_saves(rows)), 0.0)
            keep_sel = keep_sel - np.where((tp <= 1) | (sp_div > 1), dead, 0.0)
    elif selective == "layer":  # a layer layer SAC checkpoints (memory_activations._partial_recompute_saves: the share)
        keep_sel = full
    return np.where(rc == FULL, full, np.where(rc == SELECTIVE, keep_sel, keep_all))


def cp_allgather_saves(m: ModelSpec, tokens, tp, cp, act_bytes):
    """Bytes TE's all-gather CP (Megatron-Core ``cp_comm_type`` all_gather) saves beyond the flash rows of
    ``layer_saved_tensors``, per layer and micro-batch on a rank holding ``tokens`` (seq x micro-batch / cp): a second
    copy of the attention output. ``AttnFuncWithCPAndKVAllGather.forward`` (Transformer Engine
    transformer_engine/pytorch/attention/dot_product_attention/context_parallel.py @9c61cd7e) runs the kernel once per
    local chunk into ``out_per_step[i]``, copies each into ``out = torch.empty_like(q)`` (``out[i - 1].copy_(
    out_per_step[i - 1])``), returns ``out`` -- which the out-projection keeps as its input (the ``attn.out`` row) --
    and ``ctx.save_for_backward(q, k, v, ..., *out_per_step, *softmax_lse_per_step, ...)``: the two half-chunk outputs,
    16-bit (the F16 fused backend: the path has no FP8), one more q-wide tensor. Its q, k, v are the local chunks and
    its two half-chunk log-sum-exps the ``attn.logsumexp`` row, as without CP. (The p2p ring saves q, the last hop's
    K/V buffer, ``out`` itself and the merged log-sum-exp; a2a and a2a+p2p the all-to-all'd q, k, v and the returned
    output: each as the table, nothing more.) Only at CP > 1. ``tokens``, ``tp``, ``cp`` broadcast."""
    return np.where(np.asarray(cp) > 1, tokens * m.q_dim * act_bytes / np.asarray(tp, dtype=np.float64), 0.0)


def cp_allgather_transient(m: ModelSpec, seq, micro_batch, tp, cp, act_bytes):
    """The peak TE's all-gather CP adds, once, inside one layer's attention backward (bytes on one rank): the whole
    sequence's K and V gathered again and everything built on them. ``AttnFuncWithCPAndKVAllGather.backward`` (TE
    context_parallel.py @9c61cd7e) holds, at its ``dk = torch.index_select(dk, ...)`` reorder after the two chunks:
    ``k_ag`` / ``v_ag`` (``gather_along_first_dim`` then ``index_select``; the gathered copies rebound and freed): G;
    the zeroed ``dk`` / ``dv`` of ``k.shape[0] * cp_size`` rows: G; ``dk_per_step`` / ``dv_per_step``, the kernel's
    gradients over each chunk's keys -- chunk r up to (r + 1) of 2 cp chunks, chunk 2 cp - 1 - r up to 2 cp - r:
    (2 cp + 1) / 2 cp of G, kept in their lists until it returns (``movedim(..).contiguous()`` on sbhd a view); and
    the reordered ``dk``: G / 2 -- (3.5 + 1 / 2 cp) G, G = 2 x seq x micro-batch x KV width / tp x act bytes (the
    gathered K and V). Its forward peaks lower (the gathered K/V and one reorder copy, 1.5 G). The flash kernel's own
    local dq / dk / dv are no more than without CP (not counted, as elsewhere). Only at CP > 1; vectorised."""
    cp = np.asarray(cp, dtype=np.float64)
    g = 2.0 * np.asarray(seq, dtype=np.float64) * np.asarray(micro_batch, dtype=np.float64) * m.kv_dim * act_bytes \
        / np.asarray(tp, dtype=np.float64)
    return np.where(cp > 1, (3.5 + 1.0 / (2.0 * np.maximum(cp, 1.0))) * g, 0.0)


def cp_p2p_transient(m: ModelSpec, seq, micro_batch, tp, cp, ring, act_bytes, causal=True):
    """The peak TE's K/V ring CP (Megatron-Core ``cp_comm_type`` p2p, and a2a+p2p's ring) adds, once, inside one
    layer's attention (bytes on one rank): the larger of its forward's and its backward's buffers. ``ring``: the
    ring's ranks, ``cp`` for p2p, cp / a2a for a2a+p2p (its all-to-all inside the a2a group first: q, k, v then hold
    a2a x the tokens on heads / a2a, the same bytes a rank; the a2a's own copies are not counted). Per rank, sbhd
    (Megatron-Core's format), 16-bit F16 fused path: KV = 2 x tokens x KV width / tp x act bytes (the rank's K and V),
    O = tokens x q width / tp x act bytes, L = tokens x heads / tp x 4 (fp32 log-sum-exp), tokens = seq x
    micro-batch / cp.

    Forward (``AttnFuncWithCPAndKVP2P.forward``, TE transformer_engine/pytorch/attention/dot_product_attention/
    context_parallel.py @9c61cd7e): ``p2p_comm_buffers`` keeps every hop's K/V -- ``[0] = torch.cat((k.unsqueeze(-3),
    v.unsqueeze(-3)), dim=-3)``, a copy beside the caller's k, v, then ``p2p_comm_buffers[i + 1] = torch.empty_like(
    p2p_comm_buffers[i])`` a hop -- and ``out_per_step`` / ``softmax_lse_per_step`` every step's kernel output and
    log-sum-exp, all in their lists until the forward returns; the merged ``out`` (``flash_attn_fwd_out_correction_init``,
    in the input's dtype; ``out.to(qkv_dtype)`` the same tensor) is allocated while they live. Causal (load-balanced
    2 x ring chunks) rank r: steps 0..r run the whole local q (a full output), steps r+1.. the second half (half
    one); the last rank r = ring - 1 holds the most: ring x KV + ring x (O + L) beyond the table's q, k, v, out and
    log-sum-exp (the saved ``kv = p2p_comm_buffers[-1]`` standing for the table's K/V, the caller's k, v alive
    beside it). Non-causal every rank the same. The sbhd half-chunk ``.contiguous()`` calls are on contiguous
    slices (no copy).

    Backward (``.backward``): ``dq = torch.empty_like(q)``, two ``(2, *kv.shape)`` buffers (K/V and dK/dV, sent and
    received: 4 KV), the kernel's dq_ and its dK/dV (one interleaved storage, ``combine_tensors``) and the previous
    step's, which ``dkv_`` still holds while the next kernel runs (KV full-key, KV / 2 half-key steps), and on a
    causal rank below the last the second-half log-sum-exp copy (``softmax_lse_[..., 1, :].contiguous()``, L / 2).
    At rank 0's last (diagonal) step: 4 KV + KV + KV + L / 2 beyond dq and the kernel's dq_ -- left out as
    ``cp_allgather_transient`` leaves them out; 5 KV on a one-rank ring (no previous step). Both measured on a CPU
    torch re-implementation of these tensors (tests/test_p2pmem37.py). The forward's is the larger from a ring of 2
    with GQA (Llama-3-8B 128K CP16 TP1: 16 x (32 + 64 + 1) MiB = 1.52 GiB against 192.5 MiB); the backward's only for
    MHA on a ring of 2. Only at CP > 1; vectorised over every numeric argument."""
    fwd, bwd = cp_p2p_buffers(m, seq, micro_batch, tp, cp, ring, act_bytes, causal)
    return np.where(np.asarray(cp) > 1, np.maximum(fwd, bwd), 0.0)


#: PyTorch's ``context_parallel`` ring backward's buffers on a rank, beyond the kernel's own input gradients: (per
#: CP rank of the K/V all-gather, fixed) in units of the rank's K (one 16-bit tensor), and in its Q; measured
#: (tests/test_mem54.py) on torch's ``_templated_ring_attention_backward`` itself, the kernel a stub returning its
#: three gradients, CP 4 and 8 on a fake process group: (2 cp + 20) K + 3 Q on every rank (2 cp + 19 at CP 2)
TORCH_CP_RING_BWD = (2.0, 20.0, 3.0)


def cp_torch_ring_transient(m: ModelSpec, seq, micro_batch, tp, cp, repeated: bool, act_bytes):
    """The peak PyTorch's ``context_parallel`` ring attention adds, once, inside one layer's attention backward (bytes
    on one rank), its all-gather rotater (torchtitan's ``context_parallel_rotate_method`` default "allgather"):
    ``TORCH_CP_RING_BWD`` -- (2 cp + 20) K + 3 Q, K = tokens x K width / tp x act bytes (tokens = seq x micro-batch
    / cp, the width the query heads' where the stack repeats K/V before the kernel, ``repeated``: torchtitan's
    ``repeat_kv``), Q = tokens x q width / tp x act bytes.

    torch/distributed/tensor/experimental/_attention.py (torch 2.5-2.6; _context_parallel/_attention.py since, the
    same code) ``_templated_ring_attention_backward``: fp32 ``grad_query`` / ``grad_key`` / ``grad_value``
    accumulators (``_cp_options.convert_to_f32``), ``key.contiguous()`` / ``value.contiguous()`` copies of the
    kernel's transposed views, the ``torch.cat`` of K and V each step and the all-gathered K/V of every CP rank
    (``_AllGatherRotater``: 2 cp K, gathered once, held through the loop), and the fp32 K/V gradients the
    ``dkv_rotater`` (always ``_AllToAllRotater``: ``permute_tensor``) passes round the ring -- received, updated
    (``_partial_update``'s ``torch.cat`` under load balancing), concatenated to send and the all-to-all's output.
    The forward (``_templated_ring_attention``, its ``_SDPAMerger`` fp32 output and merge temporaries) peaks lower
    at every CP measured (about 9 Q + (2 cp + 2) K). The fp32 terms are measured at 16-bit activations (every
    torch CP stack here). Only at CP > 1; vectorised."""
    cp = np.asarray(cp, dtype=np.float64)
    tokens = rank_tokens(seq, micro_batch, cp)
    tp = np.asarray(tp, dtype=np.float64)
    k = tokens * (m.q_dim if repeated else m.kv_dim) * act_bytes / tp
    q = tokens * m.q_dim * act_bytes / tp
    per_rank, fixed, on_q = TORCH_CP_RING_BWD
    return np.where(cp > 1, (per_rank * cp + fixed) * k + on_q * q, 0.0)


def cp_p2p_buffers(m: ModelSpec, seq, micro_batch, tp, cp, ring, act_bytes, causal=True):
    """(forward, backward) buffers of TE's K/V ring on its fullest rank, as ``cp_p2p_transient`` derives them: ring x
    (KV + O + L) on the last rank; 6 KV (+ L / 2 causal) at rank 0, 5 KV on a ring of one; an MLA model's V and output
    at its ``v_head_dim``. Vectorised."""
    ring = np.asarray(ring, dtype=np.float64)
    tp = np.asarray(tp, dtype=np.float64)
    tokens = rank_tokens(seq, micro_batch, cp)
    # MLA (TE's enable_mla: K and V flattened into one buffer): K heads x (nope + rope), V and the output heads x v_dim
    v_w = m.heads * m.mla.v_head_dim if m.mla is not None else m.kv_dim
    kv = tokens * (m.kv_dim + v_w) * act_bytes / tp  # the rank's K and V
    o = tokens * (v_w if m.mla is not None else m.q_dim) * act_bytes / tp  # one output
    lse = tokens * m.heads / tp * 4.0  # the fp32 log-sum-exp
    fwd = ring * (kv + o + lse)
    bwd = 5.0 * kv + np.where(ring > 1, kv + (0.5 * lse if causal else 0.0), 0.0)
    return fwd, bwd


def remat_tensor_bytes(m: ModelSpec, tokens, tp, sp_div, act_bytes, moe: bool, remat):
    """(on the chip, on the host) bytes of one layer's tensors that MaxText's remat policy ``remat`` ((tensor,
    location) pairs, planner.model.stacks ``remat_locations``) saves for ``tokens`` tokens on one rank: the widths of
    MaxText's named tensors (``MAXTEXT_REMAT_TENSORS``) -- the layer input, output projection and ``mlpwo`` h each
    (sequence-split under SP, ``sp_div``), q / context heads x head_dim, k / v kv_heads x head_dim, the MLP's first
    GEMM its width (``mlpwi_0`` / ``mlpwi_1`` each half of a gated one, ``mlpwi`` a non-gated one's), split over TP;
    an MoE layer's MLP tensors each token's top_k routed rows at the expert width. A rematerialised tensor takes
    neither. At ``act_bytes`` (MaxText's bf16 activations, ``dtype``)."""
    loc = dict(remat)
    tp = np.asarray(tp, dtype=np.float64)
    f = (m.moe.top_k * m.ffn_hidden) if (moe and m.moe is not None) else m.dense_width
    width = {"decoder_layer_input": m.hidden / sp_div, "query_proj": m.q_dim / tp, "key_proj": m.kv_dim / tp,
             "value_proj": m.kv_dim / tp, "context": m.q_dim / tp, "out_proj": m.hidden / sp_div,
             "mlpwi": (0.0 if m.gated else f) / tp, "mlpwi_0": (f if m.gated else 0.0) / tp,
             "mlpwi_1": (f if m.gated else 0.0) / tp,
             "mlpwo": (m.hidden * (m.moe.top_k if (moe and m.moe is not None) else 1)) / sp_div}
    dev = sum(width[k] for k, v in loc.items() if v == "device")
    host = sum(width[k] for k, v in loc.items() if v == "offload")
    return tokens * dev * act_bytes, tokens * host * act_bytes


def remat_host_layer_bytes(m: ModelSpec, seq, micro_batch, tp=1, cp=1, sp=False, act_bytes=2, remat=None):
    """Host bytes per layer (mean over the model's dense and MoE layers) and micro-batch that MaxText's remat policy
    offloads (``remat_tensor_bytes``); 0 without one."""
    if remat is None or not m.is_transformer:
        return np.zeros(np.broadcast(np.asarray(micro_batch), np.asarray(tp)).shape)
    tokens = rank_tokens(seq, micro_batch, cp)
    sp_div = sp_divisor(sp, tp)
    share = m.moe_layers / m.layers if m.moe is not None else 0.0
    out = (1 - share) * remat_tensor_bytes(m, tokens, tp, sp_div, act_bytes, False, remat)[1]
    if share:
        out = out + share * remat_tensor_bytes(m, tokens, tp, sp_div, act_bytes, True, remat)[1]
    return out


def stack_remat(stack):
    """MaxText's remat policy of ``stack`` as sorted (tensor, location) pairs (``remat_locations``), None where the
    stack names none (every other stack, and MaxText's default ``full``: the layer input, as before the option)."""
    if not getattr(stack, "has_remat_policy", False) or getattr(stack, "remat_policy", None) is None:
        return None
    return tuple(sorted(remat_locations(stack).items()))


def stack_table_kw(stack, precision: str, modules=("core_attn",), model=None) -> dict:
    """The table's stack-dependent keywords for a ``planner.model.stacks.Stack``: ``te_fp8`` where
    the stack's linears are Transformer Engine modules (``Stack.te_linears``: Megatron-Core's TE
    spec) and the GEMMs run in FP8, ``fused_glu`` where it fuses the gated activation
    (``Stack.fused_glu``), ``selective``: what its selective recompute keeps (``Stack.selective``),
    ``modules``: the Megatron recompute modules (``planner.model.stacks.recompute_modules``) and
    ``fused_norm`` where the TE spec fuses the norms into the linears, ``probs_in_experts`` where the
    experts apply the routing weights (``Stack.moe_probs_in_experts``), ``lp_bytes`` the bytes per element of
    the quantised linear inputs TE keeps under the stack's recipe (``LowPrecisionRecipe.saved_bytes``), ``fused_qkv``
    where its attention runs q, k, v as one linear (``Stack.fused_qkv``: per-op SAC's mm count), ``cp_allgather``
    the share of ``model``'s layers whose CP is TE's all-gather (``stacks.cp_comm_mix``: Megatron-Core
    ``cp_comm_type``), ``cp_p2p`` / ``cp_a2a_p2p`` those whose CP is its K/V ring (p2p, a2a+p2p), ``sink_rescale``
    the form of ``model``'s eager sink rescale (``sink_rescale_form``), ``fused_act_experts`` where the routed experts'
    activation keeps only its input under the stack's dispatcher (``Stack.moe_fused_act_dispatchers``), ``fp32_av`` where
    its explicit attention's AV GEMM runs on the fp32 softmax (stack_kernels ``EXPLICIT_SOFTMAX`` "sdpa_math"),
    ``gathered_tp_saves`` where its TP linears save their all-gathered input (``Stack.tp_saves_gathered_inputs``),
    ``tp_fp8_saves`` where, not being TE's, they save the float8 input its TP plans hand them under the recipe
    (``Stack.quantised_tp_gathers``: torchao float8 TP), ``compiled`` where its blocks run under ``torch.compile``
    (``Stack.compile``: op SAC's compiled saves)."""
    te = bool(getattr(stack, "te_linears", False))
    recipe = getattr(stack, "recipe", None)
    # the layers whose CP is TE's all-gather (Megatron-Core cp_comm_type all_gather; a per-layer list's share)
    mix = cp_comm_mix(stack, model)
    allgather = sum(share for kind, share in mix if kind == "all_gather")
    return dict(te_fp8=te and precision == "fp8", lp_bytes=recipe.saved_bytes if recipe is not None else 1.0,
                cp_allgather=float(allgather),
                # the layers whose CP runs TE's K/V ring: p2p over all of CP, a2a+p2p over CP / a2a
                cp_p2p=float(sum(share for kind, share in mix if kind == "p2p")),
                cp_a2a_p2p=float(sum(share for kind, share in mix if kind == "a2a+p2p")),
                # PyTorch's context_parallel ring (Stack.torch_cp_ring), its K/V at the query heads where repeated
                cp_torch_ring=(("repeated" if getattr(stack, "repeats_kv_heads", False) else "grouped")
                               if getattr(stack, "torch_cp_ring", False) else None),
                fused_glu=bool(getattr(stack, "fused_glu", False)),
                selective=getattr(stack, "selective", "attention_core"), modules=tuple(modules), fused_norm=te,
                probs_in_experts=bool(getattr(stack, "moe_probs_in_experts", False)),
                fused_qkv=bool(getattr(stack, "fused_qkv", False)),
                switch_mlp=bool(getattr(stack, "moe_switch_mlp", False)), remat=stack_remat(stack),
                **dispatcher_table_kw(stack, getattr(stack, "moe_dispatcher", "alltoall")),
                sink_rescale=sink_rescale_form(stack, model), fp32_av=explicit_softmax_av_fp32(stack),
                # DeepSpeed's partition_activations: the checkpointed input split over the TP group
                partition_tp=bool(getattr(stack, "partition_activations", False)),
                gathered_tp_saves=bool(getattr(stack, "tp_saves_gathered_inputs", False)),
                tp_fp8_saves=(not te and precision == "fp8" and recipe is not None
                              and recipe.name in getattr(stack, "quantised_tp_gathers", ())),
                compiled=bool(getattr(stack, "compile", False)))


#: ``stack_table_kw``'s keywords that the MoE token dispatcher sets (``dispatcher_table_kw``): a layer key of memory
#: (memory_activations ``layer_saves``: a search's dispatcher twins in one call), out of its memo's setting
DISPATCHER_TABLE_KW = ("moe_a2a", "fused_act_experts")


def dispatcher_table_kw(stack, dispatcher: str) -> dict:
    """The table's keywords that ``stack``'s MoE layers take under token dispatcher ``dispatcher``
    (``DISPATCHER_TABLE_KW``): ``moe_a2a`` where Megatron-Core's MoELayer runs its all-to-all dispatcher (its copies
    a transient, ``moe_a2a_transient``), ``fused_act_experts`` where the routed experts' activation keeps only its
    input under it (``Stack.moe_fused_act_dispatchers``)."""
    return dict(moe_a2a=bool(getattr(stack, "moe_megatron_layer", False)) and dispatcher == "alltoall",
                fused_act_experts=dispatcher in getattr(stack, "moe_fused_act_dispatchers", ()))


def sink_rescale_form(stack, model) -> str | None:
    """How ``model``'s attention sinks run under ``stack``: its ``Stack.sink_rescale_form`` where the stack's
    attention kernel leaves them to an eager rescale of the output (``Stack.sink_rescale_kernels``; not under
    ``compile``, as step_time prices it), else None (no sinks, or inside the kernel's softmax)."""
    if model is None or not getattr(model, "attention_sinks", False) or getattr(stack, "compile", False):
        return None
    if getattr(stack, "attn_kernel", None) not in getattr(stack, "sink_rescale_kernels", ()):
        return None
    return getattr(stack, "sink_rescale_form", "fp32_product")


def mean_layer_activation_bytes(m: ModelSpec, seq, micro_batch, **kw):
    """``layer_activation_bytes`` averaged over the model's layers: dense and MoE layers weighted by
    their counts (``m.moe_layers`` of ``m.layers``). Keywords as ``layer_activation_bytes``."""
    if m.hybrid:  # one block per layer, each kind by its count (the layer input kept once per block)
        return sum(n / m.layers * layer_activation_bytes(m, seq, micro_batch, moe=k == "E", kind=k, **kw)
                   for k in HYBRID_LAYER if (n := m.kind_layers(k)))
    share = m.moe_layers / m.layers if m.moe is not None else 0.0
    out = (1 - share) * layer_activation_bytes(m, seq, micro_batch, moe=False, **kw)
    if share:
        out = out + share * layer_activation_bytes(m, seq, micro_batch, moe=True, **kw)
    return out

def moe_a2a_transient(m: ModelSpec, seq, micro_batch, tp=1, cp=1, ep=1, act_bytes=2):
    """Bytes an MoE layer behind Megatron-Core's all-to-all dispatcher holds beyond its saves, at the larger of its
    forward and backward peaks: two copies of the rank's routed rows, 2 x k T h x ``act_bytes`` (T the rank's
    mb x seq / (cp x tp) tokens, h ``expert_io``, the busiest rank's ``rank_load``), at EP > 1 (0 at EP 1).

    megatron/core/transformer/moe/token_dispatcher.py ``MoEAlltoAllTokenDispatcher``: ``dispatch_preprocess``
    permutes (moe_utils.py ``permute``: ``index_select``, or TE's ``moe_permute`` under ``moe_permute_fusion``) into
    a new k T x h tensor, ``token_dispatch``'s ``all_to_all`` writes a second beside it, ``dispatch_postprocess``'s
    ``sort_chunks_by_idxs`` (``torch.cat`` of the chunks, or TE's ``moe_sort_chunks_by_index``) a third beside the
    second -- that one is the experts' saved input (``moe.dispatched_input``): one copy beyond the saves. On the
    combine side ``combine_preprocess`` sorts the experts' output back (a copy beside it) and ``token_combine``'s
    ``all_to_all`` writes another: with the routing weights applied in the experts (``moe_probs_in_experts``:
    nothing keeps the expert output) two copies beyond the saves until the all-to-all ends, less the layer's
    T x h output that ``unpermute``'s ``scatter_add_`` (or TE's ``moe_unpermute``) writes after; with them applied
    in ``unpermute`` its input is the saved ``moe.expert_out`` and its product one copy. The backward mirrors it:
    each op's input gradient is a new k T x h tensor made while its output gradient lives (``all_to_all``'s
    backward an all-to-all into a new tensor; ``scatter_add_``'s a ``gather``), two at once beyond the saves on
    both sides. Measured on CPU torch with a live-bytes counter (tests/test_a2aperm37.py), the weights in the
    experts as every Megatron-Core stack here applies them: forward 2 - 1/k copies, backward 2, the price; with or
    without ``moe_permute_fusion`` (its TE kernels write the same new tensors; torch.cat's backward is views, TE's
    sort a new tensor made after the all-to-all's gradient is freed). An unfused ``unpermute`` applying the weights
    holds 3 in its backward (the multiply's full-width product for the probabilities' gradient): no stack here runs
    it. The experts' own gradients (k T x ffn) are not counted, as no layer's activation gradients are. Until
    a2aperm37 not counted: Mixtral-8x7B at TP 1 EP 8 read 128 MiB less."""
    if m.moe is None:
        return 0.0
    tokens = rank_tokens(seq, micro_batch, cp)
    rows = tokens * m.moe.top_k * rank_load(m.moe, ep) / np.asarray(tp, dtype=np.float64)
    return np.where(np.asarray(ep) > 1, 2.0 * rows * m.expert_io * act_bytes, 0.0)


def recompute_working_set(m: ModelSpec, seq, micro_batch, tp=1, cp=1, sp=False, flash=True,
                          dropout=False, act_bytes=2, moe=False, recompute=NONE, fp32_softmax=False,
                          te_fp8=False, fused_glu=False, selective="attention_core", modules=("core_attn",),
                          fused_norm=False, probs_in_experts=False, kind=None, lp_bytes=1.0, fused_qkv=False, ep=1,
                          switch_mlp=False, cp_allgather=0.0, cp_p2p=0.0, cp_a2a_p2p=0.0, cp_a2a=1, cp_torch_ring=None,
                          remat=None,
                          moe_a2a=False, sink_rescale=None, fused_act_experts=False, fp32_av=False,
                          partition_tp=False, tp_fp8_saves=False, gathered_tp_saves=False, compiled=False):
    """Extra peak during backward: what one layer rebuilds at once under recompute — the whole
    layer under full recompute (and layer SAC), what selective dropped under selective — plus, where some layers'
    CP is TE's all-gather (``cp_allgather`` > 0), that exchange's backward buffers (``cp_allgather_transient``), and
    where some run its K/V ring (``cp_p2p``: p2p, over CP; ``cp_a2a_p2p``: a2a+p2p, over CP / ``cp_a2a``, the a2a
    group, comm.hierarchical_cp_a2a) the ring's forward or backward buffers (``cp_p2p_transient``), where it is
    PyTorch's ``context_parallel`` ring (``cp_torch_ring``: K/V "repeated" to the query heads or "grouped") its
    backward's buffers (``cp_torch_ring_transient``): the largest of
    those the layers run, once (each lives inside one layer's attention), at every recompute setting; an MoE layer
    behind Megatron-Core's all-to-all dispatcher (``moe_a2a``, ``ep`` > 1) the dispatcher's unsaved copies
    (``moe_a2a_transient``), which live inside the MoE block and never beside the attention's: the larger of the
    two. ``kind``: one block of a hybrid model (``block_saved_tensors``; each block is its own
    checkpointed layer). ``partition_tp`` (DeepSpeed's ``partition_activations``) moves nothing here: the layer
    rebuilds from its input gathered whole (checkpointing.py ``gather_partitioned_activations``)."""
    del partition_tp  # (the stack keyword layer_activation_bytes takes: the saved input, not the rebuild)
    args = (m, seq, micro_batch, tp, cp, sp)
    one = layer_activation_bytes(*args, NONE, flash, dropout, act_bytes, moe, fp32_softmax, te_fp8, fused_glu,
                                 fused_norm=fused_norm, probs_in_experts=probs_in_experts, kind=kind, lp_bytes=lp_bytes,
                                 switch_mlp=switch_mlp, cp_allgather=cp_allgather, sink_rescale=sink_rescale,
                                 fused_act_experts=fused_act_experts, fp32_av=fp32_av, tp_fp8_saves=tp_fp8_saves,
                                 gathered_tp_saves=gathered_tp_saves)
    sel = layer_activation_bytes(*args, SELECTIVE, flash, dropout, act_bytes, moe, fp32_softmax, te_fp8, fused_glu,
                                 "attention_core" if selective == "layer" else selective, modules, fused_norm,
                                 probs_in_experts, kind=kind, lp_bytes=lp_bytes, fused_qkv=fused_qkv, ep=ep,
                                 switch_mlp=switch_mlp, cp_allgather=cp_allgather, sink_rescale=sink_rescale,
                                 fused_act_experts=fused_act_experts, fp32_av=fp32_av, tp_fp8_saves=tp_fp8_saves,
                                 gathered_tp_saves=gathered_tp_saves, compiled=compiled)
    rc = np.asarray(recompute)
    # (the peak is a maximum over the layers: any all-gather or ring layer reaches its own, whatever their share)
    ag = 0.0
    if flash and kind in (None, "*"):
        if cp_allgather:
            ag = cp_allgather_transient(m, seq, micro_batch, tp, cp, act_bytes)
        ring = cp if cp_p2p else (np.asarray(cp) / np.asarray(cp_a2a) if cp_a2a_p2p else None)
        if ring is not None:  # a p2p layer's ring (all of CP) is at least an a2a+p2p layer's
            ag = np.maximum(ag, cp_p2p_transient(m, seq, micro_batch, tp, cp, ring, act_bytes, m.causal))
        if cp_torch_ring is not None:
            ag = np.maximum(ag, cp_torch_ring_transient(m, seq, micro_batch, tp, cp, cp_torch_ring == "repeated",
                                                        act_bytes))
    if moe and moe_a2a and not switch_mlp and kind in (None, "E"):
        ag = np.maximum(ag, moe_a2a_transient(m, seq, micro_batch, tp, cp, ep, act_bytes))
    if selective == "layer":  # a layer SAC checkpointed layer is rebuilt whole, as under full recompute
        return np.where((rc == FULL) | (rc == SELECTIVE), one, 0.0) + ag
    # op SAC keeps tensors no-recompute autograd does not (a row-parallel mm's full-width output, reduce-scatter
    # outputs), so its keep is not a subset of ``one``: no negative rebuild
    return np.where(rc == FULL, one, np.where(rc == SELECTIVE, np.maximum(one - sel, 0.0), 0.0)) + ag


@dataclass(frozen=True)
class RankLogits:
    """The logits one rank of the last pipeline stage holds at once for one micro-batch (``rank_logits``).

    ``tokens``: the tokens whose logits are alive at once (``rank_tokens`` over the vocabulary tiles); ``vocab``: the
    model's vocabulary; ``tp``: the vocabulary-parallel split (float64). The bytes per logit are each caller's:
    ``logits_bytes`` (the saved fp32 log-softmax, 4), ``loss_transient_bytes`` (``LOSS_TRANSIENT_BYTES``, by the
    stack's loss code), memory_activations ``held_logit_bytes`` (the activation dtype)."""
    tokens: object
    vocab: int
    tp: object

    @property
    def shard(self):
        """Logits of the rank's vocabulary shard: tokens x V / tp."""
        return self.tokens * self.vocab / self.tp

    @property
    def gathered(self):
        """Logits of the whole vocabulary over the same tokens, tokens x V: what a loss that gathers the vocabulary-
        sharded logits before it runs holds (NeMo AutoModel's ``logits.full_tensor()``, ``LOSS_GATHERED_BYTES``)."""
        return self.tokens * self.vocab

    def chunk(self, rows):
        """Logits of a ``rows``-token slice of the whole vocabulary, at most the tokens (AutoModel's
        ``MaskedCrossEntropy(chunk_size=rows)``: one ``[rows, V]`` slice at a time, ``CHUNK_CE_BYTES``)."""
        return np.minimum(float(rows), self.tokens) * self.vocab


def rank_logits(m: ModelSpec, seq, micro_batch, tp=1, cp=1, vocab_tiles=1, head_seq=None) -> RankLogits:
    """The logits one rank holds at once on the last pipeline stage (the only stage with the LM head and loss) for one
    micro-batch: seq x micro-batch / cp tokens / ``vocab_tiles``, each over V / tp of the vocabulary. The one place
    the count is written; each factor's source:

    * tokens / cp: the LM head runs on the rank's sequence shard under context parallelism (``rank_tokens``); under
      sequence parallelism Megatron-Core's head (a ColumnParallelLinear) all-gathers its input over the TP ranks
      first (megatron/core/tensor_parallel/layers.py, 0.16.1, l. 478-484), so its logits hold all the cp shard's
      tokens: no sp factor.
    * V / tp, the vocabulary-parallel split: Megatron-Core's head keeps its output sharded (``parallel_output``) and its
      vocab-parallel cross-entropy works on the local ``[s, b, V/t]`` shard (megatron/core/tensor_parallel/
      cross_entropy.py ``VocabParallelCrossEntropy``: ``partition_vocab_size = vocab_parallel_logits.size()[-1]``);
      TE's fused loss the same (``parallel_cross_entropy`` on the shard, TE's loss/triton/te_cross_entropy.py; Megatron-
      Core's ``--cross-entropy-fusion-impl te``); torchtitan's loss parallel keeps the head's output a vocabulary-
      sharded DTensor (parallelize_llama.py ``apply_tp``: ``"output": ColwiseParallel(output_layouts=Shard(-1) if
      loss_parallel ...)``, torch/distributed/tensor/parallel/loss.py). Where a loss gathers the whole vocabulary
      (AutoModel's ``full_tensor()``) ``RankLogits.gathered`` counts it.
    * ``vocab_tiles``: MaxText's ``num_vocab_tiling`` (Stack.num_vocab_tiling): the loss scans the tokens in that many
      equal tiles (vocabulary_tiling.py ``vocab_tile_size = (batch_size * seq_len) // config.num_vocab_tiling``), one
      tile's logits alive at a time.
    * the positions and the width: planner.spec.params ``head_positions`` (the one rule: a classifier's [CLS] token;
      ``head_seq``, ``TrainingSpec.head_tokens_per_seq``, BERT's masked positions; else every position) and
      ``head_width`` (the vocabulary, or a classifier's ``num_labels``). The step time's head (layer_ops ``lm_head``)
      and the memory's loss (memory_activations ``loss_logits``) pass ``head_seq``; the HF walk (activations_hf)
      counts every position of an LM head (HF's ``BertForMaskedLM`` runs its ``cls`` head on the whole
      ``sequence_output``: the field describes DLE's gathering head, which the HF code does not run).
    * the dtype is not the count's: HF's loss upcasts the whole logits (transformers loss_utils.py ``ForCausalLMLoss``:
      ``logits.float()``, 4 bytes a logit, ``LOSS_TRANSIENT_BYTES`` "cast_ce"); a fused loss that never writes fp32
      logits (TE's kernel, "te_parallel_ce") or no logits at all (Cut Cross-Entropy, "linear_ce", whose model returns
      none: memory_activations ``held_logit_bytes``) prices fewer bytes per logit of the same count.

    The non-transformer models (no LM head) are each caller's zero."""
    tokens = rank_tokens(head_positions(m, seq, head_seq), micro_batch, cp) / float(vocab_tiles)
    return RankLogits(tokens, head_width(m), np.asarray(tp, dtype=np.float64))


def logits_bytes(m: ModelSpec, seq, micro_batch, tp=1, cp=1, act_bytes=2, sp=False, vocab_tiles=1, head_seq=None,
                 gathered_head=False, vocab_tp=None):
    """Bytes the output layer and loss keep for one micro-batch on the last pipeline stage.

    What autograd saves (checked in tests/test_activations.py): the final norm's input, fp32
    statistics and output (the LM head's input), and the fp32 log-softmax that cross-entropy keeps
    after upcasting the logits — 4*V/t bytes per token, Megatron's vocab-parallel cross-entropy
    keeps the same fp32 softmax. BERT's MLM head adds its dense input, GELU input and LayerNorm
    input (h each). The logits in the activation dtype and their fp32 copy are not saved: they
    live only while the loss runs (a transient of (act_bytes + 4)*V/t per token, on top of this,
    for whoever models the peak at the loss). Megatron's estimator uses 4*s*b*h*(1 + V/h).

    ``sp``: under sequence parallelism the hidden-size rows are sharded by t — Megatron-Core's
    final norm runs on the sequence shard and the LM head (a ColumnParallelLinear) saves its input
    before the all-gather (megatron/core/tensor_parallel/layers.py, 0.16.1, l. 465
    ``ctx.save_for_backward(input, weight)``, the gather at l. 478-484); measured in
    tests/test_mcore_activations.py.

    ``vocab_tiles``: MaxText's ``num_vocab_tiling`` (planner.model.stacks ``Stack.num_vocab_tiling``): the loss
    scans the tokens in that many tiles and saves no logit (vocabulary_tiling.py ``vocab_tiling_linen_loss``: its
    custom VJP's residuals are the parameters, the hidden states and the labels), so the vocab-wide bytes are one
    tile's, alive while that tile's loss runs; the hidden rows stay.

    ``head_seq``: ``TrainingSpec.head_tokens_per_seq`` (``rank_logits``, the one rule the step time's head reads): DLE's
    BERT gathers the masked positions before its MLM head, so the logits and the MLM transform's rows are theirs.

    ``gathered_head``: the LM head is a column-parallel linear that saves the input it multiplies, under SP the
    all-gathered whole sequence (``Stack.tp_saves_gathered_inputs``; torchtitan's ``apply_tp`` plans ``"output":
    ColwiseParallel(input_layouts=Shard(1), ...)`` beside ``"norm": SequenceParallel()``, in 16 bits even under its
    float8 TP plans, which cover the blocks' linears only): the head's input row is whole, the norm's input stays on
    the shard (mem55: a fake-group ``parallelize_module`` of that plan at TP 2 saves the (tokens, h) input,
    tests/test_mem55.py).

    ``vocab_tp``: the TP split of the vocabulary the loss runs on, where it is not ``tp`` (1: a head whose output is
    gathered to the whole vocabulary on every TP rank, ``Stack.loss_parallel`` off; ``loss_logits``).
    """
    if not m.is_transformer:
        return np.zeros(np.broadcast(np.asarray(seq), np.asarray(micro_batch)).shape)
    tokens = rank_tokens(seq, micro_batch, cp)
    vtp = tp if vocab_tp is None else vocab_tp
    vocab_part = rank_logits(m, seq, micro_batch, vtp, cp, vocab_tiles, head_seq).shard * 4  # the saved log-softmax
    sp_div = sp_divisor(sp, tp)
    if m.output_head == "classifier":
        # the pooler's dense keeps its input, the [CLS] slice: a view of the encoder's output, whose whole storage it
        # keeps; then a sequence's tanh output, dropout mask, classifier input (tests/data/head50.json, fp32)
        pooled = rank_logits(m, seq, micro_batch, 1, cp).tokens
        return vocab_part + (tokens * m.hidden * act_bytes + pooled * 3 * m.hidden * act_bytes) / sp_div
    stat = 2 if m.norm == "layernorm" else 1
    # norm input + output (the head's input: whole where the head saves its gathered input); MLM: + the transform's
    # dense input, GELU input, on the head's positions
    mlm_rows = 2 * rank_logits(m, seq, micro_batch, 1, cp, 1, head_seq).tokens if m.mlm_head else 0.0
    head_in = tokens * m.hidden * act_bytes * (1.0 if gathered_head else 1.0 / sp_div)
    return vocab_part + head_in + (tokens * (m.hidden * act_bytes + stat * 4) + mlm_rows * m.hidden * act_bytes) / sp_div


#: bytes per logit of the rank's vocabulary shard that the loss holds at its peak on top of the saved fp32
#: log-softmax (``logits_bytes``), by the stack's loss code (``Stack.loss``), as (without TP, with TP),
#: each a number or a function of the activation bytes. Each measured on a real run (CPU, torch 2.13,
#: Megatron-Core 0.16.1): the peak per logit of fwd + bwd is the entry + 4 (tests/test_memory_validation.py).
#:
#: Every eager cross-entropy over fp32 logits peaks in the backward's ``LogSoftmaxBackward``: the out-of-place
#: ``_log_softmax_backward_data`` writes a new fp32 gradient while the dense fp32 gradient ``nll_loss_backward``
#: made and the saved output are alive: ``CE_BACKWARD_BYTES`` (8) beyond the saved 4, whatever the forward held
#: (its peak, the logits + their fp32 copy + the log-softmax, act + 4 beyond the saved 4, is no higher at act <= 4).
#: What differs between the codes below is whether the caller still holds the model's logits (act) then.
#:
#: * "cast_ce": ``F.cross_entropy(logits.float(), ...)`` where the loop drops the model output before
#:   ``backward``: ``CE_BACKWARD_BYTES`` (12.0 measured in all at bf16, tests/test_castce36.py); the generic loss
#:   of every stack that does not say otherwise. HF Trainer is this case (trainer.py ``compute_loss`` returns
#:   ``loss`` alone without ``return_outputs``, ``training_step`` then calls ``accelerator.backward(loss)``; the
#:   loss is transformers' loss_utils.py ``ForCausalLMLoss``: ``logits.float()``, labels padded and shifted, no
#:   copy of the logits), though the hf-trainer and deepspeed stacks price their loss with the walked HF step
#:   (activations_hf), not this table. Until castce36 act + 4 (the forward's peak only): 2 B a logit short.
#: * "cast_ce_held": the same loss where the loop holds the model output through ``backward``: act +
#:   ``CE_BACKWARD_BYTES`` (14.0 measured at bf16). Composer (llm-foundry's trainer): composer/trainer/trainer.py
#:   ``_train_microbatch`` stores ``self.state.outputs = self.state.model(self.state.batch)``, computes
#:   ``self.state.loss = self._original_model.loss(self.state.outputs, ...)`` (MPT: ``CrossEntropyLoss(
#:   reduction="none")`` on ``outputs.logits.view(-1, V)``, an fp32 op under its bf16 autocast) and runs the
#:   backward with ``state.outputs`` still set (14.0 measured with autocast and with an explicit ``.float()``).
#: * "megatron_ce": Megatron's vocab-parallel cross-entropy (megatron/core/tensor_parallel/cross_entropy.py
#:   ``_VocabParallelCrossEntropy``; legacy megatron/mpu/cross_entropy.py the same): ``.float()`` copies
#:   the logits once and every later step works in place on that copy — ``-= logits_max``,
#:   ``torch.exp(..., out=exp_logits)``, ``exp_logits.div_`` — which is the saved softmax; the backward
#:   writes the gradient into it in place. Only the 16-bit logits are transient beside it: act (6.0
#:   measured in all at bf16).
#: * "megatron_ce_fused": Megatron-Core's native fused loss (``--cross-entropy-loss-fusion``, impl native:
#:   megatron/core/fusions/fused_cross_entropy.py, ``Stack.cross_entropy_fusion`` "native") as core 0.16.1 runs it:
#:   the same steps as "megatron_ce", each wrapped in ``jit_fuser`` (megatron/core/jit.py: ``torch.compile`` on torch
#:   >= 2.2). Inductor keeps an input mutation in place only where nothing but pointwise ops consume it;
#:   ``calculate_gradients`` scatters into the saved softmax (``grad_2d[arange_1d, masked_target_1d] -=``) and scales
#:   it in the same graph, so the compiled graph writes the new gradient into a fresh fp32 logit-sized buffer and copies
#:   it back (Megatron-LM's later fused_cross_entropy.py says so in its "NOTE on in-place semantics under
#:   torch.compile" and moves the scatter out of the graph), beside the saved softmax and the ``.to(torch.bfloat16)``
#:   gradient (bf16 whatever the logits: the cast is hard-coded in 0.16.1): 4 + 2 beyond the saved 4 (10.0 measured
#:   in all, tests/test_tece37.py: the installed core 0.16.1 function on a 1-rank gloo group under Inductor on CPU;
#:   6.0 with the compiler off, the "megatron_ce" figure).
#: * "torch_ce": eager ``F.cross_entropy`` on fp32 logits the model returns and the loop deletes before
#:   ``backward`` (torchtitan 2024: ``Transformer.forward`` returns ``self.output(h).float()``, train.py
#:   ``loss_fn`` = ``cross_entropy(pred.flatten(0, 1), ...)`` then ``del pred`` "to avoid peaking memory"):
#:   without TP the "cast_ce" figure, ``CE_BACKWARD_BYTES`` (12.0 measured). With TP, torchtitan applies DTensor loss
#:   parallel (``--training.disable_loss_parallel`` off by default; torch/distributed/tensor/parallel/
#:   loss.py): its fused backward ``_nll_loss_and_log_softmax_backward`` computes ``(zeros_like(x) +
#:   exp(x)) * grad_output``: three fp32 logit-sized tensors at once beside the saved output (the zeros,
#:   their sum with the exponential, and the exponential or the product), 12 beyond the saved 4 (16.0).
#: * "torch_ce_compiled": the same loss under ``torch.compile`` (torchtitan since PR #1033, 2025-04:
#:   ``build_loss_fn`` compiles it when compiling; later ``compile.components``): Inductor fuses the
#:   upcast, log-softmax and NLL and their backward, keeping the 16-bit logits (2 bytes) and writing
#:   their 16-bit gradient (2): 4 bytes per logit in all, the saved 4 of ``logits_bytes`` and nothing
#:   on top (4.0). With TP (logits40) the compiled loss runs DTensor loss parallel's decomposition (torchtitan
#:   compiles ``cross_entropy_loss`` in torchtitan/components/loss.py ``build_cross_entropy_loss``, called under the
#:   train context's ``loss_parallel()``): the all-reduces of the row max and of the exp-sum split the graph, so
#:   Inductor writes one fp32 logit-sized intermediate (the upcast; at fp32 the max-shifted logits) and the fp32
#:   log-softmax beside the model's logits (act + 4 + 4, the step's peak), then saves the log-softmax alone and
#:   writes the gradient from it in one kernel: ``TITAN_TP_COMPILED_CE_BYTES`` = act + 4 beyond the saved 4 (10.0
#:   measured in all at bf16 and 12.0 at fp32, reduction "sum", ignore_index -100, on a 1-rank gloo mesh for
#:   (tokens, vocab) = (512, 4096), (128, 32000), (1024, 1000), (300, 7777): tests/test_logits40.py). Until
#:   logits40 the eager loss-parallel 12 was kept (16 in all at bf16: 6 B a logit of the vocabulary shard too many).
#: * "masked_ce": NeMo AutoModel's ``MaskedCrossEntropy`` (nemo_automodel/components/loss/masked_ce.py) as its
#:   class defaults build it (``fp32_upcast=True``, no ``chunk_size``): ``logits.float()`` then
#:   ``F.cross_entropy(..., reduction="sum")`` on the 16-bit logits the model returns (its MoE models' ``forward``
#:   returns ``self.lm_head(hidden)``, models/qwen3_moe/model.py), while the loop keeps the model output alive
#:   through ``backward`` (recipes/llm/train_ft.py ``_forward_backward_step``: ``out = model(**batch)``,
#:   ``calculate_loss(..., logits=out.logits)``, ``backward`` in the same scope): the "cast_ce_held" figure,
#:   act + ``CE_BACKWARD_BYTES`` (14.0 measured in all at bf16).
#: * "masked_ce_16bit": the same loss with ``fp32_upcast: false``, as AutoModel's benchmark configs set it
#:   (examples/benchmark/configs/*_te_deepep.yaml ``loss_fn``, e.g. qwen3_moe_30b_te_deepep.yaml @092af93e):
#:   ``F.cross_entropy`` on the 16-bit logits, whose log-softmax, NLL gradient and log-softmax gradient are 16-bit
#:   too: four 16-bit logit-sized tensors at the backward's peak with the held logits, 4 * act in all, i.e.
#:   4 * act - 4 beyond the saved 4 of ``logits_bytes`` (8.0 measured in all at bf16).
#: * "masked_ce_chunked": ``MaskedCrossEntropy(chunk_size=n)`` (masked_ce.py ``_ChunkedMaskedCESum``, ``inplace_grad``
#:   False, its default): the forward upcasts one ``[n, V]`` slice at a time and saves only the 16-bit logits (the
#:   ones the loop holds); the backward allocates the whole 16-bit gradient (``torch.empty_like(logits)``) and fills
#:   it chunk by chunk: 2 * act in all, 2 * act - 4 beyond the saved 4 (4.0 measured in all at bf16), plus one
#:   chunk's fp32 transients, ``CHUNK_CE_BYTES`` per logit of the chunk (``loss_transient_bytes`` ``chunk``).
#: * "te_parallel_ce": ``TEParallelCrossEntropy`` (te_parallel_ce.py, TE's Triton kernel in
#:   loss/triton/te_cross_entropy.py): ``cross_entropy_kernel`` writes the gradient over the 16-bit logits in place
#:   and the backward scales it in place (``element_mul_kernel``); only the per-token ``loss_1d`` and ``m_d_X_y``
#:   (fp32) are new: act in all, act - 4 beyond the saved 4 (2.0 measured at bf16 on a torch re-implementation of
#:   its row loop: the Triton kernel does not run on CPU). With TP it takes the local vocabulary shard (``logits.to_local()``) and all-gathers
#:   three fp32 numbers a token: the same per shard. Megatron-Core's ``--cross-entropy-fusion-impl te`` runs the same
#:   kernels (TE's ``parallel_cross_entropy`` on the vocabulary shard; ``Stack.cross_entropy_fusion``): 2.0 measured
#:   the same way with its per-token ``grad_output`` (tests/test_tece37.py).
#: * "linear_ce": ``FusedLinearCrossEntropy`` (linear_ce.py, Apple's Cut Cross-Entropy ``linear_cross_entropy``,
#:   impl "cce"): the model runs with ``logits_to_keep=1`` (train_ft.py) and the loss never writes the logits: it saves
#:   the head input, the head weight and the fp32 log-sum-exp (cut_cross_entropy/cce.py ``save_for_backward(e, c,
#:   bias, lse, ...)``); nothing per logit, -4 beyond the saved 4. Its backward accumulates the input gradient in fp32
#:   (``accum_e_fp32=True``: cce_backward.py ``torch.zeros_like(e, dtype=torch.float32)``): ``LINEAR_CE_TOKEN_BYTES``
#:   per token and hidden unit, + the 4-byte lse per token. Refused with TP (stack_rules "automodel-linear-ce-tp").
#: * "xentropy_held": MPT's own loss under Composer, as llm-foundry's MPT ships it (bigmem37): llmfoundry/models/mpt/
#:   modeling_mpt.py ``ComposerMPTCausalLM.__init__``: ``loss_fn_config = om_model_config.get('loss_fn',
#:   'fused_crossentropy')`` -- the pretrain yamls (scripts/train/yamls/pretrain/mpt-*.yaml) set no ``loss_fn`` -- i.e.
#:   flash-attn's ``CrossEntropyLoss(ignore_index=-100)`` (flash_attn/losses/cross_entropy.py, ``inplace_backward``
#:   False; the 1.0.x xentropy CUDA kernel or llm-foundry's copy of it): ``SoftmaxCrossEntropyLossFn`` reads the 16-bit
#:   logits in the kernel (fp32 math in registers, no fp32 copy), saves ``(logits, lse, labels)`` and its backward
#:   writes one new logit-sized gradient in the logits' dtype; Composer holds ``state.outputs`` (the logits) through
#:   ``backward``. 2 act in all: the logits and their gradient, i.e. 2 act - 4 beyond the saved 4 of ``logits_bytes``
#:   (4.0 measured in all at bf16, tests/test_bigmem37.py, a row-blocked re-implementation of the kernel's saves).
#:   Without TP only (llm-foundry's FSDP runs have none); with ``loss_fn: torch_crossentropy`` MPT runs
#:   "cast_ce_held" (14 B), not offered as an option.
#:
#: * "torch_ce_16bit_held": KempnerForge's loss (``Stack.loss_eager_16bit``; kf56b): training/loss.py
#:   ``F.cross_entropy(logits.view(-1, V), labels.view(-1))`` on the bf16 logits its model returns (model/embedding.py
#:   ``OutputHead``: ``self.proj(x)``, no ``.float()``; the model cast to bf16 before ``fully_shard``), outside the
#:   compiled model (``torch.compile(model)`` only), while ``text_step`` (training/loop.py) holds ``logits`` through
#:   ``backward``: the "masked_ce_16bit" figure, 4 * act in all (8.0 measured at bf16, tests/test_amloss36.py), the TP
#:   column the same, as the loss never runs on a vocabulary shard: without loss parallel it runs on the gathered
#:   whole vocabulary (``loss_logits`` ``whole_vocab``).
#:
#: With TP the AutoModel ``MaskedCrossEntropy`` entries gather the whole logits: its optimized TP plans return the
#: LM head's output as a vocabulary-sharded DTensor (components/distributed/optimized_tp_plans.py ``"lm_head":
#: ColwiseParallel(output_layouts=Shard(-1), use_local_output=False)``) and ``forward`` calls
#: ``logits.full_tensor()`` before the loss: the loop holds its shard (act - 4 per shard logit beyond the saved 4,
#: the TP column of the table) and the loss runs on the whole vocabulary, ``LOSS_GATHERED_BYTES`` per logit of it.
CE_BACKWARD_BYTES = 8.0  # the fp32 NLL gradient + the fp32 log-softmax gradient, per logit (above)
#: torchtitan's compiled loss under loss parallel ("torch_ce_compiled" with TP, above): the model's logits and one fp32
#: intermediate beside the fp32 log-softmax at the forward's end, per logit of the vocabulary shard beyond the saved 4
TITAN_TP_COMPILED_CE_BYTES = (lambda act: act + 4.0)
#: Megatron-Core's compiled native fused loss ("megatron_ce_fused" above): Inductor's fresh fp32 gradient buffer and the
#: bf16 gradient, per logit beyond the saved fp32 softmax
MCORE_FUSED_CE_BYTES = 4.0 + 2.0
#: fp32 bytes per logit of one ``[chunk_size, V]`` slice alive at once in ``_ChunkedMaskedCESum.backward``: the
#: chunk's fp32 copy, its softmax and the product ``grad_chunk * (valid * grad_out)`` (tests/test_chunkce37.py)
CHUNK_CE_BYTES = 12.0
#: fp32 bytes per token and hidden unit of Cut Cross-Entropy's input-gradient accumulator (``accum_e_fp32``)
LINEAR_CE_TOKEN_BYTES = 4.0


def _held_ce(act):
    """An upcast cross-entropy's backward peak with the model's logits (act bytes) still held by the caller."""
    return act + CE_BACKWARD_BYTES


def _held_16bit_ce(act):
    """A cross-entropy on the held 16-bit logits, no upcast: the logits, the 16-bit log-softmax, NLL gradient and
    log-softmax gradient at the backward's peak, 4 * act in all, beyond the saved 4 of ``logits_bytes``."""
    return 4.0 * act - 4.0


LOSS_TRANSIENT_BYTES = {
    "cast_ce": (CE_BACKWARD_BYTES,) * 2,
    "cast_ce_held": (_held_ce,) * 2,
    "megatron_ce": (lambda act: act,) * 2,
    "megatron_ce_fused": (MCORE_FUSED_CE_BYTES,) * 2,
    "torch_ce": (CE_BACKWARD_BYTES, 12.0),
    "torch_ce_compiled": (0.0, TITAN_TP_COMPILED_CE_BYTES),
    "masked_ce": (_held_ce, lambda act: act - 4.0),
    "masked_ce_16bit": (_held_16bit_ce, lambda act: act - 4.0),
    "torch_ce_16bit_held": (_held_16bit_ce,) * 2,
    "masked_ce_chunked": (lambda act: 2.0 * act - 4.0, lambda act: act - 4.0),
    "te_parallel_ce": (lambda act: act - 4.0,) * 2,
    "linear_ce": (-4.0, -4.0),
    "xentropy_held": (lambda act: 2.0 * act - 4.0,) * 2,
}
#: bytes per logit of the whole vocabulary (not the shard) the AutoModel ``MaskedCrossEntropy`` entries hold under TP
#: after ``logits.full_tensor()`` (above): the upcast loss's saved fp32 log-softmax, NLL gradient and log-softmax
#: gradient (12); the 16-bit loss's three 16-bit ones (3 * act); the chunked loss's gathered 16-bit logits it saves and
#: its 16-bit gradient buffer (2 * act). Charged where tp > 1, on top of the table's per-shard figure
LOSS_GATHERED_BYTES = {
    "masked_ce": lambda act: 3.0 * 4.0,
    "masked_ce_16bit": lambda act: 3.0 * act,
    "masked_ce_chunked": lambda act: 2.0 * act,
}


#: bytes per logit of the rank's vocabulary shard that the caching allocator's pool holds free, not allocated, at the
#: loss's backward peak, by the stack's loss code: where the loop drops the model's 16-bit logits before ``backward``
#: and the loss upcasts them into a new fp32 copy, the logits' block is freed before the backward's fp32 gradients are
#: asked for, which it cannot serve (c10/cuda/CUDACachingAllocator.cpp: a request takes a cached block at least its
#: size; a block never grows; a freed block merges only with free neighbours of its own segment, so the fp32 copy's
#: block, freed beside it, serves the NLL gradient and the log-softmax gradient takes a new segment -- or, with
#: ``expandable_segments``, maps new pages past the mapped ones). The 16-bit block is taken again by the gradient's cast
#: back to 16 bits, after the peak. Replayed through benchmarks/allocator_replay.py's pool (tests/test_mem56.py):
#: reserved = allocated + act at the peak, torchtitan 2024-12's order (the model's ``.float()`` or the loss's) and
#: the generic upcast loss alike. Not for the losses whose loop holds the logits (their block stays allocated), the
#: in-place Megatron loss or the compiled and fused ones (no fp32 copy is written)
LOSS_POOL_FREE_BYTES = {"torch_ce": lambda act: act, "cast_ce": lambda act: act}


def loss_pool_free_bytes(m: ModelSpec, seq, micro_batch, tp=1, cp=1, act_bytes=2, loss="cast_ce", head_seq=None):
    """Bytes the caching allocator's pool holds free at the loss's backward peak on the last stage, beyond what is
    allocated (``LOSS_POOL_FREE_BYTES``): in torch.cuda's ``max_memory_reserved`` and nvidia-smi, not in
    ``max_memory_allocated``, and never the cause of an out-of-memory error (the allocator frees cached blocks and
    retries before it raises: ``release_cached_blocks``), so not in a plan's total. 0 for the other losses."""
    if not m.is_transformer or loss not in LOSS_POOL_FREE_BYTES:
        return np.zeros(np.broadcast(np.asarray(seq), np.asarray(micro_batch), np.asarray(tp)).shape)
    return rank_logits(m, seq, micro_batch, tp, cp, head_seq=head_seq).shard * LOSS_POOL_FREE_BYTES[loss](act_bytes)


def loss_transient_bytes(m: ModelSpec, seq, micro_batch, tp=1, cp=1, act_bytes=2, loss="cast_ce", chunk=0,
                         vocab_tiles=1, head_seq=None):
    """Bytes alive only while the loss runs on the last stage, on top of ``logits_bytes``: for the
    generic loss (``LOSS_TRANSIENT_BYTES`` "cast_ce") the backward's two fp32 logit-sized gradients,
    8 * V/t per token (+ act_bytes * V/t where the loop holds the logits, "cast_ce_held"); a stack's
    own loss code as the table says. They set the peak of the step (the loss runs when every layer's activations of the
    micro-batch are still saved), so the memory model counts them in the logits term; with a 128k
    vocabulary they exceed a whole layer's activations. Measured in calibration/loop.py (peak
    allocated during real steps). ``vocab_tiles``: MaxText's vocabulary tiling (``logits_bytes``): one tile's
    tokens run the loss at a time. ``head_seq``: the head's positions (``logits_bytes``)."""
    if not m.is_transformer:
        return np.zeros(np.broadcast(np.asarray(seq), np.asarray(micro_batch)).shape)
    lg = rank_logits(m, seq, micro_batch, tp, cp, vocab_tiles, head_seq)
    tp = lg.tp
    one, many = (b(act_bytes) if callable(b) else b for b in LOSS_TRANSIENT_BYTES[loss])
    out = lg.shard * np.where(tp > 1, many, one)
    if loss in LOSS_GATHERED_BYTES:  # AutoModel's full_tensor() under TP (above)
        out = out + np.where(tp > 1, lg.gathered * LOSS_GATHERED_BYTES[loss](act_bytes), 0.0)
    if loss == "masked_ce_chunked":  # one chunk's fp32 slice at the backward's peak (at most the micro-batch)
        out = out + lg.chunk(chunk) * CHUNK_CE_BYTES
    if loss == "linear_ce":  # Cut Cross-Entropy's fp32 input-gradient accumulator and the fp32 lse
        out = out + lg.tokens * (m.hidden * LINEAR_CE_TOKEN_BYTES + 4.0)
    return out
