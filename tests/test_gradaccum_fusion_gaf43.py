"""Megatron's gradient-accumulation fusion as a stack option (gaf43): ``training.framework.gradient_accumulation_fusion``
on the Megatron stacks (Megatron-LM arguments.py ``--no-gradient-accumulation-fusion``, on unless passed), priced by the
unfused accumulation pass the registry already had (``Stack.grad_accum_pass``, planner.model.step_time
``grad_accum_pass``), said in every output's stack line and plan record, written to the launch, refused with one line
on a stack without the switch. Until gaf43 a job could not set it: the nar21 rows (2021 Megatron-LM, no fusion) ran a
stack private to benchmarks/validate.py, and the schema refused the key."""
from __future__ import annotations

import sys

import pytest

from conftest import ROOT, answered, refused, write_job
from planner.model import stacks
from planner.model.step_time import step_time
from planner.spec import TrainingSpec
from test_step_time import LLAMA, cands, hw_for

sys.path.insert(0, str(ROOT / "benchmarks"))

JOB = {"model": {"preset": "llama3-8b"},
       "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "precision": "bf16", "optimizer": "adamw",
                    "recompute": "selective", "tokens": 1.0e12},
       "parallel": {"tp": 2, "pp": 1, "cp": 1, "zero": 1, "sequence_parallel": True},
       "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}


def _job(tmp_path, **framework):
    return write_job(tmp_path, {**JOB, "training": {**JOB["training"], "framework": framework}})


@pytest.mark.parametrize("name", ["megatron-core", "nemo", "megatron-bridge", "megatron-lm", "megatron-core-gaudi"])
def test_the_megatron_stacks_fuse_by_default_and_the_option_turns_it_off(name):
    """Each Megatron stack holds the switch, fused at its default (Megatron's ``gradient_accumulation_fusion`` True);
    false is the registry's unfused pass and nothing else (the entry's other fields as they were)."""
    base = stacks.resolve(name)
    assert stacks.holds(base, "gradient_accumulation_fusion")
    assert base.gradient_accumulation_fusion and not base.grad_accum_pass
    off = stacks.resolve(name, gradient_accumulation_fusion=False)
    assert off.grad_accum_pass and not off.gradient_accumulation_fusion
    assert off == stacks.replace(base, grad_accum_pass=True)
    assert stacks.resolve(name, gradient_accumulation_fusion=True) == base


def test_a_job_file_sets_it(tmp_path):
    """``training.framework.gradient_accumulation_fusion: false`` in a job file reaches the stack the job is timed
    with (the schema refused the key before gaf43)."""
    from planner.spec.load import load_job
    job = load_job(_job(tmp_path, name="megatron-core", gradient_accumulation_fusion=False))
    st = stacks.from_training(job.training, model=job.model)
    assert st.grad_accum_pass and "gradient_accumulation_fusion" in st.given_options


@pytest.mark.parametrize("grad_dtype, per_param", [("fp32", 10.0), ("same", 6.0)])
def test_off_costs_the_unfused_pass_at_the_jobs_gradient_dtype(catalog, grad_dtype, per_param):
    """The option off adds one elementwise pass a micro-batch over the rank's parameters to the backward, at the job's
    gradient dtype: an fp32 main_grad (Megatron-Core's bf16 default, ``grad_dtype: fp32``) reads 2 + 4 B and writes
    4 B a parameter every micro-batch; fp16 gradients (``--fp16`` without ``--accumulate-allreduce-grads-in-fp32``,
    ``grad_dtype: same``) 6 B, also every micro-batch: LocalDDP's fp16 ``main_grad`` is zeroed at the step's start
    and added into by each (``Stack.main_grad_buffer``; until fsdp53 the first was taken as stolen). Exactly the
    mechanism the registry field prices."""
    t = TrainingSpec(seq_len=2048, global_batch=64, micro_batch=1, precision="fp16" if grad_dtype == "same" else "bf16",
                     grad_dtype=grad_dtype, recompute="full", flash_attention=False)
    hw = hw_for(catalog, "A100-SXM-80GB")
    c = cands(tp=4, pp=1, dp=8, mb=1, nodes=4, zero=0)
    fused = step_time(LLAMA, t, c, hw, framework=stacks.resolve("megatron-lm"))
    unfused = step_time(LLAMA, t, c, hw, framework=stacks.resolve("megatron-lm", gradient_accumulation_fusion=False))
    same = step_time(LLAMA, t, c, hw, framework=stacks.replace(stacks.resolve("megatron-lm"), grad_accum_pass=True))
    assert float(unfused["step_time_s"][0]) == float(same["step_time_s"][0])
    from planner.model.step_time import grad_accum_pass
    bytes_, stolen = grad_accum_pass(stacks.resolve("megatron-lm"), t, LLAMA.hidden)
    assert bytes_[0] == per_param and not bool(stolen[0])
    assert float(unfused["t_bwd_mb"][0]) > float(fused["t_bwd_mb"][0])
    assert float(unfused["t_fwd_mb"][0]) == float(fused["t_fwd_mb"][0])


