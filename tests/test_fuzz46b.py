"""Fuzz 46's left-alones, fixed at the root, and the environment the CLI reads, fuzzed end to end (fuzz46b).

* One rule for what a number looks like, in every CSV a user gives (``hardware_catalog.files.number_cell``: YAML
  1.2's numbers, as a job's fields read them since fuzz45): a serving trace's cells were read by Python's ``int`` /
  ``float`` (``1_0`` was 10, ``١٢`` 12), a catalog override's number cells by pydantic's lax mode (``4_0`` $/h was 40,
  and ``5_5.04`` "restated" 55.04), a launch-fabric row's ``devices`` by ``str.isdigit`` and ``int`` (``١٢`` was 12
  devices), a SkyPilot catalog's prices by ``float``, an override's ``price_date`` year by ``isdigit`` (``٢٠٢٦``).
* A JSON file's refusal ended in json's bare "Invalid control character at": it names the line and column and says
  what is wrong in words (``files.json_reason``).
* The environment the CLI reads (no fuzzer had set it): ``COLUMNS=0`` printed nothing at all, an ``--json`` plan and
  an error line alike; ``COLUMNS=abc`` / ``1e3`` / empty was a traceback at import; ``COLUMNS=1`` an internal error
  (rich's table layout); ``FORCE_COLOR=1`` (set by CI for coloured logs) made ``--json`` piped to a script ANSI codes
  around every key. ``planner.present.safe.columns`` reads COLUMNS; JSON is coloured only on a real terminal.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import ROOT  # noqa: E402
from test_fuzz46 import SERVE, _refusal  # noqa: E402
from test_fuzz_cli import ERROR_LINE, fuzz_settings, run_cli  # noqa: E402

from hardware_catalog.files import NUMBER_CELL_WORDS  # noqa: E402

PYTHON_ONLY = ["1_0", "\u0661\u0662", "\uff11\uff12", "12\u00a0"]  # read by int() / float(), no number to YAML 1.2


# ---------------------------------------------------------------------------- a trace's cells
def _serve(tmp_path, rows: str):
    job, trace = tmp_path / "job.yaml", tmp_path / "t.csv"
    job.write_text(yaml.safe_dump(SERVE))
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n" + rows, encoding="utf-8")
    return run_cli("serve", job, "--json", "--top", "1", "--no-simulate", "--trace", trace)


@pytest.mark.parametrize("cell", PYTHON_ONLY)
def test_a_trace_cell_only_python_reads_as_a_number_is_refused(tmp_path, cell):
    """``1_0`` was 10 tokens, ``١٢`` 12, ``12`` and a no-break space 12: refused as a job's field refuses them."""
    line = _refusal(*_serve(tmp_path, f"0,{cell},5\n1,10,5\n"))
    assert line == f"error: --trace: line 2: prompt_tokens {NUMBER_CELL_WORDS}, got {cell!r}", line


def test_a_trace_reads_its_cells_as_yaml_numbers():
    """The forms a job's integer field takes (``256.0``, ``1e4``, ``0x100``) are token counts in a trace too (they
    were refused by ``int``); a CSV's spaces around a cell are YAML's white space, read as before."""
    import tempfile

    from planner.simulate.serving import load_trace

    p = os.path.join(tempfile.mkdtemp(), "t.csv")
    with open(p, "w") as f:
        f.write("arrival_s,prompt_tokens,output_tokens\n0, 7 ,7.0\n1e0,1e3,0x10\n.5,20,5\n")
    wl = load_trace(p)
    assert wl.arrival_s.tolist() == [0.0, 0.5, 1.0] and wl.prompt.tolist() == [7, 20, 1000]
    assert wl.output.tolist() == [7, 5, 16]


def test_a_fractional_token_count_is_refused_by_name(tmp_path):
    line = _refusal(*_serve(tmp_path, "0,7.5,5\n1,10,5\n"))
    assert line == "error: --trace: line 2: prompt_tokens must be a whole number of tokens, got 7.5", line


# ---------------------------------------------------------------------------- the catalog's CSV readers
@pytest.mark.parametrize("cell", PYTHON_ONLY + ["5_5.04"])
def test_a_catalog_override_cell_only_python_reads_is_refused(tmp_path, cell):
    """``4_0`` $/h was 40 (pydantic's lax float); ``5_5.04`` was "restated, nothing changed" (``_same_cell``)."""
    p = tmp_path / "o.csv"
    p.write_text(f"cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,{cell}\n", encoding="utf-8")
    line = _refusal(*run_cli("catalog", "instances", "--cloud", "aws", "--catalog", p, "--csv"))
    assert line == (f"error: catalog override o.csv: instances[0].price_ondemand_usd_hr: {NUMBER_CELL_WORDS}, "
                    f"got {cell!r}"), line


def test_an_override_number_is_read_as_yaml_reads_it(tmp_path):
    """``0x28`` is 40 to YAML 1.2 (a YAML override's cell read it so); a CSV's cell is the same number now."""
    p = tmp_path / "o.csv"
    p.write_text("cloud,name,price_ondemand_usd_hr\naws,p5.48xlarge,0x28\n")
    code, out, err = run_cli("catalog", "instances", "--cloud", "aws", "--catalog", p, "--json")
    assert code == 0, err
    assert next(r for r in json.loads(out) if r["key"] == "aws:p5.48xlarge")["price_ondemand_usd_hr"] == 40


