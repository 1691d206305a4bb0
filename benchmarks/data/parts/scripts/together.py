"""Builder of ``benchmarks/data/together_b200_baselines.csv``: the rest of Together AI's published DGX B200
measurements (togethercomputer/together-dgxc-benchmarking), NVIDIA's dgxc-benchmarking workloads run on
Together's B200 cluster (8 x B200 a node, 8 x 400 Gb/s ConnectX-7 InfiniBand; NVLS off, no SHARP).

Run: ``python benchmarks/data/parts/scripts/together.py`` (rewrites the CSV).

Rule (which rows): every completed run, i.e. one with a TFLOP/s/GPU or step-time figure, in the per-model
tables of ``tests/b200/slurm/OFFICIAL_BASELINES.md`` @d275be99 ("Official Configs vs Your Optimized Results", the
repository's consolidated results file: ``ROWS``) and in the per-model results files ``tests/b200/slurm/*/results.md``
at the same commit (``RESULTS_ROWS``), one row per configuration: its repeats, and its re-runs in the same
commit's tests/b200/worklog/2026-04-15_rebenchmark_report.md, averaged by the rule ``together``'s rows take too
(``together_reruns.py``: the mean step of every clean run, one weight each; the re-runs not averaged listed there,
``EXCLUDED``, with the reason).
Their Nemotron4 15B tables are already ``together_b200_runs.csv`` (dgxc.py, source ``together``: jobs 81053 / 81054
/ 81056 / 81060 / 81072 and nemotron4-15b/results.md less its NVLS and profiler runs), so they add nothing here.
Layout, micro-batch and global batch: the table's, else the job's official run.sh header, results.md or worklog
report at the same commit (NVIDIA's qwen3/pretrain/README.md for the Qwen3-30B
global batch). Step time: the one a file of the same commit prints for the same job (the model's results.md, a
worklog report), else the printed TFLOP/s converted with the FLOPs per sequence the same software counts for
that model (``FLOPS_BASIS``: runs of the same model that print both TFLOP/s and step time -- Together's, or
Megatron-Bridge's own DGX-B200 table for Qwen3-30B-A3B, or Grok-1's 2026-04-16 report @661e8e14 -- or NeMo 2's
Nemotron formula for the 340B). The Llama 3.1 70B basis (Together's 04-08 runs, Megatron-Bridge on 25.11.01)
holds on 26.02 too: the 2026-04-20 512-GPU runs of the official FP8 / NVFP4 commands (~1,540 TFLOP/s at 9.509 s,
~2,050 at 7.197 s, GBS 2048) give 3.66e15 / 3.69e15 FLOPs per sequence against its 3.68e15.
Listed, not scored (``NOT_SCORED``): the runs the planner cannot take yet, with the reason.
Recipe settings (``RECIPE_NOTE``, ``RECOMPUTE_NL``, ``VARIANT_OPTIONS``): the Megatron-Bridge runs take their recipe
from validate.py's tables, the ones ``mbridge_all`` uses (validate.mbridge_run); the CSV carries only what the run's
own files state it changed (Qwen3-235B experiments' sbatch.sh / train.sh, the 405B upgrade report's recompute).

The repository's ``worklog/`` reports at later commits (661e8e14, ebcac277: 2026-04-16 .. 05-12) re-ran some of these
configurations on other dates and node sets: ``together_reruns.LATER`` takes the identical ones by the same rule
(rerunb38), ``LATER_EXCLUDED`` lists the rest with the reason. Not taken: its tests/b200/pretrain/ Kubernetes runs
(Llama 3.1 8B, Qwen3 30B; another cluster setup).

Why a source of its own (``together B200 baselines``), not ``together``: other software (Megatron-Bridge
26.02 through llmb-run for Llama 3.1 / Qwen3 / DeepSeek-V3 / Nemotron-H 56B, NeMo 25.07.01 / 25.09.00 for Nemotron-4 340B and
Grok-1; ``together`` is the Nemotron-4 15B NeMo 2 recipe on 26.02 through compat_runner.py), other workloads
(NVIDIA's official configs), and step times partly converted from TFLOP/s, where ``together`` prints them.
"""
from __future__ import annotations

from pathlib import Path

from parts_csv import write_csv
from together_reruns import EXCLUDED, average, mean_run, runs_of

READ = "2026-12-03"
C = "d275be993eb252fc734b7477b19ad5b4ee49ba56"  # the tests/b200 tree the rows cite
C661 = "661e8e14461c672315ea1a129380fb2e84b8dcc2"  # worklog/ (the Grok-1 report used for its FLOPs basis)
REPO = "https://github.com/togethercomputer/together-dgxc-benchmarking/blob/{commit}/{path}"
BASE = "tests/b200/slurm/OFFICIAL_BASELINES.md"
R405 = "tests/b200/slurm/llama3.1-405b/nvfp4/results.md"
W405 = "tests/b200/worklog/2026-04-10_405b_nvfp4_512gpu.md"
R70 = "tests/b200/slurm/llama3.1-70b/fp8/results.md"
RQW = "tests/b200/slurm/qwen3-235b/results.md"
WDS = "tests/b200/worklog/2026-04-15_rebenchmark_report.md"
WGROK = "worklog/2026-04-16_grok1_314b_benchmark.md"

SETUP = ("Together AI B200 Slurm cluster: 8 x B200 per node, ConnectX-7 InfiniBand 400 Gb/s, 8 HCAs per node "
         "(results.md headers; NVLS disabled, SHARP not available).")
MB = "nvidia+nemo+26.02.00 (Megatron-Bridge via llmb-run, NVIDIA dgxc-benchmarking official config)"
C2511 = "nvidia+nemo+25.11.01 (Megatron-Bridge run_script.py, as the 592-GPU run's train.sh; results.md header says 26.02.00)"

