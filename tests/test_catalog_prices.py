"""Priced rows for accelerators that had none (added 2026-12-01): TPU v6e slices (GCP), 8 x MI300X (RunPod),
8 x Gaudi 2 (Denvr via Shadeform). Each row is read from a SkyPilot catalog snapshot named in its ``source``;
the numbers below are the snapshot's (see each row's notes for the line quoted), so a changed CSV fails here."""
import csv
from pathlib import Path

import pytest

import hardware_catalog
from planner.hardware.options import options_for_search
from planner.spec import load_job_dict

DATA = Path(hardware_catalog.__file__).parent / "data" / "instances.csv"

# key, canonical GPU, count, on-demand USD/h, spot USD/h (None: none published), fabric, commit in source
NEW_ROWS = [
    ("gcp:tpu-v6e-1", "TPU-v6e", 1, 2.7, 0.59266, "tpu-ici", "2c3d7ea7"),
    ("gcp:tpu-v6e-8", "TPU-v6e", 8, 21.6, 4.74132, "tpu-dcn", "2c3d7ea7"),
    ("gcp:tpu-v6e-64", "TPU-v6e", 64, 172.8, 37.93056, "tpu-dcn", "2c3d7ea7"),
    ("gcp:tpu-v6e-256", "TPU-v6e", 256, 691.2, 151.72224, "tpu-dcn", "2c3d7ea7"),
    ("runpod:8x_MI300X_SECURE", "MI300X-192GB", 8, 19.12, None, "none", "01acdfd4"),
    ("shadeform:denvr_Gaudi2x8", "Gaudi2-96GB", 8, 8.8, None, "ethernet", "002363da"),
]


@pytest.mark.parametrize("key, gpu, count, od, spot, fabric, commit", NEW_ROWS)
def test_new_priced_row_parses_with_provenance(catalog, key, gpu, count, od, spot, fabric, commit):
    i = catalog.instance(key)
    assert (i.gpu.name, i.gpu_count, i.fabric) == (gpu, count, fabric)
    assert i.price_ondemand == pytest.approx(od) and i.price_spot == (pytest.approx(spot) if spot else None)
    if fabric == "tpu-dcn":  # a whole v6e slice that joins others over DCN (test_tpu_v6e_multislice_network)
        assert i.cluster and i.network_bw * 8 / 1e9 == pytest.approx(100.0 * count)
    else:  # no sourced inter-node network: single node, no assumed bandwidth dressed up as a cluster (catalog rule)
        assert not i.cluster and i.network_bw is None
    assert "skypilot-catalog" in i.source and commit in i.source and i.price_date
    assert "ADDED 2026-12-01" in i.notes and f"{od:g}" in i.notes


def test_tpu_v6e_slices_are_priced_per_chip():
    """fetch_gcp.py prices v6e per chip-hour (core_per_sku = 1): every us-central1 slice is 2.70 USD/chip-h on
    demand, 0.59266 spot, so the slice price is linear in chips, unlike a copy-paste slip in one row."""
    rows = [r for r in csv.DictReader(DATA.open()) if r["name"].startswith("tpu-v6e-")]
    assert len(rows) == 4
    for r in rows:
        chips = int(r["gpu_count"])
        assert r["name"] == f"tpu-v6e-{chips}" and r["region"] == "us-central1"
        assert float(r["price_ondemand_usd_hr"]) == pytest.approx(2.7 * chips)
        assert float(r["price_spot_usd_hr"]) == pytest.approx(0.59266 * chips, rel=1e-5)


