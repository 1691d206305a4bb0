"""mi54: benchmarks/cdna3_table.py, every CDNA 3 training step the repository holds (the ``mi300x`` source's Primus /
ROCm Megatron-LM rows and torchao's torchtitan Llama3-8B runs) measured against modelled, and its one-parameter
what-if (every CDNA 3 GEMM at a multiple of its shipped fraction)."""
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import cdna3_table as T  # noqa: E402
from benchmarks import validate as V  # noqa: E402
from planner.hardware import efficiency  # noqa: E402


@pytest.fixture(scope="module")
def base():
    return T.table()


def test_table_holds_both_sources_with_their_measured_steps(base):
    """Five mi300x rows at the values mi300x_runs.csv holds; torchao's seven runs (H100 bf16 / tensorwise / rowwise,
    MI300X bf16 / tensorwise / rowwise_with_gw_hp / rowwise) at 8192 tokens a GPU a step over the README's median
    tokens/s (MI300X bf16 5376.5, tensorwise 6166; H100 bf16 6150)."""
    m = base[base.source == "mi300x"]
    runs = pd.read_csv(V.MI300X_CSV)
    assert sorted(m.measured_s.round(4)) == sorted(runs.value.round(4))
    assert list(m.gpu).count("MI325X") == 4 and list(m.gpu).count("MI300X") == 1
    a = base[base.source == "torchao_readme"].set_index(["gpu", "precision"])["measured_s"]
    assert len(a) == 7
    assert a["MI300X", "bf16"] == pytest.approx(8192 / 5376.5)
    assert a["MI300X", "fp8 tensorwise"] == pytest.approx(8192 / 6166.0)
    assert a["MI300X", "fp8 rowwise_gw_hp"] == pytest.approx(8192 / 6100.0)
    assert a["H100", "bf16"] == pytest.approx(8192 / 6150.0)
    assert (base.predicted_s > 0).all()
    assert base.signed.to_numpy() == pytest.approx((base.predicted_s / base.measured_s - 1).to_numpy())


def test_gemm_scale_moves_cdna3_rows_only_and_restores_the_priors(base):
    """A what-if at 1.1x: every CDNA 3 row faster, every H100 row the same, and the shipped priors untouched after."""
    before = {f: efficiency.PRIORS[f] for f in T.CDNA3}
    scaled = T.table(gemm_scale=1.1)
    assert {f: efficiency.PRIORS[f] for f in T.CDNA3} == before
    amd = base.gpu != "H100"
    assert (scaled.predicted_s[amd] < base.predicted_s[amd]).all()
    assert scaled.predicted_s[~amd].to_numpy() == pytest.approx(base.predicted_s[~amd].to_numpy(), rel=1e-12)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf"])
def test_bad_gemm_scale_is_one_line_and_exit_2(value, capsys):
    with pytest.raises(SystemExit) as e:
        T.main(["--gemm-scale", value])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --gemm-scale: ")
