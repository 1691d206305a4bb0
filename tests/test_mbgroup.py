"""Megatron-Core's interleaved micro-batch group size (``--microbatch-group-size-per-virtual-pipeline-stage``,
ModelParallelConfig ``microbatch_group_size_per_vp_stage``, default pp) as the Megatron stack option
``training.framework.microbatch_group_size``: what Megatron accepts at a group size N (pp <= N <= m, ``m % N`` 0
or >= pp: schedules.py forward_backward_pipelining_with_interleaving), the order it runs (``get_schedule_table``),
its warm-up (``get_pp_rank_microbatches``: ``(v - 1) N`` chunk forwards more), the bubble, estimate and simulate
agreeing on it, the flag --emit writes and what ``recommend`` says of the layouts it refuses. Before this option the
planner refused every interleaved Megatron layout with ``m % pp`` (PP4 VPP2 with m = 10, which N = 5 runs)."""
from __future__ import annotations

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory_stages import inflight_microbatches
from planner.model import pipeline
from planner.model.pipeline import _list_schedule, analytic_makespan, pipeline_timing, stage_orders
from planner.model.stack_rules import megatron_groups
from planner.results import jsonable
from planner.simulate.config import SimConfig
from planner.simulate.engine import simulate
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job
from conftest import flat, write_job


def _job(gb, group=None, framework="megatron-core", vpp=2, mb=1, zero=1):
    fw = {"name": framework}
    if group is not None:
        fw["microbatch_group_size"] = group
    return {"model": {"preset": "llama3-70b"},
            "training": {"framework": fw, "seq_len": 4096, "global_batch": gb, "micro_batch": mb, "tokens": 1e10},
            "cluster": {"instance": "aws:p5.48xlarge", "nodes": 8},
            "parallel": {"tp": 4, "pp": 4, "vpp": vpp, "zero": zero}}


def test_megatron_schedule_table_example():
    """schedules.py's own example: 'the tunable schedule table for PP2 N3M5 with VP2' -- micro-batches
    0 1 2 0 1 2 3 4 3 4 on chunks 0 0 0 1 1 1 0 0 1 1 (the last group the rest, 2 >= pp)."""
    ops = stage_orders("interleaved", 2, 5, 2, group=3)[1]  # the last rank: no extra warm-up, the order plain
    fwd = [(mb, c) for k, mb, c in ops if k == "F"]
    assert [mb for mb, _ in fwd] == [0, 1, 2, 0, 1, 2, 3, 4, 3, 4]
    assert [c for _, c in fwd] == [0, 0, 0, 1, 1, 1, 0, 0, 1, 1]


def test_accepted_group_sizes():
    assert megatron_groups(10, 4) == [5, 6, 10]  # 10 % 4 = 2 < pp: the default 4 is refused
    assert megatron_groups(9, 4) == [5, 9]  # 9 % 4 = 1 < pp; 9 % 5 = 4 >= pp
    assert megatron_groups(8, 4) == [4, 8]
    assert megatron_groups(3, 4) == []  # m < pp: no N in [pp, m]


@pytest.mark.parametrize("pp", [2, 3, 4, 8])
@pytest.mark.parametrize("v", [2, 3, 4])
def test_every_accepted_group_has_the_textbook_bubble(pp, v):
    """At every N Megatron accepts, every group holds >= pp micro-batches and the list-scheduled step is
    (m + (pp - 1)/v) stage times: Megatron's warm-up count needs no extra forwards (no deadlock) and the analytic
    bubble (pipeline.bubble_time) is the simulator's."""
    t_f, t_b = 1.0, 2.0
    for m in range(pp, 3 * pp + 3):
        for n in megatron_groups(m, pp):
            t = _list_schedule(stage_orders("interleaved", pp, m, v, 0, n), pp, m, v, t_f, t_b, 0.0, t_f)
            assert t.makespan == pytest.approx((m + (pp - 1) / v) * 3), (m, n)
            assert pipeline_timing(pp, m, v, t_f, t_b, group=n).makespan == pytest.approx(
                analytic_makespan(pp, m, v, t_f, t_b))


