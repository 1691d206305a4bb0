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


def test_block_recompute_tells_layouts_apart_on_the_rows_that_ask_or_answer_only(catalog, monkeypatch):
    """``smallest_block_recompute`` leaves a full-recompute row alone where its layout fits without recompute; it
    told the layouts apart (``distinct_rows``) over every row of the chunk, and now over the rows that ask (full
    recompute, fitting, N free) or answer (fitting without recompute) only -- the same rows chosen. On the old code
    the key was built over all rows (that assertion fails there); the rows it bisects are held to a set of layouts
    built in Python."""
    import numpy as np

    import planner.search.recommend as R
    from planner.hardware.options import option_from_cluster
    from planner.model.memory import memory_per_gpu
    from planner.model.pipeline import chunk_layers
    from planner.model.stacks import from_training
    from planner.search.evaluate import fits_memory, memory_limit
    from planner.search.space import space_chunks
    from planner.spec import load_job_dict
    from planner.vocab import RECOMPUTE

    sizes = []
    real = R.distinct_rows

    def spy(*cols):
        sizes.append(len(cols[0]))
        return real(*cols)

    monkeypatch.setattr(R, "distinct_rows", spy)
    job = load_job_dict({"model": {"preset": "llama3-70b"},
                         "training": {"seq_len": 8192, "global_batch": 256, "precision": "bf16", "steps": 10,
                                      "framework": "megatron-core", "recompute": "full"},
                         "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 4}})
    hw = option_from_cluster(job.cluster, catalog, None, "bf16")
    stack, (limit, _) = from_training(job.training), memory_limit(job, hw)
    m, t = job.model, job.training
    keys = ("nodes", "tp", "etp", "pp", "dp", "dp_shard", "cp", "ep", "vpp", "zero", "mb", "sp", "schedule")
    bisected = 0
    for cv in space_chunks(job, hw):
        ext = R.with_block_one(cv)
        mem, mem1 = R.split_rows(memory_per_gpu(m, t, ext, stack=stack, gpu=hw.gpu.name), len(cv))
        fits = fits_memory(job, hw, mem, limit)
        sizes.clear()
        out, _ = R.smallest_block_recompute(job, t, cv, fits, mem, mem1, stack, hw, limit)
        layout = [tuple(np.broadcast_to(getattr(cv, k), (len(cv),))[i].item() for k in keys) for i in range(len(cv))]
        plain = {layout[i] for i in np.flatnonzero(fits & (cv.rc == RECOMPUTE.code["none"]))}
        moved = np.flatnonzero(out.rn != cv.rn)
        assert all(layout[i] not in plain for i in moved)
        bisected += len(moved)
        full = ((cv.rc == RECOMPUTE.code["full"]) & (cv.rn == 0) & (cv.rg == 0)
                & (chunk_layers(m.layers, cv.pp, cv.chunks) > 1))
        if sizes:  # the key over the fitting full-recompute rows and the rows fitting without recompute, no more
            assert sizes == [int(((fits & full) | (fits & (cv.rc == RECOMPUTE.code["none"]))).sum())]
            assert sizes[0] < len(cv)
    assert bisected > 0
