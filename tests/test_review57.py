"""review57: defects found reviewing session 57's merged work, each with the check that failed before its fix.

- Megatron-LM's validate_args refuses ``--overlap-param-gather-with-optimizer-step`` without
  ``--overlap-param-gather``, without the distributed optimizer (ZeRO-0) and without the interleaved schedule; the
  planner priced such a job as if the option did nothing (stack_rules ``mcore-opt-gather-*``; the rule cases are in tests/test_stack_rules.py).
- The Megatron launch spec wrote neither ``--no-align-param-gather`` nor ``--overlap-param-gather-with-optimizer-step``
  for a plan priced with them (align57): the launched run took Megatron's default dispatch (emit
  ``_interleaved_gather_flags``)."""
from __future__ import annotations

import shlex

import pytest

from planner.errors import InputError
from planner.present.emit import emit_launch_spec
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job


def _job(framework: dict, zero=1, pp=4, vpp=5):
    return load_job_dict({"model": {"preset": "llama3-70b"},
                          "training": {"seq_len": 8192, "global_batch": 512, "micro_batch": 1, "precision": "bf16",
                                       "recompute": "full", "tokens": 1e12,
                                       "framework": {"name": "megatron-core", **framework}},
                          "parallel": {"tp": 4, "pp": pp, "vpp": vpp, "cp": 1, "zero": zero,
                                       "sequence_parallel": True},
                          "cluster": {"instance": "aws:p5.48xlarge", "nodes": 8}})


def _flags(framework: dict, **kw) -> list[str]:
    job = _job(framework, **kw)
    return shlex.split(emit_launch_spec(job, estimate_job(job), "torchrun:megatron"), comments=True)


@pytest.mark.parametrize("framework,flag", [({"align_param_gather": False}, "--no-align-param-gather"),
                                           ({"overlap_param_gather_with_optimizer_step": True},
                                            "--overlap-param-gather-with-optimizer-step")])
def test_megatron_launch_writes_the_interleaved_gather_dispatch_it_was_priced_with(framework, flag):
    assert flag in _flags(framework)
    default = _flags({})  # the stack's own: aligned, no optimizer-step overlap, Megatron-LM's defaults
    assert "--overlap-param-gather" in default
    assert not {"--no-align-param-gather", "--overlap-param-gather-with-optimizer-step"} & set(default)


def test_align_switch_is_not_written_without_the_interleaved_schedule():
    # (align_param_gather acts on the interleaved schedule only: a 1F1B plan's default launch is unchanged)
    assert "--no-align-param-gather" not in _flags({}, pp=4, vpp=1)


@pytest.mark.parametrize("framework,zero,field", [
    ({"overlap_param_gather_with_optimizer_step": True, "overlap_param_gather": False}, 1,
     "training.framework.overlap_param_gather_with_optimizer_step"),
    ({"overlap_param_gather_with_optimizer_step": True}, 0, "parallel.zero"),
    ({"overlap_param_gather_with_optimizer_step": True}, 1, "parallel.vpp")])
def test_estimate_refuses_the_optimizer_step_gather_megatron_refuses(framework, zero, field):
    with pytest.raises(InputError) as e:
        estimate_job(_job(framework, zero=zero, vpp=1 if field == "parallel.vpp" else 5))
    assert e.value.field == field and "overlap-param-gather-with-optimizer-step" in e.value.message
