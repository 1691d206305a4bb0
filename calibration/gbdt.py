"""GBDT calibration: measure XGBoost ``hist`` (CPU) training speed on synthetic data and fit the
cost model ``planner/workloads/tabular.py`` uses.

    python -m calibration.gbdt -o planner/hardware/profiles/gbdt-cpu.json [--force]  # measure + fit (~1 min)
    python -m calibration.gbdt --check planner/hardware/profiles/gbdt-cpu.json  # error table vs real runs

Cost model (Chen & Guestrin 2016, "XGBoost: A Scalable Tree Boosting System", §4.1: the
histogram/approximate algorithm costs O(K d ||x||_0 + ||x||_0 log q) for K trees of depth d over
||x||_0 non-missing entries; XGBoost docs "Tree Methods": ``hist`` builds gradient histograms of
the quantised matrix level by level), one thread:

    t_tree = a x rows x features x depth  +  b x rows  +  e x features x max_bin x 2^depth  +  c
    t_sketch = s x rows x features                           (QuantileDMatrix: quantile sketch + binning)

``a`` is the histogram cost per (row, feature, level), ``b`` the per-row work of a round
(gradients, prediction-cache update, row partitioning), ``e`` the per-(node, feature, bin) work
(histogram subtraction and split evaluation touch every bin of every node: features x bins x 2^depth
over a tree), ``c`` a per-tree constant. The four constants are fitted once, by non-negative least
squares over every measured size — never per row.

Threads: the largest size is timed at 1 thread and at ``n`` threads (all this machine has). Amdahl
``speedup(n) = 1 / ((1 - p) + p / n)`` gives the parallel fraction ``p`` (``parallel_fraction`` in
the profile); tabular.py scales to an instance's physical cores with it. Measuring on few cores and
extrapolating to 64 is the weak link; the profile records the core count it was measured on.

Held-out check: ``check_profile`` trains XGBoost at sizes *not* used for fitting and prints the
predicted vs measured time per tree (``--check``).
"""
from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from planner.model.gbdt import COEFFICIENTS, MAX_BIN, design, predict_tree_s  # noqa: F401  (the cost model lives in the planner)

#: (rows, features, depth) grid for fitting — small enough for ~1 minute on 2 cores
FIT_GRID = [(r, f, d) for r in (20_000, 80_000) for f in (16, 64) for d in (4, 8)]
#: held-out sizes (never used for fitting)
CHECK_GRID = [(50_000, 32, 6), (120_000, 24, 5), (30_000, 100, 7)]
TREES = 12
PROFILE_VERSION = 1


