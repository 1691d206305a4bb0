"""benchmarks/data/mbridge_all_runs.csv (every stored version of Megatron-Bridge's performance tables,
validate.mbridge_all): the rows are what the tables print, each traced to a snapshot, none of them a
duplicate of published_runs_2.csv's ``mbridge`` rows, and the tables' TFLOP/s column agrees with the
planner's model FLOP count."""
import re
import sys

import pytest

from conftest import ROOT, assert_cites_no_held_out_source, assert_layout_adds_up, load_parts_script

sys.path.insert(0, str(ROOT / "benchmarks"))



def _builder():
    """The mbridge_all builder script (conftest.load_parts_script)."""
    return load_parts_script("mbridge_all")

CSV = ROOT / "benchmarks" / "data" / "mbridge_all_runs.csv"
SNAPSHOT = re.compile(r"https://github\.com/[\w.-]+/[\w.-]*[Mm]egatron-[Bb]ridge[\w.-]*/blob/[0-9a-f]{40}/"
                      r"docs/performance-summary(-archive)?\.md$")


def test_layout_and_provenance(rows):
    assert rows["id"].is_unique and rows["id"].str.startswith("mbridgeall_").all()
    assert_layout_adds_up(rows)
    assert rows["provenance"].str.match(SNAPSHOT).all()
    also = [u for a in rows["also_at"].dropna() for u in a.split("; ")]
    assert also and all(SNAPSHOT.match(u) for u in also)
    assert rows["metric"].eq("tokens_per_s_per_gpu").all() and rows["value"].eq(rows["tokens_per_s_printed"]).all()
    assert_cites_no_held_out_source(rows)


