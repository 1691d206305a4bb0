"""The dense layers of MoE models at their own width (dsdense38, 2026-12-05).

DeepSeek-V3's first ``first_k_dense_replace`` = 3 layers (Kimi K2: 1) run a dense MLP of ``intermediate_size`` 18432,
the experts ``moe_intermediate_size`` 2048 (HF DeepseekV3Config; Megatron-Core builds the dense ``MLP`` at
``ffn_hidden_size`` and the experts at ``moe_ffn_hidden_size``). ``ModelSpec.dense_width`` is that width, and the
parameters, FLOPs, GEMM shapes and the HF tables already took it; the fused-kernel saved-tensor table
(activations.layer_saved_tensors) priced a dense layer's MLP rows at the expert width ``ffn_hidden``.

The truth: transformers' own DeepSeek-V2 / V3 tiny models (first_k_dense_replace 1, intermediate_size 128,
moe_intermediate_size 32) run on CPU under saved_tensors_hooks, one count per storage, by module
(tests/data/hf_activations.json, tests/make_hf_activations.py): the dense layer 0's MLP keeps its input (the norm's
output, attributed to gate_proj, which reads it first), gate and up (``act_fn * up``), the activation's input, and
down_proj's input -- h + 4 f a token at f = 128, the same rows the table keeps for an unfused gated MLP.
"""
import json
from pathlib import Path

import pytest

from planner.model.activations import block_saved_tensors, layer_activation_bytes, layer_saved_tensors
from planner.spec import ModelSpec
from planner.spec.hf import hf_config_to_fields
from planner.spec.presets import PRESETS

DATA = Path(__file__).parent / "data"
ACTS = json.loads((DATA / "hf_activations.json").read_text())["families"]
FLOPS = json.loads((DATA / "hf_flops.json").read_text())["families"]
MLP_ROWS = ("mlp.input", "mlp.gate,up", "mlp.act(gate)", "mlp.act*up")


def _mlp_elements(m: ModelSpec, moe: bool = False, **kw) -> float:
    """Elements a token the table keeps in the MLP half of one layer (its input and the MLP's own rows)."""
    return sum(t.per_token for t in layer_saved_tensors(m, 1.0, True, False, moe, **kw) if t.name in MLP_ROWS)


@pytest.mark.parametrize("fam", ["deepseek_v3", "deepseek_v2"])
def test_dense_layer_mlp_saves_match_transformers(fam):
    """Layer 0 (dense) of the recorded tiny model: the table's MLP rows at fp32 equal what autograd kept, byte for
    byte; at the expert width (the old pricing) they were a third of it."""
    cfg = FLOPS[fam]["resolved_config"]
    m = ModelSpec(**hf_config_to_fields(cfg))
    assert m.moe.first_dense == 1 and m.dense_width == cfg["intermediate_size"] != m.ffn_hidden
    case = next(c for c in ACTS[fam]["cases"] if c["precision"] == "fp32" and c["attn_implementation"] == "eager"
                and not c["gradient_checkpointing"])
    mods = case["by_module"]
    measured = sum(mods[f"model.layers.0.mlp{s}"] for s in ("", ".act_fn", ".down_proj", ".gate_proj"))
    assert measured == case["tokens"] * 4 * (m.hidden + 4 * m.dense_width)  # h + 4 f, fp32
    assert _mlp_elements(m) * 4 * case["tokens"] == measured
    # the old pricing, at the experts' width
    assert _mlp_elements(m.model_copy(update={"dense_ffn_hidden": None})) * 4 * case["tokens"] < 0.4 * measured


def test_deepseek_v3_dense_layer_at_18432():
    """DeepSeek-V3 (unfused gated MLP, bf16): a dense layer's MLP keeps 2 (h + 4 x 18432) bytes a token, 131 KB more
    than at the experts' 2048; a Megatron-Core fused SwiGLU 3 f: 98 KB more. The MoE layers do not move."""
    m = ModelSpec(**PRESETS["deepseek-v3"])
    assert (m.dense_width, m.ffn_hidden, m.moe.first_dense) == (18432, 2048, 3)
    narrow = m.model_copy(update={"dense_ffn_hidden": None})
    assert _mlp_elements(m) == m.hidden + 4 * 18432
    kw = dict(act_bytes=2, fused_norm=True)
    dense = float(layer_activation_bytes(m, 4096, 1, moe=False, **kw)) / 4096
    assert dense - float(layer_activation_bytes(narrow, 4096, 1, moe=False, **kw)) / 4096 == 2 * 4 * (18432 - 2048)
    glu = float(layer_activation_bytes(m, 4096, 1, moe=False, fused_glu=True, **kw)) / 4096
    assert glu - float(layer_activation_bytes(narrow, 4096, 1, moe=False, fused_glu=True, **kw)) / 4096 == \
        2 * 3 * (18432 - 2048)
    for fused_glu in (False, True):
        assert float(layer_activation_bytes(m, 4096, 1, moe=True, fused_glu=fused_glu, **kw)) == \
            float(layer_activation_bytes(narrow, 4096, 1, moe=True, fused_glu=fused_glu, **kw))


def test_kimi_k2_mean_layer_carries_its_dense_layer():
    """Kimi K2's one dense layer of 61 (18432 wide): the mean layer's saves rise by 1/61 of its extra rows."""
    from planner.model.activations import mean_layer_activation_bytes

    m = ModelSpec(**PRESETS["kimi-k2"])
    assert (m.dense_width, m.ffn_hidden, m.layers - m.moe_layers) == (18432, 2048, 1)
    narrow = m.model_copy(update={"dense_ffn_hidden": None})
    kw = dict(act_bytes=2)
    rise = float(mean_layer_activation_bytes(m, 4096, 1, **kw) - mean_layer_activation_bytes(narrow, 4096, 1, **kw))
    assert rise == pytest.approx(4096 * 2 * 4 * (18432 - 2048) / 61)


def test_mlp_recompute_frees_the_dense_width():
    """Megatron-Core's "mlp" recompute module checkpoints a dense layer's MLP: what it frees is the 18432-wide rows
    (the recompute FLOPs already re-ran the 18432-wide GEMMs: flops.recompute_module_flops_per_token)."""
    from planner.model.activations import SELECTIVE

    m = ModelSpec(**PRESETS["deepseek-v3"])
    kw = dict(act_bytes=2, moe=False, fused_glu=True)
    none = float(layer_activation_bytes(m, 4096, 1, **kw))
    sel = float(layer_activation_bytes(m, 4096, 1, recompute=SELECTIVE, modules=("mlp",), **kw))
    # the fused SwiGLU's input (2 f) and fc2's input (f) go; the MLP's input (h) is the norm's, kept
    assert (none - sel) / 4096 == 2 * 3 * 18432


def test_hybrid_dense_block_takes_the_dense_width():
    """A hybrid model's "-" block (dense MLP) beside "E" blocks: the MLP rows at ``dense_width``, as its parameters
    (spec.params ``"-"``) and its GEMMs (flops.op_sac_block_mms "mlp") take it."""
    m = ModelSpec(family="moe", hybrid_pattern="*-*E", hidden=256, heads=4, kv_heads=4, vocab=1024, ffn_hidden=64,
                  dense_ffn_hidden=512, moe=dict(experts=4, top_k=2))
    rows = {t.name: t.per_token for t in block_saved_tensors(m, "-", 1.0, True, False, False)}
    assert rows["mlp.gate,up"] == 2 * 512 and rows["mlp.act*up"] == 512
