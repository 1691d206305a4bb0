"""The MoE all-to-all, the context-parallel exchange and the pipeline's stage-to-stage sends on a meshed node
(planner.hardware.nvlink ``path_links`` / ``a2a_links`` / ``p2p_links``, comm ``group_intra_bw``'s shapes): per-pair
sends on the links between the pair (or one relay through a member, NCCL's NVB path), not the GPU's full rate
(mesh49). The expected link counts are derived here from the link matrices, not from the planner's functions."""
import pytest

from conftest import answered, write_job
from planner.hardware.nvlink import (DGX1_V100_LINKS, XGMI_FULL_MESH_LINKS, a2a_links, group_link_share, p2p_links,
                                     path_links)

XGMI, DGX1 = "xgmi-full-mesh", "hybrid-cube-mesh"


@pytest.mark.parametrize("k", [2, 3, 4, 8])
def test_full_mesh_all_to_all_has_one_link_per_peer(k):
    # k - 1 peers, a chunk to each over its own single xGMI link at once: k - 1 links' worth a GPU
    members = tuple(range(k))
    per_gpu = sum(XGMI_FULL_MESH_LINKS[0])
    assert a2a_links(XGMI, members) == pytest.approx(k - 1)
    assert group_link_share(XGMI, k, 1, 8, "all_to_all") == pytest.approx((k - 1) / per_gpu)


def test_dgx1_all_to_all_over_eight_is_bound_by_its_relayed_pairs():
    # each ordered pair: one hop where joined, two through a relay where not (every unjoined pair of the cube-mesh
    # has a common neighbour); the 8 GPUs' 48 links carry every pair's chunk on each hop
    n = len(DGX1_V100_LINKS)
    joined = sum(DGX1_V100_LINKS[a][b] > 0 for a in range(n) for b in range(n) if a != b)
    relayed = n * (n - 1) - joined
    hops = joined + 2 * relayed
    links = sum(map(sum, DGX1_V100_LINKS))
    assert (joined, relayed, hops, links) == (32, 24, 80, 48)
    expect = (n - 1) / max(1.0, hops / links)  # narrowest path 1 link; the shared bound 80 / 48 is larger
    assert a2a_links(DGX1, tuple(range(n))) == pytest.approx(expect)
    assert group_link_share(DGX1, 8, 1, 8, "all_to_all") == pytest.approx(expect / 6)  # 0.7: 105 of 150 GB/s


def test_a_pair_without_nvlink_relays_through_a_member_else_the_host():
    assert DGX1_V100_LINKS[0][5] == 0
    # 0 -> 1 (one link) -> 5 (two): the narrower hop; through 4: 0 -> 4 (two) -> 5 (one)
    assert path_links(DGX1, (0, 1, 5), 0, 5) == (min(DGX1_V100_LINKS[0][1], DGX1_V100_LINKS[1][5]), 2)
    assert path_links(DGX1, (0, 5), 0, 5) == (0, 0)  # no member to relay: through the CPUs
    assert a2a_links(DGX1, (0, 5)) == 0.0


@pytest.mark.parametrize("pair", [(0, 4), (1, 5), (2, 6), (3, 7), (0, 1)])
def test_a_stage_pair_sends_on_the_links_between_them(pair):
    a, b = pair
    assert p2p_links(DGX1, pair) == DGX1_V100_LINKS[a][b]  # NV2 pairs two links, NV1 one


def test_pp2_groups_take_their_slowest_pair():
    # PP 2 at stride 4 (TP x DP = 4): pairs (0,4) (1,5) with two NVLinks, (2,6) (3,7) with one; on the xGMI mesh one
    assert group_link_share(DGX1, 2, 4, 8, "p2p") == pytest.approx(min(DGX1_V100_LINKS[i][i + 4] for i in range(4)) / 6)
    assert group_link_share(XGMI, 2, 4, 8, "p2p") == pytest.approx(1 / 7)


