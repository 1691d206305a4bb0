"""torch FSDP1's ``no_sync`` under the HF Trainer (``fsdp_version: 1``, ``Stack.fsdp1_no_sync``) in the step time:
every micro-batch but a step's last runs without the reduce-scatter (torch 2.13 _runtime_utils.py
``_post_backward_hook`` returns before it ``if not state._sync_gradients``); FULL_SHARD still gathers each
micro-batch's forward and backward, SHARD_GRAD_OP once a step (tests/data/fsdp1_truth.json: 10 and 3 all-gathers in
2 micro-batches, test_fsdp1mem52). Timed as NeMo AutoModel's deferred sync (step_time ``rs_last``) at ZeRO-3 and
without ZeRO-2's per-micro-batch reduce-scatters at ZeRO-2."""
from dataclasses import replace

import pytest

from planner.model.stacks import from_training
from planner.model.step_time import step_time
from planner.spec import TrainingSpec

from test_step_time import LLAMA, cands, hw_for


def _times(catalog, zero, gb):
    # two nodes: within one, the bf16 reduce-scatters accelerate runs (hfrs56; fp32 until then) hide under the
    # backward, so skipping them saves less than the held gradients' accumulation passes cost
    c = cands(tp=1, pp=1, dp=16, zero=zero, nodes=2)
    t = TrainingSpec(seq_len=4096, global_batch=gb, micro_batch=1, precision="bf16", recompute="full", weights="amp",
                     framework={"name": "hf-trainer", "fsdp_version": 1})
    st = from_training(t)
    assert st.fsdp1_no_sync
    hw = hw_for(catalog, inter_gbps=400.0)
    # (``fsdp_versions`` emptied: the stack as resolved, version 1, kept as given with the flag on or off)
    return {flag: step_time(LLAMA, t, c, hw, framework=replace(st, fsdp_versions=(), fsdp1_no_sync=flag))
            for flag in (True, False)}


@pytest.mark.parametrize("zero", [2, 3])
def test_no_sync_reduce_scatters_once_a_step(catalog, zero):
    """4 micro-batches a step at DP 16 (2 nodes): under ``no_sync`` the step drops 3 reduce-scatters (ZeRO-3: from the
    per-micro-batch FSDP collectives, which keep their gathers; ZeRO-2: its per-micro-batch reduce-scatters), the
    last one's stays; one micro-batch a step is the last: nothing changes. Until fsdp52b FSDP1 was timed as syncing
    every micro-batch (both flags the same step)."""
    out = _times(catalog, zero, gb=64)
    on, off = out[True], out[False]
    assert float(on["step_time_s"][0]) < float(off["step_time_s"][0])
    if zero == 3:
        assert 0.0 < float(on["comm_zero3"][0]) < float(off["comm_zero3"][0])
    one = _times(catalog, zero, gb=16)
    assert float(one[True]["step_time_s"][0]) == pytest.approx(float(one[False]["step_time_s"][0]), rel=1e-12)
