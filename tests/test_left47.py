"""left47: DeepSpeed's stream rules hold for every job of the stack, not only those with fp32 master weights.

* deepspeedai/DeepSpeed engine.py ``allreduce_gradients`` (ZeRO-0/1 reduce after ``loss.backward()`` returns; stage 1
  with ``overlap_comm`` forced off by ``_configure_zero_optimizer``), stage3.py ``reduce_and_partition_stream`` and
  parameter_offload.py ``__allgather_stream`` (``default_stream()`` without ``overlap_comm``) do not look at the
  weights. Until left47 they were fields of ``ZeroStageStates`` read through ``zero_state_rows``, which has no rows for
  ``weights: pure`` / ``amp``: such a ZeRO-1 job hid its reduce under the backward (0.675 s where DeepSpeed runs
  0.704 s) and a ZeRO-3 one without ``overlap_comm`` its gathers and reduce-scatters (0.660 s, now 0.770 s).
* DeepSpeed has no 16-bit-master mode at ZeRO-0: config.py ``_do_error_check`` 'Bf16_master_weights_and_grads is
  only supported with ZeRO Stage 1, 2, or 3.' (the fp16 one likewise); BF16_Optimizer / FP16_Optimizer keep fp32
  masters. A ``weights: pure`` ZeRO-0 plan on the DeepSpeed stacks is refused.
"""

import numpy as np
import pytest

from benchmarks.validate_offload import estimate
from planner.model.stack_rules import RULES
from planner.model.stacks import STACKS, ZERO_STREAMS, zero_stream_rows
from test_offload47 import ds_job


def _job(zero, overlap, weights, framework="deepspeed"):
    return ds_job(zero, overlap, weights, framework=framework)


def _line(res):
    return next(a for a in res["assumptions"] if a.startswith("training stack:"))


def test_the_stream_rows_are_the_stacks_not_the_jobs():
    """One lookup per stack (no TrainingSpec): DeepSpeed's ZeRO-0/1 reduce after the backward, stage 3 moves to the
    compute stream without overlap_comm; the pipeline engine the same; stacks without a ZeRO table have none."""
    rows = zero_stream_rows(STACKS["deepspeed"])
    assert [r.reduces_in_backward for r in rows] == [False, False, True, True]
    assert [r.z3_streams_by_overlap for r in rows] == [False, False, False, True]
    assert zero_stream_rows(STACKS["megatron-deepspeed"]) == ZERO_STREAMS["deepspeed-pipe"] == rows
    assert zero_stream_rows(STACKS["torchtitan"]) is None and zero_stream_rows(STACKS["megatron-core"]) is None


@pytest.mark.parametrize("weights", ["pure", "amp"])
def test_zero1_without_fp32_masters_reduces_after_the_backward(weights):
    """Llama 3 8B ZeRO-1 on 8 H100, one micro-batch: overlap_comm changes nothing (0.704 s both ways, the fp32-master
    job's figure); before left47 on read 0.675 s and the line "on"."""
    on, off = (estimate(_job(1, ov, weights)) for ov in (True, False))
    assert on["step_time_s"] == pytest.approx(off["step_time_s"], rel=1e-12)
    assert on["step_time_s"] == pytest.approx(estimate(_job(1, True, "megatron"))["step_time_s"], rel=1e-9)
    assert "overlap_grad_reduce=off (ZeRO-1: reduced after the backward)" in _line(on)


@pytest.mark.parametrize("weights", ["pure", "amp"])
def test_zero3_without_overlap_comm_pays_its_collectives_whatever_the_weights(weights):
    """The same job at ZeRO-3: overlap_comm off exposes the gathers and reduce-scatters whole (comm_zero3 0.034 ->
    0.144 s, step 0.660 -> 0.770 s); before left47 off and on read the same for these weights."""
    on, off = (estimate(_job(3, ov, weights)) for ov in (True, False))
    z_on, z_off = on["breakdown_s"]["comm_zero3"], off["breakdown_s"]["comm_zero3"]
    assert z_off > 3.0 * z_on
    assert off["step_time_s"] - on["step_time_s"] == pytest.approx(z_off - z_on, rel=1e-6)
    assert "ZeRO-3: gathers and reduce-scatters on the compute stream" in _line(off)


@pytest.mark.parametrize("framework", ["deepspeed", "megatron-deepspeed"])
def test_pure_weights_at_zero0_are_refused_on_deepspeed(framework):
    """DeepSpeed's 16-bit master (``bf16_master_weights_and_grads``) asserts ZeRO 1-3; its ZeRO-0 optimizers keep fp32
    masters: a pure ZeRO-0 plan does not exist there. ZeRO-1 and the fp32-master ZeRO-0 plan still price."""
    with pytest.raises(RuntimeError, match="refused"):
        estimate(_job(0, True, "pure", framework=framework))
    assert estimate(_job(0, True, "megatron", framework=framework))["step_time_s"] > 0
    assert estimate(_job(1, True, "pure", framework=framework))["step_time_s"] > 0
    rules = [r for r in RULES if r.name.endswith("pure-zero0")]
    assert {r.runtime for r in rules} == {"hf", "megatron-deepspeed"}
    assert all("only supported with ZeRO Stage 1, 2, or 3" in r.source for r in rules)


