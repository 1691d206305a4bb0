"""The overlapped interleaved schedule's warm-up / cool-down sends (step_time ``pp_fill``, pipeline.path_sends).

Megatron-Core hides the interleaved schedule's stage-to-stage sends under the next chunk in the steady state, but
its forward-only warm-up and backward-only cool-down wait for each one: the first micro-batch's path through the
pp x vpp virtual stages and the last one's path back, 2 (pp vpp - 1) sends, each on the link it takes. Where a
stage holds fewer GPUs than a node (GB200 NVL72 domains), more data parallelism spreads the same pipeline over
more nodes, so more of those sends leave the node: the step grows with DP at a fixed batch per replica (dgxc
GB200's weak-scaling rows, which the model had flat or falling)."""
from dataclasses import replace

import numpy as np
import pytest

from planner.hardware.options import HardwareOption, efficiency_for
from planner.model import stacks
from planner.model.pipeline import fill_sends, pipeline_timing
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.vocab import SCHEDULE
from test_step_time import cands


def _walk(pp, vpp, stage_gpus, gpus_per_node):
    """Sends and node-leaving sends, counted by walking the virtual stages: stage s's first rank is s * S
    (Megatron's order, pipeline outermost), a send leaves the node when the two stages' first ranks differ
    in node."""
    path = [c * pp + s for c in range(vpp) for s in range(pp)]
    node = [((v % pp) * stage_gpus) // gpus_per_node for v in path]
    return len(path) - 1, sum(a != b for a, b in zip(node, node[1:]))


@pytest.mark.parametrize("pp,vpp,S,g", [(8, 8, 16, 64), (8, 8, 32, 64), (8, 8, 64, 64), (4, 12, 32, 64),
                                         (4, 12, 128, 64), (4, 2, 8, 64), (4, 2, 8, 8), (2, 3, 4, 8),
                                         (16, 2, 8, 72)])
def test_sends_leaving_the_node_match_a_walk_over_the_ranks(pp, vpp, S, g):
    """At Megatron's default group the warm-up and the cool-down each pay the whole path once."""
    sends, cross = fill_sends(pp, 4 * pp, vpp, S, g)
    walk_sends, walk_cross = _walk(pp, vpp, S, g)
    assert (float(sends[0]), float(cross[0])) == (2 * walk_sends, 2 * walk_cross)


def test_the_count_is_what_the_list_schedule_pays():
    """pipeline_timing (the exact schedule) with a short send as the link delay pays ``fill_sends`` of them, at
    every group size Megatron runs (its default pp, and explicit ones with no last group under pp) and at torch's
    rounds."""
    eps = 1e-6
    for pp in (2, 3, 4, 8):
        for v in (2, 3, 4):
            for m in range(1, 3 * pp + 3):
                for group in [None] + [n for n in range(pp, m + 1) if m % n == 0 or m % n >= pp]:
                    paid = (pipeline_timing(pp, m, v, 1.0, 2.0, eps, group=group).makespan
                            - pipeline_timing(pp, m, v, 1.0, 2.0, 0.0, group=group).makespan) / eps
                    assert paid == pytest.approx(float(fill_sends(pp, m, v, 1, 1, group)[0][0]), abs=1e-3), \
                        (pp, v, m, group)
    assert float(fill_sends(8, 32, 8, 1, 1)[0][0]) == 2 * (8 * 8 - 1)  # the default: the whole path twice


def _gb200(catalog):
    g = catalog.gpu("GB200-B200")
    return HardwareOption(name=g.name, gpu=g, gpus_per_node=64, inter_node_bw=400e9 / 8 * 64,
                          intra_bw=g.intra_node_bw, eff=efficiency_for(g))


def _row(m, hw, stack, dp):
    t = TrainingSpec(seq_len=8192, global_batch=16 * dp, precision="bf16")
    c = cands(tp=4, cp=2, pp=8, dp=dp, vpp=8, mb=1, sp=True, schedule=SCHEDULE.code["interleaved"],
              gpus_per_node=64, nodes=dp)
    return step_time(m, t, c, hw, framework=stack)


def test_more_replicas_spread_the_pipeline_over_more_nodes(catalog):
    """TP4 CP2 PP8 VP8 at DP 2 / 4 / 8 in 64-GPU NVLink domains (dgxc's GB200 Llama 3.1 405B layout, 16
    sequences per replica): 2, 4 and 8 of the 8 links leave the node (15, 31 and 63 of the path's 63 sends),
    so the exposed sends grow with DP, and the step with them."""
    m = ModelSpec(name="l", layers=128, hidden=16384, heads=128, kv_heads=8, ffn_hidden=53248, vocab=128256)
    hw = _gb200(catalog)
    core = stacks.resolve("megatron-core")
    assert core.overlap_p2p
    rows = [_row(m, hw, core, dp) for dp in (2, 4, 8)]
    fills = [float(r["comm_pp"][0]) for r in rows]
    assert fills[0] < fills[1] < fills[2]
    hop_in, hop_out = np.linalg.solve([[2 * 48, 2 * 15], [2 * 32, 2 * 31]], fills[:2])
    assert fills[2] == pytest.approx(2 * 63 * hop_out)  # every send leaves the node at DP 8
    assert hop_out > 5 * hop_in > 0  # a NIC send costs far more than an NVLink one
    # the same layout without the overlap pays every send in the stage times instead, and no fill term
    off = _row(m, hw, replace(core, overlap_p2p=False), 2)
    assert float(off["t_pp_hop"][0]) == 0.0
    assert float(off["comm_pp"][0]) == pytest.approx(2 * float(off["num_microbatches"][0] * off["t_pp_p2p"][0]))
