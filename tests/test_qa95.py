"""QA 95: left-overs of session 49. One mesh-wiring table read by the catalog loader and the planner (an override
row's xGMI mesh on an NVIDIA part was taken at load); a search refusal names the rule that made the job impossible
(an int8 LoRA base at ZeRO-3 and TP 2 read ``parallel.tp`` alone); the app's stack controls offer CUDA graphs, the
pipeline split, the loss and the NVMe offload, the MoE dispatcher only on an MoE model; one getter of a node's NVMe.
Each test fails on the code before QA 95."""
from __future__ import annotations

import pytest

from conftest import refused, write_job


def test_an_override_rows_xgmi_mesh_on_an_nvidia_part_is_refused_at_load(tmp_path, cli):
    """``catalog instances`` listed the row (the planner refused it only when a job planned on it)."""
    over = tmp_path / "over.csv"
    over.write_text("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source,nvlink_topology\n"
                    "x,a8,A100-SXM-80GB,8,30,me,xgmi-full-mesh\n")
    line = refused(cli("catalog", "instances", "--catalog", str(over), "--csv"))
    assert "instances[0].nvlink_topology: xgmi-full-mesh is a mesh of InfinityFabric links" in line, line
    assert "joined by NVLink3" in line, line


def test_the_loader_and_the_planner_read_one_mesh_table():
    """The job's ``cluster.nvlink_topology`` and an override row are checked against the same table."""
    from hardware_catalog.catalog import MESH_WIRED_OF, wired_as
    from planner.hardware.nvlink import NVLINK_TOPOLOGIES

    assert {k for k, v in NVLINK_TOPOLOGIES.items() if v is not None} == set(MESH_WIRED_OF)
    assert wired_as("xgmi-full-mesh", "InfinityFabric") and not wired_as("xgmi-full-mesh", "NVLink4")
    assert wired_as("switch", "PCIe4")


INT8 = {"model": {"preset": "llama3-8b"},
        "training": {"mode": "lora", "base_weights": "int8", "seq_len": 2048, "global_batch": 16, "precision": "bf16",
                     "steps": 10, "recompute": "full", "framework": {"name": "deepspeed"}},
        "parallel": {"zero": 3, "tp": 2},
        "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}}


def test_a_refusal_by_two_rules_names_both_fields(tmp_path, cli):
    """TP 2 over an int8 base (``hf-bnb-tp``) and the base sharded at ZeRO-3 (``hf-int8-sharded``) each refuse every
    layout: the old refusal named parallel.tp alone, whose hint (tp 1) then met the int8 rule."""
    line = refused(cli("recommend", write_job(tmp_path, INT8), "--json"))
    assert line.startswith("error: parallel.tp: ") and "change parallel.tp and parallel.zero" in line, line


def test_a_refusal_names_the_rule_that_refused_every_layout_else_the_top_rules():
    from planner.model.stacks import STACKS
    from planner.search.space import refusal_error

    st = STACKS["deepspeed"]
    # the rule refusing every layout wins over one refusing more of them counted apart
    e = refusal_error(st, {"hf-bnb-tp": 9, "hf-int8-sharded": 12}, 12)
    assert e.field == "parallel.zero", e
    # no one rule refused all: the top rules with their counts
    e = refusal_error(st, {"hf-bnb-tp": 9, "hf-int8-sharded": 6}, 12)
    assert e.field == "parallel.tp" and "no one rule all of them" in e.message, e
    assert "9 on parallel.tp (rule hf-bnb-tp), 6 on parallel.zero (rule hf-int8-sharded)" in e.message, e


def _controls(job: bytes, name: str, options=None):
    from planner import interactive as wi

    return {c.option: c for c in wi.stack_controls(wi.parse_upload("job.yaml", job), name, options)}


DENSE = b"model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 64, steps: 10}\n"
MOE = b"model: {preset: mixtral-8x7b}\ntraining: {seq_len: 4096, global_batch: 64, steps: 10}\n"


def test_the_moe_dispatcher_control_only_on_an_moe_model():
    """The registry listed the dispatcher for every job (``Stack.options``): a dense model's record and controls."""
    dense, moe = _controls(DENSE, "megatron-core"), _controls(MOE, "megatron-core")
    assert "moe_dispatcher" not in dense and "moe_a2a_overlap" not in dense
    assert set(moe["moe_dispatcher"].choices) >= {"alltoall", "deepep"}
    # the CUDA graphs, pipeline split and loss fusion of Megatron-Core; the loss class of NeMo AutoModel without the
    # chunked loss, which needs a chunk size the sidebar does not set
    assert dense["cuda_graph_impl"].choices == ("none", "transformer_engine", "local")
    assert {"balanced", "megatron"} <= set(dense["pp_split"].choices) and "cross_entropy_fusion" in dense
    automodel = _controls(DENSE, "nemo-automodel")
    assert "linear_ce" in automodel["loss_fn"].choices and "masked_ce_chunked" not in automodel["loss_fn"].choices


DS = b"""model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 64, steps: 10, framework: {name: deepspeed, optimizer_offload: true}}
parallel: {zero: 3}
"""


def test_the_page_draws_the_new_controls_and_no_dispatcher_on_a_dense_model():
    """One page run of the default preset (a dense model on Megatron-Core): CUDA graphs, the pipeline split and the
    loss fusion drawn from the registry; no MoE dispatcher (the registry listed it for every job)."""
    from app_page import open_page

    at = open_page()
    shown = {w.key[len("w_stackopt_"):]: w for w in at.selectbox if (w.key or "").startswith("w_stackopt_")}
    assert list(shown["cuda_graph_impl"].options) == ["none", "transformer_engine", "local"], list(shown)
    assert "pp_split" in shown and "cross_entropy_fusion" in shown, list(shown)
    assert "moe_dispatcher" not in shown and "moe_a2a_overlap" not in shown, list(shown)


def test_nvme_offload_offered_beside_an_offload_and_taken_by_the_job():
    """DeepSpeed's offload device: offered where an offload is on (the job's, or the sidebar's: ``options``), absent
    while none is (nvme alone is refused); the job the page builds carries it."""
    from planner import interactive as wi

    assert _controls(DS, "deepspeed")["offload_device"].choices == ("cpu", "nvme")
    bare = DS.replace(b", optimizer_offload: true", b"")
    assert "offload_device" not in _controls(bare, "deepspeed")
    assert _controls(bare, "deepspeed", {"optimizer_offload": True})["offload_device"].choices == ("cpu", "nvme")
    base = wi.parse_upload("job.yaml", DS)
    w = wi.inputs_from_job(wi.build_job(base, None)).replace(framework="deepspeed",
                                                              stack_options={"offload_device": "nvme"})
    assert wi.build_job(base, w).training.framework.offload_device == "nvme"


def test_one_getter_of_a_nodes_nvme():
    from types import SimpleNamespace

    from hardware_catalog import load_catalog
    from planner.model import offload

    p4d = load_catalog().instances["aws:p4d.24xlarge"]
    nvme = offload.node_nvme(SimpleNamespace(instance=p4d))
    assert nvme.drives == 8 and nvme.capacity_bytes == pytest.approx(8e12, rel=0.01)
    assert offload.node_nvme(SimpleNamespace(instance=None)) == offload.NodeNvme(None, None)
    assert not hasattr(offload, "nvme_capacity") and not hasattr(offload, "nvme_drives")
