"""Context parallelism's ring (Megatron-Core / Transformer Engine ``cp_comm_type=p2p``): the
per-step hop, what of it the attention hides, and the ring's efficiency against
ring-flash-attention's measured figures (benchmarks/data/parts/long_context.csv)."""
import sys

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import physics, stacks
from planner.model.comm import collective_time, ring_hop_time
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

N = 64e6  # one K/V chunk, bytes
INTRA, INTER, A_IN, A_OUT = 360e9, 50e9, 5e-6, 20e-6


def test_ring_hop_is_the_slowest_neighbour_by_hand():
    # TP 2 x CP 4 on 8-GPU nodes: the CP group (stride 2) sits in one node -> NVLink hop
    assert ring_hop_time(N, 4, 2, 8, INTRA, INTER, A_IN, A_OUT) == pytest.approx(N / INTRA + A_IN)
    # TP 4 x CP 4: two members per node, two nodes -> the boundary members' chunks cross their NIC
    assert ring_hop_time(N, 4, 4, 8, INTRA, INTER, A_IN, A_OUT) == pytest.approx(N / INTER + A_OUT)
    assert ring_hop_time(N, 1, 4, 8, INTRA, INTER, A_IN, A_OUT) == 0.0
    # an all-gather of the same 16 chunks (8 per node, 2 nodes) splits the inter-node bytes over
    # the node's 8 NICs: per ring step (g - 1) N / INTRA + N / INTER spread over g k - 1 steps,
    # ~5x less than the p2p ring's boundary hop (the old model's mistake for p2p CP)
    g, k = 8, 2
    ag_step = collective_time("all_gather", N * g * k, g * k, 1, 8, INTRA, INTER, 0.0, 0.0) / (g * k - 1)
    assert ag_step == pytest.approx(((g - 1) * N * k / INTRA + N / INTER) / (g * k - 1))
    hop = ring_hop_time(N, g * k, 1, 8, INTRA, INTER, 0.0, 0.0)
    assert hop == pytest.approx(N / INTER) and hop / ag_step > 5


def test_ring_exposure_follows_te_loop():
    """Forward: step 0 (local K/V) hides the first transfer; each later transfer shows only what
    exceeds one step's attention. Backward: K/V alone at step 0, dK/dV alone at the last step,
    both in between, each under its own step."""
    cp, c = 8, 1e-3
    assert physics.cp_exposed(0.5 * c, cp * c, cp) == pytest.approx(0.0)
    assert physics.cp_exposed(1.5 * c, cp * c, cp) == pytest.approx((cp - 1) * 0.5 * c)
    assert physics.cp_exposed(1.0 * c, cp * c, cp, end_comm=0.5 * c) == pytest.approx(0.0)
    assert physics.cp_exposed(3.0 * c, cp * c, cp, end_comm=1.5 * c) == pytest.approx(2 * 0.5 * c + (cp - 2) * 2 * c)
    assert physics.cp_exposed(5 * c, cp * c, 1, end_comm=c) == 0.0


def _llama(name, **kw):
    return ModelSpec(**dict(PRESETS[name], **kw))


def _hw(catalog, inter_gbps):
    import validate

    return validate.hw_option(catalog, "H100-SXM-80GB", 8, inter_gbps)


def _cands(tp, cp, rc=0):
    return Candidates(tp=np.array([tp]), pp=1, dp=1, cp=cp, ep=1, vpp=1, zero=1, mb=1, rc=rc, sp=tp > 1,
                      schedule=0, gpus_per_node=8, nodes=1)


