"""The discrete-event simulation of training steps: ranks, synchronisation, eval, checkpoints,
failures; critical-path attribution; steady-state shortcut.

Processes (SimPy generators), per data-parallel replica ``r``:

* the replica's ``Loader`` (worker processes; see loader.py);
* ``trainer(r)``: per step, takes its ``m`` micro-batches at the times the first pipeline stage
  starts their forwards (offsets from the exact schedule, schedule.py), waits for any that are not
  ready (the wait shifts the whole step), then runs the rest of the pipeline schedule (its runs where the
  stack runs it once per accumulation step: ``step_runs``); arrives at the step's synchronisation.

and one synchronisation per step (the last replica to arrive runs it): the data-parallel gradient
reduce, overlapped with the last backward in buckets (``schedule.sync_end``: the overlappable
buckets start when the slowest replica starts its last backward, the final one when it ends, so a
slow replica stalls the all-reduce for everyone), the optimizer, then evaluation / checkpoint
pauses. A ``failures`` process draws node failures (exponential, rate nodes/MTBF), rolls back to
the last durable checkpoint, waits ``restart_s`` and restarts every process (a new generation).

Attribution is on the critical path: the step's wall time is split along the replica that
finished its pipeline last (data wait, its compute, bubble, p2p, straggler excess), then the
exposed reduce, optimizer and pauses — never by summing per-rank timers, which would report a data
stall on one rank as barrier wait on the others (data_pipeline.md §0.10, Mohan et al. §4.2).
"""
from __future__ import annotations

from contextvars import ContextVar

import math
import time
from array import array
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np
import simpy

from planner.errors import TooLargeError
from planner.units import count_of, fmt_sig
from planner.simulate.config import SimConfig
from planner.simulate.loader import Draws, Loader, lognormal_params
from planner.simulate.resources import Storage
from planner.model.evaluation import is_full_pass
from planner.model.pipeline import PipelineTiming, pipeline_ops, pipeline_timing, sync_end

CAUSES = ("compute", "optimizer", "data", "comm", "bubble", "straggler", "eval", "checkpoint", "failure")
BUSY = ("compute", "optimizer")
_STEP_CAUSES = CAUSES[:6]
RESERVOIR = 20_000  # step durations kept for quantiles (bounded memory)

# ---- limits (README "Limits and bad input"): the DES's work is linear in what it simulates, and bounded --
# Work unit: one micro-batch of one data-parallel replica (its loader batch, its trainer wake-ups),
# plus one per loader worker process started. This machine (2 vCPUs, loaded) simulates ~150,000 a
# second with a data loader (benchmarks/bench_simulate.py), so one simulate() call stops after about
# a minute here and says "too large" instead of running for hours.
MAX_SIM_WORK = 8_000_000
# Steady-state windows are long enough to cover the loaders' warm-up and the eval/checkpoint
# cadence, but never longer than this many steps: a cadence of 10^12 steps (or 1024 workers x
# prefetch 1024 credits) would otherwise disable the steady-state shortcut and simulate every step.
WINDOW_CAP = 2_000
# ``planner simulate``'s bound on the work planned before a simulation starts (``planned_work``, spend's unit): the run
# itself, and the answers' simulations together (``workloads.simulation.job_answers``), each at most this. A run
# planned over it simulates its micro-batches' data in groups (``group_for``). About 25-60 s of CPU on this loaded
# 2-core machine (30,000-80,000 units a second with a data loader); the examples plan at most 494,000 (ResNet-50's
# answers) and the ViT-B/16 S3-files job's answers 56.7 million (the 15-minute run of QA 81).
PLANNED_WORK_BOUND = 2_000_000
# Failures simulated in one run. An MTBF far below the checkpoint interval means the job never
# finishes (each failure rolls back to the last durable checkpoint): refused before it starts when
# the expected count is over this, and stopped at twice this if the draws run long.
MAX_FAILURES = 10_000


@dataclass
class SimResult:
    steps: int
    simulated_steps: int
    wall_s: float
    step_time_s: dict
    samples_per_s: float
    tokens_per_s: Optional[float]  # None where the samples are not token sequences (tokens_per_sample 0)
    gpu_busy_share: float
    time_by_cause_s: dict
    idle_share_by_cause: dict
    goodput: float
    failures: int
    lost_steps: int
    data: dict
    analytic_step_time_s: Optional[float]
    extrapolated: bool
    steady_state_at_step: Optional[int]
    events: int
    runtime_s: float
    seed: int
    notes: list = field(default_factory=list)
    # mean step time after the warm-up (the first ``window`` steps: loaders filling, first shard
    # reads) — what a long run sees; pauses (eval, checkpoint, failures) excluded
    steady_step_time_s: Optional[float] = None
    steady_samples_per_s: Optional[float] = None
    timeline: Optional[list] = None
    #: micro-batches per simulated loader batch (``SimConfig.microbatch_group``; 1: one each)
    microbatch_group: int = 1

    @property
    def events_per_s(self) -> float:
        return self.events / self.runtime_s if self.runtime_s > 0 else float("inf")

    def to_dict(self, timeline: bool = False) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "timeline"}
        d["events_per_s"] = self.events_per_s
        if timeline and self.timeline is not None:
            d["timeline"] = [dict(zip(TIMELINE_FIELDS, e)) for e in self.timeline]
        return _jsonable(d)


