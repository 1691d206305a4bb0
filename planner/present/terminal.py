"""Terminal rendering (rich) of estimates and recommendations: tables a person can read."""
from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from planner.present.safe import esc
from planner.search.explain import LABELS

GiB = 2**30


def fmt_time(s: float | None) -> str:
    if s is None or s != s:
        return "-"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 120:
        return f"{s:.2f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def fmt_usd(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    if x >= 1e6:
        return f"${x / 1e6:.2f}M"
    if x >= 1e3:
        return f"${x / 1e3:.1f}k"
    return f"${x:.2f}"


def fmt_count(x: float) -> str:
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.0f}"


def config_str(cfg: dict) -> str:
    parts = [f"TP{cfg['tp']}", f"PP{cfg['pp']}", f"DP{cfg['dp']}"]
    if cfg.get("cp", 1) > 1:
        parts.append(f"CP{cfg['cp']}")
    if cfg.get("ep", 1) > 1:
        parts.append(f"EP{cfg['ep']}")
    if cfg.get("vpp", 1) > 1:
        parts.append(f"v{cfg['vpp']}")
    s = " ".join(parts) + f" z{cfg['zero']} mb{cfg['micro_batch']}"
    if cfg["recompute"] != "none":
        s += f" rc:{cfg['recompute'][:3]}"
    return s


def memory_table(res: dict) -> Table:
    mem = res["memory_per_gpu_bytes"]
    t = Table(title="memory per GPU", caption=f"most loaded rank: {mem['most_loaded_stage']} pipeline stage", show_edge=False)
    t.add_column("part")
    t.add_column("GiB", justify="right")
    for k in ("weights", "grads", "optimizer", "activations", "logits", "other"):
        t.add_row(k, f"{mem[k] / GiB:.2f}")
    t.add_row("[bold]total[/]", f"[bold]{mem['total'] / GiB:.2f}[/] of {mem['capacity'] / GiB:.0f}")
    return t


def breakdown_table(res: dict) -> Table:
    bd = res["breakdown_s"]
    step = res["step_time_s"]
    t = Table(title="where the step goes", show_edge=False)
    t.add_column("part")
    t.add_column("time", justify="right")
    t.add_column("share", justify="right")
    for k, label in LABELS.items():
        v = bd.get(k, 0.0)
        if v > 0:
            t.add_row(label, fmt_time(v), f"{v / step:.1%}")
    t.add_row("[bold]step[/]", f"[bold]{fmt_time(step)}[/]", "100%")
    return t


def summary_table(res: dict) -> Table:
    t = Table(show_header=False, show_edge=False, box=None)
    t.add_column(style="bold")
    t.add_column()
    hw = res["hardware"]
    cost = res["cost"]
    t.add_row("model", f"{esc(res['model'])}: {fmt_count(res['params'])} params"
              + (f" ({fmt_count(res['params_active'])} active)" if res["params_active"] != res["params"] else ""))
    t.add_row("hardware", f"{hw['nodes']} x {esc(hw['name'])} ({hw['gpus']} x {esc(hw['gpu'])})")
    t.add_row("layout", config_str(res["config"]))
    t.add_row("FLOPs/step", f"{res['flops_per_step']:.3e} model, {res['hw_flops_per_step']:.3e} hardware")
    t.add_row("step time", fmt_time(res["step_time_s"]))
    unit = res.get("throughput_unit", "tokens")
    t.add_row("throughput", f"{res['tokens_per_s']:,.0f} {unit}/s ({res['tokens_per_s_per_gpu']:,.0f} per GPU)")
    t.add_row("MFU / HFU", f"{res['mfu']:.1%} / {res['hfu']:.1%}")
    t.add_row("fits", ("[green]yes[/]" if res["fits"] else "[red]no[/]")
              + f" ({res['memory_per_gpu_bytes']['total'] / GiB:.1f} of {res['memory_per_gpu_bytes']['capacity'] / GiB:.0f} GiB)")
    t.add_row("time to train", f"{fmt_time(cost['hours'] * 3600)} ({cost['steps']:,.0f} steps, {fmt_count(cost['tokens'])} {unit})")
    t.add_row("cost", f"{fmt_usd(cost['cost_ondemand_usd'])} on-demand, {fmt_usd(cost['cost_spot_usd'])} spot, "
              f"{cost['gpu_hours']:,.0f} GPU-hours")
    if cost.get("buy"):
        b = cost["buy"]
        t.add_row("buy instead", f"{fmt_usd(b['run_cost_usd'])} for this run's hours on owned nodes "
                  f"(capex {fmt_usd(b['capex_usd'])}, {b['amortisation_years']:.0f}-year amortisation)")
    t.add_row("limits", esc(res.get("bottleneck", "")))
    return t


def render_estimate(con: Console, res: dict) -> None:
    con.print(Panel(summary_table(res), title="planner estimate", expand=False))
    con.print(Group(memory_table(res), breakdown_table(res)))
    for a in res.get("advice", []):
        con.print(f"[yellow]advice:[/] {esc(a)}")
    for a in res.get("assumptions", []):
        con.print(f"[dim]assumed: {esc(a)}[/]")
    inp = res.get("inputs")
    if inp:
        meas = ", ".join(inp["efficiencies_measured"]) or "none"
        con.print(f"[dim]inputs: peaks from {esc(inp['peaks'])}; measured efficiencies: {esc(meas)}; "
                  f"others {esc(inp['efficiencies_prior'])}[/]")


def render_recommendation(con: Console, res: dict, top: int) -> None:
    rows = res["ranked"][:top]
    unit = "tok" if rows and rows[0].get("throughput_unit", "tokens") == "tokens" else "samples"
    t = Table(title=f"top {len(rows)} of {res['feasible']:,} feasible configurations "
                    f"({res['evaluated']:,} evaluated in {res['search_seconds']:.2f} s) — objective: {res['objective']}")
    for col, j in (("#", "right"), ("hardware", "left"), ("nodes", "right"), ("layout", "left"),
                   ("step", "right"), ("MFU", "right"), ("mem GiB", "right"), ("time", "right"),
                   ("cost", "right"), (f"$/1M {unit}", "right")):
        t.add_column(col, justify=j)
    for i, r in enumerate(rows, 1):
        mem = r["memory_per_gpu_bytes"]
        cost = r["cost"]
        c = cost["cost_spot_usd"] if res.get("spot") else cost["cost_ondemand_usd"]
        t.add_row(str(i), esc(r["hardware"]["name"]), str(r["hardware"]["nodes"]), config_str(r["config"]),
                  fmt_time(r["step_time_s"]), f"{r['mfu']:.0%}",
                  f"{mem['total'] / GiB:.0f}/{mem['capacity'] / GiB:.0f}",
                  fmt_time(cost["hours"] * 3600), fmt_usd(c),
                  f"{cost['usd_per_million_tokens']:.2f}" if cost["usd_per_million_tokens"] else "-")
    con.print(t)
    best = res["best"]
    con.print(f"[bold green]recommended:[/] {best['hardware']['nodes']} x {esc(best['hardware']['name'])}, "
              f"{config_str(best['config'])} — {esc(res['why'])}")
    con.print(breakdown_table(best))
    con.print(f"[bold]limits:[/] {esc(best['bottleneck'])}")
    for a in best.get("advice", []):
        con.print(f"[yellow]advice:[/] {esc(a)}")
    for n in res.get("notes", []):
        con.print(f"[dim]note: {esc(n)}[/]")
    for a in res.get("assumptions", []):
        con.print(f"[dim]assumed: {esc(a)}[/]")
