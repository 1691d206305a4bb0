"""The job's evaluation section in the analytic plan: ``estimate``, ``recommend`` and ``report`` add its passes
(planner.model.evaluation, the one pricing the simulator plays too) to the time to train and the cost, and
``simulate``'s wall time agrees with them. They used to quote training steps only ("evaluation left out")."""
import math

import numpy as np
import pytest
import yaml

from planner.errors import InfeasibleError
from planner.model.evaluation import eval_pass_s, eval_passes, eval_run
from planner.simulate import SimConfig, simulate
from planner.spec import load_job_dict
from planner.spec.load import load_job
from planner.workloads.training import estimate_job, recommend
from conftest import EXAMPLES

LLAMA_EVAL = EXAMPLES / "llama3-8b-eval.yaml"


@pytest.fixture(scope="module")
def llama():
    job = load_job(LLAMA_EVAL)
    return job, estimate_job(job)


def test_the_passes_are_counted_and_tiered():
    """steps // every_steps passes; evaluations 0, K, 2K... over the full set (the engine's is_full_pass)."""
    assert eval_passes(3000, 250, 1) == (12, 12)
    assert eval_passes(3000, 250, 4) == (12, 3)
    assert eval_passes(3000, 250, 5) == (12, 3)  # passes 0, 5, 10
    assert eval_passes(249, 250, 4) == (0, 0)
    r = eval_run(3000, 250, 1000, 4, 0.1, lambda n: n / 100)  # 10 s full, 1 s holdout
    assert (r["passes"], r["full_passes"], r["seconds"]) == (12, 3, 3 * 10 + 9 * 1)
    # one pass: forward micro-batches through the pipeline (one fill), or the loader when it decodes slower
    assert eval_pass_s(1000, dp=4, micro_batch=8, pp=2, t_fwd_mb=0.5) == (32 + 1) * 0.5
    assert eval_pass_s(1000, dp=4, micro_batch=8, pp=2, t_fwd_mb=0.5, decode_s=0.5, workers=4) == 32 * 8 * 0.5 / 4
    arr = eval_pass_s(1000, dp=np.array([4, 8]), micro_batch=np.array([8, 8]), pp=np.array([2, 1]),
                      t_fwd_mb=np.array([0.5, 0.5]))
    assert list(arr) == [eval_pass_s(1000, 4, 8, 2, 0.5), eval_pass_s(1000, 8, 8, 1, 0.5)]


def test_estimate_adds_the_passes_to_the_time_and_cost(llama):
    job, plan = llama
    c, ev = plan.cost, plan.cost.evaluation
    assert ev is not None and ev["passes"] == int(c.steps) // 250 and ev["seconds"] > 0
    assert math.isclose(c.hours * 3600, c.steps * plan.step_time_s + ev["seconds"], rel_tol=1e-12)
    assert math.isclose(ev["share"], ev["seconds"] / (c.hours * 3600), rel_tol=1e-12)
    assert ev["tier_seconds"] < ev["seconds"]  # a quarter of the set at 3 passes of 4
    od = plan.hardware.price_ondemand_usd_hr
    assert math.isclose(c.cost_ondemand_usd, c.hours * plan.hardware.nodes * od, rel_tol=1e-12)
    # without the section: the steps alone, and no record
    raw = yaml.safe_load(LLAMA_EVAL.read_text())
    raw.pop("evaluation")
    bare = estimate_job(load_job_dict(raw))
    assert bare.cost.evaluation is None and "evaluation" not in bare.cost.to_json()
    assert bare.step_time_s == plan.step_time_s  # the step itself is untouched
    assert math.isclose(c.hours - bare.cost.hours, ev["seconds"] / 3600, rel_tol=1e-9)


def test_simulate_wall_time_agrees_with_the_analytic_time(llama):
    """A transformer job with an evaluation section: simulate's wall over N steps and the analytic
    N x step + passes x seconds per pass agree within 2%, and its evaluation time is the same passes'."""
    job, plan = llama
    cfg = SimConfig.from_estimate(plan, job)
    n_steps = 3000
    r = simulate(cfg, steps=n_steps, seed=0)
    ev = plan.cost.evaluation
    passes, _ = eval_passes(n_steps, ev["every_steps"], 1)
    analytic_eval = passes * ev["mean_s"]
    assert passes == 12 and math.isclose(r.time_by_cause_s["eval"], analytic_eval, rel_tol=1e-9)
    analytic_wall = n_steps * plan.step_time_s + analytic_eval
    assert abs(r.wall_s / analytic_wall - 1) < 0.02, (r.wall_s, analytic_wall)
    # the tier the section proposes, played by the simulator, is the record's tier_seconds' formula
    tier = cfg.replace(evaluation=cfg.evaluation.__class__(**{**cfg.evaluation.__dict__,
                                                              "full_every": cfg.evaluation.tier_full_every}))
    rt = simulate(tier, steps=n_steps, seed=0)
    expect = eval_run(n_steps, ev["every_steps"], ev["samples"], ev["full_every"], ev["holdout_fraction"],
                      tier.eval_pass_s)["seconds"]
    assert math.isclose(rt.time_by_cause_s["eval"], expect, rel_tol=1e-9)
    whole = eval_run(plan.cost.steps, ev["every_steps"], ev["samples"], ev["full_every"], ev["holdout_fraction"],
                     tier.eval_pass_s)["seconds"]
    assert math.isclose(whole, ev["tier_seconds"], rel_tol=1e-9)


