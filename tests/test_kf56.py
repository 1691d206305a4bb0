"""KempnerForge runs its loss without DTensor loss parallel (kf56): its ``apply_tensor_parallel`` plans the output head
``ColwiseParallel(input_layouts=Shard(1), output_layouts=Replicate())`` and ``training/loss.py`` runs
``F.cross_entropy`` on the whole logits -- torchtitan's ``--parallelism.disable_loss_parallel`` layout. Counted here on
torch's own DTensor at TP 4 (a fake process group on CPU) and priced as ``Stack.loss_parallel`` off (layer_ops
``whole_vocab_loss``: the step time; the memory is left at the loss-parallel figure, docs/accuracy_log.md kf56). The
same function names no token embedding, which so stays whole on every TP rank (``Stack.tp_embedding_replicated``:
FSDP2 gathers and holds the whole V x h; moe ``hf_ep_whole_params``)."""
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
from test_kf55 import _fake_group  # noqa: E402  (the fake process group harness, one copy)

CSV = ROOT / "benchmarks" / "data" / "kempnerforge_runs.csv"
H, V, T = 16, 64, 8  # the toy head: hidden 16, vocabulary 64, 8 tokens a sequence


def _head_counts(torch, loss_parallel: bool):
    """(forward counts, backward counts, the head output's local width) of a TP 4 LM head under the two plans:
    torchtitan's loss-parallel ``ColwiseParallel(output_layouts=Shard(-1), use_local_output=False)`` or KempnerForge's
    ``output_layouts=Replicate()``, each behind ``input_layouts=Shard(1)`` (the final norm's sequence shard)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Replicate, Shard
    from torch.distributed.tensor.debug import CommDebugMode
    from torch.distributed.tensor.parallel import ColwiseParallel, parallelize_module

    mesh = init_device_mesh("cpu", (4,))
    style = (ColwiseParallel(input_layouts=Shard(1), output_layouts=Shard(-1), use_local_output=False)
             if loss_parallel else ColwiseParallel(input_layouts=Shard(1), output_layouts=Replicate()))
    head = parallelize_module(torch.nn.Linear(H, V, bias=False), mesh, style)
    x = DTensor.from_local(torch.randn(2, T, H, requires_grad=True), mesh, [Shard(1)])

    def named(cm):
        return {str(k._qualified_op_name).split("::")[-1]: v for k, v in cm.get_comm_counts().items()}
    with CommDebugMode() as fwd:
        y = head(x)
    local = y.to_local() if isinstance(y, DTensor) else y
    with CommDebugMode() as bwd:
        local.float().sum().backward()
    return named(fwd), named(bwd), local.shape[-1]


def test_torch_head_without_loss_parallel_gathers_the_logits():
    """torch's DTensor at TP 4: KempnerForge's head (``output_layouts=Replicate()``) all-gathers its sequence-sharded
    input and then its vocabulary-sharded output -- each rank holds the whole V -- where the loss-parallel head
    gathers the input only and keeps V / 4; the backward's only collective is the input gradient's reduce-scatter in
    both (the output gather's backward is a local slice)."""
    with _fake_group(4) as torch:
        fwd, bwd, width = _head_counts(torch, loss_parallel=False)
        fwd0, bwd0, width0 = _head_counts(torch, loss_parallel=True)
    ag, rs = "all_gather_into_tensor", "reduce_scatter_tensor"
    assert (fwd.get(ag), width) == (2, V)
    assert (fwd0.get(ag), width0) == (1, V // 4)
    assert bwd.get(ag) is None and bwd0.get(ag) is None
    assert bwd.get(rs) == bwd0.get(rs) == 1


def _row(catalog, row_id: str, **opts):
    import validate
    from planner.model.stacks import resolve

    r = next(x for x in pd.read_csv(CSV).itertuples() if x.id == row_id)
    model, tr, c, hw, stack = validate.open_reports_case(catalog, r)
    return model, tr, c, hw, (resolve(stack, **opts) if opts else stack)


def _step(catalog, row_id: str, **opts) -> tuple[float, float]:
    """(step seconds, micro-batches a step) of one KempnerForge row, its stack options overridden by ``opts``."""
    from planner.model.step_time import step_time

    model, tr, c, hw, stack = _row(catalog, row_id, **opts)
    out = step_time(model, tr, c, hw, framework=stack)
    return float(np.ravel(out["step_time_s"])[0]), float(np.ravel(out["num_microbatches"])[0])


def test_kempnerforge_rows_run_the_loss_on_the_whole_vocabulary(catalog):
    """The rows carry ``loss_parallel=False``; on the 7B TP 4 run (micro-batch 4 x 4,096 tokens, V 128,256) each
    micro-batch's head gathers 3/4 of its 16-bit logits and runs the loss over the 3/4 of the vocabulary more: at least
    the HBM time of 14 B a logit more (``cross_entropy_bytes``: 2 + 12) at the H200's 4.8 TB/s peak plus the gather's
    bytes at the 4-GPU board's 450 GB/s, and under three times that. At TP 1 the option changes nothing. On main the
    option does not exist and the rows price the loss on V / 4."""
    model, _, _, _, stack = _row(catalog, "kforge_mfu05_7b_4gpu")
    assert stack.loss_parallel is False
    on, m = _step(catalog, "kforge_mfu05_7b_4gpu")
    off, _ = _step(catalog, "kforge_mfu05_7b_4gpu", loss_parallel=True)
    extra = 0.75 * 4 * 4096 * model.vocab
    floor = extra * 14.0 / 4.8e12 + extra * 2.0 / 450e9
    assert floor < (on - off) / m < 3 * floor
    one_on, _ = _step(catalog, "kforge_mfu01_7b_1gpu")
    one_off, _ = _step(catalog, "kforge_mfu01_7b_1gpu", loss_parallel=True)
    assert one_on == one_off


def test_option_is_torchtitans_only():
    """``loss_parallel`` is torch DTensor's switch (torchtitan's ``disable_loss_parallel``): refused in one line on a
    stack whose TP is not torch's, said in the stack line where off."""
    from planner.errors import InputError
    from planner.model.stacks import resolve

    with pytest.raises(InputError) as e:
        resolve("megatron-core", loss_parallel=False)
    assert e.value.field == "training.framework.loss_parallel"
    assert "loss_parallel=off" in resolve("torchtitan", loss_parallel=False).describe("bf16", recompute="full")
    assert "loss_parallel" not in resolve("torchtitan").describe("bf16", recompute="full")


def test_torch_plan_without_the_embedding_leaves_it_whole():
    """KempnerForge's ``apply_tensor_parallel`` names no ``token_embedding`` in any plan: ``parallelize_module`` leaves
    an unnamed ``nn.Embedding`` a plain whole V x h parameter on every TP rank, where a ``RowwiseParallel`` entry (the
    plan torchtitan applies) makes it a DTensor with V / 4 rows a rank."""
    with _fake_group(4) as torch:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor import DTensor, Replicate, Shard
        from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

        class Tiny(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.tok, self.out = torch.nn.Embedding(V, H), torch.nn.Linear(H, V, bias=False)

        mesh = init_device_mesh("cpu", (4,))
        kf = parallelize_module(Tiny(), mesh, {"out": ColwiseParallel(output_layouts=Replicate())})
        titan = parallelize_module(Tiny(), mesh, {"tok": RowwiseParallel(input_layouts=Replicate(),
                                                                         output_layouts=Shard(1)),
                                                  "out": ColwiseParallel(output_layouts=Shard(-1))})
        assert not isinstance(kf.tok.weight, DTensor) and tuple(kf.tok.weight.shape) == (V, H)
        assert isinstance(titan.tok.weight, DTensor) and tuple(titan.tok.weight.to_local().shape) == (V // 4, H)


def test_replicated_embedding_is_gathered_and_held_whole(catalog):
    """``tp_embedding_replicated``: the parameters every TP rank holds whole (moe ``hf_ep_whole_params``, read by the
    step's DP terms and the memory's ``dense_rank``) are the embedding's V x h on the KempnerForge rows and 0 on
    torchtitan's plan; the 7B TP 4 x FSDP 8 row's per-micro-batch FSDP gathers and its memory grow with the 3/4 of
    the embedding more a rank: the memory by at least its bf16 weight, fp32 held gradient and bf16 moments sharded
    (2 / 8 + 4 + 4 / 8 B a parameter) and at most 20 B a parameter. On main the option does not exist."""
    from planner.model import memory as M
    from planner.model.moe import hf_ep_whole_params
    from planner.spec.params import count_params
    from planner.model.step_time import step_time
    from planner.model.stacks import resolve

    model, tr, c, hw, stack = _row(catalog, "kforge_mfu12_7b_32gpu")
    _, _, _, _, off = _row(catalog, "kforge_mfu12_7b_32gpu", tp_embedding_replicated=False)
    emb = float(count_params(model).embedding)
    assert stack.tp_embedding_replicated and float(hf_ep_whole_params(model, stack, 4, 1)) == emb
    assert float(hf_ep_whole_params(model, resolve("torchtitan"), 4, 1)) == 0.0
    extra = 0.75 * emb
    on_t, off_t = (step_time(model, tr, c, hw, framework=s)["t_dp_comm"] for s in (stack, off))
    assert float(np.ravel(on_t)[0]) > float(np.ravel(off_t)[0])
    on_m, off_m = (float(M.memory_per_gpu(model, tr, c, stack=s, gpu="H200-SXM-141GB")["total"][0]) for s in (stack, off))
    assert extra * (2 / 8 + 4 + 4 / 8) <= on_m - off_m <= extra * 20


def test_embedding_option_is_torchtitans_only():
    from planner.errors import InputError
    from planner.model.stacks import resolve

    with pytest.raises(InputError) as e:
        resolve("megatron-core", tp_embedding_replicated=True)
    assert e.value.field == "training.framework.tp_embedding_replicated"
    assert "tp_embedding_replicated=on" in resolve("torchtitan", tp_embedding_replicated=True).describe(
        "bf16", recompute="full")
