"""mem45: the HF code's walked step under TP / CP / bf16-gathered weights -- the pieces session 44 left.

(1) With ``weight_casts=False`` (FSDP's / DeepSpeed ZeRO-3's bf16-gathered weights) autocast makes no copy of an
expert's slice either (torch aten/src/ATen/autocast_mode.cpp ``cached_cast`` casts only where the dtype differs), yet
the eager expert loop's backward freed one per expert: the MoE phase's moments were up to two experts' bf16 copies
short. (2) The tensors outside the blocks -- the final norm's saves and the head's input, the ids and labels, the
gradient the head's backward hands the final norm -- are whole on every TP rank (transformers' ``lm_head`` plan is a
column split of a replicated input), but sat in the layers' part at ``hf_tp_share``."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import planner.model.activations_hf as AH
from planner.spec import ModelSpec
from planner.spec.presets import PRESETS


@pytest.mark.parametrize("preset", ("mixtral-8x7b", "qwen3-30b-a3b"))
def test_bf16_weights_make_no_expert_copies_to_free(preset):
    """Autocast over fp32 weights (``weight_casts`` True) against bf16-gathered ones (False): at every moment of the
    backward the two walks differ by exactly their weight-sized parts (the copies), none in the layers' part. Before
    mem45 the False walk freed each expert's slice copies it never made: Mixtral's moments 2 x 352 MB short."""
    m = ModelSpec(**PRESETS[preset])
    mt = AH.hf_model_type(m)
    for gc, keep, impl in itertools.product((False, True), (False, True), ("eager", "sdpa")):
        _, cast = AH.hf_step_walk(m, mt, 512, 1, "amp_bf16", impl, gc, keep, True)
        _, bf16 = AH.hf_step_walk(m, mt, 512, 1, "amp_bf16", impl, gc, keep, False)
        assert cast.shape == bf16.shape
        # (the backward's moments: under checkpointing the forward has two, the second the larger of two working
        # sets whose late copies differ, so the walks can pick different ones there)
        back = slice(2 if gc else 1, None)
        level = cast[back, 0] - bf16[back, 0]
        wsized = cast[back, 2] - bf16[back, 2]
        assert np.abs(level - wsized).max() <= 1e-12 * cast[:, 0].max()


def _outside_whole(m, mt, seq, mb, precision, impl):
    """The tokens' saves outside the blocks (``hf_saved_parts``' outside less the loss's vocabulary-wide saves)."""
    saves = sum(AH._loss_saves(mt, AH.PRECISIONS[precision])) * AH._logits(m, seq, mb)
    return AH.hf_saved_parts(m, mt, seq, mb, precision, impl, False)[1] - saves


@pytest.mark.parametrize("preset", ("llama3-8b", "gemma2-9b"))
def test_the_walks_whole_part_holds_the_tensors_outside_the_blocks(preset):
    """The walk's second column (whole on a TP rank) at the forward's end: the vocabulary-wide tensors and the saves
    outside the blocks (ids, the final norm's, the head's input, labels); after the head's backward the labels and the
    gradient it hands the final norm (T x h, the stream dtype). Before mem45 only the vocabulary-wide tensors."""
    m = ModelSpec(**PRESETS[preset])
    mt = AH.hf_model_type(m)
    tok, n = 256, AH._logits(m, 256, 1)
    saves = sum(AH._loss_saves(mt, AH.PRECISIONS["amp_bf16"])) * n
    out = _outside_whole(m, mt, 256, 1, "amp_bf16", "sdpa")
    assert out > 4 * m.hidden * tok  # at least the final norm's fp32 input
    st, mo = AH.hf_step_walk(m, mt, 256, 1, "amp_bf16", "sdpa", False, False)
    assert mo[0, 1] == pytest.approx(st.logits + 4 * n + 4 * m.hidden * tok + saves + out, rel=1e-15)
    assert mo[3, 1] == pytest.approx(st.logits + 8 * (tok + 1) + 4 * m.hidden * tok, rel=1e-15)
    level, vocab, wsized = mo.T
    assert (level - vocab - wsized >= -1e-9 * level.max()).all()


def test_tp8_row_prices_the_tensors_outside_the_blocks_whole(monkeypatch):
    """llama3-8b on DeepSpeed (AutoTP), 4,096 tokens, TP8 DP8 ZeRO-1, micro-batch 2, no checkpointing (pure bf16):
    the rank's peak is the loss's backward, where the saves outside the blocks are live; they are whole on the rank
    now, so the figure rises by the (1 - share) of them the layers' share took off (session 44's figure pinned)."""
    from planner.model import memory as M
    from planner.model import memory_activations as MA
    from planner.model.stack_kernels import hf_attn_choice
    from planner.model.stacks import resolve
    from test_hfwalk44 import _job, _row

    job = _job("llama3-8b", "deepspeed", seq=4096, gb=64)
    m, t, st = job.model, job.training, resolve("deepspeed")
    calls = []
    real = AH.hf_rank_peak
    monkeypatch.setattr(AH, "hf_rank_peak", lambda mo, s, g, cp=1.0: calls.append(s) or real(mo, s, g, cp))
    monkeypatch.setattr(MA, "_WALKS", {})
    mem = M.memory_per_gpu(m, t, _row(1, tp=8, dp=8, rc=0, zero=1, mb=2), stack=st, gpu="H100-SXM-80GB")
    got = float(mem["activations"][0]) + float(mem["logits"][0])
    share = calls[0]
    assert 0.0 < share < 1.0
    impl = AH.hf_attn_impl(m, t.flash_attention, hf_attn_choice(st, m, t))
    # hfcp44's activations + logits of the row, + 465,920 B since autoep53b: AutoTP leaves the norms whole, so their
    # weight gradients in the rank's walk are whole too
    old = 21855183460.274162 + 8405385216.0 + 465920.0
    want = old + (1.0 - share) * _outside_whole(m, AH.hf_model_type(m), 4096, 2, "bf16", impl)
    assert got == pytest.approx(want, rel=1e-12)
