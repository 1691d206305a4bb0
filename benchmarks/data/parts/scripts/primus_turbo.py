"""Builder of the ``primus_turbo_mi300x_*`` rows of ``attention_kernels.csv``, ``gemm_efficiency.csv`` and
``fp8_gemm.csv``: AMD-AGI/Primus-Turbo's own MI300X operator benchmarks (the library the Primus runs of
``benchmarks/data/mi300x_runs.csv`` call for attention), copied from the repository's result files into
``raw/primus_turbo_mi300x_*.csv`` (header and rows verbatim; rows not copied are named below).

* ``benchmark/results_optimized/attention_bf16_optimized.csv`` @221d75f1: ``turbo.ops.flash_attn_func`` bf16,
  forward and backward (benchmark/ops/bench_attention.py @293e49df: FLOPs 4*b*s^2*h*d forward, halved when
  causal, backward 2.5x forward; 20 warm-up calls, mean of 100). Its bf16 path is AITER's assembly flash kernel
  (agent_docs/MI300X/phase1-attention-report.md @6094c573: "flash_attn_func() (BF16) | AITER (ASM kernel)";
  MI300X gfx942, PyTorch 2.10+rocm7.1, 2026-04-02). The head-dim 192/128 (MLA) rows are not copied.
* ``benchmark/results_optimized/gemm_bf16_optimized.csv`` and ``gemm_fp8_tensorwise_optimized.csv`` @221d75f1:
  ``turbo.ops.gemm`` bf16 (hipBLASLt; Triton on a few very large shapes, none copied here) and
  ``turbo.ops.gemm_fp8`` E4M3 tensorwise, forward (one GEMM) and backward (two), on Llama-shaped GEMMs; the fp8
  op is called on bf16 tensors, so its time includes quantising both operands on every call
  (benchmark/ops/bench_gemm_fp8.py @04edbaad). Rows copied: the Llama-2-7B, Llama-2-70B and Llama-3.1-8B cases
  (the models of the MI300X-class validation rows); the Qwen / Mistral / 405B cases are not.

Run: ``python benchmarks/data/parts/scripts/primus_turbo.py`` (replaces its own rows in the three CSVs in place,
keeps the rest: the other builders of those files may run before or after it). tests/test_cdna3_attention.py checks the rows against the priors they set or were compared with.
"""
import csv
from pathlib import Path

from parts_csv import replace_rows

H = Path(__file__).resolve().parent
PARTS = H.parent
D = "2026-12-02"
PREFIX = "primus_turbo_mi300x_"
REPO = "AMD-AGI/Primus-Turbo"
COMMIT = "221d75f157bb35d46f718056212e93da56e85cd2"
SW = "Primus-Turbo (2026-04), PyTorch 2.10+rocm7.1, MI300X gfx942 (agent_docs/MI300X reports @6094c573)"


def url(path):
    return f"https://github.com/{REPO}/blob/{COMMIT}/{path}"


def raw(name):
    return list(csv.DictReader(open(H / "raw" / f"primus_turbo_mi300x_{name}.csv")))


def replace(csv_name, prefix, new_rows):
    """Replace the rows of ``csv_name`` whose id starts with ``prefix`` by ``new_rows``, in place (parts_csv.replace_rows;
    the other builders that own a prefix of a shared CSV call it too: matmul_ceilings.py)."""
    return replace_rows(PARTS / csv_name, lambda i: i.startswith(prefix), new_rows)


def attention_rows():
    src = "benchmark/results_optimized/attention_bf16_optimized.csv"
    out = []
    for r in raw("attention_bf16"):
        causal = r["Causal"] == "True"
        for direction, col in (("forward", "Forward TFLOPS"), ("backward", "Backward TFLOPS")):
            out.append(dict(
                id=f"{PREFIX}aiter_bf16_{direction[0]}wd_{'c' if causal else 'nc'}_hd{r['head_dim_qk']}_s{r['SeqLen']}"
                   f"_b{r['Batch']}_h{r['num_head_q']}x{r['num_head_kv']}",
                gpu="MI300X", kernel="Primus-Turbo flash_attn_func (AITER asm)", precision="bf16", direction=direction,
                causal=str(causal).lower(), head_dim=r["head_dim_qk"], seq_len=r["SeqLen"], batch=r["Batch"],
                num_heads=r["num_head_q"], tflops=r[col],
                source=f"{REPO} {src} (commit {COMMIT[:8]}), TestID {r['TestID']}", provenance=url(src), read_date=D,
                notes=f"{r['num_head_q']} query / {r['num_head_kv']} KV heads; {SW}; FLOPs 4*b*s^2*h*d fwd (causal "
                      f"halved), bwd 2.5x fwd (bench_attention.py); mean of 100 calls after 20 warm-up; check {r['Check']}"))
    return out


def gemm_rows():
    bf16, fp8 = [], []
    for dtype, name, src in (("bf16", "gemm_bf16", "benchmark/results_optimized/gemm_bf16_optimized.csv"),
                             ("fp8", "gemm_fp8_tensorwise", "benchmark/results_optimized/gemm_fp8_tensorwise_optimized.csv")):
        for r in raw(name):
            for direction, col in (("fwd", "Forward TFLOPS"), ("bwd", "Backward TFLOPS")):
                rid = f"{PREFIX}{dtype}_{direction}_{r['Case']}_{r['M']}x{r['N']}x{r['K']}"
                what = ("forward: one (M x K) @ (K x N) GEMM" if direction == "fwd" else
                        "backward: the two GEMMs of the gradient (dgrad and wgrad), 4*M*N*K FLOPs")
                note = (f"{r['Case']} MBS {r['MBS']}; {what}; B transposed (N x K); mean of 100 calls after 20 "
                        f"warm-up; check {r['Check']}; {SW}")
                if dtype == "bf16":
                    bf16.append(dict(id=rid, gpu="MI300X", library=f"Primus-Turbo turbo.ops.gemm ({direction})",
                                     precision="bf16", batch=1, m=r["M"], n=r["N"], k=r["K"], tflops=r[col],
                                     flops_per_s_raw="", source=f"{REPO} {src} (commit {COMMIT[:8]}), TestID {r['TestID']}",
                                     provenance=url(src), read_date=D, notes=note))
                else:
                    fp8.append(dict(id=rid, kind="gemm", gpu="MI300X", system="", precision=f"fp8 e4m3 tensorwise ({direction}; "
                                    "time includes quantising both bf16 operands per call)", baseline_precision="",
                                    batch=1, m=r["M"], n=r["N"], k=r["K"], tflops=r[col], speedup_low="", speedup_high="",
                                    model=r["Case"], num_gpus=1, parallelism="", software=SW,
                                    source=f"{REPO} {src} (commit {COMMIT[:8]}), TestID {r['TestID']}", provenance=url(src),
                                    read_date=D, notes=note + "; the same shapes' bf16 rows are in gemm_efficiency.csv "
                                                              "(primus_turbo_mi300x_bf16_*)"))
    return bf16, fp8


if __name__ == "__main__":
    bf16, fp8 = gemm_rows()
    print(replace("attention_kernels.csv", PREFIX, attention_rows()), replace("gemm_efficiency.csv", PREFIX, bf16),
          replace("fp8_gemm.csv", PREFIX, fp8))
