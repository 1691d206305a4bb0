"""QA pass 94: three output defects of ``recommend``'s NVMe offload and ``serve``'s spot what-if (docs/qa_log.md,
"QA 94"). Each test fails on the code before (77553d49)."""
from __future__ import annotations

import json

import pytest

from conftest import write_job
from test_qa92 import SERVE_B300  # a real-time p6-b300 job at on-demand: its spot what-if at the flagged rate
from planner.spec import load_job_dict

SEARCHED = "searched, as training.framework leaves them open: offload_device"


def _deepspeed(preset: str, cluster: dict) -> dict:
    """A DeepSpeed ZeRO-3 job with both offloads on and ``offload_device`` left open (tests/test_nvme49.py's job)."""
    return {"model": {"preset": preset},
            "training": {"seq_len": 4096, "global_batch": 16, "precision": "bf16", "recompute": "full",
                         "optimizer": "adamw",
                         "framework": {"name": "deepspeed", "optimizer_offload": True, "param_offload": True,
                                       "overlap_grad_reduce": True}},
            "parallel": {"tp": 1, "pp": 1, "zero": 3}, "cluster": cluster}


# ---------------------------------------------------------------------------- 1. recommend's NVMe rate line
def test_recommend_says_the_nvme_rate_its_best_plan_swaps_at(catalog):
    """Llama 3 70B over one p4d.24xlarge: the host RAM does not hold the CPU offload, the search's NVMe twin does
    (qa93); ``estimate`` of that plan says the NVMe rate it priced (nvmebw49), ``recommend`` said nothing of it."""
    from planner.search.recommend import recommend

    rec = recommend(load_job_dict(_deepspeed("llama3-70b", {"instance": "p4d.24xlarge", "nodes": 1})), catalog)
    said = [a for a in rec.assumptions if a.startswith("training.framework.offload_device: nvme swapped at")]
    assert said == ["training.framework.offload_device: nvme swapped at 3 GB/s read and write a node: nvme_path on "
                    "one drive (DeepSpeed's one device; one NVMe drive ~3 GB/s read and write, DeepSpeed#2034); set "
                    "nvme_stripe: drives where nvme_path is a RAID-0 over its 8 drives, or nvme_gbps"], rec.assumptions
    assert any(SEARCHED in a for a in rec.assumptions)  # an NVMe plan was tried here: named as searched


# ---------------------------------------------------------------------------- 2. offload_device searched where tried
@pytest.mark.parametrize("cluster, override", [
    ({"gpu": "A100-SXM-80GB", "nodes": 1, "gpus_per_node": 8}, None),        # a bare GPU: no instance, no NVMe
    ({"instance": "p4d.24xlarge", "nodes": 1}, "cloud,name,local_nvme_tb\naws,p4d.24xlarge,0\n"),  # 0 TB local NVMe
], ids=["bare GPU", "no local NVMe"])
def test_offload_device_is_not_named_searched_where_no_nvme_plan_ran(cli, tmp_path, cluster, override):
    """The searched-options list named ``offload_device`` wherever the job left it open, though the search tries an
    NVMe twin only on instances with local NVMe (recommend ``_variants_off``)."""
    args = ["recommend", str(write_job(tmp_path, _deepspeed("llama2-7b", cluster))), "--json", "--no-simulate"]
    if override:
        (tmp_path / "nvme.csv").write_text(override)
        args += ["--catalog", str(tmp_path / "nvme.csv")]
    code, out, err = cli(*args)
    assert code == 0, err
    said = [a for a in json.loads(out)["assumptions"] if a.startswith("training stack: deepspeed")]
    assert len(said) == 1 and "offload_device" not in said[0], said


# ---------------------------------------------------------------------------- 3. serve's spot what-if price check
SPOT_CHECK = "price check: aws:p6-b300.48xlarge's spot rate (15.9815 $/h) is outside the catalog's price checks"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``serve --json --no-simulate`` of ``SERVE_B300``: (exit code, stdout, stderr), and the job's path."""
    from conftest import invoke_app

    path = write_job(tmp_path_factory.mktemp("qa94"), SERVE_B300)
    return invoke_app("serve", str(path), "--json", "--no-simulate"), path


def test_serve_json_checks_the_spot_what_if_it_carries(served, cli):
    """``serve --json`` carries ``budget.spot`` (the fleet at p6-b300's flagged spot rate); the report checked that
    rate (qa92), serve's stderr said nothing of it. The tables print the what-if too since serveep50 ("spot:"), so
    their stderr checks it as well (it said nothing then: that assertion encoded the missing line)."""
    (code, out, err), path = served
    assert code == 0 and json.loads(out)["budget"]["spot"]["usd_per_month_before_interruptions"] > 0, err
    assert [ln for ln in err.splitlines() if ln.startswith(SPOT_CHECK)], err
    assert "aws:p6-b300.48xlarge spot is dated" in err  # the what-if's own price date, as the report's
    code, _, err = cli("serve", str(path), "--no-simulate")
    assert code == 0 and SPOT_CHECK in err, err


def test_the_apps_serving_view_checks_the_spot_what_if_it_lists(served, catalog):
    """The app lists a real-time fleet's spot what-if among its risks ("Spot: ... on spot the fleet would cost");
    its price-check lines said nothing of p6-b300's flagged spot rate behind it."""
    from planner import interactive as wi

    res = json.loads(served[0][1])
    assert any(r.startswith("Spot: ") for r in wi.serving_budget({"plan": res}).risks)  # the page shows the what-if
    assert [ln for ln in wi.price_check_lines(res, catalog) if ln.startswith(SPOT_CHECK)]
