"""hfwalk44: a tensor-parallel rank's peak of the HF code's walked step, moment by moment.

memory_activations ``_hf_walk_arrays`` split the walk's peak (one total) for a TP rank as if the peak's moment held the layers'
part, all the logits and all the gradients at once: ``(peak - vocab - grads) x share + vocab + grads x g_share``.
Under gradient checkpointing the peak falls late in the backward, logits freed, and the figure went negative
(llama3-8b on DeepSpeed, TP8 ZeRO-1, checkpointed: -2.16 GB, found by tests/test_fuzz_core42.py). Now the walk gives
each moment split in three (activations_hf ``hf_step_walk``) and the rank's peak is the largest of
``(layers x share + vocab) / cp + grads x g_share`` over them (``hf_rank_peak``, over ``hf_walk_front``'s moments;
until hfcp44 the weight-sized part was over cp too)."""
from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest

import planner.model.activations_hf as AH
from planner.layout import Candidates
from planner.model import memory as M
from planner.model import memory_activations as MA
from planner.model.stacks import resolve
from planner.spec import ModelSpec, load_job_dict
from planner.spec.presets import PRESETS


def _job(preset: str, stack: str, seq: int = 2048, gb: int = 16):
    return load_job_dict({"model": {"preset": preset}, "training": {"seq_len": seq, "global_batch": gb, "tokens": 1e10,
                                                                    "framework": {"name": stack}}})


