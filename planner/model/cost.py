"""Time-to-train and money: rent (on-demand, spot) and buy (capex + power + hosting, amortised).

    steps        = tokens / (global_batch * seq_len * (1 - padding)) | steps | epochs * sequences / global_batch (rounded up:
                   the last step partial; an epoch below one global batch is refused, planner.spec.load)
    sequences    = examples (padded) | examples * mean_example_tokens / seq_len (packed, concatenated)
    hours        = steps * step_time / 3600
    rent $       = hours * nodes * price per node-hour          (cost = time x price x nodes)
    GPU-hours    = hours * nodes * gpus_per_node
    tokens       = (steps * global_batch | epochs * sequences) * seq_len, less a padded row's padding
                   (TrainingSpec.padding_share: $ / 1M tokens is per real token)
    $ / 1M tok   = rent $ / tokens * 1e6

Buy: an owned node costs, per useful hour, capex * (1 + network share) * (1 - residual) / (years *
8760 * utilisation) + capex * (staff + support share per year) / (8760 * utilisation) + power
(kW * PUE * $/kWh) + hosting ($/kW/month * kW / 730), all four paid every hour owned and so
divided by the utilisation. The inputs come from the job's ``onprem:`` section, else
hardware_catalog/data/onprem.csv (stated assumptions unless sourced; a catalog override file's
``onprem:`` section replaces rows). The
break-even utilisation is where buying equals renting (``breakeven_utilisation``); the capex
committed up front is the servers plus their network share (``capex_usd``).
"""
from __future__ import annotations

import numpy as np

from hardware_catalog.catalog import oldest_price
from planner import defaults as D
from planner.results import Cost
from planner.units import HOURS_PER_MONTH, fmt_given
from planner.vocab import JOB_RATE, ON_DEMAND, RATE_NAMES, SPOT
from planner.hardware.options import ranked_basis, rent_basis
from planner.spec import JobSpec

HOURS_PER_YEAR = 8760.0


def total_steps(job: JobSpec):
    t = job.training
    if t.steps is not None:
        return float(t.steps)
    if t.tokens is not None:  # real tokens: a padded row's padding is not counted toward them (padding_share)
        return float(np.ceil(t.tokens / t.real_tokens_per_step(job.model.is_transformer)))
    if t.epochs is not None:
        return float(np.ceil(t.epochs * dataset_sequences(job) / t.global_batch))
    return float("nan")


def dataset_sequences(job: JobSpec) -> float:
    """Sequences in one epoch (``TrainingSpec.sequences_per_epoch``: padded, or packed to seq_len)."""
    return job.training.sequences_per_epoch(job.model.is_transformer)


def total_tokens(job: JobSpec):
    """Tokens (samples for a generic model) the run trains on: whole steps of the global batch for a run of
    ``tokens`` or ``steps``; for ``epochs``, the dataset's own — its last step is partial (a loader without
    drop_last), so it is not counted full (it is timed full: ``total_steps`` rounds up, at most one step over) —
    and of a padded dataset its real tokens only (``TrainingSpec.padding_share``: the rows' padding positions are
    computed and timed, not trained on). Until hfstack34 they counted the padding: Qwen3-8B QLoRA on one L4 (600-token
    examples in 2,048-token rows) read 81.92M tokens and $0.305 per 1M where 71% of them were padding ($1.04 per 1M real);
    until QA 98 a run of ``tokens`` or ``steps`` still did (``training.tokens`` is real tokens since: more steps)."""
    t = job.training
    per = t.real_tokens_per_step(job.model.is_transformer) / t.global_batch
    if t.epochs is not None and t.steps is None and t.tokens is None:
        return t.epochs * dataset_sequences(job) * per
    return total_steps(job) * t.global_batch * per


#: billed minimum per instance start: AWS EC2 and GCP Compute Engine bill per second with a 60-second minimum
#: (aws.amazon.com/ec2/pricing/on-demand, cloud.google.com/compute/vm-instance-pricing). The one rule of every job that
#: rents instances for a run that ends -- a tabular run (``planner.workloads.tabular``), an offline serving job
#: (``serving_budget.billed_usd``; until qa59b it had none: 1 request read $0.0034 for 1.80 s at $6.88/h) and a
#: campaign's preprocessing run and artifact fetch (``planner.workloads.campaign``). A real-time service is priced by
#: the month, which no minimum reaches. A training run's ``rent_cost`` does not apply it yet (qa59b: its likely range,
#: committed comparison and spot simulation each scale the unbilled figure; a run under a minute is no training job).
MIN_BILLED_S = 60.0


