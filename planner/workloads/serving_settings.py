"""Serving's simulation settings and the workloads it draws: how ``plan_serving`` (planner/workloads/serving.py)
confirms and refines the analytic size in the discrete-event simulation (planner/simulate/serving.py).

``SimSettings`` (the search and confirmation runs, the token budgets tried, how many options are simulated, the plan's
engine-event bound) and ``settings_for``, which reads them from a job's ``serving`` section with the ``serve`` flags on
top; the simulation-only inputs an analytic plan leaves unused (``SIM_ONLY_INPUTS``, ``unused_sim_inputs``,
``backlog_arrivals``); an offline job's one deadline (``offline_deadline``); the simulated lengths (``length_dists``:
lognormal around the job's means, clipped at ``LENGTH_CLIP`` x the mean and to the model's context) and the workloads
drawn from them or read from a trace (``draw_workload``, ``sim_workload``). ``REALTIME_TOKEN_BUDGET`` is here because
both the screen (serving.py's ``llm_ttft``) and the first simulated setting use it.

Moved from serving.py (2026-12-04, serve32), the code unchanged; ``_deadline``, ``_draw`` and ``_workload`` lost
their underscore as they now cross a module. It imports nothing from the serving modules (pyproject.toml's serving
layers contract).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from pydantic import ValidationError

from hardware_catalog.errors import from_validation
from hardware_catalog.files import is_python_only_number
from planner import defaults as D
from planner.defaults import PLAN_EVENT_BOUND
from planner.errors import InputError, clip
from planner.simulate.serving import ArrivalSpec, LengthDist, load_trace, make_workload
from planner.spec import JobSpec, ServingSpec
from planner.spec.schema import event_bound_value
from planner.units import fmt_rate


#: the token budget (vLLM ``max_num_batched_tokens``, Sarathi-Serve's chunk size) a real-time replica is screened at:
#: the first the simulation tries (``SimSettings.token_budgets``) and vLLM V1's online-serving default (2048)
REALTIME_TOKEN_BUDGET = 2048
#: the token budgets the simulation tries for a real-time option (``SimSettings.token_budgets``): the default, a small
#: chunk (Sarathi-Serve's 512: fewer prompt tokens per step, shorter stalls for the decodes beside them) and a large
#: one; the screen's TPOT is at the best of them (``serving_screen.llm_option``)
REALTIME_TOKEN_BUDGETS = (REALTIME_TOKEN_BUDGET, 512, 8192)


def offline_deadline(job: JobSpec, given: Optional[float],
                     given_field: str = "serving.deadline_hours") -> Optional[float]:
    """An offline job's one deadline: ``given`` (``serving.deadline_hours``, or the --deadline-hours flag that
    overrides it) or ``constraints.deadline_hours``, the same thing in the training section's words; both set and
    different is refused, naming both (which one would a plan keep?)."""
    con = job.constraints.deadline_hours if "training" not in job.model_fields_set else None  # else training's
    if con is not None and given is not None and con != given:
        raise InputError("constraints.deadline_hours", f"{con:g} h differs from {given_field} ({given:g} h): they are "
                                                       "the same deadline of an offline job; give one")
    return given if given is not None else con


def typed_number(text):
    """A flag's text as the number it reads (a whole one as an int: "got 0", not qa66's "got 0.0"; 1e9 not
    "1000000000.0"), for the refusal to quote back as typed ("got '12.5'" was text); other text, and a number only
    Python reads (``٥٠٠٠``, ``２``: hardware_catalog.files ``is_python_only_number``, QA 102, where ``float`` had made
    ``--deadline-hours ٢`` a 2-hour deadline and quoted ``--plan-event-bound ٥٠٠٠`` back as "got 5000"), as given."""
    if not isinstance(text, str) or is_python_only_number(text):
        return text
    try:
        x = float(text)
    except ValueError:
        return text
    return int(x) if x.is_integer() else x


def settings_for(job: JobSpec, **overrides) -> "SimSettings":
    """The simulation settings of a job's ``serving`` section, with the CLI's flags (``overrides``
    that are not None) on top. ``plan_event_bound`` (``--plan-event-bound``) holds to the job field's bounds
    (``event_bound_value``) and the settings say where the bound came from (``plan_event_bound_from``)."""
    s = job.serving
    flag_bound = overrides.get("plan_event_bound")
    if flag_bound is not None:
        try:  # the field's own check, refused under the flag's name
            overrides = {**overrides, "plan_event_bound": event_bound_value(flag_bound)}
        except ValueError as e:
            raise InputError("--plan-event-bound", f"{e}, got {clip(typed_number(flag_bound))}") from None
    flag_h = overrides.get("deadline_hours")
    if flag_h is not None:
        # the flag holds to serving.deadline_hours' own bounds (the schema's): ``--deadline-hours inf`` or 1e300 was
        # planned as a deadline ("1 replica finishes in ...") where the same value in the job file is refused
        # (the flag arrives as the text typed, so "abc" is refused in the same words as in the file)
        flag_h = typed_number(flag_h)  # quoted back as the number typed, not as text ("got '-1'")
        try:
            flag_h = ServingSpec.model_validate({"deadline_hours": flag_h}).deadline_hours
        except ValidationError as e:
            raise InputError("--deadline-hours", from_validation(e).message) from None
        overrides = {**overrides, "deadline_hours": flag_h}
    if flag_h is not None and s is not None and s.mode != "batch":
        # a real-time job is sized for its QPS; the flag was silently ignored
        raise InputError("--deadline-hours", f"applies to offline jobs (serving.mode: batch); this job is {s.mode}, "
                                             "sized for serving.qps")
    trace = overrides.get("trace") or (s.trace if s is not None else None)
    if trace and s is not None and s.mode == "batch":
        # an offline backlog queues every request at once at the job's lengths: the trace was silently ignored
        raise InputError("--trace" if overrides.get("trace") else "serving.trace",
                         "applies to real-time jobs (serving.mode: realtime); an offline backlog queues its requests "
                         "at once, at serving.prompt_tokens + output_tokens")
    base = dict(arrivals=s.arrivals.kind, burst=_burst_shape(s), trace=s.trace, length_cv=s.length_cv, margin=s.margin,
                deadline_hours=s.deadline_hours, plan_event_bound=s.plan_event_bound) if s is not None else {}
    base.update({k: v for k, v in overrides.items() if v is not None})
    # where each simulation-only input came from, when it was given at all (the flag over the job field)
    given = tuple((u.field, u.flag if overrides.get(u.field) is not None else u.job_field) for u in SIM_ONLY_INPUTS
                  if overrides.get(u.field) is not None
                  or (u.job_field and s is not None and u.field in s.model_fields_set))
    base.update(given=given, plan_event_bound_from=dict(given).get("plan_event_bound", "default"))
    if s is not None and s.mode == "batch":  # constraints.deadline_hours is the same deadline (``offline_deadline``)
        flag = overrides.get("deadline_hours") is not None
        base["deadline_hours"] = offline_deadline(job, base.get("deadline_hours"),
                                                  "--deadline-hours" if flag else "serving.deadline_hours")
    return SimSettings(**base)


def _burst_shape(s: ServingSpec) -> tuple[float, float, float]:
    """The job's mmpp burst shape (``serving.arrivals``: factor, share, mean burst s; the defaults where not given)."""
    a = s.arrivals
    return a.burst_factor, a.burst_share, a.burst_s


