"""The serving screen: one option's analytic size before any simulation -- ``planner serve``'s first pass over every
hardware option and TP degree (``llm_option`` for an LLM, ``generic_option`` for a generic model).

For an LLM it sizes the memory-limited batch (``kv_free_bytes``), the engine's batch (the largest whose p99 TPOT and
TTFT meet the targets, ``batch_allows``), the token budget that needs the fewest replicas (``budget_replicas``) and at
it the throughput (``replica_throughput``, ``throughput_at``) and the replicas whose queued p99 TTFT and TPOT meet the
targets (``queue_replicas``, ``least_meeting``), with the load a replica sees (``screen_concurrency``) and the p99s it
states there (``screen_point``: ``llm_ttft`` under Poisson arrivals, ``burst_parts`` / ``burst_ttft`` the mixture over
bursty arrivals' states); an offline job's share of its requests on one replica (``offline_run``) at the fastest token
budget (``offline_token_budget``); and the simulation's view of one replica (``replica_spec``). The model these
follow (the roofline step, the KV cache, chunked prefill, the queues) is described in planner/workloads/serving.py's
docstring and README "Serving"; planner/workloads/serving.py plans with these figures (the limits, the simulations'
refinement, the ranking).

Until split46c this was planner/workloads/serving.py's lines 201-1292 and its ``throughput_at`` (moved verbatim; the
module held 3,158 lines). It imports nothing from serving.py or serving_budget.py (pyproject.toml's serving layers
contract), so the screen cannot call back into the plan.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import numpy as np
from statistics import NormalDist

from hardware_catalog.catalog import nvlink_joined
from planner.hardware.platform import device_noun
from planner.units import fmt_given
from planner.model.serving_efficiency import ServingEfficiency, job_efficiency
from planner.results import ServingOption
from planner.spec import ServingSpec
from planner.spec.schema import MAX_DISAGG_REPLICAS
from planner.simulate.serving import BlockCost, ReplicaSpec
from planner.workloads.serving_memory import (RESERVED_BYTES, WEIGHT_BYTES, GiB, kv_bytes_per_sequence,
                                              kv_bytes_per_token, kv_layout, kv_prefix_bytes, mxfp4_expert_pad,
                                              replica_split, shared_prefix, split_nodes, weight_bytes_per_gpu)
from planner.workloads.serving_iteration import (ACTIVATION_BYTES_BF16, IterationModel, compute_peak, llm_tpot,
                                                 lumped_iteration, option_iteration, prefill_pairs, prefill_time,
                                                 replica_link_bw, screen_points,
                                                 engine_room, replica_token_budget, steady_iteration)
from planner.workloads.serving_queue import (OCCUPANCY_CHAIN_MAX, TPOT_QUANTILE, TTFT_QUANTILE, erlang_c,
                                             fill_reach, jsq_extra_wait, jsq_wait_probability, mixture_quantile,
                                             occupancy_wait, overload_wait_scale, prompt_grid, queue_wait,
                                             screen_tpot, tpot_quantile, tpot_tail, ttft_quantile, ttft_tail)
from planner.workloads.serving_settings import REALTIME_TOKEN_BUDGET, REALTIME_TOKEN_BUDGETS, length_caps


@dataclass
class ServeTarget:
    tpot_s: float | None
    ttft_s: float | None
    qps: float | None  # the mean rate (what the fleet carries and is priced at)
    #: bursty arrivals' states (``ArrivalSpec.states``) as (share of the arrivals, rate over ``qps``, mean sojourn s),
    #: the screen's p99s a mixture over them (``burst_parts``); () for Poisson arrivals at ``qps``
    bursts: tuple = ()


def burst_parts(m, s: ServingSpec, hw, tp: int, target: ServeTarget, batch: int, r: int, capacity: float,
                im: IterationModel, budget: int = REALTIME_TOKEN_BUDGET, tpot: bool = True) -> tuple[list, list]:
    """(TTFT parts, TPOT parts) of ``r`` replicas under bursty arrivals (``target.bursts``) at the token budget
    ``budget`` (both at the one budget since serve45; ``capacity``, the requests/s a replica, is the caller's at it),
    each part (share of the arrivals, tail, bracket end) for ``mixture_quantile`` (``burst_quantile``), the tail None
    where that state's queue is unbounded.

    The pointwise stationary approximation (Green & Kolesar, "The pointwise stationary approximation for queues with
    nonstationary arrivals", Management Science 37(1), 1991; Whitt, Management Science 37(3), 1991, its asymptotic
    correctness as the rates grow against the changes): where a state lasts long against a request's time in the
    system (the default 10 s bursts against the chat example's ~0.3 s TTFT), the queue is near the steady state of
    that state's rate, so an arrival's delay is the steady one at its state's rate, and the p99 over requests is that
    of the mixture weighted by the share of requests arriving in each state (rate x time share; the MMPP's
    stationary arrival-weighted states, Fischer & Meier-Hellstern, Performance Evaluation 18, 1993). Until serve41 the
    screen held every request at the burst rate as if bursts never ended (the chat example's p99 TTFT 670 ms against
    a simulated 361). A state at or over the fleet's capacity (rho = rate / (r x ``capacity``) >= 1) has no steady
    state; there ``overload_tail`` (serve45): the request's own first token beside a full batch (``llm_ttft``'s tail at
    L = the batch, no queue: until serve43 left out, so a state just over load 1 read a TTFT near 0, under an idle
    replica's; until serve45 its mean prompt's), and a wait only for the arrivals after the slots fill (``fill_reach``),
    exponential of ``overload_wait_scale`` (the reflected Brownian queue; until serve45 every arrival of the state
    waited the fluid queue from its first second, Newell, Applications of Queueing Theory, 2nd ed. 1982, ch. 2:
    P(wait > t) = exp(-t / ((rho - 1) T)), T the mean sojourn); its TPOT is a full batch's, a backlog's
    (``tpot_tail`` without a rate). The p99 TTFT the screen states is ``burst_ttft``'s, which keeps it
    monotone in the replicas across load 1. Left out: the backlog a burst leaves to the state after it (the fluid
    drain). ``tpot``: False leaves the TPOT parts out (empty). Measured (benchmarks/burst_screen.py ``--factors``,
    README "Bursty arrivals", an hour of arrivals, seed 0): 0.63x to 2.6x the simulated p99 TTFT over its 27 rows but
    the long-output job's 30 s bursts on 3 replicas, 28x (1,477 ms against 52; 7,752 before serve45, when the screen
    had its slots full from a burst's first second); the chat job's 10 s bursts on 12 / 14 replicas read 0.63x / 0.64x
    of seed 0's hour, whose p99 is one back-to-back pair of bursts (seeds 1 and 2: 3,719 / 4,035 ms on 12, 377 / 428
    on 14, against seed 0's 10,066 / 1,461 and the screen's 6,378 / 939). Tried and
    not taken: each state's rate averaged over the last time in service (M_t/G/inf: Eick, Massey & Whitt, Operations
    Research 41(4), 1993), the chat example at 14 replicas 269 ms against a simulated 839 over 600 s (serve41); an
    overloaded state's queue started only once the M_t/G/inf offered load fills its slots, its arrivals before that at
    that load (the modified-offered-load approximation, Jennings, Mandelbaum, Massey & Whitt, Management Science
    42(10), 1996): the long-output rows right (53,809 ms against 53,555 at 2 replicas) but the chat job's 10 s bursts,
    whose requests hold a slot 13 s, 5,896 / 632 ms against 10,066 / 1,461 at 12 / 14 replicas (serve42; docs/
    serving_notes.md)."""
    ttft, tpots = [], []
    _, calm, calm_s = min(target.bursts, key=lambda b: b[1])  # the state a burst is entered from
    calm = target.qps * calm / r
    for share, factor, sojourn in target.bursts:
        rate = target.qps * factor / r
        rho = rate / capacity
        if rho >= 1.0:
            ttft.append((share, *overload_tail(im, s, (calm, rate, capacity, sojourn, calm_s), batch, r, budget)))
            if tpot:
                tl, _, hi = tpot_tail(im, s, batch, budget)
                tpots.append((share, tl, hi))
            continue
        conc, b = screen_concurrency(m, s, hw, tp, rate, batch, im, budget)
        got = llm_ttft(im, s, conc, batch, rate=rate, budget=budget, q=TTFT_QUANTILE, replicas=r, tail=True)
        ttft.append((share, None, 0.0) if got is None else (share, *got))
        if tpot:
            tl, _, hi = tpot_tail(im, s, b, budget, rate=rate, R=r)
            tpots.append((share, tl, hi))
    return ttft, tpots


def overload_tail(im: IterationModel, s: ServingSpec, state: tuple, batch: int, r: int, budget: int) -> tuple:
    """(t -> P(TTFT > t), bracket end) of the arrivals in an overloaded state of ``burst_parts``, ``state`` (calm rate,
    its rate, capacity, all requests/s a replica, mean sojourn s): its own first token beside a full batch
    (``llm_ttft``'s tail at L = the batch: the prompt lengths drawn, the running step), then a wait only for the share
    e^(-u_f / T) that arrives after the slots fill (``fill_reach``: u_f into a burst entered from what the burst before
    left; an arrival's age in an exponential sojourn of mean T is exponential of mean T), exponential of scale
    ``overload_wait_scale`` (the reflected Brownian queue from the fill on). Until serve45 every arrival of the state
    waited the fluid queue from the state's first second (scale (rho - 1) T, Newell 1982): the long-output job's 8x /
    10% / 30 s bursts on 3 replicas read 7,752 ms against a simulated 52 (its slots fill ~100 s into a burst, for 3.8%
    of its burst arrivals; 1,477 ms now). (None, 0) for a state that never ends (its queue grows without bound)."""
    calm, rate, capacity, sojourn, calm_sojourn = state
    if not math.isfinite(sojourn):  # an overloaded state that never ends (Poisson over capacity): unbounded
        return None, 0.0
    # what fills: the slots, each held for an output's decode (the service's spread: its lengths'), or the prefill
    # budget, a prompt's share of it (the prompts')
    reach, slots = fill_reach(im, s, calm, rate, batch, budget, (sojourn, calm_sojourn))
    theta = overload_wait_scale(rate, capacity, r, sojourn, s.output_cv if slots else s.prompt_cv)
    return llm_ttft(im, s, batch, batch, budget=budget, q=TTFT_QUANTILE, tail=True, queues=((reach, reach * theta),))


def overloaded_replicas(target: ServeTarget, capacity: float) -> int:
    """The most replicas at which an arrival state of ``target.bursts`` is at or over the fleet's capacity (``rho`` >= 1
    in ``burst_parts``, ``capacity`` requests/s a replica): floor(QPS x the highest state's rate factor / capacity),
    0 where none is (rho as ``burst_parts`` computes it, so the two agree at a float's edge)."""
    top = max((f for _, f, _ in target.bursts), default=0.0)
    n = int(target.qps * top / capacity) if capacity > 0 else 0
    while n >= 1 and target.qps * top / n / capacity < 1.0:
        n -= 1
    return n


def burst_ttft(m, s: ServingSpec, hw, tp: int, target: ServeTarget, batch: int, r: int, capacity: float,
               im: IterationModel, budget: int = REALTIME_TOKEN_BUDGET) -> float:
    """The p99 TTFT the screen states for ``r`` replicas under bursty arrivals: ``burst_parts``' mixture, at most the
    mixture at ``overloaded_replicas`` (the most replicas a burst overloads) where ``r`` is over that count.

    Why (serve43): the fleet's p99 TTFT cannot rise when a replica is added. With the same arrivals and prompts, a
    FCFS queue with one server more starts every request no later (Kiefer & Wolfowitz, "On the theory of queues with
    many servers", Trans. AMS 78, 1955: the sorted workload vector's recursion is monotone, and a new server is one
    more zero coordinate), the pooled queue the screen's replicas stand for. The mixture is not: its overloaded
    state's law (the fluid queue) and its stable one (the pointwise stationary queue) each fall with the replicas,
    but they meet at load 1 with a jump up, as the stationary queue near saturation is one the burst never reaches:
    its relaxation time ~ 1 / (mu (1 - sqrt(rho))^2) (Morse, "Stochastic properties of waiting lines", Operations
    Research 3(3), 1955; Odoni & Roth, Operations Research 31(3), 1983, for M/G/c) is ~130 s at 12 of the RAG job's
    g6e.xlarge replicas (pooled mu 19 req/s, rho 0.96) against a 10 s burst, and a queue started below its steady
    state stays below it (Loynes 1962), so that law is the one over. The RAG job (llama3-8b, 6,000 / 150 tokens, 8
    QPS, mmpp 4x / 25% / 10 s) at budget 512 read 2,110 / 7,573 / 3,234 / 2,704 ms at 11-14 replicas, the
    simulated hour (seed 0) 3,231 / 2,711 / 2,384 / 2,138: now 2,672 at 11-14 (its own prefill counted in the
    overloaded state, ``burst_parts``). One mixture law for every load (the transient queue over a burst from the calm
    state's) read 1.2-3.4x over the simulation (serve47, not taken). Over ``overloaded_replicas`` the stable law
    falls with the replicas and under it the fluid one does, so the cap by that count alone keeps the whole screen
    non-increasing (tests/test_serve43b.py)."""
    p99 = burst_quantile(burst_parts(m, s, hw, tp, target, batch, r, capacity, im, budget, tpot=False)[0],
                         TTFT_QUANTILE)
    top = overloaded_replicas(target, capacity)
    if 1 <= top < r:
        p99 = min(p99, burst_quantile(burst_parts(m, s, hw, tp, target, batch, top, capacity, im, budget,
                                                  tpot=False)[0], TTFT_QUANTILE))
    return p99


def burst_quantile(parts: list, q: float) -> float:
    """The ``q``-quantile of ``burst_parts``' mixture: a state whose tail is None (an unbounded queue) counts as never
    under any t, so the quantile is inf where such states hold over 1 - q of the arrivals."""
    if sum(w for w, tail, _ in parts if tail is None) > 1.0 - q:
        return math.inf
    return mixture_quantile(q, [(w, (lambda t: 1.0) if tail is None else tail, end) for w, tail, end in parts])


def screen_point(m, s: ServingSpec, hw, tp: int, target: ServeTarget, batch: int, r: int, capacity: float,
                 im: IterationModel, budget: int, conc: Optional[tuple] = None) -> list:
    """[L, b, p99 TTFT s, p99 TPOT s] the screen states for ``r`` replicas at ``target``'s load, every figure at the
    one token budget ``budget`` (vLLM ``max_num_batched_tokens``), the TPOT a thunk until asked (its tails are the
    dearer part). L and b: ``screen_concurrency``'s at the replica's mean rate; under bursty arrivals the p99s are the
    mixture over the states (``burst_parts``), else the open Poisson fleet's: ``llm_ttft`` with the slot and
    prefill-budget queues pooled over ``r`` (JSQ), ``tpot_quantile`` with its branching stalls (servetpot36).

    Why one budget (serve45): the budget sets all three as vLLM runs it (vllm/v1/core/sched/scheduler.py
    ``schedule``: the running decodes' tokens first, then waiting prompts chunked to what is left), so a prompt's
    prefill takes ceil(prompt / room) steps and each step's time grows with the budget's prompt tokens. Until serve45
    the TTFT was at 2,048 beside a TPOT at the budget least for it (512 on the chat example's g6e.xlarge).
    ``conc``: (L, b) at this count where the caller has them (``queue_replicas``' batches, ``screen_concurrency_many``)."""
    rate = target.qps / r
    conc, b_eff = conc or screen_concurrency(m, s, hw, tp, rate, batch, im, budget)
    if target.bursts:
        return [conc, b_eff, burst_ttft(m, s, hw, tp, target, batch, r, capacity, im, budget),
                lambda: burst_quantile(burst_parts(m, s, hw, tp, target, batch, r, capacity, im, budget)[1],
                                       TPOT_QUANTILE)]
    return [conc, b_eff, float(llm_ttft(im, s, conc, batch, rate=rate, budget=budget, q=TTFT_QUANTILE, replicas=r)),
            lambda: tpot_quantile(im, s, b_eff, budget, rate=rate, replicas=r)]


def llm_ttft(im: IterationModel, s: ServingSpec, L, batch, rate: Optional[float] = None,
             budget: int = REALTIME_TOKEN_BUDGET, q: Optional[float] = None, replicas: int = 1,
             tail: bool = False, queues: tuple = ()) -> np.ndarray:
    """TTFT of a request arriving at a replica with ``L`` requests in its batch (the mean, or with ``q`` its
    q-quantile; vectorised) and at most
    ``batch`` sequences running, under continuous batching with chunked prefill as vLLM V1's scheduler runs it
    (Orca, Yu et al. OSDI 2022; Sarathi-Serve, Agrawal et al. OSDI 2024; the simulation's ``policy="chunked"``):
    the request waits for the iteration in progress, then its prompt is prefilled in chunks of the token budget
    left beside the decodes of the others running (its first token comes out of the last chunk's step):

        TTFT = Wq                                queueing (with ``rate``), below
             + (1 - e^-L) x step_ss(n_busy)      the iteration running when it arrives, if any
             + k steps(n others decoding + a chunk of its N new prompt tokens)

    n = min(L, batch - 1): the others a Poisson arrival finds (arrivals see time averages, Wolff 1982); the
    number in the batch is Poisson(L) below the cap (an M/G/inf system: each request's time hardly depends
    on the others), so the server is busy with probability 1 - e^-L and then runs n_busy = L / (1 - e^-L) of
    them (the mean of a Poisson given >= 1), capped at batch - 1; step_ss is ``lumped_iteration`` (their
    decodes and prefill share, the prompts in lumps as the engine runs them; the mean step, cap33). The whole
    running iteration is counted, not its mean residual (half of it):
    a bound for the tail the way the TPOT is stated as the p99. k = ceil(N / (T - n)) steps: vLLM V1 schedules the
    running decodes first (one token each) and fills the rest of the budget T = max(``budget``, batch)
    (``max_num_batched_tokens``, ``REALTIME_TOKEN_BUDGET``) with prompt chunks, so a prompt longer than that is
    prefilled over k steps, each also carrying the n decodes (its chunks' pairs and re-read prior tokens summed
    over the k steps, the chunks cut as the scheduler cuts them: k - 1 that fill the room, then the rest). n counts
    only the others decoding: a request spends ~N / T steps prefilling and O - 1 decoding (one output token: none
    decode), and the running iteration holds at most the budget of prompt tokens. A lone 8,000-token prompt (llama3.1-8b,
    one H100) takes 4 steps, 332.4 ms, at a 2,048-token budget and 16, 344.7 ms, at 512, as the simulation runs them
    (332.4 / 344.7), where it was one 8,000-token step (329.3 ms) whatever the budget.

    Without ``rate`` this is the time in service (``screen_concurrency``'s W, and the batch sizing at L = batch);
    with the replica's ``rate`` (requests/s) it adds the two queues a request meets (``queue_wait``, Allen-Cunneen
    M/G/c; the prompts' spread ``ServingSpec.prompt_cv``, as the simulation draws them):

    * a free batch slot: c = batch servers (``max_num_seqs``), offered load a = L, each request holding its slot
      for S = L / rate (Little's law: its prefill steps and O - 1 decodes); since occup34 the probability and mean of
      the wait come from a birth-death chain over the occupancy n with departures n / W(n) (``occupancy_wait``,
      ``slot_service``: the steps slow as the batch fills, so the slots are full more often than Erlang C at a = L
      says), Erlang C at a = L where L or the batch is an array or the fleet has over ``OCCUPANCY_CHAIN_MAX`` slots;
    * the prefill budget, one server: a prompt takes S_p = N x step_p / (T - n) of it (step_p: a step full of
      prompt chunks beside the n decodes), load rho_p = rate x S_p. Of its Pollaczek-Khinchine wait Wq = R + rho_p x
      Wq (R: the residual of the prompt work in service) only the work queued ahead, rho_p x Wq, is added: the work
      in service is the running iteration above. With long prompts or one output token this queue binds (one
      8,000-token prompt fills four 2,048-token steps); with short prompts and long outputs, the slots'.

    The two add (a tandem of the queues; each is ~0 where the other binds). At or past either capacity the queue
    grows without bound: inf (``llm_option`` then states no TTFT). Mean lengths: the simulation's lognormal
    prompts put its median a little under this. ``replicas``: the fleet's queues pooled (``least_outstanding``
    routing is join-the-shortest-queue): c x replicas slots and a replicas-server prefill queue at the fleet's load,
    the slot queue's wait plus what a request waiting at one replica's c slots adds (``jsq_extra_wait``, ttft33: the
    chat example's TP2 at batch 6 over 70 replicas, p99 0.83 s pooled, 3.60 s with it, simulated 4.11 s). At one slot
    a replica (``max_num_seqs`` 1) the probability of waiting is JSQ's own, not the pooled queue's (servegap35,
    ``jsq_wait_probability``: fewer wait, each for its own replica's residual): tests/test_serving.py's llama3-8b
    batch-1 job at 2 QPS on p5.48xlarge TP1 (W 2.27 s, service cv 0.49) waits with P 0.0331 / 0.0136 / 0.0052 at 9 /
    10 / 11 replicas, the simulated fleet's 0.033-0.035 / 0.014-0.015 / 0.005-0.006 (benchmarks/jsq_wait.py: 20,000
    requests, seeds 0 / 1), Erlang C's 0.048 / 0.020 / 0.008; its p99 TTFT there 2,507 / 1,083 / 65 -> 1,914 / 489 /
    60 ms (simulated 1,762-1,942 / 573-722 / 60-62), so 10 replicas where 11 were, the simulated count. An M/G/c
    probability for the service's cv under 1 does not explain it: a pooled queue of 10 servers waits with 0.0197 at
    cv 0.49 and 0.0191 at constant service (``jsq_wait.py --queues``), 0.94-0.97 of Erlang C, where JSQ's is 0.68. One
    replica (R = 1) and batches over 1 keep the chain (serve35: a replica's chain does not over-state P(wait)).
    Measured and not taken: a queue per replica (one replica at QPS / replicas) sizes the chat example's
    (examples/serving-llama3-8b-chat.yaml) g6e.xlarge / g2-standard-96 TP2 / TP4 at 6 / 65 / 6 replicas where pooled
    gives 5 / 36 / 6 (simulated: 7 / a miss at any count / 7); the simulated fleet p99 TTFT at TP2 is 3.2 s with 36
    replicas and 0.41 s with 43, so per-replica queues overshoot 43 by half where pooling undershoots it.

    With ``tail`` (a scalar ``L`` and ``q``) it returns the TTFT's tail and bracket in place of the percentile
    (``ttft_tail``: None where a queue is unstable), which ``burst_parts`` mixes over bursty arrivals' states.
    ``queues``: (probability of waiting, mean wait) of queues the caller adds to these (``overload_tail``'s wait
    once a burst has filled the slots).

    With ``q`` (``TTFT_QUANTILE``, 0.99: ``serving.ttft_ms`` is a p99) it is that percentile, not the mean
    (``ttft_quantile``): the request's own prefill over the prompt lengths the simulation draws (``prompt_grid``:
    the p99 prompt, 2.68x the mean at cv 0.5, not the mean one), after the iteration running when it arrives (the
    others in flight Poisson(L), each count's step) and the two queues' exponential tails (Whitt 1993): the slots'
    Erlang C probability of waiting, the prefill budget's whole M/G/1 wait (probability rho_p, its service moments
    over the prompt lengths). The mean stays where a mean is the quantity: Little's law (``screen_concurrency``)
    and a lone request's time (``ttft_batch1_ms``, ``one_request_s``).

    History: until ttft30 it priced a loaded batch-64 iteration at any load (QA: Llama-3-8B, 1 output token,
    2 QPS on p5.4xlarge, concurrency 0.08: 1,173 ms analytic vs a simulated p50 of 19 ms); until ttft31 it had no
    queue and one step for any prompt (llama3-8b, 500 / 128 tokens at 90% of the simulated capacity: 31.6 ms, now
    40.4; simulated p50 36.4, mean 46); until ttft32 the screen stated and sized by the mean (a p99 target).
    Grid (benchmarks/ttft_grid.py: one replica, max_num_seqs min(64, memory), budget 2,048, lognormal lengths cv 0.5,
    Poisson, seed 0, 3,000 requests; utilisation of the simulated saturated throughput, ``_capacity``: since drain33
    the steady rate of a backlog, its drain tail out, 15% higher at 128 / 128 tokens, 4% at 2,000 / 128, 0-3% with
    one output token or 8,000-token prompts). The mean: 42 of the 60 within 25% of the simulated median (46 at the
    old loads), 58 under the p90. The p99 (``q=0.99``) / the simulated p99, ms:

    | model        | prompt | out | 10%           | 50%           | 80%             | 90%             | 95%             |
    |--------------|-------:|----:|---------------|---------------|-----------------|-----------------|-----------------|
    | llama3.1-8b  |    128 |   1 | 21 / 21       | 41 / 65       | 83 / 133        | 152 / 192       | 333 / 264       |
    | llama3.1-8b  |    128 | 128 | 24 / 22       | 25 / 28       | 32 / 115        | 210 / 404       | 397 / 676       |
    | llama3.1-8b  |  2,000 |   1 | 261 / 251     | 472 / 601     | 1,206 / 1,334   | 2,583 / 2,384   | 6,175 / 3,654   |
    | llama3.1-8b  |  2,000 | 128 | 248 / 251     | 396 / 476     | 694 / 983       | 954 / 2,312     | 5,825 / 3,810   |
    | llama3.1-8b  |  8,000 |   1 | 1,243 / 1,244 | 2,258 / 2,880 | 5,767 / 6,296   | 12,339 / 10,908 | 29,241 / 16,687 |
    | llama3.1-8b  |  8,000 | 128 | 1,243 / 1,241 | 2,236 / 2,830 | 5,652 / 6,313   | 12,166 / 11,353 | 29,691 / 17,241 |
    | llama3.1-70b |    128 |   1 | 58 / 56       | 117 / 173     | 220 / 363       | 402 / 514       | 879 / 705       |
    | llama3.1-70b |    128 | 128 | 61 / 57       | 66 / 71       | 94 / 244        | 615 / 947       | 1,271 / 1,618   |
    | llama3.1-70b |  2,000 |   1 | 664 / 625     | 1,207 / 1,515 | 3,079 / 3,396   | 6,578 / 6,005   | 15,615 / 9,219  |
    | llama3.1-70b |  2,000 | 128 | 624 / 629     | 1,063 / 1,243 | 2,021 / 2,788   | 2,964 / 5,717   | 6,070 / 9,428   |
    | llama3.1-70b |  8,000 |   1 | 2,860 / 2,798 | 5,291 / 6,483 | 13,669 / 14,586 | 29,870 / 26,646 | 75,098 / 40,423 |
    | llama3.1-70b |  8,000 | 128 | 2,832 / 2,806 | 5,217 / 6,222 | 13,115 / 14,544 | 28,004 / 26,748 | 69,085 / 40,543 |

    38 of the 60 within 25% of the simulated p99 (the mean the screen judged before: 2; median ratio 0.92, was
    0.24); 14 more than 25% under, 8 over. At the old loads (``_capacity`` over the whole backlog, its drain tail in
    it: 41.7 / 10.38 req/s at 128 / 128 and 2,000 / 128 on llama3.1-8b, now 47.96 / 10.77) it was 39, 14, 7, median
    0.90: the 128-output rows' loads are higher now (128 / 128 at 80%: 33.4 -> 38.4 req/s, 0.85 -> 0.28), where the
    analytic slot queue lags the simulated one. The 128-output rows are cap33's (the step as the engine runs it,
    ``lumped_iteration``, in the throughput, the running iteration and the slot queue's service time). Left: short
    prompts with 128 outputs from 80% and 2,000 / 128 at 80-90% (0.28-0.72: the analytic capacity, 51.0 / 10.59
    req/s, is over the simulated steady one at 128 / 128, 47.96, so its slot queue comes later), one-output-token
    128-token prompts at 50-80% (0.6: a step's batch of prompts that arrived behind the request is not in its own
    step), and at 95% the 2,000- and 8,000-token prompts read 1.5-1.9x (2,000 / 128 on llama3.1-70b: 0.64), 128 / 1
    on llama3.1-8b 1.26 (an M/G/1 tail at 95% over 3,000 requests: the simulated run is short of its steady state). Tried and dropped: the running
    iteration's residual uniform instead of whole (19 of 30 on llama3.1-8b, was 20), the prefill budget's wait as
    only the work queued ahead (as the mean) (11 of 30: the tail needs the whole wait), a floor of rho x P(the
    residual prompt work > t) under its exponential tail (no point moved). slotq34 (README, "What the slot queue
    misses"): simulated, the 64 slots are full for more arrivals than Erlang C at a = L says (llama3.1-8b 128 / 128 at
    80 / 90 / 95%: 2.7 / 22 / 41% vs 1.5 / 13 / 28%; the occupancy's variance 1.2-1.3x its mean) and a wait lasts
    M/M/c's, not 0.625 of it; the slot queue's load at the full batch's time in service (rate x W(batch)) took the
    grid to 44 of 60 but benchmarks/sim_vs_analytic_replicas.py to 48 kept / 4 added / 9 removed, 23 replicas apart
    (was 51 / 5 / 5, 20): a steep step keeps the batch from filling (the 70b example's p4de TP4 at 96% of its
    throughput holds 119 of 167 slots); a birth-death chain with departures at k / W(k) (Kleinrock 1975 §3.1) 41 of
    60, 50 / 4 / 7, 21 apart. Neither taken then. Since occup34 the slot queue is that chain at today's W(k)
    (``occupancy_wait`` over ``slot_service``; capgap34's W is within 0.3% of the simulated time in a slot at 80-95%):
    42 of 60 within 25% (7 more than 25% under, 11 over: at 95% the 128-output rows 1.3-2.3x, the 3,000-request runs
    short of the queue's steady state -- over 200,000 requests 1.01-1.24x but 2,000 / 128 on llama3.1-8b 1.5x, the
    chain's full-batch rate 10.52 req/s against the simulated 10.77: serve35, benchmarks/slot_wait.py), median ratio
    0.99;
    benchmarks/sim_vs_analytic_replicas.py 52 / 4 / 5 / 0, 19 apart. The table above is before it (README "What the
    slot queue misses" has the rows that moved); Erlang C at the full batch's load rate x W(batch) read 45 of 60 but
    50 / 4 / 7 / 0, 21 apart."""
    P, O = s.prompt_tokens, s.output_tokens
    H = shared_prefix(s)
    N = P - H
    L = np.asarray(L, dtype=np.float64)
    cap = np.maximum(np.asarray(batch, dtype=np.float64) - 1.0, 0.0)
    others = np.minimum(L, cap)
    busy = -np.expm1(-L)  # 1 - e^-L, exact near 0
    n_busy = np.minimum(L / np.where(busy > 0, busy, 1.0), cap)  # L = 0: busy 0, n_busy 0
    # the engine's budget is >= its batch; an expert-parallel replica's engines each have it (``replica_token_budget``)
    T = np.maximum(float(replica_token_budget(im, budget)), np.asarray(batch, dtype=np.float64))
    # of the others, those decoding: a request spends ~N / T steps prefilling and O - 1 decoding (one output token:
    # none decode; the others' prompts are the prefill budget's queue, below), at most the d the budget keeps
    # decoding with them and the request in the slots (``budget_decodes``, the throughput's rule, srvq45): vLLM V1
    # gives the budget to the running decodes first, so where the room cannot hold the intake only d decode and the
    # room left is budget - d = d x N / O, and the budget queue's capacity at full slots is the throughput (QA 70's
    # chat job on Azure A100 TP2 at batch 96, budget 512: 94.1 decodes, a room of 418 and 11.36 req/s, against the
    # throughput's 85.33 and 11.60)
    dec = np.minimum(others * (O - 1.0) / (O - 1.0 + np.maximum(N / T, 1.0)), budget_decodes(s, others + 1.0, T))
    # the running iteration: its decodes as the budget keeps them, its prompt tokens at most the budget they leave
    d_busy = budget_decodes(s, n_busy, T)
    running = lumped_iteration(im, s, d_busy, T, prefilling=np.minimum(d_busy, np.maximum(T - d_busy, 0.0) * O / N))
    room = np.maximum(T - dec, 1.0)  # the budget left for prompt chunks once the running decodes have theirs

    def own(n, dec, room):
        """k steps prefilling n new tokens beside ``dec`` decodes, ``room`` prompt tokens a step (the replica's: its
        engine's share, ``engine_room``, on an expert-parallel one)."""
        room = engine_room(im, room)
        k = np.maximum(np.ceil(n / room), 1.0)
        # as the scheduler cuts it: k - 1 chunks filling the room, then the rest r; a chunk of c tokens after p
        # computed ones attends to c x (p + (c + 1)/2) pairs (``prefill_pairs``) and re-reads the p (MLA); the full chunks
        # timed at their mean p
        full = np.minimum(room, n) * (k > 1)
        done = (k - 1.0) * full  # tokens in the full chunks
        r = n - done
        p_full = H + (k - 2.0) * full / 2.0  # the mean of H, H + room, ..., H + (k - 2) room
        decodes = dict(decode_seqs=dec, decode_ctx=dec * (P + O / 2.0))
        # the full chunks' local pairs: their mean over the k - 1 (the last chunk's are ``prompt_prefill``'s)
        lf = dict(prefill_local_ctx=im.local_pairs(float(H), done) / np.maximum(k - 1.0, 1.0)) if im.window else {}
        return ((k - 1.0) * im.time(prefill_tokens=full, prefill_ctx=prefill_pairs(p_full, full),
                                    prefill_prior=p_full, **decodes, **lf)
                + im.time(**im.prompt_prefill(H + done, r), **decodes))

    def budget_share(n, dec, room):
        """The prefill budget's time one prompt of n new tokens holds: n / room of a step full of prompt tokens
        (several short prompts, or a chunk of a long one), each attending to H + n/2 keys on average; on an
        expert-parallel replica an engine's chunk at most its share of the room (``engine_room``)."""
        pre = im.prompt_prefill(float(H), n, room / n)
        if im.ep > 1:
            pre["prefill_chunk"] = np.minimum(n, engine_room(im, room))
        return n * im.time(decode_seqs=dec, decode_ctx=dec * (P + O / 2.0), **pre) / room

    cv = s.prompt_cv
    if q is not None:  # a percentile: prompts drawn as the simulation draws them (new tokens: those past the prefix)
        # within the model's context, as the simulation draws them (``length_caps``; QA 85)
        lengths, weights = prompt_grid(P, cv, length_caps(P, O, im.max_model_len)[0])
        n_q = np.maximum(lengths - H, 1.0)
    waits = list(queues)  # (probability of waiting, mean wait) per queue: the caller's (``overload_tail``), then these
    if rate is not None:
        # the fleet's queues are pooled: the simulation routes each request to the replica with the fewest
        # outstanding (``least_outstanding``), join-the-shortest-queue, whose queue length is one queue of all their
        # servers' (Foschini & Salz, IEEE Trans. Commun. 1978); ``rate`` and L stay per replica
        R = max(int(replicas), 1)
        c = int(np.max(batch)) * R
        S = L / rate if rate > 0 else 0.0
        if rate > 0 and np.ndim(L) == 0 and np.ndim(batch) == 0 and c <= OCCUPANCY_CHAIN_MAX:
            # the slots' occupancy as a birth-death chain (``occupancy_wait``): at n in a replica's slots a request's
            # time in service is W(n) = its TTFT beside n - 1 others + (O - 1) lumped steps at batch n, as
            # ``screen_concurrency`` prices W at its mean; the fleet's k slots busy, k / R a replica (JSQ). Erlang C
            # at a = L (below: the chain's constant-W case) read the 64 slots full for fewer arrivals than simulated
            # where the steps slow as the batch fills (occup34: benchmarks/ttft_grid.py p99 within 25% 41 -> 42 of
            # 60, more than 25% under 11 -> 7)
            Wn = slot_service(im, s, int(batch), budget)
            Wk = np.interp(np.arange(1, c + 1, dtype=np.float64) / R, np.arange(1.0, len(Wn) + 1.0), Wn)
            p_wait, w_slot = occupancy_wait(rate * R, Wk, cv)
            if int(batch) == 1 and R > 1 and p_wait > 0.0:
                # one slot a replica: the R one-server queues under JSQ wait less often than their pooled M/M/R
                # (``jsq_wait_probability``), each waiting request as long (the wait given a wait kept: its own
                # replica's residual, jsq_extra_wait below)
                p_jsq = jsq_wait_probability(R, rate * R * float(Wn[0]))
                w_slot, p_wait = w_slot * p_jsq / p_wait, p_jsq
        else:
            p_wait = np.where(L > 0, erlang_c(c, L * R), 0.0)
            w_slot = queue_wait(c, L * R, S, cv)
        # ... but a request that waits waits at its own replica, for one of its ``batch`` slots, not for the first of
        # the fleet's c (jsq_wait): the pooled wait plus (R - 1) S / c, each with Allen-Cunneen's (1 + cv^2) / 2
        waits.append((p_wait, w_slot + p_wait * jsq_extra_wait(c, R, S, cv)))
        if q is None:
            # Pollaczek-Khinchine's wait is the residual of the prompt work in service plus the work queued ahead,
            # Wq = R + rho x Wq; the work in service is the running iteration counted above, so only rho x Wq is
            # added (a mean with the whole running iteration in it)
            s_p = budget_share(N, dec, room)
            rho_p = rate * s_p
            waits.append((rho_p, rho_p * queue_wait(R, R * rho_p, s_p, cv)))
        else:
            # the tail: the whole M/G/1 wait (FCFS: an arrival waits for the rest of the prompt in service too), its
            # service moments over the prompt lengths (a long prompt's share grows faster than its length: its
            # attention), P(wait) = rho (Pollaczek-Khinchine; Whitt 1993's exponential tail in ``ttft_quantile``)
            share = budget_share(n_q, dec[..., None], room[..., None])
            m1 = (share * weights).sum(axis=-1)
            cs = np.sqrt(np.maximum((share * share * weights).sum(axis=-1) / (m1 * m1) - 1.0, 0.0))
            rho_p = rate * m1
            p_p = erlang_c(R, R * rho_p)
            # a request that waits for the budget waits at its own replica, for the prompt in service there, not for
            # the first of the R to free: the pooled wait plus (R - 1) S_p / R (``jsq_extra_wait`` with one server a
            # replica; rag34). Pooled alone, QA 42's RAG job (16,000-token prompts) on B200 TP4 read 2,460 / 2,262 /
            # 2,253 ms at 5 / 6 / 7 replicas, hardly over its low-load 2,236, where the simulated fleet's p99 is 2,904 /
            # 2,774 / 2,530; with it 3,312 / 2,704 / 2,447 (H100 TP8 at 6 / 8 / 12: 4,117 / 3,047 / 2,744, simulated
            # 4,498 / 3,395 / 2,878). Each replica its own M/G/1 (no pooling) read 6,779 / 5,064 / 4,296: JSQ on
            # outstanding requests does balance the prompts. One replica: unchanged (benchmarks/ttft_grid.py)
            waits.append((p_p, queue_wait(R, R * rho_p, m1, cs) + p_p * jsq_extra_wait(R, R, m1, cs)))
    if q is None:
        return busy * running + own(N, dec, room) + sum(wq for _, wq in waits)
    x = own(n_q, dec[..., None], room[..., None])
    # the others in flight when it arrives: Poisson(L) (M/G/inf, as for n_busy above), capped at batch - 1; the
    # iteration running with k of them (k >= 1), as ``running`` is timed at their mean
    out = np.empty(np.broadcast(L, cap).shape)
    for idx in np.ndindex(out.shape):
        l, c = float(np.broadcast_to(L, out.shape)[idx]), float(np.broadcast_to(cap, out.shape)[idx])
        kmax = int(min(c, math.ceil(l + 8.0 * math.sqrt(l) + 8.0)))
        k = np.arange(1, kmax + 1, dtype=np.float64)
        pk = np.exp(k * math.log(l) - l - np.array([math.lgamma(j + 1.0) for j in k])) if l > 0 else 0.0 * k
        if kmax >= 1:
            pk[-1] += max(-math.expm1(-l) - float(pk.sum()), 0.0)  # the mass past the cap runs a capped batch
        Tk = max(float(replica_token_budget(im, budget)), float(c) + 1.0)
        # the step with k running, priced at ``screen_points`` (every k up to 256) and interpolated between: L, and so
        # kmax, grows with the batch (srvb51)
        kp = screen_points(kmax)
        run_k = lumped_iteration(im, s, kp, Tk, prefilling=np.minimum(kp, np.maximum(Tk - kp, 0.0) * O / N))
        run_k = run_k if len(kp) == kmax else np.interp(k, kp, run_k)
        xi = np.broadcast_to(x, out.shape + x.shape[-1:])[idx]
        wi = [(np.broadcast_to(p, out.shape)[idx], np.broadcast_to(wq, out.shape)[idx]) for p, wq in waits]
        if tail:  # the tail itself (one load), for a mixture over bursty arrivals' states (``burst_parts``)
            return ttft_tail(q, xi, weights, run_k, pk, wi)
        out[idx] = ttft_quantile(q, xi, weights, run_k, pk, wi)
    return out if out.shape else out[()]


def time_in_service(im: IterationModel, s: ServingSpec, L, b, batch: int, budget: int = REALTIME_TOKEN_BUDGET):
    """W: a request's mean time in a slot with ``L`` others in flight and ``b`` in the slots (vectorised): its TTFT
    beside them (``llm_ttft`` without a rate) and O - 1 decode steps as the engine runs them at b
    (``lumped_iteration``: the b - 1 others' next prompts in lumps). ``screen_concurrency``'s W(L) and
    ``slot_service``'s W(n).

    Where the budget binds (``budget_decodes`` < b: the room beside b decodes cannot hold their prompt intake) the
    slots turn over at the budget's intake, the real-time throughput's rule: vLLM V1's scheduler gives each step's
    budget to the running decodes first, then to prompt chunks (vllm/v1/core/sched/scheduler.py ``schedule``), so d
    keep decoding, d / O requests finish a step, and the other b - d slots wait in their prompts' chunks; Little's law
    over the b slots, W = b / ``replica_throughput`` = b x O x step(d) / d, and the slot queue's full-occupancy rate
    batch / W(batch) is the throughput figure. Until srvq45 W priced b decodes there, a rate over the throughput where
    the step is memory-bound or the batch past d: QA 70's chat job (llama3-8b, 1,500 / 300 tokens) on gcp
    a3-highgpu-8g H100 TP1 at batch 118, budget 512, 14.45 req/s against the throughput's 14.30; Azure A100 TP2 at
    batch 128 11.76 against 11.60 (docs/serving_notes.md, srvq45)."""
    room = replica_token_budget(im, budget)
    free = (llm_ttft(im, s, L, batch, budget=budget)
            + (s.output_tokens - 1) * lumped_iteration(im, s, b, room, prefilling=b - 1.0))
    binds = budget_decodes(s, b, room) < b
    if not np.any(binds):
        return free
    return np.where(binds, b / replica_throughput(im, s, b, budget)[1], free)


def slot_service(im: IterationModel, s: ServingSpec, batch: int, budget: int = REALTIME_TOKEN_BUDGET) -> np.ndarray:
    """W(n) for n = 1 .. ``batch`` in a replica's slots: a request's mean time in service were the occupancy to stay
    at n (``time_in_service`` beside the n - 1 others, n decoding) -- ``screen_concurrency``'s W at L = n - 1, the
    departure rates n / W(n) of the occupancy chain (``occupancy_distribution``). Priced at ``screen_points``
    (every n up to 256, else 256 of them, interpolated between): the screen's work does not grow with ``batch``
    (srvb51)."""
    n = screen_points(batch)
    W = time_in_service(im, s, n - 1.0, n, int(batch), budget)
    return W if len(n) == int(batch) else np.interp(np.arange(1.0, int(batch) + 1.0), n, W)


def budget_batch(s: ServingSpec, b, budget):
    """The sequences a token budget keeps decoding with ``b`` allowed in flight (``max_num_seqs``; vectorised): b
    where the room beside the b decodes holds the prompt tokens the batch takes in a step, b x N / O <= budget - b
    (Little's law: b / O prompts a step, N = P - H new tokens each, ``shared_prefix``), else d = budget x O / (N + O),
    the batch whose intake fills the room exactly (one output token: no decodes, b x N <= budget). Why: vLLM V1's scheduler gives each step's
    ``max_num_batched_tokens`` to the running decodes first, one token each, then to prompt chunks while it lasts
    (vllm/v1/core/sched/scheduler.py ``schedule``, ``token_budget``; Sarathi-Serve's stall-free batching, Agrawal et
    al. OSDI 2024, arXiv:2403.02310, §4.3: decodes, then prefill chunks, within one token budget a step), so at most
    budget - d prompt tokens a step come in; in steady state the requests finishing a step (d / O) are those whose
    prompts came in, d / O x N = budget - d. The other b - d slots wait through their prompts' chunks without
    decoding (or stay empty). The one rule of the real-time throughput (``replica_throughput``) and of the budgets an
    offline backlog may take (``offline_token_budget``). Measured (the simulated backlogs' steady part, decodes a
    step time-weighted): llama3-8b 1,500 / 300 tokens on A100 TP2 at budget 512, 85.8 at b = 96 and 85.9 at b = 128
    (d = 85.33); llama3.1-8b 8,000 / 128 on one H100 at 2,048, b = 56: 32.6 (d = 32.25, benchmarks/capacity_gap.py).

    >>> from planner.spec import ServingSpec
    >>> round(float(budget_batch(ServingSpec(prompt_tokens=1500, output_tokens=300), 96, 512)), 2)
    85.33
    >>> float(budget_batch(ServingSpec(prompt_tokens=1500, output_tokens=300), 64, 2048))
    64.0
    """
    O = s.output_tokens
    per_seq = (s.prompt_tokens - shared_prefix(s)) / O + (O > 1)  # budget tokens a slot takes a step: its decode's one
    return np.minimum(np.asarray(b, dtype=np.float64), budget / per_seq)


def budget_decodes(s: ServingSpec, b, budget):
    """The sequences that decode a step with ``b`` in flight at token budget ``budget`` (vectorised), as the real-time
    throughput (``replica_throughput``) and the slot queue's time in service (``time_in_service``) both price them:
    ``budget_batch``, except at one output token, where no slot decodes and the step prices the b prompts whole (b)."""
    return budget_batch(s, b, budget) if s.output_tokens > 1 else np.asarray(b, dtype=np.float64)


#: the first token budget (vLLM ``max_num_batched_tokens``) an offline backlog is planned at, kept on a tie
#: (``offline_token_budget``)
OFFLINE_TOKEN_BUDGET = 8192
#: the token budgets an offline backlog may run at: ``OFFLINE_TOKEN_BUDGET`` and the real-time screen's, so an option
#: run offline (no latency target) is never planned at a setting slower than one its real-time row runs at
OFFLINE_TOKEN_BUDGETS = tuple(dict.fromkeys((OFFLINE_TOKEN_BUDGET, *REALTIME_TOKEN_BUDGETS)))


def offline_token_budget(im: IterationModel, s: ServingSpec, b: int) -> int:
    """The token budget of ``OFFLINE_TOKEN_BUDGETS`` that serves the most requests/s at batch ``b``
    (``replica_throughput``; at the same b, the shortest steady step): the analytic fill (``offline_run``) chunks its prompts in it and the
    simulated backlog (``_refine_offline``) runs with it. A smaller chunk can serve more: each step then carries a
    chunk of prompt beside the b decodes, so the decodes' weight and KV reads hide under the chunk's GEMMs, where a
    whole prompt in one step leaves most steps decode-only and memory-bound (Sarathi, Agrawal et al. 2023,
    arXiv:2308.16369, "decode-maximal batching": decodes piggybacked on a prefill chunk). Until QA 67 offline ran at
    8,192 only, and llama3-70b (2,000 / 400 tokens) on p5.48xlarge TP8 at batch 64 read 4.81 req/s offline beside its
    real-time row's 5.67 at budget 512 (simulated backlog of 2,000 requests: 4.76 at 8,192, 5.52 at 512).

    A smaller budget is taken only where its room beside the b decodes holds the prompt tokens the batch takes in a
    step (``budget_batch`` >= b, the rule the real-time throughput prices by): where it does not, the engine cannot
    keep b sequences decoding, which ``offline_run``'s fill and decode parts assume, and the simulated backlog runs many
    more, shorter steps (until srvcap45 the steady step was priced at b there too): examples/serving-batch-llama3-8b.yaml's
    g6e.48xlarge TP1 at batch 218, 2,048 / 256 tokens (512's room of 294 against 1,744 a step) runs at 2,048, its
    simulated backlog 6.06 req/s (8,192: 5.23; 512, not taken: 6.19 at 5x the engine events)."""
    rates = {k: float(replica_throughput(im, s, b, k)[1]) for k in OFFLINE_TOKEN_BUDGETS
             if k == OFFLINE_TOKEN_BUDGET or budget_batch(s, b, replica_token_budget(im, k)) >= b}  # a smaller one: its room holds the intake
    return max(rates, key=rates.get)  # the first on a tie: OFFLINE_TOKEN_BUDGET


@dataclass(frozen=True)
class OfflineRun:
    """One replica's share of an offline job (``offline_run``): its requests, the batch it runs them at and the
    seconds they take."""

    requests: int
    batch: int
    seconds: float


def offline_run(im: IterationModel, s: ServingSpec, n: int, b_mem: int) -> OfflineRun:
    """``n`` requests queued at once on one replica whose memory holds ``b_mem`` sequences (``im``: its iteration
    model). It runs b = min(b_mem, n) at once (continuous batching, Orca / vLLM), so w = n / b batches' worth:

        T = k x step(b x N / k prompt tokens)          the first b prompts, chunked prefill (Sarathi-Serve) in
                                                       k = ceil(b x N / budget) steps, nothing to overlap
          + (O - 1) x step(b decoding)                 their decode (the first token comes with the prefill)
          + (w - 1) x O x step_ss(b)                   the rest in steady state (``lumped_iteration`` at the
                                                       budget, ``offline_token_budget``: b decoding and b x N / O next
                                                       prompt tokens a step, Little's law, in lumps, cap33)

    (N = P - H new prompt tokens, H the prefix cache's, ``shared_prefix``.) So a job smaller than a batch runs at
    its own batch (8 requests: 8 sequences, not 64 at 64's throughput), and fewer, fuller replicas are not priced
    like more, emptier ones. Mean lengths: the simulation's lognormal lengths add a straggler tail (the longest
    request of the last batch) that this leaves out. With the lumped step (cap33) llama3-70b's 20,000 requests of
    2,048 / 256 tokens in 1 h on p5.48xlarge (tests/test_serving_rows.py's job) size TP2 at the 6 replicas the
    simulated backlog needs (the step at the mean composition: 4); TP4 / TP8 2 / 1 as before, = simulated."""
    n = max(int(n), 1)
    b = max(min(int(b_mem), n), 1)
    P, O = s.prompt_tokens, s.output_tokens
    H = shared_prefix(s)
    N = P - H
    budget = offline_token_budget(im, s, b)
    k = max(1, math.ceil(b * N / replica_token_budget(im, budget)))
    fill = k * float(im.time(**im.prompt_prefill(float(H), N, b / k)))
    decode = (O - 1) * float(steady_iteration(im, s, b, prefilling=0.0)["step"])
    rest = (n - b) / float(replica_throughput(im, s, b, budget)[1])  # n / b - 1 batches of O steady steps
    return OfflineRun(requests=n, batch=b, seconds=fill + decode + rest)


def kv_free_bytes(m, s: ServingSpec, hw, tp: int, pp: int = 1, eff: Optional[ServingEfficiency] = None) -> float:
    """HBM left for the KV cache on each GPU: ``gpu_memory_utilization`` x HBM - weights / (tp x pp)
    - RESERVED_BYTES (vLLM sizes its cache the same way: profile, then give the rest to blocks); the
    weights as the engine's kernels store them (``mxfp4_expert_pad``: ``eff``'s, else the job's engine at its
    release, ``job_efficiency``); an expert-parallel replica's (``replica_split``) the experts / tp and the rest
    whole."""
    sp = replica_split(s, tp)
    pad = mxfp4_expert_pad(m, s.precision, eff or job_efficiency(s), hw.gpu, sp.expert_tp)
    return (hw.gpu.memory_bytes * s.gpu_memory_utilization - weight_bytes_per_gpu(m, s.precision, tp, pp, pad, sp.ep)
            - RESERVED_BYTES)


def replica_spec(m, s: ServingSpec, hw, tp: int, pp: int = 1, block_size: int = 16,
                 eff: Optional[ServingEfficiency] = None, im: Optional[IterationModel] = None):
    """The simulation's view of one replica (planner.simulate.serving.ReplicaSpec): the iteration
    model, KV blocks = free bytes / (KV bytes per token per GPU x block size) — each of the tp x pp
    GPUs holds 1/tp of the KV heads of 1/pp of the layers — and one stage-to-stage send per PP
    boundary (latency + a 256-token activation message over the intra-node link, an assumption; on a meshed node
    the PP group's slowest pair's links, ``replica_link_bw``).
    A model with local layers counts its pool in the units of ``KVLayout.block_cost`` (one layer's
    block under vLLM) and a sequence's blocks by its context (``BlockCost``). ``shared_prefix``: the
    tokens of every prompt the prefix cache serves (the simulation counts whole blocks of them once
    per engine, planner.simulate.serving.Engine). ``im``: the option's iteration model (``option_iteration``)
    where the caller has it built (with ``eff``'s efficiencies when ``eff`` is given). An expert-parallel replica
    (``replica_split``): ``blocks`` is the replica's (the mean per GPU, ``kv_bytes_per_token``'s ``dp``, x dp), and the
    simulation gives each data-parallel engine its own 1/dp of them, where it holds its own copy of a shared prefix
    (planner.simulate.serving.Engine ``_share``; servekv50: dp - 1 copies came out of one pooled count before)."""
    se = eff or job_efficiency(s)
    sp = replica_split(s, tp)
    lay = kv_layout(m, s.kv_precision, sp.attn_tp, se.local_kv, sp.dp)
    if lay is None:
        cost, kv_gpu = BlockCost(), kv_bytes_per_token(m, s.kv_precision, sp.attn_tp, sp.dp) / pp
    else:  # local layers: the pool's unit and a sequence's blocks as the engine keeps them (KVLayout.block_cost)
        cost, kv_gpu = lay.block_cost(pp)
    blocks = int(max(kv_free_bytes(m, s, hw, tp, pp, se), 0.0) // (kv_gpu * block_size))
    H = shared_prefix(s, se)
    p2p = hw.eff.intra_alpha_s + 256 * m.hidden * ACTIVATION_BYTES_BF16 / replica_link_bw(hw, tp, pp)[1]
    im = im or IterationModel.build(m, hw, tp, s.precision, s.kv_precision, s.engine, se, sp.ep, sp.all2all,
                                    sp.overlap)
    return ReplicaSpec(im, blocks, pp, p2p,
                       cost, None if lay is None else kv_gpu, shared_prefix=H)


def llm_option(m, s: ServingSpec, hw, tp: int, target: ServeTarget,
               im: Optional[IterationModel] = None, memo: Optional["ScreenMemo"] = None) -> ServingOption:
    """Serve an LLM with TP=tp replicas on ``hw`` in ``s.precision``: memory, the batch, latency
    (replicas and $ are ``_costs``). ``im``: the option's iteration model (``option_iteration``; built here
    when not given), the one every timing below uses. ``memo``: what this option's screens at other QPS have priced
    (``ScreenMemo``, a fixed fleet's bisection on its QPS); the answer is the same with it or without.

    Its throughput is B / (O x step) at the step as the engine runs it (``lumped_iteration``, at the real-time token
    budget; offline at ``offline_token_budget``'s), not at the mean composition (``steady_iteration``), which was over
    the simulated engine's at long outputs (cap32, benchmarks/capacity_gap.py: llama3.1-8b on one H100, B = 64, budget
    2,048, lognormal cv 0.5; against the simulated backlog's steady part, finishes between 20% and 80% of the run, not
    ``_capacity`` as it was until drain33, with the drain tail in it): 52.3 vs 48.4-50.3 req/s at 128 / 128 tokens, 12.11 vs 10.9 at
    2,000 / 128, 10.82 vs 9.4-9.8 at 500 / 500; one output token and 8,000 / 128 within 3%. The batch's occupancy was
    not why (63.4 / 62.5 / 63.8 of the 64 slots decoding): the step was. Simulated mean step 10.19 / 45.03 / 13.39 ms;
    ``steady_iteration``'s 9.56 / 41.30 / 11.82: vLLM V1's scheduler (and the simulation's) puts a finished slot's
    next prompt into the next step whole, so the prompt tokens come in lumps (39% / 60% / 12% of the steps carry
    them), compute-bound steps among memory-bound decode-only ones, and with the roofline's max per step the mean step
    is over the step at the mean composition. The lumped step gives 51.0 / 10.59 / 9.63 req/s (cap33), within 5% of
    the steady simulation; one output token unchanged. The decodes' time-average context is P + (1 + cv^2) O / 2
    (length-biased: 208 / 2,043 / 811 simulated vs 192 / 2,064 / 750), a 1-2% part, modelled since capgap34, when the
    lumped step also became the mean over its prompt tokens' spread (K finishes' next prompts of lognormal lengths;
    the step at the mean tokens was 10.17 ms at 128 / 128 where the simulated lumped steps average 11.09): 48.48 /
    10.58 / 9.50 req/s against the simulated backlog's 47.96 / 10.77 / 9.34 (``lumped_iteration``).

    The same step is the TTFT's running iteration (``llm_ttft``), ``offline_run``'s steady part and the time in
    service of the slot queue (``screen_concurrency``: TTFT + (O - 1) lumped decode steps, Little's law), so the
    queue's capacity is the throughput's. Until tpot33 the TPOT, and so the batch, stayed at the mean composition
    (``llm_tpot``); the batch is now the largest whose p99 TPOT over requests (``screen_tpot``: ``tpot_quantile``, the
    lumped steps a request decodes through, at the token budget that keeps it least) meets ``tpot_s``, and the TPOT
    stated is that p99 at the load (below). Measured (cap33): benchmarks/sim_vs_analytic_replicas.py (the chat and 70b
    examples, 64 options) went from 39 kept /
    22 added / 0 removed / 3 missed to 51 / 5 / 5 / 3; summed over the 61 simulated, the analytic counts were 62
    replicas from the simulated ones (all under), now 22 (17 under, 5 over, each by one: p4de TP1 5 -> 4 and the
    four H100 TP2 70b options 12 -> 11); every simulated count is what it was. g6e TP1 5 -> 7 (= simulated), g2-standard-96 TP4 6 -> 7 (= simulated), p4de
    TP2 on the 70b 15 -> 21 (= simulated), g5.48xlarge TP8 14 -> 17 (28 simulated). The chat example's g2-standard-96
    TP2 (batch 12) gets 38 replicas at 94.5% busy (TTFT p99 993 ms; the simulated fleet of 38: 431 ms) where its
    throughput's 36 run 99.8% busy, TTFT unbounded; it stays listed while the simulation misses it at any count, on
    its TPOT (the simulated p99 57.7 ms at 38 replicas, 52.7 at 60, over the 50 ms target; the full-batch TPOT rule
    said 49.9 ms). Since tpot33 the p99 rule sizes it at batch 6 (p99 49.5 ms at budget 512; 57.7 at batch 12, 2,048)
    and 70 replicas, and the simulation's p99 at 70 replicas is 49.5 ms at batch 6 and 49.3 at 12 (budget 512): it
    meets 50 ms. The simulation still misses it at every count up to 280, by its 10% margin (``serving.margin``: p99
    <= 45 ms), which no batch or count can reach: the decode-only step at batch 1 is 45.19 ms (``plan_serving`` rejects
    it for that before simulating, a simulated plan only: the margin is the simulation's).
    benchmarks/sim_vs_analytic_replicas.py reads 51 / 5 / 5 / 3 after tpot33 as before, every other analytic and
    simulated count unchanged (g2-standard-96 TP4's batch 81 -> 76, still 7 replicas). Without the slot-queue part (the
    throughput, running iteration and offline_run
    only): 53 / 7 / 1 / 3, 21 replicas apart, but that TP2 at 36 replicas 99.8% busy listed as meeting its TTFT.
    benchmarks/ttft_grid.py: 39 of 60 p99s within 25% of the simulated p99 before and after; the mean |log ratio| 0.293
    -> 0.262, the lagging points up (2,000 / 128 at 95%: 0.34 -> 0.42 of the simulated p99 on llama3.1-8b, 0.43 ->
    0.46 on 70b; 128 / 128 at 95%: 0.22 -> 0.40, 0.25 -> 0.55), the means within 25% of the simulated median 47 -> 46.

    Tried and not taken (cap32): the lumped step in every step, the full-batch TPOT too: it cut the TPOT-bound batches
    (the chat example's g2-standard-96 TP4 81 -> 55, TP2 12 -> 7; g6e TP1's analytic replicas 5 -> 10) and
    benchmarks/sim_vs_analytic_replicas.py read 46 / 5 / 10 / 3, with the simulated fleets grown where the simulation's
    max_num_seqs follows the smaller analytic batch (g6e TP1: 7 -> 9 replicas). Tried and not taken (tpot33): the p99
    TPOT at the default budget (2,048) alone: g6e TP1's batch 85 -> 36, 7 -> 11 replicas analytic and simulated (the
    simulation's 7 run budget 512, p99 44.6 ms, where 2,048 gives 66.5), g2-standard-96 TP4 81 -> 44 (7 -> 8
    simulated), TP2 12 -> 4 (102 replicas); 47 / 5 / 9 / 3."""
    cap = hw.gpu.memory_bytes * s.gpu_memory_utilization
    sp = replica_split(s, tp)  # tensor or expert parallel (data-parallel attention: a token's KV on one GPU, whole)
    se = job_efficiency(s)
    w_gpu = weight_bytes_per_gpu(m, s.precision, tp, expert_pad=mxfp4_expert_pad(
        m, s.precision, se, hw.gpu, sp.expert_tp), ep=sp.ep)
    kv_tok = kv_bytes_per_token(m, s.kv_precision, sp.attn_tp, sp.dp)
    free = kv_free_bytes(m, s, hw, tp, eff=se)
    ctx_max = s.prompt_tokens + s.output_tokens
    lay = kv_layout(m, s.kv_precision, sp.attn_tp, se.local_kv, sp.dp)
    seats = replica_seats(s.max_batch, sp.dp)  # max_batch is one engine's (vLLM --max-num-seqs): sp.dp engines
    # one sequence at full context: every layer's KV of ctx_max tokens, or (local layers) the global
    # layers' ctx_max and the local layers' window; capacity in tokens: sequences at the job's context
    H = shared_prefix(s)
    if not H:
        kv_seq = kv_tok * ctx_max if lay is None else float(lay.seq_bytes(ctx_max))
        b_mem = int(max(free, 0) // kv_seq)
        cap_tokens = max(free, 0) / kv_tok if lay is None else max(free, 0) / kv_seq * ctx_max
        prefix = {}
    else:
        # a shared prefix (prefix caching): its whole blocks' KV once per replica, the rest per sequence
        # (kv_bytes_per_sequence / kv_prefix_bytes); capacity: sequences at the job's context, each
        # counting the prefix it reads
        local_kv = se.local_kv
        kv_seq = kv_bytes_per_sequence(m, s.kv_precision, ctx_max, sp.attn_tp, local_kv, H, sp.dp)
        kv_pre = kv_prefix_bytes(m, s.kv_precision, H, sp.attn_tp, local_kv)
        b_mem = int(max(free - kv_pre, 0) // kv_seq)
        cap_tokens = max(free - kv_pre, 0) / kv_seq * ctx_max
        prefix = dict(prefix_cached_tokens=H, kv_mib_shared_prefix_per_gpu=kv_pre / 2**20)
    base = dict(hardware=hw.name, gpu=hw.gpu.name, tp=tp, ep=(sp.gpus if sp.ep else 1) if m.moe is not None else None, all2all=sp.all2all,
                overlap=s.batch_overlap if sp.ep else None, gpus_per_node=hw.gpus_per_node,
                power_limit_w=hw.power_limit_w,
                weights_gib_per_gpu=w_gpu / GiB, kv_mib_per_token_per_gpu=kv_tok / 2**20,
                kv_capacity_tokens=math.floor(cap_tokens),  # whole tokens: a KV slot holds one token or none
                kv_mib_per_sequence_per_gpu=None if (lay is None and not H) else kv_seq / 2**20, **prefix,
                batch_memory_limit=min(b_mem, seats),
                price_usd_hr=hw.price_ondemand, price_spot_usd_hr=hw.price_spot, precision=s.precision)
    if b_mem < 1:
        # per chip on a TPU or Trainium ("GiB/GPU" was printed for TPU v6e)
        return ServingOption(**base, fits=False, reason=f"weights {w_gpu / GiB:.1f} GiB/{device_noun(hw.gpu)} + KV of one sequence "
                             + ("and of the shared prefix " if H else "") + f"exceed {cap / GiB:.0f} GiB usable")
    B = np.arange(1, min(b_mem, seats) + 1, dtype=np.float64)
    # throughput and the iteration a new prompt waits for: every slot's prefill share (all B); TPOT: one
    # request's decode iterations, which carry the other slots' prefills only (llm_tpot at batch 1; above it the p99
    # over requests, screen_tpot, sizes the batch)
    im = im or option_iteration(m, s, hw, tp)
    # each figure below is priced at the batches asked for (B[i:i + 1]), not over all of B: B runs to
    # serving.max_batch, 65,536 on a KV pool that holds it, where pricing every batch ran past 25 CPU s (srvb51)
    it = steady_iteration(im, s, B[:1])

    def rps_at(i: int) -> float:
        """requests/s a replica at batch B[i]: the mean step as the engine runs it, prompts in lumps, at the sequences
        the budget keeps decoding (replica_throughput), at the real-time budget the screen and the simulation run;
        offline at the backlog's (offline_token_budget, below)"""
        return float(replica_throughput(im, s, B[i:i + 1], REALTIME_TOKEN_BUDGET)[1][0])

    tpot = llm_tpot(m, s, hw, tp, B[:1], im)  # batch 1: the bare decode step (its p99 too: nothing else prefills)
    # the batch is sized at full load (B in flight): the TTFT target, a p99, must hold then at its percentile
    # (``TTFT_QUANTILE``); the TTFT stated is that percentile at the load. ``ttft_batch1_ms`` is one request alone at
    # the mean prompt (``one_request_s``: the least time a request takes)
    ttft = llm_ttft(im, s, B[:1], B[:1])

    def ttft_q(i: int, budget: int = REALTIME_TOKEN_BUDGET) -> float:
        return full_batch_ttft(im, s, B, i, budget)

    def tpot_q(b: float) -> float:
        return screen_tpot(im, s, b)

    # the batches each target allows (B[:n]): the one allowing fewest, if under len(B), is the batch's limit
    allows = memo.allows if memo is not None else row_allows(im, s, target, B)
    ok = np.arange(len(B)) < min(allows.values(), default=len(B))
    base.update(fits=True, tpot_batch1_ms=float(tpot[0] * 1e3), ttft_batch1_ms=float(ttft[0] * 1e3),
                compute_dtype=it["dtype"], reachable_tflops=compute_peak(hw, s.precision)[0] / 1e12)
    if not ok.any():
        # the reason names the target missed (QA 42: "TPOT 11.0 ms / TTFT 4024 ms (p99) even at batch 1" beside
        # targets of 60 / 3,000 ms left the user to work out which); the other figure follows as met
        t1, f1 = tpot_q(B[0]), ttft_q(0)
        figs = [("TPOT", f"{t1 * 1e3:.1f} ms", target.tpot_s, t1), (f"TTFT (p{TTFT_QUANTILE * 100:g})",
                                                                    f"{f1 * 1e3:,.0f} ms", target.ttft_s, f1)]
        # the targets as the user gave them (``fmt_given``; ",.4g" wrote a 15,000 ms target "1.5e+04", QA 85)
        missed = [f"{n} {v} over the {fmt_given(g * 1e3)} ms target" for n, v, g, x in figs if g is not None and x > g]
        met = [f"{n} {v} meets {fmt_given(g * 1e3)} ms" for n, v, g, x in figs if g is not None and x <= g]
        return ServingOption(**base, meets_latency=False, reason=" and ".join(missed) + " even at batch 1"
                             + (f" ({met[0]})" if met else ""))
    i = int(np.flatnonzero(ok)[-1])  # both grow with B: the largest batch meeting the targets
    b = int(B[i])
    j = len(B) - 1  # offline: the memory-limited batch, no latency target, at its fastest budget (QA 67)
    budget_offline = offline_token_budget(im, s, int(B[j]))
    rps_offline = float(replica_throughput(im, s, B[j], budget_offline)[1])
    sized = None
    if target.qps:  # the TPOT / TTFT the screen states: at the load a replica of the analytic size sees
        # the batch (``max_num_seqs``) at each budget its own: its backlog's TPOT and full batch's TTFT at that budget
        # (serve46: the row states one budget; the batch was the least budget's TPOT and 2,048's TTFT)
        by_budget = memo.by_budget if memo is not None else budget_allows(im, s, target, B)
        sized = budget_replicas(m, s, hw, tp, target, budget_batches(by_budget, len(B)), im, memo)
        if sized is None:
            return ServingOption(**base, meets_latency=False, reason=(
                (f"TTFT over {target.ttft_s * 1e3:,.0f} ms" if target.ttft_s is not None else
                 f"TPOT over {target.tpot_s * 1e3:,.0f} ms") + " with the queue at any token budget ("
                + " / ".join(f"{k:,}" for k in REALTIME_TOKEN_BUDGETS) + ") and replica count up to "
                f"{QUEUE_REPLICA_FACTOR:,}x the {math.ceil(target.qps / rps_at(i)):,} its "
                f"throughput needs at {REALTIME_TOKEN_BUDGET:,}"))
        i, b, allows = sized.batch - 1, sized.batch, by_budget[sized.budget]
    rps = rps_at(i)  # Little's law: the d the budget keeps decoding, each lasting O iterations
    # what held the batch down (serving_budget.fleet_bound): a target, else memory or serving.max_batch
    held = min(allows, key=allows.get) if allows and min(allows.values()) < len(B) else None
    load = dict(batch_limit=held or ("max_batch" if b == seats and b < b_mem else "memory"))
    if sized is not None:
        # the stated TPOT is the open fleet's (Poisson arrivals, JSQ over the replicas: tpot_quantile's branching
        # stalls; the mixture over bursty arrivals' states), the batch above sized by a backlog's; the batch, TTFT,
        # TPOT, throughput and both replica counts are at the one budget ``budget_replicas`` chose (serve45, serve46)
        load.update(queue_replicas=sized.replicas, throughput_replicas=sized.throughput_replicas,
                    replicas_raised_by=sized.raised_by,
                    concurrency=sized.concurrency, tpot_ms=sized.tpot_s * 1e3,
                    ttft_ms=sized.ttft_s * 1e3 if math.isfinite(sized.ttft_s) else None,
                    token_budget_by=BUDGET_BY_SCREEN)
    load.setdefault("tpot_ms", tpot_q(B[i]) * 1e3)
    it_b = steady_iteration(im, s, B[i:i + 1])
    load.setdefault("ttft_ms", ttft_q(i) * 1e3)
    if s.output_tokens == 1:  # its one token is its first (TTFT): no decode step after it, so no TPOT (QA 37b: "0.0 ms")
        load["tpot_ms"] = None
    row = ServingOption(**base, meets_latency=True, batch=b,
                        bound="memory" if it_b["memory"][0] >= it_b["compute"][0] else "compute",
                        tokens_per_s_per_replica=rps * s.output_tokens, requests_per_s_per_replica=rps,
                        token_budget=REALTIME_TOKEN_BUDGET,
                        batch_offline=int(B[j]), requests_per_s_offline=float(rps_offline),
                        tokens_per_s_offline=rps_offline * s.output_tokens, token_budget_offline=budget_offline,
                        **load)
    # a sized plan states its throughput at the budget its TTFT, TPOT and replicas are at (serve44: it stated 2,048's
    # beside a TPOT at 512; serve45: the TTFT and the replicas too)
    return throughput_at(row, s, im, sized.budget) if target.qps else row


#: ``ServingOption.token_budget_by``: how the row's token budget was chosen -- by the screen, the one needing the fewest
#: replicas (``budget_replicas``), or by the simulation (``_at_budget``)
BUDGET_BY_SCREEN = "fewest replicas"
BUDGET_BY_SIMULATION = "simulated"


@dataclass(frozen=True)
class BudgetSize:
    """A real-time option sized at one token budget (``budget_replicas``): its requests/s a replica, the replicas that
    throughput needs (ceil(QPS / rps), the queue search's start), the fewest meeting the targets, and the load (L, b)
    and p99s (s) the screen states at that count."""

    budget: int
    rps: float
    throughput_replicas: int
    replicas: int
    concurrency: float
    b: float
    ttft_s: float
    tpot_s: float
    raised_by: Optional[str] = None  # the target that raised ``replicas`` over ``throughput_replicas`` (queue_replicas)
    batch: int = 0  # max_num_seqs at this budget (serve46: each budget's own)


def full_batch_ttft(im: IterationModel, s: ServingSpec, B: np.ndarray, i: int, budget: int) -> float:
    """The p99 TTFT (``TTFT_QUANTILE``) at the batch ``B[i]``, full (``B[i]`` in flight), at token budget ``budget``:
    the TTFT a batch is sized by (``row_allows``, ``budget_allows``)."""
    return float(llm_ttft(im, s, B[i], B[i], q=TTFT_QUANTILE, budget=budget))


def row_allows(im: IterationModel, s: ServingSpec, target: ServeTarget, B: np.ndarray) -> dict:
    """``batch_allows`` for ``llm_option``'s batch: how many of the batches ``B`` (1 .. the memory's and
    ``serving.max_batch``'s) each target allows by the p99 TPOT the screen states (``screen_tpot``) and the full
    batch's p99 TTFT at ``REALTIME_TOKEN_BUDGET``. Nothing in it depends on the QPS (``ScreenMemo``)."""
    return batch_allows(len(B), target, lambda n: screen_tpot(im, s, B[n]),
                        lambda n: full_batch_ttft(im, s, B, n, REALTIME_TOKEN_BUDGET))


def budget_batches(by_budget: dict, n: int) -> dict:
    """{token budget: the largest batch every target allows there} from ``budget_allows``' answer over batches
    1 .. ``n`` (``n`` where no target limits it; 0: none meets them): ``budget_replicas``' batch at each budget."""
    return {k: min(a.values(), default=n) for k, a in by_budget.items()}


def budget_allows(im: IterationModel, s: ServingSpec, target: ServeTarget, B: np.ndarray) -> dict:
    """{token budget: ``batch_allows`` at it} for each of ``REALTIME_TOKEN_BUDGETS``: how many of the batches ``B``
    each target allows there, by a backlog's p99 TPOT (``tpot_quantile``) and the full batch's p99 TTFT at that budget
    (serve46: each budget its own batch). Nothing in it depends on the QPS, so a fixed fleet's screens at each QPS
    share it (``ScreenMemo``)."""
    return {k: batch_allows(len(B), target, lambda n, k=k: tpot_quantile(im, s, float(B[n]), k),
                            lambda n, k=k: full_batch_ttft(im, s, B, n, k)) for k in REALTIME_TOKEN_BUDGETS}


def budget_replicas(m, s: ServingSpec, hw, tp: int, target: ServeTarget, batches: dict,
                    im: IterationModel, memo: Optional["ScreenMemo"] = None) -> Optional[BudgetSize]:
    """The option at the token budget (``REALTIME_TOKEN_BUDGETS``, vLLM ``max_num_batched_tokens``) that needs the
    fewest replicas meeting the targets, every figure at it: the throughput B / (O x the lumped step at it), and
    ``queue_replicas``' count, TTFT and TPOT at it (``screen_point``). The budgets are tried as the simulation tries
    its settings (``_refine_realtime``: the first, 2,048, vLLM V1's online default, then each other only where it
    saves a replica), so a tie keeps the earlier; None where no budget meets the targets at any count.

    Why (serve45): until then the screen sized the replicas at 2,048's throughput and TTFT and stated the TPOT at the
    budget least for it (serve44 moved the throughput there, not the replicas), so a row could say "N replicas" sized
    at a budget other than the one it stated, and an option whose TPOT met the target only at 512 was sized by its TTFT
    at 2,048. The budget sets all three (vllm/v1/core/sched/scheduler.py ``schedule``): a smaller one chunks a prompt
    over more steps (a longer TTFT, shorter stalls for the decodes beside it: a lower TPOT) and, for long prompts,
    lumps fewer compute-bound prompt tokens into each step (a higher throughput: the RAG job on g6e.xlarge, 1.59
    req/s at 512 against 1.03 at 2,048, serve43). ``memo``: ``llm_option``'s, handed to ``queue_replicas``."""
    best = None
    for k in REALTIME_TOKEN_BUDGETS:
        batch = batches.get(k, 0)
        if batch < 1:  # no batch meets the targets at this budget
            continue
        rps = float(replica_throughput(im, s, batch, k)[1])
        r0 = math.ceil(target.qps / rps)
        got = queue_replicas(m, s, hw, tp, target, batch, r0, im, capacity=rps, budget=k,
                             below=None if best is None else best.replicas, memo=memo)
        if got is not None:
            best = BudgetSize(k, rps, r0, *got, batch=batch)
    return best


def replica_throughput(im: IterationModel, s: ServingSpec, batch, budget: int) -> tuple:
    """(the mean step in s, requests/s a replica) of ``batch`` requests allowed in flight (``max_num_seqs``) at token
    budget ``budget`` (vectorised over ``batch``): the step as the engine runs it, prompts lumped into it
    (``lumped_iteration``), at the sequences the budget keeps decoding (``budget_batch``), and Little's law, d in
    flight each lasting O of those steps: d / (O x step). The one count ``llm_option``'s rows (real-time and offline),
    ``budget_replicas``' replicas, ``throughput_at``'s re-statement, ``offline_token_budget``'s choice and
    ``offline_run``'s steady part are priced by (the tokens a second are d / step = O x requests/s).

    Until srvcap45 it was batch / (O x the lumped step at batch), which where the budget binds priced a step carrying
    the batch's whole intake, over the budget (``lumped_parts``: a lump over the room as one step): the chat job of QA
    70 (llama3-8b, 1,500 / 300 tokens) on Azure A100 TP2 at batch 96, budget 512, 96 decodes and 480 prompt tokens in
    a 27.38 ms step, where its simulated backlog runs 85.8 decodes and 422 prompt tokens in 24.55 ms steps
    (``budget_batch``: 85.33 and 426.7). The requests/s hardly moved there (11.69 -> 11.60, simulated 11.67: the step
    is compute-bound, linear in its tokens) but at batch 128 it read 11.85 against the simulated 11.54 (now 11.60),
    and the batch the screen's figures assumed decoding was not the engine's."""
    # one output token: no slot decodes, so there is no decode batch for the budget to hold down; the step prices the
    # b prompts whole (f = 1), linear in their tokens as the engine's budget-sized chunks are. At d = budget / N the
    # model's decode row a slot (none in the engine) tips a step past a 128-row GEMM tile: llama3.1-8b 128 / 1 on one
    # H100 at 2,048 read 209.4 req/s against the simulated 217.8 (at b: 216.4), 2,000 / 1 12.96 against 13.43 (13.52)
    room = replica_token_budget(im, budget)  # an expert-parallel replica's engines each have the budget
    d = budget_decodes(s, batch, room)
    step = lumped_iteration(im, s, d, room)
    return step, d / (s.output_tokens * step)


def throughput_at(row: ServingOption, s: ServingSpec, im: IterationModel, budget: int) -> ServingOption:
    """``row``'s throughput (tokens and requests a second a replica, and the $ per million requests at full load) at
    the token budget ``budget`` the plan runs: the screen's (``budget_replicas``, serve45: ``llm_option``; the budget
    its TPOT was least at in serve44, ``REALTIME_TOKEN_BUDGET`` until then) or the simulation's pick (``_at_budget``),
    at the screen's batch. The budget is vLLM's
    ``max_num_batched_tokens``, the tokens one step may carry (vllm/v1/core/sched/scheduler.py ``schedule``: the
    running requests' tokens first, then waiting prompts while ``token_budget`` lasts, a prompt longer than what is
    left chunked to it), so it sets how the next prompts lump into the decode steps (``lumped_iteration``).
    Measured (serve43): a RAG job (llama3-8b, 6,000 / 150 tokens, 200 QPS Poisson) on g6e.xlarge TP1 at batch 15
    simulates 157 replicas at budget 512, where the screen's 1.03 req/s a replica at 2,048 put them 123% busy; at
    512 the lumped step is 63.0 ms, not 96.7 (the prompt tokens spread over more steps, fewer compute-bound
    ones), 1.59 req/s (the simulated saturated rate: 1.74 at 512, 1.20 at 2,048), 80% busy. The batch, TTFT and
    TPOT stay the screen's here (``_at_budget`` re-states the TPOT)."""
    if budget == row.token_budget or not row.batch:
        return row
    rps = float(replica_throughput(im, s, row.batch, budget)[1])
    new = dict(tokens_per_s_per_replica=rps * s.output_tokens, requests_per_s_per_replica=rps, token_budget=budget)
    if row.usd_per_million_requests_full is not None:  # price / throughput: rescaled with the throughput
        new["usd_per_million_requests_full"] = (row.usd_per_million_requests_full * row.requests_per_s_per_replica
                                                / rps)
    return replace(row, **new)


def batch_allows(n: int, target: ServeTarget, tpot_at: Callable[[int], float],
                 ttft_at: Callable[[int], float]) -> dict:
    """{target: how many of the batches 1..n it allows} for the targets set: each p99 grows with the batch, so the
    batches meeting it are a prefix, found by bisection; ``tpot_at`` / ``ttft_at`` take a batch's index (batch - 1)."""
    out = {}
    for name, goal, at in (("tpot", target.tpot_s, tpot_at), ("ttft", target.ttft_s, ttft_at)):
        if goal is None:
            continue
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if at(mid) <= goal else (lo, mid)
        out[name] = lo
    return out


#: ``queue_replicas`` looks no further than this multiple of the replicas a plan's throughput needs: past it an option
#: is refused (its TTFT at rate -> 0 is its unloaded prefill, under the batch screen's, so one is always found first)
QUEUE_REPLICA_FACTOR = 1024


def queue_replicas(m, s: ServingSpec, hw, tp: int, target: ServeTarget, batch: int, r0: int,
                   im: Optional[IterationModel] = None, capacity: float = math.inf,
                   budget: int = REALTIME_TOKEN_BUDGET, below: Optional[int] = None,
                   memo: Optional["ScreenMemo"] = None) -> Optional[tuple[int, float, float, float, float, Optional[str]]]:
    """(replicas, L, b, TTFT s, TPOT s, raised by) at the token budget ``budget`` (``screen_point``: every figure at it, serve45;
    ``capacity`` and ``r0`` the caller's at it): the fewest replicas, from ``r0`` (the count the throughput needs, ~100% busy), whose
    queued p99 TTFT (``llm_ttft`` at ``TTFT_QUANTILE``, the target's percentile, with the slot and prefill-budget
    queues at the replica's rate QPS / replicas, pooled over the replicas; its load L and decode batch b from
    ``screen_concurrency``) meets ``target.ttft_s``; with no TTFT target, ``r0`` (its TTFT
    may then be unbounded: inf). The least count meeting the TTFT is found by doubling then bisecting (the TTFT falls
    as the rate per replica does: ``least_meeting``), and from it the TPOT is screened at each count in turn
    (``TPOT_SCAN`` of them, then doubling and bisecting again), so the count is the least meeting both where the TPOT
    is not monotone in the replicas; None where none up to ``QUEUE_REPLICA_FACTOR`` x ``r0`` meets them. "raised by" is
    the target that set the count over ``r0``: "tpot" where the TPOT scan went past the TTFT's least count (the TPOT
    misses one count under it), else "ttft" where that count is over ``r0`` (the TTFT misses one under it), else None
    (``serving_budget.fleet_bound``; until serve43 a count the TPOT scan raised was called TTFT-bound). Until serve46
    one doubling and bisection over both targets took the first count after its last miss: the RAG job's (llama3-8b,
    6,000 / 150 tokens, 8 QPS, 60 ms / 3 s) g6e.xlarge at budget 512, started at 8 (2,048's throughput), missed the
    TPOT there (60.04 ms, a tile-padding artefact since fixed: ``serving_iteration.TILE_SLACK``) and said 9 where 7
    meets both. Why the TPOT can rise with the replicas (physical, as the simulation's scheduler and vLLM V1's run
    it: vllm/v1/core/sched/scheduler.py schedules the running decodes first and a waiting prompt's chunks in what the
    budget leaves): a request's TPOT is the mean of its steps, lumped (carrying a prompt's chunk) or decode-only
    (``tpot_quantile``); near saturation nearly every step is lumped and the requests' TPOTs agree, while with fewer
    requests a replica the decode-only step falls (less KV to read) and the share of lumped steps drops towards a
    half, so the requests' TPOTs spread (the binomial's n f (1 - f)) and the p99 can rise while the mean falls:
    52.2 / 53.0 / 52.9 / 52.3 ms at 6-9 replicas there (mean lumped share 0.88 / 0.73 / 0.63 / 0.54). Since servetpot36 the count also
    meets ``target.tpot_s`` with the TPOT the screen states, the open fleet's at b (``screen_tpot`` at QPS / replicas
    over the replicas: Poisson arrivals whose prompts stall the decodes beside them, more than a backlog's one prompt
    a finish); until then the TPOT needed no search, the backlog's p99 at b <= ``batch`` being at most the batch's,
    which the screen sized to meet its target (it falls with the replicas too: b, the rate and the dispersion).

    Why: sized by throughput alone a replica runs ~99% busy and its queue is the TTFT
    (examples/serving-llama3-8b-chat.yaml, g2-standard-96 TP4: 5 replicas, 9,187 ms against a 1,000 ms target,
    listed as meeting it); sized by this, 6 replicas at 82%, a p99 of 286 ms (the mean, which sized it until ttft32:
    161 ms). The simulation confirms the count, searching down from it as well as up (``_refine_realtime``).
    Sized by the mean, llama3.1-8b on one H100 at 10.7 QPS of 2,000-token prompts and one output token got 1
    replica (mean 287 ms) whose simulated p99 (~1.3 s) missed a 1 s target; by the p99, 2
    (tests/test_serving_ttft.py). Until cap33 the analytic throughput was over the simulated one near capacity, and a
    pooled fleet ran its replicas closer to it: the chat example's TP2 (batch 12) got 36 replicas (43 by the mean, a
    queue per replica), whose simulated fleet's p99 is 3.2 s (43: 0.41 s). With the step as the engine runs it
    (``lumped_iteration``, in the throughput and the slot queue's service time) it gets 38 at 94.5% busy, p99 993 ms
    (the simulated fleet of 38: 431 ms). Since tpot33 it runs batch 6, where the pooled queue undershot: 70 replicas,
    p99 829 ms, the simulated fleet of 70 4.1 s. A request that waits waits for its own replica's 6 slots
    (``jsq_extra_wait``, ttft33): 74 replicas at 89% busy, p99 479 ms (simulated: 734 ms at 74, 1.53 s at 73).

    Bursty arrivals (``target.bursts``, serve41): the p99s are the mixture over the arrival states
    (``burst_parts``, each state's queue at its own rate; ``capacity`` the option's requests/s a replica, where a
    state overloads it); L and b stay the mean rate's. ``below``: only a count under it (``budget_replicas``: a budget
    after the first is taken only where it saves a replica, as the simulation tries its settings), else None.
    The counts the search may ask next (``least_meeting``'s ``ahead``) are priced together when the first of them is
    asked, in one vectorised fixed point (``screen_concurrency_many``), those ``memo`` holds (``ScreenMemo``: this
    option's screens at other QPS, a fixed fleet's) read from it: a count asked from the memo prices none of the
    others (fleet56: the fleet's bisection prices each QPS's first count ahead, and the search mostly stops there)."""
    im = im or option_iteration(m, s, hw, tp)
    seen: dict = {}
    conc: dict = {}  # r -> (L, b)
    told: set = set()  # counts the search may ask next, not priced yet

    def ahead(rs) -> None:
        told.update(int(r) for r in rs if r0 <= r <= top)

    def load(r: int) -> tuple:
        """(L, b) at ``r`` replicas: the memo's, else priced with every count told and not priced yet."""
        rate = target.qps / float(r)
        if r not in conc and memo is not None and memo.holds(budget, batch, rate):
            conc[r] = memo.concurrency(budget, batch, [rate])[0]
        if r not in conc:
            new = sorted({r, *told} - conc.keys())
            rates = target.qps / np.asarray(new, dtype=np.float64)
            if memo is not None:
                conc.update(zip(new, memo.concurrency(budget, batch, rates.tolist())))
            else:
                L, b = screen_concurrency_many(m, s, hw, tp, rates, batch, im, budget)
                conc.update(zip(new, zip(L.tolist(), b.tolist())))
        told.difference_update(conc.keys())
        return conc[r]

    def at(r: int) -> list:
        if r not in seen:
            seen[r] = screen_point(m, s, hw, tp, target, batch, r, capacity, im, budget, load(r))
        return seen[r]

    def ttft_meets(r: int) -> bool:
        return target.ttft_s is None or at(r)[2] <= target.ttft_s

    def tpot_meets(r: int) -> bool:
        g = at(r)
        g[3] = g[3]() if callable(g[3]) else g[3]  # the TPOT once asked (its tails are the dearer part)
        return target.tpot_s is None or s.output_tokens <= 1 or g[3] <= target.tpot_s

    top = QUEUE_REPLICA_FACTOR * r0 if below is None else below - 1  # the counts looked at: r0 .. top
    r_t = least_meeting(ttft_meets, r0, top, ahead)  # the TTFT falls with the rate a replica gets
    if r_t is None:
        return None
    # the TPOT need not fall with the replicas (serve46: fewer prompts a replica take the steps from mostly lumped to
    # a mix, so the requests' TPOTs spread): the counts from the TTFT's in turn, then the doubling and bisection
    scan = range(r_t, min(r_t + TPOT_SCAN, top + 1))
    r = r_t if tpot_meets(r_t) else None
    if r is None:
        ahead(scan)  # the rest of the scan priced in one pass
        r = next((n for n in scan[1:] if tpot_meets(n)), None)
    if r is None and r_t + TPOT_SCAN <= top:
        r = least_meeting(lambda n: ttft_meets(n) and tpot_meets(n), r_t + TPOT_SCAN, top, ahead)
    if r is None:
        return None
    g = at(r)
    raised = "tpot" if r > r_t else "ttft" if r_t > r0 else None
    return (r, g[0], g[1], g[2], g[3]() if callable(g[3]) else g[3], raised)


#: consecutive counts ``queue_replicas`` screens for the TPOT from the least meeting the TTFT, before it doubles: the
#: RAG job's g6e.xlarge at budget 512 reads 52.2 / 53.0 / 52.9 / 52.3 ms at 6-9 replicas (serve46), a rise of one count
TPOT_SCAN = 16


def least_meeting(meets: Callable[[int], bool], lo: int, hi: int,
                  ahead: Callable[[list], None] = lambda ns: None) -> Optional[int]:
    """The least n in [lo, hi] with ``meets(n)``, found by doubling from ``lo`` then bisecting, which is exact where
    ``meets`` holds from some n on (the TTFT as the rate a replica gets falls); None where ``hi`` misses. At most
    2 log2(hi - lo + 1) + 2 calls. ``ahead(ns)``: told the counts it may ask next, before it asks them (the next
    ``AHEAD_LEVELS`` doubling points, or levels of midpoints while bisecting), so the caller
    can price them in one vectorised pass (``queue_replicas``: ``screen_concurrency_many``); the calls and the answer
    are the same with it or without."""
    if lo > hi:
        return None
    def doubling(j: int) -> list:
        return [min(lo + (1 << i), hi) for i in range(j, j + AHEAD_LEVELS)]
    ahead([lo, *doubling(0)])  # one pass where lo misses, hardly dearer than lo alone where it meets
    if meets(lo):
        return lo
    miss = lo
    for j in itertools.count():
        if j and j % AHEAD_LEVELS == 0:
            ahead(doubling(j))
        r = min(lo + (1 << j), hi)
        if meets(r):
            break
        if r >= hi:
            return None
        miss = r
    for depth in itertools.count():
        if r - miss <= 1:
            break
        if depth % AHEAD_LEVELS == 0:
            ahead(_bisection_points(miss, r, AHEAD_LEVELS))
        mid = (miss + r) // 2
        miss, r = (miss, mid) if meets(mid) else (mid, r)
    return r


#: doubling points, or levels of bisection midpoints (2^5 - 1 = 31 counts), ``least_meeting`` tells its caller at
#: once: one vectorised fixed point over 32 rates took 2.6 ms beside 2.0 ms for one (srvspeed46, the chat job's
#: g6e.xlarge at batch 82)
AHEAD_LEVELS = 5


def _bisection_points(miss: int, hit: int, levels: int) -> list:
    """The midpoints bisecting (miss, hit) may ask over its next ``levels`` steps, whichever way each goes."""
    out, spans = [], [(miss, hit)]
    for _ in range(levels):
        nxt = []
        for a, b in spans:
            if b - a > 1:
                mid = (a + b) // 2
                out.append(mid)
                nxt += [(a, mid), (mid, b)]
        spans = nxt
    return out


#: fixed-point steps ``screen_concurrency`` takes at most (it converges in a handful below saturation)
CONCURRENCY_ITERATIONS = 100


def screen_concurrency(m, s: ServingSpec, hw, tp: int, rate: float, batch: int,
                       im: Optional[IterationModel] = None,
                       budget: int = REALTIME_TOKEN_BUDGET) -> tuple[float, float]:
    """(L, b) for a replica offered ``rate`` requests/s with at most ``batch`` sequences running: L, the requests in
    flight, by Little's law L = rate x W(L), W = TTFT + (O - 1) x the decode step as the engine runs it at the batch
    a request decodes in (``lumped_iteration``: b decoding, the b - 1 others' next prompts in lumps; the mean time in
    service, so the slot queue's capacity is the throughput's -- until cap33 ``llm_tpot``'s step at the mean
    composition, and an option listed at 99.8% busy of the throughput had 93% of the slots' capacity), b = min(1 + L,
    batch): itself and the L others a Poisson
    arrival finds (arrivals see time averages, Wolff 1982); L is capped at ``batch`` (past it requests queue, the
    simulation's to judge). W grows with L, so iterating from L = 0 climbs to the least fixed point. A replica at
    full load (the analytic size ~100% busy) reaches the cap: b = ``batch``. The TPOT stated is the p99 at b
    (``screen_tpot``; ``llm_tpot`` at b until tpot33).
    ``im``: the option's iteration model where the caller has it (``llm_option``); ``budget``: the token budget the
    steps run at (``screen_point``'s, serve45)."""
    L, b = screen_concurrency_many(m, s, hw, tp, np.array([float(rate)]), batch, im, budget)
    return float(L[0]), float(b[0])


def screen_concurrency_many(m, s: ServingSpec, hw, tp: int, rates: np.ndarray, batch: int,
                            im: Optional[IterationModel] = None,
                            budget: int = REALTIME_TOKEN_BUDGET) -> tuple[np.ndarray, np.ndarray]:
    """``screen_concurrency`` at each of ``rates`` in one vectorised fixed point (arrays L, b): each rate's iterates
    are its own, and one stops where it converges, so each (L, b) is the scalar loop's bit for bit
    (tests/test_srvspeed46.py compares them on a grid). Why (srvspeed46): the fixed point is ~20 calls of
    ``time_in_service`` near saturation, each ~0.1 ms of numpy overhead on one rate as on thirty, and
    ``queue_replicas`` asks for ~20 counts at 1e6 QPS (r0 ~10^5, its doubling and bisection); it now prices the
    counts its search may ask next at once (``least_meeting``'s ``ahead``).

    A rate whose iterate repeats one ``CYCLE_PERIODS`` or fewer steps back, bit for bit, stops there too: the map is
    the same at every step, so its iterates cycle from there on, none converging (their steps are the ones already
    taken), and its iterate at ``CONCURRENCY_ITERATIONS`` is read from the cycle (``_cycle_end``). Why (fleet56): W
    need not grow with L (an expert-parallel step's busiest rank, a tile's padding), and near saturation a rate's
    iterates can alternate between two or more values for the whole loop: 50 of the 196 fixed points of the fuzz51
    fleet (a 64-expert tiny MoE on 2 x p5.48xlarge) cycled, 2,544 of their 12,924 ``time_in_service`` calls
    after the cycle closed."""
    im = im or option_iteration(m, s, hw, tp)
    rates = np.asarray(rates, dtype=np.float64)
    L, live = np.zeros_like(rates), np.arange(len(rates))
    seen = [L.copy()]  # every iterate so far (a rate's own where it is live)
    for it in range(1, CONCURRENCY_ITERATIONS + 1):
        cur = L[live]
        # the mean time in service: its decode steps as the engine runs them (the others' prompts in lumps,
        # lumped_iteration), not llm_tpot's step at the mean composition
        W = time_in_service(im, s, cur, np.minimum(1.0 + cur, float(batch)), batch, budget)
        nxt = np.minimum(rates[live] * W, float(batch))
        L[live] = nxt
        seen.append(L.copy())
        moving = np.abs(nxt - cur) > 1e-9 * np.maximum(nxt, 1.0)  # the converged ones stop here
        period = _cycle_period(seen, live, nxt)
        for e, p in zip(live[moving & (period > 0)], period[moving & (period > 0)]):
            L[e] = _cycle_end(seen, int(e), it, int(p))
        live = live[moving & (period == 0)]
        if not len(live):
            break
    return L, np.minimum(1.0 + L, float(batch))


#: the longest cycle ``screen_concurrency_many`` looks for in a rate's iterates (the fuzz51 fleet's: 2 to 8 steps)
CYCLE_PERIODS = 8


def _cycle_period(seen: list, live: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """For each ``live`` rate, the least p in 2 .. ``CYCLE_PERIODS`` whose iterate p steps back equals its newest,
    ``nxt``, bit for bit; 0 where none does."""
    period = np.zeros(len(live), dtype=np.int64)
    for p in range(CYCLE_PERIODS, 1, -1):  # the least p last, so it is the one kept
        if len(seen) > p:
            period[seen[-1 - p][live] == nxt] = p
    return period


def _cycle_end(seen: list, e: int, it: int, p: int) -> float:
    """Rate ``e``'s iterate at ``CONCURRENCY_ITERATIONS``, its iterates repeating every ``p`` steps from step it - p
    (``seen[it] == seen[it - p]``): the one in that last cycle at the same phase."""
    return float(seen[it - p + (CONCURRENCY_ITERATIONS - it + p) % p][e])


@dataclass
class ScreenMemo:
    """What one option's screens (``llm_option``) at several QPS share, none of it depending on the QPS: the batches
    its targets allow (``row_allows``) and each token budget allows (``budget_allows``), each budget's batch and
    throughput (``sizes``), and the (L, b) of
    ``screen_concurrency`` at every (budget, batch, rate) priced so far. ``queue_replicas`` reads a count's (L, b) here
    before pricing it; ``prefetch`` prices, in one vectorised fixed point a budget, the count each QPS's search asks
    first for the QPS a fixed fleet's bisection may ask next (``serving.fleet_row``,
    ``highest_rate``'s ``ahead``). Each rate's fixed point is its own (``screen_concurrency_many``: the scalar loop's
    bit for bit), so a screen reads the figures it would compute without the memo, and answers the same.

    Why (fleet56): a fixed fleet bisects its QPS over ~10 screens an option, each pricing its counts' fixed points
    (~20-100 ``time_in_service`` calls each, near saturation the most) on their own: the fuzz51 fleet (a 64-expert
    tiny MoE on 2 x p5.48xlarge, 13 options) made 12,924 calls, 18 CPU s."""

    m: object
    s: ServingSpec
    hw: object
    tp: int
    im: IterationModel
    allows: dict  # ``row_allows``: {target: batches it allows}
    by_budget: dict  # ``budget_allows``: {budget: {target: batches it allows}}
    n: int  # the batches 1 .. n the memory and serving.max_batch allow
    conc: dict = field(default_factory=dict)  # (budget, batch, rate) -> (L, b)
    _sizes: Optional[dict] = None

    @classmethod
    def of(cls, m, s: ServingSpec, hw, tp: int, im: IterationModel, target: ServeTarget, n: int) -> "ScreenMemo":
        """The memo of the option whose memory and ``serving.max_batch`` allow batches 1 .. ``n``
        (``ServingOption.batch_memory_limit``), at ``target``'s p99 targets (its QPS is the screens')."""
        B = np.arange(1, n + 1, dtype=np.float64)
        return cls(m, s, hw, tp, im, row_allows(im, s, target, B), budget_allows(im, s, target, B), n)

    def sizes(self) -> dict:
        """{budget: (batch, requests/s a replica)} of the budgets with a batch meeting the targets, in
        ``REALTIME_TOKEN_BUDGETS``' order: ``budget_replicas``' batch and throughput there."""
        if self._sizes is None:
            self._sizes = {k: (b, float(replica_throughput(self.im, self.s, b, k)[1]))
                           for k, b in budget_batches(self.by_budget, self.n).items() if b >= 1}
        return self._sizes

    def least_replicas(self, qps: float) -> float:
        """The fewest replicas any budget's screen can size at ``qps``: its throughput's ceil(QPS / requests/s),
        where ``queue_replicas`` starts its search (inf where no budget has a batch: no count is sized)."""
        return min((math.ceil(qps / rps) for _, rps in self.sizes().values()), default=math.inf)

    def holds(self, budget: int, batch: int, rate: float) -> bool:
        return (budget, batch, rate) in self.conc

    def concurrency(self, budget: int, batch: int, rates: list) -> list:
        """(L, b) at each of ``rates`` (plain floats), the ones not priced before in one ``screen_concurrency_many``."""
        new = [r for r in dict.fromkeys(rates) if (budget, batch, r) not in self.conc]
        if new:
            L, b = screen_concurrency_many(self.m, self.s, self.hw, self.tp, np.asarray(new, dtype=np.float64), batch,
                                           self.im, budget)
            self.conc.update(zip(((budget, batch, r) for r in new), zip(L.tolist(), b.tolist())))
        return [self.conc[budget, batch, r] for r in rates]

    def prefetch(self, qps: list) -> None:
        """Price the count each of ``qps``' screens asks first at each budget with a batch, its throughput's count r0
        (``queue_replicas`` starts there, and mostly stops: the TTFT and TPOT meet): the first budget's for every QPS
        (its search always runs), a later one's where its r0 is under every earlier budget's (``budget_replicas``
        searches a later budget only under the count in hand, which is at least the earlier r0)."""
        least: dict = {}
        for k, (batch, rps) in self.sizes().items():
            rates = []
            for q in qps:
                r0 = math.ceil(q / rps)
                if r0 < least.get(q, math.inf):
                    rates.append(q / float(r0))
                least[q] = min(least.get(q, math.inf), r0)
            if rates:
                self.concurrency(k, batch, rates)


def generic_option(m, s: ServingSpec, hw, target: ServeTarget) -> ServingOption:
    """A generic model (CNN, ...) on one GPU with dynamic batching."""
    peak, dtype = compute_peak(hw, s.precision)
    w = m.params * WEIGHT_BYTES[s.precision]
    act = m.activation_bytes_per_sample or 0.0  # training's saved bytes: an upper bound at inference
    cap = hw.gpu.memory_bytes * s.gpu_memory_utilization - w - RESERVED_BYTES
    b_mem = int(cap // act) if act > 0 else s.max_batch
    base = dict(hardware=hw.name, gpu=hw.gpu.name, tp=1, gpus_per_node=hw.gpus_per_node,
                power_limit_w=hw.power_limit_w,
                weights_gib_per_gpu=w / GiB, batch_memory_limit=min(b_mem, s.max_batch),
                price_usd_hr=hw.price_ondemand, price_spot_usd_hr=hw.price_spot, compute_dtype=dtype,
                reachable_tflops=peak / 1e12, precision=s.precision, generic=True)
    if b_mem < 1:
        return ServingOption(**base, fits=False, reason="weights + one sample's activations exceed GPU memory")
    B = np.arange(1, min(b_mem, s.max_batch) + 1, dtype=np.float64)
    inp = m.input_bytes_per_sample or 0.0
    t = np.maximum(B * m.fwd_flops_per_sample / (peak * hw.eff.gemm_max),
                   (w + B * inp) / (hw.gpu.hbm_bw * hw.eff.hbm)) + getattr(hw.eff, "launch_s", 1e-5)
    lat = 2 * t
    ok = lat <= target.tpot_s if target.tpot_s is not None else np.ones(len(B), dtype=bool)
    base.update(fits=True, tpot_batch1_ms=float(lat[0] * 1e3))
    if not ok.any():
        return ServingOption(**base, meets_latency=False, reason=f"p99 latency {lat[0] * 1e3:.1f} ms even at batch 1")
    i = int(np.flatnonzero(ok)[-1])
    j = len(B) - 1
    return ServingOption(**base, meets_latency=True, batch=int(B[i]), tpot_ms=float(lat[i] * 1e3), ttft_ms=None,
                         bound="compute" if B[i] * m.fwd_flops_per_sample / peak > w / hw.gpu.hbm_bw else "memory",
                         requests_per_s_per_replica=float(B[i] / t[i]), batch_offline=int(B[j]),
                         requests_per_s_offline=float(B[j] / t[j]))


#: the quantile the prefill queue's wait is sized at: the p99 TTFT the targets state (``serving_queue.TTFT_QUANTILE``)
DISAGG_WAIT_QUANTILE = TTFT_QUANTILE


@dataclass(frozen=True)
class DisaggSize:
    """A prefill-decode split of one option (``disagg_size``): its replicas, the steps they run, the KV transfer and
    the p99s the screen states for it."""

    prefill: int  # prefill-only replicas
    decode: int  # decode-only replicas
    prefill_s: float  # one mean prompt's prefill alone (``prefill_time``)
    decode_batch: int  # sequences a decode replica runs at once (the TPOT target's batch, capped by its KV cache)
    decode_step_s: float  # one decode step at that batch, mean context
    kv_bytes: float  # one prompt's KV, per GPU (each GPU sends its own shard)
    link: str  # the node's link (``node_link_name``: P and D inside one node) or "NIC" (between nodes)
    link_bytes_per_s: float  # per GPU
    kv_transfer_s: float  # kv_bytes / link_bytes_per_s
    ttft_s: float  # p99: the prefill queue's (``prefill_ttft``) + the transfer
    tpot_s: float  # the decode step at the batch a decode replica carries at the QPS
    prefill_budget: int = REALTIME_TOKEN_BUDGET  # a prefill replica's token budget (``prefill_budget``)
    prefill_batch: int = 1  # the most whole prompts one prefill step takes (``prefill_batch``)
    prefill_step_s: float = 0.0  # a prefill replica's mean step at the QPS (the batch its load forms)

    @property
    def replicas(self) -> int:
        return self.prefill + self.decode


def kv_link(hw, nodes: int) -> tuple[str, float]:
    """(name, bytes/s per GPU) of the link a disaggregated prompt's KV crosses: NVLink where the split rents one node
    (``nodes``: serving_memory ``split_nodes``, the count its $ reads; ``hw.intra_bw_eff``, the node link's achieved
    rate), else the node's NIC share
    (``hw.inter_bw_per_gpu``: the catalog's inter-node rate at its achieved efficiency over the node's GPUs). vLLM's
    NixlConnector moves each TP rank's KV shard from its prefill GPU to the matching decode GPU, so the rate is one
    GPU's. Inside a node the name is the part's own link (gpus.csv ``intra_node_link``: NVLink, or PCIe on an L4 node,
    ICI on a TPU, Infinity Fabric on an MI300X; every split was said to cross "NVLink" until fuzz52)."""
    if nodes == 1:
        return node_link_name(hw.gpu), float(hw.intra_bw_eff)
    return "NIC", float(hw.inter_bw_per_gpu)


def prefill_budget(budget: int, longest_prompt: int) -> int:
    """A prefill-only replica's token budget (vLLM ``max_num_batched_tokens``): the plan's ``budget``, raised to hold
    the longest prompt whole (a prefill-only engine has no decodes to interleave, so chunking a prompt would only add
    steps; pd51). One rule for the screen (``disagg_size``: at the mean prompt) and the simulation
    (``serving._disagg_run``: at the workload's longest)."""
    return max(int(budget), int(longest_prompt))


def replica_seats(max_batch: int, ranks: int) -> int:
    """The most sequences a replica of ``ranks`` data-parallel engines runs at once: ``serving.max_batch`` is vLLM's
    ``--max-num-seqs`` (the job field it is read from, ``spec.schema``'s vLLM names), one engine's -- each engine's
    own scheduler admits up to it (vllm/v1/core/sched/scheduler.py ``max_num_running_reqs =
    scheduler_config.max_num_seqs``), and "each DP rank is deployed as a separate 'core engine' process" (vLLM docs,
    serving/data_parallel_deployment.md) -- so an expert-parallel replica of N DP engines seats N x max_batch (a
    tensor-parallel one, one engine: max_batch). Until QA 104 the cap was the replica's: an EP16 replica at the
    default 64 ran 4 sequences a DP engine, the flag it emits (``engine_seats``) 4, not the job's 64."""
    return max_batch * ranks


def engine_seats(batch: int, ep: int) -> int:
    """vLLM's ``--max-num-seqs`` (one engine's) for a replica of ``batch`` sequences over ``ep`` data-parallel engines
    (1: tensor parallel, one engine): ceil(batch / ep), the busiest rank the screen prices (servekv50)."""
    return -(-batch // ep)


def prefill_batch(s: ServingSpec, budget: int, seats: int) -> int:
    """The most whole prompts one step of a prefill-only replica takes: vLLM V1's scheduler admits waiting requests
    FCFS while the step's token budget lasts and ``max_num_seqs`` has room (vllm/v1/core/sched/scheduler.py
    ``schedule``, vLLM 0.8-0.10: ``while self.waiting and token_budget > 0``, ``token_budget`` less each request's new
    tokens, a stop at ``len(self.running) == self.max_num_running_reqs``, which is ``max_num_seqs``), so a
    backlogged step carries floor(budget / N) prompts of N = P - H new tokens (H: the prefix cache's,
    ``shared_prefix``), at most ``seats`` and at least one (``prefill_budget`` holds a prompt whole). With chunked
    prefill the budget's remainder starts the next prompt's chunk; the screen leaves that out (whole prompts: fewer a
    step than the engine's, so its capacity errs low).

    >>> prefill_batch(ServingSpec(prompt_tokens=128, output_tokens=64), 2048, 64), prefill_batch(
    ...     ServingSpec(prompt_tokens=8000, output_tokens=64), 8000, 64)
    (16, 1)
    """
    return max(1, min(int(seats), int(budget) // max(1, s.prompt_tokens - shared_prefix(s))))


def prefill_ttft(qps: float, p: int, k: int, step: Callable[[float], float]) -> tuple[float, float]:
    """(p99 TTFT before the KV transfer, the mean step) of ``p`` prefill-only replicas at ``qps`` Poisson prompts, each
    step taking up to ``k`` waiting prompts (``prefill_batch``) in ``step(n)`` seconds for n prompts (IterationModel.time
    of n prompts' prefill). The engine's rule (``prefill_batch``): a step takes every prompt waiting when it starts,
    up to k; a prompt that arrives during a step waits for it to end (gated batching). The balancer (least
    outstanding) evens the prompts over the replicas, each getting qps / p. Three parts, their tails summed
    (``serving_queue.ttft_quantile``, the colocated screen's):

    * its own step: the prompts that arrived during the step before it, the request and a Poisson(qps / p x step(b))
      count of others (Palm: the rest of a Poisson stream), capped at k -- a mixture over that count;
    * the step running when it arrives (k > 1 only), counted whole, with probability beta = the replica's busy share
      qps / p x step(b) / b, where b = min(k, max(1, qps / p x step(b))) (a fixed point: steps back to back take the
      prompts one step's time brings) is the mean batch;
    * the wait past full steps: an M/D/c queue of c = p x k seats served in step(k) (Allen-Cunneen's mean wait,
      ``queue_wait``, Erlang C's probability, ``erlang_c``), unstable (inf) where qps x step(k) >= p x k.

    At k = 1 (a prompt of more than half the budget) this is pd51's M/D/P queue of single prompts exactly (no gate: the
    M/D/P wait is the wait for the running step). Conservative where batching binds (each part at its own tail), and
    the simulation (the same engine rules, planner/simulate/serving.py) confirms it: tests/test_disagg52.py."""
    lam = qps / p
    full = float(step(k))
    a = qps * full
    c = p * k
    if a >= c:
        return math.inf, full
    b = 1.0
    for _ in range(50):  # step(b) grows with b, slower than b: the fixed point is reached from below
        nxt = min(float(k), max(1.0, lam * float(step(b))))
        if abs(nxt - b) < 1e-9:
            break
        b = nxt
    mean = float(step(b))
    m = lam * mean  # the others arriving during one step
    n = np.arange(1, k + 1, dtype=np.float64)
    # Poisson(m) at 0 .. k - 1 others, in logs (e^-m underflows past m ~ 745): -m + sum_{i <= j} ln(m / i)
    pmf = (np.exp(-m + np.concatenate(([0.0], np.cumsum(math.log(m) - np.log(n[:-1])))))
           if m > 0 else (n == 1).astype(np.float64))
    pmf[-1] = max(0.0, 1.0 - pmf[:-1].sum())  # k or more: k (the cap)
    own = np.asarray(step(n), dtype=np.float64)  # vectorised: one IterationModel.time over every batch
    beta = min(1.0, lam * mean / b)
    runs = ([mean], [beta]) if k > 1 else ([], [])
    waits = [(float(erlang_c(c, a)), float(queue_wait(c, a, full, 0.0)))]
    return ttft_quantile(DISAGG_WAIT_QUANTILE, own, pmf, *runs, waits), mean


def node_link_name(gpu) -> str:
    """The name of the link joining ``gpu``'s node (gpus.csv ``intra_node_link``): "NVLink" for any NVLink generation
    (``nvlink_joined``), else the catalog's word (PCIe, ICI, InfinityFabric, ...); "the node link" where the part
    names none (a measured profile's device)."""
    link = getattr(gpu, "intra_node_link", None)
    if not link or link in ("none", "measured"):
        return "the node link"
    return "NVLink" if nvlink_joined(link) else link


@dataclass(frozen=True)
class SplitSide:
    """The decode side of a prefill-decode split where its layout is not the prefill side's (disaggep52; DeepSeek's
    deployment: prefill EP32, decode EP144): another option's replica on the same hardware."""

    tp: int  # GPUs a decode replica
    im: IterationModel  # its iteration model (``option_iteration``)
    b_mem: int  # the sequences its KV cache holds (the option's ``batch_memory_limit``)


def disagg_size(m, s: ServingSpec, hw, tp: int, target: ServeTarget, im: IterationModel, b_mem: int,
                split: Optional[tuple[int, int]] = None, budget: int = REALTIME_TOKEN_BUDGET,
                decode: Optional[SplitSide] = None) -> DisaggSize:
    """Size (or, with ``split``, state) a prefill-decode split of option (``hw``, ``tp``) at ``target.qps``; its
    decode replicas another option's layout where ``decode`` gives one (the prefill side's otherwise).

    Prefill replicas: each runs steps of up to ``prefill_batch`` waiting prompts (vLLM's token budget,
    ``prefill_budget`` of the plan's ``budget``), a step of n prompts taking IterationModel.time of their prefill (a
    prefill-only engine has no decodes beside it); the prompts arrive Poisson at the QPS and queue for the P replicas
    (``prefill_ttft``: gated batching over an M/D/c queue of P x k seats; pd51's M/D/P queue of single prompts at
    k = 1). P = the fewest replicas whose p99 TTFT = that + the KV transfer meets ``target.ttft_s`` (the fewest that
    are stable without one). Until disagg52 every prompt was its own step (k = 1 always): at high QPS of short prompts
    that over-sized P (300 QPS of 128-token prompts, Llama-3-8B on one H100: 3 replicas, where 2 meet in simulation).

    KV transfer: the prompt's KV bytes per GPU (``im.kv_bytes`` a token) over ``kv_link``'s rate, added to TTFT (the
    client's first token comes from the decode replica, planner/simulate/serving.py).

    An expert-parallel replica (``im.ep`` = N > 1 DP engines, disaggep52; refused until then): each DP engine is a
    prefill queue of its own (vLLM's front end routes a prompt to one engine, which prefills it within its own token
    budget and ``max_num_seqs``), so the P replicas are P x N queues of qps / (P x N) each, a step of n prompts on an
    engine timed as the replica's step with every engine at n (the ranks step together at the busiest's,
    IterationModel ``_busiest``; conservative where the others hold fewer); a prompt's KV lives whole on its DP
    rank's GPU (``kv_bytes_per_token``'s ``dp``: MLA's latent for DeepSeek), N x ``im.kv_bytes`` a token, sent over
    that GPU's own link (DeepSeek's and SGLang's deployments move it rank to rank over RDMA: Mooncake / NIXL). The
    decode batch b is the replica's (``b_mem`` is; ``s.max_batch`` is one DP engine's: ``replica_seats``), ceil(b / N)
    a DP engine.

    Decode replicas: the largest batch (up to ``replica_seats`` and the KV cache's ``b_mem``) whose decode step at the
    mean context P + O/2 meets ``target.tpot_s`` (no prefill shares a decode step: that is the point of the split,
    DistServe §3), then D = the fewest replicas whose sequences in flight (Little's law: QPS x O x step) fit that batch
    and whose p99 TPOT (``disagg_tpot``: the batch a replica carries at the QPS, at its p99) meets the target. Poisson
    arrivals at the mean lengths: the simulation (``serving._disaggregation``) confirms, grows or shrinks the split."""
    qps = float(target.qps)
    S = prefill_time(m, s, hw, tp, im)
    ctx = s.prompt_tokens + s.output_tokens / 2
    dec = decode or SplitSide(tp, im, b_mem)
    step = lambda b: float(dec.im.time(decode_seqs=b, decode_ctx=b * ctx))  # noqa: E731 -- one decode step at batch b
    cap = max(1, min(replica_seats(s.max_batch, int(dec.im.ep)), dec.b_mem))
    b = cap
    if target.tpot_s is not None and step(cap) > target.tpot_s:  # the largest batch meeting it (steps grow with b)
        lo, hi = 1, cap
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if step(mid) <= target.tpot_s else (lo, mid)
        b = lo
    ranks = int(im.ep)  # an expert-parallel replica's DP engines (1: tensor parallel, one engine)
    kv = s.prompt_tokens * im.kv_bytes * ranks  # (an EP replica's ``kv_bytes`` is its mean GPU's: 1/ranks of a token's)
    pb = prefill_budget(budget, s.prompt_tokens)
    # the simulation's prefill engines seat the decode batch, ceil(b / ranks) a DP engine (``_disagg_run``)
    k = prefill_batch(s, pb, engine_seats(b, ranks))
    H = float(shared_prefix(s))
    # n prompts on each DP engine: the replica's step with every rank at n (they step together, the busiest's)
    pstep = lambda n: im.time(**im.prompt_prefill(H, s.prompt_tokens - H, n * ranks))  # noqa: E731

    def ttft(p: int, d: int) -> tuple[float, str, float, float, float]:
        name, rate = kv_link(hw, split_nodes(p, tp, d, dec.tp, hw.gpus_per_node))
        t, mean = prefill_ttft(qps, p * ranks, k, pstep)
        return t + kv / rate, name, rate, kv / rate, mean

    if split is None:
        d = max(1, math.ceil(qps * s.output_tokens * step(b) / b))
        p = max(1, math.floor(qps * float(pstep(k)) / (k * ranks)) + 1)
        while target.ttft_s is not None and ttft(p, d)[0] > target.ttft_s and p < MAX_DISAGG_REPLICAS:
            p += 1
    else:
        p, d = split
    t, name, rate, kv_s, mean = ttft(p, d)
    tpot = disagg_tpot(qps, s.output_tokens, step, b, d)
    if split is None:  # the fewest decode replicas whose stated p99 TPOT meets the target
        while target.tpot_s is not None and tpot > target.tpot_s and d < MAX_DISAGG_REPLICAS:
            d += 1
            tpot = disagg_tpot(qps, s.output_tokens, step, b, d)
        t, name, rate, kv_s, mean = ttft(p, d)  # the link may change with the replicas (one node or two)
    return DisaggSize(prefill=p, decode=d, prefill_s=S, decode_batch=b, decode_step_s=step(b), kv_bytes=kv,
                      link=name, link_bytes_per_s=rate, kv_transfer_s=kv_s, ttft_s=t, tpot_s=tpot,
                      prefill_budget=pb, prefill_batch=k, prefill_step_s=mean)


def disagg_tpot(qps: float, output: int, step: Callable[[float], float], cap: int, decode: int) -> float:
    """The p99 TPOT of ``decode`` decode-only replicas at ``qps``: the decode step (``step(b)``, IterationModel.time)
    at the batch a replica carries. A request's TPOT is the mean step over its own O steps, so the batch that sets it
    is the sequences in flight averaged over one request's stay T = O x step: Poisson arrivals of requests that stay
    T make them an M/D/inf occupancy, Poisson with mean L = qps x T (Kleinrock, Queueing Systems Vol. 1, 1975, §4.7),
    and its average over a window of T has variance (1/T^2) x the double integral of the covariance qps (T - |u|),
    = 2L/3; the p99 is ~ L + z sqrt(2L/3) (normal approximation), spread over the D replicas the balancer evens them
    across, capped at the engine's batch ``cap`` (L solved with the step at that batch: fixed point)."""
    z = NormalDist().inv_cdf(TPOT_QUANTILE)
    load = float(cap)
    for _ in range(50):
        total = qps * output * step(load)
        nxt = min(float(cap), max(1.0, (total + z * math.sqrt(2 * total / 3)) / decode))
        if abs(nxt - load) < 1e-6:
            break
        load = nxt
    return step(load)

