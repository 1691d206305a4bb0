"""The inter-node transport a launch must reach, per instance type (``data/launch_fabric.csv``).

``instances.csv`` says which fabric a node's bandwidth is priced on (``fabric``: efa, infiniband, roce, ethernet);
this table says what a launch must request or install to use it, which the fabric name alone does not: how many EFA
devices an AWS instance exposes (the Kubernetes EFA device plugin advertises them as ``vpc.amazonaws.com/efa``, and a
pod gets only those it requests), how many InfiniBand HCAs an Azure ND node has (the SR-IOV device plugin of
Azure/aks-rdma-infiniband advertises one ``rdma/ib`` per HCA) and which topology file NCCL reads there, and which of
Google's GPUDirect transports (TCPX, TCPXO, RDMA over RoCE) an A3 / A4 node runs, two of them on ``ethernet`` rows.
Every row has its source and the date it was read. Read by the launch spec emitter (``planner.present.emit``); no
model cost depends on it.

A user's catalog override file may carry rows of the same columns (a ``launch_fabric:`` section, or a CSV with this
table's header; ``hardware_catalog.catalog.load_catalog``), checked by the same :func:`parse_row`: an instance the
override adds gets a fabric its launch requests, and a shipped row can be replaced (p6-b300's EFA count, once known).

The module reads no pandas and no catalog (the emitter asks it one key per launch)."""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from hardware_catalog.files import number_cell

DATA = Path(__file__).parent / "data" / "launch_fabric.csv"

#: ``transport`` values: the AWS Elastic Fabric Adapter; InfiniBand HCAs (Azure ND); Google's GPUDirect-TCPX (A3
#: High), GPUDirect-TCPXO (A3 Mega) and GPUDirect RDMA over RoCE (A3 Ultra, A4)
TRANSPORTS = ("efa", "infiniband", "gpudirect-tcpx", "gpudirect-tcpxo", "gpudirect-rdma")
#: the table's columns, in order (an override's ``launch_fabric`` rows take the same)
COLUMNS = ("cloud", "instance", "transport", "devices", "nccl_topo", "source", "read")
#: the cloud a transport's launch requests belong to: the EKS device plugin's resource and GKE's network annotations
#: exist on their own cloud only (InfiniBand is any cloud's: Azure ND, or a user's own cluster)
TRANSPORT_CLOUD = {"efa": "aws", "gpudirect-tcpx": "gcp", "gpudirect-tcpxo": "gcp", "gpudirect-rdma": "gcp"}
#: the catalog ``fabric`` (instances.csv) each transport runs on: a row whose instance is priced on another fabric is
#: refused (an EFA row on an InfiniBand instance would request devices its nodes do not have)
TRANSPORT_FABRIC = {"efa": ("efa",), "infiniband": ("infiniband",), "gpudirect-tcpx": ("ethernet",),
                    "gpudirect-tcpxo": ("ethernet",), "gpudirect-rdma": ("roce",)}


class FabricRowError(ValueError):
    """A bad cell of a launch-fabric row: ``column`` and the message (the caller adds where the row is)."""

    def __init__(self, column: str, message: str):
        super().__init__(f"{column}: {message}")
        self.column, self.message = column, message


@dataclass(frozen=True)
class LaunchFabric:
    """One instance type's inter-node transport, as a launch must request it."""

    key: str  # "aws:p5.48xlarge", the catalog's instance key
    transport: str  # one of TRANSPORTS
    #: EFA devices (efa) or InfiniBand HCAs (infiniband) per node; None where no source gives the count
    devices: int | None
    source: str
    read: str  # the date the source was read
    #: InfiniBand only: the Azure HPC image's NCCL topology file of the VM size (Azure/azhpc-images ``topology/``),
    #: which NCCL must read inside a container (NCCL_TOPO_FILE); "" where none is sourced
    nccl_topo: str = ""


def parse_row(r: dict) -> LaunchFabric:
    """One row (``COLUMNS``, cells as text; ``nccl_topo`` may be absent) as a LaunchFabric, or FabricRowError naming
    the column. Shared by the shipped table and a user's override rows."""
    def cell(c: str) -> str:
        v = r.get(c)
        return "" if v is None else str(v).strip()

    cloud, inst, transport = cell("cloud").lower(), cell("instance"), cell("transport").lower()
    for c, v in (("cloud", cloud), ("instance", inst)):
        if not v:
            raise FabricRowError(c, "is required")
    if transport not in TRANSPORTS:
        raise FabricRowError("transport", f"{cell('transport')!r} is not one of {', '.join(TRANSPORTS)}")
    if TRANSPORT_CLOUD.get(transport, cloud) != cloud:
        raise FabricRowError("transport", f"{transport} is {TRANSPORT_CLOUD[transport]}'s, not {cloud}'s")
    dev = cell("devices")
    n = _devices(str(r.get("devices") or ""))  # (unstripped: a no-break space is no YAML white space)
    if dev and not (isinstance(n, int) and 1 <= n <= 1024):
        raise FabricRowError("devices", f"{dev!r} is not a positive whole number (at most 1024)")
    if dev and transport not in ("efa", "infiniband"):
        raise FabricRowError("devices", f"is the EFA or InfiniBand HCA count, not {transport}'s (leave it empty)")
    topo = cell("nccl_topo")
    if topo and transport != "infiniband":
        raise FabricRowError("nccl_topo", f"is an InfiniBand node's NCCL topology file, not {transport}'s")
    if topo and not (topo.endswith(".xml") and "/" not in topo and topo.isprintable()):
        raise FabricRowError("nccl_topo", f"{topo!r} is not a topology file name (such as ndv5-topo.xml)")
    for c in ("source", "read"):
        if not cell(c):
            raise FabricRowError(c, "is required: a row needs its source and the date it was read")
    return LaunchFabric(f"{cloud}:{inst}", transport, n if dev else None, cell("source"), cell("read"), topo)


def _devices(dev: str):
    """The devices cell as every CSV number is read (``files.number_cell``): ``str.isdigit`` took ``١٢`` (Arabic-Indic
    digits) and ``int`` read it as 12 until fuzz46b; the text itself where it is no number."""
    try:
        return number_cell(dev, whole=True)
    except ValueError:
        return dev


@functools.lru_cache(maxsize=1)
def launch_fabrics() -> dict[str, LaunchFabric]:
    """Every row of ``data/launch_fabric.csv`` by instance key; a malformed row is a ValueError naming it (a
    shipped file, checked by tests/test_launch_fabric.py)."""
    out: dict[str, LaunchFabric] = {}
    with DATA.open(newline="", encoding="utf-8") as fh:
        for i, r in enumerate(csv.DictReader(fh, strict=True), start=2):
            key = f"{r.get('cloud')}:{r.get('instance')}"
            try:
                row = parse_row(r)
            except FabricRowError as e:
                raise ValueError(f"launch_fabric.csv line {i} ({key}): {e}") from None
            if row.key in out:
                raise ValueError(f"launch_fabric.csv line {i}: {row.key} twice")
            out[row.key] = row
    return out


def launch_fabric(key: str) -> LaunchFabric | None:
    """The shipped row of instance ``key`` ("aws:p5.48xlarge"), or None (no fabric a launch must request: plain
    Ethernet, a TPU slice, a bare-GPU cluster the planner knows no fabric of). A catalog with override rows carries
    its own (``Catalog.launch_fabrics``)."""
    return launch_fabrics().get(key)
