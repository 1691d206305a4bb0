"""sgl52: SGLang's step as its scheduler runs it -- a prefill batch or a decode batch, never both
(sgl-project/sglang scheduler.py ``get_next_batch_to_run``; ``--enable-mixed-chunk`` off by default) -- in the screen
(``alternating_parts``) and in ``serve``'s simulation (``policy="prefill_first"``), so SGLang's DeepEP auto mode runs its
decode batches on the low-latency kernels.
Each test fails on the code before sgl52 (import of ``alternating_parts``; beyond it, see each). Each < 3 s."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from test_deepep52 import SMALL, _ds3
from planner.hardware.options import option_from_cluster
from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ReplicaSpec, ServingSimConfig,
                                      make_workload, simulate_serving)
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_iteration import (IterationModel, alternating_parts, deepep_ll_exchange_time,
                                                 lump_cv, lump_grid, lumped_parts, replica_token_budget,
                                                 steady_iteration)
from planner.workloads.serving_memory import served_model


def _serving(P, O, cv):
    return load_job_dict({"model": SMALL, "cluster": {"gpu": "H100-SXM-80GB"},
                          "serving": {"p99_latency_ms": 100, "engine": "sglang", "prompt_tokens": P,
                                      "output_tokens": O, "length_cv": cv}}).serving


def test_sglang_alternates_a_prefill_batch_and_a_decode_batch():
    """DeepSeek-V3 fp8 on EP16 over 2 H100 nodes, SGLang's ``deepep``, 2,000 / 500 tokens, batch 512: SGLang's
    iteration model says prefill_first (vLLM's chunked); on one engine's replica the lumped interval is a prefill batch
    of the prompts alone plus the decode batch alone, and on the EP replica a decode-only step is the low-latency
    kernels' while the lumped interval runs over vLLM's mixed step (the decodes of the prefilling engine wait). Before:
    every engine mixed them (no ``batching``)."""
    im = _ds3("deepep", 16)
    assert im.batching == "prefill_first"
    assert IterationModel.build(served_model(load_job_dict({"model": SMALL, "cluster": {"gpu": "H100-SXM-80GB"},
                                                            "serving": {"p99_latency_ms": 100}}).model),
                                option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB")), 1, "bf16", "bf16").batching \
        == "chunked"
    s = _serving(2000, 500, 0.0)
    B = np.array([512.0])
    f, lumped, bare = alternating_parts(im, s, B, replica_token_budget(im, 8192))
    dec = steady_iteration(im, s, B, prefilling=0.0, biased=B)
    ll = deepep_ll_exchange_time(512.0, 16, 256, 8, im.dispatch_bytes, im.combine_bytes, im.ar_bw, im.node_gpus,
                                 im.nic_bw, im.inter_alpha)
    assert dec["comm"][0] == pytest.approx(im.moe_layers * float(ll), rel=1e-9)
    assert bare[0] == pytest.approx(dec["step"][0], rel=1e-12)
    mixed = lumped_parts(replace(im, batching="chunked"), s, B, replica_token_budget(im, 8192))
    assert f[0] == pytest.approx(mixed[0][0], rel=1e-9)  # a round with a finish somewhere on the replica
    assert lumped[0] > mixed[1][0]
    one = replace(im, ep=1)  # one engine: f x (prefill batch + decode batch) + (1 - f) x decode batch
    f1, l1, b1 = alternating_parts(one, s, B, 8192.0)
    x_f = -np.expm1(512 * np.log1p(-1 / 500))
    x, w = lump_grid(lump_cv(512 / 500, x_f, 500, 0.0))  # the lump's spread: K finishes of one length
    pf = (steady_iteration(one, s, 0.0, prefilling=512 / x_f * x, biased=0.0)["step"] * w).sum()
    assert f1[0] == pytest.approx(x_f, rel=1e-12)
    assert l1[0] == pytest.approx(float(pf) + b1[0], rel=1e-9)


@pytest.mark.parametrize("ep", [1, 8])
def test_the_screen_agrees_with_the_simulated_backlog(ep):
    """A small MoE model (2 layers, 8 experts top-2) under SGLang on one H100 node, TP1 or EP8 with ``deepep``, 128
    slots, 1,024 / 64 tokens (lognormal, cv 0.5), each engine's budget 8,192: the screen's throughput B / (O x interval)
    within 6% of the simulated backlog's steady one under ``policy="prefill_first"`` (TP1 53.1 / 53.7 req/s; EP8 80.9 /
    76.7, the simulation pausing every engine's decodes in a prefill step, the screen only the prefilling engine's).
    Before: the screen mixed prompts into the decode steps, 98.7 / 98.9 req/s, 84% / 29% over."""
    P, O, B, budget = 1024, 64, 128, 8192
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=1))
    s = _serving(P, O, 0.5)
    im = IterationModel.build(served_model(load_job_dict({"model": SMALL, "cluster": {"gpu": "H100-SXM-80GB"},
                                                          "serving": {"p99_latency_ms": 100}}).model),
                              hw, ep, "bf16", "bf16", "sglang", ep=ep > 1, all2all="deepep" if ep > 1 else None)
    f, lumped, bare = lumped_parts(im, s, np.array([float(B)]), replica_token_budget(im, budget))
    screen = B / (O * float(f[0] * lumped[0] + (1 - f[0]) * bare[0]))
    cfg = ServingSimConfig(replica=ReplicaSpec(im, num_blocks=10_000_000),
                           engine=EngineConfig(max_num_seqs=B // ep, max_num_batched_tokens=budget,
                                               policy=im.batching))
    wl = make_workload(ArrivalSpec("burst", count=B * 40), LengthDist("lognormal", P, 0.5),
                       LengthDist("lognormal", O, 0.5), seed=0)
    res = simulate_serving(cfg, wl)
    assert screen == pytest.approx(res.steady_rps, rel=0.06)

