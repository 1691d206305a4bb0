"""Builds ../serving.csv: published LLM serving measurements (no MLPerf Inference)."""
import os, re

from parts_csv import new_row, write_csv
H = os.path.dirname(os.path.abspath(__file__)); D = "2026-11-30"
cols = ["id","engine","engine_version","model","precision","gpu","num_gpus","tp","pp","ep","dp","scenario","input_len","output_len","dataset","num_requests","batch_size","metric","value","unit","source","provenance","read_date","notes"]
rows = []
def add(**k):
    rows.append(new_row(cols, D, **k))
# ---- TensorRT-LLM perf-overview (v1.0 era) ----
TR = "NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md (commit 00f37686aa854010d68bcbd0f4ab000221541ca6), 'Throughput Measurements' tables"
TRU = "https://github.com/NVIDIA/TensorRT-LLM/blob/00f37686aa854010d68bcbd0f4ab000221541ca6/docs/source/performance/perf-overview.md"
nreq = {(128,128):30000,(128,2048):3000,(128,4096):1500,(1000,2000):1500,(2048,128):3000,(2048,2048):1500,(5000,500):1500,(1000,1000):3000,(500,2000):3000,(20000,2000):1000}
gpumap = {"B200":"B200-180GB (DGX B200)","GB200":"GB200-192GB (GB200 NVL72)","H200":"H200-SXM-141GB (DGX H200)","H100":"H100-SXM-80GB (DGX H100)"}
model = None; rtx = False; header = None
for line in open(os.path.join(H,"raw","trtllm_perf_overview_00f37686.md")):
    line = line.rstrip("\n")
    if line.startswith("#### "): model = line[5:].strip(); rtx = False; continue
    if line.startswith("RTX 6000 Pro"): rtx = True; continue
    if line.startswith("| Sequence Length"):
        header = [c.strip() for c in line.strip("|").split("|")][1:]; continue
    if line.startswith("|---") or not line.startswith("|"): continue
    cells = [c.strip() for c in line.strip("|").split("|")]
    isl, osl = map(int, cells[0].split("/"))
    for h, v in zip(header, cells[1:]):
        if not v: continue
        if rtx:
            m = re.match(r"\*\*(\d+) GPUs\*\*<br/>TP(\d+),PP(\d+) \((FP\d)\)", h); n, tp, pp, prec = int(m[1]), int(m[2]), int(m[3]), m[4]
            gpu = "RTX PRO 6000 Blackwell Server Edition"
        else:
            m = re.match(r"(\w+)<br/>TP(\d+) \((FP\d)\)", h); g, tp, prec = m[1], int(m[2]), m[3]; pp = 1; n = tp; gpu = gpumap[g]
        add(id=f"trtllm_v10_{model.replace(' ','_').replace('.','p')}_{gpu.split('-')[0].split(' ')[0]}{'_rtx' if rtx else ''}_tp{tp}pp{pp}_{prec}_{isl}_{osl}".lower(),
            engine="TensorRT-LLM (trtllm-bench, PyTorch backend)",engine_version="v1.0 perf-overview (page says 'NEW for v1.0')",model=model,
            precision=f"{prec.lower()} (NVIDIA ModelOpt checkpoint)",gpu=gpu,num_gpus=n,tp=tp,pp=pp,ep=("" ),scenario="offline max throughput (all requests queued at once)",
            input_len=isl,output_len=osl,dataset="synthetic fixed-length (prepare_dataset.py token-norm-dist, stdev 0)",num_requests=nreq[(isl,osl)],
            metric="total output throughput",value=int(v.replace(",","")),unit="output tokens/s (whole system)",source=TR,provenance=TRU,
            notes="Table value is 'Total Output Throughput (tokens/sec)' for the whole TP x PP group. kv_cache_free_gpu_mem_fraction often 0.95 (per page). MoE models run with an --ep size not printed in the table. CUDA graphs with padding enabled.")
