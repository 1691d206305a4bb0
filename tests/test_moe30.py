"""MoE pricing leftovers (moe30, 2026-12-04): a plain MoE model's layer kept 16-bit under the fp8/fp4 recipe priced
as the layer it is (DeepSeek-V3's dense first layers), and Megatron-LM 2021-22's SwitchMLP priced as the Python
loop over experts it runs. Each check failed on the code before."""
import numpy as np
import pytest

from planner.model import layer_ops, step_time as st_mod
from planner.model.stacks import resolve
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import _llama, _moe
from test_fp8keep30 import _gemm_delta, _kept_first_layer_delta
from test_step_time import cands, hw_for

#: a small DeepSeek-like model: 4 layers, the first dense (first_k_dense_replace 1, an 11008-wide dense MLP), the
#: rest MoE of 8 experts 1024 wide, top-2; plain attention (no MLA) so its projections are two GEMMs by hand. (At
#: hidden 1024 and 8192 tokens the layer is host-bound on B200 and its GEMMs' 16-bit time hides under the host.)
SMALL_DS = ModelSpec(**_moe(_llama(4, 4096, 32, 32, 1024, 32000), 11008, experts=8, top_k=2, first_dense=1))


def test_plain_moe_kinds_by_layer():
    """The kept layers' kinds are the layers': the first dense ("-"), the last MoE ("E"), each on the global layer
    it is; a plain model's 16-bit MTP layers stay mean layers on no global layer."""
    kept = st_mod.kept_layer_kinds(SMALL_DS, 1, 1, 0.0, frozenset())
    assert sorted(kept) == ["-", "E"]
    assert kept["-"].layers.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert kept["E"].layers.tolist() == [0.0, 1.0, 1.0, 1.0]
    assert kept["-"].block[0].moe_layers == 0 and kept["E"].block[0].moe_layers == 1
    with_mtp = st_mod.kept_layer_kinds(SMALL_DS, 1, 0, 1.0, frozenset())
    assert sorted(with_mtp, key=str) == ["-", None] and not with_mtp[None].layers.any()


def test_plain_moe_kept_dense_first_layer_priced_as_dense(catalog):
    """--num-layers-at-start-in-bf16 1 on the small DeepSeek-like model, MXFP8, TP 1 PP 1, one micro-batch of
    2 x 8192 tokens on B200: the pass grows by the dense first layer's own linears in 16 bits -- the attention's
    QKV and output projections and the 11008-wide dense MLP's fc1 / fc2 -- by hand from those GEMM shapes. Before,
    the kept layer was the mean layer (1 dense : 3 MoE), which prices 3/4 of an MoE layer's expert GEMMs instead."""
    m = SMALL_DS
    mb, seq = 2, 8192
    hw = hw_for(catalog, "B200")
    T, h, dh = mb * seq, m.hidden, m.hidden // m.heads
    shapes = [(T, (m.heads + 2 * m.kv_heads) * dh, h), (T, h, m.heads * dh),
              (T, m.mlp_up_factor * m.dense_width, h), (T, h, m.dense_width)]
    want = _gemm_delta(hw, resolve("megatron-core", fp8_recipe="mxfp8"), shapes)
    got = _kept_first_layer_delta(catalog, m, mb, seq)
    assert got == pytest.approx(want, rel=1e-6)


#: a top-1 MoE GPT (Switch-style: 8 experts, GeLU, 4096 wide) that Megatron-LM 2021-22's SwitchMLP trains
SWITCH = ModelSpec(family="moe", layers=24, hidden=2048, heads=16, ffn_hidden=8192, vocab=50304, mlp="gelu",
                   norm="layernorm", linear_bias=True, position="learned", max_positions=2048,
                   moe=dict(experts=8, top_k=1))


