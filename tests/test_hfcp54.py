"""hfcp54: the HF Trainer's context parallelism is PyTorch's ``context_parallel`` (accelerate's torch CP), whose ring
backward holds (2 cp + 20) K + 3 Q a rank inside one layer's attention backward (``activations.cp_torch_ring_transient``,
measured in tests/test_mem54.py), K / V at the grouped heads (transformers' ``use_gqa_in_sdpa``: ``enable_gqa=True``).
mem54b found the hf-trainer's rows never priced it: their activations are the HF table's or the walked step's. Now the
table's recompute working set and the walk's fused-kernel backward carry it (memory_activations ``hf_ring_backward``);
and rec54's searched ``fsdp_version`` says it is the Trainer's default where it is."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import planner.model.activations_hf as AH
from planner.model import memory as M
from planner.model.stack_kernels import hf_attn_choice
from planner.model.stacks import resolve
from test_hfwalk44 import _job, _row

GPU = "H100-SXM-80GB"
GiB = 2.0**30


def _activations(preset, seq, ring=True, **row):
    """One row's activations under the HF Trainer, with its torch CP ring priced or (``ring`` False) not."""
    job = _job(preset, "hf-trainer", seq=seq, gb=8)
    st = resolve("hf-trainer")
    if not ring:
        st = dataclasses.replace(st, torch_cp_ring=False)
    mem = M.memory_per_gpu(job.model, job.training, _row(1, **row), stack=st, gpu=GPU)
    return float(mem["activations"][0])


def test_table_rows_take_the_ring_at_the_grouped_heads():
    """Llama-3.1-70B under the HF Trainer, CP 8, PP 2 (the HF table's rows), checkpointed, ZeRO-3: the activations grow
    by the ring's backward buffers at the grouped K/V heads, (2 cp + 20) K + 3 Q -- 0.9375 GiB at 65,536 tokens (8,192
    a rank, TP 1), 3.75 GiB at 262,144, an eighth at TP 8 -- and by nothing at CP 1. Before hfcp54 the hf-trainer did
    not set ``torch_cp_ring`` and its rows read no ring: the ring-free figure."""
    assert resolve("hf-trainer").torch_cp_ring and not resolve("hf-trainer").repeats_kv_heads
    kw = dict(dp=8, pp=2, zero=3, mb=1, rc=2)
    m = _job("llama3.1-70b", "hf-trainer").model
    for seq, tp, want in ((65536, 1, 0.9375), (262144, 1, 3.75), (65536, 8, 0.9375 / 8)):
        k, q = seq / 8 * m.kv_dim * 2 / tp, seq / 8 * m.q_dim * 2 / tp  # the grouped K (1,024 wide), Q (8,192)
        assert (36 * k + 3 * q) / GiB == pytest.approx(want)
        got = _activations("llama3.1-70b", seq, tp=tp, cp=8, **kw) - _activations("llama3.1-70b", seq, False, tp=tp,
                                                                                  cp=8, **kw)
        assert got == pytest.approx(want * GiB, rel=1e-9)
    one = dict(kw, dp=64)
    assert _activations("llama3.1-70b", 65536, tp=1, cp=1, **one) == _activations("llama3.1-70b", 65536, False, tp=1,
                                                                                   cp=1, **one)


def test_walk_holds_the_ring_at_each_fused_kernel_backward():
    """``hf_step_walk``'s ``attn_bwd_extra``: one moment a block (its fused kernel's backward) rises by the amount,
    every other moment as it was, the level after each block unchanged (freed with the kernel's backward). Before
    hfcp54 there was no such parameter (TypeError)."""
    job = _job("llama2-7b", "hf-trainer", seq=4096)
    m, st = job.model, resolve("hf-trainer")
    mt = AH.hf_model_type(m)
    impl = AH.hf_attn_impl(m, job.training.flash_attention, hf_attn_choice(st, m, job.training))
    args = (m, mt, 4096, 1, "amp_bf16", impl, True, False, False, False, False)
    s0, base = AH.hf_step_walk(*args)
    s1, ring = AH.hf_step_walk(*args, attn_bwd_extra=1.0e9)
    assert base.shape == ring.shape
    moved = np.flatnonzero(ring[:, 0] != base[:, 0])
    assert len(moved) == m.layers
    assert np.allclose(ring[moved, 0] - base[moved, 0], 1.0e9, rtol=0, atol=1e-3)
    assert np.array_equal(ring[:, 1:], base[:, 1:])


