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
