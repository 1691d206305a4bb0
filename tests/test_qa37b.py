"""QA pass 37's leftovers: --top on every command, the --by framework column, objectives a tabular job cannot rank by,
a one-token serving TPOT, the utilisation line's rate -- each defect with the check that failed before its fix."""
from __future__ import annotations

import json

import pytest

from conftest import EXAMPLES, answered, planned_once, refused, write_job


# ---- 2. `recommend --by framework` headed its rows "gpu" --------------------------------------------------------------
# the rows are one per framework, yet the first column read "gpu" over "H100-SXM-80GB (megatron-core)": the stack rode in
# the accelerator cell. It now has a column of its own, first, headed "framework".
def test_by_framework_heads_its_rows_framework(cli):
    code, out, err = cli("recommend", EXAMPLES / "llama3-8b-auto.yaml", "--no-simulate", "--by", "framework", "--top", "1")
    assert code == 0, err
    table = out[out.index("best plan per framework"):]
    head = next(line for line in table.splitlines() if "hardware" in line)
    cells = [c.strip() for c in head.strip("┃ ").split("┃")]
    assert cells[:3] == ["framework", "gpu", "hardware"], cells
    rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in table.splitlines() if line.startswith("│")]
    assert {r[0] for r in rows} >= {"megatron-core", "torchtitan"} and all(r[1] == "H100-SXM-80GB" for r in rows), rows


# ---- 1. --top cut a training plan's JSON, not a tabular job's or serve's --------------------------------------------
# `recommend examples/gbdt-tabular.yaml --top 3 --json` gave 28 ranked instances (the table: "top 3 of 28"), and
# `serve --top 2 --json` every option. --top now cuts the table and the JSON alike on every command; --csv is uncut.
def test_top_cuts_a_tabular_jobs_json_and_not_its_csv(tmp_path, cli):
    import csv

    ranked = answered(cli("recommend", EXAMPLES / "gbdt-tabular.yaml", "--top", "3", "--json"))["ranked"]
    code, table, err = cli("recommend", EXAMPLES / "gbdt-tabular.yaml", "--top", "3")
    assert code == 0 and "top 3 of 28 instances" in table, err
    assert len(ranked) == 3 and all(r["instance"] in table for r in ranked), ranked
    path = tmp_path / "all.csv"
    code, _, err = cli("recommend", EXAMPLES / "gbdt-tabular.yaml", "--top", "3", "--csv", path)
    assert code == 0, err
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 28 and [r["instance"] for r in rows[:3]] == [r["instance"] for r in ranked]


def test_top_cuts_serves_json_options(cli):
    # one plan, cut two ways: --top cuts what is printed, not what is planned (``planned_once``: the second command's
    # plan is the first's; until suite51 it was planned again, ~2.3 CPU s)
    from planner.workloads import serving

    with planned_once(serving, "plan_serving") as made:
        plan = answered(cli("serve", EXAMPLES / "serving-llama3-8b-chat.yaml", "--no-simulate", "--json", "--top", "2"))
        whole = answered(cli("serve", EXAMPLES / "serving-llama3-8b-chat.yaml", "--no-simulate", "--json", "--top",
                             "1000"))
    assert len(made) == 1
    every = whole["options"]
    assert len(every) > 12 and plan["options"] == every[:2] and plan["best"] == whole["best"]


def test_top_help_says_what_it_cuts(cli):
    for cmd, words in (("recommend", "--csv writes every ranked candidate"), ("serve", "the JSON's options")):
        code, out, _ = cli(cmd, "--help")
        assert code == 0 and words in " ".join(out.replace("│", " ").split()), out


# ---- 3. a tabular job ranked by tokens per dollar ---------------------------------------------------------------------
# `recommend gbdt-tabular.yaml --objective tokens_per_dollar` ranked by cost under the title "objective:
# tokens_per_dollar": a GBDT run has no tokens. Refused in one line naming the objectives that apply, under the name
# the user gave it (the flag or the job field).
TABULAR_REFUSAL = ("tokens_per_dollar ranks training plans by their tokens, and a tabular (GBDT) job has none: use one "
                   "of cost, time")


