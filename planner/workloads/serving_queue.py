"""The queues and percentiles of the serving screen: how long a request waits for a batch slot and for the prefill
budget (Erlang C, its Halfin-Whitt limit, a birth-death chain over the occupancy, Allen-Cunneen's M/G/c correction,
the wait at a request's own replica under join-the-shortest-queue routing), the grid of prompt and output lengths
the simulation draws, and the p99 TTFT and p99 TPOT over requests that ``planner.workloads.serving`` states and
sizes by. Moved out of serving.py unchanged (session 33's review): one concept, the queueing, in one module;
serving.py keeps the plan.

Layer: above the simulation settings and the iteration model it prices steps with, under the planner
(pyproject.toml's import-linter contract)."""
from __future__ import annotations

import functools
import math
from statistics import NormalDist

import numpy as np

from planner.spec import ServingSpec
from planner.workloads.serving_iteration import (IterationModel, longest_interval, lumped_iteration, replica_token_budget,
                                                 stall_parts)
from planner.workloads.serving_memory import shared_prefix
from planner.workloads.serving_settings import LENGTH_CLIP, REALTIME_TOKEN_BUDGET, REALTIME_TOKEN_BUDGETS


def erlang_c(c, a) -> np.ndarray:
    """Probability that an arrival waits in an M/M/c queue with ``c`` servers at offered load ``a`` Erlangs
    (Erlang C; Kleinrock, Queueing Systems Vol. 1, 1975, eq. 3.42), through the Erlang-B recursion
    B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)), C = c B / (c - a (1 - B)), stable for any c. 1 where a >= c.
    Vectorised over ``a`` (``c`` one integer).

    >>> round(float(erlang_c(1, 0.9)), 3), round(float(erlang_c(64, 57.6)), 3)  # M/M/1: rho; 64 servers at 90%
    (0.9, 0.311)
    """
    a = np.asarray(a, dtype=np.float64)
    if int(c) > ERLANG_EXACT_MAX:
        return erlang_c_halfin_whitt(c, a)
    if a.ndim == 0:  # one load: the recursion in plain floats (a pooled fleet's c runs to tens of thousands)
        x, y = float(a), 1.0
        for k in range(1, int(c) + 1):
            y = x * y / (k + x * y)
        b = np.float64(y)
    else:
        b = np.ones_like(a)
        for k in range(1, int(c) + 1):
            b = a * b / (k + a * b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = c * b / (c - a * (1.0 - b))
    return np.where(a >= c, 1.0, out)


#: servers up to which ``erlang_c`` runs the exact Erlang-B recursion (O(c) steps); past it the Halfin-Whitt
#: limit. A pooled fleet's slots are batch x replicas: a 1e9-QPS job's 60M replicas x 64 slots took the recursion
#: minutes per call (the CLI hung; tests/test_qa28.py). At c = 4,096 the limit is within 0.0025 of the exact value
#: at every load from 50% to 99.9% (tests/test_serving_ttft.py).
ERLANG_EXACT_MAX = 4096


def erlang_c_halfin_whitt(c, a) -> np.ndarray:
    """Erlang C for many servers, the Halfin-Whitt heavy-traffic limit (Halfin & Whitt, Operations Research 29,
    1981): with beta = (c - a) / sqrt(a), C = 1 / (1 + beta Phi(beta) / phi(beta)); 1 where a >= c. O(1) in c.

    >>> round(float(erlang_c_halfin_whitt(10000, 9900.0)), 3)
    0.221
    """
    a = np.asarray(a, dtype=np.float64)
    nd = NormalDist()
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = (float(c) - a) / np.sqrt(np.maximum(a, 1e-300))
    # Phi / phi: past |beta| 37 phi underflows (a >= c is 1 below; a far under c waits never)
    ratio = np.vectorize(lambda x: nd.cdf(x) / nd.pdf(x) if abs(x) < 37.0 else (np.inf if x > 0 else 0.0),
                         otypes=[np.float64])(beta)
    with np.errstate(invalid="ignore", over="ignore"):
        out = 1.0 / (1.0 + beta * ratio)
    return np.where(a >= c, 1.0, np.where(a > 0, out, 0.0))


def queue_wait(servers, load, service_s, cv) -> np.ndarray:
    """Mean wait for a server in an M/G/c queue, the Allen-Cunneen approximation (Allen, Probability, Statistics and
    Queueing Theory, 2nd ed. 1990, §6; Kingman's heavy-traffic formula at c = 1, exact for M/G/1: Pollaczek-Khinchine):

        Wq = C(c, a) x S / (c - a) x (Ca^2 + Cs^2) / 2,   Ca^2 = 1 (Poisson arrivals), Cs = ``cv``

    with ``load`` a = lambda x S Erlangs on ``servers`` c, ``service_s`` S the mean service time. inf where a >= c
    (an unstable queue: it grows without bound). Vectorised over ``load`` / ``service_s``.

    >>> round(float(queue_wait(1, 0.5, 1.0, 1.0)), 3)  # M/M/1 at 50%: rho / (1 - rho) x S
    1.0
    """
    a = np.asarray(load, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = erlang_c(servers, a) * np.asarray(service_s, dtype=np.float64) / (servers - a) * (1.0 + cv * cv) / 2.0
    return np.where(a >= servers, np.inf, np.where(a > 0, w, 0.0))


#: the fleet's slots up to which ``occupancy_wait`` runs its chain (O(c) in numpy); past it the screen keeps Erlang C at
#: a = L (the chain's constant-W case: a 1e9-QPS job pools 60M replicas' slots, tests/test_qa28.py)
OCCUPANCY_CHAIN_MAX = 1 << 16


def service_rate_full(W: np.ndarray) -> float:
    """mu_c = c / W_c: the completions a second of c slots all in service, each for W_c (``W[-1]``; Little's law),
    the rate ``occupancy_distribution``'s steady state and ``occupancy_wait``'s M/M/c wait are read against."""
    return len(W) / float(W[-1])


def occupancy_distribution(lam: float, service_s) -> tuple[np.ndarray, float]:
    """(pi, rho): the stationary distribution of a birth-death chain over the occupancy k of c slots (Kleinrock,
    Queueing Systems Vol. 1, 1975, §3.1: pi_k = pi_0 prod_{j <= k} lam / mu_j), births at ``lam`` (Poisson), deaths at
    mu_k = k / W_k with ``service_s[k - 1]`` = W_k the time in service at occupancy k, k = 1 .. c (c = its length);
    past c the c slots serve at mu_c and the rest wait, geometric with rho = lam / mu_c. pi[k] for k = 0 .. c, pi[c]
    holding P(k >= c) (every state with the slots full); None where rho >= 1 (no steady state). Erlang C's M/M/c is its
    constant-W case; with continuous batching W_k grows with k (a fuller batch's steps are slower), so the chain
    spends more time at high occupancy than M/M/c at a = lam x W(L) (slotq34: the simulated occupancy's variance
    1.17-1.30x its mean, M/G/inf's 1)."""
    W = np.asarray(service_s, dtype=np.float64)
    c = len(W)
    # rho = lam / mu_c with mu_c the one float occupancy_wait's gap mu_c - lam reads: lam x W_c / c rounded to
    # 0.9999999999999999 where lam == c / W_c exactly (fuzz51: a fixed fleet screened at its capacity), a steady
    # state whose wait 1 / (mu_c - lam) divided by zero; a quotient of floats is 1.0 where they are equal
    rho = float(lam / service_rate_full(W))
    if rho >= 1.0:
        return None, rho
    k = np.arange(1, c + 1, dtype=np.float64)
    logpi = np.concatenate(([0.0], np.cumsum(np.log(np.maximum(lam, 1e-300) * W / k))))  # log pi_k / pi_0
    pi = np.exp(logpi - logpi.max())
    pi[-1] /= 1.0 - rho  # k >= c: pi_c rho^j summed
    return pi / pi.sum(), rho


def occupancy_wait(lam: float, service_s, cv: float) -> tuple[float, float]:
    """(P(wait), mean wait) for a free slot when the time in service depends on how many are in service
    (``occupancy_distribution``'s chain; ``service_s[k - 1]`` the time in service at occupancy k of the c slots). An
    arrival sees the time averages (PASTA, Wolff 1982): it waits with probability P(k >= c) and, waiting, for 1 /
    (mu_c - lam) on average (M/M/c given a wait, at the full occupancy's rate mu_c = c / W_c), with Allen-Cunneen's
    (1 + cv^2) / 2 as ``queue_wait``. (1, inf) where lam >= mu_c.

    >>> p, w = occupancy_wait(57.6, [1.0] * 64, 1.0); round(p, 3), round(w / p, 4)  # Erlang C(64, 57.6); 1 / 6.4
    (0.311, 0.1563)
    """
    if lam <= 0:
        return 0.0, 0.0
    W = np.asarray(service_s, dtype=np.float64)
    pi, rho = occupancy_distribution(lam, W)
    if pi is None:
        return 1.0, math.inf
    p = float(pi[-1])
    return p, p / (service_rate_full(W) - lam) * (1.0 + cv * cv) / 2.0


def jsq_extra_wait(servers: int, replicas: int, service_s, cv) -> np.ndarray:
    """What a waiting request waits beyond the pooled queue's wait (``queue_wait`` over all ``servers`` = c = B x R
    slots) when the fleet is R replicas of B slots under join-the-shortest-queue routing (the simulation's
    ``least_outstanding``), given that it waits:

        E[W | wait] = (E[Nq | wait] / R + 1) x S / B = pooled S / (c - a) + (R - 1) x S / c     (x (1 + Cs^2) / 2)

    In heavy traffic JSQ keeps the R queues equal (state-space collapse: Foschini & Salz, IEEE Trans. Commun. 26(3),
    1978), so the fleet's queue length is the pooled one (M/M/c given a wait: Nq geometric, mean a / (c - a); Kleinrock
    1975 §3.5), but an arrival that waits joins one replica, with Nq / R ahead of it there, and is served by that
    replica's B slots freeing at B / S, not by the first of all c. The pooled wait is what R = 1 gives; the extra
    (R - 1) S / c is ~S / B, a slot's turnover, which binds at a small batch over many replicas. Allen-Cunneen's
    (1 + Cs^2) / 2 as in ``queue_wait``. Measured (ttft33, the chat example's g2-standard-96 TP2 at batch 6, budget
    2,048, 40 QPS, 8,000 Poisson requests, seed 0), the p99 TTFT analytic / simulated at 70 / 72 / 73 / 74 / 76
    replicas: 3.60 / 4.11, 1.90 / 2.40, 1.04 / 1.53, 0.48 / 0.73, 0.41 / 0.42 s; the pooled queue alone said 0.83 s at
    70 (sized there against the 1 s target), where the fleet's first count under 1 s is 74 (this one's too).

    >>> round(float(jsq_extra_wait(420, 70, 10.0, 0.0)), 3)  # 69 x 10 s / 420 slots / 2
    0.821
    """
    return (max(int(replicas), 1) - 1) * np.asarray(service_s, dtype=np.float64) / servers * (1.0 + cv * cv) / 2.0


#: one-slot replicas up to which ``jsq_wait_probability`` solves its chain (servetpot36: with the idle servers cut at
#: ``JSQ_IDLE_SDS`` sd, 64 / 128 / 256 / 512 replicas at 95% busy ~10 / 20 / 70 / 300 ms on a shared 2-core machine);
#: past it the chain's value at this many replicas and the same Halfin-Whitt beta, scaled by sqrt(JSQ_CHAIN_MAX / R)
JSQ_CHAIN_MAX = 512
#: the idle servers the chain keeps: up to the mean idle count R - a plus this many sd of the busy count (sqrt(a),
#: M/M/inf's Poisson); the probability on the cut edge is under 1e-10 from 64 to 1,024 replicas at 80-98% busy
JSQ_IDLE_SDS = 6.0
#: a pooled queue's P(wait) (Erlang C) under which ``jsq_wait_probability`` takes it for the chain's: JSQ waits less
#: than the pooled queue, so the chain's value is smaller still, and a probability this small moves no p99 (the screen's
#: tails are P(wait) x e^(-t / scale) against 1e-2). At low load the chain keeps every idle count (its cut is R), ~R^2 / 4
#: phases over 2R levels: 512 one-slot replicas at 10-50% busy took 2.5-5.7 s a call on a shared 2-core machine, and a
#: bursty job at max_batch 1 (fuzz45b: mmpp 1000x, 0.1% share, 1 s bursts at 40 QPS) asked ~200 such loads, past 80 s
JSQ_NEGLIGIBLE_WAIT = 1e-12


@functools.lru_cache(maxsize=1 << 12)  # the screen asks again for each instance type with the same GPUs
def jsq_wait_probability(replicas: int, load: float) -> float:
    """P(an arrival waits) when ``replicas`` R one-slot servers each keep their own FIFO queue and every arrival joins
    the one with the fewest outstanding (join-the-shortest-queue: the simulation's ``least_outstanding`` router at
    ``max_num_seqs`` 1), Poisson arrivals at ``load`` a = lambda x S Erlangs. It waits when no server is idle (PASTA),
    which JSQ makes rarer than the pooled M/M/c's Erlang C: a waiting request is tied to its server, so a server that
    frees while another holds a queue idles, and the next arrival finds it -- where a pooled queue would have filled
    it and the next arrival would wait. Fewer arrivals wait, each for its own server's residual service
    (``jsq_extra_wait``).

    The chain: the JSQ Markov chain with exponential service (Haight, "Two queues in parallel", Biometrika 45, 1958;
    Adan, Wessels & Zijm, "Analysis of the symmetric shortest queue problem", Stochastic Models 6, 1990) on (i idle servers, q servers holding one waiting request), the rest serving one:
    arrivals take an idle server, else queue at a server serving one; each of the R - i - q frees it, each of the q
    starts its waiting one. Servers with two waiting are left out until all R hold one: with many servers JSQ's
    queues live on lengths 0, 1 and 2 (Eschenfeldt & Gamarnik, "Join the shortest queue with many servers. The
    heavy-traffic asymptotics", Math. Oper. Res. 43(3), 2018); past q = R the queues are kept equal (state-space
    collapse, Foschini & Salz 1978, as ``jsq_extra_wait``) and the R serve a pooled geometric tail at rate R.
    Solved level by level in the requests present (linear level reduction: Gaver, Jacobs & Latouche, Adv. Appl.
    Prob. 16, 1984). R = 1 is M/M/1's rho (M/G/1's too); at R = 2 and 4, 50-80% busy, it is within 1.4% of the chain
    over every queue length (tests/test_serving_ttft.py: 0.3182 / 0.6984 against 0.3160 / 0.6942 at R = 2). The
    service distribution hardly moves it (``benchmarks/jsq_wait.py --queues``: 300,000 Poisson arrivals, service cv 1 / 0.49 / 0; 10 servers at
    45.5% busy 0.0138 / 0.0137 / 0.0143 against this chain's 0.0138, where the pooled queue waits with 0.0206 / 0.0197
    / 0.0191 and Erlang C says 0.0203; at 80 / 90% 0.310 / 0.571 exponential, chain 0.316 / 0.585; 30 servers at 80%
    0.081 / 0.077 at cv 1 / 0.49, chain 0.083, pooled 0.172 / 0.165).

    Many servers (servetpot36): the idle count is kept to i <= R - a + ``JSQ_IDLE_SDS`` sqrt(a) -- the busy servers
    are M/M/inf's Poisson(a) capped at R, so fewer than a - 6 sqrt(a) busy is under 1e-9 -- a reflecting truncation
    (a server freeing at the cut stays busy in the chain); the levels and each level's phases then number
    O(sqrt(a)) + R and O(sqrt(a)), not 2R and R / 2, and the cut edge holds under 1e-10 of the probability. Past
    ``JSQ_CHAIN_MAX`` replicas: Eschenfeldt & Gamarnik's Halfin-Whitt limit, with a = R - beta sqrt(R) the servers
    holding a waiting request scale as sqrt(R) x a beta-only process, and an arrival waits at the rate they free,
    so P(wait) x sqrt(R) tends to a function of beta alone; the chain at ``JSQ_CHAIN_MAX`` replicas and the same beta,
    x sqrt(JSQ_CHAIN_MAX / R). Measured on the chain, P(wait) x sqrt(R) at beta 1.13 is 0.468 / 0.505 / 0.533 /
    0.554 / 0.569 at 64 / 128 / 256 / 512 / 1,024 replicas (still rising: the scaled value reads 2.6% under at
    1,024). Against discrete events (``benchmarks/jsq_wait.py --many``) see docs/serving_notes.md (servetpot36).
    1 at a >= R. Where the pooled queue's Erlang C is under ``JSQ_NEGLIGIBLE_WAIT`` that bound is the answer (at 128 /
    256 / 512 replicas, 10-95% busy, the chain read 0.14-0.90x Erlang C; fuzz45b).

    >>> round(jsq_wait_probability(1, 0.5), 4), round(jsq_wait_probability(2, 1.0), 4)  # M/M/1: rho
    (0.5, 0.3182)
    >>> round(jsq_wait_probability(10, 4.55), 4), round(float(erlang_c(10, 4.55)), 4)
    (0.0138, 0.0203)
    >>> round(jsq_wait_probability(512, 486.4), 4), round(float(erlang_c(512, 486.4)), 4)  # 95% busy
    (0.0244, 0.1725)
    """
    R, lam = int(replicas), float(load)
    if lam <= 0.0:
        return 0.0
    if lam >= R:
        return 1.0
    pooled = float(erlang_c(R, lam))
    if pooled < JSQ_NEGLIGIBLE_WAIT:  # an upper bound too small to matter: the chain is skipped (fuzz45b)
        return pooled
    if R > JSQ_CHAIN_MAX:  # the Halfin-Whitt scaling from the chain at JSQ_CHAIN_MAX replicas, the same beta
        r0 = JSQ_CHAIN_MAX
        a0 = r0 - (R - lam) / math.sqrt(R) * math.sqrt(r0)
        return jsq_wait_probability(r0, max(a0, 0.0)) * math.sqrt(r0 / R)
    cut = min(R, int(math.ceil(R - lam + JSQ_IDLE_SDS * math.sqrt(lam))) + 1)  # the most idle servers kept
    base = R - cut  # the fewest requests present: the cut's idle servers, none waiting
    top = 2 * R - 1  # the most requests with every server holding at most one waiting: (0 idle, R - 1 waiting)
    # level n's phases: i idle from lo to hi, q = n - R + i waiting (levels under base hold none)
    lo = [max(0, R - n) for n in range(top + 1)]
    hi = [min(R, (2 * R - n) // 2, cut) for n in range(top + 1)]

    def idle(n: int) -> np.ndarray:
        return np.arange(lo[n], hi[n] + 1)

    def leave(n: int) -> np.ndarray:  # the total rate out of each phase of level n (service rate 1 a server)
        i = idle(n)
        q = n - R + i
        # the top's arrivals go to the geometric tail and come back at the same rate (its cut balances): left out;
        # at the idle cut a server serving one does not free (the reflecting truncation)
        return np.where((n < top) | (i > 0), lam, 0.0) + np.where(i < cut, R - i - q, 0) + q

    def down(n: int) -> np.ndarray:  # a server serving one frees (i + 1); one with a waiting request starts it (q - 1)
        i = idle(n)
        q = n - R + i
        d = np.zeros((len(i), hi[n - 1] - lo[n - 1] + 1))
        r = np.arange(len(i))
        one = np.where(i < cut, R - i - q, 0)
        d[r[one > 0], i[one > 0] + 1 - lo[n - 1]] += one[one > 0]
        d[r[q > 0], i[q > 0] - lo[n - 1]] += q[q > 0]
        return d

    # pi_{n+1} = pi_n G_n, G_n = U_n (-S_{n+1})^-1, S_n = -diag(leave) + G_n D_{n+1}, from the top down. U_n, an
    # arrival, takes phase i to i - 1 (an idle server taken) or, at i = 0, to 0 (a waiting one more): each row of G_n
    # is lam x a row of (-S_{n+1})^-1
    gain = [np.empty((0, 0))] * top
    S = -np.diag(leave(top))
    for n in range(top - 1, base - 1, -1):
        gain[n] = lam * np.linalg.inv(-S)[np.maximum(idle(n) - 1, 0) - lo[n + 1]]
        S = gain[n] @ down(n + 1)
        S[np.diag_indices_from(S)] -= leave(n)
    pi = [np.ones(1)]  # level base: the cut's idle servers, none waiting (every server idle where nothing is cut)
    for n in range(base, top):
        pi.append(pi[-1] @ gain[n])
    sigma = lam / R
    tail = float(pi[-1][0]) * sigma / (1.0 - sigma)  # q >= R: R serving, the queue geometric
    total = sum(float(p.sum()) for p in pi) + tail
    return (sum(float(p[0]) for n, p in enumerate(pi, base) if lo[n] == 0) + tail) / total


#: the TTFT percentile the screen judges against ``serving.ttft_ms`` (a p99 target, README job-field table):
#: ``queue_replicas`` sizes by it and ``llm_option`` sizes the batch by it (``llm_ttft(..., q=)``)
TTFT_QUANTILE = 0.99
#: the prompt lengths a TTFT percentile integrates over (``prompt_grid``): bins equal in the lognormal's standard
#: normal z over [-4, 4.5] (the tails beyond folded into the end bins), 33 of the 128 in its top 1%
PROMPT_Z_EDGES = np.linspace(-4.0, 4.5, 129)
PROMPT_Z_WEIGHTS = np.diff([0.0, *(NormalDist().cdf(z) for z in PROMPT_Z_EDGES[1:-1]), 1.0])


def prompt_grid(P: float, cv: float, clip: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, weights): the prompt lengths the simulation draws (``length_dists``: lognormal with mean ``P`` and
    coefficient of variation ``cv``, sigma^2 = ln(1 + cv^2), mu = ln P - sigma^2 / 2, whole tokens, clipped at
    ``clip``, ``length_caps``' longest prompt for the model's context, else ``LENGTH_CLIP`` x P), one length per bin
    of ``PROMPT_Z_EDGES`` at its midpoint, weighted by the bin's probability. cv 0: P alone.

    Why the context clip (QA 85): a 64,000-token RAG prompt on llama3.1-8b (131,072-token context) at cv 0.5 has its
    p99 bin at ~171,000 tokens, which the simulation never draws (it clips at 130,663) and vLLM refuses; the screen
    priced that prefill, quadratic in the prompt: p99 TTFT 21.8 s stated where the simulation measured 11.3 s.

    >>> x, w = prompt_grid(2000, 0.5); round(float(w.sum()), 6), round(float((x * w).sum() / 2000), 2)
    (1.0, 1.0)
    >>> int(prompt_grid(64000, 0.5)[0].max()), int(prompt_grid(64000, 0.5, 130663)[0].max())
    (256000, 130663)
    """
    if cv <= 0:
        return np.array([float(P)]), np.array([1.0])
    sigma = math.sqrt(math.log1p(cv * cv))
    z = (PROMPT_Z_EDGES[:-1] + PROMPT_Z_EDGES[1:]) / 2.0
    x = np.exp(math.log(P) - sigma * sigma / 2.0 + sigma * z)
    return np.maximum(np.rint(np.minimum(x, LENGTH_CLIP * P if clip is None else clip)), 1.0), PROMPT_Z_WEIGHTS


#: bisection steps of ``bisect_quantile`` (its bracket shrinks 2^-32: under a microsecond for a bracket of an hour)
QUANTILE_BISECTIONS = 32


def bisect_quantile(over, lo: float, hi: float) -> float:
    """The quantile inside the bracket [``lo``, ``hi``] that ``ttft_quantile`` and ``tpot_quantile`` bisect for:
    ``over(x)`` is true while x is still under it (the tail past x holds more than 1 - q); the bracket's upper end after
    ``QUANTILE_BISECTIONS`` halvings.

    >>> round(bisect_quantile(lambda x: x < 2.0, 0.0, 8.0), 6)
    2.0
    """
    for _ in range(QUANTILE_BISECTIONS):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if over(mid) else (lo, mid)
    return hi


def ttft_quantile(q: float, own, weights, run_steps, run_probs, waits) -> float:
    """The ``q``-quantile of TTFT = D + X: X the request's own prefill, ``own[i]`` at the prompt length of weight
    ``weights[i]`` (``prompt_grid``), and D the delay before it, independent of X, whose tail is approximated by the
    sum of its parts' tails (each ~0 where another binds: the running iteration at low load, the queues near
    capacity), capped at 1:

        P(TTFT > t) = sum_i w_i G(t - X_i),  G(u) = 1 (u < 0),
        G(u) = min(1, sum_k pi_k [u < step_k] + sum_j p_j exp(-u p_j / W_j))  (u >= 0)

    * the iteration running when the request arrives, ``run_steps[k]`` with probability ``run_probs[k]`` (the others
      in flight, ``llm_ttft``), counted whole as the mean counts it (a request waits for its end, then its own step
      carries the prompts that arrived meanwhile: the residual and that share, about one such step);
    * each queue j in ``waits`` as (p_j, W_j): probability of waiting and mean wait, the wait given a wait taken
      exponential with mean W_j / p_j -- exact for M/M/c (P(W > t) = C(c, a) e^-(c mu - lambda) t, Erlang C:
      Kleinrock 1975 §3.5) and the standard GI/G/c approximation otherwise (Whitt, "Approximations for the GI/G/m
      queue", Production and Operations Management 2(2), 1993: P(W > t) ~ P(W > 0) exp(-t P(W > 0) / E W); at
      c = 1 Kingman's heavy-traffic exponential wait, 1962), W_j from ``queue_wait`` (Allen-Cunneen).

    Found by bisection on t (``mixture_quantile`` of this one tail, ``ttft_tail``); inf where a W_j is (an unstable
    queue).

    >>> round(ttft_quantile(0.99, [0.1], [1.0], [], [], [(0.5, 0.5)]), 4)  # 0.1 + ln(50) at p = 0.5, W = 0.5
    4.012
    """
    tail = ttft_tail(q, own, weights, run_steps, run_probs, waits)
    return math.inf if tail is None else mixture_quantile(q, [(1.0, *tail)])


def ttft_tail(q: float, own, weights, run_steps, run_probs, waits):
    """(t -> P(TTFT > t), an upper end for the ``q``-quantile's bracket): ``ttft_quantile``'s tail, for a mixture
    (``mixture_quantile``); None where a queue's mean wait is inf (unstable)."""
    own = np.asarray(own, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    steps = np.asarray(run_steps, dtype=np.float64)
    order = np.argsort(steps)
    steps = steps[order]
    # P(the running step > u) = the probabilities of the steps past u: a suffix sum, looked up by searchsorted
    past = np.append(np.cumsum(np.asarray(run_probs, dtype=np.float64)[order][::-1])[::-1], 0.0)
    terms = []
    for p, mean in waits:
        p, mean = float(p), float(mean)
        if not math.isfinite(mean):
            return None
        if p > 0 and mean > 0:
            terms.append((p, mean / p))  # theta: the mean wait of those who wait

    def tail(t: float) -> float:
        u = t - own
        g = past[np.searchsorted(steps, u, side="right")]
        for p, theta in terms:
            g = g + p * np.exp(-np.maximum(u, 0.0) / theta)
        return float((np.where(u < 0, 1.0, np.minimum(g, 1.0)) * w).sum())

    # the bracket: past max X + the longest step + max theta x ln(3 / (1 - q)) each part's tail is under (1 - q) / 3
    return tail, (float(own.max()) + float(steps.max(initial=0.0))
                  + max([th for _, th in terms] + [0.0]) * math.log(3.0 / (1.0 - q)))


def mixture_quantile(q: float, parts) -> float:
    """The ``q``-quantile of a mixture: ``parts`` (weight, t -> P(X > t), an upper end of the bracket) with weights
    summing to 1, P(X > t) = sum_s weight_s P_s(X > t), by bisection (``bisect_quantile``) on [0, the largest end].
    A part's tail at its own end is at most 1 - q, so the mixture's is too. One part: that part's quantile. The
    screen's mixture is over the states of bursty arrivals (``burst_quantiles``: the pointwise stationary
    approximation, Green & Kolesar 1991).

    >>> round(mixture_quantile(0.99, [(0.5, lambda t: math.exp(-t), 10.0), (0.5, lambda t: 0.0, 1.0)]), 4)  # ln 50
    3.912
    """
    hi = max(float(end) for _, _, end in parts)
    return bisect_quantile(lambda t: sum(w * tail(t) for w, tail, _ in parts) > 1.0 - q, 0.0, hi)


#: z past which the normal tail 0.5 erfc(z / sqrt 2) rounds to exactly 0.0 / at or under which to exactly 1.0 in double
#: (``tpot_quantile`` skips erfc there; tests/test_serving_tpot.py checks both against math.erfc)
TAIL_ZERO_Z, TAIL_ONE_Z = 40.0, -9.0

#: the steps of the fluid path ``fill_age`` walks over its horizon (``FILL_HORIZON_SOJOURNS`` burst lengths), and the
#: occupancies it tabulates the burst's step at (``burst_step``): a path of 400 steps of dt = 8 T / 400 (0.2 s for the
#: default 10 s bursts) resolves a 10 s time in service in 50 cohorts
FILL_STEPS = 400
FILL_GRID = 64
#: how many mean burst lengths ``fill_age`` looks ahead: an arrival is that old with probability e^-8 = 3.4e-4, so a
#: fill past it changes no p99 (the state's share of waiting arrivals is under its share x 3.4e-4)
FILL_HORIZON_SOJOURNS = 8.0
#: fixed-point passes of a step on its own prompt intake (``burst_step``): the intake is the rate x the step, a
#: contraction well under load (each pass moves the step by the prompt share's derivative, < 1 where the prefill fits)
FILL_FIXED_POINT = 12
#: the most cohorts ``fill_path`` keeps of the calm state (its ages up to the longest output's time in bins of dt, or
#: wider: 16k-token outputs under 0.1 s bursts would be ~10^5 bins of 2 ms)
CALM_COHORTS = 2048
#: points of the output-length survival table ``fill_path`` and ``fill_reach`` interpolate in (0 to the lengths' clip)
SURVIVAL_POINTS = 512
#: equal-probability points of each exponential length ``fill_reach`` averages over (the burst before, the calm)
REACH_POINTS = 48


def output_survival(O: float, cv: float, steps) -> np.ndarray:
    """P(a request's output is longer than ``steps`` tokens): the lognormal lengths the simulation draws
    (``prompt_grid``'s sigma^2 = ln(1 + cv^2), mu = ln O - sigma^2 / 2, clipped at ``LENGTH_CLIP`` x O), a decode step a
    token; cv 0: exactly O tokens. Vectorised over ``steps``.

    >>> [round(float(x), 3) for x in output_survival(200.0, 0.5, [0.0, 200.0, 600.0])]
    [1.0, 0.407, 0.005]
    """
    k = np.asarray(steps, dtype=np.float64)
    if cv <= 0:
        return (k < O).astype(np.float64)
    sigma = math.sqrt(math.log1p(cv * cv))
    z = (np.log(np.maximum(k, 1e-300)) - (math.log(O) - sigma * sigma / 2.0)) / sigma
    tail = 0.5 * np.vectorize(math.erfc, otypes=[np.float64])(z / math.sqrt(2.0))
    return np.where(k <= 0, 1.0, np.where(k >= LENGTH_CLIP * O, 0.0, tail))  # the draws' clip


def burst_step(im: IterationModel, s: ServingSpec, rate: float, batch: int, budget: int):
    """(occupancies, steps, room): a replica's mean engine step at ``FILL_GRID`` occupancies m from 1 to ``batch``
    while prompts come in at ``rate`` requests/s whatever the finishes (``lumped_iteration`` with the p = O x rate x
    step slots' prompts that makes rate x step prompts a step; in the steady state p is the m finishing slots'), and
    whether the budget's room beside the m decodes holds those prompt tokens (False where the prefill budget, not the
    slots, is what overflows). The step's fixed point on its own intake by ``FILL_FIXED_POINT`` passes."""
    O, N = float(s.output_tokens), float(s.prompt_tokens - shared_prefix(s))
    m = np.linspace(1.0, float(batch), FILL_GRID)
    budget = replica_token_budget(im, budget)  # the replica's (an EP replica's engines each have the setting)
    tau = lumped_iteration(im, s, m, budget, prefilling=m)
    for _ in range(FILL_FIXED_POINT):
        tau = lumped_iteration(im, s, m, budget, prefilling=np.minimum(O * rate * tau, 1e9))
    return m, tau, rate * tau * N < np.maximum(max(budget, batch) - m, 0.0)


def fill_path(im: IterationModel, s: ServingSpec, calm: float, burst: float, batch: int, budget: int,
              sojourn: float) -> tuple:
    """(ages s, occupancies, fill age s, (occupancies, steps) of ``burst_step`` at the burst's rate, whether the
    slots fill rather than the prefill budget overflow): a replica's occupancy into a burst, the rate stepping from
    ``calm`` to ``burst`` requests/s with the replica in the calm rate's steady state, and the seconds into it at which
    its ``batch`` slots fill or the prompts stop fitting the budget's room (inf where neither does within
    ``FILL_HORIZON_SOJOURNS`` x ``sojourn``, the burst's mean length). Until then an arrival finds a slot; the path
    stops at the fill. The survival is tabulated over the steps (``SURVIVAL_POINTS``).

    The age-structured fluid model of a many-server queue (Whitt, "Fluid models for multiserver queues with
    abandonments", Operations Research 54(1), 2006: the content by elapsed service, each cohort leaving at its service
    distribution's hazard): with infinitely many slots its occupancy is the M_t/G/inf mean m(u) = sum over cohorts of
    rate x dt x P(S > their age) (Eick, Massey & Whitt, Operations Research 41(4), 1993), so the slots fill at the
    first u where m(u) reaches the batch. Here a cohort's age is counted in decode steps, not seconds: a request
    leaves after its output tokens (``output_survival``, the lengths the simulation draws), one a step, and the step
    lengthens as the batch fills (``burst_step``: the steps of a fuller batch read more KV, and carry the burst's
    prompts). That is what keeps a long-output fleet from filling: on llama3-8b 300 / 1,500 tokens over 3 p5.4xlarge
    replicas the burst (18.8 QPS) is 1.07x the full batch's rate, but the fleet enters it with ~40 of its 765 slots
    held, at 11 ms steps where the full batch's are 29 ms, so the first burst arrivals leave at ~0.24 of the full
    batch's pace and the slots fill only after ~100 s (the simulated hour: its 139 s burst took the fleet to 732 of
    765, the 116 s one to 664); the chat job's 200-token outputs turn over in ~10 s and its slots fill 12 / 25 s into
    a burst at 12 / 14 g6e.xlarge replicas (the simulated fleet at 14: full in every burst of 26 s and more, from ~15 a
    replica)."""
    O = float(s.output_tokens)
    ks = np.linspace(0.0, LENGTH_CLIP * O, SURVIVAL_POINTS)
    surv = output_survival(O, s.output_cv, ks)
    m_calm, tau_calm, _ = burst_step(im, s, calm, batch, budget)
    m_b, tau_b, fits = burst_step(im, s, burst, batch, budget)
    fits = fits.astype(np.float64)
    L = 1.0  # the calm steady occupancy: Little's law L = calm x O x step(L), from below
    for _ in range(64):
        L = min(calm * O * float(np.interp(L, m_calm, tau_calm)), float(batch))
    dt = FILL_HORIZON_SOJOURNS * sojourn / FILL_STEPS
    tau0 = float(np.interp(L, m_calm, tau_calm))
    # the calm cohorts, oldest first: ages dt apart up to the longest output's time, in at most CALM_COHORTS bins
    n0 = min(int(math.ceil(LENGTH_CLIP * O * tau0 / dt)), CALM_COHORTS)
    width = LENGTH_CLIP * O * tau0 / n0
    ages = np.arange(n0, 0, -1) * width
    steps = np.concatenate((ages / tau0, np.zeros(FILL_STEPS)))  # the calm cohorts, then one a path step
    mass = np.concatenate((np.full(n0, calm * width), np.full(FILL_STEPS, burst * dt)))
    path = np.empty(FILL_STEPS)
    for i in range(FILL_STEPS):
        live = n0 + i + 1
        m = float(mass[:live] @ np.interp(steps[:live], ks, surv, right=0.0))
        path[i] = min(m, float(batch))
        if m >= batch or np.interp(m, m_b, fits) <= 0.5:
            return np.arange(i + 1) * dt, path[:i + 1], i * dt, (m_b, tau_b, m >= batch)
        steps[:live] += dt / float(np.interp(m, m_b, tau_b))
    return np.arange(FILL_STEPS) * dt, path, math.inf, (m_b, tau_b, bool(fits[-1] > 0.5))


def fill_reach(im: IterationModel, s: ServingSpec, calm: float, burst: float, batch: int, budget: int,
               sojourns: tuple) -> tuple:
    """``fill_reach_value`` memoised (the screen asks each state again for its TPOT and at ``overloaded_replicas``)."""
    return _fill_reach_memo(im, _SpecValue(s), float(calm), float(burst), int(batch), int(budget), tuple(sojourns))


@functools.lru_cache(maxsize=1 << 12)
def _fill_reach_memo(im: IterationModel, spec, calm: float, burst: float, batch: int, budget: int,
                     sojourns: tuple) -> tuple:
    return fill_reach_value(im, spec.spec, calm, burst, batch, budget, sojourns)


def fill_reach_value(im: IterationModel, s: ServingSpec, calm: float, burst: float, batch: int, budget: int,
                     sojourns: tuple) -> tuple:
    """(P(an arrival in a burst finds its replica full), whether the slots fill rather than the prefill budget
    overflow): E[e^(-u_f / T)] over the occupancy the burst starts from, u_f the rest of ``fill_path``'s path from there
    and T the burst's mean length (an arrival's age in an exponential sojourn is exponential of mean T); ``sojourns``
    (burst, calm) mean lengths. The fleet enters a burst with what the one before it left: that burst, of exponential
    length tau, took the path to m(tau) (the slots at most), and over the calm C between (exponential) the excess over
    the calm occupancy decays as the share of its requests still in service, the equilibrium residual of the output
    lengths (M/G/inf after the rate drops: Eick, Massey & Whitt 1993) in steps at the occupancy the burst left (the
    slowest pace the calm runs at). The burst then fills in u_fill less the path's time to that occupancy. Bursts two
    back are left out. Quadrature over both lengths at ``REACH_POINTS`` equal-probability points each. 0 where the path
    never fills."""
    T, T0 = sojourns
    u, m, u_fill, (m_b, tau_b, slots) = fill_path(im, s, calm, burst, batch, budget, T)
    if not math.isfinite(u_fill):
        return 0.0, slots
    O = float(s.output_tokens)
    p = (np.arange(REACH_POINTS) + 0.5) / REACH_POINTS
    ks = np.linspace(0.0, LENGTH_CLIP * O, SURVIVAL_POINTS)
    surv = output_survival(O, s.output_cv, ks)
    resid = np.concatenate((np.cumsum(((surv[1:] + surv[:-1]) / 2.0 * np.diff(ks))[::-1])[::-1], [0.0]))
    m_end = np.interp(-T * np.log1p(-p), u, m)  # the burst before: its length's quantiles
    k_left = (-T0 * np.log1p(-p))[None, :] / np.interp(m_end, m_b, tau_b)[:, None]  # the calm, in steps
    m_start = m[0] + (m_end[:, None] - m[0]) * np.interp(k_left, ks, resid / resid[0], right=0.0)
    u_f = u_fill - np.interp(m_start, np.maximum.accumulate(m), u)
    return float(np.exp(-u_f / T).mean()), slots


def overload_wait_scale(burst: float, capacity: float, replicas: int, sojourn: float, cs: float = 1.0) -> float:
    """theta (s): an overloaded state's wait tail P(wait > t) = e^(-t / theta) over its arrivals once the fleet is full,
    ``replicas`` x ``capacity`` requests/s served against ``burst`` x ``replicas`` arriving, the state lasting an
    exponential ``sojourn``, the service times' coefficient of variation ``cs``.

    The queue from the fill on is the reflected Brownian motion of the heavy-traffic limit (Iglehart & Whitt, "Multiple
    channel queues in heavy traffic. I/II", Adv. Appl. Prob. 2, 1970): drift delta = R (burst - capacity), variance
    rate sigma^2 = R (burst Ca^2 + capacity Cs^2), Ca = 1 (Poisson arrivals within a state; each busy server's
    departures a renewal stream of the service's Cs, and a superposition's variance rate the sum of theirs). Started
    at 0, a reflected Brownian motion at time s is in law the supremum of the free one over [0, s] (the reflection
    map reversed in time), and an arrival's age past the fill is exponential of mean ``sojourn`` (memoryless), where
    the supremum of a Brownian motion with drift is exponential of rate eta, the positive root of sigma^2 eta^2 / 2 +
    delta eta = 1 / sojourn (Kyprianou, Introductory Lectures on Fluctuations of Levy Processes, 2006, §3.3: a
    spectrally negative process's supremum at an independent exponential time). The queue Q, served at R x capacity,
    waits Q / (R capacity): theta = 1 / (eta R capacity). As sigma -> 0 it is the fluid queue's (rho - 1) x sojourn,
    rho = burst / capacity (Newell 1982; the screen's until serve45), which it passes most near rho = 1: the chat
    job's 10 s bursts at 14 replicas (rho 1.03, output cv 0.5) 0.33 s fluid, 0.48 s here.

    >>> round(overload_wait_scale(1.2, 1.0, 1000, 10.0), 3), round(overload_wait_scale(1.0, 1.0, 1, 2.0), 3)
    (2.005, 1.414)
    """
    mu = replicas * capacity
    delta, var = replicas * (burst - capacity), replicas * (burst + capacity * cs * cs)
    eta = (math.sqrt(delta * delta + 2.0 * var / sojourn) - delta) / var
    return 1.0 / (eta * mu)


#: the TPOT percentile the screen judges against ``serving.p99_latency_ms`` (a p99 over requests, as the simulation's
#: ``Percentiles`` and ``vllm bench serve``'s p99_tpot take it): ``llm_option`` sizes the batch by it
TPOT_QUANTILE = 0.99


def tpot_quantile(im: IterationModel, s: ServingSpec, B: float, budget: int = REALTIME_TOKEN_BUDGET,
                  q: float = TPOT_QUANTILE, rate: float | None = None, replicas: int = 1) -> float:
    """The ``q``-quantile over requests of TPOT at batch ``B`` (B slots decoding, the B - 1 others' next prompts coming
    in as the engine schedules them; ``budget``: max_num_batched_tokens). A request's TPOT (``request_tpot``: (finish -
    first token) / (O - 1)) is the mean of the n = O - 1 steps it decodes in, and those are of two kinds
    (``lumped_parts``): vLLM V1's scheduler puts a finished slot's next prompt into the next step whole
    (vllm/v1/core/sched/scheduler.py: running requests first, then waiting ones while the token budget lasts; the
    simulation's scheduler does the same), so a share f of the steps carry prompt tokens and take the compute-bound
    ``lumped`` step, the rest the decode-only ``bare`` one -- each prompt a "generation stall" for every request
    decoding beside it (Agrawal et al., Sarathi-Serve, OSDI 2024, §3). With K of its n steps lumped,

        TPOT = bare + (lumped - bare) x K / n,   K lumped of its n steps, each lump's prompt tokens of spread cv

    and K is taken normal with mean n f and variance n f r (1 - f + cv^2) (the lumps' sizes vary with the prompt
    lengths, ``ServingSpec.prompt_cv``, and a compute-bound step's extra time with its prompt tokens). r is the run of
    consecutive lumped steps one prompt makes: a prompt longer than the room the decodes leave in the budget is
    chunked over r = f / lam steps in a row (lam = (B - 1) / O prompts a step; vLLM V1's scheduler runs the running
    requests first and a waiting prompt's next chunk in what the budget leaves, vllm/v1/core/sched/scheduler.py, where
    ``long_prefill_token_threshold``, when set (> 0), caps a chunk further and lengthens the run; Sarathi-Serve §3's
    stalls, every chunk of the prompt one), so K is a compound count: M ~ Binomial(n, lam) prompts, each a run of r_j
    steps (E r_j = r, E r_j^2 = r^2 (1 + cv^2)), has variance E M Var r_j + Var M r^2 = n f r (1 - lam + cv^2), f =
    lam r (a random sum: Feller, An Introduction to Probability Theory Vol. 1, 3rd ed. 1968, §XII.1) -- r times the
    binomial's -- where the runs never overlap. As f grows they do (a prompt waits for the one before it) and K
    saturates at n, so the binomial's 1 - f stands for 1 - lam, as the simulation's counts show: the variance of K per
    step in a backlog's steady part (the middle 80% of 1,500 requests) is 1.0-1.4 / 2.6-3.3 on B200 TP4 at B = 8 / 25
    (f 0.18 / 0.63; this 1.53 / 3.09, with 1 - lam 1.75 / 5.85) and 2.5-3.4 / 1.8-2.2 on TP8 at 30 / 37 (f 0.77 /
    0.96; this 2.93 / 2.24). r = 1 where the
    prompts fit one step (f is then the share of steps after a finish, at most lam): a binomial of independent steps,
    as it was until rag34. A request's n is
    its own output length less one, drawn as the simulation draws it (lognormal around ``serving.output_tokens`` with
    ``ServingSpec.output_cv``, ``prompt_grid``); one-token requests have no TPOT (0, as the simulation counts them). The quantile:

        P(TPOT > x) = sum_i w_i Q((n_i (x - bare) / (lumped - bare) - n_i f) / sd_i),  Q the normal tail

    found by bisection. Short requests have the widest spread, so the p99 is over the mean (``lumped_iteration``);
    at B = 1 nothing else is prefilled and it is the bare step (``llm_tpot``'s). Measured (tpot33, a backlog of 1,500+
    requests keeping B slots busy, budget 2,048, cv 0.5): the chat example's g2-standard-96 TP2 at B = 4 / 8 / 12 /
    24 49.5 / 53.4 / 57.7 / 67.6 ms vs the simulated p99 50.0 / 54.7 / 58.1 / 67.9 (``llm_tpot``: 46.5 / 48.2 / 49.9
    / 55.1); TP4 at 16 / 48 34.6 / 51.4 vs 34.5 / 53.4; the 70b's p5.48xlarge TP2 at 16 54.7 vs 54.0. TP4 at 81
    reads 68.5 against a whole-run p99 of 74.5 (1,500 requests; 78.8 in tpot33's run), and the gap is the run's start,
    not the model (rag34): all 81 prompts are prefilled together there (the first 10% of requests: p99 89.1 ms); the
    steady part (the middle 80%) has a p99 of 68.5 (of 3,000 requests: 66.7), a decode-only step of 39.33 ms (sd
    0.68; this 39.24: the batch's KV mix moves it under 2%) and a mean step of 61.7 (61.3). Runs (rag34): QA 42's RAG job (Llama-3.1-70B fp8, kv fp8, 16,000 + 300 tokens) on B200 TP4,
    budget 2,048, a backlog keeping B busy: 36.6 / 76.6 ms at B = 8 / 25 vs the simulated 38.6 / 78.8 (as a binomial,
    27.1 / 63.5); the chat cases above move under 1% (L4 TP2 at 12, budget 512: 53.3 -> 53.8, simulated 53.7). At
    the load of a Poisson fleet (``sim_workload``, search runs, budget 2,048) it is still under where the prompts
    keep the steps busy most of the time: TP4 at 5 / 6 / 7 replicas (b 8.6 / 5.9 / 4.7) 38.2 / 30.2 / 26.1 vs the
    simulated 45.6 / 29.8 / 23.3 (binomial: 28.4 / 22.0 / 18.9); TP8 at 3 / 4 27.1 / 19.2 vs 32.4 / 18.7. Tried and
    not taken: arrivals per second rather than per step (an open system: a slow step lets more prompts in, the
    count's sd x 1 / (1 - rho), rho the time-share of prompt work, 0.5-0.64 here, an M/G/1 busy period's variance):
    65.1 / 45.6 / 36.5 and 44.0 / 26.5 ms, 1.4-1.6x over the simulated ones.

    An open fleet (servetpot36: ``rate``, the Poisson arrivals a replica gets per second, and ``replicas`` R under
    join-the-shortest-queue): the prompts a request's decode meets are not one per finish but the arrivals over its
    life, and the life stretches with each prompt's run of lumped steps, during which more arrive -- a branching
    process, each prompt drawing Poisson(rho) more, rho = rate x r x (lumped - bare) the time share of the stalls:
    the total progeny of Poisson roots with Poisson(rho) offspring (the customers served in an M/D/1 busy period:
    Kleinrock 1975 §5.9; Feller 1968 §XII.5's total progeny) has mean m / (1 - rho) and variance m / (1 - rho)^3, an
    index of dispersion D = 1 / (1 - rho)^2 where the backlog's binomial had 1 - f. Under JSQ a replica whose
    stall holds prompts has more outstanding than the others, and the arrivals its stall draws go to all R
    alike (the R queues move together: state-space collapse, Foschini & Salz 1978, as ``jsq_extra_wait``), so the
    excess over Poisson's 1 is shared: D = 1 + (1 / (1 - rho)^2 - 1) / R, the variance of K n f r (D + cv^2).
    Measured (``benchmarks/fleet_occupancy.py``, QA 42's RAG job, 5 QPS Poisson, budget 2,048, 3,000 requests,
    seed 0), the prompts admitted to a request's replica over its decode, variance / mean within each quarter of
    the output lengths, against D: B200 TP8 1 replica at 5/3 QPS 4.7-7.9 (6.25), 3 replicas 2.3-3.5 (2.75), 4
    1.4-1.8 (1.56); TP4 5 / 6 / 7 replicas 1.6-2.6 (1.96), 1.2-1.5 (1.47), 0.9-1.2 (1.28). The p99 TPOT at the
    screen's b = 1 + L, simulated / backlog / open fleet: 55.3 / 27.1 / 42.6, 40.1 / 27.1 / 34.4, 24.0 / 19.0 / 21.0
    ms; TP4 49.8 / 38.6 / 45.5, 35.0 / 30.2 / 33.2, 28.1 / 26.1 / 27.8 -- still under, by 1-23% where it was 7-51%:
    the count's right tail (a busy period's) is over the normal's. rho is capped at ``TPOT_OPEN_RHO_MAX``.

    SGLang's engines (prefill-first, ``alternating_parts``) with DP ranks (dec53): the count is of the stalls the
    request's own engine's prompts make (f_e of its rounds, each a prefill step t_pf, the engine's prompts lam / ep),
    about the mean interval; the other engines' prefill batches that lengthen its decode steps are the mean's
    (``serving_iteration.stall_parts``). Until dec53 the count was in units of lumped - bare at f = 1 - (1 - f_e)^ep,
    a unit that narrows as the decode-only step grows: a slower decode-only step lowered the p99 (40 QPS of 2,000 /
    500 on SGLang EP32, ll53's slower TBO windows: 104.2 -> 100.9 ms; now 101.2 either way). One engine: the same
    count as before. And no quantile passes every step at its full room (``serving_iteration.longest_interval``, or
    the lumped step where a lump passes the room): the normal's count ran past n there (Llama-3-8B on one H100,
    2,000 / 200, B = 64 at 20 QPS: 168.0 ms where a full step is 76.8).

    Memoised on exact keys (the iteration model's and the spec's values, B, budget, q, rate, R;
    ``functools.lru_cache``, the least recently used of 16,384 dropped first): the screen asks the same question for
    every instance type with the same GPUs and for each budget the search re-screens (the chat example: 1,206 calls,
    420 distinct)."""
    return _tpot_quantile_memo(im, _SpecValue(s), B, budget, q, None if rate is None else float(rate),
                               max(int(replicas), 1))


#: the stalls' time share ``tpot_quantile`` takes at most in an open fleet (its dispersion 1 / (1 - rho)^2 <= 400): at
#: rho -> 1 the replica's prompt work saturates it, where the TTFT queue (``llm_ttft``) already reads unbounded
TPOT_OPEN_RHO_MAX = 0.95


class _SpecValue:
    """A ``ServingSpec`` as a cache key, hashed and compared by its JSON taken now: the spec is a mutable pydantic
    model (``validate_assignment``), so its value at the call, not its identity, says which answer applies."""

    __slots__ = ("spec", "json")

    def __init__(self, spec: ServingSpec):
        self.spec, self.json = spec, spec.model_dump_json()

    def __hash__(self) -> int:
        return hash(self.json)

    def __eq__(self, other) -> bool:
        return isinstance(other, _SpecValue) and self.json == other.json


@functools.lru_cache(maxsize=1 << 14)  # bounded for a long-lived process (the app, the tests)
def _tpot_quantile_memo(im: IterationModel, spec: _SpecValue, B: float, budget: int, q: float, rate, R: int) -> float:
    return _tpot_quantile(im, spec.spec, B, budget, q, rate, R)


def _tpot_quantile(im: IterationModel, s: ServingSpec, B: float, budget: int, q: float, rate: float | None = None,
                   R: int = 1) -> float:
    """``tpot_quantile`` computed (its docstring)."""
    tail, lo, hi = tpot_tail(im, s, B, budget, rate, R)
    return bisect_quantile(lambda x: tail(x) > 1.0 - q, lo, hi)


def tpot_tail(im: IterationModel, s: ServingSpec, B: float, budget: int = REALTIME_TOKEN_BUDGET,
              rate: float | None = None, R: int = 1):
    """(x -> P(TPOT > x), lo, hi): ``tpot_quantile``'s tail over requests and the bracket of its quantiles (a
    constant TPOT c -- one output token's 0, batch 1's bare step -- as a step at c, lo = hi = c), for a mixture
    (``mixture_quantile``, ``burst_quantiles``)."""
    O = s.output_tokens
    if O <= 1:
        return (lambda x: float(x < 0.0)), 0.0, 0.0
    f, lumped, bare, fu, u, eu = stall_parts(im, s, float(B), replica_token_budget(im, budget), float(B) - 1.0)
    d = lumped - bare
    if B <= 1 or f <= 0.0 or d <= 0.0 or fu <= 0.0 or u <= 0.0:
        return (lambda x: float(x < bare)), bare, bare
    lengths, w = prompt_grid(O, s.output_cv)
    n = lengths - 1.0
    timed = n >= 1.0
    n, w = n[timed], w[timed]  # one-token requests: TPOT 0, never over x >= 0
    cv = s.prompt_cv  # the stalls' prompt tokens
    # a prompt longer than the room a step leaves its decodes is chunked over consecutive steps (vLLM V1's chunked
    # prefill: the running ones first, then the waiting prompt's next chunk while the budget lasts), so the lumped
    # steps come in runs of ``run`` = f / lam steps a prompt (lam = (B - 1) / O prompts a step); a run of one where
    # the prompts fit one step (f is then the share of steps after a finish, under lam x 1 step). The count K is of
    # the stalls a request's own engine's prompts make (``stall_parts``: f_u of its intervals, u each, its engine's
    # prompts lam / e_u a round), spread about the mean interval bare + d f (dec53)
    run = max(1.0, fu * O * eu / (float(B) - 1.0))
    if rate is None:  # a backlog: a prompt a finish, the binomial's 1 - f_u
        disp = 1.0 - fu
    else:  # an open fleet: the branching of the stalls' arrivals, its excess shared over the R by JSQ (docstring)
        rho = min(float(rate) / eu * run * u, TPOT_OPEN_RHO_MAX)
        disp = 1.0 + (1.0 / (1.0 - rho) ** 2 - 1.0) / R
    sd = np.sqrt(n * fu * run * (disp + cv * cv))
    root2 = math.sqrt(2.0)
    mean = bare + d * f
    # a request's TPOT is the mean of its n intervals, none longer than every step at its full room
    # (``longest_interval``) or the lumped one (a lump over the room, priced as one step): the tail is 0 past that
    cap = max(lumped, longest_interval(im, s, float(B), replica_token_budget(im, budget)))

    def tail(x: float) -> float:
        if x >= cap:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):  # sd 0 (f = 1, no length spread: a trace of one
            z = n * (x - mean) / u / sd                         # length since trace40): +-inf / NaN, handled below
        # the normal tail Q(z) = erfc(z / sqrt 2) / 2 is exactly 0.0 in double at z >= TAIL_ZERO_Z and exactly 1.0 at
        # z <= TAIL_ONE_Z (math.erfc: the last nonzero at z ~38.5, the first under 1 at z ~-8.3), so erfc runs (in
        # Python, per element) on the lengths between only: the same array, the same sum, ~2x fewer calls
        qz = (z <= TAIL_ONE_Z).astype(np.float64)
        mid = np.flatnonzero(~((z <= TAIL_ONE_Z) | (z >= TAIL_ZERO_Z)))  # NaN (sd 0 at f = 1, cv 0) too, as before
        qz[mid] = [0.5 * math.erfc(v / root2) for v in z[mid].tolist()]
        return float((qz * w).sum())

    return tail, bare, min(cap, mean + u * float(np.max(9.0 * sd / n)))  # z >= 9 at hi for every length: under 1e-18


def screen_tpot(im: IterationModel, s: ServingSpec, B: float, rate: float | None = None, replicas: int = 1) -> float:
    """The TPOT the screen holds to ``serving.p99_latency_ms`` and states: ``tpot_quantile`` at batch ``B`` at the
    token budget of ``REALTIME_TOKEN_BUDGETS`` that makes it least -- the engine setting the option would run, as the
    simulation tries them (``SimSettings.token_budgets``) and keeps the one that meets the targets with the fewest
    replicas. A small budget splits a prompt into chunks of what the decodes leave (Sarathi-Serve's chunked prefill),
    shorter stalls for the decodes beside it. Measured (tpot33, the chat example, a backlog keeping B slots busy): on
    g6e.xlarge (L40S) TP1 at B = 64, 61.3 ms at 2,048 (simulated 66.4) and 45.3 at 512 (simulated 46.7); the fleet the
    simulation confirms (7 replicas, batch 85) runs budget 512 at a simulated p99 of 44.6 ms where 2,048 gives 66.5.
    At the default budget alone the screen cut that option's batch 85 -> 36 and its simulated fleet grew 7 -> 11
    (benchmarks/sim_vs_analytic_replicas.py 47 kept / 5 added / 9 removed / 3 missed). ``rate`` (per replica, per
    second) and ``replicas``: the TPOT of an open Poisson fleet under JSQ (``tpot_quantile``), which the screen
    states at the load its replicas see; without them a backlog's, which sizes the batch."""
    return least_budget({k: tpot_quantile(im, s, B, k, rate=rate, replicas=replicas)
                         for k in REALTIME_TOKEN_BUDGETS})[1]


def least_budget(by_budget: dict) -> tuple[int, float]:
    """(budget, TPOT): the token budget of ``by_budget`` (budget -> p99 TPOT) whose TPOT is least, ties to the first
    in ``REALTIME_TOKEN_BUDGETS`` order (2,048 first: the simulation's first try, ``SimSettings.token_budgets``): the
    backlog's TPOT that sizes the batch (``screen_tpot``: some budget runs it under the target). The row's stated
    budget is ``serving_screen.budget_replicas``' since serve45 (the one needing the fewest replicas, every figure at it);
    in serve44 it was this one."""
    k = min(by_budget, key=lambda b: (by_budget[b], REALTIME_TOKEN_BUDGETS.index(b)))
    return k, by_budget[k]
