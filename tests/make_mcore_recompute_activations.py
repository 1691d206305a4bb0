"""Truth for the per-module selective recompute rows of the Megatron activation table: what
Megatron-Core 0.16.1 saves for one layer under ``recompute_granularity="selective"`` with each
``recompute_modules`` set that runs on CPU.

The tiny models and CPU adaptations of tests/make_mcore_activations.py (local layer spec: torch
norms as separate modules, Megatron's own linears, DotProductAttention with the unfused softmax),
one rank, TP=1:

* the dense GPT of make_mcore_activations.py (LayerNorm, GELU, biases) with modules none /
  core_attn / layernorm / mlp / core_attn+layernorm+mlp;
* a MoE GPT (LayerNorm, fused SwiGLU as the Megatron-Core recipes run it -- ``bias_activation_fusion``,
  the experts' ``weighted_bias_swiglu_impl`` applying the routing weights --, 4 experts top-2,
  ``SequentialMLP`` experts: the local spec's without grouped GEMM, a shared expert) with modules
  none / layernorm / moe / shared_experts. LayerNorm, not RMSNorm: torch's RMSNorm on CPU is a
  composite that keeps fp32 copies a fused GPU norm does not (measured: 4h + 4h bytes per token).

Not runnable on CPU: "moe_act" (needs ``moe_grouped_gemm``: the legacy GroupedMLP's ``grouped_gemm``
CUDA kernels or Transformer Engine's TEGroupedMLP) and "mla_up_proj" (its fused MLA RoPE is
Transformer Engine/CUDA only); their rows stand on the source (the activations docstring's "Recompute modules").

One more CPU adaptation: ``CheckpointWithoutOutput`` (0.16.1 random.py l. 634, ``self.fp8 = fp8 is not
None``) always takes its FP8 branch, which calls Transformer Engine's ``FP8GlobalStateManager``,
``activation_recompute_forward`` and ``fp8_autocast`` (imported only when TE is installed); on CPU
they are stubs that report FP8 off and enter no context, what TE does for a bf16/fp32 run; likewise the
router's ``te_general_gemm`` is None, so it runs its torch matmul (moe_utils.py l. 1192). The MoE
model uses the allgather token dispatcher (the all-to-all one creates a CUDA stream).

Two mechanisms free memory (megatron/core/tensor_parallel/random.py): ``checkpoint`` saves nothing
inside the module (seen by the tracker: the module's forward runs under no_grad) and
``CheckpointWithoutOutput`` frees its output storage once its consumers saved it
(``discard_output_and_register_recompute``: ``untyped_storage().resize_(0)``): the consumers still
hold the tensor, so the tracker (which counts ``nbytes`` when a storage is first saved) would count
it; here every saved storage is re-read after the forward and counted at the size it has then.

Run (megatron-core is installed only in the CI venv; the tests read the JSON only)::

    TORCHDYNAMO_DISABLE=1 PYTHONPATH=$PWD /tmp/venv-ci/bin/python tests/make_mcore_recompute_activations.py
"""
from __future__ import annotations

import json
import os
import sys
import weakref
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_mcore_activations as base  # noqa: E402
from one_rank import one_rank_group  # noqa: E402

OUT = HERE / "data" / "mcore_recompute_activations.json"
L, H, HEADS, FFN, VOCAB, SEQ, MB = base.L, base.H, base.HEADS, base.FFN, base.VOCAB, base.SEQ, base.MB
MOE = dict(experts=4, top_k=2, ffn=256, shared_ffn=256, kv_heads=2)


class LiveSavedTensors(base.SavedTensors):
    """The project's tracker, also keeping a weak reference to each saved tensor so that a storage
    freed in place after it was saved (``CheckpointWithoutOutput``) is counted at its final size."""

    def _record(self, t, kind="saved"):
        # a storage freed in place keeps its (now empty) storage object alive, so the allocator may hand
        # its address to a new tensor, which the base tracker would take for the same storage
        old = self.seen.get(t.untyped_storage().data_ptr())
        ot = old["tref"]() if old is not None and "tref" in old else None
        if ot is not None and ot.untyped_storage().nbytes() == 0 and t.untyped_storage().nbytes() > 0:
            self.freed.append(self.seen.pop(t.untyped_storage().data_ptr()))
        super()._record(t, kind)
        rec = self.seen.get(t.untyped_storage().data_ptr())
        if rec is not None and "tref" not in rec:
            rec["tref"] = weakref.ref(t)


#: modules whose ``tensor_parallel.checkpoint`` backward recurses without end on CPU here (random.py l. 566
#: ``torch.autograd.backward(outputs, args)`` re-enters CheckpointFunction.backward until memory runs
#: out): their forward, what is measured, completes; the backward is not run
CPU_BACKWARD_RECURSES = {"mlp", "moe", "shared_experts"}


def _te_stubs():
    """Transformer Engine's FP8 state for ``CheckpointWithoutOutput`` on CPU (module docstring)."""
    import contextlib
    import types
    from megatron.core.tensor_parallel import random as mrandom
    mrandom.FP8GlobalStateManager = types.SimpleNamespace(is_fp8_enabled=lambda: False, get_fp8_recipe=lambda: None)
    mrandom.activation_recompute_forward = lambda *a, **k: contextlib.nullcontext()
    mrandom.fp8_autocast = lambda *a, **k: contextlib.nullcontext()
    from megatron.core.transformer.moe import moe_utils
    moe_utils.te_general_gemm = None  # the router's GEMM: the torch path (moe_utils.py l. 1192)


