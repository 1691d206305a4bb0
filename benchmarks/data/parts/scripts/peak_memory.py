"""Builds benchmarks/data/parts/peak_memory.csv (run from the repository root: python
benchmarks/data/parts/scripts/peak_memory.py). Every measured value below is typed from the source
named in its row (README.md of this folder, `peak_memory.csv`); the torchtitan 2024-12 rows take their
run configuration from published_runs_2.csv (the same runs)."""
import sys
import pandas as pd

from parts_csv import write_csv
pr2 = pd.read_csv("benchmarks/data/published_runs_2.csv").set_index("id")
TT_SRC = ("pytorch/torchtitan benchmarks/llama3_h100_202412_torchtitan.md (torch 1963fc8, torchao eab345c, "
          "torchtitan 9dec370; Dec 2024)")
TT_URL = ("https://github.com/pytorch/torchtitan/blob/31a17bfdb70bab6f62a13d21816a5339b911d6e3/"
          "benchmarks/llama3_h100_202412_torchtitan.md")
TT_METRIC = "max_reserved"
TT_NOTE = ("Memory(GiB) column: torchtitan's logged 'memory', max_reserved_gib = torch.cuda.memory_stats()"
           "['reserved_bytes.all.peak'] (torchtitan/metrics.py; train.py logs it and resets the peak every "
           "log_freq steps), read at iteration 90; footnote 1: the maximum across all GPUs. ")
mem = {  # row id in published_runs_2.csv -> Memory(GiB) as printed
    "titan24_t1_8b_8_fsdp": 82.4, "titan24_t1_8b_8_fsdp_torchcompile": 77.0,
    "titan24_t1_8b_8_fsdp_torchcompile_float8": 76.8,
    "titan24_t2_8b_cp1_32768": 83.9, "titan24_t2_8b_cp2_65536": 84.2, "titan24_t2_8b_cp4_131072": 84.0,
    "titan24_t2_8b_cp8_262144": 84.5,
    "titan24_t3_8b_128_fsdp": 67.0, "titan24_t3_8b_128_fsdp_torchcompile": 62.0,
    "titan24_t3_8b_128_fsdp_torchcompile_float8": 61.8,
    "titan24_t4_70b_2d": 71.9, "titan24_t4_70b_2d_asynctp": 67.6,
    "titan24_t5_405b_1f1b": 82.5, "titan24_t5_405b_interleaved1f1b": 72.7,
    "titan24_t6_405b_cp1_32768": 75.3, "titan24_t6_405b_cp2_65536": 75.9, "titan24_t6_405b_cp4_131072": 77.1,
    "titan24_t6_405b_cp8_262144": 84.9,
}
COLS = ["id", "source", "provenance", "read_date", "date", "table", "model", "preset", "layers", "hidden", "heads",
        "kv_heads", "ffn_hidden", "vocab", "seq_len", "moe_experts", "moe_topk", "global_batch_seqs", "micro_batch",
        "grad_accum", "tp", "pp", "dp", "cp", "vpp", "zero_or_fsdp", "recompute", "precision", "optimizer", "gpu",
        "num_gpus", "gpus_per_node", "interconnect", "stack", "measured_gib", "metric", "rank_logged", "notes"]
rows = []
for rid, gib in mem.items():
    r = pr2.loc[rid]
    d = {c: r[c] for c in COLS if c in r.index}
    d.update(id=rid, source=TT_SRC, provenance=TT_URL, read_date="2026-11-30", date="2024-12", preset="",
             grad_accum="", optimizer="adamw", stack="torchtitan", measured_gib=gib, metric=TT_METRIC,
             notes=TT_NOTE + "Config columns as published_runs_2.csv row " + rid + " (same runs): " + str(r["notes"]))
    rows.append(d)
HF_SRC = ("huggingface/transformers docs/source/en/perf_train_gpu_one.mdx 'Efficient Training on a Single GPU' "
          "(v4.16-v4.21 era; run 2022-01-11 per its nvidia-smi banner)")
HF_URL = ("https://github.com/huggingface/transformers/blob/0016acf7ef421c7fe8eff7945de52c71896c3b01/"
          "docs/source/en/perf_train_gpu_one.mdx")
