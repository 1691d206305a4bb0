"""benchmarks/data/maxtext_runs.csv (MaxText step lines of Google Cloud's TPU v6e training recipes, validate.maxtext):
each row's columns are its README's log line, the line's own numbers agree with each other and with the workload's
batch, the TFLOP/s/device MaxText printed is the planner's FLOP count of the row's model and batch over the step (so
model, vocabulary, batch and sequence are the run's), and the row maps to one ICI slice of FSDP over every chip."""
import re
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.test_parts_data import FORBIDDEN

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "maxtext_runs.csv"


@pytest.fixture(scope="module")
def rows():
    return pd.read_csv(CSV)


def test_layout_and_provenance(rows):
    assert rows["id"].is_unique and rows["id"].str.match(r"maxtext_v6e_").all()
    blob = r"https://github\.com/AI-Hypercomputer/tpu-recipes/blob/[0-9a-f]{40}/training/trillium/[^ ]+README\.md$"
    assert rows["provenance"].str.match(blob).all()
    assert rows["config_provenance"].str.match(
        r"https://github\.com/AI-Hypercomputer/maxtext/blob/tpu-recipes-v0\.1\.[24]/benchmarks/maxtext_trillium_model_configs\.py").all()
    assert rows["metric"].eq("iteration_time_s").all() and (rows["value"] == rows["step_s"]).all()
    assert rows["num_slices"].eq(1).all() and (rows["slice"] == "v6e-" + rows["chips"].astype(str)).all()
    text = [" ".join(map(str, r)) for r in rows.itertuples(index=False)]
    for pat, what in FORBIDDEN:
        assert not any(pat.search(t) for t in text), what


def test_columns_are_the_log_line(rows):
    """Every number of the row is read from its verbatim log line (the builder's parse), not typed twice."""
    for r in rows.itertuples():
        m = re.fullmatch(r"completed step: (\d+), seconds: ([\d.]+), TFLOP/s/device: ([\d.]+), Tokens/s/device: ([\d.]+), "
                         r"total_weights: (\d+), loss: [\d.]+", r.log_line)
        assert m, r.id
        assert (int(m[1]), float(m[2]), float(m[3]), float(m[4]), int(m[5])) == (
            r.step, r.step_s, r.tflops_per_device_printed, r.tokens_per_s_per_device_printed, r.total_weights), r.id


def test_tokens_per_device_times_chips_times_step_is_the_global_batch(rows):
    """Tokens/s/device x chips x seconds = total_weights (the step's target tokens; synthetic data, every position a
    target) = chips x per_device_batch x seq: the line belongs to a run of the row's batch, chips and sequence. Within
    0.1% (the printed rates are rounded to 3 decimals and the step to ms)."""
    tok = rows["tokens_per_s_per_device_printed"] * rows["chips"] * rows["step_s"]
    assert ((tok / rows["total_weights"] - 1).abs() < 1e-3).all()
    assert (rows["total_weights"] == rows["global_batch_seqs"] * rows["seq_len"]).all()
    assert (rows["global_batch_seqs"] == rows["chips"] * rows["per_device_batch"]).all()
    # the one row whose README config and log line disagree: the line (per-device batch 2) decides, and says so
    odd = rows[rows["per_device_batch"] != rows["config_per_device_batch"]]
    assert list(odd["id"]) == ["maxtext_v6e_llama2-70b_256"] and odd["pdb_from"].eq("log total_weights").all()
    assert "INFERRED" in odd["notes"].iloc[0]


def test_printed_tflops_is_the_planners_flop_count(rows):
    """MaxText's TFLOP/s/device (calculate_tflops_training_per_device of these releases: 6 x the matmul FLOPs incl. the
    logits, attention at the full s^2 -- before its PR #1988 halved causal attention) equals the planner's model FLOPs
    (planner.model.flops.step_flops ``model``, causal_half False) of the row's model (validate.maxtext_model), sequence and global batch over
    step x chips, within 0.1%: the preset (layers, widths, vocabulary, MoE top-k) and batch are the run's. And the
    MFU MaxText's tiering.md lists for three of these runs is that over the v6e's 918 TFLOP/s bf16 peak."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.flops import step_flops

    peak = load_catalog().gpu("TPU-v6e").peak_flops["bf16"]
    mfu = {}
    for r in rows.itertuples():
        f = float(step_flops(validate.maxtext_model(r), r.seq_len, r.global_batch_seqs)["model"])
        per_dev = f / (r.step_s * r.chips) / 1e12
        assert per_dev == pytest.approx(r.tflops_per_device_printed, rel=1e-3), r.id
        mfu[r.id] = r.tflops_per_device_printed * 1e12 / peak
    # tiering.md (v6e Gold): Llama 3.1 8B 45.46%, Llama 3.1 70B 50.33%, Llama 2 70B 43.8%
    assert mfu["maxtext_v6e_llama31-8b_256"] == pytest.approx(0.4546, abs=5e-4)
    assert mfu["maxtext_v6e_llama31-70b_256"] == pytest.approx(0.5033, abs=5e-4)
    assert mfu["maxtext_v6e_llama2-70b_256"] == pytest.approx(0.438, abs=5e-4)


def test_rows_map_to_one_fsdp_slice(rows):
    """validate.maxtext: the maxtext stack on TPU-v6e, ZeRO-3 over every chip, TP = PP = 1, micro-batch = per-device
    batch, full recompute, 8-chip hosts on the slice's ICI; Mixtral with token dropping at capacity 1.25."""
    import validate
    from hardware_catalog import load_catalog

    out = validate.maxtext(load_catalog()).set_index("id")
    assert out["source"].eq("maxtext").all() and out["stack"].eq("maxtext").all() and out["gpu"].eq("TPU-v6e").all()
    r = rows.set_index("id")
    assert (out["dp"] == r["chips"]).all() and out["tp"].eq(1).all() and out["pp"].eq(1).all()
    assert (out["mb"] == r["per_device_batch"]).all() and (out["measured_s"] == r["step_s"]).all()
    assert out["predicted_s"].gt(0).all()
    assert validate.MAXTEXT_ICI_GBPS_PER_CHIP == 3200  # v6e: 800 GB/s bidirectional ICI per chip, 400 per direction
    assert load_catalog().gpu("TPU-v6e").intra_node_bw == pytest.approx(400e9)