# ---- Azure AI-benchmarking-guide: TensorRT-LLM on GB200 ----
AZ = "Azure/AI-benchmarking-guide, 'Azure_Results/ND_GB200_v6_results.md' (commit 2a370be6de9586d365feed77e014a73f25198f4d), 'End-to-End Inference Workloads - TensorRT-LLM'"
AZU = "https://github.com/Azure/AI-benchmarking-guide/blob/2a370be6de9586d365feed77e014a73f25198f4d/Azure_Results/ND_GB200_v6_results.md"
for mdl, tp, data in [("Llama 3.1 8B",1,[(128,128,41058),(128,1024,46703),(128,2048,39809),(500,2000,33836),(1024,1024,27944),(2048,2048,20341)]),
                      ("Llama 3 70B",4,[(128,128,13715),(128,1024,21626),(128,2048,21374),(500,2000,18279),(1024,1024,12376),(2048,2048,10642)])]:
    for isl,osl,v in data:
        add(id=f"azure_gb200_trtllm_{mdl.replace(' ','_').replace('.','p').lower()}_tp{tp}_{isl}_{osl}",engine="TensorRT-LLM",engine_version="not stated",model=mdl,precision="fp8 (as stated: 'FP8 quantization')",
            gpu="GB200 (Azure ND GB200 v6)",num_gpus=tp,tp=tp,scenario="throughput benchmark, 1000 requests",input_len=isl,output_len=osl,num_requests=1000,metric="throughput",value=v,unit="tokens/s (as printed: 'throughput(tokens/sec)')",
            source=AZ,provenance=AZU,notes="Whether tokens/s counts output tokens only or input+output is not stated. GB200 host has 4 GPUs; tp size as printed.")
# ---- Azure AI-benchmarking-guide: 'Tokens per second' with input 128 / output 8 (engine not stated in results files) ----
for sysk, gpu, path, commit, prec, data in [
  ("a100","A100-SXM4-80GB (Azure ND A100 v4)","Azure_Results/ND_A100_v4_results.md","3bb66cacc25632d8ece36bc1d5128c5ea886a60b","float16 (as stated)",
     [("Mistral 7B",1,64,858.61),("Llama 3 8B",1,64,828.11),("Llama 3 70B",8,16,298.99),("Llama 3 70B",8,32,416.85),("Llama 3 70B",8,64,492.29)]),
  ("h100","H100-SXM5-80GB (Azure ND H100 v5)","Azure Results/ND_H100_v5_results.md","f350e7e65b82cfcb9220b32b582bc34342d9c1a6","not stated",
     [("Mistral 7B",1,64,2696.04),("Llama 3 8B",1,64,2640.07),("Llama 3 70B",8,16,624.57),("Llama 3 70B",8,32,825.02),("Llama 3 70B",8,64,1077.84),("Llama 3 405B",8,32,251.5)]),
  ("h200","H200-SXM-141GB (Azure ND H200 v5)","Azure_Results/ND_H200_v5_results.md","7f20e5fa3b2f9a46d8404af1f6fb14b049d6d5cc","not stated",
     [("Mistral 7B",1,64,2822.37),("Llama 3 8B",1,64,2757.54),("Llama 3 70B",8,16,647.78),("Llama 3 70B",8,32,861.77),("Llama 3 70B",8,64,1145.14),("Llama 3 405B",8,96,333.47)])]:
    for mdl, ws, bs, v in data:
        add(id=f"azure_{sysk}_tps_{mdl.replace(' ','_').lower()}_ws{ws}_bs{bs}",engine="not stated in results file (Azure LLMBenchmark.py)",model=mdl,precision=prec,gpu=gpu,num_gpus=ws,scenario="fixed batch, input 128 / output 8",
            input_len=128,output_len=8,batch_size=bs,metric="tokens per second",value=v,unit="tokens/s (definition not stated)",source=f"Azure/AI-benchmarking-guide, '{path}' (commit {commit}), 'End-to-End Inference Workloads'",
            provenance=f"https://github.com/Azure/AI-benchmarking-guide/blob/{commit}/"+path.replace(" ","%20"),
            notes=("world size %d as printed ('with world size 8'); single-GPU rows have no world size printed (1 assumed). " % ws)+"Engine, parallel scheme and whether tokens/s includes prompt tokens are not stated; low completeness.")
