"""QA pass 35: defects found in serve, report, calibrate, catalog (and its override files) and the app, each
with the check that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import ROOT, answered, one_error_line, write_job


@pytest.mark.parametrize("count", ["0.5", "3.5"])
def test_an_override_instance_with_a_share_of_a_gpu_is_refused(tmp_path, cli, count):
    """An instance row of 0.5 GPUs crashed `serve` (min() of an empty sequence) and `recommend`
    (ZeroDivisionError), one of 3.5 was planned as 3 GPUs a node at the 3.5-GPU price; plans place whole GPUs."""
    over = tmp_path / "mine.csv"
    over.write_text(f"cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source\nonprem,part,A10G,{count},1,quote\n")
    job = write_job(tmp_path, {"model": {"preset": "gpt2"}, "serving": {"qps": 5, "p99_latency_ms": 100},
                               "constraints": {"clouds": ["onprem"]}})
    code, _, err = cli("serve", job, "--no-simulate", "--catalog", over)
    assert code == 2
    line = one_error_line(err)
    assert "instances[0].gpu_count" in line and "whole number" in line, line


def test_serve_refuses_a_profile_of_no_gpu_it_plans_on(tmp_path, cli):
    """`recommend` refuses a profile measured on no GPU the job can use; `serve` searching instances took the same
    profile, applied it to nothing and said nothing, as if the plan were calibrated."""
    from conftest import ROOT

    cpu_profile = ROOT / "planner" / "hardware" / "profiles" / "cpu-ci-example.json"
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "serving": {"qps": 10, "p99_latency_ms": 50, "ttft_ms": 1000},
                               "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}})
    code, _, err = cli("serve", job, "--no-simulate", "--profile", cpu_profile)
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("error: --profile:") and "H100-SXM-80GB" in line, line


def test_app_serving_view_takes_the_uploaded_profile():
    """The app read an uploaded calibration profile only for training jobs: a serving job was planned without it, so
    its answer differed from `planner serve --profile` on the same files (here: the CLI refuses a CPU profile for an
    H100 job; the app planned on as if no profile were given)."""
    from conftest import ROOT
    from test_app import _app

    cpu_profile = (ROOT / "planner" / "hardware" / "profiles" / "cpu-ci-example.json").read_bytes()
    job = (b"model: {preset: llama3-8b}\nserving: {qps: 10, p99_latency_ms: 50, ttft_ms: 1000}\n"
           b"constraints: {clouds: [aws], gpus: [H100-SXM-80GB]}\n")
    at = _app()
    at.file_uploader(key="profile_upload").set_value(("cpu.json", cpu_profile, "application/json"))
    at.file_uploader(key="upload").set_value(("chat.yaml", job, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and "profile" in at.error[0].value and "H100-SXM-80GB" in at.error[0].value, \
        [e.value for e in at.error]


def test_an_offline_deadline_fleet_fills_the_node_it_rents():
    """1,000 requests on one TP1 replica of an 8-GPU node were priced at one eighth of the node ($0.02) without a word,
    where the real-time plan of the same option rents whole nodes; QA 35 said what the whole node costs, QA 84 billed
    it, and offline47 fills it with replicas."""
    from planner.spec import load_job_dict
    from planner.workloads.serving import plan_serving

    plan = plan_serving(load_job_dict({"model": {"preset": "llama3-8b"},
                                       "cluster": {"instance": "aws:p5.48xlarge"},
                                       "serving": {"mode": "batch", "requests": 1000, "prompt_tokens": 2048,
                                                   "output_tokens": 256, "deadline_hours": 1}}), simulate=False)
    best = plan.best
    # offline47: the deadline's fewest replicas are raised to fill the node they rent (QA 84: 1 TP1 replica left 7
    # GPUs idle, billed whole, and said so here): the same $/h finishes sooner, so no GPU is left idle nor note said
    assert best.offline_replicas * best.tp == best.gpus_per_node
    assert not [a for a in plan.assumptions if a.startswith("offline cost:")], plan.assumptions
    from planner.model.cost import billed_hours  # its node billed at least 60 s (qa59b: the job takes ~17 s)
    assert best.offline_usd == pytest.approx(billed_hours(best.offline_hours) * best.price_usd_hr)


def test_an_offline_fleet_of_whole_nodes_has_no_whole_node_note():
    from planner.spec import load_job_dict
    from planner.workloads.serving import plan_serving

    plan = plan_serving(load_job_dict({"model": {"preset": "llama3-8b"},
                                       "cluster": {"instance": "aws:p5.4xlarge"},
                                       "serving": {"mode": "batch", "requests": 1000, "prompt_tokens": 2048,
                                                   "output_tokens": 256, "deadline_hours": 1}}), simulate=False)
    assert not [a for a in plan.assumptions if a.startswith("offline cost:")], plan.assumptions


SERVE_JOB = {"model": {"preset": "llama3-8b"}, "serving": {"qps": 10, "p99_latency_ms": 50, "ttft_ms": 1000},
             "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}}


@pytest.mark.parametrize("objective", ["time", "tokens_per_dollar"])
def test_serve_refuses_an_objective_it_does_not_rank_by(tmp_path, cli, objective):
    """`constraints.objective: time` on a serving job was ignored without a word: serve ranks by cost."""
    job = write_job(tmp_path, {**SERVE_JOB, "constraints": {**SERVE_JOB["constraints"], "objective": objective}})
    code, _, err = cli("serve", job, "--no-simulate")
    assert code == 2
    assert one_error_line(err).startswith(f"error: constraints.objective: {objective} ranks training plans"), err


def test_report_refuses_an_objective_flag_on_a_serving_job(tmp_path, cli):
    """`planner report serving.yaml --objective time` wrote a report ranked by cost, the flag unused."""
    job = write_job(tmp_path, SERVE_JOB)
    out = tmp_path / "r.md"
    code, _, err = cli("report", job, "-o", out, "--no-simulate", "--objective", "time")
    assert code == 2 and not out.exists()
    assert one_error_line(err).startswith("error: --objective: time ranks training plans"), err
    code, _, err = cli("report", job, "-o", out, "--no-simulate", "--objective", "cost")
    assert code == 0 and out.exists(), err


def test_app_serving_view_states_the_plans_assumptions():
    """`planner serve` prints its assumptions ("assumed: serving.max_batch defaulted to 64 ..."); the app's serving
    view showed the recommendation and the constraints, not one of them."""
    from test_app import _app
    from planner import interactive as wi

    job = (b"model: {preset: gpt2}\nserving: {mode: batch, requests: 1000, prompt_tokens: 512, output_tokens: 64}\n"
           b"constraints: {clouds: [aws], gpus: [L4-24GB]}\n")
    at = _app()
    at.file_uploader(key="upload").set_value(("off.yaml", job, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    said = wi.serving_view(wi.parse_upload("off.yaml", job))["plan"]["assumptions"]
    assert said and any(a.startswith("serving.max_batch defaulted") for a in said), said
    shown = [m.value for m in at.markdown]
    assert all(f"- {a}" in shown for a in said), (said, shown)


def test_catalog_instances_help_names_the_cpu_instances_it_lists(cli):
    """`planner catalog instances` lists CPU-only instances (c7i, n2-highcpu: the tabular jobs' hardware) under a help
    line that said "Cloud instances with GPUs"."""
    assert any(r["gpu"] is None for r in answered(cli("catalog", "instances", "--json")))
    code, out, _ = cli("catalog", "--help")
    assert code == 0 and "CPU-only" in out, out


def test_offline_serving_report_summary_carries_its_headline():
    """The report's machine-readable summary of an offline job held only the real-time keys, all null, while its
    table said the $ per million requests, the replicas and the time they take."""
    from planner.present.report import build_serving_report
    from planner.spec import load_job_dict
    from planner.workloads.serving import plan_serving

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge"},
                         "serving": {"mode": "batch", "requests": 1000, "prompt_tokens": 2048, "output_tokens": 256,
                                     "deadline_hours": 1}})
    plan = plan_serving(job, simulate=False)
    summary = build_serving_report(job, plan).summary["best"]
    assert summary["usd_per_million_requests_offline"] == pytest.approx(plan.best.usd_per_million_requests_offline)
    assert summary["offline_replicas"] == plan.best.offline_replicas
    assert summary["offline_hours"] == pytest.approx(plan.best.offline_hours)


def test_an_output_may_not_replace_the_planner_catalog_override(tmp_path, cli, monkeypatch):
    """`--catalog mine.csv` is an input no output may replace; the same file given through $PLANNER_CATALOG was not:
    `report -o` (through a link, or any name) and `recommend --csv` with --force wrote over the user's override."""
    over = tmp_path / "mine.csv"
    text = "cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,40\n"
    over.write_text(text)
    monkeypatch.setenv("PLANNER_CATALOG", str(over))
    link = tmp_path / "review.md"
    link.symlink_to(over)
    job = write_job(tmp_path, SERVE_JOB)
    code, _, err = cli("report", job, "-o", link, "--force", "--no-simulate")
    assert code == 2 and over.read_text() == text
    assert one_error_line(err).startswith("error: --out: ") and "is an input of this command" in err, err
    code, _, err = cli("recommend", job, "--csv", over, "--force", "--no-simulate")
    assert code == 2 and over.read_text() == text, err


@pytest.mark.parametrize("constraints, field", [({"gpus": ["A100-SXM-80GB"]}, "constraints.gpus"),
                                                ({"clouds": ["gcp"]}, "constraints.clouds"),
                                                ({"regions": ["eu-west-1"]}, "constraints.regions")])
def test_serve_refuses_a_fixed_instance_its_constraints_rule_out(tmp_path, cli, constraints, field):
    """`cluster: {instance: aws:p5.48xlarge}` beside `constraints: {gpus: [A100]}` (or another cloud, or region) is
    refused by recommend; serve planned on the p5 without a word."""
    job = write_job(tmp_path, {**SERVE_JOB, "cluster": {"instance": "aws:p5.48xlarge"}, "constraints": constraints})
    code, _, err = cli("serve", job, "--no-simulate")
    assert code == 2
    assert one_error_line(err).startswith(f"error: {field}: "), err


def test_the_whole_node_note_does_not_offer_replicas_max_gpus_forbids():
    """Under `constraints.max_gpus: 4` on an 8-GPU node the idle GPUs may not run replicas: the note says what the node
    costs and offers no fleet the cap refuses."""
    from planner.spec import load_job_dict
    from planner.workloads.serving import plan_serving

    plan = plan_serving(load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge"},
                                       "serving": {"mode": "batch", "requests": 1e4, "prompt_tokens": 1024,
                                                   "output_tokens": 128},
                                       "constraints": {"max_gpus": 4}}), simulate=False)
    note = [a for a in plan.assumptions if a.startswith("offline cost:")]
    # QA 84: "2x less" the replicas' share; no fleet of replicas on the idle GPUs offered ("if the idle GPUs run");
    # offline47: the cap named as what holds the replicas under the node, the used and the idle GPUs' $ apart
    assert len(note) == 1 and "idle GPUs run" not in note[0], note
    assert ("4 replicas use 4 GPUs of 8: constraints.max_gpus (4) holds the replicas under what fills "
            "it") in note[0], note
    assert "the used GPUs' share of the node price is" in note[0] and "the idle GPUs'" in note[0], note


