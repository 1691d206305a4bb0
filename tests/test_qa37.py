"""QA pass 37: a budget owner's session end to end (serve with a trace, catalog, calibrate, report, recommend --by,
tabular jobs, the what-if app) -- each defect with the check that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job

SERVE = {"model": {"preset": "llama3-8b"},
         "serving": {"qps": 2, "p99_latency_ms": 80, "prompt_tokens": 500, "output_tokens": 100},
         "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"]}}


# ---- 1. a trace's rate had no floor ---------------------------------------------------------------------------------
# serving.qps is held to 1e-6 (a request every ~11.6 days, QA 36) because at far-out arrival times a decode step is lost
# in the float; a trace brings its own rate (requests / last arrival_s) and took any: two requests at 0 s and 1e18 s
# sized TP8 on a p5.48xlarge at "$7.6e+21 per 1M requests", TP1/TP2/TP4 "simulated p99s miss the targets".
@pytest.mark.parametrize("last", ["1e18", "1e300"])
def test_a_trace_slower_than_the_qps_floor_is_refused(tmp_path, cli, last):
    trace = tmp_path / "t.csv"
    trace.write_text(f"arrival_s,prompt_tokens,output_tokens\n0,100,10\n{last},100,10\n")
    line = refused(cli("serve", write_job(tmp_path, SERVE), "--trace", trace))
    assert line.startswith("error: --trace: ") and "1e-06" in line and "QPS" in line, line


def test_a_slow_trace_above_the_floor_is_still_planned(tmp_path, cli):
    """Two requests 1,000 s apart (0.002 QPS) sit above the floor: planned as before, on one TP1 replica."""
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0,100,10\n1000,100,10\n")
    code, out, err = cli("serve", write_job(tmp_path, SERVE), "--trace", trace)
    assert code == 0, err
    assert "recommended: aws:p5.4xlarge with TP1" in out, out


# ---- 2. a tabular job of 1.5 rows ----------------------------------------------------------------------------------
# trees, depth, features and runs are whole numbers ("must be a whole number, got 2.5"); rows took 1.5, headed "2 rows"
# and priced at 1.5.
def test_tabular_rows_are_whole(tmp_path, cli):
    job = {"tabular": {"library": "xgboost", "rows": 1.5, "features": 50, "trees": 500, "depth": 8},
           "constraints": {"clouds": ["aws"]}}
    assert refused(cli("recommend", write_job(tmp_path, job))) == "error: tabular.rows: must be a whole number, got 1.5"
    job["tabular"]["rows"] = 2.0e6  # a float a YAML file writes for a whole count is still taken
    code, out, err = cli("recommend", write_job(tmp_path, job))
    assert code == 0 and "2,000,000 rows" in out, err


# ---- 3. a Markdown report whose name has a space linked no chart ----------------------------------------------------
# `report -o "budget review (v2).md"` wrote its charts to "budget review (v2)_files/" and linked them as
# ![..](budget review (v2)_files/memory.svg): a link destination holds no spaces, so CommonMark (GitHub, any viewer)
# showed the line as text and no chart.
def test_markdown_report_links_its_charts_whatever_its_name(tmp_path, cli):
    from urllib.parse import unquote

    from markdown_it import MarkdownIt  # (rich's own Markdown parser: a core dependency)
    pytest.importorskip("vl_convert")  # the charts are SVG files only where vl-convert renders them
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 2048, "global_batch": 64, "micro_batch": 1, "recompute": "none", "tokens": 1e9},
           "parallel": {"tp": 1, "pp": 1, "cp": 1, "zero": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    out = tmp_path / "my dir" / "budget review (v2)#1.md"
    out.parent.mkdir()
    code, _, err = cli("report", write_job(tmp_path, job), "-o", out, "--no-simulate")
    assert code == 0, err
    tokens = MarkdownIt("commonmark").parse(out.read_text())
    images = [c.attrs["src"] for t in tokens if t.type == "inline" for c in t.children or () if c.type == "image"]
    assert len(images) >= 3, images
    assert all((out.parent / unquote(src)).is_file() for src in images), images


# ---- 4. two dataset sizes for one run -------------------------------------------------------------------------------
# training.dataset_samples sets the epochs' length, data.dataset_samples (taken first) sizes the simulator's caches:
# 1 beside ImageNet's 1,281,167 read "caching: worth it -- raw samples cached in RAM: 10.71x (0.000110 GB of host RAM
# per node)" for a run that reads 141 GB an epoch.
def test_data_and_training_dataset_sizes_must_agree(tmp_path, cli):
    import yaml

    from conftest import EXAMPLES
    job = yaml.safe_load((EXAMPLES / "resnet50-objectstore-files.yaml").read_text())
    job["training"]["epochs"] = 1
    job["data"]["dataset_samples"] = 1
    path = write_job(tmp_path, job)
    for cmd in ("estimate", "simulate"):
        assert refused(cli(cmd, path)) == ("error: data.dataset_samples: 1 differs from training.dataset_samples "
                                           "(1,281,167); both count the one dataset the run reads: give it once")
    job["data"]["dataset_samples"] = 1281167  # the example's own: both given, equal
    code, _, err = cli("estimate", write_job(tmp_path, job))
    assert code == 0, err


# ---- 5. recommend --csv refused a tabular job --------------------------------------------------------------------------
# "--csv: write the ranked feasible candidates as CSV" -- a GBDT job has ranked instances (the table's "top 10 of 28"),
# yet the option answered "error: --csv: only for training plans, not tabular".
def test_recommend_csv_writes_a_tabular_jobs_ranked_instances(tmp_path, cli):
    import csv

    from conftest import EXAMPLES
    path = tmp_path / "ranked.csv"
    code, _, err = cli("recommend", EXAMPLES / "gbdt-tabular.yaml", "--csv", path)
    assert code == 0, err
    rows = list(csv.DictReader(path.open()))
    # --top cuts the JSON as the table (QA 37b): the CSV holds every ranked instance, the JSON as many under --top 1000
    ranked = answered(cli("recommend", EXAMPLES / "gbdt-tabular.yaml", "--json", "--top", "1000"))["ranked"]
    assert [r["instance"] for r in rows] == [r["instance"] for r in ranked] and len(rows) > 10
    for r, j in zip(rows, ranked):
        assert float(r["cost_usd"]) == pytest.approx(j["cost_usd"]) and r["price_basis"] == "on-demand"


# ---- 6. --profile on a tabular job was taken and changed nothing ----------------------------------------------------
# `recommend gbdt-tabular.yaml --profile cpu.json` printed exactly what the run without it printed: a `planner
# calibrate` profile times GPU training steps, the GBDT rates are calibration/gbdt.py's -- and nothing said so.
def test_a_calibration_profile_on_a_tabular_job_is_refused(tmp_path, cli):
    from conftest import EXAMPLES
    prof = EXAMPLES.parent / "planner" / "hardware" / "profiles" / "cpu-ci-example.json"  # a `calibrate` profile
    for cmd in (("recommend",), ("report", "-o", tmp_path / "r.md")):
        line = refused(cli(*cmd, EXAMPLES / "gbdt-tabular.yaml", "--profile", prof))
        assert line.startswith("error: --profile: ") and "tabular.measured_rows_per_s" in line, line
    assert not (tmp_path / "r.md").exists()


# ---- 7. a trace's options screened at the job's QPS --------------------------------------------------------------------
# `serve --trace` sizes replicas and $ for the trace's rate (examples/serving-trace.csv: 2,400 requests in 304.6 s, 7.88
# QPS), but each option's analytic screen -- its Little's-law concurrency and the TPOT / TTFT at it -- stayed at the
# job's serving.qps (2): "meets TPOT 8.9 ms / TTFT 34 ms at concurrency 1.81 per replica" beside a utilisation and a
# $/1M at 7.88 QPS.
def test_a_traces_options_are_screened_at_its_own_rate(tmp_path, cli):

    from conftest import EXAMPLES
    trace = EXAMPLES / "serving-trace.csv"
    lines = trace.read_text().splitlines()[1:]
    rate = len(lines) / float(lines[-1].split(",")[0])
    d = answered(cli("serve", write_job(tmp_path, SERVE), "--trace", trace, "--json"))
    replayed = {(o["hardware"], o["tp"]): o for o in d["options"]}
    # and at its mean lengths (804 prompt + 204 output tokens; QA 57: the screen took the job's 500 + 100) and their
    # spread (trace40: cv 0.61 prompts / 0.80 outputs, not serving.length_cv)
    at_rate = dict(SERVE, serving=dict(SERVE["serving"], qps=rate, prompt_tokens=804, output_tokens=204,
                                       prompt_length_cv=d["simulation"]["trace_prompt_cv"],
                                       output_length_cv=d["simulation"]["trace_output_cv"]))
    for o in answered(cli("serve", write_job(tmp_path, at_rate, "rate.yaml"), "--json", "--no-simulate"))["options"]:
        r = replayed.get((o["hardware"], o["tp"]))
        if r is not None:
            # the TPOT where both are at one token budget (serve44: a simulated row is re-stated at the simulation's)
            assert r["concurrency"] == pytest.approx(o["concurrency"]), o
            assert r["token_budget"] != o["token_budget"] or r["tpot_ms"] == pytest.approx(o["tpot_ms"]), o
    assert replayed[("aws:p5.4xlarge", 1)]["concurrency"] > 5  # 1.81 at the job's 2 QPS


# ---- 8. a serving review of a trace job said nothing of the trace's rate ------------------------------------------------
# `report` of a job with serving.trace showed "load | 2 | requests/s" (the job's qps) and nothing of the trace's 7.88 QPS
# the plan is sized for (serve prints "trace: ... replays 7.88 QPS ..."), and "at 7.87973 requests/s on 1 replicas".
def test_a_serving_review_of_a_trace_says_its_rate(tmp_path, cli):
    import shutil

    from conftest import EXAMPLES
    shutil.copy(EXAMPLES / "serving-trace.csv", tmp_path / "trace.csv")
    job = dict(SERVE, serving=dict(SERVE["serving"], trace="trace.csv"))
    out = tmp_path / "review.md"
    code, _, err = cli("report", write_job(tmp_path, job), "-o", out)
    assert code == 0, err
    text = out.read_text()
    assert ("trace.csv replays 7.88 QPS with its own lengths (mean 804 prompt + 204 output tokens, spread cv 0.61 "
            "prompts / 0.80 outputs): options are sized for that rate and those lengths and spreads (not "
            "serving.length_cv), not the job's 2 QPS of 500 + 100; the simulation replays each request's own.") in text \
        and "\nTrace: " in text, text
    assert " requests at 7.88 requests/s on 1 replica, " in text, text
