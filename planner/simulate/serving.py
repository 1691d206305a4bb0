"""Discrete-event simulation (SimPy) of LLM serving: request arrivals, a load balancer, replicas
running continuous batching with a paged KV cache, and the latency every request sees.

Processes and resources, one concept each:

* ``arrivals`` (process): releases the requests of a :class:`Workload` at their arrival times —
  Poisson, bursty (a two-state Markov-modulated Poisson process), all at once (``burst``, what
  ``vllm bench serve --request-rate inf`` sends) or a trace file (:func:`load_trace`) — and, with
  ``max_concurrency``, only while one of that many clients is free (a closed loop, a
  ``simpy.Container`` of clients: ``--max-concurrency``);
* :class:`LoadBalancer`: routes each request to an engine (``least_outstanding``,
  ``round_robin`` or ``random``; a registry, :data:`ROUTING`);
* :class:`KVBlocks` (resource): one engine's paged KV cache, ``num_blocks`` blocks of
  ``block_size`` tokens (vLLM's PagedAttention, Kwon et al. SOSP 2023; block size 16 is vLLM's
  default, vllm/config CacheConfig);
* :class:`Engine` (process): one model replica's scheduler + executor. Every iteration it builds a
  batch, asks the roofline :class:`~planner.workloads.serving_iteration.IterationModel` (the same function
  the analytic planner uses) how long that batch composition takes, and advances time by it;
* ``monitor`` (process): samples queue length, running sequences and KV occupancy over time.

The scheduler (:class:`EngineConfig`) follows vLLM's V1 scheduler
(vllm/v1/core/sched/scheduler.py, ``Scheduler.schedule``):

* ``policy="chunked"`` (vLLM V1 default; Sarathi-Serve, Agrawal et al. OSDI 2024; TensorRT-LLM
  in-flight batching with ``enable_chunked_prefill``): a token budget ``max_num_batched_tokens``
  per iteration. Running requests first — each decoding sequence takes one token of the budget,
  a partially prefilled prompt takes ``min(remaining, budget)`` — then waiting requests in FCFS
  order while the budget lasts and fewer than ``max_num_seqs`` run; a prompt that does not fit
  the budget is chunked across iterations, interleaved with the decodes;
* ``policy="prefill_first"`` (vLLM V0 without chunked prefill, vllm/core/scheduler.py
  ``_schedule_default``; SGLang's default scheduler, which runs a new prefill batch whenever one
  can be formed): an iteration is either prefill only (up to the token budget, chunking a prompt
  that does not fit, as SGLang's ``chunked_prefill_size`` does) or decode only; prefills go first.
  On an expert-parallel replica each DP engine alternates on its own (SGLang's DP attention ranks
  each form their own batch, scheduler_dp_attn_mixin.py ``prepare_mlp_sync_batch``, and step
  together): the engines with a prefill batch pause their own decodes, the others decode in the
  same step (``Engine._pause``; one shared pause of every engine before sglsim53).

KV cache and preemption: a request is admitted only when the blocks for its next chunk are free
(V1 ``KVCacheManager.allocate_slots``; ``watermark`` is V0's ``BlockSpaceManager`` reserve, 1% in
V0, none in V1). Each decoding sequence takes a new block when its length crosses a block
boundary; when none is free the scheduler preempts the most recently admitted running request
(V1: ``preempted_req = self.running.pop()``) and puts it at the head of the waiting queue
(``self.waiting.prepend_request``). ``preemption="recompute"`` (V1's only mode) frees its blocks
and later re-prefills prompt + generated tokens; ``"swap"`` (V0's ``PreemptionMode.SWAP``) copies
its blocks to host memory over PCIe (``swap_bw``) and back when it resumes, both times added to the
iteration that does the copy. A model with sliding-window / chunked layers counts its blocks per
:class:`BlockCost` (vLLM V1's hybrid KV cache manager: the local layers' blocks stop growing once
the window is full; a prompt chunk holds slots for all its tokens while it is prefilled). A prompt
prefix every request shares (``ReplicaSpec.shared_prefix``, prefix caching on): its whole blocks are
held once per engine — the first request whose prefill passes them hands them over, later requests
start their prefill after them and hold only their own blocks — and kept from then on (never evicted).

Parallelism: one replica is ``tp`` GPUs (tensor parallel, inside the IterationModel) times ``pp``
pipeline stages. A PP replica runs ``pp`` batches in flight (vLLM V0's virtual engines): it is
modelled as ``pp`` engines, each with 1/pp of the replica's KV blocks and an iteration latency of
the whole model plus ``(pp - 1)`` stage-to-stage sends. ``disaggregate=(P, D)`` splits the service
into P prefill-only and D decode-only replicas (DistServe, Zhong et al. OSDI 2024; Splitwise,
Patel et al. ISCA 2024): a prompt's KV moves to a decode replica over ``kv_link_bw`` after its
prefill (a ``RateLimiter`` from planner/simulate/resources.py per prefill replica -- per DP rank of an
expert-parallel one, whose GPU holds its requests' KV whole, disaggep52 -- so overlapping transfers queue); the first token reaches the client when the transfer ends (vLLM's disaggregated proxy,
``--kv-transfer-config``, streams it from the decode instance), so TTFT holds the transfer (pd51). An expert-parallel replica (``iteration.ep`` > 1:
vLLM's data-parallel attention, one DP engine a GPU, vllm/v1/engine/core.py ``DPEngineCoreProc``) is one
:class:`Engine` whose requests each belong to one DP engine (routed on arrival as vLLM's front end does,
``Engine._dp_engine``); each DP engine admits from its own FCFS queue within its own token budget less its
own decodes, they step together, and the step is timed at the busiest one's prompt tokens (serveep50). Each
DP engine has its own KV pool (1/ep of ``ReplicaSpec.num_blocks``, its GPU's) and its own ``max_num_seqs``
(``EngineConfig.max_num_seqs`` is one engine's, vLLM's flag): a request is admitted only where its engine has
room, and a decode step that outgrows an engine's pool preempts that engine's newest request (servekv50; one pool
and one ``max_num_seqs`` a replica before).

Definitions (as ``vllm bench serve`` reports them): TTFT = first token time - arrival; TPOT =
(finish - first token) / (output tokens - 1); end-to-end (E2E) = finish - arrival. With
``max_concurrency`` "arrival" is when a client sends the request, as vllm bench times it. Goodput = the
share (and rate) of measured requests that finish within both SLOs (DistServe's definition).
Requests still unfinished when the simulation stops (``drain_s`` after the last arrival) count
with infinite latency: an overloaded service reports ``inf`` percentiles instead of a number that
depends on when we stopped looking.

Bounds: at most :data:`MAX_REQUESTS` requests and :data:`MAX_ITERATIONS` engine iterations per
run; beyond them :class:`~planner.errors.TooLargeError` ("too large: ..."). A run's work is bounded too:
after :data:`EVENT_BOUND` engine events no further request is released, the released ones finish (at most
:data:`DRAIN_EVENTS` more) and the percentiles are those of the requests simulated; ``ServingSimResult.cut``
says so (``None`` for a whole run), and a caller states it beside the numbers. Events: a full batch
(``max_num_seqs`` running, nothing prefilling, KV blocks to spare) decodes untouched until its next
finish, so those iterations run as one event (``Engine._decode_span``, same times and answers): at
batch 1 a request costs one event per prefill chunk plus one, not one per output token. The same holds
for a batch that is not full while nothing waits (the span also ends after the step an arrival lands
in) or while the queue's head waits for KV blocks; a span's steps are computed with numpy (a span of a
few steps, most of them, on plain floats: the same roofline formula, planner.model.ew). A caller that only
asks pass/fail (a plan's search runs) passes ``miss``: the run stops once a p99 is sure to miss
(:class:`MissWatch`).

Example — an M/D/1 queue (batch 1, every request 10 iterations of 10 ms, Poisson at 5 req/s,
so utilisation 0.5 and the mean time in system is D + rho D / (2 (1 - rho)) = 0.15 s):

>>> from planner.workloads.serving_iteration import IterationModel
>>> cfg = ServingSimConfig(replica=ReplicaSpec(IterationModel.constant(0.01), num_blocks=1000),
...                        engine=EngineConfig(max_num_seqs=1, max_num_batched_tokens=1))
>>> wl = make_workload(ArrivalSpec("poisson", rate=5.0, duration_s=2000.0),
...                    LengthDist("fixed", 1), LengthDist("fixed", 10), seed=1)
>>> res = simulate_serving(cfg, wl)
>>> round(res.e2e.mean, 2)
0.15
"""
from __future__ import annotations

import bisect
import csv
import io
import heapq
import math
import time
from collections import deque
from itertools import accumulate
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import simpy

from hardware_catalog.files import is_regular_file, number_cell, read_text
from planner import defaults as D
from hardware_catalog.errors import clip
from planner.errors import InputError, TooLargeError, shown_path
from planner.spec.schema import MAX_REQUEST_TOKENS
from planner.units import fmt_given
from planner.model import ew
from planner.simulate.resources import RateLimiter

MAX_REQUESTS = 1_000_000  # requests in one simulation
MAX_ITERATIONS = 20_000_000  # engine iterations in one simulation (all engines together)
#: engine events (SimPy timeouts the engines run: an iteration, or a fast-forwarded decode span) one simulation
#: runs before it stops releasing requests (``simulate_serving(max_events=...)``): its cost is ~50-250 us an event,
#: so a run stays within seconds whatever the job's lengths, batch or token budget (a 32K-token prompt in 512-token
#: chunks is 64 events). The requests released by then finish (up to ``DRAIN_EVENTS`` more events) and are measured;
#: the result says how many (``ServingSimResult.cut``). The shipped examples' largest run takes 68,363 (uncut)
EVENT_BOUND = 100_000
#: events after the cut for the released requests to finish; a run still busy then stops outright (its unfinished
#: requests count with infinite latency, as at the horizon)
DRAIN_EVENTS = 50_000
MAX_EVENTS = 10_000  # preemption events kept for the timeline (all are counted)
MAX_SAMPLES = 4_000  # monitor samples kept (the sampling interval stretches to fit)
MAX_TRACE_BYTES = 64 << 20
#: an interruptible decode span (Engine._decode_span: the batch not full, nothing waiting) looks at
#: most this many steps ahead; the next span continues where it stopped. An arrival usually ends it
#: within a few steps, and the steps it did not run were computed for nothing (O(steps) each)
SPAN_STEPS = 256
#: a span of at most this many steps computes its step times on plain floats, one roofline call a step
#: (~5 us each); a longer one in one call on an array (~25 us of numpy overhead whatever its length)
SCALAR_SPAN = 6


# --------------------------------------------------------------------------------------------
# workload: arrivals and lengths (registries, one function per kind)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrivalSpec:
    """When requests arrive. ``kind``: ``poisson`` (rate req/s for duration_s), ``mmpp`` (bursty:
    the rate switches between a high and a low level; ``burst_ratio`` = high/low, ``burst_share``
    = share of time at the high level, ``burst_s`` = mean length of a high period; the mean rate
    is ``rate``), ``burst`` (``count`` requests at t = 0). Trace files: :func:`load_trace`."""

    kind: str = "poisson"
    rate: float = 1.0
    duration_s: float = 60.0
    count: Optional[int] = None
    burst_ratio: float = D.MMPP_BURST_FACTOR
    burst_share: float = D.MMPP_BURST_SHARE
    burst_s: float = D.MMPP_BURST_S

    @property
    def peak_rate(self) -> float:
        """The rate in a burst (``mmpp``: r_low x ratio, r_low = rate / (share x ratio + 1 - share), ``_mmpp``);
        ``rate`` otherwise."""
        return self.states()[0][1]

    def states(self) -> tuple[tuple[float, float, float], ...]:
        """(share of the arrivals, rate req/s, mean sojourn s) of each state the arrivals switch between, the burst
        first: ``mmpp`` two -- the burst at r_low x ratio for ``burst_s`` on average, the rest at r_low = rate / (share
        x ratio + 1 - share) for burst_s (1 - share) / share, so the time-average rate is ``rate`` and a state's share
        of the arrivals is its rate x its share of the time over ``rate`` (4x, 25%: 0.571 of the requests arrive in
        bursts) -- ``_mmpp`` draws them; any other kind one, at ``rate`` (sojourn inf).

        >>> [tuple(round(x, 3) for x in st) for st in ArrivalSpec("mmpp", 40.0).states()]
        [(0.571, 91.429, 10.0), (0.429, 22.857, 30.0)]
        """
        if self.kind != "mmpp":
            return ((1.0, self.rate, math.inf),)
        low = self.rate / (self.burst_share * self.burst_ratio + 1 - self.burst_share)
        hi_share = self.burst_share * self.burst_ratio * low / self.rate
        return ((hi_share, low * self.burst_ratio, self.burst_s),
                (1.0 - hi_share, low, self.burst_s * (1 - self.burst_share) / self.burst_share))


