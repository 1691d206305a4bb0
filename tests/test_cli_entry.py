"""How the CLI starts and what it prints around the work: ``python -m planner``, one-line errors
from the commands that show a progress bar, and the line ``calibrate`` ends with."""
from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT


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


@pytest.mark.parametrize("args,not_loaded", [
    # nor the catalog module and pydantic (imp53: ``planner.defaults`` names the catalog's default network speed from
    # ``hardware_catalog.bounds``; through ``hardware_catalog.catalog`` it cost ``--help`` ~0.1 CPU s)
    (["--help"], ("pandas", "planner.spec", "planner.model", "numpy", "hardware_catalog.catalog", "pydantic")),
    (["catalog", "gpus"], ("pandas",)),
    (["catalog", "systems"], ("pandas", "planner.spec")),
    # the table names TPU / Trainium devices "chips" (planner.hardware.platform), not through hardware.options, which
    # loaded the specs, numpy and the efficiency priors
    (["catalog", "instances"], ("pandas", "planner.spec", "planner.hardware.options", "numpy")),
    # nor hashlib (OpenSSL): only a folder's manifest hashes (planner.outputs, imp53)
    (["estimate", ROOT / "examples" / "llama3-8b-estimate.yaml"], ("pandas", "hashlib")),
])
def test_commands_import_only_what_they_use(args, not_loaded, tmp_path):
    """Start-up: a command that builds no table does not import pandas (~1 s), and ``--help`` loads none of the
    planning modules; what each run imported is read from ``sys.modules`` after it, not timed."""
    code = ("import sys, runpy\nsys.argv = ['planner'] + sys.argv[1:]\ntry:\n    runpy.run_module('planner', "
            "run_name='__main__')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('LOADED', ' '.join(sorted(sys.modules)))\n")
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=tmp_path,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    loaded = set(r.stdout.rsplit("LOADED ", 1)[1].split())
    assert len(loaded) > 50  # (the list is really there)
    for name in not_loaded:
        assert name not in loaded, f"planner {' '.join(map(str, args))} imported {name}"


def test_a_job_read_builds_no_unused_section_validator(tmp_path):
    """``Strict``'s ``defer_build`` (imp53): the job's validator (``JobSpec``'s, which holds every section's schema) is
    built on the first job read, and a section's own only where the section is validated by itself, not all 21 at
    ``planner.spec.schema``'s import; a training ``estimate`` builds none for the serving, on-prem, MoE or LoRA
    sections. Read from pydantic's ``__pydantic_complete__`` after a run in a fresh process, not timed."""
    code = ("import sys, runpy\nsys.argv = ['planner', 'estimate', sys.argv[1]]\ntry:\n    runpy.run_module('planner', "
            "run_name='__main__')\nexcept SystemExit as e:\n    assert not e.code, e.code\nfrom planner.spec import schema\n"
            "print('BUILT', ' '.join(n for n, c in vars(schema).items() if isinstance(c, type) and "
            "issubclass(c, schema.Strict) and c.__pydantic_complete__))\n")
    r = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "llama3-8b-estimate.yaml")],
                       capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    built = set(r.stdout.rsplit("BUILT ", 1)[1].split())
    assert {"JobSpec", "TrainingSpec", "ParallelSpec", "ClusterSpec"} <= built
    assert not built & {"ServingSpec", "ArrivalsSpec", "OnpremSpec", "MoESpec", "LoRASpec"}, built


def test_version_prints_the_package_version_and_exits_0(tmp_path):
    """``planner --version`` was refused as "No such option" (qa57): it prints ``planner <version>`` (the installed
    package's, pyproject's ``version``) and nothing else, exit 0; a misspelling stays a one-line usage error."""
    from planner import __version__

    r = _python_m("--version", cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, f"planner {__version__}\n", "")
    bad = _python_m("--versio", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --versio: ") and bad.stderr.count("\n") == 1
