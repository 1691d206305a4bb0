"""Builds ../grouped_gemm.csv: grouped (MoE expert) GEMM and fused MoE-MLP throughput by shape.

Every value is typed from the source named in its row; the raw tables are kept below verbatim
(as printed) so the numbers can be checked against the text. TFLOP/s that a source does not print
(it prints a time) are derived as 2 * rows * n * k / time and marked DERIVED in ``notes``.
"""
import os

from parts_csv import new_row, write_csv
H = os.path.dirname(os.path.abspath(__file__)); D = "2026-11-30"
cols = ["id", "kind", "gpu", "gpu_as_stated", "kernel", "precision", "recipe", "groups", "m_per_group", "m_total", "n", "k",
        "group_sizes", "routing", "time_ms", "tflops", "source", "provenance", "read_date", "notes"]
rows = []


def add(**kw):
    r = new_row(cols, D, **kw)
    if not r["recipe"]:  # the planner's low-precision recipe (stack_kernels.RECIPES) that prices this scaling
        r["recipe"] = {"bf16": "none", "fp4": "nvfp4"}.get(r["precision"], "")
    assert r["recipe"], r["id"]
    rows.append(r)


# ---------------------------------------------------------------------------------------------
# A. DeepGEMM README, initial-release version (Feb 2025): "We test all shapes potentially used in
# DeepSeek-V3/R1 inference ... on H800 with NVCC 12.8". FP8 e4m3 with fine-grained (1x128 / 128x128)
# scaling, BF16 output. Dense rows kept as the same harness's non-grouped control.
DG_SRC = ("deepseek-ai/DeepGEMM README.md, 'Performance' tables (initial-release version of Feb 2025: "
          "'Normal GEMMs for dense models', 'Grouped GEMMs for MoE models (contiguous layout)', '(masked layout)'); "
          "search-index file id 2595662586, commit not recorded by the index")
DG_URL = "https://github.com/deepseek-ai/DeepGEMM/blob/main/README.md (2025-02 version; later versions dropped the tables)"
DG_DENSE = """
|  64  | 2112  | 7168  | 206 TFLOPS  |
|  64  | 24576 | 1536  | 289 TFLOPS  |
|  64  | 32768 |  512  | 219 TFLOPS  |
|  64  | 7168  | 16384 | 336 TFLOPS  |
|  64  | 4096  | 7168  | 287 TFLOPS  |
|  64  | 7168  | 2048  | 295 TFLOPS  |
| 128  | 2112  | 7168  | 352 TFLOPS  |
| 128  | 24576 | 1536  | 535 TFLOPS  |
| 128  | 32768 |  512  | 358 TFLOPS  |
| 128  | 7168  | 16384 | 645 TFLOPS  |
| 128  | 4096  | 7168  | 533 TFLOPS  |
| 128  | 7168  | 2048  | 510 TFLOPS  |
| 4096 | 2112  | 7168  | 1058 TFLOPS |
| 4096 | 24576 | 1536  | 990 TFLOPS  |
| 4096 | 32768 |  512  | 590 TFLOPS  |
| 4096 | 7168  | 16384 | 1358 TFLOPS |
| 4096 | 4096  | 7168  | 1304 TFLOPS |
| 4096 | 7168  | 2048  | 1025 TFLOPS |
"""
DG_CONTIG = """
|    4    |    8192     | 4096 | 7168 | 1297 TFLOPS |
|    4    |    8192     | 7168 | 2048 | 1099 TFLOPS |
|    8    |    4096     | 4096 | 7168 | 1288 TFLOPS |
|    8    |    4096     | 7168 | 2048 | 1093 TFLOPS |
"""
DG_MASKED = """
|    1    |    1024     | 4096 | 7168 | 1233 TFLOPS |
|    1    |    1024     | 7168 | 2048 | 925 TFLOPS  |
|    2    |     512     | 4096 | 7168 | 1040 TFLOPS |
|    2    |     512     | 7168 | 2048 | 916 TFLOPS  |
|    4    |     256     | 4096 | 7168 | 932 TFLOPS  |
|    4    |     256     | 7168 | 2048 | 815 TFLOPS  |
"""


