"""``planner simulate``: the estimate of the job's one configuration, simulated step by step
(data pipeline, pipeline schedule, DP sync, evaluation, checkpoints, failures), and the questions
the job's sections ask, answered by more simulations (``planner.simulate.answers``)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from planner.results import Record
from planner.simulate.config import SimConfig
from planner.simulate.engine import (PLANNED_WORK_BOUND, STEP_METER, SimResult, group_for, planned_steps,
                                     planned_work, simulate)
from planner.simulate import answers as A
from planner.units import fmt_sig, fmt_steps, fmt_time


@dataclass(frozen=True)
class Simulation(Record):
    """A simulated run and the answers to the job's questions."""

    result: SimResult
    answers: dict
    estimate: Any  # the Plan it started from
    #: the calibration profile's data-pipeline measurements the run used, each with its source
    #: (planner.hardware.data_rates.measured_lines); printed beside the result
    measured: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out = self.result.to_dict()
        out["answers"] = self.answers
        if self.estimate is not None:  # the plan simulated, as estimate's JSON names it (the text's first line)
            from planner.results import jsonable

            out["hardware"] = jsonable(self.estimate.hardware)
            out["config"] = jsonable(self.estimate.config)
            cf = getattr(self.estimate.cost, "checkpoint_failures", None)
            if cf:  # the pauses' save size and write rate, the failures counted: the text's checkpoints line (QA 73)
                out["checkpoint_failures"] = jsonable(cf)
        if self.measured:
            out["measured"] = list(self.measured)
        return out


def job_answers(job, cfg: SimConfig, result: SimResult, steps: int = 300, seed: int = 0,
                tick=None) -> dict:
    """The questions a job's sections ask, answered by simulation (answers.py): loader workers,
    caching and shard size when it has ``data``; evaluation share and tiered-evaluation saving
    when it has ``evaluation``; the goodput-optimal checkpoint interval when
    ``checkpoint.mtbf_hours_per_node`` is set. ``tick(name)`` is called before each question.

    ``steps`` is a floor, not each question's length: the loader questions run at least four of the engine's
    steady-state windows (the loaders' warm-up, then three that must agree; ``answers.steps_for``) and stop once
    their step times settle, the evaluation question at least one tier cycle, and the checkpoint sweep is the
    closed form on the run's step time (no simulated horizon limits its intervals). Each answer says what it ran
    (``simulated``)."""

    tick = tick or (lambda name: None)
    cfg, bound = answers_bound(cfg, steps)
    out = {"bound": bound}
    if cfg.loader is not None and not bound["not_simulated"]:
        tick("loader workers")
        out["workers"] = A.workers_needed(cfg, steps=steps, seed=seed)
        tick("caching")
        out["cache"] = A.cache_worth_it(cfg, steps=steps, seed=seed)
        tick("shard size")
        out["shards"] = A.best_shard_size(cfg, steps=steps, seed=seed)
    e = cfg.evaluation
    if e.every_steps and e.samples > 0:
        tick("evaluation cadence")
        t = A.eval_tiering(cfg, steps=max(steps, e.tier_full_every * e.every_steps), seed=seed)
        # the run's own share when it evaluated; a run shorter than the cadence did not ("0.0% of wall time ...
        # tiered: 1.8%"): the tier comparison's full-set share then
        t["eval_share"] = (result.time_by_cause_s["eval"] / result.wall_s if result.steps >= e.every_steps
                           else t.get("eval_share_full", 0.0))
        out["evaluation"] = t
    if cfg.failures.enabled:
        tick("checkpoint interval")
        step_s = (result.steady_step_time_s or result.step_time_s["mean"])
        out["checkpoint"] = A.checkpoint_interval_sweep(cfg, step_s=step_s, seed=seed)
    return out


def answers_bound(cfg: SimConfig, steps: int = 300) -> tuple[SimConfig, dict]:
    """The answers' simulations bounded together: the work they plan (``answer_steps`` summed, every run its whole
    length, in ``engine.planned_work``'s replica micro-batches) kept within ``PLANNED_WORK_BOUND`` by simulating each
    replica's micro-batches in groups (``engine.group_for``), the same group in every run so the rows compare like
    with like. The loader questions are not simulated when even one loader batch per replica a step leaves them over
    it (a job of hundreds of replicas). Returns the config the answers run on and the bound's record (the JSON's
    ``answers.bound``, the text's line when it acted).

    QA 81: the ViT-B/16 job reading S3 files at micro-batch 1 (16 replicas x 256 micro-batches a step) planned 56.7
    million: 29 simulations of up to 300 steps of 4,096 loader batches, 15 minutes on this machine with no output.
    In groups of 32 it plans 1.77 million."""
    asked = sum(answer_steps(cfg, steps).values())
    g = group_for(cfg, asked, PLANNED_WORK_BOUND)
    grouped = replace(cfg, microbatch_group=g)
    planned = planned_work(grouped, asked)
    skip = cfg.loader is not None and planned > PLANNED_WORK_BOUND
    rec = {"work_bound": PLANNED_WORK_BOUND, "planned_work": planned,
           "planned_work_ungrouped": planned_work(cfg, asked), "microbatch_group": g, "not_simulated": ["loader workers", "caching", "shard size"] if skip else [],
           "words": _bound_words(cfg, asked, g, planned, skip)}
    return grouped, rec


