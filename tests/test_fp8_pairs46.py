"""f8ratio46: torchao's own float8 training benchmarks as parts data, and the fp8 / bf16 PAIR table
(benchmarks/fp8_pairs.py) over every source with same-config bf16 and torchao-float8 runs."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FP8 = ROOT / "benchmarks" / "data" / "parts" / "fp8_gemm.csv"


def test_torchao_readme_training_speedups_are_parts_rows():
    """torchao/float8/README.md 'Training benchmarks' (pytorch/ao @9519bebb): median tokens/s over the bf16 row's,
    H100 6150 -> 7689.5 (tensorwise) / 6768 (rowwise), MI300X 5376.5 -> 6166 / 6100 (rowwise_with_gw_hp) / 5891."""
    d = pd.read_csv(FP8).set_index("id")
    want = {"h100_llama3_8b_tensorwise": 7689.5 / 6150, "h100_llama3_8b_rowwise": 6768 / 6150,
            "mi300x_llama3_8b_tensorwise": 6166 / 5376.5, "mi300x_llama3_8b_rowwise_with_gw_hp": 6100 / 5376.5,
            "mi300x_llama3_8b_rowwise": 5891 / 5376.5}
    for k, v in want.items():
        r = d.loc[f"torchao_readme_{k}"]
        assert r.kind == "e2e_training_speedup" and r.speedup_low == r.speedup_high == pytest.approx(v, abs=1e-4)
        assert "9519bebb" in r.provenance


def test_pair_table_covers_every_torchao_pair():
    """13 pairs: OLMo-core's five, torchtitan's three, torchao README's five; the measured ratios are the sources'
    (torchtitan Table 1: 8532 / 6667 tokens/s; OLMo-core 1B 65,000 / 55,000); every modelled ratio an fp8 gain."""
    from benchmarks.fp8_pairs import pairs

    df = pairs()
    assert list(df.groupby("source").size().sort_index()) == [5, 3, 5]
    m = df.set_index("pair")["measured"]
    assert m["titan24_t1_8b_8_fsdp_torchcompile_float8"] == pytest.approx(8532 / 6667)
    assert m["1b"] == pytest.approx(65000 / 55000)
    assert np.isfinite(df["modelled"]).all() and (df["modelled"] > 1.0).all()
