"""The last published rows predicted over their GPU's memory outside Megatron-Bridge, NeMo 2 and MaxText (overmem38).

NeMo AutoModel's gpt-oss-120b (DGX-H100, 64 GPUs, EP 64, micro-batch 2 x 4096, no activation checkpointing; config
examples/benchmark/configs/gptoss_120b_te_deepep.yaml @037e04a6: ``attn: flex``, ``linear: te``, ``rms_norm: te``,
``rope_fusion: true``, ``enable_deepep: true``, ``fake_balanced_gate: true``) was put at 83.2 GiB of 80, 43.3 GiB of
it activations at 157.6 KB a token and layer. One block of AutoModel's gpt-oss, re-implemented on CPU under real
torch autograd (``saved_tensors_hooks``, saved tensors counted once per storage, parameters apart), keeps 136.7 KB:

* FlexAttention with sinks (components/attention/flex_attention.py): the kernel keeps q, k, v, its output and the
  log-sum-exp (torch _higher_order_ops/flex_attention.py ``FlexAttentionAutogradOp``); the eager rescale keeps the
  sigmoid's fp32 result, and ``o_proj`` the rescaled, cast-back output: a second O-sized tensor (+8.2 KB);
* ``FakeBalancedGate`` (components/moe/layers.py) builds weights and ids from ``torch.ones`` / ``torch.arange``: no
  router input, no router probabilities (-6.3 KB);
* ``GroupedExpertsDeepEP``'s ``@torch.compile``'d ``quick_geglu_deepep`` keeps its input and the weights, not
  ``act(gate)`` (-23.0 KB).

The walk's stand-ins, each for a kernel whose saves are read in its source: TE ``RMSNorm`` (input, rsigma), TE
``Linear`` in bf16 (its input), TE's fused RoPE (only the frequencies), the FlexAttention HOP (q, k, v, out, lse),
DeepEP's dispatch / combine with TE's fused permute (the routing map, no activation), grouped_gemm's ``gmm``
(``GroupedGemm.forward``: ``ctx.save_for_backward(a, b, batch_sizes)``). Everything else is the real torch op.
"""
import sys
from dataclasses import replace

import pytest
import torch

from planner.model.activations import layer_activation_bytes, layer_saved_tensors, stack_table_kw
from planner.model.memory import GiB, memory_per_gpu
from planner.model.stacks import resolve
from planner.spec import ModelSpec
from planner.spec.presets import PRESETS
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

BF16 = torch.bfloat16
#: the benchmark row's stack: AutoModel with the config's FlexAttention and DeepEP
STACK = replace(resolve("nemo-automodel", moe_dispatcher="deepep"), attn_kernel="fa2")


def _walk_model():
    """gpt-oss-120b at a quarter of its widths (hidden and expert width 720, 16 query / 2 key-value heads of 64),
    4 experts (top 4), the round-robin routing of the benchmark's gate: the same rows per token, scaled (the router's
    E-wide probabilities aside, which the fake gate does not keep)."""
    m = ModelSpec(**PRESETS["gpt-oss-120b"])
    return m.model_copy(update={"hidden": 720, "ffn_hidden": 720, "heads": 16, "kv_heads": 2,
                                "moe": m.moe.model_copy(update={"experts": 4, "routing": "round_robin"})})


class _TERMSNorm(torch.autograd.Function):  # TE RMSNorm: saves its input and the fp32 rsigma
    @staticmethod
    def forward(ctx, x, w):
        rs = torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-5)
        ctx.save_for_backward(x, rs, w)
        return (x.float() * rs).to(x.dtype) * w

    @staticmethod
    def backward(ctx, g):
        return g, None


class _TELinear(torch.autograd.Function):  # TE Linear in bf16: saves its input (and the weight)
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w.t() + b

    @staticmethod
    def backward(ctx, g):
        return g @ ctx.saved_tensors[1], None, None


class _FusedRoPE(torch.autograd.Function):  # TE FusedRoPEFunc: saves the frequencies only
    @staticmethod
    def forward(ctx, x, freqs):
        ctx.save_for_backward(freqs)
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return g, None