def test_switch_mlp_priced_as_its_expert_loop(catalog):
    """megatron-lm's MoE layer is SwitchMLP (megatron/model/transformer.py, 2021-22): its MLP side on one rank is,
    by hand, the router GEMM plus E separate fc1 / fc2 GEMM pairs on T / E rows each (no grouped GEMM, no dispatcher,
    no permutation), the index gathers and scatters at 10 x T x h bytes forward and (8 E + 8) x T x h backward, a
    device-to-host sync per expert, and E TP all-reduces where the dense MLP runs one. Before, megatron-lm priced
    Megatron-Core's dispatcher path: the permutation's bytes, the ETP all-gather and 4 host ops per expert, no sync."""
    from planner.model import moe as moe_mech
    from planner.model.comm import collective_time
    hw = hw_for(catalog, "H100-SXM-80GB")
    eff = hw.eff
    st = resolve("megatron-lm")
    T, tp, E, h, f, b = 8192.0, 2.0, 8, SWITCH.hidden, SWITCH.ffn_hidden, 2.0
    peak = 700e12

    def gemm(M, N, K, **kw):
        g = lambda *s: float(np.asarray(eff.gemm_time(*s, peak, hw.gpu.hbm_bw, b)).ravel()[0])  # noqa: E731
        return g(M, N, K), g(M, K, N) + g(K, N, M)
    links = (hw.intra_bw_eff, hw.inter_bw_per_gpu, eff.intra_alpha_s, eff.inter_alpha_s)
    ml = moe_mech.moe_layer(SWITCH, np.array([T]), np.array([tp]), np.array([tp]), np.array([1.0]), 8.0, b, gemm, st,
                            links, launch_s=eff.launch_s, bwd_factor=layer_ops.BWD_MEMBOUND_FACTOR)
    up, down, router = gemm(T / E, f / tp, h), gemm(T / E, h, f / tp), gemm(T, E, h)
    assert float(np.ravel(ml.fwd_mlp)[0]) == pytest.approx(E * (up[0] + down[0]) + router[0], rel=1e-9)
    assert float(np.ravel(ml.bwd_mlp)[0]) == pytest.approx(E * (up[1] + down[1]) + router[1], rel=1e-9)
    assert float(np.asarray(ml.a2a)) == 0.0  # no token dispatch, no ETP gather
    assert float(np.ravel(ml.membound_bytes)[0]) == pytest.approx(10 * T * h * b)
    assert float(np.ravel(ml.membound_bytes)[0]) * layer_ops.BWD_MEMBOUND_FACTOR + float(np.ravel(ml.bwd_membound_bytes)[0]) == \
        pytest.approx((8 * E + 8) * T * h * b)
    assert float(ml.host_ops) == 7 + 10 * E
    # one sync per expert: 2 launches of idle, and the expert's 10 host ops beyond its two GEMMs' time
    per_expert = 2 * eff.launch_s + max(10 * eff.launch_s - (up[0] + down[0]), 0.0)
    assert float(np.asarray(ml.sync_s).ravel()[0]) == pytest.approx(E * per_expert, rel=1e-9)
    ar = lambda rows: float(collective_time("all_reduce", rows * h * b, tp, 1, 8.0, *links))  # noqa: E731
    assert float(np.asarray(ml.tp_split).ravel()[0]) == pytest.approx(E * ar(T / E) - ar(T), rel=1e-9)
    assert float(np.asarray(ml.tp_split).ravel()[0]) > 0.0


def test_switch_mlp_step_dearer_than_megatron_core_layer(catalog):
    """The whole step on megatron-lm (SwitchMLP) against the same stack with Megatron-Core's dispatcher layer priced
    instead (moe_switch_mlp off): the loop's per-expert syncs, index passes and split all-reduces cost more per
    micro-batch, TP 2 without sequence parallelism (which SwitchMLP cannot run: megatron-lm-moe-sp)."""
    import dataclasses
    t = TrainingSpec(seq_len=2048, global_batch=64, micro_batch=4, precision="bf16")
    hw = hw_for(catalog, "H100-SXM-80GB")
    c = cands(tp=2, pp=1, dp=4, mb=4, zero=1, nodes=1, sp=False)
    st = resolve("megatron-lm")
    old = dataclasses.replace(st, moe_switch_mlp=False)
    out = step_time(SWITCH, t, c, hw, framework=st)
    assert float(out["comm_ep"][0]) == 0.0  # no dispatcher: no ETP all-gather of routed tokens (was priced before)
    new_mb, old_mb = (float(step_time(SWITCH, t, c, hw, framework=s)["t_fwd_mb"][0]) for s in (st, old))
    assert new_mb > old_mb * 1.02