# ---- SGLang large-scale EP (DeepSeek-V3) on H100 ----
SG = "LMSYS/SGLang blog 'Deploying DeepSeek with PD Disaggregation and Large-scale Expert Parallelism on 96 H100 GPUs' (May 5, 2025), lm-sys/lm-sys.github.io blog/2025-05-05-large-scale-ep.md (commit 2db4e4042b31f3c3c9f4f93068ae80946d25a115)"
SGU = "https://lmsys.org/blog/2025-05-05-large-scale-ep/"
for isl, v in [(1024,57674),(2048,54543),(4096,50302)]:
    add(id=f"sglang_dsv3_h100_prefill_ep32_{isl}",engine="SGLang (PD disaggregation, DeepEP, DeepGEMM, two-batch overlap)",engine_version="May 2025",model="DeepSeek-V3 (671B MoE)",precision="fp8 (DeepSeek-V3 native; DeepGEMM)",gpu="H100 80GB",num_gpus=32,ep=32,
        scenario="prefill nodes only (decode assumed unlimited)",input_len=isl,metric="prefill (input) throughput per node",value=v,unit="input tokens/s per 8-GPU node",source=SG+", 'Performance Analysis of Prefill and Decode Phases'",provenance=SGU,
        notes="4 nodes x 8 H100 (EP32), InfiniBand. Prompt lengths '1K, 2K, and 4K' (token counts 1024/2048/4096 assumed; the text elsewhere says 2000-token inputs). Up to 3.3x over a TP16 baseline.")
add(id="sglang_dsv3_h100_decode_ep72_2k",engine="SGLang (PD disaggregation, DeepEP low-latency, two-batch overlap)",engine_version="May 2025",model="DeepSeek-V3 (671B MoE)",precision="fp8",gpu="H100 80GB",num_gpus=72,ep=72,
    scenario="decode nodes only",input_len=2000,batch_size=256,metric="decode (output) throughput per node",value=22282,unit="output tokens/s per 8-GPU node",source=SG+", decode table 'SGLang (Default)'",provenance=SGU,
    notes="9 nodes (EP72), batch size 256 (per device, per the table), KV cache length 2,000. 5.2x over TP16 baseline. Text elsewhere: TTFT 2-5 s and ITL ~100 ms in this throughput-oriented setup.")
add(id="sglang_dsv3_h100_decode_ep72_simmtp",engine="SGLang (as above) + simulated MTP (slowed attention)",engine_version="May 2025",model="DeepSeek-V3 (671B MoE)",precision="fp8",gpu="H100 80GB",num_gpus=72,ep=72,
    scenario="decode nodes only, simulated MTP",input_len=4000,batch_size=128,metric="decode (output) throughput per node",value=17373,unit="output tokens/s per 8-GPU node",source=SG+", decode table",provenance=SGU,
    notes="KV cache length 4,000; 60% MTP acceptance assumed by the authors; dummy kernels make attention as slow as in DeepSeek's profile.")
add(id="sglang_dsv3_h100_prefill_4k_16k_tokens_per_device",engine="SGLang",engine_version="May 2025",model="DeepSeek-V3 (671B MoE)",precision="fp8",gpu="H100 80GB",num_gpus=32,ep=32,scenario="prefill, 16,384 tokens per device, default expert distribution",input_len=4096,batch_size=16384,
    metric="prefill throughput per node",value=50302,unit="input tokens/s per 8-GPU node",source=SG+", prefill profile table 'SGLang (Default)'",provenance=SGU,notes="With simulated perfect EPLB: 59,337; DeepSeek profile: 62,713 (not added as separate rows).")
