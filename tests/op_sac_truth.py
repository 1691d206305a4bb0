"""torchtitan's per-op selective activation checkpointing (op SAC) run for real on a tiny torchtitan-style Llama (and
MoE) block stack in plain torch, and the bytes its forward leaves alive for the backward: the ground truth of
``planner.model.activations.op_sac_saved_tensors`` (tests/test_op_sac_activations.py; ``python tests/op_sac_truth.py``
prints the error table the README quotes).

The blocks are laid out as torchtitan's (models/llama3/model.py, models/moe/moe.py): RMSNorm, q/k/v as three
``nn.Linear`` (``wq``, ``wk``, ``wv``) or one (0.3's fused QKV), RoPE, ``F.scaled_dot_product_attention`` (the flash
kernel), ``wo``; ``w2(F.silu(w1(x)) * w3(x))``; the MoE block a ``router.gate`` linear, softmax top-k, the routed
experts as ``torch._grouped_mm`` over the tokens sorted by expert, and shared experts (a FeedForward). Each block is
wrapped as torchtitan 0.3's ``_apply_op_sac`` wraps it: ``checkpoint(..., use_reentrant=False, context_fn=...)`` with
``create_selective_checkpoint_contexts`` and its policy -- MUST_SAVE the outputs of the ops of the save list
(``aten.mm``, the SDPA kernels, the CPU flash kernel included), except every second ``aten.mm`` (a count restarting
per block), and PREFER_RECOMPUTE the rest; an mm whose weight has the router gate's shape is recomputed outside the
count (``per_op_sac_force_recompute_mm_shapes_by_fqns = ["moe.router.gate"]``).

Measure: every storage an op creates during the forward is recorded by a ``TorchDispatchMode`` outside the checkpoints
(``StorageWeakRef``, so recording keeps nothing alive); after the forward, with only the output held, the storages
still alive are what the forward keeps for the backward (the SAC cache, the checkpoints' inputs, anything autograd
saves), counted once each. The per-layer bytes are the difference of a 3- and a 1-block stack, halved. The same
measure with no checkpointing equals ``saved_tensors_hooks``' count (one per storage), which checks the method; on
one rank it also equals the SAC caches plus the checkpoints' inputs (``measure="cache"``), the measure of the
tensor-parallel check (``tp_per_layer_bytes``: two gloo ranks under torchtitan's DTensor TP plan) and of the
expert-parallel one (``ep_per_layer_bytes``: two gloo ranks, the MoE block's routed experts behind torchtitan's
``ExpertParallel`` dispatch and combine, real ``all_to_all_single`` exchanges) and of the two combined
(``eptp_per_layer_bytes``: four gloo ranks as data parallel 2 x TP 2, torchtitan's MoE TP plan with the routed tokens
split over the TP ranks before ``ExpertParallel``). ``flash=False`` runs SDPA on torch's math path instead of the
flash kernel (``sdpa_backend``). Without checkpointing, ``tp_saved_input_bytes`` records what autograd saves of the
column-parallel linears' inputs under the TP plan (``saved_tensors_hooks``; tests/test_fp8mem54.py: the gathered
sequence, not the SP shard).
"""
from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, create_selective_checkpoint_contexts

aten = torch.ops.aten

#: torchtitan's ``_op_sac_save_list`` (llama3 parallelize.py; flex attention and compiled code left out), with the
#: ``all_to_all_single`` its MoE models' lists add (llama4, deepseek_v3, gpt_oss parallelize.py: the functional
#: collective, not its ``wait_tensor``, which is not listed), plus the CPU flash kernel that stands for the CUDA
#: flash kernel here
SAVE_LIST = {aten.mm.default, aten._scaled_dot_product_efficient_attention.default,
             aten._scaled_dot_product_flash_attention.default, aten._scaled_dot_product_cudnn_attention.default,
             aten._scaled_dot_product_attention_math.default, torch.ops._c10d_functional.reduce_scatter_tensor.default,
             torch.ops._c10d_functional.all_to_all_single.default,
             aten.max.default, aten._scaled_dot_product_flash_attention_for_cpu.default}


class RMSNorm(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(h))

    def forward(self, x):
        return F.rms_norm(x, x.shape[-1:], self.weight, 1e-5)


