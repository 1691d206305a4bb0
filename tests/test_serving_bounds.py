"""What one serving plan costs: one iteration model per option, a stated bound on every simulation's work
(``planner.simulate.serving.EVENT_BOUND``), and an unstable queue said at once instead of simulated."""
import collections

import pytest

import planner.simulate.serving as ss
import planner.workloads.serving as ws
from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ReplicaSpec, ServingSimConfig,
                                      make_workload, simulate_serving)
from planner.spec import load_job_dict
from planner.workloads.serving import latency_vs_qps, plan_serving
from planner.workloads.serving_settings import SimSettings
from planner.workloads.serving_iteration import IterationModel
from conftest import answered, flat, write_job

FAST = SimSettings(search_s=60, search_requests=3000, confirm_s=120, confirm_requests=6000, candidates=1)
H100 = {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"]}
CHAT = {"p99_latency_ms": 40, "ttft_ms": 800, "prompt_tokens": 512, "output_tokens": 128, "max_batch": 128, "qps": 40}


def _job(serving, model="llama3-8b", constraints=H100):
    return load_job_dict({"model": {"preset": model}, "serving": serving, "constraints": constraints})


def _md1(seed=1, duration_s=2000.0):
    """The module docstring's M/D/1 queue: batch 1, 10 steps of 10 ms a request, Poisson at 5 req/s."""
    cfg = ServingSimConfig(replica=ReplicaSpec(IterationModel.constant(0.01), num_blocks=1000),
                           engine=EngineConfig(max_num_seqs=1, max_num_batched_tokens=1))
    wl = make_workload(ArrivalSpec("poisson", rate=5.0, duration_s=duration_s), LengthDist("fixed", 1),
                       LengthDist("fixed", 10), seed=seed)
    return cfg, wl


def test_one_iteration_model_per_option(monkeypatch):
    """plan_serving built each option's IterationModel up to 14 times (llm_option's iteration and TPOT, its
    prefill, screen_concurrency's, the offline run's, every simulation's replica_spec): now once each."""
    built = collections.Counter()
    real = IterationModel.build.__func__

    def counted(cls, m, hw, tp, precision, *a, **kw):
        built[(hw.name, tp, precision)] += 1
        return real(cls, m, hw, tp, precision, *a, **kw)

    monkeypatch.setattr(IterationModel, "build", classmethod(counted))
    res = plan_serving(_job({**CHAT, "qps": 10}), sim=FAST)
    assert res["simulated"] and built
    assert max(built.values()) == 1, built.most_common(3)
    built.clear()
    plan_serving(_job({"mode": "batch", "requests": 500, "prompt_tokens": 512, "output_tokens": 128}), sim=FAST)
    assert built and max(built.values()) == 1, built.most_common(3)


def test_event_bound_cuts_a_run_and_says_how_many_requests():
    """A run that reaches its event bound releases no more requests; the ones released finish and are the
    percentiles' sample, and the result says how many of how many (never silently a shorter run)."""
    cfg, wl = _md1()
    whole = simulate_serving(cfg, wl)
    assert whole.cut is None and "cut" not in whole.summary()
    assert whole.engine_events > 10_000  # ~2 events a request: the bound below cuts it
    cut = simulate_serving(cfg, wl, max_events=5_000)
    c = cut.cut
    assert c["event_bound"] == 5_000 and c["offered"] == len(wl) and not c["stopped"]
    assert 0 < c["simulated"] < len(wl) and c["measured"] == cut.requests == cut.completed
    assert cut.unfinished == 0 and cut.engine_events < 5_000 + 10  # the released ones only drained
    assert cut.summary()["cut"] == c
    # the M/D/1 answer from the requests simulated: mean time in system 0.15 s
    assert cut.e2e.mean == pytest.approx(0.15, rel=0.05)
    words = ss.cut_words(c)
    assert (f"from {c['measured']:,} measured requests: the run reached its 5,000-engine-event bound after "
            f"{c['simulated']:,} of its {len(wl):,}") in words


def test_monitor_off_gives_the_same_request_times():
    """A plan's search runs skip the queue / KV monitor: they answer pass/fail from the request times,
    which must be those of the monitored run."""
    cfg, wl = _md1(seed=3, duration_s=400.0)  # ~2,000 requests: the same comparison on a fifth of the run
    a, b = simulate_serving(cfg, wl), simulate_serving(cfg, wl, monitor=False)
    assert len(wl) > 1000
    assert a.ttft == b.ttft and a.tpot == b.tpot and a.e2e == b.e2e and a.engine_events == b.engine_events
    assert len(a.timeline["t"]) > 0 and len(b.timeline["t"]) == 0


def test_a_cut_plan_says_so_beside_its_numbers(monkeypatch, tmp_path, cli):
    """With a small bound every run of the chat job is cut: the recommendation's simulated p99s say from how
    many requests they come, and the JSON carries the cut and the bound."""
    monkeypatch.setattr(ss, "EVENT_BOUND", 3_000)
    p = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": CHAT, "constraints": H100})
    res = answered(cli("serve", p, "--json"))
    assert res["simulation"]["event_bound"] == 3_000
    d = res["best"]["simulated"]
    assert d["cut"]["event_bound"] == 3_000 and d["cut"]["measured"] == d["requests"] < d["cut"]["offered"]
    assert d["runs_cut"] >= 1
    code, out, err = cli("serve", p)
    assert code == 0, err
    text = flat(out)
    rec = text[text.index("recommended:"):]
    assert (f"p99 TPOT {d['tpot_ms']['p99']:.1f} ms (from {d['cut']['measured']:,} measured requests: the run "
            f"reached its 3,000-engine-event bound after {d['cut']['simulated']:,} of its {d['cut']['offered']:,}") in rec
    assert "simulation bound: at most 3,000 engine events a run" in text


def test_batch1_job_states_the_simulation_bound(tmp_path, cli):
    """The fuzz find (llama3-8b, max_batch 1, 10 QPS on AWS: ~3 minutes of simulation before decode spans):
    the plan finishes with the bound on each run's work stated, and says whether it cut any."""
    p = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "constraints": {"clouds": ["aws"]},
                             "serving": {"qps": 10, "p99_latency_ms": 100, "max_batch": 1}})
    code, out, err = cli("serve", p)
    assert code == 0, err
    text = flat(out)
    assert f"simulation bound: at most {ss.EVENT_BOUND:,} engine events a run" in text
    assert "none was cut" in text or "engine-event bound" in text


