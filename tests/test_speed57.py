"""speed57: the search's per-variant work where a variant's parents leave it no row, and the layer memo's lookups.

A stack variant tried only where its parents do not fit (an offload, a longer recompute list) was, before speed57,
still handed to its own rules (``StackVariant.rows`` through the search memo) with no row to test, after a chunk-
long zeros array for each parent not tried: on the Llama-3-8B auto example 182 of the search's 286 rule calls asked
of no row (Mixtral 630 of 800). Those calls answer no row, so skipping them changes nothing (``recommend --json`` of
every example byte for byte: benchmarks/recommend_json_diff.py)."""
from pathlib import Path

import numpy as np

from planner.model.step_time import LayerMemo
from planner.search import recommend as R
from planner.spec import load_job
from planner.workloads.training import recommend

ROOT = Path(__file__).resolve().parents[1]


def test_no_rule_call_without_rows(monkeypatch):
    calls = []
    real = R._variant_rows

    def counted(memo, var, c, refused=None, within=None):
        calls.append(None if within is None else int(np.count_nonzero(within)))
        return real(memo, var, c, refused, within)

    monkeypatch.setattr(R, "_variant_rows", counted)
    res = recommend(load_job(ROOT / "examples" / "llama3-8b-auto.yaml"), simulate=False)
    assert res["evaluated"] > 0 and calls  # the search ran its variants' rules
    assert 0 not in calls  # none asked of no row (182 of 286 before speed57)


def test_layer_memo_rows_mixed_known_and_new():
    """``LayerMemo.rows`` on keys partly held: each row's terms those computed for it, new ones computed once."""
    memo, asked = LayerMemo(), []

    def terms(keys):
        def compute(idx):
            asked.append(len(idx))
            return {"a": keys[0][idx] * 10.0 + keys[1][idx], "b": 1.5}
        return compute

    k1 = (np.array([1, 2, 3]), np.array([0, 1, 0]))
    got1 = memo.rows(("s",), k1, terms(k1))
    k2 = (np.array([3, 4, 1, 4]), np.array([0, 0, 0, 0]))
    got2 = memo.rows(("s",), k2, terms(k2))
    assert got1["a"].tolist() == [10.0, 21.0, 30.0]
    assert got2["a"].tolist() == [30.0, 40.0, 10.0, 40.0] and got2["b"].tolist() == [1.5] * 4
    assert asked == [3, 2]  # the second call computed only its two rows not held (key (4, 0) twice among them)
