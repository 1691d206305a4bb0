"""Goodput under node failures at checkpoint-interval granularity (a second, coarser SimPy model).

The step-level engine (engine.py) simulates failures too, but a realistic MTBF is hours to days of
training — millions of steps. Failures and checkpoints do not interact with the inside of a step,
so once the engine has given the steady-state step time, one *segment* (``interval_steps`` steps
plus a checkpoint) is the natural event:

* the job runs segments of ``interval_steps * step_s`` seconds, each followed by a blocking pause
  ``block_s``; the checkpoint becomes durable ``persist_s`` after the pause ends (0 for a blocking
  write; the background write time for an asynchronous one);
* node failures arrive as a Poisson process of rate ``1 / mtbf_s`` (the job's MTBF: per-node MTBF
  divided by the node count), during work or a checkpoint pause (a restart is not interrupted);
  between failures everything is deterministic, so the model has one event per failure;
* a failure loses everything since the last durable checkpoint and costs ``restart_s`` before
  work resumes.

Goodput = useful training seconds / wall seconds. The classic first-order optimum is Young's
``tau = sqrt(2 * delta * MTBF)`` (Young 1974, "A first order approximation to the optimum
checkpoint interval", CACM 17(9)) with Daly's refinement ``sqrt(2 delta M) - delta`` (Daly 2006,
FGCS 22(3), Eq. 37 first-order form), delta the blocking checkpoint cost.

    >>> r = simulate_goodput(step_s=1.0, interval_steps=100, block_s=10, persist_s=0,
    ...                      mtbf_s=float("inf"), restart_s=60, horizon_s=1.1e4)
    >>> round(r["goodput"], 4)      # no failures: 100 s of work per 110 s
    0.9091
"""
from __future__ import annotations

import math

import numpy as np
import simpy


def young_daly_interval_s(block_s: float, mtbf_s: float) -> float:
    """Young's optimum checkpoint interval ``sqrt(2 * delta * MTBF)`` in seconds of work."""
    return math.sqrt(2.0 * block_s * mtbf_s)


def expected_goodput(interval_s: float, block_s: float, mtbf_s: float, restart_s: float) -> float:
    """Closed-form goodput of the same model with blocking checkpoints (the test oracle).

    A cycle of length ``c = tau + delta`` succeeds with probability ``p = exp(-c/M)``; each failed
    attempt costs the time to the failure (mean ``M - c p/(1-p)`` given it is < c) plus ``R``, and
    the number of failures before a success is geometric, so the expected time per cycle is
    ``c + (1/p - 1)(M - c p/(1-p) + R) = (exp(c/M) - 1)(M + R)`` and goodput ``tau / that``
    (the renewal argument of Daly 2006 §3, without failures during the restart)."""
    c = interval_s + block_s
    if c / mtbf_s > 700.0:  # exp overflows (OverflowError): a cycle ~700 MTBFs long almost never completes
        return 0.0
    return interval_s / (math.expm1(c / mtbf_s) * (mtbf_s + restart_s))


def run_overhead(cfg, step_s: float, compute_hours: float) -> dict | None:
    """The whole run's checkpoint and node-failure overhead, in closed form, for a job whose
    ``checkpoint`` section sets a cadence or an MTBF (``cfg``: its ``SimConfig``; None otherwise).

    The same model as ``simulate_goodput``/``expected_goodput``: work comes in intervals of
    ``every_steps x step_s`` followed by the blocking pause (``CheckpointConfig.pause_s``); failures
    arrive at the job MTBF (per-node MTBF / nodes) and cost ``restart_s`` plus the work since the
    last checkpoint. Without ``every_steps`` there is no checkpoint, so a failure rolls the run back
    to its start (interval = the whole run). Expected wall hours = compute hours / goodput.

    >>> from types import SimpleNamespace as NS
    >>> ck = NS(every_steps=100, pause_s=lambda interval: (10.0, 0.0))
    >>> run_overhead(NS(checkpoint=ck, failures=NS(enabled=False)), 1.0, 11.0)["goodput"]  # 100 s of work per 110 s
    0.9090909090909091
    """
    ck, fl = cfg.checkpoint, cfg.failures
    if not (ck.every_steps or fl.enabled):
        return None
    interval_s = ck.every_steps * step_s if ck.every_steps else compute_hours * 3600.0
    block_s = ck.pause_s(interval_s)[0] if ck.every_steps else 0.0
    mtbf_s = fl.mtbf_s if fl.enabled else math.inf
    restart_s = fl.restart_s if fl.enabled else 0.0
    g = interval_s / (interval_s + block_s) if math.isinf(mtbf_s) else expected_goodput(interval_s, block_s, mtbf_s, restart_s)
    hours = compute_hours / g if g > 0 else math.inf
    return dict(goodput=g, expected_hours=hours, overhead=hours / compute_hours - 1 if compute_hours else 0.0,
                checkpoint_every_steps=ck.every_steps or None, checkpoint_block_s=block_s,
                job_mtbf_hours=mtbf_s / 3600.0 if fl.enabled else None, restart_minutes=restart_s / 60.0,
                expected_failures=hours * 3600.0 / mtbf_s if fl.enabled else 0.0)


def simulate_goodput(step_s: float, interval_steps: int, block_s: float, persist_s: float,
                     mtbf_s: float, restart_s: float, horizon_s: float, seed: int = 0) -> dict:
    """Run the segment-level model for ``horizon_s`` simulated seconds (see module docstring).

    One event per failure: between two failures the job runs identical cycles (a segment, then
    its checkpoint pause), so how many cycles complete and how many checkpoints become durable
    before the failure is counted exactly instead of simulated one by one. An asynchronous save
    that is still persisting when the next one is due makes that one wait (as ``ckpt_pause`` in
    the engine): the pause is ``max(block_s, persist_s - segment)``."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    seg = interval_steps * step_s
    block = max(block_s, persist_s - seg)
    cycle = seg + block
    st = {"useful": 0.0, "failures": 0, "lost_s": 0.0, "checkpoints": 0}

    def done_in(t: float) -> tuple[float, int, int]:
        """(work done, checkpoints completed, checkpoints durable) ``t`` seconds into a life."""
        n = int(t // cycle)
        work = n * seg + min(t - n * cycle, seg)
        durable = int((t - persist_s) // cycle) if t >= persist_s else 0
        return work, n, min(durable, n)

    def job():
        while env.now < horizon_s:
            life = rng.exponential(mtbf_s) if math.isfinite(mtbf_s) else math.inf
            if env.now + life >= horizon_s:  # the horizon comes first: all work so far counts
                work, n, _ = done_in(horizon_s - env.now)
                st["useful"] += work
                st["checkpoints"] += n
                yield env.timeout(horizon_s - env.now)
                return
            yield env.timeout(life)
            work, n, durable = done_in(life)
            st["failures"] += 1
            st["checkpoints"] += n
            st["useful"] += durable * seg
            st["lost_s"] += work - durable * seg
            # the restart itself is not interrupted (restart_s << MTBF); the Poisson process is
            # memoryless, so the next failure is drawn from when work resumes
            yield env.timeout(restart_s)

    env.process(job())
    env.run()
    wall = env.now
    return {"goodput": st["useful"] / wall if wall > 0 else 0.0, "wall_s": wall,
            "useful_s": st["useful"], "failures": st["failures"], "lost_s": st["lost_s"],
            "checkpoints": st["checkpoints"]}
