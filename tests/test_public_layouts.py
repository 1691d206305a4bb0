"""End-to-end sweep over ordinary, publicly typical training layouts (README "Limits and bad input":
"What the public-layout sweep covers").

Every case runs the CLI as a user does (``planner estimate job.yaml --json``, or ``planner recommend``
with a small search space) on a layout that a real stack starts: model shapes are the shipped
presets (each from its Hugging Face config.json), degrees and options are the kinds NVIDIA's,
PyTorch's, Microsoft's and Hugging Face's own recipes and docs use. Nothing here is a measured
result; the checks are that the planner neither crashes nor refuses what the stack accepts, that it
refuses in one line what the stack itself refuses (citing the stack's source), and that the numbers
are physically plausible: a finite positive step, MFU well inside (0.05, 0.75) for large models on
datacenter GPUs, HFU <= 100%, every memory part non-negative and a plan that does not fit flagged as
such (``fits`` false with a negative margin), not hidden.
"""
from __future__ import annotations

import json
import math

import pytest
import yaml

from conftest import answered

#: the inter-node network of each GPU's usual training node, per node (Gb/s), so that a case does not
#: fall back to the catalog's 100 Gb/s "network not sourced" default: 8 x 400 Gb/s for HGX H100/H200/B200
#: and MI300X platforms (AWS p5/p5en/p6-b200, Azure ND H100 v5, ND MI300X v5: 3,200 Gb/s), 8 x 200 Gb/s
#: for A100 (Azure ND A100 v4: 1,600 Gb/s), and 400 Gb/s per GPU on an NVL72 rack (72 x 400)
NETWORK_GBPS = {"A100-SXM-80GB": 1600, "H100-SXM-80GB": 3200, "H200-SXM-141GB": 3200, "B200-SXM-180GB": 3200,
                "MI300X-192GB": 3200, "GB200-B200": 72 * 400}
#: GPUs per NVLink domain ("node" to the planner): 8 on HGX/OAM boards, 72 on a GB200 NVL72 rack
GPUS_PER_NODE = {"GB200-B200": 72}

#: the keys the JSON contract (DESIGN.md "Contract") promises on every estimate
CONTRACT_KEYS = {"params", "params_active", "flops_per_step", "hw_flops_per_step", "step_time_s", "tokens_per_s",
                 "tokens_per_s_per_gpu", "mfu", "hfu", "fits", "memory_per_gpu_bytes", "breakdown_s"}
MEMORY_KEYS = {"total", "weights", "grads", "optimizer", "activations", "other"}
BREAKDOWN_KEYS = {"compute", "bubble", "optimizer", "data_stall"}


def case(name, preset, gpu, gpus, parallel, framework="megatron-core", *, seq=8192, gbs=None, mb=1,
         precision="bf16", recompute="none", mode=None, big=True, refuse=None, **training):
    """One estimate case. ``big``: a large model on datacenter GPUs, whose MFU must lie in
    (0.05, 0.75). ``refuse``: the job field a real stack refuses this layout on (exit 2, one line)."""
    gpn = GPUS_PER_NODE.get(gpu, 8)
    gpn = min(gpn, gpus)
    t = {"seq_len": seq, "global_batch": gbs or 2 * gpus, "micro_batch": mb, "precision": precision,
         "recompute": recompute, "tokens": 1e11, "framework": framework, **training}
    if mode:
        t["mode"] = mode
    job = {"model": {"preset": preset}, "training": t, "parallel": parallel,
           "cluster": {"gpu": gpu, "gpus_per_node": gpn, "nodes": gpus // gpn,
                       "inter_node_gbps": NETWORK_GBPS[gpu]}}
    return pytest.param(job, big, refuse, id=name)


MC = "megatron-core"


def mc(**o):
    return {"name": MC, **o}


def titan(**o):
    return {"name": "torchtitan", **o}


