"""NeMo AutoModel builds dense models with distributed/parallelizer.py ``DefaultParallelizationStrategy``, whose
``apply_fsdp2_sharding_recursively`` reshards every block but the last after forward without PP and none under PP
(``FSDP2Config.reshard_after_forward: None``, "AutoModel's heuristic"); its MoE models with moe/parallelizer.py
(``reshard_after_forward=False``, the entry's own default). ``Stack.dense_defaults`` carries the dense half, applied by
``Stack.for_model``. ``fsdp_defer_sync`` (``enable_fsdp_optimizations``) acts through ``MoEFSDPSyncMixin`` only, which a
dense model lacks: refused there (``Stack.moe_only``)."""

import pytest
import yaml

from planner.errors import InputError
from planner.model.stacks import STACKS, resolve
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

from conftest import ROOT
from test_left19 import _job, _spec_flags

AM = "nemo-automodel"
QWEN_MOE = {"preset": "qwen3-30b-a3b"}


def _est(parallel, framework=None, model=None):
    return estimate_job(_job({"framework": {"name": AM, **(framework or {})}}, parallel, model=model))


def _stack_line(plan) -> str:
    return next(a for a in plan.assumptions if a.startswith("training stack:"))


def test_a_dense_model_reshards_by_default_without_pp():
    """Llama-3-8B on 8 GPUs at ZeRO-3, no option: AutoModel's dense path reshards (the old entry priced the MoE path's
    ``False``: no second gather in the backward). Priced as ``reshard_after_forward: true`` and said so."""
    z3 = {"tp": 1, "pp": 1, "zero": 3}
    default, on, off = _est(z3), _est(z3, {"reshard_after_forward": True}), _est(z3, {"reshard_after_forward": False})
    assert default.step_time_s == on.step_time_s != off.step_time_s
    assert default.breakdown_s.comm_zero3 == on.breakdown_s.comm_zero3
    assert "reshard_after_forward=on" in _stack_line(default)
    assert default.memory_per_gpu_bytes.total == on.memory_per_gpu_bytes.total < off.memory_per_gpu_bytes.total


def test_the_default_follows_the_model_kind_and_pp():
    """A MoE model keeps the MoE parallelizer's ``False``; under PP the dense heuristic keeps every block gathered
    ("keep weights gathered across microbatches") while an explicit ``true`` reshards "everywhere, including
    pipeline-parallel layers" (config.py), as pp35 priced it."""
    z3 = {"tp": 1, "pp": 1, "ep": 8, "zero": 3}
    moe, moe_off = _est(z3, model=QWEN_MOE), _est(z3, {"reshard_after_forward": False}, model=QWEN_MOE)
    assert moe.step_time_s == moe_off.step_time_s
    assert "reshard_after_forward=off" in _stack_line(moe)
    assert STACKS[AM].reshard_after_forward is False  # the registry entry is the MoE path's
    pp = {"tp": 1, "pp": 2, "zero": 3}
    default, on, off = _est(pp), _est(pp, {"reshard_after_forward": True}), _est(pp, {"reshard_after_forward": False})
    assert default.step_time_s == off.step_time_s < on.step_time_s
    assert "reshard_after_forward=off (kept gathered under PP)" in _stack_line(default)
    # the dense default without PP is not the MoE one
    assert _est({"tp": 1, "pp": 1, "zero": 3}).step_time_s != _est({"tp": 1, "pp": 1, "zero": 3},
                                                                   {"reshard_after_forward": False}).step_time_s


def test_the_launch_writes_what_was_priced():
    def val(f, k):
        return f[f.index(k) + 1]

    assert val(_spec_flags(_job({"framework": {"name": AM}}, {"tp": 1, "pp": 1, "zero": 3})),
               "--distributed.reshard_after_forward") == "True"
    # under PP the stage priced kept gathered: launched False (True would reshard the pipeline stages too)
    assert val(_spec_flags(_job({"framework": {"name": AM}}, {"tp": 1, "pp": 2, "zero": 3})),
               "--distributed.reshard_after_forward") == "False"
    assert val(_spec_flags(_job({"framework": {"name": AM, "reshard_after_forward": True}}, {"tp": 1, "pp": 2, "zero": 3})),
               "--distributed.reshard_after_forward") == "True"
    moe = _spec_flags(_job({"framework": {"name": AM}}, {"tp": 1, "pp": 1, "ep": 8, "zero": 3}, model=QWEN_MOE))
    assert val(moe, "--distributed.reshard_after_forward") == "False"


def test_the_plan_record_reads_back_as_the_same_default():
    """The record writes a kind default null (the stack default): pasted back as the job's framework it is the heuristic
    again, not an explicit ``true`` that would reshard the PP stage."""
    plan = _est({"tp": 1, "pp": 2, "zero": 3})
    assert "reshard_after_forward" in plan.stack and plan.stack["reshard_after_forward"] is None
    fw = {k: v for k, v in plan.stack.items() if k not in ("name", "searched") and v is not None}
    again = _est({"tp": 1, "pp": 2, "zero": 3}, fw)
    assert again.step_time_s == plan.step_time_s
    assert _est({"tp": 1, "pp": 2, "zero": 3}, {"reshard_after_forward": False}).stack["reshard_after_forward"] is False


def test_fsdp_defer_sync_refused_on_a_dense_model():
    with pytest.raises(InputError, match="MoEFSDPSyncMixin") as e:
        _est({"tp": 1, "pp": 1, "zero": 3}, {"fsdp_defer_sync": True})
    assert e.value.field == "training.framework.fsdp_defer_sync"
    # off, or on a MoE model, it stands
    _est({"tp": 1, "pp": 1, "zero": 3}, {"fsdp_defer_sync": False})
    assert _est({"tp": 1, "pp": 1, "ep": 8, "zero": 3}, {"fsdp_defer_sync": True}, model=QWEN_MOE).step_time_s > 0
    # a dense plan's record does not list it (OPTION_USES), so it reads back without refusal
    assert "fsdp_defer_sync" not in _est({"tp": 1, "pp": 1, "zero": 3}).stack
    assert resolve(AM, fsdp_defer_sync=True).fsdp_defer_sync  # a stack option still: the model decides


def test_the_cli_refuses_it_in_one_line(main_cli, tmp_path):
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "tokens": 1e10,
                        "framework": {"name": AM, "fsdp_defer_sync": True}},
           "parallel": {"tp": 1, "pp": 1, "zero": 3}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    load_job_dict(job)  # the schema takes it; the model decides at the stack
    code, _, err = main_cli("estimate", path, cwd=ROOT)  # in-process (suite55: a fresh interpreter was ~1.3 CPU s)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: training.framework.fsdp_defer_sync: "), err
