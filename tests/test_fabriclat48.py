"""fabriclat48: ``cluster.fabric``'s second pass (planner.hardware.options ``stated_fabric``). The named link's
``latency_us`` is the comm model's per-step inter-node alpha (``Efficiency.inter_alpha_s``), where it was the 15 µs
prior whatever the link; a network no catalog link describes is given by its figures (``gbps_per_gpu`` or
``gbps_per_node``, ``family``, ``latency_us``), each refused in one line naming ``cluster.fabric.<key>``; the app's
inputs carry the fabric (its control: tests/test_qa83.py). Every test fails on the code before: the alpha stayed the
prior, and a mapping under ``cluster.fabric`` was refused as no text."""
from __future__ import annotations

import csv

import pytest

from conftest import answered, refused, write_job
from hardware_catalog.catalog import DATA_DIR
from planner.hardware.efficiency import Efficiency
from planner.hardware.options import option_from_cluster, stated_fabric
from planner.spec.schema import ClusterSpec

_INSTANCE = "azure:Standard_ND96isr_H100_v5"  # 8 x 400 Gb/s NDR InfiniBand (instances.csv)
#: Qwen3-30B-A3B at EP 16 over two such nodes: all-to-all bound (tests/test_fabric48.py's job)
_JOB = {"model": {"preset": "qwen3-30b-a3b"},
        "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1.0e10, "framework": {"name": "megatron-core"}},
        "parallel": {"tp": 1, "pp": 1, "ep": 16},
        "cluster": {"instance": _INSTANCE, "nodes": 2}}


def _latency_us() -> dict[str, float | None]:
    """interconnects.csv's ``latency_us`` of each inter-node link, read from the file itself (None: no sourced figure,
    the prior; fabric49)."""
    with open(DATA_DIR / "interconnects.csv", newline="") as f:
        return {r["name"]: float(r["latency_us"]) if r["latency_us"] else None
                for r in csv.DictReader(f) if r["kind"] == "inter_node"}


_NCCL = "NCCL's own model, NVIDIA/nccl src/graph/tuning.cc @b6475625 ncclTopoTuneModel"


def test_the_named_links_latency_is_the_comm_models_inter_node_alpha():
    """Every inter-node link of the catalog with a sourced latency sets the option's inter-node alpha to it
    (InfiniBand and RoCE 14 µs since fabric49), its source says so, and a row without one keeps the prior (15 µs)
    and its source, as a figure without ``latency_us`` does. The instance's own network (ND H100 v5's InfiniBand) is
    the same 14 µs (fabric49: the prior before)."""
    plain = option_from_cluster(ClusterSpec(instance=_INSTANCE, nodes=2))
    assert plain.eff.inter_alpha_s == pytest.approx(14e-6, rel=1e-12) and Efficiency().inter_alpha_s == 15e-6
    rows = _latency_us()
    assert (rows["IB-NDR"], rows["RoCE-400"], rows["Ethernet-100G"]) == (14.0, 14.0, None)
    for name, us in rows.items():
        hw = option_from_cluster(ClusterSpec(instance=_INSTANCE, nodes=2, fabric=name))
        if us is None:
            assert hw.eff.inter_alpha_s == 15e-6 and "inter_alpha_s" not in hw.eff.sources, name
        else:
            assert hw.eff.inter_alpha_s == pytest.approx(us * 1e-6, rel=1e-12), name
            assert hw.eff.sources["inter_alpha_s"] == f"stated: cluster.fabric {name} latency {us:g} µs"
        assert hw.eff.intra_alpha_s == plain.eff.intra_alpha_s and hw.eff.gemm_max == plain.eff.gemm_max
    line = next(n for n in option_from_cluster(ClusterSpec(gpu="H100", nodes=2, fabric="roce-400")).plan_notes(2)
                if n.startswith("cluster.fabric RoCE-400"))
    assert line.endswith(f"; latency: the row's 14 µs ({_NCCL}) as the comm model's inter-node alpha (its prior: 15 µs)")


