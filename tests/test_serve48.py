"""serve48: ``planner serve --csv`` (the options table as CSV, the JSON options' names) and a fixed fleet
(``serving.replicas``): the highest QPS its replicas carry within the p99 targets, analytic and simulated."""
from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from conftest import answered, refused, write_job
from planner.present.serving import options_csv_columns
from planner.spec.load import load_job
from planner.workloads import serving as S

LLAMA = {"preset": "llama3-8b"}
#: one option (g6e.xlarge TP1), 800 + 200 tokens: the chat example's lengths and targets on a fleet of 4
FLEET = {"model": LLAMA, "cluster": {"instance": "aws:g6e.xlarge"},
         "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "replicas": 4, "prompt_tokens": 800, "output_tokens": 200,
                     "max_batch": 256}}
#: the same job sized for a QPS, on two instances of the L40S (two rows)
SIZED = {"model": LLAMA, "constraints": {"instances": ["aws:g6e.xlarge", "aws:g6e.4xlarge"]},
         "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 20, "prompt_tokens": 800, "output_tokens": 200}}


def test_csv_is_the_json_options_with_numbers_as_numbers(cli, tmp_path):
    """``serve --csv`` writes the options the JSON lists, in its order and names, numbers parsed as numbers (no
    --csv before serve48: a usage error)."""
    job = write_job(tmp_path, SIZED)
    code, out, err = cli("serve", job, "--no-simulate", "--csv")
    assert code == 0, err
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == options_csv_columns()
    js = answered(cli("serve", job, "--no-simulate", "--json"))["options"]
    assert list(df["hardware"]) == [o["hardware"] for o in js] and len(js) == 2
    for col in ("replicas", "usd_per_hr", "ttft_ms", "tpot_ms", "requests_per_s_per_replica", "batch"):
        assert pd.api.types.is_numeric_dtype(df[col]), col
        assert df[col].tolist() == pytest.approx([o[col] for o in js], rel=1e-9), col
    assert df["simulated.ttft_ms.p99"].isna().all()  # not simulated: empty cells, the column still there


def test_csv_with_json_is_refused_before_planning(cli, tmp_path):
    assert refused(cli("serve", write_job(tmp_path, SIZED), "--csv", "--json")).startswith("error: --json: ")


@pytest.mark.parametrize("serving, says", [({"qps": 5}, "leave serving.qps out"),
                                           ({"mode": "batch", "requests": 1000}, "an offline job's replicas follow"),
                                           ({"replicas": 0}, "more than 0")])
def test_bad_fleets_are_refused(cli, tmp_path, serving, says):
    job = {**FLEET, "serving": {**FLEET["serving"], **serving}}
    line = refused(cli("serve", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: serving.replicas: ") and says in line


def test_a_fleet_with_a_trace_is_refused(cli, tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0.0,800,200\n0.5,700,150\n")
    job = write_job(tmp_path, FLEET)
    assert "brings its own rate" in refused(cli("serve", job, "--trace", trace))


def test_the_analytic_fleet_qps_is_the_highest_the_screen_carries_on_the_fleet(cli, tmp_path):
    """The fleet QPS needs at most the fleet's replicas at the screen (``llm_option``, the count ``plan_serving`` sizes a
    serving.qps with) and 2% more needs more; the row is priced at it."""
    path = write_job(tmp_path, FLEET)
    res = answered(cli("serve", path, "--no-simulate", "--json"))
    o = res["options"][0]
    assert res["targets"]["replicas"] == 4 and o["replicas"] == 4 and o["fleet_qps_by"] == "analytic"
    q = o["fleet_qps"]
    assert o["usd_per_million_requests"] == pytest.approx(o["usd_per_hr"] / (q * 3600) * 1e6)
    job = load_job(path)
    m, s = S.served_model(job.model), job.serving
    hw = S._options(job, S.load_catalog(), None)[0]
    im = S.option_iteration(m, s, hw, 1)

    def needs(qps):
        row = S.llm_option(m, s, hw, 1, S.ServeTarget(0.05, 1.0, qps), im)
        return S._load_replicas(row, qps) if row.meets_latency else math.inf
    assert needs(q) <= 4 < needs(q * 1.02)
    # the same job sized for that QPS takes the fleet's 4 replicas
    sized = {**FLEET, "serving": {**{k: v for k, v in FLEET["serving"].items() if k != "replicas"}, "qps": q}}
    assert answered(cli("serve", write_job(tmp_path, sized, "q.yaml"), "--no-simulate", "--json"))["options"][0][
        "replicas"] == 4


def test_the_simulation_confirms_a_fleet_qps_no_higher_than_the_screen(cli, tmp_path):
    """Simulated, the fleet's QPS is one its 4 replicas carry with the p99s ``margin`` under the targets, at most the
    analytic QPS and under ``max_utilisation`` of the simulated saturated rate (the screen's 30.6 QPS holds the p99
    TPOT at 48.3 ms, over the 45 ms the simulation holds it to: it confirms 22.6)."""
    path = write_job(tmp_path, FLEET)
    analytic = answered(cli("serve", path, "--no-simulate", "--json"))["options"][0]["fleet_qps"]
    res = answered(cli("serve", path, "--json"))
    o = res["options"][0]
    d = o["simulated"]
    assert o["fleet_qps_by"] == "simulated" and o["sized_by"] == "simulated"
    assert o["fleet_qps"] == d["qps"] <= analytic and d["replicas"] == 4
    assert d["ttft_ms"]["p99"] <= 900 and d["tpot_ms"]["p99"] <= 45 and d["utilisation"] <= 0.95
    assert "the fleet carries at most" in res["why"]


def test_highest_rate_brackets_a_step():
    assert S.highest_rate(lambda q: q <= 37.0, 10.0, 0.01) == pytest.approx(37.0, rel=0.01)
    assert S.highest_rate(lambda q: q <= 37.0, 100.0, 0.01) <= 37.0
    assert S.highest_rate(lambda q: False, 10.0, 0.01) is None
    assert S.highest_rate(lambda q: True, 10.0, 0.01, ceiling=20.0) == 20.0
