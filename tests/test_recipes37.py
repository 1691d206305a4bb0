"""The Megatron-Bridge recipes' loss kernel read into the validation rows (recipes37): DeepSeek-V3
(recipes/deepseek/deepseek_v3.py @355cef45, the DeepSeekModelProvider default) and Kimi K2 (recipes/kimi/kimi_k2.py
@ab72e27b) set ``cross_entropy_fusion_impl = "te"``; gpt-oss (recipes/gpt_oss/gpt_oss.py @db2bfddc) states
``"native"``, the stack's default."""
import sys

import pandas as pd

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import validate  # noqa: E402


def _rows(key: str):
    df = pd.read_csv(validate.MBRIDGE_ALL_CSV)
    rows = [r for r in df.itertuples() if key in str(r.model).lower()]
    assert rows
    return rows


def test_deepseek_v3_and_kimi_k2_rows_run_te_cross_entropy():
    for key in ("deepseek-v3", "kimi k2"):
        assert all(validate.mbridge_te_cross_entropy(r) for r in _rows(key)), key


def test_gpt_oss_and_nemotron3_rows_keep_the_native_loss():
    for key in ("gpt-oss", "nemotron 3"):
        assert not any(validate.mbridge_te_cross_entropy(r) for r in _rows(key)), key
