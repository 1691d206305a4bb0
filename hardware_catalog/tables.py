"""Rich tables for ``planner catalog gpus|instances [--cloud X]``: units a person reads."""
from __future__ import annotations

from rich.table import Table

from hardware_catalog.catalog import DEFAULT_NETWORK_GBPS, GB, GIB, TB, TERA, Catalog, price_date_short
from hardware_catalog.price_checks import CHECKS, price_flags
from hardware_catalog.skypilot import SPOT_RATE_RULE


#: characters a rich table with its default box adds per column (a rule and a space each side) and once
#: (the closing rule): ``table_width``
RULE_PER_COLUMN, RULE_PER_TABLE = 3, 1


def column_width(header: str, cells) -> int:
    """Characters a column takes with every cell whole: its longest header line or cell.

    >>> column_width("GPU", ["H100-SXM-80GB", "A10G-24GB"])
    13
    """
    return max([len(x) for x in header.split("\n")] + [len(c) for c in cells])


def table_width(widths) -> int:
    """A rich table's width on screen from its columns' widths (``column_width``): the catalog's, serving's and
    the campaign's tables ask it whether they fit the terminal.

    >>> table_width([9, 5])
    21
    """
    widths = list(widths)
    return sum(widths) + RULE_PER_COLUMN * len(widths) + RULE_PER_TABLE


def _num(x, fmt: str = "{:,.0f}") -> str:
    return "-" if x is None else fmt.format(x)


#: a source in a table is cut to this many characters, ending in "…" where it goes on (it was cut silently,
#: mid-word: "(via /work/shared/reference/gp"); ``--csv`` has it whole
SOURCE_CHARS = 60


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _net(i) -> str:
    """Sourced Gb/s, or the default marked with '*' (see the table caption)."""
    if i.network_bw is not None:
        return _num(i.network_bw * 8 / 1e9)
    return f"{DEFAULT_NETWORK_GBPS:,.0f}*" if i.cluster else "-"


def _fit(cols: list[tuple], rows: list[list[str]], width: int | None, drop_order: tuple[str, ...]) -> tuple[list[int], list[str]]:
    """Which columns to show on a ``width``-character terminal: all of them where they fit (every cell whole,
    headers at their longest line, 3 characters of rule and padding a column), else the ``drop_order``
    ones left out in turn until they do (a 100-column terminal printed "…" in every cell of ``catalog
    instances`` but the name and GPU). A column marked to give way wraps at its spaces, so it needs only its longest
    word (rich's own minimum): counted at its longest cell, ``catalog onprem`` left its ``unit`` column out at 100
    columns on a 70-column table (QA 99). Returns the kept column indices and the names left out."""
    keep = list(range(len(cols)))
    if width is None:
        return keep, []

    def cells(j: int) -> list[str]:
        gives_way = len(cols[j]) > 2 and cols[j][2]
        return [w for r in rows for w in r[j].split()] if gives_way else [r[j] for r in rows]

    def need() -> int:
        return table_width(column_width(cols[j][0], cells(j)) for j in keep)

    names = [c[0] for c in cols]
    dropped = []
    for name in drop_order:
        if need() <= width:
            break
        keep.remove(names.index(name))
        dropped.append(name.replace("\n", " "))
    return keep, dropped


def _table(title: str, caption: str | None, cols: list[tuple], rows: list[list[str]], width: int | None,
           drop_order: tuple[str, ...]) -> Table:
    """A catalog table of ``cols`` (header, justify[, gives way]) with the columns ``_fit`` keeps; the caption names
    any left out (``--csv`` has them all). Cells stay on one line (names are what people copy: never cut), but
    for a column marked to give way, which wraps."""
    keep, dropped = _fit(cols, rows, width, drop_order)
    if dropped:
        caption = ((caption + " ") if caption else "") + (f"Left out at {width} columns: {', '.join(dropped)} "
                                                          "(a wider terminal or --csv shows every column).")
    t = Table(title=title, caption=caption)
    for j in keep:  # one line a row: only a column marked to give way (a note such as the form factor) wraps
        gives_way = len(cols[j]) > 2 and cols[j][2]
        t.add_column(cols[j][0], justify=cols[j][1], no_wrap=not gives_way, overflow="fold" if gives_way else "ellipsis")
    for r in rows:
        t.add_row(*(r[j] for j in keep))
    return t


