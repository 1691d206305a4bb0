"""QA pass 32: a plan's stack record that its own job refused, stack options every stack took (overlap_param_gather on
DDP, any fp8 recipe anywhere), a precision list without fp4, and two tables for one set of words -- each defect with
the check that failed before its fix."""
from __future__ import annotations


import pytest

from conftest import answered, refused, write_job

from planner.errors import InputError
from planner.model.stacks import OPTIONS, STACKS, holds, record_options, resolve
from planner.vocab import FRAMEWORK

LLM = {"model": {"preset": "llama3-8b"},
       "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "recompute": "selective", "tokens": 1e10},
       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2}}
#: a transformer plain DDP holds whole on each GPU (ZeRO-0/1 only: stack_rules "ddp-zero")
GPT2 = {**LLM, "model": {"preset": "gpt2"}, "training": {**LLM["training"], "seq_len": 1024}}
CNN = {"model": {"preset": "resnet50"},
       "training": {"global_batch": 1024, "micro_batch": 128, "epochs": 1, "dataset_samples": 1281167},
       "parallel": {"dp": 8}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


def _fixed(job: dict, plan: dict) -> dict:
    """``job`` with the layout ``plan`` chose, and the plan's stack record as its ``training.framework``."""
    c = plan["config"]
    par = {k: c[k] for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "zero")}
    par.update(sequence_parallel=c["sp"], schedule=c["schedule"], **({"dp_shard": c["dp_shard"]} if "dp_shard" in c else {}))
    training = {**job["training"], "micro_batch": c["micro_batch"], "recompute": c["recompute"], "framework": plan["stack"]}
    return {**job, "training": training, "parallel": par, "cluster": {**job["cluster"], "nodes": c["nodes"]}}


# ---- 1. a plan's stack record, pasted back as the job's training.framework, was refused -----------------------------
# it listed every option: `channels_last: true` on megatron-core ("model llama3-8b has transformer layers"), and
# `searched`, which no job field took ("training.framework.searched: unknown field")
@pytest.mark.parametrize("job, stack, precision", [(LLM, "megatron-core", "fp8"), (GPT2, "pytorch-ddp", "bf16"),
                                                   (CNN, "pytorch-ddp", "fp16")])
def test_a_plans_stack_record_is_a_framework_the_job_takes(tmp_path, cli, job, stack, precision):
    job = {**job, "training": {**job["training"], "framework": stack, "precision": precision},
           "parallel": {**job.get("parallel", {}), "tp": 1, "pp": 1, "cp": 1, "dp": job["cluster"]["nodes"] * 8}}
    plan = answered(cli("recommend", write_job(tmp_path, job), "--json"))["best"]
    record = plan["stack"]
    assert record["name"] == stack and "searched" in record
    got = answered(cli("estimate", write_job(tmp_path, _fixed(job, plan), "fixed.yaml"), "--json"))
    assert got["step_time_s"] == pytest.approx(plan["step_time_s"], rel=1e-9)
    assert got["stack"] == record | {"searched": []}  # the same stack; nothing searched this time


@pytest.mark.parametrize("name", FRAMEWORK.names)
def test_no_stack_lists_an_option_it_lacks(name):
    st = STACKS[name]
    listed = st.options()
    assert set(listed) == {k for k in OPTIONS if holds(st, k)}
    assert resolve(name, **record_options({"name": name, **listed})) == st  # every listed value is one it takes


def test_an_option_the_job_has_no_use_for_is_left_out_of_the_record():
    from planner.spec.load import load_job_dict

    llm = load_job_dict({**LLM, "training": {**LLM["training"], "framework": "pytorch-ddp"}})
    cnn = load_job_dict({**CNN, "training": {**CNN["training"], "framework": "pytorch-ddp"}})
    ddp = STACKS["pytorch-ddp"]
    assert "channels_last" not in ddp.options(llm.model, llm.training)  # the schema refuses it on a transformer
    assert "channels_last" in ddp.options(cnn.model, cnn.training)
    # an fp8 recipe: on a stack with an fp8 path (plain DDP has none, stack_rules.NO_FP8_PATH), in an fp8 run only
    fp8, bf16 = (load_job_dict({**LLM, "training": {**LLM["training"], "framework": "megatron-core", "precision": p}})
                 for p in ("fp8", "bf16"))
    mcore = STACKS["megatron-core"]
    assert "fp8_recipe" in mcore.options(fp8.model, fp8.training)
    assert "fp8_recipe" not in mcore.options(bf16.model, bf16.training)  # bf16: a recipe would change nothing


