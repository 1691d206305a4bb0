"""Delayed scaling's amax all-reduce where the autocast gets no ``fp8_group`` (the world group) and under full
activation recompute (amaxd46).

Composer (llm-foundry's trainer) and accelerate (the HF Trainer) call Transformer Engine's ``fp8_autocast`` with a
``DelayedScaling`` recipe and no ``fp8_group``: TE's ``reduce_and_update_fp8_tensors`` then all-reduces over
torch.distributed's default group, every GPU of the job, at each outermost autocast exit -- Composer enters two a
micro-batch (composer/trainer/trainer.py: the model's forward, then the loss), accelerate one (its
``contextual_fp8_autocast`` around model.forward) -- and once at the end of the backward. Until amaxd46 neither stack
paid any of it (amaxd45 priced Megatron's stage group only). TE's activation recompute re-runs the forward under
``activation_recompute_forward(recompute_phase=True)`` and no ``fp8_autocast`` (transformer_engine/pytorch/
distributed.py ``_CheckpointFunction.backward``), so a fully recomputed forward reduces nothing more: pinned here.
"""
from dataclasses import replace

import numpy as np
import pytest

from planner.hardware.options import HardwareOption, efficiency_for
from planner.layout import Candidates
from planner.model import stack_kernels, stacks
from planner.model.comm import small_allreduce_time
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.vocab import RECOMPUTE, SCHEDULE

DENSE = ModelSpec(name="d", layers=16, hidden=4096, heads=32, ffn_hidden=14336, vocab=32000)


def _hw(catalog, gpu="H100-SXM-80GB"):
    g = catalog.gpu(gpu)
    return HardwareOption(name=g.name, gpu=g, gpus_per_node=8, inter_node_bw=400e9, intra_bw=g.intra_node_bw,
                          eff=efficiency_for(g))


