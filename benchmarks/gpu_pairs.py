"""Measured-over-predicted step ratio of one GPU over another's, for the same model, precision and release.

A source that ran one model at one precision and software release on two GPUs (NVIDIA's GSW 25.05 tables: Llama 3.1
405B and Nemotron-4 340B on DGX H100 and on GB200 NVL72, nemo:25.04; Megatron-Bridge's per-release tables) measures
what moving to the other GPU changes, whatever the release gets wrong on both. ``over`` is (measured / predicted on
the row's GPU) / (measured / predicted on the reference GPU): 1 where the planner prices the two parts alike well,
above 1 where the row's GPU runs slower than the planner gives it relative to the reference. What the two rows
share (the release's recipe, an FP8 price the planner gets wrong on every part) divides out; what is left is the
GPU's own (bw54: GB200 over H100 1.10-1.16 at both precisions, docs/accuracy_log.md).

Rows pair by their ``id`` with the GPU tag (``GPU_TAG``) replaced and the trailing GPU count dropped (the two GPUs
ran different layouts and counts), the naming the Megatron sources' builders use (``dgxc_2504_llama31-405b-gb200_
bf16_128`` / ``..-h100_bf16_512``; ``mbridgeall_2509_gb200_llama3.1-405b_mxfp8_128`` / ``.._b200_..``). Run on
``validate.py``'s per-row output::

    python benchmarks/validate.py --csv /tmp/rows.csv
    python benchmarks/gpu_pairs.py /tmp/rows.csv --over h100
"""
from __future__ import annotations

import re

import pandas as pd

from precision_pairs import STEP_TIMES

#: the GPU tags of the row ids (most specific first: "gb200" before "b200")
GPU_TAGS = ("gb300", "gb200", "b300", "b200", "h200", "h100", "a100")
#: a GPU tag between ``-`` / ``_`` separators
GPU_TAG = re.compile(r"(?<=[-_])(" + "|".join(GPU_TAGS) + r")(?=[-_])")
#: the trailing GPU count of a row id
COUNT = re.compile(r"_\d+$")


def split_id(row_id) -> tuple[str | None, str | None]:
    """(the id with its GPU tag replaced by ``X`` and its trailing GPU count dropped, the tag), or (None, None) for
    an id without a tag."""
    m = GPU_TAG.search(str(row_id))
    if m is None:
        return None, None
    return COUNT.sub("", row_id[:m.start()] + "X" + row_id[m.end():]), m.group(1)


def gpu_pairs(df: pd.DataFrame, over: str = "h100") -> pd.DataFrame:
    """One row per (row on another GPU, row on GPU tag ``over``) of the same key: ``key``, ``id``, ``ref_id``,
    ``tag``, ``ratio`` (the row's measured / predicted), ``ref_ratio`` and ``over`` (their quotient)."""
    df = df[df["id"].notna()].copy()
    split = [split_id(i) for i in df["id"]]
    df["key"], df["tag"] = [k for k, _ in split], [t for _, t in split]
    df["ratio"] = df["measured_s"] / df["predicted_s"]
    ref = df[df["tag"] == over]
    mine = df[df["key"].notna() & (df["tag"] != over)]
    cols = ["key", "id", "ref_id", "tag", "ratio", "ref_ratio", "over"]
    both = mine.merge(ref[["key", "id", "ratio"]].rename(columns={"id": "ref_id", "ratio": "ref_ratio"}), on="key")
    both["over"] = both["ratio"] / both["ref_ratio"]
    return both[cols].reset_index(drop=True)


def summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs per GPU tag: count, median and range of ``over``."""
    return (pairs.groupby("tag").agg(pairs=("over", "size"), over=("over", "median"), lo=("over", "min"),
                                     hi=("over", "max")).reset_index())


def main(argv=None):
    from planner.present.script_args import ScriptArgs, read_table  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("csv", help="validate.py --csv output")
    ap.add_argument("--over", default="h100", choices=GPU_TAGS, help="the reference GPU tag")
    args = ap.parse_args(argv)
    with ap.input_errors():  # a file that is no such table: one line, exit 2 (read_table)
        rows = read_table(args.csv, "csv", ("id", *STEP_TIMES), STEP_TIMES)
    pairs = gpu_pairs(rows, args.over)
    pd.set_option("display.width", 250)
    print(summary(pairs).round(3).to_string(index=False))
    print()
    print(pairs.round(3).to_string(index=False))
    return pairs


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
