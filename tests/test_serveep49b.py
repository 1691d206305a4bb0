"""An expert-parallel serving replica's DP engines each schedule their own prompt chunks (serveep49b): vLLM gives each
DP engine its own scheduler and token budget (vllm/v1/engine/core.py ``DPEngineCoreProc``), so a prompt is one
engine's, and the step (the ranks step together) waits for the rank holding a whole chunk, not the step's prompt
tokens / EP as ``IterationModel._busiest`` had it. A decode-only step is unchanged."""
from __future__ import annotations

import pytest

from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_iteration import IterationModel

#: coefficients of one GPU (the doctest's 8B-like engine), no expert layers, so an EP rank's step is a plain GPU's
GPU = dict(lin_flops=2e9, attn_flops=1e5, dense_bytes=2e9, expert_bytes=0.0, moe_layers=0, experts=1, top_k=1,
           flops_rate=5e14, bytes_rate=2e12, act_bytes=8e3, layers=32, ar_bw=1e11, ar_alpha=8e-6, kernel_s=0.0)
KV = 1e5  # a token's KV bytes, whole


def _pair():
    """(an EP8 replica whose ranks each hold a token's KV whole, KV / 8 its mean share; one GPU alone)."""
    return (IterationModel(**GPU, kv_bytes=KV / 8, tp=8, ep=8, tile_rows=128),
            IterationModel(**GPU, kv_bytes=KV, tp=1, ep=1, tile_rows=128))


def test_one_prompt_on_an_ep_replica_is_prefilled_by_one_rank_whole():
    """One 2,000-token prompt on EP8 (no expert layers, so no exchange): the rank that holds it runs all 2,000 tokens,
    their attention pairs and KV writes, as one GPU alone would; 8 such prompts in one step, one a rank, take that same
    step. Before: the busiest rank ran 250 of the tokens (1.07 ms against one GPU's 8.59)."""
    ep, one = _pair()
    prompt = one.prompt_prefill(0.0, 2000.0)
    alone = float(one.time(**prompt))
    assert float(ep.time(**ep.prompt_prefill(0.0, 2000.0))) == pytest.approx(alone, rel=1e-12)
    assert float(ep.time(**ep.prompt_prefill(0.0, 2000.0, 8.0))) == pytest.approx(alone, rel=1e-12)
    # beside 64 decodes (8 a rank): the busiest rank's step is one GPU's with its 8 decodes and the whole chunk
    dec = dict(decode_seqs=64, decode_ctx=64 * 1000.0)
    got = float(ep.time(**dec, **ep.prompt_prefill(0.0, 2000.0)))
    assert got == pytest.approx(float(one.time(decode_seqs=8, decode_ctx=8000.0, **prompt)), rel=1e-12)


def test_a_prefill_heavy_moe_step_waits_for_a_whole_chunk():
    """Qwen3-30B-A3B EP8 on one H100 node, 64 decodes and a 1,536-token chunk of one prompt: slower than the same
    tokens as 8 engines' 192-token chunks, whose step the old mean share priced; the exchange is the replica's tokens
    either way (the same comm term)."""
    m = load_job_dict({"model": {"preset": "qwen3-30b-a3b"},
                       "serving": {"p99_latency_ms": 200, "qps": 1, "prompt_tokens": 2000, "output_tokens": 200}}).model
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=1))
    im = IterationModel.build(m, hw, 8, "bf16", "bf16", ep=True)
    dec = dict(decode_seqs=64, decode_ctx=64 * 2100.0)
    whole = im.parts(**dec, **im.prompt_prefill(0.0, 1536.0))
    spread = im.parts(**dec, **im.prompt_prefill(0.0, 192.0, 8.0))
    assert whole["comm"] == pytest.approx(spread["comm"], rel=1e-12)
    assert whole["compute"] > 2.0 * spread["compute"]
    assert whole["step"] > 1.5 * spread["step"]


def test_a_decode_only_step_is_unchanged():
    """No prompt tokens: the busiest rank's ceil(B / ep) decodes as serveep48b had them, whatever chunk is named (the
    first assertion a guard that passes on the old code too; the old code fails on the ``prefill_chunk`` keyword)."""
    ep, one = _pair()
    for b in (1, 8, 61):
        got = float(ep.time(decode_seqs=b, decode_ctx=b * 1000.0))
        busy = -(-b // 8)
        assert got == pytest.approx(float(one.time(decode_seqs=busy, decode_ctx=busy * 1000.0)), rel=1e-12)
        assert float(ep.time(decode_seqs=b, decode_ctx=b * 1000.0, prefill_chunk=512.0)) == got