HF_NOTE = ("bert-large-uncased AutoModelForSequenceClassification (2 labels; no MLM/vocab head), dummy data: "
           "512 sequences of 512 random token ids, HF Trainer defaults (AdamW, dropout 0.1, eager attention), "
           "Tesla V100-SXM2 16GB, 1 GPU. 'GPU memory occupied' = pynvml nvmlDeviceGetMemoryInfo().used // 1024**2 "
           "after trainer.train(): the whole process as nvidia-smi shows it (CUDA context + the caching "
           "allocator's reserved pool, which training leaves cached); the page measures the context alone as "
           "1343 MB (torch.ones((1,1)).to('cuda')). ")
hf = [  # (id suffix, per_device_bs, grad_accum, gc, fp16, optim, MB)
    ("bs4", 4, 1, False, False, "adamw", 14949),
    ("bs1_ga4", 1, 4, False, False, "adamw", 8681),
    ("bs1_ga4_gc", 1, 4, True, False, "adamw", 6775),
    ("bs4_fp16", 4, 1, False, True, "adamw", 13939),
    ("bs1_ga4_gc_fp16", 1, 4, True, True, "adamw", 7275),
    ("bs4_adafactor", 4, 1, False, False, "adafactor", 12295),
    ("bs1_ga4_gc_fp16_adafactor", 1, 4, True, True, "adafactor", 4847),
    ("bs4_adam8bit", 4, 1, False, False, "adam8bit", 13085),
    ("bs1_ga4_gc_fp16_adam8bit", 1, 4, True, True, "adam8bit", 5363),
]
for sfx, bs, ga, gc, fp16, opt, mb in hf:
    rows.append(dict(id="hfdoc_bertlarge_" + sfx, source=HF_SRC, provenance=HF_URL, read_date="2026-11-30",
                     date="2022-01", table="Efficient Training on a Single GPU", model="bert-large-uncased",
                     preset="bert-large", layers=24, hidden=1024, heads=16, kv_heads=16, ffn_hidden=4096, vocab=30522,
                     seq_len=512, moe_experts="", moe_topk="", global_batch_seqs=bs * ga, micro_batch=bs, grad_accum=ga,
                     tp=1, pp=1, dp=1, cp=1, vpp="", zero_or_fsdp="none (1 GPU)",
                     recompute="full (gradient_checkpointing=True)" if gc else "none",
                     precision="fp16 AMP (fp16=True)" if fp16 else "fp32", optimizer=opt,
                     gpu="Tesla V100-SXM2-16GB", num_gpus=1, gpus_per_node=1, interconnect="single GPU",
                     stack="hf-trainer", measured_gib=round(mb / 1024, 4), metric="nvidia-smi",
                     notes=HF_NOTE + f"Printed: 'GPU memory occupied: {mb} MB.' (MiB); "
                           f"TrainingArguments(per_device_train_batch_size={bs}, gradient_accumulation_steps={ga}"
                           + (", gradient_checkpointing=True" if gc else "") + (", fp16=True" if fp16 else "")
                           + (f", optim='{opt}'" if opt == "adafactor" else "")
                           + (") with bnb.optim.Adam8bit passed as the optimizer" if opt == "adam8bit" else ")") + "."))

AO_SRC = ("pytorch/ao torchao/float8/README.md 'Training benchmarks' (torchtitan runs; H100: torch 2.7.0a0+gitb98af95, "
          "torchao 0.10.0+git890e0ac8, torchtitan 0.0.2; MI300X: torch 2.9.0.dev20250811+rocm6.4, torchao "
          "0.13.0+git4fc4068d6, torchtitan 2c8b5947)")
AO_URL = "https://github.com/pytorch/ao/blob/9519bebbc397d60274982a74c084f9dff18e61a6/torchao/float8/README.md"
AO_NOTE = ("'Single-node training on 8x<GPU>, batch size 1, sequence length 8192, steps 100, torch.compile, FSDP2, "
           "per-op SAC' (Llama3-8b). 'Peak Memory (GB)' is torchtitan's logged memory, max_reserved in GiB: the H100 "
           "bf16 value 47.65 is the 'memory: 47.65GiB(50.16%)' log line of the same baseline in pytorch/torchtitan "
           "PR #808 (2025-01-27, llama3_8b.toml + --training.compile), whose 50.16% puts the H100s at 95 GiB "
           "(the 96GB HBM2e part). Local batch 1 = global 8 over FSDP 8. ")
