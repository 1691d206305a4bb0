"""benchmarks/data/olmo_core_runs.csv (validate.olmo_core, source ``olmo_core``): Ai2's OLMo-core README throughput
table, one row per cell. Every row carries its provenance (URL, the README cell quoted, its date, the script its
layout came from), its layout adds up, its step time is the published tokens/s/device at the row's batch and GPU
count (recomputed here independently of validate.OPEN_REPORTS_STEP), the loader reads every row and every row runs
through the step-time model."""
import math
import sys

import pytest

from conftest import ROOT, assert_cites_no_held_out_source

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "olmo_core_runs.csv"
PROVENANCE = ("source_url", "source_loc", "quote", "date", "layout_source", "read_date", "notes", "stack_as_run",
              "interconnect")


def test_provenance_filled(rows):
    for col in PROVENANCE:
        blank = rows[rows[col].isna() | (rows[col].astype(str).str.strip() == "")]
        assert blank.empty, (col, list(blank["id"]))
    assert rows["source_url"].str.startswith("https://github.com/allenai/OLMo-core").all()
    assert rows["id"].is_unique and len(rows) >= 8


def test_quote_holds_the_row_value(rows):
    """The quoted README cell is the number the row takes (thousands separated as the README prints them), at the
    precision the row runs."""
    for r in rows.itertuples():
        assert f"{int(r.value):,} TPS" in r.quote, r.id
        assert ("BF16/FP8" in r.quote) == (r.precision == "fp8"), r.id


def test_layout_adds_up(rows):
    for r in rows.itertuples():
        assert r.tp * r.pp * r.dp == r.num_gpus, r.id
        assert r.dp * r.micro_batch * r.grad_accum == r.global_batch_seqs, r.id
        assert r.num_gpus % r.gpus_per_node == 0, r.id
        if r.dp_shard == r.dp_shard:  # HSDP: whole replicas of the shard group
            assert r.dp % r.dp_shard == 0, r.id


def test_derived_step_time_is_the_published_throughput(rows):
    for r in rows.itertuples():
        assert r.global_batch_seqs * r.seq_len / r.measured_step_s / r.num_gpus == pytest.approx(r.value, rel=1e-4), r.id


def test_loader_reads_every_row_and_every_row_runs(rows):
    import validate
    from hardware_catalog import load_catalog

    out = validate.olmo_core(load_catalog()).set_index("id")
    assert rows["scored"].all()
    assert set(out.index) == set(rows["id"]) and len(out) == len(rows)
    assert (out["source"] == "olmo_core").all()
    for r in rows.itertuples():
        assert out.loc[r.id, "measured_s"] == pytest.approx(r.measured_step_s, rel=1e-4), r.id
        pred = out.loc[r.id, "predicted_s"]
        assert math.isfinite(pred) and pred > 0, r.id


def test_olmo2_rows_carry_full_width_qk_norm(rows):
    """OLMo 2 (TransformerConfig.olmo2_*: qk_norm over the whole q / k projections) runs its q/k norms; the Llama-3
    8B shape does not; the 7B matches the planner's olmo2-7b preset."""
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    for r in rows.itertuples():
        model = validate.open_reports_case(cat, r)[0]
        assert model.qk_norm == ("none" if r.id.startswith("olmocore_8b") else "full"), r.id
    assert (rows.loc[rows["id"].str.startswith("olmocore_7b"), "preset"] == "olmo2-7b").all()


def test_cites_no_held_out_source(rows):
    assert_cites_no_held_out_source(rows)
