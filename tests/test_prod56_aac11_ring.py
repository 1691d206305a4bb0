"""prod56: the MI325X cluster of validate.mi300x's four MI325X rows (AMD AAC11, 8 x MI325X and 8 x 400 Gb/s RoCE a
node) measured its own RCCL all-reduce (benchmarks/data/parts/nccl_bandwidth.csv ``aac11_mi325x_*``, rccl-tests with
the ring forced). A flat ring over several nodes sends through a GPU's Infinity Fabric only in the channels where the
GPU does not hand on to the next node (planner.model.comm ``flat_ring_nvlink_share``); priced on the whole buffer the
8-node all-reduce came out 11% slower than measured, its bus bandwidth capped at the one-node ring's."""
import numpy as np
import pytest

from benchmarks.parts_data import load
from conftest import cluster_option
from planner.model.comm import collective_time, flat_ring_nvlink_share


def aac11(nodes: int, label: str = "16GiB") -> dict:
    (row,) = [r for r in load("nccl_bandwidth") if r["id"] == f"aac11_mi325x_{nodes}n_ar_ring_{label}"]
    return row


def mi325x(catalog):
    """The rows' node as validate.hw_option builds it: 8 MI325X on the xGMI mesh, 8 x 400 Gb/s a node."""
    return cluster_option(catalog, "MI325X-256GB", 8, inter_node_gbps=3200)


def priced_s(hw, n: int, nbytes: float) -> float:
    return float(collective_time("all_reduce", nbytes, n, 1, hw.gpus_per_node, hw.intra_bw_eff, hw.inter_bw_per_gpu,
                                 hw.eff.intra_alpha_s, hw.eff.inter_alpha_s))


def test_the_rows_cluster_is_stored_with_its_layout():
    for nodes in (1, 2, 4, 8):
        row = aac11(nodes)
        assert (row["gpu"], row["num_gpus"], row["num_nodes"]) == ("MI325X", 8 * nodes, nodes)
        assert row["algorithm"].startswith("Ring")


def test_one_node_ring_is_the_prior_mi325x_inherits(catalog):
    """The Infinity Fabric efficiency MI325X takes from Azure's MI300X (efficiency.CDNA3_MEASURED, 316.8 GB/s) is its
    own cluster's: 319.1 GB/s bus bandwidth at 16 GiB, out-of-place, 94.2 ms."""
    row = aac11(1)
    assert priced_s(mi325x(catalog), 8, row["message_bytes"]) == pytest.approx(row["time_us"] * 1e-6, rel=0.02)


@pytest.mark.parametrize("nodes", [4, 8])
def test_multi_node_ring_sends_a_gpus_share_over_the_fabric(catalog, nodes):
    """4 and 8 nodes (NCCL / RCCL's flat ring): 350.6 / 350.8 GB/s measured, above the one-node ring. With the whole
    buffer over the links the planner gave 1.11x the measured time; with the (m - 1) / m share it is NIC-paced at
    0.85 x 400 Gb/s, within 4%."""
    row = aac11(nodes)
    got = priced_s(mi325x(catalog), 8 * nodes, row["message_bytes"])
    assert got == pytest.approx(row["time_us"] * 1e-6, rel=0.05)
    assert got > row["time_us"] * 1e-6  # the generic 0.85 NIC efficiency is under this fabric's ~0.88


def test_nvlink_share_of_a_flat_ring():
    assert np.allclose(flat_ring_nvlink_share(np.array([1, 2, 8, 72])), [0.0, 0.5, 7 / 8, 71 / 72])
