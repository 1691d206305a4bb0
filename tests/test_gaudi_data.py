"""benchmarks/data/gaudi_runs.csv (Intel's Gaudi 2 training throughputs on its Megatron-DeepSpeed recipes,
validate.gaudi): each row's step time reproduces the throughput Intel's page printed, the row carries its provenance,
maps to what its recipe sets, and runs through the planner."""
import re
import sys

import numpy as np
import pytest

from conftest import ROOT, assert_cites_no_held_out_source, assert_layout_adds_up

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "gaudi_runs.csv"
PAGE = "https://www.intel.com/content/www/us/en/developer/platform/gaudi/model-performance-gaudi2-training.html"


def test_layout_and_provenance(rows):
    assert len(rows) == 4 and rows["id"].is_unique and rows["id"].str.match(r"gaudi2_mds118_").all()
    assert_layout_adds_up(rows)
    assert rows["provenance"].eq(PAGE).all()
    blob = r"https://github\.com/HabanaAI/Megatron-DeepSpeed/blob/[0-9a-f]{40}/README\.md$"
    assert rows["config_provenance"].str.match(blob).all()
    assert rows["metric"].eq("iteration_time_s").all() and rows["value"].gt(0).all()
    for col in ("notes", "precision", "recompute", "zero_or_fsdp", "container", "read_date"):
        assert rows[col].astype(str).str.strip().ne("").all(), col
    # every row names the recipe it was mapped to and says the page states no layout
    assert rows["notes"].str.contains("Framework and layout not on the page").all()
    assert rows["notes"].str.contains(r"README recipe 'Run L[Ll]a?MA").all()
    assert_cites_no_held_out_source(rows)


def test_step_time_reproduces_the_printed_throughput(rows):
    """The page prints tokens/s for the whole job (all cards): GBS x seq / step is it, so a miscopied batch, sequence
    length or throughput shows. Pinned: LLaMA 2 7B on 8 cards 68,464 and LLaMA 3.1 70B on 64 cards 43,677 tokens/s;
    the 1.19.0 page's figures for the same configurations within 4% of 1.18.0's."""
    tok = rows["global_batch_seqs"] * rows["seq_len"] / rows["value"]
    assert np.allclose(tok, rows["tokens_per_s_printed"], rtol=1e-5)
    t = rows.set_index("id")["tokens_per_s_printed"]
    assert t["gaudi2_mds118_llama2-7b_fp8_8"] == 68464 and t["gaudi2_mds118_llama31-70b_fp8_64"] == 43677
    assert ((rows["tokens_per_s_printed_1_19"] / rows["tokens_per_s_printed"] - 1).abs() < 0.04).all()
    for r in rows.itertuples():  # the notes quote the page's row as printed
        assert f"| {r.num_gpus} | {r.seq_len:,} | FP8 | {r.global_batch_seqs:,} | {r.tokens_per_s_printed:,}'" in r.notes


def test_rows_map_to_their_recipes(rows):
    """Intel's Megatron-DeepSpeed (the DeepSpeed pipeline engine, ZeRO-1, HL_CKP_ACT=2 selective recompute, sequence
    parallel where TP > 1) on Gaudi 2 boxes at 3 x 100 GbE scale-out a chip; FP8 at delayed scaling as the row's own
    recipe; the two LLaMA 2 recipes' bf16 gradient accumulation (HL_GRAD_ACCUM_DTYPE=bf16) as 16-bit gradients."""
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    for r in rows.itertuples():
        c = validate.pr2_case(cat, r)
        assert c.stack == "megatron-deepspeed" and validate.pr2_source(r.id) == "gaudi", r.id
        assert c.hw.gpu.name == "Gaudi2-96GB" and c.hw.inter_node_bw * 8 / 1e9 == 2400
        assert c.training.precision == "fp8" and c.options.get("fp8_recipe") == "delayed"
        cand = c.candidates
        assert int(cand.zero[0]) == 1 and int(cand.rc[0]) == 1, r.id  # ZeRO-1, selective
        assert bool(cand.sp[0]) == (r.tp > 1), r.id
        assert (int(cand.tp[0]), int(cand.pp[0]), int(cand.dp[0]), int(cand.mb[0])) == (r.tp, r.pp, r.dp, r.micro_batch)
        llama2 = r.model.startswith("Llama 2")
        assert (c.training.grad_dtype == "same") == llama2, r.id
        assert ("HL_GRAD_ACCUM_DTYPE=bf16" in r.notes) == llama2


def test_every_row_runs_on_the_gaudi_priors(rows):
    """Each row is priced (no refusal, a finite step) on the Gaudi 2 catalog entry, and lands within a factor the
    priors can account for: a row off by 2x would be a mapping error (a wrong batch, card count or unit), not a
    prior's. As first added the rows read +10.0 / -9.0 / -3.6 / +16.8% (LLaMA 2 7B, 13B, 3.1 8B, 3.1 70B)."""
    import validate
    from hardware_catalog import load_catalog

    d = validate.gaudi(load_catalog())
    assert list(d["id"]) == list(rows["id"]) and set(d["source"]) == {"gaudi"}
    assert set(d["gpu_family"]) == {"Gaudi"}
    err = d["predicted_s"] / d["measured_s"] - 1
    assert np.isfinite(d["predicted_s"]).all() and (d["predicted_s"] > 0).all()
    assert (err.abs() < 0.5).all(), dict(zip(d["id"], err.round(3)))


def test_the_registry_stack_alone_refuses_fp8_which_the_row_sets():
    """The registry's megatron-deepspeed is upstream's (its pipeline layer has no fp8 path: stack_rules.NO_FP8_PATH),
    so the rows' FP8 is their own recipe field (validate.ROW_STACK_FIELDS), the way rows of code versions the registry
    does not offer are run; the row stack carries delayed scaling."""
    import validate
    from planner.model import stack_rules

    assert "megatron-deepspeed" in stack_rules.NO_FP8_PATH
    assert "fp8_recipe" in validate.ROW_STACK_FIELDS
    st = validate.row_stack("megatron-deepspeed", {"fp8_recipe": "delayed"})
    assert st.name == "megatron-deepspeed" and st.fp8_recipe == "delayed"
    assert re.search(r"gaudi", validate.GAUDI_CSV.name)
