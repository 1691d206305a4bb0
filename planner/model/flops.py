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

Model FLOPs (for MFU) = 3 x forward, the attention core counted in full as above (PaLM's
convention: MFU compares runs whatever their kernels do, and at long causal sequences it may pass
what the GPU executes).

Hardware FLOPs (for HFU) are what the kernels execute, so HFU cannot pass 100% of peak:

* the attention core at the keys its kernel computes: a causal flash kernel (FlashAttention-2,
  Dao 2023 §3.1.1: "for blocks where all the column indices are more than the row indices ... we
  can skip the computation of that block"; cuDNN's fused attention and Transformer Engine's ring
  context parallelism with causal load balancing likewise run only the blocks on or below the
  diagonal) executes the ``causal_half`` count, about half of the scores and of the P V work, in
  the forward, the backward and every recompute; Megatron's unfused ``CoreAttention`` (no flash)
  multiplies the full score matrix and masks in the softmax, so it runs the full count;
* then what is executed again: full recompute repeats every layer's forward (not the logits);
  selective recompute repeats the attention core (Korthikanti et al. 2022 §5), or on Megatron-Core
  the matmuls of the listed ``recompute_modules`` (``recompute_module_flops_per_token``); flash
  attention's backward recomputes QK^T (FlashAttention, Dao et al. 2022 §3.1), which is 0.5 x the
  attention core forward — what ``torch.utils.flop_counter`` charges for
  ``scaled_dot_product_attention`` backward (5 bmm vs 4);
* the padding rows of MoE experts padded to capacity (``padded_expert_flops_per_token``): the expert
  GEMMs run capacity_factor x the routed rows, in the forward, the backward and any recompute of them.

Both count only the routed rows the experts keep: under a capacity factor below 1 the dropped tokens skip
the experts (``dropped_expert_flops_per_token``), so they are neither model FLOPs nor executed.

``FlopCounterMode`` charges sdpa the full matrix even when causal: ``step_flops(causal_kernel=False)``
gives its count (the tests compare with it).

Checked in tests/test_flops.py against ``FlopCounterMode`` on real forward+backward runs of the
reference models in calibration/reference_models.py, and against Narayanan eq. 3 by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.model import ew
from planner.model.stacks import DEFAULT_RECOMPUTE_MODULES, remat_saved
from planner.spec.params import count_params, head_macs, head_positions
from planner.spec.shapes import (MLA_UP_PROJ, Weight, attention_weights, latent_weights, macs, mamba_weights,
                                 mlp_weights, shared_expert_width)
from planner.vocab import RECOMPUTE
from planner.spec import ModelSpec



def attention_proj_macs(m: ModelSpec) -> int:
    """Multiply-adds per token of one layer's attention projections (planner.spec.shapes ``attention_weights``:
    standard h*q + 2*h*kv + q*h; MLA's down- and up-projections, all run on every token, and o)."""
    return macs(attention_weights(m))


def mla_up_proj_macs(m: ModelSpec) -> int:
    """Multiply-adds per token of MLA's up-projections (planner.spec.shapes ``MLA_UP_PROJ``): kv_b
    r_kv*H*(d_nope+d_v) and q_b r_q*H*(d_nope+d_rope), or the whole q_proj h*H*(d_nope+d_rope) without a q LoRA
    rank, the function the ``mla_up_proj`` recompute checkpoints. 0 without MLA."""
    if m.mla is None:
        return 0
    return macs(w for w in attention_weights(m) if w.name in MLA_UP_PROJ)


def score_dim(m: ModelSpec) -> float:
    """The ``q_dim`` of ``attention_core_flops``: (H*d_qk + H*d_v)/2, i.e. q_dim for standard
    attention; MLA scores over d_nope+d_rope and values of d_v (``DeepseekV3Attention`` eager:
    QK^T over 192 dims, PV over 128 for V3)."""
    if m.mla is not None:
        a = m.mla
        return m.heads * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim) / 2
    return float(m.q_dim)


def decode_score_dim(m: ModelSpec) -> float:
    """``score_dim`` of a decode query as a serving engine runs it. Multi-head latent attention decodes
    "data-movement friendly" (vLLM vllm/v1/attention/backends/mla/common.py ``_forward_decode``; DeepSeek-V2,
    arXiv 2405.04434 §2.1.2: W_UK absorbed into the query, W_UV into the output): an MQA over the cached
    latent with QK head dim kv_lora_rank + qk_rope_head_dim and V head dim kv_lora_rank, so a (query, key)
    pair costs 2 x heads x (2 kv_lora_rank + qk_rope_head_dim) FLOPs per layer: ``score_dim`` = heads x
    (2 L_kv + R) / 2 — DeepSeek-V3 128 x 544, 3.4x the prefill's 128 x 160 (the compute-friendly MHA over
    up-projected K and V). Every other attention decodes as it prefills: ``score_dim``."""
    if m.mla is not None:
        a = m.mla
        return m.heads * (2 * a.kv_lora_rank + a.qk_rope_head_dim) / 2
    return score_dim(m)


