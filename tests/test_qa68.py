"""QA 68: the defects session 43 left, then a demanding user's pass. Each test fails on the code before it.

* A Megatron-Core ZeRO-3 plan (torch FSDP2) launches with ``--no-gradient-accumulation-fusion`` (Megatron refuses FSDP2
  with the fusion), but its stack line and its JSON record said ``gradient_accumulation_fusion=on`` / ``true``, and an
  explicit ``gradient_accumulation_fusion: true`` was taken and launched without it (stacks.LAYOUT_FORCES).
* Booleans: YAML 1.1's ``yes`` / ``no`` / ``on`` / ``off`` and pydantic's lax text (a quoted ``"false"``, ``"n"``, the
  numbers 0 / 1) passed as booleans, unsaid; a bool field takes YAML 1.2's ``true`` / ``false`` only.
* A path holding a newline was quoted with the newline as a space (``clean_line``): ``/tmp/a b.yaml``, a file that is
  not there. Every quoted path goes through ``shown_path``.
* benchmarks/validate.py's mi300x rows say their launches' unfused accumulation in the job's words.
"""
from __future__ import annotations

import sys

import pytest

from conftest import ROOT, answered, refused, write_job
from planner.errors import InputError
from planner.model import stacks
from planner.spec import load_job_dict, parse_yaml_text

sys.path.insert(0, str(ROOT / "benchmarks"))
from test_gradaccum_fusion_gaf43 import JOB as GAF43_JOB  # noqa: E402

# gaf43's job at ZeRO-3 (one job for both files' fusion checks)
JOB = {**GAF43_JOB, "parallel": {**GAF43_JOB["parallel"], "zero": 3}}


def _job(tmp_path, zero: int = 3, **framework):
    return write_job(tmp_path, {**JOB, "parallel": {**JOB["parallel"], "zero": zero},
                                "training": {**JOB["training"], "framework": {"name": "megatron-core", **framework}}})


# ---- 1. gradient-accumulation fusion at ZeRO-3 ---------------------------------------------------------------------
def test_zero3_plan_says_the_fusion_its_launch_runs(cli, tmp_path):
    """The stack line, the JSON record and the launch agree: off, and why."""
    job = _job(tmp_path, megatron_fsdp=False)  # (left open, recommend searches Megatron-FSDP and takes it here)
    d = answered(cli("estimate", job, "--json"))
    assert d["stack"]["gradient_accumulation_fusion"] is False
    code, out, _ = cli("estimate", job)
    assert code == 0 and "gradient_accumulation_fusion=off (ZeRO-3: torch FSDP2)" in " ".join(out.split())
    code, spec, err = cli("recommend", job, "--no-simulate", "--emit", "torchrun:megatron")
    assert code == 0, err
    assert "--use-torch-fsdp2" in spec and "--no-gradient-accumulation-fusion" in spec
    rec = answered(cli("recommend", job, "--no-simulate", "--json", "--top", "1"))
    assert rec["best"]["stack"]["gradient_accumulation_fusion"] is False
    assert "gradient_accumulation_fusion=off" in rec["inputs"]["training_stack"]


def test_zero1_and_megatron_fsdp_keep_the_fusion(cli, tmp_path):
    """ZeRO-1 (the distributed optimizer) and Megatron-FSDP's ZeRO-3 launch with the fusion: "on", as before."""
    assert answered(cli("estimate", _job(tmp_path, zero=1), "--json"))["stack"]["gradient_accumulation_fusion"] is True
    st = stacks.resolve("megatron-core", megatron_fsdp=True)
    assert bool(st.fuses_grad_accum(3)) and st.grad_accum_fusion_label(3) == "on"
    assert stacks.resolve("megatron-core").grad_accum_fusion_label(1) == "on"


def test_asking_for_the_fusion_at_zero3_is_refused(cli, tmp_path):
    """Megatron-LM validate_args: '--use-torch-fsdp2 is not supported with gradient accumulation fusion'. Before, the
    plan was priced and launched without the fusion the job asked for; ``false`` states the fact and is taken."""
    line = refused(cli("estimate", _job(tmp_path, gradient_accumulation_fusion=True)))
    assert line.startswith("error: training.framework.gradient_accumulation_fusion: ")
    assert "ZeRO-3" in line and "--use-torch-fsdp2" in line
    answered(cli("estimate", _job(tmp_path, gradient_accumulation_fusion=False), "--json"))


