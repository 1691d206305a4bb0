"""Builder of ``benchmarks/data/mi300x_runs.csv`` (``validate.mi300x``): public AMD Instinct CDNA 3 (MI300X, MI325X)
training step times found with the run configuration beside them. No MI300X/MI325X step time was in the
development data before (README "MFU envelope"); the planner prices these GPUs with microbenchmark priors
(planner/hardware/efficiency.py ``mamf_prior``, ``CDNA3_MEASURED``), which these rows check, not fit.

Sources (read 2026-12-01 via the search index; every value is copied from the log or JSON the repository stores):

* hisohara/ai-scripts (an AMD engineer's public scripts for AMD Accelerator Cloud), AAC11 = MI325X (README:
  "Primus evaluation on AAC11 (MI325X)"; the Slurm partition ``256C8G1H_MI325X_Ubuntu22``; the logs' "hip mem
  ... total" 255.98 GB = MI325X's 256 GB): three Primus (Megatron backend, rocm/primus:v25.9_gfx942) logs,
  training/03_primus/run-{llama2-7B-8N,llama2-70B-2N,mixtral-8x7B-8N}.log, and one ROCm Megatron-LM
  (rocm/megatron-lm:v25.9_gfx942, examples/llama/train_llama3.sh) log, training/04_megatron-pyxis/
  megatron-pyxis-12384.out. The Primus value is the log's own running mean over iterations 3-50 (Primus
  ``log_avg_skip_iterations: 2``, ``log_avg_reset_interval: 50``: "elapsed time per iteration (ms): now/mean"),
  taken from its last line; the Megatron-LM value is the mean train_llama3.sh prints ("elapsed time per
  iteration:", its ``mean_log_value.py`` over the logged iterations but the first two and the last).
* DmitriiNikolaevAtAmd/tprimat (an AMD engineer's Primus vs NeMo comparison), output_prev/train_amd_prim_llama.json:
  8 x "AMD Instinct MI300X" (the JSON's gpu_info), Primus Megatron, Llama 3.1 8B; the JSON's avg_step_time_seconds
  (mean of steps 2-500; the 22.8 s first step left out: total_time_seconds 1235.26 = 22.79 + 499 x 2.4298).

Run: ``python benchmarks/data/parts/scripts/mi300x.py`` (rewrites the CSV). tests/test_mi300x_data.py checks each
row's printed tokens/s/GPU against GBS x seq / step / GPUs (it pins the sequence length and GPU count), the
layout products and the provenance.

Searched and not usable (2026-12-01): ROCm/cvs training configs (``result_dict`` thresholds, the same 380 TFLOP/s /
6500 tokens floors copied across models and GPUs: pass limits, not measurements); AMD's ROCm performance-results
page and the ROCm 7 / MI355X blogs (charts and ratios); ROCm/TransformerEngine issues #72/#78 (GPT-2 XL 1-GPU and a
4-layer Llama 3 70B FP8 proxy with SemiAnalysis' unpublished FSDP script: published_mfu.csv mi300x_sa_*);
hisohara/ai-scripts training/02_megatron (Llama 2 7B FP8 on 8 GPUs of AAC8, 10.236 s: which GPU AAC8 has is not
stated); tprimat output/benchmark_rocm_llama.json (its tokens/s are 4x GBS x seq / step: inconsistent) and
train_amd_prim_qwen.json (its run script, hence precision, not found); PEAK_THROUGHPUT_GUIDE.md there (derived
figures); MaxText/JAX runs (no planner stack); MLPerf results (forbidden).
"""
import sys
from pathlib import Path

from parts_csv import PR2_COLUMNS, write_csv

OUT = Path(__file__).resolve().parents[2] / "mi300x_runs.csv"
HISO = "https://github.com/hisohara/ai-scripts/blob/{c}/{p}"
PRIMUS = "https://github.com/AMD-AGI/Primus/blob/{c}/{p}"
TPRIMAT = "https://github.com/DmitriiNikolaevAtAmd/tprimat/blob/{c}/{p}"
AAC11_NET = ("AMD Accelerator Cloud AAC11: 8 x MI325X OAM (Infinity Fabric) per node; 8 Broadcom Thor2 400G RoCE NICs "
             "(NCCL_IB_HCA bnxt_re0..8 less bnxt_re6, README's Broadcom P1400G driver) = 3200 Gb/s per node")
