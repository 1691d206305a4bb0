"""FLOPs per step: planner/model/flops.py against ``torch.utils.flop_counter.FlopCounterMode`` on real
forward+backward runs of the reference models (calibration/reference_models.py) on CPU, and against
Narayanan et al. 2021 eq. 3 and the 6*N*D rule by hand.

FlopCounterMode charges the flash kernels' backward 5 bmm (2.5 x the forward's 2), i.e. the
backward recomputes QK^T; it has no formula for the CPU flash kernel
(``_scaled_dot_product_flash_attention_for_cpu``), so ``register_cpu_flash_flops`` gives it the
CUDA kernels' formula (query heads for K/V under GQA, as the kernel computes them).
"""
import pytest

torch = pytest.importorskip("torch")

from torch.utils import flop_counter as fc  # noqa: E402

from calibration.reference_models import build_model, register_cpu_flash_flops  # noqa: E402
from planner.model.flops import narayanan_eq3, step_flops  # noqa: E402
from planner.spec.params import count_params  # noqa: E402
from planner.spec.presets import PRESETS  # noqa: E402
from planner.spec import ModelSpec  # noqa: E402

B = 2


register_cpu_flash_flops()


from tiny_models import LLAMA, MODELS  # noqa: E402



def counted_flops(spec, seq, **kw):
    torch.manual_seed(0)
    model = build_model(spec, **kw).train()
    idx = torch.randint(0, spec.vocab, (B, seq))
    tgt = torch.randint(0, spec.vocab, (B, seq))
    with fc.FlopCounterMode(display=False) as counter:
        model(idx, tgt).backward()
    return counter.get_total_flops()


def _rel(a, b):
    return abs(a - b) / b


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("seq", [64, 128, 256])
def test_sdpa_model_matches_hardware_flops_with_flash(name, seq):
    spec = MODELS[name]
    # FlopCounterMode charges sdpa the full score matrix, causal or not: the full-matrix count
    got = float(step_flops(spec, seq, B, recompute="none", flash=True, causal_kernel=False)["hardware"])
    assert _rel(got, counted_flops(spec, seq, attn_impl="sdpa")) < 0.01


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("seq", [64, 128, 256])
def test_math_model_matches_model_flops(name, seq):
    spec = MODELS[name]
    got = float(step_flops(spec, seq, B, recompute="none", flash=False)["model"])
    assert _rel(got, counted_flops(spec, seq, attn_impl="math")) < 0.01


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("impl", ["sdpa", "math"])
def test_full_recompute_matches_checkpointed_model(name, impl):
    spec, seq = MODELS[name], 128
    got = float(step_flops(spec, seq, B, recompute="full", flash=impl == "sdpa", causal_kernel=False)["hardware"])
    assert _rel(got, counted_flops(spec, seq, attn_impl=impl, recompute="full")) < 0.01


def test_mfu_flops_exclude_recompute():
    f = step_flops(LLAMA, 128, B, recompute="full", flash=True)
    assert f["model"] == 3 * f["fwd"] and f["hardware"] > f["model"]


# --- by hand ----------------------------------------------------------------------------------
@pytest.mark.parametrize("preset,s,B_", [("gpt3-175b", 2048, 1536), ("gpt2", 1024, 512)])
def test_narayanan_eq3(preset, s, B_):
    """Narayanan et al. 2021 ("Efficient Large-Scale Language Model Training on GPU Clusters
    Using Megatron-LM") eq. 3: 96 B s l h^2 (1 + s/6h + V/16lh) — 4h MLP, tied embeddings, full
    recompute, no FLOPs for the learned position table, attention counted in full."""
    m = ModelSpec(**PRESETS[preset])
    got = float(step_flops(m, s, B_, recompute="full", flash=False)["hardware"])
    assert got == pytest.approx(narayanan_eq3(B_, s, m.layers, m.hidden, m.vocab), rel=1e-12)


def test_six_nd_rule_for_a_big_model():
    """Kaplan et al. 2020: training FLOPs ~ 6 N D for N >> attention; GPT-3 175B at s=2048."""
    m = ModelSpec(**PRESETS["gpt3-175b"])
    n, tokens = count_params(m).total, 2048 * 1536
    got = float(step_flops(m, 2048, 1536, recompute="none", flash=False)["model"])
    assert _rel(got, 6 * n * tokens) < 0.03
