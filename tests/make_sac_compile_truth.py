"""Ground truth for what torchtitan's per-op SAC keeps when the blocks are compiled (mem56).

    python tests/make_sac_compile_truth.py        # writes tests/data/sac_compile_truth.json

The dense blocks of tests/op_sac_truth.py (torchtitan's Llama block in plain torch: RMSNorm, q/k/v as three linears or
one, RoPE, SDPA, wo, ``w2(F.silu(w1(x)) * w3(x))``), each wrapped as torchtitan 2024-12 wraps it
(parallelize_llama.py ``_apply_ac_to_transformer_block``: ``ptd_checkpoint_wrapper(module,
context_fn=selective_checkpointing_context_fn, preserve_rng_state=False)``, a fresh mm count per call, MUST_SAVE the
outputs of the save list's ops but every second ``aten.mm``) and then compiled one block at a time as its
``apply_compile`` does (``torch.compile(transformer_block, fullgraph=True)``), Inductor on CPU. Measure: the tensors the
compiled blocks' autograd functions save (``saved_tensors_hooks``, one count per storage; parameters, the RoPE tables
and the stack's input left out), per layer the difference of a 3- and a 1-block stack, halved; beside it the eager
figure of op_sac_truth (``per_layer_bytes``). The same at TP 2 with and without sequence parallelism on two gloo ranks
under torchtitan's DTensor plan (op_sac_truth ``_tp_blocks``; rank 0's local shards), beside the eager SAC caches
(``tp_per_layer_bytes``). tests/test_mem56.py reads the JSON.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import op_sac_truth as T  # noqa: E402

OUT = Path(__file__).resolve().parent / "data" / "sac_compile_truth.json"
#: the dense cases of op_sac_truth measured compiled
CASES = ("dense s128 h256 b2 unfused", "dense s128 h256 b2 fused", "dense s256 h128 b1 unfused")


def _policy(meta):
    from torch.utils.checkpoint import CheckpointPolicy

    def policy(ctx, func, *args, **kwargs):
        key = f"{'recompute' if ctx.is_recompute else 'forward'}_mm_count"
        if func == torch.ops.aten.mm.default:
            meta[key] += 1
        save = func in T.SAVE_LIST and not (func == torch.ops.aten.mm.default and meta[key] % 2 == 0)
        return CheckpointPolicy.MUST_SAVE if save else CheckpointPolicy.PREFER_RECOMPUTE
    return policy


def selective_checkpointing_context_fn():
    """torchtitan's context: a fresh mm count for each checkpointed call (a module-level function, as dynamo wants)."""
    from torch.utils.checkpoint import create_selective_checkpoint_contexts

    return create_selective_checkpoint_contexts(_policy(defaultdict(int)))


def compiled_kept_bytes(layers, h, heads, kv_heads, f, seq, batch, fused) -> int:
    """Bytes the compiled blocks' forward saves for the backward (module docstring), the output excluded."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    torch.manual_seed(0)
    torch._dynamo.reset()
    blocks = nn.ModuleList(T.Block(h, heads, kv_heads, f, fused) for _ in range(layers)).to(torch.bfloat16)
    run = [torch.compile(checkpoint_wrapper(b, context_fn=selective_checkpointing_context_fn,
                                            preserve_rng_state=False), fullgraph=True) for b in blocks]
    cos, sin = T._tables(seq, h // heads, torch.bfloat16)
    x0 = torch.randn(batch, seq, h, dtype=torch.bfloat16, requires_grad=True)
    return _saved_bytes(run, x0, cos, sin, list(blocks.parameters()))


#: the tensor-parallel case measured compiled at TP 2, with and without SP
TP_CASE = "dense s128 h256 b2 unfused"


def _saved_bytes(run, x0, cos, sin, params) -> int:
    """Bytes the blocks ``run`` save for the backward (a DTensor's local shard; ``params``, the input and the RoPE
    tables left out), one count per storage."""
    local = lambda t: getattr(t, "_local_tensor", t)  # noqa: E731
    skip = {local(t).untyped_storage().data_ptr() for t in (x0, cos, sin, *params)}
    seen = {}

    def pack(t):
        st = local(t).untyped_storage()
        if st.data_ptr() not in skip:
            seen[st.data_ptr()] = st.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        x = x0
        for blk in run:
            x = blk(x, cos, sin)
    return sum(seen.values())


def _tp_compiled_rank(rank, world, port, sp, kw, out):
    """One gloo rank: torchtitan's TP plan (op_sac_truth ``_tp_blocks``), each block checkpoint-wrapped with the op
    policy and compiled; rank 0 puts the per-layer bytes it saves."""
    import torch.distributed as dist
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    kept = {}
    for layers in (1, 3):
        torch._dynamo.reset()
        blocks, x0, cos, sin = T._tp_blocks(rank, world, port, sp, kw, layers)
        run = [torch.compile(checkpoint_wrapper(b, context_fn=selective_checkpointing_context_fn,
                                                preserve_rng_state=False), fullgraph=True) for b in blocks]
        kept[layers] = _saved_bytes(run, x0, cos, sin, list(blocks.parameters()))
    out.put((rank, (kept[3] - kept[1]) / 2))
    dist.destroy_process_group()


def main():
    out = {"torch": torch.__version__, "cases": {}, "tp_cases": {}}
    for name in CASES:
        kw = {k: v for k, v in T.CASES[name].items() if k != "moe"}
        compiled = (compiled_kept_bytes(3, **kw) - compiled_kept_bytes(1, **kw)) / 2
        out["cases"][name] = dict(kw, compiled_per_layer=compiled, eager_per_layer=T.per_layer_bytes(**kw))
        print(name, out["cases"][name])
    kw = T.CASES[TP_CASE]
    for sp in (False, True):
        name = f"{TP_CASE} TP2{' + SP' if sp else ''}"
        out["tp_cases"][name] = dict(kw, tp=2, sp=sp, compiled_per_layer=T._spawn(_tp_compiled_rank, 2, sp, kw)[0],
                                     eager_per_layer=T.tp_per_layer_bytes(2, sp, **kw))
        print(name, out["tp_cases"][name])
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
