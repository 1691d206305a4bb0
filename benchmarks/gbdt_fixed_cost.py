"""The per-tree fixed cost of XGBoost ``hist``, measured vs predicted (prints; no asserts: wall-clock on a shared
machine).

    python benchmarks/gbdt_fixed_cost.py            # ~1 min on 2 cores

CPU: real xgboost (the installed version, ``device: cpu``, one thread) at small and large row counts, timed by
``calibration.gbdt.time_training``, beside the shipped profile's prediction (``planner/model/gbdt.py``
``predict_tree_s``). At 1,000 rows the row terms are a few percent of a tree, so the row is a check of the profile's
per-tree constant ``c`` and its split-search term ``e x features x bins x 2^depth``; at 200,000 rows of the row terms.

GPU: no GPU here, so the model's per-tree fixed cost (``gpu_tree_fixed_s``) is printed beside the published sweep it
was fitted to (Evovest/EvoTrees.jl benchmarks/pythoncall/results/regressor-xgb-gpu.csv, commit 12fad174: 200 rounds,
max_bin 64, colsample_bytree 0.5): the seconds at 1e5 and 1e6 rows extrapolated to 0 rows, per tree.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.model.gbdt import gpu_tree_fixed_s, predict_tree_s  # noqa: E402
from planner.workloads.tabular import PROFILE_PATH  # noqa: E402

#: (rows, features, depth, trees): small sizes (the fixed part dominates) and large ones (the row terms dominate)
CPU_SIZES = [(1_000, 10, 4, 40), (1_000, 50, 6, 20), (1_000, 50, 8, 10), (200_000, 20, 6, 6), (200_000, 50, 8, 4)]
#: the published sweep: (features, depth) -> train seconds at 1e5 and 1e6 rows, 200 rounds
GPU_SWEEP = {(10, 5): (0.158903021, 0.383688661), (10, 10): (0.797299852, 1.333678424),
             (100, 5): (0.245585694, 1.260127313), (100, 10): (1.807274598, 3.869150384)}


def main(argv=None) -> int:
    from calibration.gbdt import time_training
    from planner.present.script_args import ScriptArgs  # no options; a bad one is one line, exit 2

    ScriptArgs(prog="benchmarks/gbdt_fixed_cost.py", description=__doc__.split("\n")[0]).parse_args(argv)

    prof = json.loads(Path(PROFILE_PATH).read_text())
    print(f"CPU, 1 thread (profile: xgboost {prof['library_version']}, {prof['measured_at']})")
    print(f"{'rows':>8} {'feat':>5} {'depth':>5} {'measured ms/tree':>17} {'predicted':>10} {'error':>7}")
    got = {}
    for r, f, d, trees in CPU_SIZES:
        m = time_training(r, f, d, threads=1, trees=trees, repeats=2)
        pred = float(predict_tree_s(prof, r, f, d))
        got[r, f, d] = (m["tree_s"], pred)
        print(f"{r:>8} {f:>5} {d:>5} {m['tree_s'] * 1e3:>17.3f} {pred * 1e3:>10.3f} {pred / m['tree_s'] - 1:>+7.1%}")
    # other load on a shared machine slows every size alike, so the small size's time as a share of the large one's
    # checks the fixed part without the machine's quietness: measured vs predicted share
    for small, large in (((1_000, 10, 4), (200_000, 20, 6)), ((1_000, 50, 8), (200_000, 50, 8))):
        (ms, ps), (ml, pl) = got[small], got[large]
        print(f"share {small} / {large}: measured {ms / ml:.3f}, predicted {ps / pl:.3f} ({(ps / pl) / (ms / ml) - 1:+.0%})")
    print("\nGPU per-tree fixed cost vs the published sweep (intercept at 0 rows, 200 trees; features sampled at 0.5)")
    print(f"{'feat':>5} {'depth':>5} {'published ms/tree':>18} {'model':>8} {'error':>7}")
    for (f, d), (t5, t6) in GPU_SWEEP.items():
        pub = (t5 - (t6 - t5) / 0.9e6 * 1e5) / 200
        model = float(gpu_tree_fixed_s(1e5, f * 0.5, d))
        print(f"{f:>5} {d:>5} {pub * 1e3:>18.2f} {model * 1e3:>8.2f} {model / pub - 1:>+7.1%}")
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
