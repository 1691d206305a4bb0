"""How much of a GPU's datasheet peak real kernels reach: datasheet priors, or measured values.

A datasheet gives peaks (dense TFLOP/s per dtype, HBM TB/s, link GB/s). Real kernels reach a
fraction that depends on shape (small or badly aligned GEMMs run far below peak). This module
holds those fractions as one ``Efficiency`` per GPU type. Priors come from public measurements
(cited per field below); a calibration profile (``calibration/``) replaces them with values
measured on the target machine, and ``Efficiency.sources`` records which is which so outputs can
say what was measured and what assumed.

GEMM time model (``gemm_time``), vectorised over shapes:

    t = max(2mnk / (peak * eff_max * util(m, n) * k/(k + k_half)),  bytes(m,n,k) / hbm_bw) + t_launch

``util`` is wave quantisation: the output is cut into tiles, tiles run in waves of one per SM,
and the last wave is partly idle. cuBLAS picks among tile shapes; smaller tiles fill the GPU
better but run each tile less efficiently. We take the best of three tile options, as its
heuristics do (the tile table is data, ``TILES``). This is the shape dependence reported by
NVIDIA's "GPU Performance Background" guide (docs.nvidia.com/deeplearning/performance, §"wave
quantization", "tile quantization") and measured by the calibration GEMM grid.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from hardware_catalog.catalog import builtin_gpu

# (tile_m, tile_n, relative per-tile efficiency) — large tiles reuse operands best
TILES = ((256, 128, 1.0), (128, 128, 0.92), (64, 128, 0.78), (64, 64, 0.6))
_TILE_M, _TILE_N, _TILE_REL = (np.array(x, dtype=np.float64) for x in zip(*TILES))


@dataclass(frozen=True)
class Efficiency:
    gemm_max: float = 0.80  # large bf16 GEMM / dense peak (A100: ~0.80-0.85, H100: ~0.70-0.75)
    gemm_k_half: float = 96.0  # k at which the main loop reaches half its steady rate
    sm_count: int = 108
    attn_fwd: float = 0.60  # flash attention forward / dense peak (FA2 paper: ~0.5-0.7 on A100)
    attn_bwd: float = 0.45  # flash attention backward / dense peak
    hbm: float = 0.80  # memory-bound kernels / HBM peak (STREAM-like copy on A100/H100: ~0.8-0.9)
    # host (CPU) time per eager op in a training step: Python + autograd + ATen dispatch +
    # cudaLaunchKernel, ~5-25 us per op (jiahuanglin.xyz "From PyTorch op to kernel launch",
    # table of per-layer dispatch costs); the calibration loop measures it as the per-op cost of
    # an autograd chain (calibration/bench.py launch_rows). Steps are host-bound when the GPU
    # work per op is shorter than this.
    launch_s: float = 15e-6
    kernel_gap_s: float = 2e-6  # GPU-side gap between back-to-back kernels (launch latency, tail)
    conv_rel: float = 0.85  # convolutions (implicit GEMM, cuDNN) relative to a large GEMM
    # large fp32 GEMM on the CUDA cores (SIMT FFMA, no tensor cores) / the fp32 peak, where measured;
    # None: the tensor-core ``gemm_max`` (``simt_max``). At its peak a SIMT GEMM asks far fewer operand
    # bytes per second of shared memory and L2 than a tensor-core one (V100: 8x fewer FLOP/s, 2x the
    # bytes per element), so it can run closer to its own peak: V100 measures 0.92 vs 0.78
    simt_gemm_max: float | None = None
    # FP8 GEMM ceiling over the BF16 one, each as a fraction of its own datasheet peak, relative to H100's (both
    # measured where a table gives both dtypes: ``CDNA3_MAF_TFLOPS``): scales the recipe's FP8 GEMM fraction
    # (planner.model.stack_kernels.RECIPES ``gemm_rel``, set from H100) on this part; 1.0 where not measured
    fp8_rel: float = 1.0
    intra_bw: float = 0.75  # achieved bus bandwidth / NVLink per-direction peak (nccl-tests)
    inter_bw: float = 0.85  # achieved bus bandwidth / NIC line rate (nccl-tests over IB/RoCE)
    intra_alpha_s: float = 8e-6  # per-step latency of an intra-node collective
    inter_alpha_s: float = 15e-6  # per-step latency across nodes
    sources: dict = field(default_factory=dict)  # field -> "measured: <profile>" | "prior: <why>"
    gemm_table: tuple | None = None  # measured (m, n, k, efficiency) points, if calibrated

    def with_(self, **kw) -> "Efficiency":
        return replace(self, **kw)

    def low_precision_rel(self, peak: str) -> float:
        """What multiplies a low-precision recipe's ``gemm_rel`` on this part: ``fp8_rel`` for the recipes that run
        at the FP8 peak (``LowPrecisionRecipe.peak`` "fp8", and "fp8block": the block-scaled FP8 GEMMs run on the same
        FP8 tensor cores), 1.0 for the others (no part has a measured ratio)."""
        return self.fp8_rel if peak in ("fp8", "fp8block") else 1.0

    @property
    def simt_max(self) -> float:
        """Large-GEMM fraction of the fp32 peak for math on the CUDA cores (``simt_gemm_max``, else
        the tensor-core ``gemm_max``)."""
        return self.gemm_max if self.simt_gemm_max is None else self.simt_gemm_max

    # -------------------------------------------------------------------------------------------
    def gemm_util(self, m, n):
        """Best wave-quantisation utilisation over the tile options, times tile efficiency."""
        m = np.asarray(m, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        # the tile options along a last axis (one numpy call per step for all four, the same operations per
        # element); the best is the running maximum over them from 0, as a loop over TILES would take it
        shape = np.broadcast(m, n).shape
        tiles = np.ceil(m[..., None] / _TILE_M) * np.ceil(n[..., None] / _TILE_N)
        waves = np.ceil(tiles / self.sm_count)
        util = tiles / (waves * self.sm_count) * _TILE_REL
        best = np.zeros(shape)
        for j in range(len(TILES)):
            best = np.maximum(best, util[..., j])
        return best

    def gemm_efficiency(self, m, n, k):
        """Fraction of dense peak for an (m x k) @ (k x n) GEMM."""
        k = np.asarray(k, dtype=np.float64)
        eff = self.gemm_max * self.gemm_util(m, n) * k / (k + self.gemm_k_half)
        if self.gemm_table is not None:
            eff = self._table_correction(m, n, k, eff)
        return eff

    def _table_correction(self, m, n, k, eff):
        """Scale the analytic shape curve by measured/predicted at the nearest measured shape
        (nearest in log2 space), so that measured shapes are reproduced exactly and shapes in
        between inherit the correction of their closest measurement.

        The result is held at or under the fastest the profile states (``gemm_max``, the fitted large-GEMM
        ceiling, or its fastest measured row; each <= 1, README "Calibration profiles"): the ratio at a grid's
        edge is carried to shapes past it, where the analytic curve keeps rising, and at a small edge shape
        the curve's 128 x 128 tiles (``gemm_util``) under-predict the kernel cuBLAS picks, so the ratio is
        large. Until QA 73 a profile with a 1024^3 row at 0.42 of peak, ``gemm_max`` 0.10 and
        ``gemm_k_half`` 8192 priced an 8k x 4k x 14k GEMM at 3.09 of the H100's peak and
        ``examples/llama3-8b-estimate.yaml`` at "MFU 114%"."""
        pts = np.asarray(self.gemm_table, dtype=np.float64).reshape(-1, 4)
        if len(pts) == 0:
            return eff
        pm, pn, pk, pe = pts.T
        pred = self.gemm_max * self.gemm_util(pm, pn) * pk / (pk + self.gemm_k_half)
        ratio = pe / np.maximum(pred, 1e-9)
        grid = np.log2(np.stack([pm, pn, pk], axis=1))
        M, N, K = np.broadcast_arrays(*(np.log2(np.maximum(np.asarray(x, dtype=np.float64), 1)) for x in (m, n, k)))
        q = np.stack([M.ravel(), N.ravel(), K.ravel()], axis=1)
        nearest = np.empty(len(q), dtype=np.int64)
        for s in range(0, len(q), 1 << 15):  # chunks bound the (queries x points) distance matrix
            d = ((q[s:s + (1 << 15), None, :] - grid[None]) ** 2).sum(-1)
            nearest[s:s + (1 << 15)] = d.argmin(axis=1)
        return np.minimum(eff * ratio[nearest].reshape(M.shape), max(self.gemm_max, float(pe.max())))

    def gemm_time(self, m, n, k, peak_flops, hbm_bw, bytes_per_el=2.0, batch=1.0, out_bytes=None):
        """Seconds for ``batch`` independent (m x k) @ (k x n) GEMMs run as one batched kernel
        (vectorised; peak/hbm may be arrays): max(compute, operand traffic). The batch's tiles
        share the waves, so wave quantisation applies to batch * tiles. ``bytes_per_el``: the two
        inputs' width; ``out_bytes``: the (m x n) output's (None: the inputs'). A low-precision GEMM
        reads 1-byte (or 4-bit) operands but writes its output at the activation width: Transformer
        Engine's FP8 GEMMs return ``out_dtype=activation_dtype`` (module/linear.py, grouped_linear.py
        ``general_gemm`` / ``general_grouped_gemm`` calls; fp8moe55)."""
        m, n, k = (np.asarray(x, dtype=np.float64) for x in (m, n, k))
        batch = np.asarray(batch, dtype=np.float64)
        flops = 2 * m * n * k * batch
        eff = self.gemm_efficiency(m * batch, n, k) if np.any(batch != 1) else self.gemm_efficiency(m, n, k)
        compute = flops / (np.asarray(peak_flops) * np.maximum(eff, 1e-6))
        out_b = bytes_per_el if out_bytes is None else out_bytes
        memory = ((m * k + k * n) * bytes_per_el + m * n * out_b) * batch / (np.asarray(hbm_bw) * self.hbm)
        return np.maximum(compute, memory)

    def memory_time(self, nbytes, hbm_bw, kernels=0):
        """Seconds to move ``nbytes`` through HBM at the reached fraction, plus kernel gaps."""
        return np.asarray(nbytes) / (np.asarray(hbm_bw) * self.hbm) + kernels * self.kernel_gap_s


# Priors per GPU family. Sources: NVIDIA cuBLAS/"Deep Learning Performance" guide GEMM plots
# (A100 ~ 250-270 of 312 TFLOP/s on large bf16 GEMMs, H100 SXM ~ 650-750 of 989); FlashAttention-2
# paper (Dao 2023) Fig. 5-7 (A100 fwd 50-73% of peak, bwd 40-60%); FlashAttention-3 (H100 fwd up
# to 75%); nccl-tests busbw (A100 NVLink ~230 GB/s of 300, H100 ~370 of 450; IB/RoCE ~ 85-90% of
# line rate). A GPU not listed uses the generic prior with its SM count from the catalog if known.
#
# H100/H200/B200 ``gemm_max`` is the one global parameter set from training sources rather than a
# GEMM microbenchmark: cuBLAS reaches ~0.72 of peak on large isolated bf16 GEMMs, but inside real
# training steps the whole model runs slower than that prior predicts. It is refit on the grid
# 0.50-0.78 (benchmarks/validate.py FIT_GRID) to the mean of all sources' median errors: with
# NCCL's SM share under overlapped FSDP collectives modelled (physics.nccl_overlap_slowdown,
# which used to hide inside this value) the optimum is flat over 0.60-0.62: mean of all 17 sources'
# medians 8.77% at 0.60, 8.72% at 0.62, 8.86% at 0.58, 8.91% at 0.64 (2026-11-30, 310 mbridge_all rows).
# Within that tie the lower value is kept: it predicts slower steps, the conservative side for a budget
# (at 0.62 dgxc 4.5 -> 2.5% and mbridge_all 13.9 -> 13.1% median, nemo2407 5.0 -> 6.9% and nemo2407_ft
# 7.9 -> 10.0%). LOSO refits 0.58-0.62. The same for every row and every model; a calibration profile
# replaces it. Every family whose gemm_max derives from it (B300, the matmul-ceiling-priced GPUs) takes it
# through ``IN_STEP_GEMM_OF`` below, which the LOSO refit evaluates at its trial values too.
H100_IN_STEP_GEMM = 0.60
PRIORS = {
    "A100": Efficiency(gemm_max=0.83, sm_count=108, attn_fwd=0.60, attn_bwd=0.45, hbm=0.85,
                       intra_bw=0.77, launch_s=20e-6, sources={"*": "prior: A100 public measurements"}),
    # H100 / H200 / B200 gemm_max: the fitted value, set with every family derived from it (``IN_STEP_GEMM_OF``)
    "H100": Efficiency(sm_count=132, attn_fwd=0.55, attn_bwd=0.40, hbm=0.85,
                       intra_bw=0.80, sources={"*": "prior: H100 (gemm_max from in-step measurements)"}),
    "H200": Efficiency(sm_count=132, attn_fwd=0.55, attn_bwd=0.40, hbm=0.85,
                       intra_bw=0.80, sources={"*": "prior: H200 ~ H100 compute"}),
    "B200": Efficiency(sm_count=148, attn_fwd=0.50, attn_bwd=0.38, hbm=0.80,
                       intra_bw=0.80, sources={"*": "prior: B200 assumed ~ H100 fractions"}),
    "generic": Efficiency(gemm_max=0.70, sm_count=80, attn_fwd=0.45, attn_bwd=0.35, hbm=0.75,
                          sources={"*": "prior: generic GPU fractions"}),
}

#: Blackwell Ultra (B300 / GB300) runs large GEMMs faster than Blackwell (B200 / GB200) at the same
#: datasheet dense FP8/BF16 peaks (catalog: 5000/2500 on both NVL72 parts): one benchmark (Azure
#: AI-benchmarking-guide, cuBLASLt FP8, random init, 10,000 warm-up iterations) measures 3308.5
#: TFLOP/s at 16384^3 on ND GB300 v6 (egmsft/AI-benchmarking-guide @18e80a21
#: Azure_Results/ND_GB300_v6_results.md; CUDA 13.0) vs 2906.9 on ND GB200 v6 (Azure/AI-benchmarking-guide
#: @2a370be6 Azure_Results/ND_GB200_v6_results.md; CUDA 12.8): 1.138x (8192^3 1.142x, 6144x12288x12288
#: 1.133x; benchmarks/data/parts/fp8_gemm.csv; its FP4 table, 1.133x at 16384^3, is not used here and
#: checks it: tests/test_blackwell_ultra.py). What the measurement does not separate: Blackwell Ultra
#: has 160 SMs (NVIDIA technical blog "Inside NVIDIA Blackwell Ultra", 2025) to B200's 148, and GB300
#: a 1400 W limit to GB200's 1200 W, under datasheet peaks that stay equal. The in-step fraction is
#: B200's times this ratio (the shared in-step value is no Blackwell measurement: only the ratio is
#: taken). Measured on the NVL72 parts; the HGX B300 (1100 W) takes it too: its datasheet stands to
#: the HGX B200's as GB300's to GB200's (2250 vs 2250 dense BF16) and no HGX pair was found measured.
BLACKWELL_ULTRA_GEMM_GAIN = 3308.5 / 2906.9
PRIORS["B300"] = PRIORS["B200"].with_(  # gemm_max: B200's x the gain (``IN_STEP_GEMM_OF``)
    sm_count=160,
    sources={"*": "prior: B200 fractions; GEMM x1.138 (cuBLASLt FP8, GB300 vs GB200, Azure), 160 SMs"})


#: Maximum achievable matmul (MAMF), BF16, TFLOP/s, for GPUs with no step-time measurement in the
#: development data but a measured matmul ceiling: ml-engineering's "Maximum Achievable Matmul FLOPS comparison
#: table" (stas00/ml-engineering compute/accelerator/README.md, BF16, mean of 100 iterations over a brute-force
#: shape search; read via the search index 2026-12-01, file id 58395098631), beside H100 SXM's row from the same
#: table (794.5 of the catalog's 989.4 = 0.803), whose in-step fraction is the fitted ``H100_IN_STEP_GEMM``.
#: The generic prior (0.70 of peak) is above what MI300X's matmul alone reaches (0.51), so a GPU with a row
#: here takes H100's in-step fraction scaled by the ratio of the two ceilings, each of its own catalog peak:
#: the same loss from an isolated matmul to a training step as H100's (``mamf_prior``). Rows: MI300X 668.4
#: (torch 2.5.1+ROCm 6.3, TunableOp; the table's older version had 781.9 on ROCm 6.2, which would give 0.36
#: -> 0.45), MI325X 784.9 (ROCm 6.2.4, TunableOp, 1000 W), MI355X 1565 (ROCm 7.0.2; the table's theory 2300
#: vs the catalog's 2500 dense BF16: taken of the catalog's), Gaudi 2 418.7 of 432 and Gaudi 3 1243 (of the
#: catalog's 1835; the table's theory 1677). MI350X is MI355X's CDNA 4 die at a lower power limit with no row
#: of its own: it takes MI355X's fraction.
#: Checked 2026-12-03 and not taken: AMD's own BF16 ceilings for CDNA 3 (``CDNA3_MAF_TFLOPS``: 708 / 843, on a
#: hipBLASLt nearer the scored runs' ROCm 7.0 / 7.1 than these rows' ROCm 6.3 / 6.2.4) would raise MI300X 0.382 ->
#: 0.4046 and MI325X 0.449 -> 0.4818 in-step. validate.mi300x goes 10.9% / 16.2% -> 10.7% / 13.8% (with ``fp8_rel``),
#: but only through its fp8 rows (+15.3 / +8.7 / +16.8 -> +9.7 / +2.5 / +10.7%); every BF16 measurement moves the
#: wrong way: Mixtral 8x7B bf16 on MI325X -10.9 -> -15.9%, Llama 3.1 8B bf16 on MI300X -6.4 -> -10.7%, and the
#: single-GPU MI300X-vs-H200 check (Llama-3-8B, hf-trainer, one GPU: H200 measured 1.32-1.40x faster; the model's
#: 1.17-1.19x at seq 1024-4096 without recompute) drops to 1.11-1.13x. A BF16 parameter raised for FP8 rows it does not
#: price alone: left at ml-engineering's.
MAMF_BF16_TFLOPS = {"H100": 794.5, "MI300X": 668.4, "MI325X": 784.9, "MI355X": 1565.0, "GAUDI2": 418.7,
                    "GAUDI3": 1243.0}
#: H100 SXM's FP8 (float8_e4m3fn) row of the same ml-engineering table (1402.6 of 1979 = 0.709, torch 2.7.0+cu126,
#: the same torch as its BF16 row): H100's FP8 / BF16 ceiling ratio, 0.883 of the datasheets' 2x, the reference for
#: a part's own measured ratio (``fp8_rel``)
MAMF_FP8_TFLOPS = {"H100": 1402.6}
#: CDNA 3 (MI300X, MI325X) (BF16, FP8) GEMM ceilings, TFLOP/s, measured together: AMD's max-achievable-FLOPs table
#: (ROCm blog "Measuring Max-Achievable FLOPs - Part 2", Sander et al., 2025-02-28, Table 1; ROCm/rocm-blogs
#: blogs/software-tools-optimization/measuring-max-achievable-flops-part2/README.md; benchmarks/data/parts
#: gemm_efficiency.csv / fp8_gemm.csv ``maf_amd_*``): hipblaslt-bench at 4096 x 4864 (FP8: 3648) x 32896, trig_float
#: data, cold caches (rotating 512 MB), on hipBLASLt branch db8e93b4, "a target for the ROCm 6.5 GA software release"
#: (no 6.5 shipped: the release after 6.4 is 7.0; ROCm/rocBLAS PR #1556, ROCm/rocm-libraries PR #678). MI300X 708 /
#: 1273 (median GEMM clock 1207 / 1230 MHz), MI325X 843 / 1519 (1447 / 1464 MHz). Only their ratio is taken
#: (``fp8_rel``), which no harness level enters: the one table measuring both dtypes on these parts, beside the one
#: measuring both on H100 (``MAMF_FP8_TFLOPS``); the absolute BF16 values are not (``MAMF_BF16_TFLOPS``).
CDNA3_MAF_TFLOPS = {"MI300X": (708.0, 1273.0), "MI325X": (843.0, 1519.0)}
#: the shipped catalog GPU whose datasheet BF16 peak each ceiling above is a fraction of
MAMF_CATALOG_GPU = {"H100": "H100-SXM-80GB", "MI300X": "MI300X-192GB", "MI325X": "MI325X-256GB",
                    "MI355X": "MI355X-288GB", "GAUDI2": "Gaudi2-96GB", "GAUDI3": "Gaudi3-128GB"}


def _peak_tflops(gpu: str, dtype: str = "bf16") -> float:
    return builtin_gpu(gpu).peak(dtype) / 1e12


#: compute units per device for wave quantisation (``gemm_util``): AMD CDNA 3 MI300X / MI325X 304 CUs, CDNA 4
#: MI350X / MI355X 256 (AMD product pages via the catalog notes); Gaudi's matrix engines (2 / 8 MMEs) are not
#: tiled the same way, so they keep the generic count
MAMF_SM_COUNT = {"MI300X": 304, "MI325X": 304, "MI355X": 256}


def fp8_rel(fam: str) -> float:
    """``Efficiency.fp8_rel`` of a family: its FP8 / BF16 ceiling ratio, each of its own datasheet peak, over H100's
    (``CDNA3_MAF_TFLOPS`` over ``MAMF_FP8_TFLOPS`` / ``MAMF_BF16_TFLOPS``: MI300X 0.899 / 0.883 = 1.018, MI325X
    0.901 / 0.883 = 1.021); 1.0 for a family without both ceilings measured together. FP8 GEMMs are priced at
    H100's FP8 / BF16 relation (the recipe's ``gemm_rel``) times this, so the fp8 rows of validate.mi300x go
    +16.9 / +10.5 / +18.6% -> +15.3 / +8.7 / +16.8% (10.9% / 17.9% -> 10.9% / 16.2%; no other source moves)."""
    if fam not in CDNA3_MAF_TFLOPS:
        return 1.0
    bf16, fp8 = CDNA3_MAF_TFLOPS[fam]
    gpu, h100 = MAMF_CATALOG_GPU[fam], MAMF_CATALOG_GPU["H100"]
    own = (fp8 / _peak_tflops(gpu, "fp8")) / (bf16 / _peak_tflops(gpu))
    ref = (MAMF_FP8_TFLOPS["H100"] / _peak_tflops(h100, "fp8")) / (MAMF_BF16_TFLOPS["H100"] / _peak_tflops(h100))
    return own / ref


def mamf_fractions(fam: str) -> tuple[float, float]:
    """(a family's measured BF16 matmul ceiling, H100's), each as a fraction of its own catalog BF16 peak
    (``MAMF_BF16_TFLOPS`` of ``MAMF_CATALOG_GPU``): MI300X 0.511 vs H100's 0.803."""
    return (MAMF_BF16_TFLOPS[fam] / _peak_tflops(MAMF_CATALOG_GPU[fam]),
            MAMF_BF16_TFLOPS["H100"] / _peak_tflops(MAMF_CATALOG_GPU["H100"]))


