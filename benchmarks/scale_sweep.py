"""Readiness sweep for unseen published runs (scale59): the layouts large published training runs use, each
as one ``planner estimate --json`` job, with what the planner makes of it.

    PYTHONPATH=$PWD python benchmarks/scale_sweep.py [--verbose] [--only SUBSTRING]

The jobs (``JOBS``, ~100) are built from the training stacks' own public recipes and docs -- the layouts, not any
measured figure: Megatron-Bridge ``scripts/performance/configs/*/*_workload_base_configs.py`` (Llama-3 8B / 70B,
Llama-3.1 405B, DeepSeek-V3, Qwen3 MoE on H100 / B200 / GB200, incl. Megatron-FSDP and CPU activation offload),
NeMo 2 recipes (GPT-3 175B TP4 PP8 VP6, Nemotron-4 340B TP8 PP12), Megatron-LM ``examples/gpt3`` (175B TP8 PP16)
and the 1T GPT of Narayanan et al. 2021 section 5.1's model family (128 layers, hidden 25600; layouts are the
sweep's own), torchtitan's ``train_configs`` / ``docs`` (FSDP2, TP with async TP, PP with
``pipeline_parallel_first/last_stage_less_layers``, CP at 128K, float8 tensorwise / rowwise via torchao),
DeepSpeed ZeRO-3 at large DP, Megatron-DeepSpeed BLOOM-176B's TP4 PP12, MaxText's GPU FSDP configs, Mixtral with
EP, DeepSeek-V3-style MoE with EP and a 16-stage pipeline, and LoRA fine-tunes of Llama-2-70B (an MLPerf-style task
imagined from its public rules: seq 8192, global batch 8; no result read). GPU counts 8 to 16,384 on A100 / H100 /
H200 / B200 / GB200. No validation source's row is copied; these are shapes, not targets.

Each job file is written to a temporary folder and run in-process through ``planner.cli.main`` (benchmarks/
cli_sweep ``run_main``, with ``PLANNER_DEBUG=1`` so an internal error raises). The table: the outcome (ran /
refused with its one-line message / crashed with its signature), step time, MFU and whether it lies outside
the GPU's published envelope (``ENVELOPE``: README "MFU envelope", the best published MFU of that GPU; fp8 runs
against the best published fp8 run, both of the bf16 peak), and memory against the GPU's allowed limit. Then
the scaling checks over ``SERIES`` (the same job at growing DP): at a fixed batch per replica the per-GPU token
rate must not rise with the GPU count (``weak``); at a fixed global batch the step must not lengthen as DP grows
while the per-GPU rate does not rise (``strong``). Exit 1 when a job crashed or a scaling check failed.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cli_sweep import run_main, signature  # noqa: E402

#: the best published MFU per GPU (bf16 runs, and fp8 runs counted against the bf16 peak): README "MFU envelope"
#: (benchmarks/data/published_mfu.csv; A100 the FlashAttention-2 paper's 72.7%, H100 dgxc 60.1%, B200 Together's
#: 73.6% bf16 / 84.2% fp8, H200 fp8 79.0%); H200 and GB200 bf16 take their siblings' (same tensor cores), H100 fp8
#: H200's. A plan above its cell asks more of the GPU than any published run of it got.
ENVELOPE = {"A100-SXM-80GB": {"bf16": 0.727}, "H100-SXM-80GB": {"bf16": 0.601, "fp8": 0.790},
            "H200-SXM-141GB": {"bf16": 0.601, "fp8": 0.790}, "B200-SXM-180GB": {"bf16": 0.736, "fp8": 0.842},
            "GB200-B200": {"bf16": 0.736, "fp8": 0.842}}
#: dense bf16 peaks (TFLOP/s, the catalog's: ``planner catalog gpus``) the envelope's MFU is of; the planner's own MFU
#: of an fp8 run is of the fp8 peak, so the sweep converts (model FLOPs / step / GPUs / this)
BF16_PEAK = {"A100-SXM-80GB": 312.0, "H100-SXM-80GB": 989.4, "H200-SXM-141GB": 989.0, "H800-SXM-80GB": 989.4,
             "B200-SXM-180GB": 2250.0, "GB200-B200": 2500.0, "GB300-B300": 2500.0}
#: a weak-scaling series may gain this share of its per-GPU rate as it grows (rounding of the bubble and bucket
#: counts); more is a run getting faster per token with more GPUs at the same work per replica
WEAK_TOLERANCE = 0.01

#: the rack-scale NVLink parts, whose jobs are racks of Slurm segments (``Job.cluster``)
RACK_GPUS = ("GB200-B200", "GB300-B300")

GPT_1T = {"name": "gpt-1t", "layers": 128, "hidden": 25600, "heads": 160, "ffn_hidden": 102400, "vocab": 51200,
          "mlp": "gelu", "norm": "layernorm", "position": "learned", "max_positions": 2048, "linear_bias": True,
          "qkv_bias": True}


@dataclass
class Job:
    name: str
    src: str  # the recipe / doc whose layout it is
    model: str | dict
    gpu: str
    gpus: int
    seq: int
    gbs: int
    tp: int = 1
    pp: int = 1
    cp: int = 1
    vpp: int | None = None
    ep: int | None = None
    zero: int = 1
    mb: int = 1
    precision: str = "bf16"
    recompute: str = "selective"
    fw: str = "megatron-core"
    opts: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    par: dict = field(default_factory=dict)
    gpn: int = 8
    series: str = ""  # SERIES key: the jobs of one scaling series share it

    def spec(self) -> dict:
        model = {"preset": self.model} if isinstance(self.model, str) else dict(self.model)
        training = {"seq_len": self.seq, "global_batch": self.gbs, "micro_batch": self.mb,
                    "precision": self.precision, "recompute": self.recompute, "tokens": 1e12,
                    "framework": {"name": self.fw, **self.opts}, **self.train}
        par = {"tp": self.tp, "pp": self.pp, "cp": self.cp, "zero": self.zero, **self.par}
        if self.vpp:
            par["vpp"] = self.vpp
        if self.ep:
            par["ep"] = self.ep
        return {"model": model, "training": training, "parallel": par, "cluster": self.cluster()}

    def cluster(self) -> dict:
        """A GB200 NVL72 job as the Slurm segment it gets (``cluster.segment`` trays of 4 GPUs, ``nodes`` racks:
        NeMo's / Megatron-Bridge's performance executor asks ``--segment`` 16 for 64-GPU and larger jobs); any
        other GPU in nodes of ``gpn``."""
        if self.gpu in RACK_GPUS:
            trays = min(self.gpus, 64) // 4
            return {"gpu": self.gpu, "nodes": self.gpus // (trays * 4), "segment": trays}
        return {"gpu": self.gpu, "gpus_per_node": self.gpn, "nodes": self.gpus // self.gpn}


def _mb(name, gpu, gpus, **kw) -> Job:
    """A Megatron-Bridge performance recipe (scripts/performance/configs/*_workload_base_configs.py)."""
    return Job(name, "megatron-bridge perf configs", gpu=gpu, gpus=gpus, fw="megatron-bridge", **kw)


def _titan(name, gpu, gpus, **kw) -> Job:
    """A torchtitan train_config (torchtitan/models/llama3/train_configs/*.toml, docs/*.md): FSDP2 over the DP."""
    kw.setdefault("zero", 3)
    kw.setdefault("recompute", "selective")
    return Job(name, "torchtitan train_configs / docs", gpu=gpu, gpus=gpus, fw="torchtitan", **kw)


def megatron_bridge_jobs() -> list[Job]:
    H, B, G = "H100-SXM-80GB", "B200-SXM-180GB", "GB200-B200"
    l8 = dict(model="llama3-8b", seq=8192, gbs=128)
    l70 = dict(model="llama3-70b", seq=8192, gbs=128)
    l405 = dict(model="llama3.1-405b", seq=8192)
    return [
        _mb("mb_l8_h100_bf16_cp2", H, 8, **l8, cp=2, recompute="none"),
        _mb("mb_l8_h100_fp8cs", H, 8, **l8, precision="fp8", recompute="full",
            train={"recompute_method": "block", "recompute_num_layers": 5}, opts={"fp8_recipe": "tensorwise"}),
        _mb("mb_l8_b200_bf16_mb2", B, 8, **l8, mb=2, recompute="none"),
        _mb("mb_l8_gb200_bf16_mb2", G, 8, **l8, mb=2, recompute="none"),
        _mb("mb_l8_gb200_mxfp8_mb2", G, 8, **l8, mb=2, recompute="none", precision="fp8",
            opts={"fp8_recipe": "mxfp8"}),
        _mb("mb_l8_b200_nvfp4_mb4", B, 8, **l8, mb=4, recompute="none", precision="fp8",
            opts={"fp8_recipe": "nvfp4"}),
        _mb("mb_l70_h100_bf16", H, 64, **l70, tp=4, pp=4, cp=2, vpp=5, recompute="none"),
        _mb("mb_l70_h100_fp8cs", H, 64, **l70, tp=4, pp=8, vpp=5, recompute="none", precision="fp8",
            opts={"fp8_recipe": "tensorwise"}),
        _mb("mb_l70_b200_bf16", B, 64, **l70, tp=2, pp=4, cp=2, vpp=5, recompute="none"),
        _mb("mb_l70_gb200_mxfp8", G, 64, **l70, tp=2, pp=4, vpp=5, recompute="none", precision="fp8",
            opts={"fp8_recipe": "mxfp8"}),
        _mb("mb_l70_gb200_bf16_mfsdp_offload", G, 64, **l70, zero=3, recompute="none",
            opts={"megatron_fsdp": True, "activation_offload": True, "activation_offload_layers": 20}),
        _mb("mb_l70_b200_fp8cs_mfsdp_offload", B, 64, **l70, zero=3, recompute="none", precision="fp8",
            opts={"megatron_fsdp": True, "activation_offload": True, "activation_offload_layers": 5,
                  "fp8_recipe": "tensorwise"}),
        _mb("mb_l70_h100_sft_gbs32", H, 32, model="llama3-70b", seq=4096, gbs=32, tp=4, pp=4, vpp=5,
            recompute="none", train={"mode": "full-finetune"} if False else {}),
        _mb("mb_l70_gb200_sft_pp8_vpp10", G, 32, model="llama3-70b", seq=4096, gbs=32, tp=1, pp=8, vpp=10,
            recompute="none"),
        _mb("mb_l405_h100_bf16_1024", H, 1024, **l405, gbs=512, tp=8, pp=8, cp=2, vpp=8, recompute="none"),
        _mb("mb_l405_b200_bf16_128", B, 128, **l405, gbs=64, tp=4, pp=8, cp=2, vpp=8, recompute="none"),
        _mb("mb_l405_gb200_bf16_128", G, 128, **l405, gbs=64, tp=4, pp=8, cp=2, vpp=8, recompute="none"),
        _mb("mb_l405_gb200_fp8cs_mfsdp_offload", G, 128, **l405, gbs=64, tp=2, zero=3, recompute="none",
            precision="fp8", opts={"megatron_fsdp": True, "fp8_recipe": "tensorwise", "activation_offload": True,
                                   "activation_offload_layers": 92}),
        _mb("mb_l405_h100_bf16_16k", H, 16384, **l405, gbs=2048, tp=8, pp=16, cp=1, recompute="none"),
        _mb("mb_l405_h100_bf16_8k_cp2", H, 8192, **l405, gbs=2048, tp=8, pp=16, cp=2, recompute="none"),
        _mb("mb_l405_h100_128k_cp16", H, 16384, model="llama3.1-405b", seq=131072, gbs=64, tp=8, pp=16, cp=16,
            recompute="none"),
        _mb("mb_dsv3_h100_1024", H, 1024, model="deepseek-v3", seq=4096, gbs=8192, tp=2, pp=8, vpp=4, ep=64,
            recompute="none"),
        _mb("mb_dsv3_b200_256", B, 256, model="deepseek-v3", seq=4096, gbs=2048, tp=1, pp=16, ep=8,
            recompute="none"),
        _mb("mb_dsv3_gb200_256", G, 256, model="deepseek-v3", seq=4096, gbs=2048, tp=1, pp=4, vpp=4, ep=64,
            recompute="none"),
        _mb("mb_dsv3_b200_256_blockwise", B, 256, model="deepseek-v3", seq=4096, gbs=2048, tp=1, pp=16, ep=8,
            recompute="none", precision="fp8", opts={"fp8_recipe": "mxfp8"}),
        _mb("mb_q3_30b_h100_16", H, 16, model="qwen3-30b-a3b", seq=4096, gbs=1024, ep=16, recompute="none",
            par={"etp": 1}),
        _mb("mb_q3_235b_h100_256", H, 256, model="qwen3-235b-a22b", seq=4096, gbs=2048, tp=2, pp=8, vpp=4, ep=32,
            recompute="none", par={"etp": 1}),
        _mb("mb_q3_235b_gb200_64", G, 64, model="qwen3-235b-a22b", seq=4096, gbs=1024, pp=8, ep=8,
            recompute="none", par={"etp": 1}),
        _mb("mb_q3_235b_b200_64", B, 64, model="qwen3-235b-a22b", seq=4096, gbs=1024, pp=8, vpp=4, ep=8,
            recompute="none", par={"etp": 1}),
    ]


def dense_classic_jobs() -> list[Job]:
    A, H, H2, B = "A100-SXM-80GB", "H100-SXM-80GB", "H200-SXM-141GB", "B200-SXM-180GB"
    g175 = dict(model="gpt3-175b", seq=2048)
    jobs = [
        # NeMo 2 gpt3_175b recipe: TP4 PP8 VP6, GBS 2048, seq 2048 (nemo/collections/llm/recipes/gpt3_175b.py)
        Job("nemo_gpt3_175b_h100_512", "NeMo 2 gpt3_175b recipe", gpu=H, gpus=512, **g175, gbs=2048, tp=4, pp=8,
            vpp=6, fw="nemo", recompute="none"),
        Job("nemo_gpt3_175b_h100_512_fp8", "NeMo 2 gpt3_175b recipe", gpu=H, gpus=512, **g175, gbs=2048, tp=4,
            pp=8, vpp=6, fw="nemo", recompute="none", precision="fp8", opts={"fp8_recipe": "delayed"}),
        Job("nemo_gpt3_175b_b200_512", "NeMo 2 gpt3_175b recipe", gpu=B, gpus=512, **g175, gbs=2048, tp=4, pp=4,
            vpp=12, fw="nemo", recompute="none"),
        Job("nemo_gpt3_175b_h200_512", "NeMo 2 gpt3_175b recipe", gpu=H2, gpus=512, **g175, gbs=2048, tp=4,
            pp=8, vpp=6, fw="nemo", recompute="none"),
        # Megatron-LM examples/gpt3/train_gpt3_175b_distributed.sh: TP 8, PP 16, mb 1, GBS 1536
        Job("mlm_gpt3_175b_a100_1024", "Megatron-LM examples/gpt3", gpu=A, gpus=1024, **g175, gbs=1536, tp=8,
            pp=16, fw="megatron-lm", recompute="selective"),
        Job("mlm_gpt3_175b_a100_3072", "Megatron-LM examples/gpt3", gpu=A, gpus=3072, **g175, gbs=1536, tp=8,
            pp=16, fw="megatron-lm", recompute="selective"),
        Job("mlm_gpt3_175b_a100_1024_vpp", "Megatron-LM examples/gpt3 + interleaving", gpu=A, gpus=1024, **g175,
            gbs=1536, tp=8, pp=16, vpp=3, fw="megatron-core", recompute="selective"),
        # Megatron-DeepSpeed BLOOM-176B: TP4 PP12 DP8 ZeRO-1 on 384 A100 80GB (bigscience tr11-176B-ml)
        Job("mds_bloom176b_a100_384", "bigscience tr11-176B-ml slurm", gpu=A, gpus=384,
            model={"name": "bloom-176b", "layers": 70, "hidden": 14336, "heads": 112, "ffn_hidden": 57344,
                   "vocab": 250880, "mlp": "gelu", "norm": "layernorm", "position": "none", "linear_bias": True,
                   "qkv_bias": True},
            seq=2048, gbs=2048, mb=2, tp=4, pp=12, fw="megatron-deepspeed", recompute="full", zero=1),
        # Nemotron-4 340B (NeMo recipe nemotron4_340b: TP8 PP12 VP8, seq 4096)
        Job("nemo_nemotron4_340b_h100_768", "NeMo 2 nemotron4_340b recipe", gpu=H, gpus=768,
            model={"name": "nemotron4-340b", "layers": 96, "hidden": 18432, "heads": 96, "kv_heads": 8,
                   "ffn_hidden": 73728, "vocab": 256000, "mlp": "relu2", "norm": "layernorm"},
            seq=4096, gbs=768, tp=8, pp=12, vpp=8, fw="nemo", recompute="none"),
    ]
    # the 1T GPT (Narayanan et al. 2021's largest model family shape), layouts of the sweep's own: TP 8 across
    # PP 64 (one layer pair a stage), and interleaved at PP 32
    jobs += [Job(f"mlm_gpt1t_a100_{n}_pp{pp}", "Megatron-LM GPT, 1T shape", gpu=A, gpus=n, model=GPT_1T, seq=2048,
                 gbs=gbs, tp=8, pp=pp, vpp=vpp, fw="megatron-core", recompute="full", series=ser)
             for n, pp, vpp, gbs, ser in ((3072, 64, None, 3072, "gpt1t_weak"), (1536, 64, None, 1536, "gpt1t_weak"),
                                          (1024, 32, 2, 2048, ""), (6144, 64, None, 6144, "gpt1t_weak"))]
    # Llama-3.1-405B with the embedding and loss counted as stages (Megatron-Bridge's 405B recipe:
    # account_for_embedding/loss_in_pipeline_split: 126 + 2 = 128 = PP 8 x VP 8 x 2)
    jobs += [
        Job("mc_l405_h100_pp8vp8_layout", "Megatron-Bridge llama3 405B pipeline split", gpu=H, gpus=1024,
            model="llama3.1-405b", seq=8192, gbs=512, tp=8, pp=8, cp=2, vpp=8, recompute="none",
            opts={"pp_layout": "Et|" + "tt|" * 62 + "tL"}),
        Job("mc_l405_h100_pp16_uneven", "Megatron-LM --decoder-first/last-pipeline-num-layers", gpu=H, gpus=2048,
            model="llama3.1-405b", seq=8192, gbs=1024, tp=8, pp=16, recompute="none", opts={"pp_split": "megatron"}),
        Job("mc_l405_h100_pp9_uneven", "Megatron-Core uneven split (126 = 14 x 9)", gpu=H, gpus=576,
            model="llama3.1-405b", seq=8192, gbs=576, tp=8, pp=9, recompute="full"),
        Job("mc_l70_h200_pp3_uneven", "Megatron-Core uneven split", gpu=H2, gpus=48, model="llama3-70b",
            seq=8192, gbs=96, tp=8, pp=3, recompute="selective"),
    ]
    # weak scaling of Llama-3-70B TP8 PP4 at a fixed batch per replica (16 sequences), 64 -> 4096 H100
    jobs += [Job(f"mc_l70_h100_weak_{n}", "Megatron-Core, weak scaling", gpu=H, gpus=n, model="llama3-70b",
                 seq=8192, gbs=n // 32 * 16, tp=8, pp=4, vpp=5, recompute="selective", series="l70_weak")
             for n in (64, 256, 1024, 4096)]
    # strong scaling of Llama-3-8B at GBS 1024 (TP1, ZeRO-1), 64 -> 1024 H100
    jobs += [Job(f"mc_l8_h100_strong_{n}", "Megatron-Core, strong scaling", gpu=H, gpus=n, model="llama3-8b",
                 seq=8192, gbs=1024, tp=1, cp=1, recompute="selective", series="l8_strong")
             for n in (64, 128, 256, 512, 1024)]
    # weak scaling at the largest counts: Llama-3.1-405B TP8 PP16 (8 sequences per replica) 1,024 -> 16,384 H100;
    # DeepSeek-V3 PP16 EP64 (16 sequences per replica) 1,024 -> 4,096 H100; Llama-3-70B on GB200 racks 64 -> 1,024
    jobs += [Job(f"mc_l405_h100_weak_{n}", "Megatron-Core, weak scaling", gpu=H, gpus=n, model="llama3.1-405b",
                 seq=8192, gbs=n // 128 * 8, tp=8, pp=16, recompute="full", series="l405_weak")
             for n in (1024, 4096, 16384)]
    jobs += [Job(f"mc_dsv3_h100_weak_{n}", "Megatron-Core, weak scaling", gpu=H, gpus=n, model="deepseek-v3",
                 seq=4096, gbs=n // 16 * 16, pp=16, ep=64, recompute="full", series="dsv3_weak")
             for n in (1024, 2048, 4096)]
    jobs += [Job(f"mb_l70_gb200_weak_{n}", "Megatron-Bridge GB200 layout, weak scaling", gpu="GB200-B200", gpus=n,
                 fw="megatron-bridge", model="llama3-70b", seq=8192, gbs=n * 2, tp=2, pp=4, vpp=5, recompute="full",
                 series="l70gb_weak") for n in (64, 256, 1024)]
    # context parallelism at a fixed 8,192 tokens a GPU: the sequence grows with CP (Llama-3-8B, 8 -> 128 H100)
    jobs += [Job(f"mc_l8_h100_cp{cp}", "Megatron-Core CP, weak scaling in sequence", gpu=H, gpus=8 * cp,
                 model="llama3-8b", seq=8192 * cp, gbs=8, cp=cp, recompute="full", series="l8cp_weak")
             for cp in (1, 2, 4, 8, 16)]
    return jobs


def titan_jobs() -> list[Job]:
    H, H2, B, A = "H100-SXM-80GB", "H200-SXM-141GB", "B200-SXM-180GB", "A100-SXM-80GB"
    l8 = dict(model="llama3-8b", seq=8192)
    return [
        _titan("tt_l8_h100_fsdp8", H, 8, **l8, gbs=8),
        _titan("tt_l8_h100_fsdp64_fp8", H, 64, **l8, gbs=64, precision="fp8", opts={"fp8_recipe": "tensorwise"}),
        _titan("tt_l8_h100_fsdp64_rowwise", H, 64, **l8, gbs=64, precision="fp8", opts={"fp8_recipe": "rowwise"}),
        _titan("tt_l8_h100_fsdp512", H, 512, **l8, gbs=512, series="tt_l8_weak"),
        _titan("tt_l8_h100_fsdp128", H, 128, **l8, gbs=128, series="tt_l8_weak"),
        _titan("tt_l8_h100_fsdp2048", H, 2048, **l8, gbs=2048, series="tt_l8_weak"),
        _titan("tt_l8_h100_cp8_128k", H, 32, model="llama3-8b", seq=131072, gbs=4, cp=8, recompute="full"),
        _titan("tt_l8_h100_cp16_256k", H, 64, model="llama3-8b", seq=262144, gbs=4, cp=16, recompute="full"),
        _titan("tt_l70_h100_tp8_async", H, 64, model="llama3-70b", seq=8192, gbs=64, tp=8, recompute="full",
               opts={"tp_overlap": "async_tp", "compile": True}),
        _titan("tt_l70_h100_tp8_async_fp8", H, 256, model="llama3-70b", seq=8192, gbs=256, tp=8, recompute="full",
               precision="fp8", opts={"tp_overlap": "async_tp", "compile": True, "fp8_recipe": "tensorwise"}),
        _titan("tt_l70_h200_tp4_fsdp", H2, 128, model="llama3-70b", seq=8192, gbs=128, tp=4, recompute="full"),
        _titan("tt_l405_h100_3d_512", H, 512, model="llama3.1-405b", seq=8192, gbs=64, tp=8, pp=8,
               recompute="full", par={"schedule": "interleaved"}, vpp=2,
               opts={"tp_overlap": "async_tp", "compile": True}),
        _titan("tt_l405_h100_3d_512_less", H, 512, model="llama3.1-405b", seq=8192, gbs=64, tp=8, pp=8,
               recompute="full", opts={"pp_first_stage_less_layers": 1, "pp_last_stage_less_layers": 1}),
        _titan("tt_l405_h100_3d_512_fp8", H, 512, model="llama3.1-405b", seq=8192, gbs=64, tp=8, pp=8,
               recompute="full", precision="fp8", opts={"fp8_recipe": "rowwise"}),
        _titan("tt_l405_b200_fsdp_tp8_256", B, 256, model="llama3.1-405b", seq=8192, gbs=64, tp=8,
               recompute="full"),
        _titan("tt_l13_a100_fsdp64", A, 64, model="llama2-13b", seq=4096, gbs=64, recompute="none"),
        _titan("tt_l70_a100_fsdp128", A, 128, model="llama2-70b", seq=4096, gbs=128, recompute="full"),
        _titan("tt_l70_b200_hsdp", B, 256, model="llama3-70b", seq=8192, gbs=256, recompute="full",
               par={"dp_shard": 64}),
        _titan("tt_dsv3_h100_256", H, 256, model="deepseek-v3", seq=4096, gbs=512, pp=8, ep=32, recompute="full"),
    ]


def other_stack_jobs() -> list[Job]:
    A, H, H2, B = "A100-SXM-80GB", "H100-SXM-80GB", "H200-SXM-141GB", "B200-SXM-180GB"
    return [
        # DeepSpeed ZeRO-3 at large DP (DeepSpeedExamples training/ ZeRO-3 configs; the HF model code)
        Job("ds_l70_z3_h100_256", "DeepSpeed ZeRO-3", gpu=H, gpus=256, model="llama2-70b", seq=4096, gbs=512,
            zero=3, fw="deepspeed", recompute="full"),
        Job("ds_l70_z3_a100_512", "DeepSpeed ZeRO-3", gpu=A, gpus=512, model="llama2-70b", seq=4096, gbs=1024,
            zero=3, fw="deepspeed", recompute="full"),
        Job("ds_l7_z1_a100_256", "DeepSpeed ZeRO-1", gpu=A, gpus=256, model="llama2-7b", seq=4096, gbs=1024,
            mb=4, zero=1, fw="deepspeed", recompute="full"),
        Job("ds_l8_ulysses_h100_64", "DeepSpeed Ulysses", gpu=H, gpus=64, model="llama3-8b", seq=65536, gbs=16,
            cp=8, zero=3, fw="deepspeed", recompute="full"),
        # MaxText GPU configs (MaxText/configs/gpu: llama2_70b FSDP across the slice)
        Job("mt_l70_fsdp_h100_128", "MaxText configs/gpu llama2_70b", gpu=H, gpus=128, model="llama2-70b",
            seq=4096, gbs=512, mb=4, zero=3, fw="maxtext", recompute="full"),
        Job("mt_l7_fsdp_a100_64", "MaxText configs/gpu llama2_7b", gpu=A, gpus=64, model="llama2-7b",
            seq=4096, gbs=256, mb=4, zero=3, fw="maxtext", recompute="full"),
        # Mixtral with EP (Megatron-Core examples/mixtral; Megatron-Bridge mixtral recipe: TP1 PP4 EP8 VP8)
        Job("mc_mixtral8x7b_h100_64", "Megatron-Core examples/mixtral", gpu=H, gpus=64, model="mixtral-8x7b",
            seq=4096, gbs=256, tp=1, pp=4, vpp=8, ep=8, recompute="none"),
        Job("mc_mixtral8x22b_h100_256", "NeMo mixtral_8x22b recipe", gpu=H, gpus=256, model="mixtral-8x22b",
            seq=4096, gbs=256, tp=2, pp=8, vpp=7, ep=8, recompute="selective"),
        Job("mc_mixtral8x22b_h100_64k_cp", "NeMo mixtral_8x22b_64k recipe", gpu=H, gpus=256,
            model="mixtral-8x22b", seq=65536, gbs=32, tp=2, pp=4, cp=8, ep=8, recompute="full"),
        Job("mc_mixtral8x7b_b200_fp8", "Megatron-Core examples/mixtral", gpu=B, gpus=64, model="mixtral-8x7b",
            seq=4096, gbs=256, tp=1, pp=1, ep=8, recompute="none", precision="fp8",
            opts={"fp8_recipe": "mxfp8"}),
        # DeepSeek-V3-style at scale (DeepSeek-V3 report §3.2: PP 16, EP 64 across 8 nodes, ZeRO-1 DP)
        Job("mc_dsv3_h800_2048", "DeepSeek-V3 report layout", gpu="H800-SXM-80GB", gpus=2048, model="deepseek-v3",
            seq=4096, gbs=15360, tp=1, pp=16, ep=64, recompute="selective", precision="fp8",
            opts={"fp8_recipe": "blockwise"}),
        Job("tt_dsv3_h100_2048_dualpipev", "torchtitan DeepSeek-V3, DualPipeV", gpu=H, gpus=2048,
            model="deepseek-v3", seq=4096, gbs=15360, tp=1, pp=16, ep=64, zero=3, recompute="none", fw="torchtitan",
            par={"schedule": "dualpipev"}),
        Job("mc_kimi_k2_h200_1024", "Megatron-Bridge kimi configs", gpu=H2, gpus=1024, model="kimi-k2", seq=4096,
            gbs=4096, tp=1, pp=16, ep=64, recompute="full"),
        # LoRA fine-tunes of Llama-2-70B (MLPerf-style task shape: seq 8192, GBS 8; Megatron-Bridge llama2 70B
        # LoRA perf config TP1 PP4 CP1 on 8 H100; NeMo llama2 lora TP4 CP2) -- no result read
        # Megatron-Bridge llama3_workload_base_configs.py LoRA presets (seq 4,096 assumed: the packed-SQuAD recipes'):
        # H100 TP1 PP4 VP20 GBS 32 (bf16: recompute_num_layers 1), B200 TP1 PP2 GBS 32, GB200 TP1 PP1 GBS 64
        Job("mb_l3_70b_lora_h100_8_pp4", "Megatron-Bridge llama3 70B LoRA", gpu=H, gpus=8, model="llama3-70b",
            seq=4096, gbs=32, tp=1, pp=4, vpp=20, recompute="full", fw="megatron-bridge",
            train={"mode": "lora", "lora": {"rank": 16, "alpha": 32}, "recompute_method": "uniform",
                   "recompute_num_layers": 1}),
        Job("mb_l3_70b_lora_b200_8_pp2", "Megatron-Bridge llama3 70B LoRA", gpu=B, gpus=8, model="llama3-70b",
            seq=4096, gbs=32, tp=1, pp=2, recompute="none", fw="megatron-bridge",
            train={"mode": "lora", "lora": {"rank": 16, "alpha": 32}}),
        Job("mb_l3_70b_lora_gb200_8", "Megatron-Bridge llama3 70B LoRA", gpu="GB200-B200", gpus=8,
            model="llama3-70b", seq=4096, gbs=64, tp=1, pp=1, recompute="none", fw="megatron-bridge",
            train={"mode": "lora", "lora": {"rank": 16, "alpha": 32}}),
        Job("mb_l2_70b_lora_h100_8_qkv_proj", "Megatron-Bridge LoRA, attention targets", gpu=H, gpus=8,
            model="llama2-70b", seq=4096, gbs=32, tp=1, pp=4, vpp=20, recompute="none", fw="megatron-bridge",
            train={"mode": "lora", "lora": {"rank": 16, "alpha": 32, "targets": ["linear_qkv", "linear_proj"]}}),
        Job("nemo_l2_70b_lora_h100_8_tp4cp2", "NeMo llama2 70B LoRA", gpu=H, gpus=8, model="llama2-70b",
            seq=8192, gbs=8, tp=4, cp=2, recompute="none", fw="nemo",
            train={"mode": "lora", "lora": {"rank": 16, "alpha": 32}}),
        Job("nemo_l2_70b_lora_h100_64", "NeMo llama2 70B LoRA", gpu=H, gpus=64, model="llama2-70b",
            seq=8192, gbs=8, tp=4, cp=2, recompute="none", fw="nemo",
            train={"mode": "lora", "lora": {"rank": 16, "alpha": 32}}),
        Job("nemo_l2_70b_lora_b200_8_fp8", "NeMo llama2 70B LoRA", gpu=B, gpus=8, model="llama2-70b",
            seq=8192, gbs=8, tp=1, cp=1, pp=1, recompute="none", fw="nemo", precision="fp8",
            opts={"fp8_recipe": "tensorwise"}, train={"mode": "lora", "lora": {"rank": 16, "alpha": 32}}),
        Job("nemo_l2_70b_lora_gb200_8", "NeMo llama2 70B LoRA", gpu="GB200-B200", gpus=8,
            model="llama2-70b", seq=8192, gbs=8, tp=1, cp=2, recompute="none", fw="nemo",
            train={"mode": "lora", "lora": {"rank": 16, "alpha": 32}}),
        Job("hf_l3_70b_lora_fsdp_h100_16", "accelerate FSDP LoRA", gpu=H, gpus=16, model="llama3-70b",
            seq=4096, gbs=32, zero=3, fw="hf-trainer", recompute="full",
            train={"mode": "lora", "lora": {"rank": 16, "alpha": 32}}),
        Job("tt_l8_gb200_fsdp_64", "torchtitan on a GB200 rack", gpu="GB200-B200", gpus=64,
            model="llama3-8b", seq=8192, gbs=64, zero=3, fw="torchtitan", recompute="none"),
    ]


def all_jobs() -> list[Job]:
    return megatron_bridge_jobs() + dense_classic_jobs() + titan_jobs() + other_stack_jobs()


@dataclass
class Outcome:
    job: Job
    kind: str  # ran | refused | crashed
    message: str = ""
    step_s: float = float("nan")
    mfu: float = float("nan")  # of the dense bf16 peak (fp8 runs too: the envelope's convention)
    tok_gpu: float = float("nan")
    mem_gib: float = float("nan")
    limit_gib: float = float("nan")
    fits: bool = True
    flags: list[str] = field(default_factory=list)


def run_job(job: Job, folder: Path) -> Outcome:
    path = folder / f"{job.name}.yaml"
    path.write_text(yaml.safe_dump(job.spec(), sort_keys=False))
    code, out, err, raised = run_main(["estimate", str(path), "--json"])
    if raised is not None:
        return Outcome(job, "crashed", signature(raised))
    if code != 0:
        line = next((ln for ln in err.splitlines() if ln.startswith("error:")), err.strip()[:300])
        return Outcome(job, "crashed" if "internal error" in err or "Traceback" in err else "refused", line)
    js = json.loads(out)
    mem = js["memory_per_gpu_bytes"]
    gpus = js["hardware"]["gpus"]
    mfu = js["flops_per_step"] / js["step_time_s"] / gpus / (BF16_PEAK[job.gpu] * 1e12) if job.gpu in BF16_PEAK \
        else js["mfu"]
    o = Outcome(job, "ran", step_s=js["step_time_s"], mfu=mfu, tok_gpu=js["tokens_per_s_per_gpu"],
                mem_gib=mem["total"] / 2**30, limit_gib=mem["limit"] / 2**30, fits=bool(js["fits"]))
    o.flags = envelope_flags(o)
    return o


def envelope_flags(o: Outcome) -> list[str]:
    """MFU above the GPU's published envelope (the job's precision's cell), or not fitting memory."""
    flags = []
    cell = ENVELOPE.get(o.job.gpu, {})
    # NVFP4 runs its GEMMs at the FP4 peak (2x FP8's): no published run bounds it, so no cell
    kind = "fp4" if o.job.opts.get("fp8_recipe") == "nvfp4" else o.job.precision
    top = cell.get(kind)
    if top is not None and o.mfu > top:
        flags.append(f"MFU>{top:.0%}")
    if not o.fits:
        flags.append("over-memory")
    return flags


def scaling_failures(outcomes: list[Outcome]) -> list[str]:
    """The weak / strong scaling checks over each series (``Job.series``), ordered by GPU count."""
    out = []
    by: dict[str, list[Outcome]] = {}
    for o in outcomes:
        if o.job.series and o.kind == "ran":
            by.setdefault(o.job.series, []).append(o)
    for key, seq in by.items():
        seq.sort(key=lambda o: o.job.gpus)
        for a, b in zip(seq, seq[1:]):
            if key.endswith("_weak") and b.tok_gpu > a.tok_gpu * (1 + WEAK_TOLERANCE):
                out.append(f"{key}: {a.job.gpus} -> {b.job.gpus} GPUs at the same batch per replica, per-GPU rate "
                           f"{a.tok_gpu:,.0f} -> {b.tok_gpu:,.0f} tokens/s (rises)")
            if key.endswith("_strong") and (b.step_s > a.step_s or b.tok_gpu > a.tok_gpu * (1 + WEAK_TOLERANCE)):
                out.append(f"{key}: {a.job.gpus} -> {b.job.gpus} GPUs at the same global batch, step "
                           f"{a.step_s:.3g} -> {b.step_s:.3g} s, per-GPU {a.tok_gpu:,.0f} -> {b.tok_gpu:,.0f}")
    return out


def table(outcomes: list[Outcome], verbose: bool) -> str:
    lines = [f"{'job':38s} {'GPU':15s} {'GPUs':>6s} {'layout':24s} {'outcome':8s} {'step s':>8s} {'MFU':>6s} "
             f"{'mem/limit GiB':>14s} flags"]
    for o in outcomes:
        j = o.job
        lay = f"tp{j.tp} pp{j.pp}{f'v{j.vpp}' if j.vpp else ''} cp{j.cp}{f' ep{j.ep}' if j.ep else ''} z{j.zero}" \
              f" {j.precision}"
        if o.kind == "ran":
            lines.append(f"{j.name:38s} {j.gpu:15s} {j.gpus:6d} {lay:24s} {'ran':8s} {o.step_s:8.3f} "
                         f"{o.mfu:6.1%} {o.mem_gib:6.1f}/{o.limit_gib:<7.1f} {' '.join(o.flags)}")
        else:
            lines.append(f"{j.name:38s} {j.gpu:15s} {j.gpus:6d} {lay:24s} {o.kind:8s} "
                         + (o.message if verbose else o.message[:160]))
    return "\n".join(lines)


def summary(outcomes: list[Outcome], scaling: list[str]) -> str:
    n = {k: sum(o.kind == k for o in outcomes) for k in ("ran", "refused", "crashed")}
    mfu_out = sum(any(f.startswith("MFU>") for f in o.flags) for o in outcomes)
    over = sum("over-memory" in o.flags for o in outcomes)
    return (f"jobs {len(outcomes)}: ran {n['ran']}, refused {n['refused']}, crashed {n['crashed']}, "
            f"MFU out of envelope {mfu_out}, over memory {over}, scaling failures {len(scaling)}")


def main(argv: list[str] | None = None) -> int:
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.splitlines()[0])
    ap.add_argument("--verbose", action="store_true", help="refusals in full")
    ap.add_argument("--only", default="", help="the jobs whose name contains this")
    args = ap.parse_args(argv)
    os.environ["PLANNER_DEBUG"] = "1"
    jobs = [j for j in all_jobs() if args.only in j.name]
    with tempfile.TemporaryDirectory(prefix="scale_sweep_") as tmp:
        outcomes = [run_job(j, Path(tmp)) for j in jobs]
    scaling = scaling_failures(outcomes)
    print(table(outcomes, args.verbose))
    for s in scaling:
        print("scaling:", s)
    print(summary(outcomes, scaling))
    return 1 if scaling or any(o.kind == "crashed" for o in outcomes) else 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