def test_a_refused_group_would_stall():
    """Why Megatron refuses a last group of 1..pp-1: PP4 VPP2 m 6 in groups of 4 (4 + 2) runs 9.17 stage times,
    not 7.5."""
    assert pipeline_timing(4, 6, 2, 1.0, 2.0, group=4).makespan / 3 == pytest.approx(6 + 1.5 + 5 / 3)


def _peak_in_flight(pp, m, v, group):
    cur = peak = 0
    for kind, _, _ in stage_orders("interleaved", pp, m, v, group=group)[0]:
        cur += 1 if kind == "F" else -1
        peak = max(peak, cur)
    return peak / v


@pytest.mark.parametrize("m,group,want", [(12, 6, 6.5), (12, 4, 5.5), (12, 12, 9.5), (10, 5, 6.0), (9, 5, 6.0)])
def test_in_flight_micro_batches_at_the_group_size(m, group, want):
    """Rank 0 holds (pp - 1) * 2 + (v - 1) * N + 1 chunk forwards at its peak (get_pp_rank_microbatches)."""
    c = Candidates(tp=np.array([4]), pp=4, dp=8, cp=1, ep=1, vpp=2, zero=1, mb=1, rc=0, sp=True, schedule=1,
                   gpus_per_node=8, nodes=16)
    assert float(inflight_microbatches(c, np.array([float(m)]), group=group)[0]) == pytest.approx(want)
    assert _peak_in_flight(4, m, 2, group) == pytest.approx(want)


def _est(cli, tmp_path, job):
    return cli("estimate", write_job(tmp_path, job), "--json")


