"""Together AI's B200 official-config runs (benchmarks/data/together_b200_baselines.csv, builder
benchmarks/data/parts/scripts/together.py, source ``together B200 baselines`` in benchmarks/validate.py): the CSV is
what the builder writes, its step times agree with the TFLOP/s the runs print, and the rows map to the layouts and
settings their sources state."""
import sys

import pandas as pd
import pytest

from conftest import ROOT, assert_cites_no_held_out_source, load_parts_script

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "together_b200_baselines.csv"


def _builder():
    """The together builder script (conftest.load_parts_script)."""
    return load_parts_script("together")


def test_csv_is_what_the_builder_writes(rows):
    built = pd.DataFrame(_builder().rows())
    assert list(built["id"]) == list(rows["id"]) and rows["id"].is_unique
    pd.testing.assert_series_equal(built["value"].astype(float), rows["value"].astype(float), check_names=False)
    assert (rows["commit"].str.len() == 40).all() and rows["provenance"].str.contains(
        "togethercomputer/together-dgxc-benchmarking/blob/").all()


def test_step_times_and_printed_tflops_agree(rows):
    """Each row's step x TFLOP/s x GPUs / GBS is the FLOPs per sequence its software counts for the model: within 2%
    of the basis where the step is printed (an independent run of the same model), exactly where it is converted."""
    for r in rows.itertuples():
        per_seq = r.value * r.tflops_per_gpu_printed * 1e12 * r.num_gpus / r.global_batch_seqs
        tol = 0.02 if r.step_time_printed == r.step_time_printed else 0.002
        assert per_seq == pytest.approx(float(r.flops_per_seq_basis), rel=tol), r.id


def test_nemotron340b_steps_give_their_tflops_back_with_the_causal_count(rows):
    """NeMo 2 logs model FLOPs with causal attention halved (tests/test_dgxc_data.py: the together 15B rows): the
    planner's causal-halved FLOPs of Nemotron-4 340B over the converted steps give the printed TFLOP/s back (1%)."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.flops import step_flops

    cat = load_catalog()
    sub = rows[rows["id"].str.contains("nemotron4-340b")]
    assert len(sub) == 2
    for r in sub.itertuples():
        case = validate.pr2_case(cat, r)
        fl = float(step_flops(case.model, int(r.seq_len), int(r.global_batch_seqs), causal_half=True)["model"])
        assert fl / r.value / r.num_gpus / 1e12 == pytest.approx(r.tflops_per_gpu_printed, rel=0.01), r.id


def test_rows_map_to_their_stated_layouts(rows):
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    case = {r.id: validate.pr2_case(cat, r) for r in rows.itertuples()}
    assert {validate.pr2_source(i) for i in case} == {"together B200 baselines"}
    grok = case["togetherbl_grok1-314b_fp8cs_256_tp4pp4vp8"].candidates
    assert (int(grok.tp[0]), int(grok.ep[0]), int(grok.etp[0]), int(grok.vpp[0])) == (4, 8, 1, 8)  # ETP 1 as stated
    for i, c in case.items():
        if "70b" in i and "tp1pp1" in i:  # Megatron-FSDP: the official config's FSDP=True
            assert int(c.candidates.zero[0]) == 3 and c.options.get("megatron_fsdp") is True, i
        if "deepseek-v3" in i or "qwen3" in i:
            assert int(c.candidates.ep[0]) == 8 and c.model.moe is not None, i
        if "_nvfp4_" in i:
            assert c.options["fp8_recipe"] == "nvfp4" and c.options["tp_overlap"] == "none", i
    assert case["togetherbl_nemotron4-340b_bf16_256_tp8pp4vp12"].options.get("cuda_graph_impl") == "local"
    assert case["togetherbl_deepseek-v3_mxfp8_256_tp1pp16"].options["moe_dispatcher"] == "hybridep"
    # the Qwen3 "CG" runs: TE graphs of the router as their sbatch.sh / train.sh state, "moe_router/moe_preprocess"
    # read as a tuple; the HybridEP / A2A experiments keep them and change what they name
    cg = case["togetherbl_qwen3-235b-a22b_mxfp8_256_tp1pp8_cg"].options
    assert cg["cuda_graph_impl"] == "transformer_engine"
    assert cg["cuda_graph_scope"] == ("moe_router", "moe_preprocess")
    assert case["togetherbl_qwen3-235b-a22b_mxfp8_256_tp1pp8_cg-hybridep"].options["moe_dispatcher"] == "hybridep"
    assert case["togetherbl_qwen3-235b-a22b_mxfp8_256_tp1pp8vp4_cg-a2a"].options["moe_a2a_overlap"] is True
    assert "cuda_graph_impl" not in case["togetherbl_qwen3-235b-a22b_mxfp8_256_tp1pp8"].options
    # the recipes that reduce bf16 gradients: every Megatron-Bridge row and the 340B; Grok-1's bf16 run does not
    assert case["togetherbl_llama3.1-405b_fp8cs_256_tp4pp8cp2vp8"].training.grad_dtype == "same"
    assert case["togetherbl_grok1-314b_bf16_256_tp4pp4vp8"].training.grad_dtype == "fp32"


def test_rule_rows_from_both_files_and_listed_rest(rows):
    """The rule's two files both contribute, repeats are one row, and the runs not scored are listed with a reason."""
    b = _builder()
    assert set(rows["table"]) >= {"OFFICIAL_BASELINES.md: Official Configs vs Your Optimized Results",
                                  "qwen3-235b/results.md", "llama3.1-70b/fp8/results.md"}
    r512 = rows[rows["id"] == "togetherbl_llama3.1-70b_fp8cs_512_tp1pp1"].iloc[0]
    assert r512["value"] == pytest.approx((5.39 + 5.41 + 5.40) / 3, abs=1e-3)  # 79133 / 79134 / 79135 averaged
    assert all(why for _, _, why in b.NOT_SCORED) and any("NCCL timeout" in why for _, _, why in b.NOT_SCORED)
    # Nemotron-H 56B, listed until the planner had its preset, is scored: its three jobs, none listed
    assert set(rows.loc[rows["model"] == "Nemotron-H 56B", "num_gpus"]) == {64, 256, 512}
    assert not any("Nemotron-H" in w for w, _, _ in b.NOT_SCORED)


