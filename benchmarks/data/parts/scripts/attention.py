"""Builds ../attention_kernels.csv from values copied from the sources named in each block: every row but the
``primus_turbo_mi300x_*`` block at the end of the file, which primus_turbo.py owns (both replace only their own rows,
in place: parts_csv.replace_rows). Run: ``python benchmarks/data/parts/scripts/attention.py``."""
import os

from parts_csv import replace_rows
D="2026-11-30"
cols=["id","gpu","kernel","precision","direction","causal","head_dim","seq_len","batch","num_heads","tflops","source","provenance","read_date","notes"]
rows=[]
FA3="Shah et al. 2024, FlashAttention-3 (arXiv:2407.08608)"
NUG="https://subtext.edge.nugit.net/image/"
cond=("FA3 paper setup: batch x seqlen = 16384 tokens, hidden 2048 (heads = 2048/head_dim); FLOPs counted FA-style (4*s^2*d*h fwd, 2.5x for bwd, causal halved). "
      "Value is the printed bar label, taken from a third-party text transcription of the figure image (not read from the PDF directly); integer precision.")
def fa3(fig, img, hd, direction, prec, causal, causal_note, data, kernels, skip=()):
    for s,vals in data.items():
        for k,v in zip(kernels, vals):
            if v is None or (s,k) in skip: continue
            rows.append(dict(id=f"fa3_{fig}_{prec}_{direction}_hd{hd}_{'c' if causal=='true' else ('nc' if causal=='false' else 'u')}_{k}_s{s}".replace(' ','').replace('+',''),
                gpu="H100-SXM5-80GB", kernel=k, precision=prec, direction=direction, causal=causal, head_dim=hd, seq_len=s,
                batch=16384//s, num_heads=2048//hd, tflops=v, source=f"{FA3}, {fig}: '{'Attention '+direction+' speed'}, head dim {hd} (H100 80GB SXM5)'",
                provenance=NUG+img, read_date=D, notes=cond+" "+causal_note))
S=[512,1024,2048,4096,8192,16384]
K5=["standard_attention_pytorch","FlashAttention-2","Triton","cuDNN","FlashAttention-3"]
# FP16 forward hd128 non-causal
d={512:(74,309,323,None,None),1024:(100,350,372,574,565),2048:(119,362,389,617,625),4096:(133,368,389,609,638),8192:(139,370,392,600,646),16384:(None,None,395,595,648)}
fa3("Figure 5","e27582d2db385c9bac87ebc92343d2452b7c01d5d934e596c90172b346d00d42",128,"forward","fp16","false",
    "Causal flag inferred (chart title does not state it): this is the higher of the two hd128 FP16 forward charts (standard attention 74-139 vs 26-35). Two transcriptions disagree on cuDNN/FA3 at 512 (467 vs 497 swapped) and FA2 at 16k (370 vs 395): those cells omitted. Standard attention OOM at 16k.",
    d,K5)
d={512:(26,191,146,315,292),1024:(31,260,273,410,423),2048:(34,298,323,484,521),4096:(35,319,353,518,579),8192:(35,333,369,529,602),16384:(None,335,378,539,616)}
fa3("Figure 5","4ec6690918d4df7a49f27715412cc425602eb075dfe3f7821cddc4a74f058ca1",128,"forward","fp16","true",
    "Causal flag inferred: the lower of the two hd128 FP16 forward charts (standard attention 26-35 TFLOP/s). Single transcription. Standard attention OOM at 16k.",d,K5)
d={512:(52,282,340,335,333),1024:(63,306,382,373,392),2048:(67,318,396,395,460),4096:(72,321,400,408,476),8192:(73,322,401,412,496),16384:(None,324,403,413,497)}
fa3("Figure 5","55f47a106c25f22983b2741a7e8bcdbaec8521b6a583d130c6f92b94e0f65924",64,"forward","fp16","false",
    "Causal flag inferred: higher of the two hd64 FP16 forward charts (standard attention 52-73 vs 16-18). Single transcription.",d,K5)
