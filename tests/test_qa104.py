"""QA 104: small items noticed by session 52's helpers (docs/qa_log.md "QA 104"). Each test fails on the code before it
(the controls inside them pass on both)."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import refused, write_job

ROOT = Path(__file__).resolve().parents[1]


# -- 1. the README's topology refusals name every mesh ----------------------------------------------------------------
def test_readme_topology_row_names_every_mesh_and_its_refusals():
    """kfnode52's ``nvlink4-quad-mesh`` joined ``MESH_WIRED_OF`` while the README's refusal row named only the DGX-1 and
    xGMI meshes: the row names each mesh the table holds, and the quad-mesh's two refusals (a non-NVLink4 part, a
    node of more than 4 GPUs) as the planner prints them."""
    from hardware_catalog.catalog import MESH_WIRED_OF
    from planner.hardware.nvlink import topology_gpus

    row = next(line for line in (ROOT / "README.md").read_text().splitlines()
               if line.startswith("| `cluster.nvlink_topology: "))
    head = row.split("(")[0]
    assert all(mesh in head for mesh in MESH_WIRED_OF), head
    assert "NVLink4" in row and f"nvlink4-quad-mesh joins {topology_gpus('nvlink4-quad-mesh')} GPUs" in row


# -- 2. stacks without BERT code refuse BERT; AutoModel refuses the masked-row head ----------------------------------
BERT = {"model": {"preset": "bert-large"},
        "training": {"seq_len": 512, "global_batch": 256, "micro_batch": 32, "precision": "bf16"},
        "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


def _bert(framework, **training):
    return {**BERT, "training": {**BERT["training"], "framework": framework, **training}}


@pytest.mark.parametrize("framework, who", [("torchtitan", "torchtitan"), ("llm-foundry", "Composer (llm-foundry)"),
                                            ("metaseq", "metaseq"), ("dle-convnets", "dle-convnets")])
def test_stacks_without_bert_code_refuse_it(tmp_path, cli, framework, who):
    """bert-large was estimated (exit 0) on four stacks whose code builds no BERT: decoder-only model code
    (torchtitan, llm-foundry, metaseq) or NVIDIA's image classifiers (dle-convnets). One rule builder
    (stack_rules ``_model_rule``: ``_decoder_only_rule``, MaxText's since QA 103, and dle-convnets' since QA 106 any
    transformer) refuses it, naming the stack."""
    line = refused(cli("estimate", write_job(tmp_path, _bert(framework))))
    assert line.startswith(f"error: training.framework: {who} refuses a model "), line
    assert "encoder" in line, line


def test_automodel_refuses_the_masked_row_head(tmp_path, cli):
    """NeMo AutoModel trains transformers' BERT, whose heads run on every position: ``head_tokens_per_seq`` was taken
    and the head priced on 80 rows of 512; refused as on the HF stacks (``hf-head-positions``' source)."""
    line = refused(cli("estimate", write_job(tmp_path, _bert("nemo-automodel", head_tokens_per_seq=80))))
    assert line.startswith("error: training.head_tokens_per_seq: NeMo AutoModel refuses an MLM head on the masked "
                           "positions only"), line


def test_encoder_rules_leave_decoders_and_generic_ddp():
    """The dle-convnets rule (absent before) concerns it (a decoder too since QA 106), and pytorch-ddp, generic torch
    DDP around the job's own model code, keeps BERT (its runtime ``ddp`` is dle-convnets' too)."""
    from planner.model.stack_rules import rules_for
    from planner.model.stacks import resolve
    from planner.spec import load_job_dict

    bert = load_job_dict(_bert("pytorch-ddp"))
    llama = load_job_dict({**_bert("pytorch-ddp"), "model": {"preset": "llama3-8b"}})
    names = lambda st, j: {r.name for r in rules_for("ddp", resolve(st), j.model, j.training)}  # noqa: E731
    assert "ddp-convnets-model" in names("dle-convnets", bert) & names("dle-convnets", llama)
    assert "ddp-convnets-model" not in names("pytorch-ddp", bert) | names("pytorch-ddp", llama)


# -- 3. a prefill-decode split's nodes and its KV link agree ----------------------------------------------------------
@pytest.mark.parametrize("split, gpn, nodes", [((1, 2, 1, 4), 6, 1), ((1, 2, 3, 2), 8, 1), ((2, 2, 1, 4), 6, 2),
                                               ((1, 8, 2, 16), 8, 5)])
def test_split_nodes_and_kv_link_agree(split, gpn, nodes):
    """A TP-2 prefill and a TP-4 decode replica on a 6-GPU node: the KV was sent over NVLink (all 6 GPUs in one node)
    while the split was billed 2 nodes (4 does not divide 6: each side its own). One count, ``split_nodes``, which the
    link reads."""
    from types import SimpleNamespace

    from planner.workloads.serving_memory import split_nodes
    from planner.workloads.serving_screen import kv_link

    got = split_nodes(*split, gpn)
    assert got == nodes
    gpu = SimpleNamespace(intra_node_link="NVLink4", name="H100-SXM-80GB")
    hw = SimpleNamespace(gpu=gpu, gpus_per_node=gpn, intra_bw_eff=4e11, inter_bw_per_gpu=4e10)
    assert (kv_link(hw, got)[0] == "NIC") == (got > 1)


# -- 4. serving.max_batch is one engine's (vLLM --max-num-seqs) --------------------------------------------------------
def test_max_batch_seats_each_dp_engine_of_an_ep_replica():
    """DeepSeek-V3 fp8 EP16 over two p5.48xlarge at the default ``max_batch`` 64: the colocated option and the split's
    decode replicas stopped at 64 sequences a replica, 4 a DP engine, where vLLM's ``--max-num-seqs`` (the flag the
    field is) seats 64 on each engine (its own scheduler). Now the cap is 16 x 64 (``replica_seats``), the batch
    memory or the TPOT target's, and the emitted flag is the job's 64 where the cap binds."""
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from test_disaggep52 import _ep_option, _job
    from planner.workloads.serving_screen import ServeTarget, disagg_size, engine_seats, llm_option

    job = _job("deepseek-v3", 10, 2000, 500, 2000, 100, "p5.48xlarge", precision="fp8", kv_precision="fp8")
    m, s, hw, im = _ep_option(job, 16)
    target = ServeTarget(0.1, 2.0, 10.0)
    row = llm_option(m, s, hw, 16, target, im)
    assert s.max_batch == 64 and row.batch_memory_limit == 16 * 64 and row.batch > 64  # 64 and 64 until QA 104
    size = disagg_size(m, s, hw, 16, target, im, row.batch_memory_limit, budget=2048)
    assert size.decode_batch > 64 and engine_seats(size.decode_batch, 16) <= 64
    from planner.workloads.serving_screen import replica_seats  # the one rule (QA 104); a TP replica is one engine
    assert (replica_seats(64, 16), replica_seats(64, 1)) == (1024, 64)

