"""QA 57: a demanding user's pass over checkpoints beside evaluation, serve's trace / mmpp arrivals / shared
prefixes, the preprocessing example and the HTML report (docs/qa_log.md "QA 57").

Each test fails on the code before its fix."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_job

#: Llama-3-8B on 2 p5 (16 H100), 1B tokens, evaluating 8,192 sequences every 25 steps and saving every 10 steps
#: (examples/llama3-8b-eval.yaml, shortened): the evaluation passes are a large share of the run
CKPT_EVAL = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, optimizer: adamw,
           recompute: selective, tokens: 1.0e10}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
evaluation: {every_steps: 25, samples: 8192}
checkpoint: {every_steps: 10%s}
"""


def _ckpt(cli, tmp_path, extra=""):
    code, out, err = cli("estimate", write_job(tmp_path, CKPT_EVAL % extra), "--json")
    assert code == 0, err
    return json.loads(out)


def test_checkpoint_pauses_are_paid_on_the_training_steps_not_on_the_evaluation_passes(cli, tmp_path):
    """The closed form charged a pause per ``every_steps x step`` of the whole compute time, evaluation included:
    with the passes a large share of the run it counted one save more per ``every_steps`` steps' worth of evaluation
    than the run takes (``planner simulate`` pauses ``steps // every_steps`` times). Without failures the expected
    time is now the compute time plus ``steps / every_steps`` pauses, to the bit of the arithmetic."""
    d = _ckpt(cli, tmp_path)
    c = d["cost"]
    o = c["checkpoint_failures"]
    assert c["evaluation"]["hours"] > 0.1 * c["hours"]  # the case: evaluation is a tenth of the run or more
    saves = c["steps"] / 10
    assert o["checkpoint_saves"] == pytest.approx(saves)
    assert o["expected_hours"] == pytest.approx(c["hours"] + saves * o["checkpoint_block_s"] / 3600, rel=1e-9)


def test_node_failures_lose_the_evaluation_between_saves_too(cli, tmp_path):
    """With failures, the segment a failure can lose is the training steps between two saves plus the evaluation
    passes among them: the renewal formula at ``every_steps x step x compute / train`` seconds of work."""
    from planner.simulate.failures import expected_goodput
    d = _ckpt(cli, tmp_path, ", mtbf_hours_per_node: 4")
    c, o = d["cost"], d["cost"]["checkpoint_failures"]
    train = c["hours"] - c["evaluation"]["hours"]
    seg = 10 * d["step_time_s"] * c["hours"] / train
    g = expected_goodput(seg, o["checkpoint_block_s"], 2 * 3600.0, 600.0)
    assert o["goodput"] == pytest.approx(g, rel=1e-9)
    assert o["expected_hours"] == pytest.approx(c["hours"] / g, rel=1e-9)


def test_checkpoint_line_says_the_saves_and_the_evaluation_between_them(cli, tmp_path):
    """The reason beside the number: the text line names the saves the pauses are paid on and that the evaluation
    passes sit between them (nothing said over what the pauses were counted)."""
    code, out, err = cli("estimate", write_job(tmp_path, CKPT_EVAL % ""))
    assert code == 0, err
    flat = " ".join(out.split())
    assert " saves, " in flat and "of evaluation passes run between the saves" in flat, flat


def test_recommend_ranks_on_the_pauses_of_the_training_steps(cli, tmp_path):
    """The search's table (``_priced``: ``CheckpointOverhead.table``) takes the evaluation as the plan's record does:
    the ranked row's hours are the compute hours plus ``steps / every_steps`` pauses, as estimate's."""
    est = _ckpt(cli, tmp_path)
    code, out, err = cli("recommend", write_job(tmp_path, CKPT_EVAL % ""), "--json", "--no-simulate", "--top", "1")
    assert code == 0, err
    d = json.loads(out)
    row, plan = d["pareto"][0], d["ranked"][0]
    o = plan["cost"]["checkpoint_failures"]
    by_hand = plan["cost"]["hours"] + plan["cost"]["steps"] / 10 * o["checkpoint_block_s"] / 3600
    assert row["train_hours"] == pytest.approx(by_hand, rel=1e-9)
    assert o["expected_hours"] == pytest.approx(by_hand, rel=1e-9)
    if plan["config"] == est["config"]:
        assert est["cost"]["checkpoint_failures"]["expected_hours"] == pytest.approx(by_hand, rel=1e-9)


