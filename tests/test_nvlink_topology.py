"""A node's NVLink wiring (planner.hardware.nvlink): the DGX-1 V100 hybrid cube-mesh prices each group's rings on
the links between its members; switched nodes are unchanged (v100mesh48)."""
import typing

import pytest

from conftest import answered, refused, write_job
from hardware_catalog import load_catalog
from hardware_catalog.catalog import InstanceRow
from planner.hardware.nvlink import DGX1_V100_LINKS, NVLINK_TOPOLOGIES, group_link_share, ring_links
from planner.vocab import NVLINK_TOPOLOGY

#: `nvidia-smi topo -m` of OneFlow's DLPerf V100 nodes as printed in Oneflow-Inc/DLPerf Megatron-LM/README.md
#: @248fcd8d (GPU columns only; "NV#" = a bonded set of # NVLinks, SYS = no NVLink)
DLPERF_TOPO = """
GPU0     X      NV1     NV1     NV2     NV2     SYS     SYS     SYS
GPU1    NV1      X      NV2     NV1     SYS     NV2     SYS     SYS
GPU2    NV1     NV2      X      NV2     SYS     SYS     NV1     SYS
GPU3    NV2     NV1     NV2      X      SYS     SYS     SYS     NV1
GPU4    NV2     SYS     SYS     SYS      X      NV1     NV1     NV2
GPU5    SYS     NV2     SYS     SYS     NV1      X      NV2     NV1
GPU6    SYS     SYS     NV1     SYS     NV1     NV2      X      NV2
GPU7    SYS     SYS     SYS     NV1     NV2     NV1     NV2      X
"""

MESH = "hybrid-cube-mesh"


def test_the_mesh_is_the_printed_topology_with_six_links_a_gpu():
    printed = [[int(c[2:]) if c.startswith("NV") else 0 for c in ln.split()[1:]]
               for ln in DLPERF_TOPO.strip().splitlines()]
    assert [list(r) for r in DGX1_V100_LINKS] == printed
    # the white paper: six NVLinks a V100, every one to another GPU of the node
    assert {sum(r) for r in DGX1_V100_LINKS} == {6}


@pytest.mark.parametrize("members, links", [
    ((0, 1, 2, 3, 4, 5, 6, 7), 6),  # three disjoint rings through all eight: every link
    ((0, 1, 2, 3), 4),  # a quad: two rings (the fifth 2-3 link has no ring to join)
    ((0, 1), 1), ((2, 3), 2),  # a pair: the links between them
    ((0, 2, 4, 6), 2),  # the stride-2 four: one ring 0-2-6-4
    ((3, 4, 5), 0),  # no NVLink between 3 and 4 or 5: no ring
])
def test_ring_links(members, links):
    assert ring_links(MESH, members) == links


def test_slowest_group_share_in_megatron_rank_order():
    # TP 2 = pairs (0,1) (2,3) (4,5) (6,7): the single-link pairs set it; TP 4 = the quads; DP 4 at stride 2
    assert group_link_share(MESH, 2, 1, 8) == pytest.approx(1 / 6)
    assert group_link_share(MESH, 4, 1, 8) == pytest.approx(4 / 6)
    assert group_link_share(MESH, 4, 2, 8) == pytest.approx(2 / 6)
    assert group_link_share(MESH, 8, 1, 8) == 1.0
    assert group_link_share("switch", 2, 1, 8) == 1.0


def test_names_agree_across_vocab_registry_and_catalog_row():
    row_names = typing.get_args(typing.get_args(InstanceRow.model_fields["nvlink_topology"].annotation)[0])
    assert set(NVLINK_TOPOLOGY) == set(NVLINK_TOPOLOGIES) == set(row_names)
    cat = load_catalog()
    assert cat.instance("aws:p3.16xlarge").nvlink_topology == MESH
    assert cat.instance("aws:p5.48xlarge").nvlink_topology is None  # blank: a switch


JOB = {"model": {"layers": 16, "hidden": 1536, "heads": 16, "vocab": 50304, "mlp": "gelu"},
       "training": {"seq_len": 2048, "global_batch": 16, "micro_batch": 4, "precision": "fp16",
                    "recompute": "full", "framework": "megatron-lm", "tokens": 1e9},
       "cluster": {"gpu": "V100-SXM2-16GB", "gpus_per_node": 8, "nodes": 1}}


def _estimate(cli, tmp_path, parallel, base=JOB, **cluster):
    job = dict(base, parallel=parallel, cluster=dict(base["cluster"], **cluster))
    return answered(cli("estimate", write_job(tmp_path, job), "--json"))["breakdown_s"]


def test_tp2_on_the_mesh_rings_on_one_link_tp8_on_all(cli, tmp_path):
    tp2 = {"tp": 2, "pp": 1, "dp": 4}
    switch, mesh = _estimate(cli, tmp_path, tp2), _estimate(cli, tmp_path, tp2, nvlink_topology=MESH)
    # the all-reduce's bandwidth term runs at 1/6 of the rate: well over 4x slower with its latency kept
    assert mesh["comm_tp"] > 4 * switch["comm_tp"]
    assert mesh["comm_dp"] > switch["comm_dp"]  # DP 4 at stride 2: one ring of two links
    tp8 = {"tp": 8, "pp": 1, "dp": 1}
    assert _estimate(cli, tmp_path, tp8, nvlink_topology=MESH) == _estimate(cli, tmp_path, tp8)


