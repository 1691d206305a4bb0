"""benchmarks/data/dgxc_runs.csv (NVIDIA DGX Cloud Benchmarking recipes, validate.dgxc): the rows
are what their READMEs print, and the planner's FLOP count is the one their MFU uses."""
import sys

import pandas as pd
import pytest

from conftest import ROOT, assert_cites_no_held_out_source, assert_layout_adds_up, load_parts_script

sys.path.insert(0, str(ROOT / "benchmarks"))

CSV = ROOT / "benchmarks" / "data" / "dgxc_runs.csv"


def test_layout_and_provenance(rows):
    assert rows["id"].is_unique
    assert_layout_adds_up(rows)
    assert rows["provenance"].str.match(r"https://github\.com/NVIDIA/dgxc-benchmarking/blob/[0-9a-f]{40}/").all()
    assert rows["metric"].eq("iteration_time_s").all() and rows["value"].gt(0).all()
    assert_cites_no_held_out_source(rows)


def test_printed_throughput_is_the_step_time(rows):
    """The README's tokens/s row is seq x GBS / step time: a mis-copied step time shows here."""
    tok = rows["seq_len"] * rows["global_batch_seqs"] / rows["value"]
    assert ((tok / rows["tokens_per_s_printed"] - 1).abs() < 0.005).all()


@pytest.mark.parametrize("rid,mfu_pct", [
    ("dgxc_2409_llama31-70b_bf16_64", 54.10),   # README_70b.md @143b90dd: 14.72 s, 54.10%
    ("dgxc_2412_llama31-8b_fp8_8", 40.59),      # README_8b.md @8f5cbb37: 9.44 s, 40.59% of 1979
    ("dgxc_2412_llama31-405b_bf16_576", 54.85),  # README_405b.md @8f5cbb37: 17.50 s, 54.85%
])
def test_readme_mfu_is_planner_model_flops(rows, rid, mfu_pct):
    """The Llama READMEs' MFU (Notes: 12 l h^2 (1 + g/a + s/h) + 18 l f h + 6 V h per token, no
    causal halving) is planner.model.flops.step_flops(...)["model"] at causal_half=False: the
    printed MFU comes back from the printed step time within 0.1 point."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.flops import step_flops

    r = next(rows[rows["id"] == rid].itertuples())
    case = validate.pr2_case(load_catalog(), r)
    fl = float(step_flops(case.model, int(r.seq_len), int(r.global_batch_seqs), causal_half=False)["model"])
    peak = 1979e12 if "fp8" in r.precision else 989e12  # the READMEs' H100 peaks
    assert fl / r.value / r.num_gpus / peak * 100 == pytest.approx(mfu_pct, abs=0.1)


def test_together_step_times_match_their_tflops():
    """Together AI's B200 rows (benchmarks/data/together_b200_runs.csv): NeMo's logged TFLOP/s per GPU
    is model FLOPs with causal attention halved over the step time; the planner's causal-halved model
    FLOPs over each copied step time give the printed TFLOP/s back within 1% (0.930 s -> 1570 at 64
    GPUs bf16), so the step times and the FLOP convention agree."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.flops import step_flops

    cat = load_catalog()
    tog = pd.read_csv(ROOT / "benchmarks" / "data" / "together_b200_runs.csv")
    assert len(tog) == 9 and tog["id"].is_unique
    for r in tog.itertuples():
        case = validate.pr2_case(cat, r)
        fl = float(step_flops(case.model, int(r.seq_len), int(r.global_batch_seqs), causal_half=True)["model"])
        assert fl / r.value / r.num_gpus / 1e12 == pytest.approx(r.tflops_per_gpu_printed, rel=0.01), r.id


def test_together_fp8_rows_reduce_bf16_gradients():
    """Together's configs are what NeMo's scripts/performance/llm/pretrain_nemotron4_15b.py writes (its
    experiment names), whose helpers.py ``set_precision_configs`` sets ``grad_reduce_in_fp32 = False`` under fp8
    only: the fp8 rows are mapped to bf16 gradient reduction (TrainingSpec.grad_dtype "same"), the bf16 rows keep
    fp32. The fp8 256-GPU run's own memory report (77.0 GB peak allocated, jobs 81057-81059,
    worklog/profiler_reports/nemotron4_15b_fp8_256gpu_profiler.md @d275be99) rules fp32 gradients out: bf16
    weights (2 B) plus an fp32 gradient buffer (4 B) of the model's 15.63e9 parameters alone are 93.8 GB."""
    import validate
    from hardware_catalog import load_catalog
    from planner.spec.params import count_params

    cat = load_catalog()
    tog = pd.read_csv(ROOT / "benchmarks" / "data" / "together_b200_runs.csv")
    grad = {r.id: validate.pr2_case(cat, r).training.grad_dtype for r in tog.itertuples()}
    assert {k: v for k, v in grad.items() if "_fp8_" in k} == {k: "same" for k in grad if "_fp8_" in k}
    assert {k: v for k, v in grad.items() if "_bf16_" in k} == {k: "fp32" for k in grad if "_bf16_" in k}
    r = next(tog[tog["id"] == "together_nemotron4-15b_fp8_256_gbs512"].itertuples())
    n = count_params(validate.pr2_case(cat, r).model).total
    assert n == pytest.approx(15.63e9, rel=0.001)
    peak_allocated_gb = 77.0
    assert (2 + 4) * n / 1e9 > peak_allocated_gb > (2 + 2) * n / 1e9


