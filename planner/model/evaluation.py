"""Evaluation pauses: the job's ``evaluation`` section priced once, for the simulator and the analytic plan.

Every ``every_steps`` training steps all ranks stop and run a forward-only pass over the evaluation set
(``samples``; every ``full_every``-th pass the full set, the others ``subset_fraction`` of it). One pass
is pipelined micro-batches of ``micro_batch`` samples per replica, ``dp`` replicas in parallel:

    n_mb   = ceil(n / (dp x micro_batch))
    t_pass = (n_mb + pp - 1) x t_fwd_mb                       (forward only, one pipeline fill)
    t_pass = max(t_pass, n_mb x micro_batch x decode_s / workers)   (with an input pipeline: loader-bound)

``t_fwd_mb`` is the analytic stage's forward time per micro-batch (planner.model.step_time, with the
exposed ZeRO-3 gathers spread over forward and backward: ``spread_zero3``). ``eval_pass_s`` is that
formula, ``eval_run`` the whole run's passes (the simulator's engine.eval_time prices each pass it plays
with ``eval_pass_s``; ``estimate``/``recommend`` add ``eval_run``'s seconds to the time to train, so the two
agree: tests/test_eval_time.py).
"""
from __future__ import annotations

import math

import numpy as np


def spread_zero3(t_f, t_b, z3):
    """Forward and backward micro-batch times with ``z3`` seconds of exposed ZeRO-3 gathers per micro-batch
    spread over both in proportion (both wait on gathers). Scalars give floats, arrays arrays."""
    scalar = all(np.ndim(x) == 0 for x in (t_f, t_b, z3))
    t_f, t_b, z3 = (np.asarray(x, dtype=np.float64) for x in (t_f, t_b, z3))
    tot = t_f + t_b
    on = (z3 > 0) & (tot > 0)
    safe = np.where(tot > 0, tot, 1.0)
    f, b = np.where(on, t_f + z3 * t_f / safe, t_f), np.where(on, t_b + z3 * t_b / safe, t_b)
    return (float(f), float(b)) if scalar else (f, b)


def loader_workers(workers_per_gpu, vcpus_per_gpu, vcpus_per_node, gpus_per_node, dp, nodes):
    """Loader worker processes per replica and the cores they share (None: unknown): the job's
    ``data.workers_per_gpu``, else one worker per vCPU of the replica's loader share, one kept for the
    trainer (4 where the vCPUs are unknown). ``dp`` / ``nodes`` may be arrays (the search's candidates);
    scalars give an int and a float."""
    vpg = vcpus_per_gpu or (float(vcpus_per_node or 0) / gpus_per_node) or None
    loaders_per_node = np.maximum(1, np.ceil(np.asarray(dp, dtype=np.float64) / np.asarray(nodes, dtype=np.float64)))
    cores = vpg * gpus_per_node / loaders_per_node if vpg else None
    if workers_per_gpu is not None:
        workers = np.full(np.shape(loaders_per_node), workers_per_gpu)
    elif cores is not None:
        workers = np.maximum(1, np.floor(cores) - 1)
    else:
        workers = np.full(np.shape(loaders_per_node), 4)
    if np.ndim(dp) == 0 and np.ndim(nodes) == 0:
        return (workers_per_gpu if workers_per_gpu is not None else int(workers)), \
            (float(cores) if cores is not None else None)
    return workers, cores


def eval_pass_s(samples, dp, micro_batch, pp, t_fwd_mb, decode_s: float = 0.0, workers=1):
    """Seconds of one evaluation pass over ``samples`` (module docstring). Scalars give a float; any
    array argument gives an array (the search prices every candidate with this same formula)."""
    scalar = all(np.ndim(x) == 0 for x in (samples, dp, micro_batch, pp, t_fwd_mb, workers))
    dp, mb, pp, t_f, w = (np.asarray(x, dtype=np.float64) for x in (dp, micro_batch, pp, t_fwd_mb, workers))
    n_mb = np.ceil(np.asarray(samples, dtype=np.float64) / np.maximum(dp * mb, 1))
    t = np.where(n_mb > 0, (n_mb + pp - 1) * t_f, 0.0)
    if decode_s > 0:
        t = np.where(n_mb > 0, np.maximum(t, n_mb * mb * decode_s / np.maximum(w, 1)), t)
    return float(t) if scalar else t