def _poisson(a: ArrivalSpec, rng) -> np.ndarray:
    """Exponential gaps of mean 1/rate (a Poisson process)."""
    n = int(a.rate * a.duration_s * 1.2 + 10 * math.sqrt(a.rate * a.duration_s + 1) + 10)
    t = np.cumsum(rng.exponential(1.0 / a.rate, n))
    while t[-1] < a.duration_s:  # the bound above is ~10 sigma; extend in the rare miss
        t = np.concatenate([t, t[-1] + np.cumsum(rng.exponential(1.0 / a.rate, n))])
    return t[t < a.duration_s]


#: the longest block of whole burst/calm cycles ``_mmpp`` draws as one, as a share of the mean gap between arrivals
#: (1 / rate): a shape whose cycle is shorter is drawn in blocks of this length (fuzz45b: 1e-9 s bursts at a 99.9999%
#: share, a 1e-15 s calm, were ~10^11 sojourns a loop pass each, killed past 150 s at 6 GB)
MMPP_LUMP = 0.1
#: the most burst/calm sojourns ``_mmpp`` draws one loop pass each (~8 us a pass here); a run expected to hold more is
#: drawn by ``_mmpp_lumped`` in blocks of one cycle, the same process as arrays (srvspeed46: 1 ms bursts at 40 QPS for
#: 2,000 s are ~10^6 sojourns, 4-8 s of loop, 0.2 s as arrays); under it the loop keeps the seeded draws unchanged
MMPP_LOOP_SOJOURNS = 10_000


def _mmpp(a: ArrivalSpec, rng) -> np.ndarray:
    """Two-state Markov-modulated Poisson process (Fischer & Meier-Hellstern 1993): exponential
    sojourns (mean ``burst_s`` high, ``burst_s (1 - share) / share`` low); within a state, Poisson
    at r_high = ratio x r_low, with r_low = rate / (share x ratio + 1 - share) so the mean is rate.
    A cycle shorter than ``MMPP_LUMP`` x the mean gap goes to ``_mmpp_lumped``, and so does a run of more than
    ``MMPP_LOOP_SOJOURNS`` sojourns, in blocks of one cycle: each state's time in it is one exponential sojourn
    (Gamma(1, mean)), its arrivals Poisson given that time and uniform over it, the loop's process exactly."""
    if not (a.burst_ratio >= 1 and 0 < a.burst_share < 1 and a.burst_s > 0):
        raise InputError("arrivals", "mmpp needs burst_ratio >= 1, 0 < burst_share < 1, burst_s > 0")
    (_, hi, hi_s), (_, lo, lo_s) = a.states()
    levels, means = (hi, lo), (hi_s, lo_s)
    out, t, state = [], 0.0, int(rng.random() >= a.burst_share)
    cycles = int(MMPP_LUMP / (a.rate * (hi_s + lo_s)))  # whole cycles in one block
    if cycles > 1 or 2.0 * a.duration_s / (hi_s + lo_s) > MMPP_LOOP_SOJOURNS:
        return _mmpp_lumped(a, rng, levels, means, state, max(cycles, 1))
    while t < a.duration_s:
        end = min(t + rng.exponential(means[state]), a.duration_s)
        k = rng.poisson(levels[state] * (end - t))
        out.append(np.sort(rng.uniform(t, end, k)))
        t, state = end, 1 - state
    return np.concatenate(out) if out else np.zeros(0)


def _mmpp_lumped(a: ArrivalSpec, rng, levels, means, state: int, cycles: int) -> np.ndarray:
    """``_mmpp`` in blocks of ``cycles`` whole cycles, drawn as arrays: a block's time in each state is the sum of
    ``cycles`` exponential sojourns, Gamma(cycles, mean), and its arrivals in that state Poisson at the state's rate x
    that time (exact counts given the times); each state's arrivals are placed uniformly over its part of the block,
    which moves one by at most a block, ``MMPP_LUMP`` x the mean gap. At ``cycles`` = 1 nothing moves: each part is one
    sojourn, as the per-sojourn loop draws it (``MMPP_LOOP_SOJOURNS``)."""
    n = int(a.duration_s / (cycles * sum(means)) * 1.2 + 10)
    first, second = (0, 1) if state == 0 else (1, 0)
    parts = []
    total = 0.0
    while total < a.duration_s:  # ~1.2x the blocks needed; extend in the rare miss, as ``_poisson``
        seg = np.empty(2 * n)
        seg[0::2], seg[1::2] = rng.gamma(cycles, means[first], n), rng.gamma(cycles, means[second], n)
        parts.append(seg)
        total += float(seg.sum())
    seg = np.concatenate(parts)
    ends = np.cumsum(seg)
    keep = (ends - seg) < a.duration_s
    seg, ends = seg[keep], np.minimum(ends[keep], a.duration_s)
    starts = np.concatenate(([0.0], ends[:-1]))
    rates = np.where(np.arange(len(seg)) % 2 == 0, levels[first], levels[second])
    k = rng.poisson(rates * (ends - starts))
    return np.sort(rng.uniform(np.repeat(starts, k), np.repeat(ends, k)))


def _burst(a: ArrivalSpec, rng) -> np.ndarray:
    """``count`` requests at t = 0 (``vllm bench serve --request-rate inf``)."""
    if not a.count or a.count < 1:
        raise InputError("arrivals.count", "a burst needs count >= 1 requests")
    return np.zeros(int(a.count))


ARRIVALS: dict[str, Callable] = {"poisson": _poisson, "mmpp": _mmpp, "burst": _burst}


@dataclass(frozen=True)
class LengthDist:
    """Token lengths: ``fixed`` (always ``mean``), ``exponential`` (geometric on 1, 2, ... with
    this mean), ``lognormal`` (this mean and coefficient of variation ``cv``), ``uniform``
    (``mean x [1 - cv, 1 + cv]``, vLLM bench's random dataset with ``--random-range-ratio cv``).
    ``max`` clips (the engine's max_model_len)."""

    kind: str = "fixed"
    mean: float = 256
    cv: float = 1.0
    max: Optional[int] = None


LENGTHS: dict[str, Callable] = {
    "fixed": lambda d, n, rng: np.full(n, d.mean),
    "exponential": lambda d, n, rng: rng.geometric(min(1.0, 1.0 / d.mean), n),
    "lognormal": lambda d, n, rng: rng.lognormal(math.log(d.mean) - 0.5 * math.log1p(d.cv ** 2),
                                                 math.sqrt(math.log1p(d.cv ** 2)), n),
    "uniform": lambda d, n, rng: rng.uniform(d.mean * (1 - d.cv), d.mean * (1 + d.cv), n),
}


def _lengths(d: LengthDist, n: int, rng, field_name: str) -> np.ndarray:
    if d.kind not in LENGTHS:
        raise InputError(field_name, f"unknown length distribution {d.kind!r}; one of {sorted(LENGTHS)}")
    if not d.mean >= 1:
        raise InputError(field_name, "mean length must be >= 1 token")
    x = np.maximum(np.rint(LENGTHS[d.kind](d, n, rng)), 1).astype(np.int64)
    return np.minimum(x, d.max) if d.max else x


@dataclass(frozen=True)
class Workload:
    """Requests sorted by arrival: arrival times (s), prompt and output lengths (tokens)."""

    arrival_s: np.ndarray
    prompt: np.ndarray
    output: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def span_s(self) -> float:
        return float(self.arrival_s[-1]) if len(self) else 0.0

    @property
    def spread(self) -> tuple[float, float]:
        """(prompt, output) coefficients of variation, std / mean over the requests (population std, as
        ``LengthDist.cv`` is the drawn lengths' own), to 3 decimals: the one statement of a replayed trace's spread,
        which the analytic screen takes in place of ``serving.length_cv`` (trace40: the example trace's 0.61 / 0.80
        were screened at the job's 0.5 while the simulation replayed them).

        >>> Workload(np.array([0.0, 1.0]), np.array([100, 300]), np.array([10, 10])).spread
        (0.5, 0.0)
        """
        return tuple(round(float(np.std(x) / np.mean(x)), 3) if len(x) else 0.0 for x in (self.prompt, self.output))


def _check_size(n: int, field_name: str):
    if n > MAX_REQUESTS:
        raise TooLargeError(field_name, f"{n:,} requests; the simulation takes at most {MAX_REQUESTS:,} "
                            "(shorten the duration or lower the rate)")


def make_workload(arrivals: ArrivalSpec, prompt: LengthDist, output: LengthDist, seed: int = 0) -> Workload:
    """Draw a workload; the same seed gives the same requests.

    >>> wl = make_workload(ArrivalSpec("poisson", rate=10, duration_s=100), LengthDist("fixed", 512),
    ...                    LengthDist("exponential", 128), seed=3)
    >>> 900 < len(wl) < 1100, int(wl.prompt[0]), bool(100 < wl.output.mean() < 160)
    (True, 512, True)
    """
    if arrivals.kind not in ARRIVALS:
        raise InputError("arrivals.kind", f"unknown arrival process {arrivals.kind!r}; one of {sorted(ARRIVALS)}")
    if arrivals.kind != "burst":
        if not (arrivals.rate > 0 and arrivals.duration_s > 0):
            raise InputError("arrivals", "rate and duration_s must be > 0")
        _check_size(int(arrivals.rate * arrivals.duration_s), "arrivals")
    else:
        _check_size(int(arrivals.count or 0), "arrivals.count")
    rng = np.random.default_rng(seed)
    t = ARRIVALS[arrivals.kind](arrivals, rng)
    _check_size(len(t), "arrivals")
    return Workload(t, _lengths(prompt, len(t), rng, "prompt"), _lengths(output, len(t), rng, "output"))


TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")


def _trace_row(r: dict, i: int, columns: int) -> tuple[float, int, int]:
    """One row of a trace (``csv.DictReader``'s, at the file's line ``i``: DictReader skips blank lines, which a count
    of rows would not): (arrival_s, prompt_tokens, output_tokens), each checked. A token count is held to
    ``MAX_REQUEST_TOKENS``, serving.prompt_tokens' limit: past int64 one was an internal error (OverflowError) and at
    2^63 - 1 numpy's cast warning was written beside the refusal (fuzz46)."""
    if r.get(None):  # cells past the header's columns (DictReader's restkey): a shifted row, read askew
        raise InputError("trace", f"line {i}: {columns + len(r[None])} cells but the header has {columns} columns")
    a, pr, out = (_trace_cell(r, name, i) for name in TRACE_COLUMNS)
    if not math.isfinite(a):  # "need arrival_s >= 0" for inf, which is >= 0, until QA 39
        raise InputError("trace", f"line {i}: arrival_s must be a finite number of seconds, got {a}")
    if not (a >= 0 and pr >= 1 and out >= 1):
        raise InputError("trace", f"line {i}: need arrival_s >= 0 and token counts >= 1")
    for name, n in (("prompt_tokens", pr), ("output_tokens", out)):
        if n > MAX_REQUEST_TOKENS:
            raise TooLargeError("trace", f"line {i}: {name} {_shown_count(r[name], n)} is over {MAX_REQUEST_TOKENS:,} "
                                         f"tokens, serving.{name}'s limit")
    return a, pr, out


def _shown_count(cell: str, n: float | int) -> str:
    """A token count over the limit as its refusal shows it: the number (``fmt_given``; ``clip``'s scientific form past
    10^15), or, where it read as infinite, the cell as written -- a decimal of 4,300+ digits is past ``int()``'s digit
    limit and read as its float, inf, so "prompt_tokens inf" named no cell (fuzz46b); its digits are counted, other
    text (``1e400``, ``inf``) quoted, clipped.

    >>> _shown_count("7", 16_777_217), _shown_count("9" * 40, 10 ** 40 - 1), _shown_count("9" * 5000, math.inf)
    ('16,777,217', '1e+40', 'of 5,000 digits')
    >>> _shown_count(" 1e400", math.inf)
    "'1e400'"
    """
    if isinstance(n, int) or math.isfinite(n):  # (an int of 400 digits is past float's range: no isfinite)
        return fmt_given(n) if n < 10 ** 15 else clip(n)
    text = cell.strip()
    return f"of {len(text):,} digits" if text.isascii() and text.isdigit() else clip(text)


def _trace_cell(r: dict, name: str, i: int) -> float | int:
    """The cell ``name`` of a trace row at line ``i``: a number as a job's field reads one (``files.number_cell``: YAML
    1.2's form, a whole token count an ``int``), where Python's ``int`` / ``float`` read it until fuzz46b, so ``1_0``
    was 10, ``١٢`` (Arabic-Indic digits) 12 and ``7\u00a0`` 7; those are refused, naming the cell. The spaces a CSV
    writes around a cell are YAML's white space and read (`` 7 `` is 7). A token count is a whole number (``7.0`` and
    ``1e3`` are, as a job's integer fields take ``256.0`` and ``1e4``); an arrival any number."""
    whole = name != "arrival_s"
    try:
        x = number_cell(r[name], whole=whole)
    except ValueError as e:
        raise InputError("trace", f"line {i}: {name} {e}, got {clip(r[name])}") from None
    if isinstance(x, str):  # Python's inf / nan (text to YAML) are refused below as not finite (QA 39), other text here
        try:
            x = float(x)
        except ValueError:
            x = None
    if x is None:  # QA 39's words, and since fuzz46c the cell they refuse
        raise InputError("trace", f"line {i}: arrival_s must be a number and token counts integers, got "
                                  + (f"no {name} cell (the row has fewer cells than the header has columns)"
                                     if r[name] is None else f"{name} {clip(r[name])}"))
    if isinstance(x, float) and whole and math.isfinite(x):  # (inf: over the token limit; nan: under 1)
        raise InputError("trace", f"line {i}: {name} must be a whole number of tokens, got {fmt_given(x)}")
    return x