def billed_hours(hours):
    """The hours a node held for ``hours`` is billed: at least ``MIN_BILLED_S`` (arrays welcome; NaN stays NaN).

    >>> float(billed_hours(1.8 / 3600) * 3600), float(billed_hours(2.0))
    (60.0, 2.0)
    """
    out = np.maximum(np.asarray(hours, dtype=np.float64), MIN_BILLED_S / 3600.0)
    return out if out.ndim else float(out)


def rent_cost(hours, nodes, price_per_node_hr):
    """Cost = time x price x nodes (arrays welcome; NaN where no price is known). A training run's: no billing
    minimum yet (``MIN_BILLED_S``; its likely range, committed comparison and spot simulation scale this figure)."""
    price = np.asarray(price_per_node_hr if price_per_node_hr is not None else np.nan, dtype=np.float64)
    return np.asarray(hours, dtype=np.float64) * np.asarray(nodes, dtype=np.float64) * price


#: the GPU families ``onprem.csv`` prices servers of (``server_price_hgx_{fam}_8gpu``)
ONPREM_FAMILIES = ("H200", "H100", "A100", "B200")


def _onprem_key(gpu_name: str) -> str | None:
    """The server-price family of a catalog GPU (``onprem.csv`` keys): the SXM part an HGX 8-GPU
    baseboard carries, named ``<family>-SXM...`` in ``gpus.csv`` (H100-SXM-80GB, H200-SXM-141GB,
    A100-SXM-40GB, B200-SXM-180GB). Not ``efficiency.gpu_family``: that maps export SKUs (H800, A800) to the
    family whose *efficiencies* they share, but their servers are other products at other prices,
    so they get none here and the job must give ``onprem`` prices. The same holds for the PCIe / NVL
    cards and the Grace superchips: until 2026-12-02 the family was any name *containing* it, so a
    GH200 (Grace + one Hopper GPU) was priced as 1/8 of an HGX H200 server ($52.5k, "sourced"), a
    GB200 NVL72 rack as nine HGX B200 servers ($4.05M, at DGX H100's power per GPU) and an H100 PCIe
    box as an HGX H100."""
    name = gpu_name.upper()
    for fam in ONPREM_FAMILIES:
        if name.startswith(fam + "-SXM"):
            return fam.lower()
    return None


#: the job's ``onprem`` fields and the catalog's ``onprem.csv`` keys they override ("{fam}" = the
#: GPU family of the server rows); a field with no catalog row and no job value falls to the default
#: in the third column (None = required)
ONPREM_INPUTS = (
    ("horizon_years", "amortisation_years", None),
    ("utilisation", "utilisation", None),
    ("server_price_usd", "server_price_hgx_{fam}_8gpu", None),
    ("server_power_kw", "server_power_kw_hgx_{fam}_8gpu", None),
    ("network_cost_share", "network_cost_share", 0.0),
    ("power_price_usd_per_kwh", "power_price_usd_per_kwh", None),
    ("pue", "pue", None),
    ("hosting_usd_per_kw_month", "hosting_usd_per_kw_month", 0.0),
    ("staff_share_per_year", "staff_share_per_year", 0.0),
    ("support_share_per_year", "support_share_per_year", 0.0),
    ("residual_value_fraction", "residual_value_fraction", 0.0),
)


def onprem_inputs(catalog, gpu_name: str, gpus_per_node: int, job_onprem=None, power_limit_w=None) -> dict | None:
    """Each TCO input with its value and where it came from (the job, or the catalog row and its
    basis); None when no server price is known for this GPU. Catalog server rows are per 8-GPU
    node and scaled to ``gpus_per_node``; a job's ``server_price_usd``/``server_power_kw`` are per node.
    ``power_limit_w``: the GPUs' power limit (``cluster.power_limit_w``), which lowers a catalog or default node
    power (``capped_node_kw``)."""
    from planner.hardware.platform import rented_only

    gpu = catalog.gpus.get(gpu_name) if hasattr(catalog, "gpus") else None
    if gpu is not None and rented_only(gpu):  # a TPU or Trainium is not sold: no server price prices buying it
        return None
    fam = _onprem_key(gpu_name)
    out = {}
    for field, key, fallback in ONPREM_INPUTS:
        per8 = "{fam}" in key
        key = key.format(fam=fam or "?")
        given = getattr(job_onprem, field, None) if job_onprem is not None else None
        if given is not None:
            out[field] = (float(given), "job onprem." + field)
        elif key in catalog.onprem:
            row = catalog.onprem[key]
            share = gpus_per_node / 8.0 if per8 else 1.0
            # the scaling said where it applies: a 2-GPU node's "37,500 from catalog server_price_hgx_a100_8gpu" sat
            # above that row's 150000 in the report's own catalog table, with nothing to reconcile them (QA 87)
            scaled = f" x {gpus_per_node}/8: a {gpus_per_node}-GPU node's share of the 8-GPU server" if share != 1 else ""
            out[field] = (float(row["value"]) * share, f"catalog {key} ({row.get('basis') or 'stated'}){scaled}")
        elif field == "server_power_kw":
            out[field] = (D.ONPREM_KW_PER_GPU * gpus_per_node, "defaults.ONPREM_KW_PER_GPU (DGX H100 10.2 kW per 8 GPUs)")
        elif fallback is not None:
            out[field] = (fallback, "not set: 0")
        else:
            return None
    return capped_node_kw(out, gpu, gpus_per_node, power_limit_w)


