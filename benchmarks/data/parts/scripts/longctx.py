"""Builds ../long_context.csv: long-context training/attention/prefill measurements with context/sequence parallelism."""
import os

from parts_csv import new_row, write_csv
H = os.path.dirname(os.path.abspath(__file__)); D = "2026-11-30"
cols = ["id","workload","model","gpu","system","num_gpus","seq_len_tokens","global_batch_seqs","tp","pp","dp","cp","method","precision","metric","value","unit","baseline_value","efficiency_pct","source","provenance","read_date","notes"]
rows = []
def add(**k):
    rows.append(new_row(cols, D, **k))
NEMO_OLD = "NVIDIA/NeMo docs/source/performance/performance_long_sequence.md (commit 0aa267117ae5f1ff9f8d8308ed3d1ba1ce939f82), 'LLAMA2-7B (FP8)' table"
NEMO_OLD_URL = "https://github.com/NVIDIA/NeMo/blob/0aa267117ae5f1ff9f8d8308ed3d1ba1ce939f82/docs/source/performance/performance_long_sequence.md"
t = [(4,4,768,1,1,4,1,768,"1.00"),(8,8,730,1,2,4,1,730,"1.00"),(16,16,660,2,1,8,1,660,"1.00"),(32,32,595,2,1,8,2,610,"1.03"),(64,64,534,4,1,8,2,574,"1.07"),
     (128,128,424,4,1,8,4,555,"1.31"),(256,256,392,4,1,8,8,549,"1.40"),(512,512,104,8,1,4,16,549,"5.28"),(1024,1024,26.5,8,1,4,32,536,"20.23")]
for sk,g,nocp,tp,pp,dp,cp,wcp,sp in t:
    common = dict(workload="training (pretraining)",model="Llama2-7B",gpu="H100-SXM5-80GB",system="DGX-H100",num_gpus=g,seq_len_tokens=sk*1024,precision="fp8 (Transformer Engine)",
                  unit="TFLOP/s per GPU",source=NEMO_OLD,provenance=NEMO_OLD_URL)
    add(id=f"nemo_llama2_7b_h100_cp_s{sk}k",tp=tp,pp=pp,dp=dp,cp=cp,method="Megatron-Core context parallelism (NeMo 24.03.01)",metric="model TFLOP/s per GPU (NeMo definition)",value=wcp,baseline_value=nocp,
        notes=f"With-CP config as printed; speedup with-CP/without-CP printed as {sp}. SeqLen printed as {sk}K (tokens = K*1024 assumed). Global batch not stated. Container NeMo24.03.01.framework. NB: NeMo performance docs are a sibling of the NeMo performance_summary.md already in the validation set (different file).", **common)
    add(id=f"nemo_llama2_7b_h100_nocp_s{sk}k",method="no CP: best model/data-parallel config within memory (config not given)",metric="model TFLOP/s per GPU (NeMo definition)",value=nocp,
        notes=f"Without-CP result; TP/PP/DP not printed. SeqLen printed as {sk}K.", **common)
NEMO_NEW = "NVIDIA/NeMo docs/source/performance/performance_long_sequence.md, later version with 'LLAMA3-8B (FP8) - B200' section (commit not recorded by the index excerpt)"
for sk,g,bs,tp,cp,dp,tf in [(8,2,512,1,1,2,1671),(16,4,256,1,1,4,1717),(32,8,128,1,2,4,1624),(64,16,64,1,4,4,1600),(128,32,32,2,4,4,1588),(256,64,16,4,4,4,1590),(512,128,8,4,8,4,1619),(1024,256,4,4,16,4,1608)]:
    add(id=f"nemo_llama3_8b_b200_s{sk}k",workload="training (pretraining)",model="Llama3-8B",gpu="B200",system="DGX-B200",num_gpus=g,seq_len_tokens=sk*1024,global_batch_seqs=bs,tp=tp,pp=1,dp=dp,cp=cp,
        method="Megatron-Core context parallelism (NeMo 25.04.rc2)",precision="fp8",metric="model TFLOP/s per GPU (NeMo definition)",value=tf,unit="TFLOP/s per GPU",
        source=NEMO_NEW,provenance="https://github.com/NVIDIA/NeMo/blob/main/docs/source/performance/performance_long_sequence.md",
        notes="PP not printed (assumed 1; TPxCPxDP equals the GPU count in every row). SeqLen printed in K. Container NeMo25.04.rc2. Values printed with thousands separators (e.g. '1,671').")
