"""A bare-GPU cluster that states no fabric takes its GPU's reference fabric (planner.hardware.options.
reference_network): the best-networked clustered instance of that GPU whose network the catalog sources."""
import pytest

from hardware_catalog.catalog import DEFAULT_NETWORK_GBPS
from planner.hardware.options import option_from_cluster, reference_network
from planner.spec import ClusterSpec


@pytest.mark.parametrize("gpu, per_gpu", [("A100-SXM-80GB", 200.0), ("H100-SXM-80GB", 400.0),
                                          ("H200-SXM-141GB", 400.0), ("B200-SXM-180GB", 400.0),
                                          ("B300-SXM-288GB", 800.0)])
def test_reference_fabric_is_the_training_systems_nic_per_gpu(catalog, gpu, per_gpu):
    # DGX A100: 8 x 200 Gb/s HDR; DGX H100 / H200 / B200: 8 x 400 Gb/s ConnectX-7; B300: 8 x 800 Gb/s ConnectX-8
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
    assert reference_network(catalog, catalog.gpu("MI300X")) is None
    m = option_from_cluster(ClusterSpec(gpu="MI300X", nodes=4), catalog)
    assert m.inter_node_bw * 8 / 1e9 == pytest.approx(DEFAULT_NETWORK_GBPS)
    assert m.network_assumed and f"{DEFAULT_NETWORK_GBPS:g} Gb/s per node" in m.network_note


def test_report_names_the_basis_not_the_number(catalog):
    """A reference fabric that comes to 100 Gb/s per node (A10G: 12.5 Gb/s per GPU x 8) is still the reference
    fabric in the report's network line, not the default for an unknown fabric."""
    from planner.present.report import _network_risk

    o = option_from_cluster(ClusterSpec(gpu="A10G", nodes=2), catalog)
    assert o.inter_node_bw * 8 / 1e9 == pytest.approx(DEFAULT_NETWORK_GBPS) and o.network_reference
    hw = {"inter_node_gbps": 100.0, "network_assumed": True, "network_reference": True, "multi_node": True, "nodes": 1}
    assert "best-networked training instance" in _network_risk({"hardware": hw}, {}, None)
    hw["network_reference"] = False
    assert "default for an unknown fabric" in _network_risk({"hardware": hw}, {}, None)


def test_bare_cluster_host_ram_is_its_reference_systems(catalog):
    """Offloaded state must fit the node's RAM (offload.host_fits, HOST_RAM_USABLE of it): a bare cluster's node is
    its reference system, Azure NDm A100 v4 for A100-80GB (1,800 GiB / 8 as the catalog row states it) and p5.48xlarge
    for H100 (2,048 GiB / 8); a GPU without one keeps offload.REF_HOST_RAM_PER_GPU."""
    from planner.model import offload

    gib = 2 ** 30
    a100 = option_from_cluster(ClusterSpec(gpu="A100-80GB", nodes=2), catalog)
    h100 = option_from_cluster(ClusterSpec(gpu="H100", nodes=2), catalog)
    mi = option_from_cluster(ClusterSpec(gpu="MI300X", nodes=2), catalog)
    ram_a100, ram_h100 = (o.reference.ram_bytes / o.reference.gpu_count for o in (a100, h100))
    assert ram_h100 == 2048 * gib / 8 and ram_a100 < ram_h100
    for o, ram in ((a100, ram_a100), (h100, ram_h100)):  # the boundary sits at the reference's usable RAM per GPU
        edge = ram * offload.HOST_RAM_USABLE
        assert bool(offload.host_fits(edge * 0.99, o)) and not bool(offload.host_fits(edge * 1.01, o))
    assert mi.reference is None
    assert bool(offload.host_fits(offload.REF_HOST_RAM_PER_GPU * offload.HOST_RAM_USABLE * 0.99, mi))
