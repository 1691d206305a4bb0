"""QA 59 (session 59): a hostile user's sweep -- a kill or a closed terminal during a write, catalog text a spreadsheet
runs as a formula, a prefill-decode split that misses its targets called cheaper, a GPU row with no peak refusing a
whole `serve`. Each defect with the check that failed before its fix (docs/qa_log.md, "qa59 (session 59)")."""
from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import answered, refused, write_job

ROOT = Path(__file__).resolve().parents[1]

# a planner command run in its own process, the signal sent by the process itself at a fixed point of its write:
# `at` is the Python that patches that point (``hook()`` sends the signal), so nothing depends on timing
SIGNALLED = """
import os, signal, sys
sys.argv = ['planner'] + {args!r}
import planner.cli as cli, planner.outputs as outputs
def hook():
    os.kill(os.getpid(), signal.{sig})
{at}
cli.main()
"""

# after the first block of `recommend --csv` is written: the next block is still being made
AFTER_FIRST_BLOCK = """
made = cli._ranked_csv_parts
def parts(*a, **k):
    for p in made(*a, **k):
        yield p
        hook()
cli._ranked_csv_parts = parts
"""

# after the second file's bytes of a report (a chart in the new `<name>_files/` staged under a temporary name)
AFTER_SECOND_FILE = """
write_all, n = outputs._write_all, [0]
def wrote(fd, data):
    write_all(fd, data)
    n[0] += 1
    if n[0] == 2:
        hook()
outputs._write_all = wrote
"""


def _signalled(args: list, sig: str, at: str) -> subprocess.CompletedProcess:
    code = SIGNALLED.format(args=[str(a) for a in args], sig=sig, at=textwrap.dedent(at))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_a_kill_during_recommend_csv_leaves_the_old_file_and_no_partial_one(tmp_path):
    """SIGTERM (`kill`, `timeout`, `scancel`, `docker stop`) ends Python without running a `finally`: a `recommend --csv
    plans.csv --force` killed between two blocks left `.plans.csv.<random>.tmp`, the partial CSV, beside the untouched
    old file. The write now takes the signal as an interrupt: the partial file is removed, the old one stays, and the
    one line says so, exit 143 (128 + SIGTERM, as a shell reports it)."""
    out = tmp_path / "plans.csv"
    out.write_text("mine\n")
    r = _signalled(["recommend", ROOT / "examples" / "llama3-8b-estimate.yaml", "--no-simulate", "--top", "1",
                    "--csv", out, "--force"], "SIGTERM", AFTER_FIRST_BLOCK)
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: interrupted (SIGTERM)", r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plans.csv"]
    assert out.read_text() == "mine\n"


def test_a_hang_up_during_a_report_leaves_no_chart_folder(tmp_path):
    """SIGHUP (the terminal closed) while a Markdown report's new chart folder was filled left
    `.r_files.<random>.tmp/`, owner-only, in the user's folder. Now nothing of the report is left, exit 129."""
    r = _signalled(["report", ROOT / "examples" / "llama3-8b-estimate.yaml", "-o", tmp_path / "r.md"], "SIGHUP",
                   AFTER_SECOND_FILE)
    assert r.returncode == 128 + signal.SIGHUP, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: interrupted (SIGHUP)", r.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_write_takes_a_kill_only_while_it_runs(tmp_path, monkeypatch):
    """While files are written SIGTERM raises (so the cleanup runs); before and after, the process's handler is as it
    was: the default, or one a program set itself (kept: never replaced)."""
    from planner import outputs

    seen = []
    write_all = outputs._write_all

    def wrote(fd, data):
        seen.append(signal.getsignal(signal.SIGTERM))
        write_all(fd, data)

    monkeypatch.setattr(outputs, "_write_all", wrote)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    outputs.write_text(tmp_path / "a.csv", "a\n", "--csv")
    assert seen and seen[0] not in (signal.SIG_DFL, signal.SIG_IGN)
    with pytest.raises(outputs.Terminated):
        seen[0](signal.SIGTERM, None)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def own(signum, frame):
        pass

    old = signal.signal(signal.SIGTERM, own)
    try:
        outputs.write_text(tmp_path / "b.csv", "b\n", "--csv")
        assert seen[-1] is own and signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, old)


FORMULA_CATALOG = """
gpus:
  - {name: "@SUM(1+1)", vendor: NVIDIA, memory_gib: 80, hbm_bw_tbps: 3.35, bf16_tflops: 989, source: me}
instances:
  - {cloud: "=cmd", name: "+x8", gpu: H100-SXM-80GB, gpu_count: 8, fabric: infiniband, cluster: true,
     network_gbps: 3200, price_ondemand_usd_hr: 30, source: me}
"""


