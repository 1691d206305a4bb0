"""QA pass 39: a user's pass over serve, simulate, report, calibrate, catalog and the app -- each defect with the check
that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import one_error_line


# ---- 1. "-" as an output path was written as a file named "-" -----------------------------------------------------
# `calibrate -o -` measured for a minute and "wrote -" into the working directory (so would `recommend --csv -`):
# the Unix convention reads "-" as standard output, and no output option writes there
def test_a_dash_output_path_is_refused_not_written_as_a_file(tmp_path, monkeypatch):
    from planner.errors import InputError
    from planner.outputs import output_target

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as e:
        output_target("-", "--csv")
    assert "standard output" in str(e.value)
    assert output_target("./-", "--csv").name == "-"  # the file named "-" is still reachable
    assert list(tmp_path.iterdir()) == []


def test_calibrate_dash_out_is_refused_before_measuring(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("calibrate", "-o", "-", "--device", "cpu", "--quick")
    assert code == 2, out
    assert one_error_line(err).startswith("error: --out: - (standard output) is not taken"), err
    assert list(tmp_path.iterdir()) == []
