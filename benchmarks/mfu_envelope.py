"""MFU envelope: predicted MFU of one well-tuned canonical configuration per GPU, and of the best
plan ``planner recommend`` finds for three reference jobs on that GPU, beside the best published
MFU and HFU for that GPU (with their sources), to show whether a GPU's reachable efficiency is
plausible (the issue's "A100 plans reach 72-77% MFU, the best published A100 runs 50-64%").

Canonical job: Llama-3-70B (80 layers, GQA 8, vocab 128256), seq 8192, global batch 512
sequences, bf16, 64 GPUs in nodes of 8 with 8 x 400 Gb/s, TP 8 + sequence parallel, PP 4 with
5 interleaved chunks, DP 2 with the distributed optimizer, micro-batch 1, selective recompute,
on the default stack (Megatron-Core + Transformer Engine, planner.defaults.FRAMEWORK). MFU counts
6*N*tokens + attention (no causal halving), against the dense bf16 datasheet peak.

Recommended plans (``REFERENCE_JOBS``): Llama-2-13B at seq 4096, Llama-3-8B and Llama-3-70B at
seq 8192, global batch 1024 sequences, 1T tokens, objective cost, ``constraints.gpus`` the one GPU
type, every stack option left open; the highest MFU among the three winners is shown. Such plans
run without recompute at TP 1 with many micro-batches per step, which no published run does, so
their MFU is compared with the best published *HFU* as well: the FLOP rate (recompute included)
the same GPU sustained through a whole training step. A plan whose MFU (= its HFU without
recompute) stays under that rate asks the GPU for nothing a measured step has not done.

Run: ``PYTHONPATH=$PWD python benchmarks/mfu_envelope.py [--markdown]``
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hardware_catalog import load_catalog  # noqa: E402
from planner.hardware.options import HardwareOption, efficiency_for  # noqa: E402
from planner.layout import Candidates  # noqa: E402
from planner.model.step_time import step_time  # noqa: E402
from planner.search.recommend import recommend  # noqa: E402
from planner.errors import InputError  # noqa: E402
from planner.spec.load import load_job_dict  # noqa: E402
from planner.spec import ModelSpec, TrainingSpec  # noqa: E402
from planner.spec.presets import PRESETS  # noqa: E402
from planner.vocab import RECOMPUTE, SCHEDULE  # noqa: E402

#: best published MFU per GPU (model FLOPs / datasheet dense bf16 peak), each with its source;
#: development-set sources only (the held-out sources are not read)
PUBLISHED = {
    "A100-SXM-80GB": (0.64, "llm-foundry benchmark tables (mosaicml/llm-foundry scripts/train/benchmarking/README.md "
                            "@8c8dd48f): best A100-80GB amp_bf16 row 64.2% MFU (MPT-7B, seq 2048, no recompute; their "
                            "definition, dev_published_runs.csv lf_*); torchtitan docs/performance.md Llama-2-13B, 64 "
                            "A100, no recompute: 61.1% (published_runs_2.csv titan_doc_a100_l2_13b_none); at 22B-1T "
                            "scale Korthikanti et al. 2022 (arXiv:2205.05198) 530B, selective + SP: 56.0% (kor22_*)"),
    "H100-SXM-80GB": (0.46, "llm-foundry benchmark tables (same file): best H100 amp_bf16 row 46.4% MFU "
                            "(dev_published_runs.csv lf_*); torchtitan's H100 rows ran on 500 W 96 GB parts "
                            "(README of published_runs_2.csv) and their bf16 rows reach 39% of the 700 W peak"),
    "H200-SXM-141GB": (None, "no H200 bf16 training MFU in the development sources"),
    "B200-SXM-180GB": (None, "Megatron-Bridge 25.11 B200 rows are FP8 (published_runs_2.csv mbridge2511_b200_*); "
                             "no bf16 figure in the development sources"),
    "MI300X-192GB": (None, "no MI300X training MFU in the development sources"),
}

#: best published HFU per GPU: hardware FLOP/s (recomputed forward included) / dense bf16 peak over a
#: whole training step, i.e. the rate the GPU sustained with its power limit, NCCL and every
#: memory-bound kernel in the step. llm-foundry's table gives HFU = 4/3 MFU for its full-recompute
#: rows (dev_published_runs.csv notes)
PUBLISHED_HFU = {
    "A100-SXM-80GB": (0.793, "llm-foundry A100-80GB MPT-13B seq 1024, micro-batch 40, full recompute, FSDP on 8 GPUs: "
                             "HFU 79.3% (247 TFLOP/s; lf_a100_80_mpt13b_s1024_g8_mb40); MPT-13B seq 4096: 76.8%. "
                             "Matmul alone: 267.9 TFLOP/s = 85.9% (stas00/ml-engineering compute/accelerator "
                             "README, MAMF table)"),
    "H100-SXM-80GB": (0.590, "llm-foundry H100 MPT-13B seq 1024, micro-batch 40, full recompute: HFU 59.0% "
                             "(lf_h100_mpt13b_s1024_g8_mb40). Matmul alone: 792.1 TFLOP/s = 80.1% (ml-engineering "
                             "MAMF table)"),
    "H200-SXM-141GB": (None, "-"),
    "B200-SXM-180GB": (None, "-"),
    "MI300X-192GB": (None, "-"),
}

#: (preset, seq_len) of the reference jobs whose recommended plans the envelope reports
REFERENCE_JOBS = (("llama2-13b", 4096), ("llama3-8b", 8192), ("llama3-70b", 8192))


def canonical(cat, gpu_name):
    p = dict(PRESETS["llama3-70b"])
    m = ModelSpec(**p)
    t = TrainingSpec(seq_len=8192, global_batch=512, precision="bf16", recompute="selective")
    gpu = cat.gpu(gpu_name)
    hw = HardwareOption(name=gpu.name, gpu=gpu, gpus_per_node=8, inter_node_bw=3200e9 / 8,
                        intra_bw=gpu.intra_node_bw, eff=efficiency_for(gpu))
    c = Candidates(tp=np.array([8]), pp=4, dp=2, cp=1, ep=1, vpp=5, zero=1, mb=1, rc=RECOMPUTE.code["selective"],
                   sp=True, schedule=SCHEDULE.code["interleaved"], gpus_per_node=8, nodes=8)
    st = step_time(m, t, c, hw)
    return float(st["mfu"][0]), float(st["tokens_per_s_per_gpu"][0])


def best_plan(cat, gpu_name):
    """(MFU, description) of the highest-MFU winner of ``planner recommend`` over the reference jobs
    restricted to ``gpu_name``; (None, why) where no catalog instance carries the GPU."""
    best = (None, "no instance in the catalog")
    for preset, seq in REFERENCE_JOBS:
        job = load_job_dict({"model": {"preset": preset},
                             "training": {"seq_len": seq, "global_batch": 1024, "precision": "bf16", "tokens": 1e12},
                             "constraints": {"objective": "cost", "gpus": [gpu_name]}})
        try:
            p = recommend(job, catalog=cat, top=1).best
        except InputError:
            continue
        if best[0] is None or p.mfu > best[0]:
            c = p.config
            best = (float(p.mfu), f"{preset} s{seq}: TP{c.tp} PP{c.pp} DP{c.dp} z{c.zero} mb{c.micro_batch} "
                                  f"recompute {c.recompute}")
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    cat = load_catalog()
    rows = []
    for g, (pub, src) in PUBLISHED.items():
        mfu, tps = canonical(cat, g)
        plan, plan_desc = best_plan(cat, g)
        hfu, hfu_src = PUBLISHED_HFU[g]
        rows.append((g, mfu, tps, plan, plan_desc, pub, src, hfu, hfu_src))

    def pct(x, digits=0):
        return "-" if x is None else f"{x:.{digits}%}"

    if args.markdown:
        print("| GPU | predicted MFU (canonical) | tokens/s/GPU | best recommended plan MFU | best published MFU "
              "| best published HFU | sources |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for g, mfu, tps, plan, pd_, pub, src, hfu, hsrc in rows:
            srcs = src if hfu is None else f"MFU: {src}. HFU: {hsrc}"
            print(f"| {g} | {mfu:.1%} | {tps:,.0f} | {pct(plan, 1)} ({pd_}) | {pct(pub)} | {pct(hfu, 1)} | {srcs} |")
    else:
        for g, mfu, tps, plan, pd_, pub, src, hfu, hsrc in rows:
            print(f"{g:18s} predicted MFU {mfu:6.1%}  {tps:8,.0f} tok/s/GPU  best plan {pct(plan, 1):>6s}  "
                  f"published MFU {pct(pub):>4s} HFU {pct(hfu, 1):>6s}  [{pd_}]")
    return rows


if __name__ == "__main__":
    main()
