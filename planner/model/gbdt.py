"""The per-tree cost model of XGBoost's ``hist`` tree method, which ``planner.workloads.tabular`` uses: on CPU (one
thread), fitted by ``calibration/gbdt.py`` to measured runs, and on GPU.

Per tree: histogram building touches every (row, feature) once per level, gradient updates every
row, split finding every (node, feature, bin) — XGBoost's hist algorithm (Chen & Guestrin 2016
§3.3; the ``hist`` method's per-level histogram construction):

    t_tree = a x rows x features x depth + b x rows + e x features x bins x 2^depth + c

and on a GPU (``gpu_tree_fixed_s``, ``gpu_sketch_s``; constants and their source below) a per-tree fixed cost by level,
node and (node, feature) beside the row work, and the quantile sketch's copy of the matrix to the device once a run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_BIN = 256


def design(rows, features, depth, max_bin=MAX_BIN):
    """Columns of the per-tree cost model: [rows x features x depth, rows, features x bins x 2^depth, 1]."""
    rows, features, depth = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (rows, features, depth)))
    return np.stack([rows * features * depth, rows, features * max_bin * 2.0**depth, np.ones_like(rows)], axis=-1)


#: a GBDT profile's coefficients of ``design``'s columns, in its order (``calibration.gbdt.fit`` writes them)
COEFFICIENTS = ("a_s_per_row_feature_level", "b_s_per_row", "e_s_per_node_feature_bin", "c_s_per_tree")


def predict_tree_s(prof: dict, rows, features, depth, max_bin=MAX_BIN) -> np.ndarray:
    """One-thread seconds per tree from a profile (vectorised), at ``max_bin`` histogram bins (XGBoost's
    ``max_bin``; the profile is fitted at ``MAX_BIN``, its ``e`` coefficient per bin)."""
    coef = np.array([prof[k] for k in COEFFICIENTS])
    return design(rows, features, depth, max_bin) @ coef


# --- GPU (XGBoost ``hist`` on CUDA) ----------------------------------------------------------------------------------
# A GPU tree is not ~0 s on a small data set: every level launches the histogram, evaluate-splits and partition kernels
# and synchronises with the host (the next level's node count is read back), and each node of a level is a histogram
# and a split to evaluate. Fitted once (non-negative least squares, relative error) to the intercepts of a published
# XGBoost GPU sweep: Evovest/EvoTrees.jl benchmarks/pythoncall/results/regressor-xgb-gpu.csv (commit 12fad174;
# script benchmarks/pythoncall/regressor.jl: xgboost via Python, device "cuda", 200 rounds, max_bin 64,
# subsample 0.5, colsample_bytree 0.5, a warm-up run first; rows 1e5 / 1e6 / 1e7 x 10 / 100 features x depth 5 / 10).
# Per (features, depth), the seconds at 1e5 and 1e6 rows, extrapolated to 0 rows, over 200 trees: 0.67 and 3.69 ms a
# tree at 10 features (depth 5, 10), 0.66 and 7.89 ms at 100 (50 sampled); the fit gives 0.61 / 3.75 / 0.73 / 7.61 ms.
# The file does not name its GPU (the repository's README benchmarks on an RTX A4000); these are launch- and
# latency-bound costs, taken as they are for every NVIDIA part (the row-proportional work scales by the part).
#: seconds per tree level: kernel launches and the host-device synchronisation of one level
GPU_S_PER_LEVEL = 1.04e-4
#: seconds per tree node (2^depth of them, or one per row when fewer): its histogram build and split bookkeeping
GPU_S_PER_NODE = 2.22e-6
#: seconds per (node, feature) of split evaluation: XGBoost's GPU evaluator scans a feature's bins within one thread
#: block per (node, feature) (dmlc/xgboost src/tree/gpu_hist/evaluate_splits.cu ``LaunchEvaluateSplits``: "One block
#: for each feature", a grid of max_active_features x nodes blocks of 32 threads), so the term is per (node, feature), not per bin
#: (fitted 1.31e-9 s per (node, sampled feature, bin) at max_bin 64 = 8.4e-8 per (node, feature))
GPU_S_PER_NODE_FEATURE = 1.31e-9 * 64
#: bytes per cell the GPU quantile sketch copies from host memory: ``QuantileDMatrix`` (and a ``DMatrix`` trained with
#: device "cuda") copies the float32 matrix to the device in batches and sketches it there (src/common/hist_util.cu)
GPU_SKETCH_BYTES_PER_CELL = 4.0


def gpu_tree_fixed_s(rows, features, depth):
    """Seconds of one GPU tree that do not scale with rows x features x levels (vectorised): per level, per node
    (``2^depth``, at most one node per row: a level has no more non-empty nodes than rows) and per (node, feature).
    ``GPU_S_PER_*``: the fit and its source above."""
    rows, features, depth = (np.asarray(x, dtype=np.float64) for x in (rows, features, depth))
    nodes = np.minimum(2.0**depth, rows)
    return GPU_S_PER_LEVEL * depth + GPU_S_PER_NODE * nodes + GPU_S_PER_NODE_FEATURE * nodes * features


def gpu_sketch_s(rows, features, host_bw):
    """Seconds of the GPU quantile sketch, once per run: the float32 matrix copied over the GPU's host link
    (``host_bw``, bytes/s; PCIe, or NVLink-C2C on a Grace superchip). The device-side sort of the copied values is
    memory-bound at HBM rates and not counted, so this is a floor."""
    return rows * features * GPU_SKETCH_BYTES_PER_CELL / np.asarray(host_bw, dtype=np.float64)


# --- GPU memory (XGBoost 3.2 ``hist`` on CUDA: what the device allocates) -------------------------------------------
# Read in dmlc/xgboost's source and matched against the xgboost 3.2.0 wheel's libxgboost.so (its strings carry
# ``CalcNumSymbols``'s three log lines "Ellpack is dense." / "Ellpack is relatively dense." / "Ellpack is sparse.",
# ``DeviceHistogramStorage::Reset(Context const*, int, unsigned long)`` and ``BuildHistogram(..., Span<GradientPairInt64
# const> gpair, ...)``, the versions below). The job's share of missing cells (``tabular.missing_share``, default 0:
# dense) picks the ELLPACK layout (``ellpack_layout``).
#: bytes ``CompressedBufferWriter::CalculateBufferSize`` adds before the packed symbols (src/common/compressed_iterator.h
#: ``detail::kPadding``: "so we can read slightly off the beginning of the array"); the total is rounded up to 4 bytes
#: for ``atomicOr`` on unsigned ints
ELLPACK_PADDING_BYTES = 8
#: device bytes per row beside the matrix: the objective's float gradient pair (``GradientPair``, 2 x 4 B), its
#: quantised copy the histograms are built from (``GradientPairInt64``, 2 x 8 B: src/tree/gpu_hist/quantiser.cuh
#: ``CalcQuantizedGpairs`` allocates a rows x targets ``linalg::Matrix<GradientPairInt64>``) and the row partitioner's
#: row ids and their sorting staging area (src/tree/gpu_hist/row_partitioner.cuh ``ridx_`` / ``ridx_tmp_``, ``RowIndexT``
#: = uint32). Labels and the prediction cache (4 B a row each) are not counted.
GPU_BYTES_PER_ROW = 2 * 4 + 2 * 8 + 2 * 4
#: bytes of one histogram bin: a quantised ``GradientPairInt64`` (src/tree/gpu_hist/histogram.cuh
#: ``DeviceHistogramStorage``: "using GradientSumT = GradientPairInt64")
GPU_HIST_BYTES_PER_BIN = 16
#: nodes the GPU histogram cache holds before it spills into a one-batch overflow buffer: src/tree/hist/hist_param.h
#: ``HistMakerTrainParam::CudaDefaultNodes`` = 1 << 12 ("Smaller for GPU due to memory limitation"; the CPU's is 1 << 16)
GPU_MAX_CACHED_HIST_NODES = 1 << 12
#: tree nodes expanded together: src/tree/updater_gpu_hist.cu ``UpdateTree`` builds ``Driver<GPUExpandEntry>
#: driver(param, 32)`` ("Process maximum 32 nodes at a time"), so a batch allocates at most 64 child histograms
GPU_NODE_BATCH = 32
#: bytes the histogram buffer reserves when it is made: ``cuda_impl::DftReserveSize`` = 1 << 22 int64 values ("Start
#: with about 16mb": 32 MiB), the floor of the cache
GPU_HIST_RESERVE_BYTES = (1 << 22) * 8


def ellpack_symbol_bits(symbols: int) -> int:
    """Bits per packed bin id: ``detail::SymbolBits`` (src/common/compressed_iterator.h), ceil(log2(symbols)), at
    least 1: 256 symbols take 8 bits, 257 take 9."""
    return max(math.ceil(math.log2(symbols)), 1)


@dataclass(frozen=True)
class EllpackLayout:
    """The layout XGBoost's GPU ``hist`` stores the quantised matrix in (``ellpack_layout``)."""
    kind: str  #: "dense", "relatively dense" or "sparse": ``CalcNumSymbols``'s log line
    row_stride: int  #: cells stored a row
    symbols: int  #: the bin-id alphabet, the null bin included where there is one

    @property
    def bits(self) -> int:
        return ellpack_symbol_bits(self.symbols)