def _bound_words(cfg: SimConfig, asked: int, g: int, planned: int, skip: bool) -> str:
    """What the answers' bound did, in words ("" when the answers ran as planned)."""
    m = cfg.pipeline.m
    if g <= 1 and not skip:
        return ""
    head = (f"the answers' simulations plan {planned_work(cfg, asked):,} replica micro-batches ({asked:,} steps x "
            f"{cfg.pipeline.dp:,} replicas x {m:,} micro-batches), over their {PLANNED_WORK_BOUND:,} bound")
    if skip:
        return head + ("; even one loader batch per replica a step leaves them over it: the loader questions "
                       "(workers, caching, shard size) are not simulated")
    return head + (f": each replica's micro-batches simulated in groups of {g:,} ({m // g:,} loader batches a step, "
                   f"{planned:,} planned); steady-state rates as with a batch per micro-batch")


def answer_steps(cfg: SimConfig, steps: int = 300) -> dict[str, int]:
    """The simulated steps each of ``job_answers``' questions asks for, at most (its simulations' ``steps``
    summed: the same grids and lengths the answers use; a scan that stops early, or a run the steady-state
    shortcut ends, asks for fewer): the weights of ``planner simulate``'s progress bar."""
    out = {}
    if cfg.loader is not None:
        ld = A.data_only(cfg).loader
        grid = set(A.WORKER_GRID) | ({ld.workers} if 0 < ld.workers <= max(A.WORKER_GRID) else set())
        out["loader workers"] = A.steps_for(steps, ld) + sum(A.steps_for(steps, replace(ld, workers=w)) for w in grid)
        out["caching"] = 3 * A.steps_for(steps, ld)  # as configured, raw and decoded caches
        out["shard size"] = (1 + len(A.SHARD_MB_GRID)) * A.steps_for(steps, ld)  # files, then each shard size
    e = cfg.evaluation
    if e.every_steps and e.samples > 0:
        cycle = e.every_steps * e.tier_full_every
        out["evaluation cadence"] = 0 if cycle > A.MAX_TIER_STEPS else 2 * max(steps, cycle)  # full, tiered
    if cfg.failures.enabled:
        out["checkpoint interval"] = 0  # closed form on the run's step time (checkpoint_interval_sweep)
    return out


class _StepBar:
    """``planner simulate``'s progress in simulated steps (``run_simulate_command``): the run's, then each answer's
    simulations as they report them (``engine.STEP_METER``), out of the run's steps plus what the answers ask for
    (``answer_steps``). A part that simulates fewer steps than it asked for (the steady-state shortcut, a scan that
    stops early) gives the rest back: the total shrinks, so the bar stays proportional to the steps still to run
    and only ever moves forward."""

    def __init__(self, progress, steps: int, budget: dict):
        self.progress, self.budget = progress, budget
        self.total = steps + sum(budget.values())
        self.cap, self.name, self.base, self.acc, self.done = steps, "simulating steps", 0, 0, 0

    def step(self, done, _n=None):  # one simulation's steps so far; a smaller count starts the next one
        if done <= self.done:  # (one simulation reports strictly rising counts)
            self.acc += self.done
        self.done = done
        self.progress(self.base + min(self.acc + done, self.cap), max(self.total, 1), self.name)

    def part(self, name: str):  # the next part starts: the last one's unused steps come off the total
        used = min(self.acc + self.done, self.cap)
        self.total -= self.cap - used
        self.base += used
        self.name, self.cap, self.acc, self.done = name, self.budget.get(name, 0), 0, 0
        self.progress(self.base, max(self.total, 1), name)


def unsimulated_spot(job, est) -> list[str]:
    """The line a ``constraints.spot`` job's simulation adds: the simulator plays node failures
    (``checkpoint.mtbf_hours_per_node``) but not spot interruptions, which ``estimate`` and ``recommend`` price
    analytically (planner/simulate/interruptions.py ``SpotModel``, from ``est.cost.spot_risk``). Until QA 34 the
    simulation of a spot job said "goodput 100.0%" beside estimate's "expected 1.1 interruptions (+0.7% time)"
    without a word of spot."""
    if not job.constraints.spot:
        return []
    risk = getattr(est.cost, "spot_risk", None) if est.cost is not None else None
    line = "constraints.spot: spot interruptions are not simulated (this run is uninterrupted)"
    if not risk:
        return [line]
    return [f"{line}; estimate and recommend price them: expected {risk['interruptions']:.1f} interruptions, "
            f"+{risk['overhead']:.1%} time, {fmt_time(risk['expected_hours'] * 3600)} for the whole run"]


