"""cpmem51: three memory items left by session 50.

(1) Context parallelism splits the sequence, not the weights: the bf16 casts autocast makes of an fp32 frozen base per
call (torch autocast_mode.cpp ``cached_cast`` caches only leaves that require grad) are the size of the rank's weight
shard whatever the CP degree. Until cpmem51 ``memory_activations.layer_saves`` divided them by cp with the tokens'
saves (``finetune.frozen_layer_activation_bytes``' one ``split``), and by the activations' TP share, not the weights'.
(2) Megatron-Core's BERT runs its LM head on every position (bert_model.py ``BertModel.forward``): its stacks refuse
``training.head_tokens_per_seq`` (rule ``mcore-head-positions``); until cpmem51 they took it.
(3) QLoRA's NF4 storage with double quantisation (QLoRA paper Sec. 3: 8/64 + 32/(64 x 256) = 0.127 bit a parameter
of scales) and DeepSpeed's module cast, which leaves the packed uint8 weights and their quant state alone: checked, no
change (those two tests pass on the old code too).
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import PEFT_TRUTH, answered, bert_large_job, lora_job, refused, write_job
from planner.model.memory import memory_per_gpu
from planner.model.stacks import STACKS, resolve
from planner.spec import TrainingSpec

sys.path.insert(0, str(Path(__file__).parent))
from test_step_time import LLAMA, cands  # noqa: E402

GiB = 2**30


def _lora_job(base: str = "fp32") -> TrainingSpec:
    return TrainingSpec(seq_len=4096, global_batch=8, micro_batch=1, precision="bf16", weights="amp", recompute="none",
                        mode="lora", base_weights=base, framework={"name": "hf-trainer"},
                        lora=dict(rank=16, targets="all-linear"))


def _adapter_casts(base: str = "fp32", tp: int = 1) -> float:
    """Autocast's bf16 copies of the fp32 adapters the adapters' matmuls keep (lora58b: finetune
    ``adapter_weight_casts``, every layer's but layer 0's q / k / v ``lora_A``), weight-sized too, over TP."""
    from planner.model.finetune import adapter_weight_casts
    return sum(adapter_weight_casts(LLAMA, _lora_job(base), 4.0, True)) / tp


def _fp32_lora_activations(tp, cp):
    """Llama-3-8B LoRA r16 all-linear over an fp32 base under the HF Trainer's bf16 autocast, 4,096 tokens, no
    recompute, ZeRO-0: the activation term a GPU at each (tp, cp)."""
    t = _lora_job()
    c = cands(tp=tp, cp=cp, zero=0, rc=0)
    return np.asarray(memory_per_gpu(LLAMA, t, c, stack=_no_ring())["activations"], dtype=np.float64)


def _no_ring():
    """The HF Trainer without its torch CP ring's backward buffers (mem55 prices them on frozen bases too): a
    transient of the CP degree, not of the tokens' saves or the casts these tests split."""
    return replace(resolve("hf-trainer"), torch_cp_ring=False)


