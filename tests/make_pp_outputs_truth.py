"""Ground truth for the outputs torch.distributed.pipelining's last stage keeps a step (mem57).

    python tests/make_pp_outputs_truth.py        # writes tests/data/pp_outputs_truth.json

gloo on CPU at world size 2 (torch.multiprocessing, spawn), one ``nn.Linear(16, 32)`` a stage whose forward returns
its output upcast (``.float()`` of a bf16 matmul, as torchtitan 2024-12's ``Transformer.forward`` returns
``self.output(h).float()``), micro-batches of 4 rows, ``Schedule1F1B`` at 8 micro-batches, one ``step`` with torch's
default ``return_outputs=True`` and one with ``return_outputs=False``. On the last stage, at each micro-batch's loss
(inside the loss function, where the loss's backward is about to run): the stage outputs alive in the stage's
``output_chunks`` and their bytes; after the step, the same. torch 2.13 distributed/pipelining/stage.py
``forward_one_chunk`` appends each last-stage output to ``output_chunks`` (``if self.is_last and
save_forward_output``; torch 2.5-2.7: every forward, unconditionally), which only ``clear_runtime_states`` at the
next ``step`` empties, and ``PipelineScheduleSingle.step`` merges them (``_merge_outputs``) for its return value.
The memory model's ``memory_activations.pp_kept_outputs`` prices them; tests/test_mem57.py reads the JSON.

mem57c adds, per mode: ``alive_in_backward``, the last stage's outputs still alive (weak references) when each
micro-batch's backward reaches the stage's input, i.e. after the head's backward: with ``return_outputs=False`` the
one micro-batch's output ``fwd_cache`` keeps until ``backward_one_chunk`` pops it (into a local that lives through
that backward); and ``merged_bytes`` / ``merged_is_new``: ``step``'s return on the last stage, a new tensor
(``_merge_outputs``' ``torch.cat``) of all m outputs, alive beside ``output_chunks`` when ``step`` returns.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "pp_outputs_truth.json"
WORLD, ROWS, WIDTH, VOCAB, N_MB = 2, 4, 16, 32, 8


def _work(rank, port, q):
    import weakref

    import torch
    import torch.distributed as dist
    from torch.distributed.pipelining import PipelineStage
    from torch.distributed.pipelining.schedules import Schedule1F1B

    class Stage(torch.nn.Module):  # the head's bf16 matmul, its output returned in fp32
        def __init__(self, width_out):
            super().__init__()
            self.lin = torch.nn.Linear(WIDTH, width_out, dtype=torch.bfloat16)

        def forward(self, x):
            if x.requires_grad:  # runs when this micro-batch's backward reaches the stage's input
                x.register_hook(lambda g: in_bwd.append(sum(r() is not None for r in outs)))
            o = self.lin(x.to(torch.bfloat16)).float()
            outs.append(weakref.ref(o))
            return o

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    out = {}
    for name, ret in (("return_outputs", True), ("no_return_outputs", False)):
        torch.manual_seed(0)
        outs, in_bwd = [], []
        stage = PipelineStage(Stage(VOCAB if rank == WORLD - 1 else WIDTH), rank, WORLD, torch.device("cpu"))
        at_loss = []

        def loss(o, t):
            held = list(stage.output_chunks)
            at_loss.append((len(held), sum(h.untyped_storage().nbytes() for h in held)))
            return o.sum()
        sch = Schedule1F1B(stage, n_microbatches=N_MB, loss_fn=loss)
        x = torch.randn(ROWS * N_MB, WIDTH)
        if rank == 0:
            merged = sch.step(x, return_outputs=ret)
        else:
            merged = sch.step(target=torch.zeros(ROWS * N_MB, VOCAB), return_outputs=ret)
        after = list(stage.output_chunks)
        chunk_ptrs = {h.untyped_storage().data_ptr() for h in after}
        merged_new = merged is not None and merged.untyped_storage().data_ptr() not in chunk_ptrs
        out[name] = dict(microbatches=N_MB, output_bytes=ROWS * VOCAB * 4 if stage.is_last else ROWS * WIDTH * 4,
                         held_at_loss=[n for n, _ in at_loss], held_bytes_at_loss=[b for _, b in at_loss],
                         held_after=len(after), held_bytes_after=sum(h.untyped_storage().nbytes() for h in after),
                         alive_in_backward=in_bwd, merged_is_new=merged_new,
                         merged_bytes=merged.untyped_storage().nbytes() if merged is not None else 0)
    q.put((rank, out))
    dist.destroy_process_group()


def main():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_pipelining_truth import run_ranks  # the spawned-gloo launcher the receive-buffer truth uses
    run_ranks(_work, 29637, OUT, WORLD)


if __name__ == "__main__":
    main()