def capped_node_kw(inputs: dict, gpu, gpus_per_node: int, power_limit_w) -> dict:
    """``inputs`` with the node power of GPUs held at ``power_limit_w`` below their rated limit: the catalog's and
    the default server powers are a node's maximum with its GPUs at their rated limit (DGX H100: 10.2 kW with 8 x
    700 W SXM boards, hardware_catalog/data/onprem.csv), and a GPU's limit caps its board's draw (``nvidia-smi -pl``;
    planner.hardware.power), so the node's maximum falls by the GPUs' cut, ``gpus_per_node x (rated - limit)``. A
    job's own ``onprem.server_power_kw`` is the node as it runs, taken as given."""
    rated = getattr(gpu, "power_limit_w", None)
    kw, src = inputs["server_power_kw"]
    if not power_limit_w or not rated or power_limit_w >= rated or src.startswith("job "):
        return inputs
    cut = gpus_per_node * (rated - power_limit_w) / 1000.0
    why = (f"{src}, less {gpus_per_node} x {fmt_given(rated - power_limit_w)} W: GPUs at {fmt_given(power_limit_w)} W of "
           f"{rated:,.0f} (cluster.power_limit_w)")
    return {**inputs, "server_power_kw": (kw - cut, why)}


def onprem_catalog_keys(catalog, gpu_name: str, job_onprem=None) -> list[str]:
    """The ``onprem.csv`` keys (or override rows) ``onprem_inputs`` reads for a node of ``gpu_name``: each
    ``ONPREM_INPUTS`` key, the server rows of this GPU's family, that the job's ``onprem:`` does not set and the
    catalog has. The report's assumptions table lists these and no others (it listed every row but the other
    families' servers: ``accelerator_kit_price_gaudi3_8`` and ``pue_industry_average`` under an H100 plan)."""
    fam = _onprem_key(gpu_name)
    keys = []
    for field, key, _ in ONPREM_INPUTS:
        if "{fam}" in key and fam is None:
            continue
        key = key.format(fam=fam)
        if getattr(job_onprem, field, None) is None and key in catalog.onprem:
            keys.append(key)
    return keys


def owned_node_hour_cost(catalog, gpu_name: str, gpus_per_node: int, job_onprem=None,
                         power_limit_w=None) -> dict | None:
    """Hourly cost of owning one node of this GPU per useful hour (None when no server price is known):

        capex_hr   = price x (1 + network share) x (1 - residual) / (years x 8760 x utilisation)
        staff_hr   = price x (staff + support share per year) / (8760 x utilisation)
        power_hr   = kW x PUE x $/kWh / utilisation
        hosting_hr = kW x $/kW-month / 730 / utilisation
    """
    inp = onprem_inputs(catalog, gpu_name, gpus_per_node, job_onprem, power_limit_w)
    if inp is None:
        return None
    v = {k: val for k, (val, _src) in inp.items()}
    capex, years, util, kw = v["server_price_usd"], v["horizon_years"], v["utilisation"], v["server_power_kw"]
    capex_hr = capex * (1 + v["network_cost_share"]) * (1 - v["residual_value_fraction"]) / (years * HOURS_PER_YEAR * util)
    staff_hr = capex * (v["staff_share_per_year"] + v["support_share_per_year"]) / (HOURS_PER_YEAR * util)
    power_hr = kw * v["pue"] * v["power_price_usd_per_kwh"] / util
    hosting_hr = kw * v["hosting_usd_per_kw_month"] / HOURS_PER_MONTH / util
    return dict(capex_per_node=capex * (1 + v["network_cost_share"]), server_price_per_node=capex, capex_hr=capex_hr, staff_support_hr=staff_hr, power_hr=power_hr,
                hosting_hr=hosting_hr, total_hr=capex_hr + staff_hr + power_hr + hosting_hr, kw=kw, years=years,
                utilisation=util, inputs={k: dict(value=val, source=src) for k, (val, src) in inp.items()})


