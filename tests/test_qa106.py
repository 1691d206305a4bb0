"""QA 106: stacks that accepted models their code cannot build, and a ``recommend`` whose refusal named a constraint
that does not bind (docs/qa_log.md "QA 106"). Each test fails on the code before it unless its docstring says it is a
control (passes on both)."""
from __future__ import annotations

import json

import pytest
from conftest import refused, write_job

L8 = {"seq_len": 2048, "global_batch": 64, "micro_batch": 1, "precision": "bf16", "optimizer": "adamw",
      "recompute": "full", "tokens": 1e9}
R50 = {"global_batch": 256, "micro_batch": 16, "precision": "bf16", "optimizer": "adamw", "recompute": "none",
       "epochs": 1, "dataset_samples": 1281167}
H100_2 = {"instance": "aws:p5.48xlarge", "nodes": 2}


def _job(model: str, training: dict, framework: str, parallel=None, cluster=None) -> dict:
    return {"model": {"preset": model}, "training": dict(training, framework=framework),
            "parallel": parallel or {"tp": 1, "pp": 1, "cp": 1, "zero": 0}, "cluster": cluster or H100_2}


# -- 1. a stack whose code builds one model family refuses the others -----------------------------------------------
def test_dle_convnets_refuses_a_decoder(tmp_path, cli):
    """NVIDIA's ConvNets code (main.py --arch) builds image classifiers only: llama3-8b on it was estimated (15.7 s a
    step at 8,192 tokens, exit 0). Now one line naming the stack and what its code builds (rule ddp-convnets-model)."""
    line = refused(cli("estimate", write_job(tmp_path, _job("llama3-8b", L8, "dle-convnets"))))
    assert line.startswith("error: training.framework: dle-convnets refuses a model with transformer layers"), line
    assert "image classifiers only" in line, line


@pytest.mark.parametrize("framework, who", [("torchtitan", "torchtitan"), ("llm-foundry", "Composer (llm-foundry)"),
                                            ("metaseq", "metaseq")])
def test_decoder_only_stacks_refuse_a_cnn(tmp_path, cli, framework, who):
    """torchtitan, llm-foundry and metaseq build causal decoders only (QA 104 refused BERT on them): resnet50, a
    generic params + FLOPs model, was still estimated on each (torchtitan: 6.9 ms a step, exit 0)."""
    job = _job("resnet50", R50, framework, {"tp": 1, "pp": 1, "zero": 0})
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith(f"error: training.framework: {who} refuses a model other than a causal decoder"), line


@pytest.mark.parametrize("framework", ["dle-convnets", "pytorch-ddp"])
def test_cnn_stacks_keep_the_cnn(tmp_path, cli, framework):
    """Control (passes on both): the stacks that run a CNN still estimate resnet50."""
    job = _job("resnet50", R50, framework, {"tp": 1, "pp": 1, "zero": 0})
    code, out, err = cli("estimate", write_job(tmp_path, job), "--json")
    assert code == 0, err
    assert json.loads(out)["step_time_s"] > 0


# -- 2. the masked-row MLM head where the stack's code decides it ----------------------------------------------------
BERT = {"seq_len": 512, "global_batch": 256, "micro_batch": 8, "precision": "bf16", "optimizer": "adamw",
        "recompute": "none", "tokens": 1e9}


def test_neuronx_distributed_refuses_the_masked_row_head(tmp_path, cli):
    """NeuronX Distributed's BERT is transformers' BertForPreTraining (examples/training/tp_dp_bert_hf_pretrain), heads
    on every position: ``head_tokens_per_seq: 80`` was taken and the head priced on 80 rows of 512."""
    job = _job("bert-large", dict(BERT, head_tokens_per_seq=80), "neuronx-distributed", {"tp": 1, "pp": 1, "zero": 1},
               {"gpu": "Trainium2", "gpus_per_node": 16, "nodes": 1})
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.head_tokens_per_seq: NeuronX Distributed refuses an MLM head on the masked "
                           "positions only"), line


def test_pytorch_ddp_prices_the_masked_row_head(tmp_path, cli):
    """Control (passes on both): pytorch-ddp is torch DDP around the job's own model code, which states through
    ``head_tokens_per_seq`` that it gathers the masked rows: priced, the logits held for 80 rows of 512."""
    got = []
    for head in (None, 80):
        t = dict(BERT, **({"head_tokens_per_seq": head} if head else {}))
        code, out, err = cli("estimate", write_job(tmp_path, _job("bert-large", t, "pytorch-ddp"), f"j{head}.yaml"),
                             "--json")
        assert code == 0, err
        got.append(json.loads(out)["memory_per_gpu_bytes"]["logits"])
    assert got[1] < got[0] / 4, got


# -- 4. recommend names the constraint that binds --------------------------------------------------------------------
def _recommend(cli, tmp_path, job):
    return refused(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--top", "1"))


def test_a_pinned_layout_is_named_not_more_gpus(tmp_path, cli):
    """TP 1, PP 1 and ZeRO-0 fixed hold each GPU's weights, gradients and optimizer state whole at any GPU count:
    Llama-3-70B (1,194 GiB a GPU) was told "allow more GPUs (constraints.max_gpus)", which frees nothing."""
    job = {"model": {"preset": "llama3-70b"}, "training": {"seq_len": 4096, "global_batch": 64, "tokens": 1e9},
           "parallel": {"tp": 1, "pp": 1, "zero": 0}, "constraints": {"max_gpus": 16, "gpus": ["H100"]}}
    line = _recommend(cli, tmp_path, job)
    assert "fixed parallel tp 1, pp 1, zero 0" in line and "allow more" not in line, line


def test_a_raised_memory_headroom_is_named(tmp_path, cli):
    """``memory_headroom: 0.99`` left 0.8 GiB of an H100 and the advice named only max_gpus."""
    job = {"model": {"preset": "llama3-8b"}, "training": {"seq_len": 4096, "global_batch": 64, "tokens": 1e9},
           "constraints": {"max_gpus": 8, "gpus": ["H100"], "memory_headroom": 0.99}}
    line = _recommend(cli, tmp_path, job)
    assert "constraints.memory_headroom 0.99" in line, line


def test_a_deadline_missed_at_the_gpu_cap_names_the_cap(tmp_path, cli):
    """The fastest plan under ``max_gpus`` used all of them: the refusal named the deadline alone."""
    job = {"model": {"name": "tiny", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000},
           "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e13},
           "constraints": {"max_gpus": 8, "gpus": ["H100"], "deadline_hours": 1}}
    line = _recommend(cli, tmp_path, job)
    assert line.startswith("error: constraints.deadline_hours:") and "at constraints.max_gpus 8" in line, line


# -- 3. hostile job text -----------------------------------------------------------------------------------------------
def test_an_anchor_named_twice_is_named(tmp_path, cli):
    """Found by tests/test_fuzz106.py's job-text fuzz: an anchor given twice (``&s``) read "malformed YAML at line 2,
    column 44: second occurrence", the problem without what occurred twice (libyaml's composer puts that in the
    error's context). Now the anchor and both places."""
    text = ("model: {preset: llama3-8b}\ntraining: {seq_len: &s 1024, global_batch: &s 64, steps: 10}\n"
            "cluster: {gpu: H100, gpus_per_node: 8, nodes: 1}\n")
    line = refused(cli("estimate", write_job(tmp_path, text)))
    assert line.endswith("malformed YAML at line 2, column 44: the anchor &s is named twice, first at line 2, "
                         "column 21 (give each anchor its own name)"), line
