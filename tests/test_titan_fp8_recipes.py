"""torchtitan's fp8 recipes: its Float8LinearConverter's ``recipe_name`` (default rowwise) takes tensorwise in every
version but the 0.3.0 release (main @026c75f2: ``Literal["tensorwise", "rowwise", "rowwise_with_gw_hp"]``; the 2025
Float8Converter @ce5ace24: None = tensorwise; 0.3.0: rowwise | rowwise_with_gw_hp), and MXFP8 through its MX
converter. Until tfp59 tensorwise was refused (0.3.0's list), so an unseen published tensorwise run was too."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.model.stack_rules import FP8_RECIPES
from planner.model.stacks import from_training
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _job(recipe=None):
    fw = {"name": "torchtitan", **({"fp8_recipe": recipe} if recipe else {})}
    return {"model": {"preset": "llama3-8b"},
            "training": {"seq_len": 8192, "global_batch": 64, "precision": "fp8", "tokens": 1e10, "framework": fw},
            "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 3},
            "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


def _estimate(recipe, tp=1):
    job = _job(recipe)
    job["parallel"] = {"tp": tp, "pp": 1, "dp": 8 // tp, "zero": 3}
    return estimate_job(load_job_dict(job))


def test_rowwise_is_the_default():
    job = load_job_dict(_job())
    assert from_training(job.training).fp8_recipe == "rowwise"
    assert estimate_job(job).step_time_s > 0


def test_tensorwise_estimates_and_differs_from_rowwise_by_its_kernels(monkeypatch):
    """A torchtitan tensorwise job is priced (it was refused: "torchtitan has no tensorwise fp8_recipe"), faster than
    rowwise by what the recipes' kernels differ in (stack_kernels RECIPES: per-tensor-scaled GEMMs nearer the FP8
    peak, fewer cast bytes): at TP 1 rowwise given tensorwise's GEMM rate and casts prices the same step (FSDP2
    gathers the 16-bit weights under both: ``enable_fsdp_float8_all_gather`` is off by default); at TP 2 tensorwise
    is faster still, its TP all-gathers in float8 (torchao Float8ColwiseParallel, ``quantised_tp_gathers``)."""
    from dataclasses import replace

    from planner.model import stack_kernels

    tw = {tp: _estimate("tensorwise", tp).step_time_s for tp in (1, 2)}
    rw = {tp: _estimate("rowwise", tp).step_time_s for tp in (1, 2)}
    assert all(0 < tw[tp] < 0.97 * rw[tp] for tp in (1, 2))
    kernels = stack_kernels.RECIPES["tensorwise"]
    monkeypatch.setitem(stack_kernels.RECIPES, "rowwise", replace(
        stack_kernels.RECIPES["rowwise"], gemm_rel=kernels.gemm_rel, cast_bytes=kernels.cast_bytes))
    assert _estimate("rowwise", 1).step_time_s == pytest.approx(tw[1], rel=1e-9)
    assert tw[2] < _estimate("rowwise", 2).step_time_s * (1 - 1e-3)


def test_recipes_are_the_installed_converters():
    """Where torchtitan is installed, its float8 converter's recipe names (read from its source: importing it needs
    triton) are the table's float8 recipes, tensorwise aside where it is 0.3.0 (the one release without it: the table
    follows main's and the 2024-25 versions'), and its default recipe is the stack's."""
    spec = importlib.util.find_spec("torchtitan")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchtitan not installed")
    src = Path(list(spec.submodule_search_locations)[0]) / "components" / "quantization" / "float8.py"
    m = re.search(r'recipe_name: Literal\[([^\]]*)\] = "(\w+)"', src.read_text())
    assert m, src
    names = set(re.findall(r'"([^"]+)"', m.group(1))) - {"rowwise_with_gw_hp"}  # rowwise's kernels, 16-bit wgrad
    if "tensorwise" not in names:
        assert importlib.metadata.version("torchtitan") == "0.3.0"
    assert set(FP8_RECIPES["torchtitan"]) - {"mxfp8"} == names | {"tensorwise"}
    assert m.group(2) == from_training(load_job_dict(_job()).training).fp8_recipe
