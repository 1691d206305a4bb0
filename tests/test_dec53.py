"""The screen's p99 TPOT against its own step times (dec53): a request's lumped steps K are a count of its n decode
steps, so its TPOT never passes the interval where every step holds a prompt batch (``lumped``), and a slower step --
every step, or the decode-only one alone (ll53's SGLang two-batch-overlap windows) -- never lowers the p99
(``serving_queue.tpot_tail``). Case: DeepSeek-V3 fp8 on 4 H100 nodes as an SGLang EP32 replica (``deepep``, TBO on),
2,000 / 500 tokens, ``length_cv: 0``, the open fleet of 40 QPS over 2 replicas at budget 512, as ``serve`` states it."""
import dataclasses

import pytest

from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_iteration import IterationModel, lumped_parts, replica_token_budget
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_queue import tpot_quantile


@pytest.fixture(scope="module")
def case():
    job = load_job_dict({"model": {"preset": "deepseek-v3"}, "cluster": {"gpu": "H100-SXM-80GB"},
                         "serving": {"qps": 40, "p99_latency_ms": 150, "engine": "sglang", "prompt_tokens": 2000,
                                     "output_tokens": 500, "length_cv": 0}})
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=4, fabric="IB-NDR"))
    im = IterationModel.build(served_model(job.model), hw, 32, "fp8", "fp8", "sglang", ep=True, all2all="deepep",
                              overlap=True)
    return im, job.serving


def _p99(im, s, B, rate=20.0):
    return tpot_quantile(im, s, B, 512, rate=rate, replicas=2)


def test_p99_never_passes_the_all_lumped_interval(case):
    """At a batch of 936 (32 engines at budget 512: every interval holds a prefill batch, f = 1) with no length
    spread, every request's TPOT is the lumped interval; the open fleet's normal put the p99's count past n (main:
    104.2 ms against a lumped interval of 92.8)."""
    im, s = case
    for B in (300.0, 600.0, 935.7):
        f, lumped, _ = (float(x) for x in lumped_parts(im, s, B, replica_token_budget(im, 512), prefilling=B - 1.0))
        for rate in (None, 20.0):
            assert _p99(im, s, B, rate) <= lumped * (1.0 + 1e-9), (B, rate, f)


def test_a_slower_decode_only_step_never_lowers_the_p99(case):
    """ll53 made SGLang's overlapped decode-only steps slower (each DeepEP kernel hidden only in its own window),
    prompt steps unchanged: the p99 at 40 QPS went 103.3 -> 100.3 ms on main. Now it does not fall."""
    im, s = case
    tbo53 = dataclasses.replace(im, overlap=dataclasses.replace(im.overlap, decode_windows=False))
    for B in (64.0, 300.0, 935.7):
        assert float(im.time(decode_seqs=B, decode_ctx=B * 2250.0)) > float(
            tbo53.time(decode_seqs=B, decode_ctx=B * 2250.0))
        assert _p99(im, s, B) >= _p99(tbo53, s, B) - 1e-12, B


@pytest.mark.parametrize("extra_s", [1e-3, 10e-3])
def test_a_uniformly_slower_step_never_lowers_the_p99(case, extra_s):
    """Every step slower by the same host time: the p99 does not fall (a control: the stall d = lumped - bare does not
    shrink there, so main passes it too)."""
    im, s = case
    slower = dataclasses.replace(im, host_s=im.host_s + extra_s)
    for B in (64.0, 300.0, 935.7):
        for rate in (None, 20.0):
            assert _p99(slower, s, B, rate) >= _p99(im, s, B, rate), (B, rate)
