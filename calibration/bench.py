"""Microbenchmarks of one machine, and ``run_calibration`` which runs them all into a ``Profile``.

What is measured (each benchmark returns raw rows; ``fit_*`` turns rows into ``Fitted`` fields):

* GEMM throughput over an (m, n, k) grid per dtype (bf16, fp16, tf32, fp32, fp8 via
  ``torch._scaled_mm`` on GPUs that have it; fp32 and bf16 on CPU), laid out as ``nn.Linear``'s
  forward (x @ W^T). Efficiency is taken against the device peak: the catalog GPU's datasheet peak
  on CUDA, the best measured large-GEMM rate per dtype on CPU (``fitted.peak_flops``). From the
  primary dtype's grid we fit ``gemm_max`` and ``gemm_k_half`` of ``Efficiency.gemm_efficiency``
  (least squares in log space) and keep every point as ``gemm_table``.
* Memory bandwidth: a large copy (bytes read + written) -> ``hbm_bw``; memory-bound kernels (add,
  layer norm, softmax) -> ``hbm`` = their median achieved bandwidth over the datasheet HBM peak
  (on CPU, over the measured copy bandwidth, which stands in for the peak).
* Attention: ``F.scaled_dot_product_attention`` causal, forward and forward+backward, over sequence
  lengths and head dims; ``attn_fwd`` / ``attn_bwd`` are the median fractions of peak in the
  planner's own accounting (causal kernel FLOPs = half of 4*s^2*d per head; backward = 2.5x).
* Per-op overhead: a chain of tiny ops recorded by autograd, forward + backward, per op ->
  ``launch_s`` (what a training step pays per kernel when the kernel itself is negligible).
* Host-to-device copies, pinned and pageable (CUDA only).
* Collectives over ``torch.distributed`` (``calibration.collectives``; NCCL on GPUs, gloo on CPU).
* Data pipeline: JPEG decode + augment per core, storage read throughput (``calibration.datapipe``).

    >>> prof = run_calibration(device="cpu", quick=True, out_path=None, progress=False)  # doctest: +SKIP
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from planner.hardware.profile import (MIN_EFFICIENCY, MIN_TABLE_EFFICIENCY, SCHEMA_VERSION, Fingerprint, Fitted,
                                      Profile, save_profile)
from calibration import DEVICES  # what --device takes (there, so `python -m calibration` parses it before torch loads)
from calibration.timing import time_fn
from planner.hardware.efficiency import Efficiency
from planner.errors import InputError
from planner.model.flops import attention_core_flops

TORCH_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16,
                "fp16": torch.float16, "fp8": torch.float8_e4m3fn}


# --------------------------------------------------------------------------------------------
# Plans: what each mode measures (data, so quick/full differ in one place)
# --------------------------------------------------------------------------------------------
def plan(device: str, quick: bool) -> dict:
    if device == "cuda":
        sizes = (256, 1024, 4096, 8192) if not quick else (512, 2048, 8192)
        ks = (64, 256, 1024, 4096, 8192) if not quick else (128, 1024, 8192)
        return dict(
            gemm_dtypes=("bf16", "fp16", "tf32", "fp32", "fp8") if not quick else ("bf16", "fp8", "tf32"),
            gemm_mn=sizes, gemm_k=ks, gemm_min_s=0.02 if quick else 0.05,
            copy_bytes=(1 << 30), membound_elems=1 << 26,
            attn=[(b, 16, s, d) for s in ((1024, 4096) if quick else (512, 1024, 2048, 4096, 8192))
                  for d in (64, 128) for b in (max(1, 8192 // s),)],
            attn_dtypes=("bf16",) if quick else ("bf16", "fp16"), h2d_bytes=1 << 28, ops=64,
            coll_sizes=[1 << p for p in range(12, 29, 4 if quick else 2)],
            jpeg_images=24 if quick else 96, storage_bytes=(256 << 20) if quick else (2 << 30),
        )
    return dict(
        gemm_dtypes=("fp32", "bf16"),
        gemm_mn=(64, 256, 1024) if quick else (32, 64, 128, 256, 512, 1024, 2048, 4096),
        gemm_k=(64, 256, 1024) if quick else (64, 128, 256, 512, 1024, 2048, 4096),
        gemm_min_s=0.01 if quick else 0.05,
        copy_bytes=(256 << 20) if quick else (1 << 30), membound_elems=1 << 22,
        attn=[(b, 4, s, d) for s in ((128, 256, 512) if quick else (128, 256, 512, 1024))
              for d in (32, 64) for b in (max(1, 1024 // s),)],
        attn_dtypes=("fp32", "bf16"), h2d_bytes=0, ops=64,
        coll_sizes=[1 << p for p in range(10, 25, 4 if quick else 2)],
        jpeg_images=16 if quick else 64, storage_bytes=(64 << 20) if quick else (1 << 30),
    )


def primary_dtype(device: str) -> str:
    """The dtype whose GEMM fit becomes the profile's headline ``gemm_max``: what training runs."""
    return "bf16" if device == "cuda" else "fp32"


