"""An expert-parallel serving replica's DP engines each own a KV pool and ``max_num_seqs`` in the simulation
(servekv50; vLLM: one ``Scheduler`` a ``DPEngineCoreProc``, each with its ``kv_cache_manager`` and
``max_num_running_reqs``, vllm/v1/core/sched/scheduler.py). Each test fails on the code before, which kept one pool and
one ``max_num_seqs`` a replica and preempted the replica's newest request whichever engine held it. Every step here
takes 10 ms (``IterationModel.constant``), so the times are whole steps."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conftest import answered, write_job
from planner.simulate.serving import (EngineConfig, ReplicaSpec, ServingSimConfig, Workload, simulate_serving)
from planner.workloads.serving_iteration import IterationModel

STEP = 0.01


def _run(arrivals, prompts, outputs, num_blocks: int, seats: int = 8, ep: int = 2):
    im = replace(IterationModel.constant(STEP), ep=ep, tp=ep)
    cfg = ServingSimConfig(replica=ReplicaSpec(im, num_blocks=num_blocks),
                           engine=EngineConfig(max_num_seqs=seats, max_num_batched_tokens=2048))
    wl = Workload(np.array(arrivals, dtype=float), np.array(prompts), np.array(outputs))
    res = simulate_serving(cfg, wl)
    assert res.completed == len(arrivals)
    return res


def test_a_request_waits_for_room_in_its_own_engines_pool():
    """EP2, 200 blocks an engine (400 the replica). A 2,400-token prompt decoding 300 tokens holds ~153 of engine 0's
    blocks; a short one decodes on engine 1. A 800-token prompt arriving at 0.5 s goes to engine 0 (both run one: the
    tie goes to the first) and needs 50 blocks where 47 are free: it waits until the long one finishes (~3 s), though
    the other engine's pool is nearly empty. Before: the pooled 400 blocks had room, first token in one step."""
    res = _run([0.0, 0.0, 0.5], [2400, 16, 800], [300, 300, 2], num_blocks=400)
    assert res.ttft.p99 > 2.3  # behind the long request's ~2.99 s of decoding
    assert res.preemptions == 0
    # the same on a pool twice the size: room at once (the end of the step it arrived in, then its one chunk's step)
    assert _run([0.0, 0.0, 0.5], [2400, 16, 800], [300, 300, 2], num_blocks=800).ttft.p99 <= 2 * STEP + 1e-9


def test_each_engine_has_its_own_max_num_seqs():
    """EP2 at ``max_num_seqs`` 1 (one engine's, vLLM's flag): three requests at once go to engines 0, 1, 0; the first
    two start together, the third waits for engine 0's seat. Before: one seat for the replica, the second waited for
    the first to finish (its TTFT ~2 s, the median's)."""
    res = _run([0.0, 0.0, 0.0], [16, 16, 16], [200, 200, 5], num_blocks=10_000, seats=1)
    assert res.ttft.p50 == pytest.approx(STEP)
    assert res.ttft.p99 > 1.9  # the third, behind the first's 200 tokens


def test_preemption_takes_the_newest_request_of_the_engine_that_ran_out():
    """EP2, 100 blocks an engine: requests 0 and 2 on engine 0 (50 + 40 blocks, growing to 75 + 65) run out of engine 0's
    pool while engine 1 (requests 1 and 3, up to 20 blocks each) has room; engine 0 preempts its own newest, request 2, not
    request 3, the replica's newest. Before: the pooled 200 blocks never ran out, no preemption."""
    res = _run([0.0, 0.001, 0.05, 0.1], [800, 16, 640, 16], [400, 300, 400, 300], num_blocks=200)
    assert res.preemptions >= 1
    assert {rid for _, _, rid, _ in res.preemption_events} == {2}


