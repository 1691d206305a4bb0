"""The BF16 : low-precision step ratio of same-configuration pairs, measured against modelled, per GPU.

A source that ran one configuration in BF16 and in FP8 (same model, GPUs, TP / PP / DP, micro-batch, global batch)
measures what the low-precision recipe buys on that GPU in that stack, whatever its absolute level. The planner's
answer to the same question is its BF16 : FP8 predicted-step ratio; ``model_over_measured`` (the predicted ratio over
the measured one) above 1 means the planner gives the low-precision recipe more speed-up than the runs got. A per-GPU
or per-recipe GEMM parameter moves this ratio and nothing else a pair shares, so it is the check for one (acc44:
H100 dgxc 50 pairs median 1.048, GB200 dgxc 9 pairs 1.045, Together's HGX B200 Nemotron-4 4 pairs 1.14-1.27).

Rows pair by their ``id`` with the precision tag taken out (``_bf16_`` against ``_fp8_`` / ``_fp8cs_`` / ``_mxfp8_`` /
``_nvfp4_``, the naming every Megatron source's builder uses) and must agree on the layout fields. Run on
``validate.py``'s per-row output::

    python benchmarks/validate.py --csv /tmp/rows.csv
    python benchmarks/precision_pairs.py /tmp/rows.csv
"""
from __future__ import annotations

import re

import pandas as pd

#: the precision tag of a row id, and the layout fields both rows of a pair must share
PRECISION_TAG = re.compile(r"_(bf16|fp8cs|fp8|mxfp8|nvfp4)(?=_|$)")
LAYOUT = ("gpus", "tp", "pp", "dp", "mb")
#: the step times a pair's ratios divide: positive finite numbers in every row (``read_table``)
STEP_TIMES = ("measured_s", "predicted_s")


def _split(row_id) -> tuple[str | None, str | None]:
    """(the id with its precision tag replaced by ``_X``, the tag), or (None, None) for an id without one."""
    m = PRECISION_TAG.search(str(row_id))
    return (None, None) if m is None else (row_id[:m.start()] + "_X" + row_id[m.end():], m.group(1))


def precision_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (BF16 row, low-precision row) of the same configuration: ``key`` (the id without its tag),
    ``gpu``, ``precision`` (the low-precision tag), ``measured`` and ``model`` (BF16 step over low-precision step)
    and ``model_over_measured``."""
    df = df[df["id"].notna()].copy()
    split = [_split(i) for i in df["id"]]  # (two lists: a frame of no rows has no two columns to assign, fuzz44)
    df["key"], df["tag"] = [k for k, _ in split], [t for _, t in split]
    out = []
    for key, g in df[df["key"].notna()].groupby("key", sort=False):
        for _, b in g[g["tag"] == "bf16"].iterrows():
            for _, lp in g[(g["tag"] != "bf16") & (g[list(LAYOUT)] == b[list(LAYOUT)]).all(axis=1)].iterrows():
                meas, model = b.measured_s / lp.measured_s, b.predicted_s / lp.predicted_s
                out.append(dict(key=key, gpu=b.gpu, precision=lp.tag, measured=meas, model=model,
                                model_over_measured=model / meas))
    return pd.DataFrame(out, columns=["key", "gpu", "precision", "measured", "model", "model_over_measured"])


def summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs per GPU and precision: count, median measured and modelled ratios, median and range of their ratio."""
    return (pairs.groupby(["gpu", "precision"])
            .agg(pairs=("model", "size"), measured=("measured", "median"), model=("model", "median"),
                 model_over_measured=("model_over_measured", "median"), lo=("model_over_measured", "min"),
                 hi=("model_over_measured", "max"))
            .reset_index())


def main(argv=None):
    from planner.present.script_args import ScriptArgs, read_table  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("csv", help="validate.py --csv output")
    ap.add_argument("--pairs", action="store_true", help="list every pair, not only the per-GPU summary")
    args = ap.parse_args(argv)
    with ap.input_errors():  # a file that is no such table: one line, exit 2 (read_table)
        rows = read_table(args.csv, "csv", ("id", "gpu", *LAYOUT, *STEP_TIMES), STEP_TIMES)
    pairs = precision_pairs(rows)
    pd.set_option("display.width", 250)
    print(summary(pairs).round(3).to_string(index=False))
    if args.pairs:
        print()
        print(pairs.round(3).to_string(index=False))
    return pairs


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
