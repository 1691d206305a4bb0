"""speed53: a plan's memory is priced in one call. ``search.evaluate`` on one row (estimate's plan, each plan recommend
shows) asks ``memory_per_gpu`` for the rank classes too (``ranks``), and ``row_result`` reads ``memory_per_rank``
from that answer (``memory.rank_memory_row``) where it made a second memory call on the same row (``rank_memory``).
The plan's memory figures and its per-rank breakdown are the ones the two calls gave, bit for bit."""
from __future__ import annotations

import pytest

import planner.search.evaluate as E
from hardware_catalog import load_catalog
from planner.hardware.options import option_from_cluster
from planner.model import memory as M
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job, resolve_single


def _job(preset, pp, tp, vpp=1, dp=8, recompute="full"):
    return load_job_dict({"model": {"preset": preset},
                          "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                                       "recompute": recompute, "tokens": 1e11,
                                       "framework": {"name": "megatron-core"}},
                          "parallel": {"tp": tp, "pp": pp, "dp": dp, "vpp": vpp, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": max(tp * pp * dp // 8, 1)}})


#: one stage, the 1F1B ranks of PP8 (a middle rank), and the interleaved schedule (VPP 2): each rank class the plan names
CASES = (("llama3-8b", 1, 2, 1, "selective"), ("llama3-70b", 8, 4, 1, "full"), ("llama3-70b", 4, 4, 2, "full"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-pp{c[1]}-vpp{c[3]}")
def test_a_plan_prices_its_memory_once(monkeypatch, case):
    """The plan's ``memory_per_rank`` is ``rank_memory``'s on its row, without calling it (on the code before speed53
    ``row_result`` called it on every plan: this test raised there), and its memory figures are the search path's."""
    preset, pp, tp, vpp, rc = case
    job = _job(preset, pp, tp, vpp, recompute=rc)

    def refused(*a, **k):
        raise AssertionError("a second memory call on the plan's row")

    with monkeypatch.context() as mp:
        mp.setattr(E, "rank_memory", refused)
        plan = estimate_job(job)
    row, _ = resolve_single(job, option_from_cluster(job.cluster, load_catalog(), None, job.training.precision))
    assert plan.memory_per_rank == M.rank_memory(job.model, job.training, row, gpu="H100-SXM-80GB")[0]
    alone = M.memory_per_gpu(job.model, job.training, row, gpu="H100-SXM-80GB")  # the search's call (no ranks)
    mem = plan.memory_per_gpu_bytes
    assert (mem.total, mem.activations, mem.weights, mem.other) == (
        float(alone["total"][0]), float(alone["activations"][0]), float(alone["weights"][0]), float(alone["other"][0]))
    assert len(plan.memory_per_rank.ranks) == (1 if pp == 1 else 3)
