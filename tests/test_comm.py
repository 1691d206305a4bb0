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
    # 32 ranks, stride 1, 8 GPUs per node: ring of 8 on NVLink over the whole buffer, then a ring
    # over 4 nodes on N/8 per GPU at the per-GPU network share
    t = collective_time("all_reduce", N, 32, 1, 8, intra, inter, a_in, a_out)
    hand = (2 * 7 / 8 * N / intra + 14 * a_in) + (2 * 3 / 4 * (N / 8) / inter + 6 * a_out)
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