class FeedForward(nn.Module):
    def __init__(self, h, f):
        super().__init__()
        self.w1, self.w3 = nn.Linear(h, f, bias=False), nn.Linear(h, f, bias=False)
        self.w2 = nn.Linear(f, h, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


def rope(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, h, heads, kv_heads, fused):
        super().__init__()
        self.a, self.g, self.d, self.fused = heads, kv_heads, h // heads, fused
        q, kv = heads * self.d, kv_heads * self.d
        if fused:
            self.wqkv = nn.Linear(h, q + 2 * kv, bias=False)
        else:
            self.wq, self.wk, self.wv = (nn.Linear(h, n, bias=False) for n in (q, kv, kv))
        self.wo = nn.Linear(q, h, bias=False)

    def forward(self, x, cos, sin):
        b, s, _ = x.shape
        if self.fused:
            q, k, v = self.wqkv(x).split([self.a * self.d, self.g * self.d, self.g * self.d], dim=-1)
        else:
            q, k, v = self.wq(x), self.wk(x), self.wv(x)
        q = rope(q.view(b, s, self.a, self.d).transpose(1, 2), cos, sin)
        k = rope(k.view(b, s, self.g, self.d).transpose(1, 2), cos, sin)
        v = v.view(b, s, self.g, self.d).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.g != self.a)
        return self.wo(y.transpose(1, 2).reshape(b, s, -1))


class MoE(nn.Module):
    """torchtitan's MoE: the router's gate, top-k of the softmax scores, the tokens sorted by expert and run through the
    routed experts as ``torch._grouped_mm`` (GroupedExperts), scaled by their scores and scattered back, plus the
    shared experts. ``ep``: a process group of expert parallelism; the rank holds its ``experts / ep`` experts and the
    routed experts run between ``ep_dispatch`` and ``ep_combine`` (torchtitan's ``ExpertParallel`` input and output
    functions around ``GroupedExperts``). ``tp``: the tensor-parallel group whose ranks split the routed tokens
    (torchtitan's ``ReordererSequenceParallel`` on ``moe.reorderer`` with EP at expert-TP 1: each TP rank routes its
    1/tp of the block's tokens, read from the all-gathered input at their global rows, and scatters its experts'
    outputs into a zero tensor of every token: a partial sum the MoE's output layout reduce-scatters)."""

    def __init__(self, h, f, experts, top_k, shared, ep=None, tp=None):
        super().__init__()
        self.k, self.experts, self.ep, self.tp = top_k, experts, ep, tp
        self.router = nn.Module()
        self.router.gate = nn.Linear(h, experts, bias=False)
        w1, w3 = (torch.randn(experts, h, f) / math.sqrt(h) for _ in range(2))
        w2 = torch.randn(experts, f, h) / math.sqrt(f)
        if ep is not None:  # the rank's experts (ExpertParallel._partition_fn: Shard(0)), the same draw on every rank
            import torch.distributed as dist

            n, r = experts // dist.get_world_size(ep), dist.get_rank(ep)
            w1, w3, w2 = (w[r * n:(r + 1) * n] for w in (w1, w3, w2))
        self.w1, self.w3, self.w2 = (nn.Parameter(w.contiguous()) for w in (w1, w3, w2))
        self.shared_experts = FeedForward(h, f * shared) if shared else None

    def forward(self, x):
        shape, x = x.shape, x.reshape(-1, x.shape[-1])
        scores = self.router.gate(x).float().softmax(dim=-1)
        top, idx = scores.topk(self.k, dim=-1)
        base = 0
        if self.tp is not None:  # ReordererSequenceParallel._prepare_inputput_fn: the TP rank's rows of the routing
            import torch.distributed as dist

            n = top.shape[0] // dist.get_world_size(self.tp)
            base = n * dist.get_rank(self.tp)
            top, idx = top[base:base + n], idx[base:base + n]
        order = idx.flatten().argsort(stable=True)
        counts = idx.flatten().bincount(minlength=self.experts)
        rows = order // self.k + base  # _prepare_output_fn: global token indices
        xs = x[rows]
        if self.ep is not None:
            xs, counts = ep_dispatch(self, xs, counts)
        offs = counts.cumsum(0).to(torch.int32)
        hs = F.silu(torch._grouped_mm(xs, self.w1, offs=offs)) * torch._grouped_mm(xs, self.w3, offs=offs)
        ys = torch._grouped_mm(hs, self.w2, offs=offs)
        if self.ep is not None:
            ys = ep_combine(self, ys)
        ys = ys * top.flatten()[order].unsqueeze(-1).to(x.dtype)
        out = torch.zeros_like(x).index_add(0, rows, ys)
        if self.shared_experts is not None:
            out = out + self.shared_experts(x)
        return out.view(shape)