add(id="sglang_dsv3_h100_prefill_4k_perfect_eplb",engine="SGLang",engine_version="May 2025",model="DeepSeek-V3 (671B MoE)",precision="fp8",gpu="H100 80GB",num_gpus=32,ep=32,scenario="prefill, 16,384 tokens per device, simulated perfect EPLB",input_len=4096,batch_size=16384,
    metric="prefill throughput per node",value=59337,unit="input tokens/s per 8-GPU node",source=SG+", prefill profile table",provenance=SGU,notes="Upper bound with random expert selection (perfect balance).")
add(id="sglang_dsv3_gb200_decode_2k",engine="SGLang (PD + large-scale EP, Blackwell DeepGEMM/DeepEP, CUTLASS MLA)",engine_version="June 2025",model="DeepSeek-V3/R1 671B",precision="fp8",gpu="GB200 (NVL72)",num_gpus=48,
    scenario="decode on 12 GB200 nodes (4 GPUs each), prefill on the remaining 2 nodes",input_len=2000,metric="decode throughput per GPU",value=7583,unit="output tokens/s per GPU",
    source="LMSYS/SGLang blog 'Deploying DeepSeek on GB200 NVL72 with PD and Large Scale EP (Part I)' (June 16, 2025), lm-sys/lm-sys.github.io blog/2025-06-16-gb200-part-1.md (commit 00766f6b72b99cccd775561f9f8d31e966e05e3f)",
    provenance="https://lmsys.org/blog/2025-06-16-gb200-part-1/",notes="'7,583 tokens per second per GPU for decoding ... a 2.7x speedup compared to the H100' for 2,000-token inputs; 12 decode nodes of a 14-node allocation (48 GPUs, 4 per tray assumed). Batch size not stated in text.")
add(id="vllm_dsr1_h200_wideep",engine="vLLM V1 (wide-EP, DBO, DeepEP, DeepGEMM) via llm-d",engine_version="v0.11-era (Dec 2025 blog)",model="DeepSeek-R1/V3 (671B MoE)",precision="fp8 (DeepGEMM default)",gpu="H200",
    scenario="multi-node wide-EP deployment, production-like (community benchmark on CoreWeave, InfiniBand ConnectX-7)",metric="sustained throughput per GPU",value=2200,unit="tokens/s per H200 ('2.2k')",
    source="vLLM blog 'vLLM Large Scale Serving: DeepSeek @ 2.2k tok/s/H200 with Wide-EP', vllm-project/vllm-project.github.io _posts/2025-12-17-large-scale-serving.md (commit 341df868aaea2ba96ba03b6a065ae5653ae05892)",
    provenance="https://blog.vllm.ai/2025/12/17/large-scale-serving.html",notes="Value printed as '2.2k' (rounded); earlier benchmarks '~1.5k tokens/s per GPU'. Whether decode or prefill+decode, GPU count and ISL/OSL are in linked llm-d material, not in this text.")

