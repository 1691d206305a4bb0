"""Builder of ``benchmarks/data/parts/ssd_kernels.csv``: published timings of the Mamba-2 SSD chunked-scan kernels
(Dao & Gu 2024, "Transformers are SSMs", arXiv:2405.21060, section 6; state-spaces/mamba
``mamba_ssm/ops/triton/ssd_combined.py`` ``mamba_chunk_scan_combined``: the five Triton kernels chunk_cumsum,
chunk_state, state_passing, bmm_chunk, chunk_scan), to check the planner's price of that part
(planner/model/ssm.py ``SCAN_BYTES`` / ``SSD_ROOFLINE_FACTOR``; tests/test_ssd_parts.py).

Sources (read 2026-12-02 through the search index; values copied as printed):

* vllm-project/vllm PR #27299 "[Kernel] Mamba2 SSD add fused kernel for 1.5-2.5x SSD (prefill) speedup", comment by
  cyang49 of 2025-10-25: "I collected some supporting performance results on single H100", the microbenchmark
  script of RishiAstra (gist fe1377086eafb1894a8c7e8a04e249b2) "modified ... to match granite-4.0-h-small", metric
  "throughput tokens/s", table "default (CHUNK_SIZE_FUSED=128)", columns ``dims_b_seq_nh_hd_ng_ds`` (five values
  printed: tokens, heads 128, head dim 64, groups 1, d_state 128), "Original" (vLLM's unfused five-kernel forward,
  its copy of mamba_ssm's Triton kernels) and "Fused" (the PR's one-kernel fusion, at chunk 128; not what any
  training stack runs, kept for completeness). Inferred, per row: the Original's chunk size 256 (granite-4.0-h-small's
  ``mamba_chunk_size``; the comment's second table is headed "matching mamba config (CHUNK_SIZE_FUSED=256)", i.e. the
  model's chunk is 256), one sequence of ``tokens`` (the printed tuple has one length), bf16, no z (vLLM's mixer
  gates in its norm). The second table's values are not in the stored excerpt.
* tile-ai/tilelang ``benchmark/mamba2/README.md`` (@be9c08f6): TileLang's own chunk_scan forward kernel (not the
  Triton one) on an H800 SXM, batch 8, 80 heads, 1 group, chunk 256, head dim 64, d_state 128, latency (ms) and its
  TFLOP/s by seq_len 1,024-32,768. A reference for the chunk_scan part alone.
* fla-org/flash-linear-attention PR #50 "benchmark script for simple_gla vs mamba2 kernel" (2024-08-18; script
  ``benchmarks/ops/benchmark_simple_gla_vs_mamba2.py`` @3e820d13): ``mamba_chunk_scan_combined`` forward
  (mamba-ssm 2.2.2, triton 2.3.1; ``triton.testing.do_bench`` median, ms), B 16, H 8, head dim 128, B / C per head
  (8 groups, d_state 128), chunk 64, bf16, no D, no z, T 64-16,384. The GPU is not stated: kept, not used by the
  check.

Not found (searched 2026-12-02): the Mamba-2 paper's Figure 10 values (a chart: SSD vs FlashAttention-2 and the
Mamba-1 scan on an A100, only "faster than FlashAttention-2 from sequence length 2K" and "2-8x faster than Mamba's
fused scan" in text); any published timing of the SSD backward kernels or of ``mamba_split_conv1d_scan_combined``;
any Blackwell timing of the Triton kernels (NVIDIA/Megatron-LM PR #5829 and flashinfer PR #2709 show CuTe DSL vs
Triton only as profiler images; Megatron-LM #5829: "369 / 256 = 1.44x" for Nemotron 3 Nano prefill, shape not
given); causal_conv1d throughput.

Run: ``python benchmarks/data/parts/scripts/ssd_kernels.py`` (rewrites the CSV).
"""
from pathlib import Path

from parts_csv import write_csv

OUT = Path(__file__).resolve().parents[1] / "ssd_kernels.csv"
READ = "2026-12-02"
COLUMNS = ("id", "gpu", "kernel", "implementation", "direction", "dtype", "batch", "seq_len", "tokens", "heads",
           "head_dim", "groups", "d_state", "chunk_size", "has_z", "metric", "value", "unit", "time_ms", "source",
           "provenance", "read_date", "notes")

VLLM = ("vllm-project/vllm PR #27299 '[Kernel] Mamba2 SSD add fused kernel for 1.5-2.5x SSD (prefill) speedup', "
        "comment by cyang49 of 2025-10-25, microbenchmark table 'default (CHUNK_SIZE_FUSED=128)'")
VLLM_URL = "https://github.com/vllm-project/vllm/pull/27299"
VLLM_NOTES = ("single H100 (the comment); granite-4.0-h-small shape; columns printed dims_b_seq_nh_hd_ng_ds with five "
              "values (tokens, heads, head dim, groups, d_state): one sequence assumed; chunk size 256 inferred "
              "(granite-4.0-h-small's mamba_chunk_size; the comment's next table is 'matching mamba config "
              "(CHUNK_SIZE_FUSED=256)'); bf16 and z=None assumed (vLLM's MambaMixer2 gates in its RMSNorm); "
              "time_ms derived = tokens / throughput")
