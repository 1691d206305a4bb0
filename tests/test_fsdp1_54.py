"""FSDP1's gradient reduce as the code runs it (step_time ``fsdp_copy_in_bytes``): torch FSDP1's forward uses views
of the unsharded FlatParameter, so autograd's ``SplitWithSizesBackward`` concatenates each unit's gradients into the
flat gradient on the compute stream every backward, and everything FSDP1 itself does to the gradient -- the cast to
``reduce_dtype``, the divides, the reduce-scatter, the cast of the shard to fp32, the ``_saved_grad_shard`` add -- runs
inside ``_post_backward_hook`` (torch distributed/fsdp/_runtime_utils.py), on its post-backward stream. Checked on
torch's own FSDP1 at world size 2 (a fake process group in one CPU process: the collectives do nothing, every local
op runs as under NCCL), op by op."""
import contextlib
import dataclasses
import sys

import pytest

from planner.model.flops import count_params
from planner.model.stacks import STACKS
from planner.model import step_time as st_mod
from planner.model.step_time import fsdp_copy_in_bytes, held_grad_accum_bytes, step_time
from planner.spec import TrainingSpec

from test_step_time import LLAMA, cands, hw_for

BF16 = TrainingSpec(seq_len=4096, global_batch=32, micro_batch=1, precision="bf16", recompute="full")
FP32 = TrainingSpec(seq_len=4096, global_batch=32, micro_batch=1, precision="fp32", recompute="full")


#: the ops that move a gradient's bytes (the views, slices and the weight-gradient GEMMs aside, and the pre-backward
#: unshard's ``copy_`` into ``_mp_shard``: the all-gather's, memory ``fsdp1_mp_shard_bytes``)
MOVES = ("cat", "_to_copy", "div_", "add_")


def _in_post_backward_hook() -> bool:
    f = sys._getframe()
    while f is not None:
        if f.f_code.co_name == "_post_backward_hook":
            return True
        f = f.f_back
    return False


def _fsdp1_backward_ops(strategy: str, reduce_dtype: str, micro_batches: int, no_sync: bool,
                        backend: str = "fake", rank: int = 0) -> tuple:
    """(elements, ops): the model's parameter elements and, per backward, each op on a tensor of a unit's flat size
    or its shard's as (op in ``MOVES``, inside ``_post_backward_hook``, input dtype, output dtype, elements): two FSDP1
    units (a linear, and a linear with bias: two parameters in one FlatParameter) under a wrapping root,
    ``MixedPrecision(param_dtype=bf16)``, ``use_orig_params=True`` (accelerate's and Composer's default), world size
    2: a fake process group in this process (``backend`` "fake"), or gloo on two processes (``__main__`` below,
    where the default group is already up); HYBRID_SHARD on a (replicate 1, shard 2) mesh."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy
    from torch.utils._python_dispatch import TorchDispatchMode

    if backend == "fake":
        fake_pg = pytest.importorskip("torch.testing._internal.distributed.fake_pg")
        dist.init_process_group("fake", store=fake_pg.FakeStore(), rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        layers = [torch.nn.Linear(64, 32, bias=False), torch.nn.Linear(32, 16, bias=True)]
        flat = {sum(p.numel() for p in layer.parameters()) for layer in layers}  # 2,048 and 528 elements
        elems = sum(flat)
        mp = MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=getattr(torch, reduce_dtype))
        mesh = init_device_mesh("cpu", (1, 2)) if strategy == "HYBRID_SHARD" else None

        def wrap(mod):
            return FSDP(mod, sharding_strategy=getattr(ShardingStrategy, strategy), mixed_precision=mp,
                        use_orig_params=True, device_id=torch.device("cpu"), device_mesh=mesh)
        net = wrap(torch.nn.Sequential(*[wrap(layer) for layer in layers]))
        ops = []

        class Record(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                first = args[0][0] if args and isinstance(args[0], (list, tuple)) and args[0] else (args[0] if args else None)
                name = str(func).split(".")[1]
                if name in MOVES and isinstance(first, torch.Tensor) and out.numel() in flat | {n // 2 for n in flat}:
                    ops.append((name, _in_post_backward_hook(), first.dtype, out.dtype, out.numel()))
                return out

        per_mb = []
        for i in range(micro_batches):
            ctx = net.no_sync() if no_sync and i < micro_batches - 1 else contextlib.nullcontext()
            with ctx:
                loss = net(torch.randn(8, 64)).float().sum()
                ops.clear()
                with Record():
                    loss.backward()
                per_mb.append(list(ops))
        return elems, per_mb
    finally:
        if backend == "fake":
            dist.destroy_process_group()


@pytest.mark.parametrize("strategy", ["FULL_SHARD", "HYBRID_SHARD"])
def test_fsdp1_sync_concatenates_on_the_compute_stream_and_reduces_on_its_own(strategy):
    """fp32 ``reduce_dtype`` (Composer's DEFAULT preset), 2 micro-batches synced each (Composer's loop): outside the
    hook one bf16 ``cat`` per unit, 2 + 2 B an element, as priced; the fp32 cast, the pre-divide and, in the second
    micro-batch, the shard's add all inside the hook (post-backward stream; HYBRID_SHARD's all-reduce and post-divide
    on its all-reduce stream, from the hook too: unpriced)."""
    torch = pytest.importorskip("torch")
    m = 2
    elems, per_mb = _fsdp1_backward_ops(strategy, "float32", m, no_sync=False)
    compute = [[o for o in ops if not o[1]] for ops in per_mb]
    assert all(sorted(o[0] for o in ops) == ["cat", "cat"] for ops in compute)
    assert all(o[2] == o[3] == torch.bfloat16 for ops in compute for o in ops)
    cat_bytes = sum(o[4] * (o[2].itemsize + o[3].itemsize) for ops in compute for o in ops)
    assert float(fsdp_copy_in_bytes(STACKS["llm-foundry"], BF16, 8.0, m, False)[0]) * m * elems == cat_bytes
    hook = [sorted({o[0] for o in ops if o[1]}) for ops in per_mb]
    assert hook == [["_to_copy", "div_"], ["_to_copy", "add_", "div_"]]


def test_fsdp1_no_sync_adds_on_the_compute_stream_as_held_grad_accum_prices():
    """SHARD_GRAD_OP under ``no_sync`` (the HF Trainer's FSDP1), bf16 ``reduce_dtype`` (accelerate's): every
    backward's ``cat`` outside the hook, each later one's bf16 ``add_`` into the held flat gradient outside it too
    (``held_grad_accum_bytes``: stolen first, 2 + 2 read, 2 written after), and only the syncing backward enters the
    hook's reduce (the divide; the shard cast to fp32)."""
    pytest.importorskip("torch")
    m = 3
    elems, per_mb = _fsdp1_backward_ops("SHARD_GRAD_OP", "bfloat16", m, no_sync=True)
    cats = sum(o[4] * 4 for ops in per_mb for o in ops if o[0] == "cat" and not o[1])
    adds = sum(o[4] * 6 for ops in per_mb for o in ops if o[0] == "add_" and not o[1])
    assert [sum(o[0] == "cat" for o in ops) for ops in per_mb] == [2, 2, 2]
    # the HF Trainer's stack as stacks._with_fsdp_version leaves it under fsdp_version 1
    st = dataclasses.replace(STACKS["hf-trainer"], fsdp_version=1, fsdp1_no_sync=True)
    assert float(fsdp_copy_in_bytes(st, BF16, 8.0, m, True)[0]) * m * elems == cats
    assert float(held_grad_accum_bytes(st, BF16, 8.0, m)[0]) * m * elems == adds
    assert [any(o[1] for o in ops) for ops in per_mb] == [False, False, True]