def densest_row_cells(rows: int, features: int, missing_share: float) -> int:
    """Present cells in the densest of ``rows`` rows when each of ``features`` cells is missing independently with
    probability ``missing_share``: a row's count is Binomial(features, 1 - missing_share) with upper tail S(k), and
    the rows' maximum is at least k with probability 1 - (1 - S(k))^rows; this is its median, the largest k where
    that reaches 1/2. S(k) is summed down from k = features in logs (the pmf ratio p(k-1)/p(k) = k/(features-k+1) x
    share/(1-share)), so 0.99^1e6 does not underflow. At least 1: a matrix with data has a non-empty row."""
    if missing_share <= 0.0:
        return features
    k = np.arange(features, 0, -1, dtype=np.float64)  # features .. 1
    log_ratio = np.log(k) - np.log(features - k + 1) + math.log(missing_share) - math.log1p(-missing_share)
    log_pmf = features * math.log1p(-missing_share) + np.concatenate(([0.0], np.cumsum(log_ratio)))  # k = F .. 0
    log_tail = np.minimum(np.logaddexp.accumulate(log_pmf), 0.0)  # log S(k), k = F .. 0
    with np.errstate(divide="ignore"):
        reached = rows * np.log1p(-np.exp(log_tail)) <= -math.log(2.0)
    return max(features - int(np.argmax(reached)), 1)


