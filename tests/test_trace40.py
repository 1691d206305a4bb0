"""trace40: a replayed trace's own length spread in the analytic screen (QA 57's "Left": the screen took
serving.length_cv while the simulation replayed the trace's lengths), and the mmpp burst shape as job inputs.

Each test fails on the code before its change."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import EXAMPLES, answered, write_job

SERVE = {"model": {"preset": "llama3-8b"},
         "serving": {"qps": 40, "p99_latency_ms": 50, "ttft_ms": 1000, "prompt_tokens": 800, "output_tokens": 200},
         "constraints": {"instances": ["aws:g6e.xlarge"]}}


def test_the_example_traces_spread_is_its_own():
    """examples/serving-trace.csv: prompts spread 0.607, outputs 0.798 (std / mean), not the job's 0.5."""
    import pandas as pd
    from planner.simulate.serving import load_trace
    tr = pd.read_csv(EXAMPLES / "serving-trace.csv")
    want = tuple(round(float(np.std(tr[c]) / np.mean(tr[c])), 3) for c in ("prompt_tokens", "output_tokens"))
    assert load_trace(EXAMPLES / "serving-trace.csv").spread == want == (0.607, 0.798)


def test_a_trace_is_screened_at_its_own_spread(tmp_path, cli):
    """A trace of prompts 100 / 1,500 tokens (cv 0.875) and outputs 25 / 175 (cv 0.75): each option's TTFT and TPOT
    are the analytic option of a job at the trace's rate, mean lengths and those spreads, printed in the trace line,
    and not the job's serving.length_cv (0.5) the screen took before."""
    trace = tmp_path / "spread.csv"
    rows = [f"{0.125 * (i + 1):.3f},{100 if i % 2 else 1500},{25 if i % 2 else 175}" for i in range(400)]
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n" + "\n".join(rows) + "\n")
    d = answered(cli("serve", write_job(tmp_path, SERVE), "--trace", trace, "--json"))
    assert (d["simulation"]["trace_prompt_cv"], d["simulation"]["trace_output_cv"]) == (0.875, 0.75)
    base = dict(SERVE["serving"], qps=8, prompt_tokens=800, output_tokens=100)
    own = answered(cli("serve", write_job(tmp_path, dict(SERVE, serving=dict(base, prompt_length_cv=0.875,
                                                                                   output_length_cv=0.75)), "own.yaml"),
                       "--json", "--no-simulate"))["options"][0]
    job = answered(cli("serve", write_job(tmp_path, dict(SERVE, serving=base), "job.yaml"),
                       "--json", "--no-simulate"))["options"][0]
    o = d["options"][0]
    assert o["ttft_ms"] == pytest.approx(own["ttft_ms"]) and o["tpot_ms"] == pytest.approx(own["tpot_ms"]), (o, own)
    assert o["ttft_ms"] > job["ttft_ms"] * 1.05, (o, job)  # the wider prompts' p99 is longer than at cv 0.5
    code, out, err = cli("serve", write_job(tmp_path, SERVE), "--trace", trace)
    assert code == 0, err
    assert "spread cv 0.88 prompts / 0.75 outputs" in " ".join(out.split()), out


def test_a_jobs_prompt_and_output_spreads_are_drawn_apart():
    """serving.prompt_length_cv / output_length_cv: the simulation draws each side at its own spread, and says so."""
    from planner.spec.schema import ServingSpec
    from planner.workloads.serving_settings import SimSettings, length_dists, length_words
    s = ServingSpec(p99_latency_ms=50, prompt_length_cv=1.2, output_length_cv=0.3)
    p, o = length_dists(s, SimSettings())
    assert (p.cv, o.cv) == (1.2, 0.3) and (s.prompt_cv, s.output_cv) == (1.2, 0.3)
    assert length_words(s, SimSettings()) == ("simulated prompt lengths: lognormal around the mean, cv 1.2; "
                                              "simulated output lengths: lognormal around the mean, cv 0.3")
    assert ServingSpec(p99_latency_ms=50, length_cv=0.7).prompt_cv == 0.7  # unset: serving.length_cv


# ---- serving.arrivals: the mmpp burst shape as job inputs ----------------------------------------------------------
CHAT = {"model": {"preset": "llama3-8b"},
        "serving": {"qps": 40, "p99_latency_ms": 50, "ttft_ms": 1000, "prompt_tokens": 800, "output_tokens": 200},
        "constraints": {"instances": ["aws:g6e.xlarge"]}}


