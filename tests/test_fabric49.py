"""fabric49: inter-node latencies by fabric, sourced, and launch specs that follow ``cluster.fabric``.

Every link row of interconnects.csv carries the source of its latency (``latency_source``): InfiniBand and RoCE 14 µs
by NCCL's own model (tuning.cc ``hwLat[NET][Ring][Simple]`` plus net_ib's reported 0), EFA / GPUDirect-TCPX(O) /
Ethernet none (the comm model's prior, said why). An instance's plan takes its own fabric family's latency
(``options.instance_latency``; every instance kept the 15 µs prior before), and a job's ``cluster.fabric`` of another
family than the instance's drops the instance's fabric devices from the launch spec (``emit.fabric_of``; an Azure ND
pod on a stated RoCE network still asked for 8 ``rdma/ib`` HCAs and its IB topology file). Each test fails on the code
before: no ``latency_source`` column, no ``family_latency`` / ``instance_latency``, every instance at 15 µs, the
instance's devices requested whatever the stated fabric."""
from __future__ import annotations

import csv

import pytest
import yaml

from hardware_catalog.catalog import DATA_DIR
from planner.hardware.efficiency import Efficiency
from planner.hardware.options import family_latency, inter_node_links, option_from_cluster
from planner.present.emit import EFA_RESOURCE, IB_RESOURCE, emit_launch_spec
from planner.spec import load_job_dict
from planner.spec.schema import ClusterSpec
from planner.workloads.training import estimate_job

_IB, _EFA = "azure:Standard_ND96isr_H100_v5", "aws:p5.48xlarge"
PRETRAIN = {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "recompute": "selective", "tokens": 1e11}


def _rows() -> list[dict]:
    with open(DATA_DIR / "interconnects.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_link_row_says_where_its_latency_comes_from():
    """Each row names its latency's source; an inter-node row without a figure says it prices the prior, and the
    rows of one fabric family agree (the rule is per transport: ``family_latency`` reads the first)."""
    by_family: dict[str, set] = {}
    for r in _rows():
        src = (r.get("latency_source") or "").strip()
        assert src, r["name"]
        if r["kind"] == "inter_node":
            by_family.setdefault(r["fabric"], set()).add(r["latency_us"])
            assert bool(r["latency_us"]) != src.startswith("prior"), r["name"]
            if r["latency_us"]:
                assert "tuning.cc" in src and "net_ib.cc" in src, r["name"]
    assert all(len(v) == 1 for v in by_family.values()), by_family
    assert by_family["infiniband"] == by_family["roce"] == {"14"}
    assert by_family["efa"] == by_family["ethernet"] == {""}


def test_an_ib_and_an_efa_instance_take_their_own_rows_latency():
    """Azure ND H100 v5 (InfiniBand) prices 14 µs a network step, its row's; p5 (EFA, no sourced figure) keeps the
    prior; each plan's assumed line says which, and the comm model's other figures are the same."""
    ib = option_from_cluster(ClusterSpec(instance=_IB, nodes=2))
    efa = option_from_cluster(ClusterSpec(instance=_EFA, nodes=2))
    us, _ = family_latency("infiniband")
    assert us == 14.0 and family_latency("efa")[0] is None
    assert ib.eff.inter_alpha_s == pytest.approx(14e-6, rel=1e-12)
    assert efa.eff.inter_alpha_s == Efficiency().inter_alpha_s == 15e-6
    assert ib.eff.sources["inter_alpha_s"] == f"stated: {_IB}'s infiniband latency 14 µs"
    ib_line = next(n for n in ib.plan_notes(2) if "inter-node latency" in n)
    assert ib_line.startswith(f"{_IB}: inter-node latency: 14 µs for infiniband (NCCL's own model") and "15 µs" in ib_line
    efa_line = next(n for n in efa.plan_notes(2) if "inter-node latency" in n)
    assert "15 µs (prior; no sourced latency for efa" in efa_line
    one = option_from_cluster(ClusterSpec(instance=_IB, nodes=1))  # one node fixed: no inter-node figure to say
    assert not any("inter-node latency" in n for n in one.plan_notes(1))


def test_the_ib_rows_latency_shortens_the_ib_plans_step():
    """A multi-node ND H100 v5 plan's step is shorter at 14 µs than the same layout at the 15 µs prior (figures of
    the same rate and family, latency 15), the difference the latency's alone."""
    def step(cluster):
        job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": PRETRAIN,
                             "parallel": {"tp": 1, "pp": 1, "zero": 3}, "cluster": cluster})
        return estimate_job(job)["step_time_s"]

    own = step({"instance": _IB, "nodes": 4})
    prior = step({"instance": _IB, "nodes": 4,
                  "fabric": {"gbps_per_gpu": 400, "family": "infiniband", "latency_us": 15}})
    assert own < prior


