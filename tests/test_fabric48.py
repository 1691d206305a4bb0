"""advice48: ``cluster.fabric`` names the cluster's inter-node link from the catalog (``planner catalog links``) in place
of the instance's or reference system's network (planner.hardware.options ``stated_fabric``): its line rate per NIC
(one per GPU) or per node, its fabric family (which the MoE dispatchers' needs read), said among the assumptions,
used by estimate, simulate and recommend, refused in one line naming the choices. Before, the field was refused as
unknown, and a cluster on RoCE instead of its instance row's InfiniBand could only give a number per node."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job

_FIELD = "cluster.fabric"
#: Qwen3-30B-A3B at EP 16 over two Azure ND H100 v5 nodes (8 x 400 Gb/s NDR InfiniBand): all-to-all bound
_JOB = {"model": {"preset": "qwen3-30b-a3b"},
        "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1.0e10, "framework": {"name": "megatron-core"}},
        "parallel": {"tp": 1, "pp": 1, "ep": 16},
        "cluster": {"instance": "azure:Standard_ND96isr_H100_v5", "nodes": 2}}


def _job(tmp_path, name: str, **cluster) -> str:
    return write_job(tmp_path, {**_JOB, "cluster": {**_JOB["cluster"], **cluster}}, f"{name}.yaml")


def test_a_slower_fabric_slows_the_plan_by_what_the_comm_model_prices(cli, tmp_path):
    """IB-HDR (200 Gb/s per NIC: 1,600 Gb/s a node, 14 µs since fabric49) in place of the row's NDR: the step is the comm
    model's at 1,600 Gb/s a node and the row's latency (the same plan with the network's figures, ``{gbps_per_node:
    1600, family: infiniband, latency_us: 14}``, to the last digit; fabriclat48: until then the latency was the prior's and
    ``inter_node_gbps: 1600`` matched), every second it adds over the row's own fabric named (IB-NDR, the same
    latency) is communication (compute unchanged)."""
    hdr = answered(cli("estimate", _job(tmp_path, "hdr", fabric="ib-hdr"), "--json"))
    figures = {"gbps_per_node": 1600, "family": "infiniband", "latency_us": 14}
    gbps = answered(cli("estimate", _job(tmp_path, "gbps", fabric=figures), "--json"))
    base = answered(cli("estimate", _job(tmp_path, "ndr", fabric="IB-NDR"), "--json"))
    assert hdr["step_time_s"] == pytest.approx(gbps["step_time_s"], rel=1e-12)
    assert hdr["breakdown_s"] == pytest.approx(gbps["breakdown_s"], rel=1e-12)
    assert hdr["step_time_s"] > 1.2 * base["step_time_s"], (hdr["step_time_s"], base["step_time_s"])
    b0, b1 = base["breakdown_s"], hdr["breakdown_s"]
    for k in ("compute_gemm", "compute_attention", "compute_memory_bound", "optimizer"):
        assert b1[k] == pytest.approx(b0[k], rel=1e-12), k
    comm = sum(b1[k] - b0[k] for k in b0 if k.startswith("comm_"))
    assert hdr["step_time_s"] - base["step_time_s"] == pytest.approx(comm, rel=1e-9)
    hw = hdr["hardware"]
    assert (hw["inter_node_gbps"], hw["network_fabric"], hw["network_assumed"]) == (1600, "infiniband", False)
    line = next(a for a in hdr["assumptions"] if a.startswith(f"{_FIELD} IB-HDR:"))
    assert line.startswith("cluster.fabric IB-HDR: 200 Gb/s per NIC, one per GPU (1,600 Gb/s per 8-GPU node, "
                           "infiniband; source: InfiniBand HDR line rate"), line
    assert "in place of azure:Standard_ND96isr_H100_v5's infiniband (3,200 Gb/s a node)" in line, line


def test_simulate_and_recommend_run_on_the_named_fabric(cli, tmp_path):
    """simulate's analytic step is estimate's on the fabric; recommend prices every plan on it (a node's aggregate
    row, RoCE-1600, is 1,600 Gb/s whatever the GPUs) and says so among its notes."""
    est = answered(cli("estimate", _job(tmp_path, "est", fabric="RoCE-1600"), "--json"))
    sim = answered(cli("simulate", _job(tmp_path, "sim", fabric="RoCE-1600"), "--json"))
    assert sim["analytic_step_time_s"] == pytest.approx(est["step_time_s"], rel=1e-9)
    job = {**_JOB, "parallel": {"tp": 1, "pp": 1}, "cluster": {**_JOB["cluster"], "fabric": "RoCE-1600"}}
    rec = answered(cli("recommend", write_job(tmp_path, job, "rec.yaml"), "--json", "--no-simulate", "--top", "3"))
    assert rec["ranked"] and {(p["hardware"]["inter_node_gbps"], p["hardware"]["network_fabric"])
                              for p in rec["ranked"]} == {(1600, "roce")}
    text = " ".join(rec.get("notes", [])) + " ".join(rec.get("assumptions", []))
    assert "cluster.fabric RoCE-1600: 1,600 Gb/s per node" in text


def test_the_fabric_family_is_what_the_dispatcher_needs_read(cli, tmp_path):
    """DeepEP's group across two nodes runs over the row's InfiniBand and is refused over plain Ethernet named as the
    cluster's fabric (planner.model.moe ``DISPATCHER_NEEDS``)."""
    job = {**_JOB, "training": {**_JOB["training"], "framework": {"name": "megatron-core", "moe_dispatcher": "deepep"}}}
    ib = answered(cli("estimate", write_job(tmp_path, job, "ib.yaml"), "--json"))
    assert ib["stack"]["moe_dispatcher"] == "deepep"
    eth = {**job, "cluster": {**job["cluster"], "fabric": "Ethernet-200G"}}
    line = refused(cli("estimate", write_job(tmp_path, eth, "eth.yaml")))
    assert line.startswith("error: training.framework.moe_dispatcher: deepep's group") and "not ethernet" in line, line


@pytest.mark.parametrize("cluster, says", [
    ({"fabric": "IB-NDX"}, "error: cluster.fabric: 'IB-NDX' is not an inter-node link of the catalog; choices: IB-HDR, "
                           "IB-NDR, IB-XDR, RoCE-400"),
    ({"fabric": "NVLink4"}, "error: cluster.fabric: 'NVLink4' is not an inter-node link"),
    ({"fabric": "RoCE-400", "inter_node_gbps": 400}, "error: cluster.fabric: give cluster.fabric or "
                                                     "cluster.inter_node_gbps (Gb/s per node), not both"),
    ({"fabric": {"gbps_per_gpu": 400, "family": "roce"}, "inter_node_gbps": 400}, "error: cluster.fabric: give "
                                                                                  "cluster.fabric or cluster.inter_node_gbps"),
    # a bare GPU too: its plan read inter_node_gbps and dropped the fabric unsaid until the schema refused the pair
    ({"instance": None, "gpu": "H100-SXM-80GB", "fabric": "RoCE-400", "inter_node_gbps": 400},
     "error: cluster.fabric: give cluster.fabric or cluster.inter_node_gbps (Gb/s per node), not both"),
])
def test_a_bad_fabric_is_refused_in_one_line(cli, tmp_path, cluster, says):
    for command in ("estimate", "recommend"):
        line = refused(cli(command, _job(tmp_path, command, **cluster)))
        assert line.startswith(says), line
