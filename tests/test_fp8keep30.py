"""Layers Megatron-Core keeps 16-bit under the fp8/fp4 recipe (fp8keep30, 2026-12-04): the parameter all-gather under
--fp8-param-gather moving the kept layers at 2 bytes, not the FP8 width. Each check failed before."""
import numpy as np
import pytest

from planner.model import step_time as st_mod
from planner.model.comm import collective_time
from planner.model.memory import hsdp_groups, layer_params, lp16_rank_params
from planner.model.stacks import resolve
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.params import count_params
from planner.spec.presets import PRESETS
from tests.test_step_time import LLAMA, hw_for


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
    # the dense gather and the (empty) expert one, which still pays its latency
    want = (collective_time("all_gather", np.array([max(first, last)]) / tp, dps, np.array([1.0]), *net)
            + collective_time("all_gather", np.array([0.0]), edps, np.array([1.0]), *net))
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