def ep_dispatch(moe: MoE, xs, counts):
    """torchtitan's ``ExpertParallel._token_dispatch`` (distributed/expert_parallel.py): the tokens-per-expert counts
    exchanged by a functional ``all_to_all_single`` and waited (no grad), the split sizes read from them, the sorted
    tokens sent to their experts' ranks by ``all_to_all_single_autograd``, then reordered from (source rank, expert)
    to expert-major order for the grouped mm (moe/utils.py ``_permute``, ``generate_permute_indices`` without
    padding). Keeps what torchtitan keeps on the module for the combine (splits, input shape, permutation)."""
    from torch.distributed._functional_collectives import all_to_all_single, all_to_all_single_autograd

    ep = moe.ep.size()
    with torch.no_grad():
        got = torch.ops._c10d_functional.wait_tensor(all_to_all_single(counts, None, None, group=moe.ep))
        moe.input_splits = counts.view(ep, -1).sum(dim=1).tolist()
        moe.output_splits = got.view(ep, -1).sum(dim=1).tolist()
    recv = all_to_all_single_autograd(xs, moe.output_splits, moe.input_splits, moe.ep)
    with torch.no_grad():
        by_rank = got.view(ep, -1)  # [source rank, local expert] -> tokens
        start = (got.cumsum(0) - got).view(ep, -1)
        moe.permuted = torch.cat([torch.arange(int(start[r, e]), int(start[r, e] + by_rank[r, e]))
                                  for e in range(by_rank.shape[1]) for r in range(ep)]).to(torch.int32)
        local = by_rank.sum(dim=0)
    moe.input_shape = recv.shape
    return torch.index_select(recv, 0, moe.permuted), local


def ep_combine(moe: MoE, ys):
    """torchtitan's ``ExpertParallel._token_combine``: the expert outputs put back in (source rank, expert) order
    (``_unpermute``: ``new_empty`` + ``index_copy_``) and returned to the tokens' ranks by
    ``all_to_all_single_autograd`` with the dispatch's splits swapped."""
    from torch.distributed._functional_collectives import all_to_all_single_autograd

    back = ys.new_empty(moe.input_shape)
    back.index_copy_(0, moe.permuted.long(), ys)
    return all_to_all_single_autograd(back, moe.input_splits, moe.output_splits, moe.ep)


class Block(nn.Module):
    def __init__(self, h, heads, kv_heads, f, fused, moe=None, ep=None, tp=None):
        super().__init__()
        self.attention_norm, self.ffn_norm = RMSNorm(h), RMSNorm(h)
        self.attention = Attention(h, heads, kv_heads, fused)
        self.moe = MoE(h, f, **moe, ep=ep, tp=tp) if moe else None
        self.feed_forward = None if moe else FeedForward(h, f)

    def forward(self, x, cos, sin):
        h = x + self.attention(self.attention_norm(x), cos, sin)
        return h + (self.moe or self.feed_forward)(self.ffn_norm(h))


def op_sac_context(block: Block):
    """torchtitan 0.3 ``_apply_op_sac``'s context for one block: a fresh mm count per checkpointed call, the router
    gate's mm shape force-recomputed outside the count."""
    forced = {tuple(block.moe.router.gate.weight.t().shape)} if block.moe is not None else set()
    meta = {"forward_mm_count": 0, "recompute_mm_count": 0}

    def policy(ctx, func, *args, **kwargs):
        key = f"{'recompute' if ctx.is_recompute else 'forward'}_mm_count"
        if func == aten.mm.default:
            if tuple(args[1].shape) in forced:
                return CheckpointPolicy.PREFER_RECOMPUTE
            meta[key] += 1
        save = func in SAVE_LIST and not (func == aten.mm.default and meta[key] % 2 == 0)
        return CheckpointPolicy.MUST_SAVE if save else CheckpointPolicy.PREFER_RECOMPUTE

    return create_selective_checkpoint_contexts(policy)


class _Alive(TorchDispatchMode):
    """Weak references to every storage an op outputs (one per storage)."""

    def __init__(self):
        super().__init__()
        self.refs: dict[int, tuple[StorageWeakRef, int]] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            t = getattr(t, "_local_tensor", t)  # a DTensor's local shard (the wrapper has no storage)
            if isinstance(t, torch.Tensor):
                st = t.untyped_storage()
                self.refs.setdefault(st._cdata, (StorageWeakRef(st), st.nbytes()))
        return out

    def alive_bytes(self, skip=()):
        skip = {t.untyped_storage()._cdata for t in skip}
        return sum(n for k, (r, n) in self.refs.items() if k not in skip and not r.expired())


def _cached_bytes(caches, inputs) -> int:
    """Bytes of what the SAC caches hold (``create_selective_checkpoint_contexts``' storage: the MUST_SAVE outputs; a
    DTensor's local shard) and of the checkpoints' inputs, one count per storage."""
    seen = {}
    for st in caches:
        for per_op in st.values():
            for v in per_op.values():
                for o in (v if isinstance(v, (tuple, list)) else (v,)):
                    t = getattr(o, "val", o)  # _VersionWrapper
                    if isinstance(t, torch.Tensor):
                        t = t.to_local() if hasattr(t, "to_local") else t
                        seen[t.untyped_storage()._cdata] = t.untyped_storage().nbytes()
    for t in inputs:
        seen[t.untyped_storage()._cdata] = t.untyped_storage().nbytes()
    return sum(seen.values())


def _tables(seq, d, dtype):
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
    fr = torch.outer(torch.arange(seq).float(), inv)
    fr = torch.cat((fr, fr), dim=-1)
    return fr.cos().to(dtype), fr.sin().to(dtype)


