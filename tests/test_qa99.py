"""QA 99: a budget owner's first hour with the README's commands (docs/qa_log.md "QA 99"); each test fails on the code
before its fix."""
from __future__ import annotations

import io

from rich.console import Console


def _text(table, width: int) -> str:
    con = Console(file=io.StringIO(), width=width, color_system=None)
    con.print(table)
    return con.file.getvalue()


# ---- 1. `planner catalog onprem` at 100 columns left its unit column out ---------------------------------------------
# the table was 70 columns wide: a column that wraps (unit, payment) was counted at its longest cell, so "150" (USD per
# kW per month) and "10.2" (kW per node) were shown without units; the commitments table hid payment ("upfront
# reservation fee" vs "no upfront") the same way
def test_a_wrapping_column_is_kept_where_its_words_fit():
    from hardware_catalog import load_catalog
    from hardware_catalog.tables import format_commitments_table, format_onprem_table

    cat = load_catalog()
    onprem = format_onprem_table(cat, width=100)
    assert [c.header for c in onprem.columns] == ["key", "value", "unit", "basis", "price date"]
    text = _text(onprem, 100)
    assert "USD per kW per" in text and max(len(line) for line in text.splitlines()) <= 100
    # narrower, the price date goes before the unit: a value without its unit says nothing
    assert [c.header for c in format_onprem_table(cat, width=80).columns] == ["key", "value", "unit", "basis"]
    heads = [c.header for c in format_commitments_table(cat, width=100).columns]
    assert "payment" in heads, heads


# ---- 2. `planner recommend` at 100 columns folded the instance name and cut headers ---------------------------------
# Llama-3-8B's table printed "aws:p5.48" / "xlarge" on two lines; Qwen3-30B-A3B's (an "a2a overlap" column more) cut
# its header to "mem/l…" and folded "aws:p5." / "48xlarg" / "e" over three. The free and $/1M columns now give way
# first, and a line names them
def test_recommend_leaves_out_derivable_columns_before_it_folds_the_instance_name(cli, tmp_path):
    import json

    from conftest import write_job

    from planner.present.terminal import render_recommendation

    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "training": {"seq_len": 8192, "global_batch": 256, "tokens": 1e12},
                               "parallel": {"tp": 2, "pp": 1, "zero": 1},
                               "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}})
    code, out, err = cli("recommend", job, "--json", "--no-simulate")
    assert code == 0, err
    res = json.loads(out)

    def shown(width: int) -> str:
        con = Console(file=io.StringIO(), width=width, color_system=None)
        render_recommendation(con, res, 10)
        return con.file.getvalue()

    narrow = shown(100)
    rows = [line for line in narrow.splitlines() if line.startswith("│")]
    assert "aws:p5.48xlarge" in rows[0], narrow[:1500]
    assert "left out on this 100-column terminal: free" in narrow
    assert "…" not in "".join(line for line in narrow.splitlines() if line.startswith("┃"))
    wide = shown(200)  # where everything fits, nothing is left out
    assert "┃ free ┃" in wide and "$/1M tok" in wide and "left out" not in wide


# ---- 3. "limits:" named attention (or the memory-bound kernels) on a plan computing 97% of its step -----------------
# `planner estimate examples/llama3-8b-estimate.yaml`: "limits  attention compute: 17% of the step (GEMMs 74%)" beside a
# breakdown of 97.6% compute and 2.4% communication; the report's Risks put it as "Limits now: attention compute"
def test_a_plan_computing_all_but_a_few_percent_is_called_compute_bound():
    from types import SimpleNamespace

    from planner.search.explain import bottleneck_line

    hw = SimpleNamespace(gpus_per_node=8, inter_node_bw=400e9 / 8, intra_bw=450e9, network_assumed=False,
                         nvlink_topology="switch", gpu=SimpleNamespace(name="H100-SXM-80GB", intra_node_link="NVLink4"))

    def line(comm_tp: float) -> str:
        bd = dict(compute_gemm=7.8, compute_attention=1.4, compute_memory_bound=0.6, comm_tp=comm_tp, comm_dp=0.0)
        res = dict(breakdown_s=bd, step_time_s=sum(bd.values()), mfu=0.56, hardware=dict(nodes=2),
                   config=dict(tp=2, dp=8))
        return bottleneck_line(res, hw)

    assert line(0.2) == "compute-bound: GEMMs 78%, attention 14%, memory-bound kernels 6% of the step; MFU 56%"
    # an overhead of 5% or more is still what limits (guard: as before)
    assert line(0.6).startswith("exposed tensor-parallel all-reduce over NVLink4"), line(0.6)


# ---- 4. `--objective`'s help named the choices, not what holds without the flag -------------------------------------
def test_objective_help_says_the_jobs_own_objective_is_the_default(cli):
    for command in ("recommend", "compare", "report"):
        code, out, err = cli(command, "--help")
        assert code == 0, err
        assert "constraints.objective" in " ".join(out.replace("│", " ").split()), (command, out)


# ---- 5. serve's options table: a simulated row's TTFT read 272 ms above a simulated p99 of 408 ms, unexplained -------
def test_serve_ranking_line_says_whose_latencies_a_simulated_row_shows():
    from types import SimpleNamespace

    from planner.workloads.serving import _ranking

    options = [SimpleNamespace(usd_per_hr=13.03, usd_per_million_requests_offline=None, simulated={"ttft_p99_ms": 408})]
    line = _ranking(options, realtime=True, qps=True, simulated=True, candidates=4)
    words = "A sim row's TPOT and TTFT are the analytic screen's at its simulated replicas and token budget"
    assert words in line, line
    assert "simulated table" in _ranking(options, True, True, True, 4)
    # offline rows carry no latency target: no such sentence
    assert "TTFT" not in _ranking(options, realtime=False, qps=False, simulated=True, candidates=4)
