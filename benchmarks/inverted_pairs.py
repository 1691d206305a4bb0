"""Which configurations of one model the step-time model orders wrongly, and what differs between them.

A planner that ranks two layouts the wrong way round recommends the slower one, so the rank
error within a model matters more than the median error. For every model of a source this lists
the *inverted pairs* (measured faster but predicted slower), how wrong the predicted gap is, and
groups them by the layout fields that differ between the two rows (tp, pp, dp, mb, micro-batches
per step ``nmb``, GPUs), so a mechanism can be looked for where the inversions concentrate.

Run on ``validate.py``'s per-row output::

    python benchmarks/validate.py --csv /tmp/rows.csv
    python benchmarks/inverted_pairs.py /tmp/rows.csv --source vtrain_multi [--top 15] [--noise]

``--noise`` adds, per model, how many pairs lie within 1% / 2% of each other as measured and the Spearman that
run-to-run noise of 1-5% leaves to a model that knew every configuration's step time (``noise_ceiling``).
``--axes`` adds which layout axis the residue follows: per axis, the share of the within-model spread of
log(measured / predicted) that grouping by the axis explains (``axis_shares``), and the median error per model
at each value of the axis that explains most.
"""
from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

#: layout fields compared between the two rows of a pair (``nmb`` where the global batch is known)
FIELDS = ("gpus", "tp", "pp", "dp", "mb", "nmb")


