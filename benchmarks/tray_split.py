"""Measured-over-predicted step of the rack-scale NVLink rows, split by whether the TP x CP group leaves one host.

On a GB200 / GB300 NVL72 rack the planner's node is the job's NVLink domain (64-72 GPUs), while an OS host -- a
compute tray -- holds 4 of them (``System.gpus_per_host``; ``planner.hardware.options.is_rack_system``). Megatron-Core
orders ranks TP innermost, then CP (``--order`` default "tp-cp-ep-dp-pp"), so a TP x CP group of more than a tray's
GPUs spans trays: Nemotron-4 340B's TP 8 and Llama 3.1 405B's TP 4 x CP 2 in NVIDIA's GSW 25.05 GB200 rows, which
the planner prices as one NVLink domain like a group inside a tray. This script groups ``validate.py``'s per-row
output by GPU and by that split (dgx55: the 20 spanning GB200 rows sit at -9.5% median, the 45 inside a tray at
-2.6%; docs/accuracy_log.md). A row on any other part has its node as its host. Rows join the data files'
layouts (``tp``, ``cp``) by ``id``::

    python benchmarks/validate.py --csv /tmp/rows.csv
    python benchmarks/tray_split.py /tmp/rows.csv
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from planner.model.comm import members_per_node
from precision_pairs import STEP_TIMES

#: the validation data files, whose ``id`` / ``tp`` / ``cp`` columns give each scored row's layout
DATA = Path(__file__).resolve().parent / "data"


def layouts(data: Path = DATA) -> pd.DataFrame:
    """``id``, ``tp``, ``cp`` of every row of the data files that have the three columns (CP 1 where left empty)."""
    frames = []
    for path in sorted(data.glob("*.csv")):
        head = pd.read_csv(path, nrows=0).columns
        if {"id", "tp", "cp"} <= set(head):
            frames.append(pd.read_csv(path, usecols=["id", "tp", "cp"]))
    out = pd.concat(frames, ignore_index=True).dropna(subset=["id", "tp"]).drop_duplicates("id")
    out["cp"] = out["cp"].fillna(1)
    return out.astype({"tp": int, "cp": int})


@lru_cache(maxsize=None)
def host_gpus(gpu_name: str) -> int | None:
    """GPUs one OS host of ``gpu_name``'s rack-scale NVLink system holds (GB200 / GB300 NVL72: a tray of 4), None
    where the part's reference system is no such rack (its node is its host)."""
    from hardware_catalog.catalog import System, load_catalog
    from planner.hardware.options import is_rack_system, reference_network

    cat = load_catalog()
    ref = reference_network(cat, cat.gpu(gpu_name))  # an instance row (an HGX node) is its own host
    system = ref[1] if ref is not None and isinstance(ref[1], System) else None
    return system.gpus_per_host if is_rack_system(system) else None


def tray_split(rows: pd.DataFrame, data: Path = DATA) -> pd.DataFrame:
    """The rows of rack-scale parts (``host_gpus``) with their layout: ``id``, ``source``, ``gpu``, ``tp``, ``cp``,
    ``host`` (GPUs a host holds), ``trays`` (hosts one TP x CP group spans, ``planner.model.comm.members_per_node`` as
    the step time places groups on nodes), ``spans`` (more than one) and ``err`` (predicted / measured - 1)."""
    rows = rows[rows["id"].notna()].merge(layouts(data), on="id", suffixes=("_row", ""))
    rows["host"] = [host_gpus(g) for g in rows["gpu"]]
    rows = rows[rows["host"].notna()].astype({"host": int})
    group = rows["tp"] * rows["cp"]  # TP innermost, then CP: one contiguous block of ranks
    rows["trays"] = (group / members_per_node(group, 1, rows["host"])).astype(int)
    rows["spans"] = rows["trays"] > 1
    rows["err"] = rows["predicted_s"] / rows["measured_s"] - 1.0
    return rows[["id", "source", "gpu", "tp", "cp", "host", "trays", "spans", "err"]].reset_index(drop=True)


def summary(split: pd.DataFrame) -> pd.DataFrame:
    """Rows per (GPU, spans): count, median and range of the signed error."""
    return (split.groupby(["gpu", "spans"]).agg(rows=("err", "size"), median=("err", "median"), lo=("err", "min"),
                                                hi=("err", "max")).reset_index())


def main(argv=None):
    from planner.present.script_args import ScriptArgs, read_table  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("csv", help="validate.py --csv output")
    args = ap.parse_args(argv)
    with ap.input_errors():  # a file that is no such table: one line, exit 2 (read_table)
        rows = read_table(args.csv, "csv", ("id", "source", "gpu", *STEP_TIMES), STEP_TIMES)
    split = tray_split(rows)
    pd.set_option("display.width", 250)
    print(summary(split).round(3).to_string(index=False))
    print()
    print(split[split["spans"]].round(3).to_string(index=False))
    return split


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
