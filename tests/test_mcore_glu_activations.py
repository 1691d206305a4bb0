"""The gated-MLP rows of the Megatron activation table (planner/model/activations.py, ``fused_glu``)
against what Megatron-Core 0.16.1 saves for a SwiGLU layer on CPU (tests/data/mcore_glu_activations.json,
written by tests/make_mcore_glu_activations.py; this test reads the JSON only).

Compared: the storages saved under the layer's ``mlp`` modules (fc1's input, what the activation
keeps, fc2's input). The rest of the local-spec layer is not what Transformer Engine runs (torch
RMSNorm keeps its fp32 normalised input for the weight gradient; the unfused attention repeats the
grouped K/V heads), so the whole-layer bytes are checked in tests/test_mcore_activations.py on the
GELU model only.
"""
import json
from pathlib import Path

import pytest

from planner.model.activations import layer_saved_tensors
from planner.spec import ModelSpec

DATA = json.loads((Path(__file__).parent / "data" / "mcore_glu_activations.json").read_text())
MD = DATA["model"]
SPEC = ModelSpec(family="decoder", layers=MD["layers"], hidden=MD["hidden"], heads=MD["heads"],
                 kv_heads=MD["kv_heads"], vocab=MD["vocab"], ffn_hidden=MD["ffn_hidden"], mlp="swiglu",
                 norm="rmsnorm", position="rope")
TOKENS = MD["seq"] * MD["micro_batch"]
ACT = {"fp32": 4, "bf16": 2}


def _mlp_measured(r):
    return sum(t[3] for t in r["layer1_tensors"] if t[0].startswith("mlp"))


def _mlp_table(c):
    ab = ACT[c["precision"]]
    return sum(t.per_token * (ab if t.dtype_bytes is None else t.dtype_bytes) * TOKENS
               for t in layer_saved_tensors(SPEC, 1.0, flash=False, dropout=False, fused_glu=c["fused_glu"])
               if t.name.startswith("mlp"))


def _id(r):
    c = r["case"]
    return f"{c['precision']}-{'fused' if c['fused_glu'] else 'unfused'}"


def test_versions_recorded():
    assert DATA["versions"]["megatron-core"] == "0.16.1" and len(DATA["cases"]) == 4


@pytest.mark.parametrize("r", [r for r in DATA["cases"] if r["case"]["fused_glu"]], ids=_id)
def test_fused_swiglu_keeps_fc1_output_and_fc2_input(r):
    """``bias_activation_fusion``: SwiGLUFunction saves its input (fc1's [gate, up] output) only;
    with fc1's and fc2's inputs that is h + 2f + f per token, to the byte."""
    assert _mlp_measured(r) == _mlp_table(r["case"])


@pytest.mark.parametrize("r", [r for r in DATA["cases"] if not r["case"]["fused_glu"]], ids=_id)
def test_unfused_megatron_glu_keeps_one_more_ffn_tensor(r):
    """Megatron-Core 0.16.1's unfused ``glu`` computes ``silu(x_glu) * (x_linear + glu_linear_offset)``
    (transformer/mlp.py, l. 224-226): the sum is a new f-wide tensor the product keeps, one more
    than the table's unfused rows (HF / torchtitan ``silu(w1 x) * w3 x``). The NeMo and
    Megatron-Bridge configs run the fused path (``Stack.fused_glu``), so the table does not model it."""
    extra = TOKENS * MD["ffn_hidden"] * ACT[r["case"]["precision"]]
    assert _mlp_measured(r) == _mlp_table(r["case"]) + extra
