"""Ground truth for what torch FSDP2 holds, and when it reduce-scatters, under the HF Trainer's gradient accumulation.

    python tests/make_fsdp2_nosync_truth.py   # writes tests/data/fsdp2_nosync_truth.json (torch only, CPU, ~10 s)

accelerate >= 1.11.0 (huggingface/accelerate PR #3762, merged 2025-09-06) makes ``Accelerator.no_sync`` call
``model.set_requires_gradient_sync(False)`` on an FSDP2 model (``FSDPModule`` has no ``no_sync``; before the PR the
``getattr(model, "no_sync", nullcontext)`` fell through to nothing and every micro-batch reduce-scattered), and
transformers' Trainer (``_run_epoch``) enters it for every micro-batch of a step but the last unless
``accelerator_config.gradient_accumulation_kwargs["sync_each_batch"]`` is set (``GradientAccumulationPlugin``,
default False). accelerate's ``fsdp2_prepare_model`` runs ``fully_shard`` on each transformer block and then on the
root with ``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=bf16, output_dtype=bf16)`` under
``mixed_precision="bf16"`` (accelerate tests/test_fsdp.py ``test_mixed_precision``).

A tiny pure-torch model of that shape (an embedding, 2 blocks of two linears, a head; each block and then the root
``fully_shard``-ed), gloo on CPU at world size 2, one step of 3 micro-batches, the first two under
``set_requires_gradient_sync(False)``, for the policy accelerate builds (reduce bf16) and torchtitan's (reduce fp32)
as a contrast. Recorded per micro-batch: the reduce-scatters FSDP2 issued (``dist.reduce_scatter_single``, torch 2.13's ``DefaultReduceScatter``: count,
input bytes and dtype) and, after the backward, over every parameter: the unsharded gradient FSDP2 keeps
(``FSDPParam._unsharded_param.grad`` or ``unsharded_accumulated_grad``: bytes, dtype) and the sharded ``.grad``
bytes. tests/test_hffsdp56.py reads the JSON (planner.model.memory ``accumulates_unsharded``, ``held_grad_widths``;
step_time ``dp_step_terms`` ``rs_last``).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "fsdp2_nosync_truth.json"
WORLD = 2
HIDDEN, VOCAB, BLOCKS = 64, 128, 2
SHAPE = (2, 16)  # micro-batch, sequence
MICRO_BATCHES = 3


def _model():
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.up, self.down = nn.Linear(HIDDEN, 4 * HIDDEN), nn.Linear(4 * HIDDEN, HIDDEN)

        def forward(self, x):
            return x + self.down(torch.relu(self.up(x)))

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, HIDDEN)
            self.blocks = nn.ModuleList(Block() for _ in range(BLOCKS))
            self.head = nn.Linear(HIDDEN, VOCAB, bias=False)

        def forward(self, ids):
            x = self.embed(ids)
            for b in self.blocks:
                x = b(x)
            return self.head(x)

    return Tiny()


def _held(model) -> dict:
    """Over the model's FSDPParams: the unsharded gradient kept between micro-batches and the sharded ``.grad``."""
    from torch.distributed.fsdp import FSDPModule

    held, dtypes, sharded = 0, set(), 0
    for m in model.modules():
        if not isinstance(m, FSDPModule):
            continue
        group = m._get_fsdp_state()._fsdp_param_group
        for fp in (group.fsdp_params if group is not None else ()):
            g = fp.unsharded_accumulated_grad
            if g is None and hasattr(fp, "_unsharded_param"):
                g = fp._unsharded_param.grad
            if g is not None:
                held += g.numel() * g.element_size()
                dtypes.add(str(g.dtype).replace("torch.", ""))
            sg = fp.sharded_param.grad
            sharded += 0 if sg is None else sg.to_local().numel() * sg.to_local().element_size()
    return {"held_unsharded_bytes": held, "held_dtypes": sorted(dtypes), "sharded_grad_bytes": sharded}


def _run(rank: int, reduce: str, port: int, q) -> None:
    import torch.distributed as dist
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.manual_seed(0)
    model = _model()
    n_params = sum(p.numel() for p in model.parameters())
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=getattr(torch, reduce),
                                  output_dtype=torch.bfloat16)
    for b in model.blocks:
        fully_shard(b, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    calls = []
    real = dist.reduce_scatter_single  # torch 2.13 _fsdp_collectives.py ``DefaultReduceScatter``

    def reduce_scatter(*a, **k):
        x = k["input"]
        calls.append({"input_bytes": x.numel() * x.element_size(), "input_dtype": str(x.dtype).replace("torch.", "")})
        return real(*a, **k)

    dist.reduce_scatter_single = reduce_scatter
    g = torch.Generator().manual_seed(rank)
    steps = []
    for i in range(MICRO_BATCHES):
        sync = i == MICRO_BATCHES - 1
        model.set_requires_gradient_sync(sync)  # accelerate's no_sync for FSDP2 (PR #3762), off on the last
        before = len(calls)
        ids = torch.randint(0, VOCAB, SHAPE, generator=g)
        loss = torch.nn.functional.cross_entropy(model(ids).float().flatten(0, 1), ids.flatten())
        loss.backward()
        steps.append({"sync": sync, "reduce_scatters": calls[before:], **_held(model)})
    if rank == 0:
        q.put({"reduce_dtype": reduce, "world_size": WORLD, "params": n_params, "micro_batches": steps})
    dist.destroy_process_group()


def _case(reduce: str, port: int) -> dict:
    """One reduce dtype's record: rank 0's, after both ranks exit cleanly (torch.multiprocessing.spawn joins them)."""
    import torch.multiprocessing as mp

    q = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_run, args=(reduce, port, q), nprocs=WORLD, join=True)  # (a small record: the pipe holds it)
    return q.get()


def main() -> None:
    cases = {reduce: _case(reduce, 29651 + k) for k, reduce in enumerate(("bfloat16", "float32"))}
    OUT.write_text(json.dumps({
        "generator": "tests/make_fsdp2_nosync_truth.py", "versions": {"torch": torch.__version__},
        "model": {"hidden": HIDDEN, "vocab": VOCAB, "blocks": BLOCKS}, "shape": list(SHAPE),
        "micro_batches": MICRO_BATCHES, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
