"""QA 93: left-overs of session 49's merges. The DGX-1 hybrid cube-mesh only on the NVLink2 parts it is wired of (an
A100 / H100 node took the V100 board's link shares until QA 93); a serving job's stated inter-node network said to be
unused where no replica spans nodes (taken without a word until QA 93). Each test failed on the code before QA 93."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job

TRAIN = {"model": {"name": "tiny", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000},
         "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9, "precision": "fp16"},
         "parallel": {"tp": 2, "pp": 1, "dp": 4}}


@pytest.mark.parametrize("gpu, link", [("A100-SXM-80GB", "NVLink3"), ("H100-SXM-80GB", "NVLink4"),
                                       ("B200-SXM-180GB", "NVLink5")])
def test_the_cube_mesh_on_an_nvswitch_generation_part_is_refused(tmp_path, cli, gpu, link):
    """An 8-A100 node as a hybrid cube-mesh priced its TP-2 pair at 50 of 300 GB/s (the V100 board's one link of six)."""
    job = dict(TRAIN, cluster={"gpu": gpu, "gpus_per_node": 8, "nodes": 1, "nvlink_topology": "hybrid-cube-mesh"})
    line = refused(cli("estimate", write_job(tmp_path, job), "--json"))
    assert line.startswith("error: cluster.nvlink_topology: hybrid-cube-mesh is a mesh of links") and (
        f"joined by {link}, the mesh's by NVLink2" in line), line


def test_the_cube_mesh_on_a_v100_still_prices_its_pairs_links(tmp_path, cli):
    """The V100 SXM2 board the mesh is: taken, its TP-2 pair slower than on a switch."""
    def tp_comm(topology):
        job = dict(TRAIN, cluster={"gpu": "V100-SXM2-16GB", "gpus_per_node": 8, "nodes": 1,
                                   "nvlink_topology": topology})
        return answered(cli("estimate", write_job(tmp_path, job, f"{topology}.yaml"), "--json"))["breakdown_s"]["comm_tp"]
    assert tp_comm("hybrid-cube-mesh") > tp_comm("switch")


def test_a_catalog_row_cube_mesh_on_an_a100_is_refused(tmp_path, cli):
    """An override row of 8 A100s wired as the DGX-1 mesh: refused as the row's column."""
    over = tmp_path / "over.csv"
    over.write_text("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source,nvlink_topology\n"
                    "x,a8,A100-SXM-80GB,8,30,me,hybrid-cube-mesh\n")
    line = refused(cli("catalog", "instances", "--catalog", str(over), "--csv"))
    assert "instances[0].nvlink_topology" in line and "joined by NVLink3" in line, line


SERVE = {"model": {"preset": "llama3-8b"},
         "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 4, "prompt_tokens": 800, "output_tokens": 200}}


@pytest.mark.parametrize("field, value", [("fabric", "IB-NDR"), ("inter_node_gbps", 100)])
def test_a_serving_jobs_network_unused_by_one_node_replicas_is_said(tmp_path, cli, field, value):
    """Llama 3 8B fits a node: every replica runs within one, so the stated network entered nothing."""
    job = dict(SERVE, cluster={"gpu": "H100-SXM-80GB", field: value})
    d = answered(cli("serve", write_job(tmp_path, job), "--no-simulate", "--json"))
    said = [a for a in d["assumptions"] if a.startswith(f"cluster.{field} not applied")]
    assert len(said) == 1 and "within one node" in said[0], d["assumptions"]
    plain = answered(cli("serve", write_job(tmp_path, dict(SERVE, cluster={"gpu": "H100-SXM-80GB"}), "plain.yaml"),
                         "--no-simulate", "--json"))
    assert not [a for a in plain["assumptions"] if "not applied" in a]


#: Llama 3 70B, DeepSpeed ZeRO-3 with the offloads and their device left open (nvme49's job, test_nvme49 ``_job``)
NVME = {"model": {"preset": "llama3-70b"},
        "training": {"seq_len": 4096, "global_batch": 16, "precision": "bf16", "recompute": "full",
                     "optimizer": "adamw", "framework": {"name": "deepspeed"}},
        "parallel": {"tp": 1, "pp": 1, "zero": 3}}


def _stack(tmp_path, cli, nodes, *catalog):
    job = dict(NVME, cluster={"instance": "aws:p4d.24xlarge", "nodes": nodes})
    return cli("recommend", write_job(tmp_path, job, f"n{nodes}.yaml"), "--no-simulate", "--json", *catalog)


def test_recommend_tries_nvme_where_host_ram_refuses_the_cpu_offload(tmp_path, cli):
    """One p4d.24xlarge: the CPU offload needs 147.8 GiB of host RAM a GPU (115.2 allowed), so the search swaps to the
    node's 8 TB of NVMe (the plan nvme49's estimate prices at ~1,008 s a step) and says it searched the device; refused
    ("no configuration fits in GPU and host memory") before QA 93."""
    d = answered(_stack(tmp_path, cli, 1))
    st = d["best"]["stack"]
    assert (st["offload_device"], st["optimizer_offload"], st["param_offload"]) == ("nvme", True, True)
    assert "offload_device" in st["searched"]
    line = next(a for a in d["assumptions"] if a.startswith("training stack"))
    assert "the NVMe only where host memory does not hold the CPU offload" in line, line


def test_recommend_keeps_the_cpu_offload_where_it_fits_and_no_nvme_without_drives(tmp_path, cli):
    """Two p4d nodes halve the shard: the CPU offload fits and is kept (never NVMe there); one node whose catalog
    row has no local NVMe (override ``local_nvme_tb: 0``) is refused on host memory as before. Both held on the old
    code too (guards of the new twin's limits)."""
    st = answered(_stack(tmp_path, cli, 2))["best"]["stack"]
    assert st["offload_device"] == "cpu" and st["optimizer_offload"], st
    over = tmp_path / "no_nvme.csv"
    over.write_text("cloud,name,local_nvme_tb\naws,p4d.24xlarge,0\n")
    line = refused(_stack(tmp_path, cli, 1, "--catalog", str(over)))
    assert "fits in GPU and host memory" in line and "of host RAM" in line, line
