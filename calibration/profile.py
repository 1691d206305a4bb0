"""Calibration profile: the versioned JSON a calibration run writes and the planner reads.

A profile holds the hardware fingerprint, every raw measurement, and the parameters fitted from
them. ``efficiency_from_profile`` turns it into the ``planner.efficiency.Efficiency`` the time
model uses, replacing datasheet priors field by field and recording which fields were measured.
Shipped profiles live in ``calibration/profiles/*.json`` and apply automatically to the GPU type
they were measured on (``shipped_profile_for``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import InputError

SCHEMA_VERSION = 1
PROFILES_DIR = Path(__file__).parent / "profiles"


class Fingerprint(BaseModel):
    model_config = ConfigDict(extra="allow")
    device: str  # "cuda" | "cpu"
    device_name: str  # torch.cuda.get_device_name() or the CPU model
    catalog_gpu: Optional[str] = None  # the catalog GPU this profile applies to, if any
    torch_version: str
    driver: Optional[str] = None
    cuda: Optional[str] = None
    clocks: Optional[dict[str, Any]] = None
    host: Optional[str] = None
    cpu_count: Optional[int] = None
    created: str


class Fitted(BaseModel):
    """Parameters fitted from the raw measurements (SI units). Absent = not measured."""

    model_config = ConfigDict(extra="forbid")
    peak_flops: Optional[dict[str, float]] = None  # dtype -> best measured FLOP/s
    gemm_max: Optional[float] = Field(None, gt=0, le=1.5)
    gemm_k_half: Optional[float] = Field(None, ge=0)
    gemm_table: Optional[list[tuple[float, float, float, float]]] = None  # (m, n, k, eff)
    attn_fwd: Optional[float] = Field(None, gt=0, le=1.5)
    attn_bwd: Optional[float] = Field(None, gt=0, le=1.5)
    hbm_bw: Optional[float] = Field(None, gt=0)  # achieved bytes/s (copy)
    hbm: Optional[float] = Field(None, gt=0, le=1.5)  # achieved / datasheet
    launch_s: Optional[float] = Field(None, ge=0, le=1)
    h2d_pinned_bw: Optional[float] = Field(None, gt=0)
    h2d_pageable_bw: Optional[float] = Field(None, gt=0)
    intra_alpha_s: Optional[float] = Field(None, ge=0)
    intra_busbw: Optional[float] = Field(None, gt=0)  # bytes/s
    inter_alpha_s: Optional[float] = Field(None, ge=0)
    inter_busbw: Optional[float] = Field(None, gt=0)
    decode_s_per_sample: Optional[float] = Field(None, gt=0)  # JPEG decode+augment, one core
    storage_read_bw: Optional[float] = Field(None, gt=0)
    gbdt_rows_per_s: Optional[float] = Field(None, gt=0)  # xgboost hist, per core


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int
    fingerprint: Fingerprint
    raw: dict[str, Any] = Field(default_factory=dict)  # every measurement, by benchmark
    fitted: Fitted
    notes: list[str] = Field(default_factory=list)


def load_profile(path: str | Path, field: str = "profile") -> Profile:
    """Read and validate a profile; any problem is one InputError naming the field."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(field, f"file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(field, f"cannot read {p}: {e.__class__.__name__}") from None
    except json.JSONDecodeError as e:
        raise InputError(field, f"{p} is not valid JSON (line {e.lineno}: {e.msg}) — corrupt profile?") from None
    if not isinstance(raw, dict):
        raise InputError(field, f"{p} must hold a JSON object")
    ver = raw.get("schema_version")
    if ver != SCHEMA_VERSION:
        raise InputError(f"{field}.schema_version", f"{p} has schema version {ver!r}, this planner reads {SCHEMA_VERSION}")
    try:
        return Profile.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise InputError(f"{field}.{loc}", f"{err['msg']} in {p}") from None


def save_profile(profile: Profile, path: str | Path) -> None:
    """Write atomically: a partial file never replaces a good one."""
    p = Path(path)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(profile.model_dump_json(indent=1), encoding="utf-8")
    tmp.replace(p)


def shipped_profile_for(gpu_name: str) -> Optional[Profile]:
    """A committed profile measured on this catalog GPU, if one ships."""
    if not PROFILES_DIR.is_dir():
        return None
    for f in sorted(PROFILES_DIR.glob("*.json")):
        try:
            prof = load_profile(f)
        except InputError:
            continue
        if prof.fingerprint.catalog_gpu == gpu_name:
            return prof
    return None


def efficiency_from_profile(profile: Profile, base, gpu=None):
    """``base`` (an Efficiency prior) with every measured field replaced. Fractions of peak are
    taken against the catalog GPU's datasheet numbers, so the time model's peaks stay the catalog's.
    """
    f = profile.fitted
    where = f"measured: {profile.fingerprint.device_name} ({profile.fingerprint.created[:10]})"
    kw, sources = {}, dict(base.sources)
    for name in ("gemm_max", "gemm_k_half", "attn_fwd", "attn_bwd", "hbm", "launch_s",
                 "intra_alpha_s", "inter_alpha_s"):
        v = getattr(f, name)
        if v is not None:
            kw[name] = v
            sources[name] = where
    if f.gemm_table:
        kw["gemm_table"] = tuple(tuple(r) for r in f.gemm_table)
        sources["gemm_table"] = where
    if gpu is not None and f.intra_busbw and gpu.intra_node_bw:
        kw["intra_bw"] = min(1.5, f.intra_busbw / gpu.intra_node_bw)
        sources["intra_bw"] = where
    kw["sources"] = sources
    return base.with_(**kw)
