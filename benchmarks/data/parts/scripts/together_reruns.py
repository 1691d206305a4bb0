"""Together AI's re-runs of configurations already measured in its B200 tables, and the one rule by which both
Together sources take them: ``together_b200_runs.csv`` (dgxc.py, source ``together B200``) and
``together_b200_baselines.csv`` (together.py, ``together B200 baselines``). Not a builder: the two builders import it
by name, as they import ``parts_csv``.

Rule: a row's step time is the mean of the step times of every clean run of an identical configuration -- same model,
GPU count, layout, precision, global batch, container and recipe options -- one weight a run, whatever number of
steps each run's figure averages (the steps are stated with each run). The rows' own repeats were already taken
this way ("repeated jobs averaged": ``together`` 81057 / 81058 / 81059 and 81069 / 81072, ``together B200
baselines`` 79133 / 79134 / 79135 and 79120 / 79119 / 79118); one weight a run because what separates runs of one
configuration on this cluster is the run (1.4-10.7% between the re-runs below and their rows), not the steps inside
one (Together's 15B fp8 repeats: 0.456-0.458 s). A re-run that prints TFLOP/s only is converted at the row's own
FLOPs per step (the row's step x its TFLOP/s: the same software counts the same configuration alike). The row's
``tflops_per_gpu_printed`` becomes the harmonic mean of the runs' TFLOP/s (their common FLOPs per step over the mean
step), so step x TFLOP/s stays the count the software prints. ``mean_run`` is the rule; the builders take the rows'
own repeats through it too.

Excluded (``EXCLUDED``, each with its reason): a run of another configuration the report sets beside a row as
"Previous", and a run with no figure.

Source of the re-runs: togethercomputer/together-dgxc-benchmarking @d275be99 (the commit both CSVs cite),
tests/b200/worklog/2026-04-15_rebenchmark_report.md: "Re-ran all NVIDIA official baselines with 26.02 container,
measuring TFLOP/s/GPU averaged over training steps 3-9", jobs pinned to a list of 32 good nodes ("Cluster State"),
each re-run printed beside the figure it repeats ("Previous"). The same repository's later worklog/ reports
(661e8e14 and after: 2026-04-16 .. 05-12) hold further runs of some of these configurations on other node sets;
they are not transcribed here (rerun38 took the report at the commit the rows cite).
"""
from __future__ import annotations

from typing import NamedTuple

C = "d275be993eb252fc734b7477b19ad5b4ee49ba56"
WRB = "tests/b200/worklog/2026-04-15_rebenchmark_report.md"
RUN_DATE = "2026-04-15"
T1 = "Tier 1 Results (64-GPU / 8 nodes)"
T2 = "Tier 2 Results (256-GPU / 32 nodes)"
HOW = "26.02 container, jobs pinned to 32 good nodes"


class Rerun(NamedTuple):
    row: str            # the id of the row it repeats (its CSV: together_b200_runs.csv or together_b200_baselines.csv)
    section: str        # the report's section
    label: str          # the report's Model / Dtype cells
    tflops: float       # TFLOP/s/GPU printed
    previous: float     # the report's "Previous" (the row's TFLOP/s as OFFICIAL_BASELINES.md rounds it)
    job: str = "(not given)"
    step: float | None = None  # printed step time, where the report prints one
    steps: str = "3-9"  # the steps its figure averages


#: the re-runs of identical configurations, each against the row it repeats
RERUNS = [
    Rerun("togetherbl_llama3.1-70b_mxfp8_64_tp1pp1", T1, "Llama 3.1 70B / FP8", 1454, 1624),
    Rerun("togetherbl_nemotron-h-56b_fp8cs_64_tp2pp1", T1, "Nemotron-H 56B / FP8", 1532, 1563),
    Rerun("togetherbl_qwen3-30b-a3b_bf16_64_tp1pp1", T1, "Qwen3 30B / BF16", 205, 204),
    Rerun("together_nemotron4-15b_bf16_64_gbs256", T1, "Nemotron4 15B / BF16", 1468, 1571),
    Rerun("together_nemotron4-15b_fp8_64_gbs256", T1, "Nemotron4 15B / FP8", 1861, 1916),
    Rerun("togetherbl_llama3.1-405b_fp8cs_256_tp4pp8cp2vp8", T2, "Llama 3.1 405B / FP8", 1724, 1722),
    Rerun("togetherbl_llama3.1-405b_nvfp4_256_tp4pp16vp8", T2, "Llama 3.1 405B / NVFP4", 1607, 1564),
    Rerun("togetherbl_nemotron-h-56b_fp8cs_256_tp2pp1", T2, "Nemotron-H 56B / FP8", 1529, 1536),
    Rerun("together_nemotron4-15b_bf16_256_gbs1024", T2, "Nemotron4 15B / BF16", 1419, 1439),
    Rerun("together_nemotron4-15b_fp8_256_gbs1024", T2, "Nemotron4 15B / FP8", 1624, 1800),
    # "DeepSeek V3 671B FP8 -- Steps 3-9 Detail (Job 83853)": TFLOP/s and step printed per step, their averages
    # 550.7 / 30.94 s (TP=1, PP=16, EP=8, ETP=1, MBS=1, GBS=4096, MXFP8). The job needed two patches to start
    # ("Issues Encountered": LD_LIBRARY_PATH for ptxas, TORCHDYNAMO_DISABLE=1 as the container lacks g++): they let the
    # Triton kernels compile, and change no model, layout, precision, batch or recipe setting, so the configuration
    # is the row's; disabling torch.compile could only slow the re-run, which is the faster run
    Rerun("togetherbl_deepseek-v3_mxfp8_256_tp1pp16", T2, "DeepSeek V3 671B / FP8", 550.7, 406, job="83853",
          step=30.94),
]