def buy_power_assumption(buy: dict | None) -> str:
    """The owned node's power as priced, for the assumptions (``assumed:``, the report's and the JSON's): every wall
    hour owned, busy or idle, at the node's maximum draw (``owned_node_hour_cost``'s ``power_hr`` is ``kW x PUE x
    $/kWh``, divided by the utilisation: paid every wall hour; the catalog's and the default ``server_power_kw`` are a
    node's maximum with its GPUs at their rated limit, ``capped_node_kw``), so a node that idles or runs below its
    maximum costs less than the buy figure says. A job's own ``onprem.server_power_kw`` is the node as it runs (taken
    as given), said so. Until QA 101 this was stated here only, not in any output. "" without a buy figure."""
    if not buy or "server_power_kw" not in buy.get("inputs", {}):
        return ""
    inp = {k: v["value"] for k, v in buy["inputs"].items()}
    kw, src = inp["server_power_kw"], buy["inputs"]["server_power_kw"]["source"]
    draw = ("the job's onprem.server_power_kw" if src.startswith("job ") else
            "the node's maximum draw (its GPUs at their power limit), not what the run draws")
    return (f"buy: power is charged for every wall hour owned, busy or idle, at {draw}: {fmt_given(kw)} kW x PUE "
            f"{fmt_given(inp['pue'])} x {fmt_given(inp['power_price_usd_per_kwh'])} $/kWh = "
            f"{kw * inp['pue'] * inp['power_price_usd_per_kwh']:.2f} $/node-h of wall time (hosting, per kW, likewise)")


def breakeven_utilisation(own: dict, price_ondemand) -> float | None:
    """The utilisation at which an owned node's cost per useful hour equals the on-demand price.

    Every owned cost is paid per wall-clock hour whether the node works or idles (capex and staff
    amortised per year, power and hosting per hour: ``owned_node_hour_cost`` divides all four by
    the utilisation), so at utilisation ``u`` a useful hour costs ``total_hr(u0) x u0 / u``.
    Setting that equal to the rent ``R`` gives ``u* = total_hr(u0) x u0 / R``; above ``u*`` buying
    is cheaper (``cheaper == "buy"`` exactly when the assumed utilisation exceeds ``u*``). Until
    2026-12-01 power and hosting were taken as paid per useful hour here only, which put the
    break-even below the utilisation at which the report's own per-hour costs were equal
    (22.8% vs 27.6% for an HGX H100 node against p5.48xlarge on-demand).
    """
    if not price_ondemand:
        return None
    return own["total_hr"] * own["utilisation"] / price_ondemand


#: hours a 1- or 3-year commitment bills, busy or not
TERM_HOURS = {"1yr": HOURS_PER_YEAR, "3yr": 3 * HOURS_PER_YEAR}

#: AWS EC2 Capacity Blocks are sold in whole days up to 14 days, then in whole weeks up to 182 days (26 weeks),
#: paid up front ("You must specify reservation durations in 1-day increments up to 14 days, and in 7-day
#: increments up to 182 days": EC2 User Guide, "Find and purchase Capacity Blocks"; the same increments extend one)
BLOCK_DAY_STEPS_UP_TO_H, BLOCK_MAX_H = 14 * 24.0, 182 * 24.0
#: "Each Capacity Block can have up to 64 instances, and you can have up to 256 instances across Capacity Blocks" (same page)
BLOCK_MAX_INSTANCES = 256
BLOCK_INSTANCES_PER_BLOCK = 64


def capacity_block_hours(hours: float) -> float:
    """The hours of the Capacity Blocks a run of ``hours`` must buy: whole days up to 14 days, whole weeks
    from there to 182 days, and a longer run as back-to-back 182-day blocks plus the rest rounded the same way
    (82.4 h: a 4-day block, 96 h; 340 h: 3 weeks, 504 h; 4,400 h: 182 days + 2 days)."""
    full, rest = divmod(max(float(hours), 0.0), BLOCK_MAX_H)
    if rest > 0:
        step = 24.0 if rest <= BLOCK_DAY_STEPS_UP_TO_H else 7 * 24.0
        rest = float(np.ceil(rest / step - 1e-9)) * step
    return full * BLOCK_MAX_H + rest


