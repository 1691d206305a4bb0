"""The search's partial-recompute probes and per-search memo change no number (planner.search.recommend).

``smallest_block_recompute`` probes every N its bisection may ask of a row in one memory call (``BISECT_AT_ONCE``)
and ``memory_per_gpu`` keeps its per-layer activation rows in the search's ``LayerMemo``: both only save calls, so
the N chosen and the memory of every row are held bit for bit to the round-by-round bisection without a memo."""
from __future__ import annotations

import numpy as np

import planner.search.recommend as R
from planner.hardware.options import option_from_cluster
from planner.model.memory import memory_per_gpu
from planner.model.stacks import from_training
from planner.model.step_time import LayerMemo
from planner.search.evaluate import fits_memory, memory_limit
from planner.search.space import space_chunks
from planner.spec import load_job_dict


def _job(preset: str, nodes: int):
    return load_job_dict({"model": {"preset": preset},
                          "training": {"seq_len": 8192, "global_batch": 256, "precision": "bf16", "steps": 10,
                                       "framework": "megatron-core", "recompute": "full"},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": nodes}})


def test_block_bisection_at_once_and_the_memo_give_the_round_by_round_numbers(catalog, monkeypatch):
    calls = {}

    def counted(*a, **k):
        calls[key] = calls.get(key, 0) + 1
        return memory_per_gpu(*a, **k)

    monkeypatch.setattr(R, "memory_per_gpu", counted)
    bisected = 0
    for preset, nodes in (("llama3-8b", 1), ("llama3-70b", 4)):
        job = _job(preset, nodes)
        hw = option_from_cluster(job.cluster, catalog, None, "bf16")
        stack, (limit, _) = from_training(job.training), memory_limit(job, hw)
        m, t = job.model, job.training
        memo = LayerMemo()  # one memo over every chunk, as in a search
        for cv in space_chunks(job, hw):
            ext = R.with_block_one(cv)
            mem, mem1 = R.split_rows(memory_per_gpu(m, t, ext, stack=stack, gpu=hw.gpu.name), len(cv))
            fits = fits_memory(job, hw, mem, limit)
            got = {}
            for key, at_once, mm in (("rounds", 0, None), ("at_once", R.BISECT_AT_ONCE, memo)):
                monkeypatch.setattr(R, "BISECT_AT_ONCE", at_once)
                got[key] = R.smallest_block_recompute(job, t, cv, fits, mem, mem1, stack, hw, limit, mm)
            (a, ma), (b, mb) = got["rounds"], got["at_once"]
            np.testing.assert_array_equal(a.rn, b.rn)
            assert ma.keys() == mb.keys()
            for k in ma:  # bit for bit
                assert np.asarray(ma[k]).tobytes() == np.asarray(mb[k]).tobytes(), k
            bisected += int((a.rn > 0).sum())
    assert bisected > 0
    assert calls["at_once"] < calls["rounds"]  # the bisection ran, in fewer calls