def test_a_catalog_name_a_spreadsheet_runs_as_a_formula_is_refused(cli, tmp_path):
    """An override instance `+x8` on a cloud `=cmd` was planned and written into `recommend --csv` as the cells
    `=cmd:+x8` and `=cmd` (a GPU `@SUM(1+1)` as its `gpu` cell): Excel, LibreOffice and Sheets run a cell beginning with
    =, +, - or @ as a formula when the CSV is opened (OWASP "CSV Injection"). Every text cell of a catalog row is now
    refused at load, before anything is planned or written."""
    cat = write_job(tmp_path, FORMULA_CATALOG, "cat.yaml")
    job = write_job(tmp_path, "model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 64, tokens: 1.0e9}\n"
                              "constraints: {instances: ['=cmd:+x8'], max_gpus: 16}\n")
    line = refused(cli("recommend", job, "--catalog", cat, "--no-simulate", "--csv", tmp_path / "plans.csv"))
    assert line.startswith("error: catalog override cat.yaml: gpus[0].name: must not begin with '@' (a spreadsheet "
                           "opening a CSV the planner writes runs a cell beginning with =, +, - or @ as a formula)"), line
    assert not (tmp_path / "plans.csv").exists()
    rows = tmp_path / "rows.csv"
    rows.write_text("cloud,name,gpu,gpu_count,fabric,cluster,network_gbps,price_ondemand_usd_hr,source,notes\n"
                    "onprem,ok8,H100-SXM-80GB,8,infiniband,true,3200,30,me,-2+3+cmd|' /C calc'!A0\n")
    line = refused(cli("catalog", "instances", "--catalog", rows, "--csv"))
    assert "rows.csv: instances[0].notes: must not begin with '-'" in line, line


_FORMULA = st.sampled_from(["=", "+", "-", "@", "", "a", " =", "'="])
_TEXT = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "S")), max_size=12)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=st.sampled_from(["cloud", "name", "region", "source", "notes", "network_source"]), start=_FORMULA,
       rest=_TEXT)
def test_fuzz_no_catalog_csv_cell_a_spreadsheet_runs(cli, tmp_path, column, start, rest):
    """A private catalog row's text cell, drawn to begin with a formula character or not, through `planner catalog
    instances --csv`: refused in one line (exit 2), or listed with no text cell that begins with =, +, - or @ (a number
    cell may be negative); never an internal error. Failed before the fix: `name: =a` was listed as `onprem:=a`'s
    row, its cells `=a`."""
    row = dict(cloud="onprem", name="fz8", gpu="H100-SXM-80GB", gpu_count="8", fabric="infiniband", cluster="true",
               network_gbps="3200", price_ondemand_usd_hr="30", source="me", notes="", region="", network_source="")
    row[column] = start + rest
    path = tmp_path / "fz.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
    code, out, err = cli("catalog", "instances", "--catalog", path, "--csv")
    if code == 2:
        refused((code, out, err))
        return
    assert code == 0, err
    for cells in csv.reader(io.StringIO(out)):
        for c in cells:
            try:
                float(c)
            except ValueError:
                assert c[:1] not in ("=", "+", "-", "@"), (column, c)


SPLIT = """
model: {preset: llama3-8b}
serving: {p99_latency_ms: 50, ttft_ms: 1000, qps: 40, prompt_tokens: 800, output_tokens: 200,
          disaggregation: {prefill: 1, decode: 1}}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB]}
"""


def test_a_split_that_misses_the_targets_is_not_called_cheaper(cli, tmp_path):
    """A job's own 1 + 1 prefill-decode split at 40 QPS: one prefill replica cannot keep up (the screen's p99 TTFT is
    infinite), yet the plan said "p99 TTFT inf ms" and "$13.76/h against the colocated 3 TP1 replicas (3 GPUs)
    $20.64/h: disaggregated is cheaper". `cheaper` now compares plans at the targets: the split misses them, so the
    colocated fleet is the plan (`meets_targets` false), and an infinite p99 reads "unbounded"."""
    job = write_job(tmp_path, SPLIT)
    d = answered(cli("serve", job, "--no-simulate", "--json"))["disaggregation"]
    assert d["meets_targets"] is False and d["cheaper"] == "colocated", d
    assert d["usd_per_hr"] < d["colocated_usd_per_hr"]  # the split's $/h is lower: what the old verdict read
    code, out, err = cli("serve", job, "--no-simulate")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "inf ms" not in flat and "disaggregated is cheaper" not in flat, flat
    assert ("screen 1 + 1, p99 TTFT unbounded" in flat and "the split misses the targets, so the colocated fleet is "
            "the plan that meets them") in flat, flat


