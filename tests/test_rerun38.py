"""Together AI's 2026-04-15 re-runs averaged into both Together sources by one rule (rerun38): benchmarks/data/parts/
scripts/together_reruns.py holds the re-runs transcribed from tests/b200/worklog/2026-04-15_rebenchmark_report.md
@d275be99 and the rule (every clean run of an identical configuration, one weight each); dgxc.py
(together_b200_runs.csv, ``together B200``) and together.py (together_b200_baselines.csv, ``together B200
baselines``) both apply it."""
import sys

import pandas as pd
import pytest

from conftest import ROOT, load_parts_script

DATA = ROOT / "benchmarks" / "data"

#: from the report, independently of the module: row -> (the row's own run: step s, TFLOP/s; the re-run's TFLOP/s,
#: the re-run's printed step or None). The report's Tier 1 / Tier 2 tables and the DeepSeek V3 detail (job 83853)
REPORT = {
    "together_nemotron4-15b_bf16_64_gbs256": (0.9302, 1570.4, 1468, None),
    "together_nemotron4-15b_fp8_64_gbs256": (0.763, 1916.0, 1861, None),
    "together_nemotron4-15b_bf16_256_gbs1024": (1.0149, 1439.4, 1419, None),
    "together_nemotron4-15b_fp8_256_gbs1024": (0.813, 1798.0, 1624, None),
    "togetherbl_llama3.1-70b_mxfp8_64_tp1pp1": (9.063, 1624, 1454, None),
    "togetherbl_nemotron-h-56b_fp8cs_64_tp2pp1": (5.27, 1563, 1532, None),
    "togetherbl_qwen3-30b-a3b_bf16_64_tp1pp1": (29.57, 204, 205, None),
    "togetherbl_llama3.1-405b_fp8cs_256_tp4pp8cp2vp8": (72.008, 1722, 1724, None),
    "togetherbl_llama3.1-405b_nvfp4_256_tp4pp16vp8": (79.3, 1564, 1607, None),
    "togetherbl_nemotron-h-56b_fp8cs_256_tp2pp1": (5.36, 1536, 1529, None),
    "togetherbl_deepseek-v3_mxfp8_256_tp1pp16": (42.01, 405.59, 550.7, 30.94),
}


@pytest.fixture(scope="module")
def reruns():
    load_parts_script("together")  # loads the shared module under its name, as the builders import it
    return sys.modules["together_reruns"]


@pytest.fixture(scope="module")
def rows():
    d = pd.concat([pd.read_csv(DATA / "together_b200_runs.csv"), pd.read_csv(DATA / "together_b200_baselines.csv")])
    assert d["id"].is_unique
    return d.set_index("id")


def test_averaged_rows_are_the_mean_of_the_listed_runs(rows, reruns):
    """Each re-run row's step is the mean of its own run and the re-run (a TFLOP/s-only re-run converted at the row's
    FLOPs per step); its TFLOP/s column the runs' harmonic mean, so step x TFLOP/s is the row's own count. Rows the
    later worklog reports re-ran again (rerunb38) average those too: test_rerunb38.py checks them."""
    later = {r.row for r in reruns.RERUNS if r.file != reruns.WRB}
    for rid, (step, tfl, rtfl, rstep) in REPORT.items():
        r = rows.loc[rid]
        again = rstep if rstep is not None else step * tfl / rtfl
        if rid not in later:
            assert r["value"] == pytest.approx((step + again) / 2, abs=1e-4), rid
            assert r["tflops_per_gpu_printed"] == pytest.approx(2 / (1 / tfl + 1 / rtfl), abs=0.06), rid
        assert r["value"] * r["tflops_per_gpu_printed"] == pytest.approx(step * tfl, rel=2e-3), rid
        assert "2026-04-15_rebenchmark_report.md @d275be99" in r["notes"] and "Re-runs averaged" in r["notes"], rid
    # the moves the report's deltas imply (-6.6% bf16 at 64 GPUs, -9.8% fp8 at 256)
    assert rows.loc["together_nemotron4-15b_bf16_64_gbs256", "value"] == pytest.approx(0.9626, abs=1e-4)
    assert rows.loc["together_nemotron4-15b_fp8_256_gbs1024", "value"] == pytest.approx(0.8566, abs=1e-4)


