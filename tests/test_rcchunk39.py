"""The balanced split judged by its chunks, and partial recompute chunk by chunk (rcchunk39, 2026-12-05).

1. pipeline.split_cost priced an interleaved rank's layers at the even spread (every chunk (warm-up + 1) / v
   micro-batches), blind to which chunk holds a rank's extra layer; it now sums each chunk's layers x the counts
   pipeline.chunk_inflight replays (the sum memory_activations.chunk_activations reports), and balanced_counts puts a rank's extra
   layers on its later chunks (pipeline.chunk_spread), which hold the fewest.
2. Megatron-Core's ``--recompute-method block --recompute-num-layers N`` runs per model chunk (transformer_block.py:
   each chunk its own TransformerBlock, ``num_layers_per_pipeline_rank = len(self.layers)``, ``_checkpointed_forward``
   over those layers); memory_activations.chunk_activations now prices each chunk's own first N layers, by kind, held by that
   chunk's micro-batches. The hand counts below walk
   stage_orders' op lists with each chunk's bytes written out from the Megatron loop, independently of the planner.
"""
from __future__ import annotations

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import memory_activations as MA
from planner.model import memory_stages as MS
from planner.model.pipeline import (BalancedSplit, balanced_counts, chunk_inflight, layout_counts, pipeline_split,
                                    rank_sums, split_cost, split_runtime, stage_orders)
from planner.model.stacks import from_training
from planner.spec import load_job_dict
from planner.spec.params import layer_kinds
from planner.vocab import SCHEDULE


def _rank_peak(stages, pp, v, r, m=None):
    """rank r's most layer-micro-batches over stage_orders' op list (each chunk its own layers)."""
    m = m or 2 * pp
    cur = top = 0
    for kind, _, ch in stage_orders("interleaved", pp, m, v)[r]:
        cur += stages[ch * pp + r] if kind == "F" else -stages[ch * pp + r]
        top = max(top, cur)
    return top


def test_split_cost_sums_each_chunk():
    """PP4 VPP2, 29 layers: Megatron's layout (3, 4, 4, 4 | 4, 4, 3, 3) against ranks (7, 8, 8, 6) with the extra
    layer first: rank 0 holds (7, 4) / (8, 3) micro-batches, so 4 + 3 layers hold 41 (8 x 4 + 3 x 3), 3 + 4 layers 37
    (7 x 3 + 4 x 4; the walk's);
    the even spread read every 7-layer rank 0 as 7 x 5.5 = 38.5."""
    w = BalancedSplit(1.1, 0.08, 1.1)
    meg = layout_counts(29, 8)
    assert meg == (3, 4, 4, 4, 4, 4, 3, 3)
    ranks = tuple(int(x) for x in rank_sums(meg, 4, 2))
    first = (4, 4, 4, 3, 3, 4, 4, 3)  # (7, 8, 8, 6), each rank's extra layer on chunk 0
    for st in (meg, first):
        walked = max(_rank_peak(st, 4, 2, r) for r in range(4))
        got = split_cost(tuple(int(x) for x in rank_sums(st, 4, 2)), 4, w, 2, st)[1]
        assert got == walked
    assert split_cost(ranks, 4, w, 2, meg)[1] == 37 and _rank_peak(first, 4, 2, 0) == 41


def test_balanced_split_puts_extra_layers_late():
    """DeepSeek-V3 PP4 VPP4: the lighter pace (15, 16, 16, 14) is kept, rank 0's chunks (3, 4, 4, 4) at 69
    layer-micro-batches (the default's); with its extra layer first, (4, 4, 4, 3), it would hold 76 -- over the
    default's fullest rank -- which the even spread (71.25 both) could not see."""
    w = BalancedSplit(4.3, 0.08, 1.1)
    c = balanced_counts(61, 4, w, layout_counts(61, 16), vpp=4)
    assert tuple(sum(c[r::4]) for r in range(4)) == (15, 16, 16, 14)
    assert c[0::4] == (3, 4, 4, 4) and c[3::4] == (4, 4, 3, 3)
    assert _rank_peak(c, 4, 4, 0) == 69
    assert _rank_peak((4,) * 11 + (3, 3, 4, 4, 3), 4, 4, 0) == 76
    assert max(_rank_peak(layout_counts(61, 16), 4, 4, r) for r in range(4)) == 69