# --------------------------------------------------------------------------------------------
# Device facts
# --------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def host_memory_bytes() -> Optional[int]:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _nvidia_smi(query: str) -> Optional[str]:
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def catalog_gpu_for(device_name: str, memory_bytes: Optional[int] = None) -> Optional[str]:
    """Map ``torch.cuda.get_device_name()`` ("NVIDIA H100 80GB HBM3") onto a catalog GPU name: an exact name/alias
    first, else, for the first word of the device name that is a model number, the catalog GPUs whose name leads with
    it (``hardware_catalog.chips``: the rule ``planner.hardware.profile`` checks the label by) with the same form
    factor (PCIe vs SXM, NVL), closest in memory size."""
    from hardware_catalog import load_catalog
    from hardware_catalog.chips import device_words, exact_gpu, model_number

    cat = load_catalog()
    exact = exact_gpu(cat, device_name)
    if exact is not None:
        return exact.name
    for word in device_words(device_name):
        same_chip = [g for g in cat.gpus.values() if model_number(g.name) == word]
        if same_chip:
            return min(same_chip, key=lambda g: _form_and_size_gap(g, device_name, memory_bytes)).name
    return None


def _form_and_size_gap(gpu, device_name: str, memory_bytes: Optional[int]) -> float:
    """How far a catalog GPU of the device's chip is from the device: 10 for each form-factor word (PCIe, NVL) one
    name carries and the other lacks, plus the log ratio of their memory sizes when the device's is known."""
    dev, name = device_name.upper(), gpu.name.upper()
    gap = sum(10.0 for form in ("PCIE", "NVL") if (form in name) != (form in dev))
    return gap + (abs(math.log(gpu.memory_bytes / memory_bytes)) if memory_bytes else 0.0)


def fingerprint(device: str) -> Fingerprint:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    extra = dict(cpu_model=cpu_model(), host_memory_bytes=host_memory_bytes(),
                 torch_threads=torch.get_num_threads(), platform=platform.platform())
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        name = torch.cuda.get_device_name(0)
        clocks = {}
        q = _nvidia_smi("clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem")
        if q:
            keys = ("sm_mhz", "max_sm_mhz", "mem_mhz", "max_mem_mhz")
            clocks = {k: float(v) for k, v in zip(keys, q.split(",")) if v.strip().replace(".", "").isdigit()}
        return Fingerprint(
            device="cuda", device_name=name, catalog_gpu=catalog_gpu_for(name, props.total_memory),
            torch_version=torch.__version__, driver=_nvidia_smi("driver_version"), cuda=torch.version.cuda,
            clocks=clocks or None, host=platform.node(), cpu_count=os.cpu_count(), created=now,
            gpu_memory_bytes=props.total_memory, sm_count=props.multi_processor_count,
            capability=f"{props.major}.{props.minor}", **extra)
    mhz = None
    try:
        vals = [float(ln.split(":")[1]) for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("cpu MHz")]
        mhz = max(vals) if vals else None
    except (OSError, ValueError):
        pass
    return Fingerprint(
        device="cpu", device_name=cpu_model(), catalog_gpu=None, torch_version=torch.__version__,
        clocks={"cpu_mhz": mhz} if mhz else None, host=platform.node(), cpu_count=os.cpu_count(),
        created=now, **extra)


