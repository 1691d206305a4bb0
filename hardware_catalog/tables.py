"""Rich tables for ``planner catalog gpus|instances [--cloud X]``: units a person reads."""
from __future__ import annotations

from rich.table import Table

from hardware_catalog.catalog import DEFAULT_NETWORK_GBPS, GB, GIB, TB, TERA, Catalog


def _num(x, fmt: str = "{:,.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _net(i) -> str:
    """Sourced Gb/s, or the default marked with '*' (see the table caption)."""
    if i.network_bw is not None:
        return _num(i.network_bw * 8 / 1e9)
    return f"{DEFAULT_NETWORK_GBPS:,.0f}*" if i.cluster else "-"


def format_gpus_table(cat: Catalog) -> Table:
    t = Table(title=f"GPUs ({len(cat.gpus)}) - dense peaks", show_lines=False)
    # the names are what people copy into cluster.gpu / constraints.gpus: never cut ("B200-SXM-180…" was),
    # nor the numbers; the form factor, a note, is the column that gives way
    t.add_column("name", justify="left", no_wrap=True, min_width=max((len(g.name) for g in cat.gpus.values()), default=4))
    for col, just in [("vendor", "left"), ("mem\nGiB", "right"), ("HBM\nTB/s", "right"),
                      ("BF16\nTFLOP/s", "right"), ("FP8\nTFLOP/s", "right"), ("FP32\nTFLOP/s", "right"),
                      ("intra-node\nGB/s/dir", "right"), ("link", "left"), ("power\nW", "right")]:
        t.add_column(col, justify=just, no_wrap=True)
    t.add_column("form factor", justify="left")  # the only wrapping column: the first to give way
    for g in sorted(cat.gpus.values(), key=lambda g: (g.vendor, g.name)):
        pf = g.peak_flops
        t.add_row(g.name, g.vendor, _num(g.memory_bytes / GIB, "{:,.1f}"), _num(g.hbm_bw / TB, "{:.2f}"),
                  _num(pf.get("bf16", None) and pf["bf16"] / TERA),
                  _num(pf.get("fp8", None) and pf["fp8"] / TERA),
                  _num(pf.get("fp32", None) and pf["fp32"] / TERA, "{:,.1f}"),
                  _num(g.intra_node_bw and g.intra_node_bw / GB), g.intra_node_link, _num(g.power_limit_w),
                  _clip(g.form_factor or "-", 24))
    return t


def format_instances_table(cat: Catalog, cloud: str | None = None) -> Table:
    rows = sorted((i for i in cat.instances.values() if not cloud or i.cloud == cloud.lower()),
                  key=lambda i: (i.cloud, i.gpu is None, i.gpu.name if i.gpu else "", i.gpu_count, i.price_ondemand))
    t = Table(title=f"Instances ({len(rows)}){' on ' + cloud if cloud else ''} - USD per node-hour",
              caption=f"net Gb/s per node; * = not published, the catalog default ({DEFAULT_NETWORK_GBPS:g} Gb/s) is assumed. "
                      "cluster = can form a multi-node training cluster over its fabric (? = fabric not stated)")
    key_width = max((len(i.key) for i in rows), default=8)
    gpu_width = max((len(i.gpu.name) for i in rows if i.gpu), default=5)
    t.add_column("instance", justify="left", no_wrap=True, min_width=key_width)  # the names are what people copy
    t.add_column("GPU", justify="left", no_wrap=True, min_width=gpu_width)
    for col, just in [("#", "right"), ("vCPU", "right"), ("RAM GiB", "right"),
                      ("net Gb/s", "right"), ("fabric", "left"), ("cluster", "left"),
                      ("$/h on-demand", "right"), ("$/h spot", "right"),
                      ("$/GPU-h", "right"), ("region", "left"), ("price date", "left")]:
        t.add_column(col, justify=just)
    for i in rows:
        per_gpu = i.price_ondemand / i.gpu_count if i.gpu_count else None
        t.add_row(i.key, i.gpu.name if i.gpu else "(CPU)", _num(i.gpu_count, "{:g}"), _num(i.vcpus, "{:g}"),
                  _num(i.ram_bytes and i.ram_bytes / GIB), _net(i), i.fabric or "?", "yes" if i.cluster else "no",
                  _num(i.price_ondemand, "{:,.2f}"), _num(i.price_spot, "{:,.2f}"), _num(per_gpu, "{:,.2f}"),
                  i.region, (i.price_date or "-").split(":")[0])
    return t


def format_systems_table(cat: Catalog) -> Table:
    """The reference systems (``data/systems.csv``): what a bare-GPU cluster's node is taken to be for a GPU
    no priced clustered instance row carries (planner.hardware.options ``reference_network``)."""
    t = Table(title="reference systems (no price: a bare cluster's node where the job does not say)")
    t.add_column("system", justify="left", no_wrap=True, min_width=max((len(s.key) for s in cat.systems.values()), default=6))
    for c in ("gpu", "GPUs", "RAM GiB", "network Gb/s", "fabric", "source"):
        t.add_column(c, justify="right" if c in ("GPUs", "RAM GiB", "network Gb/s") else "left")
    for s in cat.systems.values():
        t.add_row(s.key, s.gpu.name, str(s.gpu_count), _num(s.ram_bytes and s.ram_bytes / GIB),
                  f"{s.network_bw * 8 / 1e9:,.0f}", s.fabric, s.source[:60])
    return t


def format_links_table(cat: Catalog) -> Table:
    """The named interconnects (``data/interconnects.csv``): bandwidth per direction and the
    per-message latency assumed for them, with their sources."""
    t = Table(title="interconnects (per GPU or per node, each direction)")
    for c in ("link", "kind", "Gb/s", "GB/s", "latency µs", "source"):
        t.add_column(c, justify="right" if c in ("Gb/s", "GB/s", "latency µs") else "left")
    for name, r in cat.interconnects.items():
        t.add_row(name, r.get("kind", ""), r.get("gbps_per_dir", ""), r.get("gbytes_per_dir", ""),
                  r.get("latency_us", ""), (r.get("source") or "")[:60])
    return t