TIMELINE_FIELDS = ("rank", "resource", "kind", "start", "end")


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


class _Run:
    def __init__(self, cfg: SimConfig, steps: int, seed: int, timeline: bool, sample_level: bool,
                 steady_state: bool, timeline_max: int, microbatch_timeline: bool):
        self.cfg, self.steps, self.seed = cfg, steps, seed
        self.sample_level, self.timeline_max = sample_level, timeline_max
        self.microbatch_timeline = microbatch_timeline
        self.env = simpy.Environment()
        self.timeline = [] if timeline else None
        p = cfg.pipeline
        self.p, self.pp, self.dp = p, p.pp, p.dp
        ss = np.random.SeedSequence(seed)
        kids = ss.spawn(p.dp + 3)
        self.rank_rngs = [np.random.default_rng(k) for k in kids[: p.dp]]
        self.jitter = Draws(np.random.default_rng(kids[p.dp]), "exponential" if p.jitter_dist == "exponential" else "normal")
        self.fail_rng = np.random.default_rng(kids[p.dp + 1])
        self.res_rng = np.random.default_rng(kids[p.dp + 2])
        self.jit_ln = lognormal_params(1.0, p.jitter_cv) if p.jitter_cv > 0 else None
        self.slow = [p.rank_slowdown[r] if r < len(p.rank_slowdown) else 1.0 for r in range(p.dp)]

        ld = cfg.loader
        grp = cfg.microbatch_group
        if grp < 1 or p.m % grp:
            raise ValueError(f"microbatch_group {grp} does not divide the {p.m} micro-batches of a step")
        # the loader batches a replica takes per step (``SimConfig.microbatch_group``); a group's batch pays each of its
        # micro-batches' collate, as the job's loader builds one batch per micro-batch
        self.group, self.batches = grp, p.m // grp
        self.loader_cfg = replace(ld, collate_s=ld.collate_s * grp) if (ld and grp > 1) else ld
        self.storage = Storage(self.env, ld.storage) if ld else None
        h2d = ld.h2d_s(p.micro_batch) if (ld and not ld.h2d_overlap) else 0.0
        tf, tb = p.t_fwd_mb, p.t_bwd_mb
        lead = p.t_stage_lead  # each stage's first forward waits on its parameter gather (PipelineConfig)
        full = step_runs(p, p.t_pp_p2p, tf + h2d, lead, p.t_run_sync)
        nop2p = step_runs(p, 0.0, tf, 0.0, 0.0)
        withp2p = step_runs(p, p.t_pp_p2p, tf, lead, 0.0)
        self.t_pipe = full.makespan
        self.offsets = full.first_stage_fwd_start
        # communication folded into the stage time (analytic inputs: sends, ZeRO-3 gathers) counts as comm, not
        # compute/bubble; so does the first forwards' wait (``withp2p`` holds it, ``nop2p`` not), and the syncs
        # between the schedule's runs (``full`` holds them, the other two not)
        folded = min(p.comm_in_stage / (tf + tb), 1.0) if (tf + tb) > 0 else 0.0
        syncs = (p.runs - 1) * p.t_run_sync
        self.split = {  # nominal split of one replica's pipeline time
            "compute": full.ideal * (1 - folded), "bubble": (nop2p.makespan - full.ideal) * (1 - folded),
            "comm": withp2p.makespan - nop2p.makespan + folded * nop2p.makespan + syncs,
            "data": full.makespan - withp2p.makespan - syncs,
        }
        # the differences of equal makespans are rounding noise (-8e-17 s of bubble without a pipeline)
        self.split = {k: max(v, 0.0) for k, v in self.split.items()}
        self.pipe_ops = _ops_by_stage(p, tf + h2d) if microbatch_timeline else None

        # state
        self.gen = 0
        self.step = 0  # steps completed and kept
        self.durable_step = 0
        self.totals = dict.fromkeys(CAUSES, 0.0)
        self.since_ckpt = dict.fromkeys(CAUSES, 0.0)  # rolled back into "failure" on a failure
        self.busy_gpu_s = 0.0  # sum over replicas of busy time
        self.busy_since_ckpt = 0.0
        self.durations = array("d")
        self.n_durations = 0
        self.after_warm = [0, 0.0, 0.0]  # steps, step seconds, data-wait seconds after the warm-up
        self.step_start = 0.0
        self.failures = 0
        self.lost_steps = 0
        self.evals = 0
        self.persist_until = 0.0  # async checkpoint persist in progress until then
        self.window: list[float] = []
        self.window_means: deque = deque(maxlen=4)  # bounded: only the last windows are compared
        self.window_split: deque = deque(maxlen=5)
        self.steady_at: Optional[int] = None
        self.want_steady = steady_state and not cfg.failures.enabled
        self.done = self.env.event()
        self.loaders: list[Optional[Loader]] = []
        self.loader_blocked_s = 0.0

    # ---- recording -----------------------------------------------------------------------
    def record(self, rank, resource, kind, start, end):
        tl = self.timeline
        if tl is not None and len(tl) < self.timeline_max and end > start:
            tl.append((rank, resource, kind, start, end))

    def add(self, cause: str, t: float):
        self.totals[cause] += t
        self.since_ckpt[cause] += t

    # ---- processes ---------------------------------------------------------------------
    def start_generation(self):
        self.gen += 1
        for ld in self.loaders:
            if ld is not None:
                self.loader_blocked_s += ld.blocked_s
        self.loaders = []
        self.arrivals: list[tuple] = []
        self.step_start = self.env.now
        B = self.p.micro_batch
        ld = self.cfg.loader
        self.spend(self.dp * (1 + (max(ld.workers, 0) if ld else 0)))  # processes started
        for r in range(self.dp):
            ld = Loader(self, r, self.gen, B * self.group, self.rank_rngs[r]) if self.cfg.loader else None
            self.loaders.append(ld)
            self.env.process(self.trainer(r, self.gen))

    def jitter_factor(self, r: int) -> float:
        f = self.slow[r]
        if self.jit_ln is not None:
            if self.p.jitter_dist == "exponential":
                return f * self.jitter()
            mu, s = self.jit_ln
            return f * math.exp(mu + s * self.jitter())
        return f

    def trainer(self, r: int, gen: int):
        env, p, ld = self.env, self.p, self.loaders[r]
        offsets, m, grp = self.offsets, p.m, self.group
        holds = ld is not None and ld.cpu is not None and ld.c.trainer_holds_core
        while True:
            S = env.now
            f = self.jitter_factor(r)
            shift = 0.0
            if ld is not None:
                for i in range(0, m, grp):  # a group is needed when its first micro-batch's forward starts
                    need = S + offsets[i] * f + shift
                    if env.now < need:
                        yield env.timeout(need - env.now)
                        if self.gen != gen:
                            return
                    t0 = env.now
                    if ld.W == 0:  # num_workers=0: the trainer loads the batch itself
                        yield from ld.build(0)
                        ld.consumed += 1
                    else:
                        ev = ld.next_batch()
                        if ev is not None:
                            yield ev
                            if self.gen != gen:
                                return
                        ld.take()
                    if env.now > t0:
                        shift += env.now - t0
                        self.record(r * self.pp, "gpu", "data_wait", t0, env.now)
            rest = S + self.t_pipe * f + shift - env.now
            if rest > 0:
                yield ld.cpu.hold(rest) if holds else env.timeout(rest)
                if self.gen != gen:
                    return
            self.record_compute(r, S, shift, f)
            self.arrive(r, env.now, shift, f, gen)
            yield self.release
            if self.gen != gen or self.done.triggered:
                return

    def record_compute(self, r, S, shift, f):
        if self.timeline is None:
            return
        if self.pipe_ops is None:
            self.record(r * self.pp, "gpu", "fwd_bwd", S + shift, self.env.now)
            return
        # per micro-batch per stage, from the exact schedule (scaled by this step's jitter)
        p = self.p
        t0 = S + shift
        for s, ops in enumerate(self.pipe_ops):
            for kind, mb, start, end in ops:
                self.record(r * self.pp + s, "gpu", f"{kind}{mb}", t0 + start * f, t0 + end * f)

    def arrive(self, r, end, shift, f, gen):
        if not self.arrivals:
            self.release = self.env.event()
        self.arrivals.append((end, shift, f, r))
        if len(self.arrivals) == self.dp:
            self.synchronise(gen)

    def synchronise(self, gen):
        """Last replica arrived: DP reduce in buckets, optimizer, eval/checkpoint pauses."""
        env, p = self.env, self.p
        arr, self.arrivals = self.arrivals, []
        E, shift, f_crit, _ = max(arr)
        if p.t_dp_comm > 0:
            # the reduce overlaps the last backward of every replica: its overlappable buckets
            # start when the last replica starts that backward, its final bucket when it ends
            bwd_start = max(a[0] - p.hides * a[2] for a in arr)
            fin = sync_end(bwd_start, E, p.t_dp_comm, p.dp_buckets, p.overlap_grad_reduce)
            comm = fin - E
            self.record(-1, "comm", "dp_reduce", max(bwd_start, E - p.t_dp_comm), fin)
        else:
            comm = 0.0
        if p.t_dp_tail > 0:  # the rest of the step's DP time (PipelineConfig.t_dp_tail)
            self.record(-1, "comm", "dp_tail", E + comm, E + comm + p.t_dp_tail)
            comm += p.t_dp_tail
        fbar = sum(a[2] for a in arr) / len(arr)
        sp = self.split
        parts = {"compute": sp["compute"] * fbar, "bubble": sp["bubble"] * fbar,
                 "comm": sp["comm"] * fbar + comm, "data": sp["data"] * fbar + shift,
                 "straggler": self.t_pipe * (f_crit - fbar), "optimizer": p.t_optimizer}
        # account for the time actually elapsed since the step began (start-of-step transients)
        dur = E + comm + p.t_optimizer - self.step_start
        # (the residual is rounding noise when nothing else waited: a data wait is never negative)
        parts["data"] = max(parts["data"] + dur - sum(parts.values()), 0.0)
        for k, v in parts.items():
            self.add(k, v)
        busy = sum(sp["compute"] * a[2] for a in arr) + p.t_optimizer * len(arr)
        self.busy_gpu_s += busy
        self.busy_since_ckpt += busy
        if p.t_optimizer > 0:
            self.record(-1, "gpu", "optimizer", E + comm, E + comm + p.t_optimizer)
        self.step += 1
        self.spend(p.dp * self.batches)
        if self.progress is not None and self.step % self.progress_every == 0:
            self.progress(self.step, self.steps)
        self.keep_duration(dur, parts["data"])
        pause = self.pauses(E + comm + p.t_optimizer)
        self.observe_steady(dur, parts)
        end = E + comm + p.t_optimizer + pause
        self.step_start = end
        if self.step >= self.steps or self.stop_now:
            env.timeout(end - env.now).callbacks.append(lambda _e, g=gen: self.finish(g))
            return
        rel = self.release
        env.timeout(end - env.now).callbacks.append(lambda _e: rel.succeed())

    stop_now = False
    progress = None  # callable(steps done, steps asked), every ~0.5% of the run
    work = 0

    def spend(self, units: int):
        """Count simulated work (MAX_SIM_WORK); past the limit the run stops with one message."""
        self.work += units
        # the step that ends the run has been simulated already: stopping there refused a finished run ("2 of 2
        # steps done ... simulate fewer --steps")
        if self.work > MAX_SIM_WORK and self.too_large is None and self.step < self.steps:
            p = self.p
            self.stop(TooLargeError("--steps", (
                f"too large: simulating this job passed {MAX_SIM_WORK:,} replica micro-batches "
                f"({self.step:,} of {self.steps:,} steps done, {p.dp:,} replicas x {p.m:,} micro-batches per step"
                + (f", {self.failures:,} failures redone" if self.failures else "")
                + ") without reaching a steady state; simulate fewer --steps or a smaller cluster")))

    too_large = None

    def stop(self, err: Exception):
        """End the run and have ``simulate`` raise ``err``. (Raised inside a SimPy process, SimPy
        would re-create the exception from its args, which an InputError does not survive.)"""
        self.too_large = err
        if not self.done.triggered:
            self.done.succeed()

    def finish(self, gen):
        if gen == self.gen and not self.done.triggered:
            self.done.succeed()

    def eval_time(self, idx: int) -> float:
        """One evaluation pass (``planner.model.evaluation.eval_pass_s``: the analytic plan prices it the same way)."""
        e = self.cfg.evaluation
        n = e.samples if is_full_pass(idx, e.full_every) else e.samples * e.subset_fraction
        return self.cfg.eval_pass_s(n)

    def ckpt_pause(self, t: float) -> tuple[float, float]:
        """(blocking pause, durable-at time) for a checkpoint taken at time t."""
        ck = self.cfg.checkpoint
        block, persist = ck.pause_s()
        if not ck.asynchronous:
            return block, t + block
        wait = max(0.0, self.persist_until - t)  # the previous async save must finish first
        self.persist_until = t + wait + block + persist
        return wait + block, self.persist_until

    def pauses(self, t: float) -> float:
        """Evaluation and checkpoint after the step that just completed (all ranks wait)."""
        pause = 0.0
        e, ck = self.cfg.evaluation, self.cfg.checkpoint
        if e.every_steps and self.step % e.every_steps == 0 and e.samples > 0:
            te = self.eval_time(self.evals)
            self.evals += 1
            self.record(-1, "gpu", "eval", t, t + te)
            self.add("eval", te)
            self.busy_gpu_s += te * self.dp
            pause += te
        if ck.every_steps and self.step % ck.every_steps == 0 and ck.bytes > 0:
            blk, durable_at = self.ckpt_pause(t + pause)
            self.record(-1, "gpu", "checkpoint", t + pause, t + pause + blk)
            if ck.asynchronous:
                self.record(-1, "data", "ckpt_persist", durable_at - ck.write_s(), durable_at)
            self.add("checkpoint", blk)
            pause += blk
            step, gen = self.step, self.gen
            if durable_at <= self.env.now:
                self.mark_durable(step, gen)
            else:
                self.env.timeout(durable_at - self.env.now).callbacks.append(
                    lambda _e: self.mark_durable(step, gen))
        return pause

    def mark_durable(self, step, gen):
        if gen == self.gen and step > self.durable_step:
            self.durable_step = step
            # work up to this checkpoint is safe; what follows is at risk again
            self.since_ckpt = dict.fromkeys(CAUSES, 0.0)
            self.busy_since_ckpt = 0.0

    def failures_proc(self):
        fl, env = self.cfg.failures, self.env
        while True:
            yield env.timeout(self.fail_rng.exponential(fl.mtbf_s))
            if self.done.triggered:
                return
            self.failures += 1
            if self.failures > 2 * MAX_FAILURES:
                self.stop(TooLargeError("checkpoint.mtbf_hours_per_node", (
                    f"too large: {self.failures:,} failures simulated with {self.step:,} of {self.steps:,} steps "
                    "kept; the job barely progresses between failures — raise the MTBF, checkpoint more often, "
                    "or simulate fewer --steps")))
                return
            lost = self.step - self.durable_step
            self.lost_steps += lost
            t_lost = sum(self.since_ckpt.values())
            for k in CAUSES:
                self.totals[k] -= self.since_ckpt[k]
            self.busy_gpu_s -= self.busy_since_ckpt
            partial = env.now - self.step_start
            self.totals["failure"] += t_lost + partial + fl.restart_s
            self.record(-1, "gpu", "failure_restart", env.now, env.now + fl.restart_s)
            self.step = self.durable_step
            self.since_ckpt = dict.fromkeys(CAUSES, 0.0)
            self.busy_since_ckpt = 0.0
            self.persist_until = 0.0
            self.gen += 1  # every running process of the old generation stops at its next wake-up
            yield env.timeout(fl.restart_s)
            self.start_generation()

    # ---- steady state ------------------------------------------------------------------
    def keep_duration(self, d: float, data_wait: float = 0.0):
        if self.n_durations >= self.window_size():
            self.after_warm[0] += 1
            self.after_warm[1] += d
            self.after_warm[2] += data_wait
        self.n_durations += 1
        if len(self.durations) < RESERVOIR:
            self.durations.append(d)
        else:  # reservoir sampling keeps memory bounded and the sample uniform
            j = int(self.res_rng.integers(self.n_durations))
            if j < RESERVOIR:
                self.durations[j] = d

    def window_size(self) -> int:
        w = getattr(self, "_window", None)
        if w is None:
            w = self._window = self._window_size()
        return w

    def _window_size(self) -> int:
        return window_steps(self.cfg)

    def observe_steady(self, dur: float, parts: dict):
        if not self.want_steady or self.steady_at is not None:
            return
        self.window.append(dur)
        if not self.window_split:
            self.window_split.append(dict.fromkeys(_STEP_CAUSES, 0.0))
        acc = self.window_split[-1]
        for k, v in parts.items():
            acc[k] += v
        W = self.window_size()
        if len(self.window) < W:
            return
        a = np.asarray(self.window)
        self.window_means.append(float(a.mean()))
        self.window = []
        self.window_split.append(dict.fromkeys(_STEP_CAUSES, 0.0))
        wm = self.window_means
        if len(wm) >= 4:  # skip the first window (warm-up), then 3 agreeing windows
            last = np.asarray(list(wm)[-3:])
            sem = float(a.std()) / math.sqrt(W)
            if last.max() - last.min() <= max(0.002 * last.mean(), 4 * sem):
                self.steady_at = self.step
                self.stop_now = True


