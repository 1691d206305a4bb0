"""No GPU's GEMM prior may exceed what its matmul alone reaches: the ml-engineering "Maximum Achievable Matmul
FLOPS" BF16 table (stas00/ml-engineering compute/accelerator/README.md, read 2026-12-01), copied here as data
independent of the priors. Before the MAMF-scaled priors (efficiency.mamf_prior) MI300X ran on the generic 0.70
of peak where its matmul alone reaches 0.51."""
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


@pytest.mark.parametrize("gpu", ["MI300X-192GB", "MI325X-256GB", "MI355X-288GB", "Gaudi2-96GB", "Gaudi3-128GB"])
def test_unmeasured_gpus_lose_what_h100_loses_from_matmul_to_step(gpu):
    """In-step / matmul-alone is H100's (0.60 / 0.803) for a GPU whose steps no development source measures."""
    cat = load_catalog()
    h100 = MAMF["H100-SXM-80GB"] * 1e12 / cat.gpu("H100-SXM-80GB").peak("bf16")
    ceiling = MAMF[gpu] * 1e12 / cat.gpu(gpu).peak("bf16")
    assert prior_for(gpu).gemm_max == pytest.approx(H100_IN_STEP_GEMM * ceiling / h100, rel=1e-3)
    assert "MAMF" in prior_for(gpu).sources["*"]


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
