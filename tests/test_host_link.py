"""The GPU-to-host link of activation / optimizer / FSDP2 offload copies is a catalog field (``gpus.csv``
``host_link_gbps_per_dir``, else the PCIe link), read as ``hardware_catalog.GPU.host_bw``. Until 2026-12-04
planner.model.offload matched NVLink-C2C figures by GPU name prefix, so an override row of a C2C part could not
state its link and the catalog could not say where the figures came from."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from hardware_catalog import CatalogError, load_catalog
from planner.model import offload
from conftest import refused

NEW_PART = ("gpus:\n  - {name: Grace-Next-GPU, vendor: v, memory_gib: 192, hbm_bw_tbps: 8, bf16_tflops: 2500, "
            "host_link_gbps_per_dir: 300, source: made-up test row}\n")


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.mark.parametrize("gpu, want", [("GH200-96GB", 450e9), ("GH200-144GB", 450e9), ("GB200-B200", 225e9),
                                       ("GB300-B300", 225e9), ("H100-SXM-80GB", 64e9), ("A100-SXM-80GB", 32e9),
                                       ("B200-SXM-180GB", 64e9), ("TPU-v5p", None), ("Trainium2", None)])
def test_host_link_is_read_from_the_catalog(cat, gpu, want):
    """The numbers of the name-prefix table (C2C: GH200 450, GB200 / GB300 225 GB/s a direction) and the PCIe
    rates (B200: Gen5 since 2026-12-04, the HGX B200 host side); a part with neither takes the Gen4 fallback in the
    offload model."""
    g = cat.gpu(gpu)
    assert g.host_bw == want
    hw = SimpleNamespace(gpu=g)
    assert offload.host_link_bps(hw) == pytest.approx((want or offload.PCIE_FALLBACK_BPS) * offload.PCIE_EFF)


def test_c2c_rows_cite_their_link(cat):
    for name in ("GH200-96GB", "GB200-B200", "GB300-B300"):
        assert "NVLink-C2C 900 GB/s" in cat.gpu(name).source, name


def test_an_override_row_states_its_own_host_link(tmp_path):
    """A part the name table never knew: the old code refused the column (not a known column) and could only have
    given it PCIe or the 32 GB/s fallback."""
    p = tmp_path / "o.yaml"
    p.write_text(NEW_PART)
    g = load_catalog([p]).gpu("Grace-Next-GPU")
    assert g.host_bw == 300e9 and g.pcie_bw is None
    assert offload.host_link_bps(SimpleNamespace(gpu=g)) == pytest.approx(300e9 * offload.PCIE_EFF)


@pytest.mark.parametrize("row, words", [
    ("{name: h100, host_link_gbps_per_dir: -5}", "host_link_gbps_per_dir: must be >= 0.001"),
    ("{name: h100, host_link_gbps_per_dir: 1e9}", "host_link_gbps_per_dir: must be at most"),
    ("{name: h100, host_link_gbps_per_dir: fast}", "host_link_gbps_per_dir: must be a number"),
    ("{name: a100, pcie_gbps_per_dir: 64}", "pcie_gbps_per_dir: 64 GB/s is more than a PCIe Gen4 x16 link carries"),
])
def test_bad_host_link_values_are_one_line(tmp_path, cli, row, words):
    p = tmp_path / "o.yaml"
    p.write_text(f"gpus:\n  - {row}\n")
    with pytest.raises(CatalogError):
        load_catalog([p])
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 32, micro_batch: 4, tokens: 1e9}\n"
                   "cluster: {gpu: A100-SXM-80GB, gpus_per_node: 8, nodes: 1}\nparallel: {tp: 1, pp: 1, dp: 8}\n")
    line = refused(cli("estimate", job, "--catalog", p))
    assert line.startswith("error: catalog override o.yaml: "), line
    assert words in line, line
