"""Branch-free ``np.where`` for the search's row arrays, bit for bit.

np.where takes a branch per element; on a condition that changes from row to row (a candidate's ZeRO
stage, which pipeline stage is the most loaded) the CPU mispredicts about half of them, and one np.where
over 10^5 rows costs about four times an add. These select the 64-bit patterns with masks instead, so the
results are the very numbers np.where gives (NaN, infinities and -0.0 included); any other input falls back
to np.where.
"""
from __future__ import annotations

import numpy as np


def _fast(cond, *xs) -> bool:
    return cond.dtype == bool and cond.ndim > 0 and all(x.dtype == np.float64 and x.shape == cond.shape for x in xs)


def where0(cond, x):
    """``np.where(cond, x, 0.0)``: the bits of ``x`` where ``cond`` holds, +0.0 elsewhere (the 64-bit pattern times
    0 or 1, an exact integer product)."""
    x, cond = np.asarray(x), np.asarray(cond)
    if not _fast(cond, x):
        return np.where(cond, x, 0.0)
    return np.multiply(x.view(np.int64), cond, dtype=np.int64).view(np.float64)


def select(cond, a, b):
    """``np.where(cond, a, b)``: ``b ^ ((a ^ b) * cond)`` on the bit patterns."""
    a, b, cond = np.asarray(a), np.asarray(b), np.asarray(cond)
    if not _fast(cond, a, b):
        return np.where(cond, a, b)
    bi = b.view(np.int64)
    out = np.bitwise_xor(a.view(np.int64), bi)
    np.multiply(out, cond, out=out, dtype=np.int64)
    out ^= bi
    return out.view(np.float64)
