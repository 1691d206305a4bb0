"""Hardware catalog: accelerators, cloud instances (with prices), interconnects, on-prem costs.

The built-in tables live in ``data/*.csv`` (human-editable, every row carries ``source`` and
``notes``). ``load_catalog()`` reads them once, then applies user overrides from ``extra_paths`` and
the ``PLANNER_CATALOG`` environment variable (``os.pathsep``-separated). Units inside are SI:
bytes, bytes/s, FLOP/s, USD/h; the CSVs use GiB, TB/s, TFLOP/s, GB/s, Gbit/s as a person reads them.

    >>> cat = load_catalog()
    >>> cat.gpu("h100").name
    'H100-SXM-80GB'
    >>> cat.instance("aws:p5.48xlarge").gpu_count  # a whole number, kept as a float column
    8.0
    >>> cat.instance("aws:p5.48xlarge").fabric, cat.instance("aws:p5.48xlarge").cluster
    ('efa', True)

Loading is linear in the number of rows: the GPU alias index is built once and updated row by row
(it used to be rebuilt, re-validating every GPU, for each override row: a 3,000-row file took ~39 s).
An override file may hold at most ``MAX_OVERRIDE_ROWS`` rows and may not name the same GPU, instance,
on-prem key or commitment twice.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import difflib
import functools
import io
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Optional

# (pandas is imported by the *_df tables that build frames: loading the catalog and a plan need none of it, and
# importing it took ~1 s of every command's start-up)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from hardware_catalog import fabric as launch_fabric
from hardware_catalog import files
from hardware_catalog import skypilot
from hardware_catalog.bounds import ANY_MAX, DEEPEST_DISCOUNT, DEFAULT_NETWORK_GBPS, RATE_FLOOR, range_error
from hardware_catalog.errors import (ECHO_CHARS, InputError, breaks_line, cut_middle, fit_message, formula_error,
                                     from_validation, shown_path)

DATA_DIR = Path(__file__).parent / "data"
ENV_VAR = "PLANNER_CATALOG"

GIB = 2**30
TB = 1e12
GB = 1e9
TERA = 1e12


#: Inter-node fabrics an instance row may name (``fabric`` column). ``none`` = the instance cannot be
#: networked into a training cluster at all (e.g. a RunPod single pod). ``tpu-ici``: a TPU slice whose chips
#: talk over ICI and which joins no other slice; ``tpu-dcn``: a whole TPU ICI slice that joins other slices over
#: the data-center network (Cloud TPU multislice): the row's node is the slice, ``network_gbps`` the NICs of its
#: hosts (TPU v6e: 4 x 200 Gbps per 8-chip host, Google's v6e page), ICI inside it at the chip's own rate.
FABRICS = ("efa", "infiniband", "roce", "ethernet", "tpu-ici", "tpu-dcn", "none")

#: Commitment terms in ``commitments.csv``: 1-/3-year reserved or committed-use prices, and AWS
#: EC2 Capacity Blocks (short reservations priced per instance-hour).
COMMITMENT_TERMS = ("1yr", "3yr", "capacity-block")

#: Most rows one override file may hold (all sections together). Real catalogs are ~100 rows; the
#: largest seen in an issue is 3,000. A 20,000-row GPU CSV (~1.1 MB) loads in ~0.8 s on the 2-core
#: dev box (benchmarks/bench_catalog.py measures 3,000) and fits the 8 MiB input limit of
#: ``hardware_catalog.files``; anything larger is refused with a message starting "too large:".
MAX_OVERRIDE_ROWS = 20_000

#: an override's price older than this many days (its ``price_date`` against today, UTC) is said to be stale on stderr
#: with every command: GPU list prices move by tens of percent within a year (AWS cut P5 on-demand prices by up to 45%
#: in June 2025: usage.ai "LLM Cost Optimization on AWS", https://www.usage.ai/blogs/aws/ai-ml-cost/llm-cost-optimization-aws/,
#: read 2026-12-05), so a half-year-old quote may price a plan far off. Until QA 46 any date, or none, passed unsaid.
#: A ``not before`` bound (``NOT_BEFORE``) is taken as at most as old as its bound day: within this many days it is
#: fresh, past them it "may be stale" (said, not asserted: the quote may be younger than the bound)
STALE_PRICE_DAYS = 180


def _quoted_period(text: str) -> tuple[datetime.date, datetime.date] | None:
    """(first day, last day) of an ISO date ``YYYY-MM-DD``, month ``YYYY-MM`` or year ``YYYY``; None for other text."""
    t = str(text).strip()
    if not t.isascii():  # (``isdigit`` and ``int`` take Arabic-Indic digits: ``٢٠٢٦`` was the year 2026, fuzz46b)
        return None
    try:
        if len(t) == 4 and t.isdigit():
            return datetime.date(int(t), 1, 1), datetime.date(int(t), 12, 31)
        if len(t) == 7 and t[4] == "-":
            first = datetime.date(int(t[:4]), int(t[5:]), 1)
            return first, (first + datetime.timedelta(days=31)).replace(day=1) - datetime.timedelta(days=1)
        day = datetime.date.fromisoformat(t)
        return day, day
    except ValueError:
        return None


#: Parts whose sustained clock is read off another catalog part's row (prefix of the part's name -> that part's
#: name): GB200's GPU is the B200 die, which its HGX row runs at its own power limit; GB300 takes GB200's clock. Why,
#: and the clock law applied to the reference's peak and power limit: ``planner.model.physics.sustained_clock``
#: (``SUSTAINED_CLOCK_OF`` is this table). The catalog resolves the names (``GPU.clock_reference``), so the reference
#: is the catalog in use's row, not the shipped one (until catalog40 the physics read the shipped catalog's, and a
#: ``--catalog`` row that repeaked the HGX B200 left GB200's clock as it was)
CLOCK_REFERENCE_OF = {"GB200": "B200-SXM-180GB", "GB300": "GB200-B200"}


#: the reference row's columns the clock law reads (``planner.model.physics.sustained_clock``: its BF16 peak and power
#: limit; ``tdp_w`` is the limit's older name)
CLOCK_REFERENCE_COLUMNS = {"bf16_tflops", "power_limit_w", "tdp_w"}


def clock_reference_name(name: str) -> str | None:
    """The catalog name of the part ``name``'s sustained clock is read off (``CLOCK_REFERENCE_OF``), or None."""
    return next((r for k, r in CLOCK_REFERENCE_OF.items() if str(name).upper().startswith(k)), None)


def _clock_takers(name: str, names: Iterable[str]) -> list[str]:
    """The parts of ``names`` whose sustained clock is read off ``name``'s row, directly or through another's (the HGX
    B200's: GB200, and GB300 through GB200), in that order."""
    out, todo = [], [name]
    while todo:
        ref = todo.pop(0)
        for n in names:
            if n != ref and n not in out and n != name and clock_reference_name(n) == ref:
                out.append(n)
                todo.append(n)
    return out


def _with_clock_references(gpus: dict[str, GPU]) -> dict[str, GPU]:
    """``gpus`` with each part's ``clock_reference`` set to the reference part as ``gpus`` has it (GB300's is GB200's
    row holding B200's); a reference missing from ``gpus``, or the part itself, leaves it None."""
    done: dict[str, GPU] = {}

    def resolve(name: str, depth: int = 0) -> GPU:
        if name not in done:
            ref = clock_reference_name(name)
            if ref is None or ref == name or ref not in gpus or depth > len(CLOCK_REFERENCE_OF):
                done[name] = gpus[name]
            else:
                done[name] = dataclasses.replace(gpus[name], clock_reference=resolve(ref, depth + 1))
        return done[name]

    return {n: resolve(n) for n in gpus}


#: an instance row's rate columns and the column that dates each where the row's ``price_date`` does not
#: (``Instance.rate_date``)
RATE_DATE_COLUMNS = {"price_ondemand_usd_hr": "price_ondemand_date", "price_spot_usd_hr": "price_spot_date"}

#: how a price row says its price is at most so old without a day of its own (prices38): ``not before YYYY-MM-DD
#: (evidence)``: the quote was taken on or after that day, which a source dates (a price cut, a launch the snapshot already
#: lists); the row's notes give the evidence in full. The SkyPilot snapshots name no fetch day (their commit times are not
#: in the offline index), so a bound is the most the built-in instance rows can say.
NOT_BEFORE = "not before"

#: how a price row says its price is at least so old without a day of its own (prices39): ``not after YYYY-MM-DD
#: (evidence)``: the quote was taken on or before that day, which a source dates (the day the snapshot holding it was
#: read: a commit's file cannot change, so a file read that day held prices fetched no later). The Lambda, RunPod,
#: Azure-fork and Shadeform snapshots have no lower bound (no dated offer or price change in them was found), so an upper
#: one is the most their rows can say. Its earliest day is unknown: it is never fresh, and stale once its day is over
#: ``STALE_PRICE_DAYS`` back.
NOT_AFTER = "not after"

#: how a price row says its quote lies between two days that each have evidence (catalog40): ``between YYYY-MM-DD and
#: YYYY-MM-DD (evidence for each end)``: taken on or after the first (a dated launch or price change the snapshot already
#: lists, as ``NOT_BEFORE``) and on or before the second (the day the snapshot was read, as ``NOT_AFTER``). At least as
#: old as the later end and at most as old as the earlier: stale once the later end is over ``STALE_PRICE_DAYS`` back,
#: "may be stale" once only the earlier end is, fresh while both are within. Until catalog40 such a row gave one end in
#: its price_date and the other in its notes (Lambda's "not before 2026-05-03 ... read 2026-11-23").
BETWEEN = "between"


def _between_period(price_date: Any) -> tuple[datetime.date, datetime.date] | None:
    """(first day of the earlier end, last day of the later end) of a ``between A and B ...`` price date, else None
    (not that form, an end that is no day, month or year, or ends the wrong way round: ``price_date_note`` says which)."""
    text = str(price_date or "").strip()
    if not text.lower().startswith(BETWEEN + " "):
        return None
    words = text[len(BETWEEN):].split()
    if len(words) < 3 or words[1].lower() != "and":
        return None
    a, b = _quoted_period(words[0]), _quoted_period(words[2].rstrip(":;,)"))
    return (a[0], b[1]) if a and b and a[0] <= b[1] else None


def _bound_period(price_date: Any, words_: str = NOT_BEFORE) -> tuple[datetime.date, datetime.date] | None:
    """The period a ``not before <date> ...`` (or, ``words_=NOT_AFTER``, ``not after <date> ...``) price date names
    (its day, month or year), else None."""
    text = str(price_date or "").strip()
    if not text.lower().startswith(words_ + " "):
        return None
    words = text[len(words_):].split()
    return _quoted_period(words[0].rstrip(":;,)")) if words else None


def price_date_kind(price_date: Any) -> str:
    """What a ``price_date`` says: ``exact`` (a day, month or year the price was quoted, with any words after it),
    ``not-before`` (a lower bound, ``NOT_BEFORE``: the quote is at most so old), ``not-after`` (an upper bound,
    ``NOT_AFTER``: the quote is at least so old) or ``unknown`` (anything else: "unknown: ...", blank). Until prices38
    every built-in instance row was "unknown"; until prices39 the Lambda, RunPod, Azure-fork and Shadeform ones.
    ``between`` (catalog40): both ends (``BETWEEN``), at least as old as the later and at most as old as the earlier."""
    if quoted_day(price_date) is not None:
        return "exact"
    if _between_period(price_date) is not None:
        return "between"
    if _bound_period(price_date) is not None:
        return "not-before"
    return "not-after" if _bound_period(price_date, NOT_AFTER) is not None else "unknown"


def cap_day(price_date: Any) -> datetime.date | None:
    """The last day a ``not after`` (or ``between``'s later end) price date allows (its month's or year's last day for a
    month or year: the latest the quote can be), else None."""
    period = _bound_period(price_date, NOT_AFTER) or _between_period(price_date)
    return period[1] if period else None


def cap_age_days(price_date: Any, today: datetime.date | None = None) -> int | None:
    """The fewest days a ``not after`` price can be old at ``today`` (UTC today by default): from its ``cap_day``;
    None for any other date."""
    day = cap_day(price_date)
    return None if day is None else _days_since(day, today)


def bound_day(price_date: Any) -> datetime.date | None:
    """The first day a ``not before`` (or ``between``'s earlier end) price date allows (its month's or year's first day
    for a month or year: the earliest the quote can be), else None."""
    period = _bound_period(price_date) or _between_period(price_date)
    return period[0] if period else None


def bound_age_days(price_date: Any, today: datetime.date | None = None) -> int | None:
    """The most days a ``not before`` price can be old at ``today`` (UTC today by default): from its ``bound_day``;
    None for an exact or unknown date."""
    day = bound_day(price_date)
    return None if day is None else _days_since(day, today)


def price_date_short(price_date: Any) -> str:
    """A price date for a table cell: the leading day, month or year of an exact date, ``not before <date>`` /
    ``not after <date>`` of a bound, ``unknown`` otherwise, ``-`` for none (the evidence stays in the row's own cell and notes)."""
    text = str(price_date or "").strip()
    if not text:
        return "-"
    kind = price_date_kind(text)
    if kind == "exact":
        return text.split()[0]
    if kind == "not-before":
        return f"{NOT_BEFORE} {text[len(NOT_BEFORE):].split()[0].rstrip(':;,)')}"
    if kind == "not-after":
        return f"{NOT_AFTER} {text[len(NOT_AFTER):].split()[0].rstrip(':;,)')}"
    if kind == "between":
        a, _, b = text[len(BETWEEN):].split()[:3]
        return f"{BETWEEN} {a} and {b.rstrip(':;,)')}"
    return "unknown"


def quoted_day(price_date: Any) -> datetime.date | None:
    """The last day of the period a ``price_date`` names: its leading ISO date, month or year, before any words the
    built-in rows add ("2025-03-06 (file generation date)", "2024 (page text: ...)"); None for a date said to be
    unknown ("unknown: catalog snapshot ..."), blank or other text. Until buy36 the first ten characters were read,
    so "2024 (page text ...)", the capacity-block rows' date, named no day and was never found stale."""
    words = str(price_date).split() if price_date is not None else []
    period = _quoted_period(words[0]) if words else None
    return period[1] if period else None


def price_age_days(price_date: Any, today: datetime.date | None = None) -> int | None:
    """Days from the last day of ``price_date``'s period (``quoted_day``) to ``today`` (UTC today by default)."""
    day = quoted_day(price_date)
    return None if day is None else _days_since(day, today)


def _days_since(day: datetime.date, today: datetime.date | None = None) -> int:
    """Whole days from ``day`` to ``today`` (UTC today by default), 0 for a day ahead of it: an override may be dated a
    day ahead of UTC (``price_date_note``'s grace for time zones east of it), and such a price read "-1 days old" /
    "at most -1 days old" (QA 55)."""
    return max(0, ((today or datetime.datetime.now(datetime.timezone.utc).date()) - day).days)


def stale_days(price_date: Any, today: datetime.date | None = None) -> int | None:
    """The age in days of a price dated ``price_date`` (an ISO date, month or year: counted from its last day) when
    over ``STALE_PRICE_DAYS``, else None (fresh, or a date such as the built-in rows' "unknown: ..." that names no
    day)."""
    age = price_age_days(price_date, today)
    return age if age is not None and age > STALE_PRICE_DAYS else None


