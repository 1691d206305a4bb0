"""benchmarks/data/h200_runs.csv (Google Cloud gpu-recipes A3 Ultra H200 rows and their A3 Mega H100 pair,
validate.h200): each row is the log line its README prints, that line belongs to a run of the row's config,
and the row maps to what the config sets."""
import math
import sys

import pytest

from conftest import ROOT, assert_cites_no_held_out_source, assert_layout_adds_up

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "h200_runs.csv"
GPT2_VOCAB = 50257  # the GPT-2 BPE tokenizer every config names (gpt2-vocab.json)


def test_layout_and_provenance(rows):
    assert rows["id"].is_unique and rows["id"].str.startswith("h200").all()
    assert_layout_adds_up(rows)
    blob = r"https://github\.com/AI-Hypercomputer/gpu-recipes/blob/[0-9a-f]{40}/"
    assert rows["provenance"].str.match(blob + r"training/a3(ultra|mega)/.+/README\.md$").all()
    assert rows["config_provenance"].str.match(blob + r"src/frameworks/a3(ultra|mega)/nemo-configs/.+\.yaml$").all()
    assert rows["metric"].eq("iteration_time_s").all() and rows["value"].gt(0).all()
    assert rows["container"].str.contains(r"NeMo 24\.(?:07|12)|nemo:24\.07").all()
    assert_cites_no_held_out_source(rows)


def test_log_line_belongs_to_the_config(rows):
    """NeMo's DLLogger ``consumed_samples`` after step k (0-based) is (k + 1) x GBS: the printed line comes from
    a run of this global batch (the A3 Mega Mixtral README's line fails this: 98304 at step 47 is GPT-3's 2048)."""
    assert (rows["consumed_samples_printed"] == (rows["log_step"] + 1) * rows["global_batch_seqs"]).all()


def test_derived_throughput_is_the_step_time(rows):
    """tokens/s/GPU stored beside the step time is seq x GBS / step / GPUs, recomputed from the row's own numbers,
    and the step time comes back from it (a mis-copied digit in either shows)."""
    tok = rows["seq_len"] * rows["global_batch_seqs"] / rows["value"] / rows["num_gpus"]
    assert ((tok - rows["tokens_per_s_per_gpu_derived"]).abs() < 0.06).all()
    step = rows["seq_len"] * rows["global_batch_seqs"] / rows["tokens_per_s_per_gpu_derived"] / rows["num_gpus"]
    assert ((step / rows["value"] - 1).abs() < 1e-4).all()
    # the 70B pair as printed: 20.021 s on 256 H200, 45.814 s on 128 H100 (same GBS 1024 x 8192 tokens)
    pair = rows.set_index("id")["tokens_per_s_per_gpu_derived"]
    assert pair["h200_a3u_nemo2407_llama31-70b_fp8_256"] == pytest.approx(1636.7, abs=0.1)
    assert pair["h200_a3mega-h100_nemo2407_llama3-70b_fp8_128"] == pytest.approx(1430.6, abs=0.1)


def test_vocab_is_megatrons_padding_of_gpt2(rows):
    """The configs train on the GPT-2 tokenizer; Megatron pads the vocabulary to a multiple of
    make_vocab_size_divisible_by (128) x TP (megatron/training/tokenizer ``_vocab_size_with_padding``)."""
    mult = 128 * rows["tp"]
    assert (rows["vocab"] == [math.ceil(GPT2_VOCAB / m) * m for m in mult]).all()


def test_h100_pair_is_one_h200_and_one_h100_row(rows):
    for _, g in rows.dropna(subset=["h100_pair"]).groupby("h100_pair"):
        assert len(g) == 2 and g["gpu"].str.contains("H200").sum() == 1 and g["gpu"].str.contains("H100").sum() == 1
        assert g["global_batch_seqs"].nunique() == 1 and g["seq_len"].nunique() == 1
        assert g["container"].str.contains("24.07").all()


def test_rows_map_to_their_configs(rows):
    """Stack options and model the loader derives from each row: the H200 rows on the catalog's H200 at the
    stated fabric, no TP overlap (every config: ``ub_tp_comm_overlap: false``), bf16 gradient reduction, and the
    Mixtral row's token dropping, EP 8 and per-expert GEMMs (``moe_grouped_gemm: false``)."""
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    cases = {r.id: validate.pr2_case(cat, r) for r in rows.itertuples()}
    for rid, c in cases.items():
        assert c.stack == "megatron-core" and validate.pr2_source(rid) == "h200"
        assert c.hw.gpu.name == ("H100-SXM-80GB" if "h100" in rid else "H200-SXM-141GB")
        assert c.hw.inter_node_bw * 8 / 1e9 == (1600 if "a3mega" in rid else 3200)
        assert c.training.grad_dtype == "same"
        assert c.options.get("tp_overlap") == "none"  # no config read sets ub_tp_comm_overlap
    mx = cases["h200_a3u_nemo2407_mixtral-8x7b_bf16_256"]
    assert mx.model.moe is not None and not mx.model.moe.dropless and mx.model.moe.capacity_factor == 1.0
    assert int(mx.candidates.ep[0] if hasattr(mx.candidates.ep, "__len__") else mx.candidates.ep) == 8
    assert validate.row_stack(mx.stack, mx.options).moe_grouped_gemm is False
    assert validate.row_stack("megatron-core", {}).moe_grouped_gemm is True