def datasheet(device: str, fp: Fingerprint):
    """The catalog GPU for a CUDA fingerprint (None on CPU or for a GPU the catalog lacks)."""
    if device != "cuda" or not fp.catalog_gpu:
        return None
    from hardware_catalog import load_catalog

    return load_catalog().gpu(fp.catalog_gpu)


# --------------------------------------------------------------------------------------------
# Benchmarks: each returns a list of raw rows (dicts, SI units)
# --------------------------------------------------------------------------------------------
def _fp8_supported(device: str) -> bool:
    if device != "cuda" or not hasattr(torch, "_scaled_mm"):
        return False
    major, minor = torch.cuda.get_device_capability(0)
    return (major, minor) >= (8, 9)


# The three GEMMs of a Linear layer's training step, each keyed by the (m, n, k) the step-time
# model asks ``Efficiency.gemm_time`` for (planner/model/layer_ops.py ``LayerContext.gemm``): forward (M, N, K),
# dgrad (M, K, N), wgrad (K, N, M). Backward layouts run at their own rates (on some CPUs bf16
# dgrad/wgrad are several times slower than the forward), so the table holds all three.
LAYOUTS = ("fwd", "dgrad", "wgrad")


def gemm_rows(device: str, dtypes, mn, ks, min_s: float, tick: Callable = lambda: None) -> list[dict]:
    """Seconds and FLOP/s of a Linear's forward, dgrad and wgrad GEMMs per shape and dtype."""
    rows = []
    for dt in dtypes:
        if dt == "fp8" and not _fp8_supported(device):
            continue
        prev_tf32 = torch.backends.cuda.matmul.allow_tf32 if device == "cuda" else None
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = dt == "tf32"
        try:
            for m in mn:
                for n in mn:
                    for k in ks:
                        for layout, key, f in _gemm_fns(device, dt, m, n, k):
                            try:
                                t = time_fn(f, device, min_s=min_s)
                            except RuntimeError:
                                continue  # shape/dtype the backend rejects (fp8 alignment, memory)
                            rows.append(dict(dtype=dt, layout=layout, m=key[0], n=key[1], k=key[2],
                                             seconds=t, flops=2.0 * m * n * k / t))
                        tick()
        finally:
            if device == "cuda":
                torch.backends.cuda.matmul.allow_tf32 = prev_tf32
    return rows


def _gemm_fns(device, dt, m, n, k):
    """(layout, planner key, closure) for x(m,k) -> y(m,n) = x @ W(n,k)^T and its backward."""
    gen = torch.Generator(device=device).manual_seed(0)
    if dt == "fp8":  # forward only: fp8 backward GEMMs need e5m2 gradients and other layouts
        a = torch.randn(m, k, device=device, generator=gen).to(torch.float8_e4m3fn)
        b = torch.randn(n, k, device=device, generator=gen).to(torch.float8_e4m3fn)
        one = torch.ones((), device=device)
        return [("fwd", (m, n, k), lambda: torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16))]
    tdt = TORCH_DTYPES[dt]
    x = torch.randn(m, k, device=device, dtype=tdt, generator=gen)
    w = torch.randn(n, k, device=device, dtype=tdt, generator=gen)
    dy = torch.randn(m, n, device=device, dtype=tdt, generator=gen)
    return [("fwd", (m, n, k), lambda: F.linear(x, w)),
            ("dgrad", (m, k, n), lambda: dy @ w),
            ("wgrad", (k, n, m), lambda: dy.t() @ x)]


def merged_table(rows: list[dict], peak: float) -> list[tuple[float, float, float, float]]:
    """(m, n, k, efficiency) per distinct key; layouts landing on the same key are merged by the
    harmonic mean of their efficiencies (equal FLOPs, so the summed time is preserved)."""
    acc: dict[tuple, list[float]] = {}
    for r in rows:
        acc.setdefault((r["m"], r["n"], r["k"]), []).append(r["flops"] / peak)
    return [(float(a), float(b), float(c), len(e) / sum(1 / x for x in e)) for (a, b, c), e in sorted(acc.items())]