def _cast_bytes(tp: int = 1) -> float:
    """The frozen linears' per-call bf16 casts kept for backward, counted from the model alone: 2 B a weight element of
    every linear in the 32 layers but layer 0's q / k / v (its input needs no gradient), over TP."""
    h, q, kv, ffn = LLAMA.hidden, LLAMA.heads * (LLAMA.hidden // LLAMA.heads), 1024, LLAMA.ffn_hidden
    layer = h * q + 2 * h * kv + q * h + 3 * h * ffn
    return 2.0 * (LLAMA.layers * layer - (h * q + 2 * h * kv)) / tp


def test_context_parallelism_leaves_the_frozen_bases_weight_casts_whole():
    """At CP 2 a rank keeps half its tokens' saves and all of its weight casts: 2 x act(CP2) - act(CP1) is the casts,
    12.95 GiB of the base's (old code: 0, the casts halved with the tokens) and, since lora58b, the adapters' own
    (0.08 GiB); at TP 2 the casts are the rank's half of the weights (old code: 0 again)."""
    act = _fp32_lora_activations(tp=[1, 1, 2, 2], cp=[1, 2, 1, 2])
    assert 2 * act[1] - act[0] == pytest.approx(_cast_bytes() + _adapter_casts(), rel=1e-9)
    assert _cast_bytes() / GiB == pytest.approx(12.95, abs=0.01)
    assert _adapter_casts() / GiB == pytest.approx(0.078, abs=0.001)
    assert 2 * act[3] - act[2] == pytest.approx(_cast_bytes(tp=2) + _adapter_casts(tp=2), rel=1e-9)


def test_a_bf16_base_has_no_weight_casts_to_keep_whole():
    """Over a bf16 base autocast casts no base weight: the layers' saves halve with CP as before (a control: the rule
    moves only the weight-sized part), but for the fp32 adapters' own casts (lora58b), whole at each CP degree."""
    t = _lora_job("bf16")
    act = np.asarray(memory_per_gpu(LLAMA, t, cands(cp=[1, 2], zero=0), stack=_no_ring())["activations"])
    assert act[0] - _adapter_casts("bf16") == pytest.approx(2 * (act[1] - _adapter_casts("bf16")), rel=1e-9)


@pytest.mark.parametrize("framework", ["megatron-core", "nemo"])
def test_megatron_core_bert_runs_its_head_on_every_position(tmp_path, cli, framework):
    """Megatron-Core's ``BertModel.forward`` runs ``lm_head`` and ``output_layer`` on the whole encoder output, so its
    stacks say so (``head_seq`` None) and refuse the masked-positions field in one line, exit 2 (the old code took it
    and priced the head on 20 rows); without the field the job runs."""
    t = TrainingSpec(seq_len=512, global_batch=64, head_tokens_per_seq=80)
    assert STACKS[framework].head_on_masked_positions is False and STACKS[framework].head_seq(t) is None
    line = refused(cli("estimate", write_job(tmp_path, bert_large_job(framework, 20, "bf16")), "--json"))
    assert line.startswith("error: training.head_tokens_per_seq: ") and "every position" in line, line
    answered(cli("estimate", write_job(tmp_path, bert_large_job(framework, None, "bf16"), "all.yaml"), "--json"))


def test_nf4_double_quant_scales_are_the_qlora_papers_0127_bits():
    """QLoRA (Dettmers et al. 2023, Sec. 3 "Double Quantization"): 64-weight blocks with an 8-bit absmax and an fp32
    second-level absmax per 256 blocks, 8/64 + 32/(64 x 256) = 0.127 bit a parameter (32/64 = 0.5 without); a
    4096 x 4096 tensor's per-tensor constants (16 + 256 fp32 codes, the offset) are below 0.001 bit. Passes on the old
    code: the planner priced them already."""
    from planner.model.finetune import quantized_bytes

    n = 4096 * 4096
    bits = lambda dq: (quantized_bytes(n, 4096, "nf4", dq) - n / 2) * 8 / n  # noqa: E731
    assert bits(True) == pytest.approx(8 / 64 + 32 / (64 * 256), abs=1e-3)
    assert bits(False) == pytest.approx(32 / 64, abs=1e-3)


def test_deepspeeds_cast_keeps_the_measured_nf4_storage():
    """DeepSpeed's bf16 engine casts floating tensors only (``module.bfloat16()``): on the tiny Llama's NF4 base the
    quantised part stays the 53,360 B bitsandbytes 0.50.2 measured (tests/data/peft_truth.json: 36,864 packed uint8 +
    absmax 1,152 + codes 896 + offsets 56 + second-level absmax 56 + nested codes 14,336), the fp32 rest goes to 2 B.
    Passes on the old code (lorads50b priced it)."""
    from planner.model.finetune import frozen_storage_bytes, quantized_params
    from planner.spec.params import count_params

    m, t, st = lora_job(PEFT_TRUTH["families"]["llama"]["config"], "nf4", "deepspeed")
    kinds = PEFT_TRUTH["families"]["llama"]["variants"]["qlora_r16_all_linear"]["weight_storage_bytes"]["by_kind"]
    measured = sum(v for k, v in kinds.items() if k.startswith("quant_state") or k == "weight_4bit_packed")
    rest = count_params(m).total - quantized_params(m, t)
    assert frozen_storage_bytes(m, t, st) == measured + 2 * rest
    assert frozen_storage_bytes(m, t) == measured + kinds["frozen_float32"]
