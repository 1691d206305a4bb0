"""Plans a budget review can sign: cluster fabrics, memory headroom, spot risk, on-prem TCO and
commitments, horizon, comparisons and scaling views, named constraint errors, torchtitan PP launch."""
import json
import math
import shlex
from dataclasses import replace

import numpy as np
import pytest

from planner import defaults as D
from planner.errors import InfeasibleError, InputError
from planner.hardware.options import option_from_instance, options_for_search
from planner.search.rank import best_per, scaling_view
from planner.search.space import space_for
from planner.simulate.failures import expected_goodput
from planner.simulate.interruptions import SpotRate, rate_for, spot_expectation
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job, recommend
from conftest import answered, invoke_app, planned_once

BUDGET_13B = {"model": {"preset": "llama2-13b"},
              "training": {"seq_len": 4096, "global_batch": 1024, "tokens": 1e12},
              "constraints": {"budget_usd": 2e6}}


def _job(**over):
    d = {k: dict(v) for k, v in BUDGET_13B.items()}
    for k, v in over.items():
        d.setdefault(k, {}).update(v)
    return load_job_dict(d)


@pytest.fixture(scope="module")
def budget_rec(catalog):
    return recommend(_job(), catalog, simulate=False, top=10)


# ---------------------------------------------------------------------------- 1. networks
def test_instances_without_cluster_fabric_are_single_node(catalog):
    pod = option_from_instance(catalog.instance("runpod:2x_A100-80GB_SECURE"))
    assert not pod.multi_node and any("single node only" in n for n in pod.notes)
    job = _job(constraints={"instances": ["runpod:2x_A100-80GB_SECURE"]})
    assert set(space_for(job, pod).nodes.tolist()) == {1}
    p5 = option_from_instance(catalog.instance("aws:p5.48xlarge"))
    assert p5.multi_node and max(space_for(job, p5).nodes.tolist()) > 1


def test_fixed_nodes_on_single_node_instance_is_named(catalog):
    job = load_job_dict({"model": {"preset": "llama2-13b"}, "training": {"tokens": 1e12, "micro_batch": 1},
                         "cluster": {"instance": "runpod:2x_A100-80GB_SECURE", "nodes": 8}})
    with pytest.raises(InputError) as e:
        estimate_job(job, catalog)
    assert e.value.field == "cluster.nodes" and "nodes=8" in e.value.message


def test_budget_only_13b_has_no_cluster_of_small_vms_without_fabric(budget_rec, catalog):
    for p in budget_rec.ranked:
        inst = catalog.instance(p.hardware.name) if ":" in p.hardware.name else None
        if inst is not None and not inst.cluster:
            assert p.hardware.nodes == 1, p.hardware.name
        if inst is not None and inst.gpu_count <= 2:
            assert p.hardware.nodes == 1


def test_assumed_network_is_printed_as_a_caveat_for_multi_node(catalog):
    # a bare-GPU cluster states no network: a multi-node plan on it must say what it assumed and from where
    # (H100: its reference fabric, the best-networked clustered H100 instance; MI300X: no instance row, its
    # reference system's, Azure ND MI300X v5; MI325X: neither, so the default for an unknown fabric)
    for gpu, expect in (("H100", "400 Gb/s per GPU (3200 Gb/s per 8-GPU node)"),
                        ("MI300X", "400 Gb/s per GPU (3200 Gb/s per 8-GPU node), its reference system"),
                        ("MI325X", f"{D.DEFAULT_NETWORK_GBPS:g} Gb/s per node")):
        job = load_job_dict({"model": {"preset": "llama2-13b"}, "training": {"tokens": 1e11},
                             "cluster": {"gpu": gpu, "price_usd_hr": 30.0, "nodes": 4}})
        rec = recommend(job, catalog, simulate=False, top=3)
        assert any(expect in c for c in rec.caveats), (gpu, rec.caveats)


# ---------------------------------------------------------------------------- 4. memory headroom
def test_winner_keeps_the_stated_headroom(budget_rec):
    m = budget_rec.best.memory_per_gpu_bytes
    assert m.headroom == D.MEMORY_HEADROOM
    assert m.limit == pytest.approx(m.capacity * (1 - D.MEMORY_HEADROOM))
    assert m.total <= m.limit and m.margin == pytest.approx(m.capacity - m.total)
    for p in budget_rec.ranked:
        assert p.memory_per_gpu_bytes.total <= p.memory_per_gpu_bytes.limit
    assert any("memory_headroom" in a for a in budget_rec.assumptions)


def test_a_larger_headroom_is_respected(catalog):
    rec = recommend(_job(constraints={"memory_headroom": 0.4, "gpus": ["H100"]}), catalog, simulate=False, top=5)
    for p in rec.ranked:
        m = p.memory_per_gpu_bytes
        assert m.headroom == 0.4 and m.total <= 0.6 * m.capacity


def test_headroom_out_of_range_is_an_input_error():
    with pytest.raises(InputError) as e:
        _job(constraints={"memory_headroom": 1.5})
    assert "memory_headroom" in e.value.field


# ---------------------------------------------------------------------------- 5. horizon, views, errors
def test_budget_only_search_is_capped_at_the_horizon(budget_rec):
    assert all(p.cost.hours <= D.HORIZON_HOURS for p in budget_rec.ranked)
    assert any("no deadline given" in a for a in budget_rec.assumptions)


def test_compare_by_gpu_and_cloud_and_scaling(budget_rec):
    by_gpu = best_per(budget_rec.table, "gpu")
    assert len({r["gpu"] for r in by_gpu}) == len(by_gpu) >= 3
    assert by_gpu[0]["hardware"] == budget_rec.best.hardware.name
    by_cloud = best_per(budget_rec.table, "cloud")
    assert len({r["cloud"] for r in by_cloud}) == len(by_cloud)
    with pytest.raises(InputError):
        best_per(budget_rec.table, "colour")
    # scaling on a multi-node instance re-optimises the layout per node count
    sc = scaling_view(budget_rec.table, "gcp:a4-highgpu-8g")
    nodes = [r["nodes"] for r in sc]
    assert nodes == sorted(set(nodes)) and len(nodes) >= 3
    layouts = {(r["zero"], r["micro_batch"], r["pp"], r["recompute"]) for r in sc}
    assert len(layouts) > 1  # not frozen


