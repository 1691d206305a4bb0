"""Calibration profile: the versioned JSON a calibration run writes and the planner reads.

A profile holds the hardware fingerprint, every raw measurement, and the parameters fitted from
them. ``efficiency_from_profile`` turns it into the ``planner.hardware.efficiency.Efficiency`` the time
model uses, replacing datasheet priors field by field and recording which fields were measured.
Shipped profiles live in ``planner/hardware/profiles/*.json`` and apply automatically to the GPU type
they were measured on (``shipped_profile_for``).
"""
from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from hardware_catalog.errors import from_validation
from planner.errors import InputError, read_json_object, shown_path
from planner.outputs import write_text
from planner.vocab import PRECISION
from hardware_catalog import load_catalog
from hardware_catalog.bounds import RATE_FLOOR
from hardware_catalog.catalog import GPU, Catalog
from hardware_catalog.chips import names_chip
from planner.hardware.efficiency import Efficiency, prior_for

SCHEMA_VERSION = 1
PROFILES_DIR = Path(__file__).parent / "profiles"


# defer_build (imp53): built on the first profile read (``Profile``'s schema holds the three section models), not
# each of the four at every command's import
class Fingerprint(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
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

    @field_validator("created")
    @classmethod
    def _a_moment(cls, v: str) -> str:
        """When the profile was measured, ISO 8601 as calibrate writes it (``2026-11-23T14:51:28+00:00``; a day alone
        is taken): every answer cites it as the measurement's date. Until QA 46 any text passed ("last tuesday" was
        cited as "measured: ... (last tuesd)"), and so did a day years ahead."""
        try:
            when = datetime.datetime.fromisoformat(str(v).strip())
        except ValueError:
            raise ValueError("must be when the profile was measured, as ISO 8601 (2026-11-23T14:51:28+00:00)") from None
        now = datetime.datetime.now(datetime.timezone.utc)
        if when.replace(tzinfo=when.tzinfo or datetime.timezone.utc) > now + datetime.timedelta(days=1):
            raise ValueError(f"must not be after today ({now.date().isoformat()}): it is when the profile was measured")
        return v


# Bounds of measured values. Efficiencies are fractions of a peak, so at most 1 (a fitted 1.3 gave
# "MFU 132%"); attention may exceed 1 only against a *measured* CPU peak (below). Latencies and
# rates are bounded by what any machine measures, with wide margins: a per-collective latency
# over 1 s, or a bandwidth above 1 PB/s, is a corrupt profile, and would overflow the time model
# into inf/NaN (a 1e300 s alpha gave NaN in --json).
MAX_LATENCY_S = 1.0
MAX_BW = 1e15  # bytes/s
#: the slowest measured bandwidth taken, bytes/s: the catalog's and job's rate floor (``bounds.RATE_FLOOR`` GB/s, 1 MB/s).
#: Only above 0 until QA 36: an intra_busbw of 1e-300 overflowed the step into NaN, an internal error
MIN_BW = RATE_FLOOR * 1e9
#: the lowest measured efficiency taken (a share of a peak): a tenth of a percent, below any kernel a benchmark times;
#: only above 0 until QA 36, when ``hbm: 1e-300`` estimated a 2e292-year step with numpy's overflow warning
MIN_EFFICIENCY = 1e-3
#: a gemm_table row is one measured GEMM, tiny ones included: a 64^3 bf16 GEMM on an H200 runs at ~1e-4 of the peak
#: (a few microseconds of launch for 0.5 MFLOP) and on a loaded 2-core CI runner at 6e-4 of the CPU's peak, both
#: below the headline floor; 1e-7 still refuses the 1e-300 that estimated an overflowed step (QA 36b)
MIN_TABLE_EFFICIENCY = 1e-7
MAX_FLOPS = 1e18  # FLOP/s per device (B200 dense fp8 ~ 4.5e15)
MAX_ATTN_CPU = 10.0


def _check_table(v):
    """(m, n, k, efficiency) rows: positive sizes up to 2^24, the efficiency bounded like ``gemm_max`` (a share of the
    peak, MIN_TABLE_EFFICIENCY..1). Until QA 36b a row's efficiency was only above 0: 1e-300 estimated an overflowed step, and
    on a profile without a catalog GPU 5.0 (a GEMM at five times its peak) was taken."""
    for i, row in enumerate(v or []):
        if not all(math.isfinite(x) and x > 0 for x in row):
            raise ValueError(f"row {i} must hold positive m, n, k, efficiency, got {list(row)}")
        if max(row[:3]) > 1 << 24:
            raise ValueError(f"row {i}: GEMM sizes above 2^24 were never measured, got {list(row)}")
        if not MIN_TABLE_EFFICIENCY <= row[3] <= 1.0:
            raise ValueError(f"row {i}: efficiency must be at least {MIN_TABLE_EFFICIENCY:g} and at most 1 (a share of the "
                             f"GEMM peak, as gemm_max), got {row[3]:g}")
    return v


# The GEMM and attention fits, declared once for a dtype's fits (``DtypeFit``) and the headline ones (``Fitted``).
GemmEfficiency = Annotated[Optional[float], Field(ge=MIN_EFFICIENCY, le=1.0)]
GemmKHalf = Annotated[Optional[float], Field(ge=0, le=1e6)]
#: (m, n, k, efficiency) rows
GemmTable = Annotated[Optional[list[tuple[float, float, float, float]]], Field(max_length=100_000),
                      AfterValidator(_check_table)]
# attention vs the GEMM peak: above 1 is possible where "peak" is a measured GEMM rate (CPU bf16 without native bf16
# units: sdpa computes in fp32 and outruns the emulated bf16 GEMM); against a catalog GPU's datasheet peak it is at
# most 1 (Profile._fractions_of_datasheet)
AttnEfficiency = Annotated[Optional[float], Field(ge=MIN_EFFICIENCY, le=MAX_ATTN_CPU)]


class DtypeFit(BaseModel):
    """The GEMM and attention fits of one dtype (``fitted.by_dtype[dtype]``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)
    gemm_max: GemmEfficiency = None
    gemm_k_half: GemmKHalf = None
    gemm_table: GemmTable = None
    attn_fwd: AttnEfficiency = None
    attn_bwd: AttnEfficiency = None


class Fitted(BaseModel):
    """Parameters fitted from the raw measurements (SI units). Absent = not measured."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)
    peak_flops: Optional[dict[str, float]] = None  # dtype -> the peak efficiencies are taken against
    primary_dtype: Optional[str] = None  # dtype of the headline gemm_max/attn fits (bf16 GPU, fp32 CPU)
    sm_count: Optional[int] = Field(None, gt=0, le=1 << 20)  # SMs (GPU) or compute threads (CPU) for wave quantisation
    gemm_max: GemmEfficiency = None
    gemm_k_half: GemmKHalf = None
    gemm_table: GemmTable = None
    attn_fwd: AttnEfficiency = None
    attn_bwd: AttnEfficiency = None
    hbm_bw: Optional[float] = Field(None, ge=MIN_BW, le=MAX_BW)  # achieved bytes/s (copy)
    hbm: Optional[float] = Field(None, ge=MIN_EFFICIENCY, le=1.0)  # memory-bound kernels / hbm_peak_bw
    hbm_peak_bw: Optional[float] = Field(None, ge=MIN_BW, le=MAX_BW)  # datasheet HBM (GPU); measured copy (CPU)
    launch_s: Optional[float] = Field(None, ge=0, le=MAX_LATENCY_S)
    h2d_pinned_bw: Optional[float] = Field(None, ge=MIN_BW, le=MAX_BW)
    h2d_pageable_bw: Optional[float] = Field(None, ge=MIN_BW, le=MAX_BW)
    intra_alpha_s: Optional[float] = Field(None, ge=0, le=MAX_LATENCY_S)
    intra_busbw: Optional[float] = Field(None, ge=MIN_BW, le=MAX_BW)  # bytes/s
    inter_alpha_s: Optional[float] = Field(None, ge=0, le=MAX_LATENCY_S)
    inter_busbw: Optional[float] = Field(None, ge=MIN_BW, le=MAX_BW)
    decode_s_per_sample: Optional[float] = Field(None, gt=0, le=1e3)  # JPEG decode+augment, one core
    storage_read_bw: Optional[float] = Field(None, ge=MIN_BW, le=MAX_BW)
    gbdt_rows_per_s: Optional[float] = Field(None, gt=0, le=1e12)  # xgboost hist, per core
    # per-dtype fits: dtype -> {gemm_max, gemm_k_half, gemm_table, attn_fwd, attn_bwd}; used for the
    # job's training.precision (efficiency_from_profile), the headline fits for any other dtype
    by_dtype: Optional[dict[Literal[PRECISION.names], DtypeFit]] = None

    @field_validator("peak_flops")
    @classmethod
    def _positive_peaks(cls, v):
        for k, x in (v or {}).items():
            if not (isinstance(x, (int, float)) and math.isfinite(x) and 0 < x <= MAX_FLOPS):
                raise ValueError(f"peak for {k} must be a positive number up to {MAX_FLOPS:g} FLOP/s, got {x!r}")
        return v


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    schema_version: int
    fingerprint: Fingerprint
    raw: dict[str, Any] = Field(default_factory=dict)  # every measurement, by benchmark
    fitted: Fitted
    notes: list[str] = Field(default_factory=list)
    #: the file it was read from, as given (``load_profile``): answers that use a measurement name it
    #: (planner.hardware.data_rates.profile_source); not part of the JSON
    _source: Optional[str] = PrivateAttr(default=None)

    def __eq__(self, other):
        """The same measurements and fits, wherever they were read from (``_source`` aside)."""
        if not isinstance(other, Profile):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    @model_validator(mode="after")
    def _fractions_of_datasheet(self):
        """Measured on a catalog GPU, every efficiency is a fraction of its datasheet peak: <= 1."""
        if not self.fingerprint.catalog_gpu:
            return self
        f = self.fitted
        fits = [("fitted", f.model_dump(include={"attn_fwd", "attn_bwd", "gemm_table"}))]
        fits += [(f"fitted.by_dtype.{dt}", d.model_dump()) for dt, d in (f.by_dtype or {}).items()]
        for where, d in fits:
            for name in ("attn_fwd", "attn_bwd"):
                if (d.get(name) or 0) > 1:
                    raise ValueError(f"{where}.{name}: a fraction of {self.fingerprint.catalog_gpu}'s datasheet "
                                     f"peak must be at most 1, got {d[name]:g}")
            for i, row in enumerate(d.get("gemm_table") or []):
                if row[3] > 1:
                    raise ValueError(f"{where}.gemm_table: row {i} efficiency {row[3]:g} exceeds 1 "
                                     f"(a fraction of {self.fingerprint.catalog_gpu}'s datasheet peak)")
        return self


def load_profile(path: str | Path, field: str = "profile", catalog=None) -> Profile:
    """Read and validate a profile; any problem is one InputError naming the field. ``fingerprint.catalog_gpu`` is
    read the way ``cluster.gpu`` is, by name or alias in any case (``catalog``: the job's, with its overrides; else
    the built-in one), and kept as the catalog's name; one the catalog lacks is refused by name. Until QA 46 a profile
    written by hand with ``catalog_gpu: H100`` was refused as "profile was measured on H100; this job runs on
    H100-SXM-80GB", and one naming no catalog GPU as measured on a GPU the job does not use."""
    p = Path(path)
    raw = read_json_object(p, field, " — corrupt profile?")
    ver = raw.get("schema_version")
    if ver != SCHEMA_VERSION:
        # the whole number the planner writes, said as such: "has schema version '1', this planner reads 1" (a string
        # "1" from a hand-written or re-serialised file) read as a contradiction (QA 46)
        what = (f"a {type(ver).__name__} ({ver!r}), not the whole number {SCHEMA_VERSION}" if str(ver) == str(SCHEMA_VERSION)
                else f"schema version {ver!r}; this planner reads {SCHEMA_VERSION} (re-run `planner calibrate` to write one)")
        raise InputError(f"{field}.schema_version", f"{shown_path(p)} has {what}")
    gpu = _labelled_gpu(raw.get("fingerprint"), p, field, catalog)
    prof = _validated(Profile, raw, p, field)
    prof._source = str(path)
    if gpu is not None:
        prof.fingerprint.catalog_gpu = gpu.name
    return prof


def _validated(model, data, p: Path, field: str):
    """``model`` validated from ``data``, any problem one InputError naming the field under ``field``."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = from_validation(e, field)
        where = err.field if err.field.startswith(field) else f"{field}.{err.field}"  # a model-level check names fitted.*
        raise InputError(where, f"{err.message} in {shown_path(p)}") from None


def _labelled_gpu(fingerprint, p: Path, field: str, catalog) -> Optional[GPU]:
    """The catalog GPU a profile's ``fingerprint.catalog_gpu`` names (None when it names none), checked to be the
    device the fingerprint measured (``_check_measured_on``) before the fits are read as fractions of its datasheet:
    a CPU profile labelled H100 is refused for its device, not for a CPU attention fit above H100's peak."""
    if not isinstance(fingerprint, dict) or not fingerprint.get("catalog_gpu"):
        return None  # absent, null or malformed: the whole profile's validation says what is wrong
    fp = _validated(Fingerprint, fingerprint, p, f"{field}.fingerprint")
    name = fp.catalog_gpu
    from hardware_catalog.errors import InputError as CatalogInputError

    catalog = catalog or load_catalog()
    try:
        gpu = catalog.gpu(name)
    except CatalogInputError as e:
        hint = e.message[len(f"unknown GPU {name!r}"):] if e.message.startswith("unknown GPU") else ""
        raise InputError(f"{field}.fingerprint.catalog_gpu",
                         f"{name!r} is not a catalog GPU{hint} ({shown_path(p)}: write the name `planner catalog gpus` "
                         "lists, or null for a machine the catalog lacks)") from None
    _check_measured_on(fp, gpu, catalog, p, field)
    return gpu


#: fingerprint.device kinds that are the host, never an accelerator: what they measured (its GEMM rate, its memory
#: copy) is a fraction of the host's own peak, meaningless as a fraction of a catalog GPU's datasheet peak
HOST_DEVICES = frozenset({"cpu"})


def _check_measured_on(fp: Fingerprint, gpu: GPU, catalog: Catalog, p: Path, field: str) -> None:
    """A profile labelled ``catalog_gpu`` must have been measured on that GPU: its efficiencies are fractions of the
    device it timed, and only that device's. The fingerprint's device kind must not be the host's, and its device
    name (torch's ``get_device_name``: "NVIDIA H100 80GB HBM3", "AMD Instinct MI300X") must name the chip
    (``hardware_catalog.chips.names_chip``, the rule ``calibration.bench.catalog_gpu_for`` labels by). Until prof41 the shipped CPU example relabelled ``catalog_gpu: H100`` was taken as H100 measurements: the
    2-core CPU's GEMM fits gave a 9.6 min step (qa63)."""
    if fp.device.lower() not in HOST_DEVICES and names_chip(catalog, fp.device_name, gpu):
        return
    raise InputError(f"{field}.fingerprint.catalog_gpu",
                     f"{shown_path(p)}: measured on {fp.device} ({fp.device_name}) but labelled {gpu.name}: a profile's "
                     "efficiencies hold only on the device that measured them (re-run `planner calibrate` on that GPU, "
                     "or write catalog_gpu: null)")


def save_profile(profile: Profile, path: str | Path, force: bool = False) -> None:
    """Write by the output rules of ``planner.outputs``: an existing file replaced only with
    ``force``, a partial file never replaces a good one, a symlink is replaced itself (never its
    target), a device or folder is refused."""
    write_text(path, profile.model_dump_json(indent=1), "--out", force)


#: shipped profiles as read, keyed on (path, mtime, size): ``efficiency_for`` asks once per GPU option, so one
#: search re-read and re-validated every shipped file ~20 times (38 parses of 45 kB JSON, ~0.15 s of a 4 s search
#: in the app); a file changed on disk is read again
_SHIPPED: dict[tuple, Optional[Profile]] = {}


def _shipped(f: Path) -> Optional[Profile]:
    st = f.stat()
    key = (str(f), st.st_mtime_ns, st.st_size)
    if key not in _SHIPPED:
        if len(_SHIPPED) > 64:  # files rewritten many times in one process (tests): keep it small
            _SHIPPED.clear()
        try:
            _SHIPPED[key] = load_profile(f)
        except InputError:
            _SHIPPED[key] = None  # not a usable profile: skipped, as before
    return _SHIPPED[key]


def shipped_profile_for(gpu_name: str) -> Optional[Profile]:
    """A committed profile measured on this catalog GPU, if one ships (read once per file version, ``_shipped``)."""
    if not PROFILES_DIR.is_dir():
        return None
    for f in sorted(PROFILES_DIR.glob("*.json")):
        prof = _shipped(f)
        if prof is not None and prof.fingerprint.catalog_gpu == gpu_name:
            return prof
    return None


#: ``Efficiency.sources`` keys that are no efficiency field: the profile an efficiency was read from, and each
#: fitted field the time model does not read (``unused_fields``), with why
PROFILE_KEY = "@profile"
UNUSED_PREFIX = "@unused:"


def profile_words(profile: Profile) -> str:
    """The profile as the answers name it: its file (as given), the device and the day it was measured."""
    fp = profile.fingerprint
    return f"{profile._source or 'profile'}: {fp.device_name}, measured {fp.created[:10]}"


def unused_fields(profile: Profile) -> list[tuple[str, str]]:
    """(field, why) for each fitted value a plan on a catalog GPU does not read, so no answer lists it as measured and
    used. QA 46: a hand-written H100 profile's ``inter_busbw`` (40 GB/s, or 1 MB/s) gave the same step, and the inputs
    line listed it neither as measured nor as unused."""
    f = profile.fitted
    out = []
    if f.inter_busbw is not None:
        out.append(("inter_busbw", "the inter-node rate is the instance's network_gbps (or cluster.inter_node_gbps) "
                                   "x the inter_bw prior: a bus bandwidth measured on one cluster's network is not "
                                   "taken for another's; set cluster.inter_node_gbps to price yours"))
    if f.hbm_bw is not None and f.hbm is None:
        out.append(("hbm_bw", "the time model reads hbm, memory-bound kernels' share of the datasheet HBM rate, "
                              "not a copy bandwidth"))
    for name in ("h2d_pinned_bw", "h2d_pageable_bw"):
        if getattr(f, name) is not None:
            out.append((name, "offload copies run at the catalog GPU's host link (GPU.host_bw)"))
    return out


def efficiency_from_profile(profile: Profile, base, gpu=None, precision: Optional[str] = None):
    """``base`` (an Efficiency prior) with every measured field replaced. Fractions of peak are
    taken against the catalog GPU's datasheet numbers, so the time model's peaks stay the catalog's.

    ``precision`` (bf16, fp32, ...) picks that dtype's GEMM and attention fits when the profile
    measured it (``fitted.by_dtype``); otherwise the headline fits (``fitted.primary_dtype``) apply.
    """
    f = profile.fitted
    where = f"measured: {profile.fingerprint.device_name} ({profile.fingerprint.created[:10]})"
    kw, sources = {}, dict(base.sources)
    # which profile, for every output's inputs line (planner.search.evaluate.inputs_provenance): until QA 46 the
    # answers listed the measured fields but named neither the file nor when it was measured
    sources[PROFILE_KEY] = profile_words(profile)
    for name, why in unused_fields(profile):
        sources[UNUSED_PREFIX + name] = why
    fit = (f.by_dtype or {}).get(precision or "")
    per = fit.model_dump(exclude_none=True) if fit is not None else {}
    if precision and per:
        where_dt = f"{where}, {precision}"
    else:
        per, where_dt = {}, where + (f", {f.primary_dtype}" if f.primary_dtype else "")
    for name in ("gemm_max", "gemm_k_half", "attn_fwd", "attn_bwd"):
        v = per.get(name, getattr(f, name))
        if v is not None:
            kw[name] = float(v)
            sources[name] = where_dt
    # an fp32 GEMM fit measured the CUDA-core (SIMT) matmul, which fp32 GEMMs and convolutions read
    # (Efficiency.simt_max): it replaces the prior's SIMT fraction too, or the measurement would not reach them
    fit_dtype = precision if per else f.primary_dtype
    if fit_dtype == "fp32" and "gemm_max" in kw:
        kw["simt_gemm_max"] = kw["gemm_max"]
        sources["simt_gemm_max"] = sources["gemm_max"]
    for name in ("hbm", "launch_s", "intra_alpha_s", "inter_alpha_s", "sm_count"):
        v = getattr(f, name)
        if v is not None:
            kw[name] = v
            sources[name] = where
    table = per.get("gemm_table") or f.gemm_table
    if table:
        kw["gemm_table"] = tuple(tuple(float(x) for x in r) for r in table)
        sources["gemm_table"] = where_dt
    if gpu is not None and f.intra_busbw and gpu.intra_node_bw:
        kw["intra_bw"] = min(1.0, f.intra_busbw / gpu.intra_node_bw)  # a fraction of the link peak
        sources["intra_bw"] = where
    kw["sources"] = sources
    return base.with_(**kw)


def machine_gpu(profile: Profile):
    """The accelerator a profile was measured on, as a ``hardware_catalog.GPU``: the catalog row
    when the profile names one, else a synthetic row built from the measurements (CPUs, GPUs the
    catalog lacks): peaks = the measured peak per dtype, hbm_bw = the measured copy bandwidth,
    memory = host memory (CPU) or the device's, link bandwidth = the measured collective busbw."""
    fp, f = profile.fingerprint, profile.fitted
    if fp.catalog_gpu:
        return load_catalog().gpu(fp.catalog_gpu)
    extra = fp.model_extra or {}
    mem = extra.get("gpu_memory_bytes") or extra.get("host_memory_bytes") or 0
    if not f.peak_flops or not (f.hbm_peak_bw or f.hbm_bw):
        raise InputError("profile.fitted.peak_flops", "a profile without measured peaks and bandwidth cannot describe its machine")
    return GPU(
        name=f"{fp.device}:{fp.device_name}", vendor="measured", memory_bytes=int(mem),
        hbm_bw=float(f.hbm_peak_bw or f.hbm_bw), peak_flops=dict(f.peak_flops),
        intra_node_bw=f.intra_busbw, intra_node_link="measured" if f.intra_busbw else "none",
        pcie_bw=f.h2d_pinned_bw, tdp_w=None, purchase_price_usd=None,
        source=f"calibration profile measured {fp.created}", notes="synthetic: built from a calibration profile",
        runs_on_host=fp.device == "cpu",
    )


def machine_option(profile: Profile, precision: Optional[str] = None):
    """A ``planner.hardware.options.HardwareOption`` for the calibrated machine itself (one device per
    node), so the planner's time and memory models can predict steps on the machine measured."""
    from planner.hardware.options import HardwareOption

    gpu = machine_gpu(profile)
    f = profile.fitted
    if profile.fingerprint.catalog_gpu:
        base = prior_for(gpu.name)
    else:
        base = Efficiency(sources={"*": f"prior: generic fractions (no catalog entry for {gpu.name})"})
    eff = efficiency_from_profile(profile, base, gpu, precision)
    intra = gpu.intra_node_bw or f.intra_busbw or 1e9
    inter = f.inter_busbw or 10e9 / 8
    return HardwareOption(name=gpu.name, gpu=gpu, gpus_per_node=1, inter_node_bw=inter, intra_bw=intra,
                          eff=eff, notes=[f"calibrated machine: {profile.fingerprint.device_name}"])
