"""Truth for the gated-MLP rows of the Megatron activation table: what Megatron-Core 0.16.1 saves
for a SwiGLU layer with and without its fused SwiGLU (``bias_activation_fusion``).

The same tiny GPT and CPU adaptations as tests/make_mcore_activations.py (whose ``measure`` runs
the forward under the saved-tensor tracker), built Llama-style: RMSNorm, SwiGLU
(``gated_linear_unit=True``, ``activation_func=F.silu``), no biases, no dropout; bf16 and fp32, TP=1,
no recompute. With ``bias_activation_fusion=True`` the MLP calls ``bias_swiglu_impl``
(megatron/core/fusions/fused_bias_swiglu.py: ``SwiGLUFunction`` saves only its input); without, the
unfused ``glu`` (``F.silu(x[0]) * x[1]``). The fused function's body is ``jit_fuser``
(torch.compile); ``TORCHDYNAMO_DISABLE=1`` runs it eagerly on CPU, which changes nothing that is
saved: inside an autograd.Function's forward nothing is recorded, only its ``save_for_backward``.

Run::

    TORCHDYNAMO_DISABLE=1 PYTHONPATH=$PWD python tests/make_mcore_glu_activations.py
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_mcore_activations as base  # noqa: E402
from one_rank import one_rank_group  # noqa: E402

OUT = HERE / "data" / "mcore_glu_activations.json"
L, H, HEADS, KV_HEADS, FFN, VOCAB, SEQ, MB = base.L, base.H, base.HEADS, 2, 512, base.VOCAB, base.SEQ, base.MB


def build_llama(case, spec_kw=None, **config):
    """The tiny Llama-style GPTModel (RMSNorm, SwiGLU, GQA, RoPE, no biases, no dropout) in the case's
    precision; ``config`` adds TransformerConfig fields, ``spec_kw`` arguments of the local layer spec.
    tests/make_mcore_qknorm_activations.py builds its model with it too."""
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.models.gpt.gpt_model import GPTModel
    from megatron.core.transformer.transformer_config import TransformerConfig

    dtype = torch.bfloat16 if case["precision"] == "bf16" else torch.float32
    cfg = TransformerConfig(num_layers=L, hidden_size=H, num_attention_heads=HEADS, num_query_groups=KV_HEADS,
                            ffn_hidden_size=FFN, use_cpu_initialization=True, params_dtype=dtype,
                            bf16=dtype == torch.bfloat16, hidden_dropout=0.0, attention_dropout=0.0,
                            normalization="RMSNorm", gated_linear_unit=True, activation_func=F.silu,
                            add_bias_linear=False, bias_dropout_fusion=False, masked_softmax_fusion=False,
                            **config)
    torch.manual_seed(0)
    model = GPTModel(cfg, get_gpt_layer_local_spec(normalization="RMSNorm", **(spec_kw or {})), vocab_size=VOCAB,
                     max_sequence_length=SEQ, position_embedding_type="rope")
    if dtype == torch.bfloat16:
        model.bfloat16()
    model.train()
    return model


def build(case):
    return build_llama(case, bias_activation_fusion=case["fused_glu"])


def measure_one_rank(todo, builder, port: int) -> list:
    """``base.measure`` of each case on one gloo rank (TP=1)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    with base.cpu_safe(), one_rank_group(megatron=True):
        return [base.measure(c, builder) for c in todo]


def model_doc(spec: str, activation: str) -> dict:
    """The tiny model's shape, as the truth JSON records it."""
    return dict(layers=L, hidden=H, heads=HEADS, kv_heads=KV_HEADS, ffn_hidden=FFN, vocab=VOCAB, seq=SEQ,
                micro_batch=MB, spec=spec, norm="RMSNorm (torch)", activation=activation, add_bias_linear=False,
                position="rope")


def versions() -> dict:
    import importlib.metadata as md
    return {"megatron-core": md.version("megatron-core"), "torch": torch.__version__, "python": sys.version.split()[0]}


def cases():
    return [dict(tp=1, sp=False, precision=p, recompute="none", dropout=0.0, dropout_kernel="native", fused_glu=f)
            for p in ("fp32", "bf16") for f in (False, True)]


def main():
    res = measure_one_rank(cases(), build, 29613)
    doc = {"versions": versions(), "model": model_doc("get_gpt_layer_local_spec(normalization='RMSNorm')", "swiglu"),
           "cases": res}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for r in res:
        c = r["case"]
        print(c["precision"], "fused" if c["fused_glu"] else "unfused", r["per_layer_bytes"])
        for t in r["layer1_tensors"]:
            print("   ", t)


if __name__ == "__main__":
    main()
