"""The Megatron activation table (planner/model/activations.py) against what Megatron-Core 0.16.1
really saves: a tiny GPTModel from its local layer spec (Megatron's own column/row-parallel
linears, DotProductAttention with the unfused softmax, torch LayerNorm) on CPU, TP=1 and TP=2
(two gloo ranks) with and without sequence parallelism, fp32/bf16, recompute none/selective/full,
dropout off/on. The numbers are in tests/data/mcore_activations.json, written once by
tests/make_mcore_activations.py (which documents the CPU adaptations); these tests read the JSON
only and need neither torch nor megatron-core.

What CPU cannot check (strict xfail below): Megatron's fused softmax CUDA kernel, which keeps only
its 16-bit output — the table's default rows. On CPU the torch fallback runs, which keeps the fp32
softmax (``fp32_softmax=True``), and that is what the main test compares.
"""
import json
from pathlib import Path

import pytest

from planner.model.activations import FULL, NONE, SELECTIVE, layer_activation_bytes, logits_bytes
from planner.spec import ModelSpec

DATA = json.loads((Path(__file__).parent / "data" / "mcore_activations.json").read_text())
MD = DATA["model"]
SPEC = ModelSpec(family="decoder", layers=MD["layers"], hidden=MD["hidden"], heads=MD["heads"],
                 vocab=MD["vocab"], ffn_hidden=MD["ffn_hidden"], mlp="gelu", norm="layernorm",
                 qkv_bias=True, linear_bias=True, position="learned", max_positions=MD["seq"])
RC = {"none": NONE, "selective": SELECTIVE, "full": FULL}
ACT = {"fp32": 4, "bf16": 2}
TOL = 0.05  # target; measured: <= 0.16 % (bf16 LayerNorm keeps bf16 mean/rstd on CPU, fp32 on GPU)

NATIVE = [r for r in DATA["cases"] if r["case"]["dropout_kernel"] == "native"]


def _id(r):
    c = r["case"]
    return f"tp{c['tp']}-{'sp' if c['sp'] else 'nosp'}-{c['precision']}-{c['recompute']}-drop{c['dropout']}"


def table(c, fp32_softmax):
    return float(layer_activation_bytes(SPEC, MD["seq"], MD["micro_batch"], tp=c["tp"], sp=c["sp"],
                                        recompute=RC[c["recompute"]], flash=False,
                                        dropout=c["dropout"] > 0, act_bytes=ACT[c["precision"]],
                                        fp32_softmax=fp32_softmax))


def rel(formula, measured):
    return (formula - measured) / measured


def test_versions_recorded():
    assert DATA["versions"]["megatron-core"] == "0.16.1"
    assert DATA["versions"]["torch"].startswith("2.")
    assert len(NATIVE) == 24 and all(r["ranks_agree"] for r in DATA["cases"])


@pytest.mark.parametrize("r", NATIVE, ids=_id)
def test_layer_bytes_match_megatron_core(r):
    """Per-layer bytes, the table with the softmax path that ran (torch fallback: fp32 softmax)."""
    formula = table(r["case"], fp32_softmax=True)
    assert abs(rel(formula, r["per_layer_bytes"])) < TOL, (formula, r["per_layer_bytes"])


# the fused-kernel rows (16-bit softmax only) against the CPU run, where the kernel cannot run:
# measured errors -28.5 % (no dropout) / -12.9 % (dropout), TP=2 without SP -24.9 % / -11.0 %
FUSED_OFF = [r for r in NATIVE if r["case"]["precision"] == "bf16" and r["case"]["recompute"] == "none"]


@pytest.mark.xfail(strict=True, reason="Megatron's fused softmax CUDA kernel (16-bit output only, "
                   "the table's default rows) cannot run on CPU; the measured fallback keeps the "
                   "fp32 softmax: -28.5 %/-12.9 % (TP=1, no dropout/dropout)")
@pytest.mark.parametrize("r", FUSED_OFF, ids=_id)
def test_fused_softmax_rows_on_cpu(r):
    formula = table(r["case"], fp32_softmax=False)
    assert abs(rel(formula, r["per_layer_bytes"])) < TOL, (formula, r["per_layer_bytes"])


def test_fp32_is_path_independent():
    """In fp32 the two softmax paths keep the same bytes (no cast): the default table is exact."""
    for r in NATIVE:
        c = r["case"]
        if c["precision"] == "fp32":
            assert table(c, False) == table(c, True)
            # exact but for the 4-byte int32 attn_mask_type tensor selective recompute saves
            assert abs(table(c, False) - r["per_layer_bytes"]) <= 4


def test_korthikanti_terms_exact_in_fp32():
    """fp32, TP=1, no recompute: every table row is a storage Megatron saves, to the byte
    (34sbh + 5as^2b scaled to 4-byte activations: 4*(34sbh+5as^2b)/2 minus the 1-byte masks)."""
    by = {(_id(r)): r["per_layer_bytes"] for r in NATIVE}
    for drop in (0.0, 0.1):
        c = dict(tp=1, sp=False, precision="fp32", recompute="none", dropout=drop)
        assert table(c, False) == by[f"tp1-nosp-fp32-none-drop{drop}"]


def test_cpu_dropout_mask_is_the_only_difference():
    """The CPU F.dropout path keeps fp32 masks where CUDA's native_dropout keeps 1-byte ones: the
    three masks (attention a*s, two hidden h per token) account for the whole difference."""
    cpu = next(r for r in DATA["cases"] if r["case"]["dropout_kernel"] == "cpu")
    nat = next(r for r in NATIVE if _id(r) == "tp1-nosp-fp32-none-drop0.1")
    tokens = MD["seq"] * MD["micro_batch"]
    masks = tokens * (MD["heads"] * MD["seq"] + 2 * MD["hidden"]) * (4 - 1)
    assert cpu["per_layer_bytes"] - nat["per_layer_bytes"] == masks


@pytest.mark.parametrize("r", [r for r in NATIVE if r["case"]["recompute"] == "none"], ids=_id)
def test_head_and_loss_bytes(r):
    """Final norm, LM-head input and the vocab-parallel cross-entropy's fp32 softmax
    (``logits_bytes``) against the storages saved outside the embedding and the layers."""
    c = r["case"]
    out = sum(v for k, v in r["by_module"].items()
              if k in ("", "decoder.final_layernorm", "output_layer"))
    formula = float(logits_bytes(SPEC, MD["seq"], MD["micro_batch"], tp=c["tp"],
                                 act_bytes=ACT[c["precision"]], sp=c["sp"]))
    assert abs(rel(formula, out)) < TOL, (formula, out)
