"""Activation peak of the most loaded pipeline rank under uneven stages (pipe2): max over ranks r of (layers on r)
x (micro-batches r holds in flight), on the split the step time prices (planner.model.pipeline
``stage_layer_split``), not ceil(L / pp) layers x rank 0's in-flight count. Each check failed before the fix."""
from __future__ import annotations

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.model.memory_stages import stage_layer_microbatches
from planner.model.pipeline import stage_layer_split
from planner.model.step_time import slowest_stage
from planner.present.emit import megatron_pipeline_split
from planner.spec import load_job_dict
from planner.vocab import SCHEDULE


def _cands(pp, vpp=1, schedule="1f1b", n=1):
    return Candidates(tp=np.full(n, 8), pp=pp, dp=1, cp=1, ep=1, vpp=vpp, zero=1, mb=1, rc=0, sp=True,
                      schedule=SCHEDULE.code[schedule], gpus_per_node=8, nodes=max(pp, 1))


def _peak(layers, pp, m, vpp=1, schedule="1f1b"):
    r0, r1, last, _ = stage_layer_microbatches(layers, _cands(pp, vpp, schedule), np.array([float(m)]))
    return float(max(r0[0], r1[0], last[0]))


@pytest.mark.parametrize("layers,pp,want", [
    (126, 16, 120),  # Llama-3.1-405B: 7 + 14 x 8 + 7; rank 1 8 x 15 (was ceil 8 x 16 = 128)
    (32, 3, 30),  # Llama-3-8B: 10 + 11 + 11; rank 0 10 x 3 (was 11 x 3 = 33)
    (32, 4, 32),  # even: Megatron's estimator's L/pp x pp = L
    (80, 8, 80),
])
def test_peak_layer_microbatches_1f1b(layers, pp, want):
    assert _peak(layers, pp, 64) == want


def test_peak_by_brute_force_over_ranks():
    """Against every rank's own product, the in-flight count read off the schedule's op order."""
    from planner.model.pipeline import stage_orders
    for layers, pp, v, m in ((126, 16, 1, 64), (32, 3, 1, 12), (30, 4, 1, 3), (126, 8, 1, 8), (9, 8, 1, 16),
                             (64, 4, 2, 8), (60, 6, 2, 12)):
        split = stage_layer_split(layers, pp)
        peaks = []
        for r, ops in enumerate(stage_orders("interleaved" if v > 1 else "1f1b", pp, m, v)):
            cur = top = 0
            for kind, _, _ in ops:
                cur += 1 if kind == "F" else -1
                top = max(top, cur)
            peaks.append(split[r] * top / v)
        assert _peak(layers, pp, m, v, "interleaved" if v > 1 else "1f1b") == pytest.approx(max(peaks)), \
            (layers, pp, v, m)


@pytest.mark.parametrize("layers", [32, 61, 80, 126, 9, 95])
def test_split_is_the_one_the_step_time_prices_and_emit_launches(layers):
    for pp in range(1, min(layers, 16) + 1):
        split = stage_layer_split(layers, pp)
        assert sum(split) == layers and len(split) == pp and min(split) >= 0
        n, _, _ = slowest_stage(layers, np.array([pp]), 1.0, 0.5)
        assert max(split) == n[0]  # the fullest rank is the one slowest_stage paces the step by
        flags = megatron_pipeline_split(layers, pp, 1)
        f = dict(zip(flags[::2], flags[1::2]))
        if "--decoder-first-pipeline-num-layers" in f:
            assert (int(f["--decoder-first-pipeline-num-layers"]),
                    int(f["--decoder-last-pipeline-num-layers"])) == (split[0], split[-1])


def _job(preset, pp):
    return load_job_dict({"model": {"preset": preset},
                          "training": {"framework": "megatron-core", "seq_len": 8192, "global_batch": 512,
                                       "micro_batch": 1, "tokens": 1e10},
                          "cluster": {"instance": "aws:p5.48xlarge", "nodes": 16},
                          "parallel": {"tp": 8, "pp": pp, "zero": 1}})


@pytest.mark.parametrize("preset,pp,layers_even,want", [("llama3.1-405b", 16, 128, 120 / 128),
                                                        ("llama3-8b", 3, 33, 30 / 33)])
def test_memory_per_gpu_activations_follow_the_peak_rank(preset, pp, layers_even, want):
    """End to end: the model against the same model with layers_even layers (ceil(L/pp) on every rank, the old
    count): the activations scale by the layer-micro-batches, within the embedding output and the recompute
    working set (< 1%). Before the fix both read the same."""
    j = _job(preset, pp)
    m2 = j.model.model_copy(update={"layers": layers_even})
    c = _cands(pp)
    a = float(memory_per_gpu(j.model, j.training, c)["activations"][0])
    b = float(memory_per_gpu(m2, j.training, c)["activations"][0])
    assert a / b == pytest.approx(want, rel=0.01)
    assert a / b < 0.99


@pytest.mark.parametrize("pp,v", [(3, 1), (4, 1), (16, 1), (4, 2), (8, 4)])
def test_every_ranks_in_flight_count_is_megatrons(pp, v):
    """``inflight_microbatches`` at every rank (not only the first and last) against the installed Megatron-Core's
    ``get_pp_rank_microbatches``: warm-up chunk forwards of rank r plus the first steady one, in stage units."""
    pytest.importorskip("megatron.core")
    from types import SimpleNamespace

    from megatron.core.pipeline_parallel.schedules import get_pp_rank_microbatches

    from planner.model.memory_stages import inflight_microbatches

    for m in (pp, 2 * pp, 64):
        c = _cands(pp, v, "interleaved" if v > 1 else "1f1b")
        for rank in range(pp):
            group = SimpleNamespace(size=lambda: pp, rank=lambda r=rank: r)
            comm = SimpleNamespace(pp_group=group, virtual_pipeline_model_parallel_size=v if v > 1 else None)
            total, _, warm, _ = get_pp_rank_microbatches(m, v, pp, p2p_communicator=comm)
            got = float(inflight_microbatches(c, np.array([float(m)]), rank=rank)[0])
            assert got == pytest.approx(min(warm + 1, total) / v), (pp, v, m, rank)
