"""DualPipeV (torch.distributed.pipelining ``ScheduleDualPipeV``, torchtitan's ``pipeline_parallel_schedule =
"DualPipeV"``) as a schedule the planner prices, the simulator list-schedules, torchtitan's rules refuse where the code
does, and the torchtitan launch names (dualpipe35). Before it, ``parallel.schedule: dualpipev`` was not a schedule."""
import shlex

import numpy as np
import pytest

from planner.errors import InputError
from planner.model.memory_stages import inflight_microbatches
from planner.model.moe import dualpipev_paired_share
from planner.model.pipeline import (dualpipev_bubble, dualpipev_inflight, dualpipev_orders, dualpipev_rank_of,
                                    pipeline_ops, pipeline_timing)
from planner.present.emit import emit_launch_spec
from planner.results import jsonable
from planner.simulate.config import SimConfig
from planner.simulate.engine import simulate
from planner.spec import load_job_dict
from planner.units import config_str
from planner.workloads.training import estimate_job

TITAN = {"name": "torchtitan", "compile": False}


def _job(parallel, model=None, framework=None, global_batch=256, recompute="none", nodes=4):
    return load_job_dict({
        "model": model or {"preset": "llama3-8b"},
        "training": {"seq_len": 4096, "global_batch": global_batch, "micro_batch": 1, "recompute": recompute,
                     "tokens": 1e10, "framework": framework or TITAN},
        "parallel": parallel,
        "cluster": {"instance": "aws:p5.48xlarge", "nodes": nodes},
    })


@pytest.mark.parametrize("pp", [2, 3, 4, 8, 16])
def test_orders_run_every_chunk_once_on_the_v(pp):
    """Each rank runs the forward and the input backward of each micro-batch on its two stages (r and 2 pp - 1 - r)
    exactly once, and a W for every split I."""
    m = 2 * pp + 3
    for r, ops in enumerate(dualpipev_orders(pp, m)):
        fwd, bwd, split, w = [], [], [], []
        for op in ops:
            parts = [("F",) + op[1], ("B",) + op[2]] if op[0] == "X" else [op]
            for kind, mb, vs in parts:
                assert dualpipev_rank_of(vs, pp) == r
                {"F": fwd, "B": bwd, "I": bwd, "W": w}[kind].append((mb, vs))
                if kind == "I":
                    split.append((mb, vs))
        want = sorted((mb, vs) for vs in (r, 2 * pp - 1 - r) for mb in range(m))
        assert sorted(fwd) == want and sorted(bwd) == want and sorted(w) == sorted(split)


def test_closed_form_bubble_is_the_list_schedule():
    """``dualpipev_bubble`` is the list schedule's makespan less m (t_f + t_b), exactly, and at t_b = 2 t_f it is
    DeepSeek-V3's (PP/2 - 1)(F&B + B - 3W) for PP = 2 pp chunks: (pp - 1) t_f, a third of 1F1B's bubble."""
    worst = 0.0
    for pp in range(2, 17):
        for m in (2 * pp, 2 * pp + 3, 4 * pp):
            for tb in (0.5, 1.0, 2.0, 2.2, 3.0, 6.0):
                t = pipeline_timing(pp, m, 1, 1.0, tb, schedule="dualpipev")
                worst = max(worst, abs(t.makespan - t.ideal - float(dualpipev_bubble(pp, 1.0, tb))))
    assert worst < 1e-9
    F, B = 0.5, 1.0
    W = B / 2
    assert float(dualpipev_bubble(8, 1.0, 2.0)) == pytest.approx((16 / 2 - 1) * ((F + B) + B - 3 * W))
    assert float(dualpipev_bubble(8, 1.0, 2.0)) == pytest.approx(7 * 3.0 / 3)
    with pytest.raises(ValueError, match="2 pp"):
        dualpipev_orders(4, 7)  # torch: "DualPipeV requires at least as many microbatches as stages"


