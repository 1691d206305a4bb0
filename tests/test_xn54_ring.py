"""xn54: NCCL's all-reduce over more than 2 nodes is a flat ring -- each NIC carries 2 (n - 1) / n of the buffer,
pipelined with the NVLink hops -- where the planner priced it as phases (NVLink ring, then a ring across the nodes on
2 (k - 1) / k x N / g a GPU). Checked against nccl-tests across nodes (benchmarks/data/parts/nccl_bandwidth.csv) and
the 2-node tree (NVIDIA/nccl issue #946), which keeps the phased price."""
import numpy as np
import pytest

from benchmarks.parts_data import load
from conftest import cluster_option
from planner.model.comm import collective_time, network_bytes, nic_bytes


def busbw(hw, n, nbytes):
    """nccl-tests' all-reduce bus bandwidth (GB/s) the planner gives for ``n`` ranks, 8 a node, stride 1."""
    t = float(collective_time("all_reduce", nbytes, n, 1, hw.gpus_per_node, hw.intra_bw_eff, hw.inter_bw_per_gpu,
                              hw.eff.intra_alpha_s, hw.eff.inter_alpha_s))
    return 2 * (n - 1) / n * nbytes / t / 1e9


def test_four_node_allreduce_is_paced_by_the_nic_like_nccl_tests(catalog):
    """p5en (8 H200, 3,200 Gb/s EFA a node), 4 nodes, 4 GiB, NCCL's ring: measured 365 GB/s bus bandwidth. The
    pipelined ring gives the NIC rate at the generic efficiency, 0.85 x 400 = 340 GB/s; the phased price gave
    ~202 GB/s (NVLink phase + NIC phase one after the other), 45% under."""
    (row,) = [r for r in load("nccl_bandwidth") if r["id"] == "stas_p5en_4n_ar_ring_forced_4GiB"]
    assert (row["num_gpus"], row["num_nodes"], row["gpus_per_node"]) == (32, 4, 8)
    hw = cluster_option(catalog, "H200-SXM-141GB", 8, inter_node_gbps=3200)
    got = busbw(hw, 32, row["message_bytes"])
    assert got == pytest.approx(hw.inter_node_bw * hw.eff.inter_bw / 1e9, rel=0.02)
    assert got == pytest.approx(row["busbw_gbps"], rel=0.12)


def test_two_node_allreduce_keeps_the_tree_price():
    """On 2 nodes NCCL's tree sends each node half the buffer (issue #946): the NIC bytes stay (k - 1) / k, half
    the ring's (a guard: unchanged from before xn54)."""
    assert float(nic_bytes("all_reduce", 1.0, 16, 1, 8)) == pytest.approx(2 * 1 / 2 / 8)
    assert float(nic_bytes("all_reduce", 1.0, 32, 1, 8)) == pytest.approx(2 * 31 / 32 / 8)


@pytest.mark.parametrize("n,c,k,want", [(32, 8, 4, 2 * 31 / 32 / 8), (24, 8, 3, 2 * 23 / 24 / 8),
                                          (16, 8, 2, 2 * 8 / 16 / 8), (8, 8, 1, 0.0)])
def test_network_bytes_of_an_allreduce(n, c, k, want):
    assert float(network_bytes("all_reduce", 1.0, n, c, k)) == pytest.approx(want)


def test_gathers_keep_the_phased_bytes():
    """All-gather / reduce-scatter keep f (k - 1) / k (the what-if with the ring's bytes is not taken)."""
    assert float(network_bytes("all_gather", 1.0, 32, 8, 4)) == pytest.approx(3 / 4 / 8)
    assert np.allclose(network_bytes("reduce_scatter", np.ones(2), 32, 8, 4), 3 / 4 / 8)