def _cands(tp, pp, dp, zero, rc="none"):
    return Candidates(tp=np.array([tp]), pp=np.array([pp]), dp=np.array([dp]), cp=np.array([1]), ep=np.array([1]),
                      vpp=np.array([1]), zero=np.array([zero]), mb=np.array([1]), rc=np.array([RECOMPUTE.code[rc]]),
                      sp=np.array([tp > 1]), schedule=np.array([SCHEDULE.code["1f1b"]]), gpus_per_node=np.array([8]),
                      nodes=np.array([max(tp * pp * dp // 8, 1)]))


def _mb(catalog, fw, c, rc="none", precision="fp8"):
    t = TrainingSpec(precision=precision, seq_len=2048, global_batch=8 * int(c.dp[0]), recompute=rc)
    r = step_time(DENSE, t, c, _hw(catalog), framework=fw)
    return float(r["t_fwd_mb"][0]), float(r["t_bwd_mb"][0]), float(r["comm_tp"][0])


def _added(catalog, fw, c, rc="none", precision="fp8"):
    """(forward, backward, TP-comm-per-step) seconds the stack's amax reduction adds over the same stack without it."""
    on, off = _mb(catalog, fw, c, rc, precision), _mb(catalog, replace(fw, te_amax_reduction=""), c, rc, precision)
    return tuple(a - b for a, b in zip(on, off))


def test_registry_says_who_reduces_over_which_group():
    """Megatron's stacks reduce over the stage group once a region; llm-foundry (Composer) and the HF Trainer
    (accelerate) over the world group, Composer twice a forward (model, loss), accelerate once; none of them adds a
    reduction for a recomputed forward."""
    r = stack_kernels.TE_AMAX_REDUCTIONS
    assert {k: s.te_amax_reduction for k, s in stacks.STACKS.items() if s.te_amax_reduction} == {
        "megatron-core": "megatron", "nemo": "megatron", "megatron-bridge": "megatron",
        "llm-foundry": "composer", "hf-trainer": "accelerate"}
    assert (r["megatron"].group, r["megatron"].fwd_exits, r["megatron"].bwd_reductions) == ("stage", 1.0, 1.0)
    assert (r["composer"].group, r["composer"].fwd_exits, r["composer"].bwd_reductions) == ("world", 2.0, 1.0)
    assert (r["accelerate"].group, r["accelerate"].fwd_exits, r["accelerate"].bwd_reductions) == ("world", 1.0, 1.0)
    assert all(e.recompute_exits == 0.0 for e in r.values())


def test_llm_foundry_waits_on_two_world_reductions_a_forward(catalog):
    """llm-foundry under FSDP on 16 GPUs (2 nodes of 8): the world group is all 16, NCCL's LL tree
    6.8 + 2 (7 x 0.6 + 5.0) = 25.2 us; the forward waits on it twice (model and loss regions), the backward once; 8
    micro-batches a step, booked as TP communication. Before amaxd46: nothing. Under bf16 no FP8 autocast runs; a
    one-rank world has nothing to reduce (``get_world_size(group) > 1``): neither pays."""
    fw = stacks.resolve("llm-foundry")
    assert fw.recipe.name == "delayed"
    one = float(small_allreduce_time(16.0, 1, 8))
    assert one == pytest.approx(25.2e-6, rel=1e-9)
    f, b, tp = _added(catalog, fw, _cands(1, 1, 16, 3))
    assert (f, b) == pytest.approx((2 * one, one), rel=1e-6)
    assert tp == pytest.approx(8 * 3 * one, rel=1e-6)
    assert _added(catalog, fw, _cands(1, 1, 16, 3), precision="bf16") == pytest.approx((0.0, 0.0, 0.0), abs=1e-15)
    assert _added(catalog, fw, _cands(1, 1, 1, 3)) == pytest.approx((0.0, 0.0, 0.0), abs=1e-15)


def test_hf_trainer_reduces_over_every_gpu(catalog):
    """The HF Trainer's delayed recipe (accelerate's TE autocast around model.forward): one world reduction a forward
    and one a backward. At TP 2 x DP 16 the group is all 32 GPUs (4 nodes: 6.8 + 2 (7 x 0.6 + 2 x 5.0) = 35.2 us), not
    a stage's or a TP group's ranks; its current-scaling recipe keeps no amax history and pays none."""
    fw = stacks.resolve("hf-trainer", fp8_recipe="delayed")
    one = float(small_allreduce_time(32.0, 1, 8))
    assert one == pytest.approx(35.2e-6, rel=1e-9)
    f, b, _ = _added(catalog, fw, _cands(2, 1, 16, 0))
    assert (f, b) == pytest.approx((one, one), rel=1e-6)
    cur = _added(catalog, stacks.resolve("hf-trainer", fp8_recipe="tensorwise"), _cands(2, 1, 16, 0))
    assert cur == pytest.approx((0.0, 0.0, 0.0), abs=1e-15)


@pytest.mark.parametrize("stack,kw,c", [("megatron-core", dict(fp8_recipe="delayed"), (4, 2, 4, 1)),
                                        ("llm-foundry", {}, (1, 1, 16, 3))])
def test_full_recompute_adds_no_reduction(catalog, monkeypatch, stack, kw, c):
    """TE re-runs a checkpointed forward with no ``fp8_autocast`` around it, so no autocast exits and nothing more
    is reduced: the amax cost under ``recompute: full`` equals the cost without recompute. Had the recompute reduced
    (an entry with ``recompute_exits`` 1) the backward would wait on one more, which this also checks is priced."""
    fw = stacks.resolve(stack, **kw)
    assert _added(catalog, fw, _cands(*c, rc="full"), "full") == pytest.approx(_added(catalog, fw, _cands(*c)), rel=1e-9)
    key = fw.te_amax_reduction
    monkeypatch.setitem(stack_kernels.TE_AMAX_REDUCTIONS, key, replace(stack_kernels.TE_AMAX_REDUCTIONS[key], recompute_exits=1.0))
    f0, b0, _ = _added(catalog, fw, _cands(*c))
    f2, b2, _ = _added(catalog, fw, _cands(*c, rc="full"), "full")
    assert (f2, b2) == pytest.approx((f0, b0 + b0 / stack_kernels.TE_AMAX_REDUCTIONS[key].bwd_reductions), rel=1e-9)
