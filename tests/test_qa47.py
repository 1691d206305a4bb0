"""QA pass 47: a finance partner's rent / reserve / buy questions over a year-long program (pre-training, fine-tunes,
serving) through estimate / recommend / compare / report / serve with onprem:, commitments and spot; each defect found
with the check that failed before its fix (docs/qa_log.md, "QA 47")."""
from __future__ import annotations

import json

from conftest import write_job

# 8 owned HGX H100 nodes for a year, busy 60% by assumption; the 2T-token run alone holds them 345 days
YEAR_OWNED = """
model: {preset: llama3-70b}
training: {seq_len: 8192, global_batch: 1024, tokens: 2.0e12}
parallel: {tp: 8, pp: 4, dp: 2}
cluster: {instance: aws:p5.48xlarge, nodes: 8}
onprem: {horizon_years: 1, utilisation: 0.6, server_price_usd: 350000, server_power_kw: 10.2,
         power_price_usd_per_kwh: 0.12, pue: 1.4, hosting_usd_per_kw_month: 200, staff_share_per_year: 0.06,
         residual_value_fraction: 0.6}
"""


def _year_tco(buy: dict, nodes: int) -> float:
    """Owning ``nodes`` nodes for the whole horizon, by hand from the inputs (cost.owned_node_hour_cost's terms at
    every hour of the horizon, busy or not)."""
    v = {k: x["value"] for k, x in buy["inputs"].items()}
    hours = v["horizon_years"] * 8760
    capex = v["server_price_usd"] * (1 + v["network_cost_share"]) * (1 - v["residual_value_fraction"])
    staff = v["server_price_usd"] * (v["staff_share_per_year"] + v["support_share_per_year"]) * v["horizon_years"]
    power = v["server_power_kw"] * v["pue"] * v["power_price_usd_per_kwh"] * hours
    hosting = v["server_power_kw"] * v["hosting_usd_per_kw_month"] * hours / 730
    return nodes * (capex + staff + power + hosting)


def test_a_run_filling_more_of_the_horizon_than_the_utilisation_costs_no_more_than_owning_it(cli, tmp_path):
    """The run's 8,292 h fill 95% of the 1-year horizon, above the 60% utilisation assumed; it was priced at the 60%
    rate, $2.95M at 44.47 $/node-h, more than owning the 8 nodes the whole year ($1.87M). It is now priced at the
    utilisation it proves (the year's cost, 28.19 $/node-h) and the row says why; a shorter run is unchanged."""
    job = write_job(tmp_path, YEAR_OWNED)
    code, out, err = cli("estimate", job, "--json")
    assert code == 0, err
    res = json.loads(out)
    buy, hours = res["cost"]["buy"], res["cost"]["hours"]
    assert 0.9 < hours / 8760 < 1.0, hours
    tco = _year_tco(buy, 8)
    assert abs(buy["run_cost_usd"] - tco) < 1e-6 * tco, (buy["run_cost_usd"], tco)
    assert abs(buy["utilisation"] - hours / 8760) < 1e-9 and buy["utilisation_assumed"] == 0.6
    assert abs(buy["node_hour_usd"] * buy["utilisation"] - buy["wall_hour_usd"]) < 1e-9
    assert abs(sum(buy["per_hour"].values()) - buy["node_hour_usd"]) < 1e-9
    # the break-even does not move with the utilisation: wall-hour cost / on-demand rate
    assert abs(buy["breakeven_utilisation"] - buy["wall_hour_usd"] / 55.04) < 1e-3
    code, out, err = cli("estimate", job)
    assert code == 0, err
    text = " ".join(out.replace("│", " ").split())
    assert "this run alone fills 95% of the 1-year horizon, above the 60% assumed" in text, text
    # a run longer than the horizon: owned past it at the same wall-hour cost, never below it
    code, out, err = cli("estimate", write_job(tmp_path, YEAR_OWNED.replace("2.0e12", "2.5e12"), "long.yaml"), "--json")
    assert code == 0, err
    b2 = json.loads(out)["cost"]
    assert b2["buy"]["utilisation"] == 1.0
    assert abs(b2["buy"]["run_cost_usd"] - b2["hours"] * 8 * b2["buy"]["wall_hour_usd"]) < 1e-6 * b2["buy"]["run_cost_usd"]
    # a run inside the assumed busy hours keeps the assumed rate
    code, out, err = cli("estimate", write_job(tmp_path, YEAR_OWNED.replace("2.0e12", "2.0e11"), "short.yaml"), "--json")
    assert code == 0, err
    b3 = json.loads(out)["cost"]["buy"]
    assert b3["utilisation"] == 0.6 and abs(b3["node_hour_usd"] - 44.47) < 0.01