def test_estimate_runs_what_megatron_runs(cli, tmp_path):
    code, out, err = cli("estimate", write_job(tmp_path, _job(40)))  # m = 10 at the default N = pp = 4
    lines = [x for x in (out + err).splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: parallel.vpp: Megatron refuses"), lines
    assert "microbatch_group_size 5, 6 or 10 runs it" in flat(lines[0])
    for gb, n in ((40, 5), (40, 10), (36, 5)):  # m = 10 (5 + 5, one group of 10); m = 9 (5 + 4; torch refuses 9)
        code, out, err = _est(cli, tmp_path, _job(gb, n))
        assert code == 0, out + err
    for gb, n in ((40, 4), (40, 3), (40, 11)):  # a last group of 2; N < pp; N > m
        code, out, err = cli("estimate", write_job(tmp_path, _job(gb, n)))
        assert code == 2 and (out + err).startswith("error: parallel.vpp: Megatron refuses"), out + err


def test_other_stacks_refuse_the_option(cli, tmp_path):
    code, out, err = cli("estimate", write_job(tmp_path, _job(40, 5, "torchtitan", zero=3)))
    assert code == 2 and (out + err).startswith("error: training.framework.microbatch_group_size:"), out + err
    code, out, err = cli("estimate", write_job(tmp_path, _job(40, 0)))
    assert code == 2 and (out + err).startswith("error: training.framework.microbatch_group_size:"), out + err


def test_memory_and_time_at_the_group_size(catalog):
    """m = 8 on PP4 VPP2: N = 8 holds (6 + 8 + 1)/2 = 7.5 micro-batches of rank 0's layers, N = 4 (the default,
    also written explicitly) 5.5; the bubble is the same. (The activations scale by 7.5 / 5.5 but
    for the caller's parts, the embedding output: 1.3634 here.) The step differs by the warm-up / cool-down sends
    only (pipeline.fill_sends): one group of 8 > pp leaves slots to hide the second chunk's pass behind in the
    warm-up and the cool-down, so 6 sends where N = 4 pays 14 (the same count pipeline_timing's list schedule pays)."""
    p4, p4x, p8 = (estimate_job(load_job_dict(_job(32, n)), catalog) for n in (None, 4, 8))
    a4, a8 = p4.memory_per_gpu_bytes.activations, p8.memory_per_gpu_bytes.activations
    assert a8 / a4 == pytest.approx(7.5 / 5.5, rel=1e-3) and a8 / a4 > 1.36
    assert p4x.memory_per_gpu_bytes.activations == a4 and p4x.step_time_s == p4.step_time_s
    f4, f8 = p4.breakdown_s.comm_pp, p8.breakdown_s.comm_pp
    assert 0 < f8 < f4
    assert [pipeline.fill_sends(4, 8, 2, 1, 1, n)[0][0] for n in (None, 8)] == [14, 6]
    for n, f in ((None, f4), (8, f8)):
        paid = pipeline.pipeline_timing(4, 8, 2, 1.0, 2.0, 1e-6, group=n).makespan - \
            pipeline.pipeline_timing(4, 8, 2, 1.0, 2.0, 0.0, group=n).makespan
        assert paid == pytest.approx((14 if n is None else 6) * 1e-6, rel=1e-6)
    assert p8.step_time_s == pytest.approx(p4.step_time_s - (f4 - f8), rel=1e-12)
    assert p8.breakdown_s.bubble == pytest.approx(p4.breakdown_s.bubble, rel=1e-12)


@pytest.mark.parametrize("gb,n", [(40, 5), (36, 5), (32, 8)])
def test_simulate_agrees_with_estimate(catalog, gb, n):
    job = load_job_dict(_job(gb, n))
    plan = estimate_job(job, catalog)
    cfg = SimConfig.from_estimate(jsonable(plan), job)
    assert cfg.pipeline.vpp_group == n
    res = simulate(cfg, steps=6)
    sim = res.steady_step_time_s or res.wall_s / 6
    assert sim == pytest.approx(plan.step_time_s, rel=1e-9)


def test_emit_writes_the_flag_when_not_the_default(catalog):
    from planner.present.emit import megatron_args
    from test_launch_parsers import megatron_args as parse

    def argv(gb, n):
        job = load_job_dict(_job(gb, n))
        cfg = jsonable(estimate_job(job, catalog))["config"]
        a = megatron_args(job, cfg, 10)
        assert a[0].endswith("/pretrain_gpt.py")
        return a[1:]

    flag = "--microbatch-group-size-per-virtual-pipeline-stage"
    a = argv(40, 5)
    assert a[a.index(flag) + 1] == "5" and parse(a)["microbatch_group_size_per_vp_stage"] == 5
    assert flag not in argv(32, 4) and flag not in argv(32, None)  # pp = 4: Megatron's default


def test_recommend_says_a_group_size_would_run_the_refused_layouts(cli, tmp_path):
    """gb 40 on PP4 VPP2 with the micro-batch searched: m = 10, 5 (refused at N = pp), 2 (m < pp: no N), 1
    (m < pp)... every layout is refused; the error says a group size would run some of them."""
    job = _job(40)
    del job["training"]["micro_batch"]
    code, out, err = cli("recommend", write_job(tmp_path, job), "--no-simulate")
    text = flat(out + err)
    assert code == 2 and "interleaved pipeline" in text, text
    assert "of them run with training.framework.microbatch_group_size set" in text, text


def test_a2a_overlap_pairs_fewer_chunks_after_a_longer_warm_up():
    """Combined 1F1B pairs the forward chunks past the warm-up: 2 (pp - 1) + (v - 1) N + 1 of the m v, so PP4 VPP2
    m 10 pairs 1 - 12/20 at N = 5 (the default N = pp: 1 - 11/20). The + 1 (warm42): Megatron-Core's
    ``get_pp_rank_microbatches`` schedules "one extra micro-batch forward step before the 1f1b stages" with
    ``overlap_moe_expert_parallel_comm``; until warm42 these read 1 - 11/20 and 1 - 10/16."""
    from planner.model.moe import a2a_paired_share
    assert float(a2a_paired_share(4, 2, 10, group=5)) == pytest.approx(1 - 12 / 20)
    assert float(a2a_paired_share(4, 2, 8)) == pytest.approx(1 - 11 / 16) == float(a2a_paired_share(4, 2, 8, group=4))
