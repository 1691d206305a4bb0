"""Mechanisms the step-time model uses beyond op counts, each one sourced (no fitted factors):
reachable FLOP/s at a power limit, low-precision GEMM peaks and quantisation work, the attention
kernel a stack runs and its efficiency by sequence length, TP communication hidden under GEMMs,
and the exposed context-parallel exchange.
"""
from __future__ import annotations


import numpy as np

from hardware_catalog.catalog import CLOCK_REFERENCE_OF, NO_PEAK_WHY, builtin_gpu, clock_reference_name
from planner.errors import InputError, NoPeakError
from planner.units import fmt_given
from planner.hardware.efficiency import CDNA3_ATTN_HD64_REL, gpu_family
from planner.model.comm import torch_ring_columns

# ------------------------------------------------------------------------------- power and clocks
#: exponent of the sustained-clock law f/f_rated = (P/P_rated)^CLOCK_POWER_EXP. In the DVFS range
#: dynamic power is P = C V^2 f with the supply voltage scaled linearly with frequency, so
#: P ~ f^3 (Hennessy & Patterson, "Computer Architecture", 6th ed., §1.5 "Trends in power and
#: energy"); static power is left out, which makes the clock loss at a lower limit a lower bound.
CLOCK_POWER_EXP = 1.0 / 3.0

#: GPU name prefixes whose tensor cores run FP8 (at 2x the 16-bit rate: NVIDIA H100/B200 and AMD
#: MI300 datasheets), used when the catalog row quotes a 16-bit peak but no FP8 peak
FP8_CAPABLE = ("H100", "H200", "H800", "H20", "GH200", "B100", "B200", "GB200", "B300", "GB300", "MI300", "MI325",
               "MI350", "MI355", "L40", "L4")
#: ... and FP4 at 2x the FP8 rate (NVIDIA Blackwell datasheet: B200 9 PFLOPS dense FP4 vs 4.5 FP8;
#: AMD MI355X 10 PFLOPS MXFP4 vs 5 FP8)
FP4_CAPABLE = ("B100", "B200", "GB200", "B300", "GB300", "MI350", "MI355")
#: ... and the OCP MX block-scaled formats (MXFP8: one E8M0 scale per 32 elements, applied by the tensor
#: core) on the same generation: Blackwell's 5th-generation tensor cores and CDNA4 (MI350) add MXFP8/6/4
#: with FP4; Hopper and CDNA3 (MI300) scale per tensor only. Transformer Engine refuses MXFP8 below
#: compute capability 10.0 (transformer_engine/pytorch/fp8.py ``check_mxfp8_support``: "Device compute
#: capability 10.0 or higher required for MXFP8 execution"); torchao's MX training needs SM100 too
MX_CAPABLE = FP4_CAPABLE
#: Compute capability 10.x (SM100: B100/B200/GB200; SM103: B300/GB300; not SM120, the RTX Blackwell parts), by GPU
#: name prefix: one list for every rule that keys on it (``stack_kernels.te_skips_fp8_transpose``,
#: ``te_training_attention_kernel``). Its FP8 GEMMs take either operand in either layout, so Transformer Engine's
#: per-tensor FP8 (delayed or current scaling) keeps no transposed ("column-wise") copy of an FP8 tensor: TE
#: common/transformer_engine.cpp ``nvte_is_non_tn_fp8_gemm_supported`` is true for compute capability 10.x-11.x and
#: >= 13.0, and pytorch/csrc/quantizer.cpp
#: ``Float8Quantizer::create_tensor`` / ``Float8CurrentScalingQuantizer::create_tensor`` allocate the column-wise
#: data only ``if columnwise_usage && !nvte_is_non_tn_fp8_gemm_supported()``. Hopper (SM90) and Ada need the
#: TN layout, hence the transpose; so do AMD's CDNA parts under ROCm's fork (ROCm/TransformerEngine
#: common/transformer_engine.cpp @030b7921: ``nvte_is_non_tn_fp8_gemm_supported`` returns 0 under ``__HIP_PLATFORM_AMD__``)
SM100 = ("B100", "B200", "GB200", "B300", "GB300")
#: The GEMM peaks a low-precision recipe runs at beyond plain FP8, one row each: peak key -> (the recipe that
#: selects it, how the job names it, the parts that have it, what a part needs for it, its rate over the FP8
#: peak, the job field a refusal names). ``datasheet_peak`` refuses a part without it in one line, and
#: ``recommend`` says which parts it left out. NVFP4 is named by ``training.framework.fp8_recipe: nvfp4`` or by
#: ``training.precision: fp4`` (the loader rewrites the latter to the former, planner.spec.load._fp4_alias): the
#: refusal names the recipe's field, and ``as_written`` the precision's where the job wrote fp4
#: (``FP4_AS_PRECISION``; until 2026-12-02 every NVFP4 refusal named training.precision fp4, which a job writing
#: ``fp8_recipe: nvfp4`` never wrote).
#: ... and the FP8 block-scaled GEMMs of Transformer Engine's ``Float8BlockScaling`` (DeepSeek-V3's 1x128 / 128x128
#: recipe): Hopper (SM90, cuBLASLt ``CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F`` / ``BLK128x128_32F``, CUDA >= 12.9) and
#: compute capability 10.x, where TE emulates them on the MXFP8 tensor cores (NVIDIA/TransformerEngine PR #2157,
#: "Add support for the FP8 Block Scaling (ie. Deepseek) recipe on Blackwell": cuBLASLt has no block-128 scale
#: mode there, so the 1D/2D block scales are converted to E8M0 and the GEMM runs as MXFP8; docs/features/
#: low_precision_training/fp8_blockwise_scaling.rst "Supported devices": "Hopper (SM 9.0); Blackwell and later --
#: the recipe is emulated with MXFP8"). Not Ada (SM89: L4, L40) nor AMD's parts (``check_fp8_block_scaling_support``
#: asks for SM90+; ROCm's TE fork has no block-128 GEMM)
BLOCK_FP8_CAPABLE = ("H100", "H200", "H800", "H20", "GH200") + SM100
LOW_PRECISION_PEAKS = {
    "fp4": ("nvfp4", "nvfp4", FP4_CAPABLE, "FP4 tensor cores", 2.0, "training.framework.fp8_recipe"),
    "mxfp8": ("mxfp8", "mxfp8", MX_CAPABLE, "MX block-scaled tensor cores", 1.0, "training.framework.fp8_recipe"),
    "fp8block": ("blockwise", "blockwise", BLOCK_FP8_CAPABLE, "FP8 block-scaled GEMMs", 1.0,
                 "training.framework.fp8_recipe"),
}
#: the parts a ``LOW_PRECISION_PEAKS`` row needs, as its refusal names them (the FP4 / MX rows: Blackwell, MI350)
PEAK_PARTS = {"fp8block": "Hopper or Blackwell, Transformer Engine Float8BlockScaling"}
#: the field and words of the NVFP4 refusal for a job that wrote ``training.precision: fp4`` (``as_written``)
FP4_AS_PRECISION = ("training.precision", "nvfp4 (what training.precision fp4 selects)")