def load_trace(path) -> Workload:
    """A CSV trace with a header and columns ``arrival_s,prompt_tokens,output_tokens`` (any order;
    other columns ignored; a row with more cells than the header has columns is refused, as a catalog override's is:
    its cells are shifted, and until QA 39 the extra ones were dropped unread). Rows may be unsorted; they are sorted
    by arrival.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(p, "w").write("arrival_s,prompt_tokens,output_tokens\\n0.5,100,20\\n0.1,50,10\\n")
    >>> wl = load_trace(p); wl.arrival_s.tolist(), wl.prompt.tolist()
    ([0.1, 0.5], [50, 100])
    """
    p = Path(path)
    if is_regular_file(p) and p.stat().st_size > MAX_TRACE_BYTES:  # (is_regular_file: a name too long is read_text's)
        raise TooLargeError("trace", f"{clip_path(p)} is over {MAX_TRACE_BYTES >> 20} MiB")
    text = read_text(p, "trace", MAX_TRACE_BYTES)  # regular files only, UTF-8 (a spreadsheet's BOM dropped)
    rows = []
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in TRACE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError("trace", f"missing column(s) {', '.join(missing)}; need {', '.join(TRACE_COLUMNS)}")
        for r in reader:
            rows.append(_trace_row(r, reader.line_num, len(reader.fieldnames)))
            _check_size(len(rows), "trace")
    if not rows:
        raise InputError("trace", "the trace has no requests")
    arr = np.array(sorted(rows))
    return Workload(arr[:, 0].astype(np.float64), arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64))


def clip_path(p: Path) -> str:
    """``p`` as a refusal quotes it (``shown_path``: a newline escaped), its last 77 characters where it is long."""
    s = shown_path(p)
    return s if len(s) <= 80 else "..." + s[-77:]


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineConfig:
    """One engine's scheduler (see the module docstring). Defaults: chunked prefill, 16-token
    blocks, recompute preemption and prefix caching (vLLM V1), ``max_num_seqs`` 256 and a token
    budget of 8192. vLLM's own API-server defaults (vllm/engine/arg_utils.py
    ``get_batch_defaults``) are 1024 / 8192 on GPUs with >= 70 GiB that are not A100s and 256 /
    2048 otherwise; ``plan_serving`` sets ``max_num_seqs`` to the analytic latency-bound batch and
    searches the budget."""

    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    policy: str = "chunked"  # "chunked" | "prefill_first"
    block_size: int = 16
    preemption: str = "recompute"  # "recompute" | "swap"
    watermark: float = 0.0  # share of blocks kept free at admission (vLLM V0: 0.01)
    prefix_caching: bool = True  # a preempted request's freed blocks keep its KV until reused (V1 default)
    swap_bw: float = 25e9  # bytes/s per GPU to/from host (PCIe Gen5 x16, achieved)
    #: a full batch's decode steps up to its next finish run as one event (Engine._decode_span);
    #: the same iterations and times, so False only serves to check that
    fast_forward: bool = True
    #: an expert-parallel replica's DP load balancer routes on the engines' (waiting, running) counts as the DP
    #: coordinator last published them, every ``lb_refresh_s`` seconds (vLLM's ``min_stats_update_interval_ms``, 100;
    #: vllm/v1/engine/coordinator.py), plus the front end's own sends since (Engine._dp_engine); 0: the exact counts
    #: at each arrival (as the simulation routed until serve51)
    lb_refresh_s: float = D.DP_LB_REFRESH_S


POLICIES = ("chunked", "prefill_first")
PREEMPTION = ("recompute", "swap")


