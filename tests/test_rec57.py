"""rec57: ``recommend`` searches NeMo AutoModel's two options that trade memory for time when the job leaves them open.

``defer_fsdp_grad_sync`` (AutoModel's ``FSDP2Config.defer_fsdp_grad_sync``, default true: the loop's ``get_sync_ctx``
holds the whole unsharded gradient to a step's last micro-batch; its own 70B benchmark config sets it false, "Must be
False with GA>1") was searched on the HF Trainer only (rec56). ``loss_fn`` (``MaskedCrossEntropy``, the recipes', or
``FusedLinearCrossEntropy``, Cut Cross-Entropy: no logits, the head GEMM re-run) was never searched. Both are fallbacks
now, tried only where the default does not fit (planner.search.space ``stack_variants``).
"""
import json

from planner.search.space import stack_variants
from planner.spec.load import load_job_dict

from conftest import write_job

JOB = """
model: {preset: llama3-8b}
training: {mode: full_finetune, seq_len: %d, global_batch: %d, micro_batch: %d, precision: bf16, tokens: 1.0e8,
           recompute: full, framework: {name: nemo-automodel%s}}
parallel: {zero: 3, tp: 1, pp: 1%s}
cluster: {instance: p4d.24xlarge, nodes: 1}
"""


def _run(cli, path, command="recommend"):
    args = (command, str(path), "--json") + (("--no-simulate",) if command == "recommend" else ())
    code, out, err = cli(*args)
    return code, (json.loads(out) if code == 0 else err)


def test_llama3_8b_on_one_p4d_fits_only_syncing_each_batch(cli, tmp_path):
    """Llama-3-8B full fine-tune on 8 x A100-40GB, ZeRO-3, 8 micro-batches a step: deferred, the best layout needs
    54.5 GiB of 38 allowed (the unsharded bf16 gradient held to the last micro-batch), and main found no plan at
    all. Syncing each micro-batch fits; the plan says which value it chose, why, and estimate of that job agrees."""
    code, d = _run(cli, write_job(tmp_path, JOB % (4096, 64, 1, "", "")))
    assert code == 0, d
    best = d["best"]
    assert best["stack"]["defer_fsdp_grad_sync"] is False, best["stack"]
    assert "defer_fsdp_grad_sync" in best["stack"]["searched"], best["stack"]
    assert best["config"]["offload"] == "none", best["config"]
    assert any(a.startswith("training.framework.defer_fsdp_grad_sync false (searched, left open: defer_fsdp_grad_sync "
                            "true, the default, does not fit") for a in d["assumptions"]), d["assumptions"]
    line = next(a for a in d["assumptions"] if a.startswith("training stack: nemo-automodel"))
    assert "defer_fsdp_grad_sync=off" in line and "the gradient sync each micro-batch" in line, line
    fw = "".join(f", {k}: {json.dumps(best['stack'][k])}" for k in ("defer_fsdp_grad_sync", "loss_fn",
                                                                    "reshard_after_forward"))
    code, one = _run(cli, write_job(tmp_path, JOB % (4096, 64, 1, fw, ", dp: 8"), "e.yaml"), "estimate")
    assert code == 0, one
    assert abs(one["step_time_s"] - best["step_time_s"]) < 1e-9 * best["step_time_s"]
    assert one["memory_per_gpu_bytes"]["total"] == best["memory_per_gpu_bytes"]["total"]


def test_llama3_8b_at_16k_fits_only_with_the_linear_cross_entropy(cli, tmp_path):
    """One micro-batch a step at DP 8 (nothing deferred): at 16,384 tokens MaskedCrossEntropy's fp32 upcast of the
    128,256-entry logits keeps every layout over 38 GiB (main: no plan, nearest 50.3 GiB); FusedLinearCrossEntropy
    fits. The record, the stack line, the explanation and the CSV column name it; estimate agrees."""
    path = write_job(tmp_path, JOB % (16384, 8, 1, "", ""))
    code, d = _run(cli, path)
    assert code == 0, d
    best = d["best"]
    assert best["stack"]["loss_fn"] == "linear_ce" and "loss_fn" in best["stack"]["searched"], best["stack"]
    assert any(a.startswith("training.framework.loss_fn linear_ce (searched, left open: loss_fn masked_ce, the "
                            "default, does not fit") for a in d["assumptions"]), d["assumptions"]
    line = next(a for a in d["assumptions"] if a.startswith("training stack: nemo-automodel"))
    assert "loss_fn=linear_ce" in line and "the linear cross-entropy only for layouts" in line, line
    code, one = _run(cli, write_job(tmp_path, JOB % (16384, 8, 1, ", loss_fn: linear_ce, reshard_after_forward: "
                                                     + json.dumps(best["stack"]["reshard_after_forward"]),
                                                     f", dp: {best['config']['dp']}, cp: {best['config']['cp']}"),
                                    "e.yaml"), "estimate")
    assert code == 0, one
    assert abs(one["step_time_s"] - best["step_time_s"]) < 1e-9 * best["step_time_s"]
    assert one["memory_per_gpu_bytes"]["total"] == best["memory_per_gpu_bytes"]["total"]
    out = tmp_path / "l.csv"
    code, _, err = cli("recommend", str(path), "--no-simulate", "--csv", str(out))
    assert code == 0, err
    head, *rows = out.read_text().splitlines()
    assert "linear_ce" in {r.split(",")[head.split(",").index("loss_fn")] for r in rows}


