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
the same GPU sustained through a whole training step. HFU still counts work a step may skip (causal
attention in full; the down projection an early-stopping checkpoint does not re-run), so
``benchmarks/mfu_frontier.py`` compares executed FLOP rates: the best A100 plan executes 71.8% of
peak, the best measured A100 step 71.5% (tests/test_mfu_frontier.py).

Published figures for the GPUs the development sources lack (H200, B200, MI300X), and for A100 the
FlashAttention-2 paper's end-to-end run beside the development figure (``published``), come from
``benchmarks/data/published_mfu.csv``: one row per published training measurement with its
provenance, model, sequence length, GPU count, layout, precision, stack and the exact metric the
source reports. Every row is converted to MFU the same way: where the source states a rate
(tokens/s/GPU, or global batch x sequence / step time / GPUs) the planner's own model FLOPs per
token (``planner.model.flops.step_flops``, attention counted in full as in the canonical column)
times that rate over the catalog's dense bf16 peak; where it only states TFLOP/s, that number over
the same peak, flagged as the source's FLOP convention. FP8 runs are shown in their own column, also
against the bf16 peak (so an FP8 run can exceed what bf16 GEMMs could reach). Rows whose
``envelope`` column is ``no`` (proxies, or GPUs whose cell keeps its development figure) are kept
for the record and not shown.

Run: ``PYTHONPATH=$PWD python benchmarks/mfu_envelope.py [--markdown]``
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hardware_catalog import load_catalog  # noqa: E402
from planner.hardware.options import HardwareOption, efficiency_for, reference_network  # noqa: E402
from planner.layout import Candidates  # noqa: E402
from planner.model import stacks  # noqa: E402
from planner.model.step_time import step_time  # noqa: E402
from planner.search.recommend import recommend  # noqa: E402
from planner.errors import InputError  # noqa: E402
from planner.model.flops import step_flops  # noqa: E402
from planner.spec.load import load_job_dict  # noqa: E402
from planner.spec import ModelSpec, TrainingSpec  # noqa: E402
from planner.spec.presets import PRESETS  # noqa: E402
from planner.vocab import RECOMPUTE, SCHEDULE  # noqa: E402

#: best published MFU per GPU (model FLOPs / datasheet dense bf16 peak), each with its source, from
#: the development sources; a GPU with a bf16 row in PUBLISHED_RUNS takes that row instead (``published``)
PUBLISHED = {
    "A100-SXM-80GB": (0.64, "llm-foundry benchmark tables (mosaicml/llm-foundry scripts/train/benchmarking/README.md "
                            "@8c8dd48f): best A100-80GB amp_bf16 row 64.2% MFU (MPT-7B, seq 2048, no recompute; their "
                            "definition, dev_published_runs.csv lf_*); torchtitan docs/performance.md Llama-2-13B, 64 "
                            "A100, no recompute: 61.1% (published_runs_2.csv titan_doc_a100_l2_13b_none); at 22B-1T "
                            "scale Korthikanti et al. 2022 (arXiv:2205.05198) 530B, selective + SP: 56.0% (kor22_*)"),
    "H100-SXM-80GB": (0.601, "NVIDIA DGX Cloud Benchmarking (NVIDIA/dgxc-benchmarking llama3.1/README_8b.md, "
                             "NeMo 24.12): Llama 3.1 8B bf16 on 8 H100, TP1 CP2, no recompute, 12.78 s per step = "
                             "60.1% MFU at the planner's FLOP count (benchmarks/data/dgxc_runs.csv "
                             "dgxc_2412_llama31-8b_bf16_8; the README prints 59.99% by its own formula); 70B at 64 "
                             "GPUs 54.1%. llm-foundry's best H100 amp_bf16 row 46.4% (dev_published_runs.csv lf_*); "
                             "torchtitan's H100 rows ran on 500 W 96 GB parts and reach 39% of the 700 W peak"),
    "H200-SXM-141GB": (None, "no citable H200 bf16 training rate found: the Crusoe 2K-H200 float8 blog "
                             "(PyTorch) gives its BF16 throughput only in charts and no batch size in text; "
                             "SemiAnalysis' Dec 2024 MI300X/H100/H200 article shows charts, and its H200 figures in "
                             "ROCm/TransformerEngine issues #72/#79 are FP8 and 'preliminary'; torchtitan's H200 "
                             "benchmark files are held out"),
    "B200-SXM-180GB": (None, "no bf16 figure in the development sources (Megatron-Bridge 25.11 B200 dense rows are "
                             "FP8)"),
    # a published_mfu.csv bf16 row replaces the text below (mi300x_tprimat_*: a small single-node Primus run)
    "MI300X-192GB": (None, "AMD's ROCm performance-results page and MI355X blog give training figures as charts or "
                           "ratios; SemiAnalysis' stated rate is FP8 on a 4-layer Llama-3-70B proxy (published_mfu.csv "
                           "mi300x_sa_*, not used)"),
}

