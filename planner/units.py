"""Units and number formatting for people (no rich: plain strings). SI units inside the planner;
GiB, TFLOP/s, hours and dollars only when shown."""
from __future__ import annotations

import math
from dataclasses import dataclass

GiB = 2**30
#: hours in the month every $-a-month figure is at: a year's 8,760 h / 12 (cloud price calculators' 730 h; spot
#: interruption shares, serving budgets, on-prem hosting, the campaign's storage months)
HOURS_PER_MONTH = 8760.0 / 12


@dataclass(frozen=True)
class TimeUnit:
    """One unit of ``fmt_time``'s ladder: used for durations shorter than ``below`` seconds."""
    below: float  # seconds: the first duration too long for this unit
    seconds: float  # seconds in one unit
    short: str
    long: str
    decimals: int


#: how people read durations, shortest first: ms under a second, seconds under two minutes, minutes under
#: two hours, hours under three days, days under 1,000, then years -- one ladder for a single duration
#: (``fmt_time``), a table column (``fmt_time_column``) and the app's sortable columns (``duration_unit``)
TIME_UNITS = (TimeUnit(1.0, 1e-3, "ms", "milliseconds", 1), TimeUnit(120.0, 1.0, "s", "seconds", 2),
              TimeUnit(7200.0, 60.0, "min", "minutes", 1), TimeUnit(3 * 86400.0, 3600.0, "h", "hours", 1),
              TimeUnit(1000 * 86400.0, 86400.0, "d", "days", 1),
              TimeUnit(math.inf, 365.25 * 86400, "years", "years", 1))
#: the shortest unit of a column of run times (training, a GBDT fit): seconds -- milliseconds are for steps
RUN_TIME_SHORTEST = "s"


def time_unit(top_s: float, shortest: str = "ms") -> TimeUnit:
    """The unit of ``TIME_UNITS`` for a duration (or a column whose longest entry is) ``top_s`` seconds,
    never shorter than ``shortest`` (run times are not shown in ms).

    >>> time_unit(0.5).short, time_unit(54.2).short, time_unit(3 * 86400).short, time_unit(5.0, "min").short
    ('ms', 's', 'd', 'min')
    >>> fmt_time(0.99996), fmt_time(7199.9)
    ('1.00 s', '2.0 h')
    """
    units = TIME_UNITS[[u.short for u in TIME_UNITS].index(shortest):]
    # judged as shown (rounded to the unit's decimals: 0.99996 s is "1.00 s", not "1,000.0 ms"); the last unit
    # past every limit, so an infinite duration does not fall off the ladder
    return next((u for u in units if round(top_s / u.seconds, u.decimals) * u.seconds < u.below), units[-1])


def _in_unit(s: float, u: TimeUnit) -> str:
    """``s`` seconds in unit ``u``: its decimals; an entry under one unit keeps two significant figures, so a
    column whose unit its longest row set reads each row plainly (two 28-minute plans beside a 14-hour one in
    recommend's hours column read "0.5" and "0.5" until QA 67, now "0.47"; "0.0001 h" read "0.00010 h"); years
    thousands-separated ("2212281.9 d" was not read as 6,057 years) and from a million in exponent form (a run
    without checkpoints under frequent failures: e^75 restarts)."""
    v = s / u.seconds
    if u.short == "s" and 0 < v < 0.001:  # run times start at seconds: under a millisecond is below the models' floor
        return "<0.001 s"
    if 0 < abs(v) < 10.0 ** (1 - u.decimals):  # fewer than two significant figures at the unit's decimals
        return f"{fmt_sig(v, 2)} {u.short}"
    if abs(v) >= 1e6:
        return f"{v:.1e} {u.short}"
    return f"{v:,.{u.decimals}f} {u.short}"