def mamf_gemm_max(fam: str, in_step: float = H100_IN_STEP_GEMM) -> float:
    """``gemm_max`` of a GPU whose matmul ceiling is measured but whose training steps are not: H100's in-step
    fraction ``in_step`` x (MAMF / peak) / (H100 MAMF / H100 peak) (``mamf_fractions``), to 4 places."""
    frac, h100 = mamf_fractions(fam)
    return round(in_step * frac / h100, 4)


def mamf_prior(fam: str) -> Efficiency:
    """The generic prior with the SM count and ``fp8_rel`` of a GPU whose matmul ceiling is measured but whose
    training steps are not (``fp8_rel`` where its FP8 and BF16 ceilings are measured together); its GEMM fraction,
    ``mamf_gemm_max``, is set with every family derived from the fitted value (``IN_STEP_GEMM_OF``)."""
    frac, h100 = mamf_fractions(fam)
    rel = fp8_rel(fam)
    return PRIORS["generic"].with_(
        fp8_rel=round(rel, 4),
        sm_count=MAMF_SM_COUNT.get(fam, PRIORS["generic"].sm_count),
        sources={"*": f"prior: generic fractions; GEMM = H100's in-step {H100_IN_STEP_GEMM} x measured matmul ceiling "
                      f"{frac:.3f} / H100's {h100:.3f} (ml-engineering MAMF table: {MAMF_BF16_TFLOPS[fam]:g} TFLOP/s)"
                      + (f"; FP8 GEMMs x{rel:.3f} (its FP8 / BF16 ceilings, AMD's max-achievable-FLOPs table, over "
                         f"H100's)" if fam in CDNA3_MAF_TFLOPS else "")})