def test_activations_in_flight():
    """Every rank holds pp + 1/2 micro-batches of its layers at its peak (2 pp + 1 chunks: DeepSeek's PP + 1),
    what the memory model prices for the DualPipeV rows; 1F1B's rank 0 holds pp."""
    for pp in (2, 4, 8, 16):
        assert dualpipev_inflight(pp, 4 * pp) == (pp + 0.5,) * pp
    from planner.layout import Candidates
    c = Candidates(tp=np.array([1, 1]), pp=np.array([8, 8]), dp=np.array([1, 1]), cp=np.array([1, 1]),
                   ep=np.array([1, 1]), vpp=np.array([1, 1]), zero=np.array([1, 1]), mb=np.array([1, 1]),
                   rc=np.array([0, 0]), sp=np.array([False, False]), schedule=np.array([0, 3]), gpus_per_node=8,
                   nodes=np.array([1, 1]))
    assert list(inflight_microbatches(c, 64.0)) == [8.0, 8.5]
    assert list(c.chunks) == [1, 2]


def test_paired_share_counts_the_overlapped_actions():
    """The share of rank 0's chunk forwards that run in an OVERLAP_F_B pair is the orders' own count."""
    for pp, m in ((4, 8), (4, 32), (16, 120)):
        pairs = sum(op[0] == "X" for op in dualpipev_orders(pp, m)[0])
        assert float(dualpipev_paired_share(pp, m)) == pytest.approx(pairs / (2 * m))


def test_estimate_and_simulator_agree(catalog):
    job = _job({"tp": 1, "pp": 4, "dp": 8, "zero": 3, "schedule": "dualpipev"})
    plan = estimate_job(job, catalog)
    cfg = SimConfig.from_estimate(jsonable(plan), job)
    assert cfg.pipeline.schedule == "dualpipev"
    assert cfg.pipeline.analytic_step_time() == pytest.approx(plan.step_time_s, rel=1e-9)
    res = simulate(cfg, steps=20)
    assert (res.steady_step_time_s or res.wall_s / 20) == pytest.approx(plan.step_time_s, rel=1e-9)
    d = plan.detail
    ops = pipeline_ops(4, int(d["num_microbatches"]), 1, d["t_fwd_mb"], d["t_bwd_mb"], 0.0, "dualpipev")
    assert len(ops) == 4  # one timeline per rank


def test_bubble_memory_and_layout_against_1f1b(catalog):
    one = estimate_job(_job({"tp": 1, "pp": 4, "dp": 8, "zero": 3, "schedule": "1f1b"}), catalog)
    dual = estimate_job(_job({"tp": 1, "pp": 4, "dp": 8, "zero": 3, "schedule": "dualpipev"}), catalog)
    assert dual.breakdown_s.bubble < 0.5 * one.breakdown_s.bubble
    assert dual.memory_per_gpu_bytes.activations > one.memory_per_gpu_bytes.activations  # pp + 1/2 in flight on every rank
    assert "DualPipeV" in config_str(jsonable(dual.config)) and "DualPipeV" not in config_str(jsonable(one.config))


def test_ep_all_to_all_hides_under_the_paired_chunk(catalog):
    """torchtitan's overlap_callback runs a pair's forward and backward in two threads that alternate at the MoE
    dispatch / combine hooks: the exposed EP all-to-all falls on the DualPipeV rows, not on 1F1B's."""
    moe = {"preset": "mixtral-8x7b"}
    p = {"tp": 1, "pp": 2, "dp": 16, "ep": 8, "zero": 3}
    one = estimate_job(_job({**p, "schedule": "1f1b"}, model=moe, nodes=4), catalog)
    dual = estimate_job(_job({**p, "schedule": "dualpipev"}, model=moe, nodes=4), catalog)
    assert one.breakdown_s.comm_ep > 0
    assert dual.breakdown_s.comm_ep < 0.8 * one.breakdown_s.comm_ep


