"""QA pass 33: a serving refusal that named the worst option as the nearest, a simulation of a run that cannot start,
a finished simulation refused as too large, and a launch style picked that refuses the plan the other one runs -- each
defect with the check that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job

LLM = {"model": {"preset": "llama3-8b"},
       "training": {"seq_len": 2048, "global_batch": 64, "micro_batch": 1, "recompute": "selective", "tokens": 1e9},
       "parallel": {"tp": 1, "pp": 1, "cp": 1, "dp": 8, "zero": 1},
       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


# ---- 1. a model no option holds: the "best" option named was the one with the least memory ---------------------------
# min(weights per GPU) ties at TP8 on every node, and the first row won: Llama-3.1-405B on H100 and L4 nodes read
# "exceed 20 GiB usable (best: aws:g6.48xlarge TP8) -- ... or allow more GPUs" (a replica never spans nodes)
def test_a_model_no_option_holds_names_the_option_nearest_to_holding_it(tmp_path, cli, preset="llama3.1-405b"):
    job = {"model": {"preset": preset},
           "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 40, "prompt_tokens": 800, "output_tokens": 200},
           "constraints": {"gpus": ["L4-24GB", "H100-SXM-80GB"], "clouds": ["aws"]}}
    line = refused(cli("serve", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: serving: the model does not fit any option: weights "), line
    assert "exceed 72 GiB usable (best: aws:p5.48xlarge TP8)" in line  # the 80 GB H100 node, not the 24 GB L4 one
    assert "allow more GPUs" not in line and "a replica is one node's GPUs at most" in line


# ---- 2. simulate played out a configuration that does not fit in memory -----------------------------------------------
# a 1,000-layer model on one node (368,772 GiB a GPU) printed "wall 6.5 d" and nothing about memory
HUGE = {**LLM, "model": {"layers": 200, "hidden": 16384, "heads": 128, "vocab": 128000}}


def test_simulate_refuses_a_configuration_that_does_not_fit(tmp_path, cli):
    est = answered(cli("estimate", write_job(tmp_path, HUGE), "--json"))
    need = est["memory_per_gpu_bytes"]["total"] / 2**30  # estimate shows it, with fits: false
    assert not est["fits"]
    timeline = tmp_path / "t.csv"
    line = refused(cli("simulate", write_job(tmp_path, HUGE), "--steps", "2", "--timeline", timeline))
    assert line.startswith(f"error: memory: does not fit: needs {need:.1f} GiB, 76.0 GiB allowed"), line
    assert "no run to simulate" in line
    assert not timeline.exists()  # nothing written half-way


def test_simulate_still_runs_a_configuration_that_fits(tmp_path, cli):
    assert answered(cli("simulate", write_job(tmp_path, LLM), "--steps", "2", "--no-answers", "--json"))["steps"] == 2


# ---- 3. the work bound stopped a simulation whose last step was done -------------------------------------------------
# "too large: ... (2 of 2 steps done, ...) without reaching a steady state; simulate fewer --steps"
def test_the_work_bound_does_not_refuse_a_finished_run(tmp_path, cli, monkeypatch):
    import planner.simulate.engine as engine

    # 8 replicas x 8 micro-batches a step, plus the 8 replica processes started: 8 + 64 x 2 = 136 units in 2 steps
    monkeypatch.setattr(engine, "MAX_SIM_WORK", 135)
    path = write_job(tmp_path, LLM)
    assert answered(cli("simulate", path, "--steps", "2", "--no-answers", "--json"))["steps"] == 2
    assert refused(cli("simulate", path, "--steps", "3", "--no-answers")).startswith("error: --steps: too large: simulating this job passed 135 replica "
                                          "micro-batches (2 of 3 steps done")


# ---- 4. --emit's default style for a stack with no launcher of its own refused what the other style runs ------------
# a Megatron-LM fp8 plan at ZeRO-3 went to torchtitan by its ZeRO stage: "torchtitan refuses fp8 training with a recipe
# it does not offer ...; change the plan, or use the megatron style (--emit FORMAT:megatron)", which emitted it. fp8 on
# Megatron-LM is refused at input since (it has no fp8 path); the same holds for any rule only torchtitan has: here
# TP 8 over Qwen3-30B-A3B's 4 KV heads (torchtitan shards whole KV heads; Megatron replicates them), EP 1, ZeRO-3
# (megatron-core since the MoE rules: Megatron-LM 2021-22 refuses an MoE model routing to more than one expert)
QWEN_Z3 = {**LLM, "model": {"preset": "qwen3-30b-a3b"},
           "training": {**LLM["training"], "framework": "megatron-core"},
           "parallel": {**LLM["parallel"], "tp": 8, "dp": 1, "ep": 1, "zero": 3}}


def test_the_default_launch_style_is_one_that_takes_the_plan(tmp_path, cli):
    code, out, err = cli("recommend", write_job(tmp_path, QWEN_Z3), "--emit", "torchrun")
    assert code == 0, err
    assert "# launcher style: megatron" in out and "--use-torch-fsdp2" in out


def test_a_forced_style_that_refuses_the_plan_is_still_refused(tmp_path, cli):
    assert refused(cli("recommend", write_job(tmp_path, QWEN_Z3), "--emit", "torchrun:fsdp")).startswith("error: --emit: torchtitan refuses more TP ranks than KV heads")


def test_the_zero_stage_still_picks_the_style_where_both_take_the_plan(tmp_path, cli):
    # megatron-deepspeed: a Megatron launcher by default, ZeRO-3 only through FSDP (Megatron-LM refuses ZeRO-3 since QA 36)
    job = {**LLM, "training": {**LLM["training"], "framework": "megatron-deepspeed"}, "parallel": {**LLM["parallel"], "zero": 3}}
    code, out, err = cli("recommend", write_job(tmp_path, job), "--emit", "torchrun")
    assert code == 0, err
    assert "# launcher style: fsdp" in out


# ---- 5. no plan finishes under the checkpoint pauses alone: the refusal blamed node failures the job never set ------
# "error: checkpoint.mtbf_hours_per_node: no plan finishes: node failures come before a checkpoint interval completes"
# for a save every step at 1e-6 Gb/s (since QA 36 the floor, schema.MIN_RATE: 1e-3 Gb/s) and no mtbf_hours_per_node
def test_pauses_alone_that_no_plan_outlives_are_named_as_pauses(tmp_path, cli):
    job = {**LLM, "checkpoint": {"every_steps": 1, "write_gbps": 1e-3}}
    line = refused(cli("recommend", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: checkpoint: no plan finishes: the checkpoint pauses make every plan's expected time "
                           "over 1,000x the uninterrupted one"), line
    assert "mtbf" not in line and "node failures" not in line and "checkpoint.write_gbps" in line
    job["checkpoint"]["mtbf_hours_per_node"] = 1e-3  # with failures set, they are named
    assert refused(cli("recommend", write_job(tmp_path, job), "--no-simulate")).startswith("error: checkpoint.mtbf_hours_per_node: no plan finishes: node failures")


# ---- 6. a campaign section is checked whichever command reads the job -----------------------------------------------
# simulate (and serve), which answer no campaign, took `experiments_per_week: 1e9` that estimate refused
@pytest.mark.parametrize("command", ["estimate", "simulate"])
def test_a_campaign_section_out_of_bounds_is_refused_by_every_command(tmp_path, cli, command):
    job = {**LLM, "campaign": {"experiments_per_week": 1e9, "weeks": 1}}
    assert refused(cli(command, write_job(tmp_path, job), *(["--steps", "2", "--no-answers"] if command == "simulate" else []))) == "error: campaign.experiments_per_week: must be at most 10,000, got 1000000000.0"


def test_a_campaign_section_out_of_bounds_is_refused_by_serve(tmp_path, cli):
    job = {"model": {"preset": "llama3-8b"}, "campaign": {"experiments_per_week": 1e9, "weeks": 1},
           "serving": {"p99_latency_ms": 50, "qps": 1, "prompt_tokens": 100, "output_tokens": 10},
           "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"]}}
    assert refused(cli("serve", write_job(tmp_path, job), "--no-simulate")) == "error: campaign.experiments_per_week: must be at most 10,000, got 1000000000.0"


# ---- 7. `--emit torchrun:` (an unset $STYLE after the colon) was taken as no style asked -----------------------------
@pytest.mark.parametrize("fmt", ["torchrun:", "slurm: "])
def test_an_empty_launcher_style_is_refused(fmt):
    from planner.errors import InputError
    from planner.present.emit import check_emit_format

    with pytest.raises(InputError) as e:
        check_emit_format(fmt)
    assert e.value.field == "--emit"
    assert e.value.message.startswith(f"an empty launcher style after ':' in {fmt!r}: give one of megatron, fsdp")
    assert check_emit_format("SLURM") == ("slurm", None) and check_emit_format("k8s:fsdp") == ("k8s", "fsdp")


# ---- 4b. both styles refuse: "the megatron style refuses it too" did not say why ------------------------------------
def test_when_both_styles_refuse_both_reasons_are_said(tmp_path, cli):
    job = {**LLM, "model": {"preset": "qwen2.5-1.5b"}, "training": {**LLM["training"], "framework": "megatron-deepspeed"},
           "parallel": {**LLM["parallel"], "tp": 4, "dp": 2, "zero": 3}}  # 2 KV heads over TP 4; tied embeddings
    line = refused(cli("recommend", write_job(tmp_path, job), "--emit", "torchrun"))
    assert line.startswith("error: --emit: torchtitan refuses more TP ranks than KV heads")
    assert "the megatron style refuses it too (Megatron refuses ZeRO-3" in line and "tied embeddings" in line


# ---- 8. a fixed degree no searched node count can hold: recommend with parallel.pp 5 refused -------------------------
# "error: parallel: tp*pp*cp = 5 does not divide the 1 GPUs (every layout the job's fixed fields allow breaks this ...)":
# the node counts searched (1, 2, 3, 4, 6, 8, 12, 16 up to 128 GPUs) held no multiple of 5 nodes
def test_a_fixed_pipeline_of_5_is_searched_on_multiples_of_5_nodes(tmp_path, cli):
    job = {"model": {"preset": "llama2-13b"},
           "training": {"seq_len": 4096, "global_batch": 1024, "precision": "bf16", "tokens": 1e10},
           "parallel": {"pp": 5}, "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"], "max_gpus": 128}}
    ranked = answered(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json"))["ranked"]
    assert ranked and all(r["config"]["pp"] == 5 and r["config"]["nodes"] % 5 == 0 for r in ranked)
    assert {r["config"]["nodes"] for r in ranked} >= {5, 10}
