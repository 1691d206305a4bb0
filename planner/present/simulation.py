"""Presenting a SimResult: a rich renderable for the CLI, JSON, and the timeline as CSV/JSON."""
from __future__ import annotations

import csv
import io
import json

from planner.model.offload import HOST_RAM_USABLE
from planner.simulate.engine import BUSY, CAUSES, TIMELINE_FIELDS, SimResult
from planner.units import count_of, fmt_given, fmt_goodput, fmt_sig, fmt_step_share, fmt_time, ordinal

#: an idle cause under this share of the wall is floating-point residue of the critical-path sums, not time
RESIDUE = 1e-9


def timeline_text(result: SimResult, fmt: str = "csv") -> str:
    """The timeline (rank, resource, kind, start, end) as CSV text, or JSON when ``fmt == 'json'``.
    Rank -1 marks job-wide events (DP reduce, optimizer, eval, checkpoint, failure)."""
    rows = result.timeline or []
    if fmt == "json":
        return json.dumps([dict(zip(TIMELINE_FIELDS, r)) for r in rows])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TIMELINE_FIELDS)
    w.writerows(rows)
    return buf.getvalue()


#: causes that are neither training nor an idle GPU: an evaluation pass runs forward passes, which the "GPU busy" share
#: counts (engine: ``busy_gpu_s``), so its row read "eval (idle)" under "GPU busy 99.8%" beside 95.8% of compute
_CAUSE_NOTE = {"eval": " ({device} busy, not training)"}


