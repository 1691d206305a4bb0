"""auto55: NeMo AutoModel's DeepEP experts run their bias loops eagerly, fc2's in fp32 (DeepEP's probabilities).

``GroupedExpertsDeepEP.forward`` (nemo_automodel/components/moe/layers.py) adds fc1's bias after the first grouped
GEMM with ``_apply_bias(output1, bias, tokens_per_expert)`` and fc2's with the routing probabilities, which the DeepEP
dispatcher hands over in fp32 (``_DeepepManager``: "DeepEP only supports float32 probs"); the clamped GLU runs inside
the ``@torch.compile``'d ``quick_geglu_deepep``. Megatron-Core's TEGroupedMLP form (eager clamp chain and offset sync,
fc1's bias in the GEMM epilogue) was priced for these rows before."""
import pytest

from aten_bytes import hbm_bytes
from planner.model import moe
from planner.model.stacks import STACKS, resolve
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS
from test_step_time import cands, hw_for

OSS = ModelSpec(**PRESETS["gpt-oss-20b"])


def _bias_loop(torch, width, probs_dtype=None, probs_grad=False, experts=4, per=256):
    """AutoModel's ``GroupedExpertsDeepEP._apply_bias`` over ``experts`` local experts of ``per`` rows each: the
    rows split per expert, ``t + b`` (or ``t + b * p`` with the permuted probabilities), concatenated, viewed back
    and cast to the rows' dtype; bias rows taken from the ``[experts, width]`` parameter."""
    rows = experts * per
    t = torch.randn(rows, width, dtype=torch.bfloat16, requires_grad=True)
    bias = torch.randn(experts, width, dtype=torch.bfloat16, requires_grad=True)
    counts = torch.tensor([per] * experts)
    p = None if probs_dtype is None else torch.rand(rows, 1, dtype=probs_dtype, requires_grad=probs_grad)

    def loop():
        shape = t.shape
        parts = torch.split(t.view(-1, shape[-1]), counts.tolist())
        if p is None:
            out = torch.cat([x + b for x, b in zip(parts, bias)])
        else:
            out = torch.cat([x + b * q for x, b, q in zip(parts, bias, torch.split(p, counts.tolist()))])
        return out.view(shape).to(t.dtype)

    return loop, rows * width


@pytest.mark.parametrize("key,probs_dtype,probs_grad", [("fc1_bias", None, False),
                                                        ("bias_fp32_probs", "float32", True),
                                                        ("bias_fp32_probs_fixed", "float32", False)])
def test_bias_loop_bytes_are_what_pytorch_runs(key, probs_dtype, probs_grad):
    """moe.EAGER_EXPERT_BYTES for the loops AutoModel runs: fc1's bias without probabilities (8 / 6 B an element of
    the fc1 output) and fc2's with fp32 probabilities (28 / 40 B an element of h, 28 / 28 where the probabilities
    carry no gradient, as from the weightless FakeBalancedGate), against the aten ops counted op by op. Fails on the
    code before auto55: none of the three keys existed (the bias loop was priced with 16-bit probabilities)."""
    torch = pytest.importorskip("torch")
    loop, elements = _bias_loop(torch, 96, None if probs_dtype is None else getattr(torch, probs_dtype), probs_grad)
    fwd, bwd = hbm_bytes(loop)
    want_f, want_b = moe.EAGER_EXPERT_BYTES[key]
    assert fwd == pytest.approx(want_f * elements, rel=0.02)
    assert bwd == pytest.approx(want_b * elements, rel=0.02)


