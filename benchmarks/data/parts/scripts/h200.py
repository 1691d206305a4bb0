"""Builder of ``benchmarks/data/h200_runs.csv`` (``validate.h200``): the public H200 training step times found
with their full run configuration -- Google Cloud's GPU training recipes (github.com/AI-Hypercomputer/gpu-recipes),
whose NeMo README for each A3 Ultra (8 x H200 SXM) workload prints one DLLogger line of a run as "an example of an
entry in the DLLogger log", beside the recipe's NeMo 1.0 launcher YAML (the run config). One H100 row of the same
repository (A3 Mega, Llama 3 70B fp8, NeMo 24.07) pairs with the A3 Ultra Llama 3.1 70B fp8 row (``h100_pair``).

Run: ``python benchmarks/data/parts/scripts/h200.py`` (rewrites the CSV). The step times and the log lines'
step / consumed_samples / datetime are copied verbatim from the READMEs (read 2026-12-01 via the search index);
tests/test_h200_data.py checks consumed_samples = (step + 1) x GBS (the line belongs to a run of this config's
global batch) and the derived tokens/s/GPU.

Searched and not usable (2026-12-01): NVIDIA/dgxc-benchmarking (DGX H100 reference only), Megatron-Bridge and NeMo
performance summaries (DGX-H100/B200/B300/GB200/GB300, no H200), togethercomputer/together-dgxc-benchmarking
(B200 only), Azure/AI-benchmarking-guide ND H200 v5 (GEMM / NCCL / inference only), NVIDIA's Dec 2023 NeMo +
H200 blog (charts only), the A3 Ultra MaxText recipes (JAX/XLA: no planner stack), the Megatron-Bridge / NeMo 2
A3 Ultra recipes of 2025-26 (no printed times).
"""
import sys
from pathlib import Path

from parts_csv import write_csv

OUT = Path(__file__).resolve().parents[2] / "h200_runs.csv"
REPO = "https://github.com/AI-Hypercomputer/gpu-recipes/blob/{c}/{p}"
A3U_NET = ("GCP A3 Ultra (a3-ultragpu-8g): 8 x H200 NVLink4/NVSwitch intra-node; 8 x ConnectX-7 400 Gb/s "
           "GPUDirect RDMA over RoCE = 3200 Gb/s per node (cloud.google.com/compute/docs/gpus/gpu-network-bandwidth, "
           "as hardware_catalog/data/instances.csv a3-ultragpu-8g cites it)")
A3M_NET = ("GCP A3 Mega (a3-megagpu-8g): 8 x H100 NVLink4/NVSwitch intra-node; 8 GPU NICs x 200 Gb/s GPUDirect-TCPXO "
           "(TCP over Ethernet) = 1600 Gb/s for GPU traffic (the catalog's 1800 Gb/s counts the host NIC too)")
FP8 = "fp8 (TE {fmt}, per-tensor delayed scaling: fp8_amax_history_len 1024, fp8_amax_compute_algo max)"
LOGNOTE = ("Measured: the one DLLogger line the README prints as 'an example of an entry in the DLLogger log' "
           "('train_step_timing in s' {t} at step {s}, {dt}); not an average. Its consumed_samples {cs} = (step+1) x GBS {g} "
           "ties it to this config's global batch. ")
