"""Qwen3-30B-A3B on 16 H100 (mbq54): the scored Megatron-Bridge rows (26.04.01 FP8-CS 29.26 s, planner 19.93 s) against
NVIDIA's own later run of the same recipe, tuned (Megatron-Bridge PR #5123: BF16, the same 16 GPUs, GBS 1024, EP 16,
20.147 s a step), and Megatron-LM's H100 BF16 / FP8-blockwise recipe pair (PR #5728), as
benchmarks/data/parts/moe_profiles.csv holds them and benchmarks/validate_moe_profile.py prices them."""
import re

import pandas as pd
import pytest

from benchmarks.parts_data import load
from benchmarks.validate import PR2_CSV
from benchmarks.validate_moe_profile import recipe_variant_step
from hardware_catalog import load_catalog

PR5123 = "mbridge_pr5123_h100_qwen3_30b_bf16_step"
PR5728 = "mlm_pr5728_h100_qwen3_30b_fp8blockwise_vs_bf16"


@pytest.fixture(scope="module")
def rows():
    return {r["id"]: r for r in load("moe_profiles")}


def test_pr5123_flops_per_token_equal_the_scored_rows(rows):
    """The PR prints a step time and model TFLOP/s, not the batch: at the H100 BF16 V1 config's GBS 1024 (seq 4096,
    16 GPUs) its FLOPs per token equal the 26.04.01 table row's (206 TFLOP/s at 8960 tokens/s per GPU) to 1%, so the
    run is the scored rows' batch and model, and the row's planner_row is that table row."""
    r = rows[PR5123]
    tflops = float(re.search(r"([\d.]+) model TFLOP/s/GPU", r["notes"]).group(1))
    per_token = tflops * 1e12 * r["value"] / 1e3 * r["num_gpus"] / (1024 * 4096)
    table = pd.read_csv(PR2_CSV).set_index("id").loc[r["planner_row"]]
    table_tflops = float(re.search(r"Model TFLOP/s/GPU ([\d.]+)", table.notes).group(1))
    assert per_token == pytest.approx(table_tflops * 1e12 / table.value, rel=0.01)
    assert (table.num_gpus, table.global_batch_seqs, table.seq_len) == (r["num_gpus"], 1024, 4096)
    assert "EP=16" in table.notes and r["ep"] == 16


def test_pr5123_tuned_run_within_the_planners_reach(rows):
    """The planner's price for the tuned run (the scored recipe's mapping at BF16: 21.54 s) is within 15% of its
    20.147 s, while the scored 26.04.01 FP8-CS print of the same recipe is 1.45x this run: the gap on the table
    rows is what the later recipe and releases removed, not a cost of the hardware -- a per-call or per-expert term
    fitted to close the 26.04.01 row (+9.3 s) would put this run ~50% too slow."""
    r = rows[PR5123]
    planner = recipe_variant_step(load_catalog(), r)
    assert 0.85 < r["value"] / 1e3 / planner < 1.15


def test_pr5728_pair_as_printed(rows):
    """Megatron-LM's H100 pair: FP8 blockwise 242.9 against BF16 240.5 model TFLOP/s a GPU at 32 GPUs, EP 8 (the
    same FLOP count, so a step ratio BF16 / FP8 of 1.010)."""
    r = rows[PR5728]
    assert (r["value"], r["baseline_value"], r["fp8_recipe"]) == (242.9, 240.5, "blockwise")
    assert (r["num_gpus"], r["ep"], r["tokens_per_rank"]) == (32, 8, 4096)
    assert r["value"] / r["baseline_value"] == pytest.approx(1.010, abs=0.001)
