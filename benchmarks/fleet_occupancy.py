"""The occupancy a request sees over its decode under join-the-shortest-queue routing (servegap35, gap 1: the RAG
fleet's p99 TPOT). QA 42's RAG job (tests/conftest.py RAG_JOB: Llama-3.1-70B fp8, kv fp8, 16,000 / 300 tokens, 5 QPS
Poisson, budget 2,048, 3,000 requests, seed 0) on B200 TP8 at batch 37 (one replica at 5/3 QPS, then 3 / 4 replicas
at 5 QPS) and TP4 at batch 25 (5 / 6 / 7 replicas). Per fleet: the simulated p99 TPOT; the decoding occupancy of a
request's replica averaged over its decode (first token to finish), its mean, sd and p99 over requests; against the
occupancy a request sees (k pi_k) in a replica's own chain (``occupancy_distribution`` at QPS / replicas) and in the
fleet's chain over all slots read k / R a replica, and the screen's one batch 1 + L (``screen_concurrency``). Since
servetpot36 also the prompts admitted to a request's replica over its decode (variance / mean by output-length
quarter) against ``tpot_quantile``'s dispersion, and its p99 TPOT as a backlog and as the open fleet. The findings
are in docs/serving_notes.md ("servegap35", "servetpot36").

    PYTHONPATH=$PWD python benchmarks/fleet_occupancy.py   (~1 min)
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sim_admissions import simulate_with_admissions
from hardware_catalog import load_catalog
from planner.spec import load_job_dict
from planner.workloads.serving_screen import ServeTarget, screen_concurrency, slot_service
from planner.workloads.serving import _options, _sim_config
from planner.workloads.serving_iteration import lumped_parts, option_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_queue import TPOT_OPEN_RHO_MAX, occupancy_distribution, tpot_quantile
from planner.workloads.serving_settings import settings_for, sim_workload

JOB = {"model": {"preset": "llama3.1-70b"},
       "serving": {"qps": 5, "p99_latency_ms": 60, "ttft_ms": 3000, "prompt_tokens": 16000, "output_tokens": 300,
                   "precision": "fp8", "kv_precision": "fp8"},
       "constraints": {"instances": ["lambda:gpu_8x_b200_sxm6"]}}
#: (TP, batch, replicas, QPS)
FLEETS = ((8, 37, 1, 5.0 / 3.0), (8, 37, 3, 5.0), (8, 37, 4, 5.0), (4, 25, 5, 5.0), (4, 25, 6, 5.0), (4, 25, 7, 5.0))
BUDGET, REQUESTS = 2048, 3000


def seen(pi: np.ndarray, scale: float = 1.0) -> tuple[float, float]:
    """(mean, sd) of the occupancy an in-flight request sees, k / ``scale`` weighted by k pi_k."""
    k = np.arange(len(pi), dtype=np.float64)
    w = k * pi / float((k * pi).sum())
    m = float((k * w).sum())
    return m / scale, math.sqrt(float(((k - m) ** 2 * w).sum())) / scale


def life_occupancy(first, finish, replica, keep, R) -> np.ndarray:
    """Per kept request: its replica's decoding count (requests between first token and finish) averaged over its own
    first token to finish."""
    out = []
    for e in range(R):
        sel = np.flatnonzero((replica == e) & np.isfinite(first) & np.isfinite(finish))
        t = np.concatenate([first[sel], finish[sel]])
        d = np.concatenate([np.ones(len(sel)), -np.ones(len(sel))])
        o = np.argsort(t, kind="stable")
        t, occ = t[o], np.cumsum(d[o])
        area = np.concatenate([[0.0], np.cumsum(occ[:-1] * np.diff(t))])  # the integral of occ up to t[k]

        def integral(x):
            k = np.maximum(np.searchsorted(t, x, side="right") - 1, 0)
            return area[k] + occ[k] * (x - t[k])

        mine = sel[keep[sel]]
        out.append((integral(finish[mine]) - integral(first[mine])) / np.maximum(finish[mine] - first[mine], 1e-9))
    return np.concatenate(out)


def prompts_met(first, finish, replica, admitted, keep) -> np.ndarray:
    """Per request (0 where not kept): the prompts admitted to its replica between its first token and its finish."""
    M = np.zeros(len(first))
    for e in set(replica[keep].tolist()):
        at = np.sort(admitted[replica == e])
        sel = np.flatnonzero(keep & (replica == e))
        M[sel] = np.searchsorted(at, finish[sel]) - np.searchsorted(at, first[sel])
    return M


def main() -> int:
    job = load_job_dict(JOB)
    m, s = served_model(job.model), job.serving
    hw = next(h for h in _options(job, load_catalog(), None) if h.name == "lambda:gpu_8x_b200_sxm6")
    sim = settings_for(job)
    for tp, batch, R, qps in FLEETS:
        im = option_iteration(m, s, hw, tp)
        wl = sim_workload(s, qps, REQUESTS / qps, REQUESTS, replace(sim, min_requests=REQUESTS), 0, m)
        cfg = _sim_config(m, s, hw, tp, batch, BUDGET, R, ServeTarget(None, None, None), sim,
                          min(60.0, wl.span_s / 6), im)
        where, admitted = {}, {}  # the replica that admits each request, and when (its first admission)
        st = simulate_with_admissions(cfg, wl, lambda engine, r: (where.setdefault(r.rid, engine.name),
                                                                  admitted.setdefault(r.rid, engine.env.now)))
        rid = np.arange(len(wl.arrival_s))
        first, finish = st.first[rid], st.finish[rid]
        keep = np.isfinite(first) & np.isfinite(finish) & (wl.arrival_s >= cfg.warmup_s) & (wl.output > 1)
        tpot = (finish - first)[keep] / (wl.output[keep] - 1)
        replica = np.array([where.get(int(i), -1) for i in rid])
        life = life_occupancy(first, finish, replica, keep, R)
        M = prompts_met(first, finish, replica, np.array([admitted.get(int(i), np.inf) for i in rid]), keep)
        Wn = slot_service(im, s, batch, BUDGET)
        own = seen(occupancy_distribution(qps / R, Wn)[0])
        Wk = np.interp(np.arange(1, batch * R + 1) / R, np.arange(1.0, batch + 1.0), Wn)
        fleet = seen(occupancy_distribution(qps, Wk)[0], R)
        b = screen_concurrency(m, s, hw, tp, qps / R, batch, im)[1]
        print(f"TP{tp} batch {batch}, {R} replica(s) at {qps:.2f} QPS: simulated p99 TPOT "
              f"{np.quantile(tpot, 0.99) * 1e3:.1f} ms; decoding occupancy over a request's decode: mean {life.mean():.2f}, sd {life.std():.2f}, p99 "
              f"{np.quantile(life, 0.99):.1f}; seen in a replica's own chain {own[0]:.2f} (sd {own[1]:.2f}), in the "
              f"fleet's chain / R {fleet[0]:.2f} (sd {fleet[1]:.2f}); the screen's b = 1 + L {b:.2f}", flush=True)
        # servetpot36: the prompts admitted to a request's replica over its decode, variance / mean within each
        # quarter of the output lengths, against tpot_quantile's dispersion D; its p99 TPOT as a backlog and open
        n = wl.output[keep] - 1.0
        edges = np.quantile(n, [0.0, 0.25, 0.5, 0.75, 1.0])
        disp = [float(M[keep][(n >= a) & (n <= z)].var() / M[keep][(n >= a) & (n <= z)].mean())
                for a, z in zip(edges[:-1], edges[1:])]
        f, lumped, bare = (float(x) for x in lumped_parts(im, s, b, BUDGET, prefilling=b - 1.0))
        rho = min(qps / R * max(1.0, f * s.output_tokens / (b - 1.0)) * (lumped - bare), TPOT_OPEN_RHO_MAX)
        print(f"  prompts met over a request's decode, variance / mean by output-length quarter "
              f"{' / '.join(f'{x:.2f}' for x in disp)}; D: backlog 1 - f {1.0 - f:.2f}, open fleet "
              f"{1.0 + (1.0 / (1.0 - rho) ** 2 - 1.0) / R:.2f} (rho {rho:.2f}); p99 TPOT at b: backlog "
              f"{tpot_quantile(im, s, b, BUDGET) * 1e3:.1f} ms, open fleet "
              f"{tpot_quantile(im, s, b, BUDGET, rate=qps / R, replicas=R) * 1e3:.1f} ms", flush=True)
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        raise SystemExit(main())