def no_peak_error(gpu_name: str, dtype: str, as_precision: bool = False) -> NoPeakError:
    """The one-line refusal of low-precision peak ``dtype`` (``LOW_PRECISION_PEAKS``) on part ``gpu_name``, naming
    the recipe's field, or with ``as_precision`` (fp4 only) ``training.precision``; the error carries ``peak`` and
    ``gpu`` for ``as_written``."""
    _, asked, _, needs, _, field = LOW_PRECISION_PEAKS[dtype]
    if as_precision and dtype == "fp4":
        field, asked = FP4_AS_PRECISION
    e = NoPeakError(field, f"{asked} needs {needs} ({PEAK_PARTS.get(dtype, 'Blackwell, MI350-class')}); {gpu_name} "
                           f"has none")
    e.peak, e.gpu = dtype, gpu_name
    return e


def as_written(e: NoPeakError, wrote_fp4: bool) -> NoPeakError:
    """``e`` naming what the job wrote: an NVFP4 refusal (peak ``fp4``) of a job that wrote ``training.precision:
    fp4`` (``wrote_fp4``: planner.spec.load ``wrote_fp4``) names that field; any other refusal is ``e``."""
    if wrote_fp4 and getattr(e, "peak", None) == "fp4":
        return no_peak_error(e.gpu, "fp4", as_precision=True)
    return e


def peak_need(dtype: str) -> str:
    """What a part needs for the low-precision peak ``dtype`` (``LOW_PRECISION_PEAKS``), e.g. "nvfp4 needs FP4
    tensor cores"; "" for the peaks every FP8 part has."""
    if dtype not in LOW_PRECISION_PEAKS:
        return ""
    recipe, _, _, needs, _, _ = LOW_PRECISION_PEAKS[dtype]
    return f"{recipe} needs {needs}"


#: Catalog parts whose datasheet peaks are quoted at a clock their own power limit does not sustain,
#: and the catalog part the sustained clock is taken from (prefix of the part's name -> that part's
#: catalog name). GB200's GPU is the B200 die (148 SMs, as the HGX B200; NVIDIA quotes both as B200):
#: its datasheet peaks (2500 / 5000 TFLOP/s dense BF16 / FP8 at 1200 W, catalog) are 2500 / 2250 =
#: 1.11x the HGX B200's at 1000 W, i.e. quoted at a 1.11x clock, where the clock law above gives
#: 1200 W at most a (1200 / 1000)^(1/3) = 1.063x clock (an upper bound: the law leaves static power
#: out). Measured, maximum achievable matmul (ml-engineering MAMF v2 table, stas00/ml-engineering
#: compute/accelerator/README.md, mirrored at Mu-L/ml-engineering @330ebdd9): GB200 1822 / 3615.6
#: TFLOP/s BF16 / FP8 against B200's 1745 / 3432.5, 1.044x / 1.053x, not the datasheets' 1.11x nor the
#: law's 1.063x: GB200 runs at the measured BF16 ratio (``MEASURED_CLOCK_GAIN``), 0.940 of its quoted
#: peak (tests/test_nvl72_clocks.py). GB300 (Blackwell Ultra NVL72, 1400 W) takes GB200's: its GEMM and
#: cuDNN attention rates are Blackwell Ultra's gains measured on GB300 against GB200 as it ran, at
#: equal datasheet peaks (efficiency.BLACKWELL_ULTRA_GEMM_GAIN, BLACKWELL_ULTRA_CUDNN_GAIN), so the
#: pair's measured ratio stays the model's. The HGX parts (B200 1000 W, B300 1100 W) sustain the
#: clocks their datasheets quote (the in-step GEMM fit is shared with them).
#: The table is the catalog's (``hardware_catalog.catalog.CLOCK_REFERENCE_OF``), which resolves each name in the catalog
#: in use (``GPU.clock_reference``): the reference's peak and power limit are inputs, so a ``--catalog`` row that changes
#: the HGX B200's moves GB200's and GB300's clocks with it (catalog40; until then they were read off the shipped row).
SUSTAINED_CLOCK_OF = CLOCK_REFERENCE_OF
#: measured rate of a ``SUSTAINED_CLOCK_OF`` part over its reference part, each at its own power limit, where a
#: measurement exists; it replaces the clock law at the part's own limit (the law still lowers the clock below
#: it, and the part never runs faster than the law from the reference allows). GB200 / HGX B200: the MAMF v2
#: BF16 maxima above, 1822 / 1745 (the FP8 maxima's 1.053 would price GB200's fp8 GEMMs 0.9% faster; one clock
#: for every dtype, the 16-bit peak the clock law also reads). The two rows ran different software (torch 2.7.1+cu128
#: on B200, 2.10 dev+cu130 on GB200); the same table's B300 row, "same as B200, newer torch/cuda" (2.9.1+cu130),
#: measures 1769, 1.4% over B200's 1745, so the software gap inside the 1.044x is small
MEASURED_CLOCK_GAIN = {"GB200": 1822.0 / 1745.0}


def _reference(gpu):
    """The part ``SUSTAINED_CLOCK_OF`` names for ``gpu``, as the catalog that built ``gpu`` has it
    (``GPU.clock_reference``), or None. A GPU no catalog built (a test's, a benchmark's) reads the shipped row
    (``builtin_gpu``)."""
    ref = getattr(gpu, "clock_reference", None)
    if ref is not None:
        return ref
    name = clock_reference_name(gpu.name)
    return None if name is None or name == gpu.name else builtin_gpu(name)


