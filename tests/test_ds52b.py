"""ds52b: metaseq's fairscale FSDP under mixed precision, DeepSpeed's torch_autocast gradient reduce and stack line.

* metaseq wraps its fp32 model in fairscale's FSDP with ``mixed_precision=True`` and a 16-bit ``compute_dtype``: the
  rank keeps the fp32 flat shard (the master) and frees the 16-bit shard once each all-gather is issued, so under AMP
  its ZeRO-3 holds 4/N B a parameter plus the gathered units, its ZeRO-2 (``--no-reshard-after-forward``) 4/N B plus
  the 16-bit parameters whole: ``Stack.fsdp_zero2_param_dtype`` (planner.model.memory ``fsdp_amp_keys``);
* under DeepSpeed's ``torch_autocast`` section the ZeRO 1-3 wrappers reduce the tagged ``nn.Linear`` gradients in the
  autocast dtype and the rest in fp32 (``stacks.grad_reduce_bytes``);
* the deepspeed stack's stack line names the DeepSpeed config section its ``mixed_precision: amp`` is."""
import numpy as np
import pytest

from tests.test_dsamp52 import LAYER8B, N8B, _job, _mem


@pytest.mark.parametrize("zero, expected", [(3, 4 * N8B / 8 + 2 * LAYER8B * 2), (2, 4 * N8B / 8 + 2 * N8B)])
def test_metaseq_fairscale_fsdp_amp_keeps_the_fp32_shard_and_no_autocast_copy(zero, expected):
    """Llama-3-8B, 8 ranks, metaseq under AMP. ZeRO-3: 4/8 B a parameter of fp32 shard and two bf16 layers gathered
    (4.55 GiB, llm-foundry's FSDP1 figure); ZeRO-2: the shard and the bf16 gathered parameters whole (18.70 GiB).
    Before: (4 + 2)/8 B a parameter at ZeRO-3 (6.42 GiB) and 6 B whole at ZeRO-2 (44.87 GiB)."""
    assert _mem(_job({"name": "metaseq"}), zero=zero)["weights"][0] == pytest.approx(expected)