def test_together_source_unchanged_by_the_new_rows():
    """The new rows are their own source: ``together`` keeps its 9 Nemotron-4 15B rows."""
    import validate
    from hardware_catalog import load_catalog

    tog = validate.together(load_catalog())
    assert len(tog) == 9 and set(tog["source"]) == {"together B200"}


def test_megatron_bridge_rows_take_the_mbridge_all_recipe_tables(rows):
    """The Megatron-Bridge runs get their recipe from the tables ``mbridge_all`` uses (validate.mbridge_run ->
    mbridge_recipe, release from the container), not from a copy in the CSV: DeepSeek-V3 B200's mla_up_proj recompute
    and HybridEP, Qwen3-30B B200's all-to-all with TE router graphs (26.02.00, before Megatron-Bridge PR #2499), Qwen3-235B B200's
    all-to-all without overlap; the NeMo 2 rows (340B, Grok-1) get none of it. The 405B NVFP4 rows run the full
    recompute of N layers per stage their reports state (80073: 1, 80076: 8)."""
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    by_id = {r.id: r for r in rows.itertuples()}
    case = {i: validate.pr2_case(cat, r) for i, r in by_id.items()}
    for i, r in by_id.items():
        assert validate.mbridge_run(r) == ("Megatron-Bridge" in r.container), i
        # the row's own options are only what the run changed (the tagged Qwen3 experiments)
        assert (r.stack_options == r.stack_options) == i.endswith(("_cg", "_cg-hybridep", "_cg-a2a", "-paramoverlap")), i
    assert validate.mbridge_release(by_id["togetherbl_deepseek-v3_bf16_256_tp1pp16"]) == (26, 2, 0)
    assert validate.mbridge_release(by_id["togetherbl_llama3.1-70b_fp8cs_256_tp1pp1"]) == (25, 11, 1)
    for i in ("togetherbl_deepseek-v3_bf16_256_tp1pp16", "togetherbl_deepseek-v3_mxfp8_256_tp1pp16"):
        assert list(case[i].training.recompute_modules) == ["mla_up_proj"], i
        assert case[i].options["moe_dispatcher"] == "hybridep" and case[i].options["moe_a2a_overlap"] is False, i
        assert "cuda_graph_impl" not in case[i].options, i
    q30 = case["togetherbl_qwen3-30b-a3b_bf16_64_tp1pp1"].options  # 26.02.00: the B200 config before PR #2499
    assert q30["cuda_graph_scope"] == ("moe_router", "moe_preprocess") and q30["moe_dispatcher"] == "alltoall"
    q235 = case["togetherbl_qwen3-235b-a22b_bf16_256_tp1pp8vp4"].options
    assert q235["moe_dispatcher"] == "alltoall" and q235["moe_a2a_overlap"] is False
    for i in ("togetherbl_nemotron4-340b_bf16_256_tp8pp4vp12", "togetherbl_grok1-314b_bf16_256_tp4pp4vp8"):
        assert not validate.mbridge_run(by_id[i]) and "moe_dispatcher" not in case[i].options, i
    rn = {i: (case[i].training.recompute_method, case[i].training.recompute_num_layers) for i in case
          if "405b_nvfp4" in i}
    assert rn["togetherbl_llama3.1-405b_nvfp4_256_tp4pp16vp8"] == ("block", 1)
    assert rn["togetherbl_llama3.1-405b_nvfp4_256_tp4pp8vp4"] == ("block", 8)
    assert all(m == "block" and n in (1, 8) for m, n in rn.values())
    assert case["togetherbl_llama3.1-405b_fp8cs_256_tp4pp8cp2vp8"].training.recompute_num_layers is None
    # Nemotron-H 56B B200 FP8-CS: the preset's hybrid model (not the row's dense columns), TE graphs of the Mamba and
    # attention layers (NEMOTRONH_56B_PRETRAIN_CONFIG_B200_FP8_CS_V1), bf16 gradient reduction
    for i in ("togetherbl_nemotron-h-56b_fp8cs_64_tp2pp1", "togetherbl_nemotron-h-56b_fp8cs_512_tp2pp1"):
        c = case[i]
        assert validate.mbridge_run(by_id[i]) and c.model.hybrid_pattern.count("*") == 10 and c.model.mamba.d_state == 256
        assert c.options["cuda_graph_impl"] == "transformer_engine" and set(c.options["cuda_graph_scope"]) == {"attn", "mamba"}
        assert c.options["fp8_recipe"] == "tensorwise" and c.training.grad_dtype == "same" and int(c.candidates.tp[0]) == 2


def test_cites_no_held_out_source(rows):
    """No row cites a source kept apart to judge the model (tests/conftest.py FORBIDDEN)."""
    assert_cites_no_held_out_source(rows)
