"""qlora54b: LoRA under the HF Trainer's FSDP1 as the Trainer wraps it.

transformers 5.23 trainer.py calls integrations/fsdp.py ``update_fsdp_plugin_peft`` for every peft model under FSDP,
which sets peft 0.21.2 utils/other.py ``fsdp_auto_wrap_policy``: each trainable leaf (``lora_A`` / ``lora_B``) an
FSDP unit of its own, the decoder layers by ``_no_split_modules``. So each block's FlatParameter holds its frozen
elements alone: no gradient (fsdp52b priced the block's whole flat gradient, measured under the transformer wrap
alone) and one dtype, so a bf16 base with peft's fp32 adapters wraps (rule ``hf-fsdp1-mixed`` refused it). Measured
on torch 2.13's own FSDP1 (CPU, fake 4-rank process group) over a tiny Llama LoRA. Each test fails on the code before
qlora54b."""
from __future__ import annotations

import functools

import pytest
from test_fsdp1mem52 import MODEL, _job, _mem
from test_mem53 import WORLD, _fake_group, _lora_llama
from test_qlora54 import peft_trainable_leaf
from test_truth51 import _bert_lora

from conftest import write_job
from planner.model.finetune import _bitsandbytes_part, adapter_params, quantized_params
from planner.spec import TrainingSpec
from planner.spec.params import count_params


def _fsdp1_lora(base: str, peft_policy: bool = True) -> dict:
    """The tiny Llama LoRA over a ``base`` ("bfloat16", "float32") frozen base under torch FSDP1 as the HF Trainer
    wraps a peft model (FULL_SHARD, ``use_orig_params``, ``MixedPrecision(param_dtype=bf16)``, peft's auto-wrap; the
    decoder-layer wrap alone where not ``peft_policy``): after one backward under ``no_sync`` (a micro-batch that is
    not a step's last), each block's FlatParameter and the adapter units' gradients; or the wrap's error."""
    torch = pytest.importorskip("torch")
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import _or_policy, lambda_auto_wrap_policy, transformer_auto_wrap_policy

    dist = _fake_group(torch)
    try:
        model, block = _lora_llama(torch, base=base)
        layers = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={block})
        policy = functools.partial(_or_policy, policies=[
            functools.partial(lambda_auto_wrap_policy, lambda_fn=peft_trainable_leaf), layers]) if peft_policy else layers
        try:
            wrapped = FSDP(model, sharding_strategy=ShardingStrategy.FULL_SHARD, device_id=torch.device("cpu"),
                           auto_wrap_policy=policy, use_orig_params=True,
                           mixed_precision=MixedPrecision(param_dtype=torch.bfloat16))
        except ValueError as e:
            return {"error": str(e)}
        with wrapped.no_sync():
            wrapped(torch.randint(0, 64, (2, 8))).float().sum().backward()
        units = [u for u in wrapped.modules() if isinstance(u, FSDP) and u._handle is not None]
        blocks = [u._handle.flat_param for u in units if isinstance(u.module, block)]
        adapters = [u._handle.flat_param for u in units if isinstance(u.module, torch.nn.Linear)]
        return dict(
            block_frozen=all(not f.requires_grad and f.grad is None for f in blocks), blocks=len(blocks),
            adapter_units=len(adapters),
            adapter_elems=sum(f._unpadded_unsharded_size.numel() for f in adapters),
            adapter_grad_bytes=sum(f.grad.numel() * f.grad.element_size() for f in adapters),
            adapter_grad_unsharded=all(f.grad.numel() == f._unpadded_unsharded_size.numel() for f in adapters),
            adapter_dtype={str(f.dtype) for f in adapters})
    finally:
        dist.destroy_process_group()


@pytest.mark.filterwarnings("ignore:.*has both parameters with requires_grad")
def test_fsdp1_lora_blocks_hold_no_gradient_the_adapters_their_own():
    """Over an fp32 base: the blocks' FlatParameters are frozen, no gradient; the 28 adapter units (2 a linear)
    hold their unsharded bf16 gradients under ``no_sync`` (2 B an adapter parameter). The planner's gradients at
    ZeRO-3, DP 4, are the adapters' alone: 2 B unsharded at 2 micro-batches a step, the fp32 shard (4 / 4 B) at
    one. Until qlora54b the blocks' whole flat gradients too (fsdp52b: 2 x (block elements + adapters))."""
    run = _fsdp1_lora("float32")
    assert run["blocks"] == 2 and run["block_frozen"], run
    assert run["adapter_units"] == 28 and run["adapter_grad_unsharded"] and run["adapter_dtype"] == {"torch.float32"}
    held_b = run["adapter_grad_bytes"] / run["adapter_elems"]
    assert held_b == 2.0

    def lora(micro_batches):
        t = TrainingSpec(**{**_job(1, micro_batches=micro_batches).model_dump(exclude_unset=True), "mode": "lora",
                            "base_weights": "fp32"})
        return t, adapter_params(MODEL, t)

    t, ad = lora(2)
    assert float(_mem(t, dp=WORLD, zero=3)["grads"][0]) == pytest.approx(held_b * ad)
    t, ad = lora(1)
    for zero in (2, 3):
        assert float(_mem(t, dp=WORLD, zero=zero)["grads"][0]) == pytest.approx(4 * ad / WORLD)