SMALL = {"model": {"preset": "llama3-8b"}, "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1e10}}


@pytest.mark.parametrize("extra, basis", [
    ({"constraints": {"clouds": ["aws"], "gpus": ["H100"]}}, "on-demand"),
    ({"constraints": {"clouds": ["aws"], "gpus": ["H100"], "spot": True}}, "spot"),
    ({"cluster": {"gpu": "H100", "price_usd_hr": 31.0}}, "cluster.price_usd_hr"),
])
def test_comparison_rows_say_what_price_their_cost_is(catalog, extra, basis):
    """``compare --json`` rows gave a ``cost`` without saying at which price: on-demand, spot or the
    job's own rate. Each row (and the recommendation) now carries ``price_basis``, and the cost is that
    rate x nodes x hours (no spot model here: the sticker spot rate)."""
    rec = recommend(load_job_dict({**SMALL, **extra}), catalog, simulate=False, top=3)
    assert rec.price_basis == basis and rec.to_json()["price_basis"] == basis
    for rows in (best_per(rec.table, "hardware", rec.price_basis), scaling_view(rec.table, rec.best.hardware.name, rec.price_basis)):
        assert rows and all(r["price_basis"] == basis for r in rows)
        for r in rows:
            if basis == "cluster.price_usd_hr":
                rate = 31.0
            else:
                inst = catalog.instance(r["hardware"])
                rate = inst.price_spot if basis == "spot" else inst.price_ondemand
            assert r["cost"] == pytest.approx(rate * r["nodes"] * r["days"] * 24, rel=1e-9)


@pytest.fixture(scope="module")
def budget_yaml(tmp_path_factory):
    """The budget example searched on one cloud: the CLI tests check what the commands print, which the
    whole catalog (a search ~3x longer) does not change; GCP holds GPUs and TPUs, as the full search does."""
    path = tmp_path_factory.mktemp("budget") / "llama2-13b-budget-gcp.yaml"
    path.write_text(open("examples/llama2-13b-budget.yaml").read() + "  clouds: [gcp]\n")
    return path


#: the CLI runs on ``budget_yaml`` the tests below read, by name: ``compare`` and ``recommend --no-simulate`` (top 10)
#: ask the one search (the same job, top 10, not simulated)
BUDGET_RUNS = {"compare json": ("compare", "--by", "gpu", "--json"), "compare": ("compare", "--by", "gpu"),
               "table": ("recommend", "--no-simulate"),
               "views": ("recommend", "--no-simulate", "--scaling", "--by", "cloud")}


@pytest.fixture(scope="module")
def budget_runs(budget_yaml):
    """(exit code, stdout, stderr) of each ``BUDGET_RUNS`` command on ``budget_yaml``: one search made once
    (``conftest.planned_once``), each command printing it with its own presenter. Until suite51 each was a search of
    its own (~1.8 CPU s each; the recommend table at --top 3, the views at --top 2: what they check does not depend
    on the rows shown)."""
    from planner.workloads import training

    with planned_once(training, "recommend") as made:
        runs = {k: invoke_app(cmd, budget_yaml, *flags) for k, (cmd, *flags) in BUDGET_RUNS.items()}
    assert len(made) == 1
    return runs


def test_cli_compare_json_rows_carry_the_price_basis(budget_runs):
    rows = answered(budget_runs["compare json"])
    assert rows and {r["price_basis"] for r in rows} == {"on-demand"}


@pytest.mark.parametrize("constraints, field, words", [
    ({"gpus": ["Gaudi3"], "clouds": ["runpod"]}, "constraints.gpus", "Gaudi3"),
    ({"gpus": ["H100"], "clouds": ["runpod"]}, "constraints.gpus", "not offered on 'runpod'"),
    ({"clouds": ["coreweave"]}, "constraints.clouds", "coreweave"),
    ({"gpus": ["NoSuchGPU"]}, "constraints.gpus", "NoSuchGPU"),
])
def test_constraint_values_that_match_nothing_are_named(catalog, constraints, field, words):
    job = load_job_dict({"model": {"preset": "llama2-13b"}, "training": {"tokens": 1e12}, "constraints": constraints})
    with pytest.raises(InputError) as e:
        options_for_search(job.cluster, job.constraints, "bf16", catalog)
    assert e.value.field == field and words in e.value.message


def test_recommend_table_has_one_unit_per_column(budget_runs):
    code, out, err = budget_runs["table"]
    assert code == 0, err
    head = next(line for line in out.splitlines() if "┃" in line and "hardware" in line)  # the header, not the title
    assert "step s" in head and "days" in head and "free" in head
    assert "moves the ranking:" in out


def test_cli_compare_and_scaling(cli, budget_runs):
    code, out, err = budget_runs["compare"]
    # the example's search holds GPUs and TPUs: the accelerator column and --by gpu's title say "accelerator" (left3)
    assert code == 0 and "best plan per accelerator" in out, err
    code, out, err = budget_runs["views"]
    assert code == 0 and "scaling on" in out and "best plan per cloud" in out, err
    code, out, err = cli("recommend", "examples/llama2-13b-budget.yaml", "--by", "colour")
    assert code == 2 and "--by" in err


# ---------------------------------------------------------------------------- 2. spot
def test_spot_expectation_matches_the_goodput_model():
    rate = SpotRate(0.01, 0.01, 0.01, 600.0, "test")
    e = spot_expectation(rate, hours=np.array([100.0]), nodes=np.array([8]), step_s=np.array([2.0]), price=10.0,
                         block_s=60.0, restart_s=600.0, every_steps=500)
    mtbf = 3600 / (0.01 * 8)
    g = expected_goodput(1000.0, 60.0, mtbf, 1200.0)
    assert e["hours"][0] == pytest.approx(100 / g)
    assert e["cost"][0] == pytest.approx(100 / g * 8 * 10)
    assert e["overhead"][0] > 0


def test_spot_rate_from_table_or_user():
    r = rate_for("aws", "H100-SXM-80GB")
    assert 0 < r.low < r.mid < r.high and "interruptions.csv aws" in r.source
    assert rate_for("aws", "T4-16GB").high < r.high  # the specific row wins over the cloud's '*'
    assert rate_for("nocloud", "H100").source.startswith("interruptions.csv */*")
    u = rate_for("aws", "H100", per_node_day=2.0)
    assert u.mid == pytest.approx(2 / 24) and "spot_interruptions_per_node_day" in u.source


def test_spot_plans_show_and_rank_on_interruption_overhead(catalog):
    # one GPU type on one cloud: the interruption model and the ranking on it are per plan (all of AWS: ~10x the time)
    job = _job(constraints={"spot": True, "clouds": ["aws"], "gpus": ["H100"], "spot_interruptions_per_node_day": 1.0})
    rec = recommend(job, catalog, simulate=False, top=5)
    risk = rec.best.cost.spot_risk
    assert risk and risk["overhead"] > 0 and risk["expected_cost_usd"] > rec.best.cost.cost_spot_usd
    assert risk["cost_low_usd"] <= risk["expected_cost_usd"] <= risk["cost_high_usd"]
    assert rec.best.cost.price(True) == risk["expected_cost_usd"]
    # ranked on expected cost: a higher user rate can only raise every plan's expected cost
    calm = recommend(_job(constraints={"spot": True, "clouds": ["aws"], "gpus": ["H100"],
                                       "spot_interruptions_per_node_day": 0.01}),
                     catalog, simulate=False, top=5)
    assert calm.best.cost.spot_risk["expected_cost_usd"] < risk["expected_cost_usd"]
    assert any(c.startswith("spot:") for c in rec.caveats)
    # the capacity wait is billed on every node: the cost is nodes x expected wall hours x spot price, an upper
    # bound the plan says beside it (the node taken back is not billed; an orchestrator may release them all)
    hw = rec.best.hardware
    assert risk["expected_cost_usd"] == pytest.approx(risk["expected_hours"] * hw.nodes * hw.price_spot_usd_hr)
    assert "all nodes billed while it waits" in risk["capacity"] and "upper bound" in risk["capacity"]
    from planner.present.terminal import spot_causes
    assert "every node billed through it" in spot_causes(risk)
    # $ per million tokens at the price the plan is ranked at: the expected spot cost with interruptions,
    # not the on-demand sticker nor the spot sticker (the search table's usd_per_token, the cost column)
    cost = rec.best.cost
    assert cost.usd_per_million_tokens == pytest.approx(risk["expected_cost_usd"] / cost.tokens * 1e6)
    assert cost.usd_per_million_tokens > cost.cost_spot_usd / cost.tokens * 1e6
    assert cost.usd_per_million_tokens < cost.cost_ondemand_usd / cost.tokens * 1e6
    row = rec.table.iloc[0]
    assert row["usd_per_token"] * 1e6 == pytest.approx(cost.usd_per_million_tokens)


def test_cost_time_chart_rings_the_spot_plan_at_its_point(catalog):
    """The cost-vs-time chart plots the search table (expected spot cost and time); the ring of the
    recommended plan sat at its sticker spot price and uninterrupted time, off its own point."""
    from planner.present import charts

    rec = recommend(_job(training={"tokens": 1e11}, constraints={"spot": True, "clouds": ["aws"], "gpus": ["H100"]}),
                    catalog, simulate=False, top=2)
    spec = charts.cost_time_chart(rec.table, rec.best, True).to_dict()
    ring = [v for v in spec["datasets"].values() if len(v) == 1 and v[0].get("label") == "recommended"][0][0]
    assert ring["cost"] == pytest.approx(rec.table.iloc[0]["cost"])
    # at the table row's own point (the chart's time axis in the tables' unit since QA 87)
    own = [p for d in spec["datasets"].values() for p in d if p.get("pareto") is not None
           and p["hardware"] == ring["hardware"] and p["nodes"] == ring["nodes"]]
    assert own and ring["time"] == pytest.approx(own[0]["time"])
    assert own[0]["train_hours"] == pytest.approx(rec.table.iloc[0]["train_hours"])
    assert ring["cost"] == pytest.approx(rec.best.cost.spot_risk["expected_cost_usd"])


def test_campaign_trains_at_the_spot_plans_expected_time_and_cost(catalog):
    """A spot job's campaign: each experiment's training is the plan's expected time and cost with
    interruptions, from estimate and recommend alike (estimate took the on-demand cost, recommend the
    expected cost with the uninterrupted hours)."""
    from planner.workloads import Context, plan

    job = load_job_dict({**{k: dict(v) for k, v in BUDGET_13B.items()},
                         # every layer recomputed in both (recompute: full alone lets recommend pick a block N)
                         "training": {**BUDGET_13B["training"], "tokens": 1e10, "micro_batch": 1, "recompute": "full",
                                      "recompute_method": "uniform", "recompute_num_layers": 1},
                         "parallel": {"tp": 2, "pp": 1, "zero": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 4},
                         "constraints": {"spot": True},
                         "campaign": {"experiments_per_week": 5, "weeks": 2,
                                      "preprocess": {"hours": 6, "usd_per_hour": 3.0}}})
    ctx = Context(catalog=catalog, simulate=False, top=1)
    est, rec = plan("estimate", job, ctx), plan("recommend", job, ctx)
    risk = est.result.cost.spot_risk
    for camp in (est.campaign, rec.campaign):
        assert camp.train_hours == pytest.approx(risk["expected_hours"])
        assert camp.train_usd == pytest.approx(risk["expected_cost_usd"])


def test_price_per_million_tokens_keeps_three_figures(catalog):
    """$/1M tok to three significant figures in the table and the report alike: two decimals printed
    "0.03" for every plan of the spot example (0.0338, 0.0337, 0.0340) and "0.00" for a 10B-token run."""
    import io

    from planner.present.terminal import render_recommendation
    from planner.results import jsonable
    from planner.present.safe import SafeConsole
    from planner.units import fmt_rate

    assert (fmt_rate(0.033576), fmt_rate(1.7553), fmt_rate(26.32), fmt_rate(None)) == ("0.0336", "1.76", "26.3", "-")
    rec = recommend(_job(training={"tokens": 1e10}, constraints={"spot": True, "clouds": ["aws"], "gpus": ["H100"]}),
                    catalog, simulate=False, top=3)
    buf = io.StringIO()
    render_recommendation(SafeConsole(file=buf, width=250), jsonable(rec), 3)
    text = buf.getvalue()
    for p in rec.ranked:
        assert fmt_rate(p.cost.usd_per_million_tokens) in text
    assert "0.00 " not in text


def test_csv_columns_of_a_spot_job_extend_those_of_any_job(catalog):
    """``recommend --csv`` is the search table: a spot job's extra columns (uninterrupted hours, cost
    range, overhead) come after the ones every job has, so a script reading columns by position reads
    the same columns from both (they came first, shifting every other column)."""
    aws = {"clouds": ["aws"], "gpus": ["H100"]}  # the columns do not depend on the instances searched
    base = recommend(_job(training={"tokens": 1e11}, constraints=aws), catalog, simulate=False, top=1)
    spot = recommend(_job(training={"tokens": 1e11}, constraints={"spot": True, **aws}), catalog,
                     simulate=False, top=1)
    cols, scols = list(base.table.columns), list(spot.table.columns)
    assert cols[-1] == scols[-1] == "pareto"
    assert scols == cols[:-1] + ["compute_hours", "cost_low", "cost_high", "spot_overhead", "pareto"]
    assert cols[:3] == ["hardware", "cloud", "gpu"] and "usd_per_token" in cols


def test_spot_plan_costs_the_same_in_estimate_recommend_and_report(catalog):
    """One fixed spot plan: estimate prices it with the interruption model as recommend ranks it (it
    gave the spot sticker price with no interruptions), and the report's headline, time to train and
    alternatives are the expected figures the ranking and its "why" use (they mixed in the sticker)."""
    from planner.present.report import render_markdown, report_for_job
    from planner.units import fmt_time, fmt_usd

    # every layer recomputed in both (recompute: full alone lets recommend pick a block N)
    job = _job(training={"tokens": 1e11, "micro_batch": 1, "recompute": "full", "recompute_method": "uniform",
                         "recompute_num_layers": 1}, parallel={"tp": 2, "pp": 1, "zero": 1},
               cluster={"instance": "aws:p5.48xlarge", "nodes": 4}, constraints={"spot": True})
    est = estimate_job(job, catalog)
    rec = recommend(job, catalog, simulate=False, top=1)
    assert est.cost.spot_risk is not None and est.cost.spot_risk == rec.best.cost.spot_risk
    assert est.cost.usd_per_million_tokens == rec.best.cost.usd_per_million_tokens
    risk = est.cost.spot_risk
    assert risk["expected_cost_usd"] > est.cost.cost_spot_usd and risk["expected_hours"] > est.cost.hours
    rep, _ = report_for_job(job, catalog, top=1, simulate=False, job_name="spot")
    md, _assets = render_markdown(rep, "x_files")
    head = md.split("## Recommendation", 1)[1].split("\n\n", 2)[1]
    assert (f"{fmt_time(risk['expected_hours'] * 3600)} to train for {fmt_usd(risk['expected_cost_usd'])} "
            "(spot, expected with interruptions)") in head
    assert f"| cost spot (before interruptions) | {fmt_usd(est.cost.cost_spot_usd)} |" in md
    import json
    import re

    summary = json.loads(re.search(r"<!-- planner-summary: (.*) -->", md).group(1))["best"]
    assert summary["cost_usd"] == pytest.approx(risk["expected_cost_usd"])
    assert summary["train_hours"] == pytest.approx(risk["expected_hours"])
    # the app's table of alternatives: the same expected cost and time
    from planner.interactive import ranked_display

    row = ranked_display(rec).iloc[0]
    assert row["spot $"] == pytest.approx(risk["expected_cost_usd"], abs=0.01)
    assert row["days to train"] == pytest.approx(risk["expected_hours"] / 24, abs=0.01)
    # the sensitivity table's current row is the same plan: the same expected spot cost and time
    from planner.workloads.sensitivity import sensitivity

    cur = sensitivity(job, rec.best, "nodes", catalog).query("current").iloc[0]
    assert cur["cost_spot_usd"] == pytest.approx(risk["expected_cost_usd"])
    assert cur["hours"] == pytest.approx(risk["expected_hours"])


# ---------------------------------------------------------------------------- 3. prices
def test_onprem_tco_is_configurable_in_the_job(catalog):
    base = _job(cluster={"instance": "aws:p5.48xlarge", "nodes": 4}, training={"micro_batch": 1})
    plan = estimate_job(base, catalog)
    buy = plan.cost.buy
    assert buy["inputs"]["pue"]["source"].startswith("catalog pue")
    own = _job(cluster={"instance": "aws:p5.48xlarge", "nodes": 4}, training={"micro_batch": 1},
               onprem={"server_price_usd": 200000, "pue": 1.1, "power_price_usd_per_kwh": 0.05,
                       "staff_share_per_year": 0.0, "support_share_per_year": 0.0, "residual_value_fraction": 0.5,
                       "horizon_years": 5, "utilisation": 0.9})
    b2 = estimate_job(own, catalog).cost.buy
    assert b2["inputs"]["pue"] == {"value": 1.1, "source": "job onprem.pue"}
    assert b2["node_hour_usd"] < buy["node_hour_usd"]
    per = b2["per_hour"]
    assert per["capex"] == pytest.approx(200000 * (1 + catalog.onprem_value("network_cost_share")) * 0.5 / (5 * 8760 * 0.9))
    assert per["staff_support"] == 0
    staff = _job(cluster={"instance": "aws:p5.48xlarge", "nodes": 4}, training={"micro_batch": 1},
                 onprem={"staff_share_per_year": 0.2})
    assert estimate_job(staff, catalog).cost.buy["node_hour_usd"] > buy["node_hour_usd"]


def test_buy_breakeven_and_capex_agree_with_the_hourly_cost(catalog):
    """By hand, HGX H100 (catalog defaults) against p5.48xlarge on-demand 55.04 $/node-h: an owned node
    costs 18.99 $ per useful hour at 80% utilisation, i.e. 15.19 $ per owned hour, every hour (capex,
    staff, power and hosting are all divided by the utilisation), so the break-even is 15.19 / 55.04 =
    27.6% — not 22.8% (power and hosting taken as paid per useful hour in the break-even alone). At that
    utilisation the owned hour costs exactly the rent; buying commits the servers plus the network share."""
    from planner.model.cost import owned_node_hour_cost

    plan = estimate_job(_job(cluster={"instance": "aws:p5.48xlarge", "nodes": 4}, training={"micro_batch": 1}), catalog)
    buy, rent = plan.cost.buy, plan.hardware.price_ondemand_usd_hr
    assert buy["node_hour_usd"] == pytest.approx(18.9927, abs=1e-3)
    assert buy["breakeven_utilisation"] == pytest.approx(18.992688 * 0.8 / 55.04, rel=1e-6)  # 0.2761
    at = _job(cluster={"instance": "aws:p5.48xlarge", "nodes": 4}, onprem={"utilisation": buy["breakeven_utilisation"]})
    own = owned_node_hour_cost(catalog, plan.hardware.gpu, 8, at.onprem)
    assert own["total_hr"] == pytest.approx(rent, rel=1e-9)
    for u in (0.25, 0.3):  # either side of the break-even: the verdict and the break-even agree
        b = estimate_job(_job(cluster={"instance": "aws:p5.48xlarge", "nodes": 4}, training={"micro_batch": 1},
                              onprem={"utilisation": u}), catalog).cost.buy
        assert (b["cheaper"] == "buy") == (u > b["breakeven_utilisation"])
    share = catalog.onprem_value("network_cost_share")
    assert buy["server_capex_usd"] == pytest.approx(4 * 300000) and share > 0
    assert buy["capex_usd"] == pytest.approx(4 * 300000 * (1 + share))


def test_committed_prices_survive_the_simulators_re_timing(catalog):
    """A job with a data section is re-timed by the simulator, which recomputes the cost: the
    instance's committed prices were dropped there (the report then said "no committed price for
    this instance in the catalog" for p5.48xlarge, which has a capacity-block price)."""
    from conftest import EXAMPLES
    from planner.spec import load_job

    rec = recommend(load_job(EXAMPLES / "resnet50-objectstore-files.yaml"), catalog, simulate=True, top=2)
    assert any(p.simulated is not None for p in rec.ranked)
    for p in rec.ranked:
        assert p.hardware.name == "aws:p5.48xlarge"
        terms = {c["term"]: c for c in p.cost.committed}
        assert "capacity-block" in terms, p.hardware.nodes
        c = terms["capacity-block"]
        assert c["run_cost_usd"] == pytest.approx(p.cost.hours * p.hardware.nodes * c["price_usd_hr"])


CKPT_JOB = {"model": {"preset": "llama3-8b"},
            "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "recompute": "selective", "tokens": 1e12},
            "parallel": {"tp": 2, "pp": 1, "zero": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2},
            "checkpoint": {"every_steps": 100, "write_gbps": 5, "mtbf_hours_per_node": 2000, "restart_minutes": 20}}


def test_checkpoint_section_prices_its_pauses_and_failures(catalog):
    """A job whose checkpoint section sets a 3-minute blocking save every 100 steps and a node MTBF:
    estimate, recommend and the report gave the uninterrupted 78.4 days as if the section were not
    there, while simulate showed goodput 88.7%; recommend now ranks and checks its deadline on 88.4 days. By hand: tau = 100 x 14.21 s, delta = 14 B x 8.03e9
    params / 5 Gb/s = 179.9 s, job MTBF 1,000 h, R = 20 min: goodput = tau / (expm1((tau + delta) / M)
    (M + R)) = 0.8871, so 1,882 h -> 2,122 h and $207.2k -> $233.5k on-demand."""
    from planner.present.report import render_markdown, report_for_job
    from planner.simulate import SimConfig
    from planner.simulate.answers import checkpoint_interval_sweep
    from planner.units import fmt_usd

    job = load_job_dict(CKPT_JOB)
    plan = estimate_job(job, catalog)
    o = plan.cost.checkpoint_failures
    tau, delta, M, R = 100 * plan.step_time_s, 8030261248 * 14 / (5e9 / 8), 2000 * 3600 / 2, 20 * 60
    g = tau / (math.expm1((tau + delta) / M) * (M + R))
    assert o["checkpoint_block_s"] == pytest.approx(delta, rel=1e-6) and o["goodput"] == pytest.approx(g, rel=1e-9)
    assert o["expected_hours"] == pytest.approx(plan.cost.hours / g)
    assert o["expected_cost_ondemand_usd"] == pytest.approx(plan.cost.hours / g * 2 * 55.04)
    # none during a restart (failures.expected_events, qa58): the expected wall over M + R, not M alone
    assert o["expected_failures"] == pytest.approx(plan.cost.hours / g * 3600 / (M + R))
    # what simulate's checkpoint answer says for the job's own interval
    sweep = checkpoint_interval_sweep(SimConfig.from_estimate(plan, job), step_s=plan.step_time_s)
    assert sweep["goodput_at_current"] == pytest.approx(o["goodput"], rel=2e-3)
    rec = recommend(job, catalog, simulate=False, top=1)
    assert rec.best.cost.checkpoint_failures == o
    md, _ = render_markdown(report_for_job(job, catalog, top=1, simulate=False, job_name="ck")[0], "x_files")
    assert "| with checkpoints and failures |" in md and fmt_usd(o["expected_cost_ondemand_usd"]) in md
    assert "| server_price_usd | 300,000 | catalog" in md  # was "3e+05"
    assert ("Checkpoints and failures add 12.7% to the time (88.4 d expected, 2.1 failures); the ranking, the budget "
            "and the deadline use the expected time and cost with them.") in md
    assert "the search checked the uninterrupted" not in md
    # the headline and the time to train are the expected figures the plan is ranked on
    assert f"88.4 d to train for {fmt_usd(o['expected_cost_ondemand_usd'])} (on-demand, with checkpoint pauses" in md
    tight = load_job_dict({**CKPT_JOB, "constraints": {"deadline_hours": 2000}})  # 1,882 h fits, 2,122 h does not
    with pytest.raises(InfeasibleError) as e:  # the search checks the deadline with the pauses and failures
        recommend(tight, catalog, simulate=False, top=1)
    assert e.value.field == "constraints.deadline_hours" and "78.4 d without them" in e.value.message
    # checkpoints alone (no MTBF): only the pauses
    plain = load_job_dict({**CKPT_JOB, "checkpoint": {"every_steps": 100, "write_gbps": 5}})
    o2 = estimate_job(plain, catalog).cost.checkpoint_failures
    assert o2["goodput"] == pytest.approx(tau / (tau + delta)) and o2["expected_failures"] == 0
    assert estimate_job(load_job_dict({k: v for k, v in CKPT_JOB.items() if k != "checkpoint"}),
                        catalog).cost.checkpoint_failures is None


def test_committed_prices_in_the_cost(catalog):
    plan = estimate_job(_job(cluster={"instance": "aws:p5.48xlarge", "nodes": 2}, training={"micro_batch": 1}), catalog)
    terms = {c["term"]: c for c in plan.cost.committed}
    assert "capacity-block" in terms
    c = terms["capacity-block"]
    assert c["run_cost_usd"] == pytest.approx(plan.cost.hours * 2 * c["price_usd_hr"]) and c["source"]


def test_published_3yr_commitment_flows_into_the_cost_and_report(catalog):
    """commitments.csv's GCP rows are Google's 1-/3-year CUD month prices / 730 h (the month figure is
    kept in the row's notes, so a mistyped price fails here), and the 3-year price is what the plan's
    cost and the budget review quote."""
    import csv
    import re

    from hardware_catalog.catalog import DATA_DIR
    from planner.present.report import render_markdown, report_for_job

    rows = [r for r in csv.DictReader(open(DATA_DIR / "commitments.csv")) if r["cloud"] == "gcp"]
    assert {(r["instance"], r["term"]) for r in rows} >= {("a3-megagpu-8g", "1yr"), ("a3-megagpu-8g", "3yr"),
                                                           ("a3-highgpu-8g", "3yr"), ("a2-highgpu-8g", "3yr")}
    for r in rows:
        month = float(re.match(r"month_[13]y ([0-9.]+) USD / 730 h", r["notes"]).group(1))
        assert float(r["price_usd_hr"]) == pytest.approx(month / 730, abs=1e-4) and "Cyclenerd" in r["source"]
        # the same machine: the file's on-demand hour is the catalog's (other snapshot or region: within 1%)
        file_hour = float(re.search(r"on-demand hour for the same machine and region is ([0-9.]+)", r["notes"]).group(1))
        assert file_hour == pytest.approx(catalog.instance(f"gcp:{r['instance']}").price_ondemand, rel=0.01)
    plan = estimate_job(_job(cluster={"instance": "gcp:a3-megagpu-8g", "nodes": 4}, training={"micro_batch": 1}), catalog)
    terms = {c["term"]: c for c in plan.cost.committed}
    three = terms["3yr"]
    assert three["price_usd_hr"] == pytest.approx(29555.25790768 / 730, abs=1e-4)
    assert three["run_cost_usd"] == pytest.approx(plan.cost.hours * 4 * three["price_usd_hr"])
    assert three["run_cost_usd"] < terms["1yr"]["run_cost_usd"] < plan.cost.cost_ondemand_usd
    rep, _ = report_for_job(_job(cluster={"instance": "gcp:a3-megagpu-8g", "nodes": 4}, training={"micro_batch": 1}),
                            catalog, top=1, simulate=False, job_name="a3-mega")
    md, _assets = render_markdown(rep, "x_files")
    assert "Committed (3yr, no upfront)" in md and "40.49 $/node-h" in md and "Cyclenerd" in md
    # what signing the 3-year term commits to (it bills all 26,280 h of 4 nodes, busy or not), not only the
    # run's $13.4k; and the busy share at which it beats on-demand (40.49 / 92.21 = 44%)
    assert three["billed_hours"] == 26280 and three["commitment_usd"] == pytest.approx(26280 * 4 * three["price_usd_hr"])
    assert three["run_share"] == pytest.approx(plan.cost.hours / 26280)
    assert three["breakeven_busy"] == pytest.approx(three["price_usd_hr"] / plan.hardware.price_ondemand_usd_hr)
    from planner.units import fmt_usd

    assert f"the 3yr term bills {fmt_usd(three['commitment_usd'])} (4 nodes x 26,280 h, busy or not)" in md
    assert "busy more than 44% of the term" in md
    block = estimate_job(_job(cluster={"instance": "aws:p5.48xlarge", "nodes": 2}, training={"micro_batch": 1}),
                         catalog).cost.committed[0]
    # a capacity block is bought in whole days, then whole weeks (tests/test_qa19.py): this run's 2,757 h buy 17 weeks
    assert block["term"] == "capacity-block" and block["billed_hours"] == 17 * 7 * 24
    assert block["commitment_usd"] == pytest.approx(17 * 7 * 24 * 2 * 39.33) and block["commitment_usd"] > block["run_cost_usd"]


# ---------------------------------------------------------------------------- 6. launch specs
def _flags(argv):
    out, i = {}, 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            out[a] = argv[i + 1]
            i += 2
        else:
            out[a] = True
            i += 1
    return out


def _titan_plan(parallel, global_batch=1024, mb=1):
    from planner.present.emit import emit_launch_spec

    job = load_job_dict({"model": {"preset": "llama3-70b"},
                         "training": {"seq_len": 8192, "global_batch": global_batch, "micro_batch": mb, "tokens": 1e12,
                                      "recompute": "full", "framework": "torchtitan"},
                         "parallel": parallel, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 8}})
    best = estimate_job(job)
    text = emit_launch_spec(job, best, "torchrun:fsdp")
    argv = [t for t in shlex.split(text, comments=True) if t.strip()]
    return best, argv[argv.index("torchtitan.train") + 1:]


