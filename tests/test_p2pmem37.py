"""Megatron-Core context parallelism, p2pmem37: the buffers of TE's K/V ring (``cp_comm_type`` p2p, and a2a+p2p's ring
over CP / a2a) in the peak memory -- every hop's K/V buffer and every step's partial output and log-sum-exp alive at
the forward's end, the K/V and dK/dV ring buffers and the kernel's gradients in the backward. Transformer Engine
transformer_engine/pytorch/attention/dot_product_attention/context_parallel.py @9c61cd7e ``AttnFuncWithCPAndKVP2P``,
re-implemented on CPU torch (values aside: only which tensors exist when) and measured with a live-bytes counter."""
from __future__ import annotations

import json

import pytest

from test_cpmem37 import _estimate, _tiny
from test_liger36 import _LiveBytes

MIB = 2**20


# --- a torch re-implementation of AttnFuncWithCPAndKVP2P's tensors (sbhd, one micro-batch, the F16 fused path) -----
# Each allocation's own tensor object is held exactly as long as TE holds its storage (the counter frees a storage
# when the tensor an op returned goes): views are taken for use, never rebound in place of their base.

def _p2p_fwd(q, k, v, ring, rank, causal):
    """``forward``: ``p2p_comm_buffers[0]`` the concatenated local K/V, one received buffer a hop (``torch.empty_like``
    of the last), one kernel output and log-sum-exp ([b, h, sq, 1], fp32) a step -- the whole local q against the
    first half of the received keys on steps 1..rank, the second half of q against all of them after (causal), all of
    both every step (non-causal) -- the merged log-sum-exp (``torch.clone`` of step 0's), the merged output
    (``flash_attn_fwd_out_correction_init``: the first step's dtype and shape), then ``kv = p2p_comm_buffers[-1]`` and
    ``out.to(qkv_dtype)`` (the same tensor). Returns (out, what ``ctx.save_for_backward`` keeps)."""
    import torch
    s, b, h, d = q.shape
    if causal:  # [s, b, h, d] -> [2, s // 2, b, h, d]
        q, k, v = (x.view(2, s // 2, *x.shape[1:]) for x in (q, k, v))
    bufs = [None] * ring
    bufs[0] = torch.cat((k.unsqueeze(-3), v.unsqueeze(-3)), dim=-3)
    out_ps, lse_ps, kv_inputs = [None] * ring, [None] * ring, [None, None]
    softmax_lse = None
    for i in range(ring + 1):
        if i < ring:
            if i < ring - 1:
                bufs[i + 1] = torch.empty_like(bufs[i])  # what irecv fills
            kv_inputs[i % 2] = bufs[i]
            half_q = causal and 0 < i and i > rank
            if causal and 0 < i <= rank:  # [2, s // 2, b, 2, hk, d] -> [s // 2, b, 2, hk, d]: a contiguous slice
                kv_inputs[i % 2] = kv_inputs[i % 2][0].contiguous()
            sq = s // 2 if half_q else s
            if half_q:
                q[1].contiguous()  # q_inputs: the second half, contiguous already
            out_ps[i] = torch.empty((sq, b, h, d), dtype=q.dtype)
            lse_ps[i] = torch.empty((b, h, sq, 1), dtype=torch.float32)
        if i > 0:
            lse_ps[i - 1].squeeze_(-1)
            if i == 1:
                softmax_lse = torch.clone(lse_ps[0])
    out = torch.empty_like(out_ps[0])  # the merge's output, made while every step's output lives
    for i in range(1, ring):
        out[-out_ps[i].shape[0]:].add_(out_ps[i])  # the corrections, in place
    kv = bufs[-1]
    out_f16 = out.to(q.dtype)
    return out_f16, (q, kv, out_f16, softmax_lse)


def _p2p_bwd(saved, dout, ring, rank, causal):
    """``backward``: the second-half log-sum-exp copy (causal, ranks below the last), ``dq = torch.empty_like(q)``, two
    ``(2, *kv.shape)`` ring buffers (K/V and dK/dV), the kernel's dq_ and its interleaved dK/dV a step -- full q and
    keys on the diagonal step (the last), full q and half the keys on the steps from ``ring - rank - 1``, half q and
    all keys before (causal) -- dq_ / dk_ / dv_ dropped at each step's top, ``dkv_`` (``combine_tensors``, the same
    storage) only when the next step rebinds it; dq and dK/dV accumulated in place."""
    import torch
    q, kv, out, lse = saved
    s, b, h, d = out.shape
    lse_ = None
    if causal and rank < ring - 1:
        lse_ = lse.view(*lse.shape[:-1], 2, -1)[..., 1, :].contiguous()
        lse_.unsqueeze_(-1)
    dq = torch.empty_like(q)
    bufs = [torch.empty((2, *kv.shape), dtype=kv.dtype), torch.empty((2, *kv.shape), dtype=kv.dtype)]
    bufs[0][0].copy_(kv)
    full_kv = kv.numel()
    dkv_ = None
    for i in range(ring):
        dq_, dk_, dv_ = None, None, None
        if not causal or i == ring - 1:
            nq, nkv = q.numel(), full_kv
        elif i >= ring - rank - 1:
            nq, nkv = q.numel(), full_kv // 2
        else:
            nq, nkv = q.numel() // 2, full_kv
        dq_ = torch.empty(nq, dtype=q.dtype)
        dkv_step = torch.empty(nkv, dtype=kv.dtype)  # fused_attn_bwd's dK and dV: one interleaved storage
        dk_, dv_ = dkv_step[: nkv // 2], dkv_step[nkv // 2:]
        dq.view(-1)[:nq].add_(dq_)
        dkv = bufs[(i + 1) % 2][1]
        dkv_ = dkv_step  # combine_tensors([dk_, dv_], -2): a view of that storage, held into the next step
        del dkv_step
        dkv.view(-1)[:nkv].add_(dkv_)
    return dq, bufs[ring % 2][1]  # dK/dV: the last received buffer (``dk, dv = dkv[0], dkv[1]`` of its view)


def _tensors(m, s, ring):
    import torch
    g = torch.Generator().manual_seed(ring)
    q = torch.randn(s, 1, m.heads, m.head_dim, dtype=torch.bfloat16, generator=g)
    k = torch.randn(s, 1, m.kv_heads, m.head_dim, dtype=torch.bfloat16, generator=g)
    return q, k, torch.randn_like(k)


def _sizes(m, s):
    """(KV, O, L) bytes of a rank holding s tokens, bf16: its K and V, one q-wide output, the fp32 log-sum-exp."""
    return 2 * s * m.kv_dim * 2, s * m.q_dim * 2, s * m.heads * 4


def _counter(*held):
    """A live-bytes counter that leaves out the storages of ``held`` (made before: views of them are not new)."""
    live = _LiveBytes()
    live.seen.update(t.untyped_storage().data_ptr() for t in held)
    return live


def _fwd_peak(m, s, ring, rank, causal):
    q, k, v = _tensors(m, s, ring)
    live = _counter(q, k, v)
    with live.mode():
        out, saved = _p2p_fwd(q, k, v, ring, rank, causal)
    assert out.shape == q.shape
    return live.peak, live.live, saved


def _bwd_peak(m, s, ring, rank, causal):
    q, k, v = _tensors(m, s, ring)
    _, saved = _p2p_fwd(q, k, v, ring, rank, causal)
    import torch
    dout = torch.randn_like(q)
    live = _counter(*saved, dout)
    with live.mode():
        dq, dkv = _p2p_bwd(saved, dout, ring, rank, causal)
    assert dq.numel() == q.numel() and dkv.numel() == k.numel() + v.numel()
    return live.peak


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("ring", [1, 2, 4, 8])
def test_ring_forward_buffers_measured(ring, causal):
    """The forward's peak beyond what it keeps (the last hop's K/V, the merged output and log-sum-exp): every hop's K/V
    buffer and every step's output and log-sum-exp. Beyond the table's q, k, v, out and log-sum-exp (the saved K/V
    buffer standing for k, v, the caller's k, v alive beside it): ring x (KV + O + L) on the last rank, causal or not;
    a causal rank 0 holds 1 + (ring - 1) / 2 outputs (its later steps half q). ``cp_p2p_buffers``'s forward."""
    from planner.model.activations import cp_p2p_buffers

    m, s = _tiny(), 16
    kv, o, lse = _sizes(m, s)
    peak, after, _ = _fwd_peak(m, s, ring, ring - 1, causal)
    assert after == kv + o + lse  # what survives: the saved buffer, the output, the merged log-sum-exp
    assert peak - (o + lse) == ring * (kv + o + lse)
    assert float(cp_p2p_buffers(m, s * ring, 1, 1, ring, ring, 2, causal)[0]) == peak - (o + lse)
    if causal and ring > 1:
        peak0, _, _ = _fwd_peak(m, s, ring, 0, causal)
        assert peak0 - (o + lse) == ring * kv + (1 + (ring - 1) / 2) * (o + lse)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("ring", [1, 2, 4, 8])
def test_ring_backward_buffers_measured(ring, causal):
    """The backward's peak beyond dq and the kernel's dq_ (left out as for the all-gather's): the two ring buffers (4
    KV), this step's and the previous step's kernel dK/dV, and the second-half log-sum-exp copy on a causal rank below
    the last -- 6 KV + L / 2 at rank 0 (causal), 6 KV (non-causal), 5 KV on a ring of one; no rank holds more.
    ``cp_p2p_buffers``'s backward."""
    from planner.model.activations import cp_p2p_buffers

    m, s = _tiny(), 16
    kv, o, lse = _sizes(m, s)
    most = max(_bwd_peak(m, s, ring, r, causal) - 2 * o for r in range(ring))
    want = 5 * kv if ring == 1 else 6 * kv + (lse / 2 if causal else 0)
    assert most == want
    assert float(cp_p2p_buffers(m, s * ring, 1, 1, ring, ring, 2, causal)[1]) == most
    assert _bwd_peak(m, s, ring, 0, causal) - 2 * o == want


@pytest.mark.parametrize("ring", [1, 2, 4, 8])
def test_transient_is_the_larger_measured(ring):
    """``cp_p2p_transient`` is the larger of the two measured peaks, causal and not; for p2p (ring = CP) and for a
    ring of CP / a2a (a2a+p2p: q, k, v after the all-to-all hold a2a x the tokens on heads / a2a, the same bytes);
    zero without CP. The tiny model (4 heads, 2 KV heads) has its backward the larger at ring 2, its forward after."""
    from planner.model.activations import cp_p2p_transient

    m, s = _tiny(), 16
    kv, o, lse = _sizes(m, s)
    for causal in (True, False):
        fwd = _fwd_peak(m, s, ring, ring - 1, causal)[0] - (o + lse)
        bwd = max(_bwd_peak(m, s, ring, r, causal) - 2 * o for r in range(ring))
        for cp, a2a in ((ring, 1), (2 * ring, 2), (4 * ring, 4)):
            if cp == 1:  # no CP: no ring (TE runs the plain kernel)
                continue
            got = float(cp_p2p_transient(m, s * cp, 1, 1, cp, cp / a2a, 2, causal))
            assert got == max(fwd, bwd), (ring, causal, cp, got, fwd, bwd)
    assert float(cp_p2p_transient(m, s, 1, 1, 1, 1, 2)) == 0.0
    assert (float(cp_p2p_transient(m, 32, 1, 1, 2, 2, 2)) == 6 * kv + lse / 2) and 6 * kv + lse / 2 > 2 * (kv + o + lse)


def test_ring_memory_in_the_plan(cli, tmp_path):
    """Llama-3-8B 128K, TP1 CP16 on 2 x 8 H100 (8,192 tokens a rank: K/V 32 MiB, output 64 MiB, log-sum-exp 1 MiB):
    p2p holds 16 x 97 MiB = 1.52 GiB more at its peak than before p2pmem37, a2a+p2p (an a2a group of 8, a ring of
    2) 2 x 97 MiB, under full recompute and none alike; all_gather's own backward buffers (1.77 GiB) are now what it
    holds beyond p2p's ring, not beside nothing. Step times do not move (memory only). Before p2pmem37 p2p and
    a2a+p2p held the same bytes."""
    ring = 97 * MIB
    for rc in ("full", "none"):
        got = {c: _estimate(cli, tmp_path, c, recompute=rc) for c in ("p2p", "a2a+p2p", "all_gather")}
        act = {c: d["memory_per_gpu_bytes"]["activations"] for c, d in got.items()}
        assert act["p2p"] - act["a2a+p2p"] == pytest.approx(14 * ring, rel=1e-9), rc
        rebuilt = 64 * MIB if rc == "full" else 32 * 64 * MIB  # all_gather's output copies (cpmem37)
        assert act["all_gather"] - act["p2p"] == pytest.approx((3.5 + 1 / 32) * 512 * MIB - 16 * ring + rebuilt,
                                                               rel=1e-9), rc
    mix = _estimate(cli, tmp_path, ["p2p"] * 16 + ["a2a+p2p"] * 16)
    p2p = _estimate(cli, tmp_path, "p2p")
    # a p2p layer's ring (all of CP) is the larger: one transient, the largest the layers run
    assert mix["memory_per_gpu_bytes"]["activations"] == p2p["memory_per_gpu_bytes"]["activations"]
    assert json.dumps(mix["config"]["cp_comm_type"]).count("a2a+p2p") == 16
