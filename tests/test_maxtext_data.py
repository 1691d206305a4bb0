"""benchmarks/data/maxtext_runs.csv (MaxText step lines of Google Cloud's TPU v6e training recipes, validate.maxtext):
each row's columns are its README's log line, the line's own numbers agree with each other and with the workload's
batch, the TFLOP/s/device MaxText printed is the planner's FLOP count of the row's model and batch over the step (so
model, vocabulary, batch and sequence are the run's), and the row maps to FSDP over every chip: one ICI slice, or
(the multislice rows) whole v6e-256 slices joined over the data-center network at the catalog's sourced rate."""
import re
import sys

import pytest

from conftest import ROOT, assert_cites_no_held_out_source

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "maxtext_runs.csv"


def test_layout_and_provenance(rows):
    assert rows["id"].is_unique and rows["id"].str.match(r"maxtext_v6e_").all()
    blob = r"https://github\.com/AI-Hypercomputer/tpu-recipes/blob/[0-9a-f]{40}/training/trillium/[^ ]+README\.md$"
    assert rows["provenance"].str.match(blob).all()
    assert rows["config_provenance"].str.match(
        r"https://github\.com/AI-Hypercomputer/maxtext/blob/(tpu-recipes-v0\.1\.[24]|50bafeb98299458f73d853b1325787a6d241d10c)"
        r"/benchmarks/maxtext_trillium_model_configs\.py").all()
    assert rows["metric"].eq("iteration_time_s").all() and (rows["value"] == rows["step_s"]).all()
    assert (rows["slice"] == "v6e-" + (rows["chips"] // rows["num_slices"]).astype(str)).all()
    assert (rows["chips"] % rows["num_slices"] == 0).all()
    assert_cites_no_held_out_source(rows)


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
    # tpu-recipes-v0.1.5 (the Gemma3 rows) counts attention at half (MaxText PR #1988): the whole attention term
    # halved, Gemma3 12B's local layers (each query over its 1,024-token window, counted as such here) included;
    # with it halved, and only then, the count matches
    assert set(rows["tflops_attention"]) == {"full", "causal half"}
    assert (rows["tflops_attention"].eq("causal half") == rows["maxtext_version"].eq("tpu-recipes-v0.1.5")).all()
    for r in rows.itertuples():
        half = r.tflops_attention == "causal half"
        fl = step_flops(validate.maxtext_model(r), r.seq_len, r.global_batch_seqs)
        full, attn = float(fl["model"]), 3 * float(fl["attention_fwd"])  # model = 3 x forward
        f, other = (full - attn / 2, full) if half else (full, full - attn / 2)
        assert other / (r.step_s * r.chips) / 1e12 != pytest.approx(r.tflops_per_device_printed, rel=3e-3), r.id
        per_dev = f / (r.step_s * r.chips) / 1e12
        assert per_dev == pytest.approx(r.tflops_per_device_printed, rel=1e-3), r.id
        mfu[r.id] = r.tflops_per_device_printed * 1e12 / peak
    # tiering.md (v6e Gold): Llama 3.1 8B 45.46%, Llama 3.1 70B 50.33%, Llama 2 70B 43.8%
    assert mfu["maxtext_v6e_llama31-8b_256"] == pytest.approx(0.4546, abs=5e-4)
    assert mfu["maxtext_v6e_llama31-70b_256"] == pytest.approx(0.5033, abs=5e-4)
    assert mfu["maxtext_v6e_llama2-70b_256"] == pytest.approx(0.438, abs=5e-4)


#: the multislice runs (tpu-recipes READMEs, --num_slices > 1): id -> (slices, chips, the DCN axis the workload sets)
MULTISLICE = {"maxtext_v6e_llama31-405b_2x256": (2, 512, "dcn_fsdp_parallelism 2"),
              "maxtext_v6e_gemma3-12b_2x256": (2, 512, "dcn_data_parallelism -1"),
              "maxtext_v6e_gemma3-12b_4x256": (4, 1024, "dcn_data_parallelism -1")}


def test_multislice_rows(rows):
    """The multislice rows: v6e-256 slices (the README's --device_type v6e-256 --num_slices N), chips = every chip
    of every slice (Tokens/s/device x chips x seconds = total_weights, above), the DCN axis the workload sets or
    MaxText's base.yml default (dcn_data_parallelism -1); every other row one slice. The single-slice Gemma3 12B run
    of the same recipe set is there too (the 1 -> 2 -> 4 slice series at the same per-device batch and sequence)."""
    multi = rows[rows["num_slices"] > 1].set_index("id")
    assert set(multi.index) == set(MULTISLICE)
    for rid, (n, chips, dcn) in MULTISLICE.items():
        r = multi.loc[rid]
        assert (r["num_slices"], r["chips"], r["slice"]) == (n, chips, "v6e-256") and dcn in r["mesh"], rid
        assert f"num_slices={n}" in r["notes"] or f"{['', 'One', 'Two', 'Three', 'Four'][n]} v6e-256 slices" in r["notes"], rid
    g = rows[rows["model"] == "gemma3-12b"].set_index("num_slices")
    assert list(g.index.sort_values()) == [1, 2, 4]
    assert g["seq_len"].eq(32768).all() and g["per_device_batch"].eq(1).all() and g["maxtext_version"].nunique() == 1


def test_multislice_rows_cross_the_data_center_network(rows):
    """validate.maxtext maps a multislice row as ``recommend`` prices num_slices x gcp:tpu-v6e-256: a node is one
    256-chip slice (ICI inside, the chip's 400 GB/s per direction), slices over the catalog's DCN figure (100 Gb/s per
    chip); FSDP (ZeRO-3) over every chip of every slice. The same rows with ICI between the slices predict less
    time: the DCN is priced, and it is not the ICI."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.step_time import step_time

    cat = load_catalog()
    out = validate.maxtext(cat).set_index("id")
    for rid, (n, chips, _) in MULTISLICE.items():
        r = next(rows[rows["id"] == rid].itertuples())
        hw, g = validate.maxtext_multislice_hw(cat, r)
        assert g == 256 and hw.gpus_per_node == 256 and hw.intra_bw == pytest.approx(400e9)
        assert hw.inter_node_bw / g * 8 / 1e9 == pytest.approx(100.0)
        assert out.loc[rid, "dp"] == chips and out.loc[rid, "gpus"] == chips
        # the same row with ICI (400 GB/s per chip) between the slices instead of DCN
        ici = validate.hw_option(cat, r.tpu, g, 400 * 8 * g)
        assert hw.inter_bw_per_gpu * 32 == pytest.approx(ici.inter_bw_per_gpu)
        model, tr, c, stack = validate.maxtext_case(r, g)
        dcn_s = float(step_time(model, tr, c, hw, framework=stack)["step_time_s"][0])
        ici_s = float(step_time(model, tr, c, ici, framework=stack)["step_time_s"][0])
        assert dcn_s == pytest.approx(out.loc[rid, "predicted_s"]) and dcn_s > ici_s, rid


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
