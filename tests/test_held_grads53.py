"""The pass that adds each micro-batch's gradient into gradients held unsharded between micro-batches
(step_time ``held_grad_accum_bytes``, memory ``held_grad_widths``): FSDP2 with a 16-bit ``param_dtype`` and an fp32
``reduce_dtype`` casts the first micro-batch's unsharded gradient up and adds each later one into it while the sync is
off (torch _fsdp_param.py ``to_accumulated_grad_if_needed`` / ``accumulate_unsharded_grad_if_needed``); experts FSDP2
leaves to EP alone keep autograd's 16-bit ``.grad``; and FSDP2's reduce-scatter copy-in (step_time
``fsdp_copy_in_bytes``), each micro-batch it syncs. Checked against torch's own FSDP2 on one CPU rank, op by op."""
import numpy as np
import pytest

from planner.model.stacks import STACKS, resolve
from planner.model.step_time import fsdp_copy_in_bytes, held_grad_accum_bytes, step_time
from planner.spec import TrainingSpec

from conftest import one_rank_group
from test_step_time import LLAMA, cands, hw_for

AM = "nemo-automodel"
BF16 = TrainingSpec(seq_len=4096, global_batch=32, micro_batch=1, precision="bf16", recompute="full")


def _fsdp2_accumulation_bytes(tmp_path, micro_batches: int, defer: bool = True) -> tuple:
    """HBM bytes per parameter element torch's FSDP2 spends over ``micro_batches`` backwards, as (fold, copy-in): the
    fold into the unsharded gradient (``defer``: sync off for all but the last, as AutoModel's ``get_sync_ctx`` and
    pipelining's no-sync do) -- the upcasts (``_to_copy`` bf16 -> fp32) and the adds (``add_`` fp32 += bf16) on
    parameter-shaped tensors -- and the reduce-scatter copy-in (``fsdp.chunk_cat`` into the unit's fp32 input)."""
    torch = pytest.importorskip("torch")
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.utils._python_dispatch import TorchDispatchMode

    with one_rank_group(tmp_path):
        mesh = init_device_mesh("cpu", (1,))
        net = torch.nn.Sequential(torch.nn.Linear(64, 32, bias=False), torch.nn.Linear(32, 16, bias=False))
        net.to(torch.bfloat16)  # AutoModel's MoE models keep their parameters in bf16 (Stack.params_16bit)
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)  # its apply_fsdp's policy
        for layer in net:
            fully_shard(layer, mesh=mesh, mp_policy=mp)
        fully_shard(net, mesh=mesh, mp_policy=mp)
        shapes = {tuple(p.shape) for p in net.parameters()}
        elems = sum(p.numel() for p in net.parameters())

        class Count(TorchDispatchMode):
            fold = copy_in = 0.0

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                a = args[0] if args else None
                if isinstance(a, torch.Tensor) and tuple(a.shape) in shapes:
                    if func is torch.ops.aten._to_copy.default and out.dtype == torch.float32:
                        Count.fold += a.numel() * (a.element_size() + out.element_size())
                    elif func is torch.ops.aten.add_.Tensor and a.dtype == torch.float32:
                        Count.fold += a.numel() * (2 * a.element_size() + args[1].element_size())
                elif str(func).startswith("fsdp.chunk_cat"):  # foreach_reduce_scatter_copy_in's op
                    dst = args[3] if len(args) > 3 else (kwargs or {})["out"]
                    Count.copy_in += sum(g.numel() * g.element_size() for g in args[0]) + dst.numel() * dst.element_size()
                return out

        for i in range(micro_batches):
            net.set_requires_gradient_sync(i == micro_batches - 1 or not defer)
            with Count():
                net(torch.randn(8, 64, dtype=torch.bfloat16)).float().sum().backward()
    return Count.fold / elems, Count.copy_in / elems


def test_torch_fsdp2_folds_micro_batches_as_priced(tmp_path):
    """First micro-batch: the cast (2 B read, 4 written); each later one: fp32 += bf16 (4 + 2 read, 4 written)."""
    m = 3
    measured, copy_in = _fsdp2_accumulation_bytes(tmp_path, m)
    assert measured == pytest.approx(6.0 + 10.0 * (m - 1))
    dense, _ = held_grad_accum_bytes(STACKS[AM], BF16, 8.0, m)
    assert float(dense) * m == pytest.approx(measured)
    # the last micro-batch's reduce-scatter copy-in, once: the held fp32 gradient read, the fp32 input written
    assert copy_in == pytest.approx(8.0)
    assert float(fsdp_copy_in_bytes(STACKS[AM], BF16, 8.0, m, True)[0]) * m == pytest.approx(copy_in)


def test_torch_fsdp2_copies_each_synced_gradient_into_its_reduce_input(tmp_path):
    """Syncing every micro-batch: no fold, and each backward copies its bf16 gradients into the fp32 reduce-scatter
    input on the compute stream (_fsdp_collectives.py ``foreach_reduce_scatter_copy_in``): 2 B read, 4 written."""
    m = 2
    fold, copy_in = _fsdp2_accumulation_bytes(tmp_path, m, defer=False)
    assert fold == 0.0
    assert copy_in == pytest.approx(6.0 * m)
    assert float(fsdp_copy_in_bytes(STACKS["torchtitan"], BF16, 8.0, m, False)[0]) * m == pytest.approx(copy_in)


def test_experts_left_to_ep_accumulate_in_their_own_dtype():
    """AutoModel's experts outside FSDP (an expert shard group of one rank) keep autograd's bf16 ``.grad``: the first
    micro-batch's is stolen, each later one adds 2 + 2 read, 2 written; inside FSDP (a group of two) they fold as the
    dense part does."""
    m = 4
    dense, out = held_grad_accum_bytes(STACKS[AM], BF16, 1.0, m)
    assert float(out) * m == pytest.approx(6.0 * (m - 1))
    _, inside = held_grad_accum_bytes(STACKS[AM], BF16, 2.0, m)
    assert float(inside) == pytest.approx(float(dense)) == pytest.approx((6.0 + 10.0 * (m - 1)) / m)


def test_the_deferred_sync_pays_the_pass_in_each_backward(catalog):
    """A dense model at ZeRO-3 on 8 GPUs, 4 micro-batches a step: with the loop's deferred sync the memory-bound time
    grows by the fold over the rank's whole (unsharded) model and one copy-in, where syncing every micro-batch pays a
    copy-in each."""
    c = cands(tp=1, pp=1, dp=8, zero=3, nodes=1)
    hw = hw_for(catalog, inter_gbps=400.0)
    out = {}
    for flag in (False, True):
        fw = resolve(AM, defer_fsdp_grad_sync=flag, reshard_after_forward=True)
        out[flag] = step_time(LLAMA, BF16, c, hw, framework=fw)
    from planner.model.flops import count_params
    # deferred: the fold (6 + 3 x 10 B) and one copy-in from fp32 (8 B); synced: four copy-ins from bf16 (4 x 6 B)
    fold = count_params(LLAMA).total * (6.0 + 10.0 * 3 + 8.0 - 4 * 6.0) / (hw.gpu.hbm_bw * hw.eff.hbm)
    grew = float(out[True]["compute_memory_bound"][0]) - float(out[False]["compute_memory_bound"][0])
    assert grew == pytest.approx(fold, rel=1e-9)
    assert np.isfinite(float(out[True]["step_time_s"][0]))
