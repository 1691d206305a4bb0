"""Spot interruptions as expected cost and time, through the failure/goodput model of ``failures``.

A spot node is taken back at a rate per node-hour (``hardware_catalog/data/interruptions.csv``: per
cloud and GPU class, a sourced or stated range of the share of instances interrupted in a month,
or the user's own ``constraints.spot_interruptions_per_node_day``). A share ``p`` interrupted per
month is a Poisson rate ``-ln(1 - p) / 730`` per node-hour. A job on ``n`` nodes stops when any
one of them is taken, so its mean time between interruptions is ``1 / (n * rate)``.

Each interruption costs what a node failure costs in ``failures.expected_goodput``: the work since
the last checkpoint, plus a restart — here the job's ``checkpoint.restart_minutes`` plus the time
to get spot capacity back (``capacity_wait_minutes``). Checkpoints come every
``checkpoint.every_steps`` steps, or at Young's optimum ``sqrt(2 * delta * MTBF)`` when the job
sets none; an interval longer than the run takes no checkpoint (``failures.run_segments``); an asynchronous
save is durable only when its write ends (``failures.expected_goodput``'s ``persist_s``). Expected wall time = compute time / goodput, expected cost = that x nodes x spot price (every node
billed through each capacity wait: the upper bound, said in ``risk['capacity']``, since whether the other
nodes are held or released while capacity returns is the orchestrator's choice);
the low/high ends of the rate give the spread.

    >>> r = SpotRate(0.0, 0.0, 0.0, 0.0, "none")
    >>> float(spot_expectation(r, hours=10.0, nodes=4, step_s=1.0, price=2.0, block_s=30.0, restart_s=600.0)["overhead"])
    0.0
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from planner import defaults as D
from planner.units import HOURS_PER_MONTH
from planner.simulate.failures import expected_events, expected_goodput_rows, finishing, run_segments, work_per_step_s, young_daly_interval_s

DATA = Path(__file__).resolve().parents[2] / "hardware_catalog" / "data" / "interruptions.csv"


@dataclass(frozen=True)
class SpotRate:
    """Interruptions per node-hour (low, mid, high), capacity wait after one, and the source."""

    low: float
    mid: float
    high: float
    capacity_wait_s: float
    source: str


def _per_hour(share_per_month: float) -> float:
    return -math.log1p(-min(share_per_month, 0.999)) / HOURS_PER_MONTH


def load_rates(path: Path = DATA) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def rate_for(cloud: str, gpu_name: str, per_node_day: float | None = None, rows: list[dict] | None = None) -> SpotRate:
    """The interruption rate of one cloud's spot GPU: the user's own (``per_node_day``) or the first
    table row whose cloud and GPU class match (``*`` matches anything; specific rows first)."""
    rows = rows if rows is not None else load_rates()
    match = [r for r in rows if r["cloud"] in (cloud, "*") and (r["gpu_class"] == "*" or r["gpu_class"].upper() in gpu_name.upper())]
    match.sort(key=lambda r: (r["cloud"] == "*", r["gpu_class"] == "*"))
    row = match[0]
    wait = float(row["capacity_wait_minutes"]) * 60.0
    if per_node_day is not None:
        lam = per_node_day / 24.0
        return SpotRate(lam, lam, lam, wait, f"constraints.spot_interruptions_per_node_day = {per_node_day:g}")
    lo, hi = _per_hour(float(row["interrupted_share_per_month_low"])), _per_hour(float(row["interrupted_share_per_month_high"]))
    where = f"{row['cloud']}/{row['gpu_class']}"
    return SpotRate(lo, math.sqrt(lo * hi) if lo > 0 else hi / 2, hi, wait,
                    f"interruptions.csv {where} ({row['basis']}): {float(row['interrupted_share_per_month_low']):.0%}-"
                    f"{float(row['interrupted_share_per_month_high']):.0%} of nodes a month")


def _one(rate, hours, nodes, step_s, block_s, restart_s, every_steps, node_rate=0.0, node_restart_s=0.0, persist_s=0.0,
         eval_hours=0.0):
    """(goodput, expected interruptions, expected node failures). ``node_rate``: node failures per
    node-hour (the job's ``checkpoint.mtbf_hours_per_node``), each costing ``node_restart_s`` (no
    capacity wait): the two Poisson processes add up to one of rate ``lam`` whose restart is their
    rate-weighted mean, so the same renewal formula (``failures.expected_goodput``) holds. ``eval_hours``: the
    evaluation passes inside ``hours``, which lengthen the segments between saves (``failures.work_per_step_s``)."""
    hours, nodes, step_s = (np.asarray(x, dtype=np.float64) for x in (hours, nodes, step_s))
    lam = rate * nodes  # interruptions per hour of the whole job
    if rate <= 0 and node_rate <= 0:
        # nothing interrupts the run, but its saves still pause it: goodput tau / (tau + delta), as the checkpoints
        # line's (failures.goodput_array at an infinite MTBF). Until QA 57 a spot job given 0 interruptions a
        # node-day read "+0.0% time" and priced none of the pauses its checkpoints line counted (6.0 h on 195.9)
        if not every_steps:
            return np.ones_like(hours), np.zeros_like(hours), np.zeros_like(hours)
        interval, blk, _ = run_segments(every_steps * work_per_step_s(step_s, hours, eval_hours), block_s,
                                        hours * 3600.0)
        return interval / (interval + blk), np.zeros_like(hours), np.zeros_like(hours)
    if node_rate > 0:  # interruptions and node failures compete: one Poisson process, a mean restart
        lam_n = node_rate * nodes
        lam_all = lam + lam_n
        restart_s = (lam * restart_s + lam_n * node_restart_s) / lam_all
    else:
        lam_n, lam_all = np.zeros_like(hours), lam
    mtbf_s = 3600.0 / lam_all
    interval = (every_steps * work_per_step_s(step_s, hours, eval_hours) if every_steps
                else np.maximum(young_daly_interval_s(block_s, mtbf_s), step_s))
    # a cadence (or Young's interval) longer than the run saves nothing before it ends: the whole run is at risk
    interval, block_s, beyond = run_segments(interval, block_s, hours * 3600.0)
    # an asynchronous save is durable ``persist_s`` after its snapshot (failures.expected_goodput; its rows at once,
    # each bit for bit the scalar's: through np.vectorize a Python call a row and rate, speed47)
    g = expected_goodput_rows(interval, block_s, mtbf_s, restart_s, np.where(beyond, 0.0, persist_s))
    # an expected time over 1,000x the uninterrupted one counts as never finishing, as for node failures
    # (failures.finishing): 5,000 interruptions per node-day planned a 117-year run before
    g = finishing(g)
    # checkpoints cost time even without interruptions: goodput is against pure compute time
    # the expected events of the one process (``expected_events``: none during a restart), each kind its rate's share;
    # a run that never finishes (g = 0) meets infinitely many where the rate is positive and none where it is 0
    # (inf x 0 would be nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        events = expected_events(hours / g, mtbf_s, restart_s)
        return g, np.where(lam > 0, events * lam / lam_all, 0.0), np.where(lam_n > 0, events * lam_n / lam_all, 0.0)


def spot_expectation(rate: SpotRate, hours, nodes, step_s, price, block_s: float, restart_s: float,
                     every_steps: int = 0, node_mtbf_s: float | None = None, persist_s: float = 0.0,
                     eval_hours=0.0) -> dict:
    """Expected (mid rate) and low/high wall hours, cost and interruptions of runs whose pure
    compute time is ``hours`` (arrays welcome). ``overhead`` = expected hours / compute hours - 1.
    ``node_mtbf_s``: the job's per-node MTBF (``checkpoint.mtbf_hours_per_node``): node failures
    then add to the interruptions (each costs ``restart_s`` without the capacity wait). ``eval_hours``: the
    evaluation passes inside ``hours`` (``_one``)."""
    out = {}
    node_rate = 3600.0 / node_mtbf_s if node_mtbf_s else 0.0
    for name, r in (("low", rate.low), ("mid", rate.mid), ("high", rate.high)):
        # goodput 0 (a step or checkpoint cycle far longer than the job's MTBF) never finishes: inf
        # hours and cost, ranked last, not numpy warnings on the user's terminal
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            g, n_int, n_fail = _one(r, hours, nodes, step_s, block_s, restart_s + rate.capacity_wait_s, every_steps,
                                    node_rate, restart_s, persist_s, eval_hours)
            h = np.asarray(hours, dtype=np.float64) / g
            out[name] = dict(hours=h, cost=h * np.asarray(nodes, dtype=np.float64) * price, interruptions=n_int,
                             node_failures=n_fail)
    mid = out["mid"]
    return dict(hours=mid["hours"], cost=mid["cost"], interruptions=mid["interruptions"], node_failures=mid["node_failures"],
                hours_low=out["low"]["hours"], hours_high=out["high"]["hours"],
                cost_low=out["low"]["cost"], cost_high=out["high"]["cost"],
                overhead=mid["hours"] / np.asarray(hours, dtype=np.float64) - 1.0)


class SpotModel:
    """What the search calls for spot plans (injected by ``planner.workloads.training``: the search
    layer sits below the simulator). ``__call__`` gives the expected hours and cost arrays for a
    batch; ``risk`` the record one plan carries."""

    def __init__(self, job, checkpoint_bytes: float, size_for=None):
        self.job = job
        ck = job.checkpoint
        self.every_steps = ck.every_steps if ck else 0
        self.restart_s = (ck.restart_minutes if ck else D.SPOT_RESTART_MINUTES) * 60.0
        bps = (ck.write_gbps if ck else D.SPOT_CHECKPOINT_WRITE_GBPS) * 1e9 / 8
        self.block_s = 0.0 if (ck and ck.asynchronous) else checkpoint_bytes / bps
        self.persist_s = checkpoint_bytes / bps if (ck and ck.asynchronous) else 0.0  # durable after its write
        # the checkpoint's bytes on a stack (simulate.config.checkpoint_bytes), for ``for_stack``; None: one size
        self._size_for, self._per_stack = size_for, {}
        self.rows = load_rates()
        self.user = job.constraints.spot_interruptions_per_node_day
        # the job's node failures (checkpoint.mtbf_hours_per_node) come on top of the interruptions
        self.node_mtbf_s = ck.mtbf_hours_per_node * 3600.0 if (ck and ck.mtbf_hours_per_node) else None

    def for_stack(self, stack) -> "SpotModel":
        """This model with the checkpoint sized on ``stack`` (a ``Stack``, or a plan's ``stack`` record; None: as
        built): the search prices each stack variant's plans, and each plan, with the checkpoint its stack writes
        (until 2026-12-02 the job's ``training.framework``: under ``auto`` 0 B, the pause at its 1 s floor)."""
        from planner.simulate.config import plan_stack  # lazy: config imports this module's siblings

        stack = plan_stack(stack)
        if stack is None or self._size_for is None:
            return self
        key = (stack.name, stack.mixed_precision)
        if key not in self._per_stack:
            self._per_stack[key] = SpotModel(self.job, self._size_for(stack))
            self._per_stack[key].rows = self.rows
        return self._per_stack[key]

    def rate(self, hw) -> SpotRate:
        return rate_for(hw.cloud, hw.gpu.name, self.user, self.rows)

    def risk_for_plan(self, plan, slice_hosts: int | None = None) -> dict | None:
        """``risk`` for a finished ``Plan`` (after the simulator changed its step time)."""
        h = plan.hardware
        if not h.price_spot_usd_hr:
            return None
        hw = SimpleNamespace(cloud=h.cloud, gpu=SimpleNamespace(name=h.gpu))
        ev = plan.cost.evaluation
        return self.for_stack(plan.get("stack")).risk(hw, plan.cost.hours, h.nodes, plan.step_time_s,
                                                      h.price_spot_usd_hr, ev["hours"] if ev else 0.0, slice_hosts)

    def __call__(self, hw, hours, nodes, step_s, price, eval_hours=0.0) -> dict:
        """``eval_hours``: the evaluation passes inside ``hours`` (``spot_expectation``)."""
        return spot_expectation(self.rate(hw), hours, nodes, step_s, price, max(self.block_s, D.SPOT_MIN_CHECKPOINT_S), self.restart_s,
                                self.every_steps, self.node_mtbf_s, self.persist_s, eval_hours)

    def risk(self, hw, hours: float, nodes: int, step_s: float, price: float, eval_hours: float = 0.0,
             slice_hosts: int | None = None) -> dict:
        """The expected spot run of one plan. ``slice_hosts``: where a node is a whole TPU slice of that many hosts
        (``hardware.options.slice_hosts``), said with the rate, which is per node (interruptions.csv has no
        per-slice row): the whole slice is the unit taken back and billed (QA 81 / QA 84)."""
        e = self(hw, np.array([hours]), np.array([nodes]), np.array([step_s]), price, np.array([eval_hours]))
        r = self.rate(hw)
        one = {k: float(v[0]) for k, v in e.items()}
        return dict(expected_cost_usd=one["cost"], expected_hours=one["hours"], cost_low_usd=one["cost_low"],
                    cost_high_usd=one["cost_high"], hours_low=one["hours_low"], hours_high=one["hours_high"],
                    interruptions=one["interruptions"], overhead=one["overhead"],
                    **({"node_failures": one["node_failures"]} if self.node_mtbf_s else {}),
                    rate_per_node_day=r.mid * 24, capacity_wait_minutes=r.capacity_wait_s / 60,
                    checkpoint_every_steps=self.every_steps or None, source=r.source, slice_hosts=slice_hosts,
                    checkpoint_beyond_run=bool(self.every_steps and run_segments(self.every_steps * float(work_per_step_s(step_s, hours, eval_hours)), 0.0,
                                                                                 hours * 3600.0)[2]),
                    capacity=("spot capacity for all nodes at once is not guaranteed; each interruption waits "
                              f"~{r.capacity_wait_s / 60:.0f} min for capacity (assumed), all nodes billed while it waits (an upper "
                              "bound: the node taken back is not billed, and an orchestrator that releases the cluster "
                              "until capacity returns pays for none)"))
