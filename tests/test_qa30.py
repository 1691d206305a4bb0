"""QA pass 30: the --deadline-hours bounds in the project's words, an empty recommend search blamed on the rule every
layout breaks (or on the GPU limits of every option), a key that is no text, and QLoRA on the legacy Megatron
stacks — each defect with the check that failed before its fix."""
from __future__ import annotations

import json

import pytest

from conftest import flat, one_error_line, refused, write_job

OFFLINE = {"model": {"preset": "llama3-8b"},
           "serving": {"mode": "batch", "requests": 1000, "output_tokens": 8, "deadline_hours": 1}}


# ---- 1. --deadline-hours refused in pydantic's words ("Input should be greater than 0") ----------------------------
# The flag and both deadline fields now share one bound (schema.DEADLINE_HOURS_MAX) and one message (deadline_error);
# "abc" was typer's "Invalid value for '--deadline-hours': Input should be a valid number, unable to parse ...".
@pytest.mark.parametrize("value, quoted", [("0", "0"), ("-1", "-1"),  # a whole number quoted as typed (QA 102 typed_number)
                                           ("inf", "inf"), ("nan", "nan"),
                                           ("1e300", "1e+300"), ("abc", "'abc'")])
def test_deadline_flag_is_refused_in_the_fields_words(tmp_path, cli, value, quoted):
    job = write_job(tmp_path, OFFLINE)
    line = refused(cli("serve", job, "--no-simulate", f"--deadline-hours={value}"))
    assert line.startswith("error: --deadline-hours: must "), line
    assert "Input should" not in line and "Invalid value" not in line, line
    assert line.endswith(f", got {quoted}"), line
    # the job field says the same thing after its own name
    bad = dict(OFFLINE, serving=dict(OFFLINE["serving"], deadline_hours=value if value == "abc" else float(value)))
    code, out, err2 = cli("serve", write_job(tmp_path, bad, "bad.yaml"), "--no-simulate")
    field_line = one_error_line(err2)
    assert field_line.startswith("error: serving.deadline_hours: ")
    assert field_line.split(": ", 2)[2].rsplit(", got", 1)[0] == line.split(": ", 2)[2].rsplit(", got", 1)[0]


@pytest.mark.parametrize("section, hours, ok", [("serving", 1e5, True), ("serving", 1.0001e5, False),
                                                ("constraints", 1e7, True), ("constraints", 1.0001e7, False),
                                                ("constraints", 1e-9, True), ("constraints", "1e300", False)])
def test_deadline_fields_hold_their_bounds(section, hours, ok):
    from planner.errors import InputError
    from planner.spec.schema import ConstraintsSpec, ServingSpec, _first_error

    model = {"serving": ServingSpec, "constraints": ConstraintsSpec}[section]
    try:
        got = model.model_validate({"deadline_hours": hours}).deadline_hours
    except Exception as e:  # noqa: BLE001 - a ValidationError, turned into the one-line message
        assert not ok, e
        msg = _first_error(e, section)
        assert isinstance(msg, InputError) and msg.message.startswith("must be more than 0 and at most"), msg
        return
    assert ok and got == float(hours)


# ---- 2. recommend: an impossible fixed layout was blamed on what one witness layout happened to break --------------
T = {"seq_len": 4096, "global_batch": 512, "tokens": 1e11}
H100 = {"gpus": ["H100-SXM-80GB"], "max_gpus": 64}


def _recommend_error(tmp_path, cli, job):
    return refused(cli("recommend", write_job(tmp_path, job)))


def test_a_fixed_dp_no_batch_takes_is_blamed_on_the_batch(tmp_path, cli):
    # dp 3 on 8-GPU nodes: "parallel.dp: tp*pp*cp*dp = 3 but the cluster has 8 GPUs (on <one instance> ...)", where no
    # layout on any instance could split 512 sequences over 3 replicas
    line = _recommend_error(tmp_path, cli, {"model": {"preset": "llama3-8b"}, "training": T, "parallel": {"dp": 3},
                                            "constraints": dict(H100, max_gpus=32)})
    assert line.startswith("error: training.global_batch: global_batch=512 is not a multiple of micro_batch*dp"), line
    assert "*3" in line and "every hardware option searched" in line


def test_a_fixed_dp_shard_is_checked_where_nothing_is_left(tmp_path, cli):
    # dp_shard 3 at a global batch of 512 (dp must be a multiple of 3, and 512 sequences split over no such dp): the
    # dp_shard rules were never asked, and the search blamed memory or a TPU slice's size
    line = _recommend_error(tmp_path, cli, {"model": {"preset": "llama3-8b"}, "training": T,
                                            "parallel": {"dp_shard": 3}, "constraints": dict(H100, max_gpus=16)})
    assert line.startswith("error: parallel.dp_shard: dp_shard=3 must divide dp="), line


