"""speed40b: the DeepSeek-V3 search's per-row work grouped by key, each figure unchanged.

``memory_activations.chunk_activations`` prices each distinct (stage key, activation key, rn, rg) of the interleaved rows once and
gathers the figures back (``akey``); every step is elementwise, so each row's figure is the one it had priced alone.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.layout import Candidates
from planner.model import memory as M
from planner.model import memory_activations as MA
from planner.spec import load_job

ROOT = Path(__file__).resolve().parents[1]


def _rows(n, seed):
    """Random interleaved / 1F1B rows with block (rn) and uniform (rg) recompute, each distinct row repeated."""
    rng = np.random.default_rng(seed)
    tp = rng.choice([1, 2, 4], n)
    pp = rng.choice([2, 4, 8, 16], n)
    nodes = rng.choice([16, 32, 64], n)
    rc = rng.integers(0, 3, n)
    kind = rng.integers(0, 3, n)
    c = Candidates(tp=tp, pp=pp, dp=np.maximum(nodes * 8 // (tp * pp), 1), cp=1, ep=rng.choice([1, 4, 8], n),
                   vpp=rng.choice([1, 2, 3, 4], n), zero=1, mb=rng.choice([1, 2], n), rc=rc, sp=tp > 1,
                   schedule=rng.choice([0, 1, 1], n), gpus_per_node=8, nodes=nodes,
                   rn=np.where((rc == 2) & (kind == 1), rng.integers(1, 5, n), 0),
                   rg=np.where((rc == 2) & (kind == 2), rng.integers(2, 4, n), 0))
    return c.take(np.tile(np.arange(n), 6))  # six copies of each row


def test_grouped_chunks_equal_and_priced_once(monkeypatch):
    """With ``akey`` the interleaved rows' figures are bit for bit the ungrouped ones, and each distinct row is priced
    once: the per-split keys ``chunk_activations`` walks (``distinct_rows`` of one column) cover at most the distinct
    rows, not their six copies."""
    job = load_job(ROOT / "examples" / "deepseek-v3-pretrain.yaml")
    calls = []
    real = MA.chunk_activations
    priced = []
    real_distinct = MA.distinct_rows

    def distinct(*cols):
        if len(cols) == 1:  # a split's stage keys over its rows (the rows priced)
            priced[-1] += len(cols[0])
        return real_distinct(*cols)

    def spy(*args, **kw):
        if (args[11] if len(args) > 11 else kw.get("group", 0)) != 0:  # a further middle rank's (mem43b)
            return real(*args, **kw)
        priced.append(0)
        got = real(*args, **kw)
        n_grouped = priced[-1]
        priced.append(0)
        plain = real(*args[:10], **dict(kw, akey=None))
        calls.append((got, plain, n_grouped, priced[-1]))
        return got

    monkeypatch.setattr(MA, "chunk_activations", spy)
    monkeypatch.setattr(MA, "distinct_rows", distinct)
    for gb in (None, 64):
        M.memory_per_gpu(job.model, job.training, _rows(400, 1), global_batch=gb)
    assert len(calls) == 2
    for got, plain, n_grouped, n_plain in calls:
        assert got is not None and len(got[0]) > 0
        for a, b in zip(got, plain):
            assert np.array_equal(a, b)
        assert not got[4].all()  # some rows' chunks differ: the figures are used, not left to the even spread
        assert n_plain == len(got[0]) and n_grouped * 6 <= n_plain


def test_take_fills_constant_columns():
    """``Candidates.take`` fills a column constant over the rows (a search chunk's gpus_per_node, cp, rn, rg) with its
    value instead of gathering it: the same values and dtype as the gather, read-only (a write in place would leave
    the record of constant columns stale, so it raises); a column reassigned is checked afresh."""
    c = Candidates(tp=np.array([1, 2, 4, 8]), pp=2, dp=np.array([4, 4, 4, 4]), cp=1, ep=1, vpp=1, zero=0, mb=1, rc=0,
                   sp=np.array([False, True, True, True]), schedule=0, gpus_per_node=8, nodes=np.array([1, 1, 2, 4]))
    for idx in (np.array([0, 2]), [3], np.array([True, False, True, True]), np.arange(0), np.array([1, 1, 1, 0])):
        got = c.take(idx)
        again = got.take(np.arange(len(got))[::-1])
        for f in c.__dataclass_fields__:
            want = getattr(c, f)[idx]
            assert getattr(got, f).dtype == want.dtype and np.array_equal(getattr(got, f), want)
            assert np.array_equal(getattr(again, f), want[::-1])
    got = c.take(np.array([0, 3]))
    assert not got.gpus_per_node.flags.writeable and not got.dp.flags.writeable  # filled (dp constant here)
    assert got.tp.flags.writeable  # gathered
    c.rn = np.array([0, 3, 0, 0])  # reassigned: no longer the constant zeros
    assert c.take([1, 2]).rn.tolist() == [3, 0]


def test_take_of_a_slice_stays_a_view():
    """``in_blocks``' blocks (a slice) are views of every column, as before the fill; the views of constant columns are
    still known constant, so a later take of the block fills them."""
    c = Candidates(tp=np.array([1, 2, 4, 8]), pp=2, dp=np.array([4, 4, 4, 4]), cp=1, ep=1, vpp=1, zero=0, mb=1,
                   rc=0, sp=np.array([False, True, True, True]), schedule=0, gpus_per_node=8,
                   nodes=np.array([1, 1, 2, 4]))
    block = c.take(slice(1, 3))
    for f in c.__dataclass_fields__:
        assert np.shares_memory(getattr(block, f), getattr(c, f))
        assert np.array_equal(getattr(block, f), getattr(c, f)[1:3])
    got = block.take(np.array([1]))
    assert got.gpus_per_node.tolist() == [8] and not got.gpus_per_node.flags.writeable
    assert got.tp.tolist() == [4]