#: CDNA 3 (MI300X; MI325X, the same die) flash attention, bf16, head dim 128, (forward, backward) fraction of the
#: dense BF16 peak at 16k keys (the convention of ``planner.model.physics.ATTN_KERNELS``): AMD-AGI/Primus-Turbo's
#: own MI300X benchmark of ``flash_attn_func`` (benchmark/results_optimized/attention_bf16_optimized.csv @221d75f1;
#: its bf16 path is AITER's assembly flash kernel, the one Primus training calls through Primus-Turbo, and the CK /
#: AITER family ROCm Transformer Engine's fused attention belongs to; PyTorch 2.10+rocm7.1, 2026-04), rows
#: ``primus_turbo_mi300x_aiter_bf16_*`` in benchmarks/data/parts/attention_kernels.csv (builder
#: scripts/primus_turbo.py). The value is the median over its 24 causal head-dim-128 cases (seq 4096 and 8192,
#: batch 1-4, 28-128 query heads, MHA and GQA) of TFLOP/s / 1307.4, each taken to 16k keys by the model's own
#: length factor (physics.ATTN_S_HALF): forward 0.366 (426-498 TFLOP/s measured), backward 0.285 (261-391).
#: They replace Azure's FlashAttention-2 328.6 TFLOP/s (ND MI300X v5, ROCm 6.2), which was measured at head dim
#: 64 and had been taken as the head-dim-128 rate (0.251; the backward at H100 FA2's 322 / 335 = 0.242): the
#: same Primus-Turbo table puts head dim 64 at ``CDNA3_ATTN_HD64_REL`` of head dim 128, which predicts 372
#: TFLOP/s for Azure's cell (causal forward, 8k keys); Azure's 328.6 (direction and mask not stated, older
#: ROCm) is 0.88 of it (tests/test_cdna3_attention.py). The benchmark postdates the validation runs' software
#: (rocm/primus v25.9, ROCm 7.0), whose AITER already carried these assembly kernels for gfx942.
CDNA3_ATTN_HD128 = (0.366, 0.285)
#: (forward, backward) head-dim-64 rate over head-dim-128 on CDNA 3 (physics.ATTN_HEAD_DIM_REL, ``fa2`` entry):
#: the same Primus-Turbo table's medians of its 6 causal head-dim-64 cases (seq 8192) over the head-dim-128 ones,
#: both taken to 16k keys: 0.797 and 0.948 (H100 FA2: 0.89 / 0.90)
CDNA3_ATTN_HD64_REL = (0.80, 0.95)