def oldest_price(prices, today: datetime.date | None = None) -> dict | None:
    """The dates of the prices a plan used, ``prices`` = (what, price_date) pairs (``cost.price_dates``), summed up
    for a reader: ``oldest`` (the date as the row gives it), ``oldest_of`` (what it prices), ``oldest_kind``
    (``exact``, ``not-before`` or ``not-after``: ``price_date_kind``), ``age_days`` at ``today`` (UTC today by default;
    tests pass one; for a ``not-before`` oldest the most it can be, ``age_is_bound``; for a ``not-after`` one the
    fewest, ``age_is_floor``), ``stale`` (an exact date over ``STALE_PRICE_DAYS``, or a ``not after`` day that far
    back: the price is at least that old) with every stale one (``stale_prices``: what, date, age, ``at_least`` for a
    ``not after`` one), ``may_be_stale`` with ``may_be_stale_prices`` (a bound over ``STALE_PRICE_DAYS``: the price is
    at most that old, so it may be stale and is not known to be), every bounded one (``bounded``: what, date,
    ``at_most_days``), every capped one (``capped``: a ``not after`` date: what, date, ``at_least_days``; prices39) and
    the undated ones (``undated``: what, and the row's words). The oldest is the earliest day a price can be from: an
    exact date's last day (as before), a bound's first; a ``not after`` date names no earliest day, so it is the oldest
    only where no price has one (the earliest cap first). A ``between`` date (catalog40) is dated by its earlier end (as
    a bound: ``at_most_days``, ``age_is_bound``; as the oldest, its later end's age in ``age_floor_days``), is among
    ``bounded`` with its ``at_least_days`` too, and is stale (``at_least``) once its later end is over the limit, else
    may be stale once its earlier end is. None without prices. Until prices38 a bound read as undated; until prices39
    a ``not after`` date had no kind."""
    prices = [(w, "" if d is None else str(d)) for w, d in prices]
    if not prices:
        return None
    kinds = [(w, d, price_date_kind(d)) for w, d in prices]
    dated = [((quoted_day(d) if k == "exact" else bound_day(d)), w, d, k) for w, d, k in kinds
             if k in ("exact", "not-before", "between")]
    # a between date is a bound with a floor too (catalog40): at most so old from its earlier end, at least from its later
    bounded = [dict(what=w, price_date=d, at_most_days=bound_age_days(d, today),
                    **({"at_least_days": cap_age_days(d, today)} if k == "between" else {}))
               for w, d, k in kinds if k in ("not-before", "between")]
    capped = [dict(what=w, price_date=d, at_least_days=cap_age_days(d, today)) for w, d, k in kinds
              if k == "not-after"]
    out = dict(stale_after_days=STALE_PRICE_DAYS, oldest=None, oldest_of=None, oldest_kind=None, age_days=None,
               age_is_bound=False, age_is_floor=False, stale=False, stale_prices=[], may_be_stale=False,
               may_be_stale_prices=[], bounded=bounded, capped=capped,
               undated=[dict(what=w, price_date=d or "not given") for w, d, k in kinds if k == "unknown"])
    # a cap that far back is known to be stale: the price is at least that old (its earliest day is unknown)
    stale_caps = sorted([c for c in capped if c["at_least_days"] > STALE_PRICE_DAYS], key=lambda c: -c["at_least_days"])
    if dated:
        dated.sort(key=lambda t: t[0])  # oldest first (stable: the first listed of a day, as min took it)
        _, what, date, kind = dated[0]
        stale = [(w, d, stale_days(d, today)) for _, w, d, k in dated if k == "exact"]  # the threshold once
        # known stale (a between date's later end over the limit) goes with the stale ones, not "may be"
        maybe = [b for b in bounded if b["at_most_days"] > STALE_PRICE_DAYS
                 and b.get("at_least_days", 0) <= STALE_PRICE_DAYS]
        out.update(oldest=date, oldest_of=what, oldest_kind=kind,
                   age_days=price_age_days(date, today) if kind == "exact" else bound_age_days(date, today),
                   age_is_bound=kind in ("not-before", "between"),
                   **({"age_floor_days": cap_age_days(date, today)} if kind == "between" else {}),
                   stale_prices=[dict(what=w, price_date=d, age_days=a) for w, d, a in stale if a is not None],
                   may_be_stale_prices=[dict(what=b["what"], price_date=b["price_date"],
                                             at_most_days=b["at_most_days"]) for b in maybe])
        out.update(may_be_stale=bool(maybe))
    elif capped:
        first = min(capped, key=lambda c: cap_day(c["price_date"]))
        out.update(oldest=first["price_date"], oldest_of=first["what"], oldest_kind="not-after",
                   age_days=first["at_least_days"], age_is_floor=True)
    stale_caps += sorted([b for b in bounded if b.get("at_least_days", 0) > STALE_PRICE_DAYS],
                         key=lambda b: -b["at_least_days"])
    out["stale_prices"] += [dict(what=c["what"], price_date=c["price_date"], age_days=c["at_least_days"],
                                 at_least=True) for c in stale_caps]
    out.update(stale=bool(out["stale_prices"]))
    return out


def price_date_note(value: Any, where: str, origin: str, what: str, today: datetime.date | None = None,
                    column: str = "price_date") -> str | None:
    """Check an override row's ``price_date``: the day (``YYYY-MM-DD``; YAML's date reads as one), month (``YYYY-MM``)
    or year (``YYYY``) its price was quoted, so not after today (words may follow in parentheses, as the built-in rows
    write them: "2024-06 (Intel's list price ...)"), a bound ``not before <date> (...)`` (``NOT_BEFORE``,
    the form the built-in rows use where no source gives a day; prices38) or ``not after <date> (...)``
    (``NOT_AFTER``: at least so old, stale once over; its period may not start after today; prices39). Returns the stale note
    (``STALE_PRICE_DAYS``; for a bound "may be stale" once its most possible age is over) or None; a cell that is no
    such date is one ``CatalogError``. Until QA 46 any text passed ("yesterday", "15/11/2026", 2027-06-01) and was
    printed as the price's date in the report."""
    if isinstance(value, datetime.datetime):  # YAML's 2026-11-15 10:00:00: the day counts
        value = value.date()
    v = _blank_to_none(value)
    if v is None or str(v).strip().lower().startswith("unknown"):  # said to be unknown, as the built-in rows say it
        return None
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    if str(v).strip().lower().startswith(BETWEEN + " "):  # "between 2026-05-03 and 2026-11-23 (...)" (catalog40)
        return _between_note(v, where, origin, what, today, column)
    if _bound_period(v) is not None:  # "not before 2026-01-20 (...)": a bound, as the built-in rows give (prices38)
        if bound_day(v) > today + datetime.timedelta(days=1):
            raise CatalogError(f"{where}.{column}", f"{str(v).strip()} is after today ({today.isoformat()}): a "
                               "price cannot be quoted after today", origin)
        most = bound_age_days(v, today)
        return None if most <= STALE_PRICE_DAYS else (
            f"{_short_origin(origin)}: {what}: {column} {price_date_short(v)} is at most {most:,} days old (may be "
            f"stale: over {STALE_PRICE_DAYS}); its prices may have changed since: refresh the quote")
    if _bound_period(v, NOT_AFTER) is not None:  # "not after 2026-11-23 (...)": at least so old (prices39)
        if _bound_period(v, NOT_AFTER)[0] > today + datetime.timedelta(days=1):
            raise CatalogError(f"{where}.{column}", f"{str(v).strip()} is after today ({today.isoformat()}): give the "
                               "day the quote was taken, or today, as the bound", origin)
        least = cap_age_days(v, today)
        return None if least <= STALE_PRICE_DAYS else (
            f"{_short_origin(origin)}: {what}: {column} {price_date_short(v)} is at least {least:,} days old (stale: "
            f"over {STALE_PRICE_DAYS}); its prices may have changed since: refresh the quote")
    period = _quoted_period(str(v))
    words = str(v).split(maxsplit=1)
    if period is None and len(words) == 2 and words[1].startswith("("):
        # a date with its words in parentheses, as the built-in rows write it ("2024-06 (Intel's list price ...)") and
        # as a bound takes them: read by its leading day, month or year (QA 55: "2026-11-30 (rep quote)" was refused
        # where "not before 2026-10-01 (rep email)" was taken)
        period = _quoted_period(words[0])
    if period is None:
        raise CatalogError(f"{where}.{column}", f"must be the date the price was quoted, as YYYY-MM-DD (or YYYY-MM, "
                           f"YYYY), got {_short(v)!r} (words may follow it in parentheses; 'not before "
                           "YYYY-MM-DD' or 'not after YYYY-MM-DD' where only a bound is known, 'between YYYY-MM-DD and "
                           "YYYY-MM-DD' where both are)", origin)
    if period[0] > today + datetime.timedelta(days=1):  # a day's grace for time zones ahead of UTC
        raise CatalogError(f"{where}.{column}", f"{str(v).strip()} is after today ({today.isoformat()}): give the "
                           "date the price was quoted", origin)
    age = stale_days(str(v).strip(), today)
    if age is not None:
        return (f"{_short_origin(origin)}: {what}: {column} {price_date_short(v)} is {age:,} days old (stale: over "
                f"{STALE_PRICE_DAYS}); its prices may have changed since: refresh the quote")
    return None


def _between_note(v: Any, where: str, origin: str, what: str, today: datetime.date, column: str) -> str | None:
    """``price_date_note`` for a ``between A and B (...)`` date (``BETWEEN``): both ends a day, month or year, the
    earlier first, the later not after today; the stale note where the later end is over ``STALE_PRICE_DAYS`` back
    (at least so old), the "may be stale" one where only the earlier end is; a malformed one is one ``CatalogError``."""
    text = str(v).strip()
    words = text[len(BETWEEN):].split()
    a = _quoted_period(words[0]) if words else None
    b = _quoted_period(words[2].rstrip(":;,)")) if len(words) >= 3 and words[1].lower() == "and" else None
    if a is None or b is None:
        raise CatalogError(f"{where}.{column}", f"must be 'between YYYY-MM-DD and YYYY-MM-DD' (each end a day, month "
                           f"or year, the evidence for each in parentheses after them), got {_short(text, 60)!r}", origin)
    if a[0] > b[1]:
        raise CatalogError(f"{where}.{column}", f"{_short(text, 60)!r}: the earlier end comes first "
                           f"({words[0]} is after {words[2].rstrip(':;,)')})", origin)
    if b[0] > today + datetime.timedelta(days=1):
        raise CatalogError(f"{where}.{column}", f"{_short(text, 60)!r} ends after today ({today.isoformat()}): give "
                           "the day the quote was taken, or today, as the later end", origin)
    least, most = cap_age_days(text, today), bound_age_days(text, today)
    if least > STALE_PRICE_DAYS:
        return (f"{_short_origin(origin)}: {what}: {column} {price_date_short(v)} is at least {least:,} days old (stale: "
                f"over {STALE_PRICE_DAYS}); its prices may have changed since: refresh the quote")
    if most > STALE_PRICE_DAYS:
        return (f"{_short_origin(origin)}: {what}: {column} {price_date_short(v)} is at most {most:,} days old (may be "
                f"stale: over {STALE_PRICE_DAYS}); its prices may have changed since: refresh the quote")
    return None


DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")
_DTYPE_COLUMN = {"fp32": "fp32_tflops", "tf32": "tf32_tflops", "bf16": "bf16_tflops",
                 "fp16": "fp16_tflops", "fp8": "fp8_tflops", "int8": "int8_tops"}


class CatalogError(InputError):
    """A bad catalog input: unknown name, malformed override file, out-of-range value.

    ``field`` is the dotted path at fault (``cluster.gpu``, ``instances[3].price_ondemand_usd_hr``);
    ``origin`` names the override file when there is one, so the one-line message reads
    ``catalog override my.yaml: instances[3].price_ondemand_usd_hr: must be ...``.
    """

    def __init__(self, field: str, message: str, origin: str | None = None):
        super().__init__(field, message)
        self.origin = origin
        if origin:  # the field and message as InputError capped them (fuzz43: the raw message bypassed the cap), and
            # the file's name as a field is (ECHO_CHARS, its middle given way: the file's own name stays); until fuzz44 a
            # 3,000-character path made a 3,000-character line
            origin = cut_middle(str(origin), ECHO_CHARS)
            self.args = (f"catalog override {origin}: {self.field}: {self.message}",)

    def __str__(self) -> str:  # ValueError.__str__ uses args[0]
        return self.args[0]


# --------------------------------------------------------------------------- row schemas


def _blank_to_none(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, datetime.datetime):  # YAML's `price_date: 2026-11-15 10:00:00`: the day counts, as
        return v.date().isoformat()        # price_date_note checks it (QA 55: its isoformat, "2026-11-15T10:00:00",
    if isinstance(v, datetime.date):       # was no date, and the plan listed the user's dated price as undated)
        return v.isoformat()               # YAML reads `price_date: 2026-11-01` as a date
    if isinstance(v, str) and v.strip() == "":
        return None
    return v


class _Row(BaseModel):
    # nan / inf are refused as such: "nan" failed the upper bound and read "must be at most 100000.0
    # (absurd value), got 'nan'"
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, v: Any, info: ValidationInfo) -> Any:
        # YAML's true / yes is a typo in a number column, not 1 (pydantic's lax mode read `utilisation: yes` as 1.0 and
        # `price_ondemand_usd_hr: true` as 1 $/node-h; a job's onprem: field refused the same value)
        annotation = cls.model_fields[info.field_name].annotation
        if bool in _kinds(annotation):
            return bool_cell(v)  # the one reading of a bool cell (``_same_cell`` compares by it too)
        if _number_column(annotation):
            if isinstance(v, bool):
                raise ValueError("must be a number")
            # `price_ondemand_usd_hr: 3e1` in a YAML override is text to YAML 1.1 (a CSV cell always is): the job
            # file's rule (files.number_cell), so `pcie_gen: 5e0` is 5 and a refusal quotes the number; `4_0` and
            # Arabic-Indic digits are refused as no YAML number (pydantic's lax mode read `4_0` $/h as 40, fuzz46b)
            v = files.number_cell(v, whole=float not in _kinds(annotation))
        return _blank_to_none(v)

    @field_validator("*")
    @classmethod
    def _no_formula(cls, v: Any) -> Any:
        # every text cell: each is written back into a CSV (``planner catalog --csv``; the names in recommend's and
        # serve's ``--csv``), where a spreadsheet runs a leading =, +, - or @ as a formula (qa59)
        why = formula_error(v) if isinstance(v, str) else None
        if why:
            raise ValueError(why)  # the value is quoted back by from_validation
        return v


#: the text a bool column's cell takes (``bool_cell``), in any case: ``planner catalog instances --csv`` writes "True" /
#: "False", the shipped instances.csv "true" / "false", YAML 1.2's booleans arrive as bools
BOOL_CELL_WORDS = {"true": True, "false": False}


def bool_cell(v: Any) -> Optional[bool]:
    """A bool column's cell (``InstanceRow.cluster``) as a catalog row reads it: a bool, the text true / false in any
    case (``BOOL_CELL_WORDS``), or blank for unset (None); anything else is refused (ValueError). A CSV cell is text by
    nature, so text is read, but only these two words: pydantic's lax bool, which read the rows until qa69, took
    ``yes`` / ``no`` / ``on`` / ``off`` / ``y`` / ``n`` / ``t`` / ``f`` / ``1`` / ``0`` (and YAML's numbers 0 / 1), so a
    cell ``n`` or ``0`` planned a box as no cluster without a word; a job file's bool field takes YAML 1.2's spellings
    only (qa68, planner.spec.schema ``_strict_bools``). ``_same_cell`` reads an override cell by this function too.

    >>> bool_cell("TRUE"), bool_cell(" false "), bool_cell(""), bool_cell(False)
    (True, False, None, False)
    >>> bool_cell("yes")
    Traceback (most recent call last):
    ...
    ValueError: must be true or false (either case; empty leaves it unset)
    """
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in BOOL_CELL_WORDS:
        return BOOL_CELL_WORDS[v.strip().lower()]
    if isinstance(v, str) and not v.strip():
        return None
    raise ValueError("must be true or false (either case; empty leaves it unset)")  # (the refusal adds the cell)


def _kinds(annotation) -> set:
    """The types a column's annotation takes (``Optional[float]``: float and None's type)."""
    return set(typing.get_args(annotation)) | {annotation}


def _number_column(annotation) -> bool:
    """A column of numbers (int or float, not bool, not text)."""
    kinds = _kinds(annotation)
    return bool(kinds & {int, float}) and not kinds & {bool, str}


def _pos(lo: float = 0.0, hi: float = float("inf")):
    return Field(default=None, gt=lo, le=hi)


