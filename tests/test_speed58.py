"""speed58: the search keeps the candidate rows it gathers (``SearchMemo.gathered``) for the later hardware options of
the same space, within a stated bound, and finds a gather's memory answer by the rows it was taken from.

Before speed58 every hardware option took its variants' rows of each chunk again (``Candidates.take``), their
``with_block_one`` rows, the block probes' rows and a full copy of every column for each block N picked
(``_with_rows``): DeepSeek-V3's four 8 x H100 instance types, which differ in fabric and host RAM only, made the
same gathers four times. The gathers are pure functions of the rows taken from and the key (the rows, a column
set), so the answers stay bit for bit (``benchmarks/recommend_json_diff.py --every``)."""
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.model.stacks import from_training
from planner.search import recommend as R
from planner.spec import load_job

ROOT = Path(__file__).resolve().parents[1]


def _job(name: str = "llama3-70b"):
    return load_job(ROOT / "examples" / f"{name}.yaml")


def _chunk(memo, job):
    """A kept chunk of the job's first 8-GPU option (``SearchMemo.chunks``) and that option."""
    s = R._search_setup(job, None, None)
    hw = next(o for o in s.opts if o.gpus_per_node == 8)
    return memo.chunks(job, hw)[0][1], hw


def _same(a: Candidates, b: Candidates) -> None:
    for f in fields(Candidates):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype and np.array_equal(x, y), f.name


def test_later_options_are_handed_the_same_gathers(monkeypatch):
    """Llama-3-70B's five 8 x H100 instance types search one space: where a later option evaluates a variant on the
    same rows as an earlier one, it is handed the same candidates, so the memory answers and the rows' kept keys are
    found by identity. Fails before speed58: a new gather each."""
    seen = {}  # (chunk, group, variant) -> [(option, its batch)]
    real = R._search_variant

    def variant(job, s, key, hw, cv, *a, **kw):
        seen.setdefault(key[1:], []).append((key[0], cv))
        return real(job, s, key, hw, cv, *a, **kw)

    monkeypatch.setattr(R, "_search_variant", variant)
    R.recommend(_job())
    pairs = 0
    for runs in seen.values():
        first_k, first = runs[0]
        for k, cv in runs[1:]:
            if k != first_k and len(cv) == len(first) and all(
                    np.array_equal(getattr(cv, f.name), getattr(first, f.name)) for f in fields(Candidates)):
                pairs += 1
                assert cv is first, k
    assert pairs >= 10, pairs  # the later options met the first's batches


def test_block_one_batch_rows_view_its_memory_rows():
    """``_batch`` of a block-recompute variant: the same rows, dtypes and values as ``c.take`` (the plain rows), each
    column a view of the N = 1 batch (``with_block_one``) kept until its memory call; ``memory_of`` answers that call
    from it without making the rows again, lets it go (its bytes back), and answers a later call by the key alone, with
    the numbers ``memory_per_gpu`` gives on ``with_block_one`` of the plain rows."""
    job = _job()
    memo = R.SearchMemo()
    c, hw = _chunk(memo, job)
    rows = np.zeros(len(c), dtype=bool)
    rows[(c.rc == 2).nonzero()[0][:40]] = True
    rows[(c.rc == 0).nonzero()[0][:40]] = True
    room = memo._gather_room
    cv = R._batch(memo, c, rows, block_one=True)
    _same(cv, c.take(np.flatnonzero(rows)))
    assert all(getattr(cv, f.name).base is not None for f in fields(Candidates))  # views: no copy of its own
    assert R._batch(memo, c, rows, block_one=True) is cv
    assert memo._gather_room < room  # the N = 1 batch counted while kept
    made = []

    def make():
        made.append(1)
        return R.with_block_one(cv)
    stack = from_training(job.training, model=job.model)
    got = R._memory_of(job.model, job.training, cv, ("block one",), make, stack, hw.gpu.name, memo)
    assert not made and memo.held(cv, ("block one",)) is None and memo._gather_room == room
    again = R._memory_of(job.model, job.training, cv, ("block one",), make, stack, hw.gpu.name, memo)
    assert not made
    ref = memory_per_gpu(job.model, job.training, R.with_block_one(c.take(np.flatnonzero(rows))), stack=stack,
                         gpu=hw.gpu.name)
    for k, v in ref.items():
        if isinstance(v, np.ndarray):
            assert np.array_equal(got[k], v) and got[k] is again[k], k


