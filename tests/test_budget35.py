"""The serving budget a reviewer signs (budget35): an offline job's whole cost, hours and range; a latency-bound
fleet's range from the latency model's measured spread; the what-ifs said to be the analytic screen's, each with its
range; the app's tables sorting an empty-celled column by value."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from planner import interactive as wi
from planner.present.report import serving_budget_risks
from planner.present.serving import offline_words
from planner.spec import load_job_dict
from planner.spec.load import load_job
from planner.workloads import serving_budget as SB
from planner.workloads.serving import plan_serving
from conftest import EXAMPLES, flat

ROOT = Path(__file__).resolve().parents[1]
BATCH = EXAMPLES / "serving-batch-llama3-8b.yaml"
CHAT = EXAMPLES / "serving-llama3-8b-chat.yaml"


@pytest.fixture(scope="module")
def batch_plan():
    return plan_serving(load_job(BATCH)).to_json()


@pytest.fixture(scope="module")
def chat_screen():
    return plan_serving(load_job(CHAT), simulate=False).to_json()


# ---------------------------------------------------------------------------- 1. an offline job's budget
def test_offline_job_has_the_whole_jobs_cost_hours_and_range(batch_plan):
    """An offline job had `budget: null`: no $ for the job in the budget, no hours, no range. Now `offline_budget`:
    the simulated backlog's $ for the 5M requests, the hours its replicas take, $ per 1M requests / tokens, and the
    time and $ x (1 + e) over the throughput error's 10th-90th percentile."""
    ob, best = batch_plan["offline_budget"], batch_plan["best"]
    sim = best["simulated"]
    assert batch_plan["budget"] is None and ob["sized_by"] == "simulated" and ob["price"] == "spot"
    # QA 84: the job's $ is its node as billed; offline47: its 8 TP1 replicas fill the 8-GPU node, so the billed $ is
    # the simulated backlog's, one figure (QA 84: 1 replica, $1.05k billed, 8x its $131.82 GPU share)
    assert ob["share_usd"] is None and ob["usd"] == sim["usd"] and (ob["replicas"], ob["nodes"]) == (8, 1)
    assert ob["usd_per_million_requests"] == pytest.approx(sim["usd_per_million_requests"])
    assert ob["hours"] == sim["hours"]
    assert ob["hours"] * ob["nodes"] * best["price_spot_usd_hr"] == pytest.approx(ob["usd"])
    assert ob["replica_hours"] == pytest.approx(sim["replica_hours"])
    assert ob["usd_per_million_output_tokens"] == pytest.approx(ob["usd"] / (5e6 * 256) * 1e6)
    assert ob["usd_per_million_tokens"] == pytest.approx(ob["usd"] / (5e6 * (2048 + 256)) * 1e6)
    lo, hi = SB.THROUGHPUT_ERROR
    assert ob["hours_range"] == pytest.approx([ob["hours"] * (1 + lo), ob["hours"] * (1 + hi)])
    assert ob["usd_range"] == pytest.approx([ob["usd"] * (1 + lo), ob["usd"] * (1 + hi)])
    assert ob["spot"]["reclaims"] > 0  # spot: the reclaims its node can expect over the run, said apart from the $
    assert batch_plan["accuracy"].startswith("likely range ") and "140 published runs" in batch_plan["accuracy"]


def test_offline_analytic_range_adds_the_simulations_measured_move():
    """Not simulated: the simulated backlog took 0.999x to 1.078x the analytic time on 127 options
    (benchmarks/offline_sim_vs_analytic.py), so the range carries it."""
    ob = plan_serving(load_job(BATCH), simulate=False).to_json()["offline_budget"]
    (lo, hi), (slo, shi) = SB.THROUGHPUT_ERROR, SB.OFFLINE_ANALYTIC_TO_SIMULATED
    assert ob["sized_by"] == "analytic" and (slo, shi) == (0.999, 1.078)
    assert ob["hours_range"] == pytest.approx([ob["hours"] * (1 + lo) * slo, ob["hours"] * (1 + hi) * shi])
    assert "offline_sim_vs_analytic.py" in ob["range_basis"]


