"""gbprice42: reference systems carry providers' on-demand rates for the whole system (``system_prices.csv``), so a bare
GB200 NVL72 plan is priced at CoreWeave's list rate (4-GPU nodes at $42.00 an hour, rented as full racks of 18: 756 $ a
rack-hour, read in a second-hand copy dated 2026-09-20), billed by whole racks, dated, held to a budget and to the price
floors; only on-demand is sourced, so spot and reserved say they have no rate; a user's file refreshes the rate, and a
bad one is refused in one line. Until gbprice42 every GB200 plan read "no price" unless the job gave its own rate."""
from __future__ import annotations

import pytest
from conftest import answered, refused, write_job

from hardware_catalog import load_catalog
from planner.hardware.options import option_from_cluster
from planner.spec.schema import ClusterSpec

RACK = "nvidia:DGX-GB200-NVL72"
COREWEAVE = 756.0  # 18 nodes x $42.00 (hardware_catalog/data/system_prices.csv)

LLAMA = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 960, micro_batch: 1, tokens: 1.0e11, recompute: selective,
           framework: {name: megatron-core}}
"""


def job(tmp_path, cluster: str = "{gpu: GB200-B200}", constraints: str = "{}"):
    return write_job(tmp_path, LLAMA + f"cluster: {cluster}\nconstraints: {constraints}\n")


def best(cli, path, *args):
    return answered(cli("recommend", str(path), "--json", "--no-simulate", *args))["best"]


def test_shipped_rates_cheapest_first_on_demand_only():
    """Three providers' rack rates, each dated and saying it was read second-hand; the plan takes the cheapest."""
    s = load_catalog().systems[RACK]
    assert [(p.provider, p.price) for p in s.prices] == [("coreweave", 756.0), ("oracle", 1152.0), ("azure", 1946.88)]
    assert all(p.price_date[:10].startswith("2026-09") and p.read.startswith("second-hand copy") for p in s.prices)
    assert s.quote.provider == "coreweave"


def test_gb200_recommend_shows_dollars_per_run_with_the_sources_date(cli, tmp_path):
    """Until gbprice42: ranked by time, "no price known", cost None."""
    b = best(cli, job(tmp_path))
    cost, hw = b["cost"], b["hardware"]
    racks = hw["racks_billed"]
    assert cost["cost_ondemand_usd"] == pytest.approx(cost["hours"] * racks * COREWEAVE, rel=1e-9)
    assert cost["price_basis"] == "on-demand" and cost["cost_spot_usd"] is None
    assert cost["price_dates"]["oldest"].startswith("2026-09-20")
    assert "coreweave" in cost["price_dates"]["oldest_of"] and not cost["price_dates"]["undated"]
    assert hw["price_quote"]["provider"] == "coreweave" and hw["price_quote"]["usd_per_system_hour"] == COREWEAVE


def test_text_names_the_rate_and_that_spot_and_reserved_have_none(cli, tmp_path):
    code, out, err = cli("recommend", str(job(tmp_path)), "--no-simulate")
    text = " ".join(out.split())
    assert code == 0 and "prices dated: oldest 2026-09-20 (coreweave" in text, text[-3000:]
    assert "no spot or reserved rate is sourced for it" in text


def test_segment_pays_its_whole_rack():
    """3 segments of 8 trays (2 a rack) open 2 racks: each segment pays 2/3 of a rack-hour."""
    hw = option_from_cluster(ClusterSpec(gpu="GB200-B200", segment=8, nodes=3))
    assert hw.price_ondemand == pytest.approx(2 * COREWEAVE / 3) and hw.price_spot is None


def test_job_rate_still_overrides(cli, tmp_path):
    b = best(cli, job(tmp_path, "{gpu: GB200-B200, price_usd_hr: 720}"))
    assert b["cost"]["price_basis"] == "cluster.price_usd_hr" and b["hardware"]["price_quote"] is None
    assert b["cost"]["cost_ondemand_usd"] == pytest.approx(b["cost"]["hours"] * b["hardware"]["racks_billed"] * 720)


