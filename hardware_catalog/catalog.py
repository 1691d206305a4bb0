"""Hardware catalog: accelerators, cloud instances (with prices), interconnects, on-prem costs.

The built-in tables live in ``data/*.csv`` (human-editable, every row carries ``source`` and
``notes``). ``load_catalog()`` reads them once, then applies user overrides from ``extra_paths`` and
the ``PLANNER_CATALOG`` environment variable (``os.pathsep``-separated). Units inside are SI:
bytes, bytes/s, FLOP/s, USD/h; the CSVs use GiB, TB/s, TFLOP/s, GB/s, Gbit/s as a person reads them.

    >>> cat = load_catalog()
    >>> cat.gpu("h100").name
    'H100-SXM-80GB'
    >>> cat.instance("aws:p5.48xlarge").gpu_count
    8
"""
from __future__ import annotations

import csv
import difflib
import functools
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hardware_catalog import files
from hardware_catalog.errors import InputError

DATA_DIR = Path(__file__).parent / "data"
ENV_VAR = "PLANNER_CATALOG"

GIB = 2**30
TB = 1e12
GB = 1e9
TERA = 1e12

#: Inter-node bandwidth assumed when an instance row has no sourced ``network_gbps``:
#: 100 Gbit/s per node (plain datacenter Ethernet, e.g. GCP A2 "up to 100 Gbps"). Deliberately
#: conservative: an unknown fabric should never make a multi-node plan look better than it is.
DEFAULT_NETWORK_GBPS = 100.0

DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")
_DTYPE_COLUMN = {"fp32": "fp32_tflops", "tf32": "tf32_tflops", "bf16": "bf16_tflops",
                 "fp16": "fp16_tflops", "fp8": "fp8_tflops", "int8": "int8_tops"}


class CatalogError(InputError):
    """A bad catalog input: unknown name, malformed override file, out-of-range value.

    ``field`` is the dotted path at fault (``cluster.gpu``, ``instances[3].price_ondemand_usd_hr``);
    ``origin`` names the override file when there is one, so the one-line message reads
    ``catalog override my.yaml: instances[3].price_ondemand_usd_hr: must be ...``.
    """

    def __init__(self, field: str, message: str, origin: str | None = None):
        super().__init__(field, message)
        self.origin = origin
        if origin:
            self.args = (f"catalog override {origin}: {field}: {message}",)

    def __str__(self) -> str:  # ValueError.__str__ uses args[0]
        return self.args[0]


# --------------------------------------------------------------------------- row schemas


def _blank_to_none(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str) and v.strip() == "":
        return None
    return v


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, v: Any) -> Any:
        return _blank_to_none(v)


def _pos(lo: float = 0.0, hi: float = float("inf")):
    return Field(default=None, gt=lo, le=hi)


class GpuRow(_Row):
    name: str = Field(min_length=1)
    aliases: Optional[str] = None
    vendor: str = Field(min_length=1)
    memory_gib: float = Field(gt=0, le=4096)
    hbm_bw_tbps: float = Field(gt=0, le=100)
    fp32_tflops: Optional[float] = _pos(hi=1e5)
    tf32_tflops: Optional[float] = _pos(hi=1e5)
    bf16_tflops: Optional[float] = _pos(hi=1e5)
    fp16_tflops: Optional[float] = _pos(hi=1e5)
    fp8_tflops: Optional[float] = _pos(hi=1e5)
    int8_tops: Optional[float] = _pos(hi=1e5)
    intra_node_link: Optional[str] = None
    intra_node_gbps_per_dir: Optional[float] = _pos(hi=1e5)
    pcie_gen: Optional[int] = Field(default=None, ge=1, le=7)
    pcie_gbps_per_dir: Optional[float] = _pos(hi=1e4)
    tdp_w: Optional[float] = _pos(hi=1e4)
    purchase_price_usd: Optional[float] = _pos(hi=1e7)
    source: str = Field(min_length=1)
    notes: Optional[str] = None