def test_a_stated_link_without_a_sourced_latency_prices_the_prior_and_says_so():
    """``fabric: EFA-v2-p5`` on an InfiniBand instance: the row gives no figure, so the prior (15 µs), where its old
    unsourced 15 and Ethernet's 20 were taken as stated."""
    for link in ("EFA-v2-p5", "Ethernet-200G"):
        hw = option_from_cluster(ClusterSpec(instance=_IB, nodes=2, fabric=link))
        assert hw.eff.inter_alpha_s == 15e-6 and "inter_alpha_s" not in hw.eff.sources, link
        assert hw.fabric_note.endswith("latency: the comm model's inter-node alpha, 15 µs (prior; the row has no sourced "
                                       "latency, `planner catalog links` says why)"), link
    assert all(r["latency_us"] == "" for r in inter_node_links().values() if r["fabric"] == "efa")


def _plan(instance: str, fabric=None):
    cluster = {"instance": instance, "nodes": 2, **({"fabric": fabric} if fabric else {})}
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": PRETRAIN,
                         "parallel": {"tp": 2, "pp": 1, "zero": 1}, "cluster": cluster})
    return job, estimate_job(job)


def _limits(text: str) -> list[dict]:
    doc = yaml.safe_load(text)
    return [rep["template"]["spec"]["containers"][0]["resources"]["limits"]
            for rep in doc["spec"]["pytorchReplicaSpecs"].values()]


def _notes(text: str) -> list[str]:
    return [line[len("# note: "):] for line in text.splitlines() if line.startswith("# note: ")]


@pytest.mark.parametrize("instance,fabric,device", [(_EFA, "IB-NDR", EFA_RESOURCE), (_IB, "RoCE-400", IB_RESOURCE)])
def test_a_stated_fabric_of_another_family_drops_the_instances_devices(instance, fabric, device):
    """p5 on a stated InfiniBand network requests no EFA device; ND H100 v5 on a stated RoCE one no ``rdma/ib`` HCA
    and no IB topology file; the spec says the pods need the stated network's devices, and not that no launch fabric
    is known. A stated link of the instance's own family (IB-HDR on ND H100 v5) keeps its devices."""
    job, best = _plan(instance)
    assert all(device in lim for lim in _limits(emit_launch_spec(job, best, "k8s")))
    job, best = _plan(instance, fabric)
    text = emit_launch_spec(job, best, "k8s")
    assert all(device not in lim for lim in _limits(text))
    notes = _notes(text)
    assert any(n.startswith("the plan priced the job's cluster.fabric") and instance in n for n in notes)
    assert not any("no launch fabric is known" in n for n in notes)
    if instance == _IB:
        assert "NCCL_TOPO_FILE" not in emit_launch_spec(job, best, "torchrun")
        job, best = _plan(_IB, "IB-HDR")  # still InfiniBand: its 8 HCAs are requested, no restated-fabric note
        text = emit_launch_spec(job, best, "k8s")
        assert all(lim.get(IB_RESOURCE) == 8 for lim in _limits(text))
        assert not any("cluster.fabric" in n for n in _notes(text))


def test_the_links_table_says_prior_where_a_row_has_no_sourced_latency(cli):
    code, out, err = cli("catalog", "links")
    assert code == 0, err
    efa = next(line for line in out.splitlines() if "EFA-v2-p5" in line)
    ib = next(line for line in out.splitlines() if "IB-NDR" in line)
    assert "prior" in efa and "14" in ib