def remat_skip_flops_per_token(m: ModelSpec, remat) -> float:
    """Forward FLOPs per token (the whole model) MaxText's full-recompute re-run does not repeat under its remat
    policy ``remat`` ((tensor, location) pairs, planner.model.stacks ``remat_locations``): the GEMMs whose outputs it
    saves on the chip or the host -- q / k / v (h x q_dim, h x kv_dim each), ``out_proj`` (q_dim x h) on every
    attention layer, the dense layers' ``mlpwi_0`` / ``mlpwi_1`` (gated: h x f each) or ``mlpwi`` (h x f) and
    ``mlpwo`` (f x h) (the experts' are not skipped; planner.model.layer_ops ``remat_policy_skip`` times the same).
    0 without a policy, and for MLA or hybrid models (no MaxText names priced there)."""
    if remat is None or m.mla is not None or m.hybrid or not m.is_transformer:
        return 0.0
    saved = remat_saved(remat)

    h, f = m.hidden, m.dense_width
    attn = h * (m.q_dim * saved["query_proj"] + m.kv_dim * (saved["key_proj"] + saved["value_proj"])
                + m.q_dim * saved["out_proj"])
    up = (saved["mlpwi_0"] + saved["mlpwi_1"]) if m.gated else saved["mlpwi"]
    mlp = h * f * (up + saved["mlpwo"])
    return 2.0 * (attn * m.attention_layers + mlp * m.kind_layers("-"))


def dense_mlp_macs(m: ModelSpec) -> int:
    """Multiply-adds per token of one dense layer's MLP: its matrices (3 gated: gate, up, down; else 2) x h x the dense
    width (planner.spec.shapes ``mlp_weights``)."""
    return macs(mlp_weights(m, m.dense_width))


def moe_block_macs(m: ModelSpec) -> dict[str, float]:
    """Multiply-adds per token of one MoE block, by part: ``router`` h*E, ``experts`` the top_k
    routed experts (every expert for Llama-4's HF kernel, ``Llama4TextExperts``: a dense bmm over
    all experts), ``shared_experts`` the shared experts and their gate (Megatron-Core
    ``SharedExpertMLP.forward`` applies the gate inside the module)."""
    e, h = m.moe, m.hidden
    routed = e.experts if e.all_experts_compute else e.top_k
    shared = 0.0
    if e.shared_experts:
        shared = macs(mlp_weights(m, shared_expert_width(m))) + (h if e.shared_expert_gate else 0)
    # LatentMoE: the routed experts at the latent width, and ``latent_proj`` h*l + l*h on every token
    # (planner.spec.shapes ``latent_weights``); the router reads the full width
    out = {"router": h * e.experts, "experts": routed * macs(mlp_weights(m, m.ffn_hidden, io=m.expert_io)),
           "shared_experts": shared}
    if e.latent_size:
        out["latent_proj"] = macs(latent_weights(m))
    return out


def moe_layer_macs(m: ModelSpec) -> float:
    """Multiply-adds per token of one MoE block: router, routed experts, shared experts
    (``moe_block_macs``)."""
    return sum(moe_block_macs(m).values())


def mamba_proj_macs(m: ModelSpec) -> int:
    """Multiply-adds per token of one Mamba-2 mixer's projections, in_proj and out_proj (planner.spec.shapes
    ``mamba_weights``). 0 without Mamba."""
    return macs(mamba_weights(m))


def mamba_conv_flops(m: ModelSpec, outputs) -> float:
    """Forward FLOPs of the mixer's depthwise causal conv1d over x, B, C (d_inner + 2 G N channels,
    d_conv taps each) for ``outputs`` output positions: 2 x channels x d_conv per output, as
    FlopCounterMode counts ``aten.convolution`` (a depthwise conv: in_channels / groups = 1). The
    training kernel (causal_conv1d, inside mamba_split_conv1d_scan_combined) writes one output per
    token; PyTorch's ``F.conv1d(padding=d_conv - 1)`` writes seq + d_conv - 1 and slices."""
    if m.mamba is None:
        return 0.0
    a = m.mamba
    return 2.0 * (m.mamba_inner + 2 * a.groups * a.d_state) * a.d_conv * np.asarray(outputs, dtype=np.float64)


