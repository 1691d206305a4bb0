"""Builds ../gemm_efficiency.csv: dense 16-bit (and f32/TF32) GEMM throughput vs shape."""
import csv, os
H = os.path.dirname(os.path.abspath(__file__)); D = "2026-11-30"
cols = ["id","gpu","library","precision","batch","m","n","k","tflops","flops_per_s_raw","source","provenance","read_date","notes"]
rows = []
shapes = [(1024,1024,1024),(2048,2048,2048),(4096,4096,4096),(8192,8192,8192),(16384,16384,16384),(1024,2145,1024),(6144,12288,12288),(802816,192,768)]
vals = [119.4,221.8,228.0,253.7,256.5,132.8,250.8,157.8]
for (m,n,k),v in zip(shapes, vals):
    rows.append(dict(id=f"azure_a100_fp16_{m}x{n}x{k}",gpu="A100-SXM4-80GB (Azure ND A100 v4)",library="cuBLASLt",precision="fp16",batch=1,m=m,n=n,k=k,tflops=v,
        source="Azure/AI-benchmarking-guide, 'Azure_Results/ND_A100_v4_results.md' (commit 3bb66cacc25632d8ece36bc1d5128c5ea886a60b), 'GEMM CuBLASLt' table",
        provenance="https://github.com/Azure/AI-benchmarking-guide/blob/3bb66cacc25632d8ece36bc1d5128c5ea886a60b/Azure_Results/ND_A100_v4_results.md",read_date=D,
        notes="Random initialization, FP16, 10,000 warmup iterations (as stated). CUDA 12.5, driver 550.90.07. The A100 table has no 32768^3 row. Output dtype/accumulation not stated."))
for r in csv.DictReader(open(os.path.join(H,"raw","xla_gemm_rows.csv"))):
    rows.append(r)
with open(os.path.join(H,"..","gemm_efficiency.csv"),"w",newline="") as f:
    w=csv.DictWriter(f,fieldnames=cols); w.writeheader()
    for r in rows: w.writerow({c: r.get(c,"") for c in cols})
print(len(rows))