def test_a_tabular_job_refuses_tokens_per_dollar(tmp_path, cli):
    import yaml

    for cmd in (("recommend",), ("report", "-o", tmp_path / "r.md")):
        line = refused(cli(*cmd, EXAMPLES / "gbdt-tabular.yaml", "--objective", "tokens_per_dollar"))
        assert line == f"error: --objective: {TABULAR_REFUSAL}", line
    assert not (tmp_path / "r.md").exists()
    job = yaml.safe_load((EXAMPLES / "gbdt-tabular.yaml").read_text())
    job.setdefault("constraints", {})["objective"] = "tokens_per_dollar"
    line = refused(cli("recommend", write_job(tmp_path, job)))
    assert line == f"error: constraints.objective: {TABULAR_REFUSAL}", line
    timed = answered(cli("recommend", EXAMPLES / "gbdt-tabular.yaml", "--objective", "time", "--json"))
    assert timed["objective"] == "time"


# ---- 4. one output token: "TPOT 0.0 ms" and simulated requests of 2-4 tokens -----------------------------------------
# with serving.output_tokens: 1 a request's one token is its first (TTFT): no decode step after it, so no TPOT -- yet
# serve printed "meets TPOT 0.0 ms", and the simulation drew lognormal lengths around 1 (rounded to whole tokens >= 1:
# a mean of 1.15, 14% of requests 2-4 tokens long) and reported their TPOTs.
ONE_TOKEN = {"model": {"preset": "llama3-8b"},
             "serving": {"qps": 2, "p99_latency_ms": 80, "prompt_tokens": 500, "output_tokens": 1},
             "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"]}}


def test_one_output_token_has_no_tpot(tmp_path, cli):
    from conftest import flat

    path = write_job(tmp_path, ONE_TOKEN)
    plan = answered(cli("serve", path, "--json", "--top", "3"))
    best = plan["best"]
    assert "tpot_ms" in best and best["tpot_ms"] is None and all(o["tpot_ms"] is None for o in plan["options"])
    assert best["simulated"]["tpot_requests"] == 0 and best["simulated"]["tpot_ms"]["p99"] is None
    code, out, err = cli("serve", path, "--top", "3")
    assert code == 0, err
    text = flat(out)
    assert "meets TPOT n/a (one output token) / TTFT" in text and "p99 TPOT n/a (one output token)" in text, text
    assert "TPOT 0.0 ms" not in text and "simulated output lengths: fixed at the mean" in text


def test_one_token_lengths_are_drawn_as_the_job_says():
    import numpy as np

    from planner.spec.schema import ServingSpec
    from planner.simulate.serving import make_workload, ArrivalSpec
    from planner.workloads.serving_settings import SimSettings, length_dists

    pd, od = length_dists(ServingSpec(prompt_tokens=500, output_tokens=1), SimSettings())
    wl = make_workload(ArrivalSpec("poisson", rate=10, duration_s=200), pd, od, seed=0)
    assert np.all(wl.output == 1) and pd.kind == "lognormal" and wl.prompt.std() > 0
    _, od2 = length_dists(ServingSpec(prompt_tokens=500, output_tokens=2), SimSettings())
    assert od2.kind == "lognormal"  # a mean of 2 keeps its spread (drawn mean 2.00)


