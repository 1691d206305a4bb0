"""warm42: Megatron-Core's extra warm-up forward under the combined-1F1B all-to-all overlap, one count for the step time
and the memory.

NVIDIA/Megatron-LM megatron/core/pipeline_parallel/schedules.py ``get_pp_rank_microbatches``, interleaved branch:
``num_warmup_microbatches = (pp - rank - 1) * 2 + (num_model_chunks - 1) * microbatch_group_size_per_vp_stage`` and,
``if overlap_moe_expert_parallel_comm``, ``+ 1`` ("we schedule one extra micro-batch forward step before the 1f1b
stages. This is needed to ensure the forward and backward computations are independent in all 1f1b steps"); the
steady loop of ``forward_backward_pipelining_with_interleaving`` runs ``num_microbatches_remaining`` = m v - warm-up
combined forward/backward steps (forward k + warm-up with backward k), the cool-down the rest of the backwards. The
memory's micro-batches in flight (memory_stages.inflight_microbatches, pipeline.chunk_inflight) counted the + 1 already; the
step time's paired share (moe.a2a_paired_share) did not. Both now read pipeline.interleaved_warmup.
"""
from __future__ import annotations

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import memory as M
from planner.model import memory_stages as MS
from planner.model import moe
from planner.model import pipeline as P
from planner.vocab import SCHEDULE

GRID = [(4, 2, 8, None), (4, 2, 10, 5), (8, 4, 32, None), (16, 2, 64, None), (8, 2, 24, 12), (2, 4, 8, None)]


def _megatron_warmup(pp, v, g, rank, overlap):
    """get_pp_rank_microbatches' interleaved count, written from the source (not the planner's helper)"""
    warm = (pp - rank - 1) * 2 + (v - 1) * g
    return warm + 1 if overlap else warm


@pytest.mark.parametrize("pp,v,m,g", GRID)
def test_paired_share_is_megatrons_steady_steps_with_the_extra_forward(pp, v, m, g):
    """Each rank's paired share is its steady 1F1B steps over its m v chunk forwards: m v less the warm-up with the
    extra forward. Before warm42 the share left the extra forward out (one pair more on every rank)."""
    n = g or pp
    for rank in range(pp):
        warm = min(_megatron_warmup(pp, v, n, rank, True), m * v)
        got = float(moe.a2a_paired_share(pp, v, m, group=g, rank=rank))
        assert got == pytest.approx((m * v - warm) / (m * v))
    # PP4 VPP2 m 8, the last rank: 0 + 4 + 1 warm-up forwards, 11 of its 16 pairs (12 before warm42)
    assert float(moe.a2a_paired_share(4, 2, 8, rank=3)) == pytest.approx(11 / 16)


@pytest.mark.parametrize("pp,v,m,g", GRID)
def test_the_order_pairs_what_the_share_counts(pp, v, m, g):
    """Megatron's op order with the extra forward (stage_orders' ``extra_warmup`` 1): every forward followed by a
    backward in the steady phase is a pair; their count over m v is the share each rank hides its all-to-all at."""
    orders = P.stage_orders("interleaved", pp, m, v, extra_warmup=1, group=g)
    for rank, ops in enumerate(orders):
        warm = next(i for i, op in enumerate(ops) if op[0] == "B") - 1  # the warm-up, then the first pair's forward
        assert warm == min(int(P.interleaved_warmup(pp, v, g or pp, rank, True)), m * v)
        pairs = sum(a[0] == "F" and b[0] == "B" for a, b in zip(ops, ops[1:]))
        assert pairs / (m * v) == pytest.approx(float(moe.a2a_paired_share(pp, v, m, group=g, rank=rank)))


