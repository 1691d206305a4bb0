"""vpp59: vpp58's leftovers. (1) The app's layouts (planner.interactive ``_layout_rows``) and an empty search's named
rule (planner.search.space ``rule_broken_everywhere``) took the vpp axis as a product, every deeper interleaving at
every pipeline degree, where the search pairs a deeper depth only with the degree it splits (``space.vpp_kept``).
(2) 1-layer model chunks (``defaults.VPP_MIN_CHUNK_LAYERS`` 1): Megatron-Bridge runs Llama-3.1-405B at PP 16 VPP 8
(126 layers + embedding + loss = 128 virtual-stage slots, scripts/performance/configs/llama/
llama31_workload_base_configs.py @0013c9a8: GB200 / B200 NVFP4 V1, GB200 BF16 and FP8-MX V2) and its Llama-3-70B
GB200 SFT preset at PP 8 VPP 10 (80 layers: llama3_workload_base_configs.py, the version with the R100 presets)."""
from __future__ import annotations

import numpy as np
import pytest

from hardware_catalog import load_catalog
from planner import defaults as D
from planner.errors import InputError
from planner.spec import load_job_dict

#: Llama-3.1-405B (126 layers) interleaved, Megatron-Core's uniform full recompute in groups of 6: a model chunk of 6
#: layers is PP 3 x VPP 7 (126 / 21), a pair the search never builds (VPP 7 splits 126 evenly at PP 2 and PP 6 only:
#: ``more_vpps``); every pair it does build leaves a chunk 6 does not divide
_UNIFORM6 = {"model": {"preset": "llama3.1-405b"},
             "training": {"seq_len": 4096, "global_batch": 512, "precision": "bf16", "optimizer": "adamw",
                          "tokens": 1e12, "recompute": "full", "recompute_method": "uniform", "recompute_num_layers": 6,
                          "framework": {"name": "megatron-core"}},
             "parallel": {"schedule": "interleaved"},
             "constraints": {"gpus": ["H100-SXM-80GB"], "clouds": ["aws"], "max_gpus": 1024}}


def test_the_app_judges_the_job_on_the_searchs_pairs():
    """The app's stack controls judge the job on the layouts the search has: Llama-3.1-405B, interleaved, uniform
    recompute groups of 6 runs on no layout the search builds (recommend refuses it on recompute_num_layers), so
    ``_runs`` is False and the page names why. Fails on the old code: its product held PP 3 x VPP 7 (6-layer chunks),
    ``_runs`` was True and the controls were filtered as if the job ran (CUDA graphs offered no choice)."""
    from planner import interactive as wi
    from planner.search.space import job_stack
    from planner.workloads.training import recommend

    job = load_job_dict(_UNIFORM6)
    assert not wi._runs(_UNIFORM6)
    rows = wi._layout_rows(job, job_stack(job))
    pairs = set(zip(rows.pp.tolist(), rows.vpp.tolist()))
    assert (3, 7) not in pairs and {(2, 7), (6, 7), (16, 8)} <= pairs
    with pytest.raises(InputError) as e:
        recommend(job, load_catalog(), simulate=False)
    assert e.value.field == "training.recompute_num_layers"


def test_an_empty_searchs_rule_is_asked_of_the_searchs_pairs(monkeypatch):
    """``rule_broken_everywhere`` asks the layout rules of the (pp, vpp) pairs the search expands (``open_degrees``'
    ``vpp_more``): a rule every layout breaks sees each deeper depth at the pp it splits, and at no other. Fails on
    the old code (the product: VPP 7 at PP 3, VPP 8 at PP 2, ...)."""
    from planner import layout
    from planner.hardware.options import option_from_instance
    from planner.search.space import open_degrees, rule_broken_everywhere

    seen: set = set()

    def never(v, m, t):
        seen.update(zip(np.asarray(v.pp).tolist(), np.asarray(v.vpp).tolist()))
        return np.zeros(np.shape(v.pp), dtype=bool)

    spy = layout.Rule("parallel.vpp", ("pp", "vpp"), never, lambda v, m, t: "never")
    monkeypatch.setattr(layout, "LAYOUT_RULES", (spy,))
    job = load_job_dict({**_UNIFORM6, "training": {**_UNIFORM6["training"], "recompute": "none",
                                                   "recompute_method": None, "recompute_num_layers": None},
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 24}})  # 192 GPUs: PP 3 and 6 divide
    hw = option_from_instance(load_catalog().instance("aws:p5.48xlarge"))
    assert str(rule_broken_everywhere(job, [hw])).endswith("never")
    searched = {(k, v) for k, vs in open_degrees(job, hw.gpus_per_node)["vpp_more"].items() for v in vs}
    assert (3, 7) not in searched and {(2, 7), (6, 7), (16, 8)} <= searched
    assert {(k, v) for k, v in seen if v not in D.VPP} == searched


