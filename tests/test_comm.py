"""Collective times against the alpha-beta formulas worked by hand (Thakur et al. 2005 §4;
nccl-tests' bus-bandwidth factors)."""
import numpy as np
import pytest

from planner.model.comm import collective_time, members_per_node, p2p_time, ring_time

N = 1e9  # bytes
BW = 100e9  # bytes/s


@pytest.mark.parametrize("n", [2, 4, 8, 64])
def test_ring_all_reduce_moves_2_n_minus_1_over_n(n):
    assert ring_time("all_reduce", N, n, BW, 0.0) == pytest.approx(2 * (n - 1) / n * N / BW)


@pytest.mark.parametrize("kind", ["all_gather", "reduce_scatter"])
@pytest.mark.parametrize("n", [2, 8, 16])
def test_all_gather_reduce_scatter_move_n_minus_1_over_n(kind, n):
    assert ring_time(kind, N, n, BW, 0.0) == pytest.approx((n - 1) / n * N / BW)


def test_alpha_term_counts_ring_steps():
    a = 7e-6
    # infinite bandwidth leaves only the latency: 2(n-1) steps for all-reduce, n-1 for all-gather
    assert ring_time("all_reduce", N, 8, 1e30, a) == pytest.approx(14 * a)
    assert ring_time("all_gather", N, 8, 1e30, a) == pytest.approx(7 * a)
    assert p2p_time(N, BW, a) == pytest.approx(N / BW + a)


def test_one_rank_costs_nothing():
    assert ring_time("all_reduce", N, 1, BW, 1e-3) == 0.0
    assert collective_time("all_reduce", N, 1, 1, 8, BW, BW, 1e-5, 1e-5) == 0.0


def test_hierarchical_across_nodes_by_hand():
    intra, inter, a_in, a_out = 200e9, 40e9, 5e-6, 20e-6
    # 16 ranks, stride 1, 8 GPUs per node (NCCL's tree on 2 nodes): ring of 8 on NVLink over the whole buffer,
    # then a ring over the 2 nodes on N/8 per GPU at the per-GPU network share
    t = collective_time("all_reduce", N, 16, 1, 8, intra, inter, a_in, a_out)
    hand = (2 * 7 / 8 * N / intra + 14 * a_in) + (2 * 1 / 2 * (N / 8) / inter + 2 * a_out)
    assert float(t) == pytest.approx(hand)
    # 32 ranks on 4 nodes (xn54): NCCL's flat ring, each NIC 2 (n - 1) / n x N / 8 pipelined with the NVLink hops,
    # which carry the other 7 / 8 of a GPU's sends (prod56, comm.flat_ring_nvlink_share)
    t = collective_time("all_reduce", N, 32, 1, 8, intra, inter, a_in, a_out)
    hand = max(2 * 31 / 32 * N / intra * 7 / 8, 2 * 31 / 32 * (N / 8) / inter) + 14 * a_in + 6 * a_out
    assert float(t) == pytest.approx(hand)
    # an all-gather over 4 nodes keeps the phases
    t = collective_time("all_gather", N, 32, 1, 8, intra, inter, a_in, a_out)
    hand = (7 / 8 * N / intra + 7 * a_in) + (3 / 4 * (N / 8) / inter + 3 * a_out) + (32 - 4 - 7) * a_in
    assert float(t) == pytest.approx(hand)
    # inside one node it is a flat ring on NVLink
    t8 = collective_time("all_reduce", N, 8, 1, 8, intra, inter, a_in, a_out)
    assert float(t8) == pytest.approx(2 * 7 / 8 * N / intra + 14 * a_in)


def test_placement_by_stride():
    # a DP group behind TP=8 has one member per 8-GPU node; behind TP=2, four
    assert members_per_node(16, 8, 8) == 1
    assert members_per_node(16, 2, 8) == 4
    assert members_per_node(2, 1, 8) == 2
    # one member per node: all traffic crosses the network (flat ring over nodes)
    t = collective_time("all_gather", N, 4, 8, 8, 1e12, BW, 0.0, 0.0)
    assert float(t) == pytest.approx(3 / 4 * N / BW)