def test_offline_deadline_says_the_replicas_its_slow_end_needs():
    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "serving": {"mode": "batch", "requests": 2e5, "prompt_tokens": 512, "output_tokens": 128,
                                     "deadline_hours": 2},
                         "cluster": {"instance": "aws:g6e.xlarge"}})
    ob = plan_serving(job, simulate=False).to_json()["offline_budget"]
    assert ob["deadline_hours"] == 2 and ob["hours"] <= 2 < ob["hours_range"][1]
    need = math.ceil(ob["replicas"] * ob["hours_range"][1] / 2 - 1e-9)
    assert ob["deadline_replicas_at_slow_end"] == need > ob["replicas"]
    assert f"needs {need} replicas" in ob["range_basis"]


def test_offline_budget_in_the_terminal_and_the_report(main_cli, tmp_path):
    # in-process (``main_cli``, the console entry point; suite55: two fresh interpreters were ~2.5 CPU s of imports):
    # the terminal's line read with its wrapping undone (``flat``), as the 400-column process printed it
    code, serve, err = main_cli("serve", BATCH, "--no-simulate")
    assert code == 0, err
    # QA 67: the backlog at its fastest token budget (2,048 here, 8,192 before: $146.79 for 10.6 d)
    # srv44: the prefill pairs count the diagonal ($123.6926 -> $123.6963, 9.0 d unchanged)
    # QA 84: the node as billed, 8x the replica's GPU share ($989.57 for 9.0 d, $123.70 the share); offline47: the
    # node filled with 8 replicas, the same $ as the share in an eighth of the time
    assert "job cost: $123.71 for 5,000,000 requests (8 replicas for 26.9 h at $4.60/h, spot)" in flat(serve)
    out = tmp_path / "r.md"
    code, _, err = main_cli("report", BATCH, "--no-simulate", "-o", out)
    assert code == 0, err
    md = out.read_text()
    assert "| job cost | $123.71 for 5,000,000 requests" in md
    # srv44: the prefill pairs count the diagonal (the fast end $103.6743 -> $103.6774, 9.0 d unchanged)
    # QA 84: x 8, the node billed (7.5 d to 12.6 d, $829.42 to $1.39k); offline47: 8 replicas fill it
    assert "| likely range (model error) | 22.5 h to 37.8 h, $103.69 to $174.04 (Risks) |" in md
    assert "- Spot: 0.01 reclaims expected over the 26.9 h run" in md
    assert '"offline_budget": {' in md  # the summary JSON


def test_offline_words():
    ob = dict(usd=1234.5, requests=2e5, replicas=3, hours=2.5, price="on-demand", usd_per_hr=493.8,
              usd_per_million_requests=6172.5, usd_per_million_output_tokens=48.2, usd_per_million_tokens=0.5)
    assert offline_words(ob) == ("$1.23k for 200,000 requests (3 replicas for 2.5 h at $493.80/h, on-demand): $6.17k "
                                 "per 1M requests, $48.20 per 1M output tokens, $0.500 per 1M tokens (prompt + output)")


