"""KempnerForge's tensor-parallel plan gathers each column-parallel linear's input on its own (kf55): its
``_build_block_tp_plan`` puts ``ColwiseParallel(input_layouts=Shard(1))`` on q, k, v, gate and up one by one, where
torchtitan's plan gathers once a block behind ``PrepareModuleInput``. Counted here on torch's own DTensor TP at TP 4
(a fake process group on CPU) and priced as ``Stack.tp_gather_per_linear`` (layer_ops ``per_linear_tp_inputs``):
one reduce-scatter more a linear backward, one all-gather more forward where the step runs uncompiled (compiled,
AOTAutograd's CSE merges the identical gathers -- checked on torch's ``fx_graph_cse``)."""
import contextlib
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "kempnerforge_runs.csv"
H = 16  # the toy block's hidden size (q 16, k / v 8 each, SwiGLU 32)


@contextlib.contextmanager
def _fake_group(world: int):
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world)
    try:
        yield torch
    finally:
        dist.destroy_process_group()


def _block(torch):
    nn = torch.nn

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj, self.k_proj = nn.Linear(H, H, bias=False), nn.Linear(H, H // 2, bias=False)
            self.v_proj, self.o_proj = nn.Linear(H, H // 2, bias=False), nn.Linear(H, H, bias=False)

        def forward(self, x):
            return self.o_proj(self.q_proj(x) * torch.cat([self.k_proj(x), self.v_proj(x)], -1))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_proj, self.up_proj = nn.Linear(H, 2 * H, bias=False), nn.Linear(H, 2 * H, bias=False)
            self.down_proj = nn.Linear(2 * H, H, bias=False)

        def forward(self, x):
            return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention_norm, self.attention = nn.RMSNorm(H), Attention()
            self.mlp_norm, self.mlp = nn.RMSNorm(H), MLP()

        def forward(self, x):
            x = x + self.attention(self.attention_norm(x))
            return x + self.mlp(self.mlp_norm(x))

    return Block()


def _plan(per_linear: bool) -> dict:
    """KempnerForge's block plan (per_linear) or torchtitan's (one gather a block behind ``PrepareModuleInput``);
    the row-parallel outputs stay DTensors (KempnerForge re-wraps them with a forward hook to the same effect)."""
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.parallel import (ColwiseParallel, PrepareModuleInput, RowwiseParallel,
                                                   SequenceParallel)

    cols = ("attention.q_proj", "attention.k_proj", "attention.v_proj", "mlp.gate_proj", "mlp.up_proj")
    plan = {"attention_norm": SequenceParallel(), "mlp_norm": SequenceParallel(),
            "attention.o_proj": RowwiseParallel(output_layouts=Shard(1), use_local_output=False),
            "mlp.down_proj": RowwiseParallel(output_layouts=Shard(1), use_local_output=False)}
    if per_linear:
        plan.update({n: ColwiseParallel(input_layouts=Shard(1)) for n in cols})
    else:
        plan.update({n: ColwiseParallel() for n in cols})
        plan.update({n: PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),))
                     for n in ("attention", "mlp")})
    return plan


def _counts(torch, per_linear: bool) -> tuple[dict, dict]:
    """(forward, backward) collective counts of one block at TP 4 under torch's CommDebugMode."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard
    from torch.distributed.tensor.debug import CommDebugMode
    from torch.distributed.tensor.parallel import parallelize_module

    mesh = init_device_mesh("cpu", (4,))
    block = parallelize_module(_block(torch), mesh, _plan(per_linear))
    x = DTensor.from_local(torch.randn(2, 8, H, requires_grad=True), mesh, [Shard(1)])

    def named(cm):
        return {str(k._qualified_op_name).split("::")[-1]: v for k, v in cm.get_comm_counts().items()}
    with CommDebugMode() as fwd:
        y = block(x)
    with CommDebugMode() as bwd:
        y.to_local().sum().backward()
    return named(fwd), named(bwd)


def test_torch_tp_plan_gathers_each_column_linear_input(catalog):
    """torch's DTensor at TP 4: KempnerForge's plan runs 5 all-gathers + 2 reduce-scatters forward and 2 + 5
    backward on a SwiGLU block, torchtitan's 2 + 2 each way; the planner's extra column inputs a layer
    (``per_linear_tp_inputs``) are that difference, 3, on the KempnerForge rows' models and 0 on the torchtitan
    entry's own plan. On main the stack has no such option (no extra input priced)."""
    import validate
    from planner.model import layer_ops
    from planner.model.stacks import resolve

    with _fake_group(4) as torch:
        fwd, bwd = _counts(torch, per_linear=True)
        fwd0, bwd0 = _counts(torch, per_linear=False)
    ag, rs = "all_gather_into_tensor", "reduce_scatter_tensor"
    assert (fwd.get(ag), fwd.get(rs), bwd.get(ag), bwd.get(rs)) == (5, 2, 2, 5)
    assert (fwd0.get(ag), fwd0.get(rs), bwd0.get(ag), bwd0.get(rs)) == (2, 2, 2, 2)

    r = next(x for x in pd.read_csv(CSV).itertuples() if x.id == "kforge_mfu05_7b_4gpu")
    model, _, _, _, stack = validate.open_reports_case(catalog, r)
    assert stack.tp_gather_per_linear and not stack.fused_qkv

    from planner.model import ssm

    class _C:  # the layer context's fields the count reads: every layer's blocks split over TP 4
        tp, atp, dtp = np.array([4.0]), np.array([4.0]), np.array([4.0])
    sh = ssm.layer_shares(model)
    assert float(np.ravel(layer_ops.per_linear_tp_inputs(_C, model, stack, sh))[0]) == (5 - 2)
    assert layer_ops.per_linear_tp_inputs(_C, model, resolve("torchtitan"), sh) == 0.0


