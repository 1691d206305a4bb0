"""Builds this script's rows of ../fp8_gemm.csv: low-precision GEMM throughput by shape, and end-to-end / layer-level
fp8-vs-bf16 speedups (the file's first block), and Azure's ND MI300X v5 hipBLASLt FP8 table (the block after the
``xla_*`` rows). The ``xla_*`` rows are xla_tables.py's, ``primus_turbo_mi300x_*`` primus_turbo.py's and ``maf_*``
matmul_ceilings.py's; each builder replaces its own rows in place, so they run in any order.

Run: ``python benchmarks/data/parts/scripts/fp8.py``."""
import os

from parts_csv import new_row, replace_rows
H = os.path.dirname(os.path.abspath(__file__)); D = "2026-11-30"
cols = ["id","kind","gpu","system","precision","baseline_precision","batch","m","n","k","tflops","speedup_low","speedup_high","model","num_gpus","parallelism","software","source","provenance","read_date","notes"]
rows = []
def add(**k):
    rows.append(new_row(cols, D, **k))
shapes = [(1024,1024,1024),(2048,2048,2048),(4096,4096,4096),(8192,8192,8192),(16384,16384,16384),(32768,32768,32768),(1024,2145,1024),(6144,12288,12288),(802816,192,768)]
AZ = "Azure/AI-benchmarking-guide"
azs = [
 ("h100","H100-SXM5-80GB","Azure ND H100 v5","fp8 (cuBLASLt; e4m3 presumed, not stated)",[274.1,1011.3,1216.9,1290.1,1377.3,1382.2,410.7,1351.4,663.8],"Azure Results/ND_H100_v5_results.md","f350e7e65b82cfcb9220b32b582bc34342d9c1a6","CUDA 12.6, driver 560.35.03"),
 ("h200","H200-SXM-141GB","Azure ND H200 v5","fp8 (cuBLASLt; e4m3 presumed, not stated)",[290.8,1013.4,1249.1,1300.6,1366.3,1349.5,407.9,1318.0,717.5],"Azure_Results/ND_H200_v5_results.md","7f20e5fa3b2f9a46d8404af1f6fb14b049d6d5cc","CUDA 12.6, driver 560.28.03"),
 ("gb200","GB200","Azure ND GB200 v6","fp8 (cuBLASLt; e4m3 presumed, not stated)",[489.2,2243.6,2834.6,2876.6,2906.9,2825.6,1022.2,2895.6,1459.5],"Azure_Results/ND_GB200_v6_results.md","2a370be6de9586d365feed77e014a73f25198f4d","CUDA 12.8, driver 570.133.20"),
]
for key,gpu,sysn,prec,vals,path,commit,sw in azs:
    for (m,n,k),v in zip(shapes,vals):
        add(id=f"azure_{key}_fp8_{m}x{n}x{k}",kind="gemm",gpu=gpu,system=sysn,precision=prec,m=m,n=n,k=k,tflops=v,num_gpus=1,software=sw,
            source=f"{AZ}, '{path}' (commit {commit}), 'GEMM CuBLASLt' table",provenance=f"https://github.com/Azure/AI-benchmarking-guide/blob/{commit}/"+path.replace(" ","%20"),
            notes="Random initialization, 10,000 warmup iterations (as stated). Transposition/layout and output dtype not stated in the results file.")
fp4 = [287.2,1677.7,5177.3,7535.6,7627.6,7487.2,549.0,None,2216.7]
for (m,n,k),v in zip(shapes,fp4):
    if v is None: continue
    add(id=f"azure_gb200_fp4_{m}x{n}x{k}",kind="gemm",gpu="GB200",system="Azure ND GB200 v6",precision="fp4 (cuBLASLt; block-scaled format NVFP4/MXFP4 not stated)",m=m,n=n,k=k,tflops=v,num_gpus=1,software="CUDA 12.8, driver 570.133.20",
        source=f"{AZ}, 'Azure_Results/ND_GB200_v6_results.md' (commit 2a370be6de9586d365feed77e014a73f25198f4d), 'GEMM CuBLASLt (FP4)' table",
        provenance="https://github.com/Azure/AI-benchmarking-guide/blob/2a370be6de9586d365feed77e014a73f25198f4d/Azure_Results/ND_GB200_v6_results.md",
        notes="Random initialization, 10,000 warmup iterations. The FP4 table has no 6144x12288x12288 row.")
