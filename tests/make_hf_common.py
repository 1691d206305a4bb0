"""Tiny random-weight configs, one per Hugging Face family, for the make_hf_*.py truth scripts.

Each keeps its family's structure at toy size (2 blocks, hidden 64, vocab 256): MoE blocks with
real top-k routing over several experts, MLA low-rank dims, sliding-window / chunked layers with a
window shorter than the measured sequences, q/k norms, biases, tied or untied heads as the family
has them. Nothing here is downloaded: every model is built with ``from_config``.

Not a script: the shared part of the make_hf_*.py / make_peft_truth.py scripts (only they import it; the tests read their JSON output).
"""
from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

# tokens 0..2 are pad/bos/eos so no default id (e.g. gpt-oss pad 199999) falls outside vocab 256
_IDS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
_BASE = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
             vocab_size=256, intermediate_size=128, max_position_embeddings=512,
             tie_word_embeddings=False, **_IDS)

WINDOW = 32  # sliding window / attention chunk of the tiny configs: shorter than every measured seq

FAMILIES: dict[str, dict] = {
    "llama": dict(model_type="llama", **_BASE),
    "mistral": dict(model_type="mistral", **_BASE, sliding_window=WINDOW),
    "qwen2": dict(model_type="qwen2", **_BASE),  # q/k/v bias
    "qwen3": dict(model_type="qwen3", **_BASE, head_dim=32),  # q/k norm, head_dim != hidden/heads
    "qwen3_moe": dict(model_type="qwen3_moe", **_BASE, head_dim=16, num_experts=8, num_experts_per_tok=2,
                      moe_intermediate_size=32, decoder_sparse_step=1, mlp_only_layers=[],
                      norm_topk_prob=True),
    "mixtral": dict(model_type="mixtral", **_BASE, num_local_experts=4, num_experts_per_tok=2),
    "deepseek_v3": dict(model_type="deepseek_v3", **{**_BASE, "num_key_value_heads": 4},
                        moe_intermediate_size=32, n_routed_experts=8, n_shared_experts=1,
                        num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1,
                        q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8,
                        v_head_dim=16, num_nextn_predict_layers=1, rope_scaling=None),
    "deepseek_v2": dict(model_type="deepseek_v2", **{**_BASE, "num_key_value_heads": 4},
                        moe_intermediate_size=32, n_routed_experts=8, n_shared_experts=2,
                        num_experts_per_tok=2, n_group=1, topk_group=1, topk_method="greedy",
                        first_k_dense_replace=1, q_lora_rank=None, kv_lora_rank=16,
                        qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, rope_scaling=None),
    "llama4_text": dict(model_type="llama4_text", **{**_BASE, "intermediate_size": 32}, head_dim=16,
                        intermediate_size_mlp=128, num_local_experts=4, num_experts_per_tok=1,
                        interleave_moe_layer_step=1, attention_chunk_size=WINDOW,
                        no_rope_layers=[1, 0], use_qk_norm=True, rope_scaling=None),
    "gemma2": dict(model_type="gemma2", **{**_BASE, "tie_word_embeddings": True}, head_dim=16,
                   sliding_window=WINDOW, query_pre_attn_scalar=16),
    "gemma3_text": dict(model_type="gemma3_text", **{**_BASE, "tie_word_embeddings": True}, head_dim=16,
                        sliding_window=WINDOW, query_pre_attn_scalar=16,
                        layer_types=["sliding_attention", "full_attention"]),
    "gpt_oss": dict(model_type="gpt_oss", **{**_BASE, "intermediate_size": 32}, head_dim=16,
                    num_local_experts=4, num_experts_per_tok=2, sliding_window=WINDOW,
                    layer_types=["sliding_attention", "full_attention"]),
    "olmo2": dict(model_type="olmo2", **_BASE),  # q/k norm over all heads, post-norms
    "phi3": dict(model_type="phi3", **_BASE, sliding_window=None),  # fused qkv and gate_up
    "gpt2": dict(model_type="gpt2", n_embd=64, n_layer=2, n_head=4, vocab_size=256, n_positions=512,
                 bos_token_id=1, eos_token_id=2),
    "bert": dict(model_type="bert", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=128, vocab_size=256, max_position_embeddings=512, pad_token_id=0),
}
ENCODERS = {"bert"}
MOE = {"qwen3_moe", "mixtral", "deepseek_v3", "deepseek_v2", "llama4_text", "gpt_oss"}


def build(family: str, attn: str = "eager", experts: str | None = "eager", seed: int = 0,
          overrides: dict | None = None):
    """A freshly initialised tiny model of ``family`` on CPU in fp32 (train mode)."""
    raw = dict(FAMILIES[family], **(overrides or {}))
    cfg = AutoConfig.for_model(**raw)
    auto = AutoModelForMaskedLM if family in ENCODERS else AutoModelForCausalLM
    kw = {"attn_implementation": attn}
    if family in MOE and experts is not None:
        kw["experts_implementation"] = experts
    torch.manual_seed(seed)
    model = auto.from_config(cfg, **kw)
    model.train()
    return model


def batch(family: str, b: int, s: int, seed: int = 0) -> dict:
    """input_ids and labels (labels = inputs, as a causal LM / MLM trainer would pass)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, FAMILIES[family]["vocab_size"], (b, s), generator=g)
    return {"input_ids": ids, "labels": ids.clone()}


class RoutingRecorder:
    """Counts, per MoE block, how many tokens the router sends to each expert in one forward.

    Hooks the experts module (its forward gets the router's top-k indices) or, for Llama-4
    (whose experts module gets only hidden states), the router (top-k of its logits).
    """

    def __init__(self, model):
        self.records: dict[str, dict] = {}
        self.handles = []
        for name, mod in model.named_modules():
            cls = type(mod).__name__
            if cls.endswith("Experts") and cls != "Llama4TextExperts":
                self.handles.append(mod.register_forward_hook(self._experts_hook(name, mod), with_kwargs=True))
            elif cls == "Llama4Router":
                self.handles.append(mod.register_forward_hook(self._llama4_hook(name, mod)))

    def _add(self, name, idx, n_experts, tokens, computed=None):
        counts = torch.bincount(idx.reshape(-1).long(), minlength=n_experts)[:n_experts].tolist()
        rec = self.records.setdefault(name, {"calls": 0, "tokens": 0, "top_k": idx.shape[-1],
                                             "num_experts": n_experts, "tokens_per_expert": [0] * n_experts})
        rec["calls"] += 1
        rec["tokens"] += tokens
        rec["tokens_per_expert"] = [a + c for a, c in zip(rec["tokens_per_expert"], counts)]
        if computed is not None:
            rec["computed_tokens_per_expert"] = computed

    def _experts_hook(self, name, mod):
        def hook(m, args, kwargs, out):
            idx = args[1] if len(args) > 1 else kwargs.get("top_k_index", kwargs.get("router_indices"))
            self._add(name, idx.detach(), m.num_experts, args[0].shape[0])
        return hook

    def _llama4_hook(self, name, mod):
        def hook(m, args, out):
            logits = out[1]
            idx = torch.topk(logits.detach(), m.top_k, dim=-1).indices
            n = logits.shape[0]
            # Llama4TextExperts runs every expert on every token (a dense bmm over router-scaled
            # copies of the input): the compute does not follow the routing
            self._add(name.replace(".router", ".experts"), idx, m.num_experts, n, computed=[n] * m.num_experts)
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()
