"""The memory of Megatron's softmax fallback (mem42, 2026-12-05): one rule (stack_kernels.softmax_fallback, through
``core_attention_fallback``) decides fused kernel or torch path for the step time and for the saved activations.

Where ``FusedScaleMaskSoftmax`` runs ``forward_torch_softmax`` (NVIDIA/Megatron-LM megatron/core/fusions/
fused_softmax.py; the else-branch of microsoft/Megatron-DeepSpeed megatron/model/fused_softmax.py @0782d753
``FusedScaleMaskSoftmax.forward``) autograd keeps the fp32 softmax output (4 bytes a score) where the CUDA kernel
(``ScaledUpperTriangMaskedSoftmax``) keeps its 16-bit output; without dropout the AV ``bmm`` keeps the 16-bit cast
beside it. Until mem42 the memory priced the fp32 output only past 4096 keys, on any stack, while the time priced the
fallback on the kernel's own constraints: vTrain's 16 heads at TP 8 and micro-batch 1 paid the torch path's time
but held the kernel's saves. The truth here is a CPU replica of both paths measured with
``torch.autograd.graph.saved_tensors_hooks``, deduplicated by storage.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import stack_kernels, stacks
from planner.model.activations import NONE, SELECTIVE, layer_activation_bytes
from planner.model.memory import memory_per_gpu
from planner.model.stack_kernels import core_attention_fallback
from planner.spec import ModelSpec

MDS = stacks.resolve("megatron-deepspeed")
NO_LIMIT = replace(MDS, fused_softmax_keys=0)  # the same stack priced as if the kernel took every shape


def _torch_softmax(torch, scores, mask, scale):
    """``forward_torch_softmax`` on 16-bit scores with ``softmax_in_fp32`` (the lines of megatron/core/fusions/
    fused_softmax.py: ``input.float()``, ``input * self.scale``, ``self.mask_func`` -- attention_mask_func's in-place
    ``masked_fill_(mask, -10000.0)`` --, ``torch.nn.Softmax(dim=-1)``, the cast back)."""
    x = scores.float()
    x = x * scale
    x = x.masked_fill_(mask, -10000.0)
    probs = torch.nn.Softmax(dim=-1)(x)
    return probs.to(scores.dtype)


def _kernel_softmax(torch):
    """The fused kernel as autograd sees it: ``ScaledUpperTriangMaskedSoftmax`` (fused_softmax.py) computes the causal
    softmax in one CUDA call and ``ctx.save_for_backward(softmax_results, scale_t)``, its 16-bit output and a
    one-element scale. The arithmetic here stands in for the CUDA kernel; only what it saves matters."""
    class Kernel(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            s = x.shape[-1]
            causal = torch.triu(torch.ones(s, s, dtype=torch.bool), 1)
            out = torch.softmax((x.float() * scale).masked_fill(causal, -10000.0), -1).to(x.dtype)
            ctx.save_for_backward(out, torch.tensor([scale]))
            return out

        @staticmethod
        def backward(ctx, g):
            y, scale = (t.float() for t in ctx.saved_tensors)
            gf = g.float()
            return ((gf - (gf * y).sum(-1, keepdim=True)) * y * scale[0]).to(g.dtype), None
    return Kernel


def _measured_score_bytes(b, n, s, fallback, dropout):
    """Bytes autograd keeps of Megatron's CoreAttention between its QK^T and AV GEMMs (megatron/model/transformer.py
    ``CoreAttention.forward``: ``baddbmm`` scores, ``scale_mask_softmax``, ``attention_dropout``, ``bmm`` with V),
    over the storages that did not exist before (q, k, v and the caller's mask are other rows / shared), tensors of
    fewer than 64 bytes (the scale) left out. CUDA's dropout (``native_dropout``: a bool mask) is called directly:
    CPU's ``F.dropout`` keeps a 16-bit noise tensor instead."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    q, k, v = (torch.randn(s, b * n, 16, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    mask = torch.triu(torch.ones(1, 1, s, s, dtype=torch.bool), 1)  # the batch's attention_mask: one for all layers
    before = {t.untyped_storage().data_ptr() for t in (q, k, v, mask)}
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        scores = torch.baddbmm(torch.empty(b * n, s, s, dtype=torch.bfloat16), q.transpose(0, 1),
                               k.transpose(0, 1).transpose(1, 2), beta=0.0, alpha=0.25).view(b, n, s, s)
        if fallback:
            probs = _torch_softmax(torch, scores, mask, 2.0)
        else:
            probs = _kernel_softmax(torch).apply(scores.view(-1, s, s), 2.0).view(b, n, s, s)
        if dropout:
            probs = torch.native_dropout(probs, 0.1, True)[0]
        out = torch.bmm(probs.view(b * n, s, s), v.transpose(0, 1))
    out.float().sum().backward()
    return sum(nb for ptr, nb in saved.items() if ptr not in before and nb >= 64)


def _table_score_bytes(b, n, s, dropout, fb):
    """The table's core-attention rows (what recompute of the core attention frees: the rows not kept under
    selective) for the same shape, the softmax path per ``fb``."""
    m = ModelSpec(family="decoder", layers=1, hidden=16 * n, heads=n, vocab=64, ffn_hidden=64 * n, mlp="gelu",
                  norm="layernorm", position="learned", max_positions=s)
    kw = dict(flash=False, dropout=dropout, act_bytes=2, fp32_softmax=fb)
    return float(layer_activation_bytes(m, s, b, recompute=NONE, **kw)
                 - layer_activation_bytes(m, s, b, recompute=SELECTIVE, **kw))


@pytest.mark.parametrize("dropout", [True, False])
@pytest.mark.parametrize("n, expect_fallback", [(2, True), (8, False)])
def test_table_holds_what_each_softmax_path_saves(n, expect_fallback, dropout):
    """64 keys (at most 128: the kernel wants 8 attention batches a block): 2 heads x micro-batch 1 take the torch
    path, 8 the kernel. Measured: 7 / 6 bytes a score on the torch path (fp32 softmax + dropout mask + dropout output
    / + the 16-bit cast), 5 / 2 on the kernel's; the table at the rule's choice holds the same bytes."""
    b, s = 1, 64
    fb = core_attention_fallback(MDS, ModelSpec(family="decoder", layers=1, hidden=16 * n, heads=n, vocab=64,
                                                ffn_hidden=64 * n, position="learned", max_positions=s),
                                 s, b, 1, 1, 2.0)
    assert float(fb) == float(expect_fallback)
    measured = _measured_score_bytes(b, n, s, expect_fallback, dropout)
    per_score = {(True, True): 7, (True, False): 6, (False, True): 5, (False, False): 2}[(expect_fallback, dropout)]
    assert measured == per_score * b * n * s * s
    assert _table_score_bytes(b, n, s, dropout, fb) == measured


def _v():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import validate as V
    return V


def _vtrain_memory(mb, rc, stack, tp=8, seq=1024):
    """memory_per_gpu's activations on vTrain's 20 x 1024 model (16 heads) at TP ``tp``, on ``stack``."""
    from planner.spec import TrainingSpec
    V = _v()
    model = V.gpt_model(20, 1024, 16, 50257, seq)
    tr = TrainingSpec(seq_len=seq, global_batch=8, precision="fp16", weights="megatron", grad_dtype="same",
                      flash_attention=False, dropout=True, recompute="full" if rc == 2 else "none")
    c = Candidates(tp=np.array([tp]), pp=1, dp=1, cp=1, ep=1, vpp=1, zero=0, mb=mb, rc=rc, sp=False, schedule=0,
                   gpus_per_node=8, nodes=1)
    return float(memory_per_gpu(model, tr, c, stack=stack, gpu="A100-SXM-80GB")["activations"][0])


def test_vtrain_fallback_rows_hold_the_fp32_softmax():
    """16 heads at TP 8: micro-batch 1 (2 attention batches) runs the torch path and keeps 2 bytes a score more (7
    against 5 with dropout) in each of the 20 layers without recompute, in the one rebuilt layer under full
    recompute; micro-batch 2 (4 batches) runs the kernel: the same bytes as a stack without the kernel's limits."""
    scores = 2 * 1024 * 1024  # heads a rank x micro-batch 1 x s x s
    assert _vtrain_memory(1, 0, MDS) - _vtrain_memory(1, 0, NO_LIMIT) == 20 * scores * 2
    assert _vtrain_memory(1, 2, MDS) - _vtrain_memory(1, 2, NO_LIMIT) == scores * 2
    assert _vtrain_memory(2, 0, MDS) == _vtrain_memory(2, 0, NO_LIMIT)


def test_legacy_kernel_stops_at_2048_keys():
    """The legacy Megatron code bases' kernel takes at most 2048 keys (Megatron-Core's 4096): at 4096 keys and 16
    heads a rank (TP 1) their softmax runs the torch path and keeps the fp32 output -- until mem42 the memory read
    Megatron-Core's 4096 for every stack."""
    as_mcore = replace(MDS, fused_softmax_keys=stack_kernels.MCORE_FUSED_SOFTMAX_KEYS)
    scores = 16 * 4096 * 4096
    assert _vtrain_memory(1, 0, MDS, tp=1, seq=4096) - _vtrain_memory(1, 0, as_mcore, tp=1, seq=4096) == \
        20 * scores * 2


def test_time_and_memory_take_the_fallback_on_the_same_keys():
    """Over micro-batch x TP, the step time pays the torch path exactly where the memory keeps its fp32 softmax: one
    rule, not two."""
    V = _v()
    hw = V.hw_option(V.load_catalog(), "A100-SXM-80GB", 8, 800.0)
    import pandas as pd
    from planner.spec import TrainingSpec
    model = V.gpt_model(20, 1024, 16, 50257, 1024)
    tr = TrainingSpec(seq_len=1024, global_batch=8, precision="fp16", weights="megatron", grad_dtype="same",
                      flash_attention=False, dropout=True, recompute="none")
    seen = []
    for tp, mb in ((8, 1), (8, 2), (8, 3), (4, 1), (2, 1), (2, 2)):
        row = pd.DataFrame([dict(tp=tp, pp=1, dp=8 // tp, vpp=1, zero=0, mb=mb, rc=0, sp=False, schedule=0)])
        t_moves = (float(V.predict_group(model, tr, row, hw, framework=MDS)[0])
                   != float(V.predict_group(model, tr, row, hw, framework=NO_LIMIT)[0]))
        m_moves = _vtrain_memory(mb, 0, MDS, tp=tp) != _vtrain_memory(mb, 0, NO_LIMIT, tp=tp)
        seen.append((tp, mb, t_moves, m_moves))
    assert all(t == m for _, _, t, m in seen), seen
    # attention batches 2, 4, 6, 4, 8, 16: the multiples of 4 take the kernel
    assert [t for _, _, t, _ in seen] == [True, False, True, False, False, False]


def test_unread_stacks_keep_the_earlier_reading():
    """A stack whose explicit softmax is not read (MaxText: stack_kernels.EXPLICIT_SOFTMAX has no entry for it) keeps the fp32
    softmax past 4096 keys only, as every stack did before mem42 (stack_kernels.UNREAD_FP32_KEYS; torchtitan, llm-foundry,
    metaseq and the HF-code stacks read their own code since softmax43: tests/test_softmax43.py); Megatron's stacks
    follow the kernel's rule at any length."""
    from planner.model.activations import saved_softmax_fp32
    m = ModelSpec(family="decoder", layers=1, hidden=256, heads=16, vocab=64, ffn_hidden=1024, position="learned",
                  max_positions=8192)
    unread = stacks.resolve("maxtext")
    mb, tp = np.array([1, 1]), np.array([8, 4])  # 2 and 4 attention batches a rank
    assert saved_softmax_fp32(unread, m, 4096, mb, tp, 1, 2.0).tolist() == [0.0, 0.0]
    assert saved_softmax_fp32(unread, m, 8192, mb, tp, 1, 2.0).tolist() == [1.0, 1.0]
    assert saved_softmax_fp32(MDS, m, 1024, mb, tp, 1, 2.0).tolist() == [1.0, 0.0]
    assert saved_softmax_fp32(MDS, m, 1024, mb, tp, 1, 4.0).tolist() == [0.0, 0.0]  # fp32 scores: the table's own
