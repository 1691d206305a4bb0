"""benchmarks/data/mi300x_runs.csv (public MI325X / MI300X training logs with their configs, validate.mi300x): each
row's step time reproduces the throughput its own log printed, the logged device memory is the catalog GPU's, and
the row maps to what its command line and config set."""
import re
import sys

import pytest

from conftest import ROOT, assert_cites_no_held_out_source, assert_layout_adds_up

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "mi300x_runs.csv"


def test_layout_and_provenance(rows):
    assert rows["id"].is_unique and rows["id"].str.match(r"mi3(00|25)x_").all()
    assert_layout_adds_up(rows)
    blob = r"https://github\.com/(hisohara/ai-scripts|DmitriiNikolaevAtAmd/tprimat|AMD-AGI/Primus|ROCm/Megatron-LM)/blob/[0-9a-f]{40}/"
    assert rows["provenance"].str.match(blob).all() and rows["config_provenance"].str.match(blob).all()
    assert rows["metric"].eq("iteration_time_s").all() and rows["value"].gt(0).all()
    assert_cites_no_held_out_source(rows)


def test_step_time_reproduces_the_printed_throughput(rows):
    """The tokens/s/GPU each log printed (Primus' running mean, Megatron-LM's script summary, the JSON's figure) is
    GBS x seq / step / GPUs of the row's own numbers: a miscopied step, sequence length, batch or GPU count shows.
    Primus averages the per-iteration rates, not the times (mean of 1/t >= 1/mean t): within 0.5%."""
    tok = rows["seq_len"] * rows["global_batch_seqs"] / rows["value"] / rows["num_gpus"]
    assert ((tok / rows["tokens_per_s_per_gpu_printed"] - 1).abs() < 0.005).all()
    # the AAC11 runs as printed: Llama 2 7B fp8 on 64 GPUs 20472.8, Llama 3 70B fp8 (FSDP2) 1713.4 tokens/s/GPU
    t = rows.set_index("id")["tokens_per_s_per_gpu_printed"]
    assert t["mi325x_aac11_primus_llama2-7b_fp8_64"] == pytest.approx(20472.8)
    assert t["mi325x_aac11_megatronlm_llama3-70b_fp8_64"] == pytest.approx(1713.4)


def test_logged_device_memory_is_the_catalog_gpus(rows):
    """Which GPU ran: the Primus logs' 'hip mem usage/free/total' total (255.98 "GB" = bytes / 2^30, MI325X's nominal
    256; an MI300X prints 191.98) and the MI300X JSON's total_memory_gb (206.14e9 bytes = 192 GiB) against the
    capacity of the catalog GPU each row is priced on (the catalog holds MI300X as 192 GiB, MI325X as 256e9 bytes)."""
    from hardware_catalog import load_catalog

    import validate

    cat = load_catalog()
    for r in rows.itertuples():
        gpu = cat.gpu(validate.PR2_GPU[r.gpu][0])
        m = re.search(r"/(\d+\.\d+)GB'", r.notes)
        if m:  # the Primus logs print the device total in GiB
            assert float(m.group(1)) == pytest.approx(gpu.memory_bytes / 1e9, rel=0.01), r.id
    assert 206.14165e9 == pytest.approx(cat.gpu("MI300X-192GB").memory_bytes, rel=0.01)


