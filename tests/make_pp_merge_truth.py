"""Ground truth for what the last pipeline stage holds when ``step`` merges its outputs (mem58).

    python tests/make_pp_merge_truth.py        # writes tests/data/pp_merge_truth.json

torch.distributed.pipelining's ``PipelineScheduleSingle.step`` returns ``self._merge_outputs(self._stage.
output_chunks)`` on the last stage (``merge_chunks``: a ``torch.cat`` of every micro-batch's output) once
``_step_microbatches`` has run the last backward: the 2024 code unconditionally (torchtitan 2024-12's 405B rows, torch
1963fc8, before ``return_outputs``), torch 2.13 under ``step(return_outputs=True)``, its default. This asks what is
alive beside that copy, under FSDP2 as torchtitan wraps a pipeline stage (``fully_shard`` on each block and the stage,
``MixedPrecisionPolicy(param_dtype=bfloat16, reduce_dtype=float32)``, ``reshard_after_forward=False`` under PP).

gloo on CPU at world size 2 (tests/make_pipelining_truth.py's ``run_ranks``), a one-rank FSDP mesh, each stage
``LAYERS`` ``nn.Linear(WIDTH, WIDTH)`` blocks, the last stage's output a head's upcast (``.float()``, as torchtitan
2024-12's ``Transformer.forward`` returns ``self.output(h).float()``), ``Schedule1F1B`` at ``N_MB`` micro-batches of
``ROWS`` rows. On the last stage, at each micro-batch's loss (in-step) and inside ``_merge_outputs`` (the merge): the
bytes of the stage's unsharded bf16 parameters still allocated (FSDP2's all-gather outputs: freed by the reshard),
of its fp32 gradient accumulators (``FSDPParam.unsharded_accumulated_grad``), of the kept outputs
(``output_chunks``); after the merge, the bytes of its result (a new tensor). torch 2.13's schedule runs
``perform_reduce_grad`` (FSDP2's ``post_backward`` with ``set_reshard_after_backward(True)`` and
``set_requires_gradient_sync(True)``, then ``_root_post_backward_final_callback``) at the end of
``_step_microbatches``; the 2024 stage.py ran the same ``run_post_backward`` inside the last ``backward_one_chunk``
(``backward_maybe_with_nosync(..., last_backward=True)``): before the merge either way. tests/test_mem58.py reads the
JSON; memory ``pp_merge_parts`` prices the moment.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fsdp_pp_grads_truth import fsdp_params, fsdp_pp_rank, fsdp_wrap, grad_bytes  # noqa: E402

OUT = Path(__file__).resolve().parent / "data" / "pp_merge_truth.json"
WORLD, LAYERS, ROWS, WIDTH, VOCAB, N_MB = 2, 2, 4, 16, 64, 4


def _unsharded_param_bytes(mod) -> int:
    """The bytes of a stage's FSDP2 parameters gathered unsharded (their all-gather outputs; the reshard frees them)."""
    return sum(out.untyped_storage().nbytes() for p in fsdp_params(mod) for out in p.all_gather_outputs or ())


def _stage_module(torch, fully_shard, mp, mesh, last):
    """A stage as torchtitan wraps one: every block and the stage itself (the root: ``submod`` is an FSDPModule, so
    the pipelining stage defers the gradient sync) ``fully_shard``-ed without resharding after forward; the last
    stage's head output returned upcast."""
    class Stage(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(torch.nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS))
            self.output = torch.nn.Linear(WIDTH, VOCAB) if last else None

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return self.output(x).float() if last else x

    mod = Stage()
    return fsdp_wrap(fully_shard, [*mod.layers, *([mod.output] if last else [])], mod, mesh, mp)


def _work(rank, port, q):
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.pipelining import PipelineStage
    from torch.distributed.pipelining.schedules import Schedule1F1B

    mesh, mp = fsdp_pp_rank(rank, port, WORLD)
    torch.manual_seed(0)
    last = rank == WORLD - 1
    mod = _stage_module(torch, fully_shard, mp, mesh, last)
    stage = PipelineStage(mod, rank, WORLD, torch.device("cpu"))
    moments = []

    def record(name):
        unsharded, acc = _unsharded_param_bytes(mod), grad_bytes(mod)
        kept = sum(h.untyped_storage().nbytes() for h in stage.output_chunks)
        moments.append(dict(at=name, unsharded_param_bytes=unsharded, unsharded_grad_bytes=acc, kept_bytes=kept,
                            kept_outputs=len(stage.output_chunks)))

    def loss(o, t):
        record("loss")
        return o.sum()
    sch = Schedule1F1B(stage, n_microbatches=N_MB, loss_fn=loss)
    merge = sch._merge_outputs

    def merged(chunks):
        record("merge")
        return merge(chunks)
    sch._merge_outputs = merged
    x = torch.randn(ROWS * N_MB, WIDTH)
    got = sch.step(x) if rank == 0 else sch.step(target=torch.zeros(ROWS * N_MB, VOCAB))
    chunk_ptrs = {h.untyped_storage().data_ptr() for h in stage.output_chunks}
    out = dict(microbatches=N_MB, output_bytes=ROWS * VOCAB * 4 if last else 0,
               stage_param_bytes_bf16=2 * sum(p.numel() for p in mod.parameters()),
               stage_param_bytes_fp32=4 * sum(p.numel() for p in mod.parameters()), moments=moments,
               merged_bytes=got.untyped_storage().nbytes() if got is not None else 0,
               merged_is_new=got is not None and got.untyped_storage().data_ptr() not in chunk_ptrs)
    q.put((rank, out))
    dist.destroy_process_group()


def main():
    from make_pipelining_truth import run_ranks  # the spawned-gloo launcher the receive-buffer truth uses
    run_ranks(_work, 29677, OUT, WORLD)


if __name__ == "__main__":
    main()
