"""NeMo 1.x's Apex DistributedFusedAdam keeps the fp32 master as the bf16 parameters' 16-bit remainders
(``Stack.apex_param_remainders``; NeMo megatron_base_model.py ``setup_optimization``: fp32 optimizer state over a bf16
O2 model -> ``store_params=False, store_param_remainders=True``). The dgxc NeMo-Launcher rows whose configs state
``optim distributed_fused_adam`` run it; those naming ``mcore_distributed_optim`` (Megatron-Core's optimizer) do not."""
import sys
from dataclasses import replace

import pandas as pd
import pytest

from conftest import ROOT
from planner.model import optimizers, stacks
from planner.model.memory import GiB, memory_per_gpu, state_bytes
from planner.spec import load_job_dict

sys.path.insert(0, str(ROOT / "benchmarks"))
import validate  # noqa: E402


def _job(precision="bf16"):
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 4096, "global_batch": 64, "precision": precision, "optimizer": "adamw",
        "framework": {"name": "megatron-core"}}})


def test_remainders_make_the_master_two_bytes():
    job = _job()
    st = stacks.resolve("megatron-core")
    assert optimizers.precision_aware(st, job.training) is None
    plain = state_bytes(job.model, job.training, st)
    apex = state_bytes(job.model, job.training, replace(st, apex_param_remainders=True))
    assert (plain.master, plain.optimizer) == (4.0, 8.0)
    assert (apex.master, apex.optimizer) == (2.0, 8.0)
    # fp8 through TE over bf16 weights keeps the remainders; FP8-stored weights (NeMo 1.x ``fp8_params``: a whole
    # fp32 master, ``store_params = True``) and fp16 / fp32 models have none
    fp8 = _job("fp8").training
    assert optimizers.precision_aware(replace(st, apex_param_remainders=True, fp8_param_gather=False), fp8).master == 2.0
    assert optimizers.precision_aware(replace(st, apex_param_remainders=True, fp8_param_gather=True), fp8) is None
    assert optimizers.precision_aware(replace(st, apex_param_remainders=True), _job("fp16").training) is None


def test_the_launcher_rows_that_state_apex_adam_run_it():
    d = pd.read_csv(ROOT / "benchmarks" / "data" / "dgxc_runs.csv")
    on = {r.id for r in d.itertuples() if validate.nemo1_apex_adam(r)}
    assert len(on) == 58
    assert all("optim distributed_fused_adam" in n for n in d[d.id.isin(on)].notes)
    # Llama 3.1 8B and Nemotron-4 15B launcher configs name mcore_distributed_optim; NeMo 2 rows are Megatron-Core's
    assert not any("llama31-8b" in i or "nemotron4-15b" in i for i in on)
    assert not (d[d.id.isin(on)].container.str.contains("NeMo 2")).any()


@pytest.mark.parametrize("rid, before, after", [("dgxc_2409_llama31-405b_bf16_576", 80.33, 78.96),
                                                ("dgxc_2409_nemotron4-340b_bf16_128", 82.20, 76.82)])
def test_launcher_rows_fit_their_h100(rid, before, after):
    """Two of the rows predicted over 80 GiB until the remainders were mapped (bigmem37's list) fit."""
    from hardware_catalog import load_catalog

    d = pd.read_csv(ROOT / "benchmarks" / "data" / "dgxc_runs.csv")
    r = next(x for x in d.itertuples() if x.id == rid)
    case = validate.pr2_case(load_catalog(), r)
    st = validate.row_stack(case.stack, case.options)
    assert st.apex_param_remainders
    got = float(memory_per_gpu(case.model, case.training, case.candidates, stack=st,
                               gpu=case.hw.gpu.name)["total"][0]) / GiB
    assert got == pytest.approx(after, abs=0.02) and got < 80.0
    old = float(memory_per_gpu(case.model, case.training, case.candidates,
                               stack=replace(st, apex_param_remainders=False), gpu=case.hw.gpu.name)["total"][0]) / GiB
    assert old == pytest.approx(before, abs=0.02)
