"""benchmarks/precision_pairs.py: BF16 / low-precision rows of one configuration pair up, and only those."""
import sys

import numpy as np
import pandas as pd

from conftest import ROOT, invoke_script

sys.path.insert(0, str(ROOT / "benchmarks"))

import precision_pairs as pp  # noqa: E402


def _rows():
    # (id, gpu, tp, measured, predicted)
    rows = [("dgxc_2412_llama31-8b_bf16_8", "H100", 1, 1.40, 1.50),
            ("dgxc_2412_llama31-8b_fp8_8", "H100", 1, 1.00, 1.00),
            ("together_x_bf16_64_gbs256", "B200", 1, 1.20, 1.50),
            ("together_x_fp8_64_gbs256", "B200", 1, 1.00, 1.00),
            ("together_x_fp8_64_gbs256_tp2", "B200", 2, 0.90, 0.80),  # no BF16 sibling at TP 2
            ("together_x_mxfp8_64_gbs256", "B200", 2, 0.95, 0.90),  # tag matches, layout does not
            ("dgxc_2412_llama31-8b_fp8_16", "H100", 1, 2.00, 2.00),  # another GPU count: another key
            ("vtrain_row", "A100", 1, 1.0, 1.0)]  # no precision tag
    return pd.DataFrame([dict(id=i, gpu=g, gpus=8, tp=t, pp=1, dp=8, mb=1, measured_s=m, predicted_s=p)
                         for i, g, t, m, p in rows])


def test_pairs_same_configuration_bf16_against_low_precision():
    pairs = pp.precision_pairs(_rows()).set_index("key")
    assert sorted(pairs.index) == ["dgxc_2412_llama31-8b_X_8", "together_x_X_64_gbs256"]
    h = pairs.loc["dgxc_2412_llama31-8b_X_8"]
    assert (h.gpu, h.precision) == ("H100", "fp8")
    assert np.isclose(h.measured, 1.4) and np.isclose(h.model, 1.5) and np.isclose(h.model_over_measured, 1.5 / 1.4)
    assert np.isclose(pairs.loc["together_x_X_64_gbs256", "model_over_measured"], 1.25)


def test_summary_per_gpu_and_precision():
    s = pp.summary(pp.precision_pairs(_rows())).set_index(["gpu", "precision"])
    assert list(s.index) == [("B200", "fp8"), ("H100", "fp8")]
    assert s.loc[("B200", "fp8"), "pairs"] == 1 and np.isclose(s.loc[("B200", "fp8"), "model_over_measured"], 1.25)


def test_unreadable_csv_is_one_line_exit_2(tmp_path):
    # in this process (``conftest.invoke_script``): the script's answer is what is checked, not the interpreter
    code, _, err = invoke_script("benchmarks/precision_pairs.py", str(tmp_path / "none.csv"))
    assert code == 2 and err.startswith("error: csv: ") and len(err.strip().splitlines()) == 1, err