def ssd_flops(m: ModelSpec, seq, scores_per_head: bool = False, pairwise_states: bool = False,
              padded: bool = False):
    """Forward matmul FLOPs of one layer's SSD chunked scan (Dao & Gu 2024 §6, "the SSD algorithm")
    for one sequence of ``seq`` tokens, chunk Q, H heads of P channels, state N, G groups, c chunks:

    * intra-chunk scores C B^T per chunk: 2 Q^2 N per group (mamba_ssm ``_bmm_chunk_fwd`` runs on the
      G groups; ``scores_per_head``: B and C repeated to every head first, as HF's PyTorch path);
    * the diagonal blocks' output (L o C B^T) X: 2 Q^2 P per head (the whole Q x Q block, the
      full-count convention of ``attention_core_flops``);
    * each chunk's state B^T X: 2 Q N P per head; the off-diagonal output C h: 2 Q N P per head;
    * the inter-chunk recurrence: mamba_ssm's ``_state_passing_fwd`` is elementwise (0 matmul FLOPs);
      ``pairwise_states``: HF's einsum over all (c + 1)^2 chunk pairs, 2 N P per pair per head;
    * ``padded``: the sequence rounded up to whole chunks (HF pads; the Triton kernels mask).

    The kernels run in the mixer (Megatron-Core ``mamba_split_conv1d_scan_combined``); the total is
    a few % of the layer's projections for Nemotron shapes (Q = 128, N = 128, P = 64)."""
    a = m.mamba
    if a is None:
        return np.zeros_like(np.asarray(seq, dtype=np.float64))
    Q, N, P, H = float(a.chunk_size), float(a.d_state), float(a.head_dim), float(m.mamba_heads)
    s = np.asarray(seq, dtype=np.float64)
    chunks = np.ceil(s / Q)
    L = chunks * Q if padded else s
    score_heads = H if scores_per_head else float(a.groups)
    out = 2.0 * L * Q * (N * score_heads + P * H) + 2.0 * 2.0 * L * N * P * H
    if pairwise_states:
        out = out + 2.0 * (chunks + 1) ** 2 * N * P * H
    return out


def linear_flops_per_token(m: ModelSpec) -> dict[str, float]:
    """Forward matmul FLOPs per token of the weights, split by where they sit. ``mtp`` is
    DeepSeek-V3's multi-token prediction: per module eh_proj 2h*h, one (MoE) layer, and the
    shared output head once more (DeepSeek-V3 technical report §2.2)."""
    if not m.is_transformer:
        raise ValueError("generic models have no per-token structure")
    pc = count_params(m)
    h = m.hidden
    attn = 2 * attention_proj_macs(m)
    dense_mlp = 2 * dense_mlp_macs(m)
    # (hybrid models: attention and dense MLPs only on their own layers; plain models: every layer
    # has attention and the non-MoE ones a dense MLP: kind_layers gives layers and n_dense_layers)
    out = {"attn_proj": attn * m.attention_layers, "mlp": dense_mlp * m.kind_layers("-")}
    if m.mamba is not None:  # the Mamba-2 mixers' projections and conv1d (weights a token multiplies)
        out["mamba"] = m.mamba_layers * (2.0 * mamba_proj_macs(m) + float(mamba_conv_flops(m, 1.0)))
    moe = 2 * moe_layer_macs(m) if m.moe is not None else 0.0
    out["mlp"] += moe * pc.n_moe_layers
    head = 2 * head_macs(m)  # a head position's (the classifier's: a sequence's; ``head_positions``)
    out["logits"] = head
    if m.mtp_layers:
        block = attn + (moe if m.moe is not None else dense_mlp)
        out["mtp"] = m.mtp_layers * (2 * 2 * h * h + block + head)
    return out


#: a module whose recompute checkpoint already holds another's forward: Megatron-Core's "moe"
#: checkpoints the whole MoE layer forward (moe_layer.py ``moe_layer_recompute``), its shared
#: experts and the experts' activation included
RECOMPUTE_MODULE_CONTAINS = {"moe": ("shared_experts", "moe_act")}


def distinct_recompute_modules(modules) -> tuple[str, ...]:
    """``modules`` (Megatron-Core ``recompute_modules``) less those another listed module's
    checkpoint already re-runs (``RECOMPUTE_MODULE_CONTAINS``): each forward counted once."""
    inner = {x for k in modules for x in RECOMPUTE_MODULE_CONTAINS.get(k, ())}
    return tuple(x for x in modules if x not in inner)


def recompute_module_flops_per_token(m: ModelSpec) -> dict[str, float]:
    """Forward matmul FLOPs per token, summed over the layers, that the backward runs again for
    each of Megatron-Core's selective ``recompute_modules`` but the attention core (its FLOPs
    scale with the keys: ``attention_flops_per_token``): "mlp" the dense MLP of the dense layers
    (TransformerLayer checkpoints ``self.mlp`` only when it is not a MoELayer), "moe" the whole MoE
    block (router, routed experts, shared experts), "shared_experts" their GEMMs and gate,
    "mla_up_proj" MLA's up-projections (``mla_up_proj_macs``); "layernorm" and "moe_act" re-run
    elementwise ops only, no matmul FLOPs under this convention. An MTP module's block is a
    TransformerLayer of the same config, so it counts as a layer (as in
    ``linear_flops_per_token``)."""
    mtp = m.mtp_layers
    moe = moe_block_macs(m) if m.moe is not None else {"shared_experts": 0.0}
    n_moe = m.moe_layers + (mtp if m.moe is not None else 0)
    n_dense = m.kind_layers("-") + mtp - (mtp if m.moe is not None else 0)  # hybrid: the "-" layers
    per_module = {"mlp": n_dense * dense_mlp_macs(m), "moe": n_moe * sum(moe.values()),
                  "shared_experts": n_moe * moe["shared_experts"],
                  "mla_up_proj": (m.attention_layers + mtp) * mla_up_proj_macs(m),
                  "layernorm": 0.0, "moe_act": 0.0}
    return {k: 2.0 * v for k, v in per_module.items()}


