"""Launch specs reach the fabric the plan priced (QA 41): the EFA devices a multi-node AWS pod requests, SkyPilot's
network tier, and a note where a cloud's requirement has no sourced resource name (hardware_catalog/fabric.py,
planner/present/emit.py ``k8s_fabric`` / ``skypilot_fabric`` / ``FABRIC_NOTES``)."""
import csv
import json

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


def test_aks_nd_h100_v5_pods_request_the_ib_hcas_and_set_nccl_ib():
    """fabric34: an ND H100 v5 pod asked for GPUs only (a note named rdma/ib); it now requests the 8 HCAs as rdma/ib
    (Azure/aks-rdma-infiniband's SR-IOV plugin), adds IPC_LOCK and sets NCCL's IB variables and topology file."""
    job, best = _plan("azure:Standard_ND96isr_H100_v5", 2)
    k8s = emit_launch_spec(job, best, "k8s")
    doc = yaml.safe_load(k8s)
    for rep in doc["spec"]["pytorchReplicaSpecs"].values():
        spec = rep["template"]["spec"]
        c = spec["containers"][0]
        assert c["resources"]["limits"] == {"nvidia.com/gpu": 8, "rdma/ib": 8}
        assert c["resources"]["requests"] == {"rdma/ib": 8}
        assert c["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["NCCL_IB_DISABLE"] == "0" and env["NCCL_NET_GDR_LEVEL"] == "SYS"
        assert env["NCCL_TOPO_FILE"] == "/opt/nvidia-topology/topo.xml"
        assert {"name": "nvidia-topology", "mountPath": "/opt/nvidia-topology"} in c["volumeMounts"]
        assert any(v.get("configMap", {}).get("name") == "nvidia-topology" for v in spec["volumes"])
    notes = _notes(k8s)
    assert any("rdma/ib" in n and "rdma/shared_ib" in n for n in notes)
    assert any("ndv5-topo.xml" in n for n in notes)
    assert any("InfiniBand" in n and "NET/IB" in n for n in notes)
    sky = emit_launch_spec(job, best, "skypilot")
    assert "network_tier" not in yaml.safe_load(sky)["resources"]  # SkyPilot refuses a network tier on Azure
    assert any("no infiniband network on azure" in n for n in _notes(sky))


@pytest.mark.parametrize("instance, topo", [("azure:Standard_ND96isr_H100_v5", "ndv5-topo.xml"),
                                            ("azure:Standard_ND96isr_H200_v5", "ndv5-topo.xml"),
                                            ("azure:Standard_ND96amsr_A100_v4", "ndv4-topo.xml")])
def test_sbatch_and_torchrun_on_azure_nd_export_the_hpc_images_nccl_conf(instance, topo):
    """azure35: an sbatch / torchrun launch on an ND node carried the InfiniBand note only; it now exports what the
    Azure HPC image's /etc/nccl.conf sets for the VM size (Azure/azhpc-images customizations/ndv4.sh / ndv5.sh), so a
    launch inside a container runs NCCL with the same topology file, and says what it leaves out."""
    job, best = _plan(instance, 2)
    want = {"NCCL_IB_PCI_RELAXED_ORDERING": "1", "NCCL_IGNORE_CPU_AFFINITY": "1",
            "NCCL_TOPO_FILE": f"/opt/microsoft/{topo}"}
    slurm = emit_launch_spec(job, best, "slurm")
    exports = dict(line[len("export "):].split("=", 1) for line in slurm.splitlines() if line.startswith("export NCCL_"))
    assert exports == want
    line = next(x for x in emit_launch_spec(job, best, "torchrun").splitlines() if "torchrun " in x)
    assert all(f"{k}={v}" in line.split("torchrun ")[0] for k, v in want.items())
    for text in (slurm, emit_launch_spec(job, best, "torchrun")):
        assert any("/etc/nccl.conf" in n and "UCX_" in n and "SHARP" in n and "/opt/microsoft" in n
                   for n in _notes(text))
    # the k8s pods keep AKS's variables and the ConfigMap path, not the HPC image's
    k8s = {e["name"]: e["value"] for e in _containers(emit_launch_spec(job, best, "k8s"))[0]["env"]}
    assert k8s["NCCL_TOPO_FILE"] == "/opt/nvidia-topology/topo.xml" and "NCCL_IB_PCI_RELAXED_ORDERING" not in k8s
    # one node (no inter-node traffic) and another fabric (EFA) export none
    for other, nodes in ((instance, 1), ("aws:p5.48xlarge", 2)):
        job, best = _plan(other, nodes)
        for fmt in ("slurm", "torchrun"):
            assert "NCCL_TOPO_FILE" not in emit_launch_spec(job, best, fmt), (other, nodes, fmt)


def test_nd_h200_v5_is_a_priced_infiniband_cluster_row_with_its_fabric(catalog):
    """azure35: ND H200 v5 was absent (not in the SkyPilot Azure snapshot). Its shape is Microsoft's size page, its
    price a secondary quote of the Azure Retail Prices API (eastus2), and its launch reads the ND v5 topology file."""
    i = catalog.instance("azure:Standard_ND96isr_H200_v5")
    assert (i.gpu.name, i.gpu_count, i.fabric, i.cluster) == ("H200-SXM-141GB", 8, "infiniband", True)
    assert i.network_bw * 8 / 1e9 == pytest.approx(3200) and i.price_ondemand == pytest.approx(84.8)
    assert i.price_spot is None and i.region == "eastus2" and "SECONDARY" in i.source
    row = launch_fabric("azure:Standard_ND96isr_H200_v5")
    assert (row.transport, row.devices, row.nccl_topo) == ("infiniband", 8, "ndv5-topo.xml")
    job, best = _plan("azure:Standard_ND96isr_H200_v5", 2)
    for c in _containers(emit_launch_spec(job, best, "k8s")):
        assert c["resources"]["limits"] == {"nvidia.com/gpu": 8, "rdma/ib": 8}


def test_gke_a3_mega_pods_carry_the_tcpxo_annotations_and_daemon():
    """fabric34: GKE's multi-network annotations, the TCPXO plugin's variables and volumes and its daemon sidecar are
    written into the pods (Google's gpudirect-tcpxo/nccl-test-latest.yaml), the cluster's names as placeholders."""
    job, best = _plan("gcp:a3-megagpu-8g", 2)
    text = emit_launch_spec(job, best, "k8s")
    for rep in yaml.safe_load(text)["spec"]["pytorchReplicaSpecs"].values():
        ann = rep["template"]["metadata"]["annotations"]
        assert ann["networking.gke.io/default-interface"] == "eth0"
        nets = json.loads(ann["networking.gke.io/interfaces"])
        assert nets[0] == {"interfaceName": "eth0", "network": "default"}
        assert [n["interfaceName"] for n in nets[1:]] == [f"eth{i}" for i in range(1, 9)]
        assert all(n["network"].startswith("REPLACE_WITH_GKE_GPU_NETWORK_") for n in nets[1:])
        assert "/dev/dmabuf_import_helper" in ann["devices.gke.io/container.tcpxo-daemon"]
        trainer, daemon = rep["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in trainer["env"]}
        assert env["LD_LIBRARY_PATH"] == "/usr/local/nvidia/lib64"
        assert env["NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY"] == "/dev/aperture_devices"
        assert daemon["name"] == "tcpxo-daemon" and daemon["image"] == "REPLACE_WITH_TCPXO_DAEMON_IMAGE"
        vols = {v["name"]: v["hostPath"]["path"] for v in rep["template"]["spec"]["volumes"] if "hostPath" in v}
        assert vols["aperture-devices"] == "/dev/aperture_devices" and vols["nvidia"] == "/home/kubernetes/bin/nvidia/lib64"
    assert any("REPLACE_WITH_TCPXO_DAEMON_IMAGE" in n for n in _notes(text))


def test_gke_a3_ultra_pods_source_the_gib_nccl_settings():
    job, best = _plan("gcp:a3-ultragpu-8g", 2)
    rep = yaml.safe_load(emit_launch_spec(job, best, "k8s"))["spec"]["pytorchReplicaSpecs"]["Worker"]
    nets = json.loads(rep["template"]["metadata"]["annotations"]["networking.gke.io/interfaces"])
    assert [n["interfaceName"] for n in nets] == ["eth0"] + [f"eth{i}" for i in range(2, 10)]
    (c,) = rep["template"]["spec"]["containers"]  # no daemon for RDMA
    assert c["command"][2].startswith("source /usr/local/gib/scripts/set_nccl_env.sh\n")
    assert {"name": "gib", "mountPath": "/usr/local/gib"} in c["volumeMounts"]


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
    ("aws,x.1,roce,,src,2026-12-04", "transport: 'roce' is not one of"),
    ("aws,x.1,gpudirect-tcpx,,src,2026-12-04", "gpudirect-tcpx is gcp's, not aws's"),
    ("gcp,x.1,gpudirect-rdma,8,src,2026-12-04", "EFA or InfiniBand HCA count"),
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


# ------------------------------------------------------------------------- a user's catalog override (fabric34)
OVERRIDE_INSTANCE = ("  - {cloud: aws, name: p5x.48xlarge, gpu: H100, gpu_count: 8, network_gbps: 3200, fabric: efa, "
                     "cluster: true, price_ondemand_usd_hr: 50, source: my quote}\n")


def _override_plan(tmp_path, fabric_rows: str = "", instance: str = "aws:p5x.48xlarge"):
    from hardware_catalog import load_catalog

    p = tmp_path / "mine.yaml"
    p.write_text("instances:\n" + OVERRIDE_INSTANCE + (("launch_fabric:\n" + fabric_rows) if fabric_rows else ""))
    cat = load_catalog([p])
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": PRETRAIN,
                         "parallel": {"tp": 2, "pp": 1, "zero": 1}, "cluster": {"instance": instance, "nodes": 2}})
    return job, estimate_job(job, cat), cat, p


