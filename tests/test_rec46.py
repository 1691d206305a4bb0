"""``training.framework.fp8_recipe: auto``: ``recommend`` tries each fp8 recipe the stack's code offers
(planner.model.stack_rules ``FP8_RECIPES``) on each GPU that has its GEMMs (physics ``LOW_PRECISION_PEAKS``: MXFP8
on Blackwell only), prices each with the step-time and memory model, and ranks them on the objective like any other
searched stack option; ``estimate`` refuses ``auto`` in one line, as it refuses ``training.framework: auto``.

The winner is checked against separate searches, one per recipe the job fixes, not against the search itself."""

import json

import pytest

from planner.spec import load_job_dict
from planner.workloads.training import estimate_job, recommend

from conftest import answered, refused, write_job

H100 = ("H100-SXM-80GB",)


def _raw(fw, gpus=H100, **training) -> dict:
    t = {"seq_len": 4096, "global_batch": 64, "tokens": 2e10, "precision": "fp8", "framework": fw, **training}
    return {"model": {"preset": "llama3-8b"}, "training": t,
            "constraints": {"clouds": ["aws"], "gpus": list(gpus), "max_gpus": 32, "deadline_hours": 2000,
                            "objective": "cost"}}


def _rec(catalog, fw, gpus=H100, **training):
    return recommend(load_job_dict(_raw(fw, gpus, **training)), catalog, simulate=False)


def _line(rec, stack: str) -> str:
    return next(a for a in rec.assumptions if a.startswith(f"training.framework.fp8_recipe auto: {stack} tried "))


def test_h100_megatron_core_picks_the_cheapest_of_its_recipes_and_records_it(catalog):
    auto = _rec(catalog, {"name": "megatron-core", "fp8_recipe": "auto"})
    # every recipe Megatron-Core offers that an H100 runs, each searched alone with the recipe fixed
    alone = {r: _rec(catalog, {"name": "megatron-core", "fp8_recipe": r}).best
             for r in ("tensorwise", "delayed", "blockwise")}
    costs = {r: p.cost.cost_ondemand_usd for r, p in alone.items()}
    assert len(set(costs.values())) == 3  # the recipes price apart: the choice is a real one
    win = min(costs, key=costs.get)
    assert auto.best.stack["fp8_recipe"] == win
    assert auto.best.cost.cost_ondemand_usd == pytest.approx(costs[win], rel=1e-12)
    assert auto.best.step_time_s == pytest.approx(alone[win].step_time_s, rel=1e-12)
    assert "fp8_recipe" in auto.best.stack["searched"]
    line = _line(auto, "megatron-core")
    assert "tried tensorwise, delayed, blockwise (tensorwise its default)" in line
    # the GPU's refusal: MXFP8 is Blackwell's (transformer_engine check_mxfp8_support)
    assert "mxfp8 (mxfp8 needs MX block-scaled tensor cores: not on H100-SXM-80GB)" in line
    assert "rowwise (not in megatron-core's code" in line and "nvfp4 (training.precision fp4's recipe)" in line
    assert any(f"fp8_recipe={win}" in a for a in auto.assumptions if a.startswith("training stack: megatron-core"))


def test_b200_torchtitan_tries_its_three_recipes(catalog):
    # torchtitan's tensorwise (tfp59: admitted; until then auto picked mxfp8 here) has per-tensor-scaled GEMMs and
    # fewer cast bytes than mxfp8's 1x32 block scales (stack_kernels RECIPES): the cheapest of the three on B200
    auto = _rec(catalog, {"name": "torchtitan", "fp8_recipe": "auto"}, gpus=("B200",))
    rowwise = _rec(catalog, {"name": "torchtitan", "fp8_recipe": "rowwise"}, gpus=("B200",)).best  # its default
    assert auto.best.stack["fp8_recipe"] == "tensorwise"
    assert auto.best.cost.cost_ondemand_usd < rowwise.cost.cost_ondemand_usd
    line = _line(auto, "torchtitan")
    assert "tried rowwise, tensorwise, mxfp8" in line and " not on " not in line