#: CDNA 3 HBM and Infinity Fabric fields measured on Azure ND MI300X v5 by the Azure AI-benchmarking-guide
#: (benchmarks/data/parts: nccl_bandwidth.csv ``azure_mi300x_*``), the harness whose H100 rows match the H100
#: priors: STREAM copy 4.11 of 5.3 TB/s (0.775); RCCL all-reduce bus bandwidth 316.8 GB/s at 8 GB over the
#: 448 GB/s Infinity Fabric per direction (0.707); attention ``CDNA3_ATTN_HD128``. GEMMs keep the MAMF-scaled
#: bf16 fraction (``mamf_prior``); FP8 GEMMs run at the fp8 recipe's 0.92 of it (planner.model.stack_kernels.RECIPES, H100's
#: FP8 / BF16 relation) times ``fp8_rel`` (1.018 / 1.021). Until 2026-12-03 without ``fp8_rel``: AMD's FP8 / BF16
#: ratio (1.80x) was set against the recipe's 2 x 0.92 = 1.84x and read as no faster, but 0.92 is the Azure harness's
#: H100 ratio at fixed cubes, where AMD's is a ratio of tuned maxima; the one table with both dtypes shape-searched on
#: H100 (ml-engineering, ``MAMF_FP8_TFLOPS``) gives H100 1.77x, under AMD's 1.80x. Other FP8 measurements, kept as
#: checks: hipBLASLt FP8 at 1159.5 of 2614.9 on ND MI300X v5 (ROCm 6.2; fp8_gemm.csv ``azure_mi300x_*``), where
#: H100's cuBLASLt reaches 0.65-0.70 of its FP8 peak in the same harness; Primus-Turbo's FP8 tensorwise GEMMs on the
#: runs' shapes (fp8_gemm.csv ``primus_turbo_mi300x_*``: 1.47x its BF16 forward with the operands' quantisation timed).
_MI300X = builtin_gpu("MI300X-192GB")
CDNA3_MEASURED = dict(attn_fwd=CDNA3_ATTN_HD128[0], attn_bwd=CDNA3_ATTN_HD128[1],
                      hbm=4.11e12 / _MI300X.hbm_bw, intra_bw=316.8e9 / _MI300X.intra_node_bw)

