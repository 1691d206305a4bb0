"""Pipeline schedules: per-stage operation orders and their exact timing by list scheduling.

A schedule is, for every pipeline stage, the ordered list of operations it runs in one training
step: ``("F", mb, chunk)`` or ``("B", mb, chunk)``. Timing is a longest-path recurrence over two
kinds of edges — program order on a stage, and the data dependency between neighbouring stages
(activation forward, gradient backward, each paying one point-to-point send ``t_p2p``):

    start(op) = max(end(previous op on this stage), end(producer op on the neighbour) + t_p2p)

With equal stages and ``t_p2p = 0`` this reproduces the textbook makespans

    GPipe / 1F1B : (m + p - 1) * (t_f + t_b)              (Narayanan et al. 2021, PipeDream-Flush)
    interleaved  : (m + (p - 1)/v) * (t_f + t_b)          (Narayanan et al. 2021 §2.2, Megatron-LM)

for m micro-batches, p stages and v model chunks per stage; t_f, t_b are whole-stage times of one
micro-batch (a chunk takes t_f/v and t_b/v). The interleaved order is Megatron-LM's
``forward_backward_pipelining_with_interleaving`` (warm-up ``(p - s - 1)*2 + (v - 1)*p`` forwards
on stage s, then one-forward-one-backward, then cool-down).

Example::

    >>> round(pipeline_timing(pp=4, m=8, vpp=1, t_f=1.0, t_b=2.0).makespan, 6)
    33.0
    >>> round(pipeline_timing(pp=4, m=8, vpp=2, t_f=1.0, t_b=2.0).makespan, 6)
    28.5
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

SCHEDULES = ("1f1b", "interleaved", "gpipe")


def _chunk_of(k: int, pp: int, vpp: int, forward: bool) -> int:
    c = (k // pp) % vpp
    return c if forward else vpp - 1 - c


def _mb_of(k: int, pp: int, vpp: int) -> int:
    return (k // (pp * vpp)) * pp + k % pp


def stage_orders(schedule: str, pp: int, m: int, vpp: int = 1) -> list[list[tuple[str, int, int]]]:
    """Operation order on each stage for one step (list per stage of (kind, micro-batch, chunk))."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    if schedule != "interleaved":
        vpp = 1
    orders = []
    for s in range(pp):
        if schedule == "gpipe":
            ops = [("F", i, 0) for i in range(m)] + [("B", i, 0) for i in range(m)]
        elif vpp == 1:  # 1F1B (PipeDream-Flush)
            warm = min(pp - s - 1, m)
            ops = [("F", i, 0) for i in range(warm)]
            f = warm
            for b in range(m):
                if f < m:
                    ops.append(("F", f, 0))
                    f += 1
                ops.append(("B", b, 0))
        else:  # Megatron interleaved; needs m % pp == 0 (as Megatron does)
            total = m * vpp
            warm = min((pp - s - 1) * 2 + (vpp - 1) * pp, total)
            fwd = [("F", _mb_of(k, pp, vpp), _chunk_of(k, pp, vpp, True)) for k in range(total)]
            bwd = [("B", _mb_of(k, pp, vpp), _chunk_of(k, pp, vpp, False)) for k in range(total)]
            ops = fwd[:warm]
            for k in range(total - warm):
                ops.append(fwd[warm + k])
                ops.append(bwd[k])
            ops += bwd[total - warm:]
        orders.append(ops)
    return orders


@dataclass(frozen=True)
class PipelineTiming:
    makespan: float  # first forward start to last backward end, over all stages
    first_stage_fwd_start: tuple[float, ...]  # when stage 0 starts the forward of micro-batch i
    last_bwd_end: tuple[float, ...]  # per stage: end of its last backward (grads final)
    ideal: float  # m * (t_f + t_b): the busy time of one stage


def pipeline_timing(pp: int, m: int, vpp: int = 1, t_f: float = 1.0, t_b: float = 2.0,
                    t_p2p: float = 0.0, schedule: str | None = None,
                    t_f_first: float | None = None) -> PipelineTiming:
    """Exact timing of one step's schedule by list scheduling (see module docstring).

    ``t_f_first`` replaces the forward time of stage 0 (e.g. with a non-overlapped H2D copy added).
    """
    schedule = schedule or ("interleaved" if vpp > 1 else "1f1b")
    return _timing(schedule, pp, m, vpp if schedule == "interleaved" else 1, t_f, t_b, t_p2p,
                   t_f if t_f_first is None else t_f_first)


@lru_cache(maxsize=256)
def _timing(schedule, pp, m, vpp, t_f, t_b, t_p2p, t_f0) -> PipelineTiming:
    orders = stage_orders(schedule, pp, m, vpp)
    nvs = pp * vpp  # virtual stages: chunk c of stage s is virtual stage c*pp + s
    end: dict[tuple[str, int, int], float] = {}  # (kind, mb, virtual stage) -> end time
    pos = [0] * pp
    clock = [0.0] * pp
    first_f = [0.0] * m
    remaining = sum(len(o) for o in orders)
    while remaining:  # sweep stages, running every op whose producer has finished
        progressed = False
        for s in range(pp):
            ops = orders[s]
            while pos[s] < len(ops):
                kind, mb, c = ops[pos[s]]
                vs = c * pp + s
                if kind == "F":
                    dep = end.get(("F", mb, vs - 1)) if vs > 0 else 0.0
                    dur = (t_f0 if s == 0 else t_f) / vpp
                else:
                    dep = end.get(("B", mb, vs + 1)) if vs < nvs - 1 else end.get(("F", mb, vs))
                    dur = t_b / vpp
                if dep is None:
                    break
                link = t_p2p if (kind == "F" and vs > 0) or (kind == "B" and vs < nvs - 1) else 0.0
                start = max(clock[s], dep + link)
                if kind == "F" and s == 0 and c == 0:
                    first_f[mb] = start
                clock[s] = start + dur
                end[(kind, mb, vs)] = clock[s]
                pos[s] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            raise RuntimeError(f"schedule {schedule} deadlocked (pp={pp}, m={m}, vpp={vpp})")
    return PipelineTiming(max(clock), tuple(first_f), tuple(clock), m * (t_f + t_b))


def analytic_makespan(pp: int, m: int, vpp: int, t_f: float, t_b: float) -> float:
    """Closed form ``(m + (pp - 1)/v) * (t_f + t_b)`` (Narayanan et al. 2021 §2.2)."""
    return (m + (pp - 1) / vpp) * (t_f + t_b)


def exposed_dp_comm(t_dp: float, t_bwd_last: float, buckets: int, overlap: bool) -> float:
    """Exposed data-parallel gradient reduce when it overlaps the last backward in buckets.

    The last backward (duration ``t_bwd_last``) releases ``K`` equal buckets at ``j * t_b / K``;
    each takes ``t_dp / K`` on one communication stream, in order (PyTorch DDP / Megatron
    ``overlap_grad_reduce``). The chain ``f_j = max(f_{j-1}, j t_b/K) + t_dp/K`` ends
    ``max(t_dp/K, t_dp - t_b (K-1)/K)`` after the backward. Without overlap it is all exposed.
    """
    if t_dp <= 0:
        return 0.0
    if not overlap or buckets <= 1:
        return t_dp
    k = buckets
    return max(t_dp / k, t_dp - t_bwd_last * (k - 1) / k)
