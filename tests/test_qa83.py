"""QA pass 83: what QA 82 left in the app and the report (docs/qa_log.md, "QA 83"): the serving page's table of the
options that meet the targets (``planner serve``'s), the sensitivity tables' "fits" column (memory only) beside the
job's deadline and budget, and the time-by-cause caption's one number format. Each test fails on the code before."""
from __future__ import annotations

import re

import pytest

from planner import interactive as wi
from app_page import limited_nodes_sweep, open_page, page_text, upload
from conftest import EXAMPLES

pytestmark = pytest.mark.slow  # ~12 CPU s in 7 tests: an xdist worker gets it first (conftest HEAVY_MARKERS; suite55)


@pytest.fixture(scope="module")
def page():
    """One page: each test uploads its own job over the one before."""
    return open_page()


@pytest.fixture(scope="module")
def limited_sweep():
    return limited_nodes_sweep()


def test_the_serving_page_shows_serves_table_of_the_options_that_meet_the_targets(page, cli, monkeypatch):
    """``planner serve`` prints a "serving options (14 meet the targets, 0 do not)" table for the ResNet-50 serving
    example; the page gave the winner, its curve and the options that do not work, never the ones that do. It now
    shows serve's table, its title, headers and cells, from the function the terminal prints it with."""
    path = EXAMPLES / "serving-resnet50.yaml"
    from planner import cli as planner_cli

    monkeypatch.setattr(planner_cli.out, "width", 250)  # a terminal wide enough for the table's headers and names whole
    code, out, err = cli("serve", path)
    assert code == 0, err
    said = page_text(out)
    at = upload(page, path.name, path.read_bytes())
    titles = [h.value for h in at.subheader if h.value.startswith("serving options (")]
    assert titles == ["serving options (14 meet the targets, 0 do not)"], [h.value for h in at.subheader]
    assert titles[0] in said
    frame = next(df.value for df in at.dataframe if list(df.value.columns)[:2] == ["#", "hardware"])
    assert " ".join(frame.columns) in said, (list(frame.columns), said[:2000])
    assert len(frame) == 12  # serve's --top default
    for row in frame.itertuples(index=False):  # each row as the terminal prints it
        assert " ".join(map(str, row)) in said, row
    # the lines under serve's table, under the page's
    captions = [page_text(c.value) for c in at.caption]
    for head in ("ranked by $/h for the QPS", "$/1M req batch: the same option run offline", "prices dated: aws:g6.xlarge"):
        mine = [c for c in captions if c.startswith(head)]
        assert len(mine) == 1 and mine[0] in said, (head, captions)


def test_the_sensitivity_verdicts_say_memory_and_the_jobs_deadline_and_budget(limited_sweep):
    """The sweep's "fits" column was memory alone: a row past the job's deadline or over its budget read "fits yes".
    The report's table and the app's say "fits memory" and, where the job states them, "meets deadline" and "within
    budget", the same cells from one function (``charts.sweep_verdicts``)."""
    from planner.present.report import _sensitivity_table

    job, rec, df = limited_sweep
    nodes = [int(v) for v in df["value"]]
    assert nodes == [1, 2, 4, 8, 16, 32, 64]
    table = _sensitivity_table(df, "nodes", rate="on-demand")
    head = table.columns
    assert "fits" not in head and head[-3:] == ["fits memory", "meets deadline", "within budget"], head
    cells = {int(v): r[-3:] for v, r in zip(df["value"], table.rows)}
    assert all(c[0] == "yes" for c in cells.values())
    assert [n for n, c in cells.items() if c[1] == "NO"] == [1, 2, 4]  # 361.6 h, 181.1 h, 90.9 h > 60 h
    assert [n for n, c in cells.items() if c[2] == "NO"] == [32, 64]  # $20.99k, $22.14k > $20.5k
    shown = wi.sensitivity_display(df, "nodes")
    assert "fits" not in shown.columns
    for col, k in (("fits memory", 0), ("meets deadline", 1), ("within budget", 2)):
        assert list(shown[col]) == [cells[n][k] for n in nodes], col


def test_a_job_without_limits_has_the_memory_column_alone_and_an_impossible_row_says_why():
    """A job that states no deadline or budget gets "fits memory" alone; an impossible layout's reason stood in the
    report's "fits" cell (read as a memory verdict): it has a column of its own, the verdicts "-"."""
    import pandas as pd

    from planner.present.report import _sensitivity_table

    df = pd.DataFrame({"value": [32.0, 64.0], "current": [True, False], "gpus": [256, 0],
                       "step_time_s": [1.74, float("nan")], "hours": [115.2, float("nan")],
                       "cost_ondemand_usd": [2.0e5, float("nan")], "cost_spot_usd": [6e4, float("nan")],
                       "mfu": [0.55, float("nan")], "hfu": [0.58, float("nan")], "mem_gib": [66.1, float("nan")],
                       "fits": [True, False], "meets_deadline": [None, None], "within_budget": [None, None],
                       "note": ["", "global batch 256 is not a multiple of micro_batch x dp"]})
    t = _sensitivity_table(df, "nodes")
    assert t.columns[-2:] == ["fits memory", "note"], t.columns
    assert t.rows[0][-2:] == ["yes", ""] and t.rows[1][-2:] == ["-", df["note"][1]], t.rows
    assert list(wi.sensitivity_display(df, "nodes")["fits memory"]) == ["yes", "-"]