d={512:(16,180,152,225,197),1024:(18,229,288,288,265),2048:(18,262,342,334,371),4096:(18,284,363,363,420),8192:(18,295,376,379,460),16384:(None,299,363,388,473)}
fa3("Figure 5","9b7cf01f91715dc46b5b50a018fdf4cd6872c4448f44d9c74a60aa61e56ec6f2",64,"forward","fp16","true",
    "Causal flag inferred: lower of the two hd64 FP16 forward charts (standard attention 16-18). Single transcription (nemotron model).",d,K5)
K3=["FlashAttention-2","cuDNN","FlashAttention-3"]
d={512:(275,470,482),1024:(313,546,639),2048:(321,580,707),4096:(323,581,736),8192:(324,580,746),16384:(326,581,756)}
fa3("Figure 5","72bb66933a753e02d65e914b775816bc5688dfe6ec9ab8eb2667b96fb0e574d4",256,"forward","fp16","false",
    "Causal flag inferred: higher of the two hd256 FP16 forward charts (FA3 482-756 vs 286-642). Single transcription.",d,K3)
d={512:(208,308,286),1024:(251,391,427),2048:(278,450,537),4096:(293,483,612),8192:(297,497,628),16384:(298,509,642)}
fa3("Figure 5","662fef77d03ef90933e0bf349be79e2e8ba39c73aa1f09020aee8016df309aba",256,"forward","fp16","true",
    "Causal flag inferred: lower of the two hd256 FP16 forward charts. Single transcription.",d,K3)
K4=["standard_attention_pytorch","FlashAttention-2","cuDNN","FlashAttention-3"]
d={512:(104,214,305,316),1024:(131,260,408,424),2048:(159,291,465,501),4096:(174,310,499,542),8192:(181,318,518,559),16384:(None,322,516,561)}
fa3("Figure 6","f60142e2221e7ea9f80b7017987fabedaaa04df4adeb1a9e7b0a3defac28a701",128,"backward","fp16","unknown",
    "Causal flag not in the chart title; only one hd128 backward chart was found (likely the paper's non-causal backward figure, unverified). Two transcriptions agree.",d,K4)
d={512:(68,198,266,272),1024:(76,238,348,363),2048:(88,264,395,422),4096:(92,279,417,453),8192:(95,287,432,472),16384:(None,291,433,474)}
fa3("Figure 6","40bf2854920efa7e9b113b886344450b9e19d9f09b5d82d70dca870f6bacc5e0",64,"backward","fp16","unknown",
    "Causal flag not in the chart title; only one hd64 backward chart found (likely non-causal, unverified). Two transcriptions agree for 512-2k; 4k-16k from one.",d,K4)
K3b=["Triton","cuDNN","FlashAttention-3"]
d={512:(529,686,510),1024:(664,878,744),2048:(766,1001,931),4096:(854,1087,966),8192:(897,1122,1151),16384:(903,1139,1171)}
fa3("Figure 7","32f2f2fec0fa3843531d75854adc12b775b435f234a01edd2e63c4c71c1ed980",256,"forward","fp8_e4m3","false",
    "FP8 chart (legend Triton/cuDNN/FA3 only, y-axis to 1200). Causal flag inferred: higher of the two hd256 FP8 charts; peak 1171 matches the paper's 'close to 1.2 PFLOPs/s' FP8 claim. Two transcriptions (also image 8a30d0dd...) agree.",d,K3b)
d={512:(299,304,329),1024:(425,449,521),2048:(520,768,703),4096:(591,1015,856),8192:(628,1056,960),16384:(663,1099,1024)}
fa3("Figure 7","f474e7f251aa9be1b1c05f2d7976fe4f4c44c3e740ec1e6d0e3c04145aa34c16",256,"forward","fp8_e4m3","true",
    "FP8 chart. Causal flag inferred: lower of the two hd256 FP8 charts. Three transcriptions (also image e3de8fab...) agree.",d,K3b)
