"""speed40: the per-call fixed cost of the memory and step-time models -- what is built once per model is cached by a
fingerprint of the model's fields (planner.spec.params ``spec_key`` / ``spec_memo``), and a model changed in place
is a new key."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.model import activations as A
from planner.spec import load_job
from planner.spec.params import count_params, spec_key

ROOT = Path(__file__).resolve().parents[1]


def _ds():
    return load_job(ROOT / "examples" / "deepseek-v3-pretrain.yaml").model


def test_count_params_built_once_per_model():
    """A second call on the same model, or on an equal copy, returns the first call's count (no second walk)."""
    m = _ds()
    pc = count_params(m)
    assert count_params(m) is pc
    assert count_params(m.model_copy(deep=True)) is pc
    assert count_params(m) == count_params.__wrapped__(m)


def test_changed_model_is_a_new_key():
    """An assignment to a field, to a nested spec's field, or an in-place change of a nested list is seen: the count
    is the changed model's, as an uncached walk gives it."""
    m = _ds()
    before = count_params(m)
    m.moe.experts = 128  # a nested spec's field
    assert count_params(m) == count_params.__wrapped__(m) != before
    m.layers = 40
    assert count_params(m) == count_params.__wrapped__(m)
    k = spec_key(m)
    m.moe.dense_layers.append(39)  # in place, no assignment (dense_layers is a plain list)
    assert spec_key(m) != k
    assert count_params(m) == count_params.__wrapped__(m)


def test_value_types_are_part_of_the_key():
    """1, 1.0 and True are equal dict keys; a fingerprint that dropped the types would hand a count built from one to
    a model holding another (a field typed ``int | float`` keeps what it was given)."""
    from pydantic import BaseModel

    class P(BaseModel):
        x: int | float | bool = 1
        sub: list = []

    keys = {spec_key(P(x=1)), spec_key(P(x=1.0)), spec_key(P(x=True))}
    assert len(keys) == 3
    assert spec_key(P(sub=[1])) != spec_key(P(sub=[1.0]))
    assert spec_key(P(x=2)) == spec_key(P(x=2))


def test_saved_tensor_table_cached_and_equal():
    """``layer_activation_bytes`` reads the table through ``_block_rows``: built once per model and arguments, the
    same rows as ``block_saved_tensors``."""
    m = _ds()
    args = (1.0, True, False, True)
    rows = A._block_rows(m, None, *args)
    assert A._block_rows(m, None, *args) is rows
    assert list(rows) == A.block_saved_tensors(m, None, *args)
    b = A.layer_activation_bytes(m, 4096, np.array([1, 2]), tp=np.array([1, 8]), sp=np.array([False, True]), moe=True)
    assert np.all(b > 0)
