"""qa59b: qa59's leftovers -- a GPU row quoting no peak said the same by every command, an engine release older than
the engine's first refused, and one billing minimum for every rented run that ends (offline serving, campaigns)."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job

from test_qa59s import NO_PEAK as QA59_NO_PEAK

#: qa59's peakless row and its 8-GPU instance, and a 1-GPU one a tabular job can take
NO_PEAK = QA59_NO_PEAK + ("  - {cloud: onprem, name: np1, gpu: NoPeak-GPU, gpu_count: 1, vcpus: 8, "
                          "price_ondemand_usd_hr: 3, source: me}\n")

WHY = ("NoPeak-GPU quotes no compute peak in the catalog (give the GPU's peaks in its catalog row; a tabular job plans "
       "on it by its memory bandwidth)")

ESTIMATE = """
model: {preset: llama3-8b}
training: {tokens: 1.0e9, seq_len: 4096, global_batch: 256, micro_batch: 1%s}
parallel: {tp: 2, pp: 1}
cluster: {instance: onprem:np8, nodes: 1}
"""


@pytest.mark.parametrize("command,precision", [("estimate", ""), ("simulate", ""), ("estimate", ", precision: fp8"),
                                               ("recommend", ""), ("recommend", ", precision: fp8")])
def test_a_gpu_with_no_peak_is_refused_for_training_in_one_rule(cli, tmp_path, command, precision):
    """A private GPU row quoting no peak is kept by the catalog (a tabular job uses it); training said "set
    training.precision" (estimate: no precision has a peak on it), "choose another precision" (recommend) or "fp8
    needs FP8 tensor cores" -- each blaming the job's precision. Now each names the catalog row, as serve does."""
    cat = write_job(tmp_path, NO_PEAK, "cat.yaml")
    job = ESTIMATE % precision
    if command == "recommend":
        job = job.replace("parallel: {tp: 2, pp: 1}\ncluster: {instance: onprem:np8, nodes: 1}",
                          "constraints: {instances: ['onprem:np8']}")
    line = refused(cli(command, write_job(tmp_path, job), "--catalog", cat))
    assert line == f"error: training.precision: {WHY}", line


def test_a_gpu_with_no_peak_named_in_constraints_says_why(cli, tmp_path):
    cat = write_job(tmp_path, NO_PEAK, "cat.yaml")
    job = write_job(tmp_path, "model: {preset: llama3-8b}\ntraining: {tokens: 1.0e9, seq_len: 4096, global_batch: 256}\n"
                              "constraints: {clouds: [onprem], gpus: [NoPeak-GPU]}\n")
    line = refused(cli("recommend", job, "--catalog", cat))
    assert f"every GPU it lists is left out: NoPeak-GPU: {WHY.removeprefix('NoPeak-GPU ')}" in line, line


def test_a_gpu_with_no_peak_is_kept_for_tabular_and_said_at_load(cli, tmp_path):
    """The row is not refused at load: XGBoost's GPU prior reads HBM bandwidth alone, so a tabular job plans on it;
    the override's note says what it is kept for (it said only "adds GPU NoPeak-GPU")."""
    cat = write_job(tmp_path, NO_PEAK, "cat.yaml")
    job = write_job(tmp_path, "tabular: {library: xgboost, rows: 2.0e6, features: 50, trees: 500, depth: 8}\n"
                              "constraints: {instances: ['onprem:np1']}\n")
    code, out, err = cli("recommend", job, "--catalog", cat, "--json")
    assert code == 0, err
    plan = answered((code, out, err))
    assert plan["best"]["instance"] == "onprem:np1"
    assert ("adds GPU NoPeak-GPU (no compute peak: tabular and preprocessing jobs plan on it, training and serving "
            "leave it out)") in err, err


@pytest.mark.parametrize("engine,version", [("vllm", "0.0.0"), ("tensorrt-llm", "0.4.0"), ("sglang", "v0.1.2")])
def test_an_engine_version_before_the_engines_first_release_is_refused(cli, tmp_path, engine, version):
    """`engine_version: 0.0.0` was taken and priced by the oldest rule; no engine ever shipped it."""
    job = write_job(tmp_path, "model: {preset: llama3-8b}\nserving: {qps: 1, p99_latency_ms: 100, engine: %s, "
                              "engine_version: '%s'}\nconstraints: {clouds: [aws], gpus: [H100-SXM-80GB]}\n"
                    % (engine, version))
    line = refused(cli("serve", job, "--no-simulate"))
    assert line.startswith(f"error: serving.engine_version: {version.removeprefix('v')} is no {engine} release: its "
                           "releases begin at "), line
    assert "vllm from 0.0.1, sglang from 0.1.3, tensorrt-llm from 0.5.0" in line, line


def test_an_engines_first_release_is_taken():
    from planner.spec.schema import ServingSpec
    for engine, first in (("vllm", "0.0.1"), ("sglang", "0.1.3"), ("tensorrt-llm", "0.5.0"), ("vllm", "9" * 20 + ".0")):
        assert ServingSpec(qps=1, engine=engine, engine_version=first).engine_version == first


OFFLINE = """
model: {preset: llama3-8b}
serving: {mode: batch, requests: 1, prompt_tokens: 800, output_tokens: 200}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB]}
"""


@pytest.mark.parametrize("simulated", [False, True])
def test_an_offline_job_pays_the_billing_minimum(cli, tmp_path, simulated):
    """One request ran 1.80 s and read $0.0034 at $6.88/h, where a tabular run of that length pays EC2's 60 s
    minimum. The job's $, its $ per 1M requests and its range now bill at least 60 s a node, and the line says so."""
    args = ("serve", write_job(tmp_path, OFFLINE), "--json") + (() if simulated else ("--no-simulate",))
    b = answered(cli(*args))["offline_budget"]
    assert b["hours"] * 3600 < 60
    assert b["usd"] == pytest.approx(b["nodes"] * b["usd_per_hr"] / b["nodes"] * 60 / 3600, rel=1e-9)
    assert b["usd_per_million_requests"] == pytest.approx(b["usd"] * 1e6)
    assert b["billed_minimum_s"] == 60
    if b["usd_range"]:
        assert b["usd_range"] == pytest.approx([b["usd"], b["usd"]])
    code, out, err = cli(*args[:2], *args[3:])
    assert code == 0, err
    assert "on-demand, billed the 60 s minimum)" in " ".join(out.split())


def test_a_campaigns_preprocessing_pays_the_billing_minimum(cli, tmp_path):
    job = write_job(tmp_path, """
tabular: {library: xgboost, rows: 1.0e5, features: 10, trees: 10, depth: 4}
campaign:
  experiments_per_week: 2
  weeks: 1
  preprocess: {hours: 0.001, usd_per_hour: 36, nodes: 1, output_gb: 1}
  cache: false
constraints: {clouds: [aws]}
""")
    c = answered(cli("recommend", job, "--json"))["campaign"]
    assert c["preprocess_usd"] == pytest.approx(36 * 60 / 3600)  # 3.6 s held, 60 s billed (was $0.036)
    assert c["fetch_usd"] == pytest.approx(36 * 60 / 3600)


def test_one_billing_minimum():
    from planner.model import cost
    from planner.workloads import serving_budget, tabular
    assert tabular.MIN_BILLED_S is cost.MIN_BILLED_S and serving_budget.MIN_BILLED_S is cost.MIN_BILLED_S
    assert cost.billed_hours(0.5 / 3600) * 3600 == pytest.approx(60) and cost.billed_hours(2.0) == 2.0