def test_a_tp_replica_keeps_one_pool_and_one_max_num_seqs():
    """One engine (TP2): the pool and the seats are the replica's, so the 800-token prompt is admitted beside the long
    one at once (the guard: the same on the old code)."""
    res = _run([0.0, 0.0, 0.5], [2400, 16, 800], [300, 300, 2], num_blocks=400, ep=1)
    assert res.ttft.p99 <= 2 * STEP + 1e-9


def test_spans_agree_with_the_step_by_step_run_on_an_ep_replica():
    """The fast-forwarded decode spans take each engine's blocks from its own pool (``Engine._span_blocks`` a DP
    engine): the preempting EP2 run above gives the same times, iterations and preemptions step by step. (Its arrivals
    off the 10 ms grid: one landing exactly on a step's end is admitted a step apart by the two, one iteration more
    fast-forwarded, on a TP replica as well, before servekv50 too; not this change's.)"""
    args = ([0.0, 0.0013, 0.0517, 0.1049], [800, 16, 640, 16], [400, 300, 400, 300])
    im = replace(IterationModel.constant(STEP), ep=2, tp=2)
    runs = []
    for ff in (True, False):
        cfg = ServingSimConfig(replica=ReplicaSpec(im, num_blocks=200),
                               engine=EngineConfig(max_num_seqs=8, max_num_batched_tokens=2048, fast_forward=ff))
        runs.append(simulate_serving(cfg, Workload(*(np.array(a) for a in args))))
    fast, slow = runs
    assert fast.engine_events < slow.engine_events and fast.preemptions > 0
    assert (fast.iterations, fast.preemptions, fast.ttft, fast.tpot, fast.e2e) == \
        (slow.iterations, slow.preemptions, slow.ttft, slow.tpot, slow.e2e)


def test_each_engine_caches_the_shared_prefix_on_its_own():
    """EP2, a 1,600-token prefix every 2,000-token prompt shares, budget 512: the first request (engine 0) caches it; the
    second, arriving at 0.5 s while the first still decodes, goes to engine 1, whose prefix cache is its own and
    empty, so it prefills all 2,000 tokens (4 chunks, ~5 steps to its first token). Before: engine 0's copy served it,
    400 tokens in one step."""
    im = replace(IterationModel.constant(STEP), ep=2, tp=2)
    cfg = ServingSimConfig(replica=ReplicaSpec(im, num_blocks=10_000, shared_prefix=1600),
                           engine=EngineConfig(max_num_seqs=8, max_num_batched_tokens=512))
    res = simulate_serving(cfg, Workload(np.array([0.0, 0.5]), np.array([2000, 2000]), np.array([100, 2])))
    assert res.completed == 2
    assert res.ttft.p50 >= 4 * STEP  # the lower of the two first tokens: both whole prefills (before: 1 step)


def test_serve_says_the_even_spread_and_a_dp_engines_max_num_seqs(cli, tmp_path):
    """Qwen3-30B-A3B EP8 on a p5.48xlarge (``--no-simulate``): the plan says the screen's even spread of a replica's
    batch over its 8 DP engines in an assumption line, and its recommendation's ``max_num_seqs`` is one engine's, vLLM's
    flag, beside the replica's batch. Before: no such line, "max_num_seqs 64". Since QA 104 ``serving.max_batch`` (64)
    is that flag, one engine's (``replica_seats``): 64 a DP engine, 512 the replica (8 and 64 until then)."""
    job = {"model": {"preset": "qwen3-30b-a3b"}, "cluster": {"instance": "aws:p5.48xlarge"}, "parallel": {"ep": 8},
           "serving": {"qps": 20, "p99_latency_ms": 50, "prompt_tokens": 1000, "output_tokens": 200}}
    plan = answered(cli("serve", write_job(tmp_path, job), "--no-simulate", "--json"))
    assert [a for a in plan["assumptions"] if a.startswith("expert-parallel replicas")] == [
        "expert-parallel replicas (EP8): the screen spreads a replica's batch B evenly over its N data-parallel engines "
        "(ceil(B / N) decodes each)"]
    assert "max_num_seqs 64 a DP engine, 512 a replica;" in plan["why"]