def test_rows_map_to_their_configs(rows):
    """torch FSDP2 runs (Primus use_torch_fsdp2, train_llama3.sh FSDP=1) as ZeRO-3, the rest the distributed
    optimizer; full recompute where the command sets every layer; fp8 as TE delayed scaling; Mixtral EP 8; the CK
    flash attention as the fa2 kernel; MI325X / MI300X from the catalog at 3200 Gb/s per node."""
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    cases = {r.id: validate.pr2_case(cat, r) for r in rows.itertuples()}
    for rid, c in cases.items():
        assert c.stack == "megatron-core" and validate.pr2_source(rid) == "mi300x"
        assert c.hw.gpu.name == ("MI300X-192GB" if rid.startswith("mi300x") else "MI325X-256GB")
        assert c.hw.inter_node_bw * 8 / 1e9 == 3200
        assert c.options.get("attn_kernel") == "fa2"
        fsdp = "70b" in rid
        assert int(c.candidates.zero[0]) == (3 if fsdp else 1), rid
        assert int(c.candidates.rc[0]) == (2 if fsdp else 0), rid
        assert (c.options.get("fp8_recipe") == "delayed") == ("_fp8_" in rid), rid
    mx = cases["mi325x_aac11_primus_mixtral-8x7b_bf16_64"]
    assert mx.model.moe is not None and mx.model.moe.experts == 8 and int(mx.candidates.ep[0]) == 8
    assert cases["mi300x_tprimat_primus_llama31-8b_bf16_8"].candidates.pp[0] == 2


def test_unfused_gradient_accumulation_is_priced_where_it_runs(rows):
    """Every config turns Megatron's gradient-accumulation fusion off (Primus YAMLs ``gradient_accumulation_fusion:
    false``, train_llama3.sh ``--no-gradient-accumulation-fusion``): each row's stack runs the separate add of the
    bf16 weight gradient into the fp32 main gradient (Stack.grad_accum_pass). It costs time per micro-batch at ZeRO-1
    (the distributed-optimizer rows: most on the MI300X row's 16 micro-batches of a 4B-parameter stage) and nothing
    under torch FSDP2 (the 70B rows: the add lands on the 1/dp shard, not priced)."""
    from dataclasses import replace

    import validate
    from hardware_catalog import load_catalog
    from planner.model.step_time import step_time

    cat = load_catalog()
    for r in rows.itertuples():
        c = validate.pr2_case(cat, r)
        st = validate.row_stack(c.stack, c.options)
        assert st.grad_accum_pass, r.id
        on, off = (float(step_time(c.model, c.training, c.candidates, c.hw, framework=replace(st, grad_accum_pass=g))
                         ["step_time_s"][0]) for g in (True, False))
        if int(c.candidates.zero[0]) >= 2:
            assert on == pytest.approx(off, rel=1e-12), r.id
        else:
            assert on > off, r.id
        if r.id.startswith("mi300x"):
            # 4e9 parameters x 10 B (read bf16 grad + fp32 main grad, write fp32) x 16 micro-batches at ~4.1 TB/s
            assert on - off == pytest.approx(0.156, rel=0.15)


def test_mixtral_maps_to_the_arguments_its_run_printed(rows):
    """The Mixtral log's own argument print (acc42c, 2025-11-15 12:53:26, rank 0) is the row's source of truth where
    it differs from the stored YAML (``moe_use_legacy_grouped_gemm: true`` there, False in the run): the notes quote
    it, and the mapping matches it -- the all-to-all dispatcher (the stack's default, which the row takes), no
    recompute, the distributed optimizer (ZeRO-1), the unfused gradient accumulation, and one local expert a GPU
    (8 experts on EP 8), so the grouped-GEMM implementation cannot change the GEMM the model prices."""
    import validate
    from hardware_catalog import load_catalog

    r = rows.set_index("id").loc["mi325x_aac11_primus_mixtral-8x7b_bf16_64"]
    for printed in ("moe_use_legacy_grouped_gemm False", "moe_token_dispatcher_type alltoall", "enable_primus_turbo",
                    "recompute_granularity None", "gradient_accumulation_fusion False", "NVTE_CK_USES_BWD_V3=1"):
        assert printed in r.notes, printed
    c = validate.pr2_case(load_catalog(), rows[rows["id"] == r.name].iloc[0])
    st = validate.row_stack(c.stack, c.options)
    assert st.moe_dispatcher == "alltoall" and st.grad_accum_pass
    assert int(c.candidates.rc[0]) == 0 and int(c.candidates.zero[0]) == 1
    assert c.model.moe.experts // int(c.candidates.ep[0]) == 1