d={512:(408,617,348),1024:(502,751,596),2048:(563,886,733),4096:(605,864,918),8192:(630,971,974),16384:(635,1005,1008)}
fa3("Figure 7","c33ff2e13f4bb6e7197b8bd6416abdbe6f2123c229c60407af47e89c60dcf3b8",128,"forward","fp8_e4m3","unknown",
    "FP8 chart (y-axis to 1200, Triton/cuDNN/FA3 legend). Only one hd128 FP8 chart found; causal flag unknown. Single transcription.",d,K3b)
d={512:(392,344,240),1024:(444,398,396),2048:(473,447,462),4096:(499,413,568),8192:(506,431,596),16384:(511,438,613)}
fa3("Figure 7","0c6bcc5cd14eeeba72e3d9e82a92131892e1936dd311abd25a9b2c0e04a7a2d2",64,"forward","fp8_e4m3","false",
    "FP8 chart. Causal flag inferred: higher of the two hd64 FP8 charts (FA3 240 vs 164 at 512). Single transcription.",d,K3b)
d={512:(234,194,164),1024:(325,258,244)}
fa3("Figure 7","66c4bb4bf8b186164a0b56ce0a52fbff577da65721f65d33cf9e975d7d70b39e",64,"forward","fp8_e4m3","true",
    "FP8 chart. Causal flag inferred: lower of the two hd64 FP8 charts. Only the 512 and 1k groups were visible in the transcription excerpt.",d,K3b)
# pytorch/benchmark commit ff65cb67 (H100, FA3 vs Triton tutorial flash v2)
pb="pytorch/benchmark commit ff65cb675209d2308f7d27c6920af8a32de9aa90 (PR #2391) commit message, Test Plan table"
for (b,h,s,d_,t2,f3) in [(32,16,512,128,328.882,430.32),(16,16,1024,128,389.723,517.099),(8,16,2048,128,433.721,565.544),(4,16,4096,128,458.359,590.233),(2,16,8192,128,470.732,614.234),(1,16,16384,128,476.753,620.73)]:
    for k,v in (("Triton-tutorial-flash-v2",t2),("FlashAttention-3",f3)):
        rows.append(dict(id=f"ptbench2391_{k}_s{s}",gpu="H100 (variant not stated; Meta internal)",kernel=k,precision="bf16 or fp16 (tritonbench default; not stated)",direction="forward (tritonbench default mode fwd; not stated)",causal="unknown",head_dim=d_,seq_len=s,batch=b,num_heads=h,tflops=v,
            source=pb,provenance="https://app.semanticdiff.com/gh/pytorch/benchmark/commit/ff65cb675209d2308f7d27c6920af8a32de9aa90 ; https://github.com/pytorch/benchmark/pull/2391",read_date=D,
            notes="run_benchmark.py triton --op flash_attention --only triton_tutorial_flash_v2,flash_v3 --metrics tflops --d-head 128; sizes chosen so B*S=16k, H*D=2048 like the FA3 paper. Commit date ~July 2024. GPU described as H100 in the PR context only."))
pb2="pytorch/benchmark commit d5f0a12bfef945e88db862def32843fce22d5cd4 (PR #2296) commit message"
for (s,l1,t1,l2,t2,l3,t3) in [(1024,1.91248,287.457,1.55574,353.372,1.38538,396.828),(2048,7.49987,293.208,5.70656,385.35,5.4792,401.34),(4096,29.4748,298.428,21.7369,404.662,20.8335,422.21),(8192,122.297,287.696,85.1293,413.305,82.3884,427.055),(16384,462.649,304.199,334.992,420.122,328.363,428.604)]:
    for k,lat,v in (("PyTorch-SDPA",l1,t1),("Triton-tutorial-flash-v2",l2,t2),("colfax-cutlass-FA3-prototype",l3,t3)):
        rows.append(dict(id=f"ptbench2296_{k}_s{s}",gpu="H100 (variant not stated)",kernel=k,precision="bf16 or fp16 (tritonbench default; not stated)",direction="forward (tritonbench default; not stated)",causal="unknown",head_dim=128,seq_len=s,batch=128,num_heads=8,tflops=v,
            source=pb2,provenance="https://app.semanticdiff.com/gh/pytorch/benchmark/commit/d5f0a12bfef945e88db862def32843fce22d5cd4",read_date=D,
            notes=f"run_benchmark.py triton --op flash_attention --only sdpa,triton_tutorial_flash_v2,colfax_cutlass --batch 128 --n-heads 8 --d-head 128; latency {lat} ms as printed. June 2024."))