# architecture: Llama 3.1 / Qwen3 / DeepSeek-V3 as mbridge_all_runs.csv carries them (the public HF configs; the
# MoE rows take the planner preset, validate.PR2_PRESETS); Nemotron-4 340B as dgxc.py ARCH; Grok-1 the public
# xai-org/grok-1 config (64 layers, d 6144, 48 heads / 8 KV, expert FFN 32768, 8 experts top-2, vocab 131072)
ARCH = {
    "Llama 3.1 405B": dict(params_b=405, layers=126, hidden=16384, heads=128, kv_heads=8, ffn_hidden=53248,
                           vocab=128256, seq_len=8192, moe_experts="", moe_topk=""),
    "Llama 3.1 70B": dict(params_b=70, layers=80, hidden=8192, heads=64, kv_heads=8, ffn_hidden=28672, vocab=128256,
                          seq_len=8192, moe_experts="", moe_topk=""),
    "Qwen3-235B-A22B (head_dim 128, q-proj 8192 > hidden)": dict(
        params_b=235, layers=94, hidden=4096, heads=64, kv_heads=4, ffn_hidden=1536, vocab=151936, seq_len=4096,
        moe_experts=128, moe_topk=8),
    "DeepSeek-V3 (MLA, 1 shared expert, 3 dense layers)": dict(
        params_b=671, layers=61, hidden=7168, heads=128, kv_heads=128, ffn_hidden=2048, vocab=129280, seq_len=4096,
        moe_experts=256, moe_topk=8),
    "Qwen3-30B-A3B (head_dim 128, q-proj 4096 > hidden)": dict(
        params_b=30, layers=48, hidden=2048, heads=32, kv_heads=4, ffn_hidden=768, vocab=151936, seq_len=4096,
        moe_experts=128, moe_topk=8),
    "Nemotron-4 340B": dict(params_b=340, layers=96, hidden=18432, heads=96, kv_heads=8, ffn_hidden=73728,
                            vocab=256000, seq_len=4096, moe_experts="", moe_topk=""),
    "Grok-1 314B": dict(params_b=314, layers=64, hidden=6144, heads=48, kv_heads=8, ffn_hidden=32768, vocab=131072,
                        seq_len=8192, moe_experts=8, moe_topk=2),
    # the planner preset nemotron-h-56b (nvidia/Nemotron-H-56B-Base-8K config.json: 118 hybrid layers, 54 Mamba-2
    # + 54 MLP + 10 attention; validate.PR2_PRESETS), seq 8192 (run.sh header)
    "Nemotron-H 56B": dict(params_b=56, layers=118, hidden=8192, heads=64, kv_heads=8, ffn_hidden=32768, vocab=131072,
                           seq_len=8192, moe_experts="", moe_topk=""),
}


def nemo_nemotron_flops_per_seq(a) -> float:
    """NeMo 2's Nemotron FLOPs per sequence (nemo/utils/flops_formulas.py ``nemotron``): s l h^2 (12 + 12 g/a +
    12 f/h + 6 s/h) + 6 s h V. It reproduces the TFLOP/s the together 15B rows print (tests/test_dgxc_data.py)."""
    s, l, h, f, V = a["seq_len"], a["layers"], a["hidden"], a["ffn_hidden"], a["vocab"]
    return s * l * h * h * (12 + 12 * a["kv_heads"] / a["heads"] + 12 * f / h + 6 * s / h) + 6 * s * h * V


#: FLOPs per sequence the run's software counts, per model (a step's count is GBS times it: the seq is fixed per
#: model): from runs that print TFLOP/s and step time together (mean of TFLOP/s x GPUs x step / GBS), or NeMo's
#: formula. model -> (FLOPs per sequence, how)
def _mean(pairs, gbs):
    return sum(t * 1e12 * g * s for t, g, s in pairs) / len(pairs) / gbs


FLOPS_BASIS = {
    "Llama 3.1 405B": (_mean([(1564, 256, 79.3), (2006, 256, 61.8), (1384, 512, 44.8), (1818, 512, 34.1)], 1536),
                               "Megatron-Bridge 26.02 405B count: jobs 80073 / 80076 (results.md) and 79952 / 79953 "
                               "(2026-04-10_405b_nvfp4_512gpu.md), TFLOP/s x GPUs x step, GBS 1536, mean"),
    "Llama 3.1 70B": (_mean([(1590, 64, 4.63), (1573, 64, 4.68), (1575, 64, 4.67)], 128),
                             "Megatron-Bridge 70B count: jobs 79120 / 79119 / 79118 (llama3.1-70b/fp8/results.md, "
                             "64 GPUs GBS 128), TFLOP/s x GPUs x step, mean"),
    "Qwen3-235B-A22B (head_dim 128, q-proj 8192 > hidden)": (
        _mean([(383, 256, 50.7), (426, 256, 45.6)], 8192),
        "Megatron-Bridge 26.02 Qwen3 235B count: FP8-MX jobs 80078 / 80084 (qwen3-235b/results.md, 256 GPUs, the "
        "base config's GBS 8192), TFLOP/s x GPUs x step, mean (a check of the printed BF16 step only)"),
    "Qwen3-30B-A3B (head_dim 128, q-proj 4096 > hidden)": (
        4096 * 223e12 / 9691, "Megatron-Bridge 26.02 Qwen3-30B-A3B count: its DGX-B200 performance table's 223 TFLOP/s "
                              "at 9,691 tokens/s/GPU (mbridge_all_runs.csv mbridgeall_2602a_b200_qwen3-30b-a3b_mxfp8_8), "
                              "x seq 4096"),
    "DeepSeek-V3 (MLA, 1 shared expert, 3 dense layers)": (
        550.7e12 * 256 * 30.94 / 4096, "Megatron-Bridge 26.02 DeepSeek-V3 count: job 83853 (2026-04-15_rebenchmark_report.md, "
                                "256 GPUs GBS 4096, steps 3-9: 550.7 TFLOP/s, 30.94 s)"),
    "Nemotron-4 340B": (nemo_nemotron_flops_per_seq(ARCH["Nemotron-4 340B"]), "NeMo 2 nemotron FLOPs formula"),
    "Grok-1 314B": (_mean([(994, 256, 8.525), (1219, 256, 6.964)], 512),
                           "NeMo 25.09 Grok-1 count: jobs 84056 / 84061 (worklog/2026-04-16_grok1_314b_benchmark.md "
                           "@661e8e14, same config, steps 3-9), TFLOP/s x GPUs x step, mean"),
    # the three rows print both (OFFICIAL_BASELINES.md): a check of their own printed steps only
    "Nemotron-H 56B": (sum(t * 1e12 * g * s / b for t, g, s, b in ((1563, 64, 5.27, 192), (1536, 256, 5.36, 768),
                                                                  (1477, 512, 5.58, 1536))) / 3,
                       "Megatron-Bridge 26.02 Nemotron-H 56B count: jobs 83727 / 83728 / 83731 (OFFICIAL_BASELINES.md, "
                       "TFLOP/s x GPUs x step / GBS, mean)"),
}