#: the report's runs not averaged into any row: (section, label, job, why)
EXCLUDED = [
    (T2, "Llama 3.1 70B / FP8 (1,546 TFLOP/s; 'Previous' 1,494)", "(not given)",
     "another configuration: the report re-ran NVIDIA's official 256-GPU config (TP=2, PP=4, VP=5 on 26.02 through "
     "llmb-run; OFFICIAL_BASELINES.md's Llama 3.1 70B table) where its 'Previous' 1,494 is job 79139, Together's own "
     "TP=1, PP=1 Megatron-FSDP config at GBS 512 on 25.11.01 (OFFICIAL_BASELINES.md: 'different config'); not a "
     "row of either source"),
    (T2, "Qwen3 235B / BF16", "83854/83855",
     "failed: 'Failed 2 attempts (jobs 83854, 83855). Triton JIT gcc compilation ... fails' -- no measurement"),
]


def runs_of(row_id: str) -> list[Rerun]:
    return [r for r in RERUNS if r.row == row_id]


def rerun_step(row_step: float, row_tflops: float, r: Rerun) -> float:
    """The re-run's step: as printed, else the row's FLOPs per step (its step x its TFLOP/s) at the re-run's TFLOP/s."""
    return r.step if r.step is not None else row_step * row_tflops / r.tflops


def mean_run(runs) -> tuple[float, float]:
    """The rule: every clean run of one configuration, one weight each. ``runs``: (step s, TFLOP/s/GPU) per run.
    Returns the mean step (4 decimals) and the harmonic mean of the TFLOP/s (1 decimal), which is the runs' common
    FLOPs per step over the mean step, so that the row's step x TFLOP/s stays the count its software prints."""
    runs = list(runs)
    assert runs and all(s > 0 and t > 0 for s, t in runs), runs
    return (round(sum(s for s, _ in runs) / len(runs), 4),
            round(len(runs) / sum(1 / t for _, t in runs), 1))


def average(row_id: str, step: float, tflops: float, row_runs: str = "the row's run") -> tuple[float, float, str]:
    """A row's (step, TFLOP/s, note) with its re-runs averaged in by the rule (``mean_run``); unchanged, with no note,
    without any. ``step`` / ``tflops`` are the row's one run's (a row already a mean of k repeats would need them one
    by one: the rows re-run here are each one job, which the builders check)."""
    rs = runs_of(row_id)
    if not rs:
        return step, tflops, ""
    mean, tfl = mean_run([(step, tflops)] + [(rerun_step(step, tflops, r), r.tflops) for r in rs])
    said = "; ".join(
        f"{WRB.rsplit('/', 1)[-1]} @{C[:8]} '{r.section}', {r.label}, job {r.job}, run {RUN_DATE} ({HOW}; steps "
        f"{r.steps}): {r.tflops:,} TFLOP/s ('Previous' {r.previous:,})"
        + (f", {r.step} s printed" if r.step is not None else
           f" -> {rerun_step(step, tflops, r):.4f} s at the row's FLOPs per step") for r in rs)
    note = (f" Re-runs averaged (together_reruns.py rule: every clean run of the configuration, one weight each): "
            f"{said}. Step = mean of {row_runs} ({step} s, {tflops} TFLOP/s) and the re-run"
            f"{'s' if len(rs) > 1 else ''} = {mean} s; TFLOP/s column = the runs' harmonic mean ({tfl}).")
    return mean, tfl, note
