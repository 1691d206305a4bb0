"""``recommend --csv``'s writer (``planner.present.frame_csv``) writes what ``DataFrame.to_csv(index=False)`` writes."""
import numpy as np
import pandas as pd
import pytest

from planner.present import frame_csv as F


def _table(n=3_000, seed=5):
    """A frame with every dtype the search table has, and the values to_csv writes in its own way."""
    rng = np.random.default_rng(seed)
    floats = rng.random(n) * 10.0 ** rng.integers(-30, 30, n)
    edge = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e16, 1e15, 1e-4, 1e-5, 0.1, 5e-324, 1.7976931348623157e308]
    floats[: len(edge)] = edge
    names = np.array(["aws:p5.48xlarge", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "", " lead", "x"])
    return pd.DataFrame({
        "hardware": names[rng.integers(0, len(names), n)],
        "cost": floats,
        "repeated": np.round(rng.random(n), 1),  # few distinct floats
        "nodes": rng.integers(-5, 1 << 40, n),
        "pareto": rng.random(n) < 0.3,
        "mem_gib": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),  # a column some batches lack
        "small": rng.random(n).astype(np.float32),
        "u": rng.integers(0, 9, n).astype(np.uint8),
        "label": pd.array(np.where(rng.random(n) < 0.1, None, names[rng.integers(0, 3, n)]), dtype="str"),
    })


def test_same_text_as_to_csv_on_every_table_dtype(monkeypatch):
    df = _table()
    monkeypatch.setattr(F, "BLOCK_ROWS", 700)  # several blocks, the last one short
    assert F.frame_csv(df) == df.to_csv(index=False)
    assert F.frame_csv(df.iloc[:0]) == df.iloc[:0].to_csv(index=False)  # the header alone


def test_negative_zero_is_not_merged_with_zero():
    """pandas.factorize takes -0.0 for 0.0; to_csv writes them apart."""
    df = pd.DataFrame({"a": [0.0, -0.0, 0.0, -0.0], "b": [1, 2, 3, 4]})
    assert F.frame_csv(df) == "a,b\n0.0,1\n-0.0,2\n0.0,3\n-0.0,4\n" == df.to_csv(index=False)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"only": ["", "a"]}),  # one column: the csv module quotes an empty field
    pd.DataFrame({"o": np.array([None, 1.5, "x"], dtype=object), "b": [1, 2, 3]}),  # object: left to pandas
    pd.DataFrame({"t": pd.to_datetime(["2026-01-01", None]), "b": [1, 2]}),
])
def test_other_frames_are_pandas_own(frame):
    assert F.frame_csv(frame) == frame.to_csv(index=False)


def test_a_search_table_is_written_as_to_csv():
    from planner.spec import load_job
    from planner.workloads.training import recommend

    job = load_job("examples/llama3-8b-auto.yaml")
    rec = recommend(job)
    df = rec.table.assign(price_basis=rec.price_basis)
    assert len(df) > 1_000
    assert F.frame_csv(df) == df.to_csv(index=False)
