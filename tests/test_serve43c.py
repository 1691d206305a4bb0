"""serve43c: one prompt-prefill formula in the analytic serving model, and a $0 price costs $0.

1. The (query, key) pairs of a causal prefill chunk (tokens x (computed + (tokens + 1) / 2) since srv44) and a prompt's prior-context
   and local-layer terms were written four times (``steady_iteration``, ``prefill_time``, ``offline_run``,
   ``llm_ttft``'s budget share); now ``serving_iteration.prefill_pairs`` and ``IterationModel.prompt_prefill``.
2. ``_costs`` took a $0 node price for "no price" (``price / g if price else None``): no $/h, no $ per million. A
   user's own cluster at $0 costs $0; it now reads ``hardware.options.gpu_hour_rate``, which keeps $0."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hardware_catalog import load_catalog
from planner.results import ServingOption
from planner.spec import load_job_dict
from planner.workloads.serving import _costs, _options
from planner.workloads.serving_iteration import option_iteration, prefill_pairs, prefill_time
from planner.workloads.serving_memory import served_model


def _flash_mask_pairs(computed: int, tokens: int) -> int:
    """The kept entries of FlashAttention's causal mask, "aligned to the bottom right corner" (flash_attn_func's
    docstring): ``tokens`` query rows over ``computed + tokens`` key columns, row i keeping columns <= computed + i."""
    return int(np.tril(np.ones((tokens, computed + tokens), dtype=np.int64), k=computed).sum())


@pytest.mark.parametrize("computed,tokens", [(0, 1), (0, 4096), (1000, 100), (6000, 2048), (3, 7)])
def test_prefill_pairs_is_the_flash_mask(computed, tokens):
    """srv44: the diagonal counted (each query attends to itself), as the simulation's engine step counted it; until
    srv44 the analytic count was the mask less tokens / 2."""
    assert prefill_pairs(float(computed), float(tokens)) == _flash_mask_pairs(computed, tokens)


def _im(preset: str, prompt: int = 6048, prefix: int = 3008):  # the prefix in whole 16- and 32-token blocks
    job = load_job_dict({"model": {"preset": preset}, "constraints": {"instances": ["aws:p5.48xlarge"]},
                         "serving": {"qps": 4, "p99_latency_ms": 100, "prompt_tokens": prompt, "output_tokens": 150,
                                     "shared_prefix_tokens": prefix}})
    m, s = served_model(job.model), job.serving
    hw = next(iter(_options(job, load_catalog(), None)))
    return m, s, hw, option_iteration(m, s, hw, 8)


@pytest.mark.parametrize("preset", ["gemma2-9b", "deepseek-v3"])  # local layers; MLA (the prior context re-read)
def test_prompt_prefill_is_prompts_times_one_prompts_terms(preset):
    _, _, _, im = _im(preset)
    one, many = im.prompt_prefill(3008.0, 3040.0), im.prompt_prefill(3008.0, 3040.0, 2.5)
    assert one["prefill_ctx"] == 3040 * 3008 + 3040 * 3041 / 2 and one["prefill_prior"] == 3008.0
    assert ("prefill_local_ctx" in one) == bool(im.window)
    assert set(many) == set(one) and all(math.isclose(many[k], 2.5 * one[k], rel_tol=1e-15) for k in one)


def test_prefill_time_is_one_prompt_after_the_cached_prefix():
    """``prefill_time`` times the N = P - H new tokens after the H cached ones, local pairs included."""
    m, s, hw, im = _im("gemma2-9b")
    want = float(im.time(prefill_tokens=3040, prefill_ctx=3040 * 3008 + 3040 * 3041 / 2, prefill_prior=3008,
                         prefill_local_ctx=im.local_pairs(3008.0, 3040)))
    assert prefill_time(m, s, hw, 8, im) == pytest.approx(want, rel=1e-15)


def _row(price: float | None) -> ServingOption:
    return ServingOption(hardware="own", gpu="H100", tp=2, gpus_per_node=8, weights_gib_per_gpu=1.0,
                         kv_mib_per_token_per_gpu=1.0, kv_capacity_tokens=1, batch_memory_limit=64, precision="bf16",
                         price_usd_hr=price, price_spot_usd_hr=None, fits=True, meets_latency=True, batch=64,
                         requests_per_s_per_replica=2.0, requests_per_s_offline=4.0)


def _spec(**serving):
    return load_job_dict({"model": {"preset": "llama3-8b"}, "serving": {"p99_latency_ms": 50, **serving}}).serving


def test_a_zero_price_costs_zero_not_no_price():
    s = _spec(qps=10)
    free, none = _costs(_row(0.0), s, 10.0, spot=False), _costs(_row(None), s, 10.0, spot=False)
    assert (free.replicas, free.nodes) == (5, 2)
    assert free.usd_per_hr == 0.0 and free.usd_per_million_requests == 0.0
    assert free.usd_per_million_requests_full == 0.0 and free.usd_per_million_requests_offline == 0.0
    assert free.offline_price == "on-demand"
    assert none.usd_per_hr is None and none.usd_per_million_requests_full is None and none.offline_price is None
    # a priced row is unchanged: $8/h a node, $1/h a GPU, 2 GPUs a replica at 2 req/s
    paid = _costs(_row(8.0), s, 10.0, spot=False)
    assert paid.usd_per_hr == 16.0 and paid.usd_per_million_requests_full == pytest.approx(2.0 / 7200 * 1e6)


def test_a_zero_price_offline_job_costs_zero():
    s = _spec(mode="batch", requests=36000)
    free, none = _costs(_row(0.0), s, None, spot=True), _costs(_row(None), s, None, spot=True)
    assert free.offline_node_hours == pytest.approx(36000 / (4.0 * 4) / 3600)
    assert free.offline_usd == 0.0 and free.usd_per_million_requests_offline == 0.0
    assert none.offline_usd is None and none.offline_node_hours is None
