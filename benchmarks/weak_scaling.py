"""Weak-scaling series of the validation sources: measured and predicted step growth with the GPU count
at a fixed batch per replica (README "Weak scaling across sources").

A series is every scored row of one source, model and layout (TP, PP, micro-batch, stack options) whose
global batch per data-parallel replica is the same; rows come from ``validate.run_all`` and the global
batches from the sources' CSVs (llm-foundry: its ``published`` rows in the CSV's order). Per series, at
its largest GPU count: the measured and predicted step ratios to its smallest, "excess" = measured -
predicted ratio in % of the step, "slope" = the excess per doubling of the GPU count (least squares
through the first point), and the Spearman rank correlation of predicted vs measured within the
series (series of 3 or more rows).

Run: ``python benchmarks/weak_scaling.py [--csv rows.csv]`` (a ``validate.py --csv`` file, else it runs
the model).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import validate as V  # noqa: E402

from planner.present.script_args import ScriptArgs  # noqa: E402  usage errors as one line, exit 2

#: the sources with weak-scaling series, and the CSV that holds their rows' global batches (by ``id``)
SERIES_CSV = {"dgxc": V.DGXC_CSV, "dgxc GB200": V.DGXC_CSV, "together B200": V.TOGETHER_CSV,
              "tech_reports": V.TECH_REPORTS_CSV}


def with_batches(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the weak-scaling sources with ``per_replica`` (global batch / DP) and a series key."""
    out = []
    for src, path in SERIES_CSV.items():
        g = df[df["source"] == src].copy()
        gbs = pd.read_csv(path).set_index("id")["global_batch_seqs"]
        g["per_replica"] = g["id"].map(gbs).to_numpy() / g["dp"].to_numpy()
        g["key"] = [f"{r.model}|tp{r.tp}|pp{r.pp}|mb{r.mb}|{r.options}|b{r.per_replica:g}" for r in g.itertuples()]
        out.append(g)
    lf_csv = pd.read_csv(V.DATA / "dev_published_runs.csv")
    lf_csv = lf_csv[lf_csv["id"].str.startswith("lf_")]
    lf = df[df["source"].str.startswith("llm-foundry")].copy()
    assert len(lf) == len(lf_csv), "llm-foundry rows no longer follow the CSV's order"
    lf["per_replica"] = (lf_csv["global_batch_seqs"] / lf_csv["num_gpus"]).to_numpy()
    lf["key"] = [f"{r.model}|mb{r.mb}|{p}|{rc[:4]}|b{r.per_replica:g}"
                 for r, p, rc in zip(lf.itertuples(), lf_csv["precision"], lf_csv["recompute"])]
    out.append(lf)
    return pd.concat(out, ignore_index=True)


def series_table(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (src, key), g in with_batches(df).groupby(["source", "key"], sort=False):
        g = g.sort_values("gpus")
        if g["gpus"].nunique() < 2:
            continue
        meas = g["measured_s"].to_numpy() / g["measured_s"].iloc[0]
        pred = g["predicted_s"].to_numpy() / g["predicted_s"].iloc[0]
        x = np.log2(g["gpus"].to_numpy() / g["gpus"].iloc[0])
        exc = 100 * (meas - pred)
        slope = float((x @ exc) / (x @ x))
        rho = V.spearman(g["predicted_s"].to_numpy(), g["measured_s"].to_numpy()) if len(g) >= 3 else np.nan
        rows.append(dict(source=src, series=key.split("|")[0], gpus="-".join(str(int(v)) for v in g["gpus"]),
                         measured_ratio=meas[-1], predicted_ratio=pred[-1], excess_pct=exc[-1], slope_pct=slope,
                         spearman=rho))
    return pd.DataFrame(rows)


def summary(tab: pd.DataFrame) -> pd.DataFrame:
    """Per source: series, median slope, mean |excess|, mean within-series Spearman (3+ rows)."""
    return tab.groupby("source", sort=False).agg(
        series=("series", "size"), median_slope_pct=("slope_pct", "median"),
        mean_abs_excess_pct=("excess_pct", lambda s: s.abs().mean()), mean_spearman=("spearman", "mean"))


def main(argv=None):
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", help="a validate.py --csv file (else the model is run)")
    ap.add_argument("--series", action="store_true", help="print every series")
    args = ap.parse_args(argv)
    df = pd.read_csv(args.csv) if args.csv else V.run_all()
    tab = series_table(df)
    pd.set_option("display.width", 200)
    if args.series:
        print(tab.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(summary(tab).to_string(float_format=lambda v: f"{v:.3f}"))
    return tab


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
