"""Build benchmarks/data/open_reports.csv (validate.open_reports): open-model production runs whose layout and
throughput are published. Every value is typed in from the source named in the row (source_loc / layout_source,
read 2026-12-01); the only arithmetic is ``measured_step_s``, the published figure as seconds per step
(tests/test_open_reports_data.py recomputes it). Run: python benchmarks/data/parts/scripts/open_reports.py"""
from pathlib import Path

from parts_csv import FMS_ROPE, write_csv

OUT = Path(__file__).resolve().parents[2] / "open_reports.csv"
READ = "2026-12-01"
cols = ["id","model","preset","layers","hidden","heads","kv_heads","ffn_hidden","vocab","mlp","norm","position","tied_embeddings",
        "parallel_residual","params_total","seq_len","global_batch_seqs","micro_batch","grad_accum","train_iters",
        "num_gpus","gpu","gpus_per_node","inter_node_gbps","interconnect","tp","pp","dp","ep","zero","dp_shard","precision","grad_reduce","recompute","recompute_modules",
        "flash_attention","stack","stack_options","stack_as_run","metric","value","flop_formula","measured_step_s",
        "source_url","source_loc","layout_source","read_date","scored","not_scored_reason","cross_check","notes"]
rows = []
def step(r):
    m, v = r["metric"], float(r["value"])
    gb, s, g = int(r["global_batch_seqs"]), int(r["seq_len"]), int(r["num_gpus"])
    if m == "tokens_per_s_per_gpu":
        return gb * s / (v * g)
    if m == "gpu_hours_total":
        return v * 3600 / (g * int(r["train_iters"]))
    if m == "iteration_time_s":
        return v
    if m == "gpu_hours_per_trillion_tokens":
        return v * 3600 * gb * s / 1e12 / g
    if m == "tflops_per_gpu" and r["flop_formula"] == "neox_2022":
        per_tok = 6 * int(r["params_total"]) + 60 * s * int(r["hidden"]) * int(r["layers"])
        return gb * s * per_tok / (v * 1e12 * g)
    raise ValueError(m)

neox_arch = dict(mlp="gelu", norm="layernorm", position="rope", tied_embeddings=False, parallel_residual=True)
rows.append(dict(
    id="neox20b", model="GPT-NeoX-20B", layers=44, hidden=6144, heads=64, kv_heads=64, ffn_hidden=24576, vocab=50432,
    **neox_arch, params_total=20556201984, seq_len=2048, global_batch_seqs=1536, micro_batch=4, grad_accum=32, train_iters=150000,
    num_gpus=96, gpu="A100-SXM-40GB", gpus_per_node=8, inter_node_gbps=800,
    interconnect="12 Supermicro AS-4124GO-NART (HGX A100 8-GPU, NVSwitch); each GPU reaches InfiniBand through one of four ConnectX-6 HCAs (GPUDirect RDMA); 4 x 200 Gb/s HDR per node assumed (HDR rate of ConnectX-6 not stated in the excerpt)",
    tp=2, pp=4, dp=12, zero=1, precision="fp16", recompute="full", flash_attention=False,
    # configs/20B.yml "synchronize-each-layer": true (DeepSpeed's checkpoint syncs at each layer call's ends)
    # GPT-NeoX's own attention code: partial-rotary re-joins (stacks.Stack.neox_attention)
    # the DeeperSpeed gpt-neox pinned for it (requirements/requirements.txt @00c4fb7e: DeeperSpeed @eb7f5cff): the
    # pipeline engine's _exec_reduce_grads all-reduces every gradient (buffered_allreduce_fallback), ZeRO-1's stage1.py
    # steps its partition of them (stacks.Stack.grad_all_reduce), after a per-tensor overflow check and gradient norm
    # over all of the rank's gradients (stage1.py ``step``: CheckOverflow, get_grad_norm; stacks.Stack.serial_grad_checks)
    stack_options="sync_each_layer=True;neox_attention=True;grad_all_reduce=always;serial_grad_checks=True",
    stack="megatron-deepspeed", stack_as_run="EleutherAI GPT-NeoX (Megatron layers + DeepSpeed PipelineEngine, ZeRO-1), PyTorch 1.10, NCCL 2.10.3",
    metric="tflops_per_gpu", value=117, flop_formula="neox_2022",
    source_url="https://arxiv.org/abs/2204.06745",
    source_loc="Black et al. 2022 §3 (Training): 96 A100-SXM4-40GB, TP 2, PP 4, ZeRO, '117 teraFLOPS per GPU'; cluster §2.3 (read via paper notes, search-index file 4426859803, and the xuzou.cn summary page https://ai-papers.xuzou.cn/papers/gpt_neox_2022); arch: HF model card (params 20,556,201,984, vocab padded 50432, rotary 25%)",
    layout_source="github.com/EleutherAI/gpt-neox configs/20B.yml @252ddc52 ('as it was trained on 96x 40GB A100'): pipe 4, model 2, micro 4, grad-accum 32, ZeRO stage 1 (overlap_comm, reduce_scatter, 1.26e9 buckets), fp16, checkpoint-activations (checkpoint-num-layers 1, synchronize-each-layer true, wall_clock_breakdown false), fused softmax (no flash), gpt_j_residual, rotary_pct 0.25, no weight tying",
    read_date=READ,
    notes="FLOP definition not in the paper text read: the GPT-NeoX get_flops of 2021-22 (megatron/logging.py: batch*seq*(6*total_params + 60*seq*hidden*layers)/(time*world)) is taken; Narayanan eq. 3 with recompute (what gpt-neox logs since 2023) gives a step 8.7% longer (47.7 s). Global batch: config 4 x 32 x 12 = 1536 (paper: '~3.15M tokens, 1538 contexts'). Parallel attention+MLP (gpt_j_residual: one TP all-reduce per layer forward instead of two) is not representable in ModelSpec: the planner charges two."))

