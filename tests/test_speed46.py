"""speed46: a whole-catalog search asks the memory model fewer questions, each answer the one it would compute.

``memory_per_gpu`` reads three things of its GPU name (``memory.gpu_memory_key``): the parts that share them (the
CUDA parts before Blackwell) get the same answer on the same rows, so the search's memo (``SearchMemo.memory``) asks
once per key, not per part. ``smallest_uniform_group`` probes every (row, launchable group) pair in one memory call
(``UNIFORM_AT_ONCE``) where it asked once per group. Both only save calls: the answers, the groups picked and the
whole search are held bit for bit to the per-part, group-by-group search (``_per_part``)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import write_job
from hardware_catalog import load_catalog
from planner.layout import Candidates
from planner.model.memory import gpu_memory_key, memory_per_gpu
from planner.model.stacks import from_training
from planner.search import recommend as R
from planner.spec import load_job, load_job_dict
from planner.workloads.training import recommend
from test_rec44 import _count, _same_search


def _per_part(monkeypatch):
    """The search before speed46: memory answers kept per GPU name, the uniform groups probed one by one."""
    monkeypatch.setattr(R.SearchMemo, "gpu_key", lambda self, gpu: ("name", gpu))
    monkeypatch.setattr(R, "UNIFORM_AT_ONCE", -1)


def _rows(n: int, rng) -> Candidates:
    """Random dense layouts on 8-GPU nodes: every memory term (ZeRO stages, PP splits, recompute, micro-batches)."""
    tp, pp = rng.choice([1, 2, 4, 8], n), rng.choice([1, 2, 4], n)
    nodes = rng.choice([1, 2, 4], n)
    return Candidates(tp=tp, pp=pp, dp=np.maximum(nodes * 8 // (tp * pp), 1), cp=1, ep=1, vpp=1,
                      zero=rng.integers(0, 4, n), mb=rng.choice([1, 2], n), rc=rng.integers(0, 3, n), sp=tp > 1,
                      schedule=0, gpus_per_node=8, nodes=nodes)


@pytest.mark.parametrize("precision, framework", [("bf16", "megatron-core"), ("fp8", "megatron-core"),
                                                  ("bf16", "torchtitan")])
def test_parts_sharing_a_key_get_the_same_memory(precision, framework):
    """Every catalog part against the first part of its ``gpu_memory_key``: the same answer, bit for bit, on random
    rows -- FP8 weights under Megatron's ``--fp8-param-gather`` (the SM100 clause) included; and the keys tell apart
    what the model tells apart (Hopper and Blackwell FP8 weights, a TPU's withheld HBM), so the test can fail."""
    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "training": {"seq_len": 4096, "global_batch": 128, "precision": precision, "steps": 10,
                                      "framework": framework}})
    stack = from_training(job.training, model=job.model)
    c = _rows(64, np.random.default_rng(46))
    first, answers = {}, {}
    for gpu in sorted(load_catalog().gpus):
        got = memory_per_gpu(job.model, job.training, c, stack=stack, gpu=gpu)
        key = gpu_memory_key(gpu)
        if key not in first:
            first[key], answers[key] = gpu, got
            continue
        want = answers[key]
        assert got.keys() == want.keys()
        for k in want:
            assert np.asarray(got[k]).tobytes() == np.asarray(want[k]).tobytes(), (gpu, first[key], k)
    assert max(sum(1 for g in load_catalog().gpus if gpu_memory_key(g) == k) for k in first) >= 8
    assert gpu_memory_key("H100-SXM-80GB") == gpu_memory_key("A10G-24GB") != gpu_memory_key("B200-SXM-180GB")
    assert len({gpu_memory_key(g) for g in ("TPU-v5e", "TPU-v6e", "H100-SXM-80GB")}) == 3
    if precision == "fp8":  # the SM100 clause is one the model reads: Blackwell's FP8 weights are smaller
        h, b = (memory_per_gpu(job.model, job.training, c, stack=stack, gpu=g)["weights"]
                for g in ("H100-SXM-80GB", "B200-SXM-180GB"))
        assert (b < h).any()


