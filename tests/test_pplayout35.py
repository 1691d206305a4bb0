"""The pipeline split a Megatron-Core job leaves open (pplayout35): of the splits Megatron-Core accepts
(``--decoder-first/last-pipeline-num-layers``, ``--pipeline-model-parallel-layout``), the one whose pacing stage is
lightest without needing more memory than Megatron's own split (planner.model.pipeline ``BalancedSplit``); priced,
printed and launched alike, and a split the job fixes kept."""
from __future__ import annotations

import pytest

from planner.model.pipeline import BalancedSplit, pipeline_split, split_runtime, stage_layer_split
from planner.model.stacks import from_training
from planner.present.emit import megatron_pipeline_split
from planner.spec import load_job_dict
from planner.spec.presets import PRESETS, ModelSpec
from planner.units import config_str
from planner.workloads.training import estimate_job

DSV3_OLD = (2,) + (4,) * 14 + (3,)  # Megatron's first/last split of 61 layers on PP16, the heads and MTP beside 3


def _dsv3_job(layout=None):
    fw = {"name": "megatron-core", **({"pp_layout": layout} if layout else {})}
    return {"model": {"preset": "deepseek-v3"},
            "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "precision": "bf16",
                         "recompute": "full", "tokens": 1e11, "framework": fw},
            "parallel": {"tp": 1, "pp": 16, "dp": 8, "ep": 8, "zero": 1},
            "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 16}}


def test_dsv3_pp16_open_split_is_lighter_than_megatrons():
    m = ModelSpec(**PRESETS["deepseek-v3"])
    rt = split_runtime(from_training(load_job_dict(_dsv3_job()).training), m)
    assert isinstance(rt, BalancedSplit) and rt.head > 3  # two LM heads + the MTP layer: > 3 mean layers of FLOPs
    assert pipeline_split(61, 16, 1, "megatron")[1] == DSV3_OLD
    form, counts = pipeline_split(61, 16, 1, rt)
    assert form == "balanced" and counts != DSV3_OLD and counts == (3,) + (4,) * 14 + (2,)
    pace = lambda c: max(max(c[:-1]), c[-1] + rt.head)  # noqa: E731
    assert pace(counts) < pace(DSV3_OLD)
    # no rank more layer-micro-batches in flight under 1F1B than Megatron's split's fullest (rank 1: 4 x 15)
    assert max(n * (16 - r) for r, n in enumerate(counts)) <= max(n * (16 - r) for r, n in enumerate(DSV3_OLD))
    # launched as priced: Megatron's first/last flags with the middle ranks even
    assert megatron_pipeline_split(61, 16, 1, 1, None, rt) == [
        "--decoder-first-pipeline-num-layers", "3", "--decoder-last-pipeline-num-layers", "2"]


def test_dsv3_estimate_prices_prints_and_keeps_a_fixed_split(catalog):
    """estimate prices the open split (faster than Megatron's own, written as an explicit layout), prints it in the
    layout line and the JSON's rank_layers; a job's own layout is kept."""
    old = "E" + "|".join(["tt"] + ["tttt"] * 14 + ["tttmL"])
    own = estimate_job(load_job_dict(_dsv3_job()), catalog)
    fixed = estimate_job(load_job_dict(_dsv3_job(old)), catalog)
    assert own.config.rank_layers == (3,) + (4,) * 14 + (2,) and own.config.pp_layout is None
    assert fixed.config.rank_layers == DSV3_OLD and fixed.config.pp_layout == old
    assert own.step_time_s < fixed.step_time_s * 0.99
    assert "split:3/4x14/2" in config_str(own.config.to_dict() if hasattr(own.config, "to_dict") else dict(own.config))
    assert "rank_layers" in own.config.keys()


def test_llama405b_pp16_keeps_first_last_one_short():
    """Llama-3.1-405B's 126 layers on PP16: Megatron's documented split, the first and last stages one layer short
    (7, 8 x 14, 7: what --account-for-embedding/loss-in-pipeline-split give), is already the lightest pacing stage
    (the fullest rank's 8 layers pace it; a lighter head stage cannot go under ceil(126 / 16)): kept."""
    m = ModelSpec(**PRESETS["llama3.1-405b"])
    rt = split_runtime(from_training(load_job_dict(_dsv3_job()).training), m)
    assert stage_layer_split(126, 16, 1, rt) == [7] + [8] * 14 + [7]
    assert pipeline_split(126, 16, 1, rt)[0] == "first_last"


