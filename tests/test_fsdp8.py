"""torchtitan's FSDP2 float8 all-gather as a job option (fsdp8): ``training.framework.fsdp_float8_all_gather``
(torchtitan's float8 ``enable_fsdp_float8_all_gather`` with ``precompute_float8_dynamic_scale_for_fsdp``, default off).
torchao's ``WeightWithDynamicFloat8CastTensor.fsdp_pre_all_gather`` casts the shard to float8, so FSDP2 gathers the
float8 linears' weights at 1 B and holds them gathered at 1 B; the embedding and head stay 16-bit. torchtitan builds it
on the tensorwise path only (a ``recipe_name`` asserts) and only where FSDP shards (``dp_shard_enabled and ...``).
Every test here fails on the code before fsdp8 (the job field did not exist)."""
from __future__ import annotations

import types

import pytest

from planner.errors import InputError
from planner.spec.params import count_params
from planner.model.stack_kernels import RECIPES
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _job(recipe="tensorwise", gather=None, zero=3, nodes=1, stack="torchtitan"):
    fw = {"name": stack, "fp8_recipe": recipe, **({"fsdp_float8_all_gather": gather} if gather is not None else {})}
    return load_job_dict({
        "model": {"preset": "llama3-8b"},
        "training": {"seq_len": 8192, "global_batch": 8 * nodes, "precision": "fp8", "tokens": 1e10, "framework": fw},
        "parallel": {"tp": 1, "pp": 1, "dp": 8 * nodes, "zero": zero},
        "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": nodes}})


def _est(**kw):
    return estimate_job(_job(**kw))


@pytest.mark.parametrize("zero", [2, 3])
def test_gathers_move_float8_linears_and_nothing_else(zero, monkeypatch):
    """On 16 nodes (the gathers cross the NIC) the float8 gathers are faster; with the recipe's gather width put back
    at 2 B the flagged run prices the plain one plus only its per-step amax precompute (a pass over the shard and one
    latency-bound all-reduce: under a millisecond)."""
    off, on = _est(zero=zero, nodes=16).step_time_s, _est(gather=True, zero=zero, nodes=16).step_time_s
    assert on < off * (1 - 5e-3)
    monkeypatch.setitem(RECIPES, "tensorwise", __import__("dataclasses").replace(RECIPES["tensorwise"],
                                                                                 param_gather_bytes=2.0))
    wide = _est(gather=True, zero=zero, nodes=16).step_time_s
    assert 0.0 < wide - off < 1e-3


def test_gathered_weights_are_float8_linears_beside_16bit_ends():
    """ZeRO-3: the two gathered blocks (the one in use and the one prefetched) at 1 B instead of 2; ZeRO-2 (FSDP2
    without reshard after forward: the whole model gathered) the blocks' parameters at 1 B, the embedding and head at
    2 B."""
    job = _job()
    pc = count_params(job.model)
    ends = pc.embedding + pc.lm_head + pc.final_norm
    block = (pc.total - ends) / job.model.layers
    for zero, saved in ((3, 2 * block), (2, pc.total - ends)):
        off = _est(zero=zero).memory_per_gpu_bytes.weights
        on = _est(gather=True, zero=zero).memory_per_gpu_bytes.weights
        assert off - on == pytest.approx(saved * 1.0, rel=1e-6)


def test_refused_with_another_recipe():
    with pytest.raises(InputError, match="fsdp_float8_all_gather.*tensorwise"):
        _est(recipe="rowwise", gather=True)


def test_dropped_without_fsdp_and_said():
    """ZeRO-0 (replicated, torchtitan's dp_shard 1): the converter builds it only ``if dp_shard_enabled``; the plan is
    the plain one's and an assumption line says the option changed nothing there."""
    plain, flagged = _est(zero=0), _est(gather=True, zero=0)
    assert flagged.step_time_s == plain.step_time_s
    assert any("fsdp_float8_all_gather" in a and "ZeRO-0" in a for a in flagged.assumptions)


def test_only_torchtitan_holds_it():
    with pytest.raises(InputError, match="megatron-core has no FSDP2 float8 all-gather switch.*runs on torchtitan"):
        _est(gather=True, stack="megatron-core")


def test_stack_line_and_launch_say_it():
    from planner.present.emit import emit_launch_spec

    job = _job(gather=True)
    best = estimate_job(job)
    assert any("fsdp_float8_all_gather=on" in a for a in best.assumptions)
    assert "enable_fsdp_float8_all_gather" in emit_launch_spec(job, best, "torchrun:fsdp")
    plain = _job()
    assert "enable_fsdp_float8_all_gather" not in emit_launch_spec(plain, estimate_job(plain), "torchrun:fsdp")


def test_validation_maps_it_where_the_source_states_it():
    """torchao's README torchtitan runs say "tensorwise with float8 all-gather"; the titan24 tables only "float8"."""
    from benchmarks.validate import pr2_options

    row = types.SimpleNamespace(id="titan25_ao_h100_fp8_tensorwise", notes="", recompute="selective (op)",
                                precision="fp8 linears (torchao float8 tensorwise, float8 all-gather) + bf16")
    assert pr2_options(row, "torchtitan")["fsdp_float8_all_gather"] is True
    row24 = types.SimpleNamespace(id="titan24_t1_8b_8_fsdp_torchcompile_float8", notes="compile",
                                  recompute="selective", precision="fp8 linears (torchao float8 dynamic) + bf16")
    assert "fsdp_float8_all_gather" not in pr2_options(row24, "torchtitan")
