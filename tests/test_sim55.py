"""``planner simulate`` plays a step as the pipeline runs the stack makes of it (sim55): where the stack runs the
schedule once per gradient-accumulation step (``Stack.pp_pass_microbatches``: torchtitan's local batch over the
micro-batch, NeMo AutoModel's option) each run fills and drains the pipeline, as ``pipeline.step_composition`` prices
it, and a held FSDP stage syncs between runs (step_time ``run_sync``). Until sim55 the simulator played one run of all
the step's micro-batches (a torchtitan PP4 plan in passes of 1: 2.29 s simulated where estimate said 7.51 s). Also:
GPipe's lighter stages in the list schedule (simulated 1.6% over estimate before), DualPipeV's bubble once per run
and torch's 2 pp micro-batches checked per run. Values, not timings."""
import pytest
from conftest import write_job

from planner.errors import InputError
from planner.results import jsonable
from planner.simulate.config import PipelineConfig, SimConfig
from planner.simulate.engine import planned_work, simulate
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _job(pass_m, parallel, name="torchtitan", **fw):
    framework = {"name": name, **fw} | ({} if pass_m is None else {"pp_pass_microbatches": pass_m})
    return load_job_dict({
        "model": {"preset": "llama3-8b"},
        "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "tokens": 1e10, "framework": framework},
        "parallel": parallel, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}})


def _simulated(job, steps=30):
    plan = estimate_job(job)
    cfg = SimConfig.from_estimate(jsonable(plan), job)
    res = simulate(cfg, steps=steps)
    return plan, cfg, res.steady_step_time_s or res.wall_s / steps


PP4 = {"interleaved": {"tp": 2, "pp": 4, "vpp": 2, "zero": 3, "schedule": "interleaved"},
       "gpipe": {"tp": 2, "pp": 4, "zero": 3, "schedule": "gpipe"},
       "1f1b": {"tp": 2, "pp": 4, "zero": 3, "schedule": "1f1b"}}
#: the passes torch builds each schedule for at PP4 (Schedule1F1B needs >= pp micro-batches a run: rule titan-1f1b-m)
PASSES = {"interleaved": (1, 2, 8), "gpipe": (1, 2, 8), "1f1b": (4, 8)}


