"""A serving plan's simulation bound as the user's input: the job field ``serving.plan_event_bound`` and
``planner serve --plan-event-bound`` over it (checked in one place, stated beside the answer in text and JSON), one
``SimBudget`` default (``budget_for``), the app's plan and latency curve under that one bound, and what an offline
fleet's few share draws make its time (``_offline_draws_effect``)."""

import pytest
import yaml

import planner.simulate.serving as ss
import planner.workloads.serving as ws
import planner.workloads.serving_settings as wss
from planner import interactive as wi
from planner.spec import load_job_dict
from conftest import answered, engine_events_counted, flat, refused, write_job

H100 = {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"]}
CHAT = {"p99_latency_ms": 40, "ttft_ms": 800, "prompt_tokens": 512, "output_tokens": 128, "max_batch": 128, "qps": 40}
#: a small real-time job whose whole plan takes ~18,000 engine events and its app curve ~3,000 more (~12,800 before
#: drain33: ``_capacity``'s backlog is 40 requests a slot, was 10)
SMALL = {"model": {"preset": "llama3-8b"}, "constraints": {"instances": ["aws:p5.48xlarge"]},
         "serving": {"p99_latency_ms": 40, "ttft_ms": 800, "prompt_tokens": 256, "output_tokens": 64, "max_batch": 64,
                     "qps": 5}}


@pytest.mark.parametrize("value", [10, 0, -5, 2.5, "abc", 1e9, float("inf"), [1000]])
def test_the_field_refuses_what_is_no_bound_in_one_line(tmp_path, cli, value):
    p = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": {**CHAT, "plan_event_bound": value}})
    line = refused(cli("serve", p, "--no-simulate"))
    assert line.startswith("error: serving.plan_event_bound: must be a whole number of engine events from 1,000 to "
                           "100,000,000"), line


@pytest.mark.parametrize("value", ["0", "12.5", "abc", "1e9", ""])
def test_the_flag_is_held_to_the_fields_bounds_under_its_own_name(tmp_path, cli, value):
    p = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": CHAT})
    assert refused(cli("serve", p, "--plan-event-bound", value)).startswith("error: --plan-event-bound: must be a whole number of engine events"), err


@pytest.mark.parametrize("value, want", [("1e6", 1_000_000), (2e5, 200_000), (1_000, 1_000), (100_000_000, 100_000_000)])
def test_the_field_takes_a_count_written_as_people_write_it(value, want):
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "serving": {**CHAT, "plan_event_bound": value}})
    assert job.serving.plan_event_bound == want
    assert wss.settings_for(job).plan_event_bound == want


def test_a_smaller_bound_simulates_fewer_events_and_says_what_it_left(monkeypatch):
    """The same job at two bounds: each plan runs its bound (and no run starts past it), the smaller one fewer events,
    and each says, in the JSON it prints, the bound and which options it left at their analytic size. 8,000, not 4,000,
    since drain33: the first run, the saturated throughput's backlog (``_capacity``, 40 requests a slot), is ~4,460
    events by itself (a burst releases every request at once, so the bound cannot cut it), which both bounds ran."""
    seen = engine_events_counted(monkeypatch)
    tallies = {}
    for bound in (1_000, 8_000):
        seen.clear()
        job = load_job_dict({"model": {"preset": "llama3-8b"}, "constraints": H100,
                             "serving": {**CHAT, "plan_event_bound": bound}})
        sim = ws.plan_serving(job).to_json()["simulation"]
        assert sim["plan_event_bound"] == bound and sim["plan_event_bound_from"] == "serving.plan_event_bound"
        assert sim["plan_events"] == sum(seen) and bound <= sum(seen) <= bound + ss.DRAIN_EVENTS
        assert f"{bound:,}-engine-event bound" in sim["plan_bound_reached"]
        assert "keep the analytic size" in sim["plan_bound_reached"] or "it keeps" in sim["plan_bound_reached"]
        tallies[bound] = (sum(seen), len(seen))
    assert tallies[1_000][0] < tallies[8_000][0]


def test_the_flag_overrides_the_field_and_both_say_where_the_bound_came_from(monkeypatch, tmp_path, cli):
    seen = engine_events_counted(monkeypatch)
    p = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "constraints": H100,
                             "serving": {**CHAT, "plan_event_bound": 50_000}})
    sim = answered(cli("serve", p, "--json", "--plan-event-bound", "2e3"))["simulation"]
    assert (sim["plan_event_bound"], sim["plan_event_bound_from"]) == (2_000, "--plan-event-bound")
    assert sim["plan_events"] == sum(seen) <= 2_000 + ss.DRAIN_EVENTS and sim["plan_bound_reached"]
    seen.clear()
    code, out, err = cli("serve", p, "--plan-event-bound", "2000")
    assert code == 0, err
    assert ("plan bound: at most 2,000 engine events over all the plan's simulations (--plan-event-bound; this plan: "
            f"{sum(seen):,} in {len(seen)} runs)") in flat(out)


