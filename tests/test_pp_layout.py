"""Megatron-Core's explicit pipeline layout as a job option (``training.framework.pp_layout``,
``--pipeline-model-parallel-layout``): the parser against Megatron's own examples (megatron/core/transformer/
pipeline_parallel_layer_layout.py ``parse_str_to_list`` @00caa53a, its docstring and unrolling comments), the one-line
errors, the per-stage pricing, the JSON, and the --emit round trip."""
from __future__ import annotations

import re

import pytest

from planner.model.pipeline import ExplicitLayout, parse_pp_layout, pipeline_split, stage_layer_split
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job
from conftest import answered, one_error_line, write_job


# ---- the parser ------------------------------------------------------------------------------------------------------

def test_megatron_docstring_example():
    # parse_str_to_list's docstring: "Ettt|(tt|)*29,m|L" -> [["E","t","t","t"]] + [["t","t"]]*29 + [["m"],["L"]]
    assert list(parse_pp_layout("Ettt|(tt|)*29,m|L")) == ["Ettt"] + ["tt"] * 29 + ["m", "L"]


@pytest.mark.parametrize("text, stages", [
    ("(tt)*3", ["tttttt"]),  # "(ab)*3 -> ababab"
    ("Et,(tt|)*2L", ["Ettt", "tt", "L"]),  # "ab,(cd|)*2 -> abcd|cd|"
    ("(|tt)*2,tL", ["", "tt", "tttL"]),  # "(|ab)*2,cd -> |ab|abcd": an empty stage stays
    ("Et*4|(t*4|)*14tmL", ["Etttt"] + ["tttt"] * 14 + ["tmL"]),  # Megatron-Bridge DeepSeek-V3 GB300 / B200
    ("Et|(tt|)*30mL", ["Et"] + ["tt"] * 30 + ["mL"]),  # DeepSeek-V3 H100, PP 8 x VPP 4
])
def test_megatron_unrolling(text, stages):
    assert list(parse_pp_layout(text)) == stages


def test_layout_counts_and_implied_vpp():
    lay = ExplicitLayout.parse("Et*4|(t*4|)*14tmL")
    assert sum(lay.counts) == 61 and len(lay.stages) == 16
    assert (lay.vpp(8), lay.vpp(2), lay.vpp(3)) == (2, 8, None)
    # virtual stage s on rank s % pp (Megatron-Core's 1-D -> 2-D conversion): rank 7 holds stages 7 and 15
    assert stage_layer_split(61, 8, 2, lay) == [8] * 7 + [5]
    assert pipeline_split(61, 8, 2, lay) == ("explicit", lay.counts)


@pytest.mark.parametrize("text, words", [
    ("Et*4|x|tL", "unknown layer character 'x'"),
    ("t*4|EtL", "embedding E must come first"),
    ("Et*4|tLt", "loss L must come last"),
    ("Etmt|L", "before MTP layers"),
    ("Et*30|t*31|m|L", "standalone MTP"),
])
def test_structure_errors(text, words):
    try:
        problem = ExplicitLayout.parse(text).structure_error()
    except ValueError as e:
        problem = str(e)
    assert problem and words in problem


# ---- jobs ------------------------------------------------------------------------------------------------------------

def _job(layout=None, pp=4, vpp=None, preset="llama3-8b", framework="megatron-core", **model):
    fw = {"name": framework, **({"pp_layout": layout} if layout is not None else {})}
    par = {"tp": 1, "pp": pp, "cp": 1, "zero": 1, **({"vpp": vpp} if vpp else {})}
    return {"model": {"preset": preset, **model},
            "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                         "recompute": "full", "tokens": 1e11, "framework": fw},
            "parallel": par, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2}}