def test_llm_foundry_tries_delayed_only(catalog):
    rec = _rec(catalog, {"name": "llm-foundry", "fp8_recipe": "auto"})
    assert rec.best.stack["fp8_recipe"] == "delayed" and "fp8_recipe" in rec.best.stack["searched"]
    assert all(p.stack["fp8_recipe"] == "delayed" for p in rec.ranked)
    line = _line(rec, "llm-foundry")
    assert "tried delayed (delayed its default)" in line
    assert "tensorwise, rowwise, blockwise, mxfp8, nvfp4 (not in llm-foundry's code" in line


def test_a_recipe_the_stack_refuses_for_the_job_is_not_tried_and_said(catalog):
    # Megatron-Core refuses layernorm recompute under delayed scaling (stacks.recompute_modules)
    rec = _rec(catalog, {"name": "megatron-core", "fp8_recipe": "auto"}, recompute="selective",
               recompute_modules=["layernorm"])
    line = _line(rec, "megatron-core")
    assert "tried tensorwise, blockwise (tensorwise its default)" in line
    assert "delayed (moe_act and layernorm recompute do not run under FP8 delayed scaling)" in line
    assert all(p.stack["fp8_recipe"] != "delayed" for p in rec.ranked)


def test_framework_auto_searches_each_stacks_recipes(catalog):
    rec = _rec(catalog, {"name": "auto", "fp8_recipe": "auto"})
    assert "tried tensorwise, delayed, blockwise" in _line(rec, "megatron-core")
    # MXFP8 is Blackwell's: H100 lacks it
    assert "tried rowwise, tensorwise (rowwise its default)" in _line(rec, "torchtitan")
    both = _rec(catalog, {"name": "auto", "fp8_recipe": "auto"}, gpus=("H100-SXM-80GB", "B200"))
    assert "tried rowwise, tensorwise, mxfp8 (rowwise its default)" in _line(both, "torchtitan")
    assert "(mxfp8 not on H100-SXM-80GB: mxfp8 needs MX block-scaled tensor cores)" in _line(both, "torchtitan")
    assert "fp8_recipe" in rec.best.stack["searched"]


def test_estimate_refuses_auto_in_one_line(cli, tmp_path):
    raw = _raw({"name": "megatron-core", "fp8_recipe": "auto"})
    raw["cluster"] = {"instance": "aws:p5.48xlarge", "nodes": 1}
    line = refused(cli("estimate", write_job(tmp_path, raw)))
    assert line.startswith("error: training.framework.fp8_recipe: auto leaves the recipe to planner recommend")
    assert "(tensorwise, delayed, blockwise, mxfp8, nvfp4)" in line and "megatron-core's default, tensorwise" in line


def test_fp4_with_auto_is_nvfp4():
    job = load_job_dict(_raw({"name": "megatron-core", "fp8_recipe": "auto"}, precision="fp4"))
    assert job.training.framework.fp8_recipe == "nvfp4" and job.training.precision == "fp8"


def test_json_keeps_its_keys_and_the_stack_record_reads_back(cli, tmp_path, catalog):
    auto = answered(cli("recommend", write_job(tmp_path, _raw({"name": "megatron-core", "fp8_recipe": "auto"}),
                                                 "a.yaml"), "--json", "--no-simulate"))
    fixed = answered(cli("recommend", write_job(tmp_path, _raw({"name": "megatron-core", "fp8_recipe": "delayed"}),
                                                  "f.yaml"), "--json", "--no-simulate"))
    assert set(auto) == set(fixed) and set(auto["best"]) == set(fixed["best"])
    assert set(auto["best"]["stack"]) == set(fixed["best"]["stack"])
    record = auto["best"]["stack"]
    assert record["fp8_recipe"] == "delayed" and "fp8_recipe" in record["searched"]
    # the record is a job's training.framework: estimate at the plan's layout times the plan again
    cfg, hw = auto["best"]["config"], auto["best"]["hardware"]
    raw = _raw(record, micro_batch=cfg["micro_batch"], recompute=cfg["recompute"])
    raw["parallel"] = {k: cfg[k] for k in ("tp", "pp", "dp", "cp", "zero")} | {"sequence_parallel": cfg["sp"]}
    raw["cluster"] = {"instance": hw["name"], "nodes": hw["nodes"]}
    again = estimate_job(load_job_dict(json.loads(json.dumps(raw))), catalog)
    assert again.step_time_s == pytest.approx(auto["best"]["step_time_s"], rel=1e-9)
