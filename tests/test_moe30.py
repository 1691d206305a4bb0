"""MoE pricing leftovers (moe30, 2026-12-04): a plain MoE model's layer kept 16-bit under the fp8/fp4 recipe priced
as the layer it is (DeepSeek-V3's dense first layers), and Megatron-LM 2021-22's SwitchMLP priced as the Python
loop over experts it runs. Each check failed on the code before."""
import numpy as np
import pytest

from planner.model import step_time as st_mod
from planner.model.stacks import resolve
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.presets import _llama, _moe
from tests.test_fp8keep30 import _gemm_delta
from tests.test_step_time import cands, hw_for

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
    t = TrainingSpec(seq_len=seq, global_batch=mb, micro_batch=mb, precision="fp8")
    hw = hw_for(catalog, "B200")
    c = cands(tp=1, pp=1, dp=1, mb=mb, zero=0, nodes=1)

    def per_mb(**opts):
        st = resolve("megatron-core", fp8_recipe="mxfp8", **opts)
        out = step_time(m, t, c, hw, framework=st, overlap_grad_reduce=False)
        return float(out["t_fwd_mb"][0] + out["t_bwd_mb"][0])

    T, h, dh = mb * seq, m.hidden, m.hidden // m.heads
    shapes = [(T, (m.heads + 2 * m.kv_heads) * dh, h), (T, h, m.heads * dh),
              (T, m.mlp_up_factor * m.dense_width, h), (T, h, m.dense_width)]
    want = _gemm_delta(hw, resolve("megatron-core", fp8_recipe="mxfp8"), shapes)
    got = per_mb(first_last_layers_bf16=True, lp_bf16_first_layers=1, lp_bf16_layers=0) - per_mb()
    assert got == pytest.approx(want, rel=1e-6)