def sustained_clock(gpu) -> float:
    """The clock a part sustains at its own power limit relative to the clock its catalog peaks are
    quoted at (``SUSTAINED_CLOCK_OF``): the reference die's clock at its limit, raised by the clock law
    to this part's limit, over the clock the quoted peak implies; a part that takes another's clock
    takes that part's fraction; 1 for every other part."""
    ref = _reference(gpu)
    if ref is None:
        return 1.0
    if ref.name.upper().startswith(tuple(SUSTAINED_CLOCK_OF)):
        return sustained_clock(ref)
    if not gpu.power_limit_w or not ref.power_limit_w:  # a row without a power limit: no law to apply
        return 1.0
    law = (gpu.power_limit_w / ref.power_limit_w) ** CLOCK_POWER_EXP
    gain = next((v for k, v in MEASURED_CLOCK_GAIN.items() if gpu.name.upper().startswith(k)), law)
    return float(min(1.0, gain * ref.peak("bf16") / gpu.peak("bf16")))


def clock_fraction(gpu, power_limit_w=None) -> float:
    """Sustained tensor clock at ``power_limit_w`` relative to the clock at which the catalog's
    peaks are quoted: the part's ``sustained_clock`` at its own limit (the catalog row's
    ``power_limit_w``), lowered by the clock law below it; a part that takes its clock from a
    reference die (``SUSTAINED_CLOCK_OF``) runs at the lower of its sustained clock and the
    reference's clock raised by the law to ``power_limit_w``."""
    rated = getattr(gpu, "power_limit_w", None)
    base = sustained_clock(gpu)
    if not power_limit_w or not rated:
        return base
    ref = _reference(gpu)
    if ref is not None and ref.power_limit_w and not ref.name.upper().startswith(tuple(SUSTAINED_CLOCK_OF)):
        # the reference die's clock at this limit, by the law (a GB200 held at 1000 W is the HGX B200), and never
        # above the part's own sustained clock: the law's gain from the reference is an upper bound
        law = (power_limit_w / ref.power_limit_w) ** CLOCK_POWER_EXP * ref.peak("bf16") / gpu.peak("bf16")
        return float(min(base, law))
    return float(base * min(1.0, (power_limit_w / rated) ** CLOCK_POWER_EXP))


def power_clock(hw) -> float:
    """The clock option ``hw`` sustains at its power limit (``hw.power_limit_w``, the job's ``cluster.power_limit_w``)
    over the part's own at its rated limit: (limit / rated)^CLOCK_POWER_EXP on most parts (an H100 at 500 W of 700:
    0.894), 1 where no limit is set. The ratio of ``clock_fraction`` at the two limits, so a part that takes its clock
    from a reference die (GB200 held at 1,000 W runs as the HGX B200) keeps that rule."""
    limit = getattr(hw, "power_limit_w", None)
    return clock_fraction(hw.gpu, limit) / clock_fraction(hw.gpu) if limit else 1.0


#: what every power-limit assumption line holds after its wattage (``power_limit_words``): how ``simulate`` picks the
#: line out of the estimate it starts from, to say it beside the simulated run as estimate does
POWER_LIMIT_SAID = " W (cluster.power_limit_w): sustained clock "


def power_limit_line(lines) -> str | None:
    """The power-limit assumption (``power_limit_words``) among a plan's assumption ``lines``, None where there is none:
    what ``simulate`` says beside its run and the app beside its metrics, read off the estimate / recommendation they
    show."""
    return next((a for a in lines if POWER_LIMIT_SAID in a), None)


def power_limit_words(hw, dtype: str = "bf16", mfu: bool = True) -> str:
    """The assumption line of an option held at a power limit, said beside every answer priced on it ("" where the job
    sets none): "GPUs at 500 W of H100-SXM-80GB's rated 700 W (cluster.power_limit_w): sustained clock 0.894x ..."
    with the GEMM peak it leaves (``reachable_peak``) against the datasheet's, which MFU keeps (step_time divides by
    ``datasheet_peak``); HBM bandwidth is not scaled (the clock law is the SMs', and the memory clock is its own).
    ``mfu=False`` (serving, which reports no MFU) leaves the MFU clause out."""
    limit, rated = getattr(hw, "power_limit_w", None), getattr(hw.gpu, "power_limit_w", None)
    if not limit or not rated:
        return ""
    try:
        peaks = (f"; GEMMs reach {reachable_peak(hw, dtype) / 1e12:,.0f} of the datasheet's "
                 f"{datasheet_peak(hw.gpu, dtype) / 1e12:,.0f} TFLOP/s {dtype}")
    except InputError:  # no such peak on this part: the clock alone
        peaks = ""
    return (f"GPUs at {fmt_given(limit)} W of {hw.gpu.name}'s rated {rated:,.0f}{POWER_LIMIT_SAID}"
            f"{power_clock(hw):.3f}x, by the clock law (P / P_rated)^(1/3) (dynamic power ~ f^3){peaks}; HBM "
            "bandwidth kept" + ("; MFU stays against the datasheet peak" if mfu else ""))


def derived_fp8_peak(gpu) -> float | None:
    """The FP8 peak ``datasheet_peak`` derives for a part whose catalog row leaves it empty (2x its 16-bit
    peak on an FP8-capable part: H100 SXM 96 GB), None where the row has one or the part has no FP8.

    >>> class G: name, peak_flops = "H100-SXM-96GB", {"bf16": 800e12}
    >>> derived_fp8_peak(G()) / 1e12
    1600.0
    """
    if "fp8" in gpu.peak_flops or not gpu.name.upper().startswith(FP8_CAPABLE) or "bf16" not in gpu.peak_flops:
        return None
    return datasheet_peak(gpu, "fp8")


