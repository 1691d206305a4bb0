"""mem43: the search fits the per-rank peak the plan prints, not a paired total.

Until mem43 ``memory_per_gpu``'s "first" stage (what the search fits) paired the states of the heaviest rank before
the last *by parameters* with the peak of rank 0's and the middle ranks' activations, while ``rank_memory`` (the
printed plan's ``memory_per_rank``) priced each rank class on its own. The pairing was no bound either way: over
where the heaviest rank's states sat beside another rank's activations (a hybrid's embedding, 8.6 GiB of fp32 master
and Adam state on Nemotron-H 8B at ZeRO 0, beside a 7-block middle rank's activations), under where the heaviest by
parameters was not the heaviest by bytes (an MoE model's experts keep their optimizer over the smaller expert
data-parallel group: DeepSeek-V3 on Megatron-Bridge's PP8 layouts, rank 0's embedding beside MoE middle ranks, 3.98
GiB under on B200). ``memory.peak_rank_class`` now makes "first" the larger of rank 0's and the middle rank's own
totals, so the two agree on every row.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import memory as M
from planner.model import memory_stages as MS
from planner.model.pipeline import pipeline_split
from planner.spec import load_job_dict
from planner.spec.params import count_params
from planner.vocab import SCHEDULE

GiB = 2**30


def _job(preset, ep=1, framework=None):
    return load_job_dict({"model": {"preset": preset},
                          "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                                       "recompute": "selective", "tokens": 1e11,
                                       "framework": {"name": "megatron-core", **(framework or {})}},
                          "parallel": {"tp": 1, "pp": 4, "dp": 8, "ep": ep, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 4}})


def _grid(ep=1):
    """1F1B layouts over pp 3-16 (every one with a middle rank), TP 1-8, each recompute, micro-batch 1-2, ZeRO 0-1."""
    rows = np.array([(tp, pp, rc, mb, z) for pp, tp, rc, mb, z in
                     itertools.product([3, 4, 6, 8, 16], [1, 2, 4, 8], [0, 1, 2], [1, 2], [0, 1])])
    return Candidates(tp=rows[:, 0], pp=rows[:, 1], dp=8, cp=1, ep=ep, vpp=1, zero=rows[:, 4], mb=rows[:, 3],
                      rc=rows[:, 2], sp=rows[:, 0] > 1, schedule=SCHEDULE.code["1f1b"], gpus_per_node=8,
                      nodes=rows[:, 0] * rows[:, 1])


@pytest.mark.parametrize("preset,ep", [("nemotron-h-8b", 1), ("nemotron-3-nano-30b-a3b", 1), ("llama3.1-405b", 1),
                                       ("deepseek-v3", 8)])
def test_the_searched_total_is_the_peak_ranks_own(preset, ep):
    """On every layout the search's call (``memory_per_gpu`` without ``ranks``) gives the total of the rank that
    peaks, rank 0, the heaviest middle rank or the last, each its own states beside its own activations, and its
    parts are that rank's. On main 128 of Nemotron-H 8B's 240 layouts were paired, up to 9.0 GiB over (TP1 PP8,
    no recompute, ZeRO 0: rank 0's embedding state beside the middle ranks' activations), 96 of Llama 3.1 405B's."""
    j = _job(preset, ep)
    c = _grid(ep)
    fit = M.memory_per_gpu(j.model, j.training, c, gpu="H100-SXM-80GB")
    got = M.memory_per_gpu(j.model, j.training, c, gpu="H100-SXM-80GB", ranks=True)
    classes = np.stack([got["rank0_total"], got["middle_total"], got["last_total"]])
    assert np.array_equal(fit["total"], np.nanmax(classes, axis=0))
    peak = np.nanargmax(classes, axis=0)
    for k in ("weights", "grads", "optimizer", "activations"):  # the peak rank's own parts (first of equals)
        own = np.choose(peak, [np.nan_to_num(got[f"{n}_{k}"]) for n in ("rank0", "middle", "last")])
        assert np.array_equal(fit[k], own), k


@pytest.mark.parametrize("preset,pp", [("nemotron-h-8b", 8), ("nemotron-h-56b", 8), ("nemotron-3-nano-30b-a3b", 4),
                                       ("llama3.1-405b", 16)])
def test_each_rank_holds_its_own_blocks_and_rank_0_the_embedding(preset, pp):
    """The per-rank breakdown on hybrids (Mamba / attention / MLP / MoE blocks) and on an uneven split whose ends
    are one layer short (Llama 3.1 405B's 126 on PP16, 7 + 14 x 8 + 7): rank 0's weights are its own blocks and the
    embedding, the middle rank's its own blocks only (no embedding beside them), at 2 B a parameter (bf16, TP 1)."""
    j = _job(preset)
    c = Candidates(tp=np.array([1]), pp=pp, dp=8, cp=1, ep=1, vpp=1, zero=1, mb=1, rc=1, sp=False,
                   schedule=SCHEDULE.code["1f1b"], gpus_per_node=8, nodes=pp)
    got = M.memory_per_gpu(j.model, j.training, c, gpu="H100-SXM-80GB", ranks=True)
    dense, exp = MS.layer_params(j.model)
    counts = pipeline_split(j.model.layers, pp, 1, "megatron")[1]
    start = np.concatenate([[0], np.cumsum(counts)])

    def own(k):
        return dense[start[k]:start[k + 1]].sum() + exp[start[k]:start[k + 1]].sum()
    mid = int(got["middle_rank"][0])
    assert 0 < mid < pp - 1
    assert got["rank0_weights"][0] == pytest.approx(2.0 * (own(0) + count_params(j.model).embedding), rel=1e-9)
    assert got["middle_weights"][0] == pytest.approx(2.0 * own(mid), rel=1e-9)
    # the middle rank whose own total peaks (mem43b; until then the heaviest by parameters, here rank 3 of
    # Nemotron-H 8B's PP8, beside rank 1's micro-batches in flight): no earlier middle rank holds as much
    assert all(own(k) < own(mid) for k in range(1, mid))


