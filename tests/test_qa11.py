"""QA pass 11: defects found in simulate, campaigns, the catalog, calibrate, tabular and the app, each
with the check that failed before its fix."""
from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from planner.units import fmt_hours_column


def _render(fn, *args, width: int = 100) -> str:
    con = Console(file=io.StringIO(), width=width, color_system=None)
    fn(con, *args)
    return con.file.getvalue()


def _units(cells) -> set:
    return {c.split()[-1] for c in cells}


def test_hours_column_has_one_unit():
    assert fmt_hours_column([6.725, 1.825]) == ["6.7 h", "1.8 h"]  # was "6.7 h" above "109.5 min"
    assert fmt_hours_column([0.5, 1.2]) == ["30.0 min", "72.0 min"]
    assert fmt_hours_column([0.0001, 300.0]) == ["0.0001 h", "300.0 h"]  # never "0.0 h"
    assert fmt_hours_column([]) == []


@pytest.fixture(scope="module")
def campaign_plan():
    from planner.spec import load_job_dict
    from planner.workloads.campaign import plan_campaign

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "campaign": {
        "experiments_per_week": 10, "weeks": 4, "invalidation_rate": 0.15,
        "preprocess": {"hours": 6, "usd_per_hour": 2.856, "output_gb": 400}}})
    return plan_campaign(job, {"hours": 0.725, "usd": 0.8782})


def test_campaign_iteration_gap_one_unit_and_weeks_plural(campaign_plan):
    from planner.present.campaign import campaign_caption, campaign_rows

    rows = campaign_rows(campaign_plan)
    assert _units(r[2] for r in rows) == {"h"}, [r[2] for r in rows]  # was {"h", "min"}
    assert "over 4 weeks," in campaign_caption(campaign_plan)  # was "4 week(s)"


def test_campaign_table_reads_at_100_columns(campaign_plan):
    from planner.present.campaign import render_campaign

    text = _render(render_campaign, campaign_plan)
    assert max(len(line) for line in text.splitlines()) <= 100
    # no word cut in two: "hash(input" / "s, code)" and "experiment" / "s/week" were
    assert "hash(inputs," in text and "experiments" in text
    assert "6.7 h" in text and "1.8 h" in text


def test_tabular_time_column_one_unit():
    from planner.present.tabular import render_tabular
    from planner.spec import load_job_dict
    from planner.workloads.tabular import plan_tabular

    job = load_job_dict({"tabular": {"library": "xgboost", "rows": 2.0e6, "features": 50, "trees": 500, "depth": 8,
                                     "runs": 150}, "constraints": {"clouds": ["aws", "gcp", "azure"]}})
    res = plan_tabular(job)
    hours = [r["hours"] for r in res["ranked"][:10]]
    assert min(hours) < 2 <= max(hours)  # the case: a column across two hours
    text = _render(render_tabular, res)
    times = re.findall(r"│\s+([\d.,]+ (?:min|h)) │\s+\$", text)
    assert len(times) == 10 and _units(times) == {"h"}, times  # was "4.4 h" above "98.6 min"