#: the families priced by ``mamf_prior``: every measured ceiling's but H100's, the reference (MI350X takes MI355X's below)
MAMF_FAMILIES = tuple(f for f in MAMF_BF16_TFLOPS if f != "H100")
for _fam in MAMF_FAMILIES:
    PRIORS[_fam] = mamf_prior(_fam)
for _fam in ("MI300X", "MI325X"):
    PRIORS[_fam] = PRIORS[_fam].with_(**CDNA3_MEASURED, sources={"*": PRIORS[_fam].sources["*"] + "; flash attention "
                                      "measured on MI300X (Primus-Turbo / AITER benchmark), HBM and Infinity Fabric on "
                                      "Azure ND MI300X v5 (AI-benchmarking-guide)"
                                      + ("" if _fam == "MI300X" else ", MI300X's taken for its same die (its own 6.0 TB/s "
                                                                     "HBM3E fraction not measured)")})
PRIORS["MI350X"] = PRIORS["MI355X"].with_(sources={"*": PRIORS["MI355X"].sources["*"] + " (MI355X's: same CDNA 4 die)"})

#: family -> its ``gemm_max`` as a function of the fitted in-step fraction (``H100_IN_STEP_GEMM``): every prior
#: derived from the fitted value, the one place it reaches them. H100 / H200 / B200 take it as is; B300 B200's x
#: ``BLACKWELL_ULTRA_GEMM_GAIN``; the GPUs with a measured matmul ceiling but no measured steps H100's x their
#: ceiling ratio (``mamf_gemm_max``), MI350X MI355X's (same CDNA 4 die). Export SKUs (``FAMILY_OF``: H800, A800)
#: take their die's family through ``gpu_family``. V100 and A100 are not here: their ``gemm_max`` is measured
#: (cuBLAS microbenchmarks), not derived. benchmarks/validate.py ``loso`` refits the value through this table, so a
#: trial value moves every family it moves in the shipped priors.
IN_STEP_GEMM_OF = {
    "H100": lambda v: v, "H200": lambda v: v, "B200": lambda v: v,
    "B300": lambda v: v * BLACKWELL_ULTRA_GEMM_GAIN,
    **{f: partial(mamf_gemm_max, f) for f in MAMF_FAMILIES},
    "MI350X": partial(mamf_gemm_max, "MI355X"),
}


