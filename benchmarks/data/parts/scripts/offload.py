"""Builder of ``benchmarks/data/parts/offload.csv``: published MEASURED step times or throughputs of training runs that
offload to host memory (optimizer state / the optimizer step, activations), each with the inputs the planner needs to
price the same run (model, GPU, count, batch, sequence, stack, what was offloaded, host link, CPU) and, where the
source leaves one out, the value taken and why (``assumptions``). Compared with ``estimate`` by
``benchmarks/validate_offload.py``; checked by tests/test_parts_data.py and tests/test_offload46.py.

Sources (read 2026-12-06 via the search index; values copied as printed):

* Ren et al., "ZeRO-Offload: Democratizing Billion-Scale Model Training", USENIX ATC 2021, arXiv:2101.06840, abstract:
  "ZeRO-Offload can achieve 40 TFlops/GPU on a single NVIDIA V100 GPU for 10B parameter model". The paper's body
  (its model table, batch sizes, FLOP convention) was not found in the index; the run's inputs are the DeepSpeed
  ZeRO-Offload tutorial's "Training a 10B parameter GPT-2 on 1 V100 GPU" (microsoft/DeepSpeed
  docs/_tutorials/zero-offload.md @077e6740: Megatron-LM GPT-2, ``--num-layers 50 --hidden-size 4096
  --num-attention-heads 32 --batch-size 10 --checkpoint-activations``, ZeRO stage 2 with ``cpu_offload``, "a single
  NVIDIA Tesla V100-SXM3 Tensor Core GPU with 32GB"), the same authors' 10B single-V100 example of the same months.
* NVIDIA-NeMo/RL PR #3628 (seonjinn, 2026-08-13, merged), "feat(megatron): support fractional optimizer CPU offload":
  single-GPU Qwen3-0.6B microbenchmark on a CoreWeave ("CW") H100, Megatron-Core ``HybridDeviceOptimizer``:
  "Disabled 0.752s", "100%, overlap 1.678s" mean step time over steps 11-100. Its batch and sequence are not
  printed, so the row is the time the offload adds (1.678 - 0.752 s), which the planner prices from the
  parameter count and the host link alone; the run's own batch only decides how much of the gradient copy hides
  under the last backward (none of it at the planner's prices here: validate_offload checks the row at two batches).
  The 50% rows ("50%, no overlap 1.187s", "50%, overlap 1.216s") are not taken: the planner offloads all of the
  optimizer or none (no ``--optimizer-offload-fraction``).

Searched and not usable (2026-12-06): the ZeRO-Offload paper's figures and tables (body not in the index); the
ZeRO-3 Offload blog (docs/_posts/2021-03-08-zero3-offload.md: 49-50 TFLOP/s per V100 for 1T parameters on 512 GPUs,
"2.3X for 13B" on one V100 -- parameter offload, which the planner does not price for DeepSpeed, and figures without
configurations); ZeRO-Offload++ (blogs/deepspeed-offloadpp: speedups in images only); DeepSpeed PR #7474 (Qwen2.5-3B
on 2 x A100-40GB, 3,084 / 2,383 ms per step without / with ``--bind_cores_to_rank``: no batch, sequence or ZeRO stage
printed, no run without offload); DeepSpeed PR #735 (DeepSpeedCPUAdam, 11.6B in 8.2 s: the source of
``offload.CPU_ADAM`` itself, so not a check of it); DeepSpeed issues #6695 (Llama2-0.3B/1.2B, GPU not stated), #1635
(RTX 3090, not in the catalog, a reported bug), #6834 (Qwen-72B, ZeRO-3 parameter offload, times in screenshots);
DeepSpeedExamples #151 (a bug report, times not printed); PrimeIntellect-ai/prime-rl PR #3234 (Qwen3-30B-A3B on 8 x
H200, 1.75 -> 3.96 s at 8K: its own trainer, CPU AdamW chunks run during the backward, a mechanism no planner stack
has); NeMo RL PR #123 (its FSDP CPU-offload sweep is a linked spreadsheet); Megatron-LM PRs #1752 / #1912 / #1913
(fine-grained per-module activation offload, which the planner does not price); torchao ``CPUOffloadOptimizer`` (no
timed run found). Megatron-Core's layer activation offload (``--cpu-offloading``) has measured step times already in
the validation set: the Megatron-Bridge Llama 3 70B / 3.1 405B Megatron-FSDP rows on GB200 / GB300 (mbridge_all) and
Together AI's Llama 3.1 70B FP8 rows on DGX B200 (together B200 baselines); validate_offload.py reports them beside
these rows.

Run: ``python benchmarks/data/parts/scripts/offload.py`` (rewrites the CSV).
"""
import json
from pathlib import Path

