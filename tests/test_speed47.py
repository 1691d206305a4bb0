"""The spot model's goodput over a search's rows at once (speed47): ``failures.expected_goodput_rows`` and the array
``young_daly_interval_s`` give every row bit for bit what the scalar formula gave it through ``np.vectorize`` (one
Python call a row and rate, ~0.2 of a spot search's ~3.4 CPU s), in the rows' order, and a spot search's table and
plans are those of the per-row path."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import write_job
from hardware_catalog import load_catalog
from planner.simulate import interruptions as I
from planner.simulate.failures import expected_goodput, expected_goodput_rows, young_daly_interval_s
from planner.spec import load_job
from planner.workloads.training import recommend


def _scalar_goodput(interval_s, block_s, mtbf_s, restart_s, persist_s=0.0):
    """The oracle: ``expected_goodput`` as it stood before speed47, one row in Python floats."""
    c = interval_s + block_s
    if (c + persist_s) / mtbf_s > 700.0:
        return 0.0
    return interval_s / (math.expm1(c / mtbf_s) * (mtbf_s + restart_s)) * math.exp(-persist_s / mtbf_s)


_per_row_goodput = np.vectorize(_scalar_goodput, otypes=[float])
_per_row_young = np.vectorize(lambda b, m: math.sqrt(2.0 * b * m), otypes=[float])


def _bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def _inputs(n: int, seed: int = 47):
    rng = np.random.default_rng(seed)
    interval = 10 ** rng.uniform(-1, 7, n)
    block = 10 ** rng.uniform(-1, 4, n)
    mtbf = 10 ** rng.uniform(1, 7, n)
    restart = rng.uniform(0, 5000, n)
    persist = np.where(rng.random(n) < 0.5, 0.0, 10 ** rng.uniform(0, 4, n))
    return interval, block, mtbf, restart, persist


def test_goodput_rows_bit_for_bit_the_scalar_formula():
    """Every row (cut rows at 700 MTBFs a cycle included, asynchronous lags, scalars broadcast) is the scalar
    formula's float, bit for bit: numpy's own expm1 / exp differ from the C library's in the last bit on ~10% / ~5%
    of arguments on this VM, so a plain numpy form (``goodput_array``) would not be."""
    args = _inputs(20_000)
    want = np.array([_scalar_goodput(*a) for a in zip(*(x.tolist() for x in args))])
    assert (want == 0.0).sum() > 100 and (want > 0.0).sum() > 10_000  # both sides of the cut are exercised
    got = expected_goodput_rows(*args)
    assert np.array_equal(_bits(got), _bits(want))
    # the rows in their order: reversed in, reversed out
    assert np.array_equal(_bits(expected_goodput_rows(*(x[::-1] for x in args))), _bits(want[::-1]))
    # scalars broadcast, and the scalar form (now through the rows) a float
    i, b, m, r, p = (x[:50] for x in args)
    assert np.array_equal(_bits(expected_goodput_rows(i, 30.0, m, 600.0)),
                          _bits([_scalar_goodput(x, 30.0, y, 600.0) for x, y in zip(i.tolist(), m.tolist())]))
    one = expected_goodput(float(i[0]), float(b[0]), float(m[0]), float(r[0]), float(p[0]))
    assert type(one) is float and one == _scalar_goodput(float(i[0]), float(b[0]), float(m[0]), float(r[0]), float(p[0]))
    assert expected_goodput(1e9, 10.0, 3600.0, 600.0) == 0.0
    assert expected_goodput_rows(np.zeros(0), 1.0, np.zeros(0), 1.0).shape == (0,)
    # Young's interval: rows as math.sqrt gave them, a float for floats
    assert np.array_equal(_bits(young_daly_interval_s(args[1], args[2])), _bits(_per_row_young(args[1], args[2])))
    assert type(young_daly_interval_s(60.0, 3600.0)) is float


@pytest.mark.parametrize("every,node_mtbf,persist", [(0, None, 0.0), (200, None, 0.0), (0, 500 * 3600.0, 0.0),
                                                     (200, 500 * 3600.0, 90.0)])
def test_spot_expectation_as_the_per_row_path(monkeypatch, every, node_mtbf, persist):
    """``spot_expectation``'s every output array (three rates, Young's interval or a cadence, node failures, an
    asynchronous lag) equals the per-row ``np.vectorize`` path's bit for bit."""
    rng = np.random.default_rng(every + int(persist))
    n = 3_000
    hours = 10 ** rng.uniform(0, 5, n)
    nodes = rng.integers(1, 512, n).astype(np.float64)
    step = 10 ** rng.uniform(-1, 2, n)
    ev = np.where(rng.random(n) < 0.3, hours * 0.05, 0.0)
    rate = I.SpotRate(0.0005, 0.002, 0.01, 1800.0, "test")
    args = (rate, hours, nodes, step, 2.5, 45.0, 600.0, every, node_mtbf, persist, ev)
    fast = I.spot_expectation(*args)
    monkeypatch.setattr(I, "expected_goodput_rows", _per_row_goodput)
    monkeypatch.setattr(I, "young_daly_interval_s", _per_row_young)
    slow = I.spot_expectation(*args)
    assert fast.keys() == slow.keys()
    for k in fast:
        assert np.array_equal(_bits(fast[k]), _bits(slow[k])), k


def test_spot_search_as_the_per_row_path(tmp_path, monkeypatch):
    """A small spot search (three spot-priced instances, two GPUs) ranks the same table and plans through the rows
    path as through the per-row one."""
    p = tmp_path / "acme.csv"
    p.write_text("cloud,name,gpu,gpu_count,fabric,cluster,network_gbps,price_ondemand_usd_hr,price_spot_usd_hr,"
                 "region,source\n"
                 "acme,node-0,H100-SXM-80GB,8,infiniband,true,3200,24.0,9.0,region-0,acme quote\n"
                 "acme,node-1,H100-SXM-80GB,8,roce,true,800,20.0,7.0,region-1,acme quote\n"
                 "acme,node-2,A100-SXM4-80GB,8,infiniband,true,1600,12.0,5.0,region-2,acme quote\n")
    cat = load_catalog([p])
    job = load_job(write_job(tmp_path, "model: {preset: llama3-8b}\n"
                                       "training: {seq_len: 4096, global_batch: 128, precision: bf16, tokens: 1.0e11}\n"
                                       "constraints: {clouds: [acme], max_gpus: 16, spot: true}\n"))
    fast = recommend(job, cat, simulate=False)
    monkeypatch.setattr(I, "expected_goodput_rows", _per_row_goodput)
    monkeypatch.setattr(I, "young_daly_interval_s", _per_row_young)
    slow = recommend(job, cat, simulate=False)
    assert len(fast.table) > 100 and "spot_overhead" in fast.table
    pd.testing.assert_frame_equal(fast.table, slow.table, check_exact=True)
    assert fast.best == slow.best and fast.ranked == slow.ranked and fast.pareto == slow.pareto