# a real-time fleet with an onprem: section: serve read it and printed nothing of it
SERVE_OWNED = """
model: {preset: llama3-8b}
serving: {p99_latency_ms: 100, ttft_ms: 2000, qps: 5, prompt_tokens: 1024, output_tokens: 256, precision: bf16}
constraints: {instances: [aws:p5.48xlarge]}
onprem: {horizon_years: 3, utilisation: 0.5, server_price_usd: 300000, server_power_kw: 10.2,
         power_price_usd_per_kwh: 0.1, pue: 1.3}
"""


def test_serve_prices_the_fleet_owned_when_the_job_has_an_onprem_section(cli, tmp_path):
    """serve's fleet owned instead of rented: its nodes at the owned wall-hour cost every hour (a fleet for a QPS serves
    around the clock, so onprem.utilisation does not divide it), the capex and the busy share at which owning beats
    on-demand; the text names them."""
    job = write_job(tmp_path, SERVE_OWNED)
    code, out, err = cli("serve", job, "--no-simulate", "--json")
    assert code == 0, err
    b = json.loads(out)["budget"]
    buy, nodes = b["buy"], b["buy"]["nodes"]
    v = {k: x["value"] for k, x in buy["inputs"].items()}
    wall = (300000 * (1 + v["network_cost_share"]) * (1 - v["residual_value_fraction"]) / (3 * 8760)
            + 300000 * (v["staff_share_per_year"] + v["support_share_per_year"]) / 8760
            + 10.2 * 1.3 * 0.1 + 10.2 * v["hosting_usd_per_kw_month"] / 730)
    assert abs(buy["wall_hour_usd"] - wall) < 1e-9, (buy["wall_hour_usd"], wall)
    assert abs(buy["usd_per_month"] - nodes * wall * 730) < 1e-6
    assert abs(buy["capex_usd"] - nodes * 300000 * (1 + v["network_cost_share"])) < 1e-6
    assert abs(buy["breakeven_busy"] - wall / 55.04) < 1e-3
    # the serving review's cost section says it too
    from planner.present.report import _serving_cost_section
    res = json.loads(out)
    lines = _serving_cost_section(res, res["best"], b, False).blocks[0]
    assert any(x.startswith("Buy: ") and "a month owning the" in x for x in lines), lines
    code, out, err = cli("serve", job, "--no-simulate")
    assert code == 0, err
    text = " ".join(out.split())
    assert f"buy: {'$'}" in text and "onprem.utilisation is not used" in text, text


def _block_job(tokens: str, nodes: int, dp: int) -> str:
    return (f"model: {{preset: llama3-8b}}\ntraining: {{tokens: {tokens}, seq_len: 8192, global_batch: {max(256, dp)}}}\n"
            f"cluster: {{instance: aws:p5.48xlarge, nodes: {nodes}}}\nparallel: {{tp: 1, pp: 1, dp: {dp}}}\n")


def test_estimate_sets_a_capacity_block_against_on_demand_and_counts_blocks_of_64(cli, tmp_path):
    """A 5.3-hour run on 2 p5.48xlarge: estimate's committed row read "$413.62 for this run's hours ..., the block to
    buy bills $1.89k" beside $578.84 on-demand, never saying the 1-day block costs 3.3x renting the same hours (the
    report did). And 128 nodes were "the block to buy", where AWS sells at most 64 instances a block."""
    code, out, err = cli("estimate", write_job(tmp_path, _block_job("3e9", 2, 16), "short.yaml"), "--json")
    assert code == 0, err
    c = json.loads(out)["cost"]
    blk = next(x for x in c["committed"] if x["term"] == "capacity-block")
    assert blk["billed_hours"] == 24 and blk["blocks_side_by_side"] == 1
    assert abs(blk["ondemand_same_hours_usd"] - c["cost_ondemand_usd"]) < 1e-6
    code, out, err = cli("estimate", write_job(tmp_path, _block_job("3e9", 2, 16), "short.yaml"))
    assert code == 0, err
    text = " ".join(out.replace("│", " ").split())
    ratio = blk["commitment_usd"] / c["cost_ondemand_usd"]
    assert f"{ratio:.1f}x on-demand's" in text, text
    code, out, err = cli("estimate", write_job(tmp_path, _block_job("3e11", 128, 1024), "wide.yaml"), "--json")
    assert code == 0, err
    blk = next(x for x in json.loads(out)["cost"]["committed"] if x["term"] == "capacity-block")
    assert blk["blocks_side_by_side"] == 2
    code, out, err = cli("estimate", write_job(tmp_path, _block_job("3e11", 128, 1024), "wide.yaml"))
    text = " ".join(out.replace("│", " ").split())
    assert "blocks to buy bill" in text and "2 blocks side by side: AWS sells at most 64 instances a block" in text, text
    # the report's line, from the same record
    from planner.present.report import _committed_line
    line = _committed_line(dict(blk, hours=None), {"nodes": 128, "price_ondemand_usd_hr": 55.04})
    assert "bought as 2 blocks side by side (AWS sells at most 64 instances a block)" in line, line


