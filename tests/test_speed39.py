"""speed39: the layer model prices its attention projections and dense MLP in one ``gemm_time`` call
(``LayerContext.gemms``), and ``distinct_rows`` lets a column equal to an earlier one join its code as a constant.
Neither may move a number: each is checked here against what it replaces, bit for bit."""
import numpy as np
import pytest

from planner.hardware.options import option_from_instance
from planner.layout import distinct_rows
from planner.model.stacks import resolve
from planner.model.layer_ops import attention_projection_shapes, dense_mlp_shapes, layer_context
from planner.spec import load_job

from conftest import EXAMPLES


@pytest.mark.parametrize("example,precision,bf16_share", [("llama3-70b", None, 0.0), ("llama3-70b", "fp8", 0.0),
                                                          ("llama3-70b", "fp8", 0.25),
                                                          ("deepseek-v3-pretrain", None, 0.0)])
def test_gemms_give_each_gemms_bits(catalog, example, precision, bf16_share):
    """one stacked call = one ``gemm`` per shape, forward and backward bit for bit (fp8: the casts and the 16-bit
    share per shape; DeepSeek-V3: MLA's five projections)"""
    job = load_job(EXAMPLES / f"{example}.yaml")
    t = job.training if precision is None else job.training.model_copy(update={"precision": precision})
    hw = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    tp = np.array([1, 2, 4, 8, 8])
    one = np.ones(5, dtype=np.int64)
    c = layer_context(job.model, t, hw, resolve(None), tp, one, one, np.array([1, 1, 2, 1, 4]), tp > 1, tp,
                      bf16_share)
    shapes = attention_projection_shapes(c, job.model) + dense_mlp_shapes(c, job.model)
    assert len(shapes) == (7 if job.model.mla is not None else 4)
    for got, (M, N, K) in zip(c.gemms(shapes), shapes):
        want = c.gemm(M, N, K)
        for g, w in zip(got, want):
            assert np.array_equal(np.broadcast_to(w, np.shape(g)), g)
            assert np.asarray(g).dtype == np.asarray(w).dtype


def _unique_rows(cols):
    return np.unique(np.stack([np.asarray(x).astype(np.int64) for x in cols], axis=1), axis=0, return_inverse=True)


def test_equal_columns_add_nothing_to_the_code():
    """a column equal to an earlier one: the distinct rows, their order and the inverse of ``np.unique`` over the
    rows. Seven equal wide columns on 398 rows (each 398 distinct values) overflowed the int64 code until speed39
    (one code digit of 398 values per column); an equal column now adds no digit."""
    rng = np.random.default_rng(0)
    n = 398
    wide = rng.permutation(np.arange(30_000, 30_000 + 25 * n, 25))
    cols = [wide.copy() for _ in range(7)] + [rng.random(n) < 0.5, rng.choice([1, 2, 4, 4096], n)]
    keys, inv = distinct_rows(*cols)
    u, want = _unique_rows(cols)
    assert np.array_equal(inv, want.ravel())
    assert np.array_equal(np.stack(keys, axis=1), u)
    assert all(k.dtype == np.int64 for k in keys)
    # an equal column's distinct column is its own array (a copy of the earlier one's)
    assert keys[1] is not keys[0]
    # and mixed with unequal columns of the same range (tp, etp) the keys stay those of the rows
    tp = rng.choice([1, 2, 4, 8], n)
    etp = np.where(rng.random(n) < 0.5, tp, 1)
    cols = [tp, etp, tp.copy(), rng.integers(0, 4, n), etp.copy()]
    keys, inv = distinct_rows(*cols)
    u, want = _unique_rows(cols)
    assert np.array_equal(inv, want.ravel()) and np.array_equal(np.stack(keys, axis=1), u)


def test_distinct_wide_columns_do_not_overflow_the_code():
    """Several distinct wide columns (each ranked to up to n values, so the mixed-radix code grows by up to n a column):
    the code is ranked down before it passes int64 (``layout.CODE_MAX``). 300 random column sets of 1-9 columns (narrow,
    wide up to 10^9, wide strided), against ``np.unique`` over the rows; before the guard 6 of them wrapped around and
    their distinct rows / inverse were wrong."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 500))
        cols = []
        for _ in range(int(rng.integers(1, 10))):
            kind = rng.integers(0, 3)
            cols.append(rng.integers(0, 4, n) if kind == 0 else rng.integers(0, 10**9, n) if kind == 1
                        else rng.integers(0, 10**6, n) * 7 + 3)
        keys, inv = distinct_rows(*cols)
        u, want = _unique_rows(cols)
        assert np.array_equal(inv, want.ravel())
        assert np.array_equal(np.stack(keys, axis=1), u)