def ellpack_layout(rows: int, features: int, max_bin: int = MAX_BIN, missing_share: float = 0.0) -> EllpackLayout:
    """The ELLPACK layout XGBoost 3.2 picks (dmlc/xgboost src/data/ellpack_page.cu ``CalcNumSymbols``, read with its
    three log lines, which the 3.2.0 wheel's libxgboost.so carries):

    - "Ellpack is dense." (``is_dense``: no missing cell, ``DMatrix::IsDense``): a row stores every feature, each
      cell its feature-local bin id; the alphabet is the largest per-feature cut count ("No missing, hence no null
      value, hence no + 1 symbol"): at most ``max_bin``, and no more than the rows (a feature's cuts are at most its
      distinct values). Measured with xgboost 3.2.0 (``QuantileDMatrix.get_quantile_cut``, less the min value the C
      API prepends per feature): 256 cuts a feature at max_bin 256, 64 at 64, 100 at 100 rows.
    - "Ellpack is relatively dense." (a missing cell, but the densest row, ``row_stride``, holds every feature):
      stored as dense, feature-local ids plus the null bin: ``n_symbols_dense + 1`` (257 at max_bin 256: 9 bits).
    - "Ellpack is sparse." (no row is complete): rows of ``row_stride`` cells, the densest row's present count
      (``GetRowStride``; shorter rows padded with the null bin), each cell its global bin id: ``TotalBins() + 1``
      symbols (50 features x 256 bins + 1 = 12,801: 14 bits).

    The densest row is ``densest_row_cells`` (cells missing independently at ``missing_share``); any share above 0
    is taken as some cell missing."""
    cuts = min(max_bin, rows)
    if missing_share <= 0.0:
        return EllpackLayout("dense", features, cuts)
    stride = densest_row_cells(rows, features, missing_share)
    if stride == features:
        return EllpackLayout("relatively dense", features, cuts + 1)
    return EllpackLayout("sparse", stride, features * cuts + 1)


