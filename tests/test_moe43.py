"""The DGX-B200 Qwen3-30B-A3B recipe before and after Megatron-Bridge PR #2499 (benchmarks/validate.py
``MBRIDGE_MOE_RECIPES`` / ``MBRIDGE_CUDA_GRAPHS`` / ``mbridge_at_release``): the 25.11 / 26.02 micro-batch-1 rows and
Together's 26.02.00 run ran the hard-coded NCCL all-to-all dispatcher with TE graphs of the router + preprocess only;
from 26.02.01 the recipe runs HybridEP with attention graphs too."""
import sys

import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import validate  # noqa: E402


@pytest.fixture(scope="module")
def rows():
    d = pd.concat([pd.read_csv(validate.MBRIDGE_ALL_CSV), pd.read_csv(validate.DATA / "together_b200_baselines.csv")])
    return {r.id: r for r in d.itertuples()}


@pytest.mark.parametrize("rid", ["mbridgeall_2511a_b200_qwen3-30b-a3b_mxfp8_8",
                                 "mbridgeall_2602a_b200_qwen3-30b-a3b_mxfp8_8",
                                 "togetherbl_qwen3-30b-a3b_bf16_64_tp1pp1"])
def test_rows_before_pr2499_run_alltoall_without_attention_graphs(rows, rid):
    o = validate.pr2_options(rows[rid], "megatron-core")
    assert o["moe_dispatcher"] == "alltoall" and o["moe_a2a_overlap"] is False, rid
    assert o["cuda_graph_impl"] == "transformer_engine" and o["cuda_graph_scope"] == ("moe_router", "moe_preprocess")


@pytest.mark.parametrize("rid", ["mbridgeall_260201_b200_qwen3-30b-a3b_mxfp8_8",
                                 "mbridgeall_260401a_b200_qwen3-30b-a3b_mxfp8_8"])
def test_rows_from_26_02_01_run_hybridep_with_attention_graphs(rows, rid):
    o = validate.pr2_options(rows[rid], "megatron-core")
    assert o["moe_dispatcher"] == "hybridep" and o["cuda_graph_scope"] == ("attn", "moe_router", "moe_preprocess")


def test_other_gpus_and_the_tokendrop_row_keep_their_recipes(rows):
    """Only the B200 entry is release-stepped: GB200's Qwen3-30B and the 25.09 token-drop row are as before."""
    gb200 = validate.pr2_options(rows["mbridgeall_2602a_gb200_qwen3-30b-a3b_mxfp8_8"], "megatron-core")
    assert gb200["moe_dispatcher"] == "hybridep"
    drop = validate.pr2_options(rows["mbridgeall_2509_b200_qwen3-30b-a3b-tokendrop_fp8cs_8"], "megatron-core")
    assert drop["moe_dispatcher"] == "alltoall" and "cuda_graph_impl" not in drop


def test_at_release_takes_the_last_step_at_or_before_the_release(rows):
    r = rows["mbridgeall_2602a_b200_qwen3-30b-a3b_mxfp8_8"]  # release 26.02
    steps = [((0,), dict(a=1)), ((26, 2), dict(a=2)), ((26, 2, 1), dict(a=3))]
    assert validate.mbridge_at_release(steps, r) == dict(a=2)
    assert validate.mbridge_at_release([((26, 4), dict(a=1))], r) == {}
    assert validate.mbridge_at_release(dict(a=5), r) == dict(a=5) and validate.mbridge_at_release(None, r) == {}
