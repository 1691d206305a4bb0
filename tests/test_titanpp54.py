"""torchtitan's pipeline run per gradient-accumulation step (titanpp54): trainer.py 0.3 runs ``global / (local x dp)``
accumulation steps, each one ``pp_schedule.step`` over ``local / pipeline_parallel_microbatch_size`` micro-batches, so
the stack option ``pp_pass_microbatches`` (Stack.has_pp_pass, NeMo AutoModel's until now) holds on torchtitan: a bubble
per run (pipeline.step_composition), torch.distributed.pipelining's receive buffers and micro-batches in flight per run
(pipeline.run_microbatches, memory_activations.rank_activations), the emitted ``--training.local_batch_size`` =
micro-batch x the run (emit.titan_local_batch), and recommend's bounded search over it (space.PASS_CHOICES)."""
import shlex

import numpy as np
import pytest

from planner.errors import InputError
from planner.model.stacks import resolve
from planner.present.emit import emit_launch_spec, titan_local_batch
from planner.search.space import PASS_CHOICES, pass_rows, stack_variants
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _job(pass_m=None, parallel=None, recompute="selective"):
    fw = {"name": "torchtitan"} | ({} if pass_m is None else {"pp_pass_microbatches": pass_m})
    return load_job_dict({
        "model": {"preset": "llama3-70b"},
        "training": {"seq_len": 8192, "global_batch": 1024, "micro_batch": 1, "recompute": recompute,
                     "precision": "bf16", "tokens": 1.5e13, "framework": fw},
        **({"parallel": parallel} if parallel is not None else {}),
        "cluster": {"gpu": "H100-SXM-80GB", "nodes": 4}})


LAYOUT = {"tp": 8, "pp": 4, "dp": 1, "zero": 3, "schedule": "1f1b"}  # 1024 micro-batches a step


def test_70b_pipeline_of_1024_microbatches_fits_in_passes_of_64_with_a_bubble_each():
    """Llama-3-70B TP8 PP4 DP1 on 4 H100 nodes, 1024 micro-batches a step: one pass holds 1024 gradient and forward
    receive buffers a rank (memory_stages.recv_buffers) and does not fit; 16 passes of 64 hold 64 and fit, at 16
    bubbles of a 64-micro-batch run (the same stage times: the bubble is 16 x the one-pass bubble at PP4 1F1B)."""
    whole, passes = estimate_job(_job(None, LAYOUT)), estimate_job(_job(64, LAYOUT))
    assert whole["config"]["num_microbatches"] == passes["config"]["num_microbatches"] == 1024
    assert not whole["fits"] and passes["fits"]
    mw, mp = whole["memory_per_gpu_bytes"], passes["memory_per_gpu_bytes"]
    assert mp["activations"] < 0.5 * mw["activations"]
    assert passes["breakdown_s"]["bubble"] == pytest.approx(16 * whole["breakdown_s"]["bubble"], rel=1e-6)
    assert passes["config"]["pp_pass_microbatches"] == 64 and "pp_pass_microbatches" not in whole["config"]


def _local_batch(plan, job) -> int:
    argv = [t for t in shlex.split(emit_launch_spec(job, plan, "torchrun"), comments=True) if t.strip()]
    return int(argv[argv.index("--training.local_batch_size") + 1])


def test_emitted_local_batch_is_the_pass_and_a_non_dividing_pass_is_refused():
    """--training.local_batch_size = micro-batch x the pass (torchtitan accumulates 1024 / 64 = 16 of them); without a
    pass the replica's whole batch, as before; a pass that does not divide the step is refused in one line."""
    assert _local_batch(estimate_job(job := _job(64, LAYOUT)), job) == 64
    assert _local_batch(estimate_job(job := _job(None, LAYOUT)), job) == 1024
    cfg = {"pp": 4, "dp": 2, "micro_batch": 2}
    assert titan_local_batch(1024, cfg) == 512 and titan_local_batch(1024, cfg | {"pp_pass_microbatches": 32}) == 64
    assert titan_local_batch(1024, cfg | {"pp_pass_microbatches": 4096}) == 512  # longer than the step: one pass
    with pytest.raises(InputError, match="pp_pass_microbatches"):
        titan_local_batch(1024, cfg | {"pp_pass_microbatches": 48})


