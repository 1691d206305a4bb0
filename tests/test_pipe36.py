"""The pipeline split beyond Megatron-Core (pipe36): torchtitan's split as its ``generate_llm_fqn_per_model_part``
builds it from the first/last "less layers" (the job's, kept; or, left open, the pair whose pacing stage is lightest
in no more memory), priced, printed and launched alike; and a pair torchtitan refuses refused."""
from __future__ import annotations

import shlex

import pytest

from planner.errors import InputError
from planner.model.pipeline import (TitanSplit, balanced_rows, pipeline_split, split_runtime, stage_layer_split,
                                    titan_counts, titan_less_layers)
from planner.model.stacks import from_training
from planner.spec import load_job_dict
from planner.spec.presets import PRESETS, ModelSpec
from planner.workloads.training import estimate_job


def _fqn_stage_layers(num_stages, num_layers, input_weight, output_weight):
    """torchtitan/distributed/pipeline_parallel.py ``generate_llm_fqn_per_model_part`` (pytorch/torchtitan
    @02ef790), transcribed: the ``layers.i`` names of each stage counted; None where it raises ValueError."""
    if num_stages == 1:
        return [num_layers]
    eff = num_layers + input_weight + output_weight
    if num_stages > eff:
        return None
    per, extra = divmod(eff, num_stages)
    if per == 0 or input_weight > per or output_weight > per:
        return None
    out, cur = [], 0
    for i in range(num_stages):
        n = per + (1 if i < extra else 0)
        n -= input_weight if i == 0 else output_weight if i == num_stages - 1 else 0
        take = 0
        for _ in range(n):
            if cur < num_layers:
                take, cur = take + 1, cur + 1
        out.append(take)
    return out


