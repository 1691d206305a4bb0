"""IBM fms-fsdp's eager RoPE: foundation-model-stack's real 2 x 2 rotation in fp32 (compile47).

fms/modules/positions.py ``RotaryEmbedding.adjusted_qk`` (every stored version): ``q_ = q.float().view(..., -1, 2)``,
``freqs[...].mul(q_.unsqueeze(-2)).sum(5).flatten(3).type_as(q)``, ``freqs`` one 2 x 2 fp32 rotation matrix per pair.
Uncompiled, that is two fp32 products per element and a sum over them where torchtitan's complex multiply writes one:
``stack_kernels.EAGER_FP32_BYTES["rope_rotation_matrix"]``, chosen by ``Stack.eager_rope``, which validate's fms-fsdp
rows set (open_reports.csv fms_*, fms_compile_runs.csv)."""
from dataclasses import replace

import pandas as pd
import pytest

from planner.model import stacks
from planner.model.stack_kernels import EAGER_FP32_BYTES
from planner.model.step_time import step_time
from planner.spec import ModelSpec, TrainingSpec

from rope_ops import rope_bytes as _rope_bytes
from test_step_time import cands, hw_for


def test_fms_rope_bytes_match_real_ops():
    """The rotation-matrix form moves 16 B more per q / k element than the complex multiply, forward and backward
    alike, on real torch ops; ``EAGER_FP32_BYTES`` prices the same difference (40 against 24 B: both count the
    rotation table's read as one more fp32 read an element, as the complex form's 24 always has)."""
    fms, titan = _rope_bytes("rope_rotation_matrix"), _rope_bytes("rope")
    assert fms[0] - titan[0] == 16.0 == EAGER_FP32_BYTES["rope_rotation_matrix"] - EAGER_FP32_BYTES["rope"]
    assert fms[1] - titan[1] == 16.0
    assert titan[0] == 20.0 and fms[0] == 36.0  # .float() 6, mul 4 + 8, sum 8 + 4, type_as 6


@pytest.mark.parametrize("compiled", [False, True])
def test_eager_rope_priced_on_uncompiled_blocks_only(catalog, compiled):
    """``Stack.eager_rope`` on the torchtitan stack: uncompiled, each pass grows by exactly the extra bytes on q and
    k at the HBM rate (forward once, backward ``BWD_MEMBOUND_FACTOR`` = 2 times, as every eager chain); compiled,
    inductor fuses the chain into one kernel and nothing changes."""
    m = ModelSpec(name="fms-like", layers=4, hidden=4096, heads=32, kv_heads=8, ffn_hidden=11008, vocab=32000,
                  mlp="swiglu", norm="rmsnorm", position="rope")
    t = TrainingSpec(seq_len=4096, global_batch=2, micro_batch=2, precision="bf16", weights="megatron",
                     grad_dtype="same", flash_attention=True)
    hw = hw_for(catalog, "H100-SXM-80GB")
    base = stacks.resolve("torchtitan", compile=compiled, tp_overlap="none")
    fms = replace(base, eager_rope="rope_rotation_matrix")
    a, b = (step_time(m, t, cands(mb=2, zero=0), hw, framework=s) for s in (fms, base))
    extra = EAGER_FP32_BYTES["rope_rotation_matrix"] - EAGER_FP32_BYTES["rope"]
    fwd = 0.0 if compiled else hw.eff.memory_time(2 * 4096 * m.layers * extra * (m.q_dim + m.kv_dim), hw.gpu.hbm_bw)
    assert float(a["t_fwd_mb"][0] - b["t_fwd_mb"][0]) == pytest.approx(fwd, rel=1e-9, abs=1e-15)
    assert float(a["t_bwd_mb"][0] - b["t_bwd_mb"][0]) == pytest.approx(2 * fwd, rel=1e-9, abs=1e-15)
    if not compiled:
        assert fwd > 0


def test_every_fms_fsdp_row_runs_the_rotation_matrix_rope():
    """validate maps every IBM fms-fsdp row (the README and 2024-03 blog runs in open_reports.csv, the 2024-05
    compile blog's in fms_compile_runs.csv) with its model code's RoPE; no other row names it."""
    from benchmarks import validate as V

    rows = pd.concat([pd.read_csv(V.OPEN_REPORTS_CSV), pd.read_csv(V.FMS_COMPILE_CSV)])
    fms = rows["id"].str.startswith(("fms_", "fmsc_"))
    assert fms.sum() == 12 + 16
    named = rows["stack_options"].fillna("").str.contains("eager_rope=rope_rotation_matrix")
    assert (named == fms).all()
    for r in rows[fms].itertuples():
        assert V.row_stack(r.stack, V.open_reports_options(r.stack_options)).eager_rope == "rope_rotation_matrix"