#: best published HFU per GPU: hardware FLOP/s (recomputed forward included) / dense bf16 peak over a
#: whole training step, i.e. the rate the GPU sustained with its power limit, NCCL and every
#: memory-bound kernel in the step. llm-foundry's table gives HFU = 4/3 MFU for its full-recompute
#: rows (dev_published_runs.csv notes). Where the GPU has none, ``published_hfu`` uses the best
#: published bf16 MFU as a lower bound (HFU >= MFU whatever was recomputed)
PUBLISHED_HFU = {
    "A100-SXM-80GB": (0.793, "llm-foundry A100-80GB MPT-13B seq 1024, micro-batch 40, full recompute, FSDP on 8 GPUs: "
                             "HFU 79.3% (247 TFLOP/s; lf_a100_80_mpt13b_s1024_g8_mb40; executed 71.5%: its checkpoint "
                             "skips the down projection, its causal kernel half the scores, mfu_frontier.py); "
                             "MPT-13B seq 4096: 76.8%. "
                             "Matmul alone: 267.9 TFLOP/s = 85.9% (stas00/ml-engineering compute/accelerator "
                             "README, MAMF table)"),
    "H100-SXM-80GB": (0.601, "the dgxc Llama 3.1 8B row above (no recompute, so HFU = MFU): 60.1%; llm-foundry H100 "
                             "MPT-13B seq 1024, micro-batch 40, full recompute: HFU 59.0% "
                             "(lf_h100_mpt13b_s1024_g8_mb40). Matmul alone: 792.1 TFLOP/s = 80.1% (ml-engineering "
                             "MAMF table)"),
    "H200-SXM-141GB": (None, "Matmul alone: as H100 (ml-engineering MAMF v2 table: H100 SXM 794.5 TFLOP/s = 80.3%, "
                             "'H200 is the same')"),
    "B200-SXM-180GB": (None, "Matmul alone: 1745 TFLOP/s = 77.6% of 2250 (ml-engineering MAMF v2 table, torch "
                             "2.7.1+cu128)"),
    "MI300X-192GB": (None, "Matmul alone: 668.4 TFLOP/s = 51.4% of 1300 (ml-engineering MAMF v2 table, ROCm 6.3, "
                           "TunableOp); 781.9 in its older v1 table (ROCm 6.2)"),
}

#: published training measurements on the GPUs the development sources lack, with provenance
PUBLISHED_RUNS = Path(__file__).resolve().parent / "data" / "published_mfu.csv"


def published_runs(path: Path = PUBLISHED_RUNS) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


#: what a row's ``mlp`` column implies about the rest of an architecture the CSV has no column for (its
#: ``ModelSpec`` fields beside ``mlp``). relu: Nemotron-4's squared ReLU with LayerNorm (the Nemotron-4 15B report, arXiv:2402.16819);
#: gelu: the GPT-2 / GPT-3 family (Brown et al. 2020 Sec. 2.1 "the same model and architecture as GPT-2"; Dao-AILab/
#: flash-attention flash_attn/models/gpt.py builds it from a GPT2Config: LayerNorm, biases on every linear, a learned
#: position table, the head tied to the embedding); swiglu: the Llama defaults of ``ModelSpec``
ARCH_BY_MLP = {
    "relu": {"norm": "layernorm"},
    "gelu": {"norm": "layernorm", "qkv_bias": True, "linear_bias": True, "position": "learned",
             "tied_embeddings": True},
    "swiglu": {},
}


def run_model(r: dict) -> ModelSpec:
    """The row's model: its planner preset, or the architecture columns the source states (``ARCH_BY_MLP`` for
    the rest; a learned position table as long as the row's sequence)."""
    if r["preset"]:
        return ModelSpec(**dict(PRESETS[r["preset"]], name=r["id"]))
    arch = dict(ARCH_BY_MLP[r["mlp"]])
    if arch.get("position") == "learned":
        arch["max_positions"] = int(r["seq_len"])
    return ModelSpec(name=r["id"], layers=int(r["layers"]), hidden=int(r["hidden"]), heads=int(r["heads"]),
                     kv_heads=int(r["kv_heads"]), ffn_hidden=int(r["ffn_hidden"]), vocab=int(r["vocab"]),
                     mlp=r["mlp"], **arch)


def model_flops_per_token(r: dict, causal_half: bool = False) -> float:
    """Model FLOPs per token of the row's model at its sequence length (attention in full unless
    ``causal_half``), from the one FLOP convention the planner uses."""
    seq = int(r["seq_len"])
    return float(step_flops(run_model(r), seq, 1, causal_half=causal_half)["model"]) / seq


