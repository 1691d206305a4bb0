"""cleanup54: a benchmark piped into ``head`` ends quietly (``script_args.closed_pipe_quiet``; until cleanup54 every
benchmark that prints printed a ``BrokenPipeError`` traceback)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _through_closed_pipe(args):
    """``args`` run with stdout a pipe whose reader has already gone (``| head`` after its line): what it wrote to
    stderr and its exit status."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, *args], cwd=ROOT, stdout=w, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    finally:
        os.close(w)
    return p.stderr, p.returncode


def test_a_benchmark_through_a_closed_pipe_ends_quietly():
    """Fails on the code before cleanup54: ``BrokenPipeError: [Errno 32] Broken pipe`` and its traceback."""
    err, rc = _through_closed_pipe(["benchmarks/gbdt_fixed_cost.py"])
    assert (err, rc) == ("", 1)


@pytest.mark.parametrize("body", [
    "print('x' * 200_000)",  # the pipe refuses a write inside the block (more than a buffer of output)
    "print('row'); sys.exit(0)",  # the last buffered line meets it at the flush before the exit status is kept
], ids=["mid-output", "at-exit"])
def test_closed_pipe_quiet_both_ways(body):
    code = ("import sys\nfrom planner.present.script_args import closed_pipe_quiet\n"
            f"with closed_pipe_quiet():\n    {body}\n")
    assert _through_closed_pipe(["-c", code]) == ("", 1)


def test_every_benchmark_entry_runs_under_closed_pipe_quiet():
    """Each ``benchmarks/*.py`` with a ``__main__`` entry runs it inside ``closed_pipe_quiet`` (checked in the text, as
    tests/test_qa39d.py checks ``ScriptArgs``: running all 47 would take minutes). Fails on the old code (none did)."""
    missing = []
    for p in sorted((ROOT / "benchmarks").glob("*.py")):
        text = p.read_text()
        if '__name__ == "__main__"' not in text:
            continue  # a module the scripts import (parts_data.py, sim_admissions.py)
        entry = text.split('if __name__ == "__main__":', 1)[1]
        if not re.search(r"^    with closed_pipe_quiet\(\):$", entry, re.M):
            missing.append(p.name)
    assert missing == []
