"""The weight shapes of one layer, written once: every matrix a token multiplies, with its tensor-parallel split.

The parameter counts (planner.spec.params: the matrices plus biases and norms), the FLOPs
(planner.model.flops: 2 x the multiply-adds), per-op SAC's mm list and saved outputs
(planner.model.flops ``op_sac_block_mms``, planner.model.activations), Muon's matrices
(planner.model.optimizers) and LoRA's targets (planner.model.finetune ``layer_linears``) all read
these lists, so an attention variant or MLP shape is added here and nowhere else. It sits in
``planner.spec`` because it is a property of the model specification alone, the lowest layer the
counts and the time and memory formulas both import.

Names follow torchtitan's modules (models/llama3 and models/deepseek_v3 ``model.py``); the
Hugging Face names are planner.model.finetune's mapping of them.
"""
from __future__ import annotations

from dataclasses import dataclass

from planner.spec.schema import ModelSpec


@dataclass(frozen=True)
class Weight:
    """One ``nn.Linear`` weight, per token: ``k`` input and ``n`` output elements, and how its output lies over
    tensor parallelism (planner.model.activations ``SavedTensor.shard``): "tp" column-parallel (heads or FFN
    columns split over the ranks), "row" row-parallel (the partial sum, the full width on every rank before its
    reduction), "none" replicated (MLA's down-projections, LatentMoE's latent projections, the router)."""
    name: str
    k: int
    n: int
    shard: str = "tp"

    @property
    def macs(self) -> int:
        return self.k * self.n


#: MLA's up-projections: what Megatron-Core's ``qkv_up_proj_and_rope_apply`` runs (multi_latent_attention.py:
#: linear_q_up_proj, or linear_q_proj without a q LoRA rank, then linear_kv_up_proj), the function the
#: ``mla_up_proj`` recompute checkpoints
MLA_UP_PROJ = ("wq_b", "wq", "wkv_b")


def attention_weights(m: ModelSpec, fused_qkv: bool = False) -> list[Weight]:
    """One layer's attention projections in the order the forward runs them.

    * standard: wq h x q, wk / wv h x kv, wo q x h (q = heads x head_dim, kv = kv_heads x head_dim); one wqkv
      h x (q + 2 kv) under ``fused_qkv`` (torchtitan 0.3 ``FusedQKVLinear``; attention.py ``QKVLinear`` runs
      ``self.wq(x), self.wk(x), self.wv(x)``);
    * MLA (transformers ``modeling_deepseek_v3.py`` ``DeepseekV3Attention``; Megatron-Core
      ``multi_latent_attention.py``, no weight absorption in training; torchtitan models/deepseek_v3/model.py
      ``Attention.forward``): wq_a h x r_q (replicated) and wq_b r_q x H (d_nope + d_rope), or wq
      h x H (d_nope + d_rope) without q_lora_rank; wkv_a h x (r_kv + d_rope) (replicated), wkv_b
      r_kv x H (d_nope + d_v); wo H d_v x h.
    """
    h = m.hidden
    if m.mla is not None:
        a, H = m.mla, m.heads
        dqk = a.qk_nope_head_dim + a.qk_rope_head_dim
        q = ([Weight("wq_a", h, a.q_lora_rank, "none"), Weight("wq_b", a.q_lora_rank, H * dqk)] if a.q_lora_rank
             else [Weight("wq", h, H * dqk)])
        return q + [Weight("wkv_a", h, a.kv_lora_rank + a.qk_rope_head_dim, "none"),
                    Weight("wkv_b", a.kv_lora_rank, H * (a.qk_nope_head_dim + a.v_head_dim)),
                    Weight("wo", H * a.v_head_dim, h, "row")]
    q, kv = m.q_dim, m.kv_dim
    if fused_qkv:
        return [Weight("wqkv", h, q + 2 * kv), Weight("wo", q, h, "row")]
    return [Weight("wq", h, q), Weight("wk", h, kv), Weight("wv", h, kv), Weight("wo", q, h, "row")]


def mlp_weights(m: ModelSpec, width: int, prefix: str = "", io: int | None = None) -> list[Weight]:
    """An MLP io -> width -> io (``io`` default ``hidden``; LatentMoE's routed experts read and write
    ``ModelSpec.expert_io``): w1 (and w3 when gated: SwiGLU / GeGLU, Shazeer 2020 eq. 5-6) io x width, then
    w2 width x io (torchtitan feed_forward.py ``self.w2(F.silu(self.w1(x)) * self.w3(x))``)."""
    h = io or m.hidden
    up = [Weight(f"{prefix}w1", h, width), Weight(f"{prefix}w3", h, width)][:m.mlp_up_factor]
    return up + [Weight(f"{prefix}w2", width, h, "row")]


def shared_expert_width(m: ModelSpec) -> int:
    """The shared experts' MLP width: ``moe.shared_ffn_hidden``, else shared_experts x ``ffn_hidden``
    (Qwen2-MoE / DeepSeek: the shared experts run as one MLP). 0 without shared experts."""
    e = m.moe
    if e is None or not e.shared_experts:
        return 0
    return e.shared_ffn_hidden or e.shared_experts * m.ffn_hidden


def latent_weights(m: ModelSpec) -> list[Weight]:
    """LatentMoE's two projections around the routed experts (``MoESpec.latent_size`` l): latent_in h x l and
    latent_out l x h, replicated (Megatron-Core moe_layer.py fc1/fc2_latent_proj; HF NemotronHMoE). Empty
    without them."""
    if m.moe is None or not m.moe.latent_size:
        return []
    h, l = m.hidden, m.moe.latent_size
    return [Weight("latent_in", h, l, "none"), Weight("latent_out", l, h, "none")]


def mamba_weights(m: ModelSpec) -> list[Weight]:
    """One Mamba-2 mixer's projections (Megatron-Core megatron/core/ssm/mamba_mixer.py ``MambaMixer``; HF
    ``NemotronHMamba2Mixer`` the same): in_proj h x (2 d_inner + 2 G N + H) for z, x, B, C, dt, and out_proj
    d_inner x h. Empty without Mamba."""
    if m.mamba is None:
        return []
    a, h, di = m.mamba, m.hidden, m.mamba_inner
    return [Weight("in_proj", h, 2 * di + 2 * a.groups * a.d_state + m.mamba_heads),
            Weight("out_proj", di, h, "row")]


def macs(weights) -> int:
    """Multiply-adds per token (= weight elements) of ``weights``."""
    return sum(w.macs for w in weights)