def memory_rows(device: str, copy_bytes: int, elems: int, dtype: str = "fp32") -> list[dict]:
    """Achieved bytes/s of a large copy and of the memory-bound kernels a training step runs
    (residual add, activation, layer norm, softmax, an AdamW step), counting bytes read + written
    as the step-time model does (AdamW: ``OPTIMIZER_BYTES_PER_PARAM``)."""
    from planner.model.step_time import OPTIMIZER_BYTES_PER_PARAM

    rows = []
    n = copy_bytes // 4
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    t = time_fn(lambda: dst.copy_(src), device, min_s=0.1)
    rows.append(dict(kernel="copy", bytes=2 * n * 4, seconds=t, bw=2 * n * 4 / t))
    del src, dst
    tdt = TORCH_DTYPES[dtype]
    eb = torch.empty((), dtype=tdt).element_size()
    x = torch.randn(elems // 1024, 1024, device=device, dtype=tdt)
    y = torch.randn_like(x)
    z = torch.empty_like(x)
    w = torch.ones(1024, device=device, dtype=tdt)
    e = x.numel()
    p = torch.zeros(e, device=device, requires_grad=True)
    p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW([p], lr=1e-4)
    kernels = {
        "add": (lambda: torch.add(x, y, out=z), 3 * e * eb),
        "gelu": (lambda: F.gelu(x, approximate="tanh"), 2 * e * eb),
        "layer_norm": (lambda: F.layer_norm(x, (1024,), w, w), 2 * e * eb),
        "softmax": (lambda: torch.softmax(x, dim=-1), 2 * e * eb),
        "adamw": (opt.step, OPTIMIZER_BYTES_PER_PARAM["adamw"] * e),
    }
    for name, (f, nbytes) in kernels.items():
        t = time_fn(f, device, min_s=0.05)
        rows.append(dict(kernel=name, dtype=dtype if name != "adamw" else "fp32", bytes=nbytes, seconds=t, bw=nbytes / t))
    return rows


def attention_rows(device: str, shapes, dtype: str, tick: Callable = lambda: None) -> list[dict]:
    """sdpa causal forward and forward+backward per (batch, heads, seq, head_dim)."""
    rows = []
    dt = TORCH_DTYPES[dtype]
    for b, h, s, d in shapes:
        q, k, v = (torch.randn(b, h, s, d, device=device, dtype=dt, requires_grad=True) for _ in range(3))
        go = torch.randn(b, h, s, d, device=device, dtype=dt)

        def fwd():
            with torch.no_grad():
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)

        def fwd_bwd():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            torch.autograd.grad(o, (q, k, v), go)

        try:
            tf = time_fn(fwd, device, min_s=0.03)
            tfb = time_fn(fwd_bwd, device, min_s=0.05)
        except RuntimeError:
            tick()
            continue
        # the planner's convention: causal kernels do half of the attention core's FLOPs
        kflops = float(attention_core_flops(b * s, s, h * d)) / 2
        rows.append(dict(dtype=dtype, batch=b, heads=h, seq=s, head_dim=d, fwd_s=tf,
                         bwd_s=max(tfb - tf, 1e-9), kernel_flops=kflops))
        tick()
    return rows


def launch_rows(device: str, ops: int) -> list[dict]:
    """Per-op overhead: a tiny op alone, and a chain recorded by autograd (forward + backward)."""
    x = torch.ones(8, device=device)
    t_plain = time_fn(lambda: x.add_(1.0), device, min_s=0.05)
    leaf = torch.ones(8, device=device, requires_grad=True)

    def chain():
        y = leaf
        for _ in range(ops):
            y = y * 1.0001
        y.sum().backward()

    t_chain = time_fn(chain, device, min_s=0.1)
    # ops multiplies + 1 sum forward, as many backward nodes (+ the accumulate)
    per_op = t_chain / (2 * (ops + 1) + 1)
    return [dict(kind="tiny_op", seconds=t_plain), dict(kind="autograd_chain", ops=ops, seconds=t_chain,
                                                         per_op_s=per_op)]


