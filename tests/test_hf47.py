"""The HF Trainer stack's eager details (hf47): torch's early stop under transformers 5's non-reentrant checkpoint,
and transformers' own RoPE.

(1) transformers 5's ``gradient_checkpointing_enable`` passes ``{"use_reentrant": False}`` (hfckpt47) and nothing
else to ``torch.utils.checkpoint.checkpoint`` (``functools.partial(checkpoint, **gradient_checkpointing_kwargs)``,
called by ``GradientCheckpointingLayer.__call__``), whose non-reentrant path stops the recompute early by default
(``early_stop=True``, ``set_checkpoint_early_stop`` unset): hf-trainer's ``recompute_early_stop`` is on, and off --
not refused -- where the job asks for the reentrant checkpoint.
(2) ``apply_rotary_pos_emb`` (``q * cos + rotate_half(q) * sin``) in the stream's dtype: bf16 on a bf16 module
(24 B a q / k element, the complex multiply's), fp32 under autocast over fp32 weights (44 B: fp32 products, an fp32
add and the cast back at the attention), counted on real torch ops (tests/rope_ops.py)."""
from dataclasses import replace

import pytest

from planner.errors import InputError
from planner.model import stacks
from planner.model.layer_ops import eager_rope_bytes
from planner.model.stack_kernels import EAGER_FP32_BYTES
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec

from rope_ops import rope_bytes
from test_step_time import cands, hw_for

LLAMA = ModelSpec(name="llama-like", layers=4, hidden=4096, heads=32, kv_heads=8, ffn_hidden=14336, vocab=32000,
                  mlp="swiglu", norm="rmsnorm", position="rope")


def _job(recompute="none"):
    return TrainingSpec(seq_len=4096, global_batch=2, micro_batch=2, precision="bf16", flash_attention=True,
                        recompute=recompute)


def test_hf_trainer_stops_its_recompute_early_unless_reentrant():
    """On by default with the non-reentrant checkpoint; ``use_reentrant: true`` alone turns it off (torch's reentrant
    ``CheckpointFunction`` has no ``_StopRecomputationError``); both asked for is refused on its field."""
    hf = stacks.resolve("hf-trainer")
    assert hf.recompute_early_stop and hf.use_reentrant is False
    assert not stacks.resolve("hf-trainer", use_reentrant=True).recompute_early_stop
    assert not stacks.resolve("hf-trainer", recompute_early_stop=False).recompute_early_stop
    with pytest.raises(InputError) as e:
        stacks.resolve(stacks.resolve("hf-trainer", recompute_early_stop=True), use_reentrant=True)
    assert e.value.field == "training.framework.recompute_early_stop"


def test_the_early_stop_shortens_a_full_recompute_and_is_said_where_the_plan_recomputes(catalog):
    """A full-recompute step on hf-trainer skips the down projection's re-run (the non-reentrant default) and is
    slower under ``use_reentrant: true``; the stack line says the early stop only where the plan recomputes."""
    hw = hw_for(catalog, "H100-SXM-80GB")
    hf, reent = stacks.resolve("hf-trainer"), stacks.resolve("hf-trainer", use_reentrant=True)
    a, b = (step_time(LLAMA, _job("full"), cands(mb=2, zero=0, rc=2), hw, framework=s) for s in (hf, reent))
    assert float(a["step_time_s"][0]) < float(b["step_time_s"][0])
    assert "recompute_early_stop=on" in hf.describe("bf16", recompute="full")
    assert "recompute_early_stop" not in hf.describe("bf16", recompute="none")
    assert "recompute_early_stop" not in reent.describe("bf16", recompute="full")


def test_transformers_rope_bytes_match_real_ops():
    """Forward, without the per-token tables: 20 B bf16 (as the complex multiply), 36 B under autocast; the registry
    adds each table's read once an element as "rope" does (cos and sin: 2 x 2 B bf16, 2 x 4 B fp32). Backward on
    real ops: 28 and 54 B (the complex multiply's 20)."""
    bf16, amp, titan = (rope_bytes(f) for f in ("rope_rotate_half", "rope_rotate_half_amp", "rope"))
    assert bf16 == (20.0, 28.0) and amp == (36.0, 54.0) and titan == (20.0, 20.0)
    assert EAGER_FP32_BYTES["rope_rotate_half"] == bf16[0] + 2 * 2 == EAGER_FP32_BYTES["rope"]
    assert EAGER_FP32_BYTES["rope_rotate_half_amp"] == amp[0] + 2 * 4


def test_hf_stacks_price_their_family_rope():
    """hf-trainer autocasts over fp32 weights (44 B), bf16 with ``mixed_precision: bf16``, the deepspeed stack's bf16
    module 24 B; Llama 4 and DeepSeek-V2 rotate with the complex multiply (24 B); other stacks keep their key."""
    t = _job()
    hf, ds = stacks.resolve("hf-trainer"), stacks.resolve("deepspeed")
    assert hf.eager_rope == ds.eager_rope == "transformers"
    assert eager_rope_bytes(hf, LLAMA, t) == 44.0
    assert eager_rope_bytes(stacks.resolve("hf-trainer", mixed_precision="bf16"), LLAMA, t) == 24.0
    assert eager_rope_bytes(ds, LLAMA, t) == 24.0
    assert eager_rope_bytes(hf, LLAMA.model_copy(update={"name": "llama4_text"}), t) == 24.0
    assert eager_rope_bytes(stacks.resolve("torchtitan"), LLAMA, t) == EAGER_FP32_BYTES["rope"]


def test_hf_trainer_amp_step_pays_the_fp32_rope(catalog):
    """Against the same stack at the complex multiply's 24 B: each pass grows by exactly the 20 extra bytes on q and
    k at the HBM rate (forward once, backward ``BWD_MEMBOUND_FACTOR`` = 2 times)."""
    hw = hw_for(catalog, "H100-SXM-80GB")
    hf = stacks.resolve("hf-trainer")
    a, b = (step_time(LLAMA, _job(), cands(mb=2, zero=0), hw, framework=s) for s in (hf, replace(hf, eager_rope="rope")))
    fwd = hw.eff.memory_time(2 * 4096 * LLAMA.layers * 20.0 * (LLAMA.q_dim + LLAMA.kv_dim), hw.gpu.hbm_bw)
    assert fwd > 0
    assert float(a["t_fwd_mb"][0] - b["t_fwd_mb"][0]) == pytest.approx(fwd, rel=1e-9)
    assert float(a["t_bwd_mb"][0] - b["t_bwd_mb"][0]) == pytest.approx(2 * fwd, rel=1e-9)