def run_mfu(cat, r: dict) -> tuple[float, str]:
    """(MFU against the catalog's dense bf16 peak, how it was obtained) for one published row."""
    peak = cat.gpu(r["gpu"]).peak("bf16")
    if r["tokens_per_s_per_gpu"]:
        tps, fpt = float(r["tokens_per_s_per_gpu"]), model_flops_per_token(r)
        return tps * fpt / peak, (f"{tps:,.0f} tokens/s/GPU x {fpt / 1e9:.2f} GFLOP/token (planner count, full "
                                  f"attention) = {tps * fpt / 1e12:,.0f} TFLOP/s / {peak / 1e12:,.0f}")
    tf = float(r["reported_value"])
    return tf * 1e12 / peak, f"{tf:,.0f} TFLOP/s as the source counts FLOPs / {peak / 1e12:,.0f} (no rate stated)"


def _run_text(cat, r: dict) -> str:
    mfu, how = run_mfu(cat, r)
    lay = f"TP{r['tp']} PP{r['pp']} CP{r['cp']} DP{r['dp']}" + (f" VP{r['vp']}" if r["vp"] not in ("", "1") else "")
    model = (f"; the step-time model predicts its step {run_error(cat, r):+.1%} on the {RUN_STACK[r['id']]} stack"
             if r["id"] in RUN_STACK else "")
    return (f"{r['model']}, seq {r['seq_len']}, {r['num_gpus']} GPUs {lay}, {r['precision']}, {r['stack']}: "
            f"{how} = {mfu:.1%} ({r['source']}, {r['date']}; {r['id']}{model})")


def published(cat, gpu: str, which: str = "bf16", runs=None) -> tuple[float | None, str]:
    """Best published MFU of ``gpu`` among the PUBLISHED_RUNS rows marked ``which`` (bf16 or fp8),
    with the runner-up rows in the text; for bf16 without such a row, the PUBLISHED entry, and beside such a
    row the PUBLISHED entry where it has a figure (the higher of the two leads the text)."""
    rows = [r for r in (published_runs() if runs is None else runs) if r["gpu"] == gpu and r["envelope"] == which]
    dev = PUBLISHED.get(gpu, (None, "-")) if which == "bf16" else (None, "-")
    if not rows:
        return dev
    rows.sort(key=lambda r: run_mfu(cat, r)[0], reverse=True)
    best = run_mfu(cat, rows[0])[0]
    text = _run_text(cat, rows[0])
    if len(rows) > 1:
        text += ". Also: " + "; ".join(f"{r['id']} {run_mfu(cat, r)[0]:.1%}" for r in rows[1:])
    if dev[0] is None:
        return best, text
    if dev[0] > best:
        return dev[0], f"{dev[1]}. Also: {text}"
    return best, f"{text}. Development sources: {dev[1]}"


#: the registry stack a published row's own code is priced on (``run_error``): the FlashAttention-2 paper's training
#: code fuses its GEMM epilogues, LayerNorm + residual and cross-entropy with Apex kernels, as legacy Megatron-LM does;
#: flash-attention training/README.md "Model Components": FusedDense and FastLayerNorm adapted from Apex; plain DDP.
#: Megatron-Core prices that run 3.4% fast, megatron-lm 1.3% (docs/accuracy_log.md, a100mfu42)
RUN_STACK = {"a100_fa2_gpt3_2p7b_s8192_8": "megatron-lm"}


