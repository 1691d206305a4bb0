"""The valid range of each buy-vs-rent (on-prem) input, once for both places it can come from: a catalog row
(``onprem.csv`` or an override file's ``onprem:`` section, ``catalog.OnpremRow``) and a job's ``onprem:``
section (``planner.spec.schema.OnpremSpec``, each field by the catalog key it replaces).

Until 2026-12-02 the two had their own bounds: a job could not set power at more than 10 $/kWh nor a server
price of 0, but a catalog override could (``power_price_usd_per_kwh: 1e9`` priced a 4-node run's buy at
$5.5e12, ``server_price_hgx_h100_8gpu: 0`` at "capex $0.00"), and a job's ``network_cost_share`` could be 5
where the catalog's stopped at 1.
"""
from __future__ import annotations

#: THE default for an unknown fabric (here, not in ``catalog``, so that ``planner.defaults`` names it without importing
#: the catalog module and pydantic: ``planner --help`` needs neither): inter-node bandwidth assumed when an instance row has no
#: sourced ``network_gbps`` (or names no ``fabric``): 100 Gbit/s **per node** (plain datacenter
#: Ethernet, e.g. GCP A2 "up to 100 Gbps"). Deliberately conservative: an unknown fabric should never
#: make a multi-node plan look better than it is. (A bare ``cluster: {gpu: ...}`` spec with no instance
#: takes its GPU's reference fabric instead where the catalog has one: planner.hardware.options
#: ``reference_network``, the best-networked clustered instance row with that GPU; this constant is
#: its fallback.)
DEFAULT_NETWORK_GBPS = 100.0

#: the slowest rate a catalog column or a job field takes, in its own unit (Gb/s, GB/s, TB/s, TFLOP/s, requests/s): far
#: below any real part (the catalog's slowest: 0.3 TB/s HBM, 8.1 TFLOP/s fp32, 25 Gb/s network), where the slowest one still
#: gives finite times. Only "above 0" until QA 36: an override row's network_gbps 1e-300 estimated a 7e294-year step
#: (numpy's overflow warning on stderr), a GPU row's bf16_tflops and hbm_bw_tbps 1e-300 a 4.5e295-year one at "59% MFU"
RATE_FLOOR = 1e-3

#: The deepest discount below on-demand a cloud advertises for its interruptible capacity: AWS, "You will continue to
#: save up to 90% off the On-Demand instance price" (the 2017 EC2 Spot pricing-model announcement, as quoted at
#: cloudcomrade.com, "Amazon EC2 Spot introduces new pricing model ...", read 2026-12-05; AWS's 2015 webinar "Using Spot
#: Instances to Save up to 90% off Your EC2 Bill"). The shipped snapshots' deepest spot rates sit just inside it:
#: aws:p6-b300.48xlarge 88.8% and azure:Standard_NC4as_T4_v3 88.0% below their on-demand rates. A user's rate for an
#: accelerator more than this far below the cheapest shipped on-demand rate of it, any cloud, is taken as a typo (a
#: per-GPU price in a per-node column, a missing digit), not a market price (``catalog.rate_floors``).
DEEPEST_DISCOUNT = 0.9

#: (low, high, low excluded) by catalog key, or by key prefix for the keys ending "_" (``server_price_hgx_h100_8gpu``:
#: per 8-GPU node in the catalog, per node in a job; the bound only catches absurd values)
ONPREM_RANGES: dict[str, tuple[float, float, bool]] = {
    "amortisation_years": (0.5, 30.0, False),
    "utilisation": (0.01, 1.0, False),
    "pue": (1.0, 3.0, False),
    "server_price_": (0.0, 1e8, True),
    "server_power_kw_": (0.0, 1e3, True),
    "power_price_usd_per_kwh": (0.0, 10.0, False),
    "hosting_usd_per_kw_month": (0.0, 1e4, False),
}
#: the unit each range is in (the ``unit`` column of ``onprem.csv``, cut to what holds for a job field too: a
#: server price is per node in a job, per 8-GPU node in the catalog), said after the range in both errors
ONPREM_UNITS: dict[str, str] = {
    "amortisation_years": "years",
    "utilisation": "(a fraction of owned hours)",
    "pue": "(a ratio)",
    "server_price_": "USD per node",
    "server_power_kw_": "kW per node",
    "power_price_usd_per_kwh": "USD/kWh",
    "hosting_usd_per_kw_month": "USD per kW per month",
}
#: keys ending so are shares of something: 0 to 1 (``network_cost_share``, ``staff_share_per_year``, ...)
FRACTION_SUFFIXES = ("_share", "_fraction", "_share_per_year")
#: any other key (a user's own row, ``gpu_price_h100_sxm``): a number from 0 to this
ANY_MAX = 1e9


def _entry(key: str) -> str | None:
    """The ``ONPREM_RANGES`` key that holds ``key`` (itself or its prefix), None for the other keys."""
    if key in ONPREM_RANGES:
        return key
    return next((p for p in ONPREM_RANGES if p.endswith("_") and key.startswith(p)), None)


def onprem_range(key: str) -> tuple[float, float, bool]:
    """(low, high, low excluded) of the on-prem input ``key``.

    >>> onprem_range("pue"), onprem_range("server_price_hgx_h200_8gpu"), onprem_range("network_cost_share")
    ((1.0, 3.0, False), (0.0, 100000000.0, True), (0.0, 1.0, False))
    """
    entry = _entry(key)
    if entry is not None:
        return ONPREM_RANGES[entry]
    return (0.0, 1.0, False) if key.endswith(FRACTION_SUFFIXES) else (0.0, ANY_MAX, False)


def range_text(key: str) -> str:
    """``key``'s range and unit in words, the one phrase both errors use.

    >>> range_text("pue"), range_text("server_price_hgx_h200_8gpu"), range_text("network_cost_share")
    ('between 1 and 3 (a ratio)', 'above 0 and at most 1e+08 USD per node', 'between 0 and 1 (a fraction)')
    """
    lo, hi, open_lo = onprem_range(key)
    entry = _entry(key)
    unit = ONPREM_UNITS.get(entry) if entry else ("(a fraction)" if key.endswith(FRACTION_SUFFIXES) else None)
    text = f"above {lo:g} and at most {hi:g}" if open_lo else f"between {lo:g} and {hi:g}"
    return f"{text} {unit}" if unit else text


def range_error(key: str, value: float, name: str | None = None) -> str | None:
    """Why ``value`` is out of ``key``'s range ("pue must be between 1 and 3 (a ratio), got 5"), None when it is
    in it. ``name`` is what the message calls the input (a job's ``onprem:`` field: ``horizon_years`` for the
    catalog's ``amortisation_years``); the rest of the message is the same words for a job and a catalog row."""
    lo, hi, open_lo = onprem_range(key)
    if (value > lo if open_lo else value >= lo) and value <= hi:
        return None
    return f"{name or key} must be {range_text(key)}, got {value:g}"