def with_microbatches(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``nmb`` (micro-batches per step, gb / (dp * mb)) where the global batch is known: a ``gb``
    column, or the ``/gb<N>`` tag that validate's vTrain model names carry."""
    df = df.copy()
    if "gb" not in df:
        df["gb"] = df["model"].map(lambda s: (lambda m: int(m.group(1)) if m else None)(re.search(r"/gb(\d+)", str(s))))
    df["nmb"] = df["gb"] / (df["dp"] * df["mb"])
    return df


def inverted_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of the same model whose measured and predicted orders disagree: ``fast`` /
    ``slow`` (as measured), ``differs`` (the FIELDS that differ, '/'-joined), the measured and
    predicted gaps of slow over fast (%), and ``wrong_by`` = measured gap - predicted gap (points)."""
    df = with_microbatches(df)
    fields = [f for f in FIELDS if f in df and df[f].notna().all()]
    out = []
    for model, g in df.groupby("model", sort=False):
        for (_, a), (_, b) in itertools.combinations(g.iterrows(), 2):
            if (a.measured_s - b.measured_s) * (a.predicted_s - b.predicted_s) >= 0:
                continue
            fast, slow = (a, b) if a.measured_s < b.measured_s else (b, a)
            label = lambda r: " ".join(f"{f}{r[f]:g}" for f in fields)  # noqa: E731
            mg = 100 * (slow.measured_s / fast.measured_s - 1)
            pg = 100 * (slow.predicted_s / fast.predicted_s - 1)
            out.append(dict(model=model, fast=label(fast), slow=label(slow),
                            differs="/".join(f for f in fields if fast[f] != slow[f]),
                            measured_gap=mg, predicted_gap=pg, wrong_by=mg - pg,
                            err_fast=100 * (fast.predicted_s / fast.measured_s - 1),
                            err_slow=100 * (slow.predicted_s / slow.measured_s - 1)))
    cols = ["model", "fast", "slow", "differs", "measured_gap", "predicted_gap", "wrong_by", "err_fast", "err_slow"]
    return pd.DataFrame(out, columns=cols)


def summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Inverted pairs per model and differing fields: count, mean and largest ``wrong_by``."""
    return (pairs.groupby(["model", "differs"]).wrong_by.agg(pairs="size", mean_wrong_by="mean", max_wrong_by="max")
            .reset_index().sort_values(["model", "pairs"], ascending=[True, False]))


#: run-to-run noise (one standard deviation, relative) at which ``noise_table`` gives the ceiling
NOISE_SIGMAS = (0.01, 0.02, 0.03, 0.05)


def noise_ceiling(measured, sigma: float, draws: int = 400, seed: int = 0) -> float:
    """The mean Spearman, over ``draws`` re-measurements, of ``measured`` against ``measured * exp(sigma z)``
    (z standard normal, one draw a row): what a model that knew each configuration's step time exactly would reach
    against one noisy run of each, taking the measured times as the true ones.

    Why: validate's ``tie_ceiling`` is 1 for a source that ran each configuration once (vTrain), which says nothing
    about how many of its pairs are closer than a run's own scatter. Configurations within sigma of each other are
    ordered by the noise, whatever the model does, so a Spearman target above this ceiling asks for a fit to the
    noise. Seeded, so a table is reproducible."""
    from validate import spearman

    x = np.asarray(measured, dtype=float)
    if sigma == 0:
        return spearman(x, x)
    z = np.random.default_rng(seed).standard_normal((draws, len(x)))
    return float(np.mean([spearman(x, x * np.exp(sigma * zi)) for zi in z]))


def noise_table(rows: pd.DataFrame, sigmas=NOISE_SIGMAS) -> pd.DataFrame:
    """Per model (>= 3 rows): rows, pairs, pairs whose measured times lie within 1% and 2% of each other (slow /
    fast - 1, as ``inverted_pairs``' ``measured_gap``), the model's Spearman (validate's ``spearman``) and
    ``noise_ceiling`` at each of ``sigmas`` (columns ``noise_1%`` ...)."""
    from validate import spearman

    out = []
    for model, g in rows.groupby("model", sort=False):
        if len(g) < 3:
            continue
        x = g["measured_s"].to_numpy(dtype=float)
        gaps = np.array([max(a, b) / min(a, b) - 1 for a, b in itertools.combinations(x, 2)])  # slow / fast - 1
        out.append(dict(model=model, rows=len(g), pairs=len(gaps), within_1pct=int((gaps < 0.01).sum()),
                        within_2pct=int((gaps < 0.02).sum()), spearman=spearman(g["predicted_s"], x),
                        **{f"noise_{100 * s:g}%": noise_ceiling(x, s) for s in sigmas}))
    return pd.DataFrame(out)


def axis_shares(rows: pd.DataFrame, axes=FIELDS) -> pd.DataFrame:
    """Per layout axis (columns of ``axes`` present and filled in every row): ``groups`` (distinct (model, value)
    cells) and ``share``, the part of the within-model sum of squares of r = log(measured / predicted) that the
    cells' means carry (eta squared, pooled over models; NaN where r does not vary within any model).

    Why: the inverted pairs say which rows are misordered, not which configuration axis the error follows; a
    mechanism priced per layout must follow one (vtm57: on vtrain_multi the tensor-parallel degree carries 0.52,
    the pipeline depth 0.07). An axis with a value per row explains everything, so read ``share`` with ``groups``."""
    df = with_microbatches(rows)
    r = np.log(df["measured_s"].astype(float) / df["predicted_s"].astype(float))
    rc = r - r.groupby(df["model"]).transform("mean")
    total = float((rc ** 2).sum())
    out = []
    for a in (a for a in axes if a in df and df[a].notna().all()):
        cells = [df["model"], df[a]]
        out.append(dict(axis=a, groups=df.groupby(cells).ngroups,
                        share=float((rc.groupby(cells).transform("mean") ** 2).sum()) / total if total else np.nan))
    return pd.DataFrame(out, columns=["axis", "groups", "share"])


def axis_errors(rows: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Rows and median error (predicted / measured - 1, %, validate's sign) per model at each value of ``axis``."""
    df = with_microbatches(rows)
    err = 100 * (df["predicted_s"].astype(float) / df["measured_s"].astype(float) - 1)
    return (err.groupby([df["model"], df[axis]]).agg(rows="size", median_err="median").reset_index())


#: the step times a pair's gaps divide: positive finite numbers in every row (``read_table``)
STEP_TIMES = ("measured_s", "predicted_s")


def read_rows(path, source: str) -> pd.DataFrame:
    """``source``'s rows of a ``validate.py --csv`` file, or one ``InputError`` (field ``csv``, or ``--source`` when
    the file has no row of it): the file read by the scripts' one reader (``planner.present.script_args.read_table``),
    the layout columns numbers where given. Until qa69 ``pd.read_csv`` read it and an empty, binary or unclosed-quote
    file, a missing column or a text cell was a traceback (as precision_pairs.py's were until fuzz44), and a source
    named wrong printed an empty table."""
    from hardware_catalog.errors import clip
    from planner.errors import InputError
    from planner.present.script_args import read_table

    df = read_table(path, "csv", ("source", "model", "dp", "mb", *STEP_TIMES), STEP_TIMES, (*FIELDS, "gb"))
    rows = df[df["source"] == source]
    if rows.empty and not df.empty:
        known = sorted(map(str, df["source"].dropna().unique()))
        raise InputError("--source", f"no row of {clip(source)} in the file (sources: {', '.join(known[:12])}"
                                     f"{', ...' if len(known) > 12 else ''})")
    return rows


def main(argv=None):
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("csv", help="validate.py --csv output")
    ap.add_argument("--source", required=True)
    ap.add_argument("--top", type=int, default=10, help="largest inversions listed per model")
    ap.add_argument("--noise", action="store_true",
                    help="per model: pairs within 1%% / 2%% as measured, and the Spearman run-to-run noise allows")
    ap.add_argument("--axes", action="store_true",
                    help="the share of the residue each layout axis explains, and the errors along the first")
    args = ap.parse_args(argv)
    with ap.input_errors():  # a file that is no such table: one line, exit 2 (read_table)
        rows = read_rows(args.csv, args.source)
    pairs = inverted_pairs(rows)
    pd.set_option("display.width", 250)
    print(summary(pairs).round(1).to_string(index=False))
    for model, p in pairs.groupby("model", sort=False):
        print(f"\n{model}: {len(p)} inverted pairs")
        print(p.nlargest(args.top, "wrong_by").drop(columns="model").round(1).to_string(index=False))
    if args.noise:
        print("\nWithin the runs' own noise (noise_ceiling: a model exact on every configuration, one noisy run each):")
        noise = noise_table(rows)
        print(noise.round(3).to_string(index=False) if len(noise) else "no model with 3 or more rows")
    if args.axes:
        print_axes(rows)
    return pairs


def print_axes(rows: pd.DataFrame) -> None:
    """``--axes``: ``axis_shares`` and, for the axis with the largest share, ``axis_errors``."""
    shares = axis_shares(rows).sort_values("share", ascending=False, kind="stable")
    print("\nResidue by layout axis (share of the within-model spread of log(measured / predicted)):")
    print(shares.round(2).to_string(index=False) if len(shares) else "no layout axis filled in every row")
    if len(shares) and shares["share"].notna().any():
        axis = shares["axis"].iloc[0]
        print(f"\nMedian error (predicted / measured - 1, %) by {axis}:")
        print(axis_errors(rows, axis).round(1).to_string(index=False))


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
