"""hfcp44: a context-parallel rank of the HF code's walked step holds its whole share of the weight-sized tensors.

hfwalk44 / hfvocab44 priced one rank's walked step as ``(layers x share + vocab + wsized x g_share) / cp`` and
memory_activations ``_hf_walk_arrays`` added the kept gradients as ``grads x g_share / cp``. Context parallelism splits the
sequence, not the weights (accelerate docs/source/concept_guides/context_parallelism.md: the attention's inputs are
sharded along the sequence dimension): a CP rank holds its TP shard's whole gradients, autocast weight copies and
Liger's head-weight gradient. Now ``(layers x share + vocab) / cp + wsized x g_share``, one rule at both sites."""
from __future__ import annotations

import numpy as np
import pytest

import planner.model.activations_hf as AH
from planner.model import memory as M
from planner.model.stack_kernels import hf_attn_choice
from planner.model.stacks import resolve
from test_hfwalk44 import _job, _row

GPU = "H100-SXM-80GB"


def test_weight_sized_part_is_not_split_by_cp():
    """A moment holding only weight-sized bytes (the gradients ``_hf_walk_arrays`` adds to a walk without them) is
    the same on a CP2 / CP4 rank as on a CP1 one; the layers' and vocabulary-wide parts halve at CP2."""
    w = 3.0e9
    only_weights = np.array([[w, 0.0, w]])
    for g_share in (1.0, 0.5):
        one = AH.hf_rank_peak(only_weights, 0.7, g_share, 1.0)
        assert one == pytest.approx(w * g_share, rel=1e-15)
        assert AH.hf_rank_peak(only_weights, 0.7, g_share, 2.0) == pytest.approx(one, rel=1e-15)
        assert AH.hf_rank_peak(only_weights, 0.7, g_share, 4.0) == pytest.approx(one, rel=1e-15)
    layers, vocab = 5.0e9, 2.0e9
    moment = np.array([[layers + vocab + w, vocab, w]])
    assert AH.hf_rank_peak(moment, 0.5, 0.25, 2.0) == pytest.approx((layers * 0.5 + vocab) / 2 + w * 0.25, rel=1e-14)


def _figure(stack, seq, **row):
    """Activations + logits of one llama3-8b plan row."""
    job = _job("llama3-8b", stack, seq=seq, gb=64)
    m, t, st = job.model, job.training, resolve(stack)
    mem = M.memory_per_gpu(m, t, _row(1, **row), stack=st, gpu=GPU)
    return float(mem["activations"][0]) + float(mem["logits"][0])


def test_cp2_row_keeps_the_cp1_rows_gradients():
    """llama3-8b under the HF Trainer (DDP: autograd's .grad held from the first micro-batch on with accumulation,
    autocast's bf16 copies over fp32 weights), 8,192 tokens, checkpointed, TP 1: the CP2 row's figure is the CP1
    row's with the layers' and vocabulary-wide parts halved and the weight-sized ones (the held gradients, the
    copies live at the peak's moment) whole. Before hfcp44 they were halved too: the CP2 row read the CP1 row / 2."""
    kw = dict(tp=1, dp=8, rc=2, zero=0, mb=1)
    one = _figure("hf-trainer", 8192, cp=1, **kw)
    two = _figure("hf-trainer", 8192, cp=2, **kw)
    job = _job("llama3-8b", "hf-trainer", seq=8192, gb=64)
    m, st = job.model, resolve("hf-trainer")
    mt = AH.hf_model_type(m)
    impl = AH.hf_attn_impl(m, job.training.flash_attention, hf_attn_choice(st, m, job.training))
    s, moments = AH.hf_step_walk(m, mt, 8192, 1, "amp_bf16", impl, True, False, True, False,
                                 bool(getattr(st, "loop_holds_output", False)))
    level, vocab, wsized = moments.T
    assert one == pytest.approx(level.max() + s.grads, rel=1e-12)  # the walk without them + every .grad
    want = np.max((level - wsized) / 2 + wsized) + s.grads
    assert two == pytest.approx(want, rel=1e-12)
    assert two > one / 2 + 0.99 * s.grads / 2  # the old rule: one / 2
