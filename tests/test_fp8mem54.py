"""What torchtitan's TP linears save for the weight gradient, in bf16 and under torchao's float8 TP plans (fp8mem54).

torch's DTensor plan (torchtitan ``apply_tp``) all-gathers the sequence shard once before ``attention`` and
``feed_forward`` (``PrepareModuleInput`` to ``Replicate``); the column-parallel mms then save that gathered tensor, the
whole sequence, where Megatron-Core and TE save the shard and re-gather it. Measured with ``saved_tensors_hooks`` on
two gloo ranks under that plan (torch 2.13; a block of tests/op_sac_truth.py, "dense s128 h256 b2 unfused", TP 2 + SP,
no checkpointing): the wq/wk/wv and w1/w3 mms kept one (256, 256) bf16 storage each (131,072 B), the same as without
SP, where the table kept their 65,536 B sequence shards. torchao's float8 TP plans (tensorwise) hand every linear a
float8 input (``Float8ColwiseParallel`` / ``PrepareFloat8ModuleInput`` cast before the gather,
``Float8RowwiseParallel`` casts wo's and w2's inputs) and ``matmul_with_hp_or_float8_args`` saves it as given: 1 B.
"""
from dataclasses import replace

import numpy as np
import pytest

from planner.model import stacks
from planner.model.activations import NONE, layer_activation_bytes, stack_table_kw
from planner.spec import ModelSpec

# the measured block (tests/op_sac_truth.py CASES "dense s128 h256 b2 unfused")
BLOCK = ModelSpec(family="decoder", layers=3, hidden=256, heads=8, kv_heads=2, vocab=1000, ffn_hidden=704)
SEQ, MB = 128, 2


def _bytes(tp, sp, **kw):
    return float(layer_activation_bytes(BLOCK, SEQ, MB, tp=tp, sp=sp, recompute=NONE, act_bytes=2, **kw))


@pytest.mark.parametrize("stack, recipe, precision, gathered, fp8", [
    ("torchtitan", "tensorwise", "bf16", True, False), ("torchtitan", "tensorwise", "fp8", True, True),
    ("torchtitan", "rowwise", "fp8", True, False), ("megatron-core", "delayed", "fp8", False, False),
])
def test_table_keywords_follow_the_stack(stack, recipe, precision, gathered, fp8):
    """torchtitan's DTensor linears save the gathered input; only its tensorwise float8 TP plans hand them float8
    inputs (rowwise runs plain 16-bit TP); TE's FP8 saves stay ``te_fp8``'s."""
    kw = stack_table_kw(replace(stacks.resolve(stack), fp8_recipe=recipe), precision)
    assert (kw["gathered_tp_saves"], kw["tp_fp8_saves"]) == (gathered, fp8)


def test_gathered_inputs_kept_whole_under_sp_as_measured():
    """torchtitan's table keeps the two column-parallel inputs (attention's and the MLP's) as autograd saved them on
    two gloo ranks under its TP plan (tests/op_sac_truth.py ``tp_saved_input_bytes``, stored in
    tests/data/op_sac_tp_truth.json): under SP the gathered (256, 256) tensor, not the rank's sequence shard; without
    SP the same whole input, which the table already kept (nothing moves)."""
    T = pytest.importorskip("tests.op_sac_truth")
    saved = T.tp_truth("tp_saved_input_bytes")
    sp, no_sp = (saved[f"dense s128 h256 b2 unfused TP2{s}"] for s in (" + SP", ""))
    assert sp == no_sp  # the gathered input: the same storage with or without SP
    shard = SEQ // 2 * MB * BLOCK.hidden * 2  # a rank's bf16 sequence shard of a linear's input at TP 2
    gathered = stack_table_kw(stacks.resolve("torchtitan"), "bf16")["gathered_tp_saves"]
    # wq / wk / wv share one saved input storage, w1 / w3 another
    want = sp["attention.wq"] - shard + sp["feed_forward.w1"] - shard
    assert _bytes(2, True, gathered_tp_saves=gathered) - _bytes(2, True) == pytest.approx(want)
    assert _bytes(2, False, gathered_tp_saves=gathered) == _bytes(2, False)


def test_float8_tp_saves_one_byte_inputs_only_at_tp_above_one():
    """At TP 2: qkv and MLP inputs (whole, 256 x 256) and w2's input (256 x 352) at 1 B, and wo's own float8 copy of
    the attention output (256 x 128) beside SDPA's; at TP 1 Float8Linear saves its 16-bit input (unchanged)."""
    base = _bytes(2, True, gathered_tp_saves=True)
    fp8 = _bytes(2, True, gathered_tp_saves=True, tp_fp8_saves=True)
    tokens = SEQ * MB
    want = -2 * tokens * 256 * 1 - tokens * 352 * 1 + tokens * 128 * 1
    assert fp8 - base == pytest.approx(want)
    assert _bytes(1, False, tp_fp8_saves=True) == _bytes(1, False)
    # vectorised over candidates: TP 1 and 2 in one call
    both = layer_activation_bytes(BLOCK, SEQ, MB, tp=np.array([1, 2]), sp=np.array([False, True]), recompute=NONE,
                                  act_bytes=2, tp_fp8_saves=True, gathered_tp_saves=True)
    assert both.tolist() == pytest.approx([_bytes(1, False), fp8])
