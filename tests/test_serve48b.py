"""serve48b: a fixed fleet (``serving.replicas``), second pass: its month and $ per million requests at the QPS it
carries, its simulation at ``_refine_realtime``'s engine settings (``setting_ladder``), ``serve --csv``'s rejected
rows, and the mmpp burst line for a fleet."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from conftest import answered, write_job
from planner.present.serving import options_csv_columns
from planner.spec.load import load_job
from planner.workloads import serving as S
from planner.workloads.serving_budget import HOURS_PER_MONTH
from test_serve48 import FLEET, SIZED

pytestmark = pytest.mark.slow  # ~10 CPU s in 6 tests: an xdist worker gets it first (conftest HEAVY_MARKERS; suite55)

#: test_serve48's fleet (4 x g6e.xlarge TP1, the chat example's lengths and targets) and the same job at 20 QPS on the
#: L40S and the L4 (one option that meets the targets, one whose TPOT misses them even at batch 1)
MIXED = {**SIZED, "constraints": {"instances": ["aws:g6e.xlarge", "aws:g6.xlarge"]}}


def test_a_fleet_has_a_month_at_the_qps_it_carries(cli, tmp_path):
    """The fleet's budget: its nodes x $/h x 730 h, at the QPS it carries, its $ per million requests the option's; no
    replica range (the replicas are the job's). Until serve48b a fleet had no budget (``serving_budget`` needs a QPS)."""
    path = write_job(tmp_path, FLEET)
    res = answered(cli("serve", path, "--no-simulate", "--json"))
    o, b = res["options"][0], res["budget"]
    assert b is not None and b["fixed_fleet"] is True
    assert b["qps"] == o["fleet_qps"] and b["replicas"] == 4
    assert b["usd_per_month"] == pytest.approx(o["nodes"] * o["price_usd_hr"] * HOURS_PER_MONTH)
    assert b["usd_per_million_requests"] == pytest.approx(o["usd_per_hr"] / (o["fleet_qps"] * 3600) * 1e6)
    assert b["replicas_range"] is None and "fixed fleet" in b["range_basis"] and "fixed fleet" in res["accuracy"]
    code, out, err = cli("serve", path, "--no-simulate")
    text = " ".join(out.split())
    assert code == 0, err
    assert "per month: $5.43k" in text and "carrying 30.6 QPS: $67.68 per 1M requests" in text


def test_the_report_gives_the_fleet_month(tmp_path):
    from planner.present.report import build_serving_report, render_markdown

    job = load_job(write_job(tmp_path, FLEET))
    res = S.plan_serving(job, simulate=False)
    text = render_markdown(build_serving_report(job, res, "fleet.yaml", with_charts=False), "files")[0]
    cost = text.split("## Cost per month and year")[1].split("\n## ")[0]
    assert f"serving {res.best.fleet_qps:.1f} requests/s every hour" in cost and "a month" in cost


def test_csv_lists_the_rejected_options_with_their_reason(cli, tmp_path):
    """``serve --csv``: the options, then every option the JSON rejects, its ``rejected`` cell the JSON's reason
    (empty on an option). Until serve48b the rejected were left out and there was no such column."""
    job = write_job(tmp_path, MIXED)
    code, out, err = cli("serve", job, "--no-simulate", "--csv")
    assert code == 0, err
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == options_csv_columns() and df.columns[-1] == "rejected"
    res = answered(cli("serve", job, "--no-simulate", "--json"))
    n = len(res["options"])
    assert len(res["rejected"]) >= 1 and len(df) == n + len(res["rejected"])
    assert df["rejected"][:n].isna().all()
    assert list(df["rejected"][n:]) == [r["reason"] for r in res["rejected"]]
    assert list(df["hardware"][n:]) == [r["hardware"] for r in res["rejected"]] == ["aws:g6.xlarge"]


def test_a_fleet_under_mmpp_says_its_bursts(cli, tmp_path):
    """Under mmpp arrivals the fleet's screen draws bursts at each QPS it tries (``_target_at``): the assumptions say
    them at the QPS the fleet carries, and do not call the arrival process unused. Until serve48b: neither."""
    res = answered(cli("serve", write_job(tmp_path, FLEET), "--no-simulate", "--json", "--arrivals", "mmpp"))
    q = res["options"][0]["fleet_qps"]
    said = [a for a in res["assumptions"] if a.startswith("arrivals: mmpp")]
    assert len(said) == 1 and f"mean {q:.1f} QPS" in said[0] and "carry more" in said[0]
    assert not any("--arrivals" in a and "not used" in a for a in res["assumptions"])


def test_setting_ladder_searches_a_later_setting_only_where_it_beats():
    """``setting_ladder``: the first setting searched from scratch, a later one only where ``better`` says so, then
    from the answer in hand (a fleet's higher QPS, a QPS job's fewer replicas: one rule); its top rung is kept."""
    carried = {"a": 10.0, "b": 8.0, "c": 14.0}
    searched = []

    def search(k, q):
        searched.append((k, q))
        return carried[k]
    best = S.setting_ladder(["a", "b", "c"], search, lambda k, q: carried[k] > q)[-1]
    assert best == (14.0, "c") and searched == [("a", None), ("c", 10.0)]
    assert S.setting_ladder(["a"], lambda k, q: None, lambda k, q: True) == []


def test_the_fleet_simulation_tries_the_engine_settings(monkeypatch, tmp_path):
    """``_confirm_fleet`` chooses among ``_engine_settings`` starting from the screen's budget (``setting_ladder``, as
    ``_refine_realtime`` does), not at the screen's budget and batch alone as until serve48b; the simulated answer is
    at one of them. Short runs (60 s searches, 120 s confirmations): the choice, not the QPS, is checked."""
    seen = []
    real = S.setting_ladder

    def spy(settings, search, better):
        seen.append(list(settings))
        return real(settings, search, better)
    monkeypatch.setattr(S, "setting_ladder", spy)
    job = load_job(write_job(tmp_path, FLEET))
    sim = S.settings_for(job, search_s=60.0, confirm_s=120.0)
    res = S.plan_serving(job, sim=sim)
    b, d = res.best, res.best.simulated
    assert b.fleet_qps_by == "simulated" and d["qps"] == b.fleet_qps
    # the fleet's only simulation (no serving.qps: no _refine_realtime), from the budget its analytic QPS is at
    assert len(seen) == 1 and seen[0][0] == (b.token_budget, b.batch) and len(seen[0]) == 4
    assert seen[0][-1] == (b.token_budget, min(2 * b.batch, b.batch_memory_limit))
    assert (d["max_num_batched_tokens"], d["max_num_seqs"]) in seen[0]
