"""simulate's workers-per-replica answer (planner.simulate.answers.workers_needed) on the ResNet-50 S3-files example
(examples/resnet50-objectstore-files.yaml): its time, each simulation's steps, and the answer.

    python benchmarks/bench_workers_answer.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.simulate import SimConfig, workers_needed  # noqa: E402
from planner.spec.load import load_job  # noqa: E402
from planner.workloads.training import estimate_job  # noqa: E402


def main():
    job = load_job(ROOT / "examples" / "resnet50-objectstore-files.yaml")
    cfg = SimConfig.from_estimate(estimate_job(job), job)
    t0 = time.perf_counter()
    w = workers_needed(cfg)
    dt = time.perf_counter() - t0
    print(f"workers_needed: {dt:.2f} s; answer {w['workers_needed']} workers ({w['bound']}), "
          f"GPU-bound {w['gpu_bound_samples_per_s']:,.0f} samples/s")
    for r in w["rows"]:
        print(f"  {r['workers']:>5} workers: {r['share_of_gpu_bound']:.4f} of GPU-bound")
    print(" ", w["simulated"]["words"])


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