def test_torchtitan_pp_local_batch_is_the_whole_replica_batch():
    best, args = _titan_plan({"tp": 2, "pp": 8, "zero": 2})  # 64 GPUs: TP2 PP8 DP4
    f = _flags(args)
    dp = best.config.dp
    assert dp == 4
    local = int(f["--training.local_batch_size"])
    assert local == 1024 // dp  # torchtitan: accumulation = global / (local x dp) = 1
    n_micro = local // int(f["--parallelism.pipeline_parallel_microbatch_size"])
    assert n_micro == best.detail["num_microbatches"] == 256
    assert "--training.disable_cuda_graphs" in f
    # without PP the micro-batch is the local batch and torchtitan accumulates
    _b, args1 = _titan_plan({"tp": 8, "pp": 1, "zero": 3}, mb=2)
    assert int(_flags(args1)["--training.local_batch_size"]) == 2


# torchtitan's own parser (ConfigManager), mesh and pipeline split on these plans and more (CP, EP, every
# format): tests/test_launch_parsers.py


# ---------------------------------------------------------------------------- 5. the report per workload
def _report_text(path, catalog, simulate=True):
    from planner.present.report import render_markdown, report_for_job
    from planner.spec import load_job

    job = load_job(path)
    rep, _ = report_for_job(job, catalog, top=3, simulate=simulate, job_name=str(path))
    md, _assets = render_markdown(rep, "x_files")
    return rep, md


