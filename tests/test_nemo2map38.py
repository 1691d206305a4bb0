"""NeMo 2's performance scripts as the dgxc NeMo 2 rows ran them (nemo2map38, 2026-12-05).

The dgxc rows of GSW 25.05 (nvcr.io/nvidia/nemo:25.04.0x) run NeMo's scripts/performance/llm/pretrain_*.py, whose
helpers.py ``set_primary_perf_configs`` sets ``cross_entropy_fusion_impl = "te"`` on every run and
``use_precision_aware_optimizer = True`` on every bf16 run (benchmarks/validate.py ``nemo2_perf_script``). The
NeMo-Launcher rows (NeMo 1.x, nemo:24.09 / 24.12) do not go through those scripts. Nemotron-4 15B bf16 on 16 H100
(TP 2, micro-batch 2, 256k vocabulary) was 88.8 GiB of 80 as mapped before: TE's loss keeps 2 B a logit where the
native fused loss keeps 10 (logits 8.2 GiB less), the precision-aware optimizer's int16 master remainders 2 B a
parameter where Megatron's fp32 master keeps 4: 78.8 GiB.
"""
import sys

import pandas as pd
import pytest

from conftest import ROOT
from planner.model.memory import GiB, memory_per_gpu

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def dgxc():
    import validate

    return pd.read_csv(validate.DGXC_CSV).set_index("id", drop=False)


def _row(dgxc, rid):
    return next(dgxc.loc[[rid]].itertuples())


def _options(dgxc, rid) -> dict:
    import validate

    return validate.pr2_options(_row(dgxc, rid), "megatron-core")


def test_nemo2_bf16_rows_run_te_loss_and_precision_aware_optimizer(dgxc):
    for rid in ("dgxc_2504_nemotron4-15b-h100_bf16_16", "dgxc_2504_llama31-405b-h100_bf16_512",
                "dgxc_2504_nemotron4-340b-gb200_bf16_128"):
        opts = _options(dgxc, rid)
        assert opts.get("cross_entropy_fusion") == "te", rid
        assert opts.get("precision_aware_optimizer") is True, rid
    # the NeMo 1.x (NeMo-Framework-Launcher) rows of the same table do not run NeMo 2's performance scripts
    for rid in ("dgxc_2409_llama31-8b_bf16_8", "dgxc_2412_llama31-405b_bf16_576"):
        opts = _options(dgxc, rid)
        assert "cross_entropy_fusion" not in opts and "precision_aware_optimizer" not in opts, rid


def test_nemo2_fp8_rows_run_te_loss_without_precision_aware_optimizer(dgxc):
    # helpers.py sets the precision-aware optimizer only ``if compute_dtype.lower() == "bf16"``
    opts = _options(dgxc, "dgxc_2504_nemotron4-15b-h100_fp8_16")
    assert opts.get("cross_entropy_fusion") == "te"
    assert "precision_aware_optimizer" not in opts


def test_nemotron4_15b_bf16_16_h100_fits_its_gpu(dgxc):
    import validate
    from hardware_catalog import load_catalog

    case = validate.pr2_case(load_catalog(), _row(dgxc, "dgxc_2504_nemotron4-15b-h100_bf16_16"))
    st = validate.row_stack(case.stack, case.options)
    mem = memory_per_gpu(case.model, case.training, case.candidates, stack=st, gpu=case.hw.gpu.name)
    total, cap = float(mem["total"][0]), float(case.hw.gpu.memory_bytes)
    assert total <= cap, f"{total / GiB:.1f} GiB > {cap / GiB:.1f} GiB"
    assert total / GiB == pytest.approx(78.8, abs=0.1)
