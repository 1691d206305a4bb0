"""QA pass 23: low-precision training paths (FP8 tensorwise / delayed / MXFP8, NVFP4, ``fp8_param_gather``, master
weights and gradient dtypes, which GPUs and stacks take which recipe), recomputed by hand from Transformer Engine,
Megatron-LM / Megatron-Core and Megatron-Bridge sources — each defect with the check that failed before its fix."""
from __future__ import annotations

import shlex

import pytest

from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _job(training: dict, parallel: dict, gpu="H100-SXM-80GB", model="llama3-8b"):
    base = {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "recompute": "selective", "tokens": 1e12,
            "optimizer": "adamw"}
    return load_job_dict({"model": {"preset": model}, "training": {**base, **training},
                          "parallel": {"pp": 1, "cp": 1, "sequence_parallel": True, **parallel},
                          "cluster": {"gpu": gpu, "nodes": 2, "gpus_per_node": 8}})


def _weights_per_param(plan, job, tp):
    from planner.spec.params import count_params as cp

    return plan["memory_per_gpu_bytes"]["weights"] / (cp(job.model).total / tp)


def _spec_flags(job) -> list[str]:
    from planner.present.emit import emit_launch_spec

    return shlex.split(emit_launch_spec(job, estimate_job(job), "torchrun"), comments=True)


# ---- defect 1: FP8 weights priced as --fp8-param-gather storage where the launch cannot have it ----------------------
# Megatron-Core's 2 bytes a parameter (Stack.fp8_weight_bytes: FP8 weights + TE's transpose, no 16-bit copy) is the
# --fp8-param-gather storage. validate_args allows that flag "only with distributed optimizer, torch fsdp2, megatron
# fsdp", and Megatron-Bridge's bf16_with_nvfp4_mixed sets fp8_param_gather = False; the emitted launch already left
# the flag out at ZeRO-0 and under NVFP4, yet memory priced 2 B/param there: the GPU holds its 16-bit weights and
# TE's cached low-precision copy (memory.PRECISION_CONVENTIONS ("fp8", "megatron"): 2 + 1 B). Llama-3-8B TP2: 7.48 GiB
# of weights -> 11.22 GiB per GPU.

@pytest.mark.parametrize("gpu,recipe,zero,want", [
    ("H100-SXM-80GB", "tensorwise", 1, 2.0),  # --fp8-param-gather on: FP8 weights + transpose
    ("H100-SXM-80GB", "tensorwise", 0, 3.0),  # ZeRO-0: no flag, bf16 weights + cached FP8 copy (was 2.0)
    ("H100-SXM-80GB", "delayed", 0, 3.0),
    ("B200-SXM-180GB", "mxfp8", 1, 2.0),
    ("B200-SXM-180GB", "nvfp4", 1, 3.0),  # NVFP4 runs without it (was 2.0)
])
def test_fp8_weight_storage_follows_fp8_param_gather(gpu, recipe, zero, want):
    job = _job({"framework": {"name": "megatron-core", "fp8_recipe": recipe}, "precision": "fp8"},
               {"tp": 2, "zero": zero}, gpu=gpu)
    plan = estimate_job(job)
    assert _weights_per_param(plan, job, 2) == pytest.approx(want, rel=0.01)
    flags = _spec_flags(job)
    assert ("--fp8-param-gather" in flags) == (want == 2.0)  # the launch stores what memory priced


def test_torchtitan_fp8_weights_stay_16_bit_at_every_zero():
    """torchtitan (torchao Float8Linear) keeps its parameters 16-bit and casts per forward: 2 B at every stage,
    not hung on Megatron's flag."""
    job = _job({"framework": "torchtitan", "precision": "fp8"}, {"tp": 2, "zero": 0})
    plan = estimate_job(job)
    assert _weights_per_param(plan, job, 2) == pytest.approx(2.0, rel=0.01)


# ---- defect 2: the FP8 parameter all-gather priced at 16 bits ----------------------------------------------------------
# With --fp8-param-gather the distributed optimizer writes its updated fp32 master shard as FP8 into the uint8 parameter
# buffer and all-gathers that buffer: 1 B a parameter under the per-tensor recipes (tensorwise, delayed). The planner
# gathered min(weights, 2) = 2 B. MXFP8 gathers 16-bit values into the reused gradient buffer and casts after the
# gather (Megatron-Core start_param_sync: "The parameters are cast from bf16 to MXFP8 during copy"), and NVFP4 runs
# without the flag: both stay at 2 B. Llama-3-8B TP2 DP8 on H100 without --overlap-param-gather: the all-gathers
# after the optimizer step 0.0404 s -> 0.0202 s (t_dp_tail 0.0579 -> 0.0377 s).

def _tail(precision, recipe=None, gpu="H100-SXM-80GB"):
    fw = {"name": "megatron-core", "overlap_param_gather": False, **({"fp8_recipe": recipe} if recipe else {})}
    return estimate_job(_job({"framework": fw, "precision": precision}, {"tp": 2, "zero": 1}, gpu=gpu))["detail"]