class _Flex(torch.autograd.Function):
    """FlexAttentionAutogradOp: saves (query, key, value, out, logsumexp); ``out`` in the query's stride order."""

    @staticmethod
    def forward(ctx, q, k, v):
        kk = k.repeat_interleave(q.shape[1] // k.shape[1], 1)
        vv = v.repeat_interleave(q.shape[1] // v.shape[1], 1)
        s = (q.float() @ kk.float().transpose(-1, -2)).tril()
        lse = torch.logsumexp(s, -1)
        o = (torch.softmax(s, -1) @ vv.float()).to(q.dtype)
        out = torch.empty_like(q)  # the query's strides: (b, s, h, d) storage under the (b, h, s, d) view
        out.copy_(o)
        ctx.save_for_backward(q, k, v, out, lse)
        return out, lse

    @staticmethod
    def backward(ctx, go, glse):
        q, k, v, *_ = ctx.saved_tensors
        return torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)


class _Dispatch(torch.autograd.Function):  # DeepEP dispatch + TE fused permute: the routing map, no activation
    @staticmethod
    def forward(ctx, x, order):
        ctx.save_for_backward(order)
        return x.index_select(0, order)

    @staticmethod
    def backward(ctx, g):
        return torch.zeros(g.shape[0] // 4, g.shape[1], dtype=g.dtype), None


class _Combine(torch.autograd.Function):  # TE fused unpermute + DeepEP combine: the map only
    @staticmethod
    def forward(ctx, y, order, tokens):
        ctx.save_for_backward(order)
        return torch.zeros(tokens, y.shape[1], dtype=y.dtype).index_add_(0, order, y)

    @staticmethod
    def backward(ctx, g):
        return g.index_select(0, ctx.saved_tensors[0]), None, None


class _GMM(torch.autograd.Function):  # grouped_gemm GroupedGemm: ctx.save_for_backward(a, b, batch_sizes)
    @staticmethod
    def forward(ctx, a, b, sizes):
        ctx.save_for_backward(a, b, sizes)
        return torch.cat([x @ w for x, w in zip(torch.split(a, sizes.tolist()), b)])

    @staticmethod
    def backward(ctx, g):
        return torch.zeros_like(ctx.saved_tensors[0]), None, None


def quick_geglu_deepep(x, permuted_probs, alpha: float = 1.702, limit: float = 7.0, linear_offset: float = 1.0):
    """components/moe/layers.py ``quick_geglu_deepep`` (``@torch.compile`` there), as written."""
    gate_out, up_out = x[..., ::2], x[..., 1::2]
    gate_out = gate_out.clamp(min=None, max=limit)
    up_out = up_out.clamp(min=-limit, max=limit)
    out_glu = gate_out * torch.sigmoid(alpha * gate_out)
    inter = out_glu * (up_out + linear_offset)
    return (inter * permuted_probs).to(x.dtype)


#: the partition inductor runs (min-cut rematerialisation) without its code generation
COMPILED = torch.compile(quick_geglu_deepep, backend="aot_eager_decomp_partition")


def _apply_bias(value, bias, sizes, probs=None):
    """``GroupedExpertsDeepEP._apply_bias``: per-expert bias (times the weights after the down projection)."""
    parts = torch.split(value, sizes.tolist())
    if probs is None:
        out = torch.cat([t + b for t, b in zip(parts, bias)])
    else:
        out = torch.cat([t + b * p for t, b, p in zip(parts, bias, torch.split(probs, sizes.tolist()))])
    return out.to(value.dtype)


def _saved_bytes(fn, params):
    """Bytes autograd keeps after ``fn()``: every saved tensor's storage once, the parameters' apart."""
    seen, skip = {}, {p.untyped_storage().data_ptr() for p in params}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in skip:
            seen[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(seen.values()), out


def _gpt_oss_block_bytes(tokens=64):
    """Per token, what one AutoModel gpt-oss block (``Block.forward`` of models/gpt_oss/model.py) keeps."""
    m = _walk_model()
    h, hd, a, kvh, f, e, k = m.hidden, m.head_dim, m.heads, m.kv_heads, m.ffn_hidden, m.moe.experts, m.moe.top_k
    torch.manual_seed(0)

    def p(*shape, dtype=BF16):
        return (torch.randn(*shape) * 0.02).to(dtype).requires_grad_()

    n1, n2 = p(h), p(h)
    wq, bq, wk, bk, wv, bv, wo, bo = p(a * hd, h), p(a * hd), p(kvh * hd, h), p(kvh * hd), p(kvh * hd, h), \
        p(kvh * hd), p(h, a * hd), p(h)
    sinks = p(a, dtype=torch.float32)
    w1, b1, w2, b2 = p(e, h, 2 * f), p(e, 2 * f), p(e, f, h), p(e, h)
    params = [n1, n2, wq, bq, wk, bk, wv, bv, wo, bo, sinks, w1, b1, w2, b2]
    x = torch.randn(1, tokens, h).to(BF16).requires_grad_()
    freqs = torch.randn(tokens, 1, 1, hd)

    def block():
        xn = _TERMSNorm.apply(x, n1)
        q, kk, v = (_TELinear.apply(xn, w, b) for w, b in ((wq, bq), (wk, bk), (wv, bv)))
        q, kk, v = q.view(1, tokens, a, hd), kk.view(1, tokens, kvh, hd), v.view(1, tokens, kvh, hd)
        q, kk = _FusedRoPE.apply(q, freqs) * 1.03, _FusedRoPE.apply(kk, freqs) * 1.03  # YaRN concentration
        out, lse = _Flex.apply(q.transpose(1, 2), kk.transpose(1, 2), v.transpose(1, 2))
        scale = torch.sigmoid(lse - sinks.view(1, -1, 1)).unsqueeze(-1)  # FlexAttention.forward's sink rescale
        out = (out * scale).to(q.dtype)
        attn = _TELinear.apply(out.transpose(1, 2).flatten(2), wo, bo)
        x1 = x + attn
        mlp_in = _TERMSNorm.apply(x1, n2).view(-1, h)
        # FakeBalancedGate.forward: nothing of the input enters autograd
        weights = (torch.ones(tokens, k) / k).type_as(mlp_in)
        idx = torch.arange(tokens * k).view(-1, k) % e
        order = torch.argsort(idx.flatten(), stable=True) // k  # tokens sorted by expert
        sizes = torch.bincount(idx.flatten(), minlength=e)
        xd = _Dispatch.apply(mlp_in, order)
        probs = weights.float().flatten()[torch.argsort(idx.flatten(), stable=True)].unsqueeze(-1)
        o1 = _apply_bias(_GMM.apply(xd, w1, sizes), b1, sizes)
        o1 = COMPILED(o1, probs)
        o2 = _apply_bias(_GMM.apply(o1, w2, sizes), b2, sizes, probs)
        y = _Combine.apply(o2, order, tokens)
        return x1 + y.view(1, tokens, h)

    # the RoPE frequencies are built once per model forward and shared by every layer: not a layer's save
    total, _ = _saved_bytes(block, params + [freqs])
    return total / tokens, m


def test_compiled_expert_activation_keeps_only_its_inputs_and_the_table_follows():
    """``quick_geglu_deepep`` under torch.compile's partition saves its input and the weights, nothing it computes
    (the eager function keeps gate, up, sigmoid and product intermediates)."""
    x = torch.randn(256, 1440, dtype=BF16, requires_grad=True)  # the walk's shape: one compilation for both
    probs = torch.rand(256, 1)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        COMPILED(x, probs)
    ptrs = {t.untyped_storage().data_ptr() for t in saved}
    assert ptrs == {x.untyped_storage().data_ptr(), probs.untyped_storage().data_ptr()}
    # ... which the table takes from the stack under DeepEP: no act(gate) row for the routed experts
    rows = {t.name for t in layer_saved_tensors(_walk_model(), 1.0, True, False, True,
                                                 fused_act_experts=stack_table_kw(STACK, "bf16")["fused_act_experts"])}
    assert "mlp.gate,up" in rows and "mlp.act(gate)" not in rows


def test_gpt_oss_block_saves_what_the_table_prices():
    """The walked block against the table's row for the same model, stack and layout (per token and layer)."""
    walked, m = _gpt_oss_block_bytes()
    kw = stack_table_kw(STACK, "bf16", model=m)
    table = float(layer_activation_bytes(m, 64, 1, moe=True, **kw)) / 64
    # the walk's extras: rsigma and its routing map (40 B); the table's int64 routing rows (3 k x 8 B): 0.2% apart
    assert table == pytest.approx(walked, rel=0.01), (walked, table)
    # at the full widths the table's row is 136.7 KB (157.6 before: + the rescaled O, - the router's input and
    # probabilities, - act(gate)); a quarter of them here
    assert 33e3 < walked < 35e3


def test_rows_follow_the_source_not_the_model_alone():
    """The sink rows need the eager rescale (not TE's in-kernel sinks); the fake gate's drop needs its routing;
    the fused expert activation needs the DeepEP path."""
    m = _walk_model()
    names = lambda st, mm: {t.name for t in layer_saved_tensors(mm, 1.0, True, False, True,  # noqa: E731
                                                                 **{k: v for k, v in stack_table_kw(
                                                                     st, "bf16", model=mm).items()
                                                                    if k in ("fused_glu", "probs_in_experts",
                                                                             "sink_rescale", "fused_act_experts")})}
    flex = names(STACK, m)
    assert {"proj.input", "attn.sink_scale"} <= flex and "mlp.act(gate)" not in flex
    assert not {"mlp.input", "moe.router_probs"} & flex
    te = names(resolve("nemo-automodel", moe_dispatcher="deepep"), m)  # TE DotProductAttention: sinks in cuDNN
    assert not {"proj.input", "attn.sink_scale"} & te
    learned = names(STACK, m.model_copy(update={"moe": m.moe.model_copy(update={"routing": "learned"})}))
    assert {"mlp.input", "moe.router_probs"} <= learned
    torch_a2a = names(replace(resolve("nemo-automodel"), attn_kernel="fa2"), m)  # GroupedExperts: not covered
    assert "mlp.act(gate)" in torch_a2a


def _automodel_case(rid):
    import pandas as pd
    import validate
    from hardware_catalog import load_catalog

    d = pd.read_csv(validate.AUTOMODEL_CSV)
    r = next(r for r in d.itertuples() if r.id == rid)
    case = validate.pr2_case(load_catalog(), r)
    st = validate.row_stack(case.stack, case.options)
    return memory_per_gpu(case.model, case.training, case.candidates, stack=st, gpu=case.hw.gpu.name), case


def test_automodel_gpt_oss_120b_fits_its_h100():
    """83.2 GiB (activations 43.3) before; 77.2 (37.6) with the walked saves."""
    mem, case = _automodel_case("automodel_main_h100_gpt-oss-120b_bf16_64")
    assert float(mem["activations"][0]) / GiB == pytest.approx(37.59, abs=0.05)
    assert float(mem["total"][0]) <= case.hw.gpu.memory_bytes


def test_deepseek_v3_report_row_recomputes_the_moe_swiglu_output():
    """DeepSeek-V3's own run (open_reports): the report's §3.3.3 "Low-Precision Activation" (2) caches the MoE
    SwiGLU's input and recomputes its output in backward -- Megatron-Core's ``moe_act`` recompute beside the
    RMSNorm and MLA up-projection recompute of §3.2.3. First PP stage 86.7 -> 82.6 GiB (activations 62.8 -> 59.0);
    still over its 80 GB H800: the FP8 storage of that input is DeepSeek's own (docs/accuracy_log.md, overmem38).
    83.7 GiB (activations 59.9) since dsdense38 priced the three dense layers' MLP rows at their own 18432; 80.1 GiB
    (activations 56.6) since each rank's activations count its own layers' kinds (stagekinds38); 77.2 GiB
    (activations 53.8, rank 1's own beside its own states) since the total is the peak rank's own (mem43): it fits."""
    import validate
    from hardware_catalog import load_catalog

    rows = validate.pd.read_csv(validate.OPEN_REPORTS_CSV)
    r = next(rows[rows["id"] == "deepseekv3_671b"].itertuples())
    model, training, c, hw, stack = validate.open_reports_case(load_catalog(), r)
    assert "moe_act" in training.recompute_modules
    mem = memory_per_gpu(model, training, c, stack=stack, gpu=hw.gpu.name)
    assert float(mem["activations"][0]) / GiB == pytest.approx(53.77, abs=0.05)
    assert float(mem["total"][0]) / GiB == pytest.approx(77.17, abs=0.05)