ort="microsoft/onnxruntime commit fbc3927231b81f19c9c3c5ee044418184a5381d0 (PR #21629 'cuDNN Flash Attention') commit message, Test Setting 1"
for fmt,lat,v,k in [("Q,K,V (BNSH)",0.000075,229.5,"torch:flash"),("Q,K,V (BNSH)",0.000119,144.8,"torch:efficient"),("Q,K,V (BNSH)",0.000224,76.5,"torch:math"),("Q,K,V (BSNH)",0.000075,227.8,"ort:cudnn"),("Q,K,V (BSNH)",0.000094,182.8,"ort:flash"),("Q,K,V (BSNH)",0.000138,124.7,"ort:efficient"),("Q,K,V (BSNH)",0.000438,39.3,"ort:math")]:
    rows.append(dict(id=f"ort21629_{k.replace(':','_')}_s256",gpu="H100 (variant not stated)",kernel=k,precision="fp16",direction="forward (inference MultiHeadAttention)",causal="false",head_dim=128,seq_len=256,batch=16,num_heads=32,tflops=v,
        source=ort,provenance="https://app.semanticdiff.com/gh/microsoft/onnxruntime/commit/fbc3927231b81f19c9c3c5ee044418184a5381d0",read_date=D,
        notes=f"FP16 MultiHeadAttention without mask or bias; format {fmt}; average_latency {lat} s; cuDNN >= 9.3. Only the separate Q,K,V rows copied (packed-QKV rows include layout conversion). Short sequence: far from peak."))

# Azure/AI-benchmarking-guide Flash Attention 2.0 microbenchmark (Benchmarks/NVIDIA/FlashAttention.py)
AZ="Azure/AI-benchmarking-guide"
for key,gpu,hd,std,fa2,path,commit in [
  ("h100","H100-SXM5-80GB (Azure ND H100 v5)",128,145.1,327.9,"Azure Results/ND_H100_v5_results.md","f350e7e65b82cfcb9220b32b582bc34342d9c1a6"),
  ("h200","H200-SXM-141GB (Azure ND H200 v5)",128,161.5,329.3,"Azure_Results/ND_H200_v5_results.md","7f20e5fa3b2f9a46d8404af1f6fb14b049d6d5cc"),
  ("gb200","GB200 (Azure ND GB200 v6)",128,147.6,373.9,"Azure_Results/ND_GB200_v6_results.md","2a370be6de9586d365feed77e014a73f25198f4d"),
  ("a100","A100-SXM4-80GB (Azure ND A100 v4)",64,46.0,179.5,"Azure_Results/ND_A100_v4_results.md","3bb66cacc25632d8ece36bc1d5128c5ea886a60b")]:
    for k,v in (("standard_attention_pytorch",std),("FlashAttention-2",fa2)):
        rows.append(dict(id=f"azure_{key}_{k}_hd{hd}_s8192",gpu=gpu,kernel=k,precision="not stated (fp16/bf16)",direction="not stated",causal="unknown",head_dim=hd,seq_len=8192,batch=2,num_heads="",tflops=v,
            source=f"{AZ}, '{path}' (commit {commit}), section 'Flash Attention 2.0'",provenance=f"https://github.com/Azure/AI-benchmarking-guide/blob/{commit}/"+path.replace(' ','%20'),read_date=D,
            notes="Source: 'performance for a head dimension of %d, a batch size of 2, and a sequence length of 8192'. Number of heads, direction (fwd / fwd+bwd), causal flag and dtype not given in the results file."%hd))
