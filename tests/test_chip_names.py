"""code42: which catalog GPU a device name names is one rule (``hardware_catalog.chips``), read by the calibration
when it labels a profile (``calibration.bench.catalog_gpu_for``) and by the planner when it checks that label on
reading (``planner.hardware.profile``). Until code42 each side wrote its own copy; the calibration labelled a device
spelled as a catalog alias ("Blackwell Ultra", "Trillium", "HL-225") that the planner then refused to read."""
import json

import pytest

from conftest import gpu_profile_dict
from hardware_catalog import load_catalog
from hardware_catalog.chips import device_words, model_numbers
from planner.hardware.profile import load_profile

pytest.importorskip("torch")
from calibration.bench import catalog_gpu_for  # noqa: E402  (imports torch)

CATALOG = load_catalog()


def _device_names(gpu) -> list[str]:
    """Device names a runtime could report for ``gpu``: each catalog name as it is and in torch's spelling."""
    names = (gpu.name, *gpu.aliases)
    return [*names, *(f"NVIDIA {n.replace('-', ' ')}" for n in names)]


def _reads(tmp_path, device_name: str, label: str) -> bool:
    """Whether the planner reads a CUDA profile measured on ``device_name`` and labelled ``label``."""
    d = gpu_profile_dict("H100-SXM-80GB")
    d["fingerprint"].update(device_name=device_name, catalog_gpu=label)
    p = tmp_path / "p.json"
    p.write_text(json.dumps(d))
    return load_profile(p, "--profile").fingerprint.catalog_gpu == label


@pytest.mark.parametrize("gpu", sorted(CATALOG.gpus), ids=str)
def test_every_label_the_calibration_writes_the_planner_reads(tmp_path, gpu):
    g = CATALOG.gpu(gpu)
    for device_name in _device_names(g):
        label = catalog_gpu_for(device_name, g.memory_bytes)
        assert label is not None, device_name
        assert _reads(tmp_path, device_name, label), (device_name, label)


@pytest.mark.parametrize("device_name,memory_gib,label", [
    ("NVIDIA H100 80GB HBM3", 79.2, "H100-SXM-80GB"), ("NVIDIA H100 NVL", 93.1, "H100-NVL-94GB"),
    ("NVIDIA H100 PCIe", 79.2, "H100-PCIe-80GB"), ("NVIDIA A100-SXM4-40GB", 39.4, "A100-SXM-40GB"),
    ("AMD Instinct MI300X", 191.5, "MI300X-192GB"), ("NVIDIA B200", 178.4, "B200-SXM-180GB"),
])
def test_real_device_names_map_and_read_back(tmp_path, device_name, memory_gib, label):
    assert catalog_gpu_for(device_name, int(memory_gib * 2**30)) == label
    assert _reads(tmp_path, device_name, label)


def test_a_device_name_is_matched_by_its_model_number_not_a_prefix():
    assert device_words("NVIDIA H100 80GB HBM3") == ("H100", "80GB", "HBM3")
    assert "H200" not in model_numbers(CATALOG.gpu("H20-96GB"))
    assert model_numbers(CATALOG.gpu("GB200-B200")) == {"GB200", "B200"}  # its alias B200-GB200 names its chip
    assert model_numbers(CATALOG.gpu("TPU-v5p")) >= {"V5P"} and "TPU" not in model_numbers(CATALOG.gpu("TPU-v5p"))