@dataclass(frozen=True)
class SimOnlyInput:
    """An input only the serving simulation reads: its ``SimSettings`` field, the ``serve`` flag and the job field
    (None: flag only) that set it, and what did not happen when the plan was analytic (``unused_sim_inputs``)."""
    field: str
    flag: str
    job_field: Optional[str]
    unused: str
    fmt: str = ""  # the value's format spec in the note (a bound's thousands separators)


#: inputs that change only a simulated plan: given (``SimSettings.given``) to a plan that is analytic (--no-simulate,
#: or a plan the simulation does not model) they were silently ignored, so the plan says so (``unused_sim_inputs``)
SIM_ONLY_INPUTS = (
    SimOnlyInput("plan_event_bound", "--plan-event-bound", "serving.plan_event_bound",
                 "no engine events ran; simulate (drop --no-simulate) to run under it", ","),
    SimOnlyInput("seed", "--seed", None, "nothing random was drawn; simulate (drop --no-simulate) to use it"),
    SimOnlyInput("arrivals", "--arrivals", "serving.arrivals",
                 "no arrivals were simulated; simulate (drop --no-simulate) to use them"),
)


def unused_sim_inputs(sim: "SimSettings", skip: tuple[str, ...] = (), why: Optional[str] = None) -> list[str]:
    """One note per simulation-only input given (``SimSettings.given``, ``SIM_ONLY_INPUTS``' order; not those in
    ``skip``, said another way by the caller) that an analytic plan did not use. ``why``: why the plan is analytic
    where --no-simulate is not the reason, in place of the note's "simulate (drop --no-simulate) to ..." (a real-time
    job without ``serving.qps``, with ``serving.arrivals: mmpp`` and no flag, was told to drop a --no-simulate it never
    gave, QA 57).

    >>> unused_sim_inputs(SimSettings(seed=7, given=(("seed", "--seed"),)))
    ['--seed 7 not used: the plan is analytic (not simulated), so nothing random was drawn; simulate (drop --no-simulate) to use it']
    """
    src = dict(sim.given)
    return [f"{src[u.field]} {getattr(sim, u.field):{u.fmt}} not used: the plan is analytic (not simulated), so "
            + (u.unused if why is None else u.unused.split("; ")[0] + f"; {why}")
            for u in SIM_ONLY_INPUTS if u.field in src and u.field not in skip]


