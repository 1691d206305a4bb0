"""fsdp53: what mem53 left of FSDP's weights, each measured on torch 2.13 (CPU, torch's fake process group; the
Llama-shaped LoRA model of tests/test_mem53.py), then priced by the planner; and whose buffer the unfused gradient
accumulation of an fp32 run adds into.

* fp32 training has no ``param_dtype``: FSDP1 SHARD_GRAD_OP / FSDP2 ``reshard_after_forward=False`` keep each
  parameter's fp32 shard and its fp32 unsharded copy, 4/N + 4 B a parameter at ZeRO-2, full training and LoRA alike
  (planner.model.memory ``param_gather_bytes``);
* FSDP1 casts the gathered unit's shard to ``param_dtype`` before each all-gather (``_mp_shard``); LoRA's adapters are
  in that unit's FlatParameter, so their 2/N B are in it (``fsdp1_mp_shard_bytes``);
* Megatron-DeepSpeed's fp32 runs accumulate into autograd's ``.grad`` (no ``main_grad``: the DeepSpeed engine holds
  the bare model), which the first micro-batch takes; Megatron-Core adds into its zeroed ``main_grad`` on every one
  (planner.model.step_time ``grad_accum_pass``)."""
import numpy as np
import pytest
from test_mem53 import N8B, WORLD, _fake_group, _lora_llama, _weights

from planner.layout import Candidates
from planner.model.finetune import adapter_params
from planner.model.memory import memory_per_gpu
from planner.spec import load_job_dict


def _fp32_zero2_held(version: int, lora: bool) -> dict:
    """FSDP ``version`` at ZeRO-2 without mixed precision (accelerate's ``mixed_precision="no"``: FSDP1
    SHARD_GRAD_OP with ``mixed_precision=None``, FSDP2 ``reshard_after_forward=False`` with no policy), per-block
    units and the root: bytes a parameter of the shards and the unsharded parameters after a forward."""
    torch = pytest.importorskip("torch")
    dist = _fake_group(torch)
    try:
        model, Block = _lora_llama(torch)
        if not lora:
            for p in model.parameters():
                p.requires_grad_(True)
        n = sum(p.numel() for p in model.parameters())
        if version == 2:
            from torch.distributed.fsdp import fully_shard
            from torch.distributed.fsdp._fully_shard._fsdp_state import _get_module_fsdp_state

            for block in model.blocks:
                fully_shard(block, reshard_after_forward=False)
            fully_shard(model, reshard_after_forward=False)
            model(torch.randint(0, 64, (2, 8)))
            params = [fp for mod in model.modules() if (s := _get_module_fsdp_state(mod)) is not None
                      and s._fsdp_param_group is not None for fp in s._fsdp_param_group.fsdp_params]
            shard = sum(fp._sharded_param_data.untyped_storage().nbytes() for fp in params)
            unsharded = sum(t.untyped_storage().nbytes() for fp in params for t in fp.all_gather_outputs)
        else:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, ShardingStrategy
            from torch.distributed.fsdp.wrap import ModuleWrapPolicy

            fsdp = FSDP(model, sharding_strategy=ShardingStrategy.SHARD_GRAD_OP, device_id=torch.device("cpu"),
                        auto_wrap_policy=ModuleWrapPolicy({Block}), use_orig_params=True)
            fsdp(torch.randint(0, 64, (2, 8)))
            flat = [u._handle.flat_param for u in fsdp.modules() if isinstance(u, FSDP) and u._handle is not None]
            shard = sum(fp._local_shard.untyped_storage().nbytes() for fp in flat)
            unsharded = sum(fp._full_param_padded.untyped_storage().nbytes() for fp in flat)
        return {"shard": shard / n, "unsharded": unsharded / n}
    finally:
        dist.destroy_process_group()


def _fp32_job(framework: dict, mode: str):
    training = {"mode": mode, "steps": 10, "seq_len": 4096, "global_batch": 8, "precision": "fp32",
                "grad_dtype": "fp32", "optimizer": "adamw", "framework": framework}
    if mode == "lora":
        training["base_weights"] = "fp32"
    return load_job_dict({"model": {"preset": "llama3-8b"}, "training": training})


@pytest.mark.filterwarnings("ignore:.*has both parameters with requires_grad")  # torch says what it does
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("mode", ["full_finetune", "lora"])
def test_fp32_fsdp_zero2_keeps_the_fp32_shard_and_an_fp32_unsharded_copy(version, mode):
    """No ``param_dtype`` under fp32: after a forward at ZeRO-2 each parameter is held twice, its fp32 shard (4/4 B at
    4 ranks) and its fp32 unsharded copy (4 B), frozen base and adapters alike. The planner prices Llama-3-8B at DP 8
    so (FSDP2: the HF Trainer's default and torchtitan; FSDP1: ``fsdp_version: 1`` and llm-foundry): 4/8 + 4 B a
    parameter, the adapters too; until fsdp53 4 B whole (29.92 GiB full, 30.07 LoRA; now 33.65 / 33.83)."""
    held = _fp32_zero2_held(version, mode == "lora")
    assert held["shard"] == pytest.approx(4 / WORLD, rel=0.01)
    assert held["unsharded"] == pytest.approx(4.0, rel=0.01)
    frameworks = ({"name": "hf-trainer", "fsdp_version": 1}, {"name": "llm-foundry"}) if version == 1 else (
        {"name": "hf-trainer"}, {"name": "torchtitan"})
    for framework in frameworks:
        job = _fp32_job(framework, mode)
        ad = adapter_params(job.model, job.training) if mode == "lora" else 0
        assert _weights(job, 2) == pytest.approx((4 / 8 + 4) * (N8B + ad)), framework