def test_a_loader_bound_evaluation_is_priced_as_simulate_plays_it():
    """ResNet-50 with a data section: each pass is loader-bound (decode), in estimate as in simulate."""
    job = load_job(EXAMPLES / "resnet50-eval-cadence.yaml")
    plan = estimate_job(job)
    cfg = SimConfig.from_estimate(plan, job)
    ev = plan.cost.evaluation
    assert math.isclose(ev["mean_s"], cfg.eval_pass_s(cfg.evaluation.samples), rel_tol=1e-12)
    assert ev["mean_s"] > (math.ceil(50000 / (8 * 256))) * cfg.pipeline.t_fwd_mb  # the loader, not the GPUs, binds
    r = simulate(cfg, steps=390, seed=0)
    assert math.isclose(r.time_by_cause_s["eval"], 10 * ev["mean_s"], rel_tol=1e-9)


def test_recommend_ranks_and_filters_on_the_time_with_evaluation(catalog):
    """Every candidate's train_hours and cost hold its evaluation passes (the same job_eval per row), and a
    deadline the training steps meet but steps + evaluation miss leaves no plan (it was met before)."""
    raw = yaml.safe_load(LLAMA_EVAL.read_text())
    rec = recommend(load_job_dict(raw), catalog, simulate=False, top=3)
    df, best = rec.table, rec.best
    steps = best.cost.steps
    assert (df["eval_hours"] > 0).all()
    assert np.allclose(df["train_hours"], steps * df["step_time_s"] / 3600 + df["eval_hours"], rtol=1e-12)
    assert math.isclose(best.cost.hours, df["train_hours"].iloc[0], rel_tol=1e-9)
    assert math.isclose(best.cost.evaluation["seconds"] / 3600, df["eval_hours"].iloc[0], rel_tol=1e-9)
    assert math.isclose(best.cost.price(False), df["cost"].iloc[0], rel_tol=1e-9)
    assert any("evaluation: 1,907 passes x" in a for a in rec.assumptions)
    # a deadline between the steps alone and the steps with their evaluation passes
    steps_only = steps * best.step_time_s / 3600
    raw["constraints"] = {"deadline_hours": (steps_only + best.cost.hours) / 2}
    with pytest.raises(InfeasibleError):
        recommend(load_job_dict(raw), catalog, simulate=False, top=3)
    raw.pop("evaluation")
    met = recommend(load_job_dict(raw), catalog, simulate=False, top=3)
    assert met.best.cost.hours <= raw["constraints"]["deadline_hours"]


def test_the_answer_says_what_evaluation_adds(cli):
    code, out, err = cli("estimate", LLAMA_EVAL)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "assumed: evaluation: 1,907 passes x 2.4 min = 3.2 d (3.9% of the run), in the time and cost" in flat
    assert "evaluation 3.2 d of it" in flat and "evaluation left out" not in flat


def test_the_comparison_views_say_the_days_hold_evaluation(catalog):
    """``--by`` / ``--scaling`` rows and ``figures_include`` say the days hold the evaluation passes: the rows'
    days did, while ``figures_include`` read "none (uninterrupted)" and no column showed the passes."""
    from planner.present.terminal import view_table
    from planner.search.rank import best_per, scaling_view
    from rich.console import Console

    rec = recommend(load_job(LLAMA_EVAL), catalog, simulate=False, top=3)
    assert rec.figures_include == "evaluation passes (otherwise uninterrupted)"
    rows = best_per(rec.table, "gpu", rec.price_basis, rec.figures_include)
    rows += scaling_view(rec.table, rec.best.hardware.name, rec.price_basis, rec.figures_include)
    for r in rows:
        assert r["figures_include"] == rec.figures_include
        assert 0 < r["eval_days"] < r["days"]
    best = rows[0]
    assert math.isclose(best["eval_days"] * 24, rec.best.cost.evaluation["seconds"] / 3600, rel_tol=1e-9)
    con = Console(width=200, record=True)
    con.print(view_table(rows[:1], "t"))
    text = con.export_text()
    assert "of which eval, days" in text and f"{best['eval_days']:.1f}" in text
    # a job without an evaluation section: no column, and the figures include nothing
    raw = yaml.safe_load(LLAMA_EVAL.read_text())
    raw.pop("evaluation")
    plain = recommend(load_job_dict(raw), catalog, simulate=False, top=3)
    assert plain.figures_include == "none (uninterrupted)"
    assert all("eval_days" not in r for r in best_per(plain.table, "gpu"))


@pytest.mark.parametrize("n_steps", [3001, 1_000_003])
@pytest.mark.parametrize("full_every", [1, 4, 7])
def test_extrapolated_evaluations_are_the_passes_the_run_holds(llama, n_steps, full_every):
    """Past the steady state the simulator counts the remaining evaluation passes by kind in closed form: the
    total is ``eval_run``'s (full passes 0, K, 2K, ... and holdout passes between) to 1e-9, at any step count.
    The passes used to be priced one call each (~2.6M calls, two minutes, for `simulate --steps 100000000`)."""
    job, plan = llama
    cfg = SimConfig.from_estimate(plan, job)
    cfg = cfg.replace(evaluation=cfg.evaluation.__class__(**{**cfg.evaluation.__dict__, "full_every": full_every}))
    r = simulate(cfg, steps=n_steps, seed=0)
    e = cfg.evaluation
    expect = eval_run(n_steps, e.every_steps, e.samples, full_every, e.subset_fraction, cfg.eval_pass_s)["seconds"]
    assert r.extrapolated
    assert math.isclose(r.time_by_cause_s["eval"], expect, rel_tol=1e-9)
