"""QA 66: a platform engineer's pass over the CLI with jobs of their own (a 7B LoRA on one node, a 70B pre-train with a
two-week deadline and a $ cap, Mixtral with EP, a 128K run with CP, a serving SLO, a data-bound ResNet-50). Each test
fails on the code before it.

* ``simulate`` counted the layers' own TP / CP / EP communication as compute: Mixtral 8x7B at TP2 EP8 on 4
  p5.48xlarge read "compute 99.4%, GPU busy 99.6%" beside estimate's 17.1% expert-parallel all-to-all.
* The serving review's Options table wrote "$/1M req" as "3,057.78" beside its own summary's "$3.06k", and TPOT to
  the whole ms ("57" for serve's 56.6 against a 60 ms target).
* ``recommend --emit`` of a job without ``checkpoint.every_steps`` launched a save about every hour of steps, a pause the
  header's time and cost do not hold, without a word.
* ``serve --plan-event-bound 0`` quoted the count back as "got 0.0" (and 1e9 as "got 1000000000.0").
"""
from __future__ import annotations

import copy

import pytest

from conftest import EXAMPLES, invoke_main
from planner.results import jsonable
from planner.simulate.config import SimConfig
from planner.simulate.engine import simulate
from planner.spec import load_job, load_job_dict
from planner.workloads.training import estimate_job

MIXTRAL = {"model": {"preset": "mixtral-8x7b"},
           "training": {"seq_len": 4096, "global_batch": 512, "precision": "bf16", "tokens": 2.0e11,
                        "framework": "megatron-core"},
           "parallel": {"tp": 2, "pp": 1, "ep": 8},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 4}}


def _shares(plan, res):
    """(estimate's share of the step in the layers' compute, simulate's compute share of the wall)."""
    b = plan.breakdown_s
    analytic = (b["compute_gemm"] + b["compute_attention"] + b["compute_memory_bound"]) / plan.step_time_s
    return analytic, res.time_by_cause_s["compute"] / res.wall_s


@pytest.mark.parametrize("over", [{}, {"parallel": {"tp": 2, "pp": 2, "ep": 4}},
                                  {"model": {"preset": "llama3-8b"}, "training": {**MIXTRAL["training"], "seq_len": 32768,
                                                                                  "global_batch": 16},
                                   "parallel": {"tp": 4, "cp": 8, "pp": 1}}])
def test_simulate_counts_the_layers_communication_as_comm(catalog, over):
    """The critical path's compute is estimate's compute (GEMMs, attention, memory-bound kernels), the TP / CP / EP
    communication inside the layers "comm", as estimate lists it; the step itself does not move."""
    job = load_job_dict({**copy.deepcopy(MIXTRAL), **over})
    plan = estimate_job(job, catalog)
    b = plan.breakdown_s
    assert b["comm_tp"] + b["comm_cp"] + b["comm_ep"] > 0.01 * plan.step_time_s  # the premise: comm in the layers
    res = simulate(SimConfig.from_estimate(jsonable(plan), job), steps=20)
    assert (res.steady_step_time_s or res.wall_s / 20) == pytest.approx(plan.step_time_s, rel=1e-9)
    analytic, simulated = _shares(plan, res)
    assert simulated == pytest.approx(analytic, abs=0.01), (analytic, simulated)
    assert res.gpu_busy_share < 1 - (b["comm_tp"] + b["comm_cp"] + b["comm_ep"]) / plan.step_time_s + 0.01


def test_simulate_text_of_an_ep_plan_names_its_all_to_all_as_comm(tmp_path):
    """The printed table: Mixtral's 17% all-to-all is no longer "compute 99.4%"."""
    p = tmp_path / "moe.yaml"
    import yaml
    p.write_text(yaml.safe_dump(MIXTRAL))
    code, out, err = invoke_main("simulate", p, "--no-answers", "--steps", "50")
    assert code == 0, err
    rows = {ln.split("│")[1].strip(): ln.split("│")[3].strip() for ln in out.splitlines() if ln.count("│") == 4}
    assert float(rows["compute"].rstrip("%")) < 85 and float(rows["comm (idle)"].rstrip("%")) > 15, rows


def _serving_report(job_path):
    from planner.present.report import build_serving_report, render_markdown
    from planner.workloads.serving import plan_serving

    job = load_job(job_path)
    res = plan_serving(job, simulate=False)
    md = render_markdown(build_serving_report(job, res, "r"), "r_files")[0]
    opts = md[md.index("## Options"):].split("\n## ")[0]
    table = [[c.strip() for c in ln.strip("|").split("|")] for ln in opts.splitlines() if ln.startswith("| ")]
    # each row by its column names (the table is serve's own since qa84, its columns where serve puts them)
    return res, [dict(zip(table[0], r)) for r in table[1:]]


def test_serving_review_options_read_as_serve_writes_them():
    """The review's Options cells are `planner serve`'s: $ per 1M requests as "$3.06k" (not "3,057.78"), TPOT to a
    tenth of a ms (not "31" for 30.58)."""
    from planner.present.serving import tpot_cell, usd_per_million

    res, rows = _serving_report(EXAMPLES / "serving-llama3-8b-chat.yaml")
    assert rows and len(rows) <= len(res.options)
    for o, r in zip(res.options, rows):
        o = jsonable(o)
        assert r["TPOT ms"] == tpot_cell(o["tpot_ms"]), (r, o["tpot_ms"])
        assert r["$/1M req"] == usd_per_million(o.get("usd_per_million_requests") or
                                                 o.get("usd_per_million_requests_full"))
        assert r["$/1M req"].startswith("$") and "." in r["TPOT ms"]


def _launch(job_dict):
    from planner.present.emit import emit_launch_spec

    job = load_job_dict(job_dict)
    return emit_launch_spec(job, estimate_job(job), "torchrun")


LLAMA = {"model": {"preset": "llama3-8b"},
         "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "tokens": 1e11},
         "parallel": {"tp": 2, "pp": 1, "zero": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}


def test_emitted_launch_says_its_hourly_save_is_not_in_the_plan():
    text = _launch(LLAMA)
    notes = [ln for ln in text.splitlines() if ln.startswith("# note: ") and "saves a checkpoint" in ln]
    every = int(text.split("--save-interval ")[1].split()[0])
    assert len(notes) == 1 and f"every {every:,} steps" in notes[0] and "checkpoint.every_steps" in notes[0], notes
    # the job's own cadence is priced by the plan: no note
    text = _launch({**LLAMA, "checkpoint": {"every_steps": 500}})
    assert "--save-interval 500" in text and "saves a checkpoint" not in text
    # a run shorter than one interval saves nowhere before its end
    assert "saves a checkpoint" not in _launch({**LLAMA, "training": {**LLAMA["training"], "tokens": None,
                                                                       "steps": 20}})


@pytest.mark.parametrize("value,shown", [("0", "got 0"), ("1e9", "got 1000000000"), ("2000.5", "got 2000.5")])
def test_plan_event_bound_is_quoted_as_typed(value, shown):
    code, out, err = invoke_main("serve", EXAMPLES / "serving-llama3-8b-chat.yaml", "--no-simulate",
                                 "--plan-event-bound", value)
    line = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(line) == 1 and line[0].endswith(shown), err