def test_serving_job_gets_a_serving_review(catalog):
    # the review's kind and columns, not its simulated check: unsimulated, about half the CPU
    rep, md = _report_text("examples/serving-llama3-70b.yaml", catalog, simulate=False)
    assert rep.title.startswith("Serving review") and "TTFT ms" in md and "$ per 1M requests" in md
    assert "Budget review: training" not in md and "time to train" not in md


def test_data_bound_report_names_its_simulated_steps(catalog):
    rep, md = _report_text("examples/vit-b16-objectstore-shards.yaml", catalog)
    assert "(?" not in md and "Simulated (300 steps" in md


def test_training_report_risks_name_the_network_and_memory_limit(catalog, tmp_path):
    # the budget example on the cloud of its winner (the whole catalog's search: ~5x the time, the same plan)
    job = tmp_path / "budget-runpod.yaml"
    job.write_text(open("examples/llama2-13b-budget.yaml").read() + "  clouds: [runpod]\n")
    rep, md = _report_text(job, catalog)
    risks = next(s for s in rep.sections if s.title == "Risks")
    text = " ".join(b for block in risks.blocks for b in (block if isinstance(block, list) else [block]) if isinstance(b, str))
    # the winner is single-node (RunPod's 8 x MI300X, no cluster fabric): no network figure to assume
    assert "Rent 1 x runpod:8x_MI300X_SECURE" in md
    assert "single-node" in md and "Network: none between nodes" in text and "ASSUMED" not in text
    # and no network sweep whose every row is the same plan
    assert "**inter-node network (Gb/s per node)**: not swept" in md
    assert "allowed" in md and "GiB free of the" in md and "Moves the ranking:" in md  # the margin, to the HBM