FP8_DELAYED = ("fp8 (TE hybrid E4M3/E5M2, per-tensor delayed scaling: Megatron --fp8-format hybrid, --fp8-recipe default "
               "delayed{extra})")
PRIMUS_LOG = ("Measured: the log's running mean 'elapsed time per iteration (ms): {now}/{mean}' at iteration 50/50 "
              "(Primus log_avg_skip_iterations 2: the mean of iterations 3-50); its 'tokens per GPU (tokens/s/GPU)' "
              "mean {tok} and 'throughput per GPU (TFLOP/s/GPU)' mean {tf}; 'hip mem usage/free/total' {mem}. ")
#: every row's stack options: the CK / AITER flash attention as the ``fa2`` entry, and the weight gradient accumulated
#: by a separate pass (the job option ``gradient_accumulation_fusion: false``, which sets
#: planner.model.stacks.Stack.grad_accum_pass; until qa68 the row-only field itself): all five configs turn
#: Megatron's gradient-accumulation fusion off -- the Primus YAMLs (llama2_7B / llama2_70B / mixtral_8x7B_v0.1-pretrain
#: @2386c727, MI300X/llama3.1_8B-BF16-pretrain @711b97cf) set ``gradient_accumulation_fusion: false``, train_llama3.sh
#: @02b8aa76 passes ``--no-gradient-accumulation-fusion`` -- so each wgrad GEMM writes a bf16 ``param.grad`` that
#: Megatron-Core's DDP backward hook adds into the fp32 ``main_grad`` (distributed_data_parallel.py
#: ``_make_backward_post_hook``: ``param.main_grad.add_(param.grad.data)``), every micro-batch. Under torch FSDP2 (the
#: two 70B rows) the planner prices that add on the 1/dp shard as nothing (step_time: ZeRO-2/3 not modelled).
ROW_OPTIONS = "attn_kernel=fa2;gradient_accumulation_fusion=False"
#: the fp8 rows' options besides: Megatron's ``--fp8-param-gather`` off (the job option ``fp8_param_gather: false``,
#: planner.model.stacks Stack.fp8_param_gather), where the registry's megatron-core turns it on as NeMo / Megatron-Bridge
#: configure it. Each run leaves it off: the Llama 2 7B run's own argument print reads ``fp8_param_gather ... False``
#: (2025-11-15 12:12:36, rank 0), Primus's trainer_base.yaml sets ``fp8_param_gather: false`` and the two Primus
#: commands do not override it, and train_llama3.sh @02b8aa76 passes no ``--fp8-param-gather`` (Megatron-LM
#: arguments.py: store_true, default off). So the GPUs hold 16-bit weights and TE's cached FP8 copy, and the
#: distributed optimizer / FSDP2 gather 16-bit parameters (mi30053: +0.06 / +0.23 / +0.35 points on the 7B / Llama 2
#: 70B / Llama 3 70B rows, the FSDP2 rows' exposed ZeRO-3 gathers; the 7B row's predicted memory 105.1 -> 111.4 GiB
#: against the 126.0 GiB its log's 'hip mem usage' reads)
FP8_ROW_OPTIONS = ROW_OPTIONS + ";fp8_param_gather=False"
rows = [
 dict(id="mi325x_aac11_primus_llama2-7b_fp8_64", model="Llama 2 7B", params_b=7, layers=32, hidden=4096, heads=32,
      kv_heads=32, ffn_hidden=11008, vocab=32000, seq_len=4096, moe_experts="", moe_topk="", global_batch_seqs=2048,
      micro_batch=4, tp=1, pp=1, dp=64, cp=1, vpp="",
      zero_or_fsdp="distributed optimizer (Primus config: overlap_param_gather true, which Megatron allows only with it)",
      recompute="none", precision=FP8_DELAYED.format(extra="; the run's --fp8 hybrid"), gpu="MI325X-256GB (AMD Accelerator Cloud AAC11)",
      num_gpus=64, value=6.4027, tok=20472.8, tf=943.5, stack_options=FP8_ROW_OPTIONS,
      container="rocm/primus:v25.9_gfx942 (Primus @e16b27b, Megatron-LM backend, Primus-Turbo)",
      log="training/03_primus/run-llama2-7B-8N.log", log_commit="4fb66ab5ffd47c65105d3125ca02a482fdebf701",
      cfg="examples/megatron/configs/llama2_7B-pretrain.yaml", cfg_commit="2386c7272a4a1765e50052a847b3869bab03232d",
      extra=(PRIMUS_LOG.format(now=6403.1, mean=6402.7, tok="20472.8", tf="943.5", mem="126.03GB/129.96GB/255.98GB")
             + "8 nodes (gpu-4..gpu-30), 2025-11-15. Command (README RUN.sh): EXP=examples/megatron/configs/llama2_7B-pretrain.yaml "
             "run_slurm_pretrain.sh --global_batch_size 2048 --fp8 hybrid. Config (stored version @2386c727; the run's @e16b27b is "
             "not in the index): MBS 4, seq 4096, TP1 PP1 EP1, overlap_grad_reduce/overlap_param_gather true, mock data, "
             "enable_primus_turbo / use_turbo_attention true (Primus-Turbo's CK/aiter flash attention: the fa2 entry, "
             "i.e. the CDNA 3 prior's measured FA2 fraction). GA = 2048 / (64 x 4) = 8. Llama 2 tokenizer vocab 32000. "
             "The run's own argument print (rank 0, arguments.py, 2025-11-15 12:12:36; read mi30053) is what the row "
             "maps: fp8 hybrid, fp8_recipe delayed, fp8_amax_history_len 1024, fp8_amax_compute_algo max, fp8_wgrad True, "
             "fp8_param_gather False, first_last_layers_bf16 False, transformer_impl transformer_engine, "
             "use_turbo_parallel_linear False (every linear a TE module on hipBLASLt, not Primus-Turbo's GEMM), "
             "use_turbo_attention True, enable_turbo_attention_float8 False, use_distributed_optimizer True, "
             "overlap_grad_reduce / overlap_param_gather True, grad_reduce_in_bf16 False, gradient_accumulation_fusion "
             "False, recompute_granularity None, patch_zero_bubble False, untie_embeddings_and_output_weights True. Its "
             "printed performance-tuning environment (GPU_MAX_HW_QUEUES 2, CUDA_DEVICE_MAX_CONNECTIONS 1, "
             "NVTE_CK_USES_BWD_V3 1, NVTE_USE_CAST_TRANSPOSE_TRITON 1, NVTE_USE_OPTIMIZED_HIPIFIED_CAST_TRANSPOSE 0) names "
             "no TE_HIPBLASLT_TUNING_* variable: with TE_HIPBLASLT_TUNING_RUN_COUNT at its default 0 ROCm TE "
             "(transformer_engine/common/gemm/rocm_gemm.cu) takes hipBLASLt's first heuristic algorithm for each GEMM, "
             "unless an algorithm cache it was pointed at holds one.")),
 dict(id="mi325x_aac11_primus_llama2-70b_fp8_16", model="Llama 2 70B", params_b=70, layers=80, hidden=8192, heads=64,
      kv_heads=8, ffn_hidden=28672, vocab=32000, seq_len=4096, moe_experts="", moe_topk="", global_batch_seqs=640,
      micro_batch=10, tp=1, pp=1, dp=16, cp=1, vpp="",
      zero_or_fsdp="torch FSDP2 (Primus config: use_torch_fsdp2 true, use_distributed_optimizer false)",
      recompute="full (block, recompute_num_layers 80 = every layer)",
      precision=FP8_DELAYED.format(extra="; the run's --fp8 hybrid --no_fp8_weight_transpose_cache true"),
      gpu="MI325X-256GB (AMD Accelerator Cloud AAC11)",
      num_gpus=16, value=92.6319, tok=1768.7, tf=786.2, stack_options=FP8_ROW_OPTIONS,
      container="rocm/primus:v25.9_gfx942 (Primus @e16b27b, Megatron-LM backend, Primus-Turbo)",
      log="training/03_primus/run-llama2-70B-2N.log", log_commit="4fb66ab5ffd47c65105d3125ca02a482fdebf701",
      cfg="examples/megatron/configs/llama2_70B-pretrain.yaml", cfg_commit="2386c7272a4a1765e50052a847b3869bab03232d",
      extra=(PRIMUS_LOG.format(now=92574.9, mean=92631.9, tok="1768.7", tf="786.2", mem="227.04GB/28.94GB/255.98GB")
             + "2 nodes (gpu-11, gpu-12), 2025-11-14. Command (README RUN.sh): --micro_batch_size 10 --global_batch_size 640 "
             "--recompute_num_layers 80 --no_fp8_weight_transpose_cache true --fp8 hybrid. Config (stored @2386c727): seq 4096, TP1 "
             "PP1, use_torch_fsdp2 true, recompute_granularity full, recompute_method block, Primus-Turbo attention. "
             "GA = 640 / (16 x 10) = 4.")),
 dict(id="mi325x_aac11_primus_mixtral-8x7b_bf16_64", model="Mixtral 8x7B", params_b=47, layers=32, hidden=4096, heads=32,
      kv_heads=8, ffn_hidden=14336, vocab=32000, seq_len=4096, moe_experts=8, moe_topk=2, global_batch_seqs=256,
      micro_batch=2, tp=1, pp=1, dp=64, cp=1, vpp="",
      zero_or_fsdp="distributed optimizer (Primus config: overlap_param_gather true)", recompute="none",
      precision="bf16", gpu="MI325X-256GB (AMD Accelerator Cloud AAC11)",
      num_gpus=64, value=3.0995, tok=5294.6, tf=439.1, stack_options=ROW_OPTIONS,
      container="rocm/primus:v25.9_gfx942 (Primus @e16b27b, Megatron-LM backend)",
      log="training/03_primus/run-mixtral-8x7B-8N.log", log_commit="4fb66ab5ffd47c65105d3125ca02a482fdebf701",
      cfg="examples/megatron/configs/mixtral_8x7B_v0.1-pretrain.yaml", cfg_commit="2386c7272a4a1765e50052a847b3869bab03232d",
      extra=(PRIMUS_LOG.format(now=3060.8, mean=3099.5, tok="5294.6", tf="439.1", mem="133.18GB/122.81GB/255.98GB")
             + "EP=8. 8 nodes, 2025-11-15. Command (README RUN.sh): --micro_batch_size 2 --global_batch_size 256 (no --fp8: "
             "bf16). Config (stored @2386c727): seq 4096, TP1 PP1 EP8, moe_router_force_load_balancing true (balanced "
             "routing), moe_use_legacy_grouped_gemm true (grouped GEMM), moe_permute_fusion false; the token dispatcher is "
             "not set in the overrides (the stack default taken). GA = 256 / (64 x 2) = 2. The run's own argument print "
             "(rank 0, arguments.py, 2025-11-15 12:53:26) differs from that YAML on one key and settles the rest: "
             "moe_use_legacy_grouped_gemm False (TE's grouped experts; 8 experts on EP 8 = one local expert a GPU, one "
             "GEMM either way), moe_token_dispatcher_type alltoall, moe_permute_fusion False, moe_grouped_gemm True, "
             "moe_aux_loss_coeff 0.01, moe_router_force_load_balancing True, enable_primus_turbo / use_turbo_attention / use_turbo_grouped_mlp / "
             "use_turbo_parallel_linear False (attention through ROCm TE's CK backend; ROCm/TransformerEngine "
             "fused_attn_ck.cpp @5ed885e6 defaults NVTE_CK_USES_FWD_V3 to 1, the container's TE version not read, and "
             "the log sets NVTE_CK_USES_BWD_V3=1: the asm v3 kernels Primus-Turbo's AITER path runs), gradient_accumulation_fusion False, overlap_grad_reduce / overlap_param_gather True, "
             "use_distributed_optimizer True, recompute_granularity None, patch_zero_bubble False.")),
 dict(id="mi325x_aac11_megatronlm_llama3-70b_fp8_64", model="Llama 3 70B", params_b=70, layers=80, hidden=8192, heads=64,
      kv_heads=8, ffn_hidden=28672, vocab=128256, seq_len=8192, moe_experts="", moe_topk="", global_batch_seqs=256,
      micro_batch=4, tp=1, pp=1, dp=64, cp=1, vpp="",
      zero_or_fsdp="torch FSDP2 (train_llama3.sh FSDP=1: --use-torch-fsdp2; sequence parallel disabled by the script)",
      recompute="full (block, --recompute-num-layers 80 = every layer)",
      precision=FP8_DELAYED.format(extra="; train_llama3.sh TE_FP8=1: --fp8-format=hybrid --fp8-amax-history-len=1024 "
                                   "--fp8-amax-compute-algo=max; FP8_WEIGHT_TRANSPOSE_CACHE=0"),
      gpu="MI325X-256GB (AMD Accelerator Cloud AAC11)",
      num_gpus=64, value=19.1249, tok=1713.4, tf=824.9, stack_options=FP8_ROW_OPTIONS,
      container="rocm/megatron-lm:v25.9_gfx942 (= rocm/primus:v25.9_gfx942 image, /workspace/Megatron-LM, ROCm TE)",
      log="training/04_megatron-pyxis/megatron-pyxis-12384.out", log_commit="97db03fb7a4a3d976eb67126a3f4e4cff39d5702",
      cfg="examples/llama/train_llama3.sh", cfg_commit="02b8aa76d2fc0f99e0077ee932b771397db9c415", cfg_repo="ROCm/Megatron-LM",
      extra=("Measured: the summary train_llama3.sh prints after the run, 'elapsed time per iteration: 19124.914285714283' "
             "(ms; its mean_log_value.py over the logged iterations less the first two and the last: TOTAL_ITERS 10), with "
             "'throughput per GPU: 824.93' (TFLOP/s/GPU) and 'tokens/GPU/s: 1713.367156'. 8 nodes via Slurm/pyxis, "
             "2025-11-24. Command (README RUN.slurm): TOKENIZER_MODEL=meta-llama/Llama-3.1-70B MODEL_SIZE=70 FSDP=1 TP=1 MBS=4 "
             "BS=256 SEQ_LENGTH=8192 TE_FP8=1 RECOMPUTE=1 FP8_WEIGHT_TRANSPOSE_CACHE=0 MOCK_DATA=1 train_llama3.sh. Script "
             "(ROCm/Megatron-LM @02b8aa76, the stored version): RECOMPUTE=1 -> full/block over all layers; FSDP=1 -> "
             "--use-torch-fsdp2; USE_FLASH_ATTN default 1 -> --use-flash-attn (TE's CK fused attention on ROCm: the fa2 "
             "entry); --overlap-grad-reduce; GQA 8 groups. GA = 256 / (64 x 4) = 1. The README's link text calls it "
             "'Llama2 70B'; the script's MODEL_SIZE 70 is Llama 3 70B (ffn 28672, 8 KV heads) with the Llama 3.1 tokenizer "
             "(vocab 128256). GEMM_TUNING (default 1, not overridden) exports TE_HIPBLASLT_TUNING_RUN_COUNT=10 and "
             "TE_HIPBLASLT_TUNING_ALGO_COUNT=50: ROCm TE (transformer_engine/common/gemm/rocm_gemm.cu, hipBLASLt path) then "
             "times up to 50 of hipBLASLt's heuristic algorithms per GEMM shape, 10 calls each, and keeps the fastest, "
             "where the Primus rows (no TE_HIPBLASLT_TUNING_* in their logs) take the first; not priced (no stack or "
             "part rate tells a tuned hipBLASLt GEMM from a heuristic one).")),
 dict(id="mi300x_tprimat_primus_llama31-8b_bf16_8", model="Llama 3.1 8B", params_b=8, layers=32, hidden=4096, heads=32,
      kv_heads=8, ffn_hidden=14336, vocab=128256, seq_len=2048, moe_experts="", moe_topk="", global_batch_seqs=64,
      micro_batch=1, tp=1, pp=2, dp=4, cp=1, vpp="",
      zero_or_fsdp="distributed optimizer (the run script's config patch: use_distributed_optimizer True)",
      recompute="none", precision="bf16", gpu="MI300X-192GB (8 x AMD Instinct MI300X, one node)",
      num_gpus=8, value=2.4298, tok=6742.9, tf="", stack_options=ROW_OPTIONS,
      container="Primus (Megatron backend) on PyTorch 2.10.0.dev20251112+rocm7.1 (the JSON's gpu_info)",
      log="output_prev/train_amd_prim_llama.json", log_commit="516b342614a0945398fcffc6f81f26da528543ca", log_repo="tprimat",
      cfg="46_train_amd_prim_llama.sh", cfg_commit="d297f6938ea13afdc2cb87af7c63c8d8c51921f8", cfg_repo="tprimat",
      extra=("Measured: the JSON's avg_step_time_seconds 2.4298 (steps 2-500; 2.51 s over the first ~165 steps, 2.35 s "
             "after) with tokens_per_second_per_gpu 6742.94 = 64 x 2048 / 2.4298 / 8, timestamp 2026-02-02. Layout as the "
             "JSON records it (parallelism_config TP1_PP2_SP0: TP 1, PP 2, DP 4, GA 16; training_config GBS 64, MBS 1, seq "
             "2048); the stored run script (46_train_amd_prim_llama.sh @d297f693) passes PP 1 instead and names "
             "examples/megatron/configs/MI300X/llama3.1_8B-BF16-pretrain.yaml (bf16) with use_distributed_optimizer and "
             "use_flash_attn True: which script version produced the JSON is not stated, so the row carries that "
             "ambiguity. A small single-node run (the repository compares it with NeMo on H100).")),
]
cols = [*PR2_COLUMNS, "tokens_per_s_per_gpu_printed", "tflops_per_gpu_printed"]