def test_the_report_and_the_page_say_llama3_70bs_64_node_row_misses_the_deadline(page):
    """llama3-70b.yaml (90-day deadline): the nodes sweep's 64-node row read "fits yes" at 309.4 d in the report and
    on the page; both now say "fits memory yes" and "meets deadline NO"."""
    import datetime

    from hardware_catalog import load_catalog
    from planner.present.report import build_report, render_markdown
    from planner.spec import load_job
    from planner.workloads.training import recommend

    path = EXAMPLES / "llama3-70b.yaml"
    job, cat = load_job(path), load_catalog()
    rep = build_report(job, recommend(job, cat), cat, sensitivity_inputs=("nodes",), with_charts=False,
                       today=datetime.date(2026, 12, 6))
    md, _ = render_markdown(rep, "x")
    assert "| nodes | GPUs | step | time to train |" in md
    row = next(line for line in md.splitlines() if line.startswith("| 64 | 512 |"))
    assert re.search(r"\| 309\.4 d \|.*\| yes \| NO \|", row), row
    at = upload(page, path.name, path.read_bytes())
    assert at.radio(key="sens_input").value == "nodes"
    sweep = next(df.value for df in at.dataframe if "fits memory" in df.value.columns)
    r64 = sweep[sweep["nodes"] == "64"].iloc[0]
    assert (r64["fits memory"], r64["meets deadline"]) == ("yes", "NO"), r64
    assert "within budget" not in sweep.columns  # the job states no budget
    # the time-by-cause caption: one number format (each cause a share of the simulated time, said once)
    causes = next(c.value for c in at.caption if c.value.startswith("time by cause"))
    figures = re.findall(r"(?:^|, )[a-z_ ]+ ([^,;]+)", causes.split(": ", 1)[1].split(";")[0])
    assert figures and all(re.fullmatch(r"<0\.1%|\d+\.\d%", f) for f in figures), causes


def test_time_by_cause_reads_in_one_number_format():
    """The caption read "compute 5.53, optimizer 0.000941": three significant figures each, so one cause had two
    decimals and another six. Each cause is its share of the simulated time (``fmt_step_share``, ``planner
    simulate``'s share column), the time said once."""
    text = wi.causes_caption({"compute": 5.53, "data": 0.4, "optimizer": 0.000941})
    assert text == "time by cause, of 5.93 s simulated: compute 93.2%, data 6.7%, optimizer <0.1%", text


def test_estimate_says_its_fits_row_is_memory(cli, tmp_path):
    """``planner estimate``'s "fits" row is the memory verdict, as the sweeps' column now says."""
    code, out, err = cli("estimate", EXAMPLES / "llama3-8b-estimate.yaml")
    assert code == 0, err
    assert re.search(r"fits memory\s+yes \(\d+\.\d GiB of", out), out


#: LIMITED's job (tests/app_page.py) without its deadline and budget, on 8 x p5.48xlarge (EFA, 3,200 Gb/s a node)
_FABRIC_JOB = """
model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, tokens: 1.0e11}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {instance: aws:p5.48xlarge, nodes: 8, fabric: {gbps_per_gpu: 200, family: roce, latency_us: 8}}
"""


def test_the_sidebars_fabric_control_names_the_network(page):
    """fabriclat48: the app had no ``cluster.fabric`` control (the job's own was planned, and nothing could change
    it). An uploaded job's figures start it on "the job file's figures", said among the assumptions; a catalog link
    chosen replaces them, and its Gb/s input is off while a fabric names the network ("instance default", the instance's
    own EFA: tests/test_fabriclat48.py, a third page run saved)."""
    def said(at):
        text = page_text(" ".join(m.value for m in at.markdown))
        return [s for s in ("cluster.fabric (the job's figures): 200 Gb/s per NIC", "cluster.fabric Ethernet-100G: "
                            "100 Gb/s per node") if s in text]

    at = upload(page, "fabric.yaml", _FABRIC_JOB.encode())
    control = at.selectbox(key="w_fabric")
    assert control.value == wi.JOB_FABRIC and control.options[:2] == [wi.INSTANCE_FABRIC, "IB-HDR"]
    assert "Ethernet-100G" in control.options and at.number_input(key="w_inter_node_gbps").disabled
    assert said(at) == ["cluster.fabric (the job's figures): 200 Gb/s per NIC"]
    at = control.set_value("Ethernet-100G").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert said(at) == ["cluster.fabric Ethernet-100G: 100 Gb/s per node"]
