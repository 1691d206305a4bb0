"""workers_needed's search: a decode-bound job far past the worker grid is settled by the CPU ceiling
(the first-order estimate) with a bounded number of simulations, and gives the scan's answer."""
from __future__ import annotations

from dataclasses import replace

import pytest

from planner.simulate import LoaderConfig, PipelineConfig, SimConfig
from planner.simulate import answers as A
from planner.simulate.resources import STORAGE_PROFILES


def _decode_bound_cfg(storage="memory", workers=1):
    # 32 samples x 1 s = 32 s per batch on one core; the GPU takes 30 ms per batch: ~1,067 workers needed,
    # far past the grid's 128 (the shape of a job decoding 1 GB samples at 1,000 s each)
    return SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=32),
                     loader=LoaderConfig(workers=workers, decode_s=1.0, decode_cv=0.2,
                                         storage=STORAGE_PROFILES[storage], device_bytes=0.0))


def _counting(monkeypatch):
    calls = []
    real = A.simulate

    def counted(cfg, *a, **k):
        calls.append(cfg.loader.workers if cfg.loader else None)
        return real(cfg, *a, **k)

    monkeypatch.setattr(A, "simulate", counted)
    return calls


def test_decode_bound_answer_needs_few_simulations(monkeypatch):
    """The old grid scan simulated every count (19 runs: the GPU-bound one and 18 counts) before saying
    "none, the CPU binds"; the CPU ceiling says so after the GPU-bound run, and only the configured count
    and the grid's largest are simulated for the table."""
    calls = _counting(monkeypatch)
    ans = A.workers_needed(_decode_bound_cfg(), steps=300)
    assert len(calls) <= 3
    assert ans["workers_needed"] is None and ans["bound"] == "cpu"
    assert ans["first_order_workers"] > max(A.WORKER_GRID)
    assert [r["workers"] for r in ans["rows"]] == [1, max(A.WORKER_GRID)]
    assert "not scanned" in ans["note"]


def test_settled_answer_matches_the_full_scan(monkeypatch):
    """With the shortcut off (CEILING_MARGIN infinite) the scan runs every count: same answer, and the
    rows the shortcut kept are the scan's rows, number for number."""
    fast, margin = A.workers_needed(_decode_bound_cfg(), steps=300), A.CEILING_MARGIN
    monkeypatch.setattr(A, "CEILING_MARGIN", float("inf"))
    calls = _counting(monkeypatch)
    full = A.workers_needed(_decode_bound_cfg(), steps=300)
    assert len(calls) == 1 + len(A.WORKER_GRID)  # the GPU-bound run and every count
    assert "note" not in full
    for k in ("workers_needed", "bound", "first_order_workers", "gpu_bound_samples_per_s", "vcpus_per_gpu"):
        assert fast[k] == full[k]
    by_w = {r["workers"]: r for r in full["rows"]}
    for r in fast["rows"]:
        assert r == by_w[r["workers"]]
    # the ceiling the shortcut relied on holds in the scan: no count beats w x t_gpu_batch / t_build by
    # more than a finite run's batch-time noise (4 workers: +1.1% here), well inside CEILING_MARGIN
    for r in full["rows"]:
        assert r["share_of_gpu_bound"] <= 1.05 * r["workers"] / (full["first_order_workers"] - 1)
    assert 1.05 < margin


def test_storage_slower_than_the_cpu_ceiling_keeps_the_scan(monkeypatch):
    """When the storage's ceiling is not well above the CPU's, "cpu" is not certain: the grid is scanned."""
    cfg = _decode_bound_cfg()
    # 1 request/s for individual files: the storage serves 1 sample/s, under the CPU ceiling at 128 workers
    slow = replace(STORAGE_PROFILES["object_store"], max_requests_per_s=1.0)
    cfg = replace(cfg, loader=replace(cfg.loader, storage=slow, format="files"))
    assert A.storage_ceiling(cfg.loader) == pytest.approx(1.0)
    assert A._cpu_ceiling_settles(cfg, 128, 0.03, 32.0, 1000.0, 0.95) == 0.0
    # the same job on fast storage is settled; a job whose ceiling reaches the target is not
    fast = _decode_bound_cfg()
    assert A._cpu_ceiling_settles(fast, 128, 0.03, 32.0, 1000.0, 0.95) == pytest.approx(128 * 0.03 / 32.0)
    assert A._cpu_ceiling_settles(fast, 128, 0.03, 4.0, 1000.0, 0.95) == 0.0


def test_ordinary_job_still_scans_the_grid(monkeypatch):
    """A job whose first-order estimate is inside the grid runs the scan as before (one run per count
    up to the answer)."""
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=32),
                    loader=LoaderConfig(workers=1, decode_s=0.004, decode_cv=0.2,
                                        storage=STORAGE_PROFILES["memory"], device_bytes=0.0))
    calls = _counting(monkeypatch)
    ans = A.workers_needed(cfg, steps=300)
    assert ans["bound"] == "gpu" and "note" not in ans
    assert calls[1:] == [r["workers"] for r in ans["rows"]] == [w for w in A.WORKER_GRID if w <= ans["workers_needed"]]
