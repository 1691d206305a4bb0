"""The per-tree cost model of XGBoost's ``hist`` tree method, which ``planner.workloads.tabular`` uses: on CPU (one
thread), fitted by ``calibration/gbdt.py`` to measured runs, and on GPU.

Per tree: histogram building touches every (row, feature) once per level, gradient updates every
row, split finding every (node, feature, bin) — XGBoost's hist algorithm (Chen & Guestrin 2016
§3.3; the ``hist`` method's per-level histogram construction):

    t_tree = a x rows x features x depth + b x rows + e x features x bins x 2^depth + c

and on a GPU (``gpu_tree_fixed_s``, ``gpu_sketch_s``; constants and their source below) a per-tree fixed cost by level,
node and (node, feature) beside the row work, and the quantile sketch's copy of the matrix to the device once a run.
"""
from __future__ import annotations

import numpy as np

MAX_BIN = 256


def design(rows, features, depth, max_bin=MAX_BIN):
    """Columns of the per-tree cost model: [rows x features x depth, rows, features x bins x 2^depth, 1]."""
    rows, features, depth = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (rows, features, depth)))
    return np.stack([rows * features * depth, rows, features * max_bin * 2.0**depth, np.ones_like(rows)], axis=-1)


#: a GBDT profile's coefficients of ``design``'s columns, in its order (``calibration.gbdt.fit`` writes them)
COEFFICIENTS = ("a_s_per_row_feature_level", "b_s_per_row", "e_s_per_node_feature_bin", "c_s_per_tree")


def predict_tree_s(prof: dict, rows, features, depth, max_bin=MAX_BIN) -> np.ndarray:
    """One-thread seconds per tree from a profile (vectorised), at ``max_bin`` histogram bins (XGBoost's
    ``max_bin``; the profile is fitted at ``MAX_BIN``, its ``e`` coefficient per bin)."""
    coef = np.array([prof[k] for k in COEFFICIENTS])
    return design(rows, features, depth, max_bin) @ coef


# --- GPU (XGBoost ``hist`` on CUDA) ----------------------------------------------------------------------------------
# A GPU tree is not ~0 s on a small data set: every level launches the histogram, evaluate-splits and partition kernels
# and synchronises with the host (the next level's node count is read back), and each node of a level is a histogram
# and a split to evaluate. Fitted once (non-negative least squares, relative error) to the intercepts of a published
# XGBoost GPU sweep: Evovest/EvoTrees.jl benchmarks/pythoncall/results/regressor-xgb-gpu.csv (commit 12fad174;
# script benchmarks/pythoncall/regressor.jl: xgboost via Python, device "cuda", 200 rounds, max_bin 64,
# subsample 0.5, colsample_bytree 0.5, a warm-up run first; rows 1e5 / 1e6 / 1e7 x 10 / 100 features x depth 5 / 10).
# Per (features, depth), the seconds at 1e5 and 1e6 rows, extrapolated to 0 rows, over 200 trees: 0.67 and 3.69 ms a
# tree at 10 features (depth 5, 10), 0.66 and 7.89 ms at 100 (50 sampled); the fit gives 0.61 / 3.75 / 0.73 / 7.61 ms.
# The file does not name its GPU (the repository's README benchmarks on an RTX A4000); these are launch- and
# latency-bound costs, taken as they are for every NVIDIA part (the row-proportional work scales by the part).
#: seconds per tree level: kernel launches and the host-device synchronisation of one level
GPU_S_PER_LEVEL = 1.04e-4
#: seconds per tree node (2^depth of them, or one per row when fewer): its histogram build and split bookkeeping
GPU_S_PER_NODE = 2.22e-6
#: seconds per (node, feature) of split evaluation: XGBoost's GPU evaluator scans a feature's bins within one thread
#: block per (node, feature) (dmlc/xgboost src/tree/gpu_hist/evaluate_splits.cu ``LaunchEvaluateSplits``: "One block
#: for each feature", a grid of max_active_features x nodes blocks of 32 threads), so the term is per (node, feature), not per bin
#: (fitted 1.31e-9 s per (node, sampled feature, bin) at max_bin 64 = 8.4e-8 per (node, feature))
GPU_S_PER_NODE_FEATURE = 1.31e-9 * 64
#: bytes per cell the GPU quantile sketch copies from host memory: ``QuantileDMatrix`` (and a ``DMatrix`` trained with
#: device "cuda") copies the float32 matrix to the device in batches and sketches it there (src/common/hist_util.cu)
GPU_SKETCH_BYTES_PER_CELL = 4.0


def gpu_tree_fixed_s(rows, features, depth):
    """Seconds of one GPU tree that do not scale with rows x features x levels (vectorised): per level, per node
    (``2^depth``, at most one node per row: a level has no more non-empty nodes than rows) and per (node, feature).
    ``GPU_S_PER_*``: the fit and its source above."""
    rows, features, depth = (np.asarray(x, dtype=np.float64) for x in (rows, features, depth))
    nodes = np.minimum(2.0**depth, rows)
    return GPU_S_PER_LEVEL * depth + GPU_S_PER_NODE * nodes + GPU_S_PER_NODE_FEATURE * nodes * features


def gpu_sketch_s(rows, features, host_bw):
    """Seconds of the GPU quantile sketch, once per run: the float32 matrix copied over the GPU's host link
    (``host_bw``, bytes/s; PCIe, or NVLink-C2C on a Grace superchip). The device-side sort of the copied values is
    memory-bound at HBM rates and not counted, so this is a floor."""
    return rows * features * GPU_SKETCH_BYTES_PER_CELL / np.asarray(host_bw, dtype=np.float64)
