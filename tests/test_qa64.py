"""QA 64: a hostile user end to end. Each test fails on the code before it.

* A YAML integer longer than Python reads (``int()`` of over ``sys.get_int_max_str_digits()`` = 4,300 decimal digits
  raises ValueError since CPython 3.11) in a job, a YAML catalog override or a JSON one (read by the YAML loader) was
  "internal error (ValueError): Exceeds the limit (4300 digits)", exit 1; now one line naming the file and line (and a
  JSON file's, a Hugging Face config's or a profile's, the same words where it read "not valid JSON (... use
  sys.set_int_max_str_digits() ...)").
* ``python -m calibration.gbdt --check`` of a missing file, a folder or a profile without a coefficient ended in a
  traceback; now ``error: --check: ...``, exit 2.
* numpy's OpenBLAS runs the planner's small matrices on one thread (``planner._numpy_on_one_blas_thread``): the
  serving screen at ``max_batch: 1`` took 49 s of CPU (145 s wall on 2 loaded cores) in threads that spun.
"""
from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, invoke_main, invoke_script

BIG = "9" * 5000  # past CPython's 4,300-digit limit on int() of a decimal string
JOB = ROOT / "examples" / "llama3-8b-estimate.yaml"


def _one_line(code, err):
    assert code == 2, err[-2000:]
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err and "internal error" not in err, err[-2000:]
    return line