# ---- 5. "utilisation at the stated load" was at the trace's rate ------------------------------------------------------
# a serving review of a job with serving.trace (examples/serving-trace.csv: 7.88 QPS) and serving.qps 2 printed
# "utilisation at the stated load | 26%": 7.88 / (1 replica x 30.2 saturated requests/s), not the stated 2 QPS.
def test_the_simulated_utilisation_names_its_rate(tmp_path, cli):
    import shutil

    from planner.units import fmt_pct
    shutil.copy(EXAMPLES / "serving-trace.csv", tmp_path / "trace.csv")
    lines = (tmp_path / "trace.csv").read_text().splitlines()[1:]
    base = {"model": {"preset": "llama3-8b"},
            "serving": {"qps": 2, "p99_latency_ms": 80, "prompt_tokens": 500, "output_tokens": 100},
            "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"]}}
    traced = dict(base, serving=dict(base["serving"], trace="trace.csv"))
    for job, words, rate in ((traced, "| utilisation at 7.88 requests/s (the trace's rate, not serving.qps) | ",
                              len(lines) / float(lines[-1].split(",")[0])),
                             (base, "| utilisation at 2.00 requests/s (serving.qps) | ", 2)):
        out = tmp_path / "review.md"
        code, _, err = cli("report", write_job(tmp_path, job), "-o", out, "--force")
        assert code == 0, err
        text = out.read_text()
        assert words in text and "stated load" not in text, text
        row = next(line for line in text.splitlines() if line.startswith("| utilisation at "))
        summary = json.loads(text.split("<!-- planner-summary: ")[1].split(" -->")[0])["best"]["simulated"]
        assert row.endswith(f"| {fmt_pct(summary['utilisation'])} |") and summary["qps"] == pytest.approx(rate), row


# ---- ttft30 (2): the analytic utilisation row was at the trace's rate too, and unlabelled --------------------------
# "utilisation (analytic) | 20%" sat beside a stated 2 QPS while it is QPS / (replicas x requests/s per replica) at the
# trace's 7.88 requests/s; it names its rate as the simulated row does.
def test_the_analytic_utilisation_names_its_rate(tmp_path, cli):
    import shutil

    from planner.units import fmt_pct
    shutil.copy(EXAMPLES / "serving-trace.csv", tmp_path / "trace.csv")
    base = {"model": {"preset": "llama3-8b"},
            "serving": {"qps": 2, "p99_latency_ms": 80, "prompt_tokens": 500, "output_tokens": 100},
            "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"]}}
    traced = dict(base, serving=dict(base["serving"], trace="trace.csv"))
    for job, words in ((traced, "| utilisation (analytic) at 7.88 requests/s (the trace's rate, not serving.qps) | "),
                       (base, "| utilisation (analytic) at 2.00 requests/s (serving.qps) | ")):
        out = tmp_path / "review.md"
        code, _, err = cli("report", write_job(tmp_path, job), "-o", out, "--force")
        assert code == 0, err
        text = out.read_text()
        row = next((line for line in text.splitlines() if line.startswith("| utilisation (analytic)")), "")
        best = json.loads(text.split("<!-- planner-summary: ")[1].split(" -->")[0])["best"]
        assert row.startswith(words) and row.endswith(f"| {fmt_pct(best['utilisation'])} |"), row


# ---- ttft30 (3): the latency-vs-QPS chart plotted a 0 ms TPOT for one-token jobs ---------------------------------------
# latency_vs_qps took the simulation's TPOT percentiles as measured (0s: no request has a second token) where serve
# prints "n/a (one output token)"; the points carry null and the chart leaves the TPOT panel out, saying why.
def test_the_latency_curve_has_no_tpot_for_one_token():
    from planner.present.charts import latency_qps_chart
    from planner.spec import load_job_dict
    from planner.workloads.serving import NO_TPOT, latency_vs_qps, plan_serving

    job = load_job_dict(dict(ONE_TOKEN, constraints=dict(ONE_TOKEN["constraints"], instances=["p5.4xlarge"])))
    best = plan_serving(job).best
    pts = [p.model_dump() if hasattr(p, "model_dump") else dict(p) for p in latency_vs_qps(job, best, [1.0, 4.0])]
    assert all(p["tpot_ms"]["p50"] is None and p["tpot_ms"]["p99"] is None for p in pts), pts
    assert all(p["ttft_ms"]["p50"] > 0 for p in pts)
    spec = latency_qps_chart(pts, None, 80, 2).to_dict()
    assert len(spec["vconcat"]) == 1 and NO_TPOT in spec["title"], spec["title"]