def _cells(text):
    for line in text.strip().splitlines():
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        yield [int(x) for x in c[:-1]], float(c[-1].split()[0])


# 1x128 / 128x128 block scaling has no planner recipe; priced with the FP8 gemm_rel that tensorwise and mxfp8 share
DG_RECIPE = "tensorwise"
DG_NOTE = ("H800 SXM (DeepSeek); NVCC 12.8; FP8 e4m3 inputs with per-1x128 activation and per-128x128 weight scales, "
           "BF16 output; the README's 'Computation' column. ")
for (m, n, k), v in _cells(DG_DENSE):
    add(id=f"deepgemm_h800_dense_{m}x{n}x{k}", kind="dense_gemm", gpu="H800-SXM-80GB", gpu_as_stated="H800",
        kernel="DeepGEMM gemm_fp8_fp8_bf16_nt", precision="fp8", recipe=DG_RECIPE, groups=1, m_per_group=m, m_total=m, n=n, k=k,
        routing="n/a", tflops=v, source=DG_SRC, provenance=DG_URL, notes=DG_NOTE + "Dense control row of the same harness.")
for (g, m, n, k), v in _cells(DG_CONTIG):
    add(id=f"deepgemm_h800_contig_{g}x{m}x{n}x{k}", kind="grouped_gemm", gpu="H800-SXM-80GB", gpu_as_stated="H800",
        kernel="DeepGEMM m_grouped_gemm_fp8_fp8_bf16_nt_contiguous", precision="fp8", recipe=DG_RECIPE, groups=g, m_per_group=m,
        m_total=g * m, n=n, k=k, routing="uniform (M per group as printed)", tflops=v, source=DG_SRC, provenance=DG_URL,
        notes=DG_NOTE + "Contiguous layout: groups share one M-concatenated tensor, N and K fixed.")
for (g, m, n, k), v in _cells(DG_MASKED):
    add(id=f"deepgemm_h800_masked_{g}x{m}x{n}x{k}", kind="grouped_gemm", gpu="H800-SXM-80GB", gpu_as_stated="H800",
        kernel="DeepGEMM m_grouped_gemm_fp8_fp8_bf16_nt_masked", precision="fp8", recipe=DG_RECIPE, groups=g, m_per_group=m,
        m_total=g * m, n=n, k=k, routing="uniform (M per group as printed)", tflops=v, source=DG_SRC, provenance=DG_URL,
        notes=DG_NOTE + "Masked layout (decode: per-group valid rows given by a mask).")

# ---------------------------------------------------------------------------------------------
# B. tgale96/grouped_gemm PR #37 "SM90 Hopper Grouped GEMM Kernels" (2026-03-03): "Hardware: NVIDIA H100;
# Config: Qwen/Qwen3-30B-A3B's up_proj - 128 experts, K=2048, N=1536, 65536 tokens".
GG_SRC = "tgale96/grouped_gemm pull request #37 'SM90 Hopper Grouped GEMM Kernels' (Knarf04, 2026-03-03), description 'Benchmark' table"
GG_URL = "https://github.com/tgale96/grouped_gemm/pull/37"
GG = """
cuBLAS (base) | 129.5 | 118.0 | 112.3
CUTLASS SM80 | 116.9 | 109.2 | 113.2
cuBLAS SM90 (batched) | 85.2 | 95.1 | 97.8
CUTLASS SM90 cooperative | 160.5 | 151.5 | 154.3
CUTLASS SM90 pingpong | 134.0 | 124.7 | 121.1
"""
for line in GG.strip().splitlines():
    name, *vals = [x.strip() for x in line.split("|")]
    key = name.lower().replace("(", "").replace(")", "").replace(" ", "_")
    for dist, v in zip(("uniform", "mild_skew", "extreme_skew"), vals):
        add(id=f"gg37_h100_{key}_{dist}", kind="grouped_gemm", gpu="H100-SXM-80GB", gpu_as_stated="NVIDIA H100 (variant not stated)",
            kernel=f"grouped_gemm: {name}", precision="bf16", groups=128, m_per_group=512, m_total=65536, n=1536, k=2048,
            routing=dist.replace("_", " "), tflops=float(v), source=GG_SRC, provenance=GG_URL,
            notes=("'65536 tokens' is taken as the grouped GEMM's total rows (512 per expert when uniform); the PR does not say whether "
                   "the top-8 copies are counted (if not, 4096 rows per expert). dtype not stated: the library's kernels are bf16 "
                   "(assumed). 'cuBLAS (base)' is the library's per-expert cuBLAS loop; skew distributions not defined in the table."))

