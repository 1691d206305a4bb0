"""A calibration profile's data-pipeline measurements (JPEG decode per core, one reader's storage
throughput) reach the answers: they fill the job's ``data`` fields the job leaves unset
(planner.hardware.data_rates), the job's own values win, and without a profile nothing moves.

The expected step times are the loader's own arithmetic, from the measured numbers: a replica's
W workers each build whole batches, so a decode-bound replica takes ``samples x decode / W`` per step
and a read-bound one ``samples x bytes / (W x per-reader bandwidth)``."""
import json
from pathlib import Path

import pytest

from hardware_catalog import load_catalog
from planner.hardware.data_rates import measured_lines, with_measured_data
from planner.hardware.profile import PROFILES_DIR, load_profile
from planner.simulate.resources import STORAGE_PROFILES
from planner.spec import load_job_dict
from planner.workloads import Context, plan
from conftest import answered

H100 = "H100-SXM-80GB"
GLOBAL, GPUS, SAMPLE_BYTES = 8192, 8, 110_000
PER_REPLICA = GLOBAL // GPUS  # samples each data-parallel replica's loader builds per step


def _profile(tmp_path: Path, decode_s=None, storage_bw=None, storage_path="/data", cache_dropped=True,
             name="p.json") -> Path:
    """The CI example profile's data-pipeline rows, as a profile measured on an H100 node (a given profile
    must match the job's GPU type); only the data rates are fitted, so the GPU's efficiencies stay priors."""
    ex = json.loads((PROFILES_DIR / "cpu-ci-example.json").read_text())
    fp = dict(ex["fingerprint"], device="cuda", device_name="NVIDIA H100 80GB HBM3", catalog_gpu=H100)
    fitted = {}
    if decode_s is not None:
        fitted["decode_s_per_sample"] = decode_s
    if storage_bw is not None:
        fitted["storage_read_bw"] = storage_bw
    raw = {"decode": ex["raw"]["decode"],
           "storage": dict(ex["raw"]["storage"], path=storage_path, bw=storage_bw, cache_dropped=cache_dropped)}
    p = tmp_path / name
    p.write_text(json.dumps(dict(schema_version=1, fingerprint=fp, raw=raw, fitted=fitted, notes=[])))
    return p


def _example_decode_s() -> float:
    """The CI example's measured decode + augment, seconds per sample on one core."""
    return json.loads((PROFILES_DIR / "cpu-ci-example.json").read_text())["fitted"]["decode_s_per_sample"]


def _job(**data):
    """ResNet-50 (examples/resnet50-*.yaml) on one p5.48xlarge, DDP over its 8 GPUs."""
    return load_job_dict({
        "model": {"preset": "resnet50"},
        "training": {"global_batch": GLOBAL, "micro_batch": 256, "precision": "bf16", "optimizer": "sgd_momentum",
                     "recompute": "none", "epochs": 90, "dataset_samples": 1281167},
        "parallel": {"tp": 1, "pp": 1, "zero": 0},
        "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
        "data": {"format": "shards", "sample_bytes": SAMPLE_BYTES, "dataset_samples": 1281167, "decode_cv": 0, **data},
    })


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _sim(job, catalog, profile_path=None):
    prof = load_profile(profile_path) if profile_path else None
    return plan("simulate", job, Context(catalog=catalog, profile=prof, steps=200, answers=False)).result


def _step(sim) -> float:
    return sim.result.steady_step_time_s or sim.result.step_time_s["mean"]