def backlog_arrivals(sim: "SimSettings") -> list[str]:
    """The note for an arrival process given to an offline (batch) job, simulated or not: its backlog queues every
    request at the start (``ArrivalSpec("burst")``), so no arrival process applies -- it was ignored unsaid.

    >>> backlog_arrivals(SimSettings(arrivals="mmpp", given=(("arrivals", "--arrivals"),)))
    ['--arrivals mmpp not used: an offline backlog queues every request at the start, so no arrival process applies']
    """
    src = dict(sim.given)
    return ([f"{src['arrivals']} {sim.arrivals} not used: an offline backlog queues every request at the start, so no "
             "arrival process applies"] if "arrivals" in src else [])


# engine events all of one plan's simulations run together: ``planner.defaults.PLAN_EVENT_BOUND`` (its reason
# there), the job's ``serving.plan_event_bound`` or ``serve --plan-event-bound`` (``settings_for``), counted by
# ``SimBudget`` (one made per plan by ``budget_for``)


@dataclass(frozen=True)
class SimSettings:
    """How ``plan_serving`` confirms and refines the analytic size in simulation
    (planner/simulate/serving.py).

    Lengths are lognormal around the job's prompt/output means with coefficient of variation
    ``length_cv`` (``length_dists``: clipped at 4x the mean and to the model's context) unless ``trace`` gives the requests. ``margin``: the
    simulated p99s must sit this far under the targets (0.1 = 10% headroom). The search simulates
    ``search_s`` seconds (at most ``search_requests`` requests) per trial; the chosen size is then
    confirmed on a fresh seed over ``confirm_s`` seconds (at most ``confirm_requests``); either run
    is stretched to hold ``min_requests`` requests on average at a low QPS.
    ``token_budgets``: the ``max_num_batched_tokens`` values tried (vLLM's knob; Sarathi-Serve's
    chunk size). ``candidates``: at most this many of the cheapest analytic options are simulated
    (fewer once the next one's analytic cost at one replica fewer cannot beat the best simulated cost)."""

    arrivals: str = "poisson"
    #: the mmpp burst shape (``serving.arrivals``'s burst_factor, burst_share, burst_s; ``arrival_spec``), used when
    #: ``arrivals`` is mmpp (the job's, or --arrivals mmpp's)
    burst: tuple = (D.MMPP_BURST_FACTOR, D.MMPP_BURST_SHARE, D.MMPP_BURST_S)
    trace: Optional[str] = None
    length_cv: float = 0.5
    margin: float = 0.10
    seed: int = 0
    search_s: float = 180.0
    search_requests: int = 8_000
    confirm_s: float = 600.0
    confirm_requests: int = 30_000
    #: a run lasts long enough for this many requests on average, however low the QPS (a p99 of
    #: the handful of requests 180 s hold at 0.01 QPS means nothing, and at 0.001 QPS there were none)
    min_requests: int = 200
    token_budgets: tuple = REALTIME_TOKEN_BUDGETS
    candidates: int = 4
    max_replica_factor: float = 4.0  # give up on an option needing more than 4x the analytic replicas
    #: with no TTFT target, p99 TTFT must still stay under this: a queue that grows without bound
    #: (utilisation >= 1) would otherwise pass a TPOT-only target
    default_ttft_s: float = 10.0
    #: offered load per replica / its simulated saturated throughput must stay at or under this.
    #: A finite run cannot show a queue that grows slowly without bound (near utilisation 1 the
    #: relaxation time ~ 1/(1 - rho)^2 outlasts any affordable run), so stability is checked directly.
    max_utilisation: float = 0.95
    deadline_hours: Optional[float] = None  # offline jobs: finish ``requests`` within this time
    #: engine events all of a plan's simulations (and a latency-vs-QPS curve's) run together (``SimBudget``,
    #: ``budget_for``): the job's ``serving.plan_event_bound`` (``settings_for``), ``--plan-event-bound`` over it
    plan_event_bound: int = PLAN_EVENT_BOUND
    #: where ``plan_event_bound`` came from, said beside it: "default", "serving.plan_event_bound" or
    #: "--plan-event-bound"
    plan_event_bound_from: str = "default"
    #: the simulation-only inputs given (``SIM_ONLY_INPUTS``), as (field, where from: flag or job field) pairs;
    #: ``settings_for`` fills it, ``unused_sim_inputs`` names them beside an analytic plan
    given: tuple = ()