def sdpa_backend(flash: bool):
    """The SDPA kernel the blocks run: the CPU flash kernel (``flash``; it stands for the CUDA flash kernel) or
    torch's math path (``_scaled_dot_product_attention_math``, a composite of bmm and softmax)."""
    from contextlib import nullcontext

    from torch.nn.attention import SDPBackend, sdpa_kernel

    return nullcontext() if flash else sdpa_kernel(SDPBackend.MATH)


def kept_bytes(layers, h, heads, kv_heads, f, seq, batch, fused, moe=None, mode="op", dtype=torch.bfloat16,
               measure="alive", flash=True):
    """Bytes a ``layers``-block stack's forward leaves alive for the backward (``mode`` "op": torchtitan's op SAC,
    "none": no checkpointing), its output excluded. ``measure`` "cache": the SAC caches and checkpoint inputs
    instead (``_cached_bytes``: what the tensor-parallel check counts, where DTensor's wrappers hide the local
    outputs from a dispatch mode). ``flash``: ``sdpa_backend``."""
    torch.manual_seed(0)
    blocks = nn.ModuleList(Block(h, heads, kv_heads, f, fused, moe) for _ in range(layers)).to(dtype)
    cos, sin = _tables(seq, h // heads, dtype)
    x0 = torch.randn(batch, seq, h, dtype=dtype, requires_grad=True)
    with sdpa_backend(flash):
        x, caches, inputs, rec = _run(blocks, x0, cos, sin, mode)
    # (the backward under this policy runs in tests/test_op_sac_activations.py's FLOP count)
    if measure == "cache":
        return _cached_bytes(caches, inputs)
    return rec.alive_bytes(skip=[x, x0, cos, sin, *blocks.parameters()])


def _run(blocks, x0, cos, sin, mode):
    """The stack's forward, each block checkpointed as torchtitan's op SAC with ``mode`` "op", under a mode recording
    every output storage (``_Alive``): (output, the SAC caches, the checkpoints' tensor inputs, the recorder)."""
    caches, inputs, rec = [], [], _Alive()

    def context(blk):
        ctx = op_sac_context(blk)
        caches.append(ctx[0].storage)
        return ctx
    with rec:
        x = x0
        for blk in blocks:
            if mode == "op":
                inputs.append(x)
                x = checkpoint(blk, x, cos, sin, use_reentrant=False, context_fn=partial(context, blk))
            else:
                x = blk(x, cos, sin)
    return x, caches, inputs, rec


def per_layer_bytes(**kw) -> float:
    return (kept_bytes(3, **kw) - kept_bytes(1, **kw)) / 2


def tp_plan(kw, sp: bool, moe: bool = False) -> dict:
    """torchtitan's TP plan of one block (llama3 parallelize.py ``apply_tp``; llama4 parallelize.py
    ``apply_non_moe_tp`` and ``apply_moe_ep_tp`` for an MoE block): q/k/v (or the fused wqkv), w1, w3 column-parallel,
    wo and w2 row-parallel; with sequence parallelism the norms sequence-parallel, the blocks' inputs and outputs
    sequence shards, the row-parallel outputs reduce-scattered. An MoE block (its experts at expert-TP 1, behind
    ``ExpertParallel``): the MoE's input all-gathered and its output, a partial sum, reduce-scattered
    (``PrepareModuleInputOutput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),),
    output_layouts=(Partial(),), desired_output_layouts=(Shard(1),))``; the input handed on as a local tensor), the
    router gate replicated (``NoParallel``: a plain linear on the local gathered input here), the shared experts'
    w1, w3 column-parallel and w2 row-parallel with a ``Partial`` output
    (reduced once, at the MoE's output); the token split over the TP ranks is ``MoE(tp=...)``."""
    from torch.distributed.tensor import Partial, Replicate, Shard
    from torch.distributed.tensor.parallel import (ColwiseParallel, PrepareModuleInput, PrepareModuleInputOutput,
                                                   RowwiseParallel, SequenceParallel)

    col = ["attention.wqkv"] if kw["fused"] else ["attention.wq", "attention.wk", "attention.wv"]
    plan = {**{n: ColwiseParallel() for n in col},
            "attention.wo": RowwiseParallel(output_layouts=Shard(1) if sp else Replicate())}
    if moe:
        plan["moe"] = PrepareModuleInputOutput(input_layouts=(Shard(1) if sp else Replicate(),),
                                               desired_input_layouts=(Replicate(),), use_local_input=True,
                                               output_layouts=(Partial(),),
                                               desired_output_layouts=(Shard(1) if sp else Replicate(),))
        if kw["moe"]["shared"]:
            plan.update({"moe.shared_experts.w1": ColwiseParallel(), "moe.shared_experts.w3": ColwiseParallel(),
                         "moe.shared_experts.w2": RowwiseParallel(output_layouts=Partial())})
    else:
        plan.update({"feed_forward.w1": ColwiseParallel(), "feed_forward.w3": ColwiseParallel(),
                     "feed_forward.w2": RowwiseParallel(output_layouts=Shard(1) if sp else Replicate())})
    if sp:
        plan.update({"attention_norm": SequenceParallel(), "ffn_norm": SequenceParallel(),
                     "attention": PrepareModuleInput(input_layouts=(Shard(1), None, None),
                                                     desired_input_layouts=(Replicate(), None, None))})
        if not moe:
            plan["feed_forward"] = PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),))
    return plan