def test_a_measured_alpha_is_kept_over_the_rows_stated_one():
    """A calibration profile's measured inter-node alpha is a measurement of the cluster: the row's latency does
    not replace it, and the line says which was used."""
    eff = Efficiency(inter_alpha_s=3e-6, sources={"inter_alpha_s": "measured: H100 (2026-12-01)"})
    got = stated_fabric(ClusterSpec(instance=_INSTANCE, fabric="IB-NDR"), 8, eff)
    assert got.eff is eff and got.family == "infiniband" and got.inter_node_bw == 8 * 400e9 / 8
    assert got.note.endswith(f"latency: the profile's measured inter-node alpha, 3 µs, not the row's 14 µs ({_NCCL})")


def test_the_figures_price_as_a_link_of_the_same_figures_and_without_latency_as_the_prior(cli, tmp_path):
    """``{gbps_per_gpu: 400, family: infiniband, latency_us: 14}`` on the ND H100 v5 is its own NDR network at its
    row's latency: the plan without ``cluster.fabric`` and ``fabric: IB-NDR`` to the digit (fabric49: the instance
    takes its fabric's 14 µs); without ``latency_us`` it is the prior's 15 µs, and the 1 µs more a step across nodes
    lengthens only the communication."""
    def est(name, fabric=None):
        cl = {**_JOB["cluster"], **({"fabric": fabric} if fabric is not None else {})}
        return answered(cli("estimate", write_job(tmp_path, {**_JOB, "cluster": cl}, f"{name}.yaml"), "--json"))

    base = est("base")
    prior = est("prior", {"gbps_per_gpu": 400, "family": "infiniband"})
    fast = est("fast", {"gbps_per_gpu": 400, "family": "InfiniBand", "latency_us": 14})
    ndr = est("ndr", "IB-NDR")
    assert fast["step_time_s"] == pytest.approx(base["step_time_s"], rel=1e-12)
    assert fast["step_time_s"] == pytest.approx(ndr["step_time_s"], rel=1e-12)
    assert fast["breakdown_s"] == pytest.approx(ndr["breakdown_s"], rel=1e-12)
    assert fast["step_time_s"] < prior["step_time_s"]
    b0, b1 = prior["breakdown_s"], fast["breakdown_s"]
    assert all(b1[k] == pytest.approx(b0[k], rel=1e-12) for k in b0 if not k.startswith("comm_")), (b0, b1)
    assert sum(b1[k] - b0[k] for k in b0 if k.startswith("comm_")) < 0
    hw = fast["hardware"]
    assert (hw["inter_node_gbps"], hw["network_fabric"], hw["network_assumed"]) == (3200, "infiniband", False)
    line = next(a for a in fast["assumptions"] if a.startswith("cluster.fabric"))
    assert line.startswith("cluster.fabric (the job's figures): 400 Gb/s per NIC, one per GPU (3,200 Gb/s per 8-GPU "
                           "node, infiniband), in place of azure:Standard_ND96isr_H100_v5's infiniband"), line
    assert line.endswith("latency: the job's 14 µs as the comm model's inter-node alpha (its prior: 15 µs)"), line


def test_the_figures_family_is_what_the_dispatcher_needs_read(cli, tmp_path):
    """DeepEP's group across two nodes is refused on a network given as Ethernet by its figures."""
    job = {**_JOB, "training": {**_JOB["training"], "framework": {"name": "megatron-core", "moe_dispatcher": "deepep"}},
           "cluster": {**_JOB["cluster"], "fabric": {"gbps_per_node": 400, "family": "ethernet"}}}
    line = refused(cli("estimate", write_job(tmp_path, job, "eth.yaml")))
    assert line.startswith("error: training.framework.moe_dispatcher: deepep's group") and "not ethernet" in line, line


def test_a_bare_gpus_assumed_fabric_says_cluster_fabric_states_another():
    """A bare B200 cluster takes p6-b200's EFA, on which DeepEP's group stays in a node: the refusal names
    ``cluster.fabric`` (whose family it reads) beside ``inter_node_gbps``, and a link or figures of an RDMA family
    run it."""
    from planner.model.moe import dispatcher_refusal

    def why(**cluster):
        return dispatcher_refusal("deepep", option_from_cluster(ClusterSpec(gpu="B200-SXM-180GB", nodes=2, **cluster)),
                                  1, 16)

    assert why().endswith("not efa (B200-SXM-180GB's network assumed from aws:p6-b200.48xlarge; state yours with "
                          "cluster.inter_node_gbps or cluster.fabric): keep expert TP x EP in a node or use alltoall")
    assert why(fabric="IB-XDR") is None and why(fabric={"gbps_per_gpu": 400, "family": "roce"}) is None
    assert "not ethernet: keep" in why(fabric={"gbps_per_node": 800, "family": "ethernet"})


