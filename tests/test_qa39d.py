"""QA 39d: the script entry points answer a bad option as the CLI does -- one line ``error: <field>: <message>``,
exit 2 -- through one parser, ``planner.present.script_args.ScriptArgs`` (argparse printed its usage block and
``prog: error: argument --device: invalid choice: ...``)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import invoke_script, one_error_line

ROOT = Path(__file__).resolve().parents[1]

# (the command, its bad arguments, the one line expected)
SCRIPTS = [
    (["-m", "calibration"], ["--device", "gpux"], "error: --device: must be one of auto, cuda, cpu, got 'gpux'"),
    (["-m", "calibration"], ["--bogus"], "error: --bogus: no such option"),
    (["-m", "calibration"], ["-o"], "error: --out: requires a value"),
    (["-m", "calibration.loop"], ["--device", "gpux"], "error: --device: must be one of auto, cuda, cpu, got 'gpux'"),
    (["-m", "calibration.loop"], ["--quick", "--json"], "error: --json: requires a value"),
    (["-m", "calibration.gbdt"], ["--bogus", "x"], "error: --bogus: no such option"),
    (["-m", "calibration.gbdt"], ["--check"], "error: --check: requires a value"),
    (["-m", "calibration.collectives"], ["--device", "tpu"], "error: --device: must be one of auto, cuda, cpu, got 'tpu'"),
    (["benchmarks/validate.py"], ["--bogus"], "error: --bogus: no such option"),
    (["benchmarks/validate.py"], ["--csv"], "error: --csv: requires a value"),
]


def _run(args):
    """``python <args>`` in a fresh interpreter, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _usage_error(args) -> str:
    """``python <args>`` run in this process (``conftest.invoke_script``: a script's parse is what is checked, not
    the interpreter, which ``test_a_script_usage_error_exits_2_from_its_own_process`` starts): exit 2, nothing on
    stdout, the one error line returned."""
    code, out, err = invoke_script(*args)
    assert code == 2, out + err
    assert out == ""
    return one_error_line(err)


@pytest.mark.parametrize("cmd,bad,expected", SCRIPTS, ids=[" ".join(c + b) for c, b, _ in SCRIPTS])
def test_script_usage_error_is_one_line(cmd, bad, expected):
    assert _usage_error(cmd + bad) == expected


@pytest.mark.parametrize("args", [SCRIPTS[0][0] + SCRIPTS[0][1], ["benchmarks/validate.py", "--csv"]])
def test_a_script_usage_error_exits_2_from_its_own_process(args):
    """A module and a file script through a fresh interpreter: the exit status, stdout and the one line are the
    process's own, and ``invoke_script`` (the other cases) answers exactly as the process does."""
    r = _run(args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    assert invoke_script(*args) == (r.returncode, r.stdout, r.stderr)


def test_script_help_still_prints():
    r = _run(["-m", "calibration.loop", "-h"])
    assert r.returncode == 0 and r.stdout.startswith("usage: python -m calibration.loop"), r.stderr


@pytest.mark.parametrize("message,expected", [
    # Python 3.12.8+ prints the choices bare; 3.11 quotes them: the same line either way
    ("argument --device: invalid choice: 'x' (choose from auto, cuda, cpu)", "error: --device: must be one of auto, cuda, cpu, got 'x'"),
    ("argument --device: invalid choice: 'x' (choose from 'auto', 'cuda', 'cpu')", "error: --device: must be one of auto, cuda, cpu, got 'x'"),
    ("the following arguments are required: -o/--out, --x", "error: --out: missing"),
    ("unrecognized arguments: --a\x1b]0;t\x07 b", "error: --a\\x1b]0;t\\x07: no such option"),
    ("argument --n: invalid int value: 'q'", "error: --n: invalid int value: 'q'"),
    ("something new\nand more", "error: arguments: something new and more"),
])
def test_usage_line_wording(message, expected):
    from planner.present.script_args import usage_line

    assert usage_line(message) == expected


# ---- the benchmarks the README tells users to run ------------------------------------------------------------------
def _readme_scripts() -> list[Path]:
    import re

    names = sorted(set(re.findall(r"benchmarks/\w+\.py", (ROOT / "README.md").read_text())))
    return [ROOT / n for n in names if (ROOT / n).exists()]


def test_readme_benchmarks_parse_through_script_args():
    """A README-named benchmark with options parses them with ScriptArgs, not argparse's own parser (whose usage
    block and ``prog: error:`` line are not the bad-input form)."""
    plain = [p.name for p in _readme_scripts() if "argparse.ArgumentParser(" in p.read_text()]
    assert plain == [], plain
    # and every benchmark, named in the README or not (serving_sim_speed.py and weak_scaling.py kept argparse's own
    # parser until session 33)
    plain = [p.name for p in sorted((ROOT / "benchmarks").glob("*.py")) if "argparse.ArgumentParser(" in p.read_text()]
    assert plain == [], plain


@pytest.mark.parametrize("script", ["dataloader_real.py", "mfu_envelope.py", "validate_memory.py", "validate_serving.py"])
def test_readme_benchmark_bad_option_is_one_line(script):
    assert _usage_error([f"benchmarks/{script}", "--bogus-opt"]) == "error: --bogus-opt: no such option"
