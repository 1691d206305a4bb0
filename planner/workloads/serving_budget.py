"""What a real-time serving plan's fleet costs a month and a year, the replica count's likely range and the monthly
cost it implies, and what moves the answer (more QPS, longer prompts, spot): ``serve --json``'s ``budget`` and
``accuracy``, the serving review's and the app's month, range and risks. Moved out of serving.py at session 34's
review (one concept, the plan's budget, in one module; serving.py had grown back to 2,436 lines).

Layer: under the planner (serving.py hands ``serving_budget`` the re-sizing of the plan's option as a function, so
this module names nothing of the screen), above the queues (pyproject.toml's import-linter contract)."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Optional

from planner.errors import InfeasibleError, InputError
from planner.results import ServingOption
from planner.simulate.interruptions import HOURS_PER_MONTH, rate_for
from planner.spec import ServingSpec
from planner.units import count_of, fmt_usd


#: the serving model's signed throughput error on published runs, predicted / measured requests/s - 1, its 10th and
#: 90th percentile: ``python benchmarks/validate_serving.py --csv F`` (shipped engine parameters, 2026-12-04), the 140
#: runs with a throughput (gpustack-h100 / -a100 8 each, trtllm-v1.0-offline 60, trtllm-v0.9-static 64; median +0.3%).
#: In-sample: the engine parameters were fitted on these runs; left out a source at a time they miss by more (README
#: "Errors": throughput median / p90 absolute 17 / 40% leave-one-source-out, 12 / 32% in-sample)
THROUGHPUT_ERROR = (-0.161, 0.305)
THROUGHPUT_ERROR_RUNS = 140
#: the same for models with sliding-window / chunked layers, held out (``validate_serving.py --swa``, 49 runs): the
#: model over-predicted every one, throughput p90 +122% (``LOCAL_ATTENTION_HELD_OUT``); the low end is the prediction
LOCAL_THROUGHPUT_ERROR = (0.0, 1.22)
LOCAL_THROUGHPUT_ERROR_RUNS = 49
#: simulated / analytic replicas over the 61 options of the chat and 70b examples
#: (``benchmarks/sim_vs_analytic_replicas.py``: 52 kept, 4 added, 5 removed, 0 missed since occup34): the least 0.80
#: (p4de.24xlarge TP1 5 -> 4), the most 1.65 (g5.48xlarge TP8 17 -> 28); an option the simulation did not size can be off by as much
ANALYTIC_TO_SIMULATED = (0.80, 1.65)
ANALYTIC_TO_SIMULATED_OPTIONS = 61
#: the QPS the budget's growth rows re-size the recommended option at, as multiples of the job's
QPS_GROWTH = (1.5, 2.0)
#: the prompt length the budget's prompt row re-sizes it at, a multiple of serving.prompt_tokens
PROMPT_GROWTH = 2.0


def replica_range(replicas: int, simulated: bool, local_attention: bool) -> tuple[int, int, str]:
    """(low, high, where from): the replicas a real deployment of the plan's option is likely to need. A real
    replica serves the predicted requests/s / (1 + e), e the serving model's signed throughput error on published
    runs (``THROUGHPUT_ERROR``, 10th-90th percentile; ``LOCAL_THROUGHPUT_ERROR`` for a model with local attention
    layers), so the fleet for the same QPS is ceil(replicas x (1 + e)); an option sized by the analytic screen alone
    (not simulated) is also off the simulated count by ``ANALYTIC_TO_SIMULATED``. A throughput-bound fleet scales so;
    a TTFT-bound one (its replicas held up by the queue) less, so the range is its upper bound there.

    >>> replica_range(7, True, False)[:2]
    (6, 10)
    >>> replica_range(7, False, False)[:2]
    (5, 16)
    """
    lo_e, hi_e = LOCAL_THROUGHPUT_ERROR if local_attention else THROUGHPUT_ERROR
    lo_s, hi_s = (1.0, 1.0) if simulated else ANALYTIC_TO_SIMULATED
    lo = max(1, math.ceil(replicas * lo_s * (1 + lo_e) - 1e-9))
    hi = max(lo, math.ceil(replicas * hi_s * (1 + hi_e) - 1e-9))
    runs = LOCAL_THROUGHPUT_ERROR_RUNS if local_attention else THROUGHPUT_ERROR_RUNS
    basis = ((f"the serving model over-predicted the throughput of all {runs} held-out published runs of models with "
              f"local attention layers, by {hi_e:.0%} at the 90th percentile (benchmarks/validate_serving.py --swa)")
             if local_attention else
             (f"the serving model's throughput ran {abs(lo_e):.1%} under to {hi_e:.1%} over the measured on {runs} "
              "published runs (10th-90th percentile, benchmarks/validate_serving.py; in-sample: runs it was not fitted "
              "on missed by more)"))
    if not simulated:
        basis += (f"; sized by the analytic screen, not simulated: the simulation moved the analytic count by "
                  f"{ANALYTIC_TO_SIMULATED[0]:.2f}x to {ANALYTIC_TO_SIMULATED[1]:.2f}x on "
                  f"{ANALYTIC_TO_SIMULATED_OPTIONS} options (benchmarks/sim_vs_analytic_replicas.py)")
    return lo, hi, basis


def _month(usd_hr: Optional[float]) -> Optional[float]:
    return usd_hr * HOURS_PER_MONTH if usd_hr is not None else None


def serving_budget(m, best: ServingOption, sp: ServingSpec, target, lim, local_attention: bool,
                   size: Callable[[ServingSpec, object], ServingOption]) -> Optional[dict]:
    """What a real-time plan's fleet costs a month and a year (``HOURS_PER_MONTH`` = 730 h a month, 8,760 a year, the
    catalog's on-demand $/h: a real-time replica is not put on spot), the replica count's likely range
    (``replica_range``) and the monthly cost it implies, and what moves the answer: the analytic screen of the same
    option (hardware, TP, precision) re-run at ``QPS_GROWTH`` x the QPS and at ``PROMPT_GROWTH`` x the prompt
    (``size(spec, target)``: serving.py's analytic screen and costs of the option, as the plan sized it; ``target`` a
    ``serving.ServeTarget``, ``lim`` the plan's ``serving.ServingLimits``), and spot (the fleet's nodes at the spot
    rate before interruptions, and the reclaims a month at the catalog's interruption rate,
    ``simulate.interruptions.rate_for``). None for an offline job, one without a QPS or an option without a price."""
    if sp.mode == "batch" or not target.qps or not best.usd_per_hr or not best.replicas:
        return None
    per_node = best.gpus_per_node // best.tp

    def month(r: int) -> float:
        return math.ceil(r / per_node) * best.price_usd_hr * HOURS_PER_MONTH

    simulated = bool(best.simulated)
    if m.is_transformer:
        lo, hi, basis = replica_range(best.replicas, simulated, local_attention)
        rng = [lim.floor(best.tp, lo), lim.floor(best.tp, hi)]
    else:  # the published runs are LLMs': a generic model's serving time (2 x its batch time) has no measured error
        rng, basis = None, ("no range: the serving model's measured error is on LLM runs (benchmarks/validate_serving.py), "
                            "none on a generic model's, whose latency is the training model's forward time")

    def resize(spec: ServingSpec, tgt) -> dict:
        try:  # a what-if row: a prompt past what the option can hold is an answer ("cannot serve it"), not an error
            row = size(spec, tgt)
        except (InputError, InfeasibleError) as e:
            return dict(replicas=None, usd_per_month=None, reason=str(e))
        if not row.meets_latency or not row.replicas:
            return dict(replicas=None, usd_per_month=None, reason=row.reason)
        return dict(replicas=row.replicas, nodes=row.nodes, usd_per_month=_month(row.usd_per_hr), batch=row.batch)

    base = resize(sp, target)  # the analytic screen at today's load: what the growth rows compare with
    growth = [dict(factor=f, qps=target.qps * f, **resize(sp, replace(target, qps=target.qps * f))) for f in QPS_GROWTH]
    prompt = None
    if m.is_transformer:
        longer = sp.model_copy(update={"prompt_tokens": int(round(sp.prompt_tokens * PROMPT_GROWTH))})
        prompt = dict(factor=PROMPT_GROWTH, prompt_tokens=longer.prompt_tokens, **resize(longer, target))
    spot = None
    if best.price_spot_usd_hr:
        rate = rate_for(best.hardware.split(":")[0], best.gpu)
        nodes = best.nodes or math.ceil(best.replicas / per_node)
        spot = dict(usd_per_month_before_interruptions=nodes * best.price_spot_usd_hr * HOURS_PER_MONTH,
                    reclaims_per_month=nodes * rate.mid * HOURS_PER_MONTH,
                    reclaims_per_month_range=[nodes * rate.low * HOURS_PER_MONTH, nodes * rate.high * HOURS_PER_MONTH],
                    capacity_wait_minutes=rate.capacity_wait_s / 60, source=rate.source)
    return dict(hours_per_month=HOURS_PER_MONTH, qps=target.qps, price="on-demand", usd_per_hr=best.usd_per_hr,
                usd_per_month=_month(best.usd_per_hr), usd_per_year=best.usd_per_hr * HOURS_PER_MONTH * 12,
                replicas=best.replicas, sized_by="simulated" if simulated else "analytic",
                replicas_range=rng, usd_per_month_range=[month(r) for r in rng] if rng else None, range_basis=basis,
                analytic_replicas=base.get("replicas"), qps_growth=growth, prompt_growth=prompt, spot=spot)


def range_cell(b: dict) -> str:
    """The likely range of a plan's fleet (``serving_budget``'s ``replicas_range`` and the months it implies) in
    words, or why it has none (a generic model): the serving review's cell, the app's line, ``budget_accuracy``."""
    if not b["replicas_range"]:
        return b["range_basis"]
    (lo, hi), (ml, mh) = b["replicas_range"], b["usd_per_month_range"]
    return f"{lo:,} to {hi:,} replicas, {fmt_usd(ml)} to {fmt_usd(mh)} a month"


def budget_accuracy(b: dict) -> str:
    """The plan's likely range in one line (``serve --json``'s ``accuracy``, the terminal's and the report's)."""
    if not b["replicas_range"]:
        return b["range_basis"]
    return (f"likely range {range_cell(b)} on-demand (730 h a "
            f"month; predicted {count_of(b['replicas'], 'replica')}, {fmt_usd(b['usd_per_month'])} a month, sized by the "
            f"{'simulation' if b['sized_by'] == 'simulated' else 'analytic screen'}): {b['range_basis']}")
