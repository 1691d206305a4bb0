"""Is the step-time model optimistic where utilisation is highest? Every development row of one
GPU family (default A100) with its measured and predicted MFU and executed FLOP rate, the signed
error against them, and the best recommended plan of ``benchmarks/mfu_envelope.py`` beside the
rows nearest to it (issue: "A100 plans show MFUs no real run reaches").

Per row (``benchmarks/validate.py`` rows, predicted by the same calls): predicted MFU is
``step_time``'s ``mfu`` (the planner's model FLOPs, 6N + attention in full, over the datasheet
peak); measured MFU = predicted MFU x predicted / measured step time (same FLOPs, measured time).
Signed error = (predicted - measured) / measured step time: negative = the model is optimistic.

The *executed* FLOP rate is what the GPU actually ran per second, so rows with and without
recompute, short and long sequences compare on one scale: the hardware FLOPs behind HFU (recompute
included, causal attention at half where a causal flash kernel skips the masked blocks:
``step_flops``' ``hardware``; FlashAttention-2 §3.1.1: blocks above the diagonal are not
computed; Megatron's non-flash fused softmax computes the full score matmuls), less the MLP down
projection that a non-reentrant checkpoint with early stop does not re-run (``Stack.
recompute_early_stop``, planner.model.stacks: llm-foundry's amp_bf16 rows). MFU counts neither
saving, so a no-recompute, long-sequence plan shows a higher MFU than a full-recompute step at
the same executed rate. ``hfu_full_meas``: HFU at the full attention count (``causal_kernel=False``),
the convention of llm-foundry's printed HFU.

Run: ``PYTHONPATH=$PWD python benchmarks/mfu_frontier.py [--family A100] [--csv out.csv]``
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import validate  # noqa: E402
from hardware_catalog import load_catalog  # noqa: E402
from planner.hardware.efficiency import gpu_family  # noqa: E402
from planner.model import physics  # noqa: E402
from planner.model.flops import step_flops  # noqa: E402
from planner.model.stacks import from_training, recompute_modules  # noqa: E402
from planner.spec import ModelSpec, TrainingSpec  # noqa: E402
from planner.spec.presets import PRESETS  # noqa: E402
from planner.vocab import RECOMPUTE  # noqa: E402

BREAKDOWN = ("compute_gemm", "compute_attention", "compute_memory_bound")


def executed_flops(m, t, rc, stack, causal_kernel: bool = True) -> np.ndarray:
    """FLOPs a step executes (module docstring): hardware FLOPs (causal flash attention at half),
    less the down projection an early-stopping checkpoint does not re-run. ``rc``: recompute codes.
    ``causal_kernel=False``: the full attention count and the whole recomputed forward (llm-foundry's HFU)."""
    rc = np.asarray(rc)
    mods = recompute_modules(t, stack, m) if stack.module_recompute and m.is_transformer else None
    hw = step_flops(m, t.seq_len, t.global_batch, rc, t.flash_attention, modules=mods,
                    causal_kernel=causal_kernel)["hardware"]
    if not (causal_kernel and stack.recompute_early_stop and m.is_transformer):
        return hw
    # the dense MLP's last GEMM (ffn x hidden MACs per token and dense layer): what step_time's
    # ``re_skip`` leaves out of the recomputed forward
    skip = 2.0 * m.hidden * m.dense_width * m.kind_layers("-") * t.seq_len * t.global_batch
    return hw - np.where(rc == 2, skip, 0.0)


def gemm_flops(m, t) -> float:
    """The matmul FLOPs of one step's forward and backward over the global batch, without recompute: 3 x the forward
    linear-layer and logits FLOPs (``step_flops``' ``linear_fwd`` + ``logits_fwd``; the backward runs two GEMMs per
    forward one); NaN for a model without a transformer's layers. Per GPU (``gemm_flops`` column): over the job's GPUs,
    so a pipelined row's is the mean stage's."""
    if not m.is_transformer:
        return float("nan")
    f = step_flops(m, t.seq_len, t.global_batch)
    return float(3.0 * (f["linear_fwd"] + f["logits_fwd"]))


def _call_columns(k: validate.StepCall) -> dict[float, dict]:
    """One recorded ``step_time`` call's per-candidate columns (MFU, executed rate, breakdown), keyed by the
    candidate's predicted step time."""
    m, t, c, hw, out = k.model, k.training, k.layout, k.hw, k.result
    stack = from_training(t, k.kw.get("framework"))
    n = len(np.atleast_1d(out["step_time_s"]))
    # a convolutional network's FLOPs have no attention or MLP to adjust: left out (NaN)
    ex = np.broadcast_to(executed_flops(m, t, c.rc, stack) if m.is_transformer else np.nan, (n,))
    full = np.broadcast_to(executed_flops(m, t, c.rc, stack, False) if m.is_transformer else np.nan, (n,))
    peak = physics.datasheet_peak(hw.gpu, t.precision)
    gemm = gemm_flops(m, t)
    return {float(np.atleast_1d(out["step_time_s"])[i]): dict(
        gpu=hw.gpu.name, stk=stack.name, layers=m.layers, hidden=m.hidden, seq=t.seq_len, gb=t.global_batch,
        precision=t.precision, gemm_flops=gemm / c.gpus[i],
        rc=int(np.broadcast_to(c.rc, (n,))[i]), executed=float(ex[i]) / (c.gpus[i] * peak),
        hfu_full=float(full[i]) / (c.gpus[i] * peak),
        mfu_pred=float(out["mfu"][i]), hfu_pred=float(out["hfu"][i]),
        **{b: float(out[b][i]) for b in BREAKDOWN}) for i in range(n)}


def rows(family: str = "A100", cat=None) -> pd.DataFrame:
    """validate.run_all's rows of GPU ``family`` with MFU, executed rate and breakdown columns, the row's precision and
    its matmul FLOPs a GPU (``gemm_flops``, benchmarks/gemm_ceiling.py's input).
    ``validate.recording`` keeps ``step_time``'s calls while validate runs, each call's outputs kept under its
    predicted step times (the float validate stores), so every row is predicted by exactly validate's call."""
    cat = cat or load_catalog()
    with validate.recording() as calls:
        df = validate.run_all(cat)
    seen: dict = {}
    for k in calls:  # in call order: a later call's equal step time replaces an earlier one's, as when recorded live
        seen.update(_call_columns(k))
    extra = pd.DataFrame([seen[float(p)] for p in df["predicted_s"]])
    extra = extra.drop(columns=[c for c in extra.columns if c in df.columns])  # validate's rows carry ``gpu`` already
    df = pd.concat([df.reset_index(drop=True), extra], axis=1)
    df = df[df["gpu"].map(gpu_family) == family].copy()
    df["err"] = (df["predicted_s"] - df["measured_s"]) / df["measured_s"]
    ratio = df["predicted_s"] / df["measured_s"]
    df["mfu_meas"], df["hfu_meas"] = df["mfu_pred"] * ratio, df["hfu_pred"] * ratio
    # ``executed`` above holds FLOPs per (GPU x peak); over the step: predicted, then measured
    df["exec_pred"], df["exec_meas"] = df["executed"] / df["predicted_s"], df["executed"] / df["measured_s"]
    df["hfu_full_meas"] = df["hfu_full"] / df["measured_s"]
    return df.drop(columns=["executed", "hfu_full"])


def spearman(a, b) -> float:
    return validate.spearman(np.asarray(a), np.asarray(b))


def summary(g: pd.DataFrame) -> pd.Series:
    return pd.Series(dict(rows=len(g), mfu_meas_median=g["mfu_meas"].median(), mfu_meas_max=g["mfu_meas"].max(),
                          median_err=g["err"].median(), mean_err=g["err"].mean(),
                          optimistic_share=(g["err"] < 0).mean(),
                          spearman_err_vs_mfu_meas=spearman(g["mfu_meas"], g["err"])))


def plan_row(cat, gpu_name: str = "A100-SXM-80GB") -> dict:
    """The best recommended plan of ``benchmarks/mfu_envelope.py`` on ``gpu_name``, with its executed rate and
    its step per token and layer."""
    import mfu_envelope

    p, preset, seq, _ = mfu_envelope.best_recommended(cat, gpu_name)
    c = p.config
    m = ModelSpec(**PRESETS[preset])
    t = TrainingSpec(seq_len=seq, global_batch=c.num_microbatches * c.micro_batch * c.dp, precision="bf16",
                     recompute=c.recompute)
    stack = from_training(t, p.stack["name"])
    ex = float(executed_flops(m, t, RECOMPUTE.code[c.recompute], stack)) / (
        p.step_time_s * p.hardware.gpus * physics.datasheet_peak(cat.gpu(gpu_name), "bf16"))
    tok_layer = t.global_batch * t.seq_len * m.layers / p.hardware.gpus
    return dict(name=f"plan {preset} s{seq}: TP{c.tp} PP{c.pp} VPP{c.vpp} DP{c.dp} z{c.zero} mb{c.micro_batch} "
                     f"rc {c.recompute}, {p.stack['name']}", mfu=p.mfu, hfu=p.hfu, executed=ex,
                us_per_token_layer=p.step_time_s / tok_layer * 1e6,
                **{k + "_us": getattr(p.breakdown_s, k) / tok_layer * 1e6 for k in BREAKDOWN})


def main(argv=None):
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--family", default="A100")
    ap.add_argument("--csv")
    args = ap.parse_args(argv)
    pd.set_option("display.width", 220)
    pd.set_option("display.max_columns", 30)
    cat = load_catalog()
    df = rows(args.family, cat)
    if args.csv:
        df.to_csv(args.csv, index=False)
    print(f"{args.family}: {len(df)} rows. Signed error of step time (negative = optimistic) against measured MFU\n")
    print("per source:")
    print(pd.concat([df.groupby("source").apply(summary), summary(df).to_frame("all").T]).round(3).to_string())
    for col, edges in (("mfu_meas", [0, .3, .4, .5, .55, .6, .7]), ("exec_meas", [0, .3, .4, .5, .6, .65, .7, .8])):
        print(f"\nby measured {'MFU' if col == 'mfu_meas' else 'executed FLOP rate'}:")
        print(df.groupby(pd.cut(df[col], edges), observed=True).apply(summary).round(3).to_string())
    cols = ["source", "model", "gpu", "gpus", "tp", "pp", "mb", "rc", "seq", "stk", "mfu_meas", "mfu_pred", "hfu_meas",
            "exec_meas", "exec_pred", "err"]
    for col in ("mfu_meas", "exec_meas"):
        print(f"\nhighest {col}:")
        print(df.sort_values(col, ascending=False)[cols].head(12).round(3).to_string(index=False))
    if args.family == "A100":
        p = plan_row(cat)
        print(f"\n{p['name']}: MFU {p['mfu']:.3f}, HFU {p['hfu']:.3f}, executed {p['executed']:.3f}; "
              f"{p['us_per_token_layer']:.2f} GPU-us per token-layer (GEMM {p['compute_gemm_us']:.2f}, attention "
              f"{p['compute_attention_us']:.2f}, memory-bound {p['compute_memory_bound_us']:.2f})")
        near = df[(df["hidden"] == 5120) & (df["layers"] == 40)].copy()
        per = near["gpus"] / (near["gb"] * near["seq"] * near["layers"]) * 1e6  # seconds -> GPU-us per token-layer
        near["us_tl_meas"], near["us_tl_pred"] = near["measured_s"] * per, near["predicted_s"] * per
        for k in BREAKDOWN:
            near[k.split("_", 1)[1] + "_us"] = near[k] * per
        print("\n13B-class rows (hidden 5120, 40 layers): GPU-us per token-layer, measured / predicted and parts")
        parts = ["us_tl_meas", "us_tl_pred", "gemm_us", "attention_us", "memory_bound_us"]
        print(near.sort_values("mfu_meas", ascending=False)[cols + parts].round(3).to_string(index=False))
    return df


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
