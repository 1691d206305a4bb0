"""QA pass 58 (session 58): a demanding user's session -- each defect with the check that failed before its fix."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import refused, write_job

ROOT = Path(__file__).resolve().parents[1]
HF_CONFIG = ROOT / "examples" / "hf" / "qwen2.5-7b-config.json"
TRAINING = {"training": {"seq_len": 2048, "global_batch": 64, "micro_batch": 1, "tokens": 1e9},
            "parallel": {"tp": 1, "pp": 1, "cp": 1, "zero": 1},
            "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}


# ---- 1. an output named as the HF config the job reads replaced it ---------------------------------------------------
# The outputs were checked against the job path given, the catalogs and the profile: the config.json a job's
# model.hf_config names, or a model folder's config.json, was no input to them, and `--force` wrote the timeline or
# the ranked CSV over it (the next run of the job: "not valid JSON" or a CSV read as a model).
def _model_folder(tmp_path) -> Path:
    folder = tmp_path / "qwen"
    folder.mkdir()
    shutil.copy(HF_CONFIG, folder / "config.json")
    return folder


@pytest.mark.parametrize("command, option", [("simulate", "--timeline"), ("recommend", "--csv")])
def test_an_output_over_the_jobs_hf_config_is_refused(tmp_path, cli, command, option):
    folder = _model_folder(tmp_path)
    job = write_job(tmp_path, {"model": {"hf_config": "qwen/config.json"}, **TRAINING})
    before = (folder / "config.json").read_bytes()
    extra = ["--steps", "2"] if command == "simulate" else ["--no-simulate"]
    line = refused(cli(command, str(job), option, str(folder / "config.json"), "--force", *extra))
    assert line.startswith(f"error: {option}: ") and "is an input of this command" in line, line
    assert (folder / "config.json").read_bytes() == before


def test_an_output_over_a_model_folders_config_is_refused(tmp_path, cli):
    """The job given as a Hugging Face model folder reads its config.json: that file is the job."""
    folder = _model_folder(tmp_path)
    before = (folder / "config.json").read_bytes()
    line = refused(cli("recommend", str(folder), "--csv", str(folder / "config.json"), "--force", "--no-simulate"))
    assert line.startswith("error: --csv: ") and "is an input of this command" in line, line
    assert (folder / "config.json").read_bytes() == before


def test_job_files_names_what_the_job_reads(tmp_path):
    """``job_files``: the job, its HF config (a folder's config.json) and its serving trace, each relative to the job
    file's folder; a job that cannot be read names itself only (its load says why)."""
    from planner.spec.load import job_files

    folder = _model_folder(tmp_path)
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens\n0.1,10,10\n")
    job = write_job(tmp_path, {"model": {"hf_config": "qwen"}, "serving": {"trace": "t.csv"}})
    assert job_files(job) == [job, folder / "config.json", tmp_path / "t.csv"]
    assert job_files(folder) == [folder / "config.json"]
    bad = write_job(tmp_path, "model: [", "bad.yaml")
    assert job_files(bad) == [bad]


def test_a_new_output_beside_the_hf_config_is_written(tmp_path, cli):
    """The guard refuses the config only: another name in its folder is written, the config untouched."""
    folder = _model_folder(tmp_path)
    job = write_job(tmp_path, {"model": {"hf_config": "qwen/config.json"}, **TRAINING})
    code, out, err = cli("simulate", str(job), "--steps", "2", "--timeline", str(folder / "timeline.json"))
    assert code == 0, err
    assert json.loads((folder / "timeline.json").read_text())
    assert (folder / "config.json").read_bytes() == HF_CONFIG.read_bytes()


# ---- 2. a constraints list's unknown name was refused under the cluster's field --------------------------------------
# The catalog's lookups name the job's own node (cluster.instance, cluster.gpu): `constraints: {instances:
# [aws:p5.48xlarg]}` read "cluster.instance: unknown instance" in recommend / compare / report / serve, in a job
# with no cluster.instance, and estimate's `constraints.gpus: [H999]` beside a fixed instance "cluster.gpu".
LLM = {"model": {"preset": "llama3-8b"}, "training": {"seq_len": 2048, "global_batch": 64, "tokens": 1e9}}


@pytest.mark.parametrize("command, extra", [("recommend", ["--no-simulate"]), ("compare", [])])
def test_an_unknown_instance_in_constraints_is_named_there(tmp_path, cli, command, extra):
    job = write_job(tmp_path, {**LLM, "constraints": {"instances": ["aws:p5.48xlarg"]}})
    line = refused(cli(command, str(job), *extra))
    assert line.startswith("error: constraints.instances: unknown instance 'aws:p5.48xlarg'"), line
    assert "aws:p5.48xlarge" in line  # the suggestion is kept


@pytest.mark.parametrize("constraints, field", [({"instances": ["aws:p5.48xlarg"]}, "constraints.instances"),
                                                ({"gpus": ["H999"]}, "constraints.gpus")])
def test_an_estimates_unknown_constraint_name_is_named_there(tmp_path, cli, constraints, field):
    job = write_job(tmp_path, {**LLM, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1},
                               "constraints": constraints})
    line = refused(cli("estimate", str(job)))
    assert line.startswith(f"error: {field}: unknown "), line