BF16_GRAD = "Recipe: grad_reduce_in_fp32=False (bf16 gradient reduction)"
#: Megatron-Bridge's performance configs set it for Llama 3 / 3.1, Qwen3 and DeepSeek-V3 (validate.MBRIDGE_BF16_GRAD_REDUCE)
MB_GRAD = " (Megatron-Bridge scripts/performance configs, as validate.MBRIDGE_BF16_GRAD_REDUCE)."
#: one row per job: (model, precision text, gpus, gbs, mbs, tp, pp, cp, vpp, ep, etp, zero, tp_overlap,
#:   TFLOP/s printed, step printed or None, job, path of the step / config, container, notes)
ROWS = [
    # Llama 3.1 405B NVFP4 (OFFICIAL_BASELINES.md "Llama 3.1 405B"; layouts and step times results.md / worklog)
    ("Llama 3.1 405B", "nvfp4", 256, 1536, 1, 4, 16, 1, 8, 1, 4, "do", "", 1564, 79.3, "80073", R405,
     MB + "; Megatron-Bridge 6b3b5ba7e",
     "Official config A (TP4 PP16 VP8, DP 4). results.md also lists 'A+mbridge' 1,568 under the same job: one row."),
    ("Llama 3.1 405B", "nvfp4", 256, 1536, 1, 4, 8, 1, 4, 1, 4, "do", "", 2006, 61.8, "80076", R405,
     MB + "; Megatron-Bridge 6b3b5ba7e", "Together's config D (TP4 PP8 VP4, DP 8)."),
    ("Llama 3.1 405B", "nvfp4", 512, 1536, 1, 4, 16, 1, 8, 1, 4, "do", "", 1384, 44.8, "79952", W405,
     MB, "Official config A at 512 GPUs (DP 8); step = avg of iterations 2-10 (worklog)."),
    ("Llama 3.1 405B", "nvfp4", 512, 1536, 1, 4, 8, 1, 4, 1, 4, "do", "", 1818, 34.1, "79953", W405,
     MB, "Config D at 512 GPUs (DP 16); step = avg of iterations 2-10 (worklog)."),
    # 405B FP8: official config, run.sh @d275be99 header: TP4 PP8 CP2 VP8 MBS1 GBS1536 seq 8192. Its comment says
    # "FP8 recipe: mx"; the same llmb-run command's experiment at 512 GPUs (2026-04-20 report, job 84463) is named
    # pretrain_llama31_405b_fp8_cs: current scaling taken
    ("Llama 3.1 405B", "fp8cs", 256, 1536, 1, 4, 8, 2, 8, 1, 4, "do", "", 1722, None, "82931",
     "tests/b200/slurm/llama3.1-405b/fp8/official/256gpu/run.sh", MB,
     "Official config (run.sh header: TP=4, PP=8, CP=2, VP=8, MBS=1, GBS=1536; the 2026-04-20 512-GPU run of the same "
     "command, ~1,790 TFLOP/s at 69.698 s, implies 3,090 sequences at this FLOP count: the recipe's 6 per GPU). Recipe fp8_cs (the llmb-run "
     "experiment name of the same command, 2026-04-20 report; run.sh's comment says mx)."),
    # Llama 3.1 70B FP8: TP1 PP1 is Megatron-FSDP (the official 64-GPU run.sh: FSDP=True; 2026-04-14 worklog:
    # Together's TP1 PP1 config "matches official"; 70e9 parameters' weights plus gradients do not fit 180 GB
    # unsharded). The 04-08 runs' train.sh (592gpus_mbs1 @d275be99) passes nemo:25.11.01 and
    # --compute_dtype fp8_cs (results.md's header says 26.02.00)
    ("Llama 3.1 70B", "mxfp8", 64, 256, 1, 1, 1, 1, 1, 1, 1, "fsdp", "", 1624, None, "83724",
     "tests/b200/slurm/llama3.1-70b/fp8/official/64gpu/run.sh", MB,
     "Official config (run.sh header: TP=1, PP=1, CP=1, FSDP=True, MBS=1, GBS=256, FP8 recipe mx; the 2026-04-20 "
     "512-GPU run of the same workload, ~1,540 TFLOP/s at 9.509 s, implies 2,037 sequences: the recipe's 4 per GPU)."),
    # Llama 3.1 70B NVFP4 official: run.sh header TP2 PP4 VP5, FSDP False, MBS 1, GBS 2048
    ("Llama 3.1 70B", "nvfp4", 512, 2048, 1, 2, 4, 1, 5, 1, 2, "do", "", 2013, None, "83725",
     "tests/b200/slurm/llama3.1-70b/nvfp4/official/512gpu/run.sh", MB,
     "Official config (run.sh header: TP=2, PP=4, CP=1, VP=5, FSDP=False, MBS=1, GBS=2048)."),
    ("Llama 3.1 70B", "fp8cs", 256, 512, 1, 1, 1, 1, 1, 1, 1, "fsdp", "", 1494, 4.93, "79139", R70, C2511,
     "Together's config TP=1, PP=1 (the official 256-GPU config is TP2 PP4 VP5). --compute_dtype fp8_cs (train.sh)."),
    ("Llama 3.1 70B", "fp8cs", 512, 1024, 1, 1, 1, 1, 1, 1, 1, "fsdp", "",
     *mean_run([(5.39, 1365), (5.41, 1361), (5.40, 1363)])[::-1], "79133/79134/79135", R70,
     C2511, "Together's config TP=1, PP=1 at 512 GPUs; results.md 79133 and its repeats 79134 / 79135 (5.39 / 5.41 / "
     "5.40 s; 1,365 / 1,361 / 1,363 TFLOP/s): their mean (OFFICIAL_BASELINES.md names 79133)."),
    # Qwen3 235B BF16 (results.md header: TP1 PP8 EP8 ETP1 MBS1; baseline VP4 GBS 8192)
    ("Qwen3-235B-A22B (head_dim 128, q-proj 8192 > hidden)", "bf16", 256, 8192, 1, 1, 8, 1, 4, 8, 1, "do", "", 514,
     37.8, "80077", RQW, MB, "Official config TP=1, PP=8, EP=8, VP=4 ('matches official exactly')."),
    # Qwen3 30B BF16: the official B200 64-GPU config as NVIDIA's qwen3/pretrain/README.md prints it (@1b172ed8,
    # "B200 / Qwen3 30B": TP1 PP1 CP1 EP8 DP64 MBS1 GBS4096); Together ran it "same (official)"
    ("Qwen3-30B-A3B (head_dim 128, q-proj 4096 > hidden)", "bf16", 64, 4096, 1, 1, 1, 1, 1, 8, 1, "do", "", 204, None,
     "83726", BASE, MB, "Official config TP=1, PP=1, EP=8; MBS 1 and GBS 4096 from NVIDIA dgxc-benchmarking "
     "qwen3/pretrain/README.md @1b172ed8 (B200, 64 GPUs)."),
    # DeepSeek-V3 (official TP1 PP16 EP8, GBS 4096 as the 256-GPU rerun 83853 prints it)
    ("DeepSeek-V3 (MLA, 1 shared expert, 3 dense layers)", "bf16", 256, 4096, 1, 1, 16, 1, 1, 8, 1, "do", "", 500.22,
     None, "(not given)", BASE, MB, "Official config TP=1, PP=16, EP=8; GBS 4096 (rebenchmark report's config)."),
    ("DeepSeek-V3 (MLA, 1 shared expert, 3 dense layers)", "mxfp8", 256, 4096, 1, 1, 16, 1, 1, 8, 1, "do", "", 405.59,
     None, "(not given)", BASE, MB, "Official config TP=1, PP=16, EP=8, FP8_mx; GBS 4096 (rebenchmark report's config)."),
    # Nemotron-4 340B, NeMo 25.07.01 (legacy launcher): TP8 PP4 VP12 GBS 64 CUDA graphs on; the legacy
    # containers ran with the MPI stub and TP_COMM_OVERLAP=False (2026-04-20 report, patch 7)
    ("Nemotron-4 340B", "bf16", 256, 64, 1, 8, 4, 1, 12, 1, 8, "do", "none", 936.33, None, "(not given)", BASE,
     "nvidia+nemo+25.07.01 (NeMo 2, dgxc-benchmarking nemotron4-340b launch.sh)",
     "Official config TP=8, PP=4, VP=12, GBS=64, CG=on: CUDA graphs enabled. TP comm overlap off (MPI stub for "
     "PMIx v3/v4; TP_COMM_OVERLAP=False). " + BF16_GRAD + " (the NeMo 340B recipe's performance mode, as dgxc's "
     "GB200 rows)."),
    ("Nemotron-4 340B", "fp8cs", 256, 64, 1, 8, 4, 1, 12, 1, 8, "do", "none", 1101.1, None, "(not given)", BASE,
     "nvidia+nemo+25.07.01 (NeMo 2, dgxc-benchmarking nemotron4-340b launch.sh)",
     "Official config TP=8, PP=4, VP=12, GBS=64, CG=on: CUDA graphs enabled. TP comm overlap off (MPI stub). "
     + BF16_GRAD + "."),
    # Grok-1 314B, NeMo 25.09.00: TP4 PP4 EP8 ETP1 VP8 MBS1 GBS512 seq 8192, TP comm overlap disabled (PMIx)
    ("Grok-1 314B", "bf16", 256, 512, 1, 4, 4, 1, 8, 8, 1, "do", "none", 1025.4, None, "(not given)", BASE,
     "nvidia+nemo+25.09.00 (NeMo 2, dgxc-benchmarking grok1 launch.sh)",
     "Official config TP=4, PP=4, EP=8, VP=8, GBS=512; ETP=1, MBS 1, seq 8192 and TP comm overlap disabled "
     "(worklog/2026-04-16_grok1_314b_benchmark.md); CUDA graphs disabled (grok1/bf16/official/256gpu/run.sh)."),
    ("Grok-1 314B", "fp8cs", 256, 512, 1, 4, 4, 1, 8, 8, 1, "do", "none", 1370.8, None, "(not given)", BASE,
     "nvidia+nemo+25.09.00 (NeMo 2, dgxc-benchmarking grok1 launch.sh)",
     "Official config TP=4, PP=4, EP=8, VP=8, GBS=512, FP8_cs; ETP=1, MBS 1, seq 8192 and TP comm overlap "
     "disabled (worklog/2026-04-16_grok1_314b_benchmark.md); CUDA graphs disabled (grok1/fp8/official/256gpu/run.sh). " + BF16_GRAD + " (NeMo performance scripts' "
     "set_precision_configs under fp8)."),
    # Nemotron-H 56B FP8 (current scaling), official config at 64 / 256 / 512 GPUs: TP2 PP1, MBS 1, GBS 3 per GPU
    # (nemotron-h/fp8/official/64gpu/run.sh header and the OFFICIAL_BASELINES.md table), step printed
    ("Nemotron-H 56B", "fp8cs", 64, 192, 1, 2, 1, 1, 1, 1, 2, "do", "", 1563, 5.27, "83727",
     "tests/b200/slurm/nemotron-h/fp8/official/64gpu/run.sh", MB,
     "Official config (run.sh header: TP=2, MBS=1, GBS=192 (64*3), FP8 recipe=cs, SeqLen=8192; OFFICIAL_BASELINES.md: "
     "TP=2, PP=1, 1,563 TFLOP/s, 5.27 s/step)."),
    ("Nemotron-H 56B", "fp8cs", 256, 768, 1, 2, 1, 1, 1, 1, 2, "do", "", 1536, 5.36, "83728", BASE, MB,
     "Official config (OFFICIAL_BASELINES.md: TP=2, PP=1, GBS=768, FP8_cs, 1,536 TFLOP/s, 5.36 s/step; MBS 1 and seq "
     "8192 as the 64-GPU run.sh header; nemotron-h/fp8/official/256gpu/run.sh submits the same workload at scale 256)."),
    ("Nemotron-H 56B", "fp8cs", 512, 1536, 1, 2, 1, 1, 1, 1, 2, "do", "", 1477, 5.58, "83731", BASE, MB,
     "Official config (OFFICIAL_BASELINES.md: TP=2, PP=1, GBS=1536, FP8_cs, 1,477 TFLOP/s, 5.58 s/step; MBS 1 and seq "
     "8192 as the 64-GPU run.sh header; nemotron-h/fp8/official/512gpu/run.sh submits the same workload at scale 512)."),
]

