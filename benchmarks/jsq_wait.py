"""JSQ's probability of waiting at one slot a replica (servegap35, ``jsq_wait_probability``) against the SimPy
serving simulation and Erlang C: tests/test_serving.py's batch-1 job (llama3-8b, 2 QPS, 512 / 256 tokens, lognormal
cv 0.5, max_num_seqs 1) on p5.48xlarge TP1 over 9 / 10 / 11 replicas under the simulation's least-outstanding
routing. Per count and seed: the analytic p99 TTFT (``llm_ttft``), P(wait) by the JSQ chain and by Erlang C at the
same load, and the simulated p99 TTFT, P(wait > 5 ms) (each request's admission -- vLLM V1 ``schedule()`` moving it
to ``running`` -- less its arrival), the mean wait of those who wait and the mean time in service with its cv. The
findings are in docs/serving_notes.md ("servegap35").

With ``--queues`` instead: the plain queues (no engine) by discrete events, 300,000 Poisson arrivals, lognormal
service of mean 1 at cv 1 / 0.49 / 0: P(wait) of the pooled M/G/c (one FIFO queue, the first free server) and of JSQ
(a FIFO queue per server, the arrival joining the one with the fewest), against Erlang C and the JSQ chain -- the
pooled queue's P(wait) hardly moves with the service cv, JSQ's is the chain's.

With ``--many`` (servetpot36): JSQ alone by discrete events at 64 / 128 / 256 / 512 / 1,024 servers, 80-98% busy,
300,000 Poisson arrivals (the first tenth not counted), seeds 0 / 1, exponential and lognormal cv 0.49 service,
against the chain cut at the idle servers' tail (and its Halfin-Whitt scaling past ``JSQ_CHAIN_MAX``) and Erlang C.

    PYTHONPATH=$PWD python benchmarks/jsq_wait.py [--requests 20000] [--seeds 0,1]   (~1 min)
    PYTHONPATH=$PWD python benchmarks/jsq_wait.py --queues   (~2 min)
    PYTHONPATH=$PWD python benchmarks/jsq_wait.py --many   (~2 min)
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sim_admissions import simulate_with_admissions
from hardware_catalog import load_catalog
from planner.spec import load_job_dict
from planner.workloads.serving_screen import ServeTarget, llm_ttft, screen_concurrency, slot_service
from planner.workloads.serving import _options, _sim_config
from planner.workloads.serving_iteration import option_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_queue import TTFT_QUANTILE, erlang_c, jsq_wait_probability
from planner.workloads.serving_settings import REALTIME_TOKEN_BUDGET, settings_for, sim_workload

JOB = {"model": {"preset": "llama3-8b"},
       "serving": {"qps": 2, "p99_latency_ms": 100, "max_batch": 1, "ttft_ms": 1000},
       "constraints": {"instances": ["aws:p5.48xlarge"]}}
REPLICAS = (9, 10, 11)


def run(m, s, hw, im, sim, qps, requests, seed, replicas):
    """(TTFT, wait for the slot, time in service) per measured request (s), ``replicas`` one-slot replicas."""
    wl = sim_workload(s, qps, requests / qps, requests, replace(sim, min_requests=requests, seed=seed), seed, m)
    cfg = _sim_config(m, s, hw, 1, 1, REALTIME_TOKEN_BUDGET, replicas, ServeTarget(None, None, None),
                      replace(sim, seed=seed), min(60.0, wl.span_s / 6), im)
    admitted = {}
    # the first admission (a preempted request's return is later)
    st = simulate_with_admissions(cfg, wl, lambda engine, r: admitted.setdefault(r.rid, engine.env.now))
    ids = np.flatnonzero(wl.arrival_s >= cfg.warmup_s)
    adm = np.array([admitted.get(int(i), math.inf) for i in ids])
    return st.first[ids] - st.sent[ids], adm - st.sent[ids], st.finish[ids] - adm


def queues(servers: int, load: float, cv: float, n: int = 300_000, seed: int = 0) -> tuple[float, float]:
    """(P(wait) pooled, P(wait) JSQ) by discrete events: Poisson arrivals at ``load`` / 1 s, service lognormal of mean 1
    and coefficient of variation ``cv`` (exponential at 1, constant at 0)."""
    import heapq
    rng = np.random.default_rng(seed)
    arr = np.cumsum(rng.exponential(1.0 / load, n))
    if cv == 1.0:
        svc = rng.exponential(1.0, n)
    elif cv == 0.0:
        svc = np.ones(n)
    else:
        s2 = math.log1p(cv * cv)
        svc = rng.lognormal(-s2 / 2.0, math.sqrt(s2), n)
    free, pooled = [0.0] * servers, 0
    for t, x in zip(arr, svc):
        f = heapq.heappop(free)
        pooled += f > t
        heapq.heappush(free, max(t, f) + x)
    ends, jsq = [[] for _ in range(servers)], 0  # each server's FIFO: its requests' finishing times
    for t, x in zip(arr, svc):
        for q in ends:
            while q and q[0] <= t:
                q.pop(0)
        q = min(ends, key=len)
        jsq += bool(q)
        q.append((q[-1] if q else t) + x)
    return pooled / n, jsq / n


def jsq_many(servers: int, load: float, cv: float, n: int = 300_000, seed: int = 0) -> float:
    """P(wait) under JSQ by discrete events, as ``queues`` but at hundreds of servers: the servers are kept in sets
    by their queue length (the arrival joins one of the shortest; which one does not move P(wait), the servers being
    alike) and the service completions in a heap, O(log R) an arrival instead of ``queues``' O(R). The first tenth of
    the arrivals (the fleet filling from empty) is not counted."""
    import heapq
    rng = np.random.default_rng(seed)
    arr = np.cumsum(rng.exponential(1.0 / load, n))
    if cv == 1.0:
        svc = rng.exponential(1.0, n)
    else:
        s2 = math.log1p(cv * cv)
        svc = rng.lognormal(-s2 / 2.0, math.sqrt(s2), n)
    length = [0] * servers
    by_len = [set(range(servers))]  # by_len[k]: the servers holding k requests
    queued = [[] for _ in range(servers)]  # each server's waiting requests' service times, FIFO
    done, waits = [], 0  # (completion time, server)

    def move(k: int, d: int) -> None:
        by_len[length[k]].discard(k)
        length[k] += d
        while len(by_len) <= length[k]:
            by_len.append(set())
        by_len[length[k]].add(k)

    for a, (t, x) in enumerate(zip(arr, svc)):
        while done and done[0][0] <= t:
            f, k = heapq.heappop(done)
            move(k, -1)
            if queued[k]:
                heapq.heappush(done, (f + queued[k].pop(0), k))
        j = next(i for i, b in enumerate(by_len) if b)
        k = next(iter(by_len[j]))
        if j == 0:
            heapq.heappush(done, (t + x, k))
        else:
            waits += a >= n // 10
            queued[k].append(x)
        move(k, 1)
    return waits / (n - n // 10)


def main(argv=None) -> int:
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs()
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--queues", action="store_true", help="the plain pooled and JSQ queues by discrete events")
    ap.add_argument("--many", action="store_true", help="JSQ by discrete events at 64-512 servers against the chain")
    a = ap.parse_args(argv)
    if a.many:
        for servers in (64, 128, 256, 512, 1024):
            for busy in (0.80, 0.90, 0.95, 0.98):
                load = busy * servers
                sims = [jsq_many(servers, load, cv, seed=sd) for cv in (1.0, 0.49) for sd in (0, 1)]
                print(f"{servers} servers at {busy:.0%} busy: P(wait) JSQ simulated {sims[0]:.4f} / {sims[1]:.4f} "
                      f"(exponential, seeds 0 / 1), {sims[2]:.4f} / {sims[3]:.4f} (cv 0.49); chain "
                      f"{jsq_wait_probability(servers, load):.4f}, Erlang C {float(erlang_c(servers, load)):.4f}",
                      flush=True)
        return 0
    if a.queues:
        for servers, load in ((10, 4.55), (10, 8.0), (10, 9.0), (30, 24.0)):
            for cv in (1.0, 0.49, 0.0):
                p, j = queues(servers, load, cv)
                print(f"{servers} servers at {load / servers:.1%} busy, service cv {cv}: P(wait) pooled {p:.4f} "
                      f"(Erlang C {float(erlang_c(servers, load)):.4f}), JSQ {j:.4f} (chain "
                      f"{jsq_wait_probability(servers, load):.4f})", flush=True)
        return 0
    job = load_job_dict(JOB)
    m, s = served_model(job.model), job.serving
    hw = next(h for h in _options(job, load_catalog(), None) if h.name == "aws:p5.48xlarge")
    im = option_iteration(m, s, hw, 1)
    sim = settings_for(job)
    W1 = float(slot_service(im, s, 1)[0])
    for R in REPLICAS:
        rate = s.qps / R
        L = screen_concurrency(m, s, hw, 1, rate, 1, im)[0]
        an = float(llm_ttft(im, s, L, 1, rate=rate, q=TTFT_QUANTILE, replicas=R))
        print(f"{R} replicas, {s.qps * W1 / R:.1%} busy: analytic p99 TTFT {an * 1e3:,.0f} ms; P(wait) JSQ chain "
              f"{jsq_wait_probability(R, s.qps * W1):.4f}, Erlang C {float(erlang_c(R, s.qps * W1)):.4f}")
        for seed in (int(x) for x in a.seeds.split(",")):
            ttft, wait, served = run(m, s, hw, im, sim, s.qps, a.requests, seed, R)
            served = served[np.isfinite(served)]
            waited = wait[wait > 0.005]
            print(f"  seed {seed}: simulated p99 TTFT {np.quantile(ttft, 0.99) * 1e3:,.0f} ms, P(wait > 5 ms) "
                  f"{(wait > 0.005).mean():.4f}, mean wait of those who wait {waited.mean():.3f} s, time in service "
                  f"{served.mean():.3f} s (analytic {W1:.3f}), cv {served.std() / served.mean():.2f}", flush=True)
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        raise SystemExit(main())
