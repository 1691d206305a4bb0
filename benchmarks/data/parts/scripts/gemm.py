"""Builds the rows of ../gemm_efficiency.csv that this script owns: dense 16-bit (and fp32) GEMM throughput vs shape
from Azure's A100 cuBLASLt table (the file's first block), the V100 torch.matmul table of
zzc0721/torch-performance-test-data issue #140 and Triton's A100 / V100 regression references (the block after
xla_tables.py's ``xla_*`` rows; both were first appended to the CSV by hand, read 2026-12-01). The ``xla_*`` rows
(xla_tables.py), ``primus_turbo_mi300x_*`` (primus_turbo.py) and ``maf_*`` (matmul_ceilings.py) are other builders'
blocks: each script replaces only its own, in place (parts_csv.replace_rows), so they run in any order.

Run: ``python benchmarks/data/parts/scripts/gemm.py``."""
import os

from parts_csv import replace_rows

H = os.path.dirname(os.path.abspath(__file__)); D = "2026-11-30"
OUT = os.path.join(H, "..", "gemm_efficiency.csv")
cols = ["id","gpu","library","precision","batch","m","n","k","tflops","flops_per_s_raw","source","provenance","read_date","notes"]


def row(**cells):
    r = {c: "" for c in cols}; r.update(cells); return r


azure = []
shapes = [(1024,1024,1024),(2048,2048,2048),(4096,4096,4096),(8192,8192,8192),(16384,16384,16384),(1024,2145,1024),(6144,12288,12288),(802816,192,768)]
vals = [119.4,221.8,228.0,253.7,256.5,132.8,250.8,157.8]
for (m,n,k),v in zip(shapes, vals):
    azure.append(row(id=f"azure_a100_fp16_{m}x{n}x{k}",gpu="A100-SXM4-80GB (Azure ND A100 v4)",library="cuBLASLt",precision="fp16",batch=1,m=m,n=n,k=k,tflops=v,
        source="Azure/AI-benchmarking-guide, 'Azure_Results/ND_A100_v4_results.md' (commit 3bb66cacc25632d8ece36bc1d5128c5ea886a60b), 'GEMM CuBLASLt' table",
        provenance="https://github.com/Azure/AI-benchmarking-guide/blob/3bb66cacc25632d8ece36bc1d5128c5ea886a60b/Azure_Results/ND_A100_v4_results.md",read_date=D,
        notes="Random initialization, FP16, 10,000 warmup iterations (as stated). CUDA 12.5, driver 550.90.07. The A100 table has no 32768^3 row. Output dtype/accumulation not stated."))

later = []
# V100-SXM2-16GB, torch.matmul on squares (the 详细性能数据 table, fp16 and fp32 columns)
TP_SRC = 'zzc0721/torch-performance-test-data issue #140 "新增性能数据：Tesla V100-SXM2-16GB" (YiLg8765, 2026-02-14), 详细性能数据 table'
TP_NOTES = {
    "fp16": ("cuBLAS via torch.matmul", 'torch.matmul on square fp16 matrices (cuBLAS, tensor cores; V100 has no BF16 tensor path: the same table\'s BF16 column peaks at 10.65 TFLOP/s), Python 3.11, torch 2.7.0+cu128, physical machine ("实体机"); datasheet dense fp16 tensor peak 125 TFLOP/s (catalog). Timing method and accumulation dtype not stated in the issue. Sets efficiency.PRIORS["V100"].gemm_max from the 8192 cell (tests/test_v100_prior.py).'),
    "fp32": ("cuBLAS via torch.matmul (SIMT SGEMM)", 'torch.matmul on square fp32 matrices: CUDA-core SGEMM (Volta has no TF32; the same table\'s TF32 column is within 9% of FP32 at every size, 0.3% from 8192 up), Python 3.11, torch 2.7.0+cu128, physical machine; datasheet fp32 peak 15.7 TFLOP/s (catalog). Sets efficiency.PRIORS["V100"].simt_gemm_max from the 8192 cell (tests/test_v100_prior.py).')}
