"""Truth for the q/k-norm rows of the Megatron activation table: what Megatron-Core 0.16.1 saves for a
Qwen3-style layer, per-head RMSNorm of the queries and keys (``qk_layernorm=True``) before RoPE.

The same tiny GPT, CPU adaptations and saved-tensor tracker as tests/make_mcore_activations.py and
tests/make_mcore_glu_activations.py (RMSNorm, fused SwiGLU, GQA, no biases, no dropout), with
``get_gpt_layer_local_spec(qk_layernorm=True)``: SelfAttention.get_query_key_value_tensors runs
``q_layernorm`` / ``k_layernorm`` (torch RMSNorm over head_dim, WrappedTorchNorm) on the split query
and key; torch's composite RMSNorm keeps an fp32 copy of its input, its fp32 normalised output and the
reciprocal RMS per row, where TE's RMSNorm on GPU keeps the input in the activation dtype and ``rsigma``. Cases: bf16 and fp32, recompute none / selective (core_attn), TP=1;
the same model with ``qk_layernorm=False`` as the control, so the test reads the norms' share directly.
Run::

    TORCHDYNAMO_DISABLE=1 PYTHONPATH=$PWD python tests/make_mcore_qknorm_activations.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_mcore_glu_activations as glu  # noqa: E402

OUT = HERE / "data" / "mcore_qknorm_activations.json"
RECOMPUTE = {"none": {}, "selective": dict(recompute_granularity="selective", recompute_modules=["core_attn"])}


def build(case):
    """glu's tiny Llama with its fused SwiGLU, q/k norms as the case says, the case's recompute."""
    return glu.build_llama(case, spec_kw=dict(qk_layernorm=case["qk_norm"]), bias_activation_fusion=True,
                           qk_layernorm=case["qk_norm"], **RECOMPUTE[case["recompute"]])


def cases():
    return [dict(tp=1, sp=False, precision=p, recompute=rc, dropout=0.0, dropout_kernel="native", qk_norm=qk)
            for p in ("fp32", "bf16") for rc in ("none", "selective") for qk in (False, True)]


def main():
    res = glu.measure_one_rank(cases(), build, 29614)
    doc = {"versions": glu.versions(),
           "model": glu.model_doc("get_gpt_layer_local_spec(normalization='RMSNorm', qk_layernorm=...)", "swiglu (fused)"),
           "cases": res}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for r in res:
        c = r["case"]
        print(c["precision"], c["recompute"], "qk_norm" if c["qk_norm"] else "-", r["per_layer_bytes"])
        for t in r["layer1_tensors"]:
            print("   ", t)


if __name__ == "__main__":
    main()
