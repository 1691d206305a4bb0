"""Error table of the step-time model against real measurements no one here made.

Sources (copied into benchmarks/data/ from the project's shared validation set; see its README):

* vtrain_single / vtrain_multi — vTrain (Bang et al., MICRO'24) Megatron-DeepSpeed iteration
  times on A100 nodes (2-8 GPUs; 64-512 GPUs). GPT with learned positions, 4h GeLU MLP, biases,
  vocab 50257, fp16, full activation recompute, 1F1B, no flash attention (Megatron fused
  softmax), dropout on, 800 Gb/s inter-node as vTrain's configs state, gradients all-reduced after
  backward (Megatron-DeepSpeed without bucket overlap). Intra-node: the A100's NVLink3 (catalog,
  300 GB/s per direction), not the configs' "150 GB/s": vTrain's own all-reduce measurements on
  its A100 node (repository trace/a100/AR_GPU8_1M_1024M_LUT) reach 200-220 GB/s bus bandwidth at
  64-300 MB, which no 150 GB/s link can carry; the 150 is a simulator input, not the link.
* nar21 — Narayanan et al. 2021 Table 1 (Megatron-LM, Selene DGX A100 80GB, 8x200 Gb/s HDR IB):
  per-GPU hardware TFLOP/s by their eq. 3, converted to iteration time. Table 1 and the paper's
  text do not give the micro-batch, interleaving or DDP; the authors' launch scripts for Table 1 do
  (``NAR21_TABLE1_LAUNCH``: NVIDIA/Megatron-LM examples/sc21/run_table_1.sh), flash off, full recompute; fp16
  gradients as its CONFIG.sh launches them and the 2021 code's unfused weight-gradient accumulation
  (``nar21_training``, ``NAR21_STACK``: the ``megatron-lm`` stack with ``gradient_accumulation_fusion: false``).
* llm-foundry — MosaicML MPT benchmark tables (PyTorch FSDP, bf16 autocast or fp8, flash
  attention, A100-40/80 GB with 1600 Gb/s RoCE, H100 80GB with network not stated -> 3200 Gb/s).
  tokens/s/GPU converted to iteration time. Composer's FSDP1 concatenates each unit's bf16 gradients into its flat
  gradient on the compute stream every micro-batch (step_time.fsdp_copy_in_bytes, fsdp1_54: every row x1.0001-1.024,
  H100 2.9 / 6.8% / +0.4% -> 2.8 / 6.7% / +0.9%, A100 5.3 / 17.4% / -0.1% -> 4.9 / 17.1% / +0.2%).
* production (``published_runs_2.csv`` README §3: MT-NLG 530B, BLOOM-176B, OPT-175B, LLaMA-65B).
  Stacks (``PR2_STACKS``): MT-NLG and BLOOM run Megatron-DeepSpeed on DeepSpeed's pipeline engine
  (Smith et al. 2022 §2: DeepSpeed pipeline + data parallelism, Megatron tensor slicing). Its
  ``TrainSchedule`` (deepspeed/runtime/pipe/schedule.py: forward of micro-batch k on stage s at
  step 2k + s, backward at 2k + 2p - 1 - s) runs each stage's forwards and backwards in the 1F1B
  order (tests/test_production_sources.py), and its engine sends activations and gradients as TP
  partitions re-gathered on receipt (engine.py ``is_pipe_partitioned`` / ``is_grad_partitioned`` =
  ``is_model_parallel``): the megatron-deepspeed entry's ``pp_scatter_gather``. Micro-batch where
  unstated: 1. MT-NLG stays ~20% under its times with these: the same layout on the same machine
  under Megatron-LM (the ``nar21`` 530B row, 163 TFLOP/s) is predicted -6.2% (-9.3% before nar43's unfused
  accumulation; -4.6% before nar42 ran it at its launch script's 3 virtual stages and local DDP), and the
  DeepSpeed-engine mechanisms found in its source are small (blocking, one-at-a-time sends:
  +2 points on MT-NLG but vtrain_multi 3.7% -> 4.4%, so not modelled). Re-measured 2026-12-03 as
  the engine runs them: a rendezvous replay of ``TrainSchedule`` against Megatron's batched 1F1B
  exchanges (p 35, m 240, t_b = 3 t_f) gives both exactly (m + p - 1)(t_f + t_b) with free sends (the engine's
  whole command stream, its deferred activation send and a heavier last stage included: tests/test_production_sources.py),
  and with a blocking send of c DeepSpeed pays ~3.7c a slot where Megatron pays ~2c; pricing its 4
  sends a slot (2 more than the stacks' ``t_pp``) moves production 20.7 / 24.5 -> 20.2 / 24.4 but
  vtrain_multi 4.0 / 16.6 -> 4.8 / 15.3 (vtrain_single 5.5 -> 5.6): not modelled. The 2021 engine's
  ``GPT2ModelPipe`` special case sends the attention mask whole (cast to half) beside each
  activation partition: 8.4 MB a forward hop at seq 2048, ~0.3 ms of MT-NLG's ~219 ms slot; not
  modelled. BLOOM's partition is its launch's (``PR2_PP_PARTITION``); its fabric the BLOOM model cards' (bigscience/bloomz
  README "Hardware": "NVLink 4 inter-gpu connects, 4 OmniPath links": 400 Gb/s a node, ``pr2_intra_gbps``). MT-NLG's
  error grows with DP (-19.9 / -20.7 / -22.8%), but not through its DP reduce: exposed after the flush, it grows 0.02 s
  from DP 8 to 12 where the times need 1.85 s, and 800 / 3,200 Gb/s a node move the rows < 2 points (prod44). BLOOM's launch also sets
  ``CUDA_LAUNCH_BLOCKING=1`` (tr11-176B-ml.slurm: "do not remove or the training will hang");
  pricing that as every pass paying host dispatch plus GPU time (``combine`` additive instead of
  max) takes BLOOM -7.0% -> -3.5% (before its partition mapping), but predicts +11.9% for
  BigScience's own A/B of it on a 200B (80 x 14400, TP 8, PP 10, mb 1: bigscience train/tr11-176B-ml/chronicles-prequel.md "dealing
  with JZ hanging"), which measured 91.04 vs 97.20 TFLOP/s at 80 GPUs (GBS 512: +6.8%) and no
  difference at 160 GPUs (84.59 / 84.44 at GBS 512, 90.29 / 90.25 at GBS 2048): refuted by the
  source's own measurement at BLOOM's scale, not modelled.
  LLaMA-65B (Touvron et al. 2023 §2.4) states: xformers' memory-efficient causal attention
  (``flash_attention``, causal kernels), model + sequence parallelism after Korthikanti et al.
  (``sp``), and checkpointing that "save[s] the activations that are expensive to compute, such as
  the outputs of linear layers" with a hand-written backward: no GEMM is re-run, only the cheap
  elementwise ops, i.e. ``recompute: selective`` (the megatron-lm stack's selective re-runs the
  attention core instead; either costs < 1% of this step). TP 8 is not in the paper; it is the
  model-parallel degree of the released 65B checkpoint (facebookresearch/llama v1 README,
  "Different models require different MP values": 65B, 8). Not stated, so not set from
  the paper: micro-batch (1 here, i.e. 8 accumulation steps at DP 256), how gradients are sharded
  (``least_fitting_zero``: ZeRO-1) and their dtype. The paper also says the all-reduce over the
  network is overlapped with computation "as much as possible"; with 8 accumulation steps the
  model can hide the gradient reduce only under the last micro-batch's backward (~1.9 s of the
  predicted 6.8 s stay exposed), so this row's over-prediction points at the unstated
  micro-batch/sharding, which the row cannot decide (one micro-batch of 8 sequences needs
  ZeRO-3 to fit in this memory model and then predicts 4.3 s).
  Re-searched 2026-12-06 (acc45d) for every input the production rows guess: sourced and already mapped are
  BLOOM's (tr11-176B-ml.slurm: MBS 2 "was MBS=1 till GBS=784", TP 4, PP 12, bf16 with ZeRO 0 "implements its own
  zero stage 1", --checkpoint-activations) and MT-NLG's bf16, 80 GB A100s and 8 x 200 Gb/s HDR a node. Still unstated
  anywhere found: MT-NLG's micro-batch (1 here: -19.9%; 2 would give -14.9%, 4 +1.2%; the one "MICRO_BATCH_SIZE=1"
  found, bigscience's tr8-104B chronicles, reconstructs it from a table this project keeps apart, so it is not
  used) and LLaMA-65B's micro-batch, sharding and gradient dtype (+25.5%; bf16 gradients +11.3%, 4 sequences a
  micro-batch at ZeRO-1 -2.4%). OPT's launch is metaseq's (``PR2_LAUNCH``); the row stays unscored.
* nemo2407_ft — NeMo 24.07's fine-tuning table (Llama2 7B/13B/70B, SFT and LoRA, FP8, DGX-H100,
  SQuAD packed to 4096 tokens): tokens/s/GPU converted to iteration time (``nemo2407_ft``).
* nemo_longseq — NeMo's long-sequence tables (Llama2-7B fp8 on DGX-H100, Llama3-8B fp8 on DGX-B200,
  4K-1M tokens with context parallelism): NeMo's model TFLOP/s converted to iteration time
  (``nemo_longseq``).
* dgxc — NVIDIA DGX Cloud Benchmarking recipes (github.com/NVIDIA/dgxc-benchmarking) READMEs:
  measured step times on DGX H100 for Llama 3.1 8B/70B/405B and Nemotron-4 15B/340B, bf16 and fp8,
  NeMo Launcher on nemo:24.09/24.12, 8-2304 GPUs, with the runs' launcher configs, and NeMo 2
  (nemo:25.04.00) Nemotron-4 rows on H100 and on GB200 NVL72 (source ``dgxc GB200``) (``dgxc``).
* bert (DLE) — NVIDIA DeepLearningExamples PyTorch BERT-large pre-training (pytorch:21.11-py3 README
  tables, DGX A100 80GB 1-256 GPUs and DGX-1 V100 1-8 GPUs, AMP, phase 1 seq 128): sequences/s
  converted to optimizer-step time (``bert_dle``; which rows are scored: ``BERT_DLE_STACK``).
* together B200 — Together AI's runs of the dgxc Nemotron-4 15B recipe on its B200 cluster
  (togethercomputer/together-dgxc-benchmarking; ``together``).
* together B200 baselines — the rest of that repository's B200 runs: NVIDIA's official dgxc configs
  (Llama 3.1 70B / 405B fp8 / NVFP4, Qwen3, DeepSeek-V3, Nemotron-4 340B, Grok-1) as its
  OFFICIAL_BASELINES.md tabulates them, on Megatron-Bridge 26.02 / NeMo 25.07-25.09 (``together_baselines``).
* tech_reports — production pre-training runs from NVIDIA technical reports that print their layout:
  Nemotron-4 15B (arXiv:2402.16819 Table 2) and Nemotron-4 340B (arXiv:2406.11704 Table 2) batch-ramp
  stages on 768-6,144 DGX H100 GPUs, iteration time as printed (``tech_reports``).
* h200 — Google Cloud's GPU training recipes (AI-Hypercomputer/gpu-recipes): the DLLogger step times
  their NeMo READMEs print for A3 Ultra (H200) and the A3 Mega (H100) pair of one of them (``h200``).
* automodel — NVIDIA NeMo AutoModel's DGX-H100 BF16 pre-training table (PyTorch FSDP2 + TE + DeepEP; ``automodel``).
* maxtext — Google Cloud's TPU training recipes (AI-Hypercomputer/tpu-recipes): the MaxText step lines their
  Trillium READMEs print, TPU v6e 8-256 chips in one slice and 2-4 v6e-256 slices over the data-center
  network (multislice), with each recipe's MaxText workload (``maxtext``).
* mi300x — public AMD CDNA 3 training logs with their configs: Primus / ROCm Megatron-LM on MI325X (AMD
  Accelerator Cloud AAC11) and Primus on 8 MI300X (``mi300x``); scored against the microbenchmark priors.
* gaudi — Intel's Gaudi 2 LLM training throughputs (its model-performance page, software 1.18.0), each on the
  FP8 recipe Intel's Megatron-DeepSpeed 1.18.0 README gives for that model and card count (``gaudi``); scored
  against the Gaudi microbenchmark priors.
* olmo_core — Ai2's OLMo-core README throughput table: tokens/s per H100 for OLMo 2 1B-32B and a Llama-3-8B
  shape, BF16 and BF16 + torchao float8, each row on the training script it names (FSDP2, torch.compile;
  ``olmo_core``).
* fms_compile — the PyTorch blog "Maximizing Training Throughput Using PyTorch FSDP and Torch.compile" (IBM /
  Meta, 2024-05-21): MFU of IBM's fms-fsdp with torch.compile, Llama 2 7B-70B shapes on 128 A100 and 464 H100,
  converted at the team's earlier printed tokens/s-and-MFU pairs (``fms_compile``).
* dlperf_megatron — OneFlow's DLPerf benchmark of NVIDIA Megatron-LM (early 2021, pytorch:20.12) GPT pre-training on
  1-4 nodes of 8 x V100-SXM2-16GB with one 100 Gb/s EDR HCA a node: 18 cases of DP, TP (to 32 across nodes), DP x TP
  and PP layouts, the step time as printed (``dlperf_megatron``).
* kempnerforge — the Kempner Institute's KempnerForge benchmark reports (2026-04 / 2026-06): step times of Llama-3
  shaped 7B / 13B / 70B on 1-160 H200 (4 a node), single GPU, FSDP2, DTensor TP and TP 4 x FSDP, compiled, full
  activation checkpointing (``kempnerforge``).

One set of efficiency parameters per GPU type (planner.hardware.efficiency.PRIORS), the same for every
row; framework facts (flash or not, overlap or not) are per source, as the sources state them.
Nothing is fitted per row.

Run: ``python benchmarks/validate.py [--csv out.csv]``. Prints, per source, the median and p90
absolute percentage error of iteration time and the mean Spearman rank correlation of predicted
vs measured time within each model (where a source varies configurations of one model).
"""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from functools import cache
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hardware_catalog import load_catalog  # noqa: E402
from planner.layout import Candidates
from planner.vocab import RECOMPUTE, SCHEDULE  # noqa: E402
from planner.model.flops import narayanan_eq3  # noqa: E402
from planner.hardware.efficiency import gpu_family, in_step_gemm_max  # noqa: E402
from planner.hardware.options import HardwareOption, efficiency_for  # noqa: E402
from planner.hardware.nvlink import DEFAULT_TOPOLOGY, default_topology  # noqa: E402
from planner.spec import ModelSpec, TrainingSpec  # noqa: E402
from planner.model.step_time import step_time  # noqa: E402
from planner.model import accuracy, stacks  # noqa: E402
from planner.present.script_args import ScriptArgs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
PR2_CSV = DATA / "published_runs_2.csv"  # copy of shared/validation/published_runs_2.csv (README §3)
DGXC_CSV = DATA / "dgxc_runs.csv"  # built by data/parts/scripts/dgxc.py (``dgxc``)
TOGETHER_CSV = DATA / "together_b200_runs.csv"  # the same builder (``together``)
TOGETHER_BL_CSV = DATA / "together_b200_baselines.csv"  # builder data/parts/scripts/together.py (``together_baselines``)
H200_CSV = DATA / "h200_runs.csv"  # built by data/parts/scripts/h200.py (``h200``)
MBRIDGE_ALL_CSV = DATA / "mbridge_all_runs.csv"  # built by data/parts/scripts/mbridge_all.py (``mbridge_all``)
OPEN_REPORTS_CSV = DATA / "open_reports.csv"  # built by data/parts/scripts/open_reports.py (``open_reports``)
TECH_REPORTS_CSV = DATA / "tech_reports.csv"  # transcribed from the reports' layout tables (``tech_reports``)
AUTOMODEL_CSV = DATA / "automodel_runs.csv"  # NeMo AutoModel's performance summary, copied by hand (``automodel``)
MI300X_CSV = DATA / "mi300x_runs.csv"  # built by data/parts/scripts/mi300x.py (``mi300x``)
GAUDI_CSV = DATA / "gaudi_runs.csv"  # built by data/parts/scripts/gaudi.py (``gaudi``)
OLMO_CORE_CSV = DATA / "olmo_core_runs.csv"  # built by data/parts/scripts/olmo_core.py (``olmo_core``)
FMS_COMPILE_CSV = DATA / "fms_compile_runs.csv"  # built by data/parts/scripts/fms_compile.py (``fms_compile``)
MAXTEXT_CSV = DATA / "maxtext_runs.csv"  # built by data/parts/scripts/maxtext.py (``maxtext``)
DLPERF_MEGATRON_CSV = DATA / "dlperf_megatron_runs.csv"  # built by data/parts/scripts/dlperf_megatron.py (``dlperf_megatron``)
KEMPNERFORGE_CSV = DATA / "kempnerforge_runs.csv"  # built by data/parts/scripts/kempnerforge.py (``kempnerforge``)


def gpt_model(layers, hidden, heads, vocab, positions, ffn=None):
    return ModelSpec(name=f"gpt-{layers}x{hidden}", family="decoder", layers=int(layers), hidden=int(hidden),
                     heads=int(heads), ffn_hidden=int(ffn or 4 * hidden), vocab=int(vocab), mlp="gelu",
                     norm="layernorm", tied_embeddings=True, qkv_bias=True, linear_bias=True,
                     position="learned", max_positions=int(positions))


#: the fitted parameters (name -> (the function from a value of it to {GPU family: that family's value of the
#: field}, Efficiency field)): the only values set from step-time data; ``loso`` refits them without each source
#: in turn. The function is the one the shipped priors are built with (efficiency.in_step_gemm_max: H100 / H200 /
#: B200, B300 by Blackwell Ultra's measured GEMM gain, and every GPU priced from its matmul ceiling, MI300X ...
#: Gaudi 3), so a trial value reaches every prior the shipped value reaches.
FITTED = {"H100_IN_STEP_GEMM": (in_step_gemm_max, "gemm_max")}
FIT_GRID = {"H100_IN_STEP_GEMM": tuple(np.round(np.arange(0.50, 0.781, 0.02), 2))}
_OVERRIDE: dict = {}  # parameter -> value while ``loso`` refits


@cache
def trial_values(name: str, value: float) -> dict:
    """{GPU family: field value} of fitted parameter ``name`` at ``value`` (``FITTED``; read once per trial)."""
    return FITTED[name][0](value)


def _eff(gpu):
    eff = efficiency_for(gpu)
    for name, v in _OVERRIDE.items():
        fams, fld = trial_values(name, v), FITTED[name][1]
        fam = gpu_family(gpu.name)
        if fam in fams:
            eff = eff.with_(**{fld: fams[fam]})
    return eff


def hw_option(cat, gpu_name, gpus_per_node, inter_gbps, intra_gbps=None, power_limit_w=None,
              nvlink_topology=None):
    """A source's node of ``gpu_name`` GPUs; wired as ``nvlink_topology`` says, else as its chip's platform always is
    (planner.hardware.nvlink ``default_topology``: MI300X / MI325X the xGMI mesh, others a switch)."""
    gpu = cat.gpu(gpu_name)
    nvlink_topology = nvlink_topology or default_topology(gpu.name)
    intra = intra_gbps * 1e9 if intra_gbps else gpu.intra_node_bw
    return HardwareOption(name=gpu.name, gpu=gpu, gpus_per_node=gpus_per_node,
                          inter_node_bw=inter_gbps * 1e9 / 8, intra_bw=intra, eff=_eff(gpu),
                          power_limit_w=power_limit_w, nvlink_topology=nvlink_topology)


#: the columns each row carries for the accuracy bands (planner.model.accuracy.run_kind)
KIND_COLUMNS = ("gpu", "arch", "gpu_family")


def kind(model, hw) -> dict:
    """A row's GPU and kind of run (architecture class, GPU generation): what ``--bands`` cuts the
    error table by, and what ``planner.model.accuracy`` matches a user's plan on."""
    return {"gpu": hw.gpu.name, **accuracy.run_kind(model, hw.gpu.name)}


def dle_topology(gpu_name: str) -> str:
    """The NVLink wiring of the DGX a DeepLearningExamples table ran on: the V100 rows' DGX-1 (its hybrid cube-mesh,
    planner.hardware.nvlink), the A100 rows' DGX A100 (NVSwitch). Their 1- and 8-GPU rows price the same either way
    (eight GPUs ring on all six links)."""
    return "hybrid-cube-mesh" if gpu_name.startswith("V100") else DEFAULT_TOPOLOGY


#: the exposed communication parts of a step (``step_time``'s seconds a step) a loader's ``parts=True`` adds as
#: columns, with the node size that places the groups (benchmarks/comm_residue.py, tp55)
PART_COLUMNS = ("comm_tp", "comm_dp", "comm_pp")


def predict_group(model, training, df, hw, parts: bool = False, **kw):
    """Predicted iteration time (s) for rows sharing model and training settings (vectorised); with ``parts`` the
    whole ``step_time`` result (a dict of arrays), of which ``step_time_s`` is that time."""
    c = Candidates(
        tp=df["tp"].to_numpy(int), pp=df["pp"].to_numpy(int), dp=df["dp"].to_numpy(int),
        cp=1, ep=1, vpp=df["vpp"].to_numpy(int), zero=df["zero"].to_numpy(int), mb=df["mb"].to_numpy(int),
        rc=df["rc"].to_numpy(int), sp=df["sp"].to_numpy(bool), schedule=df["schedule"].to_numpy(int),
        gpus_per_node=hw.gpus_per_node, nodes=1,
    )
    res = step_time(model, training, c, hw, **kw)
    return res if parts else res["step_time_s"]


def with_parts(out: dict, res: dict, i: int, hw) -> dict:
    """A row's dict with ``PART_COLUMNS`` from its ``step_time`` result ``res`` (row ``i``) and ``node_gpus``."""
    return {**out, **{k: float(res[k][i]) for k in PART_COLUMNS}, "node_gpus": int(hw.gpus_per_node)}


def vtrain(cat, which: str, parts: bool = False) -> pd.DataFrame:
    """vTrain rows with their predictions (``parts``: with ``PART_COLUMNS`` and ``node_gpus``; comm_residue.py).

    Known residue, not modelled (multi-node): the 39.1B (48x8192) TP2 rows run 15-37% slower than
    predicted and 8 of its 14 TP4 rows 10-19% slower, while its 26 TP8 rows are within -5..+8%;
    the same layouts of the 175B model are within 0-6%. The 18.4B TP4 PP2 DP32 rows are 11-18%
    slow, the 3.6B TP2 / TP4 rows 6-9% (a near-constant 0.24-0.42 s a step, whatever the
    micro-batch; TP4 mb2 27%). Ruled out, with the repository as the source: rank order (DeepSpeed
    ``PipeModelDataParallelTopology`` puts model innermost, then data, then pipe: Megatron's order,
    as modelled; Megatron-DeepSpeed's ``GPTModelPipe`` builds its PipelineModule on exactly that
    topology, megatron/model/gpt_model.py); 2-rank NVLink all-reduce (trace/a100/
    AR_GPU2_1M_1024M_LUT: 166-185 GB/s bus bandwidth at 64-300 MB, adds ~0.1 s to a 14 s step);
    pipeline sends (TP8 PP16 DP4 moves more bytes per GPU than TP2 PP8 DP32 and is predicted
    within 8%); memory near capacity (the slow rows hold 28-56 GiB, rows at 55-72 GiB fit); DP
    ring vs hierarchical NIC bytes (ratio (n-1)k/(n(k-1)) = 1.1 for DP32 at 4 ranks a node, on a
    0.25 s reduce). The residue is not monotone in micro-batch (TP2 PP8: mb2 21.9 s, mb3 19.1 s,
    mb6 23.1 s; TP4 PP16: +0 s at mb2-4, +2.5/+5 s at mb6/12), which no per-layout mechanism
    produces. ``benchmarks/inverted_pairs.py`` lists the pairs this misorders: of the 39.1B's 245,
    209 have such a TP <= 4 row as the (measured) slower one (README, "Still missing").

    A fifth look (the node's NICs, the DeepSpeed pipeline engine's extra traffic, micro-batch
    kernels) found nothing either; numbers at 800 Gb/s a node (85 GB/s achieved, 10.6 GB/s a GPU
    when all eight talk):
    NIC sharing of the DP all-reduce: every node holds TP groups of one stage only, so its t DP
    groups of 8/t ranks push 2 (n-1)/n * 2 P/(t pp) bytes each through its NICs, 4 P/pp (n-1)/n in
    all, whatever t: TP8 PP2 DP32 moves 76 GB a node (0.9 s modelled) and is within +1%, TP2 PP8
    DP32 19 GB (0.25 s), so its 3.3-7.8 s gap would need the NICs at 2.4-5.4 GB/s. NIC sharing of
    the pipeline sends: all 8 GPUs of a node send at once, each its 1/t of an mb*s*h*2 activation,
    268 MB a node each way per tick at TP2 mb2 (3.2 ms a send, 6 ms of a 446 ms tick; the
    +250 ms/tick residue would need the node at ~2 GB/s), while 175B TP2 PP32 mb2 sends 400 MB a
    tick and is +6%. Full activations per TP rank (no ``is_pipe_partitioned`` scatter/gather):
    vtrain_multi 4.0/16.6% (0.812) -> 7.9/18.6% (0.772), 39.1B 0.656 -> 0.588, 175B 0.906 ->
    0.820. The tuple GPTModelPipe passes between stages also carries the [1, 1, s, s] bool
    attention mask, unsplit: 4 MB a micro-batch (0.4 ms) at every TP. DeepSpeed's
    ``ReduceTiedGrads`` (the embedding ``TiedLayerSpec('embed')`` on the first and last stage): a
    2-rank all-reduce of the padded vocabulary x h / t fp16 gradients, 413 MB at TP2 (~40 ms a
    step), 105 MB at TP8. Small-micro-batch kernel efficiency: the per-sample cost of a 1F1B tick
    (step / (nmb + pp - 1) / mb) at mb2 over mb6 is 1.08 at TP8 PP8, 1.38 at TP2 PP8 (1.08 at
    mb3), 1.25 at TP4 PP8 and 0.92 at TP4 PP16: the same TP4 kernels and sends differ by 36%
    between PP8 and PP16, and TP2's mb2 GEMMs are 4x TP8's. No quantity the layout and micro-batch
    fix orders the 39.1B TP4 rows: measured/predicted 1.17/1.23/1.18/0.98/0.98 at PP8 mb2/3/4/6/12
    (micro-batches 48/32/24/16/8, 25-30 GiB slow, 34-47 fine) and 0.99/0.98/0.98/1.13/1.21 at PP16
    (96/64/48/32/16, 16-21 GiB fine, 25-38 slow). What it would take, not applied (no NCCL or
    hardware source gives the factor; isolated NCCL tests with fewer GPUs a node use only those
    GPUs' NICs, which the 1/8-of-the-node share already prices): the DP all-reduce of groups with
    2-4 ranks a node 3x / 4x slower gives vtrain_multi 3.2/12.5% (0.856) / 3.9/11.5% (0.878;
    39.1B 0.768, 18.4B 0.882, 175B 0.897): it covers the 3.6B and 18.4B gaps, but adds only
    0.4-1.4 s to the 39.1B rows' 2-9 s.

    A sixth look (acc25, 2026-12-03), at what vTrain's own simulator does with these rows (VIA-Research/vTrain
    src/predictor.py @f8dda847, ``create_layer_graph`` / ``compute_comm_time``): nothing in it is TP-2-specific either.
    It prices a pipeline send as the full, unpartitioned activation twice (``2 * feature_map_size``, mb x s x h x 2 B)
    at a quarter of the configs' 800 Gb/s (``_compute_p2p_latency``: 134 MB in 5 ms at TP 2 mb 2, against the
    +140..+250 ms a tick the 39.1B TP 2 rows miss by); two TP all-reduces of the layer's activation per pass from its
    LUTs (the ~2 ms a layer already ruled out); the DP all-reduce of the stage's parameters once after the last
    backward, at the NVLink formula (``intra_node_bandwidth`` 150 GB/s, no LUT beyond 8 ranks) whenever tp < 8 and at
    the 800 Gb/s line rate only at TP 8 -- so it makes the TP 2 / 4 rows' reduce cheaper, not dearer, than TP 8's; and
    it skips the recompute on the last stage ("Last rank worker dosen't perform recomputation"), a per-stage saving,
    not a per-TP one. Its kernel times come from per-(h, tp, mb) traces measured on one node, the same inputs for
    the 39.1B rows at PP 8 and PP 16 whose per-tick residue differs 2.6x (TP 2 mb 3: +152 / +199 ms; TP 4 mb 6: -12 /
    +52 ms). So the repository offers no mechanism for the 39.1B TP <= 4 rows; the paper's 14.73% multi-node mean
    error (KAIST's announcement) leaves room for them being missed there too. Nothing changed.

    A seventh look (vtmulti, 2026-12-04), at the per-step breakdown of every row (``step_time``'s ``t_dp_comm``,
    ``bubble``, ``num_microbatches``; residue = measured - predicted): nothing taken. Per model, the Spearman is 3.6B
    0.960, 18.4B 0.725, 39.1B 0.656, 175B 0.906 (mean 0.812); predicting the 39.1B TP <= 4 rows exactly would give
    0.895 (median / p90 2.7 / 8.5%), and also the 3.6B TP 8 mb 2 / 64 and TP 4 mb 2 rows 0.902 -- the target sits
    on those 24 rows. What-ifs on all 109 rows (mean Spearman, median / p90): the DP all-reduce in fp32 (``t_dp``
    doubled: DeepSpeed's ``fp32_allreduce`` / Megatron's fp32 main grads) 0.778, 4.8 / 13.9% (it slows the TP 8 PP 2
    rows, which hold the most DP bytes a node and are already right: 18.4B 0.725 -> 0.611, 39.1B 0.656 -> 0.587);
    a per-micro-batch cost of 10 ms (engine instructions, the TP-rank-0 data broadcast) 0.776, 5.8 / 16.1%; 10 ms a
    1F1B tick (p2p rendezvous) 0.777, 5.9 / 15.9%. Why no layout-fixed mechanism fits the 39.1B rows: TP 4 PP 8 DP
    16 mb 2 and TP 4 PP 16 DP 8 mb 2 run the same TP 4 kernels and TP all-reduces over 330 vs 333 layer-micro-batch
    passes a GPU (6 layers x 55 ticks, 3 x 111), both with 2 DP ranks a node and a stage of 8 / 4 nodes, and measure
    +2.3 s vs -0.1 s against predictions of 13.8 / 14.6 s; the modelled difference is the DP reduce (0.23 / 0.11 s)
    and the bubble (1.7 / 2.0 s), so PP 8 would need its reduce ~11x slower while PP 16 allows none -- yet the same
    TP 4 PP 16 DP 8 layout at mb 6 / 12 (fewer micro-batches, same groups and nodes) is +2.3 / +4.8 s. TP 1 (8 DP
    ranks a node, full unpartitioned sends of 100 MB at mb 3) is +6% and TP 8 (1 rank a node) -5..+9%, so neither NIC
    sharing nor DP ranks a node nor the send size orders TP 2 / 4 after them. Memory (planner's peak): the slow rows
    hold 25.3-56.4 GiB, the right ones 10.8-62 GiB (TP 8 PP 2 mb 12 62 GiB, -4.6%; TP 4 PP 16 mb 2 16.5 GiB, +0.6%), no
    threshold separates them, so mb 3 fragmentation is not it either. The 3.6B rows are per-sample impossible for
    any layout model: TP 8 mb 2 takes 139 ms a sample a GPU-group against 105 ms for TP 16 mb 2 (whose every TP
    all-reduce crosses two nodes) and 88 ms for TP 8 mb 4; TP 8 mb 64 (one micro-batch) 154 ms against 78 ms at mb 32.
    The 3.6B TP 2 / TP 4 rows (pp 1: no sends) carry a near-constant +0.24..+0.42 s a step across 2-16 micro-batches,
    1.4-2.7x their modelled DP reduce (0.17 / 0.16 s), while TP 1 / TP 8 carry +0.07 / -0.06..-0.25 s at the same
    per-node DP bytes (4 P / pp a node whatever t); the 175B TP 2 / 4 rows at the same 512 GPUs and fabric are
    +0..+6% (predicted over). vTrain's paper text on its cluster (NICs a node) could not be retrieved here (only
    the abstract / intro of arXiv:2312.12391 answered), so the 800 Gb/s a node of its configs stays the fabric.
    Nothing changed.

    An eighth look (acc42d, 2026-12-05): the one shape rule Megatron-DeepSpeed's code states for the attention is its
    fused softmax's (``stack_kernels.softmax_fallback``: micro-batch x heads a rank a multiple of 4, at most 2048 keys).
    vtrain_single's 32 rows that fail it (16 heads, TP 8, micro-batch 1) were -27.5% (std 1.5) against +1.4% for the
    other 1,408; priced, -21.2% (rho 0.950 -> 0.962). In vtrain_multi only the 18.4B TP 16 micro-batch 2 row fails it
    (3 heads a rank x 2): -13.0 -> -4.0%. Every 39.1B row passes (64 heads: 8-32 a rank), so the TP 2 / 4 residue is
    not this either.

    A ninth look (acc45e, 2026-12-06; docs/accuracy_log.md): the PP rows' error fell with the micro-batch count
    (single-node PP 4 micro-batch 8 at 2 micro-batches +24.8%) and the multi-node over-prediction grew with PP at a
    fixed bubble fraction (175B TP 4 PP 16 +0.3% vs PP 32 +5.5%): the 1F1B fill priced at the head's stage. Taken
    (``step_time.fill_excess``: the lighter stages fill and drain at their own pace, as Megatron's 1F1B and DeepSpeed's
    ``TrainSchedule`` both run it): vtrain_single 5.5 / 19.4 -> 5.3 / 19.2%, vtrain_multi 4.0 / 16.6 (0.812) -> 2.9 /
    17.2% (0.808: the 39.1B TP <= 4 rows, 15-37% under before, go 0-5 points further under; 175B 0.906 -> 0.924).

    A tenth look (acc45g, 2026-12-06; docs/accuracy_log.md): the single-node PP 4 TP 1 rows still read under, more at
    more micro-batches (mb 1: -7.4 / -12.6% at 2 / 16). Not the per-tick send: DeepSpeed's engine sends with a
    blocking ``dist.send`` a message (runtime/pipe/p2p.py), two a micro-batch on the critical path, as priced; the PP 1
    rows, which send nothing, carry the same deficit. Each PP 1 cell's time a micro-batch fitted as a + b x layers: the
    layer-independent a (head, loss, embedding) is measured ~2x the prediction at TP 1 (mb 1: 7.1 / 11.2 ms vs 3.5 /
    5.3 ms at h 1,024 / 2,048; TP 2: 3.6 / 4.3 vs 2.2 / 2.7), the per-layer b over-predicted 2-8%: cancelling at 12-24
    layers, not at a pacing stage's 3-6, and weighing more as the bubble shrinks. That decomposition predicts every
    PP 2 / 4 cell's tick deficit to within 0.5-0.9 ms (over), leaving no room for a send. Nothing changed.

    An eleventh look (acc49, 2026-12-06; docs/accuracy_log.md): at PP 16 and micro-batch 3 the 39.1B TP 1 row runs a
    tick of 3 whole layers in 0.645 s (+1.0%), the TP 2 row the same layers halved in 0.557 s (-37.7%); its 18 two-rank
    all-reduces a tick would need ~7.7 GB/s to cost the gap, against 166-185 GB/s in vTrain's own 2-GPU LUT. Not TP
    communication at any sourced rate; nothing changed.

    A twelfth look (vtm53, 2026-12-07; docs/accuracy_log.md): the misordering is the TP <= 4 rows of every model but
    the 175B (exact TP <= 4 rows would give 0.966; exact 39.1B ones alone 0.902), not the runs' own noise (at 2%
    run-to-run scatter a model exact on every configuration keeps 0.959, ``inverted_pairs.py --noise``). Per row, the
    residue over the TP all-reduce bytes implies 6-4,800 GB/s (no one rate); under ZeRO-1 (a 40 GB A100) the 24 rows
    over 8% under hold 4.6-38.3 GiB, the other 85 3.7-52.5 GiB: no capacity threshold. Nothing changed.

    A thirteenth look (vtm57, 2026-12-07; docs/accuracy_log.md), by axis (``inverted_pairs.py --axes``): the tensor-
    parallel degree carries 0.52 of the within-model spread of log(measured / predicted), the micro-batch 0.35, the
    micro-batch count 0.17, DP 0.16, the pipeline depth 0.07; TP 16 (across two nodes) is predicted within -7..+0%.
    Per sample and layer a GPU, the 39.1B's TP 2 rows measure 85-126 GPU-ms (TP 1 72, TP 8 86-102; predicted 71-78)
    and its PP 8 / 16 TP 4 rows fall in two modes, 76-87 (within 1% of the model) or 94-100 (16-26% slower than
    predicted), slow at micro-batch 2-4 at PP 8 but 6-12 at PP 16; the 175B's TP 2 / 4 rows on the same 512 GPUs and
    layouts are predicted 0-5% over. No text that names the cluster's NICs or the Megatron-DeepSpeed / DeepSpeed
    version was found. Nothing changed."""
    f = DATA / f"vtrain_{which}_node.csv"
    d = pd.read_csv(f)
    d = d.rename(columns={"global batch": "gb", "micro batch": "mb", "hidden size": "hidden",
                          "attention heads": "heads", "# layers": "layers", "sequence length": "seq",
                          "tensor parallelism": "tp", "data parallelism": "dp",
                          "pipeline parallelism": "pp", "iteration time (ms)": "ms", "# GPUs": "gpus"})
    d["measured_s"] = d["ms"] / 1e3
    d["vpp"], d["zero"], d["rc"], d["schedule"] = 1, 0, 2, SCHEDULE.code["1f1b"]
    d["sp"] = False
    # vTrain's configs: A100 (memory size not stated; 80GB assumed), 800 Gb/s inter-node; NVLink3
    # intra-node (the catalog's): vTrain's measured 8-GPU all-reduce reaches 200-220 GB/s bus
    # bandwidth (trace/a100/AR_GPU8_1M_1024M_LUT), above the configs' 150 GB/s simulator input
    hw = hw_option(cat, "A100-SXM-80GB", 8, 800.0)
    cols = {k: np.empty(len(d)) for k in ("step_time_s", *PART_COLUMNS)}
    for key, g in d.groupby(["layers", "hidden", "heads", "seq", "gb"]):
        layers, hidden, heads, seq, gb = key
        model = gpt_model(layers, hidden, heads, 50257, seq)
        tr = TrainingSpec(seq_len=int(seq), global_batch=int(gb), precision="fp16", weights="megatron",
                          grad_dtype="same", flash_attention=False, dropout=True, recompute="full")
        res = predict_group(model, tr, g, hw, parts=True, framework="megatron-deepspeed")
        for k, v in cols.items():
            v[d.index.get_indexer(g.index)] = res[k]
    d["predicted_s"] = cols["step_time_s"]
    extra = [*PART_COLUMNS, "node_gpus"] if parts else []
    for k in PART_COLUMNS:
        d[k] = cols[k]
    d["node_gpus"] = hw.gpus_per_node
    d["source"] = f"vtrain_{which}"
    d["model"] = d["layers"].astype(str) + "x" + d["hidden"].astype(str) + "/s" + d["seq"].astype(str) + "/gb" + d["gb"].astype(str)
    for k, v in kind(model, hw).items():  # every vTrain model is a dense GPT on A100
        d[k] = v
    return d[["source", "model", "gpus", "tp", "pp", "dp", "mb", "measured_s", "predicted_s", *KIND_COLUMNS, *extra]]


#: Narayanan et al. 2021 Table 1 as its authors launched it: NVIDIA/Megatron-LM examples/sc21/run_table_1.sh
#: @cf547dea ("Table 1 showing weak-scaling throughput for GPT models ranging from 1 billion to 1 trillion
#: parameters", examples/sc21/README.md; its TP, PP, GBS, layers, hidden, heads and 8 x NNODES GPUs are Table 1's
#: rows, tests/test_nar21_launch42.py). Row id suffix -> (MBS, --num-layers-per-virtual-pipeline-stage or None,
#: --DDP-impl). The paper's text states none of the three (Section 5.1 says only that the runs use the interleaved
#: schedule with scatter/gather, no chunk count; its micro-batch figure, 16, is another model: run_figure_16.sh, 32 x
#: 15360 at TP 8 PP 8); the script interleaves the 76B-530B rows only.
NAR21_TABLE1_LAUNCH = {
    "1p7b": (16, None, "torch"), "3p6b": (16, None, "torch"), "7p5b": (16, None, "torch"),
    "18p4b": (8, None, "torch"), "39p1b": (4, None, "local"), "76p1b": (2, 5, "local"),
    "145p6b": (2, 5, "local"), "310p1b": (1, 3, "local"), "529p6b": (1, 1, "local"), "1008p0b": (1, None, "local"),
}


def nar21_launch(row_id: str, layers: int, pp: int) -> dict:
    """A Table 1 row's micro-batch, virtual stages and gradient-reduce overlap from ``NAR21_TABLE1_LAUNCH``.

    Virtual stages: layers / pp / the script's layers per virtual stage (Megatron's
    ``virtual_pipeline_model_parallel_size``), 1 where it sets none. ``--DDP-impl local`` all-reduces the gradients
    after the whole backward (Megatron-LM megatron/training.py ``train_step`` of 2021: "All-reduce if needed. if
    args.DDP_impl == 'local': ... allreduce_gradients()" once ``forward_backward_func`` returns); ``torch`` is
    torch DistributedDataParallel, whose bucket all-reduces overlap the last micro-batch's backward.
    """
    mb, per_virtual, ddp = NAR21_TABLE1_LAUNCH[row_id.removeprefix("nar21_t1_")]
    return dict(mb=mb, vpp=layers // pp // per_virtual if per_virtual else 1, overlap_grad_reduce=ddp == "torch")


#: The code Table 1 ran: Megatron-LM of early 2021 (SRUN.sh's container nvcr.io/nvidia/pytorch:20.12-py3). It
#: computes each linear layer's weight gradient as a plain GEMM that autograd then adds to ``.grad`` -- even the
#: early-2022 megatron/mpu/layers.py (@02bb1f5c, with the async TP all-reduce and the sequence-parallel work
#: already in) returns ``grad_weight = grad_output.t().matmul(input)`` from ``ColumnParallelLinearWithAsyncAllreduce``
#: and has no ``--gradient-accumulation-fusion``; the fused ``wgrad_gemm_accum_fp32`` (megatron/fused_kernels/
#: fused_weight_gradient_dense.cpp, apex #1297 "Fuse grad accumulation with wgrad", 2022-02) came after, and writes
#: an fp32 ``main_grad`` these fp16-gradient runs do not have. So the 2021 rows run the ``megatron-lm`` entry with
#: the stack option ``gradient_accumulation_fusion: false`` (what a job sets for such code, or for a later Megatron
#: launched with ``--no-gradient-accumulation-fusion``): one unfused accumulation pass over the stage's parameters
#: per micro-batch (``Stack.grad_accum_pass``). The entry's own default keeps the later code's fusion (kor22's 2022
#: runs). Until gaf43 this was a stack private to this file (the entry with ``grad_accum_pass`` set)
NAR21_STACK = stacks.resolve("megatron-lm", gradient_accumulation_fusion=False)


def nar21_training(seq: int, gb: int) -> TrainingSpec:
    """A Table 1 row's training settings as examples/sc21/CONFIG.sh launches them (NVIDIA/Megatron-LM; copy at
    OpenGPTX/Megatron-LM @6b27e3ad): ``--fp16 --loss-scale 8192`` and no ``--accumulate-allreduce-grads-in-fp32``,
    so the gradients are the fp16 module's own (``grad_dtype`` same): torch DDP reduces the Float16Module's
    ``.grad``, local DDP its fp16 buffers, and Float16OptimizerWithFloat16Params copies them to fp32 only at the
    step (megatron/optimizer/optimizer.py ``_copy_model_grads_to_main_grads``: ``model_param.grad.float()``).
    Until nar43 the loader set fp32 gradients (no source)."""
    return TrainingSpec(seq_len=seq, global_batch=gb, precision="fp16", weights="megatron", grad_dtype="same",
                        flash_attention=False, dropout=True, recompute="full")


def published(cat) -> pd.DataFrame:
    d = pd.read_csv(DATA / "dev_published_runs.csv")
    rows = []
    # --- Narayanan 2021 Table 1 at its launch script's micro-batch, interleaving and DDP (NAR21_TABLE1_LAUNCH; at the
    # micro-batch 1 assumed before, the 18.4B / 76.1B rows ran Megatron's softmax fallback, +33.8 / +8.8%)
    nar = d[d["id"].str.startswith("nar21_t1_")].copy()
    hw = hw_option(cat, "A100-SXM-80GB", 8, 8 * 200.0)
    for _, r in nar.iterrows():
        model = gpt_model(r.layers, r.hidden, r.heads, r.vocab, r.seq_len)
        gb, s = int(r.global_batch_seqs), int(r.seq_len)
        tr = nar21_training(s, gb)
        pp, launch = int(r.pp), nar21_launch(r.id, int(r.layers), int(r.pp))
        mb, vpp = launch["mb"], launch["vpp"]
        row = pd.DataFrame([dict(tp=int(r.tp), pp=pp, dp=int(r.dp), vpp=vpp, zero=0, mb=mb, rc=2, sp=False,
                                 schedule=SCHEDULE.code["interleaved" if vpp > 1 else "1f1b"])])
        p = predict_group(model, tr, row, hw, framework=NAR21_STACK, overlap_grad_reduce=launch["overlap_grad_reduce"])[0]
        measured = narayanan_eq3(gb, s, r.layers, r.hidden, r.vocab) / (r.value * 1e12 * r.num_gpus)
        rows.append(dict(source="nar21", model=r.model, **kind(model, hw), gpus=int(r.num_gpus), tp=int(r.tp), pp=pp, dp=int(r.dp), mb=mb,
                         measured_s=measured, predicted_s=p))
    # --- llm-foundry (MPT, FSDP)
    lf = d[d["id"].str.startswith("lf_")].copy()
    for _, r in lf.iterrows():
        ga = re.search(r"grad_accum (\d+)", str(r.notes))
        ga = int(ga.group(1)) if ga else 1
        mb = int(r.micro_batch)  # the per-GPU micro-batch; global = mb * grad_accum * gpus
        assert int(r.global_batch_seqs) == mb * ga * int(r.num_gpus), r.id
        gpu = {"A100-SXM4-40GB": "A100-SXM-40GB", "A100-SXM4-80GB": "A100-SXM-80GB",
               "H100-SXM5-80GB": "H100-SXM-80GB"}[r.gpu]
        inter = 1600.0 if "1600" in str(r.interconnect) else 3200.0
        hw = hw_option(cat, gpu, int(r.gpus_per_node), inter)
        prec = "fp8" if "fp8" in r.precision else "bf16"
        weights = "pure" if "PURE" in r.precision else "amp"
        model = gpt_model(r.layers, r.hidden, r.heads, r.vocab, r.seq_len, r.ffn_hidden)
        gb = int(r.global_batch_seqs)
        tr = TrainingSpec(seq_len=int(r.seq_len), global_batch=gb, precision=prec, weights=weights,
                          flash_attention=True, recompute="full" if r.recompute.startswith("full") else "none")
        # FSDP shards parameters per wrapped block either way; SHARD_GRAD_OP keeps them gathered
        # from forward to backward (PyTorch ShardingStrategy docs; FSDP2 reshard_after_forward=False)
        zero = 3
        lf_stack = stacks.resolve("llm-foundry", reshard_after_forward="FULL_SHARD" in r.zero_or_fsdp)
        # the "bf16 / PURE" tables come from the submit_benchmarks.py that offered precisions
        # bf16/fp16 with PURE as the FSDP default and ran the image mosaicml/pytorch:1.13.1_cu117:
        # torch 1.13's non-reentrant checkpoint re-runs the whole block (``_checkpoint_without_
        # reentrant``: the first unpack calls ``function(*args)``); early stop is torch >= 2.1
        if "PURE" in r.precision:
            lf_stack = lf_stack.with_options(recompute_early_stop=False)
        row = pd.DataFrame([dict(tp=1, pp=1, dp=int(r.num_gpus), vpp=1, zero=zero, mb=mb,
                                 rc=2 if r.recompute.startswith("full") else 0, sp=False, schedule=0)])
        p = predict_group(model, tr, row, hw, framework=lf_stack)[0]
        measured = gb * r.seq_len / (r.value * r.num_gpus)
        rows.append(dict(source=f"llm-foundry {gpu.split('-')[0]}", model=r.model + f"/s{int(r.seq_len)}", **kind(model, hw), gpus=int(r.num_gpus),
                         tp=1, pp=1, dp=int(r.num_gpus), mb=mb, measured_s=measured, predicted_s=p))
    return pd.DataFrame(rows)


def resnet50(cat) -> pd.DataFrame:
    """NVIDIA DeepLearningExamples ResNet-50 v1.5 PyTorch training tables (pytorch-21.03 README: DGX A100
    80GB AMP / TF32, DGX-1 V100 16GB and 32GB AMP / FP32, 1 and 8 GPUs) images/s -> seconds per step of
    batch-per-GPU x GPUs images (the generic-model time law). ``precision`` fp32 is the TF32 column on
    A100 (cuDNN's default math there, step_time.CONV_MATH)."""
    from planner.spec.presets import PRESETS

    d = pd.read_csv(DATA / "resnet50_dle.csv")
    model = ModelSpec(**PRESETS["resnet50"])
    rows = []
    for r in d.itertuples():
        hw = hw_option(cat, r.gpu, 8, 200.0 * 8, nvlink_topology=dle_topology(r.gpu))
        gb = int(r.batch_per_gpu) * int(r.gpus)
        tr = TrainingSpec(seq_len=1, global_batch=gb, micro_batch=int(r.batch_per_gpu), precision=r.precision,
                          weights="amp", optimizer="sgd_momentum", recompute="none")
        row = pd.DataFrame([dict(tp=1, pp=1, dp=int(r.gpus), vpp=1, zero=0, mb=int(r.batch_per_gpu), rc=0, sp=False,
                                 schedule=0)])
        # configs.yml: the AMP recipes run channels-last (memory_format: nhwc), TF32 / FP32 the NCHW default
        fw = stacks.resolve("dle-convnets", channels_last=r.memory_format == "nhwc")
        p = predict_group(model, tr, row, hw, framework=fw)[0]
        rows.append(dict(source="resnet50 (DLE)", model="resnet50", **kind(model, hw), gpus=int(r.gpus), tp=1, pp=1, dp=int(r.gpus),
                         mb=int(r.batch_per_gpu), measured_s=gb / r.images_per_s, predicted_s=p))
    return pd.DataFrame(rows)




#: NVIDIA DeepLearningExamples' PyTorch BERT (``benchmarks/data/bert_dle.csv``): the stack it maps to
#: and which rows are scored. Stack ``dle-bert`` (planner.model.stacks, acc50): DLE's modeling.py is the Hugging Face
#: pytorch-pretrained-BERT model code (its header: "Copyright 2018 The Google AI Language Team Authors
#: and The HuggingFace Inc. team": nn.Linear q/k/v, bmm + softmax attention, nn.LayerNorm, F.gelu), so hf-trainer's
#: eager op count, launched as run_pretraining.py / scripts/run_pretraining.sh do (``model.half()`` with FusedLAMBAMP's
#: fp32 master, one DDP bucket, TorchScript + NVFuser: the entry's comment) -- until acc50 this was hf-trainer with
#: the options ``overlap_grad_reduce=False, mixed_precision="bf16"`` and ``explicit_softmax="unread"`` set here.
#: What DLE's code runs beyond hf-trainer's count, read in the stored sources (acc50): the 21.11 container's torch
#: 1.11 adds every linear's bias by copying it into the output before a beta-1 cuBLAS GEMM (``addmm_bias_copy``: +36 B
#: a hidden element and layer forward for BERT's nine widths of biased outputs), and NVFuser fuses each residual
#: dropout into its add (``fused_residual_dropout``: -8 B forward): 10.0% / 10.9% (-9.9%) -> 7.1% / 8.1% (-7.1%).
#: Stated, not modelled: the backward's dropout kernel and LayerNorm under NVFuser (whether the 21.11 fuser joined
#: them with their neighbours was not established; joined, the rows would read faster); the MLM decoder's separate
#: ``+ self.bias`` over the masked positions' logits (< 0.2% of the step); the encoder's two sequence-first
#: transposes (once a micro-batch).
#: Its optimizer is FusedLAMBAMP (LAMB, not in the planner's OPTIMIZER vocabulary): AdamW is the nearest (same
#: fp32 m/v states; LAMB adds a per-tensor norm pass), and the update runs once per 32-512
#: micro-batches, ~6 ms of a 14 s step, so its extra pass is < 0.1%. The megatron-lm stack (fused
#: kernels, 16-bit weights) predicted these rows within 0.5 points of hf-trainer.
#: History: the eager HF code's own dropout kernels and bias-gradient reductions (layer_ops.eager_hf_layer_bytes,
#: counted on real torch ops): A100 rows -11..-14% -> -8..-10%, V100 +1.7 / -0.9% -> +5.2 / +2.6%; with V100's own
#: measured prior (efficiency.PRIORS["V100"]) the V100 rows moved to -7.4 / -9.7%, so the residue is common to both
#: GPUs; later passes took the source to 7.0% / 7.7% (-6.7% signed) while the mapping left hf-trainer's default
#: autocast on (weight casts a model.half() run does not make), and 10.0% / 10.9% (-9.9%) with it off (hfstep48).
#: Work both GPUs run alike moves both by nearly the same share (one more byte per
#: hidden element per token and layer at the HBM rate: +0.114% of the A100 step, +0.099% of the V100 one; 1% more
#: GEMM work: +0.67% / +0.70%); what is left (A100 -5.4..-8.0%, V100 -6.7 / -9.0%) is again common to both. The
#: unscored A100 TF32 row (317 seq/s, batch 128 x 64; GEMMs at the 156 TFLOP/s TF32 peak by hand) was predicted
#: 25.86 s against 25.84 s measured (before acc50), so the gap sits in what AMP runs differently (fp16 GEMMs at
#: BERT-large's shapes, the GradScaler's checks), not found sourced. Ruled out,
#: per step on the 1-GPU A100 row (14.1 s, 32 micro-batches): FusedLAMBAMP over AdamW (~18 more bytes per
#: parameter: +3.5 ms); the host (eager dispatch ~65 ms per 0.41 s GPU micro-batch: not binding at batch
#: 256); ``torch.nonzero``'s host sync in the dense sequence output (one per micro-batch, the head's few
#: small kernels exposed: < 0.1%); the multi-GPU rows' fixed per-step cost (measured +33..+86 ms over 32x the
#: 1-GPU micro-batch from 2 to 32 nodes, +150 / +270 ms in the two 8-GPU tables; modelled 5-21 ms) is
#: within the tables' own spread (1 node: 14.27 vs 14.39 s).
#: Scored: PyTorch mixed-precision phase-1 (seq 128) rows. Not scored, and why:
#: * phase 2 (seq 512): the 21.11 runs pre-train phase 2 "binned ... with LDDL using a bin size of
#:   64" (README changelog, January 2022): each batch is padded to its bin, not to 512, and the bins'
#:   mix is not published (Krell et al. 2021, arXiv 2107.02027 abstract: at 512, padding is "in
#:   excess of 50%" of Wikipedia's tokens). At a full 512 the rows are predicted +66..+86% slow; the
#:   seq-512 per-token rate (210 seq/s x 512 = 108k tok/s, A100 AMP) is above the seq-128 one (74k
#:   tok/s), which only shorter sequences explain. At a uniform 288 tokens (a mean real length of 256,
#:   the abstract's 50%, plus ~32 of padding to the bin) with 15% of them masked (43): A100 -11..-15%,
#:   V100 -5 / -7%, the phase-1 residue (below) and a few points more; E[L^2] > E[L]^2 of a skewed
#:   length mix would add attention. Not scored until the bins' mix is sourced.
#: * TF32 rows: the planner's precisions (bf16/fp16/fp8/fp32) have no TF32 tensor-core rate.
#: * FP32 rows (V100, phase 1): predicted +17.5 / +13.7% slow at 1 / 8 GPUs with the transformer layers' fp32 GEMMs at V100's
#:   measured SIMT fraction (Efficiency.simt_max; +32 / +28% at the tensor-core ``gemm_max``, +50 / +46% on the generic
#:   prior); not scored (the table's FP32 runs are not the AMP phase-1 set the source is scored on).
#: * SQuAD fine-tuning: a span head (h x 2) instead of the preset's MLM head (h x V); no preset. With
#:   the MLM head charged anyway (seq 384, fp16): A100 -29 / -30%, V100 -3 / -8%.
#: * TensorFlow2 rows: XLA-compiled TF2 graphs, no registered stack.
BERT_DLE_STACK = "dle-bert"
BERT_DLE_TRAINING = dict(weights="megatron", grad_dtype="same")
BERT_DLE_SCORED = dict(framework="pytorch", precision="fp16", task="pretrain_phase1")
#: max_predictions_per_seq of DLE's phase-1 / phase-2 data (scripts/run_pretraining.sh
#: ``--max_predictions_per_seq=20`` at 128, ``80`` at 512): the MLM head's positions per sequence
BERT_DLE_MAX_PREDICTIONS = {128: 20, 512: 80}


def bert_dle(cat) -> pd.DataFrame:
    """NVIDIA DeepLearningExamples PyTorch BERT-large pre-training (README "Training performance
    results", pytorch:21.11-py3: DGX A100 80GB 1-256 GPUs, DGX-1 V100 32GB 1-8 GPUs) sequences/s ->
    seconds per optimizer step of batch/GPU x accumulation x GPUs sequences. Model ``bert-large``
    (24 x 1024, 16 heads of 64, vocab 30522, MLM + NSP heads), seq 128, micro-batch = the table's
    batch/GPU, no recompute, dropout 0.1 on (the BERT config), no flash attention (DLE's
    BertSelfAttention: matmul + softmax), the MLM head on the masked positions only
    (``TrainingSpec.head_tokens_per_seq`` = max_predictions_per_seq). DGX A100: 8 x 200 Gb/s HDR;
    DGX-1: 4 x 100 Gb/s EDR (single node here). Stack and the rows left out: ``BERT_DLE_STACK``."""
    from planner.spec.presets import PRESETS

    d = pd.read_csv(DATA / "bert_dle.csv")
    d = d[np.logical_and.reduce([d[k] == v for k, v in BERT_DLE_SCORED.items()])]
    model = ModelSpec(**PRESETS["bert-large"])
    stack = stacks.resolve(BERT_DLE_STACK)
    rows = []
    for r in d.itertuples():
        hw = hw_option(cat, r.gpu, 8, 8 * 200.0 if r.gpu.startswith("A100") else 4 * 100.0,
                       nvlink_topology=dle_topology(r.gpu))
        mb, gpus, seq = int(r.batch_per_gpu), int(r.gpus), int(r.seq_len)
        gb = mb * int(r.accum_steps) * gpus
        tr = TrainingSpec(seq_len=seq, global_batch=gb, micro_batch=mb, precision=r.precision, **BERT_DLE_TRAINING,
                          optimizer="adamw", recompute="none", flash_attention=False, dropout=True,
                          head_tokens_per_seq=BERT_DLE_MAX_PREDICTIONS.get(seq) if r.task.startswith("pretrain") else None)
        row = pd.DataFrame([dict(tp=1, pp=1, dp=gpus, vpp=1, zero=0, mb=mb, rc=0, sp=False, schedule=0)])
        p = predict_group(model, tr, row, hw, framework=stack)[0]
        rows.append(dict(source="bert (DLE)", model=f"bert-large/{r.gpu.split('-')[0]}/s{seq}", id=r.id, **kind(model, hw),
                         stack=stack.name, options="overlap_grad_reduce=off", gpus=gpus, tp=1, pp=1, dp=gpus, mb=mb,
                         measured_s=gb / float(r.sequences_per_s), predicted_s=p))
    return pd.DataFrame(rows)


#: NeMo's long-sequence tables (benchmarks/data/parts/long_context.csv, ``nemo_*`` rows): per
#: container, the GPU, the stack options of that container's recipes and the attention kernel
#: (planner.model.physics.ATTN_KERNELS) Transformer Engine ran. NeMo 24.03.01: the NeMo-Framework-Launcher
#: of that container (launcher_scripts/conf/config.yaml @01d07738, ``container:
#: nvcr.io/nvidia/nemo:24.03.01.framework``) exports ``NVTE_FUSED_ATTN: 0  # Disable cudnn FA until
#: we've tested it more`` to every job, so TE's DotProductAttention has no cuDNN FusedAttention
#: backend (``__init__``: ``self.use_fused_attention = int(os.getenv("NVTE_FUSED_ATTN", "1")) and ...``,
#: TE 1.x transformer_engine/pytorch/attention.py, copy at erhoo82/TransformerEngine 23d4acd6) and
#: runs its FlashAttention backend, flash-attn 2 (with CP: ``AttnFuncWithCP``'s
#: ``_flash_attn_forward/_backward`` path, the same ring). The same line is in the launcher's config
#: of the containers before and after (forks JoongunPark/NeMo-Framework-Launcher @6f77ef55 with
#: nemo-24.01.framework, dingqingy/NeMo-Framework-Launcher @0baa3f05 with nemo:24.05.01).
#: NeMo 25.04 (NeMo 2, no launcher): TE's default, cuDNN.
NEMO_LONGSEQ = {
    "NeMo 24.03.01": dict(gpu="H100-SXM-80GB", fp8_recipe="delayed", attn_kernel="fa2"),
    "NeMo 25.04.rc2": dict(gpu="B200-SXM-180GB", fp8_recipe="delayed", attn_kernel="cudnn"),
}
#: tokens per step where the table gives no batch: Llama 2's pre-training batch, 4M tokens
#: (Touvron et al. 2023, "Llama 2", §2.2: "global batch-size of 4M tokens"); the B200 table's
#: printed batches are the same 4M tokens at every length (512 x 8K ... 4 x 1024K)
NEMO_LONGSEQ_TOKENS = 4 * 1024 * 1024


@dataclass
class NemoLongseqCase:
    """One ``nemo_*`` row of long_context.csv as the planner runs it (``nemo_longseq_cases``)."""
    row: dict
    container: str
    model: ModelSpec
    training: TrainingSpec
    layout: Candidates
    hw: HardwareOption
    stack: stacks.Stack
    gpus: int
    measured_s: float


def nemo_longseq_cases(cat):
    """The rows ``nemo_longseq`` scores, with the planner's inputs (settings in its docstring) and the
    measured step time (NeMo's model FLOPs over the printed TFLOP/s per GPU)."""
    from benchmarks.parts_data import load
    from planner.model.flops import step_flops
    from planner.spec.presets import PRESETS

    for r in load("long_context"):
        if not r["id"].startswith("nemo_") or r["tp"] is None:
            continue
        container = re.search(r"\((NeMo [\d.a-z]+?)\)", r["method"]).group(1).replace(".framework", "")
        setting = NEMO_LONGSEQ[container]
        model = ModelSpec(**PRESETS["llama2-7b" if "Llama2" in r["model"] else "llama3-8b"])
        tp, pp, dp, cp = (int(r[k]) for k in ("tp", "pp", "dp", "cp"))
        gpus, seq = int(r["num_gpus"]), int(r["seq_len_tokens"])
        assert tp * pp * dp * cp == gpus, r["id"]
        gb = int(r["global_batch_seqs"] or NEMO_LONGSEQ_TOKENS // seq)
        hw = hw_option(cat, setting["gpu"], 8, 8 * 400.0)  # DGX: 8 x 400 Gb/s NICs
        stack = replace(stacks.resolve("megatron-core", fp8_recipe=setting["fp8_recipe"], tp_overlap="none"),
                        attn_kernel=setting["attn_kernel"])
        rc = RECOMPUTE.code["none"]  # the recipes set no recompute (nemo_longseq's docstring)
        tr = TrainingSpec(seq_len=seq, global_batch=gb, precision="fp8", weights="megatron", grad_dtype="fp32",
                          flash_attention=True, recompute="none")
        c = Candidates(tp=np.array([tp]), pp=pp, dp=dp, cp=cp, ep=1, vpp=1, zero=1, mb=1, rc=rc, sp=tp > 1,
                       schedule=SCHEDULE.code["1f1b"], gpus_per_node=8, nodes=1)
        flops = float(step_flops(model, seq, gb)["model"])
        yield NemoLongseqCase(r, container, model, tr, c, hw, stack, gpus, flops / (float(r["value"]) * 1e12 * gpus))


def nemo_longseq(cat) -> pd.DataFrame:
    """NeMo ``docs/source/performance/performance_long_sequence.md``: Llama2-7B FP8 on DGX-H100
    (NeMo 24.03.01 container, commit 0aa26711 of the page), 4K-1M tokens, with-CP layouts
    (TP/PP/DP/CP printed), and Llama3-8B FP8 on DGX-B200 (NeMo 25.04.rc2), 8K-1M, TP/CP/DP and
    batch printed (PP not printed: 1, as TP x CP x DP equals the GPU count in every row).

    Metric: "TFLOPS / GPU", NeMo's model FLOPs per step over the step time and the GPU count:
    NeMo's ``FLOPsMeasurementCallback`` (NeMo 1.x ``_llama2``/``_llama3``; NeMo 2
    nemo/utils/flops_formulas.py ``llama2``/``llama3``): per step
    ``gbs s l h^2 (12 + 12 g/a + 18 f/h + 12 s/h + 6 V/(l h))`` with V = 32000 (llama2) or 128256
    (llama3) (``LLM_VOCAB_SIZE_MAP``) — the attention term 12 s/h counts every score, no causal
    halving (halving came only after NVIDIA/NeMo issue #14376, 2025-08, after both containers).
    That is exactly ``planner.model.flops.step_flops(...)["model"]`` with ``causal_half=False``
    (3 x forward; QKV 12 + 12 g/a, MLP 18 f/h, logits 6 V/(l h), scores 12 s/h). Check on the
    definition: NeMo 24.07's performance_summary.md prints Llama2-7B at 4096 tokens as 16634
    tokens/s/GPU and 767 TFLOP/s; this formula gives 16634 x 46.09 GFLOP = 767. Step time =
    model FLOPs / (TFLOPS x 1e12 x GPUs); the error is on step time per token.

    Settings, from the containers' recipes (none of them fitted):

    * stack megatron-core, TE fp8 with delayed scaling (the 24.03 launcher's llama2_7b.yaml:
      ``fp8_amax_history_len: 1024``, ``fp8_amax_compute_algo: max``; NeMo 2's
      ``MegatronMixedPrecision`` default recipe "delayed"), CP with Megatron-Core's p2p ring (the
      only one Megatron-Core 0.5 / TE 1.3 have; ``cp_comm_type`` came later) and its causal load
      balancing;
    * attention (``NEMO_LONGSEQ``): NeMo 24.03.01 ran TE's flash-attn 2 backend, its launcher
      exporting ``NVTE_FUSED_ATTN=0`` to every job; NeMo 25.04 (NeMo 2) TE's default, cuDNN;
    * no TP comm overlap (launcher llama2_7b.yaml ``ub_tp_comm_overlap: False``; NeMo 2
      llama3_8b_{16k,64k,128k}.py build on ``llama3_8b.pretrain_recipe`` without performance mode);
      sequence parallel where TP > 1 (the long-context recipes set ``sequence_parallelism=True``);
      distributed optimizer (``distributed_fused_adam`` / ``use_distributed_optimizer``); micro-
      batch 1 (both);
    * recompute: none, as the recipes set it (llama2_7b.yaml ``activations_checkpoint_granularity:
      null``; the llama3_8b long-context recipes do not set it). The planner's memory model puts
      two rows (H100 4K TP1 DP4, B200 16K TP1 DP4) above the GPU's memory without recompute; the
      measured rates (768 vs 730 TFLOP/s at 8K; 1717 vs 1671 at 8K on B200) are those of runs
      without the 33% extra forward of full recompute;
    * global batch: the B200 rows print it; the H100 rows do not: 4M tokens (``NEMO_LONGSEQ_TOKENS``).

    Rows left out: the H100 "without CP" column (no layout printed: "the most performant model-
    and data-parallel configurations without CP"); at 4K-16K it equals the with-CP value, whose
    layout has CP 1 and is already in.

    The H100 attention backend. With TE's cuDNN the H100 rows came out 7-37% fast, growing with the
    sequence as attention takes over the step (93% of it at 1M): the attention time they imply was
    0.61-0.66 of the modelled cuDNN rate at every length, CP 1 (4K-16K) to CP 32 (1M), i.e.
    FlashAttention-2's rate -- and uniformly so, although at CP 32 31 of 32 ring steps run
    non-causal kernels on 16K-32K-key chunks: neither a causal-mask nor a chunk-shape cause fits.
    Transformer Engine prefers cuDNN on sm90 (TE 1.2 release notes; ``DotProductAttention.forward``
    "Select FusedAttention on sm90", erhoo82/TransformerEngine 23d4acd6), but only among the
    backends the environment leaves on, and the NeMo-Framework-Launcher of this container turns
    cuDNN off: launcher_scripts/conf/config.yaml @01d07738 (``container:
    nvcr.io/nvidia/nemo:24.03.01.framework``), ``env_vars: NVTE_FUSED_ATTN: 0 # Disable cudnn FA
    until we've tested it more``. With flash-attn 2 (physics.ATTN_KERNELS "fa2", FA3-paper H100
    bars) the H100 rows fall within -4.1..+1.4%. An independent check of the rate the rows imply
    (tests/test_accuracy.py): cudnn-frontend's benchmark_results.csv (505fcfeb, H200) measures
    PyTorch-SDPA FA2 at 325 TFLOP/s fwd+bwd at 32K causal keys, cuDNN 9.1.0 at 520.
    Checked and small beside the kernel (1M row, CP 32, TP 8, 32K tokens a rank, per ring step):
    the K/V hop over the NIC, 64 MB, 1.3 ms forward / 2.7 ms backward (K/V + dK/dV) under 2.1 / 5.3
    ms of attention at cuDNN's rate (more at flash-attn 2's), hidden; TE 1.3's per-step extras
    beyond the modelled merges (the half-chunk ``.contiguous()`` copies of K/V or Q/O/dO, the fp64
    softmax-LSE update, the output corrections run after the loop) ~0.02-0.03 ms a step, < 1%;
    NCCL's send/recv SMs under the hidden hops ~0.5% of the step. The B200 rows (NeMo 25.04) are
    6-10% fast nearly flat in sequence length (attention ~1/4 of the predicted 8k step, over 9/10 at
    1M), so mostly not attention; cuDNN 9.10.2's published B200 rate (cudnn-frontend
    sdpa_benchmark_training, 1350 / 1073 TFLOP/s at 16k causal GQA) is above the B200 prior and
    would make them 9-18% fast (the Blackwell item of README "Still missing"). Ruled out earlier as
    the H100 cause: the CP exchange, the per-step merges (3-5% at 32K tokens per rank), the FLOP
    definition (the 4K row's 768 matches NeMo 24.07's 767 TFLOP/s = 16634 tokens/s under this
    formula), TE's SM90 backward workspace path (off here and in every reference rate alike)."""
    rows = []
    for k in nemo_longseq_cases(cat):
        pred = float(step_time(k.model, k.training, k.layout, k.hw, framework=k.stack)["step_time_s"][0])
        r, c = k.row, k.layout
        rows.append(dict(source="nemo_longseq", model=f"{k.container}/{r['model']}", id=r["id"], **kind(k.model, k.hw), stack=k.stack.name,
                         options=f"fp8_recipe={k.stack.fp8_recipe},cp={int(c.cp[0])},attn={k.stack.attn_kernel}",
                         gpus=k.gpus, tp=int(c.tp[0]), pp=int(c.pp[0]), dp=int(c.dp[0]), mb=1,
                         measured_s=k.measured_s, predicted_s=pred))
    return pd.DataFrame(rows)

#: NeMo 24.07's fine-tuning table (``benchmarks/data/nemo2407_finetune.csv``): how NeMo 1.x ran
#: each task, from the NeMo-Framework-Launcher configs of that release line and NeMo's
#: examples/nlp/language_modeling/tuning/conf/megatron_gpt_finetuning_config.yaml.
#: SFT: launcher_scripts/conf/peft/llama/sft.yaml (@0da9ad9c), the SFT arm (``peft_scheme: null  # null (SFT, no
#: PEFT)``) of the same megatron_gpt_finetuning pipeline the LoRA rows run, the one with the packed-sequence
#: dataset the table states (``packed_sequence``, GPTSFTPackedDataset) and the fp8 / TE switches: every weight
#: trained by ``distributed_fused_adam`` (ZeRO-1 over DP) with ``dtype: bf16`` and ``grad_sync_dtype: bf16``,
#: ``overlap_param_sync: True``, no dropout. Apex's optimizer state is in ``dtype`` and, as it equals the O2
#: model's bf16, NeMo stores no master (megatron_base_model.py ``setup_optimization``: ``if optim_dtype ==
#: model_dtype: optim_kwargs['store_params'] = False``): bf16 weights, bf16 gradient buffer, two bf16 moments
#: (``weights: pure``, ``grad_dtype: same``, ``Stack.moments_like_params``). Until overmem41 the SFT rows ran as
#: launcher_scripts/conf/fine_tuning/llama/squad.yaml (megatron_gpt_sft.py, no packing option; the optimizer at
#: its fp32 default, dropout 0.1): fp32 master, moments and gradients, 19 B a parameter, which at the 70B row's DP 1
#: (no sharding) are 77 GiB of the H100's 80 before any activation (114.3 GiB predicted; the run ran).
#: LoRA: conf/peft/llama/squad.yaml, ``target_modules: ['attention_qkv']`` at ``adapter_dim: 32`` with
#: ``fused_adam`` (no sharding) and no dropout. Both: ``activations_checkpoint_granularity: null``
#: (no recompute), ``sequence_parallel: False`` (so no TE TP overlap, which needs it),
#: ``megatron_amp_O2: True`` (16-bit weights; LoRA's adapters with an fp32 master).
#: SQuAD v1.1 example length in Llama-2 tokens (context + question + answer under NeMo's
#: "{input} {output}" template, BOS/EOS): no published count in Llama-2 tokens was found, so a
#: bracket. The Hugging Face rajpurkar/squad card gives the train split as 79,346,108 bytes over
#: 87,599 examples (``dataset_info``): 906 bytes per example, of which ~840 are context, question
#: and answer text once the id (24), title and Arrow offsets are taken off; at 3.5-5 bytes per
#: Llama-2 token of English prose that is 170-240 tokens. Attention cost goes with
#: E[len^2]/E[len] >= mean length (equal only for equal lengths), so the bracket's top is wider:
#: 150-300, central 200. The rows' sensitivity across it is in the ``nemo2407_ft`` docstring.
SQUAD_EXAMPLE_TOKENS = 200.0
NEMO_FT_TASKS = {
    "SFT": dict(mode="full_finetune", zero=1, dropout=False, weights="pure", grad_dtype="same", stack={},
                row_stack=dict(moments_like_params=True)),
    "LoRA": dict(mode="lora", zero=0, dropout=False, lora=dict(rank=32, targets=["attention_qkv"]),
                 weights="megatron", grad_dtype="fp32", stack={}, row_stack={}),
}


def nemo_ft_case(r, example_tokens: float | None = None):
    """(model, training, layout, stack) of one ``nemo2407_finetune.csv`` row as ``nemo2407_ft`` maps it: the task's
    settings from ``NEMO_FT_TASKS`` (its optimizer state's dtypes as row-only stack fields), DP = GPUs / (TP x PP),
    the task's ZeRO where DP > 1, 1F1B, no recompute, no sequence parallelism."""
    from planner.spec.presets import PRESETS

    task = NEMO_FT_TASKS[r.task]
    model = ModelSpec(**PRESETS[r.model.lower()])
    tp, pp, gpus, mb = int(r.tp), int(r.pp), int(r.num_gpus), int(r.micro_batch)
    dp = gpus // (tp * pp)
    assert dp * tp * pp == gpus, r.id
    stack = replace(stacks.resolve("megatron-core", fp8_recipe="delayed", tp_overlap="none", **task["stack"]),
                    **task["row_stack"])
    tr = TrainingSpec(seq_len=int(r.packed_seq_len), global_batch=int(r.global_batch_seqs), micro_batch=mb,
                      precision="fp8", weights=task["weights"], grad_dtype=task["grad_dtype"], flash_attention=True,
                      recompute="none", dropout=task["dropout"], mode=task["mode"], lora=task.get("lora"),
                      packing="packed", mean_example_tokens=example_tokens or SQUAD_EXAMPLE_TOKENS)
    c = Candidates(tp=np.array([tp]), pp=pp, dp=dp, cp=1, ep=1, vpp=1, zero=task["zero"] if dp > 1 else 0, mb=mb,
                   rc=RECOMPUTE.code["none"], sp=False, schedule=SCHEDULE.code["1f1b"], gpus_per_node=8, nodes=1)
    return model, tr, c, stack


def nemo2407_ft(cat, example_tokens: float | None = None) -> pd.DataFrame:
    """NeMo 24.07 ``docs/source/performance/performance_summary.md`` (commit 070a0bb1), "Finetuning":
    Llama2-7B/13B/70B, SFT and LoRA, FP8 on DGX-H100, SQuAD v1.1 packed into 4096-token rows,
    GBS 32, MBS 1, TP/PP printed (DP = GPUs / (TP x PP); no VP printed: 1F1B).

    Metric: tokens/s/GPU over the packed rows: step time = GBS x 4096 / (tokens/s/GPU x GPUs).
    The TFLOP/s column is not used; as a check of that definition, TFLOP/s over tokens/s gives
    39.8 (7B SFT), 77.4 (13B SFT), 412 (70B SFT) GFLOP per token: NeMo's Llama-2 formula
    (``nemo_longseq``) without its attention term gives 39.6 / 77.1 / 412.3, with a 4096-token
    attention term 46.1 / 87.2 / 444.5: the rate counts every token of a 4096-token row and NeMo's
    FLOPs count attention only within the packed examples; LoRA rows are 0.67-0.68 of the SFT
    FLOPs per token (no weight gradients of the frozen base).

    Settings (none fitted): stack megatron-core as ``nemo2407`` (TE fp8 with delayed scaling, the
    NeMo 1.x recipe; DGX H100 8 x 400 Gb/s), the task's settings from ``NEMO_FT_TASKS`` (``nemo_ft_case``); packed
    rows (``training.packing``) of ``SQUAD_EXAMPLE_TOKENS``-token examples, attended per example
    (Megatron-Core ``PackedSeqParams``: ``flops.attention_span``); LoRA on Megatron-Core's fused
    linear_qkv with 16-bit adapters (``finetune.MEGATRON_MODULES``, ``frozen_layer_gemms``).

    Sensitivity to the example length (signed error per row, 7B/13B/70B SFT, 7B/13B/70B LoRA):
    150 tokens -9.6/+14.5/+16.6/-6.6/-4.6/+4.3%, 300 tokens -9.2/+15.0/+16.9/-6.0/-4.0/+4.7%
    (the central 200: -9.5/+14.7/+16.7/-6.4/-4.4/+4.4%; every row moves < 0.7 points over the
    bracket); the whole 4096-token row instead +1.9/+26.7/+23.4/+10.4/+10.3/+13.7%.

    Known residue, not modelled: the SFT rows. 7B SFT is predicted 13.9% fast: its rate (17120
    tokens/s) is within 2% of the same layout's pretraining rate at 4096 tokens with full
    attention (16847, ``nemo2407``), which the per-example attention says should be ~12% faster,
    while the LoRA rows, which share that attention, are within 7%. Since overmem41 the SFT rows run
    peft/llama/sft.yaml's settings (``NEMO_FT_TASKS``): against fine_tuning/llama/squad.yaml's (until then)
    7B -11.1 -> -13.9% (its ``overlap_param_sync: True`` 2.6 points, the bf16 optimizer state and gradients
    0.9, no dropout 0.5), 13B +14.4 -> +13.5%, 70B +16.7 -> +15.0%; the 70B row's memory 114.3 -> 68.6
    GiB of 80 (optimizer 48.6 -> 16.2, gradients 16.2 -> 8.1, activations without dropout masks
    34.5 -> 29.5). The PP rows (13B SFT +14%, 70B SFT +15%)
    carry the 1F1B bubble and, at 70B, TP all-reduces without sequence parallelism, as the
    launcher configs set them (no VP, ``sequence_parallel: False``); the table prints no VP or
    SP, and with the same models' pretraining layouts of this page (13B VP 10; 70B SP with TE TP
    overlap) they would be a few percent: not taken, as nothing states the fine-tuning runs used
    them.

    Checked against the same page's pretraining rows (acc45c, 2026-12-06; nothing changed). Each SFT row's
    tokens/s/GPU, set against its model's pretraining row (``nemo2407``: 7B TP1 PP1 DP8 16934, 13B PP4 VP10 DP4
    8715, 70B TP4 PP4 VP20 DP4 1728 tokens/s/GPU at 4096 tokens, full attention) scaled by the FLOPs a token
    saves with per-example attention (the docstring's 46.1 / 39.6, 87.2 / 77.1, 444.5 / 412.3): 7B 19714
    expected for 17120 measured (-13.2%), 13B 9857 for 9741 (-1.2%), 70B 1863 for 1833 (-1.6%). So the two
    pipelined SFT rows run at the interleaved pretraining layouts' efficiency: a 1F1B pipeline without VP would
    lose 3 / 19 of the 13B step (16 micro-batches) and 3 / 35 of the 70B's (32), 8300 and 1703 tokens/s, 15% and
    7% under what was measured. The planner prices that 1F1B bubble (0.30 / 0.44 / 0.57 s on 13B SFT, 70B SFT,
    70B LoRA); with the pretraining rows' VP (10 / 20) the six rows would be -13.9 / -2.6 / +8.6 / -6.4 / -4.4 /
    -3.8% (median / p90 10.0 / 14.5 -> 5.4 / 11.2), with VP 2 -13.9 / +4.0 / +10.1 / -6.4 / -4.4 / -0.2% (5.4 /
    12.0). Not taken: the table prints no VP and the launcher's peft/llama/sft.yaml sets
    ``virtual_pipeline_model_parallel_size: null``; an inference from the rates, not a stated setting. The 7B
    SFT row is the opposite: it moves 13% fewer tokens than its pretraining row predicts, and solving the two 7B
    steps for a per-step cost F beside c per micro-batch (16 c + F = 3.870 s, 4 c / 1.164 + F = 0.957 s) gives
    F = 0.16 s (c = 0.232 s), where the planner's step-level terms are 0.028 s (exposed gradient reduce-scatter
    0.015, parameter all-gather 0.008, optimizer 0.005): 4 micro-batches a step cannot hide what 16 do, but the
    exposed gradient reduce-scatter and all-gather of 6.7B bf16 parameters over NVLink are 0.03 s each even
    unhidden. Ruled out on the way (six rows, median / p90): Apex's fp32 optimizer state and gradients (the
    NeMo default, not sft.yaml's) -13.0 / +13.9 / +15.6 / -6.4 / -4.4 / +4.4% (9.7 / 14.8: 0.9 point on 7B);
    whole-row attention -2.5 / +25.6 / +21.7 / +10.4 / +10.3 / +13.7% (12.0 / 23.6: the LoRA rows, which share
    the attention, go +10%)."""
    d = pd.read_csv(DATA / "nemo2407_finetune.csv")
    rows = []
    hw = hw_option(cat, "H100-SXM-80GB", 8, 8 * 400.0)  # DGX H100: 8 x 400 Gb/s NICs
    for r in d.itertuples():
        model, tr, c, stack = nemo_ft_case(r, example_tokens)
        gpus, seq, gb = int(r.num_gpus), int(r.packed_seq_len), int(r.global_batch_seqs)
        pred = float(step_time(model, tr, c, hw, framework=stack)["step_time_s"][0])
        rows.append(dict(source="nemo2407_ft", model=f"{r.model}/{r.task}", id=r.id, **kind(model, hw), stack=stack.name,
                         options=f"fp8_recipe={stack.fp8_recipe},mode={tr.mode}", gpus=gpus, tp=int(r.tp),
                         pp=int(r.pp), dp=int(c.dp[0]), mb=int(r.micro_batch),
                         measured_s=gb * seq / (float(r.tokens_per_s_per_gpu) * gpus), predicted_s=pred))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ published_runs_2 (modern stacks)
PR2_GPU = {  # catalog GPU and its power limit (W) as the rows state
    "A100-SXM4-80GB": ("A100-SXM-80GB", None),
    "H100-SXM5-80GB": ("H100-SXM-80GB", None),
    "H100-SXM 96GB HBM2e (500W power limit)": ("H100-SXM-96GB", 500.0),
    "H100-SXM 95GB HBM2e (lower TDP)": ("H100-SXM-96GB", 500.0),  # same torchtitan cluster (README §3)
    "B200 (DGX B200, 180GB)": ("B200-SXM-180GB", None),
    "GB200 (NVL72 rack)": ("GB200-B200", None),  # dgxc_runs.csv: one NVLink domain of 72 = the planner's node
    "GB300 (NVL72 rack)": ("GB300-B300", None),  # mbridge_all_runs.csv: likewise
    "B300 (DGX B300, 288GB)": ("B300-SXM-288GB", None),
    "H200-SXM-141GB (GCP A3 Ultra)": ("H200-SXM-141GB", None),  # h200_runs.csv: a3-ultragpu-8g, 700 W parts
    "MI325X-256GB (AMD Accelerator Cloud AAC11)": ("MI325X-256GB", None),  # mi300x_runs.csv
    "MI300X-192GB (8 x AMD Instinct MI300X, one node)": ("MI300X-192GB", None),  # mi300x_runs.csv
    "Gaudi2-96GB (Intel HLS-Gaudi2, HL-225H)": ("Gaudi2-96GB", None),  # gaudi_runs.csv
}


def pr2_stack(rid: str) -> str:
    """The training stack each source used (README §3 and the rows' notes): the source decides,
    never the row's measured value."""
    for prefix, stack in PR2_STACKS:
        if rid.startswith(prefix):
            return stack
    raise KeyError(rid)


PR2_STACKS = (
    ("titan", "torchtitan"), ("nemo", "megatron-core"), ("mbridge", "megatron-core"),
    ("kor22", "megatron-lm"), ("mtnlg", "megatron-deepspeed"), ("bloom", "megatron-deepspeed"),
    ("opt", "metaseq"), ("llama1", "megatron-lm"), ("dgxc", "megatron-core"), ("together", "megatron-core"),
    ("techrep", "megatron-core"),
    ("h200", "megatron-core"),
    ("automodel", "nemo-automodel"),  # NeMo AutoModel: its own entry (planner.model.stacks), validate.automodel
    ("mi3", "megatron-core"),  # Primus (Megatron-LM backend) and ROCm Megatron-LM: validate.mi300x
    ("gaudi", "megatron-deepspeed"),  # Intel's Megatron-DeepSpeed fork (HabanaAI, 1.18.0): validate.gaudi
)


def least_fitting_zero(model, r, hw, gb, tp, pp, dp, cp, ep, mb, rc, precision) -> int:
    """Where a source does not say how optimizer states were sharded, the least ZeRO stage (0, 1,
    3) at which the most loaded GPU fits its memory (planner.model.memory): a run that happened
    fitted. LLaMA-65B at TP 8 without sharding needs ~139 GiB per 80 GB GPU; ZeRO-1 ~48 GiB."""
    from planner.model.memory import memory_per_gpu

    tr = TrainingSpec(seq_len=int(r.seq_len), global_batch=gb, precision=precision,
                      weights="megatron", grad_dtype="fp32", recompute=RECOMPUTE.names[rc])
    for zero in (0, 1, 3):
        c = Candidates(tp=np.array([tp]), pp=pp, dp=dp, cp=cp, ep=ep, vpp=1, zero=zero, mb=mb, rc=rc, sp=tp > 1,
                       schedule=0, gpus_per_node=hw.gpus_per_node, nodes=1)
        if float(np.ravel(memory_per_gpu(model, tr, c, gpu=hw.gpu.name)["total"])[0]) <= hw.gpu.memory_bytes:
            return zero
    return 3


def pr2_intra_gbps(r):
    """Intra-node bandwidth (GB/s per direction per GPU) where the row states the link count:
    NVLink3 carries 25 GB/s per link per direction (A100 datasheet: 12 links, 600 GB/s total);
    "NVLink ... 4 inter-GPU links" (BLOOM on Jean Zay) is 4 x 25 = 100 GB/s. None: the catalog's."""
    m = re.search(r"NVLink[^;]*?\((\d+) inter-GPU links\)", str(r.interconnect))
    return 25.0 * int(m.group(1)) if m else None


#: a row id's prefix -> its source in the error table, first match ("mbridgeall" before "mbridge": every
#: other stored version of the same tables, mbridge_all_runs.csv); anything else is README §3's production set
PR2_SOURCES = (("titan", "titan"), ("nemo", "nemo2407"), ("mbridgeall", "mbridge_all"), ("mbridge", "mbridge"),
               ("togetherbl", "together B200 baselines"), ("together", "together B200"), ("kor22", "kor22"), ("techrep", "tech_reports"),
               ("h200", "h200"), ("automodel", "automodel"), ("mi3", "mi300x"),
               ("gaudi", "gaudi"))  # h200: with its H100 pair row (h200_runs.csv ``h100_pair``)


def pr2_source(rid: str) -> str:
    if rid.startswith("dgxc"):  # the GB200 NVL72 rows apart: a new GPU and fabric, not the H100 set's
        return "dgxc GB200" if "-gb200" in rid else "dgxc"
    return next((src for prefix, src in PR2_SOURCES if rid.startswith(prefix)), "production (mtnlg/bloom/opt/llama1)")


#: MoE rows whose architecture the source takes from the public HF config (README §3): the
#: planner's preset of that model (tests/test_families.py checks the presets against transformers;
#: used only where the row's own columns agree) — MLA, dense leading layers, group-limited routing, sliding
#: windows and DeepSeek-V3's MTP module, which the row's columns cannot carry
PR2_PRESETS = (("deepseek-v3", "deepseek-v3"), ("qwen3-30b-a3b", "qwen3-30b-a3b"),
               ("qwen3-235b-a22b", "qwen3-235b-a22b"), ("gpt-oss-120b", "gpt-oss-120b"), ("gpt-oss-20b", "gpt-oss-20b"),
               ("kimi k2", "kimi-k2"),
               ("nemotron 3 nano", "nemotron-3-nano-30b-a3b"), ("nemotron 3 super", "nemotron-3-super-120b-a12b"),
               ("nemotron 3.5 lightning", "nemotron-3.5-lightning-30b-a3b"), ("nemotron-h 56b", "nemotron-h-56b"))


def _pr2_preset(r):
    from planner.spec.presets import PRESETS

    name = str(r.model).lower()
    key = next((p for k, p in PR2_PRESETS if k in name), None)
    if key is None:
        return None
    kw = dict(PRESETS[key], name=r.id)
    spec = ModelSpec(**kw)  # (a hybrid preset gives its layers as hybrid_pattern)
    if any(int(getattr(r, f)) != getattr(spec, f) for f in ("layers", "hidden", "heads", "vocab", "ffn_hidden")):
        return None  # another variant of the family (e.g. a "Lite" model): the row's own columns
    if "w/o mtp" in name:  # Megatron-Bridge 25.11 "DeepSeekV3 (w/o MTP)": the MTP module left out
        kw["mtp_layers"] = 0
        kw.pop("mtp_repeated", None)  # (a preset whose depths share one module: none left to share)
    return ModelSpec(**kw)


#: the phrase mbridge_all_runs.csv's notes carry for a "(tokendrop)" row (builder ``TOKENDROP``) and what
#: it ran: Megatron-Bridge ``apply_moe_token_drop`` defaults (capacity factor 1.0, each expert's input
#: padded to capacity; it asserts the alltoall dispatcher), no all-to-all overlap (the 25.09 DeepSeek-V3
#: GB200/B200 scripts: ``A2A_1F1B`` on H100 only)
MBRIDGE_TOKENDROP = ("token-dropping", dict(dropless=False, capacity_factor=1.0, pad_to_capacity=True),
                     dict(moe_dispatcher="alltoall", moe_a2a_overlap=False))


def pr2_tokendrop(r) -> bool:
    return MBRIDGE_TOKENDROP[0] in str(getattr(r, "notes", ""))


#: the phrase automodel_runs.csv's notes carry for a config that sets ``fake_balanced_gate: true`` (NeMo AutoModel's
#: ``FakeBalancedGate``): round-robin routing, k consecutive experts per token (vocab.MOE_ROUTING)
FAKE_BALANCED_GATE = "fake balanced gate"


def pr2_model(r) -> ModelSpec:
    m = _pr2_model(r)
    if m.moe is not None and pr2_tokendrop(r):
        m = m.model_copy(update={"moe": m.moe.model_copy(update=MBRIDGE_TOKENDROP[1])})
    if m.moe is not None and FAKE_BALANCED_GATE in str(getattr(r, "notes", "")).lower():
        m = m.model_copy(update={"moe": m.moe.model_copy(update={"routing": "round_robin"})})
    return m


def _pr2_model(r) -> ModelSpec:
    preset = _pr2_preset(r)
    if preset is not None:
        return preset
    name = str(r.model).lower()
    kw = dict(name=r.id, layers=int(r.layers), hidden=int(r.hidden), heads=int(r.heads),
              kv_heads=int(r.kv_heads), ffn_hidden=int(r.ffn_hidden), vocab=int(r.vocab))
    if any(k in name for k in ("gpt 22b", "gpt 175b", "gpt 530b", "gpt 1t", "gpt-3", "gpt3", "mt-nlg", "opt", "bloom")) \
            and "oss" not in name:
        pos = "none" if "bloom" in name else "learned"  # BLOOM: ALiBi
        kw.update(mlp="relu" if "opt" in name else "gelu", norm="layernorm", qkv_bias=True, linear_bias=True,
                  position=pos, max_positions=int(r.seq_len) if pos == "learned" else None, tied_embeddings=True)
    elif "nemotron" in name:  # squared-ReLU MLP (not gated), LayerNorm, RoPE
        kw.update(mlp="relu", norm="layernorm")
    else:
        kw.update(mlp="swiglu", norm="rmsnorm")
    if r.hidden % r.heads or "qwen3" in name:
        kw["head_dim"] = {"gpt-oss": 64, "qwen3": 128}.get(next((k for k in ("gpt-oss", "qwen3") if k in name), ""), 128)
    if "deepseek" in name:  # MLA approximated as 128 heads of qk 192 (128 nope + 64 rope)
        kw["head_dim"] = 192
    if r.moe_experts == r.moe_experts and r.moe_experts:
        shared = 1 if "deepseek" in name else 0
        kw["moe"] = dict(experts=int(r.moe_experts), top_k=int(r.moe_topk), shared_experts=shared)
    return ModelSpec(**kw)


def _int(x, default):
    return default if x != x or x is None else int(x)


@dataclass(frozen=True)
class PR2Case:
    """What one published_runs_2.csv row maps to: the model, the training settings, the layout
    (a one-row ``Candidates``), the hardware, and the stack (name + the options its source states)."""
    model: ModelSpec
    training: TrainingSpec
    candidates: Candidates
    hw: HardwareOption
    stack: str
    options: dict


#: inputs a row leaves empty or vague ("not stated", "FSDP") that its source's public launch code states (row-id prefix
#: -> the columns' values, replacing the row's). OPT-175B
#: (metaseq, facebookresearch/metaseq): ``metaseq/launcher/opt_job_constants.py`` gives 175b ``model_parallel`` 8 (the
#: mapping's TP default; the released checkpoint is 992 files, 124 FSDP shards x 8 model parts: chronicles
#: 27_percent_update.md) and ``metaseq/launcher/opt_baselines.py`` launches ``--ddp-backend fully_sharded
#: --no-reshard-after-forward`` (its save-dir key "zero2": FSDP SHARD_GRAD_OP, ZeRO-2), ``--checkpoint-activations``
#: (full recompute), ``--update-freq 1`` (no accumulation) and ``--batch-size`` = batch tokens // DP // 2048: the
#: paper's 2M-token batch (Table 1) over DP 124 is 8 sequences a GPU, one micro-batch, 992 sequences a step. The row
#: stays unscored (its 147 TFLOP/s is a peak, "up to"); chronicles final_update.md's "~4.30E+23 FLOPs ... ~33 days
#: ... on 1024 80GB A100s" is 147 TFLOP/s under the recompute-inclusive 96Bslh^2(1+s/6h+V/16lh) count (1.434e12 a
#: token x 300B tokens), i.e. ~102.5 tokens/s/GPU at that peak: predicted 16.0 s against 20.0 s a step (-20%).
PR2_LAUNCH = (("opt_175b", dict(global_batch_seqs=992, micro_batch=8, recompute="full (metaseq --checkpoint-activations)",
                                zero_or_fsdp="FSDP (fairscale) --no-reshard-after-forward + Megatron TP")),)


def pr2_launch(r):
    """The row with the columns its source's launch code states (``PR2_LAUNCH``) in place of its own."""
    fill = next((v for k, v in PR2_LAUNCH if r.id.startswith(k)), None)
    return r._replace(**fill) if fill else r


def pr2_zero(z: str) -> int:
    """The ZeRO stage a row's ``zero_or_fsdp`` text names: FSDP kept unsharded from forward to backward
    (fairscale/metaseq ``--no-reshard-after-forward``, FSDP1 SHARD_GRAD_OP) is ZeRO-2, other FSDP ZeRO-3, a distributed
    optimizer / ZeRO / sharded optimizer state ZeRO-1, else 0."""
    if "no-reshard-after-forward" in z:
        return 2
    if "fsdp" in z and "fsdp=0" not in z:
        return 3
    return 1 if ("distributed optimizer" in z or "zero" in z or "shards optimizer" in z) else 0


def pr2_case(cat, r) -> PR2Case:
    """The planner's inputs for one row of published_runs_2.csv (a ``DataFrame.itertuples`` row)."""
    r = pr2_launch(r)
    gpu, power = PR2_GPU.get(r.gpu, ("A100-SXM-80GB", None))
    inter = {"titan": 3200.0, "nemo": 3200.0, "mbridge": 3200.0, "bloom": 400.0}
    inter_gbps = next((v for k, v in inter.items() if r.id.startswith(k)), 1600.0)
    stated = getattr(r, "inter_node_gbps", None)  # a source that states the fabric per row (dgxc_runs.csv)
    if stated is not None and stated == stated:
        inter_gbps = float(stated)
    hw = hw_option(cat, gpu, int(r.gpus_per_node), inter_gbps, intra_gbps=pr2_intra_gbps(r),
                   power_limit_w=power)
    model = pr2_model(r)
    tp, pp, cp = _int(r.tp, 8), _int(r.pp, 1), _int(r.cp, 1)
    gpus = int(r.num_gpus)
    dp = _int(r.dp, gpus // (tp * pp * cp))
    notes = str(r.notes)
    ep_m = re.search(r"EP=(\d+)", notes)
    ep = int(ep_m.group(1)) if ep_m else 1
    etp_m = re.search(r"ETP=(\d+)", notes)  # a row that states its expert TP (together_b200_baselines.csv: Grok-1 ETP 1)
    gb = r.global_batch_seqs
    if gb != gb:  # kor22_530b_dp8: global batch not given; Table 3's 280 per DP replica
        gb = 280 * dp
    gb = int(gb)
    mb = r.micro_batch
    if mb != mb:
        # torchtitan PP: microbatches default to the PP degree (local batch / pp); others 1
        mb = max(gb // dp // pp, 1) if r.id.startswith("titan24_t5") else 1
    mb = int(mb)
    vpp = r.vpp
    vpp = 2 if "interleaved" in str(vpp) else _int(pd.to_numeric(vpp, errors="coerce"), 1)
    # a config's AutoPipeline ``layers_per_stage`` (automodel_runs.csv): the stages it builds, not the printed VP
    lps = getattr(r, "pp_layers_per_stage", float("nan"))
    if lps == lps and str(lps).strip():
        vpp = automodel_virtual_stages(int(r.layers), int(lps), pp)
    prec = str(r.precision).lower()
    precision = "fp8" if pr2_low_precision(r) else ("fp16" if "fp16 weights" in prec else "bf16")
    rec = str(r.recompute).lower()
    rc = 2 if rec.startswith("full") else (1 if rec.startswith("selective") else 0)
    modules = pr2_recompute_modules(r)
    if modules is not None:  # the recipe's per-module selective recompute
        rc = RECOMPUTE.code["selective"]
    rn, method = pr2_partial_recompute(r, notes)
    if rn:  # the recipe's full recompute of N layers per stage (Megatron --recompute-method block)
        rc = RECOMPUTE.code["full"]
    z = str(r.zero_or_fsdp).lower()
    zero = pr2_zero(z)
    if dp * cp == 1:  # the sharding group is dp x cp (torchtitan's dp_shard_cp mesh, Megatron's DO)
        zero = 0
    elif "not stated" in z:  # the least sharding at which the model states fit (below)
        zero = least_fitting_zero(model, r, hw, gb, tp, pp, dp, cp, ep, mb, rc, precision)
    stack = pr2_stack(r.id)
    options = pr2_options(r, stack)
    bf16_reduce = (any(r.id.startswith(src) and any(k in str(r.model).lower() for k in models)
                       for src, models in BF16_GRAD_REDUCE.items())
                   or BF16_GRAD_REDUCE_NOTE in notes.lower() or DS_BF16_GRAD_ACCUM_NOTE in notes.lower())
    # a source that names the optimizer in the row's notes (mbridge_all: Kimi K2's Muon footnote) or in its own column
    # (automodel_runs.csv: the benchmark config's ``torch.optim.Adam``), else AdamW
    stated_opt = getattr(r, "optimizer", float("nan"))
    optimizer = ("muon" if "muon optimizer" in notes.lower()
                 else stated_opt if isinstance(stated_opt, str) and stated_opt.strip() else "adamw")
    tr = TrainingSpec(seq_len=int(r.seq_len), global_batch=gb, precision=precision, weights="megatron",
                      grad_dtype="same" if bf16_reduce else "fp32", optimizer=optimizer,
                      flash_attention=not r.id.startswith(("kor22", "mtnlg", "bloom", "opt")),
                      dropout=r.id.startswith(("kor22", "mtnlg", "bloom", "opt")), recompute=RECOMPUTE.names[rc],
                      recompute_modules=modules, recompute_method=method, recompute_num_layers=rn)
    sched = "interleaved" if vpp > 1 else "1f1b"
    c = Candidates(tp=np.array([tp]), pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, zero=zero, mb=mb, rc=rc,
                   sp=bool(tp > 1 and ("sequence parallel" in rec or r.id.startswith(("nemo", "mbridge", "titan", "llama1")))),
                   schedule=SCHEDULE.code[sched], gpus_per_node=int(r.gpus_per_node), nodes=1,
                   etp=(int(etp_m.group(1)) if etp_m else
                        MBRIDGE_ETP if (mbridge_run(r) and model.moe is not None) else tp),
                   rn=rn if method == "block" else 0, rg=rn if method == "uniform" else 0)
    return PR2Case(model, tr, c, hw, stack, options)


def automodel_virtual_stages(layers: int, layers_per_stage: int, pp: int) -> int:
    """Pipeline stages per PP rank that NeMo AutoModel's AutoPipeline builds from a config's ``layers_per_stage``:
    ceil(layers / layers_per_stage) stages, rounded down to a multiple of the PP degree under the benchmark configs'
    ``round_virtual_stages_to_pp_multiple: down`` (nemo_automodel/components/distributed/pipelining/functional.py
    ``calculate_virtual_stages``), the layers then spread as evenly as divmod allows (``generate_hf_model_fqn_per_
    model_part``). DeepSeek-V3 / Kimi K2 (61 layers): 2 per stage on PP 4 -> 31 -> 28 stages, 7 a rank; 4 per stage
    on PP 4 -> 16, 4 a rank; 2 per stage on PP 8 -> 31 -> 24, 3 a rank."""
    stages = -(-layers // layers_per_stage)
    return max((stages - stages % pp) // pp, 1)


#: a row's notes naming the recipe's partial full recompute: "recompute_num_layers=5 (full, block)"
PARTIAL_RECOMPUTE_NOTE = re.compile(r"recompute_num_layers\s*=\s*(\d+)\s*\(full,\s*(block|uniform)\)")


def pr2_partial_recompute(r, notes: str):
    """(recompute_num_layers, recompute_method) a row's notes state for its recipe's full recompute
    (``PARTIAL_RECOMPUTE_NOTE``: Megatron-Bridge recipes' ``recompute_granularity="full"`` with
    ``recompute_method`` / ``recompute_num_layers``), or (None, None). Only where the table states no recompute
    of its own: a row's own column wins over a recipe note."""
    m = PARTIAL_RECOMPUTE_NOTE.search(notes)
    if m is None or not str(r.recompute).lower().startswith("not stated"):
        return None, None
    return int(m.group(1)), m.group(2)


#: the GPU families the Megatron-Bridge recipe tables are keyed on, most specific first ("GB200"
#: before "B200": the recipes of the NVL72 systems differ from the DGX ones)
PR2_GPU_KINDS = ("GB300", "GB200", "B300", "H100", "B200")


def pr2_gpu_kind(r) -> str:
    """The row's GPU family (``PR2_GPU_KINDS``) from its GPU column, or ""."""
    return next((g for g in PR2_GPU_KINDS if g in str(r.gpu)), "")


#: the low-precision recipe a row's precision text names (first match; Transformer Engine per-tensor
#: current scaling, "tensorwise", where an fp8 row names none of these): dgxc's NeMo 2 rows write
#: "delayed" (their text also lists the era's ``--fp8_recipe`` choices, mxfp8 among them, hence
#: delayed first); Megatron-Bridge's tables write FP8-MX / MXFP8 and NVFP4 (mbridge_all_runs.csv)
PR2_FP8_RECIPES = (("delayed", "delayed"), ("nvfp4", "nvfp4"), ("mxfp8", "mxfp8"))


def pr2_low_precision(r) -> str | None:
    """The row's fp8/fp4 recipe (``PR2_FP8_RECIPES``), or None for a 16-bit row. NVFP4 trains with
    precision "fp8" and the nvfp4 recipe (planner.model.stack_kernels.RECIPES: its GEMMs at the FP4 peak)."""
    prec = str(r.precision).lower()
    if "fp8" not in prec and "nvfp4" not in prec:
        return None
    return next((v for k, v in PR2_FP8_RECIPES if k in prec), "tensorwise")


def pr2_prec_kind(r) -> str:
    """"bf16" or the fp8/fp4 recipe: the precision key of the Megatron-Bridge recipe tables."""
    return pr2_low_precision(r) or "bf16"


def mbridge_run(r) -> bool:
    """Row ``r`` ran a Megatron-Bridge performance recipe (scripts/performance/run_script.py, directly or through
    NVIDIA dgxc-benchmarking's llmb-run): every ``mbridge`` row, and a ``together B200 baselines`` row whose
    container column names Megatron-Bridge (together_b200_baselines.csv: Llama 3.1, Qwen3, DeepSeek-V3, Nemotron-H; its NeMo 2
    rows, Nemotron-4 340B and Grok-1, do not). The recipe tables (``MBRIDGE_*``) reach both sources through this one
    test (``mbridge_recipe``, ``mbridge_release``, ``pr2_options``); a row's own ``stack_options`` (what the run's
    files state it changed) are applied after them and win."""
    return r.id.startswith("mbridge") or (r.id.startswith("togetherbl_")
                                          and "Megatron-Bridge" in str(getattr(r, "container", "")))


def mbridge_recipe(table: dict, r):
    """The Megatron-Bridge recipe entry of ``table`` for row ``r``: the (model, GPU family, precision)
    entry where the recipe differs per precision, else the (model, GPU family) one; None if neither.
    An empty entry is the recipe's "none" (it overrides the two-key one)."""
    if not mbridge_run(r):
        return None
    name, kind, prec = str(r.model).lower(), pr2_gpu_kind(r), pr2_prec_kind(r)
    for want in (lambda k: len(k) == 3 and k[2] == prec, lambda k: len(k) == 2):
        v = next((v for k, v in table.items() if k[0] in name and k[1] == kind and want(k)), None)
        if v is not None:
            return v
    return None


def pr2_recompute_modules(r):
    """The Megatron-Bridge recipe's ``recompute_modules`` for row ``r`` (``MBRIDGE_RECOMPUTE``), or None."""
    var = mbridge_variant(r)
    v = var["recompute"] if var is not None else mbridge_recipe(MBRIDGE_RECOMPUTE, r)
    return list(v) if v else None


def pr2_step(cat, r, stack_fn=None):
    """(``pr2_case``, ``step_time``'s result) for one published_runs_2.csv-shaped row ``r`` (an ``itertuples`` row):
    the planner's step for it with the stack's time options (``stack_fn``, default ``pr2_time_kw``). One place for
    every caller that prices such a row (``pr2_rows``; benchmarks/validate_moe_profile.py's recipe variants)."""
    case = pr2_case(cat, r)
    kw = (stack_fn or pr2_time_kw)(case.stack, case.options)
    return case, step_time(case.model, case.training, case.candidates, case.hw, **kw)


def pr2_rows(cat, path=None, stack_fn=None, ids=None) -> pd.DataFrame:
    """published_runs_2.csv (README §3): every row evaluated; the ``scored`` column is False for
    the one row whose metric has no definition (OPT's reported TFLOP/s, README: skip it). ``ids``: only the rows
    with these ids (each row is priced on its own: benchmarks/validate_moe_profile.py's dispatcher A/B wants one row
    of ``mbridge_all``'s ~250, 3.6 s a pass)."""
    d = pd.read_csv(path or PR2_CSV)
    if ids is not None:
        d = d[d["id"].isin(ids)]
    out = []
    for r in d.itertuples():
        case, st = pr2_step(cat, r, stack_fn)
        c, stack, options = case.candidates, case.stack, case.options
        gb, gpus = case.training.global_batch, int(r.num_gpus)
        pred = float(st["step_time_s"][0])
        scored = True
        if r.metric == "tokens_per_s_per_gpu":
            measured = gb * r.seq_len / (r.value * gpus)
        elif r.metric == "iteration_time_s":
            measured = float(r.value)
        elif r.metric == "mfu":  # Korthikanti's model FLOPs 72*B*s*l*h^2*(1+s/6h+V/12hl)
            fl = 72 * gb * r.seq_len * r.layers * r.hidden ** 2 * (1 + r.seq_len / (6 * r.hidden) + r.vocab / (12 * r.hidden * r.layers))
            measured = fl / (r.value * 312e12 * gpus)
        else:  # tflops_per_gpu_reported (OPT): no FLOP definition, README says skip
            measured, scored = float("nan"), False
        out.append(dict(source=pr2_source(r.id), model=pr2_group(r), id=r.id, **kind(case.model, case.hw), stack=stack,
                        options=",".join(f"{k}={v}" for k, v in sorted(options.items())),
                        gpus=gpus, tp=int(c.tp[0]), pp=int(c.pp[0]), dp=int(c.dp[0]), mb=int(c.mb[0]),
                        measured_s=measured, predicted_s=pred, scored=scored))
    return pd.DataFrame(out)


def dgxc(cat) -> pd.DataFrame:
    """NVIDIA DGX Cloud Benchmarking recipes (github.com/NVIDIA/dgxc-benchmarking): the measured
    step times its workload READMEs print (``DGXC_CSV``; row sources, commits and run configs in the
    CSV; builder data/parts/scripts/dgxc.py, which checks every printed tokens/s, and the 2024
    READMEs' MFU, against the step time).

    * ``dgxc`` (100 rows): DGX H100. GSW 25.01/25.02 (NeMo Launcher, nemo:24.09 and nemo:24.12):
      Llama 3.1 8B/70B/405B (with the README's 405B proxy configs of 7/21/42 layers) and Nemotron-4
      15B/340B, bf16 and fp8, weak-scaled 8-2304 GPUs; GSW 25.05 (NeMo 2, nemo:25.04.0x): Nemotron-4
      15B at 16, 340B at 256 and Llama 3.1 405B at 512 GPUs.
    * ``dgxc GB200`` (18 rows): GB200 NVL72, GSW 25.05: Nemotron-4 340B TP8 PP4 VP12, bf16 and fp8,
      weak (GBS = GPUs/4) and strong (GBS 512) scaling at 128-512 GPUs (nemo:25.04.00), and Llama 3.1
      405B TP4 PP8 CP2 VP8 weak scaling (GBS = GPUs/2) at 128-512 GPUs (nemo:25.04.01).

    The rows have published_runs_2.csv's columns and go through the same mapping (``pr2_case``,
    ``pr2_options``): stack megatron-core; TE fp8 with per-tensor delayed scaling (2024 launcher:
    ``fp8_hybrid``, ``fp8_amax_history_len: 1024``, ``fp8_amax_compute_algo: max``; NeMo 2
    performance scripts: ``--fp8_recipe`` default ``ds``); cuDNN fused attention (configure.sh
    ``NVTE_FUSED_ATTN=1``, ``NVTE_FLASH_ATTN=0``; the 2024 340B config's configure.sh sets
    ``NVTE_FUSED_ATTN=0``: TE's flash-attn 2 backend, ``pr2_options`` ``attn_kernel``); recompute none except the 2024
    Nemotron-4 340B config's selective (attention core); sequence parallel where TP > 1; TP overlap
    as each run had it (CSV ``tp_overlap``: the launcher's ``ub_tp_comm_overlap``, on for Llama
    70B/405B and Nemotron 15B/340B -- the 340B yaml says False but nemotron/configure.sh @35a9aecc
    appends ``model.ub_tp_comm_overlap=True`` for every size; off for Llama 8B (TP 1); NeMo 2
    ``performance_mode``'s ``MegatronCommOverlapCallback(tp_comm_overlap=True)``); NVLink SHARP off
    in every 2024 run (both configure.sh: ``NCCL_NVLS_ENABLE=0``; NeMo 2's slurm_executor sets it too); the
    distributed optimizer; fp32 gradient reduction except Nemotron-4 340B's (2024 config ``grad_sync_dtype:
    bf16``; NeMo 2 ``grad_reduce_in_fp32 = False``: ``DGXC_BF16_GRAD_REDUCE``) and every NeMo 2 fp8 run's (the
    performance scripts' helpers.py ``set_precision_configs`` sets ``grad_reduce_in_fp32 = False`` under fp8;
    the rows' notes quote it: ``BF16_GRAD_REDUCE_NOTE``). Fabric per row (CSV ``inter_node_gbps``,
    ``gpus_per_node``): DGX H100, 8 GPUs and 8 x 400 Gb/s InfiniBand a node; GB200 NVL72 (catalog
    GB200-B200, NVLink5 900 GB/s) in the NVLink domains the job got: NeMo's performance-script Slurm
    executor requests ``--segment`` 16 trays for the 32-128-tray jobs (builder ``nvl72_segment_gpus``), so a
    64-GPU "node" with one 400 Gb/s NIC per GPU (64 x 400 Gb/s; the NICs are the reference design's, not
    stated in the recipe; 64 instead of 72 moves no row more than 0.7%). The GB200 runs' CUDA graphs
    (launch.sh ``--cuda_graphs true``) as Megatron-Core's local per-layer graphs (``nemo_cuda_graphs``).

    Known residue, not modelled (nothing fitted):

    * The 26 Llama 3.1 405B TP8 rows on H100 run 1-15% (median 10%) faster than predicted (the
      NeMo 2 ones +7% / +4%), the 62 TP1-4 rows -8..+7% (median +4%); the Nemotron-4 340B TP8 rows,
      2024 and NeMo 2 configs, are -4..+3% since the 2024 runs are taken with the TP overlap the
      configure.sh gave them (they were +10..15% as overlap off). In the 405B proxies (7 layers,
      PP 1) the predicted GEMM time alone is 97% of the measured step (TP 0.25 s, DP 0.21 s of
      9.71 s predicted vs 8.85 measured): the 405B's GEMMs run ~5% faster relative to the model
      than the 70B's, though the shape curve gives both the same flop-weighted efficiency (0.568
      vs 0.571). Isolated H100 GEMMs do gain with size beyond the curve (parts/fp8_gemm.csv,
      Azure cuBLASLt FP8: 4096^3 -> 16384^3 +13%, the curve +3%), but a steeper k curve
      (``gemm_k_half`` 300 or 600, ``H100_IN_STEP_GEMM`` refit to 0.62-0.66) leaves the gap
      between the 405B rows' and the TP1-4 rows' median errors at 6.2-6.5 points (6.4 now): the
      wgrad GEMMs' k is the 4096 tokens in every model and the level moves with the refit. No
      H100 bf16 measurement at these shapes is in parts/ (XLA's table stops at 4096).
    * GB200 rows run 7-13% slower than predicted at every scale (7-20% before the 340B's head-dim-192 attention ran
      flash-attn 2, attention backend pass below; 9-21% before GB200 ran at its measured matmul
      rate over the HGX B200, physics.MEASURED_CLOCK_GAIN, 0.940 of its datasheet peaks, where the clock law gave
      0.956; 9-23% before the interleaved schedule's warm-up / cool-down sends, below; 13-25% at the datasheet
      peaks): the measured GB200/H100 speed-up
      at equal work per GPU in the same release is 2.10x for the 340B (0.25 sequences per GPU:
      4.606 / 2.189 s) and 2.12x for Llama 405B (0.5 per GPU: 19.810 / 9.347 s), the model's 2.39x (2.53x
      before the 340B's GB200 attention ran flash-attn 2) and 2.44x (2.55x and 2.48x at the clock law's 0.956, 2.71x and 2.60x at the datasheet peaks); the catalog peaks' ratio is 2.53x (2500 vs 989 dense bf16) with one GEMM efficiency
      for both; OpenXLA's
      measured bf16 GEMM table (parts/gemm_efficiency.csv) tops out at 1670 TFLOP/s on sm_100 vs
      805 on sm_90, 2.08x. The B200-family efficiency (the H100 in-step GEMM fit) may not carry to
      GB200 at this peak.
    * The GB200 rows' mapping, checked against what the 25.04 scripts ran (nothing found that the rows
      leave out beyond < 1%): layouts as launch.sh @dc1028f6 / @1f6d9f40 and the README tables; TE TP
      overlap on for both models (the Llama 405B GB200 switch-off above 128 GPUs is NeMo PR #14474, August
      2025, after 25.04; the measured 128 -> 256 GPU step rises 1.5% where overlap off would add 4.3%), TP 8
      over two trays supported by userbuffers since TE 2.2 (TE PR #1470, UB MNNVL); CUDA graphs on for the
      340B (launch.sh, ``bool_arg``), off for the 405B (launch.sh passes none and the per-GPU CSV row applies
      only at its own GPU count, 128; the model prices both alike, GPU-bound); no recompute or offload (no
      CLI value; the CSV could reach only the 128-GPU rows, the fastest of each ladder); fp8 the parser's
      default ``ds`` (NeMo's 25.04 performance summary says current scaling, and its GB200 405B FP8 row at
      this layout, 665 tokens/s/GPU, equals this README's 668: the same run; ``tensorwise`` would move the
      fp8 rows +1.3..+1.6 points); the measured step the mean of iterations 11-44 of 50. The under-
      prediction follows the layout, not the release: Megatron-Bridge 25.09 / 25.11 ran the same TP4 PP8
      CP2 VP8 GBS 64 layout on 128 GB200s (mbridge_all, MXFP8) at -26% / -28%, while the GB200 rows within
      -1..-10% are 25.11+'s GBS 1536 TP4 PP16 CP1 layout.
    * Release (bwell pass): NVIDIA's NeMo performance summary prints the same GB200 configurations release by
      release (fp8 per-tensor current scaling; docs.nvidia.com/nemo-framework .../performance-summary.html and
      archive/25.04-performance-summary.html, read 2026-12-02), and later releases are not faster: Llama 3.1 405B
      TP4 PP8 CP2 VP8 GBS 64 on 128 GB200s 665 tokens/s/GPU at 25.04 (6.16 s; the model 5.30 s, -13.9%), 638 at
      25.07 (6.42 s, -17.4%), Megatron-Bridge 25.09 MXFP8 7.09 s (-26%); Nemotron-4 340B TP8 PP4 VP12 GBS 32 on 128,
      737 at 25.04 (1.389 s; the model 1.216 s, -12.5%; this README's delayed-scaling 1.483 s, -19.6%); Llama 3 8B
      TP 1 on 8 GB200s 3.96 / 4.13 / 4.18 s at 25.04 / 25.07 / 25.09 (the model 4.05 s: +2.3 / -1.9 / -3.1%). A
      release factor from NVIDIA's own tables would be at most 1 for 25.04 and move these rows the wrong way; the
      TP 1 layout sits within 3% at every release, the TP 4-8 PP layouts 12-26% fast at every release. The same
      340B layout on DGX B200 (NeMo 25.02: 602 tokens/s/GPU, 1.701 s) is predicted 1.891 s (+11%), 0.62 s of it
      exposed DP over InfiniBand (DP 4 across nodes): measured GB200 / B200 1.22x at this layout (two releases
      apart), the model 1.56x. What the model prices too cheaply on NVL72 at these layouts is not found; no
      release factor is applied.

    * GB200 weak scaling (accscale pass, 2026-12-03). The four weak ladders measure +0.05..+2.3% per DP doubling
      (340B bf16 2.189 / 2.190 / 2.229 s, fp8 1.483 / 1.517 / 1.549; 405B bf16 9.347 / 9.484 / 9.508, fp8 6.131 /
      6.183 / 6.244) where the model was flat or falling (1.8456 / 1.8405 / 1.8518; 8.509 / 8.504 / 8.502): the DP
      groups stay inside one 64-GPU NVLink domain (exposed DP +5..+16 ms) and the distributed optimizer's step
      shrinks as 1/DP (-10..-13 ms); within-model Spearman 0.167. The same under-predicted rise is on every other
      weak-scaling source, smaller: dgxc H100 +0.37% per doubling of the measured-over-predicted ratio (all 16
      ladders positive), llm-foundry +0.7..+0.8, tech_reports / together B200 +2.3 / +3.7 (single pairs), maxtext
      +0.8..+4.1 on 3 of its 4 ladders (``benchmarks/weak_scaling.py``; README "Weak scaling across sources").
      Found: Megatron-Core's interleaved schedule hides its sends only in the steady state; its warm-up and
      cool-down wait for 2 (pp v - 1) of them (``pipeline.fill_sends``: the count ``pipeline_timing``'s list
      schedule pays), and with 16-32-GPU stages in 64-GPU domains more DP spreads the pipeline over more domains, so
      2 / 4 / 8 of the 405B's 8 links (with the wrap) and 2 / 4 / 4 of the 340B's 4 go through the NIC (0.8 ms a
      send vs 0.05 on NVLink). Priced (step_time ``pp_fill``, no new parameter): 405B +29 / +53 / +101 ms, 340B
      +23 / +43 / +43 ms; every ladder ranks right (0.167 -> 1.000), median / p90 16.1 / 21.3 -> 15.0 / 19.4%,
      ``weak_scaling.py`` slope +1.02 -> +0.50% per doubling; the rest of the rise (405B +161 / +113 ms measured,
      +65 / +62 ms now) is not found. On H100 a TP 4-8 stage fills its node, every link already leaves it, so the
      term is a level there (dgxc 4.6 / 10.3 -> 4.8 / 10.4%; nemo2407 5.2 -> 4.3, tech_reports 4.6 / 5.3 -> 4.2 /
      4.7, h200 p90 9.5 -> 8.6). Dead ends, with numbers: Megatron-Core's own DDP buckets (``max(40M, 1M x dp)``
      parameters, only on pipeline rank 0 and only for model chunk 0: ``disable_bucketing=(model_chunk_idx > 0)``
      in Megatron's ``get_model`` and NeMo 2's ``MegatronParallel.init_ddp``, ``pp_rank > 0`` unbucketed in
      ``DistributedDataParallel``): the whole reduce of a stage is 23-70 ms on NVLink here, and all of it and the
      parameter gather exposed would add ~+9 ms from DP 2 to 8 for the 405B (reduce +14, gather +7, optimizer
      -13); ring latency growing with the ring (``comm``: (n - 1) alpha per collective, 8 us a hop on NVLink):
      the 340B stage's ~33 reduce-scatters at Megatron's buckets go 0.8 -> 4 ms from DP 4 to 16, under the
      backward; the distributed optimizer's shrinking step is modelled (``_dp_terms`` ``local``, 1/DP)
      and is what makes the old predictions fall; the non-overlapped sends paced at the NIC wherever the pipeline
      spans nodes (not only where a stage fills one): only nemo2407_ft moves, p90 15.5 -> 16.6%, not taken.
      GPU-to-GPU speed spread (Sinha et al. SC'22) and ring bandwidth by node count were measured and not taken
      before (README "Weak scaling across sources").
    * Blackwell pass (accbw, 2026-12-03). Taken: GB200 at its measured matmul rate over the HGX B200
      (physics.MEASURED_CLOCK_GAIN, MAMF v2 BF16 1822 / 1745 = 1.044x, for the clock law's 1.063x upper bound):
      15.0 / 19.4 -> 13.7 / 18.2%, mean -15.3 -> -14.0%, mbridge_all 9.2 / 31.6 -> 9.0 / 31.0% (its GB300 rows,
      which take GB200's clock, 6.4 -> 7.7% median |err|), nothing else moves. Tried, not taken: (1) Grace's
      per-op host time (x2.75, TE issue #2053) on GB200 / GB300: these rows do not move (GPU-bound, the
      405B's without CUDA graphs too), mbridge_all 9.2 -> 9.1%; (2) a slower Blackwell FP8 / MXFP8 GEMM (x0.94):
      the model's bf16 / fp8 step ratio is 1.05-1.08x the measured one here, but 1.01-1.12x on the dgxc H100
      pairs and 1.20-1.23x on together's B200 pairs, so it takes this source to 12.6 / 14.5% and together B200
      11.8 -> 16.1%, mbridge_all 9.0 -> 9.7% (and no source gives the rate). (3) Measured on the same layout,
      release and recipe, GB200 is slower than DGX B200: Megatron-Bridge 25.09 / 25.11 Llama 3.1 405B TP4 PP8 CP2
      VP8 GBS 64 MXFP8 on 128 GPUs 7.09 / 7.28 s on GB200 against 6.59 / 6.56 s on B200 (0.93x / 0.90x), where
      the model gives GB200 1.09x (5.35 vs 5.82 s: the same GEMM time within 4%, and the B200's 0.21 s of exposed
      DP reduce and 0.10 s of sends over InfiniBand, 0.01 / 0.03 s on NVL72); at TP 1 (Llama 3 8B) GB200 measures
      1.045x B200, the model 1.05x. So the missing time is GB200-specific and comes with the model-parallel
      layouts (TP 4-8 with PP / CP, ~0.7 s a step here), not with the GEMM rate both parts share; nothing
      published that prices it was found (NeMo's per-model userbuffers configs, tp_overlap_configs/userbuffers.py,
      hold 2-32 SMs for the TP overlaps where the model takes TE's default 16: not GB200-specific; tried in the
      tpsms pass below, not taken).
    * TP-overlap SM pass (tpsms, 2026-12-03), not taken. The model prices TE userbuffers with TE's defaults
      (physics ``TE_COMM_SMS`` 16, ``TE_RS_SPLITS`` 4: transformer_engine/pytorch/module/base.py ``initialize_ub``
      ``get_default_config``) for every run. What the recipes pass instead (``tp_comm_overlap_cfg``), read per op:
      NeMo-Framework-Launcher conf/training/tp_overlap ub_cfg_h100_h8192_tp4_mbs1_seqlen8192.yaml @a3f31000 (dgxc
      2024 Llama 3.1 70B, named in the rows' notes; proj / fc2 forward reduce-scatters "pipeline" on 24 / 16 SMs,
      the qkv / fc1 dgrad reduce-scatters "bulk" under their wgrads on 24 / 4), ub_cfg_h100_bf16_h16384_tp8_cp2_
      mbs1_seqlen8192.yaml @0937882d (2024 405B, fp8 too: 24 / 8, bulk 24 / 2), ..._h6144_tp2_mbs2_seqlen2048
      @273c9427, ..._h12288_tp4_mbs2_seqlen2048 @5d302f86 (fc2 ring exchange, 1 SM), ..._h8192_tp4_mbs1_seqlen4096
      @e5abe838; NeMo nemo/collections/llm/recipes/tp_overlap_configs/userbuffers.py @0594a700 as NeMo 2's
      scripts/performance/llm/pretrain_llama31_405b.py @04ecf8dd picks them (H100 fp8: 24 / 8, bulk 24 / 2;
      GB200 bf16 ``b200_h16384_tp4_cp2``: 32 / 8, bulk 24 / 2; GB200 fp8: both ring exchange on 1 SM, bulk 32 / 8;
      340B GB200 ``b200_h18432_tp8``: proj ring exchange, fc2 24, bulk 32 / 8); Megatron-Bridge
      src/megatron/bridge/training/comm_overlap.py @0685ff5d (its H100 fp8 70B / 405B and B200 405B configs run
      both forward reduce-scatters as 1-SM ring exchange). Priced per op (each reduce-scatter under its own GEMM;
      "pipeline" one of ``num_splits`` chunks exposed, ring exchange one of tp, "bulk" none; the GEMM on the SMs
      left), mapped per row for 17 row groups (dgxc 2024 70B / 405B, dgxc 25.04 405B H100 fp8 / GB200 and 340B
      GB200, nemo2407 GPT-3 20B / 175B and Llama 2 / 3 70B, mbridge 70B / 405B), the rest at TE's defaults. (a)
      TE's default methods alone (the wgrads' reduce-scatters "bulk" under the wgrad GEMM, not 4 chunks under
      the whole column backward): dgxc 4.8 / 10.4 -> 4.3 / 9.9%, dgxc GB200 13.7 / 18.2 -> 14.7 / 18.0,
      nemo2407 4.3 -> 4.8, tech_reports 4.2 / 4.7 -> 4.8 / 5.5, mbridge 8.2 -> 8.3, mbridge_all 9.0 -> 8.9;
      (b) with the recipes' SMs / methods: dgxc 4.3 / 9.7, GB200 14.9 / 18.2, nemo2407 4.7, mbridge 8.0,
      mbridge_all 8.9, tech_reports 4.8 / 5.5 -- every touched row 0.2-2.1 points faster (H100 TP 4-8 rows -0.6..
      -1.0, GB200 -0.4..-1.3, Megatron-Bridge 25.11 405B H100 -5.0 -> -6.9%), the recipes' SM counts themselves
      0.3 points or less per source; (c) the recipes' SM counts with today's backward accounting: dgxc 4.7 /
      10.9, GB200 13.8 / 17.3, nemo2407 4.5, tech_reports p90 5.6. Bounds: one SM count for every run, 1 or 32
      instead of 16: dgxc 4.3 / 9.1 or 5.5 / 12.5, GB200 14.6 / 19.7 or 12.6 / 16.2, nemo2407 4.9 or 3.7,
      tech_reports 4.6 or 3.2. The SMs the TP overlap holds are worth 1-2 points a step at most and move the
      over-predicted H100 dgxc rows and the under-predicted GB200 / nemo2407 rows in opposite directions: the
      GB200 gap is not in them, and no variant improves one source without another getting worse.
    * accb200 pass (2026-12-03), nothing taken. (1) A second DGX B200 measurement at the GB200 rows' own layouts:
      Together AI ran NVIDIA's official configs on its DGX B200 cluster (8 x 400 Gb/s IB a node; togethercomputer/
      together-dgxc-benchmarking tests/b200/slurm/OFFICIAL_BASELINES.md @d275be99): Nemotron4 340B TP8 PP4 VP12
      GBS 64 CUDA graphs on, 256 GPUs, nemo 25.07.01: BF16 936.33 / FP8 1,101.1 TFLOP/s/GPU; Llama 3.1 405B FP8
      TP4 PP8 CP2 VP8 on 256 (26.02): 1,722. With NeMo's causal-halved FLOP count (the one its 15B rows print) these
      are 2.254 / 1.917 / 6.064 s against GB200's 2.190 / 1.517 / 6.183 s at 256 GPUs here: GB200 over DGX B200
      measures 1.03x / 1.26x / 0.98x, the model 1.38x / 1.47x / 1.09x (B200 predicted 2.649 / 1.810 / 5.808 s: +17.5
      / -5.6 / -4.2%). The 340B's model gap is its DGX B200 data parallelism over InfiniBand (DP 8 across nodes:
      0.67 / 0.54 s exposed, param gather 0.37 and reduce tail 0.38 s, of 2.65 s), where Together's B200 step is
      only 0.06 s over GB200's. Two releases and software apart (25.04 vs 25.07 / 26.02), so not scored, but they
      say the same as Megatron-Bridge's pairs: at TP 4-8 with PP the model's GB200 is too fast against B200 as
      well as against its own measurement. (2) Megatron-Core's interleaved schedule launches each model chunk's
      gradient reduce when that chunk's last backward ends (``backward_step_helper`` ``grad_sync_func`` at
      ``virtual_microbatch_id - pipeline_parallel_rank``; the param gather likewise ``param_sync_func`` one group
      ahead), so the reduce of chunk c has the (c) pp chunk-backwards that follow it to hide under, where
      ``pipeline.exposed_dp_comm`` gives it one micro-batch's backward of the stage. Window (1 + (v - 1) pp) / v of
      it (v > 1, interleaved), priced: dgxc 4.8 / 10.4 -> 4.8 / 9.1% (with the param gather the same: 4.6 / 8.7),
      nar21 4.5 -> 5.4, tech_reports 4.2 / 4.7 -> 5.2 / 6.3 (5.7 / 7.4), nemo2407 4.3 -> 4.5, mbridge 8.2 -> 8.6%;
      dgxc GB200 and together B200 unchanged (their DP is on NVLink, or they have no PP). Real code, but it moves
      neither target and makes four sources worse: not taken. (Taken in acc41a for the megatron-core stack only,
      ``Stack.align_grad_reduce``, with the gather left as it was: docs/accuracy_log.md "The interleaved schedule's
      per-chunk gradient reduce".) (3) Hardware read against the sources: GB200 and HGX
      B200 carry the same 8 TB/s HBM3e and 900 GB/s NVLink 5 a direction in the catalog (memory-bound work is 4% of
      the 405B step); the CP 2 ring sits inside TP 4 x CP 2 = 8 GPUs, on NVLink on both systems; Grace's C2C link
      carries nothing in these runs (no offload; host time tried before, GPU-bound); no source gives GB200's clock
      under a whole rack's load below MAMF's single-GPU 1822 TFLOP/s, so no power cap is priced (NVIDIA's Multi-Node
      NVLink tuning guide, docs.nvidia.com/multi-node-nvlink-systems .../power-thermals.html, read 2026-12-03: GB200
      NVL72 workload power profiles set TGP and GPC clocks, Max-Q vs Max-P, with no clocks published; the NVLink
      switches' power capping that throttles traffic under a "compute" profile is documented for GB300 only, NVOS
      "ASIC and Power Profiles"). (4) A TP-only
      cost that would separate the TP 4-8 GB200 rows (too fast) from the TP 1 rows (right, or too slow on
      together): TE userbuffers run the overlapped GEMM as chunks (transformer_engine/common/comm_gemm_overlap/
      comm_gemm_overlap.cpp ``split_overlap_ag`` / ``split_overlap_rs``: tp ring-exchange chunks of m / tp rows for
      QKV / fc1 forward and the proj / fc2 dgrad, ``num_splits`` = 4 for the proj / fc2 forward, each chunk's GEMM on
      ``_stream_compute[i % _stream_compute.size()]``, up to ``num_max_streams`` (3) at once), and the model prices
      them unsplit. The chunks' wave loss priced on the shape curve (dense models, TE overlap with SP): 3 streams:
      dgxc GB200 13.7 / 18.2 -> 13.0 / 17.7%, but dgxc 4.8 / 10.4 -> 5.6 / 11.6, tech_reports 4.2 / 4.7 -> 1.5 /
      10.0 (nemo2407 4.3 -> 3.8, mbridge 8.2 -> 8.0); one chunk at a time: GB200 11.3 / 16.2, dgxc 6.5 / 18.0,
      tech_reports 8.0 / 10.9, mbridge_all 9.0 -> 9.6. The same loss falls on H100's TP 4-8 rows, which are already
      slow: not taken. (5) OpenXLA's sm_100 / sm_90 bf16 tables (parts/gemm_efficiency.csv) put B200 at 0.63 of its
      peak at 4096^3 against H100's 0.79 (MAMF at its best shape: 0.776 vs 0.803), i.e. Blackwell nearer its ceiling
      only at larger GEMMs; but the tables stop at 4096 on two of the three dimensions, so every training shape of
      these rows (8B / 15B TP 1, 340B TP 8, 405B TP 4 CP 2) reads the same sm_100 / sm_90 ratio, 0.79-0.80: no
      layout-dependent Blackwell rate can be read from them.
    * NVL72 NVLink pass (gb200, 2026-12-04). Taken: the NVL72 parts' NVLink collectives at the rate measured on
      them (efficiency.NVL72_NVLINK_BUSBW: Azure's nccl-tests ring all-reduce on the 4 GPUs of one compute tray at
      8 GB, GB200 679.61 / GB300 680.45 GB/s = 0.755 of 900, where the B200 family prior assumed 0.80): 13.7 / 18.2
      -> 13.5 / 17.9% (mean -14.0 -> -13.8%), mbridge_all 10.0 / 30.6 -> 9.9 / 30.4, no other source moves. Tried,
      not taken: (1) the same tables' rate at TP-sized messages (134 MB: 574 GB/s, 0.638): 12.8 / 16.9, but
      mbridge_all 9.9 -> 10.3% (its over-predicted NVL72 MoE rows); (2) a longer NVLink step latency on NVL72 (the
      switch trays as extra hops; ``intra_alpha_s`` 8 -> 16 us on GB200 / GB300 only): 12.7 / 16.4, mbridge_all 9.9
      / 30.4 -> 10.4 / 32.8 (40 us: 8.6 / 11.7, mbridge_all 15.3 / 45.1); no source gives an NVL72 hop latency
      above HGX's (NCCL's maintainers report < 8 us all-reduces up to 1 KB on one GB200 tray, NVIDIA/nccl-tests
      issue #333). (3) Found, not priced: the slow rows are the NVL72 rows whose TP x CP group spans more than one
      4-GPU compute tray (an OS host: NeMo's GB200 scripts pass ``gpus_per_node`` 4, and Megatron's rank order puts
      TP, then CP, innermost): this source's 340B TP 8 (12 rows, -12..-20%) and 405B TP 4 CP 2 (6 rows, -7..-14%),
      and Megatron-Bridge 25.09 / 25.11's 405B TP 4 PP 8 CP 2 on GB200 / GB300 (3 rows, -24..-26%); the NVL72 dense
      rows whose group fits one tray sit at -8..+15% (405B TP 4 PP 16 CP 1 GB200 -4..+6%, GB300 TP 4 PP 8 CP 1
      +1..+15%, 70B TP 2 PP 4 0..-7%, TP 1 -2..-7%), and DGX B200 at the same TP 4 PP 8 CP 2 layout (its 8-GPU
      group on one baseboard) -8 / -12%. Priced as "the TE TP overlap does not hold where TP x CP spans trays"
      (every TP collective of those rows exposed): 13.5 / 17.9 -> 2.6 / 7.3% (mean -13.8 -> -3.0%), mbridge_all
      9.9 / 30.4 unchanged (its three rows -19..-21%), nothing else moves; TP > 4 alone: 2.6 / 13.6%. Not taken, as
      no published mechanism was found: TE's userbuffers register their buffers over multi-node NVLink with fabric
      handles since TE 2.2 (PR #1470, "Support for TP across multi-node NVLINK"), and nothing published says the
      overlap fails or slows across trays; the path is the same (every NVL72 GPU-to-GPU transfer, inside a tray or
      not, goes through the switch trays) and measured cross-tray NCCL bandwidth is not lower. Hints only: NeMo later
      switched TP overlap off for GB200 Llama 3.1 405B above 128 GPUs (scripts/performance/llm/pretrain_llama31_405b.py
      @04ecf8dd, no reason given) and Megatron-Bridge's later GB200 405B layout keeps CP at 1. Also not priced: a
      GB200 clock or power cap under TP-heavy load (no source gives one; both slow layouts and the right TP 1
      layouts run the same GEMMs), Grace / aarch64 host or CUDA-graph behaviour (the 340B runs graphs, the 405B none,
      both slow). (4) One candidate with a source but no version to apply it to: NVIDIA's GB200 NVL Multi-Node
      Tuning Guide (docs.nvidia.com/multi-node-nvlink-systems/multi-node-tuning-guide/nccl.html, read 2026-12-04)
      says NCCL supports GB200 MNNVL from 2.25.2 (the DGX GB200 release notes: "GB200 support is available from NCCL
      2.27.5"); an older NCCL in the nemo:25.04 container would send every cross-tray NCCL transfer (DP, PP, the CP
      ring; not TE's userbuffers, which register their own fabric memory) through the tray's 4 x 400 Gb/s NICs. The
      405B rows priced so (a 4-GPU node with 1600 Gb/s): bf16 -7..-8 -> +6..+8%, fp8 -13..-14 -> -2..-3%; the 340B's
      TP 8 cannot be priced so here (the model would send its userbuffers over the NICs too). The container's NCCL
      version is not in the index (NeMo issue #13996: 25.04's NCCL fails multi-node InfiniBand topology detection,
      fixed by 2.27.3), so not taken. What would settle it: an nsys trace or NCCL_DEBUG=INFO log of a TP 8 (or TP 4
      x CP 2) NVL72 step, or TE's comm_gemm_overlap test on 8 GPUs over two trays against 4 in one.
    * Attention backend pass (gb200_32, 2026-12-04). Taken: the Nemotron-4 340B rows' attention (head dim 192) runs
      flash-attn 2, not cuDNN. TE's cuDNN backend trains head dims above 128 only on Hopper (SM90, cuDNN >= 9.5);
      on SM100 only MLA's 192 / 128 (cuDNN >= 9.11) -- transformer_engine/common/fused_attn/fused_attn.cpp
      ``nvte_get_fused_attn_backend``, every stored version -- so TE falls back to flash-attn 2, which NeMo's
      performance executor leaves on (scripts/performance/executors.py ``NVTE_FLASH_ATTN=1``, ``NVTE_FUSED_ATTN=1``)
      and which takes head dim 192 on SM100 (``get_attention_backend``). A general rule, not a row mapping
      (physics.te_training_attention_kernel); FA2 on Blackwell at Azure's one-harness GB200 / H100 ratio, 373.9 /
      327.9 TFLOP/s (physics.FA2_BLACKWELL: 0.163 / 0.158 of GB200's sustained peak, 3.1x slower than the cuDNN
      rate). The 340B's attention 0.052 -> 0.151 s of a 1.90 s step (bf16, 128 GPUs). Moves: this source 13.5 /
      17.9 -> 8.8 / 13.6% (mean -13.8 -> -9.9%): 340B bf16 -12..-13 -> -7..-9%, fp8 -16..-20 -> -9..-13%, the
      405B rows (head dim 128) unmoved at -7..-14%; together B200 baselines' two DGX B200 340B rows (the same TE
      rule) +26.4 -> +30.5% (BF16) and +6.0 -> +10.9% (FP8-CS), that source's median / p90 / Spearman unchanged
      (20.1 / 53.0%, 0.606), mean -18.5 -> -18.2%; no other row moves (DeepSeek-V3 / Kimi K2, MLA 192 / 128, keep
      cuDNN). If flash-attn were absent from the container TE would run its unfused attention, slower still: the
      price is a lower bound. Left after it: a per-layer gap that fp8 does not shrink -- measured minus predicted
      per layer and micro-batch on each GPU's stage is 1.23 / 1.14 ms (340B strong-scaling rows at 128 GPUs, bf16 /
      fp8, before this pass; 0.71 / 0.62 ms after it) and 1.30 / 1.64 ms (405B, 128 GPUs, 15.75 layers a stage),
      equal or larger in fp8 where the GEMMs are 1.7x faster, so it is not the GEMM rate (a slower
      Blackwell FP8 GEMM, tried in accbw, would scale with the GEMMs): it is time the model prices as hidden or
      absent at both precisions (TP collectives: all exposed gives 2.6 / 7.3%, gb200 pass above). Revised (bw54):
      that reading counts the fp8 excess the same release's H100 rows share (fp8 rows 1.3-5.7 points faster than
      their bf16 twins on both parts); over H100's measured / predicted, GB200's is 1.10-1.16x at both precisions and the
      GB200-only seconds fall with fp8 as the step does (fp8 / bf16 0.58-0.71), so a rate on GPU-bound work or an
      fp8-shrinking collective, not a per-layer constant (docs/accuracy_log.md bw54). Checked and not
      it: NeMo's ``PerfEnvPlugin`` sets ``CUDA_DEVICE_MAX_CONNECTIONS=32`` on SM100 with TP > 1 (1 on Hopper; NeMo
      PR #11763, Launcher PR #451, January 2025) -- a launch-ordering setting with no published cost; the 340B
      script's ``enable_vboost=True`` steers power to the tensor cores (would make GB200 faster, not slower); TE
      delayed scaling's amax all-reduce over TP x DP (one per fp8_autocast exit, 2 per chunk and micro-batch: 192 a
      step at 128 GPUs, ~20 us each, < 0.5%); NeMo PR #14474 (TP overlap off for GB200 405B at 512 GPUs) says
      "to fix functionality issue", not speed.

    Left out: the NeMo 2 llama3.1 tables (nemo:25.02.01, commit 741c8860: 405B proxies split 30/62
    layers unevenly over PP4 x VP8, and that container's NeMo scripts are not in the index); the
    later READMEs (Megatron-Bridge, B200/GB200/GB300) print layouts, no measurements."""
    out = pr2_rows(cat, path=DGXC_CSV)
    return out[out["scored"]].drop(columns=["scored"])


def together(cat) -> pd.DataFrame:
    """Together AI's runs of NVIDIA dgxc-benchmarking's Nemotron-4 15B recipe on its B200 cluster
    (togethercomputer/together-dgxc-benchmarking @d275be99, tests/b200/slurm/nemotron4-15b/results.md
    and tests/b200/scripts/nemotron4_15b/REPORT_BF16.md; ``TOGETHER_CSV``): 9 rows, bf16 at 64/256
    GPUs and fp8 at 64/256 GPUs with global batches 256-2560, TP 1 (two TP 2 experiments with the TP
    overlap off, as stated), MBS 2, seq 4096, on nvidia+nemo+26.02.00 with the recipe's 25.09 configs.
    Mapped as ``dgxc`` (``pr2_case``): stack megatron-core, fp8 with TE's tensorwise (current)
    scaling as CONTEXT.md states, distributed Adam, no recompute (not stated; the dgxc Nemotron-4 15B
    recipes set none), bf16 gradient reduction for fp8 and fp32 for bf16 (below), 8 x 400 Gb/s InfiniBand per 8-GPU node
    (results.md); CUDA graphs where the notes say enabled (the bf16 runs; ``nemo_cuda_graphs``).
    Left out: the NVLS experiment (NCCL NVLink SHARP) and the two profiler runs.

    The fp8 rows reduce bf16 gradients (notes: ``grad_reduce_in_fp32=False``): the configs are what NeMo's
    scripts/performance/llm/pretrain_nemotron4_15b.py writes (CONTEXT.md's experiment names are its ``exp_name``),
    whose helpers.py ``set_precision_configs`` (@02a0e6a5) sets it under fp8 and ``use_precision_aware_optimizer``
    under bf16 (CONTEXT.md: "BF16 has use_precision_aware_optimizer: true (FP8 has false)"), as for dgxc's NeMo 2 fp8
    rows; the 256-GPU fp8 run's 77.0 GB peak allocated (profiler report) is below the 93.8 GB that bf16 weights plus
    an fp32 gradient buffer of 15.63e9 parameters take alone (tests/test_dgxc_data.py). That moved the fp8 rows 2-12
    points (median 15.3 -> 13.5%; TP 2 rows +7.5 / +0.3 -> -4.7 / -6.1%).

    Known residue, not modelled (bwell pass, nothing fitted): the bf16 rows +41% (64 GPUs) / +30% (256), the TP 1
    fp8 rows +5..+18%. What was checked:

    * Is the bf16 figure physical? Together's own fp8 profile (worklog/profiler_reports/
      nemotron4_15b_fp8_256gpu_profiler.md, job 81070, GBS 2048: 3 steps x 4 micro-batches on rank 0) gives per
      micro-batch GEMM kernels 0.207 s (2489 ms / 12), cuDNN attention 0.046 s, FP8 amax / quantize / cast 0.027 s
      and 0.071 s of the rest of the non-NCCL time (squared ReLU's pow + mul 0.020, which the report files under the
      optimizer though Adam on a 61M-parameter shard is far smaller; LayerNorm backward 0.008; command-buffer
      stalls 0.021); the model
      prices 0.339 s of GEMM (with its casts), 0.048 s attention and 0.035 s memory-bound work. Attention agrees; the
      excess is all GEMM (model 1.6x the profile), the rest is if anything under-priced. With the profile's non-GEMM
      kernels and the fp8 64-GPU step (0.763 s = 2 x 0.351 + 0.06 s per step), the bf16 64-GPU step (0.930 s)
      leaves 0.32 s per micro-batch for 0.69 PFLOP of GEMM: 1.9-2.2 PFLOP/s, 1.11-1.25x the B200's published bf16
      matmul ceiling (ml-engineering MAMF 1745 TFLOP/s; OpenXLA's sm_100 table tops out at 1670). The measured
      bf16 / fp8 step ratio (1.22 at 64 GPUs, 1.25 at 256 GPUs GBS 1024) is below the ~1.4-1.5 that the profile's
      GEMM share and MAMF's fp8 / bf16 ratio (3432.5 / 1745 = 1.97) give. The bf16 rows are not consistent with
      their fp8 siblings at any GEMM rate the B200 is measured to reach. Their memory report is odd too: 92.5 GB
      peak allocated is below bf16 weights + fp32 gradients + the fc1 and squared-ReLU outputs kept for backward
      (31.3 + 62.5 + 25.8 GB), though the helper leaves bf16 runs at the plugin's fp32 reduction (bf16 reduction
      would move them only to +39 / +28%; not taken).
    * Nemotron-4-specific pricing, part by part against the profile and Megatron-Core / TE: squared ReLU (eager
      pow / mul, 0.020 s per micro-batch measured, inside the model's 0.035 s memory-bound total); the 256k-vocab
      logits GEMM (16-bit, in compute_gemm) and loss (the helper sets ``cross_entropy_fusion_impl = "te"``; the
      stack prices the fused loss); untied embeddings (one table's GEMM, the output layer); the distributed
      optimizer's gather and reduce (GBS sweep at 256 GPUs, 1 / 2 / 4 / 5 micro-batches: 0.457 / 0.813 / 1.5395 /
      1.899 s, a line of 0.361 s per micro-batch and 0.094 s per step; the model's 0.422 s and 0.058 s); CUDA graphs
      (jobs 81057 / 81058 without / with: 0.457 / 0.456 s). None is over-priced: the excess is per micro-batch
      (0.422 vs 0.361 s, fp8), i.e. the GEMMs', and the per-step part is if anything under-priced.
    * NVIDIA's own numbers for this configuration (Nemotron-15B, 64 GPUs, GBS 256, MBS 2, TP 1, fp8 per-tensor
      current scaling; NeMo performance summary, docs.nvidia.com/nemo-framework .../performance-summary.html and
      archive/25.04-performance-summary.html, read 2026-12-02): DGX-B200 NeMo 25.02 14760 tokens/s/GPU = 1.110 s
      (the model 0.924 s: -16.8%), DGX-GB200 NeMo 25.04 17809 = 0.920 s (model 0.831 s: -9.7%); Together's B200 on
      26.02: 0.763 s (+17.7%). The same configuration on the same GPU measures 1.45x apart from NVIDIA's 25.02 to
      Together's 26.02 and the model sits between. A software-release factor would need NVIDIA's table of this
      configuration at 26.02; none is published (Megatron-Bridge's tables carry no Nemotron-4 15B), so none is
      applied.
    * accbw pass (2026-12-03): GB200's measured clock (physics.MEASURED_CLOCK_GAIN) leaves these HGX B200 rows as
      they are; a slower Blackwell FP8 GEMM (x0.94), which the GB200 fp8 rows would take (``dgxc``), moves this
      source 11.8 -> 16.1% median: its fp8 rows are already slow, and its bf16 / fp8 step ratio (1.22-1.25) is the
      one furthest under the model's (1.49) of any source's pairs.
    * accb200 pass (2026-12-03), nothing taken. (1) The p90 (32.5%) is the two bf16 rows (+41.4 / +30.2%); the TP 1
      fp8 rows are +1.9..+15.4% (+1.9% at one micro-batch, +8.7..+15.4% at 2-5), the TP 2 rows -10.3 / -9.4%. (2)
      Together's own summary (tests/b200/slurm/OFFICIAL_BASELINES.md @d275be99, "Consolidated Benchmark Results (256
      GPU)") prints a "Target" per workload beside its runs: Nemotron4 15B BF16 1,076 and FP8 1,407 TFLOP/s/GPU
      against its 1,439 (bf16, 26.02 + compat_runner.py) and 1,800 (fp8, GBS 1024); the run scripts call it the
      "Tranche-1 target" of the official config (bf16/official/64gpu/run.sh: "Tranche-1 target: 1,264"; where the
      targets come from is not stated). Converted with the rows' own TFLOP/s-to-step ratio, the 256-GPU GBS 1024
      targets are 1.358 s bf16 / 1.039 s fp8, where the model gives 1.322 / 0.884 s (-2.7 / -14.9%): the bf16 rows'
      +30..+41% is this cluster's 26.02 software running 1.34x its target, not a B200 rate, and no B200 GEMM rate
      fits both (bf16 at the target needs the model as it is; the rows need bf16 GEMMs 1.1-1.25x MAMF's 1745). (3)
      Hardware read against the sources: the rows' DGX B200s are the 1000 W HGX part the catalog prices (no power
      setting stated; the catalog's 2250 / 4500 dense TFLOP/s are quoted at 1000 W); NVLink 5 900 GB/s a direction
      as the catalog (TP 1 rows use it only inside the DP ring); attention is TE's cuDNN fused kernel (the dgxc
      recipe's ``NVTE_FUSED_ATTN=1``), which the fp8 profile prices within 4% (0.046 vs 0.048 s a micro-batch), so
      FA2-on-sm100 or a missing FA3 is not the gap. (4) The interleaved schedule's per-chunk gradient reduce (below,
      ``dgxc``) does not touch these TP 1 PP 1 rows.
    * together36 pass (2026-12-05; nothing changed, docs/accuracy_log.md "Together AI's B200 rows"): NVIDIA's own
      Blackwell bf16 / fp8 pairs measure 1.44-1.53x (dgxc GB200, model 1.51-1.64x), Together's 1.18-1.34x (model
      1.38-1.54x), and NVIDIA's GB200 bf16 rows are already -7.9% (median): a faster Blackwell bf16 GEMM is ruled out.
      The growth from 8 to 32 nodes (+85 / +50 ms bf16 / fp8 at m = 2, model +5 / +3 ms) is this cluster's run-to-run
      spread: the 2026-04-15 re-runs of the same configurations (tests/b200/worklog/2026-04-15_rebenchmark_report.md)
      read 1.4-10.7% slower and give +34 / +114 ms; the fabric's own nccl-tests by node count (ring busbw 8 -> 32
      nodes -1..-25% at 2-8 GB) would give +19 / +10 ms at most. Nothing priced.
    * rerun38 pass (2026-12-05; data only, nothing in planner/ changed): the 2026-04-15 re-runs are averaged into the
      rows by the rule both Together sources share (benchmarks/data/parts/scripts/together_reruns.py: the mean step
      of every clean run of an identical configuration, one weight a run; a TFLOP/s-only re-run converted at the
      row's FLOPs per step). Four rows move: bf16 64 GPUs 0.930 -> 0.963 s (+41.4 -> +36.6%), bf16 256 1.015 ->
      1.022 s (+30.1 -> +29.2%), fp8 64 0.763 -> 0.774 s (+15.4 -> +13.7%), fp8 256 GBS 1024 0.813 -> 0.857 s (+8.6 ->
      +3.1%); median / p90 11.7 / 32.4% -> 11.7 / 30.7%, mean signed +11.3 -> +9.9%, Spearman 1.000.
    * rerunb38 pass (2026-12-05; data only): the later worklog reports' runs of these configurations, each checked
      against its row (together_reruns.LATER / LATER_EXCLUDED). One is identical: the 2026-04-20 Session B bf16 256-GPU
      GBS 1024 run 84443 (26.02 + the 04-15 run's compat_runner.py, 0.979 s at 1,492 TFLOP/s, the row's FLOPs per
      step): 1.022 -> 1.008 s (+29.2 -> +31.0%). The 04-20 fp8 256-GPU run (84490) ran the 25.09 container: not
      averaged. Median / p90 11.7 / 30.7% -> 11.7 / 32.2%, mean signed +9.9 -> +10.1%, Spearman 1.000.
    * acc44 pass (2026-12-06; nothing changed, docs/accuracy_log.md acc44): the same-configuration BF16 / FP8 pairs
      (benchmarks/precision_pairs.py) put the model's FP8 gain at 1.20-1.27x the measured one here, 1.045x on NVIDIA's
      GB200 pairs and 1.048x on its 50 H100 pairs. B200's own MAMF FP8 / BF16 ratio as an ``fp8_rel`` (1.114) takes this
      source 11.7 -> 6.8% through its FP8 rows but dgxc GB200 8.9 -> 12.0%; the per-tensor ``gemm_rel`` at ml-engineering's
      H100 pair (0.883) takes it 11.7 -> 14.6%. Neither taken.
    * tog53 pass (2026-12-07; nothing changed, docs/accuracy_log.md tog53): ``benchmarks/gemm_ceiling.py`` holds the
      planner's other terms and asks what in-step GEMM rate each measured 16-bit step leaves, over the part's MAMF: the
      bf16 rows 1.10 / 1.05x B200's 1,745 TFLOP/s, where 100 H100 rows sit at 0.51-0.78x (NVIDIA's own Nemotron-4 15B
      bf16 0.74-0.76x), NVIDIA's GB200 rows 0.62-0.68x and Together's 340B / Grok-1 bf16 0.86 / 0.77x. With every
      non-GEMM term at its isolated floor (attention at GB200's cuDNN rate, elementwise at the HBM roofline, no exposed
      collective) the floor is 0.891 s against 0.930-0.995 s measured: reachable only with every GEMM at the
      best-shape isolated maximum. Read as the runs', not a B200 rate.
    * tb55 pass (2026-12-07; nothing in planner/ changed, docs/accuracy_log.md tb55): the GBS-2048 fp8 profile's nvjet
      GEMMs run at 0.836 of the FP8 peak (1.10x B200's FP8 MAMF), the factor the bf16 rows ask; priced with the profile
      (``gemm_ceiling.py --profile``) the bf16 rows are +8.9 / +4.6%, the TP 1 fp8 rows -13..-4%. That GEMM rate on
      every HGX B200 row (x1.44) takes this source to 13.5%, ``mbridge`` 9.7 -> 13.5%, baselines 19.5 -> 30.2%, and
      the same cluster's Megatron-Bridge Llama 3.1 70B FP8 TP 1 rows run slower than the planner (-5..-11%): these
      runs', not a B200 rate."""
    out = pr2_rows(cat, path=TOGETHER_CSV)
    return out[out["scored"]].drop(columns=["scored"])


def together_baselines(cat) -> pd.DataFrame:
    """The rest of Together AI's published DGX B200 runs (togethercomputer/together-dgxc-benchmarking @d275be99;
    ``TOGETHER_BL_CSV``, builder data/parts/scripts/together.py, which states the rule and each row's provenance):
    every completed run in tests/b200/slurm/OFFICIAL_BASELINES.md's per-model tables and in the per-model results
    files tests/b200/slurm/*/results.md not already in ``together`` -- 28 rows. From OFFICIAL_BASELINES.md (17):
    Llama 3.1 405B NVFP4 (TP4 PP16 VP8 and PP8 VP4, 256 / 512 GPUs, GBS 1536) and FP8 (TP4 PP8 CP2 VP8, 256), Llama
    3.1 70B MXFP8 Megatron-FSDP (the official 64-GPU config, GBS 256), FP8 TP1 PP1 FSDP (Together's own config,
    Megatron-Bridge on 25.11.01, 256 / 512) and NVFP4 TP2 PP4 VP5 (512, GBS 2048), Qwen3-235B-A22B BF16 (TP1 PP8 EP8
    VP4, 256), Qwen3-30B-A3B BF16 (TP1 EP8, 64), DeepSeek-V3 BF16 / MXFP8 (TP1 PP16 EP8, 256), Nemotron-4 340B BF16 /
    FP8 (TP8 PP4 VP12, 256), Grok-1 314B BF16 / FP8 (TP4 PP4 EP8 ETP1 VP8, 256). From the results files (11): Llama
    3.1 70B FP8 TP1 at 64 / 128 / 592 GPUs, 405B NVFP4 config A on the older Megatron-Bridge and config B (TP4 PP8
    CP2 VP4, GBS 128), Qwen3-235B MXFP8 variants (VP 1 / 4, CUDA graphs, HybridEP, all-to-all overlap).

    A source of its own, not ``together``: other software (Megatron-Bridge 26.02 / 25.11 through llmb-run for Llama
    / Qwen3 / DeepSeek-V3, NeMo 25.07.01 / 25.09.00 for the 340B and Grok-1, where ``together`` is the Nemotron-4 15B
    NeMo 2 recipe on 26.02 through compat_runner.py), mostly NVIDIA's official configs rather than Together's
    experiments, and 11 of the 28 step times converted from the printed TFLOP/s with the FLOPs per sequence the same
    software counts for the model (a sibling run that prints both; NeMo 2's Nemotron formula for the 340B, which
    gives the ``together`` 15B rows' TFLOP/s back). The 2026-04-15 re-runs of the same configurations
    (tests/b200/worklog/2026-04-15_rebenchmark_report.md @d275be99) are averaged into seven rows by the rule the two
    Together sources share (rerun38, below); the re-runs in the repository's later worklog/ reports (later commits,
    2026-04-16 .. 05-12, other node sets) are not in it.

    Mapped as ``together`` (``pr2_case``): stack megatron-core, 8 x 400 Gb/s InfiniBand per 8-GPU node, the
    precision each run's experiment names (TE tensorwise for fp8_cs, MXFP8, NVFP4), the distributed optimizer
    (Megatron-FSDP for the 70B TP1 PP1 rows), bf16 gradient reduction where the recipe sets it (the rows' notes:
    Megatron-Bridge's configs, NeMo's 340B recipe and fp8 helper), EP / ETP as stated, TP overlap off for the 340B /
    Grok-1 runs (the MPI stub their PMIx workaround needs disables TE userbuffers), the 340B's local CUDA graphs.
    The Megatron-Bridge runs (container column naming Megatron-Bridge: Llama 3.1, Qwen3, DeepSeek-V3) take their
    recipe from the tables ``mbridge_all`` uses, through the same functions (``mbridge_run`` -> ``mbridge_recipe``,
    ``mbridge_release`` from the container, ``mbridge_variant``): NVFP4 Llama without TE's TP overlap
    (``MBRIDGE_NO_TP_OVERLAP``); DeepSeek-V3 B200 HybridEP, no all-to-all overlap, ``recompute_modules=
    ["mla_up_proj"]``, no graphs (PP 16 EP 8: not the V2 layout variant); Qwen3-30B-A3B B200 HybridEP with TE
    attention + router graphs; Qwen3-235B B200 all-to-all, no overlap, no graphs. On top, a row's ``stack_options``
    carry only what the run's own files state it changed (the Qwen3-235B MXFP8 experiments: TE graphs of
    ``moe_router`` + ``moe_preprocess`` -- qwen3-235b/fp8mx/256gpu_cudagraph/sbatch.sh "CUDA graphs for MoE router +
    preprocess", 256gpu_baseline/train.sh ``--cuda_graph_scope=moe_router,moe_preprocess`` --, HybridEP, all-to-all
    overlap). Llama 3.1 405B NVFP4's full recompute of N layers per virtual stage (block) from Together's upgrade
    report (tests/b200/worklog/2026-04-10_405b_nvfp4_256gpu_results.md @d275be99): 80073 N 1 (the B200 NVFP4 V1
    config's, llama31_workload_base_configs.py @d063066b), 80076 N 8 ("-rl 8"), the old-Megatron-Bridge runs 8 ("the
    old MB scripts used recompute_num_layers=8"; config A's old-install train.sh passes it; stated for 79866, assumed
    for 79952 / 79953 / config B). The Qwen3 FP8 global batch 8192 is the same layout's FP8-MX launch file's
    (256gpu_baseline/train.sh ``-gb 8192``) and Megatron-Bridge's own 26.02 B200 row's. Not modelled: the a2a runs'
    ``delay_wgrad_compute``; the 405B FP8 recipe stays current scaling (the run's llmb-run experiment is named
    ``..._fp8_cs``; run.sh's comment says mx, written before the run). Excluded as invalid measurements: none (the
    405B / Qwen3 reports blame the fabric -- P2P 14.5 GB/s at 32+ nodes -- but no run's log reports errors; the
    fabric is the cluster's, every multi-node row ran on it).

    Recipe mapping (session 28, together3; nothing in planner/ changed): median / p90 29.0 / 57.3% -> 20.9 / 57.3%,
    mean signed -24.0 -> -20.1%, Spearman 0.474 unchanged, every other source unchanged;
    Llama 3.1 405B NVFP4 PP16 VP8 256 / 512 -45.1 / -50.4 -> -28.5 / -35.8% (the recompute), PP8 VP4 -31.5 / -36.5
    -> -8.8 / -15.8%, old Megatron-Bridge -52.6 -> -38.3%, config B -38.3 -> -20.1%; DeepSeek-V3 BF16 / MXFP8 -5.9 /
    -36.7 -> -4.7 / -36.2% (mla_up_proj recompute); Qwen3-30B (graphs added) and the Qwen3-235B CG rows (scope
    narrowed to the router) unchanged to 0.1 point.

    As first added, nothing in planner/ changed: median 29.0%, p90 57.3%, mean signed -24.0%. Signed: Llama 3.1 70B
    MXFP8 FSDP 64 GPUs -0.0%, FP8 TP1 64 / 128 / 256 / 512 / 592 GPUs -3.3 / +0.1 / +7.4 / +19.3 / +21.6%, NVFP4 512
    -16.5%; 405B FP8 -10.8%, NVFP4 -32..-53% (PP16 -45 / -50%, on the older Megatron-Bridge -53%; PP8 -32 / -37%;
    config B -38%); Nemotron-4 340B BF16 +26.4%, FP8 +6.0% (+30.5 / +10.9% since its head-dim-192 attention runs
    flash-attn 2, as TE's cuDNN backend trains no head dim above 128 on SM100: physics.te_training_attention_kernel,
    ``dgxc`` attention backend pass); Grok-1 BF16 +13.0%, FP8 -2.3%; DeepSeek-V3 BF16 -5.9%,
    MXFP8 -36.7%; Qwen3-235B BF16 -25.4%, MXFP8 -47..-69%; Qwen3-30B BF16 -66.0%. Read against the sources, not
    fitted: the 405B NVFP4 runs are on a fabric Together measured degraded (results.md: P2P 42 GB/s at 2-4 nodes,
    14.5 GB/s at 32+; "bubble 43%" at PP16) and Megatron-Bridge's own NVFP4 rows are too fast in the model as well
    (``mbridge_all``); the Qwen3-235B MXFP8 runs are 1.2-1.7x slower than the BF16 run of the same layout (45.5-64.8
    vs 37.8 s; Together: "FP8-to-BF16 gap ... MXFP8 GEMM + quantization overhead"), where the model has MXFP8
    faster; the DeepSeek-V3 MXFP8 run is slower than its BF16 run (405.6 vs 500.2 TFLOP/s), and the same command
    re-run on 2026-04-15 printed 550.7 TFLOP/s (30.94 s, the row's FLOPs basis); the Qwen3-30B run's 8,866
    tokens/s/GPU is near Megatron-Bridge's own 26.02 DGX-B200 table's 9,691 (micro-batch 1; that ``mbridge_all`` row
    is -65% too), where 26.02.01 prints 26,695 (micro-batch 4) and the model gives this row 26,100: the slowness is
    that release's, not the GPU's. The hostbound pass (``mbridge_all``, eleventh pass) looked for a per-call host /
    sync / per-expert cost behind the micro-batch-1 Qwen3 rows here and in Megatron-Bridge's DGX tables: none fits
    both them and the NVL72 rows; nothing changed.

    Nemotron-H 56B (nemo_h, session 28; listed unscored until the planner had the ``nemotron-h-56b`` preset, from
    nvidia/Nemotron-H-56B-Base-8K's config.json; nothing tuned): FP8-CS TP2 at 64 / 256 / 512 GPUs, the B200 FP8_CS
    workload config's TE graphs of the Mamba and attention layers and bf16 gradient reduction (``MBRIDGE_CUDA_GRAPHS``,
    ``MBRIDGE_BF16_GRAD_REDUCE``): +25.0 / +23.0 / +18.2% (6.58 / 6.59 / 6.59 s for 5.27 / 5.36 / 5.58 s: too slow, and
    flat where the runs slow with scale); the source 28 -> 31 rows, median / p90 20.9 / 57.3% -> 21.6 / 53.5%, mean
    signed -20.1 -> -16.0%, Spearman 0.474 -> 0.606.

    Listed, not scored (together.py ``NOT_SCORED``): DeepSeek-V3 at 512 GPUs (NCCL timeouts), Qwen3-235B BF16 PP 4 /
    NVLS / SHARP variants (their printed step and TFLOP/s disagree by 1.45x; NVLS not modelled), and the failed or
    figure-less runs.

    Re-runs averaged (rerun38, 2026-12-05; data only, nothing in planner/ changed). The 2026-04-15 report re-ran
    the official configs on 26.02 over steps 3-9, pinned to 32 good nodes, printing each beside the row's figure
    ("Previous"); ``together_reruns.py`` transcribes them and holds the rule both Together builders apply (the mean
    step of every clean run of an identical configuration, one weight a run; a TFLOP/s-only re-run at the row's FLOPs
    per step; the row's TFLOP/s column the runs' harmonic mean; the rows' own repeats go through the same function).
    Seven rows move: Llama 3.1 70B MXFP8 FSDP 64 GPUs 9.063 -> 9.593 s (+1.8 -> -3.8%), 405B NVFP4 PP16 79.3 -> 78.24 s
    (-28.6 -> -27.6%), 405B FP8 72.01 -> 71.97 s (-10.8%), Nemotron-H 56B 64 / 256 GPUs +24.9 / +23.0 -> +23.7 /
    +22.7%, Qwen3-30B -66.1 -> -66.0%, DeepSeek-V3 MXFP8 42.01 -> 36.48 s (-40.6 -> -31.6%: job 83853's 550.7 TFLOP/s
    at 30.94 s against the first run's 405.59); median / p90 / Spearman 20.2 / 53.2% / 0.606 unchanged, mean signed
    -18.7 -> -18.6%. Not averaged, with the reason (``together_reruns.EXCLUDED``): the report's 256-GPU Llama 3.1
    70B FP8 run (NVIDIA's official TP2 PP4 VP5 config, where its "Previous" is job 79139, Together's TP1 PP1 FSDP at
    GBS 512 on 25.11.01) and Qwen3-235B BF16 (failed twice, no figure).

    Later re-runs (rerunb38, 2026-12-05; data only). The same repository's worklog/ reports at 661e8e14 (2026-04-16 ..
    04-27) re-ran several configurations on other node sets; 21 runs of twelve rows are identical (layout, batch,
    precision, recipe options, software; a printed step's FLOPs per step within 1% of the row's) and averaged by the
    same rule: 405B NVFP4 PP16 78.24 -> 74.27 s (seven runs, 1,564-1,789 TFLOP/s; -27.6 -> -23.8%), 70B NVFP4 512
    GPUs 7.312 -> 7.016 s (five runs, 6.19-7.31 s; -16.7 -> -13.2%), DeepSeek-V3 MXFP8 36.48 -> 33.60 s (-31.6 ->
    -25.7%), Nemotron-4 340B bf16 / fp8 +30.5 / +10.9 -> +25.4 / +17.6%, Grok-1 bf16 / fp8 +13.0 / -2.1 -> +11.3 /
    -7.9%, 405B FP8 -10.8 -> -9.9%, Qwen3-235B BF16 -25.7 -> -25.1%, MXFP8 PP8 -50.5 -> -50.1%, Nemotron-H 256 / 512
    +22.7 / +18.2 -> +22.4 / +19.6%; median / p90 / Spearman 20.2 / 53.2% / 0.606 unchanged, mean signed -18.6 ->
    -18.2%. Not averaged, each with the reason (``together_reruns.LATER_EXCLUDED``): the Qwen3 runs launched through
    submit_session_B.sh (another sbatch environment), 26.02.01 software, runs at 512 GPUs of configurations no row
    has or at another batch, the 05-02 sweep (its batches cannot be checked), the slinky cluster's runs, and the
    04-16 consolidated table's 340B figures printed under Nemotron4 15B.

    Low precision on the experts (moe29, 2026-12-04). Taken: TE ``GroupedLinear``'s per-expert quantize launches
    (planner.model.moe ``split_quantize_kernels``; ``mbridge_all``'s thirteenth pass): median / p90 20.15 / 53.5 ->
    20.15 / 52.8%, the Qwen3-235B MXFP8 rows 0.5-0.8 points closer, DeepSeek-V3 MXFP8 -36.2 -> -35.6%. Read and
    priced, none of it enough for the Qwen3-235B MXFP8 rows (-47..-69%), with numbers:
    (1) the same configuration measured elsewhere: Together's job 80078 (TP1 PP8 EP8, no VP, micro-batch 1, GBS 8192,
    256 B200, MXFP8, all-to-all dispatcher, no graphs, the 26.02 container) printed 50.7 s; Megatron-Bridge's own
    26.02 DGX-B200 table prints that exact configuration at 3,805 tokens/s/GPU, 34.45 s (26.04.01: 34.7 s;
    ``mbridge_all`` rows, -30% in the model): Together's MXFP8 runs are 1.47x NVIDIA's, and NVIDIA's MXFP8 run is
    1.10x faster than Together's BF16 one (37.8 s, VP 4). On NVIDIA's NVL72 tables MXFP8 is faster than BF16 too, as
    the model has it: GB200 Qwen3-235B PP 8 micro-batch 1 EP 32, 25.11 BF16 26.66 s (VP 3) / 26.02 MXFP8 24.06 s,
    1.11x (model 1.16x, both rows within 3%); GB300 PP 4, 21.38 / 19.91 s, 1.07x (model 1.06x; VP 12 micro-batch 4
    EP 16 against micro-batch 2 EP 32). So the 1.33x MXFP8
    slowdown of Together's A/B is the runs', not the recipe's: no per-expert MXFP8 cost fits it and NVIDIA's rows.
    (2) A bound: the routed experts' GEMMs under MXFP8 / NVFP4 at the 16-bit rate with no casts at all (any per-expert
    low-precision cost short of making the experts slower than BF16): this source 20.1 / 53.5 -> 20.1 / 46.8%, its
    Qwen3-235B MXFP8 rows only -52 -> -45% (a2a runs -69 -> -64%), while ``mbridge_all`` goes 10.0 / 30.6 -> 10.7 /
    32.6% (the NVL72 Qwen3-235B MXFP8 rows -3..+2 -> +9..+14%, their 26.06+ full-graph rows +24..+26 -> +41..+44%,
    DeepSeek-V3 26.06+ +0..+8 -> +17..+28%). (3) The cast kernels' own rate: TE's MXFP8 quantize moves 4.6-5.8 TB/s
    on B200 past a ~9-11 us fixed cost per call (NVIDIA/TransformerEngine PR #3137's B200 table, cast + dbias at
    4096 x 4096 / 14336, rowwise / columnwise / both: slope and intercept of two sizes); the planner streams casts at 0.80 x 8 TB/s =
    6.4 TB/s, so the bytes are not what is missing, the per-call cost is -- priced now at the GPU's generic kernel
    gap (2 us) per per-expert launch, the low side: ROCm TransformerEngine PR #598 measures per-expert quantize
    against one grouped kernel at 4.0-4.7 us more per expert (MI355X, Qwen3 128-expert shapes) and TE's B200 cast
    alone has a 6.7 us intercept timed in isolation (its B200 column, FP32 rowwise 8192 x 8192 / 16384 x 8192); at
    4.4 us a launch this source would go to 20.1 / 52.0%, ``mbridge_all`` to 9.6 / 30.3% and ``mbridge`` to 8.4 /
    42.7%, not taken without an NVIDIA measurement of the loop inside a step. (4) Llama 3.1 405B NVFP4 (PP16 -29 / -36%, PP8 -9 /
    -16%): NVIDIA's own NVFP4 405B rows sit at -3.0% (GB200, 6 rows) and +4.6% (GB300, 6), so the recipe's price
    (RHT fused into the columnwise cast, 7.125 B a quantised element; stochastic rounding in the cast; 2D 16 x 16
    weight scales once per step) fits NVIDIA's runs; NVFP4 split-quantize runs grouped RHT kernels, not one per
    expert, and these rows are dense anyway. What the rows say instead: PP16 VP8 against PP8 VP4 of the same
    recipe measures 79.3 / 61.8 s = 1.28x at 256 GPUs and 44.8 / 34.1 s = 1.31x at 512 where the model has
    1.005x / 1.002x; the extra pipeline traffic (2 v sends of 8192 x 16384 x 2 B / TP 4 = 67 MB per micro-batch and
    rank: 412 against 103 GB a step at 256 GPUs, 206 against 52 GB at 512) over the extra measured time is 18 GB/s
    and 14.5 GB/s -- Together's own P2P measurement at 32+ nodes (results.md: 14.5 GB/s): the PP sends paced
    unhidden by the degraded fabric. Scaling every row's inter-node bandwidth to that rate (x0.29) moves the PP16 rows
    only 2-4 points (the model hides the sends under compute) and breaks the FSDP rows (+30..+95%): not taken; a
    per-cluster P2P rate would be a per-source parameter.

    One layer per virtual stage (pp31, 2026-12-04; nothing changed, every row of every source identical). What
    Megatron-Core does per virtual stage and micro-batch, against the PP16 VP8 rows' extra time: (79.3 - 61.8) s over
    the 384 x 8 - 192 x 4 = 2,304 extra chunk ticks (one chunk forward + one chunk backward) = 7.6 ms a tick at 256
    GPUs, 10.7 s / 1,152 = 9.3 ms at 512. (1) Per-chunk host / launch work, schedule bookkeeping, the bubble ((pp -
    1) / (v m) = 0.5%), the split (126 layers + embedding + loss over 128 virtual stages, the first and last holding
    no layer) are stack costs, and NVIDIA's own run of the identical layout has none of that size: ``mbridge_all``'s
    GB200 Llama 3.1 405B NVFP4 rows (TP4 PP16 VP8 DP4, GBS 1536, no graphs, no TP overlap, 26.02 .. 26.06, the
    model's chunk forward 5.0 ms as here 5.1 ms) sit at -7.8..+1.4%; 7.6 ms a tick would be 23 s of their 41.5-45.7 s.
    Together's own A/B on one fabric says the same: PP8 VP8 against VP4 (configs F / D, worklog 2026-04-10, older
    Megatron-Bridge) 66.88 / 66.41 s, 768 extra ticks at 0.6 ms each, with the same 67 MB sends and every PP link
    through the NIC -- only the one-layer chunks (forward 5.1 ms against 10.2 ms) pay. (2) The sends.
    Megatron-Bridge turns ``overlap_p2p_comm`` on whenever VP > 1 (training/comm_overlap.py
    ``_get_model_comm_overlap_cfgs``), as ``Stack.overlap_p2p`` has it; in 26.02 the steady state waits a forward's
    recv before the next forward and a backward's before the next backward, the warm-up's sends block
    (``overlap_p2p_comm_warmup_flush`` off: ``pp_fill``, 2 (pp v - 1) = 254 sends, 0.40 s). The list schedule
    (``pipeline_timing`` at this stage's 40.8 / 104.8 ms, m 384) pays a send only past the chunk forward: +0.5 / +1.0
    s at 2 / 4 ms sends, +3.8 / +9.5 / +15.5 / +28.3 s at 6 / 8 / 10 / 14 ms (PP8 VP4: +0.1..+0.9 s); the 67 MB send
    is 1.6 ms at the catalogued NIC and 4.6 ms at Together's measured all-pairs 14.5 GB/s, both under the 5.1 ms
    chunk; the rows need ~12.5 ms, 5.4 GB/s, a third of the cluster's own measurement. Tried as code: the overlapped
    exposure as the list schedule's knee (``t_pp / 2 - min(t_fwd, t_bwd)`` per micro-batch, in place of ``t_pp -
    (t_fwd + t_bwd)``; nearer the list schedule past the knee, 1.12-1.51x it against the current 0.60-1.86x): no row
    of any source moves, no send in the tables reaches its chunk forward. (p2prule, 2026-12-04: the analytic rule is
    now the list schedule in closed form, ``pipeline.overlapped_sends_exposed`` / ``fill_exposure``, 1.000-1.067x it
    over that grid; these rows and every other source unchanged.) (3) The wait on each forward's isend before
    its output is freed (``deallocate_pipeline_outputs``: Megatron-LM commit 260cba71, PR #4047, 2026-04-16), which
    would expose one send a tick (4.9 s at 1.6 ms), postdates 26.02 and these runs (2026-04-09..11). (4) Recompute
    granularity: one-layer chunks recompute every layer at ``recompute_num_layers`` 1 or 8 alike, yet the same PP16
    job printed 91.8 s on the older Megatron-Bridge and 79.3 s on the newer: the spread of this layout on that
    cluster. The Nemotron-4 340B VP12 (+26 / +6%) and 405B FP8 CP2 (-10.8%) rows send 0.46 / 0.80 ms against 5.9-8.1
    / 7.0 ms chunk forwards: nothing here moves them.

    Per-chunk gradient reduce (acc41a, 2026-12-05; docs/accuracy_log.md): Megatron-Core's interleaved schedule
    launches each chunk's DP reduce when that chunk's last backward ends (schedules.py ``backward_step_helper``
    ``grad_sync_func``), so it hides under the (v - 1) pp chunk backwards after it (pipeline.chunk_reduce_window),
    not one micro-batch's backward. The Nemotron-4 340B rows (DP 8 through the NICs) +25.4 / +17.6 -> +14.5 / +0.4%,
    Grok-1 +11.3 / -7.9 -> +7.1 / -11.3%; median / p90 20.5 / 53.2% -> 19.6 / 53.3%, mean -18.3 -> -19.5%.

    The recipe's pipeline layout (acc42a, 2026-12-05; docs/accuracy_log.md): ``mbridge_pp_layout`` now reaches every
    Megatron-Bridge run (``mbridge_run``), as the other recipe tables did. The DeepSeek-V3 PP 16 rows run
    "Et*4|(t*4|)*14tmL" (pplayout35 measured it and left it): bf16 -14.6 -> -28.3%, MXFP8 -25.3 -> -35.7%; the MXFP8
    row is now predicted 21.62 s, as ``mbridge_all``'s identical 26.02 DGX-B200 row, which measures 24.37 s against
    this row's 33.60 s (runs 42.01 / 30.94 / 27.84 s). The Qwen3-235B rows already ran the accounted split; no other
    row moves. Median / p90 15.2 / 52.3% -> 17.3 / 52.3%, mean signed -17.6 -> -18.4%, Spearman 0.548 unchanged.
    The tails read against NVIDIA's prints of the same configurations on the same chip: Together's Megatron-Bridge
    MoE runs are 1.14-1.88x NVIDIA's (DeepSeek-V3 MXFP8 at 26.02 1.14-1.72x, Qwen3-235B MXFP8 1.32-1.88x) and its
    NeMo Nemotron-4 15B fp8 run 0.70x NVIDIA's 25.02 print: no one B200 parameter set serves both."""
    out = pr2_rows(cat, path=TOGETHER_BL_CSV)
    return out[out["scored"]].drop(columns=["scored"])


def h200(cat) -> pd.DataFrame:
    """Google Cloud's GPU training recipes (AI-Hypercomputer/gpu-recipes; ``H200_CSV``, builder
    data/parts/scripts/h200.py): the step time of the DLLogger line each NeMo recipe README prints as its
    example, for A3 Ultra (a3-ultragpu-8g, 8 x H200 SXM 141 GB, 700 W) -- Llama 3.1 70B fp8 at 256 GPUs
    (NeMo 24.07), Llama 3.1 405B fp8 at 576 (NeMo 24.12), Mixtral 8x7B bf16 at 256 (NeMo 24.07) -- and the
    A3 Mega (8 x H100 80 GB) Llama 3 70B fp8 row at 128 GPUs (NeMo 24.07), the H100 pair of the first (same
    release, model and global batch; another layout and fabric). The only public H200 training step times
    found with their full run config (the recipes' NeMo 1.0 launcher YAMLs, each row's ``config_provenance``).
    Each is one logged step, not an average; its ``consumed_samples`` = (step + 1) x GBS ties it to the config
    (tests/test_h200_data.py).

    Mapped as ``dgxc`` (``pr2_case``): stack megatron-core; TE fp8 per-tensor delayed scaling (the configs'
    ``fp8_hybrid`` / ``fp8_e4m3``, ``fp8_amax_history_len: 1024``, ``max``); cuDNN fused attention (TE's
    default; ``use_flash_attention: true``); sequence parallel where TP > 1; no TP overlap (each config read:
    ``ub_tp_comm_overlap: false``); the distributed optimizer with bf16 gradient reduction
    (``H200_BF16_GRAD_REDUCE``); no recompute; the configs' GPT-2 BPE tokenizer, so the vocabulary is 50257
    padded to 128 x TP (not Llama's 128256). Mixtral: EP 8, the all-to-all dispatcher, token dropping at
    capacity factor 1.0 padded to capacity (``MBRIDGE_TOKENDROP``'s model), one GEMM per local expert
    (``moe_grouped_gemm: false``). Fabric per row (``inter_node_gbps``): A3 Ultra 8 x 400 Gb/s RoCE (Google's
    network-bandwidth page, as the catalog's a3-ultragpu-8g row), A3 Mega 8 x 200 Gb/s GPUDirect-TCPXO (TCP,
    priced as any 1600 Gb/s fabric). Not modelled: ``fp8_params`` (70B), ``defer_embedding_wgrad_compute`` (405B).

    The 405B row's config is the one at the README's commit (@1a3020bb: TP overlap off); the same log line sits in a
    later README whose renamed config turns ``ub_tp_comm_overlap`` on, which would predict 85.49 s (-7.4%) instead
    of 97.58 s (+5.7%): which config produced the line is not stated, so the row carries that +-6% ambiguity.

    Left out: the A3 Ultra MaxText recipes' example lines (Llama 3.1 70B bf16, 256 GPUs: 15.516 s; JAX/XLA, no
    planner stack); the A3 Mega GPT-3 175B fp8 line (25.12 s, 256 GPUs: its config runs dropout 0.1, which
    pr2_case does not map per row, and it has no H200 counterpart); the A3 Mega Mixtral README's line (it is
    the GPT-3 line: consumed_samples 98304 = 48 x 2048, Mixtral's GBS is 1024); A4 (B200) and the later
    Megatron-Bridge recipes (no printed times)."""
    out = pr2_rows(cat, path=H200_CSV)
    return out[out["scored"]].drop(columns=["scored"])


def mi300x(cat) -> pd.DataFrame:
    """Public AMD CDNA 3 training step times with their run configs (``MI300X_CSV``, builder
    data/parts/scripts/mi300x.py; provenance per row; tests/test_mi300x_data.py): four logs an AMD engineer
    published for AMD Accelerator Cloud AAC11, 8 x MI325X 256 GB per node with 8 x 400 Gb/s Broadcom RoCE --
    Primus (Megatron-LM backend, rocm/primus:v25.9) Llama 2 7B fp8 on 64 GPUs, Llama 2 70B fp8 on 16 (torch
    FSDP2, full recompute), Mixtral 8x7B bf16 on 64 (EP 8), and ROCm Megatron-LM's train_llama3.sh Llama 3 70B
    fp8 on 64 (FSDP2, full recompute) -- and one Primus Llama 3.1 8B bf16 run on 8 MI300X (PP 2, GBS 64, seq
    2048). Each value is the run's mean step (Primus: iterations 3-50; Megatron-LM: the script's mean).

    Mapped as the other Megatron sources (``pr2_case``): stack megatron-core (ROCm Transformer Engine); fp8 as TE
    per-tensor delayed scaling (Megatron's ``--fp8-recipe`` default with ``--fp8-format hybrid``); torch FSDP2
    (``use_torch_fsdp2``) as ZeRO-3, else the distributed optimizer; attention through Primus-Turbo / TE's CK flash
    kernels, the ``fa2`` entry (``stack_options``), which has no CDNA 3 rate of its own: the GPU prior's attention
    fraction prices it (efficiency.CDNA3_ATTN_HD128: Primus-Turbo's own MI300X benchmark of its AITER flash kernel at
    head dim 128); no TP overlap (TP 1 everywhere); fp32 gradient reduction (not stated); Mixtral's dispatcher the
    stack default (the Primus config sets none) with forced-balanced routing; the weight gradient accumulated by a
    separate pass (the job option ``gradient_accumulation_fusion: false``, Stack.grad_accum_pass: every config turns
    Megatron's gradient-accumulation fusion off, see 2026-12-03 below; until qa68 the rows set the row-only field
    ``grad_accum_pass`` the option now holds, the same stack). MI325X takes MI300X's priors (same die;
    efficiency.PRIORS) at its own 6.0 TB/s HBM.

    Nothing in planner/ was fitted to these rows: they score the microbenchmark priors. As first added (attention at
    Azure's FA2 328.6 TFLOP/s, measured at head dim 64, taken as head dim 128's: 0.251 / 0.242 of peak) 13.7% / 22.8%:
    fp8 +20.3%, +13.7%, +24.5%, bf16 -10.5%, -12.2%. The attention parts were then measured at the runs' head dim 128
    (Primus-Turbo ``flash_attn_func`` bf16 on MI300X, 24 causal cases, 426-498 TFLOP/s forward, 261-391 backward:
    0.366 / 0.285 at 16k keys; parts rows ``primus_turbo_mi300x_aiter_bf16_*``): 13.2% / 17.2%, fp8 +15.1% (Llama 2
    7B), +10.5% (Llama 2 70B), +18.6% (Llama 3 70B), bf16 -11.9% (Mixtral), -13.2% (MI300X Llama 3.1 8B); no other
    source moves. GEMMs are now 75-85% of every predicted step: the fp8 rows would need their GEMMs 1.13-1.25x
    faster, the bf16 rows 0.85-0.86x as fast, i.e. an in-step fp8 / bf16 GEMM ratio of ~2.6 on CDNA 3, more than
    the 2.0 the datasheet peaks allow. What was checked for the FP8 GEMM rate and ruled out as a change:

    * Primus-Turbo's MI300X GEMM benchmark on the Llama 2 7B / 70B and Llama 3.1 8B shapes (same harness, same shapes;
      fp8_gemm.csv / gemm_efficiency.csv ``primus_turbo_mi300x_*``): bf16 (hipBLASLt) 568-650 TFLOP/s forward, fp8
      tensorwise 648-1037 with both operands quantised per call; fp8 / bf16 1.47x forward, 1.43x backward at the
      median, ~1.68x forward with the casts' HBM traffic taken out -- below the 2 x 0.92 = 1.84x the fp8 recipe gives
      (planner.model.stack_kernels.RECIPES; 0.84 instead of 0.92 would put the fp8 rows at +19..+27%).
    * Azure ND MI300X v5 hipBLASLt FP8 (ROCm 6.2): 1159.5 TFLOP/s at its best shape over MI300X's MAMF bf16 668.4 =
      1.73x; the model's MI300X FP8 in-step fraction (0.382 x 0.92 = 0.351) matches H100's in-step FP8 scaled by the
      two parts' FP8 ceilings (0.552 x 0.443 / 0.698 = 0.350).
    * ROCmValidationSuite's GST acceptance thresholds (rvs/conf/MI325X/gst_single.conf @98df5b4d, MI300X @6d2e13f3,
      hipBLASLt, 4864 x 4096 x 8192, random data): a GPU passes at >= 1438 TFLOP/s fp8 / 669 bf16 (MI325X) and
      >= 1215 fp8 / 639 fp16 (MI300X). Pass floors, not measurements: their ratio (2.15x) would give ``gemm_rel``
      1.07 and these rows 6.2% median, but the fp8 floor over the measured MAMF bf16 ceiling is 1438 / 784.9 = 1.83x
      (MI325X) and 1215 / 668.4 = 1.82x (MI300X): the recipe's 0.92 again.
    * No public MI325X FP8 GEMM measurement was found (searched: ROCm blogs and docs, ROCm/MAD, hipBLASLt issues,
      Primus / Primus-Turbo result files, Azure's guide, the ml-engineering MAMF table (bf16 only)).

    So the two groups disagree with one rate: whatever makes the fp8 steps faster on MI325X is not the isolated fp8
    GEMM rate public measurements give (a smaller in-step loss than H100's under Primus-Turbo / TE on ROCm, or the
    MI325X's 1000 W headroom showing more in fp8, are candidates; neither is measured), and the bf16 misses (Mixtral's
    legacy grouped GEMM with EP 8; the MI300X row's PP 2 / PP 1 ambiguity, see its notes) are not GEMM-rate findings
    either. Nothing else was changed.

    Checked 2026-12-03 (automodel2 branch), nothing changed, source 13.2% / 17.2% as before:

    * FP8 attention: Primus's ``PrimusTurboAttention`` switches to Primus-Turbo's FP8 flash attention
      (``flash_attn_fp8_func`` / ``attention_fp8_blockwise``) only under ``enable_turbo_attention_float8``, off by
      Primus's defaults and set by neither the runs' YAML (llama2_7B-pretrain.yaml @2386c727 overrides
      ``enable_primus_turbo``, ``use_turbo_attention``, ``use_turbo_grouped_mlp``) nor their commands (``--fp8
      hybrid``): attention stays 16-bit in the fp8 rows, so it is not what makes them faster than predicted.
    * The same YAML sets ``gradient_accumulation_fusion: false`` (the weight gradient written apart, then added into
      the fp32 main gradient: Stack.grad_accum_pass). Priced, the Llama 2 7B row goes 7.368 -> 7.484 s (+15.1 ->
      +16.9%), further off; not applied here (the other Primus rows' YAMLs not read for it), left for the next look
      at this source.

    2026-12-03 (acc23 branch): every row's config was read for it, and every one turns the fusion off -- Primus
    llama2_7B / llama2_70B / mixtral_8x7B_v0.1-pretrain.yaml @2386c727 and MI300X/llama3.1_8B-BF16-pretrain.yaml
    @711b97cf set ``gradient_accumulation_fusion: false``, ROCm Megatron-LM train_llama3.sh @02b8aa76 passes
    ``--no-gradient-accumulation-fusion`` -- so Megatron-Core's DDP backward hook adds each micro-batch's bf16
    ``param.grad`` into the fp32 ``main_grad`` (distributed_data_parallel.py ``_make_backward_post_hook``). Mapped as the
    rows' ``grad_accum_pass`` (builder ``ROW_OPTIONS``; ``ROW_STACK_FIELDS``): 13.2% / 17.2% -> 10.9% / 17.9%, Llama 2
    7B +15.1 -> +16.9%, Mixtral -11.9 -> -10.9% (GA 2), MI300X Llama 3.1 8B -13.2 -> -6.4% (16 micro-batches of a
    4B-parameter stage: +0.156 s); the two FSDP2 70B rows unchanged (the add lands on the 1/dp shard: not priced). No
    other source moves. Checked the same day and not applied (signed errors in row order 7B, L2-70B, Mixtral, L3-70B,
    MI300X, all with the mapping above, which reads +16.9 / +10.5 / -10.9 / +18.6 / -6.4%):

    * AMD's own max-achievable-FLOPs table (ROCm blog "Measuring Max-Achievable FLOPs - Part 2", 2025-02-28,
      ROCm/rocm-blogs; hipblaslt-bench, trig_float data, a tuned hipBLASLt branch "target for ROCm 6.5"): MI300X BF16
      708 / FP8 1273 TFLOP/s (median GEMM clock 1207 / 1230 MHz), MI325X 843 / 1519 (1447 / 1464 MHz). Its FP8 / BF16
      ratio is 1.80 (0.90 of 2x), under the fp8 recipe's 0.92: as a CDNA 3 ``gemm_rel`` the fp8 rows go +18.7 / +12.6 /
      +20.6% (12.6% / 19.9%), further off. Its absolute values read higher than the same-harness pairs the priors use
      (MI300X FP8 1273 vs Azure's 1159.5, +9.8%; BF16 708 vs ml-engineering's 668.4, +5.9%): as the BF16 ceilings
      (``MAMF_BF16_TFLOPS``) +11.2 / +4.2 / -15.9 / +12.4 / -10.7% (11.2% / 14.5%); its FP8 ceiling alone, as H100's
      in-step FP8 (0.552) x 0.581 / H100's Azure FP8 ceiling 0.698 = 0.459 for MI325X (0.413 now), 8.5% / 10.3%
      (fp8 rows +8.5 / +1.2 / +9.5%); both 9.5% / 13.8%. Each sets a vendor harness against H100 ceilings from other
      harnesses, where the one same-harness FP8 pair (Azure: H100 0.698, MI300X 0.443 of peak) gives today's prior,
      so the gain is the harness's, not a finding; the BF16 rows, which these tables make faster, say the same.
    * MI325X attention at its higher sustained clock (the MAMF ratio 784.9 / 668.4 = 1.174, the GEMM prior's own
      MI325X scaling; AMD's median GEMM clocks 1447 / 1207 = 1.20): +13.8 / +8.8 / -11.7 / +15.5 / -6.4% (11.7% / 14.8%,
      the median worse); what clock the flash kernels hold under the power limit on either part is not measured.

    So the fp8 rows stay 10-19% slow: with attention and the memory-bound work as priced, their GEMMs would have to run
    at ~0.80-0.89 of AMD's FP8 max-achievable rate in the step, where H100's in-step prior is 0.75 of its matmul
    ceiling and the bf16 rows ask for ~0.61-0.65 of AMD's BF16 one.

    2026-12-03 (mi300 branch): AMD's table read again, for its FP8 / BF16 ratio. The note above set that ratio (1.80x)
    against the recipe's 2 x 0.92 = 1.84x, but 0.92 is the Azure harness's H100 ratio at fixed cubes, while AMD's is a
    ratio of tuned maxima; the one table with both dtypes shape-searched on H100 (ml-engineering: FP8 1402.6, BF16
    794.5 TFLOP/s, 1.77x; efficiency.MAMF_FP8_TFLOPS) puts CDNA 3's ratio at 1.018x (MI300X) / 1.021x (MI325X) H100's,
    not under it. Taken as ``Efficiency.fp8_rel`` (efficiency.fp8_rel: a ratio of two ratios, each inside one harness,
    so neither harness's level enters): 10.9% / 17.9% -> 10.9% / 16.2%, mean signed +5.8 -> +4.7%, fp8 rows +16.9 /
    +10.5 / +18.6 -> +15.3 / +8.7 / +16.8%; no other source moves. Checked and not taken, the same day: AMD's absolute
    BF16 ceilings too (708 / 843 for 668.4 / 784.9; the runs' ROCm 7.0 / 7.1 is nearer AMD's hipBLASLt, branch db8e93b4,
    "a target for the ROCm 6.5 GA software release", than ml-engineering's ROCm 6.3 / 6.2.4): 10.7% / 13.8%, +9.7 /
    +2.5 / -15.9 / +10.7 / -10.7%, but both bf16 rows move further off (Mixtral -10.9 -> -15.9%, MI300X -6.4 ->
    -10.7%), as does the single-GPU MI300X-vs-H200 check (H200 measured 1.32-1.40x faster; modelled 1.17-1.19x ->
    1.11-1.13x): a BF16 parameter would be raised for the fp8 rows alone (efficiency.MAMF_BF16_TFLOPS).

    2026-12-05 (amd36 branch), nothing changed: the fp8 rows against the sum of their isolated kernels in one harness,
    Primus-Turbo's MI300X tables (FP8 tensorwise GEMMs with both operands quantised per call at M = 16384, its AITER
    flash kernel at the runs' causal sequence / heads / batch (at most 4), a bf16 head at 620 TFLOP/s; full recompute as two
    forwards): 7.30 / 105.9 / 23.06 s on MI300X, 6.42 / 91.8 / 20.2 s with MI325X's GEMMs x1.174 (the MAMF ratio the GEMM
    prior uses) for 6.40 / 92.63 / 19.12 measured -- +0.3 / -0.9 / +5.6% before norms, SwiGLU, RoPE, the optimizer or
    exposed communication. The runs keep no in-step loss over their kernels; the planner keeps H100's (its 7B linears'
    FP8 GEMMs at 1019 TFLOP/s, 5.00 s; its attention 1.35 s against the kernel's 1.38). The bf16 Mixtral step is 1.38x
    its kernels' sum (1.91 s, 2.25 with the priced memory-bound, EP and DP terms, for 3.10; the H200 Mixtral row is at
    -1.6%). Not taken (rows in order; median / p90): the delayed casts free +11.6 / +6.1 / -10.9 / +14.2 / -6.3% (10.9 /
    13.2); MI325X attention x1.174 (11.7 / 12.9) or x1.19 (11.7 / 12.7); FP8 GEMMs x1.1 +8.2 / +0.3 / -10.9 / +8.6 /
    -6.3% (8.2 / 10.0), a factor sized to these rows with no source for a CDNA 3 in-step loss under H100's.
    docs/accuracy_log.md has the walk's numbers.

    2026-12-05 (acc42c branch), nothing in the model changed: the Mixtral row (the source's median, -10.5%) against
    its run's own argument print (the log @4fb66ab5, rank 0, 12:53:26; now quoted in the row's notes): the all-to-all
    dispatcher (the stack default the row takes), no recompute, the distributed optimizer, the unfused gradient
    accumulation, Primus-Turbo off (``enable_primus_turbo``, ``use_turbo_attention``, ``use_turbo_grouped_mlp`` False:
    attention on ROCm TE's CK backend, whose v3 defaults run the same asm kernels as the AITER path the attention prior
    measures), ``moe_use_legacy_grouped_gemm`` False where the stored YAML says true (one local expert a GPU: one GEMM
    either way). Every printed field is what the row already maps; its 0.33 s (GEMMs 2.25 s, attention 0.17,
    memory-bound 0.16, EP 0.11, DP 0.09 for 3.10 measured) stays without a sourced mechanism
    (tests/test_mi300x_data.py ``test_mixtral_maps_to_the_arguments_its_run_printed``).

    2026-12-06 (acc44 branch), nothing changed: no row here has a BF16 / FP8 sibling of its configuration
    (benchmarks/precision_pairs.py finds none), so the fp8-slow / bf16-fast split is also dense / MoE and MI325X / MI300X.
    The model's MI325X FP8 / BF16 GEMM ratio (2 x 0.92 x 1.021 = 1.878) is above AMD's same-harness 1.80; ROCm TE writes
    the transposed FP8 copy on CDNA 3 (``nvte_is_non_tn_fp8_gemm_supported`` returns 0 under HIP), as the delayed recipe's
    4 B prices; the catalog's MI325X peaks are AMD's dense ones. ml-engineering's H100 pair as the per-tensor ``gemm_rel``
    (0.883) takes this source 10.5 / 16.0 -> 12.2 / 19.5%.

    2026-12-06 (acc49 branch): the nodes are wired as their platform is, a fully connected xGMI mesh (``hw_option``'s
    planner.hardware.nvlink ``default_topology``: a group of k GPUs rings on its k - 1 links, the 8-GPU rate the
    measured one). Only the MI300X row has a smaller group in a node (DP 4): -6.9 -> -6.2%; the source stays 10.5% /
    16.0% (exposed communication is at most 1% of each predicted step but Mixtral's, whose groups span whole nodes).

    2026-12-07 (mi30053 branch): the Llama 2 7B run's own argument print (rank 0, 2025-11-15 12:12:36; quoted in the
    row's notes) confirms the fp8 mapping key by key (fp8 hybrid, fp8_recipe delayed, amax history 1024 / max,
    fp8_wgrad True, use_turbo_parallel_linear False: TE linears on hipBLASLt) but for one the registry had wrong:
    ``fp8_param_gather False`` (Primus's trainer_base.yaml default; train_llama3.sh passes no ``--fp8-param-gather``,
    Megatron's store_true default off), where megatron-core stores FP8 weights and gathers FP8 parameters as NeMo /
    Megatron-Bridge configure it. Mapped as the job option ``fp8_param_gather: false`` on the three fp8 rows (builder
    ``FP8_ROW_OPTIONS``): 10.5% / 16.0% -> 10.5% / 16.2%, signed +4.8 -> +4.9%, fp8 rows +15.28 / +8.44 / +16.47 ->
    +15.34 / +8.67 / +16.82% (16-bit parameter all-gathers: the FSDP2 rows' exposed ZeRO-3 0.63 -> 0.84 s and 0.21 ->
    0.28 s); no other source moves. Checked and not changed: train_llama3.sh's default GEMM_TUNING=1 has ROCm TE time
    up to 50 hipBLASLt algorithms per GEMM shape (rocm_gemm.cu, TE_HIPBLASLT_TUNING_RUN_COUNT 10), which the Primus
    runs do not (their printed environment names no TE_HIPBLASLT_TUNING_*), yet the tuned Llama 3 70B row and the
    untuned 7B row miss alike (+16.8 / +15.3%); the shape model against Primus-Turbo's MI300X FP8 table (36 forward
    shapes of these models): measured / (wave util x k factor) 875-1069 TFLOP/s, no trend with the shapes, so the
    residue is no tile or wave effect; the 7B row's attention (1.35 s) is the measured MI300X kernel at its own shape
    (causal, s 4096, b 4, 32 x 32 heads: 426 / 335 TFLOP/s, 1.38 s); NCCL's overlap slowdown, removed, moves the rows
    0.2-2.0 points (Mixtral's the most, the wrong way); TE's fused norm + FP8 cast would save ~0.02 s of the 7B row's 7.4. The fp8 / bf16 split stays.

    2026-12-07 (prod56 branch), no row moved: the rows' own cluster (AAC11) published its rccl-tests ring all-reduce
    (parts nccl_bandwidth.csv ``aac11_mi325x_*``): one node 319 GB/s bus bandwidth, the Infinity Fabric prior MI325X
    inherits within 1%. RCCL's channels take up to 64 CUs on multi-node CDNA 3 communicators (ROCm/rccl connect.cc);
    as the overlapped collectives' CUs (24 now) it takes this source to 10.5 / 18.3% (Mixtral -10.5 -> -6.3%, the FSDP2
    fp8 rows further off), with MI325X attention x1.199 (the GEMM clock ratio) as well to 8.6 / 14.8%: neither taken
    (the runs' channel count inferred; no MI325X flash-kernel measurement). docs/accuracy_log.md prod56."""
    out = pr2_rows(cat, path=MI300X_CSV)
    return out[out["scored"]].drop(columns=["scored"])


def gaudi(cat) -> pd.DataFrame:
    """Intel's published Gaudi 2 LLM training throughputs with the run configuration Intel's own code gives for them
    (``GAUDI_CSV``, builder data/parts/scripts/gaudi.py; provenance per row; tests/test_gaudi_data.py): the
    "Large Language Model (LLM) Throughput: Intel Gaudi 2 Accelerator" table of Intel's model-performance page
    (software 1.18.0, PyTorch 2.4.0, HLS-Gaudi2 boxes of 8 HL-225H) -- LLaMA 2 7B on 8 cards, 13B on 16, LLaMA 3.1 8B
    on 8 and 70B on 64, all FP8 -- each on the FP8 recipe HabanaAI/Megatron-DeepSpeed's 1.18.0 README gives for that
    model and card count (the page names neither framework nor layout; the other Intel fork had no FP8 LLaMA recipe at
    that release: the builder's docstring). The value is the step, GBS x seq / the page's tokens/s (all cards).

    Mapped as the production Megatron-DeepSpeed rows (``pr2_case``): stack megatron-deepspeed (the DeepSpeed pipeline
    engine over the legacy Megatron layers, its ZeRO-1, no gradient-accumulation fusion, gradients reduced after the
    last backward); selective recompute (``HL_CKP_ACT=2``: ``--recompute-granularity=selective``); sequence parallel
    where TP > 1 (run_llama.sh's default); the HLS-Gaudi2 box's 3 x 100 GbE scale-out ports a chip (2400 Gb/s a node,
    hardware_catalog systems.csv ``intel:HLS-Gaudi2``); the two LLaMA 2 recipes' bf16 gradient accumulation
    (``DS_BF16_GRAD_ACCUM_NOTE``). FP8 is Intel's Transformer Engine for Gaudi at delayed scaling, set as the row's
    ``fp8_recipe`` (``ROW_STACK_FIELDS``): the registry's megatron-deepspeed is upstream's, whose pipeline layer has no
    fp8 path (planner.model.stack_rules ``NO_FP8_PATH``, refused for a job), while Intel's fork runs FP8 through the
    pipeline engine (its README's "Run LLaMA 2 70B on 32 HPUs with FP8 precision" at HL_PP=4). Gaudi 2 takes its
    matmul-ceiling prior (efficiency ``mamf_prior``: 0.724 of the 432 TFLOP/s bf16 peak) and the generic rest; nothing
    in planner/ was fitted to these rows.

    2026-12-06 (src46b), as first added: +10.0% (LLaMA 2 7B), -9.0% (13B), -3.6% (LLaMA 3.1 8B), +16.8% (70B); median
    |err| 9.5%, mean signed +3.5% (docs/accuracy_log.md src46b)."""
    out = pr2_rows(cat, path=GAUDI_CSV)
    return out[out["scored"]].drop(columns=["scored"])


#: how a MaxText TPU row maps to the planner (``maxtext``): a node is one 8-chip v6e host, hosts exchange over the
#: slice's ICI at the chip's own rate (hardware_catalog systems.csv ``google:tpu-v6e-host``: 8 chips x 400 GB/s per
#: direction x 8 = 25,600 Gb/s per host, as ``planner.hardware.options.option_from_cluster`` prices a v6e slice)
MAXTEXT_HOST_CHIPS = 8
MAXTEXT_ICI_GBPS_PER_CHIP = 400 * 8


def maxtext_multislice_hw(cat, r):
    """The hardware of a multislice ``maxtext_runs.csv`` row (``num_slices`` > 1): as ``recommend`` prices
    ``num_slices`` x the catalog's slice row (``gcp:tpu-v6e-<chips per slice>``, fabric ``tpu-dcn``): a node is one
    whole ICI slice (chips inside it over ICI at the chip's 400 GB/s per direction, gpus.csv), and slices exchange
    over the data-center network at the slice row's ``network_gbps`` (Google's v6e page: 4 x 200 Gbps NICs per
    8-chip host = 100 Gb/s per chip; instances.csv ``network_source``). Two levels, not three: inside the slice
    every chip is one ICI domain here, where the single-slice rows take 8-chip hosts exchanging at the same ICI
    rate (``MAXTEXT_HOST_CHIPS``)."""
    per_slice = int(r.chips) // int(r.num_slices)
    inst = cat.instance(f"gcp:tpu-v6e-{per_slice}")
    assert inst.fabric == "tpu-dcn" and inst.cluster and int(inst.gpu_count) == per_slice, inst.key
    return hw_option(cat, r.tpu, per_slice, inst.network_bw * 8 / 1e9), per_slice


#: MaxText models of ``maxtext_runs.csv`` that are no planner preset: (layers, hidden, heads, vocab, positions) of a
#: GPT (gelu MLP 4h, LayerNorm, biases, learned positions, tied logits): MaxText ``configs/models/gpt3-175b.yml``
#: (the row's notes; its printed TFLOP/s is this model's FLOP count over the step, tests/test_maxtext_data.py)
MAXTEXT_MODELS = {"gpt3-175b": (96, 12288, 96, 50304, 16384)}


def maxtext_model(r) -> ModelSpec:
    """The planner model of a ``maxtext_runs.csv`` row: its preset (``MAXTEXT_MODELS`` otherwise); a MoE row's
    token dropping at the row's capacity factor, each expert padded to capacity (MaxText's dropping path)."""
    from planner.spec.presets import PRESETS

    if r.model in MAXTEXT_MODELS:
        return gpt_model(*MAXTEXT_MODELS[r.model]).model_copy(update={"name": r.id})
    kw = dict(PRESETS[r.model], name=r.id)
    if "capacity_factor" in str(r.moe):
        cf = float(re.search(r"capacity_factor ([0-9.]+)", r.moe).group(1))
        kw["moe"] = dict(kw["moe"], dropless=False, capacity_factor=cf, pad_to_capacity=True)
    return ModelSpec(**kw)


def maxtext_remat(r) -> dict:
    """The stack options of a ``maxtext_runs.csv`` row's ``remat_policy`` (the builder keeps it verbatim with the
    tensors the recipe sets): ``custom (offload: a, b; rest rematerialised)`` -> ``remat_policy: custom`` with those
    tensors ``offload`` (the recipes' ``decoder_layer_input: offload``, ``query_proj: offload``, ...; every other at
    base.yml's default: ``remat``, the layer input ``device``); ``custom (decoder_layer_input device, ...)`` (Gemma3)
    -> ``custom`` at the defaults; a named policy (``qkv_proj_offloaded``, ``full``) -> itself
    (planner.model.stacks ``MAXTEXT_REMAT_POLICIES``)."""
    text = str(r.remat_policy)
    name = text.split(" ", 1)[0]
    got = re.match(r"custom \(offload: ([a-z_0-9, ]+);", text)
    if got:
        return dict(remat_policy="custom", remat_tensors=dict.fromkeys(
            (k.strip() for k in got.group(1).split(",")), "offload"))
    return dict(remat_policy=name)


def maxtext_vocab_tiling(r) -> dict:
    """The stack option of a ``maxtext_runs.csv`` row's ``num_vocab_tiling`` (the builder records it in the row's
    notes where the recipe sets it: the Gemma3 workloads' 16); none: base.yml's 1, no option."""
    got = re.search(r"num_vocab_tiling (\d+)", str(r.notes))
    return dict(num_vocab_tiling=int(got.group(1))) if got else {}


#: the tpu-recipes workloads whose XLA flags add ``HOST_OFFLOAD_FLAGS`` (AI-Hypercomputer/maxtext
#: benchmarks/maxtext_trillium_model_configs.py, each workload's ``xla_flags``; benchmarks/xla_flags_library.py:
#: ``--xla_tpu_enable_ag_backward_pipelining=true`` among them): the Llama 3.1 8B / 70B / 405B and Mistral 7B ones.
#: Llama 2 70B (``llama2_70b_4096_sc``: DENSE_VMEM_LIMIT, CF_FOR_ALL_GATHER, SparseCore all-reduce), GPT-3 175B
#: (DENSE_VMEM_LIMIT, CF_FOR_ALL_GATHER, DATA_PARALLEL_OVERLAP, DISABLE_BUNDLE_AWARE_COST_MODEL), Mixtral
#: (MOE_VMEM_LIMIT, CF_FOR_ALL_GATHER, DATA_PARALLEL_OVERLAP) and Gemma3 (CUSTOM_VMEM_LIMIT) do not
MAXTEXT_AG_BACKWARD_PIPELINING = frozenset({
    "llama3_1_8b_8192", "llama3_1_8b_8192_bs5", "llama3_1_8b_8192_no_collective_matmul", "llama3_1_70b_8192",
    "llama3_1_70b_8192_bs2", "llama3_1_70b_8192_bs4", "llama3_1_70b_8192_bs2_bfloat16_no_collective_matmul",
    "llama3_1_405b_8192_pure_fsdp_ici", "mistral_7b"})


def maxtext_xla_flags(r) -> dict:
    """The stack option of a ``maxtext_runs.csv`` row's XLA flags: ``ag_backward_pipelining`` where its workload adds
    ``HOST_OFFLOAD_FLAGS`` (``MAXTEXT_AG_BACKWARD_PIPELINING``); none elsewhere (XLA's default, off)."""
    return dict(ag_backward_pipelining=True) if r.workload in MAXTEXT_AG_BACKWARD_PIPELINING else {}


def maxtext_case(r, gpus_per_node: int):
    """(model, training, layout, stack) of a ``maxtext_runs.csv`` row as ``maxtext`` maps it: FSDP (ZeRO-3) over
    every chip, TP = PP = 1, micro-batch = the per-device batch, full recompute under the recipe's MaxText remat
    policy (``maxtext_remat``: the layers under jax.checkpoint, what the policy offloads to host or keeps on the chip)
    and vocabulary tiling (``maxtext_vocab_tiling``), the backward's gather pipelining where its XLA flags set it
    (``maxtext_xla_flags``); ``gpus_per_node`` places the groups (8-chip hosts, or a whole slice)."""
    chips, mb = int(r.chips), int(r.per_device_batch)
    tr = TrainingSpec(seq_len=int(r.seq_len), global_batch=chips * mb, micro_batch=mb, precision="bf16",
                      weights="pure" if str(r.weight_dtype).startswith("bfloat16") else "amp", grad_dtype="same",
                      optimizer="adamw", flash_attention=True, dropout=False, recompute="full")
    c = Candidates(tp=np.array([1]), pp=1, dp=chips, cp=1, ep=1, vpp=1, zero=3, mb=mb, rc=RECOMPUTE.code["full"],
                   sp=False, schedule=SCHEDULE.code["1f1b"], gpus_per_node=gpus_per_node, nodes=1)
    return maxtext_model(r), tr, c, stacks.resolve("maxtext", **maxtext_remat(r), **maxtext_vocab_tiling(r),
                                                   **maxtext_xla_flags(r))


def maxtext(cat) -> pd.DataFrame:
    """Google Cloud's TPU training recipes (AI-Hypercomputer/tpu-recipes ``training/trillium``; ``MAXTEXT_CSV``,
    builder data/parts/scripts/maxtext.py, which keeps each README's step line verbatim with its workload and
    lists what it leaves out; tests/test_maxtext_data.py): the MaxText step time of Llama 3.1 8B on v6e-8 ... v6e-256,
    Llama 3.1 70B on v6e-32 ... v6e-256, Llama 2 70B, GPT-3 175B, Mixtral 8x7B and Gemma3 12B on v6e-256 and
    Mistral 7B on v6e-8, bf16, one ICI slice each; and three multislice runs (Llama 3.1 405B on 2 x v6e-256, Gemma3
    12B on 2 and 4 x v6e-256: ``num_slices`` > 1). One logged step each, not an average.

    Mapped as the rows state (nothing fitted; the TPU's efficiency is the generic unmeasured prior,
    planner.hardware.efficiency ``UNMEASURED_PRIOR``): stack ``maxtext``; the model by planner preset (vocabularies
    as MaxText's model configs: Llama 3.1 128256, Llama 2 / Mistral / Mixtral 32000); every chip on the FSDP mesh
    axes (``ici_fsdp_parallelism -1``; Llama 2 70B: ``ici_fsdp_transpose_parallelism -1``) -> ZeRO-3 over all chips,
    TP 1, PP 1; micro-batch = ``per_device_batch_size`` with no gradient accumulation (global batch = chips x it);
    splash flash attention; AdamW (MaxText's default ``opt_type``; GPT-3's config runs ``adam_pax``, the same states) with float32 parameters and bf16 compute
    (``amp``), ``weight_dtype: bfloat16`` -> ``pure``; gradients in the parameters' dtype; no dropout (MaxText
    base.yml ``dropout_rate: 0.0``, as remembered, not re-read). Recompute
    ``full`` under the recipe's MaxText remat policy (``maxtext_remat``, stack option ``remat_policy``: GPT-3's ``full``,
    Llama 2 70B's ``qkv_proj_offloaded``, the others' ``custom`` with the layer input and the q/k/v(/o) projections
    offloaded to host; until maxtext37 (2026-12-05) all as ``full`` with the layer inputs on the chip and every GEMM
    re-run: maxtext 4.5 / 7.8% -> 3.1 / 6.4%, Llama 3.1 70B v6e-256 97.1 -> 44.6 GiB). Mixtral: token dropping at
    capacity factor 1.25 padded to capacity (MaxText's dropping path computes every expert at capacity), EP 1
    (experts FSDP-sharded). Fabric: ``MAXTEXT_HOST_CHIPS`` / ``MAXTEXT_ICI_GBPS_PER_CHIP``; a multislice row
    ``maxtext_multislice_hw`` (a node = one slice, DCN between slices at the catalog slice row's sourced rate), with
    ZeRO-3 over every chip of every slice: Llama 3.1 405B's ``dcn_fsdp_parallelism 2`` is that; Gemma3's default
    ``dcn_data_parallelism -1`` (FSDP inside each slice, plain data parallelism across) has no planner layout
    (no hybrid sharding): ZeRO-3 over all chips is the nearest, and it over-counts (its parameter gathers span the
    slices: their DCN phase, N/256 per chip, and the ring latency of 512 / 1,024 ranks instead of 256).

    Held-out: scored first with nothing in planner/ changed (README "Sources"); the multislice rows first scored
    with nothing fitted to them, the DCN figure from Google's v6e page (2026-12-01)."""
    d = pd.read_csv(MAXTEXT_CSV)
    rows = []
    for r in d.itertuples():
        if int(r.num_slices) > 1:  # slices over DCN: a node is a slice (maxtext_multislice_hw)
            hw, g = maxtext_multislice_hw(cat, r)
        else:
            g = MAXTEXT_HOST_CHIPS
            hw = hw_option(cat, r.tpu, g, MAXTEXT_ICI_GBPS_PER_CHIP * g)
        model, tr, c, stack = maxtext_case(r, g)
        chips, mb = int(r.chips), int(r.per_device_batch)
        pred = float(step_time(model, tr, c, hw, framework=stack)["step_time_s"][0])
        rows.append(dict(source="maxtext", model=f"maxtext/{r.model}", id=r.id, **kind(model, hw), stack=stack.name,
                         options="", gpus=chips, tp=1, pp=1, dp=chips, mb=mb, measured_s=float(r.step_s), predicted_s=pred))
    return pd.DataFrame(rows)


def mbridge_all(cat, ids=None) -> pd.DataFrame:
    """Every other stored version of Megatron-Bridge's published pre-training tables
    (``MBRIDGE_ALL_CSV``: docs/performance-summary.md and -archive.md of NVIDIA-NeMo/Megatron-Bridge and
    its forks, releases 25.09 to 26.08.01, DGX H100 / B200 / B300 and GB200 / GB300 NVL72; builder
    data/parts/scripts/mbridge_all.py, which keeps the tables verbatim, dedupes the snapshots, checks
    every layout and each row's printed TFLOP/s per token against its model's, and lists what it leaves
    out). The 14 rows already in published_runs_2.csv (``mbridge``) are not repeated.
    ``ids``: only the rows with these ids (``pr2_rows``).

    Mapped as ``mbridge`` (``pr2_case``): stack megatron-core; precision from the table (FP8-CS / FP8
    -> TE tensorwise current scaling, FP8-MX / MXFP8 -> mxfp8, NVFP4 -> nvfp4, ``PR2_FP8_RECIPES``);
    FSDP column > 0 -> Megatron-FSDP (``megatron_fsdp``, optim_grads_params) else the distributed
    optimizer; dispatcher, all-to-all overlap and recompute modules from the recipe configs
    (``MBRIDGE_MOE_RECIPES``, ``MBRIDGE_RECOMPUTE``, keyed by GPU family and, where the recipe differs,
    precision); bf16 gradient reduction; sequence parallel where TP > 1; ETP 1; models by planner
    preset (DeepSeek-V3 with its MTP module except the 25.11 "w/o MTP" rows). Fabric per row
    (``inter_node_gbps``): DGX H100 / B200 8 x 400 Gb/s, DGX B300 8 x 800 Gb/s, GB200 NVL72 a 72-GPU
    NVLink domain with 400 Gb/s per GPU, GB300 NVL72 with 800 Gb/s per GPU.

    The Llama 3 70B Megatron-FSDP recipes' activation offload to the Grace CPU (``cpu_offloading_num_layers`` 20 on
    GB300 FP8-CS, 40 on GB200 FP8-CS) is mapped since 2026-12-03 (``MBRIDGE_CPU_OFFLOAD``; over NVLink-C2C,
    the catalog's ``host_link_gbps_per_dir``, planner.model.offload ``host_link_bps``): its copies hide under the passes (0 s exposed on every row).
    Not modelled: CUDA graphs (most Blackwell recipes), FP8 attention kernels
    (``fp8_dot_product_attention``); recipe versions older than the 2026 configs read (per release the
    dispatcher/recompute may differ).

    The fused grouped MLP (``cutedsl_fused_grouped_mlp``: ``MBRIDGE_FUSED_MLP``, the bytes it removes
    planner.model.moe ``fused_mlp_bytes``), added 2026-12-02 for the DeepSeek-V3 and Qwen3 FP8-MX GB300 / GB200
    (DeepSeek-V3 also B300) rows from 26.06 and priced for gpt-oss's: DeepSeek-V3 GB300 +15 -> +12%, GB200 +13 ->
    +11%, B300 -4 -> -5%; Qwen3-30B-A3B GB300 / GB200 +12..+16% -> +7..+11%; Qwen3-235B-A22B +26..+29% ->
    +22..+25%; gpt-oss-120b MXFP8 (already mapped) -25..-54% -> -31..-58% (the planner's gpt-oss is too fast
    before it); mbridge_all 14.2 / 33.5% -> 12.4 / 33.5%, Spearman 0.597 -> 0.631.

    The 13 25.09 "(tokendrop)" rows run token dropping as Megatron-Bridge's ``apply_moe_token_drop`` sets it
    (``MBRIDGE_TOKENDROP``: capacity factor 1.0, each expert's input padded to capacity -- every expert
    computes exactly the balanced load, planner.model.moe.expert_load -- no dispatcher sync, the alltoall
    dispatcher); added at 248 rows: DeepSeek-V3 -8..+1%, Qwen3-235B GB200 +5%, B200 -28..-31%, H100 -13%,
    Qwen3-30B -27..-37% (as its dropless rows); mbridge_all 11.0 / 35.2 -> 11.0 / 34.9.

    Kimi K2 (5 GB300 MXFP8 rows, 26.02.01-26.06, TP1 PP4 VP4 EP64, 256 GPUs) trains with Muon (the tables'
    footnote; Megatron-Bridge ``dist_muon``, planner.model.optimizers): -2.8% (26.02.01), +2.2%, +2.1%,
    +2.4%, +3.0% (26.06) on 2026-12-04; Muon's Newton-Schulz (MTP matrices included, each stage its own blocks),
    elementwise pass and its DDP all-reduce plus synchronous all-gather add 0.30 s (2.4%) to the 12.6 s step over
    AdamW's.

    What the error says (the 235 dropless rows first added; signed error = predicted / measured step time - 1;
    nothing fitted):

    * By GPU family, median signed (median abs), with both passes below: see ``--csv``; as first added:
      B200 -19% (22%), B300 -15% (18%), GB200 -9% (11%), GB300 +6% (16%), H100 -9% (10%). By model:
      gpt-oss-120b -29..-47% on every GPU as first added (the planner runs it far too fast, as the
      ``mbridge`` B200 row, -52%); with Megatron-Core's eager expert ops (planner.model.moe.eager_expert_ops:
      the clamped GLU's chain outside the fused activation, the fc2 bias per local expert) and H100's
      head-dim-64 attention rate, the bf16 rows are H100 -20..-23%, GB300 -19..-22%, B200 -14..-34%, B300
      -36..-45%, GB200 -37..-41% (before Blackwell Ultra's gains below), the mxfp8 rows (fused grouped
      MLP: none of these eager ops) unchanged -23..-55% (-31..-58% with the fused MLP's bytes, above). Qwen3-30B-A3B -15..-38%, DeepSeek-V3 -6..+14%, Qwen3-235B
      -35..+3%, Llama 3/3.1 -13..+12%.
    * GB300 vs GB200 at the same release, model, precision, GPUs, TP, PP and micro-batch (23 pairs):
      measured 1.20x median (1.03-1.27), predicted 1.12x (dense Llama 1.12x, GPT-OSS BF16 0.91x: the
      GB300 recipe drops the all-to-all overlap). The catalog gives both the same dense BF16/FP8 peaks
      (2500/5000); the B300 family's measured GEMM (x1.138) and cuDNN attention (x1.195 / x1.142) gains
      (``planner.hardware.efficiency.BLACKWELL_ULTRA_GEMM_GAIN``, ``physics.BLACKWELL_ULTRA_CUDNN_GAIN``)
      give 1.12x; with Blackwell's parameters it was 1.00x. B300 vs B200 (8 pairs, all MoE): measured
      1.11x median, predicted 1.25x (1.14x with Blackwell's parameters): beside the GPU gain (DeepSeek-V3
      1.13x, GPT-OSS 1.03-1.04x), the recipes (DeepSeek-V3 B300 all-to-all overlap on, B200 off: 1.06x; GPT-OSS B300 HybridEP
      without recompute) and DGX B300's 8 x 800 Gb/s NICs against DGX B200's 8 x 400 (GPT-OSS 1.2-1.5x
      in the model, which runs GPT-OSS too fast on every GPU).
    * Release over release, same config (the prediction is fixed per config, so the error moves by the
      measured speed-up): H100 stays within +3..+9% (Llama 3 70B 1619 -> 1664 tokens/s, 25.09 -> 26.04.01;
      Llama 3.1 405B 302 -> 326, 25.09 -> 26.06, GBS 512 -> 1536 worth ~1 point; Qwen3-235B 1575 -> 1712);
      B200 (tables end at 26.04.01) -2..+5%. NVL72 Blackwell: dense Llama +0..+9% on GB200 (405B FP8-CS
      813 -> 843), GB300 Llama 3 70B Megatron-FSDP +19% (4520 -> 5376, 25.11 -> 26.04.01), 405B +6%;
      MoE flat to 26.04.01 then a step at 26.06 / 26.06.01: GB200 Qwen3-30B +57% (26084 -> 40960),
      Qwen3-235B +35% (5448 -> 7360), DeepSeek-V3 +17% (4256 -> 4969); GB300 Qwen3-30B +47%,
      Qwen3-235B +37%; B300 Qwen3-30B +38%. Median signed error of the configs seen in two or more
      releases: GB200 -12% (26.02) -> +10% (26.06.01 on), GB300 -7% -> +11% (+2% -> +21% with
      Blackwell's parameters); per H100 config the error
      moves at most 5 points (Llama 3 70B +8 -> +11%, 405B -1 -> +4%, Qwen3-235B -10 -> -6%).
    * Nemotron 3 Nano (20 rows, hybrid Mamba-2 / attention / MoE: ModelSpec.hybrid_pattern, the Mamba
      layers priced by planner.model.ssm; recipe per ``MBRIDGE_MOE_RECIPES`` / ``MBRIDGE_RECOMPUTE``), as
      first added: B200 -32%, B300 -31..-35%, GB200 -31..-35%, GB300 -28..-34%, H100 -15..-19% (the
      planner too fast, as for the other fine-grained MoE, Qwen3-30B-A3B -20..-38%). Megatron-Bridge's
      TFLOP/s column for these rows counts 7% more than the model's FLOPs (its hybrid formula takes the
      Mamba width as 2 x hidden; tests/test_mbridge_all_data.py).
    * Hybrid rows on Blackwell, looked into 2026-12-03 (mambabw branch). Before: median signed B200 -20.5%, GB200
      -22.9%, B300 -36.6%, GB300 -12.8%, H100 -8.3% (the 4 Nano FP8-CS rows): the gap grew from Hopper to Blackwell.
      Share of the predicted step (elasticity: d log step / d log part, the part's outputs scaled by 1.2 in the step
      model), per model and GPU, median: Nano Mamba mixer 0.33-0.35 on Blackwell (its SSD + conv + norm kernels
      0.21-0.24, the rest in_proj / out_proj), MoE block 0.47-0.48, the rest (attention, head, DP, bubble) 0.18-0.19;
      on H100 0.27 (0.16) / 0.55 / 0.18. Super: Mamba 0.17-0.28 (SSD kernels 0.10-0.17), MoE 0.48-0.71. Lightning:
      0.27-0.28 (0.17-0.19) / 0.42-0.43. To close the Nano gap alone the MoE block would have to take 1.5-1.6x its
      price on Blackwell but 1.16x on H100, the SSD kernels 1.9-2.3x (H100 1.55x). The thin MoE without Mamba does
      not grow that way: Qwen3-30B-A3B medians H100 -36%, B200 -28%, GB200 -25%, B300 / GB300 -19%. So the Blackwell
      part of the hybrids' gap sits on the Mamba side. The SSD Triton kernels' Blackwell speed, from the one Blackwell
      timing of them found (state-spaces/mamba #904: a pure Mamba-2 1.4B model 1.51x faster on GB200 than H200, where
      the planner had 1.95x), is now priced per GPU family (ssm.SSD_FAMILY_FACTOR: 4.6 on B200 / B300 families, 2.38
      elsewhere; tests/test_ssd_parts.py). After: B200 -9.1%, GB200 -12.7%, B300 -27.5%, GB300 0.0%, H100 -8.3%
      (unchanged); Nano B200 / GB200 / B300 -9%, GB300 -3% (H100 -8%); Super B200 -7%, GB200 -15%, GB300 +2%, B300 -30%;
      Lightning GB200 -3%, GB300 +4%; mbridge_all 10.5 / 32.9% -> 9.1 / 31.6% (median / p90 abs), Spearman unchanged;
      only the 53 Blackwell hybrid rows moved, no other source (automodel's hybrids are H100 rows). Left: Super on
      DGX B300 (-23..-37%) against the same chip in GB300 NVL72 (-4..+7%) -- not a kernel matter (same sm_103
      silicon, same factor): the DGX B300 recipe / fabric, as for its other MoE rows (Qwen3-235B B300 -18%,
      gpt-oss -40%). No kernel-level Blackwell timing of the SSD kernels or causal_conv1d was found (searched:
      state-spaces/mamba, Dao-AILab/causal-conv1d, Megatron-LM, vLLM, Triton, flashinfer issues; Megatron-LM PR #5829
      and flashinfer PR #2709 time CuTe-DSL replacements on Blackwell, their Triton baselines only as images or
      without shapes; causal-conv1d PR #88 times its backward on an RTX PRO 6000 Blackwell at ~80% of that card's
      bandwidth, consistent with the streaming price it has).
    * The fine-grained ("thin") MoE gap, looked into 2026-12-02, no mechanism found (nothing changed): the rows
      split by the dispatched row's width -- ``ModelSpec.expert_io`` <= 2880 (Qwen3-30B 2048, gpt-oss 2880, Nano
      and Lightning 2688, Super's latent 1024) median signed -18..-30% without full-iteration graphs, >= 4096
      (Qwen3-235B, DeepSeek-V3, Kimi K2) -6..+4%. Measured model TFLOP/s per GPU, 26.04: Qwen3-30B / Qwen3-235B
      0.70x on GB300 (724 / 1035), 0.71x on GB200 (599 / 840); the planner 0.87x / 0.96x. Ruled out, with the
      planner's own numbers: the host (``Efficiency.launch_s`` x8 moves the GB300 / GB200 Qwen3-30B rows 1 / 13
      points: their host time is far below the GPU's); missing HBM passes (the GB300 Qwen3-30B gap, 4.2 ms per
      layer and micro-batch, is ~27 GB at the reached HBM rate, ~100 KB per routed 4 KB row); grouped-GEMM shape
      efficiency (TE 2.7's multi-stream cuBLAS on Qwen3-30B-shaped groups, parts/grouped_gemm.csv ``te2045_*``,
      measures 554-628 TFLOP/s on H100 where the planner's in-step price is 379-429: thin groups are priced slow,
      not fast); per-local-expert costs (gpt-oss runs EP 64 on Blackwell, 2 local experts, and is -19..-37%); a
      per-token or per-routed-row cost (sized to the GB300 Qwen3-30B gap it adds +8% to Qwen3-235B GB300, same
      tokens per expert, now 0%). Layer level, parts/moe_profiles.csv ``marin_h100_ep8_*`` (one noisy run each):
      Megatron-Core's MoE layer at Qwen3-30B's shape takes 3.35x the planner's price, at Qwen3-235B's 1.17x.
      Looked into again 2026-12-03, nothing changed (what-ifs patched in, mbridge_all median / p90 from 10.5 / 32.9%;
      "partial" = TE-scoped or no CUDA graphs, "full" = full-iteration graphs, median signed per cluster): not the
      dispatcher -- the 25.09 token-drop rows (all-to-all dispatcher, padded to capacity: static shapes, no
      device-to-host sync, no HybridEP) split the same way, Qwen3-30B GB200 -21 / -25%, B200 -33%, H100 -20% against
      Qwen3-235B GB200 +11%, B200 -17 / -22%, H100 -10%; not the Grace host -- DGX B300 (x86) Qwen3-30B -19..-22%,
      GB300 -18..-22% at the same releases; not post-sync host starvation at the planner's host prices (the host's
      lead is lost at the sync -- Megatron-Bridge perf_recipes/qwen/gb300/qwen3_moe.py on ``moe_use_grouped_tensor``:
      "the legacy grouped MLP path syncs tokens_per_expert to the host every layer, which serializes the CPU behind
      the GPU when dispatch is fast" -- so a layer forward pays max(0, host after the sync - GPU after it) on top):
      the MoE block's host ops past the sync (median 0.55 ms per forward, 0.94 ms for Qwen3-30B MXFP8) exceed its
      all-to-alls, expert GEMMs and memory-bound passes on 10 of 218 MoE rows (B200 Qwen3-30B micro-batch 1: 0.27 ms
      per layer forward; Nemotron 3 Super B300: up to 0.9 ms), and added to the step it leaves mbridge_all at 10.5 /
      32.9%. It is the one mechanism tried that moves thin rows and leaves thick ones (Qwen3-235B, DeepSeek-V3, Kimi
      K2 medians unchanged), but only at a host price several times the planner's for the block past the sync: x3 10.7
      / 30.2% (Nemotron 3 -20 -> -17%, worst -45 -> -28%; Qwen3-30B partial median unchanged), x5 9.7 / 30.8%
      (Nemotron 3 -13%, Qwen3-30B partial -17%, gpt-oss partial -30 -> -26%; mbridge p90 44.0 -> 42.7%). Megatron's
      router + preprocess run 17-31 kernels where the planner counts 6 host ops (parts/moe_profiles.csv
      ``mlm_ds3_gb200_router*``), so an undercount past the sync is plausible, but no count or host time of that part
      was found: not added; not the fp32 router / top-k / aux-loss over [tokens, experts] (32768 x 128 x 4 B = 17 MB a
      pass, ~0.1 ms per layer and micro-batch for 20 passes on GB300: 2% of the 4.2 ms gap). What-ifs, none kept:
      HybridEP / DeepEP all-to-all at DeepEP README's torch_api rate instead of the kernel's (x1.18, the GB200 / B200
      torch_api rows at 0.75-0.88 of the planner): 11.9 / 32.6%, Qwen3-30B partial -22 -> -20%, Qwen3-235B full +23 ->
      +30%, Kimi K2 +4 -> +9%, automodel DeepSeek-V3 +14 -> +22%; a HybridEP set-up of 0.57 ms per call (4 per layer
      and micro-batch, sized to Megatron-Bridge PR #3561's gpt-oss GB200 A/B, where HybridEP runs 4% slower than the
      all-to-all and the planner has it 3.7% faster): 9.6 / 33.6%, Qwen3-30B partial -22 -> -11%, Nemotron 3 -20 ->
      -8%, but Qwen3-235B full +23 -> +53%, Qwen3-30B full +9 -> +30%, Kimi K2 +4 -> +13%; the same only where the
      dispatch syncs (ragged HybridEP, not under full-iteration graphs), 2.3 ms per layer forward, a fit without a
      source for its size: 9.7 / 31.4% (mbridge p90 44.0 -> 37.6%), Qwen3-30B partial -11%, Nemotron 3 -7%, but
      Qwen3-235B GB200 256 GPUs -1.5 -> +27%, 64 GPUs +6 -> +52%, GB300 64 GPUs +25 -> +82%, Kimi K2 +13%; the token
      permutation at 0.45 of the streaming HBM rate (parts/moe_profiles.csv ``tileops*`` H200 permute kernels): 12.1 /
      31.4%, Qwen3-30B partial -22 -> -17%, full +9 -> +18%, Qwen3-235B full +23 -> +29%. What the 26.04 -> 26.06 step
      says (same layout; the Qwen3 GB200 / GB300 MXFP8 recipes switch to full-iteration graphs, paged stash and the
      fused grouped MLP, while Kimi K2 and Nemotron 3 Nano, recipes unchanged, gain 0.7% and 2-4%): measured 1.44x /
      1.56x (Qwen3-30B GB300 / GB200), 1.29x / 1.30x (Qwen3-235B), 1.19x (DeepSeek-V3 GB200), the planner 1.02-1.05x
      (the fused MLP's bytes). Net of the planner's fused-MLP share the time removed per layer and micro-batch grows
      with the micro-batch's tokens -- Qwen3-30B 5.8 ms at 32k tokens (GB300), 4.3 ms at 16k (GB200); Qwen3-235B 2.4
      ms at 8k, 1.55 ms at 4k; DeepSeek-V3 2.2 ms at 4k -- i.e. 33-45% of the planner's GPU time of a Qwen3-30B layer,
      14-20% of a thick one: GPU work, not a per-layer host or launch cost. And the thick rows sit near 0% with
      partial graphs but +22..+25% (Qwen3-235B) and +10..+12% (DeepSeek-V3) with full-iteration ones, Qwen3-30B -22%
      -> +9%: a cost that the eager / partial-graph MoE layer pays and full-iteration capture removes is ~25-30% of
      the step for thin and thick alike (less the fused MLP's real gain beyond its modelled bytes: NVIDIA's blog puts
      DeepSeek-V3's at 8%, the planner 2%), while the planner prices thick MoE layers ~10-25% high in both modes.
      Adding the first without finding the second moves the thin rows toward 0% and the thick ones to +20..+30% -- the
      trade every what-if above but the post-sync one shows.
    * Table quirks kept out of the error: see the builder's ``LEFT_OUT`` (a malformed 25.11 H100 row,
      the 26.02 first print's H100 Qwen3-30B 2557 tokens/s, half of what its TFLOP/s implies; since acc45b the two
      26.06.01 GB300 / GB200 GPT-OSS 120B MXFP8 prints, whose footnote ``[^gpt-oss-note]`` calls them a known
      performance regression, cudnn-frontend issue #256, fixed in the next container: builder
      ``REGRESSION_FOOTNOTES``; the accmoe pass below read them as release drift); 26.04.01
      prints coarsely rounded tokens/s (within 2% of its TFLOP/s column, the other releases within 1%).
    * Tenth pass (accmoe, 2026-12-03): the worst rows sorted by what they share; a mapping and a routing bound taken.
      Taken: the B200 DeepSeek-V3 FP8-MX V2 recipe's own settings for its layout (``MBRIDGE_LAYOUT_VARIANTS``: PP 8
      VPP 2 EP 32, DeepEP with all-to-all overlap, TE ``attn`` / ``moe_router`` / ``moe_preprocess`` graphs,
      ``mla_up_proj`` + ``mlp`` recompute, where the PP 16 EP 8 configs run HybridEP without overlap): the 26.04.01
      row +69.6 -> +28.2% (EP 32 over 4 DGX nodes: 15.2 s of exposed all-to-all -> 7.2 s); mbridge_all 9.0 / 31.0 ->
      9.0 / 30.7%, Spearman 0.665 -> 0.688 (distinct configurations 0.939 -> 0.970); nothing else moves. What remains
      in the top 15% (47 rows, |err| >= 27%): (a) release drift, 4 rows: one configuration (same layout, EP and
      recipe) printed 1.3-1.8x apart by neighbouring patch releases (gpt-oss MXFP8 GB300 / GB200 26.06.01 1.63x /
      1.56x slower than its 26.06, 26.08 and 26.08.01 prints; H100 Qwen3-30B 26.02 "b" print 1.77x its 26.02.01 one):
      no configuration-level model fits both; scored on each configuration's median the p90 is still 30.6%, so drift
      is not what holds the p90. (Not drift: the B200 / B300 gpt-oss BF16 26.02 rows, 1.7-1.8x the 26.02.01 ones,
      print EP 64 where those print EP 8; the planner orders them right, 1.6x / 2.1x.) (b) DGX B200 / B300 MoE at
      micro-batch 1 without full-iteration graphs, 16 rows (-27..-66%): B200 Qwen3-30B MXFP8 28.2 / 27.1 s at
      micro-batch 1 against 9.7-9.8 s at 4 on the same 8 GPUs and GBS (the planner 9.5 / 7.6 s), B300 Qwen3-235B 49.6
      / 48.7 s at micro-batch 1 VPP 4 against 21.9-22.1 s at 2 (the planner 22.0 / 22.1 s), B200 Qwen3-235B
      micro-batch 1 -30% where GB200 at the same PP 8 micro-batch 1 with TE graphs is -1..-3%: a cost of ~9-16 ms per
      layer and micro-batch that barely grows with the tokens, i.e. per-call (host / sync), several times the
      planner's host price (the post-sync x3 / x5 what-ifs above). Megatron-Bridge PR #3868 times eager against
      TE-scoped ``attn`` / ``moe_router`` / ``moe_preprocess`` graphs on H100 Qwen3-30B (16 GPUs, EP 16, micro-batch
      1): the graphs slightly slower, so on H100 the captured parts' host time is not what is missing; no timing of
      the part past the sync was found. Megatron-Bridge's own issue #1998 (2026-01-20, "[Regression] Low QWEN3 30B
      B200 and H100 performance with dropless": "the perf in 25.11 is 2X slower than 25.09. We need to fix this in
      26.02") names the 25.11 / 26.02 Qwen3-30B prints a 2x regression, the DGX B200 ones of this group and the
      H100 ones (mb53: the 25.11 H100 ``mbridge`` row, -64%, at half its layout's 25.09 and 26.02.01 rates; kept
      scored, no table footnote). (c) thin MoE at micro-batch 4 or on H100 (gpt-oss on every GPU, Qwen3-30B H100
      / GB200), 23 rows: the gap above ((b) holds the DGX B300 Nemotron 3 Super rows, micro-batch 1). (d) table
      quirks: GB300 Llama 3 70B MXFP8 26.02.01 printed PP 4 without VPP at micro-batch 2 (+41%: the model's 3/8
      bubble; every other print of that config is PP 4 VPP 5 micro-batch 1, +2..+8%). Also taken: group-limited
      routing's node reach as Megatron-Core's ``group_limited_topk`` gives it under forced balancing
      (planner.model.moe ``group_node_bound``: a node is reached only if it holds one of the token's 4 chosen groups,
      1 - C(6, 4) / C(8, 4) = 0.786 at 2 groups a node, where the former cap, 4 groups' share of the nodes, let the
      uniform 0.904 through; sampled routing 0.780, tests/test_moe_time.py): the variant row's EP 32 over 4 nodes
      sends 2.36 rows a token off the node, not 2.71, +28.2 -> +19.4%; EP 64 over 8 nodes (H100, one group a node) is
      the former 0.5; no other row moves. Not taken: also the misses inside a chosen group (the 4 groups' 128 experts
      as a uniform pool, 0.732 at 4 nodes, 0.454 at 8): the sampled routing gives 0.780 / 0.494 (each chosen group is
      chosen for its top experts, so it rarely goes empty), and it would move the H100 DeepSeek-V3 row -8.5 -> -10.6%.
      Left for a next pass, measured: that recipe's explicit ``pp_layout`` "Et*4|(t*4|)*14tmL" (4 layers on every
      virtual stage, 1 layer + MTP + loss on the last), where the planner's ``layout`` form (planner.model.pipeline
      ``layout_counts``) puts 3, 4 x 13, 3, 3 and so the MTP module and head beside 7 layers on the last rank: patched
      in for this row +19.4 -> -7.1%. It needs a stack option carrying the layout (stacks, schema, --emit, stack
      rules), not added here; applied to every PP 8 VPP 2 DeepSeek-V3 row it would also move the 25.09 GB200 / 25.11
      GB300 rows -0.6 / -0.1 -> -19.8 / -18.4%, whose recipes' layouts were not read.
    * Eleventh pass (pplayout, 2026-12-03): the recipes' explicit pipeline layouts (stack option ``pp_layout``,
      ``MBRIDGE_RECIPE_LAYOUTS`` / ``MBRIDGE_CONFIG_LAYOUTS``, every row whose recipe sets one, not a selection).
      Read: the DeepSeek-V3 and Kimi K2 model recipes set a layout for every (PP, VPP) of their maps (PP 4 / 8 / 16,
      PP 4 VPP 2 / 4, PP 8 VPP 2; Kimi also PP 2 VPP 8): 4 layers a virtual stage and the last 1 + MTP + loss at 16
      stages; the workload configs add GB300 PP 2 VPP 8 and H100 PP 8 VPP 4. 41 mbridge_all rows (every DeepSeek-V3
      row but the 25.11c PP 2 / PP 8 VPP 4 "w/o MTP" ones, and the GB300 Kimi K2 rows) and the mbridge H100
      DeepSeek-V3 row move, all down: the planner's own split put the MTP module and the two heads beside 3-4 layers
      on the last rank, which paced the step; the layouts leave that rank 1 layer + MTP + heads and a 4-layer rank
      paces. mbridge_all 9.0 / 30.7 -> 10.0 / 31.0%, mean -7.6 -> -9.4%, Spearman unchanged (0.688 / 0.970); mbridge
      8.2 / 44.0 -> 8.4 / 44.0%. The B200 FP8-MX V2 row +19.4 -> -7.1% and the GB300 / GB200 26.06+ rows (full-
      iteration graphs) +12..+14 -> +0..+8%; the DGX B200 / B300 rows without full-iteration graphs go to -17..-33%
      (PP 16: 25.09-26.04) and the 25.09 GB200 / 25.11 GB300 PP 8 VPP 2 rows to -20 / -18%: the same group (b) above
      (DGX B200 / B300 MoE without full-iteration graphs, a per-layer, per-micro-batch cost the planner lacks), which
      the heavy last rank had been hiding. vtrain_multi's Spearman (0.812)
      is the 39.1B TP <= 4 rows (``benchmarks/inverted_pairs.py``: 209 of its 240 inverted pairs, ``vtrain``'s
      docstring) and the 3.6B TP 8 micro-batch 64 (one micro-batch a step) row, -48%, measured 1.9x its micro-batch-32
      sibling: nothing new found for either.
    * Eleventh pass (hostbound, 2026-12-03): the DGX B200 / B300 MoE rows at micro-batch 1 without full-iteration
      graphs ((b) above) and ``together_baselines``' Qwen3 / DeepSeek-V3 rows, looked for a per-call (host, launch,
      sync) cost; nothing taken, nothing in planner/ changed. Measured seconds per layer and micro-batch (step /
      (micro-batches per rank x layers per stage), bubble not removed; the planner's in brackets): Qwen3-30B DGX B200
      micro-batch 1 MXFP8 (25.11 / 26.02) 9.2 / 8.8 ms (3.1), Together's BF16 run 9.6 ms (3.3), the 25.09 token-drop
      FP8-CS run (padded, no dispatcher sync) 4.7 ms (3.2), and micro-batch 4 on the same 8 GPUs 12.6-12.8 ms for 4
      sequences (9.9); H100 Qwen3-30B micro-batch 1 FP8-CS 9.4-9.7 ms (5.8-6.2). The same ~9-10 ms a layer on a GPU
      2-2.5x slower and in BF16 as in MXFP8 is the signature of a host- or latency-paced layer, not of GPU work, and
      not of MXFP8's per-expert quantisation (BF16 runs none). Qwen3-235B, release 26.02, TP1 PP8 micro-batch 1, GBS
      8192 on 256 GPUs: DGX B200 (no graphs) 11.5 ms (8.0), GB200 NVL72 (TE graphs) 7.9-8.0 ms (7.8); DGX B300 PP8
      VPP4 micro-batch 1 16.2-16.5 ms (7.3) against 7.3 ms a sequence at micro-batch 2 without VPP (26.04, 7.3).
      Together's same-layout A/B: BF16 12.6 ms, MXFP8 16.9 ms, MXFP8 with ``moe_router`` + ``moe_preprocess`` graphs
      15.2 ms -- the graphs remove 1.7 ms a layer and micro-batch, where the planner (host below GPU there) gives 0.
      Mechanisms read: the dropless all-to-all dispatcher's one device-to-host sync per layer forward
      (NVIDIA/Megatron-LM megatron/core/transformer/moe/token_dispatcher.py @0014f137,
      ``MoEAlltoAllTokenDispatcher.preprocess`` sets ``cuda_sync_point`` "before_ep_alltoall", ``dispatch_all_to_all``
      calls ``_maybe_dtoh_and_synchronize``; the backward reuses the splits) costs the copy's round trip plus the
      host's lead after it (``MOE_SYNC_OPS``): tens of us, and nothing extra once the layer is host-bound -- it cannot
      give 4-9 ms; TE ``GroupedLinear``'s per-expert Python / C++ loops (quantizer set-up, ``get_weight_workspace``,
      the per-expert cuBLASLt calls: TE transformer_engine/pytorch/module/grouped_linear.py @0069563f) grow with the
      local experts, which the rows do not (DeepSeek-V3 B200, 32 local experts, is +10..+15% at micro-batch 1; Qwen3,
      16, is -30..-66%). What-ifs (mbridge_all median / p90 9.0 / 30.7%, together baselines 20.9 / 57.3%; medians over
      the rows that move), none kept: (1) every host op x3 (``Efficiency.launch_s``): vtrain_single 5.5 -> 153% median
      (its small models are host-paced at the measured launch cost), so no global host price; (2) the MoE block's host
      ops x3 (``MOE_HOST_OPS_GROUPED`` and the per-expert GEMM set-up): 8.9 / 27.2%, together 20.9 / 39.7%, Qwen3-30B
      B200 micro-batch 1 -65 -> +5%, but the token-drop row -33 -> +39%, DeepSeek-V3 B200 +10 -> +21% (it is GPU-bound
      at 32 local experts), B300 +4 -> +18%, Nemotron 3 Super B300 -30 -> +18%, while Qwen3-235B B300 VPP4 stays -35%;
      (3) the per-expert set-up only x3 (a per-expert MXFP8 quantise cost): 8.9 / 26.4%, together 20.9 / 47.7%,
      Qwen3-30B B200 -65 -> -12%, DeepSeek-V3 B200 +12 -> +18%, Nemotron 3 Super B300 -30 -> +13%, Qwen3-235B B300 -55
      -> -43%, Together's BF16 Qwen3-30B only -66 -> -58%; (4) a fixed MoE block host of marin's measured layer
      (parts/moe_profiles.csv ``marin_h100_*``: 12.4 / 11.8 ms fwd + bwd for 4x apart FLOPs, i.e. ~230 host ops a
      forward at 15 us): 8.5 / 30.6%, mean signed -7.6 -> +0.1%, together 14.9 / 36.5%, but GB200 Qwen3-235B
      micro-batch 1 -0 -> +43..+47% (PP 1 rows +12 -> +138%), GB300 +26 -> +173%, the B200 Qwen3-30B rows -66 ->
      +38..+44% (token drop -33 -> +165%), H100 Qwen3-30B -37 -> +26%: the NVL72 rows (Grace hosts, whose per-op host
      time TE issue #2053 measures above the x86 DGX's, and the same eager dispatch / experts / combine outside the TE
      graphs) run these layers at the planner's price, so a host price that large is not what they pay; (5) the
      router's kernels as Megatron-LM's DeepSeek-V3 GB200 guide counts them (31 with router fusion,
      ``mlm_ds3_gb200_router_kernels_fused``) instead of 4 host ops: one row moves (the token-drop row -33 -> -13%),
      the rest are GPU-bound in the planner, and Together's graph A/B still predicts 0. What the rows share and the
      NVL72 rows do not: the DGX node (x86 host, PP and DP traffic over 8 x 400 / 800 Gb/s IB instead of NVLink). Not
      the recipe alone: Qwen3-235B B200 / B300 run the NCCL all-to-all dispatcher without graphs where GB200 runs
      HybridEP with TE ``attn`` / ``moe_router`` / ``moe_preprocess`` graphs (``MBRIDGE_MOE_RECIPES``,
      ``MBRIDGE_CUDA_GRAPHS``), and Qwen3-30B B200 at micro-batch 1 ran the all-to-all dispatcher with router graphs
      only as well (Megatron-Bridge PR #2499, mapped since moe43: -63 / -62 / -65 -> -59 / -57 / -60%; at micro-batch 4,
      HybridEP with attention graphs, -21..-23%, as GB200's -25..-26%). No published timing separates host, sync
      and fabric on a DGX at micro-batch 1; a profile of one such step (nsys, the CUDA HW row's idle share per layer)
      would. Together's DeepSeek-V3 MXFP8 command re-run printed 1.36x apart (its docstring), so its MXFP8 rows' own
      noise is of the gap's size.
    * Twelfth pass (thinmoe, 2026-12-03): the thin MoE rows (Qwen3-30B-A3B, gpt-oss) against Megatron-Core's MoE code
      path read again (router.py, token_dispatcher.py, fused_a2a.py, experts.py, DeepEP hybrid_ep_buffer.py, TE
      grouped_linear.py). Taken: the host past the dropless dispatcher's sync (planner.model.moe ``post_sync_exposed_s``
      / ``post_sync_host_ops``, Megatron-Core stacks only): the sync drains the queue each MoE layer forward, so the
      block's host ops past it that outlast the GPU's work there are GPU idle; HybridEP syncs before its dispatch
      kernel (``dispatch_with_permute`` without a handle: ``num_dispatched_tokens_tensor.cpu()`` after the metadata
      kernel), so the dispatch's GPU time counts against them. mbridge_all 10.0 / 31.0 -> 10.0 / 30.6%, 10 rows 1-3
      points closer (DGX B200 Qwen3-30B micro-batch 1 -66 / -65 -> -63 / -62%, DGX B300 Nemotron 3 Super), together
      baselines 21.6 / 53.5% and every other source unchanged. What the rows share, by local experts (E / EP), median
      signed without full-iteration graphs: <= 4 (Qwen3-235B GB200 / GB300 / H100 EP 32) -6..+12%, DeepSeek-V3 -15..-18%;
      8: DeepSeek-V3 -7..-17%, Super -15..+2%; 16: Qwen3-30B -19..-66%, Qwen3-235B DGX B200 / B300 micro-batch 1 -42 /
      -55% (micro-batch 2 on B300 -0.1%), gpt-oss -19..-39%, Nano -3..-9%; 32: DeepSeek-V3 B200 / B300 -22..-25%; 64:
      Super B300 -30%. Not taken, with numbers (medians / p90 mbridge_all, together baselines): (1) per expert
      parameter tensor a backward host op each for TE's dummy wgrad (grouped_linear.py ``handle_custom_ddp_from_mcore``:
      ``torch.empty`` of the main_grad's shape per weight) and one for Megatron-Core DDP's grad-accumulation hook
      (distributed_data_parallel.py ``_make_backward_post_hook``, every micro-batch), plus per-expert quantise and
      weight-workspace calls under fp8 (4 host ops per local expert per layer and micro-batch in bf16, 10 in fp8, at
      ``Efficiency.launch_s``): 9.9 / 30.3%, together 21.6 / 53.5% (with the post-sync idle: 9.8 / 30.3%); twice that
      9.7 / 29.2%, together 21.6 / 43.0%. But TE issue #2897 times the fused grouped MLP's wgrad allocations at 350 us
      for 128 tensors on GB200 (2.7 us each, not 15), and its whole CPU time at 1.2 ms forward / 2.1 ms backward for
      64 experts (52 us per expert per layer and micro-batch), below the 148 us per expert the unfused MXFP8 path is
      already charged (``TE_GROUPED_GEMM_PER_EXPERT_S``): no source for a per-expert host price 3x the planner's.
      (2) That fused MLP's own host (priced at 0 where ``Stack.moe_fused_mlp``): at #2897's 18.75 us per expert
      forward no row moves (GPU-bound, or full-iteration graphs). (3) marin's single-layer timings
      (parts/moe_profiles.csv ``marin_h100_ep8_*``, Qwen3-30B shape at 32 / 64 / 128 experts, 4 / 8 / 16 local): 22.8
      / 15.5 / 12.4 ms, falling with more local experts: no per-local-expert cost in them (noisy DeepEP runs). (4) The
      router: recent Megatron-Core runs it through ``te_general_gemm`` with bf16 operands and an fp32 output (tensor
      cores); older ``torch.mm`` in fp32 would be <= 4% of a thin layer. (5) TEGroupedMLP's ``Fp8Padding`` /
      ``Fp8Unpadding`` copies: none behind HybridEP, which pads each expert's rows in its dispatch under FP8
      (``_HybridEPManager.dispatch``'s ``pad_multiple``), so TE's ``Fp8Padding`` gets aligned splits and returns its
      input; not because forced balancing equalises the counts (its random logits give binomial counts, mbq54). The
      all-to-all FP8 rows copy unless the recipe pads the routing map (``moe_router_padding_for_fp8``, which
      Megatron-Bridge's GPT-OSS FP8 recipe sets; not read for the Qwen3-235B perf recipe): not priced. Left: the DGX micro-batch-1 rows need the layer's host at ~3x the planner's
      (~9 ms per layer and micro-batch measured, 2.9 ms priced, 0.07 ms of it post-sync idle), and no count or time
      of the eager MoE block's host work past the sync was found that gives it.
    * Thirteenth pass (moe29, 2026-12-04): low precision on the experts. Taken: Transformer Engine's
      ``GroupedLinear`` quantises each expert's split apart (transformer_engine/pytorch/csrc/extensions/cast.cpp
      ``split_quantize`` -> ``multi_tensor_quantize_impl``: a fused multi-tensor kernel for delayed scaling only,
      "Quantize kernels individually" otherwise), so an unfused TEGroupedMLP layer launches one MXFP8 quantize kernel
      per local expert for each GEMM input (forward) and output gradient (backward), three under per-tensor current
      scaling (amax, scale, cast: csrc/quantizer.cpp ``Float8CurrentScalingQuantizer::quantize_impl``); NVFP4 with
      the Hadamard transform and the fused grouped MLP quantise with grouped kernels. Priced at the GPU's
      ``Efficiency.kernel_gap_s`` each (planner.model.moe ``split_quantize_kernels``, stacks
      ``LowPrecisionRecipe.split_kernels``): mbridge_all 9.96 / 30.6 -> 9.86 / 30.6%, Spearman 0.688 -> 0.748
      (distinct configurations 0.970 unchanged), mean signed -9.4 -> -9.1%; mbridge 8.4 / 44.0 -> 8.4 / 43.4%. Of
      the 127 mbridge_all rows that move, 102 come closer (64 by more than 0.5 point; the 25.09 token-drop FP8-CS rows
      most: B200 Qwen3-30B -32.7 -> -24.6%, Qwen3-235B -21.5 -> -17.7%; H100 Qwen3-30B / Nemotron 3 Nano FP8-CS
      +2..+4 points; the MXFP8 Qwen3 / DeepSeek-V3 / Nemotron rows +0.5..+1) and 25 already-slow ones go further by
      at most 1 point (GB200 Qwen3-235B token-drop FP8-CS +12.0 -> +13.0%, DGX B300 Qwen3-235B micro-batch 2 -0.1 /
      +0.7 -> +0.7 / +1.5%, B300 Qwen3-30B 26.06 +8.0 -> +8.8%, the NVL72 Kimi K2 / Nemotron 3 Super rows +0.2..+0.3). Not taken, with
      numbers (``together_baselines``' docstring): the experts run at the 16-bit rate under MXFP8 / NVFP4 (a bound on
      any per-expert low-precision cost) 10.0 / 30.6 -> 10.7 / 32.6%, the NVL72 Qwen3-235B rows to +9..+14%; the
      per-expert launch at the 4.4 us ROCm TE PR #598 measures on MI355X instead of the 2 us gap: 9.6 / 30.3%
      (mbridge 42.7%, together baselines 52.0%), no NVIDIA measurement of that loop found.
    * Fourteenth pass (moefp8, 2026-12-04): the DeepSeek-V3 / Qwen3-235B MXFP8 rows on Blackwell that the planner runs
      too fast (DGX B200 / B300 -16..-32%, NVL72 without full-iteration graphs -11..-25%, where the BF16 rows are
      -4.7..+3.1%). Nothing in planner/ changed. Read against the recipe first: (1) Together's "MXFP8 slower than
      BF16" A/B is not a recipe signal: its DeepSeek-V3 MXFP8 command re-run printed 30.94 s for the row's 42.01
      (``together_baselines``), i.e. 1.10x faster than its BF16 34.06 s where the planner has 1.20x, and its
      Qwen3-235B MXFP8 runs are 1.47x NVIDIA's own print of the same configuration (moe29 above). (2) The dense
      MXFP8 price holds against Transformer Engine's own B300 table (NVIDIA/TransformerEngine
      docs/features/low_precision_training/gemm_profiling/gemm_profiling.rst @33294178, read 2026-12-04; autocast,
      i.e. quantisation included, 15,872 tokens, hidden 4096 / FFN 16384: fprop 4.056 ms BF16 vs 2.692 ms MXFP8,
      per layer 1.44x; pre-quantised 1.75x): the planner gives the same four fprop GEMMs 1.45x with its casts and
      1.84x without on B300 (1.49x / 1.84x on B200). (3) The grouped price holds against torchao's B200 DeepSeek-V3
      grouped GEMMs (parts/grouped_gemm.csv ``aoreadme_*``: MXFP8 with its quantisation over BF16, forward +
      backward, 1.19 / 1.32 / 1.60 / 1.44x at 1 / 2 / 4 / 8 groups): the planner 1.50x at those shapes and
      1.36-1.61x at the rows' own (32 experts x 1,024 rows, 16 x 2,048, 4 x 8,192). So neither the GEMM rate nor
      the casts' bytes under-price MXFP8; the per-expert host and launch costs were priced and bounded by moe29 and
      the hostbound pass. What the rows share instead, median signed: DeepSeek-V3 MXFP8 on NVL72 without
      full-iteration graphs runs Megatron-Core's combined-1F1B all-to-all overlap (``moe_a2a_overlap``) with
      HybridEP in every dropless such row (GB200 -16.4%, GB300 -18.0%; the one without it, the 25.09 GB200 token-drop
      PP 8 VPP 2 row, -20.8%, is the PP 8 VPP 2 layout case of the eleventh pass, its FP8-CS sibling at PP 4 VPP 4
      -8.6%), where Kimi K2 on GB300 (same MLA / 7168-wide / 61-layer
      family, MXFP8, HybridEP, no overlap, no graphs) is -2.8..+3.0% and the DeepSeek-V3 BF16 rows without the overlap
      +0.2 / +3.1%; the same overlap under full-iteration graphs (26.06+) is +0.3..+8.0%. The planner hides 15-20% of
      those steps under the overlap (``a2a_overlap_hidden``); with it hiding nothing the eager NVL72 rows go to
      GB300 -6.7..+2.8%, GB200 -4.3..+9.8%, but the full-graph rows to +24.6..+33.9% and H100 Qwen3-235B FP8-CS (the
      all-to-all dispatcher, overlap, eager) -1.9..-6.8 -> +20.5..+26.8%. What-ifs on the whole table, none kept: the
      overlap hides nothing with HybridEP outside full-iteration graphs: mbridge_all 9.7 / 30.3 -> 8.6 / 30.3%, mean
      signed -8.7 -> -8.0%, Spearman unchanged, together baselines unchanged (20.1 / 52.8%: none of its rows runs
      HybridEP with the overlap), every other source unchanged; half of it hidden outside full-iteration graphs, any
      dispatcher: mbridge_all 9.3 / 30.0%, Spearman 0.748 -> 0.725 (distinct configurations 0.970 -> 0.939). Not
      taken: no source says why the overlap should fail eagerly with HybridEP and hold with the all-to-all dispatcher.
      Read for it, Megatron-LM megatron/core/models/common/model_chunk_schedule_plan.py
      ``TransformerLayerSchedulePlan.run`` (@01cf4fb5): the host issues combine_bwd, attn_fwd, mlp_bwd,
      dispatch_fwd, mlp_bwd_dw + dispatch_bwd, mlp_fwd, combine_fwd, attn_bwd, so HybridEP's device-to-host sync in
      dispatch_fwd (fused_a2a.py, see ``post_sync_host_ops``) blocks the host with mlp_bwd already queued, and
      TEGroupedMLP's ``m_splits`` sync before mlp_fwd finds dispatch_bwd already queued: by launch order both syncs
      leave their pairs overlapped, so the order alone does not explain the gap. A profile of one eager GB200
      DeepSeek-V3 layer pair (the comm and compute streams' busy time per phase) would settle it. The DGX rows are
      not the recipe either: the 25.09 B200 DeepSeek-V3 token-drop pair, same layout, measures FP8-CS 14.47 s /
      MXFP8 15.18 s (-25.8 / -29.4%), the DGX group (b) above; Qwen3-235B MXFP8 is within 3% on NVL72 with partial
      graphs, and its DGX rows are the micro-batch-1 ones of group (b) (-29..-55%; DGX B300 at micro-batch 2
      -17.4..+1.5%).
    * Fifteenth pass (mxfp8dense, 2026-12-04): MXFP8 against FP8 current scaling at the same layout. The same-layout
      pairs (model, GPU, GPUs, layout, global batch and release equal; dgxc has no MXFP8 row) measure MXFP8 / FP8-CS
      step time: Llama 3 8B B200 25.09 1.021, GB200 25.09 1.048, GB200 25.11 1.058, GB300 25.11 1.040, Llama 3.1 405B
      B200 25.09 1.068, GB300 26.02.01 1.079 (median 1.053); the planner had 1.011 / 1.012 / 1.012 / 1.013 / 1.021 /
      1.006 (median 1.012, median gap 3.9%). The fourteenth pass's check of the price against TE's B300 table
      compared the fprop GEMMs only: the planner gave MXFP8 1.840x over BF16 pre-quantised where TE measures 1.752x
      (the block-scaled kernel; TE's FP8 block kernels 1.879x), and 1.385x per layer with its casts where TE measures
      1.437x -- its 6 B two-pass casts cost about twice TE's measured autocast-minus-kernel time. Now (planner.model.
      stack_kernels.RECIPES ``mxfp8``): the MXFP8 GEMM fraction 0.92 x 1.752 / 1.840 = 0.876 and the one-pass cast TE runs
      (quantize_mxfp8.cuh: one read, both orientations) 4.0625 B; the fused grouped MLP's cut of the cast's 16-bit
      read follows, 4 -> 2 B (moe.FUSED_MLP_CAST_READS). TE's table comes back: per layer 1.446x (1.437), fprop
      1.500x (1.507), pre-quantised 1.752x (tests/test_mxfp8_te_table.py). Pairs: 1.018 / 1.017 / 1.017 / 1.015 /
      1.045 / 1.035 (median 1.017, gap 2.7%), every dense pair closer; MoE pairs DeepSeek-V3 B200 0.998 -> 0.999
      (1.049), Qwen3-235B B200 0.979 -> 0.976 (0.960), GB200 1.003 -> 0.997 (1.008), Qwen3-30B GB200 0.993 ->
      0.976 (0.960). Table: mbridge_all 9.67 / 30.32 -> 9.75 / 30.06%, mean signed -8.7 -> -8.9%, Spearman 0.748 ->
      0.755; together baselines p90 52.82 -> 52.99%; no other source moves. Of 186 rows that move 83 come closer, 103
      go further:
      the dense MXFP8 rows run slower (Llama 3.1 405B GB200 -3.6 -> -1.2%, B200 -11.4 -> -9.3%, Llama 3 70B GB200
      -3.1 -> -1.5%), the MoE / hybrid MXFP8 rows 0.5-2 points faster (the casts are a larger share of the expert
      GEMMs), most of them already too fast (fourteenth pass: not the recipe), and the GB300 dense MXFP8 rows, too
      slow like their FP8-CS pairs (+2..+15%), go +2.8 -> +5.7% (405B) / +5.3 -> +7.2% (70B).
      What differs outside the GEMM was read and is not the gap: the fp8 parameter all-gather is already 2 B under
      MXFP8 against 1 B (``LowPrecisionRecipe.param_gather_bytes``, a DP-overlapped all-gather); the cast of the
      gathered bf16 weights to MXFP8 once a step is 8e9 x ~4 B at HBM rate, ~5 ms of Llama 3 8B's 4.4 s (0.1%); the
      backward's column-wise copies come from the same one-pass kernel (no re-read of the bf16 source); Llama 3 8B /
      405B run no recompute in these rows. Not taken: the GEMM rate alone (casts left at 6 B) closes the dense pairs
      further (median 1.039, gap 1.3%; mbridge_all 9.85 / 29.94%, together baselines p90 52.07%) but contradicts
      TE's autocast table (1.335x per layer against 1.437x). The rest of the dense gap (~3.5%) points at the
      per-tensor FP8 GEMM on Blackwell being faster than its 0.92 (OpenXLA's sm_100 table: per-tensor E4M3 1.96x
      its BF16 at 4096^3 against MXFP8's 1.75x in TE's); not tried: it would move every Blackwell FP8-CS row, and
      no same-harness per-tensor / MXFP8 pair was found.
    * Sixteenth pass (moe33a, 2026-12-04): the compute / kernel side of the thin-expert MoE layer (the expert
      exchange was another helper's); nothing in planner/ changed. Step / (micro-batches x 48 layers), planner /
      measured, Qwen3-30B MXFP8 on 8 GPUs: DGX B200 micro-batch 1 (25.11) 3.35 / 9.2 ms (the layer's own terms, fwd +
      bwd: GEMMs 1.13, attention 0.50, memory-bound 0.87, EP 0.68 ms; host 0.96 ms a forward, x2 backward); GB200
      micro-batch 4 with TE ``moe_router`` / ``moe_preprocess`` graphs (26.02) 9.7 / 13.1 ms; GB200 fused MLP +
      full-iteration graphs (26.06.01) 9.3 / 8.3 ms. What the tables say about where it goes: at micro-batch 4
      DGX B200 (x86 host, TE graphs incl. ``attn``) and GB200 (Grace, no ``attn`` graph) print the same 26.7k / 26.4k
      tokens/s/GPU (12.8 / 12.9 ms, 26.02.01), so that gap (planner -22 / -26%) is not host speed; B200 micro-batch 1
      (26.02) is 8.8 ms for a quarter of the tokens, host- or sync-paced. Checked and ruled out, with numbers:
      (1) routing imbalance under ``moe_router_force_load_balancing`` (random logits, a uniform k of E per token):
      sampled busiest EP rank's rows over the mean 1.009 at micro-batch 1, 1.004 at 4 (busiest expert 1.05 / 1.03;
      a rank's grouped GEMMs sum over its 16 experts): < 1% of the expert GEMMs; (2) a second device-to-host sync:
      HybridEP's backward reuses the forward handle and ``num_permuted_tokens`` (Megatron-LM
      megatron/core/transformer/moe/fused_a2a.py ``HybridEPDispatch.backward`` / ``HybridEPCombine.backward``), so one
      sync per layer forward, as priced; (3) a GPU launch gap (``Efficiency.kernel_gap_s``) per expert GEMM of TE's
      multi-stream loop (2 forward, 4 backward per local expert, unfused only): 2 us mbridge_all 9.8 / 30.1 -> 9.6 /
      29.8%, together baselines p90 53.0 -> 51.9%; 5 us 9.6 / 28.9%, 50.3%; not taken -- TE runs those GEMMs on 4
      streams (transformer_engine/common/util/multi_stream.cpp ``num_compute_streams = 4``; cublaslt_gemm.cu
      ``nvte_multi_stream_cublas_gemm``), where one GEMM's gap overlaps another's kernel, and no timing of it was found; (4) the unfused
      expert GEMMs (casts included) scaled, standing for NVIDIA's "1.3x-2x kernel-level speedup over unfused paths"
      of the fused grouped MLP (blog "Boosting MoE Training Throughput with Advanced Fusion Kernels", 2026-06-15;
      the planner's unfused / fused MoE block, expert GEMMs with their casts and memory-bound passes, is ~1.16x on
      GB200 Qwen3-30B): x1.11 (1.3x) under the low-precision recipes
      only 9.5 / 30.1%, together 51.5%; x1.5 9.7 / 28.3%, together 23.0 / 46.3%; x2.0 9.3 / 30.1%, Spearman 0.755 ->
      0.713; x1.5 at every precision 9.2 / 25.0%, mean signed -8.9 -> -3.2%, 144 of 197 moved rows closer, but
      Qwen3-235B NVL72 with TE graphs 0 -> +13..+15%, Kimi K2 GB300 +1.5 -> +17.5%, Grok-1 (Together) +5 -> +37%,
      Mixtral MI325X -11 -> +21%: a factor sized to the thin rows, with no per-shape source (the blog prints no
      shapes; on H100, parts/grouped_gemm.csv ``te2045_*`` has TE's loop at Qwen3-30B's shapes faster than priced).
      Left: the B300 26.06 Qwen3-30B row (40.8k tokens/s/GPU, 1.33x its 26.04.01 print, +6%) is mapped without the
      fused MLP or full-iteration graphs (``MBRIDGE_FUSED_MLP`` lists GB300 / GB200 for Qwen3); Megatron-Bridge's
      qwen3_llm_pretrain.py applies ``set_full_iter_cg_configs`` to B300 / B200 too when the workload config asks
      for full-iteration graphs -- that release's B300 workload config was not read.
    * Seventeenth pass (acc41b, 2026-12-05): NVFP4 at Transformer Engine's own B300 GEMM profiling table
      (planner.model.stack_kernels ``TE_B300_LAYER_MS``, the table MXFP8's 0.876 comes from): NVFP4's kernels 1.951x MXFP8's
      pre-quantised (the planner had 2.28x: gemm_rel 1.0 at the catalog's 2x FP4 peak, from Azure's GB200 cuBLASLt
      cubes) and its autocast casts 1.87x MXFP8's (each run over its own BF16 layer): gemm_rel 0.855, 7.60 B
      (tests/test_nvfp4_te_table.py). Same-layout NVFP4 / MXFP8 step ratios, measured against predicted before ->
      after: GB200 Llama 3 70B 0.78-0.84 vs 0.677 -> 0.731; GB300 0.64-0.69 vs 0.640 -> 0.695; GB200 405B 0.67-0.71 vs
      0.678 -> 0.734; Nemotron 3 Super 0.96-1.00 vs 0.91-0.93 -> 0.93-0.95. 39 rows move: GB200 median signed -13.5 ->
      -7.2% (13 of 17 closer), B200 / B300 Super 1-2 points closer, GB300 +2.9 -> +10.1% (now 5-9 points above its
      FP8-CS / MXFP8 siblings, which sit at +6..+10%); mbridge_all 9.29 / 30.02 -> 9.53 / 29.94%, mean signed -8.5 ->
      -7.8%, Spearman unchanged (0.756 / 0.981); together baselines 20.5 -> 17.6% median (its 7 NVFP4 rows 4-8 points
      closer). Tried, not taken: Blackwell Ultra's datasheet FP4 (1.5x B200's dense FP4, 3x its own FP8) with TE's
      B300 kernel ratio read against it (gemm_rel 0.570 everywhere): GB200 NVFP4 -13.5 -> +14.5%, together NVFP4
      -20 -> +8% (mbridge_all 9.5 / 30.1%); Azure's cuBLASLt FP4 cubes (GB300 8,640 vs GB200 7,628 TFLOP/s at
      16384^3, 1.13x) do not show that 1.5x either.
      The tail and the rank, read for this pass (nothing else changed): the worst 10% (31 rows, |err| >= 30%) are all
      MoE / hybrid and all too fast: gpt-oss-120b 18 (DGX B200 / B300 BF16 at EP 64 or 8, NVL72 BF16, and the 26.06.01
      MXFP8 prints, which run 1.6x slower than 26.06's and 26.08's of the same layout), Qwen3-30B 7 (DGX B200
      micro-batch 1, the host-paced group; H100 FP8-CS, incl. the 26.02 print at 1.77x 26.02.01's), Qwen3-235B 3 (DGX
      B200 / B300 PP 8 micro-batch 1), Nemotron 3 Super DGX B300 3. No mechanism common to them beyond the earlier
      passes' (thin experts, DGX micro-batch 1, same-layout release drift). Spearman within model (0.756 against 0.981
      over distinct configurations) is capped by ties, not by a wrong order: 20 of the 29 ranked models have 2-3
      distinct predictions over 3-11 rows (releases of one layout), and a model with n rows and 2 predictions ranks
      below 1 whatever the drift does (3 rows: at most 0.866). Lifting it needs per-release inputs; one search of
      Megatron-Bridge's release pages (v0.3.1, v0.6.0, v0.7.0) found recipe / config updates, no kernel or overlap
      dated to the drifting rows (e.g. Nemotron 3 Super GB300, 26.04 -> 26.08 4-6% faster on the same recipe), so
      none was added.
    * Eighteenth pass (moe41, 2026-12-05): the MoE block part by part against public per-part measurements (expert
      GEMMs at thin shapes, permutation, per-expert quantize, router; docs/accuracy_log.md, moe41). Every part with a
      public measurement was already priced at or below it but the router's GPU kernels: Megatron-LM's DeepSeek-V3
      GB200 guide counts 31 a router forward with ``--moe-router-fusion`` and 17 for router + preprocess with the
      flex dispatcher, each lasting the GPU's per-kernel floor (planner.model.moe ``MOE_ROUTER_KERNELS``). Taken:
      9.5 / 29.9 -> 9.5 / 29.3%, mean signed -7.8 -> -7.3%, Spearman 0.756 -> 0.817 (the three DGX B200 Nemotron 3
      Super rows reorder); 168 of 233 moved rows closer, thin rows 0.3-2 points (Qwen3-30B B200 -24.0 -> -22.1%
      median signed, H100 -34.0 -> -32.9%, gpt-oss GB200 -32.6 -> -31.9%), already-slow thick rows at most 1.9
      points further (Qwen3-235B GB200 +7.1 -> +9.1%). The thin gap (~3 ms a layer and micro-batch) is not the
      parts as measured alone."""
    out = pr2_rows(cat, path=MBRIDGE_ALL_CSV, ids=ids)
    return out[out["scored"]].drop(columns=["scored"])


#: The stack each ``open_reports.csv`` row maps to (its ``stack`` column) and why: GPT-NeoX (Pythia, NeoX-20B) is
#: legacy Megatron layers on DeepSpeed's PipelineEngine (ZeRO-1, gradients reduced after the last backward): the
#: megatron-deepspeed entry as it is. TinyLlama's lit-gpt / Lightning Fabric FSDP and IBM's fms-fsdp wrap FSDP per
#: block and run SDPA / flash-attn 2: torchtitan's per-block FSDP, no TP (tp_overlap none); TinyLlama hand-fuses
#: its elementwise ops (RMSNorm, SwiGLU, rotary, cross-entropy), which torchtitan's compile fusions stand for,
#: fms-fsdp runs eager (``use_torch_compile=False``) with torch's non-reentrant checkpoint_wrapper (torch >= 2.1:
#: early stop on, as the titan24 rows). BloombergGPT's SageMaker MiCS is ZeRO-3 with bucketed prefetch: the
#: deepspeed entry. The options are the row's ``stack_options`` column ("k=v;k=v"), read here.
OPEN_REPORTS_OPTION_VALUES = {"True": True, "False": False}


def open_reports_options(text) -> dict:
    """A row's ``stack_options`` ("compile=False;tp_overlap=none") as stack options."""
    pairs = [kv.split("=", 1) for kv in str(text).split(";") if "=" in kv] if text == text else []
    return {k.strip(): OPEN_REPORTS_OPTION_VALUES.get(v.strip(), _number_or_text(v.strip())) for k, v in pairs}


def _number_or_text(v: str):
    """A stack option's value as written: a number ("0.5") as a float, numbers joined by "/" ("32/64/128") as a
    tuple of ints, names joined by "/" ("attn/moe_router": a CUDA-graph scope) as a tuple of names, anything else
    as text."""
    if "/" in v and all(p.isdigit() for p in v.split("/")):
        return tuple(int(p) for p in v.split("/"))
    if "/" in v and all(p.isidentifier() for p in v.split("/")):
        return tuple(v.split("/"))
    try:
        return float(v)
    except ValueError:
        return v


#: how each metric becomes the iteration time, from the row's own numbers (the CSV's ``measured_step_s`` is
#: the same arithmetic, stored for reading; tests/test_open_reports_data.py recomputes it)
OPEN_REPORTS_STEP = {
    "tokens_per_s_per_gpu": lambda r: r.global_batch_seqs * r.seq_len / (r.value * r.num_gpus),
    # Pythia Table 5: GPU-hours = iteration time x iterations x GPUs / 3600 (the paper's caption)
    "gpu_hours_total": lambda r: r.value * 3600 / (r.num_gpus * r.train_iters),
    "iteration_time_s": lambda r: float(r.value),
    # MFU at the FLOPs per token a printed (tokens/s, MFU) pair of the same model and GPU implies (fms_compile_runs.csv:
    # the team's NanoGPT / PaLM count, whose parameter total is not stated): tokens/s = ref tokens/s x MFU / ref MFU
    "mfu_at_reference_pair": lambda r: r.global_batch_seqs * r.seq_len / (r.ref_tokens_per_s * r.value / r.ref_mfu
                                                                          * r.num_gpus),
    # DeepSeek-V3 §5 / Table 1: GPU-hours per trillion tokens, at the row's tokens per step
    "gpu_hours_per_trillion_tokens": lambda r: r.value * 3600 * r.global_batch_seqs * r.seq_len / 1e12 / r.num_gpus,
    # GPT-NeoX's get_flops of 2021-22 (megatron/logging.py): batch * seq * (6 * params + 60 * seq * h * l)
    "tflops_per_gpu": lambda r: (r.global_batch_seqs * r.seq_len * (6 * r.params_total + 60 * r.seq_len * r.hidden * r.layers)
                                 / (r.value * 1e12 * r.num_gpus)),
}


def _open_reports_model(r) -> ModelSpec:
    """The row's architecture: its planner preset where the row names one (``preset``: MLA, MoE routing, MTP, which
    the columns cannot carry; the columns must agree with it, as ``_pr2_preset`` checks), else its columns."""
    from planner.spec.presets import PRESETS

    if isinstance(r.preset, str) and r.preset:
        m = ModelSpec(**dict(PRESETS[r.preset], name=r.id))
        bad = [f for f in ("layers", "hidden", "heads", "vocab") if int(getattr(r, f)) != getattr(m, f)]
        if bad:
            raise ValueError(f"{r.id}: columns {bad} disagree with preset {r.preset}")
        return m
    return ModelSpec(name=r.id, layers=int(r.layers), hidden=int(r.hidden), heads=int(r.heads), kv_heads=int(r.kv_heads),
                     ffn_hidden=int(r.ffn_hidden), vocab=int(r.vocab), mlp=r.mlp, norm=r.norm, position=r.position,
                     max_positions=int(r.seq_len) if r.position == "learned" else None,
                     tied_embeddings=bool(r.tied_embeddings),
                     # OLMo 2's q/k RMSNorm over the whole projections (olmo_core_runs.csv's column; others have none)
                     qk_norm=_text(getattr(r, "qk_norm", None), "none"),
                     # GPT-NeoX and BLOOM-style models carry biases on every linear; Llama-style none
                     qkv_bias=r.norm == "layernorm", linear_bias=r.norm == "layernorm")


def _text(v, default: str) -> str:
    """A CSV cell as text, ``default`` where the column is absent or the cell empty (NaN)."""
    return v if isinstance(v, str) and v else default


def open_reports_case(cat, r):
    """(model, training, one-row ``Candidates``, hardware, stack) for one ``open_reports.csv`` row."""
    model = _open_reports_model(r)
    modules = [m for m in str(r.recompute_modules).split(";") if m] if r.recompute_modules == r.recompute_modules else None
    # the row's gradient-reduction dtype (``grad_reduce``): "same" = the training dtype (DeepSpeed ZeRO communicates
    # in the model's fp16 / bf16, Lightning's bf16-mixed and fms-fsdp's FSDP set reduce_dtype bf16), "fp32" where
    # the source says so (StarCoder, DeepSeek-V3)
    tr = TrainingSpec(seq_len=int(r.seq_len), global_batch=int(r.global_batch_seqs), precision=r.precision,
                      weights="megatron", grad_dtype=r.grad_reduce, flash_attention=bool(r.flash_attention), dropout=False,
                      recompute=r.recompute, recompute_modules=modules or None)
    ep = int(r.ep)
    shard = getattr(r, "dp_shard", float("nan"))  # HSDP (fms-fsdp 7B/13B): ZeRO-3 over one node's 8 GPUs
    c = Candidates(tp=np.array([int(r.tp)]), pp=int(r.pp), dp=int(r.dp), cp=1, ep=ep, vpp=1, zero=int(r.zero),
                   mb=int(r.micro_batch), rc=RECOMPUTE.code[r.recompute],
                   # TP's sequence parallelism where the row's column says so (kempnerforge_runs.csv: its TP plan's
                   # SequenceParallel norms); the other tables carry no column and ran none
                   sp=bool(getattr(r, "sequence_parallel", False)), schedule=SCHEDULE.code["1f1b"],
                   gpus_per_node=int(r.gpus_per_node), nodes=1,
                   etp=1 if model.moe is not None else int(r.tp),  # experts unsplit by TP (TP is 1 in every MoE row)
                   dp_shard=None if shard != shard else int(shard))
    # the node's NVLink wiring where the table has the column (kempnerforge_runs.csv: Kempner's switchless 4-GPU
    # H200 board, kfnode52); else the chip's platform's (a switch for every NVIDIA part)
    wiring = getattr(r, "nvlink_topology", None)
    hw = hw_option(cat, r.gpu, int(r.gpus_per_node), float(r.inter_node_gbps),
                   nvlink_topology=wiring if isinstance(wiring, str) and wiring else None)
    stack = row_stack(r.stack, open_reports_options(r.stack_options))
    return model, tr, c, hw, stack


def open_reports(cat) -> pd.DataFrame:
    """Open-model production runs whose layout and throughput are published (``OPEN_REPORTS_CSV``, one row per
    run, every source, assumption and derivation in the row): GPT-NeoX-20B (Black et al. 2022: 117 TFLOP/s per
    GPU on 96 A100-40GB, TP 2 PP 4 ZeRO-1, layout from gpt-neox configs/20B.yml), the eight Pythia runs
    (Biderman et al. 2023 Table 5 GPU-hours from logged iteration time; layouts from EleutherAI/pythia models/*.yml,
    32-256 A100-40GB), TinyLlama-1.1B (its README's 24k tokens/s per A100-40G, FSDP, 16 GPUs), BloombergGPT
    (Wu et al. 2023 Table 4: 32.5 s per step on 512 A100-40GB, ZeRO-3 / MiCS), IBM's fms-fsdp Llama-2-shape
    runs (PyTorch FSDP on 128 A100-80GB / 96 H100-80GB: the fms-fsdp README table and the PyTorch blog "Maximizing
    training throughput using PyTorch FSDP" Table 1; its 7B/13B rows ran HSDP, FSDP1 HYBRID_SHARD: ``dp_shard`` 8,
    scored since the planner models it, 2026-12-01) and StarCoderBase (Li et al. 2023: 320,256 GPU-hours on 512 A100-80GB, TP 4 PP 4 DP 32,
    micro-batch 1, 250k iterations: a whole-run figure) and DeepSeek-V3 (its report: 180K H800 GPU-hours per trillion
    tokens on 2048 H800, PP 16, EP 64, ZeRO-1; its DualPipe schedule is not modelled: 1F1B with Megatron-Core's
    all-to-all overlap stands for it). Not in another source here: the
    ``production`` rows are MT-NLG, BLOOM, OPT and LLaMA-1, llm-foundry's are MosaicML's own benchmark tables.

    Held-out-style data: nothing in planner/ was changed for these rows. Not representable, so not modelled
    (each named in the row's notes): GPT-NeoX's parallel attention + MLP (one TP all-reduce per layer forward,
    the planner charges two: NeoX-20B TP 2, Pythia 6.9B/12B TP 2/4), MiCS's 128-GPU sharding group (modelled as
    ZeRO-3 over all 512), the hand-fused kernels of TinyLlama (as torchtitan compiled). Whole-run figures (Pythia
    GPU-hours) include what the logged iteration time includes; the others are steady-state throughput.

    Which GPT-NeoX / DeeperSpeed the nine GPT-NeoX rows ran (2026-12-02): the gpt-neox README and the DeeperSpeed
    README, section "Versions": "Prior to 3/9/2023, DeeperSpeed was based on an old version of DeepSpeed (0.3.15)
    ... Version 1.0 of GPT-NeoX and DeeperSpeed maintain snapshots of the old stable versions that GPT-NeoX-20B and
    the Pythia Suite were trained on"; and the pythia README, "Reproducing Training" step 3: "run `git checkout v1.0`
    to switch to the 1.0 branch which Pythia was trained with" (step 8 installs its requirements-flashattention.txt;
    search-index file 35989414992, the version with the Oct 6, 2023 changelog). That DeeperSpeed is the HEAD side of its upstream merge EleutherAI/DeeperSpeed
    @1622ff0f: deepspeed/runtime/pipe/engine.py ``_exec_reduce_grads`` -> ``if self.is_data_parallel and
    self.pipeline_enable_backward_allreduce: self.buffered_allreduce_fallback(...)`` (an all-reduce of every
    gradient at any precision, as NeoX-20B's pin @eb7f5cff of early 2022), and engine.py ``_configure_zero_optimizer``
    builds ZeRO-1 as ``FP16_DeepSpeedZeroOptimizer_Stage1(..., precision=self.precision())`` (stage1.py, which steps
    its partition of the all-reduced gradients). GPT-NeoX with ``pipe-parallel-size`` >= 1 (every Pythia config: 1)
    builds a PipelineModule and so runs the PipelineEngine (the released neox-ckpt checkpoints are
    ``layer_XX-model_00-model_states.pt`` files, PipelineModule's layout). So all nine rows take
    ``grad_all_reduce=always`` (stacks.Stack.grad_all_reduce): Pythia 160M-12B 1-8 points slower, 12B -19.4 ->
    -11.7%; the source 12.3 / 20.4 -> 10.1 / 20.4%.

    The Pythia runs are the retrained suite (pythia README changelog, April 3, 2023, the paper's models: uniform 2M
    token batches, checkpoints at steps 0, 1, 2, 4, ..., 512): "Flash Attention was used in the new retrained
    suite" and "the new EleutherAI/pythia-1b is trained with bf16". Mapped: flash attention (FlashAttention-1, GPT-NeoX
    v1.0's ``flash_attn_unpadded_qkvpacked_func``) on every size whose head dim FA1 runs (<= 128): 70M too, from its
    config version @ddad623a (``attention-config`` flash, ``extra-save-iters`` [0, 1, 2, ..., 512], the retrained
    suite's schedule), not @ae1ce75d (70M +24.8 -> -16.2%; the source's p90 20.4 -> 18.5%); 1B (head dim 256) left
    without it, though its @ddad623a config lists flash, since FA1 could not run it; 1B in bf16 (no step-time change:
    the all-reduce and peak are the same). Every Pythia row is then -10..-16% (too fast), like NeoX-20B (-17%).

    Looked at for BloombergGPT and StarCoderBase, nothing changed: BloombergGPT's flash attention is an assumption
    (ALiBi, which FlashAttention-1 did not take); without it the row moves only -19.7 -> -18.6%, its gap is in MiCS
    (modelled as ZeRO-3 over 512) and the fabric. StarCoderBase: a BigCode Megatron-LM fine-tuning script of the same
    15.5B shape (TP 4, PP 4, micro-batch 1, global 512; Jean Zay, ``finetune_mtf.py``, search-index file 2526026498)
    sets ``--sequence-parallel --recompute-activations --use-distributed-optimizer``, listing what it changed from
    pre-training (no flash, doubled LR, steps) but not those; with all three the row is -19.1% (-20.9% as mapped): a
    lead for the pre-training flags, not a source for them.

    Looked at 2026-12-03 (acc23 branch), nothing changed (source 9.96% / 19.3%): where the Pythia shortfall sits in the
    predicted step. It is the same -10..-16% whether the step is mostly memory-bound work (70M: memory-bound 52%, GEMMs
    28%, -16.2%) or GEMMs and the exposed DP all-reduce (12B: GEMMs 49%, all-reduce 26%, -11.7%), so no one component
    carries it. The all-reduce runs over the assumed p4d's 400 Gb/s EFA at the generic IB/RoCE 0.85 of line rate; the
    only p4d figure found is a 2022 NCCL issue report (NVIDIA/nccl#527, "Slow bus bandwidth w/ nccl 2.9.9 on EC2
    instances": 1 GiB all_reduce busbw 29.6 GB/s on 4 nodes, 0.59 of 50 GB/s; a report of a problem, not a settled
    rate). Taken for the AWS rows (Pythia, BloombergGPT) it gives 7.5% / 19.3%, but moves only the large Pythia sizes
    (6.9B -9.7 -> -3.7%, 12B -11.7 -> -1.6%; 70M -16.2 -> -15.4%, 410M -11.5 -> -10.6%): not the family-wide cause, and
    not applied on a bug report with the fabric itself assumed.

    2026-12-03 (acc25 branch), taken: the ZeRO-1 optimizer the nine GPT-NeoX rows ran walks every gradient tensor of the
    rank twice before it steps its partition. DeeperSpeed v1.0's ``FP16_DeepSpeedZeroOptimizer_Stage1.step`` (stage1.py;
    the class engine.py ``_configure_zero_optimizer`` builds on the HEAD side of @1622ff0f, for fp16 and bf16 alike; read
    in the zhuzilin/DeeperSpeed fork, search-index file 12003370505) calls ``self.overflow_checker.check()`` over
    ``fp16_groups`` -- ``CheckOverflow.has_overflow_serial``: ``float(x.float().sum())`` per tensor -- and then
    ``get_grad_norm(group, mpu)`` per group -- ``p.grad.data.float().norm(2)`` and ``.item()`` per tensor on TP rank 0
    (EleutherAI/DeeperSpeed @1622ff0f deepspeed/runtime/utils.py, HEAD side of the conflict, file 28925669512) -- and
    frees the other ranks' gradients only after that. ``Stack.serial_grad_checks`` prices it (step_time
    ``serial_grad_check_s``: 2 x (2 + 8) B per parameter of the stage at the HBM rate plus one sync gap, the MoE
    dispatcher's ``MOE_SYNC_OPS`` launches, per tensor and pass; no new constant). Pythia +7 ms (70M, host-paced: 76
    tensors) to +80 ms (12B) a step: 70M -16.2 -> -14.4%, 160M -10.8 -> -9.1, 410M -11.5 -> -10.0, 1B -9.7 -> -8.1,
    1.4B -12.5 -> -10.9, 2.8B -10.0 -> -8.7, 6.9B -9.7 -> -8.5, 12B -11.7 -> -10.5, NeoX-20B -16.8 -> -16.7 (one step
    per 32 micro-batches); the source 9.96% / 19.3% -> 8.94% / 19.2%, no other source moves (the field is a row option,
    off in the registry: whether the 2022-23 Microsoft DeepSpeed the vTrain / BLOOM / MT-NLG rows ran keeps the same
    per-tensor walks, and over which tensors, was not read, so they are left without it). Not priced with it (each
    small or not established): the world-wide 1-byte overflow all-reduce and the TP-group norm all-reduce (two
    latency-bound collectives a step), ``wall_clock_breakdown: true`` in the Pythia configs (DeepSpeed's timers
    synchronise at start and stop, a few per micro-batch beside the per-layer syncs already priced).

    Same day, taken: every Pythia config sets ``"partition-activations": true`` (read: 70M @ae1ce75d, 2.8B @2d898509,
    12B @55e1182b; NeoX-20B's 20B.yml ``false``, so not there). DeepSpeed's checkpoint then clones each layer input's
    1/tp slice in the checkpoint call and, in the backward, writes a zero buffer of the full input, copies the slice in
    and all-gathers the rest over TP (in fp32 for a bf16 input), before the re-run forward (EleutherAI/DeeperSpeed
    @1622ff0f activation_checkpointing/checkpointing.py ``CheckpointFunction.forward`` / ``get_full_inputs``).
    ``Stack.partition_activations`` prices the copies (layer_ops ``partitioned_checkpoint_bytes``) and the TP
    all-gather (exposed, a plain NCCL call); torch's one-rank all-gather at TP 1 is not counted. Pythia +0.3..+0.9
    points: 70M -14.4 -> -14.1%, 160M -9.1 -> -8.5, 410M -10.0 -> -9.4, 1B -8.1 -> -7.2 (bf16: the fp32 casts),
    1.4B -10.9 -> -10.5, 2.8B -8.7 -> -8.3, 6.9B -8.5 -> -7.9 (TP 2), 12B -10.5 -> -9.7 (TP 4); the source 8.94% /
    19.2% -> 8.49% / 19.2%, no other source moves. With both, the Pythia rows are -7..-14%, still all too fast."""
    d = pd.read_csv(OPEN_REPORTS_CSV)
    out = []
    for r in d[d["scored"]].itertuples():  # the rows left unscored say why (``not_scored_reason``)
        model, tr, c, hw, stack = open_reports_case(cat, r)
        pred = float(step_time(model, tr, c, hw, framework=stack)["step_time_s"][0])
        out.append(dict(source="open_reports", model=r.id.split("_")[0], id=r.id, **kind(model, hw), stack=r.stack,
                        gpus=int(r.num_gpus), tp=int(r.tp), pp=int(r.pp), dp=int(r.dp), mb=int(r.micro_batch),
                        measured_s=OPEN_REPORTS_STEP[r.metric](r), predicted_s=pred))
    return pd.DataFrame(out)


def olmo_core(cat) -> pd.DataFrame:
    """Ai2's OLMo-core README throughput table (``OLMO_CORE_CSV``, builder data/parts/scripts/olmo_core.py; the
    README cell, source, read date and every assumption per row; checks in tests/test_olmo_core_data.py): tokens
    per second per H100 for OLMo 2 1B / 7B / 13B / 32B and a Llama-3-8B shape, bf16 and bf16 + torchao float8,
    each row running the training script it names. Stated: model, context 4096, precision, the script; from the
    script: global batch, rank micro-batch, FSDP / HSDP with fp32 gradient reduce, torch.compile, activation
    checkpointing (the 32B's full, none below). Not stated, so the documented default: the GPU count (the launch
    default of one 8-GPU node; the 32B's 64 nodes from its hard-coded HSDP replica count) and the network.

    Mapped onto the ``torchtitan`` stack (FSDP2 per block, compiled, SDPA flash, float8 ``tensorwise``: what
    OLMo-core runs, torchao's default recipe) through ``open_reports_case``, the same mapping as the fms-fsdp and
    TinyLlama rows; nothing in planner/ was changed or fitted for them (held out, as added: src46). auto53
    (2026-12-07) priced FSDP2's reduce-scatter copy-in (step_time.fsdp_copy_in_bytes: each unit's bf16 gradient into
    its fp32 reduce buffer on the compute stream, every micro-batch): 6.4 / 16.0% / -6.9% -> 5.1 / 12.7% / -4.8%."""
    return open_reports_table(cat, OLMO_CORE_CSV, "olmo_core")


def open_reports_table(cat, path, source: str) -> pd.DataFrame:
    """The scored rows of a run table in ``open_reports.csv``'s columns (parts_csv.OPEN_REPORTS_COLUMNS), each mapped
    by ``open_reports_case`` and its measured step time by ``OPEN_REPORTS_STEP`` of its metric, as ``source``."""
    d = pd.read_csv(path)
    out = []
    for r in d[d["scored"]].itertuples():
        model, tr, c, hw, stack = open_reports_case(cat, r)
        pred = float(step_time(model, tr, c, hw, framework=stack)["step_time_s"][0])
        out.append(dict(source=source, model=r.model, id=r.id, **kind(model, hw), stack=r.stack,
                        gpus=int(r.num_gpus), tp=int(r.tp), pp=int(r.pp), dp=int(r.dp), mb=int(r.micro_batch),
                        measured_s=OPEN_REPORTS_STEP[r.metric](r), predicted_s=pred))
    return pd.DataFrame(out)


def fms_compile(cat) -> pd.DataFrame:
    """The PyTorch blog "Maximizing Training Throughput Using PyTorch FSDP and Torch.compile" (IBM / Meta,
    2024-05-21; ``FMS_COMPILE_CSV``, builder data/parts/scripts/fms_compile.py, checks in
    tests/test_fms_compile_data.py): the MFU of IBM's fms-fsdp with torch.compile for Llama 2 7B / 13B / 34B / 70B
    shapes, batch 2 a GPU, on 128 A100 80GB (400 Gb/s) and 464 H100 80GB (3.2 Tb/s). The blog prints MFU only;
    each row's MFU becomes tokens/s at the FLOPs per token the same team's earlier blog implies by printing
    tokens/s and MFU of that size and GPU side by side (``OPEN_REPORTS_STEP["mfu_at_reference_pair"]``). Only
    the eight compile cells are scored: the no-compile column repeats the earlier blog's runs (open_reports'
    ``fms_blog_*``). Not stated, so assumed per row: sequence 4096, sharding and checkpoint fraction per size as
    the earlier blog ran them, SXM parts, 8 GPUs a node.

    Mapped as open_reports' fms-fsdp rows (``open_reports_case``, the ``torchtitan`` stack: FSDP per block, SDPA
    flash), compiled (``compile=True``); nothing in planner/ was changed or fitted for them (held out, as added:
    src47). auto53 (2026-12-07): FSDP2's reduce-scatter copy-in priced on the stack these rows map to
    (step_time.fsdp_copy_in_bytes), every row +0.7..+1.1 points: 3.7 / 9.8% / -1.8% -> 3.8 / 9.2% / -0.9%
    (fms-fsdp runs FSDP1). fsdp1_54 (2026-12-07) read FSDP1's: its backward concatenates each unit's bf16 gradients
    into the flat gradient on the compute stream (2 + 2 B a parameter a micro-batch, step_time.fsdp_copy_in_bytes),
    the bytes the torchtitan mapping's FSDP2 copy-in prices under these rows' bf16 reduce: no row moves."""
    return open_reports_table(cat, FMS_COMPILE_CSV, "fms_compile")


def kempnerforge(cat) -> pd.DataFrame:
    """The Kempner Institute's KempnerForge step-time reports (``KEMPNERFORGE_CSV``, builder
    data/parts/scripts/kempnerforge.py; the table rows, driver scripts and every assumption per row; checks in
    tests/test_kempnerforge_data.py): ``benchmarks/mfu_scaling`` (2026-04-05, 14 runs on 1-32 H200: single GPU, FSDP 2-8,
    TP 2 / 4, TP x FSDP), ``benchmarks/weak_scaling_160gpu`` (2026-06-30, 11 runs of TP 4 x FSDP 2-40 on 8-160 H200) and
    ``benchmarks/175b_360gpu`` (2026-07-03, one run on 360 H200), Llama-3-shaped 7B (= Llama-3-8B), 13B, 70B and
    175B, seq 4096, bf16, full activation checkpointing, torch.compile (but two runs), 4 H200 141 GB a node. The step time as printed is the measured value. Not stated, so assumed: the
    network rates (4 x 400 Gb/s NDR a node).

    Mapped through ``open_reports_case`` on the ``torchtitan`` stack (what KempnerForge runs: FSDP2 per block with
    fp32 reduce, DTensor TP with SequenceParallel norms, compile; ``tp_overlap=none``) with the row options its code
    says (kf51: ``params_16bit``, ``defer_fsdp_grad_sync``; kf52: ``recompute_early_stop`` -- torch's non-reentrant
    checkpoint default --, ``attn_kernel=cudnn`` -- SDPA auto, cuDNN attention in its H200 profile); nothing in
    planner/ was changed or fitted for them (held out, as added: src51). kf52 added the 175B / 360-GPU run
    (``benchmarks/175b_360gpu``, TP 4 x FSDP 90). auto53 (2026-12-07) priced the fold of each micro-batch's gradient
    into the fp32 unsharded gradient its deferred FSDP2 sync holds (step_time.held_grad_accum_bytes): 25 of 26 rows
    +0.5..+2.2 points (the TP x FSDP rows toward their measurements, the no-TP 7B rows away: 1 GPU +19.4 -> +21.6%,
    FSDP 2 +10.9 -> +12.9%; the 175B run, one micro-batch a step, unchanged), median 13.9 -> 13.2%, p90 37.0 ->
    36.0%, mean -15.1 -> -14.3%, Spearman 0.875 -> 0.869; with FSDP2's reduce-scatter copy-in once a step from the
    held fp32 gradient (step_time.fsdp_copy_in_bytes) 13.4% / 35.8% / -14.0%, Spearman 0.869. kf54 (2026-12-07) hid
    FSDP2's collectives pass by pass (step_time.forward_gathers: the 70B's 0.73 s gathers a micro-batch under its 0.64 s
    forward, not under forward + backward) and the deferred fp32 reduce-scatter under the last backward less that
    backward's gathers (step_time.last_backward_gathers): the seven 70B rows -31..-41% -> -26..-37%, nothing else,
    13.4% / 27.6% / -12.1%, Spearman 0.869. kf55 (2026-12-07) mapped KempnerForge's TP plan, which gathers each
    column-parallel linear's input on its own (row option ``tp_gather_per_linear``, and ``fused_qkv=False``: its
    separate q / k / v): 3 reduce-scatters more a layer backward, 3 all-gathers more forward where uncompiled; the
    22 TP rows +1.5..+4.5 points (one node: 7B TP 2 / TP 4 -6.5 / -8.0 -> -2.1 / -3.5%; 175B +12.6 -> +15.2%),
    13.0% / 25.6% / -9.4%, Spearman 0.869. kf56 (2026-12-07) mapped its head: ``ColwiseParallel(output_layouts=
    Replicate())`` and ``F.cross_entropy`` on the whole logits, no DTensor loss parallel (row option ``loss_parallel``
    False, torchtitan's ``disable_loss_parallel``): each micro-batch all-gathers its 16-bit logits over TP and runs the
    loss over V, not V / tp; the 7B / 13B TP rows +1.1..+2.2 points, the 70B / 175B +0.0..+0.1, 12.8% / 25.6% /
    -8.6%), and its token embedding, which no TP plan entry names (``tp_embedding_replicated``: FSDP2 gathers, holds
    and reduce-scatters the whole V x h on each TP rank; the 70B rows +1.6..+1.8 points): 12.6% / 23.9% / -8.0%,
    Spearman 0.869."""
    return open_reports_table(cat, KEMPNERFORGE_CSV, "kempnerforge")


def dlperf_megatron(cat, parts: bool = False) -> pd.DataFrame:
    """OneFlow's DLPerf benchmark of NVIDIA Megatron-LM GPT pre-training (``DLPERF_MEGATRON_CSV``, builder
    data/parts/scripts/dlperf_megatron.py; the README tables, launch scripts and every assumption per row; checks in
    tests/test_dlperf_megatron_data.py): 18 cases on 1-32 V100-SXM2-16GB (4 nodes of 8, one 100 Gb/s EDR HCA a
    node), GPT shapes 12 x 768 to 32 x 3072 at seq 2048 -- DP 1-32, TP 8-32 (16 and 32 across nodes), DP x TP, and PP
    2-4 with 32 micro-batches -- the README's latency a step as the measured time.

    The code is Megatron-LM @8aa4619f in the pytorch:20.12 container, the one ``nar21``'s Table 1 ran (SRUN.sh), so
    the rows take nar21's mapping: ``nar21_training`` (``--fp16`` with fp16 gradients, full recompute from
    ``--checkpoint-activations``, dropout on, no flash attention) on ``NAR21_STACK`` (the 2021 code's unfused
    weight-gradient accumulation), Megatron's GPT (``gpt_model``: learned positions, tied embeddings) with the
    GPT-2 vocabulary padded to 128 x TP, 1F1B without virtual stages, and Megatron's default ``--DDP-impl local``
    (the scripts pass none): the gradients all-reduced after the whole backward, ``overlap_grad_reduce`` off. The
    V100 takes its measured prior (efficiency.PRIORS["V100"]), the node the catalog's NVLink2 and the README's one
    EDR HCA (100 Gb/s a node). Nothing in planner/ was changed or fitted for these rows (held out, as added: src48).

    ``model`` is the shape and global batch (vTrain's convention): the 1536 x 16 model at batch 16 has six rows on
    one node (DP 8, TP 8, DP 2 x TP 4, DP 4 x TP 2; DP 8 and TP 8 run twice, as the README's DP / MP and 2D groups),
    the 2304 x 24 model at batch 512 three PP layouts on 32 GPUs: the within-model ranks. ``parts``: each row with
    ``PART_COLUMNS`` and ``node_gpus`` (``with_parts``; benchmarks/comm_residue.py)."""
    d = pd.read_csv(DLPERF_MEGATRON_CSV)
    out = []
    for r in d.itertuples():
        # the node's NV1 / NV2 mesh as printed (`nvidia-smi topo -m`): the DGX-1 V100 wiring (planner.hardware.nvlink)
        hw = hw_option(cat, r.gpu, int(r.node_gpus), float(r.inter_node_gbps), nvlink_topology="hybrid-cube-mesh")
        model = gpt_model(r.layers, r.hidden, r.heads, r.vocab_padded, r.seq_len)
        tr = nar21_training(int(r.seq_len), int(r.global_batch_seqs))
        row = pd.DataFrame([dict(tp=int(r.tp), pp=int(r.pp), dp=int(r.dp), vpp=1, zero=0, mb=int(r.micro_batch), rc=2,
                                 sp=False, schedule=SCHEDULE.code["1f1b"])])
        res = predict_group(model, tr, row, hw, parts=True, framework=NAR21_STACK, overlap_grad_reduce=False)
        o = dict(source="dlperf_megatron", model=f"{r.model}/gb{int(r.global_batch_seqs)}", id=r.id,
                 **kind(model, hw), stack=NAR21_STACK.name, options="gradient_accumulation_fusion=off",
                 gpus=int(r.num_gpus), tp=int(r.tp), pp=int(r.pp), dp=int(r.dp), mb=int(r.micro_batch),
                 measured_s=r.latency_ms / 1e3, predicted_s=float(res["step_time_s"][0]))
        out.append(with_parts(o, res, 0, hw) if parts else o)
    return pd.DataFrame(out)


def tech_reports(cat) -> pd.DataFrame:
    """Production pre-training runs from NVIDIA technical reports that print their layout
    (``TECH_REPORTS_CSV``, transcribed by hand; source, section/table, read date, notes and every
    assumption per row; checks in tests/test_tech_reports_data.py):

    * Nemotron-4 15B (arXiv:2402.16819v2 §2 "Pre-training", Table 2): the three batch-ramp stages,
      TP 8 x DP 96 / 192 / 288 (768-2,304 H100), 384 / 768 / 1,152 sequences of 4,096 tokens,
      0.57 / 0.58 / 0.64 s per iteration, MFU 34.3 / 33.3 / 30.5%.
    * Nemotron-4 340B (arXiv:2406.11704v2 §2.3, Table 2): TP 8 x PP 12 "with interleaving" x DP 16 /
      32 / 64 (1,536-6,144 H100), 768 / 1,536 / 2,304 sequences, 10.3 / 10.3 / 8.0 s, MFU 42.4 / 42.3
      / 41.0%.

    Both: DGX H100 with 8 x 400 Gb/s InfiniBand per node and bf16 (stated), the distributed optimizer
    (stated). These are the reports' production runs, not NVIDIA's dgxc-benchmarking recipes of the
    same models (``dgxc``: other layouts, batch per GPU and software).

    Mapped by ``pr2_case`` with what the reports state and the defaults otherwise: stack megatron-core
    (NVIDIA's Megatron; version not stated); micro-batch 1 (not stated: Megatron's default); no
    recompute (not stated); sequence parallel and the TE TP overlap (not stated: the stack's default,
    and NVIDIA's Nemotron-4 recipes set both); fp32 gradient reduction (Megatron's default for bf16);
    the 340B's interleaving as 8 virtual stages of one layer (the chunk count is not stated; NVIDIA's
    340B recipes interleave to one layer per chunk, dgxc PP 8 x VP 12). The planner's FLOP count
    gives back the reports' MFU from their iteration times within 0.3 points, so these are the
    architecture and batch the MFU was computed for.

    What the error says (signed = predicted / measured - 1; nothing fitted, the model not changed for
    these rows): Nemotron-4 15B +4.5% / +3.9% / -4.9%, 340B -4.7% / -4.5% / -5.7%.

    * 15B: the measured time rises 12% from DP 96 to DP 288 at a fixed 4 sequences per replica
      (0.57 -> 0.64 s), the model's 2% (its gradient reduce-scatter and parameter all-gather over
      96-288 nodes grow 0.175 -> 0.189 s and hide mostly under the backward). A cost that grows with
      the node count (ring latency, congestion, stragglers at 288 nodes) is not modelled; the report
      does not say what it was.
    * 340B: 5% fast at every stage, the stage ratio right (8.0 / 10.3 = 0.777 measured, 0.768
      predicted). The unstated chunk count moves it most: 4 virtual stages -2%, 2 stages +3..+4%. Per
      layer and micro-batch this 2024 run is 12-16% slower than NVIDIA's later 340B recipe on the same
      GPUs (dgxc_2409_nemotron4-340b_bf16_128: 4.61 s for 12 layers x 16 micro-batches = 24.0 ms;
      here 26.8 and 27.8 ms), i.e. older software than the stack entry describes.
    * The settings the reports leave out, one at a time (signed, 15B rows / 340B rows): TP overlap off
      +19 / +18 / +8, +3 / +3 / +2; sequence parallel off as well +24 / +23 / +12, +4 / +4 / +3;
      micro-batch 2: 15B -15 / -15 / -22; selective recompute within 1 point; full recompute +11..+22.
      The defaults taken are the ones the rows agree with; TP overlap off or micro-batch 2 would not be.
    * LOSO: the tech_reports rows favour a lower in-step GEMM efficiency (their median error 3.3% at
      0.58, 4.6% at the 0.60 used, 6.5% at 0.62); with them in the mean the refit optimum moves from
      0.62 to 0.58 for most held-out sources (flat: mean of medians 8.16% / 8.18% / 8.25% at 0.58 /
      0.60 / 0.62).

    Looked for and not added: Nemotron-H (arXiv:2504.03624: 6,144 H100 and FP8 stated, no iteration
    time or MFU table in the stored text); the Megatron-Core MoE report (arXiv:2603.07685, Megatron-Core
    v0.16): force-balanced benchmark configurations of DeepSeek-V3 / Qwen3-235B, the kind of run
    ``mbridge_all`` holds (e.g. DeepSeek-V3 on 1,024 H100, TP 2 PP 8 VPP 4 EP 64, FP8 blockwise, 368
    TFLOP/s), their layouts only in a secondary summary, and FP8 blockwise scaling is not a recipe the
    planner has (``planner.vocab.FP8_RECIPE``)."""
    out = pr2_rows(cat, path=TECH_REPORTS_CSV)
    return out[out["scored"]].drop(columns=["scored"])


def automodel(cat) -> pd.DataFrame:
    """NeMo AutoModel's published pre-training table, "System: DGX-H100, Precision: BF16" (``AUTOMODEL_CSV``: the
    performance summary at docs.nvidia.com/nemo/automodel/latest/performance/performance-summary.md, the same rows in
    the nightly page and in NVIDIA-NeMo/Automodel docs/performance-summary.md, whose two stored commits are the
    2025-10-02 versions; provenance, benchmark config and read date per row; tests/test_automodel_data.py). 9 rows
    scored: Nemotron 3 Super 120B (26.02, 64 GPUs) and Nano 30B (26.02, 8), DeepSeek-V3 (1024 and 256), Kimi K2 (256),
    Qwen3-30B-A3B (8), gpt-oss-20b (8) and -120b (64), Llama 3 70B (64, CP 2). Stored, not scored: the Qwen3 row's
    first print (22.14 s, ce005dd8), superseded by 21.773 s in every later version. Not copied: the LoRA / full
    fine-tuning tables (another workload) and the "Nemotron V3 Ultra 550B (26.04)" row, of which the stored page copy
    shows only "128" GPUs before it is cut off.

    The stack: its own registry entry, ``nemo-automodel`` (planner.model.stacks, 2026-12-02; each field with its
    source there). AutoModel is PyTorch-native: FSDP2 ``fully_shard`` per decoder block with bf16 parameters and fp32
    gradient reduction (nemo_automodel/components/moe/parallelizer.py ``apply_fsdp``: ``MixedPrecisionPolicy(
    param_dtype=bf16, reduce_dtype=float32)``; the experts left out of the block's unit where EP owns them), no
    reshard after forward by default on the MoE path (``parallelize_model(..., reshard_after_forward=False)``), TE
    ``Linear`` / ``RMSNorm`` as separate modules (``BackendConfig linear: te, rms_norm: te``: no LayerNormLinear),
    grouped-GEMM experts (``GroupedExpertsDeepEP``: ``grouped_gemm.ops.gmm``, routing weights in the activation) fed
    by Megatron-Core's ``MoEFlexTokenDispatcher`` with DeepEP, which it vendors (components/moe/megatron/
    token_dispatcher.py, fused_a2a.py), Nemotron 3's Mamba mixers on mamba_ssm's ``mamba_split_conv1d_scan_combined``
    (models/nemotron_v3/layers.py, the kernel Megatron-Core runs), attention by the backend each row names (TE
    DotProductAttention = cuDNN; torch SDPA's flash backend and FlexAttention at FlashAttention-2's rates, the latter
    ~0.85-0.9 of FA2 by its paper, not applied), eager (no torch.compile in these configs), full activation
    checkpointing with torch's non-reentrant ``ptd_checkpoint_wrapper`` per block (early stop on: torch's default)
    where the config turns it on (Super, Nano, Qwen3, DeepSeek-V3, Kimi K2; not gpt-oss). Under PP (DeepSeek-V3,
    Kimi K2) torch.distributed.pipelining's ``backward_maybe_with_nosync`` (or AutoModel's patched one, with
    ``enable_fsdp_optimizations``) keeps the stage gathered and reduce-scatters once per step
    (``pp_fsdp_unsharded``); without PP the deferred sync is the configs' ``enable_fsdp_optimizations`` (the
    ``fsdp_defer_sync`` option: Nano @08a48f76, DeepSeek-V3 256 @037e04a6; the Qwen3 @092af93e and DeepSeek-V3 1024
    @604375ac configs spell it ``enable_fsdp_optimization``, not the key recipes/llm/train_ft.py reads: off). Llama 3
    70B runs the dense FSDP2 path (components/distributed/parallelizer.py), whose per-layer wrap reshards after
    forward (``reshard_after_forward=True`` for it). Before 2026-12-02 the rows ran on ``megatron-core`` with ZeRO-3
    and these options; the entry moved them (signed): Super +57.8 -> +58.4%, Nano +35.0 -> +35.1, DeepSeek-V3 1024
    +10.8 -> +3.4 (PP stage held), 256 +24.4 -> +24.4, Kimi K2 +0.4 -> +0.2, Qwen3 +7.5 -> +9.6, gpt-oss-20b -14.9 ->
    -13.9, -120b +14.0 -> +14.9, Llama 3 70B +10.8 -> +5.8 (early stop); median 14.0 -> 13.9%, p90 39.6 -> 39.8%,
    mean +16.2 -> +15.3%. Field by field against megatron-core's value (the rest of the entry fixed): the held PP
    stage -10.2 (DeepSeek-V3 1024), -3.2 (Kimi); ``fused_norm_linear`` off +0.5..+2.0 on every row (the norm's own
    HBM pass); Megatron-Core's p2p overlap under the interleaved schedule off (``overlap_p2p``: not established for
    torch.distributed.pipelining's schedules, off as in the torchtitan entry, which runs the same) +1.9..+2.3 on
    the PP rows; ``fsdp_defer_sync`` Nano 35.98 ->
    35.15 (NVLink FSDP collectives of an 8-GPU job mostly hidden already; Qwen3 with it on 9.63 -> 9.19); early stop
    skips only a dense MLP's down projection, so nothing on the MoE rows (Llama 3 70B -5.6); host ops (the eager
    registry default, 40 per layer, not counted from AutoModel's blocks), vocabulary padding, the loss: <= 0.1 point.
    What the entry does not model: the separate q / k / v projections of AutoModel's attention (three GEMMs where
    Megatron-Core runs one), its eager module count. ``torchtitan`` (eager,
    early stop off) has the FSDP2 and checkpoint right but runs experts as one GEMM per local expert and only the
    all-to-all dispatcher; it predicts every MoE row 10-60 points slower still (Nano +48%, Qwen3 +48%, gpt-oss-120b
    +26%). So nothing AutoModel's source says it runs differently moves the thin-MoE rows (Super +58%, Nano +35%)
    by more than a point: that gap is not in the stack entry either. Models: the planner presets (``PR2_PRESETS``),
    DeepSeek-V3 and Nemotron 3 Super without their MTP modules
    (AutoModel's DeepseekV3Model and NemotronV3Model of the period build ``num_hidden_layers`` blocks and no MTP;
    the table's TFLOP/s is the planner's causal count without MTP to 1%). gpt-oss's EP from the linked config
    (``ep_size`` 8 / 64; the table prints "-"). Llama 3 70B: its config is not linked; full recompute assumed (the
    row's notes). Routing: the configs set ``fake_balanced_gate``, every expert the same load as under the Megatron-Bridge
    perf recipes' ``moe_router_force_load_balancing`` -- but not the same spread: Megatron draws random logits (any k
    experts), AutoModel's ``FakeBalancedGate`` gives token t the k *consecutive* experts t k .. t k + k - 1 (mod E),
    which sit on a few neighbouring EP ranks of one or two nodes (``FAKE_BALANCED_GATE``: moe.routing "round_robin").

    Since 2026-12-03 (the automodel2 branch) three mechanisms of AutoModel's source are priced, signed per row
    (Super, Nano, DeepSeek-V3 1024 / 256, Kimi K2, Qwen3, gpt-oss-20b / -120b, Llama 3 70B): before +58.4 / +35.1 /
    +3.4 / +24.4 / +0.2 / +9.6 / -13.9 / +14.9 / +5.8%, median 13.9%, p90 39.8%, mean +15.3%.

    * The round-robin routing under DeepEP's per-node / per-GPU deduplication (moe.round_robin_blocks: Super's 22
      consecutive experts of 8 per GPU reach 3.5 GPUs and 1.31 nodes where learned routing reaches 7.6 nodes; Nano's
      6 of 16 per GPU 1.25 GPUs; DeepSeek-V3's 8 of 4 per GPU exactly 2 GPUs of one node, node-limited routing 4 nodes): exposed EP time Super 2.68 -> 0.59 s, Nano 2.21 -> 0.71, Qwen3 4.20 -> 1.01,
      DeepSeek-V3 1024 14.6 -> 4.0, Kimi 2.90 -> 0.75; signed +25.8 (with the next) / +21.2 / -24.9 / -9.6 / -23.7 /
      -5.0 / -18.0 / -15.6 / +5.8%. The DeepSeek-V3 1024 / Kimi agreement before was on EP bytes the runs never sent.
    * Nemotron 3's ``NemotronV3Mamba2Mixer`` (models/nemotron_v3/layers.py) calls ``mamba_split_conv1d_scan_combined``
      with ``rmsnorm_weight`` and ``outproj_weight`` on the (b l d) in_proj output (Stack.mamba_call "hf",
      ssm.SCAN_BYTES_HF): no layout copies, no z-gated scan output or ``_chunk_scan_bwd_dz``: Super 9.46 -> 9.17 s,
      Nano 19.61 -> 18.92 s (-3.9 / -4.4 points); Megatron-Bridge's Nemotron rows keep Megatron-Core's call.
    * With PP the loop runs ``schedule.step`` once per gradient-accumulation step over its local batch (8
      micro-batches), so the bubble is paid per run (Stack.pp_pass_microbatches = local_batch_size / micro-batch):
      DeepSeek-V3 1024 (4 runs) bubble 0.33 -> 1.31 s, -24.9 -> -22.3%; Kimi K2 (2 runs) 0.66 -> 1.32 s, -23.7 ->
      -16.2%; DeepSeek-V3 256 runs once. Where AutoModel's patched ``backward_maybe_with_nosync`` is off (no
      ``enable_fsdp_optimizations``: the DeepSeek-V3 1024 config misspells it, Kimi K2's sets none), torch's own one
      reduce-scatters and reshards the held stage at the end of every run, and the next run gathers it again: the
      exposed reduce and gather once per run (step_time, ``fsdp_defer_sync`` off): -22.3 -> -21.2%, -16.2 -> -16.0%.

    After: +25.8 / +21.2 / -21.2 / -9.6 / -16.0 / -5.0 / -18.0 / -15.6 / +5.8%: median 16.0%, p90 22.2%, mean -3.6%.
    Left: the hybrids still too slow (Super's GEMMs alone, 6.0 s at the H100 in-step prior, are 83% of its measured
    7.29 s step), the big MoE rows and gpt-oss too fast. Not modelled, found on the way: with CP the
    mixer calls the kernel without the norm (z-gated scan, ungated norm after), priced with the "hf" tables; the
    nv-grouped-gemm 1.1.4 the ``gmm`` experts run is cuBLAS per expert on 4 streams on SM90 (csrc/grouped_gemm.cu:
    CUTLASS grouped only for SM80), which is what moe.grouped_gemm_time prices already.

    Since 2026-12-03 (the accauto branch) two more of AutoModel's own behaviours, from the linked configs and its
    source (before: the "After" line above):

    * The pipeline stages the configs build: AutoPipeline makes ceil(layers / ``layers_per_stage``) stages, rounded
      down to a multiple of PP (``round_virtual_stages_to_pp_multiple: down``; components/distributed/pipelining/
      functional.py ``calculate_virtual_stages``, ``automodel_virtual_stages``; the column ``pp_layers_per_stage``):
      DeepSeek-V3 1024 (@604375ac, 4 per stage on PP 4) 16 stages, 4 a rank; DeepSeek-V3 256 (@037e04a6, 2 on PP 4)
      31 -> 28, 7 a rank; Kimi K2 (@080dca53, 2 on PP 8) 31 -> 24, 3 a rank. The table prints VP 8 / 8 / 4 (kept as
      ``vp_printed``; it is what 2 layers a stage rounded *up* would give, which none of the linked configs sets).
      Bubble DeepSeek-V3 1024 1.31 -> 2.59 s, Kimi 1.32 -> 1.75 s: -21.2 -> -18.8%, -9.6 -> -9.2%, -16.0 -> -11.6%.
    * The optimizer: every linked config sets ``_target_: torch.optim.Adam`` (weight_decay 0) and nothing else, and
      recipes/llm/train_ft.py ``build_optimizer`` instantiates it as is (``foreach = False`` only under TP > 1):
      torch's default on CUDA, the multi-tensor foreach path, one HBM pass per ``torch._foreach_*`` op, 72 B a
      parameter where the fused kernel moves 32 (``Stack.optimizer_foreach``, step_time.OPTIMIZER_BYTES_FOREACH;
      the column ``optimizer``: adam; Llama 3 70B, no config linked, stays AdamW): +0.1..+0.6 points on every row,
      Super +25.8 -> +26.2, Nano +21.2 -> +21.5, Kimi -11.6 -> -11.0, gpt-oss-120b -15.6 -> -15.0.

    After both: +26.2 / +21.5 / -18.7 / -8.8 / -11.0 / -4.8 / -17.6 / -15.0 / +5.9%: median 15.0%, p90 22.4%, mean
    -2.5%; no other source moves (the stack and the columns are AutoModel's alone).

    Measured on the way, not taken:

    * AutoModel's split of the layers over the stages is torchtitan's (``generate_hf_model_fqn_per_model_part``:
      divmod, the extra layers to the first stages), not Megatron's layout the entry prices (pipeline.SPLIT_RUNTIMES):
      the fullest rank is the same (16 / 8 layers), <= 0.1 point on the three PP rows.
    * gpt-oss's experts as AutoModel runs them: the clamped GLU is ``quick_geglu_deepep``, under ``@torch.compile``
      (moe/layers.py), so none of Megatron-Core's eager clamp passes or its ``torch.tensor`` offset sync
      (moe.EAGER_EXPERT_BYTES "clamp", charged to these rows today) but an eager gate/up bias loop
      (``GroupedExpertsDeepEP._apply_bias`` without probs over 2f columns: forward 8 B, backward 6 B an element,
      free in TE's GEMM epilogue on Megatron-Core): 4.34 -> 2.64 GB of backward per layer and micro-batch, measured
      gpt-oss-20b -17.6 -> -20.0%, -120b -15.0 -> -17.1%, away from the measurement. And FlexAttention as AutoModel
      calls it for gpt-oss (components/attention/flex_attention.py, all three stored versions: the sinks as an eager
      ``out * sigmoid(lse - w)`` in fp32 and a cast back, ~46 B an output element forward + backward, plus the
      output transpose; block masks of 128, so a 128-token window computes two tiles a query block; FlexAttention's
      own rate ~0.85-0.9 of FA2), estimated by hand, not priced: about +0.4 s on gpt-oss-20b (+4 points), +0.1 s on
      -120b (+2). Both together about -16% / -15%: the gpt-oss gap is not in these ops.

    Since 2026-12-03 (the accauto2 branch), one more behaviour of AutoModel's source (before: the "After both" line):

    * The shared experts on their own CUDA stream: ``MoE.forward`` (nemo_automodel/components/moe/layers.py, the three
      stored versions read, from the ``MoEArgs`` one through the LatentMoE one; "Execute shared experts in a separate stream to
      overlap compute with the communication for grouped experts") launches them on ``_shared_experts_stream``
      before the routed path (gate, DeepEP dispatch, grouped GEMMs, combine) and joins after it; autograd runs their
      backward on that stream too. Priced as ``Stack.moe_shared_stream`` (moe.shared_stream_hidden): each pass (forward,
      its recompute, backward) hides the shorter of its dispatch + combine and its shared-expert GEMMs, on the SMs
      DeepEP leaves (20 of 132). Per MoE layer and micro-batch (ms): Super all-to-all 0.61 each, shared forward 1.31:
      hidden wholly; Nano 0.32 / 1.22: wholly; DeepSeek-V3 / Kimi K2 1.37 / 1.14 against a 2048-wide shared expert's
      0.64 forward, 1.28 backward: about a quarter to a third hidden; Qwen3, gpt-oss: no shared expert, nothing.
      Exposed EP Super 0.59 -> 0.10 s, Nano 0.72 -> 0.13, DeepSeek-V3 1024 4.00 -> 2.97, 256 1.00 -> 0.74, Kimi 0.75
      -> 0.52. Signed: Super +26.2 -> +19.6, Nano +21.5 -> +17.7, DeepSeek-V3 1024 -18.7 -> -21.7, 256 -8.8 -> -12.1,
      Kimi K2 -11.0 -> -14.4% (the rest unchanged): median 15.0 -> 15.0%, p90 22.4 -> 20.0%, mean -2.5 -> -4.7%, the
      sum of |err| 129.5 -> 128.8 points. Taken as the source's behaviour although it moves three rows away: the
      large-MoE rows were already too fast, so what they lack is elsewhere (below), not in the stream.

    Looked at on the accauto2 pass, not taken (numbers with the shared stream off):

    * Nemotron 3's attention on TE (cuDNN) rather than torch SDPA: neither linked config sets ``attn`` (BackendConfig's
      default would be TE), but the table prints "TorchSDPA" for both rows; kept at FA2 rates. cuDNN would give Super
      +26.2 -> +25.5, Nano +21.5 -> +19.7: not the gap either way.
    * The SSD kernels priced slower than they run: no. Issue #904's pure Mamba-2 1.4B (mamba_ssm's Mamba2, the "hf"
      call AutoModel's mixer makes) trains at 239.2 TFLOP/s on an H200; the planner gives it 320 (tests/test_ssd_parts.py
      model, one GPU): on Hopper it is, if anything, fast for that model, so the Nemotron rows' +18..+20% is not a
      too-slow scan (Nano's SSD + conv 3.0 s, Super's 1.2 s of the step).
    * AutoModel's Nemotron-H strategy (models/nemotron_v3/parallelizer.py, later parallelization.py) checkpoints only
      the mamba and mlp blocks, not attention or MoE ones -- but the benchmark configs set ``ep_size`` > 1, and with EP
      the infrastructure hands the model to moe/parallelizer.py ``parallelize_model`` (``apply_ac``: every block), so
      full recompute stands (and without it the planner puts Nano at 142 GB a GPU).
    * ``FakeBalancedGate`` has no router weight, so no router GEMM runs where the planner prices one: <= 0.6 point on
      any row (Super's 40 MoE layers: 42 ms of 7.3 s); not priced.

    Since 2026-12-04 (the automodel29 branch), one more behaviour of AutoModel's source (signed per row as in the
    "After both" order; before: +19.6 / +17.7 / -21.7 / -12.1 / -14.4 / -4.8 / -17.6 / -15.0 / +5.9%, median 15.0%,
    p90 20.0%, mean -4.7%):

    * gpt-oss's attention sinks as an eager rescale after FlexAttention: AutoModel's gpt-oss attention takes
      ``attn: flex`` or ``te`` only (models/gpt_oss/layers.py ``GptOssAttention``); the two linked configs set
      ``flex``, whose ``FlexAttention.forward`` (components/attention/flex_attention.py) runs the compiled kernel with
      ``return_lse=True`` and then ``torch.sigmoid(lse - w)``, ``out * scale`` (an fp32 product) and ``.to(q.dtype)``
      as eager ops -- 2 act_b + 8 B an output element forward and 3 act_b + 28 backward, plus 20 / 32 B a (token,
      head) row (layer_ops.sink_rescale_bytes, counted on real torch ops; ``Stack.sink_rescale_kernels``: the
      kernel the row maps FlexAttention to, fa2; TE's cuDNN path keeps the sinks in its softmax). No recompute on
      these rows, so once forward and once backward: gpt-oss-20b 8.27 -> 8.48 s (-17.6 -> -15.5%), -120b 3.65 ->
      3.73 s (-15.0 -> -13.1%); the rest unchanged. After: median 15.0 -> 14.4%, p90 20.0 -> 20.0%, mean -4.7 ->
      -4.3%; no other source moves (the field was this stack's alone then -- torchtitan's uncompiled gpt-oss took it
      in small29b -- and no other row runs a sink model on it).

    Looked at on the same pass, not taken:

    * The separate q / k / v projections (the one thing the entry's docstring lists as not modelled): AutoModel's
      gpt-oss attention builds ``q_proj``, ``k_proj``, ``v_proj`` as three ``initialize_linear_module`` linears
      (models/gpt_oss/layers.py ``GptOssAttention``), where the planner prices one (q + 2 kv)-wide GEMM. Priced on every
      row as three GEMMs at their own shapes (the narrow k / v ones, 512 columns on gpt-oss and Qwen3, 256 on Nemotron 3, at
      the shape curve's lower efficiency; measured before the sink rescale): Nano +17.7 -> +17.9, gpt-oss-20b -17.6 ->
      -17.5, -120b -15.0 -> -14.9, the
      rest unchanged to 0.05 point; and not a stack-wide behaviour -- AutoModel's own Llama runs them as one
      (models/llama/model.py ``LlamaAttention(CombinedQKVAttentionMixin, ...)``, "combined QKV projection"), so a
      stack field would misprice that row's family. Not taken: nothing to gain that the noise does not swamp.
    * What the table's step time covers (recipes/llm/benchmark.py ``run_benchmark``): the timer wraps the
      gradient-accumulation loop and ``opt.step()``; ``zero_grad`` runs before it, the label-token count and loss
      all-reduces and their ``.item()`` after it; each micro-batch's label count is a ``.item()`` on the CPU batch (no
      device sync). The printed time is the mean over the steps after the 10 warm-up ones -- what the planner prices
      (forward / backward, optimizer), nothing left out or added.
    * The gpt-oss FlexAttention path is not slower than already estimated: ``FlexAttention.flex_attn`` is
      ``torch.compile(flex_attention, mode="max-autotune-no-cudagraphs")`` and the block masks are built once per
      (window, S_q, S_kv) and cached in a class dict (components/attention/flex_attention.py), so no per-call mask
      construction or eager fallback; the sink rescale (fp32 ``sigmoid(lse - w)``, the multiply and the cast back) is
      the op priced above. FlexAttention's own backward rate on H100 has no measurement in parts/ (the FA3 paper's
      Triton bars are forward only, 389-395 TFLOP/s at 4k-16k, at or above FA2's 368-370), so the kernel keeps FA2's
      rates rather than a kernel of its own (which would reach physics.ATTN_KERNELS' users and the emitter's backend
      map for no measured number).
    * DeepEP's CPU wait per MoE forward (normal-mode ``Buffer.dispatch``) on AutoModel's eager blocks: after the wait the
      host launches the dispatch, the permute, two ``gmm`` calls, the activation and the combine (tens of ops, < 1 ms of
      host time) ahead of 5-7 ms of GPU work per layer and micro-batch (``t_fwd_mb`` / layers: Nano 0.275 s / 52,
      gpt-oss-20b 0.170 s / 24), so the GPU idles only for the wake-up and the first launch, which
      ``moe.dispatch_sync_s`` already charges this stack (``MOE_SYNC_OPS`` x 15 us a layer forward and recompute:
      DeepSeek-V3 1024, 15 MoE layers a rank x 32 micro-batches x 2 passes x 30 us, 29 ms of 29.7 s); the host ops after
      the wait would add <= 0.1 point on any row, so ``moe.post_sync_host_ops`` keeps 0 for this stack.

    Since 2026-12-05 (the automodel36 branch), one more behaviour of AutoModel's source (before: +19.6 / +17.7 / -21.7 /
    -12.1 / -14.4 / -4.8 / -15.5 / -13.1 / +5.9%, median 14.4%, p90 20.0%, mean -4.3%):

    * The loop's gradient sync on the last micro-batch only (``Stack.defer_fsdp_grad_sync``): without PP, train_ft.py
      ``_forward_backward_step`` (the benchmark recipe's) calls components/distributed/utils.py ``get_sync_ctx(model,
      idx == num_batches - 1)``, i.e. ``set_requires_gradient_sync(is_last)`` on the root FSDPModule (``apply_fsdp``
      wraps the outer model), unconditionally in 2025 and by FSDP2Config ``defer_fsdp_grad_sync`` (default True)
      since; the reshard is left alone, so one reduce-scatter a step and the gathers per micro-batch. The Llama 3 70B
      row runs it off (``defer_fsdp_grad_sync=False`` in its ``stack_options``): AutoModel's 64-GPU FSDP 32 x CP 2
      Llama-3.1-70B benchmark configs (examples/llm_pretrain/llama3_1_70b_pretrain_benchmark_8nodes_tp1cp2pp1.yaml,
      ``_0410``) set it False, "Must be False with GA>1 ... OOM" (280 GB of fp32 unsharded gradients). Super +19.6 ->
      +17.7, Qwen3 -4.8 -> -5.1, gpt-oss-20b -15.5 -> -16.1, -120b -13.1 -> -14.1%; Nano (``fsdp_defer_sync``), the
      PP rows and Llama 3 70B unchanged. After: median 14.4 -> 14.4%, p90 20.0 -> 18.5%, mean -4.3 -> -4.7%; no other
      source moves. The large-MoE rows' deficit is shared with Megatron-Bridge's H100 rows of the same models
      (DeepSeek-V3 1024 -17%, gpt-oss-120b -17..-19%): not in this entry (docs/accuracy_log.md, "NeMo AutoModel's rows
      against its source, term by term").

    Since 2026-12-05 (the automodel41 branch), one more behaviour of AutoModel's source (before: +17.4 / +17.4 / -19.1 /
    -11.5 / -14.2 / -5.3 / -16.4 / -14.6 / +5.9%, median 14.6%, p90 17.8%, mean -4.5%):

    * DeepSeek-V3's attention joins q and k with eager ``torch.cat`` (``Stack.mla_eager_cat``, layer_ops.mla_cat_bytes):
      models/deepseek_v3/layers.py ``MLA._forward_impl`` (@0b5d3f7c; Kimi K2 runs the same model) concatenates q_nope /
      q_pe and k_nope / the head-expanded k_pe, and the splits they came from re-join their gradients backward, where
      Megatron-Core's fused MLA RoPE writes q and k once: 180,352 B a token and layer forward, 248,192 backward (bf16),
      forward twice under full recompute. DeepSeek-V3 1024 -19.1 -> -17.8%, 256 -11.5 -> -10.1%, Kimi K2 -14.2 ->
      -13.5%; the rest unchanged. After: median 14.6 -> 14.6%, p90 17.8 -> 17.5%, mean -4.5 -> -4.1%; no other source
      moves. The two DeepSeek-V3 rows' split (1.184 s a micro-batch at 1,024 GPUs against 1.022 at 256, +16%; modelled
      +6%) was walked against the source and matched no unpriced mechanism (docs/accuracy_log.md, automodel41).

    What the error says (signed, predicted / measured - 1; first scored on megatron-core, held out): Super +49%, Nano
    +24%, DeepSeek-V3 +11% (1024 GPUs) / +24% (256), Kimi K2 +0.4%, Qwen3-30B-A3B +8%, gpt-oss-20b -15%, gpt-oss-120b
    +14%, Llama 3 70B +11%; since the Mamba-2 SSD kernels are priced at their measured speed
    (ssm.SSD_ROOFLINE_FACTOR, the same kernels AutoModel's NemotronV3Mamba2Mixer runs) Super +58%, Nano +35%, while
    Megatron-Bridge's H100 Nano rows moved -15..-18% -> -7..-10%. The thin MoE models the planner runs 15-38% too fast on Megatron-Bridge's H100 rows
    (``mbridge_all``: Nano FP8-CS 16 GPUs seq 8192 -15..-18%, Qwen3-30B FP8-CS 16 GPUs -35..-38%, gpt-oss-120b
    BF16 64 GPUs -18..-21%) it runs 8-49% too slow here, on the same GPU at similar sizes; measured, AutoModel in
    BF16 moves 1.13-1.17x Megatron-Bridge FP8's tokens/s per GPU on Nano, 1.33-1.36x on Qwen3-30B and 1.27-1.31x
    (BF16 both) on gpt-oss-120b, where the planner expects 0.78x, 0.76-0.82x and 0.91x. One set of hardware
    physics cannot be too fast for one stack and too slow for the other on the same model and GPU: the thin-MoE
    gap of ``mbridge_all`` is in what Megatron-Bridge's recipes run on these models, not in the GEMM, attention or
    EP physics (which, if anything, are pessimistic for these shapes: the planner's Nano GEMM time alone is 12.5 s
    of the measured 15.6 s step).

    2026-12-05 (acc42c branch), nothing changed (14.6% / 17.5% / -4.1%). The hybrids' recompute, the one term that
    brackets them: with every block re-run (as priced) Super / Nano +17.4 / +17.4%, with ``selective`` +6.4 / +6.5%,
    with none -8.7 / -8.2%. Full it is: ``instantiate_infrastructure`` (nemo_automodel/_transformers/infrastructure.py
    @0156b3b0) hands any ``ep_size`` > 1 model to moe/parallelizer.py ``parallelize_model``, whose ``apply_ac``
    (@005f6639) wraps every decoder block in ``ptd_checkpoint_wrapper`` (the router save only with
    ``ignore_router_for_ac``, which no benchmark config sets); models/nemotron_v3/parallelizer.py's strategy, which
    checkpoints only the mamba and dense-MLP blocks, is the non-EP path. So the +17% is not a recompute the runs
    skipped; what the two Nemotron rows lack stays unfound (docs/accuracy_log.md, acc42c).

    Since 2026-12-07 (the auto53 branch; before: +17.4 / +17.4 / -17.0 / -10.3 / -13.2 / -5.3 / -15.5 / -13.8 / +5.9%,
    median 13.8%, p90 17.4%, mean -3.8%), the pass that folds each micro-batch's gradient into the gradients held
    unsharded between micro-batches (step_time.held_grad_accum_bytes; the memory model held them since ammem37, the
    step time had no pass for them): every AutoModel MoE row defers its FSDP2 sync (the loop's ``get_sync_ctx``,
    ``enable_fsdp_optimizations``, or pipelining's no-sync under PP), so each backward after the first adds its bf16
    unsharded gradient into an fp32 one (torch _fsdp_param.py ``to_accumulated_grad_if_needed`` /
    ``accumulate_unsharded_grad_if_needed``: 6 B a parameter the first micro-batch, 10 each later one, counted on
    torch's own FSDP2 in tests/test_held_grads53.py), over the rank's whole unsharded stage, and the experts
    ``apply_fsdp`` leaves to EP (``ignored_params`` where the expert shard group is one rank) add into their bf16
    ``.grad`` (6 B). Rows: +18.9 / +18.9 / -14.4 / -8.0 / -9.5 / -4.4 / -13.8 / -13.0 / +5.9% (Llama 3 70B syncs
    every micro-batch: unchanged): median 13.8 -> 13.0%, p90 17.4 -> 18.9%, mean -3.8 -> -2.2%. Then FSDP2's
    reduce-scatter copy-in (step_time.fsdp_copy_in_bytes: torch _fsdp_collectives.py ``foreach_reduce`` copies each
    unit's gradient into its fp32 reduce-scatter input on the compute stream; once a step from the held fp32 gradient
    on the deferred rows, every micro-batch from the bf16 one on Llama 3 70B, which syncs each): +19.2 / +19.0 /
    -14.4 / -7.8 / -9.4 / -4.4 / -13.8 / -12.8 / +9.0%, median 12.8%, p90 19.0%, mean -1.7%. Taken as what the code
    runs although the hybrids and the Llama move away: their gap is elsewhere (above).

    Since 2026-12-07 (the auto54 branch; before: +19.2 / +19.0 / -14.4 / -7.8 / -9.4 / -4.4 / -13.8 / -12.8 / +9.0%,
    median 12.8%, p90 19.0%, mean -1.7%), the benchmark gate's missing router GEMM, which the accauto2 pass above
    measured at <= 0.6 point and left unpriced: ``FakeBalancedGate`` (components/moe/layers.py, every stored version)
    builds the weights from ``torch.ones`` and the ids from ``torch.arange`` and has no parameter, so no
    [tokens, hidden] x [hidden, experts] linear runs forward or backward (moe.GATELESS_ROUTINGS; the memory model
    already kept no router input for it). Rows: +18.6 / +18.6 / -14.6 / -8.1 / -9.7 / -4.8 / -14.0 / -13.0 / +9.0%:
    median 12.8 -> 13.0%, p90 19.0 -> 18.6%, mean -1.7 -> -2.0%; no other source moves (only these rows route
    round-robin). Where the hybrids' time sits, per layer and micro-batch (the pass's walk; docs/accuracy_log.md
    auto54): Nano (16,384 tokens) a Mamba block 9.2 ms of in / out projections (forward, re-run, backward) and 8.2 ms
    of conv + SSD + norm kernels; Super (8,192 tokens) 12.6 and 7.3 ms; per step Nano's SSD side 3.0 s of 18.5,
    Super's 1.2 of 8.6 -- the scan alone cannot close both (Super is 1.36 s slow with 1.2 s of scan), and the GEMMs
    (Nano 12.5 s, Super 6.0 s at 0.53 of the bf16 peak) are where the rest would have to be. The error splits by the
    table's release: the three rows of 2026 code (Super, Nano, Llama 3 70B) are predicted slow, the six of the
    2025-10-02 code fast; measured, the hybrids run 442-445 planner hardware TFLOP/s a GPU against Qwen3-30B-A3B's 373
    (planned 373-375 and 392).

    Since 2026-12-07 (the auto55 branch; before: +18.6 / +18.6 / -14.6 / -8.1 / -9.7 / -4.8 / -14.0 / -13.0 / +9.0%,
    median 13.0%, p90 18.6%, mean -2.0%), gpt-oss's experts as ``GroupedExpertsDeepEP.forward`` runs them
    (components/moe/layers.py; ``Stack.moe_expert_eager`` "automodel", moe.EXPERT_EAGER_FORMS) in place of
    Megatron-Core's TEGroupedMLP form: fc1's bias added by the eager ``_apply_bias`` loop after the first ``gmm`` (8 / 6 B
    an element of the 2f-wide output), the clamps inside the compiled ``quick_geglu_deepep`` (no eager clamp chain, no
    offset-tensor sync), and fc2's probability-weighted bias loop in fp32: the DeepEP dispatcher hands the experts fp32
    probabilities (the vendored token_dispatcher.py ``_DeepepManager``: "DeepEP only supports float32 probs"), so ``b *
    p`` and the sum are fp32 rows cast back (28 / 28 B an element of h; the fake gate's probabilities carry no
    gradient), where 16-bit probabilities give 12 / 16. Counted on real torch ops (tests/test_auto55.py). The accauto
    pass had estimated these ops with 16-bit probabilities (faster than the Megatron form) and left them. Rows: gpt-oss-20b
    -14.0 -> -12.8%, -120b -13.0 -> -12.0%, the rest unchanged: median 13.0 -> 12.0%, p90 18.6%, mean -2.0 -> -1.8%; no
    other source moves (no other scored row runs biased experts under DeepEP). Also read on the pass, not priced: the
    FlexAttention path's ``q / k / v.transpose(1, 2).contiguous()`` copies before the kernel (components/attention/
    utils.py ``preprocess_args_and_kwargs_for_attn``; <= 0.5 point on gpt-oss); FlexAttention's own H100 rate at head
    dim 64 (forward 0.91-0.95 of FA2's, co-me-tokens/CoMe issue #5, PyTorch 2.6 on H100; no H100 backward measurement
    found, so the kernel stays at FA2's rates; attention is 0.79 s of gpt-oss-20b's 8.75 s, its gap 1.29 s).

    Since 2026-12-07 (the am56 branch; before: +18.6 / +18.6 / -14.6 / -8.1 / -9.8 / -4.8 / -12.8 / -12.0 / +9.0%,
    median 12.0%, p90 18.6%, mean -1.8%), the combine the full recompute does not re-run (moe.rerun_combine_skip,
    ``COMBINE_UNSAVED``): ``ptd_checkpoint_wrapper``'s non-reentrant checkpoint stops its re-run at the last tensor
    the backward reads (torch's early stop, ``Stack.recompute_early_stop`` on for this stack), and in AutoModel's MoE
    block that is the unpermute's: the vendored flex dispatcher unpermutes before the combine
    (``MoEFlexTokenDispatcher.token_unpermutation``: ``combine_preprocess``, then ``combine_all_to_all``),
    ``FusedCombine.forward`` (components/moe/megatron/fused_a2a.py) keeps only ``ctx.handle`` / ``ctx.group``, and
    ``MoE.forward`` (components/moe/layers.py) returns ``(y + z).view(shape)`` (no saved tensor). So each re-run
    repeats the dispatch (with its CPU wait) and the experts, not the combine; Super's LatentMoE block re-runs it
    (``fc2_latent_proj`` reads and saves the combined rows). Exposed EP Nano 0.128 -> 0.085 s, DeepSeek-V3 1024
    3.12 -> 2.42, 256 0.73 -> 0.57, Kimi K2 0.53 -> 0.40, Qwen3 1.01 -> 0.84. Rows: +18.6 / +18.4 / -16.6 / -10.2 /
    -11.6 / -5.6 / -12.8 / -12.0 / +9.0%: median 12.0 -> 12.0%, p90 18.6 -> 18.4%, mean -1.8 -> -2.5%; no other
    source moves (no other stack re-runs a DeepEP block under early stop). Taken as what the code runs though four fast
    rows move 0.8-2.1 points further off; what they lack is elsewhere. Looked at on the same pass, not taken
    (docs/accuracy_log.md am56): the release split (2026 rows slow, 2025-10 rows fast) is not one GEMM rate -- with
    the H100 in-step GEMM fraction at 0.64 / 0.68 / 0.72 Llama 3 70B is +4.2 / -0.1 / -4.0% but the hybrids +13.5 /
    +9.2 / +5.4% and the 2025-10 MoE rows -8..-22%; and AutoModel's dense MLPs (DeepSeek-V3's three, Kimi K2's one)
    are TE ``Linear`` autograd Functions that save after their GEMM, so early stop does not skip their down
    projection as ``layer_ops.early_stop_skip`` prices (DeepSeek-V3 256 -10.2 -> -10.0%, 1024 and Kimi K2 unchanged:
    not the pacing stage; the Llama 3 70B row would go +9.0 -> +14.7% were its MLP TE's, but AutoModel's own Llama
    builds plain ``nn.Linear`` projections, which save before their GEMM; not changed)."""
    keep = set(pd.read_csv(AUTOMODEL_CSV).query("scored")["id"])
    out = pr2_rows(cat, path=AUTOMODEL_CSV)
    return out[out["scored"] & out["id"].isin(keep)].drop(columns=["scored"])


def pr2_group(r) -> str:
    """Rows that vary configurations of one model in one table (for the within-model Spearman);
    mbridge_all: one model on one GPU family across releases, precisions and layouts."""
    if r.id.startswith("mbridgeall_"):
        return "mbridgeall_{}_{}/{}".format(*r.id.split("_")[2:4], r.model)
    if r.id.startswith("automodel_"):  # one table, one GPU: a model's rows across layouts
        return f"automodel/{r.model}"
    m = re.match(r"(titan24_t\d|titan_doc_a100|titan_doc_405b|kor22_t5|nemo2407|mbridge\d+_\w+?_|mtnlg"
                 r"|dgxc_\d+_[a-z0-9.-]+_(?:bf16|fp8)|together_[a-z0-9.-]+_(?:bf16|fp8)|togetherbl_[a-z0-9.-]+_(?:bf16|fp8cs|mxfp8|nvfp4)|techrep_[a-z0-9.-]+)", r.id)
    return f"{m.group(1) if m else r.id}/{r.model}"


#: the Megatron-DeepSpeed rows whose launch script states DeepSpeed's ``partition_method`` (planner.model.pipeline
#: ``PARTITION_METHODS``): BLOOM-176B's tr11 launch passes ``--pp-partition-method 'type:transformer|embedding'``
#: (bigscience-workshop/bigscience train/tr11-176B-ml/tr11-176B-ml.slurm, GPT_ARGS), so the input embedding and the
#: tied head weigh one layer each: 70 + 2 specs over PP 12, 6 a stage, stage 0 holding the embedding and 5 layers,
#: stage 11 five layers and the head (the chronicles-prequel's "Layers+2 % PP = 0"). MT-NLG's partition is not
#: stated (GPT2ModelPipe's default "type:transformer"). The stages' layers go from (6 x 10, 5, 5) to (5, 6 x 10, 5):
#: the compute-pacing stages are 6-layer ones either way, but the stage heaviest in parameters (stage 0, the 250,880-row
#: embedding beside 6 layers, now 5) sets less unfused gradient accumulation, gradient all-reduce and parameter
#: all-gather. Mapped 2026-12-03: BLOOM 97.70 -> 96.92 s predicted (-7.0 -> -7.7%); no other row moves
PR2_PP_PARTITION = (("bloom", "type:transformer+embedding"),)


def pr2_options(r, stack: str) -> dict:
    """Stack options the row's source states (torchtitan: techniques column; NeMo/Megatron-Bridge
    recipes: TP overlap on; README §3)."""
    opts = {}
    notes = (str(r.notes) + " " + r.id).lower()
    if stack == "torchtitan":
        # async TP is a torch.compile pass: torchtitan refuses it eager ("Async TP requires torch.compile"),
        # so a row that ran it compiled (titan_doc_405b_128_float8_asynctp: llama3_405b.toml, compile on)
        opts["compile"] = ("compile" in notes) or ("asynctp" in notes)
        # the 2024 torchtitan of the titan24 tables wrapped blocks with ptd_checkpoint_wrapper(module,
        # preserve_rng_state=False), passing no early_stop: torch's default (on since pytorch#96866,
        # torch >= 2.1) applied. Today's torchtitan passes ActivationCheckpoint.early_stop, default
        # False (the stack's default); the docs rows (titan_doc_*) are taken at that default
        if r.id.startswith("titan24"):
            opts["recompute_early_stop"] = True
        # both tables ran torchtitan's 2024-25 Llama (models/llama/model.py: ``self.wq``, ``self.wk``, ``self.wv``
        # apart); 0.3 builds Llama 3 with one FusedQKVLinear (the stack's default): per-op SAC's every-second-mm
        # count runs over the three projections here (flops.op_sac_block_mms)
        opts["fused_qkv"] = False
        opts["tp_overlap"] = "async_tp" if "asynctp" in notes else "none"
        if "sac_layer" in notes or "selective (layer)" in str(r.recompute):
            opts["selective"] = "layer"
        if "fp8" in str(r.precision).lower():
            opts["fp8_recipe"] = "tensorwise"
        # FSDP2's float8 all-gather where the source states it (torchao's README torchtitan runs: "tensorwise with
        # float8 all-gather", parts/peak_memory.csv titan25_ao_*); the titan24 tables do not say (its default: off)
        if "float8 all-gather" in str(r.precision).lower():
            opts["fsdp_float8_all_gather"] = True
    elif stack == "megatron-core":
        # a source that states the TP overlap per row (dgxc_runs.csv ``tp_overlap``: the recipe's
        # ``ub_tp_comm_overlap``); published_runs_2.csv has no such column: the stack's default
        tpo = getattr(r, "tp_overlap", None)
        if isinstance(tpo, str) and tpo:
            opts["tp_overlap"] = tpo
        if pr2_low_precision(r):
            opts["fp8_recipe"] = pr2_low_precision(r)
            n16 = next((v for (mk, pk), v in MBRIDGE_BF16_LAYERS.items()
                        if mbridge_run(r) and mk in str(r.model).lower() and pk == pr2_prec_kind(r)), 0)
            if n16:
                opts["lp_bf16_layers"] = n16
            if mbridge_run(r) and any(mk in str(r.model).lower() for mk in MBRIDGE_BF16_MTP):
                opts["lp_bf16_mtp"] = True
            if mbridge_run(r) and any(mk in str(r.model).lower() and pk == pr2_prec_kind(r)
                                                  for mk, pk in MBRIDGE_NO_TP_OVERLAP):
                opts["tp_overlap"] = "none"
        moe = mbridge_at_release(mbridge_recipe(MBRIDGE_MOE_RECIPES, r), r)
        if moe:
            opts.update(moe)
        if mbridge_te_cross_entropy(r):
            opts["cross_entropy_fusion"] = "te"
        if pr2_tokendrop(r):
            opts.update(MBRIDGE_TOKENDROP[2])
        opts.update(mbridge_cuda_graphs(r))
        var = mbridge_variant(r)
        if var is not None:  # a layout variant of the recipe (MBRIDGE_LAYOUT_VARIANTS)
            opts.update(var["moe"])
            opts.update(var["cuda_graphs"])
        layout = mbridge_pp_layout(r)
        if layout is not None:  # the recipe's explicit --pipeline-model-parallel-layout (MBRIDGE_PP_LAYOUTS)
            opts["pp_layout"] = layout
        if mbridge_fused_mlp(r):
            opts["moe_fused_mlp"] = True
        if mbridge_shared_overlap(r, opts):
            opts["moe_shared_expert_overlap"] = True
        if nemo_cuda_graphs(r):
            opts["cuda_graph_impl"] = "local"
        opts.update(mbridge_precision_aware(r, opts))
        opts.update(nemo2_perf_script(r))
        if nemo1_apex_adam(r):  # NeMo 1.x's Apex DistributedFusedAdam keeps the master as 16-bit remainders
            opts["apex_param_remainders"] = True
        if nemo1_run(r):  # NeMo 1.x dispatches no aligned per-chunk parameter gather (``nemo1_run``)
            opts["align_param_gather"] = False
            opts["apex_param_sync"] = True
        if perf_script_opt_gather(r):
            opts["overlap_param_gather_with_optimizer_step"] = True
        # the row's sharding column names Megatron-FSDP (Megatron-Bridge 25.11 Llama 3 8B H100): its perf harness
        # (scripts/performance/utils/overrides.py _set_megatron_fsdp_overrides) sets data_parallel_sharding_strategy
        # "optim_grads_params", i.e. the row's ZeRO-3, as Megatron-FSDP (planner.model.stacks Stack.megatron_fsdp)
        if "megatron-fsdp" in str(r.zero_or_fsdp).lower():
            opts["megatron_fsdp"] = True
            off = mbridge_cpu_offload(r)
            if off:  # the recipe's activation offload (MBRIDGE_CPU_OFFLOAD), with its Megatron-FSDP
                opts.update(activation_offload=True, activation_offload_layers=off)
            if mbridge_fsdp_double_buffer(r):  # the recipe's fixed pool of two units (MBRIDGE_FSDP_DOUBLE_BUFFER)
                opts["mfsdp_double_buffer"] = True
        # the run's launcher disabled TE's cuDNN attention (the 2024 dgxc Nemotron-4 340B configure.sh @35a9aecc
        # sets NVTE_FUSED_ATTN=0; the row's notes quote it): TE runs flash-attn 2, as nemo_longseq's 24.03 rows
        if "nvte_fused_attn=0" in notes.replace(" ", ""):
            opts["attn_kernel"] = "fa2"
        # a config that turns Megatron-Core's grouped-GEMM experts off (h200_runs.csv: the A3 Ultra Mixtral recipe)
        if "moe_grouped_gemm false" in notes:
            opts["moe_grouped_gemm"] = False
    if stack == "megatron-deepspeed":
        # the launch's DeepSpeed PipelineModule partition method where its script states one (PR2_PP_PARTITION)
        method = next((v for k, v in PR2_PP_PARTITION if r.id.startswith(k)), None)
        if method is not None:
            opts["pp_partition_method"] = method
    if stack == "nemo-automodel" and _int(r.pp, 1) > 1:
        # AutoModel's loop runs the pipeline schedule once per gradient-accumulation step, over the local batch
        # (Stack.pp_pass_microbatches): local_batch_size / pp_microbatch_size micro-batches per run
        opts["pp_pass_microbatches"] = int(r.lbs_printed) // int(r.micro_batch)
    # a source that states the run's stack options per row ("k=v;k=v": automodel_runs.csv ``stack_options``)
    opts.update(open_reports_options(getattr(r, "stack_options", float("nan"))))
    return opts


#: The EP dispatcher and all-to-all overlap the Megatron-Bridge performance recipes set, per model
#: and GPU (NVIDIA-NeMo/Megatron-Bridge scripts/performance/configs/{qwen,deepseek,gpt_oss}/
#: *_workload_base_configs.py; ``moe_flex_dispatcher_backend`` selects the flex dispatcher through
#: training/flex_dispatcher_backend.py, available on Hopper and Blackwell): Qwen3-235B-A22B H100
#: all-to-all with ``moe_a2a_overlap=True``, B200 all-to-all without; DeepSeek-V3 H100 DeepEP with
#: overlap (the 2025 scripts/performance/configs/deepseek/deepseek_llm_pretrain.py H100 1024-GPU
#: configs: ``enable_deepep=True``, ``set_moe_a2a_overlap_overrides``), B200 HybridEP without;
#: Qwen3-30B-A3B HybridEP without overlap. Anything else: Megatron's all-to-all, no overlap (the
#: stack default).
#: The GB300 / GB200 / B300 entries (mbridge_all_runs.csv) are the workload configs at
#: deepseek_workload_base_configs.py @04264182, qwen3_workload_base_configs.py @01b2977e and
#: gpt_oss_workload_base_configs.py @07eea52d (the 2026 files; earlier releases ran earlier versions
#: of them, not read): DeepSeek-V3 ``DEEPSEEK_V3_PRETRAIN_CONFIG_{GB300,GB200,B300}``: hybridep, and
#: ``moe_a2a_overlap=True`` in the FP8_MX variants (BF16: False; GB300 FP8_MX from PR #3983, the micro-batch-2 rows
#: before it: ``MBRIDGE_LAYOUT_VARIANTS``); Qwen3-235B GB300/GB200 hybridep, B300
#: ``moe_token_dispatcher_type="alltoall"``, no overlap; Qwen3-30B GB300/GB200/B300 hybridep, no
#: overlap; GPT-OSS 120B V2 (GBS 1280, the tables' batch from 26.02 on): BF16 GB300 the default
#: dispatcher, GB200 ``moe_a2a_overlap=True``, B300 hybridep; FP8_MX on all three hybridep with
#: ``moe_a2a_overlap=True`` (and ``cutedsl_fused_grouped_mlp=True``: ``MBRIDGE_FUSED_MLP``) -- on B300 a config later
#: than the 26.06 table's, which ran the BF16 V2 alias (the entry below).
#: Release-stepped entries (a list, ``mbridge_at_release``) where a public PR changed the recipe between the tables'
#: releases: Qwen3-30B B200 (PR #2499), Qwen3-235B B300 (PR #3490), GPT-OSS B300 BF16 (PR #2600, EP 64 -> 8).
#: Layout-dependent variants (B200 DeepSeek-V3 FP8_MX V2, PP8 VP2 EP32: DeepEP with overlap) are told apart by
#: their layout: ``MBRIDGE_LAYOUT_VARIANTS``.
#: Kimi K2 GB300 (kimi/kimi_workload_base_configs.py @013180a7 ``KIMI_K2_PRETRAIN_CONFIG_GB300``): hybridep,
#: ``moe_a2a_overlap=False``, micro-batch 2, ``recompute_modules=["mla_up_proj"]``; the tables' MXFP8 rows
#: print micro-batch 2, i.e. this base config (that file's later FP8_MX override -- micro-batch 1, a2a
#: overlap, full-iteration CUDA graphs, fused grouped MLP -- is not what they ran; inferred). Its recipe
#: (kimi/kimi_llm_pretrain.py ``set_kimi_k2_common_configs``) reduces gradients in bf16 and trains with
#: ``dist_muon`` (the rows' notes: planner.model.optimizers).
#: Qwen3-30B-A3B B200 changed with the recipe (Megatron-Bridge PR #2499, 2026-02-23, "Fix Qwen3 30B A3B B200 perf
#: config to use hybridep+flex dispatcher"; first in the 26.02.01 tables, whose DGX-B200 row prints micro-batch 4):
#: before it ``qwen3_30b_a3b_pretrain_config_b200()`` hard-coded ``moe_token_dispatcher_type="alltoall"`` (which turns
#: the flex backend off), left ``micro_batch_size`` unset (the 25.11 / 26.02 tables print 1) and captured TE graphs of
#: ``["moe_router", "moe_preprocess"]`` only (``"attn"`` missing: ``MBRIDGE_CUDA_GRAPHS``); the PR sets flex + hybridep,
#: micro-batch 4 and adds ``"attn"``, measured 223 -> ~555 TFLOP/s per GPU FP8-MX (~546 BF16) on 8 x B200. So the
#: 25.11 / 26.02 DGX-B200 rows and Together's 26.02.00 BF16 run of the same config (together_b200_baselines.csv) ran
#: the NCCL all-to-all dispatcher. An entry may be such a list of (first release, settings), as ``MBRIDGE_CUDA_GRAPHS``
#: (``mbridge_at_release``).
#: All of these recipes set ``expert_tensor_parallel_size=1`` (``MBRIDGE_ETP``).
MBRIDGE_MOE_RECIPES = {
    ("qwen3-235b", "H100"): dict(moe_dispatcher="alltoall", moe_a2a_overlap=True),
    ("qwen3-235b", "B200"): dict(moe_dispatcher="alltoall", moe_a2a_overlap=False),
    ("deepseek-v3", "H100"): dict(moe_dispatcher="deepep", moe_a2a_overlap=True),
    ("deepseek-v3", "B200"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    ("qwen3-30b", "H100"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    ("qwen3-30b", "B200"): [((0,), dict(moe_dispatcher="alltoall", moe_a2a_overlap=False)),
                            ((26, 2, 1), dict(moe_dispatcher="hybridep", moe_a2a_overlap=False))],
    ("qwen3-235b", "GB300"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    ("qwen3-235b", "GB200"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    # Qwen3-235B B300 per release (b300map43): the all-to-all until 26.04 (qwen3_llm_pretrain.py's
    # ``qwen3_235b_a22b_pretrain_config_b300`` hard-coded ``moe_token_dispatcher_type = "alltoall"``), HybridEP from
    # 26.04.01 (PR #3490, "Use HybridEP flex dispatcher for Qwen3 235B B300 perf configs", tracked by issue #3399,
    # labelled 26.04.01: "On B300, we moved to hybridep as it helped boosted perf but moe_a2a_overlap and VP degraded
    # perf, so we didn't enable it"; the tables' B300 row 4,865 -> 5,936 tokens/s, 26.04 -> 26.04.01, same layout)
    # Not taken: the all-to-all overlap the 26.02 / 26.02.01 rows (VP 4) ran before PR #2669 ("disabling VP and
    # moe_a2a_overlap"), as the 25.11 B200 row before PR #1760 ("due to CPU overhead"): the planner prices the overlap
    # as pure hiding, with no host cost (docs/accuracy_log.md b300map43)
    ("qwen3-235b", "B300"): [((0,), dict(moe_dispatcher="alltoall", moe_a2a_overlap=False)),
                             ((26, 4, 1), dict(moe_dispatcher="hybridep", moe_a2a_overlap=False))],
    ("qwen3-30b", "GB300"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    ("qwen3-30b", "GB200"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    ("qwen3-30b", "B300"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    ("deepseek-v3", "GB300"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=True),
    ("deepseek-v3", "GB300", "bf16"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    ("deepseek-v3", "GB200"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=True),
    ("deepseek-v3", "GB200", "bf16"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    ("deepseek-v3", "B300"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=True),
    ("gpt-oss", "GB300", "bf16"): dict(moe_dispatcher="alltoall", moe_a2a_overlap=False),
    ("gpt-oss", "GB200", "bf16"): dict(moe_dispatcher="alltoall", moe_a2a_overlap=True),
    # GPT-OSS B300 BF16 per release (b300map43): the 26.02 row prints EP 64, the V2 config before B300 took EP 8
    # with HybridEP (gpt_oss_workload_base_configs.py ``GPT_OSS_120B_PRETRAIN_CONFIG_B300_BF16_V2``: both in one
    # ``replace``), and the GPT-OSS pretrain configs only call ``apply_flex_dispatcher_backend`` since PR #2600
    # (2026-02-28, "enabling future switch from alltoall to flex dispatcher"): the all-to-all; from 26.02.01 (EP 8)
    # HybridEP
    ("gpt-oss", "B300", "bf16"): [((0,), dict(moe_dispatcher="alltoall", moe_a2a_overlap=False)),
                                  ((26, 2, 1), dict(moe_dispatcher="hybridep", moe_a2a_overlap=False))],
    ("gpt-oss", "GB300", "mxfp8"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=True),
    ("gpt-oss", "GB200", "mxfp8"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=True),
    # B300 FP8_MX at 26.06 is the BF16 V2 config (``GPT_OSS_120B_PRETRAIN_CONFIG_B300_FP8_MX_V2 = ..._B300_BF16_V2``
    # at @7e5c47ff, the snapshot that carries the 26.06 table; PR #4173, 2026-06-05, gave GB200 / GB300 alone the
    # full-iteration graphs, a2a overlap and fused MLP): HybridEP without overlap; @07eea52d's own B300 FP8_MX config
    # (a2a overlap, fused grouped MLP) came later, for no row of the tables (b300map43)
    ("gpt-oss", "B300", "mxfp8"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    ("kimi k2", "GB300"): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False),
    # Nemotron 3 (Megatron-Bridge scripts/performance/configs/nemotronh/nemotron_3_workload_base_configs.py, the
    # revision whose layout (TP, EP, micro-batch, GBS, GPUs) is the row's, ``MBRIDGE_NEMOTRON3_REVISIONS``):
    # moe_flex_dispatcher_backend="hybridep" in every Nano / Super config of every matching revision (Nano
    # ``BASE_NEMOTRON_3_NANO_CONFIG`` @e6015aa8 (nanz-nv, the 26.02.01 tables' snapshot) .. @d063066b (radixark, 26.04);
    # Super ``BASE_NEMOTRON_3_SUPER_CONFIG`` @d063066b, @f601ba97, B300 EP8 included: the B300 "deepep" of @06e8da4e
    # came with EP 64, not the tables' EP 8); no all-to-all overlap anywhere (no moe_a2a_overlap in any revision)
    **{("nemotron 3 nano", k): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False)
       for k in ("H100", "B200", "B300", "GB200", "GB300")},
    **{("nemotron 3 super", k): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False)
       for k in ("B200", "B300", "GB200", "GB300")},
    # Nemotron 3.5 Lightning (src/megatron/bridge/perf_recipes/nemotronh/{gb200,gb300}/nemotronh.py @020041f0 /
    # @007282ea: ``nemotron_3_5_lightning_pretrain_8gpu_*_fp8mx_config`` builds on the Nano MXFP8 config, hybridep;
    # that GB300 revision then switches to NCCL EP (``_enable_ncclep``), a revision of unknown date: not taken)
    **{("nemotron 3.5 lightning", k): dict(moe_dispatcher="hybridep", moe_a2a_overlap=False)
       for k in ("GB200", "GB300")},
}
MBRIDGE_ETP = 1
#: Transformer layers the Megatron-Bridge performance recipes keep in BF16 under the fp8/fp4 recipe
#: (``first_last_layers_bf16``: ``num_layers_at_start_in_bf16`` + ``num_layers_at_end_in_bf16``;
#: planner.model.stacks ``Stack.lp_bf16_layers``), per (model, precision). Nemotron 3 Super NVFP4:
#: ``nemotron_3_super_bf16_with_nvfp4_mixed`` (src/megatron/bridge/training/mixed_precision.py: the last
#: 14 of 88 layers), the precision of recipes/nemotronh/nemotron_3_super.py, of the performance script
#: scripts/performance/configs/nemotronh/nemotron_3_llm_pretrain.py ``set_nemotron_3_super_common_configs``
#: (revision with the VR200 configs: "restores model recipe fields" for NVFP4, with te_quant.cfg; an earlier
#: revision, @13d58bbe, left ``get_precision_config("nvfp4")`` in place, i.e. none) and of the perf recipes'
#: ``_nemotron_3_super_precision("nvfp4")`` (perf_recipes/nemotronh). The other presets the performance
#: scripts take (scripts/performance/utils/precision.py ``get_precision_config``: ``bf16_with_nvfp4_mixed``,
#: ``bf16_with_mxfp8_mixed``, FP8-CS with ``first_last_layers_bf16 = False``) keep none.
#: (Keyed as the end count, ``lp_bf16_layers``: the Super preset keeps no first layers, so ``--num-layers-at-start-in-
#: bf16 0``.) No other row sets the switch, checked 2026-12-03 when the first layers became an option
#: (``Stack.lp_bf16_first_layers``, ``first_last_layers_bf16``): Megatron-Bridge's
#: ``bf16_with_fp8_current_scaling_mixed`` keeps 1 + 1, ``nemotron_h_bf16_with_fp8_current_scaling_mixed`` 2 + 2 and
#: ``NemotronHModelProvider`` sets ``first_last_layers_bf16 = True``, but the performance scripts' FP8-CS precision
#: turns it off
#: (scripts/performance/utils/precision.py ``get_precision_config("fp8_cs")``: "Disable BF16 Transformer layers in the
#: performance config"; ``MixedPrecisionConfig.setup`` writes that False over the provider's True), and NeMo 2's
#: performance helpers do the same for ``cs`` (scripts/performance/helpers.py: "disable first/last layer bf16 for
#: benchmarking") -- the dgxc, NeMo 2 and Together Nemotron-H 56B FP8-CS rows. Were it on, Together's Nemotron-H 56B
#: rows (64 / 256 / 512 GPUs, now +25.0 / +23.0 / +18.2%) would read 6.585 -> 6.632 s with 1 + 1 and 6.679 s with
#: 2 + 2 (+0.7 / +1.4%; the kept blocks priced as their kinds, step_time.kept_layer_kinds, since 2026-12-04: as mean
#: layers 6.628 / 6.672 s), further from the measured 5.27 / 5.36 / 5.58 s.
MBRIDGE_BF16_LAYERS = {("nemotron 3 super", "nvfp4"): 14}
#: models whose Megatron-Bridge recipe keeps the MTP module in BF16 under any fp8/fp4 recipe
#: (``cfg.model.keep_mtp_spec_in_bf16 = True``: recipes/nemotronh/nemotron_3_super.py, which the performance
#: scripts start from in every precision; planner.model.stacks ``Stack.lp_bf16_mtp``)
MBRIDGE_BF16_MTP = ("nemotron 3 super", "nemotron 3.5 lightning")
# (Nemotron 3.5 Lightning: ``cfg.model.keep_mtp_spec_in_bf16 = True`` in every Lightning perf recipe,
# src/megatron/bridge/perf_recipes/nemotronh/gb200/nemotronh.py @020041f0 and gb300/nemotronh.py @007282ea
# ``nemotron_3_5_lightning_pretrain_8gpu_*_config``, and b200/nemotronh.py ``_apply_nemotron_3_5_lightning_defaults``)
#: (model, precision) whose Megatron-Bridge performance configs turn the TP communication overlap off:
#: ``cfg.comm_overlap.tp_comm_overlap = False if precision == "nvfp4" else ...`` in every GPU's config of
#: scripts/performance/configs/llama/llama3_llm_pretrain.py (Llama 3 8B / 70B), llama31_llm_pretrain.py
#: (Llama 3.1 405B) and gpt_oss/gpt_oss_llm_pretrain.py: NVFP4 runs the TP collectives without TE
#: userbuffers (Megatron-Core still overlaps the column linears' backward ones)
MBRIDGE_NO_TP_OVERLAP = (("llama", "nvfp4"), ("gpt-oss", "nvfp4"))
#: Megatron-Core activation offload (``cpu_offloading_num_layers``: planner.model.stacks
#: ``Stack.activation_offload_layers``) the Megatron-Bridge Llama performance recipes set with their
#: Megatron-FSDP, per (model, GPU family, precision): Llama 3 70B from
#: scripts/performance/configs/llama/llama3_workload_base_configs.py @d063066b (radixark/Megatron-Bridge, the commit
#: validate's Together mapping reads; V1 and V2 the same): B200 FP8-CS 5, GB200 BF16 20 / FP8-CS 40, GB300 BF16 30 /
#: FP8-CS 20; B300 and the MXFP8 / NVFP4 configs (pipelined, no Megatron-FSDP) none. Llama 3.1 405B (bigmem37) from
#: llama31_workload_base_configs.py @3d277f69 (NVIDIA-NeMo/Megatron-Bridge), the V1 (128 GPUs, GBS 64, TP 2,
#: ``use_megatron_fsdp=True``) configs: GB300 BF16 40 / FP8-CS 10, GB200 FP8-CS 92; the V2 configs (256 GPUs) turn
#: Megatron-FSDP and the offload off. Without it the 405B TP 2 Megatron-FSDP rows needed 288.6 GiB (GB200: 173.0);
#: with it 126.0 (GB200) and 274.1 (GB300). Applied to rows that ran Megatron-FSDP (``pr2_options``), at pp 1
#: (Megatron-Core refuses offload with a pipeline)
MBRIDGE_CPU_OFFLOAD = {("70b", "B200", "tensorwise"): 5, ("70b", "GB200", "bf16"): 20,
                       ("70b", "GB200", "tensorwise"): 40, ("70b", "GB300", "bf16"): 30,
                       ("70b", "GB300", "tensorwise"): 20,
                       ("405b", "GB300", "bf16"): 40, ("405b", "GB300", "tensorwise"): 10,
                       ("405b", "GB200", "tensorwise"): 92}


#: Megatron-Core's precision-aware optimizer (planner.model.optimizers ``PrecisionAware``) in the Megatron-Bridge
#: performance runs: scripts/performance/utils/overrides.py ``set_post_overrides`` (and the first run_script.py before
#: it): ``if compute_dtype == "bf16": recipe.optimizer.use_precision_aware_optimizer = True`` -- every BF16 run, at the
#: dtypes its model recipe sets (OptimizerConfig's fp32 unless listed here); a Megatron-FSDP run has it turned off
#: (``_set_megatron_fsdp_overrides``: "cannot work with FSDP together"), a Muon run takes the layer-wise optimizer.
#: The DeepSeek-V3 recipe sets it in every precision, with bf16 moments (src/megatron/bridge/recipes/deepseek/
#: deepseek_v3.py ``_deepseek_v3_common``: ``use_precision_aware_optimizer = True``, ``main_params_dtype = float32``,
#: ``main_grads_dtype = bfloat16``, ``exp_avg_dtype = exp_avg_sq_dtype = bfloat16``; the performance configs
#: scripts/performance/configs/deepseek/deepseek_llm_pretrain.py start from it). The Qwen3 MoE recipe sets fp32
#: (recipes/qwen/qwen3_moe.py ``use_precision_aware_optimizer = False``, all four dtypes float32), as do Kimi K2
#: (recipes/kimi/kimi_k2.py @ab72e27b, with Muon), gpt-oss (recipes/gpt_oss/gpt_oss.py @db2bfddc) and Nemotron 3 Nano
#: (recipes/nemotronh/nemotron_3_nano.py @5f26deb4) (recipes37); the other models' recipes (Nemotron 3 Super
#: @aee96ee6: silent) are taken at the OptimizerConfig default, fp32.
MBRIDGE_PA_DTYPES = {"deepseek-v3": dict(exp_avg_dtype="bf16", exp_avg_sq_dtype="bf16")}


def mbridge_precision_aware(r, opts: dict) -> dict:
    """The precision-aware optimizer options of a Megatron-Bridge run ``r`` (``MBRIDGE_PA_DTYPES``), {} where it ran
    without (not a Megatron-Bridge run, Megatron-FSDP, Muon, or neither BF16 nor a recipe that sets it)."""
    if not mbridge_run(r) or opts.get("megatron_fsdp") or "muon optimizer" in str(r.notes).lower():
        return {}
    dtypes = next((v for k, v in MBRIDGE_PA_DTYPES.items() if k in str(r.model).lower()), None)
    if dtypes is None and pr2_prec_kind(r) != "bf16":
        return {}
    return dict(precision_aware_optimizer=True, **(dtypes or {}))


#: The Megatron-Bridge recipes whose model config sets ``cross_entropy_fusion_impl = "te"`` (with
#: ``cross_entropy_loss_fusion = True``), which the performance scripts build on: src/megatron/bridge/recipes/llama/
#: llama3.py ``_llama3_common`` (``model_cfg.cross_entropy_fusion_impl = "te"``; every Llama 3 / 3.1 / 3.2 pretrain
#: config goes through it) and recipes/qwen/qwen3_moe.py @2afd2d34 ``qwen3_30b_a3b_pretrain_config`` /
#: ``qwen3_235b_a22b_pretrain_config`` ("Kernel selections"); recipes/deepseek/deepseek_v3.py @355cef45
#: ``deepseek_v3_pretrain_config`` / ``_32nodes`` (``cross_entropy_fusion_impl = "te"  # Default from
#: DeepSeekModelProvider``: models/deepseek/deepseek_provider.py ``cross_entropy_fusion_impl: str = "te"``, so the
#: earlier kwargs recipe @05d003fb, which does not set it, runs te too); recipes/kimi/kimi_k2.py @ab72e27b
#: ``kimi_k2_pretrain_config`` (``cross_entropy_fusion_impl = "te"``). The other models keep Megatron-Core's native
#: fused loss, the stack's default, where the recipe states it (GPT-3 175B's recipe: ``cross_entropy_fusion_impl =
#: "native"  # GPT uses native``; recipes/gpt_oss/gpt_oss.py @db2bfddc ``gpt_oss_120b_pretrain_config``:
#: ``cross_entropy_fusion_impl = "native"  # GPT-OSS uses native``; recipes/nemotronh/nemotron_3_nano.py @5f26deb4
#: ``nemotron_3_nano_pretrain_config``: ``"native"``) or is silent (nemotron_3_super.py @aee96ee6 sets neither, its
#: provider's default not read; Nemotron-H, Nemotron-4 not read): the row is left at the stack's default (recipes37)
MBRIDGE_TE_CE_MODELS = re.compile(r"llama[ -]?3|qwen3-(30b|235b)|deepseek-v3|kimi k2")


def mbridge_te_cross_entropy(r) -> bool:
    """Row ``r`` ran a Megatron-Bridge recipe that runs TE's cross-entropy (``MBRIDGE_TE_CE_MODELS``)."""
    return mbridge_run(r) and bool(MBRIDGE_TE_CE_MODELS.search(str(r.model).lower()))


#: NeMo 2's performance scripts, which the dgxc NeMo 2 rows run (dgxc-benchmarking llama3.1 / nemotron launch.sh:
#: ``FW_VERSION=25.04.0x``, ``python -m scripts.performance.llm.pretrain_<model>``), build every run through
#: scripts/performance/helpers.py ``set_primary_perf_configs``, which sets, whatever the model and GPU:
#: ``recipe.model.config.cross_entropy_fusion_impl = "te"`` ("enable cross entropy fusion with TE kernel"; the
#: recipes' GPTConfig already sets ``cross_entropy_loss_fusion = True``, nemo/collections/llm/gpt/model/base.py) and,
#: ``if compute_dtype.lower() == "bf16"``, ``recipe.optim.config.use_precision_aware_optimizer = True`` at
#: OptimizerConfig's fp32 dtypes (the fp8 branch instead sets ``grad_reduce_in_fp32 = False``, which the rows' notes
#: quote: ``BF16_GRAD_REDUCE_NOTE``). Read in the helpers.py revisions stored whose ``set_primary_perf_configs`` takes
#: the ``compute_dtype`` / ``fp8_recipe`` the 25.04 launch passes (the inline one, and @02a0e6a5's
#: ``set_perf_optimization_configs`` / ``set_precision_configs``); the r2.3.0 commit the container names (00b778eb)
#: is not in the index, so the two settings are taken from the neighbouring revisions (NVIDIA/cloudai PR #500,
#: 2025-04-22, adds the same bf16 ``use_precision_aware_optimizer = True`` to its NeMo 2 perf-recipe tests for H100 /
#: B200 / GB200; its cloudai_nemorun.py ``cloudai_llama3_405b_recipe`` sets TE's loss and the precision-aware optimizer
#: too). The NeMo-Launcher (NeMo 1.x) rows of the same table do not go through these scripts (their configs set
#: ``cross_entropy_loss_fusion: true``, Megatron-Core's native fused loss: the stack's default) (nemo2map38).
NEMO2_PERF_SCRIPT_NOTE = "(NeMo 2"


def nemo2_perf_script(r) -> dict:
    """The options NeMo 2's performance-script helpers set on a dgxc NeMo 2 row ``r`` (``NEMO2_PERF_SCRIPT_NOTE``:
    TE's cross-entropy always, the precision-aware optimizer under bf16), {} for any other row."""
    if not (str(r.id).startswith("dgxc_") and NEMO2_PERF_SCRIPT_NOTE in str(getattr(r, "container", ""))):
        return {}
    opts = dict(cross_entropy_fusion="te")
    if pr2_low_precision(r) is None:
        opts["precision_aware_optimizer"] = True
    return opts


def nemo1_apex_adam(r) -> bool:
    """Row ``r`` ran NeMo 1.x (the NeMo-Framework-Launcher's configs) with ``optim distributed_fused_adam`` as its
    notes quote the config: Apex's DistributedFusedAdam, whose master NeMo keeps as the bf16 parameters' 16-bit
    remainders (``Stack.apex_param_remainders``). The launcher's Llama 3.1 8B and Nemotron-4 15B configs name
    ``mcore_distributed_optim`` (Megatron-Core's optimizer, a whole fp32 master) and stay as they are."""
    container = str(getattr(r, "container", "")).lower()
    launcher = "launcher" in container and "nemo 2" not in container
    return launcher and "optim distributed_fused_adam" in str(getattr(r, "notes", "")).lower()


#: what names a NeMo 1.x run: the NeMo-Framework-Launcher's containers (dgxc_runs.csv 24.09 / 24.12: "NeMo Launcher";
#: NeMo 2 rows say "NeMo 2") and NeMo's 24.07 performance summary (published_runs_2.csv ``nemo2407`` rows' source)
NEMO1_MARKS = ("nemo launcher", "nemo 24.07 container")


def nemo1_run(r) -> bool:
    """Row ``r`` ran NeMo 1.x (``NEMO1_MARKS``), whose model runs without Megatron-Core's aligned per-chunk parameter
    all-gather (``Stack.align_param_gather``): NeMo 1.x's megatron_gpt_model.py ``fwd_bwd_step`` sets
    ``param_sync_func`` to the chunks' ``start_param_sync`` only under ``optim.overlap_param_sync`` and
    ``optim.align_param_gather``, default False, on its Megatron-Core optimizer path, and to Apex's
    ``sync_overlap_parameters`` on its DistributedFusedAdam path, whose ``_start_bucket_param_sync`` first waits on
    any gather in flight (Apex distributed_fused_adam.py ``_finish_bucket_param_sync``): not Megatron-Core's
    dispatch, left at the one-forward window (``pipeline.exposed_dp_comm``). NeMo 2 / Megatron-Bridge set the flag
    (``CommOverlapConfig._get_optimizer_overlap_cfgs``), Megatron-LM's CLI defaults to it."""
    text = f"{getattr(r, 'container', '')} {getattr(r, 'source', '')}".lower()
    return any(k in text for k in NEMO1_MARKS)


def perf_script_opt_gather(r) -> bool:
    """Row ``r`` ran NVIDIA's NeMo 2 / Megatron-Bridge performance harness at DP > 1, PP > 1 and VP > 1, which sets
    Megatron-Core's ``overlap_param_gather_with_optimizer_step`` (``Stack.overlap_param_gather_with_optimizer_step``,
    off in both libraries' defaults since their 2025 releases: nemo58): NeMo 2's scripts/performance helpers
    (``set_primary_perf_configs``: "recipe.trainer.callbacks[comm_overlap_callback_idx].
    overlap_param_gather_with_optimizer_step = bool(dp_size > 1 and pp_size > 1 and vp_size and vp_size > 1)", which
    the ``MegatronCommOverlapCallback`` takes over its own default) and Megatron-Bridge
    scripts/performance/utils/overrides.py ``set_user_overrides`` ("if dp > 1 and pp > 1 and vp > 1:
    recipe.optimizer.overlap_param_gather_with_optimizer_step = True"; removed from the perf benchmarks by PR #5847,
    2026-08-27, r0.6.0 by #5999: the 26.08.01 tables' rows are taken to predate it). A NeMo 2 row says "NeMo 2" in
    its container; a Megatron-Bridge row is ``mbridge_run``'s. Later Megatron-Bridge recipes
    (megatron/bridge/perf_recipes) set it per recipe and skip MXFP8 / NVFP4 ones: not what the releases of these rows
    ran, taken as the overrides rule."""
    nemo2 = re.search(r"\bnemo 2\b", str(getattr(r, "container", "")).lower()) is not None  # (not "NeMo 24.07")
    dp, pp, vpp = (pd.to_numeric(getattr(r, k, 1), errors="coerce") for k in ("dp", "pp", "vpp"))
    layout = all(x == x and x > 1 for x in (dp, pp, vpp))  # (NaN: not stated, no interleaving)
    return layout and (nemo2 or mbridge_run(r)) and not nemo1_run(r)


#: The Megatron-Bridge performance configs that turn Megatron-FSDP's double buffer on with it (``Stack.mfsdp_double_buffer``:
#: the gathered weights and unsharded gradients from a fixed pool of two units each), per model size and GPU family:
#: scripts/performance/configs/llama/llama3_llm_pretrain.py (read at 2a0d46e2) ``llama3_70b_pretrain_config_{gb300,
#: gb200,b300,b200}``: ``if cfg.ddp.use_megatron_fsdp: cfg.ddp.fsdp_double_buffer = True`` (the H100 function does
#: not), llama31_llm_pretrain.py (read at 0013c9a8) ``llama31_405b_pretrain_config_{gb300,gb200}`` the same (B300 /
#: B200 / H100 not). Earlier versions are taken to set what the versions read set (as ``MBRIDGE_CPU_OFFLOAD``)
MBRIDGE_FSDP_DOUBLE_BUFFER = {"70b": ("GB300", "GB200", "B300", "B200"), "405b": ("GB300", "GB200")}


def mbridge_fsdp_double_buffer(r) -> bool:
    """Row ``r`` ran a Megatron-Bridge Llama config that sets ``fsdp_double_buffer`` with Megatron-FSDP
    (``MBRIDGE_FSDP_DOUBLE_BUFFER``); the caller applies it to Megatron-FSDP rows only."""
    name = str(r.model).lower()
    if not (mbridge_run(r) and "llama" in name):
        return False
    size = next((k for k in ("70b", "405b") if k in name), None)
    return pr2_gpu_kind(r) in MBRIDGE_FSDP_DOUBLE_BUFFER.get(size, ())


def mbridge_cpu_offload(r) -> int | None:
    """The layers a Megatron-Bridge Llama Megatron-FSDP row offloads (``MBRIDGE_CPU_OFFLOAD``), or None."""
    name = str(r.model).lower()
    if not (mbridge_run(r) and "llama" in name and _int(r.pp, 1) == 1):
        return None
    size = next((k for k in ("70b", "405b") if k in name), None)
    return MBRIDGE_CPU_OFFLOAD.get((size, pr2_gpu_kind(r), pr2_prec_kind(r)))
#: The CUDA graphs the Megatron-Bridge performance recipes capture (Megatron-Core ``cuda_graph_impl`` /
#: ``cuda_graph_scope``, planner.model.stacks ``cuda_graph_parts``), per (model, GPU[, precision]) key as
#: ``MBRIDGE_MOE_RECIPES``, as a list of (first release, settings): the last entry at or before the row's release
#: applies; rows before the first entry run the stack default (none). Read from the workload configs:
#: qwen3_workload_base_configs.py @01b2977e (no full-iteration graphs yet, so before Megatron-Bridge PR #4249 of
#: 26.06): Qwen3-30B GB300 / B300 / GB200 FP8-MX / H100 BF16 TE ``["moe_router", "moe_preprocess"]``, GB200 BF16 /
#: FP8-CS and B200 TE ``["attn", "moe_router", "moe_preprocess"]``, H100 FP8-CS none; Qwen3-235B GB300 V1 (64 GPUs)
#: TE ``["moe_router", "moe_preprocess"]``, V2 (256 GPUs) and GB200 TE ``["attn", "moe_router", "moe_preprocess"]``,
#: B300 / B200 / H100 none; from 26.06 the Qwen3 GB200 / GB300 MXFP8 recipes capture the full iteration (PR #4249
#: "Enable Qwen3 GB200/GB300/GB300 MXFP8 CuTeDSL Fusion and Full-Iter CUDA Graphs for 26.06": sync-free HybridEP,
#: ``set_full_iter_cg_configs``). gpt_oss_workload_base_configs.py @07eea52d: GPT-OSS 120B GB300 and B300 BF16 TE
#: ``["attn", "moe_router", "moe_preprocess"]``, GB200 / B200 / H100 none, GB300 and GB200 FP8-MX V2 (the tables'
#: MXFP8 rows, 26.06 on) ``cuda_graph_impl="full_iteration"`` (the later Megatron-Core name of local + full_iteration,
#: Megatron-LM PR #4292), B300 FP8-MX none (commented out). deepseek_workload_base_configs.py @04264182: DeepSeek-V3
#: GB300 none (``cuda_graph_scope=[]`` without an impl), GB300 BF16, GB200 and B300 TE
#: ``["attn", "moe_router", "moe_preprocess"]``, B200 / H100 none; FP8-MX on GB300 (PR #3983, 2026-05-27), GB200 and
#: B300 full iteration, taken from 26.06 (the file is a 26.06-or-later version; when GB200's and B300's came in is not
#: determined); B300's TE graphs only from 26.04.01 (PR #3549, below). llama3_workload_base_configs.py @00919dcf: Llama 3 8B GB300 / GB200 / B300 / B200 BF16, FP8-CS and
#: FP8-MX ``cuda_graph_impl="local", cuda_graph_scope="full_iteration"``, NVFP4 and H100 none; Llama 3 70B B200 BF16
#: the same, the rest none. Not determined, so left at the default (none): every 25.09 row (its recipes predate the
#: workload configs read here) and Llama 3.1 405B (llama31_workload_base_configs.py not read); the B200 DeepSeek-V3
#: FP8-MX V2 layout (TE-scoped with DeepEP) is in ``MBRIDGE_LAYOUT_VARIANTS``. Earlier versions of these files
#: (25.11 to 26.04.01) are taken to set what the version read sets, but for Qwen3-30B B200: before Megatron-Bridge
#: PR #2499 (first in 26.02.01) its scope lacked ``"attn"`` (``MBRIDGE_MOE_RECIPES``), and DeepSeek-V3 B300, which
#: captured none before PR #3549 (26.04.01); GPT-OSS B300 FP8-MX at 26.06 is its BF16 V2 config's TE scope.
_TE = "transformer_engine"
_CG_ROUTER = dict(cuda_graph_impl=_TE, cuda_graph_scope=("moe_router", "moe_preprocess"))
_CG_ATTN_ROUTER = dict(cuda_graph_impl=_TE, cuda_graph_scope=("attn", "moe_router", "moe_preprocess"))
_CG_FULL = dict(cuda_graph_impl="local", cuda_graph_scope=("full_iteration",))
_CG_NONE = dict(cuda_graph_impl="none", cuda_graph_scope=())
_R2511, _R2602, _R260401, _R2606 = (25, 11), (26, 2), (26, 4, 1), (26, 6)
_CG_ATTN_MAMBA_ROUTER = dict(cuda_graph_impl=_TE, cuda_graph_scope=("attn", "mamba", "moe_router", "moe_preprocess"))
MBRIDGE_CUDA_GRAPHS = {
    ("qwen3-30b", "GB300"): [(_R2511, _CG_ROUTER)],
    ("qwen3-30b", "GB300", "mxfp8"): [(_R2511, _CG_ROUTER), (_R2606, _CG_FULL)],
    ("qwen3-30b", "GB200"): [(_R2511, _CG_ATTN_ROUTER)],
    ("qwen3-30b", "GB200", "mxfp8"): [(_R2511, _CG_ROUTER), (_R2606, _CG_FULL)],
    ("qwen3-30b", "B300"): [(_R2511, _CG_ROUTER)],
    ("qwen3-30b", "B200"): [(_R2511, _CG_ROUTER), ((26, 2, 1), _CG_ATTN_ROUTER)],  # "attn" from PR #2499
    ("qwen3-30b", "H100", "bf16"): [(_R2511, _CG_ROUTER)],
    ("qwen3-235b", "GB300"): [(_R2511, lambda r: _CG_ROUTER if int(r.num_gpus) <= 64 else _CG_ATTN_ROUTER)],
    ("qwen3-235b", "GB300", "mxfp8"): [(_R2511, lambda r: _CG_ROUTER if int(r.num_gpus) <= 64 else _CG_ATTN_ROUTER),
                                       (_R2606, _CG_FULL)],
    ("qwen3-235b", "GB200"): [(_R2511, _CG_ATTN_ROUTER)],
    ("qwen3-235b", "GB200", "mxfp8"): [(_R2511, _CG_ATTN_ROUTER), (_R2606, _CG_FULL)],
    ("gpt-oss", "GB300"): [(_R2511, _CG_ATTN_ROUTER)],
    ("gpt-oss", "GB300", "mxfp8"): [(_R2511, _CG_FULL)],
    ("gpt-oss", "GB200", "mxfp8"): [(_R2511, _CG_FULL)],
    ("gpt-oss", "B300", "bf16"): [(_R2511, _CG_ATTN_ROUTER)],
    ("gpt-oss", "B300", "mxfp8"): [(_R2511, _CG_ATTN_ROUTER)],  # the BF16 V2 alias at 26.06 (MBRIDGE_MOE_RECIPES)
    ("deepseek-v3", "GB300", "bf16"): [(_R2511, _CG_ATTN_ROUTER)],
    ("deepseek-v3", "GB300", "mxfp8"): [(_R2511, _CG_NONE), (_R2606, _CG_FULL)],
    ("deepseek-v3", "GB200"): [(_R2511, _CG_ATTN_ROUTER)],
    ("deepseek-v3", "GB200", "mxfp8"): [(_R2511, _CG_ATTN_ROUTER), (_R2606, _CG_FULL)],
    # B300 DeepSeek-V3: TE graphs from PR #3549 (2026-04-29, issue #3385 labelled 26.04.01: "Added partial CUDA Graphs
    # for attn, moe_router, moe_preprocess", with PP16 -> PP8 and micro-batch 1 -> 2, the layout the 26.04.01 rows
    # print); the PP 16 micro-batch-1 rows of 26.02 .. 26.04 ran none (b300map43)
    ("deepseek-v3", "B300"): [(_R260401, _CG_ATTN_ROUTER)],
    ("deepseek-v3", "B300", "mxfp8"): [(_R260401, _CG_ATTN_ROUTER), (_R2606, _CG_FULL)],
    **{("llama 3 8b", gpu, prec): [(_R2511, _CG_FULL)] for gpu in ("GB300", "GB200", "B300", "B200")
       for prec in ("bf16", "tensorwise", "mxfp8")},
    ("llama 3 70b", "B200", "bf16"): [(_R2511, _CG_FULL)],
    # Nemotron 3 (``MBRIDGE_NEMOTRON3_REVISIONS``): Nano ``BASE_NEMOTRON_3_NANO_CONFIG`` TE
    # ["attn", "mamba", "moe_router", "moe_preprocess"] on every Blackwell GPU, H100 FP8_CS TE ["mamba"], H100 BF16 TE
    # ["attn", "mamba"] (identical from @e6015aa8, the 26.02.01 snapshot, to @d063066b, 26.04, and in the later
    # perf_recipes/nemotronh/*/nemotronh.py); the Nano recipe's own ``cuda_graph_impl = "none"`` is overridden by
    # the workload config (scripts/performance/utils/overrides.py ``set_workload_base_configs``). Super @d063066b:
    # GB300 / GB200 (TP2) / B300 (EP8) the base config's TE ["attn", "mamba", "moe_router", "moe_preprocess"]
    # (recipes/nemotronh/nemotron_3_super.py sets the same), B200 FP8_MX (TP1 EP64) ``cuda_graph_impl="none"``, B200
    # NVFP4 (TP2) TE ["mamba", "attn", "moe_router", "moe_preprocess"]. Lightning: the Nano configs' (perf_recipes
    # nemotronh/{gb200,gb300}/nemotronh.py build it on them)
    **{("nemotron 3 nano", gpu): [(_R2602, _CG_ATTN_MAMBA_ROUTER)] for gpu in ("B200", "B300", "GB200", "GB300")},
    ("nemotron 3 nano", "H100", "tensorwise"): [(_R2602, dict(cuda_graph_impl=_TE, cuda_graph_scope=("mamba",)))],
    ("nemotron 3 nano", "H100", "bf16"): [(_R2602, dict(cuda_graph_impl=_TE, cuda_graph_scope=("attn", "mamba")))],
    # Super / Lightning (their MTP block "*E" takes the decoder's scope less "mamba": step_time prices it apart,
    # Megatron-Core checks the scope against the whole model)
    **{(m, gpu): [(_R2602, _CG_ATTN_MAMBA_ROUTER)] for gpu in ("B300", "GB200", "GB300")
       for m in ("nemotron 3 super", "nemotron 3.5 lightning")},
    ("nemotron 3 super", "B200", "nvfp4"): [(_R2602, _CG_ATTN_MAMBA_ROUTER)],
    ("nemotron 3 super", "B200", "mxfp8"): [(_R2602, _CG_NONE)],
    # Nemotron-H 56B: scripts/performance/configs/nemotronh/nemotronh_workload_base_configs.py (the 26.02-era file,
    # only FP8_CS configs) ``NEMOTRONH_56B_PRETRAIN_CONFIG_B200_FP8_CS_V1``: ``BASE_NEMOTRONH_56B_CONFIG``'s
    # ``cuda_graph_impl="transformer_engine"`` with ``cuda_graph_scope=["mamba", "attn"]`` (the same on GB300 /
    # GB200 / B300; H100 ["mamba"]); the together B200 baselines rows
    ("nemotron-h 56b", "B200"): [(_R2602, dict(cuda_graph_impl=_TE, cuda_graph_scope=("attn", "mamba")))],
}
#: Layout variants of one (model, GPU, precision) recipe that the keys above do not tell apart: a row whose layout
#: (PP, VPP, EP, global batch, micro-batch) is the variant's runs the variant's dispatcher, all-to-all overlap, CUDA
#: graphs and recompute modules in place of the (model, GPU[, precision]) entries (``mbridge_variant``). Read from the workload
#: configs: deepseek_workload_base_configs.py @04264182 ``DEEPSEEK_V3_PRETRAIN_CONFIG_B200_FP8_MX_V2`` (GBS 4096):
#: ``moe_flex_dispatcher_backend="deepep"``, PP 8, VPP 2, EP 32, ``moe_a2a_overlap=True``, TE graphs
#: ``["attn", "moe_router", "moe_preprocess"]``, ``recompute_modules=["mla_up_proj", "mlp"]`` (the B200 V1 / BF16 /
#: FP8-CS configs: PP 16, EP 8, HybridEP, no overlap, no graphs, ``["mla_up_proj"]``: the entries above). The
#: tables' B200 DeepSeek-V3 MXFP8 rows at PP 16 EP 8 (25.11 .. 26.04) ran an earlier version of that config.
#: The GB300 MXFP8 rows printing micro-batch 2 (26.02 .. 26.04.01; PP 2, VPP 8, EP 32, GBS 4096) ran the config before
#: PR #3983 (bigmem37): the stored revision of deepseek_workload_base_configs.py where
#: ``DEEPSEEK_V3_PRETRAIN_CONFIG_GB300_FP8_MX_V2 = DEEPSEEK_V3_PRETRAIN_CONFIG_GB300_V2``, i.e. ``..._GB300_V1``'s
#: ``micro_batch_size=2``, HybridEP, ``moe_a2a_overlap=False``, ``cuda_graph_scope=[]`` and
#: ``recompute_modules=["mla_up_proj"]``; #3983's FP8_MX override (micro-batch 1, a2a overlap, full-iteration
#: graphs, no recompute: the (model, GPU) entries) is what the micro-batch-1 rows from 26.06 print. Mapped with #3983's
#: settings, the micro-batch-2 rows needed 339.5 GiB of the GB300's 259.8 (no ``mla_up_proj`` recompute: +81 GiB of
#: activations; the overlap's extra in-flight chunk: +13 GiB); with their own config, 245.6 GiB.
MBRIDGE_LAYOUT_VARIANTS = {
    ("deepseek-v3", "B200", "mxfp8"): [
        (dict(pp=8, vpp=2, ep=32, gbs=4096),
         dict(moe=dict(moe_dispatcher="deepep", moe_a2a_overlap=True), cuda_graphs=_CG_ATTN_ROUTER,
              recompute=["mla_up_proj", "mlp"])),
    ],
    ("deepseek-v3", "GB300", "mxfp8"): [
        (dict(pp=2, vpp=8, ep=32, mb=2),
         dict(moe=dict(moe_dispatcher="hybridep", moe_a2a_overlap=False), cuda_graphs=_CG_NONE,
              recompute=["mla_up_proj"])),
    ],
}


#: The explicit ``pp_layout`` (Megatron-Core ``--pipeline-model-parallel-layout``, planner stack option ``pp_layout``)
#: each Megatron-Bridge row ran, by model, then (PP, VPP). The model recipes set one for every (PP, VPP) of their map
#: unless the workload config gives its own: DeepSeek-V3 ``_get_deepseek_v3_pipeline_layout`` (recipes/deepseek/
#: deepseek_v3.py, called by ``set_deepseek_v3_pipeline_model_parallel_layout`` in every DeepSeek-V3 recipe; the same
#: map in the older ``set_deepseek_v3_pipeline_model_parallel_layout``): PP 4 / 8 / 16 without VPP, PP 4 VPP 2 / 4,
#: PP 8 VPP 2, the MTP layers (``["mtp"] * mtp_num_layers``, none for the "w/o MTP" rows) with the loss in the last
#: stage; Kimi K2 ``_get_kimi_k2_pipeline_layout`` (recipes/kimi/kimi_k2.py): the same splits and PP 2 VPP 8, no MTP.
#: (PP, VPP) outside its map (DeepSeek-V3 PP 2 VPP 4 / 8, PP 8 VPP 4): no layout from the recipe (its ValueError is
#: caught), Megatron's own split unless the workload config sets one (``MBRIDGE_CONFIG_LAYOUTS``).
_L16 = "Et*4|(t*4|)*14tmL"  # 16 virtual stages of 4 layers, the last 1 layer + MTP + loss
_L8 = "Et*8|(t*8|)*6t*5mL"
MBRIDGE_RECIPE_LAYOUTS = {
    "deepseek-v3": {(4, 1): "Et*16|t*16|t*16|t*13mL", (8, 1): _L8, (4, 2): _L8, (16, 1): _L16, (8, 2): _L16,
                    (4, 4): _L16},
    "kimi k2": {(4, 1): "Et*16|t*16|t*16|t*13L", (8, 1): _L8.replace("m", ""), (4, 2): _L8.replace("m", ""),
                **{k: _L16.replace("m", "") for k in ((16, 1), (8, 2), (4, 4), (2, 8))}},
}
#: The workload configs' own ``pp_layout`` (scripts/performance/configs), per (model, GPU family) and the (PP, VPP)
#: of the config that sets it, every one they set: deepseek_workload_base_configs.py @04264182 --
#: ``DEEPSEEK_V3_PRETRAIN_CONFIG_GB300_V1`` (and the V2 / FP8-MX / NVFP4 configs that replace it) PP 2 VPP 8,
#: ``..._B200_FP8_MX_V2`` / ``..._B200_NVFP4_V2`` PP 8 VPP 2 (the recipe's own layout there too): "Et*4|(t*4|)*14tmL";
#: ``..._H100_V1`` PP 8 VPP 4: "Et|(tt|)*30mL" (the older perf scripts' H100 ``pretrain_config(layout=
#: "Et|(tt|)*30mL")`` too); kimi_workload_base_configs.py ``KIMI_K2_PRETRAIN_CONFIG_H100`` PP 16 VPP 2:
#: "Et|(tt|)*30L" (its GB300 / GB200 / B300 / B200 configs set none: the recipe's). A row takes a layout only at its
#: own (PP, VPP): the layout fixes pp x vpp (``mbridge_pp_layout``).
MBRIDGE_CONFIG_LAYOUTS = {
    ("deepseek-v3", "GB300"): {(2, 8): _L16},
    ("deepseek-v3", "B200"): {(8, 2): _L16},
    ("deepseek-v3", "H100"): {(8, 4): "Et|(tt|)*30mL"},
    ("kimi k2", "H100"): {(16, 2): "Et|(tt|)*30L"},
}


#: The model recipes that fix the split by Megatron-Core's accounting instead of a layout: the embedding and the loss
#: each counted as a layer (``account_for_embedding_in_pipeline_split`` / ``account_for_loss_in_pipeline_split``
#: True, ``pipeline_model_parallel_layout`` None) -- Qwen3-235B-A22B: recipes/qwen/qwen3_235b_a22b.py ``model_config``
#: (@3594df94) and its successor h100/qwen3_moe.py ``qwen3_235b_a22b_pretrain_256gpu_h100_bf16_config`` ("Pipeline
#: split accounting"), which every scripts/performance qwen3_llm_pretrain.py config starts from; the workload configs
#: (qwen3_workload_base_configs.py) set no ``pp_layout`` for it. Written as the layout Megatron-Core builds from
#: those flags (``accounted_layout``), so the row runs that split whatever the planner would choose.
MBRIDGE_ACCOUNTED_SPLIT = ("qwen3-235b",)


def accounted_layout(layers: int, pp: int, vpp: int = 1) -> str | None:
    """The ``--pipeline-model-parallel-layout`` of Megatron-Core's ``--account-for-embedding-in-pipeline-split
    --account-for-loss-in-pipeline-split`` (transformer_block.py ``get_num_layers_to_build``: layers + 2 over the
    pp x vpp virtual stages, the first virtual stage one layer short for the embedding and the last for the loss);
    None where pp x vpp does not divide layers + 2 (Megatron asserts).

    >>> accounted_layout(94, 8, 2)
    'Et*5|(t*6|)*14t*5L'
    """
    stages = pp * max(vpp, 1)
    if (layers + 2) % stages or stages < 2:
        return None
    per = (layers + 2) // stages
    return f"Et*{per - 1}|(t*{per}|)*{stages - 2}t*{per - 1}L"


def mbridge_pp_layout(r) -> str | None:
    """The pipeline layout Megatron-Bridge row ``r`` ran at its PP and VPP: the workload config's
    (``MBRIDGE_CONFIG_LAYOUTS``), else its model recipe's (``MBRIDGE_RECIPE_LAYOUTS``, or the split its accounting
    flags build: ``MBRIDGE_ACCOUNTED_SPLIT``), the MTP layers dropped on a row without the MTP module; None where
    neither sets one. Every Megatron-Bridge run (``mbridge_run``: Together's llmb-run rows as well as NVIDIA's tables,
    acc42a; before, ids starting "mbridge" only, so Together's DeepSeek-V3 PP 16 ran the planner's split while the
    identical 26.02 DGX-B200 row of ``mbridge_all`` ran the recipe's, 25.09 against 21.62 s predicted)."""
    if not mbridge_run(r):
        return None
    have = (_int(r.pp, 1), _int(pd.to_numeric(r.vpp, errors="coerce"), 1))
    name = str(r.model).lower()
    layout = (mbridge_recipe(MBRIDGE_CONFIG_LAYOUTS, r) or {}).get(have)
    if layout is None:
        layout = next((v.get(have) for k, v in MBRIDGE_RECIPE_LAYOUTS.items() if k in name), None)
    if layout is None and any(k in name for k in MBRIDGE_ACCOUNTED_SPLIT):
        layout = accounted_layout(_int(r.layers, 0), *have)
    if layout is not None and "w/o mtp" in name:
        layout = layout.replace("m", "")
    return layout


def mbridge_variant(r) -> dict | None:
    """The ``MBRIDGE_LAYOUT_VARIANTS`` settings whose layout is row ``r``'s, or None."""
    for layout, settings in (mbridge_recipe(MBRIDGE_LAYOUT_VARIANTS, r) or []):
        ep_m = re.search(r"EP=(\d+)", str(r.notes))
        have = dict(pp=_int(r.pp, 1), vpp=_int(pd.to_numeric(r.vpp, errors="coerce"), 1),
                    ep=int(ep_m.group(1)) if ep_m else 1, gbs=_int(r.global_batch_seqs, 0),
                    mb=_int(r.micro_batch, 1))
        if all(have[k] == v for k, v in layout.items()):
            return settings
    return None


#: The recipes that run the experts' MLP as Transformer Engine's fused grouped MLP (Megatron-Bridge
#: ``cutedsl_fused_grouped_mlp=True``, which scripts/performance/utils/overrides.py turns into
#: ``use_transformer_engine_op_fuser`` + ``moe_mlp_glu_interleave_size=32``, and perf_plugins.py into
#: ``NVTE_CUTEDSL_FUSED_GROUPED_MLP=1``: Megatron-Bridge PR #3983; planner.model.stacks ``Stack.moe_fused_mlp``,
#: priced by planner.model.moe ``fused_mlp_bytes`` and ``eager_expert_ops``), per (model, GPU, precision) key as
#: ``MBRIDGE_MOE_RECIPES``, with the first release taken (as ``MBRIDGE_CUDA_GRAPHS``):
#: * GPT-OSS 120B FP8-MX on GB300 / GB200 (PR #4173, 2026-06-05, "Enable full-iteration cuda-graphs for GPT-OSS 120B
#:   MXFP* precision on GB200 and GB300" with ``cutedsl_fused_grouped_mlp=True``; its MXFP8 rows start at 26.06); B300's
#:   FP8_MX config at 26.06 is the BF16 V2 alias (@7e5c47ff), the fused MLP of @07eea52d later (no row);
#: * DeepSeek-V3 FP8-MX on GB300 (PR #3983, 2026-05-27: ``DEEPSEEK_V3_PRETRAIN_CONFIG_GB300_FP8_MX_V1``), GB200 and
#:   B300 (``..._GB200_FP8_MX_V1`` / ``..._B300_FP8_MX_V1``: deepseek_workload_base_configs.py @04264182, the same
#:   configs that turn on the full-iteration graphs, taken from 26.06 like them); B200 FP8-MX and every BF16 /
#:   FP8-CS config do not set it;
#: * Qwen3-30B-A3B and Qwen3-235B-A22B FP8-MX on GB300 / GB200 from 26.06 (PR #4249 "Enable Qwen3
#:   GB200/GB300/GB300 MXFP8 CuTeDSL Fusion and Full-Iter CUDA Graphs for 26.06", the r26.06 port of PR #4211).
#:   Qwen3 B200 / B300 FP8-MX got it later (PR #4606, 2026-06-30/07, "enables CuteDSL fused grouped MLP" on the
#:   r0.5.0 branch after the 26.06 tables' runs: the 26.06 B300 row's TE ``moe_router`` graphs are the pre-#4606
#:   config), not taken.
MBRIDGE_FUSED_MLP = {
    **{("gpt-oss", gpu, "mxfp8"): _R2511 for gpu in ("GB300", "GB200")},
    **{("deepseek-v3", gpu, "mxfp8"): _R2606 for gpu in ("GB300", "GB200", "B300")},
    **{(m, gpu, "mxfp8"): _R2606 for m in ("qwen3-30b", "qwen3-235b") for gpu in ("GB300", "GB200")},
}


def mbridge_fused_mlp(r) -> bool:
    """Whether row ``r``'s recipe runs the fused grouped MLP at its release (``MBRIDGE_FUSED_MLP``)."""
    first = mbridge_recipe(MBRIDGE_FUSED_MLP, r)
    rel = mbridge_release(r)
    return bool(first and rel and rel >= first)


#: The Megatron-Bridge model providers that set Megatron-Core's shared-expert overlap (``moe_shared_expert_overlap``:
#: planner.model.stacks ``Stack.moe_shared_expert_overlap``, priced by planner.model.moe ``shared_stream_hidden``), by
#: the row's model text: ``DeepSeekModelProvider`` (models/deepseek/deepseek_provider.py @066adea0:
#: ``moe_shared_expert_overlap: bool = True``), which the DeepSeek-V3 recipe (recipes/deepseek/deepseek_v3.py
#: @05d003fb, ``AutoBridge.to_megatron_provider``) leaves as it is. The run keeps it only on the all-to-all dispatcher
#: without the combined-1F1B overlap: ``apply_flex_dispatcher_backend`` (training/flex_dispatcher_backend.py @183c5c02)
#: sets it False with DeepEP / HybridEP, the performance scripts' ``set_moe_a2a_overlap_overrides`` with
#: ``moe_a2a_overlap``, and Megatron-Core 0.16.1 refuses both pairings besides (planner.model.stack_rules
#: ``shared-overlap-*``). Of the validation rows that leaves DeepSeek-V3's 25.09 token-drop
#: runs (``apply_moe_token_drop`` asserts the all-to-all dispatcher); every other DeepSeek-V3 / Kimi K2 row runs
#: DeepEP / HybridEP or the a2a overlap, and Nemotron 3 (HybridEP; Super's LatentMoE besides) and the Qwen3 /
#: GPT-OSS rows (no shared expert) have nothing to overlap.
MBRIDGE_SHARED_OVERLAP_MODELS = ("deepseek-v3",)


def mbridge_shared_overlap(r, opts: dict) -> bool:
    """Whether row ``r``'s run keeps its provider's shared-expert overlap (``MBRIDGE_SHARED_OVERLAP_MODELS``), given
    the dispatcher and all-to-all overlap ``opts`` already holds for it."""
    return (r.id.startswith("mbridge") and any(k in str(r.model).lower() for k in MBRIDGE_SHARED_OVERLAP_MODELS)
            and opts.get("moe_dispatcher", "alltoall") == "alltoall" and not opts.get("moe_a2a_overlap", False))


#: The layout (TP, EP, micro-batch, global batch, GPUs) of each Nemotron 3 config in the revision taken (@d063066b;
#: Lightning: the Nano configs it is built on, perf_recipes/nemotronh/{gb200,gb300}/nemotronh.py), per (model, GPU,
#: precision kind); tests/test_mbridge_all_data.py checks every Nemotron row of the tables against it
MBRIDGE_NEMOTRON3_LAYOUTS = {
    **{(m, gpu, "mxfp8"): (1, 8, mb, 512, 8) for m in ("nemotron 3 nano", "nemotron 3.5 lightning")
       for gpu, mb in (("GB300", 4), ("B300", 4), ("GB200", 2), ("B200", 2))},
    ("nemotron 3 nano", "H100", "tensorwise"): (1, 8, 1, 1024, 16),
    **{("nemotron 3 super", "GB300", p): (1, 64, 1, 512, 64) for p in ("mxfp8", "nvfp4")},
    **{("nemotron 3 super", "GB200", p): (2, 64, 1, 512, 64) for p in ("mxfp8", "nvfp4")},
    **{("nemotron 3 super", "B300", p): (1, 8, 1, 512, 64) for p in ("mxfp8", "nvfp4")},
    ("nemotron 3 super", "B200", "mxfp8"): (1, 64, 1, 512, 64),
    ("nemotron 3 super", "B200", "nvfp4"): (2, 64, 1, 512, 64),
}
#: The Megatron-Bridge revisions the Nemotron 3 rows' recipes are read from (``MBRIDGE_MOE_RECIPES``,
#: ``MBRIDGE_RECOMPUTE``, ``MBRIDGE_CUDA_GRAPHS``): every stored version of scripts/performance/configs/nemotronh/
#: nemotron_3_workload_base_configs.py (NVIDIA-NeMo/Megatron-Bridge and forks), with the layout each gives and
#: whether it is the tables' (Nano: TP1 EP8 GBS 512 on 8 GPUs, micro-batch 4 GB300 / B300, 2 GB200 / B200, H100 TP1
#: EP8 GBS 1024 on 16 GPUs micro-batch 1; Super: 64 GPUs GBS 512 micro-batch 1, GB300 TP1 EP64, GB200 TP2 EP64, B300
#: TP1 EP8, B200 FP8_MX TP1 EP64, B200 NVFP4 TP2 EP64). Taken: @d063066b, the snapshot that carries the 26.04 table;
#: the Nano configs are the same in every revision. The tables' 26.06 .. 26.08.01 rows keep these layouts; the later
#: perf_recipes/nemotronh/{gb300,gb200,b300,b200}/nemotronh.py (undated revisions) keep these graphs, recompute and
#: layouts but add, on GB300 only, the NCCL EP dispatcher and for MXFP8 TE's op fuser (CuTeDSL fused grouped MLP) and
#: FP8 attention: not taken, their release not established.
MBRIDGE_NEMOTRON3_REVISIONS = {
    "nanz-nv@e6015aa8": "26.02.01 snapshot; Nano as taken; Super micro-batch 4 / 2, EP8 everywhere: not the tables'",
    "NVIDIA-NeMo@06e8da4e": "Super GB200 TP1, B300 EP64 (deepep), B200 EP8: not the tables'; GB300 as taken",
    "rachitgarg91@117c464a": "two merged versions in one file (GB200 TP1 then TP2 / NVFP4 TP1); not taken",
    "dingqingy-nv@fad8a1dc": "Super one base for every GPU (no TP, EP64): B300 / B200 not the tables'",
    "NVIDIA-NeMo@f601ba97": "every Super layout the tables' except B200 NVFP4 (TP1 here); as taken otherwise",
    "radixark@d063066b": "26.04 snapshot; every layout the tables': TAKEN",
    "kaiko-ai@89af5032 / ghadiaravi13@4171fc51 / nvegesna@05508006 / kocchop@6219b1a8": "as @d063066b (plus VR200 / "
    "Ultra entries; nvegesna's Nano H100 deepep); kaiko's B200 BF16 TP2 EP8 (no B200 BF16 row)",
    "svcnemo-autobot@b2d5de5d": "B200 base TP2 (NVFP4 TE full scope, no recompute), FP8_MX as taken: agrees",
}


def nemo_cuda_graphs(r) -> bool:
    """The row ran NeMo 2's CUDA graphs: its performance scripts' ``--cuda_graphs true`` sets
    ``recipe.model.config.enable_cuda_graph`` (NeMo scripts/performance/helpers.py ``set_perf_optimization_configs``),
    Megatron-Core's local per-layer graphs (the deprecated spelling of ``--cuda-graph-impl local`` with no scope: the
    whole layer). dgxc: the nemotron launch.sh passes it on GB200 only (the rows' notes); together: the notes say
    "CUDA graphs enabled" (the FP8 rows "disabled", or nothing: not set)."""
    notes = str(getattr(r, "notes", ""))
    if r.id.startswith("dgxc"):
        return "--cuda_graphs true' on GB200" in notes and "GB200" in str(r.gpu)
    return r.id.startswith("together") and "CUDA graphs enabled" in notes


def mbridge_release(r) -> tuple:
    """The Megatron-Bridge release of a row as a comparable tuple (25, 11) / (26, 4, 1): the ``release`` column
    (mbridge_all_runs.csv), the container's (together_b200_baselines.csv), else the id's (published_runs_2.csv
    ``mbridge2511_...``, ``mbridge260401_...``)."""
    rel = getattr(r, "release", None)
    if isinstance(rel, str) and rel:
        return tuple(int(x) for x in rel.split("."))
    # together_b200_baselines.csv: the NeMo container the run names ("nvidia+nemo+26.02.00"), whose Megatron-Bridge
    # release is the container's
    m = re.match(r"nvidia\+nemo\+(\d+)\.(\d+)\.(\d+)", str(getattr(r, "container", ""))) if mbridge_run(r) else None
    if m and not r.id.startswith("mbridge"):
        return tuple(int(x) for x in m.groups())
    m = re.match(r"mbridge(\d{2})(\d{2})(\d{2})?_", r.id)
    return tuple(int(x) for x in m.groups() if x) if m else ()


def mbridge_at_release(entry, r) -> dict:
    """A recipe-table entry at row ``r``'s release: a dict as it is; a list of (first release, settings or a function
    of the row) gives the last step at or before the release (``mbridge_release``); {} before the first or for None."""
    if entry is None or isinstance(entry, dict):
        return entry or {}
    rel = mbridge_release(r)
    got = [v for first, v in entry if rel and rel >= first]
    if not got:
        return {}
    return dict(got[-1](r) if callable(got[-1]) else got[-1])


def mbridge_cuda_graphs(r) -> dict:
    """The CUDA-graph settings of row ``r``'s recipe at its release (``MBRIDGE_CUDA_GRAPHS``), or {} (the default)."""
    return mbridge_at_release(mbridge_recipe(MBRIDGE_CUDA_GRAPHS, r), r)
#: The per-module selective recompute the Megatron-Bridge performance recipes set (Megatron-Core
#: ``recompute_modules``), per model and GPU: DeepSeek-V3 H100 1024 GPUs
#: (scripts/performance/configs/deepseek/deepseek_llm_pretrain.py, 25.09:
#: ``recompute_granularity = "selective"``, ``recompute_modules = ["mla_up_proj", "mlp"]``), GPT-OSS
#: 120B H100 and B200 (scripts/performance/configs/gpt_oss/gpt_oss_workload_base_configs.py
#: ``GPT_OSS_120B_{H100,B200}_BF16_BASE_CONFIG``: ``recompute_modules=["layernorm", "moe_act"]``).
#: Blackwell entries from the 2026 workload configs named at ``MBRIDGE_MOE_RECIPES``: DeepSeek-V3
#: GB300 FP8_MX none (``recompute_modules=[]``, PR #3983; the micro-batch-2 rows ``["mla_up_proj"]``:
#: ``MBRIDGE_LAYOUT_VARIANTS``), GB300 BF16 ``["moe_act"]``, GB200 / B300 / B200
#: ``["mla_up_proj"]``; GPT-OSS 120B GB200 BF16 ``["layernorm", "moe_act"]``, FP8_MX none, GB300 and
#: B300 BF16 none (the base config sets none). An empty list is the recipe's "none".
MBRIDGE_RECOMPUTE = {
    ("deepseek-v3", "H100"): ["mla_up_proj", "mlp"],
    ("gpt-oss", "H100"): ["layernorm", "moe_act"],
    ("gpt-oss", "B200"): ["layernorm", "moe_act"],
    ("deepseek-v3", "GB300"): [],
    ("deepseek-v3", "GB300", "bf16"): ["moe_act"],
    ("deepseek-v3", "GB200"): ["mla_up_proj"],
    ("deepseek-v3", "B300"): ["mla_up_proj"],
    ("deepseek-v3", "B200"): ["mla_up_proj"],
    ("gpt-oss", "GB200", "bf16"): ["layernorm", "moe_act"],
    ("kimi k2", "GB300"): ["mla_up_proj"],
    # Nemotron 3 (``MBRIDGE_NEMOTRON3_REVISIONS``: the revision matching the row's layout). Nano H100 FP8_CS
    # ``NEMOTRON_3_NANO_PRETRAIN_CONFIG_H100_FP8_CS_V1`` (every revision, @e6015aa8 .. @d063066b); the Nano Blackwell
    # configs set none and the recipe (recipes/nemotronh/nemotron_3_nano.py) ``recompute_granularity = None``
    ("nemotron 3 nano", "H100"): ["moe", "layernorm", "core_attn", "moe_act"],
    # Super @d063066b (radixark, the 26.04 tables' snapshot; @f601ba97 the same for these keys): B200 FP8_MX (TP1
    # EP64) ``BASE_NEMOTRON_3_SUPER_CONFIG_B200`` ["moe_act", "layernorm"]; B200 NVFP4 (TP2 EP64)
    # ``recompute_modules=None``: the recipe's, none (recipes/nemotronh/nemotron_3_super.py sets no recompute);
    # B300 (EP8) NVFP4 ["moe_act", "layernorm"], FP8_MX none; GB200 (TP2) and GB300 none. (@06e8da4e's GB200
    # ["moe_act", "layernorm", "core_attn", "moe"] and B200 ["moe_act", "layernorm", "core_attn"] came with GB200
    # TP1 and B200 EP8, not the tables' layouts)
    ("nemotron 3 super", "B200", "mxfp8"): ["moe_act", "layernorm"],
    ("nemotron 3 super", "B200", "nvfp4"): [],
    ("nemotron 3 super", "B300", "nvfp4"): ["moe_act", "layernorm"],
}
#: models whose Megatron-Bridge performance recipes reduce gradients in bf16
#: (``grad_reduce_in_fp32 = False`` in scripts/performance/configs/{qwen,gpt_oss}/*_workload_base_configs.py;
#: llama/llama3_llm_pretrain.py ``set_llama3_common_configs``, llama/llama31_llm_pretrain.py
#: ``set_llama31_common_configs`` and deepseek/deepseek_llm_pretrain.py ``set_deepseek_v3_common_configs``
#: set ``cfg.ddp.grad_reduce_in_fp32 = False``): every Megatron-Bridge row; the NeMo 24.07 rows reduce
#: fp32 gradients (Megatron's default with the distributed optimizer)
MBRIDGE_BF16_GRAD_REDUCE = ("qwen3", "gpt-oss", "llama", "deepseek", "kimi", "nemotron 3", "nemotron-h")
# (Nemotron 3: nemotronh_llm_pretrain.py ``set_nemotron_3_nano_common_configs``: grad_reduce_in_fp32 = False;
# Nemotron-H: nemotronh_llm_pretrain.py ``set_nemotronh_common_configs``, the same)
#: the NeMo 24.07 row whose launcher config (NeMo-Framework-Launcher
#: launcher_scripts/conf/training/nemotron/nemotron_340b.yaml: TP 8, PP 8, VPP 12, micro-batch 1,
#: 4096 tokens, as the row) runs ``mcore_distributed_optim`` with ``grad_sync_dtype: bf16``
NEMO_BF16_GRAD_REDUCE = ("nemotron-340b",)
#: the DGX Cloud Benchmarking row whose run config (dgxc-benchmarking nemotron/nemotron4-340b-synth.yaml
#: @8f5cbb37: ``distributed_fused_adam`` with ``grad_sync_dtype: bf16``) reduces bf16 gradients; the
#: Llama 3.1 and Nemotron-4 15B configs set no grad_sync_dtype (fp32, as NeMo 24.07's)
DGXC_BF16_GRAD_REDUCE = ("nemotron-4 340b",)
#: the Google Cloud NeMo recipes (h200_runs.csv): every config read sets ``optim.grad_sync_dtype: bf16``
#: (src/frameworks/a3ultra/nemo-configs/*.yaml, a3mega/nemo-configs/llama3-70b-fp8.yaml)
H200_BF16_GRAD_REDUCE = ("llama", "mixtral")
#: a row whose notes quote its recipe's ``grad_reduce_in_fp32=False`` (dgxc_runs.csv, the NeMo 2 rows: the 340B
#: recipe's performance mode, and every fp8 run of NeMo's scripts/performance, helpers.py ``set_precision_configs``
#: @02a0e6a5; builder data/parts/scripts/dgxc.py)
BF16_GRAD_REDUCE_NOTE = "grad_reduce_in_fp32=false"
#: the phrase a DeepSpeed row's notes carry for a config whose ``data_types.grad_accum_dtype`` is bf16 (gaudi_runs.csv:
#: Intel's Megatron-DeepSpeed recipes' HL_GRAD_ACCUM_DTYPE=bf16, scripts/run_llama.sh): the gradients accumulated over
#: the micro-batches and reduced at the model's bf16, not DeepSpeed's default fp32 (deepspeed/runtime/engine.py
#: ``_do_optimizer_sanity_check``: a bf16 model with an fp32 accumulation dtype takes the BF16_Optimizer and its fp32
#: gradient buffers; with bf16 the ZeRO optimizer over the bf16 gradients) -- the job's ``grad_dtype`` "same"
DS_BF16_GRAD_ACCUM_NOTE = "grad_accum_dtype=bf16"
BF16_GRAD_REDUCE = {"mbridge": MBRIDGE_BF16_GRAD_REDUCE, "nemo": NEMO_BF16_GRAD_REDUCE, "dgxc": DGXC_BF16_GRAD_REDUCE,
                    "h200": H200_BF16_GRAD_REDUCE}


def pr2_time_kw(stack: str, options: dict) -> dict:
    """The source's stack from the registry with the options its table states. (The baseline,
    before the registry, ran torchtitan as plain eager FSDP and everything else as legacy
    Megatron: ``framework="fsdp"/"megatron"``.)"""
    return dict(framework=row_stack(stack, options))


#: what a row's run set that is not a user-facing stack option (``stacks.OPTIONS``) but a field of the
#: resolved stack: the attention backend TE ran (``NVTE_FUSED_ATTN=0``: flash-attn 2, physics.ATTN_KERNELS);
#: the experts as one GEMM per local expert (a config's ``moe_grouped_gemm: false``: Megatron-Core's SequentialMLP,
#: stacks.Stack.moe_grouped_gemm); the attention kernel's speed relative to ``attn_kernel``'s (open_reports.csv: GPT-NeoX's
#: FlashAttention-1, stacks.Stack.attn_rel); DeepSpeed's per-layer checkpoint syncs (GPT-NeoX ``synchronize-each-layer``,
#: stacks.Stack.sync_each_layer); GPT-NeoX's own attention copies (partial-rotary re-joins, flash-path q/k/v packing:
#: stacks.Stack.neox_attention); FlashAttention-1's head-dim kernels ("32/64/128": stacks.Stack.attn_hdim_tiles); the
#: pipeline engine's all-reduce of every gradient at any precision (GPT-NeoX's DeeperSpeed v1.0, NeoX-20B and Pythia:
#: stacks.Stack.grad_all_reduce); the fp16 ZeRO-1 optimizer's per-tensor overflow check and gradient norm over the whole stage (GPT-NeoX's DeeperSpeed
#: v1.0 stage1.py: stacks.Stack.serial_grad_checks); DeepSpeed's partitioned activation checkpoint (GPT-NeoX
#: ``partition-activations``: stacks.Stack.partition_activations); the fp8 recipe the row's code version ran, which the
#: registry's current code need not offer (stacks.fp8_recipes, refused for a job since QA 32): torchtitan 2024-25's
#: tensorwise (0.3 dropped it); DeepSeek-V3's block-wise scaling ran as rowwise here until the registry had blockwise
#: (fp8blk36: open_reports.csv's row now names it, a recipe Megatron-Core offers); the RoPE of IBM's fms-fsdp model
#: code, foundation-model-stack's real 2 x 2 rotation in fp32 (stacks.Stack.eager_rope, priced uncompiled: compile47);
#: parameters stored in bf16 with no fp32 master and AdamW's moments bf16 (KempnerForge's ``build_parallel_model``:
#: ``model.to(dtype=param_dtype)`` before ``fully_shard``, kempnerforge_runs.csv: stacks.Stack.params_16bit, kf51);
#: FSDP2's gradient sync on the last micro-batch alone (KempnerForge's training/grad.py ``maybe_no_sync``:
#: ``set_requires_gradient_sync(False)`` on every micro-batch but the last, the reshard left alone:
#: stacks.Stack.defer_fsdp_grad_sync, a NeMo AutoModel option the torchtitan entry does not offer, kf51)
ROW_STACK_FIELDS = ("attn_kernel", "moe_grouped_gemm", "attn_rel", "sync_each_layer", "neox_attention", "attn_hdim_tiles",
                    "grad_all_reduce", "serial_grad_checks", "partition_activations", "fp8_recipe",
                    "mfsdp_double_buffer", "apex_param_remainders", "align_param_gather", "apex_param_sync", "eager_rope",
                    "params_16bit",
                    "defer_fsdp_grad_sync")


def row_stack(stack: str, options: dict):
    """The registry stack with the row's options, and the row-only fields (``ROW_STACK_FIELDS``) set."""
    st = stacks.resolve(stack, **{k: v for k, v in options.items() if k not in ROW_STACK_FIELDS})
    fields = {k: options[k] for k in ROW_STACK_FIELDS if k in options}
    return replace(st, **fields) if fields else st


def spearman(a, b) -> float:
    if len(a) < 3:
        return np.nan
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return np.nan
    return float(np.corrcoef(ra, rb)[0, 1])


#: what makes two rows of one model the same configuration: the layout, the GPU, the stack and its options,
#: and the prediction (rows the model is given identical inputs for get bit-identical predictions)
CONFIG_KEY = ("gpus", "tp", "pp", "dp", "mb", "gpu", "stack", "options", "predicted_s")


def distinct_configs(g: pd.DataFrame) -> pd.DataFrame:
    """``g``'s rows with one row per configuration (``CONFIG_KEY``), its measured step the median of the rows.

    Several sources measure the same configuration again with each software release (mbridge_all's 25.09 ...
    26.08 tables, dgxc's per-release pages): the planner is given identical inputs for them, so it cannot order
    them, and a Spearman over those rows scores release-to-release drift, not how well the model ranks the
    configurations a user chooses between. Merging them measures the latter."""
    key = [c for c in CONFIG_KEY if c in g]  # dropna=False: rows without options (NaN) are one group
    return g.groupby(key, dropna=False, sort=False, as_index=False)["measured_s"].median()


def tie_ceiling(g: pd.DataFrame) -> float:
    """The Spearman within one model that predictions constant per configuration (``CONFIG_KEY``) reach at best:
    each row predicted by its configuration's median measured step (``distinct_configs``' merge), i.e. the
    configurations ranked perfectly and the release-to-release re-measurements of each left tied.

    Why: a model given identical inputs for a release's re-measurement predicts it identically, so the spread of
    those re-measurements (mbridge_all: up to 1.8x, ``validate.mbridge_all``) caps the Spearman over rows below 1
    whatever the model does. A 3-row model with 2 configurations caps at 0.866 (the ranks 1.5, 1.5, 3 against 1,
    2, 3). The within-model figure below this ceiling is the model's ranking error; at it, the data's drift."""
    if len(g) < 3:
        return np.nan
    key = [c for c in CONFIG_KEY if c in g]
    best = g.groupby(key, dropna=False, sort=False)["measured_s"].transform("median")
    return spearman(best, g["measured_s"])


def error_stats(err) -> dict:
    """The error columns every table of a benchmark prints, over relative errors ``err`` (predicted / measured - 1):
    median and 90th-percentile absolute error and the mean signed error (the issue's targets: median <= 10%, p90 <=
    25%). One definition for validate.py's, validate_memory.py's and validate_offload.py's tables."""
    a = np.abs(np.asarray(err, dtype=float))
    return dict(median_abs_err=float(np.median(a)), p90_abs_err=float(np.quantile(a, 0.9)),
                mean_signed_err=float(np.mean(err)))


def error_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per source: rows, median / p90 absolute and mean signed error of the step time, and the mean Spearman of
    predicted against measured step time within each model (groups of >= 3 rows) -- over all rows, the most any
    model could reach over those rows (``tie_ceiling``), and over distinct configurations (``distinct_configs``: a
    release's re-measurement of the same configuration merged)."""
    df = df.copy()
    df["err"] = (df["predicted_s"] - df["measured_s"]) / df["measured_s"]
    out = []
    for src, g in df.groupby("source", sort=False):
        rhos = [spearman(x["predicted_s"], x["measured_s"]) for _, x in g.groupby("model")]
        rhos = [r for r in rhos if r == r]
        cfg = [spearman(c["predicted_s"], c["measured_s"]) for c in map(distinct_configs, (x for _, x in g.groupby("model")))]
        cfg = [r for r in cfg if r == r]
        ceil = [c for c in (tie_ceiling(x) for _, x in g.groupby("model")) if c == c]
        out.append(dict(source=src, rows=len(g), **error_stats(g["err"]),
                        spearman_within_model=np.mean(rhos) if rhos else np.nan, models_ranked=len(rhos),
                        spearman_tie_ceiling=np.mean(ceil) if ceil else np.nan,
                        spearman_distinct_configs=np.mean(cfg) if cfg else np.nan, models_ranked_distinct=len(cfg)))
    return pd.DataFrame(out)


def run_all(cat=None) -> pd.DataFrame:
    cat = cat or load_catalog()
    pr2 = pr2_rows(cat)
    pr2 = pr2[pr2["scored"]].drop(columns=["scored"])
    return pd.concat([vtrain(cat, "single"), vtrain(cat, "multi"), published(cat), resnet50(cat), bert_dle(cat), pr2, nemo_longseq(cat),
                      nemo2407_ft(cat), dgxc(cat), together(cat), together_baselines(cat), mbridge_all(cat),
                      open_reports(cat),  # open-model production runs (benchmarks/data/open_reports.csv)
                      tech_reports(cat),  # NVIDIA technical reports' production runs (tech_reports.csv)
                      h200(cat),  # Google Cloud's A3 Ultra (H200) recipe steps (h200_runs.csv)
                      automodel(cat),  # NeMo AutoModel's DGX-H100 table (benchmarks/data/automodel_runs.csv)
                      mi300x(cat),  # MI325X / MI300X Primus and ROCm Megatron-LM logs (benchmarks/data/mi300x_runs.csv)
                      gaudi(cat),  # Intel's Gaudi 2 training throughputs on its Megatron-DeepSpeed recipes (gaudi_runs.csv)
                      maxtext(cat),  # MaxText on TPU v6e, tpu-recipes README step lines (benchmarks/data/maxtext_runs.csv)
                      olmo_core(cat),  # Ai2 OLMo-core README throughput table, H100 (benchmarks/data/olmo_core_runs.csv)
                      fms_compile(cat),  # IBM fms-fsdp + torch.compile MFU, A100 / H100 (benchmarks/data/fms_compile_runs.csv)
                      dlperf_megatron(cat),  # OneFlow DLPerf's Megatron-LM GPT runs on V100 (dlperf_megatron_runs.csv)
                      kempnerforge(cat),  # KempnerForge's H200 step-time reports, 1-160 GPUs (kempnerforge_runs.csv)
                      ], ignore_index=True)


@dataclass(frozen=True)
class StepCall:
    """One ``step_time`` call a validation source made: its inputs and what it returned (``recording``)."""
    model: ModelSpec
    training: TrainingSpec
    layout: Candidates
    hw: HardwareOption
    kw: dict
    result: dict


@contextmanager
def recording():
    """Record every ``step_time`` call the sources above make while the block runs (for ``run_all``): yields the
    list the calls are appended to, as ``StepCall``s in call order. The sources look ``step_time`` up in this
    module's globals at each call, so replacing it here reaches all of them; the original is put back on exit.
    What the benchmarks that re-derive quantities per row (``over_memory.py``, ``mfu_frontier.py``) match rows on:
    a row's ``predicted_s`` is the float of one of the recorded ``step_time_s``."""
    global step_time
    calls: list[StepCall] = []
    original = step_time

    def recorded(model, training, layout, hw, **kw):
        out = original(model, training, layout, hw, **kw)
        calls.append(StepCall(model, training, layout, hw, kw, out))
        return out

    step_time = recorded
    try:
        yield calls
    finally:
        step_time = original


def loso(cat=None) -> pd.DataFrame:
    """Leave-one-source-out: for each source, the fitted parameters (``FITTED``) are set to the
    grid value that minimises the mean over the *other* sources of their median absolute error,
    and the held-out source is scored at that value."""
    cat = cat or load_catalog()
    (name, grid), = FIT_GRID.items()
    tabs = {}
    try:
        for v in grid:
            _OVERRIDE[name] = v
            tabs[v] = error_table(run_all(cat)).set_index("source")
    finally:
        _OVERRIDE.clear()
    sources = list(next(iter(tabs.values())).index)
    out = []
    for src in sources:
        best = min(grid, key=lambda v: tabs[v].drop(index=src)["median_abs_err"].mean())
        t = tabs[best].loc[src]
        out.append(dict(source=src, loso_value=best, loso_median_abs_err=t["median_abs_err"],
                        loso_p90_abs_err=t["p90_abs_err"]))
    return pd.DataFrame(out)


def markdown(tab: pd.DataFrame) -> str:
    """The error table as a Markdown table (for the README)."""
    lo = "loso_median_abs_err" in tab
    lines = ["| source | rows | median abs err | p90 abs err | mean signed err | Spearman within model (models; tie ceiling) |"
             " same, distinct configs (models) |" + (" LOSO median / p90 (refit value) |" if lo else ""),
             "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if lo else "")]
    for r in tab.itertuples():
        rho = ("-" if r.spearman_within_model != r.spearman_within_model
               else f"{r.spearman_within_model:.3f} ({r.models_ranked}; {r.spearman_tie_ceiling:.3f})")
        rho += (" | -" if r.spearman_distinct_configs != r.spearman_distinct_configs
                else f" | {r.spearman_distinct_configs:.3f} ({r.models_ranked_distinct})")
        extra = (f" {r.loso_median_abs_err * 100:.1f}% / {r.loso_p90_abs_err * 100:.1f}% ({r.loso_value:.2f}) |"
                 if lo else "")
        lines.append(f"| {r.source} | {r.rows} | {r.median_abs_err * 100:.1f}% | {r.p90_abs_err * 100:.1f}% | "
                     f"{r.mean_signed_err * 100:+.1f}% | {rho} |" + extra)
    return "\n".join(lines)


#: issue #12's bars on a source with at least ``BAR_MIN_ROWS`` rows: median and p90 absolute error of the step time,
#: Spearman of predicted against measured step time within each model that varies its configuration
BAR_MEDIAN, BAR_P90, BAR_SPEARMAN, BAR_MIN_ROWS = 0.10, 0.25, 0.90, 5


def misses(tab: pd.DataFrame) -> str:
    """The sources that miss a bar (``BAR_*``) as a Markdown table, each missed figure in bold: the README's "Still
    missing" opens with it (tests/test_validation.py checks it is the current table, so it cannot go stale).

    >>> t = pd.DataFrame([dict(source="a", rows=9, median_abs_err=0.12, p90_abs_err=0.2, spearman_within_model=0.95),
    ...                   dict(source="b", rows=9, median_abs_err=0.05, p90_abs_err=0.1, spearman_within_model=np.nan)])
    >>> print(misses(t))
    | source | rows | median abs err | p90 abs err | Spearman within model |
    |---|---:|---:|---:|---:|
    | a | 9 | **12.0%** | 20.0% | 0.950 |
    """
    def cell(missed, text):
        return f"**{text}**" if missed else text

    lines = ["| source | rows | median abs err | p90 abs err | Spearman within model |", "|---|---:|---:|---:|---:|"]
    for r in tab.itertuples():
        rho = r.spearman_within_model
        miss = (r.median_abs_err > BAR_MEDIAN, r.p90_abs_err > BAR_P90, rho == rho and rho < BAR_SPEARMAN)
        if r.rows < BAR_MIN_ROWS or not any(miss):
            continue
        lines.append(f"| {r.source} | {r.rows} | {cell(miss[0], f'{r.median_abs_err * 100:.1f}%')} | "
                     f"{cell(miss[1], f'{r.p90_abs_err * 100:.1f}%')} | "
                     f"{cell(miss[2], '-' if rho != rho else f'{rho:.3f}')} |")
    return "\n".join(lines)


def report(tab: pd.DataFrame, df: pd.DataFrame, csv=None, as_markdown: bool = False) -> pd.DataFrame:
    """The end of a validation script's ``main`` (this one's, validate_memory's): the error table printed (plain text,
    or Markdown for the README), every row's prediction written to ``csv`` when given, the table returned."""
    print(markdown(tab) if as_markdown else text_table(tab))
    if csv:
        df.to_csv(csv, index=False)
    return tab


def text_table(tab: pd.DataFrame) -> str:
    """An error table as plain text: the error fractions as percentages, Spearman to 3 places."""
    pd.set_option("display.width", 160)
    fmt = tab.copy()
    for c in ("median_abs_err", "p90_abs_err", "mean_signed_err", "loso_median_abs_err", "loso_p90_abs_err"):
        if c in fmt:
            fmt[c] = (fmt[c] * 100).map(lambda x: f"{x:.1f}%")
    for c in ("spearman_within_model", "spearman_tie_ceiling", "spearman_distinct_configs"):
        if c in fmt:
            fmt[c] = fmt[c].map(lambda x: "-" if x != x else f"{x:.3f}")
    return fmt.to_string(index=False)


def bands(df: pd.DataFrame) -> pd.DataFrame:
    """The accuracy bands (planner.model.accuracy.bands_table) of the scored rows."""
    rows = df.assign(err=(df["predicted_s"] - df["measured_s"]) / df["measured_s"],
                     mode=training_mode(df))
    return accuracy.bands_table(rows[np.isfinite(rows["err"])])


def training_mode(df: pd.DataFrame) -> pd.Series:
    """Each row's training mode (vocab.TRAINING_MODE) from its stack options ("mode=lora"); pretrain where unsaid."""
    opts = df["options"] if "options" in df else pd.Series("", index=df.index)
    return opts.fillna("").astype(str).str.extract(r"(?:^|,)mode=(\w+)")[0].fillna("pretrain")


def write_bands(df: pd.DataFrame, path=None) -> None:
    """Write ``bands(df)`` with its provenance (the commit and date it was made at) as ``#`` lines."""
    import datetime
    import subprocess

    path = Path(path or accuracy.BANDS_CSV)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or "unknown"
    text = (f"# planner step-time error by kind of run: `python benchmarks/validate.py --bands` at commit {head} "
            f"(plus working-tree changes, if any), {datetime.date.today().isoformat()}\n"
            "# err = predicted / measured step time - 1 over every scored row of the validation table; each source "
            "counted as at most accuracy.SOURCE_CAP rows per cut; q10/q50/q90 signed, median_abs absolute; arch/gpu_family '*' = any\n"
            + bands(df).to_csv(index=False, float_format="%.6f"))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)


def main(argv=None):
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", help="write every row's prediction here")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--loso", action="store_true", help="add leave-one-source-out errors (refits FITTED; ~15 runs)")
    ap.add_argument("--misses", action="store_true",
                    help="print only the sources that miss issue #12's bars, as Markdown (README 'Still missing')")
    ap.add_argument("--bands", action="store_true",
                    help=f"rewrite the shipped accuracy bands ({accuracy.BANDS_CSV.relative_to(ROOT)}) from this table")
    args = ap.parse_args(argv)
    df = run_all()
    if args.bands:
        write_bands(df)
    tab = error_table(df)
    if args.misses:
        print(misses(tab))
        return tab
    if args.loso:
        tab = tab.merge(loso(), on="source", how="left")
    return report(tab, df, args.csv, args.markdown)


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
