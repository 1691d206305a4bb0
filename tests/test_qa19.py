"""QA pass 19: the money and catalog paths — on-demand, spot, reserved / committed-use / capacity-block prices, the
on-prem "buy" TCO, `planner catalog` and user override files — recomputed by hand as a finance reviewer and a
procurement lead would, each defect with the check that failed before its fix."""
from __future__ import annotations

import pytest

from planner.model.cost import ONPREM_INPUTS, committed_costs, owned_node_hour_cost
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job
from conftest import answered, flat, write_job

P5 = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e11},
      "cluster": {"instance": "aws:p5.48xlarge", "nodes": 4}}


@pytest.mark.parametrize("gpu", ["GH200-96GB", "GH200-144GB", "GB200-B200", "H100-PCIe-80GB", "H100-NVL-94GB",
                                 "H200-NVL-141GB", "A100-PCIe-80GB"])
def test_no_hgx_server_price_for_other_products(catalog, gpu):
    """``onprem.csv`` prices HGX 8-GPU servers (the SXM baseboard). The family was any GPU name *containing* it, so
    a GH200 (Grace + one Hopper GPU: "H200" in "GH200") was bought as 1/8 of an HGX H200 server, $52.5k cited as
    "sourced", a GB200 NVL72 rack as nine HGX B200 servers ($4.05M, at DGX H100's power per GPU), and H100 PCIe /
    NVL boxes as HGX H100s. They are other products at other prices, as the export SKUs are: no buy figure
    unless the job gives ``onprem.server_price_usd``."""
    assert owned_node_hour_cost(catalog, gpu, 8) is None
    assert owned_node_hour_cost(catalog, gpu, 8, load_job_dict({**P5, "onprem": {"server_price_usd": 1e5}}).onprem)


@pytest.mark.parametrize("gpu", ["H100-SXM-80GB", "H100-SXM-96GB", "H200-SXM-141GB", "A100-SXM-40GB",
                                 "A100-SXM-80GB", "B200-SXM-180GB"])
def test_hgx_parts_keep_their_server_price(catalog, gpu):
    assert owned_node_hour_cost(catalog, gpu, 8)["server_price_per_node"] > 0


def test_gh200_instance_plan_has_no_borrowed_buy_figure(catalog):
    job = load_job_dict({"model": {"preset": "gpt2"}, "training": {"tokens": 1e9, "seq_len": 1024, "global_batch": 64},
                         "cluster": {"instance": "lambda:gpu_1x_gh200", "nodes": 1}})
    assert estimate_job(job, catalog).cost.buy is None


def test_capacity_block_bills_whole_days_then_weeks(catalog):
    """AWS sells Capacity Blocks "in 1-day increments up to 14 days, and in 7-day increments up to 182 days", paid up
    front. The block billed the run's own hours: 4 p5.48xlarge for 82.4 h at 39.33 $/node-h read as $12.96k where
    the block to buy is 4 days, 4 x 96 h x 39.33 = $15.10k."""
    from planner.model.cost import capacity_block_hours

    assert [capacity_block_hours(h) for h in (0.5, 24.0, 24.01, 82.4, 336.0, 340.0, 4368.0, 4400.0)] == \
        [24.0, 24.0, 48.0, 96.0, 336.0, 504.0, 4368.0, 4416.0]
    (c,) = committed_costs(catalog, "aws:p5.48xlarge", 82.4, 4, 55.04)
    assert c["term"] == "capacity-block" and c["price_usd_hr"] == 39.33
    assert c["billed_hours"] == 96.0
    assert c["commitment_usd"] == pytest.approx(96 * 4 * 39.33)  # 15,102.72
    assert c["run_cost_usd"] == pytest.approx(82.4 * 4 * 39.33)  # the run's share, as for a term
    assert c["run_share"] == pytest.approx(82.4 / 96)


def test_report_says_what_the_capacity_block_costs(cli, tmp_path):
    job = write_job(tmp_path, P5)
    code, _, err = cli("report", job, "-o", tmp_path / "r.md", "--no-simulate")
    assert code == 0, err
    line = next(x for x in (tmp_path / "r.md").read_text().splitlines() if x.startswith("- Committed (capacity-block"))
    assert "the block to buy is 4 days (4 nodes x 96 h, paid up front): $15.1k, of which this run uses 86%" in line


