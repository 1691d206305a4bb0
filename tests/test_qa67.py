"""QA 67: the three things QA 66 left. Each test fails on the code before it.

* YAML 1.1 (PyYAML) reads ``1e-9``, ``2e12``, ``1.5e3`` as text: a refusal quoted a number as text ("got '1e-9'",
  "got '1e999'") and an integer column of a catalog override refused ``pcie_gen: 5e0``. A numeric field of a job or a
  catalog override now reads them as YAML 1.2 does (``hardware_catalog.files.yaml12_number``); a name stays text.
* ``recommend``'s duration column took its unit from its longest row and printed each row at that unit's one
  decimal: two 28-minute plans beside a 14-hour one read "0.5" hours. A row under one unit keeps two figures.
* ``serve``: an option's offline figure (no latency target, the batch limit) ran at the 8,192-token budget only,
  below its own real-time row at budget 512 (Llama-3-70B TP8 on p5.48xlarge: 4.81 against 5.67 req/s a replica).
"""
from __future__ import annotations

import pytest

from conftest import invoke_main
from hardware_catalog.catalog import CatalogError, load_catalog
from planner.errors import InputError
from planner.spec import load_job_dict, parse_yaml_text
from planner.units import duration_column

JOB = "model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, tokens: 1.0e12}\n"


def _refusal(text: str) -> InputError:
    with pytest.raises(InputError) as e:
        load_job_dict(parse_yaml_text(text))
    return e.value


# ---- 1. YAML 1.2 numbers ------------------------------------------------------------------------------------------
def test_exponent_numbers_fill_numeric_job_fields():
    job = load_job_dict(parse_yaml_text(JOB.replace("1.0e12", "2e12").replace("256", "2.56e2")))
    assert job.training.tokens == 2e12 and job.training.global_batch == 256
    assert isinstance(job.training.global_batch, int)


@pytest.mark.parametrize("edit, field, words", [
    (("global_batch: 256", "global_batch: 1e-9"), "training.global_batch", "must be a whole number, got 1e-09"),
    (("tokens: 1.0e12", "tokens: 1e999"), "training.tokens", "must be a finite number, got inf"),
    (("global_batch: 256", "global_batch: 1e999"), "training.global_batch", "must be a finite number, got inf"),
    (("tokens: 1.0e12", "tokens: -1e5"), "training.tokens", "got -100000.0"),
])
def test_exponent_numbers_are_quoted_as_numbers(edit, field, words):
    """Refused with the number, not its text ("got '1e-9'", "got '1e999'" before)."""
    e = _refusal(JOB.replace(*edit))
    assert e.field == field and words in e.message and "'" not in e.message, e.message


def test_nan_and_names_stay_text():
    """YAML 1.2 reads ``nan`` as text (its special is ``.nan``): refused as no finite number; a name written ``1e5``
    is the text it is, not 100000.0."""
    e = _refusal(JOB.replace("1.0e12", "nan"))
    assert e.field == "training.tokens" and e.message.startswith("must be a finite number")
    job = load_job_dict(parse_yaml_text("name: 1e5\nlayers: 2\nhidden: 64\nheads: 4\nvocab: 128\n"))
    assert job.model.name == "1e5"


def test_serving_rate_refusal_is_one_line_with_the_number(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("model: {preset: llama3-8b}\nserving: {qps: 1e-9, p99_latency_ms: 50}\n")
    code, out, err = invoke_main("serve", p, "--no-simulate")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: serving.qps:"), err
    assert "got 1e-09" in err and "'1e-9'" not in err, err


def test_catalog_override_numbers_follow_the_same_rule(tmp_path):
    p = tmp_path / "o.yaml"
    p.write_text("gpus:\n  - {name: H100, pcie_gen: 5e0}\ninstances:\n"
                 "  - {cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: 4e1}\n"
                 "  - {cloud: onprem, name: 8e5, gpu: H100, gpu_count: 8, price_ondemand_usd_hr: 3e1, source: q}\n")
    cat = load_catalog([p])  # pcie_gen: 5e0 read "unable to parse string as an integer"
    assert cat.instance("aws:p5.48xlarge").price_ondemand == 40.0
    assert cat.instance("onprem:8e5").price_ondemand == 30.0  # the name stays text
    p.write_text("instances:\n  - {cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: 1e999}\n")
    with pytest.raises(CatalogError) as e:
        load_catalog([p])
    assert e.value.field == "instances[0].price_ondemand_usd_hr" and "got inf" in str(e.value), str(e.value)


# ---- 2. a duration column reads each row ---------------------------------------------------------------------------
def test_duration_column_keeps_two_figures_on_short_rows():
    """recommend's table (``present.terminal``, ``units.duration_column``): 14.1 h beside two 28-minute plans."""
    assert duration_column([14.1, 28 / 60, 28 / 60]) == ("h", "hours", ["14.1", "0.47", "0.47"])
    assert duration_column([72.0, 0.2])[2] == ["3.0", "0.0083"]  # 3 days beside 12 minutes
    assert duration_column([1.5, 1.2])[2] == ["90.0", "72.0"]  # a row of a unit or more: unchanged


# ---- 3. offline is never slower than real-time ---------------------------------------------------------------------
SERVE = {"model": {"preset": "llama3-70b"},
         "serving": {"p99_latency_ms": 60, "ttft_ms": 2000, "qps": 10, "prompt_tokens": 2000, "output_tokens": 400},
         "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB", "H200-SXM-141GB"]}}


def test_offline_serves_at_least_the_real_time_rate():
    """Each option's offline row (its batch limit, no target) serves at least its real-time row's requests/s: it runs
    at the fastest budget (``serving_screen.offline_token_budget``), which for the TP8 row is the real-time row's 512."""
    from planner.workloads.serving import plan_serving

    rows = [r for r in plan_serving(load_job_dict(SERVE), simulate=False)["options"] if r["meets_latency"]]
    assert rows
    for r in rows:
        assert r["requests_per_s_offline"] >= r["requests_per_s_per_replica"] * (1 - 1e-9), r
    tp8 = next(r for r in rows if r["hardware"] == "aws:p5.48xlarge" and r["tp"] == 8)
    assert tp8["token_budget_offline"] == 512 and tp8["batch_offline"] == tp8["batch"] == 64


def test_offline_simulation_runs_at_the_planned_budget():
    """The simulated backlog runs at the budget the analytic offline row is at, and agrees with it (2,000 requests:
    5.52 req/s simulated at 512 against 5.64 analytic; 4.76 at the old 8,192)."""
    from planner.workloads.serving import plan_serving

    job = load_job_dict({"model": {"preset": "llama3-70b"},
                         "serving": {"mode": "batch", "requests": 2000, "prompt_tokens": 2000, "output_tokens": 400},
                         "cluster": {"instance": "aws:p5.48xlarge"}, "parallel": {"tp": 8}})
    row = next(r for r in plan_serving(job)["options"] if r["meets_latency"])
    sim = row["simulated"]
    assert sim["max_num_batched_tokens"] == row["token_budget_offline"] == 512
    assert sim["requests_per_s_per_replica"] > 5.2  # 4.76 at 8,192
