"""PyTorch's ``context_parallel`` ring attention, mem54: its backward's K/V, gradient and accumulator buffers are a
transient inside one layer's attention (``activations.cp_torch_ring_transient``, ``TORCH_CP_RING_BWD``), priced where
the stack's CP is that ring (``Stack.torch_cp_ring``: torchtitan). Measured on torch's own
``_templated_ring_attention_backward`` (the installed torch; the same code as torch 2.5-2.6's
distributed/tensor/experimental/_attention.py) over its all-gather rotater on a fake process group, the flash kernel a
stub that returns its three input gradients, with the live-bytes counter of tests/test_liger36.py."""
from __future__ import annotations

import numpy as np
import pytest

from planner.model import stacks
from planner.model.activations import (TORCH_CP_RING_BWD, cp_torch_ring_transient, recompute_working_set,
                                       stack_table_kw)
from planner.spec import ModelSpec
from planner.spec.presets import PRESETS
from test_liger36 import _LiveBytes


def _ring_backward_peak(cp, rank, T=128, hq=4, hk=4, D=32):
    """Peak live bytes of ``_templated_ring_attention_backward`` on ``rank`` of ``cp``, causal with load balancing
    and the all-gather rotater (torchtitan's settings), q / k / v the (b, h, s, d) transposes of (b, s, h, d) tensors
    as torchtitan's attention passes them."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.testing._internal.distributed.fake_pg import FakeStore
    try:
        from torch.distributed.tensor.experimental._context_parallel import _attention as ring
    except ImportError:  # torch 2.5-2.7
        from torch.distributed.tensor.experimental import _attention as ring

    opts = ring._cp_options
    saved = (opts.rotate_method, opts.enable_load_balance, opts.convert_to_f32)
    dist.init_process_group("fake", store=FakeStore(), rank=rank, world_size=cp)
    try:
        opts.rotate_method, opts.enable_load_balance, opts.convert_to_f32 = ring._RotateMethod.ALL_GATHER, True, True
        q, k, v = (torch.randn(1, T, h, D, dtype=torch.bfloat16).transpose(1, 2) for h in (hq, hk, hk))
        out = torch.randn(1, hq, T, D, dtype=torch.bfloat16)
        lse = torch.randn(1, hq, T)
        grad_out = torch.randn_like(out)

        def kernel(query, key, value, out, logsumexp, is_causal=None, **kw):  # the flash backward's three gradients
            return torch.empty_like(query), torch.empty_like(key), torch.empty_like(value)
        live = _LiveBytes()
        with live.mode():
            ring._templated_ring_attention_backward(dist.group.WORLD, 2, kernel, grad_out, "grad_out",
                                                    q, k, v, out, lse, is_causal=True)
        return live.peak
    finally:
        opts.rotate_method, opts.enable_load_balance, opts.convert_to_f32 = saved
        dist.destroy_process_group()


@pytest.mark.parametrize("cp", [4, 8])
def test_ring_backward_buffers_are_the_measured_ones(cp):
    """(2 cp + 20) K + 3 Q on the first and last ranks, K and Q told apart by widening each in turn."""
    T, D = 128, 32
    unit = T * 4 * D * 2  # one 16-bit (T x 4 heads x D) tensor
    per_rank, fixed, on_q = TORCH_CP_RING_BWD
    for rank in (0, cp - 1):
        base = _ring_backward_peak(cp, rank) / unit
        wide_q = _ring_backward_peak(cp, rank, hq=8) / unit - base
        wide_k = _ring_backward_peak(cp, rank, hk=8) / unit - base
        assert wide_q == pytest.approx(on_q, abs=0.01)
        assert wide_k == pytest.approx(per_rank * cp + fixed, abs=0.01)
        assert base == pytest.approx(per_rank * cp + fixed + on_q, abs=0.01)


def test_ring_backward_at_cp2_is_within_one_k_of_the_price():
    """At CP 2 the measured peak is (2 cp + 19) K + 3 Q on both ranks: the price (one rule for every CP) is one K
    over there."""
    unit = 128 * 4 * 32 * 2
    per_rank, fixed, on_q = TORCH_CP_RING_BWD
    for rank in (0, 1):
        assert _ring_backward_peak(2, rank) / unit == pytest.approx(per_rank * 2 + fixed + on_q - 1.0, abs=0.01)


def test_torchtitan_prices_its_ring_at_the_query_heads_and_megatron_does_not():
    """torchtitan repeats K/V to the query heads before SDPA (``repeat_kv``): its layer rebuild at CP 8 carries the
    ring's buffers at the query width; Megatron-Core (TE's CP, priced apart) carries none of them; CP 1 none."""
    m = ModelSpec(**PRESETS["llama3.1-405b"])
    tt = stack_table_kw(stacks.resolve("torchtitan"), "bf16", model=m)
    mc = stack_table_kw(stacks.resolve("megatron-core"), "bf16", model=m)
    assert tt["cp_torch_ring"] == "repeated" and mc["cp_torch_ring"] is None
    kw = dict(tp=8, sp=True, recompute=2, act_bytes=2)
    off = {**tt, "cp_torch_ring": None}
    for cp, seq in ((1, 32768), (8, 262144)):
        got = recompute_working_set(m, seq, 1, cp=cp, **kw, **tt) - recompute_working_set(m, seq, 1, cp=cp, **kw, **off)
        want = 0.0 if cp == 1 else (2 * cp + 20 + 3) * 32768 * m.q_dim * 2 / 8
        assert float(got) == pytest.approx(want)
    assert want / 2**30 == pytest.approx(4.875)
    grouped = cp_torch_ring_transient(m, 262144, 1, 8, 8, False, 2)
    assert float(grouped) == pytest.approx((36 * m.kv_dim + 3 * m.q_dim) * 32768 * 2 / 8)
    assert np.all(cp_torch_ring_transient(m, 8192, 1, 8, np.array([1, 2]), True, 2) >= 0)


def test_pipelining_gradient_receive_buffers_are_torchs():
    """torch.distributed.pipelining keeps one gradient receive buffer a micro-batch on every stage before the last,
    all step (tests/data/pipelining_truth.json, tests/make_pipelining_truth.py: a real 1F1B and interleaved step on
    gloo): memory_stages.grad_recv_buffers prices rank 0 and the last rank alike for torchtitan, nothing for
    Megatron-Core (its own p2p, no per-micro-batch buffers held)."""
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from planner.model.memory_stages import grad_recv_buffers
    from planner.vocab import SCHEDULE

    truth = json.loads((Path(__file__).parent / "data" / "pipelining_truth.json").read_text())
    last = str(truth["world"] - 1)
    for name, sched in (("1f1b", "1f1b"), ("interleaved", "interleaved")):
        t0, tl = truth["ranks"]["0"][name], truth["ranks"][last][name]
        c = SimpleNamespace(pp=np.array([truth["world"]]), vpp=np.array([t0["stages"]]),
                            schedule=np.array([SCHEDULE.code[sched]]))
        g0, _, gl = grad_recv_buffers(stacks.resolve("torchtitan"), c, t0["microbatches"], t0["boundary_bytes"])
        assert (float(g0[0]), float(gl[0])) == (t0["grad_bytes"], tl["grad_bytes"])
        assert grad_recv_buffers(stacks.resolve("megatron-core"), c, 8, 256) == (0.0, 0.0, 0.0)