@pytest.mark.parametrize("searched, line", [
    (["optimizer_offload"], "error: training.framework.searched: optimizer_offload is listed as searched but not set"),
    (["name"], "error: training.framework.searched: 'name' is not a training.framework option"),
])
def test_searched_names_options_given_in_the_section(tmp_path, cli, searched, line):
    job = {**LLM, "parallel": {"tp": 1, "dp": 16, "zero": 1},
           "training": {**LLM["training"], "framework": {"name": "megatron-core", "searched": searched}}}
    assert refused(cli("estimate", write_job(tmp_path, job))).startswith(line), err


# ---- 2. options every stack took: a parameter-gather overlap on DDP (and on DeepSpeed, whose ZeRO-1/2 gather runs
# after the step whatever a job says), any fp8 recipe anywhere -------------------------------------------------------
@pytest.mark.parametrize("stack, option, value, words", [
    ("pytorch-ddp", "overlap_param_gather", True, "pytorch-ddp has no switch to overlap a parameter all-gather"),
    ("dle-convnets", "overlap_param_gather", False, "dle-convnets has no switch to overlap a parameter all-gather"),
    ("deepspeed", "overlap_param_gather", True, "deepspeed has no switch"),  # ZeRO-1/2 gather at the end of step()
    ("megatron-lm", "overlap_param_gather", True, "megatron-lm has no switch"),
    ("megatron-core", "fp8_recipe", "rowwise", "megatron-core has no rowwise fp8_recipe (it offers tensorwise, delayed"),
    # torchtitan: torchao's tensorwise and rowwise, MXFP8; no Transformer Engine block-wise (tfp59: tensorwise was refused)
    ("torchtitan", "fp8_recipe", "blockwise", "torchtitan has no blockwise fp8_recipe (it offers rowwise, tensorwise, mxfp8"),
    ("hf-trainer", "fp8_recipe", "mxfp8", "hf-trainer has no mxfp8 fp8_recipe"),
    ("maxtext", "fp8_recipe", "delayed", "maxtext has no fp8 recipe modelled"),
    # Composer's amp_fp8 is Transformer Engine's DelayedScaling (stack_rules.FP8_RECIPES "composer")
    ("llm-foundry", "fp8_recipe", "nvfp4", "llm-foundry has no nvfp4 fp8_recipe (it offers delayed;"),
    ("llm-foundry", "fp8_recipe", "tensorwise", "llm-foundry has no tensorwise fp8_recipe (it offers delayed;"),
    # code with no fp8 path takes no recipe at all (stack_rules.NO_FP8_PATH)
    ("metaseq", "fp8_recipe", "tensorwise", "metaseq has no fp8 recipe modelled"),
    ("dle-convnets", "fp8_recipe", "tensorwise", "dle-convnets has no fp8 recipe modelled"),
])
def test_an_option_value_the_stacks_code_lacks_is_refused(stack, option, value, words):
    with pytest.raises(InputError) as e:
        resolve(stack, **{option: value})
    assert e.value.field == f"training.framework.{option}"
    assert e.value.message.startswith(words), e.value.message


def test_offered_values_are_taken_and_only_they_are_listed():
    assert "overlap_param_gather" not in STACKS["deepspeed"].options()  # it listed it, and took true as hidden
    assert resolve("torchtitan", fp8_recipe="mxfp8").fp8_recipe == "mxfp8"
    # torchtitan's Float8LinearConverter recipe_name (main @026c75f2, and the 2024-25 code): tensorwise (tfp59)
    assert resolve("torchtitan", fp8_recipe="tensorwise").fp8_recipe == "tensorwise"
    assert resolve("deepspeed", fp8_recipe="rowwise").fp8_recipe == "rowwise"
    assert resolve("megatron-core", overlap_param_gather=False).overlap_param_gather is False
    assert resolve("hf-trainer", overlap_param_gather=False).overlap_param_gather is False  # FSDP's prefetch switch
    assert resolve("deepspeed", overlap_param_gather=False) == STACKS["deepspeed"]  # states what it does: accepted


def test_a_recipe_set_on_a_bf16_job_is_refused_where_the_stack_lacks_it(tmp_path, cli):
    # it was taken with a note ("changes nothing: training.precision is bf16") whatever the stack
    job = {**LLM, "parallel": {"tp": 1, "dp": 16, "zero": 0},
           "training": {**LLM["training"], "framework": {"name": "torchtitan", "fp8_recipe": "delayed"}}}
    assert refused(cli("estimate", write_job(tmp_path, job))).startswith("error: training.framework.fp8_recipe: torchtitan has no delayed fp8_recipe")