# ---------------------------------------------------------------------------------------------
# C. ByteDance-Seed/VeOmni PR #460 (2026-02-06): fused MoE forward (gate+up, SwiGLU, down, with the token
# permutation), B=1, S=32768, on H100; "Torch Fused MoE" uses torch._grouped_mm.
VO_SRC = "ByteDance-Seed/VeOmni pull request #460 'gate_up_proj format and initial support for torch._grouped_mm' (Luosuu, 2026-02-06), description 'Perf' block"
VO_URL = "https://github.com/ByteDance-Seed/VeOmni/pull/460"
VO = [  # (hidden, ffn, experts, topk, impl, ms, printed TFLOP/s or None)
    (2048, 768, 128, 8, "Triton Fused MoE", 11.502, 215.08),
    (2048, 768, 128, 8, "Torch Fused MoE (torch._grouped_mm)", 10.218, 242.12),
    (2048, 512, 512, 10, "Triton Fused MoE", 28.901, 71.33),
    (2048, 512, 512, 10, "Torch Fused MoE (torch._grouped_mm)", 11.411, 180.67),
    (4096, 1024, 128, 8, "Triton Fused MoE", 23.313, None),
]
for h, f, e, tk, impl, ms, tf in VO:
    rows_total = 32768 * tk
    derived = tf is None
    tf = round(2 * rows_total * 3 * h * f / (ms * 1e-3) / 1e12, 2) if derived else tf
    key = "torch" if "Torch" in impl else "triton"
    add(id=f"veomni460_h100_{key}_h{h}_f{f}_e{e}_k{tk}", kind="moe_mlp_fwd", gpu="H100-SXM-80GB",
        gpu_as_stated="H100 (variant not stated)", kernel=impl, precision="bf16", groups=e, m_per_group=rows_total // e,
        m_total=rows_total, n=f, k=h, routing="router output of random inputs (not stated)", time_ms=ms, tflops=tf,
        source=VO_SRC, provenance=VO_URL,
        notes=("Whole routed-expert MLP forward: gate+up (n = 2 x ffn, k = hidden) and down (n = hidden, k = ffn) grouped GEMMs "
               "plus the token permutation/SwiGLU; FLOPs = 2 x 32768 x top-k x 3 x hidden x ffn (checked against the printed "
               "TFLOP/s). m_per_group = mean rows per expert. Columns n/k hold ffn/hidden. bf16 assumed (not stated)."
               + (" DERIVED: the TFLOP/s of this row is not printed (the block is cut after the time); computed from the time." if derived else "")))

