"""qa56 (session 56): every stack option through every command (benchmarks/cli_sweep.py ``--options``), and what the
user is told. An option that runs only from some ZeRO stage on (planner.model.stacks ``LAYOUT_ASKS``) raises the
stage a search or an estimate leaves open and says so, is refused or said where the job fixes a lower one; an option
the job's model or precision does not use is said to change nothing; megatron-core-gaudi has no reshard switch.
Each test but the sweep slice fails on the code before qa56."""
from __future__ import annotations

import sys
from pathlib import Path

from conftest import answered, write_job

ROOT = Path(__file__).resolve().parents[1]


def _job(stack: str, zero: int | None = None, precision: str = "bf16", gpu: str = "H100-SXM-80GB", **options) -> dict:
    """Llama-3-8B on one node of 8 GPUs with ``options`` set on ``stack`` (``zero``: parallel.zero fixed)."""
    job = {"model": {"preset": "llama3-8b"},
           "training": {"global_batch": 64, "seq_len": 2048, "tokens": 1e9, "precision": precision,
                        "framework": {"name": stack, **options}},
           "cluster": {"gpu": gpu, "gpus_per_node": 8, "nodes": 1}}
    if zero is not None:
        job["parallel"] = {"zero": zero}
    return job


def _recommend(tmp_path, main_cli, job: dict) -> dict:
    return answered(main_cli("recommend", write_job(tmp_path, job), "--json", "--no-simulate", "--top", "1"))


def test_reshard_after_forward_left_open_stage_searches_from_where_it_runs(tmp_path, main_cli):
    """torchtitan with ``reshard_after_forward: false`` and ZeRO open on 8 H100: the best plan was ZeRO-0 (TP4 DP2),
    the option dropped without a word. FSDP2 runs it from ZeRO-2 (its ZeRO-2 is fully_shard without reshard)."""
    js = _recommend(tmp_path, main_cli, _job("torchtitan", reshard_after_forward=False))
    cfg = js["best"]["config"]
    assert cfg["dp"] * cfg["cp"] == 1 or cfg["zero"] >= 2, cfg
    assert any(a.startswith("parallel.zero: searched from ZeRO-2 on") and "reshard_after_forward false" in a
               for a in js["assumptions"]), js["assumptions"]


def test_fsdp_version_raises_the_estimates_default_stage(tmp_path, main_cli):
    """HF Trainer with ``fsdp_version: 2`` on TP1 DP8: estimate defaulted to ZeRO-1 (DDP under accelerate, no FSDP for
    the version to choose) and said nothing; it now defaults to ZeRO-2 and says why."""
    job = _job("hf-trainer", fsdp_version=2)
    job["parallel"] = {"tp": 1, "pp": 1}
    js = answered(main_cli("estimate", write_job(tmp_path, job), "--json"))
    assert js["config"]["zero"] == 2, js["config"]
    assert "parallel.zero defaulted to 2 (training.framework.fsdp_version 2 runs from ZeRO-2 on)" in js["assumptions"]


def test_an_option_below_its_stage_is_said_where_the_stack_ignores_it(tmp_path, main_cli):
    """torchtitan ``reshard_after_forward: true`` at a fixed ZeRO-2 (FSDP2 without reshard): planned, silently."""
    js = answered(main_cli("estimate", write_job(tmp_path, _job("torchtitan", zero=2, reshard_after_forward=True)),
                           "--json"))
    assert ("training.framework.reshard_after_forward true changes nothing at ZeRO-2 (parallel.zero 2, as the job "
            "fixes it): it runs from ZeRO-3 on") in js["assumptions"], js["assumptions"]


