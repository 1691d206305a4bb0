"""QA 56: a demanding user's pass over serve, data-bound and tabular jobs, fine-tuning, simulate, report, calibrate
on CPU and unusual estimates (docs/qa_log.md "QA 56").

Each test fails on the code before its fix."""
from __future__ import annotations

import simpy
from conftest import answered, write_job

from planner.simulate.resources import CpuPool


def _run_bounded(env: simpy.Environment, ev, events: int = 1_000) -> None:
    """Step the engine at most ``events`` times until ``ev`` fires (a livelock fails the test instead of hanging it)."""
    for _ in range(events):
        if ev.triggered:
            return
        env.step()


def test_cpu_pool_finishes_a_sliver_of_work_late_in_a_long_run():
    """The processor-sharing pool declared a job done once under 1e-12 core-seconds were left. Late in a long run
    the float clock cannot step that finely: a decode-bound ResNet-50 loader on 0.5 vCPUs a GPU was left 1.62e-12
    core-seconds at rate 0.5 at t = 32,878 s; its completion was re-planned 3.24e-12 s ahead, which rounds to the same
    time (the clock's spacing there is 7.3e-12 s), so nothing advanced and `planner simulate` spun forever on step 33."""
    env = simpy.Environment(initial_time=32878.484224152344)
    cpu = CpuPool(env, cores=0.5)
    ev = cpu.work(1.6200374375330284e-12)
    _run_bounded(env, ev)
    assert ev.triggered
    assert env.now - 32878.484224152344 < 1e-9


def test_simulate_decode_bound_loader_on_half_a_vcpu_finishes(cli, tmp_path):
    """End to end: the job that hung (ResNet-50, 500 ms of decode a sample, 0.5 vCPUs a GPU, so 4 cores a node)
    simulates its 40 steps: each waits on 8,192 samples x 0.5 s over 4 cores, about 1,024 s. An alarm turns the old
    livelock into a failure instead of a hung suite (the fixed run takes about 1 s)."""
    import signal

    def stuck(*_):
        raise TimeoutError("planner simulate still running after 60 s (the CpuPool livelock)")

    job = write_job(tmp_path, {
        "model": {"preset": "resnet50"},
        "training": {"global_batch": 8192, "micro_batch": 256, "precision": "bf16", "optimizer": "sgd_momentum",
                     "recompute": "none", "epochs": 1, "dataset_samples": 1281167},
        "parallel": {"tp": 1, "pp": 1, "zero": 0},
        "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
        "data": {"storage": "local_nvme", "format": "shards", "decode_ms_per_sample": 500, "vcpus_per_gpu": 0.5}})
    old = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(60)
    try:
        d = answered(cli("simulate", str(job), "--no-answers", "--steps", "40", "--json"))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert d["simulated_steps"] == 40
    assert 1000 < d["step_time_s"]["mean"] < 1100
