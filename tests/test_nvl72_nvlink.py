"""The NVL72 parts (GB200, GB300) run their NVLink collectives at the rate measured on them, not at the
family prior's assumed 0.80 of the 900 GB/s per-direction peak (efficiency.NVL72_NVLINK_BUSBW: Azure's
nccl-tests ring all-reduce on the 4 GPUs of one compute tray, 8 GB, parts rows ``azure_gb200_ar_8G`` /
``azure_gb300_ar_8G``); the HGX parts and H100 keep their priors."""
import numpy as np
import pytest

from benchmarks.parts_data import load
from planner.hardware.efficiency import PRIORS, gpu_family, prior_for
from planner.model.comm import collective_time
from conftest import cluster_option

AZURE_8G = {"GB200-B200": "azure_gb200_ar_8G", "GB300-B300": "azure_gb300_ar_8G"}


@pytest.mark.parametrize("gpu", sorted(AZURE_8G))
def test_nvl72_nvlink_rate_is_the_parts_table_measurement(catalog, gpu):
    """The prior's NVLink fraction is the parts table's 8 GB bus bandwidth over the catalog's NVLink peak, and
    the option's achieved rate is that bandwidth (679.61 / 680.45 GB/s), under the family's assumed 720."""
    (row,) = [r for r in load("nccl_bandwidth") if r["id"] == AZURE_8G[gpu]]
    assert row["num_gpus"] == 4 and row["message_bytes"] == 8 * 2 ** 30 and row["algorithm"].startswith("Ring")
    hw = cluster_option(catalog, gpu, 72)
    assert prior_for(gpu).intra_bw == pytest.approx(row["busbw_gbps"] * 1e9 / hw.gpu.intra_node_bw, rel=1e-9)
    assert hw.intra_bw_eff == pytest.approx(row["busbw_gbps"] * 1e9, rel=1e-9)
    assert hw.intra_bw_eff < PRIORS[gpu_family(gpu)].intra_bw * hw.gpu.intra_node_bw
    assert "measured" in prior_for(gpu).sources["*"]


@pytest.mark.parametrize("gpu", ["B200-SXM-180GB", "B300-SXM-288GB", "H100-SXM-80GB"])
def test_hgx_parts_keep_their_family_prior(gpu):
    assert prior_for(gpu) is PRIORS[gpu_family(gpu)]
    assert prior_for(gpu).intra_bw == 0.80


def test_tp_collective_on_gb200_takes_the_measured_rate(catalog):
    """A small case: a TP-4 all-gather of 64 MB inside one NVLink domain costs the bytes at each part's achieved
    rate plus the same ring latency; the GB200's is longer than the HGX B200's by 0.80 / 0.755 on the bytes (both
    catalog NVLink 5 at 900 GB/s a direction), where the old shared prior priced the two alike."""
    gb200, b200 = cluster_option(catalog, "GB200-B200", 72), cluster_option(catalog, "B200-SXM-180GB", 8)
    assert gb200.gpu.intra_node_bw == b200.gpu.intra_node_bw == 900e9
    nbytes, tp = 64e6, 4
    t = {h.gpu.name: float(collective_time("all_gather", nbytes, tp, 1, h.gpus_per_node, h.intra_bw_eff,
                                           h.inter_bw_per_gpu, h.eff.intra_alpha_s, h.eff.inter_alpha_s))
         for h in (gb200, b200)}
    lat = (tp - 1) * gb200.eff.intra_alpha_s
    bytes_time = {k: v - lat for k, v in t.items()}
    assert bytes_time["GB200-B200"] == pytest.approx(0.75 * nbytes / 679.61e9, rel=1e-6)
    assert bytes_time["GB200-B200"] / bytes_time["B200-SXM-180GB"] == pytest.approx(0.80 / (679.61 / 900), rel=1e-6)
    assert np.isclose(gb200.eff.intra_alpha_s, b200.eff.intra_alpha_s)