def datasheet_peak(gpu, dtype: str) -> float:
    """The catalog peak, deriving FP8 (2x 16-bit) and FP4 (2x FP8) on parts that have them."""
    name = gpu.name.upper()
    if dtype in gpu.peak_flops:
        return gpu.peak_flops[dtype]
    if not gpu.peak_flops:  # a private row quoting no peak: no precision runs on it (GPU.computes)
        raise InputError("training.precision", f"{gpu.name} {NO_PEAK_WHY}")
    if dtype == "fp8" and name.startswith(FP8_CAPABLE) and "bf16" in gpu.peak_flops:
        return 2.0 * gpu.peak_flops["bf16"]
    if dtype in LOW_PRECISION_PEAKS:  # NVFP4 at 2x the FP8 rate, MXFP8 at it, on the parts that have them
        _, _, capable, _, rate, _ = LOW_PRECISION_PEAKS[dtype]
        if not name.startswith(capable):
            raise no_peak_error(gpu.name, dtype)
        return rate * datasheet_peak(gpu, "fp8")
    if dtype == "fp8" and not name.startswith(FP8_CAPABLE):
        # a part without FP8 tensor cores (A100, A800, V100): the job's precision is at fault, not the
        # catalog row (whose missing fp8 column is the datasheet's answer)
        raise InputError("training.precision", f"fp8 needs FP8 tensor cores (Hopper, Ada, Blackwell, MI300-class); "
                                               f"{gpu.name} has none")
    if dtype in ("bf16", "fp16", "fp32") and dtype not in gpu.peak_flops:
        # likewise bf16 on a V100 or T4 (no BF16 tensor cores): the job's precision, defaulted to bf16 or given, is
        # at fault; the catalog-row error ("gpus.T4-16GB.bf16_tflops: ...") named no field the user can change
        have = [d for d in ("fp16", "bf16", "fp32") if d in gpu.peak_flops]
        raise InputError("training.precision", f"{gpu.name} has no {dtype} peak (its 16/32-bit peaks: "
                                               f"{', '.join(have) or 'none'}); set training.precision"
                                               + (f" to {have[0]}" if have else ""))
    return gpu.peak(dtype)


def reachable_peak(hw, dtype: str) -> float:
    """Peak FLOP/s at the sustained clock of the option's power limit (``hw.power_limit_w``)."""
    return datasheet_peak(hw.gpu, dtype) * clock_fraction(hw.gpu, getattr(hw, "power_limit_w", None))


# ------------------------------------------------------------------------------- attention kernels
#: (fwd, bwd) fraction of the dense 16-bit peak reached at long sequences (>= 8k keys, head dim 128,
#: causal fwd / bwd), per kernel and GPU family (efficiency.gpu_family; H800/A800 are their H100/A100
#: die): FlashAttention-3 paper (Shah et al. 2024) Fig. 5-6
#: bar labels on H100 SXM5 at 16k (benchmarks/data/parts/attention_kernels.csv): FA3 616 / 561,
#: cuDNN 539 / 516, FA2 335 / 322 TFLOP/s of 989. A100: FA2 paper (Dao 2023) Fig. 4-5, ~0.60-0.70
#: fwd and ~0.45-0.55 bwd of 312 at long sequences (the A100 priors in efficiency.PRIORS);
#: Azure AI-benchmarking-guide A100 FA2 at hd64 s8192: 179.5 of 312 (0.58).
#: B200 cuDNN (0.50, 0.45) is assumed, not measured: NVIDIA's cudnn-frontend benchmark
#: (``sdpa_benchmark_training``, cuDNN 9.10.2, causal GQA at 16k) reaches 1350 / 1073 TFLOP/s of 2250
#: (0.60 / 0.48) in isolation, and with that rate NeMo 25.04's B200 long-context rows (attention 25-90%
#: of their step) go from -8% to -15% (nemo_longseq median 10.3% -> 15.8%), so the isolated figure is
#: not taken for in-step attention on B200 (README "Still missing", Blackwell).
#: Blackwell Ultra (B300 family: B300, GB300) doubles the SFU's exponential rate that bounds the
#: softmax of attention's forward ("10.7 TeraExponentials/s" vs 5, NVIDIA technical blogs "Inside
#: NVIDIA Blackwell Ultra" and "Making Softmax More Efficient with NVIDIA Blackwell Ultra"); its
#: cuDNN attention is taken as B200's times the rate measured on GB300 over GB200 by the same harness
#: on the same day with the same cuDNN (NVIDIA/cudnn-frontend benchmark/sdpa_benchmark_training
#: results/llama3.1/{gb300,gb200}/llama3.1_20260724_*.csv @e99b0d0b, cuDNN 9.26, bf16 causal, Llama
#: 3.1 GQA 64/8 heads, hd 128, batch 2, 16k): forward 2065 / 1728, backward 1516 / 1327 TFLOP/s
#: (1.195x / 1.142x; benchmarks/data/parts/attention_kernels.csv). The backward, bound by tensor cores
#: and shared memory (FlashAttention-4, Zadouri et al. 2026), gains what GEMMs gain
#: (efficiency.BLACKWELL_ULTRA_GEMM_GAIN, 1.138x); the forward more. Same harness, cuDNN 9.22
#: (2026-04-24): 1.121x / 1.135x at 16k.
BLACKWELL_ULTRA_CUDNN_GAIN = (2065.0 / 1728.0, 1516.0 / 1327.0)
#: FlashAttention-2 on Blackwell (its SM80 warp-level MMA kernels; no tcgen05 path): the Azure AI-benchmarking-guide's
#: one harness (benchmarks/data/parts/attention_kernels.csv ``azure_*_FlashAttention-2_hd128_s8192``: head dim 128,
#: batch 2, 8k) measures 373.9 TFLOP/s on GB200 (ND GB200 v6) against 327.9 on H100 (ND H100 v5), 1.140x, where
#: the cuDNN kernel gains ~2.3x (cudnn-frontend's GB200 rows above). Taken as the H100 ``fa2`` rate times that
#: ratio, over GB200's sustained 16-bit peak (2250 x MEASURED_CLOCK_GAIN = 2349 TFLOP/s): (0.163, 0.158); B300
#: parts the same fraction (no FA2 measurement on Blackwell Ultra; its doubled exponential rate is not FA2's bound).
_FA2_GB200_OVER_H100 = 373.9 / 327.9
_GB200_SUSTAINED_BF16 = 2250.0 * 1822.0 / 1745.0
FA2_BLACKWELL = (0.34 * 989.0 * _FA2_GB200_OVER_H100 / _GB200_SUSTAINED_BF16,
                 0.33 * 989.0 * _FA2_GB200_OVER_H100 / _GB200_SUSTAINED_BF16)
ATTN_KERNELS = {
    "cudnn": {"H100": (0.545, 0.52), "H200": (0.545, 0.52), "B200": (0.50, 0.45),
              "B300": (0.50 * BLACKWELL_ULTRA_CUDNN_GAIN[0], 0.45 * BLACKWELL_ULTRA_CUDNN_GAIN[1])},
    "fa3": {"H100": (0.62, 0.57), "H200": (0.62, 0.57)},
    "fa2": {"H100": (0.34, 0.33), "H200": (0.34, 0.33), "A100": (0.60, 0.45), "B200": FA2_BLACKWELL,
            "B300": FA2_BLACKWELL},
}