def test_cross_node_ring_is_paced_by_the_nic(catalog):
    """Llama-2-7B (MHA: 64 MB of K/V per 4K-token chunk) at 64K: TP 1 x CP 16 spans two nodes and
    every step's transfer (64 MB / 50 GB/s = 1.3 ms) outlasts its attention, so the exposed
    exchange scales with the NIC; TP 1 x CP 8 stays in one node and does not see the NIC."""
    m = _llama("llama2-7b")
    t = TrainingSpec(seq_len=65536, global_batch=1, precision="bf16", weights="megatron", recompute="none")
    mc = stacks.resolve("megatron-core")
    slow, fast = _hw(catalog, 8 * 400.0), _hw(catalog, 2 * 8 * 400.0)
    two_nodes = [step_time(m, t, _cands(1, 16), hw, framework=mc)["comm_cp"][0] for hw in (slow, fast)]
    # every exposed step gains the hop's NIC time: (cp - 1) steps forward; backward the first
    # (K/V) and last (dK/dV) steps one hop, the cp - 2 between two; in each of the 32 layers
    kv = 4096 * 2 * 4096 * 2  # tokens per rank x (K, V) x hidden x bf16
    d_hop = kv / 50e9 - kv / 100e9
    assert two_nodes[0] - two_nodes[1] >= 0.99 * 32 * (15 + 2 + 14 * 2) * d_hop
    t8 = t.model_copy(update={"seq_len": 32768})
    one_node = [step_time(m, t8, _cands(1, 8), hw, framework=mc)["comm_cp"][0] for hw in (slow, fast)]
    assert one_node[0] == pytest.approx(one_node[1])


def test_selective_recompute_reruns_the_ring(catalog):
    """Megatron's selective recompute checkpoints the whole TE attention call, ring included."""
    m = _llama("llama2-7b")
    t = TrainingSpec(seq_len=65536, global_batch=1, precision="bf16", weights="megatron", recompute="none")
    mc, hw = stacks.resolve("megatron-core"), _hw(catalog, 8 * 400.0)
    none, sel = (step_time(m, t, _cands(1, 16, rc), hw, framework=mc)["comm_cp"][0] for rc in (0, 1))
    assert sel > none > 0


def test_load_balanced_ring_efficiency_against_ring_flash_attention(catalog):
    """ring-flash-attention README (long_context.csv ``ringfa_*``): a Llama-3.1-8B attention layer
    (32 q / 8 kv heads, d 128) over 64K tokens on 8 GPUs reaches 90% (zigzag, batch API, fwd+bwd,
    H800 and A100) of 8 x a single GPU's flash attention on its 8K chunk, 76-80% through the varlen
    API; an unbalanced ring 52-54%. Megatron-Core's load-balanced p2p ring with the same FA2 kernel
    (planner: attention + exposed exchange of one layer) must land in the load-balanced band, not
    at 100% and not near the unbalanced figure."""
    from benchmarks.parts_data import load

    rows = {r["id"]: r for r in load("long_context")}
    zigzag = [rows[f"ringfa_{api}_fwdbwd_{g}_zigzag_ring"]["efficiency_pct"] / 100
              for api in ("batch", "varlen") for g in ("h800", "a100")]
    unbalanced = max(rows[f"ringfa_batch_fwdbwd_{g}_ring_attn"]["efficiency_pct"] / 100 for g in ("h800", "a100"))
    m = _llama("llama3.1-8b", layers=1)
    fa2_ring = stacks.resolve("megatron-core").with_options()
    from dataclasses import replace

    fa2_ring = replace(fa2_ring, attn_kernel="fa2")
    hw = _hw(catalog, 8 * 400.0)

    def attn(seq, cp):
        tr = TrainingSpec(seq_len=seq, global_batch=1, precision="bf16", weights="megatron", recompute="none")
        o = step_time(m, tr, _cands(1, cp), hw, framework=fa2_ring)
        return o["compute_attention"][0] + o["comm_cp"][0]

    eff = 8 * attn(8192, 1) / attn(65536, 8)
    assert min(zigzag) - 0.02 < eff < 1.0
    assert eff > unbalanced + 0.2


# ------------------------------------------------------------------ PyTorch's ring (torchtitan CP)
def _chunks(rank, cp):
    """Round-robin load balancing (torch ``_RoundRobinLoadBalancer``): rank r holds global chunks
    r and 2 cp - 1 - r of the 2 cp equal chunks, in that order."""
    return (rank, 2 * cp - 1 - rank)


@pytest.mark.parametrize("cp", [2, 4, 8])
def test_torch_ring_calls_tile_the_causal_triangle_once(cp):
    """Mapping every call of ``comm.torch_ring_calls`` back to global chunks (step i holds the K/V
    of rank (r - i) mod cp; q_frac/k_frac 0.5 = the second / first local chunk as in the torch
    loop) must cover each (query chunk, key chunk) pair of the causal mask exactly once: the
    diagonal pairs inside causal calls, every pair below it in a full block, none above it."""
    from planner.model.comm import torch_ring_calls

    seen = {}
    for rank, i, qf, kf, causal in torch_ring_calls(cp):
        qs = _chunks(rank, cp) if qf == 1.0 else _chunks(rank, cp)[1:]
        src = _chunks((rank - i) % cp, cp)
        ks = src if kf == 1.0 else src[:1]
        for a in qs:
            for b in ks:
                if b > a:
                    assert causal and a in ks and b in ks, (rank, i, a, b)  # masked away inside a causal call
                    continue
                seen[(a, b)] = seen.get((a, b), 0) + 1
    want = {(a, b) for a in range(2 * cp) for b in range(a + 1)}
    assert set(seen) == want and set(seen.values()) == {1}


