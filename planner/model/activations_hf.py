"""Saved activations of the Hugging Face ``transformers`` eager/sdpa code (the fine-tuning stacks:
peft, TRL), as a table per family — distinct from ``planner.model.activations``, which models
Megatron-style kernels.

Read off the saved-tensor lists recorded from transformers 5.23 (tests/data/hf_activations.json,
made by tests/make_hf_activations.py with ``saved_tensors_hooks``, deduplicated by storage), and
checked against all of them in tests/test_families.py. Per token, ``a`` = activation bytes:

* RMSNorm (``LlamaRMSNorm``): its input upcast to fp32 (4w), the fp32 rstd (4), the normalised
  copy in the activation dtype (a*w, kept for the weight's gradient); OLMo 2 and Gemma multiply
  the weight in fp32 (normalised 4w; Gemma also keeps ``1 + weight`` per layer);
* every linear keeps its input (a*width) — a norm's output once for q/k/v (and the router);
* eager attention: q, k and v after ``repeat_kv`` (expanded to all heads), the fp32 softmax
  (4 per score) and its copy in the activation dtype; Gemma 2's soft-capping keeps the tanh
  (a per score); gpt-oss concatenates its sink (s+1 scores, an int64 max index per row) and keeps
  the softmax in the activation dtype; sdpa (CPU flash kernel): q, k, v unexpanded, the output
  and an fp32 log-sum-exp per head;
* MLP: act input, act output, up output, down input (4*a*f); MoE experts (eager loop): per
  routed token the gathered input and its index, the gate/up output (2f), the activation and the
  product (f each), the expert output and its routing weight; the router's logits, fp32 softmax,
  top-k indices and weights;
* once per model: RoPE cos/sin (Gemma 3: two sets), the input ids, the final norm and the head's
  input, the fp32 log-softmax of the loss (4V) and the shifted labels; Gemma 2's final soft-cap;
* gradient checkpointing: only each block's call arguments (hidden states, cos/sin, the 4-D mask
  in eager, position ids) plus what lies outside the blocks.
"""
from __future__ import annotations

from planner.spec import ModelSpec

ACT_BYTES = {"fp32": 4, "bf16": 2}
#: how a family's RMSNorm multiplies its weight (module docstring): "cast" = weight * x.to(dtype)
#: (Llama, Qwen, Mistral, Phi-3, DeepSeek, gpt-oss); "fp32" = in fp32 (OLMo 2, Gemma)
NORM_STYLE = {"olmo2": "fp32", "gemma2": "fp32", "gemma3_text": "fp32"}


def _norm(w: float, a: float, style: str) -> float:
    return 4 * w + 4 + (4 * w if style == "fp32" else a * w)


