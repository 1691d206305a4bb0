"""head50: the model's output head as an input (``model.output_head``: lm | classifier, ``model.num_labels``).

A classifier is transformers' ``BertForSequenceClassification``: the pooler (dense + tanh) on the [CLS] token, dropout,
a ``num_labels``-wide linear, the loss on (batch, num_labels); no vocabulary projection. Checked against the tiny BERT
recorded by tests/make_head50.py (tests/data/head50.json: transformers 5.23, torch 2.13, CPU; FlopCounterMode,
saved_tensors_hooks, live tensor storages). Every test here fails on the code before head50, which refused
``output_head`` / ``num_labels`` as unknown model fields and priced every BERT with the MLM head."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import answered, refused, write_job

from planner.model.activations import logits_bytes, rank_logits
from planner.model.activations_hf import hf_saved_bytes, hf_step_memory
from planner.model.flops import step_flops
from planner.spec import ModelSpec
from planner.spec.hf import hf_config_to_fields
from planner.spec.params import count_params, head_positions
from planner.spec.presets import PRESETS

DATA = Path(__file__).parent / "data"
TRUTH = json.loads((DATA / "head50.json").read_text())
BERT = hf_config_to_fields(json.loads((DATA / "hf_flops.json").read_text())["families"]["bert"]["resolved_config"])


def _spec(case) -> ModelSpec:
    head = dict(output_head="classifier", num_labels=case["num_labels"]) if case["head"] == "classifier" else {}
    return ModelSpec(**BERT, **head)


CLASSIFIER = [c for c in TRUTH["cases"] if c["head"] == "classifier"]


@pytest.mark.parametrize("case", [c for c in CLASSIFIER if c["precision"] == "fp32"],
                         ids=lambda c: f"nl{c['num_labels']}-b{c['batch']}-s{c['seq']}")
def test_params_and_flops_are_the_classifiers(case):
    """The parameters (the pooler and the classifier, no MLM transform or decoder bias) and the forward / fwd + bwd
    FLOPs exactly as transformers' model and FlopCounterMode count them (the MLM head's h x V per token was 17%
    of the tiny model's forward)."""
    m = _spec(case)
    assert count_params(m).total == case["params"]
    f = step_flops(m, case["seq"], case["batch"], flash=False)
    assert float(f["fwd"]) == case["fwd_flops"]
    assert float(f["model"]) == case["fwd_bwd_flops"]


@pytest.mark.parametrize("case", CLASSIFIER,
                         ids=lambda c: f"nl{c['num_labels']}-{c['precision']}-b{c['batch']}-s{c['seq']}")
def test_the_hf_walk_prices_the_classifiers_step(case):
    """The HF walk (``hf_step_memory``) of the classifier against the recorded step: the saved tensors within 0.1%
    (the pooler's dense keeps the whole encoder output its [CLS] slice is a view of, or under autocast its cast
    copy), what the forward leaves within 1%, the step's peak within 5% (the band test_hf_memory holds every family
    to), the gradients exactly. The MLM pricing it replaces was 9-26% over on each (saved, after the forward, peak)."""
    m = _spec(case)
    b, s, p = case["batch"], case["seq"], case["precision"]
    assert hf_saved_bytes(m, "bert", s, b, p, "eager") / case["saved_bytes"] - 1 == pytest.approx(0, abs=1e-3)
    r = hf_step_memory(m, "bert", s, b, p, "eager", False, output_held=False)
    assert r.after_forward / case["live_after_forward_bytes"] - 1 == pytest.approx(0, abs=0.01)
    assert r.peak_step / case["live_peak_fwd_bwd_bytes"] - 1 == pytest.approx(0, abs=0.05)
    assert r.grads == case["grad_bytes"]
    assert r.logits == pytest.approx(case["logits_bytes"], rel=0.01)


def test_one_head_rule_for_step_time_and_memory():
    """``head_positions`` is the one rule: a classifier's loss runs on one position a sequence whatever
    ``head_tokens_per_seq`` says, an LM head on the masked positions given, else on all; the rank's logits (which the
    step time's head and the memory's loss both read) follow it, and the non-HF memory's head keeps no vocabulary-
    wide tensor on a classifier."""
    cls = ModelSpec(**PRESETS["bert-large"], output_head="classifier")
    mlm = ModelSpec(**PRESETS["bert-large"])
    assert float(head_positions(cls, 512.0, 80)) == 1.0
    assert head_positions(mlm, 512.0, 80) == 80 and head_positions(mlm, 512.0) == 512.0
    assert float(rank_logits(cls, 512, 4).shard) == 4 * 2
    assert float(rank_logits(mlm, 512, 4, head_seq=80).shard) == 4 * 80 * 30522
    # the classifier's head in the non-HF memory: the pooler's input (the encoder output) and 3 rows a sequence
    h = 1024
    assert float(logits_bytes(cls, 512, 4, act_bytes=2)) == 4 * 2 * 4 + 2 * h * (512 * 4 + 3 * 4)
    masked = float(logits_bytes(mlm, 512, 4, act_bytes=2, head_seq=80))
    assert masked < float(logits_bytes(mlm, 512, 4, act_bytes=2)) / 5