def run_error(cat, r: dict) -> float:
    """Predicted / measured - 1 of a published row's step (``step_time_s``) on its ``RUN_STACK`` stack: the
    step-time model on the run the envelope cites, with the layout, batch and recompute the row states."""
    m, seq, gb, mb = run_model(r), int(r["seq_len"]), int(r["global_batch"]), int(r["micro_batch"])
    t = TrainingSpec(seq_len=seq, global_batch=gb, precision="bf16", recompute=r["recompute"])
    gpu = cat.gpu(r["gpu"])
    hw = HardwareOption(name=gpu.name, gpu=gpu, gpus_per_node=int(r["gpus_per_node"]), inter_node_bw=1600e9 / 8,
                        intra_bw=gpu.intra_node_bw, eff=efficiency_for(gpu))
    c = Candidates(tp=np.array([int(r["tp"])]), pp=int(r["pp"]), dp=int(r["dp"]), cp=int(r["cp"]), ep=1, vpp=1,
                   zero=0, mb=mb, rc=RECOMPUTE.code[r["recompute"]], sp=False, schedule=SCHEDULE.code["1f1b"],
                   gpus_per_node=int(r["gpus_per_node"]), nodes=max(int(r["num_gpus"]) // int(r["gpus_per_node"]), 1))
    st = step_time(m, t, c, hw, framework=stacks.resolve(RUN_STACK[r["id"]]))
    return float(st["step_time_s"][0]) / float(r["step_time_s"]) - 1.0


def published_hfu(cat, gpu: str, runs=None) -> tuple[float | None, str, bool]:
    """(HFU, source, lower_bound): the PUBLISHED_HFU figure, else the best published bf16 MFU as a
    lower bound (recompute only adds hardware FLOPs, so a step's HFU is at least its MFU)."""
    hfu, text = PUBLISHED_HFU.get(gpu, (None, "-"))
    if hfu is not None:
        return hfu, text, False
    mfu, _ = published(cat, gpu, "bf16", runs)
    if mfu is None or gpu in PUBLISHED and PUBLISHED[gpu][0] is not None:
        return None, text, False
    return mfu, f"at least the best published bf16 MFU above (HFU >= MFU; recompute not stated). {text}", True


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


def best_recommended(cat, gpu_name):
    """(plan, preset, seq, bare) of the highest-MFU winner of ``planner recommend`` over the reference jobs
    restricted to ``gpu_name`` (cheapest plan per job), or None; a GPU no priced instance carries is searched as a
    bare cluster on its reference system (``Catalog.systems``: MI300X on Azure ND MI300X v5's node), fastest plan,
    up to 512 GPUs."""
    best = None
    bare = not cat.instances_for(gpu_names=[gpu_name])  # then a bare cluster on its reference system, fastest
    for preset, seq in REFERENCE_JOBS:
        where = ({"cluster": {"gpu": gpu_name}, "constraints": {"objective": "time", "max_gpus": 512}} if bare
                 else {"constraints": {"objective": "cost", "gpus": [gpu_name]}})
        job = load_job_dict({"model": {"preset": preset},
                             "training": {"seq_len": seq, "global_batch": 1024, "precision": "bf16", "tokens": 1e12},
                             **where})
        try:
            p = recommend(job, catalog=cat, top=1).best
        except InputError:
            continue
        if best is None or p.mfu > best[0].mfu:
            best = (p, preset, seq, bare)
    return best


def best_plan(cat, gpu_name):
    """(MFU, description) of ``best_recommended``'s plan."""
    found = best_recommended(cat, gpu_name)
    if found is None:
        return None, "no instance or reference system in the catalog"
    p, preset, seq, bare = found
    c = p.config
    ref = reference_network(cat, cat.gpu(gpu_name)) if bare else None
    where = ("" if not bare else f", bare cluster on {ref[1].key}'s node, fastest" if ref
             else ", bare cluster on the default network, fastest")
    return float(p.mfu), (f"{preset} s{seq}: TP{c.tp} PP{c.pp} DP{c.dp} z{c.zero} mb{c.micro_batch} "
                          f"recompute {c.recompute}{where}")


def main(argv=None):
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    cat = load_catalog()
    runs = published_runs()
    rows = []
    for g in PUBLISHED:
        mfu, tps = canonical(cat, g)
        plan, plan_desc = best_plan(cat, g)
        pub, src = published(cat, g, "bf16", runs)
        fp8, fp8_src = published(cat, g, "fp8", runs)
        hfu, hfu_src, lower = published_hfu(cat, g, runs)
        rows.append((g, mfu, tps, plan, plan_desc, pub, src, fp8, fp8_src, hfu, hfu_src, lower))

    def pct(x, digits=0, lower=False):
        return "-" if x is None else f"{'>=' if lower else ''}{x:.{digits}%}"

    if args.markdown:
        print("| GPU | predicted MFU (canonical) | tokens/s/GPU | best recommended plan MFU | best published MFU "
              "| best published FP8 run (of bf16 peak) | best published HFU | sources |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        for g, mfu, tps, plan, pd_, pub, src, fp8, fsrc, hfu, hsrc, low in rows:
            srcs = "MFU: " + src + (f". FP8: {fsrc}" if fp8 is not None else "") + \
                (f". HFU: {hsrc}" if hsrc != "-" else "")
            print(f"| {g} | {mfu:.1%} | {tps:,.0f} | {pct(plan, 1)} ({pd_}) | {pct(pub)} | {pct(fp8)} "
                  f"| {pct(hfu, 1, low)} | {srcs} |")
    else:
        for g, mfu, tps, plan, pd_, pub, src, fp8, fsrc, hfu, hsrc, low in rows:
            print(f"{g:18s} predicted MFU {mfu:6.1%}  {tps:8,.0f} tok/s/GPU  best plan {pct(plan, 1):>6s}  "
                  f"published MFU {pct(pub):>4s} FP8 {pct(fp8):>4s} HFU {pct(hfu, 1, low):>7s}  [{pd_}]")
    return rows


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
