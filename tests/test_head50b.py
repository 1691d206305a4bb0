"""head50b: the output head's two leftovers of head50.

(1) Where the MLM head runs is the stack's code (``Stack.head_on_masked_positions``, read through ``Stack.head_seq``):
DeepLearningExamples' BERT gathers the masked rows before its heads (modeling.py ``dense_sequence_output``), so its
step time and its HF memory walk both run the head on ``training.head_tokens_per_seq``; transformers' BERT heads run
on every position, so hf-trainer and deepspeed refuse the field (rule ``hf-head-positions``) -- until head50b the step
time took it there and the memory walk priced every position.
(2) The step time's head prices the dense before the output linear (a classifier's pooler, BERT's MLM transform),
which FLOPs count (``params.head_dense_macs``): until head50b it priced the b x num_labels GEMM alone.
Every test here fails on the code before head50b."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import answered, bert_large_job, refused, write_job
from planner.hardware.options import option_from_instance
from planner.model import layer_ops
from planner.model.activations_hf import hf_step_memory
from planner.model.flops import linear_flops_per_token
from planner.model.stacks import STACKS, resolve
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.params import head_positions
from planner.spec.presets import PRESETS


@pytest.mark.parametrize("framework", ["hf-trainer", "deepspeed"])
def test_hf_code_stacks_refuse_masked_head_positions(tmp_path, cli, framework):
    """transformers' ``BertForPreTraining`` runs its ``cls`` head on the whole sequence output: the field is refused
    in one line on the field, exit 2 (it was taken: the step time's head ran on 20 positions, the memory on all)."""
    line = refused(cli("estimate", write_job(tmp_path, bert_large_job(framework, 20, "bf16")), "--json"))
    assert line.startswith("error: training.head_tokens_per_seq: "), line
    assert "every position" in line, line


def test_dle_bert_step_time_and_memory_read_one_rule(tmp_path, cli):
    """On dle-bert the memory follows the masked positions as the step time does: the logits the walk prices are
    80/512 of every position's (the vocabulary-wide tensors scale with the head's rows, ``head_positions``), and the
    activations fall with the head's rows; the stack rule gives the field to both, hf-trainer's gives None."""
    t = TrainingSpec(seq_len=512, global_batch=64, head_tokens_per_seq=80)
    assert STACKS["dle-bert"].head_seq(t) == 80 and STACKS["hf-trainer"].head_seq(t) is None
    assert STACKS["deepspeed"].head_seq(t) is None
    masked = answered(cli("estimate", write_job(tmp_path, bert_large_job("dle-bert", 80)), "--json"))
    every = answered(cli("estimate", write_job(tmp_path, bert_large_job("dle-bert", None), "all.yaml"), "--json"))
    mm, me = masked["memory_per_gpu_bytes"], every["memory_per_gpu_bytes"]
    assert mm["logits"] == pytest.approx(me["logits"] * 80 / 512, rel=1e-6)
    assert mm["activations"] < me["activations"]
    assert masked["step_time_s"] < every["step_time_s"]


def test_hf_walk_head_rows_follow_head_seq():
    """The HF walk (``hf_step_memory``) of BERT with the head on 80 of 512 positions: its logits are 80/512 of the
    whole walk's, its saved tensors smaller by the dropped rows' MLM-transform saves; a classifier's head stays on
    its [CLS] row whatever ``head_seq`` says."""
    m = ModelSpec(**PRESETS["bert-large"])
    full = hf_step_memory(m, "bert", 512, 4, "bf16_cuda", "eager", False)
    part = hf_step_memory(m, "bert", 512, 4, "bf16_cuda", "eager", False, head_seq=80)
    assert part.logits == pytest.approx(full.logits * 80 / 512, rel=1e-12)
    # the dropped rows keep at least the transform dense's input and the decoder's input (2 x h x 2 B a row)
    assert full.saved - part.saved > (512 - 80) * 4 * 2 * m.hidden * 2
    cls = ModelSpec(**PRESETS["bert-large"], output_head="classifier")
    assert (hf_step_memory(cls, "bert", 512, 4, "bf16_cuda", "eager", False, head_seq=80).saved
            == hf_step_memory(cls, "bert", 512, 4, "bf16_cuda", "eager", False).saved)


@pytest.mark.parametrize("preset,extra,head_seq", [("bert-large", {"output_head": "classifier"}, None),
                                                   ("bert-large", {}, 20), ("llama3-8b", {}, None)],
                         ids=["classifier", "mlm", "causal"])
def test_step_time_head_gemms_are_the_flops_head(catalog, monkeypatch, preset, extra, head_seq):
    """The GEMMs the step time's head prices are the ones FLOPs count: 2 x M x N x K over the head's GEMM shapes (one
    pass) equals flops' ``linear_flops_per_token["logits"]`` x the head's positions x micro-batch -- the classifier's
    pooler (b x h x h) and BERT's MLM transform on the masked rows included (before head50b only the output
    linear: the classifier's head was 1/(1 + h/num_labels) of its FLOPs)."""
    m = ModelSpec(**PRESETS[preset], **extra)
    t = TrainingSpec(seq_len=128, global_batch=64, head_tokens_per_seq=head_seq)
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    fw = resolve("dle-bert" if preset == "bert-large" else None)
    one = np.ones(1, dtype=np.int64)
    mb = np.array([8])
    shapes = []
    real = layer_ops.LayerContext.gemm

    def spy(self, M, N, K, *a, **kw):
        shapes.append((M, N, K))
        return real(self, M, N, K, *a, **kw)

    monkeypatch.setattr(layer_ops.LayerContext, "gemm", spy)
    c = layer_ops.layer_context(m, t, hw, fw, one, one, one, mb, one > 1, one, None)
    shapes.clear()
    layer_ops.lm_head(c, m, t, fw, ())
    priced = sum(float(np.sum(2 * np.asarray(M, dtype=np.float64) * N * K)) for M, N, K in shapes)
    counted = linear_flops_per_token(m)["logits"] * float(head_positions(m, 128.0, head_seq)) * 8
    assert priced == pytest.approx(counted, rel=1e-9)