#: one ``nn.Linear`` mm of a checkpointed block (planner.spec.shapes ``Weight``: its shape and TP split)
BlockMM = Weight


def op_sac_block_mms(m: ModelSpec, fused_qkv: bool = False) -> dict[str, list[BlockMM]]:
    """Each block part's ``nn.Linear`` mms in the order the forward runs them -- what per-op SAC's "every second mm"
    rule counts (``op_sac_block``): "attn" q, k, v (one mm under ``fused_qkv``: torchtitan 0.3 ``FusedQKVLinear``;
    attention.py ``QKVLinear`` runs ``self.wq(x), self.wk(x), self.wv(x)``) and o, or MLA's wq (wq_a, wq_b), wkv_a,
    wkv_b, wo (torchtitan models/deepseek_v3/model.py ``Attention.forward``); "mlp" the dense MLP's w1, w3, w2
    (feed_forward.py ``self.w2(F.silu(self.w1(x)) * self.w3(x))``; ungated fc1, fc2); "moe" the MoE block's latent
    projections and shared experts (moe.py ``MoE.forward``: the router, then the routed experts'
    ``torch._grouped_mm``, which are not mms of the count, then ``self.shared_experts(x)``); "mamba" a Mamba-2
    mixer's in_proj and out_proj."""
    sw = shared_expert_width(m)
    return {"attn": attention_weights(m, fused_qkv), "mlp": mlp_weights(m, m.dense_width),
            "moe": latent_weights(m) + (mlp_weights(m, sw, "shared.") if sw else []), "mamba": mamba_weights(m)}


@dataclass(frozen=True)
class OpSacBlock:
    """What torchtitan's per-op SAC does with one checkpointed block (``op_sac_block``): the mms whose outputs it
    saves and those it re-runs in the backward, the MoE work it re-runs outside the mm count (router gate and kept
    routed rows, multiply-adds per token), and whether the block's attention kernel output is saved (SDPA's output
    and log-sum-exp, with flash; the math path is decomposed into bmm and softmax, none in the save list) or the
    backward re-runs the attention core (``core_rerun``: a block with attention on the math path)."""
    saved: tuple[BlockMM, ...]
    rerun: tuple[BlockMM, ...]
    forced_macs: float
    sdpa_saved: bool
    core_rerun: bool = False


#: the parts of one checkpointed block by hybrid kind (vocab.HYBRID_LAYER; None: a whole transformer layer, its MLP
#: part "moe" in an MoE layer)
OP_SAC_PARTS = {None: ("attn", "mlp"), "moe": ("attn", "moe"), "*": ("attn",), "-": ("mlp",), "E": ("moe",),
                "M": ("mamba",)}


def op_sac_block(m: ModelSpec, moe: bool = False, kind=None, fused_qkv: bool = False,
                 flash: bool = True) -> OpSacBlock:
    """torchtitan's per-op selective activation checkpointing of one block, the one description both what it re-runs
    (``op_sac_recompute_flops_per_token``) and what it keeps (planner.model.activations ``op_sac_saved_tensors``)
    read. torchtitan 0.3 torchtitan/distributed/activation_checkpoint.py ``_apply_op_sac`` (the 2024 ``_save_list``
    policy of parallelize_llama.py is the same rule): each block runs under ``create_selective_checkpoint_contexts``
    with a policy that MUST_SAVEs the outputs of the ops of ``_op_sac_save_list`` (``aten.mm``, the SDPA
    flash/efficient/cudnn kernels, ``reduce_scatter_tensor``, ``max``) "except every second mm"
    (``meta[mm_count_key] % 2 == 0``, the count restarting with each checkpointed block) and PREFER_RECOMPUTEs
    everything else. So of the block's ``nn.Linear`` mms (``op_sac_block_mms``, in forward order) the 1st, 3rd, ...
    are saved and the 2nd, 4th, ... re-run (Llama 3 under 0.3's fused QKV: wqkv, wo, w1, w3, w2 -- wqkv, w1, w2
    saved, wo and w3 re-run); in an MoE block the router's gate (``force_recompute_mm_shapes_by_fqns =
    ["moe.router.gate"]``, recomputed before the count) and the routed experts' ``torch._grouped_mm`` (not in the
    save list) re-run whole, on the rows the capacity keeps. ``moe``/``kind``: a transformer layer (its MLP or MoE
    block after the attention, one count) or one block of a hybrid model (each its own checkpoint). ``flash``:
    SDPA runs a fused kernel whose output is saved; without it torch's math path runs as bmm/softmax, all re-run
    (``_scaled_dot_product_attention_math`` is in the save list but is a composite op: the dispatch the policy sees
    is its bmm and softmax; measured, tests/test_op_sac_flops.py)."""
    mms = op_sac_block_mms(m, fused_qkv)
    parts = OP_SAC_PARTS["moe" if (moe and kind is None) else kind]
    seq = [x for p in parts for x in mms[p]]
    forced = 0.0
    if "moe" in parts and m.moe is not None:
        from planner.model.moe import kept_rows

        b = moe_block_macs(m)
        forced = b["router"] + kept_rows(m.moe) * b["experts"]
    return OpSacBlock(saved=tuple(seq[0::2]), rerun=tuple(seq[1::2]), forced_macs=forced,
                      sdpa_saved=flash and "attn" in parts, core_rerun=not flash and "attn" in parts)