def _job(fw=None, pp=4, preset="llama3.1-8b"):
    return {"model": {"preset": preset},
            "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                         "recompute": "none", "tokens": 1e11, "framework": {"name": "torchtitan", **(fw or {})}},
            "parallel": {"tp": 1, "pp": pp, "dp": 8 // pp * 2, "zero": 2},
            "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2}}


def test_titan_counts_are_torchtitans():
    for layers in (7, 28, 32, 61, 80, 126):
        for stages in (1, 2, 3, 4, 8, 16):
            for iw in range(4):
                for ow in range(4):
                    got = titan_counts(layers, stages, iw, ow)
                    want = _fqn_stage_layers(stages, layers, iw, ow)
                    assert (list(got) if got is not None else None) == want, (layers, stages, iw, ow)
    # torchtitan's defaults (1, 1): 32 layers on 4 stages put 9 on stage 1, above ceil(32 / 4)
    assert titan_counts(32, 4) == (8, 9, 8, 7)


def test_open_split_is_lighter_and_launched_as_priced(catalog):
    """Qwen3-8B on PP8 (LM head ~3.2 layers of matmul FLOPs): the plain split 5 x 4, 4 x 4 paces at 4 + head on the
    last rank; the open choice, first/last less layers 0 / 3, runs 5 x 7, 1 (pace 5), no rank above ceil(36 / 8)
    and none more layer-micro-batches or parameters; estimate prices it (faster), and --emit writes the pair
    torchtitan then builds it from. Llama-3.1-8B on PP4 (8 x 4) keeps the plain split: every pair puts 9 on a rank."""
    from planner.present.emit import emit_launch_spec
    m = ModelSpec(**PRESETS["qwen3-8b"])
    job = load_job_dict(_job(pp=8, preset="qwen3-8b"))
    rt = split_runtime(from_training(job.training), m)
    assert isinstance(rt, TitanSplit) and rt.open
    assert titan_less_layers(36, 8, 1, rt) == (0, 3)
    assert pipeline_split(36, 8, 1, rt) == ("balanced", (5,) * 7 + (1,))
    assert pipeline_split(36, 8, 1, "torchtitan") == ("torchtitan", (5,) * 4 + (4,) * 4)
    assert balanced_rows(36, [8, 4], [1, 1], rt).tolist() == [True, False]  # PP4 (9 x 4): nothing lighter
    m8 = ModelSpec(**PRESETS["llama3.1-8b"])
    assert pipeline_split(32, 4, 1, split_runtime(from_training(load_job_dict(_job()).training), m8)) == \
        ("even", (8,) * 4)
    own = estimate_job(job, catalog)
    plain = estimate_job(load_job_dict(_job({"pp_split": "torchtitan"}, pp=8, preset="qwen3-8b")), catalog)
    assert own.config.rank_layers == (5,) * 7 + (1,) and plain.config.rank_layers == (5,) * 4 + (4,) * 4
    assert own.step_time_s < plain.step_time_s * 0.995
    argv = shlex.split(emit_launch_spec(job, own, "torchrun:fsdp", catalog), comments=True)
    flag = {a: argv[i + 1] for i, a in enumerate(argv[:-1]) if a.startswith("--parallelism.pipeline_parallel")}
    iw, ow = int(flag["--parallelism.pipeline_parallel_first_stage_less_layers"]), \
        int(flag["--parallelism.pipeline_parallel_last_stage_less_layers"])
    lps = int(flag["--parallelism.pipeline_parallel_layers_per_stage"])
    stages = -(-(36 + iw + ow) // lps)  # torchtitan pipeline_llm: num_virtual_stages
    assert stages == 8 and _fqn_stage_layers(stages, 36, iw, ow) == [5] * 7 + [1]


def test_fixed_less_layers_are_kept_and_memory_follows(catalog):
    """The job's own pair is priced as torchtitan builds it (torchtitan's default 1 for the one left out): 1 / 1 is
    8, 9, 8, 7; 0 / 3 is 9, 9, 9, 5, kept though heavier: rank 0's ninth layer (four micro-batches in flight under
    1F1B, and its parameters) is in the memory the plan reports."""
    m = ModelSpec(**PRESETS["llama3.1-8b"])
    st = from_training(load_job_dict(_job({"pp_first_stage_less_layers": 1})).training)
    assert split_runtime(st, m) == TitanSplit(1, None)
    assert stage_layer_split(32, 4, 1, split_runtime(st, m)) == [8, 9, 8, 7]
    one = estimate_job(load_job_dict(_job({"pp_first_stage_less_layers": 1, "pp_last_stage_less_layers": 1})), catalog)
    heavy = estimate_job(load_job_dict(_job({"pp_first_stage_less_layers": 0, "pp_last_stage_less_layers": 3})),
                         catalog)
    plain = estimate_job(load_job_dict(_job({"pp_first_stage_less_layers": 0, "pp_last_stage_less_layers": 0})),
                         catalog)
    assert one.config.rank_layers == (8, 9, 8, 7) and plain.config.rank_layers == (8, 8, 8, 8)
    assert heavy.config.rank_layers == (9, 9, 9, 5)
    mem = lambda p, k: dict(p.memory_per_gpu_bytes)[k]  # noqa: E731
    assert mem(heavy, "activations") > mem(plain, "activations") * 1.1 and mem(heavy, "weights") > mem(plain, "weights")


def test_refused_pair_and_wrong_stack_values():
    # 32 layers + 1 + 20 on 4 stages: a share of 13, below the last weight 20 (torchtitan raises)
    with pytest.raises(InputError) as e:
        estimate_job(load_job_dict(_job({"pp_last_stage_less_layers": 20})))
    assert e.value.field == "parallel.pp"
    with pytest.raises(InputError) as e:  # Megatron's split is no torchtitan value
        estimate_job(load_job_dict(_job({"pp_split": "megatron"})))
    assert e.value.field == "training.framework.pp_split"
    job = _job()
    job["training"]["framework"] = {"name": "megatron-core", "pp_first_stage_less_layers": 1}
    with pytest.raises(InputError) as e:  # the less-layers are torchtitan's options
        estimate_job(load_job_dict(job))
    assert e.value.field == "training.framework.pp_first_stage_less_layers"


def _dsv3_vpp_job(fw=None):
    return {"model": {"preset": "deepseek-v3"},
            "training": {"seq_len": 4096, "global_batch": 1024, "micro_batch": 1, "precision": "bf16",
                         "recompute": "full", "tokens": 1e11, "framework": {"name": "megatron-core", **(fw or {})}},
            "parallel": {"tp": 1, "pp": 8, "vpp": 4, "dp": 16, "ep": 16, "zero": 1},
            "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 16}}


def test_megatron_vpp_open_split_is_a_layout(catalog):
    """With VPP the open Megatron-Core split is balanced too (pplayout35 kept Megatron's there): DeepSeek-V3's 61 layers
    on PP8 x VPP4, Megatron's own layout puts 7, 8 x 5, 7, 7 on the ranks, the last with two heads and the MTP layer
    (~4.3 layers); the balanced split 7, 8 x 6, 6 (rank 0 no fuller: the interleaved warm-up holds the most there), written as a
    --pipeline-model-parallel-layout (any decoder count per virtual stage; first/last flags would need every rank's
    layers divisible by 4) that parses back to the priced counts; estimate prices it faster."""
    from planner.model.pipeline import ExplicitLayout
    from planner.present.emit import megatron_pipeline_split
    m = ModelSpec(**PRESETS["deepseek-v3"])
    rt = split_runtime(from_training(load_job_dict(_dsv3_vpp_job()).training), m)
    old = pipeline_split(61, 8, 4, "megatron")[1]
    form, counts = pipeline_split(61, 8, 4, rt)
    assert [sum(old[r::8]) for r in range(8)] == [7] + [8] * 5 + [7, 7]
    assert form == "balanced" and [sum(counts[r::8]) for r in range(8)] == [7] + [8] * 6 + [6]
    flags = megatron_pipeline_split(61, 8, 4, 1, None, rt)
    assert flags[0] == "--pipeline-model-parallel-layout"
    lay = ExplicitLayout.parse(flags[1])
    assert lay.counts == counts and lay.vpp(8) == 4 and lay.structure_error() is None and lay.model_error(61, 1) is None
    own = estimate_job(load_job_dict(_dsv3_vpp_job()), catalog)
    meg = estimate_job(load_job_dict(_dsv3_vpp_job({"pp_split": "megatron"})), catalog)
    assert own.config.rank_layers == (7,) + (8,) * 6 + (6,) and meg.config.rank_layers == (7,) + (8,) * 5 + (7, 7)
    assert own.step_time_s < meg.step_time_s * 0.99
