"""No GPU's GEMM prior may exceed what its matmul alone reaches: the ml-engineering "Maximum Achievable Matmul
FLOPS" BF16 table (stas00/ml-engineering compute/accelerator/README.md, read 2026-12-01), copied here as data
independent of the priors. Before the MAMF-scaled priors (efficiency.mamf_prior) MI300X ran on the generic 0.70
of peak where its matmul alone reaches 0.51. CDNA 3's FP8 GEMMs are checked against the ceilings measured for both
dtypes together (benchmarks/data/parts ``maf_*``: AMD's table, H100's ml-engineering rows)."""
import pytest

from hardware_catalog import load_catalog
from planner.hardware.efficiency import CDNA3_ATTN_HD128, H100_IN_STEP_GEMM, prior_for

#: catalog GPU -> measured MAMF BF16 TFLOP/s (the table's rows; GB200 / B300 / A100 as printed there)
MAMF = {"A100-SXM-80GB": 271.2, "H100-SXM-80GB": 794.5, "H200-SXM-141GB": 794.5,  # "H200 is the same"
        "B200-SXM-180GB": 1745.0, "GB200-B200": 1822.0, "B300-SXM-288GB": 1769.0, "MI300X-192GB": 668.4,
        "MI325X-256GB": 784.9, "MI355X-288GB": 1565.0, "Gaudi2-96GB": 418.7, "Gaudi3-128GB": 1243.0}


@pytest.mark.parametrize("gpu", sorted(MAMF))
def test_gemm_prior_is_below_the_measured_matmul_ceiling(gpu):
    g = load_catalog().gpu(gpu)
    ceiling = MAMF[gpu] * 1e12 / g.peak("bf16")
    assert prior_for(g.name).gemm_max <= ceiling + 1e-9, (gpu, prior_for(g.name).gemm_max, ceiling)


#: the parts rows (benchmarks/data/parts, builder scripts/matmul_ceilings.py) of the ceilings measured for both dtypes
#: together: AMD's max-achievable-FLOPs table (MI300X, MI325X) and H100's ml-engineering rows
def maf_rows():
    import csv
    from pathlib import Path

    parts = Path(__file__).resolve().parents[1] / "benchmarks/data/parts"
    rows = [r for f in ("gemm_efficiency", "fp8_gemm") for r in csv.DictReader(open(parts / f"{f}.csv"))]
    return {r["id"].split("_")[2] + "_" + r["id"].split("_")[3]: float(r["tflops"]) for r in rows
            if r["id"].startswith("maf_")}


#: catalog GPU -> its (BF16, FP8) ceiling rows in ``maf_rows``
CEILING_ROWS = {"MI300X-192GB": ("mi300x_bf16", "mi300x_fp8"), "MI325X-256GB": ("mi325x_bf16", "mi325x_fp8")}


@pytest.mark.parametrize("gpu", ["MI300X-192GB", "MI325X-256GB", "MI355X-288GB", "Gaudi2-96GB", "Gaudi3-128GB"])
def test_unmeasured_gpus_lose_what_h100_loses_from_matmul_to_step(gpu):
    """In-step / matmul-alone is H100's (0.60 / 0.803) for a GPU whose steps no development source measures. CDNA 3
    keeps ml-engineering's BF16 ceilings: AMD's own (708 / 843, ``maf_rows``) were checked and not taken (they move
    every BF16 measurement further off; efficiency.MAMF_BF16_TFLOPS)."""
    cat = load_catalog()
    h100 = MAMF["H100-SXM-80GB"] * 1e12 / cat.gpu("H100-SXM-80GB").peak("bf16")
    ceiling = MAMF[gpu] * 1e12 / cat.gpu(gpu).peak("bf16")
    assert prior_for(gpu).gemm_max == pytest.approx(H100_IN_STEP_GEMM * ceiling / h100, rel=1e-3)
    assert "MAMF" in prior_for(gpu).sources["*"]