# -- combined 1F1B (the MoE all-to-all overlap): a pair holds one layer of its forward, not the forward's chunk --

def reenact_combined(chunk_layers, pp: int, rank: int, m: int, group: int | None = None) -> float:
    """Layers x micro-batches rank ``rank`` holds at its peak under Megatron-Core's combined 1F1B, walked layer by
    layer: the interleaved warm-up with the overlap's one extra forward (pipeline_parallel/schedules.py
    ``get_pp_rank_microbatches``: ``(pp - rank - 1) * 2 + (v - 1) * g`` + 1), then each steady step one pair,
    forward of virtual micro-batch warm + k on chunk ``(k % (g v)) // g`` and backward k on ``v - 1`` minus that
    chunk, run as models/common/model_chunk_schedule_plan.py ``TransformerModelChunkSchedulePlan.run`` does: phase i
    runs forward layer i beside backward layer n_b - 1 - i and releases that backward layer after the phase; the
    layers left over (backward first, then forward) one at a time."""
    v = len(chunk_layers)
    g = pp if group is None else group
    total = m * v
    warm = min((pp - rank - 1) * 2 + (v - 1) * g + 1, total)

    def chunk(k):
        return (k % (g * v)) // g

    held = peak = 0.0
    for k in range(warm):
        held += chunk_layers[chunk(k)]
        peak = max(peak, held)
    for k in range(total - warm):
        nf, nb = chunk_layers[chunk(k + warm)], chunk_layers[v - 1 - chunk(k)]
        for i in range(max(nf, nb)):
            if i < nf:
                held += 1
            peak = max(peak, held)
            if i < nb:
                held -= 1
    return peak


def _interleaved(pp, v, m):
    return Candidates(tp=np.array([1]), pp=pp, dp=1, cp=1, ep=8, vpp=v, zero=1, mb=1, rc=0, sp=False,
                      schedule=SCHEDULE.code["interleaved"], gpus_per_node=8, nodes=pp), np.array([float(m)])


@pytest.mark.parametrize("pp,v,m,per_chunk", [(4, 2, 8, 4), (4, 4, 16, 2), (8, 2, 32, 3), (16, 4, 64, 1),
                                              (2, 8, 8, 2), (4, 2, 4, 4)])
def test_combined_1f1b_holds_one_layer_of_the_pair(pp, v, m, per_chunk):
    """Even chunks (``stage_layer_microbatches``, the even spread): rank 0, rank 1 and the last hold the walked peak,
    the warm-up's chunks and one layer of the pair's forward; until mem43 the forward's whole chunk (PP4 VPP2 m 8,
    4 layers a chunk: rank 0 11 chunks + 1 layer = 45 layer-micro-batches, not 12 chunks = 48). Where every forward
    is in the warm-up (m 4 on PP4 VPP2, rank 0) nothing pairs and every chunk is held."""
    from planner.model.memory_stages import stage_layer_microbatches

    c, mm = _interleaved(pp, v, m)
    r0, r1, last, _ = stage_layer_microbatches(pp * v * per_chunk, c, mm, a2a_overlap=True)
    want = [reenact_combined([per_chunk] * v, pp, r, m) for r in (0, 1, pp - 1)]
    assert [float(r0[0]), float(r1[0]) if pp > 2 else want[1], float(last[0])] == want


@pytest.mark.parametrize("pp,v,m,layers", [(4, 2, 8, (4, 3)), (4, 4, 16, (2, 3, 2, 2)), (16, 4, 64, (2, 1, 2, 2)),
                                           (8, 2, 24, (7, 8))])
def test_paired_states_price_uneven_chunks_as_walked(pp, v, m, layers):
    """Uneven chunks (``chunk_activations`` reads ``pipeline.chunk_inflight_paired``: each state before a pair and
    the pair's forward chunk): the largest of each state's chunk counts x the chunk's layers, plus one layer where a
    pair runs, is the walked peak on every rank (chunks one layer apart, as Megatron's splits put them)."""
    from planner.model.pipeline import chunk_inflight_paired

    for rank in range(pp):
        h = chunk_inflight_paired(pp, m, v, rank)
        got = max(float(np.dot(x[:v], layers)) + (x[v] >= 0) for x in h)
        assert got == reenact_combined(list(layers), pp, rank, m), rank


@pytest.mark.parametrize("m,want", [(8, 62), (1, 61)])
def test_combined_1f1b_without_pipelining_holds_one_layer_more(m, want):
    """One stage (combined_1f1b.py ``combined_1f1b_schedule_for_no_pipelining``: "Phases 1: 1st microbatch backward +
    2nd microbatch forward"): a micro-batch's 61 layers and one layer of the next one's forward; with one
    micro-batch nothing pairs."""
    from planner.model.memory_stages import stage_layer_microbatches

    c = Candidates(tp=np.array([1]), pp=1, dp=8, cp=1, ep=8, vpp=1, zero=1, mb=1, rc=0, sp=False,
                   schedule=SCHEDULE.code["1f1b"], gpus_per_node=8, nodes=1)
    r0, _, last, _ = stage_layer_microbatches(61, c, np.array([float(m)]), a2a_overlap=True)
    assert float(r0[0]) == float(last[0]) == want
