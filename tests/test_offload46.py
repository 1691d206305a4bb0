"""offload46: the offload measurements (benchmarks/data/parts/offload.csv) and their checker
(benchmarks/validate_offload.py) against what the README states ("Offload:" in "Still missing")."""
import re
from pathlib import Path

import pytest

from benchmarks.parts_data import load

ROOT = Path(__file__).resolve().parents[1]
#: the per-group figures the README states (median abs error, mean signed error), in percent
README_STATES = {
    "optimizer offload: DeepSpeed ZeRO-Offload (V100)": (4.5, 4.5),  # ds47: the fp32 copy out on the compute stream
    "optimizer offload: Megatron-Core HybridDeviceOptimizer (H100, added s)": (51.5, -51.5),
    "activation offload: Megatron-Bridge GB200 / GB300 (validation rows)": (6.9, -2.2),
    "activation offload: Together AI DGX B200 (validation rows)": (7.8, -7.8),
}
TOL_PP = 0.5  # percentage points: the README prints one decimal


@pytest.fixture(scope="module")
def checked():
    from benchmarks import validate_offload

    df = validate_offload.rows()
    return df, validate_offload.summary(df)


def test_every_row_states_where_it_comes_from_and_what_was_assumed():
    rows = load("offload")
    assert len(rows) >= 2
    for r in rows:
        for col in ("quote", "assumptions", "source", "provenance", "read_date", "date", "host_link", "cpu"):
            assert str(r[col]).strip(), (r["id"], col)
        assert r["provenance"].startswith("https://"), r["id"]
        assert r["offloaded"] in ("optimizer", "activation"), r["id"]


def test_the_checker_answers_every_row(checked):
    """Every offload.csv row is priced by ``estimate`` (a refusal raises) and lands in its group; the validation set's
    activation-offload rows are there too (23: 18 Megatron-Bridge, 5 Together AI)."""
    df, _ = checked
    ids = {r["id"] for r in load("offload")}
    assert ids <= set(df["id"])
    assert df["err"].notna().all() and (df["predicted_s"] > 0).all()
    assert (df["group"].str.startswith("activation offload")).sum() == 23


def test_the_added_time_row_does_not_hinge_on_the_batch_taken(checked):
    """NeMo RL PR #3628 prints no batch: the offload's added time is priced at the batch taken and at 4x it, and the
    two agree to 10 ms."""
    df, _ = checked
    added = df[df["metric"] == "added_s"]
    assert len(added) == 1 and (added["batch_spread_s"] < 0.01).all()


def test_the_summary_is_what_the_readme_states(checked):
    _, tab = checked
    got = {r.group: (r.median_abs_err * 100, r.mean_signed_err * 100) for r in tab.itertuples()}
    assert set(got) == set(README_STATES)
    for group, (med, signed) in README_STATES.items():
        assert got[group][0] == pytest.approx(med, abs=TOL_PP), group
        assert got[group][1] == pytest.approx(signed, abs=TOL_PP), group
    line = next(ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith("* **Offload**"))
    assert "not checked" not in line
    for med, signed in README_STATES.values():
        assert re.search(re.escape(f"{med:.1f}%"), line) and re.search(re.escape(f"{signed:+.1f}%"), line), (med, signed, line)
