"""mem43b: what mem43 left in the per-rank memory.

(1) ``memory_per_gpu_bytes.most_loaded_stage`` (and the text's "most loaded rank" caption) said "first" where the
heaviest middle rank holds the peak, beside ``memory_per_rank.peak_stage`` "middle": both now read one column,
``memory_per_gpu``'s ``stage`` (``memory.PEAK_STAGES``), and "middle" is a new value of the first.
(2) The middle rank class is its own rank's total: its states beside its own layers x its own micro-batches in flight
(1F1B: pp - r, Megatron-Core schedules.py ``num_warmup_microbatches = pipeline_parallel_size -
pipeline_parallel_rank - 1`` and one steady forward; Narayanan et al. 2021 §2.2), the largest over the middle ranks.
(3) Plain 1F1B at pp > 1 with the MoE all-to-all overlap: refused (stack rule ``a2a-overlap-pp-vpp``), nothing to
price.
"""
from __future__ import annotations

import numpy as np
import pytest

from planner.model import memory as M
from planner.model import memory_activations as MA
from planner.present.terminal import memory_table
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

GiB = 2**30
DSV3_PP16 = "Et*4|(t*4|)*14tmL"  # Megatron-Bridge's DeepSeek-V3 layout (B200 PP 8 VPP 2, H100 PP 16)


def _dsv3(pp, vpp, gpu):
    par = {"tp": 1, "pp": pp, "dp": 8, "ep": 8, "zero": 1, **({"vpp": vpp} if vpp > 1 else {})}
    return load_job_dict({"model": {"preset": "deepseek-v3"},
                          "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                                       "recompute": "full", "tokens": 1e11,
                                       "framework": {"name": "megatron-core", "pp_layout": DSV3_PP16}},
                          "parallel": par, "cluster": {"gpu": gpu, "gpus_per_node": 8, "nodes": pp}})


def test_most_loaded_stage_names_the_middle_rank_that_peaks():
    """DeepSeek-V3 on Megatron-Bridge's B200 PP 8 VPP 2 layout (EP 8): a middle rank of MoE layers holds more
    optimizer state than rank 0's embedding and the peak is its (mem43's example); the plan's ``most_loaded_stage``
    said "first" there until mem43b, beside ``memory_per_rank``'s "middle"."""
    plan = estimate_job(_dsv3(8, 2, "B200"))
    r, mem = plan.memory_per_rank, plan.memory_per_gpu_bytes
    assert (r.peak_stage, r.peak_rank) == ("middle", 1)
    assert mem.most_loaded_stage == "middle" and mem.total == r.peak
    mid = r.ranks[1]
    assert mid.optimizer > r.ranks[0].optimizer  # why the middle peaks: its experts' state
    d = plan.to_json()
    assert d["memory_per_gpu_bytes"]["most_loaded_stage"] == d["memory_per_rank"]["peak_stage"] == "middle"
    assert "most loaded rank: middle pipeline stage" in memory_table(d).caption


def test_stage_codes_and_peak_stage_are_one_choice():
    """On a grid of layouts (pp 1-16, each recompute) ``memory_per_gpu``'s ``stage`` is the code of the class whose
    own total is ``total``, and ``rank_memory``'s ``peak_stage`` is that class: rank 0 before the middle before the
    last where equal; on one stage rank 0 ("first"), the one rank (until mem43b "last" where its last-stage figure
    was the larger)."""
    import itertools

    from planner.layout import Candidates
    from planner.vocab import SCHEDULE

    j = load_job_dict({"model": {"preset": "deepseek-v3"},
                       "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                                    "recompute": "selective", "tokens": 1e11, "framework": {"name": "megatron-core"}},
                       "parallel": {"tp": 1, "pp": 4, "dp": 8, "ep": 8, "zero": 1},
                       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 4}})
    rows = np.array([(tp, pp, rc, mb, z) for pp, tp, rc, mb, z in
                     itertools.product([1, 2, 3, 4, 8, 16], [1, 2, 4, 8], [0, 1, 2], [1, 2], [0, 1])])
    c = Candidates(tp=rows[:, 0], pp=rows[:, 1], dp=8, cp=1, ep=8, vpp=1, zero=rows[:, 4], mb=rows[:, 3],
                   rc=rows[:, 2], sp=rows[:, 0] > 1, schedule=SCHEDULE.code["1f1b"], gpus_per_node=8,
                   nodes=rows[:, 0] * rows[:, 1])
    got = M.memory_per_gpu(j.model, j.training, c, gpu="H100-SXM-80GB", ranks=True)
    classes = np.stack([got["rank0_total"], got["last_total"], np.nan_to_num(got["middle_total"], nan=-np.inf)])
    want = np.where((classes[0] >= np.maximum(classes[1], classes[2])) | (rows[:, 1] == 1), 0,  # one stage: rank 0
                    np.where(classes[2] >= classes[1], 2, 1))
    assert np.array_equal(got["stage"], want)
    assert set(np.unique(got["stage"]).tolist()) == {0, 1, 2}  # each class peaks somewhere on the grid
    many = rows[:, 1] > 1
    assert np.array_equal(got["total"][many], np.choose(got["stage"], classes)[many])
    rows = np.flatnonzero(got["stage"] == 2)[:3]
    for i in rows:
        rm = M.rank_memory(j.model, j.training, c.take(np.array([i])), gpu="H100-SXM-80GB")[0]
        assert rm.peak_stage == M.PEAK_STAGES[got["stage"][i]] and rm.peak == got["total"][i]


