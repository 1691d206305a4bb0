"""Checks of benchmarks/data/parts/moe_profiles.csv (published MoE per-component measurements) and of its
comparison with the planner (benchmarks/validate_moe_profile.py)."""
import math

import pytest

from benchmarks.parts_data import load
from benchmarks.validate_moe_profile import compare, ep_rate
from hardware_catalog import load_catalog


@pytest.fixture(scope="module")
def rows():
    return load("moe_profiles")


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def test_kinds_and_units(rows):
    units = {"moe_layer_time": {"ms"}, "ep_comm_bandwidth": {"GB/s"}, "permute_kernel": {"TB/s"},
             "step_ablation": {"TFLOP/s/GPU", "x"}, "share": {"fraction"}, "kernel_count": {"kernels"},
             "ep_comm_latency": {"us", "GB/s"}, "step_time": {"ms"}}
    for r in rows:
        assert r["unit"] in units[r["kind"]], r["id"]
        if r["kind"] == "ep_comm_bandwidth":
            assert r["value"] < 2000, r["id"]  # GB/s, not bytes/s
        if r["kind"] == "share":
            assert 0 < r["value"] <= (r["value_high"] or r["value"]) <= 1, r["id"]


def test_permute_bandwidth_matches_printed_time(rows):
    """TileOPs prints both a time and a TB/s: the permute moves (1 + k) T h bf16 bytes (reads T rows, writes
    k T), the byte count the planner's ``moe.permute_bytes`` uses. The rows whose time is printed to 4+
    digits (PR #2125) must agree with it to 1% -- a check of the transcription and of the byte convention."""
    checked = 0
    for r in rows:
        if r["id"].startswith("tileops2125_") and "DERIVED" not in r["notes"]:
            nbytes = (1 + r["top_k"]) * r["tokens_per_rank"] * r["hidden"] * 2
            assert nbytes / (r["time_ms"] * 1e-3) / 1e12 == pytest.approx(r["value"], rel=0.01), r["id"]
            checked += 1
    assert checked == 4


def test_hybridep_kernel_at_least_torch_api(rows):
    """The kernel-only time is part of the Python call's time: kernel bandwidth >= Torch-API bandwidth for the
    same configuration (a transcription check of the HybridEP tables)."""
    by = {}
    for r in rows:
        if r["kind"] == "ep_comm_bandwidth" and r["measurement"] in ("kernel", "torch_api") and r["num_sms"]:
            key = (r["stack"], r["gpu"], r["ep"], r["num_sms"], r["component"], r["precision"], r["metric"])
            by.setdefault(key, {})[r["measurement"]] = r["value"]
    pairs = [v for v in by.values() if len(v) == 2]
    assert len(pairs) >= 40
    for v in pairs:
        assert v["kernel"] >= v["torch_api"] * 0.99, v


def test_optimisation_history_rises(rows):
    hist = sorted((r for r in rows if r["id"].startswith("mlm_ds3_gb200_hist_")), key=lambda r: r["id"])
    assert len(hist) == 12
    assert hist[0]["baseline_value"] == pytest.approx(494.46)
    for a, b in zip(hist, hist[1:]):
        assert b["baseline_value"] == a["value"]
    assert hist[-1]["value"] == pytest.approx(970.01)


def test_planner_nvlink_a2a_matches_deepep_on_h800(rows, cat):
    """An independent figure for the planner's NVLink all-to-all rate: DeepEP V1's intranode EP8 dispatch /
    combine on H800 reach 153 / 158 GB/s over the NVLink bottleneck (docs/legacy.md); the planner's rate for the
    same bytes (the catalog's 200 GB/s H800 NVLink x its intra-node efficiency, per-peer latency included)
    must lie within 10%."""
    got = [r for r in rows if r["id"] in ("deepep_v1_h800_ep8_dispatch", "deepep_v1_h800_ep8_combine")]
    assert len(got) == 2
    for r in got:
        assert ep_rate(cat, r) == pytest.approx(r["value"], rel=0.10), r["id"]


@pytest.fixture(scope="module")
def compared(cat):
    """``compare``'s rows, priced once for the module: its dispatcher A/B runs all of mbridge_all twice (~5 CPU-s each)."""
    return compare(cat)


def test_compare_prices_every_comparable_row(rows, compared):
    res = compared
    kinds = {k: sum(1 for x in res if x["kind"] == k) for k in ("moe_layer_time", "ep_comm_bandwidth", "permute_kernel")}
    assert kinds["moe_layer_time"] == sum(1 for r in rows if r["kind"] == "moe_layer_time")
    assert kinds["permute_kernel"] == sum(1 for r in rows if r["kind"] == "permute_kernel")
    assert kinds["ep_comm_bandwidth"] >= 180
    ab = [x for x in res if x["kind"] == "dispatcher_ab"]
    assert len(ab) == 1 and ab[0]["measured"] == pytest.approx(406.6 / 423.6)  # alltoall step / HybridEP step
    for x in res:
        assert math.isfinite(x["planner"]) and x["planner"] > 0, x["id"]
    # the block's parts add up to no more than its total plus the host (max(host, GPU) per pass)
    for x in (x for x in res if x["kind"] == "moe_layer_time"):
        p = x["parts"]
        gpu = p["gemm"] + p["a2a"] + p["membound"] + p["sync"]
        assert max(gpu, p["host"]) <= p["total"] + 1e-9 <= gpu + p["host"] + 1e-9, x["id"]


@pytest.fixture(scope="module")
def pr3561_ab(compared):
    """(measured, planner) A/B of the row: ``compare``'s ``dispatcher_ab`` entry for it (measured = its baseline_value
    / value, planner = ``dispatcher_ab``), not a second pricing of the same two runs."""
    x = next(x for x in compared if x["id"] == "mbridge_pr3561_gb200_gpt_oss_bf16_alltoall_vs_hybridep")
    assert x["kind"] == "dispatcher_ab"
    return x["measured"], x["planner"]


def test_pr3561_hybridep_extras_narrow_the_gap(pr3561_ab):
    """Megatron-Bridge PR #3561 (GPT-OSS-120B, 64 GB200, EP 64, a2a overlap on): the all-to-all step is 0.960 of
    HybridEP's (423.6 vs 406.6 TFLOP/s/GPU). The planner priced the all-to-all 1.042x HybridEP's before
    HybridEP's routing-map gather and probability rows (moe.dispatch_extra_time); with them 1.037, and 1.0404 since moe41 priced the router's
    kernels at Megatron's per-dispatcher counts (31 on the all-to-all path against HybridEP's 17: the all-to-all
    step a little slower, the wrong way for this A/B, by a sourced count)."""
    measured, planner = pr3561_ab
    assert measured == pytest.approx(0.960, abs=1e-3)
    assert planner < 1.041


@pytest.mark.xfail(strict=True, reason="the planner still prices HybridEP faster on GB200 GPT-OSS (A/B 1.040 vs "
                   "measured 0.960): the all-to-all dispatcher's chunk sort (moe.chunk_sort_bytes, ~0.13 s of the step) "
                   "outweighs HybridEP's sourced extras, which the combined-1F1B overlap hides (README, HybridEP)")
def test_pr3561_dispatcher_ab_has_the_measured_sign(pr3561_ab):
    measured, planner = pr3561_ab
    assert (planner - 1.0) * (measured - 1.0) > 0
