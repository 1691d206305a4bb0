"""Together AI's later re-runs (rerunb38): the worklog/ reports of togethercomputer/together-dgxc-benchmarking at
661e8e14 (2026-04-16 .. 04-27) re-ran several configurations of both Together sources on other node sets.
benchmarks/data/parts/scripts/together_reruns.py takes each identical one by rerun38's rule (every clean run of the
configuration, one weight each) and lists the others in ``EXCLUDED`` with the reason."""
import sys

import pandas as pd
import pytest

from conftest import ROOT, load_parts_script

DATA = ROOT / "benchmarks" / "data"

#: transcribed from the reports, independently of the module: row -> (the row's own run: step s, TFLOP/s; the other
#: runs, each (TFLOP/s printed or None, step printed or None), the 2026-04-15 re-run first where there is one)
RUNS = {
    # 80073; 04-15 Tier 2; 04-16 Batch C 84023; rebench TSV 84591; 04-27 scoreboard 85430 / 85432 / 85444
    "togetherbl_llama3.1-405b_nvfp4_256_tp4pp16vp8": ((79.3, 1564), [(1607, None), (1746, None), (1789, None),
                                                                     (1668, None), (1662, None), (1675, None)]),
    # 82931; 04-15 83844; TSV 84592
    "togetherbl_llama3.1-405b_fp8cs_256_tp4pp8cp2vp8": ((72.008, 1722), [(1724, None), (1777, None)]),
    # 83728; 04-15 83847; TSV 84597
    "togetherbl_nemotron-h-56b_fp8cs_256_tp2pp1": ((5.36, 1536), [(1529, None), (1520, None)]),
    # 83731; 04-17 84249; 04-20 84464 (iteration 5 step only); 04-26 85296
    "togetherbl_nemotron-h-56b_fp8cs_512_tp2pp1": ((5.58, 1477), [(1502, None), (None, 5.489), (1501, None)]),
    # 83725; 04-17 84246; 04-20 84374 (step only) and 84480 (iterations 3-9 of its table); 04-26 85293
    "togetherbl_llama3.1-70b_nvfp4_512_tp2pp4vp5": ((7.312, 2013), [(2378, None), (None, 7.197), (2047.8, 7.1884),
                                                                    (2047, None)]),
    # the row's run; 04-15 83853; TSV 84598
    "togetherbl_deepseek-v3_mxfp8_256_tp1pp16": ((42.01, 405.59), [(550.7, 30.94), (612, None)]),
    # 80077 / 80078; 04-16 Batch C 84027 / 84034
    "togetherbl_qwen3-235b-a22b_bf16_256_tp1pp8vp4": ((37.8, 514), [(521, None)]),
    "togetherbl_qwen3-235b-a22b_mxfp8_256_tp1pp8": ((50.7, 383), [(389, None)]),
    # OFFICIAL_BASELINES.md's figures (steps from the FLOPs basis); 04-16 'Nemotron4 340B -- Both Complete' 84065, 84064
    "togetherbl_nemotron4-340b_bf16_256_tp8pp4vp12": ((2.254, 936.33), [(866, None)]),
    "togetherbl_nemotron4-340b_fp8cs_256_tp8pp4vp12": ((1.917, 1101.1), [(1244, None)]),
    # OFFICIAL_BASELINES.md's figures; the 04-16 Grok-1 report's 84056 / 84061 (steps 3-9: TFLOP/s and step printed)
    "togetherbl_grok1-314b_bf16_256_tp4pp4vp8": ((8.271, 1025.4), [(994, 8.525)]),
    "togetherbl_grok1-314b_fp8cs_256_tp4pp4vp8": ((6.187, 1370.8), [(1219, 6.964)]),
    # 81056; 04-15 Tier 2; Session B 84443 (0.979 s at 1,492)
    "together_nemotron4-15b_bf16_256_gbs1024": ((1.0149, 1439.4), [(1419, None), (1492, 0.979)]),
}
LATER_JOBS = {"84023", "84591", "85430", "85432", "85444", "84592", "84597", "84249", "84464", "85296", "84246",
              "84374", "84480", "85293", "84598", "84027", "84034", "84065", "84064", "84056", "84061", "84443"}


@pytest.fixture(scope="module")
def reruns():
    load_parts_script("together")
    return sys.modules["together_reruns"]