def test_automodel_experts_price_their_own_eager_ops():
    """gpt-oss on nemo-automodel's DeepEP path pays fc1's and fc2's bias loops (fp32, no probability gradient under
    the round-robin gate) and neither the eager clamp chain nor its offset sync; on its all-to-all path (compiled
    ``GroupedExperts``) nothing; Megatron-Core keeps its form, with fc2's loop in fp32 under DeepEP. Fails on the code
    before auto55, which priced Megatron-Core's clamp, sync and 16-bit bias loop on every grouped-GEMM stack."""
    f, h, local, rows = 2880.0, OSS.hidden, 4, 1000.0
    rr = OSS.model_copy(update={"moe": OSS.moe.model_copy(update={"routing": "round_robin"})})
    auto = resolve("nemo-automodel", moe_dispatcher="deepep")
    e = moe.eager_expert_ops(rr, auto, rows, f, local)
    ff, fb = moe.EAGER_EXPERT_BYTES["fc1_bias"]
    bf, bb = moe.EAGER_EXPERT_BYTES["bias_fp32_probs_fixed"]
    assert float(e.fwd_bytes) == pytest.approx(rows * (2 * f * ff + h * bf))
    assert float(e.bwd_bytes) == pytest.approx(rows * (2 * f * fb + h * bb))
    assert float(e.syncs) == 0.0 and float(e.act_fwd_bytes) == 0.0
    a2a = moe.eager_expert_ops(rr, resolve("nemo-automodel", moe_dispatcher="alltoall"), rows, f, local)
    assert float(a2a.fwd_bytes) == 0.0 and float(a2a.bwd_bytes) == 0.0
    core = moe.eager_expert_ops(OSS, resolve("megatron-core", moe_dispatcher="deepep"), rows, f, local)
    cf, cb = moe.EAGER_EXPERT_BYTES["clamp"]
    bf, bb = moe.EAGER_EXPERT_BYTES["bias_fp32_probs"]
    assert float(core.fwd_bytes) == pytest.approx(rows * (f * cf + h * bf)) and float(core.syncs) == 1.0
    assert float(core.bwd_bytes) == pytest.approx(rows * (f * cb + h * bb))
    assert all(st.moe_expert_eager in moe.EXPERT_EAGER_FORMS for st in STACKS.values())


def test_automodel_gpt_oss_step_carries_the_bias_loops(catalog):
    """On a gpt-oss-20b step (8 GPUs, EP 8, DeepEP, round-robin gate) the AutoModel form adds exactly the HBM time of
    its bytes over Megatron-Core's form minus that form's offset sync, in every MoE layer's forward and backward.
    Fails on the code before auto55 (no ``moe_expert_eager`` field: the two steps were equal)."""
    from dataclasses import replace

    rr = OSS.model_copy(update={"moe": OSS.moe.model_copy(update={"routing": "round_robin"})})
    hw = hw_for(catalog)
    t = TrainingSpec(seq_len=4096, global_batch=16, micro_batch=2, precision="bf16")
    c = cands(mb=2, dp=8, ep=8, zero=3)
    auto = resolve("nemo-automodel", moe_dispatcher="deepep")
    megatron_form = replace(auto, moe_expert_eager="megatron")
    a, b = (step_time(rr, t, c, hw, framework=s) for s in (megatron_form, auto))
    rows = 2 * 4096 * rr.moe.top_k  # the rank's routed rows (balanced, EP 8 over 8 ranks)
    old = moe.eager_expert_ops(rr, megatron_form, rows, rr.ffn_hidden, 4)
    new = moe.eager_expert_ops(rr, auto, rows, rr.ffn_hidden, 4)
    mem = lambda x: float(hw.eff.memory_time(x, hw.gpu.hbm_bw))  # noqa: E731
    sync = moe.MOE_SYNC_OPS * hw.eff.launch_s
    layers = rr.layers
    assert b["t_fwd_mb"][0] - a["t_fwd_mb"][0] == pytest.approx(
        layers * (mem(new.fwd_bytes) - mem(old.fwd_bytes) - sync), rel=1e-6)
    assert b["t_bwd_mb"][0] - a["t_bwd_mb"][0] == pytest.approx(layers * (mem(new.bwd_bytes) - mem(old.bwd_bytes)),
                                                                rel=1e-6)
