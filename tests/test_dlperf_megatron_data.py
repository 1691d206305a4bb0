"""benchmarks/data/dlperf_megatron_runs.csv (validate.dlperf_megatron, source ``dlperf_megatron``): OneFlow's DLPerf
benchmark of NVIDIA Megatron-LM GPT pre-training on 1-4 nodes of 8 x V100-SXM2-16GB, one row per test case. Every row
carries its provenance (the README, the launch script, the summary report, each pinned to a commit), its layout adds
up, its latency is the summary report's sequences/s (a mis-copied cell fails), its vocabulary is Megatron-LM's
padding of GPT-2's, and the loader maps every row as nar21's Megatron-LM of the same container."""
import math
import sys

import numpy as np

from conftest import ROOT, assert_cites_no_held_out_source

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "dlperf_megatron_runs.csv"
PROVENANCE = ("id", "case", "log", "source_url", "script_url", "check_url", "date", "notes", "assumptions",
              "stack_as_run", "interconnect", "read_date")
DLPERF = "https://github.com/Oneflow-Inc/DLPerf/blob/"


def test_provenance_filled(rows):
    assert rows["id"].is_unique and len(rows) == 18 and rows["id"].str.startswith("dlperf_megatron_").all()
    for col in PROVENANCE:
        assert rows[col].notna().all() and rows[col].astype(str).str.strip().ne("").all(), col
    assert rows["read_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert (rows["gpu"] == "V100-SXM2-16GB").all() and (rows["inter_node_gbps"] == 100).all()
    # DLPerf's page for these runs lives at Megatron-LM/README.md of OneFlow's repository, a path the guard's
    # "Megatron-LM ... README" pattern (NVIDIA's README performance table) would match: the URL columns are pinned to
    # OneFlow's files exactly here, every other cell goes through the guard
    assert set(rows["source_url"]) == {DLPERF + "248fcd8d7e58e159ebee8396ebb03d0f2676ab03/Megatron-LM/README.md"}
    assert set(rows["script_url"]) == {DLPERF + "10f797983758738c95f10a4a3b1ecc00af1bd7ef/Megatron-LM/scripts/"
                                       "mutil_perf_pretrain_gpt_dp_mp_pp.sh"}
    assert set(rows["check_url"]) == {DLPERF + "4bdc37d90ada39b7f6639b19234181dc097f2dba/reports/GPT/"
                                      "dlperf_gpt_test_report_210512.md"}
    assert_cites_no_held_out_source(rows.drop(columns=["source_url", "script_url", "check_url"]))


def test_layout_adds_up(rows):
    """GPUs = DP x TP x PP = nodes x GPUs a node; the global batch is micro-batch x DP x accumulation; whole heads a
    TP rank and whole layers a stage; the case name spells the layout (DP x TP x PP, batch, hidden x layers)."""
    assert (rows["dp"] * rows["tp"] * rows["pp"] == rows["num_gpus"]).all()
    assert (rows["num_nodes"] * rows["gpus_per_node"] == rows["num_gpus"]).all()
    assert (rows["micro_batch"] * rows["dp"] * rows["grad_accum"] == rows["global_batch_seqs"]).all()
    assert (rows["heads"] % rows["tp"] == 0).all() and (rows["layers"] % rows["pp"] == 0).all()
    for r in rows.itertuples():
        layout, gb, shape = r.case.split("_")[-3:]
        assert layout == f"{r.dp}x{r.tp}x{r.pp}" and int(gb) == r.global_batch_seqs, r.id
        assert shape == f"{r.hidden}x{r.layers}", r.id


def test_latency_is_the_summary_reports_throughput(rows):
    """The summary report (reports/GPT/dlperf_gpt_test_report_210512.md) prints Megatron-LM's sequences/s to two
    decimals: each is the case's global batch over its README latency."""
    seq_per_s = rows["global_batch_seqs"] / (rows["latency_ms"] / 1e3)
    assert (np.abs(seq_per_s - rows["check_seq_per_s"]) <= 0.006).all()


def test_vocabulary_is_megatrons_padding(rows):
    """Megatron-LM's ``_vocab_size_with_padding``: GPT-2's 50,257 up to a multiple of 128 x TP (51,200 at TP 8)."""
    assert (rows["vocab"] == 50257).all()
    for r in rows.itertuples():
        m = 128 * r.tp
        assert r.vocab_padded == math.ceil(50257 / m) * m and r.vocab_padded % m == 0 and r.vocab_padded - 50257 < m
    assert set(rows.loc[rows["tp"] == 8, "vocab_padded"]) == {51200}


def test_loader_maps_every_row_as_megatron_lm_2021(rows):
    """Every row scored, its measured step the README latency; each step_time call runs nar21's stack and training
    (fp16 gradients, full recompute, no flash) with local DDP's reduce after the backward, on the V100 node."""
    import validate
    from hardware_catalog import load_catalog

    with validate.recording() as calls:
        out = validate.dlperf_megatron(load_catalog()).set_index("id")
    assert list(out.index) == list(rows["id"]) and (out["source"] == "dlperf_megatron").all()
    np.testing.assert_allclose(out["measured_s"], rows["latency_ms"].to_numpy() / 1e3)
    assert np.isfinite(out["predicted_s"]).all() and (out["predicted_s"] > 0).all()
    assert len(calls) == len(rows)
    for c, r in zip(calls, rows.itertuples()):
        assert c.kw["framework"] is validate.NAR21_STACK and c.kw["overlap_grad_reduce"] is False
        assert (c.training.precision, c.training.grad_dtype, c.training.recompute) == ("fp16", "same", "full")
        assert not c.training.flash_attention and c.model.vocab == r.vocab_padded
        assert c.hw.gpu.name == "V100-SXM2-16GB" and c.hw.inter_node_bw == 100e9 / 8 and c.hw.gpus_per_node == 8
    sizes = out.groupby("model").size()
    assert sizes["gpt-16x1536/gb16"] == 6 and sizes["gpt-24x2304/gb512"] == 3  # the within-model ranks