def format_result(result: SimResult, device: str = "GPU"):
    """A rich renderable: headline numbers and the time split by cause (critical path); ``device``: what the
    plan calls one accelerator (``units.device_of``: "chip" on a TPU, whose run read "GPU busy")."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    st = result.step_time_s
    head = Table(title="simulated training", show_header=False, box=None)
    head.add_column(justify="right", style="bold")
    head.add_column()
    head.add_row("steps", f"{result.steps:,}" + (f" ({result.simulated_steps:,} simulated, rest "
                                                  "extrapolated from steady state)" if result.extrapolated else ""))
    head.add_row("step time", f"mean {fmt_sig(st['mean'], 4)} s   p50 {fmt_sig(st['p50'], 4)} s   p99 {fmt_sig(st['p99'], 4)} s"
                 # the step recommend's re-ranking quotes (``steady_step_time_s``), which differed from the mean unexplained
                 + (f"   steady state {fmt_sig(result.steady_step_time_s, 4)} s" if result.steady_step_time_s else ""))
    if result.analytic_step_time_s:
        head.add_row("analytic step", f"{fmt_sig(result.analytic_step_time_s, 4)} s")
        copies = host_copy_line(result.data)
        if copies:
            head.add_row("host copies", copies)
    # four significant figures, as the step times, for both rates: one decimal printed a QLoRA run's 0.488 samples/s as
    # "0.5", and a whole number "0 tokens/s" beside "1.447e-11 samples/s" (QA 39b)
    tok = (f"   {fmt_sig(result.tokens_per_s, 4)} tokens/s"
           if result.tokens_per_s is not None and result.tokens_per_s != result.samples_per_s else "")
    head.add_row("throughput", f"{fmt_sig(result.samples_per_s, 4)} samples/s{tok}")
    head.add_row(f"{device} busy", f"{result.gpu_busy_share:.1%}")
    head.add_row("goodput", fmt_goodput(result.goodput) + (f"  ({count_of(result.failures, 'failure')}, "
                                                        f"{count_of(result.lost_steps, 'step')} redone)" if result.failures else ""))
    head.add_row("wall", fmt_time(result.wall_s))  # "1.27e+04 h" for 1e8 steps; "0.000488 h" for one
    title = "where the time goes (critical path)"
    t = Table(title=title, min_width=len(title))  # a narrow table wrapped its own title ("(critical\n path)")
    t.add_column("cause")
    t.add_column("seconds", justify="right")
    t.add_column("share", justify="right")
    for k in CAUSES:
        v = result.time_by_cause_s.get(k, 0.0)
        # an idle cause only where it took time: the critical-path sums leave rounding residue (a 7e-12 s
        # "bubble" at PP 1, 6e-11 s of "data" without a data section printed as "0.0  0.0%" rows)
        if v > RESIDUE * result.wall_s or k in BUSY:
            # four significant figures, as estimate's "where the step goes": a short run printed "0.2" and "0.0" s
            t.add_row(k + _CAUSE_NOTE.get(k, "" if k in BUSY else " (idle)").format(device=device), fmt_sig(v, 4),
                      fmt_step_share(v / result.wall_s))
    parts = [head, t]
    for n in result.notes:
        parts.append(Text(n, style="dim"))
    parts.append(Text(f"{result.events:,} events in {result.runtime_s:.2f} s, seed {result.seed}", style="dim"))
    return Group(*parts)


def _sig3(x: float) -> str:
    """Three significant figures, written out: a 50,000 h MTBF read "5e+04 h" in the Young/Daly formula (".3g")."""
    return fmt_given(float(f"{x:.3g}"))


def _gb(x):
    """Bytes in GB, 3 significant figures below 100 GB ("0 GB" for an empty cache, "?" unknown)."""
    if x is None:
        return "?"
    return f"{x / 1e9:,.0f} GB" if x >= 100e9 else f"{fmt_sig(x / 1e9)} GB"


def format_answers(ans: dict):
    """Rich renderables, one short paragraph (or table) per answered question."""
    from rich.table import Table
    from rich.text import Text

    parts = []
    w = ans.get("workers")
    if w:
        if w["workers_needed"] is not None:
            line = (f"loader workers: {w['workers_needed']} per data-parallel replica "
                    f"({w['vcpus_per_gpu']:g} vCPUs per GPU incl. the training process) let the GPU bind "
                    f"({fmt_sig(w['gpu_bound_samples_per_s'])} samples/s); configured: {w['current_workers']}; "
                    f"first-order estimate (batch build time, storage reads + decode, / GPU time per batch): {w['first_order_workers']}")
            have = w.get("current_vcpus_per_gpu")
            if have and w["vcpus_per_gpu"] > have:
                line += (f" — more than the {have:g} vCPUs per GPU this machine has: cache decoded samples, "
                         "decode on the GPU (DALI/nvJPEG), or pick an instance with more vCPUs per GPU")
        elif w["bound"] == "cpu" and w["rows"]:
            # still climbing at the grid's largest count: more workers would help, just more than the grid has
            last = w["rows"][-1]
            line = (f"loader workers: even {last['workers']} per replica do not let the GPU bind — they reach "
                    f"{fmt_sig(last['samples_per_s'])} samples/s ({last['share_of_gpu_bound']:.0%} of the "
                    f"{fmt_sig(w['gpu_bound_samples_per_s'])} the GPUs take); first-order estimate (batch build time, storage reads + decode, / "
                    f"GPU time per batch): {w['first_order_workers']} per replica; configured: {w['current_workers']} "
                    "— cache decoded samples, decode on the GPU (DALI/nvJPEG) or make the per-sample CPU work cheaper")
            if w.get("note"):  # the grid was not scanned: the CPU ceiling settled it (answers.workers_needed)
                line += f" ({w['note']})"
        elif w["bound"] == "shards":  # fewer shards than workers: the extra workers idle (answers.workers_needed)
            top = max(w["rows"], key=lambda r: r["samples_per_s"])
            line = (f"loader workers: more workers stop helping beyond {w['workers_reading']} per replica — the shard "
                    f"count binds: {w['shards_total']:,} shards over {w['dp']} data-parallel replicas give each replica's "
                    f"loader {w['workers_reading']} workers with a shard to read ({fmt_sig(top['samples_per_s'])} samples/s, "
                    f"{top['share_of_gpu_bound']:.0%} of what the GPUs take); smaller shards let more workers read")
        else:
            top = max((r["samples_per_s"] for r in w["rows"]), default=0.0)
            last = next((r for r in w["rows"] if r["samples_per_s"] >= 0.99 * top), {})
            line = (f"loader workers: more workers stop helping beyond {last.get('workers')} per replica — "
                    f"the {w['bound']} binds at {fmt_sig(last.get('samples_per_s', 0))} samples/s "
                    f"({last.get('share_of_gpu_bound', 0):.0%} of what the GPUs take); fix the data path "
                    f"(shards, cache, filtering) — more GPUs add cost, not throughput")
        parts.append(Text(line))
        t = Table(title="workers per replica (each on its own vCPU)", box=None)
        for c in ("workers", "samples/s", "of GPU-bound", "data wait", "storage requests/s"):
            t.add_column(c, justify="right")
        for r in w["rows"]:
            mark = " (configured)" if r["workers"] == w.get("current_workers") else ""
            t.add_row(f"{r['workers']}{mark}", f"{fmt_sig(r['samples_per_s'])}", f"{r['share_of_gpu_bound']:.0%}",
                      f"{r['data_wait_share']:.0%}", f"{fmt_sig(r['requests_per_s'])}")
        parts.append(t)
    c = ans.get("cache")
    if c and c.get("rows"):
        base = c["rows"][0]["samples_per_s"]
        # a cache of unknown size has no RAM figure: "(? of host RAM per node)" until QA 50
        bits = [f"{r['variant']}: {r['samples_per_s'] / base:.2f}x"
                + (f" ({_gb(r['cache_bytes'])} of host RAM per node)" if r["cache_bytes"] is not None else "")
                for r in c["rows"][1:]]
        verdict = "worth it" if c["worth_it"] else "not worth it (< 5% faster)"
        line = f"caching: {verdict} — " + "; ".join(bits)
        if c.get("raw_dataset_bytes") is None:  # the variants cached the whole dataset, whatever its size
            line += (" (dataset size unknown: each cache is taken to hold the whole dataset, never checked against the "
                     "node's RAM; data.dataset_samples sizes the caches against it)")
        if c.get("cache_ram_bytes"):  # what the caches were sized against, and where the figure comes from
            line += (f". RAM for a cache: {_gb(c['cache_ram_bytes'])} per node ({HOST_RAM_USABLE:.0%} of the node's; "
                     f"RAM of {c['cache_ram_source']})")
            if c.get("configured_fits") is False:
                line += f"; the configured cache ({_gb(c['rows'][0]['cache_bytes'])}) is larger: simulated as given"
        parts.append(Text(line))
    sh = ans.get("shards")
    if sh and sh.get("rows"):
        t = Table(title="storage format", box=None)
        for col in ("format", "samples/s", "data wait", "requests/s"):
            t.add_column(col, justify="right")
        for r in sh["rows"]:
            mark = " (configured)" if "configured_shard_mb" in sh and r["shard_mb"] == sh["configured_shard_mb"] else ""
            t.add_row(r["variant"] + mark, f"{fmt_sig(r['samples_per_s'])}", f"{r['data_wait_share']:.0%}",
                      f"{fmt_sig(r['requests_per_s'])}")
        parts.append(t)
        tol = sh.get("tolerance", 0.02)
        if sh["best_shard_mb"] is None:  # individual files within tolerance of the fastest format
            parts.append(Text(f"shards: individual files are within {tol:.0%} of the best throughput; sharding "
                              "does not speed this job up"))
        else:
            parts.append(Text(f"shards: {sh['best_shard_mb']:g} MB is the smallest shard size within {tol:.0%} of the best "
                              f"throughput; individual files reach {sh['files_vs_best']:.0%} of it"))
    e = ans.get("evaluation")
    if e and not e.get("rows") and e.get("note"):  # the tier cycle was too long to simulate: it was dropped unsaid
        parts.append(Text(f"evaluation: {e['eval_share']:.1%} of wall time; tiered evaluation: {e['note']}"
                          if "eval_share" in e else f"evaluation: {e['note']}"))
    if e and e.get("rows"):
        parts.append(Text(
            f"evaluation: {e['eval_share']:.1%} of wall time (every {e['every_steps']:,} steps, full set); "
            f"a stratified {e['subset_fraction']:.0%} holdout with the full set every {ordinal(e['full_every'])} "
            f"evaluation: {e['eval_share_tiered']:.1%} "
            f"— saves {e['wall_saving_share']:.1%} of wall time"))
    k = ans.get("checkpoint")
    if k and k.get("rows"):
        line = (f"checkpoint interval: every {k['best_interval_steps']:,} steps ({fmt_time(k['best_interval_s'])}) "
                f"maximises goodput ({fmt_goodput(k['best_goodput'])}); Young/Daly sqrt(2 x {_sig3(k['checkpoint_block_s'])} s x "
                f"{_sig3(k['mtbf_s'] / 3600)} h) = {k['young_daly_interval_steps']:,} steps ({fmt_goodput(k['goodput_at_young_daly'])})")
        if "current_interval_steps" in k:
            line += f"; configured every {k['current_interval_steps']:,}: {fmt_goodput(k['goodput_at_current'])}"
        # these are expectations over a long run of failures; the goodput at the top is the one simulated draw (a
        # few steps may see no failure: 63% there beside 55.8% here read as a contradiction)
        line += " (long-run expected goodput; the simulated run above is one short draw of failures)"
        parts.append(Text(line))
    # what each answer simulated (answers._ran; the checkpoint sweep's closed form): its length follows the question
    ran = [(name, (ans.get(key) or {}).get("simulated")) for name, key in
           (("loader workers", "workers"), ("caching", "cache"), ("shard size", "shards"),
            ("evaluation", "evaluation"), ("checkpoint interval", "checkpoint"))]
    ran = [(name, d["words"]) for name, d in ran if d and d.get("words")]
    if ran:
        parts.append(Text("simulated: " + "; ".join(f"{name}: {words}" for name, words in ran), style="dim"))
    bound = (ans.get("bound") or {}).get("words")
    if bound:  # the answers' work bound grouped their micro-batches or left questions out (workloads.simulation)
        parts.append(Text(f"bounded: {bound}", style="dim"))
    return parts


def host_copy_line(data: dict) -> str:
    """The host copies a simulated step holds that the analytic step leaves out (engine ``h2d_s_per_step`` /
    ``pin_s_per_step``, each at its assumed bandwidth, simulate.config ``H2D_BW`` / ``PIN_BW``); empty where the
    samples copy no bytes to the device."""
    h2d, pin = data.get("h2d_s_per_step"), data.get("pin_s_per_step")
    if not (h2d or pin):
        return ""
    parts = []
    if h2d:
        parts.append(f"H2D {fmt_sig(h2d, 3)} s a step ({data['h2d_Bps'] / 1e9:g} GB/s assumed)")
    if pin:
        parts.append(f"pinned staging {fmt_sig(pin, 3)} s ({data['pin_Bps'] / 1e9:g} GB/s, one thread; hidden while "
                     f"the loaders run ahead)")
    return "; ".join(parts) + "; not in the analytic step"