EFA_ROW = "  - {cloud: aws, instance: p5x.48xlarge, transport: efa, devices: 32, source: my account, read: 2026-12-04}\n"


def test_an_override_instance_with_fabric_fields_gets_them_in_every_format(tmp_path):
    """Until fabric34 an instance from a user's --catalog file had no launch fabric and could get none: its 2-node
    k8s pods requested GPUs only. Its override rows now carry one, as launch_fabric.csv's rows do."""
    job, best, cat, _ = _override_plan(tmp_path, EFA_ROW)
    k8s = emit_launch_spec(job, best, "k8s", cat)
    for c in _containers(k8s):
        assert c["resources"]["limits"][EFA_RESOURCE] == 32 and c["resources"]["requests"][EFA_RESOURCE] == 32
    sky = emit_launch_spec(job, best, "skypilot", cat)
    assert yaml.safe_load(sky)["resources"]["network_tier"] == "best"
    assert any("all 32 only with use_internal_ips" in n for n in _notes(sky))
    for fmt in ("slurm", "torchrun", "k8s", "skypilot"):
        notes = _notes(emit_launch_spec(job, best, fmt, cat))
        assert any("aws-ofi-nccl" in n and "3,200 Gb/s of EFA" in n for n in notes), fmt
        assert not any("no launch fabric is known" in n for n in notes), fmt
    assert "mine.yaml: adds a launch fabric for aws:p5x.48xlarge: efa, 32 devices" in cat.overrides


