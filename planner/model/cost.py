"""Time-to-train and money: rent (on-demand, spot) and buy (capex + power + hosting, amortised).

    steps        = tokens / (global_batch * seq_len)   | steps   | epochs * sequences / global_batch
    sequences    = examples (padded) | examples * mean_example_tokens / seq_len (packed)
    hours        = steps * step_time / 3600
    rent $       = hours * nodes * price per node-hour          (cost = time x price x nodes)
    GPU-hours    = hours * nodes * gpus_per_node
    $ / 1M tok   = rent $ / tokens * 1e6

Buy: an owned node costs, per hour of its life, capex * (1 + network share) / (years * 8760 *
utilisation) + power (kW * PUE * $/kWh) + hosting ($/kW/month * kW / 730). The on-prem
parameters live in hardware_catalog/data/onprem.csv (stated assumptions unless sourced; override
them with a catalog file). The break-even utilisation is where buying equals renting.
"""
from __future__ import annotations

import numpy as np

from planner.results import Cost
from planner.spec import JobSpec

HOURS_PER_YEAR = 8760.0


def total_steps(job: JobSpec):
    t = job.training
    if t.steps is not None:
        return float(t.steps)
    if t.tokens is not None:
        per = t.global_batch * (t.seq_len if job.model.is_transformer else 1)
        return float(np.ceil(t.tokens / per))
    if t.epochs is not None:
        return float(np.ceil(t.epochs * dataset_sequences(job) / t.global_batch))
    return float("nan")


def dataset_sequences(job: JobSpec) -> float:
    """Sequences in one epoch: one per example when padded (each padded to seq_len: the compute
    of the padding is paid), examples x mean length / seq_len when packed (``training.packing``,
    ``training.mean_example_tokens``; examples longer than seq_len are truncated to it)."""
    t = job.training
    n = float(t.dataset_samples)
    if job.model.is_transformer and t.packing == "packed" and t.mean_example_tokens:
        return n * min(t.mean_example_tokens, t.seq_len) / t.seq_len
    return n


def total_tokens(job: JobSpec):
    per = job.training.global_batch * (job.training.seq_len if job.model.is_transformer else 1)
    return total_steps(job) * per


def rent_cost(hours, nodes, price_per_node_hr):
    """Cost = time x price x nodes (arrays welcome; NaN where no price is known)."""
    price = np.asarray(price_per_node_hr if price_per_node_hr is not None else np.nan, dtype=np.float64)
    return np.asarray(hours, dtype=np.float64) * np.asarray(nodes, dtype=np.float64) * price


def _onprem_key(gpu_name: str) -> str | None:
    for fam in ("H200", "H100", "A100", "B200"):
        if fam in gpu_name.upper():
            return fam.lower()
    return None


def owned_node_hour_cost(catalog, gpu_name: str, gpus_per_node: int) -> dict | None:
    """Hourly cost of owning one node of this GPU (None when no server price is known)."""
    fam = _onprem_key(gpu_name)
    if fam is None:
        return None
    key = f"server_price_hgx_{fam}_8gpu"
    if key not in catalog.onprem:
        return None
    v = catalog.onprem_value
    capex = v(key) * gpus_per_node / 8.0
    pkey = f"server_power_kw_hgx_{fam}_8gpu"
    kw = v(pkey) * gpus_per_node / 8.0 if pkey in catalog.onprem else 10.2 * gpus_per_node / 8.0
    years, util = v("amortisation_years"), v("utilisation")
    capex_hr = capex * (1 + v("network_cost_share")) / (years * HOURS_PER_YEAR * util)
    power_hr = kw * v("pue") * v("power_price_usd_per_kwh") / util
    hosting_hr = kw * v("hosting_usd_per_kw_month") / 730.0 / util
    return dict(capex_per_node=capex, capex_hr=capex_hr, power_hr=power_hr, hosting_hr=hosting_hr,
                total_hr=capex_hr + power_hr + hosting_hr, kw=kw, years=years, utilisation=util)


def cost_summary(job: JobSpec, step_time_s: float, nodes: int, gpus_per_node: int,
                 price_ondemand, price_spot, catalog=None, gpu_name: str = "") -> Cost:
    """Time and money of the whole run at ``step_time_s`` per step: rent (on-demand, spot) and,
    where the catalog has on-prem figures for the GPU, buy."""
    steps = total_steps(job)
    hours = steps * step_time_s / 3600.0
    tokens = total_tokens(job)
    od = float(rent_cost(hours, nodes, price_ondemand)) if price_ondemand else None
    sp = float(rent_cost(hours, nodes, price_spot)) if price_spot else None
    buy = None
    if catalog is not None and gpu_name:
        own = owned_node_hour_cost(catalog, gpu_name, gpus_per_node)
        if own:
            buy_run = hours * nodes * own["total_hr"]
            buy = dict(
                node_hour_usd=own["total_hr"], run_cost_usd=buy_run,
                capex_usd=own["capex_per_node"] * nodes, amortisation_years=own["years"],
                utilisation=own["utilisation"],
                breakeven_utilisation=(
                    (own["capex_hr"] * own["utilisation"]) / max(price_ondemand - (own["power_hr"] + own["hosting_hr"]) * own["utilisation"], 1e-9)
                    if price_ondemand else None
                ),
                cheaper=("buy" if od and buy_run < od else "rent") if od else None,
            )
    return Cost(steps=steps, hours=hours, days=hours / 24, gpu_hours=hours * nodes * gpus_per_node,
                tokens=tokens, cost_ondemand_usd=od, cost_spot_usd=sp,
                usd_per_million_tokens=(od / tokens * 1e6) if od and tokens else None, buy=buy)