#: the other completed runs of the per-model results files tests/b200/slurm/*/results.md @d275be99 (same tuple, plus
#: an id tag for a variant of a layout already present)
QW = "Qwen3-235B-A22B (head_dim 128, q-proj 8192 > hidden)"
QW_FP8 = ("FP8 MX table; base config (header) TP=1, PP=8, EP=8, ETP=1, MBS=1; GBS 8192: the FP8 table prints none, "
          "the FP8-MX launch file of the same layout passes -gb 8192 (qwen3-235b/fp8mx/256gpu_baseline/train.sh: -tp 1 "
          "-pp 8 -ep 8 -et 1 -mb 1 -gb 8192; its sbatch.sh job name ..._mbs1_gbs8192), Megatron-Bridge's own 26.02 "
          "DGX-B200 Qwen3-235B FP8-MX row runs 8192 on 256 GPUs (mbridge_all_runs.csv mbridgeall_2602a_b200_qwen3-235b-"
          "a22b_mxfp8_256), and step x TFLOP/s matches the BF16 baseline's FLOPs at 8192 within 1%.")
QW_CG = ("Graph scope as the run's files state it: TE graphs of the MoE router + preprocess, no attention graphs "
         "(qwen3-235b/fp8mx/256gpu_cudagraph/sbatch.sh header 'Experiment 1: CUDA graphs for MoE router + preprocess'; "
         "256gpu_baseline/sbatch.sh and train.sh: --cuda_graph_impl=transformer_engine "
         "--cuda_graph_scope=moe_router,moe_preprocess; the HybridEP and A2A experiments add to the 80084 graphs). ")