def walk_1f1b(pp: int, rank: int, m: int) -> int:
    """Micro-batches whose activations rank ``rank`` holds at its peak under Megatron-Core's 1F1B, walked step by
    step (schedules.py ``forward_backward_pipelining_without_interleaving``: ``num_warmup_microbatches =
    pipeline_parallel_size - pipeline_parallel_rank - 1`` forwards, then one forward and one backward a steady step,
    then the cool-down's backwards)."""
    warm = min(pp - rank - 1, m)
    held = peak = 0
    for _ in range(warm):
        held += 1
        peak = max(peak, held)
    for _ in range(m - warm):
        held += 1  # the steady step's forward, its backward frees the oldest
        peak = max(peak, held)
        held -= 1
    return peak


def _llama(layout, pp):
    return load_job_dict({"model": {"preset": "llama3-8b"},
                          "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 2, "precision": "bf16",
                                       "recompute": "none", "tokens": 1e11,
                                       "framework": {"name": "megatron-core", "pp_layout": layout}},
                          "parallel": {"tp": 1, "pp": pp, "dp": 8, "zero": 1},
                          "cluster": {"gpu": "H200-SXM-141GB", "gpus_per_node": 8, "nodes": pp}})


@pytest.mark.parametrize("layout,pp,want", [("Et*6|t*10|t*12|t*4L", 4, 1), ("Et*2|t*3|t*3|t*4|t*6|t*6|t*6|t*2L", 8, 4)])
def test_the_middle_rank_is_priced_at_its_own_micro_batches(layout, pp, want):
    """Uneven middle ranks of one dense layer kind (Llama-3-8B, no recompute, 8k x 2 tokens a micro-batch): each
    middle rank r holds its own n_r layers' states and n_r x k_r layer-micro-batches, k_r walked (``walk_1f1b``:
    pp - r), so its own total is s n_r + (1 + FRAGMENTATION) a n_r k_r beside what every middle rank has alike (the
    rebuild, the runtime), a the bytes of one layer-micro-batch, s a layer's states. The middle class is the largest
    of these. PP4 (10 and 12 layers): rank 1, 10 x 3 in flight, not rank 2's 12 layers' states beside rank 1's count
    (over); PP8 (3, 3, 4, 6, 6, 6 layers): rank 4, 6 x 4, where until mem43b rank 4's states sat beside rank 1's 3 x 7
    layer-micro-batches (under: 24 a held, 21 priced)."""
    from planner.layout import Candidates
    from planner.vocab import SCHEDULE

    j = _llama(layout, pp)
    c = Candidates(tp=np.array([1]), pp=pp, dp=8, cp=1, ep=1, vpp=1, zero=1, mb=2, rc=0, sp=False,
                   schedule=SCHEDULE.code["1f1b"], gpus_per_node=8, nodes=pp)
    got = M.memory_per_gpu(j.model, j.training, c, gpu="H200-SXM-141GB", ranks=True)
    m = 256 // (2 * 8)
    n = [int(x) for x in layout.replace("E", "").replace("L", "").replace("t*", "").split("|")]
    k = [walk_1f1b(pp, r, m) for r in range(pp)]
    assert k == [pp - r for r in range(pp)]
    # a, one layer-micro-batch's bytes, from the ends alone: rank 0's and the last rank's activations differ by
    # their layers x count and rank 0's embedding output (8k x 2 tokens x 4096 x 2 B)
    emb = 8192 * 2 * 4096 * 2.0
    a = (got["rank0_activations"][0] - emb - got["last_activations"][0]) / (n[0] * k[0] - n[-1] * k[-1])
    rebuild = got["last_activations"][0] - n[-1] * k[-1] * a
    assert a > 0 and rebuild >= 0
    mid = int(got["middle_rank"][0])
    s = sum(got[f"middle_{q}"][0] for q in ("weights", "grads", "optimizer")) / n[mid]  # a layer's states
    own = [s * n[r] + (1 + M.FRAGMENTATION) * a * n[r] * k[r] for r in range(pp)]
    assert mid == want == max(range(1, pp - 1), key=lambda r: (own[r], -r))
    assert got["middle_activations"][0] == pytest.approx(n[mid] * k[mid] * a + rebuild, rel=1e-12)
    # the rank 0 class (its own n_0 x pp) and the total: the peak of the classes
    assert got["total"][0] == max(got["rank0_total"][0], got["middle_total"][0], got["last_total"][0])
