"""Development rows predicted over their GPU's memory by more than the allocator's reserve (overmem40).

``benchmarks/over_memory.py`` lists every ``validate.py`` row whose ``memory_per_gpu`` (on the case its step time
used) exceeds its GPU. Three of the six rows over by more than 5% were Megatron-Bridge GB300 rows whose layout as
transcribed is not the layout that ran (``benchmarks/data/parts/scripts/mbridge_all.py``):

* 26.02.01's DGX-GB300 LLAMA3_70B NVFP4 / MXFP8 rows print the FP8 row's MBS 2 and VP n/a (NVFP4 also PP 1, which
  cannot hold a 70B model's states without Megatron-FSDP); the configs at the table's own snapshot
  (``LLAMA3_70B_PRETRAIN_CONFIG_GB300_{NVFP4,FP8_MX}_V2``) and the 26.02 / 26.04 / 26.04.01 tables: PP 4, VP 5,
  MBS 1 (``LAYOUT_MISPRINTS``);
* 25.11's GB300 Qwen3_235B_a22B BF16 row prints MBS 2 and GA 32 at GBS 8192 / DP 64; the builder took the GA-implied
  MBS 4, a rule meant for the parenthesised 25.09 / 25.11 MX variants (whose MBS cell is the printed row's). Its
  config (``QWEN3_235B_A22B_PRETRAIN_CONFIG_GB300_BF16_V1`` / ``_V2``) sets ``micro_batch_size=2``.
"""
import sys

import pandas as pd
import pytest

from conftest import ROOT
from planner.model.memory import GiB, memory_per_gpu

sys.path.insert(0, str(ROOT / "benchmarks"))

LLAMA_GB300 = ("mbridgeall_260201_gb300_llama3-70b_nvfp4_64", "mbridgeall_260201_gb300_llama3-70b_mxfp8_64")
QWEN_GB300 = "mbridgeall_2511c_gb300_qwen3-235b-a22b_bf16_256"


@pytest.fixture(scope="module")
def rows():
    import validate

    return pd.read_csv(validate.MBRIDGE_ALL_CSV).set_index("id", drop=False)


def _total(r) -> tuple[float, float]:
    import validate
    from hardware_catalog import load_catalog

    case = validate.pr2_case(load_catalog(), r)
    mem = memory_per_gpu(case.model, case.training, case.candidates, stack=validate.row_stack(case.stack, case.options),
                         gpu=case.hw.gpu.name)
    return float(mem["total"][0]), float(case.hw.gpu.memory_bytes)


@pytest.mark.parametrize("rid", LLAMA_GB300)
def test_260201_gb300_llama3_70b_rows_take_their_configs_layout(rows, rid):
    r = rows.loc[rid]
    assert (r["tp"], r["pp"], r["vpp"], r["micro_batch"], r["dp"]) == (1, 4, 5, 1, 16)
    assert "LLAMA3_70B_PRETRAIN_CONFIG_GB300_" in r["notes"] and "printed MBS 2" in r["notes"]
    assert r["value"] == r["tokens_per_s_printed"]  # the measurement as printed


def test_qwen3_235b_gb300_bf16_keeps_its_printed_micro_batch(rows):
    r = rows.loc[QWEN_GB300]
    assert r["micro_batch"] == 2 and r["ga_printed"] == 32
    assert "printed GA 32 is not GBS / (DP x MBS) = 64" in r["notes"]
    # the parenthesised MX variants keep the GA-implied micro-batch
    assert rows.loc["mbridgeall_2509_gb200_llama3-70b_mxfp8_64", "micro_batch"] == 1


@pytest.mark.parametrize("rid", (*LLAMA_GB300, QWEN_GB300))
def test_corrected_gb300_rows_fit(rows, rid):
    """Before: 621.7 / 388.8 / 387.6 GiB of the GB300's 259.8; after 256.8 / 258.2 / 209.5."""
    total, cap = _total(rows.loc[rid])
    assert total <= cap, f"{rid}: {total / GiB:.1f} GiB > {cap / GiB:.1f}"


def test_over_memory_lists_rows_over_their_gpu():
    """The listing keeps rows over their GPU only, with the excess as a fraction (the reserve's split,
    ``allocator_reserve`` = FRAGMENTATION of the activations + logits, is test_alloc38's)."""
    import over_memory

    df = pd.DataFrame(dict(source=["a", "a", "b"], total=[81.0, 79.0, 90.0], gpu_gib=[80.0, 80.0, 80.0]))
    o = over_memory.over(df)
    assert list(o["total"]) == [81.0, 90.0]
    assert o["over"].round(4).tolist() == [0.0125, 0.125]