RESULTS_ROWS = [
    ("Llama 3.1 70B", "fp8cs", 64, 128, 1, 1, 1, 1, 1, 1, 1, "fsdp", "",
     *mean_run([(4.63, 1590), (4.68, 1573), (4.67, 1575)])[::-1], "79120/79119/79118", R70, C2511,
     "Together's config TP=1, PP=1 at 64 GPUs; results.md 79120 and repeats 79119 / 79118 (4.63 / 4.68 / 4.67 s; "
     "1,590 / 1,573 / 1,575 TFLOP/s): their mean.", ""),
    ("Llama 3.1 70B", "fp8cs", 128, 256, 1, 1, 1, 1, 1, 1, 1, "fsdp", "", 1579, 4.66, "79138", R70, C2511,
     "Together's config TP=1, PP=1 at 128 GPUs.", ""),
    ("Llama 3.1 70B", "fp8cs", 592, 1184, 1, 1, 1, 1, 1, 1, 1, "fsdp", "", 1319, 5.59, "79140", R70, C2511,
     "Together's config TP=1, PP=1 at 592 GPUs (74 nodes, the whole cluster).", ""),
    ("Llama 3.1 405B", "nvfp4", 256, 1536, 1, 4, 16, 1, 8, 1, 4, "do", "", 1352, 91.8, "79866", R405,
     "nvidia+nemo+26.02.00 (Megatron-Bridge 4df8c9739, before the 6b3b5ba7e upgrade)",
     "Config A (TP4 PP16 VP8, DP 4) on the older Megatron-Bridge (results.md 'A (old mbridge)').", "oldmbridge"),
    ("Llama 3.1 405B", "nvfp4", 256, 128, 1, 4, 8, 2, 4, 1, 4, "do", "", 1491, None, "(not given)", R405,
     MB + "; Megatron-Bridge 6b3b5ba7e",
     "Config B, 'mbridge default' (TP4 PP8 VP4 CP2 DP4, GBS 128; MBS 1 as every other 405B config).", ""),
    (QW, "mxfp8", 256, 8192, 1, 1, 8, 1, 1, 8, 1, "do", "", 383, 50.7, "80078", RQW, MB,
     "'FP8 baseline', VP None. CUDA graphs disabled (the table's next rows add them). " + QW_FP8, ""),
    (QW, "mxfp8", 256, 8192, 1, 1, 8, 1, 4, 8, 1, "do", "", 387, 50.2, "80079", RQW, MB,
     "'FP8 + VP=4'. CUDA graphs disabled. " + QW_FP8, ""),
    (QW, "mxfp8", 256, 8192, 1, 1, 8, 1, 1, 8, 1, "do", "", 426, 45.6, "80084", RQW, MB,
     "'FP8 + CUDA Graphs', VP None: CUDA graphs on. " + QW_CG + QW_FP8, "cg"),
    (QW, "mxfp8", 256, 8192, 1, 1, 8, 1, 1, 8, 1, "do", "", 426, 45.5, "80085", RQW, MB,
     "'FP8 + CG + HybridEP', VP None: CUDA graphs on, HybridEP dispatcher. " + QW_CG + QW_FP8, "cg-hybridep"),
    (QW, "mxfp8", 256, 8192, 1, 1, 8, 1, 4, 8, 1, "do", "", 300, 64.8, "80088", RQW, MB,
     "'FP8 + CG + A2A', VP 4: CUDA graphs on, all-to-all overlap (with delay_wgrad_compute, results.md "
     "Key Findings; not modelled). " + QW_CG + QW_FP8, "cg-a2a"),
    (QW, "mxfp8", 256, 8192, 1, 1, 8, 1, 4, 8, 1, "do", "", 300, 64.8, "80089", RQW, MB,
     "'FP8 + CG + A2A + ParamOverlap', VP 4: as 80088 with the parameter gather overlapped (the planner's default "
     "for the distributed optimizer: the same inputs as 80088). " + QW_CG + QW_FP8, "cg-a2a-paramoverlap"),
]