def fmt_time(s: float | None) -> str:
    """A duration in the unit ``TIME_UNITS`` gives it; "-" unknown, "never" infinite.

    >>> fmt_time(0.0123), fmt_time(54.16), fmt_time(5400), fmt_time(30 * 86400), fmt_time(float("inf"))
    ('12.3 ms', '54.16 s', '90.0 min', '30.0 d', 'never')
    """
    if s is None or s != s:
        return "-"
    if math.isinf(s):
        return "never"
    return _in_unit(s, time_unit(s))


def fmt_time_column(seconds, shortest: str = "ms") -> list[str]:
    """A table column of durations in one unit, the one ``fmt_time`` gives its longest finite entry (each
    entry went its own way before, so a column read "6.7 h" above "109.5 min" and "54.16 s" above
    "895.3 ms"); "-" for an unknown entry, "never" for an infinite one (a spot plan interrupted faster than
    it checkpoints), which does not set the unit.

    >>> fmt_time_column([54.16, 0.8953, float("nan")])
    ['54.16 s', '0.90 s', '-']
    >>> fmt_time_column([6.725 * 3600, 1.825 * 3600, float("inf")])
    ['6.7 h', '1.8 h', 'never']
    """
    xs = [float(x) for x in seconds]
    u = time_unit(max((x for x in xs if math.isfinite(x)), default=0.0), shortest)
    return ["-" if x != x else "never" if math.isinf(x) else _in_unit(x, u) for x in xs]


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st: the job's own tier, not always "10th".

    >>> [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 102)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '102nd']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


#: the smallest positive cost ``fmt_usd`` shows in digits (below it: "<$0.0001")
USD_SMALLEST = 1e-4


