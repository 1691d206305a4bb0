"""A tabular job's missing values set XGBoost's GPU matrix layout (gbdt46b, QA 78's open item): ``tabular.missing_share``
picks ``CalcNumSymbols``'s dense / relatively dense / sparse ELLPACK (src/data/ellpack_page.cu; ``planner.model.gbdt
.ellpack_layout``). Until gbdt46b every matrix was priced dense, 8 bits a cell at max_bin 256, and the field was
refused as unknown."""
import math

import pytest
import yaml

from conftest import invoke_main
from planner.model.gbdt import densest_row_cells, ellpack_layout, gpu_ellpack_bytes
from planner.spec import load_job
from planner.workloads.tabular import plan_tabular


@pytest.mark.parametrize("share, kind, stride, symbols, bits", [
    (0.0, "dense", 50, 256, 8),  # feature-local ids, no null bin
    (0.01, "relatively dense", 50, 257, 9),  # 1.2M of the 2M rows complete: stored dense, plus the null bin
    (0.5, "sparse", 42, 50 * 256 + 1, 14),  # no complete row: global ids over the densest row's 42 cells
])
def test_bits_a_cell_follow_the_missing_share(share, kind, stride, symbols, bits):
    """2M x 50 at max_bin 256: 8 bits a cell with no missing value, 9 with a few (257 symbols), 14 when no row is
    complete (12,801 symbols); the buffer is ``CalculateBufferSize(row_stride x rows, symbols)`` + 8 B of padding."""
    lay = ellpack_layout(2_000_000, 50, 256, share)
    assert (lay.kind, lay.row_stride, lay.symbols, lay.bits) == (kind, stride, symbols, bits)
    assert gpu_ellpack_bytes(2_000_000, 50, 256, share) == math.ceil(bits * 2_000_000 * stride / 8) + 8


def test_the_densest_row_is_the_median_of_the_rows_maximum():
    """``densest_row_cells`` (its own log-space tail) against scipy's binomial: the least k with cdf(k)^rows >= 1/2,
    from a handful of rows to 2e8, at shares where a complete row is likely and where it is not."""
    binom = pytest.importorskip("scipy.stats").binom
    for rows, features, share in ((2 * 10**8, 200, 0.01), (2 * 10**8, 200, 0.1), (2 * 10**6, 50, 0.3), (1000, 50, 0.1),
                                  (10, 100_000, 0.5), (2 * 10**6, 50, 0.5)):
        want = int(binom.isf(-math.expm1(-math.log(2) / rows), features, 1 - share))
        assert densest_row_cells(rows, features, share) == want, (rows, features, share)


def test_gbdt_large_grows_by_the_ninth_bit():
    """examples/gbdt-large.yaml (200M x 200) with 1% of cells missing: some row is complete, so XGBoost stores it
    relatively dense at 9 bits a cell, 4.66 GiB more than the dense 44.76 GiB (1/8 of its 37.25 GiB matrix), and
    the plan says which layout it priced."""
    job = load_job("examples/gbdt-large.yaml")
    dense = plan_tabular(job)
    job.tabular["missing_share"] = 0.01
    missing = plan_tabular(job)
    assert missing.memory_gpu_gib - dense.memory_gpu_gib == pytest.approx(2e8 * 200 / 8 / 2**30, rel=1e-9)
    assert missing.memory_gpu_gib == pytest.approx(49.42, abs=0.01)
    assert any("ELLPACK relatively dense, 9 bits a cell" in a for a in missing.assumptions), missing.assumptions
    assert any("ELLPACK dense, 8 bits a cell" in a for a in dense.assumptions), dense.assumptions


@pytest.mark.parametrize("value, said", [(1, "must be less than 1, got 1"), (-0.1, "must be at least 0, got -0.1")])
def test_a_share_outside_0_to_1_is_refused_in_one_line(tmp_path, value, said):
    """A matrix of only missing cells has no data to train on; a negative share is no share."""
    p = tmp_path / "job.yaml"
    p.write_text(yaml.safe_dump({"tabular": {"rows": 1000, "features": 10, "trees": 10, "missing_share": value},
                                 "constraints": {"clouds": ["aws"]}}))
    code, out, err = invoke_main("recommend", p)
    assert (code, err.strip()) == (2, f"error: tabular.missing_share: {said}"), (code, out, err)
