import contextlib
import io
import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# no hypothesis example may fail for its wall time (its default 200 ms deadline is a timing assert, and the
# suite runs on busy machines and beside other workers); each test's example count is set where it is written
settings.register_profile("planner", deadline=None)
settings.load_profile("planner")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

os.environ.setdefault("COLUMNS", "150")


def write_job(tmp_path, job: dict, name: str = "job.yaml") -> Path:
    """A job dict written as YAML under ``tmp_path`` (the QA passes' by-hand jobs)."""
    import yaml

    p = tmp_path / name
    p.write_text(yaml.safe_dump(job))
    return p


def one_error_line(err: str) -> str:
    """The CLI's stderr as the bad-input contract has it: one line ``error: <field>: <message>`` (returned)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def flat(text: str) -> str:
    """CLI output with its line wrapping undone, for phrases a narrow terminal splits."""
    return " ".join(text.split())


@pytest.fixture(scope="session")
def catalog():
    from hardware_catalog import load_catalog

    return load_catalog()


@pytest.fixture
def cli():
    """Run the CLI in-process; returns (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from planner.cli import app

    runner = CliRunner()

    def run(*args):
        r = runner.invoke(app, [str(a) for a in args])
        return r.exit_code, r.stdout, r.stderr

    return run


@pytest.fixture
def main_cli(monkeypatch):
    """Run the console entry point ``planner.cli.main`` in-process, as ``planner <args>`` does: usage errors
    take main's one-line path, which the ``cli`` fixture (the app without main) bypasses. Returns (exit_code,
    stdout, stderr). A fresh interpreter per call cost about 2 CPU-seconds of imports; the tests about the
    process itself (``python -m planner``, the console script, resource limits) still start one."""
    from planner import cli as planner_cli

    def run(*args, cwd=None):
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with monkeypatch.context() as m:
            m.setattr(sys, "argv", ["planner", *map(str, args)])
            if cwd is not None:
                m.chdir(cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    planner_cli.main()
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        return code, out.getvalue(), err.getvalue()

    return run