def committed_costs(catalog, instance_key: str | None, hours: float, nodes: int, price_ondemand=None) -> tuple:
    """The run's cost at each reserved / committed-use / capacity-block price the catalog has for
    the instance (``hardware_catalog/data/commitments.csv`` or an override's ``commitments:``), and
    what the commitment itself bills:

        run_cost_usd   = hours x nodes x committed price        (this run's share)
        billed_hours   = capacity_block_hours(hours) (capacity block: whole days to 14 d, whole weeks to 182 d)
                       | ceil(hours / term) x term (1yr = 8,760 h, 3yr = 26,280 h)
        commitment_usd = billed_hours x nodes x committed price (what signing or buying the block commits to)
        run_share      = hours / billed_hours
        blocks_side_by_side = ceil(nodes / 64)              (capacity block: AWS sells at most 64 instances a block)
        ondemand_same_hours_usd = hours x nodes x on-demand price   (what the block or term is set against)
        breakeven_busy = committed price / on-demand price      (share of the term the nodes must be busy
                                                                 for the commitment to beat on-demand; 1 or
                                                                 more: it never does)

    ``ondemand_region`` is the region of the catalog's on-demand rate, ``region_differs`` whether the commitment is
    quoted in another one (gcp:a3-megagpu-8g: us-east4 commitments against a us-central1 on-demand rate; aws:p4d's
    capacity block us-east-2 against us-east-1): ``breakeven_busy`` then compares prices of two regions, which
    the report says beside it (until 2026-12-02 nothing said so).

    Until 2026-12-02 a capacity block billed the run's own hours (82.4 h of p5.48xlarge at 39.33: $3,241 a node),
    but AWS sells none shorter than a day nor between whole days: the block to buy is 4 days, $3,776 a node.
    """
    if catalog is None or not instance_key or not hasattr(catalog, "commitments_for"):
        return ()
    try:  # the region of the on-demand rate the commitment is set against (breakeven_busy)
        od_region = catalog.instance(instance_key).region or None
    except Exception:  # noqa: BLE001 — an instance an override file names only by its commitments
        od_region = None
    out = []
    for c in catalog.commitments_for(instance_key):
        out.append(dict(term=c.term, payment=c.payment, price_usd_hr=c.price,
                        **_commitment(c.term, c.price, hours, nodes, price_ondemand),
                        region=c.region, price_date=c.price_date, source=c.source,
                        ondemand_region=od_region,
                        region_differs=bool(c.region and od_region and c.region != od_region)))
    return tuple(out)


def _commitment(term_name: str, price: float, hours: float, nodes: int, price_ondemand) -> dict:
    """``committed_costs``'s figures for one commitment and a run of ``hours`` wall hours (the formulas there)."""
    term = TERM_HOURS.get(term_name)
    billed = capacity_block_hours(hours) if term is None else max(1.0, float(np.ceil(hours / term))) * term
    return dict(run_cost_usd=hours * nodes * price, billed_hours=billed, commitment_usd=billed * nodes * price,
                run_share=hours / billed if billed else None,
                breakeven_busy=(price / price_ondemand) if (term and price_ondemand) else None,
                # back-to-back terms a run longer than one term signs (a 432-day run: two 1-year terms), None for a block
                terms=int(round(billed / term)) if term else None,
                # side-by-side Capacity Blocks the nodes need (64 instances a block at most), None for a term
                blocks_side_by_side=None if term else int(np.ceil(nodes / BLOCK_INSTANCES_PER_BLOCK)),
                # the same hours on-demand, what a block is set against (a 5.3-hour run: a 1-day block 3.3x them)
                ondemand_same_hours_usd=hours * nodes * price_ondemand if price_ondemand else None)


def owned_nodes(own: dict, nodes: int, price_ondemand) -> dict:
    """``nodes`` owned nodes at the assumed utilisation (``owned_node_hour_cost``'s ``own``), before a run prices them
    (``owned_run``): the training plan's ``buy`` and an offline serving job's (``serving_budget.fleet_buy``)."""
    return dict(
        # what buying commits up front: the servers and their share of the network (the capex the
        # hourly rate amortises), not the servers alone
        capex_usd=own["capex_per_node"] * nodes, server_capex_usd=own["server_price_per_node"] * nodes,
        amortisation_years=own["years"],
        utilisation_assumed=own["utilisation"], wall_hour_usd=own["total_hr"] * own["utilisation"],
        per_hour_assumed=dict(capex=own["capex_hr"], staff_support=own["staff_support_hr"], power=own["power_hr"],
                              hosting=own["hosting_hr"]),
        breakeven_utilisation=breakeven_utilisation(own, price_ondemand),
        inputs=own["inputs"])