def fmt_usd(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    if x >= 1e12:  # past a million $M: "$1.4e+39", not 31 digits before the M
        return f"${x:.1e}"
    if 0 < x < USD_SMALLEST:  # a positive cost below the smallest shown: "<$0.0001", not "$0.00"
        return f"<${USD_SMALLEST:.4f}"
    if 0 < x < 0.1:  # under ten cents: two significant figures ("$0.0030", "$0.012"), not cents, which read a
        # 1-second fine-tune's $0.003 as "$0.00" (later "<$0.01") and $0.006 and $0.014 both as "$0.01"
        return "$" + fmt_sig(x, 2)
    # (from, divisor, decimals, suffix): "$1.06B", not "$1059.58M" (four digits and no separator before the M); three
    # significant figures from $1k ("$1.35k", not "$1.4k" beside "$552.63"). A value that rounds up to 1000 of its
    # unit reads in the next one: "$1.00B", not "$1000.00M" (999.996e6), "$1.00k", not "$1000.00"
    tiers = ((1e9, 1e9, 2, "B"), (1e6, 1e6, 2, "M"), (1e4, 1e3, 1, "k"), (1e3, 1e3, 2, "k"), (0.0, 1.0, 2, ""))
    k = next(i for i, (lo, *_) in enumerate(tiers) if x >= lo or lo == 0.0)
    _, div, nd, suffix = tiers[k]
    if k > 0 and round(x / div, nd) * div >= tiers[k - 1][0]:  # rounds up into the next tier: "$10.0k", not "$10.00k"
        _, div, nd, suffix = tiers[k - 1]
    return f"${x / div:.{nd}f}{suffix}"


def fmt_years(y: float, unit: str = " years") -> str:
    """An amortisation period as given ("-year" for the adjective): ``:.0f`` read a 2.5-year horizon as "2 years"
    and 0.5 as "0 years".

    >>> fmt_years(4), fmt_years(2.5), fmt_years(1), fmt_years(0.5, "-year")
    ('4 years', '2.5 years', '1 year', '0.5-year')
    """
    return f"{y:g}{unit}" if unit == "-year" or y != 1 else "1 year"


#: the magnitudes ``fmt_sig`` writes in digits; outside them, powers of ten
SIG_PLAIN = (1e-6, 1e15)


def fmt_sig(x: float, n: int = 3) -> str:
    """``x`` to ``n`` significant figures, trailing zeros kept so a column reads at one precision ("0.130"
    beside "0.182", "2.00" beside "1.96", "13.0 to 15.2"; Python's ``g`` format printed "0.13", "2", "13"),
    thousands separated, whole units from ``n`` digits up ("1,234", not "1.23e+03"); 0 is "0". Past a quadrillion
    and under a millionth (``SIG_PLAIN``), powers of ten: a failure every 1.8e-297 ms printed 297 zeros, and 2.7e299
    years' GPU-hours 300 digits (QA 36).

    >>> fmt_sig(1.8e-297, 1), fmt_sig(6.05e301), fmt_sig(3.2e-6), fmt_sig(999_999_999_999_999.0)
    ('2e-297', '6.05e+301', '0.00000320', '999,999,999,999,999')
    """
    if x == 0 or x != x or x in (float("inf"), float("-inf")):
        return "0" if x == 0 else str(x)
    if not SIG_PLAIN[0] <= abs(x) < SIG_PLAIN[1]:
        return f"{x:.{n - 1}e}"
    decimals = n - 1 - math.floor(math.log10(abs(x)))
    if decimals <= 0:  # n digits or more before the point: whole units, not rounded away ("1,234")
        return f"{x:,.0f}"
    r = round(x, decimals)
    if r != 0 and math.floor(math.log10(abs(r))) != math.floor(math.log10(abs(x))):  # 0.0999 -> 0.100, 99.96 -> 100
        decimals -= 1
    return f"{r:,.{max(decimals, 0)}f}"


def fmt_given(x: float) -> str:
    """A figure the user gave (a target, a token count), as given: whole numbers without a decimal and with
    thousands separators ("5,000 ms", "32,000 prompt", "2 QPS"; they printed "5000.0", "32000", "2.0"), others to
    six significant figures ("0.5", "57.9").

    >>> fmt_given(5000.0), fmt_given(32000), fmt_given(2.0), fmt_given(0.5), fmt_given(57.9)
    ('5,000', '32,000', '2', '0.5', '57.9')
    """
    x = float(x)
    return f"{int(x):,}" if x.is_integer() and abs(x) < 1e15 else f"{x:,.6g}"


def fmt_pct(x: float | None) -> str:
    """A share such as MFU in a table or a sentence: a whole percent ("53%"), one decimal below 10% ("0.4%",
    "7.5%"), so a 0.4% MFU does not print as "0%"; under a twentieth of a percent "<0.1%" (a toy model's 0.004% MFU
    read "0.0%" in recommend's table until QA 34); "-" for none.

    >>> fmt_pct(0.53), fmt_pct(0.004), fmt_pct(4e-5), fmt_pct(0.0)
    ('53%', '0.4%', '<0.1%', '0.0%')
    """
    if x is None or x != x:
        return "-"
    if 0 < x < 0.0005:
        return "<0.1%"
    return f"{x:.1%}" if abs(x) < 0.0995 else f"{x:.0%}"


def fmt_share(x: float) -> str:
    """A share or an overhead as a percentage, one decimal ("34.8%"); past a million percent in powers
    of ten ("6.7e+32%"), where a run without checkpoints waits e^75 restarts; a positive one under a
    twentieth of a percent "<0.1%" (a 1.3 ms save every 50 steps of 0.36 s read "+0.0% time").

    >>> fmt_share(0.348), fmt_share(7e-5), fmt_share(0.0)
    ('34.8%', '<0.1%', '0.0%')
    """
    if 0 < x < 0.0005:
        return "<0.1%"
    return f"{x:.1%}" if abs(x) < 1e4 else f"{x * 100:.1e}%"


def fmt_goodput(g: float) -> str:
    """Goodput (useful time / wall time) to a tenth of a percent; under 100% by less than that ">99.9%", not
    "100.0%" beside an overhead that is not zero.

    >>> fmt_goodput(0.8783), fmt_goodput(0.99993), fmt_goodput(1.0)
    ('87.8%', '>99.9%', '100.0%')
    """
    return ">99.9%" if 0.9995 <= g < 1 else f"{g:.1%}"


def fmt_many(x: float) -> str:
    """An expected count, one decimal with thousands separators ("101.5", "1,234.5"); past a billion in
    powers of ten ("5.0e+32"); under 0.05, two significant figures ("0.0063", not "0.0": a short run's
    expected failures are few, not none), and under 0.001 "<0.001"."""
    if 0 < abs(x) < 0.05:
        return "<0.001" if abs(x) < 0.001 else fmt_sig(x, 2)
    return f"{x:,.1f}" if abs(x) < 1e9 else f"{x:.1e}"


def fmt_rate(x: float | None) -> str:
    """A small price such as $ per million tokens, to three significant figures: 1.75, 0.0338, 26.3
    (two decimals printed 0.03 for every plan of a cheap run; the report printed three, the table two)."""
    if x is None or x != x:
        return "-"
    return fmt_sig(x, 3) if x < 1e9 else f"{x:.1e}"  # past a billion: powers of ten


def fmt_count(x: float) -> str:
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.0f}"


