"""``training.framework: auto``: recommend searches the training stacks (defaults.AUTO_FRAMEWORKS),
ranks them on the job's objective, and says how each stack's best plan compares (``stacks``).

The checks do not compare the search with itself: the pooled winner is checked against separate
searches, one per named stack; which stacks are refused follows from what each launcher runs (QLoRA's
bitsandbytes base is Hugging Face model code; NVFP4 is Transformer Engine's recipe; the HF model
code has no pipeline stages), each sourced in planner.model.stack_rules."""

import pytest

from planner import defaults as D
from planner.errors import InputError
from planner.model import stack_rules
from planner.search.rank import rank_key
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job, recommend

from conftest import EXAMPLES, answered, invoke_app, planned_once


def _job(framework="auto", parallel=None, constraints=None, preset="llama3-8b", **training):
    t = {"seq_len": 4096, "global_batch": 64, "tokens": 2e10, **training}
    if framework is not None:
        t["framework"] = framework
    job = {"model": {"preset": preset}, "training": t,
           "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"], "max_gpus": 32, "deadline_hours": 2000,
                           "objective": "cost", **(constraints or {})}}
    if parallel:
        job["parallel"] = parallel
    return load_job_dict(job)


def _row(rec, name):
    return next(r for r in rec.stacks if r["framework"] == name)


def test_auto_winner_is_the_best_of_separate_per_stack_searches(catalog):
    auto = recommend(_job(), catalog, simulate=False)
    alone = {n: recommend(_job(framework=n), catalog, simulate=False) for n in D.AUTO_FRAMEWORKS}
    # every stack's best plan in the comparison is the one its own search finds
    for n, rec in alone.items():
        row = _row(auto, n)
        assert row["step_time_s"] == pytest.approx(rec.best.step_time_s, rel=1e-12)
        assert row["cost_usd"] == pytest.approx(rec.best.cost.cost_ondemand_usd, rel=1e-12)
        assert row["nodes"] == rec.best.hardware.nodes
    # and the winner is the best of those under the objective's own ranking (cost, ties to the faster)
    import pandas as pd
    from planner.search.rank import cost_bucket

    df = pd.DataFrame([dict(name=n, cost=r.best.cost.cost_ondemand_usd, train_hours=r.best.cost.hours)
                       for n, r in alone.items()])
    df = df.assign(cost_bucket=cost_bucket(df["cost"])).sort_values(rank_key(df, "cost"), kind="stable")
    assert auto.best.stack["name"] == df.iloc[0]["name"] == auto.stacks[0]["framework"]
    assert auto.stacks[0]["chosen"] and not any(r["chosen"] for r in auto.stacks[1:])
    # the relative figures are the separate searches' ratios
    win = alone[auto.best.stack["name"]].best
    for n, rec in alone.items():
        assert _row(auto, n)["vs_chosen"]["cost"] == pytest.approx(
            rec.best.cost.cost_ondemand_usd / win.cost.cost_ondemand_usd - 1, abs=1e-12)
    assert any(a.startswith("training.framework auto: ") for a in auto.assumptions)


def test_qlora_auto_runs_on_hugging_face_code_only(catalog):
    """QLoRA's NF4 base is bitsandbytes' Linear4bit, a layer of the HF model code (peft): Megatron-Core
    and torchtitan 0.3 have none, so they are refused with the training.mode rule and an HF-code stack wins."""
    rec = recommend(_job(mode="qlora", recompute="full"), catalog, simulate=False)
    assert stack_rules.RUNTIMES[rec.best.stack["name"]] == "hf"
    for n in ("megatron-core", "torchtitan"):
        row = _row(rec, n)
        assert row["status"] == "refused" and row["reason"].startswith("training.mode:") and "QLoRA" in row["reason"]
    # named, the refusal is an error (estimate and recommend alike)
    with pytest.raises(InputError, match="QLoRA"):
        estimate_job(load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1},
                                    "training": {"mode": "qlora", "framework": "megatron-core", "tokens": 1e9},
                                    "parallel": {"tp": 1, "pp": 1, "dp": 8}}), catalog)


def test_nvfp4_auto_keeps_the_transformer_engine_stack_only(catalog):
    """precision fp4 is NVFP4 (TE NVFP4BlockScaling, Megatron --fp4-recipe nvfp4): torchtitan's torchao
    recipes and accelerate's FP8 backends have no NVFP4 training recipe."""
    rec = recommend(_job(precision="fp4", constraints={"gpus": ["B200-SXM-180GB"], "clouds": None}), catalog,
                    simulate=False)
    assert rec.best.stack["name"] == "megatron-core"
    for n in ("torchtitan", "deepspeed", "hf-trainer"):
        row = _row(rec, n)
        assert row["status"] == "refused" and row["reason"].startswith("training.framework.fp8_recipe:")


def test_fp8_delayed_scaling_excludes_torchtitan(catalog):
    """torchao removed delayed scaling; torchtitan 0.3's float8 converter offers rowwise (and rowwise_with_gw_hp)."""
    rec = recommend(_job(precision="fp8", framework={"name": "auto", "fp8_recipe": "delayed"}), catalog, simulate=False)
    assert _row(rec, "torchtitan")["status"] == "refused"
    assert {r["framework"] for r in rec.stacks if r["status"] in ("chosen", "feasible")} == {
        "megatron-core", "deepspeed", "hf-trainer"}


