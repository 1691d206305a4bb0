"""The valid range of each buy-vs-rent (on-prem) input, once for both places it can come from: a catalog row
(``onprem.csv`` or an override file's ``onprem:`` section, ``catalog.OnpremRow``) and a job's ``onprem:``
section (``planner.spec.schema.OnpremSpec``, each field by the catalog key it replaces).

Until 2026-12-02 the two had their own bounds: a job could not set power at more than 10 $/kWh nor a server
price of 0, but a catalog override could (``power_price_usd_per_kwh: 1e9`` priced a 4-node run's buy at
$5.5e12, ``server_price_hgx_h100_8gpu: 0`` at "capex $0.00"), and a job's ``network_cost_share`` could be 5
where the catalog's stopped at 1.
"""
from __future__ import annotations

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
#: keys ending so are shares of something: 0 to 1 (``network_cost_share``, ``staff_share_per_year``, ...)
FRACTION_SUFFIXES = ("_share", "_fraction", "_share_per_year")
#: any other key (a user's own row, ``gpu_price_h100_sxm``): a number from 0 to this
ANY_MAX = 1e9


def onprem_range(key: str) -> tuple[float, float, bool]:
    """(low, high, low excluded) of the on-prem input ``key``.

    >>> onprem_range("pue"), onprem_range("server_price_hgx_h200_8gpu"), onprem_range("network_cost_share")
    ((1.0, 3.0, False), (0.0, 100000000.0, True), (0.0, 1.0, False))
    """
    if key in ONPREM_RANGES:
        return ONPREM_RANGES[key]
    for prefix, r in ONPREM_RANGES.items():
        if prefix.endswith("_") and key.startswith(prefix):
            return r
    return (0.0, 1.0, False) if key.endswith(FRACTION_SUFFIXES) else (0.0, ANY_MAX, False)


def range_error(key: str, value: float) -> str | None:
    """Why ``value`` is out of ``key``'s range ("pue must be between 1 and 3, got 5"), None when it is in it."""
    lo, hi, open_lo = onprem_range(key)
    if (value > lo if open_lo else value >= lo) and value <= hi:
        return None
    return f"{key} must be {'above' if open_lo else 'between'} {lo:g} {'and at most' if open_lo else 'and'} {hi:g}, got {value:g}"
