"""Layers Megatron-Core keeps 16-bit under the fp8/fp4 recipe (fp8keep30, 2026-12-04): a hybrid model's kept blocks
priced as their own kind (the first of Nemotron-H's pattern is a Mamba block, not the mean layer), and the parameter
all-gather under --fp8-param-gather moving the kept layers at 2 bytes, not the FP8 width. Each check failed before."""
import numpy as np
import pytest

from planner.model import physics, step_time as st_mod
from planner.model.comm import collective_time
from planner.model.memory import hsdp_groups
from planner.model.memory_stages import layer_params, lp16_rank_params
from planner.model.stacks import resolve
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.params import count_params
from planner.spec.presets import PRESETS
from test_step_time import LLAMA, cands, hw_for


def _gemm_delta(hw, stack, shapes):
    """Seconds the GEMMs ``shapes`` (forward (M, N, K) each) take more in 16 bits than under the stack's recipe,
    forward + dgrad + wgrad: 16-bit at the 16-bit peak with 2-byte operands, the recipe's at its peak x gemm_rel
    with 1-byte operands plus its quantisation of the input (forward), the weight where the stack re-quantises it
    every micro-batch, and the output gradient (backward), ``cast_bytes`` per element."""
    eff, hbm, recipe = hw.eff, hw.gpu.hbm_bw, stack.recipe
    p16 = physics.reachable_peak(hw, "bf16")
    p8 = physics.reachable_peak(hw, recipe.peak) * recipe.gemm_rel
    w = 1.0 if recipe.weight_casts == "microbatch" and not stack.caches_fp8_weights else 0.0
    total = 0.0
    for M, N, K in shapes:
        passes = [(M, N, K), (M, K, N), (K, N, M)]  # forward, dgrad, wgrad
        total += sum(float(eff.gemm_time(*s, p16, hbm, 2.0)) - float(eff.gemm_time(*s, p8, hbm, 1.0)) for s in passes)
        total -= float(eff.memory_time((M * K + w * K * N) * recipe.cast_bytes, hbm))
        total -= float(eff.memory_time(M * N * recipe.cast_bytes, hbm))
    return total


def _kept_first_layer_delta(catalog, m: ModelSpec, mb: int, seq: int) -> float:
    """Seconds one micro-batch's forward + backward grows by when Megatron-Core keeps the first layer in 16 bits
    (--num-layers-at-start-in-bf16 1) under MXFP8 on B200, TP 1 PP 1: the step time with the option less without."""
    t = TrainingSpec(seq_len=seq, global_batch=mb, micro_batch=mb, precision="fp8")
    hw = hw_for(catalog, "B200")
    c = cands(tp=1, pp=1, dp=1, mb=mb, zero=0, nodes=1)

    def per_mb(**opts):
        st = resolve("megatron-core", fp8_recipe="mxfp8", **opts)
        out = step_time(m, t, c, hw, framework=st, overlap_grad_reduce=False)
        return float(out["t_fwd_mb"][0] + out["t_bwd_mb"][0])

    return per_mb(first_last_layers_bf16=True, lp_bf16_first_layers=1, lp_bf16_layers=0) - per_mb()


def _hybrid(first: str) -> ModelSpec:
    """Nemotron-H 8B with its first two blocks in the order ``first`` ("M-": the preset's, a Mamba block first;
    "-M": an MLP block first): the same blocks, so the same mean layer"""
    d = dict(PRESETS["nemotron-h-8b"])
    d["hybrid_pattern"] = first + d["hybrid_pattern"][2:]
    return ModelSpec(**d)


@pytest.mark.parametrize("first", ["M-", "-M"])
def test_hybrid_kept_first_layer_priced_as_its_kind(catalog, first):
    """--num-layers-at-start-in-bf16 1 on Nemotron-H 8B, MXFP8, TP 1 PP 1, one micro-batch of 4 x 8192 tokens:
    the stage's pass grows by the first block's own linears in 16 bits -- the Mamba mixer's in_proj / out_proj where
    the pattern starts with M, the MLP's fc1 / fc2 where it starts with "-". Before, either was the mean layer's
    (the two patterns hold the same blocks, so the same delta)."""
    m = _hybrid(first)
    mb, seq = 4, 8192
    hw = hw_for(catalog, "B200")
    T, h, di = mb * seq, m.hidden, m.mamba_inner
    a = m.mamba
    shapes = {"M": [(T, 2 * di + 2 * a.groups * a.d_state + m.mamba_heads, h), (T, h, di)],
              "-": [(T, m.mlp_up_factor * m.dense_width, h), (T, h, m.dense_width)]}[first[0]]
    want = _gemm_delta(hw, resolve("megatron-core", fp8_recipe="mxfp8"), shapes)
    got = _kept_first_layer_delta(catalog, m, mb, seq)
    assert got == pytest.approx(want, rel=1e-6)


