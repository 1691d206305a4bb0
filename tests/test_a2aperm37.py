"""Megatron-Core's all-to-all MoE token dispatcher, a2aperm37: the copies of the routed rows it makes and does not save
(the permuted rows beside the all-to-all output, the chunk sort beside that; the combine's mirror; the backward's
gradients of each) are a transient at the peak, ``activations.moe_a2a_transient``. megatron/core/transformer/moe/
token_dispatcher.py ``MoEAlltoAllTokenDispatcher`` (``dispatch_preprocess`` / ``token_dispatch`` /
``dispatch_postprocess`` / ``combine_preprocess`` / ``token_combine``) and moe_utils.py ``permute`` / ``unpermute`` /
``sort_chunks_by_idxs``, re-implemented on CPU torch (values aside: which tensors exist when) and measured with the
live-bytes counter of tests/test_cpmem37.py under real autograd (what each op saves and frees is torch's)."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from test_liger36 import _LiveBytes



def _a2a():
    """``all_to_all`` (megatron/core/tensor_parallel/mappings.py ``_AllToAll``): the output a new tensor
    (``torch.empty`` then ``all_to_all_single``), the backward an all-to-all of the gradient into another; at equal
    splits the sizes of one rank's rows, which is all that is measured."""
    import torch

    class A2A(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.empty_like(x).copy_(x)

        @staticmethod
        def backward(ctx, g):
            return torch.empty_like(g).copy_(g)
    return A2A.apply


def _sort_chunks(x, n):
    """moe_utils.py ``sort_chunks_by_idxs``: ``torch.cat`` of the ``torch.split`` chunks in the new order."""
    import torch
    chunks = torch.split(x, x.shape[0] // n)
    return torch.cat([chunks[i] for i in reversed(range(n))], 0)


def _moe_layer(x, idx, probs, w, n, probs_in_experts):
    """One MoE layer's routed path on a rank: ``permute`` (``index_select`` by the sorted token ids), the dispatch
    all-to-all, the chunk sort, one grouped expert GEMM (its input saved: ``moe.dispatched_input``), the routing
    weights applied in the experts (Megatron-Core's ``moe_probs_in_experts``) or by ``unpermute`` (its input kept:
    ``moe.expert_out``), the sort back, the combine all-to-all, ``unpermute``'s ``scatter_add_`` into T x h."""
    import torch
    a2a = _a2a()
    T, h = x.shape
    permuted = x.index_select(0, idx)
    pprobs = probs.index_select(0, idx).unsqueeze(-1).to(x.dtype)
    got = a2a(permuted)
    del permuted
    dispatched = _sort_chunks(got, n)
    del got
    out = dispatched @ w  # (the weighting inside the experts is the saved-tensor table's: left out here)
    back = _sort_chunks(out, n)
    del out
    combined = a2a(back)
    del back
    if not probs_in_experts:
        combined = combined * pprobs
    y = torch.zeros((T, h), dtype=x.dtype)
    y.scatter_add_(0, idx.unsqueeze(1).expand(-1, h), combined)
    return y


def _measure(probs_in_experts, T=1024, h=128, k=4, n=4):
    """(forward peak, backward peak) beyond what the layer holds at its forward's end (its saves and its output), in
    units of one copy of the routed rows (k T h x 2 bytes)."""
    import torch
    torch.manual_seed(0)
    x = torch.randn(T, h, dtype=torch.bfloat16, requires_grad=True)
    idx = torch.arange(T).repeat_interleave(k)
    probs = torch.rand(T * k, requires_grad=True)
    w = torch.randn(h, h, dtype=torch.bfloat16, requires_grad=True)
    dy = torch.randn(T, h, dtype=torch.bfloat16)
    live = _LiveBytes()
    with live.mode():
        y = _moe_layer(x, idx, probs, w, n, probs_in_experts)
        end, fwd = live.live, live.peak
        live.peak = live.live
        y.backward(dy)
        bwd = live.peak
    copy = k * T * h * 2
    return (fwd - end) / copy, (bwd - end) / copy


def test_dispatcher_copies_measured():
    """Forward: with the weights in the experts (every Megatron-Core stack: ``moe_probs_in_experts``) two copies at
    the combine's sort (the expert output and its sorted copy; nothing keeps either) less the layer's T x h output
    (a k-th of a copy) made after; with them in an unfused ``unpermute`` one (its product beside the saved input).
    Backward: two copies with the weights in the experts (each op's input gradient made while its output gradient
    lives: the larger peak, what ``moe_a2a_transient`` prices); three in the unfused ``unpermute`` (the multiply's
    backward makes the input gradient and a full-width product for the probabilities' gradient beside the output
    gradient), which no stack here runs. The weight gradient (h x h) and the per-token probabilities (k fp32 and 16-bit a token, against k h
    16-bit) are the small rest."""
    from planner.model.activations import moe_a2a_transient
    from planner.spec import ModelSpec
    from planner.spec.schema import MoESpec

    k = 4
    fwd, bwd = _measure(False)  # the weights in an unfused unpermute
    assert fwd == pytest.approx(1, abs=0.08) and bwd == pytest.approx(3, abs=0.08)
    fwd, bwd = _measure(True)  # in the experts
    assert fwd == pytest.approx(2 - 1 / k, abs=0.08) and bwd == pytest.approx(2, abs=0.08)
    # the planner's price: the larger peak, in bytes (T 1,024 tokens, h 128, k 4, EP 2)
    m = ModelSpec(name="tiny", layers=2, hidden=128, heads=4, kv_heads=2, ffn_hidden=128, vocab=128,
                  moe=MoESpec(experts=8, top_k=4))
    assert moe_a2a_transient(m, 1024, 1, 1, 1, 2, 2) == pytest.approx(max(fwd, bwd) * k * 1024 * 128 * 2, rel=0.04)


def test_transient_is_two_copies_of_the_routed_rows():
    """``moe_a2a_transient``: 2 x k T h x act bytes on the rank (T = mb x seq / (cp x tp)), 0 at EP 1 or on a dense
    model; Mixtral-8x7B (k 2, h 4,096) at 4,096 tokens, TP 1, EP 8: 128 MiB; TP 4 + CP 2: a eighth."""
    from planner.model.activations import moe_a2a_transient
    from planner.spec import load_job_dict

    m = load_job_dict(yaml.safe_load("model: {preset: mixtral-8x7b}\ntraining: {seq_len: 4096, global_batch: 8}"))
    m = m.model
    got = moe_a2a_transient(m, 4096, 1, np.array([1, 4, 1]), np.array([1, 2, 1]), np.array([8, 8, 1]), 2)
    assert list(got) == [2 * 2 * 4096 * 4096 * 2, 2 * 2 * 4096 * 4096 * 2 / 8, 0.0]


def _job(dispatcher, recompute="none", ep=8):
    from planner.spec import load_job_dict
    return load_job_dict(yaml.safe_load(
        "model: {preset: mixtral-8x7b}\n"
        "training: {seq_len: 4096, global_batch: 1024, micro_batch: 1, precision: bf16, tokens: 1e12,"
        f" recompute: {recompute}, framework: {{name: megatron-core, moe_dispatcher: {dispatcher}}}}}\n"
        f"parallel: {{tp: 1, pp: 2, ep: {ep}, etp: 1, zero: 1}}\n"
        "cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 4}\n"))


def test_plan_holds_the_transient_once_under_the_a2a_dispatcher():
    """Mixtral-8x7B, TP 1 PP 2 EP 8, no recompute (nothing else rebuilt): the all-to-all dispatcher's plan holds 128
    MiB more activations than DeepEP's (whose permute reads its own buffers, counted as ``comm_buffers``), once (not
    per layer or micro-batch in flight); the step time is the dispatcher's own either way. Before a2aperm37 both
    read the same activations."""
    from planner.workloads.training import estimate_job

    a2a, deepep = estimate_job(_job("alltoall")), estimate_job(_job("deepep"))
    ma, md = a2a.memory_per_gpu_bytes, deepep.memory_per_gpu_bytes
    assert ma["most_loaded_stage"] == md["most_loaded_stage"]
    assert ma["activations"] - md["activations"] == pytest.approx(2 * 2 * 4096 * 4096 * 2, rel=1e-9)


def test_full_recompute_adds_it_beside_the_rebuilt_layer():
    """Under full recompute the rebuilt MoE layer's saves and the dispatcher's copies are alive together in its
    backward: the working set is the rebuild plus the transient, not the larger of the two."""
    from planner.model.activations import moe_a2a_transient, recompute_working_set, stack_table_kw
    from planner.model.stacks import STACKS

    m = _job("alltoall").model
    kw = stack_table_kw(STACKS["megatron-core"], "bf16")
    assert kw["moe_a2a"] is True
    with_ = recompute_working_set(m, 4096, 1, tp=1, ep=8, moe=True, recompute=2, **kw)
    kw["moe_a2a"] = False
    without = recompute_working_set(m, 4096, 1, tp=1, ep=8, moe=True, recompute=2, **kw)
    assert with_ - without == pytest.approx(float(moe_a2a_transient(m, 4096, 1, 1, 1, 8, 2)))
    assert without > 0