@pytest.mark.parametrize("fmt", ["k8s", "skypilot", "slurm", "torchrun"])
def test_an_override_instance_without_a_fabric_says_so_plainly(tmp_path, fmt):
    """No row: the multi-node spec says no fabric is known and how to give one, not a TCP-only spec unsaid."""
    job, best, cat, _ = _override_plan(tmp_path)
    text = emit_launch_spec(job, best, fmt, cat)
    assert any("no launch fabric is known for aws:p5x.48xlarge (priced on efa at 3,200 Gb/s" in n
               and "launch_fabric row in the --catalog file" in n for n in _notes(text)), text[:2000]
    if fmt == "k8s":
        assert all(set(c["resources"]["limits"]) == {"nvidia.com/gpu"} for c in _containers(text))


def test_plain_ethernet_and_single_node_plans_get_no_unknown_fabric_note():
    for inst, nodes in (("gcp:a2-highgpu-8g", 2), ("aws:p5.48xlarge", 1)):
        job, best = _plan(inst, nodes)
        assert not any("no launch fabric is known" in n for n in _notes(emit_launch_spec(job, best, "k8s"))), inst


def test_an_override_row_fills_a_shipped_rows_missing_count(tmp_path):
    from hardware_catalog import load_catalog

    p = tmp_path / "b300.csv"
    p.write_text("cloud,instance,transport,devices,source,read\naws,p6-b300.48xlarge,efa,16,my account,2026-12-04\n")
    cat = load_catalog([p])
    job, best = _plan("aws:p6-b300.48xlarge", 2)
    assert all(c["resources"]["limits"][EFA_RESOURCE] == 16 for c in _containers(emit_launch_spec(job, best, "k8s", cat)))


