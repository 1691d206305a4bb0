"""bert52: the 2021-22 Megatron-LM BERT runs its LM head on every position.

Legacy Megatron-LM's megatron/model/bert_model.py (and microsoft/Megatron-DeepSpeed's copy) calls ``BertLMHead`` --
dense, gelu, layernorm, ``parallel_lm_logits`` -- on the whole encoder output in ``post_language_model_processing`` and
takes ``vocab_parallel_cross_entropy`` over every position; ``pretrain_bert.py`` ``loss_func`` masks the per-token loss
after. So ``megatron-lm`` and ``megatron-deepspeed`` refuse ``training.head_tokens_per_seq`` (rules
``megatron-lm-head-positions``, ``megatron-deepspeed-head-positions``), as the Megatron-Core stacks do since cpmem51;
until bert52 both took it and priced the head and its logits on the masked rows only.
"""
from __future__ import annotations

import pytest

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
