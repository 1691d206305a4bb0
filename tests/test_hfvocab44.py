"""hfvocab44: the HF code's walked step under TP, each tensor at the share a rank holds it at.

hfwalk44 split each moment of the walk (activations_hf ``hf_step_walk``) into the layers' part (at ``hf_tp_share``),
the vocabulary-wide part (whole) and the parameter gradients (at ``hf_grad_share``), but left two kinds of tensor in
the layers' part: (1) the loss's saved fp32 log-softmax and Gemma 2's final soft-cap tanh, which are (T, V) on every
TP rank (transformers' ``lm_head`` plan gathers the logits, DeepSpeed AutoTP's ``LmHeadLinearAllreduce`` all-reduces
them), and (2) autocast's bf16 weight copies and Liger's saved head-weight gradient, which are the size of the rank's
weights (1 / tp of a sharded weight). Now (1) is in the vocabulary-wide part and (2) in the weight-sized one (the
third column, with the gradients: ``hf_rank_peak`` takes it at the weights' share)."""
from __future__ import annotations

import numpy as np
import pytest

import planner.model.activations_hf as AH
from planner.model import memory as M
from planner.model import memory_activations as MA
from planner.model.stacks import resolve
from planner.spec import ModelSpec
from planner.spec.presets import PRESETS
from test_hfwalk44 import _job, _row

GPU = "H100-SXM-80GB"


def _rank_figure(monkeypatch, preset, stack, seq, **row):
    """(activations + logits, the (share, g_share, cp) the memory model passed ``hf_rank_peak``) of one plan row."""
    job = _job(preset, stack, seq=seq, gb=64)
    m, t, st = job.model, job.training, resolve(stack)
    calls = []
    real = AH.hf_rank_peak

    def spy(moments, share, g_share, cp=1.0):
        calls.append((share, g_share, cp))
        return real(moments, share, g_share, cp)

    monkeypatch.setattr(AH, "hf_rank_peak", spy)
    monkeypatch.setattr(MA, "_WALKS", {})
    mem = M.memory_per_gpu(m, t, _row(1, **row), stack=st, gpu=GPU)
    return m, float(mem["activations"][0]) + float(mem["logits"][0]), calls[0]


#: (preset, stack, seq, row, hfwalk44's activations + logits of it, bytes): rows whose rank peak is the loss's
#: backward (no checkpointing, a large vocabulary), DeepSpeed AutoTP, pure bf16
LOSS_ROWS = [
    # + 1,059,968 B since autoep53b: AutoTP leaves the norms whole (their gradients in the walk whole too)
    ("gemma2-9b", "deepspeed", 4096, dict(tp=8, dp=8, rc=0, zero=1, mb=1), 17131867355.742493 + 8388608000.0
     + 1059968.0),
]


@pytest.mark.parametrize("preset,stack,seq,row,old", LOSS_ROWS)
def test_loss_saves_are_whole_on_a_tp_rank(monkeypatch, preset, stack, seq, row, old):
    """The row's figure rises by exactly what hfwalk44's split took off the loss's vocabulary-wide saves: the
    log-softmax (4 B a logit) and Gemma 2's tanh (2 B), (1 - share) of them, now whole."""
    m, got, (share, g_share, cp) = _rank_figure(monkeypatch, preset, stack, seq, **row)
    assert share < 1.0
    mt = AH.hf_model_type(m)
    saves = sum(AH._loss_saves(mt, AH.PRECISIONS["bf16"])) * AH._logits(m, seq, row["mb"])
    assert saves == 6 * seq * m.vocab  # fp32 log-softmax, bf16 tanh
    # (mem45: and the tokens' saves outside the blocks, whole on a TP rank, live at the loss's backward)
    outside = AH.hf_saved_parts(m, mt, seq, row["mb"], "bf16", "eager", False)[1] - saves
    assert got == pytest.approx(old + (1.0 - share) * (saves + outside) / cp, rel=1e-12)


