"""A plan's stack record lists as ``searched`` only options it carries (session 49).

test_plan_agreement's hypothesis drew a DeepSpeed pretrain job whose recommended ZeRO-1 plan listed ``param_offload``
(opened by the search, ZeRO-3 only) in ``searched`` without a value: writing the record back as the job's stack raised
``KeyError: 'param_offload'``. The record now drops a searched option the plan's layout does not use."""
from planner.search.evaluate import stack_record
from planner.spec import load_job_dict
from planner.workloads.training import recommend

JOB = {"model": {"preset": "llama3-8b"},
       "training": {"tokens": 1.0e9, "seq_len": 4096, "global_batch": 256, "framework": "deepspeed"},
       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


def test_a_searched_option_the_plan_does_not_use_is_not_listed():
    job = load_job_dict(JOB)
    rec = stack_record(job, searched=("optimizer_offload", "param_offload"), zero=1)
    assert "param_offload" not in rec and rec["searched"] == ["optimizer_offload"]
    rec3 = stack_record(job, searched=("optimizer_offload", "param_offload"), zero=3)
    assert rec3["searched"] == ["optimizer_offload", "param_offload"] and "param_offload" in rec3


def test_every_searched_option_of_recommends_rows_has_its_value():
    out = recommend(load_job_dict(JOB))
    rows = [out.best] + list(out.ranked)
    for r in rows:
        st = r["stack"] if isinstance(r, dict) else r.stack
        st = st if isinstance(st, dict) else dict(st)
        assert all(k in st for k in st["searched"]), st
