"""The power limit a job holds its GPUs at (``cluster.power_limit_w``, what ``nvidia-smi -pl`` sets): the range a
part accepts and the limit each hardware option runs at. What the limit costs in clock is the model's
(planner.model.physics.clock_fraction); this module only says which limits a part can be held at.

A GPU's driver accepts a limit between its minimum and maximum power limit (``nvidia-smi -q -d power``: "Min Power
Limit", "Max Power Limit"; ``nvidia-smi -pl`` refuses anything outside them). The maximum is the catalog row's rated
limit (``power_limit_w``: the datasheet's TDP / max board power, the default limit of a stock board); the minimum is
``MIN_POWER_LIMIT_W`` where a published reading gives it, else ``FLOOR_FRACTION`` of the rated limit.
"""
from __future__ import annotations

from planner.units import fmt_given

#: published minimum power limits (W), by catalog GPU name prefix: (minimum, the rated limit of the board read, source).
#: H100 SXM5 80 GB, 700 W: ``nvidia-smi -q -d power`` reads "Min Power Limit: 200.00 W, Max Power Limit: 700.00 W",
#: and ``nvidia-smi -pl 50`` is refused "should be between 200.00 W and 700.00 W" (stackhpc/ansible-slurm-appliance
#: PR #975, an H100 node's session). A100 SXM4, 400 W: "Default
#: Power Limit: 400.00 W, Min Power Limit: 100.00 W, Max Power Limit: 400.00 W" (NVIDIA/DCGM issue #152's
#: ``nvidia-smi -q``).
MIN_POWER_LIMIT_W = {
    "H100-SXM-80GB": (200.0, 700.0, "nvidia-smi -q \"Min Power Limit\" of an H100 SXM"),
    "A100-SXM": (100.0, 400.0, "nvidia-smi -q \"Min Power Limit\" of an A100 SXM4"),
}
#: a part with no published minimum is held to the largest share of its rated limit a sourced part refuses below
#: (H100 SXM: 200 / 700 = 0.286): conservative, it never plans a part below a floor its sourced kin would refuse,
#: and the clock law (P ~ f^3) holds only inside the DVFS range such floors bound
FLOOR_FRACTION = max(lo / rated for lo, rated, _ in MIN_POWER_LIMIT_W.values())


def power_floor(gpu) -> tuple[float, str]:
    """(the lowest limit ``gpu`` accepts in W, its basis): ``MIN_POWER_LIMIT_W``'s reading, or ``FLOOR_FRACTION`` of
    the rated limit. ``gpu`` must have a rated limit (``power_limit_w``)."""
    return floor_of(gpu.name, gpu.power_limit_w)


def floor_of(name: str, rated: float) -> tuple[float, str]:
    """``power_floor`` of the part named ``name`` whose rated limit is ``rated`` W (a result row's ``gpu`` and
    ``rated_power_limit_w``, which carry no catalog object)."""
    for prefix, (lo, _, source) in MIN_POWER_LIMIT_W.items():
        if name.upper().startswith(prefix.upper()):
            return lo, source
    return FLOOR_FRACTION * rated, (f"no published minimum for {name}: {FLOOR_FRACTION:.3g} of its "
                                    "rated limit, the H100 SXM's 200 / 700 W")


def limit_range(gpus) -> tuple[float, float] | None:
    """(the lowest minimum, the highest rated limit) in W over ``gpus`` that have a rated limit: the limits at which
    at least one of them can be held (a search holds each at the lower of the limit and its own rated one, and leaves
    out a part whose minimum is above it: ``searched_limit``, planner.hardware.options ``held_instances``); None where
    none has a rated limit (TPUs, Trainium: no clock law to apply)."""
    rated = [g for g in gpus if getattr(g, "power_limit_w", None)]
    if not rated:
        return None
    return min(power_floor(g)[0] for g in rated), max(float(g.power_limit_w) for g in rated)


def limit_steps(lo: float, hi: float, step: float = 25.0) -> tuple[float, ...]:
    """Limits from ``lo`` to ``hi`` W for a control: the whole watt at or above ``lo`` (a part refuses a limit below
    its minimum), the multiples of ``step`` between, and ``hi``.

    >>> limit_steps(200, 300), limit_steps(20.57, 72)
    ((200.0, 225.0, 250.0, 275.0, 300.0), (21.0, 25.0, 50.0, 72.0))
    """
    first = float(-(-lo // 1))
    inner = [k * step for k in range(int(first // step) + 1, int(-(-hi // step)))]
    return tuple(dict.fromkeys([first, *inner, float(hi)]))


def sweep_limits(name: str, rated: float, points: int = 6) -> list[float]:
    """``points`` limits evenly from the part's minimum (``floor_of``) to its rated limit, whole watts: a sensitivity
    sweep of the power limit (an H100 SXM: 200, 300, ..., 700 W)."""
    lo = floor_of(name, rated)[0]
    return sorted({float(round(lo + (rated - lo) * k / (points - 1))) for k in range(points)})


def limit_error(gpu, limit_w: float) -> str | None:
    """Why ``gpu`` cannot be held at ``limit_w`` (one line, no field name), or None where it can: a part whose catalog
    row has no power limit (nothing to hold it to, no clock law to apply), a limit above the rated one (the most
    ``nvidia-smi -pl`` sets) or below the part's minimum (``power_floor``). The job's limit is quoted as given
    (``units.fmt_given``): rounded to whole watts, 700.4 W read "700 W is above H100-SXM-80GB's rated 700 W" and
    ``1e-9`` "0 W" until fuzz43."""
    rated = getattr(gpu, "power_limit_w", None)
    if not rated:
        return f"{gpu.name}'s catalog row has no power limit to hold it to; leave cluster.power_limit_w out"
    if limit_w > rated * (1.0 + 1e-9):
        return f"{fmt_given(limit_w)} W is above {gpu.name}'s rated {rated:,.0f} W (its maximum power limit)"
    lo, basis = power_floor(gpu)
    if limit_w < lo * (1.0 - 1e-9):
        return f"{fmt_given(limit_w)} W is below {gpu.name}'s minimum power limit, {lo:,.0f} W ({basis})"
    return None


def searched_limit(gpu, limit_w: float | None) -> float | None:
    """The limit a searched option of ``gpu`` runs at under the job's ``limit_w``: a limit in watts means something
    per part, so each GPU is held at the lower of it and its own rated limit (a 500 W site limit leaves an L4, 72 W,
    as it is); None where the job sets none or the part has no rated limit."""
    rated = getattr(gpu, "power_limit_w", None)
    if limit_w is None or not rated:
        return None
    return min(float(limit_w), float(rated))


def searched_error(gpu, limit_w: float) -> str | None:
    """``limit_error`` of a searched ``gpu`` under the job's ``limit_w``: at the limit it runs at there
    (``searched_limit``: the lower of the job's and its rated one), the job's own where the part has no rated limit
    (which ``limit_error`` refuses). Why the search leaves the part out (planner.hardware.options ``held_instances``)
    and what a GPU ``constraints.gpus`` names then says (``_unsearched_why``)."""
    return limit_error(gpu, searched_limit(gpu, limit_w) or limit_w)
