"""Small, real torch transformers built from a ``planner.spec.schema.ModelSpec`` — the ground truth the
analytic models are checked against (tests/test_flops.py, tests/test_activations.py) and the models
the calibration loop trains.

One ``Transformer`` covers the four families, laid out the way production code lays them out:

* GPT-2 style (``position='learned'``, LayerNorm, biases, GELU, tied embeddings, dropout): fused
  QKV projection split by views, as Megatron's ``linear_qkv`` and GPT-2's ``c_attn``;
* Llama style (RoPE, RMSNorm, GQA, SwiGLU, untied): separate q/k/v projections as in HF Llama, so
  that RoPE's outputs replace the pre-RoPE q/k instead of keeping a fused buffer alive;
* Mixtral style MoE: a softmax router, top-k, each expert runs on the tokens routed to it
  (gather -> expert MLP -> scale by the routing weight -> index_add), as HF Mixtral does;
* BERT style encoder: post-LN layers, token-type embeddings, an MLM head (dense, GELU, LN, tied
  decoder + bias).

Attention is ``F.scaled_dot_product_attention`` (``attn_impl='sdpa'``, the flash kernel on CPU and
GPU) or explicit math (QK^T, scale, mask, softmax, dropout, AV). RMSNorm is a fused-style autograd
Function that saves only its input and the fp32 rstd, as Apex/Transformer Engine kernels do (a
composite ``x * rsqrt(mean(x^2))`` would save several fp32 intermediates no production model
keeps). LayerNorm is ``F.layer_norm`` (saves input, mean, rstd). Cross-entropy upcasts the logits to
fp32 first, as Megatron and HF do.

``recompute='full'`` wraps every layer in ``torch.utils.checkpoint`` (non-reentrant), which keeps
only each layer's input; with ``recompute_method`` 'block' only the first ``recompute_num_layers`` layers
(the rest keep their activations), with 'uniform' each group of ``recompute_num_layers`` layers as one call
(only the group's input kept) -- Megatron-Core transformer_block.py ``_checkpointed_forward``'s two loops.

Example::

    >>> from planner.spec import ModelSpec
    >>> m = build_model(ModelSpec(layers=2, hidden=64, heads=4, kv_heads=2, vocab=100))
    >>> loss = m(torch.randint(0, 100, (1, 16)), torch.randint(0, 100, (1, 16)))
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

_checkpoint = checkpoint  # SavedTensors swaps ``checkpoint`` to see what each call keeps

from planner.spec import ModelSpec


class _RMSNormFn(torch.autograd.Function):
    """RMSNorm saving (x, rstd) only — what fused kernels (Apex FusedRMSNorm, TE) keep."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        rstd = torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)
        ctx.save_for_backward(x, weight, rstd)
        return (x.float() * rstd).to(x.dtype) * weight

    @staticmethod
    def backward(ctx, gy):
        x, weight, rstd = ctx.saved_tensors
        xhat = x.float() * rstd
        g = gy.float() * weight.float()
        gx = rstd * (g - xhat * (g * xhat).mean(-1, keepdim=True))
        gw = (gy.float() * xhat).reshape(-1, x.shape[-1]).sum(0)
        return gx.to(x.dtype), gw.to(weight.dtype), None


class Norm(nn.Module):
    def __init__(self, h, kind, eps=1e-5):
        super().__init__()
        self.kind, self.eps = kind, eps
        self.weight = nn.Parameter(torch.ones(h))
        self.bias = nn.Parameter(torch.zeros(h)) if kind == "layernorm" else None

    def forward(self, x):
        if self.kind == "layernorm":
            return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
        return _RMSNormFn.apply(x, self.weight, self.eps)


def dropout(x, p, training):
    """``native_dropout``, which keeps a 1-byte bool mask — what F.dropout runs on GPU. On CPU
    F.dropout multiplies by a mask of the input's dtype instead, which no GPU run saves."""
    return torch.native_dropout(x, p, True)[0] if training and p > 0 else x


class Dropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)