def op_sac_recompute_flops_per_token(m: ModelSpec, fused_qkv: bool = False) -> float:
    """Forward matmul FLOPs per token, summed over the layers, that per-op selective activation checkpointing re-runs
    in the backward: the re-run mms and the MoE router and routed experts of each block (``op_sac_block``; Llama 3
    under torchtitan 0.3: wo and w3). With flash attention the attention core is not re-run (SDPA's output is
    saved); without it torch's math path re-runs the core, which depends on the sequence and is added by
    ``step_flops`` (``_op_sac_recompute``, ``OpSacBlock.core_rerun``), not here. A plain layer is one
    block (attention, then its MLP or MoE block, one count); a hybrid model's blocks are each their own. MTP modules
    are not checkpointed (torchtitan wraps ``model.layers``)."""
    def rerun(moe, kind=None):
        b = op_sac_block(m, moe, kind, fused_qkv)
        return float(sum(x.macs for x in b.rerun)) + b.forced_macs

    if m.hybrid:
        block_macs = sum(n * rerun(k == "E", k) for k in ("*", "-", "E", "M") if (n := m.kind_layers(k)))
    else:
        block_macs = (m.layers - m.moe_layers) * rerun(False) + (m.moe_layers * rerun(True) if m.moe_layers else 0.0)
    return 2.0 * block_macs


def op_sac_recompute_share(m: ModelSpec, fused_qkv: bool = False) -> float:
    """``op_sac_recompute_flops_per_token`` as a share of the layers' forward matmul FLOPs (attention projections,
    MLP or MoE block, Mamba projections; the kept routed rows): the part of a layer's forward GEMM time the step time
    re-runs under per-op SAC (planner.model.step_time), from the one count HFU adds (``SELECTIVE_RECOMPUTE``).
    Llama 3 8B under torchtitan 0.3 (fused QKV): (wo + w3) / (wqkv + wo + w1 + w3 + w2) = 0.346."""
    lin = linear_flops_per_token(m)
    layers = lin["attn_proj"] + lin["mlp"] + lin.get("mamba", 0.0) - dropped_expert_flops_per_token(m)
    return op_sac_recompute_flops_per_token(m, fused_qkv) / layers if layers > 0 else 0.0


def attention_keys(m: ModelSpec, seq, windowed: bool = True, causal_half: bool = False):
    """Mean keys per query summed over the layers (``layers x keys``), MTP layers included.

    Full layers: s keys (s/2 with ``causal_half``: FlashAttention's own count of a causal sequence,
    Dao-AILab/flash-attention benchmarks/benchmark_flash_attention.py ``flops``: 4 x seqlen^2 x nheads x headdim
    // 2 when causal; the mask's s(s + 1)/2 pairs less the diagonal, 1/s of them, 0.02% at s = 4,096 -- a count
    for MFU, which a training sequence's length makes exact enough, not the mask's: serving's prefill counts the
    diagonal, ``serving_iteration.prefill_pairs``, where a chunk can be a few tokens). Sliding-window / chunked layers
    (``local_layers`` of them, window w), when ``windowed`` — a kernel that skips blocks outside
    the window (FlashAttention-2's ``window_size``, as Gemma 2/3, gpt-oss and Mistral run in
    training): min(s, w) keys under the full-count convention, w - w^2/(2s) causal (s > w).
    Chunked layers (Llama 4's ``attention_chunk_size``: a query sees only its own chunk of w
    tokens, causally) see min(s, w) keys under the full-count convention and half of them causal
    (each chunk is a causal block of its own)
    FlopCounterMode on eager / CPU sdpa counts the full masked matrix: ``windowed=False``
    (tests/data/README.md)."""
    s = np.asarray(seq, dtype=np.float64)
    full = s / 2 if (causal_half and m.causal) else s
    n_local = m.local_layers if (windowed and m.sliding_window) else 0
    n_full = m.attention_layers + m.mtp_layers - n_local  # hybrid models: the "*" layers only
    if not n_local:
        return n_full * full
    return n_full * full + n_local * local_keys(s, m.sliding_window, m.local_attention, causal_half and m.causal)


