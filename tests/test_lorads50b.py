"""lorads50b: DeepSpeed's bf16 engine casts the whole module it is handed (deepspeedai/DeepSpeed
deepspeed/runtime/engine.py ``_configure_distributed_model``: ``self.module.bfloat16()``) -- an fp32 frozen base and a
bitsandbytes base's fp32 rest (norms, embedding, head) too, not the packed uint8 weights. Until lorads50b
``finetune.frozen_storage_bytes`` took no stack and charged them as loaded (Llama-3-8B LoRA over fp32 on DeepSpeed:
29.99 GiB of weights a GPU). Measured on CPU (peft 0.21.2, transformers 5.23.0, torch 2.13, bitsandbytes 0.50.2; the
tiny Llama of tests/data/peft_truth.json ``families`` llama, LoRA r16 all-linear): fp32-loaded, ``get_peft_model``,
``model.bfloat16()``: 106,816 frozen parameters in 213,632 B (427,264 before the cast, the record's
``frozen_float32``); NF4-loaded after ``prepare_model_for_kbit_training``: 36,864 uint8 bytes kept, 33,088 fp32
parameters 132,352 -> 66,176 B.
"""
from __future__ import annotations


import numpy as np
import pytest

from planner.spec import TrainingSpec

from conftest import PEFT_TRUTH, lora_job

CAST_FP32_BASE_BYTES = 213_632  # the tiny Llama's frozen parameters after get_peft_model + model.bfloat16()
NF4_REST_PARAMS, NF4_REST_CAST_SAVING = 33_088, 132_352 - 66_176  # its NF4 base's fp32 rest, before -> after


def test_an_fp32_base_cast_by_deepspeeds_engine_holds_the_measured_bytes():
    """The fp32-loaded tiny Llama after DeepSpeed's module cast: 2 B a frozen parameter, as measured; on the HF Trainer
    (no module cast: autocast over the fp32 base) the recorded 4 B; at ``precision: fp32`` DeepSpeed casts nothing."""
    from planner.model.finetune import frozen_storage_bytes
    from planner.model.stacks import STACKS

    cfg = PEFT_TRUTH["families"]["llama"]["config"]
    rec = PEFT_TRUTH["families"]["llama"]["variants"]["lora_r16_all_linear"]["weight_storage_bytes"]["by_kind"]
    m, t, st = lora_job(cfg, "fp32", "deepspeed")
    assert frozen_storage_bytes(m, t, st) == CAST_FP32_BASE_BYTES
    assert frozen_storage_bytes(m, t, STACKS["hf-trainer"]) == frozen_storage_bytes(m, t) == rec["frozen_float32"]
    t32 = t.model_copy(update={"precision": "fp32"})
    assert frozen_storage_bytes(m, t32, st) == rec["frozen_float32"]


def test_a_bitsandbytes_base_keeps_its_packed_weights_and_casts_its_fp32_rest():
    """NF4 on DeepSpeed: the quantised nn.Linear bytes unchanged, the fp32 rest (``prepare_model_for_kbit_training``)
    halved -- the measured saving of 66,176 B on the tiny Llama."""
    from planner.model.finetune import frozen_storage_bytes, quantized_params
    from planner.spec.params import count_params

    m, t, st = lora_job(PEFT_TRUTH["families"]["llama"]["config"], "nf4", "deepspeed")
    frozen = count_params(m).total
    assert frozen - quantized_params(m, t) == NF4_REST_PARAMS
    assert frozen_storage_bytes(m, t) - frozen_storage_bytes(m, t, st) == NF4_REST_CAST_SAVING


def test_a_deepspeed_plan_over_an_fp32_base_charges_the_cast_weights():
    """Llama-3-8B LoRA r16 all-linear on 8 GPUs, ZeRO 0..3: the frozen base's weights a GPU over an fp32 base on
    DeepSpeed are those over a bf16 base (both 16-bit after the engine's cast); until lorads50b twice them (29.99 GiB
    at ZeRO 0..2)."""
    from planner.model.memory import memory_per_gpu
    from planner.model.stacks import resolve
    from test_step_time import LLAMA, cands

    def weights(base):
        t = TrainingSpec(seq_len=4096, global_batch=8, micro_batch=1, precision="bf16", recompute="full", mode="lora",
                         base_weights=base, framework={"name": "deepspeed"}, lora=dict(rank=16, targets="all-linear"))
        return np.asarray(memory_per_gpu(LLAMA, t, cands(dp=8, zero=[0, 1, 2, 3], rc=2), stack=resolve("deepspeed"))
                          ["weights"])

    fp32, bf16 = weights("fp32"), weights("bf16")
    np.testing.assert_allclose(fp32, bf16, rtol=1e-9)
    assert fp32[0] / 2**30 == pytest.approx(15.0, abs=0.1)


def test_explain_says_the_engine_cast_the_base():
    """The explain line reads the same rule: an fp32 base on DeepSpeed at 2.00 bytes/param, said cast by the engine
    (until lorads50b: 4.00, as loaded); on the HF Trainer still 4.00 and no cast."""
    from planner.search.explain import finetune_lines
    from planner.spec.schema import JobSpec

    m, t, st = lora_job(PEFT_TRUTH["families"]["llama"]["config"], "fp32", "deepspeed")
    ds = finetune_lines(JobSpec(model=m, training=t), {"flops_per_step": 1.0}, st)[0]
    assert "stored as fp32, cast to bf16 by the engine" in ds and "(2.00 bytes/param)" in ds
    m, t, st = lora_job(PEFT_TRUTH["families"]["llama"]["config"], "fp32", "hf-trainer")
    hf = finetune_lines(JobSpec(model=m, training=t), {"flops_per_step": 1.0}, st)[0]
    assert "cast" not in hf and "(4.00 bytes/param)" in hf
