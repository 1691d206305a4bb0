"""benchmarks/data/fms_compile_runs.csv (validate.fms_compile, source ``fms_compile``): the PyTorch blog "Maximizing
Training Throughput Using PyTorch FSDP and Torch.compile" (IBM / Meta, 2024-05-21), one row per MFU cell. Every row
carries its provenance (URL, the table cell quoted, the reference pair its MFU is converted at), its layout adds up,
its step time is the published MFU at its reference pair (recomputed here independently of
validate.OPEN_REPORTS_STEP), the no-compile cells are kept unscored with their reason, and the loader maps every
scored row -- and every unscored one would map too."""
import math
import sys

import pytest

from conftest import ROOT, assert_cites_no_held_out_source

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "fms_compile_runs.csv"
PROVENANCE = ("source_url", "source_loc", "quote", "date", "layout_source", "read_date", "notes", "stack_as_run",
              "interconnect", "flop_formula", "ref_loc", "cross_check")
#: the blog's MFU compile column (Tables 1 and 2) and the prior blog's printed (tokens/s/GPU, MFU) pairs, typed
#: in again here so a slip in the builder shows
COMPILE_MFU = {"a100_7b": 0.68, "a100_13b": 0.60, "a100_34b": 0.54, "a100_70b": 0.55,
               "h100_7b": 0.45, "h100_13b": 0.43, "h100_34b": 0.38, "h100_70b": 0.38}
PRIOR_PAIR = {"a100_7b": (3700, 0.57), "a100_13b": (1800, 0.51), "a100_34b": (700, 0.47), "a100_70b": (370, 0.50),
              "h100_7b": (7500, 0.37), "h100_13b": (3800, 0.35), "h100_34b": (1550, 0.32), "h100_70b": (800, 0.34)}


def test_provenance_filled(rows):
    for col in PROVENANCE:
        blank = rows[rows[col].isna() | (rows[col].astype(str).str.strip() == "")]
        assert blank.empty, (col, list(blank["id"]))
    assert (rows["source_url"] == "https://pytorch.org/blog/maximizing-training-throughput/").all()
    assert rows["id"].is_unique and len(rows) == 16


def test_cells_are_the_blogs(rows):
    """The compile rows hold the blog's compile MFU and the prior blog's pair; the quoted cell holds the value."""
    for r in rows.itertuples():
        key = r.id.removeprefix("fmsc_").rsplit("_", 1)[0]
        assert (r.ref_tokens_per_s, r.ref_mfu) == PRIOR_PAIR[key], r.id
        if r.scored:
            assert r.value == COMPILE_MFU[key] and "compile=True" in r.stack_options, r.id
        assert f"| {r.value:.2f} |" in r.quote, r.id


def test_only_the_no_compile_cells_are_unscored_and_say_why(rows):
    assert set(rows.loc[~rows["scored"], "id"]) == {i.replace("_compile", "_eager") for i in rows.loc[rows["scored"], "id"]}
    reasons = rows.loc[~rows["scored"], "not_scored_reason"]
    assert reasons.str.contains("open_reports fms_blog_").all()


def test_layout_adds_up(rows):
    for r in rows.itertuples():
        assert r.tp * r.pp * r.dp == r.num_gpus, r.id
        assert r.dp * r.micro_batch * r.grad_accum == r.global_batch_seqs, r.id
        assert r.num_gpus % r.gpus_per_node == 0, r.id
        if r.dp_shard == r.dp_shard:  # HSDP: whole replicas of the shard group
            assert r.dp % r.dp_shard == 0, r.id


def test_step_time_is_the_mfu_at_the_reference_pair(rows):
    """tokens/s/GPU = reference tokens/s x MFU / reference MFU, so the step is the batch's tokens over that."""
    for r in rows.itertuples():
        key = r.id.removeprefix("fmsc_").rsplit("_", 1)[0]
        tps, mfu = PRIOR_PAIR[key]
        want = r.global_batch_seqs * r.seq_len / (tps * r.value / mfu * r.num_gpus)
        assert r.measured_step_s == pytest.approx(want, rel=1e-4), r.id
    eager = rows[~rows["scored"] & rows["id"].str.startswith("fmsc_a100")]  # the prior blog's own runs: its tokens/s
    assert (eager["global_batch_seqs"] * eager["seq_len"] / eager["measured_step_s"] / eager["num_gpus"]).round().tolist() \
        == eager["ref_tokens_per_s"].tolist()


def test_loader_maps_every_scored_row_and_every_row_would_map(rows):
    import validate
    from hardware_catalog import load_catalog
    from planner.model.step_time import step_time

    cat = load_catalog()
    out = validate.fms_compile(cat).set_index("id")
    assert set(out.index) == set(rows.loc[rows["scored"], "id"]) and len(out) == 8
    assert (out["source"] == "fms_compile").all()
    for r in rows.itertuples():
        if r.scored:
            assert out.loc[r.id, "measured_s"] == pytest.approx(r.measured_step_s, rel=1e-4), r.id
        model, tr, c, hw, stack = validate.open_reports_case(cat, r)
        pred = float(step_time(model, tr, c, hw, framework=stack)["step_time_s"][0])
        assert math.isfinite(pred) and pred > 0, r.id


def test_cites_no_held_out_source(rows):
    assert_cites_no_held_out_source(rows)
