"""Workloads: what a job asks for, each a registry entry that plans a job and returns a typed result.

A command names what it wants (``estimate``, ``recommend``, ``serve``, ``simulate``); the job's
sections say which workload answers it (a ``tabular`` section makes ``recommend`` plan a GBDT
run instead of a neural training run). A ``campaign`` section adds the preprocessing-tax
comparison to whatever was planned. The shells (``planner.cli``, the app) only call ``plan`` and
render what comes back (``planner.present.terminal.RENDERERS`` is keyed by the same names).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from planner.errors import InfeasibleError, InputError
from planner.results import CampaignPlan
from planner.spec import JobSpec


@dataclass(frozen=True)
class Context:
    """What every workload may use besides the job: the catalog, a calibration profile, and the
    command's options."""

    catalog: Any
    profile: Any = None
    top: int = 10
    simulate: bool = True
    progress: Optional[Callable[[int, int, str], None]] = None
    steps: int = 1000  # simulate: training steps to simulate
    seed: int = 0
    timeline: bool = False
    answers: bool = True
    serving: Optional[dict] = None  # serve: SimSettings (arrivals, trace, seed, deadline) and precisions to search


@dataclass(frozen=True)
class Workload:
    """``plan(job, ctx)`` returns the result; ``train_cost(result) -> (hours, usd)`` is what a
    campaign compares its preprocessing against (None: the workload has no training run)."""

    name: str
    plan: Callable[[JobSpec, Context], Any]
    train_cost: Optional[Callable[[Any], tuple[float, float]]] = None


def _needs_model(job: JobSpec, command: str) -> None:
    if job.model is None:
        raise InputError("model", f"`planner {command}` needs a model section (a tabular job is planned by "
                                  "`planner recommend`)")


def _estimate(job, ctx):
    from planner.workloads.training import estimate_job

    _needs_model(job, "estimate")
    return estimate_job(job, ctx.catalog, ctx.profile)


def _training(job, ctx):
    from planner.workloads.training import recommend

    return recommend(job, ctx.catalog, ctx.profile, top=ctx.top, simulate=ctx.simulate, progress=ctx.progress)


def _tabular(job, ctx):
    from planner.workloads.tabular import plan_tabular

    if ctx.profile is not None:
        # a `planner calibrate` profile times a GPU's training steps; the GBDT rates come from calibration/gbdt.py's
        # profile or the job's own measured_rows_per_s. It was taken and changed nothing, unsaid (QA 37)
        raise InputError("--profile", "a calibration profile times GPU training steps and serving; a tabular (GBDT) "
                                      "job's rates are calibration/gbdt.py's (set tabular.measured_rows_per_s to "
                                      "your own): leave --profile out")
    return plan_tabular(job, ctx.catalog)


def _serving(job, ctx):
    from planner.workloads.serving import plan_serving

    _needs_model(job, "serve")
    return plan_serving(job, ctx.catalog, ctx.profile, simulate=ctx.simulate, progress=ctx.progress, **(ctx.serving or {}))


