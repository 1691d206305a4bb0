"""The ranked table's order (``rank.rank_order`` over the key columns, the table built once in that order) is the
order ``DataFrame.sort_values(keys, na_position="last", kind="stable")`` gave the built table, ties, NaN, inf and
-0.0 included."""
import numpy as np
import pandas as pd
import pytest

from planner.search.rank import cost_bucket, rank_key, rank_order


def _keys(n=4_000, seed=11):
    rng = np.random.default_rng(seed)
    hours = rng.choice([1.0, 2.0, 2.5, 7.0, np.inf, np.nan, 0.0, -0.0], n)  # few values: many ties
    cost = np.round(rng.random(n) * 100, 1)
    cost[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({"train_hours": hours, "cost": cost, "usd_per_token": cost / 1e9, "row": np.arange(n)})


@pytest.mark.parametrize("objective", ["cost", "time", "tokens_per_dollar"])
def test_same_order_as_sort_values(objective):
    df = _keys()
    df = df.assign(cost_bucket=cost_bucket(df["cost"]), usd_per_token_bucket=cost_bucket(df["usd_per_token"] * 1e12))
    cols = rank_key(df, objective)
    want = df.sort_values(cols, na_position="last", kind="stable")["row"].to_numpy()
    assert np.array_equal(rank_order([df[c].to_numpy() for c in cols]), want)


def test_ties_keep_their_order():
    got = rank_order([np.array([1.0, 0.0, 1.0, -0.0, np.nan, 0.0]), np.array([2.0, 1.0, 2.0, 1.0, 0.0, 0.0])])
    assert got.tolist() == [5, 1, 3, 0, 2, 4]  # (0, 0) first; 0.0 and -0.0 tie; NaN last; equal rows in order


def test_a_search_table_is_ranked_as_sort_values_ranked_it():
    """The search's table built once in ranked order against the old path: the built table filtered, then sorted."""
    import planner.search.recommend as R
    from planner.spec import load_job

    job = load_job("examples/llama3-70b.yaml")
    rec = R.recommend(job)
    df = rec.table
    # every fitting row in the search's batch order, unranked (since stream36 the search keeps its batches, RankedRows,
    # and builds no such table itself)
    whole = R._table_of(R._columns(rec.rows._frames))
    assert job.constraints.deadline_hours and job.constraints.budget_usd is None and not job.constraints.spot
    keep = (whole["train_hours"] <= job.constraints.deadline_hours).to_numpy()  # the job's one constraint
    old = whole[keep].assign(cost_bucket=cost_bucket(whole[keep]["cost"]))
    old = old.sort_values(["cost_bucket", "train_hours"], na_position="last", kind="stable")
    old = old.drop(columns=["cost_bucket", "opt", "chunk", "group", "variant", "idx"]).reset_index(drop=True)
    assert len(df) > 1_000
    pd.testing.assert_frame_equal(df.drop(columns="pareto"), old)