# ---------------------------------------------------------------------------------------------
# D. tile-ai/TileOPs PR #1567: "Framework sweep (H200, bf16, TFLOPS; kernel-only CUPTI timing), one fresh
# process per case"; M = total routed rows = tokens x top_k; N, K = single-expert dims; E = experts.
TO_SRC = "tile-ai/TileOPs pull request #1567 '[Perf][GroupedGemm] forward out= + skip A-pad ...; add fair baseline benchmark', description 'Framework sweep' table"
TO_URL = "https://github.com/tile-ai/TileOPs/pull/1567"
TO = """
| GLM-up 32768    | 262144    | 4096  | 6144 | 256 | 596 | 603 (101%) | 658 (110%) | 469 (79%) | 564 (95%)  |
| GLM-up 65536    | 524288    | 4096  | 6144 | 256 | 612 | 624 (102%) | 670 (110%) | 480 (78%) | 610 (100%) |
| GLM-up 131072   | 1048576   | 4096  | 6144 | 256 | 616 | 617 (100%) | 666 (108%) | 487 (79%) | 623 (101%) |
| GLM-up 262144   | 2097152   | 4096  | 6144 | 256 | 614 | 597 (97%)  | 657 (107%) | 490 (80%) | 628 (102%) |
"""
TO_IMPL = ("tileops_3wg", "torch_grouped_mm", "deepgemm", "triton", "triton_tma")
for line in TO.strip().splitlines():
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    mt, n, k, e = (int(x) for x in c[1:5])
    for impl, cell in zip(TO_IMPL, c[5:]):
        add(id=f"tileops1567_h200_{impl}_m{mt}", kind="grouped_gemm", gpu="H200-SXM-141GB", gpu_as_stated="NVIDIA H200",
            kernel=impl, precision="bf16", groups=e, m_per_group=mt // e, m_total=mt, n=n, k=k,
            routing="not stated (M per group = M total / E shown)", tflops=float(cell.split()[0]), source=TO_SRC, provenance=TO_URL,
            notes=("'Absolute TFLOPS on this H200 are clock-bound (sustained ~1.4 GHz under its ~700 W power wall vs 1.98 GHz peak)'"
                   " per the PR; kernel-only CUPTI timing. Case 'GLM-up' = GLM expert up projection."))

# ---------------------------------------------------------------------------------------------
# E. pytorch/ao PR #2490 "[moe training] add benchmarking script for grouped mm" (2025-07-03): bench_grouped_mm.py on
# H100, (M,K) @ (E,K,N) with the printed random group offsets. The script's 'tops' counts E x 2MKN (1.10E+13 for
# M=8192, K=5120, N=8192, E=16), i.e. every expert over all M rows, so its 'tops/sec' and 'pct_peak' are 16x too high;
# TFLOP/s here are DERIVED from time_sec with 2 x M x K x N.
AO_SRC = "pytorch/ao pull request #2490 '[moe training] add benchmarking script for grouped mm' (danielvegamyhre, 2025-07-03), description 'Results / Llama4_17bx16e'"
AO_URL = "https://github.com/pytorch/ao/pull/2490"
AO = [  # (M, K, N, E, offsets, dtype, time_s)
    (8192, 5120, 8192, 16, [272, 832, 1744, 2288, 2768, 3056, 4160, 4352, 4544, 4800, 5056, 5360, 6432, 7760, 7872, 8192], "bf16", 1.31e-3),
    (8192, 5120, 8192, 16, [272, 832, 1744, 2288, 2768, 3056, 4160, 4352, 4544, 4800, 5056, 5360, 6432, 7760, 7872, 8192], "fp8", 8.85e-4),
    (8192, 8192, 5120, 16, [464, 1008, 1664, 2608, 2912, 3296, 3584, 3968, 4960, 5024, 5232, 5952, 7440, 7760, 7984, 8192], "bf16", 1.26e-3),
]
for mt, k, n, e, offs, dt, t in AO:
    sizes = [b - a for a, b in zip([0] + offs[:-1], offs)]
    add(id=f"ao2490_h100_{dt}_m{mt}_k{k}_n{n}_e{e}", kind="grouped_gemm", gpu="H100-SXM-80GB", gpu_as_stated="NVIDIA H100",
        kernel="torch._grouped_mm" if dt == "bf16" else "torch._scaled_grouped_mm (fp8 rowwise)", precision=dt, recipe="none" if dt == "bf16" else "rowwise", groups=e,
        m_per_group=mt // e, m_total=mt, n=n, k=k, group_sizes=";".join(str(s) for s in sizes), routing="random offsets (printed)",
        time_ms=t * 1e3, tflops=round(2 * mt * k * n / t / 1e12, 1), source=AO_SRC, provenance=AO_URL,
        notes=("DERIVED: TFLOP/s = 2 x M x K x N / time_sec; the script's printed tops/sec counts each expert over all M rows "
               "(E x too high). group_sizes from the printed offs. " + ("The second time line of the case (fp8 rowwise scaled grouped mm) as printed." if dt == "fp8" else "")))