# ND GB300 v6: the same benchmark code's results in a fork of the repository (not upstream when read)
GB300_AZ = ("egmsft/AI-benchmarking-guide", "Azure_Results/ND_GB300_v6_results.md", "18e80a218dc3aad43f77574107144931ada63280")
for pk, prec, table, vals in (
        ("fp8", "fp8 (cuBLASLt; e4m3 presumed, not stated)", "GEMM CuBLASLt (FP8)", [553.5,2288.9,3257.0,3286.3,3308.5,3271.3,1115.1,3279.5,1717.1]),
        ("fp4", "fp4 (cuBLASLt; block-scaled format NVFP4/MXFP4 not stated)", "GEMM CuBLASLt (FP4)", [316.4,1678.0,5417.0,8155.9,8640.3,8555.1,549.0,None,2220.7])):
    for (m,n,k),v in zip(shapes,vals):
        if v is None: continue
        add(id=f"azure_gb300_{pk}_{m}x{n}x{k}",kind="gemm",gpu="GB300",system="Azure ND GB300 v6",precision=prec,m=m,n=n,k=k,tflops=v,num_gpus=1,software="CUDA 13.0, driver 580.82.07",
            source=f"{GB300_AZ[0]}, '{GB300_AZ[1]}' (commit {GB300_AZ[2]}), '{table}' table",provenance=f"https://github.com/{GB300_AZ[0]}/blob/{GB300_AZ[2]}/{GB300_AZ[1]}",
            notes="Random initialization, 10,000 warmup iterations (as stated). GPU 'NVIDIA GB300 288GB', VBIOS 97.10.4A.00.05. Other CUDA and driver than the GB200 rows (12.8, 570.133.20)."
                  + (" The FP4 table has no 6144x12288x12288 row." if pk == "fp4" else ""))
add(id="deepgemm_h800_fp8_peak",kind="gemm",gpu="H800-SXM",system="DeepSeek",precision="fp8_e4m3 (DeepGEMM, fine-grained block scaling)",tflops=1550,num_gpus=1,software="DeepGEMM (April 2025)",
    source="deepseek-ai/DeepGEMM README.md 'News' 2025.04.18 entry (commit 0274ad7b911b99b4eb6f8d796403811cf1e18f3d as read)",provenance="https://github.com/deepseek-ai/DeepGEMM/blob/0274ad7b911b99b4eb6f8d796403811cf1e18f3d/README.md",
    notes="'DeepGEMM now achieves up to 1550 TFLOPS on H800'. Peak claim: shape not stated in this text (per-shape table was in earlier README versions, not read).")
# DeepGEMM's first-release per-shape table (H800, NVCC 12.8; 1x128 LHS / 128x128 RHS scales, the block-wise recipe's
# fprop GEMM): the large-M rows, which stand in for Transformer Engine's Float8BlockScaling GEMM on Hopper
DG_README = ("deepseek-ai/DeepGEMM", "README.md", "first release (Feb 2025), 'Performance' > 'Normal GEMMs for dense models'")
for m_, n_, k_, tf, vs in ((4096, 2112, 7168, 1058, "1.1x"), (4096, 24576, 1536, 990, "1.0x"), (4096, 32768, 512, 590, "1.0x"),
                           (4096, 7168, 16384, 1358, "1.2x"), (4096, 4096, 7168, 1304, "1.1x"), (4096, 7168, 2048, 1025, "1.1x")):
    add(id=f"deepgemm_h800_fp8_block_{m_}x{n_}x{k_}",kind="gemm",gpu="H800-SXM",system="DeepSeek",precision="fp8_e4m3 (DeepGEMM, 1x128 activation / 128x128 weight block scaling, FP32 promotion)",m=m_,n=n_,k=k_,tflops=tf,num_gpus=1,software="DeepGEMM (Feb 2025), NVCC 12.8",
        source=f"{DG_README[0]} {DG_README[1]}, {DG_README[2]}",provenance="https://github.com/deepseek-ai/DeepGEMM (README as first released; table since removed from the README)",
        notes=f"M x N x K as the README writes them (D = A @ B.T, no tensor parallelism). Speedup over DeepSeek's 'internally and carefully optimized implementation based on CUTLASS 3.6': {vs}.")
