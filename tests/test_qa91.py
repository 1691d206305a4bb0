"""QA 91: three left-overs of session 49's merges -- a LoRA at ``precision: fp32`` over a bf16 frozen base priced as
bf16 GEMMs with fp32 adapters (finetune ``base_math_precision``), ..."""
from __future__ import annotations

import pytest

from planner.model.finetune import base_math_precision, frozen_saves_precision
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _lora(precision: str, base: str | None = "bf16"):
    t = {"mode": "lora", "seq_len": 1024, "global_batch": 8, "micro_batch": 1, "precision": precision,
         "steps": 10, "recompute": "full", "framework": {"name": "hf-trainer"}}
    if base:
        t["base_weights"] = base
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": t,
                          "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 0},
                          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}})


def test_fp32_training_over_a_bf16_base_runs_the_base_in_bf16():
    """No autocast at ``precision: fp32``: the bf16 checkpoint's GEMMs run on bf16 tensor cores, only peft's fp32
    adapters in fp32 (on their own fp32 input copy). Until QA 91 the step priced the whole base as fp32 GEMMs on the
    CUDA cores (Llama-3-8B, 8 H100s, micro-batch 4 at 4,096: 21.9 s against 2.0 s at bf16), while the memory already
    read the bf16 table: one rule now for both."""
    job = _lora("fp32")
    assert base_math_precision(job.training) == "bf16"
    assert frozen_saves_precision(job.training, True) == "bf16"  # the memory's rule is the same one
    mixed, bf16, fp32 = estimate_job(job), estimate_job(_lora("bf16")), estimate_job(_lora("fp32", "fp32"))
    # the fp32 adapters cost something beyond the bf16 step, the base nothing: within 1.5x of bf16, far from fp32
    assert bf16.step_time_s < mixed.step_time_s < 1.5 * bf16.step_time_s
    assert fp32.step_time_s > 5 * mixed.step_time_s
    # MFU against the bf16 peak the base runs at (an fp32 peak would put it past 100%)
    assert mixed.mfu == pytest.approx(bf16.mfu * bf16.step_time_s / mixed.step_time_s, rel=1e-9)
