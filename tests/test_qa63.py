"""QA 63: a user's pass over simulate, calibrate, catalog, report and the app (docs/qa_log.md "QA 63"). One test per
defect fixed, each failing on the code before it."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from conftest import EXAMPLES, ROOT, answered

#: Llama-3-8B at a 500 W site limit over AWS (as QA 62's power-limited search), small enough for a quick search
POWER_JOB = """model: {preset: llama3-8b}
training: {seq_len: 8192, global_batch: 256, micro_batch: 1, precision: bf16, optimizer: adamw, tokens: 1.0e11}
parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}
cluster: {power_limit_w: 500}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB, A100-SXM-40GB], max_gpus: 16}
"""


def _data_bound_best(nodes: int) -> dict:
    """A recommended plan whose step the simulator re-timed (data-bound, as ResNet-50 reading JPEGs from S3): 2.568 s
    simulated, 188.9 ms analytic, the stall the difference."""
    return {"hardware": {"nodes": nodes, "inter_node_gbps": 3200, "network_assumed": False, "multi_node": True},
            "step_time_s": 2.568, "simulated": {"analytic_step_time_s": 0.1889, "step_time_s": 2.568},
            "breakdown_s": {"compute_gemm": 0.0498, "compute_memory_bound": 0.1382, "comm_dp": 0.0006,
                            "data_stall": 2.379}}


def _sweep(values, steps, current) -> pd.DataFrame:
    """A sensitivity sweep (``workloads.sensitivity``): analytic rows, one the current value."""
    return pd.DataFrame([{"value": float(v), "current": v == current, "note": "", "step_time_s": s,
                          "breakdown": {"compute_gemm": s * 0.26, "compute_memory_bound": s * 0.73,
                                        "comm_dp": s * 0.01}} for v, s in zip(values, steps)])


def test_report_risks_compare_a_data_bound_plan_with_its_analytic_sweep_row():
    """The ResNet-50 files report's risks read "at 2 nodes, memory-bound kernels ... grows from 5.4% to 73% of the step
    (step 2.57 s -> 95.3 ms, 1348% scaling efficiency)": the simulated step set against the node sweep's analytic
    2-node row. Both sides are now the sweep's (analytic) rows, said so; the network line likewise (it read -94%)."""
    from planner.present.report import _network_risk, _next_bottleneck

    nxt = _next_bottleneck(_data_bound_best(1), _sweep([1, 2, 4], [0.1889, 0.0953, 0.0485], 1))
    pct = [int(p) for p in re.findall(r"(\d+)% scaling efficiency", nxt)]
    assert pct and pct[0] <= 100, nxt
    assert "188.9 ms -> 95.3 ms" in nxt and "simulated data-loading stall is left out" in nxt, nxt
    net = _network_risk(_data_bound_best(2), {}, _sweep([1600, 3200], [0.0956, 0.0953], 3200))
    assert "+0.3% (95.6 ms vs 95.3 ms" in net, net
    # a plan the simulator did not re-time keeps its own step as the basis, unchanged words
    best = dict(_data_bound_best(1), simulated=None, step_time_s=0.1889)
    assert "stall" not in _next_bottleneck(best, _sweep([1, 2], [0.1889, 0.0953], 1))


def test_simulate_whole_run_ratio_is_of_the_times_it_prints(cli):
    """resnet50-eval-cadence.yaml: "the run takes 106.3 min, where estimate's 0.1889 s step gives 53.1 min (2.40x)":
    the ratio was of step times while both run times hold the evaluation passes (2.00x apart). It is now the ratio of
    the two times, estimate's words naming its evaluation."""
    code, out, err = cli("simulate", EXAMPLES / "resnet50-eval-cadence.yaml", "--no-answers", "--steps", "400")
    assert code == 0, err
    flat = " ".join(out.split())
    m = re.search(r"the run takes ([\d.]+) min, where estimate's [\d.]+ s step and [\d.]+ min of evaluation give "
                  r"([\d.]+) min \(([\d.]+)x\)", flat)
    assert m, flat
    run, est, ratio = map(float, m.groups())
    assert ratio == pytest.approx(run / est, abs=0.011), m.group(0)


def test_simulate_whole_run_names_estimates_checkpoint_and_failure_time(cli, tmp_path):
    """A checkpointed job with node failures: the simulation plays both, and its run time was set against estimate's
    78.4 d without them (1.49x) while estimate prints 129.8 d with them. Estimate's expected time is now given and the
    ratio taken against it."""
    job = tmp_path / "ck.yaml"
    job.write_text(POWER_JOB.split("cluster:")[0] + "cluster: {instance: aws:p5.48xlarge, nodes: 2}\n"
                   "checkpoint: {every_steps: 100, write_gbps: 5, mtbf_hours_per_node: 2, restart_minutes: 10}\n")
    code, out, err = cli("simulate", job, "--no-answers", "--steps", "200")
    assert code == 0, err
    flat = " ".join(out.split())
    m = re.search(r"the run takes ([\d.]+) d, where estimate's [\d.]+ s step gives [\d.]+ d, ([\d.]+) d with "
                  r"checkpoint pauses and node failures(?: \(([\d.]+)x\))?", flat)
    assert m, flat
    if m.group(3):
        assert float(m.group(3)) == pytest.approx(float(m.group(1)) / float(m.group(2)), abs=0.011)


