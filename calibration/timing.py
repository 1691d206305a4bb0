"""Timing helpers shared by the microbenchmarks: one clock for CPU and CUDA.

``time_fn(fn, device)`` runs ``fn`` a few times to warm up, then in batches until ``min_s`` of
measured time, and returns the median seconds per call over the batches. On CUDA a batch is
bracketed by events and synchronised, so the time is device time including launch gaps; on CPU it
is wall time (torch ops are synchronous there).

    >>> import torch
    >>> t = time_fn(lambda: torch.ones(8) + 1, "cpu", min_s=0.01)
    >>> 0 < t < 0.01
    True
"""
from __future__ import annotations

import math
import statistics
import time


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _timed(fn, device: str) -> float:
    """Seconds of one call of ``fn``, synchronised on both sides."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def time_fn(fn, device: str = "cpu", min_s: float = 0.05, warmup: int = 1, max_calls: int = 10_000,
            batches: int = 5) -> float:
    """Median seconds per call of ``fn`` (see module docstring)."""
    for _ in range(warmup - 1):
        fn()
    # the last warm-up call is timed too: a first call can only be slower than the steady state
    # (allocation, kernel selection), so it enters no median, only the min() of a slow call below
    first = _timed(fn, device) if warmup > 0 else math.inf
    one = max(_timed(fn, device), 1e-7)
    if one >= min_s:  # a slow call: the warm-up and this one are all the precision it needs
        # min() of the timed warm-up and one call, not of two calls after an untimed warm-up: the
        # quick CPU calibration's bf16 GEMMs without AVX-512 BF16 (dy @ W at 1024^3, 3.1 s a call)
        # spent a third of their time in the discarded warm-up (the quick GEMM grid: 22 -> 15 s of CPU time,
        # the whole `planner calibrate --quick` 88 -> 56 s on the 2-core VM at load average 6)
        return min(first, one)
    per_batch = max(1, min(max_calls // batches, int(min_s / batches / one)))
    out = []
    for _ in range(batches):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(per_batch):
            fn()
        sync(device)
        out.append((time.perf_counter() - t0) / per_batch)
    return statistics.median(out)
