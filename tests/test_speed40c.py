"""speed40c: the uniform-group search's launchable groups per split, not per row, and only on the rows it screens.

``recommend.launchable_uniform_groups`` reads each distinct (pp, vpp, tp) split once and gathers its mask to the rows
(a Python loop over every row was 3.4 s of DeepSeek-V3's ``recommend``); ``smallest_uniform_group`` asks it only for
the rows its memory screen leaves.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.layout import Candidates, V_SPLIT, split_vpp
from planner.model.pipeline import pipeline_split, runtime_at, split_runtime
from planner.model.stacks import resolve
from planner.search import recommend as R
from planner.spec import load_job

ROOT = Path(__file__).resolve().parents[1]


def _rows(n, seed):
    rng = np.random.default_rng(seed)
    tp = rng.choice([1, 2, 4], n)
    pp = rng.choice([1, 2, 4, 8, 16], n)
    nodes = rng.choice([16, 32, 64], n)
    return Candidates(tp=tp, pp=pp, dp=np.maximum(nodes * 8 // (tp * pp), 1), cp=1, ep=1,
                      vpp=rng.choice([1, 2, 3, 4], n), zero=1, mb=1, rc=2, sp=tp > 1, schedule=0,
                      gpus_per_node=8, nodes=nodes)


def test_groups_per_split_equal_a_row_by_row_reading():
    """Each row's (largest chunk, launchable groups) is its own split's, read row by row with pipeline_split, on the
    Megatron-Core, DeepSpeed and torchtitan (DualPipeV's V rows among them) splits."""
    m = load_job(ROOT / "examples" / "deepseek-v3-pretrain.yaml").model
    for name in ("megatron-core", "deepspeed", "torchtitan"):
        st = resolve(name)
        c = _rows(400, 3)
        if name == "torchtitan":
            c.vpp = np.where(np.arange(len(c)) % 3 == 0, V_SPLIT, c.vpp)
        top, runs = R.launchable_uniform_groups(m, c, st)
        rt = split_runtime(st, m)
        vv = np.where(split_vpp(c) == V_SPLIT, V_SPLIT, c.chunks)
        assert runs.shape == (len(c), int(top.max()) + 1)
        for r in range(len(c)):
            v = int(vv[r]) if vv[r] == V_SPLIT else max(int(vv[r]), 1)
            cs = sorted({x for x in pipeline_split(m.layers, int(c.pp[r]), v, runtime_at(rt, int(c.tp[r])))[1]
                         if x > 0})
            assert top[r] == max(cs)
            want = [g for g in range(runs.shape[1]) if g >= 2 and all(x % g == 0 for x in cs)]
            assert np.flatnonzero(runs[r]).tolist() == want, (name, r, cs)


def test_uniform_search_reads_the_groups_of_the_screened_rows_only(monkeypatch):
    """smallest_uniform_group asks for the launchable groups of the rows that do not fit, at full recompute with
    no group yet, whose total less activations is within the limit -- not of every row of the chunk."""
    job = load_job(ROOT / "examples" / "deepseek-v3-pretrain.yaml")
    c = _rows(200, 5)
    n = len(c)
    fits = np.arange(n) % 2 == 0  # half fit: never screened
    mem = {"total": np.full(n, 90.0), "activations": np.full(n, 30.0)}
    seen = []
    real = R.launchable_uniform_groups

    def spy(m, cv, stack):
        seen.append(len(cv))
        return real(m, cv, stack)

    monkeypatch.setattr(R, "launchable_uniform_groups", spy)
    monkeypatch.setattr(R, "_memory_at", lambda *a, **k: (np.zeros(len(a[3]), dtype=bool), {}))
    R.smallest_uniform_group(job, job.training, c, fits, mem, resolve("megatron-core"), None, 70.0)
    assert seen == [int((~fits).sum())]