@dataclass(frozen=True)
class BlockCost:
    """Units of the KV pool one sequence holds at context c (blocks of ``bs`` tokens): every layer's
    block per ``bs`` tokens for a model whose layers all keep the whole context (the default: one
    unit = one block of every layer, vLLM's PagedAttention); with local (sliding-window / chunked)
    layers, vLLM V1's hybrid KV cache manager (vllm/v1/core/single_type_kv_cache_manager.py):
    ``global_units`` per block of the context (the global layers' slots; one unit = one layer's
    block) plus ``local_units`` per block of the window — ``SlidingWindowManager`` frees the blocks
    wholly before ``computed - w + 1`` before each step's allocation, so a decoding sequence holds
    cdiv(c, bs) - (c - w) // bs of them, at most cdiv(w, bs) + 1 (:meth:`window_blocks`). Counted as
    min(cdiv(c, bs), cdiv(w, bs) + 1): exact at the steps that take a block, one block over at the
    steps between the free and the next take. A chunked layer is counted as a sliding window of
    its chunk (an upper bound: vLLM keeps the current chunk only). While a prompt chunk is
    prefilled every token of the chunk has a slot (:meth:`during`)."""

    global_units: int = 1
    local_units: int = 0
    window: int = 0  # tokens; 0: no local layers

    @property
    def per_block(self) -> bool:
        """One unit per block of context (every layer keeps the whole context): the default, counted by
        the engine's plain block arithmetic; any other cost -- local layers, or SGLang's full-layer pool
        counted in layer-blocks (``global_units`` > 1, ``local_units`` 0) -- goes through :meth:`held`."""
        return self == BlockCost()

    def window_blocks(self, bs: int) -> int:
        return _ceil_div(self.window, bs) + 1

    def held(self, c: int, bs: int) -> int:
        """Units held by a sequence of ``c`` stored tokens (decoding, or between prefill chunks)."""
        n = _ceil_div(c, bs)
        return self.global_units * n + self.local_units * min(n, self.window_blocks(bs))

    def during(self, computed: int, c: int, bs: int) -> int:
        """Units held while ``c`` tokens after ``computed`` are prefilled: slots for all of them
        (vLLM ``allocate_slots``), less the local blocks wholly before ``computed - w + 1``."""
        n = _ceil_div(computed + c, bs)
        skipped = max(0, computed - self.window + 1) // bs
        return self.global_units * n + self.local_units * max(n - skipped, min(n, self.window_blocks(bs)))

    def tokens_for(self, k: int, bs: int) -> int:
        """Tokens (whole blocks) of the longest prefix whose held units fit in ``k`` (a prefix-cache
        hit on ``k`` units a preempted request left)."""
        per, wb = self.global_units + self.local_units, self.window_blocks(bs)
        if k < per * wb:
            return k // per * bs
        if not self.global_units:  # every layer local: the window's blocks hold any prefix
            return 1 << 62
        return (wb + (k - per * wb) // self.global_units) * bs


@dataclass(frozen=True)
class ReplicaSpec:
    """One replica: its iteration-time model (TP inside), KV blocks per replica, PP stages and the
    latency of one stage-to-stage send; a model with local layers: what a sequence's blocks cost
    (``blocks``, in units of ``unit_bytes`` per token per GPU; planner.workloads.serving_memory.KVLayout)."""

    iteration: object  # planner.workloads.serving_iteration.IterationModel
    num_blocks: int
    pp: int = 1
    p2p_s: float = 0.0
    blocks: BlockCost = BlockCost()
    unit_bytes: Optional[float] = None  # KV bytes per token of one pool unit per GPU (None: iteration.kv_bytes)
    #: tokens at the start of every prompt that every request shares (a system prompt): with prefix
    #: caching its whole blocks are held once per engine and reused (Engine: ``_hit``, ``_share``)
    shared_prefix: int = 0


@dataclass(frozen=True)
class ServingSimConfig:
    replica: ReplicaSpec
    engine: EngineConfig = EngineConfig()
    replicas: int = 1
    routing: str = "least_outstanding"
    disaggregate: Optional[tuple[int, int]] = None  # (prefill replicas, decode replicas)
    kv_link_bw: float = 50e9  # bytes/s per GPU for prefill -> decode KV transfer
    #: the decode replicas' own layout and engine flags where they are not ``replica``'s / ``engine``'s (disaggep52:
    #: DeepSeek's deployment runs prefill EP32 and decode EP144); None: the prefill replicas'
    decode_replica: Optional[ReplicaSpec] = None
    decode_engine: Optional[EngineConfig] = None
    slo_ttft_s: Optional[float] = None
    slo_tpot_s: Optional[float] = None
    warmup_s: float = 0.0  # requests arriving earlier are simulated but not measured
    drain_s: Optional[float] = None  # after the last arrival; default max(60 s, the arrival span)
    sample_s: Optional[float] = None  # monitor interval; default fits MAX_SAMPLES
    seed: int = 0  # for the random routing policy
    max_concurrency: Optional[int] = None  # closed loop: at most this many requests in the service

    def check(self):
        e = self.engine
        if e.policy not in POLICIES:
            raise InputError("engine.policy", f"unknown policy {e.policy!r}; one of {', '.join(POLICIES)}")
        if e.preemption not in PREEMPTION:
            raise InputError("engine.preemption", f"one of {', '.join(PREEMPTION)}")
        if e.max_num_seqs < 1 or e.block_size < 1 or not (0 <= e.watermark < 1):
            raise InputError("engine", "max_num_seqs and block_size must be >= 1, 0 <= watermark < 1")
        if not (0 <= e.lb_refresh_s < math.inf):
            raise InputError("engine.lb_refresh_s", f"must be a finite number of seconds >= 0, got {e.lb_refresh_s}")
        if e.max_num_batched_tokens < e.max_num_seqs:  # vLLM's SchedulerConfig refuses this too
            raise InputError("engine.max_num_batched_tokens",
                             f"{e.max_num_batched_tokens} < max_num_seqs {e.max_num_seqs}: every running "
                             "sequence needs one token of the budget per iteration")
        if self.routing not in ROUTING:
            raise InputError("routing", f"unknown routing {self.routing!r}; one of {', '.join(ROUTING)}")
        if self.replicas < 1 or self.replica.pp < 1:
            raise InputError("replicas", "need at least one replica and one pipeline stage")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise InputError("max_concurrency", "need at least one client")
        if self.disaggregate is not None and min(self.disaggregate) < 1:
            raise InputError("disaggregate", "need at least one prefill and one decode replica")
        n = min(r.num_blocks // r.pp for r in (self.replica, self.decode_replica or self.replica))
        if n < 1:
            raise InputError("replica.num_blocks", "the KV cache holds no block: the weights fill the GPU")


# --------------------------------------------------------------------------------------------
# resources and processes
# --------------------------------------------------------------------------------------------


class KVBlocks:
    """An engine's paged KV cache: free blocks in LRU order, with prefix caching.

    Freed blocks join the tail of one free queue and allocation takes from its head, as vLLM V1's
    ``FreeKVCacheBlockQueue`` does. Blocks freed by a preempted request keep its KV (V1's prefix
    caching is on by default; SGLang's radix cache and TensorRT-LLM's block reuse do the same) until
    they are handed out again; if it is re-admitted first, :meth:`reuse` takes them back and its
    prefill restarts after them (V1 ``get_computed_blocks``). Which physical block is which does not
    matter for time, so the queue holds segments ``[owner, count]``; a request's own blocks are
    evicted from its end (vLLM frees them in reverse order), so what survives is still a prefix.

    >>> kv = KVBlocks(10); kv.take(4); kv.free, kv.used_share
    (6, 0.4)
    >>> kv.give(3, owner=7); kv.take(7); kv.reuse(7)  # 6 plain blocks first, then 1 of request 7's
    2
    """

    __slots__ = ("total", "free", "lru", "cached")

    def __init__(self, total: int):
        self.total, self.free = int(total), int(total)
        self.lru: deque = deque([[None, self.total]])
        self.cached: dict[int, list] = {}

    def take(self, n: int):
        self.free -= n
        lru = self.lru
        if lru and n < lru[0][1]:  # within the oldest free segment (most takes: a decode step's few blocks)
            lru[0][1] -= n
            return
        while n > 0:
            seg = lru[0]
            k = min(n, seg[1])
            seg[1] -= k
            n -= k
            if seg[1] == 0:
                lru.popleft()
                if seg[0] is not None:
                    self.cached.pop(seg[0], None)
        while lru and lru[0][1] == 0:
            lru.popleft()

    def give(self, n: int, owner: Optional[int] = None):
        if n <= 0:
            return
        self.free += n
        seg = [owner, n]
        self.lru.append(seg)
        if owner is not None:
            self.cached[owner] = seg

    def reuse(self, owner: int) -> int:
        """Take back the blocks ``owner`` left behind that nobody has reused yet (a prefix hit)."""
        seg = self.cached.pop(owner, None)
        if seg is None or seg[1] == 0:
            return 0
        k, seg[1] = seg[1], 0
        self.free -= k
        return k

    @property
    def used_share(self) -> float:
        return 1.0 - self.free / self.total


class Req:
    """One request's state. ``target`` = tokens to prefill (prompt, or prompt + generated after a
    recompute preemption); ``computed`` = of those, already in the KV cache."""

    __slots__ = ("rid", "arrival", "prompt", "output", "target", "computed", "generated", "blocks",
                 "s0", "j0", "key", "ver", "first", "finish", "swapped", "preempted", "lo", "shared", "rank", "seq")

    def __init__(self, rid, arrival, prompt, output):
        self.rid, self.arrival, self.prompt, self.output = rid, arrival, prompt, output
        self.target, self.computed, self.generated, self.blocks = prompt, 0, 0, 0
        self.s0 = self.j0 = self.key = self.ver = 0
        self.first = self.finish = math.inf
        self.swapped, self.preempted = False, 0
        self.lo = False  # decoding with its local-layer window still growing (Engine, local layers only)
        self.shared = 0  # tokens of the engine's shared prefix blocks it uses (not in ``blocks``: held once)
        self.rank = 0  # its DP engine in an expert-parallel replica (Engine.submit routes it; 0 elsewhere)
        self.seq = 0  # its place in the engine's FCFS order while it waits (Engine.submit, _preempt_newest)


class Stats:
    """What the engines record: per-request times, preemption events, iteration counts."""

    def __init__(self, n: int):
        # per request, Python lists (an item set on a numpy array cost ~3x a list's, once per arrival, first token and
        # finish; simulate_serving makes arrays of them at the end, the same values: srvspeed44)
        self.sent = [math.inf] * n  # when a request entered the service (its arrival, or a free client)
        self.first = [math.inf] * n
        self.finish = [math.inf] * n
        self.preemptions = 0
        self.events: list[tuple] = []
        self.iterations = 0
        self.engine_events = 0  # timeouts the engines scheduled (a fast-forwarded span is one)
        self.busy_s = 0.0
        self.done = 0
        self.aborted = False
        self.clients: Optional[simpy.Container] = None  # closed-loop clients (max_concurrency)
        self.watch: Optional[MissWatch] = None  # simulate_serving(miss=...): stop once the p99s are decided
        self.decided = False
        self.total = n  # requests the run waits for: all, or those released before the event bound cut it
        self.released = 0
        self.max_events = EVENT_BOUND
        self.cut_at: Optional[float] = None  # when the event bound stopped the releases (simulate_serving)
        self.stop_events = EVENT_BOUND + DRAIN_EVENTS
        self.stopped_at: Optional[float] = None  # when the drain's events ran out (the run stopped there)

    def first_token(self, rid: int, t: float) -> bool:
        """Record request ``rid``'s first token at ``t``; True when that decides a watched miss."""
        self.first[rid] = t
        return self.watch is not None and self.watch.late_first(rid, t - self.sent[rid])

    def finished(self, rid: int, t: float) -> bool:
        """Record ``rid``'s finish at ``t``; True when that decides a watched miss."""
        self.finish[rid] = t
        return self.watch is not None and self.watch.late_tpot(rid, t, self.first[rid])

    def preempt(self, t, engine, rid, mode):
        self.preemptions += 1
        if len(self.events) < MAX_EVENTS:
            self.events.append((t, engine, rid, mode))


class MissWatch:
    """Decides, while a run is in progress, that its p99 TTFT or p99 TPOT over the measured requests will
    exceed a threshold, whatever the requests still in flight do. ``Percentiles.of`` takes the 99th
    percentile as the ceil(0.99 n)-th smallest of n values (numpy's ``inverted_cdf``), so it exceeds T as
    soon as more than n - ceil(0.99 n) of them do; a request's TTFT is known at its first token and its
    TPOT at its finish, and neither changes after. The count of misses that decides is taken one higher
    (``+ 2``) than that, so a rounding of 0.99 n cannot make it decide early. TTFT is over all n measured
    requests; TPOT over the measured ones with a second token (an unfinished request, which TPOT would
    count too, fails the run on its own). A value equal to T is no miss (``meets`` takes <=)."""

    def __init__(self, wl: "Workload", warmup_s: float, ttft_s: Optional[float], tpot_s: Optional[float]):
        measured = wl.arrival_s >= warmup_s
        timed = measured & (wl.output > 1)
        self.measured, self.timed = measured.tolist(), timed.tolist()
        self.out = wl.output.tolist()
        self.ttft_s, self.tpot_s = ttft_s, tpot_s
        self.ttft_left = self._allowed(int(measured.sum())) if ttft_s is not None else math.inf
        self.tpot_left = self._allowed(int(timed.sum())) if tpot_s is not None else math.inf

    @staticmethod
    def _allowed(n: int) -> float:
        return n - math.ceil(0.99 * n) + 2 if n else math.inf

    def late_first(self, rid: int, ttft: float) -> bool:
        if self.ttft_s is not None and self.measured[rid] and ttft > self.ttft_s:
            self.ttft_left -= 1
        return self.ttft_left <= 0

    def late_tpot(self, rid: int, finish: float, first: float) -> bool:
        if self.tpot_s is not None and self.timed[rid] and request_tpot(first, finish, self.out[rid]) > self.tpot_s:
            self.tpot_left -= 1
        return self.tpot_left <= 0


def request_tpot(first, finish, output):
    """A request's time per output token, (finish - first token) / (output - 1), as ``vllm bench serve``
    counts it (a one-token request divides by 1); plain numbers (the run's :class:`MissWatch`) or arrays
    (the summary) alike."""
    return (finish - first) / ew.maximum(output - 1, 1)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _residue_sum(cnt: list, j: int, rest: int) -> int:
    """cnt[j % bs] + cnt[(j + 1) % bs] + ... (``rest`` <= bs terms, wrapping around), as two slices."""
    r0 = j % len(cnt)
    end = r0 + rest
    return sum(cnt[r0:end]) + (sum(cnt[:end - len(cnt)]) if end > len(cnt) else 0)


class Engine:
    """One engine (a replica, or one PP virtual engine): scheduler + executor as a SimPy process.

    Decoding sequences are kept as aggregates so an iteration costs O(1) plus O(log n) per
    admission, finish or preemption, whatever the batch size: every decoding sequence gains one
    token per decode iteration ``j``, so the context sum is ``S0 + n x j`` (S0 = sum of stored
    tokens minus entry index) and the sequences that need a new block at ``j`` are those with
    ``(entry index - stored at entry) mod block_size == j mod block_size`` (a count per residue).
    """

    def __init__(self, env, name: int, spec: ReplicaSpec, cfg: EngineConfig, stats: Stats,
                 done: simpy.Event, on_prefilled=None):
        self.env, self.name, self.cfg, self.stats = env, name, cfg, stats
        self.im, self.p2p = spec.iteration, spec.p2p_s * (spec.pp - 1)
        self.windowed = bool(getattr(self.im, "window", None))  # local layers: a step's prefill has local pairs
        # an expert-parallel replica's DP engines each own a KV cache manager and ``max_num_seqs`` (vLLM: one
        # ``Scheduler`` a ``DPEngineCoreProc``, vllm/v1/core/sched/scheduler.py ``self.kv_cache_manager``,
        # ``self.max_num_running_reqs``): ``spec.num_blocks`` is the replica's, each engine holds 1/ep of them
        # (its GPU's; serving_screen.replica_spec). One pool elsewhere. (servekv50; one pool a replica before)
        self.ep = spec.iteration.ep
        self.kvs = [KVBlocks(spec.num_blocks // spec.pp // self.ep) for _ in range(self.ep)]
        self.watermark = int(cfg.watermark * self.kvs[0].total)
        self.bs = cfg.block_size
        self.swap_s_per_block = cfg.block_size * spec.iteration.kv_bytes / cfg.swap_bw
        # local layers (BlockCost): a new block of context costs g units, l more while the window grows
        self.cost = spec.blocks
        # any cost but one unit per block (SGLang's full-layer pool is g units a block with no local ones: it read
        # one unit a block, and gemma3-12b fitted 9,456 sequences where the analytic answer was 47)
        self.local = not spec.blocks.per_block
        self.g, self.l = spec.blocks.global_units, spec.blocks.local_units
        self.wb = spec.blocks.window_blocks(cfg.block_size) if self.local else 0
        # decoding sequences whose window still grows, by DP engine (one list but on an EP replica) and residue
        self.cnt_lo = [[0] * cfg.block_size for _ in range(spec.iteration.ep)]
        self.n_lo = [0] * spec.iteration.ep
        self.lo_heap: list = []  # (last decode step whose new block still grows the window, rid, version, req)
        if self.local and spec.unit_bytes is not None:
            self.swap_s_per_block = cfg.block_size * spec.unit_bytes / cfg.swap_bw
        # a prompt prefix every request shares (prefix caching): its whole blocks, ``H`` tokens, are
        # held once per engine — taken over from the first request whose prefill passes them
        # (``_share``) and kept from then on (a steady stream of requests keeps them in use; vLLM
        # could evict them while no running request uses them: not modelled) — and every later
        # request starts its prefill after them (``_hit``). One block of them costs ``gu`` units:
        # the whole-context layers' (local layers keep their window per sequence, the prefix's
        # part included). A request's ``blocks`` count only its own units.
        self.H = spec.shared_prefix // self.bs * self.bs if cfg.prefix_caching else 0
        self.gu = self.g if self.local else 1
        self.prefix_ready = [False] * spec.iteration.ep  # each DP engine's prefix cache its own
        self.running: dict[int, Req] = {}  # admission order, every phase
        # an expert-parallel replica's DP engines (vllm/v1/engine/core.py ``DPEngineCoreProc``): each has its own
        # requests, token budget, KV pool and seats and they step together. Each request is tagged with its engine
        # (``Req.rank``, routed by :meth:`submit`) and waits in that engine's own FCFS queue (``queues``; one on a TP
        # replica); ``Req.seq`` orders the queues' requests as one queue of the replica would (a new request at its
        # back, a preempted one at its front), so the engines admit in that order (:meth:`_prefills`) without
        # scanning past the requests of engines that admit nothing more (serve51: that scan was ~10% of an EP16
        # plan's simulation CPU). Counted per engine: running (the load balancer reads it with the queue's length;
        # against its ``max_num_seqs``) and decoding (its budget's share, its blocks); 1 elsewhere
        self.queues: list[deque[Req]] = [deque() for _ in range(self.ep)]
        self.queued = 0  # requests waiting, all engines
        self.back = self.front = 0  # the last ``Req.seq`` given at the back (counting up) and front (down)
        self.rank_run, self.rank_dec = [0] * self.ep, [0] * self.ep
        # prefill-first on an EP replica (SGLang's DP attention): each DP engine alternates on its own, so a step
        # can hold some engines' prefill batches beside the others' decodes; the engines that prefill pause their
        # decodes (``paused``: this step's), which then resume one step later. Each engine's decoding requests
        # (``rank_seqs``) and its part of ``S0`` (``rank_S0``) let the step read the decoding engines' contexts
        # alone and move the paused ones' requests (sglsim53; one shared pause of every engine before)
        self.paused: tuple = ()
        self.rank_S0 = [0] * self.ep
        self.rank_seqs: list[dict[int, Req]] = [{} for _ in range(self.ep)]
        # the front end's view of the DP engines' [waiting, running] (vLLM ``DPLBAsyncMPClient.lb_engines``): zeros
        # until the coordinator's first publication at ``lb_refresh_s``, then replaced by each (``_lb_publish``); its
        # own sends add to the waiting count in between. ``lb_next``: when the next publication falls (never on a TP
        # replica, or with exact counts)
        self.lb_view = [[0, 0] for _ in range(self.ep)]
        self.lb_next = cfg.lb_refresh_s if self.ep > 1 and cfg.lb_refresh_s > 0 else math.inf
        self.prefilling: dict[int, Req] = {}  # admitted, prompt not all computed
        self.n_dec, self.S0, self.j, self.alloc_j = 0, 0, 0, -1
        self.cnt = [[0] * self.bs for _ in range(self.ep)]  # decoding sequences by DP engine and residue
        # ... and by residue over all engines (the one engine's list on a TP replica): a step or span whose new blocks
        # over all engines fit the smallest free pool fits each engine's, checked without a pass over the engines
        self.cnt_all = self.cnt[0] if self.ep == 1 else [0] * self.bs
        self.heap: list = []  # (decode index of the last token, seq, rid, version)
        self.on_prefilled = on_prefilled  # disaggregated prefill engine: hand the request on
        self.done_ev = done  # (the run's request count is the Stats': ``Stats.total``, lowered by the event bound)
        self.wake = env.event()
        self.outstanding = 0
        self.span = None  # the fast-forwarded decode steps in flight (_run_span)
        self.lookahead = SPAN_STEPS  # steps an interruptible span computes ahead (halved when cut short)
        env.process(self.run())

    # -- arrivals ------------------------------------------------------------------------------
    def submit(self, r: Req):
        if self.ep > 1:
            if self.env.now >= self.lb_next:
                self._lb_publish()
            r.rank = self._dp_engine()
        self.back += 1
        r.seq = self.back
        self.queues[r.rank].append(r)
        self.queued += 1
        self.outstanding += 1
        if not self.wake.triggered:
            self.wake.succeed()

    def _dp_engine(self) -> int:
        """The DP engine vLLM's front end sends a request to: the least ``waiting x 4 + running``, the first such
        from engine 0, over its view of the counts (``lb_view``), to whose waiting count it then adds the request
        (vllm/v1/engine/core_client.py ``DPLBAsyncMPClient.get_core_engine_for_request``, vLLM 0.9-0.11, one API
        server: ``current_counts[eng_index][0] += self.client_count``, "for better balancing between stats updates
        from the coordinator (which happen every 100ms)"). So a burst between two publications spreads over the
        engines as the counts it adds say, while a request that an engine admitted or finished since still counts as
        it was published: the last publication's waiting x 4 + running plus 4 a send since. With ``lb_refresh_s`` 0
        the counts are the engines' own at each arrival (serveep50 to serve51)."""
        if not self.cfg.lb_refresh_s:
            score = [4 * len(q) + b for q, b in zip(self.queues, self.rank_run)]
            return score.index(min(score))
        view = self.lb_view
        score = [4 * w + b for w, b in view]
        k = score.index(min(score))
        view[k][0] += 1
        return k

    def _lb_publish(self):
        """The DP coordinator's publication (vllm/v1/engine/coordinator.py ``CoordinatorProc``: each engine's
        ``num_waiting_reqs`` / ``num_running_reqs``, sent to the front ends every ``min_stats_update_interval_ms``
        = 100 ms while they change), at the boundary ``lb_next`` that has passed: the view becomes the engines'
        counts there, its sends since dropped (the front end replaces ``lb_engines`` whole). The counts change only
        where this engine's process runs (a step's end, an admission, a finish, a preemption) or a request arrives,
        and each of those calls this first once a boundary has passed, so the counts read are those at the boundary
        (a change at the very instant of a boundary counts after it)."""
        self.lb_view = [[len(q), b] for q, b in zip(self.queues, self.rank_run)]
        p = self.cfg.lb_refresh_s
        self.lb_next = (math.floor(self.env.now / p) + 1) * p

    def _admit(self, r: Req):
        """``r`` runs (the caller took it from its engine's queue)."""
        self.running[r.rid] = r
        self.queued -= 1
        self.rank_run[r.rank] += 1

    # -- decode aggregates -----------------------------------------------------------------------
    def _enter_decode(self, r: Req, j: Optional[int] = None):
        """``r`` decodes from step ``j`` on (default: the current step ``self.j``, for a request entering
        before it runs; a prefill that finished in a step that also decoded enters at the next one, or
        that step counted as its first decode: it finished a step early and gave back a block it never
        took, -2 blocks in use once idle over 40 Poisson requests)."""
        j = self.j if j is None else j
        r.s0, r.j0 = r.computed, j
        r.key = (j - r.computed) % self.bs
        r.ver += 1
        self.n_dec += 1
        self.rank_dec[r.rank] += 1
        self.S0 += r.computed - j
        self.rank_S0[r.rank] += r.computed - j
        self.rank_seqs[r.rank][r.rid] = r
        self.cnt[r.rank][r.key] += 1
        if self.ep > 1:
            self.cnt_all[r.key] += 1
        heapq.heappush(self.heap, (j + r.output - r.generated - 1, r.rid, r.ver, r))
        if self.local:
            keep = self.cost.held(r.computed, self.bs) - self._sh(r)  # a prefill's chunk slots past the window go back
            if r.blocks > keep:
                self.kvs[r.rank].give(r.blocks - keep)
            r.blocks = keep
            # the new block at step j is block (s0 + j - j0) // bs + 1: it grows the window up to block wb
            last = j - r.computed + (self.wb - 1) * self.bs
            r.lo = last >= j
            if r.lo:
                self.cnt_lo[r.rank][r.key] += 1
                self.n_lo[r.rank] += 1
                heapq.heappush(self.lo_heap, (last, r.rid, r.ver, r))

    def _hit(self, r: Req) -> int:
        """Tokens of ``r``'s prompt the shared prefix blocks serve once they are cached: the prefix's
        whole blocks before its prompt's last token (vLLM recomputes at least the last one)."""
        return min(self.H, (r.prompt - 1) // self.bs * self.bs) if self.prefix_ready[r.rank] else 0

    def _start(self, r: Req) -> tuple[int, int]:
        """(computed, shared tokens) a waiting request starts its prefill from: after the shared prefix
        when it is cached (a request that never ran, or one preempted by recompute)."""
        if r.computed:
            return r.computed, r.shared
        sh = self._hit(r)
        return sh, sh

    def _sh(self, r: Req) -> int:
        """Units of the shared prefix blocks ``r`` uses (held by the engine, not by ``r``)."""
        return self.gu * (r.shared // self.bs)

    def _share(self, r: Req):
        """``r``'s prefill passed the whole shared prefix: its first ``H`` tokens' blocks become the
        engine's shared prefix blocks (vLLM: its full blocks are hashed, later requests hit them)."""
        if (not self.prefix_ready[r.rank] and not r.shared and r.computed >= self.H
                and min(self.H, (r.prompt - 1) // self.bs * self.bs) == self.H):
            r.shared = self.H
            r.blocks -= self._sh(r)
            self.prefix_ready[r.rank] = True

    def _leave_decode(self, r: Req, steps_done: int) -> int:
        """Remove a decoding sequence after ``steps_done`` of its decode steps; its stored tokens."""
        self.n_dec -= 1
        self.rank_dec[r.rank] -= 1
        self.S0 -= r.s0 - r.j0
        self.rank_S0[r.rank] -= r.s0 - r.j0
        del self.rank_seqs[r.rank][r.rid]
        self.cnt[r.rank][r.key] -= 1
        if self.ep > 1:
            self.cnt_all[r.key] -= 1
        if r.lo:
            self.cnt_lo[r.rank][r.key] -= 1
            self.n_lo[r.rank] -= 1
            r.lo = False
        r.ver += 1
        r.generated += steps_done
        r.computed = r.s0 + steps_done
        return r.computed

    # -- preemption ------------------------------------------------------------------------------
    def _preempt_newest(self, k: int = 0) -> tuple[Req, float]:
        """Preempt the most recently admitted running request of DP engine ``k`` (vLLM V1 ``self.running.pop()``,
        each engine's scheduler its own list); returns it and the swap-out seconds it costs this iteration."""
        if self.ep == 1:
            rid = next(reversed(self.running))
        else:  # the engines' requests interleave in admission order: its newest is among the last few
            rid = next(q for q, x in reversed(self.running.items()) if x.rank == k)
        r = self.running.pop(rid)
        self.rank_run[r.rank] -= 1
        if rid in self.prefilling:
            del self.prefilling[rid]
            blocks = r.blocks
        else:
            stored = self._leave_decode(r, self.j - r.j0)
            taken = self.alloc_j == self.j and r.key == self.j % self.bs
            if self.local:
                blocks = self.cost.held(stored + taken, self.bs) - self._sh(r)
            else:
                blocks = _ceil_div(stored, self.bs) - self._sh(r)
                if taken:
                    blocks += 1  # the block taken for this step's token, before it was preempted
        r.preempted += 1
        cost = 0.0
        kv = self.kvs[r.rank]
        if self.cfg.preemption == "swap":
            kv.give(blocks)
            r.swapped, r.blocks = True, blocks
            cost = blocks * self.swap_s_per_block
        else:  # recompute: prompt and the tokens generated so far are prefilled again
            # hashed (full) blocks
            full = (min((self.cost.held(r.computed // self.bs * self.bs, self.bs) if self.local else r.computed // self.bs)
                        - self._sh(r), blocks) if self.cfg.prefix_caching else 0)
            kv.give(full, owner=r.rid)
            kv.give(blocks - full)
            r.target, r.computed, r.blocks = r.prompt + r.generated, 0, 0
        self.front -= 1
        r.seq = self.front
        self.queues[r.rank].appendleft(r)
        self.queued += 1
        self.stats.preempt(self.env.now, self.name, r.rid, self.cfg.preemption)
        return r, cost

    # -- one iteration ---------------------------------------------------------------------------
    def _schedule(self):
        """Build the next batch: (decode?, [(req, chunk tokens)], extra seconds of swap traffic)."""
        B = self.cfg.max_num_batched_tokens
        self.paused = ()
        if self.cfg.policy == "prefill_first":
            if self.prefilling or self._admissible():
                chunks, extra = self._prefills([B] * self.ep)
                if chunks and self.ep == 1:
                    return False, chunks, extra
                if chunks:  # SGLang's DP engines: those with a prefill batch run it, the others decode beside them
                    self.paused = tuple(sorted({r.rank for r, _ in chunks}))
                    extra += self._alloc_decode(skip=self.paused)
                    return any(self.rank_dec[k] for k in range(self.ep) if k not in self.paused), chunks, extra
            else:
                extra = 0.0
            extra += self._alloc_decode()
            return self.n_dec > 0, [], extra
        extra = self._alloc_decode()  # chunked: running decodes first, one token each (of their DP engine's budget)
        chunks, x = self._prefills([B - d for d in self.rank_dec])
        return self.n_dec > 0, chunks, extra + x

    def _alloc_decode(self, skip: tuple = ()) -> float:
        """Blocks for this decode step's new tokens, each DP engine preempting its newest requests until they fit
        its own pool (but the engines in ``skip``: they prefill this step, their decodes paused)."""
        extra = 0.0
        if self.local:
            self._advance_lo(self.j)
        if self.ep == 1:
            kv = self.kvs[0]
            need = self._decode_need(0)
            while need > kv.free:
                extra += self._preempt_newest(0)[1]
                need = self._decode_need(0)
            kv.take(need)
        elif self.local or self.cnt_all[self.j % self.bs]:  # else no engine's sequence takes a block this step
            i = self.j % self.bs
            for k, kv in enumerate(self.kvs):
                if k in skip:
                    continue
                need = self._decode_need(k) if self.local else self.cnt[k][i]
                while need > kv.free:
                    extra += self._preempt_newest(k)[1]
                    need = self._decode_need(k)
                if need:
                    kv.take(need)
        self.alloc_j = self.j
        return extra

    def _decode_need(self, k: int) -> int:
        """Units this decode step's new tokens take in DP engine ``k``'s pool: one block per sequence crossing a
        block boundary (g units each, l more for those whose window still grows)."""
        if not self.rank_dec[k]:
            return 0
        i = self.j % self.bs
        if self.local:
            return self.g * self.cnt[k][i] + self.l * self.cnt_lo[k][i]
        return self.cnt[k][i]

    def _advance_lo(self, j: int):
        """Sequences whose window stopped growing before step ``j``: their new blocks now cost g."""
        h = self.lo_heap
        while h and h[0][0] < j:
            _, _, ver, r = heapq.heappop(h)
            if ver == r.ver and r.lo:
                r.lo = False
                self.cnt_lo[r.rank][r.key] -= 1
                self.n_lo[r.rank] -= 1

    def _need(self, computed: int, c: int, shared: int = 0) -> int:
        """Units a request holds while ``c`` tokens after ``computed`` are prefilled (less the shared
        prefix blocks of its first ``shared`` tokens: the engine holds them)."""
        n = self.cost.during(computed, c, self.bs) if self.local else _ceil_div(computed + c, self.bs)
        return n - self.gu * (shared // self.bs) if shared else n

    def _prefills(self, budget: list):
        """Prompt chunks for this step: running partial prefills, then waiting requests (FCFS), each within its DP
        engine's ``budget`` (one engine but on an expert-parallel replica). Each engine stops admitting at the first
        of its waiting requests that does not fit (its own FCFS queue, vllm/v1/core/sched/scheduler.py); the others'
        requests behind it still go. Each engine admits into its own KV pool and up to its own ``max_num_seqs``
        and preempts its own newest request (servekv50)."""
        kvs, extra, chunks = self.kvs, 0.0, []
        for r in list(self.prefilling.values()):
            left = budget[r.rank]
            if left <= 0 or r.rid not in self.prefilling:
                continue
            c = min(r.target - r.computed, left)
            need = max(0, self._need(r.computed, c, r.shared) - r.blocks)  # prefill_first took them all
            kv = kvs[r.rank]
            while need > kv.free and r.rid in self.running:
                extra += self._preempt_newest(r.rank)[1]
            if r.rid not in self.running:
                continue  # it was its engine's newest: preempted itself
            kv.take(need)
            r.blocks += need
            chunks.append((r, c))
            budget[r.rank] = left - c
        queues, run, seats = self.queues, self.rank_run, self.cfg.max_num_seqs
        # the engines that may admit this step (budget left, a request waiting, a seat free): each admits from its
        # queue's head until one does not fit, the earliest-queued head of them first (``Req.seq``), so in the order
        # a scan of one queue of the replica would admit them
        live = [k for k, (b, q, n) in enumerate(zip(budget, queues, run)) if b > 0 and q and n < seats] \
            if self.queued else []
        while live:
            k = live[0] if len(live) == 1 else min(live, key=lambda q: queues[q][0].seq)
            queue, kv = queues[k], kvs[k]
            r = queue[0]
            if r.swapped:  # swap the preempted blocks back in and resume where it stopped
                if r.blocks > kv.free - self.watermark:
                    live.remove(k)
                    continue
                queue.popleft()
                kv.take(r.blocks)
                extra += r.blocks * self.swap_s_per_block
                r.swapped = False
                self._admit(r)
                if r.computed < r.target:
                    self.prefilling[r.rid] = r
                else:
                    self._enter_decode(r)
            elif r.preempted and r.computed == 0 and self.cfg.prefix_caching and r.rid in kv.cached:
                queue.popleft()
                self._resume_cached(r)
            else:
                comp, sh = self._start(r)
                c = min(r.target - comp, budget[k])
                # chunked (V1 allocate_slots): blocks for this chunk; prefill_first (V0 can_allocate,
                # SGLang's admission): blocks for the whole prompt, so a half-prefilled request never waits
                need = self._need(comp, c if self.cfg.policy == "chunked" else r.target - comp, sh)
                if need > kv.free - self.watermark:
                    live.remove(k)
                    continue
                queue.popleft()
                r.computed, r.shared = comp, sh
                kv.take(need)
                r.blocks = need
                self._admit(r)
                if c == 0:  # prefilled elsewhere (disaggregated decode engine)
                    self._enter_decode(r)
                else:
                    self.prefilling[r.rid] = r
                    chunks.append((r, c))
                    budget[k] -= c
            if budget[k] <= 0 or not queue or run[k] >= seats:
                live.remove(k)
        return chunks, extra

    def _resume_cached(self, r: Req):
        """Re-admit a recompute-preempted request (the caller took it from the queue) onto the blocks it left that
        are still cached: its prefill restarts after them (at least its last token is recomputed, as in vLLM)."""
        k = self.kvs[r.rank].reuse(r.rid)
        r.blocks = k
        k += self._sh(r)  # the shared prefix blocks it used are still held: its cached blocks follow them
        r.computed = min(self.cost.tokens_for(k, self.bs) if self.local else k * self.bs, r.target - 1)
        self._admit(r)
        self.prefilling[r.rid] = r

    def _admissible(self) -> bool:
        """prefill_first: the queue's head can be admitted now (its DP engine's seats and pool). On an EP replica
        any DP engine's own queue head (SGLang: each DP rank's scheduler forms its own prefill batch,
        scheduler.py ``get_next_batch_to_run``; the replica's FCFS head alone before sglsim53, so an engine with a
        free seat waited while the head's engine was full)."""
        if not self.queued:
            return False
        if self.ep > 1:
            return any(q and self._head_fits(q[0]) for q in self.queues)
        return self._head_fits(self.queues[0][0])

    def _head_fits(self, r: Req) -> bool:
        """A waiting request ``r`` can be admitted now by its DP engine (a seat, its whole prompt's blocks)."""
        if self.rank_run[r.rank] >= self.cfg.max_num_seqs:
            return False
        if r.swapped:
            need = r.blocks
        else:
            comp, sh = self._start(r)
            need = self._need(comp, r.target - comp, sh)  # prefill_first: the whole prompt
        return need <= self.kvs[r.rank].free - self.watermark

    def _head_blocked(self) -> bool:
        """Nothing waiting can be admitted now, nor at any step until the next finish: the batch is
        full (``max_num_seqs`` running), or the head of the queue (FCFS: nothing behind it goes
        first; on an expert-parallel replica the head of each DP engine's) needs more free KV blocks
        than there are. Decode steps only take blocks, so a head that does not fit now does not fit
        later in the span either."""
        seats = self.cfg.max_num_seqs
        if self.ep == 1:
            return len(self.running) >= seats or self._blocked(self.queues[0][0])
        run = self.rank_run  # each engine's queue head (its seats all taken: blocked too)
        return all(run[k] >= seats or self._blocked(q[0]) for k, q in enumerate(self.queues) if q)

    def _blocked(self, r: Req) -> bool:
        """Waiting request ``r``, the head of its DP engine's queue, cannot be admitted (:meth:`_head_blocked`)."""
        kv = self.kvs[r.rank]
        free = kv.free - self.watermark
        if r.swapped:
            return r.blocks > free
        if r.preempted and r.computed == 0 and self.cfg.prefix_caching and r.rid in kv.cached:
            return False  # resumes onto its cached blocks at once
        comp, sh = self._start(r)
        if self.cfg.policy == "chunked":
            budget = self.cfg.max_num_batched_tokens - self.rank_dec[r.rank]
            if budget <= 0:
                return True
            c = min(r.target - comp, budget)  # 0: prefilled elsewhere, admitted to decode
            return self._need(comp, c, sh) > free
        return self._need(comp, r.target - comp, sh) > free  # prefill_first admits the whole prompt

    def _decode_span(self) -> tuple[int, int, bool]:
        """(k, blocks, interruptible): k decode steps from step ``j`` that can run as ONE event
        (0: none), the KV blocks their new tokens take, and whether an arrival can end the span
        early. Possible when nothing is prefilling and the free KV blocks cover every new block
        the span takes (so no preemption), and either nothing waiting can be admitted
        (:meth:`_head_blocked`: arrivals only join the queue behind it) or nothing waits at all
        (then the span is *interruptible*: a request submitted during step i is admitted after
        step i, as the step-by-step loop admits it, :meth:`_run_span`). Nothing the scheduler
        reads changes until the first finish (the heap's head; a stale head only ends the span
        early), so steps j .. that finish are the same iterations the step-by-step loop would
        run, with the same times. At batch 1 a request costs one event per prefill chunk plus
        one for its decode span instead of one per output token; a batch that is not full costs
        one event per arrival and finish, not one per step. A span that would cross
        MAX_ITERATIONS runs step by step, so the limit trips where it did."""
        if not self.cfg.fast_forward or self.prefilling or not self.n_dec or not self.heap:
            return 0, 0, False
        interruptible = not self.queued and min(self.rank_run) < self.cfg.max_num_seqs
        if not interruptible and not self._head_blocked():
            return 0, 0, False
        k = self.heap[0][0] - self.j + 1
        if interruptible:  # an arrival may end it after a few steps: look ahead as far as the last ones ran
            k = min(k, self.lookahead)
        if self.local:  # a window that stops growing changes the blocks' cost: the span ends there
            self._advance_lo(self.j)
            if self.lo_heap:
                k = min(k, self.lo_heap[0][0] - self.j + 1)
        if k <= 1 or self.stats.iterations + k > MAX_ITERATIONS:
            return 0, 0, False
        if self.ep == 1:
            need = self._span_blocks(k, 0)
            return (k, [need], interruptible) if need <= self.kvs[0].free else (0, 0, False)
        # an EP replica: all engines' blocks within the smallest free pool fit each (its blocks counted when the span
        # ends, None); else engine by engine
        if not self.local and self._span_total(k) <= min(kv.free for kv in self.kvs):
            return k, None, interruptible
        need = [self._span_blocks(k, q) for q in range(self.ep)]
        ok = all(n <= kv.free for n, kv in zip(need, self.kvs))
        return (k, need, interruptible) if ok else (0, 0, False)

    def _span_total(self, i: int) -> int:
        """The KV blocks (units) the first ``i`` decode steps from step ``j`` take over all engines."""
        if self.ep == 1:
            return self._span_blocks(i, 0)
        if self.local:
            return sum(self._span_blocks(i, q) for q in range(self.ep))
        cycles, rest = divmod(i, self.bs)
        return cycles * self.n_dec + _residue_sum(self.cnt_all, self.j, rest)

    def _span_blocks(self, i: int, k: int) -> int:
        """KV blocks (units) the first ``i`` decode steps from step ``j`` take from DP engine ``k``'s pool: a new
        block for each of its sequences whose residue comes up (cnt[k] repeats every block_size steps; its sum is
        rank_dec[k]), with local layers g units each plus l while its window grows. Nothing changes cnt during a
        span."""
        cycles, rest = divmod(i, self.bs)
        need = cycles * self.rank_dec[k] + _residue_sum(self.cnt[k], self.j, rest)
        if self.local:
            need = self.g * need + self.l * (cycles * self.n_lo[k] + _residue_sum(self.cnt_lo[k], self.j, rest))
        return need

    def _run_span(self, k: int, blocks: Optional[list], interruptible: bool = False):
        """Run ``k`` decode steps (:meth:`_decode_span`) as one timeout, vectorised: each step's
        time is :meth:`IterationModel.time` at that step's context (one call), and the clock is
        their running sum in step order (added one by one, as the step-by-step loop advances
        ``env.now``). ``span`` keeps each step's start and time, and the starts of the
        steps that take KV blocks with the blocks taken by then: the span's blocks are taken
        when it ends (nothing else touches this engine's cache meanwhile), and the monitor
        (:func:`_occupancy`) and a run stopping mid-span (:meth:`stop`) see what the loop would.
        An interruptible span also ends on :meth:`submit`: the step running at that moment
        completes (the loop would admit the request after it) and the rest are un-counted."""
        env, stats, j, n = self.env, self.stats, self.j, self.n_dec
        stats.iterations += k
        now = env.now
        # step i's context is S0 + n (j + 1 + i) (exact integers, < 2^53). Most spans are a few steps (an arrival
        # cuts them): those call the roofline on plain floats step by step (planner.model.ew), longer ones once
        # on an array; the same formula and operations, so the same times either way
        dts = None
        if k <= SCALAR_SPAN:
            step, S0, p2p = self.im.time, self.S0, self.p2p
            steps = [step(n, float(S0 + n * i)) + p2p if p2p else step(n, float(S0 + n * i))
                     for i in range(j + 1, j + k + 1)]
        else:
            c0 = self.S0 + n * (j + 1)  # the contexts as one arange (3 numpy calls before: the same exact integers)
            dts = self.im.time(n, np.arange(c0, c0 + n * k, n, dtype=np.float64))
            if self.p2p:
                dts = dts + self.p2p
            steps = dts.tolist()
        # the running sums in plain floats, in step order (as the step-by-step loop advances ``env.now``)
        clock = list(accumulate(steps, initial=now))
        starts = clock[:-1]
        busy = stats.busy_s
        for dt in steps:
            busy += dt
        stats.busy_s = busy
        # the blocks its steps take are counted when asked (_span_blocks: the monitor, the end), not listed per step
        self.span = (starts, steps)
        stats.engine_events += 1
        done = k
        if interruptible:
            # resume on whichever comes first, the span's end or a submit (``wake``): what ``end | wake`` (a
            # simpy Condition) did, in the same event order (one more event after either), without its machinery
            self.wake = wake = env.event()
            end_ev = env.timeout(clock[-1] - now)
            resume = env.event()

            def fire(_ev, resume=resume):
                if not resume.triggered:
                    resume.succeed()
            end_ev.callbacks.append(fire)
            wake.callbacks.append(fire)
            yield resume
            cut = not end_ev.processed
            if cut:  # a request arrived during step i: finish that step only
                i = bisect.bisect_right(starts, env.now) - 1
                done = i + 1
                self.lookahead = max(8, self.lookahead // 2)
            else:
                self.lookahead = min(SPAN_STEPS, self.lookahead * 2)
            if done < k:
                stats.iterations -= k - done
                # numpy's pairwise sum, as over the array before (np.sum's reduction, on the span's array where it has
                # one: converting the list back was ~4% of a plan's simulation, srvspeed44)
                stats.busy_s -= float(np.add.reduce(steps[done:] if dts is None else dts[done:]))
                self.span = (starts[:done], steps[:done])
            rest = clock[done] - env.now
            if cut and rest > 0:  # the rest of the step the arrival landed in
                yield env.timeout(rest)
        else:
            yield env.timeout(clock[-1] - now)
        if env.now >= self.lb_next:  # a DP coordinator's publication fell in the span: before its finishes
            self._lb_publish()
        if self.ep == 1:
            self.kvs[0].take(blocks[0] if done == k else self._span_blocks(done, 0))
        elif blocks is not None and done == k:
            for n, kv in zip(blocks, self.kvs):
                if n:
                    kv.take(n)
        elif self.local or self._span_total(done):  # else the steps run took no block in any engine
            cnt, dec, (cycles, rest), j = self.cnt, self.rank_dec, divmod(done, self.bs), self.j
            for q, kv in enumerate(self.kvs):
                if dec[q]:
                    n = self._span_blocks(done, q) if self.local else cycles * dec[q] + _residue_sum(cnt[q], j, rest)
                    if n:
                        kv.take(n)
        self.span = None
        self.alloc_j = j + done - 1
        self.j = j + done - 1
        self._finish_decodes(env.now)

    def stop(self, t: float):
        """The run stopped at ``t`` inside a span: un-count the span's steps that start at or after
        ``t`` (the step-by-step loop would not have begun them; the one running at ``t`` counts,
        as there)."""
        if self.span is None:
            return
        starts, dts = self.span
        i = bisect.bisect_left(starts, t)
        self.stats.iterations -= len(starts) - i
        self.stats.busy_s -= float(np.sum(dts[i:]))

    def _finish_decodes(self, now: float):
        """After decode step ``j``: the sequences whose last token it was finish; then j + 1."""
        j = self.j
        heap = self.heap
        while heap and heap[0][0] <= j:
            _, _, ver, r = heapq.heappop(heap)
            if ver != r.ver:
                continue  # stale: preempted since
            stored = self._leave_decode(r, j - r.j0 + 1)
            self._finish(r, stored, now)
        self.j = j + 1

    def run(self):
        env, stats = self.env, self.stats
        while True:
            if env.now >= self.lb_next:  # a DP coordinator's publication fell since: before this step's admissions
                self._lb_publish()
            if stats.engine_events > stats.stop_events:  # the drain after the event bound ran out: stop the run
                stats.stopped_at = env.now
                self._decided(stopped=False)
                return
            k, blocks, interruptible = self._decode_span()
            if k:
                yield from self._run_span(k, blocks, interruptible)
                continue
            decode, chunks, extra = self._schedule()
            if not decode and not chunks:
                if extra:  # only swap traffic happened
                    yield env.timeout(extra)
                    continue
                self.wake = env.event()
                yield self.wake
                continue
            n_dec = self.n_dec if decode else 0
            dec_ctx = (self.S0 + self.n_dec * self.j + self.n_dec) if decode else 0
            if decode and self.paused:  # the prefilling engines' decodes sit this step out
                for k in self.paused:
                    n_dec -= self.rank_dec[k]
                    dec_ctx -= self.rank_S0[k] + self.rank_dec[k] * (self.j + 1)
            p_tok = p_ctx = p_prior = 0
            for r, c in chunks:
                p_tok += c
                p_ctx += self.im.prefill_pairs(r.computed, c)  # the model's one count (FlashAttention's causal mask)
                p_prior += r.computed  # cached tokens the chunk attends to (MLA re-projects them)
            # local layers: their causal pairs inside the window (IterationModel.local_pairs)
            p_loc = (float(sum(self.im.local_pairs(r.computed, c) for r, c in chunks)) if chunks else 0.0) \
                if self.windowed else None
            # an expert-parallel replica: the busiest DP engine's prompt tokens (``_busiest`` takes them whole: at
            # least the step's over ep, so one such chunk a rank)
            p_chunk = self._busiest_prompts(chunks) if chunks and self.ep > 1 else None
            dt = float(self.im.time(n_dec, dec_ctx, p_tok, p_ctx, p_loc, p_prior, p_chunk)) + self.p2p + extra
            stats.iterations += 1
            if stats.iterations > MAX_ITERATIONS:  # stop every process; simulate_serving raises
                stats.aborted = True
                if not self.done_ev.triggered:
                    self.done_ev.succeed()
                return
            stats.busy_s += dt
            stats.engine_events += 1
            yield env.timeout(dt)
            now = env.now
            if now >= self.lb_next:  # ... in this step: before its finishes
                self._lb_publish()
            if decode and self.paused:
                self._pause(self.paused)
            for r, c in chunks:  # prefills that finish emit a token
                r.computed += c
                if self.H and not self.prefix_ready[r.rank] and r.rid in self.prefilling:
                    self._share(r)
                if self.local and r.rid in self.prefilling:  # the chunk's slots past the window go back
                    keep = self.cost.held(r.computed, self.bs) - self._sh(r)
                    if r.blocks > keep:
                        self.kvs[r.rank].give(r.blocks - keep)
                        r.blocks = keep
                if r.computed < r.target or r.rid not in self.prefilling:
                    continue
                del self.prefilling[r.rid]
                r.generated += 1
                # a disaggregated prefill engine's first token reaches the client once the KV has moved (``hand_over``:
                # vLLM's disaggregated proxy streams from the decode instance): recorded there, not here (pd51)
                if r.first == math.inf and (self.on_prefilled is None or r.generated >= r.output):
                    r.first = now
                    if stats.first_token(r.rid, now):
                        self._decided()
                if r.generated >= r.output:
                    self._finish(r, r.computed, now)
                elif self.on_prefilled is not None:
                    del self.running[r.rid]
                    self.rank_run[r.rank] -= 1
                    self.kvs[r.rank].give(r.blocks)
                    self.outstanding -= 1
                    self.on_prefilled(r)
                else:
                    self._enter_decode(r, self.j + 1 if decode else self.j)
            if decode:
                self._finish_decodes(now)

    def _pause(self, ranks: tuple):
        """The decoding requests of the DP engines ``ranks`` sat decode step ``j`` out (their engine ran a prefill
        batch): each leaves with the steps it ran before ``j`` and re-enters at ``j + 1`` with the same stored tokens,
        so its context, its next new block (no block was taken for it at ``j``) and its last step move one step on.
        O(those requests) a step; their old heap entries go stale."""
        j = self.j
        for k in ranks:
            for r in list(self.rank_seqs[k].values()):
                self._leave_decode(r, j - r.j0)
                self._enter_decode(r, j + 1)

    def _busiest_prompts(self, chunks) -> int:
        """The most prompt tokens one DP engine runs in this step (its chunks' sum)."""
        own = [0] * self.ep
        for r, c in chunks:
            own[r.rank] += c
        return max(own)

    def _decided(self, stopped: bool = True):
        """A watched p99 is decided (MissWatch): end the run here (``stopped=False``: the event bound's drain
        ran out, ``simulate_serving(max_events=...)``)."""
        self.stats.decided = self.stats.decided or stopped
        if not self.done_ev.triggered:
            self.done_ev.succeed()

    def _finish(self, r: Req, stored: int, now: float):
        del self.running[r.rid]
        self.rank_run[r.rank] -= 1
        self.prefilling.pop(r.rid, None)
        self.kvs[r.rank].give((self.cost.held(stored, self.bs) if self.local else _ceil_div(stored, self.bs)) - self._sh(r))
        r.finish = now
        self.outstanding -= 1
        st = self.stats
        if st.finished(r.rid, now):
            self._decided()
        st.done += 1
        if st.clients is not None:
            st.clients.put(1)
        if st.done == st.total and not self.done_ev.triggered:
            self.done_ev.succeed()


class LoadBalancer:
    """Routes a request to one of ``engines`` by a policy from :data:`ROUTING`.

    >>> class E:  # anything with an ``outstanding`` count and ``submit``
    ...     def __init__(self): self.outstanding, self.got = 0, []
    ...     def submit(self, r): self.got.append(r); self.outstanding += 1
    >>> es = [E(), E()]; lb = LoadBalancer(es, "least_outstanding")
    >>> for i in range(3): lb.route(i)
    >>> es[0].got, es[1].got
    ([0, 2], [1])
    """

    def __init__(self, engines: list, policy: str, seed: int = 0):
        self.engines, self.pick = engines, ROUTING[policy]
        self.rng = np.random.default_rng(seed)
        self.i = 0

    def route(self, r):
        e = self.engines[self.pick(self)]
        e.submit(r)


ROUTING: dict[str, Callable] = {
    # fewest requests queued + running (vLLM production stack / most LLM gateways' default)
    # (the first engine with the fewest, as min() picks; one list instead of a key call per engine: the
    # routing ran once per request over every engine, ~5% of a 28-replica run)
    "least_outstanding": lambda lb: _least(lb),
    "round_robin": lambda lb: _rr(lb),
    "random": lambda lb: int(lb.rng.integers(len(lb.engines))),
}


def _least(lb: LoadBalancer) -> int:
    outs = [e.outstanding for e in lb.engines]
    return outs.index(min(outs))


def _rr(lb: LoadBalancer) -> int:
    k = lb.i % len(lb.engines)
    lb.i += 1
    return k


def _arrivals(env, wl: Workload, reqs: list, lb: LoadBalancer, stats: Stats, done: simpy.Event):
    """Release each request at its arrival time; with ``stats.clients`` (a closed loop of C clients,
    ``vllm bench serve --max-concurrency C``), also wait until one of them is free — a client is
    taken here and given back when its request finishes. Once the engines have run ``stats.max_events``
    events, release no more: the run waits for the released ones only (``EVENT_BOUND``)."""
    t, sent, clients = wl.arrival_s.tolist(), stats.sent, stats.clients  # plain floats: the same values
    for i in range(len(wl)):
        gap = t[i] - env.now
        if gap > 0:
            yield env.timeout(gap)
        if clients is not None:
            yield clients.get(1)
        if stats.engine_events >= stats.max_events:
            stats.cut_at, stats.total = env.now, i
            if stats.done >= i and not done.triggered:
                done.succeed()
            return
        sent[i] = env.now  # latency counts from here (vllm bench starts its timer inside the client)
        stats.released = i + 1
        lb.route(reqs[i])


def _occupancy(engines: list, t: float) -> tuple[int, int, int]:
    """(waiting, running, free KV blocks) of all engines at ``t`` in one pass, as the step-by-step
    loop has them: a fast-forwarded span (Engine._run_span) takes its blocks when it ends; take off
    those of its steps that start at or before ``t``. (Inline, not methods: the monitor runs it for
    every engine at every sample.)"""
    waiting = running = free = 0
    right = bisect.bisect_right
    for e in engines:
        waiting += e.queued
        running += len(e.running)
        for kv in e.kvs:
            free += kv.free
        sp = e.span
        if sp is not None:
            i = right(sp[0], t)  # its steps begun by t
            if i:
                free -= e._span_total(i)
    return waiting, running, free


def _monitor(env, engines: list, every: float, out: dict):
    """Sample queue length, running sequences, KV occupancy and preemptions every ``every`` s;
    at MAX_SAMPLES samples, keep every other one and sample half as often (bounded memory for a
    run of any length)."""
    stats = engines[0].stats
    total = sum(kv.total for e in engines for kv in e.kvs)
    while True:
        if len(out["t"]) >= MAX_SAMPLES:
            for v in out.values():
                del v[1::2]
            every *= 2
        waiting, running, free = _occupancy(engines, env.now)
        out["t"].append(env.now)
        out["waiting"].append(waiting)
        out["running"].append(running)
        out["kv_used"].append(1.0 - free / total)
        out["preemptions"].append(stats.preemptions)
        yield env.timeout(every)


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Percentiles:
    """Seconds; ``inf`` where more than that share of requests did not finish."""

    p50: float
    p90: float
    p99: float
    mean: float

    @classmethod
    def of(cls, x: np.ndarray) -> "Percentiles":
        if len(x) == 0:
            return cls(math.nan, math.nan, math.nan, math.nan)
        q = np.quantile(x, [0.5, 0.9, 0.99], method="inverted_cdf")  # no interpolation into inf
        return cls(float(q[0]), float(q[1]), float(q[2]), float(np.mean(x)))

    def ms(self) -> dict:
        return {k: v * 1e3 for k, v in self.__dict__.items()}


#: the finish quantiles ``steady_rate`` measures between: a backlog's first fifth of finishes is its start-up (the
#: first batch's requests all entered together and finish together), its last fifth the drain tail (the batch
#: emptying as the backlog runs out: cap32, benchmarks/capacity_gap.py)
STEADY_SHARE = (0.2, 0.8)


def steady_rate(finish: np.ndarray) -> Optional[float]:
    """Completions per second between the ``STEADY_SHARE`` quantiles of the finish times: (j - i) / (f_j - f_i) over
    the sorted finite finishes f, i and j the quantiles' order statistics: the run's middle, not its whole (a
    backlog's start-up and drain tail out; ``_capacity`` in planner/workloads/serving.py has the measurements). None
    under two distinct finishes.

    >>> steady_rate(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 30.0]))
    1.0
    """
    f = np.sort(finish[np.isfinite(finish)])
    if len(f) < 2:
        return None
    i, j = (int(round(q * (len(f) - 1))) for q in STEADY_SHARE)
    return float((j - i) / (f[j] - f[i])) if f[j] > f[i] else None


@dataclass
class ServingSimResult:
    """What one simulation answers. Latencies in seconds; ``timeline`` is the monitor's samples
    (t, waiting, running, kv_used share, cumulative preemptions); ``preemption_events`` is
    (t, engine, request, mode) for the first MAX_EVENTS preemptions."""

    requests: int  # measured (arrived after warm-up)
    completed: int
    unfinished: int
    window_s: float  # measured arrival window
    ttft: Percentiles
    tpot: Percentiles
    e2e: Percentiles
    throughput_rps: float  # completions of measured requests per second of the run
    output_tokens_per_s: float
    total_tokens_per_s: float
    goodput: Optional[float]  # share of measured requests meeting both SLOs
    goodput_rps: Optional[float]
    kv_used_mean: float
    kv_used_max: float
    queue_mean: float
    queue_max: int
    preemptions: int
    busy_share: float  # GPU busy time / (engines x simulated time)
    iterations: int
    engine_events: int  # SimPy timeouts the engines ran: the simulation's work (<= iterations)
    engines: int
    simulated_s: float
    wall_s: float
    timeline: dict
    preemption_events: list
    #: the run stopped once a p99 was sure to miss ``simulate_serving(miss=...)``: its numbers cover what ran
    stopped_early: bool = False
    #: None for a whole run; where the event bound cut it (``EVENT_BOUND``): ``simulated`` requests released of the
    #: workload's ``offered``, ``measured`` of them after warm-up, the ``event_bound`` and ``at_s`` (simulated time of
    #: the cut); the percentiles are those of the measured ones, the tail estimated from them
    cut: Optional[dict] = None
    #: measured requests with a second output token, the ones a TPOT is measured on (``tpot``); 0 for a workload of
    #: one-token requests (``serving.output_tokens: 1``), whose ``tpot`` keeps its 0s for ``meets``
    tpot_requests: Optional[int] = None
    #: completions per second between the ``STEADY_SHARE`` finish quantiles of the measured requests
    #: (``steady_rate``): a backlog's saturated rate without its start-up and drain tail; None under 2 finishes
    steady_rps: Optional[float] = None

    def summary(self) -> dict:
        """JSON-ready: latency percentiles in ms and the scalar answers (no timeline); TPOT ``null`` where no request
        had a second token (its 0s read "TPOT 0.0 ms" as a measured speed until QA 37b)."""
        out = {k: v for k, v in self.__dict__.items()
               if k not in ("timeline", "preemption_events", "stopped_early", "cut") or (k == "cut" and v)}
        for k in ("ttft", "tpot", "e2e"):
            out[k + "_ms"] = out.pop(k).ms()
        if self.tpot_requests == 0:
            out["tpot_ms"] = dict.fromkeys(out["tpot_ms"])
        return out

    def meets(self, ttft_s: Optional[float], tpot_s: Optional[float], margin: float = 0.0) -> bool:
        """p99 TTFT and p99 TPOT within the targets shrunk by ``margin`` (0.1 = 10% headroom)."""
        ok = self.unfinished == 0 and not self.stopped_early
        if ttft_s is not None:
            ok &= self.ttft.p99 <= ttft_s * (1 - margin)
        if tpot_s is not None:
            ok &= self.tpot.p99 <= tpot_s * (1 - margin)
        return bool(ok)


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


def _check_fits(spec: ReplicaSpec, e: EngineConfig, wl: Workload):
    """Refuse a workload whose longest request needs more KV cache than one engine of ``spec`` holds (a PP virtual
    engine's, a DP engine's share of the replica's blocks)."""
    per_engine_blocks = spec.num_blocks // spec.pp // spec.iteration.ep
    longest = int(np.max(wl.prompt + wl.output))
    cost = spec.blocks
    if not cost.per_block:  # local layers: a prompt chunk holds slots for all its tokens (BlockCost.during)
        chunk = int(np.max(wl.prompt))
        peak = max(cost.held(longest, e.block_size),
                   cost.during(0, min(chunk, e.max_num_batched_tokens) if e.policy == "chunked" else chunk, e.block_size))
        if peak > per_engine_blocks * (1 - e.watermark):
            raise InputError("replica.num_blocks", f"a request of {longest:,} tokens needs more KV cache than one "
                             f"engine holds ({peak:,} of {per_engine_blocks:,} blocks)")
    elif _ceil_div(longest, e.block_size) > per_engine_blocks * (1 - e.watermark):
        raise InputError("replica.num_blocks", f"a request of {longest:,} tokens needs more KV cache than one "
                         f"engine holds ({per_engine_blocks * e.block_size:,} tokens)")


def simulate_serving(cfg: ServingSimConfig, wl: Workload,
                     miss: Optional[tuple[Optional[float], Optional[float]]] = None,
                     max_events: Optional[int] = None, monitor: bool = True) -> ServingSimResult:
    """Run the workload through the service and measure it (see the module docstring).

    ``miss=(ttft_s, tpot_s)``: for a caller that only asks whether the p99s stay within these (a search
    run, ``meets`` with them): the run stops as soon as enough measured requests have missed one that its
    p99 must exceed it whatever the rest do (:class:`MissWatch`), and says ``stopped_early``
    (``meets`` is then False; its numbers cover only what ran). A run that would pass is never stopped:
    it runs, and answers, exactly as without ``miss``.

    ``max_events``: the run's work bound (:data:`EVENT_BOUND`; ``ServingSimResult.cut`` says where it cut); a
    step-by-step run (``EngineConfig.fast_forward=False``, the reference the tests compare spans with) is not bounded.
    ``monitor=False``: no queue / KV samples (the timeline, ``kv_used_*`` and ``queue_*`` read 0): for a caller
    that reads only the percentiles (a plan's search runs); the requests' times are the same, bit for bit."""
    cfg.check()
    n = len(wl)
    if n == 0:
        raise InputError("arrivals", "the workload has no requests")
    _check_size(n, "arrivals")
    spec, e = cfg.replica, cfg.engine
    dspec, de = cfg.decode_replica or spec, cfg.decode_engine or e  # a split's decode replicas (their own layout)
    for sp_, e_ in [(spec, e)] + ([(dspec, de)] if cfg.disaggregate and (dspec is not spec or de is not e) else []):
        _check_fits(sp_, e_, wl)
    t0 = time.perf_counter()
    env = simpy.Environment()
    stats = Stats(n)
    max_events = EVENT_BOUND if max_events is None else int(max_events)
    if not e.fast_forward:  # the step-by-step reference (every iteration an event) the bounded runs are checked
        max_events = 2**62  # against, answer for answer (tests): run whole; a plan never runs it

    stats.max_events, stats.stop_events = max_events, max_events + DRAIN_EVENTS
    done = env.event()
    reqs = [Req(i, float(a), int(p), int(o)) for i, (a, p, o) in  # from lists: numpy's per-item indexing was slower
            enumerate(zip(wl.arrival_s.tolist(), wl.prompt.tolist(), wl.output.tolist()))]

    def engines_for(replicas: int, base=0, spec=spec, e=e):
        return [Engine(env, base + k, spec, e, stats, done) for k in range(replicas * spec.pp)]

    if cfg.disaggregate is None:
        engines = engines_for(cfg.replicas)
        lb = LoadBalancer(engines, cfg.routing, cfg.seed)
    else:
        n_pre, n_dec = cfg.disaggregate
        decoders = engines_for(n_dec, 1000, dspec, de)
        dlb = LoadBalancer(decoders, cfg.routing, cfg.seed + 1)
        # one KV link per prefill replica (its GPUs' NICs/NVLink, each GPU sends its own shard) -- on an
        # expert-parallel replica one per DP rank, whose GPU holds its requests' KV whole and sends it over its own
        # NIC (disaggep52; one link a replica until then): a FIFO shared bandwidth, so transfers that overlap queue
        ranks = spec.iteration.ep
        links = [[RateLimiter(env, cfg.kv_link_bw) for _ in range(ranks)] for _ in range(n_pre * spec.pp)]

        def kv_sent(r: Req) -> float:  # the prompt's KV on the GPU that sends it; local layers: their window's blocks
            # (``kv_bytes`` / ``unit_bytes`` are an EP replica's mean per GPU, 1/ranks of a token's: its rank's whole)
            if not spec.blocks.per_block and spec.unit_bytes is not None:
                return spec.blocks.held(r.computed, e.block_size) * e.block_size * spec.unit_bytes * spec.pp * ranks
            return r.computed * spec.iteration.kv_bytes * ranks

        def hand_over(engine: int, r: Req):
            link = links[engine][r.rank]  # the prefill DP rank it ran on (the decode replica routes it anew)
            r.shared = 0  # the decode replica holds the whole prompt's KV per sequence (no shared prefix there)

            def move():
                yield env.timeout(link.reserve(kv_sent(r)))
                if r.first == math.inf:  # the first token after the transfer (pd51; the prefill end until then)
                    r.first = env.now
                    if stats.first_token(r.rid, env.now):
                        prefillers[engine]._decided()
                r.rank = 0  # a DP engine of the decode replica's (its own routing), or its one engine
                dlb.route(r)
            env.process(move())

        prefillers = [Engine(env, k, spec, e, stats, done, lambda r, k=k: hand_over(k, r))
                      for k in range(n_pre * spec.pp)]
        engines = prefillers + decoders
        lb = LoadBalancer(prefillers, cfg.routing, cfg.seed)
    if cfg.max_concurrency is not None:
        stats.clients = simpy.Container(env, capacity=cfg.max_concurrency, init=cfg.max_concurrency)
    if miss is not None and (miss[0] is not None or miss[1] is not None):
        stats.watch = MissWatch(wl, cfg.warmup_s, *miss)
    env.process(_arrivals(env, wl, reqs, lb, stats, done))
    drain = cfg.drain_s if cfg.drain_s is not None else max(60.0, wl.span_s)
    horizon = wl.span_s + drain
    every = cfg.sample_s or max(min(horizon, 2 * wl.span_s + 60.0) / MAX_SAMPLES, 0.05)
    samples = {"t": [], "waiting": [], "running": [], "kv_used": [], "preemptions": []}
    if monitor:
        env.process(_monitor(env, engines, every, samples))
    env.run(until=simpy.AnyOf(env, [done, env.timeout(horizon)]))
    end = env.now
    for eng in engines:
        eng.stop(end)
    if stats.aborted:
        raise TooLargeError("simulation", f"over {MAX_ITERATIONS:,} engine iterations; simulate fewer "
                            "requests or a shorter duration")

    m = wl.arrival_s >= cfg.warmup_s
    cut = None
    if stats.cut_at is not None or stats.stopped_at is not None:
        # the event bound: only the requests released before it were simulated (and measured); a run whose drain
        # ran out too stopped there, its unfinished requests counted as at the horizon
        sim_ = np.arange(n) < stats.released
        m = (m & sim_) if (m & sim_).any() else sim_  # cut inside the warm-up: measure what ran
        cut = dict(event_bound=max_events, offered=n, simulated=stats.released, measured=int(m.sum()),
                   at_s=float(stats.cut_at if stats.cut_at is not None else stats.stopped_at),
                   stopped=stats.stopped_at is not None)
    arr, first, fin = np.array(stats.sent)[m], np.array(stats.first)[m], np.array(stats.finish)[m]
    arr = np.where(np.isfinite(arr), arr, wl.arrival_s[m])  # never released (run stopped): its arrival
    outp, prompt = wl.output[m], wl.prompt[m]
    finished = np.isfinite(fin)
    ttft = first - arr
    e2e = fin - arr
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(outp > 1, request_tpot(first, fin, outp), 0.0)
    tpot = np.where(finished, tpot, np.inf)
    # TPOT percentiles over the requests with a second token (vllm bench serve: ``if output_len > 1``):
    # a one-token request has none (it counted as 0 ms, pulling the percentiles down); unfinished ones
    # count (inf); a workload of one-token requests only keeps its 0s (no TPOT to miss)
    timed = (outp > 1) | ~finished
    span = max(end - (cfg.warmup_s if cfg.warmup_s > 0 else float(arr.min()) if len(arr) else 0.0), 1e-9)
    good = goodput = None
    if cfg.slo_ttft_s is not None or cfg.slo_tpot_s is not None:
        ok = finished.copy()
        if cfg.slo_ttft_s is not None:
            ok &= ttft <= cfg.slo_ttft_s
        if cfg.slo_tpot_s is not None:
            ok &= tpot <= cfg.slo_tpot_s
        good = float(ok.mean()) if len(ok) else math.nan
        goodput = float(ok.sum() / span)
    kv = np.array(samples["kv_used"]) if samples["kv_used"] else np.zeros(1)
    q = np.array(samples["waiting"]) if samples["waiting"] else np.zeros(1, dtype=int)
    tl = {k: np.asarray(v) for k, v in samples.items()}
    return ServingSimResult(
        requests=int(m.sum()), completed=int(finished.sum()), unfinished=int((~finished).sum()),
        window_s=float(arr.max() - arr.min()) if len(arr) else 0.0,
        ttft=Percentiles.of(ttft), tpot=Percentiles.of(tpot[timed] if timed.any() else tpot), e2e=Percentiles.of(e2e),
        throughput_rps=float(finished.sum() / span),
        output_tokens_per_s=float(outp[finished].sum() / span),
        total_tokens_per_s=float((outp[finished].sum() + prompt[finished].sum()) / span),
        goodput=good, goodput_rps=goodput, kv_used_mean=float(kv.mean()), kv_used_max=float(kv.max()),
        queue_mean=float(q.mean()), queue_max=int(q.max()), preemptions=stats.preemptions,
        busy_share=float(stats.busy_s / (len(engines) * max(end, 1e-9))), iterations=stats.iterations,
        engine_events=stats.engine_events, engines=len(engines), simulated_s=float(end),
        wall_s=time.perf_counter() - t0,
        timeline=tl, preemption_events=list(stats.events), stopped_early=stats.decided, cut=cut,
        tpot_requests=int((outp > 1).sum()), steady_rps=steady_rate(fin))


def cut_words(cut: Optional[dict]) -> str:
    """Where the event bound cut a simulated run (``ServingSimResult.cut``), what its numbers rest on, said beside
    them; "" for a whole run.

    >>> cut_words(dict(event_bound=100_000, offered=12_021, simulated=8_560, measured=7_384, at_s=429.6,
    ...                stopped=False))
    'from 7,384 measured requests: the run reached its 100,000-engine-event bound after 8,560 of its 12,021, and the tail is estimated from those simulated'
    """
    if not cut:
        return ""
    s = (f"from {cut['measured']:,} measured requests: the run reached its {cut['event_bound']:,}-engine-event bound "
         f"after {cut['simulated']:,} of its {cut['offered']:,}, and the tail is estimated from those simulated")
    if cut.get("stopped"):
        s += " (stopped before they all finished: the unfinished count as misses)"
    return s
