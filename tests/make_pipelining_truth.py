"""Ground truth for the receive buffers torch.distributed.pipelining keeps a step (mem54).

    python tests/make_pipelining_truth.py        # writes tests/data/pipelining_truth.json

gloo on CPU at world size 2 (torch.multiprocessing, spawn), one ``nn.Linear(16, 16)`` a stage, micro-batches of 4
rows: torch's ``Schedule1F1B`` (one stage a rank, 8 micro-batches) and ``ScheduleInterleaved1F1B`` (two stages a rank,
stages r and r + 2, 4 micro-batches), one ``step``. After it, on each rank, the buffers its stages' ``_RecvInfo``s
hold (torch 2.13 distributed/pipelining/stage.py: ``grad_recv_info`` -- one a micro-batch on each stage before the
last, ``_setup_backward_recv_info`` -- and ``args_recv_info``, one a micro-batch on each stage after the first), with
the bytes of one micro-batch's stage output, and how many of a non-first stage's forwards ran on its own receive
buffer's storage (mem54b: the input its first layer saves is the buffer). The memory model's
``memory_stages.grad_recv_buffers`` / ``fwd_recv_buffers`` price them; tests/test_mem54.py and tests/test_mem54b.py
read the JSON.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "pipelining_truth.json"
WORLD, ROWS, WIDTH = 2, 4, 16
CASES = {"1f1b": (1, 8), "interleaved": (2, 4)}  # stages a rank, micro-batches


def _work(rank, port, q):
    import torch
    import torch.distributed as dist
    from torch.distributed.pipelining import PipelineStage
    from torch.distributed.pipelining.schedules import Schedule1F1B, ScheduleInterleaved1F1B

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    out = {}
    for name, (v, n_mb) in CASES.items():
        torch.manual_seed(0)
        stages = [PipelineStage(torch.nn.Linear(WIDTH, WIDTH), rank + k * WORLD, WORLD * v, torch.device("cpu"))
                  for k in range(v)]
        loss = lambda o, t: o.sum()  # noqa: E731
        sch = (Schedule1F1B(stages[0], n_microbatches=n_mb, loss_fn=loss) if v == 1
               else ScheduleInterleaved1F1B(stages, n_microbatches=n_mb, loss_fn=loss))
        seen = [[] for _ in stages]  # each stage's forward inputs' storages (is the input the receive buffer?)
        for k, s in enumerate(stages):
            s.submod.register_forward_pre_hook(
                lambda mod, args, k=k: seen[k].append(args[0].untyped_storage().data_ptr()))
        x = torch.randn(ROWS * n_mb, WIDTH)
        sch.step(x) if rank == 0 else sch.step(target=torch.zeros(ROWS * n_mb, WIDTH))

        def held(infos):
            bufs = [r.buffer for mb in infos.values() for r in mb if getattr(r, "buffer", None) is not None]
            return len(bufs), sum(b.untyped_storage().nbytes() for b in bufs)
        g = [held(s.grad_recv_info) for s in stages]
        f = [held(s.args_recv_info) for s in stages]
        ptrs = [{r.buffer.untyped_storage().data_ptr() for mb in s.args_recv_info.values() for r in mb
                 if getattr(r, "buffer", None) is not None} for s in stages]
        # forwards a non-first stage ran on one of its own receive buffers (its input is the buffer's storage)
        on_buf = sum(p in ptrs[k] for k, s in enumerate(stages) if not s.is_first for p in seen[k])
        out[name] = dict(stages=v, microbatches=n_mb, boundary_bytes=ROWS * WIDTH * 4,
                         grad_buffers=sum(n for n, _ in g), grad_bytes=sum(b for _, b in g),
                         fwd_buffers=sum(n for n, _ in f), fwd_bytes=sum(b for _, b in f),
                         fwd_on_buffer=on_buf, fwd_nonfirst=sum(len(seen[k]) for k, s in enumerate(stages)
                                                                if not s.is_first))
    q.put((rank, out))
    dist.destroy_process_group()


def run_ranks(work, port, out, world=WORLD):
    """Run ``work(rank, port, queue)`` on ``world`` spawned gloo ranks; write each rank's dict to ``out`` (JSON, with the
    torch version) and print it (also tests/make_pp_outputs_truth.py's launcher)."""
    import torch
    import torch.multiprocessing as mp
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=work, args=(r, port, q)) for r in range(world)]
    for p in procs:
        p.start()
    got = dict(q.get() for _ in procs)
    for p in procs:
        p.join()
    out.write_text(json.dumps({"torch": torch.__version__, "world": world,
                               "ranks": {str(r): got[r] for r in sorted(got)}}, indent=1) + "\n")
    print(out.read_text())


def main():
    run_ranks(_work, 29617, OUT)


if __name__ == "__main__":
    main()