def test_one_place_defaults_the_budget():
    """``budget_for``: a budget the caller shares is the one used; else a fresh one of the settings' bound."""
    sim = wss.SimSettings(plan_event_bound=7_000)
    shared = ws.SimBudget(3_000)
    assert ws.budget_for(sim, shared) is shared
    fresh = ws.budget_for(sim)
    assert fresh.bound == 7_000 and fresh.used == 0 and fresh is not ws.budget_for(sim)
    # a job that leaves the field out and settings made by hand (the tests' FAST) have the same bound
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "serving": CHAT})
    assert wss.SimSettings().plan_event_bound == wss.settings_for(job).plan_event_bound == job.serving.plan_event_bound
    assert wss.settings_for(job).plan_event_bound_from == "default"


def test_the_apps_plan_and_curve_run_under_the_jobs_one_bound(monkeypatch):
    """The app's serving view: the plan, then its latency curve on what the plan left of the job's bound (each had a
    bound of its own: this curve ran all five points). Every event both ran is counted against the one bound. 52,000:
    the plan's ~50,900 events fit, its curve's ~3,000 do not (14,000 until drain33's 4x capacity backlog; 19,000 until
    serve44, whose plan simulates the TP2 / TP4 / TP8 options on the same node at the same $/h too: one may rank first
    on headroom, ``serving.rank_key``; 70,500 until serve43, which skips the capacity runs of settings that cannot
    save a replica of a one-replica option)."""
    seen = engine_events_counted(monkeypatch)
    base = {**SMALL, "serving": {**SMALL["serving"], "plan_event_bound": 52_000}}
    view = wi.serving_view(base)
    plan = view["plan"]["simulation"]
    assert plan["plan_bound_reached"] == "" and view["plan"]["best"]["simulated"]  # the plan fitted inside it
    assert plan["plan_events"] < sum(seen)  # the curve ran too ...
    assert view["bound"] == f"{sum(seen):,} of 52,000 plan events"  # ... on the same bound
    curve = view["curve"]
    assert len(curve) == len(wi.QPS_FACTORS)
    left = [p for p in curve if p["not_simulated"]]
    assert left and curve[0]["not_simulated"] == "" and all(p["ttft_ms"]["p99"] is None for p in left)


def test_the_app_states_the_bound_under_the_chart():
    from test_app import _app

    data = yaml.safe_dump({**SMALL, "serving": {**SMALL["serving"], "plan_event_bound": 30_000}}).encode()
    at = _app()
    at.file_uploader(key="upload").set_value(("small.yaml", data, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    said = [c.value for c in at.caption if c.value.startswith("simulation bound: ")]
    assert len(said) == 1 and "of 30,000 plan events over the plan and its latency curve together" in said[0], said
    assert "(serving.plan_event_bound;" in said[0]


def test_an_offline_fleet_of_more_replicas_than_draws_is_timed_at_the_expected_slowest(monkeypatch):
    """24 replicas' shares (834 requests each): at the default bound every one is drawn and the slowest holds the
    fleet. Where the bound allows no more than 3 draws (an allowance of 0), the fleet's time is the expected slowest
    of all 24, which is nearer to the whole fleet's simulated time than the slowest of the 3 draws is."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge"},
                         "constraints": {"min_gpus": 24},
                         "serving": {"mode": "batch", "requests": 20_000, "prompt_tokens": 512, "output_tokens": 256,
                                     "max_batch": 256}})
    whole = ws.plan_serving(job)["best"]["simulated"]
    assert whole["replicas"] == 24 and whole["draws"]["count"] == 24 and whole["draws"]["fleet_time"] == "slowest share"
    assert "slowest_of_fleet_s" not in whole["draws"]
    real = whole["hours"] * 3600
    monkeypatch.setattr(ws, "offline_draw_allowance", lambda left, candidates: 0)  # no draws past the first 3
    few = ws.plan_serving(job)["best"]["simulated"]
    d = few["draws"]
    assert few["replicas"] == 24 and d["count"] == ws.OFFLINE_DRAWS and d["whole_share"]
    assert d["fleet_time"] == "expected slowest" and few["hours"] * 3600 == pytest.approx(d["slowest_of_fleet_s"])
    drawn = d["slowest_drawn_s"]
    assert d["slowest_of_fleet_s"] > drawn
    assert d["over_slowest_drawn"] == pytest.approx(d["slowest_of_fleet_s"] / drawn - 1)
    assert "judged on the expected slowest of all 24" in d["what"] and f"+{d['over_slowest_drawn']:.1%}" in d["what"]
    assert drawn < real and abs(d["slowest_of_fleet_s"] - real) < abs(drawn - real)


def test_a_share_timed_at_one_draw_says_how_far_the_others_move_it():
    """A share too large to run whole is timed at the first draw's rate: the others' rates say how much another draw
    would have moved it."""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
                         "serving": {"mode": "batch", "requests": 1e5, "prompt_tokens": 256, "output_tokens": 64}})
    d = ws.plan_serving(job)["best"]["simulated"]["draws"]
    assert not d["whole_share"] and "slowest_of_fleet_s" not in d and d["fleet_time"] == "first draw's rate"
    r = d["requests_per_s"]
    assert d["moves_answer"] == pytest.approx(max(abs(r[0] / x - 1) for x in r)) and d["moves_answer"] > 0
    assert f"another draw moves the time by up to {d['moves_answer']:.1%}" in d["what"]