# ---------------------------------------------------------------------------------------------
# F. NVIDIA/TransformerEngine PR #3134 'Single-launch CUTLASS grouped GEMM for per-tensor NVFP4' (2026-06-17):
# SM100, benchmarks/linear/benchmark_grouped_linear.py --compare-nvfp4-grouped-gemm, TN (fprop).
TE_SRC = "NVIDIA/TransformerEngine pull request #3134 'Single-launch CUTLASS grouped GEMM for per-tensor NVFP4' (cael-ling, 2026-06-17), 'TN (fprop)' table"
TE_URL = "https://github.com/NVIDIA/TransformerEngine/pull/3134"
for row, cut, ms_ in (("dispatch", 0.184, 0.272), ("pure", 0.069, 0.267)):
    for impl, t in (("CUTLASS single-launch grouped", cut), ("TE multi-stream cuBLASLt loop", ms_)):
        key = "cutlass" if "CUTLASS" in impl else "multistream"
        add(id=f"te3134_sm100_{key}_{row}_8x128", kind="grouped_gemm", gpu="B200-SXM-180GB", gpu_as_stated="SM100 (Blackwell; SKU not stated)",
            kernel=f"{impl} ({row})", precision="fp4", groups=8, m_per_group=128, m_total=1024, n=2048, k=2048,
            routing="uniform", time_ms=t, tflops=round(2 * 1024 * 2048 * 2048 / (t * 1e-3) / 1e12, 1), source=TE_SRC, provenance=TE_URL,
            notes=("NVFP4 (per-tensor) grouped GEMM. DERIVED: TFLOP/s from the printed ms. 'dispatch' = full nvte_multi_tensor_gemm path "
                   "(scale swizzle + per-expert alpha), 'pure' = GEMMs only. Only the first shape of the table was readable. "
                   "The planner's TE_GROUPED_GEMM_PER_EXPERT_S['block'] is derived from the 'pure' pair of this row."))

# ---------------------------------------------------------------------------------------------
# G. NVIDIA/TransformerEngine PR #2045 '[Pytorch] Add Cutlass GroupGEMM Support for fine-grained MoE Model' (merged,
# TE 2.8): H100 (SM90), BF16, TE's grouped GEMM (``general_grouped_gemm``, the GroupedLinear path of Megatron-Core's
# TEGroupedMLP): the default multi-stream cuBLAS vs the CUTLASS grouped kernel (NVTE_USE_CUTLASS_GROUPED_GEMM=1).
TE2045_SRC = "NVIDIA/TransformerEngine pull request #2045 '[Pytorch] Add Cutlass GroupGEMM Support for fine-grained MoE Model' (cassiewilliam, 2025-08-08; merged, label 2.8.0), description tables"
TE2045_URL = "https://github.com/NVIDIA/TransformerEngine/pull/2045"
TE2045 = [  # (g, m, n, k, kernel, TFLOP/s, table)
    (8, 4096, 768, 2048, "TE 2.2 multi-stream cuBLAS", 508.77, "initial (tests/pytorch/test_group_gemm.py)"),
    (8, 4096, 768, 2048, "CUTLASS grouped (Cutlass-Opt-V1)", 568.63, "initial (tests/pytorch/test_group_gemm.py)"),
    (16, 2048, 768, 2048, "TE 2.2 multi-stream cuBLAS", 398.81, "initial (tests/pytorch/test_group_gemm.py)"),
    (16, 2048, 768, 2048, "CUTLASS grouped (Cutlass-Opt-V1)", 534.75, "initial (tests/pytorch/test_group_gemm.py)"),
    (8, 4096, 768, 2048, "TE 2.7 multi-stream cuBLAS", 627.903, "update by @yaox12 (general_grouped_gemm, TE 2.7, CUDA 12.9)"),
    (8, 4096, 768, 2048, "CUTLASS grouped", 650.574, "update by @yaox12 (general_grouped_gemm, TE 2.7, CUDA 12.9)"),
    (16, 2048, 768, 2048, "TE 2.7 multi-stream cuBLAS", 553.945, "update by @yaox12 (general_grouped_gemm, TE 2.7, CUDA 12.9)"),
    (16, 2048, 768, 2048, "CUTLASS grouped", 636.927, "update by @yaox12 (general_grouped_gemm, TE 2.7, CUDA 12.9)"),
]
for g, m, n, k, kern, v, tab in TE2045:
    key = ("te22" if "2.2" in kern else "te27" if "2.7" in kern else "cutlass_v1" if "V1" in kern else "cutlass_te27")
    add(id=f"te2045_h100_{key}_{g}x{m}x{n}x{k}", kind="grouped_gemm", gpu="H100-SXM-80GB", gpu_as_stated="H100 (SM90; variant not stated)",
        kernel=kern, precision="bf16", groups=g, m_per_group=m, m_total=g * m, n=n, k=k, routing="uniform (shape (g, m, n, k) as printed)",
        tflops=v, source=TE2045_SRC, provenance=TE2045_URL,
        notes=f"Table: {tab}. Shape(g,m,n,k) as printed: g groups of (m x k) @ (k x n). The multi-stream cuBLAS rows are the TE default path of Megatron-Core TEGroupedMLP."
              + (" The planner's TE_GROUPED_GEMM_PER_EXPERT_S['tensor'] is this row's whole time per expert (an upper bound on the per-expert host set-up)."
                 if (key, g) == ("te27", 16) else ""))

