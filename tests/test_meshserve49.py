"""Serving on a meshed node (meshserve49): a replica's TP all-reduce, its expert-parallel exchange and its PP sends
are priced on the links their group's members share (planner.workloads.serving_iteration ``replica_link_bw``, over
training's ``group_intra_bw``), not at the whole node's rate. The expected rates are derived here from the link table
(``XGMI_FULL_MESH_LINKS``: one xGMI link a pair, seven a GPU) and the catalog's per-GPU rate; a switched node and a
TP-8 replica (all seven links) stay as they were."""
from __future__ import annotations

import pytest

from planner.hardware.nvlink import DGX1_V100_LINKS, XGMI_FULL_MESH_LINKS
from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_iteration import ACTIVATION_BYTES_BF16, IterationModel, tp_allreduce_time
from planner.workloads.serving_screen import replica_spec


def _job(gpu, **cluster):
    return load_job_dict({"model": {"preset": "llama3-70b"}, "cluster": {"gpu": gpu, "gpus_per_node": 8, "nodes": 1, **cluster},
                          "serving": {"p99_latency_ms": 100, "prompt_tokens": 512, "output_tokens": 128}})


def _hw(gpu, **cluster):
    return option_from_cluster(ClusterSpec(gpu=gpu, gpus_per_node=8, nodes=1, **cluster))


def _per_layer_allreduce(im, tokens):
    """One all-reduce's seconds as the step prices it: its comm term over the two all-reduces of each layer."""
    return float(im.parts(decode_seqs=tokens, decode_ctx=1000.0)["comm"]) / (2 * im.layers)


def _share(links, members):
    """Of GPU ``members[0]``'s links, those that go to the other members: the share a group of them rings on (a pair:
    the links between the two; a complete group of a full mesh: all of them to the others)."""
    return sum(links[members[0]][b] for b in members[1:]) / sum(links[members[0]])


@pytest.mark.parametrize("gpu, links, cluster", [
    ("MI300X-192GB", XGMI_FULL_MESH_LINKS, {}),
    ("V100-SXM2-16GB", DGX1_V100_LINKS, {"nvlink_topology": "hybrid-cube-mesh"}),
])
def test_tp2_allreduce_on_a_mesh_runs_on_the_pairs_links(gpu, links, cluster):
    """Llama-3-70B TP 2: GPUs 0-1 share one xGMI link of seven on an MI300X node (one NVLink of six on a DGX-1), so
    the per-layer all-reduce of a 64-sequence decode step moves its bytes at that share of the catalog's rate; until
    meshserve49 it ran at the whole node's (7x too fast on MI300X)."""
    job, hw = _job(gpu, **cluster), _hw(gpu, **cluster)
    switch = _hw(gpu, nvlink_topology="switch")
    im = IterationModel.build(job.model, hw, 2, "bf16", "bf16")
    bw = switch.intra_bw_eff * _share(links, (0, 1))
    assert bw == pytest.approx(switch.intra_bw_eff / (7 if gpu.startswith("MI300X") else 6))
    nbytes = 64 * job.model.hidden * ACTIVATION_BYTES_BF16
    expected = min(nbytes / bw + hw.eff.intra_alpha_s, nbytes / bw + 2 * hw.eff.intra_alpha_s)  # vLLM's two stages
    assert _per_layer_allreduce(im, 64) == pytest.approx(expected, rel=1e-12)
    assert _per_layer_allreduce(im, 64) > 2 * _per_layer_allreduce(IterationModel.build(job.model, switch, 2, "bf16",
                                                                                        "bf16"), 64)


def test_tp4_on_mi300x_has_three_links_and_tp8_all_seven():
    """TP 4 (GPUs 0-3): three of seven links; TP 8: all seven, the node's rate as before (no change at TP 8)."""
    job, hw, switch = _job("MI300X-192GB"), _hw("MI300X-192GB"), _hw("MI300X-192GB", nvlink_topology="switch")
    assert IterationModel.build(job.model, hw, 4, "bf16", "bf16").ar_bw == pytest.approx(
        switch.intra_bw_eff * _share(XGMI_FULL_MESH_LINKS, (0, 1, 2, 3)))
    tp8 = IterationModel.build(job.model, hw, 8, "bf16", "bf16")
    assert tp8.ar_bw == pytest.approx(switch.intra_bw_eff)
    assert _per_layer_allreduce(tp8, 64) == pytest.approx(
        _per_layer_allreduce(IterationModel.build(job.model, switch, 8, "bf16", "bf16"), 64), rel=1e-12)
    # and the formula the step uses, on the node's rate
    nbytes = 64 * job.model.hidden * ACTIVATION_BYTES_BF16
    assert _per_layer_allreduce(tp8, 64) == pytest.approx(
        tp_allreduce_time(nbytes, 8, switch.intra_bw_eff, hw.eff.intra_alpha_s), rel=1e-12)


def test_pp_send_on_mi300x_takes_one_link():
    """TP 2 x PP 2 (vLLM's TP-innermost ranks: the stages' rank r at 0 and 2): the stage-to-stage send crosses one
    xGMI link, a 256-token activation message at 1/7 of the node's rate."""
    job, hw = _job("MI300X-192GB"), _hw("MI300X-192GB")
    spec = replica_spec(job.model, job.serving, hw, 2, 2)
    link = hw.intra_bw_eff * XGMI_FULL_MESH_LINKS[0][2] / sum(XGMI_FULL_MESH_LINKS[0])
    assert spec.p2p_s == pytest.approx(hw.eff.intra_alpha_s + 256 * job.model.hidden * ACTIVATION_BYTES_BF16 / link,
                                       rel=1e-12)


def test_switch_node_is_unchanged():
    """An H100 node (NVSwitch): every group at the GPU's full rate, TP 2's all-reduce and PP 2's send as before."""
    job, hw = _job("H100-SXM-80GB"), _hw("H100-SXM-80GB")
    assert IterationModel.build(job.model, hw, 2, "bf16", "bf16").ar_bw == hw.intra_bw_eff
    spec = replica_spec(job.model, job.serving, hw, 2, 2)
    assert spec.p2p_s == hw.eff.intra_alpha_s + 256 * job.model.hidden * ACTIVATION_BYTES_BF16 / hw.intra_bw_eff
