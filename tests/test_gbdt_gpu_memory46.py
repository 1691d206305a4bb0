"""A tabular job's GPU memory is what XGBoost 3.2's ``hist`` allocates on the device (gbdt46, QA 75's open item):
the ELLPACK matrix at ``detail::SymbolBits`` bits a cell, 32 B a row of gradients and row partition, and the node
histogram cache (``planner.model.gbdt.gpu_memory_bytes``; the sources are in its docstrings). Until gbdt46 it was
1 B a cell + 8 B a row for every ``max_bin`` and depth, with no histogram cache."""
import pytest

from planner.model.gbdt import (GPU_BYTES_PER_ROW, GPU_HIST_RESERVE_BYTES, ellpack_symbol_bits, gpu_ellpack_bytes,
                                gpu_histogram_cache_bytes, gpu_memory_bytes)
from planner.spec import load_job, load_job_dict
from planner.workloads.tabular import plan_tabular


def test_symbol_bits_are_xgboost_detail_symbolbits():
    """ceil(log2(symbols)), at least 1 (src/common/compressed_iterator.h; xgboost's own test asserts
    SymbolBits(256) == 8 and SymbolBits(150) == 8): a null bin over 256 bins (257 symbols) costs a ninth bit."""
    assert [ellpack_symbol_bits(s) for s in (1, 2, 64, 65, 150, 256, 257)] == [1, 1, 6, 7, 8, 8, 9]


def test_one_byte_a_cell_holds_at_max_bin_256_and_not_below():
    """The old 1 B a cell is right for a dense matrix at the default max_bin 256 in xgboost 3.2 -- the dense ELLPACK
    stores feature-local bin ids, 256 symbols with no null bin, 8 bits -- plus the writer's 8 B of padding rounded to
    4 B (``CalculateBufferSize``). It would be wrong if the global bin id (50 x 256 + 1 symbols, 14 bits) or a null bin
    (257, 9 bits) were priced. At max_bin 64 a cell is 6 bits, not 8; a 100-row matrix has at most 100 cuts a
    feature (7 bits)."""
    assert gpu_ellpack_bytes(2_000_000, 50, 256) == 2_000_000 * 50 + 8
    assert gpu_ellpack_bytes(2_000_000, 50, 64) == 2_000_000 * 50 * 6 // 8 + 8
    assert gpu_ellpack_bytes(100, 3, 256) == 272  # ceil(7 x 300 / 8) = 263, + 8 = 271, rounded up to 4


def test_cut_count_per_feature_is_max_bin_in_the_installed_xgboost():
    """The alphabet of the dense ELLPACK is the largest per-feature cut count (``CalcNumSymbols``). Measured on the
    installed xgboost (``QuantileDMatrix.get_quantile_cut``: the C API prepends each numeric feature's min value, so a
    feature's count there is its cuts + 1): max_bin cuts for a continuous feature, its distinct values for a feature
    with fewer, and the rows for a short matrix -- the ``min(max_bin, rows)`` ``gpu_ellpack_bytes`` prices."""
    xgb = pytest.importorskip("xgboost")
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    for rows, max_bin in ((20_000, 256), (20_000, 64), (100, 256)):
        x = rng.random((rows, 3), dtype=np.float32)
        x[:, 2] = rng.integers(0, 10, rows)
        indptr, _ = xgb.QuantileDMatrix(x, label=rng.random(rows), max_bin=max_bin).get_quantile_cut()
        cuts = np.diff(indptr) - 1
        assert cuts.tolist() == [min(max_bin, rows)] * 2 + [10], (rows, max_bin, cuts)


def test_histogram_cache_grows_by_doubling_and_stops_at_4096_nodes():
    """Levels 0 .. depth - 1 get a histogram a node, allocated 64 at a time (32 parents a batch) into a buffer that
    grows to max(2 x size, need): depth 10 (1,023 histograms) ends at 2,032; past 4,096 cached nodes a batch goes to
    the overflow (depth 13: 8,128 + 64). Below the 32 MiB reservation the reservation is the floor."""
    hist = 200 * 256 * 16
    assert gpu_histogram_cache_bytes(10**7, 200, 10) == 2032 * hist
    assert gpu_histogram_cache_bytes(10**7, 200, 13) == (8128 + 64) * hist
    assert gpu_histogram_cache_bytes(10**7, 200, 2) == GPU_HIST_RESERVE_BYTES
    assert gpu_histogram_cache_bytes(10**7, 200, 12, max_bin=32) == 8128 * 200 * 32 * 16


def test_plan_prices_the_device_allocation():
    """The plan's ``memory_gpu_gib`` is ``gpu_memory_bytes``: 2M x 50 at depth 8 is 100,000,008 B of matrix, 64 MB of
    row buffers and 508 histograms of 204,800 B (0.250 GiB; it was 0.108 GiB, 1 B a cell + 8 B a row)."""
    plan = plan_tabular(load_job_dict({"tabular": {"rows": 2e6, "features": 50, "trees": 10, "depth": 8}}))
    want = 100_000_008 + 2_000_000 * GPU_BYTES_PER_ROW + 508 * 50 * 256 * 16
    assert gpu_memory_bytes(2_000_000, 50, 8) == want
    assert plan.memory_gpu_gib == pytest.approx(want / 2**30)
    assert plan.memory_gpu_gib == pytest.approx(0.2496, abs=1e-4)


def test_gbdt_large_no_longer_fits_an_l40s():
    """examples/gbdt-large.yaml (200M x 200, depth 10) needs 37.25 GiB of matrix, 5.96 GiB of row buffers and 1.55
    GiB of histograms, 44.76 GiB, over an L40S's 44.7 (AWS g6e: 45,776 MiB): the g6e rows ranked 2nd and 3rd until
    gbdt46 (38.74 GiB needed) and are now refused, the GPU memory said at the need's precision."""
    plan = plan_tabular(load_job("examples/gbdt-large.yaml"))
    assert [r.instance for r in plan.ranked] == ["aws:p5.4xlarge", "gcp:n2-highmem-96"]
    gone = {r.instance: r.reason for r in plan.rejected}
    assert gone["aws:g6e.8xlarge"] == "needs 44.8 GiB GPU memory, has 44.7", gone
    assert plan.memory_gpu_gib == pytest.approx(44.76, abs=0.01)