def test_spot_interruptions_take_the_evaluation_as_work_between_saves():
    """The spot model's segment is the failures' one: with ``eval_hours`` it is ``every x step x compute / train``
    seconds of work; before, ``every x step`` over the whole time (one save too many per cadence's worth of
    evaluation)."""
    from planner.simulate.failures import expected_goodput
    from planner.simulate.interruptions import SpotRate, spot_expectation
    lam = 0.01  # interruptions per node-hour
    rate = SpotRate(lam, lam, lam, 0.0, "t")
    hours, step, block, every = np.array([10.0]), np.array([1.0]), 5.0, 100
    e = spot_expectation(rate, hours, np.array([1]), step, 1.0, block, 600.0, every, eval_hours=np.array([2.0]))
    g = expected_goodput(100 * 10.0 / 8.0, block, 3600.0 / lam, 600.0)  # 8 h of the 10 train: 125 s a segment
    assert float(e["hours"][0]) == pytest.approx(10.0 / g, rel=1e-9)


# ---- serve --trace: the analytic screen at the job's lengths ---------------------------------------------------------
SERVE = {"model": {"preset": "llama3-8b"},
         "serving": {"qps": 40, "p99_latency_ms": 50, "ttft_ms": 1000, "prompt_tokens": 800, "output_tokens": 200},
         "constraints": {"instances": ["aws:g6e.xlarge", "aws:g6e.4xlarge"]}}


def test_a_traces_options_are_screened_at_its_mean_lengths(tmp_path, cli):
    """A trace brings its rate and its lengths, and the screen took the rate alone: a trace of 100 + 25-token
    requests (the job's 800 + 200) was screened at 8x its work, g6e.xlarge at 2 replicas where the simulation kept 1,
    and every option not simulated priced at the job's lengths. Each option is now the analytic option of a job at
    the trace's rate and mean lengths."""
    from conftest import answered
    trace = tmp_path / "short.csv"
    rows = [f"{0.125 * (i + 1):.3f},{100},{25}" for i in range(400)]  # 8 QPS of 100 + 25 tokens over 50 s
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n" + "\n".join(rows) + "\n")
    d = answered(cli("serve", write_job(tmp_path, SERVE), "--trace", trace, "--json"))
    # lengths without spread (trace40: the screen takes the trace's own, 0 here, not serving.length_cv)
    same = dict(SERVE, serving=dict(SERVE["serving"], qps=8, prompt_tokens=100, output_tokens=25, length_cv=0))
    ref = {(o["hardware"], o["tp"]): o
           for o in answered(cli("serve", write_job(tmp_path, same, "same.yaml"), "--json", "--no-simulate"))["options"]}
    for o in d["options"]:
        r = ref[(o["hardware"], o["tp"])]
        assert o["tpot_ms"] == pytest.approx(r["tpot_ms"]) and o["concurrency"] == pytest.approx(r["concurrency"]), o
    assert (d["simulation"]["trace_prompt_tokens"], d["simulation"]["trace_output_tokens"]) == (100, 25)
    best = d["options"][0]
    assert best["replicas"] == 1 and best["simulated"]["replicas"] == 1, best


# ---- serve --arrivals mmpp: the burst shape that doubles the replicas was not printed -------------------------------
def test_mmpp_arrivals_say_the_bursts_the_replicas_are_sized_for(tmp_path, cli):
    """--arrivals mmpp draws a fixed two-state process (simulate.serving.ArrivalSpec: 4x swing, a quarter of the time
    high, 10 s bursts): at 40 QPS the high rate is 91.4 QPS and the low 22.9, which took the chat example from 7
    to 14 g6e.xlarge replicas; nothing said what bursts were drawn. The assumption line now gives them."""
    from conftest import answered
    from planner.simulate.serving import ArrivalSpec
    a = ArrivalSpec("mmpp", rate=40.0)
    low = 40.0 / (a.burst_share * a.burst_ratio + 1 - a.burst_share)
    assert (round(low * a.burst_ratio, 1), round(low, 1)) == (91.4, 22.9)
    job = dict(SERVE, serving=dict(SERVE["serving"], qps=2), constraints={"instances": ["aws:g6e.xlarge"]})
    d = answered(cli("serve", write_job(tmp_path, job), "--arrivals", "mmpp", "--json"))
    line = next((x for x in d["assumptions"] if x.startswith("simulated arrivals: mmpp")), None)
    assert line is not None and "4.57 QPS a 25% share of the time in bursts of 10 s" in line, d["assumptions"]
    assert "1.14 QPS between them (a 4x swing; mean 2.00 QPS)" in line, line
    d = answered(cli("serve", write_job(tmp_path, job), "--json"))  # Poisson: no such line
    assert not any(x.startswith("simulated arrivals") for x in d["assumptions"]), d["assumptions"]