def te_training_attention_kernel(kernel: str, gpu_name: str, head_dim_qk: float, head_dim_v: float) -> str:
    """The attention backend Transformer Engine runs in training for a stack whose kernel is ``kernel``: its cuDNN
    (F16 arbitrary-seqlen) backend trains head dims above 128 only on Hopper (SM90, cuDNN >= 9.5) and, on SM100+,
    only MLA's d_qk 192 / d_v 128 (cuDNN >= 9.11); every other head dim above 128 on Blackwell has no cuDNN
    backward, so TE falls back to flash-attn 2 (TE's default ``NVTE_FLASH_ATTN=1``; NeMo's performance scripts set
    it too, scripts/performance/executors.py ``PERF_ENV_VARS``). Source: TransformerEngine
    transformer_engine/common/fused_attn/fused_attn.cpp ``nvte_get_fused_attn_backend`` "head dimension" clause
    (``head_dim_qk <= 128 && head_dim_v <= 128``, or ``<= 256`` with ``sm_arch_ == 90``, or ``!is_training &&
    sm_arch_ >= 100`` from cuDNN 9.9, or 192 / 128 with ``is_training && sm_arch_ >= 100`` from 9.11), the same
    in every stored version; flash-attn 2 takes head dims up to 256 on SM100 (dot_product_attention/utils.py
    ``get_attention_backend``: "> 192 requires sm80/90/100+"). Nemotron-4 340B (head dim 192) on GB200 is the
    case in the validation set (benchmarks/validate.py ``dgxc``)."""
    if (kernel == "cudnn" and str(gpu_name).upper().startswith(SM100) and max(head_dim_qk, head_dim_v) > 128
            and not (head_dim_qk == 192 and head_dim_v == 128)):
        return "fa2"
    return kernel
#: keys per kernel call at which a flash kernel reaches half its long-sequence rate: FA3 causal
#: forward on H100 rises 292 -> 423 -> 521 -> 579 -> 602 -> 616 TFLOP/s from 512 to 16k keys
#: (same figure), i.e. e(s) = e_max * s / (s + 500).
ATTN_S_HALF = 500.0


#: (fwd, bwd) rate of a flash kernel at head dim 64 relative to its head-dim-128 rate (``ATTN_KERNELS``):
#: FA3 paper Fig. 5-6 on H100 SXM5 (benchmarks/data/parts/attention_kernels.csv, causal forward and
#: backward at 16k keys, same batch x seqlen and hidden 2048): cuDNN 388 / 539 and 433 / 516, FA3
#: 473 / 616 and 474 / 561, FA2 299 / 335 and 291 / 322 TFLOP/s (the ratios hold within 0.02-0.03
#: from 4k to 16k keys). Why: per score element a head dim d costs 4d matmul FLOPs forward (2.5x
#: that backward) and one exponential, and the H100 runs 989 TFLOP/s of 16-bit matmul against
#: 3.9 TFLOP/s of special functions (FA3 paper §3.1), so at d = 64 the softmax's exponentials take
#: as long as the matmuls (256 FLOPs per exponential vs 989/3.9 = 254): serialised, that model gives
#: 0.75 forward / 0.86 backward of the d = 128 rate, close to cuDNN's measured 0.72 / 0.84. How much
#: the exponentials bind depends on the GPU's tensor-core rate per SM against its 16 exponentials per
#: clock and SM (CUDA C++ Programming Guide, arithmetic instruction throughput): an A100 needs half the
#: H100's exponentials per clock at the same d (not bound at d = 64; applying the H100 ratios to
#: llm-foundry's A100 MPT-125m/350m rows moves them +2..+11% and its p90 17.4% -> 20.5%), a B200
#: more (not measured). So the ratios are kept for the family they were measured on (H100, and H200,
#: the same die). Linear in d between 64 and 128, the d = 64 value below, 1 above 128 (no measured
#: backward at 256).
_HD64_H100 = {"cudnn": (0.72, 0.84), "fa3": (0.77, 0.845), "fa2": (0.89, 0.90)}
ATTN_HEAD_DIM_REL = {k: {fam: {64: v} for fam in ("H100", "H200")} for k, v in _HD64_H100.items()}
#: CDNA 3 (MI300X, and MI325X on the same die): measured on MI300X's AITER flash kernel, the ``fa2`` entry the ROCm
#: stacks run (efficiency.CDNA3_ATTN_HD64_REL: Primus-Turbo's benchmark, head dim 64 vs 128, causal, 8k keys)
ATTN_HEAD_DIM_REL["fa2"].update({fam: {64: CDNA3_ATTN_HD64_REL} for fam in ("MI300X", "MI325X")})


def padded_head_dim(head_dim: float, tiles: tuple = ()) -> float:
    """The head dim the stack's flash kernel computes over: the smallest of ``tiles`` (``Stack.attn_hdim_tiles``:
    stack_kernels.FA1_HEAD_DIM_TILES, stack_kernels.TRITON_FA_HEAD_DIM_TILES) at least ``head_dim``, the kernel's tiles loaded and
    multiplied up to that width; the head dim itself with no tiles or above the largest (such a kernel refuses it; the
    planner does not)."""
    fit = [t for t in sorted(tiles) if t >= head_dim]
    return float(fit[0]) if fit else float(head_dim)


def attention_head_dim_rel(kernel: str, gpu_name: str, head_dim: float = 128.0) -> tuple[float, float]:
    """(fwd, bwd) rate of ``kernel`` on ``gpu_name`` at head dim ``head_dim`` relative to its head-dim-128
    rate (``ATTN_HEAD_DIM_REL``: linear in d between the measured dims and 128, 1 at and above 128 and
    for a kernel or GPU family not measured). Training's ``attention_efficiency`` and serving's
    ``IterationModel.build`` (planner/workloads/serving_iteration.py) both read it.

    >>> attention_head_dim_rel("fa3", "H100-SXM-80GB", 64), attention_head_dim_rel("fa3", "A100-SXM-80GB", 64)
    ((0.77, 0.845), (1.0, 1.0))
    """
    rel = ATTN_HEAD_DIM_REL.get(kernel, {}).get(gpu_family(gpu_name), {})
    dims = sorted(rel) + [128]
    r_f = float(np.interp(head_dim, dims, [rel[d][0] for d in sorted(rel)] + [1.0]))
    r_b = float(np.interp(head_dim, dims, [rel[d][1] for d in sorted(rel)] + [1.0]))
    return r_f, r_b