def test_user_commitments_and_onprem_from_a_catalog_override(tmp_path):
    from hardware_catalog import load_catalog

    f = tmp_path / "quotes.yaml"
    f.write_text("commitments:\n"
                 "  - {cloud: aws, instance: p5.48xlarge, term: 1yr, payment: no upfront, price_usd_hr: 35, source: our AWS quote}\n"
                 "  - {cloud: aws, instance: p5.48xlarge, term: 3yr, payment: all upfront, price_usd_hr: 25, source: our AWS quote}\n"
                 "onprem:\n"
                 "  - {key: pue, value: 1.15, source: our colo contract}\n")
    cat = load_catalog([f])
    plan = estimate_job(_job(cluster={"instance": "aws:p5.48xlarge", "nodes": 2}, training={"micro_batch": 1}), cat)
    terms = {c["term"]: c for c in plan.cost.committed}
    assert terms["3yr"]["price_usd_hr"] == 25 and terms["1yr"]["source"] == "our AWS quote"
    assert terms["3yr"]["run_cost_usd"] < terms["1yr"]["run_cost_usd"] < plan.cost.cost_ondemand_usd
    assert plan.cost.buy["inputs"]["pue"]["value"] == 1.15


def test_fp8_and_efficiency_priors_are_printed_under_the_recommendation(catalog):
    # on one cloud (AWS holds both GPUs; every cloud's search: 3x the time, the same caveats)
    rec = recommend(_job(training={"precision": "fp8"}, constraints={"gpus": ["H100", "B200"], "clouds": ["aws"]}),
                    catalog, simulate=False, top=3)
    assert any(c.startswith("fp8:") and "priors" in c and "quantisation" in c for c in rec.caveats)
    assert any("efficiencies are a prior, not measured" in c for c in rec.caveats)


