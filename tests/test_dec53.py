"""The screen's p99 TPOT against its own step times (dec53): a request's TPOT, the mean of its steps, never passes a
step that holds a full room of prompt tokens, and a slower step -- every step, or the decode-only one alone (ll53's
SGLang two-batch-overlap windows) -- never lowers the p99 (``serving_queue.tpot_tail``, ``serving_iteration
.stall_parts``). Case: DeepSeek-V3 fp8 on 4 H100 nodes as an SGLang EP32 replica (``deepep``, TBO on),
2,000 / 500 tokens, ``length_cv: 0``, the open fleet of 40 QPS over 2 replicas at budget 512, as ``serve`` states it."""
import dataclasses

import pytest

from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_iteration import IterationModel, steady_iteration
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


def test_p99_never_passes_every_step_at_its_full_room():
    """vLLM V1 fills a step's token budget at most (its decodes first, then prompt chunks in what they leave), so no
    request's TPOT passes a step of B decodes and a full room of prompt tokens (Llama-3-8B on one H100, 2,000 / 200
    tokens, budget 2,048, B = 64, an open fleet of 20 QPS: that step is 76.8 ms). main's normal count of the lumped
    steps ran past a request's n steps there: 168.0 ms. (Where the prompts' tokens a step pass the room -- B = 256
    here, an engine past its prefill capacity -- ``lumped_parts`` prices a lump over the room as one step, and the
    bound is that lump: not asserted.)"""
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"gpu": "H100-SXM-80GB"},
                         "serving": {"qps": 20, "p99_latency_ms": 100, "prompt_tokens": 2000, "output_tokens": 200}})
    s = job.serving
    im = IterationModel.build(served_model(job.model), option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB",
                                                                                        gpus_per_node=8, nodes=1)),
                              1, "bf16", "bf16", "vllm")
    for B, rate in ((64.0, 20.0), (128.0, 20.0), (64.0, 5.0)):
        room = 2048.0 - B
        full = float(steady_iteration(im, s, B, prefilling=room * s.output_tokens / s.prompt_tokens,
                                      biased=B - 1.0)["step"])
        assert tpot_quantile(im, s, B, 2048, rate=rate) <= full * (1.0 + 1e-9), (B, rate)


def test_a_slower_decode_only_step_never_lowers_the_p99(case):
    """ll53 made SGLang's overlapped decode-only steps slower (each DeepEP kernel hidden only in its own window),
    prompt steps unchanged: the p99 at 40 QPS and 935.7 went 104.2 -> 100.9 ms on main. Now it does not fall."""
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