def h2d_rows(nbytes: int) -> list[dict]:
    rows = []
    dev = torch.empty(nbytes // 4, device="cuda")
    for pinned in (True, False):
        host = torch.empty(nbytes // 4, pin_memory=pinned)
        t = time_fn(lambda: dev.copy_(host, non_blocking=pinned), "cuda", min_s=0.1)
        rows.append(dict(pinned=pinned, bytes=nbytes, seconds=t, bw=nbytes / t))
    return rows


# --------------------------------------------------------------------------------------------
# Fits
# --------------------------------------------------------------------------------------------
def peaks_for(device: str, gemm: list[dict], gpu) -> dict[str, float]:
    """FLOP/s each dtype's efficiency is taken against: the datasheet on CUDA (when the catalog
    knows the GPU), else the best measured GEMM rate of that dtype (CPU, unknown GPUs)."""
    out = {}
    for dt in {r["dtype"] for r in gemm}:
        best = max(r["flops"] for r in gemm if r["dtype"] == dt)
        if gpu is not None:
            try:
                out[dt] = gpu.peak(dt)
                continue
            except InputError:
                pass
        out[dt] = best
    return out


def fit_gemm(table: list[tuple], sm_count: int) -> dict:
    """gemm_max, gemm_k_half of ``Efficiency.gemm_efficiency`` fitted in log space (k_half on a
    grid, gemm_max then closed-form as the geometric-mean ratio) to the (m, n, k, eff) table."""
    m, n, k, eff = (np.array(c, float) for c in zip(*table))
    # a measurement is kept as measured, only held inside the profile's bounds (MIN_TABLE_EFFICIENCY..1): the CI
    # runner's 64^3 GEMM at 6.4e-4 of its peak failed the whole calibration against the 1e-3 headline floor
    eff = np.clip(eff, MIN_TABLE_EFFICIENCY, 1.0)
    util = Efficiency(sm_count=sm_count).gemm_util(m, n)
    best = None
    for kh in np.concatenate([[0.0], np.geomspace(1, 8192, 120)]):
        shape = util * k / (k + kh)
        lg = float(np.mean(np.log(eff) - np.log(shape)))
        err = float(np.mean((np.log(eff) - np.log(shape) - lg) ** 2))
        if best is None or err < best[0]:
            best = (err, kh, math.exp(lg))
    err, kh, gmax = best
    table = [(float(a), float(b), float(c), float(e)) for a, b, c, e in zip(m, n, k, eff)]
    return dict(gemm_max=min(max(gmax, MIN_EFFICIENCY), 1.0), gemm_k_half=float(kh), gemm_table=table,
                rms_log_error=math.sqrt(err))


def fit_alpha_beta(rows: list[dict], kind: str, n: int) -> Optional[tuple[float, float]]:
    """(alpha per ring step, bus bandwidth) from t = steps*alpha + f(n-1)/n * N / busbw, by least
    squares over message sizes (the alpha-beta model of planner/model/comm.py)."""
    from planner.model.comm import KIND_FACTOR

    pts = [(r["bytes"], r["seconds"]) for r in rows if r["op"] == kind]
    if len(pts) < 2 or n < 2:
        return None
    x = np.array([p[0] for p in pts], float)
    y = np.array([p[1] for p in pts], float)
    A = np.stack([np.ones_like(x), x], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    f = KIND_FACTOR.get(kind, 1.0)
    steps = f * (n - 1) if kind != "send_recv" else 1.0
    vol = f * (n - 1) / n if kind != "send_recv" else 1.0
    if b <= 0:  # latency-bound over the whole range: bandwidth from the largest message
        b = y[-1] / x[-1]
    return max(a, 0.0) / steps, vol / b


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------
class _Progress:
    """A rich progress bar over named stages (or nothing when ``enabled`` is false)."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total
        self.bar = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                TimeElapsedColumn(), transient=False)
            self.bar.__enter__()
            self.task = self.bar.add_task("calibrating", total=self.total)
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def stage(self, name: str):
        if self.bar is not None:
            self.bar.update(self.task, description=name)

    def tick(self, n: int = 1):
        if self.bar is not None:
            self.bar.advance(self.task, n)


def resolve_device(device: str) -> str:
    """``device`` (any of ``DEVICES``, any case) as the device measured: ``auto`` is cuda where torch sees a GPU."""
    device = DEVICES.canonical(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    # the field is the option people type (``--device``), as ``--out`` and ``--storage`` are
    if device not in DEVICES:
        raise InputError("--device", f"must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device", "cuda requested but torch sees no CUDA device on this machine "
                                     "(--device cpu or auto measures this CPU)")
    return device


def run_calibration(device: str = "auto", quick: bool = False, out_path=None, storage_path=None,
                    progress: bool = True, collectives_nproc: Optional[int] = None, force: bool = False) -> Profile:
    """Measure this machine and return (and, given ``out_path``, write) its calibration profile.

    ``quick`` runs a smaller grid (<= 60 s on one GPU or a 2-core CPU). ``storage_path`` is a file
    or folder whose read throughput is measured (default: a temporary folder). Collectives run in
    ``collectives_nproc`` local processes (default: the GPU count, at least 2; 2 on CPU).
    ``force``: replace an existing ``out_path`` (planner.outputs).
    """
    from calibration import collectives, datapipe
    from planner.outputs import PROFILE, output_target

    device = resolve_device(device)
    if out_path is not None:  # refused before minutes of measuring (``python -m calibration`` measured, then refused)
        output_target(out_path, "--out", [storage_path] if storage_path else [], force, kind=PROFILE)
    t_start = time.perf_counter()
    p = plan(device, quick)
    fp = fingerprint(device)
    gpu = datasheet(device, fp)
    notes: list[str] = []
    if device == "cuda" and gpu is None:
        notes.append(f"{fp.device_name}: not in the hardware catalog; efficiencies are relative to the best measured rates")
    n_gemm = len(p["gemm_dtypes"]) * len(p["gemm_mn"]) ** 2 * len(p["gemm_k"])
    total = n_gemm + len(p["attn"]) * len(p["attn_dtypes"]) + 6
    raw: dict = {"plan": {k: v for k, v in p.items() if k != "attn"} | {"attn": [list(s) for s in p["attn"]]}}
    if device == "cpu":
        torch.manual_seed(0)
    with _Progress(progress, total) as pr:
        pr.stage("GEMM grid")
        raw["gemm"] = gemm_rows(device, p["gemm_dtypes"], p["gemm_mn"], p["gemm_k"], p["gemm_min_s"], pr.tick)
        pr.stage("memory bandwidth")
        raw["memory"] = memory_rows(device, p["copy_bytes"], p["membound_elems"], primary_dtype(device))
        pr.tick()
        pr.stage("launch overhead")
        raw["launch"] = launch_rows(device, p["ops"])
        pr.tick()
        pr.stage("attention (sdpa)")
        raw["attention"] = [r for dt in p["attn_dtypes"] for r in attention_rows(device, p["attn"], dt, pr.tick)]
        if device == "cuda":
            pr.stage("host-to-device copies")
            raw["h2d"] = h2d_rows(p["h2d_bytes"])
        pr.tick()
        pr.stage("collectives")
        nproc = collectives_nproc or (max(2, torch.cuda.device_count()) if device == "cuda" else 2)
        if device == "cuda" and torch.cuda.device_count() < 2:
            raw["collectives"] = {"skipped": "one GPU: no intra-node link to measure"}
            notes.append("collectives: one GPU, intra-node link not measured (prior kept)")
        else:
            try:
                raw["collectives"] = collectives.run_local(nproc, device, p["coll_sizes"])
            except Exception as e:  # a broken distributed setup must not lose the rest
                raw["collectives"] = {"error": f"{e.__class__.__name__}: {e}"}
                notes.append(f"collectives failed: {e.__class__.__name__}: {e}")
        pr.tick()
        pr.stage("JPEG decode + augment")
        raw["decode"] = datapipe.decode_rows(p["jpeg_images"])
        pr.tick()
        pr.stage("storage read")
        raw["storage"] = datapipe.storage_rows(storage_path, p["storage_bytes"])
        pr.tick()
    fitted = fit_profile(device, raw, gpu, fp)
    raw["wall_s"] = time.perf_counter() - t_start
    prof = Profile(schema_version=SCHEMA_VERSION, fingerprint=fp, raw=raw, fitted=fitted, notes=notes)
    if out_path is not None:
        save_profile(prof, out_path, force)
    return prof


def fit_profile(device: str, raw: dict, gpu, fp: Fingerprint) -> Fitted:
    """Every ``Fitted`` field from the raw rows (see the module docstring for each definition)."""
    gemm = raw["gemm"]
    peaks = peaks_for(device, gemm, gpu)
    sm = int(getattr(fp, "sm_count", None) or (torch.get_num_threads() if device == "cpu" else 108))
    by_dtype: dict[str, dict] = {}
    # against a catalog GPU's datasheet peak every efficiency is at most 1 (the profile schema
    # refuses more, planner/hardware/profile.py); a CPU's attention may outrun its measured GEMM peak
    cap = 1.0 if gpu is not None else 10.0
    # and none is under the schema's floor: a measurement is held inside the profile's bounds, as fit_gemm holds
    # its table's (qa57: a loaded 2-core CPU's bf16 sdpa backward at 9.9e-4 of its GEMM peak failed the whole
    # calibration, after the measuring, as "internal error (ValidationError) ... attn_bwd")
    for dt in peaks:
        by_dtype[dt] = fit_gemm(merged_table([r for r in gemm if r["dtype"] == dt], peaks[dt]), sm)
    mem = {r["kernel"]: r["bw"] for r in raw["memory"]}
    copy_bw = mem["copy"]
    hbm_peak = gpu.hbm_bw if gpu is not None else copy_bw
    membound = statistics.median([mem[k] for k in ("add", "gelu", "layer_norm", "softmax", "adamw")])
    launch = next(r["per_op_s"] for r in raw["launch"] if r["kind"] == "autograd_chain")
    # attention, in the step-time model's accounting: t = flops/(peak*eff) + launch
    attn = raw["attention"]
    for dt in {r["dtype"] for r in attn}:
        pk = peaks.get(dt)
        if pk is None:
            continue
        rows = [r for r in attn if r["dtype"] == dt]
        fwd = [r["kernel_flops"] / (pk * max(r["fwd_s"] - launch, 1e-9)) for r in rows]
        bwd = [2.5 * r["kernel_flops"] / (pk * max(r["bwd_s"] - launch, 1e-9)) for r in rows]
        by_dtype.setdefault(dt, {}).update(attn_fwd=min(max(statistics.median(fwd), MIN_EFFICIENCY), cap),
                                           attn_bwd=min(max(statistics.median(bwd), MIN_EFFICIENCY), cap))
    prim = primary_dtype(device) if primary_dtype(device) in by_dtype else next(iter(by_dtype))
    head = by_dtype[prim]
    kw = dict(
        peak_flops=peaks, primary_dtype=prim, sm_count=sm,
        gemm_max=head["gemm_max"], gemm_k_half=head["gemm_k_half"], gemm_table=head["gemm_table"],
        attn_fwd=head.get("attn_fwd"), attn_bwd=head.get("attn_bwd"),
        hbm_bw=copy_bw, hbm_peak_bw=hbm_peak, hbm=min(max(membound / hbm_peak, MIN_EFFICIENCY), 1.0), launch_s=launch,
        by_dtype={dt: {k: v for k, v in d.items() if k != "rms_log_error"} for dt, d in by_dtype.items()},
    )
    if "h2d" in raw:
        kw["h2d_pinned_bw"] = next(r["bw"] for r in raw["h2d"] if r["pinned"])
        kw["h2d_pageable_bw"] = next(r["bw"] for r in raw["h2d"] if not r["pinned"])
    coll = raw.get("collectives") or {}
    if coll.get("rows"):
        n = coll["world_size"]
        ab = fit_alpha_beta(coll["rows"], "all_reduce", n)
        if ab:
            side = "inter" if coll.get("nodes", 1) > 1 else "intra"
            kw[f"{side}_alpha_s"], kw[f"{side}_busbw"] = ab
        coll["fits"] = {op: fit_alpha_beta(coll["rows"], op, n)
                        for op in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")}
    dec = raw.get("decode") or []
    if dec:
        kw["decode_s_per_sample"] = statistics.median(r["seconds_per_sample"] for r in dec)
    st = raw.get("storage") or {}
    if st.get("bw"):
        kw["storage_read_bw"] = st["bw"]
    return Fitted(**kw)