@pytest.mark.parametrize("name", ["torchtitan", "hf-trainer"])
def test_other_stacks_keep_their_split(name):
    m = ModelSpec(**PRESETS["deepseek-v3"])
    job = _dsv3_job()
    job["training"]["framework"] = {"name": name}
    assert not isinstance(split_runtime(from_training(load_job_dict(job).training), m), BalancedSplit)


def _h800_job(headroom):
    """QA 45's DeepSeek-V3 job (docs/accuracy_log.md "DeepSeek-V3's published run, term by term"): the balanced split
    needs 76.0 GiB on its first stage, Megatron's own 72.7 GiB (74.1 / 70.8 at pplayout35, 75.0 / 71.7 before dsdense38
    priced the three dense layers' saved MLP rows at their own 18432)."""
    return {"model": {"preset": "deepseek-v3"},
            "training": {"seq_len": 4096, "global_batch": 15360, "precision": "fp8", "tokens": 1.48e13,
                         "micro_batch": 1, "recompute": "selective",
                         "recompute_modules": ["mla_up_proj", "layernorm", "moe_act"], "framework": "megatron-core"},
            "parallel": {"tp": 1, "pp": 16, "dp": 128, "ep": 64, "zero": 1},
            "cluster": {"gpu": "H800-SXM-80GB", "nodes": 256}, "constraints": {"memory_headroom": headroom}}


def test_estimate_falls_back_to_megatrons_split_where_the_balanced_one_does_not_fit(catalog):
    roomy = estimate_job(load_job_dict(_h800_job(0.04)), catalog)  # 76.8 GiB allowed: the balanced split fits
    tight = estimate_job(load_job_dict(_h800_job(0.08)), catalog)  # 73.6 GiB allowed: only Megatron's does
    assert roomy.config.rank_layers == (3,) + (4,) * 14 + (2,) and roomy.config.pp_split is None
    assert tight.config.rank_layers == DSV3_OLD and tight.config.pp_split == "megatron"
    assert tight.fits and roomy.fits and tight.step_time_s > roomy.step_time_s
    assert any("pp_split" in a for a in tight.assumptions)


def test_recommend_tries_megatrons_split_only_where_the_balanced_one_misfits():
    from planner.search.space import stack_variants
    job = _dsv3_job()
    job["parallel"] = {"tp": 1, "ep": 8, "zero": 1}  # pp open
    vs = stack_variants(load_job_dict(job))
    split = [(i, v) for i, v in enumerate(vs) if v.values.get("pp_split") == "megatron"]
    assert split and all(v.min_pp == 2 and v.root is None for _, v in split)
    for i, v in split:  # among its parents (tried only where none fits): the same combination on the balanced split
        assert {**v.values, "pp_split": "balanced"} in [vs[q].values for q in v.parents]
    # tried only on rows whose balanced split is not Megatron's: PP16 (3, 4 x 14, 2), not PP 4 (the same 14, 16, 16, 15)
    from planner.layout import Candidates
    import numpy as np
    c = Candidates.layouts(*(np.array([1, 1]), np.array([16, 4]), np.array([8, 32]), np.array([1, 1]),
                             np.array([8, 8]), np.array([1, 1])))
    c.vpp = np.array([1, 1])
    assert split[0][1].rows(c).tolist() == [True, False]
    job["training"]["framework"] = {"name": "megatron-core", "pp_split": "megatron"}  # fixed: kept, not searched
    assert all("pp_split" not in v.values for v in stack_variants(load_job_dict(job)))
    job["training"]["framework"] = {"name": "torchtitan"}  # torchtitan's own split is its fallback (pipe36)
    assert {v.values.get("pp_split") for v in stack_variants(load_job_dict(job))} == {"balanced", "torchtitan"}