def test_spot_line_gives_few_expected_interruptions_as_few_not_none():
    """A 38-hour spot fine-tune on 2 nodes: "spot: expected 0.0 interruptions and 0.0 node failures" above the
    checkpoints line's "0.015 expected failures" for the same run; counts now read as that line's (units.fmt_many)."""
    from planner.present.terminal import spot_line

    risk = {"interruptions": 0.041, "node_failures": 0.015, "overhead": 0.017, "expected_hours": 38.1,
            "expected_cost_usd": 1290.0, "cost_low_usd": 1289.0, "cost_high_usd": 1291.0, "rate_per_node_day": 0.0129,
            "source": "interruptions.csv aws/*", "capacity_wait_minutes": 30, "checkpoint": "every 200 steps"}
    line = spot_line(risk)
    assert "expected 0.041 interruptions and 0.015 node failures" in line, line
    from planner.present.report import _spot_risk_line  # the report's Spot line, likewise
    assert "with 0.041 interruptions and 0.015 node failures" in _spot_risk_line(risk)


def test_breakeven_is_in_estimate_and_in_months(cli, tmp_path):
    """estimate's "buy instead" row gave no break-even (the report alone did, as a share of the horizon); a finance reader
    plans in months. Both now say the share and the months it means: 8 HGX H100 nodes against gcp:a3-megagpu-8g at the
    catalog's inputs, 18.99 x 0.8 / 92.21 = 16.5% of 48 months = 7.9 months busy."""
    job = write_job(tmp_path, "model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 512, tokens: 1.0e10}\n"
                              "cluster: {instance: gcp:a3-megagpu-8g, nodes: 8}\nparallel: {tp: 1, pp: 1, dp: 64}\n")
    code, out, err = cli("estimate", job, "--json")
    assert code == 0, err
    buy = json.loads(out)["cost"]["buy"]
    assert abs(buy["breakeven_utilisation"] - buy["wall_hour_usd"] / 92.2104) < 1e-3
    months = buy["breakeven_utilisation"] * 48
    code, out, err = cli("estimate", job)
    assert code == 0, err
    text = " ".join(out.replace("│", " ").split())
    assert f"owning beats on-demand above 16% utilisation ({months:.1f} of its 48 months busy)" in text, text
    from planner.present.report import _breakeven_words
    assert f"above 16% of its 4-year life ({months:.1f} of its 48 months)" in _breakeven_words(buy, {})


def test_a_cost_with_no_spot_rate_says_so(cli, tmp_path):
    """A bare B200 cluster at the job's own 40 $/node-h: "cost $3.17k on-demand, - spot, 634 GPU-hours"."""
    job = write_job(tmp_path, "model: {preset: llama3-8b}\ntraining: {tokens: 5e10, seq_len: 8192, global_batch: 256}\n"
                              "cluster: {gpu: B200-SXM-180GB, gpus_per_node: 8, nodes: 2, price_usd_hr: 40}\n"
                              "parallel: {tp: 1, pp: 1, dp: 16}\n")
    code, out, err = cli("estimate", job)
    assert code == 0, err
    text = " ".join(out.replace("│", " ").split())
    # the job's own rate is named as such since QA 60 (it read "on-demand")
    assert "at the job's rate (cluster.price_usd_hr), no spot rate," in text and "- spot" not in text, text