PY = [  # name, layers, hidden, heads, gpus, gpu_hours, tp, mb, gas, flash, config commit
    # 70M: the config version of the released (retrained) suite, @ddad623a (attention-config flash; checkpoint-factor
    # 1000 with extra-save-iters [0, 1, 2, 4, ..., 512], the step-0..512 checkpoints the retrained suite added), not
    # @ae1ce75d (no attention-config, save-interval 1000): the pythia README changelog (April 3, 2023), "Flash
    # Attention was used in the new retrained suite"; head dim 64 runs FA1's 64 kernel
    ("70m", 6, 512, 8, 32, 510, 1, 32, 1, True, "ddad623a"),
    ("160m", 12, 768, 12, 32, 1030, 1, 32, 1, True, "00753222"),
    ("410m", 24, 1024, 16, 32, 2540, 1, 32, 1, True, "ddad623a"),
    # 1B: no flash although @ddad623a lists it and the changelog says the retrained suite used it: its head dim 256
    # exceeds what FlashAttention-1 runs ('head dimensions ... up to 128', flash-attention README of the period)
    ("1b", 16, 2048, 8, 64, 4830, 1, 16, 1, False, "b14d5af9"),
    ("1.4b", 24, 2048, 16, 64, 7120, 1, 16, 1, True, "4d0c9018"),
    ("2.8b", 32, 2560, 32, 64, 14240, 1, 16, 1, True, "2d898509"),
    ("6.9b", 32, 4096, 32, 128, 33500, 2, 8, 2, True, "31654e58"),
    ("12b", 36, 5120, 40, 256, 72300, 4, 8, 2, True, "55e1182b"),
]
for name, L, d, H, g, gh, tp, mb, gas, flash, commit in PY:
    dp = g // tp
    assert dp * mb * gas == 1024, name
    cfgdir = {"70m": "70M", "160m": "160M", "410m": "410M", "1b": "1B", "1.4b": "1.4B", "2.8b": "2.8B", "6.9b": "6.9B", "12b": "12B"}[name]
    rows.append(dict(
        id=f"pythia_{name}", model=f"Pythia-{name.upper()}", layers=L, hidden=d, heads=H, kv_heads=H, ffn_hidden=4 * d, vocab=50304,
        **neox_arch, params_total="", seq_len=2048, global_batch_seqs=1024, micro_batch=mb, grad_accum=gas, train_iters=143000,
        num_gpus=g, gpu="A100-SXM-40GB", gpus_per_node=8, inter_node_gbps=400,
        interconnect="not stated in what was read; the configs' /fsx data paths (AWS FSx for Lustre) point at AWS: p4d.24xlarge assumed (8 A100-SXM4-40GB, NVSwitch, 400 Gb/s EFA: hardware_catalog instances.csv)",
        # precision: fp16 as every config says, but 1B: the pythia README changelog (April 3, 2023) and the
        # EleutherAI/pythia-1b model card, "the new EleutherAI/pythia-1b is trained with bf16, because in fp16 the
        # model corrupted due to loss spikes late in training" (DeeperSpeed v1.0's ZeRO-1 takes either:
        # FP16_DeepSpeedZeroOptimizer_Stage1(..., precision=self.precision()), engine.py HEAD side @1622ff0f)
        tp=tp, pp=1, dp=dp, zero=1, precision="bf16" if name == "1b" else "fp16", recompute="full", flash_attention=flash,
        # GPT-NeoX's "flash" attention-config calls FlashAttention-1 (megatron/model/flash_attention.py wraps
        # flash_attn_unpadded_qkvpacked_func, the FA1 name FA2 renamed varlen): at half FA2's rate, the FA1-era
        # factor the llm-foundry stack already uses (Dao 2023 abstract: FA2 ~2x FA1)
        # every Pythia config sets "synchronize-each-layer": true (stacks.Stack.sync_each_layer)
        # and GPT-NeoX's own attention code: partial-rotary re-joins, flash-path q/k/v packing (Stack.neox_attention)
        # FA1 builds kernels for head dims 32 / 64 / 128 and runs a head dim in between on the next (2.8B: 80 on
        # the 128 kernel; stack_kernels.FA1_HEAD_DIM_TILES, stacks.Stack.attn_hdim_tiles)
        # the DeeperSpeed they ran all-reduces every gradient in the pipeline engine, as NeoX-20B's
        # (stacks.Stack.grad_all_reduce "always"): gpt-neox README and DeeperSpeed README, "Versions": "Version 1.0
        # of GPT-NeoX and DeeperSpeed maintain snapshots of the old stable versions that GPT-NeoX-20B and the Pythia
        # Suite were trained on", DeeperSpeed "prior to 3/9/2023 ... based on an old version of DeepSpeed (0.3.15)";
        # pythia README "Reproducing Training": "git checkout v1.0 to switch to the 1.0 branch which Pythia was trained with";
        # that pre-3/9/2023 DeeperSpeed's PipelineEngine._exec_reduce_grads is the HEAD side of the upstream merge
        # EleutherAI/DeeperSpeed @1622ff0f: "if self.is_data_parallel and self.pipeline_enable_backward_allreduce:
        # self.buffered_allreduce_fallback(...)", at any precision, as NeoX-20B's @eb7f5cff (early 2022)
        # and its ZeRO-1 optimizer (stage1.py ``step``) checks overflow and takes the gradient norm tensor by tensor,
        # each with a host read, over all the rank's gradients before stepping its partition (runtime/utils.py HEAD side
        # @1622ff0f: CheckOverflow.has_overflow_serial, get_grad_norm; stacks.Stack.serial_grad_checks)
        # every Pythia config sets "partition-activations": true (NeoX-20B's 20B.yml false): DeepSpeed's checkpoint
        # keeps each layer input as its 1/tp slice and re-gathers it in the backward (stacks.Stack.partition_activations)
        stack_options=("attn_rel=0.5;attn_hdim_tiles=32/64/128;" if flash else "") + "sync_each_layer=True;neox_attention=True;grad_all_reduce=always;serial_grad_checks=True;partition_activations=True",
        stack="megatron-deepspeed", stack_as_run="EleutherAI GPT-NeoX (Megatron layers + DeepSpeed PipelineEngine at pipe-parallel-size 1, ZeRO-1)",
        metric="gpu_hours_total", value=gh, flop_formula="",
        source_url="https://arxiv.org/abs/2304.01373",
        source_loc=f"Biderman et al. 2023, Appendix D Table 5 (PDF p21): {name.upper()} GPU count {g}, total GPU hours {gh:,} (the caption: iteration time x iterations x GPUs / 3600, from logged iteration time); read via a public held-out-run dataset builder that cites the PDF page (search-index file 71571056092); 1B's 4,830 also quoted by github.com/jzhang38/TinyLlama README",
        layout_source=f"github.com/EleutherAI/pythia models/{cfgdir}/pythia-{name}.yml @{commit}: model-parallel {tp}, pipe 1, micro {mb}, grad-accum {gas} ('trained on {g} gpus'), ZeRO stage 1, fp16{' (bf16 as run: README changelog / model card)' if name == '1b' else ''}, checkpoint-activations (checkpoint-num-layers 1, partition-activations, synchronize-each-layer true; wall_clock_breakdown true), attention-config flash: {'yes' if flash else 'absent in the version read'}; train-iters 143000; README: 299,892,736,000 tokens = 143000 x 1024 x 2048",
        read_date=READ,
        notes="GPU-hours cover the whole run at the logged iteration time (checkpoint saves every 1000 steps and evaluation included if logged in it). 1B ran bf16 (README changelog, model card; its config says fp16; same A100 peak). Flash attention: the retrained suite used it (README changelog, April 3, 2023), as FlashAttention-1 (GPT-NeoX v1.0's flash_attn_unpadded_qkvpacked_func); 1B (head dim 256, over FA1's 128) without it. DeeperSpeed v1.0 (the snapshot the README 'Versions' names for Pythia) all-reduces every gradient in its pipeline engine (grad_all_reduce=always). Parallel attention+MLP as GPT-NeoX-20B (not representable)."))