# ---------------------------------------------------------------------------- 2. a latency-bound fleet's range
def test_fleet_bound_names_what_sets_the_replicas(chat_screen):
    """The chat example's g6e.xlarge TP1 holds its batch to 82 for the 50 ms TPOT target. Until serve45 its 7
    replicas were ceil(40 / 6.32), 2,048's throughput at that batch: TPOT-bound, 5 to 11. Since serve45 it is sized at
    the 512 budget it states: its throughput (8.23 req/s) needs 5, whose p99 TTFT (3,577 ms, ~97% busy) misses the
    1 s target, and the TTFT's queue raises it to 6 (320 ms): TTFT-bound, so its range takes the TTFT-bound
    options' simulated / analytic spread (1.00x-1.75x since srv44's re-run; 0.92x-1.65x before: 5 to 13) beside the
    throughput error: 6 to 14 replicas. The TPOT-held
    batch still names "tpot" where the queue adds none (p5.4xlarge TP1 at 2,048, and the 1.5x what-if)."""
    b, best = chat_screen["budget"], chat_screen["best"]
    assert best["bound_by"] == b["bound_by"] == "ttft" and best["batch"] < best["batch_memory_limit"]
    assert b["replicas"] == 6 and b["replicas_range"] == [6, 14]
    assert "TTFT-bound" in b["range_basis"] and "1.00x to 1.75x" in b["range_basis"]
    bounds = {o["bound_by"] for o in chat_screen["options"]}
    assert {"throughput", "tpot", "ttft"} <= bounds  # each option says which range applies to it


def test_review_options_say_what_sets_each_ones_replicas(main_cli, tmp_path):
    out = tmp_path / "chat.md"
    code, _, err = main_cli("report", CHAT, "--no-simulate", "-o", out)
    assert code == 0, err
    table = out.read_text().split("## Options", 1)[1].split("## ", 1)[0]
    # QA 84: serve's own table (present.serving.options_table), its "set by" column; "replicas set by" before
    lines = [[c.strip() for c in x.strip("|").split("|")] for x in table.splitlines() if x.startswith("| ")]
    head, rows = lines[0], {r[1]: r for r in lines[1:]}
    assert head[head.index("replicas") + 1] == "set by"
    # each bound as fleet_bound names it (since serve45 the g6e.xlarge is sized at 512: the TTFT raises its 5 to 6)
    for hw, reps, bound in (("aws:g6e.xlarge", "6", "ttft"), ("aws:p5.4xlarge", "2", "tpot")):
        assert rows[hw][head.index("replicas")] == reps and rows[hw][head.index("set by")] == bound
    assert "| throughput |" in table


@pytest.mark.parametrize("bound, simulated, expect", [("throughput", True, (6, 10)), ("throughput", False, (6, 10)),
                                                      ("tpot", True, (6, 14)), ("ttft", False, (6, 16))])
def test_replica_range_by_bound(bound, simulated, expect):
    lo, hi, basis = SB.replica_range(7, simulated, False, bound)
    assert (lo, hi) == expect
    assert ("-bound" in basis) and (("not simulated" in basis) != simulated or bound == "throughput")


def test_bound_spreads_are_the_benchmarks():
    """benchmarks/sim_vs_analytic_replicas.py's last lines (srv44's re-run; 31 / 23 / 10 options in session 35)."""
    by = SB.ANALYTIC_TO_SIMULATED_BY_BOUND
    assert by == {"throughput": (1.00, 1.00, 27), "tpot": (1.00, 1.50, 17), "ttft": (1.00, 1.75, 20)}
    assert sum(n for *_, n in by.values()) == SB.ANALYTIC_TO_SIMULATED_OPTIONS
    assert min(lo for lo, _, _ in by.values()) == SB.ANALYTIC_TO_SIMULATED[0]
    assert max(hi for _, hi, _ in by.values()) == SB.ANALYTIC_TO_SIMULATED[1]


# ---------------------------------------------------------------------------- 3. the what-ifs are the screen's
def test_what_ifs_say_they_are_analytic_with_their_range(chat_screen):
    """Each what-if row names its own bound and range. At 1.5x (60 requests/s) the g6e.xlarge's 512-budget throughput
    (8.23 req/s, serve45; 6.32 at 2,048 before) needs 8, which the TTFT keeps: TPOT-bound (its batch), 7 to 16 under
    srv44's spreads (6 to 12 under session 35's; 10 replicas, 7 to 15 before serve45)."""
    b = chat_screen["budget"]
    for g in b["qps_growth"] + [b["prompt_growth"]]:
        assert g["sized_by"] == "analytic" and g["bound_by"] in ("throughput", "tpot", "ttft")
        assert g["replicas_range"] == list(SB.replica_range(g["replicas"], False, False, g["bound_by"])[:2])
    risks = serving_budget_risks(b, chat_screen["best"])
    assert risks[0].startswith("QPS growth (the analytic screen of aws:g6e.xlarge TP1, not simulated): at 1.5x")
    assert "8 replicas ($10.9k a month; likely 7 to 16, tpot-bound)" in risks[0]


