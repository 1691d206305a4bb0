"""recommend in bounded memory (stream36): the ranking reads a few key columns of every feasible plan and keeps, as a
table, only what the outputs read (``Recommendation.kept``: the first plan of each hardware, node count and stack,
and the Pareto front); ``recommend --csv`` writes the whole ranked table a block at a time
(``RankedRows.blocks``) through a temporary file. Every view of the kept rows is the whole table's, and the CSV
is the whole table's ``to_csv``, byte for byte."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import write_job
from hardware_catalog import load_catalog
from planner import cli
from planner.errors import InputError
from planner.outputs import write_stream
from planner.present import charts
from planner.present.frame_csv import frame_csv
from planner.search import recommend as R
from planner.search.rank import COMPARE_BY, best_per, scaling_view, why
from planner.spec import load_job
from planner.workloads.training import recommend

#: (gpu, GPUs per node, fabric, network Gb/s, on-demand, spot): three node shapes, some on the same hardware
ROWS = [("H100-SXM-80GB", 8, "infiniband", 3200, 24.0, 9.0), ("H100-SXM-80GB", 8, "roce", 800, 20.0, ""),
        ("H100-SXM-80GB", 8, "infiniband", 3200, 21.5, 8.0), ("A100-SXM4-80GB", 8, "infiniband", 1600, 12.0, 5.0),
        ("A100-SXM4-80GB", 4, "ethernet", 100, 5.5, 2.5)]

JOB = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 128, precision: bf16, tokens: 1.0e11EXTRA}
constraints: {clouds: [acme], max_gpus: 16SPOT}
"""


def _catalog(tmp_path):
    p = tmp_path / "acme.csv"
    lines = ["cloud,name,gpu,gpu_count,fabric,cluster,network_gbps,price_ondemand_usd_hr,price_spot_usd_hr,region,source"]
    for i, (gpu, n, fabric, gbps, od, spot) in enumerate(ROWS):
        lines.append(f"acme,node-{i},{gpu},{n},{fabric},true,{gbps},{od},{spot},region-{i % 3},acme quote")
    p.write_text("\n".join(lines) + "\n")
    return load_catalog([p])


def _rec(tmp_path, spot=False, extra="", objective=None):
    text = JOB.replace("SPOT", ", spot: true" if spot else "").replace("EXTRA", extra)
    if objective:
        text = text.replace("max_gpus: 16", f"max_gpus: 16, objective: {objective}")
    return recommend(load_job(write_job(tmp_path, text)), _catalog(tmp_path), simulate=False)


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    d = tmp_path_factory.mktemp("s36")
    return {"cost": _rec(d), "spot": _rec(d, spot=True), "time": _rec(d, objective="time"),
            "tpd": _rec(d, objective="tokens_per_dollar")}


@pytest.mark.parametrize("name", ["cost", "spot", "time", "tpd"])
def test_kept_rows_are_the_whole_tables_rows_every_view_reads(recs, name):
    """The kept table is the whole table's rows at their ranks (same values, dtypes, columns, index), and every view
    the outputs make of it -- --by each grouping, --scaling of each hardware, the chart's points, the Pareto rows, the
    "why" -- is the one the whole table gives."""
    rec = recs[name]
    table, kept = rec.table, rec.kept
    assert len(kept) < len(table) == rec.feasible
    pd.testing.assert_frame_equal(kept, table.loc[kept.index])
    for by in COMPARE_BY:
        if by in table.columns:
            assert best_per(kept, by, rec.price_basis) == best_per(table, by, rec.price_basis)
    for hw in set(table["hardware"]):
        assert scaling_view(kept, hw) == scaling_view(table, hw)
    pd.testing.assert_frame_equal(charts.candidates_frame(kept), charts.candidates_frame(table))
    assert kept["pareto"].sum() == table["pareto"].sum()
    assert why(rec.best, list(rec.ranked), kept, rec.objective, rec.spot, feasible=rec.feasible) == \
        why(rec.best, list(rec.ranked), table, rec.objective, rec.spot) == rec.why