def test_one_layer_chunks_are_tried():
    """The depths Megatron-Bridge runs with 1-layer chunks: Llama-3.1-405B PP 16 VPP 8 (128 slots with the embedding
    and the loss) and Llama-3-70B PP 8 VPP 10 (80 layers, even); 1-layer chunks only below ``D.VPP_THIN_PER_PP`` x pp
    (DeepSeek-V3's 61 at PP 2 would be VPP 31, Mixtral's 32 at PP 2 VPP 16, Llama-3.1-405B's at PP 8 VPP 16). Fails on
    the old code (2-layer chunks at least: no depth at PP 16, VPP 5 only at PP 8)."""
    from planner.search.space import more_vpps

    assert more_vpps(126, 16) == (8,) and more_vpps(80, 8) == (5, 10) and more_vpps(80, 16) == (5,)
    assert more_vpps(61, 2) == () and more_vpps(32, 2) == (8,) and more_vpps(126, 8) == (8,)
    for layers in (32, 61, 80, 94, 126):
        for pp in D.PP_DEGREES:
            for v in more_vpps(layers, pp):  # the chunk is a whole number of layers, 1 only below the bound
                chunk = max((layers + x) // (pp * v) for x in (0, 1, 2) if (layers + x) % (pp * v) == 0)
                assert chunk >= 2 or v < D.VPP_THIN_PER_PP * pp, (layers, pp, v)


def test_recommend_plans_405b_at_pp16_vpp8():
    """Llama-3.1-405B on 16 p5en (H200) at TP 4 PP 16, global batch 64 x 8,192: the search now tries VPP 8
    (1-layer chunks, Megatron-Bridge's GB200 / B200 recipe) and plans it, faster than the best of VPP 1, 2, 4 (old
    code: VPP 4, 26.92 s; VPP 8 25.72 s). Fails on the old code."""
    from planner.workloads.training import recommend

    def job(**par):
        return load_job_dict({"model": {"preset": "llama3.1-405b"},
                              "training": {"seq_len": 8192, "global_batch": 64, "precision": "bf16",
                                           "optimizer": "adamw", "tokens": 1e12},
                              "parallel": {"tp": 4, "pp": 16, **par},
                              "cluster": {"instance": "aws:p5en.48xlarge", "nodes": 16}})

    cat = load_catalog()
    best = recommend(job(), cat, simulate=False).best
    assert best.config.vpp == 8
    old = min((recommend(job(vpp=v), cat, simulate=False).best for v in D.VPP), key=lambda p: p.step_time_s)
    assert best.step_time_s < old.step_time_s


def test_estimate_405b_pp16_vpp8_is_sane():
    """``estimate`` on the recipe's layout (126 layers, PP 16 x VPP 8: the first and last virtual stages hold the
    embedding and the loss alone) plans it without refusal: Megatron's embedding-and-loss split (7, 14 x 8, 7 layers
    a rank), the pipeline bubble half of VPP 4's, more point-to-point sends, and about VPP 4's memory."""
    from planner.workloads.training import estimate_job

    def job(vpp):
        return load_job_dict({"model": {"preset": "llama3.1-405b"},
                              "training": {"seq_len": 8192, "global_batch": 64, "micro_batch": 1, "precision": "bf16",
                                           "optimizer": "adamw", "tokens": 1e12, "recompute": "full",
                                           "framework": {"name": "megatron-bridge", "pp_split": "megatron"}},
                              "parallel": {"tp": 4, "pp": 16, "vpp": vpp, "cp": 1},
                              "cluster": {"instance": "aws:p5en.48xlarge", "nodes": 16}})

    cat = load_catalog()
    v8, v4 = estimate_job(job(8), cat), estimate_job(job(4), cat)
    assert v8.config.rank_layers == (7,) + (8,) * 14 + (7,)
    assert v8.fits and 0.9 < v8.memory_per_gpu_bytes.total / v4.memory_per_gpu_bytes.total < 1.1
    assert v8.step_time_s < v4.step_time_s < 1.1 * v8.step_time_s