rows.append(dict(
    id="tinyllama_1.1b", model="TinyLlama-1.1B", layers=22, hidden=2048, heads=32, kv_heads=4, ffn_hidden=5632, vocab=32000,
    mlp="swiglu", norm="rmsnorm", position="rope", tied_embeddings=False, parallel_residual=False, params_total="",
    seq_len=2048, global_batch_seqs=1024, micro_batch=8, grad_accum=8, train_iters="", num_gpus=16, gpu="A100-SXM-40GB",
    gpus_per_node=8, inter_node_gbps=1600,
    interconnect="not stated (16 A100-40G; the script's num_of_devices 8 => 2 nodes of 8); 8 x 200 Gb/s assumed (the A100 default of validate.pr2_case)",
    tp=1, pp=1, dp=16, zero=3, precision="bf16", recompute="none", flash_attention=True,
    stack="torchtitan", stack_as_run="TinyLlama on lit-gpt / Lightning Fabric FSDPStrategy (FULL_SHARD default, auto-wrap per Block, no activation checkpointing), flash-attn 2, fused RMSNorm / SwiGLU / rotary / cross-entropy kernels, torch.optim.AdamW(foreach=False)",
    metric="tokens_per_s_per_gpu", value=24000, flop_formula="",
    source_url="https://github.com/jzhang38/TinyLlama",
    source_loc="README.md @026587c0 'Blazingly Fast': 'throughput of 24k tokens per second per A100-40G GPU ... 56% model flops utilization without activation checkpointing ... per-gpu batch size of 16k tokens'; 'Training Details' table (22 layers, 32 heads, 4 query groups, 2048, 5632, seq 2048, batch 2M tokens (2048 * 1024), 16 A100-40G); comparison table 3456 A100 GPU hours for 300B tokens (= 300e9 / 24,113 tokens/s/GPU / 3600: consistent)",
    layout_source="pretrain/tinyllama.py @01c9c774: FSDPStrategy(auto_wrap_policy={Block}, activation_checkpointing_policy=None), micro_batch_size 8, global_batch_size 512 per num_of_devices 8 (=> 64 sequences per GPU, 8 accumulation steps; 1024 over 16 GPUs), bf16-mixed (get_default_supported_precision)",
    read_date=READ,
    notes="arXiv:2401.02385 not read. Stack mapping: torchtitan (FSDP per block; its compile=True fusions stand for TinyLlama's hand-fused kernels; tp_overlap none), not llm-foundry (Triton FA1, Composer) nor hf-trainer (eager HF code under autocast). Under accumulation FSDP re-gathers each block every micro-batch (no_backward_sync skips only the reduce-scatter)."))