def test_autocast_copies_split_like_the_weights(monkeypatch):
    """llama3-8b under the HF Trainer (autocast over fp32 weights), 4,096 tokens, checkpointed: a layer keeps its input
    whole (``hf_tp_share`` 1), so hfwalk44 gave TP2 the TP1 figure; the peak is the forward's end, where autocast has
    cached a bf16 copy of every weight the matmuls read (``hf_param_cast_bytes``). A TP2 rank's copies are of its
    half of each weight: the figure falls by half of them."""
    m, one, (share1, _, _) = _rank_figure(monkeypatch, "llama3-8b", "hf-trainer", 4096, tp=1, dp=64, rc=2, zero=1, mb=1)
    _, two, (share, g_share, cp) = _rank_figure(monkeypatch, "llama3-8b", "hf-trainer", 4096, tp=2, dp=32, rc=2,
                                                zero=1, mb=1)
    assert share1 == share == 1.0 and g_share == 0.5 and cp == 1
    casts = AH.hf_param_cast_bytes(m, AH.hf_model_type(m))
    assert two == pytest.approx(one - 0.5 * casts, rel=1e-12)


@pytest.mark.parametrize("preset", ("llama3-8b", "gemma2-9b"))
def test_the_walks_parts(preset):
    """Where the new parts are live: the loss's saves in the vocabulary-wide part from the forward's end through the
    loss's backward, none after the head; autocast's copies (all, without checkpointing) and, with Liger's fused loss,
    the saved head-weight gradient in the weight-sized part at the forward's end, no log-softmax then."""
    m = ModelSpec(**PRESETS[preset])
    mt = AH.hf_model_type(m)
    n = AH._logits(m, 256, 1)
    saves = sum(AH._loss_saves(mt, AH.PRECISIONS["amp_bf16"])) * n
    st, mo = AH.hf_step_walk(m, mt, 256, 1, "amp_bf16", "sdpa", False, False)
    # (mem45: the second column also holds the tokens' tensors outside the blocks, whole on a TP rank: the saves
    # until the head's backward, then the labels and the gradient it hands the final norm)
    out = AH.hf_saved_parts(m, mt, 256, 1, "amp_bf16", "sdpa", False)[1] - saves
    # the moments: the forward's end, the walk's start, the loss's backward, after the head (no gradients kept);
    # at the forward's end the loss's upcast (4 B a logit) and the final norm's fp32 output besides the logits
    assert mo[0, 1] == pytest.approx(st.logits + 4 * n + 4 * m.hidden * 256 + saves + out, rel=1e-15)
    assert mo[1, 1] == pytest.approx(st.logits + saves + out, rel=1e-15)
    assert mo[2, 1] == pytest.approx(st.logits + 2 * 4 * n + saves + out, rel=1e-15)  # the loss's fp32 gradients
    assert mo[3, 1] == pytest.approx(st.logits + 8 * 257 + 4 * m.hidden * 256, rel=1e-15)
    assert mo[0, 2] == st.weight_casts == AH.hf_param_cast_bytes(m, mt)
    fc = AH.fused_ce_bytes(m, mt, 256, 1, "amp_bf16")
    assert fc.saved_weight == 4 * m.vocab * m.hidden  # the fp32 head's gradient, saved in the forward
    fst, fmo = AH.hf_step_walk(m, mt, 256, 1, "amp_bf16", "sdpa", False, False, fused_ce=True)
    assert fmo[0, 2] == fst.weight_casts + fc.saved_weight
    fout = out - fc.eager_saved + saves + (fc.saved - fc.saved_weight)  # the head's input out, Liger's gradient in
    assert fmo[0, 1] == pytest.approx(fc.transient + fout, rel=1e-15)  # one chunk's logits; no log-softmax
    level, vocab, wsized = fmo.T
    assert (level - vocab - wsized >= -1e-9 * level.max()).all()