def local_keys(seq, window, kind: str = "sliding", causal_half: bool = False):
    """Mean keys per query of ONE local layer (window ``w`` tokens) over a sequence of ``s`` tokens —
    the rule ``attention_keys`` applies to its ``local_layers`` and the serving roofline
    (planner/workloads/serving_iteration.py ``IterationModel``) to a decode step or a prefill chunk:

    * full count (``causal_half`` False; a decode query at context s): min(s, w) — a sliding-window
      query sees the last w tokens; a chunked one (Llama 4's ``attention_chunk_size``) sees its own
      chunk, at most w tokens (min(s, w) is exact for s <= w and the chunk's end otherwise);
    * causal (``causal_half``; a whole causal sequence of s tokens, per query on average):
      sliding, w - w^2 / (2 s) for s > w (s/2 below); chunked, min(s, w) / 2 (each chunk a causal
      block of its own)."""
    s = ew.f64(seq)  # plain floats stay plain (planner.model.ew: the simulator calls this per engine step)
    w = float(window)
    if causal_half and kind == "chunked":
        return ew.minimum(s, w) / 2
    if causal_half:  # (max(s, w) is s where selected: no division by a zero length in the branch not taken)
        return ew.where(s > w, w - w * w / (2 * ew.maximum(s, w)), s / 2)
    return ew.minimum(s, w)


def attention_core_flops(queries, keys, q_dim):
    """Forward FLOPs of the attention core (QK^T and AV), every score counted:
    ``2 x 2 x queries x keys x q_dim`` (two matmuls of 2 FLOPs per multiply-add; Narayanan et al.
    2021 §3, the count FlopCounterMode makes for ``scaled_dot_product_attention``). A causal
    kernel that skips the masked half executes half of it."""
    return 4.0 * np.asarray(queries, dtype=np.float64) * np.asarray(keys, dtype=np.float64) * q_dim


def attention_flops_per_token(m: ModelSpec, seq, causal_half: bool = False, windowed: bool = True):
    """QK^T + AV forward FLOPs per token over all layers: 4 * keys * score_dim summed over the
    layers (``attention_keys``; 4 * s * q_dim * layers for full attention, full count)."""
    return attention_core_flops(1.0, attention_keys(m, seq, windowed, causal_half), score_dim(m))


def attention_span(t, doc_masking: bool) -> float:
    """Tokens a query's attention runs over: the packed example's, ``min(mean_example_tokens,
    seq_len)``, when the rows are packed examples (``training.packing`` "packed" with
    ``training.mean_example_tokens``) and the stack's flash kernels attend per example
    (``Stack.doc_masking``: variable-length kernels over each example's cu_seqlens); else the
    whole row, ``seq_len``. With every example of length L the per-example attention of a
    row of s tokens does (s/L) L^2 = s L score products: keys per query L instead of s (half of
    each causal), all else per token unchanged. NeMo: "attention values between sequences are
    never calculated, so the complexity of attention remains at sum_i s_i^2" (NVIDIA/NeMo
    docs/source/features/throughput_optimizations.rst, "Sequence Packing for SFT/PEFT").
    A kernel without varlen support (no flash: Megatron's unfused CoreAttention masks in the
    softmax) computes every score of the row."""
    s = float(t.seq_len)
    if doc_masking and t.flash_attention and t.packing == "packed" and t.mean_example_tokens:
        return min(float(t.mean_example_tokens), s)
    return s


def cp_attention_span(t, stack, cp):
    """``attention_span`` per layout row: the whole row (``seq_len``) at CP > 1 where the stack's context
    parallelism drops the per-example masks (``Stack.doc_masking_cp`` False), else ``attention_span``. accelerate's
    torch context parallelism (the HF Trainer's, rule ``hf-trainer-cp-fsdp``) "works only with SDPA and only with no
    mask or causal mask" (accelerate docs/source/concept_guides/context_parallelism.md, Torch/FSDP2 backend): packed
    rows there attend causally over the whole packed span, every example seeing the ones before it in its row."""
    span = attention_span(t, stack.doc_masking)
    if getattr(stack, "doc_masking_cp", True):
        return span
    return np.where(np.asarray(cp) > 1, float(t.seq_len), span)


def routed_expert_flops_per_token(m: ModelSpec) -> float:
    """Forward matmul FLOPs per token of the routed experts (top_k of them), summed over the MoE layers,
    MTP's included: what every routed token costs when no token is dropped. 0 for a dense model."""
    if m.moe is None:
        return 0.0
    n_moe = count_params(m).n_moe_layers + m.mtp_layers
    return 2.0 * moe_block_macs(m)["experts"] * n_moe


def dropped_expert_flops_per_token(m: ModelSpec) -> float:
    """Forward matmul FLOPs per token, over the MoE layers, of the routed rows a capacity factor below 1
    drops: (1 - ``moe.kept_rows``) x ``routed_expert_flops_per_token``. Dropped tokens skip the experts
    (they ride the residual), so neither model FLOPs (MFU: the FLOPs the job needs, only the kept rows) nor
    hardware FLOPs count them, as the step time does not price them (``moe.expert_load`` caps the busiest
    expert's rows at the capacity). 0 dropless or at capacity_factor >= 1."""
    if m.moe is None:
        return 0.0
    from planner.model.moe import kept_rows

    return (1.0 - kept_rows(m.moe)) * routed_expert_flops_per_token(m)