# ---- TensorRT-LLM perf-overview, v0.9.0 data (static batching, gptSessionBenchmark) ----
TR9 = "NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md, older version stating 'All data was generated using version 0.9.0' (stored index file id 5995251461; commit not recorded)"
TR9U = "https://github.com/NVIDIA/TensorRT-LLM/blob/main/docs/source/performance/perf-overview.md (history; v0.9.0-era version)"
G9 = {"H200":"H200-SXM-141GB","H100":"H100-SXM5-80GB (H100-HBM3-80GB per methodology)","L40S":"L40S","A100":"A100 (variant not stated)"}
sec = None
for line in open(os.path.join(H,"raw","trtllm_v090_perf_overview.md")):
    line=line.strip()
    if line.startswith("## "): sec=line[3:].split(); continue
    c=[x.strip() for x in line.strip("|").split("|")]
    kind,g,prec=sec
    mdl=c[0]; bs=int(c[1]); tp=int(c[2]); isl=int(c[3])
    mnote = " 'LLaMA 7B/70B' are Llama2-7b/70b per the page's methodology section." if mdl.startswith("LLaMA") else ""
    if kind=="THROUGHPUT":
        osl=int(c[4]); v=int(c[5].replace(",",""))
        add(id=f"trtllm_v090_{g.lower()}_{mdl.replace(' ','_').lower()}_bs{bs}_tp{tp}_{isl}_{osl}",engine="TensorRT-LLM (gptSessionBenchmark, static batching, no paged KV)",engine_version="0.9.0",model=mdl,precision=prec.lower(),
            gpu=G9[g],num_gpus=tp,tp=tp,scenario="peak throughput, fixed batch (offline)",input_len=isl,output_len=osl,batch_size=bs,metric="output throughput per GPU",value=v,unit="output tokens/s per GPU",
            source=TR9+", 'Peak Throughput' table "+g+" ("+prec+")",provenance=TR9U,notes="Throughput (out tok/s/GPU) as printed; multiply by TP for the group."+mnote)
    else:
        v=float(c[4])
        add(id=f"trtllm_v090_ttft_{g.lower()}_{mdl.replace(' ','_').lower()}_tp{tp}_{isl}",engine="TensorRT-LLM (gptSessionBenchmark)",engine_version="0.9.0",model=mdl,precision=prec.lower(),
            gpu=G9[g],num_gpus=tp,tp=tp,scenario="batch 1, output length 1 (first-token latency = prefill latency)",input_len=isl,output_len=1,batch_size=1,metric="first token latency",value=v,unit="ms",
            source=TR9+", 'Low Latency' table "+g+" ("+prec+")",provenance=TR9U,notes="1st Token Latency (ms) at batch size 1; measured with output length 1 per the page's method. Static engine, not in-flight batching."+mnote)

# ---- TensorRT-LLM blogs: H200 launch (v0.5) and Falcon180B-H200 (v0.7a) ----
HL = "NVIDIA/TensorRT-LLM docs/source/blogs/H200launch.md, 'H200 FP8 Max throughput' table (stored index file id 25818167; commit not recorded)"
for mdl,bs,tp,isl,osl,v in [("Llama2-13B",1024,1,128,128,11819),("Llama2-13B",128,1,128,2048,4750),("Llama2-13B",64,1,2048,128,1349),("Llama2-70B",512,1,128,128,3014),
                            ("Llama2-70B",512,2,128,2048,1654),("Llama2-70B",64,1,2048,128,341),("Llama2-70B",32,1,2048,128,303)]:
    add(id=f"trtllm_v05_h200launch_{mdl.lower()}_bs{bs}_tp{tp}_{isl}_{osl}",engine="TensorRT-LLM (static batching)",engine_version="v0.5.0 (TensorRT 9.1.0.4)",model=mdl+" (printed as llama_13b / llama_70b)",precision="fp8",
        gpu="H200-SXM-141GB",num_gpus=tp,tp=tp,scenario="max throughput, largest power-of-2 batch that fits",input_len=isl,output_len=osl,batch_size=bs,metric="output throughput per GPU",value=v,unit="output tokens/s per GPU",
        source=HL,provenance="https://github.com/NVIDIA/TensorRT-LLM/blob/main/docs/source/blogs/H200launch.md",
        notes="'Preliminary measured performance, subject to change.' Two rows with identical model/TP/ISL/OSL differ only by batch (64 vs 32) as printed.")
FB = "NVIDIA/TensorRT-LLM docs/source/blogs/Falcon180B-H200.md, Llama-70B table (stored index file id 494479189; commit not recorded)"
for g,osl,bs,v in [(1,128,960,3803),(8,128,960,3803),(1,2048,192,2941),(8,2048,560,3163),(1,4096,96,1946),(8,4096,640,2263)]:
    add(id=f"trtllm_v07a_llama2_70b_h200_{g}gpu_128_{osl}",engine="TensorRT-LLM",engine_version="v0.7a",model="Llama2-70B",precision="fp8",gpu="H200-SXM-141GB",num_gpus=g,tp=1 if g==1 else "",
        scenario="max throughput; 1xH200 = TP1, 8xH200 = best TP/PP/DP config (not printed)",input_len=128,output_len=osl,batch_size=bs,metric="output throughput per GPU",value=v,unit="output tokens/s per GPU",
        source=FB,provenance="https://github.com/NVIDIA/TensorRT-LLM/blob/main/docs/source/blogs/Falcon180B-H200.md",
        notes="Batch sizes from the caption 'BS: (in order) 960, 960, 192, 560, 96, 640'. out_tps = output_seqlen*batch_size/total_latency/tp (per the blog). Preliminary.")