ESTIMATES = [
    # ---- dense Llama 3 / 3.1 on Megatron-Core: TP within the node, SP, distributed optimizer (zero 1)
    case("llama3-8b/h100x8/mcore-tp1-dp8", "llama3-8b", "H100-SXM-80GB", 8,
         {"tp": 1, "pp": 1, "dp": 8, "zero": 1}, recompute="selective", gbs=128),
    case("llama3-8b/h100x64/mcore-fp8-tensorwise", "llama3-8b", "H100-SXM-80GB", 64,
         {"tp": 1, "pp": 1, "dp": 64, "zero": 1}, mc(fp8_recipe="tensorwise"), precision="fp8", gbs=512,
         mb=2, recompute="selective"),
    case("llama3-8b/h100x16/mcore-fp8-delayed-tp2", "llama3-8b", "H100-SXM-80GB", 16,
         {"tp": 2, "pp": 1, "dp": 8, "zero": 1, "sequence_parallel": True}, mc(fp8_recipe="delayed"),
         precision="fp8", gbs=128),
    case("llama3-8b/b200x8/mcore-mxfp8", "llama3-8b", "B200-SXM-180GB", 8,
         {"tp": 1, "pp": 1, "dp": 8, "zero": 1}, mc(fp8_recipe="mxfp8"), precision="fp8", gbs=128, mb=2),
    case("llama3-8b/h100x16/mcore-cp2-32k", "llama3-8b", "H100-SXM-80GB", 16,
         {"tp": 2, "pp": 1, "dp": 4, "cp": 2, "zero": 1, "sequence_parallel": True}, seq=32768, gbs=64,
         recompute="selective"),
    case("llama3-70b/h100x64/mcore-tp8-pp4-vpp5", "llama3-70b", "H100-SXM-80GB", 64,
         {"tp": 8, "pp": 4, "dp": 2, "vpp": 5, "zero": 1, "sequence_parallel": True}, mc(tp_overlap="te"), gbs=128),
    # 80 layers over 8 x 3 virtual stages (3.33 each): Megatron-Core's get_num_layers_to_build wants whole
    # counts, but --pipeline-model-parallel-layout (TransformerConfig.pipeline_model_parallel_layout: any
    # list of layers per virtual stage) runs it; the planner times the fullest stage (ceil)
    case("llama3-70b/h100x256/mcore-tp4-pp8-vpp3-fractional", "llama3-70b", "H100-SXM-80GB", 256,
         {"tp": 4, "pp": 8, "dp": 8, "vpp": 3, "zero": 1, "sequence_parallel": True}, gbs=512,
         recompute="selective"),
    case("llama3-70b/h100x256/mcore-cp4-64k", "llama3-70b", "H100-SXM-80GB", 256,
         {"tp": 8, "pp": 4, "dp": 2, "cp": 4, "vpp": 5, "zero": 1, "sequence_parallel": True}, seq=65536, gbs=32,
         recompute="selective"),
    case("llama3-70b/h200x64/mcore-fp8-tp4-pp2", "llama3-70b", "H200-SXM-141GB", 64,
         {"tp": 4, "pp": 2, "dp": 8, "vpp": 20, "zero": 1, "sequence_parallel": True}, mc(fp8_recipe="tensorwise"),
         precision="fp8", gbs=128, recompute="selective"),
    case("llama3-70b/gb200x144/mcore-mxfp8-tp2-pp4", "llama3-70b", "GB200-B200", 144,
         {"tp": 2, "pp": 4, "dp": 18, "vpp": 5, "zero": 1, "sequence_parallel": True}, mc(fp8_recipe="mxfp8"),
         precision="fp8", gbs=576),
    case("llama3-70b/mi300x x64/mcore-tp8-pp1", "llama3-70b", "MI300X-192GB", 64,
         {"tp": 8, "pp": 1, "dp": 8, "zero": 1, "sequence_parallel": True}, mc(tp_overlap="none"), gbs=128,
         recompute="selective"),
    # 126 layers on PP16: Megatron-Core's --account-for-embedding-in-pipeline-split /
    # --account-for-loss-in-pipeline-split (or num_layers_in_first/last_pipeline_stage) make 128 = 16 x 8
    case("llama3.1-405b/h100x16384/mcore-tp8-pp16", "llama3.1-405b", "H100-SXM-80GB", 16384,
         {"tp": 8, "pp": 16, "dp": 128, "zero": 1, "sequence_parallel": True}, gbs=2048),
    case("llama3.1-405b/h100x16384/mcore-tp8-pp16-vpp8", "llama3.1-405b", "H100-SXM-80GB", 16384,
         {"tp": 8, "pp": 16, "dp": 128, "vpp": 8, "zero": 1, "sequence_parallel": True}, gbs=2048),
    case("llama3.1-405b/h100x16384/mcore-cp16-128k", "llama3.1-405b", "H100-SXM-80GB", 16384,
         {"tp": 8, "pp": 16, "dp": 8, "cp": 16, "vpp": 8, "zero": 1, "sequence_parallel": True}, seq=131072, gbs=128),
    # the same at GBS 64: m = 8 micro-batches on PP16, which Megatron-Core's interleaved schedule refuses
    # (schedules.py: "The number of contiguous micro-batches in a virtual pipeline stage should range in [PP=16, M=8]")
    case("llama3.1-405b/h100x16384/mcore-cp16-128k-m8-refused", "llama3.1-405b", "H100-SXM-80GB", 16384,
         {"tp": 8, "pp": 16, "dp": 8, "cp": 16, "vpp": 8, "zero": 1, "sequence_parallel": True}, seq=131072, gbs=64,
         refuse="parallel.vpp"),
    case("llama3.1-405b/h100x1024/mcore-tp8-pp8-vpp2-fp8", "llama3.1-405b", "H100-SXM-80GB", 1024,
         {"tp": 8, "pp": 8, "dp": 16, "vpp": 2, "zero": 1, "sequence_parallel": True}, mc(fp8_recipe="tensorwise"),
         precision="fp8", gbs=256, recompute="selective"),
    case("llama3.1-405b/b200x1024/mcore-mxfp8", "llama3.1-405b", "B200-SXM-180GB", 1024,
         {"tp": 4, "pp": 8, "dp": 32, "vpp": 4, "zero": 1, "sequence_parallel": True}, mc(fp8_recipe="mxfp8"),
         precision="fp8", gbs=512, recompute="selective"),
    case("llama3.1-405b/gb200x576/mcore-tp4-pp8", "llama3.1-405b", "GB200-B200", 576,
         {"tp": 4, "pp": 8, "dp": 18, "vpp": 4, "zero": 1, "sequence_parallel": True}, gbs=576, recompute="selective"),
    # ---- GPT-3 175B (96 layers) the Megatron way, on A100 (Megatron-Core and the 2021 Megatron-LM)
    case("gpt3-175b/a100x1024/mcore-tp8-pp16", "gpt3-175b", "A100-SXM-80GB", 1024,
         {"tp": 8, "pp": 16, "dp": 8, "zero": 1, "sequence_parallel": True}, seq=2048, gbs=1536),
    case("gpt3-175b/a100x1024/megatron-lm-tp8-pp16-vpp2", "gpt3-175b", "A100-SXM-80GB", 1024,
         {"tp": 8, "pp": 16, "dp": 8, "vpp": 2, "zero": 0}, "megatron-lm", seq=2048, gbs=1536,
         recompute="selective"),
    case("gpt3-175b/h100x512/mcore-fp8", "gpt3-175b", "H100-SXM-80GB", 512,
         {"tp": 4, "pp": 8, "dp": 16, "vpp": 4, "zero": 1, "sequence_parallel": True}, mc(fp8_recipe="tensorwise"),
         precision="fp8", seq=2048, gbs=2048),
    # ---- Llama 2 on DeepSpeed ZeRO and the HF Trainer (A100 era)
    case("llama2-7b/a100x64/deepspeed-zero1", "llama2-7b", "A100-SXM-80GB", 64,
         {"tp": 1, "pp": 1, "dp": 64, "zero": 1}, "deepspeed", seq=4096, gbs=256, recompute="full"),
    case("llama2-7b/a100x64/deepspeed-zero2", "llama2-7b", "A100-SXM-80GB", 64,
         {"tp": 1, "pp": 1, "dp": 64, "zero": 2}, "deepspeed", seq=4096, gbs=256, recompute="full"),
    case("llama2-13b/a100x64/deepspeed-zero3", "llama2-13b", "A100-SXM-80GB", 64,
         {"tp": 1, "pp": 1, "dp": 64, "zero": 3}, "deepspeed", seq=4096, gbs=256, mb=2, recompute="full"),
    case("llama2-70b/h100x64/deepspeed-zero3", "llama2-70b", "H100-SXM-80GB", 64,
         {"tp": 1, "pp": 1, "dp": 64, "zero": 3}, "deepspeed", seq=4096, gbs=256, recompute="full"),
    case("llama2-7b/a100x8/hf-trainer-amp-fsdp", "llama2-7b", "A100-SXM-80GB", 8,
         {"tp": 1, "pp": 1, "dp": 8, "zero": 3}, {"name": "hf-trainer", "mixed_precision": "amp"}, seq=4096, gbs=64,
         recompute="full", mode="full_finetune"),
    case("llama2-7b/h100x8/hf-trainer-pure-bf16-ddp", "llama2-7b", "H100-SXM-80GB", 8,
         {"tp": 1, "pp": 1, "dp": 8, "zero": 0}, {"name": "hf-trainer", "mixed_precision": "bf16"}, seq=4096, gbs=64,
         recompute="full", mode="full_finetune"),
    case("llama2-70b/h100x64/mcore-tp8-pp2", "llama2-70b", "H100-SXM-80GB", 64,
         {"tp": 8, "pp": 2, "dp": 4, "vpp": 10, "zero": 1, "sequence_parallel": True}, seq=4096, gbs=256),
    case("llama2-7b/a100x64/llm-foundry-fsdp", "llama2-7b", "A100-SXM-80GB", 64,
         {"tp": 1, "pp": 1, "dp": 64, "zero": 3}, "llm-foundry", seq=2048, gbs=512, mb=8, recompute="full"),
    # ---- torchtitan: FSDP2 (+ TP, PP, CP), float8, async TP, compile
    case("llama3-8b/h100x64/titan-fsdp-compile-float8", "llama3-8b", "H100-SXM-80GB", 64,
         # (the 2024 run was tensorwise; torchtitan 0.3's Float8LinearConverter offers rowwise only: stack_rules)
         {"tp": 1, "pp": 1, "dp": 64, "zero": 3}, titan(compile=True, fp8_recipe="rowwise"), precision="fp8",
         gbs=64, recompute="selective"),
    case("llama3-70b/h100x256/titan-fsdp-tp8-asynctp", "llama3-70b", "H100-SXM-80GB", 256,
         {"tp": 8, "pp": 1, "dp": 32, "zero": 3}, titan(compile=True, tp_overlap="async_tp"), gbs=128,
         recompute="full"),
    case("llama3.1-405b/h100x512/titan-fsdp-tp8-pp8-float8", "llama3.1-405b", "H100-SXM-80GB", 512,
         {"tp": 8, "pp": 8, "dp": 8, "zero": 3}, titan(compile=True, fp8_recipe="rowwise"), precision="fp8",
         gbs=256, recompute="full"),
    case("llama3-8b/h100x64/titan-fsdp-cp8-128k", "llama3-8b", "H100-SXM-80GB", 64,
         {"tp": 1, "pp": 1, "dp": 8, "cp": 8, "zero": 3}, titan(compile=True), seq=131072, gbs=8, recompute="full"),
    case("llama3-70b/b200x64/titan-mxfp8", "llama3-70b", "B200-SXM-180GB", 64,
         {"tp": 1, "pp": 1, "dp": 64, "zero": 3}, titan(compile=True, fp8_recipe="mxfp8"), precision="fp8", gbs=128,
         recompute="full"),
    case("llama3-70b/mi300x64/titan-fsdp", "llama3-70b", "MI300X-192GB", 64,
         {"tp": 1, "pp": 1, "dp": 64, "zero": 3}, titan(compile=True), gbs=128, recompute="selective"),
    # ---- MoE: Mixtral, DeepSeek-V3, Qwen3 on Megatron-Core (EP, expert TP folding) and torchtitan
    case("mixtral-8x7b/h100x64/mcore-ep8-pp4", "mixtral-8x7b", "H100-SXM-80GB", 64,
         {"tp": 1, "pp": 4, "dp": 16, "ep": 8, "vpp": 8, "zero": 1}, seq=4096, gbs=256, recompute="selective"),
    case("mixtral-8x7b/h100x16/mcore-tp2-ep8", "mixtral-8x7b", "H100-SXM-80GB", 16,
         {"tp": 2, "pp": 1, "dp": 8, "ep": 8, "etp": 1, "zero": 1, "sequence_parallel": True}, seq=4096, gbs=128,
         recompute="selective"),
    case("deepseek-v3/h100x2048/mcore-tp2-pp16-ep64", "deepseek-v3", "H100-SXM-80GB", 2048,
         {"tp": 2, "pp": 16, "dp": 64, "ep": 64, "etp": 1, "zero": 1, "sequence_parallel": True}, seq=4096, gbs=8192,
         recompute="full"),
    case("deepseek-v3/b200x256/mcore-mxfp8-pp8-ep32", "deepseek-v3", "B200-SXM-180GB", 256,
         {"tp": 1, "pp": 8, "dp": 32, "ep": 32, "vpp": 4, "zero": 1}, mc(fp8_recipe="mxfp8"), precision="fp8",
         seq=4096, gbs=2048, recompute="selective", recompute_modules=["mla_up_proj", "moe_act", "layernorm"]),
    case("deepseek-v3/gb200x256-ish/mcore-ep72", "deepseek-v3", "GB200-B200", 288,
         {"tp": 1, "pp": 4, "dp": 72, "ep": 8, "zero": 1}, seq=4096, gbs=1152, recompute="full"),
    case("qwen3-30b-a3b/h100x16/mcore-ep8", "qwen3-30b-a3b", "H100-SXM-80GB", 16,
         {"tp": 1, "pp": 1, "dp": 16, "ep": 8, "zero": 1}, seq=4096, gbs=256, recompute="selective"),
    case("qwen3-30b-a3b/h100x8/titan-fsdp-ep8", "qwen3-30b-a3b", "H100-SXM-80GB", 8,
         {"tp": 1, "pp": 1, "dp": 8, "ep": 8, "zero": 3}, titan(compile=True), seq=4096, gbs=64, recompute="full"),
    case("qwen3-235b/h100x256/mcore-tp2-pp4-ep32", "qwen3-235b-a22b", "H100-SXM-80GB", 256,
         {"tp": 2, "pp": 4, "dp": 32, "ep": 32, "etp": 1, "zero": 1, "sequence_parallel": True}, seq=4096, gbs=1024,
         recompute="full"),
    case("qwen3-235b/b200x128/mcore-pp8-ep16-mxfp8", "qwen3-235b-a22b", "B200-SXM-180GB", 128,
         {"tp": 1, "pp": 8, "dp": 16, "ep": 16, "zero": 1}, mc(fp8_recipe="mxfp8"), precision="fp8", seq=4096,
         gbs=1024, recompute="selective"),
    # ---- one GPU: fine-tuning on a single card
    case("llama3-8b/h100x1/hf-trainer-lora", "llama3-8b", "H100-SXM-80GB", 1,
         {"tp": 1, "pp": 1, "dp": 1, "zero": 0}, "hf-trainer", seq=4096, gbs=16, recompute="full", mode="lora",
         big=False),
    case("llama3-8b/h100x1/hf-trainer-qlora", "llama3-8b", "H100-SXM-80GB", 1,
         {"tp": 1, "pp": 1, "dp": 1, "zero": 0}, "hf-trainer", seq=4096, gbs=16, recompute="full", mode="qlora",
         big=False),
    case("llama2-7b/a100x1/hf-trainer-full-does-not-fit", "llama2-7b", "A100-SXM-80GB", 1,
         {"tp": 1, "pp": 1, "dp": 1, "zero": 0}, "hf-trainer", seq=4096, gbs=16, recompute="full",
         mode="full_finetune", big=False),
    # 8 KV heads at TP16: Megatron-Core shares each KV head between two ranks (TransformerConfig: num_query_groups
    # "a multiple or divisor of" TP; megatron/core/transformer/attention.py ``num_query_groups < world_size``:
    # the QKV output all-gathered over TP and resliced) ...
    case("llama3-70b/h100x128/mcore-tp16-shared-kv", "llama3-70b", "H100-SXM-80GB", 128,
         {"tp": 16, "pp": 1, "dp": 8, "zero": 1, "sequence_parallel": True}, gbs=128, recompute="selective"),
    # ---- what real stacks refuse
    # ... torchtitan does not: its Attention views each rank's ColwiseParallel wk/wv output as whole heads
    # (models/llama3/model/model.py xk.view(bs, seqlen, -1, head_dim)); its model configs raise
    # "tensor_parallel_degree (...) must divide n_kv_heads (...)"; nor do transformers' colwise k_proj/v_proj
    case("llama3-70b/h100x128/titan-tp16-refused", "llama3-70b", "H100-SXM-80GB", 128,
         {"tp": 16, "pp": 1, "dp": 8, "zero": 3}, titan(compile=True), gbs=128, refuse="parallel.tp"),
    case("qwen3-30b-a3b/h100x8/hf-trainer-tp8-refused", "qwen3-30b-a3b", "H100-SXM-80GB", 8,
         {"tp": 8, "pp": 1, "dp": 1, "zero": 0}, "hf-trainer", seq=4096, gbs=8, refuse="parallel.tp"),
    # Megatron-LM megatron/core/num_microbatches_calculator.py: "global batch size (...) is not divisible by
    # micro batch size (...) times data parallel size (...)"; torchtitan train.py: "global batch size must be
    # multiple of local batch size times data-parallel degree"; DeepSpeed runtime/config.py
    # _batch_assertion: "train_batch_size is not equal to micro_batch_per_gpu * gradient_acc_step * world_size"
    case("llama3-8b/h100x24/mcore-gbs-not-divisible-refused", "llama3-8b", "H100-SXM-80GB", 24,
         {"tp": 1, "pp": 1, "dp": 24, "zero": 1}, gbs=100, refuse="training.global_batch"),
    case("llama3-8b/h100x24/titan-gbs-not-divisible-refused", "llama3-8b", "H100-SXM-80GB", 24,
         {"tp": 1, "pp": 1, "dp": 24, "zero": 3}, "torchtitan", gbs=100, refuse="training.global_batch"),
    # Transformer Engine transformer_engine/pytorch/fp8.py check_mxfp8_support: "Device compute capability
    # 10.0 or higher required for MXFP8 execution" (MX block scales are applied by Blackwell's tensor cores)
    case("llama3-8b/h100x8/mcore-mxfp8-refused", "llama3-8b", "H100-SXM-80GB", 8,
         {"tp": 1, "pp": 1, "dp": 8, "zero": 1}, mc(fp8_recipe="mxfp8"), precision="fp8", gbs=64,
         refuse="training.framework.fp8_recipe"),
    # TE check_fp8_support: "Device compute capability 8.9 or higher required for FP8 execution"
    case("llama3-8b/a100x8/mcore-fp8-refused", "llama3-8b", "A100-SXM-80GB", 8,
         {"tp": 1, "pp": 1, "dp": 8, "zero": 1}, precision="fp8", gbs=64, refuse="training.precision"),
    # torchtitan models/llama3/infra/parallelize.py: "Async TP requires torch.compile"
    case("llama3-70b/h100x64/titan-asynctp-eager-refused", "llama3-70b", "H100-SXM-80GB", 64,
         {"tp": 8, "pp": 1, "dp": 8, "zero": 3}, titan(compile=False, tp_overlap="async_tp"), gbs=64,
         refuse="training.framework.tp_overlap"),
    # Megatron-LM megatron/training/arguments.py validate_args: "--use-torch-fsdp2 is not supported with
    # pipeline parallelism" (ZeRO-3 on Megatron-Core without Megatron-FSDP)
    case("llama3-70b/h100x64/mcore-zero3-pp2-refused", "llama3-70b", "H100-SXM-80GB", 64,
         {"tp": 8, "pp": 2, "dp": 4, "zero": 3}, gbs=64, refuse="parallel.pp"),
    # 16 x 9 = 144 virtual stages for 126 layers + embedding + loss: some would hold no layer
    case("llama3.1-405b/h100x2048/mcore-vpp9-refused", "llama3.1-405b", "H100-SXM-80GB", 2048,
         {"tp": 8, "pp": 16, "dp": 16, "vpp": 9, "zero": 1}, gbs=512, refuse="parallel.vpp"),
    case("llama3-8b/h100x24/deepspeed-gbs-not-divisible-refused", "llama3-8b", "H100-SXM-80GB", 24,
         {"tp": 1, "pp": 1, "dp": 24, "zero": 2}, "deepspeed", gbs=100, refuse="training.global_batch"),
]


