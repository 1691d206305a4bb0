"""prof41: a calibration profile's efficiencies mean something only on the device that measured them. A profile
whose fingerprint says it was measured on the host CPU, or on another GPU, but whose ``catalog_gpu`` names a catalog
GPU is refused (planner.hardware.profile ``_check_measured_on``); until prof41 the shipped CPU example relabelled
``catalog_gpu: H100`` priced H100 jobs with a 2-core CPU's GEMM fits (qa63: a 9.6 min step)."""
import json

import pytest

from conftest import EXAMPLES, answered, gpu_profile_dict, refused, write_gpu_profile
from planner.errors import InputError
from planner.hardware.profile import PROFILES_DIR, load_profile

JOB = EXAMPLES / "llama3-8b-estimate.yaml"  # cluster.gpu H100-SXM-80GB
FIELD = "error: --profile.fingerprint.catalog_gpu: "


def _write(tmp_path, d: dict, name="p.json"):
    p = tmp_path / name
    p.write_text(json.dumps(d))
    return p


def _cpu_example(**fingerprint) -> dict:
    """The shipped CPU example with fingerprint fields changed, its CPU-only attention fits (above a datasheet peak)
    dropped, so nothing but the label can refuse it."""
    d = json.loads((PROFILES_DIR / "cpu-ci-example.json").read_text())
    d["fingerprint"].update(fingerprint)
    d["fitted"].pop("by_dtype", None)
    d["fitted"].update(attn_fwd=0.5, attn_bwd=0.5)
    return d


def test_a_cpu_profile_labelled_h100_is_refused_naming_the_device(tmp_path, cli):
    p = _write(tmp_path, _cpu_example(catalog_gpu="H100"))
    line = refused(cli("estimate", JOB, "--json", "--profile", p))
    assert line.startswith(FIELD + f"{p}: measured on cpu (") and "but labelled H100-SXM-80GB" in line, line


def test_the_same_cpu_profile_without_a_label_still_loads(tmp_path):
    """The CPU profile's path (catalog_gpu null: the data-pipeline rates, calibration.loop) is untouched."""
    prof = load_profile(_write(tmp_path, _cpu_example(catalog_gpu=None)))
    assert prof.fingerprint.device == "cpu" and prof.fingerprint.catalog_gpu is None


@pytest.mark.parametrize("device,name,label", [
    ("cpu", "NVIDIA H100 80GB HBM3", "H100-SXM-80GB"),  # the host's kind, whatever its name says
    ("cuda", "NVIDIA A100-SXM4-80GB", "H100-SXM-80GB"),  # another GPU
    ("cuda", "NVIDIA H200", "H20-96GB"),  # a model number, not a prefix of one
    ("cuda", "AMD EPYC 7B13", "H100"),
])
def test_a_profile_measured_on_another_device_is_refused(tmp_path, device, name, label):
    d = gpu_profile_dict("H100-SXM-80GB")
    d["fingerprint"].update(device=device, device_name=name, catalog_gpu=label)
    with pytest.raises(InputError) as e:
        load_profile(_write(tmp_path, d), "--profile")
    assert e.value.field == "--profile.fingerprint.catalog_gpu" and f"measured on {device} ({name}) but labelled" in str(e.value)


@pytest.mark.parametrize("name,label", [("NVIDIA H100 80GB HBM3", "h100"), ("Tesla V100-SXM2-16GB", "V100"),
                                        ("AMD Instinct MI300X", "MI300X-192GB"), ("NVIDIA GH200 480GB", "GH200")])
def test_a_profile_measured_on_its_gpu_is_taken_by_name_or_alias(tmp_path, name, label):
    d = gpu_profile_dict("H100-SXM-80GB")
    d["fingerprint"].update(device_name=name, catalog_gpu=label)
    assert load_profile(_write(tmp_path, d)).fingerprint.catalog_gpu  # canonical name kept


def test_a_gpu_measured_profile_still_prices_the_job(tmp_path, cli):
    """The conftest fixture the relabelling tests now use: measured on an H100, it applies to the H100 job."""
    p = write_gpu_profile(tmp_path, catalog_gpu="H100-SXM-80GB")
    out = answered(cli("estimate", JOB, "--json", "--profile", p))
    assert out["step_time_s"] > 0
