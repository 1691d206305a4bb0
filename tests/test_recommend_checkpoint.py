"""recommend ranks, filters and explains on the time and cost WITH the job's checkpoint pauses and node
failures (its ``checkpoint`` section), priced on every candidate by the closed form the simulator's
failure model gives (planner/simulate/failures.py); without the section nothing changes."""
import json
import math

import numpy as np
import pytest

from planner.errors import InfeasibleError
from planner.simulate import CheckpointConfig
from planner.simulate.failures import expected_goodput, goodput_array, overhead_arrays, run_overhead
from planner.simulate.interruptions import SpotRate, spot_expectation
from planner.spec import load_job_dict
from planner.units import fmt_time
from planner.workloads.training import recommend
from conftest import answered

# Llama-3-8B on p5.48xlarge, fastest plan wanted, up to 64 nodes: without failures 64 nodes wins (11 h).
# A slow checkpoint store (1 Gb/s: a 112 GB save blocks 15 min, the same on every node count) every 300
# steps and a 20 h per-node MTBF: the job MTBF is 20 h / nodes, so at 64 nodes a failure comes every
# 19 min while a checkpoint cycle lasts 19 min too: goodput ~5%, and 16 nodes finish first.
BASE = {"model": {"preset": "llama3-8b"},
        "training": {"seq_len": 4096, "global_batch": 1024, "tokens": 2e11},
        "cluster": {"instance": "aws:p5.48xlarge"},
        "constraints": {"objective": "time", "max_gpus": 512}}
CKPT = {"every_steps": 300, "write_gbps": 1, "mtbf_hours_per_node": 20, "restart_minutes": 30}


def _job(checkpoint=None, **constraints):
    d = {k: dict(v) for k, v in BASE.items()}
    d["constraints"].update(constraints)
    if checkpoint is not None:
        d["checkpoint"] = checkpoint
    return load_job_dict(d)


@pytest.fixture(scope="module")
def plain(catalog):
    return recommend(_job(), catalog, simulate=False, top=5)


@pytest.fixture(scope="module")
def ckpt(catalog):
    return recommend(_job(CKPT), catalog, simulate=False, top=5)


def test_vector_goodput_agrees_with_the_scalar_formula():
    """``goodput_array`` (the search's) against ``expected_goodput`` (the simulator's oracle), to 1e-12,
    across cycles from 1e-6 to past the 700-MTBF cut, and with no failures (MTBF inf)."""
    rng = np.random.default_rng(0)
    tau = 10 ** rng.uniform(0, 6, 2000)
    delta = 10 ** rng.uniform(-1, 4, 2000)
    mtbf = 10 ** rng.uniform(1, 7, 2000)
    restart = rng.uniform(0, 3600, 2000)
    g = goodput_array(tau, delta, mtbf, restart)
    ref = np.array([expected_goodput(*a) for a in zip(tau, delta, mtbf, restart)])
    assert (ref == 0).any() and (ref > 0.99).any()  # both ends of the range are covered
    np.testing.assert_allclose(g, ref, rtol=1e-12, atol=0)
    assert np.array_equal(goodput_array(tau, delta, np.inf, 60.0), tau / (tau + delta))


def test_overhead_arrays_row_by_row_is_run_overhead():
    """Per-candidate arrays (node count, GPUs, step time; an asynchronous save whose snapshot depends on the
    GPU count and whose pause grows when the write outlasts the interval) equal ``run_overhead`` on each row."""
    from types import SimpleNamespace as NS

    from planner.simulate.config import FailureConfig

    nodes = np.array([1, 4, 16, 64])
    step = np.array([20.0, 5.2, 1.4, 0.41])
    hours = np.array([900.0, 240.0, 66.0, 19.0])
    ck = CheckpointConfig(every_steps=50, bytes=1.1e11, write_bw=5e9 / 8, asynchronous=True, n_gpus=nodes * 8)
    a = overhead_arrays(ck, step, hours, 3600.0 * 500 / nodes, 900.0)
    for i in range(len(nodes)):
        cfg = NS(checkpoint=CheckpointConfig(every_steps=50, bytes=1.1e11, write_bw=5e9 / 8, asynchronous=True,
                                             n_gpus=int(nodes[i]) * 8),
                 failures=FailureConfig(mtbf_node_s=3600.0 * 500, nodes=int(nodes[i]), restart_s=900.0))
        o = run_overhead(cfg, float(step[i]), float(hours[i]))
        assert o["goodput"] == a["goodput"][i] and o["expected_hours"] == a["expected_hours"][i]
        assert o["checkpoint_block_s"] == a["checkpoint_block_s"][i] == cfg.checkpoint.pause_s(50 * step[i])[0]
    assert a["checkpoint_block_s"][-1] > a["checkpoint_block_s"][0]  # 20.5 s of work < the 176 s write: it waits