def test_with_rows_shares_the_other_columns():
    """``_with_rows`` writes nothing of ``cv``: the column it sets is a new array, the others are ``cv``'s own (a
    copy of every column each N picked before speed58), and under a ``SearchMemo`` the same rows and values give the
    same candidates."""
    job = _job()
    memo = R.SearchMemo()
    c, _ = _chunk(memo, job)
    cv = R._take(memo, c, np.arange(0, len(c), 7))
    rn = np.array(cv.rn)
    sel, values = np.array([0, 3, 5]), np.array([2, 4, 1])
    mem = {"total": np.arange(len(cv), dtype=np.float64)}
    out, mem2 = R._with_rows(cv, mem, sel, "rn", values, {"total": np.array([-1.0, -2.0, -3.0])}, memo)
    assert np.array_equal(cv.rn, rn) and out.rn[sel].tolist() == [2, 4, 1]
    assert np.array_equal(np.delete(out.rn, sel), np.delete(rn, sel))
    assert all(getattr(out, f.name) is getattr(cv, f.name) for f in fields(Candidates) if f.name != "rn")
    assert mem2["total"][sel].tolist() == [-1.0, -2.0, -3.0] and mem["total"][3] == 3.0
    assert R._with_rows(cv, mem, sel, "rn", values, {}, memo)[0] is out
    assert R._with_rows(cv, mem, sel, "rn", values + 1, {}, memo)[0] is not out  # other values: other candidates


def test_gathers_are_bounded(monkeypatch):
    """At most ``GATHERED_BYTES`` of owned columns are kept at once (past that a gather is made and not kept), and
    a search with no room for any gets the same ranked table as one with the default room."""
    job = _job()
    worst = []
    real = R.SearchMemo.keep

    def keep(self, c, key, out):
        ok = real(self, c, key, out)
        worst.append(self._gather_room)
        return ok

    monkeypatch.setattr(R.SearchMemo, "keep", keep)
    full = R.recommend(job)
    assert worst and min(worst) >= 0 and min(worst) < R.GATHERED_BYTES  # some kept, never past the bound
    monkeypatch.setattr(R, "GATHERED_BYTES", 1 << 20)
    worst.clear()
    small = R.recommend(job)
    assert min(worst) >= 0
    pd.testing.assert_frame_equal(full.rows.frame(), small.rows.frame())


@pytest.mark.parametrize("sel", [np.array([True, False, True]), np.array([0, 2])])
def test_rows_key_tells_rows_apart(sel):
    """The gather key holds the rows by value: a mask and the indices it stands for are two keys (each ``_take``
    path gathers the same rows), and other rows another key."""
    assert R._rows_key(sel) == R._rows_key(sel.copy())
    assert R._rows_key(sel) != R._rows_key(~sel if sel.dtype == bool else sel + 1)
    assert R._rows_key(np.array([True, False, True])) != R._rows_key(np.array([0, 2]))


def test_kept_gathers_cannot_be_written():
    """The gathers a ``SearchMemo`` keeps are handed to later hardware options, so their columns are read-only: a
    write in place by any later step raises instead of changing another option's answer. Fails before the guard (the
    gathers' own columns writable)."""
    memo = R.SearchMemo()
    job = _job()
    c, _ = _chunk(memo, job)
    rows = np.arange(0, len(c), 2)
    out = memo.gathered(c, ("rows", rows.tobytes()), lambda: c.take(rows))
    assert memo.held(c, ("rows", rows.tobytes())) is out, "the chunk gather was not kept"
    with pytest.raises(ValueError):
        out.tp[0] = 3