# ---- 3. training.precision's choices left out the fp4 it takes ---------------------------------------------------
def test_the_precision_choices_name_fp4(tmp_path, cli):
    line = refused(cli("estimate", write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                                                        "training": {"precision": "fp5"}})))
    assert line.startswith("error: training.precision: must be one of bf16, fp16, fp8, fp32 or fp4 (NVFP4"), line
    assert line.endswith("got 'fp5'")


# ---- 4. typer's option bounds were reworded by a second table of regexes (cli.USAGE_WORDS) --------------------------
@pytest.mark.parametrize("kind, ctx", [("greater_than_equal", {"ge": 1}), ("less_than_equal", {"le": 100_000_000}),
                                       ("greater_than", {"gt": 0}), ("less_than", {"lt": 0.5}), ("int_parsing", None),
                                       ("float_parsing", None), ("int_from_float", None)])
def test_option_bounds_read_in_the_job_fields_words(kind, ctx):
    from pydantic_core import PydanticKnownError

    from hardware_catalog.errors import pydantic_words
    from planner import cli

    sentence = PydanticKnownError(kind, ctx).message()
    assert cli.usage_words(f"Invalid value for '--top': {sentence}") == pydantic_words(kind, ctx)
    assert not hasattr(cli, "USAGE_WORDS")  # one table: hardware_catalog.errors.PYDANTIC_WORDS



# ---- 5. odd inputs: refusals that named a field the job never set ----------------------------------------------------
def test_fp4_on_a_stack_without_nvfp4_names_the_precision(tmp_path, cli):
    # "training.framework.fp8_recipe: torchtitan has no nvfp4 fp8_recipe" for a job that wrote precision fp4, no recipe
    job = {"model": {"preset": "llama3-8b"}, "parallel": {"tp": 1, "dp": 8, "zero": 3},
           "training": {"precision": "fp4", "seq_len": 4096, "global_batch": 16, "tokens": 1e9, "framework": "torchtitan"},
           "cluster": {"gpu": "B200-SXM-180GB", "gpus_per_node": 8, "nodes": 1}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.precision: fp4 is the nvfp4 recipe, and torchtitan has no nvfp4"), line


def test_fp8_on_a_stack_with_no_recipe_names_the_precision(tmp_path, cli):
    # "training.framework.fp8_recipe: MaxText refuses fp8 training with a recipe it does not offer (it has none modelled)"
    job = {"model": {"preset": "llama3-8b"}, "parallel": {"tp": 1, "dp": 4},
           "training": {"precision": "fp8", "seq_len": 4096, "global_batch": 16, "tokens": 1e9, "framework": "maxtext"},
           "cluster": {"gpu": "TPU-v5p", "gpus_per_node": 4, "nodes": 1}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.precision: MaxText refuses fp8 training (no fp8 recipe"), line


def test_serve_precisions_mxfp4_on_a_dense_model_names_the_option(tmp_path, cli):
    job = {"model": {"preset": "llama3-8b"}, "cluster": {"gpu": "H100-SXM-80GB"},
           "serving": {"qps": 10, "prompt_tokens": 1024, "output_tokens": 256, "ttft_ms": 500}}
    line = refused(cli("serve", write_job(tmp_path, job), "--precisions", "bf16,mxfp4"))
    assert line.startswith("error: --precisions: mxfp4 quantises the MoE experts only"), line


@pytest.mark.parametrize("option, value, choices", [("--objective", "speed", "cost, time, tokens_per_dollar"),
                                                    ("--by", "vendor", "gpu, cloud, hardware, framework")])
def test_a_choice_option_reads_as_the_job_field_does(tmp_path, cli, option, value, choices):
    # "--objective: must be cost, time, tokens_per_dollar (got 'speed')" beside constraints.objective's "must be one of
    # cost, time, tokens_per_dollar, got 'speed'"
    assert refused(cli("compare", write_job(tmp_path, LLM), option, value)) == f"error: {option}: must be one of {choices}, got '{value}'"


def test_an_automodel_job_that_leaves_zero_out_is_estimated(tmp_path, cli):
    # the default was Megatron's ZeRO-1, which AutoModel's own rule refuses: "error: parallel.zero: NeMo AutoModel
    # refuses ZeRO-1" for a job that never set parallel.zero
    job = {"model": {"preset": "llama3-8b"}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2},
           "training": {"seq_len": 2048, "global_batch": 64, "tokens": 1e9, "framework": "nemo-automodel"}}
    got = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert got["config"]["zero"] == 3 and got["config"]["dp"] == 16  # FSDP2, its default strategy
    assert "parallel.zero defaulted to 3" in got["assumptions"]