rows.append(dict(
    id="bloomberggpt_50b", model="BloombergGPT-50B", layers=70, hidden=7680, heads=40, kv_heads=40, ffn_hidden=30720, vocab=131072,
    mlp="gelu", norm="layernorm", position="none", tied_embeddings=True, parallel_residual=False, params_total=50600000000,
    seq_len=2048, global_batch_seqs=2048, micro_batch=4, grad_accum=1, train_iters=139200, num_gpus=512, gpu="A100-SXM-40GB",
    gpus_per_node=8, inter_node_gbps=400,
    interconnect="64 x 8 A100 40GB (AWS SageMaker): p4d.24xlarge assumed, 400 Gb/s EFA per node (hardware_catalog instances.csv)",
    tp=1, pp=1, dp=512, zero=3, dp_shard=128, precision="bf16", recompute="full", flash_attention=True,
    stack="deepspeed", stack_as_run="Amazon SageMaker model parallelism library with MiCS (ZeRO-3 sharding within 128-GPU groups, replicated across 4), bf16, activation checkpointing",
    metric="iteration_time_s", value=32.5, flop_formula="",
    source_url="https://arxiv.org/abs/2303.17564",
    source_loc="Wu et al. 2023 Table 4 (PDF p11: 64 x 8 A100 40GB, 70 layers, 40 heads, hidden 7,680, vocab 131,072, 50.6B parameters, 569B tokens, step time 32.5 s) and §3 (PDF p16: 139,200 steps, ~53 days; avg 102 TFLOPs per GPU); read via the held-out-run dataset builder citing the PDF pages (search-index file 71571056092) and a paper summary (search-index file 28214256127: ZeRO, BF16, activation checkpointing, 102 TFLOPs, 32.5 s)",
    layout_source="paper as summarised: ZeRO stage 3 (MiCS), bf16, activation checkpointing; batch 1024 for the first 7,200 steps then 2048 (7200 x 1024 + 132000 x 2048 sequences x 2048 tokens = 568.7B of the 569B)",
    read_date=READ,
    notes="32.5 s is the GBS-2048 step: 102e12 x 512 x 32.5 = 8 x 50.6e9 x 2048 x 2048 within 0.1% (8N FLOPs per token: recompute counted). Not stated in what was read, so assumed: micro-batch 4 (no accumulation: 2048 / 512), flash attention (the deepspeed stack's), the fabric. MiCS's 128-GPU sharding group replicated 4 times is HSDP (parallel.dp_shard 128: ZeRO-3 within the group, gradients all-reduced across the 4 replicas), representable since 2026-12-01 and mapped so since 2026-12-02 (it was ZeRO-3 over all 512, whose 511-step gather rings over EFA priced 11.9 s of the 26.1 s predicted step, against 3.3 s over 128: the old mapping's -19.7% was closer for that wrong reason; now -46%). ALiBi -> position none; FFN 4h GELU; the extra embedding LayerNorm ignored."))