def test_measured_decode_makes_the_job_decode_bound_by_the_measured_amount(tmp_path, catalog):
    """No decode in the job (default 0): the GPUs bind. With the profile's 3.41 ms per sample per core and 3
    workers per replica (4 vCPUs per GPU, one kept for the trainer), each replica's loader builds
    1,024 samples a step in 1,024 x 3.41 ms / 3 = 1.165 s, and the step is that."""
    job = _job(storage="memory", vcpus_per_gpu=4)
    decode = _example_decode_s()
    without = _sim(job, catalog)
    with_ = _sim(job, catalog, _profile(tmp_path, decode_s=decode))
    workers = 4 - 1
    expected = PER_REPLICA * decode / workers
    assert _step(without) < 0.5 * expected  # compute-bound without the measurement
    assert _step(with_) == pytest.approx(expected, rel=0.03)
    assert with_.result.samples_per_s == pytest.approx(GPUS * workers / decode, rel=0.03)
    line = next(m for m in with_.measured if m.startswith("data.decode_ms_per_sample"))
    assert f"decode {decode * 1e3:.3g} ms/sample/core from calibration profile {tmp_path / 'p.json'}" in line
    assert "one core of AMD EPYC" in line  # the host that ran calibrate, said
    assert not without.measured


@pytest.mark.parametrize("written", [1.0, 0.0])
def test_the_jobs_own_decode_wins(tmp_path, catalog, written):
    """A job that writes ``decode_ms_per_sample`` keeps it, even 0 (the default's value, written on purpose)."""
    job = _job(storage="memory", vcpus_per_gpu=4, decode_ms_per_sample=written)
    sim = _sim(job, catalog, _profile(tmp_path, decode_s=_example_decode_s()))
    plain = _sim(job, catalog)
    assert _step(sim) == pytest.approx(_step(plain), rel=1e-9)
    if written:
        assert _step(sim) == pytest.approx(PER_REPLICA * written / 1e3 / 3, rel=0.03)
    assert not any(m.startswith("data.decode_ms_per_sample") for m in sim.measured)


def test_measured_storage_is_each_workers_connection(tmp_path, catalog):
    """One reader at 100 MB/s from /data, a network filesystem, one worker per replica and no decode: each worker
    streams its replica's 1,024 x 110 kB a step over its own connection, 1.126 s, slower than the storage kind's
    default (its 1.25 GB/s aggregate binds first: 8,192 x 110 kB / 1.25 GB/s = 0.72 s)."""
    job = _job(storage="network_fs", workers_per_gpu=1, decode_ms_per_sample=0)
    bw = 100e6
    with_ = _sim(job, catalog, _profile(tmp_path, storage_bw=bw))
    without = _sim(job, catalog)
    agg = STORAGE_PROFILES["network_fs"].aggregate_bw
    assert _step(without) == pytest.approx(GLOBAL * SAMPLE_BYTES / agg, rel=0.03)
    assert _step(with_) == pytest.approx(PER_REPLICA * SAMPLE_BYTES / bw, rel=0.03)
    assert any("storage read 0.8 Gb/s per reader from calibration profile" in m for m in with_.measured)


def test_the_aggregate_is_the_jobs_or_the_kinds_at_least_one_reader(tmp_path, catalog):
    """One reader never sets the aggregate: the kind's default stays, raised to the reader's rate where that is
    faster; a job's ``storage_gbps`` stays as written."""
    from planner.simulate import SimConfig
    from planner.workloads.training import estimate_job

    fast = 4e9  # one reader faster than network_fs's 1.25 GB/s default aggregate
    prof = load_profile(_profile(tmp_path, storage_bw=fast))
    for data, agg in (({}, fast), ({"storage_gbps": 20}, 20e9 / 8)):
        job = with_measured_data(_job(storage="network_fs", **data), prof)
        cfg = SimConfig.from_estimate(estimate_job(job, catalog, prof), job)
        assert cfg.loader.storage.conn_bw == pytest.approx(fast)
        assert cfg.loader.storage.aggregate_bw == pytest.approx(agg)
    slow = load_profile(_profile(tmp_path, storage_bw=1e8, name="slow.json"))
    job = with_measured_data(_job(storage="network_fs"), slow)
    cfg = SimConfig.from_estimate(estimate_job(job, catalog, slow), job)
    assert cfg.loader.storage.aggregate_bw == STORAGE_PROFILES["network_fs"].aggregate_bw