def test_failures_reorder_the_top_plan(plain, ckpt):
    """Without the section 64 nodes is fastest; with it, 16 nodes, and every ranked figure (the order, the
    table's expected columns, why, the Pareto front) is the one with pauses and failures."""
    assert plain.best.hardware.nodes == 64
    assert ckpt.best.hardware.nodes == 16
    hours = [p.cost.hours_at(False) for p in ckpt.ranked]
    assert hours == sorted(hours)
    by_nodes = {p.hardware.nodes: p for p in ckpt.ranked}
    assert by_nodes[64].cost.hours < by_nodes[16].cost.hours  # uninterrupted, 64 nodes is still faster
    assert by_nodes[64].cost.hours_at(False) > 1.3 * by_nodes[16].cost.hours_at(False)
    cf = ckpt.best.cost.checkpoint_failures
    assert ckpt.best.cost.price(False) == cf["expected_cost_ondemand_usd"]
    # the table: the same columns as without the section, train_hours/cost/usd_per_token the ranked (expected)
    # figures, the uninterrupted hours and the goodput added before `pareto`
    cols = list(ckpt.table.columns)
    assert cols[:cols.index("usd_per_token") + 1] == list(plain.table.columns)[:-1]
    assert cols[-3:] == ["compute_hours", "goodput", "pareto"]
    row = ckpt.table.iloc[0]
    assert row["nodes"] == 16
    assert row["train_hours"] == pytest.approx(cf["expected_hours"], rel=1e-12)
    assert row["cost"] == pytest.approx(cf["expected_cost_ondemand_usd"], rel=1e-12)
    assert row["goodput"] == pytest.approx(cf["goodput"], rel=1e-12)
    assert row["compute_hours"] == pytest.approx(ckpt.best.cost.hours, rel=1e-12)
    assert (np.diff(ckpt.table["train_hours"].to_numpy()) >= 0).all()  # ranked on it
    assert ckpt.why.startswith(f"fastest: {fmt_time(cf['expected_hours'] * 3600)}")
    # the Pareto front is on the expected figures: nothing both faster and cheaper with failures
    t = ckpt.table
    for p in ckpt.pareto:
        assert not ((t["train_hours"] < p["train_hours"]) & (t["cost"] < p["cost"])).any()
    assert any("checkpoints and failures: ranked and filtered" in c for c in ckpt.caveats)