def params_str(plan: dict) -> str:
    """A plan's parameter count for people: ``46.70B params (12.88B active)``, and where the total holds
    multi-token-prediction modules, their share (``682.64B params (38.24B active), 11.61B of them multi-token
    prediction (MTP)``): DeepSeek-V3 is published as 671B / 37B without its MTP module, and "682.64B" beside it read as a
    miscount."""
    s = f"{fmt_count(plan['params'])} params"
    if plan["params_active"] != plan["params"]:
        s += f" ({fmt_count(plan['params_active'])} active)"
    mtp = plan.get("params_mtp") or 0
    if mtp:
        s += f", {fmt_count(mtp)} of them multi-token prediction (MTP)"
    return s


def hardware_str(hw: dict) -> str:
    """A plan's hardware for people: ``2 x aws:p5.48xlarge (16 x H100-SXM-80GB)`` for catalog instances; a
    bare-GPU cluster has no instance name, so its node is spelt out (``256 nodes x 8 H100-SXM-80GB (2,048
    GPUs)``) or, where a reference system sets the node (a GB200 NVL72 rack), named (``2 x
    nvidia:DGX-GB200-NVL72 (144 x GB200-B200)``) -- "2 x GB200-B200 (144 x GB200-B200)" read as two GPUs.
    TPUs and Trainium count chips (``hw["device"]``): ``2 nodes x 4 TPU-v5p (8 chips)``. GPUs held below their
    rated power limit (``cluster.power_limit_w``) say so: ``2 nodes x 8 H100-SXM-80GB (16 GPUs) at 500 W``."""
    return _hardware_words(hw) + power_words(hw)


def held_limit(hw: dict) -> float | None:
    """The power limit (W) a plan's GPUs are held at below their rated one (``Hardware.power_limit_w`` under
    ``rated_power_limit_w``: the job's ``cluster.power_limit_w``), or None where they run at their rated limit."""
    limit, rated = hw.get("power_limit_w"), hw.get("rated_power_limit_w")
    return float(limit) if limit and rated and limit < rated else None


def power_words(hw: dict) -> str:
    """" at 500 W" for a plan's hardware held below its rated power limit (``held_limit``), else "": the limit as the
    job gave it (``fmt_given``; 699.6 W read "at 700 W" under a rated 700 W until fuzz44)."""
    limit = held_limit(hw)
    return f" at {fmt_given(limit)} W" if limit else ""


