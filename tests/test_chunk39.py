"""Interleaved pipelines hold their chunks unequally (chunk39, 2026-12-05).

Megatron-Core's interleaved schedule (pipeline_parallel/schedules.py ``forward_backward_pipelining_with_interleaving``)
runs its warm-up group by group from chunk 0 (``get_schedule_table``, ``get_model_chunk_id``), so at a rank's peak its
chunks hold different micro-batch counts; memory.stage_activations priced every chunk at (warm-up + 1) / v of the
rank's layers. A rank's activations are now the sum over its chunks of that chunk's held micro-batches x its own
layers' bytes (pipeline.chunk_inflight, memory_activations.chunk_activations). The replay below is written from the Megatron-Core
source independently of planner.model.pipeline; the heterogeneous checks walk stage_orders' op lists.
"""
from __future__ import annotations

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import memory_activations as MA
from planner.model import memory_stages as MS
from planner.model.pipeline import chunk_inflight, pipeline_split, split_runtime, stage_orders
from planner.model.stacks import from_training
from planner.spec import load_job_dict
from planner.spec.params import layer_kinds
from planner.vocab import SCHEDULE


def _megatron_replay(pp, m, v, rank, group, extra=0):
    """Megatron-Core's order, from schedules.py: get_schedule_table (groups of ``group`` micro-batches, each through
    chunks 0..v-1), get_pp_rank_microbatches' warm-up, forward k + warm-up then backward k, the backward chunk
    v - 1 - the table's. Returns the set of per-chunk held counts after each forward at the peak total."""
    table = []
    for lo in range(0, m, group):
        table += [(mb, ch) for ch in range(v) for mb in range(lo, min(lo + group, m))]
    total = m * v
    warm = min((pp - rank - 1) * 2 + (v - 1) * group + extra, total)
    held, seen = [0] * v, []
    for k in range(warm):
        held[table[k][1]] += 1
    if warm == total:
        seen.append(tuple(held))
    for k in range(total - warm):
        held[table[k + warm][1]] += 1
        seen.append(tuple(held))
        held[v - 1 - table[k][1]] -= 1
    top = max(map(sum, seen))
    return sorted({s for s in seen if sum(s) == top})


@pytest.mark.parametrize("pp,v,m,g", [(4, 2, 8, 4), (4, 2, 12, 6), (4, 3, 16, 4), (8, 4, 32, 8), (16, 8, 64, 16),
                                      (2, 8, 16, 2), (4, 2, 4, 4), (8, 2, 24, 12)])
def test_replay_matches_megatron_core_per_chunk(pp, v, m, g):
    """Every rank's per-chunk counts at its peaks; their total is inflight_microbatches' warm-up + 1. Since mbgroup45
    the schedule's turning states only (a subset of the replay's), which give every weighted max the replay gives
    (each chunk's most and fewest, and a chunk-bytes sum; tests/test_mbgroup45.py checks it on a grid)."""
    for rank in range(pp):
        got = chunk_inflight(pp, m, v, rank, g if g != pp else None).tolist()
        want = _megatron_replay(pp, m, v, rank, g)
        assert {tuple(int(x) for x in s) for s in got} <= set(want)
        for w in [np.eye(v)[j] for j in range(v)] + [-np.eye(v)[j] for j in range(v)] + [np.arange(1, v + 1)]:
            assert max(np.dot(s, w) for s in got) == max(np.dot(s, w) for s in want), w
        c = Candidates(tp=np.array([1]), pp=pp, dp=1, cp=1, ep=1, vpp=v, zero=1, mb=1, rc=0, sp=False,
                       schedule=SCHEDULE.code["interleaved"], gpus_per_node=8, nodes=pp)
        want = float(MS.inflight_microbatches(c, np.array([float(m)]), rank=rank, group=g)[0]) * v
        assert sum(got[0]) == pytest.approx(want)


def test_hand_counts():
    """PP4 VPP2 m 8 rank 0: 6 + 4 warm-up forwards and one, chunk 0 first (7, 4), then (8, 3) -- not 5.5 each; the
    last rank (4 warm-up): (4, 1), (5, 0); PP16 VPP8 m 64 rank 0 holds 31 or 32 of its 143 on chunk 0 (17.9 evenly)."""
    assert chunk_inflight(4, 8, 2, 0).tolist() == [[7, 4], [8, 3]]
    assert chunk_inflight(4, 8, 2, 3).tolist() == [[4, 1], [5, 0]]
    assert chunk_inflight(16, 64, 8, 0)[:, 0].max() == 32 and chunk_inflight(16, 64, 8, 0)[:, 0].min() == 31
    assert chunk_inflight(4, 8, 2, 0, extra=1).tolist() == [[8, 4]]  # the MoE all-to-all overlap's one more: chunk 0 full first