@pytest.mark.parametrize("gpu,recipe,halved", [
    ("H100-SXM-80GB", "tensorwise", True),
    ("H100-SXM-80GB", "delayed", True),
    ("B200-SXM-180GB", "tensorwise", True),
    ("B200-SXM-180GB", "mxfp8", False),
    ("B200-SXM-180GB", "nvfp4", False),
])
def test_fp8_param_gather_moves_fp8_bytes(gpu, recipe, halved):
    bf16, fp8 = _tail("bf16", gpu=gpu), _tail("fp8", recipe, gpu=gpu)
    assert fp8["t_dp_comm"] == pytest.approx(bf16["t_dp_comm"])  # the gradient reduce is unchanged (fp32 grads)
    if halved:
        assert fp8["t_dp_tail"] < 0.7 * bf16["t_dp_tail"]
    else:
        assert fp8["t_dp_tail"] == pytest.approx(bf16["t_dp_tail"])


# ---- defect 3: every TE recipe's saved linear inputs counted at 1 byte an element ------------------------------------
# Under Transformer Engine the linears keep, for the weight gradient, the quantised copy of their input (column-wise
# usage only). An NVFP4 copy is packed E2M1 (0.5 B) with one E4M3 scale per 16 elements: 0.5625 B, not the FP8 copy's
# 1 B; an MXFP8 copy adds one E8M0 scale per 32: 1.03125 B. Llama-3-8B TP2 SP, selective recompute, mb 1 x 8192 on
# B200: the linear inputs are h + q + h + f = 26,624 elements a token (/2 under TP/SP) in 32 layers, so NVFP4 keeps
# 0.4375 x 13,312 x 8192 x 32 = 1.42 GiB less than FP8 (activations 14.78 -> 13.36 GiB); MXFP8 0.10 GiB more.

def test_saved_linear_inputs_take_the_recipes_width():
    def act(recipe):
        job = _job({"framework": {"name": "megatron-core", "fp8_recipe": recipe}, "precision": "fp8"},
                   {"tp": 2, "zero": 1}, gpu="B200-SXM-180GB")
        return estimate_job(job)["memory_per_gpu_bytes"]["activations"]

    per_byte = 13312 * 8192 * 32  # linear-input elements a rank keeps per step (one micro-batch in flight)
    fp8, mx, nv = act("tensorwise"), act("mxfp8"), act("nvfp4")
    assert fp8 - nv == pytest.approx(per_byte * (1 - 0.5625), rel=0.02)
    assert mx - fp8 == pytest.approx(per_byte / 32, rel=0.02)


# ---- defect 4: MXFP8 launched in the hybrid format ---------------------------------------------------------------------
# The emitted Megatron launch wrote --fp8-format hybrid (E5M2 gradients) for every FP8 recipe. MXFP8 runs E4M3 for
# every tensor, gradients included (its per-32 E8M0 scales carry the range): TE's MXFP8BlockScaling defaults to
# Format.E4M3 and Megatron-Bridge's bf16_with_mxfp8_mixed sets fp8 = "e4m3". The per-tensor recipes stay hybrid (TE's
# DelayedScaling default, Megatron-Bridge's current/delayed scaling configs).

@pytest.mark.parametrize("gpu,recipe,fmt", [("B200-SXM-180GB", "mxfp8", "e4m3"), ("H100-SXM-80GB", "tensorwise", "hybrid"),
                                            ("H100-SXM-80GB", "delayed", "hybrid")])
def test_fp8_format_is_the_recipes(gpu, recipe, fmt):
    job = _job({"framework": {"name": "megatron-core", "fp8_recipe": recipe}, "precision": "fp8"},
               {"tp": 2, "zero": 1}, gpu=gpu)
    f = _spec_flags(job)
    assert f[f.index("--fp8-format") + 1] == fmt and f[f.index("--fp8-recipe") + 1] == recipe


# ---- defect 5: checkpoints sized with the compute copies of the weights --------------------------------------------
# The simulator's checkpoint (and the spot / failure pauses priced from it) took the memory convention's weight bytes,
# which include the copies made for compute: TE's cached FP8 weight (fp8: 2 + 1 B) and autocast's 16-bit copy (AMP:
# 4 + 2 B). A checkpoint writes the weights, the fp32 master and the moments: fp8 with a master copy 2 + 4 + 8 = 14 B
# a parameter (was 15), AMP 4 + 0 + 8 = 12 B (was 14); bf16 with a master copy stays 2 + 4 + 8.

@pytest.mark.parametrize("precision,weights,want", [("fp8", "megatron", 14.0), ("bf16", "amp", 12.0),
                                                     ("fp8", "amp", 12.0), ("bf16", "megatron", 14.0)])
def test_checkpoint_holds_no_compute_copies(precision, weights, want):
    from planner.simulate.config import checkpoint_bytes
    from planner.spec.params import count_params

    job = _job({"framework": "megatron-core", "precision": precision, "weights": weights}, {"tp": 2, "zero": 1})
    assert checkpoint_bytes({}, job) == pytest.approx(count_params(job.model).total * want)
