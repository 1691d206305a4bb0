"""One serving simulation with a hook at each request's admission to a batch slot, for the benchmarks that measure
the slot queue against the analytic screen (slot_wait.py, jsq_wait.py, fleet_occupancy.py; README serving section,
docs/serving_notes.md "serve35" and "servegap35").

The simulator has no admission callback (a planner run needs none), so the hook wraps ``Engine._start`` -- where
vLLM V1's ``schedule()`` moves a request to ``running`` -- for the run's length and keeps the run's ``Stats`` (its
per-request send, first-token and finish times); both are restored however the run ends.
"""
from __future__ import annotations

import numpy as np

import planner.simulate.serving as simserve


def simulate_with_admissions(cfg, wl, on_admit):
    """Run ``cfg`` on workload ``wl``, calling ``on_admit(engine, request)`` at every admission (a preempted request's
    return too); returns the run's ``Stats``."""
    kept, start, stats_cls = [], simserve.Engine._start, simserve.Stats

    def _start(engine, r):
        on_admit(engine, r)
        return start(engine, r)

    class Stats(stats_cls):
        def __init__(self, n):
            super().__init__(n)
            kept.append(self)

    simserve.Engine._start, simserve.Stats = _start, Stats
    try:
        simserve.simulate_serving(cfg, wl, monitor=False, max_events=10 ** 9)
    finally:
        simserve.Engine._start, simserve.Stats = start, stats_cls
    stats = kept[-1]
    for name in ("sent", "first", "finish"):  # the engine keeps lists; the benchmarks index them by request arrays
        setattr(stats, name, np.asarray(getattr(stats, name), dtype=float))
    return stats