def _write(tmp_path, job):
    p = tmp_path / "job.yaml"
    p.write_text(yaml.safe_dump(job, sort_keys=False))
    return p


def _check_plan(plan, big):
    assert CONTRACT_KEYS <= set(plan), CONTRACT_KEYS - set(plan)
    assert MEMORY_KEYS <= set(plan["memory_per_gpu_bytes"])
    assert BREAKDOWN_KEYS <= set(plan["breakdown_s"])
    step = plan["step_time_s"]
    assert math.isfinite(step) and step > 0, step
    assert math.isfinite(plan["tokens_per_s"]) and plan["tokens_per_s"] > 0
    for k, v in plan["breakdown_s"].items():
        assert math.isfinite(v) and v >= 0, (k, v)
    mem = plan["memory_per_gpu_bytes"]
    for k in MEMORY_KEYS:
        assert math.isfinite(mem[k]) and mem[k] >= 0, (k, mem[k])
    # a plan that does not fit says so: fits is the verdict on the limit (capacity less the headroom), never hidden;
    # the margin is capacity - total (HBM left free), so a plan between the limit and the capacity has a positive
    # margin and does not fit (Qwen3-30B-A3B EP8 at 77.2 of 80 GiB, limit 76, since the q/k-norm rows)
    assert plan["fits"] == (mem["total"] <= mem["limit"]), (plan["fits"], mem["total"], mem["limit"])
    assert mem["margin"] == mem["capacity"] - mem["total"]
    assert plan["params_active"] <= plan["params"]
    # hardware FLOPs are the executed ones: the causal kernel's half of the attention, plus recompute
    assert plan["hw_flops_per_step"] >= 0.5 * plan["flops_per_step"] > 0
    assert 0 < plan["mfu"] and 0 < plan["hfu"] <= 1 + 1e-12, (plan["mfu"], plan["hfu"])
    if big:
        assert 0.05 < plan["mfu"] < 0.75, plan["mfu"]