def test_fsdp1_stacks_price_the_concatenation_every_micro_batch(catalog, monkeypatch):
    """llm-foundry at ZeRO-3 on 8 GPUs, 4 micro-batches: the memory-bound time carries the rank's whole unsharded
    model's cat, 2 + 2 B an element each micro-batch (4 + 4 under fp32)."""
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1)
    hw = hw_for(catalog, inter_gbps=400.0)
    for t, per in ((BF16, 4.0), (FP32, 8.0)):
        got = float(step_time(LLAMA, t, c, hw, framework=STACKS["llm-foundry"])["compute_memory_bound"][0])
        with monkeypatch.context() as mp:
            mp.setattr(st_mod, "fsdp1_layout", lambda st: False)
            without = float(step_time(LLAMA, t, c, hw, framework=STACKS["llm-foundry"])["compute_memory_bound"][0])
        m = BF16.global_batch // 8  # micro-batches a step (micro-batch 1 on 8 ranks); the field sums the step's
        assert got - without == pytest.approx(m * count_params(LLAMA).total * per / (hw.gpu.hbm_bw * hw.eff.hbm),
                                              rel=1e-9)


def _gloo_rank(rank: int, port: int) -> None:
    import os
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        for case in (("FULL_SHARD", "float32", 2, False), ("SHARD_GRAD_OP", "bfloat16", 3, True)):
            elems, per_mb = _fsdp1_backward_ops(*case, backend="gloo", rank=rank)
            if rank == 0:
                print(case, elems, "parameter elements")
                for i, ops in enumerate(per_mb):
                    print("  micro-batch", i, [(o[0], "hook" if o[1] else "compute", str(o[2])[6:], str(o[3])[6:], o[4])
                                               for o in ops])
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    # the same record under gloo on two processes (what the fake group stands for in the tests):
    #   PYTHONPATH=.:tests python tests/test_fsdp1_54.py
    import torch.multiprocessing

    torch.multiprocessing.spawn(_gloo_rank, args=(29554,), nprocs=2)