def test_a_deadline_met_only_without_failures_is_refused(catalog, cli, tmp_path):
    """24 h: 64 nodes takes 11 h uninterrupted, but every plan takes over 24 h with the failures."""
    assert recommend(_job(deadline_hours=24), catalog, simulate=False, top=1).best.cost.hours <= 24
    with pytest.raises(InfeasibleError) as e:
        recommend(_job(CKPT, deadline_hours=24), catalog, simulate=False, top=1)
    assert e.value.field == "constraints.deadline_hours"
    assert "with checkpoint pauses and node failures" in e.value.message and "without them" in e.value.message
    f = tmp_path / "job.json"
    d = {k: dict(v) for k, v in BASE.items()}
    d["constraints"]["deadline_hours"] = 24
    f.write_text(json.dumps({**d, "checkpoint": CKPT}))
    code, out, err = cli("recommend", f, "--no-simulate")
    assert code == 2
    lines = [x for x in (out + err).splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: constraints.deadline_hours: ") and "Traceback" not in out + err


def test_a_budget_counts_the_failures(catalog, ckpt):
    """A budget between the 16-node plan's uninterrupted and expected cost excludes it."""
    b = ckpt.best.cost
    mid = (b.cost_ondemand_usd + b.price(False)) / 2
    rec = recommend(_job(CKPT, budget_usd=mid), catalog, simulate=False, top=5)
    assert all(p.cost.price(False) <= mid for p in rec.ranked)
    assert (rec.table["cost"] <= mid).all() and not (rec.table["nodes"] == 16).all()


def test_without_the_section_nothing_changes(catalog, cli, tmp_path):
    """A checkpoint section that sets neither a cadence nor an MTBF prices nothing: the CSV and JSON are
    byte for byte those without the section, with the old columns only (the search ranks on train_hours)."""
    outs = []
    for name, extra in (("a", {}), ("b", {"checkpoint": {"write_gbps": 5}})):
        d = {k: dict(v) for k, v in BASE.items()}
        d["constraints"]["max_gpus"] = 64
        f = tmp_path / f"{name}.json"
        f.write_text(json.dumps({**d, **extra}))
        csv = tmp_path / f"{name}.csv"
        j = answered(cli("recommend", f, "--no-simulate", "--json", "--csv", csv, "--top", "3"))
        j.pop("search_seconds"), j.pop("configs_per_second")
        outs.append((csv.read_text(), json.dumps(j, sort_keys=True)))
    assert outs[0] == outs[1]
    header = outs[0][0].splitlines()[0].split(",")
    # QA 55b: price_date (the date of the rate each row's cost is at) sits before price_basis, which stays last
    assert "expected_hours" not in header and header[-6:] == ["train_hours", "cost", "usd_per_token", "pareto",
                                                              "price_date", "price_basis"]


def test_spot_plans_count_node_failures_with_the_interruptions():
    """One model: with no interruptions (rate 0) the spot expectation with a node MTBF is the on-demand
    formula; with interruptions, the two Poisson processes add (a rate-weighted restart)."""
    hours, nodes, step = np.array([100.0, 30.0]), np.array([4, 16]), np.array([3.0, 0.9])
    block, restart, every = 200.0, 1200.0, 300
    e = spot_expectation(SpotRate(0, 0, 0, 0.0, "t"), hours, nodes, step, 10.0, block, restart, every,
                         node_mtbf_s=3600.0 * 50)
    g = goodput_array(every * step, block, 3600.0 * 50 / nodes, restart)
    np.testing.assert_allclose(e["hours"], hours / g, rtol=1e-12)
    # none during a restart (failures.expected_events, qa58): the wall over the job MTBF plus the restart
    np.testing.assert_allclose(e["node_failures"], hours / g * 3600 / (3600.0 * 50 / nodes + restart), rtol=1e-12)
    lam = 0.01  # interruptions per node-hour, 30 min capacity wait each
    e2 = spot_expectation(SpotRate(lam, lam, lam, 1800.0, "t"), hours, nodes, step, 10.0, block, restart, every,
                          node_mtbf_s=3600.0 * 50)
    tot = nodes * (lam + 1 / 50)
    r_bar = (nodes * lam * (restart + 1800.0) + nodes / 50 * restart) / tot
    g2 = np.array([expected_goodput(every * s, block, 3600.0 / t, r) for s, t, r in zip(step, tot, r_bar)])
    np.testing.assert_allclose(e2["hours"], hours / g2, rtol=1e-12)
    assert (e2["hours"] > spot_expectation(SpotRate(lam, lam, lam, 1800.0, "t"), hours, nodes, step, 10.0, block,
                                           restart, every)["hours"]).all()


def test_spot_job_ranks_on_one_expectation(catalog):
    """A spot job with an MTBF: the table's expected columns are the spot expectation (which holds the node
    failures), and the plan's ranked hours and cost are the table's."""
    rec = recommend(_job(CKPT, spot=True, max_gpus=128), catalog, simulate=False, top=3)
    t = rec.table
    priced = t["cost_low"].notna()
    assert priced.any()
    assert (t.loc[priced, "train_hours"] > t.loc[priced, "compute_hours"]).all()
    b = rec.best
    assert b.cost.spot_risk["node_failures"] > 0
    assert b.cost.hours_at(True) == pytest.approx(t.iloc[0]["train_hours"], rel=1e-12)
    assert b.cost.price(True) == pytest.approx(t.iloc[0]["cost"], rel=1e-12)
    assert math.isfinite(b.cost.checkpoint_failures["expected_hours"])  # the on-demand view, still carried


def test_no_plan_finishes_under_the_failures(catalog):
    """No checkpoints and a 30-minute per-node MTBF: a failure restarts a run of hours, goodput 0 everywhere:
    the search says so naming the field (before, it ranked them on the uninterrupted time)."""
    with pytest.raises(InfeasibleError) as e:
        recommend(_job({"mtbf_hours_per_node": 0.5}, max_gpus=64), catalog, simulate=False, top=1)
    assert e.value.field == "checkpoint.mtbf_hours_per_node" and "no plan finishes" in e.value.message


def test_simulator_rerank_of_a_spot_job_uses_the_expected_hours():
    """A data-pipeline job is re-ranked by the simulator; on spot it sorted by the uninterrupted hours (without a
    checkpoint section), so at 20 interruptions per node-day the 4-node plan (8.6 h uninterrupted, 29.0 h
    expected) came first although the 2-node plan finishes sooner in expectation (12.9 h, 28.0 h): the search had
    ranked them the other way."""
    import yaml

    from conftest import ROOT

    raw = yaml.safe_load((ROOT / "examples" / "resnet50-objectstore-shards.yaml").read_text())
    raw["training"]["epochs"] = 2000
    raw["constraints"] = {"spot": True, "objective": "time", "spot_interruptions_per_node_day": 20.0}
    rec = recommend(load_job_dict(raw), top=3)
    expected = [p.cost.hours_at(True) for p in rec.ranked]
    assert rec.ranked[0].simulated is not None and expected == sorted(expected)
    assert [p.cost.hours for p in rec.ranked] != sorted(p.cost.hours for p in rec.ranked)  # the order it had before


def test_csv_and_json_figures_are_the_ranked_ones_on_one_rule(catalog, cli, tmp_path):
    """One rule for spot and non-spot jobs alike: the CSV's train_hours / cost / usd_per_token are the figures the
    plan is ranked at (before, a non-spot job with a checkpoint section had the uninterrupted ones there and the
    ranked ones in expected_* columns, while a spot job had the ranked ones); compute_hours is the uninterrupted
    time; the JSON's ranked rows and compare rows say what their figures include."""
    import pandas as pd

    d = {k: dict(v) for k, v in BASE.items()}
    d["constraints"]["max_gpus"] = 128
    f = tmp_path / "job.json"
    f.write_text(json.dumps({**d, "checkpoint": CKPT}))
    csv = tmp_path / "out.csv"
    j = answered(cli("recommend", f, "--no-simulate", "--json", "--csv", csv, "--top", "3"))
    t = pd.read_csv(csv)
    assert not any(c.startswith("expected_") for c in t.columns)
    best = j["ranked"][0]
    cf = best["cost"]["checkpoint_failures"]
    assert t.iloc[0]["train_hours"] == pytest.approx(cf["expected_hours"], rel=1e-9)
    assert t.iloc[0]["cost"] == pytest.approx(cf["expected_cost_ondemand_usd"], rel=1e-9)
    assert t.iloc[0]["usd_per_token"] == pytest.approx(cf["expected_cost_ondemand_usd"] / best["cost"]["tokens"], rel=1e-9)
    assert t.iloc[0]["compute_hours"] == pytest.approx(best["cost"]["hours"], rel=1e-9)
    r = best["cost"]["ranked"]
    assert r["hours"] == pytest.approx(cf["expected_hours"]) and r["cost_usd"] == pytest.approx(t.iloc[0]["cost"])
    assert r["includes"] == "checkpoint pauses and node failures" == j["figures_include"]
    rows = answered(cli("compare", f, "--json"))
    assert rows and all(x["figures_include"] == "checkpoint pauses and node failures" for x in rows)


def test_goodput_has_one_definition_on_a_spot_job(cli, tmp_path):
    """On a spot job the CSV's goodput was compute / expected spot hours (0.9623, with the interruptions) while the
    terminal's checkpoints line printed the checkpoint goodput (96.3%, without them): now both are the checkpoint
    pauses' and node failures' alone, and the terminal line says so."""
    import pandas as pd

    d = {k: dict(v) for k, v in BASE.items()}
    d["constraints"].update(max_gpus=64, spot=True)
    f = tmp_path / "job.json"
    f.write_text(json.dumps({**d, "checkpoint": {**CKPT, "mtbf_hours_per_node": 2000, "write_gbps": 50}}))
    csv = tmp_path / "out.csv"
    cf = answered(cli("recommend", f, "--no-simulate", "--json", "--csv", csv, "--top", "1"))["ranked"][0]["cost"][
        "checkpoint_failures"]
    t = pd.read_csv(csv)
    row = t.iloc[0]
    assert row["goodput"] == pytest.approx(cf["goodput"], rel=1e-9)
    assert row["compute_hours"] / row["train_hours"] < row["goodput"] - 1e-4  # the interruptions are not in it
    code, out, err = cli("recommend", f, "--no-simulate", "--top", "1")
    assert code == 0, err
    text = " ".join(out.split())
    assert f"goodput {cf['goodput']:.1%} (without spot interruptions)" in text


def test_an_astronomical_expected_time_counts_as_never_finishing(catalog, cli, tmp_path):
    """No checkpoints, a 50 h per-node MTBF on 2 nodes (job MTBF 25 h) and a 1,880 h run: the closed form gives a
    finite expectation of e^75 restarts, and estimate, recommend and report planned it. Beyond 1,000 x the
    uninterrupted time (goodput under failures.MIN_GOODPUT) the run never finishes in practice: estimate says so,
    recommend and report stop naming checkpoint.mtbf_hours_per_node, as for goodput 0."""
    from planner.simulate.failures import MIN_GOODPUT

    ck = CheckpointConfig(every_steps=None, bytes=1e11, write_bw=1e9, asynchronous=False, n_gpus=16)
    a = overhead_arrays(ck, np.array([14.0, 14.0]), np.array([1880.0, 1.0]), 25 * 3600.0, 1200.0)
    assert a["goodput"][0] == 0 and a["expected_hours"][0] == np.inf
    assert 0.9 < a["goodput"][1] < 1 and a["expected_hours"][1] < 1.1  # a 1 h run at a 25 h MTBF still plans
    assert goodput_array(1880 * 3600.0, 0.0, 25 * 3600.0, 1200.0) > 0  # finite before the cut ...
    assert goodput_array(1880 * 3600.0, 0.0, 25 * 3600.0, 1200.0) < MIN_GOODPUT  # ... and far under it
    f = tmp_path / "job.json"
    f.write_text(json.dumps({
        "model": {"preset": "llama3-8b"},
        "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "recompute": "selective", "tokens": 1e12},
        "parallel": {"tp": 2, "pp": 1, "zero": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2},
        "checkpoint": {"mtbf_hours_per_node": 50, "restart_minutes": 20}}))
    code, out, err = cli("estimate", f)
    assert code == 0, err
    assert "the run never finishes in practice" in " ".join(out.split())
    for cmd in (("recommend", f, "--no-simulate"), ("report", f, "--no-simulate", "-o", tmp_path / "r.md")):
        code, out, err = cli(*cmd)
        lines = [x for x in (out + err).splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1, (cmd, out + err)
        assert lines[0].startswith("error: checkpoint.mtbf_hours_per_node: no plan finishes")
    assert not (tmp_path / "r.md").exists()


def test_the_spot_overhead_column_names_what_it_holds(cli, tmp_path):
    """The spot table's "spot +time" column is compute -> expected wall time, which holds the checkpoint pauses
    (the job's cadence or the optimal one) and node failures as well as the interruptions: its header and caption
    say so."""
    d = {k: dict(v) for k, v in BASE.items()}
    d["constraints"].update(max_gpus=32, spot=True)
    f = tmp_path / "job.json"
    f.write_text(json.dumps({**d, "checkpoint": {**CKPT, "mtbf_hours_per_node": 2000, "write_gbps": 50}}))
    code, out, err = cli("recommend", f, "--no-simulate", "--top", "2")
    assert code == 0, err
    text = " ".join(out.split())
    assert "spot +time" not in out and "+time vs compute" in out
    assert ("+time vs compute: expected wall time over the uninterrupted compute time, from checkpoint pauses, spot "
            "interruptions and node failures") in text
