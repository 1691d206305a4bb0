"""Build benchmarks/data/automodel_runs.csv (validate.automodel): NVIDIA NeMo AutoModel's performance summary,
"Pre-Training Performance / System: DGX-H100, Precision: BF16". Every cell is typed in as printed (read 2026-12-01
from docs.nvidia.com/nemo/automodel/latest/performance/performance-summary.md, the nightly page, a mirror of
NVIDIA-NeMo/Automodel HEAD docs/performance-summary.md, and the repository's two stored commits of that file, both
"Last Updated: 2025-10-02"); the benchmark configs the page links are named per row with their commit. The only
derived cells are DP (= #GPUs / (TP x PP x CP)) and the stack options the configs state (attention backend, DeepEP
where ep_size > 1). Not copied: the fine-tuning (LoRA / full SFT) tables; the "Nemotron V3 Ultra 550B (26.04)" row,
of which the stored page shows only its "128" GPUs. Run: python benchmarks/data/parts/scripts/automodel.py"""
import csv
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "automodel_runs.csv"
URL_LATEST = "https://docs.nvidia.com/nemo/automodel/latest/performance/performance-summary.md"
URL_NIGHTLY = "https://docs.nvidia.com/nemo/automodel/nightly/performance-summary.html"
URL_ROOT = "https://docs.nvidia.com/nemo/automodel/performance/performance-summary.md"
MIRROR = "https://stig.sh/NVIDIA-NeMo/Automodel/blob/HEAD/docs/performance-summary.md"
GH_01926 = "https://github.com/NVIDIA-NeMo/Automodel/blob/01926a5c443b7979463c73341bf64adf79de638e/docs/performance-summary.md"
GH_CE005 = "https://github.com/NVIDIA-NeMo/Automodel/blob/ce005dd86d7818840a5605d7e668a5202800d306/docs/performance-summary.md"
CFG = "https://github.com/NVIDIA-NeMo/Automodel/blob/{c}/examples/benchmark/configs/{f}"
IC = ("DGX H100: NVLink4/NVSwitch (900GB/s/GPU) intra-node; 8x400Gb/s NDR InfiniBand per node "
      "(the table's system, DGX-H100; fabric not restated)")