def url(repo, commit, path):
    if repo == "tprimat":
        return TPRIMAT.format(c=commit, p=path)
    if repo == "ROCm/Megatron-LM":
        return f"https://github.com/ROCm/Megatron-LM/blob/{commit}/{path}"
    return (PRIMUS if repo == "primus" else HISO).format(c=commit, p=path)


out = []
for r in rows:
    mi300x = r["id"].startswith("mi300x")
    out.append(dict(
        id=r["id"],
        source=("DmitriiNikolaevAtAmd/tprimat benchmark JSON (Primus on 8 x MI300X)" if mi300x else
                "hisohara/ai-scripts AMD Accelerator Cloud AAC11 (MI325X) training logs"),
        table=f"{r['model']} {r['precision'].split(' ')[0]} (TP={r['tp']}, PP={r['pp']}, DP={r['dp']}, MBS={r['micro_batch']}, GBS={r['global_batch_seqs']}, {r['num_gpus']} GPUs)",
        **{k: r[k] for k in ("model", "params_b", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "seq_len", "moe_experts",
                             "moe_topk", "global_batch_seqs", "micro_batch", "tp", "pp", "dp", "cp", "vpp", "zero_or_fsdp", "recompute",
                             "precision", "gpu", "num_gpus", "stack_options", "container")},
        gpus_per_node=8, interconnect="one node of 8 MI300X (Infinity Fabric)" if mi300x else AAC11_NET,
        metric="iteration_time_s", value=r["value"], notes=r["extra"], tp_overlap="none", inter_node_gbps=3200,
        provenance=url(r.get("log_repo", "hiso"), r["log_commit"], r["log"]),
        config_provenance=url(r.get("cfg_repo", "primus"), r["cfg_commit"], r["cfg"]),
        read_date="2026-12-01", tokens_per_s_per_gpu_printed=r["tok"], tflops_per_gpu_printed=r["tf"]))
write_csv(sys.argv[1] if len(sys.argv) > 1 else OUT, out, cols)