# ---- SGLang repo benchmark/benchmark_vllm_060/README.md (SGLang v0.3.0 vs vLLM v0.6.0) ----
SV = "sgl-project/sglang benchmark/benchmark_vllm_060/README.md (commit 120affb9613cc3f5bcd055ec09c7621d3ced0ebc)"
SVU = "https://github.com/sgl-project/sglang/blob/120affb9613cc3f5bcd055ec09c7621d3ced0ebc/benchmark/benchmark_vllm_060/README.md"
online = [("Llama 3.1 8B Instruct","A100-SXM4-80GB (as '1 x A100 80G')",1,[(4,1200,"SGLang",1564.17,31.98,13.17,11.93),(4,1200,"vLLM",1691.97,100.48,14.14,129.32),(8,2400,"SGLang",2175.02,35.68,17.85,14.41),(8,2400,"vLLM",2137.16,120.39,17.09,158.63)]),
          ("Llama 3.1 70B Instruct","H100 80GB",4,[(4,1200,"SGLang",3005.24,53.94,25.03,21.67),(4,1200,"vLLM",2915.60,179.15,23.58,231.23),(8,2400,"SGLang",4064.98,58.11,33.07,24.45),(8,2400,"vLLM",3752.38,207.12,29.15,275.32)])]
for mdl,gpu,tp,data in online:
    for rps,n,eng,e2e,ttft,tpot,itl in data:
        for met,v in (("median E2E latency",e2e),("median TTFT",ttft),("median TPOT",tpot),("median ITL",itl)):
            add(id=f"sgl030_vs_vllm060_{mdl.split()[2].lower()}_{eng.lower()}_rps{rps}_{met.split()[1].lower()}",engine=eng+(" (bench via sglang.bench_serving)"),engine_version="SGLang v0.3.0" if eng=="SGLang" else "vLLM v0.6.0 (--num-scheduler-steps 10)",
                model=mdl,precision="bf16 (default; not stated)",gpu=gpu,num_gpus=tp,tp=tp,scenario=f"online, Poisson request rate {rps} req/s",dataset="ShareGPT",num_requests=n,metric=met,value=v,unit="ms",source=SV+", 'Online benchmark results'",provenance=SVU,
                notes="Radix cache disabled for SGLang; SGLang --enable-torch-compile on the 8B run; vLLM max_model_len 4096. Request rate is the bench_serving --request-rate.")
offline = [("Llama 3.1 8B Instruct","A100-SXM4-80GB (as '1 x A100 80G')",1,[("SGLang",22.03,4281.51),("vLLM",21.27,4132.37)]),("Llama 3.1 70B Instruct","H100 80GB",4,[("SGLang",19.84,3856.01),("vLLM",19.04,3700.64)])]
for mdl,gpu,tp,data in offline:
    for eng,rq,otok in data:
        for met,v,u in (("request throughput",rq,"req/s"),("output token throughput",otok,"output tokens/s (whole group)")):
            add(id=f"sgl030_vs_vllm060_{mdl.split()[2].lower()}_{eng.lower()}_offline_{met.split()[0]}",engine=eng,engine_version="SGLang v0.3.0" if eng=="SGLang" else "vLLM v0.6.0 (--num-scheduler-steps 10)",
                model=mdl,precision="bf16 (default; not stated)",gpu=gpu,num_gpus=tp,tp=tp,scenario="offline, request rate inf",dataset="ShareGPT",num_requests=5000,metric=met,value=v,unit=u,source=SV+", 'Offline benchmark results'",provenance=SVU,
                notes="SGLang mem-frac 0.88 at TP4; vLLM gpu_memory_utilization default 0.9.")