for prec, tfs in (("fp16", [57.3, 78.23, 95.73, 97.36, 89.37]), ("fp32", [10.56, 12.71, 13.85, 14.38, 14.51])):
    lib, note = TP_NOTES[prec]
    for s, v in zip((1024, 2048, 4096, 8192, 10240), tfs):
        later.append(row(id=f"torchperf_v100_sxm2_16gb_{prec}_{s}x{s}x{s}", gpu="V100-SXM2-16GB (Tesla V100-SXM2-16GB)", library=lib, precision=prec,
                         batch=1, m=s, n=s, k=s, tflops=v, source=TP_SRC, provenance="https://github.com/zzc0721/torch-performance-test-data/issues/140",
                         read_date="2026-12-01", notes=note))
# Triton's fp16 matmul regression references: utilisation of triton.testing.get_max_tensorcore_tflops at the CI's
# locked 1350 MHz SM clock (SMs x 4 sub-cores x FLOPs per clock per sub-core x clock), tflops = utilisation x that peak
TR_COMMIT = "00693c1c2d05a71b909c2e0f2d68e172621089c7"
TR_GPU = {"a100": ("A100 (Triton CI runner; SXM/PCIe and memory size not recorded)", 108, 512, "298.6"),
          "v100": ("V100 (Triton CI runner; SXM/PCIe not recorded)", 80, 256, "110.6")}
TR_SHAPES = [(512,512,512),(1024,1024,1024),(2048,2048,2048),(4096,4096,4096),(8192,8192,8192),(16,1024,1024),(16,4096,4096),(16,8192,8192),
             (64,1024,1024),(64,4096,4096),(64,8192,8192),(1024,64,1024),(4096,64,4096),(8192,64,8192)]
TR_UTIL = {"a100": ["0.08","0.33","0.62","0.81","0.77","0.0077","0.0363","0.07","0.0271","0.16","0.26","0.0263","0.16","0.25"],
           "v100": ["0.158","0.466","0.695","0.831","0.849","0.0128","0.0883","0.101","0.073","0.27","0.459","0.0692","0.264","0.452"]}
for key, (gpu, sms, ops, peak_txt) in TR_GPU.items():
    peak = sms * 4 * ops * 1350e6  # FLOP/s
    for (m, n, k), u in zip(TR_SHAPES, TR_UTIL[key]):
        raw = round(float(u) * peak)
        later.append(row(id=f"triton_regress_{key}_fp16_{m}x{n}x{k}", gpu=gpu, library="Triton (triton.ops.matmul, autotuned), not cuBLAS",
            precision="fp16 (Triton kernel, fp32 accumulate)", batch=1, m=m, n=n, k=k, tflops=f"{raw / 1e12:.3f}", flops_per_s_raw=raw,
            source=f"triton-lang/triton, python/test/regression/test_performance.py (commit {TR_COMMIT}), matmul_data['{key}'] float16 reference GPU utilisation",
            provenance=f"https://github.com/triton-lang/triton/blob/{TR_COMMIT}/python/test/regression/test_performance.py", read_date="2026-12-01",
            notes=f"Regression reference utilisation {u} (fraction of triton.testing.get_max_tensorcore_tflops at the CI's locked 1350 MHz SM clock: "
                  f"{sms} SMs x 4 x {ops} ops/clk = {peak_txt} TFLOP/s); tflops = utilisation x that peak. The test asserts the measured value within "
                  "atol 0.01 / rtol 0.05 (do_bench return_mode='min', warmup 100, rep 300); the file notes the A100 CI server is 'slow-ish' (other servers "
                  "~90% at 8k^3 fp16). Times are GPU-side CUDA-event times with a cold L2 (this era's do_bench zeroes a 256 MB buffer before each call). "
                  "Utilisations are given to 2-3 digits (0.08 at 512^3 is +-6%). Not used by benchmarks/fit_gemm_shape.py's family fits (Triton kernels, "
                  "locked clock, cold L2, only 5 usable squares); fitted there as an independent check of the A100 / V100 fixed time."))

print(replace_rows(OUT, lambda i: i.startswith("azure_a100_fp16_"), azure, cols, lineterminator="\n"),
      replace_rows(OUT, lambda i: i.startswith(("torchperf_", "triton_regress_")), later, cols, lineterminator="\n"))
