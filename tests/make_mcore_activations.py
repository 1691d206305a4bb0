"""Truth for the Megatron activation table: what Megatron-Core really saves for backward.

Builds a tiny GPTModel from Megatron-Core's *local* layer spec (``get_gpt_layer_local_spec``:
Megatron's own ColumnParallelLinear / RowParallelLinear, DotProductAttention with the unfused
softmax, torch LayerNorm — Transformer Engine does not run on CPU) and runs one training forward
(with labels, so the vocab-parallel cross-entropy runs too) under
``torch.autograd.graph.saved_tensors_hooks``, counting every saved storage once
(``tests/make_hf_common.SavedTensors``, the project's tracker). Cases: fp32 / bf16 x recompute
none / selective (core_attn) / full (uniform, 1 layer per checkpoint) x dropout 0 / 0.1 on one
rank, and the same at TP=2 with and without sequence parallelism on two gloo ranks.

Run (megatron-core is installed only in the CI venv; the tests read the JSON only)::

    PYTHONPATH=$PWD /tmp/venv-ci/bin/python tests/make_mcore_activations.py

CPU-only adaptations, none of which changes which tensors Megatron saves:

* the CUDA RNG tracker (``CudaRNGStatesTracker.fork``, ``_get/_set_cuda_rng_state``) is a no-op:
  it only switches RNG streams for dropout and for recompute;
* ``torch.cuda.current_device`` returns "cpu" (Megatron's global memory buffer for the QK^T
  ``baddbmm`` allocates there) and the causal mask is passed explicitly (the default one is
  built on "cuda"); the mask is one bool s x s storage shared by all layers, reported apart;
* under sequence parallelism the torch LayerNorm is built from a config copy without
  ``sequence_parallel`` (``WrappedTorchNorm`` asserts it off only because its weight gradients
  would miss the SP all-reduce; the forward and its saved tensors are unchanged);
* ``bias_dropout_fusion=False``: the fused bias-dropout-add is ``torch.compile``d
  (megatron/core/jit.py), which these hooks cannot see into; the unfused function runs the same
  ops (fusions/fused_bias_dropout.py ``_bias_dropout_add_func``);
* ``torch.nn.functional.dropout`` runs ``torch.native_dropout``, which keeps a 1-byte bool mask:
  that is what F.dropout runs on CUDA (aten/src/ATen/native/Dropout.cpp,
  ``is_fused_kernel_acceptable`` is true only for CUDA/XPU/... inputs); on CPU F.dropout instead
  multiplies by a mask of the input's dtype, which no GPU run saves (the same choice as
  calibration/reference_models.py ``dropout``). One extra case (``cpu_dropout``) keeps the CPU
  path, for the record.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import tempfile
import types
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "mcore_activations.json"

# the tiny GPT (GPT-2 style: LayerNorm, GELU, learned positions, biases)
L, H, HEADS, FFN, VOCAB, SEQ, MB = 2, 256, 8, 1024, 1024, 128, 2
DROPOUT = 0.1

# make_hf_common imports transformers at module level for its HF builders; the saved-tensor
# tracker does not need it and the CI venv may not have it. The stand-in is in sys.modules only while
# make_hf_common imports: a test that imports this module in-process (test_losspeak38) left it there, and
# every later ``importlib.util.find_spec("transformers")`` on that worker raised ValueError
# ("transformers.__spec__ is None") and ``import transformers`` found a module with no models
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
_stub = None
if "transformers" not in sys.modules:
    try:
        import transformers  # noqa: F401
    except ImportError:
        _stub = types.ModuleType("transformers")
        _stub.AutoConfig = _stub.AutoModelForCausalLM = _stub.AutoModelForMaskedLM = None
        sys.modules["transformers"] = _stub
try:
    from make_hf_common import SavedTensors  # noqa: E402
finally:
    if _stub is not None and sys.modules.get("transformers") is _stub:
        del sys.modules["transformers"]

_F_DROPOUT = torch.nn.functional.dropout


def _native_dropout(input, p=0.5, training=True, inplace=False):
    """What F.dropout runs on CUDA: native_dropout (bool mask)."""
    if not training or p == 0:
        return input
    return torch.native_dropout(input, p, True)[0]


@contextlib.contextmanager
def cpu_safe():
    """The CPU-only adaptations of the module docstring, for the ``with`` block only: each patched object
    (``torch.cuda.current_device``, ``CudaRNGStatesTracker.fork``, ``_get/_set_cuda_rng_state``,
    ``WrappedTorchNorm.__new__``) is put back on exit. A test that builds a model in-process
    (test_losspeak38) otherwise left them patched for the rest of its pytest worker: a later test there saw
    ``torch.cuda.current_device()`` answer "cpu" on a CUDA-less torch and a torch LayerNorm accept
    sequence parallelism that Megatron refuses."""
    from megatron.core.tensor_parallel import random as mrandom
    from megatron.core.transformer.torch_norm import WrappedTorchNorm

    saved = [(torch.cuda, "current_device"), (mrandom.CudaRNGStatesTracker, "fork"),
             (mrandom, "_get_cuda_rng_state"), (mrandom, "_set_cuda_rng_state"), (WrappedTorchNorm, "__new__")]
    # vars(), not getattr: __new__ is a staticmethod in the class dict, and the dict entry is what goes back
    saved = [(owner, name, vars(owner)[name]) for owner, name in saved]
    new = WrappedTorchNorm.__new__

    def _new(cls, config, *a, **k):
        cfg = copy.copy(config)
        cfg.sequence_parallel = False
        return new(cls, cfg, *a, **k)

    torch.cuda.current_device = lambda: "cpu"
    mrandom.CudaRNGStatesTracker.fork = lambda self, name="model-parallel-rng": contextlib.nullcontext()
    mrandom._get_cuda_rng_state = lambda *a, **k: None
    mrandom._set_cuda_rng_state = lambda *a, **k: None
    # WrappedTorchNorm refuses sequence_parallel (torch_norm.py: its weights' gradients would need
    # the SP all-reduce that Apex/TE norms mark); the forward and what it saves are the same
    WrappedTorchNorm.__new__ = staticmethod(_new)
    try:
        yield
    finally:
        for owner, name, obj in saved:
            setattr(owner, name, obj)


def cases():
    out = []
    for tp, sp_opts in ((1, (False,)), (2, (False, True))):
        for sp in sp_opts:
            for prec in ("fp32", "bf16"):
                for rc in ("none", "selective", "full"):
                    for drop in (0.0, DROPOUT):
                        if tp == 2 and prec == "fp32":
                            continue  # TP=2: bf16 only (the sharding does not depend on the dtype)
                        out.append(dict(tp=tp, sp=sp, precision=prec, recompute=rc, dropout=drop,
                                        dropout_kernel="native"))
    out.append(dict(tp=1, sp=False, precision="fp32", recompute="none", dropout=DROPOUT,
                    dropout_kernel="cpu"))
    return out


def build(case):
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.models.gpt.gpt_model import GPTModel
    from megatron.core.transformer.transformer_config import TransformerConfig

    dtype = torch.bfloat16 if case["precision"] == "bf16" else torch.float32
    rc = {"none": {}, "selective": dict(recompute_granularity="selective", recompute_modules=["core_attn"]),
          "full": dict(recompute_granularity="full", recompute_method="uniform", recompute_num_layers=1)}
    cfg = TransformerConfig(num_layers=L, hidden_size=H, num_attention_heads=HEADS, ffn_hidden_size=FFN,
                            use_cpu_initialization=True, params_dtype=dtype, bf16=dtype == torch.bfloat16,
                            hidden_dropout=case["dropout"], attention_dropout=case["dropout"],
                            tensor_model_parallel_size=case["tp"], sequence_parallel=case["sp"],
                            bias_dropout_fusion=False, masked_softmax_fusion=False,
                            **rc[case["recompute"]])
    torch.manual_seed(0)
    model = GPTModel(cfg, get_gpt_layer_local_spec(), vocab_size=VOCAB, max_sequence_length=SEQ)
    if dtype == torch.bfloat16:
        model.bfloat16()  # what Megatron's Float16Module wrapper does (transformer/module.py)
    model.train()
    return model


def step_inputs():
    """One micro-batch's token ids, positions and causal mask (seeded): what every truth run feeds."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (MB, SEQ), generator=g)
    pos = torch.arange(SEQ).unsqueeze(0).expand(MB, -1)
    mask = torch.triu(torch.ones(SEQ, SEQ), diagonal=1).bool()[None, None]
    return ids, pos, mask