def test_compiled_step_merges_the_forward_gathers_not_the_gradient_reduce_scatters():
    """AOTAutograd's min-cut partitioner CSEs the joint graph (torch/_functorch/partitioners.py
    ``min_cut_rematerialization_partition`` -> compile_utils ``fx_graph_cse``), which does not spare functional
    collectives: two identical all-gathers of one input become one, two reduce-scatters of different gradients stay
    two -- why a compiled KempnerForge step pays the extra reduce-scatters only."""
    with _fake_group(4) as torch:
        import torch.distributed as dist
        import torch.distributed._functional_collectives as funcol
        from torch._functorch import config as functorch_config
        from torch._functorch.compile_utils import fx_graph_cse
        from torch.fx.experimental.proxy_tensor import make_fx

        g = dist.group.WORLD

        gather = getattr(funcol, "all_gather_single", funcol.all_gather_tensor)  # (the names before torch 2.13)
        scatter = getattr(funcol, "reduce_scatter_single", funcol.reduce_scatter_tensor)

        def step(x):
            a, b = gather(x, 0, g), gather(x, 0, g)
            ra, rb = scatter(x * 2, "sum", 0, g), scatter(x * 3, "sum", 0, g)
            return a + b, ra + rb

        graph = make_fx(step)(torch.randn(4, 8)).graph

        def n(gr, name):
            return sum(1 for x in gr.nodes if x.op == "call_function" and name in str(x.target))
        assert (n(graph, "all_gather_into_tensor"), n(graph, "reduce_scatter")) == (2, 2)
        merged = fx_graph_cse(graph)
        assert (n(merged, "all_gather_into_tensor"), n(merged, "reduce_scatter")) == (1, 2)
        assert functorch_config.cse  # on by default


def _comm_tp(catalog, row_id: str, **opts) -> tuple[float, object]:
    """(comm_tp seconds a step, step_time's record) for one KempnerForge row, its stack options overridden by
    ``opts``."""
    import validate
    from planner.model.step_time import step_time
    from planner.model.stacks import resolve

    r = next(x for x in pd.read_csv(CSV).itertuples() if x.id == row_id)
    model, tr, c, hw, stack = validate.open_reports_case(catalog, r)
    if opts:
        stack = resolve(stack, **opts)
    out = step_time(model, tr, c, hw, framework=stack)
    return float(np.ravel(out["comm_tp"])[0]), out


def test_kempnerforge_rows_price_the_extra_collectives(catalog):
    """The 7B TP 4 run on one node (compiled): comm_tp grows by 3 reduce-scatters a layer a micro-batch, a reduce-
    scatter half the planner's T x h all-reduce at TP 4 (the gathers merged); the 70B 8-GPU run (uncompiled, batch 1
    x 8) by 3 all-gathers forward, 3 again in the recompute and 3 reduce-scatters backward. On main the rows have no
    ``tp_gather_per_linear`` (the option does not exist) and these deltas are 0."""
    on, out = _comm_tp(catalog, "kforge_mfu05_7b_4gpu")
    off, _ = _comm_tp(catalog, "kforge_mfu05_7b_4gpu", tp_gather_per_linear=False)
    m = float(np.ravel(out["num_microbatches"])[0])
    assert on > off * 1.2
    # 3 extra reduce-scatters per layer per micro-batch against the 4 collectives a pass the old price held (2
    # all-gathers + 2 reduce-scatters, x3 passes with the recompute): (on - off) / off = 3 / 12
    assert (on - off) / off == pytest.approx(3 / 12, rel=0.02)
    on70, _ = _comm_tp(catalog, "kforge_weak_70b_8gpu")
    off70, _ = _comm_tp(catalog, "kforge_weak_70b_8gpu", tp_gather_per_linear=False)
    assert (on70 - off70) / off70 == pytest.approx(9 / 12, rel=0.02)  # 3 + 3 gathers, 3 reduce-scatters
    assert m == 2


def test_option_is_torchtitans_only():
    """``tp_gather_per_linear`` is a torch DTensor TP plan's switch: refused in one line on a stack whose TP is not
    torch's (Megatron-Core's own linears), said in the stack line where set."""
    from planner.errors import InputError
    from planner.model.stacks import resolve

    with pytest.raises(InputError) as e:
        resolve("megatron-core", tp_gather_per_linear=True)
    assert e.value.field == "training.framework.tp_gather_per_linear"
    st = resolve("torchtitan", tp_gather_per_linear=True)
    assert "tp_gather_per_linear=on" in st.describe("bf16", recompute="full")
    assert "tp_gather_per_linear" not in resolve("torchtitan").describe("bf16", recompute="full")
