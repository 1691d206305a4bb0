"""Bounds and honesty of the simulations: a whole serving plan's simulations bounded together (``SimBudget``,
``PLAN_EVENT_BOUND``), an offline share drawn several times (``OFFLINE_DRAWS``), and the simulated training
questions saying what they ran (``answers._ran``; the checkpoint sweep's closed form)."""

import pytest

import planner.simulate.serving as ss
import planner.workloads.serving as ws
from planner.simulate import answers as A
from planner.simulate.config import CheckpointConfig, FailureConfig, LoaderConfig, PipelineConfig, SimConfig
from planner.spec import load_job_dict
from planner.workloads.serving import SimBudget, latency_vs_qps, plan_serving
from planner.workloads.serving_settings import SimSettings
from conftest import answered, engine_events_counted, flat, write_job

FAST = SimSettings(search_s=60, search_requests=3000, confirm_s=120, confirm_requests=6000, candidates=1)
H100 = {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"]}
CHAT = {"p99_latency_ms": 40, "ttft_ms": 800, "prompt_tokens": 512, "output_tokens": 128, "max_batch": 128, "qps": 40}


def test_a_plan_past_its_bound_stops_simulating_and_says_so(monkeypatch, tmp_path, cli):
    """With the plan bound lowered (the job's ``serving.plan_event_bound``; until it was a field, the module constant
    ``PLAN_EVENT_BOUND``) the chat job's plan stops simulating once its runs have used it: the JSON carries the bound,
    what the runs took and what was left unsimulated, the text says it, and the recommendation is the analytic size (no
    option was confirmed)."""
    seen = engine_events_counted(monkeypatch)
    p = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": {**CHAT, "plan_event_bound": 2_000},
                             "constraints": H100})
    res = answered(cli("serve", p, "--json"))
    sim = res["simulation"]
    assert sim["plan_event_bound"] == 2_000
    assert sim["plan_events"] == sum(seen) and sim["plan_runs"] == len(seen) >= 1
    assert 2_000 <= sum(seen) <= 2_000 + ss.DRAIN_EVENTS  # it ran the bound, and no run started past it
    assert "2,000-engine-event bound" in sim["plan_bound_reached"] and "analytic size" in sim["plan_bound_reached"]
    assert res["best"]["sized_by"] == "analytic"
    seen.clear()
    code, out, err = cli("serve", p)
    assert code == 0, err
    text = flat(out)
    assert (f"plan bound: at most 2,000 engine events over all the plan's simulations (serving.plan_event_bound; "
            f"this plan: {sum(seen):,} in") in text
    assert "simulation bound reached: the plan's simulations reached their 2,000-engine-event bound" in text


def test_a_plan_within_its_bound_states_it_and_its_tally(monkeypatch):
    """A plan the bound does not reach still states it, with the events and runs it took (counted run by run)."""
    seen = engine_events_counted(monkeypatch)
    res = plan_serving(load_job_dict({"model": {"preset": "llama3-8b"}, "constraints": H100,
                                      "serving": {"mode": "batch", "requests": 300, "prompt_tokens": 256,
                                                  "output_tokens": 64}}), sim=FAST)
    sim = res["simulation"]
    assert sim["plan_event_bound"] == ws.PLAN_EVENT_BOUND and sim["plan_bound_reached"] == ""
    assert sim["plan_event_bound_from"] == "default"
    assert sim["plan_events"] == sum(seen) > 0 and sim["plan_runs"] == len(seen)


