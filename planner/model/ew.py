"""Elementwise helpers that take plain Python numbers and numpy arrays alike, so one formula serves
both: the analytic planner evaluates the serving roofline (planner/workloads/serving_iteration.py
``IterationModel``) over arrays of batch sizes, the serving simulation once per engine step on plain
numbers. numpy's per-call overhead on a scalar (~1 us per ufunc, ~20 us per roofline call) was most of
that step's cost; on plain numbers these use the builtins, whose IEEE double results are the same
values numpy computes (+ - * / and min/max are exact operations either way), so a simulation's answer
does not depend on the path.

>>> minimum(3.0, 2), maximum(np.array([1.0, 4.0]), 2.0).tolist(), ceil(2.5), div0(1.0, 0.0)
(2, [2.0, 4.0], 3.0, 0.0)

A formula called many times on plain numbers picks its operations once with :func:`ops` (the serving
simulation's roofline, ``IterationModel.parts``).
"""
from __future__ import annotations

import math

import numpy as np


def plain(x) -> bool:
    """A Python float or int (not a numpy scalar or array)."""
    t = type(x)
    return t is float or t is int


def f64(x):
    """``x`` as float64: a plain float, or an array."""
    return float(x) if plain(x) else np.asarray(x, dtype=np.float64)


def minimum(a, b):
    return min(a, b) if plain(a) and plain(b) else np.minimum(a, b)


def maximum(a, b):
    return max(a, b) if plain(a) and plain(b) else np.maximum(a, b)


def ceil(x):
    return float(math.ceil(x)) if plain(x) else np.ceil(x)


def where(cond, a, b):
    """``np.where``; on plain numbers ``a if cond else b`` (both already evaluated, as np.where has them)."""
    return (a if cond else b) if type(cond) is bool else np.where(cond, a, b)


class Ops:
    """One set of the elementwise operations a formula uses, picked once per call by :func:`ops` instead of per
    operation (each helper above tests its arguments' types on every call: ~8 of those tests a roofline call, a
    quarter of its time in the serving simulation, srvspeed44). :data:`SCALAR` holds the builtins the helpers call on
    plain numbers, :data:`ARRAY` the helpers themselves, so a formula written with one gives the values it gives
    with the other."""

    __slots__ = ("f64", "ceil", "maximum", "minimum")

    def __init__(self, f64, ceil, maximum, minimum):
        self.f64, self.ceil, self.maximum, self.minimum = f64, ceil, maximum, minimum


def _ceil_plain(x):
    return float(math.ceil(x))


SCALAR = Ops(float, _ceil_plain, max, min)
ARRAY = Ops(f64, ceil, maximum, minimum)


def ops(*xs) -> Ops:
    """:data:`SCALAR` when every one of ``xs`` is a plain number (:func:`plain`), else :data:`ARRAY`.

    >>> ops(1, 2.5) is SCALAR, ops(1.0, np.float64(2.0)) is ARRAY, ops(np.ones(2)).maximum(np.ones(2), 3.0).tolist()
    (True, True, [3.0, 3.0])
    """
    for x in xs:
        t = type(x)
        if t is not float and t is not int:
            return ARRAY
    return SCALAR


def div0(a, b):
    """a / b where b > 0, else 0."""
    if plain(a) and plain(b):
        return a / b if b > 0 else 0.0
    return np.divide(a, b, out=np.zeros(np.broadcast(b, a).shape), where=np.asarray(b) > 0)