@pytest.mark.parametrize("gpu, keys", [
    ("TPU-v6e", {"gcp:tpu-v6e-1", "gcp:tpu-v6e-8", "gcp:tpu-v6e-64", "gcp:tpu-v6e-256"}),
    ("MI300X", {"runpod:8x_MI300X_SECURE"}),
    ("Gaudi2", {"shadeform:denvr_Gaudi2x8"}),
])
def test_search_offers_the_new_rows_for_their_gpu(catalog, gpu, keys):
    """Before these rows a constraint naming the GPU found no priced instance ("use a bare-GPU cluster")."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9},
                         "constraints": {"gpus": [gpu]}})
    opts = options_for_search(job.cluster, job.constraints, "bf16", catalog)
    assert {o.name for o in opts} == keys
    # multi-node: only the v6e slices of whole hosts, joined over the data-center network (multislice)
    assert all(o.price_ondemand > 0 and o.multi_node == (o.name in MULTISLICE) for o in opts)


#: the v6e slice rows that join other slices over the data-center network (fabric tpu-dcn)
MULTISLICE = {"gcp:tpu-v6e-8", "gcp:tpu-v6e-64", "gcp:tpu-v6e-256"}


def test_tpu_v6e_multislice_network(catalog):
    """The v6e slice rows of whole hosts cluster over DCN at Google's figure: 'Per-host NIC configuration 4 x 200
    Gbps NIC' with 'Chips per host 8' (800 Gb/s per host = 100 Gb/s per chip), the same as 'Data center network
    bandwidth per Pod 25.6 Tbps' over the 256-chip pod; the row says where it read it. The 1-chip sub-host slice
    stays single (its share of the host's NICs is not stated)."""
    for key in MULTISLICE:
        i = catalog.instance(key)
        assert i.fabric == "tpu-dcn" and i.cluster
        per_chip = i.network_bw * 8 / 1e9 / i.gpu_count
        assert per_chip == pytest.approx(4 * 200 / 8) == pytest.approx(25.6e3 / 256)
        src = i.network_source
        assert "https://cloud.google.com/tpu/docs/v6e" in src and "read 2026-12-01" in src
        assert "4 x 200 Gbps NIC" in src and "25.6 Tbps" in src and "Chips per host | 8" in src
        assert i.gpu.intra_node_bw * 8 / 1e9 / per_chip == pytest.approx(32.0)  # ICI 3,200 Gb/s per chip per direction
    one = catalog.instance("gcp:tpu-v6e-1")
    assert one.fabric == "tpu-ici" and not one.cluster and one.network_bw is None


def test_tpu_v5p_multislice_network(catalog):
    """The v5p 512-chip slice row joins other slices over DCN at Google's 'Data center network (DCN) bandwidth per
    chip (Gbps) | 50' (a 24x smaller share of the chip's 1,200 GB/s bidirectional ICI); v4 and the 1-chip v5e stay single."""
    i = catalog.instance("gcp:tpu-v5p-1024")
    assert i.fabric == "tpu-dcn" and i.cluster and i.gpu_count == 512
    assert i.network_bw * 8 / 1e9 / i.gpu_count == pytest.approx(50.0)
    assert "https://docs.cloud.google.com/tpu/docs/v5p" in i.network_source and "| 50'" in i.network_source
    for key in ("gcp:tpu-v5litepod-1", "gcp:tpu-v4-5120"):
        assert not catalog.instance(key).cluster


def test_tpu_v5e_multislice_network(catalog):
    """The v5e slice rows (8 / 64 / 256 chips) join over DCN at Google's v5e page: 'Per-host NIC configuration |
    2 x 100 Gbps NIC', 8 chips a host = 25 Gb/s per chip ('Data center network bandwidth per Pod | 6.4 Tbps' / 256,
    the same); prices from the SkyPilot snapshot (1.2 USD/chip-hr on demand in us-central1); RAM 512 GiB a host."""
    for chips, od in ((8, 9.6), (64, 76.8), (256, 307.2)):
        i = catalog.instance(f"gcp:tpu-v5litepod-{chips}")
        assert i.fabric == "tpu-dcn" and i.cluster and i.gpu_count == chips
        assert i.network_bw * 8 / 1e9 == pytest.approx(25.0 * chips)
        assert i.price_ondemand == pytest.approx(od) and i.price_ondemand / chips == pytest.approx(1.2)
        assert i.ram_bytes == 512 * 2**30 * chips // 8
        assert "2 x 100 Gbps NIC" in i.network_source


def test_spot_search_keeps_only_rows_with_a_spot_price(catalog):
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e9},
                         "constraints": {"gpus": ["TPU-v6e", "MI300X"], "spot": True}})
    opts = options_for_search(job.cluster, job.constraints, "bf16", catalog)
    assert {o.name for o in opts} == {"gcp:tpu-v6e-1", "gcp:tpu-v6e-8", "gcp:tpu-v6e-64", "gcp:tpu-v6e-256"}


def test_new_cloud_is_listed_and_filterable(cli):
    code, out, err = cli("catalog", "instances", "--cloud", "shadeform")
    assert code == 0, err
    assert "denvr_Gaudi2x8" in out and "p5.48xlarge" not in out
