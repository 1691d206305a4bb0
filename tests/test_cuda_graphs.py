"""CUDA graphs as Megatron-Core captures them (planner.model.stacks ``cuda_graph_impl`` / ``cuda_graph_scope``) and
its launch flags."""
import pytest

from planner.errors import InputError
from planner.model import stacks
from planner.model.stacks import cuda_graph_host_ops, cuda_graph_parts, resolve
from planner.model.step_time import step_time
from planner.model.layer_ops import BWD_HOST_FACTOR
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import PRESETS
from test_step_time import cands, hw_for

#: a model so small that every layer pass is host-bound on any GPU (its GPU work per op is well under a launch)
TINY = ModelSpec(name="tiny", layers=4, hidden=256, heads=4, kv_heads=4, ffn_hidden=1024, vocab=1024)
T_TINY = TrainingSpec(seq_len=128, global_batch=8, micro_batch=1, precision="bf16")


def _tiny(catalog, **stack_opts):
    hw = hw_for(catalog, "B200-SXM-180GB")
    return step_time(TINY, T_TINY, cands(dp=8), hw, framework=resolve("megatron-core", **stack_opts)), hw


def test_no_graphs_is_the_whole_eager_count():
    """Without graphs the split is a partition: the layer's ops (attention half + MLP half) plus the MoE block's on
    its share of the layers, the eager count step_time used before graphs existed."""
    a, b, r, p, rest, share = 12.0, 8.0, 4.0, 2.0, 10.0 + 2 * 16 * 1.65, 0.75
    assert cuda_graph_host_ops(frozenset(), a, b, r, p, rest, share) == pytest.approx(a + b + share * (r + p + rest))
    # a captured stretch of a layer costs one launch: attn + moe_router + moe_preprocess leave the MoE layer its
    # dispatch / experts / combine and one launch, a dense layer its MLP and one launch
    got = cuda_graph_host_ops(frozenset({"attn", "moe_router", "moe_preprocess"}), a, b, r, p, rest, share)
    assert got == pytest.approx((1 - share) * (b + 1) + share * (rest + 1))
    assert cuda_graph_host_ops(frozenset({"full_iteration"}), a, b, r, p, rest, share) == 0.0


def test_hybrid_blocks_are_captured_one_by_one():
    """A hybrid layer is one block of one kind (ssm.layer_shares), each with half a layer's ops: without graphs the
    count is step_time's hybrid one (one block + the MoE block's ops on its share); captured, a block is one launch,
    a MoE block captured up to the router keeps its dispatch / experts / combine."""
    from planner.model.ssm import layer_shares

    m = ModelSpec(**PRESETS["nemotron-3-nano-30b-a3b"])
    sh = layer_shares(m)
    attn, mlp, r, p, rest = 6.0, 4.0, 4.0, 2.0, 10.0
    assert cuda_graph_host_ops(frozenset(), attn, mlp, r, p, rest, sh["E"], hybrid=sh) == pytest.approx(
        attn + mlp + sh["E"] * (r + p + rest))
    graphed = frozenset({"mamba", "attn", "moe_router", "moe_preprocess"})
    assert cuda_graph_host_ops(graphed, attn, mlp, r, p, rest, sh["E"], hybrid=sh) == pytest.approx(
        sh["M"] + sh["*"] + sh["E"] * (1 + rest))
    # Megatron's default scope for this pattern names moe, which a dropless MoE cannot capture
    with pytest.raises(InputError, match="dropless or unpadded"):
        cuda_graph_parts(resolve("megatron-core", cuda_graph_impl="transformer_engine"), m)