def _tp_blocks(rank, world, port, sp, kw, layers):
    """``layers`` blocks under torchtitan's Llama TP plan (``tp_plan``) on ``world`` gloo ranks (the process group
    joined on the first call): (blocks, the rank's bf16 input -- its sequence shard under SP --, cos, sin)."""
    import os

    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import parallelize_module

    if not dist.is_initialized():
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    mesh, plan = init_device_mesh("cpu", (world,)), tp_plan(kw, sp)
    torch.manual_seed(0)
    blocks = nn.ModuleList(Block(kw["h"], kw["heads"], kw["kv_heads"], kw["f"], kw["fused"]) for _ in range(layers))
    for blk in blocks:
        blk.attention.a //= world  # the rank's heads (torchtitan views with -1 heads)
        blk.attention.g //= world
        parallelize_module(blk, mesh, plan)
    blocks = blocks.to(torch.bfloat16)
    cos, sin = _tables(kw["seq"], kw["h"] // kw["heads"], torch.bfloat16)
    x0 = torch.randn(kw["batch"], kw["seq"] // (world if sp else 1), kw["h"], dtype=torch.bfloat16,
                     requires_grad=True)
    return blocks, x0, cos, sin


def _tp_rank(rank, world, port, sp, kw, out):
    """One gloo rank of the tensor-parallel check: torchtitan's Llama TP plan (``_tp_blocks``), then op SAC per
    block; rank 0 puts the per-layer bytes it keeps (SAC caches and block inputs)."""
    import torch.distributed as dist

    kept = {}
    for layers in (1, 3):
        blocks, x0, cos, sin = _tp_blocks(rank, world, port, sp, kw, layers)
        x, caches, inputs, _ = _run(blocks, x0, cos, sin, "op")
        kept[layers] = _cached_bytes(caches, inputs)
        x.float().sum().backward()  # the policy's backward runs under TP too
    out.put((rank, (kept[3] - kept[1]) / 2))
    dist.destroy_process_group()


def _spawn(fn, world, *args) -> list:
    """Run ``fn(rank, world, port, *args, queue)`` on ``world`` spawned gloo ranks; what the ranks put, by rank."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(fn, args=(world, port, *args, out), nprocs=world, start_method="spawn")
    return [v for _, v in sorted(out.get() for _ in range(world))]


def tp_per_layer_bytes(world, sp, **kw) -> float:
    """Per-layer bytes rank 0 keeps under torchtitan's op SAC at tensor parallelism ``world`` (gloo ranks on CPU)."""
    return _spawn(_tp_rank, world, sp, kw)[0]


#: the column-parallel linears whose saved input ``tp_saved_input_bytes`` reports (an unfused block's)
COLWISE_LINEARS = ("attention.wq", "attention.wk", "attention.wv", "feed_forward.w1", "feed_forward.w3")


def _tp_saved_rank(rank, world, port, sp, kw, out):
    """One gloo rank of the saved-input check (fp8mem54): one block under torchtitan's Llama TP plan (``_tp_blocks``),
    no checkpointing, its forward under ``saved_tensors_hooks`` recording every storage autograd saves (a DTensor's
    local shard); each column-parallel linear's input, as the linear receives it after the plan's input hooks (the
    gathered ``Replicate`` DTensor), is looked up among them. Rank 0 puts {linear: bytes of the saved storage that
    holds its input (0: not saved)}."""
    import torch.distributed as dist

    blocks, x0, cos, sin = _tp_blocks(rank, world, port, sp, kw, 1)
    local = lambda t: getattr(t, "_local_tensor", t)  # noqa: E731 -- a DTensor's shard (the wrapper has no storage)
    saved, inputs = {}, {}

    def pack(t):
        st = local(t).untyped_storage()
        saved[st._cdata] = st.nbytes()
        return t
    for name in COLWISE_LINEARS:  # registered after the plan's hooks: sees the input the plan hands the linear
        blocks[0].get_submodule(name).register_forward_pre_hook(
            lambda mod, args, name=name: inputs.__setitem__(name, local(args[0]).untyped_storage()._cdata))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        x = blocks[0](x0, cos, sin)
    x.float().sum().backward()  # the saved tensors serve a real backward
    out.put((rank, {name: saved.get(cdata, 0) for name, cdata in inputs.items()}))
    dist.destroy_process_group()


def tp_saved_input_bytes(world, sp, **kw) -> dict:
    """Bytes autograd keeps of each column-parallel linear's input on rank 0 under torchtitan's TP plan at tensor
    parallelism ``world`` (gloo ranks on CPU; an unfused case): the gathered sequence or the rank's shard."""
    return _spawn(_tp_saved_rank, world, sp, kw)[0]


def _ep_rank(rank, world, port, kw, out):
    """One gloo rank of the expert-parallel check: the MoE block's routed experts split over the ranks
    (``MoE(ep=...)``: torchtitan's ``ExpertParallel`` dispatch and combine, real ``all_to_all_single`` calls on gloo),
    each rank its own tokens (a data-parallel shard: its own draw, so its own routing), op SAC per block with the
    save list's ``all_to_all_single``; every rank puts (rank, (SAC caches and block inputs, storages alive after the
    forward), per layer)."""
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    kept = {}
    for layers in (1, 3):
        torch.manual_seed(0)  # the same weights on every rank (each slices its experts)
        blocks = nn.ModuleList(Block(kw["h"], kw["heads"], kw["kv_heads"], kw["f"], kw["fused"], kw["moe"],
                                     ep=dist.group.WORLD) for _ in range(layers)).to(torch.bfloat16)
        cos, sin = _tables(kw["seq"], kw["h"] // kw["heads"], torch.bfloat16)
        torch.manual_seed(1 + rank)
        x0 = torch.randn(kw["batch"], kw["seq"], kw["h"], dtype=torch.bfloat16, requires_grad=True)
        x, caches, inputs, rec = _run(blocks, x0, cos, sin, "op")
        kept[layers] = (_cached_bytes(caches, inputs), rec.alive_bytes(skip=[x, x0, cos, sin, *blocks.parameters()]))
        x.float().sum().backward()  # the policy's backward runs under EP too (the all-to-alls' backward exchanges)
    out.put((rank, tuple((kept[3][i] - kept[1][i]) / 2 for i in range(2))))
    dist.destroy_process_group()


def ep_per_layer_bytes(world, **kw) -> tuple[float, float]:
    """Per-layer bytes a rank keeps under torchtitan's op SAC at expert parallelism ``world`` (gloo ranks on CPU),
    the mean over the ranks: (SAC caches and block inputs, every storage alive after the forward). The mean because
    a rank receives as many routed tokens as the router happens to send its experts, top_k x its tokens on average
    (the total received is the total sent), which the planner prices."""
    per_rank = _spawn(_ep_rank, world, kw)
    return tuple(sum(r[i] for r in per_rank) / world for i in range(2))


def _eptp_rank(rank, world, port, tp, ep, kw, out):
    """One gloo rank of the expert-parallel check combined with tensor parallelism: ``world`` ranks as (data parallel)
    x ``tp`` (TP innermost, torchtitan's mesh order), torchtitan's TP plan on the blocks (``tp_plan``, with sequence
    parallelism) and ``ExpertParallel`` on the routed experts at expert-TP 1, the EP group borrowing the TP ranks and
    ``ep / tp`` of the data-parallel ones (parallel_dims.py: "EP would borrow all cp and tp and some dp_shard degree"),
    the routed tokens split over the TP ranks (``MoE(tp=...)``: ``ReordererSequenceParallel``). Each data-parallel
    replica its own draw (its own routing), each TP rank its sequence shard of it. Every rank puts (rank, (SAC caches
    and block inputs, storages alive after the forward), per layer)."""
    import os

    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import parallelize_module

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world // tp, tp), mesh_dim_names=("dp", "tp"))
    tp_mesh = mesh["tp"]
    assert ep in (tp, world), "the EP group is the TP group or every rank here"
    ep_group = tp_mesh.get_group() if ep == tp else dist.group.WORLD
    plan = tp_plan(kw, True, moe=True)
    kept = {}
    for layers in (1, 3):
        torch.manual_seed(0)  # the same weights on every rank (each slices its experts, its TP shards)
        blocks = nn.ModuleList(Block(kw["h"], kw["heads"], kw["kv_heads"], kw["f"], kw["fused"], kw["moe"],
                                     ep=ep_group, tp=tp_mesh.get_group()) for _ in range(layers))
        for blk in blocks:
            blk.attention.a //= tp
            blk.attention.g //= tp
            parallelize_module(blk, tp_mesh, plan)
        blocks = blocks.to(torch.bfloat16)
        cos, sin = _tables(kw["seq"], kw["h"] // kw["heads"], torch.bfloat16)
        torch.manual_seed(1 + mesh.get_local_rank("dp"))
        full = torch.randn(kw["batch"], kw["seq"], kw["h"], dtype=torch.bfloat16)
        x0 = full.chunk(tp, dim=1)[tp_mesh.get_local_rank()].contiguous().requires_grad_(True)
        x, caches, inputs, rec = _run(blocks, x0, cos, sin, "op")
        kept[layers] = (_cached_bytes(caches, inputs), rec.alive_bytes(skip=[x, x0, cos, sin, *(
            getattr(p, "_local_tensor", p) for p in blocks.parameters())]))
        x.float().sum().backward()  # the policy's backward runs under EP + TP too
    out.put((rank, tuple((kept[3][i] - kept[1][i]) / 2 for i in range(2))))
    dist.destroy_process_group()


def eptp_per_layer_bytes(world, tp, ep, **kw) -> tuple[float, float]:
    """Per-layer bytes a rank keeps under torchtitan's op SAC with expert parallelism ``ep`` and tensor parallelism
    ``tp`` over ``world`` gloo ranks (``_eptp_rank``), the mean over the ranks (as ``ep_per_layer_bytes``): (SAC
    caches and block inputs, every storage alive after the forward)."""
    per_rank = _spawn(_eptp_rank, world, tp, ep, kw)
    return tuple(sum(r[i] for r in per_rank) / world for i in range(2))


#: the cases the test and the README table run: (name, shape keywords); hidden, heads, kv heads, FFN width, sequence,
#: micro-batch, fused QKV, MoE (experts, top_k, shared experts)
CASES = {
    "dense s128 h256 b2 unfused": dict(h=256, heads=8, kv_heads=2, f=704, seq=128, batch=2, fused=False),
    "dense s128 h256 b2 fused": dict(h=256, heads=8, kv_heads=2, f=704, seq=128, batch=2, fused=True),
    "dense s256 h128 b1 unfused": dict(h=128, heads=4, kv_heads=4, f=352, seq=256, batch=1, fused=False),
    "dense s256 h128 b1 fused": dict(h=128, heads=4, kv_heads=4, f=352, seq=256, batch=1, fused=True),
    "dense s64 h384 b4 fused": dict(h=384, heads=6, kv_heads=2, f=1024, seq=64, batch=4, fused=True),
    "moe s128 h256 b2 unfused, 1 shared": dict(h=256, heads=8, kv_heads=2, f=256, seq=128, batch=2, fused=False,
                                              moe=dict(experts=8, top_k=2, shared=1)),
    "moe s128 h256 b2 fused, 1 shared": dict(h=256, heads=8, kv_heads=2, f=256, seq=128, batch=2, fused=True,
                                            moe=dict(experts=8, top_k=2, shared=1)),
    "moe s256 h128 b1 fused, no shared": dict(h=128, heads=4, kv_heads=2, f=128, seq=256, batch=1, fused=True,
                                             moe=dict(experts=4, top_k=2, shared=0)),
}


def spec_of(kw):
    """The planner's ModelSpec of a case's block (a MoE case: every layer MoE)."""
    from planner.spec import ModelSpec

    base = dict(layers=3, hidden=kw["h"], heads=kw["heads"], kv_heads=kw["kv_heads"], vocab=1000, ffn_hidden=kw["f"])
    if kw.get("moe"):
        e = kw["moe"]
        return ModelSpec(family="moe", moe=dict(experts=e["experts"], top_k=e["top_k"], shared_experts=e["shared"]),
                         **base)
    return ModelSpec(family="decoder", **base)


def predicted(kw, tp=1, sp=False, ep=1, flash=True) -> float:
    """``layer_activation_bytes`` under torchtitan's op SAC for the case (bf16; flash or the math path)."""
    from planner.model.activations import SELECTIVE, layer_activation_bytes

    return float(layer_activation_bytes(spec_of(kw), kw["seq"], kw["batch"], tp=tp, sp=sp, recompute=SELECTIVE,
                                        act_bytes=2, moe=bool(kw.get("moe")), selective="op", fused_qkv=kw["fused"],
                                        ep=ep, flash=flash))


#: the cases also run on torch's math SDPA path (no flash kernel): its bmm and softmax are re-run, nothing kept
MATH_CASES = ["dense s128 h256 b2 fused", "dense s256 h128 b1 unfused", "moe s128 h256 b2 unfused, 1 shared"]


#: the tensor-parallel cases (TP 2 on gloo): (name, world, sp, case)
TP_CASES = [(f"{c} TP2{' + SP' if sp else ''}", 2, sp, c)
            for c in ("dense s128 h256 b2 unfused", "dense s128 h256 b2 fused") for sp in (False, True)]

#: the saved-input cases (``tp_saved_input_bytes``, TP 2 on gloo, no checkpointing): (name, world, sp, case)
TP_SAVED_CASES = [(f"dense s128 h256 b2 unfused TP2{' + SP' if sp else ''}", 2, sp, "dense s128 h256 b2 unfused")
                  for sp in (False, True)]

#: the expert-parallel cases (EP 2 on gloo, TP 1): (name, world, case)
EP_CASES = [(f"{c} EP2", 2, c) for c in ("moe s128 h256 b2 fused, 1 shared", "moe s256 h128 b1 fused, no shared")]


#: the expert-parallel cases combined with tensor parallelism (four gloo ranks: data parallel 2 x TP 2 with sequence
#: parallelism, EP 2 -- the EP group the TP group -- or EP 4 -- every rank --, expert-TP 1): (name, world, tp, ep, case)
EPTP_CASES = [(f"{c} TP2 + SP EP{ep}", 4, 2, ep, c)
              for c in ("moe s128 h256 b2 fused, 1 shared", "moe s256 h128 b1 fused, no shared") for ep in (2, 4)]


#: the multi-rank truth, measured once by ``python tests/op_sac_truth.py --write`` (two or four spawned gloo ranks per
#: case take ~10-70 s each on a 2-core machine, too slow to re-run in every test session): per TP, EP or EP + TP case
#: name, the bytes per layer kept in the SAC caches and block inputs (TP: rank 0; EP, EP + TP: the mean over the
#: ranks), and for the EP and EP + TP cases every storage alive after the forward too ("alive_bytes_per_layer"), with
#: the torch version that measured them
TP_TRUTH = Path(__file__).parent / "data" / "op_sac_tp_truth.json"


def write_tp_truth(path=TP_TRUTH) -> dict:
    """Measure every ``TP_CASES``, ``EP_CASES`` and ``EPTP_CASES`` entry on gloo ranks and write the bytes per layer to
    ``path``."""
    rows = {name: tp_per_layer_bytes(world, sp, **CASES[case]) for name, world, sp, case in TP_CASES}
    ep = {name: ep_per_layer_bytes(world, **CASES[case]) for name, world, case in EP_CASES}
    ep.update({name: eptp_per_layer_bytes(world, tp, ep_, **CASES[case]) for name, world, tp, ep_, case in EPTP_CASES})
    rows.update({name: cache for name, (cache, _) in ep.items()})
    doc = {"made_by": "python tests/op_sac_truth.py --write", "torch": torch.__version__, "bytes_per_layer": rows,
           "alive_bytes_per_layer": {name: alive for name, (_, alive) in ep.items()}}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    write_tp_saved_truth(path)
    return rows


def write_tp_saved_truth(path=TP_TRUTH) -> dict:
    """Measure the ``TP_SAVED_CASES`` (a few seconds) and store them in ``path`` under "tp_saved_input_bytes",
    beside the rest of the truth (``python tests/op_sac_truth.py --write-saved`` re-measures only these)."""
    rows = {name: tp_saved_input_bytes(world, sp, **CASES[case]) for name, world, sp, case in TP_SAVED_CASES}
    doc = json.loads(path.read_text())
    doc.update(tp_saved_torch=torch.__version__, tp_saved_input_bytes=rows)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return rows


def tp_truth(key="bytes_per_layer") -> dict:
    """The stored multi-rank truth (``TP_TRUTH``): {case name: bytes per layer} (``key``: the SAC caches and block
    inputs; "alive_bytes_per_layer": the EP and EP + TP cases' storages alive after the forward;
    "tp_saved_input_bytes": the ``TP_SAVED_CASES``' {column-parallel linear: bytes of its saved input})."""
    return json.loads(TP_TRUTH.read_text())[key]


if __name__ == "__main__":
    import sys

    if "--write-saved" in sys.argv[1:]:
        print(json.dumps(write_tp_saved_truth(), indent=1))
        sys.exit(0)
    tp_rows = write_tp_truth() if "--write" in sys.argv[1:] else tp_truth()
    print("| case | measured B/layer | predicted | error |\n|---|---:|---:|---:|")
    for name, kw in CASES.items():
        meas, pred = per_layer_bytes(**kw), predicted(kw)
        print(f"| {name} | {meas:,.0f} | {pred:,.0f} | {(pred - meas) / meas:+.2%} |")
    for name, world, sp, case in TP_CASES:
        meas, pred = tp_rows[name], predicted(CASES[case], world, sp)
        print(f"| {name} | {meas:,.0f} | {pred:,.0f} | {(pred - meas) / meas:+.2%} |")
    for name in MATH_CASES:
        kw = CASES[name]
        meas, pred = per_layer_bytes(**kw, flash=False), predicted(kw, flash=False)
        print(f"| {name}, math SDPA | {meas:,.0f} | {pred:,.0f} | {(pred - meas) / meas:+.2%} |")
    for name, world, case in EP_CASES:
        meas, pred = tp_rows[name], predicted(CASES[case], ep=world)
        print(f"| {name} | {meas:,.0f} | {pred:,.0f} | {(pred - meas) / meas:+.3%} |")
    for name, world, tp, ep, case in EPTP_CASES:
        meas, pred = tp_rows[name], predicted(CASES[case], tp, True, ep=ep)
        print(f"| {name} | {meas:,.0f} | {pred:,.0f} | {(pred - meas) / meas:+.3%} |")