#: in OFFICIAL_BASELINES.md's per-model tables or the results files, not scored: (what, job, why)
NOT_SCORED = [
    ("DeepSeek-V3 BF16 / FP8, 512 GPUs", "83732", "NCCL timeout: no measurement"),
    ("DeepSeek-V3 BF16, 512 GPUs (deepseek-v3/bf16/results.md)", "81073/81076", "NCCL timeout: no measurement"),
    ("Qwen3 235B BF16 'PP=4' / 'PP=4+NVLS' / 'SHARP' (~509 / ~510 / ~506 TFLOP/s at 55.2 / 55.7 / 56.5 s, GBS 8192)",
     "80014/80016/80018", "printed step and TFLOP/s disagree: 1.45x the FLOPs per step of the baseline (80077, 514 "
     "TFLOP/s at 37.8 s) at the same GBS; PP 4's VP and layout not stated"),
    ("Qwen3 235B BF16 'NVLS' (~507 TFLOP/s, 56.2 s)", "80015",
     "NCCL NVLink SHARP: an NCCL algorithm the planner does not model (as the together 15B NVLS run); and the figures "
     "disagree as above"),
    ("Qwen3 235B BF16 'PP=4+EP=4'", "80017", "failed (OOM): no measurement"),
    ("Llama 3.1 405B NVFP4 configs C / E / F", "(not given)", "C failed (NCCL hang); E, F 'tested' with no figure"),
    ("Llama 3.1 70B FP8 512 GPUs MBS 2", "79141", "failed (NCCL crash): no measurement"),
]

PREC = {
    "bf16": "bf16",
    "fp8cs": "fp8 (TE hybrid, tensorwise recipe: current scaling)",
    "mxfp8": "mxfp8 (TE MXFP8 1x32 block scaling) + bf16",
    "nvfp4": "nvfp4 (TE NVFP4 block scaling) + bf16",
}

COLS = ["id", "source", "table", "model", "params_b", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab",
        "seq_len", "moe_experts", "moe_topk", "global_batch_seqs", "micro_batch", "tp", "pp", "dp", "cp", "vpp",
        "zero_or_fsdp", "recompute", "precision", "gpu", "num_gpus", "gpus_per_node", "interconnect", "metric", "value",
        "notes", "tp_overlap", "inter_node_gbps", "container", "gsw_version", "commit", "also_at", "provenance",
        "read_date", "tokens_per_s_printed", "mfu_pct_printed", "model_flops_per_seq_readme", "tflops_per_gpu_printed",
        "step_time_printed", "flops_per_seq_basis", "stack_options"]