from parts_csv import write_csv

OUT = Path(__file__).resolve().parents[1] / "offload.csv"
READ = "2026-12-06"

COLUMNS = ("id", "date", "stack", "offloaded", "model", "model_json", "gpu", "num_gpus", "gpus_per_node", "seq_len",
           "micro_batch", "global_batch", "precision", "recompute", "zero", "framework_json", "host_link", "cpu",
           "host_ram_gib", "metric", "value", "unit", "baseline_value", "quote", "assumptions", "source", "provenance", "read_date",
           "notes")

#: Megatron-LM GPT-2 as the 2020 DeepSpeedExamples code builds it (GeLU MLP of 4h, LayerNorm, learned positions,
#: biases, tied embedding / head, GPT-2 BPE vocabulary) at the tutorial's 50 x 4096 x 32 heads
GPT2_10B = dict(layers=50, hidden=4096, heads=32, ffn_hidden=16384, vocab=50257, mlp="gelu", norm="layernorm",
                tied_embeddings=True, qkv_bias=True, linear_bias=True, position="learned", max_positions=1024)
#: Qwen/Qwen3-0.6B config.json (copies in the index, e.g. huggingface.co/TensorStack/TextEncoder Qwen-3-06B/config.json:
#: 28 layers, hidden 1024, 16 heads / 8 KV of 128, intermediate 3072, vocab 151936, tied embeddings, RMSNorm, SiLU)
QWEN3_0P6B = dict(layers=28, hidden=1024, heads=16, kv_heads=8, head_dim=128, ffn_hidden=3072, vocab=151936,
                  mlp="swiglu", norm="rmsnorm", tied_embeddings=True, position="rope", qk_norm="head")

ZO_URL = "https://arxiv.org/abs/2101.06840 (abstract); run inputs: https://github.com/microsoft/DeepSpeed/blob/" \
         "077e6740178eba4ccff1b3ea9a7981578d3d42e4/docs/_tutorials/zero-offload.md"
NEMO_RL_URL = "https://github.com/NVIDIA-NeMo/RL/pull/3628"
#: the DeepSpeed team's own config for this job (microsoft/DeepSpeedExamples Megatron-LM/scripts/
#: ds_zero-offload_10B_config.json @19624a6f: ``activation_checkpointing: {partition_activations: true,
#: contiguous_memory_optimization: true, cpu_checkpointing: true}``, ``zero_optimization.reduce_bucket_size``
#: 50000000), as the megatron-deepspeed stack's job options (ds46); its ``train_batch_size`` 30 /
#: ``gradient_accumulation_steps`` 3 is not taken: the tutorial states batch 10 and only the zero_optimization keys
ZO_10B_CONFIG = {"partition_activations": True, "cpu_checkpointing": True, "reduce_bucket_size": 5e7}

