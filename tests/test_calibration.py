"""Calibration: profile schema and errors, how measured values move predictions, a quick real
calibration on this CPU (gloo collectives over 2 local processes), and the loop at tiny size."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from planner.hardware.profile import (SCHEMA_VERSION, Fingerprint, Fitted, Profile, efficiency_from_profile,
                                 load_profile, machine_gpu, machine_option, save_profile)
from planner.hardware.efficiency import Efficiency, prior_for
from planner.errors import InputError
from planner.spec import ModelSpec


def make_profile(**fitted) -> Profile:
    base = dict(peak_flops={"fp32": 1e11, "bf16": 2e10}, primary_dtype="fp32", sm_count=2, gemm_max=0.9,
                gemm_k_half=32.0, gemm_table=[(256, 256, 256, 0.85), (64, 64, 64, 0.2)], attn_fwd=0.3,
                attn_bwd=0.25, hbm_bw=2e10, hbm_peak_bw=2e10, hbm=0.6, launch_s=6e-6, intra_alpha_s=1e-4,
                intra_busbw=2e9)
    base.update(fitted)
    fp = Fingerprint(device="cpu", device_name="Test CPU", torch_version="2.13.0", created="2026-01-01T00:00:00",
                     cpu_count=2, host_memory_bytes=8 << 30)
    return Profile(schema_version=SCHEMA_VERSION, fingerprint=fp, raw={"gemm": []}, fitted=Fitted(**base))


# ------------------------------------------------------------------------------ schema
def test_round_trip(tmp_path):
    p = make_profile()
    f = tmp_path / "p.json"
    save_profile(p, f)
    q = load_profile(f)
    assert q == p
    assert q.fitted.gemm_table[0] == (256, 256, 256, 0.85)


def test_corrupt_json_names_profile(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"schema_version": 1, "fingerprint": ')
    with pytest.raises(InputError) as e:
        load_profile(f)
    assert e.value.field == "profile" and "not valid JSON" in e.value.message


def test_wrong_schema_version(tmp_path):
    d = json.loads(make_profile().model_dump_json())
    d["schema_version"] = 99
    f = tmp_path / "p.json"
    f.write_text(json.dumps(d))
    with pytest.raises(InputError) as e:
        load_profile(f)
    assert e.value.field == "profile.schema_version"


@pytest.mark.parametrize("field,value", [("hbm_bw", -5.0), ("gemm_max", 0.0), ("launch_s", -1e-6),
                                         ("intra_busbw", -1.0), ("gemm_table", [[64, 64, 64, -0.5]]),
                                         ("peak_flops", {"fp32": -1})])
def test_negative_value_names_field(tmp_path, field, value):
    d = json.loads(make_profile().model_dump_json())
    d["fitted"][field] = value
    f = tmp_path / "p.json"
    f.write_text(json.dumps(d))
    with pytest.raises(InputError) as e:
        load_profile(f)
    assert e.value.field == f"profile.fitted.{field}"


def test_unknown_fitted_field_rejected(tmp_path):
    d = json.loads(make_profile().model_dump_json())
    d["fitted"]["gemm_maxx"] = 0.5
    f = tmp_path / "p.json"
    f.write_text(json.dumps(d))
    with pytest.raises(InputError) as e:
        load_profile(f)
    assert e.value.field == "profile.fitted.gemm_maxx"


# ------------------------------------------------------------------------------ mapping
def test_efficiency_records_provenance():
    eff = efficiency_from_profile(make_profile(), prior_for("H100-SXM-80GB"))
    assert eff.gemm_max == 0.9 and eff.launch_s == 6e-6 and eff.sm_count == 2
    assert eff.sources["gemm_max"].startswith("measured: Test CPU")
    assert eff.sources["hbm"].startswith("measured")
    assert "attn_fwd" in eff.sources and eff.gemm_table is not None


def test_per_dtype_fits_selected():
    p = make_profile(by_dtype={"bf16": {"gemm_max": 0.2, "gemm_k_half": 0.0, "attn_fwd": 1.7}})
    e32 = efficiency_from_profile(p, Efficiency(), precision="fp32")
    e16 = efficiency_from_profile(p, Efficiency(), precision="bf16")
    assert e32.gemm_max == 0.9 and e16.gemm_max == 0.2 and e16.attn_fwd == 1.7
    assert e16.sources["gemm_max"].endswith("bf16")


def test_machine_option_for_cpu_profile():
    hw = machine_option(make_profile(), "fp32")
    assert hw.gpu.peak("fp32") == 1e11 and hw.gpu.hbm_bw == 2e10
    assert hw.gpu.memory_bytes == 8 << 30 and hw.gpus_per_node == 1
    assert machine_gpu(make_profile()).name == "cpu:Test CPU"


def _predict(profile, precision="fp32"):
    from calibration.loop import single_device, training_spec
    from planner.model.step_time import step_time

    m = ModelSpec(layers=2, hidden=256, heads=4, kv_heads=2, vocab=4096)
    return float(step_time(m, training_spec(128, 4, precision), single_device(4), machine_option(profile, precision))["step_time_s"][0])


def test_lower_gemm_efficiency_slows_prediction():
    fast = make_profile()
    slow = make_profile(gemm_max=0.45, gemm_table=[(256, 256, 256, 0.42), (64, 64, 64, 0.1)])
    assert _predict(slow) > 1.3 * _predict(fast)


def test_lower_bandwidth_slows_prediction():
    fast = make_profile()
    slow = make_profile(hbm=0.15)
    assert _predict(slow) > _predict(fast)
    # and on a catalog GPU the measured hbm fraction moves the memory-bound part the same way
    from hardware_catalog import load_catalog

    gpu = load_catalog().gpu("H100-SXM-80GB")
    prior = prior_for(gpu.name)
    lo = efficiency_from_profile(make_profile(hbm=0.3), prior, gpu)
    hi = efficiency_from_profile(make_profile(hbm=0.9), prior, gpu)
    assert lo.memory_time(1e9, gpu.hbm_bw) > hi.memory_time(1e9, gpu.hbm_bw)


def test_catalog_gpu_name_mapping():
    from calibration.bench import catalog_gpu_for

    assert catalog_gpu_for("NVIDIA H100 80GB HBM3", 80 * 2**30) == "H100-SXM-80GB"
    assert catalog_gpu_for("NVIDIA A100-SXM4-40GB", 40 * 2**30) == "A100-SXM-40GB"
    assert catalog_gpu_for("NVIDIA H100 PCIe", 80 * 2**30) == "H100-PCIe-80GB"
    assert catalog_gpu_for("Some Unknown Accelerator") is None


def test_alpha_beta_fit_recovers_parameters():
    from calibration.bench import fit_alpha_beta

    n, alpha, bw = 4, 5e-6, 100e9
    rows = [dict(op="all_reduce", bytes=b, seconds=2 * (n - 1) * alpha + 2 * (n - 1) / n * b / bw)
            for b in (1 << 12, 1 << 16, 1 << 20, 1 << 24)]
    a, b = fit_alpha_beta(rows, "all_reduce", n)
    assert math.isclose(a, alpha, rel_tol=1e-3) and math.isclose(b, bw, rel_tol=1e-3)


def test_gemm_fit_recovers_parameters():
    from calibration.bench import fit_gemm

    truth = Efficiency(gemm_max=0.8, gemm_k_half=100.0, sm_count=4)
    shapes = [(m, n, k) for m in (64, 256, 1024) for n in (64, 256, 1024) for k in (32, 128, 512, 2048)]
    table = [(m, n, k, float(truth.gemm_efficiency(m, n, k))) for m, n, k in shapes]
    fit = fit_gemm(table, sm_count=4)
    assert abs(fit["gemm_max"] - 0.8) < 0.02 and abs(fit["gemm_k_half"] - 100) < 10


def test_a_tiny_gemm_measured_far_below_the_headline_floor_still_makes_a_profile(tmp_path):
    """The CI runner measured its 64^3 GEMM at 6.4e-4 of the CPU's peak: the profile refused it against the 1e-3 floor
    of gemm_max and the whole calibration failed. A table row is one measurement, kept as measured down to
    MIN_TABLE_EFFICIENCY (1e-7) and held there below it; above the peak it is held at 1."""
    from calibration.bench import fit_gemm
    from planner.hardware.profile import MIN_TABLE_EFFICIENCY, Fitted

    table = [(64, 64, 64, 6.4e-4), (128, 128, 128, 1e-12), (1024, 1024, 1024, 0.5), (4096, 4096, 4096, 1.3)]
    fit = fit_gemm(table, sm_count=4)
    assert [row[3] for row in fit["gemm_table"]] == [6.4e-4, MIN_TABLE_EFFICIENCY, 0.5, 1.0]
    fitted = Fitted(peak_flops={"fp32": 1e11}, primary_dtype="fp32", gemm_max=fit["gemm_max"],
                    gemm_k_half=fit["gemm_k_half"], gemm_table=fit["gemm_table"])
    assert fitted.gemm_table[0][3] == 6.4e-4 and 1e-3 <= fitted.gemm_max <= 1


# ------------------------------------------------------------------------------ timing
class _FakeClock:
    """calibration.timing's clock, advanced by the timed function itself (no wall time, no load)."""
    def __init__(self, first_s: float, then_s: float):
        self.now, self.first_s, self.then_s, self.calls = 0.0, first_s, then_s, 0

    def fn(self):
        self.now += self.first_s if self.calls == 0 else self.then_s
        self.calls += 1