def test_hybrid_kinds_land_by_pattern_position():
    """The kept layers' kinds are the pattern's symbols at the kept positions, counted on the stage that holds
    them: Nemotron 3 Super's last 14 of 88 are 6 Mamba, 7 MoE and 1 attention block (not 14 x the 40 / 40 / 8 of 88
    mean layer); the weights of the first 2 go to stage 0 of a pp 2 split, the last 14 to stage 1."""
    m = ModelSpec(**PRESETS["nemotron-3-super-120b-a12b"])
    kept = st_mod.kept_layer_kinds(m, 2, 14, 0.0, frozenset())
    assert sorted(kept) == ["*", "E", "M"]
    t16 = {k: 1.0 + i for i, k in enumerate(sorted(kept))}  # "*" 1, "E" 2, "M" 3
    _, _, b16 = st_mod.slowest_stage(88, np.array([1.0, 2.0]), 0.0, 0.0, 14, t16, first16=2,
                                     kinds={k: v.layers for k, v in kept.items()})
    head = m.hybrid_pattern[:2]
    tail = m.hybrid_pattern[-14:]
    assert {k: v.tolist() for k, v in b16.items()} == {
        k: [float((head + tail).count(k)), float(tail.count(k))] for k in kept}
    assert (tail.count("M"), tail.count("E"), tail.count("*")) == (6, 7, 1)


def test_fp8_param_gather_moves_kept_layers_at_16_bits(catalog):
    """ZeRO-1 with --fp8-param-gather (tensorwise, B200), Llama-3-8B shapes, PP 2, DP 8, 1 first + 2 last layers
    kept 16-bit: the last stage (16 layers, the final norm and the untied LM head) gathers 14 layers at 1 B and
    2 layers + the head at 2 B; the first (16 layers, the embedding) 15 at 1 B, 1 layer + the embedding at 2 B.
    The gather is the larger, by hand. Before, the kept layers moved at 1 B."""
    t = TrainingSpec(seq_len=8192, global_batch=64, micro_batch=1, precision="fp8")
    hw = hw_for(catalog, "B200")
    st = resolve("megatron-core", fp8_recipe="tensorwise", first_last_layers_bf16=True, lp_bf16_first_layers=1,
                 lp_bf16_layers=2)
    one = lambda x: np.array([x])  # noqa: E731
    pp, tp, dp = 2, 1, 8
    d = st_mod._dp_terms(LLAMA, t, hw, (one(pp), one(tp), one(1), one(dp), one(1), one(1)), None, st, etp=one(1))
    pc = count_params(LLAMA)
    dl = pc.dense_layer
    first = 15 * dl * 1.0 + (dl + pc.embedding) * 2.0
    last = 14 * dl * 1.0 + (2 * dl + pc.lm_head + pc.final_norm) * 2.0
    dps, edps = hsdp_groups(np.array([1.0]), one(dp), one(1), one(1), np.array([1.0]), one(dp))
    net = (8.0, hw.intra_bw_eff, hw.inter_bw_per_gpu, hw.eff.intra_alpha_s, hw.eff.inter_alpha_s)
    # the dense gather alone: a stage without expert parameters runs no expert gather (until session 35 its latency was
    # added)
    want = collective_time("all_gather", np.array([max(first, last)]) / tp, dps, np.array([1.0]), *net)
    assert d["param_gather"][0] == pytest.approx(float(want[0]), rel=1e-12)


def test_kept_moe_layers_gather_their_experts_at_16_bits():
    """A kept MoE block's routed experts are 16-bit parameters too: Nemotron 3 Super's last 14 layers on the one
    stage hold the experts of its 7 kept MoE blocks, each its own block's parameters (layer_params), not 14 mean
    layers' share."""
    m = ModelSpec(**PRESETS["nemotron-3-super-120b-a12b"])
    pc = count_params(m)
    fd, fe, ld, le = lp16_rank_params(m, np.array([1]), 1, 0, 14)
    e_block = m.moe.experts * pc.expert
    assert fe[0] == le[0] == pytest.approx(7 * e_block)
    dense, expert = layer_params(m)
    assert ld[0] == pytest.approx(dense[-14:].sum()) and expert.sum() == pytest.approx(m.moe_layers * e_block)
    stage = (np.array([pc.total - m.moe_layers * e_block]), np.array([m.moe_layers * e_block]))
    _, exp_b = st_mod.fp8_param_gather_bytes(m, 1, stage * 2, 1.0, 2.0, (fd, fe, ld, le))
    assert exp_b[0] == pytest.approx((m.moe_layers - 7) * e_block + 7 * e_block * 2.0)