@pytest.mark.parametrize("pp,v,m,g", GRID)
def test_time_and_memory_read_one_warm_up(pp, v, m, g):
    """The memory holds the warm-up forwards (inflight_microbatches x v chunk micro-batches); the step time pairs the
    forwards past the warm-up. With the overlap on, one count: held = unpaired. Until mem43 the memory held the first
    steady forward's whole chunk too (held - 1 = unpaired); combined 1F1B runs it layer by layer beside the
    backward, so a pair holds one layer of it (memory_stages.combined_pair_layers, added in stage_layer_microbatches)."""
    c = Candidates(tp=np.array([1]), pp=pp, dp=1, cp=1, ep=2, vpp=v, zero=1, mb=1, rc=0, sp=False,
                   schedule=SCHEDULE.code["interleaved"], gpus_per_node=8, nodes=pp)
    for rank in range(pp):
        held = float(MS.inflight_microbatches(c, np.array([float(m)]), True, rank=rank, group=g)[0]) * v
        unpaired = (1 - float(moe.a2a_paired_share(pp, v, m, group=g, rank=rank))) * m * v
        assert held == pytest.approx(unpaired)
        assert held == pytest.approx(min(_megatron_warmup(pp, v, g or pp, rank, True), m * v))
        pair = float(MS.combined_pair_layers(c, np.array([float(m)]), True, rank, g)[0])
        assert pair == (1.0 if unpaired < m * v else 0.0)  # one layer where the rank runs pairs


def _paired_makespan(pp, m, v, extra, group=None):
    """List schedule of stage_orders' order with each steady (forward, backward) pair run as one unit: it starts when
    both its forward's input and its backward's gradient are in (the combined step's first phase already runs a
    backward node beside the forward's attention). t_f = 1, t_b = 2 a micro-batch, no sends. None: deadlock."""
    orders = P.stage_orders("interleaved", pp, m, v, extra, group)
    units = []
    for ops in orders:
        u, i = [], 0
        while i < len(ops):
            n = 2 if ops[i][0] == "F" and i + 1 < len(ops) and ops[i + 1][0] == "B" else 1
            u.append(ops[i:i + n])
            i += n
        units.append(u)
    nvs, end, pos, clock = pp * v, {}, [0] * pp, [0.0] * pp
    while any(pos[s] < len(units[s]) for s in range(pp)):
        moved = False
        for s in range(pp):
            while pos[s] < len(units[s]):
                deps, dur = [], 0.0
                for kind, mb, ch in units[s][pos[s]]:
                    vs = ch * pp + s
                    if kind == "F":
                        deps.append(end.get(("F", mb, vs - 1)) if vs else 0.0)
                        dur += 1.0 / v
                    else:
                        deps.append(end.get(("B", mb, vs + 1)) if vs < nvs - 1 else end.get(("F", mb, vs)))
                        dur += 2.0 / v
                if any(d is None for d in deps):
                    break
                clock[s] = max([clock[s]] + deps) + dur
                for kind, mb, ch in units[s][pos[s]]:
                    end[(kind, mb, ch * pp + s)] = clock[s]
                pos[s] += 1
                moved = True
        if not moved:
            return None
    return max(clock)


@pytest.mark.parametrize("pp,v,m", [(2, 2, 8), (4, 2, 8), (4, 4, 16), (8, 2, 32), (8, 4, 16), (16, 4, 64)])
def test_the_extra_forward_makes_the_pairs_independent_and_leaves_the_bubble(pp, v, m):
    """Without the extra forward a pair of the last rank holds a micro-batch's own forward and backward, so the
    pairs run as units cannot be ordered (deadlock); with it they can, and the step is the plain schedule's,
    m (t_f + t_b) + (pp - 1)/v (t_f + t_b): the bubble (pipeline.bubble_time) does not move."""
    plain = P.pipeline_timing(pp, m, v, 1.0, 2.0).makespan
    assert _paired_makespan(pp, m, v, 0) is None
    assert _paired_makespan(pp, m, v, 1) == pytest.approx(plain)
    assert plain == pytest.approx(3 * m + float(P.bubble_time(pp, m, v, 3.0)))
    assert int(P.interleaved_warmup(pp, v, pp, pp - 1, True)) == (v - 1) * pp + 1
