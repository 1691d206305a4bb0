"""Launch specs reach the fabric the plan priced (QA 41): the EFA devices a multi-node AWS pod requests, SkyPilot's
network tier, and a note where a cloud's requirement has no sourced resource name (hardware_catalog/fabric.py,
planner/present/emit.py ``k8s_fabric`` / ``skypilot_fabric`` / ``FABRIC_NOTES``)."""
import csv

import pytest
import yaml

from hardware_catalog import fabric
from hardware_catalog.fabric import launch_fabric, launch_fabrics
from planner.present.emit import EFA_RESOURCE, emit_launch_spec
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

PRETRAIN = {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "recompute": "selective", "tokens": 1e11}


def _plan(instance: str, nodes: int):
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": PRETRAIN,
                         "parallel": {"tp": 2, "pp": 1, "zero": 1}, "cluster": {"instance": instance, "nodes": nodes}})
    return job, estimate_job(job)


def _containers(text: str) -> list[dict]:
    doc = yaml.safe_load(text)
    return [rep["template"]["spec"]["containers"][0] for rep in doc["spec"]["pytorchReplicaSpecs"].values()]


def _notes(text: str) -> list[str]:
    return [line[len("# note: "):] for line in text.splitlines() if line.startswith("# note: ")]


def test_multi_node_p5_pods_request_all_32_efa_devices():
    job, best = _plan("aws:p5.48xlarge", 2)
    text = emit_launch_spec(job, best, "k8s")
    pods = _containers(text)
    assert len(pods) == 2  # Master and Worker: every node's pod
    for c in pods:
        assert c["resources"]["limits"][EFA_RESOURCE] == 32
        assert c["resources"]["requests"][EFA_RESOURCE] == 32
        assert c["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert any("aws-ofi-nccl" in n and "3,200 Gb/s of EFA" in n for n in _notes(text))


@pytest.mark.parametrize("fmt", ["torchrun", "slurm"])
def test_multi_node_efa_plan_says_what_the_image_needs(fmt):
    job, best = _plan("aws:p5en.48xlarge", 2)
    assert any("aws-ofi-nccl" in n and "NET/Socket" in n for n in _notes(emit_launch_spec(job, best, fmt)))


def test_single_node_plan_requests_no_fabric():
    job, best = _plan("aws:p5.48xlarge", 1)
    text = emit_launch_spec(job, best, "k8s")
    for c in _containers(text):
        assert EFA_RESOURCE not in c["resources"]["limits"] and "requests" not in c["resources"]
    assert not any("EFA" in n for n in _notes(text))
    assert "network_tier" not in yaml.safe_load(emit_launch_spec(job, best, "skypilot"))["resources"]


def test_skypilot_asks_for_the_best_network_tier_on_efa_and_gpudirect():
    for inst in ("aws:p5.48xlarge", "gcp:a3-megagpu-8g"):
        job, best = _plan(inst, 2)
        assert yaml.safe_load(emit_launch_spec(job, best, "skypilot"))["resources"]["network_tier"] == "best", inst
    job, best = _plan("aws:p4d.24xlarge", 2)
    assert any("all 4 only with use_internal_ips" in n for n in _notes(emit_launch_spec(job, best, "skypilot")))


def test_azure_nd_plan_notes_its_infiniband_resource():
    job, best = _plan("azure:Standard_ND96isr_H100_v5", 2)
    k8s = emit_launch_spec(job, best, "k8s")
    notes = _notes(k8s)
    assert any("rdma/ib" in n and "rdma/shared_ib" in n and "IPC_LOCK" in n for n in notes)
    assert any("InfiniBand" in n and "NET/IB" in n for n in notes)
    # no resource name is invented: the pod asks for GPUs only
    assert all(set(c["resources"]["limits"]) == {"nvidia.com/gpu"} for c in _containers(k8s))
    sky = emit_launch_spec(job, best, "skypilot")
    assert "network_tier" not in yaml.safe_load(sky)["resources"]  # SkyPilot refuses a network tier on Azure
    assert any("no infiniband network on azure" in n for n in _notes(sky))


def test_gcp_gpudirect_plan_is_never_silent():
    job, best = _plan("gcp:a3-megagpu-8g", 2)
    notes = _notes(emit_launch_spec(job, best, "k8s"))
    assert any("GPUDirect-TCPXO" in n for n in notes) and any("networking.gke.io" in n for n in notes)


def test_an_efa_row_without_a_sourced_count_says_how_to_request_it():
    job, best = _plan("aws:p6-b300.48xlarge", 2)
    text = emit_launch_spec(job, best, "k8s")
    assert all(EFA_RESOURCE not in c["resources"]["limits"] for c in _containers(text))
    assert any("allocatable count" in n and EFA_RESOURCE in n for n in _notes(text))


# ------------------------------------------------------------------------------------ the table
def _instances() -> dict[str, dict]:
    with (fabric.DATA.parent / "instances.csv").open(newline="", encoding="utf-8") as fh:
        return {f"{r['cloud']}:{r['name']}": r for r in csv.DictReader(fh)}


def test_every_clustered_rdma_instance_has_its_launch_fabric():
    """A clustered instance priced on EFA, InfiniBand or RoCE, or on a GPUDirect-TCPX(O) Ethernet node, has a row;
    each row names a catalog instance of a matching fabric."""
    insts, rows = _instances(), launch_fabrics()
    for key, r in insts.items():
        if r["cluster"].lower() == "true" and r["fabric"] in ("efa", "infiniband", "roce"):
            assert key in rows, key
    match = {"efa": {"efa"}, "infiniband": {"infiniband"}, "gpudirect-tcpx": {"ethernet"},
             "gpudirect-tcpxo": {"ethernet"}, "gpudirect-rdma": {"roce"}}
    for key, row in rows.items():
        assert key in insts, key
        assert insts[key]["fabric"] in match[row.transport], (key, insts[key]["fabric"], row.transport)
    assert launch_fabric("aws:p5.48xlarge").devices == 32 and launch_fabric("aws:p4d.24xlarge").devices == 4
    assert launch_fabric("gcp:a2-highgpu-8g") is None  # plain VPC Ethernet: nothing to request


@pytest.mark.parametrize("row, error", [
    ("aws,x.1,efa,0,src,2026-12-04", "positive whole number"),
    ("aws,x.1,roce,,src,2026-12-04", "transport 'roce'"),
    ("azure,x.1,infiniband,8,src,2026-12-04", "EFA count"),
    ("aws,x.1,efa,4,,2026-12-04", "source"),
])
def test_a_malformed_row_is_refused_by_line(tmp_path, monkeypatch, row, error):
    p = tmp_path / "launch_fabric.csv"
    p.write_text("cloud,instance,transport,devices,source,read\n" + row + "\n")
    monkeypatch.setattr(fabric, "DATA", p)
    fabric.launch_fabrics.cache_clear()
    try:
        with pytest.raises(ValueError, match=error):
            fabric.launch_fabrics()
    finally:
        fabric.launch_fabrics.cache_clear()