# ---------------------------------------------------------------------------------------------
# H. linkedin/Liger-Kernel PR #1294 'Triton MoE improvements ...' (2026-07-08): headline of a tuned fused Triton MoE
# (gather + grouped GEMM + SwiGLU fused) at the Qwen3-30B-A3B expert shape on H100.
LG_SRC = "linkedin/Liger-Kernel pull request #1294 'Triton MoE improvements and chunked GRPO improvements' (michaelroyzen, 2026-07-08), description 'Headline numbers'"
LG_URL = "https://github.com/linkedin/Liger-Kernel/pull/1294"
add(id="liger1294_h100_fused_moe_fwd_peak", kind="moe_mlp_fwd", gpu="H100-SXM-80GB", gpu_as_stated="H100",
    kernel="Liger fused_moe (Triton 3.7.1, tuned)", precision="bf16", groups=128, m_per_group=32768 * 8 // 128, m_total=32768 * 8,
    n=768, k=2048, routing="not stated", tflops=501.0, source=LG_SRC, provenance=LG_URL,
    notes=("'Peak sustained throughput on H100: 523 TFLOPS inference / 501 TFLOPS forward / 413 TFLOPS full fwd+bwd' for "
           "'bf16, Qwen3-30B-A3B expert shape E=128 / H=2048 / I=768 / K=8'; the peak is taken at T=32768 (the largest T the "
           "PR names) - ASSUMED, the headline does not state T. 'roughly half of the H100's dense bf16 peak for a "
           "gathered/scattered grouped GEMM with SwiGLU fused in'. Columns n/k hold ffn/hidden."))