@pytest.mark.parametrize("case, why", [
    (dict(storage_path="(temporary folder)"), "temporary folder"),
    (dict(cache_dropped=False), "page cache"),
])
def test_a_storage_figure_that_did_not_measure_the_data_is_not_used_and_said(tmp_path, case, why):
    prof = load_profile(_profile(tmp_path, storage_bw=1e8, **case))
    job = _job(storage="network_fs")
    out = with_measured_data(job, prof)
    assert out.data.storage_stream_gbps is None
    assert any("is not used" in a and why in a for a in measured_lines(out))
    mem = with_measured_data(_job(storage="memory"), prof)
    assert mem.data.storage_stream_gbps is None


def test_no_profile_or_nothing_measured_changes_nothing(tmp_path, catalog):
    job = _job(storage="network_fs", workers_per_gpu=1)
    assert with_measured_data(job, None) is job
    nothing = load_profile(_profile(tmp_path))  # a profile without data-pipeline fits
    assert with_measured_data(job, nothing) is job
    assert _step(_sim(job, catalog, tmp_path / "p.json")) == _step(_sim(job, catalog))
    no_data = job.model_copy(update={"data": None})
    assert with_measured_data(no_data, load_profile(_profile(tmp_path, decode_s=0.003, name="d.json"))) is no_data


def test_applying_twice_adds_nothing(tmp_path):
    prof = load_profile(_profile(tmp_path, decode_s=0.003, storage_bw=1e8))
    once = with_measured_data(_job(storage="network_fs"), prof)
    assert with_measured_data(once, prof) == once
    assert len(measured_lines(once)) == 2


def test_every_answer_prints_the_measured_value_with_its_source(tmp_path, cli):
    """simulate (text and --json), estimate and recommend (their assumptions, text and --json) name the value and
    the profile file."""
    job_path = tmp_path / "job.yaml"
    job_path.write_text(json.dumps(_job(storage="memory", vcpus_per_gpu=4).model_dump(
        exclude_none=True, exclude={"assumptions"}, exclude_unset=True)))
    prof = _profile(tmp_path, decode_s=_example_decode_s())
    want = f"decode {_example_decode_s() * 1e3:.3g} ms/sample/core from calibration profile {prof}"
    sim = answered(cli("simulate", job_path, "--profile", prof, "--steps", "50", "--no-answers", "--json"))
    assert any(want in m for m in sim["measured"])
    code, out, err = cli("simulate", job_path, "--profile", prof, "--steps", "50", "--no-answers")
    assert code == 0, err
    assert want in " ".join(out.split())
    for cmd in ("estimate", "recommend"):
        res = answered(cli(cmd, job_path, "--profile", prof, "--json", *(("--top", "1") if cmd == "recommend" else ())))
        assert any(want in a for a in res["assumptions"]), cmd
    assert "measured" not in answered(cli("simulate", job_path, "--steps", "50", "--no-answers", "--json"))


def test_estimates_evaluation_passes_read_the_measured_decode(tmp_path, catalog):
    """The analytic side reads the same rate: ``estimate``'s evaluation passes (loader-bound once the decode is
    measured) take ceil(50,000 / (8 x 256)) = 25 micro-batches of 256 samples per replica, decoded by 3 workers:
    25 x 256 x 3.41 ms / 3 a pass, where without the profile the forward passes alone take a fraction of that."""
    import math

    from planner.workloads.training import estimate_job

    job = _job(storage="memory", vcpus_per_gpu=4).model_copy(update={"evaluation": load_job_dict({
        "model": {"preset": "resnet50"}, "evaluation": {"every_steps": 39, "samples": 50000}}).evaluation})
    decode = _example_decode_s()
    prof = load_profile(_profile(tmp_path, decode_s=decode))
    with_, without = estimate_job(job, catalog, prof), estimate_job(job, catalog)
    n_mb = math.ceil(50000 / (GPUS * 256))
    expected = n_mb * 256 * decode / 3
    assert with_.cost.evaluation["mean_s"] == pytest.approx(expected, rel=1e-6)
    assert without.cost.evaluation["mean_s"] < 0.5 * expected
