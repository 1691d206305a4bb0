"""The logits a rank holds, counted once (logit39): activations.rank_logits owns the count (tokens / cp / vocab tiles
x V / tp) that ``logits_bytes``, ``loss_transient_bytes`` and memory_activations ``held_logit_bytes`` each wrote inline before;
``rank_tokens`` (seq x micro-batch / cp) and ``sp_divisor`` the other formulas logit39 folded into one place each."""

import numpy as np
import pytest

from planner.model import activations, memory_activations, stacks
from planner.model.activations import (RankLogits, logits_bytes, loss_transient_bytes, rank_logits, rank_tokens,
                                       sp_divisor)
from planner.model.memory_activations import held_logit_bytes
from planner.spec import ModelSpec
from planner.spec.presets import PRESETS

#: every stack's loss as the stack's options pick it: each loss code of LOSS_TRANSIENT_BYTES a stack offers, MaxText's
#: vocabulary tiles, the loops that hold the logits (Composer, AutoModel) and the one whose model returns none
STACK_OPTIONS = [(name, {}) for name in stacks.STACKS] + [
    ("nemo-automodel", dict(ce_fp32_upcast=False)),
    ("nemo-automodel", dict(loss_fn="masked_ce_chunked", ce_chunk_size=1024)),
    ("nemo-automodel", dict(loss_fn="linear_ce")),
    ("nemo-automodel", dict(loss_fn="te_parallel_ce")),
    ("megatron-core", dict(cross_entropy_fusion="te")),
    ("torchtitan", dict(compile=False)),
    ("maxtext", dict(num_vocab_tiling=4)),
]
SEQ, MB, TP, CP = 64.0, np.array([1, 2, 1, 3]), np.array([1, 2, 4, 8]), np.array([1, 1, 2, 2])


@pytest.fixture(scope="module")
def model():
    return ModelSpec(**PRESETS["llama3-8b"])


def _ids(p):
    return p[0] + "".join(f"-{k}={v}" for k, v in p[1].items())


def _stack_calls(m, st, act=2.0):
    """The three functions as memory_activations.loss_logits calls them with the stack's options (without SP: the
    hidden rows ``logits_bytes`` adds are the same on both sides of the checks below)."""
    tiles = getattr(st, "num_vocab_tiling", 1)
    chunk = getattr(st, "ce_chunk_size", None) or 0
    return (logits_bytes(m, SEQ, MB, TP, CP, act, vocab_tiles=tiles),
            loss_transient_bytes(m, SEQ, MB, TP, CP, act, loss=st.loss_code, chunk=chunk, vocab_tiles=tiles),
            held_logit_bytes(m, st, SEQ, MB, TP, CP, act))


def test_the_count_is_each_factor():
    m = ModelSpec(**PRESETS["llama3-8b"])
    lg = rank_logits(m, 4096, np.array([1, 2]), tp=np.array([1, 8]), cp=np.array([2, 4]), vocab_tiles=4)
    assert isinstance(lg, RankLogits)
    np.testing.assert_array_equal(lg.tokens, [4096 * 1 / 2 / 4, 4096 * 2 / 4 / 4])
    np.testing.assert_array_equal(lg.shard, lg.tokens * m.vocab / np.array([1.0, 8.0]))
    np.testing.assert_array_equal(lg.gathered, lg.tokens * m.vocab)
    np.testing.assert_array_equal(lg.chunk(100), np.minimum(100.0, lg.tokens) * m.vocab)
    np.testing.assert_array_equal(rank_tokens(4096, np.array([1, 2]), np.array([2, 4])), [2048.0, 2048.0])
    np.testing.assert_array_equal(sp_divisor(np.array([1, 0]), np.array([4, 4])), [4.0, 1.0])


@pytest.mark.parametrize("case", STACK_OPTIONS, ids=_ids)
def test_each_stack_prices_the_helpers_count(model, case):
    """With each stack's options the three functions' vocabulary-wide bytes are the helper's count times the bytes per
    logit their tables state: 4 saved, ``LOSS_TRANSIENT_BYTES`` on top, the activation dtype where the loop holds the
    logits (none where the model returns none)."""
    st = stacks.resolve(case[0], **case[1])
    act = 2.0
    lg = rank_logits(model, SEQ, MB, TP, CP, getattr(st, "num_vocab_tiling", 1))
    saved, transient, held = _stack_calls(model, st, act)
    no_vocab = ModelSpec(**{**PRESETS["llama3-8b"], "vocab": 1})
    one_logit = rank_logits(no_vocab, SEQ, MB, TP, CP, getattr(st, "num_vocab_tiling", 1)).shard
    hidden = logits_bytes(no_vocab, SEQ, MB, TP, CP, act, vocab_tiles=getattr(st, "num_vocab_tiling", 1)) - 4 * one_logit
    np.testing.assert_allclose(saved, lg.shard * 4 + hidden, rtol=1e-12)
    one, many = (b(act) if callable(b) else b for b in activations.LOSS_TRANSIENT_BYTES[st.loss_code])
    want = lg.shard * np.where(TP > 1, many, one)
    if st.loss_code in activations.LOSS_GATHERED_BYTES:  # AutoModel's full_tensor() under TP: the whole vocabulary
        want = want + np.where(TP > 1, lg.gathered * activations.LOSS_GATHERED_BYTES[st.loss_code](act), 0.0)
    if st.loss_code == "masked_ce_chunked":
        want = want + lg.chunk(st.ce_chunk_size) * activations.CHUNK_CE_BYTES
    if st.loss_code == "linear_ce":  # per token, not per logit
        want = want + lg.tokens * (model.hidden * activations.LINEAR_CE_TOKEN_BYTES + 4.0)
    np.testing.assert_allclose(transient, want, rtol=1e-12)
    holds = st.loop_holds_output and st.loss_code != "linear_ce"
    np.testing.assert_array_equal(held, lg.shard * act if holds else 0.0)


@pytest.mark.parametrize("case", STACK_OPTIONS, ids=_ids)
def test_the_callers_take_the_count_from_the_helper(model, monkeypatch, case):
    """A count written inline again would not follow the helper: tripling the helper's tokens triples every
    vocabulary-wide byte of the three functions (the chunk too: 64-token micro-batches are under any chunk)."""
    st = stacks.resolve(case[0], **case[1])
    before = _stack_calls(model, st)
    real = activations.rank_logits

    def tripled(*a, **kw):
        lg = real(*a, **kw)
        return RankLogits(lg.tokens * 3, lg.vocab, lg.tp)

    monkeypatch.setattr(activations, "rank_logits", tripled)
    monkeypatch.setattr(memory_activations, "rank_logits", tripled)
    saved, transient, held = _stack_calls(model, st)
    vocab_saved = real(model, SEQ, MB, TP, CP, getattr(st, "num_vocab_tiling", 1)).shard * 4
    np.testing.assert_allclose(saved - before[0], 2 * vocab_saved, rtol=1e-12)
    # (linear_ce's per-token accumulator is over the helper's tokens too)
    np.testing.assert_allclose(transient, 3 * before[1], rtol=1e-12)
    np.testing.assert_allclose(held, 3 * before[2], rtol=1e-12)
    if st.loop_holds_output and st.loss_code != "linear_ce":
        assert np.all(held > 0)