rows = [
 dict(id="h200_a3u_nemo2407_llama31-70b_fp8_256", model="Llama 3.1 70B", params_b=70, layers=80, hidden=8192, heads=64,
      kv_heads=8, ffn_hidden=28672, vocab=50432, seq_len=8192, moe_experts="", moe_topk="", global_batch_seqs=1024,
      micro_batch=1, tp=2, pp=4, dp=32, cp=1, vpp=20,
      zero_or_fsdp="distributed optimizer (distributed_fused_adam, grad_sync_dtype bf16)", recompute="none; sequence parallel",
      precision=FP8.format(fmt="E4M3 (fp8_e4m3 true, which NeMo takes before fp8_hybrid)"), gpu="H200-SXM-141GB (GCP A3 Ultra)",
      num_gpus=256, value=20.021318435668945, step=15, dt="2024-12-13 19:13:47", cs=16384, tp_overlap="none", inter=3200, net=A3U_NET,
      container="pytorch-gpu-nemo-nccl:nemo24.07-gib1.0.3-A3U (NVIDIA NeMo 24.07, NeMo 1.0 launcher config, Megatron-Core GPT)",
      readme="training/a3ultra/llama-3.1-70b/nemo-pretraining-gke/README.md", commit="1a3020bb30db472ce7b0169c34f42150402e58af",
      cfg="src/frameworks/a3ultra/nemo-configs/llama-3.1-70b-256gpus-a3ultra-fp8.yaml", cfg_commit="7fa451814399239e2b82d0cedf7ce308424800e9",
      extra=("32 nodes (the README's only size; its metrics command: --num_accelerators 256). Config: TP2 PP4 VP20 CP1 MBS1 GBS1024 seq 8192, "
             "sequence_parallel true, ub_tp_comm_overlap false, overlap_p2p_comm true, no activation checkpointing, distributed_fused_adam "
             "(overlap_grad_sync/param_sync true, grad_sync_dtype bf16), fp8_params true (not modelled), use_flash_attention true, "
             "mock data with the GPT-2 BPE tokenizer: vocab 50257 padded to 128 x TP = 50432 (not Llama's 128256); run.name says bf16, "
             "model.fp8 is true. The same log line is in the later README training/a3ultra/llama3-1-70b/nemo-pretraining-gke/README.md "
             "@4aa46472 (config renamed llama3-1-70b-256gpus-a3ultra-fp8.yaml, not in the index)."), pair="llama70b_fp8_nemo2407"),
 dict(id="h200_a3u_nemo2412_llama31-405b_fp8_576", model="Llama 3.1 405B", params_b=405, layers=126, hidden=16384, heads=128,
      kv_heads=16, ffn_hidden=53248, vocab=51200, seq_len=8192, moe_experts="", moe_topk="", global_batch_seqs=2016,
      micro_batch=1, tp=8, pp=9, dp=8, cp=1, vpp=14,
      zero_or_fsdp="distributed optimizer (mcore_distributed_optim, grad_sync_dtype bf16)", recompute="none; sequence parallel",
      precision=FP8.format(fmt="hybrid E4M3/E5M2"), gpu="H200-SXM-141GB (GCP A3 Ultra)",
      num_gpus=576, value=92.28738164901733, step=16, dt="2025-02-10 17:58:51", cs=34272, tp_overlap="none", inter=3200, net=A3U_NET,
      container="pytorch-gpu-nemo-nccl:nemo24.12-gib1.0.3-A3U (NVIDIA NeMo 24.12, NeMo 1.0 launcher config, Megatron-Core GPT)",
      readme="training/a3ultra/llama-3.1-405b/nemo-pretraining-gke/README.md", commit="1a3020bb30db472ce7b0169c34f42150402e58af",
      cfg="src/frameworks/a3ultra/nemo-configs/llama-3.1-405b-576gpus-a3ultra-fp8.yaml", cfg_commit="1a3020bb30db472ce7b0169c34f42150402e58af",
      extra=("72 nodes (README test environment; metrics command --num_accelerators 576). Config: TP8 PP9 VP14 (one layer per chunk) "
             "CP1 MBS1 GBS2016 seq 8192, sequence_parallel true, ub_tp_comm_overlap false, overlap_p2p_comm true, tp_only_amax_red true, "
             "defer_embedding_wgrad_compute true, no activation checkpointing, mcore_distributed_optim (overlap_grad_sync/param_sync "
             "true, grad_sync_dtype bf16), mock data with the GPT-2 BPE tokenizer: vocab 50257 padded to 128 x TP = 51200. The config "
             "is the one at the README's commit; the same log line is also in the later README training/a3ultra/llama3-1-405b/"
             "nemo-pretraining-gke/README.md @0355c388, whose renamed config (llama3-1-405b-576gpus-a3ultra-fp8.yaml @4aa46472) sets "
             "ub_tp_comm_overlap true; another stored version of this path (@0e8ade8c) runs distributed_fused_adam without "
             "overlap_p2p_comm. Which one produced the line is not stated."),
      pair=""),
 dict(id="h200_a3u_nemo2407_mixtral-8x7b_bf16_256", model="Mixtral 8x7B", params_b=47, layers=32, hidden=4096, heads=32,
      kv_heads=8, ffn_hidden=14336, vocab=50304, seq_len=4096, moe_experts=8, moe_topk=2, global_batch_seqs=1024,
      micro_batch=2, tp=1, pp=1, dp=256, cp=1, vpp="",
      zero_or_fsdp="distributed optimizer (mcore_distributed_optim, grad_sync_dtype bf16)", recompute="none",
      precision="bf16", gpu="H200-SXM-141GB (GCP A3 Ultra)",
      num_gpus=256, value=2.7396187782287598, step=26, dt="2024-12-03 15:20:12", cs=27648, tp_overlap="none", inter=3200, net=A3U_NET,
      container="pytorch-gpu-nemo-nccl:nemo24.07-gib1.0.3-A3U (NVIDIA NeMo 24.07, NeMo 1.0 launcher config, Megatron-Core GPT)",
      readme="training/a3ultra/mixtral-8x7b/nemo-pretraining-gke/README.md", commit="19794be32f2aad30970ea4696e714c35f68640b7",
      cfg="src/frameworks/a3ultra/nemo-configs/mixtral-8x7b-256gpus-a3u-bf16.yaml", cfg_commit="78012f9332adf08c40ed1f1c8a830fd9a1327cda",
      extra=("EP=8. 256 GPUs assumed: the README runs 32 (default) or 64 nodes with the same GBS 1024 and its metrics command, "
             "'running the default configuration with 32 nodes', takes --num_accelerators 256; the log line does not say which. "
             "Config: TP1 PP1 EP8 MBS2 GBS1024 seq 4096, 8 experts top-2, moe_token_dispatcher_type alltoall, moe_grouped_gemm false "
             "(SequentialMLP: one GEMM per local expert), token-dropping: moe_expert_capacity_factor 1.0 with "
             "moe_pad_expert_input_to_capacity true, sequence_parallel false, no activation checkpointing, mcore_distributed_optim "
             "(overlap_grad_sync/param_sync true, grad_sync_dtype bf16), use_flash_attention true, mock data with the GPT-2 BPE "
             "tokenizer: vocab 50257 padded to 128 x TP = 50304."), pair=""),
 dict(id="h200_a3mega-h100_nemo2407_llama3-70b_fp8_128", model="Llama 3 70B", params_b=70, layers=80, hidden=8192, heads=64,
      kv_heads=8, ffn_hidden=28672, vocab=50688, seq_len=8192, moe_experts="", moe_topk="", global_batch_seqs=1024,
      micro_batch=1, tp=4, pp=4, dp=4, cp=2, vpp=5,
      zero_or_fsdp="distributed optimizer (mcore_distributed_optim, grad_sync_dtype bf16)", recompute="none; sequence parallel",
      precision=FP8.format(fmt="hybrid E4M3/E5M2"), gpu="H100-SXM5-80GB",
      num_gpus=128, value=45.81364059448242, step=36, dt="2024-10-10 21:24:01", cs=37888, tp_overlap="none", inter=1600, net=A3M_NET,
      container="nvcr.io/nvidia/nemo:24.07 built with the recipe's Dockerfile (src/docker/nemo-24.07; NeMo 1.0 launcher config, Megatron-Core GPT)",
      readme="training/a3mega/llama3-70b/nemo-pretraining-gke/README.md", commit="2a1f3e495d1e4b93d0118f19a7a75ed223c9495f",
      cfg="src/frameworks/a3mega/nemo-configs/llama3-70b-fp8.yaml", cfg_commit="822113d3e493ab234fffd18d272abb40d634d17e",
      extra=("The H100 pair of the A3 Ultra Llama 3.1 70B fp8 row (same source, same NeMo 24.07, same model and GBS; other layout and "
             "fabric). 128 GPUs assumed: the README's default job (16 nodes; its metrics command --num_accelerators 128); it also "
             "offers 512 GPUs at the same GBS, where this step time would be 358 tokens/s/GPU. Config: TP4 PP4 VP5 CP2 MBS1 GBS1024 "
             "seq 8192, sequence_parallel true, ub_tp_comm_overlap false, no activation checkpointing, mcore_distributed_optim "
             "(overlap_grad_sync/param_sync true, grad_sync_dtype bf16), use_flash_attention true, Wikipedia data tokenized with "
             "GPT-2 BPE: vocab 50257 padded to 128 x TP = 50688."), pair="llama70b_fp8_nemo2407"),
]
cols = ["id", "source", "table", "model", "params_b", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "seq_len",
        "moe_experts", "moe_topk", "global_batch_seqs", "micro_batch", "tp", "pp", "dp", "cp", "vpp", "zero_or_fsdp", "recompute",
        "precision", "gpu", "num_gpus", "gpus_per_node", "interconnect", "metric", "value", "notes", "tp_overlap", "inter_node_gbps",
        "container", "commit", "config_path", "config_commit", "provenance", "config_provenance", "read_date", "log_datetime",
        "log_step", "consumed_samples_printed", "tokens_per_s_per_gpu_derived", "h100_pair"]