def owned_run(buy: dict, hours: float, nodes: int, rent_usd) -> dict:
    """``buy`` (the owned node's figures at the assumed utilisation ``u``) priced for a run of ``hours`` on
    ``nodes`` owned nodes. Every owned cost is paid per wall hour of the horizon (``wall_hour_usd`` =
    ``node_hour_usd`` x ``u``), so a useful hour costs ``wall_hour_usd / u``, valid while the run's hours fit in
    the useful hours the assumption leaves, ``u`` x ``horizon_hours``. A run that alone fills more of the horizon
    keeps the nodes busier than assumed, and is priced at the utilisation it proves:

        utilisation    = min(1, max(u, hours / horizon_hours))
        node_hour_usd  = wall_hour_usd / utilisation        (per_hour parts likewise)
        run_cost_usd   = hours x nodes x node_hour_usd      (= nodes x wall_hour_usd x horizon_hours, the whole
                                                             horizon's cost, when hours fill utilisation x horizon)

    (a run longer than the horizon is priced as owning the nodes for the run at the same wall-hour cost).
    ``utilisation_assumed`` keeps ``u``; ``run_horizon_share`` = hours / horizon_hours. The break-even utilisation does
    not move (``wall_hour_usd`` does not). Until QA 47 every run was priced at ``u``: Llama-3-70B, 2T tokens on 8 owned
    HGX H100 nodes (8,292 h, 95% of a 1-year horizon at an assumed 60%) read $2.95M at 44.47 $/node-h, above the
    $1.87M that owning the 8 nodes costs for the whole year."""
    u0, wall = buy["utilisation_assumed"], buy["wall_hour_usd"]
    horizon = buy["amortisation_years"] * HOURS_PER_YEAR
    share = hours / horizon if horizon > 0 else 0.0
    u = min(1.0, max(u0, share))
    run = hours * nodes * wall / u
    return dict(buy, node_hour_usd=wall / u, utilisation=u, run_horizon_share=share, run_cost_usd=run,
                per_hour={k: v * u0 / u for k, v in buy["per_hour_assumed"].items()},
                cheaper=("buy" if rent_usd and run < rent_usd else "rent") if rent_usd else None)


def owned_at_wall_hours(buy, committed, hours: float, nodes: int, price_ondemand, rent_usd, include: str):
    """``(buy, committed)`` re-priced for a run of ``hours`` wall hours instead of its uninterrupted
    compute hours: owned or committed nodes sit through the job's checkpoint pauses and node-failure
    restarts too (not through spot interruptions: they are not spot), so their run cost is
    ``hours x nodes x rate`` at the expected wall hours (``planner.simulate.failures.run_overhead``).
    ``rent_usd``: the on-demand rent for the same hours (``buy.cheaper`` compares with it); ``include``:
    what the hours hold, in words, kept as ``hours_include`` beside ``hours`` in each."""
    if buy is not None:
        buy = dict(owned_run(buy, hours, nodes, rent_usd), hours=hours, hours_include=include)
    committed = tuple(dict(c, **_commitment(c["term"], c["price_usd_hr"], hours, nodes, price_ondemand),
                           hours=hours, hours_include=include) for c in committed)
    return buy, committed


#: the buy inputs that are prices (``ONPREM_INPUTS`` fields): their catalog rows carry a ``price_date``; the rest
#: (PUE, utilisation, horizon, shares, kW) are no prices and have none
ONPREM_PRICE_FIELDS = ("server_price_usd", "power_price_usd_per_kwh", "hosting_usd_per_kw_month")


def price_dates(catalog, instance_key: str | None, price_ondemand, price_spot, committed, buy,
                spot: bool = False, catalog_ondemand=None, quote: dict | None = None) -> list[tuple[str, str]]:
    """(what, price_date) of every price a plan's cost used (``Cost.price_dates`` sums them up with
    ``hardware_catalog.catalog.oldest_price``): the instance's on-demand and spot rates (its catalog row's date; a
    job's ``cluster.price_usd_hr`` has none), each committed row's, and the buy inputs that are prices
    (``ONPREM_PRICE_FIELDS``: the ``onprem.csv`` row's date; a job's ``onprem:`` figure has none). Until buy36 a plan
    said the date of none of them, so a two-year-old quote priced it unsaid.

    ``spot``: the cost is at the spot rate, which is listed first: ``oldest_price`` names the first listed of a day,
    so where both rates share the oldest date it names the one the cost uses (QA 55b: a batch-serving job costed at
    spot named "aws:g6e.48xlarge on-demand" as its oldest price, both rates bounded 2026-01-20).

    ``catalog_ondemand``: the catalog's on-demand rate where the job's ``cluster.price_usd_hr`` replaces it but the
    committed prices are still set against it (``cost_summary``; QA 60): its date is listed too.

    ``quote``: a reference system's provider rate that priced a bare-GPU plan's on-demand rent (``Hardware.price_quote``,
    gbprice42): that row's date, not the job's."""
    out = []
    inst = catalog_instance(catalog, instance_key)  # None: a bare GPU, or an instance named only by its commitments
    rates = [(ON_DEMAND, price_ondemand, inst.price_ondemand if inst else None),
             (SPOT, price_spot, inst.price_spot if inst else None)]
    for what, rate, row_rate in (rates[::-1] if spot else rates):
        if not rate:
            continue
        if inst is not None and row_rate and abs(float(rate) - float(row_rate)) <= 1e-9 * float(row_rate):
            out.append((f"{inst.key} {what}", inst.rate_date(what == SPOT) or ""))
        elif inst is None and quote and what == ON_DEMAND:
            out.append((quote["what"], quote.get("price_date") or ""))
        else:
            # the job's own rate (QA 60: it read "on-demand rate from the job", as if it were an on-demand price)
            out.append((RATE_NAMES[JOB_RATE] if what == ON_DEMAND
                        else f"{what} rate from the job (cluster.price_usd_hr)", ""))
    if inst is not None and catalog_ondemand and committed:
        out.append((f"{inst.key} on-demand (what the committed prices are set against)", inst.rate_date(False) or ""))
    for c in committed or ():
        out.append((f"{instance_key} {c['term']} commitment", c.get("price_date") or ""))
    for field, inp in ((buy or {}).get("inputs") or {}).items():
        if field not in ONPREM_PRICE_FIELDS:
            continue
        src = inp["source"]
        if src.startswith("catalog "):
            key = src.split()[1]
            out.append((f"buy: onprem {key}", (catalog.onprem.get(key) or {}).get("price_date") or ""))
        else:
            out.append((f"buy: {src}", ""))
    return out