@pytest.mark.parametrize("cp", [2, 4, 8])
def test_torch_ring_profile_counts(cp):
    """cp calls per rank and pass (one causal), balanced work of S^2 / (2 cp) per rank — the causal
    triangle's S^2 / 2 over cp ranks, in units of the local (S / cp)^2: cp / 2 — and, without load
    balancing, the unbalanced ring of the torch docstring's note (rank 0 computes only its own
    chunk, the last rank all cp blocks)."""
    from planner.model.comm import torch_ring_calls, torch_ring_profile

    calls = torch_ring_calls(cp)
    for r in range(cp):
        mine = [c for c in calls if c[0] == r]
        assert len(mine) == cp and sum(c[4] for c in mine) == 1
        assert sum(q * k * (0.5 if c else 1.0) for _, _, q, k, c in mine) == pytest.approx(cp / 2)
    p = torch_ring_profile(cp)
    assert p["calls"] == cp and p["work"] == pytest.approx(cp / 2)
    # half-chunk calls: cp - 1 steps per rank, half of them with half the keys
    assert p["kv_read"] == pytest.approx(1 + (cp - 1) * 0.75) and p["q_read"] == p["kv_read"]
    unbalanced = torch_ring_calls(cp, load_balance=False)
    per_rank = [sum(1 for c in unbalanced if c[0] == r) for r in range(cp)]
    assert per_rank == list(range(1, cp + 1))


def test_torch_ring_keys_by_hand():
    """cp 2, in units of the local tokens: each rank runs its local causal call (work 0.5, all
    keys) and one non-causal call of work 0.5 — rank 0 on the second half of its queries against
    all received keys, rank 1 on all queries against the first half (0.5 of the keys). A kernel's
    time goes as work x (1 + s_half / keys), so the one key count with the same time is the
    work-weighted harmonic mean: 2 / (0.5 + 0.5 + 0.5 + 1.0) = 0.8."""
    from planner.model.comm import torch_ring_profile

    w = [0.5, 0.5, 0.5, 0.5]
    k = [1.0, 1.0, 1.0, 0.5]
    assert torch_ring_profile(2)["key_frac"] == pytest.approx(sum(w) / sum(a / b for a, b in zip(w, k)))


@pytest.mark.parametrize("cp", [2, 8])
def test_torch_ring_merge_bytes_call_by_call(cp):
    """physics.torch_ring_merge_bytes against a walk over the calls: per call the fp32 running
    buffers (output forward; dQ and dK/dV backward) are read and written whole and the call's
    partial (its queries or keys) read at 2 bytes; the forward's first call only upcasts its
    output; one downcast per buffer at the end. And more than the bf16 accounting TE's loop gets
    (physics.cp_merge_bytes), which keeps its running buffers at the activations' width."""
    from planner.model.comm import torch_ring_calls

    T, qw, kvw, acc, act = 1000.0, 64.0, 32.0, 4.0, 2.0
    fwd = bwd = 0.0
    for rank, i, qf, kf, _ in torch_ring_calls(cp):
        fwd += T * qw * (qf * act + (acc if i == 0 else 2 * acc)) / cp
        bwd += (T * qw * (2 * acc + qf * act) + T * kvw * (2 * acc + kf * act)) / cp
    fwd += T * qw * (acc + act)
    bwd += (T * qw + T * kvw) * (acc + act)
    f, b = physics.torch_ring_merge_bytes(T, qw, kvw, act, cp)
    assert (f, b) == (pytest.approx(fwd), pytest.approx(bwd))
    f_te, b_te = physics.cp_merge_bytes(T, qw, kvw, act, cp)
    assert f > f_te and b > b_te
    assert physics.torch_ring_merge_bytes(T, qw, kvw, act, 1) == (0.0, 0.0)
