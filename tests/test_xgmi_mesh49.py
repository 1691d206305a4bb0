"""An MI300X / MI325X node's fully connected xGMI mesh (planner.hardware.nvlink ``XGMI_FULL_MESH_LINKS``): one link a
pair, a group of k GPUs drives its k - 1 links (AMD's ROCm blog: the 8-GPU all-reduce at seven links' rate; ROCm/rccl
#1210: 3 x 48 GB/s a GPU at four GPUs), and a bare MI300X / MI325X node is wired so unless the job says otherwise
(acc49)."""
import pytest

from conftest import answered, write_job
from planner.hardware.nvlink import XGMI_FULL_MESH_LINKS, default_topology, group_link_share, ring_links

XGMI = "xgmi-full-mesh"


def test_every_gpu_has_one_link_to_each_of_its_seven_peers():
    assert all(XGMI_FULL_MESH_LINKS[i][j] == (i != j) for i in range(8) for j in range(8))


@pytest.mark.parametrize("members, links", [
    (tuple(range(8)), 7),  # all seven links (the integer ring search alone finds 3 rings: 6)
    ((0, 1, 2, 3), 3), ((0, 2, 4, 6), 3),  # any four: the three links between them
    ((5, 6, 7), 2), ((0, 7), 1),
])
def test_a_group_drives_the_links_to_its_other_members(members, links):
    assert ring_links(XGMI, members) == links


def test_megatron_groups_get_their_share_of_the_seven_links():
    assert group_link_share(XGMI, 8, 1, 8) == 1.0  # the measured 8-GPU rate (efficiency intra_bw) stays as it was
    assert group_link_share(XGMI, 4, 1, 8) == pytest.approx(3 / 7)
    assert group_link_share(XGMI, 4, 2, 8) == pytest.approx(3 / 7)
    assert group_link_share(XGMI, 2, 1, 8) == pytest.approx(1 / 7)


def test_the_chip_names_its_platform_wiring():
    assert default_topology("MI300X-192GB") == XGMI
    assert default_topology("MI325X-256GB") == XGMI
    assert default_topology("H100-SXM-80GB") == "switch"
    assert default_topology("V100-SXM2-16GB") == "switch"  # the DGX-1 mesh is the instance's, not the chip's


JOB = {"model": {"layers": 16, "hidden": 4096, "heads": 32, "vocab": 32000},
       "training": {"seq_len": 4096, "global_batch": 16, "micro_batch": 1, "precision": "bf16",
                    "framework": "megatron-core", "tokens": 1e9},
       "parallel": {"tp": 2, "pp": 1, "dp": 4},
       "cluster": {"gpu": "MI300X-192GB", "gpus_per_node": 8, "nodes": 1}}


def _estimate(cli, tmp_path, **cluster):
    job = dict(JOB, cluster=dict(JOB["cluster"], **cluster))
    return answered(cli("estimate", write_job(tmp_path, job), "--json"))["breakdown_s"]


def test_a_bare_mi300x_node_rings_tp2_on_one_link(cli, tmp_path):
    bare, switch = _estimate(cli, tmp_path), _estimate(cli, tmp_path, nvlink_topology="switch")
    assert bare == _estimate(cli, tmp_path, nvlink_topology=XGMI)
    # the TP pair's all-reduce at 1/7 of the 8-GPU rate: its bandwidth term 7x, the latency kept
    assert bare["comm_tp"] > 4 * switch["comm_tp"]


def test_the_plan_says_the_mesh(cli, tmp_path):
    code, out, err = cli("estimate", write_job(tmp_path, JOB))
    text = " ".join((out + err).split())
    assert code == 0
    assert "xGMI xgmi-full-mesh: a TP / DP group rings only over the xGMI links between its members" in text