def test_vectorised_over_groups():
    n = np.array([1, 2, 8, 16])
    t = collective_time("reduce_scatter", N, n, 1, 8, BW, BW / 4, 0.0, 0.0)
    assert t.shape == (4,) and t[0] == 0.0 and np.all(np.diff(t) > 0)


def test_cross_node_ring_latency_counts_every_rank_like_nccl():
    """NCCL's ring all-gather over n ranks in k nodes has n - 1 steps, k - 1 of them across nodes
    (src/graph/tuning.cc): zero-byte latency (n - k) alpha_intra + (k - 1) alpha_inter, so it
    grows with n at a fixed node size; all-reduce keeps the hierarchical (tree-like) latency."""
    from planner.model.comm import collective_time

    ai, ae = 8e-6, 15e-6
    for n in (16, 128, 512):
        k = n / 8
        t = float(collective_time("all_gather", 0.0, n, 1, 8, 1e11, 1e10, ai, ae))
        assert t == pytest.approx((n - k) * ai + (k - 1) * ae)
    ar = float(collective_time("all_reduce", 0.0, 512, 1, 8, 1e11, 1e10, ai, ae))
    assert ar == pytest.approx(2 * (7 * ai + 63 * ae))
    # inside one node nothing changes
    assert float(collective_time("reduce_scatter", 0.0, 8, 1, 8, 1e11, 1e10, ai, ae)) == pytest.approx(7 * ai)


def test_tpu_multislice_gradient_reduce_crosses_dcn_at_its_bandwidth(catalog):
    """2 x gcp:tpu-v6e-256 (fabric tpu-dcn): a node is one 256-chip ICI slice, slices over the data-center network
    at the catalog's 100 Gb/s per chip (Google's v6e page: 4 x 200 Gbps NICs per 8-chip host). A gradient
    all-reduce between two chips of different slices (the DP axis MaxText puts across slices: stride 256) runs at
    the chip's DCN share; between two chips of one slice on ICI (400 GB/s per direction): slower by the ratio of
    the achieved bandwidths (latency aside), ICI x intra efficiency / (DCN x inter efficiency), ~28x."""
    from planner.hardware.options import option_from_instance
    from planner.spec import ClusterSpec

    hw = option_from_instance(catalog.instance("gcp:tpu-v6e-256"), ClusterSpec(nodes=2))
    g = hw.gpus_per_node
    assert g == 256 and hw.multi_node and hw.intra_bw == pytest.approx(400e9)
    assert hw.inter_node_bw / g == pytest.approx(100e9 / 8)  # 12.5 GB/s per chip, line rate
    args = (g, hw.intra_bw_eff, hw.inter_bw_per_gpu)
    dcn = float(collective_time("all_reduce", N, 2, 256, *args, 0.0, 0.0))
    ici = float(collective_time("all_reduce", N, 2, 1, *args, 0.0, 0.0))
    assert dcn / ici == pytest.approx(hw.intra_bw_eff / hw.inter_bw_per_gpu)
    assert dcn / ici == pytest.approx(400e9 * hw.eff.intra_bw / (12.5e9 * hw.eff.inter_bw)) and dcn / ici > 20
    # with latency: still slower; and an FSDP group over both slices pays its DCN phase on N/256 per chip
    eff = hw.eff
    assert collective_time("all_reduce", N, 2, 256, *args, eff.intra_alpha_s, eff.inter_alpha_s) > \
        collective_time("all_reduce", N, 2, 1, *args, eff.intra_alpha_s, eff.inter_alpha_s)
    both = float(collective_time("all_gather", N, 512, 1, *args, 0.0, 0.0))
    assert both == pytest.approx(255 / 256 * N / hw.intra_bw_eff + 1 / 2 * (N / 256) / hw.inter_bw_per_gpu)