def test_recommend_emit_reads_the_override_files_fabric(cli, tmp_path):
    """The CLI hands the catalog it searched (with the file's rows) to the emitter."""
    from conftest import write_job

    _, _, _, p = _override_plan(tmp_path, EFA_ROW)
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": PRETRAIN,
                               "parallel": {"tp": 2, "pp": 1, "zero": 1},
                               "cluster": {"instance": "aws:p5x.48xlarge", "nodes": 2}})
    code, out, err = cli("recommend", str(job), "--catalog", str(p), "--emit", "k8s")
    assert code == 0, err
    assert all(c["resources"]["limits"][EFA_RESOURCE] == 32 for c in _containers(out))


@pytest.mark.parametrize("row, error", [
    ("aws,p5.48xlarge,efa,0,s,2026-12-04", "launch_fabric[0].devices: '0' is not a positive whole number"),
    ("aws,p5.48xlarge,efa,x,s,2026-12-04", "launch_fabric[0].devices: 'x' is not a positive whole number"),
    ("aws,p5.48xlarge,ib,,s,2026-12-04", "launch_fabric[0].transport: 'ib' is not one of efa, infiniband"),
    ("aws,p5.48xlarge,infiniband,,s,2026-12-04", "launch_fabric[0].transport: infiniband runs on infiniband nodes, "
                                                 "but aws:p5.48xlarge is priced on efa"),
    ("azure,Standard_ND96isr_H100_v5,efa,8,s,2026-12-04", "launch_fabric[0].transport: efa is aws's, not azure's"),
    ("aws,nope.1,efa,8,s,2026-12-04", "launch_fabric[0].instance: unknown instance 'aws:nope.1'"),
    ("aws,p5.48xlarge,efa,8,,2026-12-04", "launch_fabric[0].source: is required"),
])
def test_a_bad_override_fabric_value_is_one_line_exit_2(cli, tmp_path, row, error):
    p = tmp_path / "bad.csv"
    p.write_text("cloud,instance,transport,devices,source,read\n" + row + "\n")
    code, out, err = cli("catalog", "instances", "--catalog", str(p))
    assert code == 2, out
    assert err.strip() == err.strip().splitlines()[0] and "Traceback" not in err
    assert err.startswith("error: catalog override bad.csv: " + error), err


def test_an_override_fabric_row_twice_or_with_an_unknown_column_is_refused(cli, tmp_path):
    p = tmp_path / "twice.yaml"
    p.write_text("launch_fabric:\n" + EFA_ROW.replace("p5x", "p5") * 2)
    code, _, err = cli("catalog", "instances", "--catalog", str(p))
    assert code == 2 and "launch_fabric[1]: duplicate row: the launch fabric of 'aws:p5.48xlarge'" in err, err
    p = tmp_path / "col.yaml"
    p.write_text("launch_fabric:\n" + EFA_ROW.replace("p5x", "p5").replace("}", ", efa: 3}"))
    code, _, err = cli("catalog", "instances", "--catalog", str(p))
    assert code == 2 and "launch_fabric[0].efa: is not a known column" in err, err