def measure(case, builder=None):
    """Saved bytes of one training forward of the model ``builder(case)`` builds (default ``build``)."""
    torch.nn.functional.dropout = _native_dropout if case["dropout_kernel"] == "native" else _F_DROPOUT
    try:  # F.dropout is the CPU one again however the step ends
        model = (builder or build)(case)
        ids, pos, mask = step_inputs()
        st = SavedTensors(model, gc=False)
        with st.hooks():
            loss = model(ids, pos, mask, labels=ids)
        st.stop()
    finally:
        torch.nn.functional.dropout = _F_DROPOUT
    summary = st.summary()
    mask_ptr = mask.untyped_storage().data_ptr()
    in_layers, per_layer, mask_bytes, layer1 = 0, [0] * L, 0, []
    for ptr, rec in st.seen.items():
        mod = rec["module"]
        if ptr == mask_ptr:
            mask_bytes += rec["nbytes"]
            continue
        if mod == "decoder" or mod.startswith("decoder.layers."):
            in_layers += rec["nbytes"]
            if mod.startswith("decoder.layers."):
                i = int(mod.split(".")[2])
                per_layer[i] += rec["nbytes"]
                if i == 1:
                    layer1.append([mod[len("decoder.layers.1."):] or "(layer)", rec["shape"], rec["dtype"],
                                   rec["nbytes"]])
    loss.float().sum().backward()  # the graph is complete: backward runs (values not checked)
    return {"case": case, "saved_bytes": summary["saved_bytes"], "by_dtype": summary["by_dtype"],
            "by_module": summary["by_module"], "attention_mask_bytes": mask_bytes,
            "decoder_layers_bytes": in_layers, "per_layer_bytes": in_layers / L,
            "per_layer_attributed": per_layer, "layer1_tensors": layer1,
            "saved_then_freed_bytes": summary["saved_then_freed_bytes"]}