#: Nominal GB/s per direction of a PCIe x16 link by generation: 2.5 / 5 / 8 / 16 / 32 / 64 / 128 GT/s per lane
#: (PCI-SIG base specifications 1.0-7.0) x 16 lanes / 8 bits, before line coding — the rounded rates the
#: ``pcie_gbps_per_dir`` column carries (Gen4 x16: 31.5 GB/s after 128b/130b coding, quoted as 32; Gen5 64; Gen6
#: 128). The upper bound of a row's ``pcie_gbps_per_dir`` for its ``pcie_gen`` (``GpuRow``).
PCIE_X16_GBPS_PER_DIR = {1: 5.0, 2: 10.0, 3: 16.0, 4: 32.0, 5: 64.0, 6: 128.0, 7: 256.0}


def _rate(hi: float):
    """An optional speed column (TFLOP/s, GB/s, Gb/s): at least ``bounds.RATE_FLOOR``."""
    return Field(default=None, ge=RATE_FLOOR, le=hi)


#: the character that joins an instance's cloud and name into its key (``aws:p5.48xlarge``: ``Instance.key``)
KEY_SEPARATOR = ":"


def one_line_name(text: str, colon_why: str) -> str:
    """``text``, a name a catalog row gives, as the CLI prints it and takes it back, else ValueError: no
    ``KEY_SEPARATOR`` (``colon_why``: what the character splits where the name stands) and no character a terminal
    does not show as text on one line (``breaks_line``: a line end, a tab, an escape, a right-to-left override)."""
    if KEY_SEPARATOR in text:
        raise ValueError(f"must not hold {KEY_SEPARATOR!r} ({colon_why})")
    if breaks_line(text):
        raise ValueError("must not hold a line end, tab or other control character (a name is printed and typed "
                         "back on one line)")
    return text


def gpu_row_name(text: str) -> str:
    """A GPU row's name or one of its aliases (``one_line_name``): a ``KEY_SEPARATOR`` in it would read two ways, as
    ``gpu:count`` (SkyPilot's ``accelerators: H100:8``, which ``--emit skypilot`` writes from the GPU's name: a GPU
    ``H100:X`` was written ``H100:X:8``) and as an instance's ``cloud:name`` key (a serving plan's hardware is a
    catalog instance where its name holds one, planner.workloads.serving_budget). Until code48 an override row named
    ``H100:X`` was listed and planned as such.

    >>> gpu_row_name("H100-SXM-80GB")
    'H100-SXM-80GB'
    >>> gpu_row_name("H100:X")
    Traceback (most recent call last):
    ...
    ValueError: must not hold ':' (it splits gpu:count and an instance's key cloud:name)
    """
    return one_line_name(text, "it splits gpu:count and an instance's key cloud:name")


def instance_key_part(text: str) -> str:
    """An instance row's cloud or name as its key ``cloud:name`` takes it, else ValueError: no ``KEY_SEPARATOR``, which
    would make the key read two ways (``onprem:x8:y`` is cloud ``onprem``, name ``x8:y``; a bare ``x8:y`` is looked up
    as a key and never found, ``Catalog.instance``), and no character a terminal does not show as text on one line
    (``breaks_line``: a line end, a tab, an escape, a right-to-left override): a name with a line end printed as two
    table rows, ``onprem:x8`` and ``y``, and could not be given back to ``cluster.instance`` on one line (fuzz47b).

    >>> instance_key_part("p5.48xlarge")
    'p5.48xlarge'
    >>> instance_key_part("x8:y")
    Traceback (most recent call last):
    ...
    ValueError: must not hold ':' (it joins the cloud and the name in the instance's key, cloud:name)
    """
    return one_line_name(text, "it joins the cloud and the name in the instance's key, cloud:name")


class GpuRow(_Row):
    name: str = Field(min_length=1)
    aliases: Optional[str] = None
    vendor: str = Field(min_length=1)
    form_factor: Optional[str] = None
    memory_gib: float = Field(gt=0, le=4096)
    hbm_bw_tbps: float = Field(ge=RATE_FLOOR, le=100)
    fp32_tflops: Optional[float] = _rate(hi=1e5)
    tf32_tflops: Optional[float] = _rate(hi=1e5)
    bf16_tflops: Optional[float] = _rate(hi=1e5)
    fp16_tflops: Optional[float] = _rate(hi=1e5)
    fp8_tflops: Optional[float] = _rate(hi=1e5)
    int8_tops: Optional[float] = _rate(hi=1e5)
    intra_node_link: Optional[str] = None
    intra_node_gbps_per_dir: Optional[float] = _rate(hi=1e5)
    pcie_gen: Optional[int] = Field(default=None, ge=1, le=7)
    pcie_gbps_per_dir: Optional[float] = _rate(hi=1e4)
    #: GB/s per direction between one GPU and host memory where that is not its PCIe link (a superchip's
    #: NVLink-C2C to its Grace CPU, shared by the Grace's GPUs); empty = the PCIe link (``GPU.host_bw``)
    host_link_gbps_per_dir: Optional[float] = _rate(hi=1e4)
    power_limit_w: Optional[float] = _pos(hi=1e4)
    sustained_clock_note: Optional[str] = None
    purchase_price_usd: Optional[float] = _pos(hi=1e7)
    source: str = Field(min_length=1)
    notes: Optional[str] = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return gpu_row_name(v)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: Optional[str]) -> Optional[str]:
        for a in _split_aliases(v):
            try:
                gpu_row_name(a)
            except ValueError as e:
                raise ValueError(f"{a!r} {e}") from None
        return v

    @model_validator(mode="after")
    def _pcie_within_its_generation(self) -> "GpuRow":
        # a row's PCIe figure is the host link of every PCIe-attached GPU (offload copies, ``GPU.host_bw``): a Gen4
        # part given 64 GB/s (Gen5's rate) would hide its offload copies at twice the speed its slot carries
        top = PCIE_X16_GBPS_PER_DIR.get(self.pcie_gen) if self.pcie_gen is not None else None
        if top is not None and self.pcie_gbps_per_dir is not None and self.pcie_gbps_per_dir > top:
            raise ValueError(f"{self.pcie_gbps_per_dir:g} GB/s is more than a PCIe Gen{self.pcie_gen} x16 link carries "
                             f"({top:g} GB/s a direction)")
        return self


#: Older override files call the power column ``tdp_w``; it is read as ``power_limit_w``.
_GPU_LEGACY_COLUMNS = {"tdp_w": "power_limit_w"}


class InstanceRow(_Row):
    cloud: str = Field(min_length=1)
    name: str = Field(min_length=1)
    gpu: Optional[str] = None
    gpu_count: float = Field(default=0, ge=0, le=100000)
    vcpus: Optional[float] = Field(default=None, ge=0, le=100000)
    ram_gib: Optional[float] = Field(default=None, ge=0, le=1e6)
    network_gbps: Optional[float] = _rate(hi=1e6)
    fabric: Optional[Literal["efa", "infiniband", "roce", "ethernet", "tpu-ici", "tpu-dcn", "none"]] = None
    cluster: Optional[bool] = None
    network_source: Optional[str] = None
    local_nvme_tb: Optional[float] = Field(default=None, ge=0, le=1e4)
    #: how many NVMe drives make up ``local_nvme_tb`` (AWS: DescribeInstanceTypes ``LocalDiskCount`` via SkyPilot's
    #: catalog); blank where no source gives it. DeepSpeed's ZeRO-Infinity swap reads it under ``nvme_stripe: drives``
    #: (planner.model.offload ``nvme_node_bps``)
    local_nvme_drives: Optional[int] = Field(default=None, ge=1, le=1024)
    price_ondemand_usd_hr: float = Field(gt=0, le=1e5)
    price_spot_usd_hr: Optional[float] = _pos(hi=1e5)
    region: Optional[str] = None
    price_date: Optional[str] = None
    #: the date of one rate where it is not the row's ``price_date`` (``RATE_DATE_COLUMNS``): an override that reprices
    #: and dates one rate keeps the other as it was, with the date it had (QA 55); blank: ``price_date`` dates both
    price_ondemand_date: Optional[str] = None
    price_spot_date: Optional[str] = None
    source: str = Field(min_length=1)
    notes: Optional[str] = None
    #: how the node's GPUs are wired: planner.vocab ``NVLINK_TOPOLOGY`` (the same names; tests/test_nvlink_topology.py);
    #: blank: through a switch (planner.hardware.nvlink)
    nvlink_topology: Optional[Literal["switch", "hybrid-cube-mesh", "xgmi-full-mesh", "nvlink4-quad-mesh"]] = None
    #: why a rate outside the catalog's price checks (``hardware_catalog.price_checks``) is kept; blank on a row
    #: inside them (tests/test_prices48.py holds every shipped row to that)
    price_check: Optional[str] = None

    @field_validator("cloud", "name")
    @classmethod
    def _key_part(cls, v: str) -> str:
        return instance_key_part(v)

    @field_validator("fabric", mode="before")
    @classmethod
    def _fabric_lower(cls, v: Any) -> Any:
        v = _blank_to_none(v)
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("gpu_count")
    @classmethod
    def _whole_gpus(cls, v: float) -> float:
        # plans place whole GPUs (a rank, a replica's shard): a row of 3.5 GPUs was planned as 3 per node
        # (``int(gpu_count)``) beside a 3.5-GPU price, and one of 0.5 as 0, which crashed serve and recommend
        # with an internal error (ZeroDivisionError, min() of an empty sequence) until 2026-12-03
        if not float(v).is_integer():
            raise ValueError("must be a whole number of GPUs (plans place whole GPUs)")
        return v

    @model_validator(mode="after")
    def _cluster_needs_fabric(self) -> "InstanceRow":
        if self.cluster and self.fabric == "none":
            raise ValueError("cluster is true but fabric is none: a cluster needs an inter-node fabric")
        return self


class SystemRow(_Row):
    """One reference system (``systems.csv``): the node a GPU's vendor or a cloud builds for multi-node
    training where the catalog has no priced instance row of it (``System``)."""

    key: str = Field(min_length=1, max_length=120)
    gpu: str = Field(min_length=1)
    gpu_count: int = Field(ge=1, le=100000)
    gpus_per_host: int = Field(ge=1, le=100000)
    ram_gib: Optional[float] = Field(default=None, gt=0, le=1e7)
    network_gbps: float = Field(ge=RATE_FLOOR, le=1e7)
    fabric: Literal["efa", "infiniband", "roce", "ethernet", "tpu-ici"]
    #: the most chips one ICI slice holds (a TPU pod's largest single-slice job); None = no such limit
    max_chips: Optional[int] = Field(default=None, ge=1, le=1000000)
    source: str = Field(min_length=1)
    notes: Optional[str] = None


class SystemPriceRow(_Row):
    """One provider's rate for a whole reference system (``system_prices.csv``, or an override file's
    ``system_prices:`` section): USD per system-hour, i.e. per rack-hour for an NVL72 rack (the planner's node), which
    a plan bills by whole racks (planner.hardware.options ``racks_billed``). On-demand only: no source lists a spot or
    reserved rate for these systems, and none is invented (gbprice42)."""

    system: str = Field(min_length=1, max_length=120)
    provider: str = Field(min_length=1, max_length=80)
    region: Optional[str] = None
    price_ondemand_usd_hr: float = Field(gt=0, le=1e7)
    price_date: Optional[str] = None
    #: how the price was read: first-hand (the provider's own page or API) or a second-hand copy, and which
    read: Optional[str] = None
    source: str = Field(min_length=1)
    notes: Optional[str] = None


class OnpremRow(_Row):
    """One buy-vs-rent parameter (``onprem.csv`` or an override file's ``onprem:`` section)."""

    key: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_]+$")
    value: float = Field(ge=0, le=ANY_MAX)
    unit: Optional[str] = None
    #: where the value comes from; ``user``: an override file's value (QA 55b: a repriced row kept the built-in
    #: row's "assumption" though the user gave a quote; the catalog sets it where a row changes the value and gives
    #: no basis of its own, and keeps the file's name in the row's ``override_file``)
    basis: Optional[Literal["sourced", "assumption", "derived", "user"]] = None
    #: a price row's quote date (``price_date_note``; "unknown: ..." where the source gives none), blank for a row
    #: that is no price (PUE, utilisation, a share)
    price_date: Optional[str] = None
    source: str = Field(min_length=1)
    notes: Optional[str] = None

    @model_validator(mode="after")
    def _range(self) -> "OnpremRow":
        why = range_error(self.key, self.value)  # the range a job's onprem: field of the same key has too
        if why:
            raise ValueError(why)
        return self


#: the clouds a ``capacity-block`` commitment may name: the term is AWS EC2 Capacity Blocks, and its bill is AWS's
#: (``planner.model.cost.capacity_block_hours``: whole days to 14 days, whole weeks to 182; at most 256 instances).
#: Other clouds' short reservations (GCP calendar-mode future reservations, Azure capacity reservations) are
#: billed by other rules not modelled here; until 2026-12-02 a gcp or azure row was accepted and billed by AWS's.
CAPACITY_BLOCK_CLOUDS = ("aws",)


class CommitmentRow(_Row):
    """A reserved / committed-use / capacity-block price for one catalog instance."""

    cloud: str = Field(min_length=1)
    instance: str = Field(min_length=1)
    term: Literal["1yr", "3yr", "capacity-block"]
    payment: Optional[str] = None
    price_usd_hr: float = Field(gt=0, le=1e5)
    region: Optional[str] = None
    price_date: Optional[str] = None
    source: str = Field(min_length=1)
    notes: Optional[str] = None


_SCHEMA_MESSAGES = {
    "greater_than": "must be a positive number",
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be at most {le} (absurd value)",
    "missing": "is required",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "int_parsing": "must be an integer",
    "bool_parsing": "must be true or false",
    "literal_error": "must be one of {expected}",
    "string_pattern_mismatch": "must use only lower-case letters, digits and _",
    "extra_forbidden": "is not a known column",
}


#: The field a whole-row (model) validator's complaint is about.
_MODEL_ERROR_FIELD = {InstanceRow: "cluster", OnpremRow: "value", GpuRow: "pcie_gbps_per_dir"}


def _validate(model: type[_Row], raw: dict, where: str, origin: str | None) -> _Row:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        e = from_validation(exc, where, _SCHEMA_MESSAGES, model_field=_MODEL_ERROR_FIELD.get(model, "?"))
        first = exc.errors()[0]
        if first.get("type") != "missing" and "input" in first and first["input"] is None:
            # an empty cell (a blank CSV field, a short row, YAML null) where a value is needed: pydantic's
            # "Input should be a valid number, got None" named neither the cell nor what to put there
            raise CatalogError(e.field, "is empty; give a value", origin) from None
        raise CatalogError(e.field, e.message, origin) from None


#: shipped rows validated before, by (row model, key): (the cells validated, the row); see ``_validated``
_VALIDATED: dict[tuple[type, str], tuple[dict, "_Row"]] = {}


def _validated(model: type[_Row], key: str, raw: dict, where: str, origin: str | None) -> _Row:
    """``_validate`` for the rows ``load_catalog`` builds the catalog from. A shipped row (``origin`` None) whose cells
    are the ones validated before is that validated row again: a row's validation depends on its cells alone and the
    row is only read (``GPU.from_row``, ``_instance_from_row``, ``model_dump``), while every catalog load validated
    all ~160 shipped rows afresh, ~4 of its 6.5 ms (each CLI command loads it once). A user's row is validated each
    time; a failing row raises as before and is not remembered."""
    if origin is not None:
        return _validate(model, raw, where, origin)
    hit = _VALIDATED.get((model, key))
    if hit is not None and hit[0] == raw:
        return hit[1]
    r = _validate(model, raw, where, origin)
    _VALIDATED[(model, key)] = (dict(raw), r)
    return r


# --------------------------------------------------------------------------- domain objects


def nvlink_joined(intra_node_link: str) -> bool:
    """Whether an ``intra_node_link`` (gpus.csv) joins a node's GPUs to each other by NVLink: NVLink2-5 and their
    export variants, not PCIe, another vendor's fabric, or the bridge that pairs two PCIe NVL cards (H100 NVL, H200 NVL:
    NVIDIA's datasheets, "2- or 4-way NVIDIA NVLink bridge"): what DeepEP's kernels (planner.model.moe) and the DGX-1's
    need."""
    return intra_node_link.startswith("NVLink") and intra_node_link != "NVLink-bridge"


