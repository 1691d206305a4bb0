"""catalog40: the catalog a user passes is the one every command reads, the clock reference row included.

GB200's and GB300's sustained clocks are read off the HGX B200 row (``physics.SUSTAINED_CLOCK_OF``); until catalog40
that row came from the shipped catalog whatever ``--catalog`` said, so a user who re-peaked the B200 moved B200 plans
and left the GB200 plans scaled from the shipped B200. Each test fails on the code before (docs: README "Catalog")."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import answered, write_job
from hardware_catalog import load_catalog
from hardware_catalog.catalog import DATA_DIR

B200 = "B200-SXM-180GB"
GB200_JOB = {"model": {"preset": "llama3-8b"},
             "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16", "tokens": 1e10},
             "parallel": {"tp": 1, "pp": 1}, "cluster": {"gpu": "GB200", "gpus_per_node": 4, "nodes": 2}}


@pytest.fixture(scope="module")
def edited(tmp_path_factory) -> Path:
    """A copy of the shipped ``gpus.csv`` (the catalog's GPU table) with one peak changed: the HGX B200's dense BF16
    2,250 -> 1,800 TFLOP/s."""
    rows = list(csv.DictReader((DATA_DIR / "gpus.csv").open(newline="")))
    row = next(r for r in rows if r["name"] == B200)
    assert float(row["bf16_tflops"]) == 2250
    row["bf16_tflops"] = "1800"
    path = tmp_path_factory.mktemp("catalog") / "gpus.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _job(tmp_path, cluster=None, name="job.yaml"):
    job = {k: dict(v) for k, v in GB200_JOB.items()}
    job["cluster"] = cluster or job["cluster"]
    return str(write_job(tmp_path, job, name))


def test_the_clock_reference_is_the_catalog_in_use_row(edited):
    """``GPU.clock_reference`` is the row of the catalog that built the part (GB300 -> GB200 -> B200, each as that
    catalog has it), and the sustained clock moves with it: the shipped 0.940 of GB200's quoted peak (1.044 x 2250 /
    2500) becomes 1.044 x 1800 / 2500 = 0.752; a part with no reference (H100) keeps 1."""
    from planner.model import physics

    shipped, mine = load_catalog(), load_catalog([edited])
    assert mine.gpu("GB200").clock_reference.peak("bf16") == 1800e12
    assert mine.gpu("GB300").clock_reference.clock_reference.peak("bf16") == 1800e12
    assert physics.sustained_clock(shipped.gpu("GB200")) == pytest.approx(1822 / 1745 * 2250 / 2500)
    assert physics.sustained_clock(mine.gpu("GB200")) == pytest.approx(1822 / 1745 * 1800 / 2500)
    assert physics.sustained_clock(mine.gpu("GB300")) == physics.sustained_clock(mine.gpu("GB200"))
    assert physics.sustained_clock(mine.gpu("H100")) == physics.sustained_clock(shipped.gpu("H100")) == 1.0
    # GB200's own row is untouched: its datasheet peak (MFU's denominator) stays the shipped one
    assert mine.gpu("GB200").peak("bf16") == shipped.gpu("GB200").peak("bf16") == 2500e12


def test_estimate_simulate_recommend_report_read_the_edited_reference(cli, tmp_path, edited):
    """The GB200 plan's step time moves by the clock's ratio (0.940 -> 0.752: 1.25x on a compute-bound step) in
    ``estimate``, ``simulate``, ``recommend`` and ``report``; an H100 plan does not move; MFU stays over GB200's
    own (unchanged) datasheet peak; ``serve`` and ``catalog`` as below."""
    job = _job(tmp_path)
    base = answered(cli("estimate", job, "--json"))
    mine = answered(cli("estimate", job, "--json", "--catalog", str(edited)))
    ratio = mine["step_time_s"] / base["step_time_s"]
    assert 1.15 < ratio < 1.26
    assert mine["mfu"] == pytest.approx(base["mfu"] / ratio)

    sim = [answered(cli("simulate", job, "--json", *c))["step_time_s"]["mean"] for c in ((), ("--catalog", str(edited)))]
    assert sim[1] / sim[0] == pytest.approx(ratio, rel=1e-3)

    rec = [answered(cli("recommend", job, "--json", "--top", "1", "--no-simulate", *c))["best"]["step_time_s"]
           for c in ((), ("--catalog", str(edited)))]
    assert rec[1] / rec[0] == pytest.approx(ratio, rel=1e-3)

    rows = []
    for i, c in enumerate(((), ("--catalog", str(edited)))):
        out = tmp_path / f"r{i}.md"
        code, _, err = cli("report", job, "-o", str(out), "--no-simulate", "--top", "1", *c)
        assert code == 0, err
        rows.append(next(l for l in out.read_text().splitlines() if l.startswith("| step time |")))
    assert rows == [f"| step time | {base['step_time_s']:.2f} s |", f"| step time | {mine['step_time_s']:.2f} s |"]

    h100 = _job(tmp_path, {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}, "h100.yaml")
    assert (answered(cli("estimate", h100, "--json"))["step_time_s"]
            == answered(cli("estimate", h100, "--json", "--catalog", str(edited)))["step_time_s"])
    _serve_and_catalog_read_the_edited_row_only_where_it_is(cli, tmp_path, edited)


def _serve_and_catalog_read_the_edited_row_only_where_it_is(cli, tmp_path, edited):
    """``serve`` prices the B200 options at the edited peak (their TPOT rises) and the H100 options as before;
    ``catalog gpus`` lists the edited B200 and the shipped GB200 (its row is not the one edited)."""
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 40, "prompt_tokens": 800,
                                           "output_tokens": 200, "max_batch": 256, "precision": "bf16"},
                               "constraints": {"gpus": ["H100-SXM-80GB", B200]}}, "serve.yaml")
    tpot = [{(o["hardware"], o["tp"]): o["tpot_ms"] for o in answered(cli("serve", str(job), "--json", "--no-simulate",
                                                                          *c))["options"]}
            for c in ((), ("--catalog", str(edited)))]
    assert tpot[0].keys() == tpot[1].keys()
    b200 = [k for k in tpot[0] if "b200" in k[0]]
    h100 = [k for k in tpot[0] if "h100" in k[0]]
    assert b200 and h100
    assert all(tpot[1][k] > tpot[0][k] for k in b200)
    assert all(tpot[1][k] == tpot[0][k] for k in h100)

    rows = {r["name"]: r for r in answered(cli("catalog", "gpus", "--json", "--catalog", str(edited)))}
    assert rows[B200]["bf16_tflops"] == 1800 and rows["GB200-B200"]["bf16_tflops"] == 2500


def test_the_app_reads_the_catalog_it_is_given(edited, monkeypatch):
    """The app's catalog is ``$PLANNER_CATALOG``'s (``interactive.cached_catalog``): its pinned GB200 estimate moves as
    ``estimate --catalog`` does."""
    from planner import interactive as wi
    from planner.spec import load_job_dict

    job = load_job_dict(GB200_JOB)
    base = wi.estimate_if_pinned(job, load_catalog())["step_time_s"]
    monkeypatch.setenv("PLANNER_CATALOG", str(edited))
    mine = wi.estimate_if_pinned(job, load_catalog())["step_time_s"]  # the loader ``cached_catalog`` caches
    assert 1.15 < mine / base < 1.26
