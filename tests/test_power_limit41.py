"""power41: the GPUs' power limit as a job input (``cluster.power_limit_w``, what ``nvidia-smi -pl`` sets).

The model had the clock law (planner.model.physics ``clock_fraction``, ``reachable_peak``) and
``HardwareOption.power_limit_w``, but no job field set it, so a power-capped site could not ask what its cap costs.
Each test fails on that code: the field was refused as unknown (docs: README "GPUs held at a power limit")."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job
from planner.hardware.options import cluster_options
from planner.hardware.power import FLOOR_FRACTION, power_floor
from planner.model.cost import owned_node_hour_cost
from planner.spec import ClusterSpec, ConstraintsSpec

LAW = (500.0 / 700.0) ** (1 / 3)  # the clock law, (P / P_rated)^(1/3), an H100 SXM at 500 W of its 700
JOB = {"model": {"preset": "llama3-8b"},
       "training": {"seq_len": 8192, "global_batch": 512, "tokens": 1e11},
       "parallel": {"tp": 1, "pp": 1, "dp": 16, "zero": 1},
       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2}}
SERVE = {"model": {"preset": "llama3-70b"},
         "serving": {"p99_latency_ms": 60, "ttft_ms": 3000, "qps": 5, "prompt_tokens": 2000, "output_tokens": 300,
                     "precision": "bf16"},
         "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "price_usd_hr": 48}}


def _job(tmp_path, section: str = "cluster", base=JOB, **fields):
    job = {k: dict(v) for k, v in base.items()}
    job[section].update(fields)
    return write_job(tmp_path, job, f"job{len(list(tmp_path.iterdir()))}.yaml")


def test_a_500w_h100_is_slower_by_the_clock_law(tmp_path, cli):
    """The same job at 500 W: its GEMM and attention time grow by (700 / 500)^(1/3) (the clock law), the memory-bound
    kernels' not at all (HBM is not clocked by the limit), and MFU stays against the datasheet peak (it falls with
    the step); the JSON's hardware carries the limit, the rated one and the clock."""
    full = answered(cli("estimate", _job(tmp_path), "--json"))
    capped = answered(cli("estimate", _job(tmp_path, power_limit_w=500), "--json"))
    a, b = full["breakdown_s"], capped["breakdown_s"]
    assert b["compute_gemm"] == pytest.approx(a["compute_gemm"] / LAW, rel=1e-9)
    assert b["compute_attention"] == pytest.approx(a["compute_attention"] / LAW, rel=1e-9)
    assert b["compute_memory_bound"] == pytest.approx(a["compute_memory_bound"], rel=1e-9)
    assert capped["step_time_s"] > 1.1 * full["step_time_s"]
    assert capped["mfu"] == pytest.approx(full["mfu"] * full["step_time_s"] / capped["step_time_s"], rel=1e-9)
    hw = capped["hardware"]
    assert (hw["power_limit_w"], hw["rated_power_limit_w"]) == (500.0, 700.0)
    assert hw["clock_at_power_limit"] == pytest.approx(LAW)
    assert full["hardware"]["power_limit_w"] is None and full["hardware"]["clock_at_power_limit"] == 1.0
    said = [a for a in capped["assumptions"] if a.startswith("GPUs at 500 W of H100-SXM-80GB's rated 700 W")]
    assert len(said) == 1 and f"sustained clock {LAW:.3f}x" in said[0]
    assert "at 500 W" in capped["inputs"]["peaks"]


def test_the_text_answer_names_the_limit(tmp_path, cli):
    code, out, _ = cli("estimate", _job(tmp_path, power_limit_w=500))
    assert code == 0
    assert "(16 GPUs) at 500 W" in out and "GPUs at 500 W of H100-SXM-80GB's rated 700 W" in " ".join(out.split())


@pytest.mark.parametrize("value,words", [
    (800, "cluster.power_limit_w: 800 W is above H100-SXM-80GB's rated 700 W"),
    (150, "cluster.power_limit_w: 150 W is below H100-SXM-80GB's minimum power limit, 200 W"),
    (0, "cluster.power_limit_w: must be more than 0"),
])
def test_a_limit_outside_the_parts_range_is_refused(tmp_path, cli, value, words):
    assert words in refused(cli("estimate", _job(tmp_path, power_limit_w=value), "--json"))


def test_a_part_with_no_rated_limit_is_refused(tmp_path, cli):
    job = _job(tmp_path, gpu="TPU-v5p", gpus_per_node=4, power_limit_w=300)
    assert "cluster.power_limit_w: TPU-v5p's catalog row has no power limit" in refused(cli("estimate", job, "--json"))


def test_unsourced_floor_is_the_h100s_share():
    """A part with no published minimum is held to 200 / 700 of its rated limit (the sourced H100 SXM's share)."""
    class G:
        name, power_limit_w = "MI355X-288GB", 1400.0
    assert FLOOR_FRACTION == pytest.approx(2 / 7)
    assert power_floor(G())[0] == pytest.approx(400.0)


def test_a_search_holds_each_gpu_at_the_lower_of_the_limit_and_its_rated(catalog):
    """In a search the limit applies per part as min(limit, rated): an H100 at 500 W, an L4 (72 W) as it is; at 150 W
    the H100 (minimum 200 W) is left out and said so."""
    con = ConstraintsSpec(gpus=["H100-SXM-80GB", "L4-24GB"], clouds=["aws"])
    opts = cluster_options(ClusterSpec(power_limit_w=500), con, catalog)
    held = {o.gpu.name: o.power_limit_w for o in opts}
    assert held == {"H100-SXM-80GB": 500.0, "L4-24GB": 72.0}
    assert all("each searched GPU held at the lower of it and its rated limit" in " ".join(o.notes) for o in opts)
    low = cluster_options(ClusterSpec(power_limit_w=150), con, catalog)
    assert {o.gpu.name for o in low} == {"L4-24GB"}
    assert "left out: 150 W is below H100-SXM-80GB's minimum power limit" in " ".join(low[0].notes)


def test_owned_node_power_falls_by_the_gpus_cut(catalog):
    """Buying: the catalog's node power (DGX H100 10.2 kW, GPUs at 700 W) falls by 8 x 200 W at 500 W, and so does
    the power cost of an owned node-hour; a job's own server_power_kw is taken as given."""
    full = owned_node_hour_cost(catalog, "H100-SXM-80GB", 8)
    capped = owned_node_hour_cost(catalog, "H100-SXM-80GB", 8, power_limit_w=500.0)
    assert capped["kw"] == pytest.approx(full["kw"] - 1.6)
    assert capped["power_hr"] == pytest.approx(full["power_hr"] * capped["kw"] / full["kw"])
    assert "GPUs at 500 W of 700" in capped["inputs"]["server_power_kw"]["source"]


def test_serve_honours_the_limit(tmp_path, cli):
    """serve prices the GEMMs of a 500 W H100 at the clock law's share of the 700 W part's, says so, and carries the
    limit in each option's JSON."""
    full = answered(cli("serve", _job(tmp_path, base=SERVE), "--no-simulate", "--json"))
    capped = answered(cli("serve", _job(tmp_path, base=SERVE, power_limit_w=500), "--no-simulate", "--json"))
    a, b = full["options"][0], capped["options"][0]
    assert b["reachable_tflops"] == pytest.approx(a["reachable_tflops"] * LAW)
    assert b["power_limit_w"] == 500.0 and "power_limit_w" not in a
    assert "sustained clock at 500 W" in capped["compute_rate"][0]
    assert any(x.startswith("GPUs at 500 W of H100-SXM-80GB's rated 700 W") for x in capped["assumptions"])