@pytest.mark.parametrize("gpu", sorted(CEILING_ROWS))
def test_cdna3_fp8_gemms_scale_by_their_own_fp8_over_bf16_ceiling(gpu):
    """AMD measures FP8 at 0.899 (MI300X) / 0.901 (MI325X) of 2x its BF16 ceiling, H100's ml-engineering rows 0.883
    (1402.6 / 794.5 of 1979 / 989): CDNA 3's FP8 GEMMs run at the recipe's fraction x 1.018 / 1.021, every other
    part at 1.0 (no FP8 ceiling measured beside a BF16 one)."""
    cat = load_catalog()
    rows = maf_rows()

    def frac(tflops, g, dtype):
        return tflops * 1e12 / cat.gpu(g).peak(dtype)

    bf16, fp8 = (rows[k] for k in CEILING_ROWS[gpu])
    h100 = frac(rows["h100_fp8"], "H100-SXM-80GB", "fp8") / frac(rows["h100_bf16"], "H100-SXM-80GB", "bf16")
    want = frac(fp8, gpu, "fp8") / frac(bf16, gpu, "bf16") / h100
    assert prior_for(gpu).fp8_rel == pytest.approx(want, abs=1e-4)
    assert prior_for(gpu).fp8_rel == pytest.approx({"MI300X-192GB": 1.0185, "MI325X-256GB": 1.0207}[gpu], abs=1e-4)
    assert rows["h100_bf16"] == MAMF["H100-SXM-80GB"]
    for other in ("H100-SXM-80GB", "B200-SXM-180GB", "MI355X-288GB", "Gaudi3-128GB"):
        assert prior_for(other).fp8_rel == 1.0


def test_fp8_linears_run_at_the_parts_fp8_rel():
    """The Llama 2 7B fp8 MI325X row (validate.mi300x): with fp8_rel the step's GEMM time drops, by at most the
    factor (the LM head and attention stay BF16), and a bf16 step does not move."""
    import dataclasses
    import sys

    import pandas as pd

    from planner.model.step_time import step_time
    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import validate

    cat = load_catalog()
    d = pd.read_csv(validate.MI300X_CSV).set_index("id", drop=False)
    out = {}
    for rid in ("mi325x_aac11_primus_llama2-7b_fp8_64", "mi325x_aac11_primus_mixtral-8x7b_bf16_64"):
        case = validate.pr2_case(cat, next(d.loc[[rid]].itertuples()))
        kw = validate.pr2_time_kw(case.stack, case.options)
        plain = dataclasses.replace(case.hw, eff=case.hw.eff.with_(fp8_rel=1.0))
        out[rid] = [float(step_time(case.model, case.training, case.candidates, hw, **kw)["compute_gemm"][0])
                    for hw in (case.hw, plain)]
    with_rel, without = out["mi325x_aac11_primus_llama2-7b_fp8_64"]
    assert 1.0 / prior_for("MI325X-256GB").fp8_rel <= with_rel / without < 0.99
    assert out["mi325x_aac11_primus_mixtral-8x7b_bf16_64"][0] == out["mi325x_aac11_primus_mixtral-8x7b_bf16_64"][1]


def test_mi350x_takes_mi355x_fraction_and_other_gpus_keep_the_generic_prior():
    assert prior_for("MI350X-288GB").gemm_max == prior_for("MI355X-288GB").gemm_max
    assert prior_for("T4-16GB").gemm_max == prior_for("L4-24GB").gemm_max  # no MAMF row: the generic prior


def test_cdna3_fields_are_the_azure_measurements():
    """MI300X's HBM and Infinity Fabric fractions are the stored Azure ND MI300X v5 rows over the catalog peaks
    (benchmarks/data/parts); its attention is the Primus-Turbo / AITER measurement (tests/test_cdna3_attention.py),
    and Azure's own FA2 cell equals H100's absolute FA2 rate in the same harness within 1%."""
    import csv
    from pathlib import Path

    parts = Path(__file__).resolve().parents[1] / "benchmarks/data/parts"
    rows = {r["id"]: r for f in ("attention_kernels", "nccl_bandwidth") for r in csv.DictReader(open(parts / f"{f}.csv"))}
    cat = load_catalog()
    mi = cat.gpu("MI300X")
    e = prior_for(mi.name)
    fa2 = float(rows["azure_mi300x_FlashAttention-2_hd64_s8192"]["tflops"])
    assert (e.attn_fwd, e.attn_bwd) == CDNA3_ATTN_HD128
    assert fa2 == pytest.approx(float(rows["azure_h100_FlashAttention-2_hd128_s8192"]["tflops"]), rel=0.01)
    assert e.intra_bw == pytest.approx(float(rows["azure_mi300x_ar_8G"]["busbw_gbps"]) * 1e9 / mi.intra_node_bw, rel=1e-3)
    assert e.attn_fwd < prior_for("T4-16GB").attn_fwd  # below the generic prior it replaced