@pytest.mark.parametrize("lo, hi, says", [
    (7, 7, "below min_gpus=7"),  # 7 GPUs: single-node instances hold 1-8, the others come in 8s
    # past the 1,024 nodes searched then: "max_gpus=1048576 is smaller than one gcp:tpu-v5p-1024 node (512 chips)";
    # since QA 31 the node counts reach max_gpus (defaults.node_counts), so the limits are ones no count lands within
    (1_000_001, 1_000_010, "no node count searched"),
])
def test_gpu_limits_no_option_meets_are_said_for_all_options(tmp_path, cli, lo, hi, says):
    line = _recommend_error(tmp_path, cli, {"model": {"preset": "llama3-8b"}, "training": T,
                                            "constraints": {"min_gpus": lo, "max_gpus": hi,
                                                            "gpus": ["H100-SXM-80GB", "L4-24GB"]}})
    assert line.startswith("error: constraints.min_gpus: none of the "), line
    assert f"{lo:,} to {hi:,} GPUs" in line and says in line, line
    assert f"max_gpus={hi} is smaller than one" not in line
    # each example whole but its asides (hardware_catalog.errors fit_message, msg43): an equal share of the cap cut
    # "no node count searched of aws:p5.48xlarge (8 GPUs each: 1, 2, ... 98…" before its limits
    assert "…" not in line and line.endswith(f"max_gpus={hi:,}" if hi > 7 else "(8 GPUs)"), line


def test_rule_broken_everywhere_unit():
    from hardware_catalog import load_catalog
    from planner.hardware.options import options_for_search
    from planner.search.space import rule_broken_everywhere
    from planner.spec.schema import JobSpec

    def job(parallel, gb=512):
        return JobSpec.model_validate({"model": {"layers": 4, "hidden": 256, "heads": 8, "vocab": 1000},
                                       "training": dict(T, global_batch=gb), "parallel": parallel,
                                       "constraints": H100})
    j = job({"dp": 3})
    opts = options_for_search(j.cluster, j.constraints, "bf16", load_catalog())
    assert rule_broken_everywhere(j, opts).field == "training.global_batch"
    assert rule_broken_everywhere(job({"dp": 4}), opts) is None  # 512 over 4 replicas: some layout holds
    assert rule_broken_everywhere(job({"dp": 3}, gb=513), opts) is None  # now dp 3 takes the batch (mb 1, 3 x 171)


# ---- 3. a key that is no text was named as a field in pydantic's words ("1: Keys should be strings, got 1") --------
@pytest.mark.parametrize("text, field, key", [
    ("model: {preset: llama3-8b}\n1: 2\n", "job", "1"),
    ("model: {preset: llama3-8b}\nconstraints: {true: 1}\n", "constraints", "true"),  # was "constraints.1: ... True"; YAML spelling since session 44
    ("model: {preset: llama3-8b}\ntraining: {null: 1}\n", "training", "null"),
])
def test_a_key_that_is_no_text_blames_its_mapping(tmp_path, cli, text, field, key):
    p = tmp_path / "job.yaml"
    p.write_text(text)
    assert refused(cli("estimate", p)) == f"error: {field}: a field name must be text, got the key {key}"


# ---- 2b. megatron-lm and megatron-deepspeed planned QLoRA, which the Megatron-Core stacks refuse -------------------
@pytest.mark.parametrize("stack", ["megatron-lm", "megatron-deepspeed"])
@pytest.mark.parametrize("training, field", [({"mode": "qlora"}, "training.mode"),
                                             ({"mode": "lora", "base_weights": "nf4"}, "training.base_weights")])
def test_legacy_megatron_stacks_refuse_a_bitsandbytes_base(tmp_path, cli, stack, training, field):
    job = {"model": {"preset": "llama3-8b"},
           "training": dict(training, seq_len=2048, global_batch=16, tokens=1e8, framework={"name": stack}),
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith(f"error: {field}: ") and "refuses" in line and "bitsandbytes" in line, line


# ---- 8. CLI option bounds in typer's words ("--top: Invalid value for '--top': Input should be greater than or equal
# to 1"): the option named once and the bound in the job fields' wording (cli.USAGE_WORDS) ---------------------------
@pytest.mark.parametrize("args, line", [
    (("recommend", "examples/llama3-70b.yaml", "--top", "0"), "error: --top: must be at least 1"),
    (("simulate", "examples/llama3-70b.yaml", "--seed", "abc"), "error: --seed: must be a whole number"),
    (("simulate", "examples/llama3-70b.yaml", "--steps", "0"), "error: --steps: must be at least 1"),
])
def test_option_bounds_are_said_once_in_the_projects_words(main_cli, args, line):
    """Through the console script's ``main`` (the ``cli`` fixture bypasses it), as a user runs it."""
    from conftest import ROOT

    assert refused(main_cli(*args, cwd=ROOT)) == line
