"""NeMo AutoModel's training loop syncs FSDP2 gradients on the last micro-batch only (``Stack.defer_fsdp_grad_sync``):
train_ft.py ``_forward_backward_step`` wraps each micro-batch in ``get_sync_ctx(model, idx == num_batches - 1)``, which
calls ``set_requires_gradient_sync(is_last)`` on the root FSDPModule (FSDP2Config ``defer_fsdp_grad_sync``, default
True; before the switch, always). Without PP the reduce-scatter runs once per step, the gathers stay per micro-batch,
the unsharded gradients are held; a config that cannot hold them turns it off (the 70B benchmark config)."""
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from planner.errors import InputError
from planner.model.memory import memory_per_gpu
from planner.model.stacks import STACKS, resolve
from planner.model.step_time import step_time
from planner.spec import TrainingSpec

from conftest import ROOT
from test_left19 import _job, _spec_flags
from test_step_time import LLAMA, cands, hw_for

sys.path.insert(0, str(ROOT / "benchmarks"))
AM = "nemo-automodel"


def _times(catalog, pp=1, gb=32, raf=True, **opts):
    c = cands(tp=1, pp=pp, dp=8 // pp, zero=3, nodes=1)
    t = TrainingSpec(seq_len=4096, global_batch=gb, micro_batch=1, precision="bf16", recompute="full")
    out = {}
    for flag in (False, True):
        fw = resolve(AM, **opts, defer_fsdp_grad_sync=flag, reshard_after_forward=raf)
        out[flag] = step_time(LLAMA, t, c, hw_for(catalog, inter_gbps=400.0), framework=fw)
    return out


def test_the_stack_defers_the_gradient_sync_by_default_and_others_refuse_the_option():
    assert STACKS[AM].defer_fsdp_grad_sync is True
    assert resolve(AM, defer_fsdp_grad_sync=False).defer_fsdp_grad_sync is False
    for other in ("megatron-core", "torchtitan"):
        assert STACKS[other].defer_fsdp_grad_sync is False
        with pytest.raises(InputError, match="defer_fsdp_grad_sync"):
            resolve(other, defer_fsdp_grad_sync=True)


@pytest.mark.parametrize("raf", [True, False])
def test_the_reduce_scatter_runs_once_a_step_and_the_gathers_per_micro_batch(catalog, raf):
    """m micro-batches: the per-micro-batch FSDP collectives lose the reduce-scatter (once, in the last backward:
    ``t_dp_comm``), keep their gathers (one a micro-batch, two with reshard after forward); one micro-batch: nothing
    changes."""
    out = _times(catalog, gb=32, raf=raf)  # dp 8, 4 micro-batches
    on, off = out[True], out[False]
    # what the deferred sync adds back: each backward folds its gradient into the held fp32 ones (auto53,
    # step_time.held_grad_accum_bytes), memory-bound time; without it the step is faster
    fold = float(on["compute_memory_bound"][0]) - float(off["compute_memory_bound"][0])
    assert fold > 0.0
    assert float(on["step_time_s"][0]) - fold < float(off["step_time_s"][0])
    assert 0.0 < float(on["comm_zero3"][0]) < float(off["comm_zero3"][0])
    one = _times(catalog, gb=8, raf=raf)  # one micro-batch: the last is the only one
    assert float(one[True]["step_time_s"][0]) == pytest.approx(float(one[False]["step_time_s"][0]), rel=1e-12)


def test_under_pp_pipelining_decides_not_the_loop(catalog):
    out = _times(catalog, pp=2, gb=32)
    assert float(out[True]["step_time_s"][0]) == float(out[False]["step_time_s"][0])


def test_the_unsharded_gradients_are_held_not_the_weights():
    """FSDPParam ``to_accumulated_grad_if_needed``: the unsharded gradient kept in the reduce dtype until the last
    backward; ``set_requires_gradient_sync`` leaves the reshard alone, so the weights stay sharded."""
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1)
    t = TrainingSpec(seq_len=4096, global_batch=32, micro_batch=1, precision="bf16", recompute="full")
    mem = {f: memory_per_gpu(LLAMA, t, c, stack=resolve(AM, defer_fsdp_grad_sync=f, reshard_after_forward=True))
           for f in (False, True)}
    assert float(mem[True]["weights"][0]) == float(mem[False]["weights"][0])
    n = 8.03e9  # Llama-3-8B: fp32 unsharded gradients, 7/8 of them more than the shards
    assert float(mem[True]["grads"][0]) - float(mem[False]["grads"][0]) == pytest.approx(4 * n * 7 / 8, rel=0.05)
    # one micro-batch a step: it is the last, its gradients reduce-scattered as they come
    t1 = TrainingSpec(seq_len=4096, global_batch=8, micro_batch=1, precision="bf16", recompute="full")
    one = {f: memory_per_gpu(LLAMA, t1, c, stack=replace(resolve(AM), defer_fsdp_grad_sync=f)) for f in (False, True)}
    assert float(one[True]["total"][0]) == float(one[False]["total"][0])