def build(case):
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.models.gpt.gpt_model import GPTModel
    from megatron.core.transformer.transformer_config import TransformerConfig

    dtype = torch.bfloat16 if case["precision"] == "bf16" else torch.float32
    rc = (dict(recompute_granularity="selective", recompute_modules=list(case["modules"]))
          if case["modules"] is not None else {})
    common = dict(num_layers=L, hidden_size=H, num_attention_heads=HEADS, use_cpu_initialization=True,
                  params_dtype=dtype, bf16=dtype == torch.bfloat16, hidden_dropout=0.0, attention_dropout=0.0,
                  bias_dropout_fusion=False, masked_softmax_fusion=False, **rc)
    torch.manual_seed(0)
    if case["model"] == "dense":
        cfg = TransformerConfig(ffn_hidden_size=FFN, **common)
        model = GPTModel(cfg, get_gpt_layer_local_spec(), vocab_size=VOCAB, max_sequence_length=SEQ)
    else:
        cfg = TransformerConfig(ffn_hidden_size=MOE["ffn"], num_query_groups=MOE["kv_heads"],
                                gated_linear_unit=True, activation_func=F.silu, add_bias_linear=False,
                                bias_activation_fusion=True, num_moe_experts=MOE["experts"],
                                moe_router_topk=MOE["top_k"], moe_ffn_hidden_size=MOE["ffn"],
                                moe_shared_expert_intermediate_size=MOE["shared_ffn"], moe_grouped_gemm=False,
                                moe_token_dispatcher_type="allgather", moe_aux_loss_coeff=0.0,
                                moe_router_load_balancing_type="none", **common)
        spec = get_gpt_layer_local_spec(num_experts=MOE["experts"], moe_grouped_gemm=False)
        model = GPTModel(cfg, spec, vocab_size=VOCAB, max_sequence_length=SEQ, position_embedding_type="rope")
    if dtype == torch.bfloat16:
        model.bfloat16()
    model.train()
    return model


def measure(case):
    model = build(case)
    ids, pos, mask = base.step_inputs()
    st = LiveSavedTensors(model, gc=False)
    with st.hooks():
        loss = model(ids, pos, mask, labels=ids)
    st.stop()
    mask_ptr = mask.untyped_storage().data_ptr()
    per_layer, layer1 = [0] * L, []
    for ptr, rec in st.seen.items():
        mod = rec["module"]
        if ptr == mask_ptr or not mod.startswith("decoder.layers."):
            continue
        t = rec.get("tref", lambda: None)()
        live = t.untyped_storage().nbytes() if t is not None else rec["nbytes"]
        i = int(mod.split(".")[2])
        per_layer[i] += live
        if i == 1:
            layer1.append([mod[len("decoder.layers.1."):] or "(layer)", rec["shape"], rec["dtype"], rec["nbytes"], live])
    if not set(case["modules"] or ()) & CPU_BACKWARD_RECURSES:
        loss.float().sum().backward()  # the recompute hooks run: the graph is complete
    return {"case": case, "per_layer_bytes": sum(per_layer) / L, "per_layer_attributed": per_layer,
            "layer1_tensors": layer1}


def cases():
    dense = [None, ["core_attn"], ["layernorm"], ["mlp"], ["core_attn", "layernorm", "mlp"]]
    moe = [None, ["layernorm"], ["moe"], ["shared_experts"]]
    return ([dict(model="dense", precision=p, modules=m) for p in ("fp32", "bf16") for m in dense]
            + [dict(model="moe", precision=p, modules=m) for p in ("fp32", "bf16") for m in moe])


def main():
    import importlib.metadata as md
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29614")
    torch.set_num_threads(1)
    _te_stubs()
    with base.cpu_safe(), one_rank_group(megatron=True):
        res = []
        for c in cases():
            res.append(measure(c))
            print(c["model"], c["precision"], c["modules"], res[-1]["per_layer_bytes"], flush=True)
    doc = {"versions": {"megatron-core": md.version("megatron-core"), "torch": torch.__version__,
                        "python": sys.version.split()[0]},
           "dense": dict(layers=L, hidden=H, heads=HEADS, ffn_hidden=FFN, vocab=VOCAB, seq=SEQ, micro_batch=MB,
                         spec="get_gpt_layer_local_spec()", norm="LayerNorm (torch)", activation="gelu"),
           "moe": dict(layers=L, hidden=H, heads=HEADS, vocab=VOCAB, seq=SEQ, micro_batch=MB, norm="LayerNorm (torch)",
                       activation="swiglu (fused)", spec="get_gpt_layer_local_spec(num_experts, moe_grouped_gemm=False)", **MOE),
           "notes": "per_layer_bytes: storages saved under decoder.layers.*, at their size after the forward "
                    "(CheckpointWithoutOutput frees its output in place), over the layer count",
           "cases": res}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
