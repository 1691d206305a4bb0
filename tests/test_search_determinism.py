"""The search's answer does not depend on how its candidates are batched (planner.search.recommend).

A search evaluates each hardware option's layouts chunk by chunk (``space.space_chunks``), shares one ``LayerMemo``
across its calls and probes the partial-recompute rows in batches (``BISECT_AT_ONCE``). None of that may move a
number: the same search with other chunk sizes, its candidates in another order, or no memo, gives the same table,
the same ``feasible`` count and the same ranked plans. (A chunk boundary between a layout's recompute rows gave 1-2
more block-recompute rows here, and llama3-8b-auto 11,968 feasible at 1,000 rows a chunk against 11,966; a memo key
that omits a field would give the row computed first to every row that shares the rest of its key, so which one
depends on the order.)"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import planner.model.step_time as ST
import planner.search.recommend as R
import planner.search.space as S
from planner.hardware.options import option_from_cluster
from planner.results import jsonable
from planner.spec import load_job_dict

#: two nodes, one ZeRO stage, the stack's options fixed: 1,296 grid rows, 752 layouts evaluated, block
#: recompute picked on some; recompute, TP, PP, VPP and micro-batch open
JOB = {"model": {"preset": "llama3-8b"},
       "training": {"seq_len": 8192, "global_batch": 256, "precision": "bf16", "steps": 100,
                    "framework": {"name": "megatron-core", "optimizer_offload": False, "activation_offload": False,
                                  "megatron_fsdp": False, "reshard_after_forward": True}},
       "parallel": {"zero": 1},
       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2}}

_chunks = S.space_chunks  # the search's own, before any test replaces it


def _search(catalog, monkeypatch, chunks=None, memo=True):
    """``recommend`` on ``JOB`` with ``chunks(job, hw)`` in place of the space's chunks, without the memo if not
    ``memo``: (the result as JSON less its timings, the table)"""
    monkeypatch.setattr(R, "space_chunks", chunks or _chunks)
    if not memo:  # every call computes its rows afresh
        monkeypatch.setattr(ST.LayerMemo, "rows", lambda self, setting, keys, compute: {
            k: np.broadcast_to(v, (len(keys[0]),)) for k, v in compute(np.arange(len(keys[0]))).items()})
    rec = R.recommend(load_job_dict(JOB), catalog)
    monkeypatch.undo()
    out = jsonable(rec)
    for k in ("search_seconds", "configs_per_second", "table"):
        out.pop(k, None)
    return out, rec.table


@pytest.fixture(scope="module")
def reference(catalog):
    with pytest.MonkeyPatch.context() as mp:
        return _search(catalog, mp)


def _unordered(df: pd.DataFrame) -> pd.DataFrame:
    """``df``'s rows in one canonical order (ties among equally ranked rows follow the candidates' order)"""
    return df.sort_values(sorted(df.columns), kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("rows", [200, 400])  # not multiples of the three recompute settings (fewer than
# before QA 38b: only the whole-DP heads of the product are expanded, so 800 rows was one chunk)
def test_chunk_size_moves_nothing(catalog, monkeypatch, reference, rows):
    job = load_job_dict(JOB)
    assert len(list(_chunks(job, option_from_cluster(job.cluster, catalog, None, "bf16"), rows))) > 1  # chunked
    got, table = _search(catalog, monkeypatch, lambda job, hw: _chunks(job, hw, rows))
    assert got["feasible"] == reference[0]["feasible"]
    pd.testing.assert_frame_equal(table, reference[1])  # every row, in the same order
    assert got == reference[0]  # the ranked plans, the Pareto front, the counts


def test_candidate_order_and_memo_move_nothing(catalog, monkeypatch, reference):
    def shuffled(job, hw):
        """the chunks in reverse order, each one's rows permuted"""
        rng = np.random.default_rng(7)
        for c in reversed(list(_chunks(job, hw, 400))):
            yield c.take(rng.permutation(len(c)))

    got, table = _search(catalog, monkeypatch, shuffled)
    assert got["feasible"] == reference[0]["feasible"]
    pd.testing.assert_frame_equal(_unordered(table), _unordered(reference[1]))
    assert got["ranked"] == reference[0]["ranked"]
    fresh, table = _search(catalog, monkeypatch, memo=False)
    pd.testing.assert_frame_equal(table, reference[1])
    assert fresh == reference[0]
