"""Launch specs of fine-tuning plans (planner/present/emit.py ``FINETUNE_NOTES``): the emitted programs are the
stacks' pre-training entry points, so a LoRA or full fine-tuning plan says beside its placeholder what the launch
must add (adapters, the pretrained weights); before, a LoRA plan's torchtitan or Megatron-LM launch was a plain
pre-training run of every weight with nothing said."""
import pytest

from planner.present.emit import FINETUNE_NOTES, launch_plan
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

CASES = [("torchtitan", 3, "fsdp", "TITAN_CONFIG"), ("megatron-core", 1, "megatron", "MEGATRON_DIR"),
         ("nemo-automodel", 3, "automodel", "AUTOMODEL_CONFIG")]


def _plan(framework, zero, mode):
    t = {"seq_len": 4096, "global_batch": 32, "micro_batch": 1, "tokens": 1e8, "framework": framework}
    if mode != "pretrain":
        t["mode"] = mode
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": t, "parallel": {"tp": 1, "pp": 1, "zero": zero},
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    return job, estimate_job(job)


@pytest.mark.parametrize("framework,zero,style,key", CASES)
@pytest.mark.parametrize("mode", ["lora", "full_finetune"])
def test_finetune_plans_say_what_the_launch_must_add(framework, zero, style, key, mode):
    job, r = _plan(framework, zero, mode)
    lp = launch_plan(job, r.as_dict() if hasattr(r, "as_dict") else r)
    assert lp.style == style
    assert FINETUNE_NOTES[style][mode] in lp.placeholders[key]


@pytest.mark.parametrize("framework,zero,style,key", CASES)
def test_pretraining_plans_carry_no_finetune_note(framework, zero, style, key):
    job, r = _plan(framework, zero, "pretrain")
    lp = launch_plan(job, r.as_dict() if hasattr(r, "as_dict") else r)
    assert not any(n in v for v in lp.placeholders.values() for notes in FINETUNE_NOTES.values() for n in notes.values())
