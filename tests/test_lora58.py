"""lora58: a LoRA plan's rebuild against measured peft runs where hfblk57b left it short -- GPT-2 (its recompute runs
through the down projection's adapter), the MoE blocks (peft's ``ParamWrapper`` over the fused 3-D experts), and
the gradients made before a block's recompute.

tests/data/hfblk57_truth.json (tests/make_hfblk57_truth.py, transformers 5.23 / peft 0.21.2 / torch 2.13 on CPU):
``cases`` (the dense families) and ``moe_cases`` (tiny Mixtral and Qwen3-MoE, LoRA r2 all-linear, transformers'
eager expert loop and ``grouped_mm``). The plan's activations + logits are compared with the step's measured peak
less the adapters' gradients (``test_hfblk57._lora_plan``). No transformers needed here."""
from __future__ import annotations

import pytest

import planner.model.finetune as F
from test_hfblk57 import DATA, _cases, _lora_plan

#: the CPU's autocast op lists for the tables a GPU plan takes CUDA's for (activations_hf ``hf_table_precision``: the
#: LayerNorm families only): CUDA autocast runs LayerNorm and GPT-2's ``pow`` in fp32 and a dropout mask is 1 B; a
#: bf16 base's CPU run is the pure-bf16 table with autocast's adapter copies (``frozen_delta_parts``)
CPU_TABLE = {"amp_bf16_cuda": "amp_bf16", "amp_bf16_w16_cuda": "bf16", "bf16_cuda": "bf16"}

GPT2 = [c for c in _cases(("lora_amp", "lora_bf16")) if c["family"] == "gpt2" and c["attn_implementation"] == "eager"]
MOE = DATA["moe_cases"]


def _ids(c):
    return f"{c['family']}-{c.get('experts', '')}-{c['attn_implementation']}-{c['variant']}-b{c['batch']}s{c['seq']}"


def _ratio(c):
    act, logits = _lora_plan(c)
    return (act + logits) / max(p["peak"] for p in c["phases"])


@pytest.fixture
def cpu_lists(monkeypatch):
    """The plan's tables at the CPU's autocast op lists (the recording's), the mechanisms unchanged."""
    gpu = F.hf_table_precision
    monkeypatch.setattr(F, "hf_table_precision", lambda *a, **k: CPU_TABLE.get(gpu(*a, **k), gpu(*a, **k)))


@pytest.mark.parametrize("c", GPT2, ids=_ids)
def test_gpt2_lora_plan_at_the_cpu_lists(c, cpu_lists):
    """GPT-2's output dropout saves its mask after ``c_proj``, so the recompute runs through the down projection's
    adapter and peaks at ``lora_B(...) * scaling`` (the live set's peak op): ``adapter_cast_transient`` now prices
    that frame for the LayerNorm families too (the MLP's input, down's input and base output, peft's fp32 copy, and
    ``lora_B``'s output and the scaled product). At the CPU's op lists the plan is -1.0..+3.2 % of the measured peak
    since lora58b (the frozen embedding's output, a tensor apart from block 0's input on GPT-2, at its fp32 dtype, and
    the rebuilt layer's adapter casts; -2.1..+2.5 % with ``emb_out``'s 2 B; -15.7..-13.2 % before lora58: none was
    priced for GPT-2; every case fails the lower bound there)."""
    assert 0.985 < _ratio(c) < 1.035


@pytest.mark.parametrize("c", GPT2, ids=_ids)
def test_gpt2_lora_gpu_plan_above_the_cpu_run(c):
    """The GPU plan itself (CUDA's lists: fp32 LayerNorm copies, the tanh-GELU's fp32 intermediates) is above the
    CPU's measured peak: +6.2..+11.3 % over an fp32 base, +22..+27 % over a bf16 base (where CUDA autocast runs the
    LayerNorms on fp32 copies the CPU does not make; lora58b added the embedding's fp32 output and the adapter casts). Before lora58 the fp32 base's -5.6 / -7.7 % hid a -13..-16 %
    miss at the CPU's own lists."""
    assert 1.0 < _ratio(c) < 1.27