def in_step_gemm_max(in_step: float = H100_IN_STEP_GEMM) -> dict[str, float]:
    """Family -> ``gemm_max`` at the in-step fraction ``in_step`` (``IN_STEP_GEMM_OF``): the shipped priors' at the
    default, a refit's at a trial value."""
    return {fam: derive(in_step) for fam, derive in IN_STEP_GEMM_OF.items()}


for _fam, _gemm in in_step_gemm_max().items():
    PRIORS[_fam] = PRIORS[_fam].with_(gemm_max=_gemm)

#: V100 (SXM2, Volta: 80 SMs, 125 dense fp16 tensor TFLOP/s, 15.7 fp32, 900 GB/s HBM2; catalog), its
#: fractions from public V100 microbenchmarks (benchmarks/data/parts/gemm_efficiency.csv,
#: memory_bandwidth.csv; checked by tests/test_v100_prior.py), not from step times:
#: * fp16 tensor-core GEMM: torch.matmul (cuBLAS) on a Tesla V100-SXM2-16GB, torch 2.7.0+cu128,
#:   97.36 TFLOP/s at 8192^3 (zzc0721/torch-performance-test-data issue #140), 0.779 of 125; the
#:   model's wave and k factors at that shape are 0.973 (``gemm_efficiency``), so ``gemm_max`` =
#:   0.779 / 0.973 = 0.80 (the A100 prior's convention: 0.83 reproduces Azure's 8192^3 cell). The
#:   same table's 4096^3 (95.73) and 2048^3 (78.23) cells are within 7% of the model; its 10240^3
#:   cell (89.37) is 11% under it (not explained; the source gives no clocks).
#: * fp32 GEMM on the CUDA cores: the same run, 14.38 TFLOP/s at 8192^3 = 0.916 of 15.7
#:   (``simt_gemm_max``; 10240^3: 14.51). Volta has no TF32, so PyTorch's fp32 convolutions run SIMT
#:   kernels there; step_time prices fp32 convolutions and fp32 transformer GEMMs (PyTorch leaves TF32 off
#:   for matmuls) at this fraction.
#: * HBM: a triad kernel (A = B + s*C, CUDA.jl, 8 GiB arrays) on a Tesla V100-SXM2-32GB reaches
#:   718.4 GB/s in Float32 and 803.2 in Float64 (luraess/JuliaGPUPerf README @89d4d692), 0.798 and
#:   0.892 of 900; ``hbm`` is their mean, 0.845. The same harness on an A100-SXM4-40GB gives 0.837 /
#:   0.873 (mean 0.855), where the A100 prior is 0.85: the same statistic, taken the same way. CUDA
#:   samples' bandwidthTest device-to-device copy (32 MB copies, quick mode) reads 739.8 GB/s = 0.822
#:   on a V100-SXM2-16GB and 1157.5 = 0.744 on an A100-SXM4-40GB (router-gao/cuda-demo): a harness
#:   that reads both parts lower, not used.
#: Attention fractions, link and launch constants stay the generic prior's: no V100 measurement was
#: found, and the scored V100 rows use none of the attention ones (BERT's eager matmul + softmax is
#: priced as batched GEMMs and memory traffic; FlashAttention 2 needs sm80).
V100_HGEMM_8192_TFLOPS = 97.36
V100_SGEMM_8192_TFLOPS = 14.38
V100_TRIAD_GBPS = (718.3771, 803.2403)  # Float32, Float64
#: the generic prior's wave and k factors at 8192^3 (its ``gemm_max`` taken as 1): 0.973
_V100_SHAPE_8192 = float(PRIORS["generic"].with_(gemm_max=1.0).gemm_efficiency(8192, 8192, 8192))
PRIORS["V100"] = PRIORS["generic"].with_(
    gemm_max=round(V100_HGEMM_8192_TFLOPS / 125.0 / _V100_SHAPE_8192, 2), simt_gemm_max=round(V100_SGEMM_8192_TFLOPS / 15.7, 3), sm_count=80,
    hbm=round(sum(V100_TRIAD_GBPS) / 2 / 900.0, 3),
    sources={"*": "prior: V100 cuBLAS HGEMM/SGEMM and triad-bandwidth microbenchmarks; attention, links generic"})

