"""Error table of the step-time model against real measurements no one here made.

Sources (copied into benchmarks/data/ from the project's shared validation set; see its README):

* vtrain_single / vtrain_multi — vTrain (Bang et al., MICRO'24) Megatron-DeepSpeed iteration
  times on A100 nodes (2-8 GPUs; 64-512 GPUs). GPT with learned positions, 4h GeLU MLP, biases,
  vocab 50257, fp16, full activation recompute, 1F1B, no flash attention (Megatron fused
  softmax), dropout on, 150 GB/s intra-node and 800 Gb/s inter-node as vTrain's configs state,
  gradients all-reduced after backward (Megatron-DeepSpeed without bucket overlap).
* nar21 — Narayanan et al. 2021 Table 1 (Megatron-LM, Selene DGX A100 80GB, 8x200 Gb/s HDR IB):
  per-GPU hardware TFLOP/s by their eq. 3, converted to iteration time. Micro-batch and
  interleaving are not published: we assume micro-batch 1, interleaved schedule with 2 chunks
  where pp > 1 (the paper's setup for its PTD-P runs), flash off, full recompute.
* llm-foundry — MosaicML MPT benchmark tables (PyTorch FSDP, bf16 autocast or fp8, flash
  attention, A100-40/80 GB with 1600 Gb/s RoCE, H100 80GB with network not stated -> 3200 Gb/s).
  tokens/s/GPU converted to iteration time.

One set of efficiency parameters per GPU type (planner.hardware.efficiency.PRIORS), the same for every
row; framework facts (flash or not, overlap or not) are per source, as the sources state them.
Nothing is fitted per row.

Run: ``python benchmarks/validate.py [--csv out.csv]``. Prints, per source, the median and p90
absolute percentage error of iteration time and the mean Spearman rank correlation of predicted
vs measured time within each model (where a source varies configurations of one model).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hardware_catalog import load_catalog  # noqa: E402
from planner.layout import Candidates
from planner.vocab import SCHEDULE  # noqa: E402
from planner.model.flops import narayanan_eq3  # noqa: E402
from planner.hardware.options import HardwareOption, efficiency_for  # noqa: E402
from planner.spec import ModelSpec, TrainingSpec  # noqa: E402
from planner.model.step_time import step_time  # noqa: E402

DATA = Path(__file__).parent / "data"


def gpt_model(layers, hidden, heads, vocab, positions, ffn=None):
    return ModelSpec(name=f"gpt-{layers}x{hidden}", family="decoder", layers=int(layers), hidden=int(hidden),
                     heads=int(heads), ffn_hidden=int(ffn or 4 * hidden), vocab=int(vocab), mlp="gelu",
                     norm="layernorm", tied_embeddings=True, qkv_bias=True, linear_bias=True,
                     position="learned", max_positions=int(positions))


def hw_option(cat, gpu_name, gpus_per_node, inter_gbps, intra_gbps=None):
    gpu = cat.gpu(gpu_name)
    intra = intra_gbps * 1e9 if intra_gbps else gpu.intra_node_bw
    return HardwareOption(name=gpu.name, gpu=gpu, gpus_per_node=gpus_per_node,
                          inter_node_bw=inter_gbps * 1e9 / 8, intra_bw=intra, eff=efficiency_for(gpu))


def predict_group(model, training, df, hw, **kw):
    """Predicted iteration time (s) for rows sharing model and training settings (vectorised)."""
    c = Candidates(
        tp=df["tp"].to_numpy(int), pp=df["pp"].to_numpy(int), dp=df["dp"].to_numpy(int),
        cp=1, ep=1, vpp=df["vpp"].to_numpy(int), zero=df["zero"].to_numpy(int), mb=df["mb"].to_numpy(int),
        rc=df["rc"].to_numpy(int), sp=df["sp"].to_numpy(bool), schedule=df["schedule"].to_numpy(int),
        gpus_per_node=hw.gpus_per_node, nodes=1,
    )
    return step_time(model, training, c, hw, **kw)["step_time_s"]


def vtrain(cat, which: str) -> pd.DataFrame:
    f = DATA / f"vtrain_{which}_node.csv"
    d = pd.read_csv(f)
    d = d.rename(columns={"global batch": "gb", "micro batch": "mb", "hidden size": "hidden",
                          "attention heads": "heads", "# layers": "layers", "sequence length": "seq",
                          "tensor parallelism": "tp", "data parallelism": "dp",
                          "pipeline parallelism": "pp", "iteration time (ms)": "ms", "# GPUs": "gpus"})
    d["measured_s"] = d["ms"] / 1e3
    d["vpp"], d["zero"], d["rc"], d["schedule"] = 1, 0, 2, SCHEDULE.code["1f1b"]
    d["sp"] = False
    # vTrain's configs: A100 (memory size not stated; 80GB assumed), 150 GB/s intra, 800 Gb/s inter
    hw = hw_option(cat, "A100-SXM-80GB", 8, 800.0, intra_gbps=150.0)
    pred = np.empty(len(d))
    for key, g in d.groupby(["layers", "hidden", "heads", "seq", "gb"]):
        layers, hidden, heads, seq, gb = key
        model = gpt_model(layers, hidden, heads, 50257, seq)
        tr = TrainingSpec(seq_len=int(seq), global_batch=int(gb), precision="fp16", weights="megatron",
                          grad_dtype="same", flash_attention=False, dropout=True, recompute="full")
        pred[d.index.get_indexer(g.index)] = predict_group(model, tr, g, hw, overlap_grad_reduce=False)
    d["predicted_s"] = pred
    d["source"] = f"vtrain_{which}"
    d["model"] = d["layers"].astype(str) + "x" + d["hidden"].astype(str) + "/s" + d["seq"].astype(str) + "/gb" + d["gb"].astype(str)
    return d[["source", "model", "gpus", "tp", "pp", "dp", "mb", "measured_s", "predicted_s"]]


def published(cat) -> pd.DataFrame:
    d = pd.read_csv(DATA / "dev_published_runs.csv")
    rows = []
    # --- Narayanan 2021 Table 1
    nar = d[d["id"].str.startswith("nar21_t1_")].copy()
    hw = hw_option(cat, "A100-SXM-80GB", 8, 8 * 200.0)
    for _, r in nar.iterrows():
        model = gpt_model(r.layers, r.hidden, r.heads, r.vocab, r.seq_len)
        gb, s = int(r.global_batch_seqs), int(r.seq_len)
        tr = TrainingSpec(seq_len=s, global_batch=gb, precision="fp16", weights="megatron",
                          grad_dtype="fp32", flash_attention=False, dropout=True, recompute="full")
        pp = int(r.pp)
        layers_ok = pp > 1 and r.layers % (pp * 2) == 0
        row = pd.DataFrame([dict(tp=int(r.tp), pp=pp, dp=int(r.dp), vpp=2 if layers_ok else 1, zero=0, mb=1, rc=2,
                                 sp=False, schedule=SCHEDULE.code["interleaved" if layers_ok else "1f1b"])])
        p = predict_group(model, tr, row, hw, overlap_grad_reduce=True)[0]
        measured = narayanan_eq3(gb, s, r.layers, r.hidden, r.vocab) / (r.value * 1e12 * r.num_gpus)
        rows.append(dict(source="nar21", model=r.model, gpus=int(r.num_gpus), tp=int(r.tp), pp=pp, dp=int(r.dp), mb=1,
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
        zero = 3 if "FULL_SHARD" in r.zero_or_fsdp else 2
        row = pd.DataFrame([dict(tp=1, pp=1, dp=int(r.num_gpus), vpp=1, zero=zero, mb=mb,
                                 rc=2 if r.recompute.startswith("full") else 0, sp=False, schedule=0)])
        p = predict_group(model, tr, row, hw, overlap_grad_reduce=True, framework="llm-foundry")[0]
        measured = gb * r.seq_len / (r.value * r.num_gpus)
        rows.append(dict(source=f"llm-foundry {gpu.split('-')[0]}", model=r.model + f"/s{int(r.seq_len)}", gpus=int(r.num_gpus),
                         tp=1, pp=1, dp=int(r.num_gpus), mb=mb, measured_s=measured, predicted_s=p))
    return pd.DataFrame(rows)


def resnet50(cat) -> pd.DataFrame:
    """NVIDIA DeepLearningExamples ResNet-50 v1.5 (PyTorch, AMP, DGX A100 80GB) images/s ->
    seconds per step of batch-per-GPU x GPUs images (the generic-model time law)."""
    from planner.spec.presets import PRESETS

    d = pd.read_csv(DATA / "resnet50_dle.csv")
    model = ModelSpec(**PRESETS["resnet50"])
    rows = []
    for r in d.itertuples():
        hw = hw_option(cat, r.gpu, 8, 200.0 * 8)
        gb = int(r.batch_per_gpu) * int(r.gpus)
        tr = TrainingSpec(seq_len=1, global_batch=gb, micro_batch=int(r.batch_per_gpu), precision=r.precision,
                          weights="amp", optimizer="sgd_momentum", recompute="none")
        row = pd.DataFrame([dict(tp=1, pp=1, dp=int(r.gpus), vpp=1, zero=0, mb=int(r.batch_per_gpu), rc=0, sp=False,
                                 schedule=0)])
        p = predict_group(model, tr, row, hw, overlap_grad_reduce=True)[0]
        rows.append(dict(source="resnet50 A100 (DLE)", model="resnet50", gpus=int(r.gpus), tp=1, pp=1, dp=int(r.gpus),
                         mb=int(r.batch_per_gpu), measured_s=gb / r.images_per_s, predicted_s=p))
    return pd.DataFrame(rows)


def spearman(a, b) -> float:
    if len(a) < 3:
        return np.nan
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return np.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def error_table(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["err"] = (df["predicted_s"] - df["measured_s"]) / df["measured_s"]
    out = []
    for src, g in df.groupby("source", sort=False):
        rhos = [spearman(x["predicted_s"], x["measured_s"]) for _, x in g.groupby("model")]
        rhos = [r for r in rhos if r == r]
        out.append(dict(source=src, rows=len(g), median_abs_err=np.median(np.abs(g["err"])),
                        p90_abs_err=np.quantile(np.abs(g["err"]), 0.9), mean_signed_err=g["err"].mean(),
                        spearman_within_model=np.mean(rhos) if rhos else np.nan, models_ranked=len(rhos)))
    return pd.DataFrame(out)


def run_all() -> pd.DataFrame:
    cat = load_catalog()
    return pd.concat([vtrain(cat, "single"), vtrain(cat, "multi"), published(cat), resnet50(cat)], ignore_index=True)


def markdown(tab: pd.DataFrame) -> str:
    """The error table as a Markdown table (for the README)."""
    lines = ["| source | rows | median abs err | p90 abs err | mean signed err | Spearman within model (models) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in tab.itertuples():
        rho = "-" if r.spearman_within_model != r.spearman_within_model else f"{r.spearman_within_model:.3f} ({r.models_ranked})"
        lines.append(f"| {r.source} | {r.rows} | {r.median_abs_err * 100:.1f}% | {r.p90_abs_err * 100:.1f}% | "
                     f"{r.mean_signed_err * 100:+.1f}% | {rho} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", help="write every row's prediction here")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    df = run_all()
    tab = error_table(df)
    if args.markdown:
        print(markdown(tab))
    else:
        pd.set_option("display.width", 160)
        fmt = tab.copy()
        for c in ("median_abs_err", "p90_abs_err", "mean_signed_err"):
            fmt[c] = (fmt[c] * 100).map(lambda x: f"{x:.1f}%")
        fmt["spearman_within_model"] = fmt["spearman_within_model"].map(lambda x: "-" if x != x else f"{x:.3f}")
        print(fmt.to_string(index=False))
    if args.csv:
        df.to_csv(args.csv, index=False)
    return tab


if __name__ == "__main__":
    main()