def _job(preset, pp, layout=None, layers=None):
    model = {"preset": preset, **({"layers": layers} if layers else {})}
    framework = {"name": "megatron-core", **({"pp_layout": layout} if layout else {})}
    return load_job_dict({"model": model,
                          "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "precision": "bf16",
                                       "recompute": "none", "tokens": 1e11, "framework": framework},
                          "parallel": {"tp": 1, "pp": pp, "dp": 8, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": pp}})


def _walk(m, st, pp, v, mm, byte_of, mtp=0.0):
    """Per rank, the peak over stage_orders' op list of sum over chunks of held x that chunk's bytes (``mtp`` more on
    the last rank's last chunk: the MTP depths)."""
    counts = pipeline_split(m.layers, pp, v, split_runtime(st, m))[1]
    edges = np.cumsum((0,) + tuple(counts))
    chunk = [[sum(byte_of(i) for i in range(edges[j * pp + r], edges[j * pp + r + 1])) for j in range(v)]
             for r in range(pp)]
    chunk[pp - 1][v - 1] += mtp
    out = []
    for r, ops in enumerate(stage_orders("interleaved", pp, mm, v)):
        cur = peak = 0.0
        for kind, _, ch in ops:
            cur += chunk[r][ch] if kind == "F" else -chunk[r][ch]
            peak = max(peak, cur)
        out.append(peak)
    return out


def _acts(j, pp, v, mm, kinds=None):
    m, st = j.model, from_training(j.training)
    c = Candidates(tp=np.array([1]), pp=pp, dp=8, cp=1, ep=1, vpp=v, zero=1, mb=1, rc=0, sp=False,
                   schedule=SCHEDULE.code["interleaved"], gpus_per_node=8, nodes=pp)
    one = np.array([1.0])
    got = MA.rank_activations(m, st, c, np.array([float(mm)]), np.array([float(mm)]), one, 0.0 * one, 0.0 * one,
                              kinds)
    return got.first, got.last


@pytest.mark.parametrize("layers,pp,v,mm", [(30, 4, 2, 8), (126, 16, 8, 64), (46, 4, 3, 16)])
def test_uneven_chunks_layer_counts(layers, pp, v, mm):
    """Chunks of unequal layer counts (Megatron-Core's uneven split): rank 0 and the last rank at their walked
    peaks (layer-micro-batches), "first" the larger of rank 0 and rank 1 (the middle ranks' bound)."""
    j = _job("llama3-8b", pp, layers=layers)
    first, last = _acts(j, pp, v, mm)
    walked = _walk(j.model, from_training(j.training), pp, v, mm, lambda i: 1.0)
    assert float(last[0]) == pytest.approx(walked[-1])
    assert float(first[0]) == pytest.approx(max(walked[0], walked[1] if pp > 2 else 0.0))
    assert max(walked[1:-1] or [0.0]) <= float(first[0]) + 1e-9


def test_deepseek_v3_first_chunk_dense_layers_move_the_peak():
    """DeepSeek-V3 (3 dense, 58 MoE) on PP4 VPP4, m 32: its dense layers sit in rank 0's chunk 0, which holds the
    most micro-batches; at dense 1 and MoE 3 bytes a layer the walked peaks match, and rank 0's differs from the even
    spread's (the figure before chunk39)."""
    j = _job("deepseek-v3", 4)
    kinds = {"dense": np.array([1.0]), "moe": np.array([3.0])}
    lk = layer_kinds(j.model)
    first, last = _acts(j, 4, 4, 32, kinds)
    walked = _walk(j.model, from_training(j.training), 4, 4, 32, lambda i: 1.0 if lk[i] == "dense" else 3.0)
    assert float(first[0]) == pytest.approx(max(walked[0], walked[1]))
    mtp = j.model.mtp_layers * 3.0
    # the last rank with the MTP depth on its last chunk, which holds 0 or 1 micro-batches at the peak
    with_mtp = _walk(j.model, from_training(j.training), 4, 4, 32, lambda i: 1.0 if lk[i] == "dense" else 3.0, mtp)
    assert float(last[0]) == pytest.approx(with_mtp[-1])
    st = from_training(j.training)
    c = Candidates(tp=np.array([1]), pp=4, dp=8, cp=1, ep=1, vpp=4, zero=1, mb=1, rc=0, sp=False,
                   schedule=SCHEDULE.code["interleaved"], gpus_per_node=8, nodes=4)
    lm0, lm1, lm_last, last_in = MS.stage_layer_microbatches(j.model.layers, c, np.array([32.0]), False, st, j.model)
    w0, w1, wl = MA.stage_kind_bytes(j.model, st, c, kinds)
    even0 = float(lm0[0] * w0[0])
    assert walked[0] != pytest.approx(even0)
    assert float(last[0]) != pytest.approx(float(lm_last[0] * wl[0] + mtp * last_in[0]))


def test_equal_chunks_keep_the_old_figure_bit_for_bit():
    """32 layers on PP4 VPP2 (4 a chunk), the mean layer: the even spread is the sum, the figure unchanged."""
    j = _job("llama3-8b", 4)
    st = from_training(j.training)
    c = Candidates(tp=np.array([1]), pp=4, dp=8, cp=1, ep=1, vpp=2, zero=1, mb=1, rc=0, sp=False,
                   schedule=SCHEDULE.code["interleaved"], gpus_per_node=8, nodes=4)
    first, last = _acts(j, 4, 2, 32)
    lm0, lm1, lm_last, _ = MS.stage_layer_microbatches(j.model.layers, c, np.array([32.0]), False, st, j.model)
    assert float(first[0]) == float(np.maximum(lm0 * 1.0, lm1 * 1.0)[0])
    assert float(last[0]) == float(lm_last[0] * 1.0)
