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

import statistics
import time


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def time_fn(fn, device: str = "cpu", min_s: float = 0.05, warmup: int = 1, max_calls: int = 10_000,
            batches: int = 5) -> float:
    """Median seconds per call of ``fn`` (see module docstring)."""
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    one = max(time.perf_counter() - t0, 1e-7)
    if one >= min_s:  # a slow call: one more is all the precision it needs
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        return min(one, time.perf_counter() - t0)
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