class InstanceRow(_Row):
    cloud: str = Field(min_length=1)
    name: str = Field(min_length=1)
    gpu: Optional[str] = None
    gpu_count: float = Field(default=0, ge=0, le=100000)
    vcpus: Optional[float] = Field(default=None, ge=0, le=100000)
    ram_gib: Optional[float] = Field(default=None, ge=0, le=1e6)
    network_gbps: Optional[float] = _pos(hi=1e6)
    local_nvme_tb: Optional[float] = Field(default=None, ge=0, le=1e4)
    price_ondemand_usd_hr: float = Field(gt=0, le=1e5)
    price_spot_usd_hr: Optional[float] = _pos(hi=1e5)
    region: Optional[str] = None
    price_date: Optional[str] = None
    source: str = Field(min_length=1)
    notes: Optional[str] = None


_SCHEMA_MESSAGES = {
    "greater_than": "must be a positive number",
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be at most {le} (absurd value)",
    "missing": "is required",
    "float_parsing": "must be a number",
    "int_parsing": "must be an integer",
    "extra_forbidden": "is not a known column",
}


def _validate(model: type[_Row], raw: dict, where: str, origin: str | None) -> _Row:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        col = ".".join(str(p) for p in err["loc"]) or "?"
        template = _SCHEMA_MESSAGES.get(err["type"])
        ctx = err.get("ctx") or {}
        msg = template.format(**ctx) if template else err["msg"]
        got = err.get("input")
        if err["type"] != "missing" and not isinstance(got, dict):
            msg += f", got {got!r}" if isinstance(got, str) else f", got {got}"
        raise CatalogError(f"{where}.{col}", msg, origin) from None


# --------------------------------------------------------------------------- domain objects


@dataclass(frozen=True)
class GPU:
    """One accelerator SKU. Peaks are dense (no sparsity), in FLOP/s; bandwidths in bytes/s."""

    name: str
    vendor: str
    memory_bytes: int
    hbm_bw: float
    peak_flops: dict[str, float]
    intra_node_bw: Optional[float]
    intra_node_link: str
    pcie_bw: Optional[float]
    tdp_w: Optional[float]
    purchase_price_usd: Optional[float]
    source: str
    notes: str
    aliases: tuple[str, ...] = ()

    def peak(self, dtype: str) -> float:
        """Dense datasheet peak for ``dtype`` in FLOP/s (OP/s for int8)."""
        d = dtype.lower()
        if d not in self.peak_flops:
            col = _DTYPE_COLUMN.get(d, f"{d}_tflops")
            have = ", ".join(self.peak_flops) or "none"
            raise CatalogError(f"gpus.{self.name}.{col}",
                               f"{self.name} has no {d} peak in the catalog (has: {have})")
        return self.peak_flops[d]

    @classmethod
    def from_row(cls, r: GpuRow) -> "GPU":
        peaks = {d: getattr(r, col) * TERA for d, col in _DTYPE_COLUMN.items()
                 if getattr(r, col) is not None}
        pcie = r.pcie_gbps_per_dir * GB if r.pcie_gbps_per_dir else None
        intra = r.intra_node_gbps_per_dir * GB if r.intra_node_gbps_per_dir else pcie
        aliases = tuple(a.strip() for a in (r.aliases or "").split(";") if a.strip())
        return cls(name=r.name, vendor=r.vendor, memory_bytes=int(round(r.memory_gib * GIB)),
                   hbm_bw=r.hbm_bw_tbps * TB, peak_flops=peaks, intra_node_bw=intra,
                   intra_node_link=r.intra_node_link or "PCIe", pcie_bw=pcie, tdp_w=r.tdp_w,
                   purchase_price_usd=r.purchase_price_usd, source=r.source, notes=r.notes or "",
                   aliases=aliases)