def rack_words(hw: dict) -> str:
    """" (2 segments of 8 trays = 64 GPUs; billed: 1 rack of 72 GPUs)" for a plan in NVL72 segments smaller than the rack
    (``Hardware.racks_billed``: what is rented, planner.hardware.options ``racks_billed``), else ""."""
    racks, trays = hw.get("racks_billed"), hw.get("segment_trays")
    if not racks or not trays or hw["gpus_per_node"] == hw.get("rack_gpus"):
        return ""
    n = hw["nodes"]
    return (f" ({n:,} segment{'s' if n != 1 else ''} of {trays} trays = {hw['gpus']:,} GPUs; billed: {racks:,} "
            f"rack{'s' if racks != 1 else ''} of {hw['rack_gpus']} GPUs)")


def _hardware_words(hw: dict) -> str:
    nodes, gpus, gpu = hw["nodes"], hw["gpus"], hw["gpu"]
    if hw["name"] != gpu:
        return f"{nodes} x {hw['name']} ({gpus:,} x {gpu})"
    if hw.get("gpus_per_host") and hw.get("reference_system"):
        return f"{nodes} x {hw['reference_system']} ({gpus:,} x {gpu})"
    return f"{nodes} node{'s' if nodes != 1 else ''} x {hw['gpus_per_node']} {gpu} ({count_of(gpus, device_of(hw))})"


def device_of(hw: dict) -> str:
    """What a plan's hardware calls one accelerator: "GPU" or "chip" (``Hardware.device``)."""
    return hw.get("device") or "GPU"


def fmt_steps(n: float) -> str:
    """``1 step``, ``3,205 steps`` (a whole count from a float step count; "1 steps" was printed)."""
    return count_of(round(n), "step")


def every_steps(n: int) -> str:
    """``every step``, ``every 500 steps`` (a cadence; "a pause every 1 steps" was printed for every_steps: 1)."""
    return "every step" if n == 1 else f"every {n:,} steps"


def fmt_gib_pair(used_bytes: float, limit_bytes: float) -> str:
    """A plan's memory against its limit for a table cell, ``used/limit`` in GiB: whole GiB, or one decimal
    where whole GiB would read a plan under its limit as at it (29.6 of 30.4 printed "30/30").

    >>> fmt_gib_pair(50.3 * GiB, 76 * GiB), fmt_gib_pair(29.6 * GiB, 30.4 * GiB)
    ('50/76', '29.6/30.4')
    """
    u, lim = used_bytes / GiB, limit_bytes / GiB
    if round(u) == round(lim) and u != lim:
        return f"{u:.1f}/{lim:.1f}"
    return f"{u:.0f}/{lim:.0f}"


def count_of(n: int, noun: str) -> str:
    """``8 chips``, ``1 GPU``, ``2,048 GPUs``."""
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


#: recompute in a layout string: "rc:sel", "rc:full" (the first three letters printed "rc:ful")
RECOMPUTE_SHORT = {"selective": "sel", "full": "full"}


