"""The extraction scripts of benchmarks/data/parts/scripts/ rebuild their committed CSVs byte for byte.

Every script is run on a temporary copy of benchmarks/data (the scripts write next to themselves, and peak_memory.py
relative to the working directory, so the copy keeps the repository layout and the repository is never written); the
copy must then equal the committed files. The builders that share a CSV (attention_kernels.csv, gemm_efficiency.csv,
fp8_gemm.csv) each replace only their own block in place, so they are run a second time in the reverse order.
xla_tables.py needs two headers of the tensorflow==2.21.0 wheel, which are not in the repository: it must say so
in one line and exit 2."""
import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
SCRIPTS = DATA / "parts" / "scripts"
NOT_BUILDERS = {"parts_csv", "together_reruns"}  # the shared writer and the Together re-runs: no CSV of their own
NEEDS_RAW = {"xla_tables"}  # its inputs come from a wheel outside the repository
SHARED = ["attention", "primus_turbo", "gemm", "fp8", "matmul_ceilings"]  # builders of one block of a shared CSV


def builders():
    return sorted(p.stem for p in SCRIPTS.glob("*.py") if p.stem not in NOT_BUILDERS | NEEDS_RAW)


def run(root: Path, name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"benchmarks/data/parts/scripts/{name}.py", *args], cwd=root,
                          capture_output=True, text=True, timeout=120)


def differing(a: Path, b: Path) -> list:
    """Paths (relative to ``a``) that differ between the trees or exist in one only; __pycache__ ignored."""
    out = []
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    stack = [(cmp, Path())]
    while stack:
        c, rel = stack.pop()
        out += [str(rel / n) for n in c.left_only + c.right_only + c.funny_files]
        # a shallow compare would trust equal size and mtime; compare the bytes
        out += [str(rel / n) for n in c.common_files if (Path(c.left) / n).read_bytes() != (Path(c.right) / n).read_bytes()]
        stack += [(sub, rel / n) for n, sub in c.subdirs.items()]
    return sorted(out)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(DATA, root / "benchmarks" / "data", ignore=shutil.ignore_patterns("__pycache__"))
    failed = {}
    for name in builders() + SHARED[::-1]:
        r = run(root, name)
        if r.returncode:
            failed[name] = r.stderr.strip().splitlines()[-1:]
    return root, failed


def test_every_builder_runs_on_a_clean_copy(rebuilt):
    assert rebuilt[1] == {}


def test_rebuilt_data_equals_the_committed_files(rebuilt):
    assert differing(DATA, rebuilt[0] / "benchmarks" / "data") == []


def test_script_without_its_raw_input_says_what_it_needs(tmp_path):
    shutil.copytree(SCRIPTS, tmp_path / "benchmarks" / "data" / "parts" / "scripts")
    r = run(tmp_path, "xla_tables")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")
    assert "tensorflow==2.21.0" in r.stderr