def rate_price_dates(catalog, instance_key: str | None, basis: str = ON_DEMAND) -> dict | None:
    """The date of the one rate a comparison row's cost is priced at (``compare`` / ``recommend --by`` / ``--scaling``
    rows, ``Recommendation.price_basis``: the instance's on-demand or spot rate), summed up as a plan's
    ``Cost.price_dates`` is (``oldest_price``): the clouds' rows rest on sources of very different ages (a GCP bound at
    most 765 days back, an AWS one 319, Lambda's at least 12: a ``not after`` cap since prices39), and until QA 55 a
    cloud comparison said none of them. None for a bare GPU or a job's ``cluster.price_usd_hr`` (no catalog rate)."""
    date = rate_date(catalog, instance_key, basis)
    if date is None:
        return None
    return oldest_price([(f"{catalog.instance(instance_key).key} {basis}", date)])


def rate_date(catalog, instance_key: str | None, basis: str = ON_DEMAND) -> str | None:
    """The ``price_date`` of the one rate a row's cost is priced at (``Recommendation.price_basis``: the instance's
    on-demand or spot rate, ``Instance.rate_date``), as the catalog writes it ("" where its row gives none); None for
    a bare GPU or a job's ``cluster.price_usd_hr`` (no catalog rate). ``rate_price_dates`` sums it up for a
    comparison row; ``recommend --csv`` writes it in each row's ``price_date`` (QA 55b)."""
    inst = catalog_instance(catalog, instance_key) if basis in (ON_DEMAND, SPOT) else None
    return None if inst is None else inst.rate_date(basis == SPOT) or ""


def cost_summary(job: JobSpec, step_time_s: float, nodes: int, gpus_per_node: int,
                 price_ondemand, price_spot, catalog=None, gpu_name: str = "", instance_key: str | None = None,
                 evaluation: dict | None = None, quote: dict | None = None) -> Cost:
    """Time and money of the whole run at ``step_time_s`` per step: rent (on-demand, spot) and,
    where the catalog has on-prem figures for the GPU, buy.

    ``evaluation``: the job's evaluation passes over the run (``planner.model.evaluation.eval_run``:
    ``passes``, ``seconds``, ...; None: no evaluation section): its ``seconds`` are added to the time to
    train, so every figure priced from ``hours`` (rent, buy, committed, spot, checkpoint pauses and
    failures) holds them once; ``Cost.evaluation`` keeps the record with its ``hours`` and ``share`` of the run.

    ``quote``: the provider rate that prices a bare-GPU plan (``Hardware.price_quote``; gbprice42): its date is the
    on-demand rate's."""
    steps = total_steps(job)
    eval_s = float(evaluation["seconds"]) if evaluation else 0.0
    hours = (steps * step_time_s + eval_s) / 3600.0
    if evaluation:
        evaluation = {**evaluation, "hours": eval_s / 3600.0, "share": eval_s / (hours * 3600.0) if hours > 0 else 0.0}
    tokens = total_tokens(job)
    od = float(rent_cost(hours, nodes, price_ondemand)) if price_ondemand else None
    sp = float(rent_cost(hours, nodes, price_spot)) if price_spot else None
    buy = None
    if catalog is not None and gpu_name:
        own = owned_node_hour_cost(catalog, gpu_name, gpus_per_node, getattr(job, "onprem", None),
                                   getattr(job.cluster, "power_limit_w", None))
        if own:
            buy = owned_run(owned_nodes(own, nodes, price_ondemand), hours, nodes, od)
    # $ per million tokens at the price the plan is ranked at (spot when the job asks for spot)
    at_spot = bool(getattr(job.constraints, "spot", False) and sp)
    ranked = sp if at_spot else od
    # the job's cluster.price_usd_hr replaces the on-demand rate as the run's own (QA 60): its committed prices are
    # still set against what the cloud charges on demand, the catalog's rate (none for a bare GPU), not against it
    stated = rent_basis(getattr(job.cluster, "price_usd_hr", None)) == JOB_RATE
    catalog_od = catalog_ondemand(catalog, instance_key) if stated else price_ondemand
    committed = committed_costs(catalog, instance_key, hours, nodes, catalog_od)
    return Cost(steps=steps, hours=hours, days=hours / 24, gpu_hours=hours * nodes * gpus_per_node,
                tokens=tokens, padding_share=job.training.padding_share(job.model.is_transformer) or None,
                cost_ondemand_usd=od, cost_spot_usd=sp,
                usd_per_million_tokens=(ranked / tokens * 1e6) if ranked and tokens else None, buy=buy,
                committed=committed, evaluation=evaluation or None,
                price_dates=oldest_price(price_dates(catalog, instance_key, price_ondemand, price_spot, committed, buy,
                                                     spot=at_spot, catalog_ondemand=catalog_od if stated else None,
                                                     quote=None if stated else quote)),
                price_basis=rent_basis(getattr(job.cluster, "price_usd_hr", None)),
                ranked_price_basis=ranked_basis(at_spot, getattr(job.cluster, "price_usd_hr", None)),
                catalog_ondemand_usd_hr=catalog_od if stated else None,
                price_region=price_region(job.constraints, catalog, instance_key,
                                          getattr(job.cluster, "price_usd_hr", None)))


