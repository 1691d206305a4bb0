"""benchmarks/inverted_pairs.py: the pairs it lists are exactly the discordant pairs that lower
validate's Spearman, with the right fields and gaps."""
import itertools
import sys

import numpy as np
import pandas as pd

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import inverted_pairs as ip  # noqa: E402
import validate  # noqa: E402


def _rows():
    # one model, global batch 64: (tp, pp, dp, mb, measured, predicted)
    rows = [(8, 1, 8, 2, 10.0, 10.0), (8, 1, 8, 4, 9.0, 11.0), (2, 1, 32, 2, 12.0, 9.5), (4, 2, 8, 8, 13.0, 14.0)]
    return pd.DataFrame([dict(source="s", model="m/gb64", gpus=64, tp=a, pp=b, dp=c, mb=d, measured_s=e, predicted_s=f)
                         for a, b, c, d, e, f in rows])


def test_lists_each_discordant_pair_once_with_its_gaps():
    pairs = ip.inverted_pairs(_rows())
    # discordant by hand: (mb2, mb4) 10 vs 9 measured, 10 vs 11 predicted; (tp8 mb2, tp2) 10 < 12 but
    # 10 > 9.5; (tp8 mb4, tp2) 9 < 12 but 11 > 9.5. Concordant: everything with the 13 s row.
    assert len(pairs) == 3
    p = pairs.set_index(["fast", "slow"])
    key = ("gpus64 tp8 pp1 dp8 mb4 nmb2", "gpus64 tp8 pp1 dp8 mb2 nmb4")
    assert p.loc[key, "differs"] == "mb/nmb"
    assert np.isclose(p.loc[key, "measured_gap"], 100 * (10 / 9 - 1))
    assert np.isclose(p.loc[key, "predicted_gap"], 100 * (10 / 11 - 1))
    assert np.isclose(p.loc[key, "wrong_by"], 100 * (10 / 9 - 10 / 11))
    # tp8 dp8 mb2 runs 4 micro-batches of the 64, tp2 dp32 mb2 one
    assert set(pairs["differs"]) == {"mb/nmb", "tp/dp/nmb", "tp/dp/mb/nmb"}


def test_no_pairs_iff_validate_ranks_perfectly():
    df = _rows()
    for perm in itertools.permutations(df["predicted_s"]):
        d = df.assign(predicted_s=list(perm))
        rho = validate.spearman(d["predicted_s"], d["measured_s"])
        assert (len(ip.inverted_pairs(d)) == 0) == np.isclose(rho, 1.0)


def test_noise_ceiling_is_one_without_noise_and_falls_as_configurations_crowd():
    # vtm53: a source run once per configuration has validate's tie ceiling 1, whatever its spacing
    spread = np.array([10.0, 20.0, 40.0, 80.0, 160.0])  # 2x apart: no 5% noise swaps a pair
    crowded = np.array([10.0, 10.05, 10.1, 10.15, 10.2])  # 0.5% apart
    assert np.isclose(ip.noise_ceiling(crowded, 0.0), 1.0)
    assert np.isclose(ip.noise_ceiling(spread, 0.05), 1.0)
    low, high = ip.noise_ceiling(crowded, 0.02), ip.noise_ceiling(crowded, 0.002)
    assert low < 0.5 < high < 1.0
    assert ip.noise_ceiling(crowded, 0.02) == low  # seeded


def test_noise_table_counts_close_pairs_and_keeps_validates_spearman():
    df = _rows().assign(measured_s=[10.0, 10.05, 10.18, 13.0])  # gaps 0.5%, 1.8%, 1.3%; the 13 s row 28-30%
    t = ip.noise_table(df).iloc[0]
    assert (t["rows"], t["pairs"], t["within_1pct"], t["within_2pct"]) == (4, 6, 1, 3)
    assert np.isclose(t["spearman"], validate.spearman(df["predicted_s"], df["measured_s"]))
    assert [c for c in t.index if c.startswith("noise_")] == ["noise_1%", "noise_2%", "noise_3%", "noise_5%"]
    assert t["noise_5%"] < t["noise_1%"] <= 1.0


def test_noise_flag_prints_the_table(tmp_path, capsys):
    path = tmp_path / "rows.csv"
    _rows().to_csv(path, index=False)
    ip.main([str(path), "--source", "s", "--noise"])
    out = capsys.readouterr().out
    assert "Within the runs' own noise" in out and "noise_2%" in out and "m/gb64" in out.split("own noise")[1]


def _axis_rows():
    # two models; within each, the residue follows tp alone (tp 2 runs 25% over the model, tp 8 exact) while the
    # models' own offsets differ (m2 runs 10% over everywhere): within-model, tp explains it all, mb part of it
    rows = [("m1/gb64", 8, 2, 10.0, 10.0), ("m1/gb64", 8, 4, 9.0, 9.0), ("m1/gb64", 2, 2, 12.5, 10.0),
            ("m1/gb64", 2, 4, 12.5, 10.0), ("m2/gb64", 8, 2, 22.0, 20.0), ("m2/gb64", 2, 4, 27.5, 20.0)]
    return pd.DataFrame([dict(source="s", model=m, gpus=64, tp=t, pp=1, dp=64 // t, mb=b, measured_s=x, predicted_s=y)
                         for m, t, b, x, y in rows])


def test_axis_shares_find_the_axis_the_residue_follows_within_each_model():
    shares = ip.axis_shares(_axis_rows()).set_index("axis")
    assert np.isclose(shares.loc["tp", "share"], 1.0) and shares.loc["tp", "groups"] == 4
    assert np.isclose(shares.loc["dp", "share"], 1.0)  # dp = 64 / tp here: the same cells
    assert 0.0 < shares.loc["mb", "share"] < 0.9
    assert np.isclose(shares.loc["gpus", "share"], 0.0)  # one value a model: no within-model spread carried
    # the per-model offset alone (every row of a model equally wrong) leaves nothing to explain
    flat = _axis_rows().assign(measured_s=lambda d: d["predicted_s"] * np.where(d["model"] == "m2/gb64", 1.1, 1.0))
    assert ip.axis_shares(flat)["share"].isna().all()


def test_axis_errors_and_the_axes_flag(tmp_path, capsys):
    e = ip.axis_errors(_axis_rows(), "tp").set_index(["model", "tp"])
    assert e.loc[("m1/gb64", 2), "rows"] == 2 and np.isclose(e.loc[("m1/gb64", 2), "median_err"], -20.0)
    assert np.isclose(e.loc[("m2/gb64", 8), "median_err"], 100 * (20 / 22 - 1))
    path = tmp_path / "rows.csv"
    _axis_rows().to_csv(path, index=False)
    ip.main([str(path), "--source", "s", "--axes"])
    out = capsys.readouterr().out.split("Residue by layout axis")[1]
    assert "share" in out and "Median error (predicted / measured - 1, %) by tp" in out