@pytest.mark.parametrize("c", MOE, ids=_ids)
def test_moe_lora_plan_band(c):
    """Tiny Mixtral / Qwen3-MoE LoRA r2 all-linear (the routed experts through peft's ``ParamWrapper``): the
    backward's whole 3-D gradients of the materialised ``W + delta`` (the eager loop's ``select_backward`` copies and
    their out-of-place sum, grouped_mm's) are the activations' (``_block_backward(experts_wrapped=True)``), and under
    grouped_mm over an fp32 base the kept ``W + delta`` and routed rows are fp32 (no per-slice bf16 cast:
    ``frozen_delta_parts``): -0.3..+10.6 % of the measured peak since lora58d (eager loop -0.3..+6.9 %; the +10.6 %
    at (1, 64), where the tiny experts' weights outweigh the tokens). lora58d: Qwen3-MoE grouped_mm eager over a bf16
    base at (2, 128) peaks in the attention's softmax backward (three fp32 (b, H, s, s)), which the grouped walk
    priced at k x T elements (its MoE branch reassigned the score count): -2.5 -> +3.9 %, as the eager loop's
    +3.4 % on the same run; the lower bound fails on the code before lora58d there. lora58c: grouped_mm's multiply
    makes both its gradients in the product's fp32 before the down output's cast, ``ParamWrapper``'s adapter copies
    priced, and the recording's out-of-place ``index_put`` (its dispatch mode's, not the GPU step's) taken out; it was
    -2.5..+10.6 % (lora58c), -4.3..+10.4 % (lora58b), -2.6..+11.4 % with ``emb_out``'s double count, -55.8..+2.8 %
    before lora58."""
    assert 0.99 < _ratio(c) < 1.11


def test_moe_cases_recorded():
    """The MoE recording: both families, both experts kernels, both attentions, both LoRA bases, both shapes; the
    step's peak falls in the last block's backward in every case."""
    assert len(MOE) == 32
    assert {(c["family"], c["experts"]) for c in MOE} == {(f, e) for f in ("mixtral", "qwen3_moe")
                                                          for e in ("eager", "grouped_mm")}
    for c in MOE:
        top = max(c["phases"], key=lambda p: p["peak"])
        assert top["phase"] == f"block{c['layers'] - 1}"


def test_adapter_output_grad_and_wrapped_experts_at_scale():
    """The down adapter's scaled output gradient at Llama-3.1-8B, 8,192 tokens: 2 B x 4,096 a token (64 MiB); none
    where down has no adapter or on GPT-2 (its dropout's backward runs first). Mixtral's "all-linear" adapts its fused
    experts through ``ParamWrapper``; q/k/v/o do not."""
    from planner.spec import ModelSpec, TrainingSpec
    from planner.spec.presets import PRESETS

    def job(targets):
        return TrainingSpec(mode="lora", precision="bf16", seq_len=8192, micro_batch=1, global_batch=8,
                            framework={"name": "hf-trainer"}, lora=dict(rank=16, alpha=32, targets=targets))

    llama = ModelSpec(**dict(PRESETS["llama3.1-8b"]))
    assert F.adapter_output_grad(llama, job("all-linear"), 8192, 1) == 8192 * 2 * 4096
    assert F.adapter_output_grad(llama, job(["q_proj", "v_proj"]), 8192, 1) == 0.0
    mixtral = ModelSpec(**dict(PRESETS["mixtral-8x7b"]))
    assert F.experts_param_wrapped(mixtral, job("all-linear"))
    assert not F.experts_param_wrapped(mixtral, job(["q_proj", "k_proj", "v_proj", "o_proj"]))
    assert not F.experts_param_wrapped(llama, job("all-linear"))
