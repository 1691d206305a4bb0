"""NeMo AutoModel's multi-head latent attention joins q and k with eager ``torch.cat`` (automodel41).

nemo_automodel/components/models/deepseek_v3/layers.py ``MLA._forward_impl`` (@0b5d3f7c, the DeepSeek-V3 and Kimi K2
rows' model): ``q = torch.cat([q_nope, q_pe], dim=-1)``, ``k = torch.cat([k_nope, k_pe.expand(...)], dim=-1)``, uncompiled
with TE attention. ``layer_ops.mla_cat_bytes`` prices the two joins and the re-joins their splits' gradients make
(``Stack.mla_eager_cat``)."""
from dataclasses import replace
from types import SimpleNamespace

import pytest

from planner.model import stacks
from planner.model.step_time import step_time
from planner.model.layer_ops import mla_cat_bytes
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS

from rope_ops import addressed
from test_step_time import cands, hw_for


def _mla_chain_elements(b=2, s=8, heads=4, dn=16, dr=8, dv=12, r=32):
    """Bytes per token, forward and backward, that AutoModel's MLA chain from the projections' outputs to the
    attention call moves, counted with a TorchDispatchMode on real torch ops: every op but views, by the elements each
    tensor it reads or writes addresses (a stride-0 dimension -- ``expand`` -- once), at bf16. The q_b / kv_a outputs
    are leaves; kv_a_layernorm, TE's fused RoPE, kv_b_proj and the attention are stand-in autograd functions whose own
    ops are not counted (each priced elsewhere); the incoming gradients are made outside the count."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    aten = torch.ops.aten
    views = {aten.view.default, aten.unsqueeze.default, aten.squeeze.dim, aten.squeeze.dims, aten.expand.default,
             aten.detach.default, aten.alias.default, aten._unsafe_view.default, aten.split_with_sizes.default,
             aten.split.Tensor, aten.slice.Tensor, aten.narrow.default}
    counting, phase, n = [False], ["fwd"], {"fwd": 0, "bwd": 0}

    def quiet(fn):
        was = counting[0]
        counting[0] = False
        try:
            return fn()
        finally:
            counting[0] = was

    class Stand(torch.autograd.Function):  # a kernel priced elsewhere: shape-preserving
        @staticmethod
        def forward(ctx, *xs):
            out = quiet(lambda: tuple(x.clone() for x in xs))
            return out if len(out) > 1 else out[0]

        @staticmethod
        def backward(ctx, *gs):
            out = quiet(lambda: tuple(g.clone() for g in gs))
            return out if len(out) > 1 else out[0]

    class Up(torch.autograd.Function):  # kv_b_proj: the latent r -> heads x (dn + dv), a GEMM priced elsewhere
        @staticmethod
        def forward(ctx, x):
            return quiet(lambda: x.new_zeros(*x.shape[:-1], heads * (dn + dv)))

        @staticmethod
        def backward(ctx, g):
            return quiet(lambda: g.new_zeros(*g.shape[:-1], r))

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if counting[0] and func not in views:
                ts = [x for x in tree_leaves((args, kwargs or {})) + tree_leaves(out) if isinstance(x, torch.Tensor)]
                n[phase[0]] += sum(addressed(x) * x.element_size() for x in ts)
            return out

    dt = torch.bfloat16
    q_lin = torch.randn(b, s, heads * (dn + dr), dtype=dt, requires_grad=True)  # q_b_proj's output
    kv_lin = torch.randn(b, s, r + dr, dtype=dt, requires_grad=True)  # kv_a_proj_with_mqa's output
    with Ops():
        counting[0] = True
        q = q_lin.view(b, s, heads, dn + dr)
        q_nope, q_pe = torch.split(q, [dn, dr], dim=-1)
        kv, k_pe = torch.split(kv_lin, [r, dr], dim=-1)
        kv = Stand.apply(kv)  # kv_a_layernorm
        q_pe, k_pe = Stand.apply(q_pe, k_pe.unsqueeze(2))  # apply_rotary_emb_qk, rope_fusion: TE's kernel
        k_pe = k_pe.squeeze(2)
        q = torch.cat([q_nope, q_pe], dim=-1)
        kv = Up.apply(kv).view(b, s, heads, dn + dv)
        k_pe = k_pe.unsqueeze(2).expand([b, s, heads, dr])
        k_nope, v = torch.split(kv, [dn, dv], dim=-1)
        k = torch.cat([k_nope, k_pe], dim=-1)
        out = Stand.apply(q, k, v)  # TE DotProductAttention
        counting[0] = False
        grads = [torch.randn_like(x) for x in out]
        phase[0], counting[0] = "bwd", True
        torch.autograd.backward(out, grads)
        counting[0] = False
    dims = SimpleNamespace(mla=SimpleNamespace(qk_nope_head_dim=dn, qk_rope_head_dim=dr, v_head_dim=dv, kv_lora_rank=r))
    return {k: v / (b * s) for k, v in n.items()}, dims, heads


def test_mla_cat_bytes_match_real_ops():
    """mla_cat_bytes is what the torch ops of AutoModel's MLA joins move per token: forward 2 H (dn + dr) + H (2 dn +
    dr) + dr elements, backward 2 H (dn + dr) + 2 H (dn + dv) + 2 (r + dr) + H dr + dr, at 2 bytes."""
    real, dims, heads = _mla_chain_elements()
    f, b = mla_cat_bytes(dims, 2.0, heads)
    assert (f, b) == pytest.approx((real["fwd"], real["bwd"]), rel=1e-12)


def _mla_case(catalog, name="deepseek-v2-lite"):
    m = ModelSpec(**PRESETS[name])
    t = TrainingSpec(seq_len=4096, global_batch=16, micro_batch=1, precision="bf16")
    return m, t, cands(dp=8, ep=8, zero=3), hw_for(catalog)


def test_mla_joins_priced_on_each_pass_where_the_stack_runs_them(catalog):
    """nemo-automodel (``mla_eager_cat``) adds exactly memory_time(tokens x layers x bytes) to each pass of an MLA model
    over the same stack with the field off; Megatron-Core's entry (fused MLA RoPE) has it off."""
    m, t, c, hw = _mla_case(catalog)
    am = stacks.resolve("nemo-automodel")
    assert am.mla_eager_cat and not am.compile and not stacks.resolve("megatron-core").mla_eager_cat
    a, b = (step_time(m, t, c, hw, framework=s) for s in (replace(am, mla_eager_cat=False), am))
    f, bw = mla_cat_bytes(m, 2.0, m.heads)
    tok = 4096 * m.layers
    assert b["t_fwd_mb"][0] - a["t_fwd_mb"][0] == pytest.approx(float(hw.eff.memory_time(tok * f, hw.gpu.hbm_bw)), rel=1e-9)
    assert b["t_bwd_mb"][0] - a["t_bwd_mb"][0] == pytest.approx(float(hw.eff.memory_time(tok * bw, hw.gpu.hbm_bw)), rel=1e-9)


