"""The catalog's price checks (prices48): which instance and commitment rates sit outside what the clouds publish
or what the same accelerator costs elsewhere, so a budget signed on one is signed knowing it.

Hard invariants (a row breaking one is wrong, not unusual; ``tests/test_prices48.py`` holds every shipped row to
them): spot at most on-demand (the loader refuses a spot rate above it); spot at least ``1 - DEEPEST_DISCOUNT`` of
on-demand (AWS, "save up to 90% off the On-Demand instance price": ``bounds.DEEPEST_DISCOUNT``); a committed,
reserved or capacity-block rate at most the instance's on-demand rate, and a 3-year term at most the 1-year one.

Bands (a row outside one is flagged, and a shipped row so flagged says why it is kept in its ``price_check`` column;
the widths are this module's choice, stated, not a cloud's figure: wide enough for the spread the clouds really
have, narrow enough for an 8x per-node / per-GPU slip or one zone's outlier):

- ``SPOT_RATIO_BAND``: a spot rate under half the median spot / on-demand ratio of its cloud's accelerator rows.
  AWS's median is 0.324; half of it, 0.162, flags p6-b300.48xlarge (0.112: one reading, one zone, usw2-az2), the four
  V100 rows (p3 0.12-0.15) and g6e.48xlarge (0.153, one zone of five). A per-cloud median, not a fixed band, as
  the clouds' spot markets differ: Azure's accelerator rows sit at 0.11-0.25 of on-demand, GCP's at 0.19-0.55.
- ``PER_GPU_BAND``: an on-demand rate per accelerator-hour outside 1/3 to 3 times the accelerator's median on the
  other clouds (the median of each other cloud's median, so a cloud with many sizes of one part counts once and a
  row is never its own yardstick; a part on one cloud alone is held to nothing). An 8-GPU node's price read per GPU
  is 8x off and lands outside (p5.48xlarge at 6.88: 0.08x); Lambda's H100 (0.35x of GCP / Azure / AWS) stays inside.
  Flagged: AWS p3 V100 at 3.87x Lambda's, Lambda's V100 at 0.26x AWS's, and the two T4 rows (AWS's 32-vCPU
  g4dn.8xlarge against Azure's 4-vCPU NC4as_T4_v3: the host, not the GPU).
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from hardware_catalog.bounds import DEEPEST_DISCOUNT
from hardware_catalog.catalog import Catalog, Instance

#: a spot rate under this share of its cloud's median accelerator spot / on-demand ratio is flagged
SPOT_RATIO_BAND = 0.5
#: an on-demand rate per accelerator-hour more than this factor from the accelerator's median on the other clouds is
#: flagged
PER_GPU_BAND = 3.0
#: the smallest spot / on-demand ratio any cloud advertises (1 - 90%): below it a row is wrong, not a deep discount
SPOT_FLOOR_RATIO = 1 - DEEPEST_DISCOUNT
#: the checks a flag names, with the words the catalog table's caption and a flag's message use
CHECKS = {
    "spot-ratio": f"spot under {SPOT_RATIO_BAND:g} x its cloud's median spot / on-demand ratio",
    "per-gpu": f"on-demand $/GPU-h outside 1/{PER_GPU_BAND:g}-{PER_GPU_BAND:g} x the GPU's median on other clouds",
    "spot-floor": f"spot under {SPOT_FLOOR_RATIO:.0%} of on-demand, past the deepest discount clouds advertise",
    "spot-above": "spot above on-demand",
    "commitment": "a committed rate above on-demand, or a 3yr term above the 1yr one",
}


@dataclass(frozen=True)
class PriceFlag:
    """One rate outside a check: the instance (or ``cloud:instance:term``), the column, the check and why."""

    key: str
    column: str
    check: str
    message: str


def _spot_ratio(i: Instance) -> float | None:
    return i.price_spot / i.price_ondemand if i.price_spot is not None else None


def spot_ratio_medians(cat: Catalog) -> dict[str, float]:
    """Each cloud's median spot / on-demand ratio over its accelerator rows with a spot rate."""
    by_cloud: dict[str, list[float]] = defaultdict(list)
    for i in cat.instances.values():
        r = _spot_ratio(i)
        if i.is_gpu and r is not None:
            by_cloud[i.cloud].append(r)
    return {c: statistics.median(rs) for c, rs in by_cloud.items()}


