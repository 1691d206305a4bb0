"""serve51: an expert-parallel replica's DP load balancer routes on counts as vLLM's front end sees them -- the DP
coordinator's last publication (every 100 ms: vllm/v1/engine/coordinator.py) plus its own sends since
(vllm/v1/engine/core_client.py ``DPLBAsyncMPClient.get_core_engine_for_request``) -- and each DP engine waits in its own
queue (the same admissions, cheaper). Every step here takes 10 ms (``IterationModel.constant``)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from planner.errors import InputError
from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ReplicaSpec, ServingSimConfig, Workload,
                                      make_workload, simulate_serving)
from planner.workloads.serving_iteration import IterationModel

STEP = 0.01


def _ep(ep: int, seats: int, refresh: float = 0.1, **engine):
    im = replace(IterationModel.constant(STEP), ep=ep, tp=ep)
    return ServingSimConfig(replica=ReplicaSpec(im, num_blocks=10_000 * ep),
                            engine=EngineConfig(max_num_seqs=seats, max_num_batched_tokens=2048, lb_refresh_s=refresh,
                                                **engine))


def _wl(arrivals, prompts, outputs):
    return Workload(np.array(arrivals, dtype=float), np.array(prompts), np.array(outputs))


def test_a_finish_since_the_last_publication_is_unseen():
    """EP2, one seat an engine. A (300 tokens, ~3 s) goes to engine 0 at t = 0, B (12 tokens) to engine 1 at 1 ms (A
    counts as a send: 4 against 0); B finishes at ~0.13 s. The 0.1 s publication showed both running, so C at 0.15 s
    ties and goes to engine 0, where it waits for A's seat (~3 s). With exact counts (``lb_refresh_s`` 0, the routing
    until serve51) it goes to the idle engine 1: its first token in two steps."""
    wl = _wl([0.0, 0.001, 0.15], [16, 16, 16], [300, 12, 2])
    stale = simulate_serving(_ep(2, seats=1), wl)
    assert stale.completed == 3
    assert stale.ttft.p99 > 2.5  # C behind A's ~3 s
    exact = simulate_serving(_ep(2, seats=1, refresh=0.0), wl)
    assert exact.ttft.p99 <= 2 * STEP + 1e-9


def test_an_admission_since_the_last_publication_still_counts_as_waiting():
    """EP2, 150 KV blocks an engine. A (1,000-token prompt) goes to engine 0, S (short, done by ~0.04 s) to engine 1, B
    (1,000) to engine 0: the 0.1 s publication shows engine 0 running two, engine 1 none. X at 0.12 s goes to engine 1
    and counts there as waiting (4) though engine 1 admits it in the next step, so Y (640 tokens) at 0.15 s goes to
    engine 0 (2 < 4), whose pool A and B fill (126 of 150 blocks, 40 needed): it waits ~2 s for one of them to finish.
    With exact counts (the routing until serve51) it goes to engine 1 (1 < 2) and starts at once."""
    im = replace(IterationModel.constant(STEP), ep=2, tp=2)
    wl = _wl([0.0, 0.001, 0.002, 0.12, 0.15], [1000, 16, 1000, 16, 640], [200, 3, 200, 300, 2])

    def run(refresh):
        cfg = ServingSimConfig(replica=ReplicaSpec(im, num_blocks=300),
                               engine=EngineConfig(max_num_seqs=8, max_num_batched_tokens=2048, lb_refresh_s=refresh))
        res = simulate_serving(cfg, wl)
        assert res.completed == 5 and res.preemptions == 0
        return res
    assert run(0.1).ttft.p99 > 1.5  # Y behind A / B's 200 decode steps
    assert run(0.0).ttft.p99 <= 3 * STEP + 1e-9


def test_a_burst_between_publications_spreads_over_the_engines():
    """EP4: eight requests at 0.25 s, between two publications, go to engines 0, 1, 2, 3, 0, 1, 2, 3 by the front
    end's own sends (each adds one waiting, 4 to its score), so two a engine and one seat each: the second of each pair
    waits for the first (600 tokens, ~6 s). Were the sends not counted they would all go to engine 0: seven would wait.
    (A guard: exact counts spread them the same way, so it passes on the code before serve51.)"""
    res = simulate_serving(_ep(4, seats=1), _wl([0.25] * 8, [16] * 8, [600] * 8))
    assert res.completed == 8
    assert res.ttft.p50 <= 2 * STEP + 1e-9  # four of eight start at once
    assert res.ttft.p90 > 5.0


def test_the_refresh_period_is_checked():
    with pytest.raises(InputError, match="engine.lb_refresh_s"):
        simulate_serving(_ep(2, seats=1, refresh=-0.1), _wl([0.0], [16], [2]))


#: a seeded EP4 run with exact counts (``lb_refresh_s`` 0) as the code before serve51 answered it (9e15bd6d, one waiting
#: queue a replica scanned past the engines that admit nothing more): 418 Poisson requests at 40 QPS on a 180-block
#: pool an engine, six seats, budget 512 -- preempting (chunked, recompute) and swapping (prefill_first)
BEFORE = {
    ("chunked", "recompute"): (4068, 3510, 7761, 12.170514006133892, 25.728474928458823, 0.027272727272726692,
                               13.826440941274099, 300),
    # re-recorded at sglsim53 (was 4894, 3542, 116, 15.92, 34.99, 0.02472, 18.42, 323): prefill-first EP engines now
    # alternate each on its own (a prefilling engine pauses its own decodes only; any engine's queue head admits)
    ("prefill_first", "swap"): (4295, 2435, 173, 12.495516273086073, 29.383942420121212, 0.025714285714289735,
                                14.614072520221482, 313),
}


@pytest.mark.parametrize("policy,preemption", list(BEFORE))
def test_the_per_engine_queues_answer_as_the_one_queue_did(policy, preemption):
    """Each DP engine's own queue, ordered by ``Req.seq``, admits the same requests in the same order as the replica's
    one queue scanned before: iterations, events, preemptions, percentiles and the queue's peak bit for bit. (A guard:
    recorded from the code before, which it passes but for the ``lb_refresh_s`` field it did not have.)"""
    im = replace(IterationModel.constant(STEP), ep=4, tp=4)
    wl = make_workload(ArrivalSpec("poisson", rate=40.0, duration_s=10.0), LengthDist("lognormal", 600, 0.8, max=2000),
                       LengthDist("lognormal", 120, 0.8, max=400), seed=5)
    cfg = ServingSimConfig(replica=ReplicaSpec(im, num_blocks=4 * 180),
                           engine=EngineConfig(max_num_seqs=6, max_num_batched_tokens=512, policy=policy,
                                               preemption=preemption, lb_refresh_s=0.0))
    res = simulate_serving(cfg, wl)
    assert res.completed == len(wl) == 418
    assert (res.iterations, res.engine_events, res.preemptions, res.ttft.p50, res.ttft.p99, res.tpot.p99, res.e2e.mean,
            res.queue_max) == BEFORE[(policy, preemption)]
