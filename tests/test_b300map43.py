"""The DGX-B300 recipes per Megatron-Bridge release (benchmarks/validate.py ``MBRIDGE_MOE_RECIPES`` /
``MBRIDGE_CUDA_GRAPHS`` / ``MBRIDGE_FUSED_MLP``, resolved by ``mbridge_at_release``), where a public PR changed the
recipe between the tables' releases:

* Qwen3-235B-A22B: the hard-coded all-to-all until 26.04, HybridEP from 26.04.01 (PR #3490, issue #3399);
* GPT-OSS 120B BF16: the 26.02 row (EP 64) ran the all-to-all (no flex dispatcher interface before PR #2600), EP 8 with
  HybridEP from 26.02.01;
* GPT-OSS 120B FP8-MX at 26.06: the BF16 V2 config (HybridEP, no all-to-all overlap, TE attention / router graphs, no
  fused grouped MLP; PR #4173 gave those to GB200 / GB300 alone);
* DeepSeek-V3: TE partial graphs only from 26.04.01 (PR #3549, with PP 8 and micro-batch 2).
"""
import re
import sys

import pandas as pd
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import validate  # noqa: E402


@pytest.fixture(scope="module")
def rows():
    return {r.id: r for r in pd.read_csv(validate.MBRIDGE_ALL_CSV).itertuples()}


def _opts(rows, rid):
    return validate.pr2_options(rows[rid], "megatron-core")


@pytest.mark.parametrize("rid, dispatcher", [
    ("mbridgeall_2602a_b300_qwen3-235b-a22b_mxfp8_256", "alltoall"),
    ("mbridgeall_260201_b300_qwen3-235b-a22b_mxfp8_256", "alltoall"),
    ("mbridgeall_2604_b300_qwen3-235b-a22b_mxfp8_256", "alltoall"),
    ("mbridgeall_260401a_b300_qwen3-235b-a22b_mxfp8_256", "hybridep"),
    ("mbridgeall_260401b_b300_qwen3-235b-a22b_mxfp8_256", "hybridep"),
])
def test_qwen3_235b_b300_takes_hybridep_from_26_04_01(rows, rid, dispatcher):
    o = _opts(rows, rid)
    assert o["moe_dispatcher"] == dispatcher and o["moe_a2a_overlap"] is False, rid


def test_qwen3_235b_b300_release_step_is_the_only_input_that_moves(rows):
    """26.04 and 26.04.01 print the same layout (PP 8, micro-batch 2, 256 GPUs); the planner now tells them apart by
    the dispatcher alone, in the direction the tables moved (26.94 -> 22.08 s)."""
    a, b = rows["mbridgeall_2604_b300_qwen3-235b-a22b_mxfp8_256"], rows["mbridgeall_260401a_b300_qwen3-235b-a22b_mxfp8_256"]
    assert (a.pp, a.micro_batch, a.num_gpus) == (b.pp, b.micro_batch, b.num_gpus)
    oa, ob = _opts(rows, a.id), _opts(rows, b.id)
    assert {k for k in oa.keys() | ob.keys() if oa.get(k) != ob.get(k)} == {"moe_dispatcher"}


@pytest.mark.parametrize("rid, dispatcher", [
    ("mbridgeall_2602a_b300_gpt-oss-120b_bf16_64", "alltoall"),
    ("mbridgeall_260201_b300_gpt-oss-120b_bf16_64", "hybridep"),
    ("mbridgeall_2604_b300_gpt-oss-120b_bf16_64", "hybridep"),
    ("mbridgeall_260401a_b300_gpt-oss-120b_bf16_64", "hybridep"),
])
def test_gpt_oss_b300_bf16_takes_hybridep_with_ep8(rows, rid, dispatcher):
    assert _opts(rows, rid)["moe_dispatcher"] == dispatcher, rid
    ep = 64 if dispatcher == "alltoall" else 8  # the row's printed EP: HybridEP came with EP 8 in one config
    assert int(re.search(r"EP=(\d+)", rows[rid].notes).group(1)) == ep


def test_gpt_oss_b300_mxfp8_at_26_06_is_the_bf16_config(rows):
    o = _opts(rows, "mbridgeall_2606_b300_gpt-oss-120b_mxfp8_64")
    assert (o["moe_dispatcher"], o["moe_a2a_overlap"]) == ("hybridep", False)
    assert o["cuda_graph_impl"] == "transformer_engine"
    assert o["cuda_graph_scope"] == ("attn", "moe_router", "moe_preprocess")
    assert "moe_fused_mlp" not in o
    # GB300 / GB200 keep PR #4173's full-iteration graphs, a2a overlap and fused grouped MLP
    g = _opts(rows, "mbridgeall_2606_gb300_gpt-oss-120b_mxfp8_64")
    assert g["moe_fused_mlp"] is True and g["moe_a2a_overlap"] is True and g["cuda_graph_scope"] == ("full_iteration",)


@pytest.mark.parametrize("rid, scope", [
    ("mbridgeall_2602a_b300_deepseek-v3_mxfp8_256", None),
    ("mbridgeall_260201_b300_deepseek-v3_mxfp8_256", None),
    ("mbridgeall_2604_b300_deepseek-v3_mxfp8_256", None),
    ("mbridgeall_260401a_b300_deepseek-v3_mxfp8_256", ("attn", "moe_router", "moe_preprocess")),
    ("mbridgeall_260401b_b300_deepseek-v3_mxfp8_256", ("attn", "moe_router", "moe_preprocess")),
    ("mbridgeall_2606_b300_deepseek-v3_mxfp8_256", ("full_iteration",)),
])
def test_deepseek_v3_b300_graphs_from_pr3549(rows, rid, scope):
    """The TE partial graphs came with PR #3549's PP 16 -> 8 and micro-batch 1 -> 2: the rows without that layout
    capture none."""
    assert _opts(rows, rid).get("cuda_graph_scope") == scope, rid
    assert (rows[rid].pp, rows[rid].micro_batch) == ((16, 1) if scope is None else (8, 2))
