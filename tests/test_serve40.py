"""serve40: serving prices a GPU's compute at the reachable FLOP/s training does (planner.model.physics
``reachable_peak``: the catalog peak at the sustained clock of the option's power limit), not at the quoted peak.

Until serve40 ``serving_iteration.compute_peak`` read ``gpu.peak_flops``: GB200 / GB300 served prefill at their quoted
2,500 TFLOP/s where training prices 0.940 of it, a power-capped H100 served as fast as a 700 W one, an edited HGX B200
row (GB200's clock reference, catalog40) moved GB200 training but not GB200 serving, and the H100 SXM 96 GB (no FP8
column; FP8 tensor cores: physics.derived_fp8_peak) served fp8 as weight-only bf16 math. Each test fails on that code
(docs: README "Serving")."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import answered, cluster_option, gpus_csv_with, write_job
from planner.model import physics
from planner.model.serving_efficiency import engine_efficiency
from planner.spec.load import load_job_dict
from planner.workloads.serving_iteration import IterationModel

CHAT = {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 40, "prompt_tokens": 800, "output_tokens": 200,
        "max_batch": 256, "precision": "bf16"}


def _im(hw, precision="bf16", tp=1):
    m = load_job_dict({"model": {"preset": "llama3-8b"}, "serving": dict(CHAT)}).model
    return IterationModel.build(m, hw, tp, precision, "bf16", "vllm")


def test_gb200_serves_at_its_sustained_clock(catalog):
    """GB200's GEMM and attention rates are training's reachable peak (0.940 of the quoted 2,500 TFLOP/s) times the
    GPU's and engine's efficiencies; a 32K-token prefill (compute-bound) takes 1 / 0.940 of what the quoted peak
    gave. The HGX B200 keeps its quoted clock."""
    gb200, b200 = cluster_option(catalog, "GB200-B200", 4), cluster_option(catalog, "B200-SXM-180GB", 8)
    se = engine_efficiency("vllm")
    im = _im(gb200)
    reach = physics.reachable_peak(gb200, "bf16")
    assert reach == pytest.approx(2250e12 * 1822 / 1745)
    assert im.flops_rate == pytest.approx(reach * gb200.eff.gemm_max * se.compute)
    assert im.flops_rate < 0.95 * gb200.gpu.peak("bf16") * gb200.eff.gemm_max * se.compute
    assert im.attn_rate == pytest.approx(reach * gb200.eff.attn_fwd * se.compute)
    assert _im(b200).flops_rate == pytest.approx(b200.gpu.peak("bf16") * b200.eff.gemm_max * se.compute)
    # the fp8 GEMMs scale the same reachable bf16 rate by the engine's speed-up
    assert _im(gb200, "fp8").flops_rate == pytest.approx(reach * min(se.fp8, 2.0) * gb200.eff.gemm_max * se.compute)


def test_a_power_limited_h100_serves_prefill_slower(catalog):
    """An H100 held at 500 W (``HardwareOption.power_limit_w``) prefills at the clock law's (500 / 700)^(1/3) of the
    700 W part's GEMM rate, as training prices it; its memory-bound decode step at batch 1 barely moves (HBM is not
    clocked by the power limit)."""
    full = cluster_option(catalog, "H100-SXM-80GB", 8)
    capped = cluster_option(catalog, "H100-SXM-80GB", 8)
    capped.power_limit_w = 500.0
    a, b = _im(full), _im(capped)
    law = (500.0 / full.gpu.power_limit_w) ** (1 / 3)
    assert b.flops_rate == pytest.approx(a.flops_rate * law)
    assert b.attn_rate == pytest.approx(a.attn_rate * law)
    prefill = [im.time(prefill_tokens=8192.0, prefill_ctx=8192.0 ** 2 / 2) for im in (a, b)]
    assert prefill[1] > 1.08 * prefill[0]
    decode = [im.time(decode_seqs=1.0, decode_ctx=1024.0) for im in (a, b)]
    assert decode[1] == pytest.approx(decode[0], rel=0.02)


def test_h100_96gb_serves_fp8_at_its_derived_fp8_peak(catalog):
    """The H100 SXM 96 GB row quotes no FP8 peak; training derives 2x its 16-bit one (physics.derived_fp8_peak), and
    serving now computes fp8 there too (W8A8, 64-row tiles) where it ran weight-only bf16 math (16-row tiles)."""
    hw = cluster_option(catalog, "H100-SXM-96GB", 8)
    assert "fp8" not in hw.gpu.peak_flops
    im = _im(hw, "fp8")
    assert im.dtype == "fp8" and im.tile_rows == 64
    assert im.flops_rate == pytest.approx(_im(hw).flops_rate * min(engine_efficiency("vllm").fp8, 2.0))


@pytest.fixture(scope="module")
def edited(tmp_path_factory) -> Path:
    """The shipped ``gpus.csv`` with the HGX B200 (GB200's clock reference) at 1,800 TFLOP/s dense BF16, not 2,250."""
    return gpus_csv_with(tmp_path_factory.mktemp("catalog"), "B200-SXM-180GB", bf16_tflops=1800)


def test_an_edited_clock_reference_moves_gb200_serving(cli, tmp_path, edited):
    """``serve --catalog`` with the B200 row re-peaked moves GB200's serving clock from 0.940 to 1.044 x 1800 / 2500
    = 0.752 of its (unchanged) quoted peak: its batch-1 prefill (TTFT) slows, its JSON's ``reachable_tflops`` and the
    plan's ``compute_rate`` say the rate."""
    job = str(write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": CHAT,
                                   "cluster": {"gpu": "GB200", "gpus_per_node": 4}}, "serve.yaml"))
    base, mine = (answered(cli("serve", job, "--json", "--no-simulate", *c)) for c in ((), ("--catalog", str(edited))))
    b, m = base["best"], mine["best"]
    assert (b["hardware"], b["tp"]) == (m["hardware"], m["tp"])
    assert m["ttft_batch1_ms"] > 1.1 * b["ttft_batch1_ms"]
    assert b["reachable_tflops"] == pytest.approx(2250 * 1822 / 1745)
    assert m["reachable_tflops"] == pytest.approx(1800 * 1822 / 1745)
    assert base["compute_rate"] == ["GB200-B200 2,349 TFLOP/s bf16 (0.940 of the quoted 2,500: sustained clock)"]
    assert mine["compute_rate"] == ["GB200-B200 1,879 TFLOP/s bf16 (0.752 of the quoted 2,500: sustained clock)"]


