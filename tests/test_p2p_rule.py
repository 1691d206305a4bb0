"""One rule for Megatron-Core's overlapped interleaved pipeline sends (``overlap_p2p_comm``): the analytic step
(pipeline.overlapped_sends_exposed in the stage times, pipeline.fill_exposure for the warm-up / cool-down) against
the exact list schedule (pipeline.pipeline_timing with the send as the link delay), also where a send outlasts a
chunk's forward -- slow networks, which ``recommend`` searches. Until 2026-12-04 the stage times exposed
``max(0, 2 v p - (t_f + t_b))`` per micro-batch: nothing until p = (f + b) / 2, then 2 v per unit of p, 0.88..1.45x the
list schedule's step over the first test's grid."""
from dataclasses import replace

import numpy as np
import pytest

from planner.model import stacks
from planner.model.pipeline import (bubble_time, fill_exposure, overlapped_sends_exposed, pipeline_timing,
                                    vpp_group_size)
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.vocab import SCHEDULE
from test_step_time import cands, hw_for


def _analytic(pp, m, v, t_f, t_b, p):
    """The step_time composition of one pipeline: m stage times with the steady exposure, the bubble, the fill."""
    ts = t_f + t_b + float(overlapped_sends_exposed(pp, v, t_f, t_b, p))
    return m * ts + float(bubble_time(pp, m, v, ts, True)) + float(fill_exposure(pp, m, v, t_f, t_b, p, p, p, 1, 1)[0])


@pytest.mark.parametrize("pp", [2, 4, 8, 16])
@pytest.mark.parametrize("v", [2, 4, 8])
def test_the_rule_is_the_list_schedule_past_a_chunk(pp, v):
    """b = 2 f, Megatron's default group: exact from m = 2 pp on, at every send up to three chunk forwards (the old
    rule: pp 2 v 8 m 64 at p = 1.5 f 0.88x, pp 2 v 2 m 2 at p = 3 f 1.45x); m = pp (one group, all warm-up and
    cool-down) within 5% (pp 2 v 2 m 2 at p = 3 f: +4.5%; from pp 4 on within 2%)."""
    for m in sorted({pp, 2 * pp, 4 * pp, 64}):
        for r in (0.05, 0.5, 1.0, 1.25, 1.5, 2.0, 3.0):
            p = r / v  # t_f = 1: a chunk forward is 1 / v
            exact = pipeline_timing(pp, m, v, 1.0, 2.0, p).makespan
            got = _analytic(pp, m, v, 1.0, 2.0, p)
            tol = 1e-9 if m >= 2 * pp else (0.05 if pp == 2 else 0.02)
            assert got == pytest.approx(exact, rel=tol), (pp, v, m, r)


@pytest.mark.parametrize("tb", [0.5, 0.8, 3.0])
def test_other_backward_ratios(tb):
    """A backward shorter than its forward mirrors the schedule (the knee moves to p = b); a longer one (full
    recompute) keeps the rule: exact at m = 2 pp and 4 pp."""
    for pp, v in ((4, 2), (4, 4), (8, 2)):
        for m in (2 * pp, 4 * pp):
            for r in (0.25, 0.75, 1.0, 1.5, 2.0, 3.0):
                p = r / v
                assert _analytic(pp, m, v, 1.0, tb, p) == pytest.approx(
                    pipeline_timing(pp, m, v, 1.0, tb, p).makespan, rel=1e-9), (tb, pp, v, m, r)


def test_a_group_larger_than_pp_hides_a_pass_only_as_far_as_its_slots_last():
    """One group of m = 9 on pp 8, v 4 at p = f / 4: its one spare slot hides a quarter of each wrap's 8 sends, so
    the warm-up pays 2 x 7 + 3 x 4 = 26 sends (``fill_sends`` counts 14, exact only for vanishing sends); the
    cool-down's two spare backward slots hide all of its passes."""
    pp, v, m = 8, 4, 9
    assert int(vpp_group_size(m, pp)) == 9
    for r, sends in ((0.25, 26.0), (0.5, 44.0), (0.75, 50.0)):
        p = r / v
        paid = pipeline_timing(pp, m, v, 1.0, 2.0, p).makespan - pipeline_timing(pp, m, v, 1.0, 2.0, 0.0).makespan
        assert paid == pytest.approx(sends * p)
        assert float(fill_exposure(pp, m, v, 1.0, 2.0, p, p, p, 1, 1)[0]) == pytest.approx(paid)


def test_no_exposure_up_to_a_chunk_forward():
    """Sends up to the shorter chunk hide in the steady state (zero, not a rounding residue)."""
    f = np.array([1.0, 0.3, 2.0])
    assert np.all(overlapped_sends_exposed(np.array([1, 4, 8]), np.array([1, 2, 4]), f, 2 * f, f / [1, 2, 4]) == 0.0)


def test_step_time_on_a_slow_network_is_the_list_schedule(catalog):
    """TP4 CP2 PP8 VP8 (a Llama 3.1 405B shape, 16 micro-batches) on 8-GPU nodes, every pipeline link through the
    NIC, which runs at 60 and 25 Gb/s a node: sends of 1.6 and 3.8 chunk forwards (b = 1.97 f). step_time's pipeline
    part (m stage times, bubble, the sends it exposes) is pipeline_timing's makespan at the stage's chunk times and
    that send; the old rule missed it by -1.1% and +40.8% (the step: 16.79 / 40.13 s then, 16.97 / 28.53 s now)."""
    m = ModelSpec(name="l", layers=128, hidden=16384, heads=128, kv_heads=8, ffn_hidden=53248, vocab=128256)
    t = TrainingSpec(seq_len=8192, global_batch=16, precision="bf16")
    c = cands(tp=4, cp=2, pp=8, dp=1, vpp=8, mb=1, sp=True, schedule=SCHEDULE.code["interleaved"],
              gpus_per_node=8, nodes=8)
    core = stacks.resolve("megatron-core")
    assert core.overlap_p2p
    ratios = []
    for gbps in (60.0, 25.0):
        hw = hw_for(catalog, "H100-SXM-80GB", inter_gbps=gbps)
        on = step_time(m, t, c, hw, framework=core)
        off = step_time(m, t, c, hw, framework=replace(core, overlap_p2p=False))
        v, mm = 8, int(on["num_microbatches"][0])
        send = float(off["t_pp_p2p"][0]) / v  # without the overlap the stage times hold all 2 v sends
        half = float(on["t_pp_p2p"][0])  # half the steady exposure, in each of forward and backward
        t_f, t_b = float(on["t_fwd_mb"][0]) - half, float(on["t_bwd_mb"][0]) - half
        ratios.append(send / (t_f / v))
        part = (mm * (float(on["t_fwd_mb"][0]) + float(on["t_bwd_mb"][0])) + float(on["bubble"][0])
                + float(on["comm_pp"][0]) - mm * 2 * half)
        assert part == pytest.approx(pipeline_timing(8, mm, v, t_f, t_b, send).makespan, rel=1e-9), gbps
    assert 1.3 < ratios[0] < 1.9 and 3.0 < ratios[1] < 4.5  # past the knee, where the old rule was off