def window_steps(cfg: SimConfig) -> int:
    """Steps in one steady-state window: long enough to cover the loaders' warm-up (twice their credits) and the
    evaluation / checkpoint cadence, at least 30, at most ``WINDOW_CAP``."""
    ld = cfg.loader
    credits = (ld.prefetch_factor * max(ld.workers, 1)) if ld else 0
    e, ck = cfg.evaluation.every_steps, cfg.checkpoint.every_steps
    return min(max(30, 2 * credits, e, ck), WINDOW_CAP)


def planned_steps(cfg: SimConfig, steps: int, steady_state: bool = True) -> int:
    """The steps a run of ``steps`` is planned to simulate before it starts: with the steady-state shortcut (on, and
    no failures) the four windows it runs at least before it may stop (``observe_steady``: the warm-up and three
    that agree), else every step. A run that does not settle by then goes on until ``MAX_SIM_WORK`` stops it."""
    if steady_state and not cfg.failures.enabled:
        return min(steps, 4 * window_steps(cfg))
    return steps


def planned_work(cfg: SimConfig, steps: int) -> int:
    """``spend``'s work of ``steps`` simulated steps: a loader batch per replica per micro-batch group
    (``SimConfig.microbatch_group``). The DES's events are about three per unit with a loader (the ViT-B/16 S3-files
    job: 2,364,283 events for 176 steps x 16 replicas x 256 micro-batches)."""
    p = cfg.pipeline
    return steps * p.dp * (p.m // cfg.microbatch_group)


def group_for(cfg: SimConfig, steps: int, bound: int) -> int:
    """The smallest micro-batch group (a divisor of ``m``: ``SimConfig.microbatch_group``) that keeps ``steps``
    simulated steps within ``bound`` of ``planned_work``; ``m`` (one loader batch per replica a step) when none does,
    1 when the run is within the bound or has no loader (without one the trainer takes no batch per micro-batch).

    Grouping is what lets a job of many small micro-batches be simulated at all: the ViT-B/16 job reading S3 files
    at estimate's micro-batch of 1 has 16 replicas x 256 micro-batches a step, 4,096 loader batches. Its steady-state
    rates stay within 0.2% of one batch per micro-batch (groups of 4 to 256: 1.343-1.346 s a step, ungrouped
    1.346 s, 82.6% data wait; the GPU-bound and 40- / 64-worker rates of the loader question within 0.03% at 32),
    as do the ResNet-50 examples' at 2 and 4 (the loaders' rate is the same per sample either way). What moves is
    the warm-up: a
    group is built by one worker, so the first steps wait for whole groups, and the p99 over a short run grows
    (1.39 s -> 1.78 s at groups of 16 over the ViT's 176 steps)."""
    p = cfg.pipeline
    if cfg.loader is None:
        return 1
    for g in range(1, p.m + 1):
        if p.m % g == 0 and planned_work(replace(cfg, microbatch_group=g), steps) <= bound:
            return g
    return p.m


def _run_args(p, t_p2p: float, t_f_first: float, lead: float) -> tuple:
    """``pipeline_timing`` / ``pipeline_ops``' arguments for one run of the schedule of ``PipelineConfig`` ``p``
    (``p.run_m`` micro-batches): the stages before the last fill and drain at their own, lighter pace
    (``t_fill_excess`` over them), Megatron's explicit interleaved group, each stage's first-forward wait ``lead``."""
    light = p.t_fill_excess / (p.pp - 1) if p.pp > 1 else 0.0
    return (p.pp, p.run_m, p.vpp, p.t_fwd_mb, p.t_bwd_mb, t_p2p, p.schedule, t_f_first, p.vpp_group, lead, light)


def run_starts(p, first: float, rest: float, sync: float) -> list[float]:
    """When each of the step's ``p.runs`` runs of the schedule starts, relative to the step: back to back, the first
    lasting ``first`` (its stages wait on the step's parameter gather, ``t_stage_lead``: the gather is the step's,
    not each run's), the others ``rest``, each but the last followed by ``sync`` (``PipelineConfig.t_run_sync``).
    torchtitan's train step calls ``pp_schedule.step`` once per gradient-accumulation step (trainer.py 0.3
    ``forward_backward_step``), NeMo AutoModel's ``schedule.step`` once per its ``pp_pass_microbatches``: a run
    starts when the one before has drained on every stage (its last backward is on stage 0, which starts the next)."""
    return [0.0] + [first + sync + k * (rest + sync) for k in range(p.runs - 1)]


def step_runs(p, t_p2p: float, t_f_first: float, lead: float, sync: float) -> PipelineTiming:
    """One replica's pipeline time of a step (``PipelineTiming``): ``p.runs`` runs of ``p.run_m`` micro-batches each
    (``PipelineConfig.pp_pass_microbatches``; one run of all ``m`` without it), each its own fill and drain, placed by
    ``run_starts``; the first-stage forward starts of all ``m`` micro-batches in order. ``pipeline_timing``
    list-schedules a run; the analytic twin is ``pipeline.step_composition`` with ``pass_m``."""
    first = pipeline_timing(*_run_args(p, t_p2p, t_f_first, lead))
    rest = pipeline_timing(*_run_args(p, t_p2p, t_f_first, 0.0)) if (lead and p.runs > 1) else first
    starts = run_starts(p, first.makespan, rest.makespan, sync)
    offsets = tuple(t0 + o for k, t0 in enumerate(starts) for o in (rest if k else first).first_stage_fwd_start)
    return PipelineTiming(starts[-1] + (rest if p.runs > 1 else first).makespan, offsets,
                          p.m * (p.t_fwd_mb + p.t_bwd_mb))


def _ops_by_stage(p, t_f_first):
    """The per-micro-batch operations of each stage (timeline mode only): ``pipeline.pipeline_ops``, the list
    scheduling ``pipeline_timing`` runs for the step's makespan (stage 0's forwards at ``t_f_first``, with a
    non-overlapped H2D copy), run by run (``step_runs``; micro-batches numbered through the step). Until 2026-12-02
    a copy of that loop here left out the H2D copy (the drawn ops ended before the step's pipeline did) and the
    deadlock guard (it spun forever on a schedule that deadlocks)."""
    first = pipeline_ops(*_run_args(p, p.t_pp_p2p, t_f_first, p.t_stage_lead))
    rest = pipeline_ops(*_run_args(p, p.t_pp_p2p, t_f_first, 0.0)) if p.runs > 1 else first
    span = [max((o[3] for st in ops for o in st), default=0.0) for ops in (first, rest)]
    out: list[list[tuple]] = [[] for _ in range(p.pp)]
    for k, t0 in enumerate(run_starts(p, span[0], span[1], p.t_run_sync)):
        for s, st in enumerate(rest if k else first):
            out[s] += [(kind, k * p.run_m + mb, t0 + a, t0 + b) for kind, mb, a, b in st]
    return out


def check_failures(cfg: SimConfig, steps: int) -> None:
    """Refuse a run whose failures would outnumber MAX_FAILURES before ``steps`` complete.

    With a job MTBF ``M`` and ``c`` seconds of work between durable checkpoints (the whole run when
    there are none), each checkpoint interval needs ``exp(c/M) - 1`` failures on average (the
    renewal argument of failures.expected_goodput), so the run needs ``intervals x that``."""
    fl = cfg.failures
    if not fl.enabled or steps <= 0:
        return
    step_s = cfg.analytic_step_time_s or cfg.pipeline.analytic_step_time()
    ck = cfg.checkpoint
    every = min(ck.every_steps, steps) if (ck.every_steps and ck.bytes > 0) else steps
    c = every * step_s + (ck.pause_s()[0] if every < steps else 0.0)
    x = c / fl.mtbf_s
    # log10 of the count: exp(x) overflows a float past x ~ 709 (the message said "about inf failures")
    log10 = math.log10(steps / every) + (math.log10(math.expm1(x)) if x < 700 else x / math.log(10))
    if log10 > math.log10(MAX_FAILURES):
        raise TooLargeError("checkpoint.mtbf_hours_per_node", (
            f"too large: {failures_text(log10)} failures expected before {steps:,} steps complete (job MTBF "
            f"{fl.mtbf_s:.3g} s = per-node MTBF / {count_of(fl.nodes, 'node')}, {c:.3g} s of work between durable "
            f"checkpoints, {fmt_sig(x)} MTBFs); the simulator stops at {MAX_FAILURES:,} — raise the MTBF or "
            "checkpoint more often"))


def failures_text(log10: float) -> str:
    """A failure count given as its log10, in words a person reads: "about 36,000" below a
    million, "about 10^17" above (never "inf": the count itself can overflow a float)."""
    if log10 < 6:
        return f"about {10 ** log10:,.0f}"
    return f"about 10^{log10:.0f}" if log10 < 1e6 else f"about 10^({log10:.3g})"


def _event_count(env) -> int:
    eid = getattr(env, "_eid", None)
    if eid is None:
        return 0
    return next(eid)


#: where a simulation reports its steps when its caller passes no ``progress`` (``progress(done, steps)``): the
#: answers' simulations inside ``planner simulate``'s progress bar (planner.workloads.simulation
#: ``run_simulate_command``), without a progress argument threaded through every answer
STEP_METER: ContextVar = ContextVar("planner_simulate_step_meter", default=None)


def simulate(cfg: SimConfig, steps: int = 1000, seed: int = 0, timeline: bool = False,
             sample_level: bool = False, steady_state: bool = True, timeline_max: int = 200_000,
             microbatch_timeline: bool = False, progress=None) -> SimResult:
    """Simulate ``steps`` training steps; see the module docstring for the model.

    ``steady_state``: once three consecutive windows of step times agree (batch means, after a
    warm-up window), stop the DES and extrapolate the remaining steps, evaluations and checkpoints
    (reported in ``extrapolated``/``steady_state_at_step``). Off when failures are simulated.
    ``progress``: called as ``progress(done, steps)`` as steps complete (for a progress bar).

    >>> from planner.simulate.config import PipelineConfig
    >>> r = simulate(SimConfig(PipelineConfig(t_fwd_mb=1.0, t_bwd_mb=2.0, pp=4, m=8)), steps=10)
    >>> round(r.step_time_s["mean"], 6)
    33.0
    """
    t_wall = time.perf_counter()
    check_failures(cfg, steps)
    run = _Run(cfg, steps, seed, timeline, sample_level, steady_state, timeline_max, microbatch_timeline)
    run.progress = progress if progress is not None else STEP_METER.get()
    run.progress_every = max(1, steps // 200)
    env = run.env
    run.start_generation()
    if cfg.failures.enabled:
        env.process(run.failures_proc())
    env.run(until=run.done)
    if run.too_large is not None:
        raise run.too_large
    events = _event_count(env)
    for ld in run.loaders:
        if ld is not None:
            run.loader_blocked_s += ld.blocked_s
    sim_wall = env.now
    totals = dict(run.totals)
    simulated_steps = run.step
    notes = []
    extrap = False
    n_aw, t_aw, w_aw = run.after_warm
    steady_step = t_aw / n_aw if n_aw else None
    steady_wait = w_aw / t_aw if t_aw else None
    if run.step < steps:  # steady state reached: extrapolate the rest
        extrap = True
        wm = list(run.window_split)[-4:-1]  # the last three complete windows
        W = run.window_size()
        n_rest = steps - run.step
        per_step = {k: sum(w[k] for w in wm) / (len(wm) * W) for k in _STEP_CAUSES}
        for k, v in per_step.items():
            totals[k] += v * n_rest
        rest_wall = sum(per_step.values()) * n_rest
        busy_per_step = run.busy_gpu_s / max(run.step, 1)
        run.busy_gpu_s += busy_per_step * n_rest
        e, ck = cfg.evaluation, cfg.checkpoint
        if e.every_steps and e.samples > 0:
            # the remaining passes: the run's minus those already played (SimConfig.eval_run counts them by kind,
            # as the analytic plan does); one eval_time call per pass cost ~2.6M calls (two minutes) at 1e8 steps
            te = cfg.eval_run(steps)["seconds"] - cfg.eval_run(run.step)["seconds"]
            totals["eval"] += te
            rest_wall += te
        if ck.every_steps and ck.bytes > 0:
            n_ck = steps // ck.every_steps - run.step // ck.every_steps
            blk = ck.pause_s(ck.every_steps * sum(per_step.values()))[0]
            totals["checkpoint"] += n_ck * blk
            rest_wall += n_ck * blk
        sim_wall += rest_wall
        steady_step = sum(per_step.values())
        steady_wait = per_step["data"] / steady_step if steady_step else None
        notes.append(f"steady state detected at step {run.steady_at}; steps {run.step + 1}-{steps} "
                     "extrapolated from the last three windows")
    wall = sum(totals.values()) if totals else sim_wall
    wall = max(wall, 1e-30)
    d = np.asarray(run.durations) if len(run.durations) else np.zeros(1)
    p = cfg.pipeline
    samples = steps * p.samples_per_step
    idle = {k: totals[k] / wall for k in CAUSES if k not in BUSY}
    busy = run.busy_gpu_s / (p.dp * wall)
    kept_train = sum(totals[k] for k in _STEP_CAUSES)
    ld, st = cfg.loader, run.storage
    data = {"data_wait_share": totals["data"] / wall, "steady_data_wait_share": steady_wait}
    if ld is not None and ld.device_bytes:
        # the host copies the simulation plays and the analytic step leaves out: the H2D copy on the compute stream
        # before each micro-batch's forward (unless ``h2d_overlap`` puts it on a side stream) and the pin thread's
        # staging copy, which the loaders' lead hides only when they run ahead; the simulated p50 sat 16% over
        # estimate's step on the ResNet-50 files example with neither said (QA 56)
        data.update(h2d_s_per_step=0.0 if ld.h2d_overlap else p.m * ld.h2d_s(p.micro_batch),
                    pin_s_per_step=p.m * ld.pin_s(p.micro_batch), h2d_Bps=ld.h2d_bw,
                    pin_Bps=ld.pin_bw if ld.pin_memory else None)
    if st is not None:
        # the request and byte rates the consumed samples need (LoaderConfig.storage_requests_per_sample,
        # storage_bytes_per_sample): what was served by the end also held the shards each worker had opened ahead of
        # what training consumed (one GET for a whole shard; 184 loader workers open 184 at the start) and the
        # prefetched batches' reads: ResNet-50 on 256 MB shards read 12.3 GET/s for 11.8 consumed, and until the left3
        # pass (2026-12-02) its storage_read_Bps, the bytes served over the simulated time, was 3.19 GB/s for the
        # 2.92 GB/s its consumed images need over 100 steps (+9%; +3.5% over 200). storage_bytes_read and
        # storage_requests stay the totals the loaders booked, read-ahead included
        data.update(storage_bytes_read=st.bytes_read, storage_requests=st.requests,
                    storage_requests_per_s=samples / wall * ld.storage_requests_per_sample(),
                    storage_read_Bps=samples / wall * ld.storage_bytes_per_sample(),
                    loader_blocked_share=run.loader_blocked_s / max(env.now * p.dp * max(ld.workers, 1), 1e-30),
                    loader_workers=run.loaders[0].W if run.loaders and run.loaders[0] else ld.workers)
    if cfg.failures.enabled:
        notes.append(f"{count_of(run.failures, 'failure')}, {count_of(run.lost_steps, 'step')} redone")  # not "1 failures"
    notes.extend(group_words(cfg))
    return SimResult(
        steps=steps, simulated_steps=simulated_steps, wall_s=wall,
        step_time_s={"mean": float(d.mean()), "p50": float(np.percentile(d, 50)),
                     "p99": float(np.percentile(d, 99)), "std": float(d.std())},
        samples_per_s=samples / wall, tokens_per_s=samples * p.tokens_per_sample / wall if p.tokens_per_sample else None,
        steady_step_time_s=steady_step,
        steady_samples_per_s=p.samples_per_step / steady_step if steady_step else None,
        gpu_busy_share=busy, time_by_cause_s=totals, idle_share_by_cause=idle,
        goodput=kept_train / wall, failures=run.failures, lost_steps=run.lost_steps, data=data,
        analytic_step_time_s=cfg.analytic_step_time_s, extrapolated=extrap,
        steady_state_at_step=run.steady_at, events=events,
        runtime_s=time.perf_counter() - t_wall, seed=seed, notes=notes, timeline=run.timeline,
        microbatch_group=cfg.microbatch_group,
    )


def group_words(cfg: SimConfig) -> list[str]:
    """The line a run simulated in micro-batch groups carries (``group_for``), none for one batch per micro-batch."""
    g, m = cfg.microbatch_group, cfg.pipeline.m
    if g <= 1:
        return []
    return [f"bounded: each replica's {m:,} micro-batches a step simulated as {m // g:,} loader batches of {g:,} "
            f"(a simulation's planned work is at most {PLANNED_WORK_BOUND:,} replica micro-batches); steady-state "
            "rates as with a batch per micro-batch, but the first steps wait for whole groups (their p99 longer)"]