@pytest.mark.parametrize("first_s, then_s, calls, expect", [
    (3.5, 3.1, 2, 3.1),   # a slow call: the timed warm-up and one call (three calls before small30)
    (2.9, 3.1, 2, 2.9),   # the warm-up was the faster one: min() of the two
    (0.5, 2 ** -12, 2 + 5 * 8, 2 ** -12),  # a slow first call of a fast kernel: batched, the warm-up in no median
])
def test_time_fn_calls_and_result(monkeypatch, first_s, then_s, calls, expect):
    from calibration import timing

    clock = _FakeClock(first_s, then_s)
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock.now)
    assert timing.time_fn(clock.fn, "cpu", min_s=0.01) == pytest.approx(expect)
    assert clock.calls == calls


# ------------------------------------------------------------------------------ real runs (CPU)
@pytest.fixture(scope="module")
def quick_profile(tmp_path_factory):
    from calibration.bench import run_calibration

    out = tmp_path_factory.mktemp("cal") / "profile.json"
    prof = run_calibration(device="cpu", quick=True, out_path=out, progress=False)
    return prof, out


@pytest.mark.slow
def test_quick_calibration_on_cpu(quick_profile):
    prof, out = quick_profile
    assert load_profile(out).model_dump(mode="json") == prof.model_dump(mode="json")
    f = prof.fitted
    assert prof.fingerprint.device == "cpu" and prof.fingerprint.catalog_gpu is None
    for name in ("gemm_max", "gemm_k_half", "attn_fwd", "attn_bwd", "hbm", "hbm_bw", "launch_s",
                 "decode_s_per_sample", "storage_read_bw"):
        assert getattr(f, name) is not None and math.isfinite(getattr(f, name)), name
    assert set(f.peak_flops) >= {"fp32", "bf16"}
    assert f.gemm_table and all(0 < r[3] <= 1.5 for r in f.gemm_table)
    # gloo collectives ran over 2 local processes and were fitted
    coll = prof.raw["collectives"]
    assert coll.get("world_size") == 2 and coll["backend"] == "gloo", coll
    assert {r["op"] for r in coll["rows"]} >= {"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"}
    assert f.intra_busbw and f.intra_alpha_s is not None