def test_compare_table_says_each_rows_watts(cli, tmp_path):
    """`compare --by gpu` under cluster.power_limit_w: the JSON rows had the watts (QA 62), the table none, so an H100
    held at 500 of its 700 W read as a full-power row. Its hardware cell now says "at 500 W", as recommend's table
    does; the A100 at its rated 400 W says nothing."""
    job = tmp_path / "pw.yaml"
    job.write_text(POWER_JOB.replace("parallel: {tp: 2, pp: 1, cp: 1, zero: 1, sequence_parallel: true}\n", ""))
    code, out, err = cli("compare", job, "--by", "gpu")
    assert code == 0, err
    rows = {ln.split("│")[1].strip(): ln for ln in out.splitlines() if ln.count("│") > 5}
    assert "at 500 W" in rows["H100-SXM-80GB"], out
    assert " W " not in rows["A100-SXM-40GB"], out
    js = answered(cli("compare", job, "--by", "gpu", "--json"))
    h100 = next(r for r in js if r.get("gpu") == "H100-SXM-80GB")
    assert (h100["power_limit_w"], h100["rated_power_limit_w"]) == (500, 700)


def test_recommend_csv_has_the_power_limit_where_the_job_sets_one(cli, tmp_path):
    """`recommend --csv` under cluster.power_limit_w had no word of it (QA 62 left it). A `power_limit_w` column, each
    row's GPU at the lower of the job's limit and its rated one, now comes before price_date where the job sets a
    limit; without one the columns are as before."""
    job = tmp_path / "pw.yaml"
    job.write_text(POWER_JOB)
    out = tmp_path / "r.csv"
    code, _, err = cli("recommend", job, "--csv", out)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    head = list(rows[0])
    assert head[-3:] == ["power_limit_w", "price_date", "price_basis"], head
    watts = {(r["gpu"], float(r["power_limit_w"])) for r in rows}
    assert watts == {("H100-SXM-80GB", 500.0), ("A100-SXM-40GB", 400.0)}, watts
    job.write_text(POWER_JOB.replace("cluster: {power_limit_w: 500}\n", ""))
    code, _, err = cli("recommend", job, "--csv", out, "--force")
    assert code == 0, err
    assert "power_limit_w" not in out.read_text().splitlines()[0]


def test_offline_serve_job_cost_names_the_region(cli, tmp_path):
    """An offline (batch) job under constraints.regions: the real-time "per month:" line ends "; prices in us-east-1
    (constraints.regions)" (QA 61), the offline "job cost:" line named no region and --json's offline_budget had no
    price_region."""
    job = tmp_path / "batch.yaml"
    job.write_text((EXAMPLES / "serving-batch-llama3-8b.yaml").read_text()
                   .replace("spot: true}", "spot: true, regions: [us-east-1]}")
                   .replace("gpus: [H100-SXM-80GB, L4-24GB, A10G-24GB, L40S-48GB]", "gpus: [L40S-48GB]"))
    code, out, err = cli("serve", job, "--no-simulate")
    assert code == 0, err
    line = " ".join(out.split()).split("job cost:")[1].split("prices dated:")[0]
    assert "; prices in us-east-1 (constraints.regions)" in line, line
    js = answered(cli("serve", job, "--no-simulate", "--json"))
    assert js["offline_budget"]["price_region"] == "us-east-1"


def test_app_caption_counts_one_configuration():
    """The app's caption read "1 configurations evaluated" for a fixed layout (QA 62 left it)."""
    AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    data = (EXAMPLES / "llama3-8b-estimate.yaml").read_bytes()
    at.file_uploader(key="upload").set_value(("llama3-8b-estimate.yaml", data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    caps = [c.value for c in at.caption if "evaluated" in c.value]
    assert caps and "1 configuration evaluated" in caps[0], caps


def test_catalog_gpus_csv_reads_back_unchanged(cli, tmp_path):
    """`catalog gpus --csv` wrote MI250X's PCIe fallback (32 GB/s) as its intra-node rate, which its row leaves empty
    (the Infinity Fabric aggregate is unverified), so the file read back as an override said "GPU MI250X-128GB:
    intra_node_gbps_per_dir - -> 32". The CSV now holds the row's own value (empty) and the table marks the fallback."""
    code, out, err = cli("catalog", "gpus", "--csv")
    assert code == 0, err
    f = tmp_path / "gpus.csv"
    f.write_text(out)
    code, _, err = cli("catalog", "gpus", "--catalog", f)
    assert code == 0, err
    assert not [ln for ln in err.splitlines() if "->" in ln], err
    row = next(r for r in csv.DictReader(io.StringIO(out)) if r["name"] == "MI250X-128GB")
    assert row["intra_node_gbps_per_dir"] == ""
    code, out, err = cli("catalog", "gpus")
    assert code == 0, err
    assert "32 (PCIe)" in next(ln for ln in out.splitlines() if "MI250X" in ln)


def test_scenarios_launch_blocks_are_the_commands_output(cli):
    """docs/scenarios.md held a hand-kept Slurm / PyTorchJob pair of an older plan ($195.5k where the command prints
    $207.2k) without the PyTorchJob's runPolicy restart limit (follow41). The blocks are now `$ planner ...` commands
    with their real output (refreshed by docs/refresh_outputs.py), and match what the command prints."""
    text = (ROOT / "docs" / "scenarios.md").read_text()
    blocks = re.findall(r"```(?:yaml)?\n(.*?)```", text, re.S)
    launch = [b for b in blocks if "# planner plan:" in b]
    assert launch and all(b.startswith("$ planner recommend ") for b in launch), [b[:80] for b in launch]
    k8s = next(b for b in launch if "--emit k8s" in b.splitlines()[0])
    code, out, err = cli("recommend", EXAMPLES / "llama3-8b-estimate.yaml", "--emit", "k8s")
    assert code == 0, err
    assert k8s.splitlines()[1] == out.splitlines()[0], (k8s.splitlines()[1], out.splitlines()[0])
    assert "runPolicy:" in k8s and "backoffLimit:" in k8s
