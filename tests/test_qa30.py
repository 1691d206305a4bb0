"""QA pass 30: the --deadline-hours bounds in the project's words, ... — each defect with the check that failed
before its fix."""
from __future__ import annotations

import json

import pytest

from conftest import flat, write_job

OFFLINE = {"model": {"preset": "llama3-8b"},
           "serving": {"mode": "batch", "requests": 1000, "output_tokens": 8, "deadline_hours": 1}}


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# ---- 1. --deadline-hours refused in pydantic's words ("Input should be greater than 0") ----------------------------
# The flag and both deadline fields now share one bound (schema.DEADLINE_HOURS_MAX) and one message (deadline_error);
# "abc" was typer's "Invalid value for '--deadline-hours': Input should be a valid number, unable to parse ...".
@pytest.mark.parametrize("value, quoted", [("0", "0.0"), ("-1", "-1.0"), ("inf", "inf"), ("nan", "nan"),
                                           ("1e300", "1e+300"), ("abc", "'abc'")])
def test_deadline_flag_is_refused_in_the_fields_words(tmp_path, cli, value, quoted):
    job = write_job(tmp_path, OFFLINE)
    code, out, err = cli("serve", job, "--no-simulate", f"--deadline-hours={value}")
    assert code == 2, out
    line = _one_error_line(err)
    assert line.startswith("error: --deadline-hours: must "), line
    assert "Input should" not in line and "Invalid value" not in line, line
    assert line.endswith(f", got {quoted}"), line
    # the job field says the same thing after its own name
    bad = dict(OFFLINE, serving=dict(OFFLINE["serving"], deadline_hours=value if value == "abc" else float(value)))
    code, out, err2 = cli("serve", write_job(tmp_path, bad, "bad.yaml"), "--no-simulate")
    field_line = _one_error_line(err2)
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