RFA = "zhuzilin/ring-flash-attention README.md (commit 01c8baf5eafc95c1a255690bcdb5359b600d765a), performance table"
RFA_URL = "https://github.com/zhuzilin/ring-flash-attention/blob/01c8baf5eafc95c1a255690bcdb5359b600d765a/README.md"
perf = [
 ("batch","fwd","8xH800","H800",591.5,73.9,[("ring_attn",38.5,"52.1"),("zigzag_ring",63.0,"85.2"),("stripe_attn",55.0,"74.4")]),
 ("batch","fwd+bwd","8xH800","H800",154.7,19.3,[("ring_attn",10.4,"53.9"),("zigzag_ring",17.4,"90.2"),("stripe_attn",16.0,"82.9")]),
 ("batch","fwd","8xA100","A100",373.4,46.7,[("ring_attn",24.0,"51.4"),("zigzag_ring",38.2,"81.7"),("stripe_attn",32.5,"69.6")]),
 ("batch","fwd+bwd","8xA100","A100",94.7,11.8,[("ring_attn",6.2,"52.5"),("zigzag_ring",10.6,"89.8"),("stripe_attn",9.75,"82.6")]),
 ("varlen","fwd","8xH800","H800",852.4,106.6,[("ring_attn",52.4,"49.1"),("zigzag_ring",74.8,"70.2"),("llama3_attn",60.8,"57.0")]),
 ("varlen","fwd+bwd","8xH800","H800",225.4,28.2,[("ring_attn",14.4,"51.1"),("zigzag_ring",21.4,"75.9"),("llama3_attn",16.4,"58.1")]),
 ("varlen","fwd","8xA100","A100",532.3,66.5,[("ring_attn",33.1,"49.8"),("zigzag_ring",47.9,"72.0"),("llama3_attn",34.3,"51.6")]),
 ("varlen","fwd+bwd","8xA100","A100",133.8,16.7,[("ring_attn",8.7,"52.1"),("zigzag_ring",13.4,"80.2"),("llama3_attn",9.7,"58.0")]),
]
for api,dirn,sysn,gpu,fa1,fa8,meths in perf:
    for m,v,eff in meths:
        add(id=f"ringfa_{api}_{dirn.replace('+','')}_{gpu.lower()}_{m}",workload=f"attention only ({dirn})",model="Meta-Llama-3.1-8B attention config (32 q heads, 8 kv heads, head dim 128)",gpu=gpu,system=sysn,num_gpus=8,
            seq_len_tokens=65536,cp=8,method=f"ring-flash-attention {m} ({api} api)",precision="bf16",metric="iterations per second",value=v,unit="iter/s",baseline_value=fa8,efficiency_pct=eff,
            source=RFA,provenance=RFA_URL,
            notes=f"Each GPU holds 8k tokens (total 64k over 8 GPUs, seq_len_tokens inferred as 8*8192). Baseline = single-GPU flash_attn on the local 8k chunk, {fa1} iter/s, divided by 8 ('theoretic'). Efficiency % as printed. Causal (benchmark code default causal=True; not restated in the README). Batch size per the benchmark script, not restated.")
add(id="usp_llama3_8b_208k_16xa800",workload="training",model="LLAMA3-8B",gpu="A800",system="two 8xA800 nodes",num_gpus=16,seq_len_tokens=208000,method="USP (hybrid Ulysses + Ring sequence parallelism)",metric="MFU",value=47,unit="percent",
    source="Fang & Zhao, 'USP: A Unified Sequence Parallelism Approach for Long Context Generative AI', arXiv:2405.07719, abstract",provenance="https://arxiv.org/abs/2405.07719",
    notes="'We achieved 47% MFU on two 8xA800 nodes using SP for the LLAMA3-8B model training using sequence length 208K.' 208K taken as 208,000 tokens (the abstract does not say whether K=1000 or 1024). Per-degree tables of the paper not read.")
CPI = "Yang et al., 'Context Parallelism for Scalable Million-Token Inference', arXiv:2411.01783, abstract"
add(id="cpinf_llama3_405b_1m_prefill",workload="inference prefill",model="Llama3 405B",gpu="H100",system="16 nodes x 8 H100 (RDMA)",num_gpus=128,seq_len_tokens=1000000,method="context parallelism, ring attention pass-KV/pass-Q",metric="prefill latency",value=77,unit="s",
    source=CPI,provenance="https://arxiv.org/abs/2411.01783",notes="'1M context prefill with Llama3 405B model in 77s (93% parallelization efficiency, 63% FLOPS utilization)'; GPU count from 'up to 128 H100 GPUs across 16 nodes'. Precision and the exact token count (1M = 10^6 or 2^20) not in the abstract.")
add(id="cpinf_llama3_405b_128k_prefill",workload="inference prefill",model="Llama3 405B",gpu="H100",system="H100 hosts (count for this point not in the abstract)",seq_len_tokens=128000,method="context parallelism, ring attention",metric="prefill latency",value=3.8,unit="s",
    source=CPI,provenance="https://arxiv.org/abs/2411.01783",notes="'128K context prefill in 3.8s'. GPU count not stated in the abstract (likely the 128-GPU setup). 128K taken as 128,000.")
ALST = "Bekman et al., 'Arctic Long Sequence Training: Scalable And Efficient Training For Multi-Million Token Sequences', arXiv:2506.13996v1, abstract"
for n,g,sysn,v,note in [("1gpu",1,"1x H100 80GB",500000,"'500K sequence length on a single H100 GPU'"),("1node",8,"1 node 8x H100",3700000,"'3.7M on a single 8xH100 GPU node'"),("4node",32,"4 nodes x 8 H100",15000000,"'over 15M on a 4 node cluster' (lower bound)")]:
    add(id=f"alst_llama8b_maxseq_{n}",workload="training (max trainable sequence length)",model="Llama 8B (Meta Llama-3.x 8B)",gpu="H100-80GB",system=sysn,num_gpus=g,method="ALST: Ulysses SP + tiled compute + activation-checkpoint offload (DeepSpeed/ArcticTraining)",
        metric="max trainable sequence length",value=v,unit="tokens",source=ALST,provenance="https://arxiv.org/html/2506.13996v1",
        notes=note+". Capacity (memory) result, not throughput; the same source says a basic HF pipeline runs out of memory above 32K.")
write_csv(os.path.join(H,"..","long_context.csv"), rows, cols)
print(len(rows))