@pytest.mark.parametrize("fabric, says", [
    ({"gbps_per_gpu": 400}, "error: cluster.fabric.family: the network's fabric family, one of infiniband, roce, efa, "
                            "ethernet"),
    ({"family": "roce"}, "error: cluster.fabric.gbps_per_gpu: give the network's rate as gbps_per_gpu"),
    ({"gbps_per_gpu": 400, "gbps_per_node": 3200, "family": "roce"}, "error: cluster.fabric.gbps_per_gpu: give"),
    ({"gbps_per_gpu": 400, "family": "nvlink"}, "error: cluster.fabric.family: must be one of infiniband, roce, efa, "
                                                "ethernet, got 'nvlink'"),
    ({"gbps_per_gpu": 400, "family": "roce", "latency_us": 0}, "error: cluster.fabric.latency_us: must be more than 0"),
    ({"gbps_per_gpu": 0, "family": "roce"}, "error: cluster.fabric.gbps_per_gpu: must be at least"),
    ({"gbps_per_gpu": 400, "family": "roce", "kind": "x"}, "error: cluster.fabric.kind: unknown field"),
    ({"link": "IB-NDR", "latency_us": 3}, "error: cluster.fabric.latency_us: give a catalog link (cluster.fabric: "
                                          "IB-NDR) or the network's figures, not both"),
    (400, "error: cluster.fabric: a catalog link's name (`planner catalog links`) or the network's figures "
          "({gbps_per_gpu or gbps_per_node, family, latency_us}), got 400"),
])
def test_bad_figures_are_refused_in_one_line(cli, tmp_path, fabric, says):
    job = {**_JOB, "cluster": {**_JOB["cluster"], "fabric": fabric}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith(says), line


def test_the_apps_inputs_carry_the_fabric():
    """The app's inputs (planner.interactive): a job's link starts the control on the catalog's spelling of it, its
    figures on ``JOB_FABRIC`` (written back as the job has them), and a fabric chosen beside a Gb/s figure drops the
    figure, which the planner refuses beside it."""
    from hardware_catalog import load_catalog
    from planner import interactive as wi

    cat = load_catalog()
    base = {**_JOB, "cluster": {**_JOB["cluster"], "fabric": "roce-400"}}
    w = wi.inputs_from_job(wi.build_job(base, None), cat)
    assert (w.fabric, wi.widget_value("fabric", w.fabric)) == ("RoCE-400", "RoCE-400")
    opts = wi.fabric_choices(cat)
    assert opts[0] == wi.INSTANCE_FABRIC and {"IB-NDR", "RoCE-400", "EFA-v2-p5", "Ethernet-100G"} <= set(opts)
    assert "NVLink4" not in opts
    job = wi.build_job(base, w.replace(fabric="IB-HDR", inter_node_gbps=800))
    assert (job.cluster.fabric.link, job.cluster.inter_node_gbps) == ("IB-HDR", None)
    assert wi.build_job(base, w.replace(fabric=wi.fabric_field(wi.INSTANCE_FABRIC, base))).cluster.fabric is None
    figures = {"gbps_per_node": 1600, "family": "roce", "latency_us": 8}
    base = {**_JOB, "cluster": {**_JOB["cluster"], "fabric": figures}}
    w = wi.inputs_from_job(wi.build_job(base, None), cat)
    choice = wi.widget_value("fabric", w.fabric)
    assert choice == wi.JOB_FABRIC and wi.fabric_choices(cat, choice)[-1] == wi.JOB_FABRIC
    assert wi.build_job(base, w.replace(fabric=wi.fabric_field(choice, base))).cluster.fabric.model_dump(
        exclude_none=True) == figures