def test_commitment_above_an_overridden_on_demand_never_beats_it(cli, tmp_path):
    """A catalog override that puts a3-megagpu-8g's on-demand at 55 $/node-h (below the shipped 1-year 63.94) made
    the report say the commitment "beats on-demand only if the nodes are busy more than 116% of the term"."""
    over = tmp_path / "cheap.yaml"
    over.write_text("instances:\n  - {cloud: gcp, name: a3-megagpu-8g, price_ondemand_usd_hr: 55}\n")
    job = write_job(tmp_path, {**P5, "cluster": {"instance": "gcp:a3-megagpu-8g", "nodes": 4}})
    code, _, err = cli("report", job, "-o", tmp_path / "r.md", "--no-simulate", "--catalog", over)
    assert code == 0, err
    text = (tmp_path / "r.md").read_text()
    one = next(x for x in text.splitlines() if x.startswith("- Committed (1yr"))
    assert "at 63.94 $/node-h it is not below the on-demand 55.00, so it never beats on-demand" in one
    assert "116%" not in text
    three = next(x for x in text.splitlines() if x.startswith("- Committed (3yr"))
    assert "busy more than 74% of the term" in three  # 40.4867 / 55


def test_buy_line_names_every_part_of_the_owned_hour(cli, tmp_path, catalog):
    """The report's Buy line read "18.99 $/node-h (capex $1.38M amortised over 4 years at 80% utilisation, plus power
    and hosting)": the staff and support share (3.64 $/node-h) and the 10% residual value were not named, so the rate
    could not be rebuilt from the line; and a 2.5-year horizon read "2 years" / "its 2-year life" (``:.0f``)."""
    spec = {**P5, "onprem": {"horizon_years": 2.5}}
    buy = estimate_job(load_job_dict(spec), catalog).cost.buy
    # by hand: 300,000 x 1.15 x 0.9 / (2.5 x 8,760 x 0.8) = 17.72; 300,000 x 0.085 / 7,008 = 3.64;
    # 10.2 x 1.3 x 0.10 / 0.8 = 1.66; 10.2 x 150 / 730 / 0.8 = 2.62
    assert buy["per_hour"]["capex"] == pytest.approx(300000 * 1.15 * 0.9 / (2.5 * 8760 * 0.8))
    assert buy["node_hour_usd"] == pytest.approx(17.7226 + 3.6387 + 1.6575 + 2.6199, abs=1e-3)
    job = write_job(tmp_path, spec)
    code, _, err = cli("report", job, "-o", tmp_path / "r.md", "--no-simulate")
    assert code == 0, err
    line = next(x for x in (tmp_path / "r.md").read_text().splitlines() if x.startswith("- Buy"))
    assert ("at 25.64 $/node-h (per hour of use at 80% utilisation: capex 17.72 ($1.38M less 10% residual value over "
            "2.5 years), staff and support 3.64, power 1.66, hosting 2.62)") in line
    assert "of its 2.5-year life" in line
    code, out, err = cli("estimate", job)
    assert code == 0, err
    assert "2.5-year amortisation" in flat(out)


@pytest.mark.parametrize("row, message", [
    ("{key: power_price_usd_per_kwh, value: 1e9}", "power_price_usd_per_kwh must be between 0 and 10 USD/kWh, got 1e+09"),
    ("{key: server_price_hgx_h100_8gpu, value: 0}", "server_price_hgx_h100_8gpu must be above 0 and at most 1e+08 USD per node, got 0"),
    ("{key: hosting_usd_per_kw_month, value: 50000}", "hosting_usd_per_kw_month must be between 0 and 10000 USD per kW per month, got 50000"),
])
def test_override_onprem_rows_take_the_job_fields_ranges(cli, tmp_path, row, message):
    """A job's ``onprem:`` could not set power above 10 $/kWh nor a server price of 0, but a catalog override could:
    ``power_price_usd_per_kwh: 1e9`` priced the 4-node run's buy at "$5.5e+12", a 0 server price at "capex $0.00"."""
    over = tmp_path / "o.yaml"
    over.write_text(f"onprem:\n  - {row}\n")
    code, out, err = cli("estimate", write_job(tmp_path, P5), "--catalog", over)
    assert code == 2 and out == ""
    assert err.strip() == f"error: catalog override o.yaml: onprem[0].value: {message}"


def test_job_and_catalog_onprem_ranges_are_one(catalog):
    """Each job ``onprem:`` field has the range of the catalog key it replaces (the job allowed a network share of
    up to 5 where a catalog row stopped at 1)."""
    from hardware_catalog.bounds import onprem_range
    from planner.errors import InputError

    for field, key, _ in ONPREM_INPUTS:
        lo, hi, open_lo = onprem_range(key.replace("{fam}", "h100"))
        assert load_job_dict({**P5, "onprem": {field: hi}}).onprem is not None
        for bad in (hi * 1.5 + 1, lo if open_lo else lo - 0.5 * max(lo, 1e-3)):
            with pytest.raises(InputError):
                load_job_dict({**P5, "onprem": {field: bad}})
    with pytest.raises(InputError):
        load_job_dict({**P5, "onprem": {"network_cost_share": 1.5}})