def test_a_node_of_another_size_is_not_priced_by_the_rack():
    assert option_from_cluster(ClusterSpec(gpu="GB200-B200", gpus_per_node=8)).price_ondemand is None


def test_budget_on_a_bare_gb200_is_held_not_refused(cli, tmp_path):
    """Until gbprice42 the job schema refused any bare-GPU budget: "a bare cluster.gpu has no price to hold a budget to"."""
    b = best(cli, job(tmp_path, constraints="{budget_usd: 20000}"))
    assert b["cost"]["cost_ondemand_usd"] <= 20000
    err = refused(cli("recommend", str(job(tmp_path, "{gpu: H100, nodes: 2}", "{budget_usd: 1000}")), "--no-simulate"))
    assert err.startswith("error: constraints.budget_usd: a bare cluster.gpu (H100-SXM-80GB) has no price"), err


def test_spot_has_no_rate(cli, tmp_path):
    code, out, _ = cli("recommend", str(job(tmp_path, constraints="{spot: true}")), "--no-simulate")
    assert code == 0 and "none of these has a spot price" in " ".join(out.split())


def test_a_user_file_refreshes_the_rate(cli, tmp_path):
    f = tmp_path / "gb.csv"
    f.write_text(f"system,provider,region,price_ondemand_usd_hr,price_date,source\n{RACK},coreweave,,700,2026-12-01,quote\n")
    code, out, err = cli("recommend", str(job(tmp_path)), "--json", "--no-simulate", "--catalog", str(f))
    assert code == 0 and f"gb.csv: system {RACK}: coreweave price_ondemand_usd_hr 756 -> 700" in err, err
    import json
    b = json.loads(out)["best"]
    assert b["cost"]["cost_ondemand_usd"] == pytest.approx(b["cost"]["hours"] * b["hardware"]["racks_billed"] * 700)
    assert b["cost"]["price_dates"]["oldest"] == "2026-12-01"


@pytest.mark.parametrize("row, field", [
    (f"{RACK},coreweave,10,x", "system_prices[0].price_ondemand_usd_hr: 10 $/node-h is 0.1389 $/GPU-h"),  # per-GPU slip
    ("nvidia:GB200,coreweave,700,x", "system_prices[0].system: 'nvidia:GB200' is not a reference system"),
    (f"{RACK},coreweave,-5,x", "system_prices[0].price_ondemand_usd_hr: must be a positive number"),
])
def test_a_bad_system_price_file_is_refused_in_one_line(cli, tmp_path, row, field):
    f = tmp_path / "bad.csv"
    f.write_text(f"system,provider,price_ondemand_usd_hr,source\n{row}\n")
    err = refused(cli("recommend", str(job(tmp_path)), "--no-simulate", "--catalog", str(f)))
    assert err.startswith(f"error: catalog override bad.csv: {field}"), err


def test_a_dated_stale_or_future_row_is_checked(cli, tmp_path):
    f = tmp_path / "late.csv"
    f.write_text(f"system,provider,price_ondemand_usd_hr,price_date,source\n{RACK},lambda,800,2999-01-01,x\n")
    err = refused(cli("recommend", str(job(tmp_path)), "--no-simulate", "--catalog", str(f)))
    assert err.startswith("error: catalog override late.csv: system_prices[0].price_date: 2999-01-01 is after today"), err


def test_a_users_gb200_instance_row_is_held_to_the_gb200_floor(cli, tmp_path):
    """GB200's floor is now 10% of CoreWeave's 10.5 $/GPU-h (1.05), not the cheapest of any GPU's (0.0526 $/GPU-h)."""
    f = tmp_path / "inst.csv"
    f.write_text("cloud,name,gpu,gpu_count,price_ondemand_usd_hr,source\nmine,gb4,GB200-B200,4,2,quote\n")
    err = refused(cli("recommend", str(job(tmp_path)), "--no-simulate", "--catalog", str(f)))
    assert "below the floor of 1.05 $/GPU-h" in err and f"coreweave:{RACK}" in err, err