ROWS = [
    dict(id="zero_offload_atc21_10b_1xv100", date="2021-01-18", stack="megatron-deepspeed", offloaded="optimizer",
         model="gpt2-10b (Megatron-LM GPT-2, 50 x 4096)", model_json=json.dumps(GPT2_10B, sort_keys=True),
         gpu="V100-SXM2-32GB", num_gpus=1, gpus_per_node=1, seq_len=1024, micro_batch=10, global_batch=10,
         precision="fp16", recompute="full", zero=2, framework_json=json.dumps(ZO_10B_CONFIG, sort_keys=True),
         host_link="PCIe Gen3 x16 (DGX-2)",
         cpu="2 x Xeon Platinum 8168, 96 threads (DGX-2; assumed, the testbed offload.CPU_ADAM assumes)",
         host_ram_gib=1536,
         metric="tflops_per_gpu", value=40, unit="TFLOP/s per GPU", baseline_value="",
         quote="ZeRO-Offload can achieve 40 TFlops/GPU on a single NVIDIA V100 GPU for 10B parameter model",
         assumptions="model and batch: the DeepSpeed ZeRO-Offload tutorial's 10B GPT-2 run (50 layers, hidden 4096, "
                     "32 heads, batch 10, --checkpoint-activations, ZeRO-2 cpu_offload); seq 1024 (the tutorial "
                     "leaves it at the script's: DeepSpeedExamples Megatron-LM-v1.1.5-ZeRO3/examples/"
                     "ds_pretrain_gpt2-zero2.sh @44be774a, --seq-length 1024); the TFLOP/s "
                     "counted as hardware FLOPs with the recomputed forward (the DeepSpeed team's "
                     "checkpoint_activations_factor = 4 with checkpointing, DeepSpeedExamples print_throughput), so "
                     "the measured step is the planner's hardware FLOPs over 40 TFLOP/s; V100-SXM3 (DGX-2) mapped to "
                     "the catalog's V100-SXM2-32GB (same GV100, 32 GB); one GPU of the node, the CPUs all its own; "
                     "stack: megatron-deepspeed, the lineage of the DeepSpeedExamples Megatron-LM GPT-2 the tutorial "
                     "ran (Megatron layers, DeepSpeed's activation checkpointing), with the DeepSpeed team's 10B "
                     "config's partition_activations, cpu_checkpointing and reduce_bucket_size 5e7 "
                     "(DeepSpeedExamples Megatron-LM/scripts/ds_zero-offload_10B_config.json @19624a6f; its "
                     "train_batch_size 30 with gradient_accumulation_steps 3 not taken: the tutorial states batch 10)"
                     "; host RAM 1.5 TB (host_ram_gib 1536): the DGX-2 the tutorial ran on (NVIDIA DGX-2 datasheet: "
                     "1.5 TB system memory), the testbed the cpu column assumes, its one-GPU job holding the whole "
                     "host RAM (a bare V100 32 GB otherwise takes p3dn.24xlarge's 96 GiB a GPU, too little for the "
                     "10B's fp32 state: qa101 made p3dn a clustered reference)",
         source="Ren et al., 'ZeRO-Offload: Democratizing Billion-Scale Model Training', USENIX ATC 2021, "
                "arXiv:2101.06840, abstract; DeepSpeed ZeRO-Offload tutorial",
         provenance=ZO_URL, read_date=READ,
         notes="fp16 with DeepSpeedCPUAdam on the host; the paper's no-offload point ('30TF using PyTorch alone for "
               "a 1.4B parameter model') has no configuration printed and is not a row."),
    dict(id="nemo_rl_pr3628_qwen3_0p6b_1xh100", date="2026-08-13", stack="megatron-core", offloaded="optimizer",
         model="qwen3-0.6b", model_json=json.dumps(QWEN3_0P6B, sort_keys=True), gpu="H100-SXM5-80GB", num_gpus=1,
         gpus_per_node=1, seq_len=4096, micro_batch=1, global_batch=8, precision="bf16", recompute="none", zero=1,
         framework_json="{}",
         host_link="PCIe Gen5 x16 (HGX H100; assumed)", cpu="not stated (CoreWeave H100 node)",
         metric="added_s", value=round(1.678 - 0.752, 3), unit="s per step (offload on - off)",
         baseline_value=0.752,
         quote="Disabled `0.752s` ... 100%, overlap `1.678s` (mean step time, steps 11-100)",
         assumptions="seq 4096, micro-batch 1, global batch 8 taken (not printed; the added time does not depend on "
                     "them at the planner's prices); optimizer_offload_fraction 1.0 with "
                     "overlap_cpu_optimizer_d2h_h2d; use_distributed_optimizer (ZeRO-1 at one replica, as the PR "
                     "requires); bf16; host CPU not stated: the planner's reference host (96 threads)",
         source="NVIDIA-NeMo/RL PR #3628, 'feat(megatron): support fractional optimizer CPU offload', description",
         provenance=NEMO_RL_URL, read_date=READ,
         notes="Megatron-Core HybridDeviceOptimizer (torch AdamW on the CPU); the run's step includes NeMo RL's own "
               "per-step work, which cancels in the difference."),
]


def main():
    write_csv(OUT, ROWS, COLUMNS, lineterminator="\n")
    print(f"wrote {len(ROWS)} rows to {OUT}")


if __name__ == "__main__":
    main()