def test_a_mamba_block_dispatches_its_own_ops():
    """A Mamba block's eager forward dispatches ssm.MAMBA_HOST_OPS, not half a transformer layer's: at least the
    kernels it launches (in_proj and out_proj GEMMs, causal_conv1d_fwd, the five SSD Triton kernels of
    mamba_ssm's _mamba_chunk_scan_combined_fwd, the gated RMSNorm: 9) plus A = -exp(A_log.float()) (3); captured by
    the mamba scope it is one launch."""
    from planner.model.ssm import MAMBA_HOST_OPS, layer_shares

    assert MAMBA_HOST_OPS >= 9 + 3
    sh = layer_shares(ModelSpec(**PRESETS["nemotron-3-nano-30b-a3b"]))
    attn, mlp, r, p, rest = 6.0, 4.0, 4.0, 2.0, 10.0
    block = attn + mlp
    got = cuda_graph_host_ops(frozenset(), attn, mlp, r, p, rest, sh["E"], hybrid=sh, mamba=MAMBA_HOST_OPS)
    assert got == pytest.approx((sh["*"] + sh["-"]) * block + sh["M"] * MAMBA_HOST_OPS + sh["E"] * (block + r + p + rest))
    graphed = cuda_graph_host_ops(frozenset({"mamba"}), attn, mlp, r, p, rest, sh["E"], hybrid=sh, mamba=MAMBA_HOST_OPS)
    assert got - graphed == pytest.approx(sh["M"] * (MAMBA_HOST_OPS - 1))


def test_a_graphed_attention_removes_exactly_its_host_ops(catalog):
    """Host-bound passes (tiny model): capturing attn takes its ops off every layer forward and replaces them by one
    graph launch; the backward moves by BWD_HOST_FACTOR times as much. The attention half of a Megatron-Core layer
    is 12 of its 20 ops (linear_qkv, QKV view + split, RoPE on q and k, core attention, linear_proj, bias-dropout-add
    and 4 of the 8 unnamed): 11 launches saved per layer forward."""
    eager, hw = _tiny(catalog)
    graphed, _ = _tiny(catalog, cuda_graph_impl="transformer_engine", cuda_graph_scope=["attn"])
    launch = hw.eff.launch_s
    assert 20 * stacks.ATTN_OPS_SHARE == pytest.approx(12.0)
    saved = TINY.layers * (12 - 1) * launch
    assert eager["t_fwd_mb"][0] - graphed["t_fwd_mb"][0] == pytest.approx(saved, rel=1e-6)
    assert eager["t_bwd_mb"][0] - graphed["t_bwd_mb"][0] == pytest.approx(BWD_HOST_FACTOR * saved, rel=1e-6)


def test_a_full_iteration_graph_leaves_the_gpu_time(catalog):
    """One graph of the whole forward-backward: the passes cost what the GPU does, as with a free host."""
    full, hw = _tiny(catalog, cuda_graph_impl="local", cuda_graph_scope=["full_iteration"])
    free = step_time(TINY, T_TINY, cands(dp=8), hw_for(catalog, "B200-SXM-180GB", launch_s=0.0),
                     framework=resolve("megatron-core"))
    eager, _ = _tiny(catalog)
    for k in ("t_fwd_mb", "t_bwd_mb"):
        assert full[k][0] == pytest.approx(free[k][0], rel=1e-9)
        assert full[k][0] < 0.5 * eager[k][0]


def test_graphs_do_not_move_gpu_bound_passes(catalog):
    """Qwen3-235B on 256 H100s at 4096 tokens per micro-batch: every pass is GPU-bound, graphs save nothing."""
    m = ModelSpec(**PRESETS["qwen3-235b-a22b"])
    t = TrainingSpec(seq_len=4096, global_batch=2048, micro_batch=1, precision="bf16")
    c = cands(tp=2, pp=8, dp=16, ep=32, vpp=4, schedule=1, sp=True, nodes=32, etp=1)
    eager = step_time(m, t, c, hw_for(catalog), framework=resolve("megatron-core"))
    graphed = step_time(m, t, c, hw_for(catalog), framework=resolve(
        "megatron-core", cuda_graph_impl="transformer_engine", cuda_graph_scope=["attn", "moe_router", "moe_preprocess"]))
    assert graphed["step_time_s"][0] == pytest.approx(eager["step_time_s"][0], rel=1e-9)