@pytest.fixture(scope="module")
def rows():
    d = pd.concat([pd.read_csv(DATA / "together_b200_runs.csv"), pd.read_csv(DATA / "together_b200_baselines.csv")])
    return d.set_index("id")


def _steps(own, others):
    step, tfl = own
    return [step] + [s if s is not None else step * tfl / t for t, s in others]


def test_rows_are_the_mean_of_every_clean_run(rows):
    """Each row's step is the mean over its own run, its 2026-04-15 re-run and the later ones (one weight a run; a
    TFLOP/s-only run at the row's FLOPs per step), and step x TFLOP/s stays the row's own count."""
    for rid, (own, others) in RUNS.items():
        r = rows.loc[rid]
        steps = _steps(own, others)
        assert r["value"] == pytest.approx(sum(steps) / len(steps), abs=1e-4), rid
        assert r["value"] * r["tflops_per_gpu_printed"] == pytest.approx(own[0] * own[1], rel=2e-3), rid
    # the largest moves: 405B NVFP4 PP16 7 runs (1,564 .. 1,789), 70B NVFP4 512 GPUs 5 runs (6.19 .. 7.31 s)
    assert rows.loc["togetherbl_llama3.1-405b_nvfp4_256_tp4pp16vp8", "value"] == pytest.approx(74.2662, abs=1e-3)
    assert rows.loc["togetherbl_llama3.1-70b_nvfp4_512_tp2pp4vp5", "value"] == pytest.approx(7.0155, abs=1e-3)
    assert rows.loc["togetherbl_grok1-314b_fp8cs_256_tp4pp4vp8", "value"] == pytest.approx(6.5755, abs=1e-3)


def test_the_module_lists_exactly_the_later_runs(reruns, rows):
    """The module's later runs are the ones above, each citing a worklog report at 661e8e14 with its job and day,
    and each whose report prints a step has the row's FLOPs per step within 1% (the same batch)."""
    later = [r for r in reruns.RERUNS if r.file != reruns.WRB]
    assert {r.job for r in later} == LATER_JOBS and len(later) == len(LATER_JOBS)
    for r in later:
        assert r.file.startswith("worklog/") and r.commit.startswith("661e8e14"), r
        assert "2026-04-16" <= r.date <= "2026-04-27", r
        own = RUNS[r.row][0]
        if r.step is not None and r.tflops is not None:
            assert abs(r.step * r.tflops / (own[0] * own[1]) - 1) < 0.01, r
        assert f"job {r.job}" in rows.loc[r.row, "notes"], r


def test_runs_of_other_configurations_are_excluded_with_their_reason(reruns, rows):
    """Not averaged: the Qwen3 runs of another launch, 26.02.01 software, another container, another GPU count or
    batch, another cluster, a misprint; each listed with why, and no row cites them."""
    why = {}
    for section, label, job, text in reruns.EXCLUDED:
        for j in job.split("/"):
            why[j] = text
    assert "another launch" in why["84594"] and "another launch" in why["84596"]
    assert "other software" in why["85443"] and "26.02.01" in why["85443"]
    assert "another container" in why["84490"] and "25.09" in why["84490"]
    assert "misprint" in why["83825"] and "84065" in why["83825"]
    assert "no row of that GPU count" in why["84025"] and "another configuration" in why["84032"]
    assert "another batch" in why["85295"] and "3072" in why["85295"]
    assert "no table of its own" in why["84488"]
    assert "another cluster" in why["2139"]
    notes = " ".join(rows["notes"])
    for job in ("84594", "84596", "85443", "84490", "83825", "84025", "84032", "85295", "84488"):
        assert f"job {job}" not in notes, job
    # the 512-GPU 405B NVFP4 row (GBS 1536 on the old Megatron-Bridge) keeps its own run alone
    assert rows.loc["togetherbl_llama3.1-405b_nvfp4_512_tp4pp16vp8", "value"] == pytest.approx(44.8)
    # the 340B figures the consolidated table also prints under Nemotron4 15B join the 340B rows only
    assert "job 84065" in rows.loc["togetherbl_nemotron4-340b_bf16_256_tp8pp4vp12", "notes"]
    assert "866" not in rows.loc["together_nemotron4-15b_bf16_256_gbs1024", "notes"]
