"""lora58d: an eager attention after a grouped_mm MoE block, its softmax backward priced at the scores' size.

transformers 5.23's ``eager_attention_forward`` takes ``softmax(..., dtype=torch.float32)`` and casts it back to the
query's dtype, so the backward holds three fp32 (b, H, s, s) tensors at ``_softmax_backward_data``: the softmax's
saved output, the fp32 copy of the probabilities' gradient (the cast's backward) and the softmax backward's output
(the live-set dump of tiny Qwen3-MoE LoRA over a bf16 base, grouped_mm, eager, (2, 128): 3 x 524,288 B at the step's
peak). ``_block_backward``'s grouped_mm branch reassigned the score count ``S`` to its routed rows (k x T), so the
attention phase after it priced those tensors at k x T elements; the eager expert loop's walk did not. No
transformers needed here (tests/data/hf_activations.json, tests/data/hfblk57_truth.json)."""
from __future__ import annotations

import pytest

from planner.model.activations_hf import hf_block_rebuild, hf_step_memory
from test_hfmoe52 import _cases, _spec


@pytest.mark.parametrize("prec", ["bf16", "amp_bf16", "fp32"])
@pytest.mark.parametrize("fam", ["mixtral", "qwen3_moe"])
def test_grouped_mm_block_holds_the_softmax_backward(fam, prec):
    """At 1,024 tokens the scores outweigh the block: the rebuilt block's peak is the softmax backward's moment,
    whichever experts kernel ran the MLP before it, so grouped_mm's walk equals the eager loop's and holds at least
    the three fp32 score-sized tensors. Before lora58d grouped_mm's was 0.71..0.90 of that bound (Mixtral fp32
    35.7 MB against the eager loop's 51.6 MB); every case fails there."""
    m, mt = _spec(fam)
    grouped = hf_block_rebuild(m, mt, 1024, 1, prec, "eager", "grouped_mm")
    assert grouped >= 3 * 4 * m.heads * 1024 * 1024
    assert grouped == hf_block_rebuild(m, mt, 1024, 1, prec, "eager", "eager")


def test_qwen3_moe_grouped_step_peak_at_the_softmax_backward():
    """Tiny Qwen3-MoE, pure bf16, checkpointed, (2, 128), grouped_mm: the walked step peak against the live count
    (2,493,000 B, the last attention's softmax backward) within 0.5 % (+0.08 %); -9.7 % before lora58d (fails)."""
    m, mt = _spec("qwen3_moe")
    c = next(c for c in _cases("qwen3_moe", True) if (c["precision"], c["batch"], c["seq"]) == ("bf16", 2, 128))
    r = hf_step_memory(m, mt, 128, 2, "bf16", "eager", True, experts="grouped_mm")
    assert r.peak_step == pytest.approx(c["live_peak_fwd_bwd_bytes"], rel=0.005)
