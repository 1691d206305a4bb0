"""The job file's vocabulary, each name defined once.

A ``Vocab`` is an ordered set of names. The search keeps choices as small integers in numpy
columns, so a name's *code* is its position here, and ``names[code]`` turns a column back into
names. The pydantic schema takes its ``Literal`` types from the same tuples, so the set of accepted
values and the set the formulas understand cannot drift apart.

>>> RECOMPUTE.code["selective"], RECOMPUTE.names[2]
(1, 'full')
>>> RECOMPUTE.decode([0, 2]).tolist()
['none', 'full']
>>> SERVE_PRECISION.canonical(" BF16"), ARRIVALS.canonical("MMPP"), ARRIVALS.canonical("bursty")
('bf16', 'mmpp', 'bursty')
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BeforeValidator

from hardware_catalog.catalog import fold_name


class Vocab:
    """Names in a fixed order; ``code`` maps a name to its index, ``literal`` is the pydantic type.

    A value is taken in any case and with blanks around it, and becomes the name as spelled here (``canonical``):
    the job file's enumerated fields (through ``literal``) and the CLI's options over a vocabulary fold as the
    catalog's names do (``hardware_catalog.catalog.fold_name``: ``constraints.clouds: [AWS]``). Until QA 39b
    ``--arrivals MMPP`` and ``serving.precision: BF16`` were refused beside an accepted ``clouds: [AWS]``; a value
    that is none of the names is still refused with the names as spelled here."""

    def __init__(self, *names: str):
        self.names = tuple(names)
        self.code = {n: i for i, n in enumerate(names)}
        # (a folded spelling two names share would be ambiguous and is left to fail; none does)
        folded = [fold_name(n) for n in self.names]
        self._folded = {f: n for f, n in zip(folded, self.names) if folded.count(f) == 1}
        self.literal = Annotated[Literal[self.names], BeforeValidator(self.canonical)]  # type: ignore[valid-type]
        self._array = np.array(self.names)

    def canonical(self, value):
        """``value`` spelled as the vocabulary spells it where it folds to one of its names; anything else unchanged
        (for the caller to refuse)."""
        return self._folded.get(fold_name(value), value) if isinstance(value, str) else value

    def __iter__(self):
        return iter(self.names)

    def __contains__(self, name) -> bool:
        return name in self.code

    def __len__(self) -> int:
        return len(self.names)

    def decode(self, codes) -> np.ndarray:
        """Names for an array of codes."""
        return self._array[np.asarray(codes, dtype=np.int64)]

    def __repr__(self) -> str:
        return f"Vocab{self.names}"


#: how a node's GPUs are wired to each other (planner.hardware.nvlink ``NVLINK_TOPOLOGIES``): through NVSwitch, or
#: the DGX-1 V100's point-to-point hybrid cube-mesh, an MI300X / MI325X platform's fully connected xGMI mesh, or a
#: 4-GPU HGX H100 / H200 board's fully connected NVLink 4 mesh (6 links a pair)
NVLINK_TOPOLOGY = Vocab("switch", "hybrid-cube-mesh", "xgmi-full-mesh", "nvlink4-quad-mesh")

#: activation recomputation (Korthikanti et al. 2022: none / selective attention core / full layer)
RECOMPUTE = Vocab("none", "selective", "full")
#: what ``recompute: selective`` re-runs on the Megatron-Core stacks (TransformerConfig
#: ``recompute_modules``, megatron/core/transformer/transformer_config.py 0.16.1 l. 411-421; Megatron-LM
#: ``--recompute-modules``): the attention core (the default, = Korthikanti's selective), the MoE
#: experts' activation function, the norms, MLA's up-projections and RoPE, the dense MLP, the whole
#: MoE layer, the shared experts (planner.model.activations' docstring, "Recompute modules")
#: which layers ``recompute: full`` re-runs (Megatron-Core TransformerConfig ``recompute_method``,
#: transformer_block.py ``_checkpointed_forward``): "block" checkpoints the first ``recompute_num_layers``
#: layers of each model chunk and runs the rest plain, "uniform" checkpoints the input of every group of
#: ``recompute_num_layers`` consecutive layers (planner.model.pipeline.recomputed_fraction)
RECOMPUTE_METHOD = Vocab("block", "uniform")
RECOMPUTE_MODULES = Vocab("core_attn", "moe_act", "layernorm", "mla_up_proj", "mlp", "moe", "shared_experts")
#: pipeline schedules (1F1B: Narayanan et al. 2021 §2.2; interleaved: §2.2.1; GPipe: Huang et al. 2019; DualPipeV:
#: torch.distributed.pipelining ``ScheduleDualPipeV``, the V-shaped half of DeepSeek-V3's DualPipe, report §3.2.1)
SCHEDULE = Vocab("1f1b", "interleaved", "gpipe", "dualpipev")
#: training precisions (the GEMM input type; fp8 as Transformer Engine runs it)
PRECISION = Vocab("bf16", "fp16", "fp8", "fp32")
#: what ``training.precision`` also accepts, and what the job loader makes of it (planner.spec.load ``_fp4_alias``):
#: the schema's list of choices names it with the precisions (it read "must be one of bf16, fp16, fp8, fp32" for a
#: field that takes fp4 too)
PRECISION_ALIASES = {"fp4": "NVFP4: fp8 with fp8_recipe nvfp4"}
#: optimizers (state bytes per parameter in planner.model.memory.OPTIMIZER_STATE; Muon's hidden matrices
#: and AdamW's other parameters: planner.model.optimizers)
OPTIMIZER = Vocab("adamw", "adam", "adam8bit", "adafactor", "lion", "sgd", "sgd_momentum", "muon")
#: what `recommend` minimises
OBJECTIVE = Vocab("cost", "time", "tokens_per_dollar")
#: what a cost is priced at (``Cost.price_basis`` and ``ranked_price_basis``, a search's ``price_basis``, serve's
#: ``offline_price``): the catalog's on-demand rate; its spot rate (``constraints.spot``: the expected cost with
#: interruptions where they are modelled); or the job's own ``cluster.price_usd_hr``, which replaces the on-demand
#: rate (planner.hardware.options.rent_basis, ranked_basis). Reserved / committed rates and buying are never what a plan
#: is ranked at: each plan's ``cost.committed`` and ``cost.buy`` give the run at those. The code that picks or
#: compares a basis reads the names below, never a literal (until code47 ``search.rank.PRICE_BASES`` listed them
#: and no code read it)
PRICE_BASIS = Vocab("on-demand", "spot", "cluster.price_usd_hr")
ON_DEMAND, SPOT, JOB_RATE = PRICE_BASIS.names
#: each price basis in words (``Cost.price_basis``'s, a price cap's): the job's ``cluster.price_usd_hr`` replaces the
#: on-demand rate and is no on-demand price (QA 60: "$21.7k on-demand" at a $30 reserved rate, and "40% above
#: on-demand's $21.7k"). Here since code48, beside the names, so that the hardware layer's price-cap lines word the
#: basis as the cost lines do (it was planner.model.cost's, which that layer cannot import)
RATE_NAMES = {ON_DEMAND: "on-demand", SPOT: "spot", JOB_RATE: "the job's rate (cluster.price_usd_hr)"}
#: model families
FAMILY = Vocab("decoder", "encoder", "moe", "generic")
#: MLP block kinds (gated ones have two input projections); "relu2" is squared ReLU, not gated
#: (Nemotron-H / Nemotron 3: HF ``mlp_hidden_act: relu2``, Megatron-Core ``squared_relu``)
#: the model's output head (``model.output_head``): "lm" the vocabulary projection (a causal LM's; BERT's MLM head
#: with ``mlm_head``) and its loss over the head's positions; "classifier" transformers'
#: ``BertForSequenceClassification``: the pooler (dense + tanh) on the [CLS] token, dropout, a ``num_labels``-wide
#: linear and the loss on (batch, num_labels), no vocabulary projection (planner.spec.params ``head_positions``)
OUTPUT_HEAD = Vocab("lm", "classifier")
MLP = Vocab("swiglu", "geglu", "gelu", "relu", "relu2")
#: the layer kinds of a hybrid model's ``hybrid_pattern``, one character per layer, as Megatron-Core's
#: ``hybrid_override_pattern`` spells them (megatron/core/ssm/mamba_hybrid_layer_allocation.py
#: ``Symbols``: MAMBA "M", ATTENTION "*", MLP "-", MOE "E"): each is one residual block of one norm
#: and one mixer (MambaLayer, TransformerLayer without MLP, MLPLayer, MoE TransformerLayer)
HYBRID_LAYER = Vocab("M", "*", "-", "E")
NORM = Vocab("rmsnorm", "layernorm")
POSITION = Vocab("rope", "learned", "none")
#: a RoPE model's long-context frequency scaling, as its HF config.json ``rope_scaling`` / ``rope_parameters``
#: names it (``rope_type``, older ``type``; transformers ``modeling_rope_utils.ROPE_INIT_FUNCTIONS``)
ROPE_SCALING = Vocab("llama3", "yarn", "linear", "dynamic", "longrope")
#: where weights, gradients and master copies live in mixed precision (planner.model.memory)
WEIGHTS = Vocab("amp", "megatron", "pure")
GRAD_DTYPE = Vocab("same", "fp32")
#: serving quantisation of weights and of the KV cache
SERVE_PRECISION = Vocab("bf16", "fp16", "fp8", "int8", "int4", "mxfp4")
KV_PRECISION = Vocab("bf16", "fp16", "fp8", "int8")
#: serving engines with their own per-iteration efficiency (planner.model.serving_efficiency.ENGINES)
SERVE_ENGINE = Vocab("vllm", "sglang", "tensorrt-llm")
SERVE_MODE = Vocab("realtime", "batch")
#: prefill-decode disaggregation of a real-time service (``serving.disaggregation``; a {prefill: P, decode: D} split
#: is the third form): none, or the screen sizes a split and states it beside the colocated plan (pd51)
SERVE_DISAGG = Vocab("off", "auto")
#: an expert-parallel serving replica's token exchange, vLLM's ``--all2all-backend``: the default all-gather /
#: reduce-scatter over the DP ranks, or DeepEP's low-latency all-to-all (each token sent to its top-k experts' ranks);
#: or SGLang's ``--moe-a2a-backend deepep`` in its default ``--deepep-mode auto`` (normal kernels, one copy a node, on
#: prompt steps; low-latency ones on decode steps) (planner/workloads/serving_iteration.py ``EP_ALL2ALL``)
SERVE_ALL2ALL = Vocab("allgather_reducescatter", "deepep_low_latency", "deepep")
#: an expert-parallel replica's step split into two micro-batches, one's token exchange under the other's compute:
#: off, or SGLang's ``--enable-two-batch-overlap`` / vLLM's ``--enable-dbo`` (planner/workloads/serving_iteration.py
#: ``BATCH_OVERLAP``, one entry an engine)
SERVE_OVERLAP = Vocab("none", "two_batch")
#: simulated request arrivals: Poisson, or a two-state Markov-modulated Poisson process (bursts)
ARRIVALS = Vocab("poisson", "mmpp")
#: how a fixed fleet's QPS (``serving.replicas``) was found: the analytic screen's bisection, or confirmed in simulation
FLEET_QPS_BY = Vocab("analytic", "simulated")
#: input-pipeline storage and sample layout (planner.simulate.resources.STORAGE_PROFILES)
STORAGE = Vocab("local_nvme", "network_fs", "object_store", "memory")
DATA_FORMAT = Vocab("files", "shards")
#: where DeepSpeed's offloads keep the state they take off the GPU (``zero_optimization.offload_optimizer.device`` /
#: ``offload_param.device``; planner.model.stacks ``Stack.offload_device``): pinned host memory or local NVMe
#: (ZeRO-Infinity)
OFFLOAD_DEVICE = Vocab("cpu", "nvme")
#: what DeepSpeed's one ``nvme_path`` sits on (planner.model.offload ``nvme_node_bps``): one of the node's drives, or a
#: RAID-0 / LVM stripe the user built over all of them (the catalog's ``local_nvme_drives``)
NVME_STRIPE = Vocab("one", "drives")
#: per-head q/k normalisation: "head" = an RMSNorm over head_dim shared by the heads (Qwen3,
#: Gemma 3: q_norm/k_norm of head_dim), "full" = over the whole q and k projections (OLMo 2)
QK_NORM = Vocab("none", "head", "full")
#: how a model's local (non-global) attention layers restrict keys: a sliding window of the last w tokens
#: (Mistral, Gemma 2/3, gpt-oss) or fixed chunks of w tokens attended causally within the chunk (Llama 4's
#: ``attention_chunk_size``)
LOCAL_ATTENTION = Vocab("sliding", "chunked")
#: an MoE router's score function (softmax; DeepSeek-V3 / Kimi-K2 score with a sigmoid)
ROUTER_SCORE = Vocab("softmax", "sigmoid")
#: how an MoE router spreads a token's top-k experts (planner.model.moe ``dispatch_bytes``): "learned" a router's
#: scores (and Megatron-Core's ``moe_router_force_load_balancing``, which draws random logits) -- any k distinct
#: experts; "round_robin" NeMo AutoModel's ``FakeBalancedGate`` (``fake_balanced_gate: true``), token t of a rank
#: takes experts t k .. t k + k - 1 (mod E): k *consecutive* experts
MOE_ROUTING = Vocab("learned", "round_robin")
#: what a training job does (planner.model.memory, planner.model.flops): pretrain and
#: full_finetune train every weight; lora/qlora freeze the base and train adapters (peft)
TRAINING_MODE = Vocab("pretrain", "full_finetune", "lora", "qlora")
#: how frozen base weights are stored under lora/qlora: fp32, 16-bit, bitsandbytes int8 (LLM.int8()),
#: bitsandbytes NF4 (QLoRA, Dettmers et al. 2023)
BASE_WEIGHTS = Vocab("fp32", "bf16", "int8", "nf4")
#: which linears LoRA adapts: attention q,k,v,o; all linear layers of attention and MLP (peft's
#: "all-linear" less the head); or a list of module names in the job file
LORA_TARGETS = Vocab("qkvo", "all-linear")
#: how sequences fill a micro-batch: packed to seq_len, or padded to the longest
#: how examples fill a row: "packed" with example boundaries (varlen attention per example where the
#: stack supports it: flops.attention_span), "concatenated" (examples attend across the row, as
#: pre-training loaders do), "padded" (one example per row)
SEQUENCE_PACKING = Vocab("packed", "concatenated", "padded")

#: training stacks (planner.model.stacks.STACKS; "nemo" and "megatron-bridge" run Megatron-Core, "megatron-core-gaudi"
#: Intel's Gaudi fork of it, "dle-convnets" / "dle-bert" NVIDIA DeepLearningExamples' PyTorch ConvNets / BERT)
FRAMEWORK = Vocab("megatron-core", "nemo", "megatron-bridge", "megatron-lm", "megatron-deepspeed", "torchtitan",
                  "deepspeed", "hf-trainer", "llm-foundry", "metaseq", "dle-convnets", "dle-bert", "pytorch-ddp",
                  "maxtext", "neuronx-distributed", "nemo-automodel", "megatron-core-gaudi")
#: how the linear GEMMs are quantised when training.precision is fp8 or fp4 (planner.model.stack_kernels.RECIPES)
FP8_RECIPE = Vocab("tensorwise", "delayed", "rowwise", "blockwise", "mxfp8", "nvfp4")
#: a job field's "leave it to the search" value, where a vocabulary's field takes one: ``training.framework: auto``
#: (``recommend`` searches the stacks) and ``fp8_recipe: auto`` (it tries each recipe the stack offers); ``estimate``
#: and ``simulate`` refuse it (planner.model.stacks ``from_training``). It is one more name of the field's vocabulary
#: (``FRAMEWORK_CHOICE``, ``FP8_RECIPE_CHOICE``), so it folds as the names do and a refusal lists it: until rec46b
#: ``framework: AUTO`` was refused with the stacks alone, as "must be one of megatron-core, ..., got 'AUTO'", beside
#: an accepted ``precision: BF16``
AUTO = "auto"
FRAMEWORK_CHOICE = Vocab(*FRAMEWORK.names, AUTO)
FP8_RECIPE_CHOICE = Vocab(*FP8_RECIPE.names, AUTO)
#: TP communication overlap: none, Transformer Engine userbuffers, PyTorch async TP
TP_OVERLAP = Vocab("none", "te", "async_tp")
#: Megatron-Core's context-parallel exchange (--cp-comm-type; TE context_parallel.py ``attn_forward_func_with_cp``):
#: the p2p ring (its default), K/V all-gather, Ulysses all-to-all, a2a inside a node and the ring across
#: (planner.model.stacks ``Stack.cp_comm_type``; Megatron-LM arguments.py spells all_gather ``allgather``, TE's
#: DotProductAttention ``all_gather``)
CP_COMM_TYPE = Vocab("p2p", "all_gather", "a2a", "a2a+p2p")
#: Megatron-Core's precision-aware optimizer (--use-precision-aware-optimizer): the dtypes Megatron-LM arguments.py
#: offers for Adam's moments (--exp-avg-dtype, --exp-avg-sq-dtype; fp8 is TE's uint8 state) and for the master
#: weights (--main-params-dtype) (planner.model.optimizers ``PrecisionAware``)
ADAM_STATE_DTYPE = Vocab("fp32", "fp16", "bf16", "fp8")
MAIN_PARAMS_DTYPE = Vocab("fp32", "fp16")
#: the scale-out fabric families a cluster's inter-node network runs on (hardware_catalog interconnects.csv and
#: instances.csv ``fabric``; the MoE dispatchers' needs read them: planner.model.moe ``DISPATCHER_NEEDS``), which the
#: job's numeric ``cluster.fabric`` names in its ``family``
NETWORK_FABRIC = Vocab("infiniband", "roce", "efa", "ethernet")
#: MoE token dispatcher (planner.model.moe.DISPATCHERS): Megatron-Core all-to-all, or the flex
#: dispatcher's DeepEP / HybridEP backends (one copy per destination node across the network)
MOE_DISPATCHER = Vocab("alltoall", "deepep", "hybridep")
#: the stack options that act on MoE layers only (planner.spec.schema ``FrameworkSpec``), and what each acts on: a dense
#: model takes them and nothing changes (Megatron-Core builds no MoELayer, so no token dispatcher, no expert MLP, no
#: expert all-to-all to overlap), with the value that is the default anyway (not said: a plan's stack record written
#: back as a job carries ``moe_dispatcher: alltoall``). Until QA 38b ``moe_dispatcher: deepep`` on Llama-3-8B was
#: accepted without a word
MOE_ONLY_OPTIONS = {"moe_dispatcher": ("alltoall", "the token dispatcher of the expert layers"),
                    "moe_a2a_overlap": (False, "the overlap of the expert all-to-all"),
                    "moe_fused_mlp": (False, "the experts' grouped MLP"),
                    # (transformers' experts kernel: unset is its own pick, so any value set is said; hfmoe52)
                    "experts_implementation": (None, "transformers' kernel of the routed experts")}
#: Megatron-Core ``--cuda-graph-impl`` and ``--cuda-graph-scope`` (planner.model.stacks ``cuda_graph_parts``)
CUDA_GRAPH_IMPL = Vocab("none", "transformer_engine", "local")
CUDA_GRAPH_SCOPE = Vocab("attn", "mlp", "moe", "moe_router", "moe_preprocess", "mamba", "full_iteration")
#: what selective activation recomputation re-runs (planner.model.stacks.Stack.selective)
SELECTIVE_AC = Vocab("attention_core", "op", "layer")
#: how a stack running Hugging Face model code trains in 16 bits (planner.model.stacks.Stack.mixed_precision):
#: torch AMP (autocast over fp32 master weights) or the model cast to bf16
MIXED_PRECISION = Vocab("amp", "bf16")
#: NeMo AutoModel's loss classes (planner.model.stacks ``Stack.loss_fn``): components/loss/masked_ce.py
#: ``MaskedCrossEntropy`` without and with ``chunk_size``, linear_ce.py ``FusedLinearCrossEntropy``, te_parallel_ce.py
#: ``TEParallelCrossEntropy``
LOSS_FN = Vocab("masked_ce", "masked_ce_chunked", "linear_ce", "te_parallel_ce")
#: how the CUDA runtime loads kernel modules (planner.model.stacks ``Stack.cuda_module_loading``; the context it
#: holds: planner.hardware.cuda_runtime ``CUDA_RUNTIME_FIGURES``): lazy (CUDA 11.7+ with ``CUDA_MODULE_LOADING=LAZY``,
#: torch 1.13+'s default) or eager (every module at start: CUDA < 11.7, or torch < 1.13 without the variable)
CUDA_MODULE_LOADING = Vocab("lazy", "eager")
#: Megatron-Core's loss kernels (planner.model.stacks ``Stack.cross_entropy_fusion``): none (the unfused vocab-parallel
#: loss), native (megatron/core/fusions/fused_cross_entropy.py), te (Transformer Engine's ``parallel_cross_entropy``)
CE_FUSION = Vocab("none", "native", "te")
#: transformers' ``attn_implementation`` values a training run can load (modeling_utils.py
#: ``_check_and_adjust_attn_implementation``; "paged|..." variants are generation caches, not training)
ATTN_IMPLEMENTATION = Vocab("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")
#: transformers' ``experts_implementation`` values the HF memory model prices (transformers 5.23 modeling_utils.py
#: ``get_correct_experts_implementation``; integrations/moe.py ``ExpertsInterface``): "eager", the MoE class's own
#: per-expert loop, and "grouped_mm", ``torch.nn.functional.grouped_mm`` over the rows sorted by expert. transformers
#: also accepts "batched_mm" (each routed row's expert weights gathered: tiny Qwen3-MoE 29.0 MB of block saves in
#: fp32 for grouped_mm's 3.9 MB), "deepgemm" and "sonicmoe" (CUDA kernel packages); the planner prices none of them
EXPERTS_IMPLEMENTATION = Vocab("eager", "grouped_mm")
#: MaxText's named remat policies (MaxText/layers/decoders.py ``Decoder.get_remat_policy``; what each saves:
#: planner.model.stacks ``MAXTEXT_REMAT_POLICIES``)
REMAT_POLICY = Vocab("full", "minimal", "minimal_flash", "minimal_offloaded", "save_dot_with_context_except_mlp",
                     "save_dot_except_mlpwi", "save_dot_except_mlp", "save_qkv_proj", "qkv_proj_offloaded",
                     "save_out_proj", "custom")
#: the per-tensor keys of MaxText's ``remat_policy: custom`` (configs/types.py ``RematAndOffload``) a job's
#: ``remat_tensors`` names (planner.model.stacks ``MAXTEXT_REMAT_TENSORS``) and where each can be (``RematLocation``:
#: kept on the chip, offloaded to pinned host memory, rematerialised). Typed here since QA 55: until then a
#: ``remat_tensors: {decoder_layer_input: Offload}`` was refused ("'Offload'; known: device, offload, remat") where
#: ``remat_policy: Custom`` beside it was taken
REMAT_TENSOR = Vocab("decoder_layer_input", "query_proj", "key_proj", "value_proj", "context", "out_proj", "mlpwi",
                     "mlpwi_0", "mlpwi_1", "mlpwo")
REMAT_LOCATION = Vocab("device", "offload", "remat")
#: DeepSpeed's ``communication_data_type`` (deepspeed/runtime/config.py ``get_communication_data_type``; bytes:
#: planner.model.stacks ``COMM_DATA_TYPE_BYTES``)
COMM_DATA_TYPE = Vocab("fp32", "bf16", "fp16")
#: DeepSpeed ``PipelineModule`` partition methods a Megatron-DeepSpeed job may set (the runtime of each:
#: planner.model.pipeline ``PARTITION_METHODS``)
PP_PARTITION_METHOD = Vocab("type:transformer", "type:transformer+embedding", "uniform", "parameters")
#: whose pipeline split a stack runs without an explicit layout (planner.model.pipeline ``pipeline_split``)
PP_SPLIT = Vocab("balanced", "megatron", "torchtitan")