def attention_efficiency(kernel: str, gpu_name: str, keys, default_fwd: float, default_bwd: float,
                         head_dim: float = 128.0):
    """(fwd, bwd) fraction of peak of the stack's attention kernel at ``keys`` per call and head
    dim ``head_dim`` (``attention_head_dim_rel``)."""
    fwd, bwd = ATTN_KERNELS.get(kernel, {}).get(gpu_family(gpu_name), (default_fwd, default_bwd))
    shape = np.asarray(keys, dtype=np.float64) / (np.asarray(keys, dtype=np.float64) + ATTN_S_HALF)
    long = 16384.0 / (16384.0 + ATTN_S_HALF)  # the table's values are at 16k keys
    r_f, r_b = attention_head_dim_rel(kernel, gpu_name, head_dim)
    return fwd * r_f * shape / long, bwd * r_b * shape / long


# ------------------------------------------------------------------------------- TP overlap
#: Transformer Engine userbuffers defaults (transformer_engine/pytorch/module/base.py
#: ``initialize_ub`` ``get_default_config``): all-gathers use the "ring_exchange" method (copy
#: engines, 1 SM, tp splits); reduce-scatters the "pipeline" method with 4 splits on 16 SMs and
#: ``set_sm_margin``: the GEMM they overlap runs on the SMs left. The recipes' per-model configs (2-32 SMs,
#: ring exchange / bulk per op) were priced and not taken: benchmarks/validate.py ``dgxc``, tpsms pass.
TE_RS_SPLITS = 4
TE_COMM_SMS = 16


#: GPU name prefixes on which Transformer Engine's userbuffers comm+GEMM overlap runs: it relies on
#: CUDA multicast objects over NVLink (TE maintainers, NVIDIA/TransformerEngine issue #1071,
#: 2024-08-02: "Userbuffers relies on CUDA Multicast handles"; multicast objects need compute
#: capability 9.0, CUDA driver API ``cuMulticastCreate``), and its pipelined reduce-scatter was
#: blocked on A100 for hangs (TransformerEngine PR #1311). AMD's fork carries userbuffers for
#: MI300-class parts (ROCm/TransformerEngine PR #367, "Userbuffer epic", merged). Elsewhere
#: ``tp_overlap = "te"`` falls back to NCCL collectives on the compute stream, all exposed.
TE_OVERLAP_CAPABLE = ("H100", "H200", "H800", "H20", "GH200", "B100", "B200", "GB200", "B300", "GB300",
                      "MI300", "MI325", "MI350", "MI355")


def tp_overlap_mode(mode: str, gpu_name: str) -> str:
    """The TP overlap a stack's ``tp_overlap`` setting actually gets on ``gpu_name``."""
    if mode == "te" and not gpu_name.upper().startswith(TE_OVERLAP_CAPABLE):
        return "none"
    return mode


def tp_exposed(ag, rs, gemm_col, gemm_row, tp, mode: str, sm_count: float = 132.0):
    """(exposed TP communication, GEMM slowdown) of one pass, vectorised.

    ``ag``/``rs``: the pass's all-gathers (before the column-parallel GEMMs ``gemm_col``: QKV,
    fc1) and reduce-scatters (after the row-parallel ``gemm_row``: out-proj, fc2), sequence
    parallel; without SP the all-reduce is the same bytes. ``none``: all exposed. ``te``: each
    collective decomposed into chunks pipelined with the GEMM chunks (Wang et al. ASPLOS 2023;
    TE userbuffers): what exceeds the GEMM plus one chunk is exposed (tp chunks for the ring
    exchange, ``TE_RS_SPLITS`` for the pipelined reduce-scatter), and the row-parallel GEMM runs
    on ``sm_count - TE_COMM_SMS`` SMs while the reduce-scatter is in flight. ``async_tp``: PyTorch
    micro-pipelined TP (torch._inductor ``micro_pipeline_tp``, symmetric-memory copies): tp chunks
    both ways, no SMs held."""
    ag, rs = np.asarray(ag, dtype=np.float64), np.asarray(rs, dtype=np.float64)
    if mode == "none":
        return ag + rs, np.zeros_like(ag + rs)
    tp = np.maximum(np.asarray(tp, dtype=np.float64), 1.0)
    rs_chunks = TE_RS_SPLITS if mode == "te" else tp
    exposed = (np.maximum(ag - gemm_col, 0.0) + ag / tp) + (np.maximum(rs - gemm_row, 0.0) + rs / rs_chunks)
    slow = 0.0
    if mode == "te":
        f = TE_COMM_SMS / max(sm_count - TE_COMM_SMS, 1.0)
        slow = np.minimum(rs, gemm_row) * f
    on = tp > 1
    return np.where(on, exposed, 0.0), np.where(on, slow, 0.0)


