"""lora58b: a frozen base's embedding output counted once, and the adapters' autocast weight copies priced.

tests/data/hfblk57_truth.json (tests/make_hfblk57_truth.py, transformers 5.23 / peft 0.21.2 / torch 2.13 on CPU)
records at each step's peak (the largest live bytes less the parameter gradients) the live bytes of the copies made
of peft's ``lora_`` parameters (``peak_adapter_casts``) and of the input embedding's output (``peak_embedding_out``,
``embedding_is_block_input``), with gradient checkpointing (``cases``, ``moe_cases``) and without (``nogc_cases``).
Until lora58b a frozen base's rows added the memory model's ``emb_out`` (2 B x h a token) on top of layers that
already count block 0's input -- the embedding's output in the RMSNorm decoders -- and priced no adapter cast. No
transformers needed here."""
from __future__ import annotations

import pytest

import planner.model.finetune as F
from test_families import FLOPS, _spec
from test_hfblk57 import DATA, _lora_plan

LORA_GC = [c for c in DATA["cases"] if c["variant"].startswith("lora")]
NOGC = DATA["nogc_cases"]
NOGC_LORA = [c for c in NOGC if c["variant"].startswith("lora")]


def _ids(c):
    return f"{c['family']}-{c['attn_implementation']}-{c['variant']}-b{c['batch']}s{c['seq']}"


def _job(c, rank=None):
    from planner.spec import TrainingSpec
    r = rank or DATA["lora_rank"]
    return TrainingSpec(mode="lora", precision="bf16", base_weights="fp32" if c["variant"] == "lora_amp" else "bf16",
                        seq_len=c["seq"], micro_batch=c["batch"], global_batch=c["batch"],
                        framework={"name": "hf-trainer"}, lora=dict(rank=r, alpha=2 * r, targets="all-linear"))


@pytest.mark.parametrize("c", LORA_GC, ids=_ids)
def test_rebuilt_layers_adapter_casts_are_the_measured_ones(c):
    """Under checkpointing the last block's recompute casts its adapters' fp32 weights to bf16 again and the matmuls
    keep the casts: one layer's adapters at 2 B a parameter (4,096 B on every tiny family, r2 all-linear), alive at
    the step's peak -- exactly, but on the RMSNorm decoders' eager bf16-base (2, 128) rows, whose peak falls later in
    the block's backward (1,280 B left alive): the term is the recompute's, an upper bound there."""
    m = _spec(FLOPS[c["family"]])
    per_layer = sum(F.adapter_weight_casts(m, _job(c), 4.0, True, first_layer=False)) / m.layers
    if c["family"] != "gpt2" and c["attn_implementation"] == "eager" and c["variant"] == "lora_bf16" and c["batch"] == 2:
        assert c["peak_adapter_casts"] < per_layer
    else:
        assert per_layer == c["peak_adapter_casts"] == 4096


@pytest.mark.parametrize("c", NOGC_LORA, ids=_ids)
def test_kept_adapter_casts_without_checkpointing(c):
    """Without checkpointing every layer's casts are kept but layer 0's q / k / v ``lora_A`` ones (GPT-2's
    ``c_attn``): its input, the frozen embedding's, needs no gradient (peft's ``enable_input_require_grads`` comes
    with checkpointing), so ``mm`` keeps no weight for it -- the tiny Llama 7,424 B, GPT-2 7,936 B, to the byte."""
    m = _spec(FLOPS[c["family"]])
    assert sum(F.adapter_weight_casts(m, _job(c), 4.0, True)) == c["peak_adapter_casts"]


def test_no_adapter_casts_without_autocast_or_over_16_bit_adapters():
    """Autocast casts nothing where the adapters are bf16 already (FSDP's bf16 gather) and no cast is made without
    autocast."""
    c = LORA_GC[0]
    m = _spec(FLOPS[c["family"]])
    assert sum(F.adapter_weight_casts(m, _job(c), 2.0, True)) == 0.0
    assert sum(F.adapter_weight_casts(m, _job(c), 4.0, False)) == 0.0


@pytest.mark.parametrize("c", LORA_GC + NOGC, ids=_ids)
def test_the_embedding_output_held_apart(c):
    """The embedding's output at the step's peak: under checkpointing a leaf (peft's ``enable_input_require_grads``)
    held by its ``AccumulateGrad`` to the end -- block 0's input itself on the RMSNorm decoders (the layers count it),
    a tensor of its own in the embedding's dtype on GPT-2 (learned positions added, dropout, before block 0); without
    checkpointing a frozen base keeps none of it. ``frozen_embedding_bytes`` x the tokens x h is the part held apart
    from the layers: exactly the recorded one."""
    m = _spec(FLOPS[c["family"]])
    if not c["variant"].startswith("lora"):  # full training for contrast: the trained embedding feeds block 0 alone
        assert c["peak_embedding_out"] == (0 if c["family"] == "gpt2" else c["batch"] * c["seq"] * m.hidden * 4)
        return
    gc = c in LORA_GC
    stream = F.STREAM_FP32 if c["variant"] == "lora_amp" else F.STREAM_BF16
    apart = float(F.frozen_embedding_bytes(m, _job(c), 2 if gc else 0, stream)) * c["batch"] * c["seq"] * m.hidden
    held = c["peak_embedding_out"]
    assert held > 0 if gc else held == 0
    assert apart == (0 if c["embedding_is_block_input"] else held)


def test_plan_counts_the_embedding_output_once():
    """The tiny Llama LoRA over fp32 (1, 64): the plan's activations + logits 503,048 -> 498,952 B against the measured
    498,440 (+0.92 % -> +0.10 %): the layers' keep holds both blocks' inputs, the embedding's output among them."""
    c = next(x for x in LORA_GC if (x["family"], x["attn_implementation"], x["variant"], x["batch"])
             == ("llama", "eager", "lora_amp", 1))
    act, logits = _lora_plan(c)
    assert act + logits == 498952


def test_llama_8b_lora_at_scale():
    """Llama-3.1-8B LoRA r16 all-linear over bf16 under the HF Trainer, 8,192 tokens, DP8, checkpointing: the
    embedding's output counted once takes 64 MiB off the activations (8,192 x 4,096 x 2 B), the rebuilt layer's
    adapter casts add 2.5 MiB (2 B x 1,310,720 adapter parameters a layer)."""
    from planner.spec import ModelSpec, TrainingSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**dict(PRESETS["llama3.1-8b"]))
    t = TrainingSpec(mode="lora", precision="bf16", seq_len=8192, micro_batch=1, global_batch=8,
                     framework={"name": "hf-trainer"}, lora=dict(rank=16, alpha=32, targets="all-linear"))
    assert sum(F.adapter_weight_casts(m, t, 4.0, True, first_layer=False)) / m.layers == 2 * 1310720
    assert float(F.frozen_embedding_bytes(m, t, 2, F.STREAM_BF16)) == 0.0