def _simulation(job, ctx):
    from planner.hardware.data_rates import measured_lines, with_measured_data
    from planner.model.physics import power_limit_line
    from planner.model.stack_rules import OPEN_SCHEDULE
    from planner.workloads.simulation import Simulation, run_simulate_command, unsimulated_spot, whole_run
    from planner.workloads.training import estimate_job

    _needs_model(job, "simulate")
    # the profile's data rates, resolved once for the estimate and the simulation (planner.hardware.data_rates)
    job = with_measured_data(job, ctx.profile)
    est = estimate_job(job, ctx.catalog, ctx.profile)
    if not est.fits:
        # a run of it stops out of memory at its first step: it was simulated as if it ran (a 1,000-layer model
        # on one node, 368,772 GiB a GPU, got "wall 6.5 d" and no word of memory)
        from planner.results import jsonable
        from planner.search.explain import misfit_lines

        raise InfeasibleError("memory", "; ".join(misfit_lines(jsonable(est))) + ": its run stops out of memory, so "
                              "there is no run to simulate (`planner estimate` shows where the memory goes, "
                              "`planner recommend` finds a layout that fits)")
    res, ans = run_simulate_command(job, est, steps=ctx.steps, seed=ctx.seed, timeline=ctx.timeline,
                                    answers=ctx.answers, progress=ctx.progress)
    res.notes.extend(unsimulated_spot(job, est))
    res.notes.extend(whole_run(est, res))
    # the pipeline schedule an open parallel.schedule took (the stack's own: GPipe on MaxText) is the run's, said here
    res.notes.extend(a for a in est.assumptions if a.startswith(OPEN_SCHEDULE))
    # and the power limit its GPUs are held at (cluster.power_limit_w): the clock the simulated steps ran at, said as
    # estimate says it (the text had the wattage in the plan's name alone)
    res.notes.extend(a for a in [power_limit_line(est.assumptions)] if a)
    return Simulation(result=res, answers=ans, estimate=est, measured=measured_lines(job))


WORKLOADS = {w.name: w for w in (
    # a campaign's training part at the price and time the plan is quoted at: a spot job's expected ones
    # (None where the plan has no price: the campaign says its training is unpriced, not "$0.00")
    Workload("estimate", _estimate, lambda r: (r.cost.hours_at(bool(r.cost.spot_risk)),
                                               r.cost.price(bool(r.cost.spot_risk)))),
    Workload("training", _training, lambda r: (r.best.cost.hours_at(r.spot), r.best.cost.price(r.spot))),
    Workload("tabular", _tabular, lambda r: (r.best.hours, r.best.cost_usd)),
    Workload("serving", _serving),
    Workload("simulation", _simulation),
)}

def _trains(name: str, command: str) -> Callable[[JobSpec], str]:
    """A training command's workload. A job with a ``serving`` section and no ``training`` one describes
    serving: planning it as pre-training on defaulted tokens (what recommend/estimate/simulate did, down to
    a `recommend --emit slurm` of pretrain_gpt.py) answers a question nobody asked."""
    def pick(job: JobSpec) -> str:
        if job.serving is not None and job.tabular is None and "training" not in job.model_fields_set:
            raise InputError("serving", f"the job has a serving section and no training section: plan it with "
                                        f"`planner serve`; `planner {command}` plans training (add a training section)")
        return name
    return pick


#: which workload answers a command, given the job's sections
COMMANDS: dict[str, Callable[[JobSpec], str]] = {
    "estimate": _trains("estimate", "estimate"),
    "recommend": lambda job: "tabular" if job.tabular is not None else _trains("training", "recommend")(job),
    # recommend's search under its own name: a serving job was told "`planner recommend` plans training"
    "compare": lambda job: "tabular" if job.tabular is not None else _trains("training", "compare")(job),
    "serve": lambda job: "serving",
    "simulate": _trains("simulation", "simulate"),
}


@dataclass(frozen=True)
class Planned:
    """A command's answer: which workload, its result, and the campaign comparison if asked."""

    workload: str
    result: Any
    campaign: Optional[CampaignPlan] = None


def plan(command: str, job: JobSpec, ctx: Context) -> Planned:
    """Plan ``job`` for ``command``; the one entry point the shells use."""
    w = WORKLOADS[COMMANDS[command](job)]
    if job.campaign is not None:
        from planner.workloads.campaign import parse_campaign

        # checked whichever command reads the job, before its search: `simulate` and `serve`, which answer no
        # campaign, took `experiments_per_week: 1e9` that `estimate` refused
        parse_campaign(job.campaign)
    res = w.plan(job, ctx)
    camp = None
    if job.campaign is not None and w.train_cost is not None:
        from planner.workloads.campaign import plan_campaign

        hours, usd = w.train_cost(res)
        camp = plan_campaign(job, {"hours": hours, "usd": usd}, ctx.catalog)
    return Planned(w.name, res, camp)
