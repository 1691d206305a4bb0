"""speed37: the memory and step-time models run a call on many rows block by block (``layout.in_blocks``), and a
stack variant's rules run only on the rows that can pass (``StackVariant.rows``' ``within``). Neither may move a
number: each is checked here against the one-pass evaluation it replaces."""
from dataclasses import replace

import numpy as np
import pytest

import planner.layout as layout
import planner.model.memory as memory
import planner.model.step_time as step_time_mod
from planner.hardware.options import option_from_instance
from planner.search.space import space_chunks, stack_variants
from planner.spec import load_job

from conftest import EXAMPLES
from make_step_time_golden import candidates


def _bits(x):
    x = np.asarray(x)
    return x.view(np.uint8) if x.dtype.kind in "fiub" else x


@pytest.mark.parametrize("example", ["llama3-70b", "mixtral-8x7b"])
def test_blocks_give_the_one_pass_numbers(catalog, monkeypatch, example):
    job = load_job(EXAMPLES / f"{example}.yaml")
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    c = candidates(300, np.random.default_rng(37), job.model.moe is not None)
    m, t = job.model, job.training
    whole_mem = memory._memory_rows(m, t, c, None, None, None, None, None)
    whole_st = step_time_mod._step_rows(m, t, c, hw, None, 0.0, True, None, None, None)
    sizes = []
    for mod, name in ((memory, "_memory_rows"), (step_time_mod, "_step_rows")):
        inner = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _f=inner, **k: sizes.append(len(a[2])) or _f(*a, **k))
    for mod in (memory, step_time_mod):
        monkeypatch.setattr(mod, "in_blocks", lambda f, c, block=64: layout.in_blocks(f, c, block))
    got_mem = memory.memory_per_gpu(m, t, c)
    got_st = step_time_mod.step_time(m, t, c, hw)
    assert sizes == [64] * 4 + [44] + [64] * 4 + [44]  # run 64 rows at a time, the last block the rest
    for whole, got in ((whole_mem, got_mem), (whole_st, got_st)):
        assert set(whole) == set(got)
        for k, v in whole.items():
            assert got[k].dtype == v.dtype and np.array_equal(_bits(got[k]), _bits(v)), k


def test_in_blocks_falls_back_on_a_result_not_per_row():
    c = layout.Candidates.layouts(tp=np.arange(1, 11), pp=1, dp=1, cp=1, ep=1, zero=0)
    calls = []

    def evaluate(b):
        calls.append(len(b))
        return {"tp": b.tp * 2.0, "total": np.float64(b.tp.sum())}

    out = layout.in_blocks(evaluate, c, block=4)
    assert calls == [4, 10] and out["total"] == 55.0 and out["tp"].tolist() == list(np.arange(2, 22, 2.0))


def test_variant_rows_within_match_rows_over_the_chunk(catalog):
    """Every DeepSeek-V3 stack variant (offloads, Megatron-FSDP, the pipeline split, CP exchanges: 288), on rows a
    parent left sparse and dense, gives ``rows(c) & within``; and the base's rows from its given refusals."""
    job = load_job(EXAMPLES / "deepseek-v3-pretrain.yaml")
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    chunks = space_chunks(job, hw, chunk_rows=50_000)
    next(chunks)
    c = next(chunks)  # layouts of PP 1-8, every ZeRO stage and recompute setting
    rng = np.random.default_rng(37)
    c = c.take(np.sort(rng.choice(len(c), 3000, replace=False)))
    # CP 2 on some rows (DeepSeek-V3's space at 4K tokens has none): the CP variants' rules run there
    c = replace(c, cp=np.where(rng.random(len(c)) < 0.3, 2, c.cp))
    variants = stack_variants(job)
    base = variants[0]
    assert np.array_equal(base.rows(c, refused=base.refusals(c)), base.rows(c))
    assert sum(v.rows(c).any() for v in variants[::3]) > 80  # most variants have rows here
    for v in variants[::3]:
        full = v.rows(c)
        for share in (0.0, 0.02, 0.2, 0.6, 1.0):  # sparse ones are taken apart, dense ones run over the chunk
            within = rng.random(len(c)) < share
            assert np.array_equal(v.rows(c, within=within), full & within), (v.values, v.modules, share)


def test_distinct_rows_ranks_a_wide_code_instead_of_sorting(monkeypatch):
    """Nine columns of up to 40 values each (a code range of 40^9) over 2,000 rows: the code is ranked as it grows
    (no sort of the rows), giving np.unique's rows, order and inverse."""
    rng = np.random.default_rng(37)
    cols = [rng.integers(0, 40, 2000) for _ in range(9)]
    ref, ref_inv = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)

    def no_sort(*a, **k):
        raise AssertionError("distinct_rows sorted the rows")

    monkeypatch.setattr(np, "unique", no_sort)
    keys, inv = layout.distinct_rows(*cols)
    assert np.array_equal(np.stack(keys, axis=1), ref) and np.array_equal(inv, ref_inv.ravel())
