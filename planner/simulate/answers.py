"""Answers to the input-pipeline and cadence questions, each by running the simulator.

Every function takes a ``SimConfig`` (``SimConfig.from_estimate(estimate_job(job), job)``), varies
one knob, simulates each variant and returns a plain dict (JSON-ready): the rows it simulated and
the answer. Questions (data_pipeline.md §4):

* ``workers_needed``   — how many loader workers / vCPUs per GPU until the GPU binds (§4.1);
* ``cache_worth_it``   — is caching raw or decoded samples in host RAM worth it (§4.3);
* ``best_shard_size``  — small files vs shards, and what shard size (§4.5);
* ``checkpoint_interval_sweep`` — the goodput-maximising checkpoint interval vs Young/Daly (§4.10);
* ``eval_tiering``     — evaluation's share of wall time, full set every K vs a small stratified
  holdout with an occasional full pass (issue #7 item 4).

Example::

    >>> from planner.simulate.config import LoaderConfig, PipelineConfig, SimConfig
    >>> cfg = SimConfig(PipelineConfig(t_fwd_mb=0.01, t_bwd_mb=0.02, micro_batch=32),
    ...                 loader=LoaderConfig(workers=1, decode_s=0.004, decode_cv=0.0))
    >>> workers_needed(cfg, steps=200)["workers_needed"]     # 32 x 4 ms = 128 ms per batch / 30 ms
    5
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

from planner.simulate.config import SimConfig
from planner.simulate.engine import simulate
from planner.simulate.resources import STORAGE_PROFILES
from planner.simulate.failures import expected_goodput, young_daly_interval_s
from planner.units import ordinal

WORKER_GRID = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128)
# workers_needed skips its grid scan when the CPU ceiling (below) leaves even the grid's largest count
# below target / CEILING_MARGIN: the margin covers the batch-time noise of a finite run (the simulated
# rate sits below the ceiling: storage reads, in-order delivery and the DP sync only add time), and the
# storage must be at least CEILING_MARGIN x faster than that CPU ceiling for "cpu" to be the binding side.
CEILING_MARGIN = 1.25
SHARD_MB_GRID = (1, 4, 16, 64, 256, 1024)
# Share of the per-sample CPU cost that is JPEG decode (the rest is crop/flip/normalise, which a
# decoded-sample cache still pays because random augmentation cannot be cached): Pillow decode
# alone 2.97-2.99 ms vs the full path 5.0-5.5 ms per image on one core (data_pipeline.md App. A.5 [M]).
DECODE_SHARE = 2.98 / 5.25
# Decoded samples are 5-7x larger than their JPEGs (Mohan et al. VLDB'21 §6.3 [V]; Plumber: 842 GB
# decoded vs 148 GB JPEG for ImageNet [V]).
DECODED_SIZE_FACTOR = 6.0
# eval_tiering simulates one whole tier cycle (every_steps x full_every steps); past this it is
# not simulated (the steady-state shortcut would still need the evaluations' DES steps)
MAX_TIER_STEPS = 10_000_000


def _rate(res) -> float:
    """Steady-state samples/s (after the loaders' warm-up) when the run was long enough."""
    return res.steady_samples_per_s or res.samples_per_s


def _wait(res) -> float:
    w = res.data.get("steady_data_wait_share")
    return res.data["data_wait_share"] if w is None else w


def _summary(res, label: Optional[str] = None, **extra) -> dict:
    d = {"samples_per_s": _rate(res), "step_time_s": res.steady_step_time_s or res.step_time_s["mean"],
         "data_wait_share": _wait(res), "gpu_busy_share": res.gpu_busy_share}
    if label is not None:
        d = {"variant": label, **d}
    d.update(extra)
    return d


def data_only(cfg: SimConfig) -> SimConfig:
    """The job without evaluation, checkpoints or failures: the input-pipeline questions are about
    steady-state training throughput (and the steady-state shortcut needs no failures)."""
    return replace(cfg, evaluation=replace(cfg.evaluation, every_steps=0),
                   checkpoint=replace(cfg.checkpoint, every_steps=0),
                   failures=replace(cfg.failures, mtbf_node_s=None))


def steps_for(steps: int, ld) -> int:
    """Long enough to leave three steady-state windows after the loaders' warm-up (the engine's
    window is max(30, 2 x prefetch x workers) steps); the steady-state shortcut stops it early."""
    from planner.simulate.engine import WINDOW_CAP

    return max(steps, 4 * min(max(30, 2 * ld.prefetch_factor * max(ld.workers, 1)), WINDOW_CAP))


def _ran(runs: list) -> dict:
    """What an answer's simulations ran, stated with it (``simulated``): ``runs`` are (steps asked, SimResult). Each
    run asks for ``steps_for`` steps (the caller's ``steps``, at least four of the engine's steady-state windows:
    the loaders' warm-up, then three windows that must agree) and stops once its step times settle (the steady-state
    shortcut), so its length follows what the question needs, not the fixed ``steps``: a longer cap changes no answer
    that settled (the ResNet-50 shards example's answers are the same at 300 and 1,200 steps). A run that did not
    settle gives its mean after the warm-up window, over the steps it ran."""
    asked = [a for a, _ in runs]
    sims = [r.simulated_steps for _, r in runs]
    settled = sum(r.steady_state_at_step is not None for _, r in runs)
    return {"runs": len(runs), "steps_asked": max(asked, default=0), "simulated_steps": max(sims, default=0),
            "settled": settled,
            "words": (f"{len(runs)} simulation{'s' if len(runs) != 1 else ''} of up to {max(asked, default=0):,} steps "
                      f"(the loaders' warm-up + three steady-state windows), "
                      + ("each stopped once its step times settled" if settled == len(runs) else
                         f"{settled} settled early, the rest ran their steps (rates after the warm-up window)")
                      + f"; the longest ran {max(sims, default=0):,}")}


def _gpu_bound(cfg: SimConfig, steps: int, seed: int):
    """The same job with samples that cost nothing to read or decode: the throughput the GPUs can
    take, host-to-device copies included (they stay on the GPU's critical path)."""
    ld = cfg.loader
    if ld is None:
        return simulate(cfg, steps=steps, seed=seed)
    # read_fraction 0: the cached samples' own bytes cost nothing either (``Loader.fetch_plan`` reads
    # sample_bytes x read_fraction at RAM speed); read at 10 GB/s a worker, 1 GB samples made this "GPU-bound" rate
    # itself read-bound, 12.5 samples/s where the GPUs take ~37,000, and a loader read "1% of what the GPUs take"
    # (QA 56). The device copies (device_bytes: pinned staging, H2D) stay
    free = replace(ld, decode_s=0.0, collate_s=0.0, cache_fraction=1.0, storage=STORAGE_PROFILES["memory"],
                   read_fraction=0.0)
    # as long as the variants it is compared with (``steps_for``): at the bare ``steps`` a loader whose warm-up
    # window is over 75 steps (the ResNet-50 shards example: 92) could not reach the steady state's four windows
    return simulate(replace(cfg, loader=free), steps=steps_for(steps, free), seed=seed)


def workers_needed(cfg: SimConfig, steps: int = 300, seed: int = 0, target: float = 0.95,
                   grid=WORKER_GRID) -> dict:
    """Smallest DataLoader worker count per replica (each worker on its own vCPU, plus one vCPU for
    the training process) whose simulated throughput reaches ``target`` of the GPU-bound
    throughput. Stops early when more workers stop helping (storage- or request-bound).

    Also gives the first-order estimate ``W >= G * t_batch`` (data_pipeline.md §1.5): the batch
    build time (the worker's storage reads, ``LoaderConfig.read_s_per_sample``, and its CPU work) over the GPU's
    time per batch.

    The grid is scanned from its smallest count, one simulation per count, unless the first-order
    estimate already settles it (``_cpu_ceiling_settles``): each worker builds at most one batch per
    ``t_build`` on average, so ``w`` workers reach at most ``w x t_gpu_batch / t_build`` of the
    GPU-bound throughput; when that is below ``target / CEILING_MARGIN`` at the grid's largest count
    and the storage's own ceiling is ``CEILING_MARGIN`` x above the CPU's there, no count in the grid
    can reach the target and the CPU binds: the answer is None / "cpu" (what the scan returns), and
    only the configured count and the grid's largest are simulated, for the table. A decode-bound
    job needing 2,252 workers per replica ran 19 simulations here (the largest 2,000 steps, 256
    batches each), about 160 of its 185 s.

    Dead end (QA 36b): stopping each grid row once two windows after the warm-up agree within 1% (not three within
    0.2%, the engine's check) took the ResNet-50 S3-files example's answer from 4.3 s to 2.7 s (its 64-worker run 1,024
    -> 768 steps, each row within 0.4%), but moved other answers: the 50 ms-GET files loader of
    tests/test_qa26.py needed 96 workers instead of 64 (its 64-worker rate fell under the 95% target) and the 1 GB
    shards job's rate read 2,479 samples/s instead of 2,384 (+4%); at 0.5% the same. The shortened windows leave part
    of the loaders' drain in the mean; half-length windows after the warm-up were worse (64 workers 0.221 of the
    GPU-bound rate, not 0.148). Not adopted; benchmarks/bench_workers_answer.py times the answer."""
    cfg = data_only(cfg)
    if cfg.loader is None:
        return {"workers_needed": 0, "vcpus_per_gpu": None, "bound": "gpu", "rows": [],
                "note": "no data section: data never limits"}
    ld, p = cfg.loader, cfg.pipeline
    gpu = _gpu_bound(cfg, steps, seed)
    t_gpu_batch = (gpu.steady_step_time_s or gpu.step_time_s["mean"]) / p.m  # GPU time per micro-batch (= one loader batch)
    t_build = p.micro_batch * ld.decode_s + ld.collate_s  # the CPU's part (the ceiling below)
    # the first-order count: the whole batch build, the worker's own storage reads included (data_pipeline.md §1.5);
    # with the decode alone it said 25 workers for the ResNet-50 shards job whose simulation needs 32 (a 256-image
    # batch reads 1.25 ms an image from S3 beside its 5.25 ms decode), and 25 for the files job whose 50 ms GETs
    # make its workers wait ten times longer than they decode
    t_batch = t_build + p.micro_batch * ld.read_s_per_sample()
    first_order = math.ceil(t_batch / t_gpu_batch) if t_gpu_batch > 0 else None
    rows, best, found, flat = [], 0.0, None, 0
    # the job's own count joins the grid (up to its largest), so its row is in the table to compare with
    grid = sorted(set(grid) | ({ld.workers} if 0 < ld.workers <= max(grid) else set()))
    settled = _cpu_ceiling_settles(cfg, grid[-1], t_gpu_batch, t_build, _rate(gpu), target)
    if settled:  # no count in the grid reaches the target: simulate only the rows the table needs
        grid = [w for w in grid if w == ld.workers or w == grid[-1]]
    ran = [(steps_for(steps, ld), gpu)]
    for w in grid:
        c = replace(cfg, loader=replace(ld, workers=w, cores=None))
        r = simulate(c, steps=steps_for(steps, c.loader), seed=seed)
        ran.append((steps_for(steps, c.loader), r))
        share = _rate(r) / _rate(gpu)
        rows.append(_summary(r, workers=w, vcpus_per_gpu=_vcpus_per_gpu(cfg, w + 1), share_of_gpu_bound=share,
                             requests_per_s=r.data.get("storage_requests_per_s", 0.0)))
        if share >= target:
            found = w
            break
        flat = flat + 1 if _rate(r) < best * 1.01 else 0
        best = max(best, _rate(r))
        if flat >= 2:  # two more steps of the grid gained < 1% each: something else binds
            break
    bound = "gpu" if found is not None else ("storage" if flat >= 2 else "cpu")
    extra = {}
    reading = replace(ld, workers=rows[-1]["workers"]).workers_reading(p.dp) if rows else 0
    if found is None and flat >= 2 and reading < rows[-1]["workers"]:
        # the dataset has fewer shards than the workers asked for: the extra ones idle (``LoaderConfig.workers_reading``)
        # and the rate stops at what the shard-holding ones read and decode, not at the storage, which "the storage
        # binds" said of ResNet-50 on 1 GB shards (138 shards: 17 reading workers per replica, 2 GET/s of S3's 5,500)
        bound = "shards"
        extra.update(shards_total=ld.shards_total(), workers_reading=reading)
    if settled:
        bound = "cpu"
        extra["note"] = (f"grid not scanned: by the CPU ceiling {grid[-1]} workers reach at most {settled:.1%} of the "
                         f"GPU-bound throughput (target {target:.0%}); simulated: {', '.join(str(w) for w in grid)}")
    return {
        "workers_needed": found, "vcpus_per_gpu": _vcpus_per_gpu(cfg, found + 1) if found else None,
        "target_share_of_gpu_bound": target, "gpu_bound_samples_per_s": _rate(gpu),
        "first_order_workers": first_order, "bound": bound, "rows": rows,
        "current_workers": ld.workers, "dp": p.dp,
        "current_vcpus_per_gpu": _vcpus_per_gpu(cfg, ld.cores) if ld.cores else None, **extra,
        "simulated": _ran(ran),
    }


def storage_ceiling(ld) -> float:
    """Samples/s the storage can serve the whole job at most: its aggregate bandwidth over the bytes
    of a sample that misses the cache, and its request-rate cap over the requests per such sample (one
    per file; one per shard, spread over the shard's samples) — ``Storage``'s two shared servers. inf
    when every sample is a cache hit."""
    miss = 1.0 - ld.cache_fraction
    if miss <= 0:
        return math.inf
    by_bw = ld.storage.aggregate_bw / (miss * ld.sample_bytes * ld.read_fraction) if ld.sample_bytes > 0 else math.inf
    per_sample = ld.storage_requests_per_sample()
    return min(by_bw, ld.storage.max_requests_per_s / per_sample if per_sample > 0 else math.inf)


def _cpu_ceiling_settles(cfg: SimConfig, w_max: int, t_gpu_batch: float, t_build: float, gpu_rate: float,
                         target: float) -> float:
    """The CPU ceiling's share of the GPU-bound throughput at ``w_max`` workers when it settles
    ``workers_needed`` without a scan (0.0 when it does not): ``w_max`` workers, each building at most
    one batch per ``t_build`` (data_pipeline.md §1.5: ``W >= G * t_batch`` inverted), reach at most
    ``w_max * t_gpu_batch / t_build`` of it. Settled when that is below ``target / CEILING_MARGIN``
    and the storage's ceiling (``storage_ceiling``) is ``CEILING_MARGIN`` x the CPU's samples/s."""
    if t_build <= 0 or t_gpu_batch <= 0 or gpu_rate <= 0:
        return 0.0
    share = w_max * t_gpu_batch / t_build
    if share * CEILING_MARGIN >= target:
        return 0.0
    if storage_ceiling(cfg.loader) < CEILING_MARGIN * share * gpu_rate:
        return 0.0
    return share


def _vcpus_per_gpu(cfg: SimConfig, per_loader: float) -> float:
    """vCPUs per GPU when each replica's loader uses ``per_loader`` vCPUs: one loader per DP replica
    (the ranks of a replica's pipeline/TP group share it, as in Megatron's data loading)."""
    return per_loader / max(cfg.gpus_per_replica, 1)


def cache_worth_it(cfg: SimConfig, steps: int = 300, seed: int = 0) -> dict:
    """Compare: as configured; the raw (encoded) dataset cached in host RAM (never-evict, so the
    hit rate is the cached fraction — Mohan et al. Eq. 1-2); decoded samples cached (decode skipped,
    random augmentation still paid, ``DECODED_SIZE_FACTOR`` x the bytes). Worth it when the
    simulated throughput rises by more than 5%.

    Each cache is sized against the RAM one node may give it (``LoaderConfig.cache_ram_bytes``: the
    page cache is per node, so every node holds its own copy): a variant larger than that caches the
    share that fits, and its hit rate is that share; a decoded cache's hits skip the decode, so its mean
    CPU time per sample is ``decode_s`` x (1 - ``DECODE_SHARE`` x the share). The configured cache is
    simulated as given and flagged (``configured_fits``) when it is larger than the RAM. With the
    dataset's size or the node's RAM unknown nothing is sized (``fits`` None)."""
    cfg = data_only(cfg)
    if cfg.loader is None:
        return {"worth_it": False, "rows": [], "note": "no data section"}
    ld = cfg.loader
    n = ld.dataset_samples
    raw_bytes = n * ld.sample_bytes if n else None
    cap = ld.cache_ram_bytes

    def variant(label: str, whole_bytes, fraction: float, decoded: bool, configured: bool = False):
        """(label, loader, cache bytes, fits) of a cache of ``fraction`` of a dataset whose whole cache
        takes ``whole_bytes``; shrunk to the RAM unless it is the configured one."""
        need = fraction * whole_bytes if whole_bytes else None
        fits = None if (need is None or cap is None) else bool(need <= cap)
        if fits is False and not configured:
            fraction, need = cap / whole_bytes, cap
            label = f"{label} (the {fraction:.0%} that fits)"
        decode = ld.decode_s * (1 - DECODE_SHARE * fraction) if decoded else ld.decode_s
        return label, replace(ld, cache_fraction=fraction, decode_s=decode), need, fits

    variants = [
        variant("as configured", raw_bytes, ld.cache_fraction, False, configured=True),
        variant("raw samples cached in RAM", raw_bytes, 1.0, False),
        variant("decoded samples cached in RAM", raw_bytes * DECODED_SIZE_FACTOR if raw_bytes else None, 1.0, True),
    ]
    rows, ran = [], []
    for label, lc, mem, fits in variants:
        r = simulate(replace(cfg, loader=lc), steps=steps_for(steps, lc), seed=seed)
        ran.append((steps_for(steps, lc), r))
        rows.append(_summary(r, label, cache_bytes=mem, cache_fraction=lc.cache_fraction, fits=fits))
    base = rows[0]["samples_per_s"]
    best = max(rows[1:], key=lambda x: x["samples_per_s"])
    gain = best["samples_per_s"] / base - 1 if base > 0 else 0.0
    return {"worth_it": gain > 0.05, "best": best["variant"], "speedup": 1 + gain,
            "raw_dataset_bytes": raw_bytes, "cache_ram_bytes": cap, "cache_ram_source": ld.cache_ram_source,
            "configured_fits": rows[0]["fits"], "rows": rows, "simulated": _ran(ran)}


def best_shard_size(cfg: SimConfig, steps: int = 300, seed: int = 0, grid=SHARD_MB_GRID,
                    tolerance: float = 0.02) -> dict:
    """Small files vs shards of each size in ``grid`` (MB). The answer is the *smallest* shard size
    within ``tolerance`` of the best throughput: smaller shards shuffle better, start faster and
    need less buffer memory per worker (data_pipeline.md §1.7, MosaicML cache formulas)."""
    cfg = data_only(cfg)
    if cfg.loader is None:
        return {"best_shard_mb": None, "rows": [], "note": "no data section"}
    ld = cfg.loader
    rows = []
    n = steps_for(steps, ld)
    r = simulate(replace(cfg, loader=replace(ld, format="files")), steps=n, seed=seed)
    ran = [(n, r)]
    rows.append(_summary(r, "individual files", shard_mb=None,
                         requests_per_s=r.data.get("storage_requests_per_s", 0.0)))
    for mb in grid:
        r = simulate(replace(cfg, loader=replace(ld, format="shards", shard_bytes=mb * 1e6)), steps=n, seed=seed)
        ran.append((n, r))
        rows.append(_summary(r, f"{mb:g} MB shards", shard_mb=mb,
                             requests_per_s=r.data.get("storage_requests_per_s", 0.0)))
    top = max(x["samples_per_s"] for x in rows)
    ok = [x for x in rows if x["samples_per_s"] >= (1 - tolerance) * top]
    # individual files are the smallest "shard" (one sample per request): when they are within tolerance of
    # the best, no shard size is needed and best_shard_mb is None. Before, the smallest shard within
    # tolerance was named even where files beat it ("64 MB ...; individual files reach 101% of it").
    best = ok[0] if ok[0] is rows[0] else min(ok, key=lambda x: x["shard_mb"])
    return {"best_shard_mb": best["shard_mb"], "tolerance": tolerance,
            # the job's own format, so the table can mark its row (None: individual files)
            "configured_shard_mb": None if ld.format == "files" else ld.shard_bytes / 1e6,
            "files_vs_best": rows[0]["samples_per_s"] / best["samples_per_s"] if best["samples_per_s"] > 0 else 1.0,
            "rows": rows, "simulated": _ran(ran)}


def checkpoint_interval_sweep(cfg: SimConfig, step_s: Optional[float] = None, steps: int = 300,
                              seed: int = 0, points: int = 13) -> dict:
    """Goodput against the checkpoint interval, and its maximiser vs Young's sqrt(2 delta MTBF).

    The step time comes from the step-level simulation (or ``step_s``). Each interval's goodput is the
    segment model's expectation in closed form (``failures.expected_goodput``, blocking or asynchronous), the
    formula ``estimate``, ``recommend`` and the report price the job's checkpoint section with
    (``failures.run_overhead``). It was a segment-level simulation over a horizon of job MTBFs, and that
    one draw is not the expectation it was labelled: Llama-3-8B saving 45 s every 200 steps of 14.2 s at a
    5 h job MTBF read 88.4% against ``estimate``'s 87.8% for the same interval (its ``horizon_mtbf`` argument,
    a no-op since, went in dead46; ``seed`` seeds the step-level simulation when ``step_s`` is not given;
    ``failures.simulate_goodput`` is the formula's test oracle). Intervals: a log grid from 1/8x to 8x Young's
    interval.

    The job's evaluation passes run between saves: a segment is ``n`` steps plus their share of the passes
    (``failures.work_per_step_s``, as ``estimate`` prices it since QA 57), so the intervals are seconds of work
    between saves and the goodput at the configured cadence is ``estimate``'s (it read 95.8% beside estimate's
    95.9% for Llama-3-8B saving every 100 steps with 3.9% of the run in evaluation)."""
    ck, fl = cfg.checkpoint, cfg.failures
    if not fl.enabled:
        return {"note": "no MTBF given (checkpoint.mtbf_hours_per_node)", "rows": []}
    if step_s is None:
        step_s = simulate(replace(cfg, evaluation=replace(cfg.evaluation, every_steps=0),
                                  checkpoint=replace(ck, every_steps=0),
                                  failures=replace(fl, mtbf_node_s=None)),
                          steps=steps, seed=seed).wall_s / steps
    block, persist = ck.pause_s()
    mtbf = fl.mtbf_s
    e = cfg.evaluation
    cycle = e.every_steps * max(1, int(e.full_every or 1)) if (e.every_steps and e.samples > 0) else 0
    # seconds of work a step stands for between saves: the step and its long-run share of the evaluation passes
    work = step_s + (cfg.eval_run(cycle)["seconds"] / cycle if cycle else 0.0)
    yd = young_daly_interval_s(block, mtbf) if block > 0 else work
    if ck.asynchronous:  # the next save waits for the previous persist: never checkpoint faster
        yd = max(yd, persist)

    def at(n: int) -> dict:
        """Goodput saving every ``n`` steps: the closed form, with the pause an asynchronous save takes at that
        cadence (``CheckpointConfig.pause_s``: it waits for the previous write) and its durability lag."""
        blk, lag = ck.pause_s(n * step_s)
        return {"goodput": expected_goodput(n * work, float(blk), mtbf, fl.restart_s, float(lag))}

    rows = []
    for k in range(points):
        f = 2.0 ** (-3 + 6 * k / (points - 1))
        n = max(1, round(yd * f / work))
        if rows and rows[-1]["interval_steps"] == n:
            continue
        rows.append({"interval_steps": n, "interval_s": n * work, **at(n)})
    best = max(rows, key=lambda r: r["goodput"])
    yd_steps = max(1, round(yd / work))
    longest = max(r["interval_steps"] for r in rows)
    out = {"method": "closed form", "simulated": {
               "runs": 0, "words": (f"closed form (failures.expected_goodput) on the simulated step time, not simulated "
                                    f"interval by interval: the longest interval, {longest:,} steps, and the failures "
                                    "between saves need no run that long")},
           "step_s": step_s, "checkpoint_block_s": block, "mtbf_s": mtbf, "restart_s": fl.restart_s,
           "young_daly_interval_s": yd, "young_daly_interval_steps": yd_steps,
           "goodput_at_young_daly": at(yd_steps)["goodput"],
           "best_interval_steps": best["interval_steps"], "best_interval_s": best["interval_s"],
           "best_goodput": best["goodput"], "rows": rows}
    if ck.every_steps:
        out.update(current_interval_steps=ck.every_steps, goodput_at_current=at(ck.every_steps)["goodput"])
    return out


def eval_tiering(cfg: SimConfig, steps: int = 1000, seed: int = 0, subset_fraction: float | None = None,
                 full_every: int | None = None) -> dict:
    """Evaluation's share of wall time with the full set every ``every_steps`` (as configured) vs a
    tiered strategy: a stratified holdout of ``subset_fraction`` of the set at every evaluation and
    the full set only every ``full_every``-th evaluation. Returns both runs and the wall-time saving.
    """
    e = cfg.evaluation
    if not (e.every_steps and e.samples > 0):
        return {"note": "no evaluation (evaluation.every_steps and samples)", "rows": []}
    # the job's tier (evaluation.holdout_fraction / full_every) unless the caller asks for another
    subset_fraction = e.subset_fraction if subset_fraction is None else subset_fraction
    full_every = e.tier_full_every if full_every is None else full_every
    if e.every_steps * full_every > MAX_TIER_STEPS:
        return {"note": f"evaluation every {e.every_steps:,} steps: one tier cycle ({full_every} evaluations) is "
                        f"longer than {MAX_TIER_STEPS:,} steps, not simulated", "rows": []}
    steps = max(steps, e.every_steps * full_every)  # at least one full tier cycle
    full = simulate(replace(cfg, evaluation=replace(e, full_every=1)), steps=steps, seed=seed)
    tier = simulate(replace(cfg, evaluation=replace(e, full_every=full_every, subset_fraction=subset_fraction)),
                    steps=steps, seed=seed)
    rows = []
    for label, r in (("full set every evaluation", full),
                     (f"{subset_fraction:.0%} holdout, full set every {ordinal(full_every)}", tier)):
        rows.append({"variant": label, "wall_s": r.wall_s, "eval_s": r.time_by_cause_s["eval"],
                     "eval_share": r.time_by_cause_s["eval"] / r.wall_s})
    # the saving is the evaluation time removed; the simulated walls can differ by less when the
    # job is data-bound (training loaders keep prefetching during an evaluation pause)
    saved = rows[0]["eval_s"] - rows[1]["eval_s"]
    return {"steps": steps, "simulated": {
                "runs": 2, "steps_asked": steps, "simulated_steps": max(full.simulated_steps, tier.simulated_steps),
                "words": (f"2 simulations (full set, tiered) of {steps:,} steps: at least one tier cycle ({full_every} "
                          f"evaluations every {e.every_steps:,} steps)"
                          + (f"; steps after {max(full.simulated_steps, tier.simulated_steps):,} extrapolated once "
                             "the step times settled" if max(full.simulated_steps, tier.simulated_steps) < steps
                             else ""))},
            "every_steps": e.every_steps, "subset_fraction": subset_fraction, "full_every": full_every,
            "eval_share_full": rows[0]["eval_share"],
            "eval_share_tiered": rows[1]["eval_s"] / (rows[0]["wall_s"] - saved),
            "wall_saving_share": saved / rows[0]["wall_s"],
            "simulated_wall_saving_share": 1 - rows[1]["wall_s"] / rows[0]["wall_s"], "rows": rows}