def tp_exposed_async_bwd(ag, rs, gemm_col_bwd, tp, sp, sm_count: float = 132.0, wgrad: float = 1.0):
    """(exposed TP communication, GEMM slowdown) of one BACKWARD pass whose TP collectives run on
    NCCL without userbuffers, in a stack whose column-parallel linears issue theirs
    asynchronously and hide them under their own GEMMs (``Stack.tp_bwd_async``), vectorised.

    Transformer Engine ``_Linear`` / ``_LayerNormLinear`` / ``_LayerNormMLP.backward`` (NVIDIA/
    TransformerEngine transformer_engine/pytorch/module/linear.py @3ec87875, "Overlap input AG
    with dgrad" and "Overlap dgrad-RS/AR with wgrad"; today's "Overlap dgrad RS/AR with wgrad via
    NCCL async comms (no TP overlap via Userbuffers)"): a column-parallel layer (QKV, fc1)
    re-gathers its sequence-parallel input with ``gather_along_first_dim(..., async_op=True)``
    before the dgrad GEMM and waits for it only before the wgrad; it then reduce-scatters the
    dgrad (without SP: all-reduces it) with ``async_op=True`` and waits only after the wgrad.
    Megatron-Core's own linears do the same (megatron/core/tensor_parallel/layers.py
    ``LinearWithGradAccumulationAndAsyncCommunication.backward``: "Asynchronous all-reduce ... we
    rely on CUDA_DEVICE_MAX_CONNECTIONS=1 to ensure that the all-reduce is scheduled before the
    weight gradient computation"). The row-parallel layers' (proj, fc2) gradient all-gather under
    SP is synchronous (TE ``grad_output_preprocess``): exposed.

    ``ag``/``rs``: the pass's two all-gathers / two reduce-scatters (without SP: the two
    all-reduces of the column-parallel dgrads, ``ag + rs``); ``gemm_col_bwd``: the column-parallel
    GEMMs' backward, dgrad and wgrad, the same 2MNK FLOPs each, so half of it each. Under SP the
    input re-gather (the bytes of ``ag``, which the forward also moved) hides under the dgrads and
    the reduce-scatters under the wgrads; what exceeds its GEMM is exposed. The hidden part holds
    NCCL's SMs (``nccl_overlap_slowdown``, an intra-node ring: ``NCCL_COMM_SMS``).

    ``wgrad`` 0 (a frozen base: LoRA/QLoRA): there is no weight-gradient GEMM to hide the dgrad's
    reduce-scatter / all-reduce under, and the input is not re-gathered (TE gathers it only when
    ``ctx.requires_wgrad``; Megatron-Core's ``LinearWithFrozenWeight`` all-reduces the dgrad
    synchronously): the pass's collectives are exposed as issued (``ag + rs``)."""
    ag, rs = np.asarray(ag, dtype=np.float64), np.asarray(rs, dtype=np.float64)
    if not wgrad:
        on = np.asarray(tp, dtype=np.float64) > 1
        return np.where(on, ag + rs, 0.0), np.zeros_like(ag + rs)
    half_col = np.asarray(gemm_col_bwd, dtype=np.float64) / 2.0  # dgrad | wgrad
    sp = np.asarray(sp, dtype=bool)
    hidden = np.where(sp, np.minimum(ag, half_col) + np.minimum(rs, half_col), np.minimum(ag + rs, half_col))
    exposed = np.where(sp, ag + np.maximum(ag - half_col, 0.0) + np.maximum(rs - half_col, 0.0),
                       np.maximum(ag + rs - half_col, 0.0))
    on = np.asarray(tp, dtype=np.float64) > 1
    slow = nccl_overlap_slowdown(hidden, sm_count, NCCL_COMM_SMS)
    return np.where(on, exposed, 0.0), np.where(on, slow, 0.0)


# ------------------------------------------------------------------------------- NCCL under compute
#: thread blocks (one per channel, each holding an SM) an NCCL collective keeps resident while it
#: runs: 24 for the ncclAllGather of an FSDP prefetch on H100 (Nsight Systems trace in NVIDIA
#: developer forum thread "Compute-communication overlap causes severe GEMM performance
#: degradation because of tail effect", 2025: the all-gather "launches 24 blocks"; a 132-block
#: GEMM overlapped with it ran ~2x slower from the extra wave)
NCCL_COMM_SMS = 24


#: ... and when the group has one member per node, so every ring runs GPU -> NIC -> NIC -> GPU: NCCL
#: keeps the channels its topology search finds (one ring per NIC path) and doubles them
#: (NVIDIA/nccl issue #524, maintainer: "we set it to the number of channels the graph search
#: discovered ... Then we double the number of channels"); one NIC per GPU (DGX A100/H100): 2
NCCL_NET_ONLY_SMS = 2


def nccl_comm_sms(members_per_node):
    """SMs an NCCL ring collective holds: ``NCCL_COMM_SMS`` when it has NVLink hops inside the
    node, ``NCCL_NET_ONLY_SMS`` when its group has one member per node."""
    return np.where(np.asarray(members_per_node) > 1, float(NCCL_COMM_SMS), float(NCCL_NET_ONLY_SMS))


def nccl_overlap_slowdown(hidden_comm, sm_count: float, comm_sms=NCCL_COMM_SMS):
    """Compute time lost while an overlapped NCCL collective runs (``hidden_comm`` seconds of it
    under compute): the kernels it overlaps run on ``sm_count - comm_sms`` SMs, so they take
    ``comm_sms / (sm_count - comm_sms)`` longer for that stretch (the same accounting as TE's
    reduce-scatter overlap in ``tp_exposed``; wave-quantisation tails can cost more)."""
    comm_sms = np.asarray(comm_sms, dtype=np.float64)
    f = comm_sms / np.maximum(sm_count - comm_sms, 1.0)
    return np.asarray(hidden_comm, dtype=np.float64) * f


def nccl_slowdown_exposed(slowdown, beyond):
    """What ``nccl_overlap_slowdown``'s ``slowdown`` adds to a step where the collective outlasts the compute it
    overlaps by ``beyond`` (0 when shorter): the collective and the compute run on two streams at once, the
    compute slowed while the collective holds its SMs, and the step waits for the later of the two, so

        max(slowdown - beyond, 0)

    When the collective is the shorter (``beyond == 0``) that is the whole slowdown; when it is the longer
    (communication-bound: ZeRO-3 / FSDP at large DP, whose per-collective ring latency (n - k) alpha grows with
    the ranks, planner.model.comm) the slowed compute ends under it and adds nothing beyond ``beyond``. Until
    2026-12-03 step_time added the slowdown on top of ``beyond`` for ZeRO-3 / FSDP, counting the same stretch
    twice: Together AI's Llama 3.1 70B FP8 Megatron-FSDP runs on B200 (pure DP, 64 / 128 / 256 / 512 / 592 GPUs,
    benchmarks/validate.py ``together_baselines``) were predicted +51% from 64 to 592 GPUs where they measure
    +20% (now +34%).

    Used for ZeRO-3's per-micro-batch collectives only. The same accounting for the bucketed DP gradient reduce,
    ZeRO-2's per-micro-batch reduce-scatters and the ZeRO-1/2 parameter gather (``max(c + slowdown - exposed,
    0)`` with ``c`` the bucket that must follow / precede the compute, pipeline.exposed_dp_comm) was measured
    2026-12-03 and not taken: it speeds up rows already too fast for other reasons -- mbridge p90 44.0 -> 46.4%
    (gpt-oss-120b B200 -48.0 -> -51.4%), mbridge_all p90 31.0 -> 31.9% (gpt-oss-120b, Nemotron 3 Super: 0.5-2.3
    points each), nemo2407 median 4.3 -> 4.5% (GPT3-20B +0.1 -> -3.2%) -- while nar21 (p90 13.2 -> 11.9%) and
    dgxc's Llama 3.1 70B (+4.5 -> +4.1%) improve."""
    return np.maximum(np.asarray(slowdown, dtype=np.float64) - beyond, 0.0)


