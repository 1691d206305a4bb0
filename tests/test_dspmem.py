"""Megatron-DeepSpeed's PipelineModule split (``pp_partition_method``) in the model-state memory and in what is
refused: each stage's weights are those of its own run of GPTModelPipe's specs (counted here by hand, with
DeepSpeed's ``partition_uniform`` re-implemented in tests/test_dspart.py), and a split leaving a stage without a
transformer layer, which the bigscience fork says its PP fails on, is refused by estimate and left out by recommend."""
from __future__ import annotations

import pytest

from planner.errors import InputError
from planner.search.recommend import recommend
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job
from conftest import write_job
from test_dspart import BLOOM, GPT2, _job, ds_partition_uniform, gpt_pipe

BF16 = 2  # bytes a bf16 weight takes (ZeRO-1 keeps the weights whole on every DP rank)


def _weights(model, pp, tp, dp, method, nodes, framework="megatron-deepspeed"):
    job = _job(model, pp, tp, dp, method, nodes)
    job["training"]["framework"]["name"] = framework
    return estimate_job(load_job_dict(job)).memory_per_gpu_bytes


def test_uniform_weights_are_the_fullest_stage():
    """BLOOM-176B "uniform" on PP12: the 77 specs in runs of 7, 7, 7, 7, 7, 7, 6, ...: stage 1 holds 7 layers (the
    embedding's stage 0 four, the head's stage 11 two), more than any Megatron-priced stage's ceil(70 / 12) = 6 plus
    the embedding. The weights are stage 1's, at TP 1 (where a rank holds every parameter of its specs)."""
    specs = gpt_pipe(70, 14336, 250880, 1)
    b = ds_partition_uniform(len(specs), 12)
    stages = [sum(p for _, p in specs[b[i]:b[i + 1]]) for i in range(12)]
    layer = dict(specs)["ParallelTransformerLayerPipe"]
    embed = dict(specs)["EmbeddingPipe"]
    assert max(stages) == stages[1] == 7 * layer
    mem = _weights(BLOOM, 12, 1, 8, "uniform", 12)
    assert mem.most_loaded_stage == "middle"  # rank 1 ("first" until mem43b, the stage before the last)
    assert mem.weights == BF16 * max(stages)
    assert mem.weights != BF16 * (6 * layer + embed)  # the ceil(L / pp) pricing this replaces


def test_megatron_split_weights_are_the_heaviest_stage():
    """Megatron's split priced as launched: BLOOM on PP12 under Megatron-Core is 5, 10 x 6, 5 layers
    (``first_last``), and the heaviest stage before the last is rank 0's 5 layers and the embedding (15.9B, rank 1's
    6 layers 14.8B). Until pp16mem38 ceil(70 / 12) = 6 layers and the embedding, a stage the split does not have."""
    specs = dict(gpt_pipe(70, 14336, 250880, 1))
    layer, embed = specs["ParallelTransformerLayerPipe"], specs["EmbeddingPipe"]
    mem = _weights(BLOOM, 12, 1, 8, None, 12, framework="megatron-core")
    assert mem.weights == BF16 * (5 * layer + embed)
    assert 5 * layer + embed > 6 * layer


def test_stage_without_layers_is_refused_by_estimate(cli, tmp_path):
    """GPT-2 on PP4 "parameters": its embedding and tied head (39M of 124M) take stages 0 and 3 alone (0, 6, 6, 0)."""
    code, out, err = cli("estimate", write_job(tmp_path, _job(GPT2, 4, 1, 2, "parameters", 1)))
    lines = [x for x in (out + err).splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, out + err
    assert lines[0].startswith("error: training.framework.pp_partition_method:")
    assert "0, 6, 6, 0" in lines[0] and "smaller pp" in lines[0]
    code, out, err = cli("estimate", write_job(tmp_path, _job(GPT2, 2, 1, 4, "parameters", 1)))
    assert code == 0, out + err
    code, out, err = cli("estimate", write_job(tmp_path, _job(GPT2, 4, 1, 2, "type:transformer", 1)))
    assert code == 0, out + err  # 3 layers a stage


def test_recommend_leaves_out_stages_without_layers():
    job = _job(GPT2, 4, 1, 2, "parameters", 1)
    job["parallel"] = {"pp": 4, "vpp": 1}
    with pytest.raises(InputError) as e:  # every PP4 layout has stages 0 and 3 empty
        recommend(load_job_dict(job), top=1000)
    assert e.value.field == "training.framework.pp_partition_method" and "refuses every layout" in e.value.message
    job["parallel"] = {"vpp": 1}
    rec = recommend(load_job_dict(job), top=1000)
    assert rec.ranked and all(r.config["pp"] != 4 for r in rec.ranked)
    assert any("layouts it refuses are excluded" in a and "without a transformer layer" in a for a in rec.assumptions)


def test_deepspeed_pipeline_has_no_interleaving(cli, tmp_path):
    """DeepSpeed's engine runs one contiguous stage per rank: a fixed vpp 2 is refused on its field, and an open
    search never ranks an interleaved Megatron-DeepSpeed layout (it did before the ds-vpp rule)."""
    job = _job(GPT2, 2, 1, 4, "type:transformer", 1)
    job["parallel"]["vpp"] = 2
    code, out, err = cli("estimate", write_job(tmp_path, job))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: parallel.vpp:"), err
    job["parallel"] = {}
    rec = recommend(load_job_dict(job), top=1000)
    assert rec.ranked and all(r.config.get("vpp", 1) == 1 for r in rec.ranked)