def test_fp8_param_gather_at_zero_0_is_refused_as_megatron_does(tmp_path, main_cli):
    """Megatron-LM validate_args asserts --fp8-param-gather has a distributed optimizer (or FSDP): at a fixed ZeRO-0
    the job was planned as if the flag were not there."""
    for cmd in (("estimate", "--json"), ("recommend", "--json", "--no-simulate")):
        code, out, err = main_cli(cmd[0], write_job(tmp_path, _job("megatron-core", zero=0, precision="fp8",
                                                                   fp8_param_gather=True)), *cmd[1:])
        assert code == 2 and out == "", (cmd, code, err[-600:])
        assert err.strip() == ("error: training.framework.fp8_param_gather: true runs from ZeRO-1 on (megatron-core's "
                               "code refuses it below); the job fixes parallel.zero: 0"), err


def test_an_option_the_precision_does_not_use_is_said(tmp_path, main_cli):
    """``fp8_param_gather: true`` under bf16: nothing said before qa56 (``fp8_recipe`` was, by planner.spec.load)."""
    js = answered(main_cli("estimate", write_job(tmp_path, _job("megatron-core", fp8_param_gather=True)), "--json"))
    assert ("training.framework.fp8_param_gather true changes nothing: llama3-8b at training.precision bf16 does not "
            "use it") in js["assumptions"], js["assumptions"]


def test_megatron_core_gaudi_has_no_reshard_switch(tmp_path, main_cli):
    """Intel's fork has no ZeRO-3 (no --use-torch-fsdp2): it took ``reshard_after_forward`` and planned ZeRO-1."""
    code, out, err = main_cli("estimate", write_job(tmp_path, _job("megatron-core-gaudi", gpu="Gaudi3-128GB",
                                                                   reshard_after_forward=False)), "--json")
    assert code == 2 and out == "", err[-600:]
    assert err.startswith("error: training.framework.reshard_after_forward: megatron-core-gaudi has no "
                          "reshard-after-forward switch"), err


def test_the_options_sweep_slice_passes(tmp_path, monkeypatch):
    """A bounded slice of ``cli_sweep.py --options`` (torchtitan's reshard switch and HF's FSDP version: each value and
    one illegal, the ZeRO stage left open), the estimate of each job checked as the sweep checks it."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.setenv("PLANNER_DEBUG", "1")
    sys.modules.pop("cli_sweep", None)
    import cli_sweep

    jobs = [j for j in cli_sweep.option_jobs(56, stacks=["torchtitan"], options=["reshard_after_forward"])
            + cli_sweep.option_jobs(56, stacks=["hf-trainer"], options=["fsdp_version"]) if "zero=" not in j[1]]
    assert sorted(j[4]["expect"] for j in jobs) == ["ok"] * 4 + ["refused"] * 2, [j[1] for j in jobs]
    failures, cache = [], {}
    for i, (stack, label, job, _cmds, meta) in enumerate(jobs):
        path = write_job(tmp_path, job, f"{i}.yaml")
        baseline = cli_sweep._baseline(meta["base"], tmp_path, cache) if meta["expect"] == "ok" else None
        code, out, err, raised = cli_sweep.run_main(["estimate", str(path), "--json"])
        bad = cli_sweep.check_option_run(["estimate", "--json"], code, out, err, raised, meta, baseline)
        if bad:
            failures.append((stack, label, bad))
    assert not failures, failures


def test_a_pipeline_option_on_a_plan_without_a_pipeline_is_said(tmp_path, main_cli):
    """``pp_split: megatron`` and ``use_reentrant: true`` on a PP1 plan without recompute: each changed nothing and the
    output did not say so (cli_sweep ``--options`` "unsaid")."""
    job = _job("megatron-core", pp_split="megatron")
    job["parallel"] = {"tp": 2, "pp": 1}
    js = answered(main_cli("estimate", write_job(tmp_path, job), "--json"))
    assert ("training.framework.pp_split megatron changes nothing: the plan has no pipeline (PP > 1)"
            in js["assumptions"]), js["assumptions"]
    job = _job("hf-trainer", use_reentrant=True)
    job["training"]["recompute"] = "none"
    js = answered(main_cli("estimate", write_job(tmp_path, job, "t.yaml"), "--json"))
    assert "training.framework.use_reentrant true changes nothing: the plan has no recompute" in js["assumptions"]