@pytest.mark.parametrize("opts,match", [
    (dict(cuda_graph_impl="cuda"), "'cuda'; known"),
    (dict(cuda_graph_impl="transformer_engine", cuda_graph_scope=["router"]), "'router'; known"),
    (dict(cuda_graph_scope=["attn"]), "needs cuda_graph_impl"),
    (dict(cuda_graph_impl="local", cuda_graph_scope=["attn"]), "local takes no scope"),
    (dict(cuda_graph_impl="transformer_engine", cuda_graph_scope=["full_iteration"]), "needs cuda_graph_impl local"),
    (dict(cuda_graph_impl="transformer_engine", cuda_graph_scope=["moe", "moe_router"]), "cannot both"),
    (dict(cuda_graph_impl="transformer_engine", cuda_graph_scope=["moe_preprocess"]), "only together with moe_router"),
])
def test_megatron_core_refusals(opts, match):
    """megatron/training/arguments.py validate_args, the "# CUDA Graphs" block (one-line errors)."""
    with pytest.raises(InputError, match=match):
        resolve("megatron-core", **opts)


def test_stacks_without_megatron_cores_graphs_refuse_them():
    with pytest.raises(InputError, match="torchtitan has no CUDA graphs"):
        resolve("torchtitan", cuda_graph_impl="local")
    assert resolve("megatron-bridge", cuda_graph_impl="local").cuda_graph_impl == "local"


def test_model_dependent_refusals():
    """What Megatron-Core refuses once it knows the model: MoE scopes on a dense model, mlp on an all-MoE model, the
    whole MoE block unless drop-and-pad on the all-to-all dispatcher, a full-iteration dropless MoE off HybridEP."""
    dense, qwen = TINY, ModelSpec(**PRESETS["qwen3-30b-a3b"])
    te = dict(cuda_graph_impl="transformer_engine")
    with pytest.raises(InputError, match="need MoE layers"):
        cuda_graph_parts(resolve("megatron-core", **te, cuda_graph_scope=["moe_router"]), dense)
    with pytest.raises(InputError, match="dense layers"):
        cuda_graph_parts(resolve("megatron-core", **te, cuda_graph_scope=["mlp"]), qwen)
    with pytest.raises(InputError, match="dropless or unpadded"):
        cuda_graph_parts(resolve("megatron-core", **te, cuda_graph_scope=["moe"]), qwen)
    with pytest.raises(InputError, match="not the hybridep dispatcher"):
        cuda_graph_parts(resolve("megatron-core", **te, cuda_graph_scope=["moe"], moe_dispatcher="hybridep"), qwen)
    padded = ModelSpec(**{**PRESETS["qwen3-30b-a3b"], "moe": {**PRESETS["qwen3-30b-a3b"]["moe"], "dropless": False,
                                                             "capacity_factor": 1.0, "pad_to_capacity": True}})
    assert cuda_graph_parts(resolve("megatron-core", **te, cuda_graph_scope=["attn", "moe"]), padded) == {"attn", "moe"}
    full = dict(cuda_graph_impl="local", cuda_graph_scope=["full_iteration"])
    with pytest.raises(InputError, match="sync-free HybridEP"):
        cuda_graph_parts(resolve("megatron-core", **full), qwen)
    assert cuda_graph_parts(resolve("megatron-core", **full, moe_dispatcher="hybridep"), qwen) == {"full_iteration"}
    # no scope: the whole layer, as arguments.py fills it (dense attn + mlp, every layer MoE attn + moe)
    assert cuda_graph_parts(resolve("megatron-core", **te), dense) == {"attn", "mlp"}
    assert cuda_graph_parts(resolve("megatron-core", **te), padded) == {"attn", "moe"}