def test_the_module_lists_exactly_the_report_runs_against_their_rows(reruns, rows):
    """Every re-run names a row of one of the two CSVs whose own TFLOP/s is the report's 'Previous' (as
    OFFICIAL_BASELINES.md rounds it), and the module's list is the one above."""
    of_report = [r for r in reruns.RERUNS if r.file == reruns.WRB]
    assert {r.row for r in of_report} == set(REPORT)
    for r in of_report:
        own = REPORT[r.row][1]
        assert abs(r.previous / own - 1) < 0.005, r
        assert (r.tflops, r.step) == REPORT[r.row][2:], r
        assert r.section in (reruns.T1, reruns.T2) and r.steps == "3-9"
    assert reruns.C == "d275be993eb252fc734b7477b19ad5b4ee49ba56"


def test_an_excluded_run_is_excluded_with_its_reason(reruns, rows):
    """The report's 256-GPU Llama 3.1 70B FP8 run is NVIDIA's official TP2 PP4 VP5 config, not job 79139's TP1 PP1
    Megatron-FSDP (its 'Previous'); Qwen3-235B BF16 failed. Each is listed with why and moves no row."""
    why = {label.split(" (")[0]: (job, text) for section, label, job, text in reruns.EXCLUDED
           if section in (reruns.T1, reruns.T2)}
    assert set(why) == {"Llama 3.1 70B / FP8", "Qwen3 235B / BF16"}
    assert "another configuration" in why["Llama 3.1 70B / FP8"][1] and "79139" in why["Llama 3.1 70B / FP8"][1]
    assert why["Qwen3 235B / BF16"][0] == "83854/83855" and "no measurement" in why["Qwen3 235B / BF16"][1]
    assert not reruns.runs_of("togetherbl_llama3.1-70b_fp8cs_256_tp1pp1")
    assert rows.loc["togetherbl_llama3.1-70b_fp8cs_256_tp1pp1", "value"] == pytest.approx(4.93)  # 79139 alone
    assert not [r for r in reruns.runs_of("togetherbl_qwen3-235b-a22b_bf16_256_tp1pp8vp4") if r.file == reruns.WRB]
    assert "2026-04-15_rebenchmark_report.md" not in rows.loc["togetherbl_qwen3-235b-a22b_bf16_256_tp1pp8vp4", "notes"]
    assert "Re-runs averaged" not in rows.loc["togetherbl_llama3.1-70b_fp8cs_256_tp1pp1", "notes"]


def test_one_rule_for_re_runs_and_repeats(reruns, rows):
    """The rows' own repeats go through the same function: 81057-81059 and 81069 / 81072 (together B200), 79133-79135
    and 79120 / 79119 / 79118 (together B200 baselines) give their shipped step and TFLOP/s back."""
    mean_run = reruns.mean_run
    assert mean_run([(0.457, 1594), (0.456, 1601), (0.458, 1594)]) == (0.457, 1596.3)
    assert mean_run([(1.544, 1892), (1.535, 1904)]) == (1.5395, 1898.0)
    assert mean_run([(5.39, 1365), (5.41, 1361), (5.40, 1363)]) == (5.4, 1363.0)
    assert mean_run([(4.63, 1590), (4.68, 1573), (4.67, 1575)]) == (4.66, 1579.3)
    for rid, step in (("together_nemotron4-15b_fp8_256_gbs512", 0.457), ("togetherbl_llama3.1-70b_fp8cs_512_tp1pp1", 5.4)):
        assert rows.loc[rid, "value"] == pytest.approx(step), rid
    with pytest.raises(AssertionError):
        mean_run([])