def _sixteen_bit(pf: dict) -> str:
    """The BF16 column: the bf16 peak, or a part's fp16 one marked as such where it has no bf16 (V100, T4:
    "125 (FP16)"; the column showed "-", as if they had no tensor-core peak at all)."""
    if pf.get("bf16"):
        return _num(pf["bf16"] / TERA)
    return f"{_num(pf['fp16'] / TERA)} (FP16)" if pf.get("fp16") else "-"


def _fp8(g, derive) -> str:
    """The FP8 column: the row's fp8 peak, or the one the planner derives for a part whose row leaves it
    empty (``derive(g)``: H100 96 GB's 2x BF16), marked as derived -- the column showed "-" while its FP8
    plans ran at 1,600."""
    if g.peak_flops.get("fp8"):
        return _num(g.peak_flops["fp8"] / TERA)
    d = derive(g) if derive else None
    return f"{_num(d / TERA)} (2x BF16)" if d else "-"


def format_gpus_table(cat: Catalog, width: int | None = None, derive_fp8=None) -> Table:
    """The ``catalog gpus`` table. ``derive_fp8(gpu)`` gives the FP8 peak plans use where the row has none
    (None: the part has no FP8), so the table shows what the planner computes with."""
    # the names are what people copy into cluster.gpu / constraints.gpus: never cut ("B200-SXM-180…" was),
    # nor the numbers; on a narrow terminal the form factor, the link, the power and the vendor give way first
    cols = [("name", "left"), ("vendor", "left"), ("mem\nGiB", "right"), ("HBM\nTB/s", "right"),
            ("BF16\nTFLOP/s", "right"), ("FP8\nTFLOP/s", "right"), ("FP32\nTFLOP/s", "right"),
            ("intra-node\nGB/s/dir", "right"), ("link", "left"), ("power\nW", "right"), ("form factor", "left", True)]
    rows = []
    for g in sorted(cat.gpus.values(), key=lambda g: (g.vendor, g.name)):
        pf = g.peak_flops
        rows.append([g.name, g.vendor, _num(g.memory_bytes / GIB, "{:,.1f}"), _num(g.hbm_bw / TB, "{:.2f}"),
                     _sixteen_bit(pf),
                     _fp8(g, derive_fp8),
                     _num(pf.get("fp32", None) and pf["fp32"] / TERA, "{:,.1f}"),
                     # the PCIe fallback where the row states no link rate, said as such (the CSV leaves it empty)
                     _num(g.intra_node_bw and g.intra_node_bw / GB) + ("" if g.intra_node_stated or not g.intra_node_bw else " (PCIe)"),
                     g.intra_node_link, _num(g.power_limit_w),
                     _clip(g.form_factor or "-", 24)])
    return _table(f"GPUs ({len(cat.gpus)}) - dense peaks", None, cols, rows, width,
                  ("form factor", "link", "power\nW", "vendor", "FP32\nTFLOP/s"))