ao = [  # (id, gpu, date, precision, scaling text, GiB)
    ("titan25_ao_h100_bf16", "H100 96GB HBM2e (8 per node)", "2025-03", "bf16", "none (bfloat16)", 47.65),
    ("titan25_ao_h100_fp8_tensorwise", "H100 96GB HBM2e (8 per node)", "2025-03",
     "fp8 linears (torchao float8 tensorwise, float8 all-gather) + bf16", "tensorwise with float8 all-gather", 47.77),
    ("titan25_ao_h100_fp8_rowwise", "H100 96GB HBM2e (8 per node)", "2025-03",
     "fp8 linears (torchao float8 rowwise, bf16 all-gather) + bf16", "rowwise with bfloat16 all-gather", 47.79),
    ("titan25_ao_mi300x_bf16", "AMD MI300X (8 per node)", "2025-08", "bf16", "none (bfloat16)", 39.09),
    ("titan25_ao_mi300x_fp8_tensorwise", "AMD MI300X (8 per node)", "2025-08",
     "fp8 linears (torchao float8 tensorwise, float8 all-gather) + bf16", "tensorwise with float8 all-gather", 39.07),
    ("titan25_ao_mi300x_fp8_rowwise_gw_hp", "AMD MI300X (8 per node)", "2025-08",
     "fp8 linears (torchao float8 rowwise_with_gw_hp, bf16 all-gather) + bf16", "rowwise_with_gw_hp with bfloat16 all-gather", 39.32),
    ("titan25_ao_mi300x_fp8_rowwise", "AMD MI300X (8 per node)", "2025-08",
     "fp8 linears (torchao float8 rowwise, bf16 all-gather) + bf16", "rowwise with bfloat16 all-gather", 39.32),
]
for rid, gpu, date, prec, scaling, gib in ao:
    rows.append(dict(id=rid, source=AO_SRC, provenance=AO_URL, read_date="2026-11-30", date=date,
                     table="Training benchmarks (" + ("NVIDIA H100" if "H100" in gpu else "AMD MI300x") + ")",
                     model="Llama 3 8B", preset="", layers=32, hidden=4096, heads=32, kv_heads=8, ffn_hidden=14336,
                     vocab=128256, seq_len=8192, moe_experts="", moe_topk="", global_batch_seqs=8, micro_batch=1,
                     grad_accum=1, tp=1, pp=1, dp=8, cp=1, vpp="", zero_or_fsdp="FSDP2 (fully sharded)",
                     recompute="selective (op)", precision=prec, optimizer="adamw", gpu=gpu, num_gpus=8, gpus_per_node=8,
                     interconnect="single node", stack="torchtitan", measured_gib=gib, metric="max_reserved",
                     notes=AO_NOTE + f"Scaling: '{scaling}'. Techniques: FSDP + torch.compile"
                           + (" + Float8." if "fp8" in prec else ".")))

MC_SRC = "NVIDIA/Megatron-LM functional tests tests/functional_tests/test_cases/gpt/{case}/ (model_config.yaml + {golden})"
MC_URL = "https://github.com/NVIDIA/Megatron-LM/blob/{commit}/tests/functional_tests/test_cases/gpt/{case}/{golden}"
MC_NOTE = ("Megatron-Core CI 'memory_speed' test: mem-max-allocated-bytes = torch.cuda.memory_stats()"
           "['allocated_bytes.all.peak'] (megatron/training/training.py training_log, --log-memory-to-tensorboard; "
           "never reset, so the run's peak), as logged to tensorboard by rank world_size - 1 (global_vars.py "
           "_set_tensorboard_writer): the last pipeline stage, last TP and DP rank. Value at step 25 (steady from step "
           "2, after the optimizer state exists): {value:.0f} bytes. Args (model_config.yaml @{cfg}): --num-layers 32 "
           "--hidden-size 4096 --num-attention-heads 32 --group-query-attention --num-query-groups 8 "
           "--untie-embeddings-and-output-weights --micro-batch-size {mb} --global-batch-size 8 --seq-length 8192 "
           "--max-position-embeddings 8192 --vocab-size 131072 --mock-data --transformer-impl transformer_engine "
           "--tensor-model-parallel-size {tp} --pipeline-model-parallel-size {pp}{vp} --use-distributed-optimizer "
           "--overlap-grad-reduce --overlap-param-gather --deterministic-mode --no-gradient-accumulation-fusion --bf16 "
           "(8 GPUs: DP 2). Megatron defaults for what is not set: LayerNorm, learned absolute positions, GeLU MLP of "
           "4h (no --swiglu, no --ffn-hidden-size), linear biases, hidden and attention dropout 0.1, no sequence "
           "parallelism, no recompute, --attention-backend auto (TE fused/flash), fp32 gradient accumulation under "
           "--bf16. ")