def padded_expert_flops_per_token(m: ModelSpec) -> float:
    """Forward matmul FLOPs per token, summed over the MoE layers (MTP's included), that the routed experts
    run on padding rows: with ``pad_to_capacity`` every expert computes its whole capacity, ``capacity_factor``
    x the mean T k / E rows, padding included (planner.model.moe ``padded_rows``, Megatron-Core
    ``--moe-pad-expert-input-to-capacity``), so the kernels execute (padded_rows - kept_rows) x the routed
    experts' FLOPs beyond the kept rows the model count holds (``dropped_expert_flops_per_token``; below
    capacity factor 1 the capacity is all kept rows, no padding). Hardware FLOPs (HFU) count them, model
    FLOPs (MFU) do not; the step time already prices those rows (``moe.expert_load``). 0 without padding."""
    if m.moe is None or m.moe.dropless or not m.moe.pad_to_capacity:
        return 0.0
    from planner.model.moe import kept_rows, padded_rows

    return (padded_rows(m.moe) - kept_rows(m.moe)) * routed_expert_flops_per_token(m)


def _module_recompute(m, run, tokens, mods, per_mod, fused_qkv, flash):
    """Megatron's selective recompute: the attention core as its kernel runs it (``run``; Korthikanti et al. 2022 §5)
    when "core_attn" is listed, plus each listed Megatron-Core module's forward matmuls
    (``recompute_module_flops_per_token``); the routed experts' padding rows re-run with "moe"."""
    sel = (run if "core_attn" in mods else 0.0) + sum((per_mod[x] for x in mods if x != "core_attn"), 0.0) * tokens
    return sel, float("moe" in mods)


def _op_sac_recompute(m, run, tokens, mods, per_mod, fused_qkv, flash):
    """torchtitan's per-op SAC: every second mm of each block, the MoE router and routed experts
    (``op_sac_recompute_flops_per_token``); with flash the attention core's output is saved, without it the math
    path's bmm and softmax re-run the core as it ran (``run``: the full score matrix, as ``FlopCounterMode`` counts
    it; ``OpSacBlock.core_rerun``). Until 2026-12-03 the math path's re-run was left out (memory already kept
    nothing of it)."""
    core = run if op_sac_block(m, fused_qkv=fused_qkv, flash=flash).core_rerun else 0.0
    return op_sac_recompute_flops_per_token(m, fused_qkv) * tokens + core, 1.0


def _layer_sac_recompute(m, run, tokens, mods, per_mod, fused_qkv, flash):
    """torchtitan's layer SAC: nothing at the selective code, since the layers it checkpoints reach ``step_flops`` as
    full recompute at their share (planner.model.pipeline ``rebuilt_layers``) and the others keep everything."""
    return 0.0, 0.0


#: what ``recompute: selective`` re-runs, by the stack's policy (``Stack.selective``): (forward FLOPs the backward
#: runs again, over the step's tokens; 1.0 where the routed experts are re-run, so their padding rows too)
SELECTIVE_RECOMPUTE = {"attention_core": _module_recompute, "op": _op_sac_recompute, "layer": _layer_sac_recompute}


def selective_kw(stack, t, m: ModelSpec) -> dict:
    """``step_flops``' keywords for what ``stack``'s selective recompute re-runs: its policy (``Stack.selective``),
    its fused QKV projection (``Stack.fused_qkv``) and Megatron-Core's ``recompute_modules`` of the job where the
    stack takes them (None: the attention core); and what its full recompute does not re-run (``remat_skip``:
    MaxText's remat policy, ``remat_skip_flops_per_token``)."""
    from planner.model.stacks import recompute_modules

    from planner.model.activations import stack_remat

    mods = recompute_modules(t, stack, m) if getattr(stack, "module_recompute", False) and m.is_transformer else None
    return dict(modules=mods, selective=getattr(stack, "selective", "attention_core"),
                fused_qkv=bool(getattr(stack, "fused_qkv", False)),
                remat_skip=remat_skip_flops_per_token(m, stack_remat(stack)))


