"""Leftovers of small30b (small30c, 2026-12-04): each check failed on the code before."""
from __future__ import annotations

import json

from conftest import write_job

from planner.model import stack_rules
from planner.present.emit import plan_stack
from planner.spec import load_job_dict

#: a top-1 MoE on megatron-lm (Megatron-LM 2021-22's SwitchMLP), TP 8 on one p5 node (as tests/test_small30b.py)
SWITCH_EST = {"model": {"preset": "qwen3-30b-a3b", "moe": {"top_k": 1}},
              "training": {"tokens": 1e10, "framework": "megatron-lm", "recompute": "full"},
              "parallel": {"tp": 8, "pp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}


# ---- 3. stack_rules.layout_of carries the plan's sp: a rule reading sp sees it ---------------------------------------
def test_layout_of_a_plan_with_sp_on_is_refused_by_the_moe_sp_rule(tmp_path, cli):
    """``layout_of`` built the rules' columns without ``sp``, so ``megatron-lm-moe-sp`` (which reads ``c.sp``) raised
    AttributeError on a plan's columns. The estimated plan (sp searched off) passes the rules; the same plan with sp on
    is refused by that rule, whose message names SwitchMLP."""
    code, out, err = cli("estimate", write_job(tmp_path, SWITCH_EST), "--json")
    assert code == 0, err
    cfg = json.loads(out)["config"]
    assert cfg["tp"] == 8 and cfg["sp"] is False
    job = load_job_dict(SWITCH_EST)
    st = plan_stack(job, cfg)
    assert stack_rules.first_refusal(st, job.model, job.training, stack_rules.layout_of(cfg)) is None
    hit = stack_rules.first_refusal(st, job.model, job.training, stack_rules.layout_of({**cfg, "sp": True}))
    assert hit is not None and hit[0].name == "megatron-lm-moe-sp" and "SwitchMLP" in hit[1], hit

