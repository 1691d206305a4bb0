"""The q/k-norm rows of the Megatron activation table (planner/model/activations.py, ``qk_norm.*``) against
what Megatron-Core 0.16.1 saves for a Qwen3-style layer (``qk_layernorm=True``) on CPU
(tests/data/mcore_qknorm_activations.json, written by tests/make_mcore_qknorm_activations.py; this test
reads the JSON only).

On CPU the local spec's norms are torch's composite RMSNorm, which keeps an fp32 copy of its input and its
fp32 normalised output (the weight gradient's operand) besides the per-row reciprocal RMS; Transformer
Engine's RMSNorm, which the TE spec uses for ``q_layernorm`` / ``k_layernorm``, keeps the input in the
activation dtype and the fp32 ``rsigma`` (its backward is ``rmsnorm_bwd(dy, x, rsigma, gamma)``). So the
CPU truth checks which tensors the norms add, how wide they are and that selective recompute keeps them;
the bytes per element are TE's.
"""
import json
from pathlib import Path

import pytest

from planner.model.activations import NONE, SELECTIVE, layer_activation_bytes, layer_saved_tensors
from planner.spec import ModelSpec

DATA = json.loads((Path(__file__).parent / "data" / "mcore_qknorm_activations.json").read_text())
MD = DATA["model"]
TOKENS = MD["seq"] * MD["micro_batch"]
HEAD_DIM = MD["hidden"] // MD["heads"]


def spec(qk_norm):
    return ModelSpec(family="decoder", layers=MD["layers"], hidden=MD["hidden"], heads=MD["heads"],
                     kv_heads=MD["kv_heads"], vocab=MD["vocab"], ffn_hidden=MD["ffn_hidden"], mlp="swiglu",
                     norm="rmsnorm", position="rope", qk_norm=qk_norm)


def case(precision, recompute, qk):
    return next(r for r in DATA["cases"] if r["case"]["precision"] == precision
                and r["case"]["recompute"] == recompute and r["case"]["qk_norm"] == qk)


def norm_tensors(r):
    return [t for t in r["layer1_tensors"] if t[0].endswith(("q_layernorm", "k_layernorm"))]


def test_versions_recorded():
    assert DATA["versions"]["megatron-core"] == "0.16.1" and len(DATA["cases"]) == 8


@pytest.mark.parametrize("recompute", ["none", "selective"])
def test_the_norms_add_their_tensors_and_nothing_else(recompute):
    """bf16: the layer with q/k norms saves exactly the control layer's bytes plus the norms' own tensors
    (RoPE still applies to the normalised q and k, which core attention keeps as before); selective
    recompute (core_attn) keeps them."""
    with_, without = case("bf16", recompute, True), case("bf16", recompute, False)
    assert with_["per_layer_bytes"] - without["per_layer_bytes"] == sum(t[3] for t in norm_tensors(with_))


def test_widths_and_statistics_per_head():
    """Each norm's input-shaped tensors are q (heads x head_dim) and k (kv_heads x head_dim) wide per token,
    its statistics one per head: the table's ``qk_norm.input`` (q + kv) and ``qk_norm.stats`` (heads + kv_heads)."""
    r = case("bf16", "none", True)
    per_token = lambda t: t[3] // TOKENS // (4 if t[2] == "float32" else 2)  # noqa: E731
    q_side = sorted(per_token(t) for t in norm_tensors(r) if t[0].endswith("q_layernorm"))
    k_side = sorted(per_token(t) for t in norm_tensors(r) if t[0].endswith("k_layernorm"))
    assert q_side == [MD["heads"], MD["heads"] * HEAD_DIM, MD["heads"] * HEAD_DIM]  # rstd, input, normalised
    assert k_side == [MD["kv_heads"], MD["kv_heads"] * HEAD_DIM, MD["kv_heads"] * HEAD_DIM]
    rows = {t.name: t for t in layer_saved_tensors(spec("head"), MD["seq"], flash=True, dropout=False)}
    assert rows["qk_norm.input"].per_token == q_side[1] + k_side[1]
    assert rows["qk_norm.stats"].per_token == q_side[0] + k_side[0] and rows["qk_norm.stats"].dtype_bytes == 4
    assert rows["qk_norm.input"].selective and rows["qk_norm.stats"].selective


@pytest.mark.parametrize("recompute", [NONE, SELECTIVE])
def test_table_adds_te_norm_bytes(recompute):
    """The table's layer with q/k norms = without + TE's bf16 input and fp32 rsigma (the CPU run's fp32
    copies are the composite norm's, not TE's)."""
    d = (layer_activation_bytes(spec("head"), MD["seq"], MD["micro_batch"], recompute=recompute, act_bytes=2)
         - layer_activation_bytes(spec("none"), MD["seq"], MD["micro_batch"], recompute=recompute, act_bytes=2))
    assert float(d) == TOKENS * (2 * (MD["heads"] + MD["kv_heads"]) * HEAD_DIM + 4 * (MD["heads"] + MD["kv_heads"]))