def test_mla_joins_not_priced_compiled_or_without_mla(catalog):
    """Compiled blocks fold the joins (nothing added), and a model without MLA has none."""
    m, t, c, hw = _mla_case(catalog)
    am = stacks.resolve("nemo-automodel")
    off = replace(am, mla_eager_cat=False)
    x, y = (step_time(m, t, c, hw, framework=replace(s, compile=True)) for s in (off, am))
    assert x["step_time_s"][0] == y["step_time_s"][0]
    gqa = ModelSpec(**PRESETS["qwen3-30b-a3b"])
    assert gqa.mla is None
    x, y = (step_time(gqa, t, c, hw, framework=s) for s in (off, am))
    assert x["step_time_s"][0] == y["step_time_s"][0]


def test_deepseek_v3_joins_are_about_a_quarter_megabyte_a_token_backward():
    """DeepSeek-V3 (128 heads, 128 / 64 / 128 head dims, latent 512) at bf16: 180,352 bytes a token and layer forward,
    248,192 backward -- the magnitude acc41c estimated by hand (~1 MB a token over forward, recompute and backward:
    here 0.61 MB)."""
    m = ModelSpec(**PRESETS["deepseek-v3"])
    f, b = mla_cat_bytes(m, 2.0, m.heads)
    assert (f, b) == (180352.0, 248192.0)
