"""mem57d: torch.distributed.pipelining's last stage holds each micro-batch's own output through that micro-batch's
backward (``fwd_cache``; memory_activations ``pp_held_output``), even with ``step(return_outputs=False)``."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from planner.layout import Candidates
from planner.model import stacks
from planner.model.memory import GiB, memory_per_gpu
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS

TRUTH = json.loads((Path(__file__).parent / "data" / "pp_outputs_truth.json").read_text())
HELD = 4096 * 32000 * 2.0  # one micro-batch of 4,096 tokens over llama2-7b's 32,000 vocabulary, bf16, tp 1


def _case(pp, global_batch=64, zero=0):
    """llama2-7b on torchtitan, full recompute, tp 1: its small vocabulary leaves the loss's buffers under the last
    layer's rebuild plus the held output, so the held output sets the last stage's loss term."""
    m = ModelSpec(**PRESETS["llama2-7b"])
    t = TrainingSpec(seq_len=4096, global_batch=global_batch, micro_batch=1, precision="bf16", weights="megatron",
                     grad_dtype="fp32", recompute="full")
    c = Candidates(tp=np.array([1]), pp=pp, dp=1, cp=1, ep=1, vpp=1, zero=zero, mb=1, rc=2, sp=True, schedule=0,
                   gpus_per_node=8, nodes=4)
    return m, t, c, stacks.resolve("torchtitan")


def _last(m, t, c, st):
    return float(memory_per_gpu(m, t, c, stack=st)["total_last"][0])


def test_truth_one_output_alive_in_each_backward():
    """The gloo 1F1B step with ``return_outputs=False``: exactly one last-stage output alive at every micro-batch's
    backward (its own; the list counts the schedule's backwards, 9 for 8 micro-batches), none after the step."""
    run = TRUTH["ranks"]["1"]["no_return_outputs"]
    assert set(run["alive_in_backward"]) == {1} and len(run["alive_in_backward"]) >= run["microbatches"]
    assert run["held_after"] == 0 and max(run["held_at_loss"]) == 0


def test_pipelined_last_stage_holds_the_output_as_a_holding_loop_does():
    """At pp 4 torchtitan's last stage now prices what a loop holding its output (``Stack.loop_holds_output``) does;
    at pp 1 it does not (``del pred`` before ``backward``), the holding loop one output (plus reserve) more."""
    m, t, c, st = _case(4)
    holds = replace(st, loop_holds_output=True)
    assert _last(m, t, c, st) == _last(m, t, c, holds)
    m, t, c1, st = _case(1)
    grew = _last(m, t, c1, holds) - _last(m, t, c1, st)
    assert HELD <= grew <= HELD * 1.06, grew / GiB


def test_the_unit_term_and_where_it_is_none():
    """One micro-batch's vocab shard in the activation dtype at pp > 1; none at pp 1, none on a stack without torch's
    pipelining (Megatron-Core), none where every output is kept already (the held one is among them)."""
    from planner.model.memory_activations import pp_held_output
    m, t, c, st = _case(4)
    assert np.allclose(pp_held_output(m, st, c, 4096, 2.0), HELD)
    assert np.allclose(pp_held_output(m, st, _case(1)[2], 4096, 2.0), 0.0)
    assert np.allclose(pp_held_output(m, stacks.resolve("megatron"), c, 4096, 2.0), 0.0)
    assert np.allclose(pp_held_output(m, replace(st, pp_kept_output_bytes=4.0), c, 4096, 2.0), 0.0)


def test_kept_outputs_are_not_counted_twice():
    """The 2024-12 rows' kept outputs (4 B, m of them) include the held one: the last stage grows by the kept outputs
    less the held output it already priced, where the old code added the kept on top (m = 4). Under FSDP (ZeRO-3, as
    torchtitan runs): the step's own moment is then the last stage's peak; without it the merge's moment is, whose
    kept outputs are there twice with the activations gone (tests/test_mem58.py)."""
    m, t, c, st = _case(4, global_batch=4, zero=3)
    kept = 4 * 4096 * 32000 * 4.0
    grew = _last(m, t, c, replace(st, pp_kept_output_bytes=4.0)) - _last(m, t, c, st)
    assert kept - HELD <= grew <= (kept - HELD) * 1.06, grew / GiB
