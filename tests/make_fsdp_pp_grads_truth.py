"""Ground truth for when FSDP2's gradient accumulators exist on an interleaved pipeline rank (mem57b).

    python tests/make_fsdp_pp_grads_truth.py        # writes tests/data/fsdp_pp_grads_truth.json

gloo on CPU at world size 2 (torch.multiprocessing, spawn; tests/make_pipelining_truth.py's ``run_ranks``), each rank
two pipeline stages (r and r + 2: ``ScheduleInterleaved1F1B``), each stage ``LAYERS`` ``nn.Linear(WIDTH, WIDTH)``
blocks, every block and the stage ``fully_shard``-ed (FSDP2) on a one-rank mesh with torchtitan's mixed precision
(``MixedPrecisionPolicy(param_dtype=bfloat16, reduce_dtype=float32)``), micro-batches of ``ROWS`` rows, one ``step``
at each micro-batch count of ``CASES`` (2 = PP, as torchtitan 2024-12 ran its interleaved 405B row: m = PP; 4 = two
rounds). After every forward and backward the schedule runs, on each rank, for each of its stages: the micro-batches
whose forward it holds (``stage.fwd_cache``: inputs and outputs kept for the backward) and the bytes of its FSDP
parameters' fp32 accumulators (``FSDPParam.unsharded_accumulated_grad``: torch 2.13
distributed/fsdp/_fully_shard/_fsdp_param.py ``to_accumulated_grad_if_needed`` upcasts a layer's first bf16 gradient
of the step to the reduce dtype in ``FSDPParamGroup.post_backward`` under ``set_requires_gradient_sync(False)``,
which pipelining/stage.py ``backward_maybe_with_nosync`` sets on every backward; ``perform_reduce_grad``, the
schedule's REDUCE_GRAD action, reduce-scatters and frees them) plus any bf16 ``.grad`` left on the unsharded
parameters. tests/test_mem57b.py reads the JSON.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "fsdp_pp_grads_truth.json"
WORLD, V, LAYERS, ROWS, WIDTH = 2, 2, 2, 4, 16
CASES = (2, 4)  # micro-batches a step


def fsdp_params(mod):
    """Each FSDP2 parameter (``FSDPParam``) of a module's ``fully_shard`` states, once (also
    tests/make_pp_merge_truth.py's)."""
    from torch.distributed.fsdp import fully_shard
    seen = set()
    for sub in mod.modules():
        state = fully_shard.state(sub) if hasattr(sub, "unshard") else None
        for group in (state._fsdp_param_groups if state is not None else ()):
            for p in group.fsdp_params:
                if id(p) not in seen:
                    seen.add(id(p))
                    yield p


def grad_bytes(mod) -> int:
    """The stage's FSDP2 gradient bytes held unsharded: fp32 accumulators and bf16 ``.grad`` of unsharded params."""
    total = 0
    for p in fsdp_params(mod):
        acc = p.unsharded_accumulated_grad
        total += acc.untyped_storage().nbytes() if acc is not None else 0
        up = getattr(p, "_unsharded_param", None)
        total += up.grad.untyped_storage().nbytes() if up is not None and up.grad is not None else 0
    return total


def fsdp_wrap(fully_shard, blocks, stage, mesh, mp):
    """A pipeline stage as torchtitan wraps one under PP: every block and the stage ``fully_shard``-ed without
    resharding after forward (also tests/make_pp_merge_truth.py's)."""
    for block in blocks:
        fully_shard(block, mesh=mesh, mp_policy=mp, reshard_after_forward=False)
    fully_shard(stage, mesh=mesh, mp_policy=mp, reshard_after_forward=False)
    return stage


def fsdp_pp_rank(rank, port, world):
    """(one-rank FSDP mesh, torchtitan's ``MixedPrecisionPolicy``: bf16 params, fp32 reduce) on gloo rank ``rank`` of
    ``world`` pipeline ranks, the process group initialised (also tests/make_pp_merge_truth.py's)."""
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world, 1), mesh_dim_names=("pp", "dp"))["dp"]
    return mesh, MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)


def _stage_module(torch, fully_shard, mp, mesh):
    mod = torch.nn.Sequential(*[torch.nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS)])
    return fsdp_wrap(fully_shard, list(mod), mod, mesh, mp)


def _work(rank, port, q):
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.pipelining import PipelineStage
    from torch.distributed.pipelining.schedules import ScheduleInterleaved1F1B

    mesh, mp = fsdp_pp_rank(rank, port, WORLD)
    out = {}
    for n_mb in CASES:
        torch.manual_seed(0)
        stages = [PipelineStage(_stage_module(torch, fully_shard, mp, mesh), rank + k * WORLD, WORLD * V,
                                torch.device("cpu")) for k in range(V)]
        trace = []

        def log(kind, k, mb):
            trace.append(dict(op=kind, chunk=k, mb=mb, held=[len(s.fwd_cache) for s in stages],
                              grad_bytes=[grad_bytes(s.submod) for s in stages]))

        for k, s in enumerate(stages):
            def fwd(mb, *a, _f=s.forward_one_chunk, _k=k, **kw):
                r = _f(mb, *a, **kw)
                log("F", _k, mb)
                return r

            def bwd(mb, *a, _f=s.backward_one_chunk, _k=k, **kw):
                r = _f(mb, *a, **kw)
                log("B", _k, mb)
                return r
            s.forward_one_chunk, s.backward_one_chunk = fwd, bwd
        sch = ScheduleInterleaved1F1B(stages, n_microbatches=n_mb, loss_fn=lambda o, t: o.float().sum())
        x = torch.randn(ROWS * n_mb, WIDTH)
        sch.step(x) if rank == 0 else sch.step(target=torch.zeros(ROWS * n_mb, WIDTH))
        out[f"m{n_mb}"] = dict(microbatches=n_mb, stages=[s.stage_index for s in stages],
                               stage_grad_bytes=LAYERS * (WIDTH * WIDTH + WIDTH) * 4, trace=trace,
                               after=[grad_bytes(s.submod) for s in stages])
    q.put((rank, out))
    dist.destroy_process_group()


def main():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_pipelining_truth import run_ranks
    run_ranks(_work, 29657, OUT, WORLD)


if __name__ == "__main__":
    main()