def hf_saved_bytes(m: ModelSpec, model_type: str, seq: int, batch: int, precision: str = "bf16",
                   impl: str = "eager", checkpointing: bool = False) -> float:
    """Bytes autograd keeps after one forward of a transformers causal LM (module docstring)."""
    a = ACT_BYTES[precision]
    tok = seq * batch
    h, H, V = m.hidden, m.heads, m.vocab
    style = NORM_STYLE.get(model_type, "cast")
    gemma = model_type in ("gemma2", "gemma3_text")
    if m.mla is not None:
        dqk, dv = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim, m.mla.v_head_dim
        kvh, drope = H, m.mla.qk_rope_head_dim
    else:
        dqk = dv = m.head_dim
        kvh = m.kv_heads
        drope = m.head_dim // 2 if model_type == "gpt_oss" else m.head_dim
    rope_b = 4 if model_type == "olmo2" else a
    rope_sets = 2 if model_type == "gemma3_text" else 1
    rope = rope_sets * 2 * seq * drope * rope_b  # cos/sin of shape (1, s, d): shared by the batch
    # outside the blocks: ids, final norm + head input, loss log-softmax, shifted labels, scalar
    outside = tok * 8 + tok * (_norm(h, a, style) + a * h) + tok * 4 * V + 8 * (tok + 1) + 4
    if model_type == "gemma2":
        outside += tok * a * V  # final logit soft-capping keeps its tanh
    if gemma:
        outside += 2 + 4 * h  # the embedding scale; the final norm's 1 + weight
    if checkpointing:
        # the 4-D masks passed to the blocks: one per attention kind in eager (full and sliding:
        # Gemma 2/3, gpt-oss), only the sliding one under sdpa (full layers use is_causal)
        kinds = 2 if (m.local_layers and m.local_layers < m.layers) else 1
        n_masks = kinds if impl != "sdpa" else (1 if m.local_layers else 0)
        mask = n_masks * batch * seq * seq * (1 if impl == "sdpa" else a)  # sdpa: a boolean mask
        per_layer = tok * a * h
        return m.layers * per_layer + rope + mask + 8 * seq + outside  # position ids (1, s)

    def attention() -> float:
        t = 0.0
        pre = 0 if model_type == "olmo2" else _norm(h, a, style)  # OLMo 2 normalises after
        t += pre + a * h  # q/k/v input
        if gemma:
            t += 4 * h / seq / batch  # 1 + weight per layer (not per token)
        if m.mla is not None:
            r = m.mla
            if r.q_lora_rank:
                t += _norm(r.q_lora_rank, a, style) + a * r.q_lora_rank
            t += _norm(r.kv_lora_rank, a, style) + a * r.kv_lora_rank
        if m.qk_norm == "head":
            t += _norm(H * dqk, a, style) - 4 * H * dqk + 4 * H * dqk + 4 * (H - 1)  # per-head rstd
            t += _norm(kvh * dqk, a, style) + 4 * (kvh - 1)
            if gemma:
                t += 2 * 4 * dqk / seq / batch
        elif m.qk_norm == "full":
            t += _norm(H * dqk, a, style) + _norm(kvh * dqk, a, style)
        if impl == "sdpa" and m.mla is None:  # MLA's unequal q/v dims fall back to the math path
            t += a * (H * dqk + kvh * dqk + kvh * dv + H * dv) + 4 * H  # its output is o_proj's input
        elif model_type == "gpt_oss":
            t += a * (2 * H * dqk + H * dv) + 8 * H + a * H * (seq + 1)
        else:
            t += a * (2 * H * dqk + H * dv) + 4 * H * seq + (a * H * seq if a < 4 else 0)
            if model_type == "gemma2":
                t += a * H * seq  # attention logit soft-capping
        if impl != "sdpa" or m.mla is not None:
            t += a * H * dv  # o_proj input
        if model_type == "olmo2" or gemma:
            t += _norm(h, a, style)  # post-attention norm (OLMo 2, Gemma)
        return t

    def mlp(moe: bool) -> float:
        t = _norm(h, a, style) if model_type != "olmo2" else 0.0
        t += a * h  # MLP / router input
        if gemma:
            t += _norm(h, a, style) - (0 if model_type != "olmo2" else 0)  # post-feedforward norm
        if model_type == "olmo2":
            t += _norm(h, a, style)
        if not moe:
            return t + 4 * a * m.dense_width
        e = m.moe
        k, f, E = e.top_k, m.ffn_hidden, e.experts
        t += 4 * E + 8 * k + 4 + 4 * k  # router softmax, top-k ids, sum, weights
        routed = E if e.all_experts_compute else k  # Llama-4's kernel: every expert, every token
        t += routed * (8 + 4 + a * (2 * h + 4 * f))  # per routed token (eager experts)
        if e.shared_experts:
            sw = e.shared_ffn_hidden or e.shared_experts * f
            t += 4 * a * sw
        return t

    n_moe = m.moe_layers
    per_tok = (m.layers - n_moe) * (attention() + mlp(False))
    if n_moe:
        per_tok += n_moe * (attention() + mlp(True))
    return per_tok * tok + rope + outside
