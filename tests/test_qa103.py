"""QA 103: small items noticed by fuzz52 / qa102 (docs/qa_log.md "QA 103"). Each test fails on the code before it
(the controls inside them pass on both)."""
from __future__ import annotations

import pytest
from conftest import answered, refused, write_job

OFFLOAD = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 2048, "global_batch": 8, "micro_batch": 1, "precision": "fp16", "recompute": "full",
                        "framework": {"name": "deepspeed", "optimizer_offload": True}},
           "parallel": {"tp": 1, "pp": 1, "dp": 1, "zero": 2},
           "cluster": {"gpu": "V100-SXM2-32GB", "gpus_per_node": 1, "nodes": 1}}


# -- 1. cluster.host_ram_gib has a floor -------------------------------------------------------------------------------
@pytest.mark.parametrize("ram, words", [(1e-300, "must be at least 1, got 1e-300"), (0.5, "must be at least 1, got 0.5"),
                                        (1e6 + 1, "must be at most")])
def test_host_ram_gib_is_bounded(tmp_path, cli, ram, words):
    """``cluster.host_ram_gib: 1e-300`` planned against a 1e-292-byte host ("does not fit", exit 0): the field is held
    to ``HOST_RAM_GIB`` (1 GiB to 1e6 GiB) like every size and rate."""
    job = {**OFFLOAD, "cluster": {**OFFLOAD["cluster"], "host_ram_gib": ram}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: cluster.host_ram_gib: ") and words in line, line


def test_host_ram_gib_floor_is_planned(tmp_path, cli):
    """The floor itself is a plan: 80% of the 1 GiB host, the bytes the job says (a control: passes on the old code)."""
    from planner.model.offload import HOST_RAM_USABLE
    from planner.spec.schema import HOST_RAM_GIB

    job = {**OFFLOAD, "cluster": {**OFFLOAD["cluster"], "host_ram_gib": HOST_RAM_GIB[0]}}
    out = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert out["memory_per_gpu_bytes"]["host_limit"] == HOST_RAM_GIB[0] * 2**30 * HOST_RAM_USABLE


# -- 2. serve says it does not use the host RAM ------------------------------------------------------------------------
def test_serve_says_host_ram_is_not_applied(tmp_path, cli):
    """``serve`` took ``cluster.host_ram_gib`` without a word; the serving plan keeps weights and KV cache in GPU memory
    (no offload, preemption by recompute), so it says the field did not enter the answer."""
    job = {"model": {"preset": "llama3-8b"},
           "serving": {"qps": 2, "prompt_tokens": 512, "output_tokens": 128, "p99_latency_ms": 5000},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 1, "host_ram_gib": 256}}
    out = answered(cli("serve", write_job(tmp_path, job), "--no-simulate", "--json"))
    said = [a for a in out["assumptions"] if "host_ram_gib" in a]
    assert len(said) == 1 and said[0].startswith("cluster.host_ram_gib (256 GiB) not applied"), out["assumptions"]


# -- 3. MaxText builds no encoder ----------------------------------------------------------------------------------------
def test_maxtext_refuses_an_encoder(tmp_path, cli):
    """bert-large on ``framework: maxtext`` (TPU v5p) was estimated at 43% MFU: every MaxText model is a causal decoder
    (DecoderBlockType), so the stack refuses it in one line."""
    job = {"model": {"preset": "bert-large"},
           "training": {"seq_len": 512, "global_batch": 256, "micro_batch": 32, "precision": "bf16",
                        "framework": {"name": "maxtext"}},
           "cluster": {"gpu": "TPU-v5p", "gpus_per_node": 4, "nodes": 1}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.framework: MaxText refuses a model other than a causal decoder (an encoder or MLM head"), line


def test_maxtext_encoder_rule_leaves_decoders():
    """The rule concerns encoders and MLM heads only: a Llama on MaxText is not refused by it (a control)."""
    from planner.model.stack_rules import RULES
    from planner.spec.presets import PRESETS
    from planner.spec.schema import ModelSpec

    rule = next(r for r in RULES if r.name == "maxtext-encoder")
    assert not rule.applies(None, ModelSpec(**PRESETS["llama3-8b"]), None)
    assert rule.applies(None, ModelSpec(**PRESETS["bert-base"]), None)


# -- 4. fsdp_version 1 on a bf16-base LoRA is planned (refused where FSDP runs from QA 103 to qlora54b) -------------
LORA = {"model": {"preset": "llama3-8b"},
        "training": {"mode": "lora", "seq_len": 2048, "global_batch": 8, "micro_batch": 1, "precision": "bf16",
                     "recompute": "full", "steps": 100, "framework": {"name": "hf-trainer", "fsdp_version": 1}},
        "parallel": {"tp": 1, "pp": 1, "dp": 1, "zero": 0},
        "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 1, "nodes": 1}}


def test_fsdp1_lora_without_fsdp_is_planned(tmp_path, cli):
    """LoRA over a bf16 base with ``fsdp_version: 1`` on one GPU at ZeRO-0 was refused ("1 cannot wrap a block ..."),
    where the HF Trainer runs no FSDP: it is planned."""
    out = answered(cli("estimate", write_job(tmp_path, LORA), "--json"))
    assert out["step_time_s"] > 0 and out["config"]["zero"] == 0, out["config"]


def test_fsdp1_lora_under_fsdp_is_planned(tmp_path, cli):
    """At ZeRO-3 on 8 GPUs the HF Trainer shards with FSDP1, whose flat parameter takes one dtype, but wraps each
    peft adapter as a unit of its own (qlora54b: tests/test_qlora54b.py), so no block mixes dtypes: planned (refused
    from QA 103 to qlora54b)."""
    job = {**LORA, "training": {**LORA["training"], "global_batch": 64},
           "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 3},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    code, out, err = cli("estimate", write_job(tmp_path, job), "--json")
    assert code == 0, err


# -- 5. the dle-bert launch names the script it targets ---------------------------------------------------------------
def test_dle_bert_emit_names_the_script_version(tmp_path, cli):
    """``--emit`` on a dle-bert plan runs run_pretraining.py under torchrun, which only the LDDL script reads the rank
    of by default; the header now says so and what an older apex-based copy needs (--use_env)."""
    job = {"model": {"preset": "bert-large"},
           "training": {"seq_len": 128, "global_batch": 4096, "micro_batch": 256, "precision": "fp16",
                        "optimizer": "adamw", "tokens": 1e9, "framework": "dle-bert", "head_tokens_per_seq": 20},
           "parallel": {"tp": 1, "pp": 1, "zero": 0},
           "cluster": {"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    code, out, err = cli("recommend", write_job(tmp_path, job), "--no-simulate", "--emit", "torchrun")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("# set $DLE_BERT_DIR: "))
    assert "LDDL" in line and "$LOCAL_RANK" in line and "--use_env" in line, line