def test_the_launch_writes_the_switch_as_timed():
    def val(f, k):
        return f[f.index(k) + 1]

    on = _spec_flags(_job({"framework": {"name": AM}}, {"tp": 1, "pp": 1, "zero": 3}))
    off = _spec_flags(_job({"framework": {"name": AM, "defer_fsdp_grad_sync": False}}, {"tp": 1, "pp": 1, "zero": 3}))
    assert (val(on, "--distributed.defer_fsdp_grad_sync"), val(off, "--distributed.defer_fsdp_grad_sync")) == ("True", "False")
    # MoEFSDPSyncMixin (the fsdp_defer_sync option) is switched by the MoE model's BackendConfig; a dense model has no
    # mixin, and the option is refused there (tests/test_autodense36.py)
    moe = _spec_flags(_job({"framework": {"name": AM, "defer_fsdp_grad_sync": False, "fsdp_defer_sync": True}},
                           {"tp": 1, "pp": 1, "zero": 3, "ep": 8}, model={"preset": "qwen3-30b-a3b"}))
    assert val(moe, "--model.backend.enable_fsdp_optimizations") == "True"
    assert val(moe, "--distributed.defer_fsdp_grad_sync") == "True"


def test_the_automodel_rows_run_the_loop_s_sync_except_the_70b_config_that_turns_it_off(catalog):
    import validate

    d = pd.read_csv(validate.AUTOMODEL_CSV).query("scored")
    for r in d.itertuples():
        case = validate.pr2_case(catalog, r)
        fw = validate.row_stack(case.stack, case.options)
        assert fw.defer_fsdp_grad_sync == ("llama" not in r.id), r.id
    # Super (no PP, 4 micro-batches, 64 GPUs over InfiniBand): the per-micro-batch reduce-scatters were 0.14 s of it
    r = next(d[d.id.str.contains("super")].itertuples())
    case = validate.pr2_case(catalog, r)
    fw = validate.row_stack(case.stack, case.options)
    st = {f: step_time(case.model, case.training, case.candidates, case.hw, framework=replace(fw, defer_fsdp_grad_sync=f))
          for f in (False, True)}
    # ... and the fold of its 4 micro-batches' gradients into the held fp32 ones costs 0.10 s (auto53: 7.9B unsharded
    # parameters a rank, 6 + 3 x 10 B each, and the EP-only experts' bf16 .grad, 3 x 6 B) and one fp32 copy-in (8 B)
    # where syncing each micro-batch copies the bf16 gradients in four times (4 x 6 B): 0.056 s more memory-bound
    fold = float(st[True]["compute_memory_bound"][0]) - float(st[False]["compute_memory_bound"][0])
    assert fold == pytest.approx(0.056, abs=0.005)
    assert (float(st[False]["step_time_s"][0]) - float(st[True]["step_time_s"][0]) + fold
            == pytest.approx(0.136, abs=0.01))
    assert np.isfinite(float(st[True]["step_time_s"][0]))
