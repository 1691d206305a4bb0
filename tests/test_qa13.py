"""QA pass 13: defects found in recommend (constraints, --emit, --by/--scaling), simulate, compare,
tabular (GBDT) plans and the what-if app, each with the check that failed before its fix."""
from __future__ import annotations

import io

import pytest
from rich.console import Console


def _text(fn, *args, width: int = 200, **kw) -> str:
    con = Console(file=io.StringIO(), width=width, color_system=None)
    fn(con, *args, **kw)
    return con.file.getvalue()


def _write(tmp_path, text: str, name: str = "job.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


BUDGET_PAST_HORIZON = """
model: {preset: llama2-13b}
training: {seq_len: 4096, global_batch: 1024, precision: bf16, tokens: 1.0e12}
constraints: {instances: ["shadeform:denvr_Gaudi2x8", "runpod:8x_MI300X_SECURE"], budget_usd: 100000}
"""


def test_budget_error_does_not_quote_a_plan_under_budget(cli, tmp_path):
    """A $100k budget: "cheapest fitting plan costs $94.5k (... 447.5 d) vs budget $100.0k": a plan under
    the budget as the reason none meets it. It was dropped by the one-year cap without a deadline
    (defaults.HORIZON_HOURS), which the error did not say."""
    code, out, err = cli("recommend", _write(tmp_path, BUDGET_PAST_HORIZON), "--no-simulate")
    assert code == 2, out
    line = err.strip()
    assert line.startswith("error: constraints.budget_usd:") and "\n" not in line, err
    assert "within 365 days costs $127.1k" in line, line
    assert "run over 365 days (from $94.5k" in line and "constraints.deadline_hours" in line, line
    assert "…" not in line, line  # whole, not clipped at the message limit


def test_horizon_line_only_when_it_excludes_something(cli):
    """qlora-llama3.1-70b: "no deadline given: plans longer than 365 days (0 configurations) are excluded"."""
    code, out, err = cli("recommend", "examples/qlora-llama3.1-70b.yaml", "--no-simulate")
    assert code == 0, err
    assert "(0 configurations)" not in out


def _launch(job: dict, cfg: dict, style: str = "megatron"):
    from planner.present.emit import launch_plan
    from planner.spec import load_job_dict

    best = {"config": {"tp": 1, "pp": 1, "cp": 1, "ep": 1, "etp": 1, "vpp": 1, "sp": False, "schedule": "1f1b",
                       "micro_batch": 1, "recompute": "none", "offload": "none", "gpus_per_node": 8, **cfg},
            "hardware": {"name": "aws:p5.48xlarge", "gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": cfg["nodes"],
                         "gpus": 8 * cfg["nodes"]},
            "step_time_s": 5.0, "cost": {"hours": 10.0, "cost_ondemand_usd": 100.0, "steps": 1000}}
    return launch_plan(load_job_dict(job), best, style)


@pytest.mark.parametrize("framework, expect", [(None, True), ({"name": "megatron-core", "overlap_param_gather": False}, False),
                                               ({"name": "megatron-lm"}, False)])
def test_emit_sets_overlap_param_gather_as_the_plan_was_timed(framework, expect):
    """`recommend --emit slurm` of a ZeRO-1 megatron-core plan: the stack (overlap_param_gather=on, as its
    assumption line prints) hides the distributed optimizer's parameter all-gather under the next forward,
    but the launch line had no --overlap-param-gather, so Megatron gathered synchronously after every step."""
    job = {"model": {"preset": "llama3-8b"}, "training": {"seq_len": 8192, "global_batch": 512, "tokens": 1e11}}
    if framework:
        job["training"]["framework"] = framework
    plan = _launch(job, {"dp": 16, "zero": 1, "nodes": 2})
    args = plan.program
    assert "--use-distributed-optimizer" in args and "--overlap-grad-reduce" in args
    assert ("--overlap-param-gather" in args) is expect, args
    # ZeRO-0 (no distributed optimizer): Megatron refuses the flag
    assert "--overlap-param-gather" not in _launch(job, {"dp": 16, "zero": 0, "nodes": 2}).program


LLM_CHECKPOINTED = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 512, micro_batch: 1, precision: bf16, tokens: 1.0e11, recompute: selective}
parallel: {tp: 2, pp: 1, zero: 1}
cluster: {instance: aws:p5.48xlarge, nodes: 8}
checkpoint: {every_steps: 200, write_gbps: 10, mtbf_hours_per_node: 500, restart_minutes: 15}
"""


def test_simulate_small_share_is_not_zero(cli, tmp_path):
    """`planner simulate`: "optimizer  3.060 s  0.0%" (recommend's step table prints such a share "<0.1%")."""
    code, out, err = cli("simulate", _write(tmp_path, LLM_CHECKPOINTED), "--steps", "200")
    assert code == 0, err
    row = next(line for line in out.splitlines() if "optimizer" in line and "│" in line)
    assert "<0.1%" in row and "0.0%" not in row, row


def _tabular(job: dict):
    from planner.spec import load_job_dict
    from planner.workloads.tabular import plan_tabular

    return plan_tabular(load_job_dict(job))


SMALL_GBDT = {"library": "xgboost", "rows": 1e6, "features": 5, "trees": 10, "depth": 4}


def test_tabular_spot_prices_are_said():
    """constraints.spot on a GBDT job: the $/h column held spot rates (Azure D8as_v5 at $0.038/h against
    $0.344 on-demand) under the title "objective: cost", and neither the assumptions nor the JSON said so."""
    from planner.present.tabular import render_tabular

    spot = _tabular({"tabular": SMALL_GBDT, "constraints": {"spot": True}})
    assert spot["spot"] is True and any("spot" in a for a in spot["assumptions"]), spot["assumptions"]
    assert "objective: cost, spot prices" in _text(render_tabular, spot)
    ondemand = _tabular({"tabular": SMALL_GBDT})
    assert ondemand["spot"] is False and not any("spot" in a for a in ondemand["assumptions"])
    assert "objective: cost, on-demand prices" in _text(render_tabular, ondemand)


def test_tabular_seconds_long_runs_read_in_seconds():
    """gbdt-tabular.yaml: "1.1 min" in the table and "0.0 min" in the recommendation for sub-minute fits; a
    one-row job printed "0.000000000003 min"."""
    from planner.present.tabular import render_tabular

    res = _tabular({"tabular": SMALL_GBDT})
    text = _text(render_tabular, res)
    assert "0.0 min" not in text and " min " not in text.split("recommended:")[0], text
    assert res["best"]["seconds_per_run"] < 120 and " s for $" in res["why"], res["why"]
    tiny = _text(render_tabular, _tabular({"tabular": {"library": "xgboost", "rows": 1, "features": 1, "trees": 1,
                                                       "depth": 1}}))
    assert "0.00000" not in tiny and "<0.001 s" in tiny, tiny


def test_tabular_and_model_sections_together_are_refused(cli, tmp_path):
    """A job with both a tabular and a model section: recommend planned the GBDT part and estimate the model,
    each ignoring the other without a word."""
    job = _write(tmp_path, "tabular: {library: xgboost, rows: 1e6, features: 5, trees: 10, depth: 4}\n"
                           "model: {preset: llama3-8b}\ntraining: {tokens: 1e9}\n")
    for cmd in ("recommend", "estimate"):
        code, out, err = cli(cmd, job)
        assert code == 2 and err.startswith("error: tabular: ") and err.count("\n") == 1, (cmd, out, err)


def test_single_node_caveat_not_under_a_one_node_gpu_cap(cli):
    """qlora-llama3.1-70b (constraints.max_gpus: 1): "moves the ranking: lambda:gpu_1x_h100_sxm5 is single-node
    only ...: this plan cannot be scaled out; `--by gpu` or `--scaling` show the multi-node alternatives": the
    job itself allows one GPU, so there are none and nothing it moves."""
    code, out, err = cli("recommend", "examples/qlora-llama3.1-70b.yaml", "--no-simulate")
    assert code == 0, err
    assert "single-node only" not in out and "multi-node alternatives" not in out