mc = [  # (id, case, golden file, golden commit, cfg commit, gpu, tp, pp, vpp, mb, bytes)
    ("mcoreci_7b_tp4_pp1_h100", "gpt3_7b_tp4_pp1_memory_speed", "golden_values_dev_dgx_h100.json",
     "acb150e84708c78adeaf974bb21a26846a4fce54", "1739859b35420bc3d8cce28188b96c3ccb82d1d3", "H100-SXM5-80GB (DGX H100)",
     4, 1, None, 2, 57143791616.0),
    ("mcoreci_7b_tp4_pp1_a100", "gpt3_7b_tp4_pp1_memory_speed", "golden_values_dev_dgx_a100.json",
     "57a0267265f6a37c4eb0b49dff840c1bd35d84f4", "1739859b35420bc3d8cce28188b96c3ccb82d1d3", "A100-SXM4-80GB (DGX A100)",
     4, 1, None, 2, 58188115968.0),
    ("mcoreci_7b_tp1_pp4_vp8_h100", "gpt3_7b_tp1_pp4_memory_speed", "golden_values_dev_dgx_h100.json",
     "d3fbbcad6146571e55020e7f5db89e0a0aa947ae", "01b9cb2335333fbcf86470211c6b955fa6f0665d", "H100-SXM5-80GB (DGX H100)",
     1, 4, 8, 1, 60518424576.0),
    ("mcoreci_7b_tp1_pp4_vp8_a100", "gpt3_7b_tp1_pp4_memory_speed", "golden_values_dev_dgx_a100.json",
     "72a2714a40e663b25a37de40af037fe9b78814ba", "01b9cb2335333fbcf86470211c6b955fa6f0665d", "A100-SXM4-80GB (DGX A100)",
     1, 4, 8, 1, 60489064448.0),
]
for rid, case, golden, commit, cfg, gpu, tp, pp, vpp, mb, b in mc:
    vp = " --num-layers-per-virtual-pipeline-stage 1" if vpp else ""
    rows.append(dict(id=rid, source=MC_SRC.format(case=case, golden=golden),
                     provenance=MC_URL.format(commit=commit, case=case, golden=golden), read_date="2026-11-30",
                     date="not stated (CI golden values; the commit is in the provenance URL)", table=case, model="GPT 7B (Megatron CI)", preset="", layers=32, hidden=4096, heads=32,
                     kv_heads=8, ffn_hidden=16384, vocab=131072, seq_len=8192, moe_experts="", moe_topk="",
                     global_batch_seqs=8, micro_batch=mb, grad_accum=8 // (mb * 2), tp=tp, pp=pp, dp=8 // (tp * pp), cp=1,
                     vpp=vpp or "", zero_or_fsdp="distributed optimizer", recompute="none", precision="bf16",
                     optimizer="adamw", gpu=gpu, num_gpus=8, gpus_per_node=8, interconnect="DGX (NVLink)",
                     stack="megatron-core", measured_gib=round(b / 2**30, 4), metric="max_allocated",
                     notes=MC_NOTE.format(value=b, cfg=cfg[:8], mb=mb, tp=tp, pp=pp, vp=vp)))


def fmt(k, v):
    if isinstance(v, float):
        if v != v:
            return ""
        if v == int(v) and k != "measured_gib":
            return int(v)
    return v
for d in rows:
    d["rank_logged"] = "last" if d["id"].startswith("mcoreci") else "max"
write_csv("benchmarks/data/parts/peak_memory.csv", [{k: fmt(k, v) for k, v in d.items()} for d in rows], COLS)
print(len(rows))
