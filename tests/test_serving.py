"""Serving (planner/workloads/serving.py): memory, latency, replicas and quantisation move the right way."""
import json

import numpy as np
import pytest

from planner.errors import InfeasibleError, InputError
from planner.hardware.options import option_from_cluster
from planner.spec.params import count_params
from planner.workloads.serving import (WEIGHT_BYTES, ServeTarget, _llm_iteration, kv_bytes_per_token,
                             llm_option, plan_serving)
from planner.spec import ClusterSpec, load_job_dict

H100 = {"instances": ["aws:p5.48xlarge"]}


def _job(serving, model="llama3-70b", constraints=H100, cluster=None):
    raw = {"model": {"preset": model}, "serving": serving, "constraints": constraints}
    if cluster:
        raw["cluster"] = cluster
    return load_job_dict(raw)


def _min_tp(res):
    return min(r["tp"] for r in res["options"])


def test_kv_bytes_gqa_and_tp():
    job = _job({"p99_latency_ms": 200})
    m = job.model
    # Llama-3-70B: 80 layers, 8 KV heads of 128: 2*80*8*128*2 B = 327,680 B (320 KiB) per token
    assert kv_bytes_per_token(m, "bf16") == 2 * 80 * 8 * 128 * 2 == 327_680
    assert kv_bytes_per_token(m, "fp8") == 327_680 / 2
    assert kv_bytes_per_token(m, "bf16", tp=8) == 327_680 / 8
    # tp=16 > 8 KV heads: each GPU still holds one whole head (replicated)
    assert kv_bytes_per_token(m, "bf16", tp=16) == 327_680 / 8


def test_70b_at_200ms_needs_two_80gb_gpus_in_bf16_one_in_fp8():
    res = plan_serving(_job({"p99_latency_ms": 200, "ttft_ms": 2000, "qps": 5, "precision": "bf16"}))
    assert _min_tp(res) == 2  # 131 GiB of bf16 weights cannot fit one 80 GB H100
    tp1 = [r for r in res["rejected"] if r["tp"] == 1]
    assert tp1 and not tp1[0]["fits"] and "exceed" in tp1[0]["reason"]
    fp8 = plan_serving(_job({"p99_latency_ms": 200, "ttft_ms": 2000, "qps": 5, "precision": "fp8"}))
    assert fp8["weights_gib"] == pytest.approx(res["weights_gib"] / 2)
    assert _min_tp(fp8) == 1  # fp8 halves the weights: one GPU holds them, with room for KV
    # on 40 GB A100s bf16 needs four GPUs per replica
    a100 = plan_serving(_job({"p99_latency_ms": 200, "precision": "bf16"}, constraints={"instances": ["aws:p4d.24xlarge"]}))
    assert _min_tp(a100) == 4


def test_quantisation_changes_batch_that_fits():
    rows = {}
    for prec in ("bf16", "fp8", "int4"):
        job = _job({"p99_latency_ms": 1000, "precision": prec, "max_batch": 4096})
        hw = option_from_cluster(ClusterSpec(instance="aws:p5.48xlarge"))
        rows[prec] = llm_option(job.model, job.serving, hw, 2, ServeTarget(None, None, None))
    assert rows["bf16"]["batch_memory_limit"] < rows["fp8"]["batch_memory_limit"] < rows["int4"]["batch_memory_limit"]
    n = count_params(_job({"p99_latency_ms": 1}).model).total
    assert rows["int4"]["weights_gib_per_gpu"] == pytest.approx(n * WEIGHT_BYTES["int4"] / 2 / 2**30)


def test_latency_grows_with_batch_and_tighter_target_needs_more_gpus():
    job = _job({"p99_latency_ms": 200})
    hw = option_from_cluster(ClusterSpec(instance="aws:p5.48xlarge"))
    B = np.array([1, 8, 64, 256], dtype=float)
    step = _llm_iteration(job.model, job.serving, hw, 4, B)["step"]
    assert np.all(np.diff(step) > 0)
    # batch 1 decode is memory-bound: ~ weights / (tp x HBM) (35 GB / 3.35 TB/s ~ 10.5 ms)
    w = count_params(job.model).total * 2 / 4
    assert step[0] > w / hw.gpu.hbm_bw
    # tightening TPOT: the smallest TP that meets it never shrinks
    tps = []
    for target in (200, 60, 30, 20):
        try:
            tps.append(_min_tp(plan_serving(_job({"p99_latency_ms": target, "qps": 1}))))
        except InfeasibleError:
            tps.append(99)
    assert tps == sorted(tps) and tps[0] < tps[-1]


def test_replicas_scale_with_qps_and_batch_vs_realtime():
    r1 = plan_serving(_job({"p99_latency_ms": 100, "qps": 2}))["best"]
    r2 = plan_serving(_job({"p99_latency_ms": 100, "qps": 40}))["best"]
    r3 = plan_serving(_job({"p99_latency_ms": 100, "qps": 400}))["best"]
    assert r1["replicas"] <= r2["replicas"] < r3["replicas"]
    assert r3["replicas"] * r3["requests_per_s_per_replica"] >= 400
    # offline batch inference (memory-limited batch, no latency target) costs less per request
    tight = plan_serving(_job({"p99_latency_ms": 30, "qps": 40, "max_batch": 1024}))["best"]
    off = plan_serving(_job({"mode": "batch", "requests": 1e6, "max_batch": 1024}))["best"]
    assert off["batch_offline"] > tight["batch"]
    assert off["usd_per_million_requests_offline"] < tight["usd_per_million_requests_full"]
    assert off["offline_usd"] > 0


def test_generic_model_and_errors(cli, tmp_path):
    res = plan_serving(_job({"p99_latency_ms": 20, "qps": 2000, "max_batch": 512}, model="resnet50",
                            constraints={"instances": ["aws:g6.xlarge", "aws:p5.48xlarge"]}))
    b = res["best"]
    assert b["tpot_ms"] <= 20 and b["replicas"] * b["requests_per_s_per_replica"] >= 2000
    with pytest.raises(InputError, match="latency"):
        plan_serving(_job({"qps": 1}))
    with pytest.raises(InfeasibleError):
        plan_serving(_job({"p99_latency_ms": 1}))
    p = tmp_path / "s.yaml"
    p.write_text("model: {preset: llama3-8b}\nserving: {p99_latency_ms: 50, qps: 10}\n"
                 "constraints: {instances: [aws:p5.48xlarge]}\n")
    code, out, err = cli("serve", p, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["best"]["tpot_ms"] <= 50
    p.write_text("model: {preset: llama3-8b}\nserving: {p99_latency_ms: -5}\n")
    code, out, err = cli("serve", p)
    assert code == 2 and "serving.p99_latency_ms" in err