def _job(model_extra: dict, training_extra: dict | None = None) -> dict:
    return {"model": {"preset": "bert-large", **model_extra},
            "training": {"seq_len": 512, "global_batch": 32, "micro_batch": 4, "steps": 10, "framework": "hf-trainer",
                         "precision": "fp32", **(training_extra or {})},
            "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 1, "nodes": 1},
            "parallel": {"tp": 1, "pp": 1, "dp": 1}}


def test_estimate_of_a_bert_large_classifier(tmp_path, cli):
    """bert-large as a 2-label classifier on the HF Trainer: transformers' 335,143,938 parameters (BertModel with its
    pooler + a 1024 x 2 classifier), no logits term, a smaller step and peak than the MLM preset's."""
    cls = answered(cli("estimate", write_job(tmp_path, _job({"output_head": "classifier"})), "--json"))
    mlm = answered(cli("estimate", write_job(tmp_path, _job({}), "mlm.yaml"), "--json"))
    assert cls["params"] == 335_143_938
    assert cls["memory_per_gpu_bytes"]["logits"] < 1e6 < mlm["memory_per_gpu_bytes"]["logits"]
    assert cls["memory_per_gpu_bytes"]["total"] < mlm["memory_per_gpu_bytes"]["total"] - 0.5 * 2**30
    assert cls["flops_per_step"] < 0.93 * mlm["flops_per_step"]
    assert cls["step_time_s"] < mlm["step_time_s"]


@pytest.mark.parametrize("model_extra, training_extra, start", [
    ({"output_head": "classifier", "num_labels": 0}, None, "error: model.num_labels: must be at least 1"),
    ({"output_head": "classifier", "num_labels": -2}, None, "error: model.num_labels: must be at least 1"),
    ({"output_head": "classifier", "num_labels": 10**12}, None, "error: model.num_labels: must be at most"),
    ({"num_labels": 2}, None, "error: model.num_labels: the labels of a classifier head"),
    ({"output_head": "clasifier"}, None, "error: model.output_head: must be one of lm, classifier"),
    ({"preset": "llama3-8b", "output_head": "classifier"}, None, "error: model.output_head: classifier is modelled for "
                                                                 "encoders"),
    ({"output_head": "classifier"}, {"head_tokens_per_seq": 20}, "error: training.head_tokens_per_seq: "),
], ids=["zero", "negative", "huge", "without-classifier", "typo", "decoder", "masked-positions"])
def test_bad_head_inputs_are_one_line_refusals(tmp_path, cli, model_extra, training_extra, start):
    """Bad head inputs: the one-line refusal, exit 2 (a decoder's classifier is another head transformers builds
    differently: LlamaForSequenceClassification scores the last non-pad token with no pooler)."""
    line = refused(cli("estimate", write_job(tmp_path, _job(model_extra, training_extra)), "--json"))
    assert line.startswith(start), line


def test_the_hf_trainer_docs_rows_are_the_2_label_classifier():
    """validate_memory maps the "Efficient Training on a Single GPU" rows (AutoModelForSequenceClassification, 2
    labels) onto the classifier, not the preset's MLM head."""
    import pandas as pd

    from benchmarks.validate_memory import DATA, hf_case

    d = pd.read_csv(DATA)
    r = d[d["id"] == "hfdoc_bertlarge_bs4"].iloc[0]
    m = hf_case(None, r)[0]
    assert (m.output_head, m.num_labels, m.mlm_head) == ("classifier", 2, False)
    assert count_params(m).total == 335_143_938
    assert np.isclose(float(rank_logits(m, 512, 4).shard), 8.0)


def test_a_fine_tuned_classifiers_config_json_is_a_classifier(tmp_path):
    """A config.json naming ``BertForSequenceClassification`` with 3 labels (``id2label``) loads as a 3-label
    classifier: BertModel's 335,141,888 with its pooler + 1024 x 3 + 3 (until head50 the MLM head, 335,174,458)."""
    from planner.spec.load import load_job_dict

    cfg = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": 1024,
           "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096, "vocab_size": 30522,
           "max_position_embeddings": 512, "type_vocab_size": 2, "id2label": {"0": "neg", "1": "neu", "2": "pos"}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m = load_job_dict({"model": {"hf_config": str(tmp_path / "config.json")}}).model
    assert (m.output_head, m.num_labels) == ("classifier", 3)
    assert count_params(m).total == 335_144_963