@pytest.mark.parametrize("parallel,framework,gb,rc,field", [
    ({"tp": 1, "pp": 4, "dp": 8, "zero": 3, "schedule": "dualpipev"}, {"name": "torchtitan", "compile": True}, 256,
     "none", "training.framework.compile"),
    ({"tp": 1, "pp": 4, "dp": 8, "zero": 3, "schedule": "dualpipev"}, TITAN, 48, "none", "training.global_batch"),
    ({"tp": 1, "pp": 1, "dp": 32, "zero": 3, "schedule": "dualpipev"}, TITAN, 256, "none", "parallel.pp"),
    ({"tp": 1, "pp": 4, "dp": 8, "zero": 1, "schedule": "dualpipev"}, "megatron-core", 256, "none",
     "parallel.schedule"),
    ({"tp": 1, "pp": 2, "dp": 16, "ep": 8, "zero": 3, "schedule": "dualpipev"}, TITAN, 256, "full",
     "training.recompute"),
])
def test_refused_where_the_code_refuses(catalog, parallel, framework, gb, rc, field):
    model = {"preset": "mixtral-8x7b"} if parallel.get("ep") else None
    with pytest.raises(InputError) as e:
        estimate_job(_job(parallel, model=model, framework=framework, global_batch=gb, recompute=rc), catalog)
    assert str(e.value).startswith(field) or field in str(e.value)


def test_vpp_beside_dualpipev_is_refused():
    with pytest.raises(Exception, match="two stages a rank"):
        _job({"tp": 1, "pp": 4, "dp": 8, "zero": 3, "vpp": 2, "schedule": "dualpipev"})


def test_torchtitan_launch_names_the_schedule_and_its_stages(catalog):
    job = _job({"tp": 1, "pp": 4, "dp": 8, "zero": 3, "schedule": "dualpipev"})
    plan = estimate_job(job, catalog)
    argv = [t for t in shlex.split(emit_launch_spec(job, jsonable(plan), "torchrun"), comments=True) if t.strip()]
    i = argv.index("--parallelism.pipeline_parallel_schedule")
    assert argv[i + 1] == "DualPipeV"
    j = argv.index("--parallelism.pipeline_parallel_layers_per_stage")
    assert int(argv[j + 1]) == 4  # 32 layers over 2 x PP4 = 8 stages
    assert "--compile.no_enable" in argv


def _moe_rec_job(compile_):
    return load_job_dict({
        "model": {"preset": "mixtral-8x7b"},
        "training": {"seq_len": 4096, "global_batch": 512, "micro_batch": 1, "recompute": "none", "tokens": 1e10,
                     "framework": {"name": "torchtitan", "compile": compile_}},
        "parallel": {"tp": 1, "ep": 8, "zero": 2},
        "cluster": {"instance": "aws:p5.48xlarge", "nodes": 8},
    })


def test_recommend_tries_dualpipev_on_torchtitan_with_compile_off(catalog):
    """With the schedule open, torchtitan with compile off is searched under 1F1B and DualPipeV (said in the
    assumptions), and a DualPipeV plan written back with its schedule estimates the same; with compile on (torchtitan's
    default, which DualPipeV refuses) nothing changes."""
    from planner.workloads.training import recommend
    rec = recommend(_moe_rec_job(False), catalog, top=3, simulate=False)
    best = jsonable(rec["best"])
    assert best["config"]["schedule"] == "dualpipev"  # 6.25 s at PP4 against 1F1B's best
    assert any("1F1B and DualPipeV searched" in a for a in rec["assumptions"])
    job = _moe_rec_job(False)
    job.parallel = job.parallel.model_copy(update=dict(
        pp=best["config"]["pp"], dp=best["config"]["dp"], schedule="dualpipev"))
    job.parallel.schedule = "dualpipev"
    assert estimate_job(job, catalog).step_time_s == pytest.approx(best["step_time_s"], rel=1e-9)
    on = recommend(_moe_rec_job(True), catalog, top=3, simulate=False)
    # compile on: DualPipeV is not among the schedules (1F1B won here until acc41c exposed the pipelined FSDP stage's
    # reduce-scatter whole, which the interleaved schedule's shorter bubble now outweighs)
    assert jsonable(on["best"])["config"]["schedule"] in ("1f1b", "interleaved")
    assert not any("DualPipeV" in a for a in on["assumptions"])
