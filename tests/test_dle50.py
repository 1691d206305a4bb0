"""dle50: NVIDIA DeepLearningExamples' PyTorch BERT (stack ``dle-bert``, acc50) named by a job, as ``dle-convnets`` is:
``training.framework: dle-bert`` (or ``{name: dle-bert}``) runs, its launch limits are planner.model.stack_rules'
``dle-bert`` rows (run_pretraining.py: torch DDP over BertForPreTraining, --fp16 / --amp or fp32, FusedLAMBAMP), and
the stacks ``framework: auto`` searches stay defaults.AUTO_FRAMEWORKS. Until dle50 the job schema refused the name
(only benchmarks/validate.py could run it)."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job

A100 = {"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}
#: BERT-large phase 1 as DLE's A100 tables run it: 128 tokens, 256 sequences a GPU, fp16 (benchmarks/data/bert_dle.csv)
BERT = {"model": {"preset": "bert-large"},
        "training": {"seq_len": 128, "global_batch": 2048, "micro_batch": 256, "precision": "fp16",
                     "optimizer": "adamw", "tokens": 1e9, "framework": "dle-bert"},
        "parallel": {"tp": 1, "pp": 1, "zero": 0}, "cluster": A100}


def _job(framework=None, parallel=None, **training) -> dict:
    t = {**BERT["training"], **training}
    if framework is not None:
        t["framework"] = framework
    return {**BERT, "training": t, "parallel": {**BERT["parallel"], **(parallel or {})}}


@pytest.mark.parametrize("framework", ["dle-bert", {"name": "dle-bert"}])
def test_estimate_of_bert_large_on_dle_bert_runs_and_names_the_stack(tmp_path, cli, framework):
    """Both forms of the field run BERT-large on 8 A100s as the DLE stack: its record names it, without the switches
    its code lacks (torch.compile, TP overlap: torch 1.11 DDP), and attention is its own matmul + softmax."""
    est = answered(cli("estimate", write_job(tmp_path, _job(framework)), "--json"))
    st = est["stack"]
    assert st["name"] == "dle-bert"
    assert "compile" not in st and "tp_overlap" not in st and st["attn_implementation"] == "eager"
    assert st["overlap_grad_reduce"] is False  # one DDP bucket, reduced after the whole backward (acc50)


def test_the_text_answer_prints_the_stack_line(tmp_path, cli):
    code, out, err = cli("estimate", write_job(tmp_path, _job()))
    assert code == 0, err
    assert "training stack: dle-bert (" in " ".join(out.split())


@pytest.mark.parametrize("parallel, training, field, words", [
    ({"tp": 2}, {}, "parallel.tp", "refuses tensor parallelism"),
    ({"zero": 3}, {}, "parallel.zero", "refuses ZeRO"),
    ({"pp": 2}, {}, "parallel.pp", "refuses pipeline parallelism"),
    ({}, {"precision": "bf16"}, "training.precision", "refuses bf16 training"),
    ({}, {"precision": "fp8"}, "training.precision", "dle-bert has no fp8 path"),
    ({}, {"optimizer": "sgd"}, "training.optimizer", "dle-bert builds adamw only"),
    ({}, {"framework": {"name": "dle-bert", "attn_implementation": "sdpa"}}, "training.framework.attn_implementation",
     "refuses an attention other than its own"),
    ({}, {"framework": {"name": "dle-bert", "compile": True}}, "training.framework.compile", "no torch.compile"),
])
def test_what_run_pretraining_does_not_build_is_refused_on_its_field(tmp_path, cli, parallel, training, field, words):
    """One line, exit 2, the field blamed and DLE's script named as the source."""
    line = refused(cli("estimate", write_job(tmp_path, _job(parallel=parallel, **training))))
    assert line.startswith(f"error: {field}: "), line
    assert words in line and ("run_pretraining.py" in line or field == "training.framework.compile"), line


def test_a_model_other_than_bert_is_refused(tmp_path, cli):
    job = {**_job(), "model": {"preset": "llama3-8b"}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.framework: ") and "BertForPreTraining" in line, line


@pytest.mark.parametrize("framework", [None, "auto"])
def test_recommend_of_a_llama_job_never_lists_dle_bert(tmp_path, cli, framework):
    """dle-bert is selectable (vocab FRAMEWORK) but not searched: an open or ``auto`` stack on a Llama job ranks
    defaults.AUTO_FRAMEWORKS only."""
    from planner import defaults as D
    from planner.vocab import FRAMEWORK

    assert "dle-bert" in FRAMEWORK.names and "dle-bert" not in D.AUTO_FRAMEWORKS
    t = {"seq_len": 4096, "global_batch": 64, "tokens": 1e9, "precision": "bf16"}
    if framework is not None:
        t["framework"] = framework
    job = {"model": {"preset": "llama3-8b"}, "training": t,
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    code, out, err = cli("recommend", write_job(tmp_path, job), "--json", "--no-simulate")
    assert code == 0, err
    assert "dle-bert" not in out