# ---- SGLang repo benchmark/attention_backend/NVIDIA_H200.md ----
SA = "sgl-project/sglang benchmark/attention_backend/NVIDIA_H200.md (commit 0c4ec4f9d0fd40c4f75258285c76c9de65524341)"
SAU = "https://github.com/sgl-project/sglang/blob/0c4ec4f9d0fd40c4f75258285c76c9de65524341/benchmark/attention_backend/NVIDIA_H200.md"
exps = [("bench_serving","DeepSeek-V3",8,"", [("fa3",1024,1024,2216.96,2268.68),("flashinfer",1024,1024,2226.81,2278.76),("fa3",8192,1024,8369.41,1078.81),("flashinfer",8192,1024,8373.39,1079.32),("fa3",8192,8192,1385.71,1482.43),("flashinfer",8192,8192,1418.84,1517.88)]),
        ("bench_serving","Meta-Llama-3.1-8B-Instruct",1,"", [("fa3",1024,1024,5232.96,5355.04),("flashinfer",1024,1024,4819.61,4932.05),("fa3",8192,1024,17652.56,2275.40),("flashinfer",8192,1024,13886.84,1790.00),("fa3",8192,8192,2419.37,2588.25),("flashinfer",8192,8192,1641.00,1755.54)]),
        ("bench_serving_spec_decode","DeepSeek-V3",8,"EAGLE (NextN draft), 3 steps, topk 1, 4 draft tokens, cuda-graph-max-bs 2, mem-fraction 0.8", [("fa3",1024,1024,739.87,757.13),("flashinfer",1024,1024,712.76,729.38),("fa3",8192,1024,4742.48,611.30),("flashinfer",8192,1024,4673.64,602.43),("fa3",8192,8192,862.90,923.14),("flashinfer",8192,8192,870.02,930.75)]),
        ("bench_serving_spec_decode","Meta-Llama-3.1-8B-Instruct",1,"EAGLE3, 3 steps, topk 1, 4 draft tokens, cuda-graph-max-bs 2, mem-fraction 0.8, dtype float16", [("fa3",1024,1024,3456.01,3536.64),("flashinfer",1024,1024,3375.78,3454.53),("flashinfer",8192,1024,10417.88,1342.85),("flashinfer",8192,8192,1230.00,1315.85)])]
for exp, mdl, tp, spec, data in exps:
    for attn, isl, osl, itok, otok in data:
        for met, v in (("input token throughput", itok), ("output token throughput", otok)):
            add(id=f"sgl_attnbackend_h200_{exp}_{mdl.split('-')[0].lower()}{'_ds' if 'Deep' in mdl else ''}_{attn}_{isl}_{osl}_{met.split()[0]}",engine=f"SGLang (attention backend {attn})",engine_version="not stated (2025 benchmark file)",
                model=mdl,precision="fp8 (DeepSeek-V3 native)" if "Deep" in mdl else ("float16" if spec else "bf16 (default; not stated)"),gpu="H200",num_gpus=tp,tp=tp,
                scenario=f"online, request rate 16 req/s, random dataset{'; speculative decoding: ' + spec if spec else ''}",input_len=isl,output_len=osl,dataset="random (sglang.bench_serving --dataset-name random)",num_requests=200,
                metric=met,value=v,unit=("input" if met.startswith("input") else "output")+" tokens/s (whole server)",source=SA+f", 'Experiment - {exp} | {mdl}' table",provenance=SAU,
                notes="Commands as printed: sglang.launch_server --attention-backend "+attn+(" --tp 8" if tp==8 else "")+"; bench_serving --request-rate 16 --num-prompts 200. At 16 req/s with 200 prompts the run may be arrival-limited rather than at max throughput. FA3 rows that failed ('Client failed with code 1') are omitted.")
write_csv(os.path.join(H,"..","serving.csv"), rows, cols)
print(len(rows))
import collections; print(collections.Counter(r['id'] for r in rows).most_common(2))