#: simulated prompt / output lengths are clipped at this multiple of their means
LENGTH_CLIP = 4


def length_caps(P: int, O: int, context: int | None = None) -> tuple[int, int]:
    """The longest (prompt, output) a request is drawn with (``length_dists``) and the analytic screen prices
    (``serving_queue.prompt_grid``): ``LENGTH_CLIP`` x each mean and, for a model with a stated context, prompt +
    output within it, the context split in the means' proportion (each share >= its mean, since the job's P + O
    fits) -- what a client respecting vLLM's ``max_model_len`` sends (vLLM refuses a prompt + max_tokens over it).

    >>> length_caps(6000, 1000), length_caps(6000, 1000, 8192), length_caps(64000, 200, 131072)
    ((24000, 4000), (7021, 1171), (130663, 409))
    """
    p_max, o_max = LENGTH_CLIP * P, LENGTH_CLIP * O
    if context:
        p_max = min(p_max, int(context * P / (P + O)))
        o_max = min(o_max, context - p_max)
    return p_max, o_max


def length_dists(s: ServingSpec, sim: SimSettings, context: int | None = None) -> tuple[LengthDist, LengthDist]:
    """The simulated (prompt, output) length distributions: lognormal around the job's means with
    ``sim.length_cv`` (fixed when 0), each clipped at ``LENGTH_CLIP`` x its mean and, for a model with a
    stated context (``ModelSpec.context_length``), so that no request's prompt + output exceeds it: the
    context is split in the means' proportion (each share >= its mean, since the job's P + O fits), as a
    client that respects vLLM's ``max_model_len`` sends. A mean of one token has one whole length: a spread drawn
    around it and rounded to whole tokens >= 1 raised it (``serving.output_tokens: 1`` drew a mean of 1.15 output
    tokens at cv 0.5, 14% of requests 2 to 4 tokens long, each with a TPOT the job's requests do not have; QA 37b).

    >>> p, o = length_dists(ServingSpec(prompt_tokens=6000, output_tokens=1000), SimSettings(), context=8192)
    >>> p.max, o.max, p.max + o.max <= 8192
    (7021, 1171, True)
    """
    P, O = s.prompt_tokens, s.output_tokens
    p_max, o_max = length_caps(P, O, context)
    cp, co = _cvs(s, sim)
    return (LengthDist(length_kind(P, cp), P, cp, max=p_max), LengthDist(length_kind(O, co), O, co, max=o_max))


