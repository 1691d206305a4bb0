"""torchtitan 0.3's fp8 recipes: its Float8LinearConverter takes ``recipe_name`` rowwise | rowwise_with_gw_hp (no
tensorwise, which the torchtitan stack used to price by default), and MXFP8 through its MX converter."""
from __future__ import annotations

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


def test_tensorwise_is_refused_and_rowwise_is_the_default():
    with pytest.raises(InputError) as e:
        estimate_job(load_job_dict(_job("tensorwise")))
    assert e.value.field == "training.framework.fp8_recipe"
    job = load_job_dict(_job())
    assert from_training(job.training).fp8_recipe == "rowwise"
    assert estimate_job(job).step_time_s > 0


def test_recipes_are_the_installed_converters():
    """Where torchtitan is installed, its float8 converter's recipe names (read from its source: importing it needs
    triton) hold every float8 recipe the table gives, and no tensorwise."""
    spec = importlib.util.find_spec("torchtitan")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchtitan not installed")
    src = Path(list(spec.submodule_search_locations)[0]) / "components" / "quantization" / "float8.py"
    m = re.search(r"recipe_name: Literal\[([^\]]*)\]", src.read_text())
    assert m, src
    names = set(re.findall(r'"([^"]+)"', m.group(1)))
    assert set(FP8_RECIPES["torchtitan"]) - {"mxfp8"} <= names
    assert "tensorwise" not in names
