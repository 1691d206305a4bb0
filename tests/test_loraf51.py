"""loraf51: GPT-2 / BERT LoRA over a bf16 base under FSDP2, against peft runs on CPU (tests/data/peft_truth.json
``amp_families`` ``bf16_base_fsdp2``, tests/make_peft_truth.py; peft 0.21.2, transformers 5.23.0, torch 2.13):
LoRA r16 all-linear, ``fully_shard`` of each block and the root with ``MixedPrecisionPolicy(param_dtype=bf16)``
(gloo, one CPU rank; the tiny Llama's ``stream`` case ``bf16_base_fsdp2``), CUDA autocast's op lists, (2, 128),
with and without gradient checkpointing. FSDP2's gathered parameters the matmuls save are its unsharded weights
(told by identity: ``SavedTensors`` kind "param"), freed after the forward and gathered again in backward: apart
from the activations, as for the Llama.

* GPT-2 (peft on ``Conv1D``): exact before and after; the truth moved (the generator counted a layer's ``c_attn``
  ``lora_B`` input as the weight saved again at an address FSDP2's reshard released, and read ``c_fc``'s ``lora_B``
  input, 256 x 16 at 2 x 128 tokens, as its 256 x 16 weight), not the planner;
* BERT (post-LN): FSDP2 casts each block's input to bf16 (``_cast_forward_inputs``), where its stream is its
  LayerNorms' fp32 output under CUDA autocast, so the checkpointed blocks keep bf16 inputs and q / k / v's adapters
  share the one bf16 input: before, kept whole +4.5%, checkpointed +100%; now exact.
"""
from __future__ import annotations


import pytest

from conftest import LORA_TOL, PEFT_TRUTH, lora_gpu_blocks, lora_job

AMP = PEFT_TRUTH["amp_families"]

CASE = "bf16_base_fsdp2"


def _runs():
    for fam in ("gpt2", "bert"):
        for run in AMP[fam]["cases"][CASE]["runs"]:
            yield pytest.param(fam, run, id=f"{fam}-{'gc' if run['gradient_checkpointing'] else 'nogc'}")


def test_the_fsdp2_cases_are_recorded_for_both_layernorm_families():
    for fam in ("gpt2", "bert"):
        c = AMP[fam]["cases"][CASE]
        assert c["fsdp2"] and c["base"] == "bf16" and c["precision"] == "amp_bf16_cuda"
        assert [r["gradient_checkpointing"] for r in c["runs"]] == [False, True]
        # the gathered weights are saved (apart), and none by a checkpointed block
        assert c["runs"][0]["weight_saves_bytes"] > 0 and c["runs"][1]["weight_saves_bytes"] == 0


@pytest.mark.parametrize("fam,run", _runs())
def test_lora_layers_under_fsdp2(fam, run):
    """L x the per-layer bytes a plan charges at ZeRO-3 (the gathered stream) against the blocks' activations (the
    GPU's 1 B dropout masks); checkpointed, the rebuilt layer against the whole one."""
    from planner.model.finetune import frozen_layer_activation_bytes, frozen_stream

    c = AMP[fam]["cases"][CASE]
    m, t, st = lora_job(AMP[fam]["config"], c["base"])
    gc = run["gradient_checkpointing"]
    keep, rebuild = frozen_layer_activation_bytes(m, t, run["seq"], run["batch"], 2 if gc else 0,
                                                  frozen_stream(t, st, 3), stack=st)
    assert m.layers * float(keep) == pytest.approx(lora_gpu_blocks(fam, run, "blocks_activation_bytes"), rel=LORA_TOL)
    if gc:
        whole = next(r for r in c["runs"] if not r["gradient_checkpointing"])
        # the rebuilt layer's saves (rc 0), and the rebuild term above them by the gradients in flight (hfblk57)
        saves, _ = frozen_layer_activation_bytes(m, t, run["seq"], run["batch"], 0, frozen_stream(t, st, 3), stack=st)
        assert m.layers * float(saves) == pytest.approx(lora_gpu_blocks(fam, whole, "blocks_activation_bytes"),
                                                        rel=LORA_TOL)
        assert float(rebuild) > float(saves)


def test_only_a_mixed_dtype_block_is_fsdp2():
    """FSDP1 (``fsdp_version: 1``; accelerate's default, unset here until fsdp52) flattens one dtype a unit, so peft's
    fp32 adapters over a bf16 base run under FSDP2, which casts the blocks' inputs; over an fp32 base FSDP1 casts none:
    BERT's gathered fp32 base keeps the fp32 block inputs (twice the bf16 base's, checkpointed) and the Llama's stream
    is bf16 either way."""
    from planner.model.finetune import frozen_layer_activation_bytes, frozen_stream, gathered_by_fsdp2
    from planner.model.stacks import from_training

    keeps = {}
    for base in ("bf16", "fp32"):
        m, t, st = lora_job(AMP["bert"]["config"], base)
        if base == "fp32":  # FSDP1 named: unset is the HF Trainer's 2 (fsdp52)
            t = t.model_copy(update={"framework": t.framework.model_copy(update={"fsdp_version": 1})})
            st = from_training(t)
        assert gathered_by_fsdp2(st) is (base == "bf16")
        keeps[base] = float(frozen_layer_activation_bytes(m, t, 128, 2, 2, frozen_stream(t, st, 3), stack=st)[0])
    assert keeps["fp32"] == 2 * keeps["bf16"]
    m, t, st = lora_job(PEFT_TRUTH["families"]["llama"]["config"], "bf16")
    m2, t2, _ = lora_job(PEFT_TRUTH["families"]["llama"]["config"], "fp32")
    assert float(frozen_layer_activation_bytes(m, t, 128, 2, 2, frozen_stream(t, st, 3), stack=st)[0]) == float(
        frozen_layer_activation_bytes(m2, t2, 128, 2, 2, frozen_stream(t2, st, 3), stack=st)[0])