def test_uniform_groups_at_once_as_group_by_group(monkeypatch):
    """smallest_uniform_group with every (row, group) pair in one call against the group-by-group rounds, on the
    full-recompute rows of a Llama 3.1 405B space that do not fit at every layer: the same g, memory (bit for bit) and
    fit on each row, some rows at g > 2, in fewer memory calls."""
    from planner.hardware.options import option_from_cluster
    from planner.search.evaluate import fits_memory, memory_limit
    from planner.search.space import space_chunks
    from planner.vocab import RECOMPUTE
    job = load_job_dict({"model": {"preset": "llama3.1-405b"},
                         "training": {"seq_len": 8192, "global_batch": 4096, "precision": "bf16", "steps": 10,
                                      "framework": "megatron-core", "recompute": "full"},
                         "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 16}})
    hw = option_from_cluster(job.cluster, load_catalog(), None, "bf16")
    stack, (limit, _) = from_training(job.training), memory_limit(job, hw)
    m, t = job.model, job.training
    calls = _count(monkeypatch, "memory_per_gpu")
    counted, chosen = {"rounds": 0, "at_once": 0}, 0
    for cv in space_chunks(job, hw):
        cv = cv.take(np.flatnonzero(cv.rc == RECOMPUTE.code["full"]))
        mem = memory_per_gpu(m, t, cv, stack=stack, gpu=hw.gpu.name)
        fits = fits_memory(job, hw, mem, limit)
        got = {}
        for key, at_once in (("rounds", -1), ("at_once", R.UNIFORM_AT_ONCE)):
            monkeypatch.setattr(R, "UNIFORM_AT_ONCE", at_once)
            n = len(calls)
            got[key] = R.smallest_uniform_group(job, t, cv, fits, mem, stack, hw, limit)
            counted[key] += len(calls) - n
        (a, ma, fa), (b, mb, fb) = got["rounds"], got["at_once"]
        np.testing.assert_array_equal(a.rg, b.rg)
        np.testing.assert_array_equal(fa, fb)
        assert ma.keys() == mb.keys()
        for k in ma:
            assert np.asarray(ma[k]).tobytes() == np.asarray(mb[k]).tobytes(), k
        chosen += int((a.rg > 2).sum())
    assert chosen > 0
    assert counted["at_once"] < counted["rounds"]


def _catalog(tmp_path):
    """Nodes of five parts: three CUDA parts before Blackwell (one memory key), a Blackwell part and an AMD one."""
    p = tmp_path / "acme.csv"
    lines = ["cloud,name,gpu,gpu_count,fabric,cluster,network_gbps,price_ondemand_usd_hr,region,source"]
    for i, (gpu, gbps) in enumerate((("H100-SXM-80GB", 3200), ("A100-SXM4-80GB", 1600), ("L40S-48GB", 400),
                                     ("B200-SXM-180GB", 3200), ("MI300X-192GB", 3200), ("A100-SXM4-40GB", 1600))):
        lines.append(f"acme,node-{i},{gpu},8,infiniband,true,{gbps},{10.0 + 3 * i},region-0,acme quote")
    p.write_text("\n".join(lines) + "\n")
    return load_catalog([p])


@pytest.mark.parametrize("text", [
    # a bare model (test_cli's whole-catalog job), its recompute and stack options open
    "model: {layers: 24, hidden: 2048, heads: 16, kv_heads: 4, vocab: 50304}\n",
    # a larger model at full recompute under Megatron-Core: block N and uniform groups searched on every part
    "model: {preset: llama3-70b}\ntraining: {seq_len: 8192, global_batch: 256, precision: bf16, tokens: 1.0e11, "
    "framework: megatron-core, recompute: full}\n",
])
def test_search_as_per_part_and_group_by_group(tmp_path, monkeypatch, text):
    """Whole searches over a catalog of parts that share a memory key and parts that do not: the table, plans,
    winner, counts and words equal the per-part, group-by-group search's; and the shared answers were served
    (fewer memory calls), so the comparison is not of one path with itself."""
    cat = _catalog(tmp_path)
    job = load_job(write_job(tmp_path, text + "constraints: {clouds: [acme], max_gpus: 32}\n"))
    mem = _count(monkeypatch, "memory_per_gpu")
    fast = recommend(job, cat, simulate=False)
    n_fast = len(mem)
    _per_part(monkeypatch)
    slow = recommend(job, cat, simulate=False)
    _same_search(fast, slow)
    assert n_fast < len(mem) - n_fast