def step_flops(m: ModelSpec, seq, global_batch, recompute="none", flash=True, causal_half=False,
               windowed=True, attn_span=None, modules=None, causal_kernel=True, full_fraction=1.0,
               selective="attention_core", fused_qkv=False, remat_skip=0.0):
    """FLOPs of one optimizer step over the whole global batch. Array-friendly in every argument
    except the model. ``recompute`` is a name or an array of codes (0 none, 1 selective, 2 full).
    ``full_fraction``: the share of the layers full recompute re-runs (planner.model.pipeline.recomputed_fraction:
    Megatron's block method re-runs N per stage; 1, every layer, by default).
    ``attn_span``: the tokens each query's attention covers (``attention_span``; default ``seq``).
    ``modules``: what selective recompute re-runs (Megatron-Core ``recompute_modules``, as
    ``stacks.recompute_modules`` resolves the job's; None: the attention core, its default): the hardware
    FLOPs add each listed module's forward matmuls once (``recompute_module_flops_per_token``).
    ``selective``: the stack's selective policy (``SELECTIVE_RECOMPUTE``; ``Stack.selective``): Megatron's
    "attention_core" re-runs ``modules``, torchtitan's per-op "op" every second mm of a block
    (``op_sac_recompute_flops_per_token``, counted over a fused QKV projection with ``fused_qkv``); ``selective_kw``
    gives the three for a stack. ``remat_skip``: forward FLOPs per token full recompute does not re-run (MaxText's
    saved GEMMs, ``remat_skip_flops_per_token``), off ``hardware``.

    ``causal_kernel``: the flash kernel skips a causal model's masked blocks (module docstring), so
    ``hardware`` counts its attention at ``causal_half`` keys; False: the full matrix, as
    ``FlopCounterMode`` counts sdpa. Without ``flash`` the attention runs in full either way. ``hardware``
    also counts the padding rows of experts padded to capacity (``padded_expert_flops_per_token``).

    Returns a dict of arrays: ``fwd``, ``model`` (3 x fwd, for MFU), ``hardware`` (the attention as
    executed, with recompute and flash's backward score recompute, for HFU), ``attention_fwd``,
    ``linear_fwd``, ``logits_fwd``.
    """
    rc = np.asarray(RECOMPUTE.code[recompute] if isinstance(recompute, str) else recompute)
    gb = np.asarray(global_batch, dtype=np.float64)
    if not m.is_transformer:
        fwd = m.fwd_flops_per_sample * gb
        model = 3 * fwd
        hardware = model + np.where(rc == 2, full_fraction * fwd, 0.0)
        z = np.zeros_like(fwd)
        return dict(fwd=fwd, model=model, hardware=hardware, attention_fwd=z, linear_fwd=fwd, logits_fwd=z)
    tokens = gb * np.asarray(seq, dtype=np.float64)
    lin = linear_flops_per_token(m)
    # a capacity factor below 1 drops routed rows: the experts never run them (dropped_expert_flops_per_token)
    dropped = dropped_expert_flops_per_token(m)
    layer_lin = (lin["attn_proj"] + lin["mlp"] + lin.get("mtp", 0.0) + lin.get("mamba", 0.0) - dropped) * tokens
    logits = lin["logits"] * gb * head_positions(m, np.asarray(seq, dtype=np.float64))
    span = seq if attn_span is None else attn_span
    attn = attention_flops_per_token(m, span, causal_half, windowed) * gb * np.asarray(seq, dtype=np.float64)
    # the SSD scans run per sequence (per packed example, like the attention core); not flash's
    # backward score recompute, re-run by full recompute only
    ssd = m.mamba_layers * ssd_flops(m, span) / np.asarray(span, dtype=np.float64) * tokens if m.mamba else 0.0
    fwd = layer_lin + logits + attn + ssd
    model = 3 * fwd
    # the attention the kernels execute (module docstring): a causal flash kernel skips the masked blocks
    run = attn
    if flash and causal_kernel and m.causal and not causal_half:
        run = attention_flops_per_token(m, span, True, windowed) * tokens
    mods = distinct_recompute_modules(DEFAULT_RECOMPUTE_MODULES if modules is None else modules)
    per_mod = recompute_module_flops_per_token(m)
    per_mod = dict(per_mod, moe=per_mod["moe"] - dropped) if dropped else per_mod  # "moe" re-runs the kept rows
    sel, sel_pad = SELECTIVE_RECOMPUTE[selective](m, run, tokens, mods, per_mod, fused_qkv, flash)
    extra = np.where(rc == 2, full_fraction * (layer_lin + run + ssd - remat_skip * tokens), np.where(rc == 1, sel, 0.0))
    # flash attention recomputes the scores in its backward; selective/full recompute already
    # re-ran the whole attention forward, and FlashAttention still re-derives the scores inside
    # its own backward kernel, so the extra half is charged in every case with flash on
    extra = extra + (0.5 * run if flash else 0.0)
    # padding rows of experts padded to capacity: executed in the forward, the backward and every recompute of them
    pad = padded_expert_flops_per_token(m) * tokens
    extra = extra + np.where(rc == 2, full_fraction * pad, np.where(rc == 1, sel_pad * pad, 0.0))
    hardware = model - 3 * (attn - run) + extra + 3 * pad
    return dict(fwd=fwd, model=model, hardware=hardware, attention_fwd=attn,
                linear_fwd=layer_lin, logits_fwd=logits, ssd_fwd=ssd + 0.0 * fwd)


def narayanan_eq3(B, s, l, h, V):
    """Narayanan et al. 2021 eq. 3: 96 B s l h^2 (1 + s/6h + V/16lh) — GPT with 4h MLP, full
    recompute, attention not causal-halved. Kept for tests and the validation script."""
    return 96.0 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
