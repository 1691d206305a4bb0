"""zf53: the gathered parameters of DeepSpeed ZeRO-3 and Megatron-FSDP under fp32 training take the parameters' own
4 B, as fsdp53 measured for torch FSDP (planner.model.memory ``param_gather_bytes``, one rule for every wrapper).

Read, not run (neither DeepSpeed nor Megatron-Core is installed here): DeepSpeed's partition_parameters.py
``all_gather_coalesced`` allocates the gathered buffer at the partition's dtype, which ``zero.Init._set_dtype`` makes
``torch.float`` without a bf16 / fp16 section; Megatron-FSDP's param_and_grad_buffer.py allocates
``model_weight_buffer`` (its gathered buckets) at the parameters' own dtype."""
import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.spec import load_job_dict
from planner.spec.params import count_params

#: Llama 3 8B: one decoder layer and the LM head (128256 x 4096), as tests/test_dsz3.py and tests/test_memory.py
LAYER8B, HEAD8B = 218_112_000, 128256 * 4096


def _weights(framework: dict, precision: str, **kw) -> float:
    training = {"seq_len": 4096, "global_batch": 64, "optimizer": "adamw", "precision": precision,
                "grad_dtype": "fp32", "framework": framework}
    if precision != "fp32":
        training["weights"] = "megatron"
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": training})
    base = dict(tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8,
                nodes=1)
    base.update(kw)
    c = Candidates(**{k: np.atleast_1d(v) for k, v in base.items()})
    return memory_per_gpu(job.model, job.training, c)["weights"][0], count_params(job.model).total


@pytest.mark.parametrize("precision,b", [("bf16", 2.0), ("fp32", 4.0)])
def test_deepspeed_zero3_window_takes_the_parameters_dtype(precision, b):
    """DeepSpeed ZeRO-3 at DP 8: the rank's shard, the ``stage3_max_live_parameters`` window (1e9 + the LM head) and
    the 65 persistent norms whole, each at the module's dtype: bf16 under bf16, fp32 under fp32. Until zf53 the fp32
    window and norms were priced at 2 B (Llama 3 8B: 3.05 GB where DeepSpeed gathers 6.10 GB); bf16 unchanged."""
    w, n = _weights({"name": "deepspeed"}, precision)
    persist = 65 * 4096
    assert w == pytest.approx(b * n / 8 + b * (1e9 + HEAD8B) + b * persist * (1 - 1 / 8), rel=1e-6)


@pytest.mark.parametrize("precision,b", [("bf16", 2.0), ("fp32", 4.0)])
def test_megatron_fsdp_gathered_units_take_the_parameters_dtype(precision, b):
    """Megatron-FSDP at ZeRO-3 (optim_grads_params), DP 8: the shard and the layer in use + 3 prefetched
    (tests/test_memory.py's count) in ``model_weight_buffer``'s dtype, the parameters' own: bf16 under ``--bf16``
    with fp32 main params, fp32 under fp32. Until zf53 ``min(w, 2)``: the fp32 units at 2 B (1.74 GB where 3.49)."""
    w, n = _weights({"name": "megatron-core", "megatron_fsdp": True}, precision)
    assert w == pytest.approx(b * n / 8 + 4 * LAYER8B * b)


@pytest.mark.parametrize("precision,b", [("bf16", 2.0), ("fp32", 4.0)])
def test_maxtext_gathered_layer_takes_the_parameters_dtype(precision, b):
    """MaxText (its layers one scanned loop, one layer gathered: ``gathered_blocks``) at ZeRO-3, DP 8: the shard and
    the gathered layer at the parameters' dtype (``weight_dtype`` float32 under fp32: no 16-bit copy to gather).
    Until zf53 the fp32 layer at 2 B (4.146 GiB where 4.552)."""
    w, n = _weights({"name": "maxtext"}, precision)
    assert w == pytest.approx(b * n / 8 + LAYER8B * b)