def test_an_unsimulated_plan_does_not_blame_a_no_simulate_never_given(tmp_path, cli):
    """A real-time job without serving.qps is never simulated; with serving.arrivals: mmpp it read "simulate (drop
    --no-simulate) to use them" though no --no-simulate was given. The note now says why the plan is analytic."""
    from conftest import answered
    job = {"model": {"preset": "llama3-8b"},
           "serving": {"p99_latency_ms": 50, "prompt_tokens": 800, "output_tokens": 200, "arrivals": "mmpp"},
           "constraints": {"instances": ["aws:g6e.xlarge"]}}
    d = answered(cli("serve", write_job(tmp_path, job), "--json"))
    note = next(x for x in d["assumptions"] if x.startswith("serving.arrivals mmpp not used"))
    assert "--no-simulate" not in note and "give serving.qps" in note, note
    d = answered(cli("serve", write_job(tmp_path, job), "--json", "--no-simulate"))
    note = next(x for x in d["assumptions"] if x.startswith("serving.arrivals mmpp not used"))
    assert "drop --no-simulate" in note, note


def test_a_trace_beside_a_shared_prefix_is_screened_at_the_prefix_its_requests_share(tmp_path, cli):
    """With serving.shared_prefix_tokens, a trace's request shares at most its prompt less one token (the simulation's
    ``_sh``): the job's 2,048-token prefix beside the example trace (804-token mean prompt) is screened at the mean
    shared part, and each option is the analytic option of a job at those lengths. Screened at the job's 2,560-token
    prompts, g6e.xlarge took 5 analytic replicas ($9.30/h) and was never simulated; it is confirmed at 2 ($3.72/h)."""
    import shutil

    import pandas as pd
    from conftest import EXAMPLES, answered
    shutil.copy(EXAMPLES / "serving-trace.csv", tmp_path / "trace.csv")
    tr = pd.read_csv(tmp_path / "trace.csv")
    shared = round(float(np.minimum(2048, tr.prompt_tokens - 1).mean()))
    job = {"model": {"preset": "llama3-8b"},
           "serving": {"qps": 20, "p99_latency_ms": 50, "ttft_ms": 1000, "prompt_tokens": 2560, "output_tokens": 256,
                       "shared_prefix_tokens": 2048, "max_batch": 512},
           "constraints": {"instances": ["aws:g6e.xlarge"]}}
    d = answered(cli("serve", write_job(tmp_path, job), "--trace", tmp_path / "trace.csv", "--json"))
    same = dict(job, serving=dict(job["serving"], qps=float(len(tr) / tr.arrival_s.max()), prompt_tokens=804,
                                  output_tokens=204, shared_prefix_tokens=shared,
                                  prompt_length_cv=d["simulation"]["trace_prompt_cv"],
                                  output_length_cv=d["simulation"]["trace_output_cv"]))
    ref = answered(cli("serve", write_job(tmp_path, same, "same.yaml"), "--json", "--no-simulate"))["options"][0]
    o = d["options"][0]
    assert o["tpot_ms"] == pytest.approx(ref["tpot_ms"]) and o["ttft_ms"] == pytest.approx(ref["ttft_ms"]), (o, ref)
    assert d["simulation"]["trace_shared_prefix_tokens"] == shared


# ---- the preprocessing campaign: what the storage $ is of was not printed ------------------------------------------
def test_campaign_says_the_storage_it_charges(cli):
    """examples/preprocess-campaign.yaml: caching's $58.01 of storage (26% of its $218.98) is 6.85 expected versions
    x 400 GB x $0.023/GB-month x 0.921 months (730 h months since QA 75's follow-up; $58.17 at 52 / 12 weeks), every version billed for the whole campaign (an upper bound that only
    campaign.py's docstring gave); the sources line now says it."""
    from conftest import EXAMPLES, answered
    code, out, err = cli("recommend", EXAMPLES / "preprocess-campaign.yaml")
    assert code == 0, err
    flat = " ".join(out.split())
    assert ("storage $0.023/GB-month (S3 Standard, aws.amazon.com/s3/pricing), for each of the 6.85 expected versions "
            "of 400 GB over the whole campaign (0.921 months): none deleted and each billed from the start, an upper "
            "bound") in flat, flat
    c = answered(cli("recommend", EXAMPLES / "preprocess-campaign.yaml", "--json"))["campaign"]
    assert c["cache"]["storage_usd"] == pytest.approx(6.85 * 400 * 0.023 * 4 * 168 / 730)


