"""Megatron-Core context parallelism, cpmem37: the memory of TE's all-gather CP (a second copy of the attention output
saved, the whole sequence's K/V and dK/dV in its backward), a per-layer ``cp_comm_type`` list priced layer by layer,
and TE's refusal of packed (THD) rows under all_gather. Transformer Engine
transformer_engine/pytorch/attention/dot_product_attention/context_parallel.py @9c61cd7e."""
from __future__ import annotations

import functools
import json
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import write_job
from test_liger36 import _LiveBytes  # the live-bytes counter under a TorchDispatchMode

LAYERS = 32  # Llama-3-8B


def _job(tmp_path, comm, recompute: str = "full", cp: int = 16, name: str | None = None, **training):
    """Llama-3-8B at 128K tokens, TP1 CP16 over two 8-GPU H100 nodes on Megatron-Core, the CP type(s) ``comm``."""
    fw = {"name": "megatron-core"} if comm is None else {"name": "megatron-core", "cp_comm_type": comm}
    t = {"seq_len": 131072, "global_batch": 32, "micro_batch": 1, "precision": "bf16", "recompute": recompute,
         "tokens": 1.0e10, "framework": fw, **training}
    job = {"model": {"preset": "llama3-8b"}, "training": t, "parallel": {"tp": 1, "pp": 1, "cp": cp, "zero": 1},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2}}
    return write_job(tmp_path, job, name or f"j{abs(hash(json.dumps(job, sort_keys=True)))}.yaml")


def _estimate(cli, tmp_path, comm, **kw):
    code, out, err = cli("estimate", _job(tmp_path, comm, **kw), "--json")
    assert code == 0, err
    return json.loads(out)


def _refusal(cli, path, field: str = "training.framework.cp_comm_type") -> str:
    code, out, err = cli("estimate", path, "--json")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, out, err)
    assert lines[0].startswith(f"error: {field}:"), err
    return lines[0]


# --- a torch re-implementation of TE's two exchanges' saved tensors and buffers (sbhd, one micro-batch, causal) ------

