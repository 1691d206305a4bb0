"""stagemem42: each pipeline rank's rebuild peak follows the layer kinds it holds (memory_activations ``stage_kind_rws``), counted
by the one per-rank kind count the step time's pacing rank reads (pipeline ``rank_kind_layers``, step_time
``rank_mix``). Until stagemem42 every rank took the model's largest layer rebuild (``layer_saves``' rws): a rank of
DeepSeek-V3's dense layers an MoE layer's, a hybrid rank without attention blocks the attention block's."""
from __future__ import annotations

import numpy as np
import pytest

from planner.model import memory_activations as MA
from planner.model import pipeline as P
from planner.model import step_time as S
from planner.model.activations import recompute_working_set, saved_softmax_fp32, stack_table_kw
from planner.model.stacks import from_training, recompute_modules
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

SEQ = 4096


def _job(model, pp, layout=None, ep=1, flash=True, recompute="full"):
    fw = {"name": "megatron-core", **({"pp_layout": layout} if layout else {})}
    return load_job_dict({"model": model,
                          "training": {"seq_len": SEQ, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                                       "recompute": recompute, "tokens": 1e11, "flash_attention": flash,
                                       "framework": fw},
                          "parallel": {"tp": 1, "pp": pp, "dp": 8, "ep": ep, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": pp}})


def _rws(j, ep, **k):
    """one layer's rebuild peak of a kind at the job's settings (the keywords memory_activations.layer_saves passes)"""
    m, t = j.model, j.training
    st = from_training(t)
    kw = dict(tp=1, cp=1, sp=False, ep=ep, recompute=2, flash=t.flash_attention, dropout=t.dropout, act_bytes=2.0,
              fp32_softmax=saved_softmax_fp32(st, m, SEQ, 1, 1, 1, 2.0), cp_a2a=1,
              **stack_table_kw(st, t.precision, recompute_modules(t, st, m), m))
    return float(recompute_working_set(m, SEQ, 1, **k, **kw))


def _stages(monkeypatch, j):
    """(first, last) stage activations as estimated, and as every rank at the model's largest rebuild (the old rule)"""
    seen = []
    orig = MA.rank_activations  # (its first and last are what transformer_activations reads: peak42)

    def spy(*a, **k):
        got = orig(*a, **k)
        old = orig(*a[:11]) if len(a) > 11 else got
        if (a[12] if len(a) > 12 else k.get("group", 0)) == 0:  # (a further middle rank's call: mem43b)
            seen.append(((got.first, got.last), (old.first, old.last), a[11] if len(a) > 11 else None))
        return got
    monkeypatch.setattr(MA, "rank_activations", spy)
    estimate_job(j)
    return seen[0]  # the plan's own (moedisp47: estimate's dispatcher advice prices other dispatchers after it)


def test_one_kind_count_for_the_pacing_rank_and_the_memory():
    """DeepSeek-V3's 61 layers (3 dense, 58 MoE) on Megatron-Bridge's PP16 layout: rank 0 holds 3 dense + 1 MoE, the
    middle ranks 4 MoE, the last 1; step_time ``rank_mix`` is that count less each rank's share of the mix."""
    lk = ("dense",) * 3 + ("moe",) * 58
    counts = (4,) * 15 + (1,)
    held = P.rank_kind_layers(P.kind_weights(lk, ("dense", "moe")), counts, 16)
    assert held[:, 0].tolist() == [3.0, 1.0] and held[:, 1].tolist() == [0.0, 4.0] and held[:, 15].tolist() == [0, 1]
    mix = S.rank_mix(61, counts, P.stage_ranks(16, 16), 16, np.r_[np.zeros(3), np.ones(58)])
    assert mix == pytest.approx(held[1] - np.asarray(counts) * 58 / 61)


def test_deepseek_v3_dense_first_rank_rebuilds_a_dense_layer(monkeypatch):
    """DeepSeek-V3 (no MTP) on PP 2 with its three dense layers alone on rank 0 (``Et*3|t*58L``), full recompute, EP 8:
    rank 0 rebuilds dense layers only, 1.53 GB a 4096-token sequence, not the MoE layer's 2.94 (its routed copies and
    the all-to-all dispatcher's); the last rank's 58 MoE layers keep the MoE layer's."""
    j = _job({"preset": "deepseek-v3", "mtp_layers": 0}, 2, "Et*3|t*58L", ep=8)
    d, e = _rws(j, 8, moe=False), _rws(j, 8, moe=True)
    assert e - d > 1.3e9
    (first, last), (first0, last0), rank_rws = _stages(monkeypatch, j)
    assert float(first[0]) == pytest.approx(float(first0[0]) - (e - d), rel=1e-9)  # old: first == first0
    assert float(rank_rws[0][0]) == pytest.approx(d, rel=1e-12)
    assert float(last[0]) == pytest.approx(float(last0[0]), rel=1e-12)  # the MoE rank: as before


def test_hybrid_ranks_without_attention_rebuild_no_attention_block(monkeypatch):
    """Nemotron-H 8B on PP 8 (Megatron's 5, 7 x 6, 5 split of its 52-block pattern): ranks 0 and 7 hold Mamba and
    MLP blocks only, the others one attention block each. Without flash attention the attention block's rebuild
    (its 32 heads' 4096^2 scores) is the model's largest; the last rank's (and the loss beside it) is the largest of
    its Mamba and MLP blocks now. The first stage's peak is a middle rank's, with its attention block: unchanged."""
    j = _job({"preset": "nemotron-h-8b"}, 8, flash=False)
    held = P.rank_kind_layers(P.kind_weights(j.model.hybrid_pattern, ("*", "-", "M")), (5,) + (7,) * 6 + (5,), 8)
    assert held[0].tolist() == [0, 1, 1, 0, 1, 0, 1, 0]
    att, mam, mlp = (_rws(j, 1, kind=k) for k in "*M-")
    assert att > 2 * max(mam, mlp)
    (first, last), (first0, last0), rank_rws = _stages(monkeypatch, j)
    assert float(last[0]) == pytest.approx(float(last0[0]) - (att - max(mam, mlp)), rel=1e-9)  # old: last == last0
    assert float(rank_rws[2][0]) == pytest.approx(max(mam, mlp), rel=1e-12)
    assert float(first[0]) == pytest.approx(float(first0[0]), rel=1e-12)