def test_constrained_names_reads_aliases_and_keys():
    from hardware_catalog.catalog import load_catalog
    from planner.hardware.options import constrained_names
    from planner.spec.schema import ConstraintsSpec

    cat = load_catalog()
    con = ConstraintsSpec(gpus=["h100-sxm-80gb"], instances=["AWS:P5.48XLARGE"])
    assert constrained_names(cat, con, "gpus") == {"H100-SXM-80GB"}
    assert constrained_names(cat, con, "instances") == {"aws:p5.48xlarge"}


def test_a_tabular_jobs_unknown_cluster_instance_keeps_its_own_field(tmp_path, cli):
    """A guard (passes on the old code too): a tabular job's cluster.instance becomes its one searched instance, and
    an unknown one is still refused as the field the job wrote, not as constraints.instances."""
    job = write_job(tmp_path, {"tabular": {"library": "xgboost", "rows": 1e6, "features": 20, "trees": 100, "depth": 6},
                               "cluster": {"instance": "aws:c7i.16xlarg"}})
    line = refused(cli("recommend", str(job)))
    assert line.startswith("error: cluster.instance: unknown instance 'aws:c7i.16xlarg'"), line


# ---- 3. expected failures / interruptions counted the restarts' time as exposed --------------------------------------
# The goodput formula (and the segment simulation it is the oracle of) has no failure during a restart, but the counts
# were wall / M: a 128-node spot job said 46.6 expected interruptions for the 44.6 its 28.2 days hold, and 1,000
# interruptions a node-day read 247,321 of ~30 min each inside 247 days.
def test_expected_failures_are_the_segment_simulations_count():
    from types import SimpleNamespace as NS

    from planner.simulate.failures import overhead_arrays, simulate_goodput

    M, R, step, every, block = 3600.0, 1800.0, 1.0, 600, 30.0  # a restart half the MTBF: the two counts far apart
    ck = NS(every_steps=every, pause_s=lambda interval: (block, 0.0))
    sim = simulate_goodput(step_s=step, interval_steps=every, block_s=block, persist_s=0.0, mtbf_s=M, restart_s=R,
                           horizon_s=5e7, seed=1)
    compute_h = sim["useful_s"] / 3600.0
    a = overhead_arrays(ck, [step], [compute_h], M, R)
    assert a["expected_hours"][0] * 3600 == pytest.approx(sim["wall_s"], rel=0.01)
    assert a["expected_failures"][0] == pytest.approx(sim["failures"], rel=0.02)  # was 13,889 for 9,265 simulated


def test_spot_interruptions_fit_in_the_expected_time():
    """Every expected interruption pays its restart and capacity wait inside the expected wall time."""
    import numpy as np

    from planner.simulate.interruptions import SpotRate, spot_expectation

    lam, wait, restart = 1000 / 24, 1800.0, 600.0  # 1,000 a node-day: an absurd rate the schema takes
    e = spot_expectation(SpotRate(lam, lam, lam, wait, "t"), np.array([57.0]), np.array([1]), np.array([4.3]), 37.9,
                         30.0, restart)
    assert e["interruptions"][0] * (restart + wait) / 3600 < e["hours"][0]  # was 247,000 x 40 min in 5,900 h


