"""MFU envelope: predicted MFU of one well-tuned canonical configuration per GPU, beside the best
published MFU for that GPU (with its source), to show whether a GPU's reachable efficiency is
plausible (the issue's "A100 plans reach 72-77% MFU, the best published A100 runs 50-64%").

Canonical job: Llama-3-70B (80 layers, GQA 8, vocab 128256), seq 8192, global batch 512
sequences, bf16, 64 GPUs in nodes of 8 with 8 x 400 Gb/s, TP 8 + sequence parallel, PP 4 with
5 interleaved chunks, DP 2 with the distributed optimizer, micro-batch 1, selective recompute,
on the default stack (Megatron-Core + Transformer Engine, planner.defaults.FRAMEWORK). MFU counts
6*N*tokens + attention (no causal halving), against the dense bf16 datasheet peak.

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
from planner.spec import ModelSpec, TrainingSpec  # noqa: E402
from planner.spec.presets import PRESETS  # noqa: E402
from planner.vocab import RECOMPUTE, SCHEDULE  # noqa: E402

#: best published MFU per GPU (model FLOPs / datasheet dense bf16 peak), each with its source;
#: development-set sources only (the held-out sources are not read)
PUBLISHED = {
    "A100-SXM-80GB": (0.64, "llm-foundry benchmark tables (mosaicml/llm-foundry scripts/train/benchmarking/README.md "
                            "@8c8dd48f): best A100-80GB amp_bf16 row 64.2% MFU (their definition, dev_published_runs.csv "
                            "lf_*); at 22B-1T scale Korthikanti et al. 2022 (arXiv:2205.05198) 530B, selective + SP: "
                            "56.0% (published_runs_2.csv kor22_*)"),
    "H100-SXM-80GB": (0.46, "llm-foundry benchmark tables (same file): best H100 amp_bf16 row 46.4% MFU "
                            "(dev_published_runs.csv lf_*)"),
    "H200-SXM-141GB": (None, "no H200 bf16 training MFU in the development sources"),
    "B200-SXM-180GB": (None, "Megatron-Bridge 25.11 B200 rows are FP8 (published_runs_2.csv mbridge2511_b200_*); "
                             "no bf16 figure in the development sources"),
    "MI300X-192GB": (None, "no MI300X training MFU in the development sources"),
}


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    cat = load_catalog()
    rows = []
    for g, (pub, src) in PUBLISHED.items():
        mfu, tps = canonical(cat, g)
        rows.append((g, mfu, tps, pub, src))
    if args.markdown:
        print("| GPU | predicted MFU (canonical) | tokens/s/GPU | best published MFU | source |")
        print("|---|---:|---:|---:|---|")
        for g, mfu, tps, pub, src in rows:
            print(f"| {g} | {mfu:.1%} | {tps:,.0f} | {'-' if pub is None else f'{pub:.0%}'} | {src} |")
    else:
        for g, mfu, tps, pub, src in rows:
            print(f"{g:18s} predicted MFU {mfu:6.1%}  {tps:8,.0f} tok/s/GPU  published {'-' if pub is None else f'{pub:.0%}'}")
    return rows


if __name__ == "__main__":
    main()
