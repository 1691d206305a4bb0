"""benchmarks/data/tech_reports.csv (NVIDIA technical reports' production runs, validate.tech_reports):
every row says where it comes from and what was assumed, its layout is consistent, and the reports' own
numbers agree with each other through the planner's FLOP count (a mis-copied cell fails here)."""
import sys

import pandas as pd
import pytest

from conftest import ROOT, assert_cites_no_held_out_source

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "tech_reports.csv"
#: the columns a row must fill: where it comes from, what it ran, what was assumed
PROVENANCE = ("id", "source", "table", "provenance", "read_date", "notes", "assumptions", "stack")
LAYOUT = ("layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "activation", "seq_len",
          "global_batch_seqs", "tp", "pp", "dp", "cp", "num_gpus", "gpus_per_node", "precision", "gpu",
          "inter_node_gbps", "value", "mfu_pct_reported", "peak_tflops_stated")


def test_provenance_filled(rows):
    assert rows["id"].is_unique and rows["id"].str.startswith("techrep_").all()
    for col in PROVENANCE + LAYOUT:
        assert rows[col].notna().all() and rows[col].astype(str).str.strip().ne("").all(), col
    assert rows["provenance"].str.match(r"https://arxiv\.org/abs/\d{4}\.\d{5}").all()
    assert rows["read_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert rows["table"].str.contains("Table").all()
    assert rows["metric"].eq("iteration_time_s").all() and rows["value"].gt(0).all()
    assert_cites_no_held_out_source(rows)


def test_layout_consistent(rows):
    """GPUs = TP x PP x DP x CP in whole nodes; the batch splits over the replicas; the 340B's interleaved
    schedule has whole layers per virtual stage and a micro-batch count (at the assumed micro-batch 1) that is
    a multiple of PP, as Megatron's interleaved schedule requires."""
    assert (rows["tp"] * rows["pp"] * rows["dp"] * rows["cp"] == rows["num_gpus"]).all()
    assert (rows["num_gpus"] % rows["gpus_per_node"] == 0).all()
    assert (rows["global_batch_seqs"] % rows["dp"] == 0).all()
    pp = rows[rows["pp"] > 1]
    assert (pp["layers"] % (pp["pp"] * pp["vpp"]) == 0).all()
    assert ((pp["global_batch_seqs"] // pp["dp"]) % pp["pp"] == 0).all()


def test_derived_tokens_per_s(rows):
    """The one derived column is global batch x seq / iteration time / GPUs."""
    tok = rows["global_batch_seqs"] * rows["seq_len"] / rows["value"] / rows["num_gpus"]
    assert ((tok / rows["tokens_per_s_per_gpu_derived"] - 1).abs() < 1e-3).all()


def test_reported_mfu_is_the_iteration_time(rows):
    """The reports' MFU (Chowdhery et al. / Korthikanti et al.: model FLOPs, no causal halving, over 989
    TFLOP/s) comes back from their printed iteration time with the planner's FLOP count
    (planner.model.flops.step_flops, causal_half=False) within what the printing allows: the iteration
    time's last digit (0.57 s is 0.565-0.575) plus the MFU's. This ties the copied time, batch, GPU count
    and architecture (the FFN width, not printed in the reports' Table 1) to the reports' MFU column."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.flops import step_flops

    cat = load_catalog()
    for r in rows.itertuples():
        case = validate.pr2_case(cat, r)
        fl = float(step_flops(case.model, int(r.seq_len), int(r.global_batch_seqs), causal_half=False)["model"])
        mfu = fl / r.value / r.num_gpus / (r.peak_tflops_stated * 1e12) * 100
        half_digit = 0.005 if r.value < 1 else 0.05  # the printed time's last digit, halved
        tol = r.mfu_pct_reported * half_digit / r.value + 0.05
        assert mfu == pytest.approx(r.mfu_pct_reported, abs=tol), (r.id, mfu)


def test_stage_days_are_the_tokens_over_the_throughput(rows):
    """Nemotron-4 15B's Table 2 also prints each stage's tokens and days: tokens / (tokens per second) is
    the days printed, to their one decimal (an independent check of the batch and iteration time)."""
    d = rows[rows["days_stage_reported"].notna()]
    assert len(d) == 3
    days = d["tokens_b_stage"] * 1e9 / (d["global_batch_seqs"] * d["seq_len"] / d["value"]) / 86400
    assert ((days - d["days_stage_reported"]).abs() <= 0.05 + days * 0.01).all(), days


def test_rows_map_to_the_stated_layout():
    """validate.pr2_case maps each row to what the report states: the layout, the distributed optimizer
    (ZeRO-1), bf16, sequence parallel, megatron-core, 8 x 400 Gb/s per node, the assumed micro-batch 1."""
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    for r in pd.read_csv(CSV).itertuples():
        case = validate.pr2_case(cat, r)
        c = case.candidates
        got = (int(c.tp[0]), int(c.pp[0]), int(c.dp[0]), int(c.zero[0]), int(c.mb[0]), bool(c.sp[0]))
        assert got == (r.tp, r.pp, r.dp, 1, 1, True), r.id
        assert int(c.vpp[0]) == (1 if r.pp == 1 else int(r.vpp)), r.id
        assert case.stack == "megatron-core" and case.training.precision == "bf16"
        assert case.training.recompute == "none" and not case.training.dropout
        assert case.hw.inter_node_bw == pytest.approx(3200e9 / 8) and case.hw.gpus_per_node == 8
        assert validate.pr2_source(r.id) == "tech_reports"


def test_production_layouts_fit_in_memory():
    """The runs happened: the most loaded rank of each mapped row (planner.model.memory, with the assumed
    micro-batch 1, no recompute and the 340B's 8 virtual stages) fits the H100's 80 GB."""
    import numpy as np
    import validate
    from hardware_catalog import load_catalog
    from planner.model.memory import memory_per_gpu

    cat = load_catalog()
    for r in pd.read_csv(CSV).itertuples():
        case = validate.pr2_case(cat, r)
        st = validate.row_stack(case.stack, case.options)
        total = float(np.ravel(memory_per_gpu(case.model, case.training, case.candidates, stack=st)["total"])[0])
        assert total <= case.hw.gpu.memory_bytes, (r.id, total / 2**30)