def test_a_fitting_default_is_kept_and_a_job_set_loss_is_not_searched(cli, tmp_path):
    """Where the default fits (8,192 tokens, one micro-batch), the plan keeps both defaults though the searched
    variants were open (fallbacks: tried only where their parent does not fit); a job that sets ``ce_fp32_upcast``
    (an argument FusedLinearCrossEntropy does not take) is not offered linear_ce: its plan at 16k keeps the masked loss
    (DP4 CP2 syncing each batch, 6.44 s; main found none) where the open job's is DP8 with linear_ce, 6.16 s."""
    code, d = _run(cli, write_job(tmp_path, JOB % (8192, 8, 1, "", "")))
    assert code == 0, d
    assert d["best"]["stack"]["loss_fn"] == "masked_ce" and d["best"]["stack"]["defer_fsdp_grad_sync"] is True
    code, u = _run(cli, write_job(tmp_path, JOB % (16384, 8, 1, ", ce_fp32_upcast: true", ""), "u.yaml"))
    assert code == 0, u
    assert u["best"]["stack"]["loss_fn"] == "masked_ce" and "loss_fn" not in u["best"]["stack"]["searched"]
    code, d = _run(cli, write_job(tmp_path, JOB % (16384, 8, 1, "", ""), "o.yaml"))
    assert code == 0 and d["best"]["step_time_s"] < u["best"]["step_time_s"], (d["best"], u["best"])


def _job(fw, **parallel):
    return load_job_dict({"model": {"preset": "llama3-8b"},
                          "training": {"seq_len": 4096, "global_batch": 64, "precision": "bf16", "tokens": 1e9,
                                       "framework": fw},
                          "parallel": parallel})


def test_the_automodel_variants_are_fallbacks_at_zero2_without_pp():
    """AutoModel's axes: syncing each batch only on ZeRO-2/3 rows without PP (under PP torch pipelining's hooks
    defer whatever the option), each such variant's parent its deferred twin; the linear loss under its masked twin.
    None with PP fixed above 1 (the sync), with the MoE ``fsdp_defer_sync`` set (it holds the gradients anyway), or
    with ``ce_fp32_upcast`` set (the loss)."""
    vs = stack_variants(_job({"name": "nemo-automodel"}))
    synced = [v for v in vs if v.values.get("defer_fsdp_grad_sync") is False]
    linear = [v for v in vs if v.values.get("loss_fn") == "linear_ce"]
    assert synced and all(v.min_zero >= 2 and v.max_pp == 1 for v in synced)
    assert linear and all(v.stack.loss_fn == "linear_ce" for v in linear)
    for v, k, first in [(v, "defer_fsdp_grad_sync", True) for v in synced] + [(v, "loss_fn", "masked_ce")
                                                                             for v in linear]:
        assert any(vs[q].values == {**v.values, k: first} for q in v.parents), v.values
        assert v.root is not None or v.relay  # (screened against its root; a pipeline pass's link is not)
    assert all("defer_fsdp_grad_sync" not in v.values for v in stack_variants(_job({"name": "nemo-automodel"}, pp=2)))
    assert all("loss_fn" not in v.values
               for v in stack_variants(_job({"name": "nemo-automodel", "ce_fp32_upcast": True})))
    assert all("loss_fn" not in v.values and "defer_fsdp_grad_sync" not in v.values
               for v in stack_variants(_job({"name": "megatron-core"})))


def test_every_stack_option_is_searched_or_says_why_not():
    """rec57's audit as a registry: each ``stacks.OPTIONS`` entry is in ``SEARCHED`` or has its reason in
    ``UNSEARCHED`` (a new option without either fails at import; this names the split), and the two options rec57
    added are searched on NeMo AutoModel."""
    from planner.model.stacks import OPTIONS, SEARCHED, STACKS, UNSEARCHED, searched_on

    assert set(SEARCHED) | set(UNSEARCHED) == set(OPTIONS) and not set(SEARCHED) & set(UNSEARCHED)
    assert all(isinstance(why, str) and len(why) > 20 for why in UNSEARCHED.values())
    assert searched_on(STACKS["nemo-automodel"], "defer_fsdp_grad_sync")
    assert searched_on(STACKS["nemo-automodel"], "loss_fn")
