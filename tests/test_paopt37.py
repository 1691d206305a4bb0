"""Megatron-Core's precision-aware optimizer (paopt37): ``training.framework.precision_aware_optimizer`` with
``exp_avg_dtype`` / ``exp_avg_sq_dtype`` / ``main_params_dtype`` (planner.model.optimizers ``PrecisionAware``).

Memory per parameter (sharded by the distributed optimizer): TE FusedAdam's moments at their dtypes and, with bf16
weights and fp32 main params, the master's 16 low bits only (``store_param_remainders``); an fp8 recipe other than
delayed keeps Megatron's own fp32 master. The step: TE's kernel plus the fp32 temporaries of each state below fp32.
Refused as Megatron's OptimizerConfig refuses it; launched as Megatron's flags."""
import shlex

import pytest

from planner.errors import InputError
from planner.model.optimizers import PrecisionAware, precision_aware
from planner.model.stacks import resolve
from planner.present.emit import emit_launch_spec
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

GiB = 2**30


def _job(fw: dict, zero=1, precision="bf16", optimizer="adamw", recipe=None):
    fw = {"name": "megatron-core", **fw}
    if recipe:
        fw["fp8_recipe"] = recipe
    return load_job_dict({"model": {"preset": "llama3-8b"},
                          "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "tokens": 1e10,
                                       "precision": precision, "optimizer": optimizer, "recompute": "full",
                                       "framework": fw},
                          "parallel": {"tp": 1, "pp": 1, "dp": 8, "cp": 1, "zero": zero},
                          "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}})


def _opt_bytes(plan) -> float:
    return plan.memory_per_gpu_bytes["optimizer"]


def test_state_bytes_follow_the_dtypes():
    """Llama-3-8B at ZeRO-1 over 8 ranks: without the option 4 (fp32 master) + 8 (fp32 moments) bytes a parameter over
    8; with it and fp32 dtypes, the master's remainders (2) + 8; with bf16 moments 2 + 4; fp8 moments 2 + 2."""
    base = estimate_job(_job({}))
    n = base.params
    assert _opt_bytes(base) == pytest.approx(n * 12 / 8, rel=1e-3)
    for dtypes, per_param in (({}, 10), ({"exp_avg_dtype": "bf16", "exp_avg_sq_dtype": "bf16"}, 6),
                              ({"exp_avg_dtype": "fp8", "exp_avg_sq_dtype": "fp8"}, 4),
                              ({"exp_avg_dtype": "fp16", "exp_avg_sq_dtype": "fp32", "main_params_dtype": "fp16"}, 8)):
        plan = estimate_job(_job({"precision_aware_optimizer": True, **dtypes}))
        assert _opt_bytes(plan) == pytest.approx(n * per_param / 8, rel=1e-3), dtypes
        # the weights and the gradient buffer are the same tensors as without it
        for part in ("weights", "grads"):
            assert plan.memory_per_gpu_bytes[part] == pytest.approx(base.memory_per_gpu_bytes[part], rel=1e-9)


def test_fp8_keeps_a_whole_fp32_master():
    """optimizer_config.py ``use_precision_aware_optimizer_no_fp8_or_ds_fp8``: under an fp8 recipe other than delayed,
    with fp32 main params, TE gets no master weights -- the distributed optimizer keeps its fp32 master (4 bytes); under
    delayed scaling TE keeps it, but the parameters are FP8-stored (--fp8-param-gather at ZeRO-1) and FusedAdam keeps
    remainders for bf16 parameters only (``p.dtype == torch.bfloat16``): a whole fp32 master too. Only the moments
    shrink."""
    bf16 = dict(precision_aware_optimizer=True, exp_avg_dtype="bf16", exp_avg_sq_dtype="bf16")
    n = estimate_job(_job({})).params
    for recipe in ("tensorwise", "delayed"):
        plan = estimate_job(_job(bf16, precision="fp8", recipe=recipe))
        assert _opt_bytes(plan) == pytest.approx(n * (4 + 4) / 8, rel=1e-3), recipe


def test_step_bytes_count_te_fusedadam_copies():
    """fused_adam.py ``step``: the kernel moves the gradient, the 16-bit parameter and its int16 remainders, and both
    moments at fp32; a bf16 moment is unscaled into an fp32 temporary and written back (16 bytes more each). So bf16
    moments make the optimizer step slower, fp32 ones (remainders alone) faster than Megatron's own fp32 master."""
    fp32 = PrecisionAware("fp32", "fp32", "fp32", te_master=True, remainders=True)
    bf16 = PrecisionAware("bf16", "bf16", "fp32", te_master=True, remainders=True)
    assert fp32.step_bytes(4.0) == 4 + 4 + 2 * (2 + 4 + 4)  # 28
    assert bf16.step_bytes(2.0) == 2 + 4 + 2 * (2 + 4 + 4) + 2 * 16  # 58
    base = estimate_job(_job({})).breakdown_s["optimizer"]
    t32 = estimate_job(_job({"precision_aware_optimizer": True})).breakdown_s["optimizer"]
    t16 = estimate_job(_job({"precision_aware_optimizer": True, "exp_avg_dtype": "bf16",
                             "exp_avg_sq_dtype": "bf16"})).breakdown_s["optimizer"]
    assert t32 < base < t16


def test_refused_as_megatron_refuses_it():
    """OptimizerConfig.__post_init__: the distributed optimizer (ZeRO-1); a dtype below fp32 needs the flag; the CPU
    offload's HybridDeviceOptimizer takes no dtype; a stack without Megatron-Core's optimizer has no option (Adam only:
    tests/test_stack_rules.py mcore-pa-optimizer)."""
    for fw, kw, field in (({"precision_aware_optimizer": True}, dict(zero=0), "precision_aware_optimizer"),
                          ({"exp_avg_dtype": "bf16"}, {}, "precision_aware_optimizer"),
                          ({"optimizer_offload": True, "exp_avg_sq_dtype": "fp8"}, {}, "optimizer_offload")):
        with pytest.raises(InputError) as e:
            estimate_job(_job(fw, **kw))
        assert field in e.value.field, (fw, e.value.field)
    with pytest.raises(InputError):
        resolve("torchtitan", precision_aware_optimizer=True)
    with pytest.raises(Exception):
        _job({"exp_avg_dtype": "int8"})


def _argv(text: str) -> list[str]:
    return [t for t in shlex.split(text, comments=True) if t.strip()]


def test_launch_writes_megatrons_flags():
    """--emit writes the flags the plan was priced with (Megatron-LM arguments.py: --use-precision-aware-optimizer,
    --exp-avg-dtype, --exp-avg-sq-dtype, --main-params-dtype; fp32, the default, left out)."""
    job = _job({"precision_aware_optimizer": True, "exp_avg_dtype": "bf16", "exp_avg_sq_dtype": "fp8"})
    argv = _argv(emit_launch_spec(job, estimate_job(job), "torchrun:megatron"))
    assert "--use-precision-aware-optimizer" in argv and "--use-distributed-optimizer" in argv
    assert argv[argv.index("--exp-avg-dtype") + 1] == "bf16"
    assert argv[argv.index("--exp-avg-sq-dtype") + 1] == "fp8"
    assert "--main-params-dtype" not in argv
    plain = _job({})
    assert "--use-precision-aware-optimizer" not in _argv(emit_launch_spec(plain, estimate_job(plain), "torchrun:megatron"))


def test_stack_line_names_the_dtypes():
    st = resolve("megatron-core", precision_aware_optimizer=True, exp_avg_dtype="bf16", exp_avg_sq_dtype="fp8")
    assert "precision_aware_optimizer=on (exp_avg bf16, exp_avg_sq fp8, main_params fp32)" in st.describe("bf16")
    assert "precision_aware" not in resolve("megatron-core").describe("bf16")
    pa = precision_aware(st, _job({}).training)
    assert (pa.master, pa.optimizer) == (2.0, 3.0)


def test_checkpoint_holds_fp32_state_whatever_the_dtypes():
    """Megatron's distributed optimizer writes each state through TE FusedAdam's ``get_unscaled_state`` (fp32;
    distrib_optimizer.py ``_get_main_param_and_optimizer_states`` under ``use_precision_aware_optimizer_no_fp8_or_ds_fp8``),
    and the master whole: the checkpoint is the 2 + 4 + 8 bytes a parameter of the plain path, not the state the GPU
    holds. A checkpoint sized from the held state (6 B with bf16 moments and remainders) would make its pauses 2.3x
    too short."""
    from planner.simulate.config import checkpoint_bytes

    plain = _job({})
    held = _job({"precision_aware_optimizer": True, "exp_avg_dtype": "bf16", "exp_avg_sq_dtype": "bf16"})
    n = estimate_job(plain).params
    assert checkpoint_bytes({}, held, resolve("megatron-core")) == pytest.approx(n * 14, rel=1e-3)
    assert checkpoint_bytes({}, held) == checkpoint_bytes({}, plain)


def test_one_replica_layouts_run_at_zero_1(cli, tmp_path):
    """The precision-aware optimizer needs Megatron's distributed optimizer at any DP (mcore-pa-zero), as its optimizer
    offload does: a DP 1 layout launches at ZeRO-1 (``Stack.one_replica_zero``). ``estimate`` of a DP 1 job that leaves
    ``parallel.zero`` out defaulted to ZeRO-0 and refused its own default; ``recommend`` searched one-replica layouts at
    ZeRO-0 only, all refused, so a job pinned to DP 1 had no plan."""
    import yaml

    from conftest import answered

    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "tokens": 1e10, "precision": "bf16",
                        "optimizer": "adamw", "recompute": "full",
                        "framework": {"name": "megatron-core", "precision_aware_optimizer": True,
                                      "exp_avg_dtype": "bf16", "exp_avg_sq_dtype": "bf16"}},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump({**job, "parallel": {"tp": 8, "pp": 1, "dp": 1, "cp": 1}}))
    assert answered(cli("estimate", str(fixed), "--json"))["config"]["zero"] == 1
    open_ = tmp_path / "open.yaml"
    open_.write_text(yaml.safe_dump({**job, "parallel": {"dp": 1}, "constraints": {"max_gpus": 8}}))
    best = answered(cli("recommend", str(open_), "--json", "--no-simulate"))["ranked"][0]["config"]
    assert best["dp"] == 1 and best["zero"] == 1