@pytest.mark.parametrize("shape", ["ring", "all_to_all", "p2p"])
def test_a_switch_gives_every_shape_the_full_rate(shape):
    assert group_link_share("switch", 4, 2, 8, shape) == 1.0


MOE = {"model": {"layers": 2, "hidden": 4096, "heads": 32, "kv_heads": 8, "vocab": 32000, "ffn_hidden": 14336,
                 "moe": {"experts": 8, "top_k": 2}},
       "training": {"seq_len": 4096, "global_batch": 16, "micro_batch": 1, "precision": "bf16",
                    "framework": "megatron-core", "tokens": 1e9},
       "parallel": {"tp": 1, "pp": 1, "dp": 8, "ep": 4},
       "cluster": {"gpu": "MI300X-192GB", "gpus_per_node": 8, "nodes": 1}}

DENSE = {"model": {"layers": 8, "hidden": 1536, "heads": 16, "vocab": 50304, "mlp": "gelu"},
         "training": {"seq_len": 2048, "global_batch": 16, "micro_batch": 4, "precision": "fp16",
                      "recompute": "full", "framework": "megatron-lm", "tokens": 1e9},
         "parallel": {"tp": 4, "pp": 2, "dp": 1},
         "cluster": {"gpu": "V100-SXM2-16GB", "gpus_per_node": 8, "nodes": 1}}


def _breakdown(cli, tmp_path, job, topology):
    job = dict(job, cluster=dict(job["cluster"], nvlink_topology=topology))
    return answered(cli("estimate", write_job(tmp_path, job), "--json"))["breakdown_s"]


def test_ep4_on_an_mi300x_node_dispatches_over_three_of_seven_links(cli, tmp_path):
    switch, mesh = _breakdown(cli, tmp_path, MOE, "switch"), _breakdown(cli, tmp_path, MOE, XGMI)
    # the all-to-all's bandwidth term at 3/7 of the rate (7/3 x), its per-peer latency kept: between the two
    assert switch["comm_ep"] * 1.5 < mesh["comm_ep"] < switch["comm_ep"] * 7 / 3
    assert mesh["comm_tp"] == switch["comm_tp"]


def test_pp2_on_a_dgx1_sends_on_one_nvlink(cli, tmp_path):
    switch, mesh = _breakdown(cli, tmp_path, DENSE, "switch"), _breakdown(cli, tmp_path, DENSE, DGX1)
    # the slowest stage pair (GPUs 2-6, 3-7) has one of six NVLinks: its sends' bandwidth term 6x
    assert switch["comm_pp"] > 0
    assert switch["comm_pp"] * 3 < mesh["comm_pp"] < switch["comm_pp"] * 6


def test_a_cp4_ring_on_an_mi300x_node_hops_on_one_link(cli, tmp_path):
    job = {"model": {"layers": 2, "hidden": 4096, "heads": 32, "kv_heads": 8, "vocab": 32000},
           "training": {"seq_len": 16384, "global_batch": 4, "micro_batch": 1, "precision": "bf16",
                        "framework": "megatron-core", "tokens": 1e9},
           "parallel": {"tp": 1, "pp": 1, "dp": 2, "cp": 4},
           "cluster": {"gpu": "MI300X-192GB", "gpus_per_node": 8, "nodes": 1}}
    switch, mesh = _breakdown(cli, tmp_path, job, "switch"), _breakdown(cli, tmp_path, job, XGMI)
    # the K/V hop hides under a step's attention at the GPU's rate, not at one xGMI link's (1/7 of it)
    assert switch["comm_cp"] == 0.0
    assert mesh["comm_cp"] > 0.0


def test_the_plan_note_says_ep_cp_and_pp_go_pair_by_pair():
    from planner.hardware.options import topology_notes

    (note,) = topology_notes(XGMI)
    assert "EP / CP all-to-alls and PP / CP sends go pair by pair on the xGMI links between each pair" in note
    assert topology_notes("switch") == []