def test_recommend_searches_a_bounded_set_of_passes_and_keeps_the_users():
    """The option left open: the whole step first, then PASS_CHOICES as a chain of fallbacks (each only where the
    larger pass before it does not fit or does not divide the step: its parent, ``relay``); set by the job: that value
    on every variant, no axis."""
    open_ = stack_variants(_job(None))
    passes = [v.values.get("pp_pass_microbatches") for v in open_]
    assert passes[0] is None and set(passes) == {None, *PASS_CHOICES}
    before = dict(zip(PASS_CHOICES, (None,) + PASS_CHOICES))
    for v in open_:  # each size tried only where the next larger one (the whole step first) misfits or does not run
        if v.values["pp_pass_microbatches"] is not None:
            larger = {**v.values, "pp_pass_microbatches": before[v.values["pp_pass_microbatches"]]}
            assert larger in [open_[i].values for i in v.parents] and v.relay
            assert v.root is None  # no could_fit screen: it frees terms the screen does not split out
    kept = stack_variants(_job(16))
    assert all("pp_pass_microbatches" not in v.values and v.stack.pp_pass_microbatches == 16 for v in kept)
    assert resolve("torchtitan", pp_pass_microbatches=16).pp_pass_microbatches == 16


def test_a_pass_runs_only_where_it_divides_the_step_into_whole_rounds_of_pp():
    """pass_rows: PP > 1, several passes, a whole number of them (trainer.py's global % (local x dp) == 0), each a
    multiple of PP."""
    from types import SimpleNamespace
    c = SimpleNamespace(pp=np.array([1, 4, 4, 4, 8, 4]), mb=np.array([1, 1, 1, 2, 1, 3]),
                        dp=np.array([1, 1, 16, 1, 1, 1]))
    assert pass_rows(c, 1024, 16).tolist() == [False, True, True, True, True, False]
    assert pass_rows(c, 1024, 64).tolist() == [False, True, False, True, True, False]  # DP16: the step is one pass
    assert pass_rows(c, 1024, 4).tolist() == [False, True, True, True, False, False]  # PP8: 4 is not a round


def test_a_pass_that_does_not_divide_the_step_is_refused_by_estimate():
    """Stack rule titan-pp-pass: torchtitan stops where global % (local x dp) != 0, so estimate refuses 48 of 1024
    micro-batches in one line, and keeps a pass longer than the step (one run)."""
    with pytest.raises(InputError, match="pp_pass_microbatches"):
        estimate_job(_job(48, LAYOUT))
    assert estimate_job(_job(4096, LAYOUT))["breakdown_s"]["bubble"] == pytest.approx(
        estimate_job(_job(None, LAYOUT))["breakdown_s"]["bubble"])


def test_a_pass_the_job_sets_leaves_the_layouts_without_a_pipeline_in_the_search():
    """The job's own pass filters no layout (only a searched one runs where it divides the step: pass_rows); the
    one-stage layouts stay, with the pass written only where PP > 1."""
    from planner.layout import Candidates
    c = Candidates(**{k: np.array(v) for k, v in dict(
        tp=[8, 8], pp=[1, 4], dp=[4, 2], cp=[1, 1], ep=[1, 1], vpp=[1, 1], zero=[3, 3], mb=[1, 1], rc=[1, 1],
        sp=[True, True], schedule=[0, 0], gpus_per_node=[8, 8], nodes=[4, 8]).items()})
    base = stack_variants(_job(16))[0]
    assert base.rows(c).tolist() == [True, True]
    searched = next(v for v in stack_variants(_job(None)) if v.values.get("pp_pass_microbatches") == 16)
    assert searched.rows(c).tolist() == [False, True]
