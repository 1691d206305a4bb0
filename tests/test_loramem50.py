"""loramem50: a frozen base's layers where loraamp49 left them unchecked, against peft runs on CPU
(tests/data/peft_truth.json, tests/make_peft_truth.py; peft 0.21.2, transformers 5.23.0, torch 2.13):

* ``stream`` ``bf16_base_fsdp2``: LoRA r16 all-linear on the tiny Llama over a bf16 base under FSDP2
  (``MixedPrecisionPolicy(param_dtype=bf16)``, gloo, one CPU rank) and CUDA autocast's op lists -- the gathered fp32
  adapters are bf16, so q / k / v's ``lora_A`` share one input (finetune ``frozen_stream``: ``STREAM_GATHERED``);
* ``amp_families``: LoRA r16 all-linear on the tiny GPT-2 (peft on ``Conv1D``), BERT (``nn.Linear``) and Mixtral
  (attention, router, the experts' 3-D parameters through peft's ``ParamWrapper``) under CUDA autocast over an fp32
  and over a bf16 base, and pure bf16, with and without gradient checkpointing; the CPU's dropout masks counted at a
  GPU's 1 B an element.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import LORA_TOL, PEFT_TRUTH, lora_gpu_blocks, lora_job

AMP = PEFT_TRUTH["amp_families"]


def test_the_frozen_stream_key_tells_the_gather_from_the_loaded_bf16():
    """Over a bf16 base the stream is bf16 at every ZeRO stage; what FSDP changes is that it gathers the fp32
    adapters bf16 too: its own key (``STREAM_GATHERED``), where an fp32 base's ZeRO-0 is the fp32 stream and
    ``precision: fp32`` autocasts nothing."""
    from planner.model.finetune import STREAM_BF16, STREAM_FP32, STREAM_GATHERED, frozen_stream

    m, t, st = lora_job(PEFT_TRUTH["families"]["llama"]["config"], "bf16")
    assert list(frozen_stream(t, st, [0, 1, 2, 3])) == [STREAM_BF16, STREAM_BF16, STREAM_GATHERED, STREAM_GATHERED]
    m, t, st = lora_job(PEFT_TRUTH["families"]["llama"]["config"], "fp32")
    assert list(frozen_stream(t, st, [0, 3])) == [STREAM_FP32, STREAM_GATHERED]
    t = t.model_copy(update={"precision": "fp32"})
    assert list(frozen_stream(t, st, [0, 3])) == [STREAM_BF16, STREAM_BF16]


@pytest.mark.parametrize("gc", [False, True], ids=["nogc", "gc"])
def test_a_bf16_base_under_fsdp2_shares_the_gathered_adapters_input(gc):
    """The layers kept whole: until loraamp49's "Left" each of q / k / v's fp32 adapters was charged its own input
    copy (the key carried only the stream, bf16 as loaded): +7.1% on the tiny Llama (2 x 128); now exact. FSDP2's
    gathered parameters the matmuls save are its unsharded weights (the weight term), left out as in loraamp49.
    Checkpointed, the blocks keep their bf16 inputs (exact before too) and the layer rebuilt is the one kept whole."""
    from planner.model.finetune import frozen_layer_activation_bytes, frozen_stream

    rec = PEFT_TRUTH["stream"]["bf16_base_fsdp2"]
    assert rec["fsdp2"] and rec["base"] == "bf16"
    run = next(r for r in rec["runs"] if r["gradient_checkpointing"] is gc)
    whole = next(r for r in rec["runs"] if not r["gradient_checkpointing"])
    assert run["embed_out"] == "bfloat16"
    m, t, st = lora_job(PEFT_TRUTH["families"]["llama"]["config"], "bf16")
    keep, rebuild = frozen_layer_activation_bytes(m, t, run["seq"], run["batch"], 2 if gc else 0,
                                                  frozen_stream(t, st, 3), stack=st)
    assert m.layers * float(keep) == pytest.approx(run["blocks_saved_bytes"] if gc else run["blocks_activation_bytes"],
                                                   rel=LORA_TOL)
    if gc:  # the rebuilt layer's saves (rc 0), and the rebuild term above them by the gradients in flight (hfblk57)
        saves, _ = frozen_layer_activation_bytes(m, t, run["seq"], run["batch"], 0, frozen_stream(t, st, 3), stack=st)
        assert m.layers * float(saves) == pytest.approx(whole["blocks_activation_bytes"], rel=LORA_TOL)
        assert float(rebuild) > float(saves)


def _amp_runs():
    for fam, rec in sorted(AMP.items()):
        for case, c in sorted(rec["cases"].items()):
            if c.get("fsdp2"):  # tests/test_loraf51.py
                continue
            for run in c["runs"]:
                yield pytest.param(fam, case, run, id=f"{fam}-{case}-{'gc' if run['gradient_checkpointing'] else 'nogc'}")


@pytest.mark.parametrize("fam,case,run", _amp_runs())
def test_layers_of_other_families_under_autocast_and_pure_bf16(fam, case, run):
    """L x the per-layer bytes a plan charges (a GPU's: the HF Trainer's CUDA autocast over the base, or, for pure
    bf16, a stack that autocasts nothing with the adapters cast as the model) against the blocks' saves. Until
    loramem50, without checkpointing: BERT read as an RMSNorm family (pure -8.7%, autocast over fp32 -10.4%, over
    bf16 -2.2%, and +4.2% once a LayerNorm family, its stream being its LayerNorms' fp32 output under CUDA
    autocast), GPT-2 pure bf16 on the CPU's 2 B masks +10%, Mixtral's fp32 ``W + delta`` under autocast +8.9%;
    GPT-2 under autocast and Mixtral over bf16 / pure were exact before (pinned here). Checkpointed: the blocks'
    inputs (exact before but BERT's, +0.8%: GPT-2's position ids charged to it), the rebuilt layer the whole one."""
    from planner.model.finetune import adapter_weight_casts, frozen_layer_activation_bytes, frozen_stream

    c = AMP[fam]["cases"][case]
    pure = c["precision"] == "bf16"
    m, t, st = lora_job(AMP[fam]["config"], c["base"], "deepspeed" if pure else "hf-trainer")
    st = replace(st, experts_implementation="eager")  # the recorded runs' loop (transformers 5.23's default: grouped_mm)
    assert st.autocasts(t) is not pure
    gc = run["gradient_checkpointing"]
    keep, rebuild = frozen_layer_activation_bytes(m, t, run["seq"], run["batch"], 2 if gc else 0,
                                                  frozen_stream(t, st, 0), stack=st,
                                                  adapter_bytes=2.0 if pure else 4.0)
    # the adapters' autocast copies the plan keeps without checkpointing (lora58b), which the recording files apart
    casts = sum(adapter_weight_casts(m, t, 2.0 if pure else 4.0, st.autocasts(t)))
    assert m.layers * float(keep) - (0.0 if gc else casts) == pytest.approx(lora_gpu_blocks(fam, run), rel=LORA_TOL)
    if gc:
        whole = next(r for r in c["runs"] if not r["gradient_checkpointing"])
        # the rebuilt layer's saves (rc 0), and the rebuild term above them by the gradients in flight (hfblk57)
        saves, _ = frozen_layer_activation_bytes(m, t, run["seq"], run["batch"], 0, frozen_stream(t, st, 0), stack=st,
                                                 adapter_bytes=2.0 if pure else 4.0)
        assert m.layers * float(saves) - casts == pytest.approx(lora_gpu_blocks(fam, whole), rel=LORA_TOL)
        assert float(rebuild) > float(saves)
