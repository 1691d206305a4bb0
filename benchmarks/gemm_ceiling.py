"""The 16-bit GEMM rate a measured step implies, against the part's measured matmul ceiling.

A row's measured step, with every other term of the planner's step held at the planner's price (attention,
memory-bound work, exposed communication, bubble, optimizer: ``predicted_s - compute_gemm``), leaves
``measured_s - (predicted_s - compute_gemm)`` seconds for its GEMMs. Those seconds over the step's matmul FLOPs
(``mfu_frontier.gemm_flops``: 3 x the forward linear and logits FLOPs, per GPU) give the in-step GEMM rate the
measurement asks for (``implied``), set against the part's maximum achievable matmul: the best shape of a
brute-force search, timed in isolation (ml-engineering's MAMF table, stas00/ml-engineering
compute/accelerator/README.md; rows ``maf_mlengineering_*`` of benchmarks/data/parts/gemm_efficiency.csv). The
planner's own in-step rate over the same ceiling sits beside it (``model``). A row whose ``implied`` reaches 1 asks
its GEMMs to run, across a whole training step, at or above the isolated best-shape maximum, so the row is not
consistent with the planner's other terms and that ceiling together: one of them (the row included) is off.

16-bit rows without recompute only (``PRECISION`` / ``rc`` 0): an FP8 step runs its logits GEMM in 16 bits and adds
casts, and recompute re-runs GEMMs the count above leaves out. A pipelined row's GEMM FLOPs are its mean stage's.
Runs ``validate.run_all`` through ``mfu_frontier.rows`` (every row priced by exactly validate's call), ~30 s a family.

The isolated maximum is not an in-step limit everywhere: Together's own kernel profile of its FP8 Nemotron-4 15B run
(``KERNEL_PROFILE``) measures that cluster's in-step FP8 GEMMs at 1.10x B200's FP8 MAMF, the factor its BF16 rows ask
of the BF16 one; ``--profile`` prices the Together TP 1 rows with that profile (``profile_priced``; tb55).

Run: ``PYTHONPATH=$PWD python benchmarks/gemm_ceiling.py [--family B200] [--csv out.csv] [--profile]``
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import parts_data  # noqa: E402

#: the precisions priced against the 16-bit ceiling
PRECISION = ("bf16", "fp16")
#: catalog GPU -> the ``gpu`` label of its MAMF row in gemm_efficiency.csv (the table's own part names)
MAMF_PART = {"H100-SXM-80GB": "H100-SXM", "H200-SXM-141GB": "H200-SXM", "B200-SXM-180GB": "B200-SXM",
             "GB200-B200": "GB200", "B300-SXM-288GB": "B300-SXM"}
#: the id prefix of the MAMF rows
MAMF_ID = "maf_mlengineering_"


def ceilings() -> dict[str, float]:
    """Catalog GPU -> its measured 16-bit matmul ceiling, FLOP/s (``MAMF_PART``; the bf16 MAMF rows)."""
    by_part = {r["gpu"]: r["tflops"] * 1e12 for r in parts_data.load("gemm_efficiency")
               if r["id"].startswith(MAMF_ID) and r["precision"] == "bf16"}
    return {gpu: by_part[part] for gpu, part in MAMF_PART.items() if part in by_part}


def implied(df: pd.DataFrame, ceiling: dict[str, float] | None = None) -> pd.DataFrame:
    """``df`` (rows with ``measured_s``, ``predicted_s``, ``compute_gemm``, ``gemm_flops`` per GPU, ``gpu``,
    ``precision``, ``rc``) with the GEMM seconds the measured step leaves (``gemm_left_s``), the in-step GEMM rate
    that implies and the planner's (``implied_tflops``, ``model_tflops``), and each over the part's ceiling
    (``implied``, ``model``); NaN where the row is not a 16-bit one without recompute, or its part has no ceiling."""
    ceiling = ceilings() if ceiling is None else ceiling
    out = df.copy()
    ok = out["precision"].isin(PRECISION) & (out["rc"] == 0) & (out["compute_gemm"] > 0)
    left = out["measured_s"] - (out["predicted_s"] - out["compute_gemm"])
    out["gemm_left_s"] = left
    out["model_tflops"] = np.where(ok, out["gemm_flops"] / out["compute_gemm"] / 1e12, np.nan)
    # a measured step shorter than the planner's other terms alone leaves no time: an unbounded rate
    out["implied_tflops"] = np.where(ok, np.where(left > 0, out["gemm_flops"] / left.where(left > 0) / 1e12, np.inf),
                                     np.nan)
    cap = out["gpu"].map(ceiling).astype(float) / 1e12
    out["model"], out["implied"] = out["model_tflops"] / cap, out["implied_tflops"] / cap
    return out


#: A measured in-step GEMM rate, not an isolated one: Together AI's kernel profile of its FP8 Nemotron-4 15B run on
#: B200 (togethercomputer/together-dgxc-benchmarking @d275be99, tests/b200/worklog/profiler_reports/
#: nemotron4_15b_fp8_256gpu_profiler.md, "Profiler Deep-Dive: GBS=2048 (Job 81070)": rank 0, 3 steps x 4
#: micro-batches, PyTorch profiler self-CUDA ms by kernel class, read 2026-12-07). ``row``: the ``together B200`` row it
#: profiled; ``gemm``: the nvjet sm100 GEMMs (FP8 linear layers and the 16-bit logits); ``casts``: amax + quantize +
#: FP8 copies; ``other``: the rest of the non-NCCL kernels (cuDNN attention, the squared ReLU's pow / mul the report
#: files under "optimizer", LayerNorm backward, command-buffer stalls, its "Other")
KERNEL_PROFILE = dict(row="together_nemotron4-15b_fp8_256_gbs2048", microbatches=12, gemm_ms=2489.0, casts_ms=322.6,
                      other_ms=552.8 + 235.9 + 99.3 + 254.8 + 264.0)


def profile_priced(cat, profile=KERNEL_PROFILE, ceiling16: float | None = None) -> tuple[float, pd.DataFrame]:
    """The profiled FP8 GEMMs' in-step rate as a fraction of the FP8 datasheet peak (the logits GEMM taken at the
    16-bit MAMF ``ceiling16``, default the part's ``ceilings()`` row), and every TP 1 row of the profiled source priced
    with the profile per micro-batch: its GEMMs at that fraction of the row's own precision's peak (FP8 adds the
    profile's casts), plus the profile's non-GEMM kernels, plus the planner's per-step part (the predicted step less
    its micro-batches' compute, ``step_part_s``). Columns: ``id``, ``precision``, ``microbatches``, ``measured_s``,
    ``predicted_s``, ``step_part_s``, ``profile_s``. What it asks: whether a row's measured step agrees with the same
    cluster's measured kernels where it disagrees with the planner's in-step rate (tb55: it does, both precisions)."""
    import mfu_frontier
    import validate
    from planner.model import physics
    from planner.model.flops import step_flops

    d = pd.read_csv(validate.TOGETHER_CSV)
    d = d[d["tp"] == 1]
    out, frac = [], None
    for r in d.itertuples():
        case, st = validate.pr2_step(cat, r)
        m, t, gpus = case.model, case.training, int(r.num_gpus)
        n = int(st["num_microbatches"][0])
        flops = mfu_frontier.gemm_flops(m, t) / gpus / n  # a micro-batch's GEMM FLOPs on one GPU
        logits = 3.0 * float(step_flops(m, t.seq_len, t.global_batch)["logits_fwd"]) / gpus / n
        cap16 = ceiling16 or ceilings()[case.hw.gpu.name]
        if frac is None:
            gemm_s = profile["gemm_ms"] / profile["microbatches"] / 1e3
            frac = (flops - logits) / (gemm_s - logits / cap16) / physics.datasheet_peak(case.hw.gpu, "fp8")
        fp8 = t.precision == "fp8"
        # an FP8 row's logits GEMM stays 16-bit (at the 16-bit ceiling, as the rate above was read); a 16-bit row's
        # GEMMs all run at the profiled fraction of its own peak
        gemm = ((flops - logits) / (frac * physics.datasheet_peak(case.hw.gpu, "fp8")) + logits / cap16 if fp8
                else flops / (frac * physics.datasheet_peak(case.hw.gpu, t.precision)))
        per_mb = gemm + (profile["casts_ms"] / profile["microbatches"] / 1e3 if fp8 else 0.0) \
            + profile["other_ms"] / profile["microbatches"] / 1e3
        compute = sum(float(st[k][0]) for k in mfu_frontier.BREAKDOWN)
        pred = float(st["step_time_s"][0])
        out.append(dict(id=r.id, precision=t.precision, microbatches=n, measured_s=float(r.value), predicted_s=pred,
                        step_part_s=pred - compute, profile_s=pred - compute + n * per_mb))
    return frac, pd.DataFrame(out)


def main(argv=None):
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2

    import mfu_frontier
    from hardware_catalog import load_catalog

    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--family", default="B200")
    ap.add_argument("--csv")
    ap.add_argument("--profile", action="store_true", help="price the Together rows with their own kernel profile")
    args = ap.parse_args(argv)
    if args.profile:
        frac, df = profile_priced(load_catalog())
        print(f"profiled FP8 GEMMs: {frac:.3f} of the FP8 peak in-step; TP 1 rows priced with the profile:\n")
        df["err_planner"] = df["predicted_s"] / df["measured_s"] - 1
        df["err_profile"] = df["profile_s"] / df["measured_s"] - 1
        print(df.round(3).to_string(index=False))
        return df
    df = implied(mfu_frontier.rows(args.family, load_catalog())).dropna(subset=["implied"])
    if args.csv:
        df.to_csv(args.csv, index=False)
    pd.set_option("display.width", 220)
    cols = ["source", "id", "gpu", "gpus", "tp", "pp", "mb", "measured_s", "predicted_s", "model_tflops",
            "implied_tflops", "model", "implied"]
    print(f"{args.family}: {len(df)} 16-bit rows without recompute; in-step GEMM rate over the part's MAMF "
          f"(model: the planner's; implied: what the measured step leaves its GEMMs)\n")
    print(df.sort_values("implied", ascending=False)[cols].round(3).to_string(index=False))
    return df


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