@dataclass(frozen=True)
class Instance:
    """One rentable node type on one cloud; prices in USD per node-hour."""

    cloud: str
    name: str
    gpu: Optional[GPU]
    gpu_count: float
    vcpus: Optional[float]
    ram_bytes: Optional[int]
    network_bw: Optional[float]
    local_nvme_bytes: Optional[float]
    price_ondemand: float
    price_spot: Optional[float]
    region: str
    price_date: str
    source: str
    notes: str

    @property
    def key(self) -> str:
        return f"{self.cloud}:{self.name}"

    @property
    def network_bw_or_default(self) -> float:
        """Inter-node bytes/s; ``DEFAULT_NETWORK_GBPS`` (100 Gbit/s) when the row has none."""
        return self.network_bw if self.network_bw is not None else DEFAULT_NETWORK_GBPS * 1e9 / 8

    @property
    def is_gpu(self) -> bool:
        return self.gpu is not None and self.gpu_count > 0

    def price(self, spot: bool = False) -> Optional[float]:
        return self.price_spot if spot else self.price_ondemand


def _instance_from_row(r: InstanceRow, gpu: Optional[GPU]) -> Instance:
    return Instance(
        cloud=r.cloud.lower(), name=r.name, gpu=gpu, gpu_count=r.gpu_count if gpu else 0,
        vcpus=r.vcpus, ram_bytes=int(r.ram_gib * GIB) if r.ram_gib is not None else None,
        network_bw=r.network_gbps * 1e9 / 8 if r.network_gbps else None,
        local_nvme_bytes=r.local_nvme_tb * TB if r.local_nvme_tb is not None else None,
        price_ondemand=r.price_ondemand_usd_hr, price_spot=r.price_spot_usd_hr,
        region=r.region or "", price_date=r.price_date or "", source=r.source, notes=r.notes or "")


# --------------------------------------------------------------------------- catalog


def _norm(s: str) -> str:
    return s.strip().lower()


@dataclass
class Catalog:
    gpus: dict[str, GPU]
    instances: dict[str, Instance]
    onprem: dict[str, dict]
    interconnects: dict[str, dict]
    _alias: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self._alias:
            self._alias = _alias_index(self.gpus.values())

    # lookups -------------------------------------------------------------------------------
    def gpu(self, name: str) -> GPU:
        key = self._alias.get(_norm(str(name)))
        if key is None:
            raise CatalogError("cluster.gpu", f"unknown GPU {name!r}" + _suggest(name, self._alias))
        return self.gpus[key]

    def instance(self, name: str) -> Instance:
        n = _norm(str(name))
        by_key = {k.lower(): k for k in self.instances}
        if n in by_key:
            return self.instances[by_key[n]]
        if ":" not in n:
            hits = [k for k, i in self.instances.items() if i.name.lower() == n]
            if len(hits) == 1:
                return self.instances[hits[0]]
            if len(hits) > 1:
                raise CatalogError("cluster.instance",
                                   f"{name!r} exists on several clouds; write one of {', '.join(sorted(hits))}")
        names = {**by_key, **{i.name.lower(): k for k, i in self.instances.items()}}
        raise CatalogError("cluster.instance", f"unknown instance {name!r}" + _suggest(name, names))

    def instances_for(self, clouds: Iterable[str] | None = None, gpu_names: Iterable[str] | None = None,
                      spot: bool = False, gpu_only: bool = True) -> list[Instance]:
        """Instances filtered by cloud, GPU (names or aliases) and price availability, cheapest first."""
        cl = {_norm(c) for c in clouds} if clouds else None
        gp = {self.gpu(g).name for g in gpu_names} if gpu_names else None
        out = []
        for inst in self.instances.values():
            if cl is not None and inst.cloud not in cl:
                continue
            if gpu_only and not inst.is_gpu:
                continue
            if gp is not None and (inst.gpu is None or inst.gpu.name not in gp):
                continue
            if spot and inst.price_spot is None:
                continue
            out.append(inst)
        return sorted(out, key=lambda i: (i.price(spot), i.key))

    def onprem_value(self, key: str) -> float:
        if key not in self.onprem:
            raise CatalogError("onprem", f"unknown on-prem parameter {key!r}" + _suggest(key, {k: k for k in self.onprem}))
        return float(self.onprem[key]["value"])

    # tables --------------------------------------------------------------------------------
    def gpus_df(self) -> pd.DataFrame:
        rows = []
        for g in self.gpus.values():
            rows.append({"name": g.name, "vendor": g.vendor, "memory_gib": g.memory_bytes / GIB,
                         "hbm_tbps": g.hbm_bw / TB,
                         **{f"{d}_tflops": g.peak_flops.get(d, float("nan")) / TERA for d in DTYPES},
                         "intra_node_link": g.intra_node_link,
                         "intra_node_gbps_per_dir": (g.intra_node_bw or float("nan")) / GB,
                         "tdp_w": g.tdp_w, "purchase_price_usd": g.purchase_price_usd,
                         "aliases": ";".join(g.aliases), "source": g.source, "notes": g.notes})
        return pd.DataFrame(rows)

    def instances_df(self, cloud: str | None = None) -> pd.DataFrame:
        rows = []
        for i in self.instances.values():
            if cloud and i.cloud != _norm(cloud):
                continue
            rows.append({"key": i.key, "cloud": i.cloud, "name": i.name,
                         "gpu": i.gpu.name if i.gpu else None, "gpu_count": i.gpu_count,
                         "vcpus": i.vcpus, "ram_gib": i.ram_bytes / GIB if i.ram_bytes is not None else None,
                         "network_gbps": i.network_bw * 8 / 1e9 if i.network_bw else None,
                         "local_nvme_tb": i.local_nvme_bytes / TB if i.local_nvme_bytes is not None else None,
                         "price_ondemand_usd_hr": i.price_ondemand, "price_spot_usd_hr": i.price_spot,
                         "region": i.region, "price_date": i.price_date, "source": i.source, "notes": i.notes})
        return pd.DataFrame(rows)


