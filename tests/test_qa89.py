"""QA pass 89: CLI and spec defects left by session 48 (docs/qa_log.md, "qa89"). Each test fails on the code before
(the one guard that does not is said in its docstring)."""
from __future__ import annotations

import pytest
import yaml

from conftest import refused, write_job
from planner.spec import load_job_dict

NOTE = "inter-node network not stated"
#: a bare 6 x A100-SXM-80GB node: its network is assumed from the catalog's best-networked A100 instance
BARE = {"model": {"preset": "llama3-8b"},
        "training": {"seq_len": 4096, "global_batch": 36, "micro_batch": 1, "precision": "bf16", "tokens": 1e9},
        "cluster": {"gpu": "A100-SXM-80GB", "gpus_per_node": 6}}


# ---------------------------------------------------------------------------- 1. one node reads no network note
@pytest.mark.parametrize("nodes, said", [(None, False), (1, False), (2, True)])
def test_estimate_says_the_assumed_network_only_where_the_plan_leaves_the_node(catalog, nodes, said):
    """``cluster.nodes`` unset is one node ("cluster.nodes defaulted to 1"), which read the assumed inter-node network
    note that ``nodes: 1`` had dropped since QA 86: no collective leaves one node. Two nodes keep it."""
    from planner.workloads.training import estimate_job

    raw = {**BARE, "cluster": {**BARE["cluster"], **({"nodes": nodes} if nodes else {})},
           "training": {**BARE["training"], "global_batch": 36 * (nodes or 1)}}
    said_lines = [a for a in estimate_job(load_job_dict(raw), catalog).assumptions if NOTE in a]
    assert len(said_lines) == int(said)


@pytest.mark.parametrize("max_gpus, times", [(6, 0), (12, 1)])
def test_recommend_says_the_assumed_network_once_and_only_for_a_multi_node_plan(catalog, max_gpus, times):
    """``recommend`` of the bare node with ``cluster.nodes`` open printed the option's network note under a one-node
    winner (max_gpus 6), and twice (the option's note and the multi-node caveat) under a two-node one."""
    from planner.workloads.training import recommend

    raw = {**BARE, "training": {**BARE["training"], "global_batch": 72, "micro_batch": None},
           "parallel": {"tp": 1, "pp": 1, "cp": 1, "zero": 1},
           "constraints": {"max_gpus": max_gpus, "min_gpus": max_gpus}}
    rec = recommend(load_job_dict(raw), catalog, simulate=False)
    assert rec.best.hardware.nodes == max_gpus // 6
    lines = [n for n in (*rec.notes, *rec.caveats) if NOTE in n]
    assert len(lines) == times, lines


# ---------------------------------------------------------------------------- 2. $PLANNER_CATALOG named
@pytest.mark.parametrize("what", ["missing", "folder", "no table"])
def test_a_refused_planner_catalog_file_names_the_variable(cli, tmp_path, what):
    """A refusal of a ``$PLANNER_CATALOG`` file read "catalog override nope.csv: file: ..." (and ``/tmp`` as "tmp"),
    as if the user had typed the file: it now names the variable as its field and the path as the variable holds it.
    A ``--catalog`` file keeps its own words."""
    path = {"missing": tmp_path / "nope.csv", "folder": tmp_path}.get(what, tmp_path / "bad.csv")
    if what == "no table":
        path.write_text("x,y\n1,2\n")
    line = refused(cli("catalog", "gpus", env={"PLANNER_CATALOG": str(path)}))
    # the path as the variable holds it (``/tmp``, not ``tmp``); a long one is clipped in its middle (errors.clip),
    # as pytest-xdist's worker folders make it, so its head and its file name are what a line always shows
    assert line.startswith(f"error: PLANNER_CATALOG: {str(path)[:12]}") and f"{path.name}: " in line, line
    assert {"missing": "file: file not found", "folder": "file: is a directory", "no table": "header: "}[what] in line
    if what == "missing":
        assert refused(cli("catalog", "gpus", "--catalog", path)).startswith("error: catalog override nope.csv: file:")


# ---------------------------------------------------------------------------- 3. a one-GPU A100-SXM-80GB
def test_a_single_a100_sxm_80gb_is_planned_on_its_one_gpu_instance(cli, tmp_path, catalog):
    """No catalog instance had one A100-SXM-80GB, so ``max_gpus: 1`` with ``gpus: [A100-SXM-80GB]`` was refused. RunPod's
    snapshot (the one the 2x row is read from) lists 1x_A100-80GB-SXM_SECURE at 1.59 $/h (its spot == on-demand:
    dropped), within the catalog's price checks."""
    from hardware_catalog.price_checks import flagged_rates

    inst = catalog.instance("runpod:1x_A100-80GB-SXM_SECURE")
    two = catalog.instance("runpod:2x_A100-80GB-SXM_SECURE")
    assert (inst.gpu.name, inst.gpu_count, inst.price_ondemand, inst.price_spot) == ("A100-SXM-80GB", 1, 1.59, None)
    assert inst.price_ondemand * 2 == two.price_ondemand and inst.price_date == two.price_date
    assert not [k for k in flagged_rates(catalog) if k[0] == inst.key]
    job = write_job(tmp_path, {"model": {"preset": "qwen2.5-0.5b"},
                               "training": {"seq_len": 2048, "global_batch": 16, "precision": "bf16", "tokens": 1e8},
                               "constraints": {"gpus": ["A100-SXM-80GB"], "max_gpus": 1}})
    code, out, err = cli("recommend", job, "--json", "--no-simulate")
    assert code == 0, err
    assert yaml.safe_load(out)["best"]["hardware"]["name"] == inst.key


