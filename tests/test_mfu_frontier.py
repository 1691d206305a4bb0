"""benchmarks/mfu_frontier.py: the A100 rows' measured and predicted MFU and executed FLOP rate, and
the issue-#12 guard that the best recommended A100 plan asks the GPU for no higher executed FLOP
rate than a measured A100 step ran."""
import re
import sys

import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

#: the A100 step with the highest executed FLOP rate in the development sources
BEST = "lf_a100_80_mpt13b_s1024_g8_mb40"


@pytest.fixture(scope="module")
def frontier():
    import mfu_frontier
    from hardware_catalog import load_catalog

    cat = load_catalog()
    return mfu_frontier, cat, mfu_frontier.rows("A100", cat)


def _source_row(rid):
    d = pd.read_csv(ROOT / "benchmarks" / "data" / "dev_published_runs.csv")
    return d[d["id"] == rid].iloc[0]


def test_measured_mfu_and_hfu_match_the_sources_printed_figures(frontier):
    """The planner's FLOP count over the measured step reproduces llm-foundry's own MFU and HFU of
    the row (their README formula, printed in the row's notes): an independent check of the
    measured-MFU column and of what their 'HFU' counts (the full recomputed forward, attention in full:
    ``hfu_full_meas``; the planner's HFU counts the causal kernel's half, ``hfu_meas``)."""
    _, _, df = frontier
    r = _source_row(BEST)
    mfu, hfu = (float(x) / 100 for x in re.search(r"MFU ([\d.]+)% HFU ([\d.]+)%", r.notes).groups())
    row = df[(df["source"] == "llm-foundry A100") & (df["model"] == "MPT-13b/s1024") & (df["mb"] == 40)]
    assert len(row) == 1
    assert row["mfu_meas"].iloc[0] == pytest.approx(mfu, rel=0.01)
    assert row["hfu_full_meas"].iloc[0] == pytest.approx(hfu, rel=0.01)
    assert row["hfu_meas"].iloc[0] < row["hfu_full_meas"].iloc[0]
    # executed < HFU: the early-stopping checkpoint skips the down projection (1/3 of a 4h MLP
    # layer's GEMMs: 8h^2 of 24h^2 per token) and the causal kernel half the scores
    ex = row["exec_meas"].iloc[0]
    assert 0.85 * hfu < ex < hfu - 0.05


def test_best_a100_plan_executes_no_faster_than_a_measured_a100_step(frontier):
    """Issue #12: the best recommended A100 plan (75% MFU) must not ask the GPU for a higher
    executed FLOP rate than the best measured A100 step ran (+2 points: the model's error at that
    step is -0.4%); its MFU exceeds the published ones only by what MFU does not count
    (no recompute, causal attention counted in full)."""
    mod, cat, df = frontier
    plan = mod.plan_row(cat)
    best = df["exec_meas"].max()
    assert best == pytest.approx(df.loc[df["model"] == "MPT-13b/s1024", "exec_meas"].max())
    assert plan["executed"] <= best + 0.02
    assert plan["mfu"] > plan["executed"]  # the MFU/executed gap the docstring explains


def test_model_is_at_most_mildly_optimistic_at_the_a100_frontier(frontier):
    """Rows whose measured executed rate is 60% of peak or more (34: 31 llm-foundry/torchtitan FSDP
    steps, at -3% median, and 3 vTrain Megatron-DeepSpeed steps, predicted 12-14% slow): the model's
    median step-time error there stays within -5% (it is -2.9% today)."""
    _, _, df = frontier
    top = df[df["exec_meas"] >= 0.60]
    assert len(top) >= 20
    assert top["err"].median() > -0.05
