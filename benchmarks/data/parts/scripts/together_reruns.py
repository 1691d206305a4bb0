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
"Previous", a run with no figure, and (``LATER_EXCLUDED``) the later reports' runs of another launch, software,
container, GPU count or batch, of another cluster, with no table of their own, or misprinted.

Source of the re-runs: togethercomputer/together-dgxc-benchmarking @d275be99 (the commit both CSVs cite),
tests/b200/worklog/2026-04-15_rebenchmark_report.md: "Re-ran all NVIDIA official baselines with 26.02 container,
measuring TFLOP/s/GPU averaged over training steps 3-9", jobs pinned to a list of 32 good nodes ("Cluster State"),
each re-run printed beside the figure it repeats ("Previous"). The same repository's later worklog/ reports
(``LATER``, rerunb38: 661e8e14, 2026-04-16 .. 04-27; ebcac277's 05-02 .. 05-12 reports give none that can be
checked) hold further runs of some of these configurations on other node sets; each is checked against the row it
would join (layout, batch, precision, recipe options, software; where it prints a step, its FLOPs per step within 1%
of the row's) and taken by the same rule, one weight a run.
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
    tflops: float | None  # TFLOP/s/GPU printed (None: the report prints the step only, its TFLOP/s an estimate)
    previous: float | None = None  # the report's "Previous" (the row's TFLOP/s as OFFICIAL_BASELINES.md rounds it)
    job: str = "(not given)"
    step: float | None = None  # printed step time, where the report prints one
    steps: str = "3-9"  # the steps its figure averages
    file: str = WRB     # the report (a path of togethercomputer/together-dgxc-benchmarking at ``commit``)
    commit: str = C
    date: str = RUN_DATE  # the day it ran
    how: str = HOW      # software, launch and node set, as the report states them


# -- the later reports (rerunb38): the same repository's worklog/ at 661e8e14 (2026-04-16 .. 04-29) and ebcac277
# (05-01 .. 05-12). A run joins a row when its report states (or its launch command fixes) the row's model, GPU
# count, layout, precision, global batch, container and recipe options; where it prints a step, its FLOPs per step
# (step x TFLOP/s) must be the row's within 1% (the batch check). Every figure is the job's own table's.
C661 = "661e8e14461c672315ea1a129380fb2e84b8dcc2"
CEB = "ebcac27776db26660e07e40522037061e6f960a2"
W16 = "worklog/2026-04-16_benchmark_rerun_report.md"
WGROK = "worklog/2026-04-16_grok1_314b_benchmark.md"
W17 = "worklog/2026-04-17_512gpu_benchmark_report.md"
W20A = "worklog/2026-04-20_512gpu_rerun_report.md"
W20B = "worklog/session_B_report_2026-04-20.md"
W20S = "worklog/2026-04-20_benchmark_scorecard.md"
T22 = "worklog/rebench_256_2026-04-22_results.tsv"
W26 = "worklog/2026-04-26_15jobs_512gpu_report.md"
W27 = "worklog/2026-04-27_405b_nvfp4_investigation.md"
W0502 = "worklog/2026-05-02_256gpu_benchmark_report.md"
LLMB = "26.02.00 through llmb-run (Megatron-Bridge)"
N16 = "exclude gpu-[145,154,155,190]"
N22 = ("llmb-run submit ... --scale 256 (rebench_256_2026-04-22.sh), exclude gpu-[130,190,197,199,201,211,228,233,"
       "239]; the TSV's ss_tflops_avg = mean TFLOP/s of iterations 3-9")
N20 = "exclude gpu-[130,190,197,199,201,211,228,233,239]"
N26 = "all 64 idle nodes (exclude gpu-141, drained)"
L16 = dict(file=W16, commit=C661, date="2026-04-16")
L17 = dict(file=W17, commit=C661, date="2026-04-17")
L20 = dict(file=W20A, commit=C661, date="2026-04-20")
L22 = dict(file=T22, commit=C661, date="2026-04-22", how=f"{LLMB}; {N22}")
L26 = dict(file=W26, commit=C661, date="2026-04-26")
L27 = dict(file=W27, commit=C661, date="2026-04-27")
R405 = "togetherbl_llama3.1-405b_nvfp4_256_tp4pp16vp8"
NH512 = "togetherbl_nemotron-h-56b_fp8cs_512_tp2pp1"
L70N = "togetherbl_llama3.1-70b_nvfp4_512_tp2pp4vp5"

LATER = [
    # Llama 3.1 405B NVFP4, 256 GPUs, TP4 PP16 VP8 GBS 1536, the V1 recipe (recompute_num_layers=1) on Megatron-Bridge
    # 6b3b5ba7: the row's (80073). 84591's config is printed in rebench_256_2026-04-22_orchestrator.log (V2 not
    # found, 'falling back to ..._B200_NVFP4_V1': TP4 PP16 VP8, recompute_num_layers=1, ..._gbs1536); the 04-27 report
    # gives its container md5 (4a3edb8) and MB commit (6b3b5ba7) and runs the same recipe three times more
    Rerun(R405, "Batch C", "Llama 405B / NVFP4, TP=4, PP=16, VP=8, GBS=1536", 1746, job="84023",
          how=f"{LLMB}; {N16}", **L16),
    Rerun(R405, "results", "llama405b / nvfp4", 1789, job="84591", **L22),
    Rerun(R405, "Final scoreboard (256 GPU, TP=4 PP=16 CP=1 VP=8 GBS=1536, MBS=1)", "old install, curated nodes",
          1668, job="85430", steps="3+", how="26.02.00 md5 4a3edb8, Megatron-Bridge 6b3b5ba7, llmb-run", **L27),
    Rerun(R405, "Final scoreboard (256 GPU, TP=4 PP=16 CP=1 VP=8 GBS=1536, MBS=1)",
          "old install, disjoint (incl. 4 fabric-weak)", 1662, job="85432", steps="3+",
          how="26.02.00 md5 4a3edb8, Megatron-Bridge 6b3b5ba7, llmb-run", **L27),
    Rerun(R405, "Final scoreboard (256 GPU, TP=4 PP=16 CP=1 VP=8 GBS=1536, MBS=1)",
          "new install, container symlinked to old known-good", 1675, job="85444", steps="3+ (25 measured)",
          how="26.02.00 md5 4a3edb8, Megatron-Bridge 6b3b5ba7, a fresh llmb install", **L27),
    # Llama 3.1 405B FP8, 256 GPUs: `llmb-run submit -w pretrain_llama3.1 -s 405b -d fp8 --scale 256`, the command of
    # the row's official/256gpu/run.sh (82931); iteration 5: 69.80 s at 1,777.4 TFLOP/s, the row's FLOPs per step +0.05%
    Rerun("togetherbl_llama3.1-405b_fp8cs_256_tp4pp8cp2vp8", "results", "llama405b / fp8", 1777, job="84592", **L22),
    # Nemotron-H 56B FP8, 256 GPUs (`-w pretrain_nemotron-h -s 56b -d fp8 --scale 256`, the row's 83728 command);
    # iteration 5: 5.39 s at 1,528.8, the row's FLOPs per step +0.09%
    Rerun("togetherbl_nemotron-h-56b_fp8cs_256_tp2pp1", "results", "nemotron-h_56b / fp8", 1520, job="84597", **L22),
    # DeepSeek-V3 MXFP8, 256 GPUs (`-w pretrain_deepseek-v3 -d fp8 --scale 256`: TP1 PP16 EP8 GBS 4096, the
    # experiment pretrain_deepseek_v3_fp8_mx of the 04-20 report); iteration 5: 27.85 s at 611.8, the row's FLOPs
    # per step to 0.01% (the Triton JIT now compiles, 2026-04-20 report: 'Iter-1 warmup 674s (Triton JIT)')
    Rerun("togetherbl_deepseek-v3_mxfp8_256_tp1pp16", "results", "deepseek-v3 / fp8", 612, job="84598", **L22),
    # Qwen3-235B, 256 GPUs, the 04-16 Batch C table: BF16 TP=1 PP=8 VP=4 EP=8 GBS=8192 (80077's layout, 'matches
    # official exactly') and FP8-MX TP=1 PP=8 EP=8 ETP=1 GBS=8192 with no VP (80078's; llmb's FP8-MX Qwen3 recipe
    # names its VP None: session_B_report_2026-04-20.md, ..._fp8_mx_gpus512_tp1_pp8_cp1_vpNone_ep8_etp1_mbs1_
    # gbs8192), the recipe's options (no CUDA graphs, all-to-all dispatcher) as the rows are priced
    Rerun("togetherbl_qwen3-235b-a22b_bf16_256_tp1pp8vp4", "Batch C", "Qwen3 235B / BF16, TP=1, PP=8, VP=4, EP=8, "
          "GBS=8192", 521, job="84027", how=f"{LLMB}; {N16}", **L16),
    Rerun("togetherbl_qwen3-235b-a22b_mxfp8_256_tp1pp8", "Batch C", "Qwen3 235B / FP8, TP=1, PP=8, EP=8, ETP=1, "
          "GBS=8192", 389, job="84034", how=f"{LLMB}; {N16}", **L16),
    # Nemotron-4 340B, 256 GPUs, NeMo 25.07.01 launch.sh, TP=8 PP=4 VP=12 GBS=64, TP comm overlap off
    # (TP_COMM_OVERLAP=False baked in at launch): the rows' configuration. The job's own table ('Nemotron4 340B --
    # Both Complete'); the consolidated table prints these two figures under Nemotron4 15B as well (EXCLUDED)
    Rerun("togetherbl_nemotron4-340b_bf16_256_tp8pp4vp12", "Nemotron4 340B -- Both Complete", "BF16, TP=8, PP=4, "
          "VP=12, GBS=64", 866, job="84065", how="nvidia+nemo+25.07.01 launch.sh, TP_COMM_OVERLAP=False; " + N16,
          **L16),
    Rerun("togetherbl_nemotron4-340b_fp8cs_256_tp8pp4vp12", "Nemotron4 340B -- Both Complete", "FP8, TP=8, PP=4, "
          "VP=12, GBS=64", 1244, job="84064", how="nvidia+nemo+25.07.01 launch.sh, TP_COMM_OVERLAP=False; " + N16,
          **L16),
    # Grok-1 314B, 256 GPUs, NeMo 25.09.00, TP4 PP4 EP8 ETP1 VP8 MBS1 GBS512 seq 8192, TP comm overlap disabled,
    # grok1/{bf16,fp8}/official/256gpu/sbatch.sh: the rows' configuration (their notes cite this report for it)
    Rerun("togetherbl_grok1-314b_bf16_256_tp4pp4vp8", "Results Summary", "BF16", 994, job="84056", step=8.525,
          file=WGROK, commit=C661, date="2026-04-16",
          how="nvidia+nemo+25.09.00, TP comm overlap disabled (PMIx patcher), grok1/bf16/official/256gpu/sbatch.sh"),
    Rerun("togetherbl_grok1-314b_fp8cs_256_tp4pp4vp8", "Results Summary", "FP8", 1219, job="84061", step=6.964,
          file=WGROK, commit=C661, date="2026-04-16",
          how="nvidia+nemo+25.09.00, TP comm overlap disabled (PMIx patcher), grok1/fp8/official/256gpu/sbatch.sh"),
    # Nemotron-4 15B BF16, 256 GPUs, GBS 1024, MBS 2: the dgxc nemotron4-15b launch.sh on 26.02 through the
    # compat_runner.py of the 04-15 run (experiment ..._bf16_gpus256_tp1_pp1_cp1_vp1_mbs2_gbs1024), the row's (81056);
    # 0.979 s at 1,492: the row's FLOPs per step to 0.01%
    Rerun("together_nemotron4-15b_bf16_256_gbs1024", "Results Summary", "Nemotron4 15B / BF16 / 256", 1492,
          job="84443", step=0.979, steps="steady (MAX_STEPS=10)", file=W20B, commit=C661, date="2026-04-20",
          how="26.02.00 + compat_runner.py, submit_session_B.sh n15b_bf16 (dgxc launch.sh), exclude gpu-[181,190]"),
    # Nemotron-H 56B FP8, 512 GPUs (`-w pretrain_nemotron-h -s 56b -d fp8 --scale 512`, the row's 83731 command).
    # 84249: 'Iter 3-9 Avg' with iteration 4 (a CUDA graph recapture, 10.1 s) left out by the report; 84464: the
    # iteration-5 step printed (its TFLOP/s 'estimated by scaling Friday's report value'), the row's FLOPs +-0.1%
    Rerun(NH512, "Results -- 512-GPU vs 256-GPU", "Nemotron-H 56B / FP8", 1502, job="84249", steps="3, 5-9",
          how=f"{LLMB} (run_all_official.sh --tier3)", **L17),
    Rerun(NH512, "Results -- Today (2026-04-20) vs Friday (2026-04-17)", "Nemotron-H 56B / FP8", None, job="84464",
          step=5.489, steps="5", how=f"{LLMB}; {N20}", **L20),
    Rerun(NH512, "Scoreboard", "Nemotron-H 56B FP8", 1501, job="85296", steps="5+", how=f"{LLMB}; {N26}", **L26),
    # Llama 3.1 70B NVFP4, 512 GPUs, TP2 PP4 VP5 GBS 2048 (`-s 70b -d nvfp4 --scale 512`, the row's 83725 command;
    # the 04-20 report: 'Both runs identical config', GBS 2048). 84246's per-step table prints 0.49 s steps, which
    # disagree with its own TFLOP/s at this batch and with the 04-20 report's 6,189 ms for the same job: its TFLOP/s
    # is taken (-> 6.19 s). 84480: the mean of its printed iterations 3-9 (7,154.0 .. 7,154.5 ms; 2,057.6 ..
    # 2,057.5 TFLOP/s). The 04-17 -> 04-20 step (+16%) is 'reproducible across two independent submissions' with
    # 'No configuration changes' and the container unchanged: a run-to-run difference, so every run counts
    Rerun(L70N, "Per-Step Details / Llama 3.1 70B NVFP4 (Job 84246)", "Avg (3-9)", 2378, job="84246",
          how=f"{LLMB} (run_all_official.sh --tier3)", **L17),
    Rerun(L70N, "Results -- Today (2026-04-20) vs Friday (2026-04-17)", "Llama 3.1 70B / NVFP4", None, job="84374",
          step=7.197, steps="5", how=f"{LLMB}; {N20}", **L20),
    Rerun(L70N, "Follow-up: 70B NVFP4 Confirmatory Re-run (job 84480)", "iterations 3-9", 2047.8, job="84480",
          step=7.1884, how=f"{LLMB}; {N20}", **L20),
    Rerun(L70N, "Scoreboard", "Llama 70B NVFP4", 2047, job="85293", steps="5+", how=f"{LLMB}; {N26}", **L26),
]

_512 = "512 GPUs: no row of that configuration (a re-run is averaged into a row; none is added)"
_05 = ("the report's Configurations table gives each workload's base batch (GBS 256 for Llama 70B, 3072 for 405B FP8, "
       "192 for Nemotron-H, 2048 for Nemotron-4 15B BF16) where the rows run 1536 (405B FP8), 768 (Nemotron-H), 1024 "
       "(15B BF16) at 256 GPUs, and prints TFLOP/s only, so neither its batch nor its FLOPs per step can be checked; "
       "405B NVFP4 ran Together's PP 8 script (/tmp/rerun_B256_llama405b_nvfp4_pp8_v2.sh, not in the repository) "
       "and Grok-1 the v7 patcher scripts (/tmp/...): launches the repository does not hold")
#: the later reports' runs not averaged: (section, label, job, why); the section names the report
LATER_EXCLUDED = [
    (f"{W16} @661e8e14 'Batch C'", "Llama 70B / NVFP4, TP=2, PP=4, VP=5, GBS=256, 256 GPUs (1,943)", "84025",
     "no row of that GPU count: the NVFP4 70B row runs 512 GPUs at GBS 2048"),
    (f"{W16} @661e8e14 'Batch C'", "Qwen3 30B / BF16, TP=1, PP=1, EP=8, GBS=512 (197)", "84032",
     "another configuration: 256 GPUs at GBS 512 ('All at 256-GPU (32-node) scale'), where the row (83726) runs 64 "
     "GPUs at GBS 4096"),
    (f"{W16} @661e8e14 'Consolidated TFLOP/s/GPU'", "Nemotron4 15B / BF16 866, FP8 1,244", "83825/83826",
     "misprint: 866 / 1,244 are jobs 84065 / 84064's (the 340B, the report's own 'Nemotron4 340B -- Both Complete' "
     "table); 83825 / 83826 are the 2026-04-15 15B runs (submit_session_B.sh: 'Apr 15 83825'), already averaged "
     "from the 04-15 report's own table (1,419 / 1,624)"),
    (f"{W16} @661e8e14 'Consolidated TFLOP/s/GPU'", "Llama 3.1 405B FP8 1,724; Llama 3.1 70B FP8 1,546; "
     "Nemotron-H 56B 1,529; DeepSeek V3 FP8 551", "83844/83845/83847/83853",
     "the 2026-04-15 re-runs (the 04-15 report's Tier 2 figures): taken from that report once, not again"),
    (f"{T22} @661e8e14", "llama70b nvfp4 (2,381) / fp8 (1,511), 256 GPUs", "84589/84590",
     "no row: Llama 70B at 256 GPUs runs TP=2 PP=4 VP=5 GBS 256 here (..._fp8_mx_gpus256_tp2_pp4_cp1_vp5_..._gbs256 in "
     "the orchestrator log), the 256-GPU FP8 row is Together's TP=1 PP=1 Megatron-FSDP (79139)"),
    (f"{T22} @661e8e14", "qwen3_235b bf16 (650) / fp8 (501)", "84594/84596",
     "another launch: submit_session_B.sh runs the dgxc checkout's qwen3/pretrain/launch.sh and patches the "
     "generated sbatch to forward TORCH_NCCL_HIGH_PRIORITY and NVTE_FWD/BWD_LAYERNORM_SM_MARGIN into the container "
     "('Megatron-Bridge launchers ... emit NO --container-env', session_B_report_2026-04-20.md), which the llmb-run "
     "runs of the rows (80077 / 80078, and 84027 / 84034) do not; the recipe it generated is not printed, and its "
     "TFLOP/s are 1.25 / 1.29x 84027 / 84034's at the same FLOPs per step"),
    (f"{W20S} @661e8e14", "Nemotron4 15B BF16 1,489 (256 GPU)", "84488",
     "no table of its own to check it against: the Session B report gives 84443 (taken) as the 15B BF16 256-GPU run"),
    (f"{W20S} @661e8e14", "Nemotron4 15B FP8 1,665 (256 GPU, GBS 1024)", "84490",
     "another container: submit_session_B.sh runs 15B FP8 on nvidia+nemo+25.09.00 (26.02 + compat_runner breaks "
     "FP8 CUDA graphs, job 84450), the row (81060) 26.02 through compat_runner.py"),
    (f"{W27} @661e8e14 'Final scoreboard'", "new install, 26.02.01 (1,492)", "85443",
     "other software: container 26.02.01 with Megatron-Bridge aeead1ae, where the row runs 26.02.00 with 6b3b5ba7"),
    (f"{W17} @661e8e14; {W20A}; {W26}", "Llama 3.1 405B NVFP4 TP=4 PP=16 VP=8, 512 GPUs (1,789; ~1,800; 1,677 / "
     "1,662)", "84248/84460/85295/85330",
     "another batch: GBS 3072 (the 04-26 Configurations table; 69.0-69.2 s at 1,789-1,800 TFLOP/s is 2.0x the FLOPs "
     "per step of the 512-GPU row 79952's GBS 1536), and the row ran the old Megatron-Bridge (recompute 8)"),
    (f"{W17} @661e8e14; {W20A}; {W26}", "Llama 3.1 70B FP8 (TP=2 PP=4 VP=5, fp8_mx) / 405B FP8 / DeepSeek-V3 FP8 / "
     "Nemotron4 340B / Grok1, 512 GPUs", "84245/84247/84255/84272/84275/84278/84279/84459/84463/84467/84471/84473/"
     "84475/84477/85292/85294/85305/85307/85310/85312/85314", _512),
    (f"{W20B} @661e8e14; {W26}", "Nemotron4 15B BF16 / FP8, Qwen3 235B BF16 / FP8, DeepSeek-V3 BF16, 512 GPUs",
     "84447/84455/84486/84466/84469/84479/85317/85326/85320/85323/85329", _512),
    (f"{W0502} @ebcac277", "all 15 workloads, 256 GPUs", "87936-87943/87949/87951/87953/87955/87956/87970-87972",
     _05),
    ("worklog/2026-05-10_flapping_airplanes_256gpu_benchmark_report.md, 2026-05-11_exemplar_benchmark_summary.md, "
     "2026-05-11 / 05-12 flapping_airplanes reports @ebcac277", "the slinky (flapping-airplanes) sweeps",
     "2139/2143 and the 05-11 / 05-12 sweeps",
     "another cluster: slinky, 51 B200 nodes under Kubernetes (2026-05-01_dgxc_installation.md), SHARP inactive, "
     "its own install and patches (executors.py, run_script.py, perf_plugins.py); both sources are the use3a-ss "
     "cluster's runs"),
]


#: the re-runs of identical configurations, each against the row it repeats
RERUNS = [
    Rerun("togetherbl_llama3.1-70b_mxfp8_64_tp1pp1", T1, "Llama 3.1 70B / FP8", 1454, 1624),
    Rerun("togetherbl_nemotron-h-56b_fp8cs_64_tp2pp1", T1, "Nemotron-H 56B / FP8", 1532, 1563),
    Rerun("togetherbl_qwen3-30b-a3b_bf16_64_tp1pp1", T1, "Qwen3 30B / BF16", 205, 204),
    Rerun("together_nemotron4-15b_bf16_64_gbs256", T1, "Nemotron4 15B / BF16", 1468, 1571),
    Rerun("together_nemotron4-15b_fp8_64_gbs256", T1, "Nemotron4 15B / FP8", 1861, 1916),
    # the job ids of the Tier 2 405B FP8 / Nemotron-H runs: the 2026-04-16 report's consolidated 256-GPU table
    # (83844 1,724, 83847 1,529: the figures of this report's Tier 2 table)
    Rerun("togetherbl_llama3.1-405b_fp8cs_256_tp4pp8cp2vp8", T2, "Llama 3.1 405B / FP8", 1724, 1722, job="83844"),
    Rerun("togetherbl_llama3.1-405b_nvfp4_256_tp4pp16vp8", T2, "Llama 3.1 405B / NVFP4", 1607, 1564),
    Rerun("togetherbl_nemotron-h-56b_fp8cs_256_tp2pp1", T2, "Nemotron-H 56B / FP8", 1529, 1536, job="83847"),
    Rerun("together_nemotron4-15b_bf16_256_gbs1024", T2, "Nemotron4 15B / BF16", 1419, 1439),
    Rerun("together_nemotron4-15b_fp8_256_gbs1024", T2, "Nemotron4 15B / FP8", 1624, 1800),
    # "DeepSeek V3 671B FP8 -- Steps 3-9 Detail (Job 83853)": TFLOP/s and step printed per step, their averages
    # 550.7 / 30.94 s (TP=1, PP=16, EP=8, ETP=1, MBS=1, GBS=4096, MXFP8). The job needed two patches to start
    # ("Issues Encountered": LD_LIBRARY_PATH for ptxas, TORCHDYNAMO_DISABLE=1 as the container lacks g++): they let the
    # Triton kernels compile, and change no model, layout, precision, batch or recipe setting, so the configuration
    # is the row's; disabling torch.compile could only slow the re-run, which is the faster run
    Rerun("togetherbl_deepseek-v3_mxfp8_256_tp1pp16", T2, "DeepSeek V3 671B / FP8", 550.7, 406, job="83853",
          step=30.94),
] + LATER

#: the report's runs not averaged into any row: (section, label, job, why)
EXCLUDED = [
    (T2, "Llama 3.1 70B / FP8 (1,546 TFLOP/s; 'Previous' 1,494)", "83845",
     "another configuration: the report re-ran NVIDIA's official 256-GPU config (TP=2, PP=4, VP=5 on 26.02 through "
     "llmb-run; OFFICIAL_BASELINES.md's Llama 3.1 70B table) where its 'Previous' 1,494 is job 79139, Together's own "
     "TP=1, PP=1 Megatron-FSDP config at GBS 512 on 25.11.01 (OFFICIAL_BASELINES.md: 'different config'); not a "
     "row of either source"),
    (T2, "Qwen3 235B / BF16", "83854/83855",
     "failed: 'Failed 2 attempts (jobs 83854, 83855). Triton JIT gcc compilation ... fails' -- no measurement"),
] + LATER_EXCLUDED


def runs_of(row_id: str) -> list[Rerun]:
    return [r for r in RERUNS if r.row == row_id]


def rerun_point(row_step: float, row_tflops: float, r: Rerun) -> tuple[float, float]:
    """The re-run's (step, TFLOP/s): the step as printed, else the row's FLOPs per step (its step x its TFLOP/s) at the
    re-run's TFLOP/s; the TFLOP/s as printed, else (a report printing the step only) the row's FLOPs per step over
    that step."""
    assert r.step is not None or r.tflops is not None, r
    step = r.step if r.step is not None else row_step * row_tflops / r.tflops
    return step, (r.tflops if r.tflops is not None else row_step * row_tflops / r.step)


def rerun_step(row_step: float, row_tflops: float, r: Rerun) -> float:
    """The re-run's step (``rerun_point``)."""
    return rerun_point(row_step, row_tflops, r)[0]


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
    mean, tfl = mean_run([(step, tflops)] + [rerun_point(step, tflops, r) for r in rs])

    def said(r):
        s, t = rerun_point(step, tflops, r)
        fig = (f"{r.tflops:,} TFLOP/s" if r.tflops is not None else "step printed, TFLOP/s not")
        prev = f" ('Previous' {r.previous:,})" if r.previous is not None else ""
        got = (f", {r.step} s printed" if r.step is not None else f" -> {s:.4f} s at the row's FLOPs per step")
        return (f"{r.file.rsplit('/', 1)[-1]} @{r.commit[:8]} '{r.section}', {r.label}, job {r.job}, run {r.date} "
                f"({r.how}; steps {r.steps}): {fig}{prev}{got}")
    note = (f" Re-runs averaged (together_reruns.py rule: every clean run of the configuration, one weight each): "
            f"{'; '.join(said(r) for r in rs)}. Step = mean of {row_runs} ({step} s, {tflops} TFLOP/s) and the re-run"
            f"{'s' if len(rs) > 1 else ''} = {mean} s; TFLOP/s column = the runs' harmonic mean ({tfl}).")
    return mean, tfl, note