def test_days_column_of_a_short_run_is_not_zero(cli):
    """A 53-minute ResNet-50 run (44 min before its evaluation passes) printed 0.0 in recommend's days column
    (one decimal)."""
    from conftest import ROOT

    code, out, err = cli("recommend", ROOT / "examples" / "resnet50-eval-cadence.yaml", "--no-simulate")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("│ 1 "))
    cells = [c.strip() for c in row.strip("│").split("│")]
    # the column is in the unit of its longest plan, named in its header (units.duration_column): minutes here
    head = next(line for line in out.splitlines() if "hardware" in line and "┃" in line)
    # 44.4 min of training steps and 8.8 min of the job's evaluation passes (tests/test_eval_time.py)
    assert cells[8] == "53.1" and "minutes" in head, (cells, head)


def test_compare_table_title_names_the_price(cli, tmp_path):
    """The JSON rows carry price_basis; the terminal table of a spot job gave no sign its cost column was
    at spot prices (recommend's title names its price)."""
    job = tmp_path / "spot.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, tokens: 2.0e11}\n"
                   "constraints: {gpus: [H100-SXM-80GB], clouds: [aws], spot: true}\n")
    code, out, err = cli("compare", job)
    assert code == 0, err
    assert "— cost at spot prices" in out.splitlines()[0]
    job.write_text(job.read_text().replace("spot: true", "spot: false"))
    code, out, err = cli("compare", job)
    assert code == 0, err
    assert "— cost at on-demand prices" in out.splitlines()[0]


