"""The inter-node transport a launch must reach, per instance type (``data/launch_fabric.csv``).

``instances.csv`` says which fabric a node's bandwidth is priced on (``fabric``: efa, infiniband, roce, ethernet);
this table says what a launch must request or install to use it, which the fabric name alone does not: how many EFA
devices an AWS instance exposes (the Kubernetes EFA device plugin advertises them as ``vpc.amazonaws.com/efa``, and a
pod gets only those it requests), and which of Google's GPUDirect transports (TCPX, TCPXO, RDMA over RoCE) an A3 / A4
node runs, two of them on ``ethernet`` rows. Every row has its source and the date it was read. Read by the launch
spec emitter (``planner.present.emit``); no model cost depends on it.

The module reads no pandas and no catalog (the emitter asks it one key per launch)."""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data" / "launch_fabric.csv"

#: ``transport`` values: the AWS Elastic Fabric Adapter; InfiniBand HCAs (Azure ND); Google's GPUDirect-TCPX (A3
#: High), GPUDirect-TCPXO (A3 Mega) and GPUDirect RDMA over RoCE (A3 Ultra, A4)
TRANSPORTS = ("efa", "infiniband", "gpudirect-tcpx", "gpudirect-tcpxo", "gpudirect-rdma")


@dataclass(frozen=True)
class LaunchFabric:
    """One instance type's inter-node transport, as a launch must request it."""

    key: str  # "aws:p5.48xlarge", the catalog's instance key
    transport: str  # one of TRANSPORTS
    #: EFA devices per node (one per network card that takes an EFA); None where no source gives the count
    devices: int | None
    source: str
    read: str  # the date the source was read


@functools.lru_cache(maxsize=1)
def launch_fabrics() -> dict[str, LaunchFabric]:
    """Every row of ``data/launch_fabric.csv`` by instance key; a malformed row is a ValueError naming it (a
    shipped file, checked by tests/test_launch_fabric.py)."""
    out: dict[str, LaunchFabric] = {}
    with DATA.open(newline="", encoding="utf-8") as fh:
        for i, r in enumerate(csv.DictReader(fh), start=2):
            key = f"{r['cloud']}:{r['instance']}"
            if r["transport"] not in TRANSPORTS:
                raise ValueError(f"launch_fabric.csv line {i} ({key}): transport {r['transport']!r} is not one of "
                                 f"{', '.join(TRANSPORTS)}")
            dev = r["devices"].strip()
            if dev and not (dev.isdigit() and int(dev) >= 1):
                raise ValueError(f"launch_fabric.csv line {i} ({key}): devices {dev!r} is not a positive whole number")
            if dev and r["transport"] != "efa":
                raise ValueError(f"launch_fabric.csv line {i} ({key}): devices is the EFA count, not {r['transport']}'s")
            if not r["source"].strip() or not r["read"].strip():
                raise ValueError(f"launch_fabric.csv line {i} ({key}): a row needs its source and the date it was read")
            if key in out:
                raise ValueError(f"launch_fabric.csv line {i}: {key} twice")
            out[key] = LaunchFabric(key, r["transport"], int(dev) if dev else None, r["source"], r["read"])
    return out


def launch_fabric(key: str) -> LaunchFabric | None:
    """The row of instance ``key`` ("aws:p5.48xlarge"), or None (no fabric a launch must request: plain Ethernet,
    a TPU slice, a bare-GPU cluster the planner knows no fabric of, an override instance)."""
    return launch_fabrics().get(key)
