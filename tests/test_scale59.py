"""scale59: what the readiness sweep for unseen published runs (benchmarks/scale_sweep.py) found wrong in the memory of
layouts real stacks run, and that the sweep itself runs every job without an internal error.

* A frozen base (LoRA) on Megatron-Core's Transformer Engine layers (Megatron-Bridge, NeMo 2) keeps the fused 16-bit
  table's saves (TE ``_Linear.forward``: ``backward_needs_input = is_grad_enabled and weight.requires_grad``; the
  adapter keeps the same input), not peft's on the HF model code (planner.model.finetune ``TE_FROZEN_SAVES``).
* Under FSDP2's deferred gradient sync (the HF Trainer's accumulation) a frozen base holds no unsharded gradient
  (torch ``FSDPParamGroup.post_backward``: only parameters with a ``.grad``).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from planner.model.finetune import peft_layer_saves
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

GIB = 2**30


def _mem(model, train, parallel, gpu="B200-SXM-180GB", gpus=8):
    job = {"model": {"preset": model},
           "training": {"seq_len": 4096, "micro_batch": 1, "precision": "bf16", "tokens": 1e10, **train},
           "parallel": parallel, "cluster": {"gpu": gpu, "gpus_per_node": 8, "nodes": gpus // 8}}
    return estimate_job(load_job_dict(job)).memory_per_gpu_bytes


@pytest.mark.parametrize("stack", ["megatron-bridge", "nemo", "megatron-core"])
def test_megatron_lora_keeps_the_fused_layer_saves(stack):
    """Llama-2-70B at TP 1 on one B200, 4,096 tokens, no recompute: LoRA's layers keep what pre-training's keep (the
    adapters' rank-16 intermediates aside). Before scale59 they took peft's HF table: 148.8 GiB against 83.9."""
    par = {"tp": 1, "pp": 1, "cp": 1, "zero": 1}
    base = {"global_batch": 8, "recompute": "none", "framework": {"name": stack}}
    pre = _mem("llama2-70b", base, par)
    lora = _mem("llama2-70b", {**base, "mode": "lora", "lora": {"rank": 16, "alpha": 32}}, par)
    assert lora.activations == pytest.approx(pre.activations, rel=0.01)
    assert lora.activations < 100 * GIB
    # under fp8 the frozen TE linears keep no fp8 copy; the adapters keep the 16-bit input: the 16-bit table
    fp8 = _mem("llama2-70b", {**base, "mode": "lora", "lora": {"rank": 16, "alpha": 32}, "precision": "fp8"}, par)
    assert fp8.activations == pytest.approx(lora.activations, rel=0.01)


def test_peft_saves_stay_on_the_hf_code():
    assert not peft_layer_saves("megatron-bridge") and not peft_layer_saves("nemo")
    assert peft_layer_saves("hf-trainer") and peft_layer_saves("deepspeed") and peft_layer_saves(None)


def test_fsdp2_deferred_sync_holds_no_frozen_gradient():
    """Llama-3-70B LoRA under the HF Trainer, FSDP2 (ZeRO-3) on 16 H100, full recompute: two micro-batches a step hold
    the adapters' gradients only, as one does (before scale59: 131.5 GiB, the whole frozen base's bf16 gradient)."""
    par = {"tp": 1, "pp": 1, "cp": 1, "zero": 3}
    train = {"recompute": "full", "mode": "lora", "lora": {"rank": 16, "alpha": 32}, "framework": {"name": "hf-trainer"}}
    one = _mem("llama3-70b", {**train, "global_batch": 16}, par, gpu="H100-SXM-80GB", gpus=16)
    two = _mem("llama3-70b", {**train, "global_batch": 32}, par, gpu="H100-SXM-80GB", gpus=16)
    assert two.grads < 1 * GIB
    assert two.grads == pytest.approx(one.grads, rel=0.05, abs=0.1 * GIB)


def test_fsdp2_deferred_sync_still_holds_a_trained_gradient():
    """The deferred sync itself stays priced where the weights train: a full fine-tune of Llama-3-8B holds its
    unsharded gradient at two micro-batches a step, not at one."""
    par = {"tp": 1, "pp": 1, "cp": 1, "zero": 3}
    train = {"recompute": "full", "framework": {"name": "hf-trainer"}}
    one = _mem("llama3-8b", {**train, "global_batch": 8}, par, gpu="H100-SXM-80GB", gpus=8)
    two = _mem("llama3-8b", {**train, "global_batch": 16}, par, gpu="H100-SXM-80GB", gpus=8)
    assert two.grads > 2 * one.grads


def test_the_sweep_runs_every_job(monkeypatch):
    """Every job of benchmarks/scale_sweep.py runs or is refused in one line; none raises; the fixed cases fit."""
    monkeypatch.setenv("PLANNER_DEBUG", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import scale_sweep as S

    jobs = [j for j in S.all_jobs() if "lora" in j.name or j.name.startswith(("mb_l8", "tt_l8_h100_fsdp"))]
    with tempfile.TemporaryDirectory() as tmp:
        out = {j.name: S.run_job(j, Path(tmp)) for j in jobs}
    assert not [n for n, o in out.items() if o.kind == "crashed"]
    assert out["hf_l3_70b_lora_fsdp_h100_16"].fits
    assert out["nemo_l2_70b_lora_h100_8_tp4cp2"].mem_gib < 60
    assert not S.scaling_failures(list(out.values()))


def _dualpipev_job(compile_=None):
    fw = {"name": "torchtitan", **({} if compile_ is None else {"compile": compile_})}
    return {"model": {"preset": "deepseek-v2-lite"},
            "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "recompute": "none", "tokens": 1e10,
                         "framework": fw},
            "parallel": {"tp": 1, "pp": 2, "cp": 1, "ep": 8, "zero": 3, "schedule": "dualpipev"},
            "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2}}


def test_dualpipev_with_compile_left_open_runs_compile_off():
    """torchtitan's DualPipeV runs without torch.compile (torch.distributed.pipelining refuses compiled stages), which
    is torchtitan's own default (CompileConfig.enable False): a job that leaves compile open is timed so, said in an
    assumption, and prices what compile: false prices. Before scale59 it was refused for the stack entry's default."""
    from planner.errors import InputError

    open_ = estimate_job(load_job_dict(_dualpipev_job()))
    off = estimate_job(load_job_dict(_dualpipev_job(False)))
    assert open_.step_time_s == pytest.approx(off.step_time_s)
    assert any("compile off (left open)" in a for a in open_.assumptions)
    with pytest.raises(InputError) as e:  # asked for, compile stays refused under DualPipeV
        estimate_job(load_job_dict(_dualpipev_job(True)))
    assert e.value.field == "training.framework.compile"
