"""Activation bytes: the saved-tensor table of planner/model/activations.py against what autograd really
saves on forward passes of the reference models (calibration/reference_models.py), measured with
``torch.autograd.graph.saved_tensors_hooks``, one count per storage, leaving out weights, buffers
and the input ids (``SavedTensors``). The per-layer part is isolated by differencing two depths.

And the anchor: Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
Models" (arXiv 2205.05198), Table 2 — bytes per layer for a GPT with 16-bit activations, dropout,
no flash attention.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from calibration.reference_models import SavedTensors, build_model  # noqa: E402
from planner.model.activations import (  # noqa: E402
    FULL, NONE, SELECTIVE, layer_activation_bytes, layer_saved_tensors, logits_bytes,
)
from planner.spec import ModelSpec  # noqa: E402

TOL = 0.02  # measured on torch 2.13 CPU: <= 0.2 % (bf16 LayerNorm keeps bf16 stats on CPU)
B = 2

from tiny_models import MODELS  # noqa: E402

DTYPES = {"fp32": (torch.float32, 4), "bf16": (torch.bfloat16, 2)}


_SAVED: dict = {}


def saved_bytes(spec, layers, seq, dtype, **kw):
    """Bytes autograd saves on one forward pass; each distinct model and input measured once per module (the
    logits tests difference the same depths as the layer tests: a seeded pass saves the same bytes again)."""
    key = (spec.model_dump_json(), layers, seq, dtype, tuple(sorted(kw.items())))
    if key not in _SAVED:
        _SAVED[key] = _measure(spec, layers, seq, dtype, **kw)
    return _SAVED[key]


def _measure(spec, layers, seq, dtype, **kw):
    torch.manual_seed(0)
    model = build_model(spec.model_copy(update=dict(layers=layers)), dtype=dtype, **kw).train()
    idx = torch.randint(0, spec.vocab, (B, seq))
    tgt = torch.randint(0, spec.vocab, (B, seq))
    with SavedTensors(model, exclude=[idx, tgt]) as st:
        model(idx, tgt)
    return st.bytes


def per_layer(spec, seq, dtype, **kw):
    return (saved_bytes(spec, 3, seq, dtype, **kw) - saved_bytes(spec, 1, seq, dtype, **kw)) / 2


def _rel(formula, measured):
    return abs(formula - measured) / measured


CASES = [(n, impl, p, s, d) for n in MODELS for impl in ("sdpa", "math") for p in DTYPES
         for s in (64, 128) for d in ((0.0, 0.1) if n == "gpt" else (0.0,))]


@pytest.mark.parametrize("name,impl,prec,seq,drop", CASES)
def test_layer_bytes_match_autograd(name, impl, prec, seq, drop):
    spec = MODELS[name]
    dtype, act = DTYPES[prec]
    measured = per_layer(spec, seq, dtype, attn_impl=impl, dropout=drop)
    formula = float(layer_activation_bytes(spec, seq, B, flash=impl == "sdpa", dropout=drop > 0,
                                           act_bytes=act, moe=spec.moe is not None))
    assert _rel(formula, measured) < TOL, (formula, measured)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("prec", list(DTYPES))
def test_full_recompute_keeps_layer_input(name, prec):
    spec, (dtype, act) = MODELS[name], DTYPES[prec]
    measured = per_layer(spec, 128, dtype, recompute="full", dropout=0.1 if name == "gpt" else 0.0)
    formula = float(layer_activation_bytes(spec, 128, B, recompute=FULL, act_bytes=act,
                                           moe=spec.moe is not None))
    assert measured == formula  # exactly the layer input, 2*s*b*h in 16-bit


@pytest.mark.parametrize("name", ["gpt", "llama", "bert"])
@pytest.mark.parametrize("prec", list(DTYPES))
def test_logits_bytes_match_autograd(name, prec):
    spec, (dtype, act) = MODELS[name], DTYPES[prec]
    seq, L = 128, 2
    total = saved_bytes(spec, L, seq, dtype)
    layers = L * per_layer(spec, seq, dtype)
    emb = 0
    if spec.family == "encoder":  # BERT's embedding LayerNorm: input (h) and fp32 mean, rstd
        emb = B * seq * (spec.hidden * act + 2 * 4)
    measured = total - layers - emb
    formula = float(logits_bytes(spec, seq, B, act_bytes=act))
    assert _rel(formula, measured) < TOL, (formula, measured)


# ---------------------------------------------------------------------------------------------
# Korthikanti et al. 2022 (arXiv 2205.05198) Table 2, 16-bit activations, GPT with dropout,
# s = sequence, b = micro-batch, h = hidden, a = heads, t = tensor parallel size. The paper leaves
# out the LayerNorms' fp32 mean and rstd (16 bytes per token per layer); the table has them as
# rows of their own, so they are taken off before comparing.
# ---------------------------------------------------------------------------------------------
K_GPT = ModelSpec(family="decoder", layers=24, hidden=2048, heads=16, vocab=50257, mlp="gelu",
                  norm="layernorm", tied_embeddings=True, qkv_bias=True, linear_bias=True,
                  position="learned", max_positions=4096)


def _stats(spec, seq, b, t=1, sp=False):
    rows = [r for r in layer_saved_tensors(spec, seq, flash=False, dropout=True) if r.name.endswith(".stats")]
    return sum(seq * b * r.per_token * r.dtype_bytes for r in rows) / (t if sp else 1)


@pytest.mark.parametrize("s,b", [(2048, 1), (4096, 4)])
def test_korthikanti_no_parallelism(s, b):
    h, a = K_GPT.hidden, K_GPT.heads
    got = layer_activation_bytes(K_GPT, s, b, flash=False, dropout=True, act_bytes=2) - _stats(K_GPT, s, b)
    assert got == s * b * h * (34 + 5 * a * s / h)


@pytest.mark.parametrize("t", [2, 4, 8])
def test_korthikanti_tensor_parallel(t):
    s, b, h, a = 2048, 2, K_GPT.hidden, K_GPT.heads
    got = layer_activation_bytes(K_GPT, s, b, tp=t, flash=False, dropout=True, act_bytes=2)
    assert got - _stats(K_GPT, s, b, t) == s * b * h * (10 + 24 / t + 5 * a * s / (h * t))
    # + sequence parallelism: everything divided by t
    got = layer_activation_bytes(K_GPT, s, b, tp=t, sp=True, flash=False, dropout=True, act_bytes=2)
    assert got - _stats(K_GPT, s, b, t, sp=True) == s * b * h / t * (34 + 5 * a * s / h)
    # + selective recompute: the attention core is dropped, 34*s*b*h/t
    got = layer_activation_bytes(K_GPT, s, b, tp=t, sp=True, recompute=SELECTIVE, flash=False,
                                 dropout=True, act_bytes=2)
    assert got - _stats(K_GPT, s, b, t, sp=True) == 34 * s * b * h / t
    # full recompute: the layer input only, 2*s*b*h (/t with SP)
    assert layer_activation_bytes(K_GPT, s, b, tp=t, recompute=FULL, act_bytes=2) == 2 * s * b * h
    assert layer_activation_bytes(K_GPT, s, b, tp=t, sp=True, recompute=FULL, act_bytes=2) == 2 * s * b * h / t


def test_vectorised_over_recompute():
    rc = np.array([NONE, SELECTIVE, FULL])
    v = layer_activation_bytes(K_GPT, 2048, 1, recompute=rc, flash=False, dropout=True)
    assert v.shape == (3,) and v[0] > v[1] > v[2]
