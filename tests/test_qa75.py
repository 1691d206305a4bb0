"""QA 75 (docs/qa_log.md): QA 73 / 74's open items, then a walk through serve, the tabular workload, the
preprocessing tax and ``--emit`` launch specs. Each test fails on the code before.

- The checkpoint line without an MTBF rounded the failures a published rate would add to a whole number: a 13.5 h
  run on 16 nodes (0.034 expected) read "this run would see about 0 failures", beside the MTBF branch's
  "0.015 expected failures" precision (``units.fmt_many``).
- A spot search's ranked rows said ``cost.price_basis: "on-demand"`` (the rent ``cost_ondemand_usd`` is at) and
  nothing else, beside spot ``usd_per_million_tokens`` and ``cost.ranked`` and a top-level ``price_basis: "spot"``.
- A Megatron launch passed no ``--attention-dropout`` / ``--hidden-dropout``: Megatron-LM's defaults (0.1 each) trained
  with dropout the plan did not price (``training.dropout: false``), where NVIDIA's Llama 3 script passes 0.0.
"""
from __future__ import annotations

import json

from planner.present.terminal import checkpoint_line
from conftest import invoke_main

CKPT_16 = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, optimizer: adamw, recompute: selective,
           tokens: 5.0e10}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 16}
checkpoint: {every_steps: 200}
"""

SPOT = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, optimizer: adamw, recompute: selective,
           tokens: 1.0e12}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 2}
constraints: {spot: true}
"""


def test_unmodelled_failures_read_at_the_mtbf_lines_precision(tmp_path):
    """13.5 h x 16 nodes / 6,335 h = 0.034 failures: said as such by estimate and simulate alike, not "about 0"."""
    job = tmp_path / "ck.yaml"
    job.write_text(CKPT_16)
    lines = []
    for cmd in (("estimate", job), ("simulate", job, "--steps", "400", "--no-answers")):
        code, out, err = invoke_main(*cmd)
        assert code == 0, err
        flat = " ".join(out.split())
        assert "about 0 failures" not in flat, flat
        lines.append(flat[flat.index("checkpoints and failures:"):].split(" -> ")[0])
    assert "this run would see 0.034 expected failures)" in lines[0], lines[0]
    assert lines[0] == lines[1]
    code, out, err = invoke_main("estimate", job, "--json")
    assert abs(json.loads(out)["cost"]["checkpoint_failures"]["uncounted_failures"] - 0.034) < 0.0005


def test_expected_failures_words_one_precision_for_both_branches():
    from planner.present.terminal import expected_failures_words

    assert [expected_failures_words(n) for n in (0.0, 0.27, 1.0, 91.12)] == [
        "no failures expected", "0.3 expected failures", "1.0 expected failures", "91.1 expected failures"]
    base = dict(checkpoint_every_steps=None, expected_hours=10.0, goodput=0.99, overhead=0.01, restart_minutes=10.0)
    line = checkpoint_line({**base, "job_mtbf_hours": 100.0, "expected_failures": 0.27})
    assert "0.3 expected failures (job MTBF" in line, line


def test_a_spot_plans_cost_says_what_its_ranked_figures_are_priced_at(tmp_path):
    """``price_basis`` stays the rent ``cost_ondemand_usd`` is at; ``ranked_price_basis`` (and ``cost.ranked``'s
    ``price_basis``) name the spot rate its $ per million tokens and ranked cost are at, as the top level does."""
    job = tmp_path / "spot.yaml"
    job.write_text(SPOT)
    code, out, err = invoke_main("estimate", job, "--json")
    assert code == 0, err
    cost = json.loads(out)["cost"]
    assert cost["price_basis"] == "on-demand" and cost["ranked_price_basis"] == "spot"
    assert abs(cost["usd_per_million_tokens"] - cost["spot_risk"]["expected_cost_usd"] / cost["tokens"] * 1e6) < 1e-9
    code, out, err = invoke_main("recommend", job, "--json", "--top", "2")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["price_basis"] == "spot"
    for row in [rec["best"], *rec["ranked"]]:
        assert row["cost"]["price_basis"] == "on-demand"
        assert row["cost"]["ranked_price_basis"] == row["cost"]["ranked"]["price_basis"] == "spot"
    job.write_text(SPOT.replace("constraints: {spot: true}", "constraints: {}"))
    code, out, err = invoke_main("estimate", job, "--json")
    assert json.loads(out)["cost"]["ranked_price_basis"] == "on-demand"


def _megatron_flags(training):
    from planner.present.emit import emit_launch_spec
    from planner.spec import load_job_dict
    from planner.workloads.training import estimate_job

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": training,
                         "parallel": {"tp": 2, "pp": 1, "cp": 1, "zero": 1, "sequence_parallel": True},
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}})
    argv = emit_launch_spec(job, estimate_job(job), "torchrun").split()
    return {f: argv[i + 1] for i, f in enumerate(argv) if f in ("--attention-dropout", "--hidden-dropout")}


def test_a_megatron_launch_trains_without_the_dropout_the_plan_did_not_price():
    training = {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "recompute": "selective", "tokens": 1e12}
    assert _megatron_flags(training) == {"--attention-dropout": "0.0", "--hidden-dropout": "0.0"}
    assert _megatron_flags({**training, "dropout": True}) == {}  # priced with dropout: Megatron's own 0.1
