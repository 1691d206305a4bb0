"""The preprocessing tax: a campaign of experiments, each an expensive preprocessing stage then
training — re-run the preprocessing every time, or cache its artifact keyed by a hash of the
inputs and the transformation code. Shown by ``planner recommend``/``estimate`` when the job has
a ``campaign`` section.

    campaign:
      experiments_per_week: 10
      weeks: 4
      preprocess: {hours: 6, instance: aws:c7i.16xlarge, nodes: 1, output_gb: 400}
      cache: true
      invalidation_rate: 0.15      # share of experiments that change inputs or preprocessing code
      train: {hours: 3, usd: 120}  # per experiment; or taken from the job's recommended plan

**Cache key** = hash(transformation code, its parameters, the input manifest — object-store ETags
or file sizes + mtimes). Hashing the manifest rather than the bytes makes the key free to compute;
any change of code, parameters or inputs gives a new key (a miss), which ``invalidation_rate``
counts. The first experiment always misses.

Per campaign of E = experiments_per_week x weeks experiments with invalidation rate q:

    preprocess runs       = E                        (no cache)
                          = 1 + q (E - 1)            (cache: expected misses)
    hit cost / time       = output_gb / read_gbps    (fetch the artifact; ``fetch_gbps``, default
                                                      the instance's network bandwidth or 10 Gb/s)
    storage $             = versions x output_gb x $/GB-month x months the versions are kept
                            (every version kept to the end: an upper bound)
    iteration gap         = preprocess-or-fetch + train  (wall time from a change to its result)
    preprocess / hit $    = hours x nodes x $/node-h, each node billed at least 60 s (``cost.MIN_BILLED_S``)
    experiments per week  = min(requested, 168 h / gap)  when experiments run one after another

Training unpriced (the job's plan has no price: a bare ``cluster.gpu`` without ``cluster.price_usd_hr``): the
train and total columns leave training out and say so (``train_priced`` false, ``train_usd`` None); the savings
and the break-even do not depend on it (both strategies train every experiment).

Storage price default: S3 Standard, $0.023 per GB-month (aws.amazon.com/s3/pricing, first 50 TB,
us-east-1) — override with ``storage_usd_per_gb_month``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from pydantic import ConfigDict, Field

from planner.spec.schema import Strict

from planner.errors import InputError
from planner.results import CampaignCurve, CampaignPlan, CampaignScenario
from planner.spec import validate_section
from planner.units import HOURS_PER_MONTH
from hardware_catalog import load_catalog
from planner.model.cost import billed_hours

S3_STANDARD_USD_PER_GB_MONTH = 0.023
HOURS_PER_WEEK = 168.0
#: the storage months a campaign bills: the 730 h month every other $-a-month figure is at (QA 75: 52 / 12 weeks,
#: 728 h, was a second month)
WEEKS_PER_MONTH = HOURS_PER_MONTH / HOURS_PER_WEEK
DEFAULT_FETCH_GBPS = 10.0
CURVE_POINTS = 1000  # points of the cumulative-cost curve reported (a 5-million-experiment campaign printed 4.7 GB)


class PreprocessSpec(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # and no bools as numbers (Strict)
    hours: float = Field(gt=0, le=1e5)
    instance: Optional[str] = None  # catalog instance; its price and network are used
    nodes: int = Field(1, gt=0, le=100_000)
    usd_per_hour: Optional[float] = Field(None, gt=0, le=1e6)  # per node, overrides the catalog
    output_gb: float = Field(100.0, ge=0, le=1e9)  # artifact size


class TrainPart(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # and no bools as numbers (Strict)
    hours: float = Field(gt=0, le=1e6)
    usd: float = Field(ge=0, le=1e10)


class CampaignSpec(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # and no bools as numbers (Strict)
    experiments_per_week: float = Field(gt=0, le=10_000)
    weeks: float = Field(1.0, gt=0, le=520)
    preprocess: PreprocessSpec
    cache: bool = True
    invalidation_rate: float = Field(0.0, ge=0, le=1)
    storage_usd_per_gb_month: float = Field(S3_STANDARD_USD_PER_GB_MONTH, ge=0, le=100)
    fetch_gbps: Optional[float] = Field(None, gt=0, le=1e5)
    train: Optional[TrainPart] = None


def parse_campaign(raw: dict) -> CampaignSpec:
    return validate_section(CampaignSpec, raw, "campaign")


def plan_campaign(job, train: dict | None = None, catalog=None) -> CampaignPlan:
    """Compare no-cache and cache over the campaign. ``train`` = {hours, usd} per experiment from
    the job's recommended plan, unless ``campaign.train`` gives it."""
    c = parse_campaign(job.campaign)
    pp = c.preprocess
    tr = c.train.model_dump() if c.train else train
    if tr is None:
        raise InputError("campaign.train", "give {hours, usd} per experiment (the job has no training plan to take it from)")
    # a plan with no price (a bare cluster.gpu without cluster.price_usd_hr) trains at an unknown cost: it is left
    # out of the totals and said to be (it read "train $0.00" and totals without training)
    train_usd = tr.get("usd")
    priced = train_usd is not None and bool(np.isfinite(train_usd))
    tr = dict(tr, usd=float(train_usd) if priced else 0.0)
    price, net_gbps = pp.usd_per_hour, None
    if pp.instance:
        inst = (catalog or load_catalog()).instance(pp.instance)
        price = price or inst.price_ondemand
        net_gbps = inst.network_bw * 8 / 1e9 if inst.network_bw else None
    if price is None:
        raise InputError("campaign.preprocess.instance", "name an instance or give usd_per_hour")
    fetch_gbps = c.fetch_gbps or net_gbps or DEFAULT_FETCH_GBPS
    # a preprocessing run and a cache hit's fetch each hold the stage's nodes: billed as every rented run
    # (``cost.billed_hours``: at least the 60 s minimum a node)
    pre_usd = billed_hours(pp.hours) * pp.nodes * price
    fetch_h = pp.output_gb * 8 / fetch_gbps / 3600.0
    fetch_usd = billed_hours(fetch_h) * pp.nodes * price  # the stage's nodes wait while the artifact arrives
    E = c.experiments_per_week * c.weeks
    months = c.weeks / WEEKS_PER_MONTH
    q = c.invalidation_rate

    def scenario(cache: bool) -> CampaignScenario:
        misses = 1 + q * (E - 1) if cache else E
        hits = E - misses
        storage = misses * pp.output_gb * c.storage_usd_per_gb_month * months if cache else 0.0
        p_miss = misses / E
        gap = (p_miss * pp.hours + (1 - p_miss) * fetch_h if cache else pp.hours) + tr["hours"]
        cost = misses * pre_usd + hits * fetch_usd + storage + E * tr["usd"]
        return CampaignScenario(preprocess_runs=misses, cache_hits=hits, storage_usd=storage, cost_usd=cost,
                                preprocess_usd=misses * pre_usd + hits * fetch_usd,
                                train_usd=E * tr["usd"] if priced else None,
                                iteration_gap_hours=gap, experiments_per_week_max=HOURS_PER_WEEK / gap,
                                experiments_per_week=min(c.experiments_per_week, HOURS_PER_WEEK / gap),
                                wall_hours_serial=E * gap)

    no, yes = scenario(False), scenario(True)
    # cumulative cost after k experiments (expected), k = 1..E: where caching starts to win.
    # Both curves are linear in k, so the break-even is closed-form and the work does not grow with
    # E (up to 5.2 million experiments: 10,000 a week for 520 weeks); the curve itself is reported
    # at most at CURVE_POINTS experiments (every one for a campaign of that size or less).
    n = int(np.ceil(E))
    storage_per_version = pp.output_gb * c.storage_usd_per_gb_month * months

    def cum(k):
        k = np.asarray(k, dtype=np.float64)
        miss_k = 1 + q * (k - 1)
        # storage accrues per version for the rest of the campaign: charge it up front (upper bound)
        return (k * (pre_usd + tr["usd"]),
                miss_k * pre_usd + (k - miss_k) * fetch_usd + miss_k * storage_per_version + k * tr["usd"])

    win = _first_win(n, q, pre_usd, fetch_usd, storage_per_version, cum)
    k = np.unique(np.concatenate([np.round(np.linspace(1, n, min(n, CURVE_POINTS))), [win] if win else []]))
    cum_no, cum_yes = cum(k)
    chosen = yes if c.cache else no
    return CampaignPlan(
        experiments=E, weeks=c.weeks, invalidation_rate=q, preprocess_hours=pp.hours, preprocess_usd=pre_usd,
        fetch_hours=fetch_h, fetch_usd=fetch_usd, train_hours=tr["hours"], train_usd=tr["usd"] if priced else None,
        no_cache=no, cache=yes, chosen="cache" if c.cache else "no_cache",
        cache_wins_from_experiment=win,
        cumulative=CampaignCurve(experiments=tuple(k.tolist()), no_cache_usd=tuple(cum_no.tolist()),
                                 cache_usd=tuple(cum_yes.tolist())),
        savings_usd=no.cost_usd - yes.cost_usd, chosen_plan=chosen,
        sources=dict(storage=f"${c.storage_usd_per_gb_month}/GB-month"
                     + (" (S3 Standard, aws.amazon.com/s3/pricing)" if c.storage_usd_per_gb_month == S3_STANDARD_USD_PER_GB_MONTH else " (given)")
                     # what the storage $ is of (QA 57: $58.17 of the example's $219.14, an upper bound said in this
                     # module's docstring alone): every version billed for the whole campaign, none deleted
                     + (f", for each of the {yes.preprocess_runs:,.3g} expected versions of {pp.output_gb:,g} GB over "
                        f"the whole campaign ({months:.3g} months): none deleted and each billed from the start, an "
                        "upper bound" if c.cache or yes.storage_usd else ""),
                     fetch=f"{fetch_gbps:g} Gb/s" + (" (given)" if c.fetch_gbps else " (instance network)" if net_gbps else " (default)"),
                     # the rate the stage and each hit's fetch are billed at: the on-demand one, whatever the job's
                     # constraints.spot (QA 41: a spot job's training was at spot, its preprocessing at on-demand, unsaid)
                     preprocess=f"{pp.nodes:,} x {pp.instance or 'node'} at {price:g} $/h"
                     + (" (given)" if pp.usd_per_hour else " on-demand")
                     + (" (constraints.spot prices the training only)"
                        if getattr(job.constraints, "spot", False) else "")),
        train_priced=priced,
    )


def _first_win(n: int, q: float, pre: float, fetch: float, storage: float, cum) -> Optional[int]:
    """The first experiment k in 1..n after which caching has cost less in total, or None.

    cost_no(k) - cost_cache(k) = (k - 1) * ((1 - q)(pre - fetch) - q * storage) - storage: linear in
    k, so it turns positive at most once. The candidate from the closed form is checked (and moved
    by one where rounding puts it on the wrong side) with the same expressions as the curve."""
    slope = (1 - q) * (pre - fetch) - q * storage
    if slope <= 0:
        return None
    k0 = int(min(max(1.0, np.floor(1 + storage / slope)), n + 1))
    for k in (k0 - 1, k0, k0 + 1, k0 + 2):
        if 1 <= k <= n:
            no, yes = cum(k)
            if yes < no:
                return k
    return None
