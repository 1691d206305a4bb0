"""Per-engine efficiency of one LLM serving iteration: what fraction of the GPU's peaks an engine's
decode/prefill step reaches, and what it adds per step on the host.

The roofline of planner/workloads/serving.py (``IterationModel``) reads these numbers; this module
holds only the parameters, one :class:`ServingEfficiency` per engine in :data:`ENGINES`, each with
what it is and where its value comes from. The GPU's own sustained fractions (large-GEMM
efficiency ``gemm_max``, the attention kernel's ``attn_fwd``) stay in planner.hardware.efficiency's
per-GPU-class priors; the engine parameters here scale on top of them.

Per step (one forward pass of the running batch; ``n`` = tokens in the step, ``c`` = attention
(query, key) pairs):

* GEMMs: ``lin x ceil(n / TILE_ROWS) x TILE_ROWS / (peak_bf16 x fp8 x gemm_max x compute)`` (16-row
  tiles, :data:`WEIGHT_ONLY_TILE_ROWS`, for the weight-only int4 / Marlin kernels) — ``fp8`` is the
  engine's reachable FP8-over-BF16 GEMM speed-up (1 for bf16 weights); the ``(n + n_half)/n``
  factor is the small-M efficiency loss of tile/wave quantisation (a GEMM with ``n`` rows reaches
  ``n / (n + n_half)`` of its large-M rate — the saturating form of Efficiency.gemm_util);
* attention core: ``attn x c / (peak_bf16 x attn_fwd x compute)`` (FlashAttention-class kernel; attention
  runs in bf16 whatever the weight precision);
* memory: ``(weights + KV read/written) / (HBM x hbm)`` — ``hbm`` is the engine's achieved HBM
  fraction for a whole decode step (weights and paged-KV reads, including the small kernels);
* ``host_s``: per-iteration host time not hidden behind the GPU (scheduler, input preparation,
  sampling and detokenisation, CUDA-graph replay), added to every step.

>>> ENGINES["vllm"].fp8 <= 2.0 and ENGINES["tensorrt-llm"].host_s >= 0
True
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

#: where the fitted values come from (benchmarks/validate_serving.py --fit; README "Serving: simulated tail latency")
FIT = ("fitted by benchmarks/validate_serving.py --fit (least squares on log error of the published "
       "runs' throughput / TTFT / E2E, development sources; leave-one-source-out errors in the README's serving section)")


@dataclass(frozen=True)
class ServingEfficiency:
    hbm: float  # achieved fraction of HBM peak bandwidth over a decode step (weights + KV)
    fp8: float  # reachable FP8 GEMM speed-up over BF16 (catalog peaks say 2.0)
    host_s: float  # host/scheduler seconds per iteration not overlapped with the GPU
    compute: float = 1.0  # the engine's GEMM + attention rate relative to the GPU class's gemm_max / attn_fwd
    sources: dict = field(default_factory=dict, compare=False)

    def with_(self, **kw) -> "ServingEfficiency":
        return replace(self, **kw)


#: GEMM row tile: Hopper's warpgroup MMA (wgmma) has M = 64 (PTX ISA, "Asynchronous Warpgroup Level
#: Matrix Multiply-Accumulate", shapes m64nNk16); cuBLAS/CUTLASS tiles are whole multiples of it.
#: Used for every GPU (an approximation for Ampere/Ada, whose CTA tiles are 64-256 rows too).
TILE_ROWS = 64

#: GEMM row tile of the weight-only (W4A16 int4, and W8A16 fp8 on a GPU without fp8 units) kernels:
#: 16. Marlin (Frantar & Alistarh 2024, github.com/IST-DASLab/marlin ``marlin/marlin_cuda_kernel.cu``
#: ``marlin_cuda``: ``tot_m_blocks = ceildiv(prob_m, 16)``, launched as 1-4 ``thread_m_blocks`` of
#: 16 rows, tensor-core ``mma.m16n8k16``) pads the batch to whole 16-row blocks; vLLM runs AWQ and
#: GPTQ checkpoints through it (``awq_marlin`` / ``gptq_marlin``, ``GPTQ_MARLIN_TILE = 16``) and
#: so does its FP8 path on Ampere. At small batch the GEMM then streams the 4-bit weights at
#: near HBM bandwidth — the Marlin README's "close to ideal (4x) speedups up to batchsizes of 16-32"
#: (3.87x with the group scales) — instead of paying for 64 padded rows of bf16 math.
WEIGHT_ONLY_TILE_ROWS = 16

_ZERO_FP8 = ("prior: 1.39, torchao float8 Linear speed-up at 4096x8192x16384 on H100 "
             "(benchmarks/data/parts/fp8_gemm.csv); not identifiable: no bf16 and fp8 rows of this engine together")

#: one entry per engine (planner.vocab.SERVE_ENGINE); values from :data:`FIT` (the all-sources fit of
#: 2026-11-30: 175 rows, 6 sources) unless a source says otherwise. ``hbm`` is capped at 0.92 (the best
#: STREAM-like fraction of H100/A100 HBM peak) and ``host_s`` at 20 ms by the fit's bounds.
ENGINES: dict[str, ServingEfficiency] = {
    # 3 sources (GPUStack H100 / A100 Qwen3-14B, vLLM CI H200 latency): 9 fitted rows
    "vllm": ServingEfficiency(hbm=0.618, fp8=1.39, host_s=0.32e-3, compute=0.71,
                              sources={"hbm": FIT, "host_s": FIT, "compute": FIT, "fp8": _ZERO_FP8}),
    # 1 source (GPUStack H100 Qwen3-14B FP8): 3 fitted rows; host_s sits on its 20 ms bound (it
    # absorbs the slow TPOT of SGLang's prefill-first schedule there) — weakly determined
    "sglang": ServingEfficiency(hbm=0.781, fp8=1.39, host_s=20.0e-3, compute=0.70,
                                sources={"hbm": FIT, "host_s": FIT + " (on its 20 ms bound)", "compute": FIT,
                                         "fp8": _ZERO_FP8}),
    # 4 sources (GPUStack A100, TRT-LLM v1.0 offline, v0.9 static batch, v0.9 batch-1 TTFT): 159 rows;
    # hbm on its 0.92 bound
    "tensorrt-llm": ServingEfficiency(hbm=0.92, fp8=1.80, host_s=5.40e-3, compute=0.84,
                                      sources={"hbm": FIT + " (on its 0.92 bound)", "host_s": FIT, "compute": FIT,
                                               "fp8": FIT}),
}


def engine_efficiency(engine: str) -> ServingEfficiency:
    """The parameters of ``engine`` (one of planner.vocab.SERVE_ENGINE)."""
    try:
        return ENGINES[engine]
    except KeyError:
        raise KeyError(f"no serving efficiency for engine {engine!r}; one of {', '.join(ENGINES)}") from None
