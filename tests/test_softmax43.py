"""The softmax of explicit attention on stacks without Megatron's ``FusedScaleMaskSoftmax`` (softmax43, 2026-12-05):
each stack's own code, one registry entry each (stack_kernels.EXPLICIT_SOFTMAX), read by the memory (what autograd keeps per
score: stack_kernels.explicit_softmax_fp32) and the step time (the bytes and kernels beyond a fused 16-bit softmax:
stack_kernels.explicit_softmax_extra). Until softmax43 all of them kept the fp32 softmax past 4096 keys only and paid no
extra time.

The truth is a CPU replica of each path: what it keeps, with ``torch.autograd.graph.saved_tensors_hooks`` over the
score-sized storages; what it moves, with a TorchDispatchMode over every op between the two GEMMs, by the score-sized
tensors it reads or writes (as tests/test_small32b.py counts transformers' gpt-oss eager attention). CUDA autocast puts
``softmax`` on its fp32 list (the input cast up first); CPU autocast does not, so llm-foundry's path is replayed with
that cast written out.
"""
from __future__ import annotations

import numpy as np
import pytest

from planner.model import stack_kernels, stacks
from planner.model.activations import NONE, SELECTIVE, layer_activation_bytes, saved_softmax_fp32, stack_table_kw
from planner.spec import ModelSpec

B, H, S, D = 2, 4, 64, 16
SCORES = B * H * S * S


def _llm_foundry(torch):
    """llm-foundry @00ef82a3 ``scaled_multihead_dot_product_attention`` (attn_impl torch) as CUDA autocast runs it:
    ``q.matmul(k) * softmax_scale``, the per-call causal mask's ``masked_fill``, ``torch.softmax`` on the scores cast
    up to fp32, ``attn_weight.to(v.dtype).matmul(v)``."""
    def run(q, k, v):
        w = q.matmul(k.transpose(2, 3)) * D ** -0.5
        causal = ~w.new_ones(S, S, dtype=torch.float32).tril().to(torch.bool)
        w = w.masked_fill(causal.view(1, 1, S, S), torch.finfo(q.dtype).min)
        w = torch.softmax(w.float(), dim=-1)
        return w.to(v.dtype).matmul(v)
    return run


def _sdpa_math(torch):
    """torch SDPA's math backend, the last of torchtitan's ScaledDotProductAttentionWrapper backends."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def run(q, k, v):
        with sdpa_kernel(SDPBackend.MATH):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    return run


PATHS = {"torch_autocast": _llm_foundry, "sdpa_math": _sdpa_math}


def _qkv(torch):
    torch.manual_seed(0)
    return [torch.randn(B, H, S, D, dtype=torch.bfloat16, requires_grad=True) for _ in range(3)]


def _saved_per_score(path):
    """Bytes a score autograd keeps in score-sized storages (q, k, v and their copies are other rows)."""
    torch = pytest.importorskip("torch")
    q, k, v = _qkv(torch)
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = (t.untyped_storage().nbytes(), t.numel())
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = PATHS[path](torch)(q, k, v)
    out.float().sum().backward()
    return sum(nb for nb, n in saved.values() if n == SCORES) / SCORES


def _moved_per_score(path):
    """(forward, backward) bytes a score moved by the ops between the two GEMMs."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    aten = torch.ops.aten
    skip = {aten.view.default, aten.unsqueeze.default, aten.squeeze.dim, aten.expand.default, aten.detach.default,
            aten.alias.default, aten._unsafe_view.default, aten.slice.Tensor, aten.transpose.int, aten.t.default,
            aten.permute.default, aten.bmm.default, aten.mm.default, aten.new_ones.default}
    n, phase = {"fwd": 0, "bwd": 0, None: 0}, [None]

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func not in skip:
                ts = [x for x in tree_leaves((args, kwargs or {})) + tree_leaves(out) if isinstance(x, torch.Tensor)]
                n[phase[0]] += sum(x.numel() * x.element_size() for x in ts if x.numel() == SCORES)
            return out
    q, k, v = _qkv(torch)
    with Ops():
        phase[0] = "fwd"
        out = PATHS[path](torch)(q, k, v)
        phase[0] = None
        g = torch.randn_like(out)
        phase[0] = "bwd"
        out.backward(g)
    return n["fwd"] / SCORES, n["bwd"] / SCORES