def _alias_index(gpus: Iterable[GPU]) -> dict[str, str]:
    idx: dict[str, str] = {}
    gpus = list(gpus)
    for g in gpus:  # aliases first so canonical names always win a clash
        for a in g.aliases:
            idx.setdefault(_norm(a), g.name)
    for g in gpus:
        idx[_norm(g.name)] = g.name
    return idx


def _suggest(name: str, choices: dict[str, str]) -> str:
    close = difflib.get_close_matches(_norm(str(name)), list(choices), n=3, cutoff=0.4)
    shown = list(dict.fromkeys(choices[c] for c in close))[:3]
    return f"; did you mean: {', '.join(shown)}?" if shown else ""


# --------------------------------------------------------------------------- loading


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _csv_rows(text: str, origin: str) -> dict[str, list[dict]]:
    """An override CSV: one header row; a repeated column name is refused (DictReader would keep
    the last one silently), and so is a row with more cells than the header has columns."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        return {}
    header = [h.strip() for h in header]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise CatalogError(dup[0], "column named twice in the header", origin)
    rows = []
    for i, cells in enumerate(reader):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            raise CatalogError(f"row {i + 2}", f"{len(cells)} cells but the header has {len(header)} columns", origin)
        rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)))))
    if not rows:
        return {}
    return {"instances" if "cloud" in header else "gpus": rows}


@functools.lru_cache(maxsize=1)
def _builtin_rows() -> tuple[tuple[dict, ...], tuple[dict, ...], dict, dict]:
    gpus = tuple(_read_csv(DATA_DIR / "gpus.csv"))
    insts = tuple(_read_csv(DATA_DIR / "instances.csv"))
    onprem = {r["key"]: r for r in _read_csv(DATA_DIR / "onprem.csv")}
    inter = {r["name"]: r for r in _read_csv(DATA_DIR / "interconnects.csv")}
    return gpus, insts, onprem, inter


def _read_override(path: Path) -> dict[str, list[dict]]:
    origin = path.name
    try:  # regular files only, bounded size, UTF-8 (a spreadsheet's BOM dropped), safe YAML
        text = files.read_text(path, "file")
        if path.suffix.lower() == ".csv":
            return _csv_rows(text, origin)
        doc = files.parse_yaml(text, "yaml", path.name)
    except InputError as e:
        if isinstance(e, CatalogError):
            raise
        raise CatalogError(e.field, e.message, origin) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CatalogError("(top level)", f"must be a mapping with keys gpus:/instances:, got {type(doc).__name__}", origin)
    unknown = set(doc) - {"gpus", "instances"}
    if unknown:
        raise CatalogError(sorted(unknown)[0], "unknown top-level key (allowed: gpus, instances)", origin)
    out = {}
    for key in ("gpus", "instances"):
        rows = doc.get(key) or []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise CatalogError(key, "must be a list of rows (mappings of column: value)", origin)
        out[key] = [{k: ("" if v is None else v) for k, v in r.items()} for r in rows]
    return out


def _override_paths(extra_paths: Iterable[str | Path] | None) -> list[Path]:
    paths = [Path(p) for p in (extra_paths or [])]
    env = os.environ.get(ENV_VAR, "")
    paths += [Path(p) for p in env.split(os.pathsep) if p.strip()]
    return paths


def load_catalog(extra_paths: list[str | Path] | None = None) -> Catalog:
    """Built-in catalog plus overrides (``extra_paths`` then ``$PLANNER_CATALOG``, later wins)."""
    b_gpus, b_insts, onprem, inter = _builtin_rows()
    gpu_raw: dict[str, dict] = {r["name"]: dict(r) for r in b_gpus}
    inst_raw: dict[str, dict] = {f"{r['cloud'].lower()}:{r['name']}": dict(r) for r in b_insts}
    origin_of: dict[str, tuple[str | None, str]] = {}  # key -> (file, where) for error messages

    for path in _override_paths(extra_paths):
        doc = _read_override(path)
        for i, row in enumerate(doc.get("gpus", [])):
            where = f"gpus[{i}]"
            name = str(row.get("name", "")).strip()
            if not name:
                raise CatalogError(f"{where}.name", "is required", path.name)
            alias = _alias_index(GPU.from_row(GpuRow.model_validate(r)) for r in gpu_raw.values())
            target = alias.get(_norm(name))
            merged = {**gpu_raw[target], **row, "name": target} if target else dict(row)
            _validate(GpuRow, merged, where, path.name)
            gpu_raw[target or name] = merged
            origin_of[f"gpu:{target or name}"] = (path.name, where)
        for i, row in enumerate(doc.get("instances", [])):
            where = f"instances[{i}]"
            cloud, name = str(row.get("cloud", "")).strip().lower(), str(row.get("name", "")).strip()
            if not cloud or not name:
                raise CatalogError(f"{where}.{'cloud' if not cloud else 'name'}", "is required", path.name)
            key = f"{cloud}:{name}"
            merged = {**inst_raw[key], **row} if key in inst_raw else dict(row)
            _validate(InstanceRow, merged, where, path.name)
            inst_raw[key] = merged
            origin_of[f"inst:{key}"] = (path.name, where)

    gpus: dict[str, GPU] = {}
    for name, raw in gpu_raw.items():
        org, where = origin_of.get(f"gpu:{name}", (None, f"gpus.{name}"))
        gpus[name] = GPU.from_row(_validate(GpuRow, raw, where, org))
    alias = _alias_index(gpus.values())

    instances: dict[str, Instance] = {}
    for key, raw in inst_raw.items():
        org, where = origin_of.get(f"inst:{key}", (None, f"instances.{key}"))
        r = _validate(InstanceRow, raw, where, org)
        if r.price_spot_usd_hr is not None and r.price_spot_usd_hr > r.price_ondemand_usd_hr:
            raise CatalogError(f"{where}.price_spot_usd_hr",
                               f"spot {r.price_spot_usd_hr} exceeds on-demand {r.price_ondemand_usd_hr}", org)
        gpu = None
        if r.gpu:
            target = alias.get(_norm(r.gpu))
            if target is None:
                raise CatalogError(f"{where}.gpu", f"unknown GPU {r.gpu!r}" + _suggest(r.gpu, alias), org)
            if r.gpu_count <= 0:
                raise CatalogError(f"{where}.gpu_count", f"must be > 0 for a GPU instance, got {r.gpu_count}", org)
            gpu = gpus[target]
        elif r.gpu_count:
            raise CatalogError(f"{where}.gpu", f"gpu_count is {r.gpu_count} but no gpu is named", org)
        inst = _instance_from_row(r, gpu)
        instances[inst.key] = inst

    return Catalog(gpus=gpus, instances=instances, onprem=dict(onprem), interconnects=dict(inter), _alias=alias)