def _row(n=1, **kw) -> Candidates:
    f = dict(tp=8, pp=1, dp=8, cp=1, zero=1, mb=2, rc=2, sp=False)
    f.update(kw)
    a = {k: np.broadcast_to(np.asarray(v), (n,)).copy() for k, v in f.items()}
    return Candidates(tp=a["tp"], pp=a["pp"], dp=a["dp"], cp=a["cp"], ep=1, vpp=1, zero=a["zero"], mb=a["mb"],
                      rc=a["rc"], sp=a["sp"], schedule=0, gpus_per_node=8, nodes=a["tp"] * a["dp"] * a["cp"] // 8)


def _values(moments, share, g_share, cp=1.0):
    """Each moment's rank value, written as the docstring states it (not as ``hf_rank_peak`` rounds it)."""
    level, vocab, grads = moments.T
    return ((level - vocab - grads) * share + vocab) / cp + grads * g_share  # CP does not split the weights (hfcp44)


def test_checkpointed_tp8_deepspeed_row_is_its_exact_peak():
    """The fuzz42 row: llama3-8b, DeepSpeed (ZeRO-1 keeps autograd's .grad: the kept-gradient walk), seq 2048, TP8
    DP8, micro-batch 2, gradient checkpointing. Was -2.16e9 B of activations; now >= 0, and activations + logits are
    the largest over every moment of the walk of (layers x hf_tp_share + vocab + grads / 8)."""
    job = _job("llama3-8b", "deepspeed")
    m, t, st = job.model, job.training, resolve("deepspeed")
    mem = M.memory_per_gpu(m, t, _row(), stack=st, gpu="H100-SXM-80GB")
    act, logits = float(mem["activations"][0]), float(mem["logits"][0])
    assert act >= 0.0
    mt = AH.hf_model_type(m)
    s, moments = AH.hf_step_walk(m, mt, 2048, 2, "bf16", "sdpa", True, True, True, False,
                                 bool(getattr(st, "loop_holds_output", False)))
    share = float(MA.hf_tp_share(m, 2048, np.array([2]), np.array([8.0]), np.array([False]), np.array([2]))[0])
    want = _values(moments, share, 1.0 / 8).max()
    assert act + logits == pytest.approx(want, rel=1e-12)
    assert logits == pytest.approx(s.vocab, rel=1e-15)  # the report's logits: the vocab-wide tensors less the saves


MODELS = ("llama3-8b", "qwen3-8b", "gemma2-9b", "mixtral-8x7b")


@pytest.mark.parametrize("preset", MODELS)
def test_front_keeps_every_shares_peak(preset):
    """Over walks (precision x attention x checkpointing x kept gradients) and seeded shares: the rank's peak from
    ``hf_walk_front``'s moments is at least every moment's value (within rounding), at most the unsplit peak, never
    negative, and at share 1, g_share 1, cp 1 the walk's peak bit for bit."""
    m = ModelSpec(**PRESETS[preset])
    mt = AH.hf_model_type(m)
    rng = np.random.default_rng(44)
    for p, impl, gc, keep in itertools.product(("bf16", "amp_bf16"), ("eager", "sdpa"), (False, True), (True, False)):
        st, moments = AH.hf_step_walk(m, mt, 512, 1, p, impl, gc, keep)
        peak = max(st.peak_forward, st.peak_step)
        saves = sum(AH._loss_saves(mt, AH.PRECISIONS[p])) * AH._logits(m, 512, 1)  # the loss's vocab-wide saves
        # (mem45: the second column also holds the tokens' saves outside the blocks, whole on a TP rank)
        outside = AH.hf_saved_parts(m, mt, 512, 1, p, impl, False)[1] - saves
        assert moments[:, 0].max() == peak
        assert moments[:, 1].max() == pytest.approx(st.vocab + saves + outside, rel=1e-15)
        level, vocab, grads = moments.T
        assert (grads >= 0).all() and (level - vocab - grads >= -1e-9 * peak).all()  # the parts add up
        front = AH.hf_walk_front(moments)
        assert len(front) < len(moments)
        assert struct.pack("<d", AH.hf_rank_peak(front, 1.0, 1.0, 1.0)) == struct.pack("<d", peak)
        for share, g_share, cp in zip(rng.random(8), rng.random(8), rng.choice([1, 2, 4], 8)):
            got = AH.hf_rank_peak(front, share, g_share, cp)
            assert got >= _values(moments, share, g_share, cp).max() * (1 - 1e-12)
            assert 0.0 <= got <= peak * (1 + 1e-12)


HF_STACKS = ("deepspeed", "hf-trainer")


@pytest.mark.parametrize("stack", HF_STACKS)
def test_tp_rows_between_their_moments_and_the_unsplit_peak(monkeypatch, stack):
    """llama3-8b under each HF stack, every (TP, recompute, ZeRO, micro-batch): each ``hf_rank_peak`` the memory
    model takes is at least each moment's rank value of the walk it reads and at most that walk's unsplit peak; a
    row's activations are >= 0 and its activations + logits at most the same row's at TP 1 (share 1: the unsplit
    walk). Walking every moment (no ``hf_walk_front``) gives the same bytes."""
    job = _job("llama3-8b", stack, gb=64)
    m, t, st = job.model, job.training, resolve(stack)
    grid = list(itertools.product((1, 2, 4, 8), (0, 1, 2), (0, 1, 2, 3), (1, 2)))
    tp, rc, zero, mb = (np.array(x) for x in zip(*grid))
    calls = []
    real = AH.hf_rank_peak

    def spy(moments, share, g_share, cp=1.0):
        got = real(moments, share, g_share, cp)
        calls.append((moments, share, g_share, cp, got))
        return got

    monkeypatch.setattr(AH, "hf_rank_peak", spy)
    monkeypatch.setattr(MA, "_WALKS", {})
    mem = M.memory_per_gpu(m, t, _row(len(grid), tp=tp, dp=64 // tp, rc=rc, zero=zero, mb=mb), stack=st,
                           gpu="H100-SXM-80GB")
    assert calls
    for moments, share, g_share, cp, got in calls:
        assert got >= _values(moments, share, g_share, cp).max() * (1 - 1e-12)
        assert got <= moments[:, 0].max() * (1 + 1e-12)
    act, logits = np.asarray(mem["activations"]), np.asarray(mem["logits"])
    assert (act >= 0).all()
    one = M.memory_per_gpu(m, t, _row(len(grid), tp=1, dp=64 // tp, rc=rc, zero=zero, mb=mb), stack=st,
                           gpu="H100-SXM-80GB")
    assert (act + logits <= (np.asarray(one["activations"]) + np.asarray(one["logits"])) * (1 + 1e-12)).all()
    monkeypatch.setattr(AH, "hf_walk_front", lambda moments: moments)
    monkeypatch.setattr(MA, "_WALKS", {})
    every = M.memory_per_gpu(m, t, _row(len(grid), tp=tp, dp=64 // tp, rc=rc, zero=zero, mb=mb), stack=st,
                             gpu="H100-SXM-80GB")
    np.testing.assert_allclose(np.asarray(every["activations"]), act, rtol=1e-12)


@pytest.mark.parametrize("preset", ("gemma3-12b", "qwen3-30b-a3b"))
def test_replayed_moments_are_the_block_by_block_moments(monkeypatch, preset):
    """Each block's recorded walk (``_Tape``) replayed gives the moments of walking every block in turn: the same
    points, the totals and vocabulary-wide parts bit for bit, the gradients within rounding (the tape adds a
    block's own from its start). Gemma 3's two kinds of block, Qwen3-MoE's expert loop (the 3-D weights' gradients)."""
    import functools

    m = ModelSpec(**PRESETS[preset])
    mt = AH.hf_model_type(m)
    cases = list(itertools.product(("bf16", "amp_bf16"), (False, True), (True, False)))
    fast = [AH.hf_step_walk(m, mt, 128, 1, p, "sdpa", gc, kg)[1] for p, gc, kg in cases]
    monkeypatch.setattr(AH, "_blocks_backward", functools.partial(AH._blocks_backward, replay=False))
    for (p, gc, kg), got in zip(cases, fast):
        ref = AH.hf_step_walk(m, mt, 128, 1, p, "sdpa", gc, kg)[1]
        assert got.shape == ref.shape
        assert got[:, :2].tobytes() == ref[:, :2].tobytes()
        np.testing.assert_allclose(got[:, 2], ref[:, 2], rtol=1e-12, atol=1e-6)
