"""The per-tree cost model of XGBoost's ``hist`` tree method (one thread), which
``calibration/gbdt.py`` fits to measured runs and ``planner.workloads.tabular`` uses.

Per tree: histogram building touches every (row, feature) once per level, gradient updates every
row, split finding every (node, feature, bin) — XGBoost's hist algorithm (Chen & Guestrin 2016
§3.3; the ``hist`` method's per-level histogram construction):

    t_tree = a x rows x features x depth + b x rows + e x features x bins x 2^depth + c
"""
from __future__ import annotations

import numpy as np

MAX_BIN = 256


def design(rows, features, depth, max_bin=MAX_BIN):
    """Columns of the per-tree cost model: [rows x features x depth, rows, features x bins x 2^depth, 1]."""
    rows, features, depth = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (rows, features, depth)))
    return np.stack([rows * features * depth, rows, features * max_bin * 2.0**depth, np.ones_like(rows)], axis=-1)


def predict_tree_s(prof: dict, rows, features, depth, max_bin=MAX_BIN) -> np.ndarray:
    """One-thread seconds per tree from a profile (vectorised), at ``max_bin`` histogram bins (XGBoost's
    ``max_bin``; the profile is fitted at ``MAX_BIN``, its ``e`` coefficient per bin)."""
    coef = np.array([prof["a_s_per_row_feature_level"], prof["b_s_per_row"], prof["e_s_per_node_feature_bin"],
                     prof["c_s_per_tree"]])
    return design(rows, features, depth, max_bin) @ coef
