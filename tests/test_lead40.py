"""Session 40's own fixes beside the helpers' (each test fails on the code before it)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from planner.search.recommend import _binding_constraint


def test_a_long_binding_deadline_reads_in_the_plans_units():
    """The README's pre-training example read "the cheapest plan without it, 64 x aws:p5.48xlarge (309.4 d, $26.16M),
    is over 2160 h": a 90-day deadline in bare hours beside a plan in days, without a thousands separator."""
    con = SimpleNamespace(budget_usd=None, deadline_hours=2160.0)
    cols = {"h": np.array([7425.6, 1000.0]), "c": np.array([26.16e6, 30e6])}
    keep = np.array([False, True])
    (line,) = _binding_constraint(con, "cost", cols, "h", "c", keep, lambda i: f"row {i}")
    assert line.startswith("constraints.deadline_hours binds: the cheapest plan without it, row 0 (309.4 d, $26.16M)")
    assert "is over 2,160 h (90.0 d); 1 configuration excluded by it" in line, line
    short = SimpleNamespace(budget_usd=None, deadline_hours=24.0)
    cols = {"h": np.array([30.0, 15.0]), "c": np.array([20.7e3, 21.0e3])}
    (line,) = _binding_constraint(short, "cost", cols, "h", "c", keep, lambda i: f"row {i}")
    assert "is over 24 h; 1 configuration excluded by it" in line, line  # a day or less stays in hours alone


def test_the_campaign_table_prints_expected_preprocess_runs_to_the_hundredth():
    """QA 57: the campaign's expected 6.85 preprocessing runs printed "6.8" (``:.1f``), beside a $ figure worked from
    6.85; a whole count prints without decimals."""
    from planner.present.campaign import campaign_rows

    def strat(runs):
        return {"preprocess_runs": runs, "iteration_gap_hours": 1.0, "experiments_per_week": 2.0,
                "experiments_per_week_max": 3.0, "preprocess_usd": 1.0, "storage_usd": 1.0, "train_usd": 1.0,
                "cost_usd": 3.0}

    rows = campaign_rows({"no_cache": strat(40.0), "cache": strat(6.85), "chosen": "cache"})
    assert [r[1] for r in rows] == ["40", "6.85"]
