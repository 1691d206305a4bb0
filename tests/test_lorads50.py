"""lorads50: DeepSpeed's bf16 engine casts the whole module it is handed -- peft's LoRA adapters included, since
``get_peft_model`` ran before ``deepspeed.initialize`` -- to bf16 (deepspeedai/DeepSpeed deepspeed/runtime/engine.py
``_configure_distributed_model``: ``self.module.bfloat16()``), its optimizer keeping the fp32 master. Until lorads50
a DeepSpeed plan charged peft's fp32 adapters: their own input copies, 4 B weights and gradients, no master.
Checked against the pure-bf16 peft runs on CPU (tests/data/peft_truth.json, ``model.to(torch.bfloat16)`` after
``get_peft_model``; peft 0.21.2, transformers 5.23.0, torch 2.13), the case DeepSpeed's engine is.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from planner.spec import TrainingSpec

from conftest import LORA_TOL, PEFT_TRUTH, lora_gpu_blocks, lora_job

AMP = PEFT_TRUTH["amp_families"]


def _lora(framework: str, precision: str = "bf16", **kw) -> TrainingSpec:
    return TrainingSpec(mode="lora", precision=precision, framework={"name": framework, **kw},
                        lora=dict(rank=16, alpha=32, targets="all-linear"))


def test_only_deepspeeds_module_cast_makes_the_adapters_16bit():
    """DeepSpeed's engine at bf16 / fp16 casts the adapters; at fp32 it casts nothing; the HF Trainer autocasts over
    fp32 adapters, and a model loaded in bf16 (``mixed_precision: bf16`` without the engine's cast, dle-bert) has
    them made fp32 by peft's ``autocast_adapter_dtype`` after that cast."""
    from planner.model.finetune import adapter_bytes_on
    from planner.model.stacks import STACKS, from_training

    ds = STACKS["deepspeed"]
    assert ds.casts_module_to_half
    assert ds.casts_adapters(_lora("deepspeed")) and ds.casts_adapters(_lora("deepspeed", "fp16"))
    assert not ds.casts_adapters(_lora("deepspeed", "fp32"))
    assert not replace(ds, mixed_precision="amp").casts_adapters(_lora("deepspeed"))
    for other in ("hf-trainer", "dle-bert"):
        assert not STACKS[other].casts_adapters(_lora("hf-trainer"))
    t = _lora("deepspeed")
    assert adapter_bytes_on(t, from_training(t)) == 2.0
    assert adapter_bytes_on(t, STACKS["hf-trainer"]) == adapter_bytes_on(t, None) == 4.0


@pytest.mark.parametrize("fam", sorted(AMP))
def test_a_deepspeed_plan_charges_the_pure_bf16_layers(fam):
    """L x the per-layer bytes a DeepSpeed plan charges (no ``adapter_bytes`` given: the stack's) against the pure
    bf16 runs' blocks kept whole: until lorads50 each adapter's fp32 input copy (peft ``_cast_input_dtype``) was
    charged, GPT-2 +16.2%, BERT +30.4%, Mixtral +11.1%; now exact. (Checkpointed: the blocks' bf16 inputs, exact
    before and after.)"""
    from planner.model.finetune import frozen_layer_activation_bytes, frozen_stream

    c = AMP[fam]["cases"]["pure_bf16"]
    run = next(r for r in c["runs"] if not r["gradient_checkpointing"])
    m, t, st = lora_job(AMP[fam]["config"], c["base"], "deepspeed")
    st = replace(st, experts_implementation="eager")  # the recorded runs' loop (transformers' default: grouped_mm)
    keep, _ = frozen_layer_activation_bytes(m, t, run["seq"], run["batch"], 0, frozen_stream(t, st, 0), stack=st)
    assert m.layers * float(keep) == pytest.approx(lora_gpu_blocks(fam, run), rel=LORA_TOL)


@pytest.mark.parametrize("fam", ["llama", "mixtral"])
def test_the_adapters_gradient_bytes_are_the_pure_bf16_runs(fam):
    """peft's adapters' ``.grad`` bytes after one backward: the pure-bf16 run (cast after ``get_peft_model``, as
    DeepSpeed's engine) 2 B a trainable parameter -- the stack's adapter bytes on deepspeed --, the run over a base
    cast before ``get_peft_model`` (``as_loaded``: the HF Trainer's bf16 base) 4 B, peft's fp32."""
    from planner.model.finetune import adapter_bytes_on
    from planner.model.stacks import STACKS

    v = PEFT_TRUTH["families"][fam]["variants"]
    pure = next(x for x in v["lora_r16_all_linear"]["activations"] if x["precision"] == "bf16")
    loaded = next(x for x in v["lora_r16_all_linear_bf16_base"]["activations"] if x["precision"] == "as_loaded")
    n = v["lora_r16_all_linear"]["trainable_params"]
    assert pure["grad_bytes"] == n * adapter_bytes_on(_lora("deepspeed"), STACKS["deepspeed"])
    assert loaded["grad_bytes"] == n * adapter_bytes_on(_lora("hf-trainer"), STACKS["hf-trainer"])


def test_deepspeeds_adapter_states_follow_its_zero_rows():
    """Llama-3-8B LoRA r16 all-linear on 8 GPUs, ZeRO 0..3, bytes per adapter parameter against the fp32-adapter
    rule (4 B weights whole below ZeRO-3, 4 B gradients whole below ZeRO-2, Adam's 8 B from ZeRO-1): bf16 weights
    (2, 2/8 at ZeRO-3); the gradients ZERO_STATES holds -- BF16_Optimizer's fp32 accumulation beside the bf16
    ``.grad`` at ZeRO-0 (4 + 2), the 16-bit ``.grad`` at ZeRO-1 (2), the 16-bit partition from ZeRO-2 (2/8) --; the
    fp32 master with Adam's moments, 12/8 at every stage (BF16_Optimizer shards its master too)."""
    from planner.model.finetune import adapter_params
    from planner.model.memory import memory_per_gpu
    from planner.model.stacks import resolve
    from test_step_time import LLAMA, cands

    t = TrainingSpec(seq_len=4096, global_batch=8, micro_batch=1, precision="bf16", recompute="full", mode="lora",
                     framework={"name": "deepspeed"}, lora=dict(rank=16, targets="all-linear"))
    n = adapter_params(LLAMA, t)
    c = cands(dp=8, zero=[0, 1, 2, 3], rc=2)
    ds = resolve("deepspeed")
    new = memory_per_gpu(LLAMA, t, c, stack=ds)
    old = memory_per_gpu(LLAMA, t, c, stack=replace(ds, casts_module_to_half=False))
    per = {k: (np.asarray(new[k]) - np.asarray(old[k])) / n for k in ("weights", "grads", "optimizer")}
    np.testing.assert_allclose(per["weights"], np.array([2, 2, 2, 2 / 8]) - [4, 4, 4, 4 / 8], atol=1e-6)
    np.testing.assert_allclose(per["grads"], np.array([6, 2, 2 / 8, 2 / 8]) - [4, 4, 4 / 8, 4 / 8], atol=1e-6)
    np.testing.assert_allclose(per["optimizer"], np.full(4, 12 / 8) - [8, 1, 1, 1], atol=1e-6)