def gpu_ellpack_bytes(rows: int, features: int, max_bin: int = MAX_BIN, missing_share: float = 0.0) -> int:
    """Device bytes of XGBoost's quantised GPU matrix (ELLPACK) in the layout ``ellpack_layout`` picks.
    ``InitCompressedData`` allocates ``CompressedBufferWriter::CalculateBufferSize(row_stride x rows, symbols)``
    (src/common/compressed_iterator.h): ``detail::SymbolBits`` bits a cell, rounded up to bytes, plus
    ``ELLPACK_PADDING_BYTES``, rounded up to 4 bytes."""
    layout = ellpack_layout(rows, features, max_bin, missing_share)
    packed = -(-layout.bits * rows * layout.row_stride // 8)
    return max(-(-(packed + ELLPACK_PADDING_BYTES) // 4) * 4, ELLPACK_PADDING_BYTES + 1)


def gpu_histogram_cache_bytes(rows: int, features: int, depth: int, max_bin: int = MAX_BIN) -> int:
    """Peak device bytes of the GPU node-histogram cache (src/tree/gpu_hist/histogram.cuh ``DeviceHistogramStorage``).

    Every node expanded gets a histogram of ``features x max_bin`` bins (``GPU_HIST_BYTES_PER_BIN`` each), both
    children of a split (one built, the other by subtraction), and children at ``depth`` get none
    (``ExpandEntryImpl::ChildIsValid``: depth >= max_depth), so a level-wise tree allocates levels 0 .. depth - 1
    (at most one node per row on a level). ``AllocateHistograms`` grows the buffer to max(2 x its size, the size
    needed), batch by batch (``GPU_NODE_BATCH`` parents); once ``GPU_MAX_CACHED_HIST_NODES`` are cached a batch goes
    to an overflow buffer instead. The buffer starts with ``GPU_HIST_RESERVE_BYTES`` reserved and is zeroed between
    trees, not freed, so each tree reaches the same peak (thrust's own capacity policy on a resize is not modelled)."""
    size = used = overflow = 0
    for level in range(depth):
        nodes = int(min(2**level, rows))
        batch_max = 1 if level == 0 else 2 * GPU_NODE_BATCH
        while nodes > 0:
            batch = min(nodes, batch_max)
            nodes -= batch
            if used >= GPU_MAX_CACHED_HIST_NODES:
                overflow = max(overflow, batch)
                continue
            used += batch
            size = max(2 * size, used) if size < used else size
    hist_bytes = features * min(max_bin, rows) * GPU_HIST_BYTES_PER_BIN
    return max(size * hist_bytes, GPU_HIST_RESERVE_BYTES) + overflow * hist_bytes


def gpu_memory_bytes(rows: int, features: int, depth: int, max_bin: int = MAX_BIN, missing_share: float = 0.0) -> int:
    """Device bytes an XGBoost ``hist`` run holds on one GPU: the quantised matrix, the per-row gradient and
    partition buffers and the histogram cache (the three functions and constant above, each with its source)."""
    return (gpu_ellpack_bytes(rows, features, max_bin, missing_share) + rows * GPU_BYTES_PER_ROW
            + gpu_histogram_cache_bytes(rows, features, depth, max_bin))