def test_zero3_step_time_is_the_launch_s_either_way(cli, tmp_path):
    """(A guard.) The default ZeRO-3 plan and one that says ``false`` run the same launch: the same step time (FSDP2's add lands on
    the 1/dp shard, step_time ``grad_accum_pass`` prices ZeRO-3 at 0)."""
    a = answered(cli("estimate", _job(tmp_path), "--json"))
    b = answered(cli("estimate", _job(tmp_path, gradient_accumulation_fusion=False), "--json"))
    assert a["step_time_s"] == b["step_time_s"]


# ---- 2. YAML 1.2 booleans -----------------------------------------------------------------------------------------
BOOL_JOB = "model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, tokens: 1.0e12, %s}\n"


@pytest.mark.parametrize("text", ["yes", "no", "on", "off", "y", "'false'", '"true"', "1", "0", "'off'"])
@pytest.mark.parametrize("field", ["framework: {name: megatron-core, overlap_grad_reduce: %s}", "dropout: %s"])
def test_loose_booleans_are_refused(field, text):
    with pytest.raises(InputError) as e:
        load_job_dict(parse_yaml_text(BOOL_JOB % (field % text)))
    assert "must be true or false, got " in e.value.message and "true, True, TRUE, false" in e.value.message


@pytest.mark.parametrize("text, value", [("true", True), ("True", True), ("TRUE", True), ("false", False),
                                         ("False", False), ("FALSE", False)])
def test_yaml12_booleans_are_taken(text, value):
    """(A guard.) Every YAML 1.2 spelling still reads as the boolean it is."""
    job = load_job_dict(parse_yaml_text(BOOL_JOB % f"dropout: {text}"))
    assert job.training.dropout is value


def test_constraints_spot_quoted_false_is_refused_on_the_cli(cli, tmp_path):
    """``constraints.spot: "false"`` read as false and ``on`` as true without a word; one line now, exit 2."""
    for text in ('"false"', "on"):
        p = write_job(tmp_path, f"model: {{preset: llama3-8b}}\ntraining: {{seq_len: 8192, global_batch: 256, "
                                f"tokens: 1.0e12}}\nconstraints: {{spot: {text}}}\n")
        line = refused(cli("recommend", p, "--no-simulate"))
        assert line.startswith("error: constraints.spot: must be true or false, got "), line


def test_yaml11_words_are_text_elsewhere():
    """``on`` / ``no`` are YAML 1.2 text: a name written so is that name (it was refused as "must be text, got True")."""
    job = load_job_dict(parse_yaml_text("name: on\nlayers: 2\nhidden: 64\nheads: 4\nvocab: 128\n"))
    assert job.model.name == "on"


# ---- 3. paths in messages -----------------------------------------------------------------------------------------
def test_shown_path_escapes_control_characters_only():
    from hardware_catalog.errors import shown_path

    assert shown_path("/tmp/a b.yaml") == "/tmp/a b.yaml"
    assert shown_path("/tmp/a\nb.yaml") == "'/tmp/a\\nb.yaml'"
    assert shown_path("/tmp/x\tz\x1b.csv") == "'/tmp/x\\tz\\x1b.csv'"


def test_a_newline_in_a_path_is_shown_escaped(cli, tmp_path):
    missing = tmp_path / "no\nsuch.yaml"
    assert refused(cli("estimate", missing)).endswith(f"{str(missing)!r}: file not found (no such file or directory)")
    line = refused(cli("estimate", _job(tmp_path), "--catalog", missing))
    assert "catalog override 'no\\nsuch.yaml': file: file not found" in line
    folder = tmp_path / "new\nfolder"
    line = refused(cli("recommend", _job(tmp_path), "--csv", folder / "out.csv"))
    assert line == f"error: --csv: directory {str(folder)!r} does not exist"


# ---- 4. the mi300x rows -------------------------------------------------------------------------------------------
def test_mi300x_rows_state_the_unfused_accumulation_as_a_job_option():
    """Every row's launch turned the fusion off (Primus YAMLs, train_llama3.sh); the rows say it as the job option
    (``gradient_accumulation_fusion=False``), not the row-only field it sets, and time the same stack."""
    import pandas as pd
    import validate as V

    rows = pd.read_csv(V.MI300X_CSV)
    for text in rows["stack_options"]:
        opts = V.open_reports_options(text)
        assert opts.get("gradient_accumulation_fusion") is False and "grad_accum_pass" not in opts, text
        st = V.row_stack("megatron-core", opts)
        assert st.grad_accum_pass and "gradient_accumulation_fusion" in st.given_options
    assert "grad_accum_pass" not in V.ROW_STACK_FIELDS