def _worker(rank, world, port, todo, outdir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from megatron.core import parallel_state
    with cpu_safe():
        dist.init_process_group("gloo", rank=rank, world_size=world)
        parallel_state.initialize_model_parallel(tensor_model_parallel_size=world)
        res = [measure(c) for c in todo]
    with open(os.path.join(outdir, f"rank{rank}.json"), "w") as f:
        json.dump(res, f)
    parallel_state.destroy_model_parallel()
    dist.destroy_process_group()


def run_world(world, todo, port):
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_worker, args=(world, port, todo, d), nprocs=world, join=True)
        ranks = [json.load(open(os.path.join(d, f"rank{r}.json"))) for r in range(world)]
    for i, r0 in enumerate(ranks[0]):
        r0["ranks_agree"] = all(rk[i]["per_layer_bytes"] == r0["per_layer_bytes"] for rk in ranks)
    return ranks[0]


def main():
    import importlib.metadata as md
    todo = cases()
    res = run_world(1, [c for c in todo if c["tp"] == 1], 29611)
    res += run_world(2, [c for c in todo if c["tp"] == 2], 29612)
    versions = {"megatron-core": md.version("megatron-core"), "torch": torch.__version__,
                "python": sys.version.split()[0]}
    doc = {"versions": versions,
           "model": dict(layers=L, hidden=H, heads=HEADS, ffn_hidden=FFN, vocab=VOCAB, seq=SEQ,
                         micro_batch=MB, spec="get_gpt_layer_local_spec()", norm="LayerNorm (torch)",
                         activation="gelu", add_bias_linear=True),
           "notes": ("per_layer_bytes: storages saved under decoder.layers.* or the decoder itself "
                     "(full recompute saves each checkpointed layer's input there), over the layer "
                     "count, excluding the shared causal mask (attention_mask_bytes). Rank 0; "
                     "ranks_agree says whether every rank saved the same per layer."),
           "cases": res}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for r in res:
        c = r["case"]
        print(c["tp"], c["sp"], c["precision"], c["recompute"], c["dropout"], c["dropout_kernel"],
              r["per_layer_bytes"], r["saved_bytes"], r.get("ranks_agree"))


if __name__ == "__main__":
    main()