def _cvs(s: ServingSpec, sim: SimSettings) -> tuple[float, float]:
    """The (prompt, output) spreads drawn: ``serving.prompt_length_cv`` / ``output_length_cv`` where given, else
    ``sim.length_cv`` (the job's ``serving.length_cv``)."""
    return (sim.length_cv if s.prompt_length_cv is None else s.prompt_length_cv,
            sim.length_cv if s.output_length_cv is None else s.output_length_cv)


def length_words(s: ServingSpec, sim: SimSettings) -> str:
    """The simulated lengths (``length_dists``) in words, for the assumptions."""
    cvs = dict(zip(("prompt", "output"), _cvs(s, sim)))
    kinds = {name: length_kind(mean, cvs[name]) for name, mean in (("prompt", s.prompt_tokens),
                                                                   ("output", s.output_tokens))}
    if set(kinds.values()) == {"fixed"}:
        return "simulated lengths: fixed at the means"
    if set(kinds.values()) == {"lognormal"} and cvs["prompt"] == cvs["output"]:
        return f"simulated lengths: lognormal around the means, cv {cvs['prompt']}"
    return "; ".join(f"simulated {k} lengths: " + (f"lognormal around the mean, cv {cvs[k]}" if d == "lognormal"
                                                  else "fixed at the mean") for k, d in kinds.items())


def arrival_spec(sim: SimSettings, qps: float, duration_s: float = 60.0) -> ArrivalSpec:
    """The arrivals the simulation draws at a mean of ``qps`` for ``duration_s``: ``sim.arrivals``, with the job's
    burst shape (``sim.burst``) when mmpp -- the one place the job's ``serving.arrivals`` fields reach the process."""
    f, share, length = sim.burst
    return ArrivalSpec(sim.arrivals, rate=qps, duration_s=duration_s, burst_ratio=f, burst_share=share, burst_s=length)