#: the links (gpus.csv ``intra_node_link``) each point-to-point mesh (instances.csv / job ``nvlink_topology``) is wired
#: of; a part joined by others cannot be wired so (``wired_as``), read by this loader's row check and by the planner's
#: job check (planner.hardware.options ``node_topology``), one table since QA 95 (an override row's xGMI mesh on an
#: A100 was taken at load and refused only when planned).
#: ``hybrid-cube-mesh``: the DGX-1's 8-GPU SXM2 board of six NVLink2 links a V100 (planner.hardware.nvlink
#: ``DGX1_V100_LINKS``; NVIDIA, "NVIDIA DGX-1 With Tesla V100 System Architecture", 2017). The next NVLink generations
#: ship on NVSwitch boards: "HGX A100 8-GPU connected with NVSwitch ... Each A100 GPU has 12 NVLink ports, and each
#: NVSwitch node ... connects to all eight A100 GPUs" (NVIDIA developer blog, "Introducing NVIDIA HGX A100", 2020), HGX
#: H100 / H200 / B200 alike; their switchless board, "HGX A100 4-GPU connected with NVLink" (the same post), joins four
#: GPUs each to each, not this mesh of six links a GPU. So NVLink3+ parts took the V100's link shares until QA 93 (an
#: 8-A100 TP-2 pair at 50 of 300 GB/s). Pascal's NVLink1 DGX-1 (four links a GPU) is not this table either, and not in
#: gpus.csv. ``xgmi-full-mesh``: AMD's Infinity Fabric (xGMI) peer links of an 8-OAM MI300X / MI325X baseboard
#: (planner.hardware.nvlink ``XGMI_FULL_MESH_LINKS``), gpus.csv's ``InfinityFabric`` (MI250X .. MI355X).
#: ``nvlink4-quad-mesh``: the switchless 4-GPU HGX H100 / H200 board, 18 NVLink 4 links a GPU, 6 to each peer
#: (planner.hardware.nvlink ``NVLINK4_QUAD_LINKS``): gpus.csv's ``NVLink4`` (not H800's cut ``NVLink4-H800`` links,
#: nor an NVL card's bridge). A switch (``switch``, or no wiring named) joins any part.
MESH_WIRED_OF = {"hybrid-cube-mesh": frozenset({"NVLink2"}),
                 "xgmi-full-mesh": frozenset({"InfinityFabric"}),
                 "nvlink4-quad-mesh": frozenset({"NVLink4"})}


def wired_as(topology: str, intra_node_link: str) -> bool:
    """Whether a node whose GPUs are joined by ``intra_node_link`` can be wired as ``topology``: a switch any (a PCIe
    node's shared switch too), a mesh only by its own links (``MESH_WIRED_OF``)."""
    links = MESH_WIRED_OF.get(topology)
    return links is None or intra_node_link in links


def mesh_links_words(topology: str) -> str:
    """The links a mesh is wired of, for a refusal's words ("NVLink2")."""
    return " / ".join(sorted(MESH_WIRED_OF[topology]))


#: what a GPU row with no compute peak is kept for, as its override's note says it
NO_PEAK_USE = "no compute peak: tabular and preprocessing jobs plan on it, training and serving leave it out"

#: why a GPU row with no compute peak (``GPU.computes``) is left out of training and serving, as every command says it
NO_PEAK_WHY = ("quotes no compute peak in the catalog (give the GPU's peaks in its catalog row; a tabular job plans on "
               "it by its memory bandwidth)")


@dataclass(frozen=True)
class GPU:
    """One accelerator SKU. Peaks are dense (no sparsity), in FLOP/s; bandwidths in bytes/s."""

    name: str
    vendor: str
    memory_bytes: int
    hbm_bw: float
    peak_flops: dict[str, float]
    intra_node_bw: Optional[float]
    intra_node_link: str
    pcie_bw: Optional[float]
    tdp_w: Optional[float]
    purchase_price_usd: Optional[float]
    source: str
    notes: str
    aliases: tuple[str, ...] = ()
    #: Datasheet power limit (TDP / TBP / max board power) in W; ``tdp_w`` is the same number under
    #: its older name.
    power_limit_w: Optional[float] = None
    form_factor: str = ""
    #: A CPU "device" (a calibration profile measured on the host): each op runs in the thread that
    #: dispatches it, so host and device time add instead of overlapping.
    runs_on_host: bool = False
    #: Where the datasheet distinguishes boost from sustained clocks (or ships below its spec clock).
    sustained_clock_note: str = ""
    #: Bytes/s per direction to host memory over a link that is not PCIe (``host_link_gbps_per_dir``: NVLink-C2C);
    #: None = the PCIe link. Read as ``host_bw``.
    host_link_bw: Optional[float] = None
    #: The part this one's sustained clock is read off (``CLOCK_REFERENCE_OF``), as the catalog that built this one
    #: has it (``load_catalog``: a user's row for the reference moves this part's clock too; catalog40); None for a part
    #: without one, or one no catalog built (``planner.model.physics`` then reads the shipped row)
    clock_reference: Optional["GPU"] = None
    #: whether the row states ``intra_node_gbps_per_dir`` (False: ``intra_node_bw`` is the PCIe fallback, as for
    #: MI250X, whose Infinity Fabric aggregate is unverified); the catalog's tables print the row's own value, so that
    #: ``catalog gpus --csv`` read back changes nothing
    intra_node_stated: bool = True

    @property
    def unit_word(self) -> str:
        """What the catalog counts this accelerator in: "chip" where its ``form_factor`` says so ("TPU chip",
        "Trainium2 chip (Trn2 instances)": Google's and AWS's docs count chips), else "GPU" -- the word in a price
        per accelerator-hour ("$/chip-h"), as ``planner catalog instances`` heads its column."""
        return "chip" if "chip" in self.form_factor.lower().split() else "GPU"

    def __post_init__(self) -> None:
        if self.power_limit_w is None and self.tdp_w is not None:
            object.__setattr__(self, "power_limit_w", self.tdp_w)

    @property
    def host_bw(self) -> Optional[float]:
        """Nominal bytes/s per direction between one GPU and host memory (activation / optimizer offload copies):
        the catalog's non-PCIe host link where the row has one (GH200 450 GB/s, GB200 / GB300 225 GB/s: NVLink-C2C,
        sources in their rows), else the PCIe link (``pcie_bw``, a measured pinned copy rate for a profile's
        machine); None when the catalog has neither (TPU, Trainium2)."""
        return self.host_link_bw or self.pcie_bw

    @property
    def computes(self) -> bool:
        """Whether the row quotes any compute peak. Every peak column is optional, so a private row may quote none: it
        is kept, since the jobs that price no FLOPs plan on it (a tabular run's GPU prior scales by HBM bandwidth alone,
        a campaign's preprocessing is priced by its hours), while training and serving leave it out with
        ``NO_PEAK_WHY`` (qa59b)."""
        return bool(self.peak_flops)

    def peak(self, dtype: str) -> float:
        """Dense datasheet peak for ``dtype`` in FLOP/s (OP/s for int8)."""
        d = dtype.lower()
        if d not in self.peak_flops:
            col = _DTYPE_COLUMN.get(d, f"{d}_tflops")
            have = ", ".join(self.peak_flops) or "none"
            raise CatalogError(f"gpus.{self.name}.{col}",
                               f"{self.name} has no {d} peak in the catalog (has: {have})")
        return self.peak_flops[d]

    @classmethod
    def from_row(cls, r: GpuRow) -> "GPU":
        peaks = {d: getattr(r, col) * TERA for d, col in _DTYPE_COLUMN.items()
                 if getattr(r, col) is not None}
        pcie = r.pcie_gbps_per_dir * GB if r.pcie_gbps_per_dir else None
        intra = r.intra_node_gbps_per_dir * GB if r.intra_node_gbps_per_dir else pcie
        aliases = tuple(_split_aliases(r.aliases))
        return cls(name=r.name, vendor=r.vendor, memory_bytes=int(round(r.memory_gib * GIB)),
                   hbm_bw=r.hbm_bw_tbps * TB, peak_flops=peaks, intra_node_bw=intra,
                   intra_node_link=r.intra_node_link or "PCIe", pcie_bw=pcie, tdp_w=r.power_limit_w,
                   purchase_price_usd=r.purchase_price_usd, source=r.source, notes=r.notes or "",
                   aliases=aliases, power_limit_w=r.power_limit_w, form_factor=r.form_factor or "",
                   sustained_clock_note=r.sustained_clock_note or "",
                   host_link_bw=r.host_link_gbps_per_dir * GB if r.host_link_gbps_per_dir else None,
                   intra_node_stated=bool(r.intra_node_gbps_per_dir))


@dataclass(frozen=True)
class Instance:
    """One rentable node type on one cloud; prices in USD per node-hour."""

    cloud: str
    name: str
    gpu: Optional[GPU]
    gpu_count: float
    vcpus: Optional[float]
    ram_bytes: Optional[int]
    network_bw: Optional[float]
    local_nvme_bytes: Optional[float]
    #: the drives behind ``local_nvme_bytes`` (``InstanceRow.local_nvme_drives``); None: not stated
    local_nvme_drives: Optional[int]
    price_ondemand: float
    price_spot: Optional[float]
    region: str
    price_date: str
    source: str
    notes: str
    #: Inter-node fabric, one of ``FABRICS``; ``None`` = not stated (an override row without the
    #: column): bandwidth then falls back to ``DEFAULT_NETWORK_GBPS``.
    fabric: Optional[str] = None
    #: True when nodes of this type can form a multi-node training cluster over ``fabric``.
    cluster: bool = True
    #: Where ``fabric`` / ``network_bw`` come from.
    network_source: str = ""
    #: a rate's own date where it is not ``price_date`` (``RATE_DATE_COLUMNS``; ``rate_date``)
    price_ondemand_date: str = ""
    price_spot_date: str = ""
    #: how the node's GPUs are wired (``InstanceRow.nvlink_topology``); None: not stated, a switch
    nvlink_topology: Optional[str] = None
    #: why a rate outside the price checks is kept (``InstanceRow.price_check``); "" inside them
    price_check: str = ""
    #: where ``price_spot`` was read: the row's ``source``, or for a row an override repriced while leaving its spot
    #: rate as it was, the source of the row that gave that rate (``skypilot.spot_rate_words`` decides by it; qa92:
    #: an on-demand-only override kept SkyPilot's spot rate but read as the user's, by the row's new source)
    spot_source: str = ""

    @property
    def key(self) -> str:
        return f"{self.cloud}:{self.name}"

    def rate_date(self, spot: bool = False) -> str:
        """The date of the on-demand or spot rate: its own (an override that dated the other rate alone kept this one's,
        QA 55), else the row's ``price_date``."""
        return (self.price_spot_date if spot else self.price_ondemand_date) or self.price_date

    @property
    def network_bw_or_default(self) -> float:
        """Inter-node bytes/s; ``DEFAULT_NETWORK_GBPS`` (100 Gbit/s) when the row has none."""
        return self.network_bw if self.network_bw is not None else DEFAULT_NETWORK_GBPS * 1e9 / 8

    @property
    def network_is_default(self) -> bool:
        """True when ``network_bw_or_default`` is the assumed default, not a sourced figure."""
        return self.network_bw is None

    @property
    def is_gpu(self) -> bool:
        return self.gpu is not None and self.gpu_count > 0

    def price(self, spot: bool = False) -> Optional[float]:
        return self.price_spot if spot else self.price_ondemand


@dataclass(frozen=True)
class RateFloor:
    """The lowest rate a user's price row may give per accelerator-hour (or per vCPU-hour on a CPU-only row):
    ``1 - DEEPEST_DISCOUNT`` of ``cheapest``, the cheapest shipped on-demand rate per unit of ``of`` (``from_key``)."""

    usd: float
    cheapest: float
    of: str  # the GPU name, "any GPU" or "CPU"
    from_key: str
    unit: str  # "GPU", "chip" or "vCPU"


def _shipped_rates(canonical: dict[str, str]):
    """(the floor names it prices, node-hour rate, its units ``rate_units``, key) of each shipped rate, in file order:
    the instance rows (their GPU and "*", or "cpu"), then the system rates (gbprice42: GB200 from CoreWeave's NVL72
    rack, 756 / 72 = 10.5 $/GPU-h), which price their GPU but not "*": the cheapest of any GPU stays an instance
    row's."""
    for raw in _builtin_rows()[1]:
        r = _validated(InstanceRow, f"{raw['cloud'].lower()}:{raw['name']}", dict(raw), "instances", None)
        names = [canonical.get(fold_name(r.gpu), r.gpu), "*"] if r.gpu else ["cpu"]
        yield (names, r.price_ondemand_usd_hr, rate_units(bool(r.gpu), r.gpu_count, r.vcpus),
               f"{r.cloud.lower()}:{r.name}")
    systems = {fold_name(r["key"]): r for r in _builtin_rows()[5]}
    for raw in _builtin_rows()[6]:
        s = systems[fold_name(raw["system"])]
        yield ([canonical.get(fold_name(s["gpu"]), s["gpu"])], float(raw["price_ondemand_usd_hr"]),
               rate_units(True, int(s["gpu_count"]), None), f"{raw['provider']}:{s['key']}")


@functools.lru_cache(maxsize=1)
def rate_floors() -> dict[str, RateFloor]:
    """Per GPU name (and ``"*"``, any accelerator the shipped rows do not price: H800, a user's own GPU; ``"cpu"``,
    per vCPU of a CPU-only row): the floor ``check_rate_floor`` holds a user's price rows to, from the shipped
    ``instances.csv`` and ``system_prices.csv`` alone (a user's file cannot lower its own floor), each rate per its
    units (``rate_units``). Until cost41 a rate had to be above 0 only: a refreshed file's $0.01/h H100 row planned a
    run on 8 H100s at a cent an hour."""
    cheapest: dict[str, tuple[float, str]] = {}
    canonical = _raw_alias_index(_builtin_rows()[0])
    for names, rate, per, key in _shipped_rates(canonical):
        for name in names:
            if per and (name not in cheapest or rate / per < cheapest[name][0]):  # a tie keeps the row read first
                cheapest[name] = (rate / per, key)
    unit = {"*": "GPU", "cpu": "vCPU"}  # the cheapest of any accelerator is a GPU's (azure:Standard_NC4as_T4_v3)
    return {n: RateFloor(usd=c * (1 - DEEPEST_DISCOUNT), cheapest=c, of={"*": "any GPU", "cpu": "CPU"}.get(n, n),
                         from_key=k, unit=unit.get(n) or builtin_gpu(n).unit_word) for n, (c, k) in cheapest.items()}


#: the ``cloud`` of a user's instance row for hardware the user owns (hardware_catalog/README.md "Overrides": ``{cloud:
#: onprem, name: my-8x, ...}``): its rate is an internal one (amortised capex, power, a chargeback), not cloud rent, so
#: the floor below -- a discount off the clouds' on-demand rates -- does not hold it. A fully depreciated H100 node
#: costs its power alone: 8 x 0.7 kW x PUE 1.3 x 0.08 $/kWh = 0.58 $/node-h, 0.07 $/GPU-h, under the H100's 0.399
#: floor. Such a rate is said, not refused (``check_rate_floor``), as a job's ``cluster.price_usd_hr`` is taken
OWNED_CLOUD = "onprem"


def rate_units(accelerated: bool, gpu_count: int, vcpus: Optional[float]) -> float:
    """What a node-hour rate is per, for its floor (``rate_floors``, ``check_rate_floor``): the accelerators of a row
    with one, the vCPUs of a CPU-only row (0 where it gives none: no floor to hold it to)."""
    return gpu_count if accelerated else (vcpus or 0)


