"""The rows over their GPU by more than the allocator's reserve after overmem40 (overmem41).

* NeMo 24.07's Llama 2 70B SFT (TP4 PP4, DP 1 on 16 H100s: no optimizer sharding) ran as the launcher's
  peft/llama/sft.yaml runs SFT: Apex DistributedFusedAdam with ``dtype: bf16`` and ``grad_sync_dtype: bf16`` over the
  bf16 O2 model, so NeMo stores no master (megatron_base_model.py ``setup_optimization``: ``optim_dtype ==
  model_dtype`` -> ``store_params = False``) and the moments are bf16 (``Stack.moments_like_params`` on a
  ``weights: pure`` job; fp8 = TE's GEMMs over those bf16 weights). Under the fine_tuning/llama/squad.yaml optimizer
  (fp32 state) the states alone were 77 GiB of 80.
* Megatron-Bridge 25.11's H100 gpt-oss-120b row printed the B200 row's MBS 4 / GA 2; its workload config runs MBS 1
  (published_runs_2.csv notes; tests/test_real_runs_fit.py ``REFUSED`` keeps MBS 4 refused).
"""
import sys
from dataclasses import replace

import pandas as pd
import pytest

from conftest import ROOT
from planner.model import stacks
from planner.model.memory import GiB, memory_per_gpu, model_state_bytes_per_param
from planner.spec.schema import TrainingSpec

sys.path.insert(0, str(ROOT / "benchmarks"))


def _ft_row(rid):
    import validate

    d = pd.read_csv(validate.DATA / "nemo2407_finetune.csv")
    return next(r for r in d.itertuples() if r.id == rid)


def test_apex_bf16_state_over_fp8_gemms_is_eight_bytes_and_the_fp8_cache():
    """bf16 weights + their cached fp8 copy (3 B), a bf16 gradient buffer (2 B), no master, two bf16 moments (4 B):
    the moments at the 16-bit parameters' bytes, not fp32's 8 nor 3/4 of them (the fp8 copy is no parameter)."""
    st = replace(stacks.resolve("megatron-core", fp8_recipe="delayed"), moments_like_params=True)
    t = TrainingSpec(seq_len=4096, global_batch=32, precision="fp8", weights="pure", grad_dtype="same")
    assert model_state_bytes_per_param(t, stack=st) == (3.0, 2.0, 0.0, 4.0)
    # without the field (Megatron-Core's optimizer over a pure job) the moments stay fp32
    assert model_state_bytes_per_param(t, stack=replace(st, moments_like_params=False))[3] == 8.0
    bf16 = t.model_copy(update={"precision": "bf16"})
    assert model_state_bytes_per_param(bf16, stack=st) == (2.0, 2.0, 0.0, 4.0)  # MaxText's bf16 weights: unchanged


def test_nemo_sft_rows_run_the_sft_yaml_optimizer():
    import validate

    model, tr, c, st = validate.nemo_ft_case(_ft_row("nemo2407ft_llama2_70b_sft"))
    assert (tr.weights, tr.grad_dtype, tr.dropout, st.moments_like_params) == ("pure", "same", False, True)
    assert st.overlap_param_gather  # sft.yaml overlap_param_sync: True
    lora = validate.nemo_ft_case(_ft_row("nemo2407ft_llama2_70b_lora"))
    assert (lora[1].weights, lora[3].moments_like_params) == ("megatron", False)  # fused_adam, fp32 master


def test_llama2_70b_sft_fits_its_h100():
    """68.6 GiB (was 114.3: 48.6 GiB of fp32 master + moments and 16.2 of fp32 gradients at DP 1)."""
    import validate

    model, tr, c, st = validate.nemo_ft_case(_ft_row("nemo2407ft_llama2_70b_sft"))
    mem = memory_per_gpu(model, tr, c, stack=st, gpu="H100-SXM-80GB")
    assert float(mem["optimizer"][0]) / float(mem["weights"][0]) == pytest.approx(4 / 3, rel=0.01)
    assert float(mem["grads"][0]) / float(mem["weights"][0]) == pytest.approx(2 / 3, rel=0.01)
    assert float(mem["total"][0]) <= 80 * GiB * 0.95