@pytest.mark.slow
def test_loop_tiny_runs_with_finite_errors(quick_profile, monkeypatch):
    """The goals are step time within 15% and memory within 10% (calibration/README.md reports
    where the loop stands; ``python -m calibration.loop`` measures it). Wall-clock ratios depend on
    what else the machine runs (0.38 once against a bound of 0.4 while another process used the
    CPU), so the timing goal is measured by the loop as a benchmark, not asserted here: this test
    checks that every row runs and yields positive, finite times, and the memory error, which does
    not depend on load, within 30%."""
    from calibration import loop

    prof, _ = quick_profile
    monkeypatch.setattr(loop, "loop_plan", lambda quick, device: dict(
        seq=64, batches={"fp32": (2,), "bf16": (1,)}, warmup=1, steps=2, scale=None))
    rows = loop.run_loop(prof, quick=True, device="cpu", progress=False)
    assert len(rows) == 4
    for r in rows:
        assert np.isfinite(r.err_s) and np.isfinite(r.err_mem)
        assert r.pred_s > 0 and r.meas_s > 0, r
        assert abs(r.err_mem) < 0.3, r
    assert "llama-mini" in loop.error_table(rows, prof)


# ------------------------------------------------------------------------------ developer scripts' outputs
# calibration.loop --json, calibration.collectives -o and calibration.gbdt -o wrote with a plain open():
# an existing file was replaced without a word, and a half-written file was left on failure. They now
# write through planner.outputs, as `planner calibrate -o` does.
def _one_error_line(err: str, field: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: "), err


@pytest.fixture
def fake_loop(monkeypatch):
    """calibration.loop.main without measuring: a fixed profile, two made-up rows."""
    from calibration import bench, loop

    calls = []

    def calibrate(**kw):
        calls.append(kw)
        return make_profile()

    rows = [loop.Row("gpt2-mini", "fp32", 1, 64, 1000, 0.011, 0.010, 2.2e6, 2.0e6)]
    monkeypatch.setattr(bench, "run_calibration", calibrate)
    monkeypatch.setattr(bench, "resolve_device", lambda device: "cpu")
    monkeypatch.setattr(loop, "run_loop", lambda prof, quick, device: rows)
    return loop, calls


def test_loop_json_never_replaces_an_existing_file(fake_loop, tmp_path, capsys):
    loop, calls = fake_loop
    f = tmp_path / "rows.json"
    f.write_text("mine")
    assert loop.main(["--json", str(f)]) == 2
    _one_error_line(capsys.readouterr().err, "--json")
    assert f.read_text() == "mine" and calls == []  # refused before calibrating
    assert loop.main(["--json", str(f), "--force"]) == 0
    got = json.loads(f.read_text())
    assert got[0]["model"] == "gpt2-mini" and got[0]["err_s"] == pytest.approx(0.1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.json"]  # no temporary file left


@pytest.mark.parametrize("where", ["missing/rows.json", "."])
def test_loop_json_bad_path_is_one_line(fake_loop, tmp_path, capsys, where):
    loop, calls = fake_loop
    assert loop.main(["--json", str(tmp_path / where)]) == 2
    _one_error_line(capsys.readouterr().err, "--json")
    assert calls == []


def test_collectives_out_never_replaces_an_existing_file(monkeypatch, tmp_path, capsys):
    from calibration import collectives as C

    def no_group(device):
        raise AssertionError("the process group started before the output path was checked")

    monkeypatch.setattr(C, "_init", no_group)
    f = tmp_path / "coll.json"
    f.write_text("mine")
    assert C.main(["--device", "cpu", "-o", str(f)]) == 2
    _one_error_line(capsys.readouterr().err, "--out")
    assert f.read_text() == "mine"
    assert C.main(["--device", "cpu", "-o", str(tmp_path / "no" / "coll.json")]) == 2
    _one_error_line(capsys.readouterr().err, "--out")
    assert C.main(["--device", "cpu", "-o", str(tmp_path / "new.json"), "--sizes", "4096,abc"]) == 2
    _one_error_line(capsys.readouterr().err, "--sizes")

    rows = [dict(op="all_reduce", bytes=4096, seconds=1e-5, busbw=4e8)]
    monkeypatch.setattr(C, "_init", lambda device: "gloo")
    monkeypatch.setattr(C, "measure", lambda sizes, device: rows)
    monkeypatch.setattr(C.dist, "get_world_size", lambda: 1)
    monkeypatch.setattr(C.dist, "get_rank", lambda: 0)
    monkeypatch.setattr(C.dist, "destroy_process_group", lambda: None)
    assert C.main(["--device", "cpu", "-o", str(f), "--sizes", "4096", "--force"]) == 0
    assert json.loads(f.read_text())["rows"] == rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coll.json"]


def test_gbdt_out_never_replaces_an_existing_file(monkeypatch, tmp_path, capsys):
    pytest.importorskip("xgboost")
    from calibration import gbdt

    def no_measuring(*a, **kw):
        raise AssertionError("measured before the output path was checked")

    monkeypatch.setattr(gbdt, "time_training", no_measuring)
    f = tmp_path / "gbdt.json"
    f.write_text("mine")
    assert gbdt.main(["-o", str(f)]) == 2
    _one_error_line(capsys.readouterr().err, "--out")
    assert f.read_text() == "mine"
