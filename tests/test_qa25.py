"""QA pass 25: the money side of a budget review (recommend's cost columns, estimate, report, the catalog's
commitments and the campaign comparison) read as an ML infra lead would — each defect with the check that failed
before its fix."""
from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import flat, write_job
from planner.spec import load_job_dict

LLAMA8 = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e11}}


def _report_md(job: dict, catalog) -> str:
    from planner.present.report import render_markdown, report_for_job

    rep, _ = report_for_job(load_job_dict(job), catalog, top=1, simulate=False, job_name="qa25")
    return render_markdown(rep, "qa25_files")[0]


# ---- defect 1: a commitment set against another region's on-demand rate, with nothing saying so --------------------
# gcp:a3-megagpu-8g's 1-/3-year terms are us-east4 prices (commitments.csv), its on-demand rate us-central1's
# (instances.csv); aws:p4d.24xlarge's capacity block us-east-2 against a us-east-1 rate. The report's "beats on-demand
# only if the nodes are busy more than 44% of the term" and the catalog's "vs on-demand -56%" compared the two
# regions' prices as one, and neither the line, the table nor the JSON/CSV named the on-demand rate's region.
def test_commitment_against_another_regions_on_demand_rate_says_so(catalog):
    from planner.model.cost import committed_costs

    terms = committed_costs(catalog, "gcp:a3-megagpu-8g", 82.4, 4, 92.21427)
    assert terms and all(c["region"] == "us-east4" and c["ondemand_region"] == "us-central1" and c["region_differs"]
                         for c in terms)
    same = committed_costs(catalog, "gcp:a3-highgpu-8g", 82.4, 4, 87.83247)
    assert same and not any(c["region_differs"] for c in same)
    md = _report_md({**LLAMA8, "cluster": {"instance": "gcp:a3-megagpu-8g", "nodes": 4}}, catalog)
    lines = [ln for ln in md.splitlines() if ln.startswith("- Committed (3yr")]
    assert len(lines) == 1 and "us-central1" in lines[0]
    md = _report_md({**LLAMA8, "cluster": {"instance": "gcp:a3-highgpu-8g", "nodes": 4}}, catalog)
    assert "us-central1" not in next(ln for ln in md.splitlines() if ln.startswith("- Committed (3yr"))


def test_catalog_commitments_name_the_on_demand_region(cli, monkeypatch):
    code, out, err = cli("catalog", "commitments", "--csv")
    assert code == 0, err
    rows = {(r["key"], r["term"]): r for r in csv.DictReader(io.StringIO(out))}
    assert rows[("gcp:a3-megagpu-8g", "3yr")]["ondemand_region"] == "us-central1"
    assert rows[("aws:p4d.24xlarge", "capacity-block")]["ondemand_region"] == "us-east-1"
    assert rows[("gcp:a3-highgpu-8g", "3yr")]["ondemand_region"] == rows[("gcp:a3-highgpu-8g", "3yr")]["region"]
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli("catalog", "commitments")
    a3 = [ln for ln in out.splitlines() if "gcp:a3-megagpu-8g" in ln]
    assert a3 and all("*" in ln for ln in a3)
    assert not any("*" in ln for ln in out.splitlines() if "gcp:a3-highgpu-8g" in ln)
    assert "another region" in flat(out)