TABLE = "Performance Summary / Pre-Training Performance / System: DGX-H100, Precision: BF16"
# (id, printed label, planner model name, layers, hidden, heads, kv, ffn, vocab, experts, topk,
#  gpus, gbs, mbs, lbs, ga, seq, tp, pp, cp, ep_printed, vp_printed, fsdp_printed, kernels, step, tflops, tokens,
#  release, ep_run, recompute, attn, config (commit, file), provenance, also_at, scored, reason)
R = [
 ("automodel_2602_h100_nemotron-3-super-120b-a12b_bf16_64", "Nemotron V3 Super 120B (26.02)",
  "Nemotron 3 Super 120B-A12B w/o MTP (hybrid: 40 Mamba-2 + 40 LatentMoE + 8 attention layers)",
  88, 4096, 32, 2, 2688, 131072, 512, 22, 64, 512, 2, 2, 4, 4096, 1, 1, 1, "64", "-", "64",
  "TE + DeepEP + TorchSDPA", 7.286, 334, 4497, "26.02", 64, "full", "fa2",
  ("e344133e48ee2bbf5b24b9c6656e8fad1d9e6253", "nemotron_super_v3_te_deepep.yaml"),
  URL_LATEST, f"{URL_NIGHTLY}; {MIRROR}", True, ""),
 ("automodel_2602_h100_nemotron-3-nano-30b-a3b_bf16_8", "Nemotron V3 Nano 30B (26.02)",
  "Nemotron 3 Nano 30B-A3B (hybrid: 23 Mamba-2 + 23 MoE + 6 attention layers)",
  52, 2688, 32, 2, 1856, 131072, 128, 6, 8, 512, 4, 4, 16, 4096, 1, 1, 1, "8", "-", "8",
  "TE + DeepEP + TorchSDPA", 15.614, 328, 16789, "26.02", 8, "full", "fa2",
  ("08a48f76cef67ca85c9e0a2caaf85059d349e5c6", "nemotron_nano_v3_te_deepep.yaml"),
  URL_LATEST, f"{URL_NIGHTLY}; {URL_ROOT}; {MIRROR}", True, ""),
 ("automodel_main_h100_deepseek-v3_bf16_1024", "DeepSeek V3 671B",
  "DeepSeek-V3 (MLA, 1 shared expert, 3 dense layers) w/o MTP",
  61, 7168, 128, 128, 2048, 129280, 256, 8, 1024, 8192, 1, 8, 4, 4096, 1, 4, 1, "64", "8", "256",
  "TE + DeepEP", 37.87, 216, 865, "main 2025-10-02", 64, "full", "cudnn",
  ("604375acc4dd0fec46e3490bc66535f98ddcc832", "deepseek_v3_te_deepep_1024.yaml"),
  URL_LATEST, f"{URL_NIGHTLY}; {MIRROR}; {GH_01926}; {GH_CE005}", True, ""),
 ("automodel_main_h100_deepseek-v3_bf16_256", "DeepSeek V3 671B",
  "DeepSeek-V3 (MLA, 1 shared expert, 3 dense layers) w/o MTP",
  61, 7168, 128, 128, 2048, 129280, 256, 8, 256, 512, 1, 8, 1, 4096, 1, 4, 1, "64", "8", "64",
  "TE + DeepEP", 8.18, 250, 1002, "main 2025-10-02", 64, "full", "cudnn",
  ("037e04a6a256dff70ef1ac7ea4c73819b8aab6de", "deepseek_v3_te_deepep.yaml"),
  URL_LATEST, f"{URL_NIGHTLY}; {MIRROR}; {GH_01926}; {GH_CE005}", True, ""),
 ("automodel_main_h100_kimi-k2_bf16_256", "Kimi K2",
  "Kimi K2 (MLA, 384 experts + 1 shared, 1 dense layer)",
  61, 7168, 64, 64, 2048, 163840, 384, 8, 256, 512, 1, 8, 2, 4096, 1, 8, 1, "32", "4", "32",
  "TE + DeepEP", 8.86, 189, 924, "main 2025-10-02", 32, "full", "cudnn",
  ("080dca533b63291983ff936c9b2433f7958d6a7b", "kimi_k2_te_deepep.yaml"),
  URL_LATEST, f"{URL_NIGHTLY}; {MIRROR}; {GH_01926}; {GH_CE005}", True, ""),
 ("automodel_main_h100_qwen3-30b-a3b_bf16_8", "Qwen3 MoE 30B",
  "Qwen3-30B-A3B (head_dim 128, q-proj 4096 > hidden)",
  48, 2048, 32, 4, 768, 151936, 128, 8, 8, 512, 4, 4, 16, 4096, 1, 1, 1, "8", "-", "8",
  "TE + DeepEP", 21.773, 277, 12040, "main 2025-10-02", 8, "full", "cudnn",
  ("092af93eb7bb0fa1eb94b8f9137d834da8343304", "qwen3_moe_30b_te_deepep.yaml"),
  URL_LATEST, f"{URL_NIGHTLY}; {MIRROR}; {GH_01926}", True, ""),
 ("automodel_main0_h100_qwen3-30b-a3b_bf16_8", "Qwen3 MoE 30B",
  "Qwen3-30B-A3B (head_dim 128, q-proj 4096 > hidden)",
  48, 2048, 32, 4, 768, 151936, 128, 8, 8, 512, 4, 4, 16, 4096, 1, 1, 1, "8", "-", "8",
  "TE + DeepEP", 22.14, 212, 11842, "main 2025-10-02 (first print)", 8, "full", "cudnn",
  ("092af93eb7bb0fa1eb94b8f9137d834da8343304", "qwen3_moe_30b_te_deepep.yaml"),
  GH_CE005, "", False, "superseded: the same config's first print, replaced by 21.773 s / 12,040 tokens/s in every later version"),
 ("automodel_main_h100_gpt-oss-20b_bf16_8", "GPT-OSS 20B",
  "gpt-oss-20b (head_dim 64, alternating 128-token sliding-window/full attention, attention sinks)",
  24, 2880, 64, 8, 2880, 201088, 32, 4, 8, 256, 2, 2, 16, 4096, 1, 1, 1, "-", "-", "8",
  "TE + DeepEP + FlexAttn", 10.04, 279, 13058, "main 2025-10-02", 8, "none", "fa2",
  ("037e04a6a256dff70ef1ac7ea4c73819b8aab6de", "gptoss_20b_te_deepep.yaml"),
  URL_LATEST, f"{URL_NIGHTLY}; {MIRROR}; {GH_01926}; {GH_CE005}", True, ""),
 ("automodel_main_h100_gpt-oss-120b_bf16_64", "GPT-OSS 120B",
  "gpt-oss-120b (head_dim 64, alternating 128-token sliding-window/full attention, attention sinks)",
  36, 2880, 64, 8, 2880, 201088, 128, 4, 64, 512, 2, 2, 4, 4096, 1, 1, 1, "-", "-", "64",
  "TE + DeepEP + FlexAttn", 4.30, 231, 7626, "main 2025-10-02", 64, "none", "fa2",
  ("037e04a6a256dff70ef1ac7ea4c73819b8aab6de", "gptoss_120b_te_deepep.yaml"),
  URL_LATEST, f"{URL_NIGHTLY}; {MIRROR}; {GH_01926}; {GH_CE005}", True, ""),
 ("automodel_main_h100_llama3-70b_bf16_64", "Llama3 70B",
  "Llama 3 70B",
  80, 8192, 64, 8, 28672, 128256, "", "", 64, 128, 1, 1, 4, 8192, 1, 1, 2, "-", "-", "32",
  "TE + fsdp2_prefetch", 18.90, 389, 866.77, "main (2026)", 1, "full (not stated; assumed: see notes)", "cudnn",
  None, URL_NIGHTLY, MIRROR, True, ""),
]
RESHARD = ("gpt-oss-120b", "nemotron-3-super-120b-a12b")  # configs that set reshard_after_forward: true
# configs whose BackendConfig sets ``enable_fsdp_optimizations: true`` (AutoModel's deferred FSDP2 sync,
# planner.model.stacks Stack.fsdp_defer_sync): nemotron_nano_v3_te_deepep.yaml @08a48f76 and
# deepseek_v3_te_deepep.yaml @037e04a6. Not: qwen3_moe_30b_te_deepep.yaml @092af93e and
# deepseek_v3_te_deepep_1024.yaml @604375ac, which spell it ``enable_fsdp_optimization`` (the key recipes/llm/train_ft.py
# and moe/fsdp_mixin.py read is ``enable_fsdp_optimizations``); Super, Kimi K2, gpt-oss: not set (default False)
# AutoPipeline ``layers_per_stage`` of the PP configs (validate.automodel_virtual_stages turns it into the stages the
# run builds: ceil(layers / layers_per_stage), rounded down to a multiple of PP); the other rows run no PP
LAYERS_PER_STAGE = {"automodel_main_h100_deepseek-v3_bf16_1024": 4, "automodel_main_h100_deepseek-v3_bf16_256": 2,
                    "automodel_main_h100_kimi-k2_bf16_256": 2}