# ------------------------------------------------------------------------------- context parallel
def cp_exposed(step_comm, attn_compute, cp, end_comm=None):
    """Exposed ring exchange of context parallelism (Megatron-Core/TE ``cp_comm_type=p2p``),
    given one ring step's transfer ``step_comm`` and the pass's attention ``attn_compute``
    (cp steps of equal work under causal load balancing), following Transformer Engine's
    ``AttnFuncWithCP`` loops (transformer_engine/pytorch/attention/dot_product_attention/
    context_parallel.py). Forward: at step i it waits for the K/V received during step i - 1,
    posts the send/recv for step i + 1 and runs step i's attention (alternating two streams), so
    the local step 0 hides the first transfer and each of the cp - 1 transfers is exposed only by
    what exceeds one step's attention: (cp - 1) max(t - c, 0) (Liu et al. 2023, Ring Attention
    §3). Backward (``end_comm`` given): every step posts a transfer that must land before the
    step's end — K/V only at step 0 and dK/dV only at the last step (``end_comm``), both in the
    cp - 2 steps between (``step_comm``)."""
    cp = np.asarray(cp, dtype=np.float64)
    per_step = np.asarray(step_comm, dtype=np.float64)
    per_chunk = np.asarray(attn_compute, dtype=np.float64) / np.maximum(cp, 1)
    if end_comm is None:
        exposed = (cp - 1) * np.maximum(per_step - per_chunk, 0.0)
    else:
        exposed = (2 * np.maximum(np.asarray(end_comm, dtype=np.float64) - per_chunk, 0.0)
                   + (cp - 2).clip(0) * np.maximum(per_step - per_chunk, 0.0))
    return np.where(cp > 1, exposed, 0.0)


#: HBM traffic of the per-step merge of a ring (elements read + written per element of the rank's
#: tensor, per step): forward, TE ``flash_attn_fwd_out_correction`` (a jit-fused
#: ``out.add_(out_per_step * exp(lse_step - lse))``: reads the step's partial output and the
#: running output, writes the running output: 3); backward, ``dq.add_(dq_)`` on the query
#: gradient (3) and ``dkv_ = cat(dk_, dv_)`` then ``dkv.add_(dkv_)`` on the K/V gradient (2 + 3).
#: PyTorch's ring (torch.distributed.tensor.experimental ``_templated_ring_attention``, whose
#: ``_SDPAMerger`` merges each step's output and LSE) does the same per step. The LSE updates
#: (one value per query and head) are left out.
CP_MERGE_ELEMS = {"fwd_out": 3.0, "bwd_dq": 3.0, "bwd_dkv": 5.0}
#: host ops per ring step of the forward, counted from TE's ``AttnFuncWithCP.forward`` loop body:
#: wait on the receive, ``empty_like`` for the next buffer, the batched isend/irecv, the
#: attention kernel call, the softmax-LSE correction and the output correction, and the views
#: of the step's Q/K/V halves under causal load balancing (~7); the backward dispatches about
#: twice as many (layer_ops.BWD_HOST_FACTOR).
CP_STEP_HOST_OPS = 7.0


def cp_merge_bytes(tokens, q_width, kv_width, act_bytes, cp):
    """(forward, backward) HBM bytes of a ring's per-step merges for one layer on one rank:
    ``tokens`` = the rank's tokens, ``q_width``/``kv_width`` = query and K+V elements per token on
    the rank; cp steps each (``CP_MERGE_ELEMS``), none without CP."""
    cp = np.asarray(cp, dtype=np.float64)
    steps = np.where(cp > 1, cp, 0.0)
    e = CP_MERGE_ELEMS
    fwd = steps * e["fwd_out"] * act_bytes * tokens * q_width
    bwd = steps * act_bytes * tokens * (e["bwd_dq"] * q_width + e["bwd_dkv"] * kv_width)
    return fwd, bwd


#: bytes per element of PyTorch's ring accumulators: ``_ContextParallelOptions.convert_to_f32 =
#: True`` makes ``_SDPAMerger`` keep the running output (and LSE) in fp32, and
#: ``_templated_ring_attention_backward`` accumulates dQ/dK/dV in ``accum_dtype = torch.float32``
#: (torch/distributed/tensor/experimental/_attention.py, torch 2.5-2.6)
TORCH_RING_ACC_BYTES = 4.0


def torch_ring_merge_bytes(tokens, q_width, kv_width, act_bytes, cp):
    """(forward, backward) HBM bytes of PyTorch's ring merges for one layer on one rank, counted
    from its loop (comm.torch_ring_profile) with each statement's elementwise chain fused
    (torchtitan compiles every block with ``fullgraph=True``, so the ring is traced and inductor
    fuses a merge with the ``torch.cat`` of ``_partial_update`` that consumes it): every step reads
    and writes the whole fp32 running buffer (``TORCH_RING_ACC_BYTES``) and reads the step's
    partial (``act_bytes``, over the queries or keys the call covered). Forward: the output merge
    on the steps after the first, the first output's upcast and the final downcast. Backward: dQ
    and dK/dV every step (dK/dV written into the buffer sent to the next rank,
    ``torch.cat([grad_key, grad_value])``), and their final downcasts."""
    cp = np.asarray(cp, dtype=np.float64)
    col = torch_ring_columns(cp)
    acc, act = TORCH_RING_ACC_BYTES, float(act_bytes)
    nq, nkv = tokens * q_width, tokens * kv_width
    fwd = nq * ((col["calls"] - 1) * 2 * acc + col["q_read"] * act + acc + (acc + act))
    bwd = (nq * (col["calls"] * 2 * acc + col["q_read"] * act + (acc + act))
           + nkv * (col["calls"] * 2 * acc + col["kv_read"] * act + (acc + act)))
    return np.where(cp > 1, fwd, 0.0), np.where(cp > 1, bwd, 0.0)
