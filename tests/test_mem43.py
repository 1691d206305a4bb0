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
    dense, exp = M.layer_params(j.model)
    counts = pipeline_split(j.model.layers, pp, 1, "megatron")[1]
    start = np.concatenate([[0], np.cumsum(counts)])

    def own(k):
        return dense[start[k]:start[k + 1]].sum() + exp[start[k]:start[k + 1]].sum()
    mid = int(got["middle_rank"][0])
    assert 0 < mid < pp - 1
    assert got["rank0_weights"][0] == pytest.approx(2.0 * (own(0) + count_params(j.model).embedding), rel=1e-9)
    assert got["middle_weights"][0] == pytest.approx(2.0 * own(mid), rel=1e-9)
    assert own(mid) == max(own(k) for k in range(1, pp - 1))  # the heaviest middle rank