def _gathered(x, cp, ids):
    """``gather_along_first_dim`` (a [cp * s, ...] output, this rank's rows copied in: the other ranks' rows' values do
    not matter here) then the ``index_select`` into sequence order."""
    import torch
    g = torch.empty((cp * x.shape[0], *x.shape[1:]), dtype=x.dtype)
    g[: x.shape[0]].copy_(x)
    g = g.view(2 * cp, x.shape[0] // 2, *x.shape[1:])
    return torch.index_select(g, 0, ids).view(-1, *x.shape[1:])


@functools.lru_cache(maxsize=None)
def _chunk_ids(cp):
    """TE ``get_seq_chunk_ids_for_reordering_before_attn`` / ``..._after_attn`` (cached per CP size, as TE's
    ``_seq_chunk_ids_cache_for_reordering_*``)."""
    import torch
    before, after = torch.empty(2 * cp, dtype=torch.long), torch.empty(2 * cp, dtype=torch.long)
    for r in range(cp):
        before[r], before[r + cp] = 2 * r, 2 * cp - 2 * r - 1
        after[2 * r], after[2 * r + 1] = r, 2 * cp - r - 1
    return before, after


def _allgather_fwd(q, k, v, cp, rank):
    """``AttnFuncWithCPAndKVAllGather.forward``'s tensors: K/V gathered and reordered, one kernel call per local chunk
    (its output and fp32 log-sum-exp: the fused kernel's, values aside), each output copied into ``out``; returns
    (out, what ``ctx.save_for_backward`` keeps)."""
    import torch
    s, b, h, d = q.shape
    ids, _ = _chunk_ids(cp)
    q = q.view(2, s // 2, b, h, d)
    k_ag, v_ag = _gathered(k, cp, ids), _gathered(v, cp, ids)
    out, out_per_step, lse = torch.empty_like(q), [None, None], [None, None]
    for i, chunk in enumerate((rank, 2 * cp - rank - 1)):
        q_ = q.select(0, i).contiguous()
        k_, v_ = k_ag[: (chunk + 1) * s // 2], v_ag[: (chunk + 1) * s // 2]  # keys up to the chunk's end
        out_per_step[i] = torch.empty_like(q_)
        lse[i] = torch.empty((b, h, s // 2), dtype=torch.float32)
        out[i].copy_(out_per_step[i])
    return out.view(s, b, h, d), (q, k, v, *out_per_step, *lse)


def _allgather_bwd(saved, dout, cp, rank):
    """``AttnFuncWithCPAndKVAllGather.backward``'s tensors: dq, the zeroed whole-sequence dK/dV, K/V gathered again,
    the kernel's gradients per chunk (kept in their lists), the reorder and the reduce-scatter to this rank's rows."""
    import torch
    q, k, v = saved[:3]
    s_half = q.shape[1]
    ids, ids_after = _chunk_ids(cp)
    dq = torch.empty_like(q)
    dk = torch.zeros((k.shape[0] * cp, *k.shape[1:]), dtype=k.dtype)
    dv = torch.zeros_like(dk)
    k_ag, v_ag = _gathered(k, cp, ids), _gathered(v, cp, ids)
    dq_ps, dk_ps, dv_ps = [None, None], [None, None], [None, None]
    for i, chunk in enumerate((rank, 2 * cp - rank - 1)):
        end = (chunk + 1) * s_half
        q_, k_, v_ = q.select(0, i).contiguous(), k_ag[:end], v_ag[:end]
        dq_ps[i], dk_ps[i], dv_ps[i] = torch.empty_like(q_), torch.empty_like(k_), torch.empty_like(v_)
        dq[i].copy_(dq_ps[i])
        dk[:end].add_(dk_ps[i])
        dv[:end].add_(dv_ps[i])
    dk = torch.index_select(dk.view(2 * cp, -1, *dk.shape[1:]), 0, ids_after).view(-1, *k.shape[1:])
    dv = torch.index_select(dv.view(2 * cp, -1, *dv.shape[1:]), 0, ids_after).view(-1, *v.shape[1:])
    return dq, dk.view(cp, -1, *k.shape[1:])[rank].clone(), dv.view(cp, -1, *v.shape[1:])[rank].clone()


def _p2p_fwd(q, k, v, cp, rank):
    """What ``AttnFuncWithCPAndKVP2P.forward`` saves: q, the last hop's K/V buffer (``p2p_comm_buffers[-1]``, local
    size), the merged output it returns (``out_f16 = out.to(qkv_dtype)``, the same tensor in 16 bits) and the merged
    log-sum-exp."""
    import torch
    s, b, h, d = q.shape
    out = torch.empty_like(q)
    kv = torch.empty((2, *k.shape), dtype=k.dtype)
    return out, (q, kv, out, torch.empty((b, h, s), dtype=torch.float32))


def _saved_storage_bytes(fwd, q, k, v, cp):
    """Bytes of the distinct storages autograd keeps for the attention function and the out-projection after it
    (saved_tensors_hooks, one count per storage), the weights left out."""
    import torch

    class Attn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v):
            out, keep = fwd(q, k, v, cp, 0)
            ctx.save_for_backward(*keep)
            return out

        @staticmethod
        def backward(ctx, dout):  # pragma: no cover - the test never runs it
            raise NotImplementedError

    w = torch.zeros(q.shape[-2] * q.shape[-1], 8, dtype=q.dtype, requires_grad=True)  # a trained weight
    seen = {}

    def pack(t):
        if t.data_ptr() != w.data_ptr():
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = Attn.apply(q, k, v)
        out.flatten(2) @ w  # the out-projection keeps its input, the returned output
    return sum(seen.values())


def _tiny():
    from planner.spec import ModelSpec
    return ModelSpec(name="tiny", layers=2, hidden=64, heads=4, kv_heads=2, ffn_hidden=128, vocab=128)


def test_allgather_saves_a_second_output_copy_measured():
    """TE's all-gather CP saves its two chunk outputs (``out_per_step``) and returns another tensor, ``out``, which
    the out-projection keeps: one q-wide copy more than the p2p ring, whose saved output is the one it returns --
    measured with saved_tensors_hooks on the re-implementation and equal to ``cp_allgather_saves``. Before cpmem37 the
    planner kept the same bytes for every cp_comm_type."""
    import torch
    from planner.model.activations import cp_allgather_saves

    m, cp, s = _tiny(), 4, 16  # 16 tokens a rank: two chunks of 8
    q = torch.randn(s, 1, m.heads, m.head_dim, dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(s, 1, m.kv_heads, m.head_dim, dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn_like(k, requires_grad=True)
    extra = _saved_storage_bytes(_allgather_fwd, q, k, v, cp) - _saved_storage_bytes(_p2p_fwd, q, k, v, cp)
    assert extra == float(cp_allgather_saves(m, s, 1, cp, 2)) == s * m.q_dim * 2
    assert float(cp_allgather_saves(m, s, 1, 1, 2)) == 0.0  # no CP, no exchange


@pytest.mark.parametrize("cp,rank", [(2, 0), (4, 1), (8, 7)])
def test_allgather_backward_buffers_measured(cp, rank):
    """The backward's peak beyond the saved tensors, measured live on the re-implementation: the gathered K/V, the
    zeroed whole-sequence dK/dV, the per-chunk dK/dV kept in their lists, the reordered dK -- ``cp_allgather_transient``
    -- plus dq and the per-chunk dq (2 x q, as a flash backward without CP: not counted)."""
    import torch
    from planner.model.activations import cp_allgather_transient

    m, s = _tiny(), 16
    q = torch.randn(s, 1, m.heads, m.head_dim, dtype=torch.bfloat16)
    k = torch.randn(s, 1, m.kv_heads, m.head_dim, dtype=torch.bfloat16)
    v = torch.randn_like(k)
    _, saved = _allgather_fwd(q, k, v, cp, rank)
    dout = torch.randn_like(q)
    _chunk_ids(cp)  # TE's cached index tensors, made before
    live = _LiveBytes()
    with live.mode():
        dq, dk, dv = _allgather_bwd(saved, dout, cp, rank)
    assert dk.shape == k.shape and dq.numel() == q.numel()
    q_bytes = s * m.q_dim * 2
    want = float(cp_allgather_transient(m, s * cp, 1, 1, cp, 2))
    assert live.peak - 2 * q_bytes == pytest.approx(want)
    # at Llama-3-8B 128K CP16 TP1: G = 2 x 131,072 x 1,024 x 2 B = 512 MiB, (3.5 + 1/32) G = 1.77 GiB
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS
    llama = ModelSpec(**PRESETS["llama3-8b"])
    assert float(cp_allgather_transient(llama, 131072, 1, 1, 16, 2)) / 2**30 == pytest.approx((3.5 + 1 / 32) * 0.5)


def test_allgather_memory_in_the_plan(cli, tmp_path):
    """Llama-3-8B 128K CP16: under full recompute all_gather holds the backward buffers (1.77 GiB) and the rebuilt
    layer's output copy (64 MiB) in place of p2p's ring buffers (16 x 97 MiB, tests/test_p2pmem37.py; until p2pmem37
    not priced: then all_gather held 1.77 GiB + 64 MiB more); with no recompute every layer's copy (32 x 64 MiB) too.
    a2a and a2a+p2p save what p2p does (TE saves the all-to-all'd q, k, v and the output it returns); a2a+p2p's ring
    buffers are its ring's (2 ranks here)."""
    mib = 2**20
    ring = 16 * 97 * mib  # p2p's ring buffers (activations.cp_p2p_transient)
    for rc, more in (("full", (3.5 + 1 / 32) * 512 * mib + 64 * mib - ring), ("none", (3.5 + 1 / 32) * 512 * mib
                                                                             + LAYERS * 64 * mib - ring)):
        p2p, ag = (_estimate(cli, tmp_path, c, recompute=rc)["memory_per_gpu_bytes"]["activations"]
                   for c in ("p2p", "all_gather"))
        assert ag - p2p == pytest.approx(more, rel=1e-9), (rc, (ag - p2p) / mib)
    hier = _estimate(cli, tmp_path, "a2a+p2p")["memory_per_gpu_bytes"]["activations"]
    assert hier == pytest.approx(_estimate(cli, tmp_path, "p2p")["memory_per_gpu_bytes"]["activations"]
                                 - ring + 2 * 97 * mib, rel=1e-9)


def test_per_layer_list_priced_layer_by_layer(cli, tmp_path):
    """Megatron's ``--cp-comm-type`` takes one type a layer (arguments.py nargs='+'); half the layers p2p, half
    all_gather: the step is the mean of the two (every layer term is seconds a layer), the exposed CP exchange half
    of all_gather's, the memory holds the larger of all_gather's backward buffers and p2p's ring buffers once (each
    inside one layer's attention; p2pmem37) and half the layers' output copies; the stack line says each type's share.
    Before cpmem37 the schema refused a list."""
    p2p, ag = (_estimate(cli, tmp_path, c, recompute="none") for c in ("p2p", "all_gather"))
    mix = _estimate(cli, tmp_path, ["p2p"] * 16 + ["all_gather"] * 16, recompute="none")
    assert mix["step_time_s"] == pytest.approx((p2p["step_time_s"] + ag["step_time_s"]) / 2, rel=1e-9)
    assert mix["breakdown_s"]["comm_cp"] == pytest.approx(ag["breakdown_s"]["comm_cp"] / 2, rel=1e-9)
    act = {k: d["memory_per_gpu_bytes"]["activations"] for k, d in (("p2p", p2p), ("ag", ag), ("mix", mix))}
    assert act["mix"] - act["p2p"] == pytest.approx((3.5 + 1 / 32) * 2**29 - 16 * 97 * 2**20 + 16 * 2**26, rel=1e-9)
    assert act["ag"] - act["mix"] == pytest.approx(16 * 2**26, rel=1e-9)  # the transient: all_gather's, once
    line = next(x for x in mix["assumptions"] if x.startswith("training stack"))
    assert "CP16 exchange per layer: 50% of the layers K/V ring" in line and "50% of the layers K/V all-gathered" \
        in line, line
    assert mix["config"]["cp_comm_type"] == ["p2p"] * 16 + ["all_gather"] * 16
    # one type repeated prices as that type; it stays the list Megatron is given (QA 53: its length is checked too)
    same = _estimate(cli, tmp_path, ["all_gather"] * LAYERS, recompute="none")
    assert same["step_time_s"] == ag["step_time_s"] and same["config"]["cp_comm_type"] == ["all_gather"] * LAYERS


def test_per_layer_list_of_another_length_refused(cli, tmp_path):
    """TransformerConfig at CP > 1: 'Length of cp_comm_type (...) should equal to the total number of transformer
    layers'; a type outside Megatron's four in the list names the four."""
    line = _refusal(cli, _job(tmp_path, ["p2p"] * 16 + ["a2a+p2p"] * 15))
    assert "31 types for 32 layers at CP16" in line, line
    line = _refusal(cli, _job(tmp_path, ["p2p"] * 31 + ["ring"]), "training.framework.cp_comm_type.31")
    assert "p2p, all_gather, a2a, a2a+p2p, got 'ring'" in line, line


def test_per_layer_a2a_layers_checked_for_heads(cli, tmp_path):
    """The a2a layers of a list still split a TP rank's heads over CP: 8 KV heads at CP16 refused as for one type."""
    line = _refusal(cli, _job(tmp_path, ["p2p"] * 31 + ["a2a"]))
    assert "CP16 with 32 heads and 8 KV heads a TP1 rank" in line, line


def test_packed_rows_refused_under_allgather(cli, tmp_path):
    """TE's all-gather CP asserts qkv_format != 'thd': packed examples (1,024 tokens in 131,072-token rows) reach it as
    THD through Megatron-Core's PackedSeqParams; refused in one line, for a per-layer list holding it too. p2p runs
    them. Before cpmem37 the plan was priced."""
    line = _refusal(cli, _job(tmp_path, "all_gather", mean_example_tokens=1024))
    assert "packed examples of ~1,024 tokens" in line and "THD" in line, line
    _refusal(cli, _job(tmp_path, ["p2p"] * 31 + ["all_gather"], mean_example_tokens=1024))
    assert _estimate(cli, tmp_path, "p2p", mean_example_tokens=1024)["step_time_s"] > 0
    # whole rows (no example boundaries): the sbhd layout, accepted
    assert _estimate(cli, tmp_path, "all_gather")["step_time_s"] > 0


def test_megatron_core_accepts_the_emitted_per_layer_list(tmp_path):
    """--emit writes the list whole, and with an a2a+p2p layer the hierarchical sizes Megatron asserts are given and
    multiply to CP (arguments.py: 'context_parallel_size == prod(hierarchical_context_parallel_sizes)'; '... must be set
    when a2a+p2p is used in cp comm'); Megatron's argument rules and TransformerConfig accept it (its length check)."""
    from planner.present.emit import emit_launch_spec
    from planner.spec.load import load_job
    from planner.workloads.training import estimate_job
    from test_launch_parsers import command_of, megatron_accepts, script_of, torchrun_accepts

    types = ["a2a+p2p"] * 16 + ["all_gather"] * 16
    job = load_job(_job(tmp_path, types))
    text = emit_launch_spec(job, estimate_job(job), "torchrun:megatron")
    assert "--cp-comm-type " + " ".join(types) in text
    assert "--hierarchical-context-parallel-sizes 8 2" in text
    env, argv = command_of(script_of("torchrun", text))
    run = torchrun_accepts(argv)
    cfg = megatron_accepts(run.training_script, run.training_script_args, 16, env)["cfg"]
    assert list(cfg.cp_comm_type) == types and list(cfg.hierarchical_context_parallel_sizes) == [8, 2]


def test_cp_comm_mix_counts_attention_layers_of_a_hybrid():
    """A hybrid model's list indexes every layer (Megatron's layer number), only its attention layers ("*") run CP."""
    from planner.model.stacks import cp_comm_mix, resolve

    st = resolve("megatron-core", cp_comm_type=["p2p", "all_gather", "all_gather", "a2a"])
    assert cp_comm_mix(st) == (("p2p", 0.25), ("all_gather", 0.5), ("a2a", 0.25))
    hybrid = SimpleNamespace(hybrid_pattern="M*M*")
    assert cp_comm_mix(st, hybrid) == (("all_gather", 0.5), ("a2a", 0.5))
    assert cp_comm_mix(resolve("torchtitan")) == ()
    assert np.isclose(sum(s for _, s in cp_comm_mix(st)), 1.0)