def format_instances_table(cat: Catalog, cloud: str | None = None, width: int | None = None, noun=None) -> Table:
    """The ``catalog instances`` table. ``noun(gpu)`` is what one accelerator is called ("GPU", "chip" for a TPU
    or Trainium: ``planner.hardware.platform.device_noun``, passed in as the catalog does not import the planner;
    None: "GPU"); the per-accelerator price column is headed with the nouns of the rows shown ("$/chip-h" on
    TPUs alone, "$/GPU-h or chip-h" on two lines on a mixed table; it read "$/GPU-h" over TPU and Trainium rows)."""
    rows = sorted((i for i in cat.instances.values() if not cloud or i.cloud == cloud.lower()),
                  key=lambda i: (i.cloud, i.gpu is None, i.gpu.name if i.gpu else "", i.gpu_count, i.price_ondemand))
    nouns = list(dict.fromkeys((noun(i.gpu) if noun else "GPU") for i in rows if i.gpu is not None)) or ["GPU"]
    nouns.sort(key=lambda n: n != "GPU")
    per = "$/" + "\nor ".join(f"{n}-h" for n in nouns)
    # the names are what people copy (never cut); on a narrow terminal the price date, the region, the
    # fabric, the per-accelerator price, RAM, vCPUs and (with the TPU slices' 25,600 Gb/s DCN) the cluster flag give
    # way first
    cols = [("instance", "left"), ("GPU", "left"), ("#", "right"), ("vCPU", "right"), ("RAM\nGiB", "right"),
            ("net\nGb/s", "right"), ("fabric", "left"), ("cluster", "left"), ("$/h\non-demand", "right"),
            ("$/h\nspot", "right"), (per, "right"), ("region", "left"), ("price date", "left")]
    # a rate outside the price checks is marked where it is read (prices48: p6-b300's spot, 0.112 of on-demand from
    # one zone's reading, sat in the table as plainly as a rate read in four zones)
    flagged = {(f.key, f.column) for f in price_flags(cat)}

    def rate(i, column: str, value) -> str:
        return _num(value, "{:,.2f}") + (" !" if (i.key, column) in flagged else "")

    cells = []
    for i in rows:
        per_gpu = i.price_ondemand / i.gpu_count if i.gpu_count else None
        cells.append([i.key, i.gpu.name if i.gpu else "(CPU)", _num(i.gpu_count, "{:g}"), _num(i.vcpus, "{:g}"),
                      _num(i.ram_bytes and i.ram_bytes / GIB), _net(i), i.fabric or "?", "yes" if i.cluster else "no",
                      rate(i, "price_ondemand_usd_hr", i.price_ondemand), rate(i, "price_spot_usd_hr", i.price_spot),
                      _num(per_gpu, "{:,.2f}"), i.region, price_date_short(i.price_date)])
    marked = any((i.key, c) in flagged for i in rows for c in ("price_ondemand_usd_hr", "price_spot_usd_hr"))
    return _table(f"Instances ({len(rows)}){' on ' + cloud if cloud else ''} - USD per node-hour",
                  f"net Gb/s per node; * = not published, the catalog default ({DEFAULT_NETWORK_GBPS:g} Gb/s) is assumed; "
                  "- = not published and not a cluster node. "
                  "cluster = can form a multi-node training cluster over its fabric (? = fabric not stated)."
                  + (f" spot = {SPOT_RATE_RULE}." if any(i.price_spot for i in rows) else "")
                  + (f" ! = outside the price checks ({CHECKS['spot-ratio']}; {CHECKS['per-gpu']}): the row's "
                     "price_check (--csv) says why it is kept." if marked else ""),
                  cols, cells, width, ("price date", "region", "fabric", per, "RAM\nGiB", "vCPU", "cluster"))


def format_systems_table(cat: Catalog, width: int | None = None) -> Table:
    """The reference systems (``data/systems.csv``): what a bare-GPU cluster's node is taken to be for a GPU
    no priced clustered instance row carries (planner.hardware.options ``reference_network``)."""
    cols = [("system", "left"), ("gpu", "left"), ("GPUs", "right"), ("RAM GiB", "right"), ("network Gb/s", "right"),
            ("fabric", "left"), ("$/h (provider, date)", "left"), ("source", "left", True)]
    rows = [[s.key, s.gpu.name, str(s.gpu_count), _num(s.ram_bytes and s.ram_bytes / GIB),
             f"{s.network_bw * 8 / 1e9:,.0f}", s.fabric, _system_rates(s), _clip(s.source, SOURCE_CHARS)]
            for s in cat.systems.values()]
    return _table("reference systems (a bare cluster's node where the job does not say; priced where a provider's rate "
                  "for the whole system is known, cheapest first: no spot or reserved rate is sourced)", None, cols, rows,
                  width, ("source", "fabric", "RAM GiB", "network Gb/s"))


def _system_rates(system) -> str:
    """A reference system's cheapest provider rate and how many others ("756 coreweave 2026-09-20 +2"), or "-"."""
    q = system.quote
    if q is None:
        return "-"
    more = len(system.prices) - 1
    return f"{q.price:,.0f} {q.provider} {q.price_date.split(' (')[0] or 'undated'}" + (f" +{more}" if more else "")