def per_gpu_medians(cat: Catalog) -> dict[tuple[str, str], float]:
    """(accelerator, cloud) -> the accelerator's median on-demand $/GPU-h on the other clouds: the median of each
    other cloud's median, so a cloud with many sizes of one part counts once and a row is never its own yardstick.
    An accelerator on one cloud alone has no entry (nothing to hold it to)."""
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for i in cat.instances.values():
        if i.is_gpu:
            per[i.gpu.name][i.cloud].append(i.price_ondemand / i.gpu_count)
    out = {}
    for g, clouds in per.items():
        for c in clouds:
            others = [statistics.median(v) for o, v in clouds.items() if o != c]
            if others:
                out[(g, c)] = statistics.median(others)
    return out


def price_flags(cat: Catalog) -> list[PriceFlag]:
    """Every instance and commitment rate of ``cat`` outside a check (``CHECKS``), instances first, by key."""
    ratios, medians = spot_ratio_medians(cat), per_gpu_medians(cat)
    flags: list[PriceFlag] = []
    for i in sorted(cat.instances.values(), key=lambda i: i.key):
        r = _spot_ratio(i)
        if r is not None and r > 1:
            flags.append(PriceFlag(i.key, "price_spot_usd_hr", "spot-above",
                                   f"spot {i.price_spot:g} above on-demand {i.price_ondemand:g}"))
        elif r is not None and r < SPOT_FLOOR_RATIO:
            flags.append(PriceFlag(i.key, "price_spot_usd_hr", "spot-floor",
                                   f"spot {i.price_spot:g} is {r:.3f} of on-demand {i.price_ondemand:g}, under "
                                   f"{SPOT_FLOOR_RATIO:g}"))
        elif r is not None and i.is_gpu and r < SPOT_RATIO_BAND * ratios[i.cloud]:
            flags.append(PriceFlag(i.key, "price_spot_usd_hr", "spot-ratio",
                                   f"spot {i.price_spot:g} is {r:.3f} of on-demand {i.price_ondemand:g}, under "
                                   f"{SPOT_RATIO_BAND:g} x {i.cloud}'s median {ratios[i.cloud]:.3f}"))
        med = medians.get((i.gpu.name, i.cloud)) if i.is_gpu else None
        if med is not None:
            per = i.price_ondemand / i.gpu_count
            if not med / PER_GPU_BAND <= per <= med * PER_GPU_BAND:
                flags.append(PriceFlag(i.key, "price_ondemand_usd_hr", "per-gpu",
                                       f"{per:.4g} $/{i.gpu.unit_word}-h is {per / med:.2f} x {i.gpu.name}'s median "
                                       f"on the other clouds, {med:.4g}"))
    terms: dict[tuple, dict[str, float]] = defaultdict(dict)
    for c in cat.commitments:
        od = cat.instances[c.instance_key].price_ondemand
        key = f"{c.instance_key}:{c.term}"
        if c.price > od:
            flags.append(PriceFlag(key, "price_usd_hr", "commitment", f"{c.term} {c.price:g} above on-demand {od:g}"))
        terms[(c.instance_key, c.payment, c.region)][c.term] = c.price
    for (inst, _, region), by_term in sorted(terms.items()):
        if "1yr" in by_term and "3yr" in by_term and by_term["3yr"] > by_term["1yr"]:
            flags.append(PriceFlag(f"{inst}:3yr", "price_usd_hr", "commitment",
                                   f"3yr {by_term['3yr']:g} above 1yr {by_term['1yr']:g} ({region})"))
    return flags


#: the instance columns a plan is priced from, and the rate each is called in words
RATE_WORDS = {"price_ondemand_usd_hr": "on-demand", "price_spot_usd_hr": "spot"}


def flagged_rates(cat: Catalog) -> dict[tuple[str, str], str]:
    """(instance key, ``RATE_WORDS`` column) -> why that rate is flagged, in words ("spot under 0.5 x its cloud's
    median spot / on-demand ratio: spot 15.9815 is 0.112 of on-demand 142.416, ..."), for a plan priced from it."""
    return {(f.key, f.column): f"{CHECKS[f.check]}: {f.message}" for f in price_flags(cat) if f.column in RATE_WORDS}