#: GPU families with per-GPU-type parameters (here and in ``planner.model.physics.ATTN_KERNELS``);
#: "B300" is Blackwell Ultra, B300 and GB300 (both names hold it)
FAMILIES = ("V100", "A100", "H200", "H100", "B200", "B300", "MI300X", "MI325X", "MI350X", "MI355X", "GAUDI2", "GAUDI3")
#: export SKUs that are another family's die at its clocks and power, cut only in what no fraction
#: of peak here depends on (the NVLink peak, which their catalog row carries, and FP64): they take
#: that family's parameters, for the reason given (printed as the prior's source).
#: H800: DeepSeek quote 990 TFLOPS dense BF16 and 3.35 TB/s for the H800 SXM5
#: (deepseek-ai/FlashMLA docs/20250422-new-kernel-deep-dive.md), i.e. 132 SMs at the 1,830 MHz
#: boost (989.4e12 / (1.83e9 x 4 x 1024)), 700 W; NVLink 400 vs 900 GB/s (arXiv 2505.09343 Fig. 2);
#: its NVLink reaches 160 of 200 GB/s/dir (DeepSeek-V3 report §3.2.2) = 0.80, the H100 prior's
#: intra_bw. A800: A100 with NVLink 400 vs 600 GB/s (Reuters via tweakers.net 203182; 8 of 12
#: NVLink3 links); an 8 x A800 NCCL 2.21.5 all-reduce of 1 GiB in 12.37 ms (a public report of
#: unnamed repository, tests/test_export_skus.py: weak provenance) is 152 GB/s busbw = 0.76 of 200,
#: the A100 prior's 0.77.
FAMILY_OF = {
    "H800": ("H100", "H800 SXM5 is H100 SXM5's GH100 die (132 SMs, same clocks, 700 W); only NVLink "
                     "(400 vs 900 GB/s, in its catalog row) and FP64 are cut"),
    "A800": ("A100", "A800 is A100's GA100 die (108 SMs, same clocks and power); only NVLink "
                     "(400 vs 600 GB/s, in its catalog row) is cut"),
}


