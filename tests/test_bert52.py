"""bert52: the 2021-22 Megatron-LM BERT runs its LM head on every position.

Legacy Megatron-LM's megatron/model/bert_model.py (and microsoft/Megatron-DeepSpeed's copy) calls ``BertLMHead`` --
dense, gelu, layernorm, ``parallel_lm_logits`` -- on the whole encoder output in ``post_language_model_processing`` and
takes ``vocab_parallel_cross_entropy`` over every position; ``pretrain_bert.py`` ``loss_func`` masks the per-token loss
after. So ``megatron-lm`` and ``megatron-deepspeed`` refuse ``training.head_tokens_per_seq`` (rules
``megatron-lm-head-positions``, ``megatron-deepspeed-head-positions``), as the Megatron-Core stacks do since cpmem51;
until bert52 both took it and priced the head and its logits on the masked rows only.

(2) torch < 1.11 keeps each softmax's input for the backward (``Stack.softmax_keeps_input``): the HF Trainer BERT-large
V100 rows (torch 1.10) split by batch (-6..-10% at batch 4, +1..+8% at batch 1) until bert52; and
benchmarks/allocator_replay.py's pool, which showed the caching allocator was not the cause.
"""
from __future__ import annotations

import pytest
import torch

from conftest import answered, bert_large_job, refused, write_job
from planner.model.stacks import STACKS
from planner.spec import TrainingSpec


@pytest.mark.parametrize("framework", ["megatron-lm", "megatron-deepspeed"])
def test_legacy_megatron_bert_runs_its_head_on_every_position(tmp_path, cli, framework):
    """The stack says where its head runs (``head_seq`` None: every position) and refuses the field in one line,
    exit 2 (the old code answered, its head priced on 80 of 512 rows); without the field the job runs."""
    t = TrainingSpec(seq_len=512, global_batch=64, head_tokens_per_seq=80)
    assert STACKS[framework].head_on_masked_positions is False and STACKS[framework].head_seq(t) is None
    line = refused(cli("estimate", write_job(tmp_path, bert_large_job(framework, 80, "bf16")), "--json"))
    assert line.startswith("error: training.head_tokens_per_seq: ") and "every position" in line, line
    assert "legacy Megatron BERT" in line, line
    answered(cli("estimate", write_job(tmp_path, bert_large_job(framework, None, "bf16"), "all.yaml"), "--json"))


# -- (2) torch < 1.11 keeps each softmax's input: the HF BERT V100 rows' split by batch ----------------------------------
def _hfdoc_row(rid: str, **job):
    """(model, training, candidates, stack) of one validate_memory HF Trainer row, the job fields ``job`` replaced."""
    import pandas as pd
    from benchmarks.validate_memory import DATA, hf_case
    from hardware_catalog import load_catalog

    d = pd.read_csv(DATA)
    m, t, c, st = hf_case(load_catalog(), next(d[d["id"] == rid].itertuples()))
    return m, t.model_copy(update=job), c, st


@pytest.mark.parametrize("rid, batch", [("hfdoc_bertlarge_bs4", 4), ("hfdoc_bertlarge_bs1_ga4", 1),
                                        ("hfdoc_bertlarge_bs4_fp16", 4)])
def test_a_pre_111_torch_keeps_one_more_score_tensor_a_layer(rid, batch):
    """The 2022 page's torch 1.10 saved the softmax's input beside its output (``SoftmaxBackward`` ``self``, gone in
    torch 1.11: pytorch/pytorch#65242): BERT-large's eager attention keeps 24 layers x batch x 16 heads x 512^2
    scores more at the end of the forward, fp32 (under fp16 autocast too: the softmax is on CUDA autocast's fp32 list,
    its input the fp32 masked scores) -- 1.5 GiB at batch 4, 0.375 at batch 1. The old code had no such saves (its
    rows -6..-10% at batch 4, +1..+8% at batch 1)."""
    from dataclasses import replace

    from planner.model.memory import memory_per_gpu

    m, t, c, st = _hfdoc_row(rid)
    assert st.softmax_keeps_input  # validate_memory HF_SOFTMAX_KEEPS_INPUT: the page's torch 1.10
    new = memory_per_gpu(m, t, c, stack=st)
    old = memory_per_gpu(m, t, c, stack=replace(st, softmax_keeps_input=False))
    scores = m.layers * batch * m.heads * t.seq_len**2
    assert float(new["activations"][0] - old["activations"][0]) == pytest.approx(4.0 * scores, rel=1e-9)
    assert float(new["total"][0] - old["total"][0]) == pytest.approx(4.0 * scores * 1.05, rel=1e-9)  # + the reserve


def test_no_softmax_no_input_kept():
    """A fused attention kernel (``flash_attention``: sdpa) runs no softmax op of its own, so the flag moves nothing
    there; on today's torch ``SoftmaxBackward0`` keeps the result and no input (the recorded tables, flag off)."""
    from dataclasses import replace

    from planner.model.memory import memory_per_gpu

    m, t, c, st = _hfdoc_row("hfdoc_bertlarge_bs4", flash_attention=True)
    a = [float(memory_per_gpu(m, t, c, stack=replace(st, softmax_keeps_input=k))["activations"][0]) for k in (0, 1)]
    assert a[0] == a[1]
    y = torch.softmax(torch.randn(2, 3, requires_grad=True), dim=-1)
    saved = {n for n in dir(y.grad_fn) if n.startswith("_saved_") and isinstance(getattr(y.grad_fn, n), torch.Tensor)}
    assert saved == {"_saved_result"}, saved


def test_allocator_replay_follows_the_caching_allocators_rules():
    """benchmarks/allocator_replay.py's pool, against c10/cuda/CUDACachingAllocator.cpp's own words: "Small requests
    are packed into 2MB buffers", "requests between 1MB and 10MB will allocate and split a 20MB block", larger ones get
    a segment of their size (rounded to 2 MiB), the smallest cached block that fits is split, and freed neighbours
    merge within their segment. (New with bert52: no old code to fail on but the missing module.)"""
    from benchmarks.allocator_replay import CachingAllocator

    MiB = 2**20
    a = CachingAllocator()
    b1, b2 = a.malloc(8 * MiB), a.malloc(8 * MiB)
    assert a.reserved == 20 * MiB  # two 8 MiB blocks in one 20 MiB segment, 4 MiB of it free
    a.malloc(MiB // 2)
    assert a.reserved == 22 * MiB  # the small pool's own 2 MiB segment
    big = a.malloc(12 * MiB + 1)
    assert a.reserved == 36 * MiB and big.size == 12 * MiB + 512  # a 14 MiB segment (2 MiB rounding), 512 B blocks
    a.free(big)
    part = a.malloc(9 * MiB)  # free: 4 MiB (first segment), 14 MiB: the smallest that fits, split (5 MiB stay free)
    assert a.reserved == 36 * MiB and part.addr == big.addr
    four = a.malloc(4 * MiB)  # the first segment's 4 MiB, not the 5 MiB rest
    assert a.reserved == 36 * MiB and four.addr == b2.addr + 8 * MiB
    a.free(b1)
    a.free(b2)  # neighbours in one segment: one free 16 MiB block
    a.malloc(16 * MiB)
    assert a.reserved == a.max_reserved == 36 * MiB
    assert a.allocated == 16 * MiB + MiB // 2 + 9 * MiB + 4 * MiB
