"""A misspelt job key is answered with the known field it resembles (difflib over the fields of the section it is
in, read from the schema), or, where none is close, with the fields that section takes: "unknown field" alone sent
the user to the README for the right name."""
from __future__ import annotations

import pytest

from conftest import write_job

from planner.errors import InputError
from planner.spec import JobSpec
from planner.spec.load import load_job_dict
from hardware_catalog.errors import known_fields

BASE = {"model": {"preset": "llama3-8b"}}


@pytest.mark.parametrize("extra, field, words", [
    ({"serving": {"qsp": 3}}, "serving.qsp", "did you mean qps?"),
    ({"trainin": {}}, "trainin", "did you mean training?"),
    ({"training": {"global_bach": 64}}, "training.global_bach", "did you mean global_batch?"),
    ({"training": {"framework": {"name": "torchtitan", "compil": True}}}, "training.framework.compil",
     "did you mean compile?"),
    ({"cluster": {"gpu_per_node": 8}}, "cluster.gpu_per_node", "did you mean gpus_per_node?"),
])
def test_a_misspelt_field_names_the_one_it_resembles(extra, field, words):
    with pytest.raises(InputError) as e:
        load_job_dict({**BASE, **extra})
    assert e.value.field == field and e.value.message == f"unknown field: {words}"


@pytest.mark.parametrize("extra, field, meant", [
    ({"serving": {"requests_per_s": 3}}, "serving.requests_per_s", "qps"),  # difflib alone offered `requests`
    ({"training": {"seq_length": 4096}}, "training.seq_length", "seq_len"),
    ({"training": {"per_device_train_batch_size": 4}}, "training.per_device_train_batch_size", "micro_batch"),
    ({"parallel": {"tensor_model_parallel_size": 2}}, "parallel.tensor_model_parallel_size", "tp"),
    ({"parallel": {"Pipeline-Model-Parallel-Size": 2}}, "parallel.Pipeline-Model-Parallel-Size", "pp"),
])
def test_another_tools_name_for_a_field_names_the_field(extra, field, meant):
    with pytest.raises(InputError) as e:
        load_job_dict({**BASE, **extra})
    assert e.value.field == field and e.value.message == f"unknown field: did you mean {meant}?"


def test_a_synonym_is_offered_only_where_its_section_has_the_field():
    with pytest.raises(InputError) as e:
        load_job_dict({**BASE, "parallel": {"seq_length": 4096}})  # seq_len is a training field, not parallel's
    assert "did you mean" not in e.value.message and "known here: " in e.value.message


def test_a_field_like_none_lists_what_the_section_takes():
    with pytest.raises(InputError) as e:
        load_job_dict({**BASE, "parallel": {"zzz": 1}})
    listed = e.value.message.removeprefix("unknown field (known here: ").removesuffix(")").split(", ")
    assert sorted(listed) == sorted(known_fields(JobSpec, ["parallel"])) and "tp" in listed and "zero" in listed


def test_known_fields_follow_optional_sections_and_stop_at_free_form_ones():
    assert "qps" in known_fields(JobSpec, ["serving"])
    assert "compile" in known_fields(JobSpec, ["training", "framework"])
    assert known_fields(JobSpec, ["no_such_section"]) == []


def test_cli_says_it_in_one_line(cli, tmp_path):
    code, out, err = cli("estimate", write_job(tmp_path, {**BASE, "training": {"global_bach": 64}}))
    assert code == 2 and not out
    assert err.strip() == "error: training.global_bach: unknown field: did you mean global_batch?"
