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
* a failure loses everything since the last durable checkpoint and costs ``restart_s`` before
  work resumes.

Goodput = useful training seconds / wall seconds. The classic first-order optimum is Young's
``tau = sqrt(2 * delta * MTBF)`` (Young 1974, "A first order approximation to the optimum
checkpoint interval", CACM 17(9)) with Daly's refinement ``sqrt(2 delta M) - delta`` (Daly 2006,
FGCS 22(3), Eq. 37 first-order form), delta the blocking checkpoint cost.

    >>> r = simulate_goodput(step_s=1.0, interval_steps=100, block_s=10, persist_s=0,
    ...                      mtbf_s=float("inf"), restart_s=60, horizon_s=1e4)
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


def simulate_goodput(step_s: float, interval_steps: int, block_s: float, persist_s: float,
                     mtbf_s: float, restart_s: float, horizon_s: float, seed: int = 0) -> dict:
    """Run the segment-level model for ``horizon_s`` simulated seconds (see module docstring)."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    seg = interval_steps * step_s
    st = {"useful": 0.0, "failures": 0, "lost_s": 0.0, "checkpoints": 0}

    def job():
        durable_work = 0.0  # useful seconds protected by the last durable checkpoint
        work = 0.0  # useful seconds done so far in this life (since the last restart)
        pending = []  # (durable_at, work) of checkpoints still being persisted
        next_fail = env.now + (rng.exponential(mtbf_s) if math.isfinite(mtbf_s) else math.inf)
        while env.now < horizon_s:
            # one segment of work, then the checkpoint pause; a failure may cut either short
            for dur, is_work in ((seg, True), (block_s, False)):
                end = env.now + dur
                while pending and pending[0][0] <= min(end, next_fail):
                    durable_work = max(durable_work, pending.pop(0)[1])
                if next_fail < end:  # failure inside this phase
                    if is_work:
                        work += next_fail - env.now
                    yield env.timeout(next_fail - env.now)
                    st["failures"] += 1
                    st["lost_s"] += work - durable_work
                    work = durable_work
                    pending.clear()
                    # the restart itself is not interrupted (restart_s << MTBF); the Poisson
                    # process is memoryless, so the next failure is drawn from here
                    yield env.timeout(restart_s)
                    next_fail = env.now + rng.exponential(mtbf_s)
                    break
                yield env.timeout(dur)
                if is_work:
                    work += dur
                else:
                    st["checkpoints"] += 1
                    pending.append((env.now + persist_s, work))
            if env.now >= horizon_s:
                break
        st["useful"] = work  # work done by the horizon counts (it would be checkpointed next)

    env.process(job())
    env.run()
    wall = env.now
    return {"goodput": st["useful"] / wall if wall > 0 else 0.0, "wall_s": wall,
            "useful_s": st["useful"], "failures": st["failures"], "lost_s": st["lost_s"],
            "checkpoints": st["checkpoints"]}