def test_fixed_pipeline_leaves_the_hf_code_stacks_without_a_plan(catalog):
    """A transformers model is one nn.Module (no stage split): with parallel.pp 2 fixed the HF Trainer and
    DeepSpeed-on-HF stacks have no layout; the others do."""
    rec = recommend(_job(parallel={"pp": 2}), catalog, simulate=False)
    for n in ("deepspeed", "hf-trainer"):
        row = _row(rec, n)
        assert row["status"] == "refused" and "pipeline" in row["reason"]
    assert rec.best.stack["name"] in ("megatron-core", "torchtitan")


def test_every_auto_stack_has_rules():
    """auto searches only stacks whose launch limits are known (a plan is never one its launcher refuses)."""
    assert set(D.AUTO_FRAMEWORKS) <= set(stack_rules.RUNTIMES)
    assert D.FRAMEWORK in D.AUTO_FRAMEWORKS and set(D.FRAMEWORK_BY_MODE.values()) <= set(D.AUTO_FRAMEWORKS)


def test_estimate_with_auto_is_one_line_error(cli, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {framework: auto}\ncluster: {gpu: H100-SXM-80GB, nodes: 1}\n")
    code, out, err = cli("estimate", job)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: training.framework: auto ")


def _framework_left_out(tmp_path, extra=""):
    """The auto example's search (AWS H100, ~0.5 s) with training.framework left out: the default stack. (The
    budget example's whole-catalog search asked the same of a search 20x longer.)"""
    text = (EXAMPLES / "llama3-8b-auto.yaml").read_text()
    assert "  framework: auto\n" in text
    job = tmp_path / "no-framework.yaml"
    job.write_text(text.replace("  framework: auto\n", "") + extra)
    return job


#: the CLI runs of the auto example the tests below read: (exit code, stdout, stderr) by name
AUTO_RUNS = {"json": ("--json",), "text": (), "emit": ("--emit", "torchrun"), "by": ("--by", "framework")}


@pytest.fixture(scope="module")
def auto_runs():
    """``planner recommend llama3-8b-auto.yaml`` as --json, as text, with ``--emit torchrun`` and with ``--by
    framework``, once each for the module: the four commands ask one search (the same job, top 10, simulated), made
    once (``conftest.planned_once``) and printed by each command's own presenter. Until suite51 each test searched it
    again, five searches (the JSON twice) of ~0.6-1.3 CPU s."""
    from planner.workloads import training

    with planned_once(training, "recommend") as made:
        runs = {k: invoke_app("recommend", EXAMPLES / "llama3-8b-auto.yaml", *flags) for k, flags in AUTO_RUNS.items()}
    assert len(made) == 1
    return runs


def test_recommend_json_has_stacks_only_for_auto(cli, tmp_path, auto_runs):
    res = answered(auto_runs["json"])
    rows = res["stacks"]
    assert [r["framework"] for r in rows if r["status"] != "refused"][0] == res["best"]["stack"]["name"]
    assert {r["framework"] for r in rows} == set(D.AUTO_FRAMEWORKS)
    for r in rows:
        assert {"framework", "chosen", "status", "reason"} <= set(r)
        if r["status"] in ("chosen", "feasible"):
            assert {"hardware", "nodes", "layout", "step_time_s", "cost_usd", "train_hours", "vs_chosen"} <= set(r)
    res = answered(cli("recommend", _framework_left_out(tmp_path), "--json"))
    assert "stacks" not in res and res["best"]["stack"]["name"] == D.FRAMEWORK


def test_recommend_text_prints_the_stack_table(auto_runs):
    code, out, _ = auto_runs["text"]
    assert code == 0 and "training stacks (training.framework auto)" in out
    for n in D.AUTO_FRAMEWORKS:
        assert n in out


def test_emit_for_an_auto_plan_uses_the_chosen_stack(auto_runs):
    """--emit launches the stack the search picked (its runtime's launcher style), with that stack's plan."""

    from planner.model.stack_rules import RUNTIMES
    from planner.present.emit import RUNTIME_STYLE

    best = answered(auto_runs["json"])["best"]
    code, out, err = auto_runs["emit"]
    assert code == 0, err
    assert f"# launcher style: {RUNTIME_STYLE[RUNTIMES[best['stack']['name']]]}" in out
    c = best["config"]
    assert f"TP{c['tp']} PP{c['pp']} DP{c['dp']}" in out and f"--tensor-model-parallel-size {c['tp']}" in out


def test_by_framework_needs_auto(cli, tmp_path, auto_runs):
    code, out, _ = auto_runs["by"]
    assert code == 0 and "best plan per framework" in out and "│ torchtitan " in out  # its own column (QA 37b)
    # framework left out, GPUs only: one stack (an open framework over GPUs and TPUs is a search over each
    # platform's stack: tests/test_accelerator_stacks.py)
    job = _framework_left_out(tmp_path)
    code, _, err = cli("recommend", job, "--by", "framework")
    assert code == 2 and err.strip().startswith("error: --by: framework: only for a search over stacks")


def test_auto_on_a_model_without_transformer_layers_is_an_error(cli, tmp_path):
    """The stacks differ only in how they run transformer layers: for a CNN auto would pick by noise."""
    job = tmp_path / "job.yaml"
    job.write_text((EXAMPLES / "resnet50-objectstore-shards.yaml").read_text().replace(
        "  recompute: none", "  recompute: none\n  framework: auto"))
    code, _, err = cli("recommend", job)
    assert code == 2 and err.strip().startswith("error: training.framework: auto ")
