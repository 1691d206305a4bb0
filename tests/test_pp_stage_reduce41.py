"""A pipelined FSDP stage reduces its gradients after its backward, not under it (acc41c).

torch.distributed.pipelining runs every backward of an FSDP stage with gradient sync off and then calls the stage's
FSDP ``post_backward`` by hand for all its parameter groups, followed by ``_root_post_backward_final_callback``, which
makes the compute stream wait for the reduction (torch/distributed/pipelining/stage.py ``backward_maybe_with_nosync``
with ``last_backward``, later ``_post_backward`` / ``perform_reduce_grad``; NeMo AutoModel's
``patched_backward_maybe_with_nosync`` the same). So the stage's reduce-scatter is exposed whole, where the bucketed
reduce of a non-pipelined job hides under the last backward. ``step_time.reduce_overlaps_backward``."""
import numpy as np
import pytest

from planner.model.pipeline import exposed_dp_comm
from planner.model.stacks import resolve
from planner.model.step_time import step_time
from planner.spec import TrainingSpec

from test_step_time import LLAMA, cands, hw_for

T = TrainingSpec(seq_len=4096, global_batch=64, micro_batch=1, precision="bf16", recompute="full")


def _run(catalog, stack, pp):
    c = cands(tp=1, pp=pp, dp=8 // pp * 4, zero=3, nodes=4)
    return step_time(LLAMA, T, c, hw_for(catalog, inter_gbps=400.0), framework=resolve(stack))


@pytest.mark.parametrize("stack", ["torchtitan", "nemo-automodel"])
def test_the_pipelined_stage_reduce_is_exposed_whole(catalog, stack):
    """PP 2 on a stack that keeps the stage gathered: the exposed DP time holds the whole reduce-scatter of the stage
    (``t_dp_comm``), not the last bucket the bucketed overlap would leave, and the record tells the simulator so."""
    r = _run(catalog, stack, pp=2)
    t_dp, exposed = float(r["t_dp_comm"][0]), float(r["comm_dp"][0])
    assert t_dp > 0.0
    # what the bucketed overlap would leave: max(t_dp / buckets, t_dp - t_bwd)
    bucketed = exposed_dp_comm(t_dp, float(r["t_bwd_mb"][0]), float(r["dp_buckets"][0]), True)
    assert bucketed < 0.9 * t_dp
    assert exposed >= t_dp * (1.0 - 1e-9)
    assert not bool(np.asarray(r["overlap_grad_reduce"])[0])


def test_without_pp_the_reduce_stays_bucketed_under_the_last_backward(catalog):
    """No pipeline: FSDP's own post-backward hooks reduce unit by unit under the backward (the stack's overlap)."""
    r = _run(catalog, "torchtitan", pp=1)
    assert bool(np.asarray(r["overlap_grad_reduce"])[0])
    t_dp = float(r["t_dp_comm"][0])
    assert float(r["comm_dp"][0]) < 0.5 * t_dp or t_dp == 0.0


def test_a_stack_without_pipelining_hooks_keeps_its_overlap_under_pp(catalog):
    """Megatron-Core's distributed optimizer under PP keeps its bucketed reduce (its own hooks, not pipelining's)."""
    c = cands(tp=1, pp=2, dp=16, zero=1, nodes=4)
    r = step_time(LLAMA, T, c, hw_for(catalog, inter_gbps=400.0), framework=resolve("megatron-core"))
    assert bool(np.asarray(r["overlap_grad_reduce"])[0])