@pytest.mark.parametrize("edit, words", [
    (dict(layout="Et*8|t*8|t*8|t*8xL"), "unknown layer character"),
    (dict(layout="Et*8|t*8|t*8|t*8L", pp=3), "not a multiple of parallel.pp 3"),
    (dict(layout="Et*8|t*8|t*8|t*9L"), "places 33 decoder layers (t); the model has 32"),
    (dict(layout="Et*8|t*8|t*8|t*8mL"), "the model has none"),
    (dict(layout="Et*8|t*8|t*8|t*8L", vpp=2), "8 (leave vpp out"),
    (dict(layout="Et*8|t*8|t*8|t*8L", framework="torchtitan"), "torchtitan has no explicit pipeline layout"),
    # hostile repetition counts are refused before the string is built (this one was a MemoryError)
    (dict(layout="Et*99999999999|L"), "unrolls to 99,999,999,999 characters; a layout holds at most 8,192"),
    (dict(layout="E(t*1000|)*1000L"), "a layout holds at most 8,192"),
])
def test_bad_layout_is_one_error_line(cli, tmp_path, edit, words):
    code, out, err = cli("estimate", write_job(tmp_path, _job(**edit)))
    assert code == 2
    line = one_error_line(out + err)
    assert line.startswith("error: training.framework.pp_layout:") and words in line, line


def test_layout_prices_the_slowest_stage(catalog):
    """The step follows the layout's fullest rank: loading the embedding's stage with 11 layers is slower than the
    even split, and unloading it again (the even layout) prices exactly as the planner's own even split; the memory
    of the most loaded rank follows too."""
    def plan(layout):
        return estimate_job(load_job_dict(_job(layout)), catalog)
    own, even, heavy = plan(None), plan("Et*8|t*8|t*8|t*8L"), plan("Et*11|t*7|t*7|t*7L")
    assert heavy.memory_per_gpu_bytes.most_loaded_stage == "first"  # the 11-layer embedding stage
    assert even.step_time_s == pytest.approx(own.step_time_s, rel=1e-12)
    assert heavy.step_time_s > even.step_time_s * 1.1  # 11 layers paced where 8 were
    assert heavy.memory_per_gpu_bytes.total > even.memory_per_gpu_bytes.total
    assert heavy.config.rank_layers == (11, 7, 7, 7) and even.config.pp_layout == "Et*8|t*8|t*8|t*8L"


def test_vpp_implied_and_json(cli, tmp_path):
    res = answered(cli("estimate", write_job(tmp_path, _job("Et*4|(t*4|)*6t*4L", pp=4)), "--json"))
    assert res["config"]["vpp"] == 2 and res["config"]["schedule"] == "interleaved"
    assert res["config"]["pp_layout"] == "Et*4|(t*4|)*6t*4L" and res["config"]["rank_layers"] == [8, 8, 8, 8]
    assert res["stack"]["pp_layout"] == "Et*4|(t*4|)*6t*4L"
    assert "pp_layout" not in answered(cli("estimate", write_job(tmp_path, _job(None)), "--json"))["config"]


def test_emit_round_trip(cli, tmp_path):
    """--emit writes the layout as Megatron's flag, without a VPP flag (Megatron derives it), and recommend without a
    pp searches only the pp that divide the layout's stages, vpp the rest."""
    layout = "Et*2|(t*2|)*14t*2L"  # 16 virtual stages, 32 layers
    job = _job(layout, pp=None)
    del job["parallel"]["pp"]
    code, out, err = cli("recommend", write_job(tmp_path, job), "--emit", "torchrun")
    assert code == 0, err
    emitted = re.search(r"--pipeline-model-parallel-layout\s+'([^']+)'", out).group(1)
    pp = int(re.search(r"--pipeline-model-parallel-size\s+(\d+)", out).group(1))
    assert parse_pp_layout(emitted) == parse_pp_layout(layout) and 16 % pp == 0
    assert not re.search(r"--num-(layers-per-virtual|virtual-stages)", out)
    res = answered(cli("recommend", write_job(tmp_path, job), "--json"))
    for plan in [res["best"]] + list(res["ranked"]):
        assert plan["config"]["pp"] * plan["config"]["vpp"] == 16 and plan["config"]["pp_layout"] == layout
