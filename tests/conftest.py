import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

os.environ.setdefault("COLUMNS", "150")


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