#: What the Megatron-Bridge performance recipe sets for each model on B200 (the rows whose container names
#: Megatron-Bridge): validate.py applies it from the same tables as ``mbridge_all`` (validate.mbridge_run /
#: mbridge_recipe, keyed on model, GPU family, precision and the container's release); the notes say which entries
#: apply. Nothing here is a second copy of those settings: a row's ``stack_options`` carry only what the run's own
#: files state it changed (``VARIANT_OPTIONS``), and its partial full recompute goes in the notes (``RECOMPUTE_NL``).
RECIPE_NOTE = {
    "Llama 3.1 405B": "Megatron-Bridge llama31_llm_pretrain.py / llama31_workload_base_configs.py B200: no CUDA graphs "
                      "(none set for B200 at @d063066b), NVFP4 without TE's TP comm overlap (validate.MBRIDGE_NO_TP_OVERLAP)",
    "Llama 3.1 70B": "Megatron-Bridge llama3 70B B200 configs (the runs pass --model_name llama3 --model_size 70b: "
                     "llama3.1-70b/*/train.sh; llama3_workload_base_configs.py @d063066b): no CUDA graphs outside BF16 "
                     "(validate.MBRIDGE_CUDA_GRAPHS), NVFP4 without TE's TP comm overlap (validate.MBRIDGE_NO_TP_OVERLAP); "
                     "the FP8-CS config's Megatron-FSDP comes with cpu_offloading_num_layers=5 (activation offload of 5 "
                     "layers: modelled since 2026-12 as the stack option activation_offload_layers=5, PCIe contention with the "
                     "NICs included)",
    "Qwen3-235B-A22B (head_dim 128, q-proj 8192 > hidden)": "Megatron-Bridge qwen3_workload_base_configs.py B200: "
        "all-to-all dispatcher, no all-to-all overlap, no CUDA graphs (validate.MBRIDGE_MOE_RECIPES / MBRIDGE_CUDA_GRAPHS); "
        "a Together experiment's own changes (graphs, dispatcher, overlap) replace these",
    "Qwen3-30B-A3B (head_dim 128, q-proj 4096 > hidden)": "Megatron-Bridge qwen3_llm_pretrain.py / "
        "qwen3_workload_base_configs.py B200 before PR #2499 (26.02.01): all-to-all dispatcher (hard-coded), no all-to-all "
        "overlap, TE graphs of the MoE router + preprocess (no attention graphs) (validate.MBRIDGE_MOE_RECIPES / "
        "MBRIDGE_CUDA_GRAPHS)",
    "DeepSeek-V3 (MLA, 1 shared expert, 3 dense layers)": "Megatron-Bridge deepseek_workload_base_configs.py B200 (the "
        "PP 16 EP 8 config, not the PP 8 EP 32 V2 variant): HybridEP, no all-to-all overlap, recompute_modules "
        "['mla_up_proj'], no CUDA graphs (validate.MBRIDGE_MOE_RECIPES / MBRIDGE_RECOMPUTE / MBRIDGE_CUDA_GRAPHS / "
        "MBRIDGE_LAYOUT_VARIANTS)",
    "Nemotron-H 56B": "Megatron-Bridge scripts/performance/configs/nemotronh/nemotronh_workload_base_configs.py "
        "NEMOTRONH_56B_PRETRAIN_CONFIG_B200_FP8_CS_V1 (TP2, TE CUDA graphs of the Mamba and attention layers: "
        "validate.MBRIDGE_CUDA_GRAPHS) and nemotronh_llm_pretrain.py set_nemotronh_common_configs (bf16 gradient "
        "reduction); the model provider's first_last_layers_bf16 (NemotronHModelProvider) is overridden off by the "
        "FP8-CS precision config (scripts/performance/utils/precision.py get_precision_config: first_last_layers_bf16 "
        "= False), so no 16-bit layers (Stack.first_last_layers_bf16 unset)",
}

#: Llama 3.1 405B NVFP4: the full recompute of N layers per virtual stage each job ran (Megatron-Bridge
#: scripts/performance/utils/overrides.py: ``recompute_num_layers`` -> granularity "full", method "block"). The
#: B200 NVFP4 V1 config sets 1 (llama31_workload_base_configs.py @d063066b, TP4 PP16 VP8); Together's report of
#: the upgrade (tests/b200/worklog/2026-04-10_405b_nvfp4_256gpu_results.md @d275be99) states 80073 ran 1, 80076 8
#: ("-rl 8": PP 8 with 1 ran out of memory, job 80074) and that "the old MB scripts used recompute_num_layers=8".
#: job -> (N, where from)
W405U = "2026-04-10_405b_nvfp4_256gpu_results.md"
RECOMPUTE_NL = {
    "80073": (1, f"{W405U}: 'Config: ... recompute_num_layers=1', the B200 NVFP4 V1 config's"),
    "80076": (8, f"{W405U}: 'Config: ... recompute_num_layers=8' (-rl 8; job 80074 with 1: CUDA OOM)"),
    "79866": (8, "the old Megatron-Bridge's scripts (" + W405U + ": 'The old MB scripts used recompute_num_layers=8'); "
                 "config A's launch file on the old install passes it (llama3.1-405b/nvfp4/256gpu/configA_pp16/train.sh: "
                 "--recompute_num_layers 8)"),
    "79952": (8, "run 2026-04-10 on the old Megatron-Bridge (upgraded 04-11, " + W405U + "), whose scripts used 8; "
                 "not stated for this job: assumed"),
    "79953": (8, "run 2026-04-10 on the old Megatron-Bridge (upgraded 04-11, " + W405U + "), whose scripts used 8; "
                 "not stated for this job: assumed"),
    "(not given)/405B-B": (8, "config B ('mbridge default', its layout not the new B200 NVFP4 config's PP 16 VP 8) taken "
                              "as the old Megatron-Bridge's, whose scripts used 8; not stated: assumed"),
}


#: what a results-file variant changes, as stack options (the run's own files: the sbatch.sh headers and flags)
CG = "cuda_graph_impl=transformer_engine;cuda_graph_scope=moe_router/moe_preprocess"
VARIANT_OPTIONS = {"cg": CG, "cg-hybridep": CG + ";moe_dispatcher=hybridep", "cg-a2a": CG + ";moe_a2a_overlap=True",
                   "cg-a2a-paramoverlap": CG + ";moe_a2a_overlap=True"}