def rate_after(basis: str | None) -> str:
    """The rate a rent figure is at (a ``RATE_NAMES`` key), after the figure: "on-demand", or "at the job's rate
    (cluster.price_usd_hr)" (QA 60's estimate / report wording; serve's month and likely range since QA 61)."""
    name = RATE_NAMES.get(basis or ON_DEMAND, "on-demand")
    return name if name == "on-demand" else f"at {name}"


def at_price_words(basis: str | None) -> str:
    """"at the on-demand price", "at the spot price", or "at the job's rate (cluster.price_usd_hr)": a cost's rate
    (a ``RATE_NAMES`` key; serve's ``offline_price``, a serving budget's ``price``) after the figure (QA 61: "at the
    on-demand price" was printed for a job's own $30 rate).

    >>> at_price_words("cluster.price_usd_hr"), at_price_words("spot")
    ("at the job's rate (cluster.price_usd_hr)", 'at the spot price')
    """
    name = RATE_NAMES.get(basis or ON_DEMAND, basis)
    return f"at {name}" if basis == JOB_RATE else f"at the {name} price"


def price_region(constraints, catalog, instance_key: str | None, price_usd_hr=None) -> str | None:
    """The catalog region an instance's rates are for (``Instance.region``: the catalog holds one region per
    instance), where the job restricts regions (``constraints.regions``) and the plan is at those rates (not at the
    job's ``cluster.price_usd_hr``, which has no region); None otherwise. Said beside the price (``region_words``):
    until follow41 a job with ``regions: [us-east-1]`` was priced there without a word of which region the price was
    for (QA 61)."""
    if not getattr(constraints, "regions", None) or price_usd_hr is not None:
        return None
    inst = catalog_instance(catalog, instance_key)
    return (inst.region or None) if inst is not None else None


def region_words(region: str | None) -> str:
    """" in us-east-1 (constraints.regions)" after a price where the job restricted regions (``price_region``), else ""."""
    return f" in {region} (constraints.regions)" if region else ""


def region_clause(region: str | None) -> str:
    """"; prices in us-east-1 (constraints.regions)" closing a line of prices (estimate's cost row, serve's "per
    month:"), else ""."""
    return f"; prices{region_words(region)}" if region else ""


def catalog_ondemand(catalog, instance_key: str | None):
    """The catalog's on-demand rate of ``instance_key`` (USD per node-hour; an override's where one reprices it),
    None for a bare GPU or an instance with no on-demand row: what a job's ``cluster.price_usd_hr`` replaces, and what
    its committed prices are still set against (QA 60)."""
    inst = catalog_instance(catalog, instance_key)
    return (inst.price_ondemand or None) if inst is not None else None


def catalog_instance(catalog, instance_key: str | None):
    """The catalog's instance row named ``instance_key``, None where there is none: no catalog, or a bare-GPU plan
    whose hardware is a GPU name, no instance (``catalog_ondemand``, ``price_region``)."""
    if catalog is None or not instance_key:
        return None
    try:
        return catalog.instance(instance_key)
    except Exception:  # noqa: BLE001 — a bare GPU's option names no instance
        return None