def test_kv_capacity_is_whole_tokens(cli):
    """serve's KV capacity counts tokens a replica's free memory holds: whole ones (it printed 459099.94)."""
    plan = answered(cli("serve", str(ROOT / "examples" / "serving-llama3-8b-chat.yaml"), "--json", "--no-simulate"))
    rows = [o for o in plan["options"] if o.get("kv_capacity_tokens") is not None]
    assert rows and all(isinstance(o["kv_capacity_tokens"], int) for o in rows)


@pytest.mark.parametrize("serving", [{"requests": 40}, {"requests": 1000, "deadline_hours": 1},
                                     {"requests": 200_000, "deadline_hours": 1}])
def test_the_offline_report_risk_says_the_batch_and_replicas_the_plan_assumes(serving):
    """The review said "the cost assumes the memory-limited batch stays full" while the plan ran each replica's share
    (1,000 requests: batch 1,000 / r, not the memory-limited one) on r replicas: it now states those numbers."""
    from planner.present.report import build_serving_report, render_markdown
    from planner.spec import load_job_dict
    from planner.workloads.serving import plan_serving

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge"},
                         "serving": {"mode": "batch", "prompt_tokens": 2048, "output_tokens": 256, **serving}})
    plan = plan_serving(job, simulate=False)
    best = plan.best
    text = render_markdown(build_serving_report(job, plan, "b.yaml"), "files")[0]
    assert "stays full" not in text
    r = best.offline_replicas or 1
    assert f"{serving['requests']:,} requests on {r} replica" in text and f"at batch {best.batch_offline} (" in text, text
    assert ("(the largest memory and serving.max_batch allow)" if best.batch_offline == best.batch else
            f"(each replica's share, under the {best.batch} memory and serving.max_batch allow)") in text