# Transformer Engine's GEMM profiling guide on B300: one layer's 12 GEMMs (hidden 4096, FFN 16384, 15,872 tokens), ms
TE_GP = ("NVIDIA/TransformerEngine", "docs/features/low_precision_training/gemm_profiling/gemm_profiling.rst", "33294178")
for mode, bf, blk, mx, fp4 in (("autocast", 12.227, 9.598, 8.507, 6.439), ("prequant", 12.835, 6.830, 7.324, 3.754)):
    add(id=f"te_gemm_profiling_b300_layer_{mode}",kind="layer_gemm_speedup",gpu="B300",precision="FP8 block (Float8BlockScaling, emulated on MXFP8 tensor cores) / MXFP8 / NVFP4",baseline_precision="bf16",m=15872,speedup_low=round(bf / blk, 4),speedup_high=round(bf / blk, 4),num_gpus=1,software="Transformer Engine benchmarks/gemm/benchmark_gemm.py",
        source=f"{TE_GP[0]} {TE_GP[1]} (commit {TE_GP[2]}), 'Per-Layer GEMM Time' ({'autocast' if mode == 'autocast' else '--pre-quantize'})",provenance=f"https://github.com/{TE_GP[0]}/blob/{TE_GP[2]}/{TE_GP[1]}",
        notes=f"Per-layer total ms: BF16 {bf}, FP8Block {blk}, MXFP8 {mx}, NVFP4 {fp4}; speedup columns = FP8Block over BF16. "
              + ("Autocast: each GEMM quantises its inputs (input and weight) before the kernel." if mode == "autocast" else "Pre-quantised: the GEMM kernels alone."))
# ---- layer-level and end-to-end speedups ----
add(id="torchao_linear_h100_small",kind="linear_fwd_bwd_speedup",gpu="H100",precision="float8 (torchao Float8Linear, dynamic tensorwise)",baseline_precision="bf16",m=1024,k=2048,n=1024,speedup_low=0.80,speedup_high=0.80,num_gpus=1,software="torchao float8 + torch.compile",
    source="pytorch/ao torchao/float8/README.md, 'Performance' section, Example 1 (commit 0cf1281a38bdd8c84b11549ffc49a63eb3a92d40)",provenance="https://github.com/pytorch/ao/blob/0cf1281a38bdd8c84b11549ffc49a63eb3a92d40/torchao/float8/README.md",
    notes="Forward input 1024x2048, weight 2048x1024 (M,K,N = 1024,2048,1024): 'benchmark speedup is 0.80' (microbenchmark of the linear incl. scaling/casting overhead). Column n holds N.")
add(id="torchao_linear_h100_large",kind="linear_fwd_bwd_speedup",gpu="H100",precision="float8 (torchao Float8Linear, dynamic tensorwise)",baseline_precision="bf16",m=4096,k=8192,n=16384,speedup_low=1.39,speedup_high=1.39,num_gpus=1,software="torchao float8 + torch.compile",
    source="pytorch/ao torchao/float8/README.md, 'Performance' section, Example 2 (commit 0cf1281a38bdd8c84b11549ffc49a63eb3a92d40)",provenance="https://github.com/pytorch/ao/blob/0cf1281a38bdd8c84b11549ffc49a63eb3a92d40/torchao/float8/README.md",
    notes="M,K,N = 4096,8192,16384: 'benchmark speedup is 1.39'.")
add(id="cudnn9_llama2_70b_lora_bf16sdpa",kind="e2e_training_speedup",gpu="H200",system="8-GPU H200 node",precision="cuDNN SDPA bf16 (rest of model as configured by NeMo+TE)",baseline_precision="NeMo + TE with cuDNN disabled",speedup_low=1.11,speedup_high=1.11,model="Llama2 70B LoRA fine-tuning",num_gpus=8,software="NVIDIA NeMo + Transformer Engine, cuDNN 9",
    source="NVIDIA Technical Blog 'Accelerating Transformers with NVIDIA cuDNN 9', Table 1",provenance="https://developer.nvidia.com/blog/accelerating-transformers-with-nvidia-cudnn-9/",
    notes="Speedup from switching the attention backend to cuDNN SDPA (BF16). Not an fp8-linear speedup. Parallelism and batch not stated in the table.")
add(id="cudnn9_llama2_70b_lora_fp8sdpa",kind="e2e_training_speedup",gpu="H200",system="8-GPU H200 node",precision="cuDNN SDPA fp8",baseline_precision="NeMo + TE with cuDNN disabled",speedup_low=1.15,speedup_high=1.15,model="Llama2 70B LoRA fine-tuning",num_gpus=8,software="NVIDIA NeMo + Transformer Engine, cuDNN 9",
    source="NVIDIA Technical Blog 'Accelerating Transformers with NVIDIA cuDNN 9', Table 1",provenance="https://developer.nvidia.com/blog/accelerating-transformers-with-nvidia-cudnn-9/",
    notes="Same blog also states cuDNN SDPA reaches 'up to 1.2 PFLOPS in FP8' on H200 (kernel level).")