def test_megatron_launch_flags_name_the_graphs():
    """The emitted flags are Megatron-Core 0.16.1's (arguments.py: --cuda-graph-impl, --cuda-graph-scope nargs='+');
    a full-iteration graph of a dropless MoE, timed as the later sync-free path, is refused."""
    from planner.present.emit import emit_launch_spec
    from test_emit import _argv, _flags, _plan

    tr = {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "recompute": "selective", "tokens": 1e11,
          "framework": {"name": "megatron-core", "cuda_graph_impl": "transformer_engine",
                        "cuda_graph_scope": ["attn", "moe_router", "moe_preprocess"]}}
    job, best = _plan({"tp": 2, "pp": 1, "ep": 8, "zero": 1}, model={"preset": "qwen3-30b-a3b"}, training=tr)
    argv = _argv(emit_launch_spec(job, best, "torchrun:megatron"))
    assert _flags(argv)["--cuda-graph-impl"] == "transformer_engine"
    i = argv.index("--cuda-graph-scope")
    assert argv[i + 1:i + 4] == ["attn", "moe_router", "moe_preprocess"]
    plain, best = _plan({"tp": 2, "pp": 1, "ep": 8, "zero": 1}, model={"preset": "qwen3-30b-a3b"},
                        training={k: v for k, v in tr.items() if k != "framework"})
    assert "--cuda-graph-impl" not in _argv(emit_launch_spec(plain, best, "torchrun:megatron"))
    full = dict(tr, framework={"name": "megatron-core", "cuda_graph_impl": "local", "cuda_graph_scope": ["full_iteration"],
                               "moe_dispatcher": "hybridep"})
    # (an InfiniBand cluster: the expert TP 2 x EP 8 group leaves the node, which HybridEP cannot over EFA, moedisp47b)
    job, best = _plan({"tp": 2, "pp": 1, "ep": 8, "zero": 1}, model={"preset": "qwen3-30b-a3b"}, training=full,
                      cluster={"instance": "azure:Standard_ND96isr_H100_v5", "nodes": 16})
    with pytest.raises(InputError, match="sync-free"):
        emit_launch_spec(job, best, "torchrun:megatron")


def test_hybrid_mtp_block_takes_the_models_scope(catalog):
    """Nemotron 3 Super's recipe captures attn, mamba, moe_router and moe_preprocess (Megatron-Bridge
    nemotron_3_workload_base_configs.py @d063066b). Megatron-Core checks the scope against the whole model, which
    has Mamba layers; its MTP block ("*E", priced apart) holds none and takes the rest: the plan is accepted, and
    on a host-bound layout (Nemotron 3.5 Lightning, micro-batch 1 of 1,024 tokens on B200) the graphs cut the step
    (a GPU-bound layout would not show it)."""
    m = ModelSpec(**PRESETS["nemotron-3.5-lightning-30b-a3b"])
    t = TrainingSpec(seq_len=1024, global_batch=64, micro_batch=1, precision="fp8")
    hw = hw_for(catalog, "B200-SXM-180GB")
    c = cands(tp=1, pp=1, dp=8, ep=8, etp=1, mb=1)
    opts = dict(fp8_recipe="mxfp8", moe_dispatcher="hybridep")

    def step(**graphs):
        return float(step_time(m, t, c, hw, framework=resolve("megatron-bridge", **graphs, **opts))["step_time_s"][0])
    eager = step()
    mamba_only = step(cuda_graph_impl="transformer_engine", cuda_graph_scope=("mamba",))
    recipe = step(cuda_graph_impl="transformer_engine", cuda_graph_scope=("attn", "mamba", "moe_router", "moe_preprocess"))
    assert 0 < recipe < mamba_only < eager
    with pytest.raises(InputError, match="mamba"):  # a model without Mamba layers still refuses the scope
        cuda_graph_parts(resolve("megatron-core", cuda_graph_impl="transformer_engine", cuda_graph_scope=("mamba",)),
                         ModelSpec(**PRESETS["qwen3-30b-a3b"]))