@pytest.mark.parametrize("prec", ["bf16", "fp8"])
def test_nemotron340b_2024_config_runs_tp_overlap_like_nemo2(rows, prec):
    """The 2024 Nemotron-4 340B runs (nemo:24.09) had TE's TP comm overlap on: their yaml says
    ub_tp_comm_overlap False, but nemotron/configure.sh (@35a9aecc) appends
    model.ub_tp_comm_overlap=True for every model size. With it, the planner's ratio of the 2024
    config (selective recompute) to NeMo 2's (no recompute, overlap on) at 256 GPUs follows the
    measured one (4.67 / 4.606 s bf16, 3.21 / 3.107 s fp8) within 4%; taken as overlap off it
    was 7% (bf16) and 9% (fp8) above it (1.089 vs 1.014, 1.129 vs 1.033)."""
    import validate
    from hardware_catalog import load_catalog
    from planner.model.step_time import step_time

    cat = load_catalog()
    ids = (f"dgxc_2409_nemotron4-340b_{prec}_256", f"dgxc_2504_nemotron4-340b-h100_{prec}_256")
    pred, meas = {}, {}
    for r in rows[rows["id"].isin(ids)].itertuples():
        case = validate.pr2_case(cat, r)
        kw = validate.pr2_time_kw(case.stack, case.options)
        pred[r.id] = float(step_time(case.model, case.training, case.candidates, case.hw, **kw)["step_time_s"][0])
        meas[r.id] = r.value
    assert len(pred) == 2
    ratio = lambda d: d[ids[0]] / d[ids[1]]  # noqa: E731
    assert ratio(pred) == pytest.approx(ratio(meas), rel=0.04)


def test_rows_whose_launcher_disables_cudnn_attention_run_flash_attn2(rows):
    """The 2024 Nemotron-4 340B configure.sh (@35a9aecc) exports NVTE_FUSED_ATTN=0, so TE 1.x builds no
    cuDNN backend and runs flash-attn 2: those rows (and only those) are timed with the fa2 kernel, the
    rest with the megatron-core stack's cuDNN default."""
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    kernels = {}
    for r in rows.itertuples():
        case = validate.pr2_case(cat, r)
        kernels[r.id] = validate.pr2_time_kw(case.stack, case.options)["framework"].attn_kernel
    fa2 = {k for k, v in kernels.items() if v == "fa2"}
    assert fa2 == {r.id for r in rows.itertuples() if r.id.startswith("dgxc_2409_nemotron4-340b")} and len(fa2) == 10
    assert {v for k, v in kernels.items() if k not in fa2} == {"cudnn"}


def _dgxc_builder():
    """The dgxc builder script (conftest.load_parts_script)."""
    return load_parts_script("dgxc")


@pytest.mark.parametrize("gpus,domain", [
    (64, 64),    # 16 trays: one rack, no --segment
    (72, 72),    # 18 trays: one rack
    (80, 40),    # 20 trays: segment 10 (largest divisor <= 18)
    (128, 64),   # 32 trays: 18 and 17 do not divide 32 -> 16
    (144, 72),   # 36 trays: segment 18
    (512, 64),   # 128 trays: segment 16
])
def test_nvl72_segment_follows_nemo_executor(gpus, domain):
    """NeMo's scripts/performance slurm_executor: GB200 (4 GPUs a node) beyond 18 nodes gets
    ``--segment`` = the largest divisor of the node count <= 18; the NVLink domain is that many trays."""
    assert _dgxc_builder().nvl72_segment_gpus(gpus) == domain


def test_gb200_rows_run_in_64_gpu_domains(rows):
    """Every GB200 row (128-512 GPUs = 32-128 trays) ran in 16-tray segments: 64-GPU NVLink domains
    with 64 NICs of 400 Gb/s each."""
    gb = rows[rows["gpu"].str.contains("GB200")]
    assert len(gb) == 18
    assert gb["gpus_per_node"].eq(64).all() and gb["inter_node_gbps"].eq(64 * 400).all()


def test_nemo2_fp8_rows_reduce_bf16_gradients(rows):
    """NeMo 2 performance scripts (helpers.py set_precision_configs): every fp8 run sets
    grad_reduce_in_fp32 = False; the bf16 Llama 3.1 405B / Nemotron-4 15B runs keep their recipe's fp32
    reduction, and the 340B recipe reduces bf16 in both precisions."""
    import validate
    from hardware_catalog import load_catalog

    cat = load_catalog()
    want = {"dgxc_2504_llama31-405b-gb200_fp8_128": "same", "dgxc_2504_llama31-405b-h100_fp8_512": "same",
            "dgxc_2504_nemotron4-15b-h100_fp8_16": "same", "dgxc_2504_llama31-405b-gb200_bf16_128": "fp32",
            "dgxc_2504_llama31-405b-h100_bf16_512": "fp32", "dgxc_2504_nemotron4-15b-h100_bf16_16": "fp32",
            "dgxc_2504_nemotron4-340b-gb200_bf16_128": "same"}
    sel = rows[rows["id"].isin(want)]
    assert len(sel) == len(want)
    for r in sel.itertuples():
        assert validate.pr2_case(cat, r).training.grad_dtype == want[r.id], r.id
