"""A SkyPilot catalog CSV (``skypilot-org/skypilot-catalog`` ``catalogs/v*/<cloud>/vms.csv``) given as an override
file: read as price overrides of the catalog's own instances, the file SkyPilot users already have.

The format (``/work/shared/reference/catalogs.md``, "vms.csv schema", SkyPilot's Schema V8): one row per
(``InstanceType``, ``Region``, ``AvailabilityZone``) with ``Price`` (on demand) and ``SpotPrice`` in USD per
instance-hour, plus ``AcceleratorName``, ``AcceleratorCount``, ``vCPUs``, ``MemoryGiB``; the column order differs
per cloud, so columns are read by name. How a file's rows become overrides:

- an ``InstanceType`` is matched to the catalog instance of that name (names are unique across the catalog's clouds);
  the rows in that instance's catalog ``region`` give its prices: on demand the lowest ``Price`` there (SkyPilot:
  "On-demand price is constant within a region"), spot the lowest ``SpotPrice`` over the region's zones (the
  shipped rows quote the same: "spot range 0.3644-0.3764 across use1-az1/2/5/6" with 0.3644);
- GCP's file is composite: a GPU VM's host row has an empty ``AcceleratorName`` and prices vCPUs and RAM only, its
  GPUs are a separate row with an empty ``InstanceType`` (``,,,A100,8,...,us-central1,...``); SkyPilot adds the two,
  and so is done here (host + the accelerator row of the instance's GPU and count in the same region);
- GCP's TPU slices are accelerator-only rows too (empty ``InstanceType``, ``AcceleratorName`` the slice,
  ``tpu-v6e-8``, ``AcceleratorCount`` 1, ``Price`` the whole slice's: SkyPilot's fetch_gcp.py multiplies the per-chip
  (v5e, v6e) or per-core (v4, v5p) SKU by the slice's size; the host VM is not in it): a catalog TPU instance of
  that name (the catalog's TPU rows were copied from these, ``gcp:tpu-v6e-8``) is repriced from the rows in its
  region, as a host row is; a row priced 0, or a v6e row at SkyPilot's ``TPU_V6E_MAX_PRICE`` 700 (placeholders
  where a region has no published price), is no price. Until 2026-12-02 they were all left in one "not read" note;
- only prices change (a row's hardware stays the catalog's: the reference fixed several of SkyPilot's rows, Azure
  ND96isr H100 v5's 12 GPUs for 8); a spot price equal to on demand is read as none by ``load_catalog`` as for any
  override;
- nothing is dropped silently: instance types and TPU slices the catalog has no row for, instances and slices with no
  row in their region or with no on-demand price there (AWS ``p5e.48xlarge``: spot only), and the accelerator rows
  no host row used are each named in a note that says why.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

from hardware_catalog.files import NUMBER_CELL_WORDS, number_cell

#: a CSV header holding these is a SkyPilot catalog, not one of the override tables
SIGNATURE = ("InstanceType", "Price")
#: the columns a SkyPilot catalog must have to be read
REQUIRED = ("InstanceType", "Region", "Price", "SpotPrice", "AcceleratorName", "AcceleratorCount")
#: instance types named in a note before "... and N more"
NAMED = 8
#: how a catalog row's spot rate was read from a SkyPilot snapshot (the module docstring: the lowest ``SpotPrice`` over
#: the region's zones; the Azure fork's rows carry no zone, so its region's rate), said beside every spot plan and in
#: ``planner catalog instances`` (qa89): one zone's reading can sit far under the others (g6e.48xlarge's az1 at 0.153
#: of on-demand where four zones read 0.38-0.39), and a plan priced at it looked like a market rate
SPOT_RATE_RULE = ("SkyPilot's cheapest zone in the row's region (the lowest SpotPrice over its zones at the snapshot; "
                  "Azure's rows: the region's), not a regional average: a spot plan pays that zone's rate only there")


def spot_rate_words(insts: Iterable) -> str:
    """``SPOT_RATE_RULE`` for the spot rates of catalog instances ``insts`` (a plan's, or a ranking's), "" where none
    has a rate read from a SkyPilot snapshot: the spot rate's source (``Instance.spot_source``) starts with the
    snapshot's repository (skypilot-org/skypilot-catalog, or the Azure fork's); a spot rate a catalog override gave
    reads "user override (...)" or the user's own source, and is the user's. Decided per rate, not by the row's
    ``source`` (qa92): an override that changed only the on-demand rate keeps SkyPilot's spot rate, and says so.

    >>> from types import SimpleNamespace as I
    >>> spot_rate_words([I(key="aws:x", price_spot=2.0, spot_source="skypilot-org/skypilot-catalog ...")])[:49]
    "spot rate (aws:x 2 $/h): SkyPilot's cheapest zone"
    >>> spot_rate_words([I(key="aws:x", price_spot=2.0, spot_source="user override (o.csv: price_spot_usd_hr); "
    ...                                                              "built-in row: skypilot-org/skypilot-catalog ...")])
    ''
    """
    read = list({i.key: i for i in insts if i is not None and i.price_spot
                 and (i.spot_source or "").split(" ", 1)[0].endswith("/skypilot-catalog")}.values())  # each once
    if not read:
        return ""
    rates = ", ".join(f"{i.key} {i.price_spot:g} $/h" for i in read[:NAMED]) + (
        f" and {len(read) - NAMED} more" if len(read) > NAMED else "")
    return f"spot rate{'s' if len(read) > 1 else ''} ({rates}): {SPOT_RATE_RULE}"


def is_skypilot(header: Iterable[str]) -> bool:
    return all(c in header for c in SIGNATURE)


def _number(cell, where: str, column: str, fail) -> float | None:
    """A price or count cell: empty = None; otherwise a finite number >= 0 (``fail(field, message)`` raises)."""
    text = str(cell or "")
    if not text.strip():
        return None
    try:  # (every CSV's number rule, ``files.number_cell``: ``float`` read ``1_0`` and ``١٢`` until fuzz46b)
        x = number_cell(text)
    except ValueError:
        raise fail(f"{where}.{column}", f"{NUMBER_CELL_WORDS}, got {text[:40]!r}") from None
    if isinstance(x, str):
        raise fail(f"{where}.{column}", f"must be a number, got {text[:40]!r}")
    if not math.isfinite(x) or x < 0:
        raise fail(f"{where}.{column}", f"must be a finite number >= 0, got {text[:40]!r}")
    return x


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _names(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:NAMED])
    return shown + (f" and {len(names) - NAMED:,} more" if len(names) > NAMED else "")


def price_overrides(rows: list[dict], instances: dict[str, dict], gpu_of: Callable[[str], str | None],
                    origin: str, fail) -> tuple[list[tuple[str, dict]], list[str]]:
    """``(overrides, notes)``: for each catalog instance the file prices, ``(catalog key, instance override row)``
    (``cloud``, ``name``, ``price_ondemand_usd_hr``, ``price_spot_usd_hr``), and the notes that say what was not
    read. ``instances``: the catalog's raw instance rows by ``cloud:name``; ``gpu_of(name)``: a GPU name or alias ->
    its canonical catalog name (None if unknown); ``fail(field, message)``: the error to raise for a bad cell."""
    header = rows[0].keys() if rows else ()
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise fail(missing[0], f"a SkyPilot catalog CSV (it has InstanceType and Price columns) needs the columns "
                               f"{', '.join(REQUIRED)}; {', '.join(missing)} missing")
    by_name = {str(r.get("name", "")).strip(): key for key, r in instances.items()}
    hosts: dict[tuple[str, str], list[tuple[float | None, float | None, bool]]] = {}
    accels: dict[tuple[str, float, str], list[tuple[float | None, float | None]]] = {}
    slices: dict[tuple[str, str], list[tuple[float | None, float | None]]] = {}  # GCP TPU slice rows, by (name, region)
    for i, r in enumerate(rows):
        where = f"row {i + 2}"
        it, region = str(r["InstanceType"] or "").strip(), str(r["Region"] or "").strip()
        od = _number(r["Price"], where, "Price", fail)
        sp = _number(r["SpotPrice"], where, "SpotPrice", fail)
        acc = str(r["AcceleratorName"] or "").strip()
        if it:
            hosts.setdefault((it, region), []).append((od, sp, bool(acc)))
        elif acc.lower().startswith("tpu-"):
            slices.setdefault((acc, region), []).append((_slice_price(acc, od), _slice_price(acc, sp)))
        elif acc:
            count = _number(r["AcceleratorCount"], where, "AcceleratorCount", fail) or 0.0
            accels.setdefault((gpu_of(acc) or acc, count, region), []).append((od, sp))
    types = {it for it, _ in hosts}
    unknown = sorted(t for t in types if t not in by_name)
    used_accels: set[tuple] = set()
    out: list[tuple[str, dict]] = []
    no_region, no_price, no_gpus = [], [], []
    for it in sorted(types - set(unknown)):
        key = by_name[it]
        inst = instances[key]
        region = str(inst.get("region") or "").strip()
        here = hosts.get((it, region))
        if not here:
            no_region.append(f"{it} ({region or 'no region'})")
            continue
        ods = [od for od, _, _ in here if od is not None]
        sps = [sp for _, sp, _ in here if sp is not None]
        od, sp = (min(ods) if ods else None), (min(sps) if sps else None)
        gpu = gpu_of(str(inst.get("gpu") or "").strip()) if str(inst.get("gpu") or "").strip() else None
        try:
            count = float(inst.get("gpu_count") or 0)
        except ValueError:
            count = 0.0
        if gpu and count and not any(has_acc for _, _, has_acc in here):
            # GCP's composite rows: the host prices vCPUs and RAM, its GPUs are their own row (SkyPilot adds them)
            parts = accels.get((gpu, count, region))
            if not parts:
                no_gpus.append(it)
                continue
            used_accels.add((gpu, count, region))
            a_od = [x for x, _ in parts if x is not None]
            a_sp = [x for _, x in parts if x is not None]
            od = od + min(a_od) if od is not None and a_od else None
            sp = sp + min(a_sp) if sp is not None and a_sp else None
        if not od:
            no_price.append(it)
            continue
        out.append((key, {"cloud": inst["cloud"], "name": inst["name"], "price_ondemand_usd_hr": f"{od:.10g}",
                          "price_spot_usd_hr": "" if sp is None else f"{sp:.10g}",
                          "price_date": f"unknown: SkyPilot catalog {origin} (the file holds no snapshot date)"}))
    slice_out, slice_notes = _tpu_slices(slices, instances, by_name, origin)
    out += slice_out
    notes = [f"{origin}: read as a SkyPilot catalog ({_count(len(rows), 'row')}, {_count(len(types), 'instance type')}"
             + (f", {_count(len({n for n, _ in slices}), 'TPU slice')}" if slices else "") + "): "
             f"{_count(len(out), 'catalog instance')} repriced from the rows of their catalog region"]
    if unknown:
        notes.append(f"{origin}: SkyPilot catalog: {_count(len(unknown), 'instance type')} not in the catalog, not read: "
                     f"{_names(unknown)} (add them as instances: rows to plan on them)")
    if no_region:
        notes.append(f"{origin}: SkyPilot catalog: no row in the catalog region of {_names(no_region)}: not repriced")
    if no_price:
        notes.append(f"{origin}: SkyPilot catalog: no on-demand Price for {_names(no_price)} in its region: not repriced")
    if no_gpus:
        notes.append(f"{origin}: SkyPilot catalog: no accelerator row for the GPUs of {_names(no_gpus)} "
                     "(GCP prices them apart): not repriced")
    notes += slice_notes
    left = sorted({name for name, _, _ in accels if not any(k[0] == name for k in used_accels)})
    if left:
        notes.append(f"{origin}: SkyPilot catalog: accelerator rows of no catalog host row, not read (GCP prices a "
                     f"VM's GPUs apart; none of its VMs here is a catalog instance): {_names([str(x) for x in left])}")
    return out, notes


#: SkyPilot's fetch_gcp.py ``TPU_V6E_MAX_PRICE``: the price it writes for a v6e slice in a region without a SKU
#: (/work/shared/reference/catalogs.md; hardware_catalog/README.md, the v6e rows), a placeholder, not a price
TPU_V6E_PLACEHOLDER = 700.0


def _slice_price(name: str, x: float | None) -> float | None:
    """A TPU slice row's price, or None where it is none: empty, 0 (SkyPilot's "no price here") or the v6e
    placeholder ``TPU_V6E_PLACEHOLDER``."""
    if not x or (name.lower().startswith("tpu-v6e") and x == TPU_V6E_PLACEHOLDER):
        return None
    return x


def _tpu_slices(slices: dict, instances: dict[str, dict], by_name: dict[str, str], origin: str):
    """``(overrides, notes)`` of GCP's TPU slice rows (``price_overrides``): each catalog TPU instance named like a
    slice (``tpu-v6e-8``) at the lowest ``Price`` and ``SpotPrice`` of the rows in its catalog region; the slices the
    catalog has no instance for, or no priced row in its region, named in a note each."""
    out, no_region, no_price = [], [], []
    names = sorted({n for n, _ in slices})
    unknown = [n for n in names if n not in by_name]
    for n in names:
        if n not in by_name:
            continue
        inst = instances[by_name[n]]
        region = str(inst.get("region") or "").strip()
        here = slices.get((n, region))
        if not here:
            no_region.append(f"{n} ({region or 'no region'})")
            continue
        ods = [od for od, _ in here if od is not None]
        sps = [sp for _, sp in here if sp is not None]
        if not ods:
            no_price.append(n)
            continue
        out.append((by_name[n], {"cloud": inst["cloud"], "name": inst["name"], "price_ondemand_usd_hr": f"{min(ods):.10g}",
                                 "price_spot_usd_hr": f"{min(sps):.10g}" if sps else "",
                                 "price_date": f"unknown: SkyPilot catalog {origin} (the file holds no snapshot date)"}))
    notes = []
    if unknown:
        notes.append(f"{origin}: SkyPilot catalog: {_count(len(unknown), 'TPU slice')} not in the catalog, not read: "
                     f"{_names(unknown)} (add them as instances: rows, gpu_count the slice's chips, to plan on them)")
    if no_region:
        notes.append(f"{origin}: SkyPilot catalog: no row in the catalog region of TPU slice {_names(no_region)}: "
                     "not repriced")
    if no_price:
        notes.append(f"{origin}: SkyPilot catalog: no on-demand Price (0, empty or the v6e placeholder 700) for TPU "
                     f"slice {_names(no_price)} in its region: not repriced")
    return out, notes
