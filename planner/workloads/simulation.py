"""``planner simulate``: the estimate of the job's one configuration, simulated step by step
(data pipeline, pipeline schedule, DP sync, evaluation, checkpoints, failures), and the questions
the job's sections ask, answered by more simulations (``planner.simulate.answers``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.results import Record
from planner.simulate.config import SimConfig
from planner.simulate.engine import SimResult, simulate
from planner.simulate import answers as A


@dataclass(frozen=True)
class Simulation(Record):
    """A simulated run and the answers to the job's questions."""

    result: SimResult
    answers: dict
    estimate: Any  # the Plan it started from

    def to_json(self) -> dict:
        out = self.result.to_dict()
        out["answers"] = self.answers
        if self.estimate is not None:  # the plan simulated, as estimate's JSON names it (the text's first line)
            from planner.results import jsonable

            out["hardware"] = jsonable(self.estimate.hardware)
            out["config"] = jsonable(self.estimate.config)
        return out


def job_answers(job, cfg: SimConfig, result: SimResult, steps: int = 300, seed: int = 0,
                tick=None) -> dict:
    """The questions a job's sections ask, answered by simulation (answers.py): loader workers,
    caching and shard size when it has ``data``; evaluation share and tiered-evaluation saving
    when it has ``evaluation``; the goodput-optimal checkpoint interval when
    ``checkpoint.mtbf_hours_per_node`` is set. ``tick(name)`` is called before each question."""

    tick = tick or (lambda name: None)
    out = {}
    if cfg.loader is not None:
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


def run_simulate_command(job, est, steps: int = 1000, seed: int = 0, timeline: bool = False,
                         answers: bool = True, progress=None):
    """What ``planner simulate`` computes: the SimConfig from the estimate row and the job, the
    simulation, and the answers. Returns (SimResult, answers dict). ``progress(done, total,
    what)`` is called as the run advances. Printing and writing files are the CLI's job."""
    cfg = SimConfig.from_estimate(est, job)
    n_q = 0
    if answers:
        n_q = (3 if cfg.loader is not None else 0) + (1 if cfg.evaluation.every_steps and cfg.evaluation.samples else 0) \
            + (1 if cfg.failures.enabled else 0)
    total = steps + n_q * max(steps // 10, 1)
    cb = (lambda done, _n: progress(done, total, "simulating steps")) if progress else None
    res = simulate(cfg, steps=steps, seed=seed, timeline=timeline, progress=cb)
    ans = {}
    if answers and n_q:
        state = {"k": 0}

        def tick(name):
            if progress:
                progress(steps + state["k"] * max(steps // 10, 1), total, name)
            state["k"] += 1
        ans = job_answers(job, cfg, res, seed=seed, tick=tick)
    if progress:
        progress(total, total, "done")
    return res, ans