def test_spot_line_names_the_checkpoint_pauses_in_its_added_time():
    """A spot plan's added time includes its checkpoint pauses (the job's cadence or the optimal one); at
    a 5.7 min save every 100 steps of 0.8 s they are most of +506%, which the line put down to lost work,
    restarts and capacity waits alone."""
    from planner.present.report import _spot_risk_line
    from planner.present.terminal import spot_line

    risk = dict(expected_cost_usd=34630.7, expected_hours=63.84, cost_low_usd=34423.6, cost_high_usd=34996.2,
                interruptions=1.1, overhead=5.057, node_failures=20.4, rate_per_node_day=0.0129,
                capacity_wait_minutes=30.0, checkpoint_every_steps=100, source="interruptions.csv aws/*")
    for text in (spot_line(risk), _spot_risk_line(risk)):
        assert "+505.7% time: a checkpoint pause every 100 steps; each interruption loses" in text
        assert "each node failure the work and a restart" in text
    plain = {**risk, "checkpoint_every_steps": None}
    plain.pop("node_failures")
    assert "checkpoint pauses at the optimal cadence" in spot_line(plain) and "node failure" not in spot_line(plain)


def test_per_million_is_at_the_ranked_price_in_table_and_report(cli, tmp_path):
    """The report's "$ per 1M tokens" row printed the uninterrupted on-demand rate (0.207) beside a headline
    and a recommend table with the checkpoint pauses and failures (0.279); a spot job on a cluster priced
    only on-demand printed an on-demand rate beside a "-" cost."""
    ck = tmp_path / "ck.yaml"
    ck.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, micro_batch: 1, tokens: 1.0e12}\n"
                  "parallel: {tp: 2, pp: 1, zero: 1}\ncluster: {instance: aws:p5.48xlarge, nodes: 2}\n"
                  "checkpoint: {every_steps: 100, write_gbps: 2, mtbf_hours_per_node: 50, restart_minutes: 20}\n")
    c = answered(cli("estimate", ck, "--json"))["cost"]
    want = c["checkpoint_failures"]["expected_cost_ondemand_usd"] / c["tokens"] * 1e6
    md = tmp_path / "ck.md"
    code, _, err = cli("report", ck, "-o", md, "--no-simulate")
    assert code == 0, err
    assert f"| $ per 1M tokens | {want:.3g} |" in md.read_text()
    bare = tmp_path / "bare.yaml"
    bare.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, tokens: 1.0e11}\n"
                    "parallel: {tp: 2, pp: 1}\ncluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 2, price_usd_hr: 20}\n"
                    "constraints: {spot: true}\n")
    code, out, err = cli("recommend", bare, "--no-simulate")
    assert code == 0, err
    row = [c.strip() for c in next(line for line in out.splitlines() if line.startswith("│ 1 ")).strip("│").split("│")]
    assert row[9] == "-" and row[10] == "-", row
    md = tmp_path / "bare.md"
    code, _, err = cli("report", bare, "-o", md, "--no-simulate")
    assert code == 0, err
    assert "| $ per 1M tokens | - |" in md.read_text()
    # the price was set: the headline says it is not a spot rate, not "set cluster.price_usd_hr"
    assert "(no spot price: cluster.price_usd_hr is an on-demand rate; leave out constraints.spot" in md.read_text()