@pytest.mark.filterwarnings("ignore:.*has both parameters with requires_grad")
def test_fsdp1_wraps_a_bf16_base_with_fp32_adapters(tmp_path, cli):
    """A bf16 base with peft's fp32 adapters: the decoder-layer wrap alone fails ("Must flatten tensors with uniform
    dtype", what loraf51 saw), but the Trainer's peft wrap puts the adapters in units of their own and runs; the
    planner plans BERT-large LoRA over a bf16 base under ``fsdp_version: 1`` at ZeRO-3. Until qlora54b it was
    refused (rule ``hf-fsdp1-mixed``, exit 2)."""
    assert "uniform dtype" in _fsdp1_lora("bfloat16", peft_policy=False)["error"]
    run = _fsdp1_lora("bfloat16")
    assert run["block_frozen"] and run["adapter_units"] == 28 and run["adapter_dtype"] == {"torch.float32"}
    code, out, err = cli("estimate", write_job(tmp_path, _bert_lora(1, "bf16")), "--json")
    assert code == 0, err


@pytest.mark.filterwarnings("ignore:.*has both parameters with requires_grad")
def test_fsdp1_qlora_rest_in_the_storage_dtype_and_no_mp_shard():
    """FSDP1 flattens a QLoRA block's packed weights (bf16 storage elements) with its norms: fp32 norms (as
    ``prepare_model_for_kbit_training`` casts them) fail to wrap, so the run holds the rest in the storage dtype,
    and a bf16 FlatParameter under a bf16 ``param_dtype`` is gathered from its own shard, no ``_mp_shard`` (the
    frozen bf16 base's blocks and root never call ``_use_low_precision_shard``). The planner's FSDP1 ZeRO-3 weights
    are A + B / dp: B is every block's FlatParameter as measured, the root at 2 B and the adapters' fp32 shard.
    Until qlora54b B held the rest at 4 B and a 16-bit copy of the largest unit's shard (tiny Llama: 275,968 B, the
    run's 135,808)."""
    from test_qlora54 import _fsdp1_qlora_block, _qlora, _weights

    with pytest.raises(ValueError, match="uniform dtype"):
        _fsdp1_qlora_block("float32")
    block = _fsdp1_qlora_block()
    t, pc = _qlora(1), count_params(MODEL)
    ends = pc.embedding + pc.lm_head + pc.final_norm
    layers = MODEL.layers
    run_b = layers * block["numel"] * block["itemsize"] + 2.0 * ends + 4.0 * adapter_params(MODEL, t)
    w2, w4 = _weights(1, 2), _weights(1, 4)
    b = (w2 - w4) / (1 / 2 - 1 / 4)
    assert b == pytest.approx(run_b, rel=1e-12), (b, run_b)
    rest = pc.total - quantized_params(MODEL, t)
    assert run_b == _bitsandbytes_part(MODEL, t, packed_only=True)[0] + 2.0 * rest + 4.0 * adapter_params(MODEL, t)


def test_deepspeed_zero3_keeps_each_quant_state_whole_a_rank():
    """DeepSpeed ZeRO-3 partitions ``nn.Parameter`` data (partition_parameters.py ``_partition_param``: the rank's
    ``ds_tensor``), so a QLoRA base's packed weights are partitioned and each layer's ``QuantState``, a
    ``Params4bit`` attribute, stays whole on every rank, as under FSDP1. Llama-3.1-8B QLoRA at ZeRO-3: weights are
    A + B / dp, and B -- what DP shards -- is the engine-cast base (``frozen_storage_bytes``) less the state (0.10
    GiB) and the persistent small parameters (whole, at the gather width), plus the bf16 adapters. Until qlora54b
    the state was in B."""
    import numpy as np

    from planner.layout import Candidates
    from planner.model.finetune import (bitsandbytes_gather_bytes, bitsandbytes_layer_bytes, frozen_storage_bytes,
                                        quantized_params)
    from planner.model.memory import ds_persistent_elems, memory_per_gpu
    from planner.model.stacks import from_training
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS

    m = ModelSpec(**PRESETS["llama3.1-8b"])
    t = TrainingSpec(mode="qlora", lora={"rank": 16, "alpha": 32, "targets": "all-linear"}, precision="bf16",
                     optimizer="adamw", seq_len=2048, global_batch=64, recompute="full",
                     framework={"name": "deepspeed"})

    def weights(dp):
        c = dict(tp=1, pp=1, dp=dp, cp=1, ep=1, vpp=1, zero=3, mb=1, rc=2, sp=False, schedule=0, gpus_per_node=8,
                 nodes=1)
        return float(memory_per_gpu(m, t, Candidates(**{k: np.atleast_1d(v) for k, v in c.items()}))["weights"][0])

    b = (weights(4) - weights(8)) / (1 / 4 - 1 / 8)
    st = from_training(t)
    stored = frozen_storage_bytes(m, t, st)
    state = bitsandbytes_layer_bytes(m, t, state_only=True)[1] * quantized_params(m, t)
    # the small parameters ZeRO-3 keeps whole (stage3_param_persistence_threshold), at the blocks' gather width
    persist = ds_persistent_elems(m, st.zero3_persistence_params) * bitsandbytes_gather_bytes(m, t, False, 2.0, True)
    assert state / 2**30 == pytest.approx(0.1034, abs=1e-4)
    assert b == pytest.approx(stored - state - persist + 2.0 * adapter_params(m, t), rel=1e-9)