def test_a_chosen_split_changes():
    """DeepSeek-V3 (its BalancedSplit) on PP8 VPP3: ranks (7, 8 x 6, 6) before, (8 x 7, 5) now -- rank 0's extra layer
    on its last chunk holds no more than Megatron's layout, and the pace's last rank (5 + head) is lighter."""
    job = load_job_dict({"model": {"preset": "deepseek-v3"},
                         "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "precision": "bf16",
                                      "recompute": "full", "tokens": 1e11, "framework": {"name": "megatron-core"}},
                         "parallel": {"tp": 1, "pp": 8, "vpp": 3, "dp": 16, "ep": 16, "zero": 1},
                         "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 16}})
    rt = split_runtime(from_training(job.training), job.model)
    form, c = pipeline_split(61, 8, 3, rt)
    assert form == "balanced" and [sum(c[r::8]) for r in range(8)] == [8] * 7 + [5]
    meg = pipeline_split(61, 8, 3, "megatron")[1]
    assert _rank_peak(c, 8, 3, 0) <= max(_rank_peak(meg, 8, 3, r) for r in range(8))


# ---- partial recompute per chunk ------------------------------------------------------------------------------

FULL = {"dense": 0.25, "moe": 0.5}  # a checkpointed layer keeps its input
NONE = {"dense": 1.0, "moe": 3.0}   # a plain layer keeps everything


def _job(preset, pp, v, layers=None):
    model = {"preset": preset, **({"layers": layers} if layers else {})}
    return load_job_dict({"model": model,
                          "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "precision": "bf16",
                                       "recompute": "full", "tokens": 1e11, "framework": {"name": "megatron-core"}},
                          "parallel": {"tp": 1, "pp": pp, "vpp": v, "dp": 8, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": pp}})


def _chunk_bytes(kinds_of, lo, hi, n):
    """One chunk's saves from Megatron's block loop: layer l < n checkpointed (its input), the rest everything."""
    return sum(FULL[kinds_of(layer)] if i < n else NONE[kinds_of(layer)] for i, layer in enumerate(range(lo, hi)))


def _walk(m, st, pp, v, mm, n, kinds_of):
    counts = pipeline_split(m.layers, pp, v, split_runtime(st, m))[1]
    edges = np.cumsum((0,) + tuple(counts))
    out = []
    for r, ops in enumerate(stage_orders("interleaved", pp, mm, v)):
        ch = [_chunk_bytes(kinds_of, edges[j * pp + r], edges[j * pp + r + 1], n) for j in range(v)]
        cur = top = 0.0
        for kind, _, c in ops:
            cur += ch[c] if kind == "F" else -ch[c]
            top = max(top, cur)
        out.append(top)
    return out


def _acts(j, pp, v, mm, method, n, kinds, rebuilt=True):
    """(rank 0, the middle ranks' bound, the last rank) as memory reports them: chunk_activations' sums, or where it
    leaves a rank to the even spread, its layer-micro-batches x its mean layer (rank_activations' figure)."""
    m, st = j.model, from_training(j.training)
    c = Candidates(tp=np.array([1]), pp=pp, dp=8, cp=1, ep=1, vpp=v, zero=1, mb=1, rc=2, sp=False,
                   schedule=SCHEDULE.code["interleaved"], gpus_per_node=8, nodes=pp,
                   rn=np.array([n if method == "block" else 0]), rg=np.array([n if method == "uniform" else 0]))
    one = np.array([1.0])
    # the mean layer's mix (memory_activations._partial_recompute_saves), as transformer_activations hands it over
    cm = int(np.ceil(m.layers / (pp * v)))
    if method == "block":
        f = min(n, cm) / cm
        mixed = {q: one * (f * FULL[q] + (1 - f) * NONE[q]) for q in kinds}
    else:
        mixed = {q: one * (np.ceil(cm / min(n, cm)) / cm * FULL[q]) for q in kinds}
    if kinds == ("dense",):  # one kind: the mean layer
        per, kk = mixed["dense"], None
        reb = (lambda: ({"": one * FULL["dense"]}, {"": one * NONE["dense"]})) if rebuilt else None
        w = (per,) * 3
    else:
        per, kk = one, mixed
        reb = (lambda: ({q: one * FULL[q] for q in kinds}, {q: one * NONE[q] for q in kinds})) if rebuilt else None
        w = MA.stage_kind_bytes(m, st, c, mixed)
    _, a0, a1, al, e0, e1, el = MA.chunk_activations(m, st, c, np.array([float(mm)]), False, per, kk, 0.0, None, reb)
    lm = MS.stage_layer_microbatches(m.layers, c, np.array([float(mm)]), False, st, m)[:3]
    return [float((lm_ * w_)[0]) if e[0] else float(a[0]) for a, e, lm_, w_ in zip((a0, a1, al), (e0, e1, el), lm, w)]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_deepseek_v3_chunks_recompute_their_own_first_layers(n):
    """DeepSeek-V3 (3 dense, 58 MoE; its MTP depth off) on PP4 VPP4, m 32: chunks of 3 and 4 layers, rank 0's first
    holding the dense ones; each rank at the walk of Megatron's per-chunk loop (rank 0 / the middle bound / the
    last), and rank 0 off the figure the rank's recomputed share gave."""
    j = _job("deepseek-v3", 4, 4)
    j.model.mtp_layers = 0
    lk = layer_kinds(j.model)
    st = from_training(j.training)
    walked = _walk(j.model, st, 4, 4, 32, n, lambda i: lk[i])
    new = _acts(j, 4, 4, 32, "block", n, ("dense", "moe"))
    assert new == pytest.approx([walked[0], walked[1], walked[3]])
    old = _acts(j, 4, 4, 32, "block", n, ("dense", "moe"), rebuilt=False)
    assert old[0] != pytest.approx(walked[0])


@pytest.mark.parametrize("layers,pp,v,mm,n", [(30, 4, 2, 8, 2), (46, 4, 3, 16, 3), (126, 16, 4, 64, 1)])
def test_uneven_chunks_block(layers, pp, v, mm, n):
    """Megatron's uneven split of one kind: a chunk of fewer layers than the fullest still checkpoints its first N
    (30 on PP4 VPP2: chunks of 3 and 4, N 2 re-runs 2 of 3, not 1.5)."""
    j = _job("llama3-8b", pp, v, layers=layers)
    st = from_training(j.training)
    walked = _walk(j.model, st, pp, v, mm, n, lambda i: "dense")
    new = _acts(j, pp, v, mm, "block", n, ("dense",))
    assert new == pytest.approx([walked[0], walked[1], walked[-1]])
    old = _acts(j, pp, v, mm, "block", n, ("dense",), rebuilt=False)
    assert old != pytest.approx(new)


def test_equal_chunks_keep_the_figure_bit_for_bit():
    """32 layers on PP4 VPP2 (4 a chunk, one kind), block 2 / 5: every chunk takes the share, the figure is the one
    before, bit for bit; uniform keeps the fullest chunk's share (memory_activations.chunk_activations)."""
    j = _job("llama3-8b", 4, 2, layers=32)
    for method, n in (("block", 2), ("block", 5), ("uniform", 2), ("uniform", 3)):
        assert _acts(j, 4, 2, 32, method, n, ("dense",)) == _acts(j, 4, 2, 32, method, n, ("dense",), rebuilt=False)