add(id="ptdev_fsdp2_f8ag_llama3_70b_128h100",kind="e2e_training_speedup",gpu="H100 (Meta Grand Teton; specs may differ from public H100)",precision="float8 tensorwise dynamic (torchao) + float8 FSDP2 all-gather",baseline_precision="bf16",speedup_low=1.50,speedup_high=1.50,model="Llama3-70B pretraining",num_gpus=128,parallelism="FSDP2 (torchtitan)",software="torchtitan + torchao.float8",
    source="PyTorch dev-discuss post 'Enabling Float8 All-Gather in FSDP2' (TL;DR)",provenance="https://dev-discuss.pytorch.org/t/enabling-float8-all-gather-in-fsdp2/2359",
    notes="'We observed 1.50x speedup with float8 compared with bfloat16 ... 20% of the speedup is contributed by float8 all-gather while the rest 80% come from float8 compute.' Sequence length / batch not in the excerpt read.")
add(id="megatron_issue396_gpt13b_h100",kind="e2e_training_speedup",gpu="H100",system="'a H100 machine' (presumably 8 GPUs; not stated)",precision="fp8 (Transformer Engine, --fp8-hybrid)",baseline_precision="bf16",speedup_low=round(0.34/0.24,4),speedup_high=round(0.34/0.24,4),model="GPT 13B (Megatron-LM)",software="Megatron-LM + Transformer Engine (2023)",
    source="GitHub NVIDIA/Megatron-LM issue #396 (user report)",provenance="https://github.com/NVIDIA/Megatron-LM/issues/396",
    notes="Reported 'about 0.34s/step' before and 'about 0.24s/step' after enabling fp8; speedup column = 0.34/0.24 computed here (the user states '35% speed up'). Config (batch, TP/PP) not given. Low-confidence user report.")
add(id="ptblog_crusoe_h200_rowwise",kind="e2e_training_speedup",gpu="H200",system="Crusoe 2K-GPU H200 cluster (Iceland)",precision="float8 rowwise (torchao)",baseline_precision="bf16",speedup_low=1.34,speedup_high=1.43,model="Llama3 (sizes per blog; not in excerpt read)",parallelism="HSDP2 (+CP per blog)",software="torchtitan + torchao float8 rowwise",
    source="PyTorch blog 'Accelerating Large Scale Training and Convergence with PyTorch Float8 Rowwise on Crusoe 2K H200s'",provenance="https://pytorch.org/blog/accelerating-large-scale-training-and-convergence-with-pytorch-float8-rowwise-on-crusoe-2k-h200s/",
    notes="'training accelerations of 34 - 43% at scale'. Range only; per-configuration numbers not read. num_gpus up to ~2K (not per-row).")
add(id="ptblog_crusoe_b200_mxfp8_llama3_70b",kind="e2e_training_speedup",gpu="B200",system="Crusoe B200 cluster",precision="mxfp8 (torchao v0.10)",baseline_precision="bf16",speedup_low=1.22,speedup_high=1.28,model="Llama3-70B",num_gpus=1856,parallelism="HSDP2, context parallel = 2",software="torchtitan + torchao v0.10 (April 2025)",
    source="PyTorch blog 'Accelerating 2K scale pre-training up to 1.28x with TorchAO, MXFP8 and TorchTitan on Crusoe B200 Cluster'",provenance="https://pytorch.org/blog/accelerating-2k-scale-pre-training-up-to-1-28x-with-torchao-mxfp8-and-torchtitan-on-crusoe-b200-cluster",
    notes="Speedups 1.22x-1.28x vs BF16 across scales up to 1856 GPUs; ~5% throughput difference from 4 to 188 nodes.")
add(id="ptblog_gb200_mxfp8_llama4_scout",kind="e2e_training_speedup",gpu="GB200",system="64 nodes / 256 GB200 (Crusoe Cloud)",precision="mxfp8 (routed-expert grouped GEMMs and most linears)",baseline_precision="bf16",speedup_low=1.302,speedup_high=1.302,model="Llama4 Scout (MoE)",num_gpus=256,parallelism="FSDP=256 (attention, shared experts, dense FFN), FSDP 64 + EP=16 on routed experts; full activation checkpointing; seq 8192, local batch 1",software="torch 2.11.0.dev20260122+cu130, torchtitan 0.2.1, torchao 0.17.0+git41e02b5fb",
    source="PyTorch blog 'MXFP8 Training for MoEs: 1.3x training speedup vs BF16 for Llama4 Scout on GB200 cluster using TorchAO and TorchTitan'",provenance="https://pytorch.org/?p=58489",
    notes="'+30.2% training speedup'; '~81% of the theoretical max achievable speedup ... (roofline 1.37x)'. output, router.gate, attention.wk/wv kept in bf16.")