def test_a_latency_curve_past_its_bound_says_which_points_it_left(monkeypatch):
    """latency_vs_qps shares one bound over its points: with one event's budget the first point runs (cut at it) and
    the rest are said, not simulated (latencies None), with where the bound stood."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "serving": {**CHAT, "qps": 10}, "constraints": H100})
    b = plan_serving(job, sim=FAST)["best"]
    seen = engine_events_counted(monkeypatch)
    mu = b["simulated"]["saturated_rps_per_replica"] * b["replicas"]
    pts = latency_vs_qps(job, b, [0.2 * mu, 0.4 * mu, 0.6 * mu], sim=FAST, runs=SimBudget(1))
    assert len(seen) == 1
    assert pts[0]["not_simulated"] == ""
    for p in pts[1:]:
        assert p["not_simulated"].endswith("of 1 plan events") and p["ttft_ms"]["p99"] is None


def test_offline_fleet_draws_several_shares_and_takes_the_slowest(tmp_path, cli):
    """An offline fleet whose shares run whole: each draw is a replica's share with its own lengths, and the fleet's
    time is the slowest of them (it is held until its slowest replica finishes); a fleet this small (512 requests) is
    simulated whole, a draw per replica (until this change one draw stood for it: 5 replicas in 2.09 s, where the
    slowest of the 5 draws misses the 3 s deadline); the text says what was simulated."""
    p = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
                             "serving": {"mode": "batch", "requests": 512, "prompt_tokens": 512, "output_tokens": 256,
                                         "deadline_hours": 3 / 3600, "max_batch": 256}})
    res = answered(cli("serve", p, "--json"))
    d = res["best"]["simulated"]
    reps, dr = d["replicas"], d["draws"]
    assert reps > 1 and dr["whole_share"] and reps <= ws.OFFLINE_FLEET_RUNS
    assert dr["count"] == max(reps, ws.OFFLINE_DRAWS) and dr["fleet_draws"] == reps  # the whole fleet
    assert dr["seeds"] == list(range(dr["count"]))
    rates = dr["requests_per_s"]
    assert len(set(rates)) > 1  # the draws differ: several lengths, not one draw repeated
    # the stated rate is the slowest fleet draw's, below the first draw's where that one was faster
    assert d["requests_per_s_per_replica"] == pytest.approx(min(rates[:dr["fleet_draws"]]))
    assert d["hours"] * 3600 == pytest.approx(-(-512 // reps) / min(rates[:dr["fleet_draws"]]))
    rec = res["why"]  # the recommendation line the text prints
    assert f"{reps} replicas finish in" in rec
    assert "(simulated: every replica's share simulated" in rec and "the slowest holding the fleet" in rec


def test_checkpoint_sweep_reaches_intervals_past_the_simulated_steps():
    """The checkpoint sweep is the closed form on the step time: with a Young/Daly interval of thousands of steps
    it still finds the best interval there (a 300-step simulation could not see one save), and says it did not
    simulate it."""
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02), checkpoint=CheckpointConfig(every_steps=100, bytes=1e11),
                    failures=FailureConfig(mtbf_node_s=3.6e6, nodes=1))
    k = A.checkpoint_interval_sweep(cfg, step_s=0.05, steps=300)
    assert k["best_interval_steps"] > 300 and max(r["interval_steps"] for r in k["rows"]) > 300
    assert k["method"] == "closed form" and k["simulated"]["runs"] == 0
    assert f"the longest interval, {max(r['interval_steps'] for r in k['rows']):,} steps" in k["simulated"]["words"]


def test_loader_answers_run_past_the_loaders_warmup():
    """With 64 workers x prefetch 2 the loaders' warm-up window is 256 steps: every run of the workers question, the
    GPU-bound one too, asks for four windows (1,024 steps, not 300), settles, and the answer says so."""
    cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=32),
                    loader=LoaderConfig(workers=64, prefetch_factor=2, decode_s=0.004, decode_cv=0.0))
    w = A.workers_needed(cfg, steps=300, grid=(64,))
    s = w["simulated"]
    assert s["runs"] == 2 and s["steps_asked"] == 4 * 256
    assert s["settled"] == 2 and s["simulated_steps"] >= 4 * 256  # the steady state needs four whole windows
    assert "2 simulations of up to 1,024 steps" in s["words"] and "each stopped once its step times settled" in s["words"]
    g = A._gpu_bound(cfg, 300, 0)
    assert g.steady_state_at_step is not None  # at the bare 300 steps it could not settle (before: asked 300)