# ---- IBM fms-fsdp (PyTorch FSDP, Llama 2 shapes): the fms-fsdp README table and the PyTorch blog's Table 1 ----
LLAMA2 = {  # layers, hidden, heads, kv heads, ffn (fms_fsdp/utils/config_utils.py get_model_config)
    "7b": (32, 4096, 32, 32, 11008), "13b": (40, 5120, 40, 40, 13824),
    "34b": (48, 8192, 64, 8, 22016), "70b": (80, 8192, 64, 8, 28672)}
FMS_README = "https://github.com/foundation-model-stack/fms-fsdp"
FMS_BLOG = "https://pytorch.org/blog/maximizing-training/"
FMS = [  # id suffix, size, gpu, gpus, inter Gb/s, sharding, ac, mb, tokens/s/GPU, table, published MFU
    ("readme_a100", "7b", "A100-SXM-80GB", 128, 400, "hsdp", "none", 2, 3760, "readme", None),
    ("readme_a100", "13b", "A100-SXM-80GB", 128, 400, "hsdp", "none", 1, 1700, "readme", None),
    ("readme_a100", "34b", "A100-SXM-80GB", 128, 400, "fsdp", "full", 8, 772, "readme", None),
    ("readme_a100", "70b", "A100-SXM-80GB", 128, 400, "fsdp", "full", 6, 380, "readme", None),
    ("blog_a100", "7b", "A100-SXM-80GB", 128, 400, "hsdp", "none", 2, 3700, "blog", 0.57),
    ("blog_a100", "13b", "A100-SXM-80GB", 128, 400, "hsdp", "selective", 2, 1800, "blog", 0.51),
    ("blog_a100", "34b", "A100-SXM-80GB", 128, 400, "fsdp", "full", 2, 700, "blog", 0.47),
    ("blog_a100", "70b", "A100-SXM-80GB", 128, 400, "fsdp", "full", 2, 370, "blog", 0.50),
    ("blog_h100", "7b", "H100-SXM-80GB", 96, 800, "hsdp", "none", 2, 7500, "blog", 0.37),
    ("blog_h100", "13b", "H100-SXM-80GB", 96, 800, "hsdp", "selective", 2, 3800, "blog", 0.35),
    ("blog_h100", "34b", "H100-SXM-80GB", 96, 800, "fsdp", "full", 2, 1550, "blog", 0.32),
    ("blog_h100", "70b", "H100-SXM-80GB", 96, 800, "fsdp", "full", 2, 800, "blog", 0.34),
]
for suffix, size, gpu, g, inter, shard, ac, mb, tps, table, mfu in FMS:
    L, d, H, kv, f = LLAMA2[size]
    hsdp = shard == "hsdp"
    opts = "compile=False;tp_overlap=none" + (";recompute_early_stop=True" if ac != "none" else "") + \
        (";selective=layer" if ac == "selective" else "") + FMS_ROPE
    if table == "readme":
        loc = ("fms-fsdp README.md @0d319983 table (Model Size | Hardware | Sharding Strategy | Activation Checkpointing | "
               f"Batch Size | Training Throughput (128 GPUs)): {size}, 128 * A100, {shard.upper()}, AC {ac != 'none'}, "
               f"batch {mb}, {tps} token/gpu/sec")
        hw_note = "A100 80GB and 400 Gb/s from the PyTorch blog of the same team and cluster (the README says '128 * A100')"
    else:
        loc = (f"PyTorch blog 'Maximizing training throughput using PyTorch FSDP' (2024-03-13; pytorch/pytorch.github.io "
               f"_posts/2024-03-13-maximizing-training.md @2ad10059) Table 1: {size.upper()}, batch size {mb}, activation "
               f"checkpoint {ac}, {tps} tokens/sec/GPU on {'A100 80GB, 400Gbps' if 'A100' in gpu else 'H100 80GB, 800Gbps'} "
               f"({g} GPUs), MFU {mfu}")
        hw_note = f"{g} GPUs, {inter} Gb/s inter-node (blog); 8 GPUs a node assumed"
    rows.append(dict(
        id=f"fms_{suffix}_{size}", model=f"Llama-2 {size.upper()} shape (FMS)", layers=L, hidden=d, heads=H, kv_heads=kv,
        ffn_hidden=f, vocab=32000, mlp="swiglu", norm="rmsnorm", position="rope", tied_embeddings=False,
        parallel_residual=False, params_total="", seq_len=4096, global_batch_seqs=mb * g, micro_batch=mb, grad_accum=1,
        train_iters="", num_gpus=g, gpu=gpu, gpus_per_node=8, inter_node_gbps=inter, interconnect=hw_note,
        tp=1, pp=1, dp=g, zero=3, dp_shard=8 if hsdp else "", precision="bf16", recompute=ac, flash_attention=True,
        stack="torchtitan", stack_options=opts,
        stack_as_run="IBM fms-fsdp: PyTorch FSDP (FSDP1, per LLaMABlock, bf16 MixedPrecision), SDPA FlashAttention-2, eager "
                     "(use_torch_compile=False), non-reentrant checkpoint_wrapper (torch >= 2.2 nightlies: early stop on)",
        metric="tokens_per_s_per_gpu", value=tps, flop_formula="",
        source_url=FMS_README if table == "readme" else FMS_BLOG, source_loc=loc,
        layout_source=("fms-fsdp scripts/{7b,13b,34b,70b}.sh @2fdced76 (sharding_strategy, fsdp_activation_checkpointing, "
                       "use_torch_compile=False; that version's batch sizes differ from the tables: the tables' are taken), "
                       "fms_fsdp/config/training.py (seq_length 4096, vocab 32000), fms_fsdp/policies/ac_handler.py "
                       "(selective = AC on a fraction p of the blocks), fms_fsdp/utils/config_utils.py get_model_config "
                       "(34b/70b kvheads 8); blog: '1 million tokens per batch for 128 GPUs' = 2 x 4096 x 128, no accumulation"),
        read_date=READ,
        # HSDP (FSDP1 HYBRID_SHARD: sharded within a node, replicated across): parallel.dp_shard = the node's 8 GPUs.
        # Stored unscored until the planner modelled HSDP; scored since (2026-12-01), first with nothing fitted to them
        scored=True, not_scored_reason="",
        cross_check=(f"published MFU {mfu}" if mfu is not None else ""),
        notes=("Sharding " + ("stated (README)" if table == "readme" else f"not in the blog table: the README's {shard.upper()} "
               "for this size taken") + (" (HSDP: dp_shard 8, one node, as FSDP1 HYBRID_SHARD places it)" if hsdp else "")
               + ". The 13B 'Selective' fraction is not stated: every 2nd block (p = 1/2, "
               "torchtitan's layer SAC) assumed. 34B is a Llama-2-style 34B (CodeLlama-34B shape, GQA 8) as fms-fsdp "
               "configures it; GQA for 34B/70B from the config version with kvheads (its MFU agrees, MHA would not).")))

