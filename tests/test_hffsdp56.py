"""The HF Trainer under accelerate's FSDP: the gradient sync on a step's last micro-batch only, and the reduce dtype.

* hffsdp56: transformers' Trainer (``_run_epoch``) runs every micro-batch but a step's last under
  ``accelerator.no_sync(model)`` unless ``sync_each_batch`` is set, and accelerate >= 1.11.0 (PR #3762) makes that
  ``set_requires_gradient_sync(False)`` on an FSDP2 model: FSDP2 reduce-scatters once a step and holds the whole
  unsharded gradient in the reduce dtype until then (stack option ``defer_fsdp_grad_sync``, default on; FSDP1's
  ``no_sync`` is ``fsdp1_no_sync``, off with it too).
* hfrs56: accelerate's FSDP plugin reduces in the mixed-precision dtype (``MixedPrecision(Policy)(reduce_dtype=bf16)``)
  whatever ``training.grad_dtype`` says (``Stack.grad_comm_dtype`` "fsdp_mp", ``stacks.fsdp_reduce_bytes``).

Ground truth: tests/data/fsdp2_nosync_truth.json (tests/make_fsdp2_nosync_truth.py, torch 2.13 FSDP2 on CPU).
"""
import json
from dataclasses import replace

import numpy as np
import pytest

from planner.model.memory import accumulates_unsharded, memory_per_gpu
from planner.model.stacks import STACKS, from_training, fsdp_reduce_bytes, grad_reduce_bytes, resolve
from planner.model.step_time import step_time
from planner.spec import TrainingSpec

from conftest import ROOT
from test_step_time import LLAMA, cands, hw_for

TRUTH = json.loads((ROOT / "tests" / "data" / "fsdp2_nosync_truth.json").read_text())


def _t(gb=32, version=2, grad_dtype="fp32", **fw):
    return TrainingSpec(seq_len=4096, global_batch=gb, micro_batch=1, precision="bf16", recompute="full",
                        weights="amp", grad_dtype=grad_dtype,
                        framework={"name": "hf-trainer", "fsdp_version": version, **fw})


def test_truth_fsdp2_skips_the_reduce_scatter_and_holds_bf16_gradients():
    """torch 2.13 FSDP2 under accelerate's policy: no reduce-scatter in a non-syncing backward, the whole model's
    unsharded gradient held at 2 B a parameter (bf16, the reduce dtype; 4 B under an fp32 reduce dtype), one
    reduce-scatter a unit (2 blocks + the root) in the syncing one, its input in the reduce dtype."""
    for dtype, width in (("bfloat16", 2), ("float32", 4)):
        case = TRUTH["cases"][dtype]
        *accumulating, last = case["micro_batches"]
        for mb in accumulating:
            assert not mb["sync"] and mb["reduce_scatters"] == []
            assert mb["held_unsharded_bytes"] == width * case["params"] and mb["held_dtypes"] == [dtype]
        assert last["sync"] and len(last["reduce_scatters"]) == TRUTH["model"]["blocks"] + 1
        assert {r["input_dtype"] for r in last["reduce_scatters"]} == {dtype}
        assert sum(r["input_bytes"] for r in last["reduce_scatters"]) == width * case["params"]
        assert last["held_unsharded_bytes"] == 0 and last["sharded_grad_bytes"] == 4 * case["params"] // 2


def test_the_trainer_defers_the_sync_under_either_fsdp_version():
    """The option's default is accelerate's (``sync_each_batch`` False); off, neither version holds anything. Until
    hffsdp56 FSDP2 under the Trainer synced every micro-batch and the option was refused on hf-trainer."""
    assert STACKS["hf-trainer"].defer_fsdp_grad_sync and not STACKS["dle-bert"].defer_fsdp_grad_sync
    for version in (1, 2):
        on, off = from_training(_t(version=version)), from_training(_t(version=version, defer_fsdp_grad_sync=False))
        assert accumulates_unsharded(on) and not accumulates_unsharded(off)
        assert (on.fsdp1_no_sync, on.defer_fsdp_grad_sync) == (version == 1, version == 2)
        assert "defer_fsdp_grad_sync=off" in off.describe() and "defer_fsdp_grad_sync" not in on.describe()
    # re-resolving keeps it (a searched version on a job's stack: with_options)
    st = resolve("hf-trainer", fsdp_version=1, defer_fsdp_grad_sync=False).with_options(fsdp_version=2)
    assert not accumulates_unsharded(st)