def _model():
    return ModelSpec(family="decoder", layers=1, hidden=D * H, heads=H, vocab=64, ffn_hidden=4 * D * H,
                     position="learned", max_positions=8192)


def _table_score_bytes(stack, fb):
    """The table's core-attention rows (all rows less those kept under selective) per score, on ``stack``'s table
    keywords, the softmax per ``fb``."""
    m = _model()
    kw = dict(flash=False, dropout=False, act_bytes=2, fp32_softmax=fb,
              fp32_av=stack_table_kw(stack, "bf16")["fp32_av"])
    return float(layer_activation_bytes(m, S, B, recompute=NONE, **kw)
                 - layer_activation_bytes(m, S, B, recompute=SELECTIVE, **kw)) / SCORES


@pytest.mark.parametrize("name, path, per_score", [
    ("llm-foundry", "torch_autocast", 6), ("torchtitan", "sdpa_math", 4)])
def test_table_holds_what_each_stacks_softmax_saves(name, path, per_score):
    """Both paths keep their softmax's fp32 output at every length (4 B a score); llm-foundry's also the 16-bit cast
    the AV GEMM takes (6), SDPA's math backend multiplies the fp32 output itself (4). The table, at the stack's rule and keywords, holds the same (before softmax43: 2 B up to 4096 keys)."""
    st = stacks.resolve(name)
    assert _saved_per_score(path) == per_score
    fb = saved_softmax_fp32(st, _model(), S, np.array([B]), np.array([1]), 1, 2.0)
    assert fb.tolist() == [1.0]
    assert _table_score_bytes(st, float(fb[0])) == per_score


def test_metaseq_runs_megatrons_kernel_at_every_length():
    """metaseq's training attention calls ``ScaledUpperTriangMaskedSoftmax`` directly (no torch fallback): the
    kernel's 16-bit output at any length, no extra time (before softmax43: the fp32 output past 4096 keys)."""
    st = stacks.resolve("metaseq")
    for seq in (2048, 8192):
        assert saved_softmax_fp32(st, _model(), seq, np.array([1]), np.array([1]), 1, 2.0).tolist() == [0.0]
    assert stack_kernels.explicit_softmax_extra(st, False, 2.0) == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("path, form, autocast, gemm_fp32", [
    ("torch_autocast", "torch_autocast", False, (0, 0)), ("sdpa_math", "sdpa_math", False, (4, 8))])
def test_extra_bytes_are_the_paths_ops(path, form, autocast, gemm_fp32):
    """stack_kernels.EXPLICIT_SOFTMAX's bytes are what each path moves between its GEMMs less the fused default's softmax
    (4 forward, 6 backward: layer_ops.SCORE_BYTES_*), plus, for SDPA's math backend, its GEMMs' fp32 score operands
    (2 B more for QK^T's write and AV's read; backward dP, P, and dS twice)."""
    f, b = _moved_per_score(path)
    ef, eb = stack_kernels.EXPLICIT_SOFTMAX[form].extra_bytes[autocast]
    assert (ef, eb) == (f - 4 + gemm_fp32[0], b - 6 + gemm_fp32[1])


def _attn_seconds(stack_name, flash=False):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import validate as V
    import pandas as pd
    from planner.spec import TrainingSpec
    hw = V.hw_option(V.load_catalog(), "H100-SXM-80GB", 8, 900.0)
    model = V.gpt_model(8, 1024, 16, 50257, 2048)
    tr = TrainingSpec(seq_len=2048, global_batch=8, precision="bf16", weights="megatron", grad_dtype="same",
                      flash_attention=flash, dropout=False, recompute="none")
    row = pd.DataFrame([dict(tp=1, pp=1, dp=8, vpp=1, zero=0, mb=1, rc=0, sp=False, schedule=0)])
    st = stacks.resolve(stack_name)
    return (float(V.predict_group(model, tr, row, hw, framework=st)[0]),
            float(V.predict_group(model, tr, row, hw, framework=stacks.replace(st, explicit_softmax="kernel"))[0]))


@pytest.mark.parametrize("name", ["llm-foundry", "torchtitan"])
def test_step_time_pays_the_stacks_softmax(name):
    """Without flash, the stack's own softmax costs more than the fused default (the same stack priced as
    metaseq's kernel); with flash nothing moves."""
    own, fused = _attn_seconds(name)
    assert own > fused
    own, fused = _attn_seconds(name, flash=True)
    assert own == fused