# tokens: (Original, Fused) tokens/s as printed
VLLM_ROWS = {1024: (3.452741e+06, 1.453885e+07), 2048: (7.044192e+06, 1.842257e+07),
             4096: (1.206409e+07, 2.090137e+07), 8192: (1.262327e+07, 2.265086e+07),
             16384: (1.292440e+07, 2.372347e+07), 32768: (1.180002e+07, 2.272778e+07),
             65536: (1.106830e+07, 2.340398e+07), 131072: (1.070444e+07, 2.304179e+07),
             262144: (1.081547e+07, 2.386912e+07)}

TILELANG = "tile-ai/tilelang benchmark/mamba2/README.md 'Mamba2_chunk_scan Benchmark', Results table"
TILELANG_URL = ("https://github.com/tile-ai/tilelang/blob/be9c08f6fd5899b04b51ec7ba7a067cf6822c3e3/"
                "benchmark/mamba2/README.md")
TILELANG_ROWS = {1024: (0.169, 126.477), 2048: (0.329, 130.195), 4096: (0.645, 133.054), 8192: (1.278, 134.362),
                 16384: (2.531, 135.711), 32768: (5.076, 135.379)}

FLA = ("fla-org/flash-linear-attention PR #50 'benchmark script for simple_gla vs mamba2 kernel' (2024-08-18), "
       "'Performance' table, column mamba2_ssd; script benchmarks/ops/benchmark_simple_gla_vs_mamba2.py")
FLA_URL = ("https://github.com/fla-org/flash-linear-attention/pull/50; script: https://github.com/fla-org/"
           "flash-linear-attention/blob/3e820d13c30040e5b296e6ebfc44b05e267a0ece/benchmarks/ops/"
           "benchmark_simple_gla_vs_mamba2.py")
FLA_ROWS = {64: 0.840208, 128: 0.847920, 256: 0.848896, 512: 0.873472, 1024: 0.880208, 2048: 1.596416,
            4096: 3.160064, 8192: 6.251520, 16384: 12.452864}


def rows():
    out = []
    for t, (orig, fused) in VLLM_ROWS.items():
        for impl, v, chunk, kern in (("vllm_original_5_kernels", orig, 256, "mamba_chunk_scan_combined"),
                                     ("vllm_pr27299_fused", fused, 128, "fused_ssd (one kernel)")):
            out.append(dict(id=f"vllm27299_h100_{impl}_t{t}", gpu="H100-SXM-80GB", kernel=kern, implementation=impl,
                            direction="forward", dtype="bf16", batch=1, seq_len=t, tokens=t, heads=128, head_dim=64,
                            groups=1, d_state=128, chunk_size=chunk, has_z="false", metric="throughput",
                            value=v, unit="tokens/s", time_ms=round(t / v * 1e3, 6), source=VLLM, provenance=VLLM_URL,
                            read_date=READ, notes=VLLM_NOTES + ("" if impl.startswith("vllm_original") else
                                                                 "; the PR's fused kernel at CHUNK_SIZE_FUSED=128")))
    for s, (ms, tf) in TILELANG_ROWS.items():
        out.append(dict(id=f"tilelang_h800_chunk_scan_fwd_s{s}", gpu="H800-SXM-80GB", kernel="chunk_scan",
                        implementation="tilelang (autotuned; not mamba_ssm's Triton kernel)", direction="forward",
                        dtype="bf16 (assumed; not printed)", batch=8, seq_len=s, tokens=8 * s, heads=80, head_dim=64,
                        groups=1, d_state=128, chunk_size=256, has_z="false", metric="latency", value=ms, unit="ms",
                        time_ms=ms, source=TILELANG, provenance=TILELANG_URL, read_date=READ,
                        notes=f"NVIDIA H800 SXM, driver 560.35.05, tilelang @8a5eb569; printed {tf} TFLOP/s by the "
                              "README's count 2 b s Q H P / 2 + 2 b s H P N"))
    for t, ms in FLA_ROWS.items():
        out.append(dict(id=f"fla50_mamba_chunk_scan_combined_fwd_t{t}", gpu="not stated", kernel="mamba_chunk_scan_combined",
                        implementation="mamba_ssm 2.2.2 Triton (triton 2.3.1)", direction="forward", dtype="bf16",
                        batch=16, seq_len=t, tokens=16 * t, heads=8, head_dim=128, groups=8, d_state=128,
                        chunk_size=64, has_z="false", metric="latency (do_bench median)", value=ms, unit="ms",
                        time_ms=ms, source=FLA, provenance=FLA_URL, read_date=READ,
                        notes="GPU not stated in the PR text: kept, not used by tests/test_ssd_parts.py; B, C given per "
                              "head (shape B, T, H, D: ngroups = H = 8, d_state = D = 128), D=None, dt = 1"))
    return out


if __name__ == "__main__":
    write_csv(OUT, rows(), COLUMNS)
    print(f"wrote {OUT} ({len(rows())} rows)")
