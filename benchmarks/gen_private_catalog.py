"""A realistic private catalog override of many instance rows, for timing ``planner recommend`` over it.

A company's own price list names many instances that share a few kinds of hardware: the same 8-GPU H100 / H200 /
A100 nodes on a few fabrics, offered in many regions at different negotiated prices (QA 46's "Left": 200 such rows
took 59 s and 1.08 GB). Deterministic for a given seed. Run:
``python benchmarks/gen_private_catalog.py 200 -o /tmp/acme200.csv`` then
``planner recommend JOB --catalog /tmp/acme200.csv``.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the node shapes the rows share: (gpu, GPUs per node, fabric, network Gb/s, base $/node-h)
SHAPES = (
    ("H100-SXM-80GB", 8, "infiniband", 3200, 24.0),
    ("H100-SXM-80GB", 8, "infiniband", 1600, 22.0),
    ("H100-SXM-80GB", 8, "roce", 800, 20.0),
    ("H200-SXM-141GB", 8, "infiniband", 3200, 30.0),
    ("A100-SXM4-80GB", 8, "infiniband", 1600, 12.0),
    ("A100-SXM4-80GB", 4, "ethernet", 100, 5.5),
)
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-2",
           "us-central1", "europe-west4")


def rows(n: int, seed: int = 0, spot: bool = True) -> list[dict]:
    """``n`` instance rows over ``SHAPES``, each at its own price (the base +-25 %), region, and (every other row) a
    spot price at 35-60 % of on-demand."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        gpu, count, fabric, gbps, base = SHAPES[i % len(SHAPES)]
        price = round(base * rng.uniform(0.75, 1.25), 2)
        row = {"cloud": "acme", "name": f"{gpu.split('-')[0].lower()}-{fabric}-{count}x-{i:05d}", "gpu": gpu,
               "gpu_count": count, "fabric": fabric, "cluster": "true", "network_gbps": gbps,
               "price_ondemand_usd_hr": price, "price_spot_usd_hr": "", "region": REGIONS[i % len(REGIONS)],
               "price_date": "2026-11-01", "source": "acme negotiated quote"}
        if spot and i % 2:
            row["price_spot_usd_hr"] = round(price * rng.uniform(0.35, 0.6), 2)
        out.append(row)
    return out


def write(n: int, path, seed: int = 0) -> None:
    """``rows(n, seed)`` as the CSV override file ``path``."""
    got = rows(n, seed)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(got[0]))
        w.writeheader()
        w.writerows(got)


def _rows(text: str) -> int:
    """``N``: a whole number of rows an override may hold (1 to ``MAX_OVERRIDE_ROWS``)."""
    from argparse import ArgumentTypeError

    from hardware_catalog.catalog import MAX_OVERRIDE_ROWS
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_OVERRIDE_ROWS:
        raise ArgumentTypeError(f"must be a whole number of rows from 1 to {MAX_OVERRIDE_ROWS:,}, got {text!r}")
    return int(text)


def main(argv=None) -> int:
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=_rows, metavar="N", help="instance rows (1-20,000: MAX_OVERRIDE_ROWS)")
    ap.add_argument("-o", "--output", required=True, help="CSV file to write")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    write(a.n, a.output, a.seed)
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