@pytest.mark.parametrize("job,big,refuse", ESTIMATES)
def test_public_layout_estimate(tmp_path, cli, job, big, refuse):
    code, out, err = cli("estimate", _write(tmp_path, job), "--json")
    if refuse:
        assert code == 2, (code, out[-400:])
        line = err.strip()
        assert "\n" not in line and line.startswith(f"error: {refuse}:"), line
        return
    assert code == 0, (out[-400:], err[-800:])
    _check_plan(json.loads(out), big)


def rcase(name, preset, training, *, cluster=None, parallel=None, constraints=None, big=True):
    """One ``recommend`` case: the search space is kept small by fixing the cluster (or capping
    ``max_gpus``) and some degrees, as a user who knows their hardware does."""
    job = {"model": {"preset": preset}, "training": {"tokens": 1e11, **training}}
    if cluster:
        gpu, gpus = cluster
        gpn = min(GPUS_PER_NODE.get(gpu, 8), gpus)
        job["cluster"] = {"gpu": gpu, "gpus_per_node": gpn, "nodes": gpus // gpn, "inter_node_gbps": NETWORK_GBPS[gpu]}
    if parallel:
        job["parallel"] = parallel
    if constraints:
        job["constraints"] = constraints
    return pytest.param(job, big, id=name)


RECOMMENDS = [
    rcase("llama3-8b/h100x16/open-layout", "llama3-8b", {"seq_len": 8192, "global_batch": 256},
          cluster=("H100-SXM-80GB", 16)),
    rcase("llama3-70b/h100x64/open-layout", "llama3-70b", {"seq_len": 8192, "global_batch": 256},
          cluster=("H100-SXM-80GB", 64)),
    rcase("llama3-70b/aws-gcp/max128", "llama3-70b", {"seq_len": 8192, "global_batch": 512},
          constraints={"clouds": ["aws", "gcp"], "gpus": ["H100-SXM-80GB", "H200-SXM-141GB"], "max_gpus": 128}),
    rcase("llama3.1-405b/h100x2048/tp8-fixed", "llama3.1-405b", {"seq_len": 8192, "global_batch": 1024},
          cluster=("H100-SXM-80GB", 2048), parallel={"tp": 8, "zero": 1, "sequence_parallel": True}),
    rcase("llama3.1-405b/h100x1024/open-layout", "llama3.1-405b", {"seq_len": 8192, "global_batch": 2048},
          cluster=("H100-SXM-80GB", 1024)),
    rcase("llama3.1-405b/gb200x576/fp8-mxfp8", "llama3.1-405b",
          {"seq_len": 8192, "global_batch": 576, "precision": "fp8", "framework": mc(fp8_recipe="mxfp8")},
          cluster=("GB200-B200", 576), parallel={"tp": 4, "cp": 1}),
    rcase("mixtral-8x7b/h100x32/open", "mixtral-8x7b", {"seq_len": 4096, "global_batch": 256},
          cluster=("H100-SXM-80GB", 32)),
    rcase("qwen3-30b-a3b/h100x16/titan", "qwen3-30b-a3b", {"seq_len": 4096, "global_batch": 128,
                                                          "framework": titan(compile=True)},
          cluster=("H100-SXM-80GB", 16)),
    rcase("deepseek-v3/h100x1024/pp16", "deepseek-v3", {"seq_len": 4096, "global_batch": 4096},
          cluster=("H100-SXM-80GB", 1024), parallel={"tp": 2, "pp": 16, "cp": 1, "etp": 1}),
    rcase("llama2-13b/a100x64/deepspeed", "llama2-13b", {"seq_len": 4096, "global_batch": 512,
                                                         "framework": "deepspeed"},
          cluster=("A100-SXM-80GB", 64)),
    rcase("llama2-7b/mi300x8/hf-trainer-ft", "llama2-7b", {"seq_len": 4096, "global_batch": 64,
                                                          "framework": "hf-trainer", "mode": "full_finetune"},
          cluster=("MI300X-192GB", 8)),
]


@pytest.mark.parametrize("job,big", RECOMMENDS)
def test_public_layout_recommend(tmp_path, cli, job, big):
    rec = answered(cli("recommend", _write(tmp_path, job), "--json", "--no-simulate", "--top", "3"))
    best = rec["best"]
    assert best is not None and best["fits"], rec.get("notes")
    for plan in [best, *rec["ranked"]]:
        _check_plan(plan, big)
    # offloaded state fits an 8-GPU training node's host RAM (AWS p5.48xlarge: 2,048 GiB; 80% usable),
    # though a bare-GPU cluster names no instance
    for plan in [best, *rec["ranked"]]:
        assert plan["memory_per_gpu_bytes"].get("host", 0.0) * 8 <= 0.8 * 2048 * 2**30, plan["memory_per_gpu_bytes"]
    # the chosen plan keeps what the job fixed
    for k, v in job.get("parallel", {}).items():
        if k in best["config"] and k != "sequence_parallel":
            assert best["config"][k] == v, (k, best["config"][k], v)


def _estimate(tmp_path, cli, job):
    return answered(cli("estimate", _write(tmp_path, job), "--json"))


def test_te_tp_overlap_needs_sequence_parallel(tmp_path, cli):
    """TE's userbuffer overlap splits the sequence-parallel all-gather / reduce-scatter; without SP
    Megatron-LM refuses it (arguments.py: "Tensor parallel communication/GEMM overlap can happen only
    when sequence parallelism is enabled") and Megatron-Bridge / NeMo turn it off (comm_overlap.py:
    "Disabling tensor parallel communication overlap due to sequence_parallel=False"). So without SP
    the step is the no-overlap step; with SP the overlap saves time."""
    job = ESTIMATES[[p.id for p in ESTIMATES].index("llama3-70b/mi300x x64/mcore-tp8-pp1")].values[0]
    job = json.loads(json.dumps(job))
    job["cluster"] = {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 8, "inter_node_gbps": 3200}
    steps = {}
    for sp in (False, True):
        for overlap in ("te", "none"):
            job["parallel"]["sequence_parallel"] = sp
            job["training"]["framework"] = mc(tp_overlap=overlap)
            steps[sp, overlap] = _estimate(tmp_path, cli, job)["step_time_s"]
    assert steps[False, "te"] == pytest.approx(steps[False, "none"], rel=1e-9)
    assert steps[True, "te"] < steps[True, "none"]


def test_titan_pp_fsdp_gathers_once_per_step(tmp_path, cli):
    """torchtitan under PP keeps each stage's FSDP weights gathered and its gradients unsharded until the
    last backward (apply_fsdp: no reshard after forward "for PP"; torch.distributed.pipelining stage.py
    ``backward_maybe_with_nosync``), so a step moves one all-gather (bf16) and one reduce-scatter (fp32)
    of the stage's parameters, not one per micro-batch. Bound, by hand: 405B / (TP 8 x PP 8) parameters
    per rank, DP 8 across 8 nodes (one GPU per node in the group: its 400 Gb/s NIC share, 50 GB/s);
    ring traffic 7/8 of (2 + 4) bytes per parameter."""
    job = ESTIMATES[[p.id for p in ESTIMATES].index("llama3.1-405b/h100x512/titan-fsdp-tp8-pp8-float8")].values[0]
    plan = _estimate(tmp_path, cli, job)
    per_rank = plan["params"] / 64
    bound = per_rank * (2 + 4) * 7 / 8 / 50e9
    assert plan["breakdown_s"]["comm_zero3"] == 0.0
    assert 0.0 < plan["breakdown_s"]["comm_dp"] <= 1.1 * bound, (plan["breakdown_s"]["comm_dp"], bound)
