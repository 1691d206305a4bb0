"""The input pipeline's measured rates: a calibration profile's JPEG decode and storage read figures
(``calibration/datapipe.py``, ``Fitted.decode_s_per_sample`` / ``Fitted.storage_read_bw``) fill the job's
``data`` fields the job leaves unset.

``with_measured_data(job, profile)`` is the one place the data rates are resolved: ``estimate``,
``recommend`` (the search's evaluation passes and the simulator's re-ranking) and ``simulate`` all read
the job it returns, so the analytic answer and the simulator price the same numbers.

* The job's own values win: a field the job file wrote (``DataSpec.model_fields_set``) is never replaced,
  even where it equals the schema's default (``decode_ms_per_sample: 0`` says "no decode").
* A job without a ``data`` section gets none: data never limits it, measured or not.
* Every value used is said, with its source, as one of the job's assumptions (printed by every answer,
  text and ``--json``), and ``simulate`` lists them beside its result.

What each measurement is taken to mean (README "Calibration" and "Data pipeline"):

* decode: seconds per sample of the ImageNet training transform on **one core of the host that ran
  calibrate** (``datapipe.decode_rows``). The planner has no per-instance CPU speed, so every planned
  node's cores are taken to be as fast as that one; the line names the CPU it was measured on.
* storage read: **one reader**'s sequential throughput of the path given to ``calibrate --storage``. One
  reader shows what one loader worker's connection reads, not how the storage scales with readers or
  nodes, so it fills ``data.storage_stream_gbps`` (the per-connection bandwidth of the storage model),
  never the aggregate ``data.storage_gbps``; the simulator raises an unset aggregate to at least this
  rate (``planner.simulate.config.storage_for``: a storage that served one reader at X serves the job at
  least X). A profile that measured calibrate's temporary folder (no ``--storage``), or read through the
  page cache (an upper bound), did not measure the job's storage and is not used; the job says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from planner.hardware.profile import Profile

GBIT_PER_BYTE = 8e-9  # Gb/s per byte/s


@dataclass(frozen=True)
class MeasuredField:
    """One profile measurement and the job ``data`` field it fills.

    ``scale`` converts the profile's SI value to the job field's unit; ``scope(profile)`` says what the
    number is per, as the output prints it; ``refused(profile, data)`` is why the measurement does not describe
    the pipeline of the job's ``data`` section (None: it does)."""

    job_field: str  # DataSpec field
    measured: str  # Fitted field
    label: str
    unit: str
    scale: float
    scope: Callable[[Profile], str]
    refused: Callable[[Profile, object], Optional[str]] = lambda p, data: None


def _cpu(profile: Profile) -> str:
    fp = profile.fingerprint
    return str((fp.model_extra or {}).get("cpu_model") or (fp.device_name if fp.device == "cpu" else "") or "its CPU")


def _storage_refused(profile: Profile, data) -> Optional[str]:
    if data.storage == "memory":
        return "the job's data is already in memory (data.storage memory): no storage is read"
    st = profile.raw.get("storage") or {}
    if not st.get("path") or st.get("path") == "(temporary folder)":
        return ("it read calibrate's temporary folder, not the job's data (`planner calibrate --storage PATH` "
                "measures the storage the data is on)")
    if not st.get("cache_dropped", False):
        return "it read through the page cache (the OS refused to drop it): an upper bound, not the storage's rate"
    return None


#: what a profile measures for the input pipeline, and where each goes in the job
MEASURED_DATA = (
    MeasuredField("decode_ms_per_sample", "decode_s_per_sample", "decode", "ms/sample/core", 1e3,
                  lambda p: (f"one core of {_cpu(p)}, the host that ran calibrate; every planned node's cores "
                             "are taken to be as fast")),
    MeasuredField("storage_stream_gbps", "storage_read_bw", "storage read", "Gb/s per reader", GBIT_PER_BYTE,
                  lambda p: (f"one reader of {(p.raw.get('storage') or {}).get('path')}: each loader worker's "
                             "connection; the aggregate stays data.storage_gbps or the storage kind's, "
                             "at least this"),
                  _storage_refused),
)


def profile_source(profile: Profile) -> str:
    """How an answer names the profile: its file as given to ``load_profile``, else (a profile built in memory)
    the day it was measured."""
    name = getattr(profile, "_source", None)
    return f"calibration profile {name}" if name else f"calibration profile measured {profile.fingerprint.created[:10]}"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def with_measured_data(job, profile: Optional[Profile]):
    """``job`` with the profile's data-pipeline measurements in the ``data`` fields it left unset, and
    one assumption line per measurement used or refused (module docstring). The job itself when there is
    no profile, no ``data`` section or nothing measured; applying it twice changes nothing more."""
    data = getattr(job, "data", None)
    if profile is None or data is None:
        return job
    fill, lines = {}, []
    for m in MEASURED_DATA:
        v = getattr(profile.fitted, m.measured)
        if v is None or m.job_field in data.model_fields_set:  # not measured, or the job's own value wins
            continue
        value = float(v) * m.scale
        why = m.refused(profile, data)
        if why:
            lines.append(f"data.{m.job_field}: the {m.label} rate {_fmt(value)} {m.unit} in the "
                         f"{profile_source(profile)} is not used: {why}")
            continue
        fill[m.job_field] = value
        lines.append(f"data.{m.job_field}: {m.label} {_fmt(value)} {m.unit} from {profile_source(profile)} "
                     f"(measured on {m.scope(profile)})")
    lines = [ln for ln in lines if ln not in job.assumptions]
    if not fill and not lines:
        return job
    return job.model_copy(update={"data": data.model_copy(update=fill), "assumptions": list(job.assumptions) + lines})


def measured_lines(job) -> tuple[str, ...]:
    """The assumption lines ``with_measured_data`` added to ``job`` (for answers that print them apart)."""
    keys = tuple(f"data.{m.job_field}: " for m in MEASURED_DATA)
    return tuple(a for a in job.assumptions if a.startswith(keys) and "calibration profile" in a)