def synthetic(rows: int, features: int, seed: int = 0):
    """Dense float32 features, a nonlinear regression target (all features informative a bit)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features), dtype=np.float32)
    w = rng.standard_normal(features).astype(np.float32)
    y = np.sin(X @ w / np.sqrt(features)) + 0.5 * (X[:, 0] > 0) * X[:, 1 % features] + 0.1 * rng.standard_normal(rows)
    return X, y.astype(np.float32)


def time_training(rows: int, features: int, depth: int, threads: int, trees: int = TREES,
                  repeats: int = 2) -> dict:
    """Seconds for the quantile sketch and per tree (min over repeats: the machine is shared)."""
    import xgboost as xgb

    X, y = synthetic(rows, features)
    params = {"tree_method": "hist", "max_depth": depth, "max_bin": MAX_BIN, "nthread": threads,
              "objective": "reg:squarederror", "eta": 0.1, "device": "cpu", "verbosity": 0}
    sketch, per_tree = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        d = xgb.QuantileDMatrix(X, y, max_bin=MAX_BIN, nthread=threads)
        t1 = time.perf_counter()
        xgb.train(params, d, num_boost_round=trees)
        t2 = time.perf_counter()
        sketch.append(t1 - t0)
        per_tree.append((t2 - t1) / trees)
    return dict(rows=rows, features=features, depth=depth, threads=threads, trees=trees,
                sketch_s=min(sketch), tree_s=min(per_tree))


def fit(points: list[dict]) -> dict:
    """Least squares (non-negative: a negative cost has no meaning) of t_tree and t_sketch.

    Fitted on relative error (rows scaled by 1/t), so small and large sizes weigh alike."""
    from scipy.optimize import nnls  # scipy ships with the calibrate/test extras via xgboost

    A = design([p["rows"] for p in points], [p["features"] for p in points], [p["depth"] for p in points])
    t = np.array([p["tree_s"] for p in points])
    coef, _ = nnls(A / t[:, None], np.ones(len(t)))
    rf = np.array([p["rows"] * p["features"] for p in points], dtype=np.float64)
    ts = np.array([p["sketch_s"] for p in points])
    s = float(np.sum(rf * ts / ts**2) / np.sum(rf**2 / ts**2))  # relative least squares, one coefficient
    return dict(a_s_per_row_feature_level=float(coef[0]), b_s_per_row=float(coef[1]),
                e_s_per_node_feature_bin=float(coef[2]), c_s_per_tree=float(coef[3]),
                s_sketch_s_per_row_feature=s)


def amdahl_fraction(speedup: float, n: int) -> float:
    """Parallel fraction p from a measured speedup on n threads: s = 1/((1-p) + p/n)."""
    if n <= 1:
        return float("nan")
    p = (1 - 1 / speedup) / (1 - 1 / n)
    return float(min(max(p, 0.0), 1.0))


def run(out_path: Path | None = None, progress=print, force: bool = False) -> dict:
    """Measure, fit and return the profile; with ``out_path``, also write it by the output rules of
    ``planner.outputs`` (a new file, or an existing one replaced only with ``force``)."""
    import xgboost as xgb
    from planner.outputs import GBDT_PROFILE, output_target, write_text

    if out_path is not None:  # before a minute of measuring, not after
        output_target(out_path, "--out", force=force, kind=GBDT_PROFILE)

    n = os.cpu_count() or 1
    points = []
    for r, f, d in FIT_GRID:
        p = time_training(r, f, d, threads=1)
        points.append(p)
        progress(f"  rows={r:>7} features={f:>3} depth={d}: {p['tree_s'] * 1e3:7.2f} ms/tree, sketch {p['sketch_s'] * 1e3:6.1f} ms")
    coef = fit(points)
    big = max(FIT_GRID, key=lambda x: x[0] * x[1] * x[2])
    t1 = next(p for p in points if (p["rows"], p["features"], p["depth"]) == big)["tree_s"]
    if n > 1:  # alternate 1 and n threads, min of each: other load on a shared machine hits both
        t1 = min([t1] + [time_training(*big, threads=1, repeats=1)["tree_s"] for _ in range(2)])
        tn = min(time_training(*big, threads=n, repeats=1)["tree_s"] for _ in range(3))
    else:
        tn = t1
    speedup = t1 / tn
    prof = dict(
        version=PROFILE_VERSION, library="xgboost", library_version=xgb.__version__, tree_method="hist",
        max_bin=MAX_BIN, objective="reg:squarederror",
        machine=dict(cpu=platform.processor() or platform.machine(), logical_cpus=n, python=sys.version.split()[0],
                     note="shared CI machine; timings are the min of 2 repeats"),
        model="t_tree = a*rows*features*depth + b*rows + e*features*max_bin*2^depth + c (1 thread); t_sketch = s*rows*features",
        **coef,
        threads_measured=n, speedup_at_threads=speedup, parallel_fraction=amdahl_fraction(speedup, n),
        points=points, measured_at=time.strftime("%Y-%m-%d"),
    )
    if out_path is not None:
        write_text(out_path, json.dumps(prof, indent=1), "--out", force)
    return prof


def check_profile(prof: dict, grid=CHECK_GRID, trees: int = TREES) -> list[dict]:
    """Predicted vs measured seconds per tree at held-out sizes (1 thread)."""
    rows = []
    for r, f, d in grid:
        m = time_training(r, f, d, threads=1, trees=trees)
        pred = float(predict_tree_s(prof, r, f, d))
        rows.append(dict(rows=r, features=f, depth=d, measured_ms=m["tree_s"] * 1e3, predicted_ms=pred * 1e3,
                         error=pred / m["tree_s"] - 1))
    return rows


def read_profile(path: Path) -> dict:
    """The profile ``--check`` tests, read as the planner reads files (``read_json_object``: a regular UTF-8 file of
    strict JSON holding an object) with each of the model's coefficients a finite number >= 0 (``fit``'s non-negative
    least squares gives no other); until QA 64 a missing file, a folder or a profile without a coefficient ended
    ``--check`` in a traceback (FileNotFoundError, IsADirectoryError, KeyError), exit 1."""
    from hardware_catalog.errors import clip
    from planner.errors import InputError, read_json_object

    prof = read_json_object(path, "--check", " — a GBDT profile (python -m calibration.gbdt -o)?")
    for k in COEFFICIENTS:
        v = prof.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise InputError("--check", f"{path}: {k}: must be a number >= 0 (a profile python -m calibration.gbdt "
                                        f"-o wrote), got {clip(v) if k in prof else 'none (no such key)'}")
    return prof


def main(argv=None):
    from planner.errors import InputError
    from planner.present.safe import clean_line
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(prog="python -m calibration.gbdt", description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", type=Path, help="write the fitted profile JSON here")
    ap.add_argument("--check", type=Path, help="print the error table of this profile at held-out sizes")
    ap.add_argument("--force", action="store_true", help="replace --out if it exists (planner.outputs)")
    a = ap.parse_args(argv)
    if a.check:
        try:
            prof = read_profile(a.check)
        except InputError as e:
            print(f"error: {clean_line(e)}", file=sys.stderr)
            return 2
        print(f"{'rows':>8} {'feat':>5} {'depth':>5} {'measured ms/tree':>17} {'predicted':>10} {'error':>7}")
        rows = check_profile(prof)
        for r in rows:
            print(f"{r['rows']:>8} {r['features']:>5} {r['depth']:>5} {r['measured_ms']:>17.2f} {r['predicted_ms']:>10.2f} {r['error']:>+7.1%}")
        print(f"mean |error| {np.mean([abs(r['error']) for r in rows]):.1%} over {len(rows)} held-out sizes")
        return 0
    try:
        prof = run(a.out, force=a.force)
    except InputError as e:
        print(f"error: {clean_line(e)}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in prof.items() if k != "points"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