def format_commitments_table(cat: Catalog, width: int | None = None) -> Table:
    """The commitment terms (``data/commitments.csv``: 1-/3-year reserved or committed-use prices, AWS EC2 Capacity
    Blocks) with the instance's on-demand price and the term's price against it: the prices a plan's cost per term
    is read at (planner.model.cost ``committed_costs``)."""
    cols = [("instance", "left"), ("term", "left"), ("payment", "left", True), ("$/h\nterm", "right"),
            ("$/h\non-demand", "right"), ("vs\non-demand", "right"), ("region", "left"), ("price date", "left"),
            ("source", "left", True)]
    rows = []
    for c in sorted(cat.commitments, key=lambda c: (c.instance_key, c.term, c.price)):
        inst = cat.instances.get(c.instance_key)
        od = inst.price_ondemand if inst is not None else None
        # a term quoted in another region than the catalog's on-demand rate: the difference is across regions
        other = bool(od and c.region and inst.region and c.region != inst.region)
        rows.append([c.instance_key, c.term, c.payment or "-", _num(c.price, "{:,.2f}"), _num(od, "{:,.2f}"),
                     (f"{c.price / od - 1:+.0%}" + (" *" if other else "")) if od else "-", c.region or "-",
                     _clip(c.price_date or "-", 24), _clip(c.source, SOURCE_CHARS)])
    return _table(f"Commitments ({len(rows)}) - USD per node-hour", "vs on-demand: the term's price against the "
                  "instance's on-demand price in the catalog (their dates differ: see price date and --csv's notes; "
                  "* = the on-demand price is another region's, --csv's ondemand_region).",
                  cols, rows, width, ("source", "price date", "payment", "region"))


def format_onprem_table(cat: Catalog, width: int | None = None) -> Table:
    """The buy-vs-rent inputs (``data/onprem.csv``): server prices, power, PUE, hosting, amortisation, utilisation
    ..., each with its unit and whether it is sourced, derived or an assumption; a job's ``onprem:`` field or an
    override file's ``onprem:`` section replaces them."""
    cols = [("key", "left"), ("value", "right"), ("unit", "left", True), ("basis", "left"), ("price date", "left"),
            ("source", "left", True)]
    # a price row's date as the instance table shows it (the day, month or year; "unknown"; "-" for no price)
    rows = [[k, _thousands(r.get("value", "")), r.get("unit") or "-", r.get("basis") or "-",
             price_date_short(r.get("price_date")), _clip(r.get("source") or "", SOURCE_CHARS)]
            for k, r in cat.onprem.items()]
    return _table(f"On-prem (buy vs rent) inputs ({len(rows)})", "A job's onprem: field or a --catalog file's onprem: "
                  "section replaces a value; --csv has the notes and the price dates in full.", cols, rows, width,
                  # the unit last: "150" alone does not say USD per kW per month (QA 99)
                  ("source", "price date", "unit"))


def format_links_table(cat: Catalog) -> Table:
    """The named interconnects (``data/interconnects.csv``): bandwidth per direction and the
    per-message latency assumed for them, with their sources."""
    t = Table(title="interconnects (per GPU, per NIC or per node, each direction)")
    for c in ("link", "kind", "per", "Gb/s", "GB/s", "latency µs", "source"):
        t.add_column(c, justify="right" if c in ("Gb/s", "GB/s", "latency µs") else "left")
    for name, r in cat.interconnects.items():
        # thousands separated as in the other catalog tables ("2400" beside the instances' "3,200"); per: what the
        # rate is for (a GPU's link, one NIC, a node's aggregate), which cluster.fabric reads (options.stated_fabric)
        t.add_row(name, r.get("kind", ""), r.get("per", ""), _thousands(r.get("gbps_per_dir", "")),
                  _thousands(r.get("gbytes_per_dir", "")),
                  # an inter-node row without a sourced latency prices the comm model's prior (its latency_source says why)
                  r.get("latency_us") or ("prior" if r.get("kind") == "inter_node" else ""),
                  _clip(r.get("source") or "", SOURCE_CHARS))
    return t


def _thousands(cell) -> str:
    """A CSV number cell with thousands separators, as written otherwise ("12.5" stays); "" stays empty."""
    try:
        x = float(cell)
    except (TypeError, ValueError):
        return str(cell or "")
    return f"{int(x):,}" if x.is_integer() and abs(x) < 1e15 else str(cell)