@pytest.mark.filterwarnings("ignore:.*has both parameters with requires_grad")
def test_fsdp1_mp_shard_holds_the_gathered_blocks_adapters():
    """FSDP1 (FULL_SHARD, bf16 ``param_dtype``, ``use_orig_params``, per-block wrap) casts the rank's shard of the
    unit it gathers into ``_mp_shard`` (2 B an element), and a block's shard spans its adapters: at each block's
    gather the live ``_mp_shard`` is 2 B x (base + adapters) / 4. The planner's FSDP1 LoRA at ZeRO-3 (llm-foundry,
    the HF Trainer's ``fsdp_version: 1``; Llama-3-8B, DP 8, AMP over an fp32 base) adds 2/8 B of one layer's adapters
    beside the base's: doubling the rank adds 4/8 B of the new adapters, two gathered blocks' 2 B and that
    ``_mp_shard``; until fsdp53 without the last."""
    torch = pytest.importorskip("torch")
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp._flat_param import FlatParamHandle
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    seen = []
    cast = FlatParamHandle._use_low_precision_shard

    def record(handle):  # the shard FSDP1 all-gathers from, as it is cast, against the unit's own elements
        cast(handle)
        fp = handle.flat_param
        seen.append((fp._mp_shard.untyped_storage().nbytes(), sum(fp._numels), sum("lora_" in f for f in fp._fqns)))

    dist = _fake_group(torch)
    try:
        model, Block = _lora_llama(torch)
        fsdp = FSDP(model, sharding_strategy=ShardingStrategy.FULL_SHARD, auto_wrap_policy=ModuleWrapPolicy({Block}),
                    device_id=torch.device("cpu"), use_orig_params=True,
                    mixed_precision=MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.float32))
        FlatParamHandle._use_low_precision_shard = record
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                fsdp(torch.randint(0, 64, (2, 8)))
        finally:
            FlatParamHandle._use_low_precision_shard = cast
    finally:
        dist.destroy_process_group()
    blocks = [(b, n) for b, n, adapters in seen if adapters]
    assert len(blocks) == 2  # the two blocks' forward gathers, each with its 14 adapters
    for nbytes, elems in blocks:
        assert nbytes == pytest.approx(2 * elems / WORLD, rel=0.02)

    def weights(framework, rank):
        job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
            "mode": "lora", "base_weights": "fp32", "steps": 10, "seq_len": 4096, "global_batch": 8,
            "weights": "amp", "grad_dtype": "fp32", "optimizer": "adamw", "lora": {"rank": rank},
            "framework": framework}})
        return _weights(job, 3), adapter_params(job.model, job.training)

    for framework in ({"name": "llm-foundry"}, {"name": "hf-trainer", "fsdp_version": 1}):
        (w16, a16), (w32, a32) = weights(framework, 16), weights(framework, 32)
        layer = (a32 - a16) / 32  # Llama-3-8B's 32 blocks
        assert w32 - w16 == pytest.approx(4 / 8 * (a32 - a16) + 2 * layer * 2 + layer / 8 * 2, rel=1e-9), framework


def _accum(framework: str, precision: str, weights: str):
    from planner.model.stacks import from_training
    from planner.model.step_time import grad_accum_pass

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {
        "seq_len": 4096, "global_batch": 64, "precision": precision, "weights": weights, "grad_dtype": "fp32",
        "optimizer": "adamw", "framework": {"name": framework}}})
    return grad_accum_pass(from_training(job.training), job.training, job.model.hidden)


def test_fp32_unfused_accumulation_steals_without_main_grad():
    """Megatron-DeepSpeed under fp32 (``weights: megatron``, no master: 4 B weights and gradients) runs on the
    DeepSpeed engine over the bare model (megatron/training.py ``get_model``: ``if args.deepspeed: return model``
    before the LocalDDP wrap that makes ``main_grad``), so autograd accumulates into the fp32 ``.grad``, which the
    engine's ``zero_grad`` sets to None: the first micro-batch takes it, the other m - 1 pay 12 B. Megatron-Core with
    its fusion off adds every micro-batch's ``.grad`` into its zeroed ``main_grad`` (all m, at any precision). Until
    fsdp53 Megatron-DeepSpeed's fp32 rows paid m times and Megatron-Core's AMP rows m - 1."""
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(8, 8)  # fp32 training: the new gradient is the parameter's dtype, autograd's own buffer
    lin(torch.randn(4, 8)).sum().backward()
    first = lin.weight.grad
    lin(torch.randn(4, 8)).sum().backward()
    assert lin.weight.grad is first and first.dtype == torch.float32  # accumulated in place into the first's
    for weights in ("megatron", "pure"):
        bytes_, stolen = _accum("megatron-deepspeed", "fp32", weights)
        assert bytes_[0] == 12.0 and bool(stolen[0]), weights
    for precision, weights in (("fp32", "megatron"), ("bf16", "amp")):
        bytes_, stolen = _accum("megatron-core", precision, weights)
        assert bytes_[0] == 12.0 and not stolen[0].any(), (precision, weights)