def _chat(**arrivals):
    return dict(CHAT, serving=dict(CHAT["serving"], arrivals=arrivals or "mmpp"))


@pytest.mark.parametrize("arrivals, said", [
    ({"kind": "mmpp", "burst_share": 1.0}, "error: serving.arrivals.burst_share: must be less than 1, got 1.0"),
    ({"kind": "mmpp", "burst_factor": 0.5}, "error: serving.arrivals.burst_factor: must be at least 1, got 0.5"),
    ({"kind": "mmpp", "burst_s": 0}, "error: serving.arrivals.burst_s: must be more than 0, got 0"),
    ({"burst_s": 5}, "error: serving.arrivals.burst_s: applies to bursty arrivals (serving.arrivals.kind: mmpp); "
                     "this job's are poisson"),
])
def test_a_bad_burst_shape_is_refused_in_one_line(tmp_path, cli, arrivals, said):
    code, out, err = cli("serve", write_job(tmp_path, dict(CHAT, serving=dict(CHAT["serving"], arrivals=arrivals))),
                         "--no-simulate")
    assert code == 2 and (err + out).strip() == said, (code, out, err)


def test_the_jobs_burst_shape_is_the_one_drawn():
    """serving.arrivals' burst_factor / burst_share / burst_s reach the simulated process (``arrival_spec``): the
    arrivals drawn at 8x for 10% of the time in 30 s bursts have the mean rate and the burst rate of that shape."""
    from planner.simulate.serving import ARRIVALS
    from planner.spec import load_job_dict
    from planner.workloads.serving_settings import arrival_spec, settings_for
    job = load_job_dict(_chat(kind="mmpp", burst_factor=8, burst_share=0.1, burst_s=30))
    a = arrival_spec(settings_for(job), 40.0, 20_000.0)
    assert (a.burst_ratio, a.burst_share, a.burst_s) == (8, 0.1, 30)
    assert a.peak_rate == pytest.approx(40 * 8 / (0.1 * 8 + 0.9))  # 188.2 QPS, where the default shape's is 91.4
    t = ARRIVALS["mmpp"](a, np.random.default_rng(0))
    per_s = np.bincount(t.astype(int), minlength=20_000)
    assert len(t) / 20_000 == pytest.approx(40, rel=0.05)
    assert np.quantile(per_s, 0.95) > 150  # the busiest seconds are at the 188 QPS burst rate, not the default 91


def test_the_analytic_screen_is_sized_for_the_bursts_and_says_so(tmp_path, cli):
    """--no-simulate with bursty arrivals: each option is sized for the bursts (the screen took the mean before and
    ignored the shape, "serving.arrivals mmpp not used"; since serve41 the mixture over the bursts and the time
    between), priced at the mean QPS; the assumption line gives the job's shape."""
    job = _chat(kind="mmpp", burst_factor=6, burst_share=0.2, burst_s=15)
    d = answered(cli("serve", write_job(tmp_path, job), "--no-simulate", "--json"))
    peak = 40 * 6 / (0.2 * 6 + 0.8)  # 120 QPS
    at_peak = answered(cli("serve", write_job(tmp_path, dict(CHAT, serving=dict(CHAT["serving"], qps=peak)), "p.yaml"),
                           "--no-simulate", "--json"))["options"][0]
    mean = answered(cli("serve", write_job(tmp_path, CHAT, "m.yaml"), "--no-simulate", "--json"))["options"][0]
    o = d["options"][0]
    # serve41: the screen mixes the bursts and the time between (each at its own rate), so the replicas sit between
    # the mean's and the peak's (at the peak's here); the cost is at the mean QPS
    assert at_peak["replicas"] >= o["replicas"] > mean["replicas"], (o, at_peak, mean)
    assert o["usd_per_million_requests"] == pytest.approx(o["usd_per_hr"] / (40 * 3600) * 1e6)
    line = next(a for a in d["assumptions"] if a.startswith("arrivals: mmpp"))
    assert "120 QPS a 20% share of the time in bursts of 15 s on average" in line and "the job's burst shape" in line
    assert not any("not used" in a for a in d["assumptions"]), d["assumptions"]
