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

from planner.model import memory as M
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
    last where equal."""
    from tests.test_mem43 import _grid, _job

    j = _job("deepseek-v3", 8)
    c = _grid(8)
    got = M.memory_per_gpu(j.model, j.training, c, gpu="H100-SXM-80GB", ranks=True)
    classes = np.stack([got["rank0_total"], got["last_total"], np.nan_to_num(got["middle_total"], nan=-np.inf)])
    want = np.where(classes[0] >= np.maximum(classes[1], classes[2]), 0,
                    np.where(classes[2] >= classes[1], 2, 1))
    assert np.array_equal(got["stage"], want)
    assert set(np.unique(got["stage"]).tolist()) == {0, 1, 2}  # each class peaks somewhere on the grid
    assert np.array_equal(got["total"], np.choose(got["stage"], classes))
    rows = np.flatnonzero(got["stage"] == 2)[:3]
    for i in rows:
        rm = M.rank_memory(j.model, j.training, c.take(np.array([i])), gpu="H100-SXM-80GB")[0]
        assert rm.peak_stage == M.PEAK_STAGES[got["stage"][i]] and rm.peak == got["total"][i]
