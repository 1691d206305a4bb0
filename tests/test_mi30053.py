"""mi30053: Megatron's ``--fp8-param-gather`` as a job option (``training.framework.fp8_param_gather``) on the stacks
whose FP8 weight storage hangs on it (megatron-core, nemo, megatron-bridge), and the AMD rows (validate.mi300x) that
run it off. The registry's megatron-core turns it on, as NeMo / Megatron-Bridge configure it; Primus (trainer_base.yaml
``fp8_param_gather: false``) and ROCm Megatron-LM's train_llama3.sh (no flag; Megatron-LM's store_true default off)
leave it off, which the Llama 2 7B run's own argument print confirms. Off, the GPU holds 16-bit weights and TE's
cached FP8 copy (memory.PRECISION_CONVENTIONS ("fp8", "megatron"): 2 + 1 B a parameter, ZeRO-0's) and the sharded
optimizer gathers 16-bit parameters; the launch leaves the flag out. Every test fails on the code before: the option
did not exist (``unknown option(s) fp8_param_gather``) and the rows did not set it."""
from __future__ import annotations

import shlex
import sys

import pandas as pd
import pytest

from conftest import ROOT
from planner.errors import InputError
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "mi300x_runs.csv"
FP8_ROWS = ("mi325x_aac11_primus_llama2-7b_fp8_64", "mi325x_aac11_primus_llama2-70b_fp8_16",
            "mi325x_aac11_megatronlm_llama3-70b_fp8_64")


def _job(gather=None, framework="megatron-core", zero=1, **options):
    fw = {"name": framework, **options, **({} if gather is None else {"fp8_param_gather": gather})}
    return load_job_dict({"model": {"preset": "llama3-8b"},
                          "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1, "recompute": "selective",
                                       "tokens": 1e12, "optimizer": "adamw", "precision": "fp8", "framework": fw},
                          "parallel": {"tp": 2, "pp": 1, "cp": 1, "sequence_parallel": True, "zero": zero},
                          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 2, "gpus_per_node": 8}})


def _weights_per_param(plan, job, tp=2):
    from planner.spec.params import count_params

    return plan["memory_per_gpu_bytes"]["weights"] / (count_params(job.model).total / tp)


def test_off_stores_16_bit_weights_and_launches_without_the_flag():
    """ZeRO-1 FP8 on megatron-core: on (the default) 2 B a parameter (FP8 data + TE's transpose) and
    ``--fp8-param-gather`` in the launch; off 3 B (bf16 weights + TE's cached FP8 copy), no flag -- what QA 23 priced
    at ZeRO-0, where the flag cannot be on."""
    from planner.present.emit import emit_launch_spec

    for gather, want in ((None, 2.0), (True, 2.0), (False, 3.0)):
        job = _job(gather)
        plan = estimate_job(job)
        assert _weights_per_param(plan, job) == pytest.approx(want, rel=0.01), gather
        flags = shlex.split(emit_launch_spec(job, plan, "torchrun"), comments=True)
        assert ("--fp8-param-gather" in flags) == (want == 2.0), gather


def test_off_gathers_16_bit_parameters():
    """The distributed optimizer's parameter all-gather after the step: 1 B a parameter with the flag (the per-tensor
    recipes write FP8 into the uint8 buffer, QA 23 defect 2), 2 B without; the gradient reduce is unchanged."""
    def detail(gather):
        return estimate_job(_job(gather, overlap_param_gather=False))["detail"]

    on, off = detail(None), detail(False)
    assert off["t_dp_comm"] == pytest.approx(on["t_dp_comm"])
    assert off["t_dp_tail"] > 1.4 * on["t_dp_tail"]


def test_the_option_is_megatron_cores_flag():
    """Held where the FP8 storage hangs on the flag; torchtitan (torchao's 16-bit parameters, cast per forward) has no
    such switch: ``true`` is refused there, ``false`` states its fact; the stack record carries the option back."""
    from planner.model import stacks

    with pytest.raises(InputError, match="no FP8 parameter gather switch"):
        stacks.resolve("torchtitan", fp8_param_gather=True)
    assert stacks.resolve("torchtitan", fp8_param_gather=False).fp8_param_gather is False
    for name in ("megatron-core", "nemo", "megatron-bridge"):
        st = stacks.resolve(name, fp8_param_gather=False)
        assert st.fp8_param_gather is False and stacks.holds(st, "fp8_param_gather")
    job = _job(False)
    st = stacks.from_training(job.training, model=job.model)
    assert st.options(job.model, job.training, zero=1)["fp8_param_gather"] is False
    assert "fp8_param_gather" not in st.options(job.model, job.training, zero=0)  # ZeRO-0: no flag to set
    assert "fp8_param_gather=off" in st.describe("fp8", zero=1)  # the stack line says it where it runs
    assert "fp8_param_gather" not in st.describe("fp8", zero=0)
    assert "fp8_param_gather" not in stacks.resolve("megatron-core").describe("fp8", zero=1)  # on, the default: unsaid


def test_the_amd_fp8_rows_run_without_it():
    """validate.mi300x's three fp8 rows carry ``fp8_param_gather=False`` (their runs' setting) and so price 16-bit
    weights; the 7B row's notes quote its run's argument print. The FSDP2 Llama 3 70B row's exposed ZeRO-3 gathers
    grow with the 16-bit parameters (0.21 -> 0.28 s at mi30053)."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.stack_kernels import fp8_weights_as_stored

    rows = pd.read_csv(CSV)
    cat = load_catalog()
    for rid in FP8_ROWS:
        r = rows[rows["id"] == rid].iloc[0]
        c = validate.pr2_case(cat, r)
        st = validate.row_stack(c.stack, c.options)
        assert c.options["fp8_param_gather"] is False and st.fp8_param_gather is False, rid
        assert not fp8_weights_as_stored(st, c.training, c.candidates.zero).any(), rid
    notes = rows.set_index("id").loc[FP8_ROWS[0], "notes"]
    for printed in ("fp8_recipe delayed", "fp8_param_gather False", "use_turbo_parallel_linear False",
                    "transformer_impl transformer_engine"):
        assert printed in notes, printed