# torchao's own torchtitan Llama3-8B runs (f8ratio46, read 2026-12-06): the "Training benchmarks" tables of
# torchao/float8/README.md (pytorch/ao @9519bebb), one node of 8 GPUs, local batch 1, sequence 8192, torch.compile,
# FSDP2, per-op SAC; speedup = the float8 row's median tokens/s over the bf16 row's, computed here
AO = ("pytorch/ao torchao/float8/README.md 'Training benchmarks' (commit 9519bebbc397d60274982a74c084f9dff18e61a6)",
      "https://github.com/pytorch/ao/blob/9519bebbc397d60274982a74c084f9dff18e61a6/torchao/float8/README.md")
AO_RUNS = {"h100": ("H100", "8x H100 (Meta; torchao's roofline_utils: 'custom to Meta's H100 variant', 2.4 TB/s)",
                    "torch 2.7.0a0+gitb98af95, torchao 0.10.0+git890e0ac8, torchtitan 0.0.2", 6150.0,
                    (("tensorwise", "tensorwise with float8 all-gather", 7689.5, "25.03%"),
                     ("rowwise", "rowwise with bfloat16 all-gather", 6768.0, "10.05%"))),
           "mi300x": ("MI300X", "8x MI300X", "torch 2.9.0.dev20250811+rocm6.4, torchao 0.13.0+git4fc4068d6, torchtitan "
                      "2c8b5947991239913d67e2f7d22a255c3e2a9694", 5376.5,
                      (("tensorwise", "tensorwise with float8 all-gather", 6166.0, "14.68%"),
                       ("rowwise_with_gw_hp", "rowwise_with_gw_hp with bfloat16 all-gather", 6100.0, "13.46%"),
                       ("rowwise", "rowwise with bfloat16 all-gather", 5891.0, "9.57%")))}
for g, (gpu, system, sw, bf16, recipes) in AO_RUNS.items():
    for rec, cell, tps, pct in recipes:
        rows.append(new_row(cols, "2026-12-06", id=f"torchao_readme_{g}_llama3_8b_{rec}", kind="e2e_training_speedup", gpu=gpu, system=system,
            precision=f"float8 {rec} (torchao; README: '{cell}')", baseline_precision="bf16",
            speedup_low=round(tps / bf16, 4), speedup_high=round(tps / bf16, 4), model="Llama3-8B", num_gpus=8,
            parallelism="FSDP2, batch size 1, sequence length 8192, torch.compile, per-op SAC", software=sw,
            source=AO[0], provenance=AO[1],
            notes=f"Median tokens/second {tps} against the bf16 row's {bf16} (README 'Speedup over baseline' {pct}); "
                  "steps 100. Also in parts/peak_memory.csv (titan25_ao_*) for their peak memory."))

# Azure ND MI300X v5: the same GEMM harness (hipBLASLt), results in a fork of the guide (read 2026-12-01; first
# appended to the CSV by hand); the file's block after xla_tables.py's xla_* rows
MI3 = ("samuel-bohman/AI-benchmarking-guide", "Azure_Results/ND_MI300X_v5_results.md", "3de0c294fd1059a91a2c158712c4a078619d73e8")
mi300x = []
for (m,n,k),v in zip(shapes,[53.13,427.74,955.17,1159.23,1015.1,1029.14,110.96,1159.54,605.34]):
    mi300x.append(new_row(cols, "2026-12-01", id=f"azure_mi300x_fp8_{m}x{n}x{k}",kind="gemm",gpu="MI300X",system="Azure ND MI300X v5",precision="fp8 (hipBLASLt; format not stated)",
        m=m,n=n,k=k,tflops=v,num_gpus=1,software="HIP 6.2.41133",
        source=f"{AZ} results as forked at {MI3[0]}, '{MI3[1]}' (commit {MI3[2]}), 'GEMM HipBLASLt' table",provenance=f"https://github.com/{MI3[0]}/blob/{MI3[2]}/{MI3[1]}",
        notes="Random initialization, FP8, 10,000 warmup iterations (as stated). Of the catalog FP8 dense peak 2614.9: 1159.5 = 0.443."))

# this script's two blocks of the file; the others are xla_tables.py's (xla_*), primus_turbo.py's and
# matmul_ceilings.py's, each replaced in place by its own builder (parts_csv.replace_rows): any order gives one file
OUT = os.path.join(H, "..", "fp8_gemm.csv")
OTHERS = ("xla_", "azure_mi300x_fp8_", "primus_turbo_mi300x_", "maf_")
print(replace_rows(OUT, lambda i: not i.startswith(OTHERS), rows, cols),
      replace_rows(OUT, lambda i: i.startswith("azure_mi300x_fp8_"), mi300x, cols))
