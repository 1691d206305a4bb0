"""rec44: the search asks ``memory_per_gpu`` each question once and builds each layout space once
(``planner.search.recommend.SearchMemo``): options on the same GPU ask the memory model the same questions on the same
chunks (it reads no network, host or price), and options with the same GPUs per node and grid (``space.space_key``)
have the same chunks. Both only save work: a search with them answers as the search that computes every call afresh
(the one before rec44), table, plans and counts, on seeded random jobs over options that share GPUs and spaces."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import write_job
from hardware_catalog import load_catalog
from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.model.stacks import from_training
from planner.search import recommend as R
from planner.search import space as S
from planner.spec import load_job
from planner.workloads.training import recommend

#: (gpu, GPUs per node, fabric, network Gb/s): the H100 rows share a GPU (one memory model) but not their hardware
#: (no ``_reuse``), the A100 row sits between them (its own answers until speed46, the H100's since: one
#: ``memory.gpu_memory_key``), the 4-GPU H100 row has another space
SHAPES = [("H100-SXM-80GB", 8, "infiniband", 3200), ("A100-SXM4-80GB", 8, "infiniband", 1600),
          ("H100-SXM-80GB", 8, "roce", 800), ("H100-SXM-80GB", 4, "infiniband", 1600)]


def _catalog(tmp_path):
    p = tmp_path / "acme.csv"
    lines = ["cloud,name,gpu,gpu_count,fabric,cluster,network_gbps,price_ondemand_usd_hr,region,source"]
    for i, (gpu, n, fabric, gbps) in enumerate(SHAPES):
        lines.append(f"acme,node-{i},{gpu},{n},{fabric},true,{gbps},{10.0 + 3 * i},region-0,acme quote")
    p.write_text("\n".join(lines) + "\n")
    return load_catalog([p])


def _random_job(tmp_path, seed: int):
    """A small dense job drawn from ``seed``: model, sequence, batch, ZeRO and recompute open or fixed."""
    rng = np.random.default_rng(seed)
    model = rng.choice(["llama3-8b", "qwen2.5-1.5b", "qwen2.5-7b"])
    seq, batch = int(rng.choice([2048, 4096, 8192])), int(rng.choice([64, 128, 256]))
    zero = "" if rng.random() < 0.5 else f"parallel: {{zero: {int(rng.integers(0, 4))}}}\n"
    rc = "" if rng.random() < 0.5 else f", recompute: {rng.choice(['none', 'selective', 'full'])}"
    text = (f"model: {{preset: {model}}}\n"
            f"training: {{seq_len: {seq}, global_batch: {batch}, precision: bf16, tokens: 1.0e11{rc}}}\n"
            f"{zero}constraints: {{clouds: [acme], max_gpus: {int(rng.choice([16, 32]))}}}\n")
    return load_job(write_job(tmp_path, text))


def _same_search(kept, fresh):
    """Two ``recommend`` results alike in every field a user or a script reads: the table, the ranked plans, the
    Pareto front, the counts and the words."""
    pd.testing.assert_frame_equal(kept.table, fresh.table)
    assert kept.best == fresh.best and kept.ranked == fresh.ranked and kept.pareto == fresh.pareto
    assert (kept.evaluated, kept.fits_memory, kept.feasible) == (fresh.evaluated, fresh.fits_memory, fresh.feasible)
    assert (kept.why, kept.assumptions, kept.caveats, kept.notes) == (fresh.why, fresh.assumptions, fresh.caveats,
                                                                      fresh.notes)


def _afresh(monkeypatch):
    """Every memory call computed and every space built afresh (the search before rec44)."""
    monkeypatch.setattr(R.SearchMemo, "memory", lambda self, model, training, c, stack, gpu: R.memory_per_gpu(
        model, training, c, stack=stack, gpu=gpu, memo=self))
    monkeypatch.setattr(R.SearchMemo, "chunks", lambda self, job, hw: list(enumerate(R.space_chunks(job, hw))))


def _count(monkeypatch, name: str, module=R) -> list:
    calls, fn = [], getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: (calls.append(1), fn(*a, **k))[1])
    return calls


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_answers_as_every_call_computed_afresh(tmp_path, monkeypatch, seed):
    """Seeded random jobs: the table (every row, in order), the plans, the winner, the counts and the notes of the
    search with its memory answers and spaces kept equal those of the search computing each afresh; and the kept
    ones served (fewer memory calls, one space per ``space_key``), so the comparison is not of one path with itself."""
    cat, job = _catalog(tmp_path), _random_job(tmp_path, seed)
    mem, built = _count(monkeypatch, "memory_per_gpu"), _count(monkeypatch, "space_chunks")
    kept = recommend(job, cat, simulate=False)
    n_mem, n_built = len(mem), len(built)
    _afresh(monkeypatch)
    fresh = recommend(job, cat, simulate=False)
    _same_search(kept, fresh)
    assert n_mem < len(mem) - n_mem  # the second H100 option's questions were answered before
    assert n_built == 2 and len(built) - n_built == 4  # two spaces (8- and 4-GPU nodes) for four options


def _rows(n: int, **kw) -> Candidates:
    base = dict(tp=np.full(n, 2), pp=np.full(n, 2), dp=np.full(n, 4), cp=1, ep=1, vpp=1, zero=np.arange(n) % 4,
                mb=1, rc=2, sp=True, schedule=0, gpus_per_node=8, nodes=2)
    return Candidates(**{**base, **kw})


def test_an_answer_is_served_only_for_the_same_rows(tmp_path, monkeypatch):
    """An answer is given again for equal columns (other objects), as read-only arrays in a new dict; a column of
    another value or dtype, or a GPU of another memory key (speed46: ``memory.gpu_memory_key``; the A100 shares the
    H100's, the B200 does not), is computed afresh, and ``forget`` drops a GPU key's answers."""
    job = load_job(write_job(tmp_path, "model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 128, "
                                       "precision: bf16, steps: 10}\n"))
    stack = from_training(job.training, model=job.model)
    calls = _count(monkeypatch, "memory_per_gpu")
    memo = R.SearchMemo()
    first = memo.memory(job.model, job.training, _rows(8), stack, "H100-SXM-80GB")
    again = memo.memory(job.model, job.training, _rows(8), stack, "H100-SXM-80GB")
    assert len(calls) == 1 and again is not first and all(again[k] is first[k] for k in first)
    with pytest.raises(ValueError):
        again["total"][0] = 0.0  # read-only: no caller reaches the next one's answer
    memo.memory(job.model, job.training, _rows(8, mb=2), stack, "H100-SXM-80GB")
    memo.memory(job.model, job.training, _rows(8, tp=np.full(8, 2, dtype=np.int32)), stack, "H100-SXM-80GB")
    memo.memory(job.model, job.training, _rows(8), stack, "A100-SXM-80GB")
    assert len(calls) == 3
    memo.memory(job.model, job.training, _rows(8), stack, "B200-SXM-180GB")
    assert len(calls) == 4
    memo.forget("H100-SXM-80GB")
    memo.memory(job.model, job.training, _rows(8), stack, "A100-SXM-80GB")
    memo.memory(job.model, job.training, _rows(8), stack, "H100-SXM-80GB")
    memo.memory(job.model, job.training, _rows(8), stack, "B200-SXM-180GB")
    assert len(calls) == 5
    fresh = memory_per_gpu(job.model, job.training, _rows(8), stack=stack, gpu="H100-SXM-80GB")
    for k, v in fresh.items():
        assert np.array_equal(np.asarray(v), np.asarray(first[k]))


def test_space_key_holds_what_the_chunks_read(tmp_path):
    """Options with one ``space_key`` have equal chunks (the 8-GPU H100 and A100 rows), another key other chunks."""
    cat = _catalog(tmp_path)
    job = _random_job(tmp_path, 0)
    opts = R.options_for_search(job.cluster, job.constraints, "bf16", cat, None)
    by = {o.name: o for o in opts}
    a, b, c = (by[f"acme:node-{i}"] for i in (0, 1, 3))
    assert S.space_key(job, a) == S.space_key(job, b) != S.space_key(job, c)
    for x, y in zip(S.space_chunks(job, a), S.space_chunks(job, b)):
        for f in ("tp", "pp", "dp", "cp", "ep", "vpp", "zero", "mb", "rc", "sp", "schedule", "gpus_per_node", "nodes",
                  "etp", "dp_shard", "rn", "rg"):
            assert np.array_equal(getattr(x, f), getattr(y, f)) and getattr(x, f).dtype == getattr(y, f).dtype
