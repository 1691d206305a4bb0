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