def check_rate_floor(rate: float, column: str, gpu: Optional[GPU], gpu_count: int, vcpus: Optional[float], key: str,
                     where: str, org: str) -> Optional[str]:
    """Refuse a user's ``rate`` (USD per node-hour in ``column``) below its accelerator's ``rate_floors`` entry, one
    line naming the file, the row and the column: ``catalog override mine.csv: instances[0].price_ondemand_usd_hr:
    0.01 $/node-h is 0.00125 $/GPU-h on aws:p5.48xlarge's 8 H100-SXM-80GB, below the floor ...``, in the
    accelerator's own unit ("$/chip-h" on a TPU or Trainium row: ``GPU.unit_word``). An owned row (``OWNED_CLOUD``)
    below it is taken: the note returned says so, for the override notes on stderr; None otherwise."""
    floors = rate_floors()
    floor = (floors.get(gpu.name) or floors["*"]) if gpu is not None else floors.get("cpu")
    per = rate_units(gpu is not None, gpu_count, vcpus)
    if floor is None or not per or rate / per >= floor.usd:
        return None
    unit = gpu.unit_word if gpu is not None else "vCPU"
    what = f"{per:g} {gpu.name}" if gpu is not None else f"{per:g} vCPUs"
    below = (f"{rate:g} $/node-h is {rate / per:.4g} $/{unit}-h on {key}'s {what}, below the floor of {floor.usd:.4g} "
             f"$/{unit}-h: {1 - DEEPEST_DISCOUNT:.0%} of the cheapest shipped on-demand {floor.of} rate "
             f"({floor.from_key}, {floor.cheapest:.4g} $/{floor.unit}-h)")
    if key.split(":", 1)[0].lower() == OWNED_CLOUD:
        return (f"{_short_origin(org)}: instance {_short(key, 80)}: {column} {below}: taken as an internal rate for owned "
                f"hardware (cloud {OWNED_CLOUD}); if it is a per-{unit} price, give the price per node-hour")
    # fitted (``fit_message``): the asides give way, the last first, and the remedies outside them stay; at 460-600
    # characters (a GB200 rack's row, a long provider name) the refusal ran past the one-line cap until fuzz43
    raise CatalogError(f"{where}.{column}", fit_message(
        f"{below} (past the deepest spot discount clouds advertise, {DEEPEST_DISCOUNT:.0%}); give the price per "
        f"node-hour (all {what} of the instance); for hardware you own at an internal rate, name its cloud "
        f"{OWNED_CLOUD} (an {OWNED_CLOUD}:<name> row is not held to cloud rent)"), org)


def _instance_from_row(r: InstanceRow, gpu: Optional[GPU], spot_source: Optional[str] = None) -> Instance:
    # A row that does not say whether it clusters: yes unless its fabric is "none" (an override row
    # naming no fabric keeps the behaviour from before the column existed: multi-node at the
    # conservative DEFAULT_NETWORK_GBPS).
    cluster = r.cluster if r.cluster is not None else r.fabric != "none"
    return Instance(
        cloud=r.cloud.lower(), name=r.name, gpu=gpu, gpu_count=r.gpu_count if gpu else 0,
        vcpus=r.vcpus, ram_bytes=int(r.ram_gib * GIB) if r.ram_gib is not None else None,
        network_bw=r.network_gbps * 1e9 / 8 if r.network_gbps else None,
        local_nvme_bytes=r.local_nvme_tb * TB if r.local_nvme_tb is not None else None,
        local_nvme_drives=r.local_nvme_drives,
        price_ondemand=r.price_ondemand_usd_hr, price_spot=r.price_spot_usd_hr,
        region=r.region or "", price_date=r.price_date or "", source=r.source, notes=r.notes or "",
        price_ondemand_date=r.price_ondemand_date or "", price_spot_date=r.price_spot_date or "",
        fabric=r.fabric, cluster=bool(cluster), network_source=r.network_source or "",
        nvlink_topology=r.nvlink_topology, price_check=r.price_check or "",
        spot_source=r.source if spot_source is None else spot_source)


@dataclass(frozen=True)
class System:
    """A reference system: the node a GPU is built into for multi-node training (NVIDIA's DGX GB200 NVL72
    rack, Azure's ND MI300X v5), for a GPU no priced clustered instance row carries. The search never offers it as a
    cloud instance (a provider's rate for the whole system, ``prices``, prices a bare-GPU plan on it: gbprice42); it
    is what a bare-GPU cluster (``cluster: {gpu: GB200}``) is taken to be where the job does not say (planner.hardware.options ``reference_network``): GPUs per node (the NVLink or
    Infinity Fabric domain), inter-node network, host RAM. The same fields as ``Instance`` carries for
    that use."""

    key: str
    gpu: GPU
    gpu_count: int  # GPUs in one NVLink / Infinity Fabric domain: the planner's node
    gpus_per_host: int  # GPUs one OS host (compute tray) holds: a launcher's node (NVL72: 4 per tray)
    ram_bytes: Optional[int]
    network_bw: float  # bytes/s per node, line rate
    fabric: str
    source: str
    notes: str = ""
    cluster: bool = True  # built for multi-node training
    #: a TPU host row (``fabric == "tpu-ici"``): the node is one host of a slice whose chips all talk over
    #: ICI, ``network_bw`` is the ICI its chips carry out of the host, and one slice holds at most this many
    max_chips: Optional[int] = None
    network_is_default: bool = False  # its network is sourced (the row requires it)
    #: providers' on-demand rates for the whole system (``system_prices.csv`` and override rows), cheapest first;
    #: () where no source prices it (gbprice42)
    prices: tuple[SystemPrice, ...] = ()

    @property
    def network_source(self) -> str:
        return self.source

    @property
    def quote(self) -> Optional[SystemPrice]:
        """The cheapest provider rate of the whole system, what a plan on it is priced at; None where none is known."""
        return self.prices[0] if self.prices else None

    @property
    def no_price_why(self) -> str:
        """Why no rate prices the system ("" where one does, or where no search for one is recorded): the sources
        read and what they said (``NO_PRICE_WHY``), for the plan's "no price" line (cost43)."""
        return "" if self.prices else NO_PRICE_WHY.get(self.key, "")


#: reference systems no provider rate prices (no ``system_prices.csv`` row), with what the search for one found:
#: the plan's "no price" line says it rather than leave the empty cost unexplained (cost43). Searched 2026-12-05:
#: CoreWeave's pricing page, Azure's, Oracle's and Lambda's price material and AWS's Capacity Blocks page as the
#: offline corpora hold them; none gives a GB300 NVL72 (or GB300 instance) hourly rate.
NO_PRICE_WHY = {
    "nvidia:GB300-NVL72": (
        "no provider's GB300 NVL72 rate was found: CoreWeave's pricing page lists 'NVIDIA GB300 NVL72 / HGX B300 "
        "(on-demand)' as 'Contact sales' (coreweave.com/pricing as transcribed by api-evangelist/coreweave "
        "plans/coreweave-plans-pricing.yml, read 2026-09-20), and no Azure (ND GB300 v6), Oracle, Lambda or AWS "
        "price read offline (2026-12-05) gives one"),
}


@dataclass(frozen=True)
class SystemPrice:
    """One provider's on-demand rate for a whole reference system (``SystemPriceRow``), USD per system-hour (an NVL72
    rack-hour): what a bare-GPU plan on that system is priced at where the job gives no ``cluster.price_usd_hr``."""

    system: str
    provider: str
    region: str
    price: float  # USD per system-hour (the whole rack)
    price_date: str
    read: str
    source: str
    notes: str = ""

    @property
    def what(self) -> str:
        """The rate in words, for a plan's price dates: "coreweave nvidia:DGX-GB200-NVL72 on-demand (per rack-hour)"."""
        return f"{self.provider} {self.system} on-demand (per rack-hour)"


@dataclass(frozen=True)
class Commitment:
    """A committed price for one instance: ``term`` is 1yr, 3yr or capacity-block; USD per node-hour."""

    instance_key: str
    term: str
    payment: str
    price: float
    region: str
    price_date: str
    source: str
    notes: str


# --------------------------------------------------------------------------- catalog


def fold_name(s: str) -> str:
    """A name as the catalog matches it, whatever its case and surrounding blanks (``constraints.clouds: [AWS]``,
    ``gpus: [h100]``); the job file's enumerated fields fold their values the same way (``planner.vocab.Vocab``)."""
    return s.strip().lower()


def instance_match_key(key: str) -> str:
    """The one form an instance key ("cloud:name") is matched in: a job's ``cluster.instance``
    (``Catalog.instance``) and an override row's cloud and name both go through it, so ``AWS:P5.48XLARGE`` is
    ``aws:p5.48xlarge``. Until session 28 an override row matched by exact name: "P5.48XLARGE" was read as a new
    instance ("source is required") while the job file's ``cluster.instance: P5.48XLARGE`` found the built-in one."""
    return fold_name(key)


