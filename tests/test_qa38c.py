"""QA 38c: which pipeline schedules each registered stack runs (planner.model.stack_rules ``PIPELINE_SCHEDULES``), read
from its code: a schedule it does not run is ``error: parallel.schedule: ...``, a pipeline on a stack without one
``error: parallel.pp: ...``, and ``recommend`` searches neither. Each check fails on the code before QA 38c, which
planned every schedule on maxtext, neuronx-distributed and the no-pipeline stacks (metaseq, llm-foundry at any pp)."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job
from planner.model import stack_rules
from planner.vocab import FRAMEWORK, SCHEDULE

L8 = {"preset": "llama3-8b"}
CLUSTER = {"maxtext": {"instance": "gcp:tpu-v6e-64", "nodes": 1}, "neuronx-distributed": {"gpu": "Trainium2", "nodes": 1}}


def _job(framework: str, **parallel) -> dict:
    return {"model": L8, "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1e10, "micro_batch": 1,
                                      "recompute": "full", "framework": framework},
            "parallel": parallel, "cluster": CLUSTER.get(framework, {"instance": "aws:p5.48xlarge", "nodes": 1})}


def test_every_registered_stack_has_its_schedules_with_a_source():
    for name in FRAMEWORK.names:
        run = stack_rules.rules_runtime(name)
        runs, source = stack_rules.PIPELINE_SCHEDULES[run]
        assert set(runs) <= set(SCHEDULE.names) and source, name


@pytest.mark.parametrize("framework,parallel,field,words", [
    # MaxText's pipeline is a scanned forward whose JAX transpose runs every backward after every forward (GPipe)
    # (named: an open schedule on MaxText is its own GPipe since sched31, tests/test_sched31.py)
    ("maxtext", {"pp": 2, "schedule": "1f1b"}, "parallel.schedule", "1F1B (use parallel.schedule gpipe)"),
    ("maxtext", {"pp": 2, "vpp": 2, "schedule": "interleaved"}, "parallel.schedule", "interleaved 1F1B"),
    # NxD's schedulers: Train1F1BSchedule, TrainInterleavedSchedule
    ("neuronx-distributed", {"pp": 2, "schedule": "gpipe"}, "parallel.schedule", "GPipe (use parallel.schedule 1f1b or"),
    # no pipeline code at all
    ("metaseq", {"pp": 2}, "parallel.pp", "metaseq refuses pipeline parallelism"),
    ("llm-foundry", {"pp": 2}, "parallel.pp", "Composer (llm-foundry) refuses pipeline parallelism"),
    ("pytorch-ddp", {"pp": 2}, "parallel.pp", "PyTorch DDP refuses pipeline parallelism"),
    ("metaseq", {"schedule": "gpipe"}, "parallel.schedule", "it has no pipeline"),
    ("llm-foundry", {"schedule": "gpipe"}, "parallel.schedule", "it has no pipeline"),
])
def test_estimate_refuses_a_schedule_or_pipeline_the_stack_lacks(tmp_path, cli, framework, parallel, field, words):
    line = refused(cli("estimate", write_job(tmp_path, _job(framework, **parallel))))
    assert line.startswith(f"error: {field}: "), line
    assert words in line, line


@pytest.mark.parametrize("framework,parallel", [
    ("maxtext", {"pp": 2, "schedule": "gpipe"}),
    ("neuronx-distributed", {"pp": 2, "vpp": 2, "schedule": "interleaved"}),
    ("neuronx-distributed", {"pp": 2}),
    ("nemo-automodel", {"pp": 2, "schedule": "gpipe"}),
    ("metaseq", {}),
])
def test_estimate_plans_what_the_stack_runs(tmp_path, cli, framework, parallel):
    est = answered(cli("estimate", write_job(tmp_path, _job(framework, **parallel)), "--json"))
    assert est["config"]["pp"] == parallel.get("pp", 1)


def test_recommend_searches_no_pipeline_on_a_stack_without_one(tmp_path, cli):
    """llm-foundry (Composer: FSDP only) with a fixed pp 2 was ranked; now refused before any plan."""
    job = {"model": L8, "training": {"seq_len": 4096, "global_batch": 256, "tokens": 1e10, "framework": "llm-foundry"},
           "parallel": {"pp": 2}, "constraints": {"gpus": ["H100"], "clouds": ["aws"], "max_gpus": 32}}
    line = refused(cli("recommend", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: parallel.pp: "), line