def test_walked_row_reaches_the_ring():
    """A walked row (PP 1) whose peak is a block's attention backward: llama2-7b (MHA, K at the query width) under the
    HF Trainer, 32,768 tokens, CP 8, TP 1, checkpointed, ZeRO-3: activations grow, by at most the ring's rank bytes
    ((2 x 8 + 20) K + 3 Q = 39 x 4,096 tokens x 4,096 x 2 B = 1.22 GiB). Before hfcp54: the same as without the ring."""
    kw = dict(tp=1, cp=8, dp=8, pp=1, zero=3, mb=1, rc=2)
    with_ring, without = _activations("llama2-7b", 32768, **kw), _activations("llama2-7b", 32768, False, **kw)
    assert 0 < with_ring - without <= 39 * 4096 * 4096 * 2 * (1 + 1e-12)


CP2_JOB = """
model: {preset: llama3-8b}
training: {seq_len: 16384, global_batch: 16, tokens: 1.0e9, precision: bf16, recompute: full,
           framework: {name: hf-trainer}}
parallel: {cp: 2, tp: 1, pp: 1}
constraints: {instances: [aws:p5.48xlarge], max_gpus: 8, objective: cost}
"""


def test_stack_line_says_a_searched_version_and_the_default():
    """rec54's searched ``fsdp_version``: the stack line says it was searched and whether it is the HF Trainer's
    default (2) -- "fsdp_version=2 (searched; the HF Trainer's default)", "fsdp_version=1 (searched; the HF Trainer's
    default is 2)" --, an unsearched unset one "(unset: the HF Trainer's default, ...)" as before, a set one nothing.
    Before hfcp54 a searched 2 read "fsdp_version=2" like a version the job set (``describe`` took no ``searched``)."""
    from planner.model.stacks import from_training

    base = from_training(_job("llama3-8b", "hf-trainer").training)  # the job leaves fsdp_version out
    assert base.fsdp_version_unset and base.fsdp_version == 2
    unset = base.describe("bf16", zero=3)
    assert "fsdp_version=2 (unset: the HF Trainer's default, TrainingArguments' fsdp_config version)" in unset
    two, one = base.with_options(fsdp_version=2), base.with_options(fsdp_version=1)
    assert "fsdp_version=2 (searched; the HF Trainer's default)" in two.describe("bf16", zero=3,
                                                                                  searched=("fsdp_version",))
    assert "fsdp_version=1 (searched; the HF Trainer's default is 2)" in one.describe("bf16", zero=3,
                                                                                     searched=("fsdp_version",))
    assert one.describe("bf16", zero=3).endswith(", fsdp_version=1)")  # not searched, set: no note


def test_searched_default_version_reads_the_same_in_table_json_and_report(cli, tmp_path):
    """Llama-3-8B under the HF Trainer at CP 2 (FSDP1 cannot run CP: rule hf-trainer-cp-fsdp1), the version left
    open: FSDP2 wins the search. The JSON's stack line (the assumption the terminal and the report print) says
    it was searched and is the Trainer's default; the ranked table's ``fsdp`` cell reads "FSDP2 (default)"."""
    import json

    from conftest import write_job
    from planner.search.explain import plan_searched_columns

    code, out, err = cli("recommend", write_job(tmp_path, CP2_JOB), "--no-simulate", "--json")
    assert code == 0, err
    res = json.loads(out)
    stack = res["best"]["stack"]
    assert stack["fsdp_version"] == 2 and "fsdp_version" in stack["searched"], stack
    line = [a for a in res["assumptions"] if a.startswith("training stack: hf-trainer")]
    assert len(line) == 1 and "fsdp_version=2 (searched; the HF Trainer's default)" in line[0], line
    assert "searched, as training.framework leaves them open: fsdp_version" in line[0]
    fsdp1 = {"stack": {**stack, "fsdp_version": 1}}
    assert plan_searched_columns([res["best"], fsdp1])["fsdp"] == ["FSDP2 (default)", "FSDP1"]
