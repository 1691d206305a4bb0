"""Simulator speed: 10,000 steps of an 8-stage pipeline with 8 data-parallel replicas.

Prints events/s and steps/s with the steady-state shortcut (the default: once three windows of
step times agree the rest is extrapolated — reported by the run) and without it (every step
simulated), and with a DataLoader per replica. Goal (issue #5): <= 2 s on this machine.

    python benchmarks/bench_simulate.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from planner.simulate import LoaderConfig, PipelineConfig, SimConfig, simulate  # noqa: E402
from planner.simulate.resources import STORAGE_PROFILES  # noqa: E402

STEPS = 10_000


def case(name, cfg, steady):
    t0 = time.perf_counter()
    r = simulate(cfg, steps=STEPS, seed=0, steady_state=steady)
    dt = time.perf_counter() - t0
    how = (f"shortcut at step {r.steady_state_at_step}, {r.simulated_steps:,} simulated" if r.extrapolated
           else "every step simulated")
    print(f"{name:<44} {dt:6.2f} s  {r.events / dt:>9,.0f} events/s  {STEPS / dt:>8,.0f} steps/s  "
          f"({r.events:,} events; {how})")
    return dt


def main():
    pipe = PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, pp=8, m=16, dp=8, t_dp_comm=0.05, dp_buckets=4,
                          t_optimizer=0.005, micro_batch=4, jitter_cv=0.05)
    plain = SimConfig(pipe)
    loader = SimConfig(pipe, loader=LoaderConfig(workers=4, decode_s=0.004, storage=STORAGE_PROFILES["local_nvme"],
                                                 sample_bytes=1e5, device_bytes=6e5))
    print(f"{STEPS:,} steps, pp=8 (1F1B, m=16), dp=8, 5% per-step jitter per replica")
    case("no loader, steady-state shortcut", plain, True)
    case("no loader, no shortcut", plain, False)
    case("DataLoader per replica, steady-state shortcut", loader, True)
    case("DataLoader per replica, no shortcut", loader, False)


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