def arrivals_words(qps: float, sim: SimSettings, simulated: bool = True, fixed_fleet: bool = False) -> str:
    """The bursty (``mmpp``) arrivals the simulation draws at a mean of ``qps``, in words, for the assumptions: the two
    rates, the share of time at the high one and the mean burst (``arrival_spec``: the job's ``serving.arrivals``
    burst_factor, burst_share, burst_s, planner.defaults.MMPP_BURST_* where not given; ``_mmpp`` holds the mean at
    ``qps``). They set the answer: the Llama-3-8B chat example takes 14 g6e.xlarge replicas under the defaults where
    Poisson arrivals at the same 40 QPS take 7 (the high rate is 2.29x the mean), and nothing said what bursts were
    drawn (QA 57); until trace40 they could not be set. The analytic screen's p99s mix the burst and the time between
    (``burst_parts``; until serve41 every request at the burst rate), so an analytic plan (``simulated`` False) says
    them too, as the arrivals it was sized for. ``fixed_fleet`` (``serving.replicas``): ``qps`` is the QPS the fleet
    carries, found under bursts drawn at each QPS tried, so a steadier load lets the same replicas carry more."""
    a = arrival_spec(sim, qps)
    (hi_share, _, _), (_, low, _) = a.states()
    shape = ("the planner's default burst shape (planner.defaults.MMPP_BURST_*), not a measured one; set yours in "
             "serving.arrivals (burst_factor, burst_share, burst_s)"
             if sim.burst == (D.MMPP_BURST_FACTOR, D.MMPP_BURST_SHARE, D.MMPP_BURST_S)
             else "the job's burst shape (serving.arrivals)")
    return (f"{'simulated arrivals' if simulated else 'arrivals'}: mmpp (bursty), {fmt_rate(a.peak_rate)} QPS a {a.burst_share:.0%} share of "
            f"the time in bursts of {a.burst_s:g} s on average, {fmt_rate(low)} QPS between them (a {a.burst_ratio:g}x "
            f"swing; mean {fmt_rate(qps)} QPS): {shape}; the "
            + ("fleet's QPS is found under the bursts drawn at each QPS tried" if fixed_fleet else
               "replicas are sized for the bursts")
            + f" (the analytic screen's p99s over the {hi_share:.0%} of requests arriving in bursts and the rest, each "
            "at its own rate), so a steadier load "
            + ("lets the same replicas carry more (--arrivals poisson)" if fixed_fleet else
               "needs fewer (--arrivals poisson) and a real one is best replayed (--trace)"))


def length_kind(mean: float, cv: float) -> str:
    """The simulated lengths' distribution around ``mean`` tokens (``length_dists``): lognormal with spread ``cv``, or
    fixed without one or at a mean of one token (its only whole length >= 1 with that mean)."""
    return "fixed" if cv == 0 or mean <= 1 else "lognormal"


def draw_workload(s: ServingSpec, arrivals: ArrivalSpec, sim: SimSettings, context: int | None, seed: int):
    """A simulated workload at the job's lengths (``length_dists``). With a shared prefix of P_s tokens
    every prompt is the prefix + its own part, drawn around P - P_s with the same spread and clip
    (a prompt shorter than the system prompt it starts with does not exist)."""
    pd, od = length_dists(s, sim, context)
    ps = s.shared_prefix_tokens
    if not ps:
        return make_workload(arrivals, pd, od, seed=seed)
    own = s.prompt_tokens - ps
    wl = make_workload(arrivals, replace(pd, kind=length_kind(own, pd.cv), mean=own, max=pd.max - ps), od, seed=seed)
    return replace(wl, prompt=wl.prompt + ps)


def _trace_within_context(wl, m) -> None:
    """A trace's requests must fit the model's context: vLLM rejects a prompt + max_tokens over
    ``max_model_len``, so a plan sized for them would count requests no engine serves."""
    ctx = getattr(m, "context_length", None)
    if not ctx:
        return
    total = wl.prompt + wl.output
    over = int((total > ctx).sum())
    if over:
        raise InputError("serving.trace", f"{over:,} of {len(total):,} requests exceed {m.name}'s {ctx:,}-token "
                                          f"context (model.context_length; the longest: {int(total.max()):,} tokens)")


def sim_workload(s: ServingSpec, qps: float, seconds: float, cap: int, sim: SimSettings, seed: int, m=None):
    if sim.trace:
        wl = load_trace(sim.trace)
        _trace_within_context(wl, m)
        return wl
    dur = min(max(seconds, sim.min_requests / qps), cap / qps)
    return draw_workload(s, arrival_spec(sim, qps, dur), sim,
                         getattr(m, "context_length", None), seed)