FSDP_OPT = (("08a48f76cef67ca85c9e0a2caaf85059d349e5c6", "nemotron_nano_v3_te_deepep.yaml"),
            ("037e04a6a256dff70ef1ac7ea4c73819b8aab6de", "deepseek_v3_te_deepep.yaml"))
cols = ["id", "source", "table", "model", "model_printed", "layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab",
        "seq_len", "moe_experts", "moe_topk", "global_batch_seqs", "micro_batch", "tp", "pp", "dp", "cp", "vpp", "ep",
        "zero_or_fsdp", "recompute", "precision", "gpu", "num_gpus", "gpus_per_node", "interconnect", "metric", "value",
        "notes", "tp_overlap", "inter_node_gbps", "stack_options", "kernel_optimizations", "table_release", "lbs_printed",
        "ga_printed", "ep_printed", "vp_printed", "fsdp_printed", "step_time_printed_s", "tflops_per_gpu_printed",
        "tokens_per_s_printed", "config", "provenance", "also_at", "read_date", "scored", "not_scored_reason",
        "pp_layers_per_stage", "optimizer"]
with open(OUT, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")  # the committed file has LF line ends
    w.writerow(cols)
    for (rid, label, model, L, h, a, kv, ffn, V, E, k, gpus, gbs, mbs, lbs, ga, seq, tp, pp, cp, epp, vpp, fsdp,
         kern, step, tf, tok, rel, ep, rec, attn, cfg, prov, also, scored, why) in R:
        dp = gpus // (tp * pp * cp)
        cfg_url = CFG.format(c=cfg[0], f=cfg[1]) if cfg else ""
        if rec == "full":
            rtxt = "full (activation_checkpointing: true in the benchmark config: torch checkpoint_wrapper per decoder block)"
        elif rec == "none":
            rtxt = "none (activation_checkpointing: false in the benchmark config)"
        else:
            rtxt = rec
        notes = (f"NeMo AutoModel performance summary, DGX-H100 BF16 pre-training table; printed {step} s per global step, "
                 f"{tf} model TFLOP/s/GPU, {tok} tokens/s/GPU; GBS {gbs} MBS {mbs} LBS {lbs} GA {ga}; "
                 f"EP={ep}" + (f" (the table prints EP '-', the linked config sets ep_size {ep})" if epp == "-" and ep > 1 else "")
                 + "; mock data, fake balanced gate (forced uniform routing), no gradient clipping (table notes). "
                 + ("Layout of the 64-GPU run (FSDP 32 x CP 2) from the table; its pretraining config is not linked and "
                    "activation checkpointing is assumed on: 80 layers of 4096-token activations exceed 80 GB without it."
                    if "llama" in rid else f"benchmark config {cfg_url}"))
        # the stack options the run states (its config), read by validate.pr2_options: DeepEP dispatcher where EP > 1,
        # the attention kernel its backend names (TE -> cuDNN; torch SDPA / FlexAttention -> FlashAttention-2 rates)
        opts = [f"attn_kernel={attn}", "tp_overlap=none"]
        if ep > 1:
            opts.append("moe_dispatcher=deepep")
        # FSDP2 reshard after forward: true where the config says so (gpt-oss-120b ``parallelizer.reshard_after_forward``,
        # Super ``distributed.moe.reshard_after_forward``), else the MoE parallelizer's default, False
        # (components/moe/parallelizer.py ``parallelize_model(..., reshard_after_forward=False)``; DeepSeek-V3 sets
        # false explicitly); Llama 3 70B (config not linked) runs the dense FSDP2 path, whose per-layer wrap
        # (components/distributed/parallelizer.py ``apply_fsdp2_sharding_recursively``: ``reshard_after_forward =
        # int(layer_id) < len(module) - 1``) reshards every layer but the last: True
        opts.append(f"reshard_after_forward={'llama' in rid or rid.split('_')[3] in RESHARD}")
        if cfg in FSDP_OPT:
            opts.append("fsdp_defer_sync=True")
        # the training loop's FSDP2 gradient sync on the last micro-batch only (planner.model.stacks
        # Stack.defer_fsdp_grad_sync, the stack's default): off on the dense Llama 3 70B run, whose unsharded fp32
        # gradients (280 GB) cannot be held -- AutoModel's 64-GPU FSDP 32 x CP 2 Llama-3.1-70B benchmark config sets
        # ``defer_fsdp_grad_sync: False   # Must be False with GA>1: True -> delayed resharding -> OOM``
        # (examples/llm_pretrain/llama3_1_70b_pretrain_benchmark_8nodes_tp1cp2pp1.yaml @4663592c)
        if "llama" in rid:
            opts.append("defer_fsdp_grad_sync=False")
        # the loss: every linked benchmark config's ``loss_fn`` is ``MaskedCrossEntropy`` with ``fp32_upcast: false``
        # (cross-entropy on the 16-bit logits; planner.model.stacks Stack.ce_fp32_upcast); Llama 3 70B's (not linked)
        # is left at the class default, true, as AutoModel's 70B benchmark config @4663592c names the loss
        if cfg:
            opts.append("ce_fp32_upcast=False")
        w.writerow([rid, "NVIDIA-NeMo/Automodel docs/performance-summary.md (docs.nvidia.com/nemo/automodel performance summary)",
                    TABLE, model, label, L, h, a, kv, ffn, V, seq, E, k, gbs, mbs, tp, pp, dp, cp, "" if vpp == "-" else vpp,
                    ep, f"FSDP2 (PyTorch fully_shard per decoder block), FSDP={fsdp}", rtxt, "bf16",
                    "H100-SXM5-80GB", gpus, 8, IC, "tokens_per_s_per_gpu", tok, notes, "none", 3200, ";".join(opts), kern,
                    rel, lbs, ga, epp, vpp, fsdp, step, tf, tok, cfg_url, prov, also, "2026-12-01", scored, why,
                    # every linked config sets ``_target_: torch.optim.Adam`` (validate: torch's foreach Adam); the
                    # Llama 3 70B row links none and stays on validate's AdamW default
                    LAYERS_PER_STAGE.get(rid, ""), "adam" if cfg else ""])