#: Accelerators whose training code is not CUDA/ROCm and for which no public matmul microbenchmark was found (searched
#: 2026-12-01: the ml-engineering MAMF table behind ``MAMF_BF16_TFLOPS`` has no TPU or Trainium row; Google's TPU
#: pages give peaks only; MaxText's published MFU tables are whole-step fractions, not a GEMM ceiling, and are not
#: used as one; AWS's Neuron docs give peaks and NKI guides, no measured GEMM fraction).
#: They keep the generic prior (its GPU tile / SM wave model included), and every output says so: the prior's
#: source line, by platform (planner.hardware.options ``PLATFORMS``)
UNMEASURED_PRIOR = {
    "tpu": "prior: generic GPU fractions, UNMEASURED for this TPU (no published matmul microbenchmark found; MaxText "
           "step-level MFU is not a GEMM fraction; GPU wave model, not the MXU's); a calibration profile replaces it",
    "neuron": "prior: generic GPU fractions, UNMEASURED for Trainium (no published matmul microbenchmark found; GPU "
              "wave model, not the NeuronCore's); a calibration profile replaces it",
}


def _match(gpu_name: str):
    """(family, why) for a catalog GPU name: a family in its name, or an export SKU's die."""
    name = gpu_name.upper()
    for key in FAMILIES + tuple(FAMILY_OF):
        if key in name:
            return FAMILY_OF.get(key, (key, None))
    return None, None


def gpu_family(gpu_name: str) -> str | None:
    """The family whose per-GPU-type parameters a catalog GPU takes, or None."""
    return _match(gpu_name)[0]


#: NVLink collective rate measured on the NVL72 parts themselves (catalog name prefix -> (the catalog row, NCCL
#: all-reduce bus bandwidth in B/s, where it was measured)), which replaces their family prior's ``intra_bw`` (0.80 of
#: the 900 GB/s per-direction NVLink 5 peak, "B200 assumed ~ H100 fractions", no Blackwell measurement). The Azure
#: AI-benchmarking-guide's nccl-tests all_reduce_perf, ring, in place, on the 4 GPUs of one NVL72 compute tray
#: (NCCL 2.25.1; benchmarks/data/parts/nccl_bandwidth.csv ``azure_gb200_ar_*`` / ``azure_gb300_ar_*``), at its
#: largest message, 8 GB -- the same harness and message as the MI300X's ``CDNA3_MEASURED`` intra_bw and the
#: harness whose H100 rows match the H100 prior: GB200 679.61 GB/s (ND GB200 v6, CUDA 12.8), GB300 680.45 (ND
#: GB300 v6, CUDA 13.0), 0.755 / 0.756 of 900. Every NVLink transfer of an NVL72 GPU, inside its tray or not, goes
#: through the rack's NVLink switch trays, not a baseboard NVSwitch; the same tables at TP-sized messages
#: (134 MB: 574 / 575 GB/s, 0.64) are not taken (the model has one rate per link; 0.64 moves mbridge_all's median
#: 10.0 -> 10.3%). Measured 2026-12-04 on the step times: dgxc GB200 13.7 / 18.2 -> 13.5 / 17.9% median / p90,
#: mbridge_all 10.0 / 30.6 -> 9.9 / 30.4%, no other source moves. No HGX B200 ring measurement at 8 GB in the
#: same harness is in parts/ (ml-engineering's 8 x B200, NCCL 2.30, 16 GiB: all-gather 668, reduce-scatter 693,
#: all-reduce 840 GB/s busbw, the last NVLS-assisted), so the HGX parts keep the prior.
NVL72_NVLINK_BUSBW = {
    "GB200": ("GB200-B200", 679.61e9, "Azure ND GB200 v6, Azure/AI-benchmarking-guide @2a370be6"),
    "GB300": ("GB300-B300", 680.45e9, "Azure ND GB300 v6, egmsft/AI-benchmarking-guide @18e80a21"),
}


def nvl72_intra_bw(gpu_name: str) -> tuple[float, str] | None:
    """(``intra_bw``, its source line) measured for an NVL72 part (``NVL72_NVLINK_BUSBW``), None for any other part.

    >>> round(nvl72_intra_bw("GB200-B200")[0], 3), nvl72_intra_bw("B200-SXM-180GB")
    (0.755, None)
    """
    hit = next((v for k, v in NVL72_NVLINK_BUSBW.items() if gpu_name.upper().startswith(k)), None)
    if hit is None:
        return None
    row, busbw, where = hit
    return busbw / builtin_gpu(row).intra_node_bw, f"NVLink all-reduce busbw {busbw / 1e9:.0f} GB/s measured ({where})"


def prior_for(gpu_name: str) -> Efficiency:
    """The prior for a catalog GPU name (its ``gpu_family``'s, else the generic prior); an export
    SKU's sources say whose prior it is and why; an NVL72 part's NVLink rate is its own measured one
    (``nvl72_intra_bw``)."""
    fam, why = _match(gpu_name)
    prior = PRIORS[fam or "generic"]
    if why:
        prior = prior.with_(sources={k: f"{v} ({why})" for k, v in prior.sources.items()})
    nvl = nvl72_intra_bw(gpu_name)
    if nvl is not None:
        prior = prior.with_(intra_bw=nvl[0], sources={k: f"{v}; {nvl[1]}" for k, v in prior.sources.items()})
    return prior
