"""The HF Trainer's residual stream under FSDP (hffsdp47): bf16 where FSDP gathers bf16 weights, fp32 only where
autocast runs over the replicated fp32 model.

accelerate wraps ``model.forward`` in ``autocast`` under ``native_amp`` whatever the distributed type
(accelerator.py ``prepare_model``), and its FSDP plugin gathers the parameters in the mixed precision
(tests/test_fsdp.py ``test_mixed_precision``: ``MixedPrecision(param_dtype=bf16, reduce_dtype=bf16,
buffer_dtype=bf16)``), at FULL_SHARD (the planner's ZeRO-3) and SHARD_GRAD_OP (its ZeRO-2) alike
(``Stack.autocast_finds_fp32``). The embeddings' output is then bf16, and so are the stream, the norms' outputs
(``self.weight * hidden_states.to(input_dtype)``), the rotary tables (``cos.to(dtype=x.dtype)``) and q / k after RoPE:
the step prices the bf16 RoPE form (24 B, not 44) and the memory walks the bf16 table (``Stack.fp32_stream``, one rule
for both)."""
from dataclasses import replace

import numpy as np
import pytest

from planner.model import stacks
from planner.model.activations_hf import hf_table_precision
from planner.model.layer_ops import eager_rope_bytes
from planner.model.memory import memory_per_gpu
from planner.model.step_time import step_time
from planner.spec import TrainingSpec

from test_hf47 import LLAMA
from test_step_time import cands, hw_for



def _job(recompute="none"):
    return TrainingSpec(seq_len=4096, global_batch=16, micro_batch=2, precision="bf16", flash_attention=True,
                        recompute=recompute)


def test_the_stream_is_fp32_only_where_autocast_finds_fp32_weights():
    """hf-trainer (``mixed_precision: amp``): fp32 at ZeRO-0/1, bf16 at ZeRO-2/3 (FSDP's bf16 gather); a bf16 module
    (``mixed_precision: bf16``, the deepspeed stack) never; the HF table follows it."""
    t = _job()
    hf = stacks.resolve("hf-trainer")
    assert hf.fp32_stream(t, np.arange(4)).tolist() == [True, True, False, False]
    assert not stacks.resolve("hf-trainer", mixed_precision="bf16").fp32_stream(t, np.arange(4)).any()
    assert not stacks.resolve("deepspeed").fp32_stream(t, np.arange(4)).any()
    assert [hf_table_precision("amp_bf16", s) for s in (True, False)] == ["amp_bf16", "bf16"]
    assert hf_table_precision("fp32", False) == "fp32"


def test_rope_form_follows_the_zero_stage():
    """44 B (fp32 products) over the replicated fp32 model, the bf16 form's 24 B under FSDP; ZeRO-0 when no stage is
    given (hf47's value)."""
    t = _job()
    hf = stacks.resolve("hf-trainer")
    assert eager_rope_bytes(hf, LLAMA, t, hf.fp32_stream(t, np.array([0, 1, 2, 3]))).tolist() == [44.0, 44.0, 24.0,
                                                                                                  24.0]
    assert eager_rope_bytes(hf, LLAMA, t) == 44.0


@pytest.mark.parametrize("recompute,rc", [("none", 0), ("full", 2)])
def test_hf_trainer_zero3_step_prices_the_bf16_rope(catalog, recompute, rc):
    """At ZeRO-3 the amp step equals the same stack at the 24 B form ("rope", the bf16 rotate_half's bytes), while at
    ZeRO-0 it still pays the fp32 form (until hffsdp47 ZeRO-3 paid it too: Llama-3-8B on 8 H100, no recompute,
    4.179 s a step, now 4.066)."""
    hw = hw_for(catalog, "H100-SXM-80GB")
    hf = stacks.resolve("hf-trainer")
    c = cands(dp=8, mb=2, zero=[0, 3], rc=rc)
    a, b = (step_time(LLAMA, _job(recompute), c, hw, framework=s) for s in (hf, replace(hf, eager_rope="rope")))
    assert float(a["t_fwd_mb"][1]) == pytest.approx(float(b["t_fwd_mb"][1]), rel=1e-12)
    assert float(a["t_bwd_mb"][1]) == pytest.approx(float(b["t_bwd_mb"][1]), rel=1e-12)
    assert float(a["t_fwd_mb"][0]) > float(b["t_fwd_mb"][0])


@pytest.mark.parametrize("recompute", ["none", "full"])
def test_hf_trainer_fsdp_walks_the_bf16_table(recompute):
    """Activations at ZeRO-2/3 under amp are the bf16 module's (the walk at "bf16": bf16 stream, checkpoints and q / k,
    no autocast copies), below ZeRO-0's fp32 stream; at ZeRO-2 FSDP's unsharded bf16 flat parameter (SHARD_GRAD_OP
    keeps it from the forward to the backward) stays in the weight term beside the fp32 flat parameter's shard: 4/8 + 2 B
    a parameter against ZeRO-0's walked 4 (until z2f51 the fp32 part whole, 6 B: x1.5)."""
    t = _job(recompute)
    c = cands(dp=8, mb=2, zero=[0, 2, 3], rc=2 if recompute == "full" else 0)
    amp = memory_per_gpu(LLAMA, t, c, stack=stacks.resolve("hf-trainer"))
    pure = memory_per_gpu(LLAMA, t, c, stack=stacks.resolve("hf-trainer", mixed_precision="bf16"))
    act = amp["activations"]
    assert float(act[2]) == pytest.approx(float(pure["activations"][2]), rel=1e-12)
    assert float(act[1]) == pytest.approx(float(act[2]), rel=1e-12)
    assert float(act[0]) > float(act[2])
    assert float(amp["weights"][1]) == pytest.approx((4 / 8 + 2) / 4 * float(amp["weights"][0]), rel=1e-9)