def test_catalog_json_keeps_text_columns_text(cli, tmp_path):
    """``catalog instances --json`` turned every text column whose cells parsed as numbers into numbers: an override's
    instance named "8" (its CSV: "8"), region "2024", price_date "2025" and source "123" read 8, 2024, 2025, 123."""
    over = tmp_path / "n.yaml"
    over.write_text('instances:\n  - {cloud: onprem, name: "8", gpu: H100, gpu_count: 8, price_ondemand_usd_hr: 30, '
                    'region: "2024", price_date: "2025", source: "123"}\n')
    (row,) = answered(cli("catalog", "instances", "--cloud", "onprem", "--json", "--catalog", over))
    assert (row["name"], row["region"], row["price_date"], row["source"]) == ("8", "2024", "2025", "123")
    assert row["price_ondemand_usd_hr"] == 30 and row["gpu_count"] == 8 and row["notes"] is None
    links = answered(cli("catalog", "links", "--json"))
    assert links[0]["gbps_per_dir"] == 2400 and links[0]["gbytes_per_dir"] == 300


def test_usd_per_million_tokens_is_the_ranked_rate_with_a_checkpoint_section(catalog):
    """A job with a ``checkpoint`` section is ranked, tabled and reported at its expected cost (pauses and node
    failures), and a spot job's ``cost.usd_per_million_tokens`` follows its expected cost; a checkpointed job's stayed
    at the uninterrupted on-demand rate: 0.1812 $/1M tokens in ``--json`` beside the table's and report's 0.1829
    (by hand: expected $18,288 / 100.0B tokens; uninterrupted $18,119)."""
    job = load_job_dict({**P5, "checkpoint": {"every_steps": 500, "mtbf_hours_per_node": 2000}})
    c = estimate_job(job, catalog).cost
    expected = c.checkpoint_failures["expected_cost_ondemand_usd"]
    assert expected > c.cost_ondemand_usd
    assert c.usd_per_million_tokens == pytest.approx(expected / c.tokens * 1e6)
    assert c.usd_per_million_tokens == pytest.approx(0.18288, abs=2e-4)


def test_report_without_a_server_price_says_how_to_give_one(cli, tmp_path):
    """A GB200 cluster now has no borrowed HGX B200 price; the report's Buy line says what to set instead of only
    "no on-prem server price for this GPU in the catalog"."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10, "global_batch": 1152},
                               "cluster": {"gpu": "GB200", "nodes": 1, "price_usd_hr": 400}})
    code, _, err = cli("report", job, "-o", tmp_path / "r.md", "--no-simulate")
    assert code == 0, err
    line = next(x for x in (tmp_path / "r.md").read_text().splitlines() if x.startswith("- Buy"))
    assert "give the job's onprem.server_price_usd, per node, to price buying" in line


def test_breakeven_past_full_use_says_owning_never_wins(cli, tmp_path):
    """With a $1.5M server the break-even utilisation is 77.85 x 0.8 / 55.04 = 113%, and the report read "Owning
    beats renting on-demand only if the cluster stays busy above 113% of its 4-year life"."""
    job = write_job(tmp_path, {**P5, "onprem": {"server_price_usd": 1.5e6}})
    code, _, err = cli("report", job, "-o", tmp_path / "r.md", "--no-simulate")
    assert code == 0, err
    line = next(x for x in (tmp_path / "r.md").read_text().splitlines() if x.startswith("- Buy"))
    assert "113%" not in line
    assert ("Owning never beats renting on-demand at these inputs: busy every hour of its 4-year life, an owned "
            "node-hour costs 62.28 $/node-h against 55.04") in line


@pytest.mark.parametrize("text, field", [
    ("onprem: {utilisation: yes}\n", "onprem[0].value"),
    ("instances:\n  - {cloud: aws, name: p5.48xlarge, price_ondemand_usd_hr: true}\n", "instances[0].price_ondemand_usd_hr"),
    ("commitments:\n  - {cloud: aws, instance: p5.48xlarge, term: 1yr, price_usd_hr: false, source: q}\n",
     "commitments[0].price_usd_hr"),
])
def test_override_yaml_booleans_are_not_numbers(cli, tmp_path, text, field):
    """pydantic's lax mode read YAML's ``yes`` / ``true`` in a number column as 1: ``utilisation: yes`` became 100%
    ("on-prem key utilisation: value 0.8 -> True") and ``price_ondemand_usd_hr: true`` 1 $/node-h, where a job's
    ``onprem.utilisation: true`` is refused. One line, exit 2, the cell named."""
    over = tmp_path / "b.yaml"
    over.write_text(text)
    code, out, err = cli("catalog", "instances", "--catalog", over)
    assert code == 2 and out == ""
    assert err.strip().startswith(f"error: catalog override b.yaml: {field}: must be a number, got ")
    over.write_text("instances:\n  - {cloud: aws, name: p5.48xlarge, cluster: true}\n")  # a true/false column takes it
    assert cli("catalog", "instances", "--catalog", over)[0] == 0


