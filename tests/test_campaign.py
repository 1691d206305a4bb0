"""Preprocessing tax (planner/workloads/campaign.py): caching the artifact vs re-running preprocessing."""

import pytest

from planner.workloads.campaign import S3_STANDARD_USD_PER_GB_MONTH, plan_campaign
from planner.errors import InputError
from planner.spec import load_job_dict
from conftest import answered

TRAIN = {"hours": 2.0, "usd": 50.0}


def _job(**campaign):
    base = {"experiments_per_week": 5, "weeks": 2,
            "preprocess": {"hours": 6, "usd_per_hour": 3.0, "output_gb": 200}, "invalidation_rate": 0.0}
    base.update(campaign)
    return load_job_dict({"model": {"preset": "llama3-8b"}, "campaign": base})


def test_caching_wins_from_the_second_experiment():
    res = plan_campaign(_job(), TRAIN)
    assert res["cache_wins_from_experiment"] == 2
    cum = res["cumulative"]
    # experiment 1: caching costs the same preprocessing plus storage (never less)
    assert cum["cache_usd"][0] >= cum["no_cache_usd"][0]
    assert all(c < n for c, n in zip(cum["cache_usd"][1:], cum["no_cache_usd"][1:]))
    no, yes = res["no_cache"], res["cache"]
    assert no["preprocess_runs"] == 10 and yes["preprocess_runs"] == 1
    assert yes["iteration_gap_hours"] < no["iteration_gap_hours"]
    assert yes["experiments_per_week_max"] > no["experiments_per_week_max"]
    # the arithmetic: 10 x (6 h x $3 + $50) without a cache
    assert no["cost_usd"] == pytest.approx(10 * (6 * 3 + 50))
    # storage: one 200 GB version for 2 weeks (336 h) at the S3 price a 730 h month
    assert yes["storage_usd"] == pytest.approx(200 * S3_STANDARD_USD_PER_GB_MONTH * 2 * 168 / 730)


def test_invalidation_erodes_the_savings():
    s = [plan_campaign(_job(invalidation_rate=q), TRAIN)["savings_usd"] for q in (0.0, 0.3, 0.7, 1.0)]
    assert s == sorted(s, reverse=True)
    assert s[-1] < 0  # every experiment changes the code: the cache only adds storage and fetches


def test_fetch_time_from_instance_network_and_errors():
    res = plan_campaign(_job(preprocess={"hours": 6, "instance": "aws:c7i.16xlarge", "output_gb": 450}), TRAIN)
    # the catalog has no network figure for c7i.16xlarge: the stated 10 Gb/s default applies
    assert "default" in res["sources"]["fetch"]
    assert res["fetch_hours"] == pytest.approx(450 * 8 / 10 / 3600)
    given = plan_campaign(_job(fetch_gbps=40), TRAIN)
    assert given["fetch_hours"] == pytest.approx(200 * 8 / 40 / 3600)
    with pytest.raises(InputError, match="campaign.train"):
        plan_campaign(_job(), None)
    with pytest.raises(InputError, match="campaign.invalidation_rate"):
        plan_campaign(_job(invalidation_rate=2), TRAIN)


def test_cli_recommend_shows_campaign(cli):
    d = answered(cli("recommend", "examples/preprocess-campaign.yaml", "--json"))
    assert d["campaign"]["cache_wins_from_experiment"] == 2
    assert d["campaign"]["train_hours"] == pytest.approx(d["best"]["hours"])
    code, out, err = cli("recommend", "examples/preprocess-campaign.yaml")
    assert code == 0 and "preprocessing tax" in out
