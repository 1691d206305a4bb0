"""torchtitan's memory against its published max_reserved (mem56): what the compiled blocks keep under per-op SAC, and
the free block the eager loss leaves in the caching allocator's pool at its peak.

* Compiled op SAC (``activations.layer_activation_bytes(compiled=True)``, ``compiled_dead_saves``): torchtitan
  compiles each checkpoint-wrapped block; the SAC policy then only tags the joint graph and the partitioner keeps what
  the backward reads, which leaves out w2's output (eager SAC caches it) at TP 1 and under SP, not at TP 2 without SP.
  Truth: tests/make_sac_compile_truth.py (tests/data/sac_compile_truth.json, CPU Inductor, gloo ranks for TP 2).
* The loss's free block (``activations.loss_pool_free_bytes``, ``memory_per_gpu``'s ``pool_free_last``): the 16-bit
  logits' block, freed before the backward's fp32 gradients, which it cannot serve; replayed through
  benchmarks/allocator_replay.py's native allocator at Llama 3.1 8B's sizes.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from planner.model import stacks
from planner.model.activations import (SELECTIVE, compiled_dead_saves, layer_activation_bytes, loss_pool_free_bytes,
                                       op_sac_saved_tensors)
from planner.spec import ModelSpec
from planner.spec.presets import PRESETS

TRUTH = json.loads((Path(__file__).parent / "data" / "sac_compile_truth.json").read_text())
L8B = ModelSpec(**PRESETS["llama3.1-8b"])


def _spec(kw):
    return ModelSpec(family="decoder", layers=2, hidden=kw["h"], heads=kw["heads"], kv_heads=kw["kv_heads"],
                     vocab=1000, ffn_hidden=kw["f"])


def _op_sac(kw, compiled):
    return float(layer_activation_bytes(_spec(kw), kw["seq"], kw["batch"], tp=kw.get("tp", 1), sp=kw.get("sp", False),
                                        recompute=SELECTIVE, act_bytes=2, selective="op", fused_qkv=kw["fused"],
                                        compiled=compiled))


@pytest.mark.parametrize("case", sorted(TRUTH["cases"]))
def test_compiled_op_sac_keeps_what_inductor_saves(case):
    """The planner's compiled op-SAC layer = the bytes the compiled blocks save (exact on these shapes); the eager
    figure stays op_sac_truth's. Before: one figure for both, w2's output over on the compiled blocks."""
    kw = TRUTH["cases"][case]
    assert _op_sac(kw, True) == pytest.approx(kw["compiled_per_layer"], rel=1e-9)
    assert _op_sac(kw, False) == pytest.approx(kw["eager_per_layer"], rel=1e-9)


@pytest.mark.parametrize("case", sorted(TRUTH["tp_cases"]))
def test_compiled_op_sac_under_tp(case):
    """At TP 2 (rank 0 of two gloo ranks, torchtitan's DTensor plan): under SP the compiled block drops w2's partial
    output and its reduce-scatter; without SP it keeps eager SAC's bytes. The planner the same."""
    kw = TRUTH["tp_cases"][case]
    assert _op_sac(kw, True) == pytest.approx(kw["compiled_per_layer"], rel=1e-9)
    assert _op_sac(kw, False) == pytest.approx(kw["eager_per_layer"], rel=1e-9)
    assert (kw["compiled_per_layer"] < kw["eager_per_layer"]) is kw["sp"]


def test_compiled_blocks_drop_w2_output_only():
    """What the compiled block does not keep is w2's output (tokens x h, 16-bit) and, under SP, its reduce-scatter (a
    row of 0 bytes here), nothing else."""
    kw = TRUTH["cases"]["dense s128 h256 b2 unfused"]
    assert {t.name for t in compiled_dead_saves(op_sac_saved_tensors(_spec(kw)))} == {"w2.out", "w2.reduce_scatter"}
    assert kw["eager_per_layer"] - kw["compiled_per_layer"] == kw["seq"] * kw["batch"] * kw["h"] * 2


def test_torchtitan_stack_passes_compile_to_the_table():
    """The stack's ``compile`` reaches the table (``stack_table_kw``): torchtitan compiled / eager."""
    from planner.model.activations import stack_table_kw

    st = stacks.resolve("torchtitan")
    assert stack_table_kw(st, "bf16")["compiled"] is True
    assert stack_table_kw(replace(st, compile=False), "bf16")["compiled"] is False


def _loss_events(n, model_upcasts):
    """The eager loss's allocations for n logits at bf16, torchtitan's order (``del pred`` before ``backward``):
    the model's ``.float()`` (2024-12) or the loss's."""
    ev = [("alloc", "held", 8 << 30), ("alloc", "A", 2 * n), ("alloc", "B", 4 * n)]  # the step's other memory, logits
    ev += [("free", "A"), ("alloc", "C", 4 * n), ("free", "B")] if model_upcasts else \
          [("alloc", "C", 4 * n), ("free", "B"), ("free", "A")]  # log-softmax C saved; the fp32 copy B, logits A freed
    # NLL's gradient D, then log-softmax's E (the peak), the cast back to bf16 after it
    return ev + [("alloc", "D", 4 * n), ("alloc", "E", 4 * n), ("free", "D"), ("free", "C"), ("alloc", "F", 2 * n)]


@pytest.mark.parametrize("model_upcasts", [True, False])
def test_loss_leaves_its_16bit_logits_free_in_the_pool(model_upcasts):
    """Replayed through the native allocator's rules: at the peak the pool holds the 16-bit logits' block free beside
    the 12 B a logit allocated; ``loss_pool_free_bytes`` prices that block (Llama 3.1 8B, 2 x 8,192 tokens)."""
    from benchmarks.allocator_replay import replay

    n = 2 * 8192 * L8B.vocab
    a = replay(_loss_events(n, model_upcasts))
    assert a.max_allocated == (8 << 30) + 12 * n
    free = float(loss_pool_free_bytes(L8B, 8192, 2, act_bytes=2, loss="torch_ce"))
    assert a.max_reserved - a.max_allocated == pytest.approx(free, abs=4 << 20)
    assert free == 2 * n


@pytest.mark.parametrize("loss,free", [("torch_ce", True), ("cast_ce", True), ("torch_ce_compiled", False),
                                       ("cast_ce_held", False), ("megatron_ce", False)])
def test_pool_free_by_loss_code(loss, free):
    """Only the upcasting losses whose loop drops the logits leave the block; held, in-place or compiled ones not."""
    got = float(loss_pool_free_bytes(L8B, 8192, 1, act_bytes=2, loss=loss))
    assert (got > 0) is free


def test_pool_free_is_reported_not_in_the_total():
    """``memory_per_gpu`` reports the block (``pool_free_last``) on a torchtitan eager-loss row and leaves ``total``
    as before; validate_memory adds it to the max_reserved figure. The compiled loss has none."""
    import benchmarks.validate_memory as vm
    from hardware_catalog import load_catalog
    import pandas as pd

    from planner.model.memory import GiB, memory_per_gpu

    d = pd.read_csv(vm.DATA).set_index("id", drop=False)
    cat = load_catalog()
    r = next(d.loc[["titan24_t2_8b_cp8_262144"]].itertuples())
    m, tr, c, st = vm.titan_case(cat, r)
    mem = memory_per_gpu(m, tr, c, stack=st)
    assert float(mem["pool_free_last"][0]) == pytest.approx(2 * 32768 * L8B.vocab)
    reserved = vm.comparable(mem, "max_reserved")
    # the last stage's loss peak with the block (one stage: the rank's own), above the allocated total
    assert reserved == pytest.approx(float(mem["total_last"][0] + mem["pool_free_last"][0]
                                           - mem["outside_allocator"][0]))
    assert reserved > float(mem["total"][0] - mem["outside_allocator"][0]) + 7 * GiB
    st2 = replace(st, loss_compiles=True)
    assert float(memory_per_gpu(m, tr, c, stack=st2)["pool_free_last"][0]) == 0.0
    assert np.all(np.asarray(mem["total"]) < 95 * GiB)
