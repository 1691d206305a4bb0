"""lora52: what a frozen MoE base keeps per call under autocast, and at which share a rank keeps it.

* tests/data/peft_truth.json ``amp_moe`` (tests/make_peft_truth.py ``amp_moe``; peft 0.21.2, transformers 5.23.0,
  torch 2.13, CPU): LoRA r16 on q/k/v/o over an fp32 tiny Mixtral, Qwen3-MoE and Llama 4 (layer 0 dense, layer 1 MoE)
  under CUDA autocast's op lists, the eager expert loop. The weights LoRA leaves alone are cast to bf16 per call --
  autocast caches the cast of a leaf that requires grad only (aten/src/ATen/autocast_mode.cpp ``cached_cast``), and
  a frozen weight does not, nor is an expert slice a leaf -- and each cast is kept by its matmul for the input's
  gradient. Until lora52 the planner priced such casts on ``nn.Linear``s only: the routed experts' and Mixtral's /
  Qwen3-MoE's router casts were missing (tiny Mixtral -9.9% of the blocks' saves, Qwen3-MoE -5.9%).
* Each part of a block at its own share (memory_activations ``hf_weight_part_shares``): Llama-4-Scout under the HF
  Trainer at TP4 EP4 (the planner's Llama 4 EP plan splits attention and the dense MLP over TP, leaves the router and
  shared expert whole, E / ep experts a rank); until lora52 all but the experts at one parameter-weighted share.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import LORA_TOL, PEFT_TRUTH, lora_job

MOE = PEFT_TRUTH["amp_moe"]


def _job(fam):
    """The family's measured job; Llama 4 with ``moe.all_experts_compute`` (planner.spec.hf ``_llama4_text``: how
    the HF kernel runs it, every expert on every token, which the spec plans only when asked); the stack with the
    eager expert loop the runs recorded (transformers' default is grouped_mm: tests/test_hfmoe52.py)."""
    from dataclasses import replace

    rec = MOE[fam]
    m, t, st = lora_job(rec["config"], rec["base"], targets=rec["lora"]["target_modules"])
    st = replace(st, experts_implementation=rec["experts_implementation"])
    if fam == "llama4_text":
        m = m.model_copy(update={"moe": m.moe.model_copy(update={"all_experts_compute": True})})
    return m, t, st


@pytest.mark.parametrize("fam", sorted(MOE))
def test_the_lora_delta_to_full_training(fam):
    """What peft's frozen base saves less than (or beyond) full training under the same autocast, the blocks' tokens'
    and weights' bytes (``frozen_delta_parts``), against the two runs' difference: exact for all three (Qwen3-MoE's
    -2,048 B on the blocks and Llama 4's +65,536 are the full-training table's). Until lora52: Mixtral -394,240 B
    (its experts' and router's casts), Qwen3-MoE -198,656 B, Llama 4 -49,152 B (its experts' ``torch.bmm`` casts)."""
    from planner.model.finetune import FrozenAutocast, frozen_delta_parts

    m, t, _ = _job(fam)
    run = next(r for r in MOE[fam]["runs"] if not r["gradient_checkpointing"])
    blocks, weights, _ = frozen_delta_parts(m, t, run["seq"], run["batch"], 2.0, False, 4.0, "eager", 4.0,
                                            FrozenAutocast(4.0))
    measured = run["blocks_saved_bytes"] - MOE[fam]["full_blocks_saved_bytes"]
    assert blocks + sum(weights) == pytest.approx(measured, rel=LORA_TOL)


@pytest.mark.parametrize("fam", sorted(MOE))
def test_each_parts_per_call_casts_are_the_measured_ones(fam):
    """The blocks' weight copies a forward keeps (``frozen_delta_parts``' ``BlockWeights``, bf16 casts of the fp32
    base) by part, byte for byte: the attention's q/k/v/o but layer 0's q/k/v (their input needs no gradient), a dense
    layer's MLP, the router and the shared expert, the routed experts. Until lora52 the experts' part was 0 and
    Mixtral's and Qwen3-MoE's router (a bare parameter, ``MixtralTopKRouter`` / ``Qwen3MoeTopKRouter``) uncounted."""
    from planner.model.finetune import FrozenAutocast, frozen_delta_parts

    m, t, _ = _job(fam)
    run = next(r for r in MOE[fam]["runs"] if not r["gradient_checkpointing"])
    _, weights, _ = frozen_delta_parts(m, t, run["seq"], run["batch"], 2.0, False, 4.0, "eager", 4.0,
                                       FrozenAutocast(4.0))
    assert {k: v for k, v in weights._asdict().items() if v} == run["weight_saves_by_part"]


@pytest.mark.parametrize("fam", ["mixtral", "qwen3_moe"])
@pytest.mark.parametrize("gc", [False, True])
def test_the_blocks_saves_of_an_unadapted_moe_under_autocast(fam, gc):
    """L x the per-layer bytes a plan charges against the blocks' saves (the HF Trainer's CUDA autocast over the
    fp32 base). Until lora52 without checkpointing: Mixtral -9.9%, Qwen3-MoE -5.9% (now exact / -0.06%)."""
    from planner.model.finetune import adapter_weight_casts, frozen_layer_activation_bytes, frozen_stream

    m, t, st = _job(fam)
    run = next(r for r in MOE[fam]["runs"] if r["gradient_checkpointing"] == gc)
    whole = next(r for r in MOE[fam]["runs"] if not r["gradient_checkpointing"])
    keep, rebuild = frozen_layer_activation_bytes(m, t, run["seq"], run["batch"], 2 if gc else 0,
                                                  frozen_stream(t, st, 0), stack=st, adapter_bytes=4.0)
    assert not run["dropout_masks"]  # none to count at a GPU's 1 B an element (lora_gpu_blocks)
    # the adapters' autocast copies the plan keeps without checkpointing (lora58b), which the recording files apart
    casts = sum(adapter_weight_casts(m, t, 4.0, True))
    assert m.layers * float(keep) - (0.0 if gc else casts) == pytest.approx(run["blocks_saved_bytes"], rel=LORA_TOL)
    if gc:  # the rebuilt layer's saves, and the rebuild term above them by the gradients in flight (hfblk57)
        saves, _ = frozen_layer_activation_bytes(m, t, run["seq"], run["batch"], 0, frozen_stream(t, st, 0), stack=st,
                                                 adapter_bytes=4.0)
        saves = float(saves) - casts / m.layers
        assert m.layers * float(saves) == pytest.approx(whole["blocks_saved_bytes"], rel=LORA_TOL)
        assert float(rebuild) > float(saves)


def test_llama4_scout_keeps_each_parts_casts_at_its_share(monkeypatch):
    """LoRA q/k/v/o over an fp32 Llama-4-Scout, HF Trainer (autocast), TP4 EP4: the weight-sized bytes a rank keeps
    per forward -- the tokens' bytes are linear in the micro-batch, so 2 x keep(1) - keep(2) -- are the bf16 casts
    counted from the config at the plan's shares: the attention whole under a TP plan that leaves it so (layer 0's
    q/k/v none), the router and the shared expert over TP, 16 / 4 experts (until hfep52: an older EP plan's attention
    over TP, router and shared expert whole); to 1e-4, the tokens' table having a per-micro-batch constant of its own
    (2.29 MB at TP1, the same over a bf16 base, which casts nothing). Until lora52: 14.38 GB for 61.90 (the
    experts' casts missing, the rest at the parameter-weighted share); the shared expert at that share instead of
    whole would be 8.6 GB low, the attention at it instead of 1 / 4 0.24 GB high."""
    from planner.model import moe as moe_mech
    from planner.model.finetune import frozen_stream
    from planner.model.memory_activations import frozen_layer_saves
    from planner.model.stacks import from_training
    from planner.spec import ModelSpec, TrainingSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["llama4-scout"])
    t = TrainingSpec(mode="lora", precision="bf16", base_weights="fp32", seq_len=4096, framework={"name": "hf-trainer"},
                     lora=dict(rank=16, alpha=32, targets=["q_proj", "k_proj", "v_proj", "o_proj"]))
    st = from_training(t)
    one = np.array([1])
    # transformers 5.23 has no Llama 4 EP plan and refuses EP > 1 (rule hf-no-ep-plan, hfmoe52): the mechanism --
    # each part at its plan's share -- under a TP plan that leaves the attention whole (DeepSeek-V3's kind; hfep52:
    # the TP plan stays on all but the experts under EP, which lora52's older EP plan held whole with the router and
    # shared expert)
    monkeypatch.setitem(moe_mech.HF_TP_PLANS, "llama4_text",
                        moe_mech.HfTpPlan(False, True, "a plan leaving attention whole"))

    def keep(mb):
        k, _ = frozen_layer_saves(m, t, st, 4096, 4 * one, one, 0 * one, mb * one, 0 * one, 4 * one,
                                  frozen_stream(t, st, 0 * one))
        return m.layers * float(k[0])

    h, e = m.hidden, m.moe
    qkv, o = h * (m.q_dim + 2 * m.kv_dim), m.q_dim * h
    attention = m.layers * (qkv + o) - qkv  # layer 0's q/k/v input needs no gradient
    whole = m.layers * (h * e.experts + 3 * h * e.shared_ffn_hidden)  # router, shared expert
    experts = m.layers * e.experts * 3 * h * m.ffn_hidden
    # lora58b: the r16 adapters' own autocast copies (fp32 adapters), with the attention's part: whole (layer 0's q/k/v
    # ``lora_A`` none)
    adapters = 16 * (m.layers * (2 * (h + m.q_dim) + 2 * (h + m.kv_dim)) - 3 * h)
    assert m.moe_layers == m.layers and not m.qkv_bias
    assert 2 * keep(1) - keep(2) == pytest.approx(2.0 * (attention + adapters + whole / 4 + experts / 4), rel=1e-4)