@pytest.mark.parametrize("name", ["cost", "spot"])
@pytest.mark.parametrize("block", [1, 7, 997, 10 ** 7])
def test_csv_block_by_block_is_the_whole_tables_csv(recs, name, block, monkeypatch):
    """``recommend --csv`` written a block of ranked rows at a time is byte for byte the whole table's CSV, at any
    block size (one row; a block that ends mid-table; the whole table in one)."""
    rec = recs[name]
    whole = frame_csv(rec.table.assign(price_basis=rec.price_basis))
    monkeypatch.setattr(R, "BLOCK_ROWS", block)
    if block < 100:  # a few rows a block over thousands of rows: the table's head is enough to say it
        rows = rec.rows
        head = frame_csv(rec.table.iloc[:0].assign(price_basis=rec.price_basis))
        lines = [frame_csv(b.assign(price_basis=rec.price_basis))[len(head):] for _, b in zip(range(6), rows.blocks())]
        assert head + "".join(lines) == frame_csv(rec.table.head(6 * block).assign(price_basis=rec.price_basis))
        return
    # QA 55b: the file has price_date before price_basis; with no catalog given no row's rate is dated (empty)
    dated = rec.table.assign(price_date=pd.array([pd.NA] * len(rec.table), dtype="string"), price_basis=rec.price_basis)
    assert "".join(cli._ranked_csv_parts(rec)) == frame_csv(dated)


def test_take_at_any_ranks_is_the_tables_rows(recs):
    """Rows taken at any ranks, in any order, are the whole table's rows there."""
    rec = recs["spot"]
    ranks = np.random.default_rng(0).choice(len(rec.rows), 300, replace=False)
    pd.testing.assert_frame_equal(rec.rows.take(ranks), rec.table.loc[ranks])


def test_kept_table_does_not_grow_with_the_feasible_plans(tmp_path):
    """The kept table holds the first plan of each (hardware, node count, stack) and the Pareto front, whatever the
    number of feasible plans: a search with more plans per (hardware, node count) -- every recompute mode open
    against full recompute fixed -- has more feasible plans and the kept table as many rows as those groups and the
    front."""
    fixed = _rec(tmp_path, extra=", recompute: full")
    open_ = _rec(tmp_path)
    assert open_.feasible > 2 * fixed.feasible
    for rec in (fixed, open_):
        groups = len(rec.kept.drop_duplicates(["hardware", "nodes"]))
        assert groups == len(rec.table.drop_duplicates(["hardware", "nodes"]))
        assert len(rec.kept) <= groups + rec.kept["pareto"].sum()
    assert len(open_.kept) < 2 * len(fixed.kept)
    # the JSON holds neither the kept rows nor the ranked rows
    assert not {"kept", "rows", "table"} & set(open_.to_json())


def test_ranked_rows_hold_no_table(recs):
    """What the result keeps of every plan is the search's batches and one rank index, never a table of them: the
    kept table's bytes do not scale with the feasible plans."""
    rec = recs["cost"]
    assert not any(isinstance(v, pd.DataFrame) for v in vars(rec.rows).values())
    assert rec.rows._ranked.dtype.itemsize == 8 and len(rec.rows._ranked) == rec.feasible
    assert rec.kept.memory_usage(deep=True).sum() * 5 < rec.table.memory_usage(deep=True).sum()


def test_csv_stream_error_leaves_nothing(tmp_path):
    """An error while the CSV's blocks are made leaves no file, no temporary file, and an existing file as it was
    (README "Limits and bad input": nothing half-written)."""
    def parts():
        yield "a,b\n"
        raise InputError("--csv", "boom")

    target = tmp_path / "plans.csv"
    with pytest.raises(InputError):
        write_stream(target, parts(), "--csv")
    assert list(tmp_path.iterdir()) == []
    target.write_text("mine\n")
    with pytest.raises(InputError):
        write_stream(target, parts(), "--csv", force=True)
    assert target.read_text() == "mine\n" and list(tmp_path.iterdir()) == [target]
    write_stream(target, iter(["x,y\n", "1,2\n"]), "--csv", force=True)
    assert target.read_text() == "x,y\n1,2\n" and list(tmp_path.iterdir()) == [target]
