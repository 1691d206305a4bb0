"""Megatron-Core's interleaved schedule reduces the DP gradients chunk by chunk (pipeline.chunk_reduce_window).

schedules.py ``backward_step_helper`` launches a model chunk's ``grad_sync_func`` when that chunk's last backward
ends; the last micro-batch group runs its backwards chunk by chunk (last chunk first, pp a chunk), so the first
chunk's reduce has (v - 1) pp chunk backwards after it to hide under, where the one-backward window priced before
left Together AI's DGX B200 Nemotron-4 340B rows (TP 8 PP 4 VP 12, DP 8 over InfiniBand) with 0.35 s of exposed
reduce tail."""
from dataclasses import replace

import numpy as np
import pytest

from planner.hardware.options import HardwareOption, efficiency_for
from planner.model import stacks
from planner.model.pipeline import chunk_reduce_window
from planner.model.step_time import step_time
from planner.results import jsonable
from planner.spec import ModelSpec, TrainingSpec, load_job_dict
from planner.vocab import SCHEDULE
from planner.workloads.training import estimate_job
from test_step_time import cands

#: Nemotron-4 340B's shape (96 layers, hidden 18432, 96 / 8 heads, squared-ReLU MLP 73728, vocab 256000)
N340 = ModelSpec(name="n340", layers=96, hidden=18432, heads=96, kv_heads=8, ffn_hidden=73728, vocab=256000,
                 mlp="relu")


def _dgx_b200(catalog):
    g = catalog.gpu("B200-SXM-180GB")
    return HardwareOption(name=g.name, gpu=g, gpus_per_node=8, inter_node_bw=8 * 400e9 / 8,
                          intra_bw=g.intra_node_bw, eff=efficiency_for(g))


def _row(catalog, stack, vpp=12):
    t = TrainingSpec(seq_len=4096, global_batch=64, precision="bf16", grad_dtype="same")  # NeMo 2 340B: bf16 reduce
    c = cands(tp=8, pp=4, dp=8, vpp=vpp, mb=1, sp=True, zero=1, gpus_per_node=8, nodes=32,
              schedule=SCHEDULE.code["interleaved" if vpp > 1 else "1f1b"])
    return step_time(N340, t, c, _dgx_b200(catalog), framework=stack)


def test_the_window_is_the_chunk_backwards_after_the_first_chunks_last():
    # pp 4, v 12: chunk 11's last backward and the 11 x 4 chunk backwards after it, 45 of the stage's 12 a micro-batch
    assert float(chunk_reduce_window(1.2, 4, 12, True, True)) == pytest.approx(1.2 * 45 / 12)
    # no interleaving, one chunk, one stage, or a stack that reduces after the last backward: that backward alone
    for args in ((4, 12, False, True), (4, 1, True, True), (1, 12, True, True), (4, 12, True, False)):
        assert float(chunk_reduce_window(1.2, *args)) == 1.2
    rows = chunk_reduce_window(np.array([1.0, 1.0]), np.array([2, 8]), np.array([2, 8]), True, True)
    assert rows.tolist() == pytest.approx([3 / 2, 57 / 8])


def test_megatron_core_hides_the_340b_reduce_under_the_chunk_backwards(catalog):
    """TP 8 PP 4 VP 12 DP 8 on DGX B200: the bf16 gradient reduce of a stage (10.6B parameters a GPU over DP 8
    through the NICs) is longer than one micro-batch's backward but shorter than the chunk backwards after the
    first reduced chunk, so only a bucket stays exposed; the same stack without the per-chunk launch pays the rest."""
    core = stacks.resolve("megatron-core")
    assert core.align_grad_reduce
    on, off = _row(catalog, core), _row(catalog, replace(core, align_grad_reduce=False))
    t_dp, t_bwd = float(on["t_dp_comm"][0]), float(on["t_bwd_mb"][0])
    assert t_bwd < t_dp < t_bwd * 45 / 12  # the case the window decides
    assert float(on["t_dp_hides"][0]) == pytest.approx(t_bwd * 45 / 12)
    assert float(off["t_dp_hides"][0]) == pytest.approx(t_bwd)
    saved = float(off["step_time_s"][0] - on["step_time_s"][0])
    assert saved == pytest.approx(t_dp - t_bwd - t_dp / float(on["dp_buckets"][0]), rel=0.05)
    # 1F1B (v = 1) keeps the one-backward window
    flat = _row(catalog, core, vpp=1)
    assert float(flat["t_dp_hides"][0]) == pytest.approx(float(flat["t_bwd_mb"][0]))


def test_simulate_hides_the_reduce_under_the_same_window(catalog):
    """The simulator's DP reduce (engine ``synchronise``) takes the estimate's window (``t_dp_hides``): its analytic
    step and its simulated step equal the estimate's on an interleaved layout whose reduce outlasts one backward."""
    from planner.simulate.config import SimConfig
    from planner.simulate.engine import simulate

    raw = {"model": {"preset": "llama3-70b"},
           "training": {"seq_len": 4096, "global_batch": 128, "mode": "pretrain", "tokens": 1e9,
                        "framework": {"name": "megatron-core"}, "micro_batch": 1, "recompute": "none"},
           "parallel": {"tp": 4, "pp": 4, "dp": 4, "vpp": 5, "zero": 1},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 8}}
    job = load_job_dict(raw)
    plan = estimate_job(job, catalog)
    d = plan.detail
    assert d["t_dp_hides"] > d["t_bwd_mb"]
    cfg = SimConfig.from_estimate(jsonable(plan), job)
    assert cfg.pipeline.hides == pytest.approx(d["t_dp_hides"])
    assert cfg.pipeline.analytic_step_time() == pytest.approx(plan.step_time_s, rel=1e-9)
    res = simulate(cfg, steps=10)
    assert (res.steady_step_time_s or res.wall_s / 10) == pytest.approx(plan.step_time_s, rel=1e-6)