def is_full_pass(idx: int, full_every: int) -> bool:
    """Whether evaluation ``idx`` (0-based) runs over the full set: the first and every ``full_every``-th."""
    return full_every <= 1 or idx % full_every == 0


def eval_passes(steps, every_steps: int, full_every: int) -> tuple[int, int]:
    """(evaluations over ``steps`` training steps, how many of them over the full set): one after every
    ``every_steps``-th step; by ``is_full_pass``, evaluations 0, K, 2K, ... (K = ``full_every``) use the full set."""
    if not every_steps or not math.isfinite(steps):
        return 0, 0
    n = int(steps) // every_steps
    k = max(int(full_every), 1)
    return n, (n + k - 1) // k


def eval_run(steps, every_steps: int, samples: float, full_every: int, subset_fraction: float, pass_s) -> dict:
    """The whole run's evaluation: ``passes`` (steps // every_steps), ``full_passes``, total ``seconds`` and
    the ``mean_s`` per pass; ``pass_s(n)`` gives the seconds of one pass over ``n`` samples (``eval_pass_s``
    bound to a plan or, with arrays, to the search's candidates). Tiered: the full set every
    ``full_every``-th pass, ``subset_fraction`` of it otherwise."""
    n, n_full = eval_passes(steps, every_steps, full_every)
    if not n or not samples:
        return dict(passes=0, full_passes=0, seconds=0.0, mean_s=0.0)
    full = pass_s(samples)
    part = pass_s(samples * subset_fraction) if n > n_full else 0.0
    total = n_full * full + (n - n_full) * part
    return dict(passes=n, full_passes=n_full, seconds=total, mean_s=total / n)


def job_eval(job, steps, t_fwd_mb, t_bwd_mb, comm_zero3, num_microbatches, dp, micro_batch, pp, nodes,
             gpus_per_node: int, vcpus_per_node) -> dict | None:
    """The job's evaluation passes over ``steps`` training steps for a plan or, with arrays, every candidate
    of the search (None: no ``evaluation`` section, or one that never fires): ``eval_run`` of ``eval_pass_s``
    with the plan's forward micro-batch time (the ZeRO-3 gathers per micro-batch spread as the simulator
    does: ``spread_zero3``) and, with a ``data`` section, its loader (``loader_workers``, the decode time).

    The run is priced as ``planner simulate`` plays it: the full set at every pass (``passes``, ``seconds``,
    ``mean_s``); ``tier_seconds`` is the same run with the section's tier (a ``holdout_fraction`` holdout,
    the full set every ``full_every``-th pass), the alternative simulate's tiering answer compares."""
    e = getattr(job, "evaluation", None)
    if e is None or not e.every_steps or not e.samples or not math.isfinite(steps) or int(steps) < e.every_steps:
        return None
    m = np.maximum(1, np.round(np.asarray(num_microbatches, dtype=np.float64)))
    t_f, _ = spread_zero3(np.asarray(t_fwd_mb, dtype=np.float64), np.asarray(t_bwd_mb, dtype=np.float64),
                          np.asarray(comm_zero3, dtype=np.float64) / m)
    data = getattr(job, "data", None)
    decode_s, workers = 0.0, 1
    if data is not None:
        decode_s = data.decode_ms_per_sample / 1e3
        workers, _ = loader_workers(data.workers_per_gpu, data.vcpus_per_gpu, vcpus_per_node, gpus_per_node,
                                    np.asarray(dp), np.asarray(nodes))

    def pass_s(n):
        return eval_pass_s(n, np.asarray(dp), np.asarray(micro_batch), np.asarray(pp), t_f, decode_s, workers)

    run = eval_run(steps, e.every_steps, e.samples, 1, e.holdout_fraction, pass_s)
    tier = eval_run(steps, e.every_steps, e.samples, e.full_every, e.holdout_fraction, pass_s)
    return dict(every_steps=e.every_steps, samples=e.samples, passes=run["passes"], mean_s=run["mean_s"],
                seconds=run["seconds"], holdout_fraction=e.holdout_fraction, full_every=e.full_every,
                tier_seconds=tier["seconds"])
