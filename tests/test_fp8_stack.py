"""fp8 training only on stacks whose code has an fp8 path (planner.model.stack_rules FP8_RECIPES / NO_FP8_PATH).

The 2021-22 Megatron-LM (--fp16 / --bf16 only), Megatron-DeepSpeed's pipeline engine (its TE fp8 runs only in the
non-pipeline GPTModel), metaseq (--fp16 / --bf16 / --memory-efficient-fp16) and plain DDP with autocast (the convnet
stacks) were priced at the fp8 peak; each is now refused with one line naming the stack and its code. The stacks with
Transformer Engine or torchao linears keep fp8, and llm-foundry's is Composer's ``amp_fp8``: TE DelayedScaling
(composer/core/precision.py), priced as that recipe (it was tensorwise).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conftest import answered, refused, write_job

from planner.model.stacks import resolve
from planner.spec import load_job_dict
from planner.vocab import FRAMEWORK

H100 = {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}
LLM = {"model": {"preset": "gpt2"},
       "training": {"seq_len": 1024, "global_batch": 64, "micro_batch": 1, "recompute": "selective", "tokens": 1e9},
       "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 1}, "cluster": H100}
CNN = {"model": {"preset": "resnet50"},
       "training": {"global_batch": 1024, "micro_batch": 128, "epochs": 1, "dataset_samples": 1281167},
       "parallel": {"dp": 8}, "cluster": H100}
#: DLE's BERT trains BERT only, in float16 or fp32 (stack_rules dle-bert-model, dle-bert-bf16)
BERT = {"model": {"preset": "bert-base"},
        "training": {"seq_len": 128, "global_batch": 256, "micro_batch": 32, "optimizer": "adamw", "tokens": 1e9},
        "parallel": {"tp": 1, "pp": 1, "dp": 8, "zero": 0}, "cluster": H100}
#: the stacks whose code has no fp8 path, written out here (not read from the table under test), with a word of the
#: code each refusal must name
NO_PATH = {"megatron-lm": (LLM, "--fp16 / --bf16 only"), "megatron-deepspeed": (LLM, "pipeline"),
           "metaseq": (LLM, "metaseq"), "dle-convnets": (CNN, "autocast"), "pytorch-ddp": (CNN, "autocast"),
           "dle-bert": (BERT, "--fp16 / --amp")}
#: the 16-bit precision each refusal points to, where it is not bf16 (DLE's BERT has no bf16 flag)
INSTEAD = {"dle-bert": "fp16"}
#: stacks with an fp8 path the planner does not price (refused since QA pass 32, in their own words)
NOT_MODELLED = {"maxtext", "neuronx-distributed"}


def _job(base: dict, stack: str | None, precision: str = "fp8", **training) -> dict:
    t = {**base["training"], "precision": precision, **training}
    if stack is not None:
        t["framework"] = stack
    return {**base, "training": t}


@pytest.mark.parametrize("stack", sorted(NO_PATH))
@pytest.mark.parametrize("command", ["estimate", "recommend"])
def test_fp8_on_a_stack_without_an_fp8_path_is_one_line(tmp_path, cli, stack, command):
    base, word = NO_PATH[stack]
    line = refused(cli(command, write_job(tmp_path, _job(base, stack))))
    assert line.startswith(f"error: training.precision: {stack} has no fp8 path ("), line
    assert word in line and line.endswith(f"use {INSTEAD.get(stack, 'bf16')}"), line


@pytest.mark.parametrize("stack", sorted(NO_PATH))
def test_the_same_job_in_16_bits_runs(tmp_path, cli, stack):
    """Only fp8 is refused: the stack still plans its 16-bit runs."""
    base, _ = NO_PATH[stack]
    est = answered(cli("estimate", write_job(tmp_path, _job(base, stack, precision="fp16")), "--json"))
    assert est["stack"]["name"] == stack


def test_an_open_framework_for_a_cnn_is_plain_ddp_and_refuses_fp8(tmp_path, cli):
    """A CNN's default stack is pytorch-ddp (defaults.FRAMEWORK_NON_TRANSFORMER): fp8 is refused for it, where its
    convolutions were priced at the fp8 peak, which no autocast reaches."""
    assert refused(cli("estimate", write_job(tmp_path, _job(CNN, None)))).startswith("error: training.precision: pytorch-ddp has no fp8 path"), err


def test_a_cnn_on_a_transformer_stack_without_fp8_is_refused_too(tmp_path, cli):
    """The rule concerns every model (StackRule.any_model): the legacy Megatron-LM has no fp8 path for a CNN either."""
    assert refused(cli("estimate", write_job(tmp_path, _job(CNN, "megatron-lm")))).startswith("error: training.precision: megatron-lm has no fp8 path"), err


@pytest.mark.parametrize("stack", [n for n in FRAMEWORK.names if n not in NO_PATH and n not in NOT_MODELLED])
def test_stacks_with_te_or_torchao_linears_keep_fp8(tmp_path, cli, stack):
    job = _job(LLM, stack)
    if stack == "megatron-core-gaudi":  # Intel's fork runs on Gaudi only (stacks.RUNS_ON): delayed scaling there
        job["cluster"] = {"gpu": "Gaudi2", "gpus_per_node": 8, "nodes": 1}
    if stack in ("torchtitan", "nemo-automodel", "hf-trainer"):  # FSDP data parallelism: no ZeRO-1 (their rules;
        job["parallel"] = {**job["parallel"], "zero": 3}  # the HF Trainer's hf-trainer-zero1 since hfstack34)
    got = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert got["stack"]["name"] == stack and got["stack"]["fp8_recipe"]


@pytest.mark.parametrize("stack", sorted(NOT_MODELLED))
def test_an_fp8_path_not_priced_keeps_its_own_words(stack):
    """MaxText's and Neuron's fp8 exist but are not the recipes priced here: refused, but not as "no fp8 path"."""
    from planner.model import stack_rules

    job = load_job_dict(_job(LLM, stack))
    rule = stack_rules.job_refusal(resolve(stack), job.model, job.training)
    assert rule is not None and rule.field == "training.precision"
    assert "no fp8 path" not in rule.message(stack=resolve(stack))


def test_recommend_never_proposes_fp8_on_a_stack_without_it(tmp_path, cli):
    """framework auto with fp8: every ranked plan is on a stack with an fp8 recipe, none on a no-fp8 stack."""
    job = _job(LLM, "auto")
    job.pop("parallel")
    got = answered(cli("recommend", write_job(tmp_path, job), "--json", "--top", "50"))
    plans = [got["best"], *got.get("plans", [])]
    names = {p["stack"]["name"] for p in plans}
    assert names and not names & set(NO_PATH)
    assert all(p["stack"].get("fp8_recipe") for p in plans)


def test_the_search_of_a_no_fp8_stack_is_refused_before_any_layout():
    """space.stack_variants (what recommend searches) raises the refusal: no layout of the stack is evaluated."""
    from planner.errors import InputError
    from planner.search.space import stack_variants

    job = load_job_dict(_job(LLM, "megatron-deepspeed"))
    with pytest.raises(InputError) as e:
        stack_variants(job)
    assert e.value.field == "training.precision"
    assert e.value.message.startswith("megatron-deepspeed has no fp8 path")
    assert stack_variants(load_job_dict(_job(LLM, "megatron-deepspeed", precision="bf16")))  # bf16 searches


def test_llm_foundry_fp8_is_priced_as_delayed_scaling():
    """Composer's amp_fp8 runs TE DelayedScaling and nothing else: the stack's recipe is delayed, its only offer, and
    its fp8 step is the delayed recipe's time (4 B casts with the amax in the cast kernel), not tensorwise's."""
    from planner.hardware.options import option_from_cluster
    from planner.layout import Candidates
    from planner.model.step_time import step_time

    st = resolve("llm-foundry")
    assert st.fp8_recipe == "delayed"
    # a GPU-bound layer (gpt2's 4k-token micro-batch is bound by its host ops, which no recipe changes)
    job = load_job_dict(_job({**LLM, "model": {"preset": "llama3-8b"}}, "llm-foundry", seq_len=2048))
    hw = option_from_cluster(job.cluster, None, None, "fp8")
    one = lambda x: np.array([x])  # noqa: E731 (one candidate row)
    c = Candidates(tp=one(1), pp=one(1), dp=one(8), cp=one(1), ep=one(1), vpp=one(1), zero=one(3), mb=one(4), rc=one(0),
                   sp=one(False), schedule=one(0), gpus_per_node=8, nodes=1)
    t = {r: float(step_time(job.model, job.training, c, hw, framework=replace(st, fp8_recipe=r))["step_time_s"][0])
         for r in ("delayed", "tensorwise")}
    got = float(step_time(job.model, job.training, c, hw, framework=st)["step_time_s"][0])
    assert got == t["delayed"] and t["delayed"] < t["tensorwise"]
    with pytest.raises(Exception) as e:
        resolve("llm-foundry", fp8_recipe="tensorwise")
    assert "it offers delayed" in str(e.value)
