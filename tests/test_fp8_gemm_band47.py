"""The per-tensor FP8 recipes' GEMM fraction against FP8 / BF16 ceilings measured in one harness (f8gemm47).

ml-engineering's "Maximum Achievable Matmul FLOPS comparison table" (stas00/ml-engineering compute/accelerator/
README.md; parts rows ``maf_mlengineering_*``, builder scripts/matmul_ceilings.py) measures torch.matmul in BF16 and
in float8_e4m3fn on each part with the same shape search. Each part's FP8 fraction of its FP8 peak over its BF16
fraction of its BF16 peak is what the recipes' ``gemm_rel`` stands for (planner.model.stack_kernels.RECIPES). On
Hopper the table gives 0.883 (H100 SXM), 0.914 (H200 FP8 over the H100 BF16 row, "H200 is the same") and 0.926
(GH200, 900 W): the shipped 0.92 sits in that band. The torchao float8 pairs (benchmarks/fp8_pairs.py) would need
about 0.80 on H100 to close, outside every measured Hopper value (docs/accuracy_log.md f8gemm47)."""
import csv

import pytest

from conftest import ROOT
from planner.model.stack_kernels import RECIPES

PARTS = ROOT / "benchmarks" / "data" / "parts"
#: the table's theory column per dtype (TFLOP/s), as its rows print it
THEORY = {"h100": (989, 1979), "h200": (989, 1979), "gh200": (989, 1979), "b200": (2250, 4500),
          "b300": (2250, 4500), "gb200": (2500, 5000), "gaudi2": (432, 865)}


def mamf() -> dict:
    """(part slug, dtype) -> MAMF TFLOP/s of the ``maf_mlengineering_*`` rows."""
    rows = [r for f in ("gemm_efficiency", "fp8_gemm") for r in csv.DictReader(open(PARTS / f"{f}.csv"))]
    return {tuple(r["id"].split("_")[2:4]): float(r["tflops"]) for r in rows if r["id"].startswith("maf_mlengineering_")}


def fp8_over_bf16(part: str, bf16_part: str | None = None) -> float:
    """FP8 MAMF / FP8 theory over BF16 MAMF / BF16 theory, with ``bf16_part``'s BF16 row where the part has none."""
    t = mamf()
    bf16_of = bf16_part or part
    return (t[(part, "fp8")] / THEORY[part][1]) / (t[(bf16_of, "bf16")] / THEORY[bf16_of][0])


def hopper_band() -> tuple[float, float]:
    r = (fp8_over_bf16("h100"), fp8_over_bf16("h200", "h100"), fp8_over_bf16("gh200"))
    return min(r), max(r)


def test_the_table_ratios_per_part():
    assert fp8_over_bf16("h100") == pytest.approx(0.883, abs=1e-3)
    assert fp8_over_bf16("h200", "h100") == pytest.approx(0.914, abs=1e-3)
    assert fp8_over_bf16("gh200") == pytest.approx(0.926, abs=1e-3)
    # Blackwell's per-tensor FP8 runs nearer its 2x (not priced: benchmarks/precision_pairs.py, README fp8_rel row)
    for part, want in (("b200", 0.983), ("b300", 0.948), ("gb200", 0.992), ("gaudi2", 0.986)):
        assert fp8_over_bf16(part) == pytest.approx(want, abs=1e-3), part


@pytest.mark.parametrize("recipe", ["tensorwise", "delayed"])
def test_per_tensor_gemm_rel_sits_in_the_measured_hopper_band(recipe):
    """The value the pairs would need (about 0.80) fails here: no GEMM table supports it."""
    lo, hi = hopper_band()
    assert lo <= RECIPES[recipe].gemm_rel <= hi, (recipe, RECIPES[recipe].gemm_rel, lo, hi)
