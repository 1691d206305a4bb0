"""dsfp53: DeepSpeed's ZeRO 1-3 wrappers under plain fp32 (no ``bf16`` / ``fp16`` / ``torch_autocast`` section).

engine.py ``_do_optimizer_sanity_check`` sends every ZeRO stage to ``DeepSpeedZeroOptimizer`` / ``_Stage3`` whatever
the model dtype, and those wrappers clone an fp32 master partition from the (here fp32) module and size their
gradient partition and reduce buckets in ``self.dtype`` -- the same code the ``torch_autocast`` section runs, so the
same rows (planner.model.stacks ``fp32_module_zero_rows``, ``FP32_ZERO_ROWS``), with one fp32 reduce bucket (no
autocast dtype). Read from deepspeedai/DeepSpeed (not installed here): the numbers below are that reading's."""
import numpy as np
import pytest

from planner.layout import Candidates
from planner.model.memory import memory_per_gpu
from planner.model.stacks import ZERO_REDUCE_BUCKET_ELEMS
from planner.spec import load_job_dict

#: Llama 3 8B's parameters (tests/test_fsdpmem.py)
N8B = 8_030_261_248


def _mem(name: str, zero: int, precision: str = "fp32", **fw):
    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "precision": precision, "seq_len": 4096, "global_batch": 64, "weights": "megatron", "optimizer": "adamw",
        "framework": {"name": name, **fw}}})
    base = dict(tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=zero, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8,
                nodes=1)
    return memory_per_gpu(job.model, job.training, Candidates(**{k: np.atleast_1d(v) for k, v in base.items()}))


def test_deepspeed_zero2_fp32_keeps_the_cloned_master_and_fp32_buckets():
    """ZeRO-2 on 8 ranks: 4/8 B of cloned fp32 master beside 8/8 B of Adam moments, a 4/8 B fp32 gradient partition
    and two fp32 reduce buckets (overlap_comm, the stack's default): 2 x 5e8 x 4 B. The paper's rows priced neither
    the master (3.74 GiB) nor the buckets (3.73 GiB)."""
    m = _mem("deepspeed", 2)
    assert m["optimizer"][0] == pytest.approx(12 * N8B / 8)
    assert m["grads"][0] == pytest.approx(4 * N8B / 8 + 2 * ZERO_REDUCE_BUCKET_ELEMS * 4)


def test_fp32_rows_by_stage_and_stack():
    """ZeRO-0 steps the client optimizer over the fp32 module (the paper's 8 B, no master); ZeRO-1 and ZeRO-3 keep the
    cloned master too; megatron-deepspeed (no overlap_comm) one fp32 bucket at ZeRO-2, and its ZeRO-1 (the pipeline
    engine's bf16 ``BF16_Optimizer`` row is bf16's alone) the same partitioned master."""
    assert _mem("deepspeed", 0)["optimizer"][0] == pytest.approx(8 * N8B)
    for zero in (1, 3):
        assert _mem("deepspeed", zero)["optimizer"][0] == pytest.approx(12 * N8B / 8)
        assert _mem("megatron-deepspeed", zero)["optimizer"][0] == pytest.approx(12 * N8B / 8)
    assert _mem("megatron-deepspeed", 2)["grads"][0] == pytest.approx(4 * N8B / 8 + ZERO_REDUCE_BUCKET_ELEMS * 4)
    # a stack without DeepSpeed's wrapper keeps the paper's fp32 rows
    assert _mem("megatron-core", 2)["optimizer"][0] == pytest.approx(8 * N8B / 8)


def _mfsdp_fp8_weights(recipe: str, gpu: str) -> float:
    """Weight bytes a rank holds: Llama 3 70B on Megatron-FSDP (ZeRO-3) over 64 GPUs, FP8 parameters (the stack's
    --fp8-param-gather) under ``recipe``."""
    job = load_job_dict({"model": {"preset": "llama3-70b"}, "training": {
        "precision": "fp8", "seq_len": 8192, "global_batch": 256, "weights": "megatron", "optimizer": "adamw",
        "framework": {"name": "megatron-core", "megatron_fsdp": True, "fp8_recipe": recipe}}})
    base = dict(tp=1, pp=1, dp=64, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=0, sp=False, schedule=0, gpus_per_node=8,
                nodes=8)
    c = Candidates(**{k: np.atleast_1d(v) for k, v in base.items()})
    return float(memory_per_gpu(job.model, job.training, c, gpu=gpu)["weights"][0])


def test_megatron_fsdp_mxfp8_gathers_one_uint8_payload_a_pass():
    """MXFP8 keeps its column-wise payload in a uint8 buffer of its own, gathered for the backward alone
    (Megatron-FSDP ``transpose_weight_buffer``): 1 B a gathered element. The per-tensor recipe on Hopper gathers its
    row-wise payload (1 B) too and builds TE's transpose after the gather for the unit in compute alone (mx53; until
    then 2 B on the whole window, 1.71e9 elements). Both store 2 B a parameter on H100, so the difference is that one
    mean unit at 1 B; the pricing before dsfp53 (2 B each for both) gave 0."""
    from planner.model.memory import MFSDP_BUCKET_MIN, MFSDP_BUCKET_PER_DP, mfsdp_buffer_elems, mfsdp_unit_params
    from planner.spec.params import count_params

    job = load_job_dict({"model": {"preset": "llama3-70b"}, "training": {"seq_len": 8192, "global_batch": 256}})
    one = np.ones(1)
    unit = mfsdp_unit_params(job.model, one, one, one)
    window = mfsdp_buffer_elems(np.array([3]), unit, max(MFSDP_BUCKET_MIN, MFSDP_BUCKET_PER_DP * 64),
                                np.array([float(count_params(job.model).total)]))[0][0]
    assert window == pytest.approx(2 * unit[0])
    gpu = "H100-SXM-80GB"
    assert _mfsdp_fp8_weights("tensorwise", gpu) - _mfsdp_fp8_weights("mxfp8", gpu) == pytest.approx(unit[0] * 1.0)
