"""How the CLI starts and what it prints around the work: ``python -m planner``, one-line errors
from the commands that show a progress bar, and the line ``calibrate`` ends with."""
from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT


def _python_m(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "planner", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize("command", ["simulate", "recommend", "compare"])
def test_python_m_planner_and_errors_under_a_progress_bar_are_one_line(command, tmp_path):
    """``python -m planner`` had no ``__main__``; and recommend/simulate/compare, which run under a
    progress bar, wrote a blank line to a piped stderr before ``error: ...`` (rich's Live)."""
    r = _python_m(command, tmp_path / "missing.yaml", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: job: "), repr(r.stderr)
    assert r.stderr.count("\n") == 1 and r.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_calibrate_says_what_it_wrote_without_a_gemm_fit(cli, tmp_path, monkeypatch):
    """A profile without a GEMM fit printed an empty line instead of 'wrote <path>: <device>' (the
    conditional expression took the whole message, not only its gemm_max part)."""
    bench = pytest.importorskip("calibration.bench")
    prof = SimpleNamespace(fingerprint=SimpleNamespace(device_name="test-device", catalog_gpu=None),
                           fitted=SimpleNamespace(gemm_max=None))
    monkeypatch.setattr(bench, "run_calibration", lambda **kw: prof)
    out = tmp_path / "p.json"
    code, so, se = cli("calibrate", "-o", out)
    assert code == 0, se
    assert f"wrote {out}: test-device" in " ".join(so.split())
    prof.fitted.gemm_max = 0.71
    code, so, se = cli("calibrate", "-o", out)
    assert "; the largest GEMMs reach 71% of the peak it records (gemm_max 0.71)" in " ".join(so.split())