# ---- report: the serving cost chart's caption --------------------------------------------------------------------------
def test_serving_review_cost_chart_says_the_rate_it_is_at(tmp_path, cli):
    """A serving review of a replayed trace captioned its cost chart "$ per month of each option at the job's QPS" under
    the chart's own title "at 7.88 requests/s" (the trace's; the job's was 40): the caption names the rate as the
    utilisation rows do."""
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n"
                     + "\n".join(f"{0.125 * (i + 1):.3f},100,25" for i in range(400)) + "\n")
    job = dict(SERVE, serving=dict(SERVE["serving"], trace="t.csv"))
    out = tmp_path / "review.html"
    code, _, err = cli("report", write_job(tmp_path, job), "-o", out)
    assert code == 0, err
    text = out.read_text()
    assert "at the job&#x27;s QPS" not in text and "at the job's QPS" not in text
    assert ("$ per month of each option at 8.00 requests/s (the trace&#x27;s rate, not serving.qps) (on-demand, 730 h)"
            in text), text[:2000]


def test_simulate_checkpoint_answer_counts_the_evaluation_between_saves(cli, tmp_path):
    """`planner simulate`'s checkpoint-interval answer priced a segment as ``n x step``, the evaluation passes left
    out, while estimate (since the fix above) lengthens it by the passes: the same job read two goodputs at the same
    cadence. The answer's goodput at the configured cadence is now the renewal formula at ``n x (step + the passes'
    seconds a step)``, and agrees with estimate's."""
    from planner.simulate.failures import expected_goodput
    job = write_job(tmp_path, CKPT_EVAL % ", mtbf_hours_per_node: 4")
    code, out, err = cli("simulate", job, "--json", "--steps", "100")
    assert code == 0, err
    ck = json.loads(out)["answers"]["checkpoint"]
    est = _ckpt(cli, tmp_path, ", mtbf_hours_per_node: 4")
    ev = est["cost"]["evaluation"]
    per_step = ev["mean_s"] / 25  # a pass every 25 steps
    g = expected_goodput(10 * (ck["step_s"] + per_step), ck["checkpoint_block_s"], ck["mtbf_s"], ck["restart_s"])
    assert ck["goodput_at_current"] == pytest.approx(g, rel=1e-9)
    assert ck["goodput_at_current"] == pytest.approx(est["cost"]["checkpoint_failures"]["goodput"], abs=2e-3)


def test_a_spot_job_without_interruptions_still_pays_its_checkpoint_pauses():
    """``constraints.spot_interruptions_per_node_day: 0`` made the spot model return goodput 1: the spot line read
    "+0.0% time: a checkpoint pause every 100 steps" and its cost left out the pauses the checkpoints line counted.
    With nothing to interrupt the run, its goodput is the pauses' alone, tau / (tau + delta)."""
    from planner.simulate.interruptions import SpotRate, spot_expectation
    hours, step, block, every = np.array([10.0]), np.array([1.0]), 5.0, 100
    e = spot_expectation(SpotRate(0.0, 0.0, 0.0, 0.0, "t"), hours, np.array([1]), step, 1.0, block, 600.0, every)
    assert float(e["hours"][0]) == pytest.approx(10.0 * 105 / 100, rel=1e-12)  # 360 saves of 5 s over 36,000 steps


def test_one_month_for_every_dollars_a_month_figure():
    """QA 75: the campaign's storage months were 52 / 12 weeks (728 h) where serving budgets, spot interruption shares
    and on-prem hosting are at 730 h; one month now (``units.HOURS_PER_MONTH``)."""
    from planner.units import HOURS_PER_MONTH
    from planner.workloads.campaign import HOURS_PER_WEEK, WEEKS_PER_MONTH
    assert HOURS_PER_MONTH == 730.0
    assert WEEKS_PER_MONTH * HOURS_PER_WEEK == pytest.approx(HOURS_PER_MONTH, rel=1e-15)