def test_unstable_load_is_said_not_simulated(monkeypatch):
    """latency_vs_qps past the replicas' saturated throughput: the queue only grows, so the point says
    ``unstable`` at once (latencies None) and no simulation runs for it."""
    job = _job({**CHAT, "qps": 20})
    b = plan_serving(job, sim=FAST)["best"]
    mu = b["simulated"]["saturated_rps_per_replica"] * b["replicas"]
    runs = []
    real = ws.simulate_serving
    monkeypatch.setattr(ws, "simulate_serving", lambda *a, **kw: runs.append(1) or real(*a, **kw))
    lo, hi = latency_vs_qps(job, b, [0.5 * mu, 1.2 * mu], sim=FAST)
    assert len(runs) == 1  # the stable point only
    assert not lo["unstable"] and lo["ttft_ms"]["p99"] is not None
    assert hi["unstable"] and hi["utilisation"] > 1 and hi["ttft_ms"]["p99"] is None and hi["unfinished"] is None


def test_offline_fleet_time_states_what_it_simulated(tmp_path, cli):
    """An offline fleet's simulated time comes from draws of a replica's share, one per replica for a small fleet
    (until test_sim_bounds26: one draw, "the slowest of N replicas, which holds the fleet, is not"): the time says
    beside it which replicas' shares were simulated and that the slowest holds the fleet."""
    p = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
                             "serving": {"mode": "batch", "requests": 512, "prompt_tokens": 512, "output_tokens": 256,
                                         "deadline_hours": 3 / 3600, "max_batch": 256}})
    reps = answered(cli("serve", p, "--json"))["best"]["simulated"]["replicas"]
    assert reps > 1
    code, out, err = cli("serve", p)
    assert code == 0, err
    rec = flat(out)[flat(out).index("recommended:"):]
    assert f"{reps} replicas finish in" in rec and "holding the fleet" in rec
    assert "(simulated: every replica's share simulated" in rec  # 512 requests: the whole fleet is simulated


def test_a_drain_that_runs_out_stops_the_run_and_counts_misses(monkeypatch):
    """Past the bound the released requests drain for at most DRAIN_EVENTS more events: an overloaded queue
    (50 req/s on a server of 10) still holds a backlog then, and the run stops with it unfinished (infinite
    latency, so the p99 misses) and says so, instead of draining it for as long as it takes."""
    monkeypatch.setattr(ss, "DRAIN_EVENTS", 200)
    cfg = ServingSimConfig(replica=ReplicaSpec(IterationModel.constant(0.01), num_blocks=1000),
                           engine=EngineConfig(max_num_seqs=1, max_num_batched_tokens=1))
    wl = make_workload(ArrivalSpec("poisson", rate=50.0, duration_s=200.0), LengthDist("fixed", 1),
                       LengthDist("fixed", 10), seed=2)
    res = simulate_serving(cfg, wl, max_events=1_000)
    c = res.cut
    assert c["stopped"] and c["simulated"] < len(wl)
    assert res.engine_events <= 1_000 + 200 + 1 and res.unfinished > 0 and res.e2e.p99 == float("inf")
    assert not res.stopped_early and not res.meets(None, None)
    assert "stopped before they all finished" in ss.cut_words(c)
