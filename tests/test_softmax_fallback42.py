"""Megatron's ``FusedScaleMaskSoftmax`` runs its torch fallback where its CUDA kernel's constraints fail
(``stack_kernels.softmax_fallback``, ``Stack.fused_softmax_keys``): microsoft/Megatron-DeepSpeed megatron/model/
fused_softmax.py @0782d753 ``custom_kernel_constraint = 16 < sk <= 2048 and sq % 4 == 0 and attn_batch_size % 4 == 0``
(the causal kernel itself asserts ``attn_batches % batches_per_block == 0``, NVIDIA/Megatron-LM megatron/fused_kernels/
scaled_upper_triang_masked_softmax.h). vTrain's single-node rows with 16 heads at TP 8 and micro-batch 1 (2 attention
batches a rank) are exactly its 32 fallback rows."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.model import stacks
from planner.model.stack_kernels import softmax_fallback
from planner.model.layer_ops import SOFTMAX_FALLBACK_BYTES, SOFTMAX_FALLBACK_OPS


def _v():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import validate as V
    return V


def test_kernel_constraints_as_the_source_writes_them():
    mds = stacks.resolve("megatron-deepspeed")
    # micro-batch x heads a rank: 2 and 6 are not multiples of 4 -> fallback; 4, 8, 12 run the kernel
    got = softmax_fallback(mds, np.array([2.0, 4.0, 6.0, 8.0, 12.0]), 1024.0, 1024.0, 2.0)
    assert got.tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    # keys: the legacy kernel stops at 2048, Megatron-Core's at 4096
    assert softmax_fallback(mds, np.array([8.0]), 4096.0, 4096.0, 2.0).tolist() == [1.0]
    mc = stacks.resolve("megatron-core")
    assert softmax_fallback(mc, np.array([8.0]), 4096.0, 4096.0, 2.0).tolist() == [0.0]
    # up to 128 keys the kernel takes two rows a warp: 8 rows a block
    assert softmax_fallback(mds, np.array([4.0, 8.0]), 128.0, 128.0, 2.0).tolist() == [1.0, 0.0]
    # fp32 scores never take the kernel (nothing priced beyond the default), nor a stack without it
    assert softmax_fallback(mds, np.array([2.0]), 1024.0, 1024.0, 4.0).tolist() == [0.0]
    assert softmax_fallback(stacks.resolve("hf-trainer"), np.array([2.0]), 1024.0, 1024.0, 2.0).tolist() == [0.0]


def _vtrain_case(V, mb):
    from planner.spec import TrainingSpec
    model = V.gpt_model(20, 1024, 16, 50257, 1024)
    tr = TrainingSpec(seq_len=1024, global_batch=8, precision="fp16", weights="megatron", grad_dtype="same",
                      flash_attention=False, dropout=True, recompute="full")
    row = pd.DataFrame([dict(tp=8, pp=1, dp=1, vpp=1, zero=0, mb=mb, rc=2, sp=False, schedule=0)])
    return model, tr, row


def test_vtrain_fallback_row_pays_the_torch_path():
    """16 heads at TP 8: micro-batch 1 (2 attention batches) pays the fallback's extra passes and ops, micro-batch 2
    (4) does not: its time is the same with and without the kernel's limits."""
    V = _v()
    hw = V.hw_option(V.load_catalog(), "A100-SXM-80GB", 8, 800.0)
    mds = stacks.resolve("megatron-deepspeed")
    no_limit = replace(mds, fused_softmax_keys=0)
    for mb, moves in ((1, True), (2, False)):
        model, tr, row = _vtrain_case(V, mb)
        with_fb = float(V.predict_group(model, tr, row, hw, framework=mds)[0])
        without = float(V.predict_group(model, tr, row, hw, framework=no_limit)[0])
        if moves:
            # at least the extra host ops of forward, recompute and backward on each of 8 micro-batches x 20 layers
            floor = 8 * 20 * SOFTMAX_FALLBACK_OPS * 4 * hw.eff.launch_s * 0.99
            assert with_fb - without >= floor, (with_fb, without)
        else:
            assert with_fb == without


def _fallback_moved_per_score():
    """((forward bytes, ops), (backward bytes, ops)) a score of 16-bit scores that Megatron's torch fallback moves,
    counted on a CPU replica with a TorchDispatchMode (every op touching a score-sized tensor, its reads and writes):
    microsoft/Megatron-DeepSpeed megatron/model/fused_softmax.py @0782d753 ``FusedScaleMaskSoftmax.forward`` where the
    kernel is not available: ``input.float()``, ``input * self.scale``, ``mask_func`` (megatron/model/utils.py
    ``attention_mask_func``: ``masked_fill_(attention_mask, -10000.0)``), ``torch.nn.Softmax(dim=-1)``,
    ``probs.half()``."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    b, h, s = 2, 4, 32
    scores = b * h * s * s
    aten = torch.ops.aten
    views = {aten.view.default, aten.detach.default, aten.alias.default, aten._unsafe_view.default}
    moved = {"fwd": [0.0, 0], "bwd": [0.0, 0]}
    phase = ["fwd"]

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            ts = [x for x in tree_leaves((args, kwargs or {})) + tree_leaves(out) if isinstance(x, torch.Tensor)]
            nbytes = sum(x.numel() * x.element_size() for x in ts if x.numel() == scores)
            if func not in views and nbytes:
                moved[phase[0]][0] += nbytes / scores
                moved[phase[0]][1] += 1
            return out
    x = torch.randn(b, h, s, s, dtype=torch.float16, requires_grad=True)
    mask = torch.ones(s, s, dtype=torch.bool).triu(1).expand(b, 1, s, s).contiguous()  # [b, 1, sq, sk]: no score size
    grad = torch.randn(b, h, s, s, dtype=torch.float16)
    with Ops():
        probs = torch.nn.Softmax(dim=-1)((x.float() * 0.125).masked_fill_(mask, -10000.0)).half()
        phase[0] = "bwd"
        probs.backward(grad)
    return tuple(moved["fwd"]), tuple(moved["bwd"])


def test_fallback_bytes_are_the_torch_ops():
    """The step time's fallback terms are what the torch path moves beyond the fused kernel's one pass each way
    (4 B forward, 6 backward, within step_time ``SCORE_BYTES_*``): 36 bytes a score forward (float 2+4,
    scale 4+4, masked_fill_ 4+4, softmax 4+4, half 4+2) and 40 backward, five kernels each way against one."""
    (fwd, fwd_ops), (bwd, bwd_ops) = _fallback_moved_per_score()
    # the fused kernel's pass: forward reads the 16-bit score and writes its probability, backward reads the
    # gradient and the probability and writes the gradient (scaled_upper_triang_masked_softmax.h)
    fused_f, fused_b = 2 + 2, 2 + 2 + 2
    assert (fwd - fused_f, bwd - fused_b) == SOFTMAX_FALLBACK_BYTES
    assert fwd_ops - 1 == SOFTMAX_FALLBACK_OPS and bwd_ops - 1 == SOFTMAX_FALLBACK_OPS