# ---- StarCoderBase (BigCode, Megatron-LM fork) ----
rows.append(dict(
    id="starcoderbase_15.5b", model="StarCoderBase-15.5B", layers=40, hidden=6144, heads=48, kv_heads=1, ffn_hidden=24576,
    vocab=49152, mlp="gelu", norm="layernorm", position="learned", tied_embeddings=True, parallel_residual=False,
    params_total="", seq_len=8192, global_batch_seqs=512, micro_batch=1, grad_accum=16, train_iters=250000,
    num_gpus=512, gpu="A100-SXM-80GB", gpus_per_node=8, inter_node_gbps=1600,
    interconnect="512 A100 80GB on 64 nodes (paper); fabric not stated in what was read: 8 x 200 Gb/s assumed (the A100 default of validate.pr2_case); at 400 Gb/s the prediction is 0.66 s slower",
    tp=4, pp=4, dp=32, zero=0, precision="bf16", grad_reduce="fp32", recompute="none", flash_attention=True,
    # FlashAttention-1: the run (2023-03/04; paper 2023-05-09) predates FlashAttention-2 (2023-07), and the fork's
    # FlashSelfAttention calls FA1's flash_attn_unpadded_func (``_forward_v1``) when flash-attn < 2: the FA1-era
    # factor, as for GPT-NeoX's Pythia rows (stacks.Stack.attn_rel)
    stack="megatron-lm", stack_options="attn_rel=0.5;attn_hdim_tiles=32/64/128",
    stack_as_run="BigCode's Megatron-LM fork (legacy Megatron layers with multi-query attention and FlashAttention), 3D parallel",
    metric="gpu_hours_total", value=320256, flop_formula="",
    source_url="https://arxiv.org/abs/2305.06161",
    source_loc="Li et al. 2023 (StarCoder) §5.6-5.7 (PDF p17): 512 A100 80 GB on 64 nodes, TP 4 and PP 4 (16 GPUs a replica), 32-fold DP, micro-batch 1 accumulated 16 steps, global batch 512 (4M tokens), 250k iterations (1T tokens); 'the total number of GPU hours that training took (320,256)'; BF16 with the gradient reduction in FP32; read via the NL2Code post quoting §5.6 (github.com/NL2Code/NL2Code.github.io _posts/2023-05-04-StarCoder.md @bb7f158c) and the held-out-run dataset builder citing PDF p17 (search-index file 71571056092)",
    layout_source="paper §5.6 as quoted (TP 4, PP 4, DP 32, micro-batch 1, 16 accumulation steps); architecture: GPTBigCode StarCoder config (n_layer 40, n_embd 6144, n_head 48, multi_query, n_inner 24576, vocab 49152, n_positions 8192, tied embeddings) as Cerebras modelzoo's gpt_bigcode converter defaults state it (search-index file 11117433255)",
    read_date=READ,
    cross_check="250,000 x 512 x 8192 = 1.05e12 tokens ('one trillion tokens')",
    notes="Whole-run GPU-hours (restarts and evaluation included if the total counts them: not stated), so the derived 9.0 s is an upper bound on the steady-state step. Not stated, so assumed: no activation recompute (it fits: the planner's memory at ZeRO-0; selective would predict 6.36 s, full 8.07 s: this choice moves the row from -32% to -10%), no distributed optimizer, no sequence parallelism, the fabric. FlashAttention per the paper's 8K-context training (not re-read here)."))