def test_hf_trainer_is_not_refused():
    """The rule reads the stack's ZeRO table: the HF Trainer's DDP (no table) keeps its pure ZeRO-0 plan."""
    assert estimate(_job(0, True, "pure", framework="hf-trainer"))["step_time_s"] > 0
    cands = type("Candidates", (), {"zero": np.arange(4), "__len__": lambda self: 4})()
    from planner.model.step_time import reduce_in_backward
    assert reduce_in_backward(STACKS["hf-trainer"], cands).all()
    assert list(reduce_in_backward(STACKS["deepspeed"], cands)) == [False, False, True, True]


# ---- Megatron target names on a MoE: the shared experts' linear_fc1 / linear_fc2, no router under all-linear
def _lora(preset, framework, targets=None):
    from planner.spec.load import load_job_dict

    lora = {"rank": 32, "alpha": 64} | ({"targets": targets} if targets else {})
    tr = {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "precision": "bf16", "mode": "lora", "lora": lora,
          "tokens": 5e8, "framework": {"name": framework}}
    j = load_job_dict({"model": {"preset": preset}, "training": tr, "parallel": {"tp": 1, "pp": 1, "zero": 1},
                       "cluster": {"instance": "aws:p5en.48xlarge", "nodes": 1}})
    return j.model, j.training


def _on(m, t):
    from planner.model import finetune as F

    return {L.name: (L, r) for mo, _, _, L, r in F.adapted(m, t) if mo and r}


def test_linear_fc1_reaches_the_shared_experts():
    """DeepSeek-V2-Lite (2 shared experts) on megatron-bridge, targets [linear_fc1]: Megatron-Bridge's
    ``ModuleMatcher.match`` takes any module named ``linear_fc1``, so ``mlp.shared_experts.linear_fc1`` (gate + up
    fused, one adapter at rank r: 32 x (2048 + 2 x 2816)) is adapted beside the routed experts'. Before left47 the
    planner kept the shared experts' gate_proj / up_proj apart and the list missed them (4.81M -> 11.2M adapter
    parameters)."""
    from planner.model import finetune as F

    m, t = _lora("deepseek-v2-lite", "megatron-bridge", ["linear_fc1"])
    on = _on(m, t)
    assert set(on) == {"experts.linear_fc1", "shared_experts.linear_fc1"}
    L, r = on["shared_experts.linear_fc1"]
    width = m.moe.shared_ffn_hidden or m.moe.shared_experts * m.ffn_hidden
    assert (L.fan_in, L.fan_out, L.parts, r, L.copies) == (m.hidden, 2 * width, ("gate_proj", "up_proj"), 32, 1)
    experts = on["experts.linear_fc1"][0]
    per_layer = 32 * (m.hidden + 2 * width) + 32 * (experts.fan_in + experts.fan_out)
    dense = (m.layers - m.moe_layers) * 32 * (m.hidden + 2 * m.dense_width)  # the dense first layer's linear_fc1
    assert F.adapter_params(m, t) == m.moe_layers * per_layer + dense
    assert set(_on(*_lora("deepseek-v2-lite", "megatron-bridge", ["linear_fc2"]))) == {
        "experts.linear_fc2", "shared_experts.linear_fc2"}


def test_all_linear_leaves_the_router_on_megatron_only():
    """Megatron-Bridge's default target list (linear_qkv, linear_proj, linear_fc1, linear_fc2) has no ``router``: on
    the Megatron-Core stacks ``all-linear`` adapts no router (Qwen3-30B-A3B: 39.9M -> 36.6M adapter parameters, 48 x
    32 x (2048 + 128) fewer); peft's all-linear (hf-trainer) still converts the router into a target parameter; a
    list naming ``router`` reaches it on Megatron."""
    from planner.model import finetune as F

    m, t = _lora("qwen3-30b-a3b", "megatron-bridge")
    assert not any(n in ("gate", "router") for n in _on(m, t))
    hf = _lora("qwen3-30b-a3b", "hf-trainer")
    assert "gate" in _on(*hf)
    named = _lora("qwen3-30b-a3b", "megatron-bridge", ["linear_fc1", "linear_fc2", "router"])
    assert "router" in _on(*named)
    without = F.adapter_params(*_lora("qwen3-30b-a3b", "megatron-bridge", ["linear_fc1", "linear_fc2"]))
    assert F.adapter_params(*named) - without == m.moe_layers * 32 * (m.hidden + m.moe.experts)
    # 36,569,088 at left47; left47b fused q/k/v into linear_qkv's one adapter: 48 x 32 x 2 x 2048 fewer
    assert F.adapter_params(m, t) == 36569088 - 48 * 32 * 2 * 2048 == 30277632
