"""A bare-GPU cluster that states no fabric takes its GPU's reference fabric (planner.hardware.options.
reference_network): the best-networked clustered instance of that GPU whose network the catalog sources."""
import pytest

from hardware_catalog.catalog import DEFAULT_NETWORK_GBPS
from planner.hardware.options import option_from_cluster, reference_network
from planner.spec import ClusterSpec


def _per_gpu_gbps(catalog, gpu):
    """Independently of the function: the largest sourced per-GPU network among the clustered instance
    rows of ``gpu`` (None when there is none)."""
    rates = [i.network_bw * 8 / 1e9 / i.gpu_count for i in catalog.instances.values()
             if i.gpu is not None and i.gpu.name == gpu and i.cluster and not i.network_is_default]
    return max(rates) if rates else None


@pytest.mark.parametrize("gpu, per_gpu", [("A100-SXM-80GB", 200.0), ("H100-SXM-80GB", 400.0),
                                          ("H200-SXM-141GB", 400.0), ("B200-SXM-180GB", 400.0),
                                          ("B300-SXM-288GB", 800.0)])
def test_reference_fabric_is_the_training_systems_nic_per_gpu(catalog, gpu, per_gpu):
    # DGX A100: 8 x 200 Gb/s HDR; DGX H100 / H200 / B200: 8 x 400 Gb/s ConnectX-7; B300: 8 x 800 Gb/s ConnectX-8
    assert _per_gpu_gbps(catalog, gpu) == pytest.approx(per_gpu)
    bw, inst = reference_network(catalog, catalog.gpu(gpu))
    assert bw * 8 / 1e9 == pytest.approx(per_gpu)
    assert inst.gpu.name == gpu and inst.cluster and (inst.network_source or inst.source)


def test_bare_cluster_uses_it_scaled_by_gpus_per_node_and_says_so(catalog):
    o8 = option_from_cluster(ClusterSpec(gpu="H100", nodes=4), catalog)
    o4 = option_from_cluster(ClusterSpec(gpu="H100", nodes=4, gpus_per_node=4), catalog)
    assert o8.inter_node_bw * 8 / 1e9 == pytest.approx(3200.0)
    assert o4.inter_node_bw * 8 / 1e9 == pytest.approx(1600.0)
    assert o8.network_assumed and "400 Gb/s per GPU" in o8.network_note and o8.network_note in o8.notes


def test_stated_network_wins_and_a_gpu_without_reference_keeps_the_default(catalog):
    o = option_from_cluster(ClusterSpec(gpu="H100", nodes=4, inter_node_gbps=800), catalog)
    assert o.inter_node_bw * 8 / 1e9 == pytest.approx(800.0) and not o.network_assumed and o.network_note == ""
    assert _per_gpu_gbps(catalog, "MI300X-192GB") is None
    m = option_from_cluster(ClusterSpec(gpu="MI300X", nodes=4), catalog)
    assert m.inter_node_bw * 8 / 1e9 == pytest.approx(DEFAULT_NETWORK_GBPS)
    assert m.network_assumed and f"{DEFAULT_NETWORK_GBPS:g} Gb/s per node" in m.network_note