def test_fsdp2_holds_the_whole_unsharded_bf16_gradient():
    """Llama-3-8B at DP 8, ZeRO-3, 4 micro-batches: the held unsharded gradient in bf16 (the truth's 2 B a
    parameter) in place of the 4 B fp32 shard of 1/8: + 2n - 4n/8 = 1.5n bytes; the weights stay sharded. One
    micro-batch a step syncs as it goes: nothing held."""
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1)
    width = TRUTH["cases"]["bfloat16"]["micro_batches"][0]["held_unsharded_bytes"] / TRUTH["cases"]["bfloat16"]["params"]
    for gb, extra in ((32, (width - 4 / 8) * 8.03e9), (8, 0.0)):
        t = _t(gb=gb)
        mem = {f: memory_per_gpu(LLAMA, t, c, stack=from_training(_t(gb=gb, defer_fsdp_grad_sync=f)))
               for f in (True, False)}
        assert float(mem[True]["weights"][0]) == float(mem[False]["weights"][0])
        assert float(mem[True]["grads"][0]) - float(mem[False]["grads"][0]) == pytest.approx(extra, rel=0.05, abs=1e6)


def test_fsdp2_reduce_scatters_once_a_step(catalog):
    """2 nodes (DP 16), 4 micro-batches: 3 reduce-scatters fewer, the gathers as before; one micro-batch: the same."""
    c = cands(tp=1, pp=1, dp=16, zero=3, nodes=2)
    hw = hw_for(catalog, inter_gbps=400.0)
    for gb in (64, 16):
        out = {f: step_time(LLAMA, _t(gb=gb), c, hw, framework=from_training(_t(gb=gb, defer_fsdp_grad_sync=f)))
               for f in (True, False)}
        if gb == 64:
            assert float(out[True]["comm_zero3"][0]) < float(out[False]["comm_zero3"][0])
            assert float(out[True]["step_time_s"][0]) < float(out[False]["step_time_s"][0])
        else:
            assert float(out[True]["step_time_s"][0]) == pytest.approx(float(out[False]["step_time_s"][0]), rel=1e-12)


def test_accelerate_reduces_in_the_mixed_precision_dtype():
    """FSDP (ZeRO-2/3) under the HF Trainer moves 2 B a gradient element whatever ``training.grad_dtype``; DDP (ZeRO-0)
    its fp32 gradients; other FSDP stacks their buffer's dtype (torchtitan's fp32 reduce)."""
    st = STACKS["hf-trainer"]
    assert grad_reduce_bytes(st, "bf16", 4.0, zero=np.array([0, 2, 3])).tolist() == [4.0, 2.0, 2.0]
    assert fsdp_reduce_bytes(st, "fp32", 4.0) == 4.0 and fsdp_reduce_bytes(STACKS["torchtitan"], "bf16", 4.0) == 4.0


@pytest.mark.parametrize("version", [1, 2])
def test_the_reduce_moves_half_the_bytes_of_the_fp32_gradients(catalog, version):
    """The HF Trainer's gradients are fp32 (``weights: amp``, an fp32 model under autocast: 4 B at either
    ``grad_dtype``); accelerate reduces them in bf16: the reduce-scatters expose less than the same stack reducing
    its buffer's fp32 (``grad_comm_dtype`` None, how it was priced until hfrs56), and FSDP2's held gradients and
    reduce-scatter input take 2 B, not 4. DP 16 on 2 nodes, one micro-batch a step (every reduce-scatter in the
    backward); memory at 4 micro-batches (held)."""
    c = cands(tp=1, pp=1, dp=16, zero=3, nodes=2)
    hw = hw_for(catalog, inter_gbps=400.0)
    st = from_training(_t(gb=16, version=version))
    out = {mode: step_time(LLAMA, _t(gb=16, version=version), c, hw, framework=replace(st, grad_comm_dtype=mode))
           for mode in ("fsdp_mp", None)}
    assert 0.0 < float(out["fsdp_mp"]["comm_zero3"][0]) < float(out[None]["comm_zero3"][0])
    if version == 2:
        t = _t(gb=64)
        mem = {mode: memory_per_gpu(LLAMA, t, c, stack=replace(from_training(t), grad_comm_dtype=mode))
               for mode in ("fsdp_mp", None)}
        held = 8.03e9  # Llama-3-8B's unsharded gradients, 2 B each rather than 4 (+ the buffers, left to the ratio)
        assert float(mem[None]["grads"][0]) - float(mem["fsdp_mp"]["grads"][0]) == pytest.approx(2 * held, rel=0.1)
