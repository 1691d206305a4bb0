"""perf49: recommend's result builds each table row's plan once and only the advice an output shows. A framework
``auto`` search's best row is both ``ranked[0]`` and its stack's best in the stack comparison, and was built twice; the
rows the "why" weighs beyond ``--top`` and each stack's best row the ranking does not show were built with their
what-if advice (about 6 re-evaluations of the row) that no output reads. A plan's own one-row step is handed to ``option_alternatives`` as its base instead of re-evaluated:
the same call on the same row, so the advice is the same to the bit (``recommend --json`` on five examples is
byte-identical before and after: benchmarks/recommend_json_diff.py)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

import planner.search.recommend as rec_mod
from planner.model.step_time import step_time
from planner.search.evaluate import evaluate, row_result
from planner.spec import load_job_dict
from planner.workloads.training import recommend

_AUTO = {"model": {"preset": "llama3-8b"},
         "training": {"seq_len": 4096, "global_batch": 64, "tokens": 2e10, "precision": "bf16", "framework": "auto"},
         "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"], "max_gpus": 8, "deadline_hours": 2000,
                         "objective": "cost"}}


def _captured(catalog, monkeypatch):
    """The auto search's result and each ``_plan`` call ``_assemble`` made: (row key, advise, plan, its arguments)."""
    calls = []
    real = rec_mod._plan

    def counted(*args):  # job, hw, c, i, cat, spot, spot_model, stack, searched[, advise]
        plan = real(*args)
        job, hw, c, i = args[:4]
        calls.append(((id(c), int(i), hw.name), args[9] if len(args) > 9 else True, plan, args[:9]))
        return plan

    monkeypatch.setattr(rec_mod, "_plan", counted)
    return recommend(load_job_dict(_AUTO), catalog, simulate=False, top=2), calls, real


def test_each_row_is_built_once_and_only_the_shown_with_advice(catalog, monkeypatch):
    """Every row ``_assemble`` builds is built once; only the ``top`` shown are built with advice: the rows the "why"
    weighs beyond them and the stack comparison's rows the ranking does not show are built without it, and are the
    same row built with it but for its advice."""
    rec, calls, real = _captured(catalog, monkeypatch)
    keys = [k for k, *_ in calls]
    assert len(keys) == len(set(keys)), "a row built twice"
    assert len(rec.stacks) > 1 and len(rec.ranked) == 2
    shown = [p for _, advised, p, _ in calls if advised]  # (recommend hands the plans on as written: other objects)
    assert [(p.hardware.name, p.config, p.advice) for p in shown] == [(p.hardware.name, p.config, p.advice)
                                                                       for p in rec.ranked]
    bare = [(p, a) for _, advised, p, a in calls if not advised]
    assert len(bare) > 2, "no weighed or per-stack row outside the ranking"
    for plan, args in bare[-2:]:  # (a per-stack best is built last; each rebuilt with advice costs a plan)
        assert plan.advice == ()
        full = real(*args, True)
        assert replace(full, advice=()) == plan


def test_a_one_row_evaluation_is_the_base_option_alternatives_would_evaluate(catalog, monkeypatch):
    """``evaluate`` says its step is the one-row, no-override step (``alone``) only where it is, and that step is
    bit-for-bit the one ``option_alternatives`` evaluates on the row; the plan's advice is the same either way."""
    _, calls, _ = _captured(catalog, monkeypatch)
    job, hw, c, i, *_, stack, _ = calls[0][3]
    one = c.take(np.array([i]))
    ev = evaluate(job, one, hw, stack=stack)
    assert ev["alone"] and not evaluate(job, c.take(np.array([i, i])), hw, stack=stack)["alone"]
    again = step_time(job.model, job.training, one.take([0]), hw, framework=stack)["step_time_s"][0]
    assert float(again) == float(ev["time"]["step_time_s"][0])
    assert row_result(job, one, hw, ev, 0).advice == row_result(job, one, hw, dict(ev, alone=False), 0).advice
