"""DualPipeV's stages in memory as in time and launch (dpv36): torchtitan splits the layers over 2 pp stages
(``generate_llm_fqn_per_model_part(num_stages=2 pp)``) and rank r runs stages r and 2 pp - 1 - r
(``stage_ids_this_rank(style="v")``), so rank 0 holds the embedding's stage and the head's. The memory model, the
step time's pacing rank and --emit's less-layers pair read that one split, placed as the V. Before it, memory took the
pp-stage split (c.vpp 1), the step time summed the 2 pp stages as a loop with the head on the last rank, and the open
less-layers choice was skipped (0 / 0)."""
from __future__ import annotations

import shlex

import numpy as np
import pytest

from planner.layout import V_SPLIT
from planner.model.pipeline import (BalancedSplit, TitanSplit, split_runtime, stage_layer_split, stage_ranks,
                                    titan_counts, titan_less_layers)
from planner.model.stacks import from_training
from planner.model.step_time import slowest_stage
from planner.present.emit import emit_launch_spec
from planner.results import jsonable
from planner.simulate.config import SimConfig
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _job(preset, pp, dp, schedule="dualpipev", zero=3, nodes=4):
    return load_job_dict({
        "model": {"preset": preset},
        "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "recompute": "none", "tokens": 1e10,
                     "framework": {"name": "torchtitan", "compile": False}},
        "parallel": {"tp": 1, "pp": pp, "dp": dp, "zero": zero, "schedule": schedule},
        "cluster": {"instance": "aws:p5.48xlarge", "nodes": nodes},
    })


def _argv(job, plan):
    argv = shlex.split(emit_launch_spec(job, jsonable(plan), "torchrun"), comments=True)
    return lambda k: int(argv[argv.index("--parallelism.pipeline_parallel_" + k) + 1])


def test_v_places_the_first_and_last_stage_on_rank_0():
    """torchtitan's ``stage_v_pairs``: zip(range(pp), range(2 pp - 1, pp - 1, -1))."""
    for pp in (2, 4, 8):
        want = [0] * (2 * pp)
        for r, pair in enumerate(zip(range(pp), range(2 * pp - 1, pp - 1, -1))):
            for s in pair:
                want[s] = r
        assert stage_ranks(pp, 2 * pp, V_SPLIT).tolist() == want


def test_pacing_rank_holds_the_head_beside_the_first_stage():
    """26 layers on DualPipeV PP4 (torchtitan's plain split of 8 stages: 4, 4, 3 x 6): ranks 7, 7, 6, 6 with the
    head on rank 0, which paces (7 + 2.5); summed as a loop with the head on the last rank it read 6 + 2.5."""
    n, head, _ = slowest_stage(26, np.array([4.0]), 1.0, 2.5, chunks=V_SPLIT, runtime="torchtitan")
    assert (float(n[0]), float(head[0])) == (7.0, 1.0)
    n, head, _ = slowest_stage(26, np.array([4.0]), 1.0, 0.5, chunks=V_SPLIT, runtime="torchtitan")
    assert float(n[0]) == 7.0  # a light head: rank 0's 7 layers (+ 0.5) still the fullest


def test_open_pair_is_chosen_on_the_v():
    """Qwen2.5-7B's 28 layers on DualPipeV PP8: the plain 16-stage split (2 x 12, 1 x 4) puts 3 layers and the head
    on rank 0; the open choice takes (2, 2): rank 0 only the embedding and the head, 4 layers on every other rank.
    (Before, DualPipeV's open pair was 0 / 0, whose 2-layer stages torchtitan builds as 14, not 16.)"""
    w = BalancedSplit(2.3, 0.1, 0.3)
    assert titan_less_layers(28, 8, V_SPLIT, TitanSplit(weights=w)) == (2, 2)
    assert titan_less_layers(28, 8, 1, TitanSplit(weights=w)) == (1, 2)  # the 1F1B choice, unchanged
    assert titan_less_layers(28, 8, 2, TitanSplit(weights=w)) == (0, 0)  # interleaved (loop) stays plain


def test_memory_time_and_launch_read_one_split(catalog):
    """The plan that the old code refused (torchtitan builds 0 / 0's 2-layer stages as 14, not 16): the launch's pair
    and layers per stage, the memory model's ranks and the pacing rank are the same V of 16 stages; estimate and
    simulator agree."""
    job = _job("qwen2.5-7b", 8, 4)
    plan = estimate_job(job, catalog)
    flag = _argv(job, plan)
    less = flag("first_stage_less_layers"), flag("last_stage_less_layers")
    runtime = split_runtime(from_training(job.training), job.model)
    counts = titan_counts(28, 16, *less)
    assert less == (2, 2) and flag("layers_per_stage") == 2 and counts[0] == counts[-1] == 0
    v_ranks = np.bincount(stage_ranks(8, 16, V_SPLIT), counts, minlength=8).tolist()
    assert stage_layer_split(28, 8, V_SPLIT, runtime) == v_ranks == [0] + [4] * 7
    cfg = SimConfig.from_estimate(jsonable(plan), job)
    assert cfg.pipeline.analytic_step_time() == pytest.approx(plan.step_time_s, rel=1e-9)


def test_rank_0_holds_both_ends_in_memory(catalog):
    """Llama-3-8B on PP4 (8 layers a rank either way): under 1F1B the fullest rank holds 8 layers and one end; under
    DualPipeV's V rank 0 holds 8 layers, the embedding and the output layer, one 128,256 x 4,096 table more
    (0.525B parameters, 16-bit weights); before, memory priced the DualPipeV rows as 1F1B's ends."""
    one = estimate_job(_job("llama3-8b", 4, 8, "1f1b", zero=0), catalog).memory_per_gpu_bytes
    dual = estimate_job(_job("llama3-8b", 4, 8, zero=0), catalog).memory_per_gpu_bytes
    table = 128256 * 4096
    assert dual.weights - one.weights == pytest.approx(2.0 * table, rel=0.02)
    assert dual.grads - one.grads == pytest.approx(4.0 * table, rel=0.02)  # fp32 gradients
    assert dual.logits > 0  # the loss's logits on the same rank