def whole_run(est, res: SimResult) -> list[str]:
    """The line a simulation of fewer (or more) steps than the job's run adds: the run's length and its time at the
    simulated pace (wall / steps: warm-up, evaluation and checkpoint pauses included in the share this simulation met
    them), beside ``estimate``'s analytic figure. The table's "wall" is the ``--steps`` simulated, 1,000 by default:
    ResNet-50 reading 1.28 M JPEGs from S3 (90 epochs, 14,076 steps) read "wall 41.9 min" beside estimate's "44.4 min
    to train", a data-bound run that takes 9.8 h (QA 41).

    The ratio is of the two run times printed, and estimate's time holds what the simulation plays: its evaluation
    passes (in ``cost.hours``) and, where the job's checkpoint section sets them, its checkpoint pauses and node
    failures (``cost.checkpoint_failures.expected_hours``). QA 63: the ResNet-50 evaluation-cadence job read "the run
    takes 106.3 min, where estimate's 0.1889 s step gives 53.1 min (2.40x)", a ratio of steps beside times 2.00x
    apart; a checkpointed Llama-3-8B read "116.7 d, where estimate's 14.21 s step gives 78.4 d (1.49x)", estimate's
    figure without the failures the simulation played (its expected 129.8 d unsaid)."""
    run_steps = getattr(est.cost, "steps", None) if est.cost is not None else None
    if not run_steps or not res.steps or round(run_steps) == res.steps:
        return []
    pace = res.wall_s / res.steps
    est_s, words = _estimate_run(est)
    line = (f"the run: {fmt_steps(run_steps)}; this simulation played {res.steps:,} (--steps); at its "
            f"{fmt_sig(pace, 4)} s per step (wall / steps) the run takes {fmt_time(pace * run_steps)}, where {words}")
    ratio = pace * run_steps / est_s if est_s else None
    if ratio is not None and abs(ratio - 1) >= 0.02:
        line += f" ({ratio:.2f}x)"
    return [line]


def _estimate_run(est) -> tuple[float, str]:
    """``estimate``'s time for the whole run, seconds, with what the simulation plays beside the steps (evaluation
    passes, checkpoint pauses and node failures), and its words for ``whole_run``."""
    from planner.results import checkpoint_words

    c = est.cost
    ev = c.evaluation or {}
    words = f"estimate's {fmt_sig(est.step_time_s, 4)} s step"
    if ev.get("seconds"):
        words += f" and {fmt_time(ev['seconds'])} of evaluation give {fmt_time(c.hours * 3600)}"
    else:
        words += f" gives {fmt_time(c.hours * 3600)}"
    cf = c.checkpoint_failures or {}
    expected = cf.get("expected_hours")
    if expected is None or not expected < float("inf"):
        return c.hours * 3600, words
    return expected * 3600, words + f", {fmt_time(expected * 3600)} with {checkpoint_words(cf)}"


def run_simulate_command(job, est, steps: int = 1000, seed: int = 0, timeline: bool = False,
                         answers: bool = True, progress=None):
    """What ``planner simulate`` computes: the SimConfig from the estimate row and the job, the
    simulation, and the answers. Returns (SimResult, answers dict). ``progress(done, total,
    what)`` is called as the run advances, in simulated steps (``_StepBar``); until 2026-12-02 each answer
    counted a tenth of the run's steps whatever it simulated, so a 1,000-step ResNet-50 run filled 77% of the
    bar in its 0.35 s and the answers' 9.8 s (their 14,580 steps) the rest. Printing and writing files are
    the CLI's job."""
    cfg = SimConfig.from_estimate(est, job)
    budget = answer_steps(cfg) if answers else {}
    bar = _StepBar(progress, steps, budget) if progress else None
    # the run's planned work within PLANNED_WORK_BOUND (engine.group_for; the answers bound theirs in job_answers)
    run_cfg = replace(cfg, microbatch_group=group_for(cfg, planned_steps(cfg, steps), PLANNED_WORK_BOUND))
    res = simulate(run_cfg, steps=steps, seed=seed, timeline=timeline, progress=bar.step if bar else None)
    ans = {}
    if answers and budget:
        token = STEP_METER.set(bar.step) if bar else None
        try:
            ans = job_answers(job, cfg, res, seed=seed, tick=bar.part if bar else None)
        finally:
            if token is not None:
                STEP_METER.reset(token)
    if progress:
        progress(1, 1, "done")
    return res, ans