# ---------------------------------------------------------------------------- 4. spot rates: which zone, and flags
def test_a_spot_plan_says_its_rate_is_the_cheapest_zones(catalog, tmp_path):
    """A spot plan's cost is at the catalog row's spot rate, SkyPilot's cheapest zone in its region (one zone's
    outlier reads like a market rate): said beside the plan (estimate's assumptions) and under `catalog instances`;
    a rate a catalog override gives is the user's, so not said of it."""
    from hardware_catalog import load_catalog
    from hardware_catalog.skypilot import SPOT_RATE_RULE
    from hardware_catalog.tables import format_instances_table
    from planner.workloads.training import estimate_job

    raw = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "precision": "bf16", "tokens": 1e10},
           "parallel": {"tp": 2, "pp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2},
           "constraints": {"spot": True}}
    said = [a for a in estimate_job(load_job_dict(raw), catalog).assumptions if SPOT_RATE_RULE in a]
    assert len(said) == 1 and said[0].startswith("spot rate (aws:p5.48xlarge 16.9508 $/h): ")
    assert not [a for a in estimate_job(load_job_dict({**raw, "constraints": {}}), catalog).assumptions
                if SPOT_RATE_RULE in a]  # an on-demand plan
    assert SPOT_RATE_RULE in format_instances_table(catalog, "aws").caption
    over = tmp_path / "o.csv"
    over.write_text("cloud,name,price_spot_usd_hr,price_date\naws,p5.48xlarge,20,2026-12-01\n")
    own = [a for a in estimate_job(load_job_dict(raw), load_catalog([over])).assumptions if SPOT_RATE_RULE in a]
    assert own == []


def test_serve_and_the_app_say_a_flagged_spot_rate(catalog):
    """``serve`` prices its offline column at the spot rate; on p6-b300 that rate is flagged (one zone, 0.112 of
    on-demand: ``!`` in `catalog instances`), which ``recommend`` says on stderr and serve and the app did not."""
    from planner import interactive as wi
    from planner.workloads.serving import plan_serving as serve

    raw = {"model": {"preset": "llama3-8b"},
           "serving": {"p99_latency_ms": 200, "ttft_ms": 2000, "qps": 5, "prompt_tokens": 1024, "output_tokens": 256},
           "constraints": {"instances": ["aws:p6-b300.48xlarge"], "spot": True}}
    res = serve(load_job_dict(raw), catalog, simulate=False).to_json()
    lines = wi.price_check_lines(res, catalog)
    assert len(lines) == 1 and lines[0].startswith("price check: aws:p6-b300.48xlarge's spot rate (15.9815 $/h)")
    on_demand = serve(load_job_dict({**raw, "constraints": {"instances": ["aws:p6-b300.48xlarge"]}}), catalog,
                      simulate=False).to_json()
    # its on-demand rate is within the checks; the page lists the fleet's spot what-if among its risks, at the flagged
    # spot rate, which is said (QA 94: this asserted nothing was)
    lines = wi.price_check_lines(on_demand, catalog)
    assert len(lines) == 1 and lines[0].startswith("price check: aws:p6-b300.48xlarge's spot rate (15.9815 $/h)")


# ---------------------------------------------------------------------------- 5. the app keeps fp4
def test_the_app_rebuilds_an_fp4_job_as_fp4(catalog):
    """A job with ``training.precision: fp4`` (NVFP4: the loader's fp8 + nvfp4 recipe) showed fp8 in the app's
    sidebar, which offered no fp4, and was rebuilt as plain fp8: its plan at FP8 GEMMs, the NVFP4 line gone."""
    from planner import interactive as wi
    from planner.spec.load import FP4_NOTE

    base = {"model": {"preset": "llama3-8b"},
            "training": {"seq_len": 4096, "global_batch": 64, "precision": "fp4", "tokens": 1e9},
            "constraints": {"gpus": ["B200-SXM-180GB"], "max_gpus": 8}}
    w = wi.inputs_from_job(load_job_dict(base), catalog)
    assert w.precision == "fp4" and w.precision in wi.PRECISIONS
    job = wi.build_job(base, w)
    assert job.training.framework.fp8_recipe == "nvfp4" and FP4_NOTE in job.assumptions