def test_every_output_says_which_value_was_assumed(cli, tmp_path):
    """The stack line (estimate's table, recommend's ``inputs.training_stack``) and the plan's stack record (the JSON's
    ``best.stack``, which reads back as a job's framework) carry the value, the default included."""
    line = stacks.resolve("megatron-core").describe("bf16")
    assert "gradient_accumulation_fusion=on" in line
    assert "gradient_accumulation_fusion" not in stacks.resolve("torchtitan").describe("bf16")
    code, out, _ = cli("estimate", _job(tmp_path, name="megatron-core", gradient_accumulation_fusion=False))
    assert code == 0 and "gradient_accumulation_fusion=off" in " ".join(out.split())
    d = answered(cli("recommend", _job(tmp_path, name="megatron-core", gradient_accumulation_fusion=False), "--json",
                     "--no-simulate", "--top", "1"))
    assert d["best"]["stack"]["gradient_accumulation_fusion"] is False
    assert "gradient_accumulation_fusion=off" in d["inputs"]["training_stack"]
    d = answered(cli("recommend", _job(tmp_path, name="megatron-core"), "--json", "--no-simulate", "--top", "1"))
    assert d["best"]["stack"]["gradient_accumulation_fusion"] is True


def test_refused_on_a_stack_without_the_switch(cli, tmp_path):
    """torchtitan has no such switch: one line naming the stacks that do, exit 2. Megatron-DeepSpeed never fuses (its
    legacy layers accumulate through autograd under the DeepSpeed engine): ``false`` states that fact and is taken,
    ``true`` asks for what its code has not got and is refused."""
    line = refused(cli("estimate", _job(tmp_path, name="torchtitan", gradient_accumulation_fusion=False)))
    assert line.startswith("error: training.framework.gradient_accumulation_fusion: torchtitan has no ")
    assert "megatron-core" in line and "megatron-lm" in line
    assert stacks.resolve("megatron-deepspeed", gradient_accumulation_fusion=False) == stacks.resolve("megatron-deepspeed")
    with pytest.raises(stacks.InputError, match="megatron-deepspeed has no gradient-accumulation fusion"):
        stacks.resolve("megatron-deepspeed", gradient_accumulation_fusion=True)


def test_the_launch_turns_the_fusion_off_as_priced(cli, tmp_path):
    """A plan timed without the fusion launches Megatron with ``--no-gradient-accumulation-fusion``; the default plan
    (ZeRO-1 here) launches without it."""
    def emitted(**framework):
        code, out, err = cli("recommend", _job(tmp_path, **framework), "--no-simulate", "--emit", "torchrun")
        assert code == 0, err
        return out
    assert "--no-gradient-accumulation-fusion" in emitted(name="megatron-core", gradient_accumulation_fusion=False)
    assert "--no-gradient-accumulation-fusion" not in emitted(name="megatron-core")


def test_nar21_rows_use_the_registry_option():
    """benchmarks/validate.py times the 2021 Table 1 rows on the ``megatron-lm`` entry with the job option, not a stack
    of its own."""
    import validate as V
    assert V.NAR21_STACK == stacks.resolve("megatron-lm", gradient_accumulation_fusion=False)
    assert V.NAR21_STACK.sources == stacks.STACKS["megatron-lm"].sources
    assert V.NAR21_STACK.given_options == {"gradient_accumulation_fusion"}