out = []
for r in rows:
    out.append(dict(
        id=r["id"], source="AI-Hypercomputer/gpu-recipes (Google Cloud GPU training recipes), recipe README 'Analyze results' DLLogger example",
        table=f"{r['model']} {r['precision'].split(' ')[0]} (TP={r['tp']}, PP={r['pp']}, CP={r['cp']}, VP={r['vpp'] or 'n/a'}, MBS={r['micro_batch']}, GBS={r['global_batch_seqs']}, {r['num_gpus']} GPUs)",
        **{k: r[k] for k in ("model", "params_b", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "seq_len", "moe_experts",
                             "moe_topk", "global_batch_seqs", "micro_batch", "tp", "pp", "dp", "cp", "vpp", "zero_or_fsdp", "recompute",
                             "precision", "gpu", "num_gpus", "tp_overlap", "container", "commit")},
        gpus_per_node=8, interconnect=r["net"], metric="iteration_time_s", value=r["value"],
        notes=LOGNOTE.format(t=r["value"], s=r["step"], dt=r["dt"], cs=r["cs"], g=r["global_batch_seqs"]) + r["extra"],
        inter_node_gbps=r["inter"], config_path=r["cfg"], config_commit=r["cfg_commit"],
        provenance=REPO.format(c=r["commit"], p=r["readme"]), config_provenance=REPO.format(c=r["cfg_commit"], p=r["cfg"]),
        read_date="2026-12-01", log_datetime=r["dt"], log_step=r["step"], consumed_samples_printed=r["cs"],
        tokens_per_s_per_gpu_derived=round(r["seq_len"] * r["global_batch_seqs"] / r["value"] / r["num_gpus"], 1),
        h100_pair=r["pair"]))
write_csv(sys.argv[1] if len(sys.argv) > 1 else OUT, out, cols)
