"""Instances on the same hardware are searched once (``planner.search.recommend.hardware_key``, ``_reuse``): a private
catalog of many rows sharing a few node shapes at different prices, regions and names (QA 46: 200 H100 rows, 59 s,
1.08 GB). The answer is the one every option searched on its own gives: the same table, plans, counts and notes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import write_job
from hardware_catalog import load_catalog
from planner.search import recommend as R
from planner.spec import load_job
from planner.workloads.training import recommend

#: (gpu, GPUs per node, fabric, network Gb/s): two rows share the first shape, one the second, at other prices
SHAPES = [("H100-SXM-80GB", 8, "infiniband", 3200), ("H100-SXM-80GB", 8, "roce", 800),
          ("H100-SXM-80GB", 8, "infiniband", 3200), ("A100-SXM4-80GB", 8, "infiniband", 1600),
          ("H100-SXM-80GB", 8, "infiniband", 3200), ("A100-SXM4-80GB", 8, "infiniband", 1600)]
PRICES = [(24.0, 9.0), (20.0, ""), (21.5, 8.0), (12.0, 5.0), (26.0, ""), (11.0, 6.5)]


def _catalog(tmp_path):
    p = tmp_path / "acme.csv"
    lines = ["cloud,name,gpu,gpu_count,fabric,cluster,network_gbps,price_ondemand_usd_hr,price_spot_usd_hr,region,source"]
    for i, ((gpu, n, fabric, gbps), (od, spot)) in enumerate(zip(SHAPES, PRICES)):
        lines.append(f"acme,node-{i},{gpu},{n},{fabric},true,{gbps},{od},{spot},region-{i % 3},acme quote")
    p.write_text("\n".join(lines) + "\n")
    return load_catalog([p])


JOB = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 128, precision: bf16, tokens: 1.0e11}
constraints: {clouds: [acme], max_gpus: 16SPOT}
"""


def _job(tmp_path, spot: bool, checkpoint: bool = False):
    text = JOB.replace("SPOT", ", spot: true" if spot else "")
    if checkpoint:
        text += "checkpoint: {every_steps: 200, write_gbps: 2, mtbf_hours_per_node: 500, restart_minutes: 20}\n"
    return load_job(write_job(tmp_path, text))


def _same(a, b):
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.best == b.best and a.ranked == b.ranked and a.pareto == b.pareto
    assert (a.evaluated, a.fits_memory, a.feasible) == (b.evaluated, b.fits_memory, b.feasible)
    assert (a.why, a.assumptions, a.caveats, a.notes, a.inputs) == (b.why, b.assumptions, b.caveats, b.notes, b.inputs)


@pytest.mark.parametrize("spot,checkpoint", [(False, False), (True, False), (False, True)])
def test_shared_hardware_answers_as_each_option_searched_alone(tmp_path, monkeypatch, spot, checkpoint):
    """The search with instances on the same hardware reused equals the search of every option on its own (each
    option its own key: the search before 2026-12-05), on-demand, spot (the spot model per option) and with a
    checkpoint section (its overhead per option)."""
    cat, job = _catalog(tmp_path), _job(tmp_path, spot, checkpoint)
    shared = recommend(job, cat, simulate=False)
    monkeypatch.setattr(R, "hardware_key", lambda hw: hw.name)
    alone = recommend(job, cat, simulate=False)
    _same(shared, alone)
    priced = [i for i, (_, sp) in enumerate(PRICES) if sp != "" or not spot]  # spot: the rows with a spot price
    assert set(shared.table["hardware"]) == {f"acme:node-{i}" for i in priced}


def test_each_distinct_hardware_is_searched_once(tmp_path, monkeypatch):
    """Six instance rows on three kinds of hardware: three options' layouts are evaluated, not six; the other three
    take their plans re-priced (a row at its own price, so the cheaper twin wins)."""
    cat, job = _catalog(tmp_path), _job(tmp_path, spot=False)
    searched = []
    chunk = R._search_chunk
    monkeypatch.setattr(R, "_search_chunk", lambda job, s, k, *a, **kw: (searched.append(k), chunk(job, s, k, *a, **kw)))
    res = recommend(job, cat, simulate=False)
    names = [o.name for o in R.options_for_search(job.cluster, job.constraints, "bf16", cat, None)]
    shapes = {SHAPES[int(names[k].split("-")[1])] for k in searched}
    assert len(set(searched)) == 3 and shapes == set(SHAPES)  # one option of each hardware
    # the twins at their own price: the same step times, every cost scaled by the price ratio
    t = res.table
    for a, b in ((0, 2), (3, 5)):
        x, y = t[t.hardware == f"acme:node-{a}"], t[t.hardware == f"acme:node-{b}"]
        assert len(x) == len(y) > 0 and sorted(x.step_time_s) == sorted(y.step_time_s)
        ratio = PRICES[b][0] / PRICES[a][0]
        assert np.allclose(np.sort(y.cost.to_numpy()), np.sort(x.cost.to_numpy()) * ratio, rtol=1e-12)
