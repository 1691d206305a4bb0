"""Truth for the q/k-norm rows of the Megatron activation table: what Megatron-Core 0.16.1 saves for a
Qwen3-style layer, per-head RMSNorm of the queries and keys (``qk_layernorm=True``) before RoPE.

The same tiny GPT, CPU adaptations and saved-tensor tracker as tests/make_mcore_activations.py and
tests/make_mcore_glu_activations.py (RMSNorm, fused SwiGLU, GQA, no biases, no dropout), with
``get_gpt_layer_local_spec(qk_layernorm=True)``: SelfAttention.get_query_key_value_tensors runs
``q_layernorm`` / ``k_layernorm`` (torch RMSNorm over head_dim, WrappedTorchNorm) on the split query
and key; torch's RMSNorm keeps its input and its fp32 reciprocal RMS per row, as TE's RMSNorm
(``inp``, ``rsigma``) does on GPU. Cases: bf16 and fp32, recompute none / selective (core_attn), TP=1;
the same model with ``qk_layernorm=False`` as the control, so the test reads the norms' share directly.
Run::

    TORCHDYNAMO_DISABLE=1 PYTHONPATH=$PWD python tests/make_mcore_qknorm_activations.py
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_mcore_activations as base  # noqa: E402

OUT = HERE / "data" / "mcore_qknorm_activations.json"
L, H, HEADS, KV_HEADS, FFN, VOCAB, SEQ, MB = base.L, base.H, base.HEADS, 2, 512, base.VOCAB, base.SEQ, base.MB


def build(case):
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.models.gpt.gpt_model import GPTModel
    from megatron.core.transformer.transformer_config import TransformerConfig

    dtype = torch.bfloat16 if case["precision"] == "bf16" else torch.float32
    rc = {"none": {}, "selective": dict(recompute_granularity="selective", recompute_modules=["core_attn"])}
    cfg = TransformerConfig(num_layers=L, hidden_size=H, num_attention_heads=HEADS, num_query_groups=KV_HEADS,
                            ffn_hidden_size=FFN, use_cpu_initialization=True, params_dtype=dtype,
                            bf16=dtype == torch.bfloat16, hidden_dropout=0.0, attention_dropout=0.0,
                            normalization="RMSNorm", gated_linear_unit=True, activation_func=F.silu,
                            add_bias_linear=False, bias_activation_fusion=True, qk_layernorm=case["qk_norm"],
                            bias_dropout_fusion=False, masked_softmax_fusion=False, **rc[case["recompute"]])
    torch.manual_seed(0)
    model = GPTModel(cfg, get_gpt_layer_local_spec(normalization="RMSNorm", qk_layernorm=case["qk_norm"]),
                     vocab_size=VOCAB, max_sequence_length=SEQ, position_embedding_type="rope")
    if dtype == torch.bfloat16:
        model.bfloat16()
    model.train()
    return model


def cases():
    return [dict(tp=1, sp=False, precision=p, recompute=rc, dropout=0.0, dropout_kernel="native", qk_norm=qk)
            for p in ("fp32", "bf16") for rc in ("none", "selective") for qk in (False, True)]


def main():
    import importlib.metadata as md
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29614")
    torch.set_num_threads(1)
    base._cpu_safe()
    from megatron.core import parallel_state
    with tempfile.TemporaryDirectory() as d:
        dist.init_process_group("gloo", rank=0, world_size=1, init_method=f"file://{d}/rdv")
        parallel_state.initialize_model_parallel(tensor_model_parallel_size=1)
        res = [base.measure(c, build) for c in cases()]
        parallel_state.destroy_model_parallel()
        dist.destroy_process_group()
    doc = {"versions": {"megatron-core": md.version("megatron-core"), "torch": torch.__version__,
                        "python": sys.version.split()[0]},
           "model": dict(layers=L, hidden=H, heads=HEADS, kv_heads=KV_HEADS, ffn_hidden=FFN, vocab=VOCAB,
                         seq=SEQ, micro_batch=MB,
                         spec="get_gpt_layer_local_spec(normalization='RMSNorm', qk_layernorm=...)",
                         norm="RMSNorm (torch)", activation="swiglu (fused)", add_bias_linear=False,
                         position="rope"),
           "cases": res}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for r in res:
        c = r["case"]
        print(c["precision"], c["recompute"], "qk_norm" if c["qk_norm"] else "-", r["per_layer_bytes"])
        for t in r["layer1_tensors"]:
            print("   ", t)


if __name__ == "__main__":
    main()
