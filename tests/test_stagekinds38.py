"""A pipeline stage's activations from its own layers, not the mean layer (stagekinds38, 2026-12-05).

memory.stage_activations multiplied a rank's layer-micro-batches by the model's mean layer's saved bytes
(activations.mean_layer_activation_bytes), while the stage's parameters already counted each layer's own
(memory_stages.layer_params). Where a model's layers differ -- DeepSeek-V3's / Kimi K2's first dense layers among MoE ones,
a hybrid's Mamba, attention and MLP blocks -- each rank now sums its own layers' saves (memory_activations.layer_kind_saves,
stage_kind_bytes). The hand values below come from the per-kind table (activations.layer_activation_bytes) and the
layout cut by hand; every check reads the old mean layer otherwise, and fails on the code before it.
"""
from __future__ import annotations

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import memory as M
from planner.model import memory_activations as MA
from planner.model.activations import (layer_activation_bytes, recompute_working_set, saved_softmax_fp32,
                                       stack_table_kw)
from planner.model.stacks import from_training, recompute_modules
from planner.spec import load_job_dict
from planner.vocab import SCHEDULE

SEQ = 4096
#: Megatron-Bridge's DeepSeek-V3 layout: the embedding and 4 layers (3 dense + 1 MoE) on rank 0, 4 MoE layers on each
#: of the next 14, the last one, the MTP depth and the loss on rank 15
ET4 = "Et*4|" + "t*4|" * 14 + "tmL"