def config_str(cfg: dict) -> str:
    parts = [f"TP{cfg['tp']}", f"PP{cfg['pp']}", f"DP{cfg['dp']}"]
    if cfg.get("cp", 1) > 1:
        parts.append(f"CP{cfg['cp']}")
    if cfg.get("ep", 1) > 1:
        parts.append(f"EP{cfg['ep']}")
    if cfg.get("etp") is not None and cfg["etp"] != cfg["tp"]:  # expert-TP other than TP (Megatron's default)
        parts.append(f"ETP{cfg['etp']}")
    if cfg.get("vpp", 1) > 1:
        parts.append(f"v{cfg['vpp']}")
    if cfg.get("schedule") == "dualpipev":  # the V of two stages a rank is its own (no vpp): said by name
        parts.append("DualPipeV")
    # HSDP (``dp_shard`` below dp): "z3/8" = ZeRO-3 sharded over 8 DP ranks, replicated across the rest;
    # ZeRO-2/3 run as Megatron-FSDP (the stack option megatron_fsdp: optim_grads / optim_grads_params) "mfsdp:z2"
    # / "mfsdp:z3", not the "z2"/"z3" of the stack's own ZeRO (a search over the option printed both alike)
    hsdp = cfg.get("dp_shard")
    mfsdp = "mfsdp:" if cfg.get("megatron_fsdp") and cfg["zero"] >= 2 else ""
    z = f"{mfsdp}z{cfg['zero']}" + (f"/{hsdp}" if hsdp is not None and hsdp != cfg["dp"] else "")
    s = " ".join(parts) + f" {z} mb{cfg['micro_batch']}"
    if cfg["recompute"] != "none":
        s += f" rc:{RECOMPUTE_SHORT.get(cfg['recompute'], cfg['recompute'])}"
        mods = cfg.get("recompute_modules")  # Megatron-Core per-module recompute (a table row: "a+b")
        if mods:
            s += "(" + (mods if isinstance(mods, str) else "+".join(mods)) + ")"
        if cfg.get("recompute_method"):  # partial full recompute: "rc:full(block 5)" (Megatron's method and N)
            s += f"({cfg['recompute_method']} {cfg.get('recompute_num_layers') or '?'})"
    if cfg.get("offload", "none") != "none":
        s += f" off:{cfg['offload']}"
    if cfg.get("pp_layout"):  # the job's explicit Megatron pipeline layout (stack option pp_layout)
        s += f" layout:{cfg['pp_layout']}"
    elif cfg.get("rank_layers") and len(set(cfg["rank_layers"])) > 1:  # an uneven split: "split:3/4x14/2"
        s += " split:" + split_str(cfg["rank_layers"])
    elif cfg.get("pp_split") in ("megatron", "torchtitan") and cfg.get("pp", 1) > 1:  # the stack's own split (fallback)
        s += f" split:{cfg['pp_split']}"
    if cfg.get("pp_pass_microbatches") and cfg.get("pp", 1) > 1:  # runs of the schedule per accumulation step: "pass:16"
        s += f" pass:{cfg['pp_pass_microbatches']}"
    return s


def split_str(rank_layers) -> str:
    """Decoder layers per pipeline rank, runs of equal ranks as ``nxk``: (3, 4, .., 4, 2) -> "3/4x14/2"."""
    runs: list[list[int]] = []
    for n in rank_layers:
        if runs and runs[-1][0] == n:
            runs[-1][1] += 1
        else:
            runs.append([n, 1])
    return "/".join(f"{n}x{k}" if k > 1 else f"{n}" for n, k in runs)


def fmt_usd_cents(x: float) -> str:
    """Small amounts to a hundredth of a cent (a GBDT run costs cents): $0.0123, $12.50; from $1e12 as ``fmt_usd``
    writes it (a GBDT plan at the slowest measured rate read "$24,791,666,666,666.66", its cents shown: fuzz46).

    >>> fmt_usd_cents(0.0123), fmt_usd_cents(12.5), fmt_usd_cents(2.479e13)
    ('$0.0123', '$12.50', '$2.5e+13')
    """
    if x >= 1e12:
        return fmt_usd(x)
    return f"${x:.4f}" if x < 1 else f"${x:,.2f}"


def duration_unit(top_hours: float) -> tuple[float, str, str]:
    """(scale from hours, short unit, long unit) of a column of run times whose longest entry is
    ``top_hours``: ``time_unit`` from seconds up (``RUN_TIME_SHORTEST``), for the app's sortable columns.

    >>> duration_unit(1.5), duration_unit(50.0), duration_unit(float("inf"))[1:]
    ((60.0, 'min', 'minutes'), (1.0, 'h', 'hours'), ('years', 'years'))
    """
    u = time_unit(top_hours * 3600.0, RUN_TIME_SHORTEST)
    return 3600.0 / u.seconds, u.short, u.long


def fmt_step_s(x: float) -> str:
    """A "step s" cell: two decimals from a second up, three significant figures below it (a search on 4,096
    GPUs read "0.09" above "0.08").

    >>> fmt_step_s(12.345), fmt_step_s(0.0912), fmt_step_s(0.5)
    ('12.35', '0.0912', '0.500')
    """
    return f"{x:,.2f}" if abs(x) >= 1 or x == 0 else fmt_sig(x, 3)