def test_what_ifs_name_the_simulated_count_beside_them():
    b = dict(qps=40.0, replicas=7, analytic_replicas=7, sized_by="simulated", qps_growth=[], prompt_growth=None,
             spot=None)
    line = serving_budget_risks(b, {"hardware": "aws:g6e.xlarge", "tp": 1})[0]
    assert "it sizes 7 replicas at today's 40.0 requests/s (the simulation sized it at 7)" in line


# ---------------------------------------------------------------------------- 4. the app
def test_app_table_with_an_empty_cell_sorts_by_value():
    """A column with an empty cell was sent as strings ("$9.8k" sorted above "$10.1k"); now it stays numbers and the
    table's placeholder draws the empty cell "-"."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    top = at.dataframe[-1]
    assert top.value["spot $"].isna().any() and top.value["spot $"].dtype.kind == "f"
    assert top.proto.placeholder == wi.MISSING == "-"


def test_app_shows_an_offline_jobs_cost():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.file_uploader(key="upload").set_value(("b.yaml", BATCH.read_bytes(), "application/octet-stream")).run()
    assert not at.exception
    view = wi.serving_view(wi.parse_upload("b.yaml", BATCH.read_bytes()))
    ob = view["plan"]["offline_budget"]
    m = {x.label: x.value for x in at.metric}
    # QA 67: simulated at 2,048 tokens a step (8,192 before: $152.61 for 11.1 d)
    # QA 84: the node as billed, 8x the replica's share ($1.05k for 9.6 d, $884.77 to $1.38k); offline47: the node
    # filled, 8 replicas ($131.82, $110.60 to $172.02, the share's figures, now billed)
    assert m["$ for the job (spot)"] == "$131.82" and m["finishes in (8 replicas)"] == "28.7 h"
    assert m["likely range, $ for the job"] == "$110.60 to $172.02"
    captions = [c.value for c in at.caption]
    assert ("job cost: " + offline_words(ob)).replace("$", "\\$") in captions
    shown = "\n".join(md.value for md in at.markdown)
    assert "- Model accuracy: likely range 24.0 h to 37.4 h" in shown and "- Spot: 0.02 reclaims" in shown


def test_terminal_table_says_what_set_each_options_replicas(chat_screen):
    """budget35 put `bound_by` in the JSON and the review's Options table but not in `planner serve`'s table, where a
    reader sees the replicas: its "set by" column (after "replicas") names throughput / tpot / ttft per row, and is the
    first optional column a narrow terminal leaves out (said under the table)."""
    import re

    from rich.console import Console

    from planner.present.serving import render_serving
    con = Console(record=True, width=320)
    render_serving(con, chat_screen)
    out = con.export_text()
    head = next(line for line in out.splitlines() if "set by" in line)
    cols = [c.strip() for c in re.split("[┃│]", head)]
    j, k = cols.index("set by"), cols.index("replicas")
    assert j == k + 1
    rows = [[c.strip() for c in line.split("│")] for line in out.splitlines() if "│" in line]
    shown = [r[j] for r in rows if len(r) > j and r[1].isdigit()]
    assert shown == [o["bound_by"] or "-" for o in chat_screen["options"][:len(shown)]] and len(shown) >= 3
    narrow = Console(record=True, width=120)
    render_serving(narrow, chat_screen)
    assert "left out on this 120-column terminal: $/1M req batch, set by" in narrow.export_text()
