"""One serving simulation with a hook at each request's admission to a batch slot, for the benchmarks that measure
the slot queue against the analytic screen (slot_wait.py, jsq_wait.py, fleet_occupancy.py; README serving section,
docs/serving_notes.md "serve35" and "servegap35").

The simulator has no admission callback (a planner run needs none), so the hook wraps ``Engine._prefills`` -- the
step's scheduling, where vLLM V1's ``schedule()`` moves a request from ``waiting`` to ``running`` -- and calls it for
each request in ``Engine.running`` after the call that was not there before (``_preempt_newest`` inside the call takes
its request off that list, so one preempted and readmitted in one step is seen). Until fuzz46c it wrapped
``Engine._start``, which the engine calls also to probe the head of the queue (``_admissible``, ``_head_blocked``, an
attempt ``_prefills`` then refuses for want of KV blocks): with KV blocks short a request's first call came up to
steps before its admission. The run's ``Stats`` (its per-request send, first-token and finish times) are kept; all
of it is restored however the run ends.
"""
from __future__ import annotations

import numpy as np

import planner.simulate.serving as simserve


def simulate_with_admissions(cfg, wl, on_admit):
    """Run ``cfg`` on workload ``wl``, calling ``on_admit(engine, request)`` at every admission (a preempted request's
    return too), in admission order at the step's time; returns the run's ``Stats`` with ``sent`` / ``first`` /
    ``finish`` as arrays (the engine keeps lists; the benchmarks index them by arrays of request ids)."""
    E = simserve.Engine
    kept, saved = [], (E._prefills, E._preempt_newest, simserve.Stats)
    prefills, preempt, stats_cls = saved
    held: set[int] = set()  # running when this step's _prefills began, less those it preempted

    def _prefills(engine, budget):
        held.clear()
        held.update(engine.running)
        out = prefills(engine, budget)
        for rid, r in list(engine.running.items()):  # (admission order)
            if rid not in held:
                on_admit(engine, r)
        return out

    def _preempt_newest(engine, k=0):  # (k: the DP engine whose pool ran out, servekv50)
        r, cost = preempt(engine, k)
        held.discard(r.rid)
        return r, cost

    class Stats(stats_cls):
        def __init__(self, n):
            super().__init__(n)
            kept.append(self)

    E._prefills, E._preempt_newest, simserve.Stats = _prefills, _preempt_newest, Stats
    try:
        simserve.simulate_serving(cfg, wl, monitor=False, max_events=10 ** 9)
    finally:
        E._prefills, E._preempt_newest, simserve.Stats = saved
    stats = kept[-1]
    for name in ("sent", "first", "finish"):
        setattr(stats, name, np.asarray(getattr(stats, name), dtype=float))
    return stats