# ---- 4. a refusal cut in the middle of its list, an aside cut mid-word ------------------------------------------------
# check_platform's refusal of a stack on the wrong accelerator ran past the 300-character cap and InputError cut its
# middle: "stacks for it: ..., hf-trainer, …le-convnets, dle-bert, ..." (llm-foundry and metaseq lost, a name cut);
# fit_message, which fits it now, cut an aside mid-word where backing off to the word's start left under
# ASIDE_MIN_CHARS ("(or leave training.framew…)") where its rule is a word's end or the aside dropped whole.
def test_a_stack_on_the_wrong_accelerator_lists_every_stack_whole(tmp_path, cli):
    from planner.model.stacks import stacks_for_platform

    job = write_job(tmp_path, {**LLM, "training": {**LLM["training"], "framework": "maxtext"},
                               "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    line = refused(cli("estimate", str(job)))
    assert line.startswith("error: training.framework: maxtext runs on Google TPUs"), line
    assert "…" not in line, line
    assert all(name in line.split("stacks for it: ", 1)[1].split(", ") for name in stacks_for_platform("cuda")), line


def test_an_aside_is_cut_at_a_words_end_or_dropped():
    from hardware_catalog.errors import fit_message

    head = "refused: " + "x" * 250
    # backing off to the word's start leaves "or leave" (8 characters, under ASIDE_MIN_CHARS): dropped whole
    assert fit_message(head + " (or leave training.framework out)", 285) == head
    # where the word's start leaves enough, the aside is cut there
    assert fit_message(head + " (or leave the training framework out of it)", 290) == head + " (or leave the training…)"


def test_a_memory_refusal_keeps_its_remedies_whole(tmp_path, cli):
    """The no-fit refusal on a one-GPU instance ran to 324 characters and the cap cut its remedies in the middle:
    "aws:g5.xlarge is single-no…tance, a stack with optimizer offload"; the remedies are kept whole now and the nearest
    plan's aside ("(22 GiB GPU memory, 5% headroom)") gives way."""
    job = write_job(tmp_path, {**LLM, "training": {**LLM["training"], "framework": "megatron-lm"},
                               "cluster": {"instance": "aws:g5.xlarge", "nodes": 1}})
    line = refused(cli("recommend", str(job), "--no-simulate"))
    assert line.startswith("error: memory: no configuration fits in GPU memory; nearest: "), line
    assert "…" not in line and "single-node only: a multi-node instance" in line, line
    assert line.endswith("a stack with optimizer offload (deepspeed, megatron-core, torchtitan), or a larger-memory GPU"), line
    assert re.search(r"needs [0-9.]+ GiB; [0-9.]+ GiB allowed per GPU", line), line  # the nearest plan's numbers stay


# ---- 5. refusals the cap cut in their middle (found by cli_sweep's new ``cut`` check) --------------------------------
# A rule's message is fitted to the cap alone; "the training stack X refuses every layout left: " before it, or a
# remedy after an aside, took the whole past the cap, and InputError cut its middle: "ZeRO-2/3 by
# fsdp_reshard_after_forw…mConfig", "(the loop calls prepare_for_grad_accumulatio…e a model has it)", "rc:…GiB".
MIDDLE_CUT = re.compile(r"…(?!\))")  # an ellipsis that does not close a shortened aside


def _line_uncut(result) -> str:
    line = refused(result)
    assert not MIDDLE_CUT.search(line), line
    return line


def test_every_layout_refused_is_said_uncut(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "training": {"seq_len": 8192, "global_batch": 256, "tokens": 1e12, "recompute": "full",
                                            "framework": {"name": "torchtitan"}},
                               "parallel": {"tp": 2, "pp": 1, "zero": 1},
                               "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}})
    line = _line_uncut(cli("recommend", str(job), "--no-simulate"))
    assert line.startswith("error: parallel.zero: the training stack torchtitan refuses every layout left: "), line


def test_a_moe_only_option_on_a_dense_model_is_said_uncut(tmp_path, cli):
    job = write_job(tmp_path, {**LLM, "training": {**LLM["training"],
                                                   "framework": {"name": "nemo-automodel", "fsdp_defer_sync": True}},
                               "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    line = _line_uncut(cli("estimate", str(job)))
    assert line.startswith("error: training.framework.fsdp_defer_sync: llama3-8b has no MoE layers: "), line
    assert line.endswith("; leave fsdp_defer_sync out"), line


def test_a_memory_refusal_keeps_the_nearest_plans_need(tmp_path, cli):
    """A long remedy list: the nearest plan's asides go, then the remedies' last aside; its need stays whole."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-70b"},
                               "training": {"seq_len": 8192, "global_batch": 1024, "tokens": 1.5e13,
                                            "recompute": "selective", "framework": {"name": "pytorch-ddp"}},
                               "constraints": {"max_gpus": 8, "gpus": ["H200-SXM-141GB"], "clouds": ["aws"]}})
    line = _line_uncut(cli("recommend", str(job), "--no-simulate"))
    assert re.search(r"nearest: .* needs [0-9.]+ GiB; [0-9.]+ GiB allowed per GPU — ", line), line
    assert "recompute (training.recompute: full)" in line and line.endswith("or a larger-memory GPU"), line


def test_the_sweep_flags_a_refusal_cut_in_its_middle():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cli_sweep import check

    assert check(["estimate"], 2, "", "error: parallel.zero: it refuses ZeRO-2/3 by fsdp_resh…mConfig: x\n", None)[0] == "cut"
    assert check(["estimate"], 2, "", "error: parallel.zero: it refuses ZeRO-1 (torchtitan 0.3 ParallelismConfig…)\n",
                 None) is None  # a shortened aside is fit_message's design


# ---- 6. "a fixed fleet of 1 replicas" -------------------------------------------------------------------------------
def test_a_one_replica_fleet_is_one_replica(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "serving": {"replicas": 1, "qps": 4, "p99_latency_ms": 50, "prompt_tokens": 800,
                                           "output_tokens": 200}})
    line = refused(cli("serve", str(job), "--no-simulate"))
    assert line.startswith("error: serving.replicas: a fixed fleet of 1 replica is planned"), line