def test_serve_prints_the_rate_beside_the_answer(cli, tmp_path):
    """The terminal answer says the rate once, after "recommended:" and before the cost per month."""
    job = str(write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": CHAT,
                                   "constraints": {"gpus": ["H100-SXM-80GB"]}}, "serve.yaml"))
    code, out, err = cli("serve", job, "--no-simulate")
    assert code == 0, err
    text = " ".join(out.split())  # the terminal wraps long lines
    rate = "compute rate: H100-SXM-80GB 989 TFLOP/s bf16 (quoted peak)"
    assert text.count(rate) == 1
    assert text.index("recommended:") < text.index(rate) < text.index("per month:")


def test_the_report_says_the_rate_beside_the_recommendation():
    """``planner report``'s serving review gives the recommended option's rate in its Recommendation table."""
    from conftest import EXAMPLES
    from planner.present.report import build_serving_report, render_markdown
    from planner.spec import load_job
    from planner.workloads.serving import plan_serving

    job = load_job(EXAMPLES / "serving-resnet50.yaml")
    res = plan_serving(job, simulate=False)
    text = render_markdown(build_serving_report(job, res, "serving-resnet50.yaml"), "files")[0]
    rec = text.split("## Recommendation")[1].split("\n## ")[0]
    assert res.compute_rate and res.compute_rate[0].startswith(res.best.gpu)
    assert f"compute rate (per GPU) | {res.compute_rate[0]}" in rec
