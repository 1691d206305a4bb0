"""speed45: a search computes each stack variant's rows of a kept chunk once (``SearchMemo.variant_rows``). A variant's
rows read the variant and the chunk only, yet every option on the same space asked for them again (DeepSeek-V3: 2.4
of their 3.2 CPU s were repeats). Kept as bits and asked again with another ``within``, they must be what
``StackVariant.rows`` computes, bit for bit, and the search with them what the search without them ranks."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import EXAMPLES
from hardware_catalog import load_catalog
from planner.hardware.options import option_from_instance
from planner.search import recommend as R
from planner.search import space as S
from planner.spec import load_job
from planner.spec.schema import FrameworkSpec
from planner.workloads.training import recommend
from test_rec44 import _catalog, _random_job, _same_search


def _by_rows(monkeypatch):
    """The search before speed45: every variant's rows computed by ``StackVariant.rows`` at each call."""
    monkeypatch.setattr(R.SearchMemo, "variant_rows", lambda self, var, c, refused=None, within=None: var.rows(
        c, refused=refused, within=within))


def test_variant_rows_as_rows():
    """The Llama-3-70B example's variants (stack options open: offloads and recompute lists, children with parents)
    on a kept chunk, each asked in turn with sparse, dense, empty and no ``within`` (the search's order: a sparse
    ask before a whole one, then asks the kept bits answer): every answer equals ``rows``' own, and the later asks
    were answered from the kept bits (no ``rows`` call), so the comparison is not of one path with itself."""
    job = load_job(EXAMPLES / "llama3-70b.yaml")
    hw = option_from_instance(load_catalog().instance("aws:p5.48xlarge"))
    memo = R.SearchMemo()
    _, c = memo.chunks(job, hw)[0]
    variants = S.stack_variants(job)
    assert len(variants) > 4 and any(v.parents for v in variants)
    rng = np.random.default_rng(45)
    asks = [rng.random(len(c)) < 0.05, rng.random(len(c)) < 0.6, None, np.zeros(len(c), dtype=bool),
            rng.random(len(c)) < 0.05, rng.random(len(c)) < 0.9]
    for var in variants:
        for within in asks:
            got = memo.variant_rows(var, c, within=within)
            assert got.dtype == bool and np.array_equal(got, var.rows(c, within=within))
    calls = []
    for var in variants:  # every row known now: answered without the rules
        real = var.rows
        object.__setattr__(var, "rows", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
        try:
            for within in asks:
                memo.variant_rows(var, c, within=within)
        finally:
            object.__delattr__(var, "rows")
    assert not calls
    assert any(np.any(memo.variant_rows(v, c)) for v in variants)


def test_unkept_chunk_computed_by_rows():
    """A chunk the memo does not keep (a later option is never handed it) is answered by ``rows`` and nothing is
    held for it."""
    job = load_job(EXAMPLES / "llama3-70b.yaml")
    hw = option_from_instance(load_catalog().instance("aws:p5.48xlarge"))
    memo = R.SearchMemo()
    c = next(iter(S.space_chunks(job, hw)))
    var = S.stack_variants(job)[0]
    assert np.array_equal(memo.variant_rows(var, c), var.rows(c))
    assert not memo._rows


@pytest.mark.parametrize("seed", [3, 4])
def test_search_as_rows_at_each_call(tmp_path, monkeypatch, seed):
    """Seeded random jobs over options sharing a space (test_rec44's catalog): the table, plans, counts and notes of
    the search keeping variant rows equal those of the search computing them at each call."""
    cat, job = _catalog(tmp_path), _random_job(tmp_path, seed)
    kept = recommend(job, cat, simulate=False)
    _by_rows(monkeypatch)
    fresh = recommend(job, cat, simulate=False)
    _same_search(kept, fresh)


def test_example_search_as_rows_at_each_call(monkeypatch):
    """The Llama-3-70B example (its stack options open: 13 options, 3 spaces): the same table and plans."""
    job = load_job(EXAMPLES / "llama3-70b.yaml")
    cat = load_catalog()
    kept = recommend(job, cat, simulate=False)
    _by_rows(monkeypatch)
    fresh = recommend(job, cat, simulate=False)
    _same_search(kept, fresh)


def _auto_job(tmp_path, seed: int):
    """test_rec44's seeded job with ``training.framework: auto`` (every stack of defaults.AUTO_FRAMEWORKS searched:
    each group's chunk carries its stack's schedule, ``recommend._group_chunk``)."""
    job = _random_job(tmp_path, seed)
    return job.model_copy(update={"training": job.training.model_copy(update={"framework": FrameworkSpec(name="auto")})})


@pytest.mark.parametrize("seed", [0, 5])
def test_auto_search_as_each_option_afresh(tmp_path, monkeypatch, seed):
    """A search over several stacks: each group's copy of a kept chunk is made once (``SearchMemo.group_chunk``) and
    handed to every later option on the space (so its memory answers and variant rows serve them); the table, plans,
    counts and notes equal those of the search that makes a copy per option and computes the variant rows at each
    call (the search before speed45), and the copies were served, so the comparison is not of one path with itself."""
    cat, job = _catalog(tmp_path), _auto_job(tmp_path, seed)
    made = []
    real = R._group_chunk
    monkeypatch.setattr(R, "_group_chunk", lambda *a: (made.append(1), real(*a))[1])
    kept = recommend(job, cat, simulate=False)
    n_made = len(made)
    _by_rows(monkeypatch)
    monkeypatch.setattr(R.SearchMemo, "group_chunk", lambda self, chunk, grp, make: make())
    fresh = recommend(job, cat, simulate=False)
    assert kept.table.shape[0] > 0 and kept.table["framework"].nunique() >= 1
    _same_search(kept, fresh)
    assert kept.stacks == fresh.stacks
    assert n_made < len(made) - n_made  # the options after the first on a space were handed the kept copies
