"""The slot queue's wait term by term (serve35): the occupancy chain's tail (``occupancy_wait``: P(wait) x an
exponential of mean theta = Allen-Cunneen's (1 + cv^2) / 2 / (mu_c - rate)) against the SimPy serving simulation's
wait, each request's admission (the step that schedules its first prompt chunk, vLLM V1's ``schedule()`` moving it
from ``waiting`` to ``running``) less its arrival, in a run long enough for the queue's steady state. Per point
(benchmarks/ttft_grid.py's: one replica, max_num_seqs min(64, memory), budget 2,048, lognormal lengths cv 0.5,
Poisson, load a share of ``_capacity``) it prints the simulated p99 TTFT over the grid's 3,000 requests and over
``--requests`` (200,000: the queue at 95% relaxes over tens of seconds, a 3,000-request run is ~55 s after warm-up),
the analytic p99 (``llm_ttft(q=0.99)``), and P(wait > x) simulated / the chain's / the chain's without Allen-Cunneen
(M/M/c's wait given a wait, 1 / (mu_c - rate)). Every request waits for the running step (admission is at a step
boundary), so the slot queue shows from x of a few steps on. The findings are in docs/serving_notes.md ("serve35").

    PYTHONPATH=$PWD python benchmarks/slot_wait.py [--requests 200000] [--seed 0] [--70b]   (~1 min; --70b ~3 min)
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sim_admissions import simulate_with_admissions
from ttft_grid import MODELS as GRID_MODELS, grid_replica
from planner.workloads.serving_screen import ServeTarget, llm_ttft, screen_concurrency, slot_service
from planner.workloads.serving import _sim_config
from planner.workloads.serving_queue import TTFT_QUANTILE, occupancy_wait
from planner.workloads.serving_settings import REALTIME_TOKEN_BUDGET, sim_workload

MODELS = {name: (gpu, instance, tp) for name, gpu, instance, tp in GRID_MODELS}  # the grid's replicas
POINTS = (("llama3.1-8b", 128, 128), ("llama3.1-8b", 2000, 128))
POINTS_70B = (("llama3.1-70b", 128, 128), ("llama3.1-70b", 2000, 128))
UTILISATIONS = (0.80, 0.90, 0.95)
GRID_REQUESTS = 3000  # benchmarks/ttft_grid.py's


def run(m, s, hw, tp, im, batch, sim, qps, requests, seed):
    """(TTFT, wait for a slot) per measured request (s): the run as ttft_grid runs it, each request's admission
    recorded where the engine starts it (``Engine._start``, called once a request leaves the waiting queue)."""
    wl = sim_workload(s, qps, requests / qps, requests, replace(sim, min_requests=requests), seed, m)
    cfg = _sim_config(m, s, hw, tp, batch, REALTIME_TOKEN_BUDGET, 1, ServeTarget(None, None, None), sim,
                      min(60.0, wl.span_s / 6), im)
    admitted = {}
    # the first admission (a preempted request's return is later)
    st = simulate_with_admissions(cfg, wl, lambda engine, r: admitted.setdefault(r.rid, engine.env.now))
    ids = np.flatnonzero(wl.arrival_s >= cfg.warmup_s)
    adm = np.array([admitted.get(int(i), math.inf) for i in ids])
    return st.first[ids] - st.sent[ids], adm - st.sent[ids]


def point(model, prompt, output, requests, seed):
    gpu, instance, tp = MODELS[model]
    m, s, hw, im, batch, sim, mu = grid_replica(model, gpu, instance, tp, prompt, output)
    Wn = slot_service(im, s, batch)
    mu_c = batch / float(Wn[-1])
    for u in UTILISATIONS:
        qps = u * mu
        L, _ = screen_concurrency(m, s, hw, tp, qps, batch, im)
        an99 = float(llm_ttft(im, s, L, batch, rate=qps, q=TTFT_QUANTILE))
        p, w = occupancy_wait(qps, Wn, s.length_cv)
        theta = w / p if p > 0 else 0.0
        short, _ = run(m, s, hw, tp, im, batch, sim, qps, GRID_REQUESTS, seed)
        ttft, wait = run(m, s, hw, tp, im, batch, sim, qps, requests, seed)
        print(f"{model} {prompt:,} / {output} at {u:.0%} ({qps:.2f} req/s; simulated capacity {mu:.2f}, the chain's "
              f"full batch {mu_c:.2f}): p99 TTFT analytic {an99 * 1e3:,.0f} ms, simulated "
              f"{np.quantile(short, 0.99) * 1e3:,.0f} over {GRID_REQUESTS:,} requests, {np.quantile(ttft, 0.99) * 1e3:,.0f} over {len(ttft):,}; the chain's "
              f"P(wait) {p:.3f}, theta {theta * 1e3:,.0f} ms")
        print("  | x ms | P(wait > x) simulated | chain | chain, M/M/c's wait |")
        print("  |---:|---:|---:|---:|")
        for k in (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0):
            x = k * theta
            print(f"  | {x * 1e3:,.0f} | {(wait > x).mean():.4f} | {p * math.exp(-x / theta) if p else 0.0:.4f} | "
                  f"{p * math.exp(-x * (mu_c - qps)):.4f} |", flush=True)


def main(argv=None) -> int:
    from planner.present.script_args import ScriptArgs  # usage errors as one line, exit 2
    ap = ScriptArgs()
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--70b", dest="big", action="store_true", help="llama3.1-70b TP4 instead of llama3.1-8b")
    a = ap.parse_args(argv)
    for model, prompt, output in POINTS_70B if a.big else POINTS:
        point(model, prompt, output, a.requests, a.seed)
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        raise SystemExit(main())