@pytest.mark.parametrize("schedule", list(PP4))
def test_simulated_step_equals_the_estimate_run_by_run(schedule):
    """torchtitan Llama-3-8B TP2 PP4 DP2 on 2 p5.48xlarge, 32 micro-batches a replica, in passes of 1, 2 and 8 (32,
    16 and 4 runs; 1F1B: 4 and 8, torch's Schedule1F1B refuses a run under its 4 stages) and in one: the simulated step
    equals estimate's within 1e-9 relative, and the bubble and the step grow with the runs. The old simulator played
    one run of 32 whatever the pass (2.29 s against 7.51 s for GPipe in passes of 1)."""
    steps, bubbles = {}, {}
    for pass_m in (None,) + PASSES[schedule]:
        plan, cfg, sim = _simulated(_job(pass_m, PP4[schedule]))
        assert cfg.pipeline.runs == (1 if pass_m is None else 32 // pass_m)
        assert sim == pytest.approx(plan.step_time_s, rel=1e-9), (schedule, pass_m, sim, plan.step_time_s)
        steps[pass_m], bubbles[pass_m] = sim, plan.breakdown_s["bubble"]
    order = PASSES[schedule] + (None,)  # most runs first
    assert all(steps[a] > steps[b] and bubbles[a] > bubbles[b] for a, b in zip(order, order[1:]))


def test_torch_schedules_refuse_runs_they_cannot_build():
    """torch's Schedule1F1B refuses a run of fewer micro-batches than its stages: a torchtitan PP4 1F1B plan in passes
    of 2 is refused in one line (estimate priced it until sim55: 4.82 s); ScheduleInterleaved1F1B a run that is no
    multiple of its rounds: 36 micro-batches a replica (9 rounds at PP4, which the layout's rule accepts) in passes
    of 9 (2 rounds each)."""
    with pytest.raises(InputError, match="2 micro-batches per schedule run < PP4"):
        estimate_job(_job(2, PP4["1f1b"]))
    job = load_job_dict({
        "model": {"preset": "llama3-8b"},
        "training": {"seq_len": 4096, "global_batch": 72, "micro_batch": 1, "tokens": 1e10,
                     "framework": {"name": "torchtitan", "pp_pass_microbatches": 9}},
        "parallel": PP4["interleaved"], "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}})
    with pytest.raises(InputError, match="9 micro-batches per schedule run on PP4"):
        estimate_job(job)


def test_a_held_fsdp_stage_syncs_between_runs_in_the_simulation_too():
    """NeMo AutoModel PP2 ZeRO-3, 8 micro-batches in passes of 2: torch.distributed.pipelining reduce-scatters and
    regathers the held stage at the end of each run (step_time ``run_sync``, 45 ms here); the plan hands the simulator
    that per-run sync and it pays it 3 times between the 4 runs, counted as comm (the old plan's detail had no such
    term and the simulation no runs)."""
    job = _job(2, {"tp": 1, "pp": 2, "zero": 3, "schedule": "1f1b"}, name="nemo-automodel")
    plan, cfg, sim = _simulated(job)
    assert plan.detail["t_pp_run_sync"] > 0 and cfg.pipeline.t_run_sync == plan.detail["t_pp_run_sync"]
    assert sim == pytest.approx(plan.step_time_s, rel=1e-9)
    without = PipelineConfig(**{**vars(cfg.pipeline), "t_run_sync": 0.0}).analytic_step_time()
    assert plan.step_time_s - without == pytest.approx(3 * cfg.pipeline.t_run_sync, rel=1e-9)


def test_gpipe_stages_before_the_last_fill_and_drain_at_their_own_pace():
    """torchtitan GPipe PP4, one run: the list schedule ran every stage at the pacing (LM head) stage's time and the
    simulated step sat 1.6% over estimate's, which takes the lighter stages' fill and drain off (``fill_excess``)."""
    plan, cfg, sim = _simulated(_job(None, PP4["gpipe"]))
    assert cfg.pipeline.t_fill_excess > 0
    assert sim == pytest.approx(plan.step_time_s, rel=1e-9)


def test_dualpipev_pays_a_bubble_per_run_and_needs_2_pp_micro_batches_in_each():
    """torchtitan DualPipeV PP4 (compile off, which it refuses), 32 micro-batches: passes of 8 are 4 runs, 4 bubbles
    (estimate charged one until sim55), and the simulation agrees; passes of 4 build a ScheduleDualPipeV of 4
    micro-batches, under its 2 x 4 stages, refused in one line (it passed on the step's 32 before)."""
    par = {"tp": 2, "pp": 4, "zero": 3, "schedule": "dualpipev"}
    one = estimate_job(_job(None, par, compile=False))
    plan, _, sim = _simulated(_job(8, par, compile=False))
    assert plan.breakdown_s["bubble"] == pytest.approx(4 * one.breakdown_s["bubble"], rel=1e-9)
    assert sim == pytest.approx(plan.step_time_s, rel=1e-9)
    with pytest.raises(InputError, match="4 micro-batches per schedule run < 2 x PP4"):
        estimate_job(_job(4, par, compile=False))


def test_microbatch_timeline_drains_each_run_before_the_next():
    """The per-micro-batch timeline plays the runs in turn: stage 0 starts the forward of a run's first micro-batch
    after its backward of the run before (1F1B's warm-up would have started it under one run), micro-batches are
    numbered through the step, and the last op ends where the step's pipeline does (PP4, 8 micro-batches in runs of
    2, t_f 1, t_b 2: 4 x (2 x 3 + 3 x 3) = 60 s)."""
    p = PipelineConfig(t_fwd_mb=1.0, t_bwd_mb=2.0, pp=4, m=8, pp_pass_microbatches=2)
    res = simulate(SimConfig(p), steps=1, timeline=True, microbatch_timeline=True)
    assert res.step_time_s["mean"] == pytest.approx(60.0) == pytest.approx(p.analytic_step_time())
    ops = {(e[0], e[2]): (e[3], e[4]) for e in res.timeline if e[1] == "gpu"}
    for k in range(1, 4):
        assert ops[(0, f"F{2 * k}")][0] >= ops[(0, f"B{2 * k - 1}")][1]
    assert {kind for (rank, kind) in ops if rank == 3} == {f"{x}{i}" for x in "FB" for i in range(8)}
    assert max(end for _, end in ops.values()) == pytest.approx(60.0)


def test_a_pass_that_does_not_divide_the_step_is_refused_and_the_work_bound_is_the_step_s():
    """A hand-made config whose run does not divide the step is refused (the stack rule titan-pp-pass refuses such
    a plan before); the work a simulation plans (``planned_work``: replica micro-batches) is the step's whatever its
    runs, so the README's bound holds with passes as without."""
    with pytest.raises(ValueError, match="does not divide"):
        PipelineConfig(t_fwd_mb=1.0, t_bwd_mb=2.0, pp=4, m=8, pp_pass_microbatches=3)
    one = SimConfig(PipelineConfig(t_fwd_mb=1.0, t_bwd_mb=2.0, pp=4, m=64, dp=8))
    runs = SimConfig(PipelineConfig(t_fwd_mb=1.0, t_bwd_mb=2.0, pp=4, m=64, dp=8, pp_pass_microbatches=1))
    assert planned_work(runs, 100) == planned_work(one, 100) == 100 * 8 * 64


def test_simulate_refuses_a_pass_that_leaves_a_part_run_in_one_line(cli, tmp_path):
    """NeMo AutoModel has no divisibility rule for its pass (its loop's check unread): estimate prices passes of 12 of
    32 micro-batches as 32 / 12 runs; the simulator, which plays whole runs, refuses the plan in one line, exit 2 (the
    old one simulated it as one run of 32)."""
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "tokens": 1e10,
                        "framework": {"name": "nemo-automodel", "pp_pass_microbatches": 12}},
           "parallel": {"tp": 2, "pp": 4, "zero": 3, "schedule": "1f1b"},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}
    code, out, err = cli("simulate", str(write_job(tmp_path, job)), "--no-answers", "--steps", "5")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == ("error: training.framework.pp_pass_microbatches: 12 does not divide the 32 micro-batches a "
                           "replica runs a step: the simulator plays whole runs of the pipeline schedule")