NO_PEAK = """
gpus:
  - {name: NoPeak-GPU, vendor: NVIDIA, memory_gib: 80, hbm_bw_tbps: 3.35, source: me}
instances:
  - {cloud: onprem, name: np8, gpu: NoPeak-GPU, gpu_count: 8, fabric: infiniband, cluster: true, network_gbps: 3200,
     price_ondemand_usd_hr: 30, source: me}
"""


def test_a_gpu_row_with_no_peak_is_left_out_of_serve(cli, tmp_path):
    """A private GPU row quoting no peak (each peak column is optional) among `constraints.instances` refused the whole
    `serve` ("error: serving.precision: NoPeak-GPU has no bf16, bf16 or fp16 peak in the catalog") where `recommend`
    left it out and planned on the others. It is left out and said; alone, the refusal names it once per dtype."""
    cat = write_job(tmp_path, NO_PEAK, "cat.yaml")
    both = write_job(tmp_path, "model: {preset: llama3-8b}\nserving: {qps: 1, p99_latency_ms: 100}\n"
                               "constraints: {instances: ['onprem:np8', 'aws:p5.48xlarge']}\n")
    plan = answered(cli("serve", both, "--catalog", cat, "--no-simulate", "--json"))
    assert plan["best"]["hardware"] == "aws:p5.48xlarge"
    assert "left out (serving.precision): no bf16 or fp16 peak in the catalog: NoPeak-GPU" in plan["assumptions"]
    alone = write_job(tmp_path, "model: {preset: llama3-8b}\nserving: {qps: 1, p99_latency_ms: 100, precision: fp8}\n"
                                "constraints: {instances: ['onprem:np8']}\n", "alone.yaml")
    line = refused(cli("serve", alone, "--catalog", cat, "--no-simulate"))
    assert line == ("error: serving.precision: no option here has a peak to compute at: no fp8, bf16 or fp16 peak in "
                    "the catalog: NoPeak-GPU (give the GPU's peaks in its catalog row)"), line


OFFLINE = """
model: {preset: llama3-8b}
serving: {mode: batch, requests: %s, prompt_tokens: 800, output_tokens: 200}
constraints: {clouds: [aws], gpus: [H100-SXM-80GB]}
"""


def test_an_offline_job_counts_whole_requests(cli, tmp_path):
    """`serving.requests: 2.5` was planned: "2.5 requests" in the header, batch 3 in the sizing, "$0.0036 for 2
    requests" in the cost. A request count is a whole number (5.0e6 still reads 5,000,000), and one request is "1
    request", not "1 requests"."""
    line = refused(cli("serve", write_job(tmp_path, OFFLINE % "2.5"), "--no-simulate"))
    assert line == "error: serving.requests: must be a whole number, got 2.5", line
    plan = answered(cli("serve", write_job(tmp_path, OFFLINE % "5.0e6", "big.yaml"), "--no-simulate", "--json"))
    assert plan["offline_budget"]["requests"] == 5_000_000
    code, out, err = cli("serve", write_job(tmp_path, OFFLINE % "1", "one.yaml"), "--no-simulate")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "for 1 request (1 replica for" in flat and "1 requests" not in flat, flat


@pytest.mark.parametrize("taken", ["file", "link", "long"])
def test_a_markdown_reports_chart_folder_is_checked_before_the_search(cli, tmp_path, monkeypatch, taken):
    """`report -o r.md` beside a file `r_files`, a link `r_files -> /data/charts` (no --force) or with a stem whose
    `_files` runs past the file system's 255-byte name: each was refused only once the report was built (a search,
    its simulations, the charts), by the write. Now before the search, in the words the write used."""
    from planner.present import report

    def built(*a, **k):
        raise AssertionError("the report was built before its chart folder was checked")

    monkeypatch.setattr(report, "report_for_job", built)
    stem = "r" * 250 if taken == "long" else "r"
    if taken == "file":
        (tmp_path / "r_files").write_text("mine")
    elif taken == "link":
        (tmp_path / "charts").mkdir()
        (tmp_path / "r_files").symlink_to(tmp_path / "charts")
    line = refused(cli("report", ROOT / "examples" / "llama3-8b-estimate.yaml", "-o", tmp_path / f"{stem}.md"))
    assert line.endswith({"file": "r_files: exists and is not a folder",
                          "link": "refusing to replace it (give --force to replace the link itself, its target "
                                  "untouched, or another name)",
                          "long": "r_files: name too long"}[taken]), line
    assert not (tmp_path / f"{stem}.md").exists()
