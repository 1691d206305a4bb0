"""What the kernels and numerics of a training stack are: the tables a ``planner.model.stacks.Stack`` entry names by
key, and the rules that read them.

* the low-precision recipes (``RECIPES``, ``LowPrecisionRecipe``: casts, GEMM rates, saved copies, amax reductions;
  ``Stack.fp8_recipe``), Transformer Engine's amax reductions and recompute paths by integration
  (``TE_AMAX_REDUCTIONS``, ``TE_RECOMPUTES``; ``Stack.te_amax_reduction``) and the FP8 weight storage rules
  (``fp8_param_gather_on``, ``fp8_linear_weight_bytes``, ``te_cast_bytes``);
* the attention kernels: the flash kernels' head-dim tiles and Megatron-Core's fused softmax key limit (the registry's
  ``Stack.attn_hdim_tiles`` / ``fused_softmax_keys``), the kernel packages of transformers' ``attn_implementation``
  (``ATTN_IMPLEMENTATION_KERNELS``), which attention core runs (``fused_attention``, ``hf_attn_choice``,
  ``eager_sink_attention``) and the explicit softmax's torch fallback and forms (``softmax_fallback``,
  ``EXPLICIT_SOFTMAX``; ``Stack.explicit_softmax``);
* the eager fp32 elementwise chains and autocast's weight casts (``EAGER_FP32_BYTES``, ``AUTOCAST_CAST_BYTES``).

Each table's sources are in its comment and docstring. Moved verbatim from planner.model.stacks (split46b,
2026-12-06), which keeps the registry (``Stack``, ``STACKS``) and its option rules; this module imports nothing of
stacks (an import-linter contract in pyproject.toml), stacks imports from it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from planner.model.physics import LOW_PRECISION_PEAKS
from planner.vocab import FP8_RECIPE


@dataclass(frozen=True)
class LowPrecisionRecipe:
    """How a stack runs the linear-layer GEMMs in FP8/FP4: only the linears (QKV, out, MLP,
    experts) use the low-precision tensor-core rate; attention, norms, the LM head (kept in
    bf16 by TE recipes and torchao's default filter, which skips ``output``), communication and
    the optimizer are unchanged (README §3 of the validation set; TE ``fp8_autocast`` wraps
    ``te.Linear``/``LayerNormLinear`` only; torchao ``convert_to_float8_training`` swaps
    ``nn.Linear`` only).

    ``cast_bytes``: HBM bytes per element of each GEMM input that is quantised (activations in
    forward, output gradients in backward): the scaling pass(es) and the cast. Dynamic tensorwise
    scaling (torchao ``Float8Linear`` default; TE "current scaling") reads the 16-bit tensor once
    for its amax (2 B), reads it again to cast (2 B) and writes the fp8 copy and the transposed
    copy the other GEMM needs (1 + 1 B): 6 B. TE delayed scaling takes the scale from the amax
    history, so the amax is computed inside the cast kernel: 2 + 1 + 1 = 4 B (TE
    ``cast_transpose`` kernels). Rowwise (torchao ``Float8LinearRecipeName.ROWWISE``) scales along
    both dimensions separately, two amax+cast passes: 2 x (2 + 2 + 1) = 10 B. MXFP8 (1x32 block
    scales, OCP MX spec; torchao/TE on Blackwell) computes the block amax in the cast kernel and writes both
    orientations from one read of the 16-bit tile (TransformerEngine transformer_engine/common/cast/mxfp8/
    quantize_mxfp8.cuh ``quantize_mxfp8_kernel``: one input tensor map, ``tensor_map_output_rowwise`` and
    ``tensor_map_output_colwise``, ``ROWWISE_SCALING`` / ``COLWISE_SCALING`` in the same launch; formerly
    util/cast_kernels.cuh ``cast_mxfp8_2D_kernel``): 2 + 1 + 1 + 2 x 1/32 E8M0 scales = 4.0625 B (was priced as
    two passes, 6 B, until 2026-12-04: about twice the cast time TE's B300 table below measures; torchao's MX
    casts, a dim-0 and a dim-1 kernel, take the same bytes here: no torchao measurement separates them). NVFP4
    (TE 2.x ``NVFP4BlockScaling``, transformer_engine/pytorch/csrc/quantizer.cpp
    ``NVFP4Quantizer::quantize_impl``): a separate amax pass (reads 2 B), the rowwise cast (reads 2, writes
    0.5 + 1/16 B of E4M3 block scales per 16 elements) and the columnwise cast with the random Hadamard
    transform fused into it (2 + 0.5 + 1/16 B; fused whenever rows are a multiple of 64 and columns of 128,
    and NVFP4 pads MoE experts' rows to 128): 7.125 B counted (the unfused RHT fallback would be 11.125). Priced
    instead at what TE's B300 table (below, ``TE_B300_LAYER_MS``) measures the NVFP4 autocast to cost over its
    kernels: 1.87x MXFP8's quantisation time, each over its own run's BF16 layer (``te_b300_cast_share``), so
    4.0625 x 1.87 = 7.60 B (acc41b, 2026-12-05; the 16x16 weight scales and the Hadamard transform's math are in
    the measured time, not in the byte count).
    ``weight_casts``: ``"microbatch"`` when the weights are re-quantised every forward (torchao
    dynamic; FSDP2 float8 all-gather casts before each gather), ``"step"`` when the recipe's
    scale is fixed for the step (delayed scaling, NVFP4's per-step weight quantisation). A stack
    that caches the fp8 weight across micro-batches (``Stack.caches_fp8_weights``: TE's
    ``is_first_microbatch`` in Megatron-Core) casts once per step whatever the recipe.
    ``gemm_rel``: low-precision GEMM efficiency relative to the bf16 GEMM's fraction of its own
    peak. H100 cuBLASLt FP8 GEMMs reach 1,290-1,382 of 1,979 TFLOP/s at 8k-32k cubes (0.65-0.70;
    Azure AI-benchmarking-guide rows in benchmarks/data/parts/fp8_gemm.csv) against 0.72-0.75
    for bf16 (efficiency.PRIORS sources): 0.92. Checked and not taken (docs/accuracy_log.md refit44): the
    same-harness H100 ratio (ml-engineering's MAMF table, 0.883, efficiency ``MAMF_FP8_TFLOPS``) with
    ``H100_IN_STEP_GEMM`` refit; the refit stays at 0.60 and the mean of all sources' medians goes 7.93 -> 8.07%,
    LOSO 8.38 -> 8.74%. The same table's Hopper rows give 0.883 (H100) / 0.914 (H200) / 0.926 (GH200): 0.92 is inside
    (parts ``maf_mlengineering_*``, tests/test_fp8_gemm_band47.py); the torchao float8 pairs would need ~0.80 (f8gemm47).
    Rowwise-scaled GEMMs apply the scales in the
    epilogue with a slower kernel (torchao README: rowwise "slightly slower" than tensorwise):
    0.85 (assumed). NVFP4: until 2026-12-05 1.0, from Azure's GB200 cuBLASLt cubes (FP4, its block format not
    stated: 7,488-7,628 of 10,000, 0.75, vs FP8 0.58 of 5,000; same rows); now from TE's B300 table below, which
    times TE's own NVFP4 recipe on a training layer's shapes against MXFP8 and BF16 in one harness: pre-quantised
    3.754 ms a layer against MXFP8's 7.324 (1.951x), where the catalog's FP4 peak is 2x the FP8 one
    (physics.LOW_PRECISION_PEAKS): 0.876 x 1.951 / 2 = 0.855 (the planner had 2.28x NVFP4 over MXFP8, 4.0x over
    BF16 where TE measures 3.42x). MXFP8's block-scaled
    GEMM kernel is slower than that: Transformer Engine's own GEMM profiling guide (NVIDIA/TransformerEngine
    docs/features/low_precision_training/gemm_profiling/gemm_profiling.rst @33294178, read 2026-12-04; B300, the
    12 GEMMs of a hidden-4096 / FFN-16384 layer at 15,872 tokens) times them pre-quantised at 7.324 ms per layer
    against BF16's 12.835 (1.752x; its FP8 block-scaled kernels 6.830 ms, 1.879x), where 0.92 gives the same
    shapes 1.840x on B300: 0.92 x 1.752 / 1.840 = 0.876. With its casts (4.0625 B above) the planner then gives
    TE's autocast table back: per layer 1.446x (TE 1.437x; each of TE's 12 autocast GEMMs quantises both
    operands, te.Linear forward per shape: benchmarks/gemm/benchmark_gemm.py), fprop 1.500x (1.507x); before,
    1.385x / 1.460x / 1.840x pre-quantised (tests/test_mxfp8_te_table.py).
    The per-tensor recipes keep 0.92 on Blackwell: no same-harness per-tensor / MXFP8 pair was found (OpenXLA's
    sm_100 table, benchmarks/data/parts, has per-tensor E4M3 at 1.96x its BF16 at 4096^3, median 1.98x over the
    15 largest shapes, i.e. faster than MXFP8's 1.75x, but another library and GPU SKU).
    ``peak``: the catalog peak the GEMMs run at (``mxfp8``: the FP8 peak, on parts with MX block-scaled
    tensor cores only, physics.MX_CAPABLE; ``fp4`` = 2x the FP8 peak on Blackwell, NVIDIA
    B200 datasheet: 9 PFLOPS dense FP4 vs 4.5 FP8). NVFP4 runs all three GEMMs of every linear at it:
    TE ``NVFP4BlockScaling`` (common/recipe/__init__.py) quantises the input (``fp4_quant_fwd_inp``), the
    weight (``fp4_quant_fwd_weight``, 16x16 2D scales) and the output gradient (``fp4_quant_bwd_grad``,
    stochastic rounding), so fprop, dgrad and wgrad are FP4 GEMMs; attention stays 16-bit (``fp8_dpa =
    False``). What the recipe leaves 16-bit is per model and run: ``Stack.lp_bf16_layers``, ``lp_bf16_mtp``.
    ``param_gather_bytes``: bytes per parameter the ZeRO-1/2 all-gather of the updated parameters moves where
    Megatron-Core's ``--fp8-param-gather`` is on (``fp8_param_gather_on``). The per-tensor recipes gather the FP8
    parameter itself (the distributed optimizer casts its fp32 master shard to FP8 into the uint8 parameter buffer
    and all-gathers that buffer: 1 B). MXFP8 gathers 16-bit values into the reused gradient buffer and casts them
    to MXFP8 after the gather (megatron/core/distributed/distributed_data_parallel.py ``start_param_sync``: "The
    parameters are cast from bf16 to MXFP8 during copy"; ``reuse_grad_buf_for_mxfp8_param_ag``): 2 B; NVFP4 runs
    without the flag (2 B, unused).
    ``saved_bytes``: bytes per element of the quantised copy of a linear's input that Transformer Engine keeps for
    the weight-gradient GEMM (planner.model.activations ``layer_saved_tensors`` ``te_fp8``: TE 2.x saves the
    quantised input with its column-wise usage only). Per-tensor FP8: 1 B. MXFP8: 1 B + one E8M0 scale per 32
    elements (OCP MX spec; TE ``MXFP8Tensor`` columnwise data + ``columnwise_scale_inv``) = 1.03125. NVFP4: packed
    E2M1, 0.5 B, + one E4M3 scale per 16 elements (TE ``NVFP4Tensor``; the wgrad input is quantised 16x1 after the
    random Hadamard transform, NVIDIA "Pretraining Large Language Models with NVFP4", arXiv 2509.25149) = 0.5625.
    The same width is what a stack that quantises before its sequence-parallel TP all-gathers sends an element
    (``Stack.quantised_tp_gathers``, layer_ops ``sp_gather_bytes``): the row-wise copy with its scales.
    ``transpose_bytes``: of ``cast_bytes``, the write of the transposed FP8 copy a per-tensor recipe makes for the
    other GEMM's operand (1 B). Transformer Engine allocates that column-wise copy only where the FP8 GEMMs need
    the TN layout (transformer_engine/pytorch/csrc/quantizer.cpp: ``columnwise_usage &&
    !nvte_is_non_tn_fp8_gemm_supported()``, true from compute capability 10.0: Blackwell), so on those parts a TE
    stack's cast writes only the row-wise copy (``te_cast_bytes``). MXFP8 and NVFP4 keep both orientations (their
    block scales run along one dimension), torchao's casts are not TE's: 0 there.
    ``split_kernels``: kernels Transformer Engine launches per expert for one quantised tensor of a grouped expert
    GEMM (TE ``GroupedLinear`` quantises its input and, in backward, its output gradient with ``tex.split_quantize``
    over the experts' ``m_splits``): transformer_engine/pytorch/csrc/extensions/cast.cpp ``split_quantize`` bulk-
    allocates the outputs, then ``multi_tensor_quantize_impl`` runs one fused ``nvte_multi_cast_transpose`` only for
    delayed scaling ("Currently only have fused kernel for FP8 delayed scaling") and otherwise "Quantize kernels
    individually", one quantizer call per expert: MXFP8 one ``nvte_quantize_v2`` (both orientations), 1; per-tensor
    current scaling ``Float8CurrentScalingQuantizer::quantize_impl`` (csrc/quantizer.cpp) ``nvte_compute_amax``, then
    ``nvte_compute_scale_from_amax``, then ``nvte_quantize_v2``, 3. NVFP4 with the Hadamard transform takes the grouped
    path (``split_quantize_nvfp4_impl_with_rht_helper``: one group amax and one group RHT-cast kernel for all experts),
    delayed scaling the one fused kernel: 0 per expert. torchao's rowwise recipe is not TE's: 0.
    Block-wise FP8 (``blockwise``: DeepSeek-V3's recipe, arXiv 2412.19437 §3.3: 1x128 tiles for activations and
    output gradients, 128x128 blocks for weights, FP32 promotion every 128 along K) as Transformer Engine's
    ``Float8BlockScaling`` (TE >= 2.3; docs/features/low_precision_training/fp8_blockwise_scaling.rst: FP32 scales,
    one per 128 or 128x128, activations and gradients 1D, weights 2D). Its cast is one kernel that reads the 16-bit
    tile once and writes the row-wise copy and, on Hopper transposed, the column-wise copy, each with its own 1x128
    scales (common/transpose/quantize_transpose_vector_blockwise.cu ``quantize_transpose_vector_blockwise``:
    ``ROWWISE_GEMM_READY`` + ``COLUMNWISE_GEMM_READY``, "On Hopper sm90, GEMM_READY means that columnwise quantization
    also fuses transpose op"; the docs: a 1D-quantised tensor cannot be transposed, "Both versions must be quantized
    separately from the high-precision source"): 2 + 1 + 1 + 2 x 4/128 B = 4.0625 B; ``saved_bytes`` 1 + 4/128; per
    expert one quantize call (``split_quantize`` "Quantize kernels individually"): 1. ``gemm_rel`` on Hopper: TE runs
    cuBLASLt's block-scaled kernels (``CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F`` / ``BLK128x128_32F``, "software-
    emulated" promotion, the docs say); no public TE H100 timing of them was found, so DeepSeek's own kernel for the
    recipe stands in: DeepGEMM on H800 (deepseek-ai/DeepGEMM README, first release, "Normal GEMMs for dense models",
    NVCC 12.8) 1,358 TFLOP/s at 4096x7168x16384 and 1,304 at 4096x4096x7168, mean 0.673 of 1,979, against 0.682 for
    the cuBLASLt per-tensor rows that set the 0.92 above (1,290 / 1,377 / 1,382 at 8k-32k cubes): 0.92 x 0.673 /
    0.682 = 0.907 (benchmarks/data/parts/fp8_gemm.csv, ``deepgemm_h800_*`` rows). The docs add that pure 1D x 1D
    GEMMs (the weight gradient) carry more overhead than 1D x 2D ones; no figure, not priced. ``param_gather_bytes``:
    the distributed optimizer casts the master shard to the block-scaled FP8 parameter and gathers it (TE
    tensor/utils.py ``cast_master_weights_to_fp8`` -> ``_cast_master_weights_to_fp8_blockwise_scaling``): 1 B.
    ``sm100``: what the recipe becomes on compute capability 10.x, where TE emulates the block-scaled GEMMs on the
    MXFP8 tensor cores (TransformerEngine PR #2157; physics.BLOCK_FP8_CAPABLE) -- (peak, gemm_rel, cast_bytes), from
    TE's own B300 GEMM profiling table (the one MXFP8's figures come from, above): pre-quantised 6.830 ms a layer
    against MXFP8's 7.324 (its "FP8 Block's nvjet kernels are actually more efficient"): 0.876 x 7.324 / 6.830 =
    0.939 at the MXFP8 peak; under autocast 9.598 ms against MXFP8's 8.507, i.e. casts of 9.598 - 6.830 = 2.768 ms
    against MXFP8's 8.507 - 7.324 = 1.183 at MXFP8's 4.0625 B: 4.0625 x 2.768 / 1.183 = 9.505 B (its power-of-2
    scales converted to MXFP8's layout besides the quantisation; "its autocast quantization overhead (block-wise
    scaling computation) is higher than MXFP8's", the guide says). ``recipe_on`` applies it.

    ``sp_amax_allreduce``: Transformer Engine quantises a sequence-parallel tensor it is about to all-gather over TP
    with one scale for the whole group, so it all-reduces (MAX) the tensor's 4-byte amax over the TP group between the
    amax kernel and the cast: transformer_engine/pytorch/module/linear.py (and layernorm_linear.py, layernorm_mlp.py)
    ``_customize_quantizers_float8_current_scaling`` / ``_customize_quantizers_nvfp4`` set ``with_amax_reduction =
    True``, ``amax_reduction_group = self.tp_group`` on the column-parallel input quantizer (forward) and the
    row-parallel grad-output quantizer (backward) when ``sequence_parallel``; csrc/quantizer.cpp
    ``Float8CurrentScalingQuantizer::quantize_impl`` runs ``amax_reduction_group->allreduce(...)->wait()`` after
    ``nvte_compute_amax`` and before ``nvte_compute_scale_from_amax`` (NVFP4: one ``allreduce_coalesced`` of its row-
    and column-wise amax), so the compute stream waits on it. True for per-tensor current scaling (``tensorwise``:
    TE ``Float8CurrentScaling``) and ``nvfp4``. Not delayed scaling (its amaxes go into the history and one coalesced
    all-reduce of every module's amax runs at the outermost autocast exit, ``reduce_and_update_fp8_tensors``: one a
    pass, not one a GEMM: ``pass_amax_allreduce`` below), not MXFP8 or block-wise FP8 (block scales are local), not TE's
    ``GroupedLinear`` (its ``_customize_quantizers_float8_current_scaling`` sets no reduction: the experts' inputs are
    not gathered over TP by TE). Priced where the stack's linears are TE's TP modules (``Stack.te_tp_linears``):
    layer_ops ``sp_amax_allreduces``.

    ``pass_amax_allreduce``: delayed scaling's amax reduction (amaxd45). Its quantisers write each tensor's amax into
    the module's history and scale with the history's, so no GEMM waits on a collective; instead
    transformer_engine/pytorch/fp8.py ``FP8GlobalStateManager.reduce_and_update_fp8_tensors`` concatenates every
    module's current amaxes (``global_amax_buffer``: 3 a GEMM forward -- input, weight, output --, 2 backward) and
    all-reduces them (MAX) over the autocast's ``fp8_group`` in one ``torch.distributed.all_reduce(...,
    async_op=False)`` -- the compute stream waits on it -- then runs one fused amax-and-scale update. It runs where
    the outermost ``fp8_autocast`` exits (``fp8_autocast_exit``: once per forward of each autocast region) and at
    the end of the region's backward (linear.py / layernorm_linear.py / layernorm_mlp.py set
    ``ctx.reduce_and_update_bwd_fp8_tensors`` on the region's first FP8 module, whose backward runs last). True for
    ``delayed`` only (``DelayedScaling.reduce_amax`` defaults True); which group, and how many autocast exits a pass,
    is the stack's (``Stack.te_amax_reduction``, a ``TE_AMAX_REDUCTIONS`` entry): step_time ``pass_amax_allreduces``.
    """

    name: str
    cast_bytes: float
    weight_casts: str  # "microbatch" | "step"
    gemm_rel: float
    peak: str = "fp8"
    param_gather_bytes: float = 2.0
    saved_bytes: float = 1.0
    transpose_bytes: float = 0.0
    split_kernels: float = 0.0
    #: bytes per element of the column-wise payload an FP8 parameter keeps as a tensor of its own, which Megatron-FSDP
    #: gathers into a uint8 buffer of its own for the backward only (``mfsdp_fp8_gather_bytes``): MXFP8's 1 B
    own_columnwise_bytes: float = 0.0
    sm100: tuple = ()  # (peak, gemm_rel, cast_bytes) on compute capability 10.x, where the recipe runs another path
    sp_amax_allreduce: bool = False  # TE all-reduces a gathered SP input's amax over TP before its cast
    pass_amax_allreduce: bool = False  # TE all-reduces every module's amax once a pass (delayed scaling)


#: Transformer Engine's GEMM profiling guide (NVIDIA/TransformerEngine docs/features/low_precision_training/
#: gemm_profiling/gemm_profiling.rst @33294178, "Per-Layer GEMM Time"; benchmarks/data/parts/fp8_gemm.csv
#: ``te_gemm_profiling_b300_*``): B300, the 12 GEMMs of a hidden-4096 / FFN-16384 layer at 15,872 tokens, ms per
#: layer as (autocast: each GEMM quantises its operands first, pre-quantised: the kernels alone). The two columns
#: are two runs, each with its own BF16 time.
TE_B300_LAYER_MS = {"bf16": (12.227, 12.835), "fp8block": (9.598, 6.830), "mxfp8": (8.507, 7.324),
                    "nvfp4": (6.439, 3.754)}


def te_b300_cast_ms(recipe: str) -> float:
    """ms per layer TE's B300 table spends on ``recipe``'s quantisation: autocast minus pre-quantised, as read."""
    autocast, prequant = TE_B300_LAYER_MS[recipe]
    return autocast - prequant


def te_b300_cast_share(recipe: str) -> float:
    """``te_b300_cast_ms`` with each run over its own BF16 time (the autocast and pre-quantised runs time BF16 at
    12.227 / 12.835 ms: 5% apart), so two recipes' casts compare on one footing: NVFP4's 0.234 of a BF16 layer
    against MXFP8's 0.125 (1.87x), where the raw ms give 2.685 / 1.183 (2.27x)."""
    (autocast, prequant), (bf_a, bf_p) = TE_B300_LAYER_MS[recipe], TE_B300_LAYER_MS["bf16"]
    return autocast / bf_a - prequant / bf_p


RECIPES = {
    "tensorwise": LowPrecisionRecipe("tensorwise", cast_bytes=6.0, weight_casts="microbatch", gemm_rel=0.92,
                                     param_gather_bytes=1.0, transpose_bytes=1.0, split_kernels=3.0,
                                     sp_amax_allreduce=True),
    "delayed": LowPrecisionRecipe("delayed", cast_bytes=4.0, weight_casts="step", gemm_rel=0.92, param_gather_bytes=1.0,
                                  transpose_bytes=1.0, pass_amax_allreduce=True),
    "rowwise": LowPrecisionRecipe("rowwise", cast_bytes=10.0, weight_casts="microbatch", gemm_rel=0.85),
    "blockwise": LowPrecisionRecipe("blockwise", cast_bytes=2.0 + 1.0 + 1.0 + 2 * 4.0 / 128, weight_casts="microbatch",
                                    gemm_rel=0.92 * ((1358 + 1304) / 2) / ((1290.1 + 1377.3 + 1382.2) / 3),
                                    peak="fp8block", param_gather_bytes=1.0, saved_bytes=1.0 + 4.0 / 128,
                                    split_kernels=1.0,
                                    sm100=("mxfp8", 0.876 * TE_B300_LAYER_MS["mxfp8"][1] / TE_B300_LAYER_MS["fp8block"][1],
                                           (2.0 + 1.0 + 1.0 + 2.0 / 32) * te_b300_cast_ms("fp8block") / te_b300_cast_ms("mxfp8"))),
    "mxfp8": LowPrecisionRecipe("mxfp8", cast_bytes=4.0625, weight_casts="microbatch", gemm_rel=0.876, peak="mxfp8",
                                saved_bytes=1.0 + 1.0 / 32, split_kernels=1.0, own_columnwise_bytes=1.0),
    # TE's B300 table, as MXFP8's figures: the kernels at its NVFP4 / MXFP8 pre-quantised ratio over the catalog's
    # FP4 / FP8 peak ratio, the casts at its NVFP4 / MXFP8 autocast overhead (each over its own run's BF16)
    "nvfp4": LowPrecisionRecipe("nvfp4", cast_bytes=4.0625 * te_b300_cast_share("nvfp4") / te_b300_cast_share("mxfp8"),
                                weight_casts="step", peak="fp4", saved_bytes=0.5 + 1.0 / 16,
                                sp_amax_allreduce=True,
                                gemm_rel=0.876 * TE_B300_LAYER_MS["mxfp8"][1] / TE_B300_LAYER_MS["nvfp4"][1]
                                / LOW_PRECISION_PEAKS["fp4"][4]),
}
assert set(RECIPES) == set(FP8_RECIPE.names)


@dataclass(frozen=True)
class AmaxReduction:
    """How a stack's training loop enters Transformer Engine's ``fp8_autocast`` under delayed scaling, and so when
    TE all-reduces its amaxes (``LowPrecisionRecipe.pass_amax_allreduce``) and over which group (amaxd45, amaxd46).

    TE (transformer_engine/pytorch/quantization.py, fp8.py in 1.x) ``FP8GlobalStateManager.autocast_exit`` calls
    ``reduce_and_update_fp8_tensors(forward=True)`` whenever the outermost autocast exits with grad enabled, and that
    reduces every non-empty forward key of the process-wide ``global_amax_buffer`` -- the modules of any earlier
    region included -- in one blocking ``torch.distributed.all_reduce(..., op=MAX, group=group, async_op=False)``
    where ``get_world_size(group=group) > 1``. ``group`` is the autocast's ``fp8_group``; ``None`` is
    torch.distributed's default group, every rank of the job. The backward reduces once, at the end of the region's
    first FP8 module's backward (``ctx.reduce_and_update_bwd_fp8_tensors = is_first_fp8_module()`` in linear.py /
    layernorm_linear.py / layernorm_mlp.py).

    ``group``: "stage" (Megatron's amax reduction group, the TP x CP x DP ranks of one pipeline stage) or "world" (all
    GPUs of the job): step_time ``AMAX_GROUP_RANKS``. ``fwd_exits``: outermost autocast exits a micro-batch's forward
    pays, each model chunk. ``bwd_reductions``: the backward's, each chunk. ``recompute_exits``: those a fully
    recomputed forward (``recompute: full``) adds in the backward -- none: TE's checkpoint re-runs the forward under
    ``activation_recompute_forward(recompute_phase=True)`` and no ``fp8_autocast`` (transformer_engine/pytorch/
    distributed.py ``_CheckpointFunction.backward``: ``with torch.enable_grad(), ctx.recompute_ctx,
    ctx.torch_gpu_amp_ctx, ctx.torch_cpu_amp_ctx, activation_recompute_forward(activation_recompute=True,
    recompute_phase=True): outputs = ctx.run_function(...)``; the non-reentrant ``recompute_fn`` likewise), so no
    autocast exits and nothing is reduced; in that phase ``prepare_forward`` takes the
    ``get_old_fp8_meta_tensors_for_recompute`` branch (the first forward's scales, no ``add_fp8_tensors_to_global_
    buffer``) and the linears put ``IS_FIRST_FP8_MODULE`` back after reading it (``if
    in_fp8_activation_recompute_phase(): FP8GlobalStateManager.IS_FIRST_FP8_MODULE = _first_fp8_module``), so the
    recompute adds no backward reduction either. torch.utils.checkpoint's recompute (Composer's bf16 activation
    checkpointing; its fp8 one is TE's, ``TE_RECOMPUTES``) enters no TE autocast either."""

    group: str
    fwd_exits: float
    bwd_reductions: float
    recompute_exits: float = 0.0
    sources: str = ""


#: ``Stack.te_amax_reduction`` -> ``AmaxReduction``.
TE_AMAX_REDUCTIONS = {
    # megatron/core/transformer/transformer_block.py: under Fp8Recipe.delayed one ``get_fp8_context`` around the block
    # (``use_outer_fp8_context``), its fp8_group Megatron's amax reduction group (fp8_utils.py ``get_fp8_context``)
    "megatron": AmaxReduction("stage", 1.0, 1.0, sources="Megatron-Core transformer_block.py / fp8_utils.py"),
    # composer/trainer/trainer.py ``_train_microbatch``: ``with get_precision_context(precision): outputs =
    # model(batch)``, then again ``with get_precision_context(precision): loss = self._original_model.loss(outputs,
    # batch)``; composer/core/precision.py ``get_precision_context`` (amp_fp8): ``te.fp8_autocast(enabled=True,
    # fp8_recipe=fp8_recipe)``, no fp8_group. Two outermost exits a forward: the loss region holds no TE module but its
    # exit reduces the model's buffered amaxes again
    "composer": AmaxReduction("world", 2.0, 1.0, sources="mosaicml/composer trainer.py, core/precision.py"),
    # accelerate/utils/transformer_engine.py ``contextual_fp8_autocast``: ``with fp8_autocast(enabled=enabled,
    # fp8_recipe=fp8_recipe): return model_forward(...)`` (no fp8_group), wrapped around model.forward by
    # ``apply_fp8_autowrap`` in Accelerator.prepare_model; the HF model computes its loss inside forward: one region
    "accelerate": AmaxReduction("world", 1.0, 1.0, sources="huggingface/accelerate utils/transformer_engine.py, "
                                                           "accelerator.py prepare_model"),
}


@dataclass(frozen=True)
class TeRecompute:
    """What a full recompute re-runs a Transformer Engine fp8 layer at under the stack's activation checkpoint
    (fp8rc46): "fp8" or "fails" (``runs``), and "16bit" where the stack's checkpoint is torch's reentrant one
    (``reentrant``, hfckpt47).

    TE decides a module's precision per call in ``TransformerEngineBaseModule.prepare_forward``
    (transformer_engine/pytorch/module/base.py, 1.x and 2.x alike): ``if self.fp8 and
    in_fp8_activation_recompute_phase(): FP8GlobalStateManager.get_old_fp8_meta_tensors_for_recompute(...)`` -- the
    module keeps the fp8 flag of its first forward and that forward's scales -- ``else: ... self.init_fp8_metadata()``,
    whose ``self.fp8 = FP8GlobalStateManager.is_fp8_enabled()`` is False outside an ``fp8_autocast``. The backward,
    where a recompute runs, is outside every stack's autocast (amaxd46). So:

    * "fp8": TE's own checkpoint (transformer_engine/pytorch/distributed.py ``checkpoint``: reentrant
      ``_CheckpointFunction.backward`` and the non-reentrant ``recompute_fn`` both enter
      ``activation_recompute_forward(activation_recompute=True, recompute_phase=True)``; a callable holding TE modules,
      ``has_te_modules``, takes TE's path; an older TE's ``_is_te_module`` sent a block that is not itself a TE module
      to torch.utils.checkpoint with the caller's ``context_fn``, which Composer sets to TE's
      ``get_activation_recompute_contexts``: the same phase) re-runs the layer in fp8 at the first forward's scales: the recompute is
      priced as the layer's fp8 forward (layer_ops ``layer_terms``, ``re_fwd``), casts included. TE's non-reentrant
      checkpoint has no early stop ("``use_reentrant=False`` does not support early stopping, and will execute the
      entire forward pass"); nor does an eager TE linear save before its GEMM (layer_ops ``early_stop_skip``).
    * "fails": torch.utils.checkpoint's non-reentrant recompute enters no TE phase, so the TE linears re-run in
      16-bit and save other tensors than the fp8 forward did (linear.py saves the fp8 input transpose, the fp8
      weight transpose and a ``scale_inv`` clone under fp8, the 16-bit input and weight without), and torch's
      ``check_recomputed_tensors_match`` raises ``CheckpointError`` ("A different number of tensors was saved during
      the original forward and recomputation", NVIDIA/TransformerEngine issue #776: 20 saved, 10 recomputed; #415 the
      same on torch's early-stop path): refused (stack_rules ``te-fp8-torch-checkpoint``).
    * "16bit" (``reentrant``: what the stack's checkpoint runs where it is torch's reentrant one, ``Stack.
      use_reentrant``, hfckpt47): torch.utils.checkpoint's ``CheckpointFunction.forward`` runs the block under
      ``torch.no_grad()`` -- inside the model's ``fp8_autocast``, so fp8 GEMMs and casts, but no autograd node keeps
      a ``ctx`` -- and its ``backward`` re-runs the block under ``torch.enable_grad()`` outside every autocast:
      ``init_fp8_metadata`` reads ``is_fp8_enabled()`` False, the linears run unquantised and set ``ctx.fp8 =
      False`` (linear.py / layernorm_linear.py / layernorm_mlp.py ``_Linear.forward``), and their backward, the one
      ``torch.autograd.backward(outputs, grads)`` runs on the re-built graph, runs its dgrad / wgrad GEMMs on the
      16-bit tensors it saved (the gradient is quantised only ``if ctx.fp8``): reentrant checkpointing compares no
      saved tensors, so it runs. Priced as the
      fp8 forward, a 16-bit recompute and a 16-bit backward of the linears (layer_ops ``LayerContext.rerun16``), no
      backward amax reduction (``ctx.reduce_and_update_bwd_fp8_tensors`` is set only under ``ctx.fp8``:
      step_time ``pass_amax_allreduces``), no early stop (``_StopRecomputationError`` is the non-reentrant
      ``_recomputation_hook``'s). Reentrant is transformers 4.x's default (``gradient_checkpointing_enable``:
      ``{"use_reentrant": True}`` when no kwargs are passed, PR #28538; 4.35 / 4.36 passed ``{}``, torch's own
      default True).

    ``te_recipes``: the recipes the stack runs through TE (() all of them; accelerate runs its tensorwise and rowwise
    recipes through torchao's ``Float8Linear``, which casts on every call and so re-runs in fp8)."""

    runs: str
    te_recipes: tuple = ()
    sources: str = ""
    #: what a reentrant torch checkpoint re-runs the TE layers at on this integration ("" : the stack has none)
    reentrant: str = ""

    def runs_under(self, recipe: str, reentrant: bool) -> str:
        """"fp8", "fails" or "16bit" for fp8 ``recipe`` under this checkpoint (``reentrant``: torch's reentrant one);
        "fp8" for a recipe that does not run through TE (torchao casts on every call)."""
        if self.te_recipes and recipe not in self.te_recipes:
            return "fp8"
        return self.reentrant if reentrant and self.reentrant else self.runs

    def refuses(self, recipe: str, recompute: str, reentrant: bool = False) -> bool:
        """Whether a job of fp8 ``recipe`` with recompute ``recompute`` cannot run under this checkpoint."""
        return recompute == "full" and self.runs_under(recipe, reentrant) == "fails"


#: the stack's Transformer Engine integration (``Stack.te_amax_reduction``'s key) -> ``TeRecompute``
TE_RECOMPUTES = {
    # megatron/core/transformer/transformer_block.py ``_checkpointed_forward.checkpoint_handler``: "Determines whether
    # to use the `te_checkpoint` or `tensor_parallel.checkpoint`": ``if self.config.fp8 (or fp4): te_checkpoint(...)``
    "megatron": TeRecompute("fp8", sources="Megatron-Core transformer_block.py checkpoint_handler: te_checkpoint"),
    # composer/distributed/dist_strategy.py ``prepare_fsdp_module``: "FP8 TE requires using the TE checkpoint
    # function" -- ``te_checkpoint_wrapper`` (FSDPConfig, amp_fp8 only, non-reentrant only) wraps each block in
    # ``checkpoint_wrapper(m, context_fn=te.distributed.get_activation_recompute_contexts,
    # checkpoint_fn=te.distributed.checkpoint, use_reentrant=False)``; mosaicml/composer PR #3156 (2024-03-29) added
    # it because "FSDP activation checkpointing currently does not work with FP8 TE": the torch path fails, so an fp8
    # run with activation checkpointing is a TE-checkpoint run
    "composer": TeRecompute("fp8", sources="mosaicml/composer dist_strategy.py te_checkpoint_wrapper (PR #3156)"),
    # accelerate wraps only model.forward in fp8_autocast (utils/transformer_engine.py ``contextual_fp8_autocast``);
    # transformers' ``gradient_checkpointing_enable`` checkpoints each decoder layer with torch.utils.checkpoint:
    # non-reentrant by default since transformers 5 (PR #43203, ``{"use_reentrant": False}``; the registry's
    # hf-trainer, Stack.use_reentrant False), reentrant in 4.x (``{"use_reentrant": True}``; use_reentrant: true)
    "accelerate": TeRecompute("fails", te_recipes=("delayed",), reentrant="16bit",
                              sources="huggingface/accelerate utils/transformer_engine.py; transformers "
                                      "gradient_checkpointing_enable (torch.utils.checkpoint)"),
}
assert set(TE_RECOMPUTES) == set(TE_AMAX_REDUCTIONS)


def te_recompute_runs(fw, recipe: str) -> str:
    """What a full recompute re-runs stack ``fw``'s TE fp8 layers at under fp8 ``recipe`` (``TeRecompute.runs_under``
    with the stack's ``use_reentrant``); "fp8" on a stack with no TE integration entry."""
    rc = TE_RECOMPUTES.get(getattr(fw, "te_amax_reduction", "") or "")
    return rc.runs_under(recipe, bool(getattr(fw, "use_reentrant", False))) if rc is not None else "fp8"


def fp8_param_gather_on(stack, training, zero):
    """Whether Megatron-Core's ``--fp8-param-gather`` is on for ZeRO stage(s) ``zero`` (arrays welcome): the stack
    stores its FP8-trained weights as FP8 (``Stack.fp8_param_gather``, weights "megatron"), the parameters are
    sharded (ZeRO >= 1: validate_args allows the flag "only with distributed optimizer, torch fsdp2, megatron fsdp")
    and the recipe is an FP8 one (NVFP4 runs without it: Megatron-Bridge ``bf16_with_nvfp4_mixed`` sets
    ``fp8_param_gather = False``)."""
    on = (bool(stack.fp8_param_gather) and stack.fp8_weight_bytes is not None and training.precision == "fp8"
          and training.weights == "megatron" and stack.recipe.peak != "fp4")
    return np.asarray(zero) >= 1 if on else np.zeros(np.shape(zero), dtype=bool)


def fsdp_float8_gather_on(stack, training, zero):
    """Whether torchtitan's FSDP2 float8 all-gather (``Stack.fsdp_float8_all_gather``) runs at ZeRO stage(s) ``zero``
    (arrays welcome): fp8 training on the tensorwise recipe -- torchtitan/components/quantization/float8.py (@ce5ace24
    and main) asserts "using `float8_config.enable_fsdp_float8_all_gather` together with `float8_config.recipe_name`
    is not supported" and builds it only on the tensorwise path (stack_rules "titan-fp8-gather-recipe") -- where
    FSDP shards (``parallel_dims.dp_shard_enabled and ...``: FSDP2's ZeRO-2 / 3; ZeRO-0 drops it)."""
    on = (bool(getattr(stack, "fsdp_float8_all_gather", False)) and training.precision == "fp8"
          and stack.recipe.name == "tensorwise")
    return np.asarray(zero) >= 2 if on else np.zeros(np.shape(zero), dtype=bool)


def fp8_gather_on(stack, training, zero):
    """Whether the parameter all-gathers at ZeRO stage(s) ``zero`` move the FP8 linears' weights at the recipe's width
    (``LowPrecisionRecipe.param_gather_bytes``): Megatron-Core's ``--fp8-param-gather`` (``fp8_param_gather_on``) or
    torchtitan's FSDP2 float8 all-gather (``fsdp_float8_gather_on``) -- one width rule for both."""
    return fp8_param_gather_on(stack, training, zero) | fsdp_float8_gather_on(stack, training, zero)


def fp8_weights_as_stored(stack, training, zero):
    """Whether the GPU holds the FP8-trained weights as ``Stack.fp8_weight_bytes`` at ZeRO stage(s) ``zero`` (arrays
    welcome) rather than as planner.model.memory's ``PRECISION_CONVENTIONS`` (16-bit weights and a cached FP8 copy):
    a stack whose storage does not hang on ``--fp8-param-gather`` (no TE linears: torchtitan's torchao) always,
    Megatron-Core where that flag is on (``fp8_param_gather_on``; off where the job's option ``fp8_param_gather:
    false`` leaves it off, ``Stack.fp8_param_gather``)."""
    if not (training.precision == "fp8" and training.weights == "megatron" and stack.fp8_weight_bytes is not None):
        return np.zeros(np.shape(zero), dtype=bool)
    if not stack.te_linears:  # torchao's 16-bit parameters (torchtitan): no flag to hang on
        return np.ones(np.shape(zero), dtype=bool)
    return fp8_param_gather_on(stack, training, zero)


def te_skips_fp8_transpose(stack, gpu: str | None) -> bool:
    """Whether Transformer Engine makes no transposed FP8 copy (weights or casts) for this stack's recipe on GPU
    ``gpu`` (a catalog name): a per-tensor recipe (``LowPrecisionRecipe.transpose_bytes``) on a part whose FP8 GEMMs
    take any layout (physics.SM100; TE quantizer.cpp ``nvte_is_non_tn_fp8_gemm_supported``)."""
    from planner.model.physics import SM100

    return gpu is not None and str(gpu).upper().startswith(SM100) and stack.recipe.transpose_bytes > 0


def recipe_on(recipe: LowPrecisionRecipe, gpu: str | None) -> LowPrecisionRecipe:
    """``recipe`` as it runs on GPU ``gpu`` (a catalog name): its ``sm100`` path (peak, GEMM fraction, cast bytes) on
    compute capability 10.x parts (physics.SM100) where it has one -- block-wise FP8 emulated on the MXFP8 tensor
    cores -- else itself."""
    from planner.model.physics import SM100

    if recipe.sm100 and gpu is not None and str(gpu).upper().startswith(SM100):
        peak, gemm_rel, cast_bytes = recipe.sm100
        return replace(recipe, peak=peak, gemm_rel=gemm_rel, cast_bytes=cast_bytes)
    return recipe


def te_cast_bytes(stack, gpu: str | None) -> float:
    """HBM bytes per element of a GEMM input's quantisation (``LowPrecisionRecipe.cast_bytes``) as the stack runs it
    on GPU ``gpu`` (``recipe_on``): less the transposed copy's write where a TE stack (``Stack.te_linears``) makes none
    (``te_skips_fp8_transpose``). Dynamic tensorwise on B200: 6 - 1 = 5 B; delayed 4 - 1 = 3 B."""
    r = recipe_on(stack.recipe, gpu)
    return r.cast_bytes - (r.transpose_bytes if stack.te_linears and te_skips_fp8_transpose(stack, gpu) else 0.0)


def fp8_linear_weight_bytes(stack, training, gpu: str | None = None) -> float | None:
    """Bytes per parameter of the FP8-stored linear weights (``Stack.fp8_weight_bytes`` where
    ``fp8_weights_as_stored``) on GPU ``gpu`` (a catalog name; None: the stack's own figure). Megatron-Core's
    ``--fp8-param-gather`` weights are TE ``Float8Tensor``s, the row-wise FP8 data (1 B) plus the transposed copy
    the backward GEMMs need on Hopper (1 B): 2. On parts whose FP8 GEMMs take any layout (physics.SM100:
    TE ``nvte_is_non_tn_fp8_gemm_supported``, Blackwell B100/B200/GB200/B300/GB300) the per-tensor recipes
    (tensorwise, delayed: ``Float8Quantizer`` / ``Float8CurrentScalingQuantizer``) allocate no transposed copy: 1.
    MXFP8 keeps its column-wise copy on every part (its scales run along the other dimension:
    ``MXFP8Quantizer`` allocates both usages): 2. The embeddings, the head and the norms stay 16-bit (2 B)
    whatever the part (planner.model.memory prices them apart)."""
    b = stack.fp8_weight_bytes
    if b is not None and stack.fp8_param_gather and te_skips_fp8_transpose(stack, gpu):
        return 1.0
    return b


#: bytes an element of an FP8 parameter's uint8 payload (row-wise or column-wise; the scales are left out)
FP8_PAYLOAD_BYTES = 1.0


def mfsdp_fp8_gather_bytes(stack, stored) -> tuple:
    """Bytes an element of a Megatron-FSDP unit whose parameters are FP8-stored (``fp8_weights_as_stored``) at
    ``stored`` bytes (``fp8_linear_weight_bytes``) takes, as ``(gathered, built, recomputed)``: ``gathered`` a pass,
    every unit of the gathered window; ``built`` the unit in compute alone; ``recomputed`` that unit again where its
    backward re-runs its forward (``recompute: full``). NVIDIA/Megatron-LM megatron/core/distributed/fsdp/src/
    megatron_fsdp/ (param_and_grad_buffer.py @0056bc94 as stored; megatron_fsdp.py @367f664e):

    * ``gathered``: an FP8 group's ``model_weight_buffer`` is ``torch.uint8``, the row-wise payload
      (mixed_precision.py ``fp8_get_raw_data``: ``_rowwise_data`` / ``_data``); "Currently, only mxfp8 needs it": a
      ``transpose_weight_buffer`` (uint8, ``fp8_need_transpose_data``: an ``MXFP8Tensor`` alone) with its own temporary
      bucket allocator, gathered for the backward (bucket key ``(bucket_id, bwd)``). So one payload a pass,
      ``FP8_PAYLOAD_BYTES``; until dsfp53 both MXFP8 payloads at once, until mx53 the per-tensor recipes on Hopper
      and block-wise FP8 (``Float8BlockwiseQTensor``: no transpose buffer) the stored 2 B on every gathered unit.
    * ``built``: the other payload the backward GEMMs need where no buffer holds it, made from the gathered one for
      the parameters being computed (``all_gather_and_wait_parameters_ready`` -> ``fp8_create_transpose_cache``:
      TE ``post_all_gather_processing``, ``_create_transpose`` / block-wise ``_create_columnwise``) and dropped on
      release (``fp8_discard_transpose_cache``): ``stored`` less the gathered and the own-buffer payloads -- 1 B for
      the per-tensor recipes on Hopper and for block-wise FP8, 0 for MXFP8 and the per-tensor recipes on Blackwell.
    * ``recomputed``: under full recompute the re-run forward's pre-forward hook gathers the unit's row-wise buffer
      (module state ``PRE_BACKWARD``: no prefetch) and ``_post_forward`` skips its release ("Skip weight deallocation
      until the backward pass is complete during activation recomputation"); ``_pre_backward`` then gathers the
      column-wise buffer beside it and ``_post_backward`` releases both. A recipe whose backward reads the same
      buffer (no ``transpose_weight_buffer``) gathers nothing more: MXFP8's ``own_columnwise_bytes`` (1 B), else 0.
      Selective recompute re-runs no FSDP unit's forward (Megatron-Core's ``recompute_modules`` are submodules,
      whose hooks the unit's own replace): nothing."""
    own = stack.recipe.own_columnwise_bytes
    built = np.maximum(stored - own - FP8_PAYLOAD_BYTES, 0.0)  # stored: a scalar or per key
    return stored - own - built, built, own


#: FlashAttention-1 (flash_attn 0.2-1.0.x, csrc/flash_attn/fmha_api.cpp ``run_fmha_fwd`` / ``run_fmha_bwd``) builds its
#: kernels for head dims 32, 64 and 128 and dispatches ``d <= 32`` / ``d <= 64`` / ``d <= 128`` to them: a head dim in
#: between runs the next kernel.
FA1_HEAD_DIM_TILES = (32, 64, 128)
#: the longest key length Megatron-Core's fused softmax kernel takes (megatron/core/fusions/fused_softmax.py, 0.16.1,
#: l. 256: ``is_kernel_available`` needs ``16 < sk <= 4096``); the legacy Megatron code bases stop at 2048
#: (``Stack.fused_softmax_keys``)
MCORE_FUSED_SOFTMAX_KEYS = 4096
#: the Triton flash kernel (flash_attn_triton.py, which llm-foundry's ``attn_impl: triton`` copies): ``BLOCK_HEADDIM =
#: max(triton.next_power_of_2(d), 16)``, its head dim at most 128
TRITON_FA_HEAD_DIM_TILES = (16, 32, 64, 128)


@dataclass(frozen=True)
class AttnKernels:
    """Where the kernel package a transformers ``attn_implementation`` loads can run: ``package`` (the module
    transformers imports), the platforms it is built for (``platforms``, planner.hardware.platform ``PLATFORMS``
    keys) and, on CUDA, the compute capabilities (x 10, planner.hardware.platform ``cuda_compute_capability``) from
    ``cc_min`` up to, not including, ``cc_below`` (None: no upper bound) that it has kernels for; ``built``: the
    package's own words for it, as a refusal quotes them."""
    package: str
    platforms: tuple[str, ...]
    cc_min: int
    cc_below: int | None
    built: str

    def span(self) -> str:
        """The compute capabilities it runs on, in words ("8.0 and up", "8.0 to 9.x")."""
        return f"{self.cc_min / 10:.1f} " + (f"to {self.cc_below // 10 - 1}.x" if self.cc_below else "and up")

    def need(self, choice: str) -> str:
        """What a GPU needs for it, as recommend's "left out" lines say ("GPU: <need>, which it lacks")."""
        rocm = " or an AMD GPU (ROCm)" if "rocm" in self.platforms else ""
        return f"kernels of {self.package} ({choice}: NVIDIA compute capability {self.span()}{rocm})"


#: the ``attn_implementation`` values that load a kernel package with a GPU requirement of its own (eager, sdpa and
#: flex_attention are torch's and run wherever the stack does). transformers refuses neither on its own where the
#: package imports (modeling_utils.py ``_flash_attn_3_can_dispatch`` checks the compute capability only when
#: ``is_flash_attn_3_available()`` is False); the package's build and its kernels' checks are what refuse:
#:
#: * flash_attention_2 -> ``flash_attn`` (Dao-AILab/flash-attention): csrc/flash_attn/flash_api.cpp ``mha_fwd``
#:   ``TORCH_CHECK(cc_major >= 8, "FlashAttention only supports Ampere GPUs or newer.")``; README "FlashAttention-2
#:   with CUDA currently supports: Ampere, Ada, or Hopper GPUs ... Turing GPUs (T4, RTX 2080) ... use FlashAttention
#:   1.x" and "with ROCm ... MI200 or MI300 GPUs" (the composable_kernel backend). It runs on Blackwell (the GB200
#:   FlashAttention-2 rate physics.FA2_BLACKWELL is measured there): no upper bound;
#: * flash_attention_3 -> ``flash_attn_3`` (hopper/ of the same repository): hopper/setup.py builds a CUDAExtension
#:   (nvcc only, no HIP) from its ``*_sm90.cu`` instantiations for ``sm_90a`` and its ``*_sm80.cu`` ones for
#:   ``sm_80`` (unless FLASH_ATTENTION_DISABLE_SM80), nothing for sm_100; hopper/flash_api.cpp ``mha_fwd``
#:   ``TORCH_CHECK(dprops->major >= 8, ...)``. An sm_80 cubin runs on 8.x and an sm_90a one on 9.0 only, so no
#:   kernel of the build loads on a 10.x part (B200, GB200, B300, GB300); the 2024 beta (``is_sm90`` checks) ran on
#:   Hopper alone, the current source on Ampere / Ada too (``ARCH_SWITCH`` 80 / 86 / 89)
ATTN_IMPLEMENTATION_KERNELS = {
    "flash_attention_2": AttnKernels("flash_attn", ("cuda", "rocm"), 80, None,
                                     "flash_api.cpp: \"FlashAttention only supports Ampere GPUs or newer\""),
    "flash_attention_3": AttnKernels("flash_attn_3", ("cuda",), 80, 100,
                                     "flash-attention hopper/setup.py: sm_80 and sm_90a cubins, nvcc only"),
}


def attn_implementation_refusal(choice: str | None, gpu) -> str | None:
    """Why transformers' ``attn_implementation`` ``choice`` cannot train on catalog accelerator ``gpu``
    (``ATTN_IMPLEMENTATION_KERNELS``), None where it can, where it loads no kernel package of its own, or where the
    accelerator's platform or compute capability is unknown (a measured profile's device).

    >>> from types import SimpleNamespace as G
    >>> attn_implementation_refusal("flash_attention_3", G(name="H100-SXM-80GB", vendor="NVIDIA")) is None
    True
    >>> print(attn_implementation_refusal("flash_attention_3", G(name="B200-SXM-180GB", vendor="NVIDIA")))
    flash_attention_3 loads flash_attn_3, whose kernels run on NVIDIA compute capability 8.0 to 9.x only \
(flash-attention hopper/setup.py: sm_80 and sm_90a cubins, nvcc only); B200-SXM-180GB is 10.0: use \
flash_attention_2, sdpa or eager
    """
    from planner.hardware.platform import PLATFORMS, cuda_compute_capability, platform_of

    k = ATTN_IMPLEMENTATION_KERNELS.get(choice or "")
    plat = platform_of(gpu) if k is not None else None
    if plat is None:
        return None
    # the other implementations that would run there: flash_attention_2 where its package does, torch's always
    fa2 = choice != "flash_attention_2" and attn_implementation_refusal("flash_attention_2", gpu) is None
    fix = "use " + ("flash_attention_2, " if fa2 else "") + "sdpa or eager"
    if plat not in k.platforms:
        return (f"{choice} loads {k.package}, built for {' and '.join(PLATFORMS[p] for p in k.platforms)} only "
                f"({k.built}); {gpu.name} runs {PLATFORMS[plat]}: {fix}")
    cc = cuda_compute_capability(gpu) if plat == "cuda" else None
    if cc is None or (cc >= k.cc_min and (k.cc_below is None or cc < k.cc_below)):
        return None
    return (f"{choice} loads {k.package}, whose kernels run on NVIDIA compute capability {k.span()} only "
            f"({k.built}); {gpu.name} is {cc / 10:.1f}: {fix}")


def eager_sink_attention(fw, m) -> bool:
    """Whether a model with attention sinks (gpt-oss) runs its attention as HF transformers' eager code on stack ``fw``
    whatever ``training.flash_attention`` says: the stacks that run transformers' model code (``mixed_precision`` set:
    hf-trainer, deepspeed; planner.model.memory ``_hf_code``). transformers' gpt-oss (models/gpt_oss/
    modeling_gpt_oss.py @ 00d4b3d2) sets ``_supports_sdpa = False`` (sdpa refused at load); ``_supports_flash_attn``
    lets flash_attention_2 load, but modeling_flash_attention_utils.py ``_process_flash_attention_kwargs`` passes
    ``s_aux`` (the sinks) only to a kernel whose signature takes it ("Only within kernel implementation atm": the
    kernels-community/vllm-flash-attn3 hub kernel, an inference fork), so flash_attn 2 drops the sinks -- another
    model; the flex path rescales after the kernel in a third op order (integrations/flex_attention.py @ 2ccc6cae).
    The run that trains gpt-oss is ``eager_attention_forward``: the full s x s scores, the sink column concatenated,
    max-subtracted, softmaxed and dropped (layer_ops ``hf_sink_score_bytes``; its saves: activations_hf, the sink
    column). Until small32b the time priced FA2 (causal, no sinks) and the memory sdpa's saves for it."""
    return bool(m.attention_sinks) and getattr(fw, "mixed_precision", None) is not None


def hf_attn_choice(fw, m, t) -> str | None:
    """transformers' ``attn_implementation`` the HF-code stack ``fw`` (``mixed_precision`` set) trains ``m`` with,
    None on the other stacks: the job's ``training.framework.attn_implementation``, else the one transformers picks
    (modeling_utils.py ``_check_and_adjust_attn_implementation``: "sdpa" where the model's ``_supports_sdpa``, else
    "eager"; gpt-oss sets ``_supports_sdpa = False``) -- and "eager" where ``training.flash_attention`` is off.
    Memory (activations_hf ``hf_attn_impl``) and time (``fused_attention``) both read it, so they cannot disagree;
    the refusals (a model without the support flag) are stack_rules ``hf-attn-support``."""
    if getattr(fw, "mixed_precision", None) is None:
        return None
    if getattr(fw, "attn_implementation", None) is not None:
        return fw.attn_implementation
    return "sdpa" if (t.flash_attention and not m.attention_sinks) else "eager"


def fused_attention(fw, m, t) -> bool:
    """Whether the attention core runs the stack's fused kernel: ``training.flash_attention``, except where the stack's
    code runs the model's attention eagerly (``eager_sink_attention``); on the HF-code stacks, any transformers
    ``attn_implementation`` but "eager" (``hf_attn_choice``: CUDA sdpa runs flash or, for MLA's unequal q / v head
    dims, the mem-efficient kernel -- activations_hf ``hf_attn_impl``; FA2 / FA3 / flex are fused), priced at the
    stack's kernel rate."""
    choice = hf_attn_choice(fw, m, t)
    if choice is not None:
        return choice != "eager"
    return bool(t.flash_attention) and not eager_sink_attention(fw, m)


def softmax_fallback(fw, attn_batches, sq, sk, act_b):
    """1 where Megatron's ``FusedScaleMaskSoftmax`` runs its torch fallback instead of its CUDA kernel, else 0 (arrays
    over the keys): on stacks with the kernel (``Stack.fused_softmax_keys``), 16-bit scores, and the kernel's
    constraints failed -- ``16 < sk <= fused_softmax_keys``, ``sq % 4 == 0`` and ``attn_batches`` (micro-batch x the
    rank's heads) a multiple of the kernel's batches per block: 4 past 128 keys, 8 up to it (scaled_masked_softmax.h
    ``get_batch_per_block``: 128 threads a block, a warp of min(next power of two of sk, 32) threads, two rows a warp up
    to 128 keys). microsoft/Megatron-DeepSpeed megatron/model/fused_softmax.py @0782d753 ``custom_kernel_constraint``;
    Megatron-LM's ``is_kernel_available`` adds the batches-per-block test. E.g. 16 heads at TP 8 and micro-batch 1:
    2 attention batches, the fallback. The one rule for both sides of the fallback: its time (step_time
    ``explicit_attention``: the torch path's passes and kernels) and its saves (activations ``layer_activation_bytes``'
    ``fp32_softmax``: the fp32 softmax output), each through ``core_attention_fallback``."""
    keys = getattr(fw, "fused_softmax_keys", 0)
    if not keys or act_b >= 4:  # no such kernel, or fp32 scores (the kernel takes 16-bit input only)
        return np.zeros_like(np.asarray(attn_batches, dtype=float))
    sk = np.asarray(sk, dtype=np.float64)
    quantum = np.where(sk <= 128, 8, 4)
    ok = (sk > 16) & (sk <= keys) & (np.asarray(sq) % 4 == 0) & (np.asarray(attn_batches) % quantum == 0)
    return np.where(ok, 0.0, 1.0)


def core_attention_fallback(fw, m, seq, mb, tp, cp, act_b):
    """``softmax_fallback`` at the scores Megatron's CoreAttention hands its softmax, ``[mb, heads / tp, seq / cp,
    seq]`` (megatron/model/transformer.py ``CoreAttention.forward``: ``output_size = (b, np, sq, sk)``, np the query
    heads of the TP rank): 1 where the torch path runs, else 0 (arrays over the keys). It concerns explicit (non-flash)
    attention only: step time asks it there, and the activation table reads it only in its explicit rows."""
    return softmax_fallback(fw, np.asarray(mb, dtype=np.float64) * m.heads / np.asarray(tp, dtype=np.float64),
                            np.asarray(seq, dtype=np.float64) / np.asarray(cp, dtype=np.float64), seq, act_b)


@dataclass(frozen=True)
class ExplicitSoftmax:
    """The softmax of an explicit (non-flash) attention on 16-bit scores, the ops between its two GEMMs, against the
    fused default the step time's ``SCORE_BYTES_*`` and the table's 16-bit ``attn.softmax`` row price (one kernel
    each way that reads and writes 16-bit scores and keeps its 16-bit output). One form for both places it is
    written: a stack's own (``EXPLICIT_SOFTMAX``) and a transformers family's eager code (activations_hf
    ``HF_EAGER_SOFTMAX``, the HF-code stacks'). ``fp32_saved``: autograd keeps the softmax's fp32 output at every
    length (the table's ``fp32_softmax`` rows: 4 B a score, and without dropout the AV GEMM's 16-bit cast beside
    it; transformers' ``softmax(dtype=torch.float32)``); False: the softmax runs in the scores' dtype.
    ``extra_bytes``: per score, (forward, backward) HBM bytes beyond the fused default's 4 / 6, keyed by whether
    the forward autocasts over fp32 weights (``Stack.autocasts``); ``extra_ops``: (forward, backward) kernels beyond
    its one each way, keyed the same; None: not read, priced as the fused default. Counted with a TorchDispatchMode
    on real torch ops, every op between the two GEMMs by the score-sized tensors it reads or writes, and the saves
    with ``saved_tensors_hooks`` (tests/test_softmax43.py, tests/test_hfsoftmax42.py)."""
    fp32_saved: bool
    extra_bytes: dict | None
    extra_ops: dict | None
    source: str
    #: the AV GEMM multiplies the fp32 softmax itself (no 16-bit cast kept: activations ``fp32_av``)
    av_fp32: bool = False
    #: Gemma 2's tanh soft-capping before the mask (its tanh kept, a per score: activations_hf ``saved_rows``)
    softcap: bool = False

    def extra(self, autocast: bool, act_b) -> tuple[float, float, float, float]:
        """(forward bytes, backward bytes, forward kernels, backward kernels) a score beyond the fused default, at
        ``autocast``; 0 with fp32 scores (``act_b`` >= 4: the fused default's own fp32 rows) and where not read."""
        if self.extra_bytes is None or act_b >= 4:
            return 0.0, 0.0, 0.0, 0.0
        return self.extra_bytes[bool(autocast)] + self.extra_ops[bool(autocast)]


#: per ``Stack.explicit_softmax``, what its softmax saves and moves (``ExplicitSoftmax``). "megatron" and "unread"
#: are rules, not entries (``explicit_softmax_fp32``): Megatron's kernel or its torch fallback (``softmax_fallback``,
#: priced by layer_ops ``SOFTMAX_FALLBACK_BYTES``), and the reading every stack had before softmax43 for the stacks
#: whose code is not read (MaxText, NeuronX, NeMo AutoModel, the generic fsdp / pytorch-ddp / dle-convnets entries):
#: the fused default up to ``UNREAD_FP32_KEYS`` keys, the fp32 output past them, no extra time. The HF-code stacks
#: (hf-trainer, deepspeed) are "transformers" (``EXPLICIT_SOFTMAX_RULES``), no entry here: transformers' eager softmax
#: is the model's code, not the stack's -- llama / mistral / qwen2 ``eager_attention_forward`` run
#: ``softmax(dtype=torch.float32).to(query.dtype)``, BERT's ``BertSelfAttention`` a 16-bit ``softmax`` -- so it is a
#: table per family, activations_hf ``HF_EAGER_SOFTMAX``, read by their memory and, under ``attn_implementation``
#: "eager", their step time (hfsoftmax42). validate's BERT (DLE) rows run DLE's own TorchScript BERT (fp16 softmax),
#: not transformers: their stack ``dle-bert`` (hf-trainer as DLE launches it, acc50) reads "unread".
EXPLICIT_SOFTMAX = {
    # metaseq @02dd7a85 metaseq/model_parallel/modules/multihead_attention.py ``forward`` (training: ``CHANGES = not
    # inference``): ``ScaledUpperTriangMaskedSoftmax.apply(matmul_result, 1.0)`` -- Megatron's CUDA kernel called
    # directly, not ``FusedScaleMaskSoftmax``, so no torch fallback at any length: its 16-bit output, the default
    "kernel": ExplicitSoftmax(False, {False: (0.0, 0.0), True: (0.0, 0.0)}, {False: (0.0, 0.0), True: (0.0, 0.0)},
                              "metaseq ModelParallelMultiheadAttention: ScaledUpperTriangMaskedSoftmax"),
    # llm-foundry @00ef82a3 llmfoundry/models/layers/attention.py ``scaled_multihead_dot_product_attention``
    # (``attn_impl: torch``): ``q.matmul(k) * softmax_scale``, ``masked_fill`` of the causal mask, ``torch.softmax``
    # -- on CUDA autocast's fp32 list: the scores cast up, an fp32 output --, ``attn_weight.to(v.dtype).matmul(v)``.
    # Forward 28 B, backward 32; 5 kernels each way
    "torch_autocast": ExplicitSoftmax(True, {False: (24.0, 26.0), True: (24.0, 26.0)}, {False: (4.0, 4.0), True: (4.0, 4.0)},
                                      "llm-foundry scaled_multihead_dot_product_attention under autocast"),
    # torch SDPA's math backend, the last of torchtitan's ScaledDotProductAttentionWrapper ``sdpa_backends``
    # (torchtitan/models/attention.py @0012170a: CUDNN, FLASH, EFFICIENT, MATH), where no fused kernel takes the call:
    # aten/src/ATen/native/transformers/attention.cpp ``_scaled_dot_product_attention_math`` casts 16-bit q, k, v up
    # to fp32, so the scores, the softmax and both GEMMs' score operands are fp32: the mask add (8), ``_safe_softmax``
    # (8), the returned weights' cast (6); the GEMMs write / read fp32 scores (2 more each, 4 more backward). Forward
    # 22 B + 4, backward 12 + 8. The AV GEMM keeps the fp32 softmax itself (no 16-bit cast: the table's cast row is
    # 2 B a score over), and fp32 copies of q, k and v (2 B an element more than the table's 16-bit rows), unpriced
    "sdpa_math": ExplicitSoftmax(True, {False: (22.0, 14.0), True: (22.0, 14.0)}, {False: (2.0, 0.0), True: (2.0, 0.0)},
                                 "torch SDPA math backend (torch 2.13): fp32 scores and softmax", av_fp32=True),
}
#: ``Stack.explicit_softmax`` values that are rules, not ``EXPLICIT_SOFTMAX`` entries: "unread" (above) and
#: "transformers", the HF-code stacks' model code, whose softmax is its family's (activations_hf ``HF_EAGER_SOFTMAX``;
#: hfsoftmax42), read here as "unread"
EXPLICIT_SOFTMAX_RULES = ("unread", "transformers")
#: the "unread" stacks' fp32 softmax threshold: Megatron-Core's kernel limit, which every stack read before mem42
UNREAD_FP32_KEYS = 4096


def stack_softmax(fw) -> ExplicitSoftmax | None:
    """The stack's own explicit softmax (``EXPLICIT_SOFTMAX`` by ``Stack.explicit_softmax``), or None: Megatron's
    kernel stacks (``Stack.fused_softmax_keys``: their fallback is its own rule, ``core_attention_fallback``) and the
    rules that are no entry (``EXPLICIT_SOFTMAX_RULES``)."""
    if getattr(fw, "fused_softmax_keys", 0):
        return None
    return EXPLICIT_SOFTMAX.get(getattr(fw, "explicit_softmax", "unread"))


def explicit_softmax_fp32(fw, m, seq, mb, tp, cp, act_b):
    """Per key, 1 where the stack's explicit softmax keeps an fp32 output (the table's ``fp32_softmax``), else 0:
    Megatron's torch fallback (``core_attention_fallback``) on the kernel's stacks, every key of an
    ``EXPLICIT_SOFTMAX`` entry that keeps one, the keys past ``UNREAD_FP32_KEYS`` on an unread stack; 16-bit scores
    only (fp32 scores: the table's own fp32 rows)."""
    if getattr(fw, "fused_softmax_keys", 0):
        return core_attention_fallback(fw, m, seq, mb, tp, cp, act_b)
    form = stack_softmax(fw)
    seq_a = np.asarray(seq, dtype=np.float64)
    on = form.fp32_saved if form is not None else seq_a > UNREAD_FP32_KEYS
    shape = np.broadcast(np.asarray(mb), np.asarray(tp), np.asarray(cp), seq_a).shape
    return np.broadcast_to(np.where((act_b < 4) & on, 1.0, 0.0), shape)


def explicit_softmax_av_fp32(fw) -> bool:
    """Whether the stack's explicit attention multiplies V by the fp32 softmax itself (``ExplicitSoftmax.av_fp32``);
    False on Megatron's stacks and unread ones."""
    form = stack_softmax(fw)
    return bool(form is not None and form.av_fp32)


def explicit_softmax_extra(fw, autocast: bool, act_b) -> tuple[float, float, float, float]:
    """(forward bytes, backward bytes, forward kernels, backward kernels) per score that a stack's own explicit softmax
    (``EXPLICIT_SOFTMAX``) moves beyond the fused default; 0 on Megatron's stacks (their fallback is priced by its own
    rule), on unread stacks and with fp32 scores."""
    form = stack_softmax(fw)
    return (0.0, 0.0, 0.0, 0.0) if form is None else form.extra(autocast, act_b)


#: HBM bytes per element of eager fp32-upcast elementwise chains (bf16 in and out), counted op by op
#: from the model code: RMSNorm = x.float() (2 read + 4 write), pow (4 + 4), mean (4), x * rsqrt
#: (4 + 4), type_as (4 + 2), * weight (2 + 2) = 36; RoPE (torchtitan ``apply_rotary_emb``) =
#: .float() (2 + 4), complex multiply (4 + 4 + 4), type_as (4 + 2) = 24; SwiGLU eager = silu (2 + 2)
#: and the product (4 + 2) = 10 per element of the ffn width. "rope_rotation_matrix" (``Stack.eager_rope``): IBM's
#: foundation-model-stack RoPE, which "avoids complex numbers" (fms/modules/positions.py ``RotaryEmbedding.adjusted_qk``,
#: the same in every stored version, 2023-25: ``q_ = q.float().view(..., -1, 2)``, then
#: ``freqs[...].mul(q_.unsqueeze(-2)).sum(5).flatten(3).type_as(q)`` with ``freqs`` a 2 x 2 fp32 rotation matrix per
#: pair): .float() (2 + 4), the broadcast product by the matrices, two fp32 products per element (4 + 4 + 8), the
#: sum over each pair of products (8 + 4), type_as (4 + 2) = 40, counted as "rope" is (the per-token rotation
#: matrices read once per element); 16 B more than the complex multiply, on real torch ops forward and backward alike
#: (tests/test_fmsrope47.py). "rope_rotate_half" / "rope_rotate_half_amp": transformers' ``apply_rotary_pos_emb``
#: (models/llama/modeling_llama.py and the families that copy it: ``q * cos + rotate_half(q) * sin``, ``rotate_half``
#: = ``torch.cat((-x2, x1), dim=-1)`` on the halves), with ``cos`` / ``sin`` cast to the dtype of the hidden states
#: handed to ``LlamaRotaryEmbedding.forward`` (``cos.to(dtype=x.dtype)``). 16-bit stream (the module cast to bf16):
#: neg of one half (1 + 1), cat (2 + 2), the two products (2 + 2 table + 2 each), the add (4 + 2) = 24, the same as the
#: complex multiply; under autocast over fp32 weights the stream, so cos / sin, is fp32 and the products promote:
#: neg (1 + 1), cat (2 + 2), the products (2 + 4 table + 4 each), the fp32 add (8 + 4) and the cast of the fp32 q / k
#: to bf16 at the attention (autocast's ``scaled_dot_product_attention`` / ``matmul`` entry, transformers'
#: flash path ``query.to(target_dtype)``; OLMo 2's own ``q_embed.to(q_type)``) (4 + 2) = 44. Counted as "rope" is
#: (each table read once per element), on real torch ops forward and backward (tests/test_hf47.py: ex tables 20
#: and 36 B forward, 28 and 54 B backward against the complex multiply's 20 / 20). Chosen per family by
#: layer_ops ``eager_rope_bytes`` (``Stack.eager_rope`` "transformers", activations_hf ``HF_ROPE_FORMS``).
#: "rmsnorm_amp" (hfstep48): the same RMSNorm on an fp32 stream (autocast over fp32 weights, ``Stack.fp32_stream``;
#: layer_ops ``LayerContext.fp32s``), fp32 in and out: transformers ``LlamaRMSNorm`` (``hidden_states.to(float32)``
#: and ``.to(input_dtype)`` are no-ops on an fp32 input, ``self.weight`` fp32) and torchtitan's ``RMSNorm``
#: (``x.float()``, ``type_as(x)`` no-ops): pow (4 + 4), mean (4), x * rsqrt (4 + 4), * weight (4 + 4) = 28. CUDA
#: autocast's lists (aten autocast_mode.cpp ``AT_FORALL_FP32``: ``pow``, ``rsqrt``) cast nothing there (their inputs are
#: fp32 already); 8 B under the bf16-stream chain's 36 (which pays the upcast, 2 + 4, and the cast back, 4 + 2, and
#: reads / writes the weight product in bf16, 2 + 2, where the fp32 stream pays 4 + 4). The same stream costs elsewhere
#: (layer_ops ``elementwise``): "residual_add_amp", each residual add reading the fp32 stream and the branch's bf16
#: output and writing fp32 (4 + 2 + 4 = 10, against the 16-bit 6), and the bf16 copy each linear reading a norm's
#: fp32 output makes under autocast (``AUTOCAST_CAST_BYTES`` an element a reader: aten autocast_mode.cpp
#: ``cached_cast`` caches leaf weights only; activations_hf ``norm_readers``).
EAGER_FP32_BYTES = {"rmsnorm": 36.0, "rmsnorm_amp": 28.0, "rope": 24.0, "rope_rotation_matrix": 40.0,
                    "rope_rotate_half": 24.0, "rope_rotate_half_amp": 44.0, "swiglu": 10.0, "residual_add_amp": 10.0}

#: HBM bytes per autocast-eligible weight element of each AMP cast (``Stack.autocasts``): each linear
#: casts its fp32 weight to 16 bits (aten ``_to_copy``: read 4 B, write 2 B) in every forward, and
#: autograd's ``ToCopyBackward`` casts the 16-bit weight gradient back to fp32 (read 2 B, write 4 B)
#: in every backward. The cast is cached only within one autocast region (aten/src/ATen/
#: autocast_mode.cpp ``cached_cast``: leaf tensors that require grad; the cache is cleared when the
#: outermost autocast exits), so it is paid once per micro-batch and again by each recomputed
#: block (torch.utils.checkpoint re-enters autocast in the backward). Counted on a real model:
#: tests/test_step_time.py ``test_autocast_cast_bytes_match_a_real_model``. Under ZeRO-3/FSDP the
#: forward gets 16-bit parameters (FSDP ``MixedPrecision(param_dtype=bf16)``: accelerate's
#: ``FullyShardedDataParallelPlugin.set_mixed_precision``; Composer ``mixed_precision: DEFAULT``
#: and ``PURE`` since composer PR #2047, 2023-03, ``param_dtype = autocast precision``), so
#: autocast finds nothing to cast; nor at an FSDP2 stack's ZeRO-2, nor at an FSDP1 SHARD_GRAD_OP one with a 16-bit
#: ``param_dtype`` (``Stack.autocast_finds_fp32``).
AUTOCAST_CAST_BYTES = 6.0
