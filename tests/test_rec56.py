"""rec56: ``recommend`` searches the HF Trainer's gradient accumulation where the job leaves it open.

hf56 priced the Trainer under FSDP2 holding the whole model's unsharded bf16 gradient across a step's micro-batches
(accelerate >= 1.11's ``no_sync``: ``defer_fsdp_grad_sync``, default on). ``sync_each_batch`` (the option off) holds
none; the search now tries it as a fallback, as the offloads and the fused cross-entropy, only where the deferred plan
does not fit (planner.search.space ``stack_variants``). A job that sets the option keeps it; other stacks' searches
are untouched.
"""
import json

from planner.model.stacks import from_training
from planner.search.space import stack_variants
from planner.spec import TrainingSpec
from planner.spec.load import load_job_dict

from conftest import write_job

QWEN = """
model: {preset: qwen3-30b-a3b}
training: {mode: full_finetune, seq_len: 4096, global_batch: 64, micro_batch: 1, precision: bf16, tokens: 1.0e8,
           recompute: full, framework: {name: hf-trainer%s}}
parallel: {zero: 3, tp: 1, pp: 1, ep: 1%s}
cluster: {instance: p5.48xlarge, nodes: 2}
"""


def _json(cli, path, *args):
    code, out, err = cli(*args, str(path), "--no-simulate", "--json") if args[0] == "recommend" else cli(
        *args, str(path), "--json")
    assert code == 0, err
    return json.loads(out)


def test_qwen3_30b_on_two_p5_fits_syncing_each_batch(cli, tmp_path):
    """Qwen3-30B-A3B full fine-tune, 2 x p5.48xlarge, ZeRO-3, EP 1, 4 micro-batches a step: deferred, every layout
    needs 93+ GiB of 76 allowed, and the search fell back to optimizer offload (8.27 s a step). Syncing each batch
    (sync_each_batch) fits HSDP z3/8 at 72.1 GiB, 2.46 s; the plan says so, its record pastes back as the job, and
    estimate of that job gives the same step and memory."""
    d = _json(cli, write_job(tmp_path, QWEN % ("", "")), "recommend")
    best = d["best"]
    assert best["stack"]["defer_fsdp_grad_sync"] is False, best["stack"]
    assert "defer_fsdp_grad_sync" in best["stack"]["searched"], best["stack"]
    assert best["config"]["offload"] == "none" and best["step_time_s"] < 3.0, (best["config"], best["step_time_s"])
    assert any(a.startswith("training.framework.defer_fsdp_grad_sync false (searched, left open: defer_fsdp_grad_sync "
                            "true, the default, does not fit") for a in d["assumptions"]), d["assumptions"]
    assert any("the gradient sync each micro-batch only for layouts that do not fit" in a
               for a in d["assumptions"]), d["assumptions"]
    one = _json(cli, write_job(tmp_path, QWEN % (", defer_fsdp_grad_sync: false",
                                                 f", dp_shard: {best['config']['dp_shard']}"), "e.yaml"), "estimate")
    assert abs(one["step_time_s"] - best["step_time_s"]) < 1e-9 * best["step_time_s"]
    assert one["memory_per_gpu_bytes"]["total"] == best["memory_per_gpu_bytes"]["total"]


def test_the_table_has_the_option_column_only_where_searched(cli, tmp_path):
    """The CSV's defer_fsdp_grad_sync column: the fitting rows say which sync each ran (both values here); a search
    that did not try it (the job sets it) has no such column, as before rec56."""
    out = tmp_path / "q.csv"
    code, _, err = cli("recommend", str(write_job(tmp_path, QWEN % ("", ""))), "--no-simulate", "--csv", str(out))
    assert code == 0, err
    head, *rows = out.read_text().splitlines()
    col = head.split(",").index("defer_fsdp_grad_sync")
    assert {r.split(",")[col] for r in rows} == {"True", "False"}
    code, _, err = cli("recommend", str(write_job(tmp_path, QWEN % (", defer_fsdp_grad_sync: true", ""), "s.yaml")),
                       "--no-simulate", "--csv", str(out), "--force")
    assert code == 0, err
    assert "defer_fsdp_grad_sync" not in out.read_text().splitlines()[0]


def test_a_user_set_deferred_sync_is_kept(cli, tmp_path):
    """``defer_fsdp_grad_sync: true`` set by the job: the search does not turn it off; the only fit left is optimizer
    offload, as before rec56."""
    d = _json(cli, write_job(tmp_path, QWEN % (", defer_fsdp_grad_sync: true", "")), "recommend")
    best = d["best"]
    assert best["stack"]["defer_fsdp_grad_sync"] is True and "defer_fsdp_grad_sync" not in best["stack"]["searched"]
    assert best["config"]["offload"] == "optimizer", best["config"]


def _job(fw, zero=None):
    return load_job_dict({"model": {"preset": "llama3-8b"},
                                   "training": {"seq_len": 4096, "global_batch": 64, "precision": "bf16",
                                                "tokens": 1e9, "framework": fw},
                                   "parallel": {} if zero is None else {"zero": zero}})


def test_the_variants_sync_each_batch_only_as_a_zero2_fallback():
    """The axis exists for the HF Trainer with the option open and ZeRO-2/3 reachable only: each syncing variant's
    parent is its deferred twin (tried where that does not fit), at ZeRO >= 2, screened against the all-first root
    with its gradients freeable. Megatron-Core and a ZeRO-1 Trainer job search no such axis."""
    vs = stack_variants(_job({"name": "hf-trainer"}))
    synced = [v for v in vs if v.values.get("defer_fsdp_grad_sync") is False]
    assert synced and all(v.min_zero >= 2 for v in synced)
    for v in synced:
        twin = {**v.values, "defer_fsdp_grad_sync": True}
        assert any(vs[q].values == twin for q in v.parents)
        assert vs[v.root].values == {k: (x if k == "fsdp_version" or k == "reshard_after_forward" else vs[0].values[k])
                                     for k, x in v.values.items()}
    assert all("defer_fsdp_grad_sync" not in v.values for v in stack_variants(_job({"name": "megatron-core"})))
    assert all("defer_fsdp_grad_sync" not in v.values for v in stack_variants(_job({"name": "hf-trainer"}, zero=1)))


def test_an_fsdp1_plan_records_the_deferred_sync_it_runs():
    """Under FSDP1 the option resolves to ``fsdp1_no_sync`` (stacks._with_fsdp_version), and the plan's record read
    the bare field: ``defer_fsdp_grad_sync: false`` on a plan that defers, which pasted back would sync each batch."""
    t = TrainingSpec(seq_len=4096, global_batch=32, micro_batch=1, precision="bf16",
                     framework={"name": "hf-trainer", "fsdp_version": 1})
    assert from_training(t).options(zero=3)["defer_fsdp_grad_sync"] is True