def test_step_time_is_the_printed_throughput(rows):
    """step_time_s = GBS x seq / (tokens/s/GPU x GPUs), and the printed GA is GBS / (DP x MBS) but on the one row
    whose GA cell is the odd one out (25.11 GB300 Qwen3 235B BF16: MBS 2 as its config, GA 32; overmem40)."""
    step = rows["global_batch_seqs"] * rows["seq_len"] / (rows["value"] * rows["num_gpus"])
    assert ((rows["step_time_s"] / step - 1).abs() < 1e-5).all()
    odd = rows["notes"].str.contains("printed GA .* is not GBS", regex=True, na=False)
    assert rows.loc[odd, "id"].tolist() == ["mbridgeall_2511c_gb300_qwen3-235b-a22b_bf16_256"]
    ga = rows[rows["ga_printed"].notna() & ~odd]
    assert len(ga) > 50
    assert (ga["ga_printed"] == ga["global_batch_seqs"] // (ga["dp"] * ga["micro_batch"])).all()


@pytest.mark.parametrize("rid,tokens,tflops,gbs,mbs", [
    # cells read off the snapshots by hand (26.02 first print, NVIDIA-NeMo @df0289c1; 26.04.01 balasaajay
    # @a5b89bb0; 26.06 slikhite-1 @7e5c47ff; 25.09 MX variant "3986 (3546)" with GA "1 (16)")
    ("mbridgeall_2602a_gb300_llama3-70b_nvfp4_64", 6798, 3056, 256, 1),
    ("mbridgeall_260401b_h100_qwen3-235b-a22b_fp8cs_256", 1696, 252, 8192, 1),
    ("mbridgeall_2606_gb300_deepseek-v3_mxfp8_256_2", 6422, 1670, 15360, 1),
    ("mbridgeall_2509_gb200_llama3-70b_mxfp8_64", 3546, 1593, 128, 1),
])
def test_cells_as_printed(rows, rid, tokens, tflops, gbs, mbs):
    r = rows.set_index("id").loc[rid]
    assert (r["value"], r["tflops_per_gpu_printed"], r["global_batch_seqs"], r["micro_batch"]) == (tokens, tflops, gbs, mbs)


def test_builder_reproduces_the_csv(rows):
    """The CSV is the builder's output from the verbatim tables (no hand edits), and every printed
    row is either in it, already in published_runs_2.csv, or listed as left out with a reason."""
    mb = _builder()

    built, left = mb.rows()
    assert [r["id"] for r in built] == list(rows["id"])
    assert [r["value"] for r in built] == list(rows["value"])
    reasons = {why for _, _, why in left}
    assert any("Mamba" in w for w in reasons) and not any("Muon" in w for w in reasons)
    # the Kimi K2 rows (Muon, table footnote) are in, read as Muon by validate.pr2_case
    kimi = rows[rows["model"].str.startswith("Kimi K2")]
    assert len(kimi) == 5 and kimi["notes"].str.contains("Muon optimizer").all()


def test_no_row_repeats_published_runs_2(rows):
    """The 14 ``mbridge`` rows of published_runs_2.csv are printed in these tables (so the builder
    really skipped them) and none of the new rows repeats one."""
    mb = _builder()

    published = mb.published_mbridge()
    assert len(published) == 14
    printed = set()
    for section, (release, _) in mb.SECTIONS.items():
        for rec in mb.parse(section):
            vs, _ = mb.variants(rec, release)
            for system, label, d in vs:
                printed.add((release, system, re.sub(r"\s*\(.*", "", label).strip(), int(d["Tokens / sec / GPU"])))
    assert published <= printed
    label = {v["model"]: k for k, v in mb.MODELS.items()}
    new = {(r.release, r.system, label[r.model.replace(" w/o MTP", "")], r.value) for r in rows.itertuples()}
    assert not new & published


def test_printed_tflops_are_planner_causal_model_flops(rows):
    """Megatron-Bridge's "Model TFLOP/sec/GPU" over its tokens/s is the planner's model FLOPs per token
    with causal attention halved (planner.model.flops.step_flops causal_half=True), within 1%, for
    every model and release -- DeepSeek-V3 with and without its MTP module included -- except
    gpt-oss-120b up to 26.04.01, whose counter then gave 0.83 of it at 4096 tokens and 0.89 at 8192
    (from 26.06 on it agrees), and
    26.04.01, whose tokens/s cells are coarsely rounded (1024, 864, 4736, 27136: multiples of 8-128)
    and agree within 2%: an independent check of both the copied tokens/s and the FLOP convention.
    Nemotron 3 Nano, 3.5 Lightning and 3 Super (hybrid) are the exception that proves the counter: their
    column is Megatron-Bridge's hybrid formula (``megatron_hybrid_flops_per_token``) to 1% (2% on coarsely rounded cells), which
    for Nano counts 7.06% more than the planner (Mamba in_proj/out_proj at d_in = 2 h = 5376 instead of the
    64 x 64 = 4096 the model has, and a 7 d_in N scan term): the planner's count is the one checked against
    FlopCounterMode on transformers' NemotronH (tests/test_ssm.py). Super's d_in = 2 h is its 128 x 64 = 8192,
    so there the column is the planner's own count to 1.5%, LatentMoE experts and the two repeated MTP
    depths ("*E" each) included (without the MTP depths: 12% off)."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.flops import step_flops

    cat = load_catalog()
    old_oss, hybrid, megatron_over_model = [], [], []
    for r in rows.itertuples():
        case = validate.pr2_case(cat, r)
        per_tok = float(step_flops(case.model, int(r.seq_len), 1, causal_half=True)["model"]) / r.seq_len
        ratio = r.tflops_per_gpu_printed * 1e12 / r.value / per_tok
        if case.model.hybrid:  # Megatron-Bridge's hybrid counter, not the model's FLOPs (below)
            if "nano" in r.id:
                megatron_over_model.append(megatron_hybrid_flops_per_token(case.model, int(r.seq_len)) / per_tok)
            elif "super" in r.id:  # d_in = 2 h holds for Super (128 x 64 = 8192): the planner's FLOPs,
                # the latent experts and both MTP depths included, agree within 1.5%
                assert ratio == pytest.approx(1.0, abs=0.015), (r.id, ratio)
            hybrid.append((r.value, ratio / (megatron_hybrid_flops_per_token(case.model, int(r.seq_len)) / per_tok)))
        elif "gpt-oss" in r.model and r.release < "26.06":
            old_oss.append((r.seq_len, ratio))
        else:
            assert ratio == pytest.approx(1.0, abs=0.02 if r.release == "26.04.01" else 0.01), (r.id, ratio)
    assert len(old_oss) > 10 and all((0.825 < x < 0.84) if s == 4096 else (0.885 < x < 0.895) for s, x in old_oss)
    # Nemotron 3 Nano: the printed TFLOP/s is Megatron-Bridge's hybrid formula, 7% above the model's FLOPs;
    # within 1%, or 2% where the tokens/s cell is coarsely rounded (a multiple of 256: 26.04.01, 26.06.01, 26.08)
    assert len(hybrid) >= 57 and all(x == pytest.approx(1.0, abs=0.02 if tok % 256 == 0 else 0.01)
                                     for tok, x in hybrid), hybrid
    assert len(megatron_over_model) >= 20 and all(m == pytest.approx(1.0706, abs=0.002) for m in megatron_over_model)


def megatron_hybrid_flops_per_token(m, seq):
    """Megatron-Bridge's FLOP counter for hybrid models (src/megatron/bridge/training/utils/flop_utils.py
    @a5b3b5a4 ``hybrid_flops``, as Megatron-LM training.py), per token, fwd + bwd (x 3): attention
    4 h p (h + h g / a + s / 2) with p = kv_channels a / h; ``mamba_layer_flops`` with d_in = 2 h — the
    default expand, not mamba_num_heads x head_dim (Nemotron 3 Nano: 5376 against 4096) — and a 7 d_in N
    scan term; MoE 4 h (f k + f_shared) (not gated), under LatentMoE 4 l f k + 4 h l (the experts at the
    latent width l and the two projections; ``moe_layer_flops`` ``moe_latent_size``, Megatron-Bridge
    flop_utils.py at a later commit); logits 2 h V (1 + K) with K MTP depths, each depth's "*E" block
    counted as one more attention and one more MoE layer. Kept here as the independent
    reference the printed column follows: for Nano it counts 7% more than the model's matmuls
    (planner.model.flops, checked against FlopCounterMode on transformers' NemotronH in tests/test_ssm.py)."""
    h, a, e, K = m.hidden, m.mamba, m.moe, m.mtp_layers
    p = m.head_dim * m.heads / h
    attn = 4 * h * p * (h + h * m.kv_heads / m.heads + seq / 2)
    d_in = 2 * h
    mamba = 2 * h * (2 * d_in + 2 * a.groups * a.d_state + m.mamba_heads) + 7 * d_in * a.d_state + 2 * d_in * h
    lat = e.latent_size if e is not None else None
    moe = (4 * (lat or h) * m.ffn_hidden * e.top_k + (4 * h * lat if lat else 0) + 4 * h * (e.shared_ffn_hidden or 0)
           if e is not None else 0.0)
    mlp = 4 * h * m.dense_width
    fwd = ((m.attention_layers + K) * attn + m.mamba_layers * mamba + (m.moe_layers + K) * moe
           + m.kind_layers("-") * mlp + 2 * h * m.vocab * (1 + K))
    return 3.0 * fwd


def test_recipes_reach_the_blackwell_rows(rows):
    """The GB200/GB300/B300 rows take the dispatcher and recompute of their own recipes
    (validate.MBRIDGE_MOE_RECIPES / MBRIDGE_RECOMPUTE), not the DGX B200 ones."""
    import validate

    def first(prefix):
        return next(rows[rows["id"].str.startswith(prefix)].itertuples())

    gb300_dsv3 = first("mbridgeall_2606_gb300_deepseek-v3")
    assert validate.pr2_options(gb300_dsv3, "megatron-core")["moe_a2a_overlap"] is True
    assert validate.pr2_recompute_modules(gb300_dsv3) is None  # GB300 FP8_MX: recompute_modules=[]
    # the 26.04 row prints micro-batch 2: the config before PR #3983 (validate.MBRIDGE_LAYOUT_VARIANTS, bigmem37)
    gb300_dsv3_mb2 = first("mbridgeall_2604_gb300_deepseek-v3")
    assert validate.pr2_options(gb300_dsv3_mb2, "megatron-core")["moe_a2a_overlap"] is False
    assert validate.pr2_recompute_modules(gb300_dsv3_mb2) == ["mla_up_proj"]
    gb200_oss = first("mbridgeall_2604_gb200_gpt-oss")
    assert validate.pr2_recompute_modules(gb200_oss) == ["layernorm", "moe_act"]
    b300_q235 = first("mbridgeall_2604_b300_qwen3-235b")
    assert validate.pr2_options(b300_q235, "megatron-core")["moe_dispatcher"] == "alltoall"
    nvfp4 = next(rows[rows["id"].str.contains("_nvfp4_")].itertuples())
    from hardware_catalog import load_catalog

    case = validate.pr2_case(load_catalog(), nvfp4)
    assert case.training.precision == "fp8" and case.options["fp8_recipe"] == "nvfp4"


def test_kimi_rows_run_muon(rows):
    """The Kimi K2 rows run Muon as Megatron-Bridge's dist_muon: the layer-wise distributed optimizer
    (the planner's ZeRO-1 memory), the GB300 recipe's HybridEP dispatcher and mla_up_proj recompute."""
    import validate
    from hardware_catalog import load_catalog

    r = next(rows[rows["model"].str.startswith("Kimi K2")].itertuples())
    case = validate.pr2_case(load_catalog(), r)
    assert case.training.optimizer == "muon" and int(case.candidates.zero[0]) == 1
    assert case.options["moe_dispatcher"] == "hybridep" and validate.pr2_recompute_modules(r) == ["mla_up_proj"]


def test_nemotron3_recipes_are_the_revision_with_the_rows_layout(rows):
    """Every Nemotron 3 row (Nano, Super, 3.5 Lightning) has the layout of the config its recipe settings are read from
    (validate.MBRIDGE_NEMOTRON3_LAYOUTS: Megatron-Bridge nemotron_3_workload_base_configs.py @d063066b), so the
    recompute / graph / dispatcher entries are that revision's: e.g. Super GB200 runs TP2 there and recomputes nothing
    (@06e8da4e's ["moe_act", "layernorm", "core_attn", "moe"] came with TP1), B300 EP8 with HybridEP (not EP64 DeepEP)."""
    import validate

    nem = rows[rows["id"].str.contains("nemotron")]
    assert len(nem) == 57
    for r in nem.itertuples():
        key = next(k for k in validate.MBRIDGE_NEMOTRON3_LAYOUTS
                   if k[0] in r.model.lower() and k[1] == validate.pr2_gpu_kind(r) and k[2] == validate.pr2_prec_kind(r))
        ep = int(re.search(r"EP=(\d+)", r.notes).group(1))
        assert (r.tp, ep, r.micro_batch, r.global_batch_seqs, r.num_gpus) == validate.MBRIDGE_NEMOTRON3_LAYOUTS[key], r.id
        opts = validate.pr2_options(r, "megatron-core")
        assert opts["moe_dispatcher"] == "hybridep" and opts["moe_a2a_overlap"] is False, r.id
    by_id = {r.id: r for r in nem.itertuples()}
    assert validate.pr2_recompute_modules(by_id["mbridgeall_2604_gb200_nemotron-3-super-120b-a12b_mxfp8_64"]) is None
    assert validate.pr2_recompute_modules(by_id["mbridgeall_2604_b300_nemotron-3-super-120b-a12b_nvfp4_64"]) == [
        "moe_act", "layernorm"]
    nano = validate.pr2_options(by_id["mbridgeall_2604_gb300_nemotron-3-nano-30b-a3b_mxfp8_8"], "megatron-core")
    assert nano["cuda_graph_scope"] == ("attn", "mamba", "moe_router", "moe_preprocess")


def test_layout_variant_takes_its_own_recipe(rows):
    """A recipe's layout variant (validate.MBRIDGE_LAYOUT_VARIANTS) reaches exactly the rows with its layout: the
    B200 DeepSeek-V3 MXFP8 row at PP 8 VPP 2 EP 32 (deepseek_workload_base_configs.py @04264182
    ``DEEPSEEK_V3_PRETRAIN_CONFIG_B200_FP8_MX_V2``) runs DeepEP with all-to-all overlap, TE-scoped CUDA graphs and the
    mlp recompute, while the B200 rows at PP 16 EP 8 keep the (model, GPU) entries (HybridEP, no overlap, mla_up_proj),
    and the step the planner gives the variant row falls: its cross-node EP traffic is overlapped."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.step_time import step_time

    b200 = [r for r in rows.itertuples() if r.id.startswith("mbridgeall_") and "_b200_deepseek-v3_mxfp8" in r.id]
    variant = [r for r in b200 if validate.mbridge_variant(r) is not None]
    assert [r.id for r in variant] == ["mbridgeall_260401a_b200_deepseek-v3_mxfp8_256"]
    (v,) = variant
    opts = validate.pr2_options(v, "megatron-core")
    assert opts["moe_dispatcher"] == "deepep" and opts["moe_a2a_overlap"] is True
    assert opts["cuda_graph_scope"] == ("attn", "moe_router", "moe_preprocess")
    assert validate.pr2_recompute_modules(v) == ["mla_up_proj", "mlp"]
    for r in b200:
        if r is v:
            continue
        o = validate.pr2_options(r, "megatron-core")
        assert (o["moe_dispatcher"], o["moe_a2a_overlap"]) == ("hybridep", False), r.id
        assert validate.pr2_recompute_modules(r) == ["mla_up_proj"], r.id
    # the variant's settings against the (model, GPU) entry's on the same row
    cat = load_catalog()
    case = validate.pr2_case(cat, v)
    base = dict(case.options, moe_dispatcher="hybridep", moe_a2a_overlap=False)
    base.pop("cuda_graph_impl", None), base.pop("cuda_graph_scope", None)
    t_var = step_time(case.model, case.training, case.candidates, case.hw,
                      **validate.pr2_time_kw(case.stack, case.options))
    t_base = step_time(case.model, case.training, case.candidates, case.hw, **validate.pr2_time_kw(case.stack, base))
    assert t_var["comm_ep"][0] < 0.7 * t_base["comm_ep"][0]