def _job(preset, pp, ep=1, layout=None, recompute="none", fw=None):
    framework = {"name": "megatron-core", **({"pp_layout": layout} if layout else {}), **(fw or {})}
    return load_job_dict({"model": {"preset": preset},
                          "training": {"seq_len": SEQ, "global_batch": 1024, "micro_batch": 1, "precision": "bf16",
                                       "recompute": recompute, "tokens": 1e11, "framework": framework},
                          "parallel": {"tp": 1, "pp": pp, "dp": 8, "ep": ep, "zero": 1},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": max(pp, 1)}})


def _cands(pp, ep=1):
    return Candidates(tp=np.array([1]), pp=pp, dp=8, cp=1, ep=ep, vpp=1, zero=1, mb=1, rc=0, sp=False,
                      schedule=SCHEDULE.code["1f1b"], gpus_per_node=8, nodes=max(pp, 1))


def _table(j, ep):
    """(one layer's saved bytes of a kind, its rebuild working set) at the job's settings (the table's keywords as
    memory_activations.layer_saves passes them), micro-batch 1, TP 1, CP 1, no recompute."""
    m, t = j.model, j.training
    st = from_training(t)
    kw = dict(tp=1, cp=1, sp=False, ep=ep, recompute=0, flash=t.flash_attention, dropout=t.dropout, act_bytes=2.0,
              fp32_softmax=saved_softmax_fp32(st, m, SEQ, 1, 1, 1, 2.0),
              **stack_table_kw(st, t.precision, recompute_modules(t, st, m), m))

    def saves(**k):
        return float(layer_activation_bytes(m, SEQ, 1, **k, **kw))

    def rws(**k):
        return float(recompute_working_set(m, SEQ, 1, cp_a2a=1, **k, **kw))
    return saves, rws


def test_deepseek_v3_et4_rank0_holds_three_dense_and_one_moe_layer():
    """DeepSeek-V3 on Megatron-Bridge's Et*4 layout, PP16 1F1B, no recompute: rank 0 holds 3 dense + 1 MoE layers
    x 16 micro-batches plus the embedding's output, rank 1 four MoE layers x 15. By the table a dense layer saves
    373 KB a token and an MoE one 489 (mean 484): rank 0's four 1,610 KB a token, not 4 x 484 = 1,935 (17% over),
    and the peak moves from rank 0 (16 x 1,935 + the embedding's output at the mean) to rank 1 (15 x 4 x 489)."""
    j = _job("deepseek-v3", 16, ep=8, layout=ET4)
    m, st = j.model, from_training(j.training)
    saves, rws = _table(j, 8)
    d, e = saves(moe=False), saves(moe=True)
    mean = (3 * d + 58 * e) / 61
    assert d / SEQ / 1e3 == pytest.approx(373.4, abs=0.1) and e / SEQ / 1e3 == pytest.approx(489.4, abs=0.1)
    c = _cands(16, ep=8)
    emb = SEQ * m.hidden * 2.0
    rank0, rank1 = 16 * (3 * d + e) + emb, 15 * 4 * e
    assert rank1 > rank0 and 16 * 4 * mean + emb > 15 * 4 * mean  # the peak rank moved
    act = float(M.memory_per_gpu(m, j.training, c, stack=st)["activations"][0])
    assert act == pytest.approx(rank1 + max(rws(moe=False), rws(moe=True)), rel=1e-9)
    w0, w1, wl = MA.stage_kind_bytes(m, st, c, {"dense": np.array([d]), "moe": np.array([e])})
    assert 4 * w0[0] == pytest.approx(3 * d + e, rel=1e-12)
    assert 4 * w1[0] == pytest.approx(4 * e, rel=1e-12) and wl[0] == pytest.approx(e, rel=1e-12)


def test_hybrid_ranks_sum_their_own_blocks():
    """Nemotron-H 56B (118 blocks: 54 Mamba, 10 attention, 54 MLP) on PP4: Megatron's split of 118 on 4 is 29, 30,
    30, 29 (--decoder-first/last-pipeline-num-layers 29, MambaStack cutting the pattern in order), the ranks
    holding (Mamba, attention, MLP) = (14, 2, 13), (13, 3, 14), (14, 3, 13), (13, 2, 14). Each rank's saves are
    its own blocks' by the table; the peak over rank 0 (4 in flight, with the embedding's output) and the middle
    ranks, each its own blocks at its own count (3 and 2 in flight; until mem43b rank 1's 3 over the heavier middle
    rank's blocks), the last rank its own (1 in flight). The
    mean block priced every rank by its count alone."""
    j = _job("nemotron-h-56b", 4)
    m, st = j.model, from_training(j.training)
    saves, rws = _table(j, 1)
    kind = {k: saves(kind=k, moe=False) for k in "M*-"}
    pattern = m.hybrid_pattern
    edges = (0, 29, 59, 89, 118)
    held = [tuple(pattern[a:b].count(k) for k in "M*-") for a, b in zip(edges[:-1], edges[1:])]
    assert held == [(14, 2, 13), (13, 3, 14), (14, 3, 13), (13, 2, 14)]
    sums = [sum(kind[b] for b in pattern[a:b]) for a, b in zip(edges[:-1], edges[1:])]
    mean = sum(kind[b] for b in pattern) / 118
    c = _cands(4)
    emb = SEQ * m.hidden * 2.0
    first = max(4 * sums[0] + emb, 3 * sums[1], 2 * sums[2])  # each middle rank at its own count (mem43b)
    last = sums[3]
    rw = max(rws(kind=k, moe=False) for k in "M*-")
    mem = M.memory_per_gpu(m, j.training, c, stack=st)
    act = float(mem["activations"][0])
    assert act == pytest.approx((last if int(mem["stage"][0]) == 1 else first) + rw, rel=1e-9)
    assert abs(first - max(4 * 29 * mean + emb, 3 * 30 * mean)) > 1e-3 * first  # not the mean block's
    w0, w1, wl = MA.stage_kind_bytes(m, st, c, {k: np.array([v]) for k, v in kind.items()})
    assert (29 * w0[0], 30 * w1[0], 29 * wl[0]) == pytest.approx((sums[0], sums[1], sums[3]), rel=1e-12)
    # the second middle rank that can peak (rank 2, other blocks): its own mix (mem43b; until then both ranks
    # took the larger mix, rank 2's, at rank 1's three micro-batches in flight)
    w2 = MA.stage_kind_bytes(m, st, c, {k: np.array([v]) for k, v in kind.items()}, group=1)[1]
    assert 30 * w2[0] == pytest.approx(sums[2], rel=1e-12)


def test_offload_moves_the_first_layers_at_their_own_kind():
    """Activation offload (pp 1): TE's OffloadSynchronizer offloads layers 0 .. N - 1, so with
    --cpu-offloading-num-layers 3 DeepSeek-V3's host holds its three dense layers, 3 x 373 KB a token, not three
    mean layers (3 x 484), and the GPU the 58 MoE layers."""
    j = _job("deepseek-v3", 1, fw={"activation_offload": True, "activation_offload_layers": 3})
    m, st = j.model, from_training(j.training)
    assert st.activation_offload and st.activation_offload_layers == 3
    saves, _ = _table(j, 1)
    d, e = saves(moe=False), saves(moe=True)
    mem = M.memory_per_gpu(m, j.training, _cands(1), stack=st)
    # the host's activations: the three dense layers (one micro-batch in flight at pp 1)
    base = M.memory_per_gpu(m, j.training, _cands(1), stack=from_training(_job("deepseek-v3", 1).training))
    assert float(mem["host"][0] - base["host"][0]) == pytest.approx(3 * d, rel=1e-9)
    host, resident = MA.offload_kind_bytes(m, st, {"dense": np.array([d]), "moe": np.array([e])})
    assert host[0] == pytest.approx(3 * d, rel=1e-12) and resident[0] == pytest.approx(e, rel=1e-12)
