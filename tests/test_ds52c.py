"""ds52c: metaseq's default 16-bit training keeps fairscale's fp32 shard as the master; DeepSpeed's torch_autocast
under optimizer offload prices its offload rows in the fp32 module's bytes.

* metaseq's ``--fp16`` / ``--bf16`` (``weights: megatron``) is fairscale's FSDP under ``mixed_precision=True`` over the
  fp32 module with ``MemoryEfficientFP16Optimizer`` (no fp32 copy of its own): at ZeRO-3 the rank holds the fp32 shard
  (the master the convention prices in the optimizer term) and no 16-bit shard (``Stack.fsdp_fp32_shard_master``);
* under DeepSpeed's ``torch_autocast`` section with ``optimizer_offload`` the wrapper's ``self.dtype`` is the module's
  fp32, so its host partition copy, host accumulation buffers, per-micro-batch copies and the copy back are 4 B a
  parameter, and the fp32 master it clones sits on the host (``stacks.offload_zero_rows``)."""
import pytest

from test_dsamp52 import LAYER8B, N8B, _job, _mem


def test_metaseq_default_fp16_zero3_holds_no_16bit_shard_beside_the_master():
    """Llama-3-8B, 8 ranks, metaseq ZeRO-3 under ``weights: megatron``: the weight term is the two gathered bf16 layers
    and the gathered unit's fp16 shard (``fsdp1_mp_shard_bytes``) only -- the fp32 shard is the optimizer term's
    master. Before: 2/8 B a parameter of 16-bit shard more (0.86 -> 2.73 GiB)."""
    mem = _mem(_job({"name": "metaseq"}, weights="megatron"), zero=3)
    assert mem["weights"][0] == pytest.approx(2 * LAYER8B * 2 + 2 * LAYER8B / 8)
    assert mem["optimizer"][0] == pytest.approx(12 * N8B / 8)  # master + moments, sharded


def test_metaseq_default_fp16_zero2_unchanged():
    """ZeRO-2 (``--no-reshard-after-forward``): the 16-bit parameters whole and the master sharded, as before (a guard:
    passes on the old code too)."""
    mem = _mem(_job({"name": "metaseq"}, weights="megatron"), zero=2)
    assert mem["weights"][0] == pytest.approx(2 * N8B)


def _amp_offload_job(zero, global_batch, weights="amp"):
    """test_offload47's Llama-3-8B ZeRO-Offload job (one H100 node, ``overlap_comm`` off: every copy exposed) under
    DeepSpeed's torch_autocast section (``weights: amp``, ``mixed_precision: amp``), or its 16-bit default."""
    from test_offload47 import ds_job

    job = ds_job(zero, False, weights=weights, global_batch=global_batch)
    job["training"]["framework"].update(optimizer_offload=True, **({"mixed_precision": "amp"} if weights == "amp" else {}))
    return job


def _offload_s(zero, global_batch, weights="amp"):
    from benchmarks.validate_offload import estimate

    return estimate(_amp_offload_job(zero, global_batch, weights))["breakdown_s"]["offload"]


@pytest.mark.parametrize("zero, global_batch, fp32_bytes", [
    (2, 8, 4 + 4),  # one micro-batch: the fp32 gradient out and the fp32 partition copied back
    (2, 64, 4 + 4 + 4 + 6 * 8 + 4),  # 8 micro-batches: the host accumulation in fp32, 2 x offload47's 28 B
    (1, 64, 4 + 4 + 4),  # ZeRO-1: the boundary's copy in alone
    (3, 64, 4 + 4 + 8 * 8),  # ZeRO-3: out and back in every micro-batch
])
def test_torch_autocast_offload_copies_are_the_fp32_modules(zero, global_batch, fp32_bytes):
    """On the compute stream the offload time is bytes a partition parameter over the host link: the 16-bit default's
    4 B gradient out + 2 B copy back is the unit (test_offload47). Under torch_autocast the wrapper's ``self.dtype`` is
    fp32, so the copy back (``temp_buffer_bit16`` of the module's dtype) and every per-micro-batch copy are 4 B a
    parameter: ``stacks.offload_zero_rows`` for step_time's ``zero_offload_copies`` and ``offload_step``. Before: the
    paper's rows, 4 + 2 B and no micro-batch copies (1.0 x the unit whatever the micro-batches)."""
    unit = _offload_s(2, 8, weights="megatron") / 6.0
    assert _offload_s(zero, global_batch) == pytest.approx(fp32_bytes * unit, rel=1e-6)


def _amp_mem(zero):
    from planner.layout import Candidates
    from planner.model.memory import memory_per_gpu
    from planner.spec import load_job_dict
    import numpy as np

    job = load_job_dict(_amp_offload_job(zero, 64))
    base = dict(tp=1, pp=1, dp=8, cp=1, ep=1, vpp=1, zero=zero, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8,
                nodes=1)
    return memory_per_gpu(job.model, job.training, Candidates(**{k: np.atleast_1d(v) for k, v in base.items()}))


@pytest.mark.parametrize("zero, host_b", [
    (1, 8 + 4 + 4 + 4 + 4),  # moments, master, fp32 gradient, the fp32 "bit16" partition copy, the accumulation
    (2, 8 + 4 + 4 + 4 + 4),
    (3, 8 + 4 + 4),  # stage 3 keeps neither host buffer (ZERO_OFFLOAD_ROWS)
])
def test_torch_autocast_offload_host_holds_the_fp32_master_and_fp32_buffers(zero, host_b):
    """Host bytes a partition parameter (Llama-3-8B, 8 ranks, 8 micro-batches): the fp32 master partition DeepSpeed
    clones beside the fp32 module lives on the host with the moments, and the wrapper's host buffers are in the
    module's fp32 (memory ``offload_host_rows`` through ``stacks.offload_zero_rows``). Before: the paper's 8 + 4 B."""
    assert _amp_mem(zero)["host"][0] == pytest.approx(host_b * N8B / 8)


def test_torch_autocast_offload_gpu_gradients_are_the_wrappers_buffers():
    """ZeRO-2 on the GPU: no gradient partition (it is the host's), two reduce buckets (``overlap_comm`` is off here:
    one) per comm dtype -- fp32 and the tagged linears' bf16, 5e8 elements each -- and the fp32 buffer of the largest
    parameter (``temp_grad_buffer_for_gpu_offload``, the 128256 x 4096 embedding). Before: the paper's fp32 shard,
    4/8 B a parameter."""
    assert _amp_mem(2)["grads"][0] == pytest.approx(5e8 * (4 + 2) + 128256 * 4096 * 4)


@pytest.mark.parametrize("offload", [True, False])
def test_torch_autocast_zero1_accumulates_its_kept_fp32_grads(offload):
    """``grad_accum_pass`` reads the same rows: under torch_autocast ZeRO-1 (``DeepSpeedZeroOptimizer`` without
    partitioned gradients, offloaded or not) autograd adds each micro-batch's fp32 gradient into the kept fp32
    ``.grad``: 4 + 4 read, 4 written (12 B a parameter), the first micro-batch stealing it; ZeRO-2/3 none. Before: the
    paper's 10 B (a 2 B new gradient)."""
    from planner.model.stacks import from_training
    from planner.model.step_time import grad_accum_pass
    from planner.spec import load_job_dict

    raw = _amp_offload_job(1, 64)
    raw["training"]["framework"]["optimizer_offload"] = offload
    job = load_job_dict(raw)
    bytes_, stolen = grad_accum_pass(from_training(job.training), job.training, job.model.hidden)
    assert list(bytes_[1:]) == [12.0, 0.0, 0.0] and bool(stolen[1])