def slug(model: str) -> str:
    return {"Llama 3.1 405B": "llama3.1-405b", "Llama 3.1 70B": "llama3.1-70b", "Nemotron-4 340B": "nemotron4-340b",
            "Grok-1 314B": "grok1-314b",
            "Nemotron-H 56B": "nemotron-h-56b"}.get(model) or model.split(" ")[0].lower()


#: the rows OFFICIAL_BASELINES.md tabulates (the rest come from the results files only)
OFFICIAL = {(r[0], r[1], r[2], r[15]) for r in ROWS}
#: none at present: a layout measured at two global batches would take its GBS into the id
GBS_VARIANTS: set = set()


def rows():
    out = []
    for (model, prec, gpus, gbs, mbs, tp, pp, cp, vpp, ep, etp, zero, tpo, tfl, step, job, path, container,
         note, tag) in [r + ("",) for r in ROWS] + RESULTS_ROWS:
        a = ARCH[model]
        dp = gpus // (tp * pp * cp)
        assert dp * tp * pp * cp == gpus and gbs % (dp * mbs) == 0, (model, gpus)
        per_seq, how = FLOPS_BASIS[model]
        flops = per_seq * gbs
        converted = flops / (tfl * 1e12 * gpus)
        if step is not None:  # printed: it and the printed TFLOP/s agree with the basis within 2%
            assert abs(converted / step - 1) < 0.02, (model, job, converted, step)
        value = step if step is not None else round(converted, 3)
        src = ("Step time as printed" if step is not None else
               f"Step = GBS x FLOPs per sequence / (TFLOP/s x GPUs) = {gbs} x {per_seq:.4e} / ({tfl} TFLOP/s x "
               f"{gpus}); FLOPs per sequence: {how}")
        moe = f" EP={ep}, ETP={etp}." if ep > 1 else ""
        if container.startswith(("nvidia+nemo+26.02", "nvidia+nemo+25.11")):  # the Megatron-Bridge runs
            note += " " + BF16_GRAD + MB_GRAD + f" Recipe settings: {RECIPE_NOTE[model]}."
        rkey = job if job != "(not given)" else f"{job}/405B-B"
        nl = RECOMPUTE_NL.get(rkey) if prec == "nvfp4" and model == "Llama 3.1 405B" else None
        if nl is not None:
            note += f" Recipe recompute: recompute_num_layers={nl[0]} (full, block) ({nl[1]})."
        cg = "" if "CUDA graphs" in note else " CUDA graphs not stated."
        rid = f"togetherbl_{slug(model)}_{prec}_{gpus}_tp{tp}pp{pp}" + (f"cp{cp}" if cp > 1 else "") + (
            f"vp{vpp}" if vpp > 1 else "") + (f"_gbs{gbs}" if (model, prec, gpus, tp, pp, cp, vpp) in GBS_VARIANTS
                                                    else "") + (f"_{tag}" if tag else "")
        # the 2026-04-15 and later (worklog/) re-runs of the same configuration, by the rule both Together sources share
        assert not (runs_of(rid) and "/" in job), rid  # the rule takes each run: a re-run row is one job here
        value, tfl_col, rerun_note = average(rid, value, tfl, f"job {job}" if job != "(not given)" else
                                             "the row's run (job not given)")
        fsdp = zero == "fsdp"
        out.append(dict(
            id=rid, source="Together AI runs of NVIDIA dgxc-benchmarking official configs (togethercomputer/"
                           "together-dgxc-benchmarking OFFICIAL_BASELINES.md)",
            table=("OFFICIAL_BASELINES.md: Official Configs vs Your Optimized Results" if (model, prec, gpus, job) in
                   OFFICIAL else f"{path.split('/', 3)[-1]}"), model=model, **a,
            global_batch_seqs=gbs, micro_batch=mbs, tp=tp, pp=pp, dp=dp, cp=cp, vpp=vpp if vpp > 1 else "",
            zero_or_fsdp=("Megatron-FSDP (the official 70B config's FSDP)" if fsdp
                          else "distributed optimizer (the Megatron-Bridge / NeMo recipes' default)"),
            recompute=("not stated in table" if nl is not None else "none (not stated)") + (
                "; sequence parallel" if tp > 1 else ""),
            precision=PREC[prec], gpu="B200 (DGX B200, 180GB)", num_gpus=gpus, gpus_per_node=8,
            interconnect="8 x B200 per node, NVLink5; 8 x 400 Gb/s ConnectX-7 InfiniBand per node",
            metric="iteration_time_s", value=value,
            notes=f"Job {job}. {note}{moe}{cg} {src}.{rerun_note} {SETUP}",
            tp_overlap=tpo, inter_node_gbps=8 * 400, container=container, gsw_version="",
            commit=C, also_at="", provenance=REPO.format(commit=C, path=path),
            read_date=READ, tokens_per_s_printed="", mfu_pct_printed="", model_flops_per_seq_readme="",
            tflops_per_gpu_printed=tfl_col, step_time_printed="" if step is None else step,
            flops_per_seq_basis=f"{per_seq:.6e}",
            stack_options=VARIANT_OPTIONS.get(tag, "")))
    return out


def main():
    dest = Path(__file__).resolve().parents[2] / "together_b200_baselines.csv"
    rs = rows()
    write_csv(dest, rs, COLS)
    print(f"{len(rs)} rows -> {dest}")
    for what, job, why in NOT_SCORED:
        print(f"  not scored: {what} (job {job}): {why}")
    for section, what, job, why in EXCLUDED:
        print(f"  re-run not averaged: {what}, '{section}' (job {job}): {why}")


if __name__ == "__main__":
    main()