def test_buy_and_committed_are_priced_at_the_expected_wall_hours(catalog):
    """Owned or committed nodes sit through the checkpoint pauses and failure restarts too: the report's Buy and
    Committed lines (and cost.buy / cost.committed) priced the uninterrupted 1,882 h, and "N x this run's rent"
    the uninterrupted rent, while the headline said 2,122 h with the overheads. Now they use the expected wall
    hours and say so."""
    from planner.present.report import render_markdown, report_for_job
    from planner.units import fmt_usd

    job = load_job_dict(CKPT_JOB)
    plan = estimate_job(job, catalog)
    c, o = plan.cost, plan.cost.checkpoint_failures
    wall = o["expected_hours"]
    assert wall > 1.1 * c.hours
    assert c.buy["hours"] == pytest.approx(wall) and c.buy["hours_include"] == "with checkpoint pauses and node failures"
    assert c.buy["run_cost_usd"] == pytest.approx(wall * 2 * c.buy["node_hour_usd"])
    assert c.committed
    for t in c.committed:
        assert t["run_cost_usd"] == pytest.approx(wall * 2 * t["price_usd_hr"]) and t["hours"] == pytest.approx(wall)
    md, _ = render_markdown(report_for_job(job, catalog, top=1, simulate=False, job_name="ck")[0], "x_files")
    text = " ".join(md.split())
    assert f"Buy: this run's {wall:,.0f} h (with checkpoint pauses and node failures: owned nodes sit through" in text
    assert fmt_usd(c.buy["run_cost_usd"]) in text
    assert f"{c.buy['capex_usd'] / o['expected_cost_ondemand_usd']:.1f}x this run's rent (on-demand, same wall hours)" in text
    assert f"for this run's {wall:,.0f} h (with checkpoint pauses and node failures: committed nodes" in text


def test_one_node_cost_line_says_node(catalog):
    """QA find: the llama2-13b budget report's cost section said "19.12 $/node-h x 1 nodes x 6,646 h"."""
    from planner.present.report import render_markdown, report_for_job

    job = load_job_dict({**SMALL, "constraints": {"instances": ["aws:p5.48xlarge"], "max_gpus": 8}})
    md, _ = render_markdown(report_for_job(job, catalog, top=1, simulate=False, job_name="one")[0], "x_files")
    line = next(x for x in md.splitlines() if x.startswith("- On-demand:"))
    assert "$/node-h x 1 node x " in line and "1 nodes" not in line, line
