"""speed44: the search prices a middle pipeline rank only where it can beat rank 0.

``memory_per_gpu`` without ``ranks`` (the search) reads the peak rank class only, so a middle rank that provably
holds no more than rank 0 (``memory_activations.middle_settled``: rank 0 holds every layer it holds, chunk by chunk, and at least
its micro-batches in flight) is not priced, and a further middle rank (``middle_activations``' groups past the
first) is priced on the rows that have one only. With ``ranks`` every middle rank is priced on every row (the exact
path ``rank_memory`` reads). The two must give every shared column bit for bit, on the rows the search hands the
model: uneven splits, VPP, GPipe, MoE + dense layer mixes with MTP, a hybrid, 16-bit kept fp8 layers, Muon, block
recompute probes.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from planner.hardware.options import option_from_instance
from planner.model import memory as M
from planner.model import memory_activations as MA
from planner.model.pipeline import chunk_layers
from planner.model.stacks import from_training
from planner.search.space import space_for, stack_groups
from planner.spec import load_job_dict
from planner.vocab import RECOMPUTE
from hardware_catalog import load_catalog

FULL = RECOMPUTE.code["full"]
DSV3_PP16 = "Et*4|(t*4|)*14tmL"  # Megatron-Bridge's DeepSeek-V3 layout (tests/test_mem43b.py)

#: (preset, training overrides, parallel overrides): a dense model's uneven splits and VPP, 16-bit kept fp8 layers,
#: Muon, MoE + dense layers with an MTP depth (the balanced split and Megatron-Bridge's layout), a hybrid, torchtitan
SETTINGS = (
    ("llama3-70b", {}, {}),
    ("llama3-70b", {"precision": "fp8", "framework": {"name": "megatron-core", "fp8_recipe": "tensorwise",
                                                      "first_last_layers_bf16": True, "lp_bf16_first_layers": 3}}, {}),
    ("llama3-8b", {"optimizer": "muon"}, {}),
    ("llama3.1-405b", {"framework": {"name": "torchtitan"}}, {}),
    ("deepseek-v3", {}, {}),
    ("deepseek-v3", {"framework": {"name": "megatron-core", "pp_layout": DSV3_PP16}}, {"pp": 16}),
    ("nemotron-h-8b", {}, {}),
    ("llama3-70b", {}, {"schedule": "gpipe"}),
)


@lru_cache(maxsize=None)
def _hw():
    return option_from_instance(load_catalog().instance("aws:p5.48xlarge"))


def _rows(i: int):
    """(job, the stack, rows) of setting ``i``: a random 1,500 of the search's space, and its full-recompute rows
    again at a random block N (recommend's probes)."""
    preset, training, parallel = SETTINGS[i]
    job = load_job_dict({"model": {"preset": preset},
                         "training": {"seq_len": 4096, "global_batch": 512, "tokens": 1e10, **training},
                         "parallel": parallel, "constraints": {"max_gpus": 512}})
    grp = next(g for g in stack_groups(job, [_hw().gpu]) if not g.refused)
    c = space_for(grp.job, _hw())
    rng = np.random.default_rng(44 + i)
    c = c.take(rng.permutation(len(c))[:1500])
    probe = c.take(np.flatnonzero((c.rc == FULL) & (c.rn == 0) & (c.rg == 0)))
    probe.rn = 1 + (rng.random(len(probe)) * chunk_layers(job.model.layers, probe.pp, probe.chunks)).astype(np.int64)
    return grp.job, grp.variants[0].stack, c, probe


@pytest.mark.parametrize("i", range(len(SETTINGS)))
def test_search_path_gives_the_exact_path_bits(i):
    """Every column ``memory_per_gpu`` gives the search equals the exact path's (``ranks``), and on the rows the
    bound settles for a middle rank the exact figures put that rank at or under rank 0's total."""
    job, stack, *batches = _rows(i)
    m, t = job.model, job.training
    st = from_training(t, stack, m)
    counts = np.zeros(3, dtype=np.int64)
    for c in batches:
        if not len(c):
            continue
        fast = M.memory_per_gpu(m, t, c, stack=stack, gpu=_hw().gpu.name)
        exact = M.memory_per_gpu(m, t, c, stack=stack, gpu=_hw().gpu.name, ranks=True)
        for k, v in fast.items():
            assert np.array_equal(np.broadcast_to(v, (len(c),)), np.broadcast_to(exact[k], (len(c),)),
                                  equal_nan=True), k
        told = np.isfinite(exact["middle_total"])
        for g in range(MA.middle_groups(m, st, c)):
            ours = told & MA.middle_settled(m, st, c, g) & (exact["middle_rank"] == MA.middle_rank_of(m, st, c, g)[0])
            assert (exact["middle_total"][ours] <= exact["rank0_total"][ours]).all()
            counts[0] += ours.sum()
        counts[1] += (exact["stage"] == M.PEAK_STAGES.index("middle")).sum()
        counts[2] += told.sum()
    assert counts[2] > 0  # rows with a middle rank: the comparison reaches the path this pass changed


def test_the_cases_reach_both_outcomes():
    """Not vacuous: over the settings some rows are settled by the bound and on others a middle rank holds the peak
    (a bound that settled those would give rank 0's figures there and fail the test above)."""
    settled = wins = 0
    for i in (0, 4, 6):
        job, stack, c, _ = _rows(i)
        st = from_training(job.training, stack, job.model)
        settled += MA.middle_settled(job.model, st, c, 0).sum()
        got = M.memory_per_gpu(job.model, job.training, c, stack=stack, gpu=_hw().gpu.name)
        wins += (got["stage"] == M.PEAK_STAGES.index("middle")).sum()
    assert settled > 0 and wins > 0


def test_rank0_covers_chunk_by_chunk():
    """``_rank0_covers``: rank 0 holds every layer of a rank (same signature) on each chunk, not just as many."""
    a, b = ("a", 1.0, 0.0, False), ("b", 2.0, 0.0, False)
    # pp 3, one chunk: rank 0 (a, a, b), rank 1 (a, b), rank 2 (b, b)
    assert MA._rank0_covers((a, a, b, a, b, b, b), 3, 1, (3, 2, 2)) == (True, True, False)
    # pp 3, two chunks a rank: rank 1's first chunk (b) is not in rank 0's (a), though rank 0 holds a b later
    sig = (a, b, a, b, b, a)
    assert MA._rank0_covers(sig, 3, 2, (1, 1, 1, 1, 1, 1))[1] is False
    assert MA._rank0_covers(sig, 3, M.V_SPLIT, (1, 1, 1, 1, 1, 1)) == (False,) * 3