@pytest.mark.parametrize("devices", ["\u0661\u0662", "\uff18", "8\u00a0"])
def test_a_launch_fabric_device_count_in_other_digits_is_refused(devices):
    from hardware_catalog.fabric import FabricRowError, parse_row

    row = {"cloud": "aws", "instance": "p5.48xlarge", "transport": "efa", "devices": devices, "source": "s",
           "read": "2026-12-06"}
    assert parse_row(dict(row, devices="32")).devices == 32
    with pytest.raises(FabricRowError):
        parse_row(row)


def test_a_price_date_in_other_digits_is_no_date():
    from hardware_catalog.catalog import _quoted_period

    assert _quoted_period("2026") is not None
    assert _quoted_period("\u0662\u0660\u0662\u0666") is None and _quoted_period("\u0662\u0660\u0662\u0666-11") is None


@pytest.mark.parametrize("cell", PYTHON_ONLY)
def test_a_skypilot_price_only_python_reads_is_refused(cell):
    from hardware_catalog.skypilot import _number

    class Refused(Exception):
        pass

    assert _number("3.5", "row 2", "Price", Refused) == 3.5
    with pytest.raises(Refused):
        _number(cell, "row 2", "Price", Refused)


# ---------------------------------------------------------------------------- a JSON file's refusal
@pytest.mark.parametrize("text, said", [
    ('{"device_name": "H100\tSXM"}', "line 1, column 22: a control character inside a string"),
    ('{"a": 1,\n "b": }', "line 2, column 7: a value expected here"),
    ('{"a": "x', "line 1, column 7: a string opened here is never closed"),
    ('{"a": 1} x', "line 1, column 10: more text after the JSON value ends"),
])
def test_an_invalid_profile_names_the_line_column_and_reason(tmp_path, text, said):
    """The refusal ended "(line 1: Invalid control character at)": json's message, whose position it leaves out."""
    p = tmp_path / "p.json"
    p.write_text(text)
    line = _refusal(*run_cli("estimate", ROOT / "examples" / "llama3-8b-estimate.yaml", "--profile", p))
    assert f"p.json is not valid JSON ({said}" in line and " at)" not in line, line


# ---------------------------------------------------------------------------- the environment
def _planner(env_extra: dict, *args, cwd=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "PLANNER_DEBUG")}
    env.update(env_extra, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "planner", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env, cwd=cwd)


@pytest.mark.parametrize("columns", ["0", "abc", "1e3", ""])
def test_an_odd_columns_still_prints_the_error_line(tmp_path, columns):
    """COLUMNS=0 printed nothing (exit 2, empty stderr); abc / 1e3 / empty were a traceback at import."""
    r = _planner({"COLUMNS": columns}, "estimate", tmp_path / "nope.yaml")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert ERROR_LINE.match(r.stderr.strip()) and "file not found" in r.stderr, r.stderr


def test_a_one_column_width_lays_out_the_plan(tmp_path):
    """COLUMNS=1: "internal error (AssertionError): Sum of ratios must be > 0" from rich's table layout; the width is
    held at ``MIN_COLUMNS``."""
    r = _planner({"COLUMNS": "1"}, "estimate", ROOT / "examples" / "llama3-8b-estimate.yaml", cwd=tmp_path)
    assert r.returncode == 0 and "internal error" not in r.stderr, r.stderr[-2000:]


def test_forced_colour_leaves_piped_json_json(tmp_path):
    """FORCE_COLOR=1 (CI's coloured logs): ``--json`` piped was ANSI codes around every key, no JSON to a script."""
    r = _planner({"FORCE_COLOR": "1"}, "estimate", ROOT / "examples" / "llama3-8b-estimate.yaml", "--json",
                 cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["model"] == "llama3-8b", r.stdout[:200]


def test_columns_reads_the_width_or_none():
    from planner.present.safe import MIN_COLUMNS, columns

    assert [columns({"COLUMNS": v}) for v in ("80", "0", "1", "\u0668\u0660", "8_0")] == [80, None, MIN_COLUMNS,
                                                                                          None, None]


ENV = st.fixed_dictionaries({}, optional={
    "COLUMNS": st.sampled_from(["0", "1", "2", "19", "80", "-1", "abc", "", " 80 ", "1e3", "0x50", "\u0668\u0660",
                                "99999999999", "9" * 5000]),
    "LINES": st.sampled_from(["0", "1", "-1", "abc", "", "10"]),
    "FORCE_COLOR": st.sampled_from(["1", "", "0", "true"]),
    "NO_COLOR": st.sampled_from(["1", ""]),
    "TTY_COMPATIBLE": st.sampled_from(["1", "0"]),
    "TERM": st.sampled_from(["dumb", "xterm-256color", ""]),
})


@fuzz_settings(12)
@given(env=ENV, cmd=st.sampled_from(["json", "json", "error", "text"]))
def test_fuzz_the_environment(tmp_path_factory, env, cmd):
    """Any of the variables the CLI (and rich under it) reads: ``--json`` is strict JSON on stdout, an error is one
    line on stderr, text is printed; never a traceback or an empty output."""
    d = tmp_path_factory.mktemp("env")
    args = {"json": ("catalog", "gpus", "--json"), "error": ("estimate", d / "nope.yaml"),
            "text": ("presets",)}[cmd]
    r = _planner(env, *args, cwd=d)
    assert "Traceback" not in r.stdout + r.stderr, r.stderr[-2000:]
    if cmd == "error":
        assert r.returncode == 2 and ERROR_LINE.match(r.stderr.strip()), (r.returncode, r.stderr)
        return
    assert r.returncode == 0, r.stderr[-2000:]
    if cmd == "json":
        assert isinstance(json.loads(r.stdout), list)
    else:
        assert "llama3-8b" in r.stdout
    assert sorted(p.name for p in d.iterdir()) == []
