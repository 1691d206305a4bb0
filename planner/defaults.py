"""Every default the planner applies when a job leaves a value open — once, each with its reason.

The CLI, the app and the report read these; none of them keeps its own copy. Defaults that are
properties of a piece of hardware (an unknown network, a GPU's link) live in the catalog
(``hardware_catalog``) and are re-exported here so that there is one place to read them all.
"""
from __future__ import annotations

# (re-exported: one value, kept by the catalog; from ``bounds``, not ``hardware_catalog.catalog``: that module and
# pydantic cost ``planner --help``, which imports this one and reads no catalog, ~0.1 CPU s, imp53)
from hardware_catalog.bounds import DEFAULT_NETWORK_GBPS  # noqa: F401

# ---------------------------------------------------------------------------- the search space
#: node counts tried when ``cluster.nodes`` is open: powers of two and 1.5x steps between them,
#: since clusters are bought and reserved in such sizes (and the grid stays small)
NODE_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


def node_counts(most: int) -> tuple[int, ...]:
    """The node counts searched up to ``most`` nodes (what ``constraints.max_gpus`` allows): ``NODE_COUNTS``, and past
    1,024 the same steps (a power of two, then 1.5x it) until ``most`` -- until 2026-12-03 the search stopped at 1,024
    nodes whatever max_gpus said. Two more counts per doubling: a 32,768-GPU limit on 8-GPU nodes searches 6 more
    than the 20 (the vectorised search's cost grows with the count, about 30% there).

    >>> node_counts(4096)[-6:]
    (768, 1024, 1536, 2048, 3072, 4096)
    """
    out, n = list(NODE_COUNTS), NODE_COUNTS[-1]
    while 2 * n <= most or n * 3 // 2 <= most:
        out += [k for k in (n * 3 // 2, 2 * n) if k <= most]
        n *= 2
    return tuple(out)
#: the best plans (one per hardware and node count) the recommendation's "why" weighs the winner against, whatever
#: --top shows: with --top 1 it read "best of 20,299 feasible layouts on the only feasible hardware and node count"
#: where --top 5 listed three instance types, and its next best and trade-off changed with --top
WHY_ALTERNATIVES = 10
#: the most rows ``--top`` may ask for, on every command that takes it (recommend, serve, report): one bound,
#: until QA 101 report's 100 against the others' 1,000 for the same cut of the same ranked list
TOP_MAX = 1000
#: micro-batches (sequences per GPU per forward/backward) tried for transformers at any sequence length
MICRO_BATCHES = (1, 2, 4, 8, 16, 32)
#: tokens per micro-batch (sequences x seq_len) up to which ``micro_batches`` doubles the grid past 32: 32 x 2,048,
#: the most today's grid already tries at 2K tokens, so jobs at seq_len >= 2,048 keep exactly ``MICRO_BATCHES``.
#: Short-sequence runs really run more: NVIDIA DeepLearningExamples BERT-large pre-training at seq 128 on A100 80GB
#: takes 128 (tf32) and 256 (amp) sequences a GPU in PyTorch and 176 / 312 in TF2 (16K-40K tokens; seq 512: 16-40,
#: 8K-20K tokens; benchmarks/data/bert_dle.csv), within this budget; a count of 32 capped BERT at seq 128 to 4K tokens
MICRO_BATCH_TOKENS = 32 * 2048


def micro_batches(seq_len: int) -> tuple[int, ...]:
    """The transformer micro-batches the search tries at ``seq_len`` tokens: ``MICRO_BATCHES``, then doubling while
    micro-batch x seq_len stays within ``MICRO_BATCH_TOKENS`` (seq 128: 1 ... 512; seq 512: 1 ... 128; seq 2,048 and
    longer: 1 ... 32). A count of sequences whatever their length left 4K-token micro-batches at seq 128, where the
    plan's own advice found micro_batch=64 21% faster (BERT-large, 8 x A100, QA mbgrid50)."""
    out = list(MICRO_BATCHES)
    while out[-1] * 2 * seq_len <= MICRO_BATCH_TOKENS:
        out.append(out[-1] * 2)
    return tuple(out)
#: micro-batches (samples) tried for generic models (CNNs, ViTs): they run far larger batches
GENERIC_MICRO_BATCHES = (8, 16, 32, 64, 128, 256)
#: below ``GENERIC_MICRO_BATCHES``, tried only as a replica's whole share of the global batch (one micro-batch, no
#: accumulation): a job whose global batch leaves fewer than 8 samples per GPU runs 1-4 (without them a 256-sample
#: ResNet-50 on 64 GPUs had no plan and recommend blamed a single-GPU instance, while estimate planned 8 x
#: p5.48xlarge at micro-batch 4); accumulating micro-batches this small is never the better plan
GENERIC_SMALL_MICRO_BATCHES = (1, 2, 4)
#: tensor-parallel degrees: within one node (NVLink), dividing the heads
TP_DEGREES = (1, 2, 4, 8)
#: pipeline degrees tried: divisors of the layer count among these (Megatron's common choices)
PP_DEGREES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64)
#: context-parallel degrees, tried only from ``LONG_SEQ`` tokens on
CP_DEGREES = (1, 2, 4, 8)
LONG_SEQ = 16384
#: expert-parallel degrees (dividing the experts)
EP_DEGREES = (1, 2, 4, 8, 16, 32, 64)
#: interleaved (virtual) pipeline stages per rank, tried on every pipeline degree
VPP = (1, 2, 4)
#: besides ``VPP``, the search tries at each pipeline degree the interleaving depths that split its layers evenly
#: as Megatron launches them (planner.search.space ``more_vpps``), up to ``VPP_MORE`` of them a degree, the shallowest
#: first, each with chunks of at least ``VPP_MIN_CHUNK_LAYERS`` decoder layers. Real recipes run such depths:
#: Megatron-Bridge / NeMo Llama-3-70B at PP 4 VPP 5 (4-layer chunks), Llama-3.1-405B at PP 8 VPP 8 (2-layer chunks
#: with the embedding and the loss counted as layers); Megatron-Bridge scripts/performance/configs. Without them
#: examples/llama3-70b.yaml chose PP 4 VPP 4 at 29.08 s where VPP 5 ran 29.05 s (qa58)
VPP_MORE = 2
#: 1-layer chunks (vpp59; 2 until then): Megatron-Bridge runs Llama-3.1-405B at PP 16 VPP 8 (126 layers + embedding +
#: loss = 128 slots; llama31_workload_base_configs.py @0013c9a8, GB200 / B200 NVFP4 V1, GB200 BF16 and FP8-MX V2)
#: and Llama-3-70B's GB200 SFT at PP 8 VPP 10 (80 layers; llama3_workload_base_configs.py)
VPP_MIN_CHUNK_LAYERS = 1
#: a depth of 1-layer chunks is tried only below ``VPP_THIN_PER_PP`` x pp: halving a chunk to one layer saves about
#: (pp - 1) layer-times of bubble a step and adds layers / pp sends a micro-batch, so it pays where pp x pp is large
#: beside the layers (both recipes above: PP 16 VPP 8, PP 8 VPP 10). Without the bound the search also tried
#: DeepSeek-V3 at PP 2 VPP 31 (+15-18% of its search's CPU time) and Mixtral at PP 2 VPP 16 and PP 4 VPP 8 (+15%;
#: vpp59), where the bubble of 2 or 4 ranks is small at any depth
VPP_THIN_PER_PP = 2
#: Megatron-Core per-module selective recompute lists (``training.recompute_modules``) tried when a
#: job leaves ``training.recompute`` open on a stack that runs them (``Stack.module_recompute``),
#: besides Megatron's default ["core_attn"]: the lists NVIDIA's own recipes run, not all 2^7 subsets.
#: Each is tried only on models it frees memory on and where Megatron-Core accepts it
#: (planner.search.space.recompute_module_lists). Megatron-Bridge scripts/performance/configs:
#: ["mla_up_proj"] DeepSeek-V3 B200/GB200/B300/VR200 and Kimi-K2 B200/GB200/B300/GB300
#: (deepseek/deepseek_workload_base_configs.py, kimi/kimi_workload_base_configs.py); ["moe_act"]
#: DeepSeek-V3 GB300 BF16; ["mlp"] DeepSeek-V3 GB200 (its three dense layers); ["layernorm",
#: "moe_act"] GPT-OSS-120B H100/B200 (gpt_oss/gpt_oss_workload_base_configs.py); ["mla_up_proj",
#: "mlp"] DeepSeek-V3 H100 and B200 FP8-MX, Kimi-K2 H100; ["mla_up_proj", "layernorm", "moe_act"]
#: DeepSeek-V3 B200 NVFP4. ["moe", "layernorm", "core_attn", "moe_act"]: Megatron-Bridge
#: recipes/nemotronh/h100/nemotron_3_ultra.py (the whole MoE layer re-run; Megatron-LM's
#: ``--moe-layer-recompute`` is this "moe" module). Ordered so that every list's sub-lists come first.
RECOMPUTE_MODULE_LISTS = (
    ("mla_up_proj",), ("moe_act",), ("mlp",),
    ("layernorm", "moe_act"), ("mla_up_proj", "mlp"),
    ("mla_up_proj", "layernorm", "moe_act"),
    ("moe", "layernorm", "core_attn", "moe_act"),
)
#: GPUs per node of a bare-GPU cluster (``cluster: {gpu: H100}``): HGX/DGX boards hold 8
GPUS_PER_NODE = 8
#: intra-node bandwidth when the catalog has neither NVLink nor PCIe for a GPU: PCIe Gen4 x16
INTRA_NODE_FALLBACK_BPS = 32e9

# ---------------------------------------------------------------------------- constraints
#: most GPUs a search considers when ``constraints.max_gpus`` is open (the largest published
#: training runs use 8-16k GPUs; beyond this the catalog's networks are not sourced)
MAX_GPUS = 8192
#: without a deadline or budget, "cheapest" drifts to tiny clusters running for years: plans
#: longer than this are left out (and the output says so)
HORIZON_HOURS = 365 * 24.0
#: share of the GPU's memory a plan must leave free when ``constraints.memory_headroom`` is open:
#: the margin for the memory model's own error. The CUDA context, NCCL's buffers and the caching
#: allocator's fragmentation are already in the plan's ``other`` (planner.model.memory), so this is
#: not a reserve for them. 5%: the HF-stack walk is within 5% of real transformers peaks
#: (tests/test_hf_memory.py), and 50 of the 54 published Megatron/torchtitan layouts the planner can
#: represent come out at or under 95% of their GPU (tests/test_real_runs_fit.py; the other four at
#: 96-99%: tuned recipes run full) -- at 10% only 48 would be allowed. A stated assumption.
MEMORY_HEADROOM = 0.05
#: the MFU from which a plan's output says what the figure assumes (``explain.high_mfu_lines``): the top of what
#: published bf16 runs reach (README "MFU envelope": H100 60.1%, NVIDIA dgxc Llama 3.1 8B; A100 64.2% llm-foundry
#: MPT-7B and 72.7% the FlashAttention-2 paper's GPT3-2.7B at 8K, one node, no recompute). A plan above it is in the
#: regime only runs without recompute, on fused kernels, with few collectives reached. A stated threshold (qa65)
HIGH_MFU = 0.60
#: spot interruptions when the job has no ``checkpoint`` section: the CheckpointSpec defaults (20 Gb/s
#: aggregate write, 10 min restart), so a job with and without the section agree
SPOT_CHECKPOINT_WRITE_GBPS = 20.0
SPOT_RESTART_MINUTES = 10.0
#: the shortest blocking checkpoint the spot model uses (s): Young's interval sqrt(2 delta M) is 0
#: for delta = 0 (asynchronous saves), which would checkpoint every step
SPOT_MIN_CHECKPOINT_S = 1.0
#: a published per-node MTBF a plan without ``checkpoint.mtbf_hours_per_node`` is compared with (never
#: applied: such a plan counts no node failures, and its ``checkpoints and failures:`` line says how many this
#: rate would add). Llama 3 405B's pre-training (Llama Team 2024, "The Llama 3 Herd of Models" §3.3.4 and its
#: Table 5 of root causes): 419 unexpected interruptions in a 54-day snapshot on 16,384 H100 = 2,048 8-GPU
#: nodes, 54 x 24 x 2,048 / 419 = 6,335 h per node (about one job interruption every 3 h)
PUBLISHED_NODE_MTBF_HOURS = 54 * 24 * 2048 / 419
#: node power when neither the job nor the catalog has one: DGX H100 10.2 kW max per 8 GPUs
#: (hardware_catalog/data/onprem.csv server_power_kw_hgx_h100_8gpu), scaled per GPU
ONPREM_KW_PER_GPU = 10.2 / 8
#: costs within this relative distance rank as equal and the faster plan wins (prices are quoted
#: to the cent, times are not)
COST_TIE = 0.005

# ---------------------------------------------------------------------------- fine-tuning
#: NF4 quantisation block (bitsandbytes ``quantize_4bit`` blocksize, QLoRA §3) and the block of
#: the double quantisation of its absmax values (QLoRA §3: 256)
NF4_BLOCK = 64
NF4_NESTED_BLOCK = 256
#: bytes per parameter of the frozen parameters QLoRA does not quantise (embedding, output head,
#: norms): peft ``prepare_model_for_kbit_training`` casts them to fp32
QLORA_OTHER_BYTES = 4.0
#: LoRA adapter weights and their gradients: fp32 (peft ``autocast_adapter_dtype=True`` upcasts
#: adapters of bf16/fp16 models to fp32)
ADAPTER_BYTES = 4.0
#: the FSDP version the HF Trainer runs where the job names none (fsdp52): transformers 5.23's
#: ``TrainingArguments(fsdp=...)`` builds accelerate's plugin arguments with ``int(fsdp_config.get("version", 2))``
#: (training_args.py ``_process_fsdp_args``; "FSDP1 ... is deprecated") and trainer.py
#: ``create_accelerator_and_postprocess`` hands ``FullyShardedDataParallelPlugin(**fsdp_plugin_args)`` to the
#: Accelerator, whose ``fsdp_version`` is then given and the ``FSDP_VERSION`` environment never read (checked:
#: ``TrainingArguments(fsdp="full_shard").fsdp_plugin_args["fsdp_version"]`` is 2, ``"shard_grad_op"`` too, with
#: ``reshard_after_forward`` False). accelerate 1.15's own default, 1 (utils/dataclasses.py
#: ``FullyShardedDataParallelPlugin.__post_init__``: ``int(os.environ.get("FSDP_VERSION", "1"))``; ``accelerate
#: launch --fsdp_version`` default "1"), is what a script that builds its own Accelerator gets under ``accelerate
#: launch`` with an accelerate config that names no ``fsdp_version`` (``accelerate config`` writes the key and
#: offers 2 first) -- set ``fsdp_version: 1`` for such a run. Until fsdp52 the planner took accelerate's 1.
TRAINER_FSDP_VERSION = 2
#: LoRA defaults (peft ``LoraConfig`` common choice; QLoRA paper: r=64 on all linear layers)
LORA_RANK = 16
#: transformers 5.x's bitsandbytes integration replaces ``nn.Linear`` only: the fused 3-D expert
#: parameters of MoE models (``experts.gate_up_proj``/``down_proj``) stay unquantised under QLoRA
#: (measured: tests/data/peft_truth.json, mixtral qlora ``quantized_modules``)
QUANTIZE_FUSED_EXPERTS = False
#: below this many even pipeline splits of the layer count, the search also tries uneven ones
#: (planner.search.space.pp_degrees; Megatron-Core first/last-stage layer counts)
MIN_EVEN_PP_CHOICES = 3

#: a classifier head's labels when ``model.num_labels`` is left out: transformers' own default (configuration_utils.py
#: ``PretrainedConfig``: ``num_labels`` 2 when no ``id2label`` is given), binary classification
NUM_LABELS = 2

# ---------------------------------------------------------------------------- training stack
#: the stack assumed when ``training.framework`` is open: a current, well-tuned one — Megatron-Core
#: with Transformer Engine and the overlaps its performance recipes turn on (TP comm overlap,
#: overlapped grad reduce and param gather); planner.model.stacks.STACKS holds its sources
FRAMEWORK = "megatron-core"
#: ... except for a training mode that stack does not run: QLoRA's quantised base is bitsandbytes
#: NF4/int8 under peft (``prepare_model_for_kbit_training``, ``bnb.nn.Linear4bit``), i.e. Hugging Face
#: model code; Megatron-Core / NeMo / Megatron-Bridge have no bitsandbytes base (their PEFT adapts a
#: 16-bit or FP8 base), so an open ``training.framework`` with ``mode: qlora`` is the HF Trainer
FRAMEWORK_BY_MODE = {"qlora": "hf-trainer"}
#: ... and for an optimizer that stack's code does not build (planner.model.optimizers ``RUNTIME_OPTIMIZERS``:
#: Megatron-Core has no 8-bit Adam and no Adafactor): the HF Trainer, whose ``optim`` builds both (adamw_bnb_8bit,
#: adafactor). Until optim36 such a job was priced on Megatron-Core at 2 bytes of state a parameter and launched as
#: its fp32 Adam (8 bytes)
FRAMEWORK_BY_OPTIMIZER = {"adam8bit": "hf-trainer", "adafactor": "hf-trainer"}
#: ... and for a model without transformer layers (a CNN, a generic model), whose step the stacks above price alike
#: but whose code none of them is: plain PyTorch DDP + AMP (planner.model.stacks "pytorch-ddp", the settings the
#: ResNet-50 validation rows run); "training stack: megatron-core (tp_overlap=te, ...)" read wrong for a ResNet
FRAMEWORK_NON_TRANSFORMER = "pytorch-ddp"
#: ... and on an accelerator the default stack's code does not run on (planner.model.stacks ``RUNS_ON``: Megatron-Core
#: is CUDA/ROCm code), that platform's stack (planner.hardware.options ``PLATFORMS``): Google TPUs run JAX, whose
#: reference LLM trainer is MaxText; AWS Trainium runs the Neuron SDK, whose LLM trainer is NeuronX Distributed
#: Intel Gaudi runs Megatron-Core as Intel's fork of it (planner.model.stacks ``PORTS``), megatron-core-gaudi
FRAMEWORK_BY_PLATFORM = {"tpu": "maxtext", "neuron": "neuronx-distributed", "gaudi": "megatron-core-gaudi"}
#: the stacks ``training.framework: auto`` searches (planner.search.space.stack_groups), ranked together on
#: the job's objective: the current stacks whose launch limits the planner knows
#: (planner.model.stack_rules.RUNTIMES), one per code base -- so a plan is never one its launcher refuses.
#: Left out: nemo and megatron-bridge (launchers of Megatron-Core: the same entry, the same numbers), the
#: 2021-22 code bases kept to reproduce published rows (megatron-lm, megatron-deepspeed, metaseq) and
#: llm-foundry (its entry is the benchmark-era Triton attention, and no rules: no PP/TP limits known)
#: These are GPU stacks: where the search has accelerators none of them runs on (TPU, Trainium), the platform's
#: stack (``FRAMEWORK_BY_PLATFORM``) is searched on those, and each stack only on the accelerators its code runs on
#: (planner.search.space.stack_groups)
AUTO_FRAMEWORKS = ("megatron-core", "torchtitan", "deepspeed", "hf-trainer")

# ---------------------------------------------------------------------------- serving simulation
#: engine events all of one serving plan's simulations run together when ``serving.plan_event_bound`` is left out
#: (``serve --plan-event-bound`` overrides both; planner.workloads.serving ``SimBudget``). Each run is bounded on its
#: own (planner.simulate.serving ``EVENT_BOUND``), but a plan runs many: up to ``candidates`` options x settings x
#: replica counts, and the app's latency-vs-QPS curve one per point. At ~100 us an event on a 2-core machine this is
#: ~100 s of simulation; the shipped examples' plans take 7,122 (batch Llama-3-8B; 21,308 with its three draws),
#: 46,000 (Llama-3-70B) and 243,912 (Llama-3-8B chat, 17 runs, 25 s), so none of them reaches it
PLAN_EVENT_BOUND = 1_000_000
#: the bounds ``serving.plan_event_bound`` and ``--plan-event-bound`` take (inclusive). Under 1,000 events not even
#: one run of the smallest shipped plan finishes (its 12 runs average ~1,800), so the answer would be the analytic one
#: with extra words (``--no-simulate`` says that plainly); over 100,000,000 (~3 hours at ~100 us an event) a plan
#: outlasts any sitting: a typo (an extra zero or three), not a wish
PLAN_EVENT_BOUND_RANGE = (1_000, 100_000_000)

#: the bursty (``mmpp``) arrivals' shape when a job does not give ``serving.arrivals``'s fields: the rate in a burst
#: over the rate between bursts, the share of the time in bursts and a burst's mean length (s). The planner's own
#: choice since the mmpp arrivals were added (simulate.serving.ArrivalSpec; QA 57 printed it), not a measurement:
#: real LLM traffic's burstiness differs by service and model (Wang et al., "BurstGPT", arXiv 2401.17644, 2024, §3
#: fits Azure OpenAI's inter-arrival times per service), so a job states its own (serving.arrivals.burst_factor,
#: burst_share, burst_s) or replays a trace (--trace). At 40 QPS these give 91.4 QPS in a burst, 22.9 between.
MMPP_BURST_FACTOR = 4.0
MMPP_BURST_SHARE = 0.25
MMPP_BURST_S = 10.0

#: seconds between the DP coordinator's publications of an expert-parallel replica's per-engine (waiting, running)
#: counts, which vLLM's front end load-balances on (plus its own sends since): vllm/v1/engine/coordinator.py
#: ``DPCoordinator``, ``min_stats_update_interval_ms = 0 if external_lb else 100`` (published while the counts change,
#: else every 4 s); core_client.py ``DPLBAsyncMPClient`` ("stats updates from the coordinator (which happen every
#: 100ms)"). simulate.serving.EngineConfig.lb_refresh_s (serve51)
DP_LB_REFRESH_S = 0.1