# ---------------------------------------------------------------------------------------------
# I. pytorch/ao torchao/prototype/moe_training/README.md (commit 0b1bb117): B200 'Microbenchmarks' (grouped GEMM forward +
# backward, bf16 torch._grouped_mm vs MXFP8 _to_mxfp8_then_scaled_grouped_mm incl. its quantisation kernels, total M =
# 128,000, G = 1..8; torchao 0.14.0+gitc7b8e13da, torch 2.10.0a0+gitf6de195, --compile) and 'MXFP8 Kernel Breakdown by
# Pass' (DeepSeek-V3 shapes, torch 2.11.0.dev20251216+cu128, torchao 0.15.0+gitd1305bc78).
AO_RM_SRC = "pytorch/ao torchao/prototype/moe_training/README.md (commit 0b1bb117287185f325161acd6a0bce8fb443936c)"
AO_RM_URL = "https://github.com/pytorch/ao/blob/0b1bb117287185f325161acd6a0bce8fb443936c/torchao/prototype/moe_training/README.md"
AO_MB = """
| (128000, 8192, 5120, 1) |        43140.20 |          23867.00 |                 1.808x |
| (128000, 8192, 5120, 2) |        39487.60 |          23359.00 |                 1.690x |
| (128000, 8192, 5120, 4) |        39189.20 |          23945.50 |                 1.637x |
| (128000, 8192, 5120, 8) |        37700.70 |          22170.60 |                 1.700x |
| (128000, 2048, 7168, 1) |        13064.80 |          10996.00 |                 1.188x |
| (128000, 2048, 7168, 2) |        14900.20 |          11283.40 |                 1.321x |
| (128000, 2048, 7168, 4) |        15823.60 |           9919.36 |                 1.595x |
| (128000, 2048, 7168, 8) |        14966.80 |          10397.20 |                 1.440x |
"""
for line in AO_MB.strip().splitlines():
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    mt, n, k, g = (int(x) for x in c[0].strip("()").split(","))
    model = "llama4" if n == 8192 else "dsv3"
    for dt, us, kern in (("bf16", float(c[1]), "torch._grouped_mm"), ("fp8", float(c[2]), "torchao _to_mxfp8_then_scaled_grouped_mm (incl. MXFP8 quantisation)")):
        add(id=f"aoreadme_b200_{dt}_fwdbwd_{model}_g{g}", kind="grouped_gemm_fwd_bwd", gpu="B200-SXM-180GB", gpu_as_stated="NVIDIA B200",
            kernel=kern, precision=dt, recipe="none" if dt == "bf16" else "mxfp8", groups=g, m_per_group=mt // g, m_total=mt, n=n, k=k,
            routing="generate_jagged_offs (jagged, not stated further); mean rows shown", time_ms=us / 1e3,
            tflops=round(3 * 2 * mt * n * k / (us * 1e-6) / 1e12, 1), source=AO_RM_SRC + ", 'Microbenchmarks' tables", provenance=AO_RM_URL,
            notes=("Forward + backward of one grouped GEMM (output, input gradient, weight gradient). DERIVED: TFLOP/s = 3 x 2 x M x N x K "
                   "/ the printed time (bf16_fwd_bwd_us / scaled_fwd_bwd_us). The MXFP8 time includes the quantisation and scale "
                   "re-layout kernels. Power limit of the run not stated in this table (a later PR's table used 1000 W)."))
for pas, kind, us, printed in (("fwd", "grouped_gemm", 1838.1, "74.6% peak TFLOPS"), ("wgrad", "grouped_gemm_wgrad", 2412.4, "56.9% peak TFLOPS")):
    add(id=f"aoreadme_b200_mxfp8_{pas}_dsv3_g8", kind=kind, gpu="B200-SXM-180GB", gpu_as_stated="NVIDIA B200",
        kernel="torch._scaled_grouped_mm (MXFP8, " + ("2D-3D" if pas == "fwd" else "2D-2D") + ")", precision="fp8", recipe="mxfp8",
        groups=8, m_per_group=16384, m_total=131072, n=2048, k=7168, routing="total_tokens=131072, groups=8 (mean rows shown)",
        time_ms=us / 1e3, tflops=round(2 * 131072 * 2048 * 7168 / (us * 1e-6) / 1e12, 1),
        source=AO_RM_SRC + ", 'MXFP8 Kernel Breakdown by Pass' table", provenance=AO_RM_URL,
        notes=(f"GEMM kernel only (quantisation kernels listed apart). Printed efficiency '{printed}' (of a peak the table does not "
               "name: 2094 TFLOP/s / 0.746 = 2.8 PFLOP/s). DERIVED: TFLOP/s = 2 x 131072 x 2048 x 7168 / time. "
               + ("Forward (131072, 7168) @ (8, 7168, 2048)." if pas == "fwd" else
                  "Weight gradient (2048, 131072) @ (131072, 7168): per group a (2048 x 7168) output contracted over its 16,384 rows.")))

write_csv(os.path.join(H, "..", "grouped_gemm.csv"), rows, cols)
print(len(rows))