def fmt_gib(x_bytes: float) -> str:
    """A memory-table cell in GiB: two decimals, a non-zero amount that would read "0.00" to two
    significant figures (a rank-1 LoRA's gradients: "0.0016", not "0.00").

    >>> fmt_gib(14.96 * 2**30), fmt_gib(1.7e6), fmt_gib(0)
    ('14.96', '0.0016', '0.00')
    """
    g = x_bytes / GiB
    return fmt_sig(g, 2) if 0 < abs(g) < 0.005 else f"{g:,.2f}"


def fmt_step_share(x: float) -> str:
    """A part's share of the step (or of a simulated run's wall time) to a tenth of a percent; a non-zero share
    under that "<0.1%", not "0.0%"."""
    return "<0.1%" if 0 < x < 0.0005 else f"{x:.1%}"


def fmt_hours_column(hours) -> list[str]:
    """``fmt_time_column`` of durations given in hours, from seconds up (run times, not step times: no ms).
    A GBDT fit of seconds read "0.0 min", a one-row job "0.000000000003 min".

    >>> fmt_hours_column([0.5, 1.2]), fmt_hours_column([1888.2, 12.0])
    (['30.0 min', '72.0 min'], ['78.7 d', '0.50 d'])
    >>> fmt_hours_column([0.6 / 3600, 0.02 / 3600, 1e-15])
    ['0.60 s', '0.020 s', '<0.001 s']
    """
    return fmt_time_column([float(h) * 3600.0 for h in hours], RUN_TIME_SHORTEST)


def fmt_run_time(hours: float) -> str:
    """One run time (hours) as a run-time column shows it, from seconds up: a GBDT fit's recommendation line read
    "614.8 ms" beside its table's "0.61 s".

    >>> fmt_run_time(0.6148 / 3600), fmt_run_time(78.5)
    ('0.61 s', '3.3 d')
    """
    return fmt_hours_column([hours])[0]


def duration_cell(value: float, unit: str) -> str:
    """One cell of a sortable column already in ``unit`` (a ``TIME_UNITS`` long name, the app's "days to train"),
    as ``duration_column`` writes it: the unit's decimals, "never" for an infinite run, "-" for none -- the app's
    tables drew 1888.16 beside 12 ("0.5" in the terminal's column) and an empty cell as "None".

    >>> duration_cell(214.6, "days"), duration_cell(30.0, "minutes"), duration_cell(float("inf"), "days")
    ('214.6', '30.0', 'never')
    """
    if value is None or value != value:
        return "-"
    if math.isinf(value):
        return "never"
    u = next(t for t in TIME_UNITS if t.long == unit)
    return _in_unit(float(value) * u.seconds, u).rsplit(" ", 1)[0]


def duration_column(hours) -> tuple[str, str, list[str]]:
    """``fmt_hours_column``'s cells without their unit, with the unit (short, long): a table that names the
    unit once in its header (recommend's and compare's, whose fixed "days" column printed an 11-hour TPU run
    as "0.47" and a 6-minute fine-tune as "0.0043").

    >>> duration_column([0.7, 11.3])
    ('h', 'hours', ['0.70', '11.3'])
    >>> duration_column([14.1, 28 / 60, 28 / 60])[2]  # each row to two significant figures (QA 67)
    ['14.1', '0.47', '0.47']
    >>> duration_column([6646.0, float("nan"), float("inf")])
    ('d', 'days', ['276.9', '-', 'never'])
    """
    xs = [float(h) * 3600.0 for h in hours]
    u = time_unit(max((x for x in xs if math.isfinite(x)), default=0.0), RUN_TIME_SHORTEST)
    cells = ["-" if x != x else "never" if math.isinf(x) else _in_unit(x, u) for x in xs]
    return u.short, u.long, [c if c in ("-", "never") else c.rsplit(" ", 1)[0] for c in cells]
