"""QA pass 31: stack options the stack has no switch for, job-field errors in pydantic's words, and a search that
stopped at 1,024 nodes whatever max_gpus said -- each defect with the check that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import refused, write_job

from planner.errors import InputError
from planner.model.stacks import resolve
from planner.search.space import stack_variants
from planner.spec.load import load_job_dict

LLM = {"model": {"preset": "llama3-8b"},
       "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "recompute": "selective", "tokens": 1e10},
       "parallel": {"tp": 2, "pp": 1, "dp": 8, "zero": 1}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2}}
CNN = {"model": {"preset": "resnet50"},
       "training": {"global_batch": 1024, "micro_batch": 128, "epochs": 1, "dataset_samples": 1281167},
       "parallel": {"dp": 8}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


def _with(job: dict, section: str, **fields) -> dict:
    return {**job, section: {**job.get(section, {}), **fields}}


# ---- 1. an option the stack has no switch for was accepted silently ------------------------------------------------
# optimizer_offload on DDP priced a CPU optimizer no DDP has; channels_last / compile / pp_pass_microbatches /
# reshard_after_forward / selective op went unused or were priced on a stack without them.
@pytest.mark.parametrize("stack, option, value, holder", [
    ("pytorch-ddp", "optimizer_offload", True, "megatron-deepspeed"), ("megatron-lm", "optimizer_offload", True, "deepspeed"),
    ("megatron-core", "channels_last", True, "dle-convnets"), ("hf-trainer", "pp_pass_microbatches", 4, "nemo-automodel"),
    ("megatron-deepspeed", "reshard_after_forward", False, "llm-foundry"),
    ("deepspeed", "reshard_after_forward", False, "torchtitan"), ("megatron-core", "compile", True, "hf-trainer"),
    ("maxtext", "compile", False, "torchtitan"), ("megatron-core", "fused_qkv", True, "torchtitan"),
    ("megatron-core", "selective", "op", "nemo-automodel"), ("torchtitan", "tp_overlap", "te", "nemo"),
    ("pytorch-ddp", "tp_overlap", "none", "megatron-lm"), ("hf-trainer", "ac_freq", 2, None),
])
def test_an_option_the_stack_lacks_is_refused(stack, option, value, holder):
    with pytest.raises(InputError) as e:
        resolve(stack, **{option: value})
    assert e.value.field == f"training.framework.{option}"
    assert e.value.message.startswith(f"{stack} has no "), e.value.message
    if holder:  # a stack that has it takes it
        assert getattr(resolve(holder, **{option: value}), option) == value
        assert holder in e.value.message or "offers" in e.value.message  # the refusal names where it runs


@pytest.mark.parametrize("stack", ["pytorch-ddp", "dle-convnets"])
def test_channels_last_on_a_transformer_is_refused(tmp_path, cli, stack):
    # a convnet stack takes channels_last, but a transformer has no convolution to run in it: it changed nothing
    job = _with(LLM, "training", framework={"name": stack, "channels_last": False})
    line = refused(cli("estimate", write_job(tmp_path, _with(job, "parallel", tp=1, dp=16))))
    assert line.startswith("error: training.framework.channels_last: model llama3-8b has transformer layers"), line
    # a convnet takes it, and it moves its step time (NCHW pays cuDNN's transposes)
    nchw = _with(CNN, "training", framework={"name": stack, "channels_last": False})
    assert cli("estimate", write_job(tmp_path, nchw, "cnn.yaml"))[0] == 0


def test_the_refusal_is_one_line_through_the_cli(tmp_path, cli):
    job = _with(CNN, "training", framework={"name": "pytorch-ddp", "optimizer_offload": True})
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.framework.optimizer_offload: pytorch-ddp has no optimizer offload"), line


def test_the_search_tries_no_option_the_stack_lacks():
    # ZeRO-3 fixed: reshard_after_forward was searched on every stack, DeepSpeed's included (it has no such switch)
    ds = load_job_dict(_with(_with(LLM, "parallel", zero=3, tp=1), "training", framework={"name": "deepspeed"}))
    assert not any("reshard_after_forward" in v.values for v in stack_variants(ds))
    titan = load_job_dict(_with(_with(LLM, "parallel", zero=3, tp=1), "training", framework={"name": "torchtitan"}))
    assert any("reshard_after_forward" in v.values for v in stack_variants(titan))
    # plain DDP for a CNN: optimizer offload was searched (DDP has none)
    ddp = load_job_dict(_with(CNN, "training", framework={"name": "pytorch-ddp"}))
    assert not any(v.stack.optimizer_offload for v in stack_variants(ddp))


# ---- 2. job-field errors in pydantic's words ("Input should be greater than 0") --------------------------------------
@pytest.mark.parametrize("section, fields, line", [
    ("model", {"layers": -3, "hidden": 64, "heads": 4, "vocab": 100}, "error: model.layers: must be more than 0, got -3"),
    ("training", {"precision": "bf17"}, "error: training.precision: must be one of "),
    ("training", {"flash_attention": "maybe"}, "error: training.flash_attention: must be true or false, got 'maybe'"),
    ("parallel", {"tp": "two"}, "error: parallel.tp: must be a whole number, got 'two'"),
    ("parallel", {"tp": 2.5}, "error: parallel.tp: must be a whole number, got 2.5"),
    ("constraints", {"memory_headroom": 2}, "error: constraints.memory_headroom: must be less than 1, got 2"),
    ("training", {"seq_len": 10 ** 12}, "error: training.seq_len: must be at most "),
    ("training", {"recompute_modules": "core_attn"}, "error: training.recompute_modules: must be a list"),
])
def test_field_errors_are_in_the_projects_words(tmp_path, cli, section, fields, line):
    job = {"model": {"preset": "llama3-8b"}} if section != "model" else {}
    job[section] = {**job.get(section, {}), **fields}
    got = refused(cli("estimate", write_job(tmp_path, job)))
    assert got.startswith(line), got
    assert "Input should" not in got and "Field required" not in got


@pytest.mark.parametrize("value", [["megatron-core"], 3])
def test_a_framework_that_is_neither_name_nor_section_says_both_forms(tmp_path, cli, value):
    # it read "training.framework: Input should be a valid dictionary or instance of FrameworkSpec"
    job = {"model": {"preset": "llama3-8b"}, "training": {"framework": value}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.framework: must be a stack name (training.framework: torchtitan) or a "
                           "section"), line


def test_no_job_field_answers_in_pydantics_words():
    from pydantic import ValidationError

    from planner.spec import schema as S

    sections = {"model": S.ModelSpec, "training": S.TrainingSpec, "parallel": S.ParallelSpec, "cluster": S.ClusterSpec,
                "data": S.DataSpec, "evaluation": S.EvaluationSpec, "checkpoint": S.CheckpointSpec,
                "constraints": S.ConstraintsSpec, "serving": S.ServingSpec, "onprem": S.OnpremSpec,
                "training.framework": S.FrameworkSpec, "training.lora": S.LoRASpec, "model.moe": S.MoESpec}
    seen, pydantic = 0, []
    for name, spec in sections.items():
        for field in spec.model_fields:
            for bad in ("abc", -1, 1e30, [1], 2.5):
                try:
                    spec.model_validate({field: bad})
                except ValidationError as e:
                    msg = str(S._first_error(e, name))
                    seen += 1
                    if "Input should" in msg or "Field required" in msg or "valid dictionary" in msg:
                        pydantic.append(msg)
                except InputError:
                    pass
    assert seen > 500 and not pydantic, pydantic[:5]


def test_the_words_name_the_bound_and_the_choices():
    from hardware_catalog.errors import pydantic_words

    assert pydantic_words("less_than_equal", {"le": 10 ** 15}) == "must be at most 1,000,000,000,000,000"
    assert pydantic_words("greater_than_equal", {"ge": 0.5}) == "must be at least 0.5"
    assert pydantic_words("literal_error", {"expected": "'bf16', 'fp16' or 'fp8'"}) == "must be one of bf16, fp16, fp8"
    # a caller's own words win (a catalog cell)
    assert pydantic_words("float_type", {}, {"float_type": "is empty; give a value"}) == "is empty; give a value"


# ---- 3. the search stopped at 1,024 nodes whatever max_gpus said -----------------------------------------------------
def test_node_counts_reach_max_gpus():
    from planner import defaults as D

    assert D.node_counts(1024) == D.NODE_COUNTS  # the default grid is unchanged
    assert D.node_counts(4096)[-4:] == (1536, 2048, 3072, 4096)
    assert max(D.node_counts((1 << 20) // 8)) == 1 << 17


def test_the_grid_searches_up_to_max_gpus():
    from planner.hardware.options import options_for_search
    from planner.search.space import _grid
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8},
                         "training": {"seq_len": 4096, "global_batch": 4096, "tokens": 1e11},
                         "constraints": {"max_gpus": 32768}})
    hw = options_for_search(job.cluster, job.constraints, job.training.precision)[0]
    nodes = _grid(job, hw)[0][0]
    assert nodes.max() == 4096 and 1024 in nodes  # was 1,024 (8,192 GPUs)


def test_min_gpus_past_the_default_limit_names_it(tmp_path, cli):
    job = {"model": {"preset": "llama3-8b"}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8},
           "training": {"seq_len": 4096, "global_batch": 4096, "tokens": 1e11}, "constraints": {"min_gpus": 10000}}
    line = refused(cli("recommend", write_job(tmp_path, job)))
    assert line.startswith("error: constraints.min_gpus: min_gpus=10,000 is above the search's default limit of 8,192 "
                           "GPUs"), line
    assert "constraints.max_gpus" in line


def test_a_switch_set_off_where_the_stack_runs_it_off_is_accepted():
    """``compile: false`` on megatron-core (no torch.compile switch, runs eager) and ``optimizer_offload: false`` on
    pytorch-ddp state what the stack does: accepted, the same stack as with the option left out; set true, refused."""
    from planner.model.stacks import STACKS

    assert STACKS["megatron-core"].with_options(compile=False) == STACKS["megatron-core"]
    assert STACKS["pytorch-ddp"].with_options(optimizer_offload=False) == STACKS["pytorch-ddp"]
    with pytest.raises(InputError):
        STACKS["megatron-core"].with_options(compile=True)
    with pytest.raises(InputError):
        STACKS["pytorch-ddp"].with_options(optimizer_offload=True)
