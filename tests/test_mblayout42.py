"""Together AI's Megatron-Bridge runs take their recipe's pipeline layout, as NVIDIA's own rows do (acc42a, 2026-12-05).

Together's DGX B200 DeepSeek-V3 runs (together_b200_baselines.csv, TP 1 PP 16 EP 8, GBS 4096, 256 GPUs) ran
Megatron-Bridge 26.02's B200 workload config through llmb-run, the configuration Megatron-Bridge's own 26.02 DGX-B200
table prints (mbridge_all_runs.csv ``mbridgeall_2602a_b200_deepseek-v3_mxfp8_256``). Every DeepSeek-V3 recipe calls
``set_deepseek_v3_pipeline_model_parallel_layout`` (recipes/deepseek/deepseek_v3.py; PP 16 without VPP:
"Et*4|(t*4|)*14tmL"), so both rows run that split. ``validate.mbridge_pp_layout`` gave it only to ids starting
"mbridge"; the recipe tables reach every Megatron-Bridge run through ``validate.mbridge_run``, and now the layout too.
"""
from __future__ import annotations

import sys

import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import validate  # noqa: E402

TOGETHER_DSV3 = "togetherbl_deepseek-v3_mxfp8_256_tp1pp16"
NVIDIA_DSV3 = "mbridgeall_2602a_b200_deepseek-v3_mxfp8_256"


def _row(path, row_id):
    d = pd.read_csv(path)
    return next(r for r in d.itertuples() if r.id == row_id)


def _predicted(cat, r) -> float:
    case = validate.pr2_case(cat, r)
    kw = validate.pr2_time_kw(case.stack, case.options)
    return float(validate.step_time(case.model, case.training, case.candidates, case.hw, **kw)["step_time_s"][0])


@pytest.fixture(scope="module")
def cat():
    return validate.load_catalog()


def test_together_megatron_bridge_row_takes_the_recipe_layout():
    r = _row(validate.TOGETHER_BL_CSV, TOGETHER_DSV3)
    assert validate.mbridge_run(r)
    assert validate.mbridge_pp_layout(r) == "Et*4|(t*4|)*14tmL"
    assert validate.pr2_options(r, "megatron-core")["pp_layout"] == "Et*4|(t*4|)*14tmL"


def test_together_nemo_rows_take_no_megatron_bridge_layout():
    """The NeMo 2 runs (Nemotron-4 340B, Grok-1) are not Megatron-Bridge recipes: Megatron-Core's own split."""
    d = pd.read_csv(validate.TOGETHER_BL_CSV)
    nemo = [r for r in d.itertuples() if not validate.mbridge_run(r)]
    assert nemo and all(validate.mbridge_pp_layout(r) is None for r in nemo)


def test_same_configuration_same_prediction_in_both_sources(cat):
    """Same model, GPU, layout, batch, precision, release and recipe: one prediction, whichever table printed it."""
    together, nvidia = _row(validate.TOGETHER_BL_CSV, TOGETHER_DSV3), _row(validate.MBRIDGE_ALL_CSV, NVIDIA_DSV3)
    for col in ("num_gpus", "tp", "pp", "global_batch_seqs", "micro_batch"):
        assert getattr(together, col) == getattr(nvidia, col), col
    assert validate.mbridge_release(together)[:2] == validate.mbridge_release(nvidia)[:2] == (26, 2)
    assert _predicted(cat, together) == pytest.approx(_predicted(cat, nvidia), rel=1e-9)
