"""Grouped (MoE expert) GEMM throughput: the planner's ``moe.grouped_gemm_time`` vs published kernel
measurements (benchmarks/data/parts/grouped_gemm.csv).

For each row the planner's time for the row's shape is computed with the GPU's efficiency prior
(the same ``Efficiency`` the step-time model uses, ``gemm_max`` being the *in-step* fraction fitted
to step times, not an isolated-kernel one) at the datasheet peak of the row's precision, and
the FP8/FP4 rows at the recipe's ``gemm_rel`` (``stack_kernels.RECIPES``, column ``recipe``) as ``step_time`` prices
the linears, and compared as an error in time: ``err = predicted time / measured time - 1`` (= measured TFLOP/s /
predicted TFLOP/s - 1). Negative: the planner predicts the kernel faster than it ran — the sign of
the MoE step-time under-prediction this checks.

Row kinds:
* ``grouped_gemm``: ``groups`` GEMMs of (m_per_group x k) @ (k x n), priced as the step-time model
  prices the local experts (``grouped_gemm_time`` at the mean rows per group).
* ``dense_gemm``: a plain GEMM (``Efficiency.gemm_time``), the same harness's control where a source
  gives one (DeepGEMM), to separate a grouping penalty from the dense curve's own error.
* ``grouped_gemm_wgrad``: the weight gradient of a grouped GEMM, (n x k) per group contracted over its
  m rows (``step_time``'s ``g_t(K, N, M)``); ``grouped_gemm_fwd_bwd``: output + input gradient + weight
  gradient of one grouped GEMM.
* ``moe_mlp_fwd``: a routed-expert MLP forward: gate+up (n = 2 x ffn, k = hidden) and down
  (n = hidden, k = ffn) grouped GEMMs; the measurement also holds the permutation and SwiGLU.

Run: ``PYTHONPATH=$PWD python benchmarks/validate_grouped_gemm.py``
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.parts_data import load  # noqa: E402
from hardware_catalog import load_catalog  # noqa: E402
from planner.hardware.options import efficiency_for  # noqa: E402
from planner.model import moe as moe_mech  # noqa: E402
from planner.model.physics import datasheet_peak  # noqa: E402
from planner.model.stack_kernels import RECIPES  # noqa: E402

BYTES = {"bf16": 2.0, "fp8": 1.0, "fp4": 0.5}


def predict(row, cat=None) -> float:
    """Predicted TFLOP/s of one row (its own FLOP count over the planner's time)."""
    cat = cat or load_catalog()
    gpu = cat.gpu(row["gpu"])
    eff = efficiency_for(gpu)
    # the linears' peak as step_time prices them: the recipe's peak times its gemm_rel
    rel = RECIPES[row["recipe"]].gemm_rel if row["recipe"] != "none" else 1.0
    peak, hbm, b = datasheet_peak(gpu, row["precision"]) * rel, gpu.hbm_bw, BYTES[row["precision"]]
    g, m, n, k = (float(row[c]) for c in ("groups", "m_per_group", "n", "k"))

    def grouped(n_, k_):
        return float(moe_mech.grouped_gemm_time(eff, g, m, n_, k_, peak, hbm, b))

    def grouped_gemm_wgrad(n_, k_):
        return float(moe_mech.grouped_gemm_time(eff, g, k_, n_, m, peak, hbm, b))

    if row["kind"] == "dense_gemm":
        t, flops = float(eff.gemm_time(m, n, k, peak, hbm, b)), 2 * m * n * k
    elif row["kind"] == "grouped_gemm":
        t, flops = grouped(n, k), 2 * g * m * n * k
    elif row["kind"] == "grouped_gemm_wgrad":  # per group (n x k) contracted over its m rows, as step_time's g_t(K, N, M)
        t, flops = grouped_gemm_wgrad(n, k), 2 * g * m * n * k
    elif row["kind"] == "grouped_gemm_fwd_bwd":  # output, input gradient, weight gradient (step_time.gemm)
        t, flops = grouped(n, k) + grouped(k, n) + grouped_gemm_wgrad(n, k), 3 * 2 * g * m * n * k
    elif row["kind"] == "moe_mlp_fwd":  # n = ffn, k = hidden
        t, flops = grouped(2 * n, k) + grouped(k, n), 2 * g * m * 3 * n * k
    else:
        raise ValueError(row["kind"])
    return flops / t / 1e12


def table():
    cat = load_catalog()
    out = []
    for r in load("grouped_gemm"):
        pred = predict(r, cat)
        out.append(dict(id=r["id"], kind=r["kind"], gpu=r["gpu"], precision=r["precision"], kernel=r["kernel"],
                        groups=r["groups"], m=r["m_per_group"], n=r["n"], k=r["k"], measured=r["tflops"],
                        predicted=pred, err=r["tflops"] / pred - 1.0,
                        source=r["id"].split("_")[0]))
    return out


def summary(rows):
    """(source, kind) -> (rows, median err, median |err|)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["source"], r["kind"]), []).append(r["err"])
    return {key: (len(v), float(np.median(v)), float(np.median(np.abs(v)))) for key, v in groups.items()}


def main():
    rows = table()
    print(f"{'id':52s} {'kind':20s} {'G':>4s} {'m/G':>7s} {'N':>6s} {'K':>6s} {'meas':>7s} {'pred':>7s} {'err':>7s}")
    for r in rows:
        print(f"{r['id']:52s} {r['kind']:20s} {r['groups']:4d} {r['m']:7d} {r['n']:6d} {r['k']:6d} "
              f"{r['measured']:7.1f} {r['predicted']:7.1f} {r['err']:+7.1%}")
    print("\nerr = predicted time / measured time - 1 (negative: the planner predicts the kernel too fast)")
    print(f"{'source':14s} {'kind':20s} {'rows':>4s} {'median err':>10s} {'median |err|':>12s}")
    for (src, kind), (n, med, mabs) in sorted(summary(rows).items()):
        print(f"{src:14s} {kind:20s} {n:4d} {med:+10.1%} {mabs:12.1%}")
    allg = [r["err"] for r in rows if r["kind"] != "dense_gemm"]
    print(f"{'all grouped':35s} {len(allg):4d} {np.median(allg):+10.1%} {np.median(np.abs(allg)):12.1%}")


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
