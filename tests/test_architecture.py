"""The layout a newcomer can walk (README "Architecture"): the import-linter contracts hold, and the
shells stay thin."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    r = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def _command_bodies(path: Path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "command" for d in node.decorator_list):
            yield node


def test_cli_commands_are_thin_shells():
    """Each command: load, call a workload (or a present/report function), render — no planning
    logic (no loops over plans, no arithmetic on results)."""
    for fn in _command_bodies(ROOT / "planner" / "cli.py"):
        loops = [n for n in ast.walk(fn) if isinstance(n, (ast.For, ast.While, ast.ListComp, ast.DictComp))]
        assert not loops, f"planner.cli.{fn.name} loops: planning logic belongs in a workload"
        assert fn.end_lineno - fn.lineno < 45, f"planner.cli.{fn.name} is {fn.end_lineno - fn.lineno} lines"


def test_no_module_level_import_cycles_in_planner():
    """grimp's graph of planner: no package imports a package that imports it back (what the
    layers contract also says, checked here without import-linter's config)."""
    grimp = pytest.importorskip("grimp")
    g = grimp.build_graph("planner")
    pkgs = sorted(m for m in g.modules if m.count(".") == 1)
    for a in pkgs:
        for b in pkgs:
            if a < b and g.chain_exists(a, b, as_packages=True) and g.chain_exists(b, a, as_packages=True):
                pytest.fail(f"cycle between {a} and {b}")
