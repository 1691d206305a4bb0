"""sched31: a ``parallel.schedule`` the job leaves open is the stack's own -- the first of its runtime's
``PIPELINE_SCHEDULES`` row (planner.model.stack_rules ``stack_schedule`` / ``schedule_codes``): GPipe for MaxText at
pp > 1, said in an ``assumed:`` line; 1f1b (interleaved with vpp > 1) everywhere it was before. Until sched31 the
open field was 1f1b on every stack, so a MaxText job with pp 2 and no schedule was ``error: parallel.schedule: MaxText
refuses ... 1F1B`` and ``recommend`` planned MaxText at pp 1 only. A schedule the job writes stays its own."""
from __future__ import annotations

import json

import numpy as np

from conftest import answered, refused, write_job
from planner.model import stack_rules
from planner.spec.schema import ParallelSpec
from planner.vocab import SCHEDULE

L8 = {"preset": "llama3-8b"}


def _maxtext(**parallel) -> dict:
    """The brief's job: llama3-8b on 4 x v6e-8 at pp 2 under MaxText."""
    return {"model": L8, "training": {"seq_len": 8192, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                                      "tokens": 1.0e11, "framework": "maxtext"},
            "parallel": {"tp": 1, "pp": 2, **parallel}, "cluster": {"instance": "gcp:tpu-v6e-8", "nodes": 4}}


def _mcore(**parallel) -> dict:
    return {"model": L8, "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "tokens": 1e10,
                                      "recompute": "none", "framework": "megatron-core"},
            "parallel": {"tp": 2, "pp": 2, **parallel}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}


def test_maxtext_job_without_a_schedule_estimates_gpipe_and_says_so(tmp_path, cli):
    d = answered(cli("estimate", write_job(tmp_path, _maxtext()), "--json"))
    assert d["config"]["schedule"] == "gpipe" and d["config"]["pp"] == 2
    said = [a for a in d["assumptions"] if a.startswith(stack_rules.OPEN_SCHEDULE)]
    assert said and "GPipe" in said[0] and "MaxText" in said[0], d["assumptions"]
    # the same plan as the job that names gpipe (bit for bit), which says nothing of an open schedule
    named = answered(cli("estimate", write_job(tmp_path, _maxtext(schedule="gpipe"), "named.yaml"), "--json"))
    assert named["step_time_s"] == d["step_time_s"]
    assert not [a for a in named["assumptions"] if a.startswith(stack_rules.OPEN_SCHEDULE)]
    code, out, err = cli("estimate", write_job(tmp_path, _maxtext()))
    assert code == 0, err
    assert "assumed: parallel.schedule open: GPipe" in " ".join(out.split())


def test_explicit_1f1b_on_maxtext_is_still_refused(tmp_path, cli):
    line = refused(cli("estimate", write_job(tmp_path, _maxtext(schedule="1f1b"))))
    assert line.startswith("error: parallel.schedule: MaxText refuses"), line
    assert "1F1B (use parallel.schedule gpipe)" in line, line


def test_maxtext_at_pp_1_runs_no_pipeline(tmp_path, cli):
    """pp 1 with the schedule open stays 1f1b (no pipelining): GPipe there would be priced as holding every
    micro-batch's activations, which a pp-1 MaxText run with gradient accumulation does not."""
    d = answered(cli("estimate", write_job(tmp_path, {**_maxtext(), "parallel": {"tp": 1, "pp": 1}}), "--json"))
    assert d["config"]["schedule"] == "1f1b"
    assert not [a for a in d["assumptions"] if a.startswith(stack_rules.OPEN_SCHEDULE)]


def test_recommend_on_maxtext_searches_pp_above_1(tmp_path, cli):
    job = {"model": L8, "training": {"seq_len": 8192, "global_batch": 256, "precision": "bf16", "tokens": 1.0e11,
                                     "framework": "maxtext"},
           "parallel": {"pp": 2}, "cluster": {"instance": "gcp:tpu-v6e-8"}}
    d = answered(cli("recommend", write_job(tmp_path, job), "--json", "--no-simulate", "--top", "3"))
    assert d["ranked"] and all(r["config"]["pp"] == 2 and r["config"]["schedule"] == "gpipe" for r in d["ranked"])
    assert any(a.startswith(stack_rules.OPEN_SCHEDULE) for a in d["assumptions"])


def test_framework_auto_resolves_each_stacks_own(tmp_path, cli):
    """auto over H100s and v6e: one chunk of layouts, each stack group's schedule its own."""
    job = {"model": L8, "training": {"seq_len": 8192, "global_batch": 256, "precision": "bf16", "tokens": 1.0e11,
                                     "framework": "auto"},
           "parallel": {"pp": 2}, "constraints": {"gpus": ["H100", "TPU-v6e"], "max_gpus": 64}}
    d = answered(cli("recommend", write_job(tmp_path, job), "--json", "--no-simulate", "--top", "1000"))
    by_stack = {}
    for r in d["ranked"]:
        by_stack.setdefault(r["stack"]["name"], set()).add(r["config"]["schedule"])
    assert by_stack["maxtext"] == {"gpipe"}, by_stack
    assert by_stack["megatron-core"] <= {"1f1b", "interleaved"} and by_stack["megatron-core"], by_stack


def test_megatron_core_job_without_a_schedule_is_unchanged(tmp_path, cli):
    """Megatron's own schedule is 1f1b: the open field estimates exactly as before (as the job naming 1f1b, and
    interleaved at vpp 2), with no schedule line."""
    for open_, named in ((_mcore(), _mcore(schedule="1f1b")), (_mcore(vpp=2), _mcore(vpp=2, schedule="interleaved"))):
        a = answered(cli("estimate", write_job(tmp_path, open_, "a.yaml"), "--json"))
        b = answered(cli("estimate", write_job(tmp_path, named, "b.yaml"), "--json"))
        assert a["step_time_s"] == b["step_time_s"] and a["config"]["schedule"] == b["config"]["schedule"]
        assert not [x for x in a["assumptions"] if x.startswith(stack_rules.OPEN_SCHEDULE)]


def test_schedule_codes_keep_the_jobs_own_and_resolve_the_open_field():
    pp, vpp = np.array([1, 2, 2, 4]), np.array([1, 1, 2, 1])
    c = SCHEDULE.code
    open_ = ParallelSpec()
    assert stack_rules.stack_schedule("maxtext") == "gpipe" and stack_rules.stack_schedule("megatron-core") == "1f1b"
    assert stack_rules.stack_schedule("metaseq") == "1f1b"  # no pipeline: pp 1, no pipelining
    assert stack_rules.schedule_codes("maxtext", open_, pp, vpp).tolist() == [c["1f1b"], c["gpipe"], c["interleaved"],
                                                                              c["gpipe"]]
    assert stack_rules.schedule_codes("megatron-core", open_, pp, vpp).tolist() == [c["1f1b"], c["1f1b"],
                                                                                    c["interleaved"], c["1f1b"]]
    named = ParallelSpec(schedule="1f1b")  # the job's own, even on MaxText (the stack rule refuses it)
    assert stack_rules.schedule_codes("maxtext", named, pp, vpp).tolist() == [c["1f1b"], c["1f1b"], c["interleaved"],
                                                                              c["1f1b"]]