def rope(x, cos, sin):
    """Rotary embedding (Su et al. 2021), rotate-half layout as in HF Llama. x: (b, heads, s, d)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, m: ModelSpec, attn_impl: str, dropout: float):
        super().__init__()
        self.m, self.impl, self.dropout = m, attn_impl, dropout
        h, q, kv = m.hidden, m.q_dim, m.kv_dim
        self.fused = m.position != "rope"  # GPT-2/BERT: one c_attn; Llama: q/k/v_proj
        if self.fused:
            self.qkv = nn.Linear(h, q + 2 * kv, bias=m.qkv_bias)
        else:
            self.q_proj = nn.Linear(h, q, bias=m.qkv_bias)
            self.k_proj = nn.Linear(h, kv, bias=m.qkv_bias)
            self.v_proj = nn.Linear(h, kv, bias=m.qkv_bias)
        self.o_proj = nn.Linear(q, h, bias=m.linear_bias)
        self.resid_drop = Dropout(dropout)

    def forward(self, x, cos=None, sin=None, mask=None):
        m, (b, s, _) = self.m, x.shape
        a, kvh, d = m.heads, m.kv_heads, m.head_dim
        if self.fused:
            q, k, v = self.qkv(x).split([m.q_dim, m.kv_dim, m.kv_dim], dim=-1)
        else:
            q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        q = q.view(b, s, a, d).transpose(1, 2)  # (b, a, s, d)
        k = k.view(b, s, kvh, d).transpose(1, 2)
        v = v.view(b, s, kvh, d).transpose(1, 2)
        if cos is not None:
            q, k = rope(q, cos, sin), rope(k, cos, sin)
        if self.impl == "sdpa":
            # the flash kernel regenerates its dropout mask from the RNG seed in the backward and
            # saves nothing s x s; on CPU the flash path has no dropout, so attention dropout is
            # left off here (it changes no FLOPs and, for flash, no saved bytes)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=m.causal, enable_gqa=kvh != a)
        else:
            y = self._math(q, k, v, mask, b, s, a, kvh, d)
        # (b, a, s, d) -> (b, s, a*d): a copy for math attention (as Megatron's .contiguous());
        # a view when the kernel already wrote its output token-major (flash)
        y = y.transpose(1, 2).reshape(b, s, a * d)
        return self.resid_drop(self.o_proj(y))

    def _math(self, q, k, v, mask, b, s, a, kvh, d):
        g = a // kvh
        # GQA without materialising repeated K/V: fold the query group into the row dimension
        qg = q.reshape(b, kvh, g * s, d)
        att = (qg @ k.transpose(-2, -1)).view(b, a, s, s) * (1.0 / math.sqrt(d))
        if mask is not None:  # one causal mask per model, shared by the layers (as HF builds it)
            att = att.masked_fill(mask, float("-inf"))
        att = att.softmax(dim=-1)
        att = dropout(att, self.dropout, self.training)
        return (att.view(b, kvh, g * s, s) @ v).view(b, a, s, d)


class MLP(nn.Module):
    def __init__(self, m: ModelSpec, width: int, dropout: float = 0.0):
        super().__init__()
        self.gated = m.gated
        h, bias = m.hidden, m.linear_bias
        self.up = nn.Linear(h, width, bias=bias)
        if self.gated:
            self.gate = nn.Linear(h, width, bias=bias)
        self.down = nn.Linear(width, h, bias=bias)
        self.act = F.silu if m.mlp == "swiglu" else (lambda t: F.gelu(t, approximate="tanh"))
        self.drop = Dropout(dropout)

    def forward(self, x):
        if self.gated:
            return self.drop(self.down(self.act(self.gate(x)) * self.up(x)))
        return self.drop(self.down(self.act(self.up(x))))


class MoE(nn.Module):
    """Mixtral's sparse MLP, laid out as Megatron's token dispatcher: softmax router (fp32),
    top-k renormalised, tokens permuted so each expert sees its tokens as one contiguous slice,
    unpermuted by a gather, then weighted and summed. Each token runs top_k experts."""

    def __init__(self, m: ModelSpec):
        super().__init__()
        self.k = m.moe.top_k
        self.router = nn.Linear(m.hidden, m.moe.experts, bias=False)
        self.experts = nn.ModuleList(MLP(m, m.ffn_hidden) for _ in range(m.moe.experts))

    def forward(self, x):
        shape, x = x.shape, x.reshape(-1, x.shape[-1])
        probs = self.router(x).float().softmax(dim=-1)
        w, idx = probs.topk(self.k, dim=-1)
        w = (w / w.sum(-1, keepdim=True)).to(x.dtype)
        order = idx.flatten().argsort(stable=True)  # (token, slot) pairs grouped by expert
        counts = idx.flatten().bincount(minlength=len(self.experts)).tolist()
        xs = x[order // self.k]  # permute: one gather, top_k rows per token
        ys = torch.cat([e(c) for e, c in zip(self.experts, xs.split(counts))])
        y = ys[order.argsort()].view(x.shape[0], self.k, -1)  # unpermute
        return (y * w.unsqueeze(-1)).sum(1).view(shape)


class Block(nn.Module):
    def __init__(self, m: ModelSpec, attn_impl: str, dropout: float, moe: bool):
        super().__init__()
        self.post_ln = m.family == "encoder"  # BERT: x = LN(x + f(x))
        self.norm1, self.norm2 = Norm(m.hidden, m.norm), Norm(m.hidden, m.norm)
        self.attn = Attention(m, attn_impl, dropout)
        self.mlp = MoE(m) if moe else MLP(m, m.ffn_hidden, dropout)

    def forward(self, x, cos=None, sin=None, mask=None):
        if self.post_ln:
            x = self.norm1(x + self.attn(x, cos, sin, mask))
            return self.norm2(x + self.mlp(x))
        x = x + self.attn(self.norm1(x), cos, sin, mask)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, m: ModelSpec, attn_impl="sdpa", dropout=0.0, recompute="none", recompute_method=None,
                 recompute_num_layers=None):
        super().__init__()
        assert m.is_transformer and attn_impl in ("sdpa", "math") and recompute in ("none", "full")
        assert recompute_method in (None, "block", "uniform")
        self.m, self.recompute = m, recompute
        self.recompute_method, self.recompute_num_layers = recompute_method, recompute_num_layers
        self.wte = nn.Embedding(m.vocab, m.hidden)
        self.wpe = nn.Embedding(m.max_positions, m.hidden) if m.position == "learned" else None
        self.wtt = nn.Embedding(m.type_vocab, m.hidden) if m.type_vocab else None
        self.emb_norm = Norm(m.hidden, m.norm) if m.family == "encoder" else None
        self.drop = Dropout(dropout)
        moe_every = m.moe.layer_freq if m.moe else 0
        self.blocks = nn.ModuleList(
            Block(m, attn_impl, dropout, moe=bool(moe_every) and (i + 1) % moe_every == 0)
            for i in range(m.layers)
        )
        self.final_norm = Norm(m.hidden, m.norm) if m.family != "encoder" else None
        if m.mlm_head:  # BERT: transform (dense + GELU + LN), then the tied decoder with a bias
            self.mlm_dense = nn.Linear(m.hidden, m.hidden)
            self.mlm_norm = Norm(m.hidden, m.norm)
            self.mlm_bias = nn.Parameter(torch.zeros(m.vocab))
        self.lm_head = None if m.tied_embeddings else nn.Linear(m.hidden, m.vocab, bias=False)
        self.register_buffer("pos", torch.arange(m.max_positions or 1), persistent=False)
        self._rope, self._mask = {}, {}

    def rope_tables(self, s, device, dtype):
        """cos/sin for positions 0..s-1 (cached: one table shared by every layer and step)."""
        key = (s, device, dtype)
        if key not in self._rope:
            d = self.m.head_dim
            inv = 1.0 / (10000 ** (torch.arange(0, d, 2, device=device).float() / d))
            f = torch.outer(torch.arange(s, device=device).float(), inv)
            f = torch.cat((f, f), dim=-1)
            self._rope[key] = (f.cos().to(dtype), f.sin().to(dtype))
        return self._rope[key]

    def causal_mask(self, s, device):
        if (s, device) not in self._mask:
            self._mask[s, device] = torch.ones(s, s, dtype=torch.bool, device=device).triu(1)
        return self._mask[s, device]

    def constant_tensors(self):
        """Tensors that are not activations: parameters, buffers, RoPE tables, causal masks."""
        ts = list(self.parameters()) + list(self.buffers()) + list(self._mask.values())
        return ts + [t for pair in self._rope.values() for t in pair]

    def _partial_checkpointed(self, x, cos, sin, mask):
        """Megatron-Core ``_checkpointed_forward``: block checkpoints layers ``l < N`` one by one and runs the rest
        plain; uniform checkpoints ``layers[l:l + N]`` as one call for l = 0, N, 2N, ... (early stop off, as above)."""
        n, L = (1 if self.recompute_num_layers is None else self.recompute_num_layers), len(self.blocks)

        def run(start, end):
            def f(h, cos, sin, mask):
                for blk in self.blocks[start:end]:
                    h = blk(h, cos, sin, mask)
                return h
            return f

        with torch.utils.checkpoint.set_checkpoint_early_stop(False):
            if self.recompute_method == "block":
                for i, blk in enumerate(self.blocks):
                    x = checkpoint(run(i, i + 1), x, cos, sin, mask, use_reentrant=False) if i < n else blk(x, cos, sin, mask)
            else:
                for i in range(0, L, n):
                    x = checkpoint(run(i, min(i + n, L)), x, cos, sin, mask, use_reentrant=False)
        return x

    def forward(self, idx, targets=None):
        b, s = idx.shape
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(self.pos[:s])
        if self.wtt is not None:
            x = x + self.wtt(torch.zeros_like(idx))
        if self.emb_norm is not None:
            x = self.emb_norm(x)
        x = self.drop(x)
        cos = sin = None
        if self.m.position == "rope":
            cos, sin = self.rope_tables(s, x.device, x.dtype)
        mask = self.causal_mask(s, x.device) if self.m.causal else None
        partial = self.recompute == "full" and self.recompute_method is not None
        if partial:
            x = self._partial_checkpointed(x, cos, sin, mask)
        for blk in (() if partial else self.blocks):
            if self.recompute == "full":
                # early stop off: the backward reruns the whole layer forward, as Megatron's full
                # recompute does (early stop would skip the last matmul, whose output is unsaved)
                with torch.utils.checkpoint.set_checkpoint_early_stop(False):
                    x = checkpoint(blk, x, cos, sin, mask, use_reentrant=False)
            else:
                x = blk(x, cos, sin, mask)
        if self.final_norm is not None:
            x = self.final_norm(x)
        if self.m.mlm_head:
            x = self.mlm_norm(F.gelu(self.mlm_dense(x)))
        logits = F.linear(x, self.wte.weight) if self.lm_head is None else self.lm_head(x)
        if self.m.mlm_head:
            logits = logits + self.mlm_bias
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))


def build_model(spec: ModelSpec, attn_impl="sdpa", dtype=torch.float32, dropout=0.0,
                recompute="none", device="cpu", recompute_method=None, recompute_num_layers=None) -> Transformer:
    """A reference model for ``spec``: ``attn_impl`` 'sdpa' (flash kernel) or 'math'; ``dtype``
    of weights and activations; ``dropout`` probability (attention probs, residuals, embeddings);
    ``recompute`` 'none' or 'full' (checkpoint every layer, or with ``recompute_method`` 'block' /
    'uniform' and ``recompute_num_layers`` as Megatron-Core does)."""
    torch.manual_seed(0)
    return Transformer(spec, attn_impl, dropout, recompute, recompute_method,
                       recompute_num_layers).to(device=device, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Measuring what autograd keeps
# --------------------------------------------------------------------------------------------
class SavedTensors:
    """Bytes autograd saves for backward, one count per storage (views and tensors saved twice
    count once), leaving out the model's constants and the given inputs (token ids, targets).
    Layers under non-reentrant checkpointing save nothing through these hooks (checkpoint installs
    its own); what it does keep — the inputs of every checkpointed call — is added while inside.

        >>> from planner.spec import ModelSpec
        >>> model = build_model(ModelSpec(name="tiny", layers=1, hidden=64, heads=4, vocab=128, ffn_hidden=256))
        >>> idx, tgt = torch.randint(0, 128, (2, 16)), torch.randint(0, 128, (2, 16))
        >>> with SavedTensors(model, exclude=[idx, tgt]) as st:
        ...     loss = model(idx, tgt)
        >>> st.bytes  # fp32: one layer's saved activations and the fp32 logits of 32 tokens
        230276
    """

    def __init__(self, model: Transformer, exclude=()):
        self.model, self.exclude = model, list(exclude)
        self.storages: dict[int, int] = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t):
        self.add(t)
        return t

    def add(self, t):
        st = t.untyped_storage()
        self.storages[st.data_ptr()] = st.nbytes()

    @property
    def bytes(self) -> int:
        # constants are looked up at the end: RoPE tables and masks are built in the forward
        skip = {t.untyped_storage().data_ptr() for t in (*self.model.constant_tensors(), *self.exclude)}
        return sum(n for p, n in self.storages.items() if p not in skip)

    def _checkpoint(self, fn, *args, **kw):
        for a in args:
            if isinstance(a, torch.Tensor) and a.requires_grad:
                self.add(a)
        return _checkpoint(fn, *args, **kw)

    def __enter__(self):
        global checkpoint
        checkpoint = self._checkpoint
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        global checkpoint
        checkpoint = _checkpoint
        self._hooks.__exit__(*exc)


def register_cpu_flash_flops() -> None:
    """Teach ``FlopCounterMode`` the CPU flash kernel, which it has no formula for (it charges the
    CUDA flash kernels 4*b*a*s_q*s_k*d forward and 5 bmm backward): the same formula, with the
    query heads for K/V under GQA since every query head attends to its group's K/V."""
    from torch.utils import flop_counter as fc

    aten = torch.ops.aten
    if aten._scaled_dot_product_flash_attention_for_cpu in fc.flop_registry:
        return

    def heads(q, kv):
        return (kv[0], q[1], *kv[2:])

    @fc.register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu)
    def _fwd(q, k, v, *args, out_shape=None, **kwargs):
        return fc.sdpa_flop_count(q, heads(q, k), heads(q, v))

    @fc.register_flop_formula(aten._scaled_dot_product_flash_attention_for_cpu_backward)
    def _bwd(grad_out, q, k, v, *args, out_shape=None, **kwargs):
        return fc.sdpa_backward_flop_count(grad_out, q, heads(q, k), heads(q, v))
