"""QA 56: a demanding user's pass over serve, data-bound and tabular jobs, fine-tuning, simulate, report, calibrate
on CPU and unusual estimates (docs/qa_log.md "QA 56").

Each test fails on the code before its fix."""
from __future__ import annotations

import pytest
import simpy
from conftest import EXAMPLES, answered, write_job

from planner.simulate.config import LoaderConfig, PipelineConfig, SimConfig
from planner.simulate.resources import STORAGE_PROFILES, CpuPool


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


def test_simulate_says_the_host_copies_the_analytic_step_leaves_out(cli):
    """The ResNet-50 files example's simulated p50 (0.2198 s) sat 16% over estimate's 0.1889 s with no reason printed:
    the simulation puts the host-to-device copy of 256 fp32 images a micro-batch (602 KB each, 20 GB/s) before each
    forward, four micro-batches a step, and estimate does not. The result carries each copy a step and the text says
    them beside the analytic step; the p50's excess over the analytic step is the H2D copy (the GPU-bound steps)."""
    from planner.simulate.config import H2D_BW, PIN_BW

    job = str(EXAMPLES / "resnet50-objectstore-files.yaml")
    d = answered(cli("simulate", job, "--no-answers", "--steps", "120", "--json"))
    data = d["data"]
    images = 4 * 256 * 3 * 224 * 224 * 4  # bytes a step: four micro-batches of 256 fp32 224 x 224 RGB images
    assert abs(data["h2d_s_per_step"] - images / H2D_BW) < 1e-9
    assert abs(data["pin_s_per_step"] - images / PIN_BW) < 1e-9
    excess = d["step_time_s"]["p50"] - d["analytic_step_time_s"]
    assert abs(excess - data["h2d_s_per_step"]) < 0.05 * data["h2d_s_per_step"]
    code, out, _ = cli("simulate", job, "--no-answers", "--steps", "120")
    assert code == 0
    text = " ".join(out.split())
    assert "host copies H2D 0.0308 s a step (20 GB/s assumed); pinned staging 0.0771 s" in text
    assert "not in the analytic step" in text


def test_gpu_bound_rate_reads_nothing():
    """The workers answer's "of what the GPUs take" is the same job with samples that cost nothing to read or decode
    (answers ``_gpu_bound``); it kept reading each cached sample's bytes at RAM speed (10 GB/s a worker), so with 1 GB
    samples the "GPU-bound" rate was itself read-bound: one worker, 32 samples a 30 ms step, read 32 GB a step
    (3.2 s) and the GPUs' rate read ~10 samples/s where they take ~1,070. Now it is the GPUs' step: 32 samples over
    the 30 ms of compute."""
    from planner.simulate.answers import _gpu_bound

    ld = LoaderConfig(workers=1, decode_s=0.001, decode_cv=0.0, format="files", sample_bytes=1e9,
                      storage=STORAGE_PROFILES["object_store"])
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=32), loader=ld)
    r = _gpu_bound(cfg, 100, 0)
    assert r.steady_samples_per_s == pytest.approx(32 / 0.03, rel=0.02)
