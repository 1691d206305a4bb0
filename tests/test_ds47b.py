"""ds47b: DeepSpeed ZeRO-3 without ``overlap_comm`` runs its collectives on the compute stream; the stack line's
``overlap_grad_reduce`` reads the same ZeRO rows as the time and the memory.

* deepspeedai/DeepSpeed stage3.py: ``reduce_and_partition_stream = ... Stream() if overlap_comm else
  default_stream()``, the stream ``__reduce_and_partition_ipg_grads`` reduce-scatters on; parameter_offload.py
  ``DeepSpeedZeRoOffload``: ``__allgather_stream`` the same for the gathers. So a deepspeed ZeRO-3 plan with
  ``overlap_grad_reduce`` (``overlap_comm``) off pays its per-micro-batch gathers and reduce-scatters whole
  (``ZeroStreams.z3_streams_by_overlap``, step_time ``z3_on_compute_stream``); FSDP2 (torchtitan) keeps its own
  streams whatever the option.
* ``Stack.overlap_grad_reduce_label`` reads the rows the time reads (since left47 ``stacks.zero_stream_rows``, for
  every job of the stack; tests/test_left47.py).
"""
import numpy as np
import pytest

from benchmarks.validate_offload import estimate
from planner.model.stacks import STACKS
from planner.model.step_time import z3_on_compute_stream
from test_offload47 import ds_job

SERIAL_LINE = "overlap_grad_reduce=off (ZeRO-3: gathers and reduce-scatters on the compute stream)"


def _job(framework, zero, overlap, global_batch=8, weights="megatron"):
    return estimate(ds_job(zero, overlap, weights, global_batch, framework))


def _stack_line(res):
    return next(a for a in res["assumptions"] if a.startswith("training stack:"))


def test_the_deepspeed_zero3_row_says_its_streams_follow_overlap_comm():
    """Per ZeRO stage 0..3: only DeepSpeed's stage 3 moves to the compute stream, and only with the option off; a
    stack without a ZeRO table (torchtitan's FSDP2) never, and its step does not move."""
    cands = type("Candidates", (), {"zero": np.arange(4), "__len__": lambda self: 4})()
    assert list(z3_on_compute_stream(STACKS["deepspeed"], cands, False)) == [False, False, False, True]
    assert not z3_on_compute_stream(STACKS["deepspeed"], cands, True).any()
    assert not z3_on_compute_stream(STACKS["torchtitan"], cands, False).any()
    # torchtitan's FSDP2 all-gathers and reduce-scatters on streams of its own whatever overlap_grad_reduce says
    on, off = (_job("torchtitan", 3, ov) for ov in (True, False))
    assert off["step_time_s"] == pytest.approx(on["step_time_s"], rel=1e-12)
    assert "compute stream" not in _stack_line(off)


@pytest.mark.parametrize("global_batch", [8, 64])
def test_deepspeed_zero3_without_overlap_comm_pays_its_collectives(global_batch):
    """Llama 3 8B ZeRO-3 on 8 H100 (1 and 8 micro-batches): with overlap_comm off the gathers and reduce-scatters
    are exposed whole, and the step grows by exactly what comm_zero3 grows (0.660 -> 0.770 s at one micro-batch,
    comm_zero3 0.034 -> 0.144 s). Before ds47b both read 0.660 s."""
    on, off = (_job("deepspeed", 3, ov, global_batch) for ov in (True, False))
    z_on, z_off = on["breakdown_s"]["comm_zero3"], off["breakdown_s"]["comm_zero3"]
    assert z_off > 3.0 * z_on
    assert off["step_time_s"] - on["step_time_s"] == pytest.approx(z_off - z_on, rel=1e-6)
    assert SERIAL_LINE in _stack_line(off)
    assert "overlap_grad_reduce=on" in _stack_line(on)


def test_stack_line_reads_the_rows_the_time_reads():
    """The line and the time agree: DeepSpeed ZeRO-1 reduces after the backward whatever ``overlap_comm`` says, and
    the line says so. ds47b pinned this for a ``weights: pure`` job as "on" with overlap beating off (its rows were
    the fp32-master state rows); left47 reads the stream rows for every job (tests/test_left47.py)."""
    for weights in ("megatron", "pure"):
        on, off = (_job("deepspeed", 1, ov, weights=weights) for ov in (True, False))
        assert "overlap_grad_reduce=off (ZeRO-1: reduced after the backward)" in _stack_line(on)
        assert on["step_time_s"] == pytest.approx(off["step_time_s"], rel=1e-12)