def test_instance_row_carries_its_mesh(cli, tmp_path):
    job = dict(JOB, parallel={"tp": 2, "pp": 1, "dp": 4}, cluster={"instance": "aws:p3.16xlarge", "nodes": 1})
    p3 = answered(cli("estimate", write_job(tmp_path, job), "--json"))["breakdown_s"]
    assert p3["comm_tp"] == _estimate(cli, tmp_path, {"tp": 2, "pp": 1, "dp": 4}, nvlink_topology=MESH)["comm_tp"]


@pytest.mark.parametrize("cluster, says", [
    ({"gpus_per_node": 16, "nvlink_topology": MESH}, "error: cluster.nvlink_topology: hybrid-cube-mesh joins 8 GPUs"),
    ({"nvlink_topology": "torus"}, "error: cluster.nvlink_topology"),
])
def test_bad_topology_is_refused_in_one_line(cli, tmp_path, cluster, says):
    job = dict(JOB, parallel={"tp": 2, "pp": 1, "dp": 4}, cluster=dict(JOB["cluster"], **cluster))
    assert refused(cli("estimate", write_job(tmp_path, job), "--json")).startswith(says)


def test_plan_says_the_mesh_and_the_tp_groups_rate(cli, tmp_path):
    job = dict(JOB, parallel={"tp": 2, "pp": 1, "dp": 4}, cluster={"instance": "aws:p3.16xlarge", "nodes": 1})
    code, out, err = cli("estimate", write_job(tmp_path, job))
    text = " ".join((out + err).split())
    assert code == 0
    assert "(25 of 150 GB/s per GPU: the group's links on the hybrid-cube-mesh)" in text
    assert "NVLink hybrid-cube-mesh: a TP / DP group rings only over the NVLinks between its members" in text


QUAD = "nvlink4-quad-mesh"
H200_JOB = {"model": {"layers": 8, "hidden": 4096, "heads": 32, "kv_heads": 8, "ffn_hidden": 14336, "vocab": 128256,
                      "mlp": "swiglu"},
            "training": {"seq_len": 4096, "global_batch": 8, "micro_batch": 2, "precision": "bf16",
                         "recompute": "full", "framework": "megatron-lm", "tokens": 1e9},
            "cluster": {"gpu": "H200-SXM-141GB", "gpus_per_node": 4, "nodes": 1}}


def test_quad_mesh_splits_a_hopper_gpus_18_links_over_its_three_peers():
    # kfnode52: four SXM Hopper GPUs with no NVSwitch, each to each; a group of g of them reaches (g - 1)/3
    assert {sum(r) for r in NVLINK_TOPOLOGIES[QUAD]} == {18}
    assert group_link_share(QUAD, 2, 1, 4) == pytest.approx(1 / 3)  # TP 2: a pair's 6 links
    assert group_link_share(QUAD, 2, 2, 4) == pytest.approx(1 / 3)  # DP 2 at stride 2 (GPUs 0, 2): the same
    assert group_link_share(QUAD, 4, 1, 4) == 1.0  # TP 4: every link
    assert group_link_share(QUAD, 2, 1, 4, "all_to_all") == pytest.approx(1 / 3)
    assert group_link_share(QUAD, 4, 1, 4, "all_to_all") == 1.0
    assert group_link_share(QUAD, 2, 1, 2) == pytest.approx(1 / 3)  # a 2-GPU job on the board: its pair's links


def test_tp2_on_the_quad_mesh_is_slower_tp4_is_the_switchs(cli, tmp_path):
    tp2 = {"tp": 2, "pp": 1, "dp": 2}
    switch = _estimate(cli, tmp_path, tp2, base=H200_JOB)
    quad = _estimate(cli, tmp_path, tp2, base=H200_JOB, nvlink_topology=QUAD)
    # the TP all-reduces' bandwidth term at a third of the rate (latency kept): well over 2x the switch's
    assert quad["comm_tp"] > 2 * switch["comm_tp"]
    tp4 = {"tp": 4, "pp": 1, "dp": 1}
    assert (_estimate(cli, tmp_path, tp4, base=H200_JOB, nvlink_topology=QUAD)
            == _estimate(cli, tmp_path, tp4, base=H200_JOB))


@pytest.mark.parametrize("cluster, says", [
    ({"gpus_per_node": 8, "nvlink_topology": QUAD}, "error: cluster.nvlink_topology: nvlink4-quad-mesh joins 4 GPUs"),
    ({"gpu": "A100-SXM-80GB", "nvlink_topology": QUAD},
     "error: cluster.nvlink_topology: nvlink4-quad-mesh is a mesh of links A100-SXM-80GB does not have"),
])
def test_quad_mesh_off_its_board_is_refused(cli, tmp_path, cluster, says):
    job = dict(H200_JOB, parallel={"tp": 2, "pp": 1, "dp": 2}, cluster=dict(H200_JOB["cluster"], **cluster))
    assert refused(cli("estimate", write_job(tmp_path, job), "--json")).startswith(says)
