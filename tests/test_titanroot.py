"""The FSDP2 unit torchtitan leaves outside its per-block units (``Stack.fsdp2_root``, planner.model.memory
``fsdp2_root_gather_params``), counted by hand on Llama 3 8B (vocabulary 128256, hidden 4096, untied):

* "embed_head" (torchtitan before PR #1094, 2025-07): the embedding, final norm and head are the root unit, which
  FSDP2 never reshards after forward -- all 2 x 128256 x 4096 + 4096 parameters gathered in bf16 at the peak;
* "head" (torchtitan since #1094, the stack's default): ``[norm, output]`` is a unit with
  ``reshard_after_forward=False``, gathered beside the last layer prefetched for backward: head + 1 layer where
  the blocks' window counts 2 layers."""
from dataclasses import replace

import numpy as np
import pytest

from planner.layout import Candidates
from planner.model import stacks
from planner.model.memory import fsdp2_root_gather_params, memory_per_gpu
from planner.spec import load_job_dict

LAYER8B = 218_112_000
EMB8B = 128_256 * 4096
HEAD8B = EMB8B + 4096  # LM head + final norm


def _job():
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 4096, "global_batch": 64, "weights": "megatron", "grad_dtype": "fp32", "optimizer": "adamw",
        "framework": {"name": "torchtitan"}}})


def _mem(stack=None, **kw):
    job = _job()
    base = dict(tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8, nodes=1)
    base.update(kw)
    return memory_per_gpu(job.model, job.training, Candidates(**{k: np.atleast_1d(v) for k, v in base.items()}),
                          stack=stack)


def test_torchtitan_default_is_the_head_unit():
    assert stacks.resolve("torchtitan").fsdp2_root == "head"


def test_head_unit_gathered_beside_the_prefetched_layer():
    m = _mem()
    assert m["weights"][0] == pytest.approx(2 * (2 * LAYER8B) + 2 * (HEAD8B - LAYER8B))


def test_root_unit_of_the_2024_torchtitan_gathered_all_step():
    st = replace(stacks.resolve("torchtitan"), fsdp2_root="embed_head")
    m = _mem(st)
    assert m["weights"][0] == pytest.approx(2 * (2 * LAYER8B) + 2 * (EMB8B + HEAD8B))
    assert m["weights"][0] / 2**30 - 2 * 2 * LAYER8B / 2**30 == pytest.approx(1.957, abs=1e-3)


def test_tp_splits_the_units():
    st = replace(stacks.resolve("torchtitan"), fsdp2_root="embed_head")
    m = _mem(st, tp=2, dp=4)
    assert m["weights"][0] == pytest.approx(2 * (2 * LAYER8B / 2) + 2 * (EMB8B + HEAD8B) / 2, rel=1e-3)


def test_no_extra_where_the_stage_stays_gathered_or_not_zero3():
    """ZeRO-2 and PP (torchtitan keeps the stage gathered: ``pp_fsdp_unsharded``) already hold every unit whole."""
    base = stacks.resolve("torchtitan")
    for zero, pp, dp in ((2, 1, 8), (3, 2, 4)):
        a = _mem(base, zero=zero, pp=pp, dp=dp)
        b = _mem(replace(base, fsdp2_root=""), zero=zero, pp=pp, dp=dp)
        assert a["weights"][0] == b["weights"][0]


def test_gather_params_function():
    assert fsdp2_root_gather_params("embed_head", 10.0, 4.0, 3.0) == 10.0
    assert fsdp2_root_gather_params("head", 10.0, 4.0, 3.0) == 1.0
    assert fsdp2_root_gather_params("head", 10.0, 2.0, 3.0) == 0.0  # a head smaller than a layer: the window holds it
    assert fsdp2_root_gather_params("", 10.0, 4.0, 3.0) == 0.0


def test_validate_memory_maps_the_version_each_source_ran():
    from benchmarks.parts_data import read_raw  # noqa: F401 (the data module the mapping reads)
    from benchmarks.validate import row_stack  # noqa: F401
    from benchmarks.validate_memory import CASES, DATA
    import pandas as pd
    from hardware_catalog import load_catalog

    cat = load_catalog()
    for r in pd.read_csv(DATA).query("stack == 'torchtitan'").itertuples():
        st = CASES["torchtitan"](cat, r)[3]
        want = "head" if r.id.startswith("titan25_ao_mi300x") else "embed_head"
        assert st.fsdp2_root == want, r.id