@dataclass
class Catalog:
    gpus: dict[str, GPU]
    instances: dict[str, Instance]
    onprem: dict[str, dict]
    interconnects: dict[str, dict]
    _alias: dict[str, str] = field(default_factory=dict, repr=False)
    commitments: list[Commitment] = field(default_factory=list)
    #: reference systems (``systems.csv``), by key: unpriced nodes for GPUs no clustered instance row carries
    systems: dict[str, System] = field(default_factory=dict)
    _inst_index: Optional[tuple[int, dict, dict]] = field(default=None, repr=False, compare=False)
    #: one line per override row, what it changed or added ("ok.csv: instance aws:p5.48xlarge:
    #: price_ondemand_usd_hr 55.04 -> 40"): the planning commands print them, so a plan priced from a
    #: user's file says so
    overrides: list[str] = field(default_factory=list)
    #: the transport each clustered instance's launch requests (``data/launch_fabric.csv`` and any override file's
    #: ``launch_fabric`` rows), by instance key: read by the launch spec emitter (``planner.present.emit``)
    launch_fabrics: dict[str, launch_fabric.LaunchFabric] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self._alias:
            self._alias = _alias_index(self.gpus.values())

    def _instance_index(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        """(lower-case key -> key, lower-case name -> keys), built once (rebuilt if instances change)."""
        if self._inst_index is None or self._inst_index[0] != len(self.instances):
            by_key: dict[str, str] = {}
            by_name: dict[str, list[str]] = {}
            for k, i in self.instances.items():
                by_key[instance_match_key(k)] = k
                by_name.setdefault(instance_match_key(i.name), []).append(k)
            self._inst_index = (len(self.instances), by_key, by_name)
        return self._inst_index[1], self._inst_index[2]

    # lookups -------------------------------------------------------------------------------
    def gpu(self, name: str) -> GPU:
        key = self._alias.get(fold_name(str(name)))
        if key is None:
            raise CatalogError("cluster.gpu", f"unknown GPU {name!r}" + _suggest(name, self._alias))
        return self.gpus[key]

    def instance(self, name: str) -> Instance:
        n = instance_match_key(str(name))
        by_key, by_name = self._instance_index()
        if n in by_key:
            return self.instances[by_key[n]]
        if ":" not in n:
            hits = by_name.get(n, [])
            if len(hits) == 1:
                return self.instances[hits[0]]
            if len(hits) > 1:
                raise CatalogError("cluster.instance",
                                   f"{name!r} exists on several clouds; write one of {', '.join(sorted(hits))}")
        names = {**by_key, **{i.name.lower(): k for k, i in self.instances.items()}}
        raise CatalogError("cluster.instance", f"unknown instance {name!r}" + _suggest(name, names))

    def instances_for(self, clouds: Iterable[str] | None = None, gpu_names: Iterable[str] | None = None,
                      spot: bool = False, gpu_only: bool = True) -> list[Instance]:
        """Instances filtered by cloud, GPU (names or aliases) and price availability, cheapest first."""
        cl = {fold_name(c) for c in clouds} if clouds else None
        gp = {self.gpu(g).name for g in gpu_names} if gpu_names else None
        out = []
        for inst in self.instances.values():
            if cl is not None and inst.cloud not in cl:
                continue
            if gpu_only and not inst.is_gpu:
                continue
            if gp is not None and (inst.gpu is None or inst.gpu.name not in gp):
                continue
            if spot and inst.price_spot is None:
                continue
            out.append(inst)
        return sorted(out, key=lambda i: (i.price(spot), i.key))

    def commitments_for(self, instance: str) -> list[Commitment]:
        """Committed prices (1yr / 3yr / capacity-block) for an instance, cheapest first."""
        key = self.instance(instance).key
        return sorted((c for c in self.commitments if c.instance_key == key), key=lambda c: (c.price, c.term))

    def onprem_value(self, key: str) -> float:
        if key not in self.onprem:
            raise CatalogError("onprem", f"unknown on-prem parameter {key!r}" + _suggest(key, {k: k for k in self.onprem}))
        return float(self.onprem[key]["value"])

    # tables --------------------------------------------------------------------------------
    #: the count columns of the tables below: whole numbers, written as ``8`` not ``8.0`` (``--csv``)
    COUNT_COLUMNS = ("gpu_count", "vcpus", "gpus_per_host", "max_chips")

    def gpus_df(self) -> pd.DataFrame:
        import pandas as pd
        rows = []
        for g in self.gpus.values():
            rows.append({"name": g.name, "vendor": g.vendor, "memory_gib": g.memory_bytes / GIB,
                         "hbm_tbps": g.hbm_bw / TB,
                         **{f"{d}_tflops": g.peak_flops.get(d, float("nan")) / TERA for d in DTYPES},
                         "intra_node_link": g.intra_node_link,
                         # the row's own rate: the PCIe fallback printed here was read back as a stated link
                         # rate (QA 63: "catalog override gpus.csv: GPU MI250X-128GB: intra_node_gbps_per_dir - -> 32")
                         "intra_node_gbps_per_dir": ((g.intra_node_bw if g.intra_node_stated else None)
                                                     or float("nan")) / GB,
                         "power_limit_w": g.power_limit_w, "form_factor": g.form_factor,
                         "sustained_clock_note": g.sustained_clock_note,
                         "purchase_price_usd": g.purchase_price_usd,
                         "aliases": ";".join(g.aliases), "source": g.source, "notes": g.notes})
        return pd.DataFrame(rows)

    def links_df(self) -> pd.DataFrame:
        """The named interconnects (``interconnects.csv``) as a table, one row each, sources uncut; bandwidths and
        latencies as numbers (the CSV's text: ``catalog links --json`` turned every column of digits into numbers,
        a user's text too)."""
        import pandas as pd
        df = pd.DataFrame([{"name": k, **r} for k, r in self.interconnects.items()])
        for c in ("gbps_per_dir", "gbytes_per_dir", "latency_us"):
            if c in df.columns:
                df[c] = pd.to_numeric(df[c].replace("", None))
        return df

    def systems_df(self) -> pd.DataFrame:
        """The reference systems (``systems.csv``) as a table, one row each."""
        import pandas as pd
        return _counts(pd.DataFrame([{"key": s.key, "gpu": s.gpu.name, "gpu_count": s.gpu_count, "gpus_per_host": s.gpus_per_host,
                              "ram_gib": s.ram_bytes / GIB if s.ram_bytes is not None else None,
                              "network_gbps": s.network_bw * 8 / 1e9, "fabric": s.fabric, "max_chips": s.max_chips,
                              "source": s.source, "notes": s.notes,
                              # the cheapest provider rate of the whole system (gbprice42; all of them: System.prices)
                              "price_ondemand_usd_hr": s.quote.price if s.quote else None,
                              "price_provider": s.quote.provider if s.quote else None,
                              "price_date": s.quote.price_date if s.quote else None}
                             for s in self.systems.values()]))

    def commitments_df(self) -> pd.DataFrame:
        """The commitment terms (``commitments.csv`` and any override file's ``commitments:``), one row each: USD per
        node-hour under the term, beside the instance's on-demand price (empty where the instance has none) and that
        price's region (``ondemand_region``: gcp:a3-megagpu-8g's terms are us-east4's, its on-demand rate us-central1's)."""
        import pandas as pd
        rows = []
        for c in sorted(self.commitments, key=lambda c: (c.instance_key, c.term, c.price)):
            inst = self.instances.get(c.instance_key)
            cloud, _, name = c.instance_key.partition(":")
            rows.append({"key": c.instance_key, "cloud": cloud, "instance": name, "term": c.term, "payment": c.payment,
                         "price_usd_hr": c.price,
                         "price_ondemand_usd_hr": inst.price_ondemand if inst is not None else None,
                         "region": c.region,
                         "ondemand_region": (inst.region or None) if inst is not None else None,
                         "price_date": c.price_date, "source": c.source, "notes": c.notes})
        cols = ["key", "cloud", "instance", "term", "payment", "price_usd_hr", "price_ondemand_usd_hr", "region",
                "ondemand_region", "price_date", "source", "notes"]
        return pd.DataFrame(rows, columns=cols)

    def onprem_df(self) -> pd.DataFrame:
        """The buy-vs-rent (on-prem TCO) inputs (``onprem.csv`` and any override file's ``onprem:``), one row each,
        the value as a number."""
        import pandas as pd
        cols = ["key", "value", "unit", "basis", "price_date", "source", "notes"]
        df = pd.DataFrame([{c: r.get(c, "") for c in cols} for r in self.onprem.values()], columns=cols)
        df["value"] = pd.to_numeric(df["value"])
        return df

    def instances_df(self, cloud: str | None = None) -> pd.DataFrame:
        import pandas as pd
        rows = []
        for i in self.instances.values():
            if cloud and i.cloud != fold_name(cloud):
                continue
            rows.append({"key": i.key, "cloud": i.cloud, "name": i.name,
                         "gpu": i.gpu.name if i.gpu else None, "gpu_count": i.gpu_count,
                         "vcpus": i.vcpus, "ram_gib": i.ram_bytes / GIB if i.ram_bytes is not None else None,
                         "network_gbps": i.network_bw * 8 / 1e9 if i.network_bw else None,
                         "fabric": i.fabric, "cluster": i.cluster, "network_source": i.network_source,
                         "local_nvme_tb": i.local_nvme_bytes / TB if i.local_nvme_bytes is not None else None,
                         "local_nvme_drives": i.local_nvme_drives,
                         "price_ondemand_usd_hr": i.price_ondemand, "price_spot_usd_hr": i.price_spot,
                         "region": i.region, "price_date": i.price_date, "source": i.source, "notes": i.notes,
                         "nvlink_topology": i.nvlink_topology, "price_check": i.price_check})
        return _counts(pd.DataFrame(rows))


def _counts(df: pd.DataFrame) -> pd.DataFrame:
    """``Catalog.COUNT_COLUMNS`` as integers: pandas holds a column with a missing value (or the catalog's
    float ``gpu_count``) as float, and ``to_csv`` wrote ``1.0`` GPUs. A missing count stays empty (nullable
    ``Int64``); a column with a fractional value (an override's shared GPU) is left as it is."""
    import pandas as pd
    for col in Catalog.COUNT_COLUMNS:
        if col not in df.columns:
            continue
        v = pd.to_numeric(df[col], errors="coerce")
        known = v.dropna()
        if v.isna().sum() == df[col].isna().sum() and (known == known.round()).all():
            df[col] = v.round().astype("Int64")
    return df


def _alias_index(gpus: Iterable[GPU]) -> dict[str, str]:
    idx: dict[str, str] = {}
    gpus = list(gpus)
    for g in gpus:  # aliases first so canonical names always win a clash
        for a in g.aliases:
            idx.setdefault(fold_name(a), g.name)
    for g in gpus:
        idx[fold_name(g.name)] = g.name
    return idx


def _suggest(name: str, choices: dict[str, str]) -> str:
    close = difflib.get_close_matches(fold_name(str(name)), list(choices), n=3, cutoff=0.4)
    shown = list(dict.fromkeys(choices[c] for c in close))[:3]
    return f"; did you mean: {', '.join(shown)}?" if shown else ""


# --------------------------------------------------------------------------- loading


def _read_csv(path: Path) -> list[dict]:
    """A shipped table's rows; a broken quote is an error (``strict``, as ``_strict_csv`` reads an override), not a
    cell that runs on to the end of the file."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, strict=True))


_SECTIONS = ("gpus", "instances", "onprem", "commitments", "launch_fabric", "system_prices")


def _csv_section(header: list[str]) -> str:
    """Which table an override CSV holds, from its header: a SkyPilot catalog (``InstanceType`` and ``Price``
    columns, ``hardware_catalog.skypilot``; it was read as a GPU table, "gpus[0].name: is required"), or one of
    the catalog's own tables."""
    if skypilot.is_skypilot(header):
        return "skypilot"
    if "transport" in header and "instance" in header:  # hardware_catalog/data/launch_fabric.csv's columns
        return "launch_fabric"
    if "system" in header and "provider" in header:  # hardware_catalog/data/system_prices.csv's columns (gbprice42)
        return "system_prices"
    if "term" in header and "instance" in header:
        return "commitments"
    if "key" in header and "value" in header:
        return "onprem"
    return "instances" if "cloud" in header else "gpus"


#: the columns ``planner catalog <table> --csv`` prints that are not the override file's own, by table: a column
#: named otherwise there (the override's name), or None for one derived from the others (``key`` = cloud:name), which
#: is checked against them and dropped. Until QA 34 the catalog's own CSV, edited and passed back with --catalog,
#: was refused: "instances[0].key: is not a known column, got 'aws:p3.2xlarge'", "gpus[0].hbm_tbps: ..."
#: (Not commitments: an override's commitment row adds one beside the built-in rows, so the table passed back whole
#: would list every term twice.)
DISPLAY_COLUMNS = {"gpus": {"hbm_tbps": "hbm_bw_tbps", "int8_tflops": "int8_tops"},
                   "instances": {"key": None}}
#: the derived key of a row of these tables, from its own columns
_DERIVED_KEY = {"instances": ("cloud", "name")}


#: tables ``planner catalog <table> --csv`` prints that ``--catalog`` does not read back, by columns only that table's
#: CSV has together, and why. Until QA 39 they were read as other tables: the links CSV as a GPU table ("gpus[0].vendor: is
#: required"), the commitments CSV refused for its derived column ("commitments[0].key: is not a known column"), the
#: systems CSV as "none of the catalog's tables"
NOT_READ_BACK = {
    "links": (("kind", "gbps_per_dir"),
              "the interconnects are built in (hardware_catalog/data/interconnects.csv) and an override cannot change "
              "them; a GPU's intra_node_link / intra_node_gbps_per_dir (a gpus table) or an instance's fabric / "
              "network_gbps (an instances table) can"),
    "systems": (("gpus_per_host", "max_chips"),
                "the reference systems are built in (hardware_catalog/data/systems.csv) and an override cannot change "
                "them; an instances table can add a priced node of that GPU"),
    "commitments": (("term", "price_ondemand_usd_hr"),
                    "an override's commitment row adds a term beside the built-in ones, so the whole table passed back "
                    "would list every term twice: keep only the rows to add, without the key, price_ondemand_usd_hr and "
                    "ondemand_region columns"),
}


def _refuse_unread_table(header: list[str], origin: str) -> None:
    """A CSV whose header is one of ``NOT_READ_BACK``'s tables is refused with why (one line)."""
    for table, (columns, why) in NOT_READ_BACK.items():
        if all(c in header for c in columns):
            raise CatalogError("header", f"this is `planner catalog {table} --csv`'s table, which --catalog does not "
                               f"read back: {why}", origin)


def _from_display(section: str, rows: list[dict], origin: str) -> list[dict]:
    """Rows of an override CSV written by ``planner catalog <table> --csv`` (``DISPLAY_COLUMNS``) in the override's
    own columns. A ``key`` that disagrees with the row's cloud and name is refused: it would be dropped unread."""
    names = DISPLAY_COLUMNS.get(section, {})
    if not names or not any(c in names for c in rows[0]):
        return rows
    out = []
    for i, row in enumerate(rows):
        key = row.get("key", "").strip()
        parts = _DERIVED_KEY.get(section)
        if key and parts and instance_match_key(key) != instance_match_key(":".join(row.get(p, "").strip() for p in parts)):
            raise CatalogError(f"{section}[{i}].key", f"{key!r} is {parts[0]}:{parts[1]}, derived from those columns "
                               f"({row.get(parts[0], '')!r}, {row.get(parts[1], '')!r}): edit them, not the key", origin)
        new = {}
        for c, v in row.items():
            if c not in names:
                new[c] = v
            elif names[c] is not None and names[c] not in row:
                new[names[c]] = v
        out.append(new)
    return out


def _strict_csv(text: str, origin: str):
    """The rows of an override CSV, each a list of cells; a broken quote refused at the line its row starts on.
    Python's csv reader is lenient by default: a cell opened with a quote and never closed (``aws,p5.48xlarge,"40``)
    ran to the end of the file, so the price read 40 and every row after it was swallowed into that one cell;
    ``strict=True`` (the csv module's Dialect.strict: "raise exception Error on bad CSV input") refuses that
    ("unexpected end of data") and a character after a closing quote (``"40"x``, "',' expected after '\"'"). A quote
    inside an unquoted cell (``4"0``) is still a cell's text, as RFC 4180's readers take it. Until qa65 such a file was
    read as the price 40."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        start = reader.line_num + 1  # the line this row starts on (a quoted cell may span lines)
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            what = ("a quoted cell opened here is never closed" if "end of data" in str(e)
                    else f"a quoted cell is malformed ({e})")
            raise CatalogError(f"line {start}", f"{what}: close each quote, and double a quote inside a quoted cell "
                                                "(\"\")", origin) from None


def _csv_rows(text: str, origin: str) -> dict[str, list[dict]]:
    """An override CSV: one header row; a repeated column name is refused (DictReader would keep
    the last one silently), and so is a row with more cells than the header has columns, and a broken quote
    (``_strict_csv``)."""
    reader = _strict_csv(text, origin)
    header = next(reader, None)
    if not header:
        return {}
    header = [h.strip() for h in header]
    seen: set[str] = set()
    for h in header:
        if h in seen:
            raise CatalogError(h, "column named twice in the header", origin)
        seen.add(h)
    _refuse_unread_table(header, origin)
    inst_only = [h for h in header if h in InstanceRow.model_fields and h not in GpuRow.model_fields]
    if _csv_section(header) == "gpus" and inst_only:
        # a price file without its cloud column was read as a GPU table: "name,price_ondemand_usd_hr" read
        # "gpus[0].vendor: is required" (QA 46)
        raise CatalogError("header", f"has instance columns ({', '.join(inst_only[:4])}) but no cloud column: an "
                           "instances table names each row's cloud and name (`planner catalog instances --csv` writes "
                           "one it reads back)", origin)
    if _csv_section(header) == "gpus" and "name" not in header:
        # a header that names no table was read as a GPU table: "a,b" read "gpus[0].name: is required"
        shown = ", ".join(header[:6]) + (", ..." if len(header) > 6 else "")
        # fitted to InputError's cap, its asides giving way first (fit_message): cut in its middle, it read "... a
        # launch fabric table inst…sv InstanceType and Price" until qa57, two tables' columns lost
        raise CatalogError("header", fit_message(
            f"the columns ({shown}) are none of the catalog's tables: gpus need name, vendor; instances cloud, name; "
            "commitments instance, term; onprem key, value; launch fabrics instance, transport; SkyPilot's vms.csv "
            "InstanceType, Price (`planner catalog gpus|instances|onprem --csv` writes files it reads back)"), origin)
    rows = []
    sky = _csv_section(header) == "skypilot"
    for i, cells in enumerate(reader):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header) and not sky:  # (SkyPilot's AWS v9 rows carry 4 local-disk cells past its header)
            raise CatalogError(f"row {i + 2}", f"{len(cells)} cells but the header has {len(header)} columns", origin)
        rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)))))
        # a SkyPilot catalog's rows are read for the few catalog instances it prices (one row per zone: AWS's file
        # has tens of thousands); the 8 MiB input limit bounds it
        if len(rows) > MAX_OVERRIDE_ROWS and not sky:
            raise CatalogError(_csv_section(header), _too_large(f"more than {MAX_OVERRIDE_ROWS:,}"), origin)
    if not rows:
        return {}
    section = _csv_section(header)
    return {section: _from_display(section, rows, origin)}


#: what a YAML (or JSON) override past ``files.MAX_NODES`` values is told: a row of six columns is 13 values (its
#: mapping, 6 keys, 6 values), so 100,000 values hold ~7,700 such rows, under ``MAX_OVERRIDE_ROWS``, which only a CSV
#: reaches. The YAML limit stays: a 20,000-row flow-style YAML override composed in ~7 s on this 2-core machine
#: (280,009 events; its 20,000-row CSV is read in ~0.7 s), fuzz47b
CSV_HOLDS_MORE = (f"; a YAML override holds ~{round(files.MAX_NODES / 13, -2):,.0f} rows of six columns: write more as CSV (up to "
                  f"{MAX_OVERRIDE_ROWS:,} rows)")


def _too_large(count: str) -> str:
    return f"too large: {count} rows (an override file may hold at most {MAX_OVERRIDE_ROWS:,} rows)"


@functools.lru_cache(maxsize=1)
def _builtin_rows() -> tuple[tuple[dict, ...], tuple[dict, ...], dict, dict, tuple[dict, ...], tuple[dict, ...],
                             tuple[dict, ...]]:
    gpus = tuple(_read_csv(DATA_DIR / "gpus.csv"))
    insts = tuple(_read_csv(DATA_DIR / "instances.csv"))
    onprem = {r["key"]: r for r in _read_csv(DATA_DIR / "onprem.csv")}
    inter = {r["name"]: r for r in _read_csv(DATA_DIR / "interconnects.csv")}
    commits = tuple(_read_csv(DATA_DIR / "commitments.csv"))
    systems = tuple(_read_csv(DATA_DIR / "systems.csv"))
    system_prices = tuple(_read_csv(DATA_DIR / "system_prices.csv"))
    return gpus, insts, onprem, inter, commits, systems, system_prices


@functools.lru_cache(maxsize=None)
def builtin_gpu(name: str) -> GPU:
    """A GPU of the shipped ``gpus.csv`` by name or alias, without user overrides: for figures measured
    against the shipped datasheet peaks (``planner.hardware.efficiency`` turns measured TFLOP/s and GB/s into
    fractions of them), so a user's catalog override cannot change what a measurement meant."""
    key = fold_name(name)
    for r in _builtin_rows()[0]:
        names = [r["name"], *str(r.get("aliases") or "").split(";")]
        if key in {fold_name(n) for n in names if n}:
            gpu = GPU.from_row(_validate(GpuRow, dict(r), f"gpus.csv {r['name']}", None))
            ref = clock_reference_name(gpu.name)
            return gpu if ref is None or ref == gpu.name else dataclasses.replace(gpu, clock_reference=builtin_gpu(ref))
    raise KeyError(name)


class _EnvOrigin(str):
    """A ``$PLANNER_CATALOG`` file's origin (``_override_origin``): the path as the variable holds it, marked by its type
    so ``load_catalog`` attributes a refusal by where the file came from, not by its name (qa92:
    ``PLANNER_CATALOG=o.csv`` with ``--catalog sub/o.csv`` blamed the variable for the ``--catalog`` file's row)."""


def _override_origin(path: Path, from_env: bool) -> str:
    """How refusals and notes name an override file: a ``--catalog`` file by its name, a ``$PLANNER_CATALOG`` one by
    the path the variable holds (``load_catalog`` names the variable in its refusals: QA 89, where
    ``PLANNER_CATALOG=/tmp`` read "catalog override tmp: file: is a directory"). A path with no name (``--catalog ""``
    is Path('.')) is named as given: the error lost its "catalog override" prefix and read "error: file: is a
    directory, not a file". Quoted as every refusal quotes a path (a newline escaped, not a space)."""
    return _EnvOrigin(shown_path(path)) if from_env else shown_path(path.name or path)


def _read_override(path: Path, origin: str) -> dict[str, list[dict]]:
    try:  # regular files only, bounded size, UTF-8 (a spreadsheet's BOM dropped), safe YAML
        text = files.read_text(path, "file")
        if path.suffix.lower() == ".csv":
            return _csv_rows(text, origin)
        doc = files.parse_yaml(text, "yaml", origin)
    except InputError as e:
        if isinstance(e, CatalogError):
            raise
        # the file is named once: "catalog override o.yaml: yaml: o.yaml: malformed YAML ..." was printed
        # (and not twice by name and full path: "catalog override nope.csv: file: /tmp/nope.csv: file not found")
        msg = e.message.removeprefix(f"{origin}: ").removeprefix(f"{shown_path(path)}: ")
        raise CatalogError(e.field, msg + (CSV_HOLDS_MORE if msg == files.TOO_MANY_VALUES else ""), origin) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CatalogError("(top level)", f"must be a mapping with keys {'/'.join(_SECTIONS)}, got {type(doc).__name__}", origin)
    unknown = set(map(str, doc)) - set(_SECTIONS)
    if unknown:
        raise CatalogError(sorted(unknown)[0], f"unknown top-level key (allowed: {', '.join(_SECTIONS)})", origin)
    out = {}
    total = 0
    for key in _SECTIONS:
        rows = doc.get(key) or []
        if key == "onprem" and isinstance(rows, dict):  # shorthand: {pue: 1.2, power_price_usd_per_kwh: 0.08}
            rows = [{"key": k, "value": v} for k, v in rows.items()]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise CatalogError(key, "must be a list of rows (mappings of column: value)", origin)
        total += len(rows)
        if total > MAX_OVERRIDE_ROWS:
            raise CatalogError(key, _too_large(f"{total:,}"), origin)
        out[key] = [{str(k): ("" if v is None else v) for k, v in r.items()} for r in rows]
    return out


def override_paths(extra_paths: Iterable[str | Path] | None) -> list[Path]:
    """The override files ``load_catalog(extra_paths)`` reads, in the order they apply (a later file's row wins):
    ``$PLANNER_CATALOG``'s, then ``extra_paths`` (``--catalog``), so the file named for this run wins over the one the
    shell keeps set. Until QA 46 the environment's came last: with last quarter's prices in $PLANNER_CATALOG,
    ``--catalog new.csv`` planned at the old ones (the CLI keeps every one of them from being an output:
    ``planner.outputs.output_target``'s ``inputs``)."""
    return _env_paths() + [Path(p) for p in (extra_paths or [])]


def _env_paths() -> list[Path]:
    """The override files ``$PLANNER_CATALOG`` names (``os.pathsep``-separated, blanks skipped)."""
    return [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]


def _split_aliases(text: Any) -> list[str]:
    return [a.strip() for a in str(text or "").split(";") if a.strip()]


def _raw_alias_index(rows: Iterable[dict]) -> dict[str, str]:
    """``_alias_index`` over raw (unvalidated) GPU rows: aliases first, canonical names win."""
    rows = list(rows)
    idx: dict[str, str] = {}
    for r in rows:
        for a in _split_aliases(r.get("aliases")):
            idx.setdefault(fold_name(a), r["name"])
    for r in rows:
        idx[fold_name(r["name"])] = r["name"]
    return idx


def _gpu_row_columns(row: dict, where: str, origin: str) -> dict:
    """Legacy column names mapped to today's (``tdp_w`` -> ``power_limit_w``)."""
    for old, new in _GPU_LEGACY_COLUMNS.items():
        if old in row:
            row = dict(row)
            legacy = row.pop(old)
            if new in row and str(row[new]).strip() != str(legacy).strip() and str(legacy).strip():
                raise CatalogError(f"{where}.{old}", f"{old} and {new} disagree ({legacy!s} vs {row[new]!s}); give {new} only", origin)
            row.setdefault(new, legacy)
    return row


class _Duplicates:
    """Refuses a second row for the same thing inside one override file."""

    def __init__(self, origin: str):
        self.origin, self.seen = origin, {}

    def check(self, keys: Iterable[str], where: str, what: str) -> None:
        keys = [k for k in keys if k]
        for k in keys:
            if k in self.seen:
                raise CatalogError(where, f"duplicate row: {what} is already given in {self.seen[k]} of this file", self.origin)
        for k in keys:
            self.seen[k] = where


def _short(v: Any, limit: int = 24) -> str:
    """A cell for an override note: control characters escaped (repr), cut to ``limit``; "-" when empty."""
    text = repr(str(v).strip())[1:-1] if v is not None else ""
    return "-" if not text else text if len(text) <= limit else text[:limit - 1] + "…"


def _short_origin(origin: Any, limit: int = 80) -> str:
    """An override file's name for a note, cut to ``limit`` from the left: the file's own name is the end of the path
    (a long directory read "…/test_a_catalog_file_named_on_t0/old.c…", the file unnamed, until session 52)."""
    text = _short(origin, 10**9)
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def _same_cell(new: Any, old: Any) -> bool:
    """Whether an override cell restates the built-in one: YAML's ``true`` is the CSV's "true" and 30.0 is "30" (both
    were noted as changes: "cluster true -> True")."""
    a, b = ("" if x is None else str(x).strip().lower() if isinstance(x, bool) else str(x).strip() for x in (new, old))
    if a == b:
        return True
    if b.lower() in BOOL_CELL_WORDS:
        # a bool column's cell (`catalog --csv` writes "False" for the shipped "false"), read as the row model reads it
        # (``bool_cell``): a cell it refuses changes the row, and the row's validation says why
        try:
            return bool_cell(new) == BOOL_CELL_WORDS[b.lower()]
        except ValueError:
            return False
    try:  # (the row's reading of a number, ``files.number_cell``: `5_5.04` is no restatement of 55.04, fuzz46b)
        x, y = files.number_cell(a), files.number_cell(b)
    except ValueError:
        return False
    return not isinstance(x, str) and x == y


def load_catalog(extra_paths: list[str | Path] | None = None) -> Catalog:
    """Built-in catalog plus overrides (``$PLANNER_CATALOG`` then ``extra_paths``, later wins: ``override_paths``).
    A refusal of a ``$PLANNER_CATALOG`` file names the variable as its field (``error: PLANNER_CATALOG: /tmp/x.csv:
    file: file not found``): until QA 89 it read "catalog override x.csv: ..." as if the user had typed the file, and a
    user who had not (the variable set in a profile long ago) had nothing to look for. Told apart by origin
    (``_EnvOrigin``), not by name: a ``--catalog`` file of the same name keeps its own words (qa92)."""
    try:
        return _merged_catalog(extra_paths)
    except CatalogError as e:
        if not isinstance(e.origin, _EnvOrigin):
            raise
        raise CatalogError(ENV_VAR, f"{cut_middle(e.origin, ECHO_CHARS)}: {e.field}: {e.message}") from None


def _merged_catalog(extra_paths: list[str | Path] | None) -> Catalog:
    """``load_catalog``'s work. Linear in the number of rows: each override row is validated once, and the GPU alias
    index is built once and updated as rows add GPUs or change their aliases.
    """
    b_gpus, b_insts, b_onprem, inter, b_commits, b_systems, b_system_prices = _builtin_rows()
    gpu_raw: dict[str, dict] = {r["name"]: dict(r) for r in b_gpus}
    inst_raw: dict[str, dict] = {f"{r['cloud'].lower()}:{r['name']}": dict(r) for r in b_insts}
    inst_key_of = {instance_match_key(k): k for k in inst_raw}  # match key -> inst_raw key (override rows)
    onprem_raw: dict[str, dict] = {k: dict(r) for k, r in b_onprem.items()}
    commit_raw: list[tuple[dict, str | None, str]] = [(dict(r), None, f"commitments[{i}]") for i, r in enumerate(b_commits)]
    fabric_raw: list[tuple[dict, str, str]] = []  # an override's launch_fabric rows: (row, file, where)
    # system price rows, built-in (file None) then each override's: (row, file, where)
    price_raw: list[tuple[dict, str | None, str]] = [(dict(r), None, f"system_prices[{i}]")
                                                     for i, r in enumerate(b_system_prices)]
    origin_of: dict[str, tuple[str | None, str]] = {}  # key -> (file, where) for error messages
    valid: dict[str, _Row] = {}  # key -> the model validated when the override row was read
    given: dict[str, set[str]] = {}  # key -> the columns the last override row of it gave a value in
    # instance key -> the source of a spot rate the overrides left as it was (Instance.spot_source), per field: a row
    # that changed only the on-demand rate has the user's source and the built-in spot rate
    spot_source: dict[str, str] = {}
    alias = _raw_alias_index(gpu_raw.values())
    aliases_of: dict[str, set[str]] = {}  # canonical name -> its alias keys in `alias` (for restated aliases)
    for a, n in alias.items():
        if a != fold_name(n):
            aliases_of.setdefault(n, set()).add(a)

    notes: list[str] = []
    kinds = {"gpu": "GPU", "inst": "instance", "onprem": "on-prem key"}

    def override(raw: dict, key: str, row: dict, model: type[_Row], tag: str, where: str, org: str,
                 user_dated: bool = True) -> None:
        """An override row on top of the row it replaces (if any): validated once, origin kept, and
        what it changed noted (``Catalog.overrides``); a row it changes keeps no built-in ``source``
        for the new figures: the source says the user's file gave them. ``user_dated``: an instance row's
        ``price_date`` is the user's, checked (``price_date_note``); a SkyPilot file's rows say their own."""
        user_date = row.get("price_date") if tag in ("inst", "onprem") and user_dated else None
        rate_dates = {c: row[c] for c in RATE_DATE_COLUMNS.values()
                      if tag == "inst" and user_dated and _blank_to_none(row.get(c)) is not None
                      and not (key in raw and _same_cell(row[c], raw[key].get(c)))}
        if key in raw and _same_cell(user_date, raw[key].get("price_date")):
            user_date = None  # the row's own date, restated (the catalog's CSV passed back): not the user's to check
        if key in raw:
            old = raw[key]
            changed = [c for c, v in row.items() if c not in ("cloud", "name", "key", "source", "notes")
                       and not _same_cell(v, old.get(c))]
            if tag == "inst" and "price_spot_usd_hr" not in changed:
                spot_source.setdefault(key, str(old.get("source") or ""))
            elif tag == "inst":
                spot_source.pop(key, None)
            row = dict(row)
            if (tag == "inst" and user_dated and "price_date" not in changed
                    and any(c.startswith("price_") for c in changed)):
                # a repriced row without a date of its own (none given, or the catalog's CSV passed back with a price
                # edited) kept the built-in row's: the user's price was shown as of "unknown: catalog snapshot ...
                # (retrieved 2026-11-23)" in the report's price table (QA 46)
                row["price_date"] = f"unknown: not given in {org}"
            if (tag == "inst" and user_dated and "price_date" in row
                    and not _same_cell(row["price_date"], old.get("price_date"))):
                # a row that re-dates the instance (its own date, or "unknown: not given" just above) but leaves a rate
                # as it was (out of the row, or restated: the catalog's CSV passed back) keeps that rate's date: an
                # on-demand repricing dated "not before 2026-11-01" dated the snapshot's spot rate (bounded at most 319
                # days back) as at most 34 days old, and a spot plan's cost with it (QA 55); a rate the row changes is
                # the user's, dated by the row unless the row gives the rate's own date
                for rate, date_col in RATE_DATE_COLUMNS.items():
                    if date_col in rate_dates:
                        continue
                    if old.get(rate) not in (None, "") and (rate not in row or _same_cell(row[rate], old.get(rate))):
                        row[date_col] = old.get(date_col) or old.get("price_date") or "unknown"
                    else:
                        row[date_col] = None
            if tag == "onprem" and "value" in changed and "price_date" not in changed and old.get("price_date"):
                # a re-set price row (a server price, $/kWh) without a date of its own kept the built-in row's (buy36)
                row["price_date"] = f"unknown: not given in {org}"
            if tag == "onprem" and "value" in changed and "basis" not in changed:
                # the value is the user's: the built-in row's basis ("assumption" for the HGX H100 server price)
                # described the value it replaced, and the report labelled the user's quote with it (QA 55b); a
                # basis the row gives (one other than the built-in row's) is kept
                row["basis"] = "user"
            if changed and not str(row.get("source") or "").strip():
                row["source"] = f"user override ({org}: {', '.join(changed)}); built-in row: {old.get('source') or '-'}"
            # a reference row's peak or power limit moves the parts whose clock is read off it (CLOCK_REFERENCE_OF):
            # said, so a user who edits the HGX B200 knows GB200's plans move too (catalog40)
            takers = _clock_takers(key, gpu_raw) if tag == "gpu" and set(changed) & CLOCK_REFERENCE_COLUMNS else []
            notes.append(f"{_short_origin(org)}: {kinds[tag]} {_short(key, 80)}: " + (", ".join(
                f"{c} {_short(old.get(c))} -> {_short(row[c])}"
                for c in changed) if changed else "restated, nothing changed")
                + (f" ({', '.join(takers)} {'takes its' if len(takers) == 1 else 'take their'} sustained clock from "
                   f"this row: {'its' if len(takers) == 1 else 'their'} plans move too)" if takers else ""))
        else:
            notes.append(f"{_short_origin(org)}: adds {kinds[tag]} {_short(key, 80)}")
        merged = {**raw[key], **row} if key in raw else dict(row)
        valid[f"{tag}:{key}"] = _validate(model, merged, where, org)
        if tag == "gpu" and all(getattr(valid[f"gpu:{key}"], c) is None for c in _DTYPE_COLUMN.values()):
            notes[-1] += f" ({NO_PEAK_USE})"  # kept (GPU.computes), and said what it is kept for (qa59b)
        if tag in ("inst", "onprem"):
            stale = price_date_note(user_date, where, org, f"{kinds[tag]} {_short(key, 80)}")
            if stale:
                notes.append(stale)
        for date_col, given_date in rate_dates.items():  # a rate's own date the user gives, checked as the row's is
            stale = price_date_note(given_date, where, org, f"{kinds[tag]} {_short(key, 80)}", column=date_col)
            if stale:
                notes.append(stale)
        raw[key] = merged
        origin_of[f"{tag}:{key}"] = (org, where)
        given[f"{tag}:{key}"] = {c for c, v in row.items() if v is not None and str(v).strip() != ""}

    env = len(_env_paths())
    for i, path in enumerate(override_paths(extra_paths)):
        org = _override_origin(path, i < env)
        doc = _read_override(path, org)
        if not any(doc.values()):
            # an empty file, a CSV header alone or empty sections: it was read as no change without a word (QA 39),
            # so an override whose rows were lost (a failed `> mine.csv`) planned at the built-in rows unsaid
            raise CatalogError("file", f"adds or changes no row (empty, or a header or sections without rows); give "
                                       f"it rows (`planner catalog gpus|instances|onprem --csv` writes a table it "
                                       f"reads back), or leave it out", org)
        if doc.get("skypilot"):
            repriced, said = skypilot.price_overrides(doc["skypilot"], inst_raw, lambda n: alias.get(fold_name(n)), org,
                                                      lambda f, m: CatalogError(f, m, org))
            notes.extend(said)
            for key, row in repriced:
                override(inst_raw, key, row, InstanceRow, "inst", f"{row['name']} (SkyPilot rows)", org, user_dated=False)
        dups = _Duplicates(org)
        for i, row in enumerate(doc.get("gpus", [])):
            where = f"gpus[{i}]"
            row = _gpu_row_columns(row, where, org)
            name = str(row.get("name", "")).strip()
            if not name:
                raise CatalogError(f"{where}.name", "is required", org)
            target = alias.get(fold_name(name))
            new_aliases = _split_aliases(row.get("aliases")) if "aliases" in row else None
            dups.check([fold_name(target or name), *(fold_name(a) for a in new_aliases or [])], where,
                       f"GPU {target or name!r}")
            key = target or name
            override(gpu_raw, key, {**row, "name": target} if target else row, GpuRow, "gpu", where, org)
            if target is None:
                alias[fold_name(key)] = key
            if new_aliases is not None:  # the row (re)states this GPU's aliases: O(its aliases)
                for a in aliases_of.pop(key, ()):
                    if alias.get(a) == key:
                        del alias[a]
                for a in new_aliases:
                    if alias.setdefault(fold_name(a), key) == key and fold_name(a) != fold_name(key):
                        aliases_of.setdefault(key, set()).add(fold_name(a))
        dups = _Duplicates(org)
        for i, row in enumerate(doc.get("instances", [])):
            where = f"instances[{i}]"
            cloud, name = str(row.get("cloud", "")).strip().lower(), str(row.get("name", "")).strip()
            if not cloud or not name:
                raise CatalogError(f"{where}.{'cloud' if not cloud else 'name'}", "is required", org)
            key = inst_key_of.setdefault(instance_match_key(f"{cloud}:{name}"), f"{cloud}:{name}")
            dups.check([instance_match_key(key)], where, f"instance {key!r}")
            if key in inst_raw:  # the row overrides this instance under its catalog spelling
                old_cloud, _, old_name = key.partition(":")
                row = {**row, "cloud": old_cloud, "name": old_name}
            elif not str(row.get("source") or "").strip() and not str(row.get("gpu") or "").strip():
                # a new instance needs its gpu and source; a row with neither whose name is close to a catalog
                # instance is far likelier that instance misspelt (a negotiated "aws,p5.48xlarg,40" read "instances[0].source:
                # is required", QA 46)
                near = difflib.get_close_matches(instance_match_key(f"{cloud}:{name}"),
                                                 [instance_match_key(k) for k in inst_raw if k.startswith(f"{cloud}:")],
                                                 n=3, cutoff=0.85)  # a letter or two off (p5.48xlarg: 0.97), not "new"
                if near:
                    near = "; did you mean: " + ", ".join(inst_key_of.get(k, k) for k in near) + "?"
                    raise CatalogError(f"{where}.name", f"{cloud}:{name} is not a catalog instance{near} (a new "
                                       "instance is added with its gpu, gpu_count, price and source)", org)
            override(inst_raw, key, row, InstanceRow, "inst", where, org)
        dups = _Duplicates(org)
        for i, row in enumerate(doc.get("onprem", [])):
            where = f"onprem[{i}]"
            k = str(row.get("key", "")).strip()
            if not k:
                raise CatalogError(f"{where}.key", "is required", org)
            dups.check([k], where, f"on-prem key {k!r}")
            override(onprem_raw, k, row, OnpremRow, "onprem", where, org)
        dups = _Duplicates(org)
        for i, row in enumerate(doc.get("commitments", [])):
            where = f"commitments[{i}]"
            r = _validate(CommitmentRow, row, where, org)
            stale = price_date_note(row.get("price_date"), where, org, f"{r.term} commitment for {r.cloud}:{r.instance}")
            if stale:
                notes.append(stale)
            dups.check([f"{r.cloud.lower()}:{r.instance}:{r.term}:{r.payment or ''}:{r.region or ''}".lower()], where,
                       f"{r.term} commitment for {r.cloud}:{r.instance}")
            commit_raw.append((dict(row), org, where))
        fabric_raw.extend((row, org, f"launch_fabric[{i}]") for i, row in enumerate(doc.get("launch_fabric", [])))
        price_raw.extend((row, org, f"system_prices[{i}]") for i, row in enumerate(doc.get("system_prices", [])))

    gpus: dict[str, GPU] = {}
    for name, raw in gpu_raw.items():
        org, where = origin_of.get(f"gpu:{name}", (None, f"gpus.{name}"))
        r = valid.get(f"gpu:{name}") or _validated(GpuRow, name, raw, where, org)
        gpus[name] = GPU.from_row(r)
    gpus = _with_clock_references(gpus)  # after every override: a user's reference row is the one read
    alias = _alias_index(gpus.values())

    instances: dict[str, Instance] = {}
    for key, raw in inst_raw.items():
        org, where = origin_of.get(f"inst:{key}", (None, f"instances.{key}"))
        r = valid.get(f"inst:{key}") or _validated(InstanceRow, key, raw, where, org)
        if r.price_spot_usd_hr is not None and r.price_spot_usd_hr > r.price_ondemand_usd_hr:
            if org is not None and "price_spot_usd_hr" not in given.get(f"inst:{key}", ()):
                # the row lowered the on-demand rate under a spot rate it never gave: name the column it set (QA 41: a
                # one-column repricing read "instances[0].price_spot_usd_hr: spot 16.9508 exceeds on-demand 10.0")
                raise CatalogError(f"{where}.price_ondemand_usd_hr",
                                   f"{r.price_ondemand_usd_hr:g} is below {key}'s spot rate {r.price_spot_usd_hr:g}, "
                                   f"which this row keeps (it gives no price_spot_usd_hr): give the instance's spot "
                                   f"price too, at most {r.price_ondemand_usd_hr:g}, or an empty price_spot_usd_hr "
                                   "for no spot offer", org)
            raise CatalogError(f"{where}.price_spot_usd_hr",
                               f"spot {r.price_spot_usd_hr} exceeds on-demand {r.price_ondemand_usd_hr}", org)
        if org is not None and r.price_spot_usd_hr is not None and r.price_spot_usd_hr == r.price_ondemand_usd_hr:
            # the shipped catalog reads such a row as no spot offer (SkyPilot's snapshots fill SpotPrice with the
            # on-demand price where a cloud quotes none: RunPod MI300X, Azure ND/NC H100 v5; the reference's
            # catalogs.md flags them), so a user's row is read the same way, and said (until 2026-12-02 it was
            # taken silently as a spot price with no discount, and a spot plan was priced at it)
            notes.append(f"{_short_origin(org)}: instance {_short(key, 80)}: price_spot_usd_hr {r.price_spot_usd_hr:g} equals "
                         "on-demand: read as no spot price, as the shipped catalog reads such rows (give the spot price, "
                         "or leave it empty)")
            r = r.model_copy(update={"price_spot_usd_hr": None})
        gpu = None
        if r.gpu:
            target = alias.get(fold_name(r.gpu))
            if target is None:
                raise CatalogError(f"{where}.gpu", f"unknown GPU {r.gpu!r}" + _suggest(r.gpu, alias), org)
            if r.gpu_count <= 0:
                raise CatalogError(f"{where}.gpu_count", f"must be > 0 for a GPU instance, got {r.gpu_count}", org)
            gpu = gpus[target]
        elif r.gpu_count:
            raise CatalogError(f"{where}.gpu", f"gpu_count is {r.gpu_count} but no gpu is named", org)
        if org is not None:  # a user's rates (built-in rows set the floors: tests/test_cost41.py)
            for column, rate in (("price_ondemand_usd_hr", r.price_ondemand_usd_hr),
                                 ("price_spot_usd_hr", r.price_spot_usd_hr)):
                said = (check_rate_floor(rate, column, gpu, r.gpu_count, r.vcpus, key, where, org)
                        if rate is not None else None)
                if said:  # an owned row's internal rate under the floor: taken, and said (OWNED_CLOUD)
                    notes.append(said)
        if r.nvlink_topology in MESH_WIRED_OF and (gpu is None or not wired_as(r.nvlink_topology, gpu.intra_node_link)):
            # a mesh on a node without its links: the DGX-1's link shares were read off the PCIe rate (a TP-2 pair of
            # L4s at a sixth of PCIe) until fuzz49, off an A100's NVLink3 until QA 93; the xGMI mesh was taken here
            # and refused only when a job planned the row until QA 95
            raise CatalogError(f"{where}.nvlink_topology",
                               f"{r.nvlink_topology} is a mesh of {mesh_links_words(r.nvlink_topology)} links; "
                               + (f"{gpu.name}'s GPUs are joined by {gpu.intra_node_link}" if gpu else "it has no GPU")
                               + ": leave it blank", org)
        inst = _instance_from_row(r, gpu, spot_source.get(key))
        instances[inst.key] = inst

    onprem: dict[str, dict] = {}
    for k, raw in onprem_raw.items():
        org, where = origin_of.get(f"onprem:{k}", (None, f"onprem.{k}"))
        r = valid.get(f"onprem:{k}") or _validated(OnpremRow, k, raw, where, org)
        onprem[k] = {**{c: ("" if v is None else v) for c, v in r.model_dump().items()},
                     "value": str(raw.get("value", "")).strip() or f"{r.value:g}",
                     # the file a user's value came from (basis "user"), for the report's basis cell (QA 55b)
                     **({"override_file": org} if r.basis == "user" and org else {})}

    commitments: list[Commitment] = []
    cat = Catalog(gpus=gpus, instances=instances, onprem=onprem, interconnects=dict(inter), _alias=alias)
    for raw, org, where in commit_raw:
        r = _validated(CommitmentRow, where, raw, where, org)
        try:
            inst = cat.instance(f"{r.cloud}:{r.instance}")
        except CatalogError as e:
            raise CatalogError(f"{where}.instance", e.message, org) from None
        if r.term == "capacity-block" and inst.cloud not in CAPACITY_BLOCK_CLOUDS:
            raise CatalogError(f"{where}.term", f"capacity-block is AWS EC2 Capacity Blocks, billed by AWS's rules (whole "
                                                f"days to 14 days, whole weeks to 182), not {inst.cloud}'s; give "
                                                f"{inst.cloud}'s reservation as a 1yr or 3yr term, or as the instance's "
                                                "on-demand price", org)
        if org is not None and r.price_usd_hr > inst.price_ondemand:  # a user's row; built-ins are tested
            raise CatalogError(f"{where}.price_usd_hr",
                               f"{r.term} price {r.price_usd_hr} exceeds on-demand {inst.price_ondemand} for {inst.key}", org)
        if org is not None:  # (an owned row has no commitments: a commitment names a cloud's instance)
            check_rate_floor(r.price_usd_hr, "price_usd_hr", inst.gpu, inst.gpu_count, inst.vcpus, inst.key, where, org)
        commitments.append(Commitment(instance_key=inst.key, term=r.term, payment=r.payment or "",
                                      price=r.price_usd_hr, region=r.region or "", price_date=r.price_date or "",
                                      source=r.source, notes=r.notes or ""))
    cat.commitments = commitments
    cat.overrides = notes + [f"{_short_origin(org)}: adds {_short(c.term)} commitment for {_short(c.instance_key, 80)}"
                             for c, (_, org, _) in zip(commitments, commit_raw) if org is not None]
    cat.systems = _systems(b_systems, gpus, alias)
    cat.systems, said = _system_prices(cat.systems, price_raw)
    cat.overrides += said
    cat.launch_fabrics, said = _launch_fabrics(cat, fabric_raw)
    cat.overrides += said
    return cat


def _launch_fabrics(cat: Catalog, rows: list[tuple[dict, str, str]]) -> tuple[dict, list[str]]:
    """The shipped launch fabrics (``data/launch_fabric.csv``) with an override's ``launch_fabric`` rows on top, and a
    note per row. A row is checked as the shipped table is (``fabric.parse_row``: a bad cell is
    ``launch_fabric[i].<column>: ...``), names a catalog instance (the file's own, or a built-in one, whose row it
    replaces) of the fabric its transport runs on, and is given once per file. Until fabric34 an instance from a
    user's file had no row and could get none: its multi-node launch requested no EFA / RDMA device, unsaid."""
    out = dict(launch_fabric.launch_fabrics())
    notes: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for row, org, where in rows:
        unknown = sorted(set(row) - set(launch_fabric.COLUMNS))
        if unknown:
            raise CatalogError(f"{where}.{unknown[0]}", f"is not a known column (a launch_fabric row has "
                                                        f"{', '.join(launch_fabric.COLUMNS)})", org)
        try:
            r = launch_fabric.parse_row(row)
        except launch_fabric.FabricRowError as e:
            raise CatalogError(f"{where}.{e.column}", e.message, org) from None
        try:
            inst = cat.instance(r.key)
        except CatalogError as e:
            raise CatalogError(f"{where}.instance", e.message + " (a launch_fabric row names an instance of the "
                                                                "catalog or of an instances table)", org) from None
        if inst.fabric is not None and inst.fabric not in launch_fabric.TRANSPORT_FABRIC[r.transport]:
            raise CatalogError(f"{where}.transport", f"{r.transport} runs on "
                               f"{'/'.join(launch_fabric.TRANSPORT_FABRIC[r.transport])} nodes, but {inst.key} is priced "
                               f"on {inst.fabric} (its fabric column)", org)
        if (org, inst.key) in seen:
            raise CatalogError(where, f"duplicate row: the launch fabric of {inst.key!r} is already given in "
                                      f"{seen[(org, inst.key)]} of this file", org)
        seen[(org, inst.key)] = where
        verb = "replaces the launch fabric of" if inst.key in out else "adds a launch fabric for"
        out[inst.key] = dataclasses.replace(r, key=inst.key)
        notes.append(f"{_short_origin(org)}: {verb} {_short(inst.key, 80)}: {r.transport}"
                     + (f", {r.devices} devices" if r.devices else ""))
    return out, notes


def _system_prices(systems: dict[str, System], rows: list[tuple[dict, str | None, str]]
                   ) -> tuple[dict[str, System], list[str]]:
    """``systems`` with their provider rates (``SystemPriceRow``: the shipped ``system_prices.csv``, then each
    override file's ``system_prices`` rows), cheapest first, and a note per user row. A user's row replaces the rate of
    the same system and provider (a refreshed quote) or adds a provider; it names a reference system, is given once
    per file, is dated as an instance row is (``price_date_note``; none given: "unknown: not given in <file>") and is
    held to the price floor per GPU (``check_rate_floor``: the system's GPUs share its rate)."""
    by: dict[str, dict[str, SystemPrice]] = {}
    notes: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    folded = {fold_name(k): k for k in systems}
    for raw, org, where in rows:
        r = _validate(SystemPriceRow, raw, where, org)
        key = folded.get(fold_name(r.system))
        if key is None:
            raise CatalogError(f"{where}.system", f"{r.system!r} is not a reference system (`planner catalog systems`: "
                                                  f"{', '.join(sorted(systems))})", org)
        provider = fold_name(r.provider)
        if org is not None:
            if (org, key, provider) in seen:
                raise CatalogError(where, f"duplicate row: {provider}'s rate for {key} is already given in "
                                          f"{seen[(org, key, provider)]} of this file", org)
            seen[(org, key, provider)] = where
        date = r.price_date or ("" if org is None else f"unknown: not given in {org}")
        system = systems[key]
        if org is not None:
            stale = price_date_note(r.price_date, where, org, f"{provider}'s rate for {key}")
            owned = check_rate_floor(r.price_ondemand_usd_hr, "price_ondemand_usd_hr", system.gpu, system.gpu_count,
                                     None, f"{provider}:{key}", where, org)  # (provider onprem: an owned rack, said)
            old = by.get(key, {}).get(provider)
            notes.append(f"{_short_origin(org)}: system {key}: {provider} price_ondemand_usd_hr "
                         + (f"{old.price:g} -> {r.price_ondemand_usd_hr:g}" if old else f"{r.price_ondemand_usd_hr:g} added"))
            notes += [n for n in (owned, stale) if n]
        by.setdefault(key, {})[provider] = SystemPrice(
            system=key, provider=provider, region=r.region or "", price=r.price_ondemand_usd_hr, price_date=date,
            read=r.read or "", source=r.source, notes=r.notes or "")
    out = {k: dataclasses.replace(s, prices=tuple(sorted(by.get(k, {}).values(), key=lambda p: p.price)))
           for k, s in systems.items()}
    return out, notes


def _systems(rows, gpus: dict[str, GPU], alias: dict[str, str]) -> dict[str, System]:
    """The built-in reference systems (``systems.csv``), each on a catalog GPU by its canonical name."""
    out = {}
    for raw in rows:
        where = f"systems.{raw.get('key', '')}"
        r = _validate(SystemRow, raw, where, None)
        target = alias.get(fold_name(r.gpu))
        if target is None:
            raise CatalogError(f"{where}.gpu", f"unknown GPU {r.gpu!r}" + _suggest(r.gpu, alias))
        if r.gpu_count % r.gpus_per_host:
            raise CatalogError(f"{where}.gpus_per_host", f"{r.gpus_per_host} does not divide gpu_count {r.gpu_count}")
        out[r.key] = System(key=r.key, gpu=gpus[target], gpu_count=r.gpu_count, gpus_per_host=r.gpus_per_host,
                            ram_bytes=int(r.ram_gib * GIB) if r.ram_gib is not None else None,
                            network_bw=r.network_gbps * 1e9 / 8, fabric=r.fabric, source=r.source, notes=r.notes or "",
                            max_chips=r.max_chips)
    return out