def test_override_note_does_not_report_a_restated_cell_as_changed(cli, tmp_path):
    """Restating a built-in row's values in YAML was noted as a change of each ("cluster true -> True",
    "price_ondemand_usd_hr 55.04 -> 55.040"), and the row's source became "user override" for figures that were the
    shipped ones."""
    from hardware_catalog import load_catalog

    over = tmp_path / "same.yaml"
    over.write_text("instances:\n  - {cloud: aws, name: p5.48xlarge, cluster: 'TRUE', price_ondemand_usd_hr: 55.040}\n")
    cat = load_catalog([over])
    assert cat.overrides == ["same.yaml: instance aws:p5.48xlarge: restated, nothing changed"]
    assert not cat.instance("aws:p5.48xlarge").source.startswith("user override")


def test_report_spot_row_of_an_on_demand_job_says_before_interruptions(cli, tmp_path):
    """On a job not on spot the report's summary row read "cost spot | $5.58k": the sticker rate over the uninterrupted
    82.3 h (16.95 x 4 x 82.3), with no interruption in it, where ``estimate`` says "$5.58k spot before interruptions"
    and the report's own Spot line "before interruptions"."""
    job = write_job(tmp_path, P5)
    code, _, err = cli("report", job, "-o", tmp_path / "r.md", "--no-simulate")
    assert code == 0, err
    assert "| cost spot (before interruptions) | $5.58k |" in (tmp_path / "r.md").read_text()


def test_usd_that_rounds_up_to_ten_thousand_reads_at_that_tier():
    """$9,999 read "$10.00k" (four significant figures, beside "$10.0k" for $10,000): a value that rounds up into
    the next tier is written in it, as $999,960 already read "$1.00M"."""
    from planner.units import fmt_usd

    assert fmt_usd(9999) == fmt_usd(10_000) == "$10.0k"
    assert fmt_usd(9994) == "$9.99k" and fmt_usd(999_960) == "$1.00M" and fmt_usd(999.996) == "$1.00k"


def test_app_alternatives_price_the_hours_beside_them(catalog):
    """The app's table of alternatives put the expected days (with the job's checkpoint pauses and node failures)
    beside the uninterrupted on-demand cost ($18.12k for 4 x p5, where those days cost $18.29k: the report's
    alternatives table and the app's own headline). Both columns now come from ``results.ranked_price``."""
    from planner import interactive as wi
    from planner.results import ranked_price

    job = load_job_dict({**P5, "checkpoint": {"every_steps": 500, "mtbf_hours_per_node": 2000}})
    rec = wi.search(job, catalog, None, top=3)
    row, best = wi.ranked_display(rec).iloc[0], rec["ranked"][0]
    cf = best["cost"]["checkpoint_failures"]
    assert row["on-demand $"] == pytest.approx(cf["expected_cost_ondemand_usd"], abs=0.01)
    assert row["on-demand $"] > best["cost"]["cost_ondemand_usd"] + 100
    assert row["spot $"] == pytest.approx(ranked_price(best["cost"], True), abs=0.01)


def test_capacity_block_line_names_aws_instance_limit(catalog):
    """AWS allows at most 256 instances across Capacity Blocks; a 512-node p5 plan was quoted a capacity-block cost
    ("$18.81M for this run's hours") with nothing saying no such block can be bought."""
    from planner.present.report import _committed_line

    (c,) = committed_costs(catalog, "aws:p5.48xlarge", 934.0, 512, 55.04)
    assert c["billed_hours"] == 6 * 7 * 24  # 38.9 days: 6 weeks
    line = _committed_line(c, {"nodes": 512, "price_ondemand_usd_hr": 55.04})
    assert "the block to buy is 42 days (512 nodes x 1,008 h, paid up front): $20.30M, of which this run uses 93%" in line
    assert "AWS allows at most 256 instances across Capacity Blocks, fewer than these 512 nodes" in line
    assert "256 instances" not in _committed_line(c, {"nodes": 4, "price_ondemand_usd_hr": 55.04})