def test_a_run_longer_than_a_term_names_the_terms_back_to_back(cli, tmp_path):
    """Llama-3-70B at 2.5T tokens on 8 gcp:a3-megagpu-8g runs 432 days: its 1-year commitment billed two terms (8 nodes
    x 17,520 h) and read "the 1yr term bills $8.96M" in the report and "the term bills" in estimate."""
    job = write_job(tmp_path, YEAR_OWNED.replace("2.0e12", "2.5e12").replace("aws:p5.48xlarge", "gcp:a3-megagpu-8g"))
    code, out, err = cli("estimate", job, "--json")
    assert code == 0, err
    one = next(c for c in json.loads(out)["cost"]["committed"] if c["term"] == "1yr")
    three = next(c for c in json.loads(out)["cost"]["committed"] if c["term"] == "3yr")
    assert one["terms"] == 2 and one["billed_hours"] == 2 * 8760 and three["terms"] == 1
    code, text, err = cli("estimate", job)
    assert code == 0, err
    assert "the 2 back-to-back terms bill" in " ".join(text.replace("│", " ").split())
    from planner.present.report import _committed_line
    line = _committed_line(one, {"nodes": 8, "price_ondemand_usd_hr": 92.21})
    assert "— 2 1yr terms back to back bill $8.96M (8 nodes x 17,520 h, busy or not)" in line, line


def test_a_block_a_little_dearer_than_on_demand_says_by_how_much():
    """A 33-hour run on one p5.48xlarge buys a 2-day block, $1.89k against $1.81k on-demand for the same hours: estimate's
    row read "1.0x on-demand's" and the report "the block costs 1.0x that", as if the two were equal."""
    from planner.present.report import _committed_line
    from planner.present.terminal import _block_versus

    c = dict(term="capacity-block", payment="upfront reservation fee", price_usd_hr=39.33, run_cost_usd=1290.0,
             billed_hours=48.0, commitment_usd=1887.84, run_share=0.68, blocks_side_by_side=1,
             ondemand_same_hours_usd=1805.4, source="AWS")
    assert _block_versus(c) == ", 4.6% above on-demand's $1.81k for the same hours"
    line = _committed_line(c, {"nodes": 1, "price_ondemand_usd_hr": 55.04})
    assert "the block costs 4.6% more than that" in line, line


def test_a_spot_comparison_names_the_instances_it_drops_for_no_spot_rate(cli, tmp_path):
    """QA 47's left-alone: on a spot job `compare --by cloud` over H100 showed aws and gcp only; Lambda's and Azure's
    H100 instances (no spot row in the catalog) were dropped without a word. The ranking's caveats now name them."""
    job = tmp_path / "spot.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, tokens: 2.0e+10, "
                   "precision: bf16}\nconstraints: {spot: true, gpus: [H100-SXM-80GB], max_gpus: 64}\n")
    code, out, err = cli("recommend", job, "--json")
    assert code == 0, err
    line = next(c for c in json.loads(out)["caveats"] if c.startswith("constraints.spot: "))
    assert "(azure, lambda) have no spot rate in the catalog and are not ranked" in line
    assert "azure:Standard_ND96isr_H100_v5" in line and "lambda:gpu_8x_h100_sxm5" in line
    code, out, err = cli("compare", job, "--by", "cloud")
    assert code == 0 and "constraints.spot: 3 instances" in " ".join(out.split()), err


def test_a_tpu_plan_has_no_buy_option_whatever_onprem_says(cli, tmp_path):
    """QA 47's left-alone: a TPU plan's Buy line asked for ``onprem.server_price_usd``, and with one given priced owning
    TPU pods. Google sells no TPUs (platform.RENTED_ONLY): no buy figure, and the report says why."""
    from hardware_catalog import load_catalog
    from planner.model.cost import owned_node_hour_cost

    class Onprem:  # a job's onprem section with a server price
        server_price_usd, server_power_kw = 300000.0, None

    cat = load_catalog()
    assert owned_node_hour_cost(cat, "TPU-v5p", 4, Onprem()) is None
    assert owned_node_hour_cost(cat, "H100-SXM-80GB", 8, Onprem()) is not None
    job = tmp_path / "tpu.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, tokens: 2.0e+10, "
                   "precision: bf16}\nconstraints: {gpus: [TPU-v5p], max_gpus: 512}\nonprem: {server_price_usd: 300000}\n")
    rep = tmp_path / "r.md"
    code, out, err = cli("report", job, "-o", rep, "--no-simulate")
    assert code == 0, err
    assert "- Buy: not an option: Google sells no TPUs: Cloud TPU is rented on Google Cloud only." in rep.read_text()