# ---- DeepSeek-V3 (H800; DualPipe not modelled; Megatron-Bridge's PP 16 layout) ----
rows.append(dict(
    id="deepseekv3_671b", model="DeepSeek-V3 (671B total, 37B active)", preset="deepseek-v3", layers=61, hidden=7168,
    heads=128, kv_heads=128, ffn_hidden=2048, vocab=129280, mlp="swiglu", norm="rmsnorm", position="rope",
    tied_embeddings=False, parallel_residual=False, params_total="", seq_len=4096, global_batch_seqs=15360, micro_batch=1,
    grad_accum=120, train_iters="", num_gpus=2048, gpu="H800-SXM-80GB", gpus_per_node=8, inter_node_gbps=3200,
    interconnect="8 H800 a node on NVLink / NVSwitch; InfiniBand across nodes, 50 GB/s per GPU (report §3.2.2: 'NVLink offers a bandwidth of 160 GB/s, roughly 3.2 times that of IB (50 GB/s)') = 8 x 400 Gb/s a node; NVLink left at the catalog's H800 figure",
    tp=1, pp=16, dp=128, ep=64, zero=1, precision="fp8", grad_reduce="fp32", recompute="selective",
    recompute_modules="layernorm;mla_up_proj;moe_act", flash_attention=True,
    stack="megatron-core", stack_options="fp8_recipe=blockwise;moe_dispatcher=deepep;moe_a2a_overlap=True;tp_overlap=none;pp_layout=Et*4|(t*4|)*14tmL",
    stack_as_run="DeepSeek's in-house HAI-LLM: DualPipe (bidirectional pipeline, forward/backward chunk pairs overlapping all-to-all and PP sends), custom IB/NVLink all-to-all kernels with node-limited routing (<= 4 nodes a token), fine-grained FP8 (1x128 activation tiles, 128x128 weight blocks, E4M3, FP32 promotion every 128), no TP",
    metric="gpu_hours_per_trillion_tokens", value=180000, flop_formula="",
    source_url="https://arxiv.org/abs/2412.19437",
    source_loc="DeepSeek-AI 2024, DeepSeek-V3 Technical Report: §1 / Table 1 ('training DeepSeek-V3 on each trillion tokens requires only 180K H800 GPU hours, i.e., 3.7 days on our cluster with 2048 H800 GPUs'); §3.1 (2048 H800, 8 a node, NVLink/NVSwitch, IB across); §3.2 (16-way PP, 64-way EP spanning 8 nodes, ZeRO-1 DP, no TP); §3.2.2 (NVLink 160 GB/s, IB 50 GB/s, <= 4 nodes per token); §3.2.3 (recompute all RMSNorm and MLA up-projections); §3.3.3 'Low-Precision Activation' (2) ('we cache the inputs of the SwiGLU operator and recompute its output in the backward pass': Megatron-Core's moe_act recompute, overmem38; the FP8 storage of that input is not a Megatron-Core option, it stays 16-bit here); §3.3 (FP8 GEMMs, tile/block-wise scaling; master weights and gradients FP32, Adam moments BF16); §4.2 (batch 3072 -> 15360 over the first 469B tokens, then 15360; seq 4096); read via structured quotes of the report (search-index files 55265511778, 44444369300, 26407695728, 60572378208)",
    layout_source="report §3.2 (PP 16, EP 64, ZeRO-1, TP 1) and §4.2 (GBS 15360 x 4096); architecture from the planner's deepseek-v3 preset (61 layers, 7168, 128 heads MLA, 256 routed experts of 2048 + 1 shared, top-8, 3 dense layers of 18432, vocab 129280, 1 MTP module; checked against the HF config in tests/test_families.py)",
    read_date=READ,
    cross_check="2664K GPU-hours for 14.8T tokens = 180K per trillion (Table 1)",
    notes="DualPipe is not modelled: the row runs 1F1B with Megatron-Core's combined-1F1B all-to-all overlap (moe_a2a_overlap, the closest overlap the registry has) and DeepEP dispatch; DualPipe's bubble is (PP/2-1)(F&B+B-3W) against 1F1B's (PP-1)(F+B) (report Table 2). The pipeline split is Megatron-Core's own for this model at PP 16 (Megatron-Bridge recipes/deepseek/deepseek_v3.py _get_deepseek_v3_pipeline_layout (16, 1): the embedding + 4 layers, 14 x 4 layers, 1 layer + MTP + loss; the layout validate.MBRIDGE_RECIPE_LAYOUTS gives every PP 16 DeepSeek-V3 mbridge_all row since the pplayout pass), not the planner's default split (2, 14 x 4, 3), which put both LM heads and the MTP layer beside 3 layers on the last rank and paced the step there (31.73 s, +59%, until dsv3_35); the report says only that DualPipe keeps the embedding and the output head on one PP rank (§3.2.1), its split is not published. The FP8 recipe is the registry's 'blockwise' (Megatron-Core's --fp8-recipe blockwise, TE Float8BlockScaling: the report's 1x128 / 128x128 scaling, E4M3; 'rowwise' until fp8blk36, when the registry had no blockwise entry). Not stated, so assumed: micro-batch 1 (120 micro-batches per pipeline at DP 128), the steady-state batch 15360 (the whole-run 180K GPU-hours per trillion tokens also covers the 469B-token ramp), node-limited routing as the preset's group-limited routing (8 groups, top 4: one group a node at EP 64, 3.5 remote node copies a token, planner.model.moe node_hit_probability). Whole-run figure."))

CROSS = {"neox20b": "paper: ~3.15M tokens = 1538 contexts per step",
         "tinyllama_1.1b": "README comparison table: 3456 A100 GPU hours per 300B tokens",
         "bloomberggpt_50b": "avg 102 TFLOP/s per GPU (8N FLOPs per token); 139,200 steps, 569B tokens"}
for r in rows:
    r.setdefault("cross_check", CROSS.get(r["id"], "README: 299,892,736,000 tokens" if r["id"].startswith("pythia") else ""))
for r in rows:
    r.setdefault("preset", "")
    r.setdefault("ep", 1)
    r.setdefault("dp_shard", "")  # ZeRO over the whole DP group
    r.setdefault("recompute_modules", "")
    r.setdefault("grad_reduce", "same")
    r.setdefault("scored", True)
    r.setdefault("not_scored_reason", "")
    r.setdefault("cross_check", "")
    r.setdefault("stack_options", {"torchtitan": "tp_overlap=none"}.get(r["stack"], ""))
    r["measured_step_s"] = round(step(r), 4)
write_csv(OUT, rows, cols)
for r in rows:
    print(r["id"], r["measured_step_s"])