def test_job_integer_past_pythons_limit_is_refused_at_its_line(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(JOB.read_text().replace("global_batch: 256", f"global_batch: {BIG}"))
    line = _one_line(*invoke_main("estimate", job)[::2])
    n = next(i for i, t in enumerate(job.read_text().splitlines(), 1) if t.lstrip().startswith("global_batch"))
    assert line.startswith(f"error: job: {job}: line {n}: too large: a whole number of 5,000 digits"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.yaml"]


@pytest.mark.parametrize("name,text", [
    ("big.yaml", f"instances:\n  - {{cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: {BIG}}}\n"),
    ("big.json", json.dumps({"instances": [{"cloud": "aws", "name": "p5.48xlarge", "price_ondemand_usd_hr": 1}]})
     .replace(": 1}", f": {BIG}}}")),
], ids=["yaml", "json"])
def test_catalog_override_integer_past_pythons_limit_is_refused(tmp_path, name, text):
    over = tmp_path / name
    over.write_text(text)
    line = _one_line(*invoke_main("estimate", JOB, "--catalog", over)[::2])
    assert line.startswith(f"error: catalog override {name}:") and ("line 1:" in line or "line 2:" in line), line
    assert "too large: a whole number of 5,000 digits" in line, line


@pytest.mark.parametrize("how", ["job", "hf_config", "profile"])
def test_json_integer_past_pythons_limit_is_refused_as_too_large(tmp_path, how):
    """A Hugging Face config.json or a profile (strict JSON, ``parse_json``) is refused in the same words, not as
    "not valid JSON (... use sys.set_int_max_str_digits() ...)"."""
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model_type": "llama", "hidden_size": ' + BIG + ', "vocab_size": 32000}')
    if how == "hf_config":
        job = tmp_path / "job.yaml"
        job.write_text("model: {hf_config: config.json}\ntraining: {tokens: 1.0e+9}\n")
        args = ("estimate", job)
    else:
        args = ("estimate", cfg) if how == "job" else ("estimate", JOB, "--profile", cfg)
    line = _one_line(*invoke_main(*args)[::2])
    assert f"{cfg}: too large: a whole number of 5,000 digits (Python reads at most" in line, line
    assert "set_int_max_str_digits" not in line


def test_a_long_integer_within_the_limit_still_reaches_its_field(tmp_path):
    """The refusal is for what ``int()`` will not read; a 4,000-digit number is read and refused by its field's bound."""
    job = tmp_path / "job.yaml"
    job.write_text(JOB.read_text().replace("global_batch: 256", "global_batch: " + "9" * 4000))
    line = _one_line(*invoke_main("estimate", job)[::2])
    assert line.startswith("error: training.global_batch: must be at most"), line


def _gbdt_check(path):
    """``python -m calibration.gbdt --check <path>`` in this process (``conftest.invoke_script``; a fresh interpreter
    a case until suite56): (exit code, stderr)."""
    return invoke_script("-m", "calibration.gbdt", "--check", path)[::2]


@pytest.mark.parametrize("what", ["missing", "folder", "not json", "no coefficient", "negative"])
def test_gbdt_check_refuses_a_bad_profile_in_one_line(tmp_path, what):
    prof = json.loads((ROOT / "planner" / "hardware" / "profiles" / "gbdt-cpu.json").read_text())
    path = tmp_path / "p.json"
    if what == "folder":
        path = tmp_path
    elif what == "not json":
        path.write_text("a: 1\n")
    elif what == "no coefficient":
        del prof["b_s_per_row"]
        path.write_text(json.dumps(prof))
    elif what == "negative":
        prof["c_s_per_tree"] = -1.0
        path.write_text(json.dumps(prof))
    line = _one_line(*_gbdt_check(path))
    assert line.startswith("error: --check: "), line
    if what in ("no coefficient", "negative"):
        assert ("b_s_per_row" if what == "no coefficient" else "c_s_per_tree: must be a number >= 0") in line, line


def test_gbdt_check_reads_the_shipped_profile():
    from calibration.gbdt import read_profile
    from planner.model.gbdt import COEFFICIENTS
    from planner.workloads.tabular import PROFILE_PATH

    prof = read_profile(PROFILE_PATH)
    assert all(prof[k] >= 0 for k in COEFFICIENTS)


_PROBE = """
import os, ctypes, sys
import planner, numpy
lib = [l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower() and '/' in l]
get = None
for name in ('scipy_openblas_get_num_threads64_', 'openblas_get_num_threads64_', 'openblas_get_num_threads'):
    get = get or (getattr(ctypes.CDLL(lib[0]), name, None) if lib else None)
print(get() if get else -1, os.environ.get('OPENBLAS_NUM_THREADS'))
"""


def _blas_threads(env_count=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("OPENBLAS_NUM_THREADS", None)
    if env_count is not None:
        env["OPENBLAS_NUM_THREADS"] = env_count
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, timeout=60, check=True)
    threads, left = out.stdout.split()
    return int(threads), left


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS runs one thread on one core whatever is set")
def test_numpy_linear_algebra_runs_on_one_blas_thread():
    threads, left = _blas_threads()
    if threads == -1:
        pytest.skip("numpy is not linked to OpenBLAS here")
    assert threads == 1
    assert left == "None"  # put back: processes the planner starts see the user's environment
    assert _blas_threads("2") == (2, "2")  # a count the user set is kept



@pytest.mark.parametrize("cmd,flag", [("recommend", "--csv"), ("report", "-o"), ("simulate", "--timeline")])
def test_an_output_path_ending_in_a_slash_names_a_folder(tmp_path, cmd, flag):
    """``Path("out/")`` is ``out``: ``--csv out/`` wrote a file named ``out`` where the user named a folder."""
    job = tmp_path / "job.yaml"
    job.write_text(JOB.read_text())
    extra = ("--no-simulate",) if cmd != "simulate" else ("--steps", "2")
    line = _one_line(*invoke_main(cmd, job, *extra, flag, f"{tmp_path}/out/")[::2])
    assert line == f"error: {flag if flag != '-o' else '--out'}: {tmp_path}/out/ names a folder (it ends in /) and there is none; give a file name", line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.yaml"]


def test_a_file_given_with_a_trailing_slash_is_not_replaced(tmp_path):
    job, mine = tmp_path / "job.yaml", tmp_path / "mine.csv"
    job.write_text(JOB.read_text())
    mine.write_text("keep")
    line = _one_line(*invoke_main("recommend", job, "--no-simulate", "--csv", f"{mine}/", "--force")[::2])
    assert line.startswith(f"error: --csv: {mine}: ") and "not a directory" in line, line
    assert mine.read_text() == "keep"


def test_a_cut_message_keeps_its_reason():
    """An error's message is held to ``MESSAGE_CHARS``; the cut is in its middle, so a long path keeps the reason after
    it (``--out`` of a 300-character name read "error: --out: /tmp/rrr…" and nothing else)."""
    from hardware_catalog.errors import MESSAGE_CHARS
    from planner.errors import InputError

    e = InputError("--out", "/tmp/" + "r" * 400 + ".md: name too long")
    assert len(e.message) == MESSAGE_CHARS and e.message.startswith("/tmp/rrr") and "…" in e.message
    assert e.message.endswith(".md: name too long")


def test_a_long_output_name_is_refused_with_its_reason(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(JOB.read_text())
    line = _one_line(*invoke_main("recommend", job, "--no-simulate", "--csv", tmp_path / ("r" * 300 + ".csv"))[::2])
    assert line.startswith("error: --csv: ") and line.endswith(".csv: name too long"), line


def test_a_chart_folder_list_nested_past_the_parsers_depth_is_no_list(tmp_path):
    """``report --force`` reads the chart folder's list (``outputs.FOLDER_MANIFEST``) to remove its own old charts; a
    list of 200,000 nested "[" (under its 1 MiB cap) raised RecursionError: "internal error", exit 1."""
    from planner import outputs

    (tmp_path / outputs.FOLDER_MANIFEST).write_text("[" * 200_000)
    assert outputs._listed(tmp_path) == {}