# NVIDIA/cudnn-frontend benchmark/sdpa_benchmark_training (runner --config llama): GB300 and GB200 runs
# of the same harness on the same day with the same cuDNN; cuDNN bf16, causal (top_left), non-deterministic
# backward; Llama 3.1 preset: batch 2, 64 query / 8 KV heads, head dim 128
CFE = "NVIDIA/cudnn-frontend"
for commit, cudnn, files, vals in (
  ("60e572b7c8fe1976631af4141f307900ef17cad5", "9.22 (backend 92200, frontend 1.21.1)",
   {"GB300": "llama3.1_20260424_100757.csv", "GB200": "llama3.1_20260424_100750.csv"},
   {"GB300": {4096: (1703, 1248), 8192: (1856, 1435), 16384: (1915, 1507), 32768: (1953, 1490)},
    "GB200": {4096: (1408, 1148), 8192: (1574, 1332), 16384: (1708, 1328), 32768: (1622, 1226)}}),
  ("e99b0d0b54d2662d71ab981c61200968f7303cc2", "9.26 (backend 92600, frontend 1.27.0)",
   {"GB300": "llama3.1_20260724_040919.csv", "GB200": "llama3.1_20260724_040930.csv"},
   {"GB300": {4096: (1813, 1254), 8192: (1991, 1448), 16384: (2065, 1516), 32768: (2105, 1416)},
    "GB200": {4096: (1407, 1172), 8192: (1646, 1344), 16384: (1728, 1327), 32768: (1569, 1202)}})):
    for gpu, by_s in vals.items():
        path = f"benchmark/sdpa_benchmark_training/results/llama3.1/{gpu.lower()}/{files[gpu]}"
        for s_, pair in by_s.items():
            for direction, v in zip(("forward", "backward"), pair):
                rows.append(dict(id=f"cfe_{files[gpu][9:17]}_{gpu.lower()}_cudnn_bf16_causal_{direction[0]}wd_s{s_}",gpu=gpu,kernel="cuDNN",precision="bf16",direction=direction,causal="true",head_dim=128,seq_len=s_,batch=2,num_heads=64,tflops=v,
                    source=f"{CFE} {path} (commit {commit[:8]}), backend cudnn, data_type bfloat16, attn_mask top_left, deterministic_bwd False",
                    provenance=f"https://github.com/{CFE}/blob/{commit}/{path}",read_date=D,
                    notes=f"cuDNN {cudnn}; GQA 64 query / 8 KV heads; the harness's TFLOP/s count causal as half (4*b*h*s^2*d/2 forward: 16k forward on GB300 at 4.260 ms = 2065). GB300 and GB200 runs of one day, same cuDNN."))
# Azure ND MI300X v5: the same Flash Attention 2.0 harness, results in a fork of the guide (read 2026-12-01; these rows
# were first appended to the CSV by hand)
MI3="samuel-bohman/AI-benchmarking-guide"; MI3C="3de0c294fd1059a91a2c158712c4a078619d73e8"
for k,v in (("standard_attention_pytorch",145.9),("FlashAttention-2",328.6)):
    rows.append(dict(id=f"azure_mi300x_{k}_hd64_s8192",gpu="MI300X (Azure ND MI300X v5)",kernel=k,precision="not stated (fp16/bf16)",direction="not stated",causal="unknown",head_dim=64,seq_len=8192,batch=2,num_heads="",tflops=v,
        source=f"{AZ} results as forked at {MI3}, 'Azure_Results/ND_MI300X_v5_results.md' (commit {MI3C}), section 'Flash Attention 2.0'",
        provenance=f"https://github.com/{MI3}/blob/{MI3C}/Azure_Results/ND_MI300X_v5_results.md",read_date="2026-12-01",
        notes="Source: 'performance for a head dimension of 64, a batch size of 2, and a sequence length of 8192' (ROCm 6.8.1 as printed, HIP 6.2.41133). Number of heads, direction (fwd / fwd+bwd), causal flag and dtype not given. The same harness on H100 (hd128): FA2 327.9."))
# every row but primus_turbo.py's (the file's last block), so the two builders may run in either order
print(replace_rows(os.path.join(os.path.dirname(os.path.abspath(__file__)),"..","attention_kernels.csv"),
                   lambda i: not i.startswith("primus_turbo_mi300x_"), rows, cols))
