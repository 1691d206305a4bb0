"""perf50: the CLI's allocator policy (planner.alloc) stops numpy's transparent-huge-page advice on its large arrays.

One ``step_time`` call on 10^6 rows writes ~45 result columns of 8 MB into heap the process has not touched yet; under
numpy's ``madvise(MADV_HUGEPAGE)`` each 2 MiB page of it was found and zeroed at its first touch, which took most of
the call on the README's VM (bench_search.py's one-call line; README "Speed"). The policy changes where memory comes
from, never a number (tests/test_step_time_golden*.py hold the numbers).
"""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

# numpy's advice as the process starts (its own default where the variable is unset), then after the policy
PROBE = """
import numpy._core.multiarray as m
before = m._set_madvise_hugepage(True)
from planner.alloc import keep_freed_memory
keep_freed_memory()
print(before, m._set_madvise_hugepage(True))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="numpy advises huge pages on Linux only")
def test_keep_freed_memory_stops_numpys_huge_page_advice():
    """In a fresh process (the setting is process-wide): numpy advises huge pages by default on this kernel, and no
    longer once ``keep_freed_memory`` ran (as ``planner.cli.main`` and bench_search.py run it)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    if out[0] != "True":
        pytest.skip("numpy does not advise huge pages on this kernel (before 4.6)")
    assert out == ["True", "False"]
